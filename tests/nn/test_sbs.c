/* test_sbs.c — the SbS engine against its oracle and against naive loops:
 * fast dynamics (every SIMD level this CPU has) vs the double-precision oracle given identical
 * spikes; the vectorised sampler bitwise vs the portable one; sampler frequencies vs the
 * distribution (chi-square, fixed seed); layer forward vs oracle on odd geometries; patch
 * order; conv/pooling vs naive loops; thread-count and batch-size invariance (bitwise). */
#include "sbs_test.h"

static int test_dynamics_vs_oracle(void)
{
    sbs_stream st;
    sbs_stream_init(&st, 7, SBS_RNG_INIT, 1, 0);
    const int Ns[] = {3, 10, 16, 17, 32, 64, 96};
    const int Ts[] = {1, 5, 64, 100, 1600};
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
            for (int variant = 0; variant < 3; variant++) {
                int N = Ns[ni], T = Ts[ti], K = 7 + (int)ni * 13, ldw = sbs_pad_n(N), P = 5;
                float fo = variant == 1 ? 0.3f : -1.0f;
                int cool = variant == 2 ? T / 2 : -1;
                float *W = sbs_test_rand_weights(&st, K, N, ldw);
                float *eps = malloc((size_t)T * sizeof *eps);
                sbs_eps_table(variant == 2 ? 0.7f : 1.0f, cool, 25.0f, T, eps);
                int32_t *idx = malloc((size_t)P * T * sizeof *idx);
                for (int i = 0; i < P * T; i++) idx[i] = (int32_t)sbs_stream_below(&st, (uint32_t)K);
                float *ref = malloc((size_t)P * N * sizeof *ref);
                for (int p = 0; p < P; p++)
                    sbs_ref_dynamics(W, N, ldw, idx + (size_t)p * T, T, eps, fo, ref + (size_t)p * N);
                float *h = xaligned((size_t)P * ldw * sizeof *h);
                for (int s = 0; s < SBS_TEST_N_SIMD; s++) {
                    const char *simd = sbs_test_simd(s);
                    if (!simd) continue;
                    sbs_cpu_dynamics(simd, W, N, ldw, P, idx, T, eps, fo, h);
                    double worst = 0;
                    for (int p = 0; p < P; p++) {
                        double sum = 0;
                        for (int n = 0; n < N; n++) {
                            double d = fabs((double)h[(size_t)p * ldw + n] - ref[(size_t)p * N + n]);
                            if (d > worst) worst = d;
                            sum += h[(size_t)p * ldw + n];
                        }
                        CHECK(fabs(sum - 1.0) < 1e-5, "%s N=%d T=%d: h sums to %g", simd, N, T,
                              sum);
                    }
                    CHECK(worst < 2e-5, "%s N=%d T=%d fo=%g cool=%d: max |fast - oracle| = %g",
                          simd, N, T, fo, cool, worst);
                }
                free(W); free(eps); free(idx); free(ref); free(h);
            }
    return 0;
}

static int test_sampler_simd_equal(void)
{
    sbs_stream st;
    sbs_stream_init(&st, 9, SBS_RNG_INIT, 2, 0);
    const int Ks[] = {1, 3, 25, 800, 577};
    const int Ts[] = {1, 15, 16, 63, 64, 65, 1600, 1601};
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            int K = Ks[ki], T = Ts[ti];
            float *x = malloc((size_t)K * sizeof *x);
            sbs_test_fill_from(&st, x, (size_t)K, 0.0f, 1.0f);
            if (K > 2) x[1] = 0.0f; /* an impossible index */
            uint32_t *thr = malloc((size_t)K * 4), *al = malloc((size_t)K * 4);
            double *scr = malloc((size_t)3 * K * sizeof *scr);
            sbs_alias_build(x, K, thr, al, scr);
            int32_t *a = malloc((size_t)T * 4), *b = malloc((size_t)T * 4);
            sbs_spikes_draw(thr, al, K, 123456789ull, sbs_spike_tag(3, 17), 5, 9, T, a);
            for (int s = 0; s < SBS_TEST_N_SIMD; s++) {
                const char *simd = sbs_test_simd(s);
                if (!simd) continue;
                memset(b, 0xff, (size_t)T * 4);
                sbs_spikes_draw_fast(simd, thr, al, K, 123456789ull, sbs_spike_tag(3, 17), 5,
                                     9, T, b);
                CHECK(!memcmp(a, b, (size_t)T * 4), "%s K=%d T=%d: spikes differ", simd, K, T);
            }
            for (int t = 0; t < T; t++) {
                CHECK(a[t] >= 0 && a[t] < K, "index %d out of range", a[t]);
                CHECK(!(K > 2 && a[t] == 1), "drew an index with probability 0");
            }
            free(x); free(thr); free(al); free(scr); free(a); free(b);
        }
    return 0;
}

