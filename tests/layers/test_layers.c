/* test_layers.c — ONOFF, POISSON, INPUT SPIKE IMAGE and APPROX CONV2D (SPEC §1.5):
 * ONOFF values and gradient (finite differences); the Poisson sampler's mean, variance and
 * distribution (fixed seed), POISSON layer normalisation, identity gradient and bitwise
 * invariance for threads and batch split; INPUT SPIKE IMAGE histogram sum, frequencies
 * (chi-square, fixed seed) and invariance; APPROX CONV2D equal to CONV2D with exact settings,
 * bitwise equal to a naive loop of sbs_approx_mul otherwise, straight-through gradient equal to
 * the exact conv gradient, weights saved and loaded like CONV2D; the CNN_Approx configs and
 * the worked examples load and plan. One line per case; exit 1 on failure. */
#include "sbs/approx.h"
#include "sbs_test.h"

#include <unistd.h>

/* the spikes of a layer in these nets that sets no .spikes of its own */
enum { DEFAULT_SPIKES = 64 };

/* Wilson-Hilferty upper quantile of chi-square(df) at z standard deviations */
static double chi2_crit(int df, double z)
{
    double a = 2.0 / (9.0 * df);
    return df * pow(1.0 - a + z * sqrt(a), 3);
}

/* ---------------- ONOFF ---------------- */

static int test_onoff_values(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer ls[] = {{.kind = SBS_L_ONOFF, .in = 5, .out = 10}};
    CHECK(sbs_test_net(&cfg, &net, ls, 1, 10, 5, 1, 1, DEFAULT_SPIKES, NULL) == 0, "plan");
    sbs_backend *be = sbs_test_bind(&net, 1, 2, NULL);
    float x[10] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 0.1f, 0.9f, 0.5f, 0.6f, 0.4f};
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(&net, x, 2, &key);
    const float *y = sbs_net_output(&net);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 5; c++) {
            float v = x[b * 5 + c];
            float on = v > 0.5f ? v - 0.5f : 0.0f, off = v < 0.5f ? 0.5f - v : 0.0f;
            CHECK(y[b * 10 + c] == on && y[b * 10 + 5 + c] == off,
                  "image %d channel %d: x %g -> on %g off %g, want %g %g", b, c, v,
                  y[b * 10 + c], y[b * 10 + 5 + c], on, off);
        }
    sbs_net_free(&net);
    /* forward_neuron_numbers must be [C, 2C] */
    sbs_test_layer bad[] = {{.kind = SBS_L_ONOFF, .in = 5, .out = 5}};
    sbs_err e;
    CHECK(sbs_test_net(&cfg, &net, bad, 1, 5, 5, 1, 1, DEFAULT_SPIKES, &e) != 0,
          "ONOFF [5, 5] accepted");
    CHECK(strstr(e.msg, "forward_neuron_numbers[0]") && strstr(e.msg, "[5, 10]"),
          "message: %s", e.msg);
    printf("    %s\n", e.msg);
    be->destroy(be);
    return 0;
}

static int test_onoff_grad(void)
{
    static sbs_config cfg;
    sbs_net net;
    sbs_test_layer ls[] = {{.kind = SBS_L_ONOFF, .in = 2, .out = 4},
                           {.kind = SBS_L_CONV2D, .in = 4, .out = 5, .k = {3, 3}}};
    CHECK(sbs_test_net(&cfg, &net, ls, 2, 5, 2, 3, 3, DEFAULT_SPIKES, NULL) == 0, "plan");
    const int B = 2;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    size_t nx = (size_t)B * 2 * 9;
    float *x = malloc(nx * 4), g[10];
    sbs_test_fill(x, nx, 3, 0.0f, 1.0f);
    for (size_t i = 0; i < nx; i++) /* stay away from the kink at 0.5 */
        if (fabsf(x[i] - 0.5f) < 0.02f) x[i] = 0.45f;
    uint8_t y[2] = {1, 4};
    sbs_test_loss(&net, x, B, y, 1, s.gact[net.n]);
    sbs_net_backward(&s, B); /* gact[1] */
    net.L[0].ops->backward(&s, &net.L[0], B, true, false);
    const double h = 1e-3;
    double worst = 0;
    for (size_t i = 0; i < nx; i++) {
        double num = sbs_test_fd(&net, x, B, y, 1, &x[i], h, g), ana = s.gact[0][i];
        double err = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
        worst = fmax(worst, err);
        CHECK(err < 1e-2, "x[%zu] = %g: numeric %g analytic %g", i, x[i], num, ana);
    }
    printf("    input gradient: worst relative error %.2g over %zu inputs\n", worst, nx);
    free(x);
    sbs_test_free(&net, be, &s);
    return 0;
}

