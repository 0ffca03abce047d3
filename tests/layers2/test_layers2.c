/* test_layers2.c — SbS LOCAL, RECONSTRUCTION and full-layer spike routing
 * (spike_full_layer_input_distribution):
 *  - routing: each position's spikes are exactly the in-window subset of the layer's spikes, in
 *    draw order, and a padded window slot is never a target (the reference's bug);
 *  - full-layer forward: the CPU backend (every SIMD level, 1-3 threads) against the
 *    double-precision oracle with the same spikes; bitwise thread and batch-split invariance;
 *    the network plumbing (config flag -> backend);
 *  - SbS LOCAL: hidden and output weight rules against a double-precision oracle of the
 *    formulas; the gradient it passes down (SbS rule when a layer below back-propagates, none
 *    when every layer below learns locally);
 *  - RECONSTRUCTION: forward against loops, loss against the SPEC §2 formula, the loss
 *    gradient and the backward to h by finite differences, the SbS weight gradient it drives,
 *    plan errors, unsupervised training lowering the loss;
 *  - thread invariance of the new gradients (bitwise). */
#include "sbs_test.h"

/* this file's fill: stream (1234, a, 5) */
static void fill(float *x, size_t n, uint32_t a, float lo, float hi)
{
    sbs_test_fill_key(x, n, 1234, a, 5, lo, hi);
}

/* ---------------------------------------------------------------- nets from specs */

/* the shared test net with the loss and optimizer settings RECONSTRUCTION and the training
 * case need */
static int make_net(sbs_config *cfg, sbs_net *net, const sbs_test_layer *ls, int n, int n_out,
                    int C, int H, int W, int T, sbs_err *err)
{
    sbs_test_config(cfg, ls, n, n_out, T);
    cfg->learn.loss_coeffs_mse = 0.5f;
    cfg->learn.loss_coeffs_kldiv = 1.0f;
    cfg->learn.learning_rate_gamma_w = 0.01f;
    cfg->learn.learning_rate_threshold_w = 1e-5f;
    cfg->learn.number_of_batches_for_one_update = 1;
    snprintf(cfg->learn.lr_schedule_name, sizeof cfg->learn.lr_schedule_name, "None");
    return sbs_test_plan(cfg, net, C, H, W, 3, err);
}

/* ---------------------------------------------------------------- full-layer routing */

typedef struct { int C, H, W, kx, ky, sx, sy, dx, dy, px, py; } geo;

static const geo geos[] = {
    {1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1},   /* padding 1 */
    {2, 9, 7, 3, 2, 2, 1, 1, 2, 1, 0},   /* stride, dilation, padding on one axis */
    {3, 6, 11, 2, 3, 1, 2, 2, 1, 2, 1},  /* large padding */
    {1, 5, 5, 5, 5, 1, 1, 1, 1, 0, 0},   /* one position */
    {2, 7, 6, 1, 1, 1, 1, 1, 1, 0, 0},   /* 1x1 windows */
    {1, 10, 10, 4, 4, 3, 3, 1, 1, 2, 2}, /* stride 3: some pixels in no window */
};

