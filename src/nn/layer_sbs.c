/* layer_sbs.c — the SbS layer and SbS POOLING (SPEC §1.2, §1.3): plan, forward through the
 * backend's fused sampler + dynamics, and the paper's approximate backward.
 *
 * Backward works per image; the dense parts (reconstruction R = W h, Q = W (h*g), the weight
 * gradient) are OpenBLAS sgemm calls over the positions of the image, and each image writes
 * its own weight-gradient buffer (summed in image order by the caller). */
#include "sbs/layer.h"
#include "sbs/train.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static int sbs_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (c->out < 0)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: SbS layer needs "
                           "[in, out], found []", nf, l);
    if (c->out <= 2)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: SbS layer needs "
                           "more than 2 neurons, found %d", nf, l, c->out);
    if (c->kind == SBS_L_SBS_POOLING && c->out != L->C)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: SbS POOLING needs "
                           "as many neurons as input channels (%d), found %d", nf, l, L->C, c->out);
    if (sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = c->out;
    L->T = c->spikes;
    L->eps = xmalloc((size_t)L->T * sizeof(float));
    sbs_eps_table(c->epsilon_0, c->cooldown_after_number_of_spikes, c->reduction_cooldown, L->T,
                  L->eps);
    L->fo = c->forgetting_offset;
    L->ldw = sbs_pad_n(L->N);
    L->n_w = (size_t)L->g.K * L->N;
    L->weight = xaligned((size_t)L->g.K * L->ldw * sizeof(float));
    memset(L->weight, 0, (size_t)L->g.K * L->ldw * sizeof(float));
    L->has_weights = true;
    L->sbs_w = true;
    L->file_weights = c->kind != SBS_L_SBS_POOLING;
    if (c->kind == SBS_L_SBS_POOLING) {
        int k = c->kernel[0] * c->kernel[1];
        for (int ch = 0; ch < L->C; ch++)
            for (int j = 0; j < k; j++) L->weight[(size_t)(ch * k + j) * L->ldw + ch] = 1.0f / k;
    }
    size_t M = (size_t)L->X * L->Y, K = (size_t)L->g.K;
    L->bwd_scr = 3 * M * K + (size_t)L->N * M + K;
    return 0;
}

static void sbs_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    sbs_layer_args a = {.g = L->g, .N = L->N, .W = L->weight, .ldw = L->ldw, .T = L->T,
                        .eps = L->eps, .forgetting_offset = L->fo, .layer = L->index,
                        .full_layer = L->cfg->spike_full_layer_input_distribution};
    net->be->sbs_forward(net->be, &a, net->act[L->index], B, key, net->act[L->index + 1]);
}

void sbs_layer_windows(const sbs_layer *L, const float *x, float *P)
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
    sbs_layer_windows(L, x, P);
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

/* Gradient scaling (SPEC §1.2): g /= S, S the running max of max|g| over the sub-batches of
 * the first update of the run (kepp_last_grad_scale), then frozen; 1 when unset. */
void sbs_scale_gradient(sbs_trainer_state *s, const sbs_layer *L, int B)
{
    const sbs_config *cfg = s->net->cfg;
    sbs_layer_grad *G = &s->G[L->index];
    if (cfg->learn.disable_scale_grade) return;
    float *g = s->gact[L->index + 1];
    size_t gn = (size_t)B * L->N * L->X * L->Y;
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

static void sbs_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx, bool need_dw)
{
    sbs_scale_gradient(s, L, B);
    bwd_job j = {s, L, need_dx, need_dw};
    sbs_layer_per_image(s->net, B, sbs_bwd_img, &j);
    s->contrib[L->index] += (long)B * L->X * L->Y;
}

const sbs_layer_ops sbs_ops_sbs = {.plan = sbs_plan, .forward = sbs_forward, .backward = sbs_backward};
