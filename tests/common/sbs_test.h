/* sbs_test.h — what the unit tests (tests/backend, nn, layers) share: CHECK and the case
 * runner, random fills and SbS weights, the CPU SIMD levels, small nets from a list of layer
 * specs, and a net bound to a backend (sbs_exec + trainer state) with the passes the tests
 * need: forward, a chunk's backward from a given output gradient, the gradients summed into
 * the exec's window buffer with be->add and downloaded, and one layer's kernels called
 * directly on the exec's buffers.
 *
 * A case is a function `int case(void)` that returns 0 when it passed and 1 when a CHECK
 * failed (after printing why); helpers called by cases follow the same rule. */
#ifndef SBS_TEST_H
#define SBS_TEST_H

#include "sbs/backend.h"
#include "sbs/backend_cpu.h"
#include "sbs/exec.h"
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
#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (!(cond)) {                                                 \
            printf("    FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf(__VA_ARGS__);                                       \
            printf("\n");                                              \
            return 1;                                                  \
        }                                                              \
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

/* ------------------------------------------------------------------ backends */

enum { SBS_TEST_N_SIMD = 3 };

/* The i-th SIMD level, scalar first (scalar, avx2, avx512), when this CPU runs it, else
 * NULL. */
static inline const char *sbs_test_simd(int i)
{
    const char *name = sbs_cpu_simd_levels[SBS_TEST_N_SIMD - 1 - i];
    return sbs_cpu_simd_supported(name) ? name : NULL;
}

/* A CPU backend with th threads at SIMD level simd; exits with status 1 when it cannot be
 * made (a test cannot go on without it). */
static inline sbs_backend *sbs_test_cpu(int th, const char *simd)
{
    sbs_backend_opts o = {.threads = th, .simd = simd};
    sbs_err e;
    sbs_backend *be = sbs_backend_create("cpu", &o, &e);
    if (!be) {
        printf("FAIL cannot make the cpu backend (%d threads, %s): %s\n", th, simd, e.msg);
        exit(1);
    }
    return be;
}

/* ------------------------------------------------------------------ nets from layer specs */

/* One layer of a test net. Zero means "the default" for every field but padding. */
typedef struct {
    int kind;
    int in, out;          /* forward_neuron_numbers; 0: not given (-1) */
    int k[2], s[2], d[2]; /* kernel, stride, dilation; 0: 1 */
    int p[2];             /* padding */
    bool full;            /* spike_full_layer_input_distribution */
    int spikes;           /* 0: the net's T */
    int frac, trunc;      /* number_of_frac_bits / number_of_trunc_bits; 0: not given (-1) */
    bool approx;          /* approximation_enable */
    bool set_eps;         /* epsilon_0 = eps (else 1) */
    float eps;
    float fo; /* forgetting_offset; 0: -1 (off) */
    int cool; /* cooldown_after_number_of_spikes; 0: -1 (off) */
} sbs_test_layer;

/* cfg for the n layers ls with n_out outputs: T spikes (unless a layer sets its own),
 * epsilon_0 1, no forgetting offset, no cooldown, reduction_cooldown 25, every layer's
 * weights trainable; learning on, Adam, the mixed loss (coefficients 0.5 and 1), no gradient
 * scaling, no learning-rate schedule, weight noise [1, 1.5], weight floor 1e-5. Callers change
 * what their test needs before sbs_test_plan. */
static inline void sbs_test_config(sbs_config *cfg, const sbs_test_layer *ls, int n, int n_out,
                                   int T)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->batch_size = 8;
    cfg->n_layers = n;
    cfg->number_of_output_neurons = n_out;
    cfg->learn.weight_noise_range[0] = 1.0f;
    cfg->learn.weight_noise_range[1] = 1.5f;
    cfg->learn.learning_active = true;
    cfg->learn.disable_scale_grade = true;
    cfg->learn.loss_coeffs_mse = 0.5f;
    cfg->learn.loss_coeffs_kldiv = 1.0f;
    cfg->learn.learning_rate_gamma_w = 0.01f;
    cfg->learn.learning_rate_threshold_w = 1e-5f;
    cfg->learn.number_of_batches_for_one_update = 1;
    snprintf(cfg->learn.optimizer_name, sizeof cfg->learn.optimizer_name, "Adam");
    snprintf(cfg->learn.lr_schedule_name, sizeof cfg->learn.lr_schedule_name, "None");
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
        c->epsilon_0 = ls[l].set_eps ? ls[l].eps : 1.0f;
        c->forgetting_offset = ls[l].fo != 0.0f ? ls[l].fo : -1.0f;
        c->cooldown_after_number_of_spikes = ls[l].cool ? ls[l].cool : -1;
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
static inline int sbs_test_plan(sbs_config *cfg, sbs_net *net, int C, int H, int W, uint64_t seed,
                                sbs_err *err)
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

/* ------------------------------------------------------------------ a net bound to a backend */

typedef struct {
    sbs_net *net;
    sbs_backend *be;
    sbs_exec x;          /* training buffers, batches of up to cap_B images */
    sbs_trainer_state s; /* s.ex = &x; s.learns says which layers learn */
} sbs_test_bound;

/* Bind net (planned, weights in net->params) to be for training on batches of up to cap_B
 * images. Returns 0, or sbs_exec_init's exit status (SBS_EXIT_USAGE: the backend lacks a
 * layer kind) with the message in *err, or printed when err is NULL. */
static inline int sbs_test_bind(sbs_test_bound *t, sbs_net *net, sbs_backend *be, int cap_B,
                                sbs_err *err)
{
    memset(t, 0, sizeof *t);
    t->net = net;
    t->be = be;
    int status;
    sbs_err e;
    if (sbs_exec_init(&t->x, net, be, cap_B, true, &status, err ? err : &e) != 0) {
        if (!err) printf("    bind: %s\n", e.msg);
        return status;
    }
    sbs_trainer_state_init(&t->s, net);
    t->s.ex = &t->x;
    return 0;
}

static inline void sbs_test_unbind(sbs_test_bound *t)
{
    sbs_trainer_state_free(&t->s);
    sbs_exec_free(&t->x);
}

/* n floats of backend memory p, downloaded into a new host buffer */
static inline float *sbs_test_download(sbs_backend *be, const float *p, size_t n)
{
    float *h = xaligned((n ? n : 1) * sizeof(float));
    if (n) be->download(be, h, p, n * sizeof(float));
    return h;
}

/* The arguments of layer l's operations on B images over the bound net's buffers, as the
 * exec's passes make them (exec.c): input act[l], output act[l + 1], the parameters of the
 * layer (RECONSTRUCTION: of its SbS layer), gradients gact; gW/gB into the exec's chunk
 * buffer when with_dw. */
static inline sbs_op_args sbs_test_op_args(sbs_test_bound *t, int l, int B, bool with_dw)
{
    sbs_exec *x = &t->x;
    const sbs_layer *L = &t->net->L[l];
    const sbs_layer *P = L->ref_layer >= 0 ? &t->net->L[L->ref_layer] : L;
    sbs_op_args a = {.L = L,
                     .B = B,
                     .x = x->act[l],
                     .y = x->act[l + 1],
                     .gy = x->gact[l + 1],
                     .gx = x->gact[l]};
    if (P->weight) a.W = x->params + P->w_off;
    if (P->bias) a.b = x->params + P->b_off;
    if (L->ref_layer >= 0) {
        a.ref = P;
        a.ref_x = x->act[L->ref_layer];
    }
    if (with_dw && L->weight) {
        a.gW = x->chunk + L->w_off;
        a.gB = L->bias ? x->chunk + L->b_off : NULL;
    }
    return a;
}

/* One chunk of B images (host img, labels y, spike key) through the bound net: forward, then
 * dL/d(output) := gout (host, B x output floats) instead of a loss, then backward of every
 * layer that learns or passes gradients back into the exec's chunk sums; *contrib (when
 * given) gets the per-layer contributions. The window's gradient buffer (x.grads) gets the
 * chunk's sums added with be->add (so a caller that zeroes it first and runs several chunks
 * gets their sum in chunk order). */
static inline void sbs_test_chunk(sbs_test_bound *t, const float *img, const uint8_t *y, int B,
                                  const sbs_spike_key *key, const float *gout, long *contrib)
{
    sbs_exec *x = &t->x;
    const sbs_net *net = t->net;
    sbs_exec_forward(x, img, B, key);
    t->be->upload(t->be, x->gact[net->n], gout,
                  (size_t)B * sbs_act_floats(net, net->n) * sizeof(float));
    long c[SBS_MAX_LAYERS];
    sbs_exec_backward(x, B, y, t->s.scale, t->s.learns, NULL, contrib ? contrib : c);
    t->be->add(t->be, x->grads, x->chunk, net->n_params);
}

/* zero the window's gradient sums */
static inline void sbs_test_zero_grads(sbs_test_bound *t)
{
    t->be->zero(t->be, t->x.grads, t->net->n_params * sizeof(float));
}

/* ------------------------------------------------------------------ statistics */

/* Wilson-Hilferty upper quantile of chi-square(df) at z standard deviations */
static inline double sbs_test_chi2_crit(int df, double z)
{
    double a = 2.0 / (9.0 * df);
    return df * pow(1.0 - a + z * sqrt(a), 3);
}

#endif
