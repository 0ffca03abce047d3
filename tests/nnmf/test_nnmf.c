/* test_nnmf.c — NNMF and BP SBS NNMF (SPEC §1.5) against a plain double-precision oracle:
 * forward (sgemm path) vs oracle on odd geometries and every update rule; the oracle's
 * reverse-mode gradient vs finite differences of the oracle forward (double); the fast exact
 * backward (input and weight gradients) vs the oracle gradient; finite differences of the
 * float path through a small two-NNMF-layer net with the mixed loss; checkpointed backward vs
 * stored iterates; bitwise thread invariance; BP SBS NNMF: NNMF forward, SbS backward oracle;
 * weights written and read back. One line per case; exit 1 on failure. */
#include "sbs_test.h"

#include <unistd.h>

/* ------------------------------------------------------------------------------------------
 * The oracle: one image, plain loops in double, written from SPEC §1.5 element by element.
 * idx[m*K + i] is the input pixel of window entry i at position m (-1: padding), built here
 * from the SPEC's order (channel, kernel row, kernel column) independently of the library. */

typedef struct {
    int C, H, W, kx, ky, sx, sy, dx, dy, px, py, X, Y, K, M, N;
    long *idx;
} ogeom;

static void ogeom_init(ogeom *o, const sbs_geom *g, int N)
{
    o->C = g->C; o->H = g->H; o->W = g->W; o->kx = g->kx; o->ky = g->ky;
    o->sx = g->sx; o->sy = g->sy; o->dx = g->dx; o->dy = g->dy; o->px = g->px; o->py = g->py;
    o->X = (g->H + 2 * g->px - g->dx * (g->kx - 1) - 1) / g->sx + 1;
    o->Y = (g->W + 2 * g->py - g->dy * (g->ky - 1) - 1) / g->sy + 1;
    o->K = g->C * g->kx * g->ky;
    o->M = o->X * o->Y;
    o->N = N;
    o->idx = malloc((size_t)o->M * o->K * sizeof *o->idx);
    for (int ox = 0; ox < o->X; ox++)
        for (int oy = 0; oy < o->Y; oy++)
            for (int c = 0; c < o->C; c++)
                for (int u = 0; u < o->kx; u++)
                    for (int v = 0; v < o->ky; v++) {
                        int r = ox * o->sx - o->px + u * o->dx, q = oy * o->sy - o->py + v * o->dy;
                        long at = r >= 0 && r < o->H && q >= 0 && q < o->W
                                      ? ((long)c * o->H + r) * o->W + q : -1;
                        o->idx[(size_t)(ox * o->Y + oy) * o->K + (c * o->kx + u) * o->ky + v] = at;
                    }
}

/* Forward of one position: p (K) from the window, iterates hs ((T+1) x N). */
static void oracle_pos(const ogeom *o, const double *W, const double *x, int m, int T,
                       double eps, double *p, double *sum_x, double *hs)
{
    int K = o->K, N = o->N;
    double s = 0;
    for (int i = 0; i < K; i++) {
        long at = o->idx[(size_t)m * K + i];
        p[i] = at >= 0 ? x[at] : 0.0;
        s += p[i];
    }
    *sum_x = s;
    for (int i = 0; i < K; i++) p[i] /= s + 1e-20;
    for (int n = 0; n < N; n++) hs[n] = 1.0 / N;
    double *R = malloc((size_t)K * sizeof *R), *v = malloc((size_t)N * sizeof *v);
    for (int t = 0; t < T; t++) {
        const double *h = hs + (size_t)t * N;
        double *hn = hs + (size_t)(t + 1) * N;
        for (int i = 0; i < K; i++) {
            R[i] = 0;
            for (int n = 0; n < N; n++) R[i] += h[n] * W[(size_t)i * N + n];
        }
        double sv = 0;
        for (int n = 0; n < N; n++) {
            double u = 0;
            for (int i = 0; i < K; i++) u += p[i] * h[n] * W[(size_t)i * N + n] / (R[i] + 1e-20);
            v[n] = eps > 0 ? h[n] + eps * u : u;
            sv += v[n];
        }
        for (int n = 0; n < N; n++) hn[n] = v[n] / (sv + 1e-20);
    }
    free(R);
    free(v);
}

