/* net.h — the network plan: layers from the config with every shape computed and checked
 * once (before any data is touched), and the host copy of the parameters in one arena
 * (weights init, load, save). Computing on it is the business of a backend (backend.h,
 * exec.h); nothing here knows one. */
#ifndef SBS_NET_H
#define SBS_NET_H

#include "sbs/config.h"
#include "sbs/sbs.h"

#include <stdio.h>

struct sbs_layer_ops;

typedef struct sbs_layer {
    int index;
    sbs_layer_kind kind;
    const struct sbs_layer_ops *ops;
    const sbs_layer_cfg *cfg;
    int C, H, W; /* input shape */
    int N, X, Y; /* output shape (channels, rows, columns) */
    sbs_geom g;  /* window geometry (windowed layers) */
    /* SbS */
    int T;
    float *eps; /* T step sizes */
    float fo;
    /* weights: SbS (K, ldw) row-major with zero padding columns N..ldw-1;
     * conv (O, C, kx, ky) with bias (O); views into net->params at w_off / b_off */
    float *weight, *bias;
    size_t w_off, b_off;
    int ldw;
    size_t n_w, n_b;         /* elements that are real parameters (K*N, O*C*kx*ky; O) */
    bool has_weights;        /* SbS, conv: weights exist */
    bool file_weights;       /* weights are read/written as files (not fixed pooling weights) */
    bool sbs_w;              /* weights are SbS-like: (K, ldw), >= 0, columns sum to 1, updated
                             multiplicatively, weight care after updates */
    bool own_target;         /* a last layer that defines its own training target (the `loss`
                             kernel, e.g. RECONSTRUCTION): no n_out x 1 x 1 output needed and
                             no accuracy */
    bool grad_scaled;        /* SbS-like: the incoming gradient is divided by the layer's
                             gradient scale S (SPEC §1.2) */
    bool last;               /* the net's last layer */
    bool grad_below;         /* a layer below learns from the gradient that reaches it (its
                             weights are trained by back-propagation, not a local rule) */
    float loss_mse, loss_kl; /* own-target layers: loss_coeffs_mse / loss_coeffs_kldiv */
    size_t fwd_scr;          /* per-worker scratch floats the CPU kernels need (forward) */
    size_t bwd_scr;          /* per-worker scratch floats the CPU kernels need (backward) */
    int ref_layer;           /* RECONSTRUCTION: the SbS layer whose weights it uses */
} sbs_layer;

typedef struct sbs_net {
    const sbs_config *cfg;
    int n;
    sbs_layer *L;
    int in_c, in_h, in_w;
    int n_out;
    float *params; /* every layer's weights and biases, 64-byte aligned views */
    size_t n_params;
} sbs_net;

/* The largest count a plan accepts for a layer's input C*H*W, window K = C*kx*ky, weights
 * (K*ldw, O*K), output positions X*Y and output N*X*Y per image, and full-layer spike routes
 * T*kx*ky: the kernels index these with int. Bigger is refused by the plan, naming the key. */
#define SBS_MAX_COUNT 2147483647

/* Build the plan for input images (C, H, W) (after cropping): every layer's shapes, sizes
 * and flags, checked (sizes in 64-bit, against SBS_MAX_COUNT), and the parameter layout
 * (n_params, w_off, b_off), without allocating the parameters: net->params, L->weight,
 * L->bias and L->eps stay NULL, so a plan of any size is cheap (--dry-run, sbs_net_memory).
 * Errors name the config file and key: "network.json: network_structure.forward_neuron_
 * numbers[2]: ...". On failure nothing is left to free. */
int sbs_net_plan_shapes(sbs_net *net, const sbs_config *cfg, int C, int H, int W, sbs_err *e);
/* Allocate a shapes-only plan's parameter arena (zeroed; out of memory exits 3, see
 * common.h), point each layer's weight / bias views into it and write each layer's fixed
 * values (its ops' init_params: SbS POOLING's weights, the SbS step sizes). */
