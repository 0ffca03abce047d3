/* layer_misc.c — the input-side layers of the reference (SPEC §1.5): ONOFF, POISSON and
 * INPUT SPIKE IMAGE. None has weights; all work one image at a time.
 *
 * ONOFF             out channel c = relu(x_c - 0.5), channel C + c = relu(0.5 - x_c);
 *                   exact gradient (0 at x == 0.5, like RELU at 0).
 * POISSON           rate_i = T x_i / (max_i x_i + 1e-20) over the image's C*H*W values,
 *                   counts_i ~ Poisson(rate_i), out_i = counts_i / (sum counts + 1e-20);
 *                   identity (straight-through) gradient.
 * INPUT SPIKE IMAGE T spikes from one categorical distribution over all C*H*W pixels
 *                   (p = x / sum x; a blank image samples uniformly), out_i = count_i * C*H*W / T
 *                   (mean 1); identity gradient.
 *
 * T is the layer's number_of_spikes; it is kept in the config, not in L->T (which marks SbS
 * layers whose spikes run per position), so sbs_net_spikes_per_image counts SbS updates only.
 *
 * Random numbers are pure functions of (seed, pass, layer, sample, pixel/step), so outputs do
 * not depend on threads or batch split:
 *   POISSON: Philox counter {block, pixel, sample, SBS_RNG_POISSON<<24 | layer<<16 | pass},
 *            key = seed; the draws of one pixel read the blocks 0, 1, 2, ... in order, two
 *            32-bit words per uniform double (53 bits).
 *   INPUT SPIKE IMAGE: the SbS spike sampler (sbs.h) with tag sbs_spike_tag(layer, pass),
 *            sample = first_sample + b, position 0, over the alias table of the whole image. */
#include "sbs/layer.h"
#include "sbs/rng.h"
#include "sbs/train.h"

#include <math.h>
#include <string.h>

/* ---- ONOFF ---- */

static int onoff_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    if (c->out >= 0 && c->out != 2 * L->C)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: ONOFF doubles the "
                           "channels: expected [%d, %d], found [%d, %d]",
                        nf, L->index, L->C, 2 * L->C, c->in, c->out);
    L->N = 2 * L->C;
    L->X = L->H;
    L->Y = L->W;
    return 0;
}

typedef struct {
    sbs_net *net;
    const sbs_layer *L;
    const sbs_spike_key *key;
} fwd_job;

static void onoff_fwd_img(void *ctx, long b, int worker)
{
    (void)worker;
    fwd_job *j = ctx;
    const sbs_layer *L = j->L;
    size_t n = (size_t)L->C * L->H * L->W;
    const float *x = j->net->act[L->index] + (size_t)b * n;
    float *y = j->net->act[L->index + 1] + (size_t)b * 2 * n;
    for (size_t i = 0; i < n; i++) {
        float on = x[i] - 0.5f, off = 0.5f - x[i];
        y[i] = on > 0.0f ? on : 0.0f;
        y[n + i] = off > 0.0f ? off : 0.0f;
    }
}

static void misc_forward_run(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key,
                             void (*fn)(void *, long, int))
{
    fwd_job j = {net, L, key};
    sbs_layer_per_image(net, B, fn, &j);
}

static void onoff_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    misc_forward_run(net, L, B, key, onoff_fwd_img);
}

typedef struct {
    sbs_trainer_state *s;
    const sbs_layer *L;
} bwd_job;

static void onoff_bwd_img(void *ctx, long b, int worker)
{
    (void)worker;
    bwd_job *j = ctx;
    const sbs_layer *L = j->L;
    size_t n = (size_t)L->C * L->H * L->W;
    const float *x = j->s->net->act[L->index] + (size_t)b * n;
    const float *gy = j->s->gact[L->index + 1] + (size_t)b * 2 * n;
    float *dx = j->s->gact[L->index] + (size_t)b * n;
    for (size_t i = 0; i < n; i++) {
        float g = 0.0f;
        if (x[i] > 0.5f) g += gy[i];
        if (x[i] < 0.5f) g -= gy[n + i];
        dx[i] = g;
    }
}

static void onoff_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx, bool need_dw)
{
    (void)need_dw;
    if (!need_dx) return;
    bwd_job j = {s, L};
    sbs_layer_per_image(s->net, B, onoff_bwd_img, &j);
}

/* ---- shared by POISSON and INPUT SPIKE IMAGE ---- */

static int spikes_plan(sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    if (sbs_layer_keeps_channels(L, nf, e) != 0) return -1;
    if (c->spikes < 1)
        return sbs_fail(e, "%s: number_of_spikes[%d]: %s needs at least 1 spike, found %d", nf,
                        L->index, c->type, c->spikes);
    L->N = L->C;
    L->X = L->H;
    L->Y = L->W;
    return 0;
}

/* identity (straight-through) gradient */
static void identity_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx,
                              bool need_dw)
{
    (void)need_dw;
    if (!need_dx) return;
    memcpy(s->gact[L->index], s->gact[L->index + 1],
           (size_t)B * L->C * L->H * L->W * sizeof(float));
}

/* ---- POISSON ---- */

typedef struct {
    uint64_t seed;
    sbs_ctr ctr;
    sbs_ctr out;
    int used;
} pstream;

