/* noise.h — input noise for robustness curves (`sbs-eval --noise KIND:LEVELS`): test images,
 * after the usual preprocessing (pixels in [0, 1], centre crop, + 1e-20), get noise of one
 * kind at one level and are clipped back to the preprocessed range [1e-20, 1]:
 *
 *   gaussian   level s: x + s*z, z standard normal (s is the standard deviation)
 *   uniform    level a: x + u, u uniform in [-a, a]
 *   saltpepper level p: with probability p the pixel becomes 0 or 1 (equally likely)
 *   poisson    level s: s*k, k ~ Poisson(x/s) (shot noise: mean x, variance s*x; a white
 *              pixel gets standard deviation sqrt(s))
 *
 * Level 0 leaves the images exactly as they are. The random numbers are Philox (rng.h) keyed
 * by (seed, kind, image index in the split, pixel) — not by the level, so one level gives the
 * same images whatever other levels are listed, and a pixel's noise grows with the level
 * (common random numbers: the curve is smoother). Nothing depends on threads or batch size. */
#ifndef SBS_NOISE_H
#define SBS_NOISE_H

#include "sbs/common.h"

typedef enum {
    SBS_NOISE_GAUSSIAN = 1,
    SBS_NOISE_UNIFORM,
    SBS_NOISE_SALTPEPPER,
    SBS_NOISE_POISSON
} sbs_noise_kind;

#define SBS_NOISE_MAX_LEVELS 64

typedef struct {
    sbs_noise_kind kind;
    int n; /* levels */
    double level[SBS_NOISE_MAX_LEVELS];
} sbs_noise;

/* Parse "KIND:L1,L2,..." (levels >= 0, finite; saltpepper <= 1). One line in e on failure,
 * naming --noise, what was expected and what was found. */
int sbs_noise_parse(const char *spec, sbs_noise *nz, sbs_err *e);

/* "gaussian", "uniform", "saltpepper", "poisson". */
const char *sbs_noise_name(sbs_noise_kind k);

/* Add noise of the given level to `count` images of `pixels` floats each at x (in place);
 * x holds images first, first+1, ... of the split. */
void sbs_noise_apply(sbs_noise_kind kind, double level, uint64_t seed, float *x, int count,
                     size_t pixels, int first);

#endif
