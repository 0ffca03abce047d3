/* exec.h — a network plan bound to a backend: the backend buffers of one net (parameters,
 * activations, and for training the gradients, chunk sums and Adam moments) and the passes
 * over them (forward, the loss, backward of a chunk, the gradient scale, the update). The
 * trainer and sbs-eval call these; they never touch a layer's compute or a backend's name.
 *
 * Parameters, gradients and moments each live in one arena with the layout of the plan's host
 * arena (net->params, per-layer offsets L->w_off / L->b_off): one upload to a device, one
 * message to another process, one checkpoint write. */
#ifndef SBS_EXEC_H
#define SBS_EXEC_H

#include "sbs/backend.h"

typedef struct {
    sbs_backend *be;
    const sbs_net *net;
    int cap_B; /* most images per chunk */
    bool training;
    const sbs_layer_kernels **k; /* per layer */
    /* backend memory */
    float *params;  /* net->n_params: every layer's weights and biases */
    float *grads;   /* the update window's gradient sums (training) */
    float *chunk;   /* the current chunk's gradient sums (training) */
    float *moments; /* Adam: m (n_params) then v (n_params) (training) */
    float **act;    /* act[0] the input, act[l+1] layer l's output (cap_B images) */
    float **gact;   /* dL/d act[l] (training) */
    /* host */
    float *out; /* the output of the last forward (cap_B x n_out) */
} sbs_exec;

/* Bind: allocate every buffer and upload net->params. Fails (exit status in *status: usage
 * when a layer kind is not supported by the backend, out of memory otherwise) with e naming
 * the layer or the size. */
int sbs_exec_init(sbs_exec *x, const sbs_net *net, sbs_backend *be, int cap_B, bool training,
                  int *status, sbs_err *e);
void sbs_exec_free(sbs_exec *x);

/* Host parameters (net->params) <-> backend. */
void sbs_exec_upload_params(sbs_exec *x);
void sbs_exec_download_params(sbs_exec *x, float *host);
/* Adam moments (2 n_params floats: m then v) <-> backend. */
void sbs_exec_upload_moments(sbs_exec *x, const float *host);
void sbs_exec_download_moments(sbs_exec *x, float *host);

/* Forward images (host, B x C x H x W) through all layers; B <= cap_B. The output is
 * downloaded into x->out. */
void sbs_exec_forward(sbs_exec *x, const float *img, int B, const sbs_spike_key *key);
/* Copy layer l's input (act[l]) of the last forward of B images to the host. */
void sbs_exec_download_act(sbs_exec *x, int l, int B, float *host);
/* The first layer whose output (of the last forward of B images) holds a NaN or infinity,
 * or -1. */
int sbs_exec_nonfinite_layer(sbs_exec *x, int B);

/* The chunk's loss after a forward, dL/dout into gact[n]: the supervised loss of SPEC §2,
 * or the last layer's own target. Summed over the chunk's images (per-pattern sums). */
double sbs_exec_loss(sbs_exec *x, const uint8_t *labels, int B);

/* Per SbS-like layer (L->grad_scaled) that learns or passes gradients back: the largest
 * |dL/dh| seen by the backward of the last chunk with every scale 1 (see train.h). */
typedef struct {
    float m[SBS_MAX_LAYERS];
} sbs_absmax;

/* Backward of a chunk of B images after sbs_exec_forward and sbs_exec_loss: SbS-like layers
 * divide their incoming gradient by scale[l] (1 = none). With measure, nothing is learnt: no
 * weight gradient is computed and *measure gets the unscaled per-layer maxima. Otherwise the
 * chunk's gradient sums are written to x->chunk (zeroed first) and contrib[l] gets each
 * layer's contributions. learns[l] says which layers learn. */
void sbs_exec_backward(sbs_exec *x, int B, const uint8_t *labels, const float *scale,
                       const bool *learns, sbs_absmax *measure, long *contrib);

/* One parameter update from x->grads (the window's sums) with the optimizer state; gmul[l]
 * multiplies layer l's SbS weight gradient (1 / contributions). */
typedef struct {
    bool adam;
    double lr, lr_t, c2;
    float threshold; /* learning_rate_threshold_w */
} sbs_update_step;
void sbs_exec_update(sbs_exec *x, const sbs_update_step *u, const bool *learns, const double *gmul);
/* The first layer whose parameters hold a NaN or infinity, or -1; *bias says which tensor
 * and *val gets the value. */
int sbs_exec_nonfinite_params(sbs_exec *x, bool *bias, float *val);

/* Argmax over n values (first maximum). */
int sbs_argmax(const float *v, int n);

#endif
