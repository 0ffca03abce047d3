/* test_grad.c — gradients: the sgemm SbS backward against the double-precision oracle of the
 * same formulas; classic layers (conv, ReLU, max/avg pooling) and both losses by finite
 * differences; gradient accumulation over threads is bitwise invariant. */
#include "sbs/rng.h"
#include "sbs/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("    FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
            printf(__VA_ARGS__);                                                          \
            printf("\n");                                                                 \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

typedef struct { int kind, in, out, k[2], s[2], d[2], p[2]; } lspec;

static int make_net(sbs_config *cfg, sbs_net *net, const lspec *ls, int n, int n_out, int C,
                    int H, int W, int T)
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
        c->in = ls[l].in;
        c->out = ls[l].out;
        for (int a = 0; a < 2; a++) {
            c->kernel[a] = ls[l].k[a] ? ls[l].k[a] : 1;
            c->stride[a] = ls[l].s[a] ? ls[l].s[a] : 1;
            c->dilation[a] = ls[l].d[a] ? ls[l].d[a] : 1;
            c->padding[a] = ls[l].p[a];
        }
        c->spikes = T;
        c->epsilon_0 = 1.0f;
        c->forgetting_offset = -1.0f;
        c->cooldown_after_number_of_spikes = -1;
        c->reduction_cooldown = 25.0f;
        c->w_trainable = true;
    }
    sbs_err e;
    if (sbs_net_plan(net, cfg, C, H, W, &e) != 0) {
        printf("    plan: %s\n", e.msg);
        return -1;
    }
    sbs_net_init_weights(net, 3);
    return 0;
}

static void fill(float *x, size_t n, uint32_t a, float lo, float hi)
{
    sbs_stream st;
    sbs_stream_init(&st, 77, SBS_RNG_INIT, a, 9);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)sbs_stream_u01(&st);
}

static int test_sbs_vs_oracle(void)
{
    static sbs_config cfg;
    sbs_net net;
    /* RELU -> SbS 3x2 (2->12, 7x6 -> stride/pad/dilation) -> AVG POOL to 1x1 */
    lspec ls[] = {{SBS_L_RELU, -1, -1, {0}, {0}, {0}, {0}},
                  {SBS_L_SBS, 2, 12, {3, 2}, {1, 2}, {1, 2}, {1, 0}},
                  {SBS_L_AVERAGE_POOLING, -1, -1, {7, 2}, {1, 1}, {0}, {0}}};
    CHECK(make_net(&cfg, &net, ls, 3, 12, 2, 7, 6, 50) == 0, "plan");
    const int B = 3;
    sbs_backend *be = sbs_cpu_backend_create(2, "auto");
    sbs_net_bind(&net, be, B);
    sbs_trainer_state s;
    sbs_grad_init(&s, &net);
    size_t nx = (size_t)B * 2 * 7 * 6;
    float *x = malloc(nx * 4);
    fill(x, nx, 1, 0.0f, 1.0f);
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    float *gout = s.gact[net.n];
    fill(gout, (size_t)B * 12, 2, -1.0f, 1.0f);
    sbs_net_backward(&s, B);
    const sbs_layer *L = &net.L[1];
    size_t nh = (size_t)B * L->N * L->X * L->Y;
    /* the oracle sees the gradient arriving at the SbS output: recompute it (avg pool) */
    float *gh = malloc(nh * 4);
    memcpy(gh, s.gact[2], nh * 4);
    double *dx = malloc(nx * sizeof *dx), *dW = malloc((size_t)L->g.K * L->N * sizeof *dW);
    sbs_ref_sbs_backward(&L->g, L->N, L->weight, L->ldw, net.act[1], net.act[2], gh, B, dx, dW);
    double wd = 0, wm = 0;
    for (size_t i = 0; i < nx; i++) {
        wd = fmax(wd, fabs(dx[i] - s.gact[1][i]));
        wm = fmax(wm, fabs(dx[i]));
    }
    CHECK(wd <= 1e-4 * wm + 1e-6, "input gradient: max diff %g (max %g)", wd, wm);
    wd = wm = 0;
    for (int i = 0; i < L->g.K; i++)
        for (int n = 0; n < L->N; n++) {
            double a = dW[(size_t)i * L->N + n], b = s.G[1].gW[(size_t)i * L->ldw + n];
            wd = fmax(wd, fabs(a - b));
            wm = fmax(wm, fabs(a));
        }
    CHECK(wd <= 1e-4 * wm + 1e-7, "weight gradient: max diff %g (max %g)", wd, wm);
    CHECK(s.contrib[1] == (long)B * L->X * L->Y, "contributions %ld", s.contrib[1]);
    printf("    SbS weight gradient max %.3g\n", wm);
    free(x); free(gh); free(dx); free(dW);
    sbs_grad_free(&s);
    sbs_net_free(&net);
    be->destroy(be);
    return 0;
}

