/* approx.h — the reduced-precision multiplier of "APPROX CONV2D" (SPEC §1.5): products whose
 * mantissas keep number_of_frac_bits bits, optionally with the error term of a truncated
 * array multiplier (number_of_trunc_bits). Research option for hardware studies.
 *
 * Algorithm (follows the reference, github.com/davrot/pytorch-sbs, directory network/CPP_Cuda:
 * approximation_multiplication_function.cpp, gpu_approximation_multiplication_function.cu,
 * gpu_error_term.cu; network/CPP_NoCuda/error_term.cpp; MultiApp.cu passes
 * ap_mask = 2^trunc_bits - 1):
 *
 *   F = frac_bits counts the significand bits INCLUDING the hidden leading 1, exactly as the
 *   reference's number_of_frac_bits does (the reference keeps the top F bits of the 32-bit word
 *   1.fraction<<8).  So F = 24 is the full float significand (exact), F = 1 keeps only the
 *   leading 1 (every operand becomes a signed power of two), F = 30 (the shipped CNN_Approx
 *   configs) is a 24-bit significand padded with 6 zero bits.
 *
 *   1. Write |a| = 1.f_a * 2^ea.  Ma = the top F bits of the significand 1.f_a (truncation,
 *      i.e. rounding toward zero; zero-padded when F > 24): an integer in [2^(F-1), 2^F).
 *      Same for b.  (Denormal operands are first normalised, see below.)
 *   2. P = Ma * Mb, exactly (an integer below 2^(2F) <= 2^64).
 *   3. If enable and T = trunc_bits > 0: a truncated array multiplier drops the partial-product
 *      bits of the lowest T columns: P -= E with
 *          E = sum over i, j with i + j < T of bit_i(Ma) * bit_j(Mb) * 2^(i+j)
 *      (the reference's error_term: for i < T, if bit i of Ma, add (Mb << i) & (2^T - 1)).
 *      E <= P, so the result never grows in magnitude; it may become 0.
 *   4. result = sign(a) XOR sign(b)  times  P * 2^(ea + eb - 2(F-1)), rounded once to float
 *      (round to nearest even, the reference's (float)P cast; the rescale by a power of two
 *      is exact in the normal range).
 *
 * Relative error bound (finite a, b, result in the normal range), u = 2^(1-F):
 *      |r - ab| / |ab|  <=  2u - u^2 + E/P + 2^-24,     E/P <= ((T-1) 2^T + 1) / 2^(2F-2)
 * and |r| <= |fl(a*b)| always (both the mantissa cut and the truncation round toward zero).
 *
 * Settings (the config loader passes -1 for "unset"):
 *   frac_bits <= 0       -> 24 (exact significands)      frac_bits > 32 -> clamped to 32
 *   24 <= frac_bits <= 32 and no truncation: bitwise equal to the IEEE product a*b.
 *   enable == false or trunc_bits <= 0 -> no truncation;  trunc_bits > 2F -> clamped to 2F
 *   (then every finite product is a signed zero).
 *   c == NULL -> the exact product a*b.
 *
 * Special values (where the reference's bit manipulation has undefined/garbage results we use
 * IEEE semantics instead; for finite normal operands with a normal result and trunc_bits <= 27
 * the output is bitwise identical to the reference, except the sign of an all-zero result):
 *   - NaN in, NaN out; inf * 0 = NaN; inf * nonzero finite = +-inf (IEEE, sign XOR).
 *   - a or b = +-0 -> a signed zero with sign XOR (the reference returns +0 always).
 *   - a product truncated to 0 -> a signed zero with sign XOR.
 *   - denormal operands are kept: normalised (leading 1 becomes the hidden bit, exponent below
 *     -126), then cut to F bits like any other operand (the reference misreads them as
 *     2^-127 * 1.f).
 *   - results beyond FLT_MAX round to +-inf, tiny results underflow gradually to denormals or
 *     +-0, both by the single IEEE rounding of step 4 (the reference wraps the exponent field).
 */
#ifndef SBS_APPROX_H
#define SBS_APPROX_H

#include <stdbool.h>

typedef struct {
    int frac_bits;  /* significand bits kept incl. the hidden 1 (1..32); 24..32 exact;
                             <= 0 means unset = exact (24) */
    bool enable;    /* add the truncated-array-multiplier error term */
    int trunc_bits; /* columns of partial products dropped (0..2*frac_bits) */
} sbs_approx_cfg;

/* The approximate product a*b. */
float sbs_approx_mul(float a, float b, const sbs_approx_cfg *c);

/* sum_{i<n} sbs_approx_mul(a[i], b[i], c), accumulated in float in index order starting from
 * +0.0f (so n <= 0 gives +0). */
float sbs_approx_dot(const float *a, const float *b, int n, const sbs_approx_cfg *c);

/* A config with the settings clamped as described above (frac_bits in 1..32, trunc_bits in
 * 0..2*frac_bits, trunc_bits = 0 when !enable).  sbs_approx_mul gives the same results for c and
 * for sbs_approx_cfg_make(c->enable, c->trunc_bits, c->frac_bits). */
sbs_approx_cfg sbs_approx_cfg_make(bool enable, int trunc_bits, int frac_bits);

#endif
