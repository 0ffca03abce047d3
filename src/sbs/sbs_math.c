/* sbs_math.c — the SbS maths every backend shares (SPEC §1.1–1.3): window geometry, patch
 * gather, alias tables, the portable Philox spike draw, step-size tables and full-layer spike
 * routing. The oracle that the fast paths are tested against is in oracle.c. */
#include "sbs/sbs.h"
#include "sbs/rng.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Output size per axis in 64-bit: L + 2p and d(k - 1) cannot wrap for any int arguments. */
static long long out_size64(int L, int k, int s, int d, int p)
{
    long long num = (long long)L + 2LL * p - (long long)d * (k - 1) - 1;
    if (num < 0 || s <= 0) return 0;
    return num / s + 1;
}

int sbs_out_size(int L, int k, int s, int d, int p)
{
    long long n = out_size64(L, k, s, d, p);
    return n > INT_MAX ? -1 : (int)n;
}

int sbs_geom_init(sbs_geom *g, int C, int H, int W, int kx, int ky, int sx, int sy, int dx, int dy,
                  int px, int py)
{
    g->C = C;
    g->H = H;
    g->W = W;
    g->kx = kx;
    g->ky = ky;
    g->sx = sx;
    g->sy = sy;
    g->dx = dx;
    g->dy = dy;
    g->px = px;
    g->py = py;
    /* in 64-bit: a window, an output size or a padded extent beyond int is refused (-2)
     * rather than wrapped; the kernels index windows and rows with int */
    long long X = out_size64(H, kx, sx, dx, px), Y = out_size64(W, ky, sy, dy, py);
    long long K = (long long)C * kx * ky;
    g->X = X > INT_MAX ? 0 : (int)X;
    g->Y = Y > INT_MAX ? 0 : (int)Y;
    g->K = K > INT_MAX || K < 0 ? 0 : (int)K;
    if (X <= 0 || Y <= 0) return -1;
    if (X > INT_MAX || Y > INT_MAX || K > INT_MAX || K < 0 || (long long)H + 2LL * px > INT_MAX ||
        (long long)W + 2LL * py > INT_MAX)
        return -2;
    return 0;
}

void sbs_patch_gather(const sbs_geom *g, const float *img, int ox, int oy, float *win)
{
    int i = 0;
    for (int c = 0; c < g->C; c++) {
        const float *plane = img + (size_t)c * g->H * g->W;
        for (int u = 0; u < g->kx; u++) {
            int r = ox * g->sx - g->px + u * g->dx;
            for (int v = 0; v < g->ky; v++, i++) {
                int q = oy * g->sy - g->py + v * g->dy;
                win[i] =
                    (r >= 0 && r < g->H && q >= 0 && q < g->W) ? plane[(size_t)r * g->W + q] : 0.0f;
            }
        }
    }
}

