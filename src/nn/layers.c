/* layers.c — the registry of layer plans and helpers shared by the plan files. */
#include "sbs/layer.h"

const sbs_layer_ops *sbs_layer_ops_get(sbs_layer_kind k)
{
    switch (k) {
    case SBS_L_SBS:
    case SBS_L_SBS_POOLING: return &sbs_ops_sbs;
    case SBS_L_CONV2D: return &sbs_ops_conv2d;
    case SBS_L_RELU: return &sbs_ops_relu;
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING: return &sbs_ops_pool;
    case SBS_L_ONOFF: return &sbs_ops_onoff;
    case SBS_L_POISSON: return &sbs_ops_poisson;
    case SBS_L_INPUT_SPIKE_IMAGE: return &sbs_ops_input_spike_image;
    case SBS_L_APPROX_CONV2D: return &sbs_ops_approx_conv2d;
    case SBS_L_NNMF: return &sbs_ops_nnmf;
    case SBS_L_BP_SBS_NNMF: return &sbs_ops_bp_sbs_nnmf;
    case SBS_L_SBS_LOCAL: return &sbs_ops_sbs_local;
    case SBS_L_RECONSTRUCTION: return &sbs_ops_reconstruction;
    default: return NULL;
    }
}

int sbs_layer_window(sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    if (sbs_geom_init(&L->g, L->C, L->H, L->W, c->kernel[0], c->kernel[1], c->stride[0],
                      c->stride[1], c->dilation[0], c->dilation[1], c->padding[0],
                      c->padding[1]) != 0)
        return sbs_fail(e,
                        "%s: network_structure.forward_kernel_size[%d]: window %dx%d (dilation "
                        "%dx%d, padding %dx%d) is larger than the layer's input %dx%d",
                        nf, L->index, c->kernel[0], c->kernel[1], c->dilation[0], c->dilation[1],
                        c->padding[0], c->padding[1], L->H, L->W);
    L->X = L->g.X;
    L->Y = L->g.Y;
    return 0;
}

int sbs_layer_keeps_channels(const sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    if (c->out >= 0 && c->out != L->C)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: %s keeps the "
                        "channels: expected [%d, %d], found [%d, %d]",
                        nf, L->index, c->type, L->C, L->C, c->in, c->out);
    return 0;
}
