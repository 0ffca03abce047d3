/* test_plan.c — the network plan without and with its parameters (net.h): a shapes-only plan
 * (sbs_net_plan_shapes) allocates nothing, has the full plan's layout and memory figure, and
 * sbs_net_alloc_params then gives the full plan's parameters, bit for bit (zeros, SbS
 * POOLING's fixed weights, the step sizes), for every layer kind; a plan far larger than the
 * process may allocate (8 GiB of weights under a 256 MiB address-space limit) is made and
 * measured; sizes beyond an int are refused with the layer and key named, and the memory
 * figure saturates instead of wrapping. */
#include "sbs_test.h"

#include "child.h"

#include <limits.h>
#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

typedef struct {
    const char *name;
    sbs_test_layer ls[6];
    int n, n_out, C, H, W;
} plan_case;

/* every layer kind, in nets small enough to plan fully */
static const plan_case nets[] = {
    {"ONOFF, INPUT SPIKE IMAGE, SbS POOLING, SbS, AVERAGE POOLING",
     {{.kind = SBS_L_ONOFF},
      {.kind = SBS_L_INPUT_SPIKE_IMAGE},
      {.kind = SBS_L_SBS_POOLING, .in = 4, .out = 4, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_SBS, .in = 4, .out = 6, .k = {2, 2}, .s = {2, 2}, .cool = 5},
      {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}, .s = {2, 2}}},
     5,
     6,
     2,
     8,
     8},
    {"CONV2D, RELU, MAX POOLING, APPROX CONV2D",
     {{.kind = SBS_L_CONV2D, .in = 2, .out = 5, .k = {3, 3}, .p = {1, 1}},
      {.kind = SBS_L_RELU},
      {.kind = SBS_L_MAX_POOLING, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_APPROX_CONV2D,
       .in = 5,
       .out = 4,
       .k = {3, 3},
       .approx = true,
       .frac = 12,
       .trunc = 2}},
     4,
     4,
     2,
     6,
     6},
    {"NNMF, BP SBS NNMF, SbS LOCAL",
     {{.kind = SBS_L_NNMF, .in = 1, .out = 5, .k = {3, 3}},
      {.kind = SBS_L_BP_SBS_NNMF, .in = 5, .out = 6, .k = {2, 2}, .s = {2, 2}},
      {.kind = SBS_L_SBS_LOCAL, .in = 6, .out = 7, .k = {2, 2}}},
     3,
     7,
     1,
     6,
     6},
    {"POISSON, SbS (full-layer spikes), RECONSTRUCTION",
     {{.kind = SBS_L_POISSON},
      {.kind = SBS_L_SBS, .in = 1, .out = 5, .k = {3, 3}, .full = true},
      {.kind = SBS_L_RECONSTRUCTION}},
     3,
     0,
     1,
     6,
     6},
};

