/* backend_cpu.h — the CPU backend's pieces that its tests and the oracle comparisons call
 * directly: the fast dynamics of one group of positions and the vectorised spike draw
 * (both bitwise checked against the portable versions in sbs.h). Programs choose the
 * backend by name through sbs_backend_create (backend.h). */
#ifndef SBS_BACKEND_CPU_H
#define SBS_BACKEND_CPU_H

#include "sbs/sbs.h"

/* The SIMD levels the CPU backend knows, best first; "auto" picks the best the CPU has. */
extern const char *const sbs_cpu_simd_levels[3]; /* "avx512", "avx2", "scalar" */
/* Whether this CPU can run a level. */
bool sbs_cpu_simd_supported(const char *simd);

/* The fast dynamics of one group of P positions: idx is P x T, h is P x ldw (output
 * normalised over the first N entries). */
void sbs_cpu_dynamics(const char *simd, const float *W, int N, int ldw, int P, const int32_t *idx,
                      int T, const float *eps, float forgetting_offset, float *h);

/* The same for variable-length spike rows (the full-layer path): position p runs over its
 * len[p] spikes idx[p][0 .. len[p]-1], with eps indexed by its own spike count. */
void sbs_cpu_dynamics_var(const char *simd, const float *W, int N, int ldw, int P,
                          const int32_t *const *idx, const int *len, const float *eps,
                          float forgetting_offset, float *h);

/* sbs_spikes_draw vectorised where the CPU allows (AVX-512); bitwise equal to it. */
void sbs_spikes_draw_fast(const char *simd, const uint32_t *thr, const uint32_t *alias, int K,
                          uint64_t seed, uint32_t tag, uint32_t sample, uint32_t position, int T,
                          int32_t *idx);


#endif
