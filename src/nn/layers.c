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
    int r =
        sbs_geom_init(&L->g, L->C, L->H, L->W, c->kernel[0], c->kernel[1], c->stride[0],
                      c->stride[1], c->dilation[0], c->dilation[1], c->padding[0], c->padding[1]);
    if (r == -1)
        return sbs_fail(e,
                        "%s: network_structure.forward_kernel_size[%d]: window %dx%d (dilation "
                        "%dx%d, padding %dx%d) is larger than the layer's input %dx%d",
                        nf, L->index, c->kernel[0], c->kernel[1], c->dilation[0], c->dilation[1],
                        c->padding[0], c->padding[1], L->H, L->W);
    long long K = (long long)L->C * c->kernel[0] * c->kernel[1];
    if (K > SBS_MAX_COUNT)
        return sbs_fail(e,
                        "%s: network_structure.forward_kernel_size[%d]: window %d x %d x %d = "
                        "%lld inputs (channels x kernel), more than %d this build supports",
                        nf, L->index, L->C, c->kernel[0], c->kernel[1], K, SBS_MAX_COUNT);
    if (r != 0) /* the padded input (and so an output size) beyond an int */
        return sbs_fail(e,
                        "%s: network_structure.padding[%d]: the padded input %lld x %lld (%dx%d "
                        "padded by %dx%d) is more than %d this build supports",
                        nf, L->index, L->H + 2LL * c->padding[0], L->W + 2LL * c->padding[1], L->H,
                        L->W, c->padding[0], c->padding[1], SBS_MAX_COUNT);
    long long M = (long long)L->g.X * L->g.Y;
    if (M > SBS_MAX_COUNT) /* only padding can make more positions than the input's pixels */
        return sbs_fail(e,
                        "%s: network_structure.padding[%d]: the input %dx%d padded by %dx%d "
                        "gives %d x %d = %lld output positions, more than %d this build supports",
                        nf, L->index, L->H, L->W, c->padding[0], c->padding[1], L->g.X, L->g.Y, M,
                        SBS_MAX_COUNT);
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
