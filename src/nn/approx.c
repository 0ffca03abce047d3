/* approx.c — reduced-precision multiplier of "APPROX CONV2D" (SPEC §1.5).
 * The algorithm and the special-value rules are documented in include/sbs/approx.h. */
#include "sbs/approx.h"

#include <stdint.h>
#include <string.h>

static inline uint32_t f2u(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double pow2d(int k) /* 2^k for -1022 <= k <= 1023 */
{
    uint64_t u = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

sbs_approx_cfg sbs_approx_cfg_make(bool enable, int trunc_bits, int frac_bits)
{
    sbs_approx_cfg c;
    int f = frac_bits;
    if (f <= 0)
        f = 24;
    else if (f > 32)
        f = 32;
    int t = enable ? trunc_bits : 0;
    if (t < 0)
        t = 0;
    else if (t > 2 * f)
        t = 2 * f;
    c.frac_bits = f;
    c.enable = enable;
    c.trunc_bits = t;
    return c;
}

/* Effective (F, T) with F <= 24: a significand of F > 24 bits is the 24-bit one padded with
 * s = F - 24 zero bits, so its partial-product array is the 24-bit one shifted by 2s columns;
 * dropping T columns there drops T - 2s columns of the 24-bit array, and the scale 2^-2(F-1)
 * absorbs the padding. The value is therefore identical. */
static inline void effective(const sbs_approx_cfg *c, int *F, int *T)
{
    sbs_approx_cfg e = sbs_approx_cfg_make(c->enable, c->trunc_bits, c->frac_bits);
    int f = e.frac_bits, t = e.trunc_bits;
    if (f > 24) {
        t -= 2 * (f - 24);
        if (t < 0) t = 0;
        f = 24;
    }
    *F = f;
    *T = t;
}

/* 24-bit significand (hidden bit at bit 23) and unbiased exponent of a finite nonzero float;
 * denormals are normalised. */
static inline uint32_t significand24(uint32_t u, int *e)
{
    uint32_t ex = (u >> 23) & 0xffu, fr = u & 0x7fffffu;
    if (ex != 0) {
        *e = (int)ex - 127;
        return fr | 0x800000u;
    }
    int lz = __builtin_clz(fr) - 8; /* shifts that bring the leading 1 to bit 23 */
    *e = -126 - lz;
    return fr << lz;
}

float sbs_approx_mul(float a, float b, const sbs_approx_cfg *c)
{
    if (c == NULL) return a * b;
    uint32_t ua = f2u(a), ub = f2u(b);
    /* NaN, inf, zero operands: IEEE product (NaN propagation, inf*0 = NaN, signed zeros). */
    if (((ua >> 23) & 0xffu) == 0xffu || ((ub >> 23) & 0xffu) == 0xffu || (ua << 1) == 0 ||
        (ub << 1) == 0)
        return a * b;

    int F, T;
    effective(c, &F, &T);

    int ea, eb;
    uint64_t Ma = significand24(ua, &ea) >> (24 - F);
    uint64_t Mb = significand24(ub, &eb) >> (24 - F);
    uint64_t P = Ma * Mb; /* < 2^48 */

    if (T > 0) {
        /* Truncated array multiplier: drop the partial-product bits of columns 0..T-1. */
        uint64_t mask = (1ull << T) - 1; /* T <= 48 */
        uint64_t E = 0;
        int n = T < F ? T : F;
        for (int i = 0; i < n; i++)
            if ((Ma >> i) & 1u) E += (Mb << i) & mask;
        P = E > P ? 0 : P - E; /* E <= P always; kept as in the reference */
    }

    /* value = P * 2^(ea + eb - 2(F-1)); exact in double (P < 2^48, exponent >= -344), then
     * one IEEE rounding to float (overflow to inf, gradual underflow). */
    int k = ea + eb - 2 * (F - 1);
    float r = (float)((double)P * pow2d(k));
    return ((ua ^ ub) >> 31) ? -r : r;
}

float sbs_approx_dot(const float *a, const float *b, int n, const sbs_approx_cfg *c)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += sbs_approx_mul(a[i], b[i], c);
    return s;
}
