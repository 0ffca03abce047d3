/* test_backend_ops.c — the acceptance harness of the compute backends (include/sbs/backend.h),
 * in the manner of ggml's tests/test-backend-ops.cpp and dav1d's checkasm: a TABLE of cases,
 * each one layer kind in a small net with its geometry and parameters, crossed with every
 * backend this build and this machine have (the CPU backend at every SIMD level the CPU runs,
 * each its own instance, reference first; "cuda" when sbs_backend_create("cuda") succeeds),
 * crossed with every check:
 *
 *   fwd       the layer's forward kernel on the backend's buffers against the oracle (SbS
 *             kinds: sbs_ref_forward in double on the same spikes, |h - oracle| <= 2e-5, which
 *             only holds when the spikes are bitwise the oracle's) or naive loops, or an exact
 *             re-draw of the spikes (POISSON, INPUT SPIKE IMAGE)
 *   bwd       the layer's backward kernel (input, weight and bias gradients, contributions)
 *             against the oracle (sbs_ref_sbs_backward, the local rule, NNMF's reverse mode in
 *             double, the exact convolution gradient) or central finite differences where the
 *             forward is deterministic
 *   loss      a last layer's own loss kernel (RECONSTRUCTION) against its formula in double and
 *             finite differences
 *   net       the whole net through sbs_exec (forward, sbs_exec_loss, sbs_exec_backward, the
 *             chunk's sums added into the window's gradients with be->add): every learning
 *             layer's weights and biases against finite differences of the loss, where the
 *             net's loss has a derivative (no spikes, no straight-through layer)
 *   threads   the whole net's outputs, activations and gradients bitwise equal for 1, 2, 3
 *             CPU threads
 *   split     the batch in chunks of 1 image (gradients added in chunk order) and in chunks of
 *             2 + the rest: outputs and gradients bitwise equal to the whole batch's
 *   xbackend  the forward equal to the reference backend's (cpu/scalar): bitwise between CPU
 *             levels, except the SbS dynamics, whose SIMD levels may differ by rounding
 *             (<= 4e-5, as each is within 2e-5 of the oracle); a device backend within 1e-5
 *             (another BLAS), and its SbS dynamics bitwise equal to cpu/avx512's (else
 *             cpu/avx2's; DESIGN.md, "Arithmetic contract")
 *   saveload  after one update on the backend: the weights (sbs_net_save_weights / load) and
 *             the checkpoint (sbs_ckpt_save / parse; a corrupt copy is refused and changes
 *             nothing) written and read back; the reloaded net computes the same forward
 *   learn     thirty training steps (sbs_train_step) on one batch lower the loss by 10 %
 * and once per case `plan`: each bad geometry or setting of the row gives one line naming its
 * key, and a backend that lacks the kind is refused by sbs_exec_init before any work. A second
 * table checks the training operations of every backend (loss in both modes, absmax, scale,
 * add, update: Adam multiplicative and additive, SGD, weight care; find_nonfinite) against a
 * scalar re-implementation in double.
 *
 * Output: one line per (case, backend, check): "ok", "FAIL" or "skip (why)" with what was
 * measured; a backend that is absent is named at the top and once per case; then a summary.
 * Exit 1 on any failure, 77 only when nothing could run. SBS_REQUIRE_GPU=1 makes an absent
 * cuda backend a failure. Options: -k TEXT runs the cases whose name contains TEXT, -b TEXT
 * the backends whose label contains it, -c CHECK one check.
 *
 * How something new gets covered — add a row, not a test:
 *  - a new layer kind: a row in `cases` below: a small net holding the kind at index `at`, a
 *    forward reference (ref_*: the oracle or naive loops), a backward reference (bwd_*: an
 *    oracle, or bwd_fd when the forward is deterministic), the tolerances, and bad variants
 *    with the key each plan error must name. The harness fails while a kind of sbs_layer_kind
 *    has no row.
 *  - a new backend: make sbs_backend_create(name) build it and add the name to
 *    `device_backends`; every row then runs on it. A backend may return NULL from `kernels`
 *    for a kind it lacks: the row is then reported as skipped on it, naming the kind.
 *  - a new check: a function check_* and an entry in `checks`.
 * Special-purpose statistical tests stay beside this harness: tests/nn (sampler chi-square,
 * dynamics per SIMD level, vectorised vs portable draw, full-layer routing), tests/layers
 * (POISSON / INPUT SPIKE IMAGE statistics), tests/approx (the multiplier). */
#include "sbs/approx.h"
#include "sbs/npy.h"
#include "sbs_test.h"

#include <dirent.h>
#include <float.h>
#include <stdarg.h>
#include <unistd.h>

enum { RES_OK, RES_FAIL, RES_SKIP };

/* ================================================================== backends */

/* The backends a device build may have besides the CPU; each is tried by name. */
static const char *const device_backends[] = {"cuda"};
#define N_DEVICE (sizeof device_backends / sizeof *device_backends)

typedef struct {
    char label[24];   /* "cpu/avx2", "cuda" */
    const char *name; /* for sbs_backend_create */
    const char *simd; /* CPU SIMD level, NULL otherwise */
    sbs_backend *be;  /* NULL: absent */
    char why[1100];   /* absent: why */
} bk;

static bk g_bk[SBS_TEST_N_SIMD + N_DEVICE];
static int g_nbk;
static const char *g_fcase, *g_fbk, *g_fcheck; /* -k, -b, -c */
static int g_ok, g_fail, g_skip;

/* the default threads of a backend instance in the checks (threads checks 1, 2, 3) */
enum { DEFAULT_THREADS = 2 };

static sbs_backend *make_backend(const bk *b, int threads, sbs_err *e)
{
    sbs_backend_opts o = {.threads = threads, .simd = b->simd};
    return sbs_backend_create(b->name, &o, e);
}

