/* alias_fast.h — the alias table of sbs_alias_build (sbs.h), built without data-dependent
 * branches for the CPU backend's hot path. The tables are bitwise those of sbs_alias_build,
 * which stays the plain reference (tests/nn/test_cpu_bitwise.c compares them). */
#ifndef SBS_ALIAS_FAST_H
#define SBS_ALIAS_FAST_H

#include <stdint.h>

/* As sbs_alias_build: x (K values >= 0) -> thr, alias (K entries each); scratch at least 3*K
 * doubles. */
void sbs_alias_build_fast(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch);

/* Two tables of K columns at once (x0 -> thr0, alias0; x1 -> thr1, alias1), each bitwise as
 * sbs_alias_build's, about twice as fast as two calls of sbs_alias_build_fast for K of about 100
 * and more; scratch0 and scratch1 at least 3*K doubles each. */
void sbs_alias_build_fast2(const float *x0, const float *x1, int K, uint32_t *thr0,
                           uint32_t *alias0, uint32_t *thr1, uint32_t *alias1, double *scratch0,
                           double *scratch1);

#endif
