/* sbs_cpu.c — the CPU backend's SbS forward: patch gather, alias sampler and h dynamics fused
 * per group of P (pattern, position) pairs, spread over the thread pool.
 *
 * The dynamics vectorise over neurons (rows padded to 16 floats) and run P independent
 * positions side by side. On AVX-512 a block of 16 positions advances one step at a time and
 * reduces its 16 dot products together (one transpose-and-add network, one vector division);
 * AVX2+FMA and the baseline interleave the positions of one C body. The level is chosen at
 * run time; AVX-512 and AVX2 give the same bits (sbs_step.h, tests/nn/test_cpu_bitwise.c).
 * Results depend only on the spike key, never on the thread count or batch split: each group
 * writes only its own outputs. */
#include "cpu.h"
#include "sbs/alias_fast.h"
#include "sbs/rng.h"
#include "sbs/sbs_step.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define SBS_P 32 /* positions per group: two AVX-512 blocks, interleaved in the other paths */


/* the last step of every dynamics body: each position's h divided by its sum */
#define SBS_DYN_NORMALISE                         \
    for (int p = 0; p < P; p++) {                 \
        float *hp = h + (size_t)p * ldw;          \
        float s = 0.0f;                           \
        for (int n = 0; n < N; n++) s += hp[n];   \
        const float inv = 1.0f / s;               \
        for (int n = 0; n < N; n++) hp[n] *= inv; \
    }

/* The per-step coefficients of the scalar path, unfused (its CPUs have no FMA; sbs_step.h
 * has the fused ones of the AVX-512 contract, which the AVX2 path shares). */
static inline sbs_step_coef step_coefs_unfused(float e, float fo, int N)
{
    sbs_step_coef k;
    k.a = 1.0f / (1.0f + e * (1.0f + fo));
    k.c = e * fo * k.a / (float)N;
    k.ea = e * k.a;
    return k;
}

/* The dynamics of P interleaved positions, h_0 = 1/N, for steps t < TMAX:
 *   h_n <- h_n * (a + b w_n) + c with a = 1/(1+e(1+fo)), b = e a / r, c = e fo a / N,
 * algebraically SPEC §1.2's update, with h kept normalised; the coefficients from COEFS
 * (sbs_step_coefs or step_coefs_unfused). Position p takes part in step t while LIVE holds,
 * with the spike SPIKE (both in terms of p and t). Expanded for fixed-length spike rows (LIVE
 * is 1: the test compiles away, the hot loop is as if written out) and for the
 * variable-length rows of full-layer spikes. */
#define SBS_DYN_BODY(TMAX, LIVE, SPIKE, COEFS)                                              \
    {                                                                                       \
        const float fo = sbs_step_fo(forgetting_offset);                                    \
        const int tmax = (TMAX);                                                            \
        for (int p = 0; p < P; p++)                                                         \
            for (int n = 0; n < ldw; n++) h[(size_t)p * ldw + n] = n < N ? 1.0f / N : 0.0f; \
        for (int t = 0; t < tmax; t++) {                                                    \
            const sbs_step_coef k = COEFS(eps[t], fo, N);                                   \
            const float a = k.a, c = k.c;                                                   \
            for (int p = 0; p < P; p++) {                                                   \
                if (!(LIVE)) continue;                                                      \
                const float *restrict w = W + (size_t)(SPIKE)*ldw;                          \
                float *restrict hp = h + (size_t)p * ldw;                                   \
                float acc[16];                                                              \
                for (int j = 0; j < 16; j++) acc[j] = hp[j] * w[j];                         \
                for (int v = 16; v < ldw; v += 16)                                          \
                    for (int j = 0; j < 16; j++) acc[j] += hp[v + j] * w[v + j];            \
                for (int j = 0; j < 8; j++) acc[j] += acc[j + 8];                           \
                for (int j = 0; j < 4; j++) acc[j] += acc[j + 4];                           \
                for (int j = 0; j < 2; j++) acc[j] += acc[j + 2];                           \
                const float r = acc[0] + acc[1];                                            \
                if (r > 1e-10f) {                                                           \
                    const float b = k.ea / r;                                               \
                    for (int n = 0; n < ldw; n++) hp[n] = hp[n] * (a + b * w[n]) + c;       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        SBS_DYN_NORMALISE                                                                   \
    }

/* fixed length: position p's spikes are idx[p*T .. p*T + T-1] */
#define SBS_DYN_FIXED_BODY(COEFS) SBS_DYN_BODY(T, 1, idx[(size_t)p * T + t], COEFS)

#define SBS_DYN_ARGS                                                                     \
    (const float *restrict W, int N, int ldw, int P, const int32_t *restrict idx, int T, \
     const float *restrict eps, float forgetting_offset, float *restrict h)

typedef void(*dyn_fn) SBS_DYN_ARGS;

/* the longest spike row of a group */
static inline int dynv_steps(const int *len, int P)
{
    int tmax = 0;
    for (int p = 0; p < P; p++)
        if (len[p] > tmax) tmax = len[p];
    return tmax;
}

#if defined(__x86_64__) || defined(__i386__)
#define SBS_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))

/* ---- AVX-512 dynamics ----
 * Blocks of up to 16 positions advance together, one step at a time. Each position's dot
 * product <h, w> is one register of 16 lane partial sums (lane j = neurons j, j+16, ...: a
 * multiply, then FMAs); the 16 registers of a block are reduced together by a transpose-and-
 * add network that leaves position p's sum in lane p, so one vector division gives every b of
 * the step. Each lane's sum sees exactly the additions of _mm512_reduce_add_ps (j+8, j+4, j+2,
 * j+1; sbs_step.h), so the results are bitwise those of reducing one position at a time. The
 * update is two FMAs per 16 neurons, with the coefficients of sbs_step_coefs. */

/* The accumulator slot of position p: the network's output lane i holds slot 4(i%4) + i/4
 * (a map that is its own inverse), so filling slot SLOT(p) puts position p's sum in lane p. */
#define SBS_SLOT(p) (4 * ((p)&3) + ((p) >> 2))

/* The network's four levels, each adding pairs of registers of the level below. Where the
 * layout allows, one operand of an addition is a blend of the two registers (no shuffle: any
 * vector pipe takes it) and the other a shuffle; an addition's operands in either order give
 * the same bits.
 * j + 8: slot 2i's 8 sums, then slot 2i+1's: [a_lo, b_hi] + [a_hi, b_lo] */
SBS_AVX512 static inline __m512 red_l1(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_mask_blend_ps(0xFF00, a, b), _mm512_shuffle_f32x4(a, b, 0x4E));
}
/* j + 4: block L of x[k] holds slot 4k+L's 4 sums */
SBS_AVX512 static inline __m512 red_l2(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
}
/* j + 2: block L of y[m] holds slot 8m+L's 2 sums, then slot 8m+4+L's: in each block,
 * [a0 a1 b2 b3] + [a2 a3 b0 b1] */
SBS_AVX512 static inline __m512 red_l3(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_mask_blend_ps(0xCCCC, a, b), _mm512_shuffle_ps(a, b, 0x4E));
}
/* j + 1: lane 4L+e holds slot 4e+L */
SBS_AVX512 static inline __m512 red_l4(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD));
}