static void report(const char *cs, const char *bname, const char *check, int r, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static void report(const char *cs, const char *bname, const char *check, int r, const char *fmt,
                   ...)
{
    char detail[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    const char *tag = r == RES_OK ? "ok  " : r == RES_FAIL ? "FAIL" : "skip";
    if (r == RES_SKIP)
        printf("%s %-48s %-10s %-8s (%s)\n", tag, cs, bname, check, detail);
    else
        printf("%s %-48s %-10s %-8s %s\n", tag, cs, bname, check, detail);
    fflush(stdout);
    if (r == RES_OK)
        g_ok++;
    else if (r == RES_FAIL)
        g_fail++;
    else
        g_skip++;
}

/* ================================================================== the case table */

typedef struct ctx ctx;
/* A forward reference: ref (B x the layer's output) from the context's input and host
 * parameters. */
typedef void (*fwd_ref_fn)(ctx *c, double *ref);
/* A backward reference from the forward output y (downloaded) and the context's dL/dy:
 * dx (B x input), dW (dense: K x N for SbS-like weights, n_w otherwise), dB (n_b); entries
 * left NaN are not compared. */
typedef void (*bwd_ref_fn)(ctx *c, const float *y, double *dx, double *dW, double *dB);

/* A bad variant of a row's net and the key its plan error must name. */
typedef struct {
    int n;
    sbs_test_layer ls[3];
    int loss_mode;
    const char *key, *what; /* the message must hold both */
} bad_plan;

enum {
    F_DYN = 1,   /* the forward runs the SbS dynamics (SIMD levels differ by rounding) */
    F_LEARN = 2, /* `learn`: training steps must lower the loss */
};

/* input patterns of the layer under test (per image of C x H x W) */
enum {
    FILL_POS,       /* [0, 1), every 5th value 0 (SbS inputs, with zero windows) */
    FILL_BLANK,     /* FILL_POS with image 1 all zeros (spike layers: uniform sampling) */
    FILL_DIST,      /* [0.1, 1): strictly positive (NNMF, RECONSTRUCTION's h) */
    FILL_SIGNED,    /* [-1, 1) */
    FILL_GRID,      /* a permutation of evenly spaced values in [-1, 1]: no two closer than
                       2 / (C H W), none at 0 when C H W is even (finite differences near
                       kinks: ReLU, max pooling) */
    FILL_GRID01,    /* the same in [0, 1], none at 0.5 (ONOFF's kink) */
    FILL_APPROX,    /* [-2, 2) with zeros, denormals and large values */
    FILL_NONFINITE, /* FILL_APPROX with an inf and a NaN */
};

typedef struct {
    const char *name;
    sbs_layer_kind kind; /* the kind under test (layer `at`) */
    int n;
    sbs_test_layer ls[4];
    int at;
    int C, H, W, n_out, T, B;
    int fill;
    fwd_ref_fn fwd;
    double fwd_tol; /* |got - ref| <= tol * max(1, max |ref|); 0: bitwise */
    bwd_ref_fn bwd;
    double bwd_tol; /* |got - ref| <= tol * max |ref| + 1e-6 */
    unsigned flags;
    int loss_mode;      /* `net` and `learn` */
    float lr;           /* `learn`: learning_rate_gamma_w (0: the test config's) */
    size_t store_limit; /* NNMF: force a checkpointed backward with this iterate store */
    bad_plan bad[3];
} tcase;

/* references, defined below */
static void ref_sbs(ctx *, double *), ref_conv(ctx *, double *), ref_relu(ctx *, double *),
    ref_pool(ctx *, double *), ref_onoff(ctx *, double *), ref_poisson(ctx *, double *),
    ref_ispk(ctx *, double *), ref_approx(ctx *, double *), ref_nnmf(ctx *, double *),
    ref_recon(ctx *, double *);
static void bwd_sbs(ctx *, const float *, double *, double *, double *),
    bwd_local(ctx *, const float *, double *, double *, double *),
    bwd_conv(ctx *, const float *, double *, double *, double *),
    bwd_identity(ctx *, const float *, double *, double *, double *),
    bwd_nnmf(ctx *, const float *, double *, double *, double *),
    bwd_fd(ctx *, const float *, double *, double *, double *);

#define L_RELU             \
    {                      \
        .kind = SBS_L_RELU \
    }
#define KEY_WIN "forward_kernel_size"
#define KEY_NN "forward_neuron_numbers"

/* a row gives its fields in order, as far as it needs them, and its bad variants by name */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const tcase cases[] = {
    /* ---- SbS: the oracle with the same spikes; odd geometries; the backward oracle ---- */
    {"SBS 2->12 k3x2 s1x2 d1x2 p1x0 on 7x6",
     SBS_L_SBS,
     3,
     {L_RELU,
      {.kind = SBS_L_SBS, .in = 2, .out = 12, .k = {3, 2}, .s = {1, 2}, .d = {1, 2}, .p = {1, 0}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {7, 2}}},
     1,
     2,
     7,
     6,
     12,
     150,
     3,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN,
     .bad = {{2,
              {L_RELU, {.kind = SBS_L_SBS, .in = 2, .out = 2, .k = {3, 2}}},
              0,
              KEY_NN "[1]",
              "more than 2 neurons"},
             {2,
              {L_RELU, {.kind = SBS_L_SBS, .in = 2, .out = 12, .k = {8, 2}}},
              0,
              KEY_WIN "[1]",
              "larger than the layer's input"},
             {2,
              {L_RELU, {.kind = SBS_L_SBS, .in = 3, .out = 12, .k = {3, 2}}},
              0,
              KEY_NN "[1]",
              "expects 3 input channels"}}},
    {"SBS 4->96 k5x5 on 5x5 (one position), T 400",
     SBS_L_SBS,
     1,
     {{.kind = SBS_L_SBS, .in = 4, .out = 96, .k = {5, 5}}},
     0,
     4,
     5,
     5,
     96,
     400,
     5,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN,
     .bad = {{1,
              {{.kind = SBS_L_SBS, .in = 4, .out = 95, .k = {5, 5}}},
              0,
              "network_structure",
              "number_of_output_neurons"}}},
    {"SBS 2->17 k2x3 s1x2 d2x1 p2x1, forgetting 0.5",
     SBS_L_SBS,
     3,
     {L_RELU,
      {.kind = SBS_L_SBS,
       .in = 2,
       .out = 17,
       .k = {2, 3},
       .s = {1, 2},
       .d = {2, 1},
       .p = {2, 1},
       .fo = 0.5f},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {8, 6}}},
     1,
     2,
     6,
     11,
     17,
     99,
     2,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN},
    {"SBS 5->3 k1x1 on 1x1, cooldown after 20, B 9",
     SBS_L_SBS,
     1,
     {{.kind = SBS_L_SBS, .in = 5, .out = 3, .cool = 20}},
     0,
     5,
     1,
     1,
     3,
     64,
     9,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN},
    {"SBS full-layer 1->12 k3x3 p1 on 8x8",
     SBS_L_SBS,
     3,
     {L_RELU,
      {.kind = SBS_L_SBS, .in = 1, .out = 12, .k = {3, 3}, .p = {1, 1}, .full = true},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {8, 8}}},
     1,
     1,
     8,
     8,
     12,
     200,
     3,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN},
    {"SBS full-layer 2->17 k3x2 s2x1 d1x2 p1x0 cool 40",
     SBS_L_SBS,
     2,
     {{.kind = SBS_L_SBS,
       .in = 2,
       .out = 17,
       .k = {3, 2},
       .s = {2, 1},
       .d = {1, 2},
       .p = {1, 0},
       .full = true,
       .cool = 40},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 5}}},
     0,
     2,
     9,
     7,
     17,
     150,
     3,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN},
    {"SBS full-layer 3->3 k2x3 s1x2 d2x1 p2x1 fo 0.5",
     SBS_L_SBS,
     2,
     {{.kind = SBS_L_SBS,
       .in = 3,
       .out = 3,
       .k = {2, 3},
       .s = {1, 2},
       .d = {2, 1},
       .p = {2, 1},
       .full = true,
       .fo = 0.5f},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {8, 6}}},
     0,
     3,
     6,
     11,
     3,
     99,
     3,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN},
    {"SBS full-layer 1->16 k4x4 s3 p2 (unused pixels)",
     SBS_L_SBS,
     2,
     {{.kind = SBS_L_SBS, .in = 1, .out = 16, .k = {4, 4}, .s = {3, 3}, .p = {2, 2}, .full = true},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {4, 4}}},
     0,
     1,
     10,
     10,
     16,
     300,
     2,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN},
    {"SbS POOLING 4ch k2x2 s2 on 6x6",
     SBS_L_SBS_POOLING,
     3,
     {L_RELU,
      {.kind = SBS_L_SBS_POOLING, .in = 4, .out = 4, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {3, 3}}},
     1,
     4,
     6,
     6,
     4,
     100,
     3,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_sbs,
     1e-4,
     F_DYN,
     .bad = {{1,
              {{.kind = SBS_L_SBS_POOLING, .in = 4, .out = 5, .k = {2, 2}}},
              0,
              KEY_NN "[0]",
              "as many neurons as input channels"}}},
    /* ---- SbS LOCAL: the local rules (hidden: h, output: one-hot label) ---- */
    {"SbS LOCAL hidden 2->9 k3x3 p1 under LOCAL",
     SBS_L_SBS_LOCAL,
     3,
     {{.kind = SBS_L_SBS_LOCAL, .in = 2, .out = 9, .k = {3, 3}, .p = {1, 1}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_SBS_LOCAL, .in = 9, .out = 10, .k = {3, 3}}},
     0,
     2,
     6,
     6,
     10,
     80,
     4,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_local,
     1e-4,
     F_DYN,
     .bad = {{1,
              {{.kind = SBS_L_SBS_LOCAL, .in = 2, .k = {3, 3}}},
              0,
              KEY_NN "[0]",
              "needs [in, out]"}}},
    {"SbS LOCAL output 6->10 k4x4 over SbS (passes dx)",
     SBS_L_SBS_LOCAL,
     2,
     {{.kind = SBS_L_SBS, .in = 1, .out = 6, .k = {3, 3}},
      {.kind = SBS_L_SBS_LOCAL, .in = 6, .out = 10, .k = {4, 4}}},
     1,
     1,
     6,
     6,
     10,
     64,
     3,
     FILL_POS,
     ref_sbs,
     2e-5,
     bwd_local,
     1e-4,
     F_DYN},
    /* ---- RECONSTRUCTION: loops, finite differences, its own loss ---- */
    {"RECONSTRUCTION of SBS 2->6 k3x2 s2x1 d1x2 p1x0",
     SBS_L_RECONSTRUCTION,
     2,
     {{.kind = SBS_L_SBS, .in = 2, .out = 6, .k = {3, 2}, .s = {2, 1}, .d = {1, 2}, .p = {1, 0}},
      {.kind = SBS_L_RECONSTRUCTION, .in = 6, .out = 12}},
     1,
     2,
     7,
     6,
     10,
     60,
     2,
     FILL_DIST,
     ref_recon,
     1e-6,
     bwd_fd,
     2e-2,
     0,
     .bad = {{1, {{.kind = SBS_L_RECONSTRUCTION}}, 0, "layer_type[0]", "must follow an SbS"},
             {2,
              {{.kind = SBS_L_SBS, .in = 2, .out = 4, .k = {3, 3}},
               {.kind = SBS_L_RECONSTRUCTION, .in = 4, .out = 5}},
              0,
              KEY_NN "[1]",
              "[4, 18]"},
             {2,
              {{.kind = SBS_L_SBS, .in = 2, .out = 4, .k = {3, 3}},
               {.kind = SBS_L_RECONSTRUCTION, .in = 4, .out = 18}},
              1,
              "loss_mode",
              "mixed loss"}}},
    {"RECONSTRUCTION of SBS 1->8 k3x3, training",
     SBS_L_RECONSTRUCTION,
     2,
     {{.kind = SBS_L_SBS, .in = 1, .out = 8, .k = {3, 3}},
      {.kind = SBS_L_RECONSTRUCTION, .in = 8, .out = 9}},
     1,
     1,
     8,
     8,
     10,
     400,
     8,
     FILL_DIST,
     ref_recon,
     1e-6,
     bwd_fd,
     2e-2,
     F_LEARN,
     0,
     0.05f,
     .bad = {{2,
              {{.kind = SBS_L_CONV2D, .in = 1, .out = 4, .k = {3, 3}},
               {.kind = SBS_L_RECONSTRUCTION}},
              0,
              "layer_type[1]",
              "SbS"}}},
    /* ---- ONOFF ---- */
    {"ONOFF 3ch 4x4 into CONV2D",
     SBS_L_ONOFF,
     2,
     {{.kind = SBS_L_ONOFF, .in = 3, .out = 6},
      {.kind = SBS_L_CONV2D, .in = 6, .out = 5, .k = {4, 4}}},
     0,
     3,
     4,
     4,
     5,
     1,
     2,
     FILL_GRID01,
     ref_onoff,
     0,
     bwd_fd,
     2e-3,
     0,
     1,
     .bad = {{1, {{.kind = SBS_L_ONOFF, .in = 3, .out = 3}}, 0, KEY_NN "[0]", "[3, 6]"}}},
    /* ---- classic layers: naive loops, exact gradients, finite differences ---- */
    {"CONV2D 3->5 k3x2 s2x1 d1x2 p1x1 on 9x8",
     SBS_L_CONV2D,
     3,
     {L_RELU,
      {.kind = SBS_L_CONV2D, .in = 3, .out = 5, .k = {3, 2}, .s = {2, 1}, .d = {1, 2}, .p = {1, 1}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 8}}},
     1,
     3,
     9,
     8,
     5,
     1,
     3,
     FILL_SIGNED,
     ref_conv,
     1e-5,
     bwd_conv,
     1e-5,
     0,
     1,
     .bad =
         {{1, {{.kind = SBS_L_CONV2D, .in = 3, .k = {3, 3}}}, 0, KEY_NN "[0]", "needs [in, out]"}}},
    {"CONV2D net: conv-relu-maxpool-avgpool-conv",
     SBS_L_CONV2D,
     4,
     {{.kind = SBS_L_CONV2D, .in = 2, .out = 4, .k = {3, 3}, .p = {1, 1}},
      L_RELU,
      {.kind = SBS_L_MAX_POOLING, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_CONV2D, .in = 4, .out = 5, .k = {3, 3}}},
     0,
     2,
     6,
     6,
     5,
     1,
     2,
     FILL_SIGNED,
     ref_conv,
     1e-5,
     bwd_conv,
     1e-5,
     0,
     1},
    {"RELU 2ch 5x4",
     SBS_L_RELU,
     3,
     {{.kind = SBS_L_CONV2D, .in = 2, .out = 2, .k = {1, 1}},
      L_RELU,
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 4}}},
     1,
     2,
     5,
     4,
     2,
     1,
     3,
     FILL_GRID,
     ref_relu,
     0,
     bwd_fd,
     2e-3,
     0,
     1,
     .bad =
         {{1, {{.kind = SBS_L_RELU, .in = 2, .out = 3}}, 0, KEY_NN "[0]", "keeps the channels"}}},
    {"MAX POOLING k2x2 s2 p1 3ch 9x8",
     SBS_L_MAX_POOLING,
     3,
     {{.kind = SBS_L_CONV2D, .in = 3, .out = 3, .k = {1, 1}},
      {.kind = SBS_L_MAX_POOLING, .k = {2, 2}, .s = {2, 2}, .p = {1, 1}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 5}}},
     1,
     3,
     9,
     8,
     3,
     1,
     2,
     FILL_GRID,
     ref_pool,
     0,
     bwd_fd,
     2e-3,
     0,
     1,
     .bad = {{1,
              {{.kind = SBS_L_MAX_POOLING, .k = {10, 2}}},
              0,
              KEY_WIN "[0]",
              "larger than the layer's input"}}},
    {"AVERAGE POOLING k3x2 s1x2 d2x1 p1x0 2ch 7x6",
     SBS_L_AVERAGE_POOLING,
     3,
     {{.kind = SBS_L_CONV2D, .in = 2, .out = 2, .k = {1, 1}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {3, 2}, .s = {1, 2}, .d = {2, 1}, .p = {1, 0}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 3}}},
     1,
     2,
     7,
     6,
     2,
     1,
     3,
     FILL_GRID,
     ref_pool,
     1e-6,
     bwd_fd,
     2e-3,
     0,
     1,
     .bad = {{1,
              {{.kind = SBS_L_AVERAGE_POOLING, .in = 2, .out = 4}},
              0,
              KEY_NN "[0]",
              "keeps the channels"}}},
    /* ---- APPROX CONV2D: bitwise the naive sbs_approx_mul loop; straight-through gradient ---- */
    {"APPROX CONV2D frac 4 trunc 3",
     SBS_L_APPROX_CONV2D,
     2,
     {{.kind = SBS_L_APPROX_CONV2D,
       .in = 3,
       .out = 5,
       .k = {3, 2},
       .s = {2, 1},
       .d = {1, 2},
       .p = {1, 1},
       .frac = 4,
       .trunc = 3,
       .approx = true},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {4, 6}}},
     0,
     3,
     7,
     6,
     5,
     1,
     3,
     FILL_APPROX,
     ref_approx,
     0,
     bwd_conv,
     1e-5,
     0,
     .bad = {{1,
              {{.kind = SBS_L_APPROX_CONV2D, .in = 3, .out = 5, .k = {3, 7}}},
              0,
              KEY_WIN "[0]",
              "larger than the layer's input"}}},
    {"APPROX CONV2D frac 12 trunc 8 / frac 1",
     SBS_L_APPROX_CONV2D,
     3,
     {{.kind = SBS_L_APPROX_CONV2D,
       .in = 3,
       .out = 4,
       .k = {2, 2},
       .frac = 12,
       .trunc = 8,
       .approx = true},
      {.kind = SBS_L_APPROX_CONV2D, .in = 4, .out = 3, .k = {2, 2}, .frac = 1, .approx = true},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 4}}},
     0,
     3,
     7,
     6,
     3,
     1,
     2,
     FILL_APPROX,
     ref_approx,
     0,
     bwd_conv,
     1e-5,
     0},
    {"APPROX CONV2D frac 23 trunc 20, inf/NaN input",
     SBS_L_APPROX_CONV2D,
     2,
     {{.kind = SBS_L_APPROX_CONV2D,
       .in = 3,
       .out = 5,
       .k = {3, 3},
       .frac = 23,
       .trunc = 20,
       .approx = true},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 4}}},
     0,
     3,
     7,
     6,
     5,
     1,
     2,
     FILL_NONFINITE,
     ref_approx,
     0,
     NULL,
     0,
     0},
    {"APPROX CONV2D exact: frac 30 trunc 1, disabled",
     SBS_L_APPROX_CONV2D,
     3,
     {{.kind = SBS_L_APPROX_CONV2D,
       .in = 3,
       .out = 5,
       .k = {3, 2},
       .p = {1, 1},
       .frac = 30,
       .trunc = 1,
       .approx = true},
      {.kind = SBS_L_APPROX_CONV2D, .in = 5, .out = 4, .k = {2, 2}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {6, 6}}},
     0,
     3,
     7,
     6,
     4,
     1,
     3,
     FILL_APPROX,
     ref_approx,
     1e-5,
     bwd_conv,
     1e-5,
     0,
     1},
    /* ---- spike images: exact re-draw; identity (straight-through) gradient ---- */
    {"INPUT SPIKE IMAGE 2ch 4x5 T 300",
     SBS_L_INPUT_SPIKE_IMAGE,
     2,
     {{.kind = SBS_L_INPUT_SPIKE_IMAGE}, {.kind = SBS_L_AVERAGE_POOLING, .k = {4, 5}}},
     0,
     2,
     4,
     5,
     2,
     300,
     4,
     FILL_BLANK,
     ref_ispk,
     0,
     bwd_identity,
     0,
     0,
     .bad = {{1,
              {{.kind = SBS_L_INPUT_SPIKE_IMAGE, .spikes = -3}},
              0,
              "number_of_spikes[0]",
              "at least 1 spike"}}},
    {"POISSON 3ch 5x4 T 300",
     SBS_L_POISSON,
     2,
     {{.kind = SBS_L_POISSON}, {.kind = SBS_L_AVERAGE_POOLING, .k = {5, 4}}},
     0,
     3,
     5,
     4,
     3,
     300,
     4,
     FILL_BLANK,
     ref_poisson,
     0,
     bwd_identity,
     0,
     0,
     .bad = {{1, {{.kind = SBS_L_POISSON, .out = 4}}, 0, KEY_NN "[0]", "keeps the channels"},
             {1,
              {{.kind = SBS_L_POISSON, .spikes = -3}},
              0,
              "number_of_spikes[0]",
              "at least 1 spike"}}},
    /* ---- NNMF: the oracle in double (every update rule), finite differences ---- */
    {"NNMF 2->12 k3x2 s1x2 d1x2 p1x0, T 9, eps 1",
     SBS_L_NNMF,
     3,
     {L_RELU,
      {.kind = SBS_L_NNMF, .in = 2, .out = 12, .k = {3, 2}, .s = {1, 2}, .d = {1, 2}, .p = {1, 0}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {7, 2}}},
     1,
     2,
     7,
     6,
     12,
     9,
     3,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_nnmf,
     1e-3,
     0,
     .bad = {{1,
              {{.kind = SBS_L_NNMF, .in = 2, .out = 2, .k = {3, 2}}},
              0,
              KEY_NN "[0]",
              "more than 2 neurons"},
             {1,
              {{.kind = SBS_L_NNMF, .in = 2, .out = 12, .spikes = -1}},
              0,
              "number_of_spikes[0]",
              "at least 1 iteration"}}},
    {"NNMF 3->17 k2x2 s2, T 25, eps 0.3",
     SBS_L_NNMF,
     3,
     {L_RELU,
      {.kind = SBS_L_NNMF,
       .in = 3,
       .out = 17,
       .k = {2, 2},
       .s = {2, 2},
       .set_eps = true,
       .eps = 0.3f},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {3, 3}}},
     1,
     3,
     6,
     6,
     17,
     25,
     3,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_nnmf,
     1e-3,
     0},
    {"NNMF 2->4 k1x1, T 12, eps 0 (h <- u)",
     SBS_L_NNMF,
     3,
     {L_RELU,
      {.kind = SBS_L_NNMF, .in = 2, .out = 4, .set_eps = true, .eps = 0.0f},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {3, 4}}},
     1,
     2,
     3,
     4,
     4,
     12,
     3,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_nnmf,
     1e-3,
     0},
    {"NNMF 4->3 k3x3 p2 d2, T 6, eps -1 (h <- u)",
     SBS_L_NNMF,
     3,
     {L_RELU,
      {.kind = SBS_L_NNMF,
       .in = 4,
       .out = 3,
       .k = {3, 3},
       .p = {2, 2},
       .d = {2, 2},
       .set_eps = true,
       .eps = -1.0f},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {4, 4}}},
     1,
     4,
     4,
     4,
     3,
     6,
     3,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_nnmf,
     1e-3,
     0},
    {"NNMF 2->12 T 9, checkpointed backward (2500)",
     SBS_L_NNMF,
     3,
     {L_RELU,
      {.kind = SBS_L_NNMF, .in = 2, .out = 12, .k = {3, 2}, .s = {1, 2}, .d = {1, 2}, .p = {1, 0}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {7, 2}}},
     1,
     2,
     7,
     6,
     12,
     9,
     3,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_nnmf,
     1e-3,
     0,
     0,
     0,
     2500},
    {"NNMF net: relu-NNMF 3x3 p1-avgpool-NNMF 2x2",
     SBS_L_NNMF,
     4,
     {L_RELU,
      {.kind = SBS_L_NNMF, .in = 2, .out = 6, .k = {3, 3}, .p = {1, 1}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_NNMF, .in = 6, .out = 5, .k = {2, 2}}},
     1,
     2,
     4,
     4,
     5,
     8,
     2,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_nnmf,
     1e-3,
     0,
     0},
    {"BP SBS NNMF 2->12 k3x2 (NNMF fwd, SbS bwd)",
     SBS_L_BP_SBS_NNMF,
     3,
     {L_RELU,
      {.kind = SBS_L_BP_SBS_NNMF,
       .in = 2,
       .out = 12,
       .k = {3, 2},
       .s = {1, 2},
       .d = {1, 2},
       .p = {1, 0}},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {7, 2}}},
     1,
     2,
     7,
     6,
     12,
     9,
     3,
     FILL_DIST,
     ref_nnmf,
     2e-5,
     bwd_sbs,
     1e-4,
     0,
     .bad = {{1,
              {{.kind = SBS_L_BP_SBS_NNMF, .in = 2, .k = {3, 2}}},
              0,
              KEY_NN "[0]",
              "needs [in, out]"}}},
};
#pragma GCC diagnostic pop
#define N_CASES (int)(sizeof cases / sizeof *cases)

/* ================================================================== a case on a backend */

struct ctx {
    const tcase *tc;
    int ci; /* the row */
    sbs_backend *be;
    sbs_config cfg;
    sbs_net net;
    sbs_test_bound t;
    bool planned, bound;
    int at, B;
    const sbs_layer *L; /* the layer under test (host plan) */
    const sbs_layer *P; /* the layer whose parameters it reads */
    sbs_spike_key key;
    size_t nin, nout, nref; /* floats (B images) of its input, output, RECONSTRUCTION's
                                 SbS input */
    float *x, *gy, *refx;   /* host: its input, dL/dy, the SbS layer's input */
    size_t nimg, ngout;
    float *img, *gout;  /* host: the net's input images and dL/d(output) */
    uint8_t labels[16]; /* B <= 16 (main checks the rows) */
};