/* Forward of one image x (C,H,W) -> h (N x M). */
static void oracle_forward(const ogeom *o, const double *W, const double *x, int T, double eps,
                           double *h)
{
    double *p = malloc((size_t)o->K * sizeof *p), *hs = malloc((size_t)(T + 1) * o->N * sizeof *hs);
    for (int m = 0; m < o->M; m++) {
        double sx;
        oracle_pos(o, W, x, m, T, eps, p, &sx, hs);
        for (int n = 0; n < o->N; n++) h[(size_t)n * o->M + m] = hs[(size_t)T * o->N + n];
    }
    free(p);
    free(hs);
}

/* Reverse mode through the same loops: gh (N x M) = dL/dh; adds dL/dx into dx (C,H,W) and
 * dL/dW into dW (K x N). */
static void oracle_backward(const ogeom *o, const double *W, const double *x, int T, double eps,
                            const double *gh, double *dx, double *dW)
{
    int K = o->K, N = o->N;
    double *p = malloc((size_t)K * sizeof *p), *hs = malloc((size_t)(T + 1) * N * sizeof *hs);
    double *R = malloc((size_t)K * sizeof *R), *v = malloc((size_t)N * sizeof *v);
    double *g = malloc((size_t)N * sizeof *g), *gn = malloc((size_t)N * sizeof *gn);
    double *gu = malloc((size_t)N * sizeof *gu), *gR = malloc((size_t)K * sizeof *gR);
    double *gp = malloc((size_t)K * sizeof *gp);
    for (int m = 0; m < o->M; m++) {
        double sx;
        oracle_pos(o, W, x, m, T, eps, p, &sx, hs);
        for (int n = 0; n < N; n++) g[n] = gh[(size_t)n * o->M + m];
        for (int i = 0; i < K; i++) gp[i] = 0;
        for (int t = T - 1; t >= 0; t--) {
            const double *h = hs + (size_t)t * N;
            double sv = 0;
            for (int i = 0; i < K; i++) {
                R[i] = 0;
                for (int n = 0; n < N; n++) R[i] += h[n] * W[(size_t)i * N + n];
            }
            for (int n = 0; n < N; n++) {
                double u = 0;
                for (int i = 0; i < K; i++) u += p[i] * h[n] * W[(size_t)i * N + n] / (R[i] + 1e-20);
                v[n] = eps > 0 ? h[n] + eps * u : u;
                sv += v[n];
            }
            /* hn = v / (sv + 1e-20) */
            double gsv = 0;
            for (int n = 0; n < N; n++) gsv -= g[n] * v[n] / ((sv + 1e-20) * (sv + 1e-20));
            for (int n = 0; n < N; n++) {
                double gv = g[n] / (sv + 1e-20) + gsv;
                gu[n] = eps > 0 ? eps * gv : gv;
                gn[n] = eps > 0 ? gv : 0.0;
            }
            /* u_n = sum_i p_i h_n W[i,n] / (R_i + 1e-20) */
            for (int i = 0; i < K; i++) gR[i] = 0;
            for (int i = 0; i < K; i++)
                for (int n = 0; n < N; n++) {
                    double w = W[(size_t)i * N + n], d = R[i] + 1e-20;
                    gn[n] += gu[n] * p[i] * w / d;
                    gp[i] += gu[n] * h[n] * w / d;
                    dW[(size_t)i * N + n] += gu[n] * p[i] * h[n] / d;
                    gR[i] -= gu[n] * p[i] * h[n] * w / (d * d);
                }
            /* R_i = sum_n h_n W[i,n] */
            for (int i = 0; i < K; i++)
                for (int n = 0; n < N; n++) {
                    gn[n] += gR[i] * W[(size_t)i * N + n];
                    dW[(size_t)i * N + n] += gR[i] * h[n];
                }
            memcpy(g, gn, (size_t)N * sizeof *g);
        }
        /* p_i = x_i / (sum x + 1e-20) */
        double a = 0;
        for (int i = 0; i < K; i++) a += gp[i] * p[i];
        for (int i = 0; i < K; i++) {
            long at = o->idx[(size_t)m * K + i];
            if (at >= 0) dx[at] += (gp[i] - a) / (sx + 1e-20);
        }
    }
    free(p); free(hs); free(R); free(v); free(g); free(gn); free(gu); free(gR); free(gp);
}

