/* test_grad.c — gradients: the sgemm SbS backward against the double-precision oracle of the
 * same formulas; classic layers (conv, ReLU, max/avg pooling) and both losses by finite
 * differences; gradient accumulation over threads is bitwise invariant. */
#include "sbs_test.h"

static int test_sbs_vs_oracle(void)
{
    static sbs_config cfg;
    sbs_net net;
    /* RELU -> SbS 3x2 (2->12, 7x6 -> stride/pad/dilation) -> AVG POOL to 1x1 */
    sbs_test_layer ls[] = {{.kind = SBS_L_RELU},
                           {.kind = SBS_L_SBS, .in = 2, .out = 12, .k = {3, 2}, .s = {1, 2},
                            .d = {1, 2}, .p = {1, 0}},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {7, 2}}};
    CHECK(sbs_test_net(&cfg, &net, ls, 3, 12, 2, 7, 6, 50, NULL) == 0, "plan");
    const int B = 3;
    sbs_trainer_state s;
    sbs_backend *be = sbs_test_bind(&net, 2, B, &s);
    size_t nx = (size_t)B * 2 * 7 * 6;
    float *x = malloc(nx * 4);
    sbs_test_fill(x, nx, 1, 0.0f, 1.0f);
    sbs_spike_key key = {1, 0, 0};
    sbs_net_forward(&net, x, B, &key);
    float *gout = s.gact[net.n];
    sbs_test_fill(gout, (size_t)B * 12, 2, -1.0f, 1.0f);
    sbs_net_backward(&s, B);
    const sbs_layer *L = &net.L[1];
    size_t nh = (size_t)B * L->N * L->X * L->Y;
    /* the oracle sees the gradient arriving at the SbS output: recompute it (avg pool) */
    float *gh = malloc(nh * 4);
    memcpy(gh, s.gact[2], nh * 4);
    double *dx = malloc(nx * sizeof *dx), *dW = malloc((size_t)L->g.K * L->N * sizeof *dW);
    sbs_ref_sbs_backward(&L->g, L->N, L->weight, L->ldw, net.act[1], net.act[2], gh, B, dx, dW);
    double wm, wd = sbs_test_max_diff(dx, s.gact[1], nx, &wm);
    CHECK(wd <= 1e-4 * wm + 1e-6, "input gradient: max diff %g (max %g)", wd, wm);
    wd = sbs_test_max_diff_w(L, dW, s.G[1].gW, &wm);
    CHECK(wd <= 1e-4 * wm + 1e-7, "weight gradient: max diff %g (max %g)", wd, wm);
    CHECK(s.contrib[1] == (long)B * L->X * L->Y, "contributions %ld", s.contrib[1]);
    printf("    SbS weight gradient max %.3g\n", wm);
    free(x); free(gh); free(dx); free(dW);
    sbs_test_free(&net, be, &s);
    return 0;
}

static int test_classic_fd(void)
{
    for (int mode = 0; mode < 2; mode++) {
        static sbs_config cfg;
        sbs_net net;
        sbs_test_layer ls[] = {{.kind = SBS_L_CONV2D, .in = 2, .out = 4, .k = {3, 3}, .p = {1, 1}},
                               {.kind = SBS_L_RELU},
                               {.kind = SBS_L_MAX_POOLING, .k = {2, 2}, .s = {2, 2}},
                               {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}},
                               {.kind = SBS_L_CONV2D, .in = 4, .out = 5, .k = {2, 2}}};
        CHECK(sbs_test_net(&cfg, &net, ls, 5, 5, 2, 6, 6, 1, NULL) == 0, "plan");
        const int B = 2;
        sbs_trainer_state s;
        sbs_backend *be = sbs_test_bind(&net, 1, B, &s);
        size_t nx = (size_t)B * 2 * 6 * 6;
        float *x = malloc(nx * 4);
        sbs_test_fill(x, nx, 5, -1.0f, 1.0f);
        uint8_t y[2] = {1, 3};
        if (mode == 0) /* mixed loss wants probabilities: scale the output layer down */
            for (size_t i = 0; i < net.L[4].n_w; i++) net.L[4].weight[i] *= 0.1f;
        float g[10];
        sbs_test_loss(&net, x, B, y, mode, s.gact[net.n]);
        if (mode == 0) /* keep outputs positive for the log */
            for (int i = 0; i < 5; i++) net.L[4].bias[i] = 0.6f;
        sbs_test_loss(&net, x, B, y, mode, s.gact[net.n]);
        sbs_net_backward(&s, B);
        double worst = 0;
        const double h = 1e-3;
        /* weights of both convs, biases, and a few inputs (input grads of layer 0 are not
           computed; check the input of layer 1 through a perturbation of conv bias instead) */
        for (int l = 0; l < 5; l += 4) {
            sbs_layer *L = &net.L[l];
            for (size_t i = 0; i < L->n_w; i += 3) {
                double num = sbs_test_fd(&net, x, B, y, mode, &L->weight[i], h, g);
                double ana = s.G[l].gW[i];
                double err = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
                if (err > worst) worst = err;
                CHECK(err < 2e-2, "mode %d layer %d w[%zu]: numeric %g analytic %g", mode, l, i, num, ana);
            }
            for (size_t i = 0; i < L->n_b; i++) {
                double num = sbs_test_fd(&net, x, B, y, mode, &L->bias[i], h, g);
                double ana = s.G[l].gB[i];
                CHECK(fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana)) < 2e-2,
                      "mode %d layer %d b[%zu]: numeric %g analytic %g", mode, l, i, num, ana);
            }
        }
        printf("    loss mode %d: worst relative error %.2g\n", mode, worst);
        free(x);
        sbs_test_free(&net, be, &s);
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

static int invariance_net(sbs_config *cfg, sbs_net *net)
{
    sbs_test_layer ls[] = {{.kind = SBS_L_SBS, .in = 1, .out = 8, .k = {3, 3}},
                           {.kind = SBS_L_AVERAGE_POOLING, .k = {2, 2}, .s = {2, 2}},
                           {.kind = SBS_L_SBS, .in = 8, .out = 10, .k = {2, 2}}};
    return sbs_test_net(cfg, net, ls, 3, 10, 1, 6, 6, 64, NULL);
}

static int test_thread_invariance(void)
{
    float x[5 * 36];
    sbs_test_fill(x, 5 * 36, 8, 0.0f, 1.0f);
    uint8_t y[5] = {0, 1, 2, 3, 4};
    return sbs_test_grads_thread_invariant(invariance_net, x, y, 5);
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"SbS backward (sgemm) vs double oracle", test_sbs_vs_oracle},
        {"losses by finite differences", test_loss_fd},
        {"conv/relu/pool gradients by finite differences", test_classic_fd},
        {"weight gradients bitwise equal for 1/2/3 threads", test_thread_invariance},
    };
    return SBS_TEST_RUN(cases);
}
