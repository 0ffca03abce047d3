/* fuzz_config.c — the config loader (SPEC §3): comments, merging of the three files,
 * --set overrides, strict keys and types, and the network plan's shape checks.
 *
 * Input: up to four parts separated by a line "%%":
 *   one part: def.json alone; two: network.json, def.json; three: network.json,
 *   dataset.json, def.json; four: the three files and --set overrides, one per line.
 * A config that loads is dumped (sbs_config_dump), and the dump must load again and give the
 * same dump (the dump is what --dry-run and the logs show). */
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

/* The plan allocates each layer's weights (K x N floats, K = C * kx * ky): keep to plans a
 * fuzzing machine can allocate, bounding that product (with C and N at most the largest
 * neuron count given) rather than the geometry, which the loader bounds (SBS_MAX_GEOM): large
 * kernels, strides, dilations and paddings are explored. */
static bool plan_sized(const sbs_config *c)
{
    size_t ch = 3; /* CIFAR's channels */
    for (int l = 0; l < c->n_layers; l++) {
        const sbs_layer_cfg *L = &c->layers[l];
        if (L->in > (int)ch) ch = (size_t)L->in;
        if (L->out > (int)ch) ch = (size_t)L->out;
        if (L->spikes > 100000) return false;
    }
    if (ch > 256 || c->number_of_output_neurons > 256) return false;
    for (int l = 0; l < c->n_layers; l++) {
        const sbs_layer_cfg *L = &c->layers[l];
        size_t w = ch * ch * (size_t)L->kernel[0] * (size_t)L->kernel[1];
        if (w > ((size_t)16 << 20)) return false; /* 64 MiB of weights */
    }
    return true;
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
        if (2 * crop < ih && 2 * crop < iw && plan_sized(&cfg)) {
            sbs_net net;
            int rp = sbs_net_plan(&net, &cfg, ic, ih - 2 * crop, iw - 2 * crop, &e);
            fuzz_note("plan", rp, e.msg);
            if (rp == 0) {
                sbs_net_spikes_per_image(&net);
                sbs_net_free(&net);
            } else {
                fuzz_check_msg(e.msg);
            }
        }
    }
    return 0;
}
