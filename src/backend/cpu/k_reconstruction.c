/* k_reconstruction.c — CPU kernels of RECONSTRUCTION (the maths is described with its plan in
 * src/nn/layer_reconstruction.c): forward o = R / sum R with R = W hn (one sgemm per image, W
 * the SbS layer's weights), the exact backward to dL/dh, and the `loss` kernel of the own
 * target (the mixed loss against the SbS layer's normalised input windows). Per image. */
#include "cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

/* hn (C x M) = h / (sum over channels), hsum (M) the sums */
static void normalise_h(const float *h, int C, int M, float *hn, float *hsum)
{
    for (int m = 0; m < M; m++) hsum[m] = 0.0f;
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++) hsum[m] += h[(size_t)n * M + m];
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++)
            hn[(size_t)n * M + m] = hsum[m] > 0.0f ? h[(size_t)n * M + m] / hsum[m] : 0.0f;
}

/* R (K x M) = W hn; colsum (M) its sums over K (S the SbS layer, W its weights) */
static void reconstruct(const sbs_layer *S, const float *W, const float *hn, int M, float *R,
                        float *colsum)
{
    int K = S->g.K;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, S->N, 1.0f, W, S->ldw, hn, M, 0.0f,
                R, M);
    for (int m = 0; m < M; m++) colsum[m] = 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++) colsum[m] += R[(size_t)i * M + m];
}

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
    const sbs_layer *S; /* the SbS layer L->ref_layer */
    float *g;           /* loss: dL/do to write */
    double *loss;       /* loss: per image */
} recon_job;

static recon_job job(sbs_backend *be, const sbs_op_args *a)
{
    recon_job j = {be, a, a->ref, NULL, NULL};
    return j;
}

static void recon_fwd_img(void *ctx, long b, int worker)
{
    recon_job *j = ctx;
    const sbs_layer *L = j->a->L, *S = j->S;
    int M = L->X * L->Y, C = L->C, K = L->N;
    const float *h = j->a->x + (size_t)b * C * M;
    float *out = j->a->y + (size_t)b * K * M;
    float *hn = cpu_scratch(j->be, worker), *sum = hn + (size_t)C * M;
    normalise_h(h, C, M, hn, sum);
    reconstruct(S, j->a->W, hn, M, out, sum);
    for (int m = 0; m < M; m++) sum[m] = sum[m] > 0.0f ? 1.0f / sum[m] : 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++) out[(size_t)i * M + m] *= sum[m];
}

static void recon_forward(sbs_backend *be, const sbs_op_args *a)
{
    recon_job j = job(be, a);
    cpu_reserve(be, a->L->fwd_scr);
    cpu_run(be, a->B, recon_fwd_img, &j);
}

static void recon_bwd_img(void *ctx, long b, int worker)
{
    recon_job *j = ctx;
    const sbs_layer *L = j->a->L, *S = j->S;
    const float *W = j->a->W;
    int M = L->X * L->Y, C = L->C, K = L->N;
    const float *h = j->a->x + (size_t)b * C * M;
    const float *o = j->a->y + (size_t)b * K * M;
    const float *g = j->a->gy + (size_t)b * K * M;
    float *dh = j->a->gx + (size_t)b * C * M;
    float *hn = cpu_scratch(j->be, worker), *R = hn + (size_t)C * M, *hsum = R + (size_t)K * M;
    float *rsum = hsum + M, *gdot = rsum + M, *d = gdot + M;
    normalise_h(h, C, M, hn, hsum);
    reconstruct(S, W, hn, M, R, rsum);
    /* o = R / sum R:  dL/dR_i = (g_i - sum_k g_k o_k) / sum R */
    for (int m = 0; m < M; m++) gdot[m] = 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++) gdot[m] += g[(size_t)i * M + m] * o[(size_t)i * M + m];
    for (int m = 0; m < M; m++) rsum[m] = rsum[m] > 0.0f ? 1.0f / rsum[m] : 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++)
            R[(size_t)i * M + m] = (g[(size_t)i * M + m] - gdot[m]) * rsum[m];
    /* R = W hn:  dL/dhn (C x M) = W^T dL/dR */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, M, K, 1.0f, W, S->ldw, R, M, 0.0f, dh,
                M);
    /* hn = h / sum h:  dL/dh_n = (dL/dhn_n - sum_k dL/dhn_k hn_k) / sum h */
    for (int m = 0; m < M; m++) d[m] = 0.0f;
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++) d[m] += dh[(size_t)n * M + m] * hn[(size_t)n * M + m];
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++)
            dh[(size_t)n * M + m] =
                hsum[m] > 0.0f ? (dh[(size_t)n * M + m] - d[m]) / hsum[m] : 0.0f;
}

/* no weights of its own: only dL/dh */
static long recon_backward(sbs_backend *be, const sbs_op_args *a)
{
    if (!a->gx) return 0;
    recon_job j = job(be, a);
    cpu_reserve(be, a->L->bwd_scr);
    cpu_run(be, a->B, recon_bwd_img, &j);
    return 0;
}

static void recon_loss_img(void *ctx, long b, int worker)
{
    recon_job *j = ctx;
    const sbs_layer *L = j->a->L, *S = j->S;
    int M = L->X * L->Y, K = L->N;
    double cm = L->loss_mse, ck = L->loss_kl, cs = cm + ck;
    const float *x = j->a->ref_x + (size_t)b * S->C * S->H * S->W;
    const float *o = j->a->y + (size_t)b * K * M;
    float *g = j->g + (size_t)b * K * M;
    float *p = cpu_scratch(j->be, worker);
    double total = 0;
    for (int m = 0; m < M; m++) {
        sbs_patch_gather(&S->g, x, m / S->Y, m % S->Y, p);
        double sum = 0;
        for (int i = 0; i < K; i++) sum += p[i];
        for (int i = 0; i < K; i++) {
            double t = sum > 0 ? p[i] / sum : 1.0 / K, ov = o[(size_t)i * M + m];
            total +=
                cm * (ov - t) * (ov - t) + ck * (t + 1e-20) * (log(t + 1e-20) - log(ov + 1e-20));
            g[(size_t)i * M + m] =
                (float)((2.0 * cm * (ov - t) - ck * (t + 1e-20) / (ov + 1e-20)) / cs);
        }
    }
    j->loss[b] = total / cs;
}

/* The mixed loss of the chunk (labels unused), dL/do into gy_out. */
static double recon_loss(sbs_backend *be, const sbs_op_args *a, float *gy_out)
{
    int B = a->B;
    double *per = xcalloc((size_t)(B > 0 ? B : 1), sizeof *per);
    recon_job j = job(be, a);
    j.g = gy_out;
    j.loss = per;
    cpu_reserve(be, a->L->bwd_scr);
    cpu_run(be, B, recon_loss_img, &j);
    double total = 0;
    for (int b = 0; b < B; b++) total += per[b];
    free(per);
    return total;
}

const sbs_layer_kernels cpu_k_reconstruction = {.forward = recon_forward,
                                                .backward = recon_backward,
                                                .loss = recon_loss};
