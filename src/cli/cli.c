/* cli.c — helpers shared by sbs-eval, sbs-train and the tools. */
#include "sbs/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sbs_parse_int(const char *opt, const char *s, long lo, long hi, long *out, sbs_err *e)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s && !*end && errno == ERANGE)
        return sbs_fail(e, "%s: expected an integer in [%ld, %ld], found '%s'", opt, lo, hi, s);
    if (!*s || *end || errno) return sbs_fail(e, "%s: expected an integer, found '%s'", opt, s);
    if (v < lo || v > hi)
        return sbs_fail(e, "%s: expected an integer in [%ld, %ld], found %ld", opt, lo, hi, v);
    *out = v;
    return 0;
}

int sbs_parse_simd(const char *s, sbs_err *e)
{
    if (strcmp(s, "auto") && strcmp(s, "avx512") && strcmp(s, "avx2") && strcmp(s, "scalar"))
        return sbs_fail(e, "--simd: expected auto, avx512, avx2 or scalar, found '%s'", s);
    return 0;
}

int sbs_usage_error(const char *prog, const char *msg)
{
    fprintf(stderr, "%s: %s (%s --help lists the options)\n", prog, msg, prog);
    return SBS_EXIT_USAGE;
}

int sbs_option_error(const char *prog, int c, char *const *argv)
{
    char msg[256];
    if (c == ':')
        snprintf(msg, sizeof msg, "option '%s' needs a value", argv[optind - 1]);
    else if (optopt >= 256 || optopt == 0)
        snprintf(msg, sizeof msg, "unknown option '%s'", argv[optind - 1]);
    else
        snprintf(msg, sizeof msg, "unknown option '-%c'", optopt);
    return sbs_usage_error(prog, msg);
}

void sbs_progress_init(sbs_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->t0 = p->last = sbs_now();
}

void sbs_progress_line(sbs_progress *p, bool force, const char *fmt, ...)
{
    if (!p->tty) return;
    double now = sbs_now();
    if (!force && now - p->last < 0.25) return;
    p->last = now;
    va_list ap;
    va_start(ap, fmt);
    fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

void sbs_progress_done(sbs_progress *p)
{
    if (p->tty) fputs("\r\033[K", stderr);
}