/* ---------------- POISSON ---------------- */

static int test_poisson_sampler(void)
{
    const double lams[] = {0.05, 0.7, 3.0, 9.5, 10.0, 17.0, 60.0, 400.0, 1600.0};
    const int n = 200000;
    uint32_t *k = malloc((size_t)n * sizeof *k);
    for (size_t li = 0; li < sizeof lams / sizeof *lams; li++) {
        double lam = lams[li];
        double s = 0, ss = 0;
        uint32_t kmax = 0;
        for (int i = 0; i < n; i++) {
            k[i] = sbs_poisson_draw(lam, 12345, (5u << 24) | (uint32_t)li, 7, (uint32_t)i);
            s += k[i];
            kmax = k[i] > kmax ? k[i] : kmax;
        }
        double mean = s / n;
        for (int i = 0; i < n; i++) ss += (k[i] - mean) * (k[i] - mean);
        double var = ss / (n - 1);
        double se_mean = sqrt(lam / n), se_var = sqrt((lam + 2 * lam * lam) / n);
        CHECK(fabs(mean - lam) < 5 * se_mean, "lambda %g: mean %g (se %g)", lam, mean, se_mean);
        CHECK(fabs(var - lam) < 5 * se_var, "lambda %g: variance %g (se %g)", lam, var, se_var);
        /* chi-square against the pmf over bins with expected count >= 20; the last bin takes
           the whole upper tail */
        uint32_t *hist = calloc(kmax + 1, sizeof *hist);
        for (int i = 0; i < n; i++) hist[k[i]]++;
        double chi = 0, cum = 0, be = 0, bo = 0;
        int df = -1;
        for (int kk = 0;; kk++) {
            double pmf = exp(-lam + kk * log(lam) - lgamma(kk + 1.0));
            cum += pmf;
            be += n * pmf;
            bo += kk <= (int)kmax ? hist[kk] : 0;
            double tail = n * (1.0 - cum);
            if (tail < 20) {
                be += tail > 0 ? tail : 0;
                for (int q = kk + 1; q <= (int)kmax; q++) bo += hist[q];
                chi += (bo - be) * (bo - be) / be;
                df++;
                break;
            }
            if (be >= 20) {
                chi += (bo - be) * (bo - be) / be;
                df++;
                be = bo = 0;
            }
        }
        free(hist);
        double crit = chi2_crit(df, 3.7); /* p ~ 1e-4 */
        CHECK(df >= 1 && chi < crit, "lambda %g: chi-square %.1f, df %d, critical %.1f", lam, chi,
              df, crit);
        printf("    lambda %-6g mean %-9.4f var %-9.4f chi2 %.1f (df %d, crit %.1f)\n", lam, mean,
               var, chi, df, crit);
    }
    /* 0 and negative rates give 0; a pure function of its arguments */
    CHECK(sbs_poisson_draw(0.0, 1, 2, 3, 4) == 0 && sbs_poisson_draw(-1.0, 1, 2, 3, 4) == 0,
          "zero rate");
    CHECK(sbs_poisson_draw(50.0, 1, 2, 3, 4) == sbs_poisson_draw(50.0, 1, 2, 3, 4), "pure");
    free(k);
    return 0;
}

/* forward B images through a net, optionally split in two batches, with th threads */
static int run_forward(const sbs_test_layer *ls, int nl, int n_out, int C, int H, int W,
                       const float *x, int B, int split, int th, uint32_t pass, float *out,
                       size_t out_per)
{
    static sbs_config cfg;
    sbs_net net;
    if (sbs_test_net(&cfg, &net, ls, nl, n_out, C, H, W, DEFAULT_SPIKES, NULL) != 0) return -1;
    sbs_backend *be = sbs_test_bind(&net, th, B, NULL);
    size_t in_per = (size_t)C * H * W;
    for (int b0 = 0; b0 < B; b0 += split) {
        int nb = B - b0 < split ? B - b0 : split;
        sbs_spike_key key = {99, pass, (uint32_t)(1000 + b0)};
        sbs_net_forward(&net, x + b0 * in_per, nb, &key);
        memcpy(out + b0 * out_per, net.act[1], nb * out_per * sizeof(float));
    }
    sbs_test_free(&net, be, NULL);
    return 0;
}

