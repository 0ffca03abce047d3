/* train.h — learning (SPEC §2): the training step of one update window (step.c), the
 * learning-rate schedule (optim.c), the resumable checkpoint (checkpoint.c) and the trainer
 * loop (trainer.c). Every computation goes through the bound net (exec.h) and so through a
 * backend; nothing here knows one.
 *
 * The reduction seam: an update window is a sequence of fixed chunks (the sub-batches of
 * batch_size images). Each chunk's gradients, loss, correct, seen and contribution counts are
 * summed in image order by the backend; the window's sums add the chunk sums in chunk order.
 * A process computes a contiguous share of the chunks (sbs_reducer.share); with several
 * processes a reducer combines the shares in chunk order, so the sums are bitwise those of one
 * process. The gradient scale S is measured (per chunk, unscaled maxima), reduced (maximum:
 * exact in any order) and then applied, so a reduction can sit between the two. */
#ifndef SBS_TRAIN_H
#define SBS_TRAIN_H

#include "sbs/exec.h"

typedef struct {
    int t;     /* updates done (Adam step) */
    double lr; /* current learning rate */
    /* ReduceLROnPlateau */
    double best;
    int num_bad;
    double factor;
    int patience;
    bool plateau; /* schedule active */
} sbs_optim;

void sbs_optim_init(sbs_optim *o, const sbs_config *cfg);
/* ReduceLROnPlateau step with a metric to minimise; returns true if the lr was reduced. */
bool sbs_sched_step(sbs_optim *o, double metric);

/* The learning state beside the bound net: host copy of the Adam moments (for checkpoints),
 * the gradient scales, which layers learn. */
typedef struct sbs_trainer_state {
    sbs_net *net;
    sbs_exec *ex;                /* NULL until bound (checkpoint parsing works on the host alone) */
    float *moments;              /* host: m (n_params) then v (n_params) */
    float scale[SBS_MAX_LAYERS]; /* gradient scale S (1 when unset) */
    bool scale_set[SBS_MAX_LAYERS];
    bool scale_frozen[SBS_MAX_LAYERS];
    bool learns[SBS_MAX_LAYERS];
} sbs_trainer_state;

void sbs_trainer_state_init(sbs_trainer_state *s, sbs_net *net);
void sbs_trainer_state_free(sbs_trainer_state *s);
/* Host copies <-> the bound net (weights in net->params, moments in s->moments). */
void sbs_trainer_state_download(sbs_trainer_state *s);
void sbs_trainer_state_upload(sbs_trainer_state *s);

/* ---- the step (step.c) ---- */

/* The images of chunk k (0-based within the window): fills img (host, B x C x H x W) and
 * labels, sets *B and the spike key. */
typedef struct {
    void (*load)(void *ctx, int k, float *img, uint8_t *labels, int *B, sbs_spike_key *key);
    void *ctx;
    /* for messages: the epoch, the sub-batch of chunk 0, the folder with the kept weights */
    int epoch, first_sub;
    const char *out_dir;
} sbs_chunk_source;

/* The seam for data-parallel training. NULL means one process. */
typedef struct sbs_reducer {
    int rank, size;
    /* the chunks [*first, *first + *count) of a window of n this process computes */
    void (*share)(struct sbs_reducer *r, int n, int *first, int *count);
    /* Sum in chunk order: parts holds this process's chunk gradient sums (host, count x n
     * floats, in chunk order) and scal its chunk scalar sums (count x n_scal doubles); on
     * return every process has the window's sums in acc (n floats) and tot (n_scal). */
    int (*sum)(struct sbs_reducer *r, const float *parts, const double *scal, int count, size_t n,
               int n_scal, float *acc, double *tot, sbs_err *e);
    /* element-wise maximum of v (n floats) over the processes, on every process */
    int (*max)(struct sbs_reducer *r, float *v, int n, sbs_err *e);
    /* rank 0's len bytes at buf to every process (start state, checks; mpi.h) */
    int (*bcast)(struct sbs_reducer *r, void *buf, size_t len, sbs_err *e);
    void *ctx;
} sbs_reducer;

/* What one window gave: sums over its chunks of the per-pattern loss, correct answers (no
 * accuracy for a net with its own target), images. */
typedef struct {
    double loss;
    long correct, seen;
    double t_data, t_fwd, t_bwd, t_upd; /* seconds: loading, forward + loss, backward and
                                           reduction, update */
} sbs_window_sums;

