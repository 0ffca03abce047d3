/* alias_fast.c — sbs_alias_build's tables (Vose's method, the same sums, the same stack
 * order, so the same bits), faster in three places: the sum and the scaled columns clamp
 * x at 0 by a maximum, not a branch; the split of the columns into small (q < 1) and large
 * has no branch (both stacks get the column one slot past their top and the comparison
 * advances one of them); and the pairing keeps the top large column's q in a
 * register while it absorbs small columns, so a pairing step waits on two additions rather
 * than on a store and a reload of that q. */
#include "sbs/alias_fast.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the reference's `x > 0 ? (double)x : 0` (0 for NaN too) as a maximum: MAXSD(d, 0) is
 * d > 0 ? d : 0 exactly, where GCC would otherwise branch */
static inline double positive(float x)
{
#if defined(__SSE2__)
    return _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd((double)x), _mm_setzero_pd()));
#else
    return x > 0.0f ? (double)x : 0.0;
#endif
}

void sbs_alias_build_fast(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch)
{
    double *q = scratch;
    int *small = (int *)(scratch + K); /* K ints fit in K doubles */
    int *large = (int *)(scratch + 2 * K);
    double sum = 0.0;
    for (int i = 0; i < K; i++) sum += positive(x[i]);
    const double scale = sum > 0.0 ? (double)K / sum : 0.0;
    int ns = 0, nl = 0;
    for (int i = 0; i < K; i++) {
        const double qi = sum > 0.0 ? positive(x[i]) * scale : 1.0; /* 0 * scale = 0 */
        const int c = qi < 1.0;
        q[i] = qi;
        small[ns] = i; /* ns, nl <= i < K: in bounds */
        large[nl] = i;
        ns += c;
        nl += 1 - c;
    }
    if (nl > 0 && ns > 0) {
        /* the top large column's q stays in a register while it absorbs small ones */
        int l = large[nl - 1];
        double ql = q[l];
        while (ns > 0) {
            const int s = small[--ns];
            const double qs = q[s];
            const double t = qs * 4294967296.0; /* q < 1: fits in 32 bits */
            thr[s] = t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
            alias[s] = (uint32_t)l;
            ql = (ql + qs) - 1.0;
            if (ql < 1.0) { /* l turns small: it is the next one paired */
                q[l] = ql;
                nl--;
                small[ns++] = l;
                if (nl == 0) break;
                l = large[nl - 1];
                ql = q[l];
            }
        }
    }
    /* what remains has probability 1 (up to rounding) */
    while (nl > 0) {
        const int l = large[--nl];
        thr[l] = 0xFFFFFFFFu;
        alias[l] = (uint32_t)l;
    }
    while (ns > 0) {
        const int s = small[--ns];
        thr[s] = 0xFFFFFFFFu;
        alias[s] = (uint32_t)s;
    }
}
