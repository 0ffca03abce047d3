/* fuzz_net.h — the small network the checkpoint fuzz target and its seed generator share:
 * CONV2D 2->3 (2x2, with bias), RELU, SbS POOLING 3->3 (2x2, stride 2, fixed weights),
 * SbS 3->4 (2x2), on 2x5x5 inputs, with its learning state on the host (checkpoints need no
 * backend). */
#ifndef SBS_FUZZ_NET_H
#define SBS_FUZZ_NET_H

#include "sbs/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sbs_config cfg;
    sbs_net net;
    sbs_trainer_state ts;
} fuzz_net;

static void fuzz_net_init(fuzz_net *f)
{
    memset(f, 0, sizeof *f);
    sbs_config *cfg = &f->cfg;
    static const struct {
        sbs_layer_kind kind;
        int in, out, k, s;
    } ls[] = {
        {SBS_L_CONV2D, 2, 3, 2, 1},
        {SBS_L_RELU, -1, -1, 1, 1},
        {SBS_L_SBS_POOLING, 3, 3, 2, 2},
        {SBS_L_SBS, 3, 4, 2, 1},
    };
    int n = (int)(sizeof ls / sizeof ls[0]);
    cfg->n_layers = n;
    cfg->batch_size = 2;
    cfg->number_of_output_neurons = 4;
    cfg->learn.number_of_batches_for_one_update = 1;
    cfg->learn.weight_noise_range[0] = 1.0f;
    cfg->learn.weight_noise_range[1] = 1.1f;
    cfg->learn.learning_active = true;
    snprintf(cfg->learn.optimizer_name, sizeof cfg->learn.optimizer_name, "Adam");
    snprintf(cfg->network_file, sizeof cfg->network_file, "fuzz-network.json");
    for (int l = 0; l < n; l++) {
        sbs_layer_cfg *c = &cfg->layers[l];
        c->kind = ls[l].kind;
        snprintf(c->type, sizeof c->type, "%s", sbs_layer_kind_name(c->kind));
        c->in = ls[l].in;
        c->out = ls[l].out;
        c->kernel[0] = c->kernel[1] = ls[l].k;
        c->stride[0] = c->stride[1] = ls[l].s;
        c->dilation[0] = c->dilation[1] = 1;
        c->spikes = 8;
        c->epsilon_0 = 1.0f;
        c->forgetting_offset = -1.0f;
        c->cooldown_after_number_of_spikes = -1;
        c->reduction_cooldown = 25.0f;
        c->w_trainable = true;
    }
    sbs_err e;
    if (sbs_net_plan(&f->net, cfg, 2, 5, 5, &e) != 0) {
        fprintf(stderr, "fuzz_net: plan: %s\n", e.msg);
        abort();
    }
    sbs_net_init_weights(&f->net, 7);
    sbs_trainer_state_init(&f->ts, &f->net);
}

static void fuzz_net_free(fuzz_net *f)
{
    sbs_trainer_state_free(&f->ts);
    sbs_net_free(&f->net);
}

#endif