/* ------------------------------------------------------------------------------------------
 * Nets for the tests. */

/* the shared test net with this file's settings: weight noise [1, 2], weight floor 1e-3,
 * epsilon_0 eps0 in every layer */
static int make_net(sbs_config *cfg, sbs_net *net, const sbs_test_layer *ls, int n, int n_out,
                    int C, int H, int W, int T, float eps0)
{
    sbs_test_config(cfg, ls, n, n_out, T);
    cfg->learn.weight_noise_range[1] = 2.0f;
    cfg->learn.learning_rate_threshold_w = 1e-3f;
    for (int l = 0; l < n; l++) cfg->layers[l].epsilon_0 = eps0;
    return sbs_test_plan(cfg, net, C, H, W, 3, NULL);
}

static double *weights_double(const sbs_layer *L)
{
    double *W = malloc((size_t)L->g.K * L->N * sizeof *W);
    for (int i = 0; i < L->g.K; i++)
        for (int n = 0; n < L->N; n++) W[(size_t)i * L->N + n] = L->weight[(size_t)i * L->ldw + n];
    return W;
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* the windowed cases: RELU -> NNMF -> AVERAGE POOLING to 1x1 */
typedef struct {
    const char *name;
    int C, H, W, N, k[2], s[2], d[2], p[2], T;
    float eps0;
} lcase;

static const lcase cases[] = {
    {"2->12 3x2 s1x2 d1x2 p1x0, 7x6, T 9, eps 1", 2, 7, 6, 12, {3, 2}, {1, 2}, {1, 2}, {1, 0}, 9, 1.0f},
    {"1->5 3x3 p1, 5x5, T 1, eps 1", 1, 5, 5, 5, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, 1.0f},
    {"3->17 2x2 s2, 6x6, T 25, eps 0.3", 3, 6, 6, 17, {2, 2}, {2, 2}, {1, 1}, {0, 0}, 25, 0.3f},
    {"2->4 1x1, 3x4, T 12, eps 0 (h <- u)", 2, 3, 4, 4, {1, 1}, {1, 1}, {1, 1}, {0, 0}, 12, 0.0f},
    {"4->3 3x3 p2 d2, 4x4, T 6, eps -1 (h <- u)", 4, 4, 4, 3, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 6, -1.0f},
    {"1->32 5x5, 12x12, T 30, eps 1", 1, 12, 12, 32, {5, 5}, {1, 1}, {1, 1}, {0, 0}, 30, 1.0f},
};

static int case_net(const lcase *c, int kind, sbs_config *cfg, sbs_net *net)
{
    sbs_geom g;
    if (sbs_geom_init(&g, c->C, c->H, c->W, c->k[0], c->k[1], c->s[0], c->s[1], c->d[0], c->d[1],
                      c->p[0], c->p[1]) != 0)
        return -1;
    sbs_test_layer ls[] = {{.kind = SBS_L_RELU},
                           {.kind = kind, .in = c->C, .out = c->N, .k = {c->k[0], c->k[1]},
                            .s = {c->s[0], c->s[1]}, .d = {c->d[0], c->d[1]},
                            .p = {c->p[0], c->p[1]}},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {g.X, g.Y}}};
    return make_net(cfg, net, ls, 3, c->N, c->C, c->H, c->W, c->T, c->eps0);
}

