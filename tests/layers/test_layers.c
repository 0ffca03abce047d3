/* test_layers.c — the statistics of the spike layers (SPEC §1.5), beside the backend harness
 * (tests/backend/test_backend_ops.c, which checks their outputs bitwise against a re-draw of
 * the same spikes, their gradients and invariance on every backend): the Poisson sampler's
 * mean, variance and distribution (chi-square, fixed seed) from inversion and PTRS rates; a
 * POISSON layer's normalisation and mean rates; INPUT SPIKE IMAGE's histogram sum and spike
 * frequencies (chi-square, a blank image sampled uniformly). One line per case; exit 1 on
 * failure. */
#include "sbs_test.h"

/* the spikes of a layer in these nets that sets no .spikes of its own */
enum { DEFAULT_SPIKES = 64 };

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
        double crit = sbs_test_chi2_crit(df, 3.7); /* p ~ 1e-4 */
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

/* forward B images through a net on the CPU backend (2 threads); out gets layer 0's output */
static int run_forward(const sbs_test_layer *ls, int nl, int n_out, int C, int H, int W,
                       const float *x, int B, uint32_t pass, float *out, size_t out_per)
{
    static sbs_config cfg;
    sbs_net net;
    if (sbs_test_net(&cfg, &net, ls, nl, n_out, C, H, W, DEFAULT_SPIKES, NULL) != 0) return -1;
    sbs_backend *be = sbs_test_cpu(2, "auto");
    sbs_test_bound t;
    int r = sbs_test_bind(&t, &net, be, B, NULL);
    if (r == 0) {
        sbs_spike_key key = {99, pass, 1000};
        sbs_exec_forward(&t.x, x, B, &key);
        be->download(be, out, t.x.act[1], (size_t)B * out_per * sizeof(float));
        sbs_test_unbind(&t);
    }
    sbs_net_free(&net);
    sbs_backend_destroy(be);
    return r;
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
    CHECK(run_forward(ls, 2, C, C, H, W, x, B, 0, o, per) == 0, "plan");
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
        if (b == 0)
            CHECK(s == 0.0, "blank image: sum %g", s);
        else
            CHECK(fabs(s - 1.0) < 1e-5, "image %d sums to %.8f", b, s);
        if (b > 0) CHECK(o[b * per + 3] == 0.0f, "a zero pixel spiked");
    }
    /* E[c_i / sum c] ~ x_i / sum x (ratio of sums with ~T*sum(x)/max counts) */
    for (size_t i = 0; i < per; i++) {
        double want = img[i] / sx;
        CHECK(fabs(mean[i] - want) < 0.05 * want + 2e-4, "pixel %zu: mean %g, want %g", i, mean[i],
              want);
    }
    free(mean);
    free(x);
    free(o);
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
    CHECK(run_forward(ls, 2, C, C, H, W, x, 2, 0, o, per) == 0, "plan");
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
        CHECK(fabs(s - (double)per) < 1e-4 * per, "image %d: histogram sums to %g, want %zu", b, s,
              per);
        double crit = sbs_test_chi2_crit(df, 3.7);
        CHECK(chi < crit, "image %d: chi-square %.1f, df %d, critical %.1f", b, chi, df, crit);
        printf("    image %d (%s): sum %.4f, chi2 %.1f (df %d, crit %.1f)\n", b,
               b ? "blank, uniform" : "random", s, chi, df, crit);
    }
    /* not counted as SbS spike updates */
    static sbs_config cfg;
    sbs_net net;
    CHECK(sbs_test_net(&cfg, &net, ls, 2, C, C, H, W, DEFAULT_SPIKES, NULL) == 0, "plan");
    CHECK(sbs_net_spikes_per_image(&net) == 0, "counted as SbS spike updates");
    sbs_net_free(&net);
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"Poisson sampler: mean, variance, chi-square (fixed seed)", test_poisson_sampler},
        {"POISSON layer: normalisation, mean rates", test_poisson_layer},
        {"INPUT SPIKE IMAGE: histogram sum, frequencies (chi-square)", test_ispk},
    };
    return SBS_TEST_RUN(cases);
}