/* The network fed one register at a time, in slot order: each pair is added as soon as both
 * halves exist, so at most one register per level waits (rather than all 16, which with two
 * blocks are more registers than there are and went through memory). After slot 15, sum
 * holds the 16 sums. The same additions as reducing 16 registers at once. */
typedef struct {
    __m512 s, u, x, y, sum;
} red_tree;
/* (every field is written before it is read; the zeros keep GCC's warnings quiet and cost
 * nothing once the network is unrolled) */
#define RED_TREE_EMPTY                                                                      \
    {                                                                                       \
        _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), \
            _mm512_setzero_ps()                                                             \
    }

SBS_AVX512 static inline __attribute__((always_inline)) void red_feed(red_tree *t, int slot,
                                                                      __m512 v)
{
    if (!(slot & 1)) {
        t->s = v;
        return;
    }
    const __m512 u = red_l1(t->s, v);
    if (!(slot & 2)) {
        t->u = u;
        return;
    }
    const __m512 x = red_l2(t->u, u);
    if (!(slot & 4)) {
        t->x = x;
        return;
    }
    const __m512 y = red_l3(t->x, x);
    if (!(slot & 8))
        t->y = y;
    else
        t->sum = red_l4(t->y, y);
}

#define SBS_CHUNK 128 /* steps whose spike row offsets a block tabulates at a time */

/* Row offsets (in floats) of position p's spikes at steps t0 .. t0+n (n+1 of them) into
 * off: idx[p*T + t] * ldw (fixed rows, vidx NULL) or vidx[p][t] * ldw, and 0 (row 0, read
 * but never used) where p takes no part: p >= P, t >= T or t >= len[p]. */
static inline void block_offsets(int p, int P, int t0, int n, int ldw, const int32_t *idx, int T,
                                 const int32_t *const *vidx, const int *len, int32_t *restrict off)
{
    const int32_t *row = p >= P ? NULL : vidx ? vidx[p] + t0 : idx + (size_t)p * T + t0;
    int m = p >= P ? 0 : (vidx ? len[p] : T) - t0;
    if (m > n + 1) m = n + 1;
    if (m < 0) m = 0;
    for (int i = 0; i < m; i++) off[i] = row[i] * ldw;
    for (int i = m; i <= n; i++) off[i] = 0;
}

/* Element j of each 128-bit lane of x in all four places of that lane: the shuffle's
 * immediate must be a constant for clang, whatever the unrolling makes of p & 3. */
SBS_AVX512 static inline __attribute__((always_inline)) __m512 bcast_lane(__m512 x, int j)
{
    switch (j) {
    case 0: return _mm512_shuffle_ps(x, x, 0x00);
    case 1: return _mm512_shuffle_ps(x, x, 0x55);
    case 2: return _mm512_shuffle_ps(x, x, 0xAA);
    default: return _mm512_shuffle_ps(x, x, 0xFF);
    }
}

