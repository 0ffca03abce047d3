/* k_nnmf.c — CPU kernels of NNMF and BP SBS NNMF (SPEC §1.5; the maths is described with the
 * plan in src/nn/layer_nnmf.c): the forward iterations on all positions of an image at once
 * (two sgemm calls per step), NNMF's exact reverse-mode backward with its iterate store and
 * checkpointing, and BP SBS NNMF's backward, the SbS one (k_sbs.c). Per image; per-image
 * weight gradients are summed in image order. */
#include "cpu.h"
#include "sbs/layer.h"

#include <cblas.h>
#include <string.h>

#define NNMF_EPS 1e-20f

/* The element-wise loops are compiled for AVX-512 and AVX2 as well and picked at load time. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define NNMF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NNMF_CLONES
#endif

static size_t al16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* ---- forward ---- */

/* P (K x M) = the window distributions of one image, column m for position m; inv[m] =
 * 1 / (sum x + 1e-20). win: K floats. */
static void gather_p(const sbs_geom *g, const float *x, int M, float *P, float *inv, float *win)
{
    int K = g->K;
    for (int m = 0; m < M; m++) {
        sbs_patch_gather(g, x, m / g->Y, m % g->Y, win);
        double sum = 0;
        for (int i = 0; i < K; i++) sum += win[i];
        float iv = (float)(1.0 / (sum + 1e-20));
        inv[m] = iv;
        for (int i = 0; i < K; i++) P[(size_t)i * M + m] = win[i] * iv;
    }
}

static void h_init(float *h, int N, int M)
{
    float v = 1.0f / (float)N;
    for (size_t i = 0; i < (size_t)N * M; i++) h[i] = v;
}

/* One iteration on M positions: h (N x M) -> hn (may be h). R (K x M) receives R (may be Z:
 * then it is overwritten by Z), Z (K x M), S (N x M), cs (M) scratch. */
NNMF_CLONES static void nnmf_step(const float *W, int ldw, int K, int N, int M, float eps,
                                  const float *P, const float *h, float *hn, float *R, float *Z,
                                  float *S, float *cs)
{
    size_t KM = (size_t)K * M;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, N, 1.0f, W, ldw, h, M, 0.0f, R, M);
    for (size_t i = 0; i < KM; i++) Z[i] = P[i] / (R[i] + NNMF_EPS);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, M, K, 1.0f, W, ldw, Z, M, 0.0f, S, M);
    for (int m = 0; m < M; m++) cs[m] = 0.0f;
    for (int n = 0; n < N; n++) {
        const float *hr = h + (size_t)n * M, *sr = S + (size_t)n * M;
        float *vr = hn + (size_t)n * M;
        if (eps > 0.0f)
            for (int m = 0; m < M; m++) {
                float v = hr[m] + eps * (hr[m] * sr[m]);
                vr[m] = v;
                cs[m] += v;
            }
        else
            for (int m = 0; m < M; m++) {
                float v = hr[m] * sr[m];
                vr[m] = v;
                cs[m] += v;
            }
    }
    for (int m = 0; m < M; m++) cs[m] = 1.0f / (cs[m] + NNMF_EPS);
    for (int n = 0; n < N; n++) {
        float *vr = hn + (size_t)n * M;
        for (int m = 0; m < M; m++) vr[m] *= cs[m];
    }
}

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
    float *parts; /* backward: B per-image weight gradients */
} img_job;

static void nnmf_fwd_img(void *ctx, long b, int worker)
{
    img_job *j = ctx;
    const sbs_layer *L = j->a->L;
    int K = L->g.K, N = L->N, M = L->X * L->Y, T = L->cfg->spikes;
    float eps = L->cfg->epsilon_0;
    size_t in_sz = (size_t)L->C * L->H * L->W;
    const float *x = j->a->x + (size_t)b * in_sz;
    float *h = j->a->y + (size_t)b * N * M;
    float *P = cpu_scratch(j->be, worker), *Z = P + al16((size_t)K * M),
          *S = Z + al16((size_t)K * M);
    float *cs = S + al16((size_t)N * M), *win = cs + al16((size_t)M);
    gather_p(&L->g, x, M, P, cs, win);
    h_init(h, N, M);
    for (int t = 0; t < T; t++) nnmf_step(j->a->W, L->ldw, K, N, M, eps, P, h, h, Z, Z, S, cs);
}