/* One update window of n chunks: forward, loss, backward of every chunk of this process's
 * share, the ordered reduction, the gradient scale (measured in the first update of a run),
 * and, with apply, the update with weight care. Without learning (learning_active false) or
 * without apply (a trailing partial window) only forward and loss. Returns 0, or -1 with e
 * naming the layer that produced a non-finite value. */
int sbs_train_step(sbs_trainer_state *s, sbs_optim *opt, const sbs_chunk_source *src, int n,
                   bool apply, sbs_reducer *red, sbs_window_sums *out, sbs_err *e);

/* ---- the trainer (trainer.c) ---- */

/* What the trainer tells the program that runs it: a log line (also written to train.log),
 * or a progress line that may be overwritten by the next (final: keep it on screen). */
typedef enum { SBS_REPORT_LOG, SBS_REPORT_PROGRESS, SBS_REPORT_PROGRESS_FINAL } sbs_report_kind;
typedef void (*sbs_report_fn)(void *ctx, sbs_report_kind kind, const char *line);

typedef struct {
    const char *out_dir;      /* weights, checkpoint, log, metrics; NULL: config weight_path */
    const char *weights_in;   /* start weights folder; NULL: config overload_path */
    const char *metrics_path; /* JSON lines; NULL: <out>/metrics.jsonl */
    const char *data_dir;     /* NULL: config data_path */
    const char *backend;      /* NULL: "cpu" */
    sbs_backend_opts be_opts;
    uint64_t seed;
    int epochs;                   /* epochs to run this time; <= 0: up to epoch_id_max */
    long limit_train, limit_test; /* <= 0: all */
    bool resume;
    bool no_tensorboard;  /* no TensorBoard event file (tfevents.h) */
    const char *png_dir;  /* weight mosaics and confusion heat map per epoch; NULL: none */
    sbs_report_fn report; /* NULL: silent */
    void *report_ctx;
    sbs_reducer *reducer; /* NULL: one process */
} sbs_train_opts;

/* Run training; returns an exit status (SBS_EXIT_*); on failure e says why. Prints the final
 * JSON object as the last line on stdout. */
int sbs_train_run(const sbs_config *cfg, const sbs_train_opts *o, sbs_err *e);

/* Bytes a training run's network needs on backend be, batches of up to cap images: the bound
 * net (sbs_net_memory), the backend's workspace, and the host's parameters and Adam moments
 * (3 n_params floats); saturating (SBS_MEM_HUGE). What sbs_train_run checks, with the data
 * set, before it allocates, and what --dry-run reports. Works on a shapes-only plan. */
size_t sbs_train_net_memory(const sbs_net *net, sbs_backend *be, int cap, bool learn);

/* ---- the checkpoint (checkpoint.c) ---- */

/* Everything needed to continue a run exactly (weights, optimizer moments, scheduler,
 * gradient scales, counters; the random streams are counter-based, so their position is the
 * epoch and sub-batch). Little-endian binary with a CRC-32 trailer. */
typedef struct {
    uint64_t seed;
    uint64_t plan_hash;
    int32_t epoch, next_sub, updates_in_epoch;
    sbs_optim opt;
    double ep_loss;
    int64_t ep_correct, ep_seen;
    double ep_seconds;
    char *run_def; /* what defines the run (rundef.c), heap; NULL in a version 1 file */
} sbs_ckpt_state;

/* What defines a run (the resolved config less paths, epoch counters and threads; the image
 * counts; a checksum of the labels), as compact JSON (free() it); NULL when out of memory. */
char *sbs_run_definition(const sbs_config *cfg, long n_train, long n_test, uint32_t labels_crc);
/* 0 when the two definitions agree, else -1 with e listing each changed key on its own line. */
int sbs_run_definition_check(const char *saved, const char *now, const char *ckpt, sbs_err *e);

uint64_t sbs_plan_hash(const sbs_net *net);
/* From the host copies (call sbs_trainer_state_download first). */
int sbs_ckpt_save(const char *path, const sbs_ckpt_state *st, const sbs_trainer_state *ts,
                  sbs_err *e);
/* Parse a checkpoint image into st and the host copies (whose plan must match). The whole
 * file is validated before anything is written: on failure the network is unchanged. */
int sbs_ckpt_parse(const unsigned char *buf, size_t len, const char *name, sbs_ckpt_state *st,
                   sbs_trainer_state *ts, sbs_err *e);
int sbs_ckpt_load(const char *path, sbs_ckpt_state *st, sbs_trainer_state *ts, sbs_err *e);

#endif
