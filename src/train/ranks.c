/* ranks.c — the trainer's side of data-parallel training (mpi.h), written against the reducer
 * alone: who writes, agreeing to stop, rank 0's start state to every rank, the start-up checks
 * that the ranks compute alike on the same data; and the launcher's environment. */
#include "sbs/mpi.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

bool sbs_ranks_multi(const sbs_reducer *r)
{
    return r && r->size > 1;
}

bool sbs_ranks_writer(const sbs_reducer *r)
{
    return !r || r->rank == 0;
}

bool sbs_ranks_any(sbs_reducer *r, bool flag)
{
    if (!sbs_ranks_multi(r)) return flag;
    float v = flag ? 1.0f : 0.0f;
    if (r->max(r, &v, 1, NULL) != 0) return true;
    return v > 0.0f;
}

int sbs_ranks_share_start(sbs_reducer *r, sbs_ckpt_state *st, sbs_trainer_state *ts, sbs_err *e)
{
    if (!sbs_ranks_multi(r)) return 0;
    size_t np = ts->net->n_params;
    if (r->bcast(r, ts->net->params, np * sizeof(float), e) != 0 ||
        r->bcast(r, ts->moments, 2 * np * sizeof(float), e) != 0 ||
        r->bcast(r, ts->scale, sizeof ts->scale, e) != 0 ||
        r->bcast(r, ts->scale_set, sizeof ts->scale_set, e) != 0 ||
        r->bcast(r, ts->scale_frozen, sizeof ts->scale_frozen, e) != 0 ||
        r->bcast(r, st, sizeof *st, e) != 0)
        return -1;
    return 0;
}

/* The ranks whose len bytes at v differ from rank 0's, as "1, 4" in `which` (empty: none);
 * v gets rank 0's bytes. */
static int differing(sbs_reducer *r, void *v, size_t len, char *which, size_t wlen, sbs_err *e)
{
    unsigned char *mine = xmalloc(len);
    memcpy(mine, v, len);
    float *flag = xcalloc((size_t)r->size, sizeof *flag);
    int rc = r->bcast(r, v, len, e);
    if (rc == 0) {
        flag[r->rank] = memcmp(mine, v, len) != 0 ? 1.0f : 0.0f;
        rc = r->max(r, flag, r->size, e);
    }
    which[0] = 0;
    for (int q = 0, used = 0; rc == 0 && q < r->size; q++)
        if (flag[q] > 0.0f && used < (int)wlen - 16)
            used += snprintf(which + used, wlen - (size_t)used, "%s%d", used ? ", " : "", q);
    free(mine);
    free(flag);
    return rc;
}

/* CRC-32 of n images and labels of a split (zlib's crc32 takes at most 4 GiB at a time) */
static uLong split_crc(uLong crc, const sbs_split *s, int n)
{
    size_t bytes = (size_t)n * s->c * s->h * s->w * sizeof(float);
    const unsigned char *p = (const unsigned char *)s->x;
    for (size_t off = 0; off < bytes; off += 1u << 30) {
        size_t k = bytes - off < (1u << 30) ? bytes - off : (1u << 30);
        crc = crc32(crc, p + off, (uInt)k);
    }
    return crc32(crc, s->y, (uInt)n);
}

int sbs_ranks_check_start(sbs_reducer *r, const char *compute, const sbs_dataset *ds, int n_train,
                          int n_test, sbs_err *e)
{
    if (!sbs_ranks_multi(r)) return 0;
    char which[256];
    struct {
        char compute[112];
        uint32_t crc;
        int32_t n_train, n_test;
    } mine;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.compute, sizeof mine.compute, "%.*s", (int)strcspn(compute, ","), compute);
    if (differing(r, mine.compute, sizeof mine.compute, which, sizeof which, e) != 0) return -1;
    if (which[0])
        return sbs_fail(e,
                        "the ranks compute differently: rank 0 with %s), rank(s) %s "
                        "otherwise (each picks its SIMD path on its CPU): pass the same --simd "
                        "to every rank, e.g. --simd avx2, so that the weights are those of one "
                        "process",
                        mine.compute, which);
    mine.crc =
        (uint32_t)split_crc(split_crc(crc32(0L, NULL, 0), &ds->train, n_train), &ds->test, n_test);
    mine.n_train = n_train;
    mine.n_test = n_test;
    if (differing(r, &mine.crc, sizeof mine - sizeof mine.compute, which, sizeof which, e) != 0)
        return -1;
    if (which[0])
        return sbs_fail(e,
                        "the data set differs between the ranks: the CRC-32 of the %d training "
                        "and %d test images and labels in use on rank(s) %s is not rank 0's "
                        "%08x (are the same data files at the data path on every host?)",
                        n_train, n_test, which, mine.crc);
    return 0;
}

int sbs_launcher_size(const char **var)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    int best = 1;
    if (var) *var = NULL;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > best && n < (1L << 30)) {
            best = (int)n;
            if (var) *var = vars[i];
        }
    }
    return best;
}
