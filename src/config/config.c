/* config.c — the SbS schema (SPEC §3): network.json, dataset.json and def.json merged in that
 * order, --set overrides applied, every key checked and resolved into an sbs_config.
 *
 * Everything about a key is one row of `keys` below: where it lives, the file the reference
 * keeps it in, its type, bounds, default, whether it is per layer, and where it goes in the
 * struct. Checking, resolving, defaults and the dump all walk that table, so adding a key is
 * adding a row (and a field). The JSON-with-comments reading, merging with provenance and the
 * message pieces are generic (jsonc.c). Checks that involve two keys (a structure list longer
 * than layer_type, the loss coefficients) name the file that last set the key. */
#include "sbs/config.h"

#include "jsonc.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Layer kinds                                                                                  */

static const char *const kind_names[SBS_L_COUNT] = {
    [SBS_L_SBS] = "SBS",
    [SBS_L_SBS_POOLING] = "SBS POOLING",
    [SBS_L_SBS_LOCAL] = "SBS LOCAL",
    [SBS_L_RECONSTRUCTION] = "RECONSTRUCTION",
    [SBS_L_ONOFF] = "ONOFF",
    [SBS_L_CONV2D] = "CONV2D",
    [SBS_L_RELU] = "RELU",
    [SBS_L_MAX_POOLING] = "MAX POOLING",
    [SBS_L_AVERAGE_POOLING] = "AVERAGE POOLING",
    [SBS_L_APPROX_CONV2D] = "APPROX CONV2D",
    [SBS_L_INPUT_SPIKE_IMAGE] = "INPUT SPIKE IMAGE",
    [SBS_L_NNMF] = "NNMF",
    [SBS_L_BP_SBS_NNMF] = "BP SBS NNMF",
    [SBS_L_POISSON] = "POISSON",
};

const char *sbs_layer_kind_name(sbs_layer_kind k)
{
    if ((int)k < 0 || k >= SBS_L_COUNT) return "?";
    return kind_names[k];
}

int sbs_layer_kind_parse(const char *s)
{
    if (!s) return -1;
    while (*s && isspace((unsigned char)*s)) s++;
    char up[128];
    size_t n = 0;
    for (; s[n] && n < sizeof up - 1; n++) up[n] = (char)toupper((unsigned char)s[n]);
    if (s[n]) return -1; /* absurdly long */
    while (n > 0 && isspace((unsigned char)up[n - 1])) n--;
    up[n] = 0;
    if (n == 0) return -1;

    if (strncmp(up, "SBS", 3) == 0) {
        if (strstr(up, "POOLING")) return SBS_L_SBS_POOLING;
        if (strstr(up, "LOCAL")) return SBS_L_SBS_LOCAL;
        return SBS_L_SBS;
    }
    int best = -1;
    size_t best_len = 0;
    for (int k = SBS_L_RECONSTRUCTION; k < SBS_L_COUNT; k++) {
        size_t l = strlen(kind_names[k]);
        if (l > best_len && strncmp(up, kind_names[k], l) == 0) {
            best = k;
            best_len = l;
        }
    }
    return best;
}


/* ------------------------------------------------------------------------------------------ */
/* The table of keys                                                                           */

enum vtype {
    V_INT,         /* integer (an integral-valued real is accepted) */
    V_FLOAT,       /* number */
    V_BOOL,        /* true / false */
    V_STR,         /* string; `choices` limits the values (case-insensitive) */
    V_OBJ,         /* object holding the rows whose `obj` is this key's name */
    V_LAYER_TYPES, /* non-empty list of known layer type names */
    V_PAIR,        /* per-layer list; each entry [] or [int, int] */
    V_FLOAT_LIST,  /* list of numbers (at most `size`) */
    V_INT_LIST,    /* list of integers (at most `size`) */
    V_NOISE_RANGE, /* [lo, hi] with 0 < lo <= hi */
};

enum {
    PL = 1,    /* per layer: a scalar for every layer or a list (V_INT/V_FLOAT/V_BOOL) */
    R_MIN = 2, /* bounds on the value (or each element) */
    R_MAX = 4,
    R_BETWEEN = 8, /* with both bounds: the message names both ("must be between") */
};
#define SPAN (R_MIN | R_MAX | R_BETWEEN)
#define BOTH (R_MIN | R_MAX)

enum { F_NET, F_DS, F_DEF }; /* the file the reference's configs keep a key in */

typedef struct {
    const char *obj; /* the object holding the key; NULL: top level */
    const char *name;
    unsigned char file, type, flags;
    double min, max;
    double def, def2;           /* numbers and booleans (a pair: both; a range: lo, hi) */
    const char *sdef;           /* strings */
    const char *const *choices; /* V_STR: NULL-terminated */
    size_t off, off2; /* in sbs_config, or sbs_layer_cfg (PL, V_PAIR); off2: a pair's second
                         value, a list's count */
    size_t size;      /* V_STR: buffer size; lists: most entries */
} cfg_key;

static const char *const data_modes[] = {"MNIST", "MNIST_FASHION", "CIFAR10", NULL};
static const char *const optimizers[] = {"Adam", "SGD", NULL};
static const char *const schedules[] = {"ReduceLROnPlateau", "None", NULL};

#define NS "network_structure"
#define LP "learning_parameters"
#define AU "augmentation"
#define IS "image_statistics"
#define AS "approximation_setting"
#define C(m) offsetof(sbs_config, m)
#define L(m) offsetof(sbs_layer_cfg, m)
#define CSZ(m) sizeof(((sbs_config *)0)->m)
#define STR(m) .off = C(m), .size = CSZ(m)
#define PAIR(a, b) .off = L(a), .off2 = L(b)

