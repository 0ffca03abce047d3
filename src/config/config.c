/* config.c — load network.json, dataset.json and def.json (SPEC §3), merge them, apply
 * command-line overrides and resolve everything into an sbs_config.
 *
 * Steps: read each file, blank out // comments (positions kept, so jansson's line:column stay
 * right), parse with duplicate keys rejected, check every key and value against the schema
 * below (so an error names the file the key came from), merge (objects key-wise, recursively),
 * apply the overrides the same way (source "--set"), then read the merged tree into the
 * struct, applying defaults and expanding per-layer lists. Checks that involve two keys
 * (structure list longer than layer_type) name the file that last set the key. */
#include "sbs/config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
/* Schema                                                                                      */

enum vtype {
    V_INT,          /* integer (an integral-valued real is accepted) */
    V_FLOAT,        /* number */
    V_BOOL,         /* true / false */
    V_STR,          /* string; `choices` limits the values (case-insensitive) */
    V_OBJ,          /* object with the keys in `sub` */
    V_LAYER_TYPES,  /* non-empty list of known layer type names */
    V_PAIR_LAYERS,  /* per-layer list; each entry [] or [int, int] */
    V_INT_LAYERS,   /* integer or per-layer list of integers */
    V_FLOAT_LAYERS, /* number or per-layer list of numbers */
    V_BOOL_LAYERS,  /* boolean or per-layer list of booleans */
    V_FLOAT_LIST,   /* list of numbers (at most `maxlen`) */
    V_INT_LIST,     /* list of integers (at most `maxlen`) */
    V_NOISE_RANGE,  /* [lo, hi] with 0 < lo <= hi */
};

enum { R_MIN = 1, R_MAX = 2 };

typedef struct key_spec {
    const char *name;
    int type;
    int range; /* R_MIN | R_MAX: bounds on the value (or each element) */
    double min, max;
    const struct key_spec *sub;      /* V_OBJ */
    const char *const *choices;      /* V_STR, NULL-terminated */
    size_t maxlen;                   /* V_STR: buffer size; lists: most entries */
} key_spec;

static const char *const data_modes[] = {"MNIST", "MNIST_FASHION", "CIFAR10", NULL};
static const char *const optimizers[] = {"Adam", "SGD", NULL};
static const char *const schedules[] = {"ReduceLROnPlateau", "None", NULL};

static const key_spec network_structure_keys[] = {
    {"layer_type", V_LAYER_TYPES, 0, 0, 0, NULL, NULL, SBS_MAX_LAYERS},
    {"forward_neuron_numbers", V_PAIR_LAYERS, R_MIN | R_MAX, 1, 1000000, NULL, NULL, 0},
    {"forward_kernel_size", V_PAIR_LAYERS, R_MIN, 1, 0, NULL, NULL, 0},
    {"strides", V_PAIR_LAYERS, R_MIN, 1, 0, NULL, NULL, 0},
    {"dilation", V_PAIR_LAYERS, R_MIN, 1, 0, NULL, NULL, 0},
    {"padding", V_PAIR_LAYERS, R_MIN, 0, 0, NULL, NULL, 0},
    {"number_of_output_neurons", V_INT, R_MIN, 1, 0, NULL, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0},
};