static int test_sampler_frequencies(void)
{
    /* chi-square of 2,000,000 draws against p, K = 25 (24 degrees of freedom): the 0.9999
     * quantile is about 59; a wrong sampler gives thousands. */
    const int K = 25, T = 2000000;
    float x[25];
    double p[25], s = 0;
    for (int i = 0; i < K; i++) {
        x[i] = (float)((i * 7) % 11) + 0.25f + (i == 3 ? 20.0f : 0.0f);
        s += x[i];
    }
    for (int i = 0; i < K; i++) p[i] = x[i] / s;
    uint32_t thr[25], al[25];
    double scr[75];
    sbs_alias_build(x, K, thr, al, scr);
    int32_t *idx = malloc((size_t)T * 4);
    sbs_spikes_draw_fast("auto", thr, al, K, 2024, sbs_spike_tag(0, 0), 0, 0, T, idx);
    long cnt[25] = {0};
    for (int t = 0; t < T; t++) cnt[idx[t]]++;
    double chi = 0;
    for (int i = 0; i < K; i++) {
        double ex = p[i] * T;
        chi += (cnt[i] - ex) * (cnt[i] - ex) / ex;
    }
    free(idx);
    printf("    chi-square %.1f (24 dof)\n", chi);
    CHECK(chi < 59.0, "chi-square %.1f too large", chi);
    /* uniform when the window sums to zero */
    float z[4] = {0, 0, 0, 0};
    uint32_t t4[4], a4[4];
    double s4[12];
    sbs_alias_build(z, 4, t4, a4, s4);
    int32_t id[4000];
    long c4[4] = {0};
    sbs_spikes_draw(t4, a4, 4, 1, 1, 1, 1, 4000, id);
    for (int t = 0; t < 4000; t++) c4[id[t]]++;
    for (int i = 0; i < 4; i++) CHECK(c4[i] > 850 && c4[i] < 1150, "uniform count %ld", c4[i]);
    return 0;
}

static int test_patch_order(void)
{
    /* SPEC §1.1: i = c*kx*ky + u*ky + v, u along rows; zero padding */
    sbs_geom g;
    CHECK(sbs_geom_init(&g, 3, 7, 9, 3, 2, 2, 3, 2, 1, 1, 2) == 0, "geometry");
    CHECK(g.X == sbs_out_size(7, 3, 2, 2, 1) && g.X == 3, "X = %d", g.X);
    CHECK(g.Y == (9 + 4 - 1 * 1 - 1) / 3 + 1, "Y = %d", g.Y);
    float img[3 * 7 * 9];
    for (int i = 0; i < 3 * 7 * 9; i++) img[i] = (float)(i + 1);
    float win[18];
    for (int ox = 0; ox < g.X; ox++)
        for (int oy = 0; oy < g.Y; oy++) {
            sbs_patch_gather(&g, img, ox, oy, win);
            for (int c = 0; c < 3; c++)
                for (int u = 0; u < 3; u++)
                    for (int v = 0; v < 2; v++) {
                        int r = ox * 2 - 1 + u * 2, q = oy * 3 - 2 + v * 1;
                        float want = (r < 0 || r >= 7 || q < 0 || q >= 9) ? 0.0f
                                                                          : img[(c * 7 + r) * 9 + q];
                        CHECK(win[c * 6 + u * 2 + v] == want, "(%d,%d) c%d u%d v%d", ox, oy, c, u, v);
                    }
        }
    CHECK(sbs_out_size(4, 5, 1, 1, 0) <= 0, "window larger than input must not fit");
    return 0;
}

