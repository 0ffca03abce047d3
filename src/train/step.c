/* step.c — one update window (SPEC §2): for each chunk of this process's share, forward,
 * loss and backward into the chunk's gradient sums; the chunk sums added in chunk order (by
 * the reducer across processes); the gradient scale measured on the first update of a run;
 * the learning-rate step after a window when the schedule runs per update; the update with
 * weight care; the finite-value checks. */
#include "sbs/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* extra scalars per chunk after loss, correct and seen: one contribution count per layer */
#define SCAL_FIXED 3

typedef struct {
    sbs_trainer_state *s;
    const sbs_chunk_source *src;
    float *img;
    uint8_t *lab;
    double t_data, t_fwd;
    bool failed; /* a chunk of this process had a non-finite loss (e says where) */
} chunk_io;

/* Load chunk k and run its forward and loss; *B gets its size. 0, or -1 with e saying which
 * layer made the loss non-finite. */
static int chunk_forward(chunk_io *io, int k, int *B, double *loss, long *correct, sbs_err *e)
{
    sbs_exec *x = io->s->ex;
    const sbs_net *net = io->s->net;
    sbs_spike_key key;
    double t0 = sbs_now();
    io->src->load(io->src->ctx, k, io->img, io->lab, B, &key);
    double t1 = sbs_now();
    sbs_exec_forward(x, io->img, *B, &key);
    *loss = sbs_exec_loss(x, io->lab, *B);
    io->t_data += t1 - t0;
    io->t_fwd += sbs_now() - t1;
    if (!isfinite(*loss)) {
        const sbs_chunk_source *c = io->src;
        io->failed = true;
        int bad = sbs_exec_nonfinite_layer(x, *B);
        if (bad >= 0)
            return sbs_fail(e,
                            "epoch %d sub-batch %d: layer %d (%s) produced %s values and the "
                            "loss became %g; stopped, the weights of the last update are kept "
                            "in %s",
                            c->epoch, c->first_sub + k, bad, net->L[bad].cfg->type, "non-finite",
                            *loss, c->out_dir);
        return sbs_fail(e,
                        "epoch %d sub-batch %d: the loss became %g; stopped, the weights of "
                        "the last update are kept in %s",
                        c->epoch, c->first_sub + k, *loss, c->out_dir);
    }
    *correct = 0;
    if (!net->L[net->n - 1].own_target)
        for (int i = 0; i < *B; i++)
            *correct += sbs_argmax(x->out + (size_t)i * net->n_out, net->n_out) == io->lab[i];
    return 0;
}

/* A chunk of this process failed (e says which) or, without that, one of another process's
 * share: every process stops at the same point. */
static int remote_failure(const chunk_io *io, sbs_err *e)
{
    if (io->failed) return -1;
    const sbs_chunk_source *c = io->src;
    return sbs_fail(e,
                    "epoch %d, the update window from sub-batch %d: the loss became "
                    "non-finite on another process (its message names the sub-batch and "
                    "layer); stopped, the weights of the last update are kept in %s",
                    c->epoch, c->first_sub, c->out_dir);
}

static bool needs_measure(const sbs_trainer_state *s, const sbs_optim *opt)
{
    const sbs_config *cfg = s->net->cfg;
    if (opt->t != 0 || !cfg->learn.kepp_last_grad_scale || cfg->learn.disable_scale_grade)
        return false;
    for (int l = 0; l < s->net->n; l++)
        if (s->net->L[l].grad_scaled && !s->scale_frozen[l]) return true;
    return false;
}

/* The gradient scale S of every SbS-like layer from the maxima of its unscaled incoming
 * gradient over the window (SPEC §1.2): the backward is linear in its incoming gradient, so a
 * layer's scaled gradient is its unscaled one divided by the scales of the layers above it,
 * and S_l = max|g_l| / prod_{j > l} S_j, set from the top down. */
static int measure_scales(chunk_io *io, int first, int count, sbs_reducer *red, sbs_err *e)
{
    sbs_trainer_state *s = io->s;
    const sbs_net *net = s->net;
    float mx[SBS_MAX_LAYERS + 1] = {0}; /* + 1: a process failed (several processes) */
    for (int k = first; k < first + count; k++) {
        int B;
        double loss;
        long corr;
        if (chunk_forward(io, k, &B, &loss, &corr, e) != 0) {
            if (!red || red->size <= 1) return -1;
            mx[net->n] = 1.0f; /* the others wait in the maximum: fail there together */
            break;
        }
        sbs_absmax m;
        sbs_exec_backward(s->ex, B, io->lab, s->scale, s->learns, &m, NULL);
        for (int l = 0; l < net->n; l++) mx[l] = fmaxf(mx[l], m.m[l]);
    }
    if (red && red->max(red, mx, net->n + 1, e) != 0) return -1;
    if (mx[net->n] > 0.0f) return remote_failure(io, e);
    double above = 1.0;
    for (int l = net->n - 1; l >= 0; l--) {
        if (!net->L[l].grad_scaled) continue;
        if (!s->scale_frozen[l]) {
            float S = (float)(mx[l] / above);
            if (S > 0.0f && isfinite(S)) {
                s->scale[l] = S;
                s->scale_set[l] = true;
            }
        }
        above *= s->scale[l];
    }
    return 0;
}