/* <h, w> as 16 lane partial sums: a multiply, then FMAs over the NV registers of a row */
SBS_AVX512 static inline __attribute__((always_inline)) __m512 dot16(const float *hp,
                                                                     const float *w, int NV)
{
    __m512 s = _mm512_mul_ps(_mm512_loadu_ps(hp), _mm512_loadu_ps(w));
    for (int v = 1; v < NV; v++)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(hp + 16 * v), _mm512_loadu_ps(w + 16 * v), s);
    return s;
}

/* The dynamics of NB <= 2 blocks of 16 positions (P <= 16 NB of them) with NV = ldw/16
 * registers per row (constants where the caller specialises them). Fixed-length spike rows
 * when vidx is NULL (position p's spikes idx[p*T + t], t < T), else variable ones
 * (vidx[p][t], t < len[p]). h has room for 16 NB positions. All lanes run every step; a lane
 * that takes no part in a step (p >= P, or past the end of its row) reads row 0 and its
 * update is masked off. A position's dot product with its next spike row is taken while its
 * updated h is still in registers, and goes into the block's reduction network at once
 * (red_feed), so a block's sums for the next step are ready soon after its last update. A
 * step divides for every block, then updates the blocks one after the other: block 0's
 * division waits on nothing (its sums were ready in the middle of the last step), and
 * block 1's last additions and division run while block 0 updates. Every position sees the
 * same operations in the same order. */
SBS_AVX512 static inline __attribute__((always_inline)) void
dyn_block_avx512(const float *restrict W, int N, int ldw, const int NV, const int NB, int P,
                 const int32_t *restrict idx, int T, const int32_t *const *vidx, const int *len,
                 const float *restrict eps, float forgetting_offset, float *restrict h)
{
    const float fo = sbs_step_fo(forgetting_offset);
    const int tmax = vidx ? dynv_steps(len, P) : T;
    const __m512 h0 = _mm512_set1_ps(1.0f / N);
    for (int p = 0; p < 16 * NB; p++)
        for (int v = 0; v < NV; v++) {
            int n0 = 16 * v;
            __mmask16 m = (__mmask16)(N - n0 >= 16 ? 0xFFFF : (1u << (N > n0 ? N - n0 : 0)) - 1);
            _mm512_storeu_ps(h + (size_t)p * ldw + n0, _mm512_maskz_mov_ps(m, h0));
        }
    int lenl[2][16] __attribute__((aligned(64)));
    for (int p = 0; p < 32; p++) lenl[p >> 4][p & 15] = p < P ? (vidx ? len[p] : tmax) : 0;
    int32_t off[32][SBS_CHUNK + 1] __attribute__((aligned(64)));
    /* this step's dot products, block k's position p in lane p of r[k] */
    __m512 r[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int t0 = 0; t0 < tmax; t0 += SBS_CHUNK) {
        const int n = tmax - t0 < SBS_CHUNK ? tmax - t0 : SBS_CHUNK;
        for (int p = 0; p < 16 * NB; p++)
            block_offsets(p, P, t0, n, ldw, idx, T, vidx, len, off[p]);
        if (t0 == 0)
            for (int kb = 0; kb < NB; kb++) {
                red_tree tr = RED_TREE_EMPTY;
                for (int k = 0; k < 16; k++) {
                    const int p = 16 * kb + SBS_SLOT(k);
                    red_feed(&tr, k, dot16(h + (size_t)p * ldw, W + off[p][0], NV));
                }
                r[kb] = tr.sum;
            }
        for (int i = 0; i < n; i++) {
            const sbs_step_coef k = sbs_step_coefs(eps[t0 + i], fo, N);
            const __m512 va = _mm512_set1_ps(k.a), vc = _mm512_set1_ps(k.c);
            __m512 bk[2];
            unsigned updk[2];
#pragma GCC unroll 2
            for (int kb = 0; kb < NB; kb++) {
                updk[kb] =
                    _mm512_mask_cmp_ps_mask(_mm512_cmpgt_epi32_mask(_mm512_load_si512(lenl[kb]),
                                                                    _mm512_set1_epi32(t0 + i)),
                                            r[kb], _mm512_set1_ps(1e-10f), _CMP_GT_OQ);
                bk[kb] = _mm512_div_ps(_mm512_set1_ps(k.ea), r[kb]);
            }
#pragma GCC unroll 2
            for (int kb = 0; kb < NB; kb++) {
                const __m512 b = bk[kb];
                const unsigned upd = updk[kb];
                const __m512 bl[4] = {_mm512_shuffle_f32x4(b, b, 0x00),
                                      _mm512_shuffle_f32x4(b, b, 0x55),
                                      _mm512_shuffle_f32x4(b, b, 0xAA),
                                      _mm512_shuffle_f32x4(b, b, 0xFF)};
                /* h through an opaque copy of its address: GCC would otherwise keep all of it
                 * in registers from step to step, which it does not have, and spill */
                float *hs = h + (size_t)16 * kb * ldw;
                __asm__("" : "+r"(hs));
                red_tree tr = RED_TREE_EMPTY;
                /* the positions in slot order, each dot product fed to the network at once */
#pragma GCC unroll 16
                for (int slot = 0; slot < 16; slot++) {
                    const int p = SBS_SLOT(slot);
                    const int32_t *op = off[16 * kb + p];
                    const float *w = W + op[i], *wn = W + op[i + 1];
                    float *hq = hs + (size_t)p * ldw;
                    __m512 s = _mm512_setzero_ps();
                    if (__builtin_expect(upd >> p & 1, 1)) {
                        const __m512 vb = bcast_lane(bl[p >> 2], p & 3);
                        for (int v = 0; v < NV; v++) {
                            __m512 f = _mm512_fmadd_ps(vb, _mm512_loadu_ps(w + 16 * v), va);
                            __m512 hv = _mm512_fmadd_ps(_mm512_loadu_ps(hq + 16 * v), f, vc);
                            _mm512_storeu_ps(hq + 16 * v, hv);
                            s = v ? _mm512_fmadd_ps(hv, _mm512_loadu_ps(wn + 16 * v), s)
                                  : _mm512_mul_ps(hv, _mm512_loadu_ps(wn));
                        }
                    } else {
                        s = dot16(hq, wn, NV);
                    }
                    red_feed(&tr, slot, s);
                }
                r[kb] = tr.sum;
            }
        }
    }
    SBS_DYN_NORMALISE
}

