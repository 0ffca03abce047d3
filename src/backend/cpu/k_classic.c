/* k_classic.c — CPU kernels of the classic layers used inside SbS nets and by the CNN twins
 * (SPEC §1.4): CONV2D (im2col + OpenBLAS sgemm), MAX/AVERAGE POOLING, RELU, forward and
 * backward, one image at a time so images spread over threads and results do not depend on
 * the batch split. */
#include "cpu.h"

#include <cblas.h>
#include <float.h>
#include <string.h>

static void sbs_conv2d_forward_img(const sbs_geom *g, int O, const float *W, const float *bias,
                                   const float *x, float *y, float *cols)
{
    int XY = g->X * g->Y, K = g->K;
    for (int ox = 0; ox < g->X; ox++)
        for (int oy = 0; oy < g->Y; oy++)
            sbs_patch_gather(g, x, ox, oy, cols + (size_t)(ox * g->Y + oy) * K);
    /* y (O, XY) = W (O, K) * cols^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, XY, K, 1.0f, W, K, cols, K, 0.0f, y,
                XY);
    if (bias)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < XY; i++) y[(size_t)o * XY + i] += bias[o];
}

static void sbs_pool_forward_img(const sbs_geom *g, bool is_max, const float *x, float *y)
{
    float inv = 1.0f / (float)(g->kx * g->ky);
    for (int c = 0; c < g->C; c++) {
        const float *plane = x + (size_t)c * g->H * g->W;
        float *out = y + (size_t)c * g->X * g->Y;
        for (int ox = 0; ox < g->X; ox++)
            for (int oy = 0; oy < g->Y; oy++) {
                float acc = is_max ? -FLT_MAX : 0.0f;
                for (int u = 0; u < g->kx; u++) {
                    int r = ox * g->sx - g->px + u * g->dx;
                    if (r < 0 || r >= g->H) continue;
                    for (int v = 0; v < g->ky; v++) {
                        int q = oy * g->sy - g->py + v * g->dy;
                        if (q < 0 || q >= g->W) continue;
                        float val = plane[(size_t)r * g->W + q];
                        if (is_max)
                            acc = val > acc ? val : acc;
                        else
                            acc += val;
                    }
                }
                out[ox * g->Y + oy] = is_max ? acc : acc * inv;
            }
    }
}


/* ---- forward ---- */

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
} img_job;

static void fwd_img(void *ctx, long b, int worker)
{
    img_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    size_t in_sz = (size_t)L->C * L->H * L->W, out_sz = (size_t)L->N * L->X * L->Y;
    const float *x = a->x + (size_t)b * in_sz;
    float *y = a->y + (size_t)b * out_sz;
    switch (L->kind) {
    case SBS_L_CONV2D:
        sbs_conv2d_forward_img(&L->g, L->N, a->W, a->b, x, y, cpu_scratch(j->be, worker));
        break;
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING:
        sbs_pool_forward_img(&L->g, L->kind == SBS_L_MAX_POOLING, x, y);
        break;
    default: /* RELU */
        for (size_t i = 0; i < out_sz; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    }
}

static void classic_forward(sbs_backend *be, const sbs_op_args *a)
{
    img_job j = {be, a};
    cpu_reserve(be, a->L->fwd_scr);
    cpu_run(be, a->B, fwd_img, &j);
}

/* ---- backward ---- */

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
    float *parts; /* B x n_w weight gradients, then B x n_b bias gradients */
} bwd_job;

static void bwd_img(void *ctx, long b, int worker)
{
    bwd_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    int M = L->X * L->Y;
    size_t in_sz = (size_t)L->C * L->H * L->W, out_sz = (size_t)L->N * M;
    const float *x = a->x + (size_t)b * in_sz;
    const float *gy = a->gy + (size_t)b * out_sz;
    float *dx = a->gx ? a->gx + (size_t)b * in_sz : NULL;
    if (dx) memset(dx, 0, in_sz * sizeof(float));
    const sbs_geom *g = &L->g;
    switch (L->kind) {
    case SBS_L_RELU:
        if (dx)
            for (size_t i = 0; i < in_sz; i++) dx[i] = x[i] > 0.0f ? gy[i] : 0.0f;
        break;
    case SBS_L_AVERAGE_POOLING:
    case SBS_L_MAX_POOLING: {
        if (!dx) break;
        bool is_max = L->kind == SBS_L_MAX_POOLING;
        float inv = 1.0f / (float)(g->kx * g->ky);
        for (int c = 0; c < g->C; c++) {
            const float *plane = x + (size_t)c * g->H * g->W;
            float *dplane = dx + (size_t)c * g->H * g->W;
            for (int ox = 0; ox < g->X; ox++)
                for (int oy = 0; oy < g->Y; oy++) {
                    float gv = gy[((size_t)c * g->X + ox) * g->Y + oy];
                    long best = -1;
                    float bv = 0;
                    for (int u = 0; u < g->kx; u++) {
                        int r = ox * g->sx - g->px + u * g->dx;
                        if (r < 0 || r >= g->H) continue;
                        for (int v = 0; v < g->ky; v++) {
                            int q = oy * g->sy - g->py + v * g->dy;
                            if (q < 0 || q >= g->W) continue;
                            long at = (long)r * g->W + q;
                            if (!is_max)
                                dplane[at] += gv * inv;
                            else if (best < 0 || plane[at] > bv) {
                                best = at;
                                bv = plane[at];
                            }
                        }
                    }
                    if (is_max && best >= 0) dplane[best] += gv;
                }
        }
        break;
    }
    default: { /* CONV2D */
        int K = g->K, O = L->N;
        float *cols = cpu_scratch(j->be, worker), *dcols = cols + (size_t)M * K;
        for (int m = 0; m < M; m++)
            sbs_patch_gather(g, x, m / g->Y, m % g->Y, cols + (size_t)m * K);
        if (j->parts) {
            float *dW = j->parts + (size_t)b * L->n_w;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, K, M, 1.0f, gy, M, cols, K,
                        0.0f, dW, K);
            float *dB = j->parts + (size_t)a->B * L->n_w + (size_t)b * O;
            for (int o = 0; o < O; o++) {
                float acc = 0;
                for (int m = 0; m < M; m++) acc += gy[(size_t)o * M + m];
                dB[o] = acc;
            }
        }
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, K, O, 1.0f, gy, M, a->W, K,
                        0.0f, dcols, K);
            for (int m = 0; m < M; m++)
                cpu_patch_scatter_add(g, dcols + (size_t)m * K, m / g->Y, m % g->Y, dx);
        }
        break;
    }
    }
}

static long classic_backward(sbs_backend *be, const sbs_op_args *a)
{
    const sbs_layer *L = a->L;
    bool dw = a->gW && L->kind == SBS_L_CONV2D;
    bwd_job j = {be, a, dw ? cpu_parts(be, a->B, L->n_w + L->n_b) : NULL};
    cpu_reserve(be, L->bwd_scr);
    cpu_run(be, a->B, bwd_img, &j);
    if (dw) {
        cpu_ordered_sum(be, a->gW, j.parts, L->n_w, a->B);
        cpu_ordered_sum(be, a->gB, j.parts + (size_t)a->B * L->n_w, L->n_b, a->B);
    }
    return 0;
}

const sbs_layer_kernels cpu_k_conv2d = {.forward = classic_forward, .backward = classic_backward};
const sbs_layer_kernels cpu_k_pool = {.forward = classic_forward, .backward = classic_backward};
const sbs_layer_kernels cpu_k_relu = {.forward = classic_forward, .backward = classic_backward};
