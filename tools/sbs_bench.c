/* sbs-bench — times the SbS forward of one layer shape, or of a whole config, or (--train)
 * one training step of a whole config (forward, backward and update of one update window
 * through sbs_train_step), on any backend, and prints one JSON object per run (seconds,
 * spike_updates, spike_updates_per_s, images_per_s). This is how speed is shown; no test
 * asserts a time. */
#include "sbs/blas_core.h"
#include "sbs/cli.h"
#include "sbs/exec.h"
#include "sbs/rng.h"
#include "sbs/train.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sbs-bench [options]                 time one SbS layer shape\n"
        "       sbs-bench --config def.json [opts]  time a whole network forward\n"
        "  --batch B (24) --in C (1) --out N (32) --kernel k (5) --size S (24)\n"
        "  --spikes T (1600) --threads n (all) --repeat R (3) --simd auto|avx512|avx2|scalar\n"
        "  --backend cpu|cuda (cpu) --device N (0)\n"
        "  --config FILE --weights DIR (else random weights); with --config, --spikes overrides\n"
        "  number_of_spikes and --batch the batch (default 24)\n"
        "  --train   with --config: time training windows (forward, backward, update of\n"
        "            number_of_batches_for_one_update batches; the first run also measures\n"
        "            the gradient scale); --chunks N overrides the batches per window\n");
}

static sbs_backend *make_backend(const char *name, int threads, const char *simd, int device)
{
    sbs_backend_opts o = {.threads = threads, .simd = simd, .device = device};
    sbs_err e;
    sbs_backend *be = sbs_backend_create(name, &o, &e);
    if (!be) fprintf(stderr, "sbs-bench: %s\n", e.msg);
    return be;
}

/* one SbS layer (a plan of its own: SbS kind, random weights and inputs) through the
 * backend's kernel */
static int bench_layer(int B, int C, int N, int k, int S, int T, int repeat, sbs_backend *be)
{
    sbs_layer_cfg lc = {.kind = SBS_L_SBS};
    sbs_layer L = {.kind = SBS_L_SBS,
                   .cfg = &lc,
                   .C = C,
                   .H = S,
                   .W = S,
                   .N = N,
                   .T = T,
                   .fo = -1.0f,
                   .ldw = sbs_pad_n(N),
                   .ref_layer = -1};
    if (sbs_geom_init(&L.g, C, S, S, k, k, 1, 1, 1, 1, 0, 0) != 0) {
        fprintf(stderr, "sbs-bench: kernel %d does not fit input %d\n", k, S);
        return 2;
    }
    L.X = L.g.X;
    L.Y = L.g.Y;
    size_t nw = (size_t)L.g.K * L.ldw, nx = (size_t)B * C * S * S, nh = (size_t)B * N * L.X * L.Y;
    float *W = xcalloc(nw, sizeof(float));
    sbs_stream st;
    sbs_stream_init(&st, 1, SBS_RNG_INIT, 0, 0);
    for (int i = 0; i < L.g.K; i++)
        for (int n = 0; n < N; n++)
            W[(size_t)i * L.ldw + n] = 1.0f + 0.1f * (float)sbs_stream_u01(&st);
    float *eps = xmalloc((size_t)T * sizeof *eps);
    sbs_eps_table(1.0f, -1, 25.0f, T, eps);
    L.eps = eps;
    float *x = xmalloc(nx * sizeof *x);
    for (size_t i = 0; i < nx; i++) x[i] = (float)sbs_stream_u01(&st) + 1e-20f;
    float *dW = be->alloc(be, nw * 4), *dx = be->alloc(be, nx * 4), *dh = be->alloc(be, nh * 4);
    if (!dW || !dx || !dh) {
        fprintf(stderr, "sbs-bench: out of %s memory\n", be->name);
        return 3;
    }
    be->upload(be, dW, W, nw * 4);
    be->upload(be, dx, x, nx * 4);
    const sbs_layer_kernels *kern = be->kernels(be, SBS_L_SBS);
    for (int r = 0; r < repeat; r++) {
        sbs_spike_key key = {.seed = 42, .pass = (uint32_t)r, .first_sample = 0};
        sbs_op_args a = {.L = &L, .B = B, .key = &key, .x = dx, .y = dh, .W = dW};
        double t0 = sbs_now();
        kern->forward(be, &a);
        float probe;
        be->download(be, &probe, dh, sizeof probe); /* waits for the device */
        double dt = sbs_now() - t0;
        double su = (double)B * L.X * L.Y * T;
        printf("{\"mode\": \"layer\", \"backend\": \"%s\", \"batch\": %d, \"in\": %d, "
               "\"out\": %d, \"kernel\": %d, \"size\": %d, \"spikes\": %d, \"seconds\": %.6f, "
               "\"spike_updates\": %.0f, \"spike_updates_per_s\": %.4g, \"images_per_s\": %.2f}\n",
               be->describe(be), B, C, N, k, S, T, dt, su, su / dt, B / dt);
        fflush(stdout);
    }
    be->free(be, dW);
    be->free(be, dx);
    be->free(be, dh);
    free(W);
    free(eps);
    free(x);
    return 0;
}

