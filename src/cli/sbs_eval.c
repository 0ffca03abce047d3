/* sbs-eval — evaluate a network's weights on the test split of its data set (SPEC §5). */
#include "sbs/blas_core.h"
#include "sbs/cli.h"
#include "sbs/exec.h"
#include "sbs/data.h"
#include "sbs/epochs.h"
#include "sbs/layer.h"
#include "sbs/net.h"
#include "sbs/noise.h"
#include "sbs/noisy.h"
#include "sbs/png_out.h"
#include "sbs/paths.h"
#include "sbs/train.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(
        f,
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
        "  --backend NAME     compute backend: cpu (default) or cuda, where built\n"
        "  --device N         CUDA device index (default 0)\n"
        "  --set KEY=VALUE    override a config key (repeatable), e.g. --set epsilon_0=0.5\n"
        "  --confusion        print the confusion matrix\n"
        "  --png DIR          write pictures to DIR: a mosaic of each layer's weights\n"
        "                     (weights_L<l>.png) and the confusion matrix (confusion.png)\n"
        "  --json             print one JSON object with the results on stdout\n"
        "  --noise KIND:LEVELS  evaluate once per level with noise added to the test images\n"
        "                     (after the centre crop, clipped to [0, 1], keyed by --seed):\n"
        "                     gaussian (standard deviation), uniform (half width), saltpepper\n"
        "                     (fraction of pixels set to 0 or 1), poisson (s: s*Poisson(x/s));\n"
        "                     e.g. gaussian:0,0.1,0.2; one result line (JSON object) per level\n"
        "  --noisy-dir DIR    with extract_noisy_pictures (def.json or --set): write\n"
        "                     DIR/noisy_picture_data/<spikes>/<mini-batch>.npz (default:\n"
        "                     log_path); with --noise, DIR/<kind>_<level>/noisy_picture_data\n"
        "  --plan             print the network plan and exit\n"
        "  --version, --help\n"
        "Exit status: 0 ok, 1 failed while running, 2 bad command line, config or input.\n");
}

