/* backend.h — a compute backend is a table of kernels chosen at run time (CPU now; CUDA
 * kernels in kernels/ will fill the same table). The network code calls only these. */
#ifndef SBS_BACKEND_H
#define SBS_BACKEND_H

#include "sbs/sbs.h"
#include "sbs/threadpool.h"

typedef struct sbs_backend sbs_backend;

struct sbs_backend {
    const char *name;
    /* SbS layer forward: x (B,C,H,W) -> h (B,N,X,Y). a->W is (K, ldw) row-major; the CPU
     * backend wants ldw a multiple of 16 with zero padding columns (sbs_pad_n). */
    void (*sbs_forward)(sbs_backend *be, const sbs_layer_args *a, const float *x, int B,
                        const sbs_spike_key *key, float *h);
    void (*destroy)(sbs_backend *be);
    sbs_pool *pool;
    int threads;
    void *impl;
};

/* Padded neuron count used for SbS weight rows (multiple of 16). */
static inline int sbs_pad_n(int N) { return (N + 15) & ~15; }

/* CPU backend: threads <= 0 means all cores. simd: "auto", "avx512", "avx2", "scalar". */
sbs_backend *sbs_cpu_backend_create(int threads, const char *simd);
/* The SIMD level the CPU backend actually uses. */
const char *sbs_cpu_simd_name(const sbs_backend *be);

/* The fast dynamics of one group of P positions, exposed for the oracle tests:
 * idx is P x T, h is P x ldw (output normalised over the first N entries). */
void sbs_cpu_dynamics(const char *simd, const float *W, int N, int ldw, int P,
                      const int32_t *idx, int T, const float *eps, float forgetting_offset,
                      float *h);
/* The same for variable-length spike rows (the full-layer path): position p runs over its
 * len[p] spikes idx[p][0 .. len[p]-1], with eps indexed by its own spike count. */
void sbs_cpu_dynamics_var(const char *simd, const float *W, int N, int ldw, int P,
                          const int32_t *const *idx, const int *len, const float *eps,
                          float forgetting_offset, float *h);

#endif