static const key_spec learning_keys[] = {
    {"learning_active", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"loss_mode", V_INT, R_MIN | R_MAX, 0, 1, NULL, NULL, 0},
    {"loss_coeffs_mse", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {"loss_coeffs_kldiv", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {"optimizer_name", V_STR, 0, 0, 0, NULL, optimizers, 32},
    {"learning_rate_gamma_w", V_FLOAT, 0, 0, 0, NULL, NULL, 0},
    {"learning_rate_threshold_w", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {"lr_schedule_name", V_STR, 0, 0, 0, NULL, schedules, 32},
    {"lr_scheduler_use_performance", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"lr_scheduler_factor_w", V_FLOAT, 0, 0, 0, NULL, NULL, 0},
    {"lr_scheduler_patience_w", V_INT, 0, 0, 0, NULL, NULL, 0},
    {"lr_scheduler_tau_w", V_FLOAT, 0, 0, 0, NULL, NULL, 0},
    {"number_of_batches_for_one_update", V_INT, R_MIN, 1, 0, NULL, NULL, 0},
    {"overload_path", V_STR, 0, 0, 0, NULL, NULL, PATH_MAX},
    {"weight_noise_range", V_NOISE_RANGE, 0, 0, 0, NULL, NULL, 2},
    {"eps_xy_intitial", V_FLOAT, 0, 0, 0, NULL, NULL, 0},
    {"disable_scale_grade", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"kepp_last_grad_scale", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"sbs_skip_gradient_calculation", V_BOOL_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"adapt_learning_rate_after_minibatch", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"w_trainable", V_BOOL_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0},
};

static const key_spec augmentation_keys[] = {
    {"crop_width_in_pixel", V_INT, R_MIN, 0, 0, NULL, NULL, 0},
    {"flip_p", V_FLOAT, R_MIN | R_MAX, 0, 1, NULL, NULL, 0},
    {"jitter_brightness", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {"jitter_contrast", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {"jitter_saturation", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {"jitter_hue", V_FLOAT, R_MIN, 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0},
};

static const key_spec image_statistics_keys[] = {
    {"mean", V_FLOAT_LIST, 0, 0, 0, NULL, NULL, 16},
    {"the_size", V_INT_LIST, R_MIN, 1, 0, NULL, NULL, 4},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0},
};

static const key_spec approximation_keys[] = {
    {"approximation_enable", V_BOOL_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"number_of_trunc_bits", V_INT_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"number_of_frac_bits", V_INT_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0},
};

static const key_spec top_keys[] = {
    {"batch_size", V_INT, R_MIN, 1, 0, NULL, NULL, 0},
    {"data_mode", V_STR, 0, 0, 0, NULL, data_modes, 32},
    {"data_path", V_STR, 0, 0, 0, NULL, NULL, PATH_MAX},
    {"epoch_id", V_INT, R_MIN, 0, 0, NULL, NULL, 0},
    {"epoch_id_max", V_INT, R_MIN, 0, 0, NULL, NULL, 0},
    {"number_of_cpu_processes", V_INT, 0, 0, 0, NULL, NULL, 0},
    {"weight_path", V_STR, 0, 0, 0, NULL, NULL, PATH_MAX},
    {"log_path", V_STR, 0, 0, 0, NULL, NULL, PATH_MAX},
    {"number_of_spikes", V_INT_LAYERS, R_MIN | R_MAX, 1, 10000000, NULL, NULL, 0},
    {"epsilon_0", V_FLOAT_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"forgetting_offset", V_FLOAT_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"cooldown_after_number_of_spikes", V_INT_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"reduction_cooldown", V_FLOAT_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"spike_full_layer_input_distribution", V_BOOL_LAYERS, 0, 0, 0, NULL, NULL, 0},
    {"simulation_id", V_INT, 0, 0, 0, NULL, NULL, 0},
    {"stage_id", V_INT, 0, 0, 0, NULL, NULL, 0},
    {"enable_cpu_thread_balacing", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"force_forward_h_dynamic_on_cpu", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"extract_noisy_pictures", V_BOOL, 0, 0, 0, NULL, NULL, 0},
    {"network_structure", V_OBJ, 0, 0, 0, network_structure_keys, NULL, 0},
    {"learning_parameters", V_OBJ, 0, 0, 0, learning_keys, NULL, 0},
    {"augmentation", V_OBJ, 0, 0, 0, augmentation_keys, NULL, 0},
    {"image_statistics", V_OBJ, 0, 0, 0, image_statistics_keys, NULL, 0},
    {"approximation_setting", V_OBJ, 0, 0, 0, approximation_keys, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0},
};

static const key_spec top_spec = {"", V_OBJ, 0, 0, 0, top_keys, NULL, 0};

static const key_spec *find_key(const key_spec *level, const char *name)
{
    for (const key_spec *k = level; k->name; k++)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

/* Case-insensitive Levenshtein distance (keys are short). */
static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = xmalloc((lb + 1) * sizeof *row);
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t v = diag + cost;
            if (row[j] + 1 < v) v = row[j] + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

/* Copy s (len bytes) for an error message: control characters escaped (\n, \xNN), so that
 * a key, value or line from a user's file can never break the message's one line; cut with
 * "..." beyond the buffer. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '\n') snprintf(tmp, sizeof tmp, "\\n");
        else if (c == '\r') snprintf(tmp, sizeof tmp, "\\r");
        else if (c == '\t') snprintf(tmp, sizeof tmp, "\\t");
        else if (c < 0x20 || c == 0x7f) snprintf(tmp, sizeof tmp, "\\x%02x", c);
        else tmp[0] = (char)c, tmp[1] = 0;
        size_t tl = strlen(tmp);
        if (o + tl + 4 > size) {
            snprintf(buf + o, size - o, "...");
            return buf;
        }
        memcpy(buf + o, tmp, tl);
        o += tl;
    }
    buf[o] = 0;
    return buf;
}
#define SHOWN(buf, s) shown((buf), sizeof(buf), (s), strlen(s))

static const char *join_path(char *buf, size_t n, const char *prefix, const char *key)
{
    if (prefix && *prefix)
        snprintf(buf, n, "%s.%s", prefix, key);
    else
        snprintf(buf, n, "%s", key);
    return buf;
}

static int fail_unknown_key(sbs_err *e, const char *src, const key_spec *level,
                            const char *prefix, const char *key)
{
    char path[512], kshown[256];
    join_path(path, sizeof path, prefix, SHOWN(kshown, key));
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const key_spec *k = level; k->name; k++) {
        size_t d = levenshtein(key, k->name);
        if (d < best_d) {
            best_d = d;
            best = k->name;
        }
    }
    size_t len = strlen(key);
    size_t limit = len / 2 > 3 ? len / 2 : 3;
    if (best && best_d <= limit) {
        char sug[512];
        join_path(sug, sizeof sug, prefix, best);
        return sbs_fail(e, "%s: unknown key '%s' (did you mean '%s'?)", src, path, sug);
    }
    char list[700];
    size_t off = 0;
    list[0] = 0;
    for (const key_spec *k = level; k->name && off < sizeof list; k++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", k->name);
    return sbs_fail(e, "%s: unknown key '%s' (known keys here: %s)", src, path, list);
}

/* ------------------------------------------------------------------------------------------ */
/* Value checks                                                                                */

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Integer value of v (an integer, or an integral-valued real) if it fits an int. */
static int int_of(const json_t *v, int *out, bool *range_err)
{
    *range_err = false;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < INT_MIN || x > INT_MAX) {
            *range_err = true;
            return -1;
        }
        *out = (int)x;
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x != floor(x)) return -1;
        if (x < (double)INT_MIN || x > (double)INT_MAX) {
            *range_err = true;
            return -1;
        }
        *out = (int)x;
        return 0;
    }
    return -1;
}

static void describe(char *buf, size_t n, const json_t *v)
{
    if (json_is_real(v))
        snprintf(buf, n, "%g", json_real_value(v));
    else if (json_is_integer(v))
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, n, "%s", json_kind(v));
}

static int check_range(const key_spec *k, double x, const char *src, const char *path,
                       sbs_err *e)
{
    bool lo = (k->range & R_MIN) && x < k->min, hi = (k->range & R_MAX) && x > k->max;
    if (!lo && !hi) return 0;
    if ((k->range & (R_MIN | R_MAX)) == (R_MIN | R_MAX))
        return sbs_fail(e, "%s: key '%s': must be between %.10g and %.10g, found %.10g", src,
                        path, k->min, k->max, x);
    if (lo) return sbs_fail(e, "%s: key '%s': must be >= %.10g, found %.10g", src, path, k->min, x);
    return sbs_fail(e, "%s: key '%s': must be <= %.10g, found %.10g", src, path, k->max, x);
}

static int check_int(const key_spec *k, const json_t *v, const char *src, const char *path,
                     sbs_err *e)
{
    int x;
    bool range_err;
    if (int_of(v, &x, &range_err) != 0) {
        char d[64];
        describe(d, sizeof d, v);
        if (range_err)
            return sbs_fail(e, "%s: key '%s': integer out of range, found %s", src, path, d);
        return sbs_fail(e, "%s: key '%s': expected an integer, found %s", src, path, d);
    }
    return check_range(k, x, src, path, e);
}

static int check_float(const key_spec *k, const json_t *v, const char *src, const char *path,
                       sbs_err *e)
{
    if (!json_is_number(v))
        return sbs_fail(e, "%s: key '%s': expected a number, found %s", src, path, json_kind(v));
    double x = json_number_value(v);
    if (!isfinite(x) || fabs(x) > FLT_MAX)
        return sbs_fail(e, "%s: key '%s': number out of range, found %g", src, path, x);
    return check_range(k, x, src, path, e);
}

static int check_bool(const json_t *v, const char *src, const char *path, sbs_err *e)
{
    if (!json_is_boolean(v))
        return sbs_fail(e, "%s: key '%s': expected a boolean (true or false), found %s", src,
                        path, json_kind(v));
    return 0;
}

static int check_value(const key_spec *k, json_t *v, const char *src, const char *path,
                       sbs_err *e);

static int check_object(const key_spec *k, json_t *v, const char *src, const char *path,
                        sbs_err *e)
{
    if (!json_is_object(v)) {
        if (*path)
            return sbs_fail(e, "%s: key '%s': expected an object, found %s", src, path,
                            json_kind(v));
        return sbs_fail(e, "%s: the top level must be a JSON object, found %s", src,
                        json_kind(v));
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        const key_spec *sk = find_key(k->sub, key);
        if (!sk) return fail_unknown_key(e, src, k->sub, path, key);
        char sub[512];
        join_path(sub, sizeof sub, path, key);
        if (check_value(sk, val, src, sub, e)) return -1;
    }
    return 0;
}

/* Check an element of a per-layer list (or the scalar standing for all layers). */
static int check_elem(const key_spec *k, json_t *v, const char *src, const char *path,
                      sbs_err *e)
{
    switch (k->type) {
    case V_INT_LAYERS:
    case V_INT_LIST: return check_int(k, v, src, path, e);
    case V_FLOAT_LAYERS:
    case V_FLOAT_LIST: return check_float(k, v, src, path, e);
    case V_BOOL_LAYERS: return check_bool(v, src, path, e);
    case V_PAIR_LAYERS: {
        if (json_is_array(v) && json_array_size(v) == 0) return 0;
        if (!json_is_array(v) || json_array_size(v) != 2)
            goto bad_pair;
        for (size_t i = 0; i < 2; i++) {
            int x;
            bool range_err;
            if (int_of(json_array_get(v, i), &x, &range_err) != 0) goto bad_pair;
        }
        for (size_t i = 0; i < 2; i++) {
            char p[560];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            if (check_int(k, json_array_get(v, i), src, p, e)) return -1;
        }
        return 0;
    bad_pair:
        if (json_is_array(v))
            return sbs_fail(e,
                            "%s: key '%s': expected [] or a pair of integers [x, y], found a "
                            "list of %zu element%s%s",
                            src, path, json_array_size(v), json_array_size(v) == 1 ? "" : "s",
                            json_array_size(v) == 2 ? " that are not both integers" : "");
        return sbs_fail(e, "%s: key '%s': expected [] or a pair of integers [x, y], found %s",
                        src, path, json_kind(v));
    }
    }
    return 0;
}

static int check_value(const key_spec *k, json_t *v, const char *src, const char *path,
                       sbs_err *e)
{
    switch (k->type) {
    case V_INT: return check_int(k, v, src, path, e);
    case V_FLOAT: return check_float(k, v, src, path, e);
    case V_BOOL: return check_bool(v, src, path, e);
    case V_STR: {
        if (!json_is_string(v))
            return sbs_fail(e, "%s: key '%s': expected a string, found %s", src, path,
                            json_kind(v));
        const char *s = json_string_value(v);
        if (strlen(s) >= k->maxlen)
            return sbs_fail(e, "%s: key '%s': string too long (%zu characters, at most %zu)",
                            src, path, strlen(s), k->maxlen - 1);
        if (k->choices) {
            for (const char *const *c = k->choices; *c; c++)
                if (strcasecmp(*c, s) == 0) return 0;
            char list[256];
            size_t off = 0;
            list[0] = 0;
            for (const char *const *c = k->choices; *c && off < sizeof list; c++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
                                        *c);
            char vs[256];
            return sbs_fail(e, "%s: key '%s': unknown value '%s' (expected one of %s)", src,
                            path, SHOWN(vs, s), list);
        }
        return 0;
    }
    case V_OBJ: return check_object(k, v, src, path, e);
    case V_LAYER_TYPES: {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return sbs_fail(e, "%s: key '%s': expected a non-empty list of layer type names, "
                               "found %s",
                            src, path, json_is_array(v) ? "an empty list" : json_kind(v));
        if (json_array_size(v) > SBS_MAX_LAYERS)
            return sbs_fail(e, "%s: key '%s': %zu layers, at most %d are supported", src, path,
                            json_array_size(v), SBS_MAX_LAYERS);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (!json_is_string(x))
                return sbs_fail(e, "%s: key '%s[%zu]': expected a string, found %s", src, path,
                                i, json_kind(x));
            if (sbs_layer_kind_parse(json_string_value(x)) < 0) {
                char list[400];
                size_t off = 0;
                for (int kk = 0; kk < SBS_L_COUNT && off < sizeof list; kk++)
                    off += (size_t)snprintf(list + off, sizeof list - off, "%s%s",
                                            kk ? ", " : "", kind_names[kk]);
                char ts[256];
                return sbs_fail(e, "%s: key '%s[%zu]': unknown layer type '%s' (known: %s)",
                                src, path, i, SHOWN(ts, json_string_value(x)), list);
            }
        }
        return 0;
    }
    case V_INT_LAYERS:
    case V_FLOAT_LAYERS:
    case V_BOOL_LAYERS:
    case V_PAIR_LAYERS:
    case V_FLOAT_LIST:
    case V_INT_LIST: {
        bool scalar_ok = k->type == V_INT_LAYERS || k->type == V_FLOAT_LAYERS ||
                         k->type == V_BOOL_LAYERS;
        if (!json_is_array(v)) {
            if (scalar_ok && !json_is_object(v)) return check_elem(k, v, src, path, e);
            const char *what = k->type == V_PAIR_LAYERS   ? "a list of [x, y] pairs"
                               : k->type == V_FLOAT_LIST  ? "a list of numbers"
                               : k->type == V_INT_LIST    ? "a list of integers"
                               : k->type == V_INT_LAYERS  ? "an integer or a list of integers"
                               : k->type == V_BOOL_LAYERS ? "a boolean or a list of booleans"
                                                          : "a number or a list of numbers";
            return sbs_fail(e, "%s: key '%s': expected %s, found %s", src, path, what,
                            json_kind(v));
        }
        if (k->maxlen && json_array_size(v) > k->maxlen)
            return sbs_fail(e, "%s: key '%s': %zu entries, at most %zu are supported", src,
                            path, json_array_size(v), k->maxlen);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            char p[560];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            if (check_elem(k, x, src, p, e)) return -1;
        }
        return 0;
    }
    case V_NOISE_RANGE: {
        if (!json_is_array(v) || json_array_size(v) != 2 ||
            !json_is_number(json_array_get(v, 0)) || !json_is_number(json_array_get(v, 1))) {
            char d[64];
            if (json_is_array(v))
                snprintf(d, sizeof d, "a list of %zu element%s", json_array_size(v),
                         json_array_size(v) == 1 ? "" : "s");
            else
                snprintf(d, sizeof d, "%s", json_kind(v));
            return sbs_fail(e, "%s: key '%s': expected two numbers [lo, hi], found %s", src,
                            path, d);
        }
        double lo = json_number_value(json_array_get(v, 0));
        double hi = json_number_value(json_array_get(v, 1));
        if (!(lo > 0) || !(lo <= hi) || !isfinite(hi) || hi > FLT_MAX)
            return sbs_fail(e, "%s: key '%s': need 0 < lo <= hi, found [%g, %g]", src, path,
                            lo, hi);
        return 0;
    }
    }
    return sbs_fail(e, "%s: key '%s': internal error (unhandled type)", src, path);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading, comment stripping, parsing                                                         */

#define MAX_CONFIG_BYTES (16u << 20)

static int read_file(const char *path, char **buf, size_t *len, sbs_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sbs_fail(e, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return sbs_fail(e, "cannot open %s: %s", path, strerror(EISDIR));
    }
    size_t cap = 4096, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_CONFIG_BYTES) {
                free(b);
                fclose(f);
                return sbs_fail(e, "%s: file too large for a config file (over %u bytes)", path,
                                MAX_CONFIG_BYTES);
            }
            cap *= 2;
            b = xrealloc(b, cap);
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        int err = errno;
        free(b);
        fclose(f);
        return sbs_fail(e, "cannot read %s: %s", path, strerror(err ? err : EIO));
    }
    fclose(f);
    *buf = b;
    *len = n;
    return 0;
}

