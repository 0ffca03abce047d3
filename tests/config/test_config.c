/* test_config.c — the config loader (SPEC §3): the reference's config sets, defaults, merging,
 * overrides, per-layer lists and every kind of error message.
 *
 * Table-driven: each case writes its files (if any) into a fresh temp folder, loads them and
 * checks either the resolved values or that the call failed with a message naming the file and
 * key. One line per case; exit status 1 if any failed, 77 if the reference configs are absent. */
#include "sbs/config.h"

#include "child.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_dir[1024];      /* temp folder of this run */
static char g_ref[1024];      /* shared/reference/configs */
static char g_last_msg[1024]; /* the error message (or note) of the last case, printed */

#define EXPECT(cond)                                             \
    do {                                                         \
        if (!(cond)) {                                           \
            snprintf(why, nwhy, "line %d: %s", __LINE__, #cond); \
            return -1;                                           \
        }                                                        \
    } while (0)

static bool feq(float a, float b)
{
    return fabsf(a - b) <= 1e-6f * fmaxf(1.0f, fabsf(b));
}

/* Write `text` to path, with every ' turned into " (keeps the JSON below readable). */
static void write_json(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    for (const char *p = text; *p; p++) fputc(*p == '\'' ? '"' : *p, f);
    fclose(f);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct tcase {
    const char *name;
    const char *net, *ds, *def; /* file contents (' stands for "); NULL: the file is not given */
    const char *set[6];         /* overrides */
    int expect;                 /* 0: loads; -1: fails */
    /* failure: message must contain these; "%N" "%S" "%D" stand for the three file paths */
    const char *msg[4];
    int (*check)(const sbs_config *c, char *why, size_t nwhy); /* success: values */
    int (*run)(char *why, size_t nwhy);                        /* a case of its own */
} tcase;

/* ---- checks of resolved values ---------------------------------------------------------- */

static int chk_defaults(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(c->n_layers == 2);
    EXPECT(c->batch_size == 500);
    EXPECT(c->data_mode[0] == 0);
    EXPECT(c->epoch_id == 0 && c->epoch_id_max == 10000);
    EXPECT(c->number_of_cpu_processes == -1);
    EXPECT(strcmp(c->weight_path, "Parameters") == 0);
    EXPECT(strcmp(c->log_path, "Log") == 0);
    EXPECT(c->simulation_id == 0 && c->stage_id == 0);
    EXPECT(!c->enable_cpu_thread_balacing && !c->force_forward_h_dynamic_on_cpu);
    EXPECT(!c->extract_noisy_pictures);
    EXPECT(c->number_of_output_neurons == 10);
    for (int l = 0; l < 2; l++) {
        const sbs_layer_cfg *L = &c->layers[l];
        EXPECT(L->kind == SBS_L_SBS);
        EXPECT(L->kernel[0] == 1 && L->kernel[1] == 1);
        EXPECT(L->stride[0] == 1 && L->stride[1] == 1);
        EXPECT(L->dilation[0] == 1 && L->dilation[1] == 1);
        EXPECT(L->padding[0] == 0 && L->padding[1] == 0);
        EXPECT(L->spikes == 1600);
        EXPECT(feq(L->epsilon_0, 1.0f));
        EXPECT(feq(L->forgetting_offset, -1.0f));
        EXPECT(L->cooldown_after_number_of_spikes == -1);
        EXPECT(feq(L->reduction_cooldown, 25.0f));
        EXPECT(!L->spike_full_layer_input_distribution);
        EXPECT(!L->sbs_skip_gradient_calculation);
        EXPECT(L->w_trainable);
        EXPECT(!L->approximation_enable);
        EXPECT(L->number_of_trunc_bits == -1 && L->number_of_frac_bits == -1);
    }
    EXPECT(c->layers[0].in == 1 && c->layers[0].out == 32);
    EXPECT(c->layers[1].in == 32 && c->layers[1].out == 10);
    EXPECT(c->learn.learning_active);
    EXPECT(c->learn.loss_mode == 0);
    EXPECT(feq(c->learn.loss_coeffs_mse, 0.5f) && feq(c->learn.loss_coeffs_kldiv, 1.0f));
    EXPECT(strcmp(c->learn.optimizer_name, "Adam") == 0);
    EXPECT(feq(c->learn.learning_rate_gamma_w, -1.0f));
    EXPECT(feq(c->learn.learning_rate_threshold_w, 1e-5f));
    EXPECT(strcmp(c->learn.lr_schedule_name, "ReduceLROnPlateau") == 0);
    EXPECT(!c->learn.lr_scheduler_use_performance);
    EXPECT(feq(c->learn.lr_scheduler_factor_w, 0.75f));
    EXPECT(c->learn.lr_scheduler_patience_w == -1);
    EXPECT(feq(c->learn.lr_scheduler_tau_w, 10.0f));
    EXPECT(c->learn.number_of_batches_for_one_update == 1);
    EXPECT(strcmp(c->learn.overload_path, "Previous") == 0);
    EXPECT(feq(c->learn.weight_noise_range[0], 1.0f) && feq(c->learn.weight_noise_range[1], 1.1f));
    EXPECT(feq(c->learn.eps_xy_intitial, 1.0f));
    EXPECT(!c->learn.disable_scale_grade && c->learn.kepp_last_grad_scale);
    EXPECT(c->learn.adapt_learning_rate_after_minibatch);
    EXPECT(c->aug.crop_width_in_pixel == 2);
    EXPECT(feq(c->aug.flip_p, 0.5f) && feq(c->aug.jitter_brightness, 0.5f));
    EXPECT(feq(c->aug.jitter_contrast, 0.1f) && feq(c->aug.jitter_saturation, 0.1f));
    EXPECT(feq(c->aug.jitter_hue, 0.15f));
    EXPECT(c->image_statistics.n_mean == 0 && c->image_statistics.n_size == 0);
    EXPECT(c->dataset_file[0] == 0 && c->def_file[0] == 0 && c->network_file[0] != 0);
    return 0;
}

static int chk_merge(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(c->batch_size == 30);                            /* def over dataset over network */
    EXPECT(strcmp(c->data_mode, "CIFAR10") == 0);           /* from dataset */
    EXPECT(c->learn.loss_mode == 1);                        /* network */
    EXPECT(strcmp(c->learn.optimizer_name, "SGD") == 0);    /* network, def did not touch it */
    EXPECT(feq(c->learn.learning_rate_gamma_w, 0.02f));     /* def overrides network's 0.1 */
    EXPECT(c->learn.number_of_batches_for_one_update == 7); /* def adds */
    EXPECT(c->aug.crop_width_in_pixel == 0 && feq(c->aug.flip_p, 0.25f));
    return 0;
}

static int chk_comments(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(strcmp(c->data_path, "http://x") == 0);
    EXPECT(strcmp(c->weight_path, "a\"//b") == 0);
    EXPECT(strcmp(c->log_path, "//") == 0);
    EXPECT(c->batch_size == 7);
    return 0;
}

static int chk_int_as_float(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(feq(c->learn.learning_rate_gamma_w, 1.0f));
    EXPECT(c->batch_size == 24); /* 24.0 is an integer */
    EXPECT(feq(c->layers[0].epsilon_0, 2.0f));
    return 0;
}

static int chk_set_spikes(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(c->layers[0].spikes == 400 && c->layers[1].spikes == 400);
    return 0;
}

static int chk_set_lr(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(feq(c->learn.learning_rate_gamma_w, 0.005f));
    EXPECT(c->learn.loss_mode == 1); /* the rest of learning_parameters kept */
    return 0;
}

static int chk_set_strings(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(strcmp(c->data_mode, "MNIST") == 0);
    EXPECT(strcmp(c->weight_path, "123") == 0);
    EXPECT(strcmp(c->log_path, "my log") == 0);
    EXPECT(feq(c->aug.flip_p, 0.0f));
    EXPECT(c->batch_size == 8); /* the later override wins */
    return 0;
}

static int chk_set_object(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(feq(c->aug.flip_p, 0.0f) && c->aug.crop_width_in_pixel == 4);
    EXPECT(feq(c->aug.jitter_hue, 0.15f));
    return 0;
}

static int chk_layer_lists(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(c->n_layers == 3);
    EXPECT(c->layers[0].spikes == 100 && c->layers[1].spikes == 200);
    EXPECT(c->layers[2].spikes == 1600); /* list of 2 for 3 layers: default */
    for (int l = 0; l < 3; l++) {
        EXPECT(feq(c->layers[l].epsilon_0, 0.5f));                          /* scalar */
        EXPECT(!c->layers[l].w_trainable);                                  /* list of one */
        EXPECT(c->layers[l].stride[0] == 2 && c->layers[l].stride[1] == 3); /* list of one */
    }
    EXPECT(feq(c->layers[0].forgetting_offset, 0.1f) && feq(c->layers[1].forgetting_offset, 0.2f));
    EXPECT(feq(c->layers[2].forgetting_offset, 0.3f));
    EXPECT(c->layers[1].cooldown_after_number_of_spikes == 5);
    EXPECT(c->layers[0].kernel[0] == 5 && c->layers[0].kernel[1] == 4);
    EXPECT(c->layers[1].kernel[0] == 1 && c->layers[1].kernel[1] == 1); /* [] */
    EXPECT(c->layers[2].kernel[0] == 1);                                /* absent */
    EXPECT(c->layers[1].in == -1 && c->layers[1].out == -1);            /* [] */
    EXPECT(c->layers[1].padding[0] == 2 && c->layers[0].padding[0] == 0);
    EXPECT(c->layers[2].sbs_skip_gradient_calculation);
    EXPECT(!c->layers[0].sbs_skip_gradient_calculation);
    EXPECT(c->layers[1].spike_full_layer_input_distribution);
    EXPECT(c->layers[0].kind == SBS_L_SBS && c->layers[1].kind == SBS_L_RELU);
    EXPECT(c->layers[2].kind == SBS_L_SBS_POOLING);
    EXPECT(strcmp(c->layers[2].type, "sbs Pooling") == 0);
    return 0;
}

static int chk_choices(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(strcmp(c->learn.optimizer_name, "SGD") == 0);
    EXPECT(strcmp(c->learn.lr_schedule_name, "None") == 0);
    EXPECT(strcmp(c->data_mode, "MNIST_FASHION") == 0);
    return 0;
}

static int chk_image_stats(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(c->image_statistics.n_mean == 3);
    EXPECT(feq(c->image_statistics.mean[0], 0.5f) && feq(c->image_statistics.mean[2], 0.25f));
    EXPECT(c->image_statistics.n_size == 3 && c->image_statistics.the_size[1] == 32);
    EXPECT(feq(c->learn.weight_noise_range[0], 0.5f) && feq(c->learn.weight_noise_range[1], 2.0f));
    EXPECT(c->layers[0].approximation_enable && c->layers[1].number_of_frac_bits == 12);
    EXPECT(c->layers[0].number_of_trunc_bits == 3);
    return 0;
}

static int chk_set_text(const sbs_config *c, char *why, size_t nwhy)
{
    EXPECT(strcmp(c->data_path, "[x") == 0);
    return 0;
}

/* ---- cases of their own --------------------------------------------------------------- */

typedef struct {
    const char *dataset, *model;
} refset;

static const refset g_refsets[] = {
    {"MNIST", "SbS_Entropy"},
    {"MNIST", "SbS_Mixed_Loss"},
    {"MNIST", "CNN"},
    {"MNIST", "CNN_Approx"},
    {"FASHION_MNIST", "SbS_Entropy"},
    {"FASHION_MNIST", "SbS_Mixed_Loss"},
    {"FASHION_MNIST", "CNN"},
    {"FASHION_MNIST", "CNN_Approx"},
    {"CIFAR10", "SbS_Entropy"},
    {"CIFAR10", "SbS_Mixed_Loss"},
    {"CIFAR10", "CNN"},
    {"CIFAR10", "CNN_Approx"},
};

static int check_refset(const refset *r, const sbs_config *c, char *why, size_t nwhy)
{
    bool cifar = strcmp(r->dataset, "CIFAR10") == 0;
    bool sbs = strncmp(r->model, "SbS", 3) == 0;
    bool approx = strcmp(r->model, "CNN_Approx") == 0;
    const char *mode = cifar                              ? "CIFAR10"
                       : strcmp(r->dataset, "MNIST") == 0 ? "MNIST"
                                                          : "MNIST_FASHION";
    EXPECT(strcmp(c->data_mode, mode) == 0);
    EXPECT(c->batch_size == 24);
    EXPECT(c->epoch_id_max == 200);
    EXPECT(c->learn.number_of_batches_for_one_update == 20);
    EXPECT(c->learn.loss_mode == (strcmp(r->model, "SbS_Mixed_Loss") == 0 ? 0 : 1));
    EXPECT(!c->learn.adapt_learning_rate_after_minibatch);
    EXPECT(c->learn.lr_scheduler_patience_w == -1);
    EXPECT(c->number_of_output_neurons == 10);
    EXPECT(c->layers[0].in == (cifar ? 3 : 1));
    EXPECT(c->layers[c->n_layers - 1].out == 10);
    for (int l = 0; l < c->n_layers; l++) EXPECT(c->layers[l].w_trainable);
    if (sbs) {
        static const sbs_layer_kind k[6] = {SBS_L_SBS, SBS_L_AVERAGE_POOLING,
                                            SBS_L_SBS, SBS_L_AVERAGE_POOLING,
                                            SBS_L_SBS, SBS_L_SBS};
        EXPECT(c->n_layers == 6);
        for (int l = 0; l < 6; l++) {
            EXPECT(c->layers[l].kind == k[l]);
            EXPECT(c->layers[l].spikes == (cifar ? 4800 : 1600));
            EXPECT(feq(c->layers[l].forgetting_offset, 0.0f));
        }
        EXPECT(strcmp(c->layers[1].type, "Average POOLING") == 0);
        EXPECT(feq(c->learn.learning_rate_gamma_w, 0.01f));
        EXPECT(feq(c->learn.learning_rate_threshold_w, 0.001f));
        int k4 = cifar ? 4 : 3; /* the last window covers what is left: 4x4 or 3x3 */
        EXPECT(c->layers[4].kernel[0] == k4 && c->layers[4].kernel[1] == k4);
        EXPECT(c->layers[1].stride[0] == 2 && c->layers[1].kernel[0] == 2);
        EXPECT(c->layers[1].in == 32 && c->layers[1].out == 32);
    } else {
        sbs_layer_kind conv = approx ? SBS_L_APPROX_CONV2D : SBS_L_CONV2D;
        const sbs_layer_kind k[9] = {conv, SBS_L_RELU, SBS_L_MAX_POOLING,
                                     conv, SBS_L_RELU, SBS_L_MAX_POOLING,
                                     conv, SBS_L_RELU, conv};
        EXPECT(c->n_layers == 9);
        for (int l = 0; l < 9; l++) {
            EXPECT(c->layers[l].kind == k[l]);
            if (k[l] == SBS_L_RELU) {
                EXPECT(c->layers[l].in == -1 && c->layers[l].out == -1);
                EXPECT(c->layers[l].kernel[0] == 1 && c->layers[l].stride[0] == 1);
            }
            EXPECT(c->layers[l].approximation_enable == approx);
            EXPECT(c->layers[l].number_of_frac_bits == (approx ? 30 : -1));
            EXPECT(c->layers[l].number_of_trunc_bits == (approx ? 1 : -1));
        }
        EXPECT(c->layers[2].in == -1 && c->layers[2].stride[0] == 2);
        EXPECT(c->layers[6].kernel[0] == (cifar ? 4 : 3));
        EXPECT(feq(c->learn.learning_rate_gamma_w, 0.001f));
    }
    return 0;
}

static int run_refset(const refset *r, char *why, size_t nwhy)
{
    char dir[PATH_MAX], net[PATH_MAX], ds[PATH_MAX], def[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s/%s", g_ref, r->dataset, r->model);
    sbs_err e;
    if (sbs_config_paths(dir, NULL, NULL, net, ds, def, &e)) {
        snprintf(why, nwhy, "paths: %s", e.msg);
        return -1;
    }
    sbs_config *c = malloc(sizeof *c);
    int rc = sbs_config_load(c, net, ds, def, NULL, 0, &e);
    if (rc)
        snprintf(why, nwhy, "load: %s", e.msg);
    else
        rc = check_refset(r, c, why, nwhy);
    free(c);
    return rc;
}

#define REF(i)                                       \
    static int run_ref##i(char *why, size_t nwhy)    \
    {                                                \
        return run_refset(&g_refsets[i], why, nwhy); \
    }
REF(0)
REF(1)
REF(2)
REF(3)
REF(4)
REF(5)
REF(6)
REF(7)
REF(8)
REF(9)
REF(10)
REF(11)

static int run_kinds(char *why, size_t nwhy)
{
    EXPECT(sbs_layer_kind_parse("SbS") == SBS_L_SBS);
    EXPECT(sbs_layer_kind_parse("sbs") == SBS_L_SBS);
    EXPECT(sbs_layer_kind_parse("SbS POOLING") == SBS_L_SBS_POOLING);
    EXPECT(sbs_layer_kind_parse("sbs avg pooling") == SBS_L_SBS_POOLING);
    EXPECT(sbs_layer_kind_parse("SbS LOCAL") == SBS_L_SBS_LOCAL);
    EXPECT(sbs_layer_kind_parse("Average POOLING") == SBS_L_AVERAGE_POOLING);
    EXPECT(sbs_layer_kind_parse("MAX POOLING") == SBS_L_MAX_POOLING);
    EXPECT(sbs_layer_kind_parse("Conv2D") == SBS_L_CONV2D);
    EXPECT(sbs_layer_kind_parse("APPROX CONV2D") == SBS_L_APPROX_CONV2D);
    EXPECT(sbs_layer_kind_parse("nnmf") == SBS_L_NNMF);
    EXPECT(sbs_layer_kind_parse("BP SBS NNMF") == SBS_L_BP_SBS_NNMF);
    EXPECT(sbs_layer_kind_parse("RELU") == SBS_L_RELU);
    EXPECT(sbs_layer_kind_parse("OnOff") == SBS_L_ONOFF);
    EXPECT(sbs_layer_kind_parse("Poisson") == SBS_L_POISSON);
    EXPECT(sbs_layer_kind_parse("Input Spike Image") == SBS_L_INPUT_SPIKE_IMAGE);
    EXPECT(sbs_layer_kind_parse("Reconstruction") == SBS_L_RECONSTRUCTION);
    EXPECT(sbs_layer_kind_parse(" RELU ") == SBS_L_RELU);
    EXPECT(sbs_layer_kind_parse("Foo") == -1);
    EXPECT(sbs_layer_kind_parse("") == -1);
    EXPECT(sbs_layer_kind_parse(NULL) == -1);
    EXPECT(sbs_layer_kind_parse("POOLING") == -1);
    for (int k = 0; k < SBS_L_COUNT; k++) EXPECT(sbs_layer_kind_parse(sbs_layer_kind_name(k)) == k);
    EXPECT(strcmp(sbs_layer_kind_name(SBS_L_AVERAGE_POOLING), "AVERAGE POOLING") == 0);
    EXPECT(strcmp(sbs_layer_kind_name(SBS_L_COUNT), "?") == 0);
    return 0;
}

/* Dump a loaded reference config, load the dump as a def.json of its own: same config. */
static int run_dump_roundtrip(char *why, size_t nwhy)
{
    char dir[PATH_MAX], net[PATH_MAX], ds[PATH_MAX], def[PATH_MAX], dump[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/FASHION_MNIST/CNN_Approx", g_ref);
    snprintf(dump, sizeof dump, "%s/dump.json", g_dir);
    sbs_err e;
    sbs_config *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    int rc = -1;
    const char *set[] = {"learning_parameters.learning_rate_gamma_w=0.005", "epsilon_0=[0.1,0.3]",
                         "image_statistics.mean=[0.1307]"};
    if (sbs_config_paths(dir, NULL, NULL, net, ds, def, &e) ||
        sbs_config_load(a, net, ds, def, set, 3, &e)) {
        snprintf(why, nwhy, "load: %s", e.msg);
        goto out;
    }
    FILE *f = fopen(dump, "w");
    if (!f) {
        snprintf(why, nwhy, "cannot write %s", dump);
        goto out;
    }
    sbs_config_dump(a, f);
    fclose(f);
    if (sbs_config_load(b, NULL, NULL, dump, NULL, 0, &e)) {
        snprintf(why, nwhy, "reload of the dump: %s", e.msg);
        goto out;
    }
    memset(a->network_file, 0, sizeof a->network_file);
    memset(a->dataset_file, 0, sizeof a->dataset_file);
    memset(a->def_file, 0, sizeof a->def_file);
    memset(b->def_file, 0, sizeof b->def_file);
    if (memcmp(a, b, sizeof *a) != 0) {
        snprintf(why, nwhy, "the reloaded dump differs from the original");
        goto out;
    }
    if (!(feq(b->layers[1].epsilon_0, 0.3f) && feq(b->layers[2].epsilon_0, 1.0f) &&
          b->image_statistics.n_mean == 1)) {
        snprintf(why, nwhy, "values lost in the dump");
        goto out;
    }
    rc = 0;
out:
    free(a);
    free(b);
    return rc;
}

static bool contains(const char *msg, const char *s, char *why, size_t nwhy)
{
    if (strstr(msg, s)) return true;
    snprintf(why, nwhy, "message lacks '%.900s': %.1000s", s, msg);
    return false;
}

static int run_paths(char *why, size_t nwhy)
{
    char sub[PATH_MAX], p[PATH_MAX + 32], net[PATH_MAX], ds[PATH_MAX], def[PATH_MAX];
    sbs_err e;
    snprintf(sub, sizeof sub, "%s/paths", g_dir);
    if (mkdir(sub, 0700) != 0) {
        snprintf(why, nwhy, "mkdir %s: %s", sub, strerror(errno));
        return -1;
    }
    /* a folder with only def.json: network.json is missing and named */
    snprintf(p, sizeof p, "%s/def.json", sub);
    write_json(p, "{}");
    EXPECT(sbs_config_paths(sub, NULL, NULL, net, ds, def, &e) == -1);
    snprintf(p, sizeof p, "%s/network.json", sub);
    if (!contains(e.msg, p, why, nwhy) || !contains(e.msg, "cannot open", why, nwhy) ||
        !contains(e.msg, "No such file or directory", why, nwhy))
        return -1;
    /* network.json given explicitly, dataset.json beside def.json */
    snprintf(p, sizeof p, "%s/dataset.json", sub);
    write_json(p, "{}");
    char other[PATH_MAX + 32];
    snprintf(other, sizeof other, "%s/my-net.json", g_dir);
    write_json(other, "{}");
    snprintf(p, sizeof p, "%s/def.json", sub);
    EXPECT(sbs_config_paths(p, other, NULL, net, ds, def, &e) == 0);
    EXPECT(strcmp(def, p) == 0);
    EXPECT(strcmp(net, other) == 0);
    snprintf(p, sizeof p, "%s/dataset.json", sub);
    EXPECT(strcmp(ds, p) == 0);
    /* the folder with a trailing slash */
    snprintf(p, sizeof p, "%s/", sub);
    EXPECT(sbs_config_paths(p, other, NULL, net, ds, def, &e) == 0);
    snprintf(p, sizeof p, "%s/def.json", sub);
    EXPECT(strcmp(def, p) == 0);
    /* a def.json that does not exist */
    snprintf(p, sizeof p, "%s/nothere.json", sub);
    EXPECT(sbs_config_paths(p, NULL, NULL, net, ds, def, &e) == -1);
    if (!contains(e.msg, p, why, nwhy) || !contains(e.msg, "No such file or directory", why, nwhy))
        return -1;
    /* NULL: def.json in the current folder */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || chdir(sub) != 0) {
        snprintf(why, nwhy, "chdir failed");
        return -1;
    }
    int rc = sbs_config_paths(NULL, NULL, NULL, net, ds, def, &e);
    bool ok = rc == -1 && strstr(e.msg, "network.json"); /* found def.json, not network.json */
    bool names = rc == -1 && strcmp(def, "def.json") == 0;
    if (chdir(cwd) != 0) {
        snprintf(why, nwhy, "chdir back failed");
        return -1;
    }
    EXPECT(ok && names);
    return 0;
}

#define NET2                                                \
    "{'network_structure': {'layer_type': ['SbS', 'SbS'], " \
    "'forward_neuron_numbers': [[1, 32], [32, 10]]}}"

/* ---- issue 13: hostile inputs ---------------------------------------------------------- */

static void load_fifo_child(void *dir, char *msg, size_t n)
{
    char def[PATH_MAX + 16], net[PATH_MAX], ds[PATH_MAX], d2[PATH_MAX];
    snprintf(def, sizeof def, "%s/def.json", (const char *)dir);
    sbs_err e1 = {{0}}, e2 = {{0}};
    sbs_config *c = calloc(1, sizeof *c);
    int r1 = sbs_config_paths(dir, NULL, NULL, net, ds, d2, &e1);
    int r2 = sbs_config_load(c, NULL, NULL, def, NULL, 0, &e2);
    snprintf(msg, n, "%.900s | %.900s", r1 ? e1.msg : "paths: success",
             r2 ? e2.msg : "load: success");
}

/* A FIFO in place of def.json (nobody writing to it): refused at once, not a blocking open.
 * Run in a child with an alarm so that a regression fails instead of hanging the suite. */
static int run_fifo(char *why, size_t nwhy)
{
    char dir[PATH_MAX], def[PATH_MAX + 16], msg[2100];
    snprintf(dir, sizeof dir, "%s/fifo", g_dir);
    snprintf(def, sizeof def, "%s/def.json", dir);
    EXPECT(mkdir(dir, 0700) == 0 && mkfifo(def, 0600) == 0);
    int st = sbs_run_in_child(load_fifo_child, dir, 10, msg, sizeof msg);
    unlink(def);
    rmdir(dir);
    if (st == -1 || !WIFEXITED(st)) {
        snprintf(why, nwhy, "a FIFO config blocked (killed by signal %d)",
                 st != -1 && WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        return -1;
    }
    char want[2 * PATH_MAX + 128];
    snprintf(want, sizeof want,
             "cannot open %s: not a regular file (a FIFO) | cannot open %s: "
             "not a regular file (a FIFO)",
             def, def);
    if (!contains(msg, want, why, nwhy)) return -1;
    snprintf(g_last_msg, sizeof g_last_msg, "%.1000s", msg);
    return 0;
}

/* Load network.json = NET2 and def.json = `head` + 10 MB of 'q' + `tail`; CPU seconds in
 * *secs. */
static int load_10mb(const char *head, const char *tail, double *secs, sbs_err *e)
{
    size_t n = 10u << 20, hl = strlen(head), tl = strlen(tail);
    char *text = malloc(hl + n + tl + 1);
    if (!text) return 0;
    memcpy(text, head, hl);
    memset(text + hl, 'q', n);
    memcpy(text + hl + n, tail, tl + 1);
    char net[PATH_MAX], def[PATH_MAX];
    snprintf(net, sizeof net, "%s/huge-net.json", g_dir);
    snprintf(def, sizeof def, "%s/huge-def.json", g_dir);
    write_json(net, NET2);
    write_json(def, text);
    free(text);
    sbs_config *c = calloc(1, sizeof *c);
    clock_t t0 = clock();
    int rc = sbs_config_load(c, net, NULL, def, NULL, 0, e);
    *secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    free(c);
    return rc;
}

/* A 10 MB unknown key: the nearest-key search must not compare it letter by letter with every
 * name (12 s before). Timed against the same load with a 10 MB string value (parsed, then
 * refused without a search), so that a slow machine or valgrind does not matter. */
static int run_huge_unknown_key(char *why, size_t nwhy)
{
    sbs_err e = {{0}}, e0 = {{0}};
    double secs, base;
    EXPECT(load_10mb("{'", "': 1}", &secs, &e) == -1);
    EXPECT(load_10mb("{'log_path': '", "'}", &base, &e0) == -1);
    if (!contains(e0.msg, "string too long", why, nwhy) ||
        !contains(e.msg, ": unknown key 'qqqq", why, nwhy) ||
        !contains(e.msg, "...' (known keys here: batch_size, data_mode", why, nwhy))
        return -1;
    if (secs > 3 * base + 0.1) {
        snprintf(why, nwhy, "took %.2f s of CPU time, parsing the same size takes %.2f s", secs,
                 base);
        return -1;
    }
    snprintf(g_last_msg, sizeof g_last_msg, "%.2f s CPU (a 10 MB value: %.2f s): %.200s", secs,
             base, e.msg);
    return 0;
}

/* ---- the table --------------------------------------------------------------------------- */

static const tcase g_cases[] = {
    /* the reference's config sets */
    {"ref MNIST/SbS_Entropy", .run = run_ref0},
    {"ref MNIST/SbS_Mixed_Loss", .run = run_ref1},
    {"ref MNIST/CNN", .run = run_ref2},
    {"ref MNIST/CNN_Approx", .run = run_ref3},
    {"ref FASHION_MNIST/SbS_Entropy", .run = run_ref4},
    {"ref FASHION_MNIST/SbS_Mixed_Loss", .run = run_ref5},
    {"ref FASHION_MNIST/CNN", .run = run_ref6},
    {"ref FASHION_MNIST/CNN_Approx", .run = run_ref7},
    {"ref CIFAR10/SbS_Entropy", .run = run_ref8},
    {"ref CIFAR10/SbS_Mixed_Loss", .run = run_ref9},
    {"ref CIFAR10/CNN", .run = run_ref10},
    {"ref CIFAR10/CNN_Approx", .run = run_ref11},
    {"layer kind names", .run = run_kinds},
    {"dump and reload", .run = run_dump_roundtrip},
    {"paths", .run = run_paths},

    /* values */
    {"defaults", NET2, .check = chk_defaults},
    {"merge order and object merge",
     "{'batch_size': 10, 'learning_parameters': {'loss_mode': 1, 'optimizer_name': 'SGD', "
     "'learning_rate_gamma_w': 0.1},"
     " 'network_structure': {'layer_type': ['SbS']}}",
     "{'batch_size': 20, 'data_mode': 'CIFAR10', 'augmentation': {'crop_width_in_pixel': 0}}",
     "{'batch_size': 30, 'learning_parameters': {'learning_rate_gamma_w': 0.02, "
     "'number_of_batches_for_one_update': 7}, 'augmentation': {'flip_p': 0.25}}",
     .check = chk_merge},
    {"comments, also inside strings", NET2, NULL,
     "{ // opening\n"
     "  'data_path': 'http://x', // a comment with 'quotes' and // more    \n"
     "  'weight_path': 'a\\'//b',\n"
     "  'log_path': '//',\n"
     "  // 'batch_size': 99,\n"
     "  'batch_size': 7 // last\n"
     "}  // after\n",
     .check = chk_comments},
    {"integers for floats, integral float for int", NET2, NULL,
     "{'learning_parameters': {'learning_rate_gamma_w': 1}, 'batch_size': 24.0, 'epsilon_0': 2}",
     .check = chk_int_as_float},
    {"per-layer lists",
     "{'network_structure': {'layer_type': ['SbS', 'RELU', 'sbs Pooling'],"
     " 'forward_neuron_numbers': [[1, 8], [], [8, 8]],"
     " 'forward_kernel_size': [[5, 4], []], 'strides': [[2, 3]], 'padding': [[0, 0], [2, 2]]}}",
     NULL,
     "{'number_of_spikes': [100, 200], 'epsilon_0': 0.5, 'forgetting_offset': [0.1, 0.2, 0.3],"
     " 'cooldown_after_number_of_spikes': [-1, 5, -1],"
     " 'spike_full_layer_input_distribution': [false, true, false],"
     " 'learning_parameters': {'w_trainable': [false],"
     " 'sbs_skip_gradient_calculation': [false, false, true]}}",
     .check = chk_layer_lists},
    {"choices are case-insensitive", NET2, "{'data_mode': 'mnist_fashion'}",
     "{'learning_parameters': {'optimizer_name': 'sgd', 'lr_schedule_name': 'none'}}",
     .check = chk_choices},
    {"image statistics, noise range, approximation", NET2, NULL,
     "{'image_statistics': {'mean': [0.5, 1, 0.25], 'the_size': [1, 32, 32]},"
     " 'learning_parameters': {'weight_noise_range': [0.5, 2]},"
     " 'approximation_setting': {'approximation_enable': [true], 'number_of_trunc_bits': 3,"
     " 'number_of_frac_bits': [10, 12]}}",
     .check = chk_image_stats},

    /* syntax */
    {"syntax error: line and column", NET2, NULL,
     "{\n  'batch_size': 24, // a 'comment' // with more\n  'epoch_id': oops\n}\n", .expect = -1,
     .msg = {"%D:3:15: JSON syntax error: ", "invalid token"}},
    {"syntax error: trailing comma", NET2, NULL, "{\n  'batch_size': 24,\n}\n", .expect = -1,
     .msg = {"%D:3:1: JSON syntax error: ", "trailing comma"}},
    {"syntax error: trailing comma in a list",
     "{'network_structure': {'layer_type': ['SbS',\n 'SbS',\n ]}}", .expect = -1,
     .msg = {"%N:3:2: JSON syntax error: "}},
    {"duplicate key", NET2, NULL, "{\n  'batch_size': 24,\n  'batch_size': 25\n}", .expect = -1,
     .msg = {"%D:3:", "JSON syntax error: duplicate object key", "batch_size"}},
    {"empty file", NET2, "", .expect = -1, .msg = {"%S:1:", "JSON syntax error"}},
    {"top level is a list", NET2, NULL, "[1, 2]", .expect = -1,
     .msg = {"%D: ", "top level", "found a list"}},

    /* unknown keys */
    {"unknown key with suggestion", NET2, NULL, "{'batch_sise': 24}", .expect = -1,
     .msg = {"%D: unknown key 'batch_sise' (did you mean 'batch_size'?)"}},
    {"unknown nested key, named in its file",
     "{'network_structure': {'layer_type': ['SbS']}, "
     "'learning_parameters': {'learning_rate_gama_w': 0.1}}",
     "{}", "{}", .expect = -1,
     .msg = {"%N: unknown key 'learning_parameters.learning_rate_gama_w'",
             "did you mean 'learning_parameters.learning_rate_gamma_w'"}},
    {"unknown key without a near match", NET2, NULL, "{'augmentation': {'zzzzzzzzzzzzzz': 1}}",
     .expect = -1, .msg = {"%D: unknown key 'augmentation.zzzzzzzzzzzzzz'", "flip_p"}},
    {"misspelt names are the real ones", NET2, NULL,
     "{'enable_cpu_thread_balacing': true, 'learning_parameters': {'kepp_last_grad_scale': false,"
     " 'eps_xy_intitial': 2}}",
     .expect = 0},
    {"correct spelling of a misspelt name is unknown", NET2, NULL,
     "{'learning_parameters': {'keep_last_grad_scale': false}}", .expect = -1,
     .msg = {"%D: unknown key 'learning_parameters.keep_last_grad_scale'",
             "did you mean 'learning_parameters.kepp_last_grad_scale'"}},

    /* types and ranges */
    {"string for int", NET2, NULL, "{'learning_parameters': {'loss_mode': '1'}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.loss_mode': expected an integer, found a string"}},
    {"float 1.5 for int", NET2, NULL, "{'batch_size': 1.5}", .expect = -1,
     .msg = {"%D: key 'batch_size': expected an integer, found 1.5"}},
    {"list for bool", NET2, NULL, "{'learning_parameters': {'learning_active': [true]}}",
     .expect = -1,
     .msg = {"%D: key 'learning_parameters.learning_active': expected a boolean", "found a list"}},
    {"int for bool", NET2, NULL, "{'force_forward_h_dynamic_on_cpu': 1}", .expect = -1,
     .msg = {"%D: key 'force_forward_h_dynamic_on_cpu': expected a boolean"}},
    {"number for string", NET2, NULL, "{'weight_path': 5}", .expect = -1,
     .msg = {"%D: key 'weight_path': expected a string, found an integer"}},
    {"string in a per-layer list", NET2, NULL, "{'number_of_spikes': [100, 'x']}", .expect = -1,
     .msg = {"%D: key 'number_of_spikes[1]': expected an integer, found a string"}},
    {"integer out of range", NET2, NULL, "{'epoch_id_max': 10000000000}", .expect = -1,
     .msg = {"%D: key 'epoch_id_max'", "out of range"}},
    {"negative batch_size", NET2, NULL, "{'batch_size': -5}", .expect = -1,
     .msg = {"%D: key 'batch_size': must be >= 1, found -5"}},
    {"loss_mode 2", NET2, NULL, "{'learning_parameters': {'loss_mode': 2}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.loss_mode'", "found 2"}},
    {"number_of_batches_for_one_update 0", NET2, NULL,
     "{'learning_parameters': {'number_of_batches_for_one_update': 0}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.number_of_batches_for_one_update'", ">= 1"}},
    {"spikes 0", NET2, NULL, "{'number_of_spikes': [0]}", .expect = -1,
     .msg = {"%D: key 'number_of_spikes[0]'", "found 0"}},
    {"spikes too many", NET2, NULL, "{'number_of_spikes': 20000000}", .expect = -1,
     .msg = {"%D: key 'number_of_spikes'", "found 20000000"}},
    {"unknown optimizer", NET2, NULL, "{'learning_parameters': {'optimizer_name': 'RMSprop'}}",
     .expect = -1, .msg = {"%D: key 'learning_parameters.optimizer_name'", "'RMSprop'", "Adam"}},
    {"unknown lr schedule", NET2, NULL, "{'learning_parameters': {'lr_schedule_name': 'Step'}}",
     .expect = -1, .msg = {"%D: key 'learning_parameters.lr_schedule_name'", "'Step'"}},
    {"unknown data_mode", NET2, "{'data_mode': 'SVHN'}", .expect = -1,
     .msg = {"%S: key 'data_mode'", "'SVHN'", "CIFAR10"}},
    {"weight_noise_range lo 0", NET2, NULL,
     "{'learning_parameters': {'weight_noise_range': [0, 1]}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.weight_noise_range'", "0 < lo <= hi"}},
    {"weight_noise_range lo > hi", NET2, NULL,
     "{'learning_parameters': {'weight_noise_range': [1.2, 1.1]}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.weight_noise_range'", "0 < lo <= hi"}},
    {"weight_noise_range of three", NET2, NULL,
     "{'learning_parameters': {'weight_noise_range': [1, 1.1, 1.2]}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.weight_noise_range'", "two numbers"}},
    {"negative crop", NET2, NULL, "{'augmentation': {'crop_width_in_pixel': -1}}", .expect = -1,
     .msg = {"%D: key 'augmentation.crop_width_in_pixel'", ">= 0"}},
    {"too many means", NET2, NULL,
     "{'image_statistics': {'mean': [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}}", .expect = -1,
     .msg = {"%D: key 'image_statistics.mean'", "17 entries"}},

    /* network structure */
    {"unknown layer type", "{'network_structure': {'layer_type': ['SbS', 'Foo POOLING']}}",
     .expect = -1,
     .msg = {"%N: key 'network_structure.layer_type[1]'", "'Foo POOLING'", "AVERAGE POOLING"}},
    {"layer type not a string", "{'network_structure': {'layer_type': ['SbS', 3]}}", .expect = -1,
     .msg = {"%N: key 'network_structure.layer_type[1]': expected a string"}},
    {"empty layer_type", "{'network_structure': {'layer_type': []}}", .expect = -1,
     .msg = {"%N: key 'network_structure.layer_type'", "non-empty"}},
    {"missing layer_type", "{'network_structure': {'number_of_output_neurons': 10}}", "{}",
     .expect = -1, .msg = {"%N: key 'network_structure.layer_type'", "missing"}},
    {"too many layers",
     "{'network_structure': {'layer_type': ['RELU','RELU','RELU','RELU','RELU','RELU','RELU',"
     "'RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU',"
     "'RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU',"
     "'RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU',"
     "'RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU','RELU',"
     "'RELU','RELU','RELU','RELU','RELU','RELU']}}",
     .expect = -1, .msg = {"%N: key 'network_structure.layer_type'", "65 layers"}},
    {"structure list longer than layer_type", NET2, NULL,
     "{'network_structure': {'strides': [[1, 1], [2, 2], [1, 1]]}}", .expect = -1,
     .msg = {"%D: key 'network_structure.strides'", "3 entries", "2 layers"}},
    {"bad pair entry: three numbers",
     "{'network_structure': {'layer_type': ['SbS', 'SbS'], "
     "'forward_kernel_size': [[5, 5], [1, 2, 3]]}}",
     .expect = -1, .msg = {"%N: key 'network_structure.forward_kernel_size[1]'", "pair"}},
    {"bad pair entry: a number", "{'network_structure': {'layer_type': ['SbS'], 'padding': [1]}}",
     .expect = -1, .msg = {"%N: key 'network_structure.padding[0]'", "pair", "found an integer"}},
    {"bad pair entry: a string inside",
     "{'network_structure': {'layer_type': ['SbS'], 'strides': [['1', 1]]}}", .expect = -1,
     .msg = {"%N: key 'network_structure.strides[0]'", "pair"}},
    {"kernel 0", "{'network_structure': {'layer_type': ['SbS'], 'forward_kernel_size': [[0, 1]]}}",
     .expect = -1, .msg = {"%N: key 'network_structure.forward_kernel_size[0][0]'", ">= 1"}},
    {"negative padding", "{'network_structure': {'layer_type': ['SbS'], 'padding': [[0, -1]]}}",
     .expect = -1, .msg = {"%N: key 'network_structure.padding[0][1]'", ">= 0"}},

    /* overrides */
    {"--set number_of_spikes=[400]", NET2, NULL, "{'number_of_spikes': [1600, 800]}",
     .set = {"number_of_spikes=[400]"}, .check = chk_set_spikes},
    {"--set learning_parameters.learning_rate_gamma_w=0.005", NET2, NULL,
     "{'learning_parameters': {'loss_mode': 1, 'learning_rate_gamma_w': 0.01}}",
     .set = {"learning_parameters.learning_rate_gamma_w=0.005"}, .check = chk_set_lr},
    {"--set bare strings, numbers for strings, later wins", NET2, NULL, NULL,
     .set = {"data_mode=MNIST", "weight_path=123", " log_path = my log ", "augmentation.flip_p=0",
             "batch_size=5", "batch_size=8"},
     .check = chk_set_strings},
    {"--set an object", NET2, NULL, "{'augmentation': {'flip_p': 0.5}}",
     .set = {"augmentation={\"flip_p\": 0, \"crop_width_in_pixel\": 4}"}, .check = chk_set_object},
    {"--set without '='", NET2, .set = {"batch_size"}, .expect = -1,
     .msg = {"--set", "KEY=VALUE", "'batch_size'"}},
    {"--set unknown key", NET2, .set = {"learning_parameters.loss_mod=1"}, .expect = -1,
     .msg = {"--set: unknown key 'learning_parameters.loss_mod'",
             "did you mean 'learning_parameters.loss_mode'"}},
    {"--set wrong type", NET2, .set = {"batch_size=abc"}, .expect = -1,
     .msg = {"--set: key 'batch_size': expected an integer, found a string"}},
    {"--set below a non-object", NET2, .set = {"batch_size.x=1"}, .expect = -1,
     .msg = {"--set", "'batch_size' is not an object"}},
    {"--set range", NET2, .set = {"learning_parameters.loss_mode=3"}, .expect = -1,
     .msg = {"--set: key 'learning_parameters.loss_mode'"}},
    {"--set empty key", NET2, .set = {"=3"}, .expect = -1, .msg = {"--set", "missing key"}},

    /* issue 13: every size bounded, no setting that divides by zero, malformed --set values */
    {"kernel above the bound",
     "{'network_structure': {'layer_type': ['SbS'], 'forward_kernel_size': [[65536, 1]]}}",
     .expect = -1,
     .msg = {"%N: key 'network_structure.forward_kernel_size[0][0]': must be <= 1024, found "
             "65536"}},
    {"kernel 0 is still named with its lower bound",
     "{'network_structure': {'layer_type': ['SbS'], 'forward_kernel_size': [[1, 0]]}}",
     .expect = -1,
     .msg = {"%N: key 'network_structure.forward_kernel_size[0][1]': must be >= 1, found 0"}},
    {"padding above the bound",
     "{'network_structure': {'layer_type': ['SbS'], 'padding': [[0, 32768]]}}", .expect = -1,
     .msg = {"%N: key 'network_structure.padding[0][1]': must be <= 1024, found 32768"}},
    {"stride above the bound",
     "{'network_structure': {'layer_type': ['SbS'], 'strides': [[1025, 1]]}}", .expect = -1,
     .msg = {"%N: key 'network_structure.strides[0][0]': must be <= 1024, found 1025"}},
    {"dilation above the bound",
     "{'network_structure': {'layer_type': ['SbS'], 'dilation': [[1, 4096]]}}", .expect = -1,
     .msg = {"%N: key 'network_structure.dilation[0][1]': must be <= 1024, found 4096"}},
    {"geometry at the bounds loads",
     "{'network_structure': {'layer_type': ['SbS'], 'forward_kernel_size': [[1024, 1024]],"
     " 'strides': [[1024, 1024]], 'dilation': [[1024, 1024]], 'padding': [[1024, 1024]]}}",
     .expect = 0},
    {"number_of_output_neurons above the bound", NET2, NULL,
     "{'network_structure': {'number_of_output_neurons': 1000001}}", .expect = -1,
     .msg = {"%D: key 'network_structure.number_of_output_neurons': must be <= 1000000, found "
             "1000001"}},
    {"crop above the bound", NET2, NULL, "{'augmentation': {'crop_width_in_pixel': 2147483647}}",
     .expect = -1,
     .msg = {"%D: key 'augmentation.crop_width_in_pixel': must be <= 1024, found 2147483647"}},
    {"the_size above the bound", NET2, NULL, "{'image_statistics': {'the_size': [1, 70000]}}",
     .expect = -1,
     .msg = {"%D: key 'image_statistics.the_size[1]': must be <= 65536, found 70000"}},
    {"number_of_cpu_processes above the cap of --threads", NET2, NULL,
     "{'number_of_cpu_processes': 1025}", .expect = -1,
     .msg = {"%D: key 'number_of_cpu_processes': must be <= 1024, found 1025"}},
    {"number_of_cpu_processes at the cap loads", NET2, NULL, "{'number_of_cpu_processes': 1024}",
     .expect = 0},
    {"epsilon_0 negative", NET2, NULL, "{'epsilon_0': [1, -0.5]}", .expect = -1,
     .msg = {"%D: key 'epsilon_0[1]': must be >= 0, found -0.5"}},
    {"epsilon_0 0 loads (NNMF: h <- u)", NET2, NULL, "{'epsilon_0': 0}", .expect = 0},
    {"epsilon_0 too large", NET2, NULL, "{'epsilon_0': 1e7}", .expect = -1,
     .msg = {"%D: key 'epsilon_0': must be <= 1000000, found 10000000"}},
    {"reduction_cooldown 0", NET2, NULL, "{'reduction_cooldown': 0}", .expect = -1,
     .msg = {"%D: key 'reduction_cooldown': must be >= 1e-06, found 0"}},
    {"forgetting_offset too large", NET2, NULL, "{'forgetting_offset': [0, 1e30]}", .expect = -1,
     .msg = {"%D: key 'forgetting_offset[1]': must be <= 1000000, found 1e+30"}},
    {"lr_scheduler_factor_w above 1", NET2, NULL,
     "{'learning_parameters': {'lr_scheduler_factor_w': 1.5}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.lr_scheduler_factor_w': must be <= 1, found 1.5"}},
    {"both loss coefficients 0", NET2, NULL,
     "{'learning_parameters': {'loss_coeffs_mse': 0, 'loss_coeffs_kldiv': 0}}", .expect = -1,
     .msg = {"%D: key 'learning_parameters.loss_coeffs_kldiv': loss_coeffs_mse + "
             "loss_coeffs_kldiv must be > 0 (the mixed loss is divided by it), found 0 + 0"}},
    {"one loss coefficient 0 loads", NET2, NULL, "{'learning_parameters': {'loss_coeffs_mse': 0}}",
     .expect = 0},
    {"a layer type longer than the struct keeps",
     "{'network_structure': {'layer_type': ['SbS', 'SbS                                       "
     "                             ']}}",
     .expect = -1,
     .msg = {"%N: key 'network_structure.layer_type[1]': string too long (71 characters, at "
             "most 63)"}},
    {"--set malformed list", NET2, .set = {"number_of_spikes=[50"}, .expect = -1,
     .msg = {"--set: key 'number_of_spikes': malformed JSON value '[50' (']' expected near end "
             "of file)"}},
    {"--set malformed object", NET2, .set = {"augmentation={\"flip_p\": 0.2"}, .expect = -1,
     .msg = {"--set: key 'augmentation': malformed JSON value '{\"flip_p\": 0.2'"}},
    {"--set malformed number", NET2, .set = {"batch_size=12x"}, .expect = -1,
     .msg = {"--set: key 'batch_size': malformed JSON value '12x'"}},
    {"--set a string key takes any text", NET2, .set = {"data_path=[x"}, .check = chk_set_text},
    {"FIFO as a config file", .run = run_fifo},
    {"10 MB unknown key", .run = run_huge_unknown_key},

    /* files */
    {"missing file", NET2, .def = "@missing", .expect = -1,
     .msg = {"cannot open %D: No such file or directory"}},
};