static int test_invariance(int kind, const char *what)
{
    /* layer -> AVERAGE POOLING over the whole image, so the plan ends in n_out x 1 x 1 */
    const int C = 3, H = 5, W = 4, B = 7;
    sbs_test_layer ls[] = {{.kind = kind, .spikes = 300},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {H, W}}};
    size_t per = (size_t)C * H * W;
    float *x = malloc(B * per * 4), *ref = malloc(B * per * 4), *o = malloc(B * per * 4);
    sbs_test_fill(x, B * per, 11, 0.0f, 1.0f);
    for (size_t i = 0; i < per; i++) x[per + i] = 0.0f; /* image 1 is blank */
    CHECK(run_forward(ls, 2, C, C, H, W, x, B, B, 1, 4, ref, per) == 0, "plan");
    const int cfgs[][2] = {{B, 2}, {B, 3}, {3, 1}, {1, 2}, {4, 3}};
    for (size_t c = 0; c < sizeof cfgs / sizeof *cfgs; c++) {
        run_forward(ls, 2, C, C, H, W, x, B, cfgs[c][0], cfgs[c][1], 4, o, per);
        CHECK(!memcmp(ref, o, B * per * 4), "%s: batch split %d, %d threads differ", what,
              cfgs[c][0], cfgs[c][1]);
    }
    run_forward(ls, 2, C, C, H, W, x, B, B, 1, 5, o, per);
    CHECK(memcmp(ref, o, B * per * 4) != 0, "%s: another pass gives the same output", what);
    free(x); free(ref); free(o);
    return 0;
}

static int test_poisson_invariance(void) { return test_invariance(SBS_L_POISSON, "POISSON"); }
static int test_ispk_invariance(void)
{
    return test_invariance(SBS_L_INPUT_SPIKE_IMAGE, "INPUT SPIKE IMAGE");
}

static int test_poisson_layer(void)
{
    const int C = 2, H = 3, W = 4, B = 400, T = 500;
    size_t per = (size_t)C * H * W;
    sbs_test_layer ls[] = {{.kind = SBS_L_POISSON, .spikes = T},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {H, W}}};
    float *x = malloc(B * per * 4), *o = malloc(B * per * 4);
    float img[24];
    sbs_test_fill(img, per, 21, 0.0f, 1.0f);
    img[3] = 0.0f;
    img[7] = 2.0f; /* the maximum: rate T */
    for (int b = 0; b < B; b++) memcpy(x + b * per, img, per * 4);
    for (size_t i = 0; i < per; i++) x[i] = 0.0f; /* image 0 blank: all zeros out */
    CHECK(run_forward(ls, 2, C, C, H, W, x, B, B, 2, 0, o, per) == 0, "plan");
    double sx = 0;
    for (size_t i = 0; i < per; i++) sx += img[i];
    double *mean = calloc(per, sizeof *mean);
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (size_t i = 0; i < per; i++) {
            float v = o[b * per + i];
            CHECK(v >= 0.0f && isfinite(v), "image %d out[%zu] = %g", b, i, v);
            s += v;
            if (b > 0) mean[i] += v / (B - 1);
        }
        if (b == 0) CHECK(s == 0.0, "blank image: sum %g", s);
        else CHECK(fabs(s - 1.0) < 1e-5, "image %d sums to %.8f", b, s);
        if (b > 0) CHECK(o[b * per + 3] == 0.0f, "a zero pixel spiked");
    }
    /* E[c_i / sum c] ~ x_i / sum x (ratio of sums with ~T*sum(x)/max counts) */
    for (size_t i = 0; i < per; i++) {
        double want = img[i] / sx;
        CHECK(fabs(mean[i] - want) < 0.05 * want + 2e-4, "pixel %zu: mean %g, want %g", i,
              mean[i], want);
    }
    free(mean);
    /* identity gradient */
    static sbs_config cfg;
    sbs_net net;
    CHECK(sbs_test_net(&cfg, &net, ls, 2, C, C, H, W, DEFAULT_SPIKES, NULL) == 0, "plan");
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 1, 3, &s);
    sbs_test_fill(s.gact[1], 3 * per, 5, -1.0f, 1.0f);
    memset(s.gact[0], 0xff, 3 * per * 4);
    net.L[0].ops->backward(&s, &net.L[0], 3, true, false);
    CHECK(!memcmp(s.gact[0], s.gact[1], 3 * per * 4), "POISSON gradient is not the identity");
    sbs_grad_free(&s);
    sbs_net_free(&net);
    /* number_of_spikes must be positive (plan error) */
    sbs_test_layer bad[] = {{.kind = SBS_L_POISSON, .spikes = -3},
                            {.kind = SBS_L_AVERAGE_POOLING, .k = {H, W}}};
    sbs_err e;
    CHECK(sbs_test_net(&cfg, &net, bad, 2, C, C, H, W, DEFAULT_SPIKES, &e) != 0,
          "POISSON with -3 spikes accepted");
    printf("    %s\n", e.msg);
    be->destroy(be);
    free(x); free(o);
    return 0;
}

