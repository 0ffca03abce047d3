/* sbs_test.h — what the engine's unit tests (tests/nn, train, nnmf, layers, layers2) share:
 * CHECK, the table runner, random fills and weights, the SIMD levels, small nets from a list of
 * layer specs, and the comparisons of gradients with an oracle's.
 *
 * A case is a function `int case(void)` that returns 0 when it passed and 1 when a CHECK
 * failed (after printing why); helpers called by cases follow the same rule. */
#ifndef SBS_TEST_H
#define SBS_TEST_H

#include "sbs/backend.h"
#include "sbs/backend_cpu.h"
#include "sbs/layer.h"
#include "sbs/net.h"
#include "sbs/rng.h"
#include "sbs/train.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ checks and the runner */

/* In a case (or a helper returning int): if cond is false, print where, the condition and the
 * printf-style message, and return 1. */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("    FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
            printf(__VA_ARGS__);                                                          \
            printf("\n");                                                                 \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

typedef struct {
    const char *name;
    int (*fn)(void);
} sbs_test_case;

/* Run every case in order: what the case prints, then "ok  NAME" or "FAIL NAME"; last
 * "F of N checks failed". Returns the exit status: 1 if any case failed, else 0. */
static inline int sbs_test_run(const sbs_test_case *t, int n)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int r = t[i].fn();
        printf("%s %s\n", r ? "FAIL" : "ok  ", t[i].name);
        fflush(stdout);
        failed += r != 0;
    }
    printf("%d of %d checks failed\n", failed, n);
    return failed ? 1 : 0;
}

/* main's body for a table of cases: return SBS_TEST_RUN(cases); */
#define SBS_TEST_RUN(table) sbs_test_run((table), (int)(sizeof(table) / sizeof *(table)))

/* ------------------------------------------------------------------ random inputs */

/* x[i] uniform in [lo, hi), drawn from st (which advances) */
static inline void sbs_test_fill_from(sbs_stream *st, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)sbs_stream_u01(st);
}

/* x[i] uniform in [lo, hi) from the stream (key, a, b) */
static inline void sbs_test_fill_key(float *x, size_t n, uint64_t key, uint32_t a, uint32_t b,
                                     float lo, float hi)
{
    sbs_stream st;
    sbs_stream_init(&st, key, SBS_RNG_INIT, a, b);
    sbs_test_fill_from(&st, x, n, lo, hi);
}

/* the tests' usual fill: stream (77, a, 9) */
static inline void sbs_test_fill(float *x, size_t n, uint32_t a, float lo, float hi)
{
    sbs_test_fill_key(x, n, 77, a, 9, lo, hi);
}

/* SbS weights (K x ldw, aligned): columns n < N random in [0.05, 1.05) from st and normalised,
 * the padding columns zero */
static inline float *sbs_test_rand_weights(sbs_stream *st, int K, int N, int ldw)
{
    float *W = xaligned((size_t)K * ldw * sizeof(float));
    memset(W, 0, (size_t)K * ldw * sizeof(float));
    for (int i = 0; i < K; i++)
        for (int n = 0; n < N; n++) W[(size_t)i * ldw + n] = 0.05f + (float)sbs_stream_u01(st);
    sbs_normalize_columns(W, K, N, ldw);
    return W;
}

/* ------------------------------------------------------------------ SIMD levels */

enum { SBS_TEST_N_SIMD = 3 };

/* The i-th SIMD level (scalar, avx2, avx512) when the CPU backend runs it on this machine,
 * else NULL. */
static inline const char *sbs_test_simd(int i)
{
    static const char *const names[SBS_TEST_N_SIMD] = {"scalar", "avx2", "avx512"};
    return sbs_cpu_simd_supported(names[i]) ? names[i] : NULL;
}

/* ------------------------------------------------------------------ nets from layer specs */

/* One layer of a test net. Zero means "the default" for every field but padding. */
typedef struct {
    int kind;
    int in, out;        /* forward_neuron_numbers; 0: not given (-1) */
    int k[2], s[2], d[2]; /* kernel, stride, dilation; 0: 1 */
    int p[2];           /* padding */
    bool full;          /* spike_full_layer_input_distribution */
    int spikes;         /* 0: the net's T */
    int frac, trunc;    /* number_of_frac_bits / number_of_trunc_bits; 0: not given (-1) */
    bool approx;        /* approximation_enable */
} sbs_test_layer;