static void fill_input(int how, float *x, size_t per, int B, uint32_t seed)
{
    sbs_stream st;
    sbs_stream_init(&st, 2024, SBS_RNG_INIT, seed, 7);
    size_t n = per * (size_t)B;
    switch (how) {
    case FILL_POS:
    case FILL_BLANK:
        sbs_test_fill_from(&st, x, n, 0.0f, 1.0f);
        for (size_t i = 0; i < n; i += 5) x[i] = 0.0f;
        if (how == FILL_BLANK && B > 1) memset(x + per, 0, per * sizeof *x);
        break;
    case FILL_DIST: sbs_test_fill_from(&st, x, n, 0.1f, 1.0f); break;
    case FILL_SIGNED: sbs_test_fill_from(&st, x, n, -1.0f, 1.0f); break;
    case FILL_GRID:
    case FILL_GRID01:
        for (int b = 0; b < B; b++) {
            float *v = x + (size_t)b * per;
            for (size_t i = 0; i < per; i++) {
                double u = ((double)i + 0.5) / (double)per; /* never 0.5: per is even */
                v[i] = (float)(how == FILL_GRID ? 2.0 * u - 1.0 : u);
            }
            for (size_t i = per - 1; i > 0; i--) {
                size_t j = sbs_stream_below(&st, (uint32_t)(i + 1));
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
        }
        break;
    default: /* FILL_APPROX, FILL_NONFINITE */
        sbs_test_fill_from(&st, x, n, -2.0f, 2.0f);
        for (size_t i = 0; i < n; i += 7) x[i] = 0.0f;
        for (size_t i = 3; i < n; i += 11) x[i] *= 1e-40f; /* denormal */
        for (size_t i = 5; i < n; i += 13) x[i] = -x[i] * 1e6f;
        if (how == FILL_NONFINITE) {
            x[n / 3] = INFINITY;
            x[n - 5] = NAN;
        }
        break;
    }
}

static void ctx_close(ctx *c)
{
    if (c->bound) sbs_test_unbind(&c->t);
    if (c->planned) sbs_net_free(&c->net);
    free(c->x);
    free(c->gy);
    free(c->refx);
    free(c->img);
    free(c->gout);
    free(c);
}

/* Plan row ci's net (weights keyed by seed), bind it to be for batches of its B images and
 * make the host data. NULL with *r and why set when that fails (RES_SKIP: the backend lacks a
 * kind of the net). */
static ctx *ctx_open(int ci, sbs_backend *be, uint64_t seed, int *r, char *why, size_t why_n)
{
    const tcase *tc = &cases[ci];
    ctx *c = xcalloc(1, sizeof *c);
    c->tc = tc;
    c->ci = ci;
    c->be = be;
    c->at = tc->at;
    c->B = tc->B;
    sbs_test_config(&c->cfg, tc->ls, tc->n, tc->n_out, tc->T);
    c->cfg.learn.loss_mode = tc->loss_mode;
    if (tc->lr > 0) c->cfg.learn.learning_rate_gamma_w = tc->lr;
    sbs_err e;
    if (sbs_test_plan(&c->cfg, &c->net, tc->C, tc->H, tc->W, seed, &e) != 0) {
        *r = RES_FAIL;
        snprintf(why, why_n, "the row's net does not plan: %s", e.msg);
        ctx_close(c);
        return NULL;
    }
    c->planned = true;
    c->L = &c->net.L[c->at];
    c->P = c->L->ref_layer >= 0 ? &c->net.L[c->L->ref_layer] : c->L;
    if (tc->store_limit) {
        sbs_layer *L = &c->net.L[c->at];
        L->bwd_scr =
            sbs_nnmf_bwd_scratch(L->g.K, L->N, L->X * L->Y, L->cfg->spikes, tc->store_limit);
    }
    int status = sbs_test_bind(&c->t, &c->net, be, c->B, &e);
    if (status != 0) {
        *r = status == SBS_EXIT_USAGE ? RES_SKIP : RES_FAIL;
        snprintf(why, why_n, "%s", e.msg);
        ctx_close(c);
        return NULL;
    }
    c->bound = true;
    c->key = (sbs_spike_key){.seed = 99, .pass = 3, .first_sample = 40};
    c->nin = (size_t)c->B * sbs_act_floats(&c->net, c->at);
    c->nout = (size_t)c->B * sbs_act_floats(&c->net, c->at + 1);
    c->x = xaligned(c->nin * sizeof(float));
    fill_input(tc->fill, c->x, c->nin / (size_t)c->B, c->B, (uint32_t)ci);
    c->gy = xaligned(c->nout * sizeof(float));
    sbs_test_fill_key(c->gy, c->nout, 31, (uint32_t)ci, 1, -1.0f, 1.0f);
    if (c->L->ref_layer >= 0) {
        const sbs_layer *S = c->P;
        size_t per = (size_t)S->C * S->H * S->W;
        c->nref = (size_t)c->B * per;
        c->refx = xaligned(c->nref * sizeof(float));
        fill_input(FILL_POS, c->refx, per, c->B, (uint32_t)ci + 100);
        /* image 0's first two rows dark: windows summing to 0 (target uniform) */
        for (int ch = 0; ch < S->C; ch++)
            memset(c->refx + (size_t)ch * S->H * S->W, 0, 2 * (size_t)S->W * sizeof(float));
    }
    c->nimg = (size_t)c->B * sbs_act_floats(&c->net, 0);
    c->img = xaligned(c->nimg * sizeof(float));
    fill_input(tc->fill == FILL_SIGNED || tc->fill == FILL_APPROX ? FILL_SIGNED : FILL_DIST, c->img,
               c->nimg / (size_t)c->B, c->B, (uint32_t)ci + 200);
    c->ngout = (size_t)c->B * sbs_act_floats(&c->net, c->net.n);
    c->gout = xaligned(c->ngout * sizeof(float));
    sbs_test_fill_key(c->gout, c->ngout, 32, (uint32_t)ci, 2, -1.0f, 1.0f);
    for (int b = 0; b < c->B; b++) c->labels[b] = (uint8_t)((b * 7 + ci) % c->net.n_out);
    *r = RES_OK;
    return c;
}

/* ---- the layer under test, called directly on the exec's buffers ---- */

static void layer_inputs(ctx *c)
{
    c->be->upload(c->be, c->t.x.act[c->at], c->x, c->nin * sizeof(float));
    if (c->refx)
        c->be->upload(c->be, c->t.x.act[c->L->ref_layer], c->refx, c->nref * sizeof(float));
}

static void layer_forward(ctx *c)
{
    sbs_op_args a = sbs_test_op_args(&c->t, c->at, c->B, false);
    a.key = &c->key;
    c->t.x.k[c->at]->forward(c->be, &a);
}

/* upload the inputs, forward; the output downloaded (caller frees) */
static float *layer_run(ctx *c)
{
    layer_inputs(c);
    layer_forward(c);
    return sbs_test_download(c->be, c->t.x.act[c->at + 1], c->nout);
}

/* sum dL/dy . y of the forward on what the backend holds now */
static double fwd_dot(ctx *c)
{
    layer_forward(c);
    float *y = sbs_test_download(c->be, c->t.x.act[c->at + 1], c->nout);
    double s = 0;
    for (size_t i = 0; i < c->nout; i++) s += (double)c->gy[i] * y[i];
    free(y);
    return s;
}

/* The backward kernel after layer_run: dL/dx into gx (nin), the weight and bias gradients
 * (the layer's own, when it has weights) into gw / gb; returns the contributions. */
static long layer_backward(ctx *c, float *gx, float *gw, float *gb)
{
    sbs_exec *x = &c->t.x;
    const sbs_layer *L = c->L;
    c->be->upload(c->be, x->gact[c->at + 1], c->gy, c->nout * sizeof(float));
    c->be->zero(c->be, x->chunk, c->net.n_params * sizeof(float));
    sbs_op_args a = sbs_test_op_args(&c->t, c->at, c->B, true);
    a.labels = c->labels;
    long contrib = x->k[c->at]->backward(c->be, &a);
    c->be->download(c->be, gx, x->gact[c->at], c->nin * sizeof(float));
    if (L->weight) c->be->download(c->be, gw, x->chunk + L->w_off, sbs_weight_floats(L) * 4);
    if (L->bias) c->be->download(c->be, gb, x->chunk + L->b_off, L->n_b * sizeof(float));
    return contrib;
}

/* ================================================================== references */

static void to_double(const float *f, double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

static void ref_sbs(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    sbs_layer_args a = sbs_layer_args_of(L, L->weight);
    float *h = xmalloc(c->nout * sizeof *h);
    sbs_ref_forward(&a, c->x, c->B, &c->key, h);
    to_double(h, ref, c->nout);
    free(h);
}

/* the input pixel of window entry (c, u, v) at output (ox, oy), or -1 in the padding */
static long pixel_at(const sbs_geom *g, int ch, int u, int v, int ox, int oy)
{
    int r = ox * g->sx - g->px + u * g->dx, q = oy * g->sy - g->py + v * g->dy;
    if (r < 0 || r >= g->H || q < 0 || q >= g->W) return -1;
    return ((long)ch * g->H + r) * g->W + q;
}

static void ref_conv(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    const sbs_geom *g = &L->g;
    size_t in = (size_t)g->C * g->H * g->W;
    for (int b = 0; b < c->B; b++)
        for (int o = 0; o < L->N; o++)
            for (int ox = 0; ox < g->X; ox++)
                for (int oy = 0; oy < g->Y; oy++) {
                    double s = L->bias[o];
                    for (int ch = 0, i = 0; ch < g->C; ch++)
                        for (int u = 0; u < g->kx; u++)
                            for (int v = 0; v < g->ky; v++, i++) {
                                long p = pixel_at(g, ch, u, v, ox, oy);
                                if (p >= 0)
                                    s += (double)L->weight[(size_t)o * g->K + i] *
                                         c->x[(size_t)b * in + p];
                            }
                    ref[(((size_t)b * L->N + o) * g->X + ox) * g->Y + oy] = s;
                }
}

static void ref_relu(ctx *c, double *ref)
{
    for (size_t i = 0; i < c->nout; i++) ref[i] = c->x[i] > 0.0f ? c->x[i] : 0.0;
}

static void ref_pool(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    const sbs_geom *g = &L->g;
    bool mx = L->kind == SBS_L_MAX_POOLING;
    size_t in = (size_t)g->C * g->H * g->W;
    for (int b = 0; b < c->B; b++)
        for (int ch = 0; ch < g->C; ch++)
            for (int ox = 0; ox < g->X; ox++)
                for (int oy = 0; oy < g->Y; oy++) {
                    double acc = mx ? -INFINITY : 0.0;
                    for (int u = 0; u < g->kx; u++)
                        for (int v = 0; v < g->ky; v++) {
                            long p = pixel_at(g, ch, u, v, ox, oy);
                            if (p < 0) continue; /* padding: not a max, 0 in the average */
                            double val = c->x[(size_t)b * in + p];
                            acc = mx ? fmax(acc, val) : acc + val;
                        }
                    ref[(((size_t)b * g->C + ch) * g->X + ox) * g->Y + oy] =
                        mx ? acc : acc / (g->kx * g->ky);
                }
}

static void ref_onoff(ctx *c, double *ref)
{
    size_t n = c->nin / (size_t)c->B;
    for (int b = 0; b < c->B; b++)
        for (size_t i = 0; i < n; i++) {
            double v = c->x[(size_t)b * n + i];
            ref[(size_t)b * 2 * n + i] = fmax(v - 0.5, 0.0);
            ref[(size_t)b * 2 * n + n + i] = fmax(0.5 - v, 0.0);
        }
}

/* POISSON (SPEC §1.5): per pixel a Poisson count with rate spikes * x / max x, a pure
 * function of (seed, pass, layer, sample, pixel) (sbs_poisson_draw), normalised to sum 1 */
static void ref_poisson(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    size_t n = c->nin / (size_t)c->B;
    uint32_t tag = ((uint32_t)SBS_RNG_POISSON << 24) | ((uint32_t)(L->index & 0xff) << 16) |
                   (c->key.pass & 0xffffu);
    uint32_t *k = xmalloc(n * sizeof *k);
    for (int b = 0; b < c->B; b++) {
        const float *x = c->x + (size_t)b * n;
        float mx = 0.0f;
        for (size_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        double scale = (double)L->cfg->spikes / ((double)mx + 1e-20), sum = 0;
        for (size_t i = 0; i < n; i++) {
            k[i] = sbs_poisson_draw(x[i] > 0.0f ? scale * x[i] : 0.0, c->key.seed, tag,
                                    c->key.first_sample + (uint32_t)b, (uint32_t)i);
            sum += k[i];
        }
        float inv = (float)(1.0 / (sum + 1e-20));
        for (size_t i = 0; i < n; i++) ref[(size_t)b * n + i] = (float)k[i] * inv;
    }
    free(k);
}

/* INPUT SPIKE IMAGE: the histogram of T spikes drawn from the image (alias table, the SbS
 * spike stream of the layer at position 0), scaled by C H W / T */
static void ref_ispk(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    int n = (int)(c->nin / (size_t)c->B), T = L->cfg->spikes;
    uint32_t *thr = xmalloc((size_t)n * 4), *al = xmalloc((size_t)n * 4);
    double *scr = xmalloc(3 * (size_t)n * sizeof *scr);
    int32_t *idx = xmalloc((size_t)T * 4);
    float *y = xmalloc((size_t)n * sizeof *y);
    for (int b = 0; b < c->B; b++) {
        sbs_alias_build(c->x + (size_t)b * n, n, thr, al, scr);
        sbs_spikes_draw(thr, al, n, c->key.seed, sbs_spike_tag(L->index, c->key.pass),
                        c->key.first_sample + (uint32_t)b, 0, T, idx);
        memset(y, 0, (size_t)n * sizeof *y);
        for (int t = 0; t < T; t++) y[idx[t]] += 1.0f;
        float sc = (float)((double)n / T);
        for (int i = 0; i < n; i++) ref[(size_t)b * n + i] = y[i] * sc;
    }
    free(thr);
    free(al);
    free(scr);
    free(idx);
    free(y);
}

/* y[o, m] = sum_i sbs_approx_mul(w[o, i], col[m, i]) in float, in order from +0, + bias */
static void ref_approx(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    const sbs_geom *g = &L->g;
    sbs_approx_cfg ac =
        sbs_approx_cfg_make(L->cfg->approximation_enable, L->cfg->number_of_trunc_bits,
                            L->cfg->number_of_frac_bits);
    int M = g->X * g->Y, K = g->K;
    size_t in = (size_t)g->C * g->H * g->W;
    float *col = xmalloc((size_t)K * sizeof *col);
    for (int b = 0; b < c->B; b++)
        for (int m = 0; m < M; m++) {
            sbs_patch_gather(g, c->x + (size_t)b * in, m / g->Y, m % g->Y, col);
            for (int o = 0; o < L->N; o++) {
                float s = 0.0f;
                for (int i = 0; i < K; i++)
                    s += sbs_approx_mul(L->weight[(size_t)o * K + i], col[i], &ac);
                ref[((size_t)b * L->N + o) * M + m] = s + L->bias[o];
            }
        }
    free(col);
}

/* ---- NNMF's oracle: one image, plain loops in double from SPEC §1.5, element by element.
 * idx[m*K + i] is the input pixel of window entry i at position m (-1: padding), built from
 * the SPEC's order independently of the library's gather. ---- */

typedef struct {
    int K, M, N, T;
    double eps;
    long *idx;
} ogeom;

static void ogeom_init(ogeom *o, const sbs_geom *g, int N, int T, double eps)
{
    o->K = g->K;
    o->M = g->X * g->Y;
    o->N = N;
    o->T = T;
    o->eps = eps;
    o->idx = xmalloc((size_t)o->M * o->K * sizeof *o->idx);
    for (int ox = 0; ox < g->X; ox++)
        for (int oy = 0; oy < g->Y; oy++)
            for (int ch = 0, i = 0; ch < g->C; ch++)
                for (int u = 0; u < g->kx; u++)
                    for (int v = 0; v < g->ky; v++, i++)
                        o->idx[(size_t)(ox * g->Y + oy) * o->K + i] = pixel_at(g, ch, u, v, ox, oy);
}

/* one step's unnormalised update from h (N): R_i = sum_n h_n W[i, n],
 * u_n = sum_i p_i h_n W[i, n] / (R_i + 1e-20), v = h + eps u (eps > 0) or u; returns sum v */
static double oracle_step(const ogeom *o, const double *W, const double *p, const double *h,
                          double *R, double *v)
{
    int K = o->K, N = o->N;
    for (int i = 0; i < K; i++) {
        R[i] = 0;
        for (int n = 0; n < N; n++) R[i] += h[n] * W[(size_t)i * N + n];
    }
    double sv = 0;
    for (int n = 0; n < N; n++) {
        double u = 0;
        for (int i = 0; i < K; i++) u += p[i] * h[n] * W[(size_t)i * N + n] / (R[i] + 1e-20);
        v[n] = o->eps > 0 ? h[n] + o->eps * u : u;
        sv += v[n];
    }
    return sv;
}

/* one position: p (K) from the window, the iterates hs ((T+1) x N) */
static void oracle_pos(const ogeom *o, const double *W, const double *x, int m, double *p,
                       double *sum_x, double *hs)
{
    int K = o->K, N = o->N;
    double s = 0;
    for (int i = 0; i < K; i++) {
        long at = o->idx[(size_t)m * K + i];
        p[i] = at >= 0 ? x[at] : 0.0;
        s += p[i];
    }
    *sum_x = s;
    for (int i = 0; i < K; i++) p[i] /= s + 1e-20;
    for (int n = 0; n < N; n++) hs[n] = 1.0 / N;
    double *R = xmalloc((size_t)K * sizeof *R), *v = xmalloc((size_t)N * sizeof *v);
    for (int t = 0; t < o->T; t++) {
        double sv = oracle_step(o, W, p, hs + (size_t)t * N, R, v);
        for (int n = 0; n < N; n++) hs[(size_t)(t + 1) * N + n] = v[n] / (sv + 1e-20);
    }
    free(R);
    free(v);
}

/* forward of one image x (C,H,W) -> h (N x M) */
static void oracle_forward(const ogeom *o, const double *W, const double *x, double *h)
{
    double *p = xmalloc((size_t)o->K * sizeof *p);
    double *hs = xmalloc((size_t)(o->T + 1) * o->N * sizeof *hs);
    for (int m = 0; m < o->M; m++) {
        double sx;
        oracle_pos(o, W, x, m, p, &sx, hs);
        for (int n = 0; n < o->N; n++) h[(size_t)n * o->M + m] = hs[(size_t)o->T * o->N + n];
    }
    free(p);
    free(hs);
}

/* reverse mode through the same loops: gh (N x M) = dL/dh; adds dL/dx into dx (C,H,W) and
 * dL/dW into dW (K x N) */
static void oracle_backward(const ogeom *o, const double *W, const double *x, const double *gh,
                            double *dx, double *dW)
{
    int K = o->K, N = o->N;
    double *p = xmalloc((size_t)K * sizeof *p), *hs = xmalloc((size_t)(o->T + 1) * N * sizeof *hs);
    double *R = xmalloc((size_t)K * sizeof *R), *v = xmalloc((size_t)N * sizeof *v);
    double *g = xmalloc((size_t)N * sizeof *g), *gn = xmalloc((size_t)N * sizeof *gn);
    double *gu = xmalloc((size_t)N * sizeof *gu), *gR = xmalloc((size_t)K * sizeof *gR);
    double *gp = xmalloc((size_t)K * sizeof *gp);
    for (int m = 0; m < o->M; m++) {
        double sx;
        oracle_pos(o, W, x, m, p, &sx, hs);
        for (int n = 0; n < N; n++) g[n] = gh[(size_t)n * o->M + m];
        for (int i = 0; i < K; i++) gp[i] = 0;
        for (int t = o->T - 1; t >= 0; t--) {
            const double *h = hs + (size_t)t * N;
            double sv = oracle_step(o, W, p, h, R, v);
            /* hn = v / (sv + 1e-20) */
            double gsv = 0;
            for (int n = 0; n < N; n++) gsv -= g[n] * v[n] / ((sv + 1e-20) * (sv + 1e-20));
            for (int n = 0; n < N; n++) {
                double gv = g[n] / (sv + 1e-20) + gsv;
                gu[n] = o->eps > 0 ? o->eps * gv : gv;
                gn[n] = o->eps > 0 ? gv : 0.0;
            }
            /* u_n = sum_i p_i h_n W[i,n] / (R_i + 1e-20) */
            for (int i = 0; i < K; i++) gR[i] = 0;
            for (int i = 0; i < K; i++)
                for (int n = 0; n < N; n++) {
                    double w = W[(size_t)i * N + n], d = R[i] + 1e-20;
                    gn[n] += gu[n] * p[i] * w / d;
                    gp[i] += gu[n] * h[n] * w / d;
                    dW[(size_t)i * N + n] += gu[n] * p[i] * h[n] / d;
                    gR[i] -= gu[n] * p[i] * h[n] * w / (d * d);
                }
            /* R_i = sum_n h_n W[i,n] */
            for (int i = 0; i < K; i++)
                for (int n = 0; n < N; n++) {
                    gn[n] += gR[i] * W[(size_t)i * N + n];
                    dW[(size_t)i * N + n] += gR[i] * h[n];
                }
            memcpy(g, gn, (size_t)N * sizeof *g);
        }
        /* p_i = x_i / (sum x + 1e-20) */
        double a = 0;
        for (int i = 0; i < K; i++) a += gp[i] * p[i];
        for (int i = 0; i < K; i++) {
            long at = o->idx[(size_t)m * K + i];
            if (at >= 0) dx[at] += (gp[i] - a) / (sx + 1e-20);
        }
    }
    free(p);
    free(hs);
    free(R);
    free(v);
    free(g);
    free(gn);
    free(gu);
    free(gR);
    free(gp);
}

/* the dense (K x N) double copy of an SbS-layout (K x ldw) weight */
static double *dense_w(const sbs_layer *L, const float *w)
{
    double *d = xmalloc((size_t)L->g.K * L->N * sizeof *d);
    for (int i = 0; i < L->g.K; i++)
        for (int n = 0; n < L->N; n++) d[(size_t)i * L->N + n] = w[(size_t)i * L->ldw + n];
    return d;
}

static void nnmf_ogeom(ctx *c, ogeom *o)
{
    const sbs_layer *L = c->L;
    ogeom_init(o, &L->g, L->N, L->cfg->spikes, L->cfg->epsilon_0);
}

static void ref_nnmf(ctx *c, double *ref)
{
    const sbs_layer *L = c->L;
    ogeom o;
    nnmf_ogeom(c, &o);
    size_t in = c->nin / (size_t)c->B, out = c->nout / (size_t)c->B;
    double *W = dense_w(L, L->weight), *x = xmalloc(c->nin * sizeof *x);
    to_double(c->x, x, c->nin);
    for (int b = 0; b < c->B; b++) oracle_forward(&o, W, x + (size_t)b * in, ref + (size_t)b * out);
    free(W);
    free(x);
    free(o.idx);
}

/* RECONSTRUCTION: o = R / sum R with R_i = sum_n W[i, n] h_n / sum h (W: the SbS layer's) */
static void ref_recon(ctx *c, double *ref)
{
    const sbs_layer *S = c->P, *L = c->L;
    int M = L->X * L->Y, K = L->N, N = S->N;
    double *R = xmalloc((size_t)K * sizeof *R);
    for (int b = 0; b < c->B; b++)
        for (int m = 0; m < M; m++) {
            const float *h = c->x + (size_t)b * N * M + m;
            double hs = 0, Rs = 0;
            for (int n = 0; n < N; n++) hs += h[(size_t)n * M];
            for (int i = 0; i < K; i++) {
                R[i] = 0;
                for (int n = 0; n < N; n++)
                    R[i] += (double)S->weight[(size_t)i * S->ldw + n] * h[(size_t)n * M] / hs;
                Rs += R[i];
            }
            for (int i = 0; i < K; i++) ref[((size_t)b * K + i) * M + m] = R[i] / Rs;
        }
    free(R);
}

/* ---- backward references ---- */

static void bwd_sbs(ctx *c, const float *y, double *dx, double *dW, double *dB)
{
    (void)dB;
    const sbs_layer *L = c->L;
    sbs_ref_sbs_backward(&L->g, L->N, L->weight, L->ldw, c->x, y, c->gy, c->B, dx, dW);
}

/* Does a layer below L learn from the gradient that reaches it (SPEC §1.2's local rule: then
 * SbS LOCAL passes the SbS input gradient down)? */
static bool below_backpropagates(const ctx *c)
{
    for (int k = 0; k < c->at; k++) {
        const sbs_layer *Lk = &c->net.L[k];
        if (Lk->file_weights && Lk->cfg->w_trainable && c->cfg.learn.learning_active &&
            Lk->kind != SBS_L_SBS_LOCAL)
            return true;
    }
    return false;
}

/* SbS LOCAL: dW = sum over images and positions of D_i h_n (hidden) or D_i [n = label]
 * (the last layer), D_i = -2 (p_i - sum_n W[i, n] h_n), p the normalised window; dx the SbS
 * input gradient when a layer below back-propagates, else 0 */
static void bwd_local(ctx *c, const float *y, double *dx, double *dW, double *dB)
{
    (void)dB;
    const sbs_layer *L = c->L;
    const sbs_geom *g = &L->g;
    int K = g->K, N = L->N, M = g->X * g->Y;
    bool output = c->at == c->net.n - 1;
    size_t in = (size_t)g->C * g->H * g->W;
    double *tmp = xmalloc((size_t)K * N * sizeof *tmp);
    if (below_backpropagates(c))
        sbs_ref_sbs_backward(g, N, L->weight, L->ldw, c->x, y, c->gy, c->B, dx, tmp);
    else
        for (size_t i = 0; i < c->nin; i++) dx[i] = 0.0;
    free(tmp);
    memset(dW, 0, (size_t)K * N * sizeof *dW);
    float *win = xmalloc((size_t)K * sizeof *win);
    for (int b = 0; b < c->B; b++)
        for (int m = 0; m < M; m++) {
            sbs_patch_gather(g, c->x + (size_t)b * in, m / g->Y, m % g->Y, win);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += win[i];
            const float *hv = y + (size_t)b * N * M + m;
            for (int i = 0; i < K; i++) {
                double r = 0;
                for (int n = 0; n < N; n++)
                    r += (double)L->weight[(size_t)i * L->ldw + n] * hv[(size_t)n * M];
                double d = -2.0 * (win[i] / (sum + 1e-20) - r);
                for (int n = 0; n < N; n++)
                    dW[(size_t)i * N + n] +=
                        d * (output ? (double)(n == c->labels[b]) : hv[(size_t)n * M]);
            }
        }
    free(win);
}

/* the exact convolution gradient (APPROX CONV2D's is straight-through: the same) */
static void bwd_conv(ctx *c, const float *y, double *dx, double *dW, double *dB)
{
    (void)y;
    const sbs_layer *L = c->L;
    const sbs_geom *g = &L->g;
    int M = g->X * g->Y, K = g->K, O = L->N;
    size_t in = (size_t)g->C * g->H * g->W;
    memset(dx, 0, c->nin * sizeof *dx);
    memset(dW, 0, L->n_w * sizeof *dW);
    memset(dB, 0, L->n_b * sizeof *dB);
    for (int b = 0; b < c->B; b++)
        for (int m = 0; m < M; m++)
            for (int o = 0; o < O; o++) {
                double gv = c->gy[((size_t)b * O + o) * M + m];
                dB[o] += gv;
                for (int ch = 0, i = 0; ch < g->C; ch++)
                    for (int u = 0; u < g->kx; u++)
                        for (int v = 0; v < g->ky; v++, i++) {
                            long p = pixel_at(g, ch, u, v, m / g->Y, m % g->Y);
                            if (p < 0) continue;
                            dW[(size_t)o * K + i] += gv * c->x[(size_t)b * in + p];
                            dx[(size_t)b * in + p] += gv * L->weight[(size_t)o * K + i];
                        }
            }
}

static void bwd_identity(ctx *c, const float *y, double *dx, double *dW, double *dB)
{
    (void)y;
    (void)dW;
    (void)dB;
    to_double(c->gy, dx, c->nin);
}

static void bwd_nnmf(ctx *c, const float *y, double *dx, double *dW, double *dB)
{
    (void)y;
    (void)dB;
    const sbs_layer *L = c->L;
    ogeom o;
    nnmf_ogeom(c, &o);
    size_t in = c->nin / (size_t)c->B, out = c->nout / (size_t)c->B;
    double *W = dense_w(L, L->weight), *x = xmalloc(c->nin * sizeof *x);
    double *gh = xmalloc(c->nout * sizeof *gh);
    to_double(c->x, x, c->nin);
    to_double(c->gy, gh, c->nout);
    memset(dx, 0, c->nin * sizeof *dx);
    memset(dW, 0, (size_t)L->g.K * L->N * sizeof *dW);
    for (int b = 0; b < c->B; b++)
        oracle_backward(&o, W, x + (size_t)b * in, gh + (size_t)b * out, dx + (size_t)b * in, dW);
    free(W);
    free(x);
    free(gh);
    free(o.idx);
}

/* df/dv by central differences at one float v of backend memory dev (host value keep),
 * with v = up and v = dn; f evaluates what the backend holds; v is restored */
static double central_diff(sbs_backend *be, float *dev, float keep, float up, float dn,
                           double (*f)(void *), void *fctx)
{
    be->upload(be, dev, &up, sizeof up);
    double lp = f(fctx);
    be->upload(be, dev, &dn, sizeof dn);
    double lm = f(fctx);
    be->upload(be, dev, &keep, sizeof keep);
    return (lp - lm) / ((double)up - dn);
}

static double fwd_dot_fn(void *c)
{
    return fwd_dot(c);
}

/* d/dv of sum dL/dy . y by central differences for every `stride`-th of the n values at
 * dev (backend memory) whose host copy is host (restored afterwards); the step is h, or
 * h |v| with rel; the result into out[i] (others left as they are) */
static void fd_tensor(ctx *c, float *dev, const float *host, size_t n, size_t stride, double h,
                      bool rel, double *out)
{
    for (size_t i = 0; i < n; i += stride) {
        float keep = host[i];
        double step = rel ? h * fabs(keep) : h;
        out[i] = central_diff(c->be, dev + i, keep, (float)(keep + step), (float)(keep - step),
                              fwd_dot_fn, c);
    }
}

/* about `want` of n values */
static size_t every(size_t n, size_t want)
{
    return n > want ? (n + want - 1) / want : 1;
}

/* central differences of the layer's forward (deterministic kinds) for its input and, when
 * it has weights, its weights and biases; the step is relative for RECONSTRUCTION's h */
static void bwd_fd(ctx *c, const float *y, double *dx, double *dW, double *dB)
{
    (void)y;
    const sbs_layer *L = c->L;
    bool rel = L->kind == SBS_L_RECONSTRUCTION;
    double h = rel ? 1e-2 : 2e-3;
    layer_inputs(c);
    fd_tensor(c, c->t.x.act[c->at], c->x, c->nin, every(c->nin, 60), h, rel, dx);
    if (L->weight && !L->sbs_w) {
        float *params = c->t.x.params;
        fd_tensor(c, params + L->w_off, c->net.params + L->w_off, L->n_w, every(L->n_w, 40), h,
                  false, dW);
        fd_tensor(c, params + L->b_off, c->net.params + L->b_off, L->n_b, 1, h, false, dB);
    }
}

/* ================================================================== comparisons */

/* max |ref - got| over the entries where ref is not NaN (a NaN got is infinitely far);
 * *scale = max |ref|, *where the worst index */
static double max_diff(const double *ref, const float *got, size_t n, double *scale, size_t *where)
{
    double d = 0, m = 0;
    *where = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i])) continue;
        double e = fabs(ref[i] - got[i]);
        if (isnan(e)) e = INFINITY;
        if (e > d) {
            d = e;
            *where = i;
        }
        m = fmax(m, fabs(ref[i]));
    }
    *scale = m;
    return d;
}