/* Under AddressSanitizer the compilers take many minutes over the sixfold specialisation
 * below (clang's fuzzing build over a quarter of an hour): the instrumented builds run the
 * generic row length only, the same operations in the same order. */
#if defined(__SANITIZE_ADDRESS__)
#define SBS_DYN_GENERIC_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SBS_DYN_GENERIC_ONLY 1
#endif
#endif

/* Pairs of blocks of 16 positions, specialised for rows of 1-6 registers (N <= 96); a last
 * group of 16 or fewer runs as one block. A last block of fewer than 16 positions runs in a
 * buffer with room for all of its block's lanes. (No predictive commoning: GCC would carry
 * each lane's row offset from step to step in registers it does not have.) */
__attribute__((optimize("no-predictive-commoning"))) SBS_AVX512 static void
dyn_blocks_avx512(const float *W, int N, int ldw, int P, const int32_t *idx, int T,
                  const int32_t *const *vidx, const int *len, const float *eps,
                  float forgetting_offset, float *h)
{
    float *tail = NULL;
    for (int p0 = 0; p0 < P; p0 += 32) {
        int q = P - p0 < 32 ? P - p0 : 32;
        const int nb = q > 16 ? 2 : 1;
        const int32_t *bi = idx ? idx + (size_t)p0 * T : NULL;
        const int32_t *const *bv = vidx ? vidx + p0 : NULL;
        const int *bl = vidx ? len + p0 : NULL;
        float *bh = h + (size_t)p0 * ldw;
        if (q < 16 * nb) {
            if (!tail) tail = xaligned((size_t)32 * ldw * sizeof *tail);
            bh = tail;
        }
#define SBS_DYN_CALL(nv, NBK)                                                                     \
    do {                                                                                          \
        if (vidx)                                                                                 \
            dyn_block_avx512(W, N, ldw, nv, NBK, q, NULL, 0, bv, bl, eps, forgetting_offset, bh); \
        else                                                                                      \
            dyn_block_avx512(W, N, ldw, nv, NBK, q, bi, T, NULL, NULL, eps, forgetting_offset,    \
                             bh);                                                                 \
    } while (0)
#define SBS_DYN_CASE(nv)         \
    case 16 * nv:                \
        if (nb == 2)             \
            SBS_DYN_CALL(nv, 2); \
        else                     \
            SBS_DYN_CALL(nv, 1); \
        break;
        switch (ldw) {
#ifndef SBS_DYN_GENERIC_ONLY
            SBS_DYN_CASE(1)
            SBS_DYN_CASE(2)
            SBS_DYN_CASE(3)
            SBS_DYN_CASE(4)
            SBS_DYN_CASE(5)
            SBS_DYN_CASE(6)
#endif
        default:
            if (nb == 2)
                SBS_DYN_CALL(ldw / 16, 2);
            else
                SBS_DYN_CALL(ldw / 16, 1);
        }
#undef SBS_DYN_CASE
#undef SBS_DYN_CALL
        if (bh == tail) memcpy(h + (size_t)p0 * ldw, tail, (size_t)q * ldw * sizeof *tail);
    }
    free(tail);
}

SBS_AVX512 static void dyn_avx512 SBS_DYN_ARGS
{
    dyn_blocks_avx512(W, N, ldw, P, idx, T, NULL, NULL, eps, forgetting_offset, h);
}

/* ---- AVX-512 spike draw ----
 * sbs_spikes_draw's Philox blocks and alias lookups, 16 blocks at a time. The Philox words
 * live in the low halves of 64-bit lanes (lanes 0-7 and 8-15 of a group in two registers):
 * one VPMULUDQ gives a word's whole product, whose high half is a shift away and whose low
 * half is used in place (the multiplier ignores the garbage above it), and the two XORs of a
 * round are one VPTERNLOGQ. An alias table of K <= 32 columns is looked up by register
 * permutes, a larger one by gathers. */

/* the words of lanes 0-7 (a) and 8-15 (b), low halves of 64-bit lanes, as 16 dwords */
SBS_AVX512 static inline __m512i pack_lo(__m512i a, __m512i b)
{
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_epi32(a, even, b);
}

