/* sbs-bench — times the SbS forward of one layer shape, or of a whole config, and prints one
 * JSON object per run (seconds, spike_updates, spike_updates_per_s, images_per_s).
 * This is how speed is shown; no test asserts a time. */
#include "sbs/backend.h"
#include "sbs/blas_core.h"
#include "sbs/cli.h"
#include "sbs/net.h"
#include "sbs/rng.h"


#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sbs-bench [options]                 time one SbS layer shape\n"
            "       sbs-bench --config def.json [opts]  time a whole network forward\n"
            "  --batch B (24) --in C (1) --out N (32) --kernel k (5) --size S (24)\n"
            "  --spikes T (1600) --threads n (all) --repeat R (3) --simd auto|avx512|avx2|scalar\n"
            "  --config FILE --weights DIR (else random weights); with --config, --spikes overrides\n"
            "  number_of_spikes and --batch the batch (default 24)\n");
}

static int bench_layer(int B, int C, int N, int k, int S, int T, int threads, int repeat,
                       const char *simd)
{
    sbs_backend *be = sbs_cpu_backend_create(threads, simd);
    sbs_layer_args a = {0};
    if (sbs_geom_init(&a.g, C, S, S, k, k, 1, 1, 1, 1, 0, 0) != 0) {
        fprintf(stderr, "sbs-bench: kernel %d does not fit input %d\n", k, S);
        return 2;
    }
    a.N = N;
    a.ldw = sbs_pad_n(N);
    a.T = T;
    a.layer = 0;
    a.forgetting_offset = -1.0f;
    float *W = xcalloc((size_t)a.g.K * a.ldw, sizeof(float));
    sbs_stream st;
    sbs_stream_init(&st, 1, SBS_RNG_INIT, 0, 0);
    for (int i = 0; i < a.g.K; i++)
        for (int n = 0; n < N; n++) W[(size_t)i * a.ldw + n] = 1.0f + 0.1f * (float)sbs_stream_u01(&st);
    a.W = W;
    float *eps = xmalloc((size_t)T * sizeof *eps);
    sbs_eps_table(1.0f, -1, 25.0f, T, eps);
    a.eps = eps;
    size_t nx = (size_t)B * C * S * S;
    float *x = xmalloc(nx * sizeof *x);
    for (size_t i = 0; i < nx; i++) x[i] = (float)sbs_stream_u01(&st) + 1e-20f;
    float *h = xmalloc((size_t)B * N * a.g.X * a.g.Y * sizeof *h);
    for (int r = 0; r < repeat; r++) {
        sbs_spike_key key = {.seed = 42, .pass = (uint32_t)r, .first_sample = 0};
        double t0 = sbs_now();
        be->sbs_forward(be, &a, x, B, &key, h);
        double dt = sbs_now() - t0;
        double su = (double)B * a.g.X * a.g.Y * T;
        printf("{\"mode\": \"layer\", \"simd\": \"%s\", \"threads\": %d, \"batch\": %d, \"in\": %d, "
               "\"out\": %d, \"kernel\": %d, \"size\": %d, \"spikes\": %d, \"seconds\": %.6f, "
               "\"spike_updates\": %.0f, \"spike_updates_per_s\": %.4g, \"images_per_s\": %.2f}\n",
               sbs_cpu_simd_name(be), be->threads, B, C, N, k, S, T, dt, su, su / dt, B / dt);
        fflush(stdout);
    }
    free(W); free(eps); free(x); free(h);
    be->destroy(be);
    return 0;
}

/* whole network forward from a config (random input images, weights from --weights or
 * random); batch and spikes from the options when given */
static int bench_config(const char *def, const char *weights, int B, int T, bool T_given,
                        int threads, int repeat, const char *simd)
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
    sbs_backend *be = sbs_cpu_backend_create(threads, simd);
    sbs_net_bind(&net, be, B);
    size_t nx = (size_t)B * net.in_c * net.in_h * net.in_w;
    sbs_stream st;
    sbs_stream_init(&st, 3, SBS_RNG_INIT, 1, 0);
    for (size_t i = 0; i < nx; i++) net.act[0][i] = (float)sbs_stream_u01(&st) + 1e-20f;
    double su = sbs_net_spikes_per_image(&net) * B;
    for (int r = 0; r < repeat; r++) {
        sbs_spike_key key = {.seed = 42, .pass = (uint32_t)r, .first_sample = 0};
        double t0 = sbs_now();
        sbs_net_forward(&net, net.act[0], B, &key);
        double dt = sbs_now() - t0;
        printf("{\"mode\": \"config\", \"config\": \"%s\", \"simd\": \"%s\", \"threads\": %d, "
               "\"batch\": %d, \"seconds\": %.6f, \"spike_updates\": %.0f, "
               "\"spike_updates_per_s\": %.4g, \"images_per_s\": %.2f}\n",
               deff, sbs_cpu_simd_name(be), be->threads, B, dt, su, su / dt, B / dt);
        fflush(stdout);
    }
    sbs_net_free(&net);
    be->destroy(be);
    return 0;
}

int main(int argc, char **argv)
{
    sbs_blas_core_init(argv); /* first: may restart the program (blas_core.h) */
    int B = 24, C = 1, N = 32, k = 5, S = 24, T = 1600, threads = 0, repeat = 3;
    const char *simd = "auto", *config = NULL, *weights = NULL;
    static const struct option opts[] = {
        {"batch", 1, 0, 'b'}, {"in", 1, 0, 'i'}, {"out", 1, 0, 'o'}, {"kernel", 1, 0, 'k'},
        {"size", 1, 0, 's'}, {"spikes", 1, 0, 'T'}, {"threads", 1, 0, 't'},
        {"repeat", 1, 0, 'r'}, {"simd", 1, 0, 'S'}, {"config", 1, 0, 'c'},
        {"weights", 1, 0, 'w'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    bool T_given = false;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': B = atoi(optarg); break;
        case 'i': C = atoi(optarg); break;
        case 'o': N = atoi(optarg); break;
        case 'k': k = atoi(optarg); break;
        case 's': S = atoi(optarg); break;
        case 'T': T = atoi(optarg); T_given = true; break;
        case 't': threads = atoi(optarg); break;
        case 'r': repeat = atoi(optarg); break;
        case 'S': simd = optarg; break;
        case 'c': config = optarg; break;
        case 'w': weights = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (B < 1 || C < 1 || N < 3 || k < 1 || S < 1 || T < 1 || repeat < 1) {
        fprintf(stderr, "sbs-bench: sizes must be positive (and --out > 2)\n");
        usage(stderr);
        return 2;
    }
    if (config) return bench_config(config, weights, B, T, T_given, threads, repeat, simd);
    return bench_layer(B, C, N, k, S, T, threads, repeat, simd);
}
