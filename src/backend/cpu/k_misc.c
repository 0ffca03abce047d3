/* k_misc.c — CPU kernels of the input-side layers (SPEC §1.5, plans and the rules in
 * src/nn/layer_misc.c): ONOFF, POISSON (with the sampler sbs_poisson_draw, rng.h) and
 * INPUT SPIKE IMAGE. One image at a time; random numbers are pure functions of (seed, pass,
 * layer, sample, pixel/step), so outputs do not depend on threads or batch split. */
#include "cpu.h"
#include "sbs/rng.h"

#include <math.h>
#include <string.h>

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
} img_job;

static void misc_run(sbs_backend *be, const sbs_op_args *a, size_t scr,
                     void (*fn)(void *, long, int))
{
    img_job j = {be, a};
    if (scr) cpu_reserve(be, scr);
    cpu_run(be, a->B, fn, &j);
}

/* ---- ONOFF ---- */

static void onoff_fwd_img(void *ctx, long b, int worker)
{
    (void)worker;
    img_job *j = ctx;
    const sbs_layer *L = j->a->L;
    size_t n = (size_t)L->C * L->H * L->W;
    const float *x = j->a->x + (size_t)b * n;
    float *y = j->a->y + (size_t)b * 2 * n;
    for (size_t i = 0; i < n; i++) {
        float on = x[i] - 0.5f, off = 0.5f - x[i];
        y[i] = on > 0.0f ? on : 0.0f;
        y[n + i] = off > 0.0f ? off : 0.0f;
    }
}

static void onoff_forward(sbs_backend *be, const sbs_op_args *a)
{
    misc_run(be, a, 0, onoff_fwd_img);
}

static void onoff_bwd_img(void *ctx, long b, int worker)
{
    (void)worker;
    img_job *j = ctx;
    const sbs_layer *L = j->a->L;
    size_t n = (size_t)L->C * L->H * L->W;
    const float *x = j->a->x + (size_t)b * n;
    const float *gy = j->a->gy + (size_t)b * 2 * n;
    float *dx = j->a->gx + (size_t)b * n;
    for (size_t i = 0; i < n; i++) {
        float g = 0.0f;
        if (x[i] > 0.5f) g += gy[i];
        if (x[i] < 0.5f) g -= gy[n + i];
        dx[i] = g;
    }
}

static long onoff_backward(sbs_backend *be, const sbs_op_args *a)
{
    if (a->gx) misc_run(be, a, 0, onoff_bwd_img);
    return 0;
}

/* identity (straight-through) gradient of POISSON and INPUT SPIKE IMAGE */
static long identity_backward(sbs_backend *be, const sbs_op_args *a)
{
    (void)be;
    const sbs_layer *L = a->L;
    if (a->gx) memcpy(a->gx, a->gy, (size_t)a->B * L->C * L->H * L->W * sizeof(float));
    return 0;
}

/* ---- POISSON ---- */


static inline uint32_t poisson_tag(int layer, uint32_t pass)
{
    return ((uint32_t)SBS_RNG_POISSON << 24) | ((uint32_t)(layer & 0xff) << 16) | (pass & 0xffffu);
}

static void poisson_fwd_img(void *ctx, long b, int worker)
{
    (void)worker;
    const img_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    size_t n = (size_t)L->C * L->H * L->W;
    const float *x = a->x + (size_t)b * n;
    float *y = a->y + (size_t)b * n;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double scale = (double)L->cfg->spikes / ((double)mx + 1e-20);
    uint32_t tag = poisson_tag(L->index, a->key->pass);
    uint32_t sample = a->key->first_sample + (uint32_t)b;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double rate = x[i] > 0.0f ? scale * x[i] : 0.0;
        uint32_t k = sbs_poisson_draw(rate, a->key->seed, tag, sample, (uint32_t)i);
        y[i] = (float)k;
        sum += k;
    }
    float inv = (float)(1.0 / (sum + 1e-20));
    for (size_t i = 0; i < n; i++) y[i] *= inv;
}

static void poisson_forward(sbs_backend *be, const sbs_op_args *a)
{
    misc_run(be, a, 0, poisson_fwd_img);
}

/* ---- INPUT SPIKE IMAGE ---- */

static void ispk_fwd_img(void *ctx, long b, int worker)
{
    img_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    int n = L->C * L->H * L->W, T = L->cfg->spikes;
    const float *x = a->x + (size_t)b * n;
    float *y = a->y + (size_t)b * n;
    double *dscr = (double *)cpu_scratch(j->be, worker);
    uint32_t *thr = (uint32_t *)(dscr + 3 * (size_t)n), *alias = thr + n;
    int32_t *idx = (int32_t *)(alias + n);
    sbs_alias_build(x, n, thr, alias, dscr);
    sbs_spikes_draw_fast(cpu_of(j->be)->simd, thr, alias, n, a->key->seed,
                         sbs_spike_tag(L->index, a->key->pass), a->key->first_sample + (uint32_t)b,
                         0, T, idx);
    memset(y, 0, (size_t)n * sizeof(float));
    for (int t = 0; t < T; t++) y[idx[t]] += 1.0f;
    float sc = (float)((double)n / T);
    for (int i = 0; i < n; i++) y[i] *= sc;
}

static void ispk_forward(sbs_backend *be, const sbs_op_args *a)
{
    misc_run(be, a, a->L->fwd_scr, ispk_fwd_img);
}

const sbs_layer_kernels cpu_k_onoff = {.forward = onoff_forward, .backward = onoff_backward};
const sbs_layer_kernels cpu_k_poisson = {.forward = poisson_forward, .backward = identity_backward};
const sbs_layer_kernels cpu_k_input_spike_image = {.forward = ispk_forward,
                                                   .backward = identity_backward};