static int test_route_subset(void)
{
    for (size_t gi = 0; gi < sizeof geos / sizeof *geos; gi++) {
        const geo *q = &geos[gi];
        sbs_geom g;
        CHECK(sbs_geom_init(&g, q->C, q->H, q->W, q->kx, q->ky, q->sx, q->sy, q->dx, q->dy, q->px,
                            q->py) == 0, "geometry %zu", gi);
        int CHW = g.C * g.H * g.W, XY = g.X * g.Y, T = 300;
        /* pixel ids (+1; 0 marks a padded slot) gathered through the ordinary window code */
        float *ids = malloc((size_t)CHW * 4), *win = malloc((size_t)g.K * 4);
        for (int i = 0; i < CHW; i++) ids[i] = (float)(i + 1);
        int32_t *spk = malloc((size_t)T * 4), *start = malloc((size_t)(XY + 1) * 4);
        int32_t *list = malloc((size_t)T * g.kx * g.ky * 4), *want = malloc((size_t)T * 4);
        sbs_stream st;
        sbs_stream_init(&st, 5, SBS_RNG_INIT, (uint32_t)gi, 2);
        for (int t = 0; t < T; t++) spk[t] = (int32_t)sbs_stream_below(&st, (uint32_t)CHW);
        spk[0] = 0; /* pixel 0: the reference routed it to every padded slot as well */
        int32_t *tab = malloc(sbs_full_layer_route_tab(&g) * 4);
        sbs_full_layer_route(&g, spk, T, start, list, tab);
        free(tab);
        CHECK(start[0] == 0, "start[0] %d", start[0]);
        long total = 0, pix0 = 0;
        for (int m = 0; m < XY; m++) {
            sbs_patch_gather(&g, ids, m / g.Y, m % g.Y, win);
            int nw = 0;
            for (int t = 0; t < T; t++)
                for (int i = 0; i < g.K; i++)
                    if (win[i] == (float)(spk[t] + 1)) want[nw++] = i;
            int got = start[m + 1] - start[m];
            CHECK(got == nw, "geometry %zu position %d: %d spikes routed, %d in its window", gi,
                  m, got, nw);
            for (int k = 0; k < nw; k++) {
                int i = list[start[m] + k];
                CHECK(i == want[k], "geometry %zu position %d spike %d: slot %d, expected %d", gi,
                      m, k, i, want[k]);
                CHECK(win[i] != 0.0f, "geometry %zu position %d: padded slot %d is a target", gi,
                      m, i);
            }
            for (int i = 0; i < g.K; i++) pix0 += win[i] == 1.0f;
            total += nw;
        }
        CHECK(start[XY] == total, "end %d vs %ld", start[XY], total);
        /* pixel 0 went exactly to the windows that hold it */
        long got0 = 0;
        for (int m = 0; m < XY; m++)
            for (int k = start[m]; k < start[m + 1]; k++) {
                sbs_patch_gather(&g, ids, m / g.Y, m % g.Y, win);
                got0 += win[list[k]] == 1.0f;
            }
        long n0 = 0;
        for (int t = 0; t < T; t++) n0 += spk[t] == 0;
        CHECK(got0 == n0 * pix0, "geometry %zu: pixel 0 reached %ld slots, expected %ld", gi, got0,
              n0 * pix0);
        free(ids); free(win); free(spk); free(start); free(list); free(want);
    }
    printf("    %zu geometries, including padding, stride, dilation\n", sizeof geos / sizeof *geos);
    return 0;
}

/* ---------------------------------------------------------------- full-layer forward */