static int one_net(const plan_case *pc)
{
    static sbs_config cfg;
    sbs_test_config(&cfg, pc->ls, pc->n, pc->n_out, 24);
    sbs_net a, b;
    sbs_err e;
    CHECK(sbs_net_plan_shapes(&a, &cfg, pc->C, pc->H, pc->W, &e) == 0, "%s: %s", pc->name, e.msg);
    CHECK(a.params == NULL, "%s: a shapes-only plan has no parameters", pc->name);
    for (int l = 0; l < a.n; l++)
        CHECK(!a.L[l].weight && !a.L[l].bias && !a.L[l].eps, "%s: layer %d has memory", pc->name,
              l);
    CHECK(sbs_net_plan(&b, &cfg, pc->C, pc->H, pc->W, &e) == 0, "%s: %s", pc->name, e.msg);
    CHECK(a.n_params == b.n_params && a.n_params > 0, "%s: n_params %zu vs %zu", pc->name,
          a.n_params, b.n_params);
    CHECK(sbs_net_memory(&a, 7, true) == sbs_net_memory(&b, 7, true) &&
              sbs_net_memory(&a, 3, false) == sbs_net_memory(&b, 3, false),
          "%s: memory differs", pc->name);
    for (int l = 0; l < a.n; l++) {
        const sbs_layer *La = &a.L[l], *Lb = &b.L[l];
        CHECK(La->w_off == Lb->w_off && La->b_off == Lb->b_off && La->w_off % 16 == 0 &&
                  La->b_off % 16 == 0,
              "%s: layer %d's offsets", pc->name, l);
        CHECK((Lb->weight != NULL) == La->has_weights && (Lb->bias != NULL) == (La->n_b > 0),
              "%s: layer %d's views", pc->name, l);
        CHECK((Lb->eps != NULL) == (La->T > 0), "%s: layer %d's step sizes", pc->name, l);
    }
    sbs_net_alloc_params(&a);
    CHECK(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0,
          "%s: shapes + alloc differs from the plan", pc->name);
    /* what the plan wrote before the split: zeros, SbS POOLING's 1/(kx ky) from each channel's
     * window to its neuron, the step sizes */
    float *want = calloc(a.n_params ? a.n_params : 1, sizeof(float));
    for (int l = 0; l < a.n; l++) {
        const sbs_layer *L = &a.L[l];
        if (L->kind == SBS_L_SBS_POOLING) {
            int k = L->g.kx * L->g.ky;
            for (int ch = 0; ch < L->C; ch++)
                for (int j = 0; j < k; j++)
                    want[L->w_off + (size_t)(ch * k + j) * L->ldw + ch] = 1.0f / k;
        }
        if (L->T > 0) {
            float eps[64];
            const sbs_layer_cfg *c = L->cfg;
            sbs_eps_table(c->epsilon_0, c->cooldown_after_number_of_spikes, c->reduction_cooldown,
                          L->T, eps);
            CHECK(memcmp(eps, L->eps, (size_t)L->T * sizeof(float)) == 0,
                  "%s: layer %d's step sizes", pc->name, l);
        }
    }
    int same = memcmp(want, a.params, a.n_params * sizeof(float)) == 0;
    free(want);
    CHECK(same, "%s: the parameters are not zeros and SbS POOLING's fixed weights", pc->name);
    printf("    %s: %zu parameter floats\n", pc->name, b.n_params);
    sbs_net_free(&a);
    sbs_net_free(&b);
    CHECK(a.L == NULL && b.L == NULL, "sbs_net_free leaves the net empty");
    return 0;
}

static int test_shapes_then_params(void)
{
    for (size_t i = 0; i < sizeof nets / sizeof *nets; i++)
        if (one_net(&nets[i]) != 0) return 1;
    return 0;
}

/* 512 x 505 x 505 input, SbS to 10 neurons with a 505 x 505 kernel: K = 130,572,800,
 * K x 16 = 2,089,164,800 weight floats (7.8 GiB), just within SBS_MAX_COUNT */
static void huge_cfg(sbs_config *cfg)
{
    static const sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 512, .out = 10, .k = {505, 505}}};
    sbs_test_config(cfg, ls, 1, 10, 100);
}

static void huge_child(void *ctx, char *msg, size_t n)
{
    (void)ctx;
    static sbs_config cfg;
    huge_cfg(&cfg);
    struct rlimit rl = {(rlim_t)256 << 20, (rlim_t)256 << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        snprintf(msg, n, "setrlimit: %s", strerror(errno));
        _exit(77);
    }
    sbs_net net;
    sbs_err e;
    if (sbs_net_plan_shapes(&net, &cfg, 512, 505, 505, &e) != 0) {
        snprintf(msg, n, "FAIL plan: %s", e.msg);
        return;
    }
    size_t m = sbs_net_memory(&net, 64, true);
    bool ok = net.params == NULL && net.L[0].weight == NULL &&
              net.n_params == (size_t)130572800 * 16 && m > 5 * net.n_params * sizeof(float);
    snprintf(msg, n, "%s %zu parameter floats, %.1f GiB for batch 64 in training",
             ok ? "ok" : "FAIL", net.n_params, m / 1073741824.0);
    sbs_net_free(&net);
}

