/* cli.h — pieces shared by the command line tools: config resolution with overrides, the
 * input shape of a data_mode, progress display. */
#ifndef SBS_CLI_H
#define SBS_CLI_H

#include "sbs/config.h"

#include <stdio.h>

/* Input image shape of a data_mode before cropping; -1 if unknown. */
int sbs_mode_shape(const char *data_mode, int *c, int *h, int *w);

struct sbs_net;
/* Plan the network for the images of cfg's data_mode after the centre crop: checks the
 * data_mode and crop_width_in_pixel, then sbs_net_plan. c/h/w (may be NULL) get the image
 * shape before cropping. One line in e on failure. */
int sbs_plan_for_data(struct sbs_net *net, const sbs_config *cfg, int *c, int *h, int *w,
                      sbs_err *e);

/* Bytes the full train + test split of a data_mode take in memory (an estimate for
 * planning; 0 if unknown). */
size_t sbs_mode_data_bytes(const char *data_mode);

/* Parse a non-negative integer option value strictly ("--spikes 12x" is an error). */
int sbs_parse_int(const char *opt, const char *s, long lo, long hi, long *out, sbs_err *e);

/* Check a --simd value: auto, avx512, avx2 or scalar. */
int sbs_parse_simd(const char *s, sbs_err *e);

/* A bad command line: "PROG: MSG (PROG --help lists the options)" on stderr; returns
 * SBS_EXIT_USAGE. */
int sbs_usage_error(const char *prog, const char *msg);

/* The same for what getopt_long (optstring starting with ':') returned as an error: ':' an
 * option without its value, anything else an unknown option. */
int sbs_option_error(const char *prog, int c, char *const *argv);

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
