/* test_cpu_bitwise.c — the CPU backend's fast paths are bitwise those they replaced: the
 * AVX-512 dynamics against the previous algorithm, the AVX-512 spike draw against the
 * portable one at every size where its table lookup changes (register permutes up to 32
 * columns, gathers beyond), and the branch-free alias tables against sbs_alias_build.
 *
 * The fast dynamics reduce the lane partial sums of 16 positions together (a transpose-and-add
 * network, one vector division per step). The written contract (DESIGN.md, sbs_step.h) is that
 * this changes no bit: every position's sum sees the additions of _mm512_reduce_add_ps. This
 * test keeps a verbatim copy of the previous algorithm (one position at a time,
 * _mm512_reduce_add_ps, the coefficients as GCC contracted them) and compares the outputs
 * bit for bit, fixed-length and variable-length (full-layer) rows, for N in {3, 10, 16, 17,
 * 32, 64, 96}, many T and P, with and without forgetting offset and cooldown, and with spike
 * rows whose dot product is 0 (the update is skipped). Golden hashes taken from the previous
 * main's build pin the copy itself. The AVX2 path, whose code is the same arithmetic written
 * per lane, is held to the same bits. On a CPU without AVX-512 only the alias tables are
 * compared. */
#include "sbs_test.h"

#include "sbs/alias_fast.h"

#include <immintrin.h>

#define PREV_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))

/* ---- the previous main's AVX-512 dynamics (sbs_cpu.c at 1fd6a4f), kept as they were ---- */

#define PREV_NORMALISE                            \
    for (int p = 0; p < P; p++) {                 \
        float *hp = h + (size_t)p * ldw;          \
        float s = 0.0f;                           \
        for (int n = 0; n < N; n++) s += hp[n];   \
        const float inv = 1.0f / s;               \
        for (int n = 0; n < N; n++) hp[n] *= inv; \
    }

#define PREV_BODY(TMAX, LIVE, SPIKE)                                                               \
    {                                                                                              \
        const float fo = forgetting_offset > 0.0f ? forgetting_offset : 0.0f;                      \
        const int tmax = (TMAX);                                                                   \
        const __m512 h0 = _mm512_set1_ps(1.0f / N);                                                \
        for (int p = 0; p < P; p++)                                                                \
            for (int v = 0; v < ldw; v += 16) {                                                    \
                __mmask16 live =                                                                   \
                    (__mmask16)(N - v >= 16 ? 0xFFFF : (1u << (N > v ? N - v : 0)) - 1);           \
                _mm512_storeu_ps(h + (size_t)p * ldw + v, _mm512_maskz_mov_ps(live, h0));          \
            }                                                                                      \
        for (int t = 0; t < tmax; t++) {                                                           \
            const float e = eps[t];                                                                \
            const float a = 1.0f / (1.0f + e * (1.0f + fo));                                       \
            const __m512 va = _mm512_set1_ps(a);                                                   \
            const __m512 vc = _mm512_set1_ps(e * fo * a / (float)N);                               \
            const float ea = e * a;                                                                \
            for (int p = 0; p < P; p++) {                                                          \
                if (!(LIVE)) continue;                                                             \
                const float *w = W + (size_t)(SPIKE)*ldw;                                          \
                float *hp = h + (size_t)p * ldw;                                                   \
                __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(hp), _mm512_loadu_ps(w));               \
                for (int v = 16; v < ldw; v += 16)                                                 \
                    acc = _mm512_fmadd_ps(_mm512_loadu_ps(hp + v), _mm512_loadu_ps(w + v), acc);   \
                const float r = _mm512_reduce_add_ps(acc);                                         \
                if (r > 1e-10f) {                                                                  \
                    const __m512 vb = _mm512_set1_ps(ea / r);                                      \
                    for (int v = 0; v < ldw; v += 16) {                                            \
                        __m512 f = _mm512_fmadd_ps(vb, _mm512_loadu_ps(w + v), va);                \
                        _mm512_storeu_ps(hp + v, _mm512_fmadd_ps(_mm512_loadu_ps(hp + v), f, vc)); \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        PREV_NORMALISE                                                                             \
    }

static inline int prev_steps(const int *len, int P)
{
    int tmax = 0;
    for (int p = 0; p < P; p++)
        if (len[p] > tmax) tmax = len[p];
    return tmax;
}

PREV_AVX512 static void prev_fixed(const float *restrict W, int N, int ldw, int P,
                                   const int32_t *restrict idx, int T, const float *restrict eps,
                                   float forgetting_offset, float *restrict h)
    PREV_BODY(T, 1, idx[(size_t)p * T + t])

        PREV_AVX512
    static void prev_var(const float *restrict W, int N, int ldw, int P, const int32_t *const *idx,
                         const int *len, const float *restrict eps, float forgetting_offset,
                         float *restrict h) PREV_BODY(prev_steps(len, P), t < len[p], idx[p][t])

    /* ---- the comparison ---- */

    /* FNV-1a over the bytes of n floats, chained from hash */
    static uint64_t fnv(uint64_t hash, const float *x, size_t n)
{
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++) hash = (hash ^ b[i]) * 0x100000001b3ull;
    return hash;
}

/* One case's inputs: weights (K x ldw) with the rows of index < n_zero all zero (their spikes
 * skip the update), eps for T steps, P rows of T spikes and random lengths <= T. */
typedef struct {
    int N, ldw, K, T, P;
    float fo;
    float *W, *eps;
    int32_t *idx;
    int *len;
    const int32_t **rows;
} dyn_case;

static void case_make(dyn_case *c, sbs_stream *st, int N, int T, int P, int variant)
{
    c->N = N;
    c->ldw = sbs_pad_n(N);
    c->K = 5 + (N * 7) % 40;
    c->T = T;
    c->P = P;
    c->fo = variant == 1 ? 0.3f : variant == 3 ? 0.05f : -1.0f;
    c->W = sbs_test_rand_weights(st, c->K, N, c->ldw);
    if (variant == 3) memset(c->W, 0, (size_t)2 * c->ldw * sizeof *c->W);
    c->eps = malloc((size_t)T * sizeof *c->eps);
    sbs_eps_table(variant == 2 ? 0.7f : 1.0f, variant == 2 ? T / 2 : -1, 25.0f, T, c->eps);
    c->idx = malloc((size_t)P * T * sizeof *c->idx);
    for (int i = 0; i < P * T; i++) c->idx[i] = (int32_t)sbs_stream_below(st, (uint32_t)c->K);
    c->len = malloc((size_t)P * sizeof *c->len);
    c->rows = malloc((size_t)P * sizeof *c->rows);
    for (int p = 0; p < P; p++) {
        c->len[p] = (int)sbs_stream_below(st, (uint32_t)T + 1);
        c->rows[p] = c->idx + (size_t)p * T;
    }
}

static void case_free(dyn_case *c)
{
    free(c->W);
    free(c->eps);
    free(c->idx);
    free(c->len);
    free(c->rows);
}

/* the first differing float of two P x ldw outputs, or -1 */
static long first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a)) return (long)i;
    return -1;
}

