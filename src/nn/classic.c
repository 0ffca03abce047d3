/* classic.c — the classic layers used inside SbS nets and by the CNN twins (SPEC §1.4):
 * CONV2D (im2col + OpenBLAS sgemm), MAX/AVERAGE POOLING, RELU — one image at a time so the
 * caller can spread images over threads and results do not depend on the batch split. */
#include "sbs/net.h"

#include <cblas.h>
#include <float.h>
#include <string.h>

void sbs_conv2d_forward_img(const sbs_geom *g, int O, const float *W, const float *bias,
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

void sbs_pool_forward_img(const sbs_geom *g, bool is_max, const float *x, float *y)
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
                        if (is_max) acc = val > acc ? val : acc;
                        else acc += val;
                    }
                }
                out[ox * g->Y + oy] = is_max ? acc : acc * inv;
            }
    }
}

int sbs_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
