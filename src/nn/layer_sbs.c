/* layer_sbs.c — the plan of the SbS layer and SbS POOLING (SPEC §1.2, §1.3): window, spikes,
 * weight shape and the CPU kernels' scratch; once the parameters exist (sbs_net_alloc_params),
 * the step sizes and SbS POOLING's fixed weights. The kernels are in each backend
 * (src/backend/cpu/k_sbs.c). */
#include "sbs/layer.h"

static int sbs_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (c->out < 0)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: SbS layer needs "
                        "[in, out], found []",
                        nf, l);
    if (c->out <= 2)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: SbS layer needs "
                        "more than 2 neurons, found %d",
                        nf, l, c->out);
    if (c->kind == SBS_L_SBS_POOLING && c->out != L->C)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: SbS POOLING needs "
                        "as many neurons as input channels (%d), found %d",
                        nf, l, L->C, c->out);
    if (sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = c->out;
    L->T = c->spikes;
    L->fo = c->forgetting_offset;
    L->ldw = sbs_pad_n(L->N);
    L->n_w = (size_t)L->g.K * L->N;
    L->has_weights = true;
    L->sbs_w = true;
    L->grad_scaled = true;
    L->file_weights = c->kind != SBS_L_SBS_POOLING;
    size_t M = (size_t)L->X * L->Y, K = (size_t)L->g.K;
    L->bwd_scr = 3 * M * K + (size_t)L->N * M + K;
    return 0;
}

/* The step sizes; SbS POOLING's fixed weights (1 / (kx ky) from each input channel's window
 * to the neuron of that channel) into its zeroed weight view. */
static void sbs_init_params(sbs_layer *L)
{
    const sbs_layer_cfg *c = L->cfg;
    L->eps = xmalloc((size_t)L->T * sizeof(float));
    sbs_eps_table(c->epsilon_0, c->cooldown_after_number_of_spikes, c->reduction_cooldown, L->T,
                  L->eps);
    if (c->kind == SBS_L_SBS_POOLING) {
        int k = c->kernel[0] * c->kernel[1];
        for (int ch = 0; ch < L->C; ch++)
            for (int j = 0; j < k; j++) L->weight[((size_t)ch * k + j) * L->ldw + ch] = 1.0f / k;
    }
}

const sbs_layer_ops sbs_ops_sbs = {.plan = sbs_plan, .init_params = sbs_init_params};
