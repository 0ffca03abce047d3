/* noisy_pictures.c — `extract_noisy_pictures`: per test mini-batch, the spike counts of the
 * first SbS layer per (pattern, window entry, position), written as the reference's
 * noisy_picture_data/<spikes>/<batch>.npz (see noisy.h).
 *
 * The counts are redrawn here from the layer's input activation with sbs_alias_build and the
 * counter-based sampler, keyed exactly as the forward pass keys them (tag of (layer, pass),
 * sample = key->first_sample + b, position = ox*Y + oy, or SBS_FULL_LAYER_POSITION for the
 * full-layer distribution): the spikes are a pure function of the key, so redrawing gives the
 * forward's spikes without touching the backend. */
#include "sbs/noisy.h"
#include "sbs/net.h"
#include "sbs/npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const sbs_layer_args *a;
    const float *x;
    const sbs_spike_key *key;
    int64_t *counts;
} count_job;

/* Counts of image b: K x X x Y, zeroed first. */
static void count_image(void *ctx, long b, int worker)
{
    (void)worker;
    const count_job *j = ctx;
    const sbs_geom *g = &j->a->g;
    int K = g->K, XY = g->X * g->Y, T = j->a->T;
    size_t CHW = (size_t)g->C * g->H * g->W;
    const float *img = j->x + (size_t)b * CHW;
    int64_t *cnt = j->counts + (size_t)b * K * XY;
    memset(cnt, 0, (size_t)K * XY * sizeof *cnt);
    uint32_t tag = sbs_spike_tag(j->a->layer, j->key->pass);
    uint32_t sample = j->key->first_sample + (uint32_t)b;
    size_t n = j->a->full_layer ? CHW : (size_t)K; /* entries of the sampled distribution */
    uint32_t *thr = xmalloc(n * sizeof *thr), *al = xmalloc(n * sizeof *al);
    double *scr = xmalloc(3 * n * sizeof *scr);
    int32_t *idx = xmalloc((size_t)(T > 0 ? T : 1) * sizeof *idx);
    if (j->a->full_layer) {
        /* one draw over the image, routed to the windows that hold each spiking pixel */
        int32_t *start = xmalloc((size_t)(XY + 1) * sizeof *start);
        int32_t *list = xmalloc(((size_t)T * g->kx * g->ky + 1) * sizeof *list);
        int32_t *tab = xmalloc(sbs_full_layer_route_tab(g) * sizeof *tab);
        sbs_alias_build(img, (int)CHW, thr, al, scr);
        sbs_spikes_draw(thr, al, (int)CHW, j->key->seed, tag, sample, SBS_FULL_LAYER_POSITION, T,
                        idx);
        sbs_full_layer_route(g, idx, T, start, list, tab);
        for (int m = 0; m < XY; m++)
            for (int s = start[m]; s < start[m + 1]; s++) cnt[(size_t)list[s] * XY + m]++;
        free(start);
        free(list);
        free(tab);
    } else {
        float *win = xmalloc((size_t)K * sizeof *win);
        int64_t *hist = xmalloc((size_t)K * sizeof *hist); /* one position's, in cache */
        for (int m = 0; m < XY; m++) {
            sbs_patch_gather(g, img, m / g->Y, m % g->Y, win);
            sbs_alias_build(win, K, thr, al, scr);
            sbs_spikes_draw(thr, al, K, j->key->seed, tag, sample, (uint32_t)m, T, idx);
            memset(hist, 0, (size_t)K * sizeof *hist);
            for (int t = 0; t < T; t++) hist[idx[t]]++;
            for (int i = 0; i < K; i++) cnt[(size_t)i * XY + m] = hist[i];
        }
        free(win);
        free(hist);
    }
    free(thr);
    free(al);
    free(scr);
    free(idx);
}

void sbs_noisy_counts(const sbs_layer_args *a, const float *x, int B, const sbs_spike_key *key,
                      sbs_pool *pool, int64_t *counts)
{
    count_job j = {a, x, key, counts};
    if (pool) {
        sbs_pool_run(pool, B, count_image, &j);
    } else {
        for (int b = 0; b < B; b++) count_image(&j, b, 0);
    }
}