/* Fast forward and exact backward vs the oracle, for every case. */
static int test_vs_oracle(const lcase *c)
{
    static sbs_config cfg;
    sbs_net net;
    CHECK(case_net(c, SBS_L_NNMF, &cfg, &net) == 0, "plan");
    const int B = 3;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    size_t in_sz = (size_t)c->C * c->H * c->W, nx = (size_t)B * in_sz;
    float *x = malloc(nx * 4);
    sbs_test_fill(x, nx, 1, 0.0f, 1.0f);
    x[0] = 0.0f; /* a zero pixel (and, with padding, windows partly outside) */
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    const sbs_layer *L = &net.L[1];
    ogeom o;
    ogeom_init(&o, &L->g, L->N);
    CHECK(o.X == L->X && o.Y == L->Y && o.K == L->g.K, "geometry");
    int M = o.M, N = L->N, K = o.K;
    double *W = weights_double(L), *xd = to_double(net.act[1], nx);
    double *h = malloc((size_t)N * M * sizeof *h);
    double fw = 0;
    for (int b = 0; b < B; b++) {
        oracle_forward(&o, W, xd + (size_t)b * in_sz, c->T, c->eps0, h);
        const float *hf = net.act[2] + (size_t)b * N * M;
        for (int i = 0; i < N * M; i++) fw = fmax(fw, fabs(h[i] - hf[i]));
    }
    CHECK(fw <= 2e-5, "forward: max |h - oracle| %g", fw);
    /* backward */
    sbs_test_fill(s.gact[net.n], (size_t)B * N, 2, -1.0f, 1.0f);
    sbs_net_backward(&s, B);
    double *gh = to_double(s.gact[2], (size_t)B * N * M);
    double *dx = calloc(nx, sizeof *dx), *dW = calloc((size_t)K * N, sizeof *dW);
    for (int b = 0; b < B; b++)
        oracle_backward(&o, W, xd + (size_t)b * in_sz, c->T, c->eps0, gh + (size_t)b * N * M,
                        dx + (size_t)b * in_sz, dW);
    double xd_max, xd_diff = sbs_test_max_diff(dx, s.gact[1], nx, &xd_max);
    double wd_max, wd_diff = sbs_test_max_diff_w(L, dW, s.G[1].gW, &wd_max);
    CHECK(xd_diff <= 1e-3 * xd_max + 1e-7, "input gradient: max diff %g (max %g)", xd_diff, xd_max);
    CHECK(wd_diff <= 1e-3 * wd_max + 1e-7, "weight gradient: max diff %g (max %g)", wd_diff, wd_max);
    CHECK(s.contrib[1] == (long)B * M, "contributions %ld, expected %d", s.contrib[1], B * M);
    for (int i = 0; i < K; i++)
        for (int n = N; n < L->ldw; n++)
            CHECK(s.G[1].gW[(size_t)i * L->ldw + n] == 0.0f, "padding column %d has a gradient", n);
    printf("    h %.1e, dx %.1e of %.2g, dW %.1e of %.2g\n", fw, xd_diff, xd_max, wd_diff, wd_max);
    free(x); free(xd); free(W); free(h); free(gh); free(dx); free(dW); free(o.idx);
    sbs_test_free(&net, be, &s);
    return 0;
}

static int t_case0(void) { return test_vs_oracle(&cases[0]); }
static int t_case1(void) { return test_vs_oracle(&cases[1]); }
static int t_case2(void) { return test_vs_oracle(&cases[2]); }
static int t_case3(void) { return test_vs_oracle(&cases[3]); }
static int t_case4(void) { return test_vs_oracle(&cases[4]); }
static int t_case5(void) { return test_vs_oracle(&cases[5]); }