static int test_layer_vs_oracle(void)
{
    struct { int C, H, W, kx, ky, sx, sy, dx, dy, px, py, N, T, B; } cases[] = {
        {1, 8, 8, 5, 5, 1, 1, 1, 1, 0, 0, 32, 200, 2},
        {3, 9, 7, 3, 2, 2, 1, 1, 2, 1, 0, 10, 150, 3},
        {2, 6, 11, 2, 3, 1, 2, 2, 1, 2, 1, 17, 99, 2},
        {4, 5, 5, 5, 5, 1, 1, 1, 1, 0, 0, 96, 400, 5},
        {5, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 3, 64, 9},
    };
    sbs_stream st;
    sbs_stream_init(&st, 11, SBS_RNG_INIT, 3, 0);
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        sbs_layer_args a = {0};
        CHECK(sbs_geom_init(&a.g, cases[ci].C, cases[ci].H, cases[ci].W, cases[ci].kx, cases[ci].ky,
                            cases[ci].sx, cases[ci].sy, cases[ci].dx, cases[ci].dy, cases[ci].px,
                            cases[ci].py) == 0, "case %zu geometry", ci);
        int B = cases[ci].B, N = cases[ci].N;
        a.N = N;
        a.ldw = sbs_pad_n(N);
        a.T = cases[ci].T;
        a.layer = (int)ci;
        a.forgetting_offset = ci == 2 ? 0.5f : -1.0f;
        float *W = sbs_test_rand_weights(&st, a.g.K, N, a.ldw);
        a.W = W;
        float *eps = malloc((size_t)a.T * sizeof *eps);
        sbs_eps_table(1.0f, -1, 25.0f, a.T, eps);
        a.eps = eps;
        size_t nx = (size_t)B * a.g.C * a.g.H * a.g.W, nh = (size_t)B * N * a.g.X * a.g.Y;
        float *x = malloc(nx * sizeof *x), *h1 = malloc(nh * 4), *h2 = malloc(nh * 4);
        sbs_test_fill_from(&st, x, nx, 0.0f, 1.0f);
        for (size_t i = 0; i < nx; i += 5) x[i] = 0.0f;
        sbs_spike_key key = {.seed = 99, .pass = 3, .first_sample = 40};
        sbs_ref_forward(&a, x, B, &key, h1);
        for (int s = 0; s < SBS_TEST_N_SIMD; s++) {
            const char *simd = sbs_test_simd(s);
            if (!simd) continue;
            for (int th = 1; th <= 3; th++) {
                sbs_test_backend_forward(simd, th, &a, x, B, &key, h2);
                double worst = 0;
                for (size_t i = 0; i < nh; i++) worst = fmax(worst, fabs((double)h1[i] - h2[i]));
                CHECK(worst < 2e-5, "case %zu %s threads %d: max diff %g", ci, simd, th, worst);
            }
        }
        free(W); free(eps); free(x); free(h1); free(h2);
    }
    return 0;
}

static int test_conv_pool_naive(void)
{
    sbs_stream st;
    sbs_stream_init(&st, 13, SBS_RNG_INIT, 4, 0);
    sbs_geom g;
    CHECK(sbs_geom_init(&g, 3, 9, 8, 3, 2, 2, 1, 1, 2, 1, 1) == 0, "geometry");
    int O = 5;
    float x[3 * 9 * 8], W[5 * 3 * 3 * 2], bias[5];
    sbs_test_fill_from(&st, x, sizeof x / 4, -1, 1);
    sbs_test_fill_from(&st, W, sizeof W / 4, -1, 1);
    sbs_test_fill_from(&st, bias, 5, -1, 1);
    float *y = malloc((size_t)O * g.X * g.Y * 4), *cols = malloc((size_t)g.K * g.X * g.Y * 4);
    sbs_conv2d_forward_img(&g, O, W, bias, x, y, cols);
    for (int o = 0; o < O; o++)
        for (int ox = 0; ox < g.X; ox++)
            for (int oy = 0; oy < g.Y; oy++) {
                double s = bias[o];
                for (int c = 0; c < 3; c++)
                    for (int u = 0; u < 3; u++)
                        for (int v = 0; v < 2; v++) {
                            int r = ox * 2 - 1 + u * 1, q = oy * 1 - 1 + v * 2;
                            if (r < 0 || r >= 9 || q < 0 || q >= 8) continue;
                            s += (double)W[((o * 3 + c) * 3 + u) * 2 + v] * x[(c * 9 + r) * 8 + q];
                        }
                float got = y[(o * g.X + ox) * g.Y + oy];
                CHECK(fabs(got - s) < 1e-5, "conv o%d (%d,%d): %g vs %g", o, ox, oy, got, s);
            }
    /* pooling 2x2 stride 2 with padding 1 */
    sbs_geom pg;
    CHECK(sbs_geom_init(&pg, 3, 9, 8, 2, 2, 2, 2, 1, 1, 1, 1) == 0, "pool geometry");
    float *py = malloc((size_t)3 * pg.X * pg.Y * 4);
    for (int is_max = 0; is_max < 2; is_max++) {
        sbs_pool_forward_img(&pg, is_max, x, py);
        for (int c = 0; c < 3; c++)
            for (int ox = 0; ox < pg.X; ox++)
                for (int oy = 0; oy < pg.Y; oy++) {
                    double acc = is_max ? -1e30 : 0;
                    for (int u = 0; u < 2; u++)
                        for (int v = 0; v < 2; v++) {
                            int r = ox * 2 - 1 + u, q = oy * 2 - 1 + v;
                            if (r < 0 || r >= 9 || q < 0 || q >= 8) continue;
                            double val = x[(c * 9 + r) * 8 + q];
                            acc = is_max ? fmax(acc, val) : acc + val;
                        }
                    if (!is_max) acc /= 4;
                    float got = py[(c * pg.X + ox) * pg.Y + oy];
                    CHECK(fabs(got - acc) < 1e-6, "%s pool c%d (%d,%d)", is_max ? "max" : "avg", c, ox, oy);
                }
    }
    free(y); free(cols); free(py);
    return 0;
}

