/* layer_classic.c — the classic layers used inside SbS nets and by the CNN twins (SPEC §1.4):
 * CONV2D (im2col + OpenBLAS sgemm), MAX/AVERAGE POOLING, RELU, forward and backward, one
 * image at a time so images spread over threads and results do not depend on the batch
 * split. */
#include "sbs/layer.h"
#include "sbs/train.h"

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

/* ---- plan ---- */

static int conv_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    if (c->out < 1 || c->in < 1)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: %s needs [in, out], "
                           "found %s", nf, L->index, c->type, c->out < 0 ? "[]" : "a zero size");
    if (sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = c->out;
    L->n_w = (size_t)L->N * L->g.K;
    L->n_b = (size_t)L->N;
    L->weight = xcalloc(L->n_w, sizeof(float));
    L->bias = xcalloc(L->n_b, sizeof(float));
    L->has_weights = L->file_weights = true;
    L->fwd_scr = (size_t)L->g.K * L->X * L->Y;
    L->bwd_scr = 2 * L->fwd_scr;
    return 0;
}

static int pool_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    if (sbs_layer_keeps_channels(L, nf, e) != 0 || sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = L->C;
    return 0;
}

static int relu_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    if (sbs_layer_keeps_channels(L, nf, e) != 0) return -1;
    L->N = L->C;
    L->X = L->H;
    L->Y = L->W;
    return 0;
}

/* ---- forward ---- */

typedef struct {
    sbs_net *net;
    const sbs_layer *L;
} img_job;

static void fwd_img(void *ctx, long b, int worker)
{
    img_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_net *net = j->net;
    size_t in_sz = (size_t)L->C * L->H * L->W, out_sz = (size_t)L->N * L->X * L->Y;
    const float *x = net->act[L->index] + (size_t)b * in_sz;
    float *y = net->act[L->index + 1] + (size_t)b * out_sz;
    switch (L->kind) {
    case SBS_L_CONV2D:
        sbs_conv2d_forward_img(&L->g, L->N, L->weight, L->bias, x, y, net->scratch[worker]);
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

static void classic_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    (void)key;
    img_job j = {net, L};
    sbs_layer_per_image(net, B, fwd_img, &j);
}

/* ---- backward ---- */

typedef struct {
    sbs_trainer_state *s;
    const sbs_layer *L;
    bool need_dx, need_dw;
} bwd_job;

static void bwd_img(void *ctx, long b, int worker)
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
    default: { /* CONV2D */
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
    }
}

static void classic_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx,
                             bool need_dw)
{
    bwd_job j = {s, L, need_dx, need_dw};
    sbs_layer_per_image(s->net, B, bwd_img, &j);
}

const sbs_layer_ops sbs_ops_conv2d = {.plan = conv_plan, .forward = classic_forward, .backward = classic_backward};
const sbs_layer_ops sbs_ops_pool = {.plan = pool_plan, .forward = classic_forward, .backward = classic_backward};
const sbs_layer_ops sbs_ops_relu = {.plan = relu_plan, .forward = classic_forward, .backward = classic_backward};