/* The oracle's reverse mode against central differences of the oracle forward (double). */
static int test_oracle_fd(void)
{
    for (int variant = 0; variant < 2; variant++) {
        double eps0 = variant ? 0.0 : 0.7;
        sbs_geom g;
        sbs_geom_init(&g, 2, 4, 3, 2, 2, 1, 1, 1, 1, 1, 0);
        ogeom o;
        int N = 4, T = 6;
        ogeom_init(&o, &g, N);
        int K = o.K, M = o.M;
        size_t in_sz = 2 * 4 * 3;
        double *W = malloc((size_t)K * N * sizeof *W), *x = malloc(in_sz * sizeof *x);
        double *gh = malloc((size_t)N * M * sizeof *gh), *h = malloc((size_t)N * M * sizeof *h);
        sbs_stream st;
        sbs_stream_init(&st, 5, SBS_RNG_INIT, 1, variant);
        for (int i = 0; i < K * N; i++) W[i] = 0.1 + sbs_stream_u01(&st);
        for (size_t i = 0; i < in_sz; i++) x[i] = 0.05 + sbs_stream_u01(&st);
        for (int i = 0; i < N * M; i++) gh[i] = 2 * sbs_stream_u01(&st) - 1;
        double *dx = calloc(in_sz, sizeof *dx), *dW = calloc((size_t)K * N, sizeof *dW);
        oracle_backward(&o, W, x, T, eps0, gh, dx, dW);
        const double step = 1e-6;
        double worst = 0;
        for (int pass = 0; pass < 2; pass++) {
            double *v = pass ? x : W, *ana = pass ? dx : dW;
            size_t n = pass ? in_sz : (size_t)K * N;
            for (size_t i = 0; i < n; i++) {
                double keep = v[i], lp = 0, lm = 0;
                v[i] = keep + step;
                oracle_forward(&o, W, x, T, eps0, h);
                for (int j = 0; j < N * M; j++) lp += gh[j] * h[j];
                v[i] = keep - step;
                oracle_forward(&o, W, x, T, eps0, h);
                for (int j = 0; j < N * M; j++) lm += gh[j] * h[j];
                v[i] = keep;
                double num = (lp - lm) / (2 * step);
                double err = fabs(num - ana[i]) / fmax(1e-6, fabs(num) + fabs(ana[i]));
                worst = fmax(worst, err);
                CHECK(err < 1e-6, "eps %g %s[%zu]: numeric %.10g oracle %.10g", eps0,
                      pass ? "x" : "W", i, num, ana[i]);
            }
        }
        printf("    eps %.1f: worst relative error %.1e\n", eps0, worst);
        free(W); free(x); free(gh); free(h); free(dx); free(dW); free(o.idx);
    }
    return 0;
}

/* Finite differences of the float path: RELU -> NNMF 3x3 p1 -> AVG POOL -> NNMF 1x1, with the
 * mixed loss, for the weights of both NNMF layers and the input of the first. */
