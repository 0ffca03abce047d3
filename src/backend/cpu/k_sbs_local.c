/* k_sbs_local.c — CPU kernels of SbS LOCAL (the rule is described with its plan in
 * src/nn/layer_sbs_local.c): the SbS forward (k_sbs.c), and a backward that passes the SbS
 * input gradient down when a layer below can use it and adds the local weight rule's
 * per-image gradients (sgemm over the positions of an image), summed in image order. */
#include "cpu.h"

#include <cblas.h>
#include <string.h>

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
    float *parts;
    bool output; /* last layer: one-hot of the label instead of h */
} local_job;

static void local_dw_img(void *ctx, long b, int worker)
{
    local_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    int M = L->X * L->Y, K = L->g.K, N = L->N, ldw = L->ldw;
    size_t in_sz = (size_t)L->C * L->H * L->W;
    const float *x = a->x + (size_t)b * in_sz;
    const float *H = a->y + (size_t)b * N * M;
    float *P = cpu_scratch(j->be, worker), *R = P + (size_t)M * K;
    cpu_sbs_windows(L, x, P);
    /* R (M x K) = H^T W^T, then D = -2 (P - R) in place of R */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, M, K, N, 1.0f, H, M, a->W, ldw, 0.0f, R, K);
    for (size_t i = 0; i < (size_t)M * K; i++) R[i] = -2.0f * (P[i] - R[i]);
    float *dW = j->parts + (size_t)b * K * ldw;
    if (!j->output) {
        /* dW (K x N) = D^T H^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, K, N, M, 1.0f, R, K, H, M, 0.0f, dW,
                    ldw);
        return;
    }
    memset(dW, 0, (size_t)K * ldw * sizeof(float));
    int lab = a->labels ? a->labels[b] : -1;
    if (lab < 0 || lab >= N) return;
    /* column `lab`: sum over positions of D */
    for (int i = 0; i < K; i++) {
        float acc = 0.0f;
        for (int m = 0; m < M; m++) acc += R[(size_t)m * K + i];
        dW[(size_t)i * ldw + lab] = acc;
    }
}

static long local_backward(sbs_backend *be, const sbs_op_args *a)
{
    const sbs_layer *L = a->L;
    if (a->gx) {
        if (L->grad_below) {
            /* the SbS input gradient from the (already scaled) upstream gradient */
            sbs_op_args s = *a;
            s.gW = s.gB = NULL;
            cpu_k_sbs.backward(be, &s);
        } else {
            memset(a->gx, 0, (size_t)a->B * L->C * L->H * L->W * sizeof(float));
        }
    }
    if (a->gW) {
        size_t nw = sbs_weight_floats(L);
        local_job j = {be, a, cpu_parts(be, a->B, nw), L->last};
        cpu_reserve(be, L->bwd_scr);
        cpu_run(be, a->B, local_dw_img, &j);
        cpu_ordered_sum(be, a->gW, j.parts, nw, a->B);
    }
    return (long)a->B * L->X * L->Y;
}

const sbs_layer_kernels cpu_k_sbs_local = {.forward = cpu_sbs_forward, .backward = local_backward};