static int full_forward_case(size_t gi, int N, int T, int B, float fo, int cool, double *worst_out)
{
    const geo *q = &geos[gi];
    sbs_layer_args a = {0};
    CHECK(sbs_geom_init(&a.g, q->C, q->H, q->W, q->kx, q->ky, q->sx, q->sy, q->dx, q->dy, q->px,
                        q->py) == 0, "geometry");
    a.N = N;
    a.ldw = sbs_pad_n(N);
    a.T = T;
    a.layer = 2;
    a.forgetting_offset = fo;
    a.full_layer = true;
    sbs_stream wst;
    sbs_stream_init(&wst, 99, SBS_RNG_INIT, (uint32_t)gi, 1);
    float *W = sbs_test_rand_weights(&wst, a.g.K, N, a.ldw);
    a.W = W;
    float *eps = malloc((size_t)T * 4);
    sbs_eps_table(1.0f, cool, 25.0f, T, eps);
    a.eps = eps;
    size_t nx = (size_t)B * a.g.C * a.g.H * a.g.W, nh = (size_t)B * N * a.g.X * a.g.Y;
    float *x = malloc(nx * 4), *h1 = malloc(nh * 4), *h2 = malloc(nh * 4), *h3 = malloc(nh * 4);
    fill(x, nx, (uint32_t)gi + 10, 0.0f, 1.0f);
    for (size_t i = 0; i < nx; i += 3) x[i] = 1e-20f; /* dark pixels, as after +1e-20 */
    sbs_spike_key key = {.seed = 42, .pass = 7, .first_sample = 100};
    sbs_ref_forward(&a, x, B, &key, h1);
    double worst = 0;
    for (int s = 0; s < SBS_TEST_N_SIMD; s++) {
        const char *simd = sbs_test_simd(s);
        if (!simd) continue;
        for (int th = 1; th <= 3; th++) {
            sbs_test_backend_forward(simd, th, &a, x, B, &key, h2);
            for (size_t i = 0; i < nh; i++) worst = fmax(worst, fabs((double)h1[i] - h2[i]));
            CHECK(worst < 2e-5, "geometry %zu %s threads %d: max diff %g", gi, simd, th,
                  worst);
            if (th == 1 && s == 0) memcpy(h3, h2, nh * 4);
            else if (s == 0)
                CHECK(!memcmp(h2, h3, nh * 4), "geometry %zu: threads %d differ bitwise", gi, th);
        }
    }
    /* batch split: images 0..b1-1 and b1..B-1 in two calls give the same bits */
    if (B > 1) {
        int b1 = B / 2;
        sbs_backend *be = sbs_cpu_backend_create(2, "auto");
        be->sbs_forward(be, &a, x, B, &key, h2);
        size_t img = (size_t)a.g.C * a.g.H * a.g.W, out = (size_t)N * a.g.X * a.g.Y;
        sbs_spike_key k2 = key;
        be->sbs_forward(be, &a, x, b1, &key, h3);
        k2.first_sample += (uint32_t)b1;
        be->sbs_forward(be, &a, x + b1 * img, B - b1, &k2, h3 + b1 * out);
        be->destroy(be);
        CHECK(!memcmp(h2, h3, nh * 4), "geometry %zu: batch split changes the result", gi);
    }
    /* every h is a distribution */
    for (int b = 0; b < B; b++)
        for (int m = 0; m < a.g.X * a.g.Y; m++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += h2[((size_t)b * N + n) * a.g.X * a.g.Y + m];
            CHECK(fabs(s - 1) < 1e-4, "h sums to %g", s);
        }
    *worst_out = fmax(*worst_out, worst);
    free(W); free(eps); free(x); free(h1); free(h2); free(h3);
    return 0;
}

static int test_full_forward(void)
{
    double worst = 0;
    for (size_t gi = 0; gi < sizeof geos / sizeof *geos; gi++) {
        int N = (int[]){12, 17, 3, 32, 10, 16}[gi];
        int T = (int[]){200, 150, 99, 400, 64, 300}[gi];
        if (full_forward_case(gi, N, T, 3, gi == 2 ? 0.5f : -1.0f, gi == 1 ? 40 : -1, &worst))
            return 1;
    }
    printf("    oracle vs fast (all SIMD levels, 1-3 threads): max diff %.2g\n", worst);
    return 0;
}

/* The flag in the config reaches the backend, and the spikes differ from the per-position
 * stream (the two modes are not silently the same). */
static int test_full_layer_net(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 1, .out = 8, .k = {3, 3}, .p = {1, 1},
                            .full = true},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {6, 6}},
                           {.kind = SBS_L_SBS, .in = 8, .out = 10, .k = {1, 1}}};
    CHECK(make_net(&cfg, &net, ls, 3, 10, 1, 6, 6, 128, NULL) == 0, "plan");
    const int B = 3;
    sbs_backend *be = sbs_test_bind(&net, 2, B, NULL);
    float x[3 * 36];
    fill(x, 3 * 36, 3, 0.0f, 1.0f);
    sbs_spike_key key = {9, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    const sbs_layer *L = &net.L[0];
    size_t nh = (size_t)B * L->N * L->X * L->Y;
    float *h = malloc(nh * 4);
    sbs_layer_args a = {.g = L->g, .N = L->N, .W = L->weight, .ldw = L->ldw, .T = L->T,
                        .eps = L->eps, .forgetting_offset = L->fo, .layer = 0, .full_layer = true};
    sbs_ref_forward(&a, x, B, &key, h);
    double worst = 0;
    for (size_t i = 0; i < nh; i++) worst = fmax(worst, fabs((double)h[i] - net.act[1][i]));
    CHECK(worst < 2e-5, "net forward vs full-layer oracle: %g", worst);
    a.full_layer = false;
    sbs_ref_forward(&a, x, B, &key, h);
    double diff = 0;
    for (size_t i = 0; i < nh; i++) diff = fmax(diff, fabs((double)h[i] - net.act[1][i]));
    CHECK(diff > 1e-3, "full-layer and per-position spikes gave the same h (%g)", diff);
    free(h);
    sbs_test_free(&net, be, NULL);
    return 0;
}