/* --train: random images and labels for chunk k of a window */
typedef struct {
    int B;
    size_t img_floats;
} train_src;

static void train_load(void *ctx, int k, float *img, uint8_t *labels, int *B, sbs_spike_key *key)
{
    train_src *s = ctx;
    sbs_stream st;
    sbs_stream_init(&st, 3, SBS_RNG_INIT, 2, (uint32_t)k);
    for (size_t i = 0; i < (size_t)s->B * s->img_floats; i++)
        img[i] = (float)sbs_stream_u01(&st) + 1e-20f;
    for (int b = 0; b < s->B; b++) labels[b] = (uint8_t)sbs_stream_below(&st, 10);
    *B = s->B;
    key->seed = 42;
    key->pass = 0;
    key->first_sample = (uint32_t)(k * s->B);
}

/* training windows of a config: sbs_train_step on a bound net, timed per window */
static int bench_train(sbs_net *net, const char *deff, int B, int chunks, int repeat,
                       sbs_backend *be)
{
    sbs_exec ex;
    int status;
    sbs_err e;
    if (sbs_exec_init(&ex, net, be, B, true, &status, &e) != 0) {
        fprintf(stderr, "sbs-bench: %s\n", e.msg);
        return status;
    }
    sbs_trainer_state ts;
    sbs_trainer_state_init(&ts, net);
    ts.ex = &ex;
    sbs_optim opt;
    sbs_optim_init(&opt, net->cfg);
    train_src src = {B, sbs_act_floats(net, 0)};
    sbs_chunk_source cs = {train_load, &src, 0, 0, "(sbs-bench: nothing saved)"};
    double su = sbs_net_spikes_per_image(net) * B * chunks;
    int rc = 0;
    for (int r = 0; r < repeat; r++) {
        sbs_window_sums w;
        bool measure = opt.t == 0;
        double t0 = sbs_now();
        if (sbs_train_step(&ts, &opt, &cs, chunks, true, NULL, &w, &e) != 0) {
            fprintf(stderr, "sbs-bench: %s\n", e.msg);
            rc = 1;
            break;
        }
        float probe;
        be->download(be, &probe, ex.params, sizeof probe); /* waits for the device */
        double dt = sbs_now() - t0, ips = B * chunks / dt;
        printf("{\"mode\": \"train\", \"config\": \"%s\", \"backend\": \"%s\", "
               "\"batch\": %d, \"chunks\": %d, \"measures_scale\": %s, \"seconds\": %.6f, "
               "\"forward_s\": %.6f, \"backward_s\": %.6f, \"update_s\": %.6f, "
               "\"spike_updates_per_s\": %.4g, \"images_per_s\": %.2f, "
               "\"epoch_60000_s\": %.2f}\n",
               deff, be->describe(be), B, chunks, measure ? "true" : "false", dt, w.t_fwd, w.t_bwd,
               w.t_upd, su / dt, ips, 60000.0 / ips);
        fflush(stdout);
    }
    sbs_trainer_state_free(&ts);
    sbs_exec_free(&ex);
    return rc;
}

/* whole network forward from a config (random input images, weights from --weights or
 * random); batch and spikes from the options when given */
