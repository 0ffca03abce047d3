/* test_cuda.cpp — the cuda backend against the CPU backend, built twice from this file:
 *
 *   cuda-emu     the cuda backend's sources compiled by the host C++ compiler
 *                (SBS_CUDA_EMU: every kernel's whole grid run on the CPU, GEMMs as loops):
 *                runs in every build, GPU or not;
 *   cuda-device  the real backend (nvcc): exit 77 with the reason when there is no usable
 *                GPU, a failure instead when SBS_REQUIRE_GPU=1.
 *
 * Checked: spikes and alias tables (emulation: the kernel bodies against sbs_alias_build and
 * sbs_spikes_draw / the AVX-512 draw); the SbS forward BIT FOR BIT against the CPU backend's
 * AVX-512 dynamics for N in {3, 10, 16, 17, 32, 64, 96} (and 40, 130: h outside registers),
 * with and without forgetting_offset, odd geometry, full-layer spikes; the whole
 * Fashion-MNIST SbS_Entropy net with the reference weights bit for bit; pooling and RELU
 * forward and backward bit for bit; CONV2D and the SbS backward, the losses, the gradient
 * scale operations, Adam / SGD with weight care and a whole training window within the
 * tolerances below (cuBLAS and the emulation's loops sum in another order than OpenBLAS).
 * The CPU comparisons need AVX-512 (AVX2 gives the same bits and is used where AVX-512 is
 * missing); without either, the bitwise cases are skipped with a note. */
extern "C" {
#include "sbs/backend.h"
#include "sbs/backend_cpu.h"
#include "sbs/exec.h"
#include "sbs/rng.h"
#include "sbs/train.h"
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef SBS_TEST_EMU
#define SBSK_NS sbsk_emu
#include "sbs_kernels.cuh"
extern "C" sbs_backend *sbs_cuda_emu_backend_create(const sbs_backend_opts *o, sbs_err *e);
#endif

/* tolerances (relative to the largest magnitude of the compared tensor) */
#define TOL_GEMM 2e-5   /* one layer's CONV2D / SbS backward against OpenBLAS */
#define TOL_LOSS 1e-12  /* losses in double (device exp/log may differ in the last bit) */
#define TOL_UPD 1e-6    /* Adam (tanh in double) and weight care */
#define TOL_ADAM 1e-2   /* weights after one Adam window: twice the largest step (lr 0.01) */
#define TOL_SGD 1e-5    /* weights after one SGD window */

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("    FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
            printf(__VA_ARGS__);                                                          \
            printf("\n");                                                                 \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

static sbs_backend *g_cuda, *g_cpu;
static const char *g_simd; /* the CPU level the bitwise comparisons use, NULL: none */

/* ---------------------------------------------------------------- helpers */

static void fill(float *x, size_t n, uint32_t a, float lo, float hi)
{
    sbs_stream st;
    sbs_stream_init(&st, 4242, SBS_RNG_INIT, a, 17);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)sbs_stream_u01(&st);
}

static float *fvec(size_t n) { return (float *)calloc(n ? n : 1, sizeof(float)); }

/* a backend copy of n host floats */
static float *up(sbs_backend *be, const float *h, size_t n)
{
    float *d = (float *)be->alloc(be, n * sizeof(float));
    if (d && h && n) be->upload(be, d, h, n * sizeof(float));
    return d;
}

static void down(sbs_backend *be, float *h, const float *d, size_t n)
{
    be->download(be, h, d, n * sizeof(float));
}

/* largest |a - b| relative to the largest |b| (NaN when the shapes of values differ) */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i])) return NAN;
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}


static long first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) return (long)i;
    return -1;
}

/* One windowed layer of a kind, planned by hand (as sbs-bench does). */
struct layer {
    sbs_layer_cfg cfg;
    sbs_layer L;
    float *eps;
};

static int make_layer(layer *l, sbs_layer_kind kind, int C, int H, int Wd, int N, int kx,
                      int ky, int sx, int sy, int dx, int dy, int px, int py, int T, float fo)
{
    memset(l, 0, sizeof *l);
    l->cfg.kind = kind;
    snprintf(l->cfg.type, sizeof l->cfg.type, "%s", sbs_layer_kind_name(kind));
    sbs_layer *L = &l->L;
    L->kind = kind;
    L->cfg = &l->cfg;
    L->C = C;
    L->H = H;
    L->W = Wd;
    L->ref_layer = -1;
    CHECK(sbs_geom_init(&L->g, C, H, Wd, kx, ky, sx, sy, dx, dy, px, py) == 0, "geometry");
    L->X = L->g.X;
    L->Y = L->g.Y;
    L->N = kind == SBS_L_MAX_POOLING || kind == SBS_L_AVERAGE_POOLING || kind == SBS_L_RELU ? C : N;
    L->T = T;
    L->fo = fo;
    L->ldw = kind == SBS_L_SBS ? sbs_pad_n(N) : 0;
    L->sbs_w = kind == SBS_L_SBS;
    L->n_w = kind == SBS_L_CONV2D ? (size_t)N * L->g.K : kind == SBS_L_SBS ? (size_t)L->g.K * N : 0;
    L->n_b = kind == SBS_L_CONV2D ? (size_t)N : 0;
    /* the CPU kernels' scratch, as the plan sizes it (layer_classic.c, layer_sbs.c) */
    size_t MK = (size_t)L->g.K * L->X * L->Y;
    if (kind == SBS_L_CONV2D) {
        L->fwd_scr = MK;
        L->bwd_scr = 2 * MK;
    }
    if (kind == SBS_L_SBS) L->bwd_scr = 3 * MK + (size_t)N * L->X * L->Y + L->g.K;
    if (T > 0) {
        l->eps = fvec((size_t)T);
        sbs_eps_table(1.0f, T / 2, 25.0f, T, l->eps);
        L->eps = l->eps;
    }
    return 0;
}