/* the same for the high halves */
SBS_AVX512 static inline __m512i pack_hi(__m512i a, __m512i b)
{
    const __m512i odd =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_permutex2var_epi32(a, odd, b);
}

/* small: K <= 32, the tables in registers (a constant where the caller specialises it: with
 * both lookups in one loop GCC kept the tables on the stack and each lookup waited on a
 * store and a reload) */
SBS_AVX512 static inline __attribute__((always_inline)) void
draw_body(const uint32_t *thr, const uint32_t *alias, int K, uint64_t seed, uint32_t tag,
          uint32_t sample, uint32_t position, int T, int32_t *idx, const bool small)
{
    const __m512i M0 = _mm512_set1_epi64(0xD2511F53u), M1 = _mm512_set1_epi64(0xCD9E8D57u);
    const __m512i vK = _mm512_set1_epi64((uint32_t)K);
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    /* the round keys in memory, each read as a broadcast operand of the XOR that uses it:
     * in registers they took 20 of the 32, and the alias tables went to the stack */
    uint64_t key0[10], key1[10];
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        key0[r] = k0;
        key1[r] = k1;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    /* K <= 32: the tables in two registers each (columns past K are never read) */
    __m512i tlo = _mm512_setzero_si512(), thi = tlo, alo = tlo, ahi = tlo;
    if (small) {
        __mmask16 m0 = (__mmask16)(K >= 16 ? 0xFFFF : (1u << K) - 1);
        __mmask16 m1 = (__mmask16)(K >= 32 ? 0xFFFF : K > 16 ? (1u << (K - 16)) - 1 : 0);
        tlo = _mm512_maskz_loadu_epi32(m0, thr);
        alo = _mm512_maskz_loadu_epi32(m0, alias);
        thi = _mm512_maskz_loadu_epi32(m1, thr + 16);
        ahi = _mm512_maskz_loadu_epi32(m1, alias + 16);
    }
    for (int g = 0; g * 64 < T; g++) {
        __m512i c[2][4];
        for (int hf = 0; hf < 2; hf++) {
            c[hf][0] = _mm512_add_epi64(_mm512_set1_epi64(g * 16 + hf * 8), lane);
            c[hf][1] = _mm512_set1_epi64(position);
            c[hf][2] = _mm512_set1_epi64(sample);
            c[hf][3] = _mm512_set1_epi64(tag);
        }
        for (int r = 0; r < 10; r++)
            for (int hf = 0; hf < 2; hf++) {
                __m512i p0 = _mm512_mul_epu32(M0, c[hf][0]), p1 = _mm512_mul_epu32(M1, c[hf][2]);
                __m512i n0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c[hf][1],
                                                       _mm512_set1_epi64((long long)key0[r]), 0x96);
                __m512i n2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c[hf][3],
                                                       _mm512_set1_epi64((long long)key1[r]), 0x96);
                c[hf][0] = n0;
                c[hf][1] = p1;
                c[hf][2] = n2;
                c[hf][3] = p0;
            }
        for (int k = 0; k < 4; k++) {
            int t0 = g * 64 + k * 16;
            if (t0 >= T) break;
            __m512i m0 = _mm512_mul_epu32(c[0][k], vK), m1 = _mm512_mul_epu32(c[1][k], vK);
            __m512i frac = pack_lo(m0, m1), col = pack_hi(m0, m1), th, al;
            if (small) {
                th = _mm512_permutex2var_epi32(tlo, col, thi);
                al = _mm512_permutex2var_epi32(alo, col, ahi);
            } else {
                th = _mm512_i32gather_epi32(col, (const void *)thr, 4);
                al = _mm512_i32gather_epi32(col, (const void *)alias, 4);
            }
            __mmask16 take = _mm512_cmplt_epu32_mask(frac, th);
            __m512i res = _mm512_mask_blend_epi32(take, al, col);
            __mmask16 m = (__mmask16)(T - t0 >= 16 ? 0xFFFF : (1u << (T - t0)) - 1);
            _mm512_mask_storeu_epi32(idx + t0, m, res);
        }
    }
}

SBS_AVX512 static void draw_avx512(const uint32_t *thr, const uint32_t *alias, int K, uint64_t seed,
                                   uint32_t tag, uint32_t sample, uint32_t position, int T,
                                   int32_t *idx)
{
    if (K <= 32)
        draw_body(thr, alias, K, seed, tag, sample, position, T, idx, true);
    else
        draw_body(thr, alias, K, seed, tag, sample, position, T, idx, false);
}

__attribute__((target("avx2,fma"))) static void dyn_avx2 SBS_DYN_ARGS
SBS_DYN_FIXED_BODY(sbs_step_coefs)
#define SBS_HAVE_X86 1
#endif

    static void dyn_scalar SBS_DYN_ARGS SBS_DYN_FIXED_BODY(step_coefs_unfused)

        static const char *simd_auto(void)
{
#ifdef SBS_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
#endif
    return "scalar";
}

