/* k_sbs.c — CPU kernels of SbS and SbS POOLING (SPEC §1.2, §1.3): the forward through the
 * fused sampler + dynamics engine (sbs_cpu.c), and the paper's approximate backward.
 *
 * Backward works per image; the dense parts (reconstruction R = W h, Q = W (h*g), the weight
 * gradient) are OpenBLAS sgemm calls over the positions of the image, and each image writes
 * its own weight-gradient buffer, summed in image order afterwards. */
#include "cpu.h"

#include <cblas.h>
#include <string.h>

void cpu_sbs_forward(sbs_backend *be, const sbs_op_args *a)
{
    const sbs_layer *L = a->L;
    sbs_layer_args la = sbs_layer_args_of(L, a->W);
    sbs_cpu_engine_forward(cpu_of(be)->sbs, &la, a->x, a->B, a->key, a->y);
}

void cpu_sbs_windows(const sbs_layer *L, const float *x, float *P)
{
    int M = L->X * L->Y, K = L->g.K;
    for (int m = 0; m < M; m++) {
        float *p = P + (size_t)m * K;
        sbs_patch_gather(&L->g, x, m / L->Y, m % L->Y, p);
        double sum = 0;
        for (int i = 0; i < K; i++) sum += p[i];
        float inv = (float)(1.0 / (sum + 1e-20));
        for (int i = 0; i < K; i++) p[i] *= inv;
    }
}

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
    float *parts;
} bwd_job;

static void sbs_bwd_img(void *ctx, long b, int worker)
{
    bwd_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    int M = L->X * L->Y, K = L->g.K, N = L->N, ldw = L->ldw;
    size_t in_sz = (size_t)L->C * L->H * L->W;
    const float *x = a->x + (size_t)b * in_sz;
    const float *H = a->y + (size_t)b * N * M;
    const float *Gh = a->gy + (size_t)b * N * M;
    float *P = cpu_scratch(j->be, worker), *R = P + (size_t)M * K, *Q = R + (size_t)M * K;
    float *HG = Q + (size_t)M * K, *tmp = HG + (size_t)N * M;
    cpu_sbs_windows(L, x, P);
    for (size_t i = 0; i < (size_t)N * M; i++) HG[i] = H[i] * Gh[i];
    /* R (M x K) = H^T W^T,  Q (M x K) = HG^T W^T */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, M, K, N, 1.0f, H, M, a->W, ldw, 0.0f, R, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, M, K, N, 1.0f, HG, M, a->W, ldw, 0.0f, Q, K);
    if (a->gx) {
        float *dx = a->gx + (size_t)b * in_sz;
        memset(dx, 0, in_sz * sizeof(float));
        for (int m = 0; m < M; m++) {
            const float *r = R + (size_t)m * K, *q = Q + (size_t)m * K;
            for (int i = 0; i < K; i++) tmp[i] = q[i] / (r[i] + 1e-20f);
            cpu_patch_scatter_add(&L->g, tmp, m / L->Y, m % L->Y, dx);
        }
    }
    if (a->gW) {
        for (size_t i = 0; i < (size_t)M * K; i++) {
            float d = R[i] * R[i] + 1e-20f;
            float ai = P[i] * R[i] / d, bq = P[i] * Q[i] / d;
            R[i] = ai;
            Q[i] = bq;
        }
        float *dW = j->parts + (size_t)b * K * ldw;
        /* dW (K x N) = A^T HG^T - Bq^T H^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, K, N, M, 1.0f, R, K, HG, M, 0.0f, dW,
                    ldw);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, K, N, M, -1.0f, Q, K, H, M, 1.0f, dW,
                    ldw);
    }
}

static long sbs_backward(sbs_backend *be, const sbs_op_args *a)
{
    const sbs_layer *L = a->L;
    size_t nw = sbs_weight_floats(L);
    bwd_job j = {be, a, a->gW ? cpu_parts(be, a->B, nw) : NULL};
    cpu_reserve(be, L->bwd_scr);
    cpu_run(be, a->B, sbs_bwd_img, &j);
    if (a->gW) cpu_ordered_sum(be, a->gW, j.parts, nw, a->B);
    return (long)a->B * L->X * L->Y;
}

const sbs_layer_kernels cpu_k_sbs = {.forward = cpu_sbs_forward, .backward = sbs_backward};
