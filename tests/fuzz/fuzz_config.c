/* fuzz_config.c — the config loader (SPEC §3): comments, merging of the three files,
 * --set overrides, strict keys and types, and the network plan's shape checks.
 *
 * Input: up to four parts separated by a line "%%":
 *   one part: def.json alone; two: network.json, def.json; three: network.json,
 *   dataset.json, def.json; four: the three files and --set overrides, one per line.
 * A config that loads is dumped (sbs_config_dump), and the dump must load again and give the
 * same dump (the dump is what --dry-run and the logs show); then it is planned (below). */
#include "fuzz_cfg.h"
#include "sbs/cli.h"
#include "sbs/net.h"

static char *dump_string(const sbs_config *cfg, size_t *len)
{
    char *s = NULL;
    FILE *f = open_memstream(&s, len);
    if (!f) abort();
    sbs_config_dump(cfg, f);
    fclose(f);
    return s;
}

/* Every config is planned shapes only (sbs_net_plan_shapes allocates nothing whose size
 * comes from the config), so the loader's whole range is explored: kernels, strides,
 * dilations and paddings up to SBS_MAX_GEOM, a million neurons, ten million spikes. A plan
 * that is made must keep every size within SBS_MAX_COUNT (what the kernels index with int);
 * one whose parameters and an image's activations fit in 64 MiB is then allocated, and must
 * equal sbs_net_plan's, bit for bit. */
#define ALLOC_LIMIT ((size_t)64 << 20)

static void check_limits(const sbs_net *net)
{
    if (net->params) {
        fprintf(stderr, "a shapes-only plan has parameters\n");
        abort();
    }
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        unsigned long long w = sbs_weight_floats(L), out = (unsigned long long)L->N * L->X * L->Y;
        unsigned long long in = (unsigned long long)L->C * L->H * L->W;
        if (L->weight || L->bias || L->eps || L->N < 1 || L->X < 1 || L->Y < 1 ||
            (L->has_weights && (L->g.K < 1 || w > SBS_MAX_COUNT)) || out > SBS_MAX_COUNT ||
            in > SBS_MAX_COUNT) {
            fprintf(stderr,
                    "layer %d (%s) planned with memory or out of bounds: %d x %d x %d -> %d x %d "
                    "x %d, K %d, %llu weights\n",
                    l, L->cfg->type, L->C, L->H, L->W, L->N, L->X, L->Y, L->g.K, w);
            abort();
        }
    }
}

static void plan_and_compare(const sbs_config *cfg, int c, int h, int w)
{
    static FILE *null_out;
    if (!null_out) null_out = fopen("/dev/null", "w");
    sbs_net net;
    sbs_err e = {{0}};
    int rp = sbs_net_plan_shapes(&net, cfg, c, h, w, &e);
    fuzz_note("plan", rp, e.msg);
    if (rp != 0) {
        fuzz_check_msg(e.msg);
        return;
    }
    check_limits(&net);
    sbs_net_spikes_per_image(&net);
    sbs_net_memory(&net, cfg->batch_size, true);
    if (null_out) sbs_net_print_plan(&net, null_out);
    if (sbs_net_memory(&net, 1, false) < ALLOC_LIMIT) {
        sbs_net full;
        if (sbs_net_plan(&full, cfg, c, h, w, &e) != 0) {
            fprintf(stderr, "the shapes plan is made, the full plan fails: %s\n", e.msg);
            abort();
        }
        sbs_net_alloc_params(&net);
        if (full.n_params != net.n_params ||
            memcmp(full.params, net.params, net.n_params * sizeof(float)) != 0) {
            fprintf(stderr, "shapes + alloc differs from sbs_net_plan\n");
            abort();
        }
        sbs_net_free(&full);
    }
    sbs_net_free(&net);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    static sbs_config cfg, cfg2;
    sbs_err e = {{0}};
    int r = fuzz_cfg_load(data, size, &cfg, &e);
    fuzz_note("config", r, e.msg);
    if (r != 0) {
        /* one line, naming something */
        fuzz_check_msg(e.msg);
    } else {
        size_t n1 = 0, n2 = 0;
        char *d1 = dump_string(&cfg, &n1);
        char p[512];
        fuzz_write("dump.json", d1, n1, p, sizeof p);
        if (sbs_config_load(&cfg2, NULL, NULL, p, NULL, 0, &e) != 0) {
            fprintf(stderr, "the dump of a valid config does not load: %s\n%s\n", e.msg, d1);
            abort();
        }
        char *d2 = dump_string(&cfg2, &n2);
        if (n1 != n2 || memcmp(d1, d2, n1) != 0) {
            fprintf(stderr, "the dump changes when loaded again:\n%s\n---\n%s\n", d1, d2);
            abort();
        }
        free(d1);
        free(d2);

        int ic = 1, ih = 28, iw = 28;
        sbs_mode_shape(cfg.data_mode, &ic, &ih, &iw);
        int crop = cfg.aug.crop_width_in_pixel;
        if (2 * crop < ih && 2 * crop < iw)
            plan_and_compare(&cfg, ic, ih - 2 * crop, iw - 2 * crop);
    }
    return 0;
}
