/* sbs-eval — evaluate a network's weights on the test split of its data set (SPEC §5). */
#include "sbs/cli.h"
#include "sbs/data.h"
#include "sbs/epochs.h"
#include "sbs/layer.h"
#include "sbs/net.h"
#include "sbs/paths.h"
#include "sbs/train.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "Usage: sbs-eval [options] [path/to/def.json | folder]\n\n"
        "Evaluates the network of def.json (network.json and dataset.json beside it) on the\n"
        "test split of its data set and prints the accuracy.\n"
        "  --network FILE     network.json to use\n"
        "  --dataset FILE     dataset.json to use\n"
        "  --weights DIR      folder with Weight_L*_S*.npy (default: overload_path, 'Previous')\n"
        "  --epochs A:B       evaluate the weights of each epoch A..B that the --weights folder\n"
        "                     holds (a training run's --out folder): one result per epoch, with\n"
        "                     the spikes of training's test pass; also A:, :B, N and all\n"
        "  --data DIR         data folder (overrides data_path)\n"
        "  --spikes N         spikes per position in every SbS layer\n"
        "  --limit N          evaluate the first N test images only\n"
        "  --batch N          patterns per forward call (default: batch_size; results do not\n"
        "                     depend on it)\n"
        "  --seed S           spike seed (default 1)\n"
        "  --threads N        worker threads (default: all cores)\n"
        "  --simd L           auto|avx512|avx2|scalar (default auto)\n"
        "  --set KEY=VALUE    override a config key (repeatable), e.g. --set epsilon_0=0.5\n"
        "  --confusion        print the confusion matrix\n"
        "  --json             print one JSON object with the results on stdout\n"
        "  --plan             print the network plan and exit\n"
        "  --version, --help\n"
        "Exit status: 0 ok, 1 failed while running, 2 bad command line, config or input.\n");
}

/* What one evaluation needs: the bound net, its test split and the printing options. */
typedef struct {
    sbs_net *net;
    sbs_backend *be;
    const sbs_split *test;
    int n, B, crop;
    long seed;
    bool json, confusion;
} eval_ctx;

/* Evaluate the net's current weights on the first c->n test images with the spikes of test
 * pass `pass` and print the result: one line (or one JSON object), prefixed by the epoch when
 * epoch >= 0 (--epochs). */