/* Compare level simd with the previous algorithm on one case, both row kinds; the previous
 * outputs' hash is chained into *hash. */
static int case_check(const dyn_case *c, const char *simd, uint64_t *hash)
{
    size_t n = (size_t)c->P * c->ldw;
    float *want = xaligned(n * sizeof(float)), *got = xaligned(n * sizeof(float));
    for (int var = 0; var < 2; var++) {
        memset(want, 0, n * sizeof(float));
        memset(got, 0, n * sizeof(float));
        if (var) {
            prev_var(c->W, c->N, c->ldw, c->P, c->rows, c->len, c->eps, c->fo, want);
            sbs_cpu_dynamics_var(simd, c->W, c->N, c->ldw, c->P, c->rows, c->len, c->eps, c->fo,
                                 got);
        } else {
            prev_fixed(c->W, c->N, c->ldw, c->P, c->idx, c->T, c->eps, c->fo, want);
            sbs_cpu_dynamics(simd, c->W, c->N, c->ldw, c->P, c->idx, c->T, c->eps, c->fo, got);
        }
        if (hash) *hash = fnv(*hash, want, n);
        long d = first_diff(want, got, n);
        if (d >= 0) {
            printf("    FAIL %s %s N=%d T=%d P=%d fo=%g: position %ld neuron %ld: %.9g, previous "
                   "%.9g\n",
                   simd, var ? "variable" : "fixed", c->N, c->T, c->P, c->fo, d / c->ldw,
                   d % c->ldw, got[d], want[d]);
            free(want);
            free(got);
            return 1;
        }
    }
    free(want);
    free(got);
    return 0;
}

