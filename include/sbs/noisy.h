/* noisy.h — the reference's `extract_noisy_pictures` (def.json): for every test mini-batch,
 * what the spikes of the first SbS layer saw, as noisy_picture_data/<spikes>/<batch>.npz with
 * the arrays `the_images` (int64, patterns x C*kx*ky x X x Y: how many of the spikes of each
 * position fell on each entry of its input window) and `labels` (int64, patterns).
 *
 * The counts are recomputed from the layer's input, its geometry and the spike key with the
 * same counter-based sampler as the forward pass (sbs.h), so they are exactly the spikes the
 * forward drew, whatever the backend, thread count or batch split. With
 * spike_full_layer_input_distribution the image's T spikes are routed to every position whose
 * window holds the spiking pixel, as in the forward; a position's counts then add up to its
 * in-window spikes instead of T. */
#ifndef SBS_NOISY_H
#define SBS_NOISY_H

#include "sbs/sbs.h"
#include "sbs/threadpool.h"

#include <limits.h>

struct sbs_net;

/* counts (B, K, X, Y) for the B images x (B, C, H, W) of a layer with args a (only a->g,
 * a->T, a->layer and a->full_layer are used), drawn as the forward draws them under key.
 * pool may be NULL (one thread); the result does not depend on it. */
void sbs_noisy_counts(const sbs_layer_args *a, const float *x, int B, const sbs_spike_key *key,
                      sbs_pool *pool, int64_t *counts);

/* The writer of the pictures of one network. The files hold `per_file` patterns each (the
 * reference's test mini-batch, batch_size), file i the test images [i*per_file, (i+1)*per_file),
 * whatever the batches of the forward passes that feed it. */
typedef struct {
    bool on;   /* an SbS layer exists: batches are written */
    int layer; /* index of the first SbS layer (SbS, SbS POOLING, SbS LOCAL) */
    sbs_layer_args args;
    char dir[PATH_MAX]; /* BASE/noisy_picture_data/<T> */
    int per_file;
    int64_t *counts, *labels; /* the file being filled: per_file patterns */
    int fill;                 /* patterns in it */
    int next;                 /* test image expected next */
    long files;               /* .npz files written */
    bool failed;              /* a write failed: err holds why; later calls do nothing */
    sbs_err err;
} sbs_noisy;

/* Prepare writing BASE/noisy_picture_data/<T>/ for net, per_file patterns a file (the folders
 * are created). Returns 0 (nz->on tells whether the net has an SbS layer to take pictures of)
 * or -1 with one line in e. */
int sbs_noisy_open(sbs_noisy *nz, const struct sbs_net *net, const char *base, int per_file,
                   sbs_err *e);

/* After a forward of the test images first .. first+B-1 under key (first = 0 starts a new
 * pass; otherwise first continues where the previous call ended): count the spikes of the
 * first SbS layer given its input x (host, B images of layer nz->layer's input) and write
 * each file that becomes full. pool may be NULL. Returns 0, or -1 with the reason in e (if
 * not NULL) and in nz->err (nz->failed set). */
int sbs_noisy_add(sbs_noisy *nz, const float *x, int B, const sbs_spike_key *key,
                  const uint8_t *labels, int first, sbs_pool *pool, sbs_err *e);

/* At the end of a pass: write the last, partly filled file. Returns as sbs_noisy_add. */
int sbs_noisy_finish(sbs_noisy *nz, sbs_err *e);

void sbs_noisy_close(sbs_noisy *nz);

#endif
