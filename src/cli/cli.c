/* cli.c — helpers shared by sbs-eval, sbs-train and the tools. */
#include "sbs/cli.h"
#include "sbs/net.h"

#include <errno.h>
#include <getopt.h>
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

int sbs_plan_for_data(sbs_net *net, const sbs_config *cfg, int *c, int *h, int *w, sbs_err *e)
{
    int ic, ih, iw;
    if (sbs_mode_shape(cfg->data_mode, &ic, &ih, &iw) != 0)
        return sbs_fail(e, "%s: data_mode: expected MNIST, MNIST_FASHION or CIFAR10, found '%s'",
                        cfg->dataset_file, cfg->data_mode);
    int crop = cfg->aug.crop_width_in_pixel;
    if (2 * crop >= ih || 2 * crop >= iw)
        return sbs_fail(e, "augmentation.crop_width_in_pixel: %d leaves nothing of a %dx%d image",
                        crop, ih, iw);
    if (sbs_net_plan(net, cfg, ic, ih - 2 * crop, iw - 2 * crop, e) != 0) return -1;
    if (c) *c = ic;
    if (h) *h = ih;
    if (w) *w = iw;
    return 0;
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
