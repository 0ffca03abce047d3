/* layer_sbs_local.c — "SbS LOCAL" (SPEC §1.2 local-learning variant): the SbS layer's plan and
 * forward, with a local weight rule instead of the back-propagated one.
 *
 * With p the normalised input window, R = W h the reconstruction and h the output at each
 * (pattern, position), summed over the sub-batch and all positions:
 *   hidden layer:             dW[i,n] = sum -2 (p_i - R_i) h_n
 *   output layer (the last):  dW[i,n] = sum -2 (p_i - R_i) onehot(label)_n
 * (the reference's HDynamicLayer / FunctionalSbS backward). Contributions are counted like
 * SbS (B*X*Y per sub-batch), so the update divides by the same count.
 *
 * Gradient to the layer below: the reference computes the ordinary SbS input gradient
 * (grad_input, from the scaled upstream gradient) before it picks the weight rule, so a LOCAL
 * layer does pass the SbS gradient down; the upstream gradient is ignored only by its own
 * weight rule. We do the same (via the SbS backward with need_dw = false), and skip that work
 * when no layer below could use it (every trainable layer below learns locally, or none
 * trains): then the layer below gets zeros, which changes no result. */
#include "sbs/layer.h"
#include "sbs/train.h"

#include <cblas.h>
#include <string.h>

static int local_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    return sbs_ops_sbs.plan(net, L, nf, e);
}

static void local_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    sbs_ops_sbs.forward(net, L, B, key);
}

typedef struct {
    sbs_trainer_state *s;
    const sbs_layer *L;
    bool output;          /* last layer: one-hot of the label instead of h */
} local_job;

static void local_dw_img(void *ctx, long b, int worker)
{
    local_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_trainer_state *s = j->s;
    sbs_net *net = s->net;
    int l = L->index, M = L->X * L->Y, K = L->g.K, N = L->N, ldw = L->ldw;
    size_t in_sz = (size_t)L->C * L->H * L->W;
    const float *x = net->act[l] + (size_t)b * in_sz;
    const float *H = net->act[l + 1] + (size_t)b * N * M;
    float *P = s->bscr[worker], *R = P + (size_t)M * K;
    sbs_layer_windows(L, x, P);
    /* R (M x K) = H^T W^T, then D = -2 (P - R) in place of R */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, M, K, N, 1.0f, H, M, L->weight, ldw, 0.0f,
                R, K);
    for (size_t i = 0; i < (size_t)M * K; i++) R[i] = -2.0f * (P[i] - R[i]);
    float *dW = s->G[l].dWb + (size_t)b * K * ldw;
    if (!j->output) {
        /* dW (K x N) = D^T H^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, K, N, M, 1.0f, R, K, H, M, 0.0f, dW,
                    ldw);
        return;
    }
    memset(dW, 0, (size_t)K * ldw * sizeof(float));
    int lab = s->labels ? s->labels[b] : -1;
    if (lab < 0 || lab >= N) return;
    /* column `lab`: sum over positions of D */
    for (int i = 0; i < K; i++) {
        float acc = 0.0f;
        for (int m = 0; m < M; m++) acc += R[(size_t)m * K + i];
        dW[(size_t)i * ldw + lab] = acc;
    }
}

/* Does any layer below l learn from the gradient that reaches it? */
static bool below_uses_gradient(const sbs_net *net, int l)
{
    for (int k = 0; k < l; k++) {
        const sbs_layer *Lk = &net->L[k];
        if (Lk->file_weights && Lk->cfg->w_trainable && net->cfg->learn.learning_active &&
            Lk->kind != SBS_L_SBS_LOCAL)
            return true;
    }
    return false;
}

static void local_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx, bool need_dw)
{
    sbs_net *net = s->net;
    if (need_dx && below_uses_gradient(net, L->index)) {
        /* scales the upstream gradient, writes dL/dx, counts the contributions */
        sbs_ops_sbs.backward(s, L, B, true, false);
    } else {
        if (need_dx)
            memset(s->gact[L->index], 0, (size_t)B * L->C * L->H * L->W * sizeof(float));
        s->contrib[L->index] += (long)B * L->X * L->Y;
    }
    if (need_dw) {
        local_job j = {s, L, L->index == net->n - 1};
        sbs_layer_per_image(net, B, local_dw_img, &j);
    }
}

const sbs_layer_ops sbs_ops_sbs_local = {local_plan, local_forward, local_backward, NULL};