/* ---------------------------------------------------------------- SbS LOCAL */

/* double oracle of the local rule of layer L: dW (K x N) summed over images and positions */
static void local_oracle(const sbs_layer *L, const float *x, const float *h, const uint8_t *y,
                         int B, bool output, double *dW)
{
    const sbs_geom *g = &L->g;
    int K = g->K, N = L->N, M = g->X * g->Y;
    size_t in_sz = (size_t)g->C * g->H * g->W;
    memset(dW, 0, (size_t)K * N * sizeof *dW);
    float *win = malloc((size_t)K * 4);
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            sbs_patch_gather(g, x + b * in_sz, m / g->Y, m % g->Y, win);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += win[i];
            const float *hv = h + (size_t)b * N * M + m;
            for (int i = 0; i < K; i++) {
                double r = 0;
                for (int n = 0; n < N; n++) r += (double)L->weight[(size_t)i * L->ldw + n] * hv[(size_t)n * M];
                double d = -2.0 * (win[i] / (sum + 1e-20) - r);
                for (int n = 0; n < N; n++)
                    dW[(size_t)i * N + n] += d * (output ? (double)(n == y[b]) : hv[(size_t)n * M]);
            }
        }
    free(win);
}

static int compare_dw(const sbs_layer *L, const float *gW, const double *dW, const char *what)
{
    double wm, wd = sbs_test_max_diff_w(L, dW, gW, &wm);
    CHECK(wm > 0 && wd <= 1e-4 * wm + 1e-6, "%s: max diff %g (max %g)", what, wd, wm);
    printf("    %s: max |dW| %.3g, max diff %.2g\n", what, wm, wd);
    return 0;
}

static int test_local_rule(void)
{
    static sbs_config cfg;
    sbs_net net;
    /* SbS LOCAL (hidden, padded) -> AVG POOL -> SbS LOCAL (output) */
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS_LOCAL, .in = 2, .out = 9, .k = {3, 3}, .p = {1, 1}},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}, .s = {2, 2}},
                           {.kind = SBS_L_SBS_LOCAL, .in = 9, .out = 10, .k = {3, 3}}};
    CHECK(make_net(&cfg, &net, ls, 3, 10, 2, 6, 6, 80, NULL) == 0, "plan");
    const int B = 4;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    size_t nx = (size_t)B * 2 * 36;
    float *x = malloc(nx * 4);
    fill(x, nx, 4, 0.0f, 1.0f);
    uint8_t y[4] = {3, 0, 9, 3};
    sbs_spike_key key = {2, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    sbs_loss(0, 0.5f, 1.0f, sbs_net_output(&net), y, B, 10, s.gact[net.n]);
    s.labels = y;
    /* poison the buffer the LOCAL output layer should clear (nobody below back-propagates) */
    size_t n2 = (size_t)B * net.L[2].C * net.L[2].H * net.L[2].W;
    for (size_t i = 0; i < n2; i++) s.gact[2][i] = 7.0f;
    sbs_net_backward(&s, B);
    for (int l = 0; l <= 2; l += 2) {
        const sbs_layer *L = &net.L[l];
        double *dW = malloc((size_t)L->g.K * L->N * sizeof *dW);
        local_oracle(L, net.act[l], net.act[l + 1], y, B, l == 2, dW);
        int r = compare_dw(L, s.G[l].gW, dW, l == 2 ? "output layer (one-hot rule)" : "hidden layer (h rule)");
        free(dW);
        if (r) return 1;
        CHECK(s.contrib[l] == (long)B * L->X * L->Y, "layer %d contributions %ld", l, s.contrib[l]);
    }
    /* output layer: only the label columns are touched */
    const sbs_layer *L2 = &net.L[2];
    for (int i = 0; i < L2->g.K; i++)
        for (int n = 0; n < L2->N; n++)
            if (n != 0 && n != 3 && n != 9)
                CHECK(s.G[2].gW[(size_t)i * L2->ldw + n] == 0.0f, "column %d not a label", n);
    for (size_t i = 0; i < n2; i++)
        CHECK(s.gact[2][i] == 0.0f, "LOCAL over LOCAL layers passed a gradient (%g)", s.gact[2][i]);
    free(x);
    sbs_test_free(&net, be, &s);
    return 0;
}