/* cfg for the n layers ls with n_out outputs: T spikes (unless a layer sets its own),
 * epsilon_0 1, no forgetting offset, no cooldown, reduction_cooldown 25, every layer's
 * weights trainable; learning on, Adam, no gradient scaling, weight noise [1, 1.5]. Callers
 * change what their test needs before sbs_test_plan. */
static inline void sbs_test_config(sbs_config *cfg, const sbs_test_layer *ls, int n, int n_out,
                                   int T)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_layers = n;
    cfg->number_of_output_neurons = n_out;
    cfg->learn.weight_noise_range[0] = 1.0f;
    cfg->learn.weight_noise_range[1] = 1.5f;
    cfg->learn.learning_active = true;
    cfg->learn.disable_scale_grade = true;
    snprintf(cfg->learn.optimizer_name, sizeof cfg->learn.optimizer_name, "Adam");
    for (int l = 0; l < n; l++) {
        sbs_layer_cfg *c = &cfg->layers[l];
        c->kind = ls[l].kind;
        snprintf(c->type, sizeof c->type, "%s", sbs_layer_kind_name(c->kind));
        c->in = ls[l].in ? ls[l].in : -1;
        c->out = ls[l].out ? ls[l].out : -1;
        for (int a = 0; a < 2; a++) {
            c->kernel[a] = ls[l].k[a] ? ls[l].k[a] : 1;
            c->stride[a] = ls[l].s[a] ? ls[l].s[a] : 1;
            c->dilation[a] = ls[l].d[a] ? ls[l].d[a] : 1;
            c->padding[a] = ls[l].p[a];
        }
        c->spikes = ls[l].spikes ? ls[l].spikes : T;
        c->epsilon_0 = 1.0f;
        c->forgetting_offset = -1.0f;
        c->cooldown_after_number_of_spikes = -1;
        c->reduction_cooldown = 25.0f;
        c->w_trainable = true;
        c->spike_full_layer_input_distribution = ls[l].full;
        c->approximation_enable = ls[l].approx;
        c->number_of_frac_bits = ls[l].frac ? ls[l].frac : -1;
        c->number_of_trunc_bits = ls[l].trunc ? ls[l].trunc : -1;
    }
}

/* Plan cfg's net for C x H x W inputs and initialise its weights with seed. On a plan error
 * returns -1, with the message in *err, or printed when err is NULL. */
static inline int sbs_test_plan(sbs_config *cfg, sbs_net *net, int C, int H, int W,
                                uint64_t seed, sbs_err *err)
{
    sbs_err e;
    if (sbs_net_plan(net, cfg, C, H, W, err ? err : &e) != 0) {
        if (!err) printf("    plan: %s\n", e.msg);
        return -1;
    }
    sbs_net_init_weights(net, seed);
    return 0;
}

/* sbs_test_config + sbs_test_plan with weight seed 3 */
static inline int sbs_test_net(sbs_config *cfg, sbs_net *net, const sbs_test_layer *ls, int n,
                               int n_out, int C, int H, int W, int T, sbs_err *err)
{
    sbs_test_config(cfg, ls, n, n_out, T);
    return sbs_test_plan(cfg, net, C, H, W, 3, err);
}

/* ------------------------------------------------------------------ gradients vs an oracle */

/* max |ref[i] - got[i]| over n values; *ref_max = max |ref[i]| */
static inline double sbs_test_max_diff(const double *ref, const float *got, size_t n,
                                       double *ref_max)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(ref[i] - got[i]));
        m = fmax(m, fabs(ref[i]));
    }
    *ref_max = m;
    return d;
}

/* The same for a weight gradient of L: ref dense (K x N), got in the layer's layout
 * (K x ldw). */
static inline double sbs_test_max_diff_w(const sbs_layer *L, const double *ref, const float *got,
                                         double *ref_max)
{
    double d = 0, m = 0;
    for (int i = 0; i < L->g.K; i++)
        for (int n = 0; n < L->N; n++) {
            double a = ref[(size_t)i * L->N + n], b = got[(size_t)i * L->ldw + n];
            d = fmax(d, fabs(a - b));
            m = fmax(m, fabs(a));
        }
    *ref_max = m;
    return d;
}

#endif
