/* layer_sbs_local.c — the plan of "SbS LOCAL" (SPEC §1.2 local-learning variant): the SbS
 * layer's plan (and forward), with a local weight rule instead of the back-propagated one.
 * The kernels are in each backend (src/backend/cpu/k_sbs_local.c).
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
 * weight rule. We do the same (via the SbS backward without weight gradient), and skip that work
 * when no layer below could use it (every trainable layer below learns locally, or none
 * trains): then the layer below gets zeros, which changes no result. */
#include "sbs/layer.h"

static int local_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    return sbs_ops_sbs.plan(net, L, nf, e);
}

static void local_init_params(sbs_layer *L)
{
    sbs_ops_sbs.init_params(L);
}

const sbs_layer_ops sbs_ops_sbs_local = {.plan = local_plan, .init_params = local_init_params};