/* ---------------- INPUT SPIKE IMAGE ---------------- */

static int test_ispk(void)
{
    const int C = 2, H = 4, W = 5, T = 200000;
    size_t per = (size_t)C * H * W;
    sbs_test_layer ls[] = {{.kind = SBS_L_INPUT_SPIKE_IMAGE, .spikes = T},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {H, W}}};
    float x[2 * 40], o[2 * 40];
    sbs_test_fill(x, per, 31, 0.0f, 1.0f);
    x[5] = 0.0f;
    x[17] = 0.0f;
    x[20] = 3.0f;
    for (size_t i = 0; i < per; i++) x[per + i] = 0.0f; /* blank: uniform */
    CHECK(run_forward(ls, 2, C, C, H, W, x, 2, 2, 2, 0, o, per) == 0, "plan");
    for (int b = 0; b < 2; b++) {
        double sx = 0, s = 0, chi = 0;
        int df = -1;
        for (size_t i = 0; i < per; i++) sx += x[b * per + i];
        for (size_t i = 0; i < per; i++) {
            double v = o[b * per + i];
            s += v;
            double cnt = v * T / per; /* the histogram back in counts */
            CHECK(fabs(cnt - floor(cnt + 0.5)) < 1e-3 * (1 + cnt), "pixel %zu: count %g", i, cnt);
            double p = sx > 0 ? x[b * per + i] / sx : 1.0 / per;
            if (p == 0) {
                CHECK(v == 0, "a zero pixel spiked (%g)", v);
                continue;
            }
            chi += (cnt - T * p) * (cnt - T * p) / (T * p);
            df++;
        }
        CHECK(fabs(s - (double)per) < 1e-4 * per, "image %d: histogram sums to %g, want %zu", b,
              s, per);
        double crit = chi2_crit(df, 3.7);
        CHECK(chi < crit, "image %d: chi-square %.1f, df %d, critical %.1f", b, chi, df, crit);
        printf("    image %d (%s): sum %.4f, chi2 %.1f (df %d, crit %.1f)\n", b,
               b ? "blank, uniform" : "random", s, chi, df, crit);
    }
    /* identity gradient */
    static sbs_config cfg;
    sbs_net net;
    CHECK(sbs_test_net(&cfg, &net, ls, 2, C, C, H, W, DEFAULT_SPIKES, NULL) == 0, "plan");
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, 2, &s);
    sbs_test_fill(s.gact[1], 2 * per, 6, -1.0f, 1.0f);
    net.L[0].ops->backward(&s, &net.L[0], 2, true, false);
    CHECK(!memcmp(s.gact[0], s.gact[1], 2 * per * 4), "gradient is not the identity");
    CHECK(sbs_net_spikes_per_image(&net) == 0, "counted as SbS spike updates");
    sbs_test_free(&net, be, &s);
    return 0;
}

/* ---------------- APPROX CONV2D ---------------- */