/* ------------------------------------------------------------------------------------------ */

static void subst(char *out, size_t n, const char *pat, const char *N, const char *S, const char *D)
{
    size_t o = 0;
    for (const char *p = pat; *p && o + 1 < n; p++) {
        const char *r = NULL;
        if (p[0] == '%' && p[1] == 'N') r = N;
        if (p[0] == '%' && p[1] == 'S') r = S;
        if (p[0] == '%' && p[1] == 'D') r = D;
        if (r) {
            o += (size_t)snprintf(out + o, n - o, "%s", r);
            if (o >= n) o = n - 1;
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
}


static int run_case(int idx, const tcase *t, char *why, size_t nwhy)
{
    g_last_msg[0] = 0;
    if (t->run) return t->run(why, nwhy);
    char N[PATH_MAX], S[PATH_MAX], D[PATH_MAX];
    const char *texts[3] = {t->net, t->ds, t->def};
    char *paths[3] = {N, S, D};
    const char *names[3] = {"network", "dataset", "def"};
    const char *args[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], PATH_MAX, "%s/%02d-%s.json", g_dir, idx, names[i]);
        if (!texts[i]) continue;
        args[i] = paths[i];
        if (strcmp(texts[i], "@missing") != 0) write_json(paths[i], texts[i]);
    }
    int nset = 0;
    while (nset < 6 && t->set[nset]) nset++;
    sbs_config *c = calloc(1, sizeof *c);
    sbs_err e;
    e.msg[0] = 0;
    int rc = sbs_config_load(c, args[0], args[1], args[2], t->set, nset, &e);
    int res = 0;
    if (t->expect == 0) {
        if (rc != 0) {
            snprintf(why, nwhy, "load failed: %s", e.msg);
            res = -1;
        } else if (t->check) {
            res = t->check(c, why, nwhy);
        }
    } else {
        if (rc != -1) {
            snprintf(why, nwhy, "loaded, expected an error (rc %d)", rc);
            res = -1;
        } else if (strchr(e.msg, '\n')) {
            snprintf(why, nwhy, "message is not one line: %s", e.msg);
            res = -1;
        } else {
            snprintf(g_last_msg, sizeof g_last_msg, "%s", e.msg);
            for (int i = 0; i < 4 && t->msg[i] && res == 0; i++) {
                char want[PATH_MAX + 512];
                subst(want, sizeof want, t->msg[i], N, S, D);
                if (!contains(e.msg, want, why, nwhy)) res = -1;
            }
        }
    }
    free(c);
    return res;
}

