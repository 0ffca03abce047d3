/* epochs.c — the epoch range of `sbs-eval --epochs` and the epochs a run folder holds
 * (include/sbs/epochs.h). */
#include "sbs/epochs.h"

#include "sbs/npy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A non-negative integer filling [s, end) exactly; -1 otherwise. */
static long number(const char *s, const char *end)
{
    if (s == end || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *q;
    long v = strtol(s, &q, 10);
    return (q != end || errno || v > INT_MAX) ? -1 : v;
}

int sbs_parse_epoch_range(const char *s, sbs_epoch_range *r, sbs_err *e)
{
    if (strcmp(s, "all") == 0) {
        r->lo = 0;
        r->hi = INT_MAX;
        return 0;
    }
    const char *colon = strchr(s, ':'), *end = s + strlen(s);
    if (!colon) {
        r->lo = r->hi = number(s, end);
    } else {
        r->lo = colon == s ? 0 : number(s, colon);
        r->hi = colon + 1 == end ? INT_MAX : number(colon + 1, end);
    }
    if (r->lo < 0 || r->hi < 0)
        return sbs_fail(e,
                        "--epochs: expected A:B, A:, :B, N or all (epochs as non-negative "
                        "integers), found '%s'",
                        s);
    if (r->lo > r->hi)
        return sbs_fail(e, "--epochs: the first epoch %ld is after the last %ld ('%s')", r->lo,
                        r->hi, s);
    return 0;
}

int sbs_run_epochs(const char *dir, int layer, const sbs_epoch_range *r, long **epochs, size_t *n,
                   sbs_err *e)
{
    long *all;
    size_t na;
    if (sbs_list_layer_epochs(dir, "Weight", layer, &all, &na, e) != 0) return -1;
    *epochs = xmalloc((na ? na : 1) * sizeof **epochs);
    *n = 0;
    for (size_t i = 0; i < na; i++)
        if (all[i] >= r->lo && all[i] <= r->hi && (*n == 0 || (*epochs)[*n - 1] != all[i]))
            (*epochs)[(*n)++] = all[i];
    if (*n > 0) {
        free(all);
        return 0;
    }
    char found[256] = "none";
    size_t o = 0;
    for (size_t i = 0; i < na && o < sizeof found; i++)
        o += (size_t)snprintf(found + o, sizeof found - o, "%s%ld", i ? ", " : "", all[i]);
    free(all);
    free(*epochs);
    *epochs = NULL;
    char hi[24] = "";
    if (r->hi < INT_MAX) snprintf(hi, sizeof hi, "%ld", r->hi);
    return sbs_fail(e, "%s: no weights Weight_L%d_S*.npy of epochs %ld:%s (epochs there: %s)", dir,
                    layer, r->lo, hi, found);
}