/* Bounds (issue 13): geometry <= SBS_MAX_GEOM, neurons <= 1e6, spikes <= 1e7, so that no
 * single key makes an int wrap (products such as C*kx*ky are the plan's to check, in size_t;
 * batch_size is bounded by the memory check); epsilon_0 / reduction_cooldown and
 * forgetting_offset small enough that eps_t * (1 + fo) stays finite in float; no setting that
 * divides by zero. */
static const cfg_key keys[] = {
    /* obj, name, file, type, flags, min, max, default */
    {NULL, "batch_size", F_DEF, V_INT, R_MIN, 1, 0, 500, .off = C(batch_size)},
    {NULL, "data_mode", F_DS, V_STR, 0, .sdef = "", .choices = data_modes, STR(data_mode)},
    {NULL, "data_path", F_DS, V_STR, 0, .sdef = "", STR(data_path)},
    {NULL, "epoch_id", F_DEF, V_INT, R_MIN, 0, 0, 0, .off = C(epoch_id)},
    {NULL, "epoch_id_max", F_DEF, V_INT, R_MIN, 0, 0, 10000, .off = C(epoch_id_max)},
    {NULL, "number_of_cpu_processes", F_DEF, V_INT, R_MAX, 0, 1024, -1,
     .off = C(number_of_cpu_processes)},
    {NULL, "weight_path", F_DEF, V_STR, 0, .sdef = "Parameters", STR(weight_path)},
    {NULL, "log_path", F_DEF, V_STR, 0, .sdef = "Log", STR(log_path)},
    {NULL, "number_of_spikes", F_DEF, V_INT, PL | SPAN, 1, 10000000, 1600, .off = L(spikes)},
    {NULL, "epsilon_0", F_DEF, V_FLOAT, PL | BOTH, 0, 1e6, 1.0, .off = L(epsilon_0)},
    {NULL, "forgetting_offset", F_DEF, V_FLOAT, PL | R_MAX, 0, 1e6, -1.0,
     .off = L(forgetting_offset)},
    {NULL, "cooldown_after_number_of_spikes", F_DEF, V_INT, PL, 0, 0, -1,
     .off = L(cooldown_after_number_of_spikes)},
    {NULL, "reduction_cooldown", F_DEF, V_FLOAT, PL | R_MIN, 1e-6, 0, 25.0,
     .off = L(reduction_cooldown)},
    {NULL, "spike_full_layer_input_distribution", F_DEF, V_BOOL, PL, 0, 0, false,
     .off = L(spike_full_layer_input_distribution)},
    {NULL, "simulation_id", F_DEF, V_INT, 0, 0, 0, 0, .off = C(simulation_id)},
    {NULL, "stage_id", F_DEF, V_INT, 0, 0, 0, 0, .off = C(stage_id)},
    {NULL, "enable_cpu_thread_balacing", F_DEF, V_BOOL, 0, 0, 0, false,
     .off = C(enable_cpu_thread_balacing)},
    {NULL, "force_forward_h_dynamic_on_cpu", F_DEF, V_BOOL, 0, 0, 0, false,
     .off = C(force_forward_h_dynamic_on_cpu)},
    {NULL, "extract_noisy_pictures", F_DEF, V_BOOL, 0, 0, 0, false,
     .off = C(extract_noisy_pictures)},
    {NULL, NS, F_NET, V_OBJ, .flags = 0},
    {NULL, LP, F_DEF, V_OBJ, .flags = 0},
    {NULL, AU, F_DEF, V_OBJ, .flags = 0},
    {NULL, IS, F_DEF, V_OBJ, .flags = 0},
    {NULL, AS, F_DEF, V_OBJ, .flags = 0},

    {NS, "layer_type", F_NET, V_LAYER_TYPES, 0, .size = SBS_MAX_LAYERS},
    {NS, "forward_neuron_numbers", F_NET, V_PAIR, SPAN, 1, 1000000, -1, PAIR(in, out)},
    {NS, "forward_kernel_size", F_NET, V_PAIR, BOTH, 1, SBS_MAX_GEOM, 1,
     PAIR(kernel[0], kernel[1])},
    {NS, "strides", F_NET, V_PAIR, BOTH, 1, SBS_MAX_GEOM, 1, PAIR(stride[0], stride[1])},
    {NS, "dilation", F_NET, V_PAIR, BOTH, 1, SBS_MAX_GEOM, 1, PAIR(dilation[0], dilation[1])},
    {NS, "padding", F_NET, V_PAIR, BOTH, 0, SBS_MAX_GEOM, 0, PAIR(padding[0], padding[1])},
    {NS, "number_of_output_neurons", F_NET, V_INT, BOTH, 1, 1000000, 10,
     .off = C(number_of_output_neurons)},

    {LP, "learning_active", F_DEF, V_BOOL, 0, 0, 0, true, .off = C(learn.learning_active)},
    {LP, "loss_mode", F_DEF, V_INT, SPAN, 0, 1, 0, .off = C(learn.loss_mode)},
    {LP, "loss_coeffs_mse", F_DEF, V_FLOAT, R_MIN, 0, 0, 0.5, .off = C(learn.loss_coeffs_mse)},
    {LP, "loss_coeffs_kldiv", F_DEF, V_FLOAT, R_MIN, 0, 0, 1.0, .off = C(learn.loss_coeffs_kldiv)},
    {LP, "optimizer_name", F_DEF, V_STR, 0, .sdef = "Adam", .choices = optimizers,
     STR(learn.optimizer_name)},
    {LP, "learning_rate_gamma_w", F_DEF, V_FLOAT, 0, 0, 0, -1.0,
     .off = C(learn.learning_rate_gamma_w)},
    {LP, "learning_rate_threshold_w", F_DEF, V_FLOAT, R_MIN, 0, 0, 1e-5,
     .off = C(learn.learning_rate_threshold_w)},
    {LP, "lr_schedule_name", F_DEF, V_STR, 0, .sdef = "ReduceLROnPlateau", .choices = schedules,
     STR(learn.lr_schedule_name)},
    {LP, "lr_scheduler_use_performance", F_DEF, V_BOOL, 0, 0, 0, false,
     .off = C(learn.lr_scheduler_use_performance)},
    {LP, "lr_scheduler_factor_w", F_DEF, V_FLOAT, R_MAX, 0, 1, 0.75,
     .off = C(learn.lr_scheduler_factor_w)},
    {LP, "lr_scheduler_patience_w", F_DEF, V_INT, 0, 0, 0, -1,
     .off = C(learn.lr_scheduler_patience_w)},
    {LP, "lr_scheduler_tau_w", F_DEF, V_FLOAT, 0, 0, 0, 10.0, .off = C(learn.lr_scheduler_tau_w)},
    {LP, "number_of_batches_for_one_update", F_DEF, V_INT, R_MIN, 1, 0, 1,
     .off = C(learn.number_of_batches_for_one_update)},
    {LP, "overload_path", F_DEF, V_STR, 0, .sdef = "Previous", STR(learn.overload_path)},
    {LP, "weight_noise_range", F_DEF, V_NOISE_RANGE, 0, 0, 0, 1.0, 1.1,
     .off = C(learn.weight_noise_range[0]), .off2 = C(learn.weight_noise_range[1])},
    {LP, "eps_xy_intitial", F_DEF, V_FLOAT, 0, 0, 0, 1.0, .off = C(learn.eps_xy_intitial)},
    {LP, "disable_scale_grade", F_DEF, V_BOOL, 0, 0, 0, false, .off = C(learn.disable_scale_grade)},
    {LP, "kepp_last_grad_scale", F_DEF, V_BOOL, 0, 0, 0, true,
     .off = C(learn.kepp_last_grad_scale)},
    {LP, "sbs_skip_gradient_calculation", F_DEF, V_BOOL, PL, 0, 0, false,
     .off = L(sbs_skip_gradient_calculation)},
    {LP, "adapt_learning_rate_after_minibatch", F_DEF, V_BOOL, 0, 0, 0, true,
     .off = C(learn.adapt_learning_rate_after_minibatch)},
    {LP, "w_trainable", F_DEF, V_BOOL, PL, 0, 0, true, .off = L(w_trainable)},

    {AU, "crop_width_in_pixel", F_DEF, V_INT, BOTH, 0, SBS_MAX_GEOM, 2,
     .off = C(aug.crop_width_in_pixel)},
    {AU, "flip_p", F_DEF, V_FLOAT, SPAN, 0, 1, 0.5, .off = C(aug.flip_p)},
    {AU, "jitter_brightness", F_DEF, V_FLOAT, R_MIN, 0, 0, 0.5, .off = C(aug.jitter_brightness)},
    {AU, "jitter_contrast", F_DEF, V_FLOAT, R_MIN, 0, 0, 0.1, .off = C(aug.jitter_contrast)},
    {AU, "jitter_saturation", F_DEF, V_FLOAT, R_MIN, 0, 0, 0.1, .off = C(aug.jitter_saturation)},
    {AU, "jitter_hue", F_DEF, V_FLOAT, R_MIN, 0, 0, 0.15, .off = C(aug.jitter_hue)},

    {IS, "mean", F_DEF, V_FLOAT_LIST, 0, .off = C(image_statistics.mean),
     .off2 = C(image_statistics.n_mean), .size = 16},
    {IS, "the_size", F_DEF, V_INT_LIST, BOTH, 1, 65536, .off = C(image_statistics.the_size),
     .off2 = C(image_statistics.n_size), .size = 4},

    {AS, "approximation_enable", F_DEF, V_BOOL, PL, 0, 0, false, .off = L(approximation_enable)},
    {AS, "number_of_trunc_bits", F_DEF, V_INT, PL, 0, 0, -1, .off = L(number_of_trunc_bits)},
    {AS, "number_of_frac_bits", F_DEF, V_INT, PL, 0, 0, -1, .off = L(number_of_frac_bits)},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

_Static_assert(CSZ(image_statistics.mean) == 16 * sizeof(float), "mean: 16 entries");
_Static_assert(CSZ(image_statistics.the_size) == 4 * sizeof(int), "the_size: 4 entries");

static bool same_obj(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The row of `name` in object `obj` (NULL: top level), or NULL. */
static const cfg_key *find_key(const char *obj, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (same_obj(keys[i].obj, obj) && strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

static int fail_unknown_key(sbs_err *e, const char *src, const char *obj, const char *prefix,
                            const char *key)
{
    const char *names[N_KEYS];
    size_t n = 0;
    for (size_t i = 0; i < N_KEYS; i++)
        if (same_obj(keys[i].obj, obj)) names[n++] = keys[i].name;
    return jsonc_fail_unknown_key(e, src, names, n, prefix, key);
}

static void *field(void *base, size_t off)
{
    return (char *)base + off;
}

/* ------------------------------------------------------------------------------------------ */
/* Value checks (against the row; src names the file or "--set", path the key)                */

static int check_range(const cfg_key *k, double x, const char *src, const char *path, sbs_err *e)
{
    bool lo = (k->flags & R_MIN) && x < k->min, hi = (k->flags & R_MAX) && x > k->max;
    if (!lo && !hi) return 0;
    if (k->flags & R_BETWEEN)
        return sbs_fail(e, "%s: key '%s': must be between %.10g and %.10g, found %.10g", src, path,
                        k->min, k->max, x);
    if (lo) return sbs_fail(e, "%s: key '%s': must be >= %.10g, found %.10g", src, path, k->min, x);
    return sbs_fail(e, "%s: key '%s': must be <= %.10g, found %.10g", src, path, k->max, x);
}

static int check_int(const cfg_key *k, const json_t *v, const char *src, const char *path,
                     sbs_err *e)
{
    int x;
    bool range_err;
    if (jsonc_int_of(v, &x, &range_err) != 0) {
        char d[64];
        jsonc_describe(d, sizeof d, v);
        if (range_err)
            return sbs_fail(e, "%s: key '%s': integer out of range, found %s", src, path, d);
        return sbs_fail(e, "%s: key '%s': expected an integer, found %s", src, path, d);
    }
    return check_range(k, x, src, path, e);
}

static int check_float(const cfg_key *k, const json_t *v, const char *src, const char *path,
                       sbs_err *e)
{
    if (!json_is_number(v))
        return sbs_fail(e, "%s: key '%s': expected a number, found %s", src, path, jsonc_kind(v));
    double x = json_number_value(v);
    if (!isfinite(x) || fabs(x) > FLT_MAX)
        return sbs_fail(e, "%s: key '%s': number out of range, found %g", src, path, x);
    return check_range(k, x, src, path, e);
}

static int check_bool(const json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (!json_is_boolean(v))
        return sbs_fail(e, "%s: key '%s': expected a boolean (true or false), found %s", src, path,
                        jsonc_kind(v));
    return 0;
}

static int check_value(const cfg_key *k, json_t *v, const char *src, const char *path, sbs_err *e);

/* An object: every key known in `obj` (NULL: the top level) and right. */
static int check_object(const char *obj, json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (!json_is_object(v)) {
        if (*path)
            return sbs_fail(e, "%s: key '%s': expected an object, found %s", src, path,
                            jsonc_kind(v));
        return sbs_fail(e, "%s: the top level must be a JSON object, found %s", src, jsonc_kind(v));
    }
    const char *key;
    json_t *val;
    json_object_foreach (v, key, val) {
        const cfg_key *sk = find_key(obj, key);
        if (!sk) return fail_unknown_key(e, src, obj, path, key);
        char sub[512];
        jsonc_join(sub, sizeof sub, path, key);
        if (check_value(sk, val, src, sub, e)) return -1;
    }
    return 0;
}

static int check_pair(const cfg_key *k, json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (json_is_array(v) && json_array_size(v) == 0) return 0;
    bool ints = json_is_array(v) && json_array_size(v) == 2;
    for (size_t i = 0; ints && i < 2; i++) {
        int x;
        bool range_err;
        ints = jsonc_int_of(json_array_get(v, i), &x, &range_err) == 0;
    }
    if (!ints) {
        if (json_is_array(v))
            return sbs_fail(e,
                            "%s: key '%s': expected [] or a pair of integers [x, y], found a "
                            "list of %zu element%s%s",
                            src, path, json_array_size(v), json_array_size(v) == 1 ? "" : "s",
                            json_array_size(v) == 2 ? " that are not both integers" : "");
        return sbs_fail(e, "%s: key '%s': expected [] or a pair of integers [x, y], found %s", src,
                        path, jsonc_kind(v));
    }
    for (size_t i = 0; i < 2; i++) {
        char p[560];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (check_int(k, json_array_get(v, i), src, p, e)) return -1;
    }
    return 0;
}

/* An element of a list (or the scalar standing for every layer). */
static int check_elem(const cfg_key *k, json_t *v, const char *src, const char *path, sbs_err *e)
{
    switch (k->type) {
    case V_INT:
    case V_INT_LIST: return check_int(k, v, src, path, e);
    case V_FLOAT:
    case V_FLOAT_LIST: return check_float(k, v, src, path, e);
    case V_BOOL: return check_bool(v, src, path, e);
    case V_PAIR: return check_pair(k, v, src, path, e);
    }
    return sbs_fail(e, "%s: key '%s': internal error (unhandled type)", src, path);
}

static int check_list(const cfg_key *k, json_t *v, const char *src, const char *path, sbs_err *e)
{
    bool scalar_ok = k->flags & PL && k->type != V_PAIR;
    if (!json_is_array(v)) {
        if (scalar_ok && !json_is_object(v)) return check_elem(k, v, src, path, e);
        const char *what = k->type == V_PAIR         ? "a list of [x, y] pairs"
                           : k->type == V_FLOAT_LIST ? "a list of numbers"
                           : k->type == V_INT_LIST   ? "a list of integers"
                           : k->type == V_INT        ? "an integer or a list of integers"
                           : k->type == V_BOOL       ? "a boolean or a list of booleans"
                                                     : "a number or a list of numbers";
        return sbs_fail(e, "%s: key '%s': expected %s, found %s", src, path, what, jsonc_kind(v));
    }
    if (k->size && json_array_size(v) > k->size)
        return sbs_fail(e, "%s: key '%s': %zu entries, at most %zu are supported", src, path,
                        json_array_size(v), k->size);
    size_t i;
    json_t *x;
    json_array_foreach (v, i, x) {
        char p[560];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (check_elem(k, x, src, p, e)) return -1;
    }
    return 0;
}

static int check_string(const cfg_key *k, json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (!json_is_string(v))
        return sbs_fail(e, "%s: key '%s': expected a string, found %s", src, path, jsonc_kind(v));
    const char *s = json_string_value(v);
    if (strlen(s) >= k->size)
        return sbs_fail(e, "%s: key '%s': string too long (%zu characters, at most %zu)", src, path,
                        strlen(s), k->size - 1);
    if (!k->choices) return 0;
    for (const char *const *c = k->choices; *c; c++)
        if (strcasecmp(*c, s) == 0) return 0;
    char list[256];
    size_t off = 0;
    list[0] = 0;
    for (const char *const *c = k->choices; *c && off < sizeof list; c++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", *c);
    char vs[256];
    return sbs_fail(e, "%s: key '%s': unknown value '%s' (expected one of %s)", src, path,
                    JSONC_SHOWN(vs, s), list);
}

static int check_layer_types(const cfg_key *k, json_t *v, const char *src, const char *path,
                             sbs_err *e)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return sbs_fail(e,
                        "%s: key '%s': expected a non-empty list of layer type names, "
                        "found %s",
                        src, path, json_is_array(v) ? "an empty list" : jsonc_kind(v));
    if (json_array_size(v) > k->size)
        return sbs_fail(e, "%s: key '%s': %zu layers, at most %zu are supported", src, path,
                        json_array_size(v), k->size);
    size_t i;
    json_t *x;
    json_array_foreach (v, i, x) {
        if (!json_is_string(x))
            return sbs_fail(e, "%s: key '%s[%zu]': expected a string, found %s", src, path, i,
                            jsonc_kind(x));
        if (sbs_layer_kind_parse(json_string_value(x)) < 0) {
            char list[400];
            size_t off = 0;
            for (int kk = 0; kk < SBS_L_COUNT && off < sizeof list; kk++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", kk ? ", " : "",
                                        kind_names[kk]);
            char ts[256];
            return sbs_fail(e, "%s: key '%s[%zu]': unknown layer type '%s' (known: %s)", src, path,
                            i, JSONC_SHOWN(ts, json_string_value(x)), list);
        }
        size_t tl = strlen(json_string_value(x)), most = sizeof(((sbs_layer_cfg *)0)->type) - 1;
        if (tl > most) /* it would be cut in the struct (and the dump) */
            return sbs_fail(e, "%s: key '%s[%zu]': string too long (%zu characters, at most %zu)",
                            src, path, i, tl, most);
    }
    return 0;
}

static int check_noise_range(json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
        !json_is_number(json_array_get(v, 1))) {
        char d[64];
        if (json_is_array(v))
            snprintf(d, sizeof d, "a list of %zu element%s", json_array_size(v),
                     json_array_size(v) == 1 ? "" : "s");
        else
            snprintf(d, sizeof d, "%s", jsonc_kind(v));
        return sbs_fail(e, "%s: key '%s': expected two numbers [lo, hi], found %s", src, path, d);
    }
    double lo = json_number_value(json_array_get(v, 0));
    double hi = json_number_value(json_array_get(v, 1));
    if (!(lo > 0) || !(lo <= hi) || !isfinite(hi) || hi > FLT_MAX)
        return sbs_fail(e, "%s: key '%s': need 0 < lo <= hi, found [%g, %g]", src, path, lo, hi);
    return 0;
}

static int check_value(const cfg_key *k, json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (k->flags & PL || k->type == V_PAIR || k->type == V_FLOAT_LIST || k->type == V_INT_LIST)
        return check_list(k, v, src, path, e);
    switch (k->type) {
    case V_INT: return check_int(k, v, src, path, e);
    case V_FLOAT: return check_float(k, v, src, path, e);
    case V_BOOL: return check_bool(v, src, path, e);
    case V_STR: return check_string(k, v, src, path, e);
    case V_OBJ: return check_object(k->name, v, src, path, e);
    case V_LAYER_TYPES: return check_layer_types(k, v, src, path, e);
    case V_NOISE_RANGE: return check_noise_range(v, src, path, e);
    }
    return sbs_fail(e, "%s: key '%s': internal error (unhandled type)", src, path);
}

/* A whole file (or an override as the tree it sets). */
static int check_root(json_t *root, const char *src, sbs_err *e)
{
    return check_object(NULL, root, src, "", e);
}

/* ------------------------------------------------------------------------------------------ */
/* Overrides                                                                                   */

static int apply_override(json_t *merged, const char *ov, jsonc_origins *t, sbs_err *e)
{
    static const char *const SET = "--set";
    char ovs[256];
    const char *eq = strchr(ov, '=');
    if (!eq) return sbs_fail(e, "%s: expected KEY=VALUE, found '%s'", SET, JSONC_SHOWN(ovs, ov));

    /* key, trimmed */
    const char *ks = ov, *ke = eq;
    while (ks < ke && isspace((unsigned char)*ks)) ks++;
    while (ke > ks && isspace((unsigned char)ke[-1])) ke--;
    if (ks == ke)
        return sbs_fail(e, "%s: missing key before '=' in '%s'", SET, JSONC_SHOWN(ovs, ov));
    size_t klen = (size_t)(ke - ks);
    char *key = xmalloc(klen + 1);
    memcpy(key, ks, klen);
    key[klen] = 0;

    /* value, trimmed */
    const char *vs = eq + 1;
    while (*vs && isspace((unsigned char)*vs)) vs++;
    size_t vlen = strlen(vs);
    while (vlen > 0 && isspace((unsigned char)vs[vlen - 1])) vlen--;

    /* walk the table along the key path */
    const char *obj = NULL;
    bool in_object = true;
    const cfg_key *k = NULL;
    char prefix[512] = "";
    int depth = 0;
    char *parts[16];
    char *save = NULL;
    int r = 0;
    for (char *p = strtok_r(key, ".", &save); p; p = strtok_r(NULL, ".", &save)) {
        if (depth == 16 || !in_object) {
            r = sbs_fail(e, "%s: key '%s' is not an object; cannot set '%s'", SET, prefix,
                         jsonc_shown(ovs, sizeof ovs, ks, klen));
            break;
        }
        k = find_key(obj, p);
        if (!k) {
            r = fail_unknown_key(e, SET, obj, prefix, p);
            break;
        }
        parts[depth++] = p;
        char tmp[512];
        jsonc_join(tmp, sizeof tmp, prefix, p);
        snprintf(prefix, sizeof prefix, "%s", tmp);
        in_object = k->type == V_OBJ;
        obj = k->name;
    }
    if (!r && !k) r = sbs_fail(e, "%s: missing key in '%s'", SET, JSONC_SHOWN(ovs, ov));
    if (r) {
        free(key);
        return r;
    }

    /* the value: JSON if it parses, else (for strings, or text that is no JSON) the text */
    char syntax[256];
    json_t *val = jsonc_parse_value(vs, vlen, k->type == V_STR, syntax, sizeof syntax);
    if (!val) {
        char shown_v[256];
        if (syntax[0])
            r = sbs_fail(e, "%s: key '%s': malformed JSON value '%s' (%s)", SET, prefix,
                         jsonc_shown(shown_v, sizeof shown_v, vs, vlen), syntax);
        else
            r = sbs_fail(e, "%s: value of '%s' is not valid UTF-8", SET, prefix);
        free(key);
        return r;
    }

    /* build {a: {b: value}} and check/merge it like a file */
    json_t *tree = val;
    for (int d = depth - 1; d >= 0; d--) {
        json_t *o = json_object();
        json_object_set_new(o, parts[d], tree);
        tree = o;
    }
    free(key);
    r = check_root(tree, SET, e);
    if (r == 0) jsonc_merge(merged, tree, "", SET, t);
    json_decref(tree);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Resolution into the struct                                                                  */

static json_t *jget(json_t *root, const char *obj, const char *key)
{
    if (obj) {
        root = json_object_get(root, obj);
        if (!json_is_object(root)) return NULL;
    }
    return json_object_get(root, key);
}

/* Entry of a per-layer list for layer l: the l-th entry, or the only one, or NULL (default).
 * A scalar stands for every layer. */
static json_t *layer_entry(json_t *v, int l)
{
    if (!v) return NULL;
    if (!json_is_array(v)) return v;
    size_t n = json_array_size(v);
    if ((size_t)l < n) return json_array_get(v, (size_t)l);
    if (n == 1) return json_array_get(v, 0);
    return NULL;
}

static int int_or(json_t *v, int def)
{
    int x;
    bool r;
    return v && jsonc_int_of(v, &x, &r) == 0 ? x : def;
}

/* Store the (checked) value v of a row in base (NULL v: the default). */
static void store(const cfg_key *k, void *base, json_t *v)
{
    void *p = field(base, k->off);
    switch (k->type) {
    case V_INT: *(int *)p = int_or(v, (int)k->def); break;
    case V_FLOAT:
        *(float *)p = (float)(v && json_is_number(v) ? json_number_value(v) : k->def);
        break;
    case V_BOOL: *(bool *)p = v && json_is_boolean(v) ? json_is_true(v) : k->def != 0; break;
    case V_STR: {
        const char *s = v && json_is_string(v) ? json_string_value(v) : k->sdef;
        for (const char *const *c = k->choices; c && *c; c++)
            if (strcasecmp(*c, s) == 0) s = *c; /* the canonical spelling */
        snprintf(p, k->size, "%s", s);
        break;
    }
    case V_PAIR: {
        bool two = v && json_is_array(v) && json_array_size(v) == 2;
        *(int *)p = int_or(two ? json_array_get(v, 0) : NULL, (int)k->def);
        *(int *)field(base, k->off2) = int_or(two ? json_array_get(v, 1) : NULL, (int)k->def);
        break;
    }
    case V_NOISE_RANGE:
        if (v && json_is_array(v) && json_array_size(v) == 2) {
            *(float *)p = (float)json_number_value(json_array_get(v, 0));
            *(float *)field(base, k->off2) = (float)json_number_value(json_array_get(v, 1));
        } else {
            *(float *)p = (float)k->def;
            *(float *)field(base, k->off2) = (float)k->def2;
        }
        break;
    case V_FLOAT_LIST:
    case V_INT_LIST: {
        size_t n = v && json_is_array(v) ? json_array_size(v) : 0;
        if (n > k->size) n = k->size;
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(v, i);
            if (k->type == V_INT_LIST)
                ((int *)p)[i] = int_or(x, 0);
            else
                ((float *)p)[i] = (float)(json_is_number(x) ? json_number_value(x) : 0);
        }
        *(int *)field(base, k->off2) = (int)n;
        break;
    }
    }
}

/* The loaded file that should be named for a key no file set: the one the reference keeps it
 * in, else network.json, def.json, dataset.json. */
static const char *home_file(const sbs_config *c, const cfg_key *k)
{
    const char *home = k->file == F_NET  ? c->network_file
                       : k->file == F_DS ? c->dataset_file
                                         : c->def_file;
    return home[0]              ? home
           : c->network_file[0] ? c->network_file
           : c->def_file[0]     ? c->def_file
           : c->dataset_file[0] ? c->dataset_file
                                : "config";
}

static int resolve(sbs_config *c, json_t *m, const jsonc_origins *t, sbs_err *e)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!(keys[i].flags & PL) && keys[i].type != V_PAIR && keys[i].type != V_OBJ &&
            keys[i].type != V_LAYER_TYPES)
            store(&keys[i], c, jget(m, keys[i].obj, keys[i].name));

    const cfg_key *lt_key = find_key(NS, "layer_type");
    json_t *lt = jget(m, NS, "layer_type");
    if (!lt || !json_is_array(lt) || json_array_size(lt) == 0)
        return sbs_fail(e,
                        "%s: key '" NS ".layer_type': missing (expected a non-empty list of "
                        "layer type names)",
                        jsonc_origin_of(t, NS ".layer_type", home_file(c, lt_key)));
    c->n_layers = (int)json_array_size(lt);
    for (size_t i = 0; i < N_KEYS; i++) {
        json_t *v = jget(m, keys[i].obj, keys[i].name);
        if (keys[i].type == V_PAIR && v && json_is_array(v) &&
            json_array_size(v) > (size_t)c->n_layers) {
            char path[128];
            snprintf(path, sizeof path, "%s.%s", keys[i].obj, keys[i].name);
            return sbs_fail(e, "%s: key '%s': %zu entries but layer_type has %d layer%s",
                            jsonc_origin_of(t, path, home_file(c, &keys[i])), path,
                            json_array_size(v), c->n_layers, c->n_layers == 1 ? "" : "s");
        }
    }
    if (c->learn.loss_coeffs_mse + c->learn.loss_coeffs_kldiv <= 0) {
        const cfg_key *k = find_key(LP, "loss_coeffs_kldiv");
        return sbs_fail(e,
                        "%s: key '" LP ".loss_coeffs_kldiv': loss_coeffs_mse + "
                        "loss_coeffs_kldiv must be > 0 (the mixed loss is divided by it), "
                        "found %g + %g",
                        jsonc_origin_of(t, LP ".loss_coeffs_kldiv", home_file(c, k)),
                        (double)c->learn.loss_coeffs_mse, (double)c->learn.loss_coeffs_kldiv);
    }

    for (int l = 0; l < c->n_layers; l++) {
        sbs_layer_cfg *L = &c->layers[l];
        const char *ts = json_string_value(json_array_get(lt, (size_t)l));
        snprintf(L->type, sizeof L->type, "%s", ts ? ts : "");
        int kind = sbs_layer_kind_parse(ts);
        if (kind < 0) /* cannot happen: checked when loaded */
            return sbs_fail(e, "%s: key '" NS ".layer_type[%d]': unknown layer type",
                            jsonc_origin_of(t, NS ".layer_type", home_file(c, lt_key)), l);
        L->kind = (sbs_layer_kind)kind;
        for (size_t i = 0; i < N_KEYS; i++)
            if (keys[i].flags & PL || keys[i].type == V_PAIR)
                store(&keys[i], L, layer_entry(jget(m, keys[i].obj, keys[i].name), l));
    }
    return 0;
}

int sbs_config_load(sbs_config *cfg, const char *network_json, const char *dataset_json,
                    const char *def_json, const char *const *overrides, int n_overrides, sbs_err *e)
{
    memset(cfg, 0, sizeof *cfg);
    const char *in[3] = {network_json, dataset_json, def_json};
    char *names[3] = {cfg->network_file, cfg->dataset_file, cfg->def_file};
    for (int i = 0; i < 3; i++) {
        if (!in[i]) continue;
        if (strlen(in[i]) >= PATH_MAX) return sbs_fail(e, "path too long: %.64s...", in[i]);
        snprintf(names[i], PATH_MAX, "%s", in[i]);
    }

    json_t *merged = json_object();
    jsonc_origins t = {0};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!in[i]) continue;
        json_t *root = jsonc_load_file(names[i], e);
        if (!root || check_root(root, names[i], e))
            rc = -1;
        else
            jsonc_merge(merged, root, "", names[i], &t);
        json_decref(root);
    }
    for (int i = 0; i < n_overrides && rc == 0; i++) {
        if (!overrides || !overrides[i]) continue;
        rc = apply_override(merged, overrides[i], &t, e);
    }
    if (rc == 0) rc = resolve(cfg, merged, &t, e);
    json_decref(merged);
    jsonc_origins_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Paths                                                                                        */

