/* cli.h — pieces shared by the command line tools: config resolution with overrides, the
 * input shape of a data_mode, progress display. */
#ifndef SBS_CLI_H
#define SBS_CLI_H

#include "sbs/config.h"

#include <stdio.h>

/* Input image shape of a data_mode before cropping; -1 if unknown. */
int sbs_mode_shape(const char *data_mode, int *c, int *h, int *w);

/* Bytes the full train + test split of a data_mode take in memory (an estimate for
 * planning; 0 if unknown). */
size_t sbs_mode_data_bytes(const char *data_mode);

/* Parse a non-negative integer option value strictly ("--spikes 12x" is an error). */
int sbs_parse_int(const char *opt, const char *s, long lo, long hi, long *out, sbs_err *e);

/* A one-line progress display on stderr when it is a terminal (\r-updated). */
typedef struct {
    bool tty;
    double t0, last;
} sbs_progress;
void sbs_progress_init(sbs_progress *p);
void sbs_progress_line(sbs_progress *p, bool force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sbs_progress_done(sbs_progress *p);

#endif