int sbs_train_step(sbs_trainer_state *s, sbs_optim *opt, const sbs_chunk_source *src, int n,
                   bool apply, sbs_reducer *red, sbs_window_sums *out, sbs_err *e)
{
    memset(out, 0, sizeof *out);
    sbs_exec *x = s->ex;
    const sbs_net *net = s->net;
    const sbs_config *cfg = net->cfg;
    sbs_backend *be = x->be;
    bool learn = cfg->learn.learning_active && apply;
    bool multi = red && red->size > 1;
    int first = 0, count = n;
    if (red) red->share(red, n, &first, &count);
    int nl = net->n, n_scal = SCAL_FIXED + nl;
    size_t np = net->n_params;
    chunk_io io = {s,
                   src,
                   xaligned((size_t)x->cap_B * sbs_act_floats(net, 0) * sizeof(float)),
                   xmalloc((size_t)x->cap_B),
                   0,
                   0,
                   false};
    double *scal = xcalloc((size_t)(count ? count : 1) * n_scal, sizeof *scal);
    double tot[SCAL_FIXED + SBS_MAX_LAYERS] = {0};
    float *parts = NULL, *acc = NULL;
    int rc = -1;

    if (learn && needs_measure(s, opt) && measure_scales(&io, first, count, red, e) != 0) goto done;
    if (learn) {
        be->zero(be, x->grads, np * sizeof(float));
        if (multi) parts = xaligned(((size_t)count * np + 1) * sizeof(float));
    }
    for (int k = first; k < first + count; k++) {
        int B;
        double loss;
        long corr;
        double *sc = scal + (size_t)(k - first) * n_scal;
        if (chunk_forward(&io, k, &B, &loss, &corr, e) != 0) {
            if (!multi) goto done;
            /* the others wait in the sum: the non-finite loss in it stops them all (below) */
            sc[0] = NAN;
            if (parts)
                memset(parts + (size_t)(k - first) * np, 0, (size_t)(first + count - k) * np * 4);
            break;
        }
        sc[0] = loss;
        sc[1] = (double)corr;
        sc[2] = B;
        if (!learn) continue;
        double t0 = sbs_now();
        long contrib[SBS_MAX_LAYERS];
        sbs_exec_backward(x, B, io.lab, s->scale, s->learns, NULL, contrib);
        for (int l = 0; l < nl; l++) sc[SCAL_FIXED + l] = (double)contrib[l];
        if (multi)
            be->download(be, parts + (size_t)(k - first) * np, x->chunk, np * sizeof(float));
        else
            be->add(be, x->grads, x->chunk, np);
        out->t_bwd += sbs_now() - t0;
    }
    if (multi) {
        if (learn) acc = xaligned((np + 1) * sizeof(float));
        if (red->sum(red, parts, scal, count, learn ? np : 0, n_scal, acc, tot, e) != 0) goto done;
        if (!isfinite(tot[0])) {
            remote_failure(&io, e);
            goto done;
        }
        if (learn) be->upload(be, x->grads, acc, np * sizeof(float));
    } else {
        for (int k = 0; k < count; k++)
            for (int i = 0; i < n_scal; i++) tot[i] += scal[(size_t)k * n_scal + i];
    }
    out->t_data = io.t_data;
    out->t_fwd = io.t_fwd;
    double t_u = sbs_now();
    out->loss = tot[0];
    out->correct = (long)tot[1];
    out->seen = (long)tot[2];
    if (learn) {
        if (cfg->learn.adapt_learning_rate_after_minibatch)
            sbs_sched_step(opt, cfg->learn.lr_scheduler_use_performance
                                    ? 100.0 - 100.0 * out->correct / out->seen
                                    : out->loss / out->seen);
        opt->t++;
        sbs_update_step u = {.adam = strcasecmp(cfg->learn.optimizer_name, "SGD") != 0,
                             .lr = opt->lr,
                             .lr_t = opt->lr / (1.0 - pow(0.9, opt->t)),
                             .c2 = sqrt(1.0 - pow(0.999, opt->t)),
                             .threshold = cfg->learn.learning_rate_threshold_w};
        double gmul[SBS_MAX_LAYERS];
        for (int l = 0; l < nl; l++) {
            double c = tot[SCAL_FIXED + l];
            gmul[l] = c > 0 ? 1.0 / c : 1.0;
        }
        sbs_exec_update(x, &u, s->learns, gmul);
        for (int l = 0; l < nl; l++)
            if (s->scale_set[l]) s->scale_frozen[l] = true;
        bool is_bias;
        float val;
        int bad = sbs_exec_nonfinite_params(x, &is_bias, &val);
        if (bad >= 0) {
            sbs_fail(e, "layer %d (%s): a %s became %g; stopped, the last good weights are kept",
                     bad, net->L[bad].cfg->type, is_bias ? "bias" : "weight", (double)val);
            goto done;
        }
    }
    out->t_upd = sbs_now() - t_u;
    rc = 0;
done:
    free(io.img);
    free(io.lab);
    free(scal);
    free(parts);
    free(acc);
    return rc;
}