static int test_float_fd(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer ls[] = {{.kind = SBS_L_RELU},
                           {.kind = SBS_L_NNMF, .in = 2, .out = 6, .k = {3, 3}, .p = {1, 1}},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}, .s = {2, 2}},
                           {.kind = SBS_L_NNMF, .in = 6, .out = 5, .k = {2, 2}}};
    CHECK(make_net(&cfg, &net, ls, 4, 5, 2, 4, 4, 8, 1.0f) == 0, "plan");
    const int B = 2;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 1, B, &s);
    size_t nx = (size_t)B * 2 * 4 * 4;
    float *x = malloc(nx * 4), g[10];
    sbs_test_fill(x, nx, 5, 0.1f, 1.0f);
    uint8_t y[2] = {1, 3};
    sbs_test_loss(&net, x, B, y, 0, s.gact[net.n]);
    sbs_net_backward(&s, B);
    const double step = 2e-3;
    double worst = 0;
    int checked = 0;
    for (int l = 1; l <= 3; l += 2) {
        sbs_layer *L = &net.L[l];
        for (int i = 0; i < L->g.K; i++)
            for (int n = 0; n < L->N; n++) {
                float *w = &L->weight[(size_t)i * L->ldw + n];
                double num = sbs_test_fd(&net, x, B, y, 0, w, step, g);
                double ana = s.G[l].gW[(size_t)i * L->ldw + n];
                double err = fabs(num - ana) / fmax(2e-2, fabs(num) + fabs(ana));
                worst = fmax(worst, err);
                checked++;
                CHECK(err < 2e-2, "layer %d W[%d,%d]: numeric %g analytic %g", l, i, n, num, ana);
            }
    }
    /* inputs (RELU is the identity on positive inputs, so gact[1] is dL/dx) */
    float *gx = malloc(nx * 4);
    memcpy(gx, s.gact[1], nx * 4);
    for (size_t i = 0; i < nx; i++) {
        double num = sbs_test_fd(&net, x, B, y, 0, &x[i], step, g);
        double err = fabs(num - gx[i]) / fmax(2e-2, fabs(num) + fabs(gx[i]));
        worst = fmax(worst, err);
        checked++;
        CHECK(err < 2e-2, "x[%zu]: numeric %g analytic %g", i, num, gx[i]);
    }
    printf("    %d derivatives, worst relative error %.1e\n", checked, worst);
    free(x); free(gx);
    sbs_test_free(&net, be, &s);
    return 0;
}

/* Gradients of a fixed problem (for checkpointing and thread invariance). */
static float *grads(int threads, size_t limit, size_t *n_out, size_t *scr)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_nnmf_set_store_limit(limit);
    const lcase *c = &cases[0];
    if (case_net(c, SBS_L_NNMF, &cfg, &net) != 0) return NULL;
    sbs_nnmf_set_store_limit((size_t)8 << 20);
    if (scr) *scr = net.L[1].bwd_scr;
    const int B = 5;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, threads, B, &s);
    size_t nx = (size_t)B * c->C * c->H * c->W, nw = (size_t)net.L[1].g.K * net.L[1].ldw;
    float *x = malloc(nx * 4);
    sbs_test_fill(x, nx, 11, 0.0f, 1.0f);
    uint8_t y[5] = {0, 1, 2, 3, 4};
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    sbs_loss(0, 0.5f, 1.0f, sbs_net_output(&net), y, B, net.n_out, s.gact[net.n]);
    sbs_net_backward(&s, B);
    float *r = malloc((nw + nx) * 4);
    memcpy(r, s.G[1].gW, nw * 4);
    memcpy(r + nw, s.gact[1], nx * 4);
    *n_out = nw + nx;
    free(x);
    sbs_test_free(&net, be, &s);
    return r;
}

static int test_checkpointing(void)
{
    size_t n0, n1;
    size_t full_scr, scr;
    float *all = grads(1, (size_t)8 << 20, &n0, &full_scr);
    /* case 0: K*M = N*M = 168 (176 padded) floats per R, S and h */
    size_t lims[] = {1, 2500, 4000}; /* segments of 1, 3 and 5 of the 9 steps */
    for (size_t k = 0; k < sizeof lims / sizeof *lims; k++) {
        float *ck = grads(1, lims[k], &n1, &scr);
        CHECK(all && ck && n0 == n1, "run");
        CHECK(scr < full_scr, "store limit %zu: no checkpointing (scratch %zu)", lims[k], scr);
        double d = 0, mx = 0;
        for (size_t i = 0; i < n0; i++) {
            d = fmax(d, fabs((double)all[i] - ck[i]));
            mx = fmax(mx, fabs((double)all[i]));
        }
        CHECK(d <= 1e-6 * mx, "store limit %zu: max diff %g (max %g)", lims[k], d, mx);
        printf("    store limit %zu floats: scratch %zu of %zu floats, max diff %.1e\n", lims[k], scr,
               full_scr, d);
        free(ck);
    }
    free(all);
    return 0;
}