static dyn_fn pick(const char *simd, const char **name)
{
    if (!simd || !strcmp(simd, "auto")) simd = simd_auto();
#ifdef SBS_HAVE_X86
    if (!strcmp(simd, "avx512") && !strcmp(simd_auto(), "avx512")) {
        *name = "avx512";
        return dyn_avx512;
    }
    if (!strcmp(simd, "avx2") || !strcmp(simd, "avx512")) {
        const char *best = simd_auto();
        if (strcmp(best, "scalar")) {
            *name = "avx2";
            return dyn_avx2;
        }
    }
#endif
    *name = "scalar";
    return dyn_scalar;
}

typedef void (*draw_fn)(const uint32_t *, const uint32_t *, int, uint64_t, uint32_t, uint32_t,
                        uint32_t, int, int32_t *);

static draw_fn pick_draw(const char *simd)
{
    const char *name;
    pick(simd, &name);
#ifdef SBS_HAVE_X86
    if (!strcmp(name, "avx512")) return draw_avx512;
#endif
    return sbs_spikes_draw;
}

/* ---- variable-length dynamics (full-layer spikes) ----
 * P positions interleaved as above, position p running over its own len[p] spikes idx[p][..]
 * with eps indexed by its own count (all positions of a group share eps[t] at step t). The
 * same bodies as the fixed-length dynamics; used only by the full-layer path. */
#define SBS_DYNV_ARGS                                                                           \
    (const float *restrict W, int N, int ldw, int P, const int32_t *const *idx, const int *len, \
     const float *restrict eps, float forgetting_offset, float *restrict h)

#define SBS_DYNV_BODY(COEFS) SBS_DYN_BODY(dynv_steps(len, P), t < len[p], idx[p][t], COEFS)

typedef void(*dynv_fn) SBS_DYNV_ARGS;

#ifdef SBS_HAVE_X86
SBS_AVX512 static void dynv_avx512 SBS_DYNV_ARGS
{
    dyn_blocks_avx512(W, N, ldw, P, NULL, 0, idx, len, eps, forgetting_offset, h);
}

__attribute__((target("avx2,fma"))) static void dynv_avx2 SBS_DYNV_ARGS
SBS_DYNV_BODY(sbs_step_coefs)
#endif

    static void dynv_scalar SBS_DYNV_ARGS SBS_DYNV_BODY(step_coefs_unfused)

    /* the variable-length dynamics of the SIMD level `name` (as chosen by pick) */
    static dynv_fn pick_dynv(const char *name)
{
#ifdef SBS_HAVE_X86
    if (!strcmp(name, "avx512")) return dynv_avx512;
    if (!strcmp(name, "avx2")) return dynv_avx2;
#endif
    return dynv_scalar;
}

void sbs_spikes_draw_fast(const char *simd, const uint32_t *thr, const uint32_t *alias, int K,
                          uint64_t seed, uint32_t tag, uint32_t sample, uint32_t position, int T,
                          int32_t *idx)
{
    pick_draw(simd)(thr, alias, K, seed, tag, sample, position, T, idx);
}

void sbs_cpu_dynamics(const char *simd, const float *W, int N, int ldw, int P, const int32_t *idx,
                      int T, const float *eps, float forgetting_offset, float *h)
{
    const char *name;
    pick(simd, &name)(W, N, ldw, P, idx, T, eps, forgetting_offset, h);
}

void sbs_cpu_dynamics_var(const char *simd, const float *W, int N, int ldw, int P,
                          const int32_t *const *idx, const int *len, const float *eps,
                          float forgetting_offset, float *h)
{
    const char *name;
    pick(simd, &name);
    pick_dynv(name)(W, N, ldw, P, idx, len, eps, forgetting_offset, h);
}

/* ---- the engine: SbS forward over the backend's pool ---- */

typedef struct {
    size_t cap; /* bytes */
    unsigned char *mem;
} scratch;

typedef struct sbs_cpu_engine {
    dyn_fn dyn;
    dynv_fn dynv; /* variable-length dynamics (full-layer spikes) */
    draw_fn draw;
    const char *simd;
    scratch *ws; /* one per worker */
    sbs_pool *pool;
    int threads;
} cpu_impl;

typedef struct {
    const sbs_layer_args *a;
    const float *x;
    int B;
    const sbs_spike_key *key;
    float *h;
    cpu_impl *impl;
    long n_items;                                       /* B * X * Y */
    int per_group;                                      /* positions a group, <= SBS_P */
    size_t off_thr, off_alias, off_scr, off_idx, off_h; /* scratch layout */
} fwd_job;

/* sbs_patch_gather for a window that lies wholly inside the image (no padding to fill):
 * plain row copies; other windows go to sbs_patch_gather. */
static void patch_gather(const sbs_geom *g, const float *img, int ox, int oy, float *win)
{
    const int r0 = ox * g->sx - g->px, q0 = oy * g->sy - g->py;
    if (r0 < 0 || q0 < 0 || r0 + (g->kx - 1) * g->dx >= g->H || q0 + (g->ky - 1) * g->dy >= g->W) {
        sbs_patch_gather(g, img, ox, oy, win);
        return;
    }
    for (int c = 0; c < g->C; c++) {
        const float *plane = img + (size_t)c * g->H * g->W + (size_t)r0 * g->W + q0;
        for (int u = 0; u < g->kx; u++, win += g->ky) {
            const float *row = plane + (size_t)u * g->dx * g->W;
            if (g->dy == 1)
                memcpy(win, row, (size_t)g->ky * sizeof *win);
            else
                for (int v = 0; v < g->ky; v++) win[v] = row[(size_t)v * g->dy];
        }
    }
}

