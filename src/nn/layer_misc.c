/* layer_misc.c — the plans of the input-side layers of the reference (SPEC §1.5): ONOFF,
 * POISSON and INPUT SPIKE IMAGE. None has weights; their kernels are in each backend
 * (src/backend/cpu/k_misc.c) and work one image at a time.
 *
 * ONOFF             out channel c = relu(x_c - 0.5), channel C + c = relu(0.5 - x_c);
 *                   exact gradient (0 at x == 0.5, like RELU at 0).
 * POISSON           rate_i = T x_i / (max_i x_i + 1e-20) over the image's C*H*W values,
 *                   counts_i ~ Poisson(rate_i), out_i = counts_i / (sum counts + 1e-20);
 *                   identity (straight-through) gradient.
 * INPUT SPIKE IMAGE T spikes from one categorical distribution over all C*H*W pixels
 *                   (p = x / sum x; a blank image samples uniformly), out_i = count_i * C*H*W / T
 *                   (mean 1); identity gradient.
 *
 * T is the layer's number_of_spikes; it is kept in the config, not in L->T (which marks SbS
 * layers whose spikes run per position), so sbs_net_spikes_per_image counts SbS updates only.
 *
 * Random numbers are pure functions of (seed, pass, layer, sample, pixel/step), so outputs do
 * not depend on threads or batch split:
 *   POISSON: Philox counter {block, pixel, sample, SBS_RNG_POISSON<<24 | layer<<16 | pass},
 *            key = seed; the draws of one pixel read the blocks 0, 1, 2, ... in order, two
 *            32-bit words per uniform double (53 bits).
 *   INPUT SPIKE IMAGE: the SbS spike sampler (sbs.h) with tag sbs_spike_tag(layer, pass),
 *            sample = first_sample + b, position 0, over the alias table of the whole image. */
#include "sbs/layer.h"

/* ---- ONOFF ---- */

static int onoff_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    if (2LL * L->C > SBS_MAX_COUNT)
        return sbs_fail(e,
                        "%s: network_structure.layer_type[%d]: ONOFF doubles the %d input "
                        "channels to %lld, more than %d this build supports",
                        nf, L->index, L->C, 2LL * L->C, SBS_MAX_COUNT);
    if (c->out >= 0 && c->out != 2 * L->C)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: ONOFF doubles the "
                        "channels: expected [%d, %d], found [%d, %d]",
                        nf, L->index, L->C, 2 * L->C, c->in, c->out);
    L->N = 2 * L->C;
    L->X = L->H;
    L->Y = L->W;
    return 0;
}

/* ---- shared by POISSON and INPUT SPIKE IMAGE ---- */

static int spikes_plan(sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    if (sbs_layer_keeps_channels(L, nf, e) != 0) return -1;
    if (c->spikes < 1)
        return sbs_fail(e, "%s: number_of_spikes[%d]: %s needs at least 1 spike, found %d", nf,
                        L->index, c->type, c->spikes);
    L->N = L->C;
    L->X = L->H;
    L->Y = L->W;
    return 0;
}

/* ---- POISSON ---- */

static int poisson_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    return spikes_plan(L, nf, e);
}

/* ---- INPUT SPIKE IMAGE ---- */

/* Per-worker scratch (floats): 3n doubles (alias build), thr and alias (n each), T indices. */
static size_t ispk_scratch(size_t n, int T)
{
    return 6 * n + 2 * n + (size_t)T + 16;
}

static int ispk_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    if (spikes_plan(L, nf, e) != 0) return -1;
    L->fwd_scr = ispk_scratch((size_t)L->C * L->H * L->W, L->cfg->spikes);
    return 0;
}

const sbs_layer_ops sbs_ops_onoff = {.plan = onoff_plan};
const sbs_layer_ops sbs_ops_poisson = {.plan = poisson_plan};
const sbs_layer_ops sbs_ops_input_spike_image = {.plan = ispk_plan};
