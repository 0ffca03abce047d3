/* sbs_kernels.cuh — the per-thread bodies of every CUDA kernel of the cuda backend, written
 * once for two compilers: nvcc compiles them as __host__ __device__ code behind thin
 * __global__ wrappers (kernels/cuda_backend.cu), and the host C++ compiler compiles the same
 * bodies for the emulation test (tests/cuda/), which runs each kernel's whole grid on the CPU
 * and compares with the CPU backend.
 *
 * Arithmetic contract (DESIGN.md): every unfused float operation is spelled fmul/fadd/fdiv
 * (__fmul_rn/__fadd_rn/__fdiv_rn on the device: PTX never fuses those), every fused one ffma
 * (fmaf: one rounding on both sides), so the device rounds exactly as the host does. The SbS
 * forward follows the CPU's AVX-512 dynamics (src/backend/cpu/sbs_cpu.c) operation for
 * operation: 16 partial sums (lane j = neuron mod 16, the first chunk a plain product, then
 * fused multiply-adds), reduced by halves (j+8, j+4, j+2, j+1), the update
 * h = fma(h, fma(b, w, a), c) with a = 1/fma(e, 1+fo, 1) (GCC contracts the CPU's
 * 1 + e*(1+fo) into that FMA), ea = e*a, c = ((e*fo)*a)/N, b = ea/r, skipped when
 * r <= 1e-10, h_0 = 1/N, and the final sequential sum in neuron order times 1/sum. The alias
 * table and the Philox draw are those of sbs_alias_build and sbs_spikes_draw (src/sbs/).
 * Double-precision code (alias tables, losses, Adam, weight care) copies the CPU's
 * expressions; the build passes -fmad=false so nvcc fuses none of them, and the host side
 * is compiled without FMA contraction. */
#ifndef SBS_KERNELS_CUH
#define SBS_KERNELS_CUH

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "sbs/rng.h"
#include "sbs/sbs.h"
}

#if defined(__CUDACC__)
#define SBS_HD __host__ __device__ __forceinline__
#else
#define SBS_HD inline
#endif
#if defined(__CUDA_ARCH__)
#define SBS_UNROLL _Pragma("unroll")
#else
#define SBS_UNROLL
#endif

/* the namespace keeps the emulation's copy of these types apart from the device build's */
#ifndef SBSK_NS
#define SBSK_NS sbsk
#endif

