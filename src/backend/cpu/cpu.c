/* cpu.c — the CPU backend: host memory, a private pthreads pool, OpenBLAS held to one thread
 * (images are spread over the pool), the kernel tables of every layer kind (k_*.c), and the
 * training operations: the losses, the gradient-scale measure and apply, the ordered sums,
 * Adam / SGD with weight care, and the finite-value check. */
#include "cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pool, scratch and ordered sums shared by the kernel files ---- */

void cpu_run(sbs_backend *be, long n, void (*fn)(void *, long, int), void *ctx)
{
    sbs_pool_run(cpu_of(be)->pool, n, fn, ctx);
}

void cpu_reserve(sbs_backend *be, size_t floats)
{
    cpu_be *c = cpu_of(be);
    if (floats <= c->scr_cap) return;
    for (int w = 0; w < c->threads; w++) {
        free(c->scr[w]);
        c->scr[w] = xaligned(floats * sizeof(float));
    }
    c->scr_cap = floats;
}

float *cpu_parts(sbs_backend *be, int B, size_t n)
{
    cpu_be *c = cpu_of(be);
    size_t need = (size_t)B * n;
    if (need > c->parts_cap) {
        free(c->parts);
        c->parts = xaligned(need * sizeof(float));
        c->parts_cap = need;
    }
    memset(c->parts, 0, need * sizeof(float));
    return c->parts;
}

typedef struct {
    float *acc;
    const float *parts;
    size_t n;
    int B;
} sum_job;

#define SUM_CHUNK 4096

static void sum_range(void *ctx, long r, int worker)
{
    (void)worker;
    sum_job *j = ctx;
    size_t lo = (size_t)r * SUM_CHUNK, hi = lo + SUM_CHUNK < j->n ? lo + SUM_CHUNK : j->n;
    for (int b = 0; b < j->B; b++) {
        const float *p = j->parts + (size_t)b * j->n;
        for (size_t i = lo; i < hi; i++) j->acc[i] += p[i];
    }
}

void cpu_ordered_sum(sbs_backend *be, float *acc, const float *parts, size_t n, int B)
{
    sum_job j = {acc, parts, n, B};
    cpu_run(be, (long)((n + SUM_CHUNK - 1) / SUM_CHUNK), sum_range, &j);
}

void cpu_patch_scatter_add(const sbs_geom *g, const float *win, int ox, int oy, float *img)
{
    int i = 0;
    for (int c = 0; c < g->C; c++) {
        float *plane = img + (size_t)c * g->H * g->W;
        for (int u = 0; u < g->kx; u++) {
            int r = ox * g->sx - g->px + u * g->dx;
            for (int v = 0; v < g->ky; v++, i++) {
                int q = oy * g->sy - g->py + v * g->dy;
                if (r >= 0 && r < g->H && q >= 0 && q < g->W) plane[(size_t)r * g->W + q] += win[i];
            }
        }
    }
}

/* ---- memory ---- */

static void *cpu_alloc(sbs_backend *be, size_t bytes)
{
    (void)be;
    size_t n = (bytes + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
    memset(p, 0, n ? n : 64);
    return p;
}

static void cpu_free(sbs_backend *be, void *p)
{
    (void)be;
    free(p);
}

static void cpu_copy(sbs_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (dst != src && bytes) memcpy(dst, src, bytes);
}

static void cpu_zero(sbs_backend *be, void *p, size_t bytes)
{
    (void)be;
    memset(p, 0, bytes);
}

static size_t cpu_workspace(sbs_backend *be, const sbs_net *net, int B, bool training)
{
    cpu_be *c = cpu_of(be);
    size_t scr = 0, parts = 0, engine = 0;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        size_t s = training && L->bwd_scr > L->fwd_scr ? L->bwd_scr : L->fwd_scr;
        if (s > scr) scr = s;
        size_t e = sbs_cpu_engine_workspace(L, c->threads);
        if (e > engine) engine = e;
        if (training && L->file_weights) {
            size_t p = sbs_mul_huge((size_t)B, sbs_weight_floats(L) + L->n_b);
            if (p > parts) parts = p;
        }
    }
    /* saturating (common.h): a figure too large for any machine is refused by the check */
    size_t floats = sbs_add_huge(sbs_mul_huge(scr, (size_t)c->threads), parts);
    return sbs_add_huge(sbs_mul_huge(floats, sizeof(float)), engine);
}

