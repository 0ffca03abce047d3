/* sbs_ref.c — SbS maths shared by all backends (geometry, sampler, step sizes) and the plain
 * double-precision oracle of the h dynamics (SPEC §1.2). Kept simple on purpose: the fast
 * paths are tested against sbs_ref_dynamics / sbs_ref_forward given identical spikes. */
#include "sbs/sbs.h"
#include "sbs/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sbs_out_size(int L, int k, int s, int d, int p)
{
    long num = (long)L + 2L * p - (long)d * (k - 1) - 1;
    if (num < 0 || s <= 0) return 0;
    return (int)(num / s + 1);
}

int sbs_geom_init(sbs_geom *g, int C, int H, int W, int kx, int ky, int sx, int sy, int dx,
                  int dy, int px, int py)
{
    g->C = C; g->H = H; g->W = W;
    g->kx = kx; g->ky = ky;
    g->sx = sx; g->sy = sy; g->dx = dx; g->dy = dy; g->px = px; g->py = py;
    g->X = sbs_out_size(H, kx, sx, dx, px);
    g->Y = sbs_out_size(W, ky, sy, dy, py);
    g->K = C * kx * ky;
    return (g->X > 0 && g->Y > 0) ? 0 : -1;
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
                win[i] = (r >= 0 && r < g->H && q >= 0 && q < g->W) ? plane[(size_t)r * g->W + q]
                                                                    : 0.0f;
            }
        }
    }
}

