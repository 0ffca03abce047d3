/* cpu.h — inside the CPU backend: its private state (the thread pool, per-worker scratch,
 * the per-image gradient buffers, the SbS engine) and the helpers its kernel files share.
 * Nothing outside src/backend/cpu/ includes this. */
#ifndef SBS_BACKEND_CPU_INTERNAL_H
#define SBS_BACKEND_CPU_INTERNAL_H

#include "sbs/backend.h"
#include "sbs/backend_cpu.h"
#include "sbs/threadpool.h"

#include <stddef.h>

typedef struct sbs_cpu_engine sbs_cpu_engine; /* sbs_cpu.c: the fused SbS forward */

typedef struct {
    sbs_pool *pool;
    int threads;
    const char *simd; /* the SIMD level in use */
    sbs_cpu_engine *sbs;
    float **scr; /* per worker scratch, scr_cap floats each */
    size_t scr_cap;
    float *parts; /* per-image weight gradients before the ordered sum */
    size_t parts_cap;
    char desc[96];
} cpu_be;

static inline cpu_be *cpu_of(sbs_backend *be)
{
    return (cpu_be *)be->impl;
}

/* Run fn(ctx, b, worker) for every b < n on the pool (the caller waits). */
void cpu_run(sbs_backend *be, long n, void (*fn)(void *, long, int), void *ctx);
/* Per-worker scratch of at least `floats` floats (call before cpu_run; grows, never
 * shrinks; the contents are undefined). */
void cpu_reserve(sbs_backend *be, size_t floats);
static inline float *cpu_scratch(sbs_backend *be, int worker)
{
    return cpu_of(be)->scr[worker];
}
/* Room for B per-image gradient tensors of n floats each (parts + b * n), zeroed. */
float *cpu_parts(sbs_backend *be, int B, size_t n);
/* acc += parts[0] + parts[1] + ... + parts[B-1], added one image after another (so the sum
 * does not depend on the thread count), spread over the pool by element ranges. */
void cpu_ordered_sum(sbs_backend *be, float *acc, const float *parts, size_t n, int B);

/* The SbS engine (sbs_cpu.c). */
sbs_cpu_engine *sbs_cpu_engine_create(const char *simd, sbs_pool *pool, int threads);
void sbs_cpu_engine_destroy(sbs_cpu_engine *en);
const char *sbs_cpu_engine_simd(const sbs_cpu_engine *en);
void sbs_cpu_engine_forward(sbs_cpu_engine *en, const sbs_layer_args *a, const float *x, int B,
                            const sbs_spike_key *key, float *h);
/* Bytes of the engine's per-worker scratch for a layer (all workers together). */
size_t sbs_cpu_engine_workspace(const sbs_layer *L, int threads);

/* Patch scatter-add (the inverse of sbs_patch_gather), for input gradients. */
void cpu_patch_scatter_add(const sbs_geom *g, const float *win, int ox, int oy, float *img);

/* The SbS forward (k_sbs.c; also SbS LOCAL's): the fused engine on a->x into a->y. */
void cpu_sbs_forward(sbs_backend *be, const sbs_op_args *a);
/* P (M x K, row m for position m) = the input windows of one image x, each normalised to sum
 * 1 (x_i / (sum + 1e-20)) (k_sbs.c; SbS and SbS LOCAL backward). */
void cpu_sbs_windows(const sbs_layer *L, const float *x, float *P);

/* The kernel tables of each kind (k_*.c). */
extern const sbs_layer_kernels cpu_k_sbs, cpu_k_conv2d, cpu_k_relu, cpu_k_pool, cpu_k_sbs_local,
    cpu_k_reconstruction, cpu_k_nnmf, cpu_k_bp_sbs_nnmf, cpu_k_onoff, cpu_k_poisson,
    cpu_k_input_spike_image, cpu_k_approx_conv2d;

#endif