void sbs_net_alloc_params(sbs_net *net);
/* sbs_net_plan_shapes + sbs_net_alloc_params. */
int sbs_net_plan(sbs_net *net, const sbs_config *cfg, int C, int H, int W, sbs_err *e);
/* Frees a net planned either way. */
void sbs_net_free(sbs_net *net);
void sbs_net_print_plan(const sbs_net *net, FILE *f);
/* Bytes a bound net needs for batches of B patterns (parameters, activations; with training
 * also gradients, chunk sums, Adam moments and input gradients), backend workspace and data
 * sets not included. Works on a shapes-only plan. Computed with overflow checks: a figure
 * beyond SBS_MEM_HUGE (no machine has it) is returned as SBS_MEM_HUGE, so that a caller may
 * add a few such figures without a wrap. */
size_t sbs_net_memory(const sbs_net *net, int B, bool training);
/* Spike updates (spikes drawn) per image. */
double sbs_net_spikes_per_image(const sbs_net *net);

/* Weights: random init (SPEC §1.2/§1.4) keyed by seed; load from a folder
 * (Weight_L{l}_*.npy, Bias_L{l}_*.npy); save as Weight_L{l}_S{epoch}.npy. */
void sbs_net_init_weights(sbs_net *net, uint64_t seed);
/* Returns the number of layers loaded, or -1. With require_all, a layer with file weights but
 * no file is an error. */
int sbs_net_load_weights(sbs_net *net, const char *dir, bool require_all, sbs_err *e);
/* The same for the files of one epoch S (Weight_L{l}_S{epoch}.npy; any S when epoch < 0). */
int sbs_net_load_weights_epoch(sbs_net *net, const char *dir, long epoch, bool require_all,
                               sbs_err *e);
int sbs_net_save_weights(const sbs_net *net, const char *dir, int epoch, sbs_err *e);
/* Padded neuron count used for SbS weight rows (multiple of 16). */
static inline int sbs_pad_n(int N)
{
    return (N + 15) & ~15;
}

/* Column normalisation of SbS weights (each neuron's weights sum to 1). */
void sbs_normalize_columns(float *W, int K, int N, int ldw);

/* Stored weight floats of a layer (SbS-like: K*ldw, else n_w). */
static inline size_t sbs_weight_floats(const sbs_layer *L)
{
    return L->sbs_w ? (size_t)L->g.K * L->ldw : L->n_w;
}

/* Classes of every data set this program reads (MNIST, Fashion-MNIST, CIFAR-10). */
#define SBS_N_CLASSES 10

/* Input image shape of a data_mode before cropping; -1 if unknown. */
int sbs_mode_shape(const char *data_mode, int *c, int *h, int *w);

/* Plan the network for the images of cfg's data_mode after the centre crop: checks the
 * data_mode and crop_width_in_pixel, then sbs_net_plan. c/h/w (may be NULL) get the image
 * shape before cropping. One line in e on failure. */
int sbs_plan_for_data(sbs_net *net, const sbs_config *cfg, int *c, int *h, int *w, sbs_err *e);
/* The same with sbs_net_plan_shapes: no parameters allocated (sbs_net_alloc_params later,
 * e.g. after a memory check). */
int sbs_plan_shapes_for_data(sbs_net *net, const sbs_config *cfg, int *c, int *h, int *w,
                             sbs_err *e);

/* Bytes the full train + test split of a data_mode take in memory (an estimate for
 * planning; 0 if unknown). */
size_t sbs_mode_data_bytes(const char *data_mode);

/* The arguments of an SbS layer's forward (sbs.h) for planned layer L with weights W. */
static inline sbs_layer_args sbs_layer_args_of(const sbs_layer *L, const float *W)
{
    return (sbs_layer_args){.g = L->g,
                            .N = L->N,
                            .W = W,
                            .ldw = L->ldw,
                            .T = L->T,
                            .eps = L->eps,
                            .forgetting_offset = L->fo,
                            .layer = L->index,
                            .full_layer = L->cfg->spike_full_layer_input_distribution};
}

/* Floats of layer l's activation per image (l = 0: the input; l = n: the output). */
static inline size_t sbs_act_floats(const sbs_net *net, int l)
{
    if (l == 0) return (size_t)net->in_c * net->in_h * net->in_w;
    const sbs_layer *L = &net->L[l - 1];
    return (size_t)L->N * L->X * L->Y;
}

#endif
