/* exec.c — a network plan bound to a backend (exec.h): its buffers in one place, and the
 * forward, loss, backward and update passes as sequences of the backend's operations. Knows
 * no backend and no layer's compute: each layer's kernels come from the backend's table. */
#include "sbs/exec.h"

#include <stdlib.h>
#include <string.h>

static void *balloc(sbs_exec *x, size_t bytes, bool *ok)
{
    void *p = x->be->alloc(x->be, bytes ? bytes : 64);
    if (!p) *ok = false;
    return p;
}

int sbs_exec_init(sbs_exec *x, const sbs_net *net, sbs_backend *be, int cap_B, bool training,
                  int *status, sbs_err *e)
{
    memset(x, 0, sizeof *x);
    x->be = be;
    x->net = net;
    x->cap_B = cap_B;
    x->training = training;
    x->k = xcalloc((size_t)net->n, sizeof *x->k);
    for (int l = 0; l < net->n; l++) {
        x->k[l] = be->kernels(be, net->L[l].kind);
        if (!x->k[l] || (net->L[l].own_target && !x->k[l]->loss)) {
            *status = SBS_EXIT_USAGE;
            sbs_fail(e, "layer %d (%s): the %s backend does not support this layer kind", l,
                     net->L[l].cfg->type, be->name);
            free(x->k);
            x->k = NULL;
            return -1;
        }
    }
    bool ok = true;
    size_t P = net->n_params * sizeof(float);
    x->params = balloc(x, P, &ok);
    x->act = xcalloc((size_t)net->n + 1, sizeof *x->act);
    for (int l = 0; l <= net->n; l++)
        x->act[l] = balloc(x, (size_t)cap_B * sbs_act_floats(net, l) * sizeof(float), &ok);
    if (training) {
        x->grads = balloc(x, P, &ok);
        x->chunk = balloc(x, P, &ok);
        x->moments = balloc(x, 2 * P, &ok);
        x->gact = xcalloc((size_t)net->n + 1, sizeof *x->gact);
        for (int l = 0; l <= net->n; l++)
            x->gact[l] = balloc(x, (size_t)cap_B * sbs_act_floats(net, l) * sizeof(float), &ok);
    }
    x->out = xaligned((size_t)cap_B * sbs_act_floats(net, net->n) * sizeof(float));
    if (!ok) {
        *status = SBS_EXIT_NOMEM;
        sbs_fail(e,
                 "the %s backend has no memory for the network's buffers (%.1f MiB for "
                 "batches of %d)",
                 be->name, sbs_net_memory(net, cap_B, training) / 1048576.0, cap_B);
        sbs_exec_free(x);
        return -1;
    }
    sbs_exec_upload_params(x);
    return 0;
}

void sbs_exec_free(sbs_exec *x)
{
    if (!x->be) return;
    sbs_backend *be = x->be;
    const sbs_net *net = x->net;
    be->free(be, x->params);
    be->free(be, x->grads);
    be->free(be, x->chunk);
    be->free(be, x->moments);
    for (int l = 0; x->act && l <= net->n; l++) be->free(be, x->act[l]);
    for (int l = 0; x->gact && l <= net->n; l++) be->free(be, x->gact[l]);
    free(x->act);
    free(x->gact);
    free(x->k);
    free(x->out);
    memset(x, 0, sizeof *x);
}

void sbs_exec_upload_params(sbs_exec *x)
{
    x->be->upload(x->be, x->params, x->net->params, x->net->n_params * sizeof(float));
}

void sbs_exec_download_params(sbs_exec *x, float *host)
{
    x->be->download(x->be, host, x->params, x->net->n_params * sizeof(float));
}

void sbs_exec_upload_moments(sbs_exec *x, const float *host)
{
    if (!x->moments) return; /* bound for inference: no optimizer state */
    x->be->upload(x->be, x->moments, host, 2 * x->net->n_params * sizeof(float));
}

void sbs_exec_download_moments(sbs_exec *x, float *host)
{
    if (!x->moments) return;
    x->be->download(x->be, host, x->moments, 2 * x->net->n_params * sizeof(float));
}

/* the arguments every operation of layer l shares */
static sbs_op_args op_args(sbs_exec *x, int l, int B)
{
    const sbs_layer *L = &x->net->L[l];
    const sbs_layer *P = L->ref_layer >= 0 ? &x->net->L[L->ref_layer] : L;
    sbs_op_args a = {.L = L, .B = B, .x = x->act[l], .y = x->act[l + 1]};
    if (P->weight) a.W = x->params + P->w_off;
    if (P->bias) a.b = x->params + P->b_off;
    if (L->ref_layer >= 0) {
        a.ref = P;
        a.ref_x = x->act[L->ref_layer];
    }
    return a;
}

void sbs_exec_forward(sbs_exec *x, const float *img, int B, const sbs_spike_key *key)
{
    const sbs_net *net = x->net;
    x->be->upload(x->be, x->act[0], img, (size_t)B * sbs_act_floats(net, 0) * sizeof(float));
    for (int l = 0; l < net->n; l++) {
        sbs_op_args a = op_args(x, l, B);
        a.key = key;
        x->k[l]->forward(x->be, &a);
    }
    x->be->download(x->be, x->out, x->act[net->n],
                    (size_t)B * sbs_act_floats(net, net->n) * sizeof(float));
}

void sbs_exec_download_act(sbs_exec *x, int l, int B, float *host)
{
    x->be->download(x->be, host, x->act[l], (size_t)B * sbs_act_floats(x->net, l) * sizeof(float));
}

