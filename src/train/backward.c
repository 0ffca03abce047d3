/* backward.c — backward passes (SPEC §1.2 approximate SbS gradient, §1.4 classic layers).
 *
 * Work is split per image; each image writes its own input-gradient slice and its own weight
 * gradient buffer, and the per-image weight gradients are summed in image order afterwards,
 * so the result is bitwise the same for any thread count. The dense parts (reconstruction
 * R = W h, Q = W (h*g), and the weight gradient) are OpenBLAS sgemm calls over the
 * positions of one image. */
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
    return L->T > 0 ? (size_t)L->g.K * L->ldw : L->n_w;
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
        size_t M = (size_t)L->X * L->Y, K = (size_t)L->g.K, need = 0;
        if (L->T > 0) need = 3 * M * K + (size_t)L->N * M + K;
        else if (L->kind == SBS_L_CONV2D) need = 2 * M * K;
        if (need > scr) scr = need;
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
    sbs_trainer_state *s;
    const sbs_layer *L;
    bool need_dx, need_dw;
} bwd_job;

static void sbs_bwd_img(void *ctx, long b, int worker)
{
    bwd_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_trainer_state *s = j->s;
    sbs_net *net = s->net;
    int l = L->index, M = L->X * L->Y, K = L->g.K, N = L->N, ldw = L->ldw;
    size_t in_sz = (size_t)L->C * L->H * L->W;
    const float *x = net->act[l] + (size_t)b * in_sz;
    const float *H = net->act[l + 1] + (size_t)b * N * M;
    const float *Gh = s->gact[l + 1] + (size_t)b * N * M;
    float *P = s->bscr[worker], *R = P + (size_t)M * K, *Q = R + (size_t)M * K;
    float *HG = Q + (size_t)M * K, *tmp = HG + (size_t)N * M;
    for (int m = 0; m < M; m++) {
        float *p = P + (size_t)m * K;
        sbs_patch_gather(&L->g, x, m / L->Y, m % L->Y, p);
        double sum = 0;
        for (int i = 0; i < K; i++) sum += p[i];
        float inv = (float)(1.0 / (sum + 1e-20));
        for (int i = 0; i < K; i++) p[i] *= inv;
    }
    for (size_t i = 0; i < (size_t)N * M; i++) HG[i] = H[i] * Gh[i];
    /* R (M x K) = H^T W^T,  Q (M x K) = HG^T W^T */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, M, K, N, 1.0f, H, M, L->weight, ldw, 0.0f,
                R, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, M, K, N, 1.0f, HG, M, L->weight, ldw, 0.0f,
                Q, K);
    if (j->need_dx) {
        float *dx = s->gact[l] + (size_t)b * in_sz;
        memset(dx, 0, in_sz * sizeof(float));
        for (int m = 0; m < M; m++) {
            const float *r = R + (size_t)m * K, *q = Q + (size_t)m * K;
            for (int i = 0; i < K; i++) tmp[i] = q[i] / (r[i] + 1e-20f);
            sbs_patch_scatter_add(&L->g, tmp, m / L->Y, m % L->Y, dx);
        }
    }
    if (j->need_dw) {
        for (size_t i = 0; i < (size_t)M * K; i++) {
            float d = R[i] * R[i] + 1e-20f;
            float a = P[i] * R[i] / d, bq = P[i] * Q[i] / d;
            R[i] = a;
            Q[i] = bq;
        }
        float *dW = s->G[l].dWb + (size_t)b * K * ldw;
        /* dW (K x N) = A^T HG^T - Bq^T H^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, K, N, M, 1.0f, R, K, HG, M, 0.0f, dW,
                    ldw);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, K, N, M, -1.0f, Q, K, H, M, 1.0f, dW,
                    ldw);
    }
}

static void classic_bwd_img(void *ctx, long b, int worker)
{
    bwd_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_trainer_state *s = j->s;
    sbs_net *net = s->net;
    int l = L->index, M = L->X * L->Y;
    size_t in_sz = (size_t)L->C * L->H * L->W, out_sz = (size_t)L->N * M;
    const float *x = net->act[l] + (size_t)b * in_sz;
    const float *gy = s->gact[l + 1] + (size_t)b * out_sz;
    float *dx = j->need_dx ? s->gact[l] + (size_t)b * in_sz : NULL;
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
                            if (!is_max) dplane[at] += gv * inv;
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
    case SBS_L_CONV2D: {
        int K = g->K, O = L->N;
        float *cols = s->bscr[worker], *dcols = cols + (size_t)M * K;
        for (int m = 0; m < M; m++) sbs_patch_gather(g, x, m / g->Y, m % g->Y, cols + (size_t)m * K);
        if (j->need_dw) {
            float *dW = s->G[l].dWb + (size_t)b * L->n_w;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, K, M, 1.0f, gy, M, cols, K,
                        0.0f, dW, K);
            float *dB = s->G[l].dBb + (size_t)b * O;
            for (int o = 0; o < O; o++) {
                float acc = 0;
                for (int m = 0; m < M; m++) acc += gy[(size_t)o * M + m];
                dB[o] = acc;
            }
        }
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, K, O, 1.0f, gy, M, L->weight,
                        K, 0.0f, dcols, K);
            for (int m = 0; m < M; m++)
                sbs_patch_scatter_add(g, dcols + (size_t)m * K, m / g->Y, m % g->Y, dx);
        }
        break;
    }
    default:
        break;
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
        const sbs_layer *L = &net->L[l];
        sbs_layer_grad *G = &s->G[l];
        bool skip = L->cfg->sbs_skip_gradient_calculation && L->T > 0;
        bwd_job j = {s, L, l > 0, layer_learns(L, cfg)};
        if (skip && l > 0) {
            memset(s->gact[l], 0, (size_t)B * L->C * L->H * L->W * sizeof(float));
            j.need_dx = false;
        }
        if (!j.need_dx && !j.need_dw) continue;
        size_t gn = (size_t)B * L->N * L->X * L->Y;
        if (L->T > 0) {
            float *g = s->gact[l + 1];
            if (!cfg->learn.disable_scale_grade) {
                if (s->update_scale && cfg->learn.kepp_last_grad_scale && !G->scale_frozen) {
                    float mx = 0;
                    for (size_t i = 0; i < gn; i++) mx = fmaxf(mx, fabsf(g[i]));
                    if (mx > 0 && (!G->scale_set || mx > G->scale)) {
                        G->scale = mx;
                        G->scale_set = true;
                    }
                }
                if (G->scale != 1.0f) {
                    float inv = 1.0f / G->scale;
                    for (size_t i = 0; i < gn; i++) g[i] *= inv;
                }
            }
            sbs_pool_run(net->be->pool, B, sbs_bwd_img, &j);
            s->contrib[l] += (long)B * L->X * L->Y;
        } else {
            sbs_pool_run(net->be->pool, B, classic_bwd_img, &j);
        }
        if (j.need_dw) {
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