static int rm_tree(const char *dir)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

int main(void)
{
    const char *root = getenv("SBS_SOURCE_ROOT");
    if (!root) {
        printf("SKIP: SBS_SOURCE_ROOT is not set (run through meson test)\n");
        return 77;
    }
    snprintf(g_ref, sizeof g_ref, "%s/datasets/reference/configs", root);
    struct stat st;
    if (stat(g_ref, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: reference configs not found at %s\n", g_ref);
        return 77;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/sbs-config-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", g_dir, strerror(errno));
        return 1;
    }

    int n = (int)(sizeof g_cases / sizeof g_cases[0]), failed = 0;
    for (int i = 0; i < n; i++) {
        char why[2048] = "";
        int r = run_case(i, &g_cases[i], why, sizeof why);
        if (r == 0) {
            if (g_last_msg[0])
                printf("ok   %2d %s -> %s\n", i + 1, g_cases[i].name, g_last_msg);
            else
                printf("ok   %2d %s\n", i + 1, g_cases[i].name);
        } else {
            printf("FAIL %2d %s: %s\n", i + 1, g_cases[i].name, why);
            failed++;
        }
    }
    printf("%d passed, %d failed\n", n - failed, failed);
    rm_tree(g_dir);
    return failed ? 1 : 0;
}