namespace SBSK_NS {

/* ---- arithmetic with one rounding each, the same on host and device ---- */

SBS_HD float fmul(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

SBS_HD float fadd(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

SBS_HD float fdiv(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

SBS_HD float ffma(float a, float b, float c) { return fmaf(a, b, c); }

/* the largest of a non-negative float and *p (as bits: they order like the floats) */
SBS_HD void atomic_max_nonneg(unsigned *p, float v)
{
    unsigned u;
    memcpy(&u, &v, sizeof u);
#ifdef __CUDA_ARCH__
    atomicMax(p, u);
#else
    if (u > *p) *p = u;
#endif
}

SBS_HD void atomic_min_u64(unsigned long long *p, unsigned long long v)
{
#ifdef __CUDA_ARCH__
    atomicMin(p, v);
#else
    if (v < *p) *p = v;
#endif
}

/* ---- window geometry (sbs_patch_gather's order: i = c*kx*ky + u*ky + v) ---- */

/* window value (c, u, v) of output position (ox, oy) of one image; 0 in the padding */
SBS_HD float win_at(const sbs_geom &g, const float *img, int ox, int oy, int c, int u, int v)
{
    int r = ox * g.sx - g.px + u * g.dx, q = oy * g.sy - g.py + v * g.dy;
    return (r >= 0 && r < g.H && q >= 0 && q < g.W) ? img[((size_t)c * g.H + r) * g.W + q] : 0.0f;
}

SBS_HD float win_at_i(const sbs_geom &g, const float *img, int ox, int oy, int i)
{
    int kk = g.kx * g.ky;
    return win_at(g, img, ox, oy, i / kk, i % kk / g.ky, i % g.ky);
}

/* The output positions m = ox*Y + oy whose window holds input pixel (r, q), in ascending m,
 * with the window slot (u, v) it sits in: f(m, u, v). This is the order in which the CPU's
 * scatter-adds (positions in order) reach the pixel, so gathers in this order add the same
 * values in the same order. */
template <class F> SBS_HD void for_windows_of(const sbs_geom &g, int r, int q, F &&f)
{
    for (int u = g.kx - 1; u >= 0; u--) {
        int nr = r + g.px - u * g.dx;
        if (nr < 0 || nr % g.sx) continue;
        int ox = nr / g.sx;
        if (ox >= g.X) continue;
        for (int v = g.ky - 1; v >= 0; v--) {
            int nq = q + g.py - v * g.dy;
            if (nq < 0 || nq % g.sy) continue;
            int oy = nq / g.sy;
            if (oy >= g.Y) continue;
            f(ox * g.Y + oy, u, v);
        }
    }
}

/* ---- the SbS forward: one thread per (image, position) ---- */

/* per-step coefficients a, ea, c of step t (3 floats each) from eps[t] */
struct k_coef {
    const float *eps;
    float fo;
    int N;
    float *coef;
    SBS_HD void operator()(long t) const
    {
        const float e = eps[t], f = fo > 0.0f ? fo : 0.0f;
        const float a = fdiv(1.0f, ffma(e, fadd(1.0f, f), 1.0f));
        coef[3 * t] = a;
        coef[3 * t + 1] = fmul(e, a);
        coef[3 * t + 2] = fdiv(fmul(fmul(e, f), a), (float)N);
    }
};

struct fwd_args {
    sbs_geom g;
    int N, ldw, T;
    const float *x;      /* (B, C, H, W) */
    const float *W;      /* (K, ldw), zero padding columns */
    const float *coef;   /* 3 T: a, ea, c per step */
    float *y;            /* (B, N, X, Y) */
    uint64_t seed;
    uint32_t tag, first_sample;
    long item0, n;       /* this launch: items item0 .. item0 + n - 1 (item = b*X*Y + pos) */
    /* per-item scratch, interleaved: entry e of launch item i at [e * n + i] */
    uint32_t *thr, *alias;   /* K each */
    double *q;               /* K */
    int32_t *stk;            /* 2 K: the small then the large stack */
    float *hs;               /* ldw: h when it does not live in registers (LDW 0) */
    /* full-layer spikes: per image (X*Y + 1) starts into its list of fl_cap entries */
    const int32_t *fl_start, *fl_list;
    long fl_cap;
};

/* sbs_alias_build over the window of (ox, oy) of img, tables at [e * S] */
SBS_HD void alias_build(const sbs_geom &g, const float *img, int ox, int oy, uint32_t *thr,
                        uint32_t *alias, double *q, int32_t *small, int32_t *large, long S)
{
    const int K = g.K, kk = g.kx * g.ky;
    double sum = 0.0;
    for (int c = 0, i = 0; c < g.C; c++)
        for (int u = 0; u < g.kx; u++)
            for (int v = 0; v < g.ky; v++, i++) {
                float xv = win_at(g, img, ox, oy, c, u, v);
                sum += xv > 0.0f ? (double)xv : 0.0;
            }
    const double scale = sum > 0.0 ? (double)K / sum : 0.0;
    int ns = 0, nl = 0;
    for (int i = 0; i < K; i++) {
        float xv = win_at(g, img, ox, oy, i / kk, i % kk / g.ky, i % g.ky);
        double qi = sum > 0.0 ? (xv > 0.0f ? (double)xv * scale : 0.0) : 1.0;
        q[i * S] = qi;
        if (qi < 1.0) small[ns++ * S] = i;
        else large[nl++ * S] = i;
    }
    while (ns > 0 && nl > 0) {
        int s = small[--ns * S];
        int l = large[(nl - 1) * S];
        double t = q[s * S] * 4294967296.0;
        thr[s * S] = t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
        alias[s * S] = (uint32_t)l;
        q[l * S] = (q[l * S] + q[s * S]) - 1.0;
        if (q[l * S] < 1.0) {
            nl--;
            small[ns++ * S] = l;
        }
    }
    while (nl > 0) {
        int l = large[--nl * S];
        thr[l * S] = 0xFFFFFFFFu;
        alias[l * S] = (uint32_t)l;
    }
    while (ns > 0) {
        int s = small[--ns * S];
        thr[s * S] = 0xFFFFFFFFu;
        alias[s * S] = (uint32_t)s;
    }
}

/* Spikes t0 .. t0+63 (those < T) of one position into spk[(t - t0) * ss]: word (t>>4)&3 of
 * Philox block 16*(t>>6) + (t&15), as sbs_spikes_draw. */
SBS_HD void draw_group(const uint32_t *thr, const uint32_t *alias, long S, int K, uint64_t seed,
                       uint32_t tag, uint32_t sample, uint32_t position, int t0, int T,
                       int32_t *spk, int ss)
{
    SBS_UNROLL
    for (int l = 0; l < 16; l++) {
        sbs_ctr c = {{(uint32_t)(t0 / 4 + l), position, sample, tag}};
        sbs_ctr r = sbs_philox(c, seed);
        SBS_UNROLL
        for (int k = 0; k < 4; k++) {
            int tt = k * 16 + l;
            if (t0 + tt >= T) continue;
            uint64_t m = (uint64_t)r.v[k] * (uint32_t)K;
            uint32_t col = (uint32_t)(m >> 32), frac = (uint32_t)m;
            spk[tt * ss] = (int32_t)(frac < thr[col * S] ? col : alias[col * S]);
        }
    }
}

/* h of one position: LDW floats in registers, or (LDW 0) ldw floats of strided scratch */
template <int LDW> struct hvec {
    float v[LDW];
    SBS_HD hvec(float *, long, long) {}
    SBS_HD float &operator[](int n) { return v[n]; }
};
template <> struct hvec<0> {
    float *p;
    long S;
    SBS_HD hvec(float *hs, long i, long s) : p(hs + i), S(s) {}
    SBS_HD float &operator[](int n) { return p[n * S]; }
};

/* One (image, position) of the SbS forward: alias table of its window, then T steps of the
 * dynamics, drawing 64 spikes at a time into spk[.. * ss] (FULL: its routed full-layer
 * spikes instead), and its N outputs. */
template <int LDW, bool FULL>
SBS_HD void fwd_item(const fwd_args &a, long i, int32_t *spk, int ss)
{
    const sbs_geom &g = a.g;
    const int XY = g.X * g.Y, N = a.N, ldw = LDW ? LDW : a.ldw;
    const long item = a.item0 + i, S = a.n;
    const int b = (int)(item / XY), pos = (int)(item % XY);
    hvec<LDW> h(a.hs, i, S);
    const float h0 = fdiv(1.0f, (float)N);
    SBS_UNROLL
    for (int n = 0; n < ldw; n++) h[n] = n < N ? h0 : 0.0f;
    int T = a.T;
    const int32_t *list = 0;
    if (FULL) {
        const int32_t *st = a.fl_start + (size_t)b * (XY + 1);
        list = a.fl_list + (size_t)b * a.fl_cap + st[pos];
        T = st[pos + 1] - st[pos];
    } else {
        const float *img = a.x + (size_t)b * g.C * g.H * g.W;
        alias_build(g, img, pos / g.Y, pos % g.Y, a.thr + i, a.alias + i, a.q + i, a.stk + i,
                    a.stk + (size_t)g.K * S + i, S);
    }
    for (int t0 = 0; t0 < T; t0 += 64) {
        if (!FULL)
            draw_group(a.thr + i, a.alias + i, S, g.K, a.seed, a.tag, a.first_sample + b,
                       (uint32_t)pos, t0, T, spk, ss);
        const int tn = T - t0 < 64 ? T - t0 : 64;
        for (int tt = 0; tt < tn; tt++) {
            const int t = t0 + tt;
            const int s = FULL ? list[t] : spk[tt * ss];
            const float *w = a.W + (size_t)s * ldw;
            float acc[16];
            SBS_UNROLL
            for (int j = 0; j < 16; j++) acc[j] = fmul(h[j], w[j]);
            SBS_UNROLL
            for (int v = 16; v < ldw; v += 16) {
                SBS_UNROLL
                for (int j = 0; j < 16; j++) acc[j] = ffma(h[v + j], w[v + j], acc[j]);
            }
            SBS_UNROLL
            for (int j = 0; j < 8; j++) acc[j] = fadd(acc[j], acc[j + 8]);
            SBS_UNROLL
            for (int j = 0; j < 4; j++) acc[j] = fadd(acc[j], acc[j + 4]);
            SBS_UNROLL
            for (int j = 0; j < 2; j++) acc[j] = fadd(acc[j], acc[j + 2]);
            const float r = fadd(acc[0], acc[1]);
            if (r > 1e-10f) {
                const float ca = a.coef[3 * t], cb = fdiv(a.coef[3 * t + 1], r),
                            cc = a.coef[3 * t + 2];
                SBS_UNROLL
                for (int n = 0; n < ldw; n++) h[n] = ffma(h[n], ffma(cb, w[n], ca), cc);
            }
        }
    }
    float s = 0.0f;
    SBS_UNROLL
    for (int n = 0; n < ldw; n++)
        if (n < N) s = fadd(s, h[n]);
    const float inv = fdiv(1.0f, s);
    float *out = a.y + (size_t)b * N * XY + pos;
    SBS_UNROLL
    for (int n = 0; n < ldw; n++)
        if (n < N) out[(size_t)n * XY] = fmul(h[n], inv);
}

/* ---- the SbS backward (k_sbs.c's per-image steps, all images at once) ---- */

/* rows (n x K) each divided by its sum: P = the SbS windows (B, M, K) from k_im2col, as
 * cpu_sbs_windows makes them; thread per row */
struct k_rows_normalise {
    float *P;
    int K;
    SBS_HD void operator()(long row) const
    {
        float *p = P + (size_t)row * K;
        double sum = 0;
        for (int i = 0; i < K; i++) sum += p[i];
        const float inv = (float)(1.0 / (sum + 1e-20));
        for (int i = 0; i < K; i++) p[i] = fmul(p[i], inv);
    }
};

/* c = a * b element-wise */
struct k_mul {
    const float *a, *b;
    float *c;
    SBS_HD void operator()(long i) const { c[i] = fmul(a[i], b[i]); }
};

/* R <- P R / (R R + 1e-20), Q <- P Q / (R R + 1e-20) (the weight gradient's factors) */
struct k_sbs_ab {
    const float *P;
    float *R, *Q;
    SBS_HD void operator()(long i) const
    {
        const float r = R[i], d = fadd(fmul(r, r), 1e-20f);
        R[i] = fdiv(fmul(P[i], r), d);
        Q[i] = fdiv(fmul(P[i], Q[i]), d);
    }
};

/* dx (B, C, H, W) from per-window values (B, M, K), summed per pixel in window order:
 * SbS (Q / (R + 1e-20)) or plain (CONV2D's dcols, R unused) */
struct k_col2im {
    sbs_geom g;
    const float *R, *Q;
    bool sbs;
    float *dx;
    SBS_HD void operator()(long px) const
    {
        const int HW = g.H * g.W, CHW = g.C * HW, M = g.X * g.Y, K = g.K, kk = g.kx * g.ky;
        const long b = px / CHW;
        const int rem = (int)(px % CHW), c = rem / HW, r = rem % HW / g.W, q = rem % g.W;
        const float *Rb = R ? R + (size_t)b * M * K : 0, *Qb = Q + (size_t)b * M * K;
        const bool s = sbs;
        float acc = 0.0f;
        for_windows_of(g, r, q, [&](int m, int u, int v) {
            size_t at = (size_t)m * K + c * kk + u * g.ky + v;
            acc = fadd(acc, s ? fdiv(Qb[at], fadd(Rb[at], 1e-20f)) : Qb[at]);
        });
        dx[px] = acc;
    }
};

/* acc_i += parts[0][i] + parts[1][i] + ... (image order, as cpu_ordered_sum) */
struct k_ordered_sum {
    float *acc;
    const float *parts;
    long n;
    int B;
    SBS_HD void operator()(long i) const
    {
        float s = acc[i];
        for (int b = 0; b < B; b++) s = fadd(s, parts[(size_t)b * n + i]);
        acc[i] = s;
    }
};

/* ---- CONV2D, pooling, RELU (k_classic.c) ---- */

/* cols (B, M, K): every window of every image; thread per value */
struct k_im2col {
    sbs_geom g;
    const float *x;
    float *cols;
    SBS_HD void operator()(long e) const
    {
        const int M = g.X * g.Y, K = g.K;
        const long bm = e / K;
        const int i = (int)(e % K), m = (int)(bm % M);
        const long b = bm / M;
        cols[e] = win_at_i(g, x + (size_t)b * g.C * g.H * g.W, m / g.Y, m % g.Y, i);
    }
};

/* y (B, O, M) += bias[o] */
struct k_bias_add {
    const float *bias;
    int O, M;
    float *y;
    SBS_HD void operator()(long e) const { y[e] = fadd(y[e], bias[e / M % O]); }
};

/* per image: gB[b][o] = sum over m of gy[b][o][m] (in order) */
struct k_bias_grad {
    const float *gy;
    int M;
    float *gb;
    SBS_HD void operator()(long bo) const
    {
        float s = 0.0f;
        for (int m = 0; m < M; m++) s = fadd(s, gy[(size_t)bo * M + m]);
        gb[bo] = s;
    }
};

/* f(r * W + q) for the pixels (r, q) of window (ox, oy) inside the plane, in window order */
template <class F> SBS_HD void for_window_pixels(const sbs_geom &g, int ox, int oy, F &&f)
{
    for (int u = 0; u < g.kx; u++) {
        int r = ox * g.sx - g.px + u * g.dx;
        if (r < 0 || r >= g.H) continue;
        for (int v = 0; v < g.ky; v++) {
            int q = oy * g.sy - g.py + v * g.dy;
            if (q < 0 || q >= g.W) continue;
            f((long)r * g.W + q);
        }
    }
}

/* pooling forward; thread per output value (b, c, ox, oy) */
struct k_pool_fwd {
    sbs_geom g;
    bool is_max;
    const float *x;
    float *y;
    SBS_HD void operator()(long e) const
    {
        const int XY = g.X * g.Y;
        const long bc = e / XY;
        const int ox = (int)(e % XY) / g.Y, oy = (int)(e % XY) % g.Y;
        const float *plane = x + (size_t)bc * g.H * g.W;
        const bool mx = is_max;
        float acc = mx ? -FLT_MAX : 0.0f;
        for_window_pixels(g, ox, oy, [&](long at) {
            float val = plane[at];
            if (mx) acc = val > acc ? val : acc;
            else acc = fadd(acc, val);
        });
        y[e] = mx ? acc : fmul(acc, fdiv(1.0f, (float)(g.kx * g.ky)));
    }
};

/* the pixel of window (ox, oy) of a plane that max pooling picks (first strict maximum in
 * window order), -1 when the window is all padding */
SBS_HD long pool_argmax(const sbs_geom &g, const float *plane, int ox, int oy)
{
    long best = -1;
    float bv = 0;
    for_window_pixels(g, ox, oy, [&](long at) {
        if (best < 0 || plane[at] > bv) {
            best = at;
            bv = plane[at];
        }
    });
    return best;
}

/* pooling backward; thread per input pixel (b, c, r, q), windows in order */
struct k_pool_bwd {
    sbs_geom g;
    bool is_max;
    const float *x, *gy;
    float *dx;
    SBS_HD void operator()(long px) const
    {
        const int HW = g.H * g.W, XY = g.X * g.Y;
        const long bc = px / HW;
        const int at = (int)(px % HW), r = at / g.W, q = at % g.W;
        const float *plane = x + (size_t)bc * HW, *gp = gy + (size_t)bc * XY;
        const float inv = fdiv(1.0f, (float)(g.kx * g.ky));
        const bool mx = is_max;
        const sbs_geom &gg = g;
        float acc = 0.0f;
        for_windows_of(g, r, q, [&](int m, int u, int v) {
            (void)u;
            (void)v;
            if (!mx) acc = fadd(acc, fmul(gp[m], inv));
            else if (pool_argmax(gg, plane, m / gg.Y, m % gg.Y) == at) acc = fadd(acc, gp[m]);
        });
        dx[px] = acc;
    }
};

struct k_relu_fwd {
    const float *x;
    float *y;
    SBS_HD void operator()(long i) const { y[i] = x[i] > 0.0f ? x[i] : 0.0f; }
};

struct k_relu_bwd {
    const float *x, *gy;
    float *dx;
    SBS_HD void operator()(long i) const { dx[i] = x[i] > 0.0f ? gy[i] : 0.0f; }
};

/* ---- training operations (cpu.c) ---- */

/* the loss of image b (cpu_loss's expressions) into loss[b], dL/dout into gout */
struct k_loss {
    int mode;
    float c_mse, c_kl;
    const float *out;
    const uint8_t *labels;
    int B, n_out;
    float *gout;
    double *loss;
    SBS_HD void operator()(long b) const
    {
        const float *h = out + (size_t)b * n_out;
        float *g = gout + (size_t)b * n_out;
        int lab = labels[b];
        if (mode == 1) {
            double mx = h[0];
            for (int n = 1; n < n_out; n++) mx = fmax(mx, (double)h[n]);
            double z = 0;
            for (int n = 0; n < n_out; n++) z += exp(h[n] - mx);
            double lz = log(z) + mx;
            loss[b] = lz - h[lab];
            for (int n = 0; n < n_out; n++)
                g[n] = (float)((exp(h[n] - lz) - (n == lab)) / B);
        } else {
            double cs = (double)c_mse + c_kl, l = 0;
            for (int n = 0; n < n_out; n++) {
                double t = n == lab, hv = h[n];
                l += c_mse * (hv - t) * (hv - t) +
                     c_kl * (t + 1e-20) * (log(t + 1e-20) - log(hv + 1e-20));
                g[n] = (float)((2.0 * c_mse * (hv - t) - c_kl * (t + 1e-20) / (hv + 1e-20)) / cs);
            }
            loss[b] = l / cs;
        }
    }
};

/* max |v| over a grid-stride share of n values into *out (float bits) */
struct k_absmax {
    const float *v;
    long n, threads;
    unsigned *out;
    SBS_HD void operator()(long i) const
    {
        float m = 0.0f;
        for (long j = i; j < n; j += threads) m = fmaxf(m, fabsf(v[j]));
        atomic_max_nonneg(out, m);
    }
};

struct k_scale {
    float *v;
    float mul;
    SBS_HD void operator()(long i) const { v[i] = fmul(v[i], mul); }
};

struct k_add {
    float *acc;
    const float *v;
    SBS_HD void operator()(long i) const { acc[i] = fadd(acc[i], v[i]); }
};

/* the smallest index of a non-finite value into *out */
struct k_nonfinite {
    const float *v;
    unsigned long long *out;
    SBS_HD void operator()(long i) const
    {
        if (!isfinite(v[i])) atomic_min_u64(out, (unsigned long long)i);
    }
};

/* Adam (multiplicative for SbS weights) or SGD of one value (cpu.c's adam / cpu_update) */
struct k_update {
    float *w;
    const float *g;
    float *m, *v;
    bool adam, multiplicative;
    double grad_mul, lr, lr_t, c2;
    SBS_HD void operator()(long i) const
    {
        if (!adam) {
            w[i] -= (float)(lr * g[i] * grad_mul);
            return;
        }
        const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        double gi = g[i] * grad_mul;
        m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
        v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
        double den = sqrt((double)v[i]) / c2 + eps;
        double step = lr_t * m[i] / den;
        if (multiplicative) w[i] = (float)(w[i] * (1.0 + 0.5 * tanh(-step)));
        else w[i] = (float)(w[i] - step);
    }
};

/* weight care, element-wise over (K, ldw): padding columns to 0 (floor 0), or real columns
 * raised to the floor (also replacing NaN) */
struct k_care_elem {
    float *w;
    int N, ldw;
    bool floor_step;
    float floor_w;
    SBS_HD void operator()(long e) const
    {
        const int c = (int)(e % ldw);
        if (!floor_step) {
            if (c >= N) w[e] = 0.0f;
        } else if (c < N && !(w[e] >= floor_w)) {
            w[e] = floor_w;
        }
    }
};

/* sbs_normalize_columns: thread per column, the sum in double in row order */
struct k_norm_cols {
    float *w;
    int K, ldw;
    SBS_HD void operator()(long n) const
    {
        double s = 0;
        for (int i = 0; i < K; i++) s += w[(size_t)i * ldw + n];
        if (s > 0)
            for (int i = 0; i < K; i++) w[(size_t)i * ldw + n] = (float)(w[(size_t)i * ldw + n] / s);
    }
};

} /* namespace SBSK_NS */

#endif