/* Replace every character of each // comment (outside string literals) by a space; newlines
 * stay, so line and column numbers in the parser's messages are those of the file. */
static void blank_comments(char *s, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                if (i + 1 < n && s[i + 1] != '\n') i++;
            } else if (c == '"' || c == '\n') {
                in_str = false; /* an unterminated string ends at the line; jansson complains */
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '/' && i + 1 < n && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') s[i++] = ' ';
            i--; /* the loop's i++ moves onto the newline (or past the end) */
        }
    }
}

/* jansson's column is that of the last character of the offending token; report where the
 * token starts instead, when the message quotes it ("... near 'oops'") and the bytes before
 * the error position are that token. */
static int token_start_column(const json_error_t *je, const char *buf, size_t len)
{
    int col = je->column > 0 ? je->column : 1;
    const char *near = strstr(je->text, "near '");
    if (!near) return col;
    const char *tok = near + 6;
    size_t tl = strlen(tok);
    if (tl < 2 || tok[tl - 1] != '\'') return col;
    tl--; /* the closing quote */
    size_t pos = (size_t)je->position;
    if (pos > len || tl > pos || memcmp(buf + pos - tl, tok, tl) != 0) return col;
    int chars = 0; /* jansson counts UTF-8 characters, not bytes */
    for (size_t i = 0; i < tl; i++) {
        unsigned char ch = (unsigned char)tok[i];
        if (ch == '\n') return col;
        if ((ch & 0xC0) != 0x80) chars++;
    }
    return col - chars + 1 > 0 ? col - chars + 1 : 1;
}