/* SbS (back-propagating) below an SbS LOCAL output layer: the LOCAL layer passes the ordinary
 * SbS input gradient down, as the reference's backward computes grad_input in every mode. */
static int test_local_passes_gradient(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 1, .out = 6, .k = {3, 3}},
                           {.kind = SBS_L_SBS_LOCAL, .in = 6, .out = 10, .k = {4, 4}}};
    CHECK(make_net(&cfg, &net, ls, 2, 10, 1, 6, 6, 64, NULL) == 0, "plan");
    const int B = 3;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    float x[3 * 36];
    fill(x, 3 * 36, 6, 0.0f, 1.0f);
    uint8_t y[3] = {1, 2, 5};
    sbs_spike_key key = {3, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    sbs_loss(0, 0.5f, 1.0f, sbs_net_output(&net), y, B, 10, s.gact[net.n]);
    float g2[30];
    memcpy(g2, s.gact[2], sizeof g2);
    s.labels = y;
    sbs_net_backward(&s, B);
    const sbs_layer *L = &net.L[1];
    size_t nx = (size_t)B * L->C * L->H * L->W;
    double *dx = malloc(nx * sizeof *dx), *dW = malloc((size_t)L->g.K * L->N * sizeof *dW);
    sbs_ref_sbs_backward(&L->g, L->N, L->weight, L->ldw, net.act[1], net.act[2], g2, B, dx, dW);
    double wm, wd = sbs_test_max_diff(dx, s.gact[1], nx, &wm);
    CHECK(wm > 0 && wd <= 1e-4 * wm + 1e-6, "passed gradient: max diff %g (max %g)", wd, wm);
    local_oracle(L, net.act[1], net.act[2], y, B, true, dW);
    if (compare_dw(L, s.G[1].gW, dW, "output layer over a back-propagating SbS layer")) return 1;
    double any = 0;
    for (size_t i = 0; i < (size_t)net.L[0].g.K * net.L[0].ldw; i++) any += fabs(s.G[0].gW[i]);
    CHECK(any > 0, "the SbS layer below got no weight gradient");
    free(dx); free(dW);
    sbs_test_free(&net, be, &s);
    return 0;
}

/* ---------------------------------------------------------------- RECONSTRUCTION */

static int recon_net(sbs_config *cfg, sbs_net *net, int T)
{
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 2, .out = 6, .k = {3, 2}, .s = {2, 1},
                            .d = {1, 2}, .p = {1, 0}},
                           {.kind = SBS_L_RECONSTRUCTION, .in = 6, .out = 12}};
    return make_net(cfg, net, ls, 2, 10, 2, 7, 6, T, NULL);
}

static int test_recon_forward(void)
{
    static sbs_config cfg;
    sbs_net net;
    CHECK(recon_net(&cfg, &net, 60) == 0, "plan");
    const sbs_layer *S = &net.L[0], *L = &net.L[1];
    CHECK(L->ref_layer == 0 && L->N == S->g.K && L->X == S->X && L->Y == S->Y && !L->file_weights,
          "shape %d x %d x %d (ref %d)", L->N, L->X, L->Y, L->ref_layer);
    const int B = 3;
    sbs_backend *be = sbs_test_bind(&net, 2, B, NULL);
    size_t nx = (size_t)B * 2 * 7 * 6;
    float *x = malloc(nx * 4);
    fill(x, nx, 7, 0.0f, 1.0f);
    sbs_spike_key key = {4, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    int M = L->X * L->Y, K = L->N, N = S->N;
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            const float *h = net.act[1] + (size_t)b * N * M + m;
            double hs = 0, R[64], Rs = 0;
            for (int n = 0; n < N; n++) hs += h[(size_t)n * M];
            for (int i = 0; i < K; i++) {
                R[i] = 0;
                for (int n = 0; n < N; n++) R[i] += (double)S->weight[(size_t)i * S->ldw + n] * h[(size_t)n * M] / hs;
                Rs += R[i];
            }
            for (int i = 0; i < K; i++)
                worst = fmax(worst, fabs(R[i] / Rs - net.act[2][((size_t)b * K + i) * M + m]));
        }
    CHECK(worst < 1e-6, "forward vs loops: max diff %g", worst);
    printf("    forward vs loops: max diff %.2g\n", worst);
    free(x);
    sbs_test_free(&net, be, NULL);
    return 0;
}

