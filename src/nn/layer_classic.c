/* layer_classic.c — plans of the classic layers used inside SbS nets and by the CNN twins
 * (SPEC §1.4): CONV2D, MAX/AVERAGE POOLING, RELU. Their kernels are in each backend
 * (src/backend/cpu/k_classic.c). */
#include "sbs/layer.h"

/* ---- plan ---- */

static int conv_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    if (c->out < 1 || c->in < 1)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: %s needs [in, out], "
                        "found %s",
                        nf, L->index, c->type, c->out < 0 ? "[]" : "a zero size");
    if (sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = c->out;
    L->n_w = (size_t)L->N * L->g.K;
    L->n_b = (size_t)L->N; /* weights and bias start at 0 (the zeroed arena) */
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

const sbs_layer_ops sbs_ops_conv2d = {.plan = conv_plan};
const sbs_layer_ops sbs_ops_pool = {.plan = pool_plan};
const sbs_layer_ops sbs_ops_relu = {.plan = relu_plan};
