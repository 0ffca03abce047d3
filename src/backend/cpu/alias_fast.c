/* alias_fast.c — sbs_alias_build's tables (Vose's method, the same sums, the same stack
 * order, so the same bits), faster in three places: the sum and the scaled columns clamp
 * x at 0 by a maximum, not a branch; the split of the columns into small (q < 1) and large
 * has no branch (both stacks get the column one slot past their top and the comparison
 * advances one of them); and the pairing keeps the top large column's q in a
 * register while it absorbs small columns, so a pairing step waits on two additions rather
 * than on a store and a reload of that q.
 *
 * sbs_alias_build_fast2 builds two tables at once and pairs without any data-dependent branch:
 * see below. */
#include "sbs/alias_fast.h"

#include <stdbool.h>

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

/* The scaled columns q (K / sum times the positive x; all 1 when sum is 0) and their split
 * into the small (q < 1) and large stacks, in column order; *ns and *nl get their heights. */
static inline __attribute__((always_inline)) void alias_split(const float *x, int K, double sum,
                                                              double *q, int *small, int *large,
                                                              int *ns_out, int *nl_out)
{
    int ns = 0, nl = 0;
    if (sum > 0.0) {
        const double scale = (double)K / sum;
        for (int i = 0; i < K; i++) {
            const double qi = positive(x[i]) * scale; /* 0 * scale = 0 */
            const int c = qi < 1.0;
            q[i] = qi;
            small[ns] = i; /* ns, nl <= i < K: in bounds */
            large[nl] = i;
            ns += c;
            nl += 1 - c;
        }
    } else { /* every column 1 */
        for (int i = 0; i < K; i++) {
            q[i] = 1.0;
            large[nl++] = i;
        }
    }
    *ns_out = ns;
    *nl_out = nl;
}

/* the threshold of a small column */
static inline uint32_t alias_thr(double qs)
{
    const double t = qs * 4294967296.0; /* q < 1: fits in 32 bits */
    return t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
}

/* the columns the pairing left: probability 1 (up to rounding), their own alias */
static void alias_certain(const int *cols, int n, uint32_t *thr, uint32_t *alias)
{
    for (int i = 0; i < n; i++) {
        thr[cols[i]] = 0xFFFFFFFFu;
        alias[cols[i]] = (uint32_t)cols[i];
    }
}