static int test_bitwise(const char *simd)
{
    sbs_stream st;
    sbs_stream_init(&st, 12, SBS_RNG_INIT, 4, 0);
    const int Ns[] = {3, 10, 16, 17, 32, 64, 96};
    const int Ts[] = {1, 2, 15, 16, 17, 64, 100, 1600};
    const int Ps[] = {1, 5, 16, 17, 32, 33, 40, 64};
    int cases = 0;
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++)
            for (int variant = 0; variant < 4; variant++) {
                int P = Ps[(ni + ti + (size_t)variant) % (sizeof Ps / sizeof *Ps)];
                dyn_case c;
                case_make(&c, &st, Ns[ni], Ts[ti], P, variant);
                int r = case_check(&c, simd, NULL);
                case_free(&c);
                if (r) return 1;
                cases++;
            }
    printf("    %s: %d cases x (fixed, variable) bitwise equal to the previous algorithm\n", simd,
           cases);
    return 0;
}

static int test_avx512(void)
{
    return test_bitwise("avx512");
}
static int test_avx2(void)
{
    return test_bitwise("avx2");
}

/* The kept copy against hashes of the previous main's outputs (its sbs_cpu_dynamics, AVX-512,
 * on these very inputs): N = 32, T = 1600, P = 16 and N = 96, T = 100, P = 5, all variants. */
static int test_golden(void)
{
    static const struct {
        int N, T, P;
        uint64_t hash;
    } gold[] = {
        {32, 1600, 16, 0x5a1edf6e539357f8ull},
        {96, 100, 5, 0xcc25fba499942d49ull},
    };
    for (size_t g = 0; g < sizeof gold / sizeof *gold; g++) {
        sbs_stream st;
        sbs_stream_init(&st, 21, SBS_RNG_INIT, (uint32_t)g, 0);
        uint64_t hash = 0xcbf29ce484222325ull;
        for (int variant = 0; variant < 4; variant++) {
            dyn_case c;
            case_make(&c, &st, gold[g].N, gold[g].T, gold[g].P, variant);
            int r = case_check(&c, "avx512", &hash);
            case_free(&c);
            if (r) return 1;
        }
        printf("    N=%d T=%d P=%d: hash %016llx\n", gold[g].N, gold[g].T, gold[g].P,
               (unsigned long long)hash);
        CHECK(hash == gold[g].hash,
              "N=%d T=%d: outputs hash to %016llx, the previous main's to "
              "%016llx",
              gold[g].N, gold[g].T, (unsigned long long)hash, (unsigned long long)gold[g].hash);
    }
    return 0;
}

/* sbs_spikes_draw_fast (AVX-512) == sbs_spikes_draw for K = 1 .. 40, 64, 65, 800 and many T,
 * seeds, tags and positions; tables with zero-probability columns included */
static int test_draw(void)
{
    sbs_stream st;
    sbs_stream_init(&st, 12, SBS_RNG_INIT, 5, 0);
    const int Ts[] = {1, 15, 16, 17, 63, 64, 65, 200, 1600};
    int cases = 0;
    for (int K = 1; K <= 800; K = K < 40    ? K + 1
                                  : K == 40 ? 64
                                  : K == 64 ? 65
                                  : K == 65 ? 800
                                            : 801) {
        float *x = malloc((size_t)K * sizeof *x);
        uint32_t *thr = malloc((size_t)K * 4), *al = malloc((size_t)K * 4);
        double *scr = malloc((size_t)3 * K * sizeof *scr);
        int32_t *a = malloc(1600 * 4), *b = malloc(1600 * 4);
        for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
            int T = Ts[ti];
            sbs_test_fill_from(&st, x, (size_t)K, 0.0f, 1.0f);
            for (int i = 0; i < K; i += 3) x[i] = K > 1 ? 0.0f : x[i];
            sbs_alias_build(x, K, thr, al, scr);
            uint64_t seed = ((uint64_t)sbs_stream_u32(&st) << 32) | sbs_stream_u32(&st);
            uint32_t tag = sbs_spike_tag((int)(ti % 7), sbs_stream_u32(&st));
            uint32_t sample = sbs_stream_u32(&st), pos = sbs_stream_u32(&st) % 5000;
            sbs_spikes_draw(thr, al, K, seed, tag, sample, pos, T, a);
            memset(b, 0xff, (size_t)T * 4);
            sbs_spikes_draw_fast("avx512", thr, al, K, seed, tag, sample, pos, T, b);
            for (int t = 0; t < T; t++)
                CHECK(a[t] == b[t], "K=%d T=%d: spike %d is %d, the portable draw's %d", K, T, t,
                      b[t], a[t]);
            cases++;
        }
        free(x);
        free(thr);
        free(al);
        free(scr);
        free(a);
        free(b);
    }
    printf("    %d draws bitwise equal to the portable sampler\n", cases);
    return 0;
}