int sbs_noisy_open(sbs_noisy *nz, const sbs_net *net, const char *base, int per_file, sbs_err *e)
{
    memset(nz, 0, sizeof *nz);
    nz->layer = -1;
    for (int l = 0; l < net->n && nz->layer < 0; l++) {
        sbs_layer_kind k = net->L[l].kind;
        if (k == SBS_L_SBS || k == SBS_L_SBS_POOLING || k == SBS_L_SBS_LOCAL) nz->layer = l;
    }
    if (nz->layer < 0) return 0;
    const sbs_layer *L = &net->L[nz->layer];
    nz->args = sbs_layer_args_of(L, L->weight);
    if ((size_t)snprintf(nz->dir, sizeof nz->dir, "%s/noisy_picture_data/%d", base, L->T) >=
        sizeof nz->dir)
        return sbs_fail(e, "extract_noisy_pictures: folder name too long: %s/noisy_picture_data",
                        base);
    if (sbs_mkdir_p(nz->dir, e) != 0) return -1;
    nz->per_file = per_file > 0 ? per_file : 1;
    size_t per = (size_t)L->g.K * L->X * L->Y;
    nz->counts = xmalloc((size_t)nz->per_file * per * sizeof *nz->counts);
    nz->labels = xmalloc((size_t)nz->per_file * sizeof *nz->labels);
    nz->on = true;
    return 0;
}

static int fail_once(sbs_noisy *nz, sbs_err *e)
{
    nz->failed = true;
    if (e) *e = nz->err;
    return -1;
}

/* write the filled part of the current file as <index>.npz */
static int write_file(sbs_noisy *nz, sbs_err *e)
{
    const sbs_geom *g = &nz->args.g;
    int index = (nz->next - nz->fill) / nz->per_file;
    long shape[4] = {nz->fill, g->K, g->X, g->Y}, lshape[1] = {nz->fill};
    sbs_npz_array arr[2] = {{"the_images", "<i8", nz->counts, 4, shape},
                            {"labels", "<i8", nz->labels, 1, lshape}};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%d.npz", nz->dir, index);
    if (sbs_npz_write(path, arr, 2, &nz->err) != 0) return fail_once(nz, e);
    nz->files++;
    nz->fill = 0;
    return 0;
}

int sbs_noisy_add(sbs_noisy *nz, const float *x, int B, const sbs_spike_key *key,
                  const uint8_t *labels, int first, sbs_pool *pool, sbs_err *e)
{
    if (!nz->on || nz->failed) return nz->failed ? -1 : 0;
    if (first == 0) nz->fill = nz->next = 0; /* a new pass */
    if (first != nz->next) {
        sbs_fail(&nz->err, "test images %d.. given after image %d: images must come in order",
                 first, nz->next - 1);
        return fail_once(nz, e);
    }
    const sbs_geom *g = &nz->args.g;
    size_t per = (size_t)g->K * g->X * g->Y, chw = (size_t)g->C * g->H * g->W;
    for (int k = 0; k < B;) {
        int seg = nz->per_file - nz->fill;
        if (seg > B - k) seg = B - k;
        sbs_spike_key kk = *key;
        kk.first_sample = key->first_sample + (uint32_t)k;
        sbs_noisy_counts(&nz->args, x + (size_t)k * chw, seg, &kk, pool,
                         nz->counts + (size_t)nz->fill * per);
        for (int i = 0; i < seg; i++) nz->labels[nz->fill + i] = labels[k + i];
        nz->fill += seg;
        nz->next += seg;
        k += seg;
        if (nz->fill == nz->per_file && write_file(nz, e) != 0) return -1;
    }
    return 0;
}

int sbs_noisy_finish(sbs_noisy *nz, sbs_err *e)
{
    if (!nz->on || nz->failed) return nz->failed ? -1 : 0;
    return nz->fill > 0 ? write_file(nz, e) : 0;
}

void sbs_noisy_close(sbs_noisy *nz)
{
    free(nz->counts);
    free(nz->labels);
    nz->counts = nz->labels = NULL;
    nz->on = false;
}
