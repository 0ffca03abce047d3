/* rng.h — counter-based random numbers (Philox 4x32-10, Salmon et al. 2011).
 *
 * Every random number is a pure function of (key, counter): spikes, weight init, shuffling
 * and augmentation are keyed by seed and by what they are for (epoch, sample index, layer,
 * position, spike step), so results do not depend on thread count, batch split or backend. */
#ifndef SBS_RNG_H
#define SBS_RNG_H

#include <stdint.h>

/* The CUDA kernels (kernels/) draw spikes with this same code on the device. */
#if defined(__CUDACC__)
#define SBS_RNG_HD __host__ __device__
#else
#define SBS_RNG_HD
#endif

typedef struct {
    uint32_t v[4];
} sbs_ctr;

static inline SBS_RNG_HD uint32_t sbs_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Philox 4x32 with 10 rounds. */
static inline SBS_RNG_HD sbs_ctr sbs_philox(sbs_ctr c, uint64_t key)
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = sbs_mulhilo32(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = sbs_mulhilo32(0xCD9E8D57u, c.v[2], &hi1);
        sbs_ctr n = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

/* Domains keep the streams of different uses apart (top byte of counter word 3). */
enum {
    SBS_RNG_SPIKES = 1,
    SBS_RNG_INIT = 2,
    SBS_RNG_SHUFFLE = 3,
    SBS_RNG_AUGMENT = 4,
    SBS_RNG_POISSON = 5,
    SBS_RNG_INPUT_SPIKES = 6,
    SBS_RNG_NOISE = 7, /* sbs-eval --noise (noise.h) */
};

/* Uniform float in [0, 1) from 24 random bits. */
static inline float sbs_u01f(uint32_t r)
{
    return (float)(r >> 8) * (1.0f / 16777216.0f);
}
/* Uniform double in [0, 1) from 32 random bits. */
static inline double sbs_u01d(uint32_t r)
{
    return (double)r * (1.0 / 4294967296.0);
}

/* A small sequential stream on top of Philox for non-hot uses (init, shuffling,
 * augmentation): stream = (key, domain, a, b), numbers drawn in order. */
typedef struct {
    uint64_t key;
    sbs_ctr ctr;
    sbs_ctr out;
    int used; /* how many of out.v are consumed (4 = need a new block) */
} sbs_stream;

static inline void sbs_stream_init(sbs_stream *s, uint64_t key, uint32_t domain, uint32_t a,
                                   uint32_t b)
{
    s->key = key;
    s->ctr.v[0] = 0;
    s->ctr.v[1] = a;
    s->ctr.v[2] = b;
    s->ctr.v[3] = domain << 24;
    s->used = 4;
}

static inline uint32_t sbs_stream_u32(sbs_stream *s)
{
    if (s->used == 4) {
        s->out = sbs_philox(s->ctr, s->key);
        s->ctr.v[0]++;
        if (s->ctr.v[0] == 0) s->ctr.v[3]++;
        s->used = 0;
    }
    return s->out.v[s->used++];
}

static inline double sbs_stream_u01(sbs_stream *s)
{
    return sbs_u01d(sbs_stream_u32(s));
}

/* Unbiased integer in [0, n) (Lemire's method). */
static inline uint32_t sbs_stream_below(sbs_stream *s, uint32_t n)
{
    uint64_t m = (uint64_t)sbs_stream_u32(s) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)sbs_stream_u32(s) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* POISSON's sampler (and Poisson input noise's): a Poisson(lambda) count, a pure function of
 * (seed, tag, sample, pixel) (rng.c). */
uint32_t sbs_poisson_draw(double lambda, uint64_t seed, uint32_t tag, uint32_t sample,
                          uint32_t pixel);

#endif