static int test_huge_shapes(void)
{
    if (UNDER_ASAN) { /* ASan reserves terabytes of address space: no RLIMIT_AS */
        static sbs_config cfg;
        huge_cfg(&cfg);
        sbs_net net;
        sbs_err e;
        CHECK(sbs_net_plan_shapes(&net, &cfg, 512, 505, 505, &e) == 0, "%s", e.msg);
        CHECK(net.params == NULL, "no parameters");
        sbs_net_free(&net);
        printf("    (under ASan: planned without the address-space limit)\n");
        return 0;
    }
    char msg[2048];
    int st = sbs_run_in_child(huge_child, NULL, 60, msg, sizeof msg);
    printf("    %s\n", msg);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        printf("    skipped: %s\n", msg);
        return 0;
    }
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strncmp(msg, "ok ", 3),
          "a 7.8 GiB plan must be made under a 256 MiB address-space limit (status %d)", st);
    return 0;
}

typedef struct {
    const char *name;
    sbs_test_layer ls[2];
    int n, C, H, W, T;
    const char *want[3]; /* the message names these */
} refusal;

static const refusal refusals[] = {
    {"input beyond an int",
     {{.kind = SBS_L_RELU}},
     1,
     1,
     65536,
     65536,
     8,
     {"the input 1 x 65536 x 65536 = 4294967296 values", "more than 2147483647"}},
    {"window beyond an int",
     {{.kind = SBS_L_SBS, .in = 4104, .out = 10, .k = {1023, 1023}, .p = {510, 510}}},
     1,
     4104,
     4,
     4,
     8,
     {"forward_kernel_size[0]", "window 4104 x 1023 x 1023 = 4294955016", "2147483647"}},
    {"weights beyond an int",
     {{.kind = SBS_L_CONV2D, .in = 3, .out = 1000000, .k = {1000, 1000}}},
     1,
     3,
     1000,
     1000,
     8,
     {"forward_neuron_numbers[0]", "3000000 x 1000000", "weights"}},
    {"output beyond an int",
     {{.kind = SBS_L_CONV2D, .in = 1, .out = 1000000, .k = {1, 1}, .p = {1024, 1024}}},
     1,
     1,
     8,
     8,
     8,
     {"forward_neuron_numbers[0]", "1000000 x 2056 x 2056", "values per image"}},
    {"padded input beyond an int",
     {{.kind = SBS_L_MAX_POOLING, .k = {1, 1}, .p = {1024, 0}}},
     1,
     1,
     INT_MAX - 1000,
     1,
     8,
     {"padding[0]", "padded input 2147484695", "2147483647"}},
    {"positions beyond an int",
     {{.kind = SBS_L_AVERAGE_POOLING, .k = {1, 1}, .p = {1024, 1024}}},
     1,
     1,
     45000,
     45000,
     8,
     {"padding[0]", "output positions", "2147483647"}},
    {"ONOFF doubling beyond an int",
     {{.kind = SBS_L_ONOFF}},
     1,
     (1 << 30) + 1,
     1,
     1,
     8,
     {"layer_type[0]", "ONOFF doubles", "2147483650"}},
    {"full-layer spike routes beyond an int",
     {{.kind = SBS_L_SBS, .in = 1, .out = 10, .k = {16, 16}, .full = true}},
     1,
     1,
     16,
     16,
     10000000,
     {"number_of_spikes[0]", "10000000 spikes x 16x16", "2560000000"}},
};