/* sbs_alias_build_fast and sbs_alias_build_fast2 == sbs_alias_build on columns of many shapes:
 * random with zeros, all zero, one nonzero, all equal (q exactly 1), powers of two, subnormals
 * beside large values, negative and NaN entries (read as 0), heavy tails; K = 1 .. 64, 800,
 * 1600; fast2 on every pair of shapes (either table's pairing may end first) */
#define ALIAS_SHAPES 9
static int test_alias(void)
{
    sbs_stream st;
    sbs_stream_init(&st, 12, SBS_RNG_INIT, 6, 0);
    int cases = 0, pairs = 0;
    for (int K = 1; K <= 1600; K = K < 64 ? K + 1 : K == 64 ? 800 : K == 800 ? 1600 : 1601) {
        const size_t n = (size_t)ALIAS_SHAPES * K;
        float *x = malloc(n * sizeof *x);
        uint32_t *t1 = malloc(n * 4), *a1 = malloc(n * 4);
        uint32_t *t2 = malloc((size_t)2 * K * 4), *a2 = malloc((size_t)2 * K * 4);
        double *scr = malloc((size_t)6 * K * sizeof *scr);
        for (int shape = 0; shape < ALIAS_SHAPES; shape++) {
            float *xs = x + (size_t)shape * K;
            for (int i = 0; i < K; i++) {
                float u = (float)sbs_stream_u01(&st);
                switch (shape) {
                case 0: xs[i] = u < 0.3f ? 0.0f : u; break;
                case 1: xs[i] = 0.0f; break;
                case 2: xs[i] = i == K / 2 ? u + 0.1f : 0.0f; break;
                case 3: xs[i] = 0.25f; break;
                case 4: xs[i] = (float)(1 << (i % 5)); break;
                case 5: xs[i] = u < 0.5f ? 1e-40f * u : 1e30f * u; break;
                case 6: xs[i] = u < 0.2f ? -u : u < 0.25f ? NAN : u; break;
                case 7: xs[i] = u * u * u * u * u * u; break;
                default: xs[i] = 1.0f / (1.0f - 0.999f * u); break;
                }
            }
            uint32_t *tr = t1 + (size_t)shape * K, *ar = a1 + (size_t)shape * K;
            sbs_alias_build(xs, K, tr, ar, scr);
            sbs_alias_build_fast(xs, K, t2, a2, scr);
            for (int i = 0; i < K; i++)
                CHECK(tr[i] == t2[i] && ar[i] == a2[i],
                      "K=%d shape %d column %d: threshold %u alias %u, the reference's %u %u", K,
                      shape, i, t2[i], a2[i], tr[i], ar[i]);
            cases++;
        }
        for (int s0 = 0; s0 < ALIAS_SHAPES; s0++)
            for (int s1 = 0; s1 < ALIAS_SHAPES; s1++) {
                memset(t2, 0xA5, (size_t)2 * K * 4);
                sbs_alias_build_fast2(x + (size_t)s0 * K, x + (size_t)s1 * K, K, t2, a2, t2 + K,
                                      a2 + K, scr, scr + 3 * K);
                for (int h = 0; h < 2; h++) {
                    const size_t r = (size_t)(h ? s1 : s0) * K;
                    for (int i = 0; i < K; i++)
                        CHECK(t1[r + i] == t2[h * K + i] && a1[r + i] == a2[h * K + i],
                              "fast2 K=%d shapes %d,%d table %d column %d: threshold %u alias "
                              "%u, the reference's %u %u",
                              K, s0, s1, h, i, t2[h * K + i], a2[h * K + i], t1[r + i], a1[r + i]);
                }
                pairs++;
            }
        free(x);
        free(t1);
        free(a1);
        free(t2);
        free(a2);
        free(scr);
    }
    printf("    %d tables bitwise equal to sbs_alias_build's, and %d pairs built together\n", cases,
           pairs);
    return 0;
}

int main(void)
{
    static const sbs_test_case portable[] = {
        {"branch-free alias tables == sbs_alias_build", test_alias},
    };
    static const sbs_test_case cases[] = {
        {"AVX-512 dynamics == previous algorithm (bitwise)", test_avx512},
        {"AVX2 dynamics == previous AVX-512 algorithm (bitwise)", test_avx2},
        {"previous algorithm == golden hashes of the previous main", test_golden},
        {"AVX-512 spike draw == portable draw, K = 1 .. 40, 64, 65, 800", test_draw},
        {"branch-free alias tables == sbs_alias_build", test_alias},
    };
    if (!sbs_test_simd(2)) {
        printf("this CPU has no AVX-512: the AVX-512 cases are skipped\n");
        return SBS_TEST_RUN(portable);
    }
    return SBS_TEST_RUN(cases);
}