static void fwd_group(void *ctx, long gi, int worker)
{
    fwd_job *j = ctx;
    const sbs_layer_args *a = j->a;
    const sbs_geom *g = &a->g;
    int K = g->K, XY = g->X * g->Y, T = a->T, ldw = a->ldw;
    unsigned char *m = j->impl->ws[worker].mem;
    float *win = (float *)m;
    uint32_t *thr = (uint32_t *)(m + j->off_thr);
    uint32_t *al = (uint32_t *)(m + j->off_alias);
    double *scr = (double *)(m + j->off_scr);
    int32_t *idx = (int32_t *)(m + j->off_idx);
    float *h = (float *)(m + j->off_h);
    long first = gi * j->per_group;
    int P = (int)(j->n_items - first < j->per_group ? j->n_items - first : j->per_group);
    uint32_t tag = sbs_spike_tag(a->layer, j->key->pass);
    size_t img_size = (size_t)g->C * g->H * g->W;
    /* the alias tables of two positions at a time (sbs_alias_build_fast2; faster for windows
     * of 25 inputs too), a last odd position alone */
    for (int p0 = 0; p0 < P; p0 += 2) {
        const int np = P - p0 < 2 ? P - p0 : 2;
        int b[2], pos[2]; /* image and output position of each */
        for (int i = 0; i < np; i++) {
            const long item = first + p0 + i;
            b[i] = (int)(item / XY);
            pos[i] = (int)(item % XY);
            patch_gather(g, j->x + (size_t)b[i] * img_size, pos[i] / g->Y, pos[i] % g->Y,
                         win + (size_t)i * K);
        }
        if (np == 2)
            sbs_alias_build_fast2(win, win + K, K, thr, al, thr + K, al + K, scr,
                                  scr + (size_t)3 * K);
        else
            sbs_alias_build_fast(win, K, thr, al, scr);
        for (int i = 0; i < np; i++)
            j->impl->draw(thr + (size_t)i * K, al + (size_t)i * K, K, j->key->seed, tag,
                          j->key->first_sample + (uint32_t)b[i], (uint32_t)pos[i], T,
                          idx + (size_t)(p0 + i) * T);
    }
    j->impl->dyn(a->W, a->N, ldw, P, idx, T, a->eps, a->forgetting_offset, h);
    for (int p = 0; p < P; p++) {
        long item = first + p;
        int b = (int)(item / XY), pos = (int)(item % XY);
        float *out = j->h + (size_t)b * a->N * XY + pos;
        const float *hp = h + (size_t)p * ldw;
        for (int n = 0; n < a->N; n++) out[(size_t)n * XY] = hp[n];
    }
}

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* every worker's scratch at least need bytes */
static void ensure_ws(cpu_impl *impl, size_t need)
{
    for (int w = 0; w < impl->threads; w++) {
        if (impl->ws[w].cap < need) {
            free(impl->ws[w].mem);
            impl->ws[w].mem = xaligned(need);
            impl->ws[w].cap = need;
        }
    }
}

/* Full-layer spikes (spike_full_layer_input_distribution): one job per image: an alias table
 * over all C*H*W inputs, T spikes, routed to the positions whose windows hold them
 * (sbs_full_layer_route), then the dynamics of groups of SBS_P positions, each over its own
 * spikes (a position gets about T*kx*ky/(H*W) of them). */
typedef struct {
    const sbs_layer_args *a;
    const float *x;
    const sbs_spike_key *key;
    float *h;
    cpu_impl *impl;
    size_t off_alias, off_scr, off_spk, off_start, off_list, off_tab, off_h;
} full_job;

static void fwd_full_img(void *ctx, long b, int worker)
{
    full_job *j = ctx;
    const sbs_layer_args *a = j->a;
    const sbs_geom *g = &a->g;
    int CHW = g->C * g->H * g->W, XY = g->X * g->Y, N = a->N;
    unsigned char *m = j->impl->ws[worker].mem;
    uint32_t *thr = (uint32_t *)m;
    uint32_t *al = (uint32_t *)(m + j->off_alias);
    double *scr = (double *)(m + j->off_scr);
    int32_t *spk = (int32_t *)(m + j->off_spk);
    int32_t *start = (int32_t *)(m + j->off_start);
    int32_t *list = (int32_t *)(m + j->off_list);
    float *hp = (float *)(m + j->off_h);
    int32_t *tab = (int32_t *)(m + j->off_tab);
    sbs_alias_build_fast(j->x + (size_t)b * CHW, CHW, thr, al, scr);
    j->impl->draw(thr, al, CHW, j->key->seed, sbs_spike_tag(a->layer, j->key->pass),
                  j->key->first_sample + (uint32_t)b, SBS_FULL_LAYER_POSITION, a->T, spk);
    sbs_full_layer_route(g, spk, a->T, start, list, tab);
    for (int first = 0; first < XY; first += SBS_P) {
        int P = XY - first < SBS_P ? XY - first : SBS_P;
        const int32_t *ip[SBS_P];
        int len[SBS_P];
        for (int p = 0; p < P; p++) {
            ip[p] = list + start[first + p];
            len[p] = start[first + p + 1] - start[first + p];
        }
        j->impl->dynv(a->W, N, a->ldw, P, ip, len, a->eps, a->forgetting_offset, hp);
        for (int p = 0; p < P; p++) {
            float *out = j->h + (size_t)b * N * XY + first + p;
            const float *hv = hp + (size_t)p * a->ldw;
            for (int n = 0; n < N; n++) out[(size_t)n * XY] = hv[n];
        }
    }
}

