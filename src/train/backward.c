/* backward.c — the backward pass through the net (each layer's own backward is in its
 * src/nn/layer_*.c), gradient buffers, and the double-precision oracle of the SbS gradient.
 *
 * Layers work per image; each image writes its own input-gradient slice and its own weight
 * gradient buffer, and the per-image weight gradients are summed here in image order, so the
 * result is bitwise the same for any thread count. */
#include "sbs/layer.h"
#include "sbs/train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sbs_patch_scatter_add(const sbs_geom *g, const float *win, int ox, int oy, float *img)
{
    int i = 0;
    for (int c = 0; c < g->C; c++) {
        float *plane = img + (size_t)c * g->H * g->W;
        for (int u = 0; u < g->kx; u++) {
            int r = ox * g->sx - g->px + u * g->dx;
            for (int v = 0; v < g->ky; v++, i++) {
                int q = oy * g->sy - g->py + v * g->dy;
                if (r >= 0 && r < g->H && q >= 0 && q < g->W) plane[(size_t)r * g->W + q] += win[i];
            }
        }
    }
}

static bool layer_learns(const sbs_layer *L, const sbs_config *cfg)
{
    return L->file_weights && cfg->learn.learning_active && L->cfg->w_trainable;
}

static size_t wsize(const sbs_layer *L)
{
    return sbs_weight_floats(L);
}

void sbs_grad_init(sbs_trainer_state *s, sbs_net *net)
{
    memset(s, 0, sizeof *s);
    s->net = net;
    s->G = xcalloc((size_t)net->n, sizeof *s->G);
    s->gact = xcalloc((size_t)net->n + 1, sizeof *s->gact);
    int B = net->cap_B;
    s->gact[0] = xaligned((size_t)B * net->in_c * net->in_h * net->in_w * sizeof(float));
    size_t scr = 1;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        sbs_layer_grad *G = &s->G[l];
        s->gact[l + 1] = xaligned((size_t)B * L->N * L->X * L->Y * sizeof(float));
        G->scale = 1.0f;
        if (L->file_weights) {
            size_t n = wsize(L);
            G->gW = xcalloc(n, sizeof(float));
            G->mW = xcalloc(n, sizeof(float));
            G->vW = xcalloc(n, sizeof(float));
            G->dWb = xcalloc((size_t)B * n, sizeof(float));
            if (L->n_b) {
                G->gB = xcalloc(L->n_b, sizeof(float));
                G->mB = xcalloc(L->n_b, sizeof(float));
                G->vB = xcalloc(L->n_b, sizeof(float));
                G->dBb = xcalloc((size_t)B * L->n_b, sizeof(float));
            }
        }
        if (L->bwd_scr > scr) scr = L->bwd_scr;
    }
    s->bscr_size = scr;
    s->bscr = xcalloc((size_t)net->be->threads, sizeof *s->bscr);
    for (int w = 0; w < net->be->threads; w++) s->bscr[w] = xaligned(scr * sizeof(float));
}

void sbs_grad_free(sbs_trainer_state *s)
{
    if (!s->net) return;
    for (int l = 0; l < s->net->n; l++) {
        sbs_layer_grad *G = &s->G[l];
        free(G->gW); free(G->mW); free(G->vW); free(G->dWb);
        free(G->gB); free(G->mB); free(G->vB); free(G->dBb);
    }
    for (int l = 0; l <= s->net->n; l++) free(s->gact[l]);
    for (int w = 0; w < s->net->be->threads; w++) free(s->bscr[w]);
    free(s->bscr);
    free(s->gact);
    free(s->G);
    memset(s, 0, sizeof *s);
}

void sbs_grad_zero(sbs_trainer_state *s)
{
    for (int l = 0; l < s->net->n; l++) {
        const sbs_layer *L = &s->net->L[l];
        sbs_layer_grad *G = &s->G[l];
        if (G->gW) memset(G->gW, 0, wsize(L) * sizeof(float));
        if (G->gB) memset(G->gB, 0, L->n_b * sizeof(float));
        s->contrib[l] = 0;
    }
}

typedef struct {
    float *acc;
    const float *parts;
    size_t n, stride;
    int B;
} reduce_job;

