/* layer.h — the plan of a layer kind, one file per kind in src/nn/layer_*.c: from L->C/H/W
 * (input shape) and L->cfg it sets L->N/X/Y, the geometry, the parameter shapes (n_w, n_b,
 * ldw, has_weights, file_weights, sbs_w), spikes (L->T), the flags own_target / grad_scaled
 * and the CPU kernels' scratch sizes, allocating nothing whose size comes from the config
 * (sbs_net_plan_shapes). Errors name the config key. Once the net's arena exists
 * (sbs_net_alloc_params) and L->weight / L->bias point into it, zeroed, init_params (if any)
 * writes the layer's fixed values: SbS POOLING's weights, the SbS step sizes (L->eps).
 * The compute of each kind lives in the backends (backend.h). */
#ifndef SBS_LAYER_H
#define SBS_LAYER_H

#include "sbs/net.h"

typedef struct sbs_layer_ops {
    int (*plan)(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e);
    void (*init_params)(sbs_layer *L); /* NULL: nothing beyond the zeroed parameters */
} sbs_layer_ops;

/* The plan of a layer kind; NULL if the kind is not supported. */
const sbs_layer_ops *sbs_layer_ops_get(sbs_layer_kind k);

extern const sbs_layer_ops sbs_ops_sbs; /* SbS, SbS POOLING */
extern const sbs_layer_ops sbs_ops_conv2d;
extern const sbs_layer_ops sbs_ops_relu;
extern const sbs_layer_ops sbs_ops_pool;              /* MAX and AVERAGE POOLING */
extern const sbs_layer_ops sbs_ops_sbs_local;         /* layer_sbs_local.c */
extern const sbs_layer_ops sbs_ops_reconstruction;    /* layer_reconstruction.c */
extern const sbs_layer_ops sbs_ops_nnmf;              /* layer_nnmf.c */
extern const sbs_layer_ops sbs_ops_bp_sbs_nnmf;       /* layer_nnmf.c */
extern const sbs_layer_ops sbs_ops_onoff;             /* layer_misc.c */
extern const sbs_layer_ops sbs_ops_poisson;           /* layer_misc.c */
extern const sbs_layer_ops sbs_ops_input_spike_image; /* layer_misc.c */
extern const sbs_layer_ops sbs_ops_approx_conv2d;     /* layer_approx.c */

/* NNMF's per-worker scratch (floats) for K inputs per window, N neurons, M positions: the
 * forward's, and the exact backward's for T iterations when at most store_limit floats of
 * iterates are kept (beyond that it checkpoints: keeps every c-th iterate and recomputes).
 * The plan uses SBS_NNMF_STORE_LIMIT (32 MB); the backward fits its store into whatever
 * L->bwd_scr holds, so a test forces checkpointing by setting L->bwd_scr from a smaller
 * limit after planning. */
/* The backward's iterate store: segment length c (steps), number of segments, floats of one
 * h / S (N*M) and one R (K*M), padded; its size; the largest store within `limit` floats
 * (segments halved until it fits); the backward's scratch besides the store. */
typedef struct {
    int c, nseg;
    size_t hsz, rsz;
} sbs_nnmf_store;
size_t sbs_nnmf_store_floats(const sbs_nnmf_store *st);
sbs_nnmf_store sbs_nnmf_store_plan(int K, int N, int M, int T, size_t limit);
size_t sbs_nnmf_bwd_fixed(int K, int N, int M);
#define SBS_NNMF_STORE_LIMIT ((size_t)8 << 20)
size_t sbs_nnmf_fwd_scratch(int K, int N, int M);
size_t sbs_nnmf_bwd_scratch(int K, int N, int M, int T, size_t store_limit);

/* Shared helpers for layer files. */
/* Window geometry from the layer's config (kernel, stride, dilation, padding); sets X, Y.
 * Refuses a window K = C*kx*ky or X*Y output positions beyond SBS_MAX_COUNT. */
int sbs_layer_window(sbs_layer *L, const char *nf, sbs_err *e);
/* Check forward_neuron_numbers: `in` must match the input channels (done by the caller);
 * for layers that keep the channels, `out` (if given) must equal C. */
int sbs_layer_keeps_channels(const sbs_layer *L, const char *nf, sbs_err *e);

#endif