static int test_threads(void)
{
    size_t n1, n;
    float *one = grads(1, (size_t)8 << 20, &n1, NULL);
    for (int th = 2; th <= 3; th++) {
        float *r = grads(th, (size_t)8 << 20, &n, NULL);
        CHECK(one && r && n == n1 && !memcmp(one, r, n * 4), "gradients differ with %d threads", th);
        free(r);
    }
    free(one);
    return 0;
}

/* BP SBS NNMF: the forward is NNMF's (bitwise), the backward the SbS oracle's formulas. */
static int test_bp_sbs_nnmf(void)
{
    for (int ci = 0; ci < 3; ci++) {
        const lcase *c = &cases[ci];
        static sbs_config cfg, cfg2;
        sbs_net net, ref;
        CHECK(case_net(c, SBS_L_BP_SBS_NNMF, &cfg, &net) == 0, "plan");
        CHECK(case_net(c, SBS_L_NNMF, &cfg2, &ref) == 0, "plan");
        const int B = 3;
        sbs_trainer_state s;
        sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
        sbs_net_bind(&ref, be, B);
        size_t nx = (size_t)B * c->C * c->H * c->W;
        float *x = malloc(nx * 4);
        sbs_test_fill(x, nx, 3, 0.0f, 1.0f);
        sbs_spike_key key = {1, 0, 0};
        sbs_net_forward(&net, x, B, &key);
        sbs_net_forward(&ref, x, B, &key);
        const sbs_layer *L = &net.L[1];
        size_t nh = (size_t)B * L->N * L->X * L->Y;
        CHECK(!memcmp(net.act[2], ref.act[2], nh * 4), "forward differs from NNMF");
        sbs_test_fill(s.gact[net.n], (size_t)B * L->N, 4, -1.0f, 1.0f);
        sbs_net_backward(&s, B);
        double *dx = malloc(nx * sizeof *dx), *dW = malloc((size_t)L->g.K * L->N * sizeof *dW);
        sbs_ref_sbs_backward(&L->g, L->N, L->weight, L->ldw, net.act[1], net.act[2], s.gact[2], B,
                             dx, dW);
        double xm, xd = sbs_test_max_diff(dx, s.gact[1], nx, &xm);
        double wm, wd = sbs_test_max_diff_w(L, dW, s.G[1].gW, &wm);
        CHECK(xd <= 1e-4 * xm + 1e-6, "%s: input gradient: max diff %g (max %g)", c->name, xd, xm);
        CHECK(wd <= 1e-4 * wm + 1e-7, "%s: weight gradient: max diff %g (max %g)", c->name, wd, wm);
        CHECK(s.contrib[1] == (long)B * L->X * L->Y, "contributions %ld", s.contrib[1]);
        printf("    %s: dx %.1e of %.2g, dW %.1e of %.2g\n", c->name, xd, xm, wd, wm);
        free(x); free(dx); free(dW);
        sbs_net_free(&ref);
        sbs_test_free(&net, be, &s);
    }
    return 0;
}