#define REDUCE_CHUNK 4096

static void reduce_chunk(void *ctx, long c, int worker)
{
    (void)worker;
    reduce_job *r = ctx;
    size_t lo = (size_t)c * REDUCE_CHUNK, hi = lo + REDUCE_CHUNK < r->n ? lo + REDUCE_CHUNK : r->n;
    for (int b = 0; b < r->B; b++) {
        const float *p = r->parts + (size_t)b * r->stride;
        for (size_t i = lo; i < hi; i++) r->acc[i] += p[i];
    }
}

static void ordered_sum(sbs_pool *pool, float *acc, const float *parts, size_t n, int B)
{
    reduce_job r = {acc, parts, n, n, B};
    sbs_pool_run(pool, (long)((n + REDUCE_CHUNK - 1) / REDUCE_CHUNK), reduce_chunk, &r);
}

void sbs_net_backward(sbs_trainer_state *s, int B)
{
    sbs_net *net = s->net;
    const sbs_config *cfg = net->cfg;
    for (int l = net->n - 1; l >= 0; l--) {
        sbs_layer *L = &net->L[l];
        sbs_layer_grad *G = &s->G[l];
        bool need_dx = l > 0, need_dw = layer_learns(L, cfg);
        if (L->cfg->sbs_skip_gradient_calculation && l > 0) {
            /* the layer passes no gradient back */
            memset(s->gact[l], 0, (size_t)B * L->C * L->H * L->W * sizeof(float));
            need_dx = false;
        }
        if (!need_dx && !need_dw) continue;
        L->ops->backward(s, L, B, need_dx, need_dw);
        if (need_dw) {
            ordered_sum(net->be->pool, G->gW, G->dWb, wsize(L), B);
            if (G->gB) ordered_sum(net->be->pool, G->gB, G->dBb, L->n_b, B);
        }
    }
}

void sbs_ref_sbs_backward(const sbs_geom *g, int N, const float *W, int ldw, const float *x,
                          const float *h, const float *gh, int B, double *dx, double *dW)
{
    int K = g->K, M = g->X * g->Y;
    size_t in_sz = (size_t)g->C * g->H * g->W;
    memset(dx, 0, (size_t)B * in_sz * sizeof *dx);
    memset(dW, 0, (size_t)K * N * sizeof *dW);
    float *win = malloc((size_t)K * sizeof *win);
    double *R = malloc((size_t)K * sizeof *R), *Q = malloc((size_t)K * sizeof *Q);
    if (!win || !R || !Q) abort();
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            int ox = m / g->Y, oy = m % g->Y;
            sbs_patch_gather(g, x + (size_t)b * in_sz, ox, oy, win);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += win[i];
            const float *hv = h + (size_t)b * N * M + m, *gv = gh + (size_t)b * N * M + m;
            for (int i = 0; i < K; i++) {
                double r = 0, q = 0;
                for (int n = 0; n < N; n++) {
                    r += (double)W[(size_t)i * ldw + n] * hv[(size_t)n * M];
                    q += (double)W[(size_t)i * ldw + n] * hv[(size_t)n * M] * gv[(size_t)n * M];
                }
                R[i] = r;
                Q[i] = q;
            }
            /* dL/dx_i = sum_n W h g / (R + 1e-20), routed back through the window */
            for (int c = 0, i = 0; c < g->C; c++)
                for (int u = 0; u < g->kx; u++)
                    for (int v = 0; v < g->ky; v++, i++) {
                        int r = ox * g->sx - g->px + u * g->dx, q = oy * g->sy - g->py + v * g->dy;
                        if (r < 0 || r >= g->H || q < 0 || q >= g->W) continue;
                        dx[(size_t)b * in_sz + ((size_t)c * g->H + r) * g->W + q] += Q[i] / (R[i] + 1e-20);
                    }
            for (int i = 0; i < K; i++) {
                double p = win[i] / (sum + 1e-20);
                for (int n = 0; n < N; n++)
                    dW[(size_t)i * N + n] += hv[(size_t)n * M] * p / (R[i] * R[i] + 1e-20) *
                                             (R[i] * gv[(size_t)n * M] - Q[i]);
            }
        }
    free(win); free(R); free(Q);
}