static void eval_weights(const eval_ctx *c, uint32_t pass, long epoch)
{
    sbs_net *net = c->net;
    int n = c->n, B = c->B, nc = net->n_out;
    long *conf = xcalloc((size_t)nc * nc, sizeof *conf);
    float *x = net->act[0];
    long correct = 0;
    char ep[40] = "", ep_json[40] = "";
    if (epoch >= 0) {
        snprintf(ep, sizeof ep, "epoch %ld: ", epoch);
        snprintf(ep_json, sizeof ep_json, "\"epoch\": %ld, ", epoch);
    }
    /* a last layer with its own target (RECONSTRUCTION): report its loss, not an accuracy */
    sbs_layer *last = &net->L[net->n - 1];
    sbs_trainer_state ts;
    double own_loss = 0;
    if (last->ops->loss) sbs_grad_init(&ts, net);
    sbs_progress prog;
    sbs_progress_init(&prog);
    double t0 = sbs_now();
    for (int first = 0; first < n; first += B) {
        int b = n - first < B ? n - first : B;
        sbs_crop_center(c->test, first, b, c->crop, x);
        sbs_spike_key key = {.seed = (uint64_t)c->seed, .pass = pass,
                             .first_sample = (uint32_t)first};
        sbs_net_forward(net, x, b, &key);
        if (last->ops->loss) {
            ts.labels = c->test->y + first;
            own_loss += last->ops->loss(&ts, last, b);
            double dt = sbs_now() - t0;
            sbs_progress_line(&prog, first + b == n, "%seval %d/%d  loss %.5f  %.1f images/s", ep,
                              first + b, n, own_loss / (first + b), (first + b) / dt);
            continue;
        }
        const float *out = sbs_net_output(net);
        for (int i = 0; i < b; i++) {
            int pred = sbs_argmax(out + (size_t)i * nc, nc);
            int lab = c->test->y[first + i];
            if (lab < nc) conf[lab * nc + pred]++;
            correct += pred == lab;
        }
        double dt = sbs_now() - t0;
        int done = first + b;
        sbs_progress_line(&prog, done == n,
                          "%seval %d/%d  accuracy %.2f%%  %.1f images/s  ETA %.0fs", ep, done, n,
                          100.0 * correct / done, done / dt, (n - done) * dt / done);
    }
    double secs = sbs_now() - t0;
    sbs_progress_done(&prog);
    double acc = 100.0 * correct / n;
    if (last->ops->loss) {
        if (c->json)
            printf("{%s\"loss\": %.6f, \"total\": %d, \"seed\": %ld, \"seconds\": %.3f, "
                   "\"images_per_s\": %.2f}\n", ep_json, own_loss / n, n, c->seed, secs, n / secs);
        else
            printf("%s%s loss %.5f per pattern (%d images), %.1f images/s, %d threads (%s)\n", ep,
                   last->cfg->type, own_loss / n, n, n / secs, c->be->threads,
                   sbs_cpu_simd_name(c->be));
        sbs_grad_free(&ts);
        free(conf);
        fflush(stdout);
        return;
    }
    if (c->confusion) {
        FILE *f = c->json ? stderr : stdout;
        fprintf(f, "%sconfusion matrix (rows: label, columns: prediction)\n     ", ep);
        for (int j = 0; j < nc; j++) fprintf(f, "%6d", j);
        fputc('\n', f);
        for (int i = 0; i < nc; i++) {
            fprintf(f, "%4d ", i);
            for (int j = 0; j < nc; j++) fprintf(f, "%6ld", conf[i * nc + j]);
            fputc('\n', f);
        }
    }
    if (c->json) {
        printf("{%s\"accuracy\": %.4f, \"error\": %.4f, \"correct\": %ld, \"total\": %d, "
               "\"seed\": %ld, \"spikes\": [", ep_json, acc, 100.0 - acc, correct, n, c->seed);
        int first = 1;
        for (int l = 0; l < net->n; l++)
            if (net->L[l].T) { printf("%s%d", first ? "" : ", ", net->L[l].T); first = 0; }
        printf("], \"threads\": %d, \"simd\": \"%s\", \"seconds\": %.3f, \"images_per_s\": %.2f",
               c->be->threads, sbs_cpu_simd_name(c->be), secs, n / secs);
        if (c->confusion) {
            printf(", \"confusion\": [");
            for (int i = 0; i < nc; i++) {
                printf("%s[", i ? ", " : "");
                for (int j = 0; j < nc; j++) printf("%s%ld", j ? ", " : "", conf[i * nc + j]);
                printf("]");
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("%saccuracy %.2f %% (%ld / %d), error %.2f %%, %.1f images/s, %d threads (%s)\n", ep,
               acc, correct, n, 100.0 - acc, n / secs, c->be->threads, sbs_cpu_simd_name(c->be));
    }
    fflush(stdout);
    free(conf);
}

int main(int argc, char **argv)
{
    const char *network = NULL, *dataset = NULL, *weights = NULL, *data = NULL, *simd = "auto";
    long spikes = -1, limit = -1, batch = -1, threads = 0, seed = 1;
    bool json = false, confusion = false, plan_only = false;
    const char *epochs = NULL;
    sbs_epoch_range range = {0, 0};
    const char *sets[argc + 2]; /* on the stack: nothing to free on the early returns */
    memset(sets, 0, sizeof sets);
    int n_sets = 0;
    sbs_err e = {{0}};
    enum { O_NET = 256, O_DS, O_W, O_DATA, O_SP, O_LIM, O_B, O_SEED, O_TH, O_SIMD, O_SET, O_CONF,
           O_JSON, O_PLAN, O_VER, O_EP };
    static const struct option opts[] = {
        {"network", 1, 0, O_NET}, {"dataset", 1, 0, O_DS}, {"weights", 1, 0, O_W},
        {"data", 1, 0, O_DATA}, {"spikes", 1, 0, O_SP}, {"limit", 1, 0, O_LIM},
        {"batch", 1, 0, O_B}, {"seed", 1, 0, O_SEED}, {"threads", 1, 0, O_TH},
        {"simd", 1, 0, O_SIMD}, {"set", 1, 0, O_SET}, {"confusion", 0, 0, O_CONF},
        {"json", 0, 0, O_JSON}, {"plan", 0, 0, O_PLAN}, {"version", 0, 0, O_VER},
        {"epochs", 1, 0, O_EP}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case O_NET: network = optarg; break;
        case O_DS: dataset = optarg; break;
        case O_W: weights = optarg; break;
        case O_DATA: data = optarg; break;
        case O_SP: r = sbs_parse_int("--spikes", optarg, 1, 10000000, &spikes, &e); break;
        case O_LIM: r = sbs_parse_int("--limit", optarg, 1, 1L << 30, &limit, &e); break;
        case O_B: r = sbs_parse_int("--batch", optarg, 1, 1 << 20, &batch, &e); break;
        case O_SEED: r = sbs_parse_int("--seed", optarg, 0, 0x7fffffffffffffffL, &seed, &e); break;
        case O_TH: r = sbs_parse_int("--threads", optarg, 1, 1024, &threads, &e); break;
        case O_SIMD: simd = optarg; r = sbs_parse_simd(optarg, &e); break;
        case O_SET: sets[n_sets++] = optarg; break;
        case O_CONF: confusion = true; break;
        case O_JSON: json = true; break;
        case O_PLAN: plan_only = true; break;
        case O_EP: epochs = optarg; r = sbs_parse_epoch_range(optarg, &range, &e); break;
        case O_VER: printf("sbs-eval %s\n", SBS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: return sbs_option_error("sbs-eval", c, argv);
        }
        if (r) return sbs_usage_error("sbs-eval", e.msg);
    }
    if (argc - optind > 1) return sbs_usage_error("sbs-eval", "expected at most one config path");
    char found[PATH_MAX]; /* a relative config path may name an installed config */
    const char *def = sbs_resolve_config_arg(optind < argc ? argv[optind] : NULL, found,
                                             sizeof found);

    char spikes_set[64];
    if (spikes > 0) {
        snprintf(spikes_set, sizeof spikes_set, "number_of_spikes=[%ld]", spikes);
        sets[n_sets++] = spikes_set;
    }
    char netf[PATH_MAX], dsf[PATH_MAX], deff[PATH_MAX];
    static sbs_config cfg;
    if (sbs_config_paths(def, network, dataset, netf, dsf, deff, &e) != 0 ||
        sbs_config_load(&cfg, netf, dsf, deff, sets, n_sets, &e) != 0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        return SBS_EXIT_USAGE;
    }
    int ic, ih, iw, crop = cfg.aug.crop_width_in_pixel;
    sbs_net net;
    if (sbs_plan_for_data(&net, &cfg, &ic, &ih, &iw, &e) != 0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        return SBS_EXIT_USAGE;
    }
    if (plan_only) {
        sbs_net_print_plan(&net, stdout);
        printf("spike updates per image: %.0f\n", sbs_net_spikes_per_image(&net));
        sbs_net_free(&net);
        return 0;
    }
    const char *wdir = weights ? weights : cfg.learn.overload_path;
    long *ep_list = NULL; /* --epochs: the epochs to evaluate; their weights load one by one */
    size_t n_ep = 0;
    int wl = 0; /* the first layer with weight files */
    while (wl < net.n && !net.L[wl].file_weights) wl++;
    if (epochs && wl == net.n) {
        fprintf(stderr, "sbs-eval: --epochs: the network has no layer with weight files\n");
        sbs_net_free(&net);
        return SBS_EXIT_USAGE;
    }
    if (epochs ? sbs_run_epochs(wdir, wl, &range, &ep_list, &n_ep, &e) != 0 ||
                     sbs_net_load_weights_epoch(&net, wdir, ep_list[0], true, &e) < 0
               : sbs_net_load_weights(&net, wdir, true, &e) < 0) {
        fprintf(stderr, "sbs-eval: %s%s\n", e.msg,
                !epochs && strstr(e.msg, "files match")
                    ? " (a training run's folder holds one per epoch: choose with --epochs)"
                    : "");
        free(ep_list);
        sbs_net_free(&net);
        return SBS_EXIT_USAGE;
    }
    sbs_dataset ds;
    if (sbs_dataset_load(&ds, cfg.data_mode, data ? data : cfg.data_path, SBS_SPLIT_TEST, &e) != 0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        free(ep_list);
        sbs_net_free(&net);
        return SBS_EXIT_USAGE;
    }
    if (ds.test.c != ic || ds.test.h != ih || ds.test.w != iw) {
        fprintf(stderr, "sbs-eval: %s: the data set's images are %dx%dx%d, data_mode %s expects "
                "%dx%dx%d\n", data ? data : cfg.data_path, ds.test.c, ds.test.h, ds.test.w,
                cfg.data_mode, ic, ih, iw);
        free(ep_list);
        sbs_net_free(&net);
        sbs_dataset_free(&ds);
        return SBS_EXIT_USAGE;
    }
    int n = ds.test.n;
    if (limit > 0 && limit < n) n = (int)limit;
    int B = batch > 0 ? (int)batch : cfg.batch_size;
    if (B > n) B = n;
    sbs_backend *be = sbs_cpu_backend_create((int)threads, simd);
    sbs_net_bind(&net, be, B);
    eval_ctx ctx = {.net = &net, .be = be, .test = &ds.test, .n = n, .B = B, .crop = crop,
                    .seed = seed, .json = json, .confusion = confusion};
    int status = SBS_EXIT_OK;
    if (!epochs) {
        eval_weights(&ctx, (uint32_t)cfg.epoch_id * 2u + 1u, -1);
    } else {
        /* the spikes of training's test pass after epoch S: the same accuracy as its metrics */
        for (size_t i = 0; i < n_ep; i++) {
            if (i > 0 && sbs_net_load_weights_epoch(&net, wdir, ep_list[i], true, &e) < 0) {
                fprintf(stderr, "sbs-eval: %s\n", e.msg);
                status = SBS_EXIT_USAGE;
                break;
            }
            eval_weights(&ctx, (uint32_t)ep_list[i] * 2u + 1u, ep_list[i]);
        }
    }
    free(ep_list);
    sbs_net_free(&net);
    be->destroy(be);
    sbs_dataset_free(&ds);
    return status;
}
