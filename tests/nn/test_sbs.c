/* test_sbs.c — the SbS maths against its oracle, beside the backend harness
 * (tests/backend/test_backend_ops.c, which checks every layer kind's forward on every backend):
 * the fast dynamics of every SIMD level this CPU has vs the double-precision oracle given
 * identical spikes; the vectorised sampler bitwise vs the portable one; sampler frequencies vs
 * the distribution (chi-square, fixed seed); patch order and padding; full-layer spike routing
 * vs a scan of every window (each position gets exactly its in-window spikes in draw order, and
 * a padded slot is never a target). */
#include "sbs_test.h"

static int test_dynamics_vs_oracle(void)
{
    printf("    SIMD levels:");
    for (int s = 0; s < SBS_TEST_N_SIMD; s++)
        printf(" %s%s", sbs_cpu_simd_levels[SBS_TEST_N_SIMD - 1 - s],
               sbs_test_simd(s) ? "" : " (skipped: this CPU lacks it)");
    printf("\n");
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
                for (int i = 0; i < P * T; i++)
                    idx[i] = (int32_t)sbs_stream_below(&st, (uint32_t)K);
                float *ref = malloc((size_t)P * N * sizeof *ref);
                for (int p = 0; p < P; p++)
                    sbs_ref_dynamics(W, N, ldw, idx + (size_t)p * T, T, eps, fo,
                                     ref + (size_t)p * N);
                float *h = xaligned((size_t)P * ldw * sizeof *h);
                for (int s = 0; s < SBS_TEST_N_SIMD; s++) {
                    const char *simd = sbs_test_simd(s);
                    if (!simd) continue;
                    sbs_cpu_dynamics(simd, W, N, ldw, P, idx, T, eps, fo, h);
                    double worst = 0;
                    for (int p = 0; p < P; p++) {
                        double sum = 0;
                        for (int n = 0; n < N; n++) {
                            double d =
                                fabs((double)h[(size_t)p * ldw + n] - ref[(size_t)p * N + n]);
                            if (d > worst) worst = d;
                            sum += h[(size_t)p * ldw + n];
                        }
                        CHECK(fabs(sum - 1.0) < 1e-5, "%s N=%d T=%d: h sums to %g", simd, N, T,
                              sum);
                    }
                    CHECK(worst < 2e-5, "%s N=%d T=%d fo=%g cool=%d: max |fast - oracle| = %g",
                          simd, N, T, fo, cool, worst);
                }
                free(W);
                free(eps);
                free(idx);
                free(ref);
                free(h);
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
                sbs_spikes_draw_fast(simd, thr, al, K, 123456789ull, sbs_spike_tag(3, 17), 5, 9, T,
                                     b);
                CHECK(!memcmp(a, b, (size_t)T * 4), "%s K=%d T=%d: spikes differ", simd, K, T);
            }
            for (int t = 0; t < T; t++) {
                CHECK(a[t] >= 0 && a[t] < K, "index %d out of range", a[t]);
                CHECK(!(K > 2 && a[t] == 1), "drew an index with probability 0");
            }
            free(x);
            free(thr);
            free(al);
            free(scr);
            free(a);
            free(b);
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
                        float want =
                            (r < 0 || r >= 7 || q < 0 || q >= 9) ? 0.0f : img[(c * 7 + r) * 9 + q];
                        CHECK(win[c * 6 + u * 2 + v] == want, "(%d,%d) c%d u%d v%d", ox, oy, c, u,
                              v);
                    }
        }
    CHECK(sbs_out_size(4, 5, 1, 1, 0) <= 0, "window larger than input must not fit");
    return 0;
}

/* full-layer spike routing (spike_full_layer_input_distribution) against the window code */
typedef struct {
    int C, H, W, kx, ky, sx, sy, dx, dy, px, py;
} geo;

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
                            q->py) == 0,
              "geometry %zu", gi);
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
            CHECK(got == nw, "geometry %zu position %d: %d spikes routed, %d in its window", gi, m,
                  got, nw);
            for (int k = 0; k < nw; k++) {
                int i = list[start[m] + k];
                CHECK(i == want[k], "geometry %zu position %d spike %d: slot %d, expected %d", gi,
                      m, k, i, want[k]);
                CHECK(win[i] != 0.0f, "geometry %zu position %d: padded slot %d is a target", gi, m,
                      i);
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
        free(ids);
        free(win);
        free(spk);
        free(start);
        free(list);
        free(want);
    }
    printf("    %zu geometries, including padding, stride, dilation\n", sizeof geos / sizeof *geos);
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"dynamics vs oracle (all SIMD levels)", test_dynamics_vs_oracle},
        {"vectorised sampler == portable sampler", test_sampler_simd_equal},
        {"sampler frequencies (chi-square)", test_sampler_frequencies},
        {"patch order and padding (SPEC 1.1)", test_patch_order},
        {"full-layer routing: each position gets exactly its in-window spikes, never padding",
         test_route_subset},
    };
    return SBS_TEST_RUN(cases);
}