/* loss of the classic net for finite differences (double accumulation of float forward) */
static double net_loss(sbs_net *net, const float *x, int B, const uint8_t *y, int mode, float *g)
{
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(net, x, B, &key);
    return sbs_loss(mode, 0.5f, 1.0f, sbs_net_output(net), y, B, net->n_out, g);
}

static int test_classic_fd(void)
{
    for (int mode = 0; mode < 2; mode++) {
        static sbs_config cfg;
        sbs_net net;
        lspec ls[] = {{SBS_L_CONV2D, 2, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
                      {SBS_L_RELU, -1, -1, {0}, {0}, {0}, {0}},
                      {SBS_L_MAX_POOLING, -1, -1, {2, 2}, {2, 2}, {0}, {0}},
                      {SBS_L_AVERAGE_POOLING, -1, -1, {2, 2}, {1, 1}, {0}, {0}},
                      {SBS_L_CONV2D, 4, 5, {2, 2}, {1, 1}, {0}, {0}}};
        CHECK(make_net(&cfg, &net, ls, 5, 5, 2, 6, 6, 1) == 0, "plan");
        const int B = 2;
        sbs_backend *be = sbs_cpu_backend_create(1, "auto");
        sbs_net_bind(&net, be, B);
        sbs_trainer_state s;
        sbs_grad_init(&s, &net);
        size_t nx = (size_t)B * 2 * 6 * 6;
        float *x = malloc(nx * 4);
        fill(x, nx, 5, -1.0f, 1.0f);
        uint8_t y[2] = {1, 3};
        if (mode == 0) /* mixed loss wants probabilities: scale the output layer down */
            for (size_t i = 0; i < net.L[4].n_w; i++) net.L[4].weight[i] *= 0.1f;
        float g[10];
        net_loss(&net, x, B, y, mode, s.gact[net.n]);
        if (mode == 0) /* keep outputs positive for the log */
            for (int i = 0; i < 5; i++) net.L[4].bias[i] = 0.6f;
        net_loss(&net, x, B, y, mode, s.gact[net.n]);
        sbs_net_backward(&s, B);
        double worst = 0;
        const double h = 1e-3;
        /* weights of both convs, biases, and a few inputs (input grads of layer 0 are not
           computed; check the input of layer 1 through a perturbation of conv bias instead) */
        for (int l = 0; l < 5; l += 4) {
            sbs_layer *L = &net.L[l];
            for (size_t i = 0; i < L->n_w; i += 3) {
                float keep = L->weight[i];
                L->weight[i] = keep + (float)h;
                double lp = net_loss(&net, x, B, y, mode, g);
                L->weight[i] = keep - (float)h;
                double lm = net_loss(&net, x, B, y, mode, g);
                L->weight[i] = keep;
                double num = (lp - lm) / (2 * h), ana = s.G[l].gW[i];
                double err = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
                if (err > worst) worst = err;
                CHECK(err < 2e-2, "mode %d layer %d w[%zu]: numeric %g analytic %g", mode, l, i, num, ana);
            }
            for (size_t i = 0; i < L->n_b; i++) {
                float keep = L->bias[i];
                L->bias[i] = keep + (float)h;
                double lp = net_loss(&net, x, B, y, mode, g);
                L->bias[i] = keep - (float)h;
                double lm = net_loss(&net, x, B, y, mode, g);
                L->bias[i] = keep;
                double num = (lp - lm) / (2 * h), ana = s.G[l].gB[i];
                CHECK(fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana)) < 2e-2,
                      "mode %d layer %d b[%zu]: numeric %g analytic %g", mode, l, i, num, ana);
            }
        }
        printf("    loss mode %d: worst relative error %.2g\n", mode, worst);
        free(x);
        sbs_grad_free(&s);
        sbs_net_free(&net);
        be->destroy(be);
    }
    return 0;
}

