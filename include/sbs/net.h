/* net.h — the network plan: layers from the config with every shape computed and checked
 * once (before any data is touched), their weights, activations for a batch, and the
 * forward pass through a backend. */
#ifndef SBS_NET_H
#define SBS_NET_H

#include "sbs/backend.h"
#include "sbs/config.h"
#include "sbs/sbs.h"

#include <stdio.h>

struct sbs_layer_ops;

typedef struct sbs_layer {
    int index;
    sbs_layer_kind kind;
    const struct sbs_layer_ops *ops;
    const sbs_layer_cfg *cfg;
    int C, H, W;          /* input shape */
    int N, X, Y;          /* output shape (channels, rows, columns) */
    sbs_geom g;           /* window geometry (windowed layers) */
    /* SbS */
    int T;
    float *eps;           /* T step sizes */
    float fo;
    /* weights: SbS (K, ldw) row-major with zero padding columns N..ldw-1;
     * conv (O, C, kx, ky) with bias (O) */
    float *weight, *bias;
    int ldw;
    size_t n_w, n_b;      /* elements that are real parameters (K*N, O*C*kx*ky; O) */
    bool has_weights;     /* SbS, conv: weights exist */
    bool file_weights;    /* weights are read/written as files (not fixed pooling weights) */
    bool sbs_w;           /* weights are SbS-like: (K, ldw), >= 0, columns sum to 1, updated
                             multiplicatively, weight care after updates */
    size_t fwd_scr;       /* per-worker scratch floats for the forward pass */
    size_t bwd_scr;       /* per-worker scratch floats for the backward pass */
    int ref_layer;        /* RECONSTRUCTION: the SbS layer whose weights it uses */
} sbs_layer;

typedef struct sbs_net {
    const sbs_config *cfg;
    int n;
    sbs_layer *L;
    int in_c, in_h, in_w;
    int n_out;
    sbs_backend *be;
    /* activations for up to cap_B patterns: act[0] is the input, act[l+1] layer l's output */
    int cap_B;
    float **act;
    float **scratch;      /* per worker scratch for classic layers */
    size_t scratch_size;
} sbs_net;

/* Build the plan for input images (C, H, W) (after cropping). Errors name the config file and
 * key: "network.json: network_structure.forward_neuron_numbers[2]: ...". */
int sbs_net_plan(sbs_net *net, const sbs_config *cfg, int C, int H, int W, sbs_err *e);
void sbs_net_free(sbs_net *net);
void sbs_net_print_plan(const sbs_net *net, FILE *f);
/* Bytes the network needs for batches of B patterns on `threads` workers (weights,
 * activations, scratch; with training also gradients, Adam moments and per-image gradient
 * buffers). Data sets are not included. */
size_t sbs_net_memory(const sbs_net *net, int B, int threads, bool training);
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
/* Column normalisation of SbS weights (each neuron's weights sum to 1). */
void sbs_normalize_columns(float *W, int K, int N, int ldw);

/* Attach a backend and size the activations for batches of up to B patterns. */
void sbs_net_bind(sbs_net *net, sbs_backend *be, int B);
/* Forward x (B, C, H, W) through all layers; B <= cap_B. The output (B, n_out) is
 * net->act[net->n]. */
void sbs_net_forward(sbs_net *net, const float *x, int B, const sbs_spike_key *key);
static inline const float *sbs_net_output(const sbs_net *net) { return net->act[net->n]; }

/* Stored weight floats of a layer (SbS-like: K*ldw, else n_w). */
static inline size_t sbs_weight_floats(const sbs_layer *L)
{
    return L->sbs_w ? (size_t)L->g.K * L->ldw : L->n_w;
}

/* Classic layers on one image (used by the CPU backend and by tests). */
void sbs_conv2d_forward_img(const sbs_geom *g, int O, const float *W, const float *bias,
                            const float *x, float *y, float *cols);
void sbs_pool_forward_img(const sbs_geom *g, bool is_max, const float *x, float *y);

/* Argmax over n values (first maximum). */
int sbs_argmax(const float *v, int n);

#endif