static void nnmf_forward(sbs_backend *be, const sbs_op_args *a)
{
    img_job j = {be, a, NULL};
    cpu_reserve(be, a->L->fwd_scr);
    cpu_run(be, a->B, nnmf_fwd_img, &j);
}

/* ---- exact backward ---- */

/* One neuron's row of the step's reverse: gv = (g - a) cs, gu = eps gv (or gv),
 * gS = gu h, gh = gv [eps > 0] + gu S. */
static inline void grad_row(int M, float eps, const float *restrict h, const float *restrict S,
                            const float *restrict g, const float *restrict a,
                            const float *restrict cs, float *restrict gh, float *restrict gs)
{
    float ge = eps > 0.0f ? eps : 1.0f, gd = eps > 0.0f ? 1.0f : 0.0f;
    for (int m = 0; m < M; m++) {
        float gv = (g[m] - a[m]) * cs[m], gu = ge * gv;
        gs[m] = gu * h[m];
        gh[m] = gd * gv + gu * S[m];
    }
}

NNMF_CLONES static void nnmf_bwd_img(void *ctx, long b, int worker)
{
    img_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    const float *W = a->W;
    int K = L->g.K, N = L->N, M = L->X * L->Y, T = L->cfg->spikes, ldw = L->ldw;
    float eps = L->cfg->epsilon_0;
    size_t in_sz = (size_t)L->C * L->H * L->W, KM = (size_t)K * M, NM = (size_t)N * M;
    const float *x = a->x + (size_t)b * in_sz;
    sbs_nnmf_store st = sbs_nnmf_store_plan(K, N, M, T, L->bwd_scr - sbs_nnmf_bwd_fixed(K, N, M));

    float *P = cpu_scratch(j->be, worker), *Z = P + al16(KM), *GZ = Z + al16(KM),
          *GP = GZ + al16(KM);
    float *G = GP + al16(KM), *GH = G + al16(NM), *GS = GH + al16(NM);
    float *cs = GS + al16(NM), *inv = cs + al16((size_t)M), *acol = inv + al16((size_t)M);
    float *win = acol + al16((size_t)M);
    float *seg_h = win + al16((size_t)K);               /* c+1 iterates h */
    float *seg_r = seg_h + (size_t)(st.c + 1) * st.hsz; /* c R */
    float *seg_s = seg_r + (size_t)st.c * st.rsz;       /* c S */
    float *ckpt = seg_s + (size_t)st.c * st.hsz;        /* nseg h (when nseg > 1) */

    gather_p(&L->g, x, M, P, inv, win);
    if (st.nseg > 1) {
        /* checkpoints h_{k c}: run the forward once, keeping every c-th iterate */
        h_init(ckpt, N, M);
        memcpy(seg_h, ckpt, NM * sizeof(float));
        for (int t = 0; t < (st.nseg - 1) * st.c; t++) {
            nnmf_step(W, ldw, K, N, M, eps, P, seg_h, seg_h, Z, Z, seg_s, cs);
            if ((t + 1) % st.c == 0)
                memcpy(ckpt + (size_t)((t + 1) / st.c) * st.hsz, seg_h, NM * sizeof(float));
        }
    }
    memcpy(G, a->gy + (size_t)b * NM, NM * sizeof(float));
    if (a->gx) memset(GP, 0, KM * sizeof(float));
    float *dW = NULL;
    if (j->parts) {
        dW = j->parts + (size_t)b * K * ldw;
        memset(dW, 0, (size_t)K * ldw * sizeof(float));
    }
    for (int k = st.nseg - 1; k >= 0; k--) {
        int t0 = k * st.c, t1 = t0 + st.c < T ? t0 + st.c : T;
        if (st.nseg > 1)
            memcpy(seg_h, ckpt + (size_t)k * st.hsz, NM * sizeof(float));
        else
            h_init(seg_h, N, M);
        for (int t = t0; t < t1; t++) {
            int r = t - t0;
            nnmf_step(W, ldw, K, N, M, eps, P, seg_h + (size_t)r * st.hsz,
                      seg_h + (size_t)(r + 1) * st.hsz, seg_r + (size_t)r * st.rsz, Z,
                      seg_s + (size_t)r * st.hsz, cs);
        }
        for (int t = t1 - 1; t >= t0; t--) {
            int r = t - t0;
            const float *h = seg_h + (size_t)r * st.hsz, *hn = seg_h + (size_t)(r + 1) * st.hsz;
            const float *R = seg_r + (size_t)r * st.rsz, *S = seg_s + (size_t)r * st.hsz;
            bool need_gh = t > 0; /* h_0 is a constant */
            /* column sums of v and a = sum_n g hn */
            for (int m = 0; m < M; m++) cs[m] = acol[m] = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *hr = h + (size_t)n * M, *sr = S + (size_t)n * M;
                const float *gr = G + (size_t)n * M, *hnr = hn + (size_t)n * M;
                if (eps > 0.0f)
                    for (int m = 0; m < M; m++) cs[m] += hr[m] + eps * (hr[m] * sr[m]);
                else
                    for (int m = 0; m < M; m++) cs[m] += hr[m] * sr[m];
                for (int m = 0; m < M; m++) acol[m] += gr[m] * hnr[m];
            }
            for (int m = 0; m < M; m++) cs[m] = 1.0f / (cs[m] + NNMF_EPS);
            for (int n = 0; n < N; n++)
                grad_row(M, eps, h + (size_t)n * M, S + (size_t)n * M, G + (size_t)n * M, acol, cs,
                         GH + (size_t)n * M, GS + (size_t)n * M);
            /* gZ (K x M) = W gS */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, N, 1.0f, W, ldw, GS, M,
                        0.0f, GZ, M);
            for (size_t i = 0; i < KM; i++) {
                float d = 1.0f / (R[i] + NNMF_EPS);
                float z = P[i] * d;
                Z[i] = z;
                if (a->gx) GP[i] += GZ[i] * d;
                GZ[i] = -GZ[i] * z * d; /* gR */
            }
            if (need_gh)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, M, K, 1.0f, W, ldw, GZ, M,
                            1.0f, GH, M);
            if (dW) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, N, M, 1.0f, Z, M, GS, M,
                            1.0f, dW, ldw);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, N, M, 1.0f, GZ, M, h, M,
                            1.0f, dW, ldw);
            }
            float *tmp = G;
            G = GH;
            GH = tmp;
        }
    }
    if (a->gx) {
        float *dx = a->gx + (size_t)b * in_sz;
        memset(dx, 0, in_sz * sizeof(float));
        for (int m = 0; m < M; m++) {
            float s = 0.0f;
            for (int i = 0; i < K; i++) s += GP[(size_t)i * M + m] * P[(size_t)i * M + m];
            for (int i = 0; i < K; i++) win[i] = (GP[(size_t)i * M + m] - s) * inv[m];
            cpu_patch_scatter_add(&L->g, win, m / L->Y, m % L->Y, dx);
        }
    }
}

/* The incoming gradient is already scaled (L->grad_scaled). */
static long nnmf_backward(sbs_backend *be, const sbs_op_args *a)
{
    const sbs_layer *L = a->L;
    size_t nw = sbs_weight_floats(L);
    img_job j = {be, a, a->gW ? cpu_parts(be, a->B, nw) : NULL};
    cpu_reserve(be, L->bwd_scr);
    cpu_run(be, a->B, nnmf_bwd_img, &j);
    if (a->gW) cpu_ordered_sum(be, a->gW, j.parts, nw, a->B);
    return (long)a->B * L->X * L->Y;
}

/* BP SBS NNMF: the SbS layer's approximate backward (contributions included) on the saved
 * input and the NNMF output. */
static long bp_sbs_nnmf_backward(sbs_backend *be, const sbs_op_args *a)
{
    return cpu_k_sbs.backward(be, a);
}

const sbs_layer_kernels cpu_k_nnmf = {.forward = nnmf_forward, .backward = nnmf_backward};
const sbs_layer_kernels cpu_k_bp_sbs_nnmf = {.forward = nnmf_forward,
                                             .backward = bp_sbs_nnmf_backward};