/* input with zeros, negatives, tiny and denormal values */
static void approx_input(float *x, size_t n)
{
    sbs_test_fill(x, n, 41, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i += 7) x[i] = 0.0f;
    for (size_t i = 3; i < n; i += 11) x[i] *= 1e-40f; /* denormal */
    for (size_t i = 5; i < n; i += 13) x[i] = -x[i] * 1e6f;
}

/* forward one APPROX CONV2D (or CONV2D) layer with fixed weights; out (B, O, X, Y) */
static int approx_forward(int kind, int frac, int trunc, bool enable, const float *x, int B,
                          int th, float *out, sbs_net *keep_net, sbs_config *keep_cfg)
{
    static sbs_config cfg0;
    sbs_config *cfg = keep_cfg ? keep_cfg : &cfg0;
    sbs_net net0, *net = keep_net ? keep_net : &net0;
    sbs_test_layer ls[] = {{.kind = kind, .in = 3, .out = 5, .k = {3, 2}, .s = {2, 1}, .d = {1, 2},
                            .p = {1, 1}, .frac = frac, .trunc = trunc, .approx = enable},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {4, 6}}};
    if (sbs_test_net(cfg, net, ls, 2, 5, 3, 7, 6, DEFAULT_SPIKES, NULL) != 0) return -1;
    sbs_test_fill(net->L[0].weight, net->L[0].n_w, 51, -1.0f, 1.0f);
    net->L[0].weight[4] = 0.0f;
    net->L[0].weight[9] = -3e-39f;
    sbs_test_fill(net->L[0].bias, net->L[0].n_b, 52, -0.5f, 0.5f);
    sbs_backend *be = sbs_test_bind(net, th, B, NULL);
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(net, x, B, &key);
    const sbs_layer *L = &net->L[0];
    memcpy(out, net->act[1], (size_t)B * L->N * L->X * L->Y * 4);
    if (!keep_net) {
        sbs_test_free(net, be, NULL);
    }
    return 0;
}

/* naive: y[o,m] = sum_i sbs_approx_mul(w[o,i], col[m,i]) (float, in order, from +0) + bias */
static void approx_naive(const sbs_layer *L, const float *x, int B, const sbs_approx_cfg *ac,
                         float *out)
{
    const sbs_geom *g = &L->g;
    int M = g->X * g->Y, K = g->K;
    float *col = malloc((size_t)K * 4);
    for (int b = 0; b < B; b++)
        for (int o = 0; o < L->N; o++)
            for (int m = 0; m < M; m++) {
                sbs_patch_gather(g, x + (size_t)b * g->C * g->H * g->W, m / g->Y, m % g->Y, col);
                float s = 0.0f;
                for (int i = 0; i < K; i++)
                    s += sbs_approx_mul(L->weight[(size_t)o * K + i], col[i], ac);
                out[((size_t)b * L->N + o) * M + m] = s + L->bias[o];
            }
    free(col);
}

