/* cli.h — pieces shared by the command line tools: option parsing and errors, progress
 * display (the CLI owns the terminal). */
#ifndef SBS_CLI_H
#define SBS_CLI_H

#include "sbs/config.h"

#include <stdio.h>

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
