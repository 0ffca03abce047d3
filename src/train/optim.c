/* optim.c — the learning-rate schedule (ReduceLROnPlateau) and the learning state kept beside
 * the bound net (host moments, gradient scales). The update arithmetic itself (Adam with the
 * multiplicative SbS rule, SGD, weight care) is a backend operation (backend.h). */
#include "sbs/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sbs_optim_init(sbs_optim *o, const sbs_config *cfg)
{
    memset(o, 0, sizeof *o);
    o->lr = cfg->learn.learning_rate_gamma_w > 0 ? cfg->learn.learning_rate_gamma_w : 1e-3;
    o->best = INFINITY;
    bool custom = cfg->learn.lr_scheduler_factor_w > 0 && cfg->learn.lr_scheduler_patience_w > 0;
    o->factor = custom ? cfg->learn.lr_scheduler_factor_w : 0.1;
    o->patience = custom ? cfg->learn.lr_scheduler_patience_w : 10;
    o->plateau = strcasecmp(cfg->learn.lr_schedule_name, "None") != 0;
}

bool sbs_sched_step(sbs_optim *o, double metric)
{
    if (!o->plateau) return false;
    if (metric < o->best * (1.0 - 1e-4)) {
        o->best = metric;
        o->num_bad = 0;
    } else {
        o->num_bad++;
    }
    if (o->num_bad > o->patience) {
        double nl = o->lr * o->factor;
        o->num_bad = 0;
        if (o->lr - nl > 1e-14) {
            o->lr = nl;
            return true;
        }
    }
    return false;
}

void sbs_trainer_state_init(sbs_trainer_state *s, sbs_net *net)
{
    memset(s, 0, sizeof *s);
    s->net = net;
    s->moments = xaligned((2 * net->n_params + 1) * sizeof(float));
    memset(s->moments, 0, (2 * net->n_params + 1) * sizeof(float));
    const sbs_config *cfg = net->cfg;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        s->scale[l] = 1.0f;
        s->learns[l] = L->file_weights && cfg->learn.learning_active && L->cfg->w_trainable;
    }
}

void sbs_trainer_state_free(sbs_trainer_state *s)
{
    free(s->moments);
    memset(s, 0, sizeof *s);
}

void sbs_trainer_state_download(sbs_trainer_state *s)
{
    sbs_exec_download_params(s->ex, s->net->params);
    sbs_exec_download_moments(s->ex, s->moments);
}

void sbs_trainer_state_upload(sbs_trainer_state *s)
{
    sbs_exec_upload_params(s->ex);
    sbs_exec_upload_moments(s->ex, s->moments);
}