/* SbS weights (K, ldw): positive, columns normalised, padding zero */
static float *sbs_weights(const sbs_layer *L, uint32_t a)
{
    size_t n = (size_t)L->g.K * L->ldw;
    float *w = fvec(n), *tmp = fvec((size_t)L->g.K * L->N);
    fill(tmp, (size_t)L->g.K * L->N, a, 0.2f, 1.0f);
    for (int i = 0; i < L->g.K; i++)
        for (int k = 0; k < L->N; k++) w[(size_t)i * L->ldw + k] = tmp[(size_t)i * L->N + k];
    sbs_normalize_columns(w, L->g.K, L->N, L->ldw);
    free(tmp);
    return w;
}

static sbs_op_args op_args(const sbs_layer *L, int B, const float *x, float *y, const float *W)
{
    sbs_op_args a;
    memset(&a, 0, sizeof a);
    a.L = L;
    a.B = B;
    a.x = x;
    a.y = y;
    a.W = W;
    return a;
}

/* forward of one layer on a backend: y (host) from x, W, b (host) */
static void run_forward(sbs_backend *be, const sbs_layer *L, int B, const float *x,
                        const float *W, size_t nw, const float *bias, const sbs_spike_key *key,
                        float *y)
{
    size_t nx = (size_t)B * L->C * L->H * L->W, ny = (size_t)B * L->N * L->X * L->Y;
    float *dx = up(be, x, nx), *dW = W ? up(be, W, nw) : NULL;
    float *db = bias ? up(be, bias, L->n_b) : NULL, *dy = up(be, y, ny);
    sbs_op_args a = op_args(L, B, dx, dy, dW);
    a.key = key;
    a.b = db;
    be->kernels(be, L->kind)->forward(be, &a);
    down(be, y, dy, ny);
    be->free(be, dx);
    be->free(be, dW);
    be->free(be, db);
    be->free(be, dy);
}

/* ---------------------------------------------------------------- spikes (emulation) */

#ifdef SBS_TEST_EMU
/* The kernels' alias build and Philox draw against sbs_alias_build, sbs_spikes_draw and
 * the CPU's vectorised draw, for windows with zeros, an all-zero window and a spike. */
static int test_spikes(void)
{
    static const int Ks[] = {1, 3, 10, 25, 75, 576, 800};
    long spikes = 0;
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
        const int K = Ks[ki], T = 1600;
        for (int variant = 0; variant < 3; variant++) {
            /* the window as a 1 x K "image" with a 1 x K kernel: one position */
            sbs_geom g;
            sbs_geom_init(&g, 1, 1, K, 1, K, 1, 1, 1, 1, 0, 0);
            float *x = fvec((size_t)K);
            fill(x, (size_t)K, (uint32_t)(ki * 3 + variant), -0.2f, 1.0f);
            if (variant == 1) memset(x, 0, (size_t)K * sizeof(float));
            if (variant == 2) {
                memset(x, 0, (size_t)K * sizeof(float));
                x[K / 2] = 3.0f;
            }
            uint32_t *thr = (uint32_t *)calloc((size_t)K, 4), *al = (uint32_t *)calloc((size_t)K, 4);
            uint32_t *thr2 = (uint32_t *)calloc((size_t)K, 4), *al2 = (uint32_t *)calloc((size_t)K, 4);
            double *q = (double *)calloc((size_t)K * 3, sizeof(double));
            int32_t *stk = (int32_t *)calloc((size_t)K * 2, 4);
            sbsk_emu::alias_build(g, x, 0, 0, thr, al, q, stk, stk + K, 1);
            sbs_alias_build(x, K, thr2, al2, q);
            CHECK(!memcmp(thr, thr2, (size_t)K * 4) && !memcmp(al, al2, (size_t)K * 4),
                  "K %d variant %d: alias table differs from sbs_alias_build", K, variant);
            int32_t *s1 = (int32_t *)calloc((size_t)T, 4), *s2 = (int32_t *)calloc((size_t)T, 4);
            int32_t *s3 = (int32_t *)calloc((size_t)T, 4);
            for (int t0 = 0; t0 < T; t0 += 64)
                sbsk_emu::draw_group(thr, al, 1, K, 0x1234567890ULL, sbs_spike_tag(3, 7), 11, 5,
                                     t0, T, s1 + t0, 1);
            sbs_spikes_draw(thr, al, K, 0x1234567890ULL, sbs_spike_tag(3, 7), 11, 5, T, s2);
            CHECK(!memcmp(s1, s2, (size_t)T * 4), "K %d variant %d: spikes differ from "
                  "sbs_spikes_draw", K, variant);
            if (g_simd) {
                sbs_spikes_draw_fast(g_simd, thr, al, K, 0x1234567890ULL, sbs_spike_tag(3, 7), 11,
                                     5, T, s3);
                CHECK(!memcmp(s1, s3, (size_t)T * 4), "K %d: spikes differ from the %s draw", K,
                      g_simd);
            }
            spikes += T;
            free(x); free(thr); free(al); free(thr2); free(al2); free(q); free(stk);
            free(s1); free(s2); free(s3);
        }
    }
    printf("    %ld spikes and their alias tables equal to sbs_spikes_draw%s%s\n", spikes,
           g_simd ? " and the CPU's " : "", g_simd ? g_simd : "");
    return 0;
}
#endif

