/* sbs-train — train a network from the reference's configs (SPEC §2). */
#include "sbs/blas_core.h"
#include "sbs/cli.h"
#include "sbs/paths.h"
#include "sbs/mpi.h"
#include "sbs/train.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The trainer's reports: log lines on stderr (unless quiet) and a progress line on a
 * terminal. */
typedef struct {
    bool quiet;
    sbs_progress prog;
} terminal;

static void report(void *ctx, sbs_report_kind kind, const char *line)
{
    terminal *t = ctx;
    if (kind == SBS_REPORT_LOG) {
        if (t->quiet) return;
        sbs_progress_done(&t->prog);
        fprintf(stderr, "%s\n", line);
        return;
    }
    sbs_progress_line(&t->prog, kind == SBS_REPORT_PROGRESS_FINAL, "%s", line);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: sbs-train [options] [path/to/def.json | folder]\n\n"
        "Trains the network of def.json (network.json and dataset.json beside it), saving the\n"
        "weights after every update and testing after every epoch.\n"
        "  --network FILE     network.json to use\n"
        "  --dataset FILE     dataset.json to use\n"
        "  --set KEY=VALUE    override a config key (repeatable; JSON values), e.g.\n"
        "                     --set learning_parameters.learning_rate_gamma_w=0.005\n"
        "                     --set number_of_spikes=[400]\n"
        "  --epochs N         train up to epoch epoch_id+N (default: up to epoch_id_max)\n"
        "  --data DIR         data folder (overrides data_path)\n"
        "  --out DIR          weights, checkpoint, train.log, metrics.jsonl (default: weights and\n"
        "                     checkpoint in weight_path, train.log and metrics in log_path);\n"
        "                     with extract_noisy_pictures also noisy_picture_data/ (README)\n"
        "  --weights DIR      weights to start from (default: overload_path, 'Previous'); layers\n"
        "                     without a file start from random weights\n"
        "  --resume           continue the run saved in --out (checkpoint.sbs) exactly\n"
        "  --seed S           seed of every random number (default 1)\n"
        "  --threads N        worker threads (default: number_of_cpu_processes, else the cores\n"
        "                     this process may use, shared by the MPI ranks on a machine);\n"
        "                     results do not depend on it\n"
        "  --simd L           auto|avx512|avx2|scalar (default auto)\n"
        "  --backend NAME     compute backend: cpu (default) or cuda, where built\n"
        "  --device N         CUDA device index (default 0)\n"
        "  --limit-train N    use the first N training images\n"
        "  --limit-test N     test on the first N test images\n"
        "  --metrics FILE     JSON lines, one per update and per epoch (default: OUT/metrics.jsonl)\n"
        "  --no-tensorboard   no TensorBoard event file (default: events.out.tfevents.* beside\n"
        "                     metrics.jsonl, for tensorboard --logdir)\n"
        "  --png DIR          after every epoch, pictures in DIR: weight mosaics\n"
        "                     weights_L<l>_S<epoch>.png, confusion matrix confusion_S<epoch>.png\n"
        "  --quiet            no log lines on stderr (errors still)\n"
        "  --dry-run          print the resolved network plan and the memory it needs, and\n"
        "                     exit (nothing is allocated)\n"
        "  --version, --help\n"
        "The last line on stdout is one JSON object with the results.\n"
        "Data-parallel over processes (builds with MPI): mpiexec -n N sbs-train ... gives the\n"
        "weights of one process; rank 0 writes every file; stop with SIGUSR1 to mpiexec.\n"
        "Exit status: 0 finished, 1 failed while running, 2 bad command line, config or input,\n"
        "3 out of memory, 130 interrupted (SIGINT, SIGTERM, SIGUSR1; state saved; continue with\n"
        "--resume).\n");
}