static int test_approx_exact(void)
{
    const int B = 3;
    size_t nx = (size_t)B * 3 * 7 * 6, ny = (size_t)B * 5 * 4 * 6;
    float *x = malloc(nx * 4), *conv = malloc(ny * 4), *ap = malloc(ny * 4), *nv = malloc(ny * 4);
    approx_input(x, nx);
    CHECK(approx_forward(SBS_L_CONV2D, 0, 0, false, x, B, 1, conv, NULL, NULL) == 0, "plan");
    /* exact settings: unset, 24 bits, the CNN_Approx configs' 30 bits with 1 truncated column */
    const int set[][3] = {{0, 0, 0}, {24, 0, 1}, {30, 1, 1}, {32, 4, 1}};
    for (size_t k = 0; k < sizeof set / sizeof *set; k++) {
        static sbs_config cfg;
        sbs_net net;
        CHECK(approx_forward(SBS_L_APPROX_CONV2D, set[k][0], set[k][1], set[k][2], x, B, 2, ap,
                             &net, &cfg) == 0, "plan");
        sbs_approx_cfg ac = sbs_approx_cfg_make(set[k][2], set[k][1], set[k][0]);
        approx_naive(&net.L[0], x, B, &ac, nv);
        double worst = 0, mx = 0;
        for (size_t i = 0; i < ny; i++) {
            worst = fmax(worst, fabs((double)ap[i] - conv[i]));
            worst = fmax(worst, fabs((double)nv[i] - conv[i]));
            mx = fmax(mx, fabs(conv[i]));
        }
        CHECK(worst <= 1e-5 * mx, "frac %d trunc %d: differs from CONV2D by %g (max %g)",
              set[k][0], set[k][1], worst, mx);
        sbs_test_free(&net, net.be, NULL); /* the backend approx_forward made */
    }
    /* the multiplier is the IEEE product for these settings (why the sgemm path is allowed) */
    sbs_stream st;
    sbs_stream_init(&st, 5, SBS_RNG_INIT, 60, 0);
    const int ex[][2] = {{30, 1}, {24, 0}, {32, 16}, {25, 2}};
    for (size_t k = 0; k < sizeof ex / sizeof *ex; k++) {
        sbs_approx_cfg ac = sbs_approx_cfg_make(true, ex[k][1], ex[k][0]);
        for (int i = 0; i < 100000; i++) {
            uint32_t ua = sbs_stream_u32(&st), ub = sbs_stream_u32(&st);
            if (((ua >> 23) & 0xff) == 0xff || ((ub >> 23) & 0xff) == 0xff) continue;
            float a, b;
            memcpy(&a, &ua, 4);
            memcpy(&b, &ub, 4);
            float r = sbs_approx_mul(a, b, &ac), p = a * b;
            CHECK(!memcmp(&r, &p, 4), "frac %d trunc %d: %a * %a = %a, IEEE %a", ex[k][0],
                  ex[k][1], a, b, r, p);
        }
    }
    free(x); free(conv); free(ap); free(nv);
    return 0;
}

static int test_approx_naive(void)
{
    const int B = 3;
    size_t nx = (size_t)B * 3 * 7 * 6, ny = (size_t)B * 5 * 4 * 6;
    float *x = malloc(nx * 4), *ap = malloc(ny * 4), *nv = malloc(ny * 4), *ap2 = malloc(ny * 4);
    approx_input(x, nx);
    const int set[][3] = {{4, 0, 0}, {4, 3, 1}, {4, 8, 1}, {1, 0, 0}, {1, 1, 1}, {8, 5, 1},
                          {12, 8, 1}, {23, 20, 1}, {24, 6, 1}, {28, 12, 1}, {16, 40, 1}};
    for (int inf = 0; inf < 2; inf++) {
        if (inf) { /* a non-finite input takes the plain sbs_approx_dot path */
            x[20] = INFINITY;
            x[nx - 5] = NAN;
        }
        for (size_t k = 0; k < sizeof set / sizeof *set; k++) {
            static sbs_config cfg;
            sbs_net net;
            CHECK(approx_forward(SBS_L_APPROX_CONV2D, set[k][0], set[k][1], set[k][2], x, B, 2,
                                 ap, &net, &cfg) == 0, "plan");
            sbs_approx_cfg ac = sbs_approx_cfg_make(set[k][2], set[k][1], set[k][0]);
            approx_naive(&net.L[0], x, B, &ac, nv);
            for (size_t i = 0; i < ny; i++)
                CHECK(!memcmp(&ap[i], &nv[i], 4) || (isnan(ap[i]) && isnan(nv[i])),
                      "frac %d trunc %d%s: out[%zu] = %a, naive %a", set[k][0], set[k][1],
                      inf ? " (inf/NaN input)" : "", i, ap[i], nv[i]);
            sbs_test_free(&net, net.be, NULL); /* the backend approx_forward made */
            /* 1 vs 3 threads, batch of 3 vs 1 image: bitwise */
            CHECK(approx_forward(SBS_L_APPROX_CONV2D, set[k][0], set[k][1], set[k][2], x, B, 3,
                                 ap2, NULL, NULL) == 0, "plan");
            CHECK(!memcmp(ap, ap2, ny * 4) || inf, "threads change the output");
        }
    }
    /* frac 4 really approximates: not the conv result */
    float *conv = malloc(ny * 4);
    x[20] = 0.5f;
    x[nx - 5] = 0.25f;
    approx_forward(SBS_L_CONV2D, 0, 0, false, x, B, 1, conv, NULL, NULL);
    approx_forward(SBS_L_APPROX_CONV2D, 4, 0, false, x, B, 1, ap, NULL, NULL);
    double d = 0, mx = 0;
    for (size_t i = 0; i < ny; i++) {
        d = fmax(d, fabs((double)ap[i] - conv[i]));
        mx = fmax(mx, fabs(conv[i]));
    }
    CHECK(d > 1e-3 * mx && d < 0.5 * mx, "frac 4: max deviation %g of %g", d, mx);
    printf("    frac 4: max deviation from CONV2D %.3g (max |y| %.3g)\n", d, mx);
    free(x); free(ap); free(ap2); free(nv); free(conv);
    return 0;
}