/* ---------------------------------------------------------------- SbS forward, bitwise */

static int fwd_case(const char *what, int C, int H, int Wd, int N, int kx, int ky, int s, int d,
                    int p, int T, float fo, int B, bool full, long *values)
{
    layer l;
    if (make_layer(&l, SBS_L_SBS, C, H, Wd, N, kx, ky, s, s, d, d, p, p, T, fo)) return 1;
    l.cfg.spike_full_layer_input_distribution = full;
    l.L.index = 2;
    const sbs_layer *L = &l.L;
    size_t nx = (size_t)B * C * H * Wd, ny = (size_t)B * N * L->X * L->Y;
    float *x = fvec(nx), *W = sbs_weights(L, (uint32_t)N), *y1 = fvec(ny), *y2 = fvec(ny);
    fill(x, nx, (uint32_t)(N + 100 * C), -0.3f, 1.0f);   /* about a quarter are zeros */
    for (size_t i = 0; i < nx; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    for (int i = 0; i < C * H * Wd && B > 1; i++) x[(size_t)C * H * Wd + i] = 0.0f; /* image 1 */
    if (B > 1) x[(size_t)C * H * Wd + 3] = 0.5f;
    sbs_spike_key key = {0xC0FFEEULL + (uint64_t)N, 5, 1000};
    size_t nw = (size_t)L->g.K * L->ldw;
    run_forward(g_cpu, L, B, x, W, nw, NULL, &key, y1);
    run_forward(g_cuda, L, B, x, W, nw, NULL, &key, y2);
    long at = first_diff(y2, y1, ny);
    CHECK(at < 0, "%s: N %d fo %g: output %ld is %.9g on %s, %.9g on the CPU (%s)", what, N,
          (double)fo, at, (double)y2[at], g_cuda->name, (double)y1[at], g_simd);
    *values += (long)ny;
    free(x); free(W); free(y1); free(y2); free(l.eps);
    return 0;
}

static int test_sbs_forward(void)
{
    if (!g_simd) {
        printf("    skipped: this CPU has neither AVX-512 nor AVX2, whose dynamics the device "
               "matches bit for bit\n");
        return 0;
    }
    static const int Ns[] = {3, 10, 16, 17, 32, 64, 96, 40, 130};
    long values = 0;
    for (size_t i = 0; i < sizeof Ns / sizeof *Ns; i++)
        for (int f = 0; f < 2; f++) {
            float fo = f ? 0.3f : -1.0f;
            /* C 2, 9 x 9, 3 x 3 windows: 49 positions, K = 18 */
            if (fwd_case("plain", 2, 9, 9, Ns[i], 3, 3, 1, 1, 0, 200, fo, 2, false, &values))
                return 1;
        }
    /* stride, dilation, padding; the real lengths (T = 1600, partial last 64-group) */
    if (fwd_case("geometry", 3, 10, 8, 32, 3, 2, 2, 2, 1, 1600, 0.3f, 2, false, &values) ||
        fwd_case("geometry", 1, 12, 12, 17, 5, 5, 1, 1, 2, 999, -1.0f, 3, false, &values) ||
        fwd_case("K 800", 32, 5, 5, 64, 5, 5, 1, 1, 0, 1600, -1.0f, 3, false, &values))
        return 1;
    /* full-layer spikes: host routing, device dynamics */
    if (fwd_case("full-layer", 1, 12, 12, 32, 5, 5, 1, 1, 1, 300, -1.0f, 2, true, &values) ||
        fwd_case("full-layer", 2, 8, 8, 16, 3, 3, 2, 1, 0, 200, 0.3f, 2, true, &values) ||
        fwd_case("full-layer", 1, 8, 8, 40, 3, 3, 1, 1, 0, 200, -1.0f, 2, true, &values))
        return 1;
    printf("    %ld outputs bit for bit equal to the CPU's %s path (N 3..130, fo 0 and 0.3, "
           "T up to 1600, full-layer spikes)\n", values, g_simd);
    return 0;
}

/* ---------------------------------------------------------------- the other layer kinds */

/* forward and backward of one layer on both backends; returns the largest relative
 * differences of y, dx, dW, dB (bitwise: must all be 0) */
static int layer_case(const char *what, layer *l, int B, bool bitwise, double *worst)
{
    const sbs_layer *L = &l->L;
    size_t nx = (size_t)B * L->C * L->H * L->W, ny = (size_t)B * L->N * L->X * L->Y;
    size_t nw = L->kind == SBS_L_SBS ? (size_t)L->g.K * L->ldw : L->n_w, nb = L->n_b;
    float *x = fvec(nx), *gy = fvec(ny), *W = NULL, *bias = NULL;
    fill(x, nx, 7, L->kind == SBS_L_SBS ? 0.0f : -1.0f, 1.0f);
    fill(gy, ny, 8, -1.0f, 1.0f);
    if (L->kind == SBS_L_SBS) W = sbs_weights(L, 9);
    else if (nw) {
        W = fvec(nw);
        fill(W, nw, 9, -0.5f, 0.5f);
    }
    if (nb) {
        bias = fvec(nb);
        fill(bias, nb, 10, -0.5f, 0.5f);
    }
    sbs_spike_key key = {99, 1, 0};
    float *res[2][4] = {{NULL}};
    long contrib[2];
    sbs_backend *bes[2] = {g_cpu, g_cuda};
    for (int k = 0; k < 2; k++) {
        sbs_backend *be = bes[k];
        float *y = fvec(ny);
        run_forward(be, L, B, x, W, nw, bias, &key, y);
        /* the backward sees the CPU's forward output (SbS: identical anyway) */
        float *dx = up(be, x, nx), *dy = up(be, res[0][0] ? res[0][0] : y, ny);
        float *dgy = up(be, gy, ny), *dW = W ? up(be, W, nw) : NULL;
        float *gx = up(be, NULL, nx), *gW = nw ? up(be, NULL, nw) : NULL;
        float *gB = nb ? up(be, NULL, nb) : NULL;
        if (gW) be->zero(be, gW, nw * sizeof(float));
        if (gB) be->zero(be, gB, nb * sizeof(float));
        sbs_op_args a = op_args(L, B, dx, dy, dW);
        a.gy = dgy;
        a.gx = gx;
        a.gW = gW;
        a.gB = gB;
        contrib[k] = be->kernels(be, L->kind)->backward(be, &a);
        res[k][0] = y;
        res[k][1] = fvec(nx);
        res[k][2] = fvec(nw);
        res[k][3] = fvec(nb);
        down(be, res[k][1], gx, nx);
        if (nw) down(be, res[k][2], gW, nw);
        if (nb) down(be, res[k][3], gB, nb);
        be->free(be, dx); be->free(be, dy); be->free(be, dgy); be->free(be, dW);
        be->free(be, gx); be->free(be, gW); be->free(be, gB);
    }
    CHECK(contrib[0] == contrib[1], "%s: contributions %ld on the CPU, %ld on %s", what,
          contrib[0], contrib[1], g_cuda->name);
    static const char *names[4] = {"y", "dx", "dW", "dB"};
    size_t ns[4] = {ny, nx, nw, nb};
    for (int t = 0; t < 4; t++) {
        if (!ns[t]) continue;
        double r = rel_diff(res[1][t], res[0][t], ns[t]);
        if (bitwise) {
            long at = first_diff(res[1][t], res[0][t], ns[t]);
            CHECK(at < 0, "%s: %s[%ld] is %.9g on %s, %.9g on the CPU", what, names[t], at,
                  (double)res[1][t][at], g_cuda->name, (double)res[0][t][at]);
        } else {
            CHECK(r <= TOL_GEMM, "%s: %s differs by %.3g (relative to its largest value), "
                  "more than %.0e", what, names[t], r, TOL_GEMM);
        }
        if (r > *worst) *worst = r;
    }
    for (int k = 0; k < 2; k++)
        for (int t = 0; t < 4; t++) free(res[k][t]);
    free(x); free(gy); free(W); free(bias); free(l->eps);
    return 0;
}

static int test_layers(void)
{
    layer l;
    double worst_bit = 0, worst = 0;
    /* bitwise: pooling (odd geometry, padding, overlapping windows) and RELU */
    if (make_layer(&l, SBS_L_MAX_POOLING, 3, 9, 7, 0, 3, 2, 2, 1, 1, 2, 1, 0, 0, 0) ||
        layer_case("MAX POOLING", &l, 3, true, &worst_bit) ||
        make_layer(&l, SBS_L_AVERAGE_POOLING, 3, 9, 7, 0, 3, 2, 2, 1, 1, 2, 1, 0, 0, 0) ||
        layer_case("AVERAGE POOLING", &l, 3, true, &worst_bit) ||
        make_layer(&l, SBS_L_AVERAGE_POOLING, 32, 20, 20, 0, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0) ||
        layer_case("AVERAGE POOLING 2x2", &l, 2, true, &worst_bit) ||
        make_layer(&l, SBS_L_RELU, 4, 5, 6, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0) ||
        layer_case("RELU", &l, 3, true, &worst_bit))
        return 1;
    /* to a tolerance: CONV2D with bias (padding, stride), the SbS backward */
    if (make_layer(&l, SBS_L_CONV2D, 3, 11, 9, 8, 3, 3, 2, 1, 1, 1, 1, 1, 0, 0) ||
        layer_case("CONV2D", &l, 3, false, &worst) ||
        make_layer(&l, SBS_L_CONV2D, 1, 28, 28, 32, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0) ||
        layer_case("CONV2D 5x5", &l, 2, false, &worst) ||
        make_layer(&l, SBS_L_SBS, 2, 9, 9, 17, 3, 3, 1, 1, 1, 1, 1, 1, 100, -1.0f) ||
        layer_case("SbS", &l, 3, false, &worst) ||
        make_layer(&l, SBS_L_SBS, 32, 10, 10, 64, 5, 5, 1, 1, 1, 1, 0, 0, 100, -1.0f) ||
        layer_case("SbS K 800", &l, 2, false, &worst))
        return 1;
    printf("    pooling and RELU bit for bit; CONV2D and SbS backward within %.2g of the "
           "CPU (relative to the largest value; tolerance %.0e)\n", worst, TOL_GEMM);
    return 0;
}

/* ---------------------------------------------------------------- training operations */

static int test_train_ops(void)
{
    const int B = 7, n_out = 10;
    float *out = fvec((size_t)B * n_out);
    fill(out, (size_t)B * n_out, 21, 0.0f, 1.0f);
    uint8_t lab[B] = {0, 3, 9, 1, 1, 5, 7};
    double worst_loss = 0;
    for (int mode = 0; mode < 2; mode++) {
        double loss[2];
        float *g[2];
        sbs_backend *bes[2] = {g_cpu, g_cuda};
        for (int k = 0; k < 2; k++) {
            sbs_backend *be = bes[k];
            float *d_out = up(be, out, (size_t)B * n_out), *d_g = up(be, out, (size_t)B * n_out);
            sbs_loss_args la = {mode, 0.5f, 1.0f, d_out, lab, B, n_out, d_g};
            loss[k] = be->loss(be, &la);
            g[k] = fvec((size_t)B * n_out);
            down(be, g[k], d_g, (size_t)B * n_out);
            be->free(be, d_out);
            be->free(be, d_g);
        }
        double r = fabs(loss[1] - loss[0]) / fabs(loss[0]);
        CHECK(r <= TOL_LOSS, "loss mode %d: %.17g on %s, %.17g on the CPU", mode, loss[1],
              g_cuda->name, loss[0]);
        double rg = rel_diff(g[1], g[0], (size_t)B * n_out);
        CHECK(rg <= TOL_LOSS * 1e3, "loss mode %d: gradient differs by %.3g", mode, rg);
        worst_loss = fmax(worst_loss, fmax(r, rg));
        free(g[0]);
        free(g[1]);
    }
    free(out);

    /* absmax, scale, add: bit for bit */
    const size_t n = 100003;
    float *v = fvec(n), *w = fvec(n), *r1 = fvec(n), *r2 = fvec(n);
    fill(v, n, 31, -2.0f, 1.0f);
    fill(w, n, 32, -1.0f, 1.0f);
    v[77777] = -3.5f;
    float am[2];
    sbs_backend *bes[2] = {g_cpu, g_cuda};
    float *res[2] = {r1, r2};
    for (int k = 0; k < 2; k++) {
        sbs_backend *be = bes[k];
        float *dv = up(be, v, n), *dw = up(be, w, n);
        am[k] = be->absmax(be, dv, n);
        be->scale(be, dv, n, 1.0f / 3.0f);
        be->add(be, dv, dw, n);
        down(be, res[k], dv, n);
        CHECK(be->find_nonfinite(be, dv, n) == -1, "%s: a non-finite value where none is",
              be->name);
        float bad[2] = {NAN, INFINITY};
        be->upload(be, dv + 4242, &bad[1], sizeof(float));
        be->upload(be, dv + 99999, &bad[0], sizeof(float));
        long at = be->find_nonfinite(be, dv, n);
        CHECK(at == 4242, "%s: first non-finite value at %ld, expected 4242", be->name, at);
        CHECK(be->absmax(be, dv, 0) == 0.0f, "absmax of nothing");
        be->free(be, dv);
        be->free(be, dw);
    }
    CHECK(am[0] == 3.5f && am[1] == 3.5f, "absmax %g on the CPU, %g on %s", (double)am[0],
          (double)am[1], g_cuda->name);
    long at = first_diff(r2, r1, n);
    CHECK(at < 0, "scale + add: value %ld differs", at);

    /* updates: Adam multiplicative with weight care, Adam additive, SGD */
    double worst_upd = 0;
    const int K = 25, N = 30, ldw = 32;
    const size_t nw = (size_t)K * ldw;
    for (int kind = 0; kind < 3; kind++) {
        float *W0 = fvec(nw), *G = fvec(nw), *M0 = fvec(nw), *V0 = fvec(nw);
        fill(W0, nw, 41, 0.0f, 0.1f);
        fill(G, nw, 42, -1e-3f, 1e-3f);
        fill(M0, nw, 43, -1e-4f, 1e-4f);
        fill(V0, nw, 44, 0.0f, 1e-6f);
        for (int i = 0; i < K; i++) W0[(size_t)i * ldw + 31] = 0.25f; /* padding to clear */
        W0[3] = 1e-9f;                                                /* below the floor */
        float *outw[2];
        for (int k = 0; k < 2; k++) {
            sbs_backend *be = bes[k];
            float *dw = up(be, W0, nw), *dg = up(be, G, nw), *dm = up(be, M0, nw),
                  *dv = up(be, V0, nw);
            sbs_update_args ua;
            memset(&ua, 0, sizeof ua);
            ua.w = dw;
            ua.g = dg;
            ua.m = dm;
            ua.v = dv;
            ua.n = nw;
            ua.adam = kind < 2;
            ua.multiplicative = kind == 0;
            ua.grad_mul = 1.0 / 37;
            ua.lr = 0.01;
            ua.lr_t = 0.01 / (1.0 - pow(0.9, 3));
            ua.c2 = sqrt(1.0 - pow(0.999, 3));
            ua.care = kind == 0;
            ua.K = K;
            ua.N = N;
            ua.ldw = ldw;
            ua.floor_w = 0.001f;
            be->update(be, &ua);
            outw[k] = fvec(3 * nw);
            down(be, outw[k], dw, nw);
            down(be, outw[k] + nw, dm, nw);
            down(be, outw[k] + 2 * nw, dv, nw);
            be->free(be, dw); be->free(be, dg); be->free(be, dm); be->free(be, dv);
        }
        double r = rel_diff(outw[1], outw[0], nw);
        CHECK(r <= TOL_UPD, "update %d: weights differ by %.3g", kind, r);
        CHECK(!memcmp(outw[1] + nw, outw[0] + nw, 2 * nw * sizeof(float)),
              "update %d: Adam moments differ", kind);
        if (kind == 0)
            for (int i = 0; i < K; i++)
                CHECK(outw[1][(size_t)i * ldw + 31] == 0.0f, "padding column not cleared");
        worst_upd = fmax(worst_upd, r);
        free(W0); free(G); free(M0); free(V0); free(outw[0]); free(outw[1]);
    }
    free(v); free(w); free(r1); free(r2);
    printf("    losses within %.2g, absmax / scale / add / find_nonfinite / moments bit for "
           "bit, weights after Adam, SGD and weight care within %.2g\n", worst_loss, worst_upd);
    return 0;
}

/* ---------------------------------------------------------------- whole nets */

static int load_cfg(sbs_config *cfg, const char *dir, const char *const *sets, int n_sets)
{
    const char *root = getenv("SBS_SOURCE_ROOT");
    char def[PATH_MAX + 64], netf[PATH_MAX], dsf[PATH_MAX], deff[PATH_MAX];
    snprintf(def, sizeof def, "%s/%s/def.json", root ? root : ".", dir);
    sbs_err e;
    CHECK(sbs_config_paths(def, NULL, NULL, netf, dsf, deff, &e) == 0 &&
              sbs_config_load(cfg, netf, dsf, deff, sets, n_sets, &e) == 0,
          "%s", e.msg);
    return 0;
}

/* The Fashion-MNIST SbS_Entropy net with the reference weights, T = 1600: every layer's
 * output bit for bit. */
static int test_net_forward(void)
{
    if (!g_simd) {
        printf("    skipped: no AVX-512 / AVX2 on this CPU\n");
        return 0;
    }
    static sbs_config cfg;
    if (load_cfg(&cfg, "configs/FASHION_MNIST/SbS_Entropy", NULL, 0)) return 1;
    sbs_net net;
    sbs_err e;
    CHECK(sbs_plan_for_data(&net, &cfg, NULL, NULL, NULL, &e) == 0, "%s", e.msg);
    char wdir[PATH_MAX + 64];
    const char *root = getenv("SBS_SOURCE_ROOT");
    snprintf(wdir, sizeof wdir, "%s/datasets/reference/weights/FASHION_MNIST/SbS_Entropy",
             root ? root : ".");
    CHECK(sbs_net_load_weights(&net, wdir, true, &e) == 4, "%s", e.msg);
    const int B = 3;
    size_t nin = (size_t)B * sbs_act_floats(&net, 0);
    float *img = fvec(nin);
    fill(img, nin, 51, -0.5f, 1.0f);
    for (size_t i = 0; i < nin; i++) img[i] = img[i] > 0 ? img[i] : 0;
    sbs_exec ex[2];
    sbs_backend *bes[2] = {g_cpu, g_cuda};
    sbs_spike_key key = {1, 3, 5000};
    for (int k = 0; k < 2; k++) {
        int st;
        CHECK(sbs_exec_init(&ex[k], &net, bes[k], B, false, &st, &e) == 0, "%s", e.msg);
        sbs_exec_forward(&ex[k], img, B, &key);
    }
    long values = 0;
    for (int l = 1; l <= net.n; l++) {
        size_t n = (size_t)B * sbs_act_floats(&net, l);
        float *a0 = fvec(n), *a1 = fvec(n);
        down(g_cpu, a0, ex[0].act[l], n);
        down(g_cuda, a1, ex[1].act[l], n);
        long at = first_diff(a1, a0, n);
        CHECK(at < 0, "layer %d output %ld: %.9g on %s, %.9g on the CPU", l - 1, at,
              (double)a1[at], g_cuda->name, (double)a0[at]);
        values += (long)n;
        free(a0);
        free(a1);
    }
    for (int k = 0; k < 2; k++) sbs_exec_free(&ex[k]);
    sbs_net_free(&net);
    free(img);
    printf("    %ld activations of 6 layers bit for bit (reference weights, 1600 spikes)\n",
           values);
    return 0;
}

/* one training window's data: chunk k of B random images with labels */
struct src_ctx {
    int B, C, H, W;
};

static void load_chunk(void *ctx, int k, float *img, uint8_t *labels, int *B, sbs_spike_key *key)
{
    src_ctx *s = (src_ctx *)ctx;
    size_t n = (size_t)s->B * s->C * s->H * s->W;
    fill(img, n, (uint32_t)(60 + k), -0.3f, 1.0f);
    for (size_t i = 0; i < n; i++) img[i] = img[i] > 0 ? img[i] : 0;
    for (int b = 0; b < s->B; b++) labels[b] = (uint8_t)((b * 7 + k * 3) % 10);
    *B = s->B;
    key->seed = 77;
    key->pass = 0;
    key->first_sample = (uint32_t)(k * s->B);
}

/* What the training check measured. */
struct train_worst {
    double grad;    /* weight gradient error / the CPU's, both against the double oracle */
    double grad_cv; /* CONV2D weight gradients, relative */
    double w_adam, w_sgd; /* weights after the window, relative to their largest value */
};

/* The error of a float weight gradient (K x ldw) against the double oracle (K x N):
 * |g - ref|_2 / |ref|_2. */
static double oracle_err(const float *g, const double *ref, int K, int N, int ldw)
{
    double d = 0, m = 0;
    for (int i = 0; i < K; i++)
        for (int n = 0; n < N; n++) {
            double r = ref[(size_t)i * N + n], x = g[(size_t)i * ldw + n] - r;
            d += x * x;
            m += r * r;
        }
    return m > 0 ? sqrt(d / m) : sqrt(d);
}

/* A training window on both backends from the same start. The forward and the loss before
 * any update are those of the CPU (bit for bit in SbS nets; CONV2D to GEMM rounding). Weight
 * gradients of one chunk: an SbS layer's must be as close to the double-precision oracle
 * (sbs_ref_sbs_backward on the CPU's activations) as the CPU's own (layer 0's gradient is a
 * small difference of large terms: float results of any order differ from the exact one by
 * tens of percent there, so a fixed relative tolerance would be meaningless); CONV2D's within
 * 1e-4. The weights after the window's update: with SGD within TOL_SGD of the CPU's; with
 * Adam within TOL_ADAM (Adam divides by |g|, so rounding noise in a nearly-zero gradient can
 * move its step by up to lr; the update itself is checked to 1e-6 in "training operations"). */
static int train_case(const char *dir, const char *const *sets, int n_sets, double tol_w,
                      train_worst *tw)
{
    static sbs_config cfg;
    if (load_cfg(&cfg, dir, sets, n_sets)) return 1;
    sbs_net net;
    sbs_err e;
    CHECK(sbs_plan_for_data(&net, &cfg, NULL, NULL, NULL, &e) == 0, "%s: %s", dir, e.msg);
    sbs_net_init_weights(&net, 5);
    const int B = cfg.batch_size, nchunks = cfg.learn.number_of_batches_for_one_update;
    src_ctx sc = {B, net.in_c, net.in_h, net.in_w};
    sbs_chunk_source src = {load_chunk, &sc, 0, 0, "."};
    bool has_conv = false;
    for (int l = 0; l < net.n; l++) has_conv |= net.L[l].kind == SBS_L_CONV2D;
    float *w[2], *gr[2], **act = (float **)calloc((size_t)net.n + 1, sizeof *act);
    float **gact = (float **)calloc((size_t)net.n + 1, sizeof *gact);
    double loss[2];
    sbs_backend *bes[2] = {g_cpu, g_cuda};
    for (int k = 0; k < 2; k++) {
        sbs_exec ex;
        int st;
        CHECK(sbs_exec_init(&ex, &net, bes[k], B, true, &st, &e) == 0, "%s", e.msg);
        sbs_trainer_state ts;
        sbs_trainer_state_init(&ts, &net);
        ts.ex = &ex;
        /* one chunk's weight gradients with every scale 1 */
        float *img = fvec((size_t)B * sbs_act_floats(&net, 0));
        uint8_t lab[256];
        int nb;
        sbs_spike_key key;
        load_chunk(&sc, 0, img, lab, &nb, &key);
        sbs_exec_forward(&ex, img, nb, &key);
        sbs_exec_loss(&ex, lab, nb);
        sbs_exec_backward(&ex, nb, lab, ts.scale, ts.learns, NULL, NULL);
        gr[k] = fvec(net.n_params);
        down(bes[k], gr[k], ex.chunk, net.n_params);
        for (int l = 0; k == 0 && l <= net.n; l++) {
            size_t n = (size_t)nb * sbs_act_floats(&net, l);
            act[l] = fvec(n);
            gact[l] = fvec(n);
            down(g_cpu, act[l], ex.act[l], n);
            down(g_cpu, gact[l], ex.gact[l], n);
        }
        free(img);
        sbs_optim opt;
        sbs_optim_init(&opt, &cfg);
        sbs_window_sums ws;
        CHECK(sbs_train_step(&ts, &opt, &src, nchunks, true, NULL, &ws, &e) == 0, "%s: %s",
              bes[k]->name, e.msg);
        loss[k] = ws.loss;
        w[k] = fvec(net.n_params);
        sbs_exec_download_params(&ex, w[k]);
        sbs_trainer_state_free(&ts);
        sbs_exec_free(&ex);
    }
    double tol_loss = has_conv ? 1e-5 : TOL_LOSS;
    CHECK(fabs(loss[1] - loss[0]) <= tol_loss * fabs(loss[0]),
          "%s: the window's loss %.17g on %s, %.17g on the CPU", dir, loss[1], g_cuda->name,
          loss[0]);
    for (int l = 0; l < net.n; l++) {
        const sbs_layer *L = &net.L[l];
        if (!L->file_weights) continue;
        const float *W = net.params + L->w_off;
        if (L->kind == SBS_L_CONV2D) {
            double r = rel_diff(gr[1] + L->w_off, gr[0] + L->w_off, L->n_w);
            CHECK(r <= 1e-4, "%s: layer %d: CONV2D weight gradient differs by %.3g", dir, l, r);
            tw->grad_cv = fmax(tw->grad_cv, r);
        } else {
            const int K = L->g.K, N = L->N, M = L->X * L->Y;
            double *ref = (double *)calloc((size_t)K * N, sizeof(double));
            double *dx = (double *)calloc((size_t)B * L->C * L->H * L->W, sizeof(double));
            sbs_ref_sbs_backward(&L->g, N, W, L->ldw, act[l], act[l + 1], gact[l + 1], B, dx, ref);
            double e0 = oracle_err(gr[0] + L->w_off, ref, K, N, L->ldw);
            double e1 = oracle_err(gr[1] + L->w_off, ref, K, N, L->ldw);
            /* as accurate as the CPU, or within 1e-5 of the exact gradient */
            CHECK(e1 <= fmax(4 * e0, 1e-5), "%s: layer %d: weight gradient %.3g from the double "
                  "oracle on %s, %.3g on the CPU", dir, l, e1, g_cuda->name, e0);
            printf("    %s layer %d: weight gradient %.2g from the oracle (CPU %.2g, %d "
                   "positions)\n", dir, l, e1, e0, B * M);
            if (e1 > 1e-5) tw->grad = fmax(tw->grad, e1 / e0);
            free(ref);
            free(dx);
        }
        double r = rel_diff(w[1] + L->w_off, w[0] + L->w_off, sbs_weight_floats(L));
        CHECK(r <= tol_w, "%s: layer %d weights after the update differ by %.3g", dir, l, r);
        if (tol_w == TOL_SGD) tw->w_sgd = fmax(tw->w_sgd, r);
        else tw->w_adam = fmax(tw->w_adam, r);
    }
    printf("    %s: window loss %.9g (CPU %.9g)\n", dir, loss[1], loss[0]);
    for (int l = 0; l <= net.n; l++) {
        free(act[l]);
        free(gact[l]);
    }
    free(act);
    free(gact);
    for (int k = 0; k < 2; k++) {
        free(w[k]);
        free(gr[k]);
    }
    sbs_net_free(&net);
    return 0;
}

static int test_train(void)
{
    train_worst tw = {0, 0, 0, 0};
    static const char *sbs_sets[] = {"number_of_spikes=[200]", "batch_size=4",
                                     "learning_parameters.number_of_batches_for_one_update=2"};
    static const char *cnn_sets[] = {"batch_size=5",
                                     "learning_parameters.number_of_batches_for_one_update=2"};
    static const char *sgd_sets[] = {"number_of_spikes=[100]", "batch_size=3",
                                     "learning_parameters.optimizer_name=\"SGD\"",
                                     "learning_parameters.number_of_batches_for_one_update=1"};
    if (train_case("configs/FASHION_MNIST/SbS_Mixed_Loss", sbs_sets, 3, TOL_ADAM, &tw) ||
        train_case("configs/FASHION_MNIST/SbS_Entropy", sgd_sets, 4, TOL_SGD, &tw) ||
        train_case("configs/FASHION_MNIST/CNN", cnn_sets, 2, TOL_ADAM, &tw))
        return 1;
    printf("    SbS weight gradients within 1e-5 of the double oracle or at most %.2f times "
           "the CPU's distance from it; CONV2D's within %.2g; weights after one update within %.2g (Adam, "
           "tolerance %.0e) and %.2g (SGD, tolerance %.0e)\n", tw.grad, tw.grad_cv, tw.w_adam,
           TOL_ADAM, tw.w_sgd, TOL_SGD);
    return 0;
}

/* unsupported kinds are refused by the bound net, naming the layer */
static int test_refuse(void)
{
    static const sbs_layer_kind ok[] = {SBS_L_SBS, SBS_L_SBS_POOLING, SBS_L_CONV2D, SBS_L_RELU,
                                        SBS_L_MAX_POOLING, SBS_L_AVERAGE_POOLING};
    int n_ok = 0;
    for (int k = 0; k < SBS_L_COUNT; k++) {
        bool want = false;
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) want |= ok[i] == k;
        bool has = g_cuda->kernels(g_cuda, (sbs_layer_kind)k) != NULL;
        CHECK(has == want, "kind %s: kernels %s", sbs_layer_kind_name((sbs_layer_kind)k),
              has ? "present" : "missing");
        n_ok += has;
    }
    static sbs_config cfg;
    if (load_cfg(&cfg, "configs/examples/NNMF", NULL, 0)) return 1;
    sbs_net net;
    sbs_err e;
    CHECK(sbs_plan_for_data(&net, &cfg, NULL, NULL, NULL, &e) == 0, "%s", e.msg);
    sbs_exec ex;
    int st = 0;
    CHECK(sbs_exec_init(&ex, &net, g_cuda, 4, false, &st, &e) != 0, "NNMF net bound");
    CHECK(st == SBS_EXIT_USAGE && strstr(e.msg, "layer 0") && strstr(e.msg, "does not support"),
          "status %d, message: %s", st, e.msg);
    sbs_net_free(&net);
    printf("    %d kinds on the device; others refused: \"%s\"\n", n_ok, e.msg);
    return 0;
}

