/* fuzz_run.c — one training step of a tiny batch for any config the plan accepts: the plan,
 * the memory pre-check, random weights, the CPU backend (1 thread), the forward, the loss,
 * the gradient-scale measure, the backward and the update (as src/train/step.c sequences
 * them), then the forward and loss of an inference binding (as sbs-eval) with the updated
 * weights. Every layer kind's kernels run on whatever geometry the config gives: large
 * kernels, strides, dilations and paddings are explored; what bounds one run is the memory
 * and work the planned net needs (skipped above FUZZ_RUN_MEM / FUZZ_RUN_WORK), not its shape.
 *
 * Input: the config as fuzz_config reads it (fuzz_cfg.h: network.json / dataset.json /
 * def.json / --set overrides, separated by lines "%%"). The images are the data_mode's shape
 * after the centre crop (crop_width_in_pixel chooses smaller ones), every number_of_spikes is
 * capped at FUZZ_RUN_SPIKES before planning, the batch is min(batch_size, 2). The images
 * (values in [0, 1]: uniform, blank, sparse or saturated), the labels (< 10 <=
 * number_of_output_neurons), the weight seed, the spike key and the SIMD level (auto, avx512,
 * avx2 or scalar) are derived from a hash of the input. An error from the config or the plan must be one
 * non-empty line. */
#include "fuzz_cfg.h"
#include "sbs/backend.h"
#include "sbs/exec.h"
#include "sbs/net.h"
#include "sbs/train.h"

#include <math.h>
#include <strings.h>

#define FUZZ_RUN_SPIKES 16
#define FUZZ_RUN_B 2
/* the parameters, the bound net (training and inference bindings) and the backend's
 * workspace, bytes: checked on the shapes-only plan, before anything is allocated */
#define FUZZ_RUN_MEM ((double)(64 << 20))
/* the estimated multiply-adds of one input (fwd + bwd + eval fwd of the batch) */
#define FUZZ_RUN_WORK 2e8

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Multiply-adds of one image's forward and backward through layer L (an estimate to keep
 * one input within a fraction of a second). */
static double layer_work(const sbs_net *net, const sbs_layer *L)
{
    double M = (double)L->X * L->Y, K = L->g.K, N = L->N, T = L->cfg->spikes;
    double in = (double)L->C * L->H * L->W;
    switch (L->kind) {
    case SBS_L_SBS:
    case SBS_L_SBS_POOLING:
    case SBS_L_SBS_LOCAL:
    case SBS_L_BP_SBS_NNMF: return M * (T * N + 4 * K + 3 * K * N) + in * T;
    case SBS_L_NNMF: return 4 * T * M * K * N;
    case SBS_L_CONV2D: return 3 * M * K * N;
    case SBS_L_APPROX_CONV2D: return 12 * M * K * N;
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING: return 3 * M * K;
    case SBS_L_RECONSTRUCTION: {
        const sbs_layer *S = &net->L[L->ref_layer];
        return 6 * M * (double)S->g.K * S->N;
    }
    default: return 4 * in + T;
    }
}

/* The trainer's gradient-scale measure of the first update (step.c measure_scales, one
 * chunk): the unscaled maxima, then S_l from the top down. */
static void measure_scales(sbs_exec *x, int B, const uint8_t *lab, float *scale, const bool *learns)
{
    const sbs_net *net = x->net;
    sbs_absmax m;
    sbs_exec_backward(x, B, lab, scale, learns, &m, NULL);
    double above = 1.0;
    for (int l = net->n - 1; l >= 0; l--) {
        if (!net->L[l].grad_scaled) continue;
        float S = (float)(m.m[l] / above);
        if (S > 0.0f && isfinite(S)) scale[l] = S;
        above *= scale[l];
    }
}

/* The inference binding of sbs-eval on the updated weights: forward and loss (an own-target
 * last layer computes its gradient into a temporary buffer there). */