int main(int argc, char **argv)
{
    sbs_blas_core_init(argv); /* first: may restart the program (blas_core.h) */
    const char *network = NULL, *dataset = NULL, *weights = NULL, *data = NULL, *simd = "auto";
    const char *noisy_dir = NULL, *backend = NULL, *png_dir = NULL;
    sbs_noise noise = {0};
    long spikes = -1, limit = -1, batch = -1, threads = 0, seed = 1, device = 0;
    bool json = false, confusion = false, plan_only = false;
    const char *epochs = NULL;
    sbs_epoch_range range = {0, 0};
    const char *sets[argc + 2]; /* on the stack: nothing to free on the early returns */
    memset(sets, 0, sizeof sets);
    int n_sets = 0;
    sbs_err e = {{0}};
    enum {
        O_NET = 256,
        O_DS,
        O_W,
        O_DATA,
        O_SP,
        O_LIM,
        O_B,
        O_SEED,
        O_TH,
        O_SIMD,
        O_SET,
        O_CONF,
        O_JSON,
        O_PLAN,
        O_VER,
        O_BE,
        O_DEV,
        O_NOISE,
        O_NOISY,
        O_PNG,
        O_EP
    };
    static const struct option opts[] = {{"network", 1, 0, O_NET},
                                         {"dataset", 1, 0, O_DS},
                                         {"weights", 1, 0, O_W},
                                         {"data", 1, 0, O_DATA},
                                         {"spikes", 1, 0, O_SP},
                                         {"limit", 1, 0, O_LIM},
                                         {"batch", 1, 0, O_B},
                                         {"seed", 1, 0, O_SEED},
                                         {"threads", 1, 0, O_TH},
                                         {"simd", 1, 0, O_SIMD},
                                         {"set", 1, 0, O_SET},
                                         {"confusion", 0, 0, O_CONF},
                                         {"json", 0, 0, O_JSON},
                                         {"plan", 0, 0, O_PLAN},
                                         {"version", 0, 0, O_VER},
                                         {"backend", 1, 0, O_BE},
                                         {"device", 1, 0, O_DEV},
                                         {"noise", 1, 0, O_NOISE},
                                         {"noisy-dir", 1, 0, O_NOISY},
                                         {"png", 1, 0, O_PNG},
                                         {"epochs", 1, 0, O_EP},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
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
        case O_SIMD:
            simd = optarg;
            r = sbs_parse_simd(optarg, &e);
            break;
        case O_BE: backend = optarg; break;
        case O_DEV: r = sbs_parse_int("--device", optarg, 0, 1023, &device, &e); break;
        case O_SET: sets[n_sets++] = optarg; break;
        case O_CONF: confusion = true; break;
        case O_JSON: json = true; break;
        case O_PLAN: plan_only = true; break;
        case O_NOISE: r = sbs_noise_parse(optarg, &noise, &e); break;
        case O_NOISY: noisy_dir = optarg; break;
        case O_PNG: png_dir = optarg; break;
        case O_EP:
            epochs = optarg;
            r = sbs_parse_epoch_range(optarg, &range, &e);
            break;
        case O_VER: printf("sbs-eval %s\n", SBS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: return sbs_option_error("sbs-eval", c, argv);
        }
        if (r) return sbs_usage_error("sbs-eval", e.msg);
    }
    if (argc - optind > 1) return sbs_usage_error("sbs-eval", "expected at most one config path");
    char found[PATH_MAX]; /* a relative config path may name an installed config */
    const char *def =
        sbs_resolve_config_arg(optind < argc ? argv[optind] : NULL, found, sizeof found);

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
    if (sbs_plan_shapes_for_data(&net, &cfg, &ic, &ih, &iw, &e) != 0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        return SBS_EXIT_USAGE;
    }
    if (plan_only) { /* shapes only: a plan of any size is printed, nothing allocated */
        sbs_net_print_plan(&net, stdout);
        printf("spike updates per image: %.0f\n", sbs_net_spikes_per_image(&net));
        sbs_net_free(&net);
        return 0;
    }
    { /* memory before anything sized by the config is allocated: the host's parameters
       * and the bound net for one batch (the test set is small beside them) */
        int Bm = batch > 0 ? (int)batch : cfg.batch_size;
        size_t avail = sbs_mem_available();
        size_t need = sbs_add_huge(sbs_net_memory(&net, Bm, false),
                                   sbs_mul_huge(net.n_params, sizeof(float)));
        if (need > avail || !sbs_address_space_fits(need, NULL)) {
            fprintf(stderr,
                    "sbs-eval: this evaluation needs about %.1f GiB of memory for the network "
                    "(batch %d), only %.1f GiB are available%s\n",
                    need / 1073741824.0, Bm, avail / 1073741824.0,
                    need <= avail ? " under the address-space limit (ulimit -v)" : "");
            sbs_net_free(&net);
            return SBS_EXIT_NOMEM;
        }
    }
    sbs_net_alloc_params(&net);
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
    if (png_dir && sbs_png_net_weights(png_dir, &net, "", &e) != 0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        sbs_net_free(&net);
        return SBS_EXIT_FAILURE;
    }
    sbs_dataset ds;
    if (sbs_dataset_load(&ds, cfg.data_mode, data ? data : cfg.data_path, SBS_SPLIT_TEST, &e) !=
        0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        free(ep_list);
        sbs_net_free(&net);
        return SBS_EXIT_USAGE;
    }
    if (ds.test.c != ic || ds.test.h != ih || ds.test.w != iw) {
        fprintf(stderr,
                "sbs-eval: %s: the data set's images are %dx%dx%d, data_mode %s expects "
                "%dx%dx%d\n",
                data ? data : cfg.data_path, ds.test.c, ds.test.h, ds.test.w, cfg.data_mode, ic, ih,
                iw);
        free(ep_list);
        sbs_net_free(&net);
        sbs_dataset_free(&ds);
        return SBS_EXIT_USAGE;
    }
    int n = ds.test.n;
    if (limit > 0 && limit < n) n = (int)limit;
    int B = batch > 0 ? (int)batch : cfg.batch_size;
    if (B > n) B = n;
    sbs_backend_opts bo = {.threads = (int)threads, .simd = simd, .device = (int)device};
    sbs_backend *be = sbs_backend_create(backend, &bo, &e);
    sbs_exec ex;
    int status = SBS_EXIT_USAGE;
    if (!be || sbs_exec_init(&ex, &net, be, B, false, &status, &e) != 0) {
        fprintf(stderr, "sbs-eval: %s\n", e.msg);
        free(ep_list);
        sbs_backend_destroy(be);
        sbs_net_free(&net);
        sbs_dataset_free(&ds);
        return status;
    }
    int nc = net.n_out;
    long *conf = xcalloc((size_t)nc * nc, sizeof *conf);
    size_t pixels = sbs_act_floats(&net, 0);
    float *x = xaligned((size_t)B * pixels * sizeof(float));
    /* the first SbS layer's input, for extract_noisy_pictures */
    float *pin = NULL;
    /* a last layer with its own target (RECONSTRUCTION): report its loss, not an accuracy */
    sbs_layer *last = &net.L[net.n - 1];
    status = 0;
    /* --epochs: each epoch's weights in turn, with the spikes of training's test pass after
     * that epoch (the same accuracy as its metrics); else the loaded weights */
    for (size_t ei = 0; ei < (epochs ? n_ep : 1) && status == 0; ei++) {
        long ep = epochs ? ep_list[ei] : -1;
        uint32_t pass = (uint32_t)(epochs ? ep : cfg.epoch_id) * 2u + 1u;
        if (ei > 0) {
            if (sbs_net_load_weights_epoch(&net, wdir, ep, true, &e) < 0) {
                fprintf(stderr, "sbs-eval: %s\n", e.msg);
                status = SBS_EXIT_USAGE;
                break;
            }
            sbs_exec_upload_params(&ex);
        }
        char jep[48] = "", tep[48] = ""; /* the epoch before a result */
        if (epochs) {
            snprintf(jep, sizeof jep, "\"epoch\": %ld, ", ep);
            snprintf(tep, sizeof tep, "epoch %ld: ", ep);
        }
        /* one pass per --noise level; without --noise one pass on the clean images */
        for (int lv = 0; lv < (noise.n ? noise.n : 1) && status == 0; lv++) {
            double level = noise.n ? noise.level[lv] : 0;
            char what[128] = ""; /* "epoch 3: gaussian 0.2: " before a result line */
            snprintf(what, sizeof what, "%s", tep);
            if (noise.n)
                snprintf(what + strlen(what), sizeof what - strlen(what),
                         "%s %g: ", sbs_noise_name(noise.kind), level);
            sbs_noisy pics = {0};
            if (cfg.extract_noisy_pictures) {
                char base[PATH_MAX + 96];
                const char *root = noisy_dir ? noisy_dir : cfg.log_path;
                if (noise.n)
                    snprintf(base, sizeof base, "%s/%s_%g", root, sbs_noise_name(noise.kind),
                             level);
                else
                    snprintf(base, sizeof base, "%s", root);
                if (sbs_noisy_open(&pics, &net, base, cfg.batch_size, &e) != 0) {
                    fprintf(stderr, "sbs-eval: %s\n", e.msg);
                    status = SBS_EXIT_FAILURE;
                    break;
                }
                if (!pics.on && lv == 0)
                    fprintf(stderr,
                            "sbs-eval: extract_noisy_pictures: the network has no SbS layer, "
                            "no pictures written\n");
            }
            memset(conf, 0, (size_t)nc * nc * sizeof *conf);
            long correct = 0;
            double own_loss = 0;
            sbs_progress prog;
            sbs_progress_init(&prog);
            double t0 = sbs_now();
            for (int first = 0; first < n; first += B) {
                int b = n - first < B ? n - first : B;
                sbs_crop_center(&ds.test, first, b, crop, x);
                if (noise.n)
                    sbs_noise_apply(noise.kind, level, (uint64_t)seed, x, b, pixels, first);
                sbs_spike_key key = {.seed = (uint64_t)seed,
                                     .pass = pass,
                                     .first_sample = (uint32_t)first};
                sbs_exec_forward(&ex, x, b, &key);
                /* an accuracy computed from NaN outputs would be a silent wrong result */
                int bad = sbs_exec_nonfinite_layer(&ex, b);
                if (bad >= 0) {
                    fprintf(stderr,
                            "sbs-eval: %slayer %d (%s) gave a non-finite output (NaN or "
                            "infinity) for test images %d-%d: the weights or the config make "
                            "the network diverge; no accuracy reported\n",
                            what, bad, sbs_layer_kind_name(net.L[bad].kind), first, first + b - 1);
                    status = SBS_EXIT_FAILURE;
                    break;
                }
                if (pics.on && !pin)
                    pin = xaligned((size_t)B * sbs_act_floats(&net, pics.layer) * sizeof(float));
                if (pics.on) sbs_exec_download_act(&ex, pics.layer, b, pin);
                if (pics.on &&
                    sbs_noisy_add(&pics, pin, b, &key, ds.test.y + first, first, NULL, &e) != 0) {
                    fprintf(stderr, "sbs-eval: extract_noisy_pictures: %s\n", e.msg);
                    status = SBS_EXIT_FAILURE;
                    break;
                }
                if (last->own_target) {
                    own_loss += sbs_exec_loss(&ex, ds.test.y + first, b);
                    double dt = sbs_now() - t0;
                    sbs_progress_line(&prog, first + b == n,
                                      "%seval %d/%d  loss %.5f  %.1f images/s", what, first + b, n,
                                      own_loss / (first + b), (first + b) / dt);
                    continue;
                }
                const float *out = ex.out;
                for (int i = 0; i < b; i++) {
                    int pred = sbs_argmax(out + (size_t)i * nc, nc);
                    int lab = ds.test.y[first + i];
                    if (lab < nc) conf[lab * nc + pred]++;
                    correct += pred == lab;
                }
                double dt = sbs_now() - t0;
                int done = first + b;
                sbs_progress_line(&prog, done == n,
                                  "%seval %d/%d  accuracy %.2f%%  %.1f images/s  ETA %.0fs", what,
                                  done, n, 100.0 * correct / done, done / dt,
                                  (n - done) * dt / done);
            }
            double secs = sbs_now() - t0;
            sbs_progress_done(&prog);
            if (pics.on && status == 0 && sbs_noisy_finish(&pics, &e) != 0) {
                fprintf(stderr, "sbs-eval: extract_noisy_pictures: %s\n", e.msg);
                status = SBS_EXIT_FAILURE;
            }
            if (pics.on && status == 0)
                fprintf(stderr, "sbs-eval: extract_noisy_pictures: %ld file(s) in %s\n", pics.files,
                        pics.dir);
            sbs_noisy_close(&pics);
            if (status) break;
            double acc = 100.0 * correct / n;
            char jnoise[160] = ""; /* the epoch's and level's fields in the JSON object */
            snprintf(jnoise, sizeof jnoise, "%s", jep);
            if (noise.n)
                snprintf(jnoise + strlen(jnoise), sizeof jnoise - strlen(jnoise),
                         "\"noise\": \"%s\", \"level\": %.15g, ", sbs_noise_name(noise.kind),
                         level);
            if (last->own_target) {
                if (json)
                    printf("{%s\"loss\": %.6f, \"total\": %d, \"seed\": %ld, \"seconds\": %.3f, "
                           "\"images_per_s\": %.2f}\n",
                           jnoise, own_loss / n, n, seed, secs, n / secs);
                else
                    printf("%s%s loss %.5f per pattern (%d images), %.1f images/s, %s\n", what,
                           last->cfg->type, own_loss / n, n, n / secs, be->describe(be));
                continue;
            }
            if (png_dir) {
                char pp[PATH_MAX + 96];
                if (noise.n)
                    snprintf(pp, sizeof pp, "%s/confusion_%s_%g.png", png_dir,
                             sbs_noise_name(noise.kind), level);
                else
                    snprintf(pp, sizeof pp, "%s/confusion.png", png_dir);
                if (sbs_png_confusion(pp, conf, nc, &e) != 0) {
                    fprintf(stderr, "sbs-eval: %s\n", e.msg);
                    status = SBS_EXIT_FAILURE;
                }
            }
            if (confusion) {
                FILE *f = json ? stderr : stdout;
                fprintf(f, "%sconfusion matrix (rows: label, columns: prediction)\n     ", what);
                for (int j = 0; j < nc; j++) fprintf(f, "%6d", j);
                fputc('\n', f);
                for (int i = 0; i < nc; i++) {
                    fprintf(f, "%4d ", i);
                    for (int j = 0; j < nc; j++) fprintf(f, "%6ld", conf[i * nc + j]);
                    fputc('\n', f);
                }
            }
            if (json) {
                printf("{%s\"accuracy\": %.4f, \"error\": %.4f, \"correct\": %ld, \"total\": %d, "
                       "\"seed\": %ld, \"spikes\": [",
                       jnoise, acc, 100.0 - acc, correct, n, seed);
                int first = 1;
                for (int l = 0; l < net.n; l++)
                    if (net.L[l].T) {
                        printf("%s%d", first ? "" : ", ", net.L[l].T);
                        first = 0;
                    }
                printf("], \"backend\": \"%s\", \"seconds\": %.3f, \"images_per_s\": %.2f",
                       be->describe(be), secs, n / secs);
                if (confusion) {
                    printf(", \"confusion\": [");
                    for (int i = 0; i < nc; i++) {
                        printf("%s[", i ? ", " : "");
                        for (int j = 0; j < nc; j++)
                            printf("%s%ld", j ? ", " : "", conf[i * nc + j]);
                        printf("]");
                    }
                    printf("]");
                }
                printf("}\n");
            } else {
                printf("%saccuracy %.2f %% (%ld / %d), error %.2f %%, %.1f images/s, %s\n", what,
                       acc, correct, n, 100.0 - acc, n / secs, be->describe(be));
            }
            fflush(stdout);
        }
    }
    free(ep_list);
    free(conf);
    free(x);
    free(pin);
    sbs_exec_free(&ex);
    sbs_net_free(&net);
    sbs_backend_destroy(be);
    sbs_dataset_free(&ds);
    return status;
}