/* loss of the reconstruction layer given h = act[1] (its forward only: deterministic) */
static double recon_only_loss(sbs_net *net, sbs_trainer_state *s, int B)
{
    sbs_layer *L = &net->L[1];
    L->ops->forward(net, L, B, NULL);
    return L->ops->loss(s, L, B);
}

static int test_recon_loss_and_backward(void)
{
    static sbs_config cfg;
    sbs_net net;
    CHECK(recon_net(&cfg, &net, 60) == 0, "plan");
    sbs_layer *S = &net.L[0], *L = &net.L[1];
    const int B = 2;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    size_t nx = (size_t)B * 2 * 7 * 6;
    float *x = malloc(nx * 4);
    fill(x, nx, 8, 0.0f, 1.0f);
    /* image 0, rows 0-1 of both channels dark: the windows of output row 0 (padding above)
     * sum to 0, so their target p is uniform */
    for (size_t i = 0; i < 12; i++) x[i] = x[42 + i] = 0.0f;
    sbs_spike_key key = {5, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    int M = L->X * L->Y, K = L->N, N = S->N;
    /* loss against the SPEC §2 formula with t = p */
    double want = 0;
    float *win = malloc((size_t)K * 4);
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            sbs_patch_gather(&S->g, x + (size_t)b * 2 * 42, m / S->Y, m % S->Y, win);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += win[i];
            for (int i = 0; i < K; i++) {
                double t = sum > 0 ? win[i] / sum : 1.0 / K, o = net.act[2][((size_t)b * K + i) * M + m];
                want += (0.5 * (o - t) * (o - t) + (t + 1e-20) * (log(t + 1e-20) - log(o + 1e-20))) / 1.5;
            }
        }
    free(win);
    double got = L->ops->loss(&s, L, B);
    CHECK(fabs(got - want) <= 1e-9 * fabs(want), "loss %.12g, formula %.12g", got, want);
    /* dL/do by finite differences of the hook itself */
    size_t no = (size_t)B * K * M;
    float *go = malloc(no * 4), *gh = malloc((size_t)B * N * M * 4);
    memcpy(go, s.gact[2], no * 4);
    double worst = 0;
    for (size_t i = 0; i < no; i += 7) {
        float keep = net.act[2][i];
        float up = keep * (1 + 1e-3f), dn = keep * (1 - 1e-3f);
        net.act[2][i] = up;
        double lp = L->ops->loss(&s, L, B);
        net.act[2][i] = dn;
        double lm = L->ops->loss(&s, L, B);
        net.act[2][i] = keep;
        double num = (lp - lm) / ((double)up - dn), err = fabs(num - go[i]) / fmax(1e-2, fabs(num) + fabs(go[i]));
        worst = fmax(worst, err);
        CHECK(err < 2e-3, "dL/do[%zu]: numeric %g analytic %g", i, num, go[i]);
    }
    printf("    loss vs formula: %.3g (rel diff %.1g); dL/do worst rel err %.2g\n", got,
           fabs(got - want) / want, worst);
    /* backward to h (the SbS output) by finite differences through forward + loss */
    recon_only_loss(&net, &s, B);
    L->ops->backward(&s, L, B, true, false);
    memcpy(gh, s.gact[1], (size_t)B * N * M * 4);
    worst = 0;
    double gmax = 0;
    for (size_t i = 0; i < (size_t)B * N * M; i++) gmax = fmax(gmax, fabs(gh[i]));
    for (size_t i = 0; i < (size_t)B * N * M; i += 3) {
        float keep = net.act[1][i];
        float up = keep * (1 + 3e-2f), dn = keep * (1 - 3e-2f); /* float forward: a larger step */
        net.act[1][i] = up;
        double lp = recon_only_loss(&net, &s, B);
        net.act[1][i] = dn;
        double lm = recon_only_loss(&net, &s, B);
        net.act[1][i] = keep;
        double num = (lp - lm) / ((double)up - dn);
        double err = fabs(num - gh[i]) / (fabs(num) + fabs(gh[i]) + 1e-2 * gmax);
        worst = fmax(worst, err);
        CHECK(err < 2e-2, "dL/dh[%zu]: numeric %g analytic %g", i, num, gh[i]);
    }
    printf("    dL/dh by finite differences: worst rel err %.2g (max |g| %.3g)\n", worst, gmax);
    free(x); free(go); free(gh);
    sbs_test_free(&net, be, &s);
    return 0;
}