static int check_readable(const char *path, sbs_err *e)
{
    int fd = sbs_open_regular(path, e);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int copy_path(char dst[PATH_MAX], const char *src, sbs_err *e)
{
    if (strlen(src) >= PATH_MAX) return sbs_fail(e, "path too long: %.64s...", src);
    snprintf(dst, PATH_MAX, "%s", src);
    return 0;
}

/* dir + "/" + name, with dir "" meaning the current folder. */
static int sibling(char dst[PATH_MAX], const char *dir, size_t dlen, const char *name, sbs_err *e)
{
    int n;
    if (dlen == 0)
        n = snprintf(dst, PATH_MAX, "%s", name);
    else if (dir[dlen - 1] == '/')
        n = snprintf(dst, PATH_MAX, "%.*s%s", (int)dlen, dir, name);
    else
        n = snprintf(dst, PATH_MAX, "%.*s/%s", (int)dlen, dir, name);
    if (n < 0 || n >= PATH_MAX) return sbs_fail(e, "path too long: %.64s.../%s", dir, name);
    return 0;
}

int sbs_config_paths(const char *def_or_dir, const char *network_opt, const char *dataset_opt,
                     char net[PATH_MAX], char ds[PATH_MAX], char def[PATH_MAX], sbs_err *e)
{
    if (!def_or_dir || !*def_or_dir) def_or_dir = "def.json";
    struct stat st;
    if (stat(def_or_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (sibling(def, def_or_dir, strlen(def_or_dir), "def.json", e)) return -1;
    } else if (copy_path(def, def_or_dir, e)) {
        return -1;
    }
    if (check_readable(def, e)) return -1;

    const char *slash = strrchr(def, '/');
    size_t dlen = slash ? (size_t)(slash - def) + 1 : 0;
    if (network_opt) {
        if (copy_path(net, network_opt, e)) return -1;
    } else if (sibling(net, def, dlen, "network.json", e)) {
        return -1;
    }
    if (check_readable(net, e)) return -1;
    if (dataset_opt) {
        if (copy_path(ds, dataset_opt, e)) return -1;
    } else if (sibling(ds, def, dlen, "dataset.json", e)) {
        return -1;
    }
    if (check_readable(ds, e)) return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Dump                                                                                         */

/* A float as the shortest decimal that reads back as the same float. */
static json_t *jreal(float f)
{
    char buf[64];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return json_real(strtod(buf, NULL));
}

/* Write indented JSON with every innermost list (no list or object inside) on one line:
 * "number_of_spikes": [1600, 1600], and the pairs of the structure lists one per line. */
static void write_compact_lists(const char *s, FILE *f)
{
    bool in_str = false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (in_str) {
            fputc(c, f);
            if (c == '\\' && s[i + 1])
                fputc(s[++i], f);
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
            fputc(c, f);
            continue;
        }
        if (c != '[') {
            fputc(c, f);
            continue;
        }
        /* find the end of this list; is it innermost? */
        size_t j = i + 1;
        bool str = false, inner = true;
        for (; s[j]; j++) {
            if (str) {
                if (s[j] == '\\' && s[j + 1])
                    j++;
                else if (s[j] == '"')
                    str = false;
            } else if (s[j] == '"') {
                str = true;
            } else if (s[j] == '[' || s[j] == '{') {
                inner = false;
                break;
            } else if (s[j] == ']') {
                break;
            }
        }
        if (!inner || !s[j]) {
            fputc(c, f);
            continue;
        }
        /* copy s[i..j] dropping the whitespace outside strings, one space after commas */
        str = false;
        for (size_t k = i; k <= j; k++) {
            char d = s[k];
            if (str) {
                fputc(d, f);
                if (d == '\\' && k < j)
                    fputc(s[++k], f);
                else if (d == '"')
                    str = false;
            } else if (d == '"') {
                str = true;
                fputc(d, f);
            } else if (!isspace((unsigned char)d)) {
                fputc(d, f);
                if (d == ',') fputc(' ', f);
            }
        }
        i = j;
    }
}

static json_t *jpair(int a, int b, bool absent)
{
    return absent ? json_array() : json_pack("[ii]", a, b);
}

/* The JSON of one row's value in base (a layer for per-layer rows). */
static json_t *dump_value(const cfg_key *k, const void *base)
{
    const void *p = (const char *)base + k->off;
    const void *p2 = (const char *)base + k->off2;
    switch (k->type) {
    case V_INT: return json_integer(*(const int *)p);
    case V_FLOAT: return jreal(*(const float *)p);
    case V_BOOL: return json_boolean(*(const bool *)p);
    case V_STR: return json_string(p);
    case V_PAIR: { /* a pair whose default is negative stands for "not given": [] */
        int a = *(const int *)p, b = *(const int *)p2;
        return jpair(a, b, k->def < 0 && a < 0 && b < 0);
    }
    case V_NOISE_RANGE:
        return json_pack("[oo]", jreal(*(const float *)p), jreal(*(const float *)p2));
    case V_FLOAT_LIST:
    case V_INT_LIST: {
        json_t *a = json_array();
        int n = *(const int *)p2;
        for (int i = 0; i < n && i < (int)k->size; i++)
            json_array_append_new(a, k->type == V_INT_LIST ? json_integer(((const int *)p)[i])
                                                           : jreal(((const float *)p)[i]));
        return a;
    }
    }
    return json_null();
}

/* The rows of object `obj` (NULL: top level), in table order. */
static json_t *dump_object(const sbs_config *c, const char *obj)
{
    json_t *r = json_object();
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key *k = &keys[i];
        if (!same_obj(k->obj, obj)) continue;
        json_t *v;
        if (k->type == V_OBJ) {
            v = dump_object(c, k->name);
        } else if (k->type == V_LAYER_TYPES) {
            v = json_array();
            for (int l = 0; l < c->n_layers; l++)
                json_array_append_new(v, json_string(c->layers[l].type));
        } else if (k->flags & PL || k->type == V_PAIR) {
            v = json_array();
            for (int l = 0; l < c->n_layers; l++)
                json_array_append_new(v, dump_value(k, &c->layers[l]));
        } else if (k->type == V_STR && k->choices && !*(const char *)((const char *)c + k->off)) {
            continue; /* no choice made (data_mode): "" would not load again */
        } else {
            v = dump_value(k, c);
        }
        json_object_set_new(r, k->name, v);
    }
    return r;
}

void sbs_config_dump(const sbs_config *c, FILE *f)
{
    json_t *r = dump_object(c, NULL);
    char *text = json_dumps(r, JSON_INDENT(4) | JSON_REAL_PRECISION(15));
    json_decref(r);
    if (!text) {
        fprintf(stderr, "error: out of memory dumping the config\n");
        exit(SBS_EXIT_NOMEM);
    }
    write_compact_lists(text, f);
    fputc('\n', f);
    free(text);
}