static int test_loss_fd(void)
{
    float out[2 * 4] = {0.1f, 0.2f, 0.3f, 0.4f, 0.7f, 0.1f, 0.15f, 0.05f};
    uint8_t y[2] = {2, 0};
    float g[8], gg[8];
    for (int mode = 0; mode < 2; mode++) {
        sbs_loss(mode, 0.5f, 1.0f, out, y, 2, 4, g);
        for (int i = 0; i < 8; i++) {
            float keep = out[i];
            out[i] = keep + 1e-3f;
            double lp = sbs_loss(mode, 0.5f, 1.0f, out, y, 2, 4, gg);
            out[i] = keep - 1e-3f;
            double lm = sbs_loss(mode, 0.5f, 1.0f, out, y, 2, 4, gg);
            out[i] = keep;
            double num = (lp - lm) / 2e-3;
            CHECK(fabs(num - g[i]) < 1e-3 * (1 + fabs(num)), "mode %d out[%d]: %g vs %g", mode, i, num, g[i]);
        }
    }
    /* mixed loss of a perfect prediction is ~0; cross-entropy of uniform logits is log(4) */
    float perfect[4] = {0, 0, 1, 0}, flat[4] = {1, 1, 1, 1};
    uint8_t two = 2;
    CHECK(fabs(sbs_loss(0, 0.5f, 1.0f, perfect, &two, 1, 4, g)) < 1e-9, "perfect mixed loss");
    CHECK(fabs(sbs_loss(1, 0.5f, 1.0f, flat, &two, 1, 4, g) - log(4.0)) < 1e-9, "flat CE loss");
    return 0;
}

static int test_thread_invariance(void)
{
    static sbs_config cfg;
    lspec ls[] = {{SBS_L_SBS, 1, 8, {3, 3}, {1, 1}, {0}, {0}},
                  {SBS_L_AVERAGE_POOLING, -1, -1, {2, 2}, {2, 2}, {0}, {0}},
                  {SBS_L_SBS, 8, 10, {2, 2}, {1, 1}, {0}, {0}}};
    float *ref = NULL;
    size_t nref = 0;
    for (int th = 1; th <= 3; th++) {
        sbs_net net;
        CHECK(make_net(&cfg, &net, ls, 3, 10, 1, 6, 6, 64) == 0, "plan");
        const int B = 5;
        sbs_backend *be = sbs_cpu_backend_create(th, "auto");
        sbs_net_bind(&net, be, B);
        sbs_trainer_state s;
        sbs_grad_init(&s, &net);
        float x[5 * 36];
        fill(x, 5 * 36, 8, 0.0f, 1.0f);
        uint8_t y[5] = {0, 1, 2, 3, 4};
        sbs_spike_key key = {5, 0, 0};
        sbs_net_forward(&net, x, B, &key);
        sbs_loss(0, 0.5f, 1.0f, sbs_net_output(&net), y, B, 10, s.gact[net.n]);
        sbs_net_backward(&s, B);
        size_t n0 = (size_t)net.L[0].g.K * net.L[0].ldw, n2 = (size_t)net.L[2].g.K * net.L[2].ldw;
        if (!ref) {
            nref = n0 + n2;
            ref = malloc(nref * 4);
            memcpy(ref, s.G[0].gW, n0 * 4);
            memcpy(ref + n0, s.G[2].gW, n2 * 4);
        } else {
            CHECK(!memcmp(ref, s.G[0].gW, n0 * 4) && !memcmp(ref + n0, s.G[2].gW, n2 * 4),
                  "weight gradients differ with %d threads", th);
        }
        sbs_grad_free(&s);
        sbs_net_free(&net);
        be->destroy(be);
    }
    free(ref);
    return 0;
}

int main(void)
{
    struct { const char *name; int (*fn)(void); } t[] = {
        {"SbS backward (sgemm) vs double oracle", test_sbs_vs_oracle},
        {"losses by finite differences", test_loss_fd},
        {"conv/relu/pool gradients by finite differences", test_classic_fd},
        {"weight gradients bitwise equal for 1/2/3 threads", test_thread_invariance},
    };
    int n = (int)(sizeof t / sizeof *t), failed = 0;
    for (int i = 0; i < n; i++) {
        int r = t[i].fn();
        printf("%s %s\n", r ? "FAIL" : "ok  ", t[i].name);
        failed += r != 0;
    }
    printf("%d of %d checks failed\n", failed, n);
    return failed ? 1 : 0;
}