/* a small net: SbS 5x5 -> avg pool -> SbS 3x3 -> SbS 1x1 (10 classes) on 1x14x14 */
static int small_net(sbs_config *cfg, sbs_net *net)
{
    static const sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 1, .out = 12, .k = {5, 5}},
                                        {.kind = SBS_L_AVERAGE_POOLING, .in = 12, .out = 12,
                                         .k = {2, 2}, .s = {2, 2}},
                                        {.kind = SBS_L_SBS, .in = 12, .out = 16, .k = {5, 5}},
                                        {.kind = SBS_L_SBS, .in = 16, .out = 10, .k = {1, 1}}};
    sbs_test_config(cfg, ls, 4, 10, 300);
    cfg->learn.weight_noise_range[1] = 1.1f;
    return sbs_test_plan(cfg, net, 1, 14, 14, 5, NULL);
}

static int test_invariance(void)
{
    static sbs_config cfg;
    sbs_net net;
    CHECK(small_net(&cfg, &net) == 0, "plan");
    const int B = 11;
    size_t img = 14 * 14;
    float *x = malloc(B * img * 4);
    sbs_stream st;
    sbs_stream_init(&st, 17, SBS_RNG_INIT, 5, 0);
    sbs_test_fill_from(&st, x, B * img, 0, 1);
    float *ref = malloc((size_t)B * 10 * 4);
    for (int th = 1; th <= 3; th++) {
        sbs_backend *be = sbs_test_bind(&net, th, B, NULL);
        /* whole batch */
        sbs_spike_key key = {.seed = 3, .pass = 1, .first_sample = 100};
        sbs_net_forward(&net, x, B, &key);
        float *out = malloc((size_t)B * 10 * 4);
        memcpy(out, sbs_net_output(&net), (size_t)B * 10 * 4);
        if (th == 1) memcpy(ref, out, (size_t)B * 10 * 4);
        CHECK(!memcmp(ref, out, (size_t)B * 10 * 4), "threads %d differ from 1 thread", th);
        /* split into batches of 1, 4 and the rest */
        int splits[3] = {1, 4, B - 5};
        int first = 0;
        for (int sidx = 0; sidx < 3; sidx++) {
            sbs_spike_key k2 = {.seed = 3, .pass = 1, .first_sample = 100 + (uint32_t)first};
            sbs_net_forward(&net, x + first * img, splits[sidx], &k2);
            CHECK(!memcmp(sbs_net_output(&net), ref + first * 10, (size_t)splits[sidx] * 40),
                  "batch split at %d (threads %d) differs", first, th);
            first += splits[sidx];
        }
        /* another seed gives other outputs */
        sbs_spike_key k3 = {.seed = 4, .pass = 1, .first_sample = 100};
        sbs_net_forward(&net, x, B, &k3);
        CHECK(memcmp(sbs_net_output(&net), ref, (size_t)B * 40) != 0, "seed has no effect");
        free(out);
        sbs_net_free(&net);
        CHECK(small_net(&cfg, &net) == 0, "plan");
        be->destroy(be);
    }
    sbs_net_free(&net);
    free(x);
    free(ref);
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"dynamics vs oracle (all SIMD levels)", test_dynamics_vs_oracle},
        {"vectorised sampler == portable sampler", test_sampler_simd_equal},
        {"sampler frequencies (chi-square)", test_sampler_frequencies},
        {"patch order and padding (SPEC 1.1)", test_patch_order},
        {"layer forward vs oracle, odd geometries, threads", test_layer_vs_oracle},
        {"conv2d and pooling vs naive loops", test_conv_pool_naive},
        {"thread-count and batch-split invariance (bitwise)", test_invariance},
    };
    return SBS_TEST_RUN(cases);
}