/* got (float) bitwise equal to ref (float values in double), NaN matching NaN */
static size_t first_bit_diff(const double *ref, const float *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float r = (float)ref[i];
        if (isnan(r) && isnan(got[i])) continue;
        if (memcmp(&r, &got[i], sizeof r) != 0) return i;
    }
    return (size_t)-1;
}

/* ================================================================== checks */

/* what a check leaves for the later ones of the same (case, backend) */
typedef struct {
    float *fwd_out[SBS_TEST_N_SIMD + N_DEVICE]; /* each backend's forward of the row */
} case_store;

typedef int (*check_fn)(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t n);

static int check_fwd(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    const tcase *tc = c->tc;
    float *y = layer_run(c);
    double *ref = xmalloc(c->nout * sizeof *ref);
    tc->fwd(c, ref);
    cs->fwd_out[bi] = y;
    int r;
    if (tc->fwd_tol == 0) {
        size_t i = first_bit_diff(ref, y, c->nout);
        r = i == (size_t)-1 ? RES_OK : RES_FAIL;
        if (r == RES_OK)
            snprintf(msg, mn, "bitwise equal to the reference (%zu values)", c->nout);
        else
            snprintf(msg, mn, "out[%zu] = %a, reference %a (must be bitwise equal)", i,
                     (double)y[i], ref[i]);
    } else {
        double scale;
        size_t i;
        double d = max_diff(ref, y, c->nout, &scale, &i);
        r = d <= tc->fwd_tol * fmax(1.0, scale) ? RES_OK : RES_FAIL;
        snprintf(msg, mn, "max |got - ref| %.2g of max %.3g (tol %g)%s", d, scale, tc->fwd_tol,
                 r == RES_OK ? "" : " <- too large");
        if (r != RES_OK)
            snprintf(msg + strlen(msg), mn - strlen(msg), " at out[%zu]: %g vs %g", i, (double)y[i],
                     ref[i]);
    }
    /* SbS-like outputs are distributions over the neurons */
    if (r == RES_OK && (tc->flags & F_DYN)) {
        int M = c->L->X * c->L->Y, N = c->L->N;
        for (int bb = 0; bb < c->B && r == RES_OK; bb++)
            for (int m = 0; m < M; m++) {
                double s = 0;
                for (int k = 0; k < N; k++) s += y[((size_t)bb * N + k) * M + m];
                if (fabs(s - 1.0) > 1e-4) {
                    snprintf(msg, mn, "image %d position %d: h sums to %.7f, not 1", bb, m, s);
                    r = RES_FAIL;
                    break;
                }
            }
    }
    free(ref);
    return r;
}

