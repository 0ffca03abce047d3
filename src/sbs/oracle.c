/* oracle.c — the plain double-precision oracle of the SbS layer (SPEC §1.2): the h dynamics,
 * the layer forward and the approximate backward, written as the SPEC states them. Kept
 * simple on purpose and used only as the yardstick: every fast path (SIMD, threads, CUDA)
 * is tested against it given identical spikes. */
#include "sbs/sbs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
void sbs_ref_dynamics(const float *W, int N, int ldw, const int32_t *idx, int T, const float *eps,
                      float forgetting_offset, float *h_out)
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
    free(thr);
    free(al);
    free(scratch);
    free(spk);
    free(idx);
    free(hv);
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
    free(win);
    free(thr);
    free(al);
    free(scratch);
    free(idx);
    free(hv);
}

void sbs_ref_sbs_backward(const sbs_geom *g, int N, const float *W, int ldw, const float *x,
                          const float *h, const float *gh, int B, double *dx, double *dW)
{
    int K = g->K, M = g->X * g->Y;
    size_t in_sz = (size_t)g->C * g->H * g->W;
    memset(dx, 0, (size_t)B * in_sz * sizeof *dx);
    memset(dW, 0, (size_t)K * N * sizeof *dW);
    float *win = malloc((size_t)K * sizeof *win);
    double *R = malloc((size_t)K * sizeof *R), *Q = malloc((size_t)K * sizeof *Q);
    if (!win || !R || !Q) abort();
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            int ox = m / g->Y, oy = m % g->Y;
            sbs_patch_gather(g, x + (size_t)b * in_sz, ox, oy, win);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += win[i];
            const float *hv = h + (size_t)b * N * M + m, *gv = gh + (size_t)b * N * M + m;
            for (int i = 0; i < K; i++) {
                double r = 0, q = 0;
                for (int n = 0; n < N; n++) {
                    r += (double)W[(size_t)i * ldw + n] * hv[(size_t)n * M];
                    q += (double)W[(size_t)i * ldw + n] * hv[(size_t)n * M] * gv[(size_t)n * M];
                }
                R[i] = r;
                Q[i] = q;
            }
            /* dL/dx_i = sum_n W h g / (R + 1e-20), routed back through the window */
            for (int c = 0, i = 0; c < g->C; c++)
                for (int u = 0; u < g->kx; u++)
                    for (int v = 0; v < g->ky; v++, i++) {
                        int r = ox * g->sx - g->px + u * g->dx, q = oy * g->sy - g->py + v * g->dy;
                        if (r < 0 || r >= g->H || q < 0 || q >= g->W) continue;
                        dx[(size_t)b * in_sz + ((size_t)c * g->H + r) * g->W + q] +=
                            Q[i] / (R[i] + 1e-20);
                    }
            for (int i = 0; i < K; i++) {
                double p = win[i] / (sum + 1e-20);
                for (int n = 0; n < N; n++)
                    dW[(size_t)i * N + n] += hv[(size_t)n * M] * p / (R[i] * R[i] + 1e-20) *
                                             (R[i] * gv[(size_t)n * M] - Q[i]);
            }
        }
    free(win);
    free(R);
    free(Q);
}