/* Plan errors, weights written and read back, and one optimizer step with weight care. */
static int test_plan_and_weights(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer bad[] = {{.kind = SBS_L_NNMF, .in = 1, .out = 2, .k = {1, 1}}};
    if (make_net(&cfg, &net, bad, 1, 2, 1, 1, 1, 5, 1.0f) == 0) {
        sbs_net_free(&net);
        CHECK(0, "an NNMF layer with 2 neurons was accepted");
    }
    sbs_test_layer ls[] = {{.kind = SBS_L_NNMF, .in = 1, .out = 7, .k = {3, 3}},
                           {.kind = SBS_L_BP_SBS_NNMF, .in = 7, .out = 4, .k = {2, 2}}};
    CHECK(make_net(&cfg, &net, ls, 2, 4, 1, 4, 4, 5, 1.0f) == 0, "plan");
    for (int l = 0; l < 2; l++)
        CHECK(net.L[l].sbs_w && net.L[l].file_weights && net.L[l].T == 0, "layer %d flags", l);
    char dir[] = "/tmp/test_nnmf_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    sbs_err e;
    CHECK(sbs_net_save_weights(&net, dir, 0, &e) == 0, "save: %s", e.msg);
    sbs_net back;
    static sbs_config cfg2;
    CHECK(make_net(&cfg2, &back, ls, 2, 4, 1, 4, 4, 5, 1.0f) == 0, "plan");
    memset(back.L[0].weight, 0, (size_t)back.L[0].g.K * back.L[0].ldw * 4);
    CHECK(sbs_net_load_weights(&back, dir, true, &e) == 2, "load: %s", e.msg);
    for (int l = 0; l < 2; l++) {
        size_t n = (size_t)net.L[l].g.K * net.L[l].ldw;
        double d = 0;
        for (size_t i = 0; i < n; i++) d = fmax(d, fabs(net.L[l].weight[i] - back.L[l].weight[i]));
        CHECK(d < 1e-6, "layer %d weights differ after save/load by %g", l, d);
        char p[512];
        snprintf(p, sizeof p, "%s/Weight_L%d_S0.npy", dir, l);
        unlink(p);
    }
    rmdir(dir);
    /* one training update: columns still sum to 1, weights >= threshold / C */
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 1, 2, &s);
    float x[2 * 16];
    sbs_test_fill(x, 32, 6, 0.0f, 1.0f);
    uint8_t y[2] = {0, 2};
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(&net, x, 2, &key);
    sbs_loss(0, 0.5f, 1.0f, sbs_net_output(&net), y, 2, 4, s.gact[net.n]);
    sbs_net_backward(&s, 2);
    sbs_optim o;
    sbs_optim_init(&o, &cfg);
    float before = net.L[0].weight[0];
    sbs_optim_step(&o, &s, &cfg);
    CHECK(net.L[0].weight[0] != before, "the update did not change layer 0");
    for (int l = 0; l < 2; l++) {
        const sbs_layer *L = &net.L[l];
        for (int n = 0; n < L->N; n++) {
            double sum = 0;
            for (int i = 0; i < L->g.K; i++) {
                float w = L->weight[(size_t)i * L->ldw + n];
                CHECK(w >= cfg.learn.learning_rate_threshold_w / L->C * 0.999f, "weight below floor");
                sum += w;
            }
            CHECK(fabs(sum - 1) < 1e-5, "layer %d column %d sums to %g", l, n, sum);
        }
    }
    sbs_net_free(&back);
    sbs_test_free(&net, be, &s);
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"NNMF vs oracle: 2->12 3x2 s1x2 d1x2 p1x0, T 9, eps 1", t_case0},
        {"NNMF vs oracle: 1->5 3x3 p1, T 1, eps 1", t_case1},
        {"NNMF vs oracle: 3->17 2x2 s2, T 25, eps 0.3", t_case2},
        {"NNMF vs oracle: 2->4 1x1, T 12, eps 0 (h <- u)", t_case3},
        {"NNMF vs oracle: 4->3 3x3 p2 d2, T 6, eps -1 (h <- u)", t_case4},
        {"NNMF vs oracle: 1->32 5x5 12x12, T 30, eps 1", t_case5},
        {"oracle gradient vs double finite differences", test_oracle_fd},
        {"float path gradients by finite differences (2 NNMF layers, mixed loss)", test_float_fd},
        {"checkpointed backward equals stored iterates", test_checkpointing},
        {"NNMF gradients bitwise equal for 1/2/3 threads", test_threads},
        {"BP SBS NNMF: NNMF forward, SbS backward vs oracle", test_bp_sbs_nnmf},
        {"plan checks, weights save/load, one update with weight care", test_plan_and_weights},
    };
    return SBS_TEST_RUN(cases);
}
