/* train.h — learning (SPEC §1.2 backward, §2): layer backward passes, losses, the Adam/SGD
 * optimizer with the multiplicative SbS update, weight care, the learning-rate schedule and
 * the resumable checkpoint. The trainer loop itself lives in src/train/trainer.c. */
#ifndef SBS_TRAIN_H
#define SBS_TRAIN_H

#include "sbs/net.h"

/* Per-layer learning state, parallel to net->L. Gradients and moments use the weight layout
 * (SbS: K x ldw with zero padding columns). */
typedef struct {
    float *gW, *gB;        /* accumulated gradients since the last update */
    float *mW, *vW, *mB, *vB; /* Adam moments */
    float scale;           /* gradient scale S (1 when unset) */
    bool scale_set;        /* S has been measured */
    bool scale_frozen;     /* S no longer changes */
    float *dWb;            /* per-image weight gradients (B x K x ldw) before the ordered sum */
    float *dBb;            /* per-image bias gradients (B x O) */
} sbs_layer_grad;

typedef struct sbs_trainer_state {
    sbs_net *net;
    sbs_layer_grad *G;     /* n layers */
    float **gact;          /* gact[l] = dL/d act[l], sized like act */
    float **bscr;          /* per worker backward scratch */
    size_t bscr_size;
    long contrib[SBS_MAX_LAYERS]; /* (pattern, position) contributions since the last update */
    const uint8_t *labels; /* labels of the current sub-batch (for local rules and losses) */
    bool update_scale;     /* measure S in this window (first update of the run) */
} sbs_trainer_state;

void sbs_grad_init(sbs_trainer_state *s, sbs_net *net);
void sbs_grad_free(sbs_trainer_state *s);
void sbs_grad_zero(sbs_trainer_state *s);

/* Loss of the output (B, n_out) against labels; writes dL/dout into gout (B, n_out) and
 * returns the loss (mode 0: summed over the batch; mode 1: mean over the batch). */
double sbs_loss(int mode, float c_mse, float c_kl, const float *out, const uint8_t *labels,
                int B, int n_out, float *gout);

/* Backward through all layers after sbs_net_forward; accumulates weight gradients.
 * gact[n] must hold dL/dout. */
void sbs_net_backward(sbs_trainer_state *s, int B);

/* The reference's gradient formulas for one SbS layer in double precision (the oracle of the
 * sgemm path): x (B,C,H,W), h (B,N,X,Y), g = dL/dh (already scaled); dx (B,C,H,W) and
 * dW (K x N compact) are overwritten. */
void sbs_ref_sbs_backward(const sbs_geom *g, int N, const float *W, int ldw, const float *x,
                          const float *h, const float *gh, int B, double *dx, double *dW);

/* Gradient scaling of an SbS-like layer's incoming gradient (SPEC §1.2), in place. */
void sbs_scale_gradient(sbs_trainer_state *s, const sbs_layer *L, int B);

/* Scatter-add of a window (inverse of sbs_patch_gather). */
void sbs_patch_scatter_add(const sbs_geom *g, const float *win, int ox, int oy, float *img);

typedef struct {
    int t;                 /* updates done (Adam step) */
    double lr;             /* current learning rate */
    /* ReduceLROnPlateau */
    double best;
    int num_bad;
    double factor;
    int patience;
    bool plateau;          /* schedule active */
} sbs_optim;

void sbs_optim_init(sbs_optim *o, const sbs_config *cfg);
/* Apply one update from the accumulated gradients, then weight care; zero the gradients. */
void sbs_optim_step(sbs_optim *o, sbs_trainer_state *s, const sbs_config *cfg);
/* ReduceLROnPlateau step with a metric to minimise; returns true if the lr was reduced. */
bool sbs_sched_step(sbs_optim *o, double metric);

/* Normalise columns, clamp at threshold/C, normalise again (SPEC §2, after each update). */
void sbs_weight_care(sbs_layer *L, float threshold);

/* ---- the trainer (src/train/trainer.c) ---- */

typedef struct {
    const char *out_dir;      /* weights, checkpoint, log, metrics; NULL: config weight_path */
    const char *weights_in;   /* start weights folder; NULL: config overload_path */
    const char *metrics_path; /* JSON lines; NULL: <out>/metrics.jsonl */
    const char *data_dir;     /* NULL: config data_path */
    const char *simd;
    uint64_t seed;
    int threads;
    int epochs;               /* epochs to run this time; <= 0: up to epoch_id_max */
    long limit_train, limit_test; /* <= 0: all */
    bool resume, quiet;
    bool no_tensorboard;      /* no TensorBoard event file (tfevents.h) */
    const char *png_dir;      /* weight mosaics and confusion heat map per epoch; NULL: none */
} sbs_train_opts;

/* Run training; returns an exit status (SBS_EXIT_*); on SBS_EXIT_USAGE/FAILURE e says why.
 * Prints the final JSON object as the last line on stdout. */
int sbs_train_run(const sbs_config *cfg, const sbs_train_opts *o, sbs_err *e);

/* Checkpoint file: everything needed to continue a run exactly (weights, optimizer moments,
 * scheduler, gradient scales, counters; the random streams are counter-based, so their
 * position is the epoch and sub-batch). Little-endian binary with a CRC-32 trailer. */
typedef struct {
    uint64_t seed;
    uint64_t plan_hash;
    int32_t epoch, next_sub, updates_in_epoch;
    sbs_optim opt;
    double ep_loss;
    int64_t ep_correct, ep_seen;
    double ep_seconds;
} sbs_ckpt_state;

uint64_t sbs_plan_hash(const sbs_net *net);
int sbs_ckpt_save(const char *path, const sbs_ckpt_state *st, const sbs_trainer_state *ts,
                  sbs_err *e);
/* Parse a checkpoint image into st and the net/trainer state (whose plan must match). The
 * whole file is validated before anything is written: on failure the network is unchanged. */
int sbs_ckpt_parse(const unsigned char *buf, size_t len, const char *name, sbs_ckpt_state *st,
                   sbs_trainer_state *ts, sbs_err *e);
int sbs_ckpt_load(const char *path, sbs_ckpt_state *st, sbs_trainer_state *ts, sbs_err *e);

#endif