static int test_refusals(void)
{
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        const refusal *r = &refusals[i];
        static sbs_config cfg;
        int n_out = r->ls[r->n - 1].out ? r->ls[r->n - 1].out : r->C;
        sbs_test_config(&cfg, r->ls, r->n, n_out, r->T);
        sbs_net net;
        sbs_err e = {{0}};
        CHECK(sbs_net_plan_shapes(&net, &cfg, r->C, r->H, r->W, &e) != 0, "%s: accepted", r->name);
        CHECK(net.L == NULL, "%s: a failed plan leaves nothing", r->name);
        for (int k = 0; k < 3 && r->want[k]; k++)
            CHECK(strstr(e.msg, r->want[k]) != NULL, "%s: '%s' not in: %s", r->name, r->want[k],
                  e.msg);
        printf("    %s: %s\n", r->name, e.msg);
    }
    /* the geometry in 64-bit: sizes beyond an int are -2 / -1, never wrapped */
    sbs_geom g;
    CHECK(sbs_geom_init(&g, 4104, 4, 4, 1023, 1023, 1, 1, 1, 1, 510, 510) == -2, "K wraps");
    CHECK(sbs_geom_init(&g, 1, INT_MAX - 10, 1, 1, 1, 1, 1, 1, 1, 100, 0) == -2, "X wraps");
    CHECK(sbs_out_size(INT_MAX - 10, 1, 1, 1, 100) == -1, "out size beyond an int");
    CHECK(sbs_out_size(INT_MAX, INT_MAX, 1, INT_MAX, 0) <= 0, "d(k-1) wraps");
    CHECK(sbs_geom_init(&g, 3, 7, 9, 3, 2, 2, 3, 2, 1, 1, 2) == 0 && g.K == 18, "a small one");
    return 0;
}

/* 1 x 46000 x 46000 images through 7 RELU, then two AVERAGE POOLING to 1 x 1 x 1: eight
 * activations of 2,116,000,000 floats per image; at a batch of INT_MAX the bytes are about
 * 3e20, beyond a size_t */
static int test_memory_saturates(void)
{
    sbs_test_layer ls[9];
    memset(ls, 0, sizeof ls);
    for (int l = 0; l < 7; l++) ls[l].kind = SBS_L_RELU;
    ls[7] = (sbs_test_layer){.kind = SBS_L_AVERAGE_POOLING, .k = {1024, 1024}, .s = {1024, 1024}};
    ls[8] = (sbs_test_layer){.kind = SBS_L_AVERAGE_POOLING, .k = {44, 44}};
    static sbs_config cfg;
    sbs_test_config(&cfg, ls, 9, 1, 8);
    sbs_net net;
    sbs_err e;
    CHECK(sbs_net_plan_shapes(&net, &cfg, 1, 46000, 46000, &e) == 0, "%s", e.msg);
    size_t act = 8 * (size_t)46000 * 46000 + 44 * 44 + 1;
    size_t m64 = sbs_net_memory(&net, 64, true), mmax = sbs_net_memory(&net, INT_MAX, true);
    sbs_net_free(&net);
    CHECK(m64 == (act * 64 * 2 + 64) * sizeof(float), "batch 64: %zu bytes", m64);
    CHECK(mmax == SBS_MEM_HUGE, "batch INT_MAX: %zu bytes, expected the cap %zu", mmax,
          (size_t)SBS_MEM_HUGE);
    size_t sum;
    CHECK(sbs_add_size(mmax, SBS_MEM_HUGE, &sum), "two figures add without a wrap");
    printf("    batch 64: %.1f GiB; batch %d: capped at %.2f EiB\n", m64 / 1073741824.0, INT_MAX,
           mmax / (1073741824.0 * 1073741824.0));
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"shapes-only plan, then its parameters == the plan (every layer kind)",
         test_shapes_then_params},
        {"a 7.8 GiB plan under a 256 MiB address-space limit", test_huge_shapes},
        {"sizes beyond an int are refused, naming layer and key", test_refusals},
        {"memory figure saturates, never wraps", test_memory_saturates},
    };
    return SBS_TEST_RUN(cases);
}