/* compare one gradient; appends to msg; returns RES_OK or RES_FAIL */
static int cmp_grad(const char *what, const double *ref, const float *got, size_t n, double tol,
                    char *msg, size_t mn)
{
    double scale;
    size_t i;
    double d = max_diff(ref, got, n, &scale, &i);
    bool ok = d <= tol * scale + 1e-6 && (scale > 0 || d == 0);
    size_t l = strlen(msg);
    if (ok)
        snprintf(msg + l, mn - l, "%s%s %.1e of %.2g", l ? ", " : "", what, d, scale);
    else
        snprintf(msg + l, mn - l,
                 "%s%s: max diff %.3g of max %.3g (tol %g) at [%zu]: got %g, "
                 "reference %g",
                 l ? "; " : "", what, d, scale, tol, i, (double)got[i], ref[i]);
    return ok ? RES_OK : RES_FAIL;
}

static double *nan_array(size_t n)
{
    double *d = xmalloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = NAN;
    return d;
}

static int check_bwd(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    (void)bi;
    (void)cs;
    const tcase *tc = c->tc;
    const sbs_layer *L = c->L;
    if (!tc->bwd) {
        snprintf(msg, mn, "no reference for this input (non-finite values)");
        return RES_SKIP;
    }
    size_t nw = L->weight ? sbs_weight_floats(L) : 0, nb = L->bias ? L->n_b : 0;
    size_t ndw = L->weight ? (L->sbs_w ? (size_t)L->g.K * L->N : L->n_w) : 0;
    float *y = layer_run(c);
    float *gx = xaligned((c->nin + 1) * 4), *gw = xaligned((nw + 1) * 4);
    float *gb = xaligned((nb + 1) * 4);
    long contrib = layer_backward(c, gx, gw, gb);
    double *dx = nan_array(c->nin), *dW = nan_array(ndw), *dB = nan_array(nb);
    tc->bwd(c, y, dx, dW, dB);
    msg[0] = 0;
    int r = RES_OK;
    if (tc->bwd_tol == 0 && tc->bwd == bwd_identity) {
        size_t i = first_bit_diff(dx, gx, c->nin);
        if (i != (size_t)-1) {
            snprintf(msg, mn, "dx[%zu] = %g, dL/dy %g: not the identity", i, (double)gx[i], dx[i]);
            r = RES_FAIL;
        } else {
            snprintf(msg, mn, "dx == dL/dy bitwise (straight-through)");
        }
    } else {
        if (cmp_grad("dx", dx, gx, c->nin, tc->bwd_tol, msg, mn) != RES_OK) r = RES_FAIL;
        if (L->weight) {
            float *g = gw;
            float *gd = NULL;
            if (L->sbs_w) { /* dense copy; the padding columns must stay 0 */
                gd = xmalloc((ndw + 1) * sizeof *gd);
                for (int i = 0; i < L->g.K; i++) {
                    for (int k = 0; k < L->N; k++)
                        gd[(size_t)i * L->N + k] = gw[(size_t)i * L->ldw + k];
                    for (int k = L->N; k < L->ldw; k++)
                        if (gw[(size_t)i * L->ldw + k] != 0.0f && r == RES_OK) {
                            size_t l = strlen(msg);
                            snprintf(msg + l, mn - l,
                                     "; padding column %d of row %d has a "
                                     "gradient %g",
                                     k, i, (double)gw[(size_t)i * L->ldw + k]);
                            r = RES_FAIL;
                        }
                }
                g = gd;
            }
            bool any = false;
            for (size_t i = 0; i < ndw; i++) any |= !isnan(dW[i]);
            if (any && cmp_grad("dW", dW, g, ndw, tc->bwd_tol, msg, mn) != RES_OK) r = RES_FAIL;
            free(gd);
        }
        if (L->bias && nb && !isnan(dB[0]) &&
            cmp_grad("dB", dB, gb, nb, tc->bwd_tol, msg, mn) != RES_OK)
            r = RES_FAIL;
    }
    /* SbS-like layers count one contribution per (image, position) */
    if (L->sbs_w && L->weight) {
        long want = (long)c->B * L->X * L->Y;
        if (contrib != want) {
            size_t l = strlen(msg);
            snprintf(msg + l, mn - l, "; %ld contributions, expected %ld", contrib, want);
            r = RES_FAIL;
        }
    }
    /* a forced checkpointed backward equals the one with every iterate stored */
    if (tc->store_limit && r == RES_OK) {
        size_t full =
            sbs_nnmf_bwd_scratch(L->g.K, L->N, L->X * L->Y, L->cfg->spikes, SBS_NNMF_STORE_LIMIT);
        int rr;
        char why[1200];
        ctx *u = ctx_open(c->ci, c->be, 3, &rr, why, sizeof why);
        if (!u) {
            snprintf(msg, mn, "second context: %s", why);
            r = RES_FAIL;
        } else {
            u->net.L[u->at].bwd_scr = full;
            float *y2 = layer_run(u);
            float *gx2 = xaligned((c->nin + 1) * 4), *gw2 = xaligned((nw + 1) * 4);
            layer_backward(u, gx2, gw2, NULL);
            double d = 0, m = 0;
            for (size_t i = 0; i < c->nin; i++) {
                d = fmax(d, fabs((double)gx[i] - gx2[i]));
                m = fmax(m, fabs((double)gx2[i]));
            }
            for (size_t i = 0; i < nw; i++) {
                d = fmax(d, fabs((double)gw[i] - gw2[i]));
                m = fmax(m, fabs((double)gw2[i]));
            }
            size_t l = strlen(msg);
            if (!(L->bwd_scr < full) || d > 1e-6 * m) {
                snprintf(msg + l, mn - l,
                         "; checkpointed (scratch %zu of %zu floats) vs stored "
                         "iterates: max diff %.3g of %.3g",
                         L->bwd_scr, full, d, m);
                r = RES_FAIL;
            } else {
                snprintf(msg + l, mn - l,
                         "; checkpointed == stored iterates to %.1e (scratch "
                         "%zu of %zu)",
                         d, L->bwd_scr, full);
            }
            free(y2);
            free(gx2);
            free(gw2);
            ctx_close(u);
        }
    }
    free(y);
    free(gx);
    free(gw);
    free(gb);
    free(dx);
    free(dW);
    free(dB);
    return r;
}

/* a last layer's own loss kernel on what the backend holds (for central_diff) */
typedef struct {
    ctx *c;
    const sbs_op_args *a;
    float *g;
} own_loss;

static double own_loss_fn(void *p)
{
    own_loss *o = p;
    return o->c->t.x.k[o->c->at]->loss(o->c->be, o->a, o->g);
}

/* a last layer's own loss: the formula in double (mixed loss against the SbS layer's
 * normalised windows, SPEC §2) and dL/do by central differences of the kernel itself */
static int check_loss(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    (void)bi;
    (void)cs;
    const sbs_layer *L = c->L, *S = c->P;
    sbs_exec *x = &c->t.x;
    if (!L->own_target) {
        snprintf(msg, mn, "no loss of its own: the supervised loss is a training op");
        return RES_SKIP;
    }
    float *o = layer_run(c);
    int M = L->X * L->Y, K = L->N;
    double cm = c->cfg.learn.loss_coeffs_mse, ck = c->cfg.learn.loss_coeffs_kldiv, want = 0;
    float *win = xmalloc((size_t)K * sizeof *win);
    size_t in = (size_t)S->C * S->H * S->W;
    for (int bb = 0; bb < c->B; bb++)
        for (int m = 0; m < M; m++) {
            sbs_patch_gather(&S->g, c->refx + (size_t)bb * in, m / S->Y, m % S->Y, win);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += win[i];
            for (int i = 0; i < K; i++) {
                double t = sum > 0 ? win[i] / sum : 1.0 / K, ov = o[((size_t)bb * K + i) * M + m];
                want += (cm * (ov - t) * (ov - t) +
                         ck * (t + 1e-20) * (log(t + 1e-20) - log(ov + 1e-20))) /
                        (cm + ck);
            }
        }
    free(win);
    sbs_op_args a = sbs_test_op_args(&c->t, c->at, c->B, false);
    a.labels = c->labels;
    float *gdev = x->gact[c->at + 1];
    double got = x->k[c->at]->loss(c->be, &a, gdev);
    float *g = sbs_test_download(c->be, gdev, c->nout);
    int r = fabs(got - want) <= 1e-6 * fabs(want) ? RES_OK : RES_FAIL;
    snprintf(msg, mn, "loss %.9g vs formula %.9g (rel %.1g)", got, want, fabs(got - want) / want);
    double worst = 0;
    own_loss ol = {c, &a, gdev};
    for (size_t i = 0; i < c->nout; i += every(c->nout, 50)) {
        float keep = o[i];
        double num = central_diff(c->be, x->act[c->at + 1] + i, keep, keep * (1 + 1e-3f),
                                  keep * (1 - 1e-3f), own_loss_fn, &ol);
        double err = fabs(num - g[i]) / fmax(1e-2, fabs(num) + fabs(g[i]));
        if (err > worst) worst = err;
        if (err > 2e-3 && r == RES_OK) {
            snprintf(msg, mn, "dL/do[%zu]: numeric %g, kernel %g", i, num, (double)g[i]);
            r = RES_FAIL;
        }
    }
    if (r == RES_OK)
        snprintf(msg + strlen(msg), mn - strlen(msg), "; dL/do vs differences: worst rel %.1g",
                 worst);
    free(o);
    free(g);
    return r;
}

/* the exec's loss of the images as the training step sees it: per pattern (mode 1 is a mean
 * over the batch, so the sum sbs_exec_loss returns is divided by B) */
static double exec_loss(ctx *c)
{
    sbs_exec_forward(&c->t.x, c->img, c->B, &c->key);
    double l = sbs_exec_loss(&c->t.x, c->labels, c->B);
    return c->cfg.learn.loss_mode == 1 ? l / c->B : l;
}

static double exec_loss_fn(void *c)
{
    return exec_loss(c);
}

/* dL/dp for the parameter at index `at` of the arena, by central differences of the exec */
static void fd_param(ctx *c, size_t at, double *num)
{
    float keep = c->net.params[at];
    num[at] =
        central_diff(c->be, c->t.x.params + at, keep, keep + 2e-3f, keep - 2e-3f, exec_loss_fn, c);
}

/* Why the row's net has no derivative to compare its gradients with, or NULL: spikes are
 * sampled, or a layer's gradient is by design not the forward's (APPROX CONV2D's
 * straight-through past inexact products, BP SBS NNMF's SbS rule). */
static const char *no_derivative(const ctx *c)
{
    for (int l = 0; l < c->net.n; l++) {
        const sbs_layer *L = &c->net.L[l];
        if (L->T > 0 || L->kind == SBS_L_POISSON || L->kind == SBS_L_INPUT_SPIKE_IMAGE)
            return "the net samples spikes: its loss has no derivative";
        if (L->kind == SBS_L_BP_SBS_NNMF)
            return "BP SBS NNMF's gradient is the SbS rule, not the forward's derivative";
        if (L->kind == SBS_L_APPROX_CONV2D) {
            sbs_approx_cfg a =
                sbs_approx_cfg_make(L->cfg->approximation_enable, L->cfg->number_of_trunc_bits,
                                    L->cfg->number_of_frac_bits);
            if (!(a.frac_bits >= 24 && a.trunc_bits <= 2 * (a.frac_bits - 24)))
                return "inexact products: the gradient is straight-through";
        }
    }
    return NULL;
}

/* A net that samples spikes: the exec's gradients of every learning layer with the SbS rule
 * (SbS, BP SBS NNMF) against sbs_ref_sbs_backward on the exec's own activations and the
 * gradient the layers above passed it (and its input gradient, when the exec passes one on):
 * the loss (or own target) and the layers above route their gradient into it. */
static int net_oracle(ctx *c, const char *why, char *msg, size_t mn)
{
    sbs_test_bound *t = &c->t;
    sbs_exec *x = &t->x;
    const sbs_net *net = &c->net;
    sbs_exec_forward(x, c->img, c->B, &c->key);
    sbs_exec_loss(x, c->labels, c->B);
    long contrib[SBS_MAX_LAYERS];
    sbs_exec_backward(x, c->B, c->labels, t->s.scale, t->s.learns, NULL, contrib);
    msg[0] = 0;
    int r = RES_OK, layers = 0;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!t->s.learns[l] || (L->kind != SBS_L_SBS && L->kind != SBS_L_BP_SBS_NNMF)) continue;
        layers++;
        size_t nx = (size_t)c->B * sbs_act_floats(net, l);
        size_t nh = (size_t)c->B * sbs_act_floats(net, l + 1);
        float *xin = sbs_test_download(c->be, x->act[l], nx);
        float *h = sbs_test_download(c->be, x->act[l + 1], nh);
        float *gh = sbs_test_download(c->be, x->gact[l + 1], nh);
        float *gx = sbs_test_download(c->be, x->gact[l], nx);
        float *gw = sbs_test_download(c->be, x->chunk + L->w_off, sbs_weight_floats(L));
        double *dx = xmalloc(nx * sizeof *dx), *dW = xmalloc((size_t)L->g.K * L->N * sizeof *dW);
        sbs_ref_sbs_backward(&L->g, L->N, L->weight, L->ldw, xin, h, gh, c->B, dx, dW);
        float *gd = xmalloc((size_t)L->g.K * L->N * sizeof *gd);
        for (int i = 0; i < L->g.K; i++)
            for (int k = 0; k < L->N; k++) gd[(size_t)i * L->N + k] = gw[(size_t)i * L->ldw + k];
        char what[32];
        snprintf(what, sizeof what, "layer %d dW", l);
        if (cmp_grad(what, dW, gd, (size_t)L->g.K * L->N, 1e-4, msg, mn) != RES_OK) r = RES_FAIL;
        if (l > 0 && !L->cfg->sbs_skip_gradient_calculation) {
            snprintf(what, sizeof what, "layer %d dx", l);
            if (cmp_grad(what, dx, gx, nx, 1e-4, msg, mn) != RES_OK) r = RES_FAIL;
        }
        free(xin);
        free(h);
        free(gh);
        free(gx);
        free(gw);
        free(dx);
        free(dW);
        free(gd);
    }
    if (!layers) {
        snprintf(msg, mn, "%s, and no layer learns with the SbS rule", why);
        return RES_SKIP;
    }
    size_t l = strlen(msg);
    snprintf(msg + l, mn - l, " (the SbS oracle on the exec's activations and gradients)");
    return r;
}