int main(int argc, char **argv)
{
    sbs_blas_core_init(argv); /* first: may restart the program (blas_core.h) */
    const char *network = NULL, *dataset = NULL;
    sbs_train_opts o = {.be_opts = {.simd = "auto"}, .seed = 1};
    terminal term = {0};
    long epochs = 0, seed = 1, threads = 0, lt = 0, lte = 0, device = 0;
    bool dry = false;
    const char *sets[argc + 1]; /* on the stack: nothing to free on the early returns */
    memset(sets, 0, sizeof sets);
    int n_sets = 0;
    sbs_err e = {{0}};
    enum {
        O_NET = 256,
        O_DS,
        O_SET,
        O_EP,
        O_DATA,
        O_OUT,
        O_W,
        O_RES,
        O_SEED,
        O_TH,
        O_SIMD,
        O_LT,
        O_LTE,
        O_MET,
        O_Q,
        O_DRY,
        O_VER,
        O_BE,
        O_DEV,
        O_NOTB,
        O_PNG
    };
    static const struct option opts[] = {{"network", 1, 0, O_NET},
                                         {"dataset", 1, 0, O_DS},
                                         {"set", 1, 0, O_SET},
                                         {"epochs", 1, 0, O_EP},
                                         {"data", 1, 0, O_DATA},
                                         {"out", 1, 0, O_OUT},
                                         {"weights", 1, 0, O_W},
                                         {"resume", 0, 0, O_RES},
                                         {"seed", 1, 0, O_SEED},
                                         {"threads", 1, 0, O_TH},
                                         {"simd", 1, 0, O_SIMD},
                                         {"limit-train", 1, 0, O_LT},
                                         {"limit-test", 1, 0, O_LTE},
                                         {"metrics", 1, 0, O_MET},
                                         {"quiet", 0, 0, O_Q},
                                         {"dry-run", 0, 0, O_DRY},
                                         {"version", 0, 0, O_VER},
                                         {"backend", 1, 0, O_BE},
                                         {"device", 1, 0, O_DEV},
                                         {"no-tensorboard", 0, 0, O_NOTB},
                                         {"png", 1, 0, O_PNG},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case O_NET: network = optarg; break;
        case O_DS: dataset = optarg; break;
        case O_SET: sets[n_sets++] = optarg; break;
        case O_EP: r = sbs_parse_int("--epochs", optarg, 1, 1000000, &epochs, &e); break;
        case O_DATA: o.data_dir = optarg; break;
        case O_OUT: o.out_dir = optarg; break;
        case O_W: o.weights_in = optarg; break;
        case O_RES: o.resume = true; break;
        case O_SEED: r = sbs_parse_int("--seed", optarg, 0, 0x7fffffffffffffffL, &seed, &e); break;
        case O_TH: r = sbs_parse_int("--threads", optarg, 1, 1024, &threads, &e); break;
        case O_SIMD:
            o.be_opts.simd = optarg;
            r = sbs_parse_simd(optarg, &e);
            break;
        case O_BE: o.backend = optarg; break;
        case O_DEV: r = sbs_parse_int("--device", optarg, 0, 1023, &device, &e); break;
        case O_LT: r = sbs_parse_int("--limit-train", optarg, 1, 1L << 30, &lt, &e); break;
        case O_LTE: r = sbs_parse_int("--limit-test", optarg, 1, 1L << 30, &lte, &e); break;
        case O_MET: o.metrics_path = optarg; break;
        case O_Q: term.quiet = true; break;
        case O_DRY: dry = true; break;
        case O_NOTB: o.no_tensorboard = true; break;
        case O_PNG: o.png_dir = optarg; break;
        case O_VER: printf("sbs-train %s\n", SBS_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: return sbs_option_error("sbs-train", c, argv);
        }
        if (r) return sbs_usage_error("sbs-train", e.msg);
    }
    if (argc - optind > 1) return sbs_usage_error("sbs-train", "expected at most one config path");
    char netf[PATH_MAX], dsf[PATH_MAX], deff[PATH_MAX];
    static sbs_config cfg;
    char found[PATH_MAX]; /* a relative config path may name an installed config */
    const char *def =
        sbs_resolve_config_arg(optind < argc ? argv[optind] : NULL, found, sizeof found);
    if (sbs_config_paths(def, network, dataset, netf, dsf, deff, &e) != 0 ||
        sbs_config_load(&cfg, netf, dsf, deff, sets, n_sets, &e) != 0) {
        fprintf(stderr, "sbs-train: %s\n", e.msg);
        return SBS_EXIT_USAGE;
    }
    int th = threads > 0 ? (int)threads
                         : (cfg.number_of_cpu_processes > 0 ? cfg.number_of_cpu_processes : 0);
    o.be_opts.threads = th;
    o.be_opts.device = (int)device;
    if (dry) { /* the plan's shapes only: a net of any size is printed, none allocated */
        sbs_net net;
        if (sbs_plan_shapes_for_data(&net, &cfg, NULL, NULL, NULL, &e) != 0) {
            fprintf(stderr, "sbs-train: %s\n", e.msg);
            return SBS_EXIT_USAGE;
        }
        sbs_backend *be = sbs_backend_create(o.backend, &o.be_opts, &e);
        if (!be) {
            fprintf(stderr, "sbs-train: %s\n", e.msg);
            sbs_net_free(&net);
            return SBS_EXIT_USAGE;
        }
        sbs_net_print_plan(&net, stdout);
        printf("spike updates per image: %.0f\n", sbs_net_spikes_per_image(&net));
        int B = cfg.batch_size < 64 ? 64 : cfg.batch_size;
        bool tr = cfg.learn.learning_active;
        size_t nm = sbs_train_net_memory(&net, be, B, tr), dm = sbs_mode_data_bytes(cfg.data_mode);
        size_t need = sbs_add_huge(nm, dm);
        size_t avail = sbs_mem_available();
        printf("memory: %.1f MiB (network, batch %d, %s, training %s) + %.1f MiB (data "
               "set) = %.1f MiB; available %.1f MiB\n",
               nm / 1048576.0, B, be->describe(be), tr ? "on" : "off", dm / 1048576.0,
               need / 1048576.0, avail / 1048576.0);
        if (need > avail) { /* a plan, not a run: say so, and still exit 0 */
            fprintf(stderr,
                    "sbs-train: --dry-run: this run needs about %.1f GiB of memory, this "
                    "machine has %.1f GiB available: a run would stop (exit 3)\n",
                    need / 1073741824.0, avail / 1073741824.0);
        }
        sbs_backend_destroy(be);
        sbs_net_free(&net);
        return 0;
    }
    /* several processes under an MPI launcher (mpi.h): one training, rank 0 reports */
    int st = sbs_mpi_begin(&argc, &argv, &o.reducer, &e);
    if (st != 0) {
        fprintf(stderr, "sbs-train: %s\n", e.msg);
        return st;
    }
    if (th == 0) o.be_opts.threads = sbs_mpi_default_threads(o.reducer);
    o.epochs = (int)epochs;
    o.seed = (uint64_t)seed;
    o.limit_train = lt;
    o.limit_test = lte;
    sbs_progress_init(&term.prog);
    o.report = report;
    o.report_ctx = &term;
    /* --png: the folder is made now, not after the first epoch */
    if (o.png_dir && sbs_mkdir_p(o.png_dir, &e) != 0) {
        fprintf(stderr, "sbs-train: --png %s: %s\n", o.png_dir, e.msg);
        return SBS_EXIT_USAGE;
    }
    st = sbs_train_run(&cfg, &o, &e);
    sbs_progress_done(&term.prog);
    return sbs_mpi_end(o.reducer, st, &e, "sbs-train", term.quiet);
}