static void eval_pass(sbs_net *net, sbs_backend *be, const float *img, int B, const uint8_t *lab,
                      const sbs_spike_key *key)
{
    sbs_exec x;
    sbs_err e = {{0}};
    int status = 0;
    if (sbs_exec_init(&x, net, be, FUZZ_RUN_B, false, &status, &e) != 0) {
        fprintf(stderr, "inference binding of a net whose training binding worked: %s\n", e.msg);
        abort();
    }
    sbs_exec_forward(&x, img, B, key);
    double loss = sbs_exec_loss(&x, lab, B);
    if (!isfinite(loss)) sbs_exec_nonfinite_layer(&x, B);
    sbs_exec_free(&x);
}

/* One step of the bound net (training binding x): as sbs_train_step does for a window of one
 * chunk, but with the backward also run when the config does not learn (the kernels' input
 * gradients, with no weight gradient). Stops, as the trainer does, at a non-finite loss. */
static void train_step(sbs_exec *x, const float *img, int B, const uint8_t *lab,
                       const sbs_spike_key *key)
{
    const sbs_net *net = x->net;
    const sbs_config *cfg = net->cfg;
    sbs_backend *be = x->be;
    bool learn = cfg->learn.learning_active;
    float scale[SBS_MAX_LAYERS];
    bool learns[SBS_MAX_LAYERS], scaled = false;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        scale[l] = 1.0f;
        learns[l] = L->file_weights && learn && L->cfg->w_trainable; /* optim.c */
        scaled |= L->grad_scaled;
    }
    sbs_exec_forward(x, img, B, key);
    double loss = sbs_exec_loss(x, lab, B);
    fuzz_note("loss", isfinite(loss) ? 0 : -1, "not finite");
    if (!isfinite(loss)) {
        sbs_exec_nonfinite_layer(x, B);
        return;
    }
    if (learn && scaled && cfg->learn.kepp_last_grad_scale && !cfg->learn.disable_scale_grade) {
        measure_scales(x, B, lab, scale, learns);
        sbs_exec_forward(x, img, B, key); /* the trainer's window starts again */
        sbs_exec_loss(x, lab, B);
    }
    long contrib[SBS_MAX_LAYERS];
    be->zero(be, x->grads, net->n_params * sizeof(float));
    sbs_exec_backward(x, B, lab, scale, learns, NULL, contrib);
    be->add(be, x->grads, x->chunk, net->n_params);
    if (!learn) return;
    sbs_optim opt;
    sbs_optim_init(&opt, cfg);
    opt.t = 1;
    sbs_update_step u = {.adam = strcasecmp(cfg->learn.optimizer_name, "SGD") != 0,
                         .lr = opt.lr,
                         .lr_t = opt.lr / (1.0 - 0.9),
                         .c2 = sqrt(1.0 - 0.999),
                         .threshold = cfg->learn.learning_rate_threshold_w};
    double gmul[SBS_MAX_LAYERS];
    for (int l = 0; l < net->n; l++) gmul[l] = contrib[l] > 0 ? 1.0 / (double)contrib[l] : 1.0;
    sbs_exec_update(x, &u, learns, gmul);
    bool is_bias;
    float val;
    int bad = sbs_exec_nonfinite_params(x, &is_bias, &val);
    fuzz_note("update", bad < 0 ? 0 : -1, "a parameter became non-finite");
    sbs_exec_download_params(x, net->params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    static sbs_config cfg;
    sbs_err e = {{0}};
    int r = fuzz_cfg_load(data, size, &cfg, &e);
    fuzz_note("config", r, e.msg);
    if (r != 0) {
        fuzz_check_msg(e.msg);
        return 0;
    }
    for (int l = 0; l < cfg.n_layers; l++)
        if (cfg.layers[l].spikes > FUZZ_RUN_SPIKES) cfg.layers[l].spikes = FUZZ_RUN_SPIKES;
    int ic = 3, ih, iw;
    sbs_mode_shape(cfg.data_mode, &ic, &ih, &iw); /* unknown: the plan says so */
    /* the shapes only: nothing sized by the config is allocated before the memory check
     * below, so any geometry the plan accepts is explored */
    sbs_net net;
    r = sbs_plan_shapes_for_data(&net, &cfg, &ic, &ih, &iw, &e);
    fuzz_note("plan", r, e.msg);
    if (r != 0) {
        fuzz_check_msg(e.msg);
        return 0;
    }

    uint64_t h = fnv1a(data, size), rs = h;
    /* a level the CPU lacks falls back to the best it has */
    static const char *const simd[4] = {"auto", "avx512", "avx2", "scalar"};
    sbs_backend_opts bo = {.threads = 1, .simd = simd[(h >> 59) & 3]};
    sbs_backend *be = sbs_backend_create("cpu", &bo, &e);
    if (!be) {
        fprintf(stderr, "the cpu backend: %s\n", e.msg);
        abort();
    }
    /* the memory pre-check of the trainer (trainer.c), plus the inference binding; the
     * activations also in double, so that a wrapped size_t cannot pass */
    double act = 0;
    for (int l = 0; l <= net.n; l++) act += (double)sbs_act_floats(&net, l);
    double mem = (double)sbs_net_memory(&net, FUZZ_RUN_B, true) +
                 (double)be->workspace(be, &net, FUZZ_RUN_B, true) +
                 (double)sbs_net_memory(&net, FUZZ_RUN_B, false);
    double work = 0;
    for (int l = 0; l < net.n; l++) work += layer_work(&net, &net.L[l]);
    work *= 2 * FUZZ_RUN_B;
    char info[160];
    snprintf(info, sizeof info, "%.1f MiB, %.3g multiply-adds", mem / 1048576.0, work);
    fuzz_note("size", 1, info);
    if (getenv("FUZZ_VERBOSE")) sbs_net_print_plan(&net, stderr);
    if (mem > FUZZ_RUN_MEM || 3 * act * FUZZ_RUN_B * sizeof(float) > FUZZ_RUN_MEM ||
        work > FUZZ_RUN_WORK) {
        fuzz_note("run", -1, "skipped: too much memory or work for one input");
        goto out;
    }

    int B = cfg.batch_size < FUZZ_RUN_B ? cfg.batch_size : FUZZ_RUN_B;
    size_t n_img = (size_t)FUZZ_RUN_B * sbs_act_floats(&net, 0);
    float *img = malloc(n_img * sizeof(float));
    int pattern = (int)(h >> 61); /* 0-4 uniform, 5 blank, 6 sparse, 7 saturated */
    for (size_t i = 0; i < n_img; i++) {
        uint64_t v = splitmix(&rs);
        float u = (float)(v >> 40) / (float)(1u << 24);
        img[i] = pattern == 5 ? 0.0f : pattern == 6 ? (v & 15) == 0 : pattern == 7 ? 1.0f : u;
    }
    uint8_t lab[FUZZ_RUN_B];
    for (int b = 0; b < FUZZ_RUN_B; b++) lab[b] = (uint8_t)(splitmix(&rs) % SBS_N_CLASSES);
    sbs_spike_key key = {.seed = splitmix(&rs), .pass = (uint32_t)(h & 7), .first_sample = 0};
    sbs_net_alloc_params(&net);
    sbs_net_init_weights(&net, splitmix(&rs));

    sbs_exec x;
    int status = 0;
    r = sbs_exec_init(&x, &net, be, FUZZ_RUN_B, true, &status, &e);
    fuzz_note("bind", r, e.msg);
    if (r != 0) {
        /* every kind of the plan has CPU kernels, and the memory was checked */
        fprintf(stderr, "binding a planned net to the cpu backend: %s\n", e.msg);
        abort();
    }
    train_step(&x, img, B, lab, &key);
    sbs_exec_free(&x);
    eval_pass(&net, be, img, B, lab, &key);
    free(img);
out:
    sbs_backend_destroy(be);
    sbs_net_free(&net);
    return 0;
}
