/* layer.h — a layer type is a small table of functions (plan, forward, backward), one file per
 * type in src/nn/layer_*.c. The network code and the trainer know only this table.
 *
 * plan:     given L->C/H/W (input shape) and L->cfg, set L->N/X/Y, geometry, weights
 *           (L->weight, L->bias, n_w, n_b, ldw, has_weights, file_weights, sbs_w), spikes
 *           (L->T, L->eps) and the scratch sizes; errors name the config key.
 * forward:  net->act[l] (B inputs) -> net->act[l+1], may use net->scratch[worker].
 * backward: s->gact[l+1] -> s->gact[l] when need_dx; per-image weight gradients into
 *           s->G[l].dWb / dBb when need_dw (summed in image order by the caller); uses
 *           s->bscr[worker]. */
#ifndef SBS_LAYER_H
#define SBS_LAYER_H

#include "sbs/net.h"

struct sbs_trainer_state;

typedef struct sbs_layer_ops {
    int (*plan)(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e);
    void (*forward)(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key);
    void (*backward)(struct sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx,
                     bool need_dw);
    /* Optional, for a last layer that defines its own training target (e.g. RECONSTRUCTION,
     * unsupervised): returns the loss of the batch and writes dL/d(output) into s->gact[n].
     * When set on the last layer, the plan does not require a n_out x 1 x 1 output and the
     * trainer reports no accuracy. NULL for ordinary layers. */
    double (*loss)(struct sbs_trainer_state *s, sbs_layer *L, int B);
} sbs_layer_ops;

/* The table of a layer kind; NULL if the kind is not supported. */
const sbs_layer_ops *sbs_layer_ops_get(sbs_layer_kind k);

extern const sbs_layer_ops sbs_ops_sbs;             /* SbS, SbS POOLING */
extern const sbs_layer_ops sbs_ops_conv2d;
extern const sbs_layer_ops sbs_ops_relu;
extern const sbs_layer_ops sbs_ops_pool;            /* MAX and AVERAGE POOLING */
extern const sbs_layer_ops sbs_ops_sbs_local;       /* layer_sbs_local.c */
extern const sbs_layer_ops sbs_ops_reconstruction;  /* layer_reconstruction.c */
extern const sbs_layer_ops sbs_ops_nnmf;            /* layer_nnmf.c */
extern const sbs_layer_ops sbs_ops_bp_sbs_nnmf;     /* layer_nnmf.c */
/* NNMF backward: most floats of stored iterates per worker before it checkpoints (takes
 * effect for layers planned afterwards; for tests). */
void sbs_nnmf_set_store_limit(size_t floats);
extern const sbs_layer_ops sbs_ops_onoff;           /* layer_misc.c */
extern const sbs_layer_ops sbs_ops_poisson;         /* layer_misc.c */
extern const sbs_layer_ops sbs_ops_input_spike_image; /* layer_misc.c */
extern const sbs_layer_ops sbs_ops_approx_conv2d;   /* layer_approx.c */
/* POISSON's sampler: a Poisson(lambda) count, a pure function of (seed, tag, sample, pixel)
 * (layer_misc.c; exposed for the statistics tests). */
uint32_t sbs_poisson_draw(double lambda, uint64_t seed, uint32_t tag, uint32_t sample,
                          uint32_t pixel);

/* Shared helpers for layer files. */
/* Window geometry from the layer's config (kernel, stride, dilation, padding); sets X, Y. */
int sbs_layer_window(sbs_layer *L, const char *nf, sbs_err *e);
/* Check forward_neuron_numbers: `in` must match the input channels (done by the caller);
 * for layers that keep the channels, `out` (if given) must equal C. */
int sbs_layer_keeps_channels(const sbs_layer *L, const char *nf, sbs_err *e);
/* Run fn(ctx, b, worker) for every image b < B on the backend's pool. */
void sbs_layer_per_image(sbs_net *net, int B, void (*fn)(void *, long, int), void *ctx);
/* The backward of SbS and SbS LOCAL (layer_sbs.c): P (M x K, row m for position m) = the
 * input windows of one image x, each normalised to sum 1 (x_i / (sum + 1e-20)). */
void sbs_layer_windows(const sbs_layer *L, const float *x, float *P);

#endif