static int bench_config(const char *def, const char *weights, int B, int T, bool T_given,
                        int repeat, bool train, int chunks, sbs_backend *be)
{
    char netf[PATH_MAX], dsf[PATH_MAX], deff[PATH_MAX], spikes[64];
    const char *sets[1];
    int n_sets = 0;
    if (T_given) {
        snprintf(spikes, sizeof spikes, "number_of_spikes=[%d]", T);
        sets[n_sets++] = spikes;
    }
    static sbs_config cfg;
    sbs_err e;
    if (sbs_config_paths(def, NULL, NULL, netf, dsf, deff, &e) != 0 ||
        sbs_config_load(&cfg, netf, dsf, deff, sets, n_sets, &e) != 0) {
        fprintf(stderr, "sbs-bench: %s\n", e.msg);
        return 2;
    }
    sbs_net net;
    if (sbs_plan_for_data(&net, &cfg, NULL, NULL, NULL, &e) != 0) {
        fprintf(stderr, "sbs-bench: %s\n", e.msg);
        return 2;
    }
    sbs_net_init_weights(&net, 1);
    if (weights && sbs_net_load_weights(&net, weights, true, &e) < 0) {
        fprintf(stderr, "sbs-bench: %s\n", e.msg);
        return 2;
    }
    if (train) {
        int r = bench_train(&net, deff, B,
                            chunks > 0 ? chunks : cfg.learn.number_of_batches_for_one_update,
                            repeat, be);
        sbs_net_free(&net);
        return r;
    }
    sbs_exec ex;
    int status;
    if (sbs_exec_init(&ex, &net, be, B, false, &status, &e) != 0) {
        fprintf(stderr, "sbs-bench: %s\n", e.msg);
        sbs_net_free(&net);
        return status;
    }
    size_t nx = (size_t)B * sbs_act_floats(&net, 0);
    float *x = xmalloc(nx * sizeof *x);
    sbs_stream st;
    sbs_stream_init(&st, 3, SBS_RNG_INIT, 1, 0);
    for (size_t i = 0; i < nx; i++) x[i] = (float)sbs_stream_u01(&st) + 1e-20f;
    double su = sbs_net_spikes_per_image(&net) * B;
    for (int r = 0; r < repeat; r++) {
        sbs_spike_key key = {.seed = 42, .pass = (uint32_t)r, .first_sample = 0};
        double t0 = sbs_now();
        sbs_exec_forward(&ex, x, B, &key);
        double dt = sbs_now() - t0;
        printf("{\"mode\": \"config\", \"config\": \"%s\", \"backend\": \"%s\", "
               "\"batch\": %d, \"seconds\": %.6f, \"spike_updates\": %.0f, "
               "\"spike_updates_per_s\": %.4g, \"images_per_s\": %.2f}\n",
               deff, be->describe(be), B, dt, su, su / dt, B / dt);
        fflush(stdout);
    }
    free(x);
    sbs_exec_free(&ex);
    sbs_net_free(&net);
    return 0;
}

int main(int argc, char **argv)
{
    sbs_blas_core_init(argv); /* first: may restart the program (blas_core.h) */
    int B = 24, C = 1, N = 32, k = 5, S = 24, T = 1600, threads = 0, repeat = 3, device = 0;
    int chunks = 0;
    bool train = false;
    const char *simd = "auto", *config = NULL, *weights = NULL, *backend = NULL;
    static const struct option opts[] = {{"batch", 1, 0, 'b'},
                                         {"in", 1, 0, 'i'},
                                         {"out", 1, 0, 'o'},
                                         {"kernel", 1, 0, 'k'},
                                         {"size", 1, 0, 's'},
                                         {"spikes", 1, 0, 'T'},
                                         {"threads", 1, 0, 't'},
                                         {"repeat", 1, 0, 'r'},
                                         {"simd", 1, 0, 'S'},
                                         {"config", 1, 0, 'c'},
                                         {"weights", 1, 0, 'w'},
                                         {"backend", 1, 0, 'B'},
                                         {"device", 1, 0, 'D'},
                                         {"train", 0, 0, 'X'},
                                         {"chunks", 1, 0, 'C'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    bool T_given = false;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': B = atoi(optarg); break;
        case 'i': C = atoi(optarg); break;
        case 'o': N = atoi(optarg); break;
        case 'k': k = atoi(optarg); break;
        case 's': S = atoi(optarg); break;
        case 'T':
            T = atoi(optarg);
            T_given = true;
            break;
        case 't': threads = atoi(optarg); break;
        case 'r': repeat = atoi(optarg); break;
        case 'S': simd = optarg; break;
        case 'c': config = optarg; break;
        case 'w': weights = optarg; break;
        case 'B': backend = optarg; break;
        case 'D': device = atoi(optarg); break;
        case 'X': train = true; break;
        case 'C': chunks = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (train && !config) {
        fprintf(stderr, "sbs-bench: --train needs --config\n");
        usage(stderr);
        return 2;
    }
    if (B < 1 || C < 1 || N < 3 || k < 1 || S < 1 || T < 1 || repeat < 1 || chunks < 0) {
        fprintf(stderr, "sbs-bench: sizes must be positive (and --out > 2)\n");
        usage(stderr);
        return 2;
    }
    sbs_backend *be = make_backend(backend, threads, simd, device);
    if (!be) return 2;
    int r = config ? bench_config(config, weights, B, T, T_given, repeat, train, chunks, be)
                   : bench_layer(B, C, N, k, S, T, repeat, be);
    sbs_backend_destroy(be);
    return r;
}