static int test_approx_grad(void)
{
    const int B = 2;
    size_t nx = (size_t)B * 3 * 7 * 6;
    float *x = malloc(nx * 4);
    approx_input(x, nx);
    float *gw[2], *gb[2], *dx[2];
    static sbs_config cfg[2];
    sbs_net net[2];
    sbs_trainer_state s[2];
    float dummy[2 * 5 * 24];
    for (int v = 0; v < 2; v++) {
        CHECK(approx_forward(v ? SBS_L_APPROX_CONV2D : SBS_L_CONV2D, 4, 3, true, x, B, 2, dummy,
                             &net[v], &cfg[v]) == 0, "plan");
        sbs_grad_init(&s[v], &net[v]);
        sbs_test_fill(s[v].gact[net[v].n], (size_t)B * 5, 8, -1.0f, 1.0f);
        sbs_net_backward(&s[v], B);
        net[v].L[0].ops->backward(&s[v], &net[v].L[0], B, true, false);
        gw[v] = s[v].G[0].gW;
        gb[v] = s[v].G[0].gB;
        dx[v] = s[v].gact[0];
    }
    const sbs_layer *L = &net[1].L[0];
    CHECK(!memcmp(gw[0], gw[1], L->n_w * 4), "weight gradient differs from CONV2D");
    CHECK(!memcmp(gb[0], gb[1], L->n_b * 4), "bias gradient differs from CONV2D");
    CHECK(!memcmp(dx[0], dx[1], nx * 4), "input gradient differs from CONV2D");
    /* and the exact conv gradient in double, from the upstream gradient gy = gact[1] */
    const sbs_geom *g = &L->g;
    int M = g->X * g->Y, K = g->K, O = L->N;
    double *rw = calloc(L->n_w, 8), *rb = calloc(O, 8), *rx = calloc(nx, 8);
    float *col = malloc(K * 4);
    size_t in_per = (size_t)g->C * g->H * g->W;
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            int ox = m / g->Y, oy = m % g->Y;
            sbs_patch_gather(g, x + b * in_per, ox, oy, col);
            for (int o = 0; o < O; o++) {
                double gy = s[1].gact[1][((size_t)b * O + o) * M + m];
                rb[o] += gy;
                for (int i = 0; i < K; i++) rw[(size_t)o * K + i] += gy * col[i];
                for (int c = 0, i = 0; c < g->C; c++)
                    for (int u = 0; u < g->kx; u++)
                        for (int v = 0; v < g->ky; v++, i++) {
                            int r = ox * g->sx - g->px + u * g->dx, q = oy * g->sy - g->py + v * g->dy;
                            if (r < 0 || r >= g->H || q < 0 || q >= g->W) continue;
                            rx[b * in_per + ((size_t)c * g->H + r) * g->W + q] +=
                                gy * L->weight[(size_t)o * K + i];
                        }
            }
        }
    double worst = 0;
    for (size_t i = 0; i < L->n_w; i++) worst = fmax(worst, fabs(rw[i] - gw[1][i]) / (1 + fabs(rw[i])));
    for (int o = 0; o < O; o++) worst = fmax(worst, fabs(rb[o] - gb[1][o]) / (1 + fabs(rb[o])));
    for (size_t i = 0; i < nx; i++) worst = fmax(worst, fabs(rx[i] - dx[1][i]) / (1 + fabs(rx[i])));
    CHECK(worst < 1e-5, "gradient vs double exact conv gradient: %g", worst);
    printf("    straight-through gradient == CONV2D's (bitwise); vs double: %.2g\n", worst);
    /* weights saved and loaded like CONV2D: Weight_L0_S7.npy (O,C,kx,ky), Bias_L0_S7.npy (O,) */
    char dir[] = "/tmp/sbs_layers_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    sbs_err e;
    CHECK(sbs_net_save_weights(&net[1], dir, 7, &e) == 0, "save: %s", e.msg);
    float *w0 = malloc(L->n_w * 4), *b0 = malloc(L->n_b * 4);
    memcpy(w0, L->weight, L->n_w * 4);
    memcpy(b0, L->bias, L->n_b * 4);
    memset(L->weight, 0, L->n_w * 4);
    memset(L->bias, 0, L->n_b * 4);
    CHECK(sbs_net_load_weights(&net[1], dir, true, &e) == 1, "load: %s", e.msg);
    CHECK(!memcmp(w0, L->weight, L->n_w * 4) && !memcmp(b0, L->bias, L->n_b * 4), "round trip");
    char path[512];
    snprintf(path, sizeof path, "%s/Weight_L0_S7.npy", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/Bias_L0_S7.npy", dir);
    unlink(path);
    rmdir(dir);
    for (int v = 0; v < 2; v++) sbs_test_free(&net[v], net[v].be, &s[v]);
    free(x); free(rw); free(rb); free(rx); free(col); free(w0); free(b0);
    return 0;
}

