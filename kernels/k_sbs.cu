/* k_sbs.cu — the cuda backend's SbS and SbS POOLING kernels: the fused forward (patch
 * gather, alias table, Philox draw and h dynamics in one kernel, one thread per (image,
 * position), h in registers for rows of 16, 32, 64 or 96 floats, spikes of 64 steps at a time
 * in shared memory; no spike tensor in memory), bitwise equal to the CPU's AVX-512 path; and
 * the backward of k_sbs.c on cuBLAS: R = W h and Q = W (h g) for all images in one batched
 * GEMM each, dx gathered per pixel in window order, the weight gradient per image then summed
 * in image order.
 *
 * Full-layer spikes (spike_full_layer_input_distribution) draw and route each image's spikes
 * on the host (sbs_spikes_draw, sbs_full_layer_route: the CPU backend's spikes) and run the
 * same dynamics on the device over each position's routed list. */
#include "cuda_be.h"

namespace SBSK_NS {

#define FWD_BLOCK 128                       /* threads per block of the forward */
#define FWD_WS_CAP ((size_t)256 << 20)      /* most forward scratch per launch */

/* h held in registers for these row lengths; others in strided scratch */
static bool ldw_in_registers(int ldw) { return ldw == 16 || ldw == 32 || ldw == 64 || ldw == 96; }

static bool is_full(const sbs_layer *L) { return L->cfg && L->cfg->spike_full_layer_input_distribution; }

/* scratch bytes per item of one forward launch */
static size_t fwd_item_bytes(const sbs_layer *L)
{
    size_t hb = ldw_in_registers(L->ldw) && !is_full(L) ? 0 : (size_t)L->ldw * sizeof(float);
    if (is_full(L)) return hb;
    return (size_t)L->g.K * (2 * sizeof(uint32_t) + sizeof(double) + 2 * sizeof(int32_t)) + hb;
}

static long fwd_chunk(const sbs_layer *L, long items)
{
    size_t per = fwd_item_bytes(L);
    long cap = per ? (long)(FWD_WS_CAP / per) : items;
    if (cap < 1) cap = 1;
    return items < cap ? items : cap;
}

static size_t full_list_cap(const sbs_layer *L) { return (size_t)L->T * L->g.kx * L->g.ky + 1; }

static size_t fwd_ws(const sbs_layer *L, int B)
{
    const int XY = L->X * L->Y;
    long items = (long)B * XY, n = fwd_chunk(L, items);
    size_t per = fwd_item_bytes(L), bytes = 6 * 256 + per * (size_t)n;
    if (is_full(L))
        bytes += cb_bytes((size_t)B * (XY + 1), 4) + cb_bytes((size_t)B * full_list_cap(L), 4);
    return bytes;
}

static size_t bwd_ws(const sbs_layer *L, int B)
{
    size_t M = (size_t)L->X * L->Y, K = L->g.K;
    return 3 * cb_bytes((size_t)B * M * K, 4) + cb_bytes((size_t)B * L->N * M, 4) +
           cb_bytes((size_t)B * K * L->ldw, 4);
}

size_t cuda_sbs_ws(const sbs_layer *L, int B, bool training)
{
    size_t f = fwd_ws(L, B), b = training ? bwd_ws(L, B) : 0;
    return f > b ? f : b;
}

/* ---- per-step coefficients, cached per (eps table, fo, N) ---- */

static const float *coef_for(cuda_be *c, const sbs_layer *L)
{
    for (int i = 0; i < c->n_coef; i++) {
        coef_entry *ce = &c->coef[i];
        if (ce->T == L->T && ce->N == L->N && ce->fo == L->fo &&
            !memcmp(ce->eps, L->eps, (size_t)L->T * sizeof(float)))
            return ce->dev;
    }
    if (c->n_coef == SBS_CUDA_COEF_CACHE) cuda_coef_free(c);
    coef_entry *ce = &c->coef[c->n_coef];
    size_t eb = (size_t)L->T * sizeof(float);
    float *d_eps = (float *)cb_alloc(c, eb), *dev = (float *)cb_alloc(c, 3 * eb);
    ce->eps = (float *)malloc(eb);
    if (!d_eps || !dev || !ce->eps) cb_die(c, "cudaMalloc", "out of memory for a step table", true);
    memcpy(ce->eps, L->eps, eb);
    cb_h2d(c, d_eps, L->eps, eb);
    cb_launch(c, "k_coef", L->T, k_coef{d_eps, L->fo, L->N, dev});
    cb_free(c, d_eps);
    ce->T = L->T;
    ce->N = L->N;
    ce->fo = L->fo;
    ce->dev = dev;
    c->n_coef++;
    return dev;
}

void cuda_coef_free(cuda_be *c)
{
    for (int i = 0; i < c->n_coef; i++) {
        free(c->coef[i].eps);
        cb_free(c, c->coef[i].dev);
    }
    c->n_coef = 0;
}

/* ---- the forward ---- */

#ifndef SBS_CUDA_EMU
template <int LDW, bool FULL> __global__ void __launch_bounds__(FWD_BLOCK) k_sbs_fwd(fwd_args a)
{
    __shared__ int32_t spk[FULL ? 1 : 64 * FWD_BLOCK]; /* [step][thread]: no bank conflicts */
    long i = (long)blockIdx.x * FWD_BLOCK + threadIdx.x;
    if (i < a.n) fwd_item<LDW, FULL>(a, i, spk + (FULL ? 0 : threadIdx.x), FWD_BLOCK);
}
#endif

template <int LDW, bool FULL> static void run_fwd(cuda_be *c, const fwd_args &a)
{
#ifdef SBS_CUDA_EMU
    (void)c;
    int32_t spk[64];
    for (long i = 0; i < a.n; i++) fwd_item<LDW, FULL>(a, i, spk, 1);
#else
    k_sbs_fwd<LDW, FULL><<<(unsigned)((a.n + FWD_BLOCK - 1) / FWD_BLOCK), FWD_BLOCK>>>(a);
    cb_launched(c, "k_sbs_fwd");
#endif
}

/* Full-layer spikes of every image drawn and routed on the host into start/list (device). */
static void full_layer_route(cuda_be *c, const sbs_op_args *a, int32_t *start, int32_t *list)
{
    const sbs_layer *L = a->L;
    const sbs_geom *g = &L->g;
    const int B = a->B, CHW = g->C * g->H * g->W, XY = g->X * g->Y, T = L->T;
    const size_t cap = full_list_cap(L);
    float *x = (float *)malloc((size_t)B * CHW * sizeof(float));
    uint32_t *thr = (uint32_t *)malloc((size_t)CHW * 2 * sizeof(uint32_t));
    double *scr = (double *)malloc((size_t)CHW * 3 * sizeof(double));
    int32_t *spk = (int32_t *)malloc(((size_t)T + 1) * sizeof(int32_t));
    int32_t *hs = (int32_t *)malloc((size_t)B * (XY + 1) * sizeof(int32_t));
    int32_t *hl = (int32_t *)malloc((size_t)B * cap * sizeof(int32_t));
    int32_t *tab = (int32_t *)malloc(sbs_full_layer_route_tab(g) * sizeof(int32_t));
    if (!x || !thr || !scr || !spk || !hs || !hl || !tab)
        cb_die(c, "malloc", "out of host memory for full-layer spikes", true);
    cb_d2h(c, x, a->x, (size_t)B * CHW * sizeof(float));
    uint32_t tag = sbs_spike_tag(L->index, a->key->pass);
    for (int b = 0; b < B; b++) {
        sbs_alias_build(x + (size_t)b * CHW, CHW, thr, thr + CHW, scr);
        sbs_spikes_draw(thr, thr + CHW, CHW, a->key->seed, tag, a->key->first_sample + (uint32_t)b,
                        SBS_FULL_LAYER_POSITION, T, spk);
        sbs_full_layer_route(g, spk, T, hs + (size_t)b * (XY + 1), hl + (size_t)b * cap, tab);
    }
    cb_h2d(c, start, hs, (size_t)B * (XY + 1) * sizeof(int32_t));
    cb_h2d(c, list, hl, (size_t)B * cap * sizeof(int32_t));
    free(x);
    free(thr);
    free(scr);
    free(spk);
    free(hs);
    free(hl);
    free(tab);
}

static void sbs_forward(sbs_backend *be, const sbs_op_args *a)
{
    cuda_be *c = cb_of(be);
    const sbs_layer *L = a->L;
    cb_layer_op(c, L, "forward");
    const int XY = L->X * L->Y, K = L->g.K;
    const long items = (long)a->B * XY, chunk = fwd_chunk(L, items);
    const bool full = is_full(L);
    fwd_args f;
    memset(&f, 0, sizeof f);
    f.g = L->g;
    f.N = L->N;
    f.ldw = L->ldw;
    f.T = L->T;
    f.x = a->x;
    f.W = a->W;
    f.coef = coef_for(c, L);
    f.y = a->y;
    f.seed = a->key->seed;
    f.tag = sbs_spike_tag(L->index, a->key->pass);
    f.first_sample = a->key->first_sample;
    unsigned char *cur = (unsigned char *)cb_ws(c, fwd_ws(L, a->B));
    if (full) {
        int32_t *start = cb_carve<int32_t>(&cur, (size_t)a->B * (XY + 1));
        int32_t *list = cb_carve<int32_t>(&cur, (size_t)a->B * full_list_cap(L));
        full_layer_route(c, a, start, list);
        f.fl_start = start;
        f.fl_list = list;
        f.fl_cap = (long)full_list_cap(L);
    }
    const bool regs = ldw_in_registers(L->ldw) && !full;
    for (long i0 = 0; i0 < items; i0 += chunk) {
        f.item0 = i0;
        f.n = items - i0 < chunk ? items - i0 : chunk;
        unsigned char *p = cur;
        if (!full) {
            f.thr = cb_carve<uint32_t>(&p, (size_t)K * f.n);
            f.alias = cb_carve<uint32_t>(&p, (size_t)K * f.n);
            f.q = cb_carve<double>(&p, (size_t)K * f.n);
            f.stk = cb_carve<int32_t>(&p, (size_t)2 * K * f.n);
        }
        if (!regs) f.hs = cb_carve<float>(&p, (size_t)L->ldw * f.n);
        if (full) run_fwd<0, true>(c, f);
        else if (L->ldw == 16) run_fwd<16, false>(c, f);
        else if (L->ldw == 32) run_fwd<32, false>(c, f);
        else if (L->ldw == 64) run_fwd<64, false>(c, f);
        else if (L->ldw == 96) run_fwd<96, false>(c, f);
        else run_fwd<0, false>(c, f);
    }
}

/* ---- the backward (k_sbs.c: the paper's approximate gradient) ---- */

static long sbs_backward(sbs_backend *be, const sbs_op_args *a)
{
    cuda_be *c = cb_of(be);
    const sbs_layer *L = a->L;
    cb_layer_op(c, L, "backward");
    const int B = a->B, M = L->X * L->Y, K = L->g.K, N = L->N, ldw = L->ldw;
    const size_t MK = (size_t)M * K, NM = (size_t)N * M;
    unsigned char *cur = (unsigned char *)cb_ws(c, bwd_ws(L, B));
    float *P = cb_carve<float>(&cur, B * MK), *R = cb_carve<float>(&cur, B * MK);
    float *Q = cb_carve<float>(&cur, B * MK), *HG = cb_carve<float>(&cur, B * NM);
    float *parts = cb_carve<float>(&cur, (size_t)B * K * ldw);
    cb_launch(c, "k_im2col", (long)(B * MK), k_im2col{L->g, a->x, P});
    cb_launch(c, "k_rows_normalise", (long)B * M, k_rows_normalise{P, K});
    cb_launch(c, "k_mul", (long)(B * NM), k_mul{a->y, a->gy, HG});
    /* per image: R (M x K, row-major) = H^T W^T, Q = HG^T W^T */
    cb_gemm(c, true, true, K, M, N, 1.0f, a->W, ldw, 0, a->y, M, (long)NM, 0.0f, R, K, (long)MK, B);
    cb_gemm(c, true, true, K, M, N, 1.0f, a->W, ldw, 0, HG, M, (long)NM, 0.0f, Q, K, (long)MK, B);
    if (a->gx)
        cb_launch(c, "k_col2im", (long)B * L->C * L->H * L->W,
                  k_col2im{L->g, R, Q, true, a->gx});
    if (a->gW) {
        cb_launch(c, "k_sbs_ab", (long)(B * MK), k_sbs_ab{P, R, Q});
        /* per image: dW (K x ldw, row-major; N real columns) = A^T HG^T - Bq^T H^T */
        cb_memset(c, parts, 0, (size_t)B * K * ldw * sizeof(float));
        cb_gemm(c, true, true, N, K, M, 1.0f, HG, M, (long)NM, R, K, (long)MK, 0.0f, parts, ldw,
                (long)K * ldw, B);
        cb_gemm(c, true, true, N, K, M, -1.0f, a->y, M, (long)NM, Q, K, (long)MK, 1.0f, parts,
                ldw, (long)K * ldw, B);
        cb_ordered_sum(c, a->gW, parts, (size_t)K * ldw, B);
    }
    return (long)B * M;
}

const sbs_layer_kernels cuda_k_sbs = {sbs_forward, sbs_backward, NULL};

} /* namespace SBSK_NS */