/* True if the error is at a closing bracket that follows a comma (not valid JSON). */
static bool trailing_comma(const json_error_t *je, const char *buf, size_t len)
{
    size_t pos = (size_t)je->position;
    if (pos == 0 || pos > len || (buf[pos - 1] != '}' && buf[pos - 1] != ']')) return false;
    if (!strstr(je->text, "near '}'") && !strstr(je->text, "near ']'")) return false;
    size_t i = pos - 1;
    while (i > 0 && isspace((unsigned char)buf[i - 1])) i--;
    return i > 0 && buf[i - 1] == ',';
}

/* Parse text (comments blanked) from `name`; returns a new object or NULL with e set. */
static json_t *parse_text(char *text, size_t len, const char *name, sbs_err *e)
{
    size_t off = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        off = 3; /* UTF-8 byte order mark */
    const char *nul = memchr(text + off, 0, len - off);
    if (nul) {
        sbs_fail(e, "%s: offset %zu: expected JSON text, found a NUL byte (a binary file?)", name,
                 (size_t)(nul - text));
        return NULL;
    }
    blank_comments(text + off, len - off);
    json_error_t je;
    json_t *root = json_loadb(text + off, len - off, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char jt[256];
        sbs_fail(e, "%s:%d:%d: JSON syntax error: %s%s", name, je.line > 0 ? je.line : 1,
                 token_start_column(&je, text + off, len - off), SHOWN(jt, je.text),
                 trailing_comma(&je, text + off, len - off) ? " (a trailing comma?)" : "");
        return NULL;
    }
    return root;
}

static json_t *load_file(const char *path, sbs_err *e)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, e)) return NULL;
    json_t *root = parse_text(text, len, path, e);
    free(text);
    if (!root) return NULL;
    if (check_value(&top_spec, root, path, "", e)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ------------------------------------------------------------------------------------------ */
/* Merge with origin tracking                                                                  */

typedef struct {
    char *path;
    const char *src;
} origin;

typedef struct {
    origin *o;
    size_t n, cap;
} origins;

static void origin_set(origins *t, const char *path, const char *src)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->o[i].path, path) == 0) {
            t->o[i].src = src;
            return;
        }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->o = xrealloc(t->o, t->cap * sizeof *t->o);
    }
    size_t l = strlen(path) + 1;
    t->o[t->n].path = xmalloc(l);
    memcpy(t->o[t->n].path, path, l);
    t->o[t->n].src = src;
    t->n++;
}

/* The file that last set `path` (or the object holding it). */
static const char *origin_of(const origins *t, const char *path, const char *fallback)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t l = strlen(t->o[i].path);
        if (strncmp(t->o[i].path, path, l) == 0 &&
            (path[l] == 0 || path[l] == '.' || path[l] == '[') && l >= best_len) {
            best = t->o[i].src;
            best_len = l;
        }
    }
    return best ? best : fallback;
}

static void origins_free(origins *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->o[i].path);
    free(t->o);
}

