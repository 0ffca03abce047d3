/* cli.c — helpers shared by sbs-eval, sbs-train and the tools. */
#include "sbs/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sbs_mode_shape(const char *m, int *c, int *h, int *w)
{
    if (!strcmp(m, "MNIST") || !strcmp(m, "MNIST_FASHION")) {
        *c = 1; *h = 28; *w = 28;
        return 0;
    }
    if (!strcmp(m, "CIFAR10")) {
        *c = 3; *h = 32; *w = 32;
        return 0;
    }
    return -1;
}

size_t sbs_mode_data_bytes(const char *m)
{
    int c, h, w;
    if (sbs_mode_shape(m, &c, &h, &w) != 0) return 0;
    size_t n = !strcmp(m, "CIFAR10") ? 60000 : 70000;
    return n * ((size_t)c * h * w * sizeof(float) + 1);
}

int sbs_parse_int(const char *opt, const char *s, long lo, long hi, long *out, sbs_err *e)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s && !*end && errno == ERANGE)
        return sbs_fail(e, "%s: expected an integer in [%ld, %ld], found '%s'", opt, lo, hi, s);
    if (!*s || *end || errno)
        return sbs_fail(e, "%s: expected an integer, found '%s'", opt, s);
    if (v < lo || v > hi)
        return sbs_fail(e, "%s: expected an integer in [%ld, %ld], found %ld", opt, lo, hi, v);
    *out = v;
    return 0;
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
