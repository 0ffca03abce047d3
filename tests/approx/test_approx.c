/* test_approx.c — tests of the APPROX CONV2D multiplier (include/sbs/approx.h).
 * One line per case; exit 1 on any failure. */
#include "sbs/approx.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail = 0;    /* failed cases */
static long g_checks = 0; /* individual assertions */

static uint32_t f2u(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static float u2f(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- deterministic RNG (splitmix64) ---- */
static uint64_t rng_state = 0x5eed1234abcdULL;
static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint32_t rnd32(void)
{
    return (uint32_t)(rnd64() >> 32);
}
static int rnd_int(int lo, int hi)
{
    return lo + (int)(rnd64() % (uint64_t)(hi - lo + 1));
}
/* any bit pattern (NaN, inf, denormals, zeros included) */
static float rnd_bits(void)
{
    return u2f(rnd32());
}
/* finite: exponent field 0..254, with extra weight on denormals and extremes */
static float rnd_finite(void)
{
    uint32_t u = rnd32();
    uint32_t ex;
    switch (rnd32() % 8) {
    case 0: ex = 0; break;                 /* denormal or zero */
    case 1: ex = 1 + rnd32() % 8; break;   /* near FLT_MIN */
    case 2: ex = 254 - rnd32() % 8; break; /* near FLT_MAX */
    default: ex = rnd32() % 255; break;
    }
    return u2f((u & 0x807fffffu) | (ex << 23));
}
/* normal, sign random, |x| in [2^lo, 2^(hi+1)) */
static float rnd_normal(int lo, int hi)
{
    uint32_t ex = (uint32_t)(127 + rnd_int(lo, hi));
    return u2f((rnd32() & 0x807fffffu) | (ex << 23));
}

/* ---- case bookkeeping: a case prints one line; failures inside print (capped) ---- */
static int case_fail;
static long case_checks;
static void case_begin(void)
{
    case_fail = 0;
    case_checks = 0;
}
static void check(int ok, const char *fmt, ...)
{
    case_checks++;
    g_checks++;
    if (ok) return;
    if (case_fail < 10) {
        va_list ap;
        va_start(ap, fmt);
        printf("    FAIL: ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
    case_fail++;
}
static void case_end(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", case_fail ? "FAIL" : "ok  ");
    vprintf(fmt, ap);
    printf(" (%ld checks", case_checks);
    if (case_fail) printf(", %d failed", case_fail);
    printf(")\n");
    va_end(ap);
    if (case_fail) g_fail++;
}

static int same_bits(float x, float y)
{
    if (isnan(x) && isnan(y)) return 1;
    return f2u(x) == f2u(y);
}

static sbs_approx_cfg cfg(int F, int en, int T)
{
    sbs_approx_cfg c = {F, en != 0, T};
    return c;
}

/* ---- independent model: frexp significands, explicit partial-product array, integer
 * round-to-nearest-even to the float grid. F in 1..32, T in 0..2F (already clamped). ---- */
static float round_to_float(uint64_t kept, int k) /* kept * 2^k, correctly rounded */
{
    if (kept == 0) return 0.0f;
    int msb = 63 - __builtin_clzll(kept);
    int q = msb + k - 23; /* exponent of the float ulp at this magnitude */
    if (q < -149) q = -149;
    int s = q - k; /* low bits to drop */
    uint64_t m;
    if (s <= 0) {
        m = kept;
        s = 0;
    } else if (s > 64) {
        m = 0;
    } else {
        unsigned __int128 K = kept, one = 1;
        unsigned __int128 mm = K >> s, rem = K & ((one << s) - 1), half = one << (s - 1);
        if (rem > half || (rem == half && (mm & 1))) mm++;
        m = (uint64_t)mm;
    }
    return (float)ldexp((double)m, k + s); /* m <= 2^24: exact or overflow to inf */
}

static float model(float a, float b, int F, int T)
{
    if (!isfinite(a) || !isfinite(b) || a == 0.0f || b == 0.0f) return a * b;
    int ea, eb;
    double fa = frexp(fabs((double)a), &ea), fb = frexp(fabs((double)b), &eb); /* [0.5,1) */
    uint64_t A = (uint64_t)ldexp(fa, F), B = (uint64_t)ldexp(fb, F);           /* floor */
    uint64_t kept = 0;
    for (int i = 0; i < F; i++)
        for (int j = 0; j < F; j++)
            if (((A >> i) & 1) && ((B >> j) & 1) && i + j >= T) kept += 1ull << (i + j);
    float r = round_to_float(kept, ea + eb - 2 * F);
    return (signbit(a) != signbit(b)) ? -r : r;
}

/* ---- a re-statement of the reference's bit-level steps (pytorch-sbs
 * approximation_multiplication_function / error_term), meaningful for normal operands with a
 * normal result and T <= 27 (no 32-bit overflow of its error accumulator). ---- */
static float refstyle(float a, float b, int F, int en, int T)
{
    uint32_t ua = f2u(a), ub = f2u(b);
    uint32_t sign = (ua ^ ub) & 0x80000000u;
    uint32_t xa = (ua << 1) >> 24, xb = (ub << 1) >> 24;
    unsigned sh = (unsigned)(32 - F);
    uint32_t Ma = ((ua << 8) | 0x80000000u) >> sh;
    uint32_t Mb = ((ub << 8) | 0x80000000u) >> sh;
    if (a == 0) Ma = 0;
    if (b == 0) Mb = 0;
    uint64_t P = (uint64_t)Ma * (uint64_t)Mb;
    if (en) {
        uint32_t mask = (uint32_t)((1ull << T) - 1);
        uint32_t E = 0, x = Mb, y = Ma & mask;
        for (int i = 0; i < T; i++) {
            if (x & 1) E += y & mask;
            x >>= 1;
            y <<= 1;
        }
        P = E > P ? 0 : P - E;
    }
    if (P == 0) return 0.0f;
    uint32_t uo = f2u((float)P);
    uint32_t xo = ((uo << 1) >> 24) - 2u * (uint32_t)F;
    uint32_t t = xa + xb + xo;
    xo = t > 252 ? t - 252 : 0;
    uo = ((uo << 9) >> 9) + (xo << 23) + sign;
    return u2f(uo);
}

/* ======================================================================================== */

static void test_hand(void)
{
    const struct {
        int F, en, T;
        float a, b, want;
        const char *what;
    } H[] = {
        {2, 0, 0, 1.75f, 1.75f, 2.25f, "1.11b->1.1b: 1.5*1.5"},
        {2, 1, 0, 1.75f, 1.75f, 2.25f, "enable, T=0"},
        {2, 1, 1, 1.75f, 1.75f, 2.0f, "M=3*3=9, drop col0 (1) -> 8/4"},
        {2, 1, 2, 1.75f, 1.75f, 1.0f, "drop col0+col1 (1+2*2=5) -> 4/4"},
        {2, 1, 3, 1.75f, 1.75f, 0.0f, "drop all -> +0"},
        {2, 1, 4, 1.75f, 1.75f, 0.0f, "T=2F -> +0"},
        {2, 1, 3, 1.75f, -1.75f, -0.0f, "drop all, sign -> -0"},
        {2, 0, 7, 1.75f, 1.75f, 2.25f, "enable=false ignores T"},
        {2, 0, 0, -1.75f, 1.75f, -2.25f, "sign -+"},
        {2, 0, 0, 1.75f, -1.75f, -2.25f, "sign +-"},
        {2, 0, 0, -1.75f, -1.75f, 2.25f, "sign --"},
        {3, 0, 0, 1.75f, 1.75f, 3.0625f, "M=7*7=49 /16 (exact)"},
        {3, 1, 2, 1.75f, 1.75f, 2.75f, "49-(1+2*2)=44 /16"},
        {1, 0, 0, 1.75f, 1.75f, 1.0f, "F=1: 1*1"},
        {1, 0, 0, 3.0f, 3.0f, 4.0f, "F=1: 2*2"},
        {1, 0, 0, 1.99999988f, 1.5f, 1.0f, "F=1: all-ones mantissa -> 1"},
        {2, 0, 0, 3.0f, 5.0f, 12.0f, "M 3*2=6, 2^(1+2-2)"},
        {4, 0, 0, 1.9375f, 1.9375f, 3.515625f, "1.1111b->1.111b: 1.875^2"},
        {4, 1, 3, 1.9375f, 1.9375f, 3.25f, "225-(1+2*2+3*4=17)=208 /64"},
        {24, 0, 0, 1.00000012f, 1.00000012f, 1.00000024f, "(1+2^-23)^2 rounds to 1+2^-22"},
        {24, 1, 23, 1.00000012f, 1.00000012f, 1.00000024f, "T=23 drops col0 only"},
        {24, 1, 24, 1.00000012f, 1.00000012f, 1.0f, "T=24 drops col0 + col23 (1+2*2^23)"},
        {30, 1, 12, 1.00000012f, 1.00000012f, 1.00000024f, "F=30 pads 6 zeros: T<=12 no-op"},
        {30, 1, 13, 1.00000012f, 1.00000012f, 1.00000024f, "F=30,T=13 == F=24,T=1"},
        {30, 1, 35, 1.00000012f, 1.00000012f, 1.00000024f, "F=30,T=35 == F=24,T=23"},
        {30, 1, 36, 1.00000012f, 1.00000012f, 1.0f, "F=30,T=36 == F=24,T=24"},
        {2, 0, 0, 0x1p-149f, 0x1p100f, 0x1p-49f, "denorm_min * 2^100"},
        {2, 0, 0, u2f(0x007fffffu), 0x1p127f, 1.5f, "denorm_max normalised, cut to 1.1b"},
        {24, 0, 0, u2f(0x007fffffu), 0x1p127f, 0x1.fffffcp0f, "denorm_max exact: 2-2^-22"},
        {24, 0, 0, 3.0f, 3 * 0x1p-149f, 9 * 0x1p-149f, "denormal result exact"},
        {24, 0, 0, 1.5f, 0x1p-149f, 0x1p-148f, "underflow rounds to even"},
        {1, 0, 0, 1.5f, 0x1p-149f, 0x1p-149f, "F=1 underflow"},
        {24, 0, 0, FLT_MIN, 0.5f, 0x1p-127f, "FLT_MIN/2 gradual underflow"},
        {24, 0, 0, FLT_MIN, FLT_MIN, 0.0f, "underflow to +0"},
        {24, 0, 0, -FLT_MIN, FLT_MIN, -0.0f, "underflow to -0"},
        {24, 0, 0, FLT_MAX, 2.0f, INFINITY, "overflow to +inf"},
        {24, 0, 0, -FLT_MAX, 2.0f, -INFINITY, "overflow to -inf"},
        {1, 0, 0, FLT_MAX, 1.5f, 0x1p127f, "F=1: FLT_MAX->2^127, 1.5->1"},
        {1, 0, 0, FLT_MAX, 2.0f, INFINITY, "F=1: 2^128 -> inf"},
        {5, 1, 3, 0.0f, 1.75f, 0.0f, "+0*x"},
        {5, 1, 3, -0.0f, 1.75f, -0.0f, "-0*x"},
        {5, 1, 3, 0.0f, -1.75f, -0.0f, "0*-x"},
        {5, 1, 3, -0.0f, -0.0f, 0.0f, "-0*-0"},
        {5, 1, 3, INFINITY, 1.75f, INFINITY, "inf*x"},
        {5, 1, 3, INFINITY, -0x1p-149f, -INFINITY, "inf*-denorm"},
        {5, 1, 3, -INFINITY, -INFINITY, INFINITY, "-inf*-inf"},
        {5, 1, 3, INFINITY, 0.0f, NAN, "inf*0 = NaN"},
        {5, 1, 3, NAN, 1.0f, NAN, "NaN*1"},
        {5, 1, 3, 0.0f, NAN, NAN, "0*NaN"},
        {-1, 1, -1, 1.1f, 3.3f, 1.1f * 3.3f, "unset (-1,-1) = exact"},
        {0, 1, 0, 1.1f, 3.3f, 1.1f * 3.3f, "F=0,T=0 = exact"},
        {40, 0, 0, 1.1f, 3.3f, 1.1f * 3.3f, "F=40 clamped to 32 = exact"},
        {5, 1, 100, 1.1f, 3.3f, 0.0f, "T>2F clamped: all dropped"},
    };
    for (size_t i = 0; i < sizeof H / sizeof H[0]; i++) {
        case_begin();
        sbs_approx_cfg c = cfg(H[i].F, H[i].en, H[i].T);
        float r = sbs_approx_mul(H[i].a, H[i].b, &c);
        check(same_bits(r, H[i].want), "got %a (0x%08x) want %a (0x%08x)", (double)r, f2u(r),
              (double)H[i].want, f2u(H[i].want));
        case_end("hand F=%d en=%d T=%d: %a * %a = %a  [%s]", H[i].F, H[i].en, H[i].T,
                 (double)H[i].a, (double)H[i].b, (double)r, H[i].what);
    }
}

/* special values, all ordered pairs, for a set of configs */
static void test_specials(void)
{
    const float S[] = {
        0.0f,
        -0.0f,
        0x1p-149f,
        -0x1p-149f,
        u2f(0x007fffffu),
        u2f(0x807fffffu),
        u2f(0x00400001u),
        FLT_MIN,
        -FLT_MIN,
        FLT_MAX,
        -FLT_MAX,
        INFINITY,
        -INFINITY,
        NAN,
        -NAN,
        1.0f,
        -1.0f,
        2.0f,
        0.5f,
        -0.25f,
        0x1p-20f,
        0x1p100f,
        -0x1p-100f,
        1.99999988f,
        -1.99999988f,
        u2f(0x3fffffffu),
        u2f(0x7effffffu),
        u2f(0x00ffffffu),
        1.75f,
        3.0f,
        -1.1f,
        0.1f,
    };
    const int n = (int)(sizeof S / sizeof S[0]);
    const int C[][3] = {{1, 0, 0},   {1, 1, 1},   {2, 1, 2},   {5, 1, 3},   {8, 0, 0},
                        {12, 1, 7},  {13, 1, 20}, {23, 0, 0},  {23, 1, 23}, {24, 0, 0},
                        {24, 1, 0},  {24, 1, 1},  {24, 1, 30}, {24, 1, 48}, {30, 1, 1},
                        {30, 1, 20}, {32, 0, 0},  {32, 1, 64}, {-1, 1, -1}, {0, 0, 5}};
    for (size_t ci = 0; ci < sizeof C / sizeof C[0]; ci++) {
        case_begin();
        sbs_approx_cfg c = cfg(C[ci][0], C[ci][1], C[ci][2]);
        sbs_approx_cfg e = sbs_approx_cfg_make(c.enable, c.trunc_bits, c.frac_bits);
        int exact = e.frac_bits >= 24 && e.trunc_bits == 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                float a = S[i], b = S[j], r = sbs_approx_mul(a, b, &c), p = a * b;
                int sx = signbit(a) != signbit(b);
                if (isnan(a) || isnan(b)) {
                    check(isnan(r), "NaN in: %a*%a -> %a", (double)a, (double)b, (double)r);
                } else if (isinf(a) || isinf(b)) {
                    if (a == 0 || b == 0)
                        check(isnan(r), "inf*0: %a*%a -> %a", (double)a, (double)b, (double)r);
                    else
                        check(isinf(r) && (signbit(r) != 0) == sx, "inf: %a*%a -> %a", (double)a,
                              (double)b, (double)r);
                } else if (a == 0 || b == 0) {
                    check(r == 0 && (signbit(r) != 0) == sx, "zero: %a*%a -> %a", (double)a,
                          (double)b, (double)r);
                } else {
                    float m = model(a, b, e.frac_bits, e.trunc_bits);
                    check(same_bits(r, m), "model: %a*%a -> %a, model %a", (double)a, (double)b,
                          (double)r, (double)m);
                    check((signbit(r) != 0) == sx, "sign: %a*%a -> %a", (double)a, (double)b,
                          (double)r);
                    check(fabsf(r) <= fabsf(p), "|r|<=|ab|: %a*%a -> %a > %a", (double)a, (double)b,
                          (double)r, (double)p);
                }
                if (exact)
                    check(same_bits(r, p), "exact: %a*%a -> %a != %a", (double)a, (double)b,
                          (double)r, (double)p);
                check(same_bits(r, sbs_approx_mul(b, a, &c)), "commutative %a %a", (double)a,
                      (double)b);
            }
        case_end("specials %dx%d pairs, F=%d en=%d T=%d", n, n, c.frac_bits, c.enable,
                 c.trunc_bits);
    }
}

/* exactness: F >= 24 without truncation is bitwise the IEEE product */
static void test_exact(void)
{
    const int C[][3] = {{24, 0, 0}, {24, 1, 0},  {24, 0, 9}, {-1, 1, -1}, {0, 0, 0}, {30, 1, 12},
                        {30, 1, 1}, {32, 1, 16}, {25, 1, 2}, {32, 0, 0},  {99, 1, 0}};
    const long N = 1000000;
    for (size_t ci = 0; ci < sizeof C / sizeof C[0]; ci++) {
        case_begin();
        sbs_approx_cfg c = cfg(C[ci][0], C[ci][1], C[ci][2]);
        long nn = (ci == 0) ? N : N / 10;
        for (long t = 0; t < nn; t++) {
            float a, b;
            switch (t % 3) {
            case 0:
                a = rnd_bits();
                b = rnd_bits();
                break;
            case 1:
                a = rnd_finite();
                b = rnd_finite();
                break;
            default:
                a = rnd_normal(-60, 60);
                b = rnd_normal(-60, 60);
                break;
            }
            float r = sbs_approx_mul(a, b, &c), p = a * b;
            check(same_bits(r, p), "%a*%a -> %a (0x%08x) != %a (0x%08x)", (double)a, (double)b,
                  (double)r, f2u(r), (double)p, f2u(p));
        }
        case_end("exact == a*b bitwise on %ld random pairs, F=%d en=%d T=%d", nn, c.frac_bits,
                 c.enable, c.trunc_bits);
    }
    case_begin();
    for (long t = 0; t < 100000; t++) {
        float a = rnd_bits(), b = rnd_bits();
        check(same_bits(sbs_approx_mul(a, b, NULL), a * b), "NULL cfg %a*%a", (double)a, (double)b);
    }
    case_end("NULL cfg == a*b on 100000 random pairs");
}

/* bitwise agreement with the independent model for every F in 1..32 and T in 0..2F */
static void test_model_all_settings(void)
{
    for (int F = 1; F <= 32; F++) {
        case_begin();
        for (int T = 0; T <= 2 * F; T++) {
            sbs_approx_cfg c = cfg(F, 1, T);
            for (int t = 0; t < 120; t++) {
                float a, b;
                if (t % 2) {
                    a = rnd_finite();
                    b = rnd_finite();
                } else {
                    a = rnd_normal(-20, 20);
                    b = rnd_normal(-20, 20);
                }
                float r = sbs_approx_mul(a, b, &c), m = model(a, b, F, T);
                check(same_bits(r, m), "F=%d T=%d %a*%a -> %a, model %a", F, T, (double)a,
                      (double)b, (double)r, (double)m);
            }
        }
        case_end("model agreement F=%d, T=0..%d, 120 pairs each", F, 2 * F);
    }
}

/* bitwise agreement with the reference's bit-level steps where those are well defined */
static void test_reference_parity(void)
{
    case_begin();
    long zero_sign_diffs = 0;
    for (int F = 1; F <= 32; F++)
        for (int T = 0; T <= 2 * F && T <= 27; T++)
            for (int en = 0; en <= 1; en++) {
                sbs_approx_cfg c = cfg(F, en, T);
                for (int t = 0; t < 100; t++) {
                    float a = rnd_normal(-30, 30), b = rnd_normal(-30, 30);
                    float r = sbs_approx_mul(a, b, &c), q = refstyle(a, b, F, en, T);
                    if (r == 0 && q == 0 && f2u(q) == 0) {
                        zero_sign_diffs += f2u(r) != 0; /* reference's zero is always +0 */
                        check((signbit(r) != 0) == (signbit(a) != signbit(b)), "zero sign");
                        continue;
                    }
                    check(same_bits(r, q), "F=%d en=%d T=%d %a*%a -> %a, reference %a", F, en, T,
                          (double)a, (double)b, (double)r, (double)q);
                }
            }
    case_end("reference bit-level parity, F=1..32, T=0..min(2F,27), normal range "
             "(%ld results -0 where the reference gives +0)",
             zero_sign_diffs);
}

/* sign rule on random magnitudes */
static void test_signs(void)
{
    case_begin();
    for (int t = 0; t < 20000; t++) {
        sbs_approx_cfg c = cfg(rnd_int(-2, 34), rnd_int(0, 1), rnd_int(-2, 70));
        float a = fabsf(rnd_finite()), b = fabsf(rnd_finite());
        float pp = sbs_approx_mul(a, b, &c);
        check(!signbit(pp), "++ sign");
        check(same_bits(sbs_approx_mul(-a, b, &c), -pp), "-+ %a %a", (double)a, (double)b);
        check(same_bits(sbs_approx_mul(a, -b, &c), -pp), "+- %a %a", (double)a, (double)b);
        check(same_bits(sbs_approx_mul(-a, -b, &c), pp), "-- %a %a", (double)a, (double)b);
        check(same_bits(sbs_approx_mul(b, a, &c), pp), "commutative %a %a", (double)a, (double)b);
    }
    case_end("sign = sign(a) XOR sign(b), |r| independent of signs, commutative (20000 x 4)");
}

/* error bound: |r - ab|/|ab| <= 2u - u^2 + Emax/2^(2F-2) + 2^-24, u = 2^(1-F),
 * Emax = (T-1) 2^T + 1 (T > 0); |r| <= |fl(ab)|; monotone in T and in F */
static void test_error_bounds(void)
{
    for (int F = 1; F <= 24; F++) {
        case_begin();
        double u = ldexp(1.0, 1 - F), base = 2 * u - u * u;
        double maxrel0 = 0;
        for (int t = 0; t < 20000; t++) {
            float a = rnd_normal(-40, 40), b = rnd_normal(-40, 40);
            double ex = (double)a * (double)b; /* exact */
            float prev = 0;
            for (int T = 0; T <= 2 * F; T++) {
                sbs_approx_cfg c = cfg(F, 1, T);
                float r = sbs_approx_mul(a, b, &c);
                double emax = T > 0 ? ldexp((double)(T - 1), T) + 1 : 0;
                double bound = base + emax / ldexp(1.0, 2 * F - 2) + ldexp(1.0, -24);
                double rel = fabs((double)r - ex) / fabs(ex);
                if (T == 0 && rel > maxrel0) maxrel0 = rel;
                check(rel <= bound * (1 + 1e-12), "F=%d T=%d %a*%a rel %.3g > bound %.3g", F, T,
                      (double)a, (double)b, rel, bound);
                check(fabsf(r) <= fabsf(a * b), "F=%d T=%d |r| > |fl(ab)|", F, T);
                if (T > 0)
                    check(fabsf(r) <= fabsf(prev), "F=%d T=%d not monotone in T: %a > %a", F, T,
                          (double)r, (double)prev);
                prev = r;
            }
            if (F < 24) {
                sbs_approx_cfg c0 = cfg(F, 0, 0), c1 = cfg(F + 1, 0, 0);
                check(fabsf(sbs_approx_mul(a, b, &c0)) <= fabsf(sbs_approx_mul(a, b, &c1)),
                      "not monotone in F at F=%d", F);
            }
        }
        case_end("error bound F=%2d, T=0..%d, 20000 pairs: max rel err (T=0) %.4g <= %.4g "
                 "(2^-(F-1) = %.4g)",
                 F, 2 * F, maxrel0, base + ldexp(1.0, -24), u);
    }
}

/* truncation never increases the magnitude, on the full finite range too */
static void test_trunc_no_larger(void)
{
    case_begin();
    for (int t = 0; t < 200000; t++) {
        int F = rnd_int(1, 32), T = rnd_int(1, 2 * F);
        float a = rnd_finite(), b = rnd_finite();
        sbs_approx_cfg c0 = cfg(F, 0, T), c1 = cfg(F, 1, T);
        float r0 = sbs_approx_mul(a, b, &c0), r1 = sbs_approx_mul(a, b, &c1);
        check(fabsf(r1) <= fabsf(r0), "F=%d T=%d %a*%a: trunc %a > %a", F, T, (double)a, (double)b,
              (double)r1, (double)r0);
        check(fabsf(r0) <= fabsf(a * b), "F=%d %a*%a: %a > |fl(ab)|", F, (double)a, (double)b,
              (double)r0);
    }
    case_end("|trunc| <= |no trunc| <= |fl(ab)| on 200000 random finite pairs");
}

/* settings: clamping and unset values */
static void test_settings(void)
{
    case_begin();
    sbs_approx_cfg e;
    e = sbs_approx_cfg_make(true, -1, -1);
    check(e.frac_bits == 24 && e.trunc_bits == 0, "make(-1,-1)");
    e = sbs_approx_cfg_make(true, 5, 0);
    check(e.frac_bits == 24 && e.trunc_bits == 5, "make(5,0)");
    e = sbs_approx_cfg_make(false, 5, 7);
    check(e.frac_bits == 7 && e.trunc_bits == 0 && !e.enable, "make disabled");
    e = sbs_approx_cfg_make(true, 100, 7);
    check(e.frac_bits == 7 && e.trunc_bits == 14, "make T clamp");
    e = sbs_approx_cfg_make(true, 3, 77);
    check(e.frac_bits == 32 && e.trunc_bits == 3, "make F clamp");
    for (int t = 0; t < 20000; t++) {
        float a = rnd_finite(), b = rnd_finite();
        int F = rnd_int(1, 32), T = rnd_int(0, 2 * F);
        sbs_approx_cfg x, y;
        x = cfg(-1 - rnd_int(0, 5), 1, T), y = cfg(24, 1, T);
        check(same_bits(sbs_approx_mul(a, b, &x), sbs_approx_mul(a, b, &y)), "F<=0 == 24");
        x = cfg(33 + rnd_int(0, 100), 1, T), y = cfg(32, 1, T);
        check(same_bits(sbs_approx_mul(a, b, &x), sbs_approx_mul(a, b, &y)), "F>32 == 32");
        x = cfg(F, 1, -rnd_int(1, 9)), y = cfg(F, 1, 0);
        check(same_bits(sbs_approx_mul(a, b, &x), sbs_approx_mul(a, b, &y)), "T<0 == 0");
        x = cfg(F, 0, T), y = cfg(F, 1, 0);
        check(same_bits(sbs_approx_mul(a, b, &x), sbs_approx_mul(a, b, &y)), "!enable == T=0");
        x = cfg(F, 1, 2 * F + rnd_int(0, 50));
        float r = sbs_approx_mul(a, b, &x);
        check(r == 0, "T>=2F gives 0: %a*%a -> %a", (double)a, (double)b, (double)r);
        x = cfg(F, rnd_int(0, 1), T);
        e = sbs_approx_cfg_make(x.enable, x.trunc_bits, x.frac_bits);
        check(same_bits(sbs_approx_mul(a, b, &x), sbs_approx_mul(a, b, &e)), "make() same");
    }
    case_end("settings: F<=0 -> 24, F>32 -> 32, T<0 -> 0, T>2F -> 2F, enable=false -> T=0");
}

static void test_dot(void)
{
    case_begin();
    static float A[1000], B[1000];
    for (int i = 0; i < 1000; i++) {
        A[i] = rnd_normal(-3, 3);
        B[i] = rnd_normal(-3, 3);
    }
    const int ns[] = {0, 1, 2, 7, 64, 1000};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int n = ns[k];
        for (int F = 1; F <= 32; F += 3) {
            sbs_approx_cfg c = cfg(F, 1, F / 2);
            float s = 0.0f;
            for (int i = 0; i < n; i++) s += sbs_approx_mul(A[i], B[i], &c);
            check(same_bits(sbs_approx_dot(A, B, n, &c), s), "dot n=%d F=%d", n, F);
        }
        sbs_approx_cfg ex = cfg(-1, 0, -1);
        float s = 0.0f;
        for (int i = 0; i < n; i++) s += A[i] * B[i];
        check(same_bits(sbs_approx_dot(A, B, n, &ex), s), "exact dot n=%d", n);
        check(same_bits(sbs_approx_dot(A, B, n, NULL), s), "NULL dot n=%d", n);
    }
    check(f2u(sbs_approx_dot(A, B, 0, NULL)) == 0, "empty dot is +0");
    check(f2u(sbs_approx_dot(A, B, -3, NULL)) == 0, "negative n is +0");
    case_end("sbs_approx_dot == sequential float sum of sbs_approx_mul");
}

int main(void)
{
    test_hand();
    test_specials();
    test_exact();
    test_model_all_settings();
    test_reference_parity();
    test_signs();
    test_error_bounds();
    test_trunc_no_larger();
    test_settings();
    test_dot();
    printf("%s: %d failed cases, %ld checks\n", g_fail ? "FAILED" : "PASSED", g_fail, g_checks);
    return g_fail ? 1 : 0;
}