/* ---- training operations ---- */

static double cpu_loss(sbs_backend *be, const sbs_loss_args *a)
{
    (void)be;
    double total = 0;
    int n_out = a->n_out, B = a->B;
    for (int b = 0; b < B; b++) {
        const float *h = a->out + (size_t)b * n_out;
        float *g = a->gout ? a->gout + (size_t)b * n_out : NULL;
        int lab = a->labels[b];
        if (a->mode == 1) {
            double mx = h[0];
            for (int n = 1; n < n_out; n++) mx = fmax(mx, h[n]);
            double z = 0;
            for (int n = 0; n < n_out; n++) z += exp(h[n] - mx);
            double lz = log(z) + mx;
            total += lz - h[lab];
            for (int n = 0; g && n < n_out; n++) g[n] = (float)((exp(h[n] - lz) - (n == lab)) / B);
        } else {
            double cs = (double)a->c_mse + a->c_kl, l = 0;
            for (int n = 0; n < n_out; n++) {
                double t = n == lab, hv = h[n];
                l += a->c_mse * (hv - t) * (hv - t) +
                     a->c_kl * (t + 1e-20) * (log(t + 1e-20) - log(hv + 1e-20));
                if (g)
                    g[n] =
                        (float)((2.0 * a->c_mse * (hv - t) - a->c_kl * (t + 1e-20) / (hv + 1e-20)) /
                                cs);
            }
            total += l / cs;
        }
    }
    return a->mode == 1 ? total / B : total;
}

static float cpu_absmax(sbs_backend *be, const float *v, size_t n)
{
    (void)be;
    float mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(v[i]));
    return mx;
}

static void cpu_scale(sbs_backend *be, float *v, size_t n, float mul)
{
    (void)be;
    for (size_t i = 0; i < n; i++) v[i] *= mul;
}

static void cpu_add(sbs_backend *be, float *acc, const float *v, size_t n)
{
    cpu_ordered_sum(be, acc, v, n, 1);
}

static void adam(const sbs_update_args *a)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    float *w = a->w, *m = a->m, *v = a->v;
    for (size_t i = 0; i < a->n; i++) {
        double gi = a->g[i] * a->grad_mul;
        m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
        v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
        double den = sqrt((double)v[i]) / a->c2 + eps;
        double step = a->lr_t * m[i] / den;
        if (a->multiplicative)
            w[i] = (float)(w[i] * (1.0 + 0.5 * tanh(-step)));
        else
            w[i] = (float)(w[i] - step);
    }
}

static void cpu_update(sbs_backend *be, const sbs_update_args *a)
{
    (void)be;
    if (a->adam) {
        adam(a);
    } else {
        for (size_t i = 0; i < a->n; i++) a->w[i] -= (float)(a->lr * a->g[i] * a->grad_mul);
    }
    if (!a->care) return;
    /* keep the padding columns exactly zero, then weight care (SPEC §2) */
    for (int i = 0; i < a->K; i++)
        for (int c = a->N; c < a->ldw; c++) a->w[(size_t)i * a->ldw + c] = 0.0f;
    sbs_normalize_columns(a->w, a->K, a->N, a->ldw);
    for (int i = 0; i < a->K; i++)
        for (int n = 0; n < a->N; n++) {
            float *w = &a->w[(size_t)i * a->ldw + n];
            if (!(*w >= a->floor_w)) *w = a->floor_w; /* also replaces NaN */
        }
    sbs_normalize_columns(a->w, a->K, a->N, a->ldw);
}

static long cpu_find_nonfinite(sbs_backend *be, const float *v, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return (long)i;
    return -1;
}

/* ---- the table ---- */