/* ---------------- configs ---------------- */

static int plan_config(const char *rel, int C, int H, int W, const char *must_have)
{
    const char *root = getenv("SBS_SOURCE_ROOT");
    char dir[4096], net[4096], ds[4096], def[4096];
    snprintf(dir, sizeof dir, "%s/%s", root ? root : ".", rel);
    static sbs_config cfg;
    sbs_err e;
    CHECK(sbs_config_paths(dir, NULL, NULL, net, ds, def, &e) == 0, "%s", e.msg);
    CHECK(sbs_config_load(&cfg, net, ds, def, NULL, 0, &e) == 0, "%s", e.msg);
    sbs_net n;
    CHECK(sbs_net_plan(&n, &cfg, C, H, W, &e) == 0, "%s: %s", rel, e.msg);
    bool found = false;
    for (int l = 0; l < n.n; l++)
        found |= !strcmp(sbs_layer_kind_name(n.L[l].kind), must_have);
    CHECK(found, "%s has no %s layer", rel, must_have);
    sbs_net_free(&n);
    return 0;
}

static int test_configs(void)
{
    if (plan_config("configs/FASHION_MNIST/CNN_Approx", 1, 24, 24, "APPROX CONV2D")) return 1;
    if (plan_config("configs/MNIST/CNN_Approx", 1, 24, 24, "APPROX CONV2D")) return 1;
    if (plan_config("configs/CIFAR10/CNN_Approx", 3, 28, 28, "APPROX CONV2D")) return 1;
    if (plan_config("configs/examples/ONOFF", 1, 24, 24, "ONOFF")) return 1;
    if (plan_config("configs/examples/POISSON", 1, 24, 24, "POISSON")) return 1;
    if (plan_config("configs/examples/INPUT_SPIKE_IMAGE", 1, 24, 24, "INPUT SPIKE IMAGE"))
        return 1;
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"ONOFF values and shape check", test_onoff_values},
        {"ONOFF gradient by finite differences", test_onoff_grad},
        {"Poisson sampler: mean, variance, chi-square (fixed seed)", test_poisson_sampler},
        {"POISSON layer: normalisation, rates, identity gradient", test_poisson_layer},
        {"POISSON bitwise invariant to threads and batch split", test_poisson_invariance},
        {"INPUT SPIKE IMAGE: histogram sum, frequencies (chi-square), gradient", test_ispk},
        {"INPUT SPIKE IMAGE bitwise invariant to threads and batch split", test_ispk_invariance},
        {"APPROX CONV2D with exact settings == CONV2D", test_approx_exact},
        {"APPROX CONV2D == naive sbs_approx_mul loop (bitwise)", test_approx_naive},
        {"APPROX CONV2D straight-through gradient, weight files", test_approx_grad},
        {"CNN_Approx configs and examples load and plan", test_configs},
    };
    return SBS_TEST_RUN(cases);
}