void sbs_alias_build(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch)
{
    double *q = scratch;
    int *small = (int *)(scratch + K);      /* K ints fit in K doubles */
    int *large = (int *)(scratch + 2 * K);
    double sum = 0.0;
    for (int i = 0; i < K; i++) sum += x[i] > 0.0f ? (double)x[i] : 0.0;
    const double scale = sum > 0.0 ? (double)K / sum : 0.0;
    int ns = 0, nl = 0;
    for (int i = 0; i < K; i++) {
        q[i] = sum > 0.0 ? (x[i] > 0.0f ? (double)x[i] * scale : 0.0) : 1.0;
        if (q[i] < 1.0) small[ns++] = i;
        else large[nl++] = i;
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

void sbs_spikes_draw(const uint32_t *thr, const uint32_t *alias, int K, uint64_t seed,
                     uint32_t tag, uint32_t sample, uint32_t position, int T, int32_t *idx)
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

void sbs_eps_table(float epsilon_0, int cooldown_after, float reduction_cooldown, int T,
                   float *eps)
{
    for (int t = 1; t <= T; t++) {
        double e = (double)epsilon_0 / sqrt((double)t);
        if (cooldown_after >= 0 && cooldown_after < T && t > cooldown_after)
            e /= (double)reduction_cooldown;
        eps[t - 1] = (float)e;
    }
}

void sbs_ref_dynamics(const float *W, int N, int ldw, const int32_t *idx, int T,
                      const float *eps, float forgetting_offset, float *h_out)
{
    double *h = malloc((size_t)N * sizeof *h);
    if (!h) abort();
    for (int n = 0; n < N; n++) h[n] = 1.0 / N;
    double fo = forgetting_offset;
    for (int t = 0; t < T; t++) {
        const float *w = W + (size_t)idx[t] * ldw;
        double r = 0.0;
        for (int n = 0; n < N; n++) r += h[n] * w[n];
        if (r <= 1e-10) continue;
        double e = eps[t];
        if (fo > 0.0) {
            for (int n = 0; n < N; n++)
                h[n] = (h[n] + e * h[n] * w[n] / r + e * fo / N) / (1.0 + e * (1.0 + fo));
        } else {
            for (int n = 0; n < N; n++) h[n] = (h[n] + e * h[n] * w[n] / r) / (1.0 + e);
        }
    }
    double s = 0.0;
    for (int n = 0; n < N; n++) s += h[n];
    for (int n = 0; n < N; n++) h_out[n] = (float)(h[n] / s);
    free(h);
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

/* Oracle of the full-layer variant: one draw over the whole image, then per position a scan
 * of all spikes against every window slot. */
static void ref_forward_full(const sbs_layer_args *a, const float *x, int B,
                             const sbs_spike_key *key, float *h)
{
    const sbs_geom *g = &a->g;
    int N = a->N, XY = g->X * g->Y, CHW = g->C * g->H * g->W, HW = g->H * g->W, T = a->T;
    uint32_t *thr = malloc((size_t)CHW * sizeof *thr);
    uint32_t *al = malloc((size_t)CHW * sizeof *al);
    double *scratch = malloc((size_t)3 * CHW * sizeof *scratch);
    int32_t *spk = malloc((size_t)(T > 0 ? T : 1) * sizeof *spk);
    int32_t *idx = malloc((size_t)(T > 0 ? T : 1) * sizeof *idx);
    float *hv = malloc((size_t)N * sizeof *hv);
    if (!thr || !al || !scratch || !spk || !idx || !hv) abort();
    uint32_t tag = sbs_spike_tag(a->layer, key->pass);
    for (int b = 0; b < B; b++) {
        sbs_alias_build(x + (size_t)b * CHW, CHW, thr, al, scratch);
        sbs_spikes_draw(thr, al, CHW, key->seed, tag, key->first_sample + (uint32_t)b,
                        SBS_FULL_LAYER_POSITION, T, spk);
        for (int ox = 0; ox < g->X; ox++)
            for (int oy = 0; oy < g->Y; oy++) {
                int n_in = 0;
                for (int t = 0; t < T; t++) {
                    int c = spk[t] / HW, r = spk[t] % HW / g->W, q = spk[t] % g->W;
                    for (int u = 0; u < g->kx; u++)
                        for (int v = 0; v < g->ky; v++)
                            if (ox * g->sx - g->px + u * g->dx == r &&
                                oy * g->sy - g->py + v * g->dy == q)
                                idx[n_in++] = (c * g->kx + u) * g->ky + v;
                }
                int pos = ox * g->Y + oy;
                sbs_ref_dynamics(a->W, N, a->ldw, idx, n_in, a->eps, a->forgetting_offset, hv);
                for (int n = 0; n < N; n++) h[((size_t)b * N + n) * XY + pos] = hv[n];
            }
    }
    free(thr); free(al); free(scratch); free(spk); free(idx); free(hv);
}

void sbs_ref_forward(const sbs_layer_args *a, const float *x, int B, const sbs_spike_key *key,
                     float *h)
{
    if (a->full_layer) {
        ref_forward_full(a, x, B, key, h);
        return;
    }
    const sbs_geom *g = &a->g;
    int K = g->K, N = a->N, XY = g->X * g->Y;
    float *win = malloc((size_t)K * sizeof *win);
    uint32_t *thr = malloc((size_t)K * sizeof *thr);
    uint32_t *al = malloc((size_t)K * sizeof *al);
    double *scratch = malloc((size_t)3 * K * sizeof *scratch);
    int32_t *idx = malloc((size_t)a->T * sizeof *idx);
    float *hv = malloc((size_t)N * sizeof *hv);
    if (!win || !thr || !al || !scratch || !idx || !hv) abort();
    uint32_t tag = sbs_spike_tag(a->layer, key->pass);
    for (int b = 0; b < B; b++) {
        const float *img = x + (size_t)b * g->C * g->H * g->W;
        for (int ox = 0; ox < g->X; ox++)
            for (int oy = 0; oy < g->Y; oy++) {
                sbs_patch_gather(g, img, ox, oy, win);
                sbs_alias_build(win, K, thr, al, scratch);
                int pos = ox * g->Y + oy;
                sbs_spikes_draw(thr, al, K, key->seed, tag, key->first_sample + (uint32_t)b,
                                (uint32_t)pos, a->T, idx);
                sbs_ref_dynamics(a->W, N, a->ldw, idx, a->T, a->eps, a->forgetting_offset, hv);
                for (int n = 0; n < N; n++) h[((size_t)b * N + n) * XY + pos] = hv[n];
            }
    }
    free(win); free(thr); free(al); free(scratch); free(idx); free(hv);
}