static const sbs_layer_kernels *cpu_kernels(sbs_backend *be, sbs_layer_kind k)
{
    (void)be;
    switch (k) {
    case SBS_L_SBS:
    case SBS_L_SBS_POOLING: return &cpu_k_sbs;
    case SBS_L_CONV2D: return &cpu_k_conv2d;
    case SBS_L_RELU: return &cpu_k_relu;
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING: return &cpu_k_pool;
    case SBS_L_ONOFF: return &cpu_k_onoff;
    case SBS_L_POISSON: return &cpu_k_poisson;
    case SBS_L_INPUT_SPIKE_IMAGE: return &cpu_k_input_spike_image;
    case SBS_L_APPROX_CONV2D: return &cpu_k_approx_conv2d;
    case SBS_L_NNMF: return &cpu_k_nnmf;
    case SBS_L_BP_SBS_NNMF: return &cpu_k_bp_sbs_nnmf;
    case SBS_L_SBS_LOCAL: return &cpu_k_sbs_local;
    case SBS_L_RECONSTRUCTION: return &cpu_k_reconstruction;
    default: return NULL;
    }
}

static const char *cpu_describe(sbs_backend *be)
{
    return cpu_of(be)->desc;
}

static void cpu_destroy(sbs_backend *be)
{
    if (!be) return;
    cpu_be *c = cpu_of(be);
    sbs_cpu_engine_destroy(c->sbs);
    for (int w = 0; w < c->threads; w++) free(c->scr[w]);
    free(c->scr);
    free(c->parts);
    sbs_pool_destroy(c->pool);
    free(c);
    free(be);
}

/* Each thread that calls OpenBLAS maps a buffer of its own (Debian's 0.3.21:
 * 128 MiB + 4 KiB, seen in blas_memory_alloc), and when it cannot, the library retries
 * forever; each thread that allocates gets a glibc malloc arena of 64 MiB of address space.
 * The memory check counts both (be->reserve) against an address-space limit. */
#define SBS_OPENBLAS_BUFFER (((size_t)128 << 20) + 4096)
#define SBS_MALLOC_ARENA ((size_t)64 << 20)

/* OpenBLAS's own worker threads, started when the library loads, spin (sched_yield) for
 * about 2^28 cycles after their start and after each threaded call before they sleep: on a
 * machine with as many cores as our pool has threads, that spin takes a core from a worker for
 * the first tenth of a second of every run. We never use them (one BLAS thread per call,
 * below), so they are stopped at once; OpenBLAS starts them again itself if a later call
 * wants them. Weak: another BLAS, or an OpenBLAS without this entry, simply keeps its threads. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

sbs_backend *sbs_cpu_backend_create(const sbs_backend_opts *o, sbs_err *e);
sbs_backend *sbs_cpu_backend_create(const sbs_backend_opts *o, sbs_err *e)
{
    const char *simd = o && o->simd ? o->simd : "auto";
    if (strcmp(simd, "auto") && strcmp(simd, "avx512") && strcmp(simd, "avx2") &&
        strcmp(simd, "scalar")) {
        sbs_fail(e, "--simd: expected auto, avx512, avx2 or scalar, found '%s'", simd);
        return NULL;
    }
    openblas_set_num_threads(1); /* images are spread over our own pool */
    if (blas_thread_shutdown_) blas_thread_shutdown_();
    sbs_backend *be = xcalloc(1, sizeof *be);
    cpu_be *c = xcalloc(1, sizeof *c);
    c->pool = sbs_pool_create(o ? o->threads : 0);
    c->threads = sbs_pool_threads(c->pool);
    c->sbs = sbs_cpu_engine_create(simd, c->pool, c->threads);
    c->simd = sbs_cpu_engine_simd(c->sbs);
    c->scr = xcalloc((size_t)c->threads, sizeof *c->scr);
    snprintf(c->desc, sizeof c->desc, "cpu (%s, %d thread%s)", c->simd, c->threads,
             c->threads == 1 ? "" : "s");
    be->name = "cpu";
    be->impl = c;
    be->describe = cpu_describe;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->zero = cpu_zero;
    be->workspace = cpu_workspace;
    be->reserve = (size_t)c->threads * (SBS_OPENBLAS_BUFFER + SBS_MALLOC_ARENA);
    be->kernels = cpu_kernels;
    be->loss = cpu_loss;
    be->absmax = cpu_absmax;
    be->scale = cpu_scale;
    be->add = cpu_add;
    be->update = cpu_update;
    be->find_nonfinite = cpu_find_nonfinite;
    be->destroy = cpu_destroy;
    return be;
}
