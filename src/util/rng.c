/* rng.c — samplers on top of the counter-based generator (rng.h) that are too long to inline:
 * the Poisson count of the POISSON layer and of Poisson input noise. */
#include "sbs/rng.h"

#include <math.h>

typedef struct {
    uint64_t seed;
    sbs_ctr ctr;
    sbs_ctr out;
    int used;
} pstream;

static inline double pstream_u01(pstream *p)
{
    if (p->used >= 4) {
        p->out = sbs_philox(p->ctr, p->seed);
        p->ctr.v[0]++;
        p->used = 0;
    }
    uint64_t hi = p->out.v[p->used], lo = p->out.v[p->used + 1];
    p->used += 2;
    return (double)((hi << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0); /* 53 bits */
}

/* Poisson(lambda): inversion (sequential search from 0, one uniform) for lambda < 10, PTRS
 * (Hörmann 1993, "The transformed rejection method for generating Poisson random variables")
 * above; both exact samplers of the distribution up to double rounding. */
uint32_t sbs_poisson_draw(double lambda, uint64_t seed, uint32_t tag, uint32_t sample,
                          uint32_t pixel)
{
    if (!(lambda > 0.0)) return 0;
    pstream p = {seed, {{0, pixel, sample, tag}}, {{0}}, 4};
    if (lambda < 10.0) {
        double u = pstream_u01(&p);
        double pk = exp(-lambda), cdf = pk;
        uint32_t k = 0;
        while (u > cdf && k < 1000) {
            k++;
            pk *= lambda / k;
            cdf += pk;
            if (pk < 1e-300 && (double)k > lambda) break; /* rounding left 1 - cdf unreachable */
        }
        return k;
    }
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam;
    double a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4);
    double vr = 0.9277 - 3.6224 / (b - 2.0);
    double log_invalpha = log(invalpha);
    for (;;) {
        double U = pstream_u01(&p) - 0.5, V = pstream_u01(&p);
        double us = 0.5 - fabs(U);
        double k = floor((2.0 * a / us + b) * U + lambda + 0.43);
        if (us >= 0.07 && V <= vr) return (uint32_t)k;
        if (k < 0.0 || (us < 0.013 && V > us)) continue;
        int sg;
        if (log(V) + log_invalpha - log(a / (us * us) + b) <=
            -lambda + k * loglam - lgamma_r(k + 1.0, &sg))
            return (uint32_t)k;
    }
}