static inline double pstream_u01(pstream *p)
{
    if (p->used >= 4) {
        p->out = sbs_philox(p->ctr, p->seed);
        p->ctr.v[0]++;
        p->used = 0;
    }
    uint64_t hi = p->out.v[p->used], lo = p->out.v[p->used + 1];
    p->used += 2;
    return (double)((hi << 21) ^ (lo >> 11)) * (1.0 / 9007199254740992.0); /* 53 bits */
}

/* Poisson(lambda): inversion (sequential search from 0, one uniform) for lambda < 10, PTRS
 * (Hörmann 1993, "The transformed rejection method for generating Poisson random variables")
 * above; both exact samplers of the distribution up to double rounding. */
uint32_t sbs_poisson_draw(double lambda, uint64_t seed, uint32_t tag, uint32_t sample,
                          uint32_t pixel)
{
    if (!(lambda > 0.0)) return 0;
    pstream p = {seed, {{0, pixel, sample, tag}}, {{0}}, 4};
    if (lambda < 10.0) {
        double u = pstream_u01(&p);
        double pk = exp(-lambda), cdf = pk;
        uint32_t k = 0;
        while (u > cdf && k < 1000) {
            k++;
            pk *= lambda / k;
            cdf += pk;
            if (pk < 1e-300 && (double)k > lambda) break; /* rounding left 1 - cdf unreachable */
        }
        return k;
    }
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam;
    double a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4);
    double vr = 0.9277 - 3.6224 / (b - 2.0);
    double log_invalpha = log(invalpha);
    for (;;) {
        double U = pstream_u01(&p) - 0.5, V = pstream_u01(&p);
        double us = 0.5 - fabs(U);
        double k = floor((2.0 * a / us + b) * U + lambda + 0.43);
        if (us >= 0.07 && V <= vr) return (uint32_t)k;
        if (k < 0.0 || (us < 0.013 && V > us)) continue;
        int sg;
        if (log(V) + log_invalpha - log(a / (us * us) + b) <=
            -lambda + k * loglam - lgamma_r(k + 1.0, &sg))
            return (uint32_t)k;
    }
}

static inline uint32_t poisson_tag(int layer, uint32_t pass)
{
    return ((uint32_t)SBS_RNG_POISSON << 24) | ((uint32_t)(layer & 0xff) << 16) |
           (pass & 0xffffu);
}

static int poisson_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    return spikes_plan(L, nf, e);
}

static void poisson_fwd_img(void *ctx, long b, int worker)
{
    (void)worker;
    const fwd_job *j = ctx;
    const sbs_layer *L = j->L;
    size_t n = (size_t)L->C * L->H * L->W;
    const float *x = j->net->act[L->index] + (size_t)b * n;
    float *y = j->net->act[L->index + 1] + (size_t)b * n;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double scale = (double)L->cfg->spikes / ((double)mx + 1e-20);
    uint32_t tag = poisson_tag(L->index, j->key->pass);
    uint32_t sample = j->key->first_sample + (uint32_t)b;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double rate = x[i] > 0.0f ? scale * x[i] : 0.0;
        uint32_t k = sbs_poisson_draw(rate, j->key->seed, tag, sample, (uint32_t)i);
        y[i] = (float)k;
        sum += k;
    }
    float inv = (float)(1.0 / (sum + 1e-20));
    for (size_t i = 0; i < n; i++) y[i] *= inv;
}

static void poisson_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    misc_forward_run(net, L, B, key, poisson_fwd_img);
}

/* ---- INPUT SPIKE IMAGE ---- */

/* Per-worker scratch (floats): 3n doubles (alias build), thr and alias (n each), T indices. */
static size_t ispk_scratch(size_t n, int T) { return 6 * n + 2 * n + (size_t)T + 16; }

static int ispk_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    if (spikes_plan(L, nf, e) != 0) return -1;
    L->fwd_scr = ispk_scratch((size_t)L->C * L->H * L->W, L->cfg->spikes);
    return 0;
}

static void ispk_fwd_img(void *ctx, long b, int worker)
{
    fwd_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_net *net = j->net;
    int n = L->C * L->H * L->W, T = L->cfg->spikes;
    const float *x = net->act[L->index] + (size_t)b * n;
    float *y = net->act[L->index + 1] + (size_t)b * n;
    double *dscr = (double *)net->scratch[worker];
    uint32_t *thr = (uint32_t *)(dscr + 3 * (size_t)n), *alias = thr + n;
    int32_t *idx = (int32_t *)(alias + n);
    sbs_alias_build(x, n, thr, alias, dscr);
    const char *simd = !strcmp(net->be->name, "cpu") ? sbs_cpu_simd_name(net->be) : "auto";
    sbs_spikes_draw_fast(simd, thr, alias, n, j->key->seed, sbs_spike_tag(L->index, j->key->pass),
                         j->key->first_sample + (uint32_t)b, 0, T, idx);
    memset(y, 0, (size_t)n * sizeof(float));
    for (int t = 0; t < T; t++) y[idx[t]] += 1.0f;
    float sc = (float)((double)n / T);
    for (int i = 0; i < n; i++) y[i] *= sc;
}

static void ispk_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    misc_forward_run(net, L, B, key, ispk_fwd_img);
}

const sbs_layer_ops sbs_ops_onoff = {onoff_plan, onoff_forward, onoff_backward, NULL};
const sbs_layer_ops sbs_ops_poisson = {poisson_plan, poisson_forward, identity_backward, NULL};
const sbs_layer_ops sbs_ops_input_spike_image = {ispk_plan, ispk_forward, identity_backward, NULL};
