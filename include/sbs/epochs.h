/* epochs.h — `sbs-eval --epochs A:B`: the range syntax, and the epochs whose weights a
 * training run's folder holds (Weight_L{layer}_S{epoch}.npy). */
#ifndef SBS_EPOCHS_H
#define SBS_EPOCHS_H

#include "sbs/common.h"

typedef struct {
    long lo, hi; /* inclusive */
} sbs_epoch_range;

/* Parse "A:B", "A:", ":B", ":" (= all), "N" (= N:N) or "all" (A, B, N non-negative integers, A <= B).
 * One line naming --epochs in e on failure. */
int sbs_parse_epoch_range(const char *s, sbs_epoch_range *r, sbs_err *e);

/* The epochs in r for which dir holds Weight_L{layer}_S{epoch}.npy, ascending, in a malloc'd
 * array. Fails (one line naming dir, the range and the epochs there) when there is none. */
int sbs_run_epochs(const char *dir, int layer, const sbs_epoch_range *r, long **epochs, size_t *n,
                   sbs_err *e);

#endif
