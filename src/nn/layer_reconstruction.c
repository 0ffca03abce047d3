/* layer_reconstruction.c — the plan of "RECONSTRUCTION" (SPEC §1.5), whose kernels are in
 * each backend (src/backend/cpu/k_reconstruction.c). Placed after an SbS layer S
 * (L->ref_layer, the previous layer), it maps S's output h (B, N, X, Y) back to S's input
 * space with S's weights: per position, hn = h / sum h, R = W hn, output o = R / sum R
 * (B, K, X, Y), K = S's window size. No weights of its own (S's weights are read, never
 * trained here), as the reference's SbSReconstruction.
 *
 * As the last layer it defines its own training target (L->own_target, the `loss` kernel):
 * the mixed loss of SPEC §2 (loss_mode 0, loss_coeffs_mse / loss_coeffs_kldiv) of o against
 * S's normalised input windows p = x / sum x (uniform for a window summing to 0), summed over
 * patterns and positions — the reference's loss_function_reconstruction against S.last_input_data.
 * Backward routes dL/do exactly through o = R / sum R, R = W hn and hn = h / sum h to dL/dh;
 * S's own (approximate) backward then turns that into its weight gradient, so S learns
 * without labels. */
#include "sbs/layer.h"

#include <string.h>

static bool is_sbs_kind(sbs_layer_kind k)
{
    return k == SBS_L_SBS || k == SBS_L_SBS_LOCAL || k == SBS_L_SBS_POOLING;
}

static int recon_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (l == 0 || !is_sbs_kind(net->L[l - 1].kind))
        return sbs_fail(e,
                        "%s: network_structure.layer_type[%d]: RECONSTRUCTION must follow an "
                        "SbS layer (it reconstructs that layer's input with its weights), "
                        "found %s",
                        nf, l, l == 0 ? "it first" : net->L[l - 1].cfg->type);
    const sbs_layer *S = &net->L[l - 1];
    L->ref_layer = l - 1;
    int K = S->g.K;
    if (c->out >= 0 && c->out != K)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: RECONSTRUCTION of "
                        "layer %d gives its %d inputs per position (%d channels x %dx%d "
                        "kernel): expected [%d, %d], found [%d, %d]",
                        nf, l, l - 1, K, S->C, S->g.kx, S->g.ky, L->C, K, c->in, c->out);
    if (l == net->n - 1) {
        const sbs_config *cfg = net->cfg;
        const char *df = cfg->def_file[0] ? cfg->def_file : "def.json";
        if (strrchr(df, '/')) df = strrchr(df, '/') + 1;
        if (cfg->learn.loss_mode != 0)
            return sbs_fail(e,
                            "%s: learning_parameters.loss_mode: a network ending in "
                            "RECONSTRUCTION is trained with the mixed loss (0), found %d",
                            df, cfg->learn.loss_mode);
        if (cfg->learn.lr_scheduler_use_performance)
            return sbs_fail(e,
                            "%s: learning_parameters.lr_scheduler_use_performance: a network "
                            "ending in RECONSTRUCTION has no accuracy; set it to false",
                            df);
        L->own_target = true;
    }
    L->N = K;
    L->X = L->H;
    L->Y = L->W;
    size_t M = (size_t)L->X * L->Y, Cn = (size_t)L->C;
    L->fwd_scr = Cn * M + M;
    L->bwd_scr = Cn * M + (size_t)K * M + 4 * M;
    if ((size_t)K > L->bwd_scr) L->bwd_scr = (size_t)K;
    return 0;
}

const sbs_layer_ops sbs_ops_reconstruction = {.plan = recon_plan};