/* Through the whole net: the routed gradient drives the SbS layer's own backward. */
static int test_recon_drives_sbs(void)
{
    static sbs_config cfg;
    sbs_net net;
    CHECK(recon_net(&cfg, &net, 60) == 0, "plan");
    sbs_layer *S = &net.L[0], *L = &net.L[1];
    const int B = 3;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    size_t nx = (size_t)B * 2 * 7 * 6;
    float *x = malloc(nx * 4);
    fill(x, nx, 9, 0.0f, 1.0f);
    sbs_spike_key key = {6, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    L->ops->loss(&s, L, B);
    sbs_net_backward(&s, B);
    size_t nh = (size_t)B * S->N * S->X * S->Y;
    double *dx = malloc(nx * sizeof *dx), *dW = malloc((size_t)S->g.K * S->N * sizeof *dW);
    sbs_ref_sbs_backward(&S->g, S->N, S->weight, S->ldw, net.act[0], net.act[1], s.gact[1], B, dx,
                         dW);
    (void)nh;
    double wm, wd = sbs_test_max_diff_w(S, dW, s.G[0].gW, &wm);
    CHECK(wm > 0 && wd <= 1e-4 * wm + 1e-7, "SbS weight gradient from the reconstruction: %g (max %g)",
          wd, wm);
    CHECK(s.G[1].gW == NULL, "RECONSTRUCTION has weights of its own");
    free(x); free(dx); free(dW);
    sbs_test_free(&net, be, &s);
    return 0;
}

static int test_recon_plan_errors(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_err e;
    sbs_test_layer first[] = {{.kind = SBS_L_RECONSTRUCTION}};
    CHECK(make_net(&cfg, &net, first, 1, 10, 1, 6, 6, 8, &e) != 0 && strstr(e.msg, "layer_type[0]"),
          "first layer: %s", e.msg);
    sbs_test_layer conv[] = {{.kind = SBS_L_CONV2D, .in = 1, .out = 4, .k = {3, 3}},
                             {.kind = SBS_L_RECONSTRUCTION}};
    CHECK(make_net(&cfg, &net, conv, 2, 10, 1, 6, 6, 8, &e) != 0 && strstr(e.msg, "layer_type[1]") &&
          strstr(e.msg, "SbS"), "after conv: %s", e.msg);
    sbs_test_layer bad_out[] = {{.kind = SBS_L_SBS, .in = 1, .out = 4, .k = {3, 3}},
                                {.kind = SBS_L_RECONSTRUCTION, .in = 4, .out = 5}};
    CHECK(make_net(&cfg, &net, bad_out, 2, 10, 1, 6, 6, 8, &e) != 0 &&
          strstr(e.msg, "forward_neuron_numbers[1]") && strstr(e.msg, "[4, 9]"), "out: %s", e.msg);
    sbs_test_layer ok[] = {{.kind = SBS_L_SBS, .in = 1, .out = 4, .k = {3, 3}},
                           {.kind = SBS_L_RECONSTRUCTION, .in = 4, .out = 9}};
    CHECK(make_net(&cfg, &net, ok, 2, 10, 1, 6, 6, 8, &e) == 0, "ok: %s", e.msg);
    sbs_net_free(&net);
    memset(&cfg, 0, sizeof cfg);
    /* loss_mode 1 (cross-entropy) has no meaning against a distribution target */
    cfg.n_layers = 2;
    cfg.number_of_output_neurons = 10;
    cfg.learn.loss_mode = 1;
    for (int l = 0; l < 2; l++) {
        sbs_layer_cfg *c = &cfg.layers[l];
        c->kind = ok[l].kind;
        snprintf(c->type, sizeof c->type, "%s", sbs_layer_kind_name(c->kind));
        c->in = ok[l].in;
        c->out = ok[l].out;
        c->kernel[0] = c->kernel[1] = l == 0 ? 3 : 1;
        c->stride[0] = c->stride[1] = c->dilation[0] = c->dilation[1] = 1;
        c->spikes = 8;
        c->epsilon_0 = 1.0f;
    }
    CHECK(sbs_net_plan(&net, &cfg, 1, 6, 6, &e) != 0 && strstr(e.msg, "loss_mode"), "loss_mode: %s",
          e.msg);
    printf("    e.g. %s\n", e.msg);
    return 0;
}

/* A few Adam updates on a fixed batch lower the reconstruction loss (no labels involved). */
static int test_recon_trains(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 1, .out = 8, .k = {3, 3}},
                           {.kind = SBS_L_RECONSTRUCTION, .in = 8, .out = 9}};
    CHECK(make_net(&cfg, &net, ls, 2, 10, 1, 8, 8, 400, NULL) == 0, "plan");
    cfg.learn.learning_rate_gamma_w = 0.05f;
    const int B = 8;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    sbs_optim opt;
    sbs_optim_init(&opt, &cfg);
    float x[8 * 64];
    /* bars: structure an 8-neuron layer can learn */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 64; i++)
            x[b * 64 + i] = ((b % 2 ? i % 8 : i / 8) % 4 == b % 4 ? 1.0f : 0.0f) + 1e-20f;
    sbs_spike_key key = {8, 0, 0};
    double first = 0, last = 0;
    for (int it = 0; it < 30; it++) {
        sbs_net_forward(&net, x, B, &key);
        double l = net.L[1].ops->loss(&s, &net.L[1], B);
        if (it == 0) first = l;
        last = l;
        sbs_net_backward(&s, B);
        sbs_optim_step(&opt, &s, &cfg);
        sbs_grad_zero(&s);
    }
    printf("    reconstruction loss %.4f -> %.4f after 30 updates\n", first, last);
    CHECK(last < 0.9 * first, "loss did not fall: %g -> %g", first, last);
    sbs_test_free(&net, be, &s);
    return 0;
}