static void merge(json_t *dst, json_t *src, const char *prefix, const char *name, origins *t)
{
    const char *key;
    json_t *val;
    json_object_foreach(src, key, val) {
        char path[512];
        join_path(path, sizeof path, prefix, key);
        json_t *old = json_object_get(dst, key);
        if (old && json_is_object(old) && json_is_object(val)) {
            merge(old, val, path, name, t);
        } else {
            json_object_set_new(dst, key, json_deep_copy(val));
            origin_set(t, path, name);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Overrides                                                                                   */

static int apply_override(json_t *merged, const char *ov, origins *t, sbs_err *e)
{
    static const char *const SET = "--set";
    char ovs[256];
    const char *eq = strchr(ov, '=');
    if (!eq) return sbs_fail(e, "%s: expected KEY=VALUE, found '%s'", SET, SHOWN(ovs, ov));

    /* key, trimmed */
    const char *ks = ov, *ke = eq;
    while (ks < ke && isspace((unsigned char)*ks)) ks++;
    while (ke > ks && isspace((unsigned char)ke[-1])) ke--;
    if (ks == ke) return sbs_fail(e, "%s: missing key before '=' in '%s'", SET, SHOWN(ovs, ov));
    size_t klen = (size_t)(ke - ks);
    char *key = xmalloc(klen + 1);
    memcpy(key, ks, klen);
    key[klen] = 0;

    /* value, trimmed */
    const char *vs = eq + 1;
    while (*vs && isspace((unsigned char)*vs)) vs++;
    size_t vlen = strlen(vs);
    while (vlen > 0 && isspace((unsigned char)vs[vlen - 1])) vlen--;

    /* walk the schema along the key path */
    const key_spec *level = top_keys, *k = NULL;
    char prefix[512] = "";
    int depth = 0;
    char *parts[16];
    char *save = NULL;
    for (char *p = strtok_r(key, ".", &save); p; p = strtok_r(NULL, ".", &save)) {
        if (depth == 16 || !level) {
            int r = sbs_fail(e, "%s: key '%s' is not an object; cannot set '%s'", SET,
                             prefix, shown(ovs, sizeof ovs, ks, klen));
            free(key);
            return r;
        }
        k = find_key(level, p);
        if (!k) {
            int r = fail_unknown_key(e, SET, level, prefix, p);
            free(key);
            return r;
        }
        parts[depth++] = p;
        char tmp[512];
        join_path(tmp, sizeof tmp, prefix, p);
        snprintf(prefix, sizeof prefix, "%s", tmp);
        level = k->type == V_OBJ ? k->sub : NULL;
    }
    if (!k) {
        free(key);
        return sbs_fail(e, "%s: missing key in '%s'", SET, SHOWN(ovs, ov));
    }

    /* the value: JSON if it parses, else the bare text as a string */
    char *vtext = xmalloc(vlen + 1);
    memcpy(vtext, vs, vlen);
    vtext[vlen] = 0;
    json_error_t je;
    json_t *val = json_loadb(vtext, vlen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (k->type == V_STR && val && !json_is_string(val)) {
        json_decref(val);
        val = NULL; /* e.g. weight_path=123: take the text as written */
    }
    if (!val) val = json_string(vtext);
    free(vtext);
    if (!val) {
        free(key);
        return sbs_fail(e, "%s: value of '%s' is not valid UTF-8", SET, prefix);
    }

    /* build {a: {b: value}} and check/merge it like a file */
    json_t *tree = val;
    for (int d = depth - 1; d >= 0; d--) {
        json_t *o = json_object();
        json_object_set_new(o, parts[d], tree);
        tree = o;
    }
    free(key);
    int rc = check_value(&top_spec, tree, SET, "", e);
    if (rc == 0) merge(merged, tree, "", SET, t);
    json_decref(tree);
    return rc;
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

static int jint(json_t *v, int def)
{
    int x;
    bool r;
    if (v && int_of(v, &x, &r) == 0) return x;
    return def;
}

static float jfloat(json_t *v, float def)
{
    return v && json_is_number(v) ? (float)json_number_value(v) : def;
}

static bool jbool(json_t *v, bool def)
{
    return v && json_is_boolean(v) ? json_is_true(v) : def;
}

/* dst keeps its value (the default) unless v is a string. */
static void jstr(json_t *v, char *dst, size_t n)
{
    if (v && json_is_string(v)) snprintf(dst, n, "%s", json_string_value(v));
}

/* Canonical spelling of a choice (values were checked case-insensitively). */
static void jchoice(json_t *v, char *dst, size_t n, const char *const *choices, const char *def)
{
    const char *s = v && json_is_string(v) ? json_string_value(v) : def;
    for (const char *const *c = choices; *c; c++)
        if (strcasecmp(*c, s) == 0) s = *c;
    snprintf(dst, n, "%s", s);
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

static void pair_entry(json_t *list, int l, int out[2], int d0, int d1)
{
    json_t *x = layer_entry(list, l);
    out[0] = d0;
    out[1] = d1;
    if (x && json_is_array(x) && json_array_size(x) == 2) {
        out[0] = jint(json_array_get(x, 0), d0);
        out[1] = jint(json_array_get(x, 1), d1);
    }
}

static void set_defaults(sbs_config *c)
{
    c->batch_size = 500;
    c->epoch_id = 0;
    c->epoch_id_max = 10000;
    c->number_of_cpu_processes = -1;
    snprintf(c->weight_path, sizeof c->weight_path, "Parameters");
    snprintf(c->log_path, sizeof c->log_path, "Log");
    c->number_of_output_neurons = 10;
    c->learn.learning_active = true;
    c->learn.loss_mode = 0;
    c->learn.loss_coeffs_mse = 0.5f;
    c->learn.loss_coeffs_kldiv = 1.0f;
    snprintf(c->learn.optimizer_name, sizeof c->learn.optimizer_name, "Adam");
    c->learn.learning_rate_gamma_w = -1.0f;
    c->learn.learning_rate_threshold_w = 1e-5f;
    snprintf(c->learn.lr_schedule_name, sizeof c->learn.lr_schedule_name, "ReduceLROnPlateau");
    c->learn.lr_scheduler_use_performance = false;
    c->learn.lr_scheduler_factor_w = 0.75f;
    c->learn.lr_scheduler_patience_w = -1;
    c->learn.lr_scheduler_tau_w = 10.0f;
    c->learn.number_of_batches_for_one_update = 1;
    snprintf(c->learn.overload_path, sizeof c->learn.overload_path, "Previous");
    c->learn.weight_noise_range[0] = 1.0f;
    c->learn.weight_noise_range[1] = 1.1f;
    c->learn.eps_xy_intitial = 1.0f;
    c->learn.disable_scale_grade = false;
    c->learn.kepp_last_grad_scale = true;
    c->learn.adapt_learning_rate_after_minibatch = true;
    c->aug.crop_width_in_pixel = 2;
    c->aug.flip_p = 0.5f;
    c->aug.jitter_brightness = 0.5f;
    c->aug.jitter_contrast = 0.1f;
    c->aug.jitter_saturation = 0.1f;
    c->aug.jitter_hue = 0.15f;
}

static const char *const structure_lists[] = {"forward_neuron_numbers", "forward_kernel_size",
                                              "strides", "dilation", "padding", NULL};

static int resolve(sbs_config *c, json_t *m, const origins *t, sbs_err *e)
{
    const char *net_name = c->network_file[0]  ? c->network_file
                           : c->def_file[0]    ? c->def_file
                           : c->dataset_file[0] ? c->dataset_file
                                                : "config";
    /* top level scalars */
    c->batch_size = jint(jget(m, NULL, "batch_size"), c->batch_size);
    jchoice(jget(m, NULL, "data_mode"), c->data_mode, sizeof c->data_mode, data_modes, "");
    jstr(jget(m, NULL, "data_path"), c->data_path, sizeof c->data_path);
    c->epoch_id = jint(jget(m, NULL, "epoch_id"), c->epoch_id);
    c->epoch_id_max = jint(jget(m, NULL, "epoch_id_max"), c->epoch_id_max);
    c->number_of_cpu_processes =
        jint(jget(m, NULL, "number_of_cpu_processes"), c->number_of_cpu_processes);
    jstr(jget(m, NULL, "weight_path"), c->weight_path, sizeof c->weight_path);
    jstr(jget(m, NULL, "log_path"), c->log_path, sizeof c->log_path);
    c->simulation_id = jint(jget(m, NULL, "simulation_id"), 0);
    c->stage_id = jint(jget(m, NULL, "stage_id"), 0);
    c->enable_cpu_thread_balacing = jbool(jget(m, NULL, "enable_cpu_thread_balacing"), false);
    c->force_forward_h_dynamic_on_cpu =
        jbool(jget(m, NULL, "force_forward_h_dynamic_on_cpu"), false);
    c->extract_noisy_pictures = jbool(jget(m, NULL, "extract_noisy_pictures"), false);

    /* network_structure */
    const char *NS = "network_structure";
    json_t *lt = jget(m, NS, "layer_type");
    if (!lt || !json_is_array(lt) || json_array_size(lt) == 0)
        return sbs_fail(e, "%s: key 'network_structure.layer_type': missing (expected a "
                           "non-empty list of layer type names)",
                        origin_of(t, "network_structure.layer_type", net_name));
    c->n_layers = (int)json_array_size(lt);
    for (const char *const *sl = structure_lists; *sl; sl++) {
        json_t *v = jget(m, NS, *sl);
        if (v && json_is_array(v) && json_array_size(v) > (size_t)c->n_layers) {
            char path[128];
            snprintf(path, sizeof path, "%s.%s", NS, *sl);
            return sbs_fail(e, "%s: key '%s': %zu entries but layer_type has %d layer%s",
                            origin_of(t, path, net_name), path, json_array_size(v), c->n_layers,
                            c->n_layers == 1 ? "" : "s");
        }
    }
    c->number_of_output_neurons = jint(jget(m, NS, "number_of_output_neurons"), 10);

    json_t *fnn = jget(m, NS, "forward_neuron_numbers");
    json_t *ks = jget(m, NS, "forward_kernel_size");
    json_t *st = jget(m, NS, "strides");
    json_t *dl = jget(m, NS, "dilation");
    json_t *pd = jget(m, NS, "padding");
    json_t *spikes = jget(m, NULL, "number_of_spikes");
    json_t *eps = jget(m, NULL, "epsilon_0");
    json_t *fo = jget(m, NULL, "forgetting_offset");
    json_t *cd = jget(m, NULL, "cooldown_after_number_of_spikes");
    json_t *rc = jget(m, NULL, "reduction_cooldown");
    json_t *sf = jget(m, NULL, "spike_full_layer_input_distribution");
    json_t *skip = jget(m, "learning_parameters", "sbs_skip_gradient_calculation");
    json_t *wt = jget(m, "learning_parameters", "w_trainable");
    json_t *ae = jget(m, "approximation_setting", "approximation_enable");
    json_t *tb = jget(m, "approximation_setting", "number_of_trunc_bits");
    json_t *fb = jget(m, "approximation_setting", "number_of_frac_bits");

    for (int l = 0; l < c->n_layers; l++) {
        sbs_layer_cfg *L = &c->layers[l];
        const char *ts = json_string_value(json_array_get(lt, (size_t)l));
        snprintf(L->type, sizeof L->type, "%s", ts ? ts : "");
        int kind = sbs_layer_kind_parse(ts);
        if (kind < 0) /* cannot happen: checked when loaded */
            return sbs_fail(e, "%s: key 'network_structure.layer_type[%d]': unknown layer type",
                            origin_of(t, "network_structure.layer_type", net_name), l);
        L->kind = (sbs_layer_kind)kind;
        {
            int io[2];
            pair_entry(fnn, l, io, -1, -1);
            L->in = io[0];
            L->out = io[1];
        }
        pair_entry(ks, l, L->kernel, 1, 1);
        pair_entry(st, l, L->stride, 1, 1);
        pair_entry(dl, l, L->dilation, 1, 1);
        pair_entry(pd, l, L->padding, 0, 0);
        L->spikes = jint(layer_entry(spikes, l), 1600);
        L->epsilon_0 = jfloat(layer_entry(eps, l), 1.0f);
        L->forgetting_offset = jfloat(layer_entry(fo, l), -1.0f);
        L->cooldown_after_number_of_spikes = jint(layer_entry(cd, l), -1);
        L->reduction_cooldown = jfloat(layer_entry(rc, l), 25.0f);
        L->spike_full_layer_input_distribution = jbool(layer_entry(sf, l), false);
        L->sbs_skip_gradient_calculation = jbool(layer_entry(skip, l), false);
        L->w_trainable = jbool(layer_entry(wt, l), true);
        L->approximation_enable = jbool(layer_entry(ae, l), false);
        L->number_of_trunc_bits = jint(layer_entry(tb, l), -1);
        L->number_of_frac_bits = jint(layer_entry(fb, l), -1);
    }

    /* learning_parameters */
    const char *LP = "learning_parameters";
    __typeof__(c->learn) *p = &c->learn;
    p->learning_active = jbool(jget(m, LP, "learning_active"), p->learning_active);
    p->loss_mode = jint(jget(m, LP, "loss_mode"), p->loss_mode);
    p->loss_coeffs_mse = jfloat(jget(m, LP, "loss_coeffs_mse"), p->loss_coeffs_mse);
    p->loss_coeffs_kldiv = jfloat(jget(m, LP, "loss_coeffs_kldiv"), p->loss_coeffs_kldiv);
    jchoice(jget(m, LP, "optimizer_name"), p->optimizer_name, sizeof p->optimizer_name,
            optimizers, "Adam");
    p->learning_rate_gamma_w =
        jfloat(jget(m, LP, "learning_rate_gamma_w"), p->learning_rate_gamma_w);
    p->learning_rate_threshold_w =
        jfloat(jget(m, LP, "learning_rate_threshold_w"), p->learning_rate_threshold_w);
    jchoice(jget(m, LP, "lr_schedule_name"), p->lr_schedule_name, sizeof p->lr_schedule_name,
            schedules, "ReduceLROnPlateau");
    p->lr_scheduler_use_performance =
        jbool(jget(m, LP, "lr_scheduler_use_performance"), p->lr_scheduler_use_performance);
    p->lr_scheduler_factor_w =
        jfloat(jget(m, LP, "lr_scheduler_factor_w"), p->lr_scheduler_factor_w);
    p->lr_scheduler_patience_w =
        jint(jget(m, LP, "lr_scheduler_patience_w"), p->lr_scheduler_patience_w);
    p->lr_scheduler_tau_w = jfloat(jget(m, LP, "lr_scheduler_tau_w"), p->lr_scheduler_tau_w);
    p->number_of_batches_for_one_update = jint(jget(m, LP, "number_of_batches_for_one_update"),
                                               p->number_of_batches_for_one_update);
    jstr(jget(m, LP, "overload_path"), p->overload_path, sizeof p->overload_path);
    json_t *wn = jget(m, LP, "weight_noise_range");
    if (wn && json_is_array(wn) && json_array_size(wn) == 2) {
        p->weight_noise_range[0] = jfloat(json_array_get(wn, 0), 1.0f);
        p->weight_noise_range[1] = jfloat(json_array_get(wn, 1), 1.1f);
    }
    p->eps_xy_intitial = jfloat(jget(m, LP, "eps_xy_intitial"), p->eps_xy_intitial);
    p->disable_scale_grade = jbool(jget(m, LP, "disable_scale_grade"), p->disable_scale_grade);
    p->kepp_last_grad_scale =
        jbool(jget(m, LP, "kepp_last_grad_scale"), p->kepp_last_grad_scale);
    p->adapt_learning_rate_after_minibatch = jbool(
        jget(m, LP, "adapt_learning_rate_after_minibatch"), p->adapt_learning_rate_after_minibatch);

    /* augmentation */
    const char *AU = "augmentation";
    c->aug.crop_width_in_pixel =
        jint(jget(m, AU, "crop_width_in_pixel"), c->aug.crop_width_in_pixel);
    c->aug.flip_p = jfloat(jget(m, AU, "flip_p"), c->aug.flip_p);
    c->aug.jitter_brightness = jfloat(jget(m, AU, "jitter_brightness"), c->aug.jitter_brightness);
    c->aug.jitter_contrast = jfloat(jget(m, AU, "jitter_contrast"), c->aug.jitter_contrast);
    c->aug.jitter_saturation = jfloat(jget(m, AU, "jitter_saturation"), c->aug.jitter_saturation);
    c->aug.jitter_hue = jfloat(jget(m, AU, "jitter_hue"), c->aug.jitter_hue);

    /* image_statistics */
    json_t *mean = jget(m, "image_statistics", "mean");
    if (mean && json_is_array(mean)) {
        size_t n = json_array_size(mean);
        if (n > 16) n = 16;
        c->image_statistics.n_mean = (int)n;
        for (size_t i = 0; i < n; i++)
            c->image_statistics.mean[i] = jfloat(json_array_get(mean, i), 0.0f);
    }
    json_t *size = jget(m, "image_statistics", "the_size");
    if (size && json_is_array(size)) {
        size_t n = json_array_size(size);
        if (n > 4) n = 4;
        c->image_statistics.n_size = (int)n;
        for (size_t i = 0; i < n; i++)
            c->image_statistics.the_size[i] = jint(json_array_get(size, i), 0);
    }
    return 0;
}

int sbs_config_load(sbs_config *cfg, const char *network_json, const char *dataset_json,
                    const char *def_json, const char *const *overrides, int n_overrides,
                    sbs_err *e)
{
    memset(cfg, 0, sizeof *cfg);
    set_defaults(cfg);
    const char *in[3] = {network_json, dataset_json, def_json};
    char *names[3] = {cfg->network_file, cfg->dataset_file, cfg->def_file};
    for (int i = 0; i < 3; i++) {
        if (!in[i]) continue;
        if (strlen(in[i]) >= PATH_MAX) return sbs_fail(e, "path too long: %.64s...", in[i]);
        snprintf(names[i], PATH_MAX, "%s", in[i]);
    }

    json_t *merged = json_object();
    origins t = {0};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!in[i]) continue;
        json_t *root = load_file(names[i], e);
        if (!root) {
            rc = -1;
            break;
        }
        merge(merged, root, "", names[i], &t);
        json_decref(root);
    }
    for (int i = 0; i < n_overrides && rc == 0; i++) {
        if (!overrides || !overrides[i]) continue;
        rc = apply_override(merged, overrides[i], &t, e);
    }
    if (rc == 0) rc = resolve(cfg, merged, &t, e);
    json_decref(merged);
    origins_free(&t);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Paths                                                                                        */

static int check_readable(const char *path, sbs_err *e)
{
    struct stat st;
    if (stat(path, &st) != 0) return sbs_fail(e, "cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return sbs_fail(e, "cannot open %s: %s", path, strerror(EISDIR));
    FILE *f = fopen(path, "rb");
    if (!f) return sbs_fail(e, "cannot open %s: %s", path, strerror(errno));
    fclose(f);
    return 0;
}

static int copy_path(char dst[PATH_MAX], const char *src, sbs_err *e)
{
    if (strlen(src) >= PATH_MAX) return sbs_fail(e, "path too long: %.64s...", src);
    snprintf(dst, PATH_MAX, "%s", src);
    return 0;
}

/* dir + "/" + name, with dir "" meaning the current folder. */
static int sibling(char dst[PATH_MAX], const char *dir, size_t dlen, const char *name,
                   sbs_err *e)
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

static json_t *jpair(const int v[2])
{
    return json_pack("[ii]", v[0], v[1]);
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
            if (c == '\\' && s[i + 1]) fputc(s[++i], f);
            else if (c == '"') in_str = false;
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
                if (s[j] == '\\' && s[j + 1]) j++;
                else if (s[j] == '"') str = false;
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
                if (d == '\\' && k < j) fputc(s[++k], f);
                else if (d == '"') str = false;
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

void sbs_config_dump(const sbs_config *c, FILE *f)
{
    json_t *r = json_object();
    json_object_set_new(r, "batch_size", json_integer(c->batch_size));
    if (c->data_mode[0]) json_object_set_new(r, "data_mode", json_string(c->data_mode));
    json_object_set_new(r, "data_path", json_string(c->data_path));
    json_object_set_new(r, "epoch_id", json_integer(c->epoch_id));
    json_object_set_new(r, "epoch_id_max", json_integer(c->epoch_id_max));
    json_object_set_new(r, "number_of_cpu_processes", json_integer(c->number_of_cpu_processes));
    json_object_set_new(r, "weight_path", json_string(c->weight_path));
    json_object_set_new(r, "log_path", json_string(c->log_path));
    json_object_set_new(r, "simulation_id", json_integer(c->simulation_id));
    json_object_set_new(r, "stage_id", json_integer(c->stage_id));
    json_object_set_new(r, "enable_cpu_thread_balacing",
                        json_boolean(c->enable_cpu_thread_balacing));
    json_object_set_new(r, "force_forward_h_dynamic_on_cpu",
                        json_boolean(c->force_forward_h_dynamic_on_cpu));
    json_object_set_new(r, "extract_noisy_pictures", json_boolean(c->extract_noisy_pictures));

    json_t *spikes = json_array(), *eps = json_array(), *fo = json_array(), *cd = json_array(),
           *rc = json_array(), *sf = json_array();
    json_t *types = json_array(), *fnn = json_array(), *ks = json_array(), *st = json_array(),
           *dl = json_array(), *pd = json_array();
    json_t *skip = json_array(), *wt = json_array();
    json_t *ae = json_array(), *tb = json_array(), *fb = json_array();
    for (int l = 0; l < c->n_layers; l++) {
        const sbs_layer_cfg *L = &c->layers[l];
        json_array_append_new(spikes, json_integer(L->spikes));
        json_array_append_new(eps, jreal(L->epsilon_0));
        json_array_append_new(fo, jreal(L->forgetting_offset));
        json_array_append_new(cd, json_integer(L->cooldown_after_number_of_spikes));
        json_array_append_new(rc, jreal(L->reduction_cooldown));
        json_array_append_new(sf, json_boolean(L->spike_full_layer_input_distribution));
        json_array_append_new(types, json_string(L->type));
        if (L->in < 0 && L->out < 0)
            json_array_append_new(fnn, json_array());
        else
            json_array_append_new(fnn, json_pack("[ii]", L->in, L->out));
        json_array_append_new(ks, jpair(L->kernel));
        json_array_append_new(st, jpair(L->stride));
        json_array_append_new(dl, jpair(L->dilation));
        json_array_append_new(pd, jpair(L->padding));
        json_array_append_new(skip, json_boolean(L->sbs_skip_gradient_calculation));
        json_array_append_new(wt, json_boolean(L->w_trainable));
        json_array_append_new(ae, json_boolean(L->approximation_enable));
        json_array_append_new(tb, json_integer(L->number_of_trunc_bits));
        json_array_append_new(fb, json_integer(L->number_of_frac_bits));
    }
    json_object_set_new(r, "number_of_spikes", spikes);
    json_object_set_new(r, "epsilon_0", eps);
    json_object_set_new(r, "forgetting_offset", fo);
    json_object_set_new(r, "cooldown_after_number_of_spikes", cd);
    json_object_set_new(r, "reduction_cooldown", rc);
    json_object_set_new(r, "spike_full_layer_input_distribution", sf);

    json_t *ns = json_object();
    json_object_set_new(ns, "number_of_output_neurons",
                        json_integer(c->number_of_output_neurons));
    json_object_set_new(ns, "layer_type", types);
    json_object_set_new(ns, "forward_neuron_numbers", fnn);
    json_object_set_new(ns, "forward_kernel_size", ks);
    json_object_set_new(ns, "strides", st);
    json_object_set_new(ns, "dilation", dl);
    json_object_set_new(ns, "padding", pd);
    json_object_set_new(r, "network_structure", ns);

    const __typeof__(c->learn) *p = &c->learn;
    json_t *lp = json_object();
    json_object_set_new(lp, "learning_active", json_boolean(p->learning_active));
    json_object_set_new(lp, "loss_mode", json_integer(p->loss_mode));
    json_object_set_new(lp, "loss_coeffs_mse", jreal(p->loss_coeffs_mse));
    json_object_set_new(lp, "loss_coeffs_kldiv", jreal(p->loss_coeffs_kldiv));
    json_object_set_new(lp, "optimizer_name", json_string(p->optimizer_name));
    json_object_set_new(lp, "learning_rate_gamma_w", jreal(p->learning_rate_gamma_w));
    json_object_set_new(lp, "learning_rate_threshold_w", jreal(p->learning_rate_threshold_w));
    json_object_set_new(lp, "lr_schedule_name", json_string(p->lr_schedule_name));
    json_object_set_new(lp, "lr_scheduler_use_performance",
                        json_boolean(p->lr_scheduler_use_performance));
    json_object_set_new(lp, "lr_scheduler_factor_w", jreal(p->lr_scheduler_factor_w));
    json_object_set_new(lp, "lr_scheduler_patience_w", json_integer(p->lr_scheduler_patience_w));
    json_object_set_new(lp, "lr_scheduler_tau_w", jreal(p->lr_scheduler_tau_w));
    json_object_set_new(lp, "number_of_batches_for_one_update",
                        json_integer(p->number_of_batches_for_one_update));
    json_object_set_new(lp, "overload_path", json_string(p->overload_path));
    json_t *wn = json_array();
    json_array_append_new(wn, jreal(p->weight_noise_range[0]));
    json_array_append_new(wn, jreal(p->weight_noise_range[1]));
    json_object_set_new(lp, "weight_noise_range", wn);
    json_object_set_new(lp, "eps_xy_intitial", jreal(p->eps_xy_intitial));
    json_object_set_new(lp, "disable_scale_grade", json_boolean(p->disable_scale_grade));
    json_object_set_new(lp, "kepp_last_grad_scale", json_boolean(p->kepp_last_grad_scale));
    json_object_set_new(lp, "sbs_skip_gradient_calculation", skip);
    json_object_set_new(lp, "adapt_learning_rate_after_minibatch",
                        json_boolean(p->adapt_learning_rate_after_minibatch));
    json_object_set_new(lp, "w_trainable", wt);
    json_object_set_new(r, "learning_parameters", lp);

    json_t *au = json_object();
    json_object_set_new(au, "crop_width_in_pixel", json_integer(c->aug.crop_width_in_pixel));
    json_object_set_new(au, "flip_p", jreal(c->aug.flip_p));
    json_object_set_new(au, "jitter_brightness", jreal(c->aug.jitter_brightness));
    json_object_set_new(au, "jitter_contrast", jreal(c->aug.jitter_contrast));
    json_object_set_new(au, "jitter_saturation", jreal(c->aug.jitter_saturation));
    json_object_set_new(au, "jitter_hue", jreal(c->aug.jitter_hue));
    json_object_set_new(r, "augmentation", au);

    json_t *is = json_object(), *mean = json_array(), *size = json_array();
    for (int i = 0; i < c->image_statistics.n_mean && i < 16; i++)
        json_array_append_new(mean, jreal(c->image_statistics.mean[i]));
    for (int i = 0; i < c->image_statistics.n_size && i < 4; i++)
        json_array_append_new(size, json_integer(c->image_statistics.the_size[i]));
    json_object_set_new(is, "mean", mean);
    json_object_set_new(is, "the_size", size);
    json_object_set_new(r, "image_statistics", is);

    json_t *ap = json_object();
    json_object_set_new(ap, "approximation_enable", ae);
    json_object_set_new(ap, "number_of_trunc_bits", tb);
    json_object_set_new(ap, "number_of_frac_bits", fb);
    json_object_set_new(r, "approximation_setting", ap);

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