int sbs_exec_nonfinite_layer(sbs_exec *x, int B)
{
    for (int l = 0; l < x->net->n; l++)
        if (x->be->find_nonfinite(x->be, x->act[l + 1],
                                  (size_t)B * sbs_act_floats(x->net, l + 1)) >= 0)
            return l;
    return -1;
}

double sbs_exec_loss(sbs_exec *x, const uint8_t *labels, int B)
{
    const sbs_net *net = x->net;
    const sbs_config *cfg = net->cfg;
    int n = net->n;
    float *gout = x->gact ? x->gact[n] : NULL;
    if (net->L[n - 1].own_target) {
        sbs_op_args a = op_args(x, n - 1, B);
        a.labels = labels;
        float *tmp = NULL;
        if (!gout) { /* an evaluation: the gradient is computed and dropped */
            tmp = x->be->alloc(x->be, (size_t)B * sbs_act_floats(net, n) * sizeof(float));
            if (!tmp) return -1.0;
            gout = tmp;
        }
        double loss = x->k[n - 1]->loss(x->be, &a, gout);
        x->be->free(x->be, tmp);
        return loss;
    }
    sbs_loss_args la = {.mode = cfg->learn.loss_mode,
                        .c_mse = cfg->learn.loss_coeffs_mse,
                        .c_kl = cfg->learn.loss_coeffs_kldiv,
                        .out = x->act[n],
                        .labels = labels,
                        .B = B,
                        .n_out = net->n_out,
                        .gout = gout};
    double loss = x->be->loss(x->be, &la);
    /* per-pattern sums: mode 0 sums over the batch, mode 1 averages */
    return cfg->learn.loss_mode == 1 ? loss * B : loss;
}

void sbs_exec_backward(sbs_exec *x, int B, const uint8_t *labels, const float *scale,
                       const bool *learns, sbs_absmax *measure, long *contrib)
{
    const sbs_net *net = x->net;
    sbs_backend *be = x->be;
    if (!measure) be->zero(be, x->chunk, net->n_params * sizeof(float));
    if (measure) memset(measure, 0, sizeof *measure);
    for (int l = net->n - 1; l >= 0; l--) {
        const sbs_layer *L = &net->L[l];
        bool need_dx = l > 0;
        if (contrib) contrib[l] = 0;
        size_t in_n = (size_t)B * sbs_act_floats(net, l);
        if (L->cfg->sbs_skip_gradient_calculation && l > 0) {
            /* the layer passes no gradient back */
            be->zero(be, x->gact[l], in_n * sizeof(float));
            need_dx = false;
        }
        if (!need_dx && !learns[l]) continue;
        bool need_dw = learns[l] && !measure;
        float *gy = x->gact[l + 1];
        if (L->grad_scaled && !net->cfg->learn.disable_scale_grade) {
            size_t n = (size_t)B * sbs_act_floats(net, l + 1);
            if (measure)
                measure->m[l] = be->absmax(be, gy, n);
            else if (scale[l] != 1.0f)
                be->scale(be, gy, n, 1.0f / scale[l]);
        }
        if (!need_dx && !need_dw) continue;
        sbs_op_args a = op_args(x, l, B);
        a.gy = gy;
        a.gx = need_dx ? x->gact[l] : NULL;
        a.labels = labels;
        if (need_dw) {
            a.gW = x->chunk + L->w_off;
            a.gB = L->bias ? x->chunk + L->b_off : NULL;
        }
        long c = x->k[l]->backward(be, &a);
        if (contrib && need_dw) contrib[l] = c;
    }
}

void sbs_exec_update(sbs_exec *x, const sbs_update_step *u, const bool *learns, const double *gmul)
{
    const sbs_net *net = x->net;
    size_t np = net->n_params;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!learns[l]) continue;
        sbs_update_args a = {.w = x->params + L->w_off,
                             .g = x->grads + L->w_off,
                             .m = x->moments + L->w_off,
                             .v = x->moments + np + L->w_off,
                             .n = sbs_weight_floats(L),
                             .adam = u->adam,
                             .multiplicative = L->sbs_w,
                             .grad_mul = L->sbs_w ? gmul[l] : 1.0,
                             .lr = u->lr,
                             .lr_t = u->lr_t,
                             .c2 = u->c2,
                             .care = L->sbs_w,
                             .K = L->g.K,
                             .N = L->N,
                             .ldw = L->ldw,
                             .floor_w = u->threshold / (float)L->C};
        x->be->update(x->be, &a);
        if (L->bias && L->n_b) {
            sbs_update_args b = {.w = x->params + L->b_off,
                                 .g = x->grads + L->b_off,
                                 .m = x->moments + L->b_off,
                                 .v = x->moments + np + L->b_off,
                                 .n = L->n_b,
                                 .adam = u->adam,
                                 .grad_mul = 1.0,
                                 .lr = u->lr,
                                 .lr_t = u->lr_t,
                                 .c2 = u->c2};
            x->be->update(x->be, &b);
        }
    }
}

int sbs_exec_nonfinite_params(sbs_exec *x, bool *bias, float *val)
{
    const sbs_net *net = x->net;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        for (int t = 0; t < 2; t++) {
            const float *p = x->params + (t ? L->b_off : L->w_off);
            size_t n = t ? (L->bias ? L->n_b : 0) : sbs_weight_floats(L);
            long i = n ? x->be->find_nonfinite(x->be, p, n) : -1;
            if (i >= 0) {
                *bias = t == 1;
                x->be->download(x->be, val, p + i, sizeof *val);
                return l;
            }
        }
    }
    return -1;
}

int sbs_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