/* ---------------------------------------------------------------- invariance */

static int invariance_net(sbs_config *cfg, sbs_net *net)
{
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS_LOCAL, .in = 1, .out = 8, .k = {3, 3}, .p = {1, 1},
                            .full = true},
                           {.kind = SBS_L_SBS, .in = 8, .out = 6, .k = {2, 2}},
                           {.kind = SBS_L_RECONSTRUCTION, .in = 6, .out = 32}};
    return make_net(cfg, net, ls, 3, 10, 1, 6, 6, 64, NULL);
}

static int test_thread_invariance(void)
{
    float x[5 * 36];
    fill(x, 5 * 36, 12, 0.0f, 1.0f);
    uint8_t y[5] = {0, 1, 2, 3, 4};
    return sbs_test_grads_thread_invariant(invariance_net, x, y, 5);
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"full-layer routing: each position gets exactly its in-window spikes, never padding", test_route_subset},
        {"full-layer forward: fast == oracle, thread and batch-split invariant", test_full_forward},
        {"full-layer flag reaches the backend through the net", test_full_layer_net},
        {"SbS LOCAL: hidden and output rules vs double oracle", test_local_rule},
        {"SbS LOCAL: passes the SbS gradient to a back-propagating layer below", test_local_passes_gradient},
        {"RECONSTRUCTION: forward vs loops", test_recon_forward},
        {"RECONSTRUCTION: loss formula, dL/do and dL/dh by finite differences", test_recon_loss_and_backward},
        {"RECONSTRUCTION: routed gradient drives the SbS weight gradient", test_recon_drives_sbs},
        {"RECONSTRUCTION: plan errors", test_recon_plan_errors},
        {"RECONSTRUCTION: unsupervised updates lower the loss", test_recon_trains},
        {"LOCAL / full-layer / RECONSTRUCTION gradients bitwise equal for 1/2/3 threads", test_thread_invariance},
    };
    return SBS_TEST_RUN(cases);
}