static int check_net(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    (void)bi;
    (void)cs;
    const char *why = no_derivative(c);
    if (why) return net_oracle(c, why, msg, mn);
    sbs_test_bound *t = &c->t;
    sbs_exec *x = &t->x;
    const sbs_net *net = &c->net;
    exec_loss(c);
    long contrib[SBS_MAX_LAYERS];
    sbs_exec_backward(x, c->B, c->labels, t->s.scale, t->s.learns, NULL, contrib);
    sbs_test_zero_grads(t);
    c->be->add(c->be, x->grads, x->chunk, net->n_params);
    float *grads = sbs_test_download(c->be, x->grads, net->n_params);
    double *num = nan_array(net->n_params);
    int layers = 0;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!t->s.learns[l]) continue;
        layers++;
        /* about 30 weights (of the real columns) and every bias */
        size_t nw = sbs_weight_floats(L), stride = every(nw, 30);
        for (size_t k = 0; k < nw; k += stride)
            if (!L->sbs_w || (int)(k % (size_t)L->ldw) < L->N) fd_param(c, L->w_off + k, num);
        for (size_t k = 0; L->bias && k < L->n_b; k++) fd_param(c, L->b_off + k, num);
    }
    msg[0] = 0;
    int r = cmp_grad("parameters", num, grads, net->n_params, 2e-2, msg, mn);
    size_t l = strlen(msg);
    snprintf(msg + l, mn - l, " (%d learning layer%s, loss mode %d, finite differences)", layers,
             layers == 1 ? "" : "s", c->cfg.learn.loss_mode);
    free(grads);
    free(num);
    return r;
}

/* everything the whole net computes for one chunk, for bitwise comparisons */
typedef struct {
    float *out, *grads, *act, *gact;
    size_t n_out, n_grads, n_act, n_gact;
} net_result;

static void result_free(net_result *r)
{
    free(r->out);
    free(r->grads);
    free(r->act);
    free(r->gact);
    memset(r, 0, sizeof *r);
}

/* The chunk of images [b0, b0 + nb) of the row through the bound net (sbs_test_chunk:
 * forward, dL/d(output) = gout, backward, chunk sums added into the window's gradients);
 * appends the output, the layer's output and input gradient to r (allocated for B images);
 * r->grads gets the window's gradients. */
static void net_chunk(ctx *c, int b0, int nb, net_result *r)
{
    sbs_test_bound *t = &c->t;
    const sbs_net *net = &c->net;
    size_t in0 = sbs_act_floats(net, 0), on = sbs_act_floats(net, net->n);
    size_t an = sbs_act_floats(net, c->at + 1), gn = sbs_act_floats(net, c->at);
    if (!r->out) {
        r->out = xaligned(c->B * on * 4);
        r->act = xaligned(c->B * an * 4);
        r->gact = xaligned(c->B * gn * 4);
    }
    sbs_spike_key k = c->key;
    k.first_sample += (uint32_t)b0;
    sbs_test_chunk(t, c->img + b0 * in0, c->labels + b0, nb, &k, c->gout + b0 * on, NULL);
    c->be->download(c->be, r->out + r->n_out, t->x.act[net->n], nb * on * 4);
    c->be->download(c->be, r->act + r->n_act, t->x.act[c->at + 1], nb * an * 4);
    c->be->download(c->be, r->gact + r->n_gact, t->x.gact[c->at], nb * gn * 4);
    r->n_out += nb * on;
    r->n_act += nb * an;
    r->n_gact += c->at > 0 ? nb * gn : 0; /* the exec passes no gradient into the input */
    free(r->grads);
    r->grads = sbs_test_download(c->be, t->x.grads, net->n_params);
    r->n_grads = net->n_params;
}

/* the first difference between two results, or NULL */
static const char *result_diff(const net_result *a, const net_result *b, size_t *at)
{
    const float *pa[4] = {a->out, a->act, a->gact, a->grads};
    const float *pb[4] = {b->out, b->act, b->gact, b->grads};
    size_t n[4] = {a->n_out, a->n_act, a->n_gact, a->n_grads};
    static const char *const what[4] = {"the net's output", "the layer's output",
                                        "the layer's input gradient", "a weight gradient"};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < n[k]; i++)
            if (memcmp(&pa[k][i], &pb[k][i], 4) != 0 && !(isnan(pa[k][i]) && isnan(pb[k][i]))) {
                *at = i;
                return what[k];
            }
    return NULL;
}

static int check_threads(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)bi;
    (void)cs;
    if (!b->simd) {
        snprintf(msg, mn, "threads are a cpu option");
        return RES_SKIP;
    }
    net_result ref = {0};
    int r = RES_OK;
    for (int th = 1; th <= 3 && r == RES_OK; th++) {
        sbs_backend *be = sbs_test_cpu(th, b->simd);
        int rr;
        char why[1200];
        ctx *u = ctx_open(c->ci, be, 3, &rr, why, sizeof why);
        if (!u) {
            snprintf(msg, mn, "%s", why);
            r = rr;
        } else {
            net_result got = {0};
            sbs_test_zero_grads(&u->t);
            net_chunk(u, 0, u->B, &got);
            size_t at;
            const char *d = th > 1 ? result_diff(&ref, &got, &at) : NULL;
            if (d) {
                snprintf(msg, mn, "%d threads: %s is not bitwise 1 thread's (at [%zu])", th, d, at);
                r = RES_FAIL;
            }
            if (th == 1)
                ref = got;
            else
                result_free(&got);
            ctx_close(u);
        }
        sbs_backend_destroy(be);
    }
    if (r == RES_OK)
        snprintf(msg, mn, "1, 2, 3 threads bitwise equal (%zu outputs, %zu gradients)", ref.n_out,
                 ref.n_grads);
    result_free(&ref);
    return r;
}

static int check_split(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    (void)bi;
    (void)cs;
    net_result whole = {0}, ones = {0}, two = {0};
    sbs_test_zero_grads(&c->t);
    net_chunk(c, 0, c->B, &whole);
    sbs_test_zero_grads(&c->t);
    for (int i = 0; i < c->B; i++) net_chunk(c, i, 1, &ones);
    int r = RES_OK;
    size_t at;
    const char *d = result_diff(&whole, &ones, &at);
    if (d) {
        snprintf(msg, mn, "chunks of 1 image: %s is not bitwise the whole batch's (at [%zu])", d,
                 at);
        r = RES_FAIL;
    }
    if (r == RES_OK && c->B > 2) { /* outputs only: chunk sums of 2 images round differently */
        net_chunk(c, 0, 2, &two);
        net_chunk(c, 2, c->B - 2, &two);
        two.n_grads = 0;
        whole.n_grads = 0;
        if ((d = result_diff(&whole, &two, &at)) != NULL) {
            snprintf(msg, mn, "chunks of 2 + %d: %s is not bitwise the whole batch's (at [%zu])",
                     c->B - 2, d, at);
            r = RES_FAIL;
        }
    }
    if (r == RES_OK)
        snprintf(msg, mn, "chunks of 1%s: outputs and gradients bitwise equal",
                 c->B > 2 ? " and 2 + rest" : "");
    result_free(&whole);
    result_free(&ones);
    result_free(&two);
    return r;
}

static int check_xbackend(ctx *c, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)c;
    const float *mine = cs->fwd_out[bi], *ref = cs->fwd_out[0];
    if (bi == 0) {
        snprintf(msg, mn, "the reference backend");
        return RES_SKIP;
    }
    if (!mine || !ref) {
        snprintf(msg, mn, "no forward output to compare (fwd did not run)");
        return RES_SKIP;
    }
    const char *against = g_bk[0].label;
    bool dyn = c->tc->flags & F_DYN;
    double tol = 0;
    if (dyn && !b->simd) {
        /* a device backend: bitwise the CPU's AVX-512 (else AVX2) dynamics (DESIGN.md,
         * "Arithmetic contract"; the two CPU levels agree bitwise on every row today) */
        int k = -1;
        for (int i = 0; i < g_nbk; i++)
            if (g_bk[i].simd && strcmp(g_bk[i].simd, "scalar") && cs->fwd_out[i] &&
                (k < 0 || !strcmp(g_bk[i].simd, "avx512")))
                k = i;
        if (k >= 0) {
            ref = cs->fwd_out[k];
            against = g_bk[k].label;
        } else {
            tol = 4e-5;
        }
    } else if (dyn) {
        tol = 4e-5; /* SIMD levels: each within 2e-5 of the oracle */
    } else if (!b->simd) {
        tol = 1e-5; /* another BLAS */
    }
    double d = 0, m = 0;
    size_t first = (size_t)-1;
    for (size_t i = 0; i < c->nout; i++) {
        if ((isnan(ref[i]) && isnan(mine[i])) || ref[i] == mine[i]) continue;
        double e = fabs((double)ref[i] - mine[i]);
        if (!(e == 0) && first == (size_t)-1) first = i;
        if (isnan(e)) e = INFINITY;
        d = fmax(d, e);
        m = fmax(m, fabs((double)ref[i]));
    }
    int r = d <= tol * fmax(1.0, m) ? RES_OK : RES_FAIL;
    if (tol == 0 && r == RES_OK)
        snprintf(msg, mn, "bitwise equal to %s", against);
    else if (tol == 0)
        snprintf(msg, mn, "differs from %s at out[%zu]: %a vs %a (must be bitwise equal)", against,
                 first, (double)mine[first], (double)ref[first]);
    else
        snprintf(msg, mn, "max |d| %.2g vs %s (tol %g%s)", d, against, tol,
                 d == 0 ? ", bitwise equal" : "");
    return r;
}

/* remove the files of a scratch folder and the folder */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* the forward of the whole net on the row's images (the output downloaded) */
static float *net_forward(ctx *c)
{
    sbs_exec_forward(&c->t.x, c->img, c->B, &c->key);
    float *o = xmalloc(c->ngout * sizeof *o);
    memcpy(o, c->t.x.out, c->ngout * sizeof *o);
    return o;
}

static int check_saveload(ctx *c0, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    (void)bi;
    (void)cs;
    if (!c0->L->file_weights) {
        snprintf(msg, mn, "the layer has no weights of its own");
        return RES_SKIP;
    }
    int r = RES_FAIL, rr;
    char why[1200];
    ctx *c = ctx_open(c0->ci, c0->be, 3, &rr, why, sizeof why), *c2 = NULL;
    if (!c) {
        snprintf(msg, mn, "%s", why);
        return rr;
    }
    sbs_test_bound *t = &c->t;
    /* the files are written atomically (fsync): on a RAM disk when there is one */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sbs_backend_ops_XXXXXX", tmp);
    float *y0 = NULL, *y1 = NULL, *y2 = NULL, *host_before = NULL;
    unsigned char *buf = NULL;
    sbs_err e;
    if (!mkdtemp(dir)) {
        snprintf(msg, mn, "mkdtemp failed");
        goto out;
    }
    /* one update on the backend: the weights and moments to save are the backend's */
    long contrib[SBS_MAX_LAYERS];
    sbs_test_zero_grads(t);
    sbs_test_chunk(t, c->img, c->labels, c->B, &c->key, c->gout, contrib);
    double gmul[SBS_MAX_LAYERS];
    for (int l = 0; l < c->net.n; l++) gmul[l] = contrib[l] > 0 ? 1.0 / contrib[l] : 1.0;
    sbs_update_step u = {.adam = true,
                         .lr = 0.01,
                         .lr_t = 0.01 / (1 - 0.9),
                         .c2 = sqrt(1 - 0.999),
                         .threshold = 1e-5f};
    sbs_exec_update(&t->x, &u, t->s.learns, gmul);
    sbs_trainer_state_download(&t->s);
    y0 = net_forward(c);
    sbs_ckpt_state st = {.seed = 7,
                         .plan_hash = sbs_plan_hash(&c->net),
                         .epoch = 2,
                         .next_sub = 5,
                         .updates_in_epoch = 1,
                         .ep_loss = 1.5,
                         .ep_correct = 3,
                         .ep_seen = 8,
                         .ep_seconds = 0.25};
    sbs_optim_init(&st.opt, &c->cfg);
    st.opt.t = 1;
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", dir);
    if (sbs_net_save_weights(&c->net, dir, 3, &e) != 0 || sbs_ckpt_save(ck, &st, &t->s, &e) != 0) {
        snprintf(msg, mn, "save: %s", e.msg);
        goto out;
    }
    /* the same net with other weights, then the files */
    c2 = ctx_open(c0->ci, c0->be, 11, &rr, why, sizeof why);
    if (!c2) {
        snprintf(msg, mn, "%s", why);
        goto out;
    }
    int want = 0;
    for (int l = 0; l < c->net.n; l++) want += c->net.L[l].file_weights;
    int got = sbs_net_load_weights(&c2->net, dir, true, &e);
    if (got != want) {
        snprintf(msg, mn, "load: %d layers of %d: %s", got, want, got < 0 ? e.msg : "");
        goto out;
    }
    double wd = 0;
    bool conv_exact = true;
    for (int l = 0; l < c->net.n; l++) {
        const sbs_layer *A = &c->net.L[l], *B = &c2->net.L[l];
        if (!A->file_weights) continue;
        size_t n = sbs_weight_floats(A);
        for (size_t i = 0; i < n; i++) wd = fmax(wd, fabs((double)A->weight[i] - B->weight[i]));
        if (!A->sbs_w)
            conv_exact &=
                !memcmp(A->weight, B->weight, n * 4) && !memcmp(A->bias, B->bias, A->n_b * 4);
    }
    if (wd > 1e-6 || !conv_exact) {
        snprintf(msg, mn, "weights after save/load differ by %.3g%s", wd,
                 conv_exact ? "" : " (conv weights must be bitwise equal)");
        goto out;
    }
    sbs_exec_upload_params(&c2->t.x);
    y1 = net_forward(c2);
    double od = 0, om = 0;
    for (size_t i = 0; i < c->ngout; i++) {
        od = fmax(od, fabs((double)y0[i] - y1[i]));
        om = fmax(om, fabs((double)y0[i]));
    }
    if (od > 1e-5 * fmax(1.0, om)) {
        snprintf(msg, mn, "the reloaded weights give another forward (max diff %.3g)", od);
        goto out;
    }
    /* the checkpoint: a corrupt copy is refused and changes nothing; the file restores the
     * weights and moments bitwise */
    size_t len;
    if (sbs_read_file(ck, &buf, &len, &e) != 0) {
        snprintf(msg, mn, "%s", e.msg);
        goto out;
    }
    size_t np = c->net.n_params;
    host_before = xmalloc((3 * np + 1) * sizeof(float));
    memcpy(host_before, c2->net.params, np * 4);
    memcpy(host_before + np, c2->t.s.moments, 2 * np * 4);
    sbs_ckpt_state st2;
    buf[len / 2] ^= 0x10;
    if (sbs_ckpt_parse(buf, len, "checkpoint.bin", &st2, &c2->t.s, &e) == 0 ||
        !strstr(e.msg, "checkpoint.bin") || memcmp(host_before, c2->net.params, np * 4) ||
        memcmp(host_before + np, c2->t.s.moments, 2 * np * 4)) {
        snprintf(msg, mn, "a corrupt checkpoint was accepted or changed the net (%s)", e.msg);
        goto out;
    }
    buf[len / 2] ^= 0x10;
    if (sbs_ckpt_parse(buf, len, "checkpoint.bin", &st2, &c2->t.s, &e) != 0) {
        snprintf(msg, mn, "parse: %s", e.msg);
        goto out;
    }
    free(st2.run_def); /* the run definition (NULL when saved without one) */
    if (memcmp(c->net.params, c2->net.params, np * 4) ||
        memcmp(t->s.moments, c2->t.s.moments, 2 * np * 4) || st2.epoch != 2 || st2.next_sub != 5 ||
        st2.seed != 7 || st2.opt.t != 1 || st2.ep_seen != 8) {
        snprintf(msg, mn,
                 "the checkpoint did not restore the weights, moments and counters "
                 "bitwise");
        goto out;
    }
    sbs_trainer_state_upload(&c2->t.s);
    y2 = net_forward(c2);
    if (memcmp(y0, y2, c->ngout * 4) != 0) {
        snprintf(msg, mn, "the checkpoint's weights give another forward");
        goto out;
    }
    snprintf(msg, mn,
             "%d weight files (max diff %.1g) and a %zu-byte checkpoint (bitwise) "
             "round trip; corrupt copy refused",
             want, wd, len);
    r = RES_OK;
out:
    free(y0);
    free(y1);
    free(y2);
    free(buf);
    free(host_before);
    if (c2) ctx_close(c2);
    ctx_close(c);
    rm_dir(dir);
    return r;
}

