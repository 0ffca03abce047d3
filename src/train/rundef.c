/* rundef.c — what defines a training run, kept in its checkpoint so that --resume can refuse a
 * changed set-up (issue 13): the resolved config (less paths, epoch counters and thread
 * settings, which may change between the parts of one run), the numbers of training and test
 * images used, and a checksum of their labels (another data set of the same shape). Stored as
 * compact JSON; compared key by key, one line per changed key. */
#include "sbs/train.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* keys that may change between the parts of one run */
static const char *const free_keys[] = {"data_path",
                                        "weight_path",
                                        "log_path",
                                        "epoch_id",
                                        "epoch_id_max",
                                        "number_of_cpu_processes",
                                        "enable_cpu_thread_balacing",
                                        "force_forward_h_dynamic_on_cpu",
                                        "simulation_id",
                                        "stage_id"};

char *sbs_run_definition(const sbs_config *cfg, long n_train, long n_test, uint32_t labels_crc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    sbs_config_dump(cfg, f);
    fclose(f);
    json_error_t err;
    json_t *r = json_loadb(buf, len, 0, &err);
    free(buf);
    if (!r) return NULL;
    for (size_t i = 0; i < sizeof free_keys / sizeof *free_keys; i++)
        json_object_del(r, free_keys[i]);
    json_t *lp = json_object_get(r, "learning_parameters");
    if (lp) json_object_del(lp, "overload_path");
    json_object_set_new(r, "training_images", json_integer(n_train));
    json_object_set_new(r, "test_images", json_integer(n_test));
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", labels_crc);
    json_object_set_new(r, "labels_crc32", json_string(crc));
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(r);
    return s;
}

/* append "PATH: checkpoint A, now B" lines for every difference between a and b */
static void diff(const char *path, json_t *a, json_t *b, char *out, size_t cap, int *n)
{
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach (a, k, v) {
            char p[512];
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", k);
            diff(p, v, json_object_get(b, k), out, cap, n);
        }
        json_object_foreach (b, k, v) {
            if (json_object_get(a, k)) continue;
            char p[512];
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", k);
            diff(p, NULL, v, out, cap, n);
        }
        return;
    }
    if (a && b && json_equal(a, b)) return;
    char *sa = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *sb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    size_t used = strlen(out);
    if (used < cap)
        snprintf(out + used, cap - used, "\n  %s: the checkpoint has %s, this run has %s", path,
                 sa ? sa : "nothing", sb ? sb : "nothing");
    free(sa);
    free(sb);
    (*n)++;
}

int sbs_run_definition_check(const char *saved, const char *now, const char *ckpt, sbs_err *e)
{
    json_error_t err;
    json_t *a = json_loads(saved, 0, &err), *b = json_loads(now, 0, &err);
    if (!a || !b) {
        json_decref(a);
        json_decref(b);
        return sbs_fail(e, "%s: the run definition in the checkpoint is not valid JSON", ckpt);
    }
    char lines[sizeof e->msg];
    lines[0] = 0;
    int n = 0;
    diff("", a, b, lines, sizeof lines, &n);
    json_decref(a);
    json_decref(b);
    if (n == 0) return 0;
    return sbs_fail(e,
                    "%s: --resume with a changed set-up (%d key%s; start a new run in another "
                    "--out, or undo the change):%s",
                    ckpt, n, n == 1 ? "" : "s", lines);
}