void sbs_alias_build_fast(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch)
{
    double *q = scratch;
    int *small = (int *)(scratch + K); /* K ints fit in K doubles */
    int *large = (int *)(scratch + 2 * K);
    double sum = 0.0;
    for (int i = 0; i < K; i++) sum += positive(x[i]);
    int ns, nl;
    alias_split(x, K, sum, q, small, large, &ns, &nl);
    if (nl > 0 && ns > 0) {
        /* the top large column's q stays in a register while it absorbs small ones */
        int l = large[nl - 1];
        double ql = q[l];
        while (ns > 0) {
            const int s = small[--ns];
            const double qs = q[s];
            thr[s] = alias_thr(qs);
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
    alias_certain(large, nl, thr, alias);
    alias_certain(small, ns, thr, alias);
}

/* ---- two tables at once, branch-free ----
 * The pairing loop above waits on a branch (does the large column turn small?) that goes
 * either way at random, and a mispredicted branch costs more than the whole step. Here that
 * step is written as selects: its state is the pending small column s (already popped, with
 * its q in a register) and the top large column l (q in a register), and both outcomes are
 * prepared before the comparison decides. If l turns small, the reference pushes it and pops
 * it at once: here it simply becomes the pending s, and the next large column (the one below
 * l on the stack, read ahead) becomes l. Otherwise the next s is the one below on the small
 * stack (read ahead too). Each index is written once, either by the pairing or by the tails,
 * so the tables are those of sbs_alias_build bit for bit. With no branch to wait on, a step is
 * a chain of two additions, a comparison and a select; the two tables' chains interleave. */

typedef struct {
    const double *q;
    int *small, *large; /* each with a slot before the bottom (holding 0) */
    uint32_t *thr, *alias;
} vose_tab;

typedef struct {
    int s, l, ns, nl; /* pending small s, top large l = large[nl-1], ns small below s */
    double qs, ql;
} vose_state;

/* q, the two stacks (in scratch: K doubles, then 2K+2 ints) and the first step's state from
 * the sum of the positive x; returns whether any pairing is to be done */
static bool vose_setup(const float *x, int K, double sum, uint32_t *thr, uint32_t *alias,
                       double *scratch, vose_tab *t, vose_state *st)
{
    double *q = scratch;
    int *small = (int *)(scratch + K) + 1;
    int *large = small + K + 1;
    small[-1] = large[-1] = 0;
    int ns, nl;
    alias_split(x, K, sum, q, small, large, &ns, &nl);
    *t = (vose_tab){q, small, large, thr, alias};
    st->ns = ns;
    st->nl = nl;
    if (ns == 0 || nl == 0) return false;
    st->ns = ns - 1;
    st->s = small[ns - 1];
    st->qs = q[st->s];
    st->l = large[nl - 1];
    st->ql = q[st->l];
    return true;
}

/* an integer GCC cannot see through, so that the selects below stay selects */
static inline int opaque_int(int v)
{
#if defined(__GNUC__)
    __asm__("" : "+r"(v));
#endif
    return v;
}

/* one pairing step without a branch; returns whether the pairing is over */
static inline __attribute__((always_inline)) bool vose_step(const vose_tab *t, vose_state *st)
{
    const int s = st->s, l = st->l, ns = st->ns, nl = st->nl;
    t->thr[s] = alias_thr(st->qs);
    t->alias[s] = (uint32_t)l;
    const int sp = t->small[ns - 1], lp = t->large[nl - 2]; /* ns >= 0, nl >= 1 */
#if defined(__SSE2__)
    const __m128d one = _mm_set_sd(1.0);
    const __m128d ql = _mm_sub_sd(_mm_add_sd(_mm_set_sd(st->ql), _mm_set_sd(st->qs)), one);
    const __m128d m = _mm_cmplt_sd(ql, one); /* l turns small */
    const int c = opaque_int(_mm_movemask_pd(m) & 1);
    const __m128d qsp = _mm_load_sd(t->q + sp), qlp = _mm_load_sd(t->q + lp);
    st->qs = _mm_cvtsd_f64(_mm_or_pd(_mm_and_pd(m, ql), _mm_andnot_pd(m, qsp)));
    st->ql = _mm_cvtsd_f64(_mm_or_pd(_mm_and_pd(m, qlp), _mm_andnot_pd(m, ql)));
#else
    const double ql = (st->ql + st->qs) - 1.0;
    const int c = opaque_int(ql < 1.0);
    st->qs = c ? ql : t->q[sp];
    st->ql = c ? t->q[lp] : ql;
#endif
    const int mask = -c;
    st->s = sp ^ ((l ^ sp) & mask);
    st->l = l ^ ((lp ^ l) & mask);
    st->ns = ns - 1 + c;
    st->nl = nl - c;
    /* over when l turned small and was the last large one (nl' = 0), or when the small stack
     * was empty and l stays large (ns' = -1) */
    return (st->ns | (st->nl - 1)) < 0;
}

/* the columns the pairing left (alias_certain) */
static void vose_tails(const vose_tab *t, const vose_state *st, bool paired)
{
    int ns = st->ns, nl = st->nl;
    if (paired) {
        if (nl == 0) /* l turned small at the end: it is pending */
            t->small[ns++] = st->s;
        else /* the small stack ran out */
            ns = 0;
    }
    alias_certain(t->large, nl, t->thr, t->alias);
    alias_certain(t->small, ns, t->thr, t->alias);
}

void sbs_alias_build_fast2(const float *x0, const float *x1, int K, uint32_t *thr0,
                           uint32_t *alias0, uint32_t *thr1, uint32_t *alias1, double *scratch0,
                           double *scratch1)
{
    double sum0 = 0.0, sum1 = 0.0; /* two chains of additions, each in the reference's order */
    for (int i = 0; i < K; i++) {
        sum0 += positive(x0[i]);
        sum1 += positive(x1[i]);
    }
    vose_tab t0, t1;
    vose_state a, b;
    const bool pa = vose_setup(x0, K, sum0, thr0, alias0, scratch0, &t0, &a);
    const bool pb = vose_setup(x1, K, sum1, thr1, alias1, scratch1, &t1, &b);
    bool da = !pa, db = !pb;
    while (!da && !db) {
        da = vose_step(&t0, &a);
        db = vose_step(&t1, &b);
    }
    while (!da) da = vose_step(&t0, &a);
    while (!db) db = vose_step(&t1, &b);
    vose_tails(&t0, &a, pa);
    vose_tails(&t1, &b, pb);
}
