/* noise.c — input noise for `sbs-eval --noise` (see noise.h): the KIND:LEVELS parser and the
 * per-pixel noise, each pixel's random numbers one Philox block keyed by
 * (seed; pixel, image, 0, SBS_RNG_NOISE<<24 | kind<<16). */
#include "sbs/noise.h"
#include "sbs/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the range of preprocessed pixels: [0, 1] scaled, + 1e-20 (never 0, as SbS windows want) */
#define PIX_LO 1e-20f
#define PIX_HI 1.0f

static const char *const kind_names[] = {NULL, "gaussian", "uniform", "saltpepper", "poisson"};

const char *sbs_noise_name(sbs_noise_kind k)
{
    return k >= SBS_NOISE_GAUSSIAN && k <= SBS_NOISE_POISSON ? kind_names[k] : "?";
}

int sbs_noise_parse(const char *spec, sbs_noise *nz, sbs_err *e)
{
    memset(nz, 0, sizeof *nz);
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    for (int k = SBS_NOISE_GAUSSIAN; k <= SBS_NOISE_POISSON; k++)
        if (strlen(kind_names[k]) == klen && strncmp(spec, kind_names[k], klen) == 0)
            nz->kind = (sbs_noise_kind)k;
    if (!nz->kind)
        return sbs_fail(e,
                        "--noise: expected KIND:LEVELS with KIND gaussian, uniform, "
                        "saltpepper or poisson, found '%.*s'",
                        (int)klen, spec);
    if (!colon || !colon[1])
        return sbs_fail(e,
                        "--noise: expected levels after '%s:' (e.g. %s:0,0.1,0.2), found "
                        "none",
                        kind_names[nz->kind], kind_names[nz->kind]);
    const char *p = colon + 1;
    for (;;) {
        char *end;
        double v = strtod(p, &end);
        size_t tok = strcspn(p, ",");
        if (end == p || (size_t)(end - p) != tok || !isfinite(v) || v < 0)
            return sbs_fail(e, "--noise: expected a level (a number >= 0), found '%.*s' in '%s'",
                            (int)tok, p, spec);
        if (nz->kind == SBS_NOISE_SALTPEPPER && v > 1)
            return sbs_fail(e,
                            "--noise: a saltpepper level is a fraction of pixels in [0, 1], "
                            "found %g",
                            v);
        if (nz->n == SBS_NOISE_MAX_LEVELS)
            return sbs_fail(e, "--noise: at most %d levels, found more in '%s'",
                            SBS_NOISE_MAX_LEVELS, spec);
        nz->level[nz->n++] = v;
        if (*end == 0) break;
        p = end + 1; /* past ',' */
    }
    return 0;
}

static inline float clip(double v)
{
    return v < PIX_LO ? PIX_LO : v > PIX_HI ? PIX_HI : (float)v;
}

void sbs_noise_apply(sbs_noise_kind kind, double level, uint64_t seed, float *x, int count,
                     size_t pixels, int first)
{
    if (level == 0) return; /* exactly the clean images */
    uint32_t tag = ((uint32_t)SBS_RNG_NOISE << 24) | ((uint32_t)kind << 16);
    for (int i = 0; i < count; i++) {
        uint32_t img = (uint32_t)(first + i);
        float *px = x + (size_t)i * pixels;
        for (size_t p = 0; p < pixels; p++) {
            if (kind == SBS_NOISE_POISSON) {
                double k = sbs_poisson_draw(px[p] / level, seed, tag, img, (uint32_t)p);
                px[p] = clip(level * k);
                continue;
            }
            sbs_ctr c = {{(uint32_t)p, img, 0, tag}};
            sbs_ctr r = sbs_philox(c, seed);
            double u = sbs_u01d(r.v[0]);
            switch (kind) {
            case SBS_NOISE_GAUSSIAN: {
                /* Box-Muller; u1 in (0, 1] */
                double u1 = 1.0 - u, u2 = sbs_u01d(r.v[1]);
                double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
                px[p] = clip(px[p] + level * z);
                break;
            }
            case SBS_NOISE_UNIFORM: px[p] = clip(px[p] + level * (2.0 * u - 1.0)); break;
            case SBS_NOISE_SALTPEPPER:
                if (u < level) px[p] = (r.v[1] & 1u) ? PIX_HI : PIX_LO;
                break;
            default: break;
            }
        }
    }
}