/* the fixed batch of a row as a chunk source for sbs_train_step */
static void fixed_chunk(void *p, int k, float *img, uint8_t *labels, int *B, sbs_spike_key *key)
{
    (void)k;
    ctx *c = p;
    memcpy(img, c->img, c->nimg * sizeof(float));
    memcpy(labels, c->labels, (size_t)c->B);
    *B = c->B;
    *key = c->key;
}

static int check_learn(ctx *c0, const bk *b, int bi, case_store *cs, char *msg, size_t mn)
{
    (void)b;
    (void)bi;
    (void)cs;
    if (!(c0->tc->flags & F_LEARN)) {
        snprintf(msg, mn, "not a training row");
        return RES_SKIP;
    }
    int rr;
    char why[1200];
    ctx *c = ctx_open(c0->ci, c0->be, 3, &rr, why, sizeof why);
    if (!c) {
        snprintf(msg, mn, "%s", why);
        return rr;
    }
    sbs_optim opt;
    sbs_optim_init(&opt, &c->cfg);
    sbs_chunk_source src = {.load = fixed_chunk, .ctx = c, .out_dir = "(none)"};
    double first = 0, last = 0;
    int r = RES_OK;
    for (int it = 0; it < 30; it++) {
        sbs_window_sums w;
        sbs_err e;
        if (sbs_train_step(&c->t.s, &opt, &src, 1, true, NULL, &w, &e) != 0) {
            snprintf(msg, mn, "step %d: %s", it, e.msg);
            r = RES_FAIL;
            break;
        }
        if (it == 0) first = w.loss;
        last = w.loss;
    }
    if (r == RES_OK) {
        r = last < 0.9 * first ? RES_OK : RES_FAIL;
        snprintf(msg, mn, "loss %.4f -> %.4f after 30 steps%s", first, last,
                 r == RES_OK ? "" : " (must fall by 10 %)");
    }
    ctx_close(c);
    return r;
}

static const struct {
    const char *name;
    check_fn fn;
} checks[] = {
    {"fwd", check_fwd},           {"bwd", check_bwd},           {"loss", check_loss},
    {"net", check_net},           {"threads", check_threads},   {"split", check_split},
    {"xbackend", check_xbackend}, {"saveload", check_saveload}, {"learn", check_learn},
};
#define N_CHECKS (int)(sizeof checks / sizeof *checks)

/* ---- plan: bad variants, and a backend without the kind ---- */

static int g_refuse = -1;
static sbs_backend *g_real;

static const sbs_layer_kernels *refusing_kernels(sbs_backend *be, sbs_layer_kind k)
{
    (void)be;
    return (int)k == g_refuse ? NULL : g_real->kernels(g_real, k);
}

static int check_plan(int ci, sbs_backend *ref_be, char *msg, size_t mn)
{
    const tcase *tc = &cases[ci];
    int n = 0;
    msg[0] = 0;
    for (int k = 0; k < 3 && tc->bad[k].key; k++) {
        const bad_plan *bp = &tc->bad[k];
        sbs_config *cfg = xcalloc(1, sizeof *cfg);
        sbs_test_config(cfg, bp->ls, bp->n, tc->n_out, tc->T);
        cfg->learn.loss_mode = bp->loss_mode;
        sbs_net net;
        sbs_err e = {{0}};
        int rc = sbs_net_plan(&net, cfg, tc->C, tc->H, tc->W, &e);
        if (rc == 0) sbs_net_free(&net);
        free(cfg);
        if (rc == 0) {
            snprintf(msg, mn, "bad variant %d planned without an error (expected %s)", k, bp->key);
            return RES_FAIL;
        }
        if (!strstr(e.msg, bp->key) || !strstr(e.msg, bp->what) || strchr(e.msg, '\n')) {
            snprintf(msg, mn, "bad variant %d: expected one line naming '%s' and '%s', found: %s",
                     k, bp->key, bp->what, e.msg);
            return RES_FAIL;
        }
        n++;
    }
    /* a backend that lacks the kind: refused by sbs_exec_init, naming the layer */
    sbs_config *cfg = xcalloc(1, sizeof *cfg);
    sbs_test_config(cfg, tc->ls, tc->n, tc->n_out, tc->T);
    sbs_net net;
    sbs_err e;
    int r = RES_OK;
    if (sbs_net_plan(&net, cfg, tc->C, tc->H, tc->W, &e) != 0) {
        snprintf(msg, mn, "the row's net does not plan: %s", e.msg);
        free(cfg);
        return RES_FAIL;
    }
    sbs_backend fake = *ref_be;
    fake.kernels = refusing_kernels;
    g_real = ref_be;
    g_refuse = tc->kind;
    int first = 0;
    while (net.L[first].kind != tc->kind) first++;
    char want[128];
    snprintf(want, sizeof want, "layer %d (%s)", first, net.L[first].cfg->type);
    sbs_exec x;
    int status = 0;
    if (sbs_exec_init(&x, &net, &fake, tc->B, true, &status, &e) == 0) {
        sbs_exec_free(&x);
        snprintf(msg, mn, "a backend without %s was accepted", sbs_layer_kind_name(tc->kind));
        r = RES_FAIL;
    } else if (status != SBS_EXIT_USAGE || !strstr(e.msg, want) ||
               !strstr(e.msg, "does not support")) {
        snprintf(msg, mn, "a backend without the kind: status %d, message: %s", status, e.msg);
        r = RES_FAIL;
    }
    g_refuse = -1;
    sbs_net_free(&net);
    free(cfg);
    if (r == RES_OK && n)
        snprintf(msg, mn,
                 "%d bad variant%s named %s key in one line; a backend without the kind "
                 "is refused",
                 n, n == 1 ? "" : "s", n == 1 ? "its" : "their");
    else if (r == RES_OK)
        snprintf(msg, mn, "(no bad variant in this row) a backend without the kind is refused");
    return r;
}

/* ================================================================== training operations */

typedef int (*op_fn)(sbs_backend *be, char *msg, size_t mn);

static float *dev_copy(sbs_backend *be, const float *h, size_t n)
{
    float *d = be->alloc(be, (n ? n : 1) * sizeof(float));
    if (n) be->upload(be, d, h, n * sizeof(float));
    return d;
}

/* SPEC §2: mode 0 the mixed loss (c_mse (h - t)^2 + c_kl (t + 1e-20) log((t + 1e-20) /
 * (h + 1e-20))) / (c_mse + c_kl) summed over the batch; mode 1 cross-entropy of softmax(h),
 * the mean over the batch */
static double loss_ref(int mode, const float *out, const uint8_t *lab, int B, int n, double *g)
{
    double cm = 0.5, ck = 1.0, total = 0;
    for (int b = 0; b < B; b++) {
        const float *h = out + (size_t)b * n;
        if (mode == 1) {
            double mx = -INFINITY, z = 0;
            for (int k = 0; k < n; k++) mx = fmax(mx, h[k]);
            for (int k = 0; k < n; k++) z += exp(h[k] - mx);
            total += -(h[lab[b]] - mx - log(z)) / B;
            for (int k = 0; k < n; k++)
                g[(size_t)b * n + k] = (exp(h[k] - mx) / z - (k == lab[b])) / B;
        } else {
            for (int k = 0; k < n; k++) {
                double t = k == lab[b], hv = h[k];
                double kl = (t + 1e-20) * log((t + 1e-20) / (hv + 1e-20));
                total += (cm * (hv - t) * (hv - t) + ck * kl) / (cm + ck);
                g[(size_t)b * n + k] =
                    (2 * cm * (hv - t) - ck * (t + 1e-20) / (hv + 1e-20)) / (cm + ck);
            }
        }
    }
    return total;
}

/* the backend's loss op on what it holds (for central_diff) */
typedef struct {
    sbs_backend *be;
    const sbs_loss_args *a;
} backend_loss;

static double backend_loss_fn(void *p)
{
    backend_loss *b = p;
    return b->be->loss(b->be, b->a);
}

static int op_loss(sbs_backend *be, int mode, char *msg, size_t mn)
{
    enum { B = 5, NO = 10 };
    float out[B * NO];
    uint8_t lab[B] = {2, 0, 9, 4, 4};
    sbs_test_fill_key(out, B * NO, 41, (uint32_t)mode, 0, mode ? -3.0f : 0.02f, mode ? 3.0f : 1.0f);
    double gref[B * NO];
    double want = loss_ref(mode, out, lab, B, NO, gref);
    float *d_out = dev_copy(be, out, B * NO), *d_g = be->alloc(be, B * NO * sizeof(float));
    sbs_loss_args a = {.mode = mode,
                       .c_mse = 0.5f,
                       .c_kl = 1.0f,
                       .out = d_out,
                       .labels = lab,
                       .B = B,
                       .n_out = NO,
                       .gout = d_g};
    double got = be->loss(be, &a);
    float g[B * NO];
    be->download(be, g, d_g, sizeof g);
    int r = RES_OK;
    double gd = 0, gm = 0;
    for (int i = 0; i < B * NO; i++) {
        gd = fmax(gd, fabs(gref[i] - g[i]));
        gm = fmax(gm, fabs(gref[i]));
    }
    if (!(fabs(got - want) <= 1e-6 * fabs(want)) || gd > 1e-6 * gm) {
        snprintf(msg, mn, "loss %.10g vs formula %.10g; gradient max diff %.3g of %.3g", got, want,
                 gd, gm);
        r = RES_FAIL;
    }
    /* finite differences of the backend's own loss */
    double worst = 0;
    backend_loss bl = {be, &a};
    for (int i = 0; i < B * NO && r == RES_OK; i++) {
        float keep = out[i];
        double num =
            central_diff(be, d_out + i, keep, keep + 1e-3f, keep - 1e-3f, backend_loss_fn, &bl);
        double err = fabs(num - g[i]) / (1 + fabs(num));
        worst = fmax(worst, err);
        if (err > 1e-3) {
            snprintf(msg, mn, "out[%d]: numeric %g, backend %g", i, num, (double)g[i]);
            r = RES_FAIL;
        }
    }
    /* special values: a perfect prediction costs ~0 (mode 0), flat logits log(n) (mode 1) */
    if (r == RES_OK) {
        float sp[NO] = {0};
        uint8_t two = 2;
        if (mode == 0)
            sp[2] = 1.0f;
        else
            for (int k = 0; k < NO; k++) sp[k] = 1.0f;
        be->upload(be, d_out, sp, sizeof sp);
        sbs_loss_args p = a;
        p.labels = &two;
        p.B = 1;
        double v = be->loss(be, &p), expect = mode ? log((double)NO) : 0.0;
        if (fabs(v - expect) > 1e-7) {
            snprintf(msg, mn, "%s: %.10g, expected %.10g",
                     mode ? "flat logits" : "a perfect output", v, expect);
            r = RES_FAIL;
        }
    }
    if (r == RES_OK)
        snprintf(msg, mn, "loss rel diff %.1g, gradient %.1g of %.2g, differences worst %.1g",
                 fabs(got - want) / fabs(want), gd, gm, worst);
    be->free(be, d_out);
    be->free(be, d_g);
    return r;
}

static int op_loss0(sbs_backend *be, char *msg, size_t mn)
{
    return op_loss(be, 0, msg, mn);
}
static int op_loss1(sbs_backend *be, char *msg, size_t mn)
{
    return op_loss(be, 1, msg, mn);
}

static int op_absmax_scale_add(sbs_backend *be, char *msg, size_t mn)
{
    const size_t n = 10007; /* more than one of the CPU's 4096-value ranges */
    float *v = xmalloc(n * 4), *w = xmalloc(n * 4), *got = xmalloc(n * 4);
    sbs_test_fill_key(v, n, 51, 1, 0, -2.0f, 2.0f);
    sbs_test_fill_key(w, n, 51, 2, 0, -1.0f, 1.0f);
    v[7777] = -3.5f; /* the largest magnitude is negative */
    float *dv = dev_copy(be, v, n), *dw = dev_copy(be, w, n);
    int r = RES_OK;
    float m = be->absmax(be, dv, n), m0 = be->absmax(be, dv, 0);
    if (m != 3.5f || m0 != 0.0f) {
        snprintf(msg, mn, "absmax %g (expected 3.5), of 0 values %g (expected 0)", m, m0);
        r = RES_FAIL;
    }
    be->scale(be, dv, n, 0.37f);
    be->download(be, got, dv, n * 4);
    for (size_t i = 0; i < n && r == RES_OK; i++) {
        float want = v[i] * 0.37f;
        if (memcmp(&want, &got[i], 4)) {
            snprintf(msg, mn, "scale: [%zu] %a, expected %a", i, (double)got[i], (double)want);
            r = RES_FAIL;
        }
        v[i] = want;
    }
    be->add(be, dv, dw, n);
    be->add(be, dv, dw, n);
    be->download(be, got, dv, n * 4);
    for (size_t i = 0; i < n && r == RES_OK; i++) {
        float want = (v[i] + w[i]) + w[i];
        if (memcmp(&want, &got[i], 4)) {
            snprintf(msg, mn, "add: [%zu] %a, expected %a", i, (double)got[i], (double)want);
            r = RES_FAIL;
        }
    }
    if (r == RES_OK)
        snprintf(msg, mn, "absmax, scale, add bitwise as float arithmetic (%zu values)", n);
    be->free(be, dv);
    be->free(be, dw);
    free(v);
    free(w);
    free(got);
    return r;
}

/* SPEC §2's update in double, as the backend table describes it (backend.h); regular[n]
 * (when given) says whether column n came out of the step with weights >= 0 and a sum > 0
 * (not after a NaN, or an SGD step that made weights negative), so that its first
 * normalisation made it a distribution */
static void update_ref(const sbs_update_args *a, float *w, float *m, float *v, const float *g,
                       bool *regular)
{
    for (size_t i = 0; i < a->n; i++) {
        double gi = g[i] * a->grad_mul;
        if (a->adam) {
            m[i] = (float)(0.9 * m[i] + 0.1 * gi);
            v[i] = (float)(0.999 * v[i] + 0.001 * gi * gi);
            double step = a->lr_t * m[i] / (sqrt((double)v[i]) / a->c2 + 1e-8);
            w[i] = (float)(a->multiplicative ? w[i] * (1.0 + 0.5 * tanh(-step)) : w[i] - step);
        } else {
            w[i] = (float)(w[i] - a->lr * gi);
        }
    }
    if (!a->care) return;
    for (int pass = 0; pass < 2; pass++) {
        for (int n = 0; n < a->N; n++) {
            double s = 0;
            for (int i = 0; i < a->K; i++) s += w[(size_t)i * a->ldw + n];
            if (pass == 0 && regular) {
                regular[n] = s > 0;
                for (int i = 0; i < a->K; i++) regular[n] &= w[(size_t)i * a->ldw + n] >= 0.0f;
            }
            for (int i = 0; i < a->K && s > 0; i++)
                w[(size_t)i * a->ldw + n] = (float)(w[(size_t)i * a->ldw + n] / s);
        }
        if (pass == 0)
            for (int i = 0; i < a->K; i++) {
                for (int n = 0; n < a->N; n++) {
                    float *x = &w[(size_t)i * a->ldw + n];
                    if (!(*x >= a->floor_w)) *x = a->floor_w;
                }
                for (int n = a->N; n < a->ldw; n++) w[(size_t)i * a->ldw + n] = 0.0f;
            }
    }
}

