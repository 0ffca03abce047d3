/* alias_fast.h — the alias table of sbs_alias_build (sbs.h), built without data-dependent
 * branches for the CPU backend's hot path. The tables are bitwise those of sbs_alias_build,
 * which stays the plain reference (tests/nn/test_cpu_bitwise.c compares them). */
#ifndef SBS_ALIAS_FAST_H
#define SBS_ALIAS_FAST_H

#include <stdint.h>

/* As sbs_alias_build: x (K values >= 0) -> thr, alias (K entries each); scratch at least 3*K
 * doubles. */
void sbs_alias_build_fast(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch);

#endif