void sbs_alias_build(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch)
{
    double *q = scratch;
    int *small = (int *)(scratch + K); /* K ints fit in K doubles */
    int *large = (int *)(scratch + 2 * K);
    double sum = 0.0;
    for (int i = 0; i < K; i++) sum += x[i] > 0.0f ? (double)x[i] : 0.0;
    const double scale = sum > 0.0 ? (double)K / sum : 0.0;
    int ns = 0, nl = 0;
    for (int i = 0; i < K; i++) {
        q[i] = sum > 0.0 ? (x[i] > 0.0f ? (double)x[i] * scale : 0.0) : 1.0;
        if (q[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        int s = small[--ns];
        int l = large[nl - 1];
        double t = q[s] * 4294967296.0; /* q < 1: fits in 32 bits */
        thr[s] = t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
        alias[s] = (uint32_t)l;
        q[l] = (q[l] + q[s]) - 1.0;
        if (q[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* what remains has probability 1 (up to rounding) */
    while (nl > 0) {
        int l = large[--nl];
        thr[l] = 0xFFFFFFFFu;
        alias[l] = (uint32_t)l;
    }
    while (ns > 0) {
        int s = small[--ns];
        thr[s] = 0xFFFFFFFFu;
        alias[s] = (uint32_t)s;
    }
}

void sbs_spikes_draw(const uint32_t *thr, const uint32_t *alias, int K, uint64_t seed, uint32_t tag,
                     uint32_t sample, uint32_t position, int T, int32_t *idx)
{
    /* Spike t uses word k = (t>>4)&3 of Philox block 16*(t>>6) + (t&15): a group of 64 spikes
     * is 16 blocks x 4 words, laid out so that a 16-lane SIMD version stores whole vectors. */
    for (int g = 0; g * 64 < T; g++) {
        for (int l = 0; l < 16; l++) {
            sbs_ctr c = {{(uint32_t)(g * 16 + l), position, sample, tag}};
            sbs_ctr r = sbs_philox(c, seed);
            for (int k = 0; k < 4; k++) {
                int t = g * 64 + k * 16 + l;
                if (t >= T) continue;
                uint64_t m = (uint64_t)r.v[k] * (uint32_t)K;
                uint32_t col = (uint32_t)(m >> 32);
                uint32_t frac = (uint32_t)m;
                idx[t] = (int32_t)(frac < thr[col] ? col : alias[col]);
            }
        }
    }
}

void sbs_eps_table(float epsilon_0, int cooldown_after, float reduction_cooldown, int T, float *eps)
{
    for (int t = 1; t <= T; t++) {
        double e = (double)epsilon_0 / sqrt((double)t);
        if (cooldown_after >= 0 && cooldown_after < T && t > cooldown_after)
            e /= (double)reduction_cooldown;
        eps[t - 1] = (float)e;
    }
}

/* For every input row r the (output row, kernel row) pairs whose window row is r, as
 * (ox*Y, u*ky); likewise per column (oy, v). No padded row/column ever appears: they are
 * not input rows. */
static void route_axis(int L, int k, int s, int d, int p, int n_out, int mul_o, int mul_k,
                       int32_t *cnt, int32_t *pairs)
{
    for (int r = 0; r < L; r++) {
        cnt[r] = 0;
        for (int u = 0; u < k; u++) {
            int a = r + p - u * d; /* = o * s */
            if (a < 0) break;
            if (a % s || a / s >= n_out) continue;
            int32_t *pr = pairs + 2 * ((size_t)r * k + cnt[r]++);
            pr[0] = a / s * mul_o;
            pr[1] = u * mul_k;
        }
    }
}

void sbs_full_layer_route(const sbs_geom *g, const int32_t *spk, int T, int32_t *start,
                          int32_t *list, int32_t *tab)
{
    int XY = g->X * g->Y, HW = g->H * g->W, kk = g->kx * g->ky;
    int32_t *rc = tab, *rp = rc + g->H, *cc = rp + 2 * (size_t)g->H * g->kx, *cp = cc + g->W;
    route_axis(g->H, g->kx, g->sx, g->dx, g->px, g->X, g->Y, g->ky, rc, rp);
    route_axis(g->W, g->ky, g->sy, g->dy, g->py, g->Y, 1, 1, cc, cp);
    memset(start, 0, (size_t)(XY + 1) * sizeof *start);
    /* count per position (into start[m+1]), prefix sums, fill in draw order using start[m]
     * as the cursor, shift the starts back */
    for (int t = 0; t < T; t++) {
        int rem = spk[t] % HW, r = rem / g->W, q = rem % g->W;
        const int32_t *a = rp + 2 * (size_t)r * g->kx, *b = cp + 2 * (size_t)q * g->ky;
        for (int j = 0; j < rc[r]; j++)
            for (int k = 0; k < cc[q]; k++) start[a[2 * j] + b[2 * k] + 1]++;
    }
    for (int m = 0; m < XY; m++) start[m + 1] += start[m];
    for (int t = 0; t < T; t++) {
        int c = spk[t] / HW, rem = spk[t] % HW, r = rem / g->W, q = rem % g->W;
        const int32_t *a = rp + 2 * (size_t)r * g->kx, *b = cp + 2 * (size_t)q * g->ky;
        for (int j = 0; j < rc[r]; j++)
            for (int k = 0; k < cc[q]; k++)
                list[start[a[2 * j] + b[2 * k]]++] = c * kk + a[2 * j + 1] + b[2 * k + 1];
    }
    for (int m = XY; m > 0; m--) start[m] = start[m - 1];
    start[0] = 0;
}