/* scratch layout of a full-layer job (offsets in bytes), its total size returned */
static size_t full_layout(const sbs_geom *g, int T, int ldw, full_job *j)
{
    size_t CHW = (size_t)g->C * g->H * g->W, XY = (size_t)g->X * g->Y;
    j->off_alias = align64(CHW * 4);
    j->off_scr = j->off_alias + align64(CHW * 4);
    j->off_spk = j->off_scr + align64(3 * CHW * sizeof(double));
    j->off_start = j->off_spk + align64(((size_t)T + 1) * 4);
    j->off_list = j->off_start + align64((XY + 1) * 4);
    j->off_tab = j->off_list + align64(((size_t)T * g->kx * g->ky + 1) * 4);
    j->off_h = j->off_tab + align64(sbs_full_layer_route_tab(g) * 4);
    return j->off_h + align64((size_t)SBS_P * ldw * sizeof(float));
}

/* scratch layout of a group job, its total size returned */
static size_t group_layout(int K, int T, int ldw, fwd_job *j)
{
    j->off_thr = align64((size_t)2 * K * sizeof(float)); /* two windows and two tables */
    j->off_alias = j->off_thr + align64((size_t)2 * K * 4);
    j->off_scr = j->off_alias + align64((size_t)2 * K * 4);
    j->off_idx = j->off_scr + align64((size_t)6 * K * sizeof(double));
    j->off_h = j->off_idx + align64((size_t)SBS_P * T * 4);
    return j->off_h + align64((size_t)SBS_P * ldw * sizeof(float));
}

size_t sbs_cpu_engine_workspace(const sbs_layer *L, int threads)
{
    if (L->T <= 0) return 0;
    full_job fj;
    fwd_job gj;
    size_t need = L->cfg->spike_full_layer_input_distribution
                      ? full_layout(&L->g, L->T, L->ldw, &fj)
                      : group_layout(L->g.K, L->T, L->ldw, &gj);
    return sbs_mul_huge(need, (size_t)threads);
}

void sbs_cpu_engine_forward(sbs_cpu_engine *impl, const sbs_layer_args *a, const float *x, int B,
                            const sbs_spike_key *key, float *h)
{
    if (a->full_layer) {
        full_job j = {.a = a, .x = x, .key = key, .h = h, .impl = impl};
        ensure_ws(impl, full_layout(&a->g, a->T, a->ldw, &j));
        sbs_pool_run(impl->pool, B, fwd_full_img, &j);
        return;
    }
    fwd_job j = {.a = a, .x = x, .B = B, .key = key, .h = h, .impl = impl};
    j.n_items = (long)B * a->g.X * a->g.Y;
    /* groups of SBS_P positions; where that makes fewer groups than workers (a layer of one
     * position an image: 24 positions, one group, one busy worker), smaller groups, one a
     * worker (the positions are independent: the same bits) */
    j.per_group = SBS_P;
    if (j.n_items < (long)SBS_P * impl->threads)
        j.per_group = (int)((j.n_items + impl->threads - 1) / impl->threads);
    if (j.per_group < 1) j.per_group = 1;
    ensure_ws(impl, group_layout(a->g.K, a->T, a->ldw, &j));
    sbs_pool_run(impl->pool, (j.n_items + j.per_group - 1) / j.per_group, fwd_group, &j);
}

void sbs_cpu_engine_destroy(sbs_cpu_engine *impl)
{
    if (!impl) return;
    for (int w = 0; w < impl->threads; w++) free(impl->ws[w].mem);
    free(impl->ws);
    free(impl);
}

sbs_cpu_engine *sbs_cpu_engine_create(const char *simd, sbs_pool *pool, int threads)
{
    cpu_impl *impl = xcalloc(1, sizeof *impl);
    impl->dyn = pick(simd, &impl->simd);
    impl->draw = pick_draw(impl->simd);
    impl->dynv = pick_dynv(impl->simd);
    impl->pool = pool;
    impl->threads = threads;
    impl->ws = xcalloc((size_t)threads, sizeof *impl->ws);
    return impl;
}

const char *sbs_cpu_engine_simd(const sbs_cpu_engine *impl)
{
    return impl->simd;
}

const char *const sbs_cpu_simd_levels[3] = {"avx512", "avx2", "scalar"};

bool sbs_cpu_simd_supported(const char *simd)
{
    const char *name;
    pick(simd, &name);
    return !strcmp(name, simd);
}
