/* sbs_step.h — the per-step coefficients of the fast h dynamics, spelt once with explicit
 * fused operations so that every backend that claims the AVX-512 bits (CPU AVX-512 and AVX2,
 * later CUDA) computes them the same way (DESIGN.md, "Arithmetic contract between backends").
 *
 * At step t with eps e and clamped forgetting offset fo, the update of one position is
 *   r = <h, w> (16 lane partial sums, lane j = neuron mod 16, reduced by halves j+8, j+4, j+2,
 *       j+1),  and if r > 1e-10:  b = ea / r,  h_n = fmaf(h_n, fmaf(b, w_n, a), c)
 * with the coefficients below. a = 1 / fmaf(e, 1 + fo, 1) reproduces what GCC made of
 * `1 + e*(1 + fo)` on the FMA paths before this header existed (it contracted it); c and ea
 * are plain products (c = ((e fo) a) / N, left to right), which nothing contracts.
 *
 * The scalar path (built for CPUs without FMA) keeps its unfused formula and is not part of
 * the bitwise contract; it is checked against the oracle to a tolerance like the others. */
#ifndef SBS_SBS_STEP_H
#define SBS_SBS_STEP_H

#include <math.h>

typedef struct {
    float a;  /* 1 / (1 + e (1 + fo)) */
    float c;  /* e fo a / N */
    float ea; /* e a: b = ea / r */
} sbs_step_coef;

/* the forgetting offset the dynamics use: negative (off) becomes 0 */
static inline float sbs_step_fo(float forgetting_offset)
{
    return forgetting_offset > 0.0f ? forgetting_offset : 0.0f;
}

/* the coefficients of one step: e = eps[t], fo = sbs_step_fo(...), N neurons */
static inline sbs_step_coef sbs_step_coefs(float e, float fo, int N)
{
    sbs_step_coef k;
    k.a = 1.0f / fmaf(e, 1.0f + fo, 1.0f);
    k.c = e * fo * k.a / (float)N;
    k.ea = e * k.a;
    return k;
}

#endif
