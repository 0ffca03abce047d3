/* approx.h — the reduced-precision multiplier of "APPROX CONV2D" (SPEC §1.5): products whose
 * mantissas keep number_of_frac_bits bits, optionally with the error term of a truncated
 * array multiplier (number_of_trunc_bits). Research option for hardware studies. */
#ifndef SBS_APPROX_H
#define SBS_APPROX_H

#include <stdbool.h>

typedef struct {
    int frac_bits;        /* mantissa bits kept (1..23); >= 23 means exact mantissas */
    bool enable;          /* add the truncated-array-multiplier error term */
    int trunc_bits;       /* columns of partial products dropped */
} sbs_approx_cfg;

/* The approximate product a*b. */
float sbs_approx_mul(float a, float b, const sbs_approx_cfg *c);

#endif