static int op_update(sbs_backend *be, bool adam, bool mult, bool care, char *msg, size_t mn)
{
    enum { K = 7, N = 5, LDW = 16 };
    size_t n = care ? (size_t)K * LDW : 37;
    float *w = xmalloc(n * 4), *m = xmalloc(n * 4), *v = xmalloc(n * 4), *g = xmalloc(n * 4);
    sbs_test_fill_key(w, n, 61, 1, 0, care ? 0.0f : -1.0f, 1.0f);
    sbs_test_fill_key(g, n, 61, 2, 0, -50.0f, 50.0f);
    sbs_test_fill_key(m, n, 61, 3, 0, -0.1f, 0.1f);
    sbs_test_fill_key(v, n, 61, 4, 0, 0.0f, 0.01f);
    if (care) {
        for (int i = 0; i < K; i++)
            for (int k = N; k < LDW; k++) w[(size_t)i * LDW + k] = 0.0f;
        w[3 * LDW + 1] = 1e-9f; /* falls under the floor */
        g[2 * LDW + 4] = NAN;   /* a NaN weight is replaced by the floor */
    }
    sbs_update_args a = {.n = n,
                         .adam = adam,
                         .multiplicative = mult,
                         .grad_mul = 1.0 / 3,
                         .lr = 0.05,
                         .lr_t = 0.05 / (1 - 0.9 * 0.9),
                         .c2 = sqrt(1 - pow(0.999, 2)),
                         .care = care,
                         .K = K,
                         .N = N,
                         .ldw = LDW,
                         .floor_w = 2e-3f};
    sbs_update_args d = a;
    d.w = dev_copy(be, w, n);
    d.g = dev_copy(be, g, n);
    d.m = dev_copy(be, m, n);
    d.v = dev_copy(be, v, n);
    be->update(be, &d);
    float *gw = xmalloc(n * 4), *gm = xmalloc(n * 4), *gv = xmalloc(n * 4);
    be->download(be, gw, d.w, n * 4);
    be->download(be, gm, d.m, n * 4);
    be->download(be, gv, d.v, n * 4);
    bool regular[N];
    update_ref(&a, w, m, v, g, regular);
    int r = RES_OK;
    double dw = 0, dm = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(w[i]) != isnan(gw[i]))
            dw = INFINITY;
        else if (!isnan(w[i]))
            dw = fmax(dw, fabs((double)w[i] - gw[i]) / fmax(1e-3, fabs(w[i])));
        if (adam && !isnan(m[i]))
            dm = fmax(dm, fmax(fabs((double)m[i] - gm[i]) / fmax(1e-6, fabs(m[i])),
                               fabs((double)v[i] - gv[i]) / fmax(1e-9, fabs(v[i]))));
    }
    if (dw > 1e-5 || dm > 1e-6) {
        snprintf(msg, mn, "vs the scalar update: weights rel %.3g, moments rel %.3g", dw, dm);
        r = RES_FAIL;
    }
    /* the weight care invariants themselves: columns sum to 1; in a regular column the clamp
     * raised the sum of a distribution to at most 1 + K floor before the last normalisation,
     * so no weight ends below floor / (1 + K floor) */
    double lowest = a.floor_w / (1.0 + K * (double)a.floor_w) * (1 - 1e-6);
    if (care && r == RES_OK)
        for (int k = 0; k < N && r == RES_OK; k++) {
            double s = 0;
            for (int i = 0; i < K; i++) {
                float x = gw[(size_t)i * LDW + k];
                s += x;
                if (regular[k] && !(x >= lowest) && r == RES_OK) {
                    snprintf(msg, mn, "w[%d, %d] = %g below floor / (1 + K floor) = %g", i, k, x,
                             lowest);
                    r = RES_FAIL;
                }
            }
            for (int i = 0; i < K; i++)
                for (int p = N; p < LDW; p++)
                    if (gw[(size_t)i * LDW + p] != 0.0f && r == RES_OK) {
                        snprintf(msg, mn, "padding column %d is not 0", p);
                        r = RES_FAIL;
                    }
            if (fabs(s - 1.0) > 1e-5 && r == RES_OK) {
                snprintf(msg, mn, "column %d sums to %.8f, not 1", k, s);
                r = RES_FAIL;
            }
        }
    if (r == RES_OK)
        snprintf(msg, mn, "weights rel %.1g, moments rel %.1g vs the scalar update%s", dw, dm,
                 care ? "; columns sum to 1, none under the floor, padding 0" : "");
    be->free(be, d.w);
    be->free(be, d.g);
    be->free(be, d.m);
    be->free(be, d.v);
    free(w);
    free(m);
    free(v);
    free(g);
    free(gw);
    free(gm);
    free(gv);
    return r;
}

static int op_adam_mult(sbs_backend *be, char *msg, size_t mn)
{
    return op_update(be, true, true, true, msg, mn);
}
static int op_adam_add(sbs_backend *be, char *msg, size_t mn)
{
    return op_update(be, true, false, false, msg, mn);
}
static int op_sgd(sbs_backend *be, char *msg, size_t mn)
{
    return op_update(be, false, false, false, msg, mn);
}
static int op_sgd_care(sbs_backend *be, char *msg, size_t mn)
{
    return op_update(be, false, true, true, msg, mn);
}

static int op_nonfinite(sbs_backend *be, char *msg, size_t mn)
{
    const size_t n = 9001;
    float *v = xmalloc(n * 4);
    sbs_test_fill_key(v, n, 71, 1, 0, -1e30f, 1e30f);
    float *d = dev_copy(be, v, n);
    long r0 = be->find_nonfinite(be, d, n), rz = be->find_nonfinite(be, d, 0);
    float nan = NAN, inf = -INFINITY;
    be->upload(be, d + 5000, &nan, 4);
    long r1 = be->find_nonfinite(be, d, n);
    be->upload(be, d + 17, &inf, 4);
    long r2 = be->find_nonfinite(be, d, n), r3 = be->find_nonfinite(be, d + 18, n - 18);
    be->free(be, d);
    free(v);
    if (r0 != -1 || rz != -1 || r1 != 5000 || r2 != 17 || r3 != 5000 - 18) {
        snprintf(msg, mn, "found %ld, %ld, %ld, %ld, %ld; expected -1, -1, 5000, 17, 4982", r0, rz,
                 r1, r2, r3);
        return RES_FAIL;
    }
    snprintf(msg, mn, "none, NaN, -inf first, empty: the first index every time");
    return RES_OK;
}

static const struct {
    const char *name;
    op_fn fn;
} ops[] = {
    {"op: loss mode 0 (mixed, 5 x 10)", op_loss0},
    {"op: loss mode 1 (cross-entropy, 5 x 10)", op_loss1},
    {"op: absmax, scale, add", op_absmax_scale_add},
    {"op: update Adam multiplicative + care", op_adam_mult},
    {"op: update Adam additive", op_adam_add},
    {"op: update SGD", op_sgd},
    {"op: update SGD + care", op_sgd_care},
    {"op: find_nonfinite", op_nonfinite},
};
#define N_OPS (int)(sizeof ops / sizeof *ops)

/* ================================================================== the NNMF oracle itself */

/* the oracle's reverse mode against central differences of the oracle forward (double) */
static int oracle_selfcheck(char *msg, size_t mn)
{
    double worst = 0;
    for (int variant = 0; variant < 2; variant++) {
        sbs_geom g;
        sbs_geom_init(&g, 2, 4, 3, 2, 2, 1, 1, 1, 1, 1, 0);
        ogeom o;
        int N = 4;
        ogeom_init(&o, &g, N, 6, variant ? 0.0 : 0.7);
        int K = o.K, M = o.M;
        size_t in = 2 * 4 * 3;
        double *W = xmalloc((size_t)K * N * sizeof *W), *x = xmalloc(in * sizeof *x);
        double *gh = xmalloc((size_t)N * M * sizeof *gh), *h = xmalloc((size_t)N * M * sizeof *h);
        sbs_stream st;
        sbs_stream_init(&st, 5, SBS_RNG_INIT, 1, (uint32_t)variant);
        for (int i = 0; i < K * N; i++) W[i] = 0.1 + sbs_stream_u01(&st);
        for (size_t i = 0; i < in; i++) x[i] = 0.05 + sbs_stream_u01(&st);
        for (int i = 0; i < N * M; i++) gh[i] = 2 * sbs_stream_u01(&st) - 1;
        double *dx = xcalloc(in, sizeof *dx), *dW = xcalloc((size_t)K * N, sizeof *dW);
        oracle_backward(&o, W, x, gh, dx, dW);
        for (int pass = 0; pass < 2; pass++) {
            double *v = pass ? x : W, *ana = pass ? dx : dW;
            size_t n = pass ? in : (size_t)K * N;
            for (size_t i = 0; i < n; i++) {
                double keep = v[i], lp = 0, lm = 0;
                v[i] = keep + 1e-6;
                oracle_forward(&o, W, x, h);
                for (int j = 0; j < N * M; j++) lp += gh[j] * h[j];
                v[i] = keep - 1e-6;
                oracle_forward(&o, W, x, h);
                for (int j = 0; j < N * M; j++) lm += gh[j] * h[j];
                v[i] = keep;
                double num = (lp - lm) / 2e-6;
                worst = fmax(worst, fabs(num - ana[i]) / fmax(1e-6, fabs(num) + fabs(ana[i])));
            }
        }
        free(W);
        free(x);
        free(gh);
        free(h);
        free(dx);
        free(dW);
        free(o.idx);
    }
    snprintf(msg, mn, "reverse mode vs double differences: worst rel %.1g (eps 0.7 and 0)", worst);
    return worst < 1e-6 ? RES_OK : RES_FAIL;
}

/* ================================================================== main */

static bool match(const char *filter, const char *s)
{
    return !filter || strstr(s, filter);
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-k CASE-TEXT] [-b BACKEND-TEXT] [-c CHECK]\n", argv0);
    exit(2);
}

static void find_backends(void)
{
    for (int i = 0; i < SBS_TEST_N_SIMD; i++) {
        bk *b = &g_bk[g_nbk++];
        const char *lvl = sbs_cpu_simd_levels[SBS_TEST_N_SIMD - 1 - i]; /* scalar first */
        snprintf(b->label, sizeof b->label, "cpu/%s", lvl);
        b->name = "cpu";
        b->simd = lvl;
        if (!sbs_cpu_simd_supported(lvl)) {
            snprintf(b->why, sizeof b->why, "this CPU cannot run %s", lvl);
            continue;
        }
        sbs_err e;
        b->be = make_backend(b, DEFAULT_THREADS, &e);
        if (!b->be) snprintf(b->why, sizeof b->why, "%s", e.msg);
    }
    for (size_t i = 0; i < N_DEVICE; i++) {
        bk *b = &g_bk[g_nbk++];
        snprintf(b->label, sizeof b->label, "%s", device_backends[i]);
        b->name = device_backends[i];
        sbs_err e;
        b->be = make_backend(b, DEFAULT_THREADS, &e);
        if (!b->be) snprintf(b->why, sizeof b->why, "%s", e.msg);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "-k"))
            g_fcase = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "-b"))
            g_fbk = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "-c"))
            g_fcheck = argv[++i];
        else
            usage(argv[0]);
    }
    double t0 = sbs_now();
    find_backends();
    const char *req = getenv("SBS_REQUIRE_GPU");
    bool require_gpu = req && !strcmp(req, "1");
    printf("backends:\n");
    for (int i = 0; i < g_nbk; i++) {
        if (g_bk[i].be)
            printf("  %-10s %s%s\n", g_bk[i].label, g_bk[i].be->describe(g_bk[i].be),
                   i == 0 ? "  (the reference)" : "");
        else
            printf("  %-10s absent: %s\n", g_bk[i].label, g_bk[i].why);
    }
    if (!g_bk[0].be) {
        printf("FAIL the reference backend cpu/scalar is missing: %s\n", g_bk[0].why);
        return 1;
    }
    for (int i = 0; i < g_nbk; i++)
        if (!g_bk[i].be && !g_bk[i].simd && require_gpu)
            report("SBS_REQUIRE_GPU=1", g_bk[i].label, "-", RES_FAIL, "no %s backend: %s",
                   g_bk[i].label, g_bk[i].why);

    /* every layer kind has a row */
    char msg[1200];
    for (int k = 0; k < SBS_L_COUNT; k++) {
        bool found = false;
        for (int ci = 0; ci < N_CASES; ci++) found |= (int)cases[ci].kind == k;
        if (!found)
            report("coverage", "-", "table", RES_FAIL, "layer kind %s has no row in the table",
                   sbs_layer_kind_name((sbs_layer_kind)k));
    }
    for (int ci = 0; ci < N_CASES; ci++)
        if (cases[ci].B > (int)sizeof((ctx *)0)->labels)
            report(cases[ci].name, "-", "table", RES_FAIL, "B %d: at most %zu images a row",
                   cases[ci].B, sizeof((ctx *)0)->labels);
    /* the lines that need no backend run unless a backend was chosen (-b) */
    if (!g_fbk && match(g_fcase, "NNMF oracle") && match(g_fcheck, "oracle")) {
        int r = oracle_selfcheck(msg, sizeof msg);
        report("NNMF oracle (the harness's reference)", "-", "oracle", r, "%s", msg);
    }

    for (int ci = 0; ci < N_CASES; ci++) {
        const tcase *tc = &cases[ci];
        if (!match(g_fcase, tc->name)) continue;
        if (!g_fbk && match(g_fcheck, "plan")) {
            int r = check_plan(ci, g_bk[0].be, msg, sizeof msg);
            report(tc->name, "-", "plan", r, "%s", msg);
        }
        case_store cs = {{0}};
        for (int bi = 0; bi < g_nbk; bi++) {
            bk *b = &g_bk[bi];
            /* xbackend compares with the reference's forward and, for a device backend, with
             * cpu/avx512's or cpu/avx2's: those run (silently) even when -b leaves them out */
            bool shown = match(g_fbk, b->label);
            bool feeds = bi == 0 || (b->simd && strcmp(b->simd, "scalar"));
            if (!shown && !feeds) continue;
            if (!b->be) {
                if (shown) report(tc->name, b->label, "*", RES_SKIP, "absent: %s", b->why);
                continue;
            }
            int r;
            char why[1200];
            ctx *c = ctx_open(ci, b->be, 3, &r, why, sizeof why);
            if (!c) {
                if (shown) report(tc->name, b->label, "*", r, "%s", why);
                continue;
            }
            for (int k = 0; k < N_CHECKS; k++) {
                bool want = match(g_fcheck, checks[k].name);
                bool need = k == 0 && (!g_fcheck || !strcmp(g_fcheck, "xbackend"));
                if (!(shown && want) && !need) continue;
                msg[0] = 0;
                r = checks[k].fn(c, b, bi, &cs, msg, sizeof msg);
                if (shown && want) report(tc->name, b->label, checks[k].name, r, "%s", msg);
            }
            ctx_close(c);
        }
        for (int bi = 0; bi < g_nbk; bi++) free(cs.fwd_out[bi]);
    }

    for (int oi = 0; oi < N_OPS; oi++) {
        if (!match(g_fcase, ops[oi].name) || !match(g_fcheck, "op")) continue;
        for (int bi = 0; bi < g_nbk; bi++) {
            bk *b = &g_bk[bi];
            if (!match(g_fbk, b->label)) continue;
            if (!b->be) {
                report(ops[oi].name, b->label, "op", RES_SKIP, "absent: %s", b->why);
                continue;
            }
            msg[0] = 0;
            int r = ops[oi].fn(b->be, msg, sizeof msg);
            report(ops[oi].name, b->label, "op", r, "%s", msg);
        }
    }

    for (int i = 0; i < g_nbk; i++) sbs_backend_destroy(g_bk[i].be);
    printf("%d ok, %d FAIL, %d skipped (%d cases x %d backends x %d checks, %d training ops) "
           "in %.1f s\n",
           g_ok, g_fail, g_skip, N_CASES, g_nbk, N_CHECKS + 1, N_OPS, sbs_now() - t0);
    if (g_fail) return 1;
    if (g_ok == 0) {
        printf("nothing could run\n");
        return 77;
    }
    return 0;
}