int main(void)
{
    sbs_err e;
    sbs_backend_opts o;
    memset(&o, 0, sizeof o);
#ifdef SBS_TEST_EMU
    g_cuda = sbs_cuda_emu_backend_create(&o, &e);
#else
    g_cuda = sbs_backend_create("cuda", &o, &e);
#endif
    if (!g_cuda) {
        const char *req = getenv("SBS_REQUIRE_GPU");
        bool required = req && *req && strcmp(req, "0");
        printf("%s: %s\n", required ? "FAIL (SBS_REQUIRE_GPU=1)" : "skipped", e.msg);
        return required ? 1 : 77;
    }
    printf("backend under test: %s\n", g_cuda->describe(g_cuda));
    g_simd = sbs_cpu_simd_supported("avx512") ? "avx512"
             : sbs_cpu_simd_supported("avx2") ? "avx2" : NULL;
    if (g_simd && strcmp(g_simd, "avx512"))
        printf("note: this CPU has no AVX-512: comparing with the AVX2 path (the same bits)\n");
    sbs_backend_opts co;
    memset(&co, 0, sizeof co);
    co.threads = 2;
    co.simd = g_simd ? g_simd : "scalar";
    g_cpu = sbs_backend_create("cpu", &co, &e);
    if (!g_cpu) {
        printf("FAIL: %s\n", e.msg);
        return 1;
    }
    static const struct {
        const char *name;
        int (*fn)(void);
    } cases[] = {
#ifdef SBS_TEST_EMU
        {"spikes and alias tables", test_spikes},
#endif
        {"SbS forward bit for bit", test_sbs_forward},
        {"pooling, RELU, CONV2D, SbS backward", test_layers},
        {"training operations", test_train_ops},
        {"Fashion-MNIST net forward bit for bit", test_net_forward},
        {"training windows", test_train},
        {"unsupported kinds refused", test_refuse},
    };
    int failed = 0, n = (int)(sizeof cases / sizeof *cases);
    for (int i = 0; i < n; i++) {
        double t0 = sbs_now();
        int r = cases[i].fn();
        printf("%s %s (%.1f s)\n", r ? "FAIL" : "ok  ", cases[i].name, sbs_now() - t0);
        fflush(stdout);
        failed += r != 0;
    }
    printf("%d of %d checks failed\n", failed, n);
    sbs_backend_destroy(g_cuda);
    sbs_backend_destroy(g_cpu);
    return failed ? 1 : 0;
}
