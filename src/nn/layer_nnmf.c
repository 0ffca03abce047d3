/* layer_nnmf.c — NNMF and BP SBS NNMF (SPEC §1.5): the deterministic counterpart of the SbS
 * layer. Same window geometry and SbS-like weights (K, ldw) as SbS; per position
 *   p = x / (sum x + 1e-20),  h0 = 1/N,  number_of_spikes iterations of
 *   u_n = sum_i p_i h_n W[i,n] / (R_i + 1e-20),  R_i = sum_m h_m W[i,m]
 *   v = h + epsilon_0 u (epsilon_0 > 0) or v = u,  h <- v / (sum v + 1e-20).
 *
 * The iteration works on all positions of one image at once in (neuron x position) layout,
 * which is the layout of the output (N, X, Y): per step two sgemm calls,
 *   R (K x M) = W (K x N) H (N x M),   Z = P / (R + 1e-20),   S (N x M) = W^T Z,
 * then v = H (1 + eps S) (or H S) and the column normalisation. Images spread over the pool.
 *
 * NNMF backward is the exact gradient through the iterations (reverse mode). The forward of
 * the image is recomputed in the backward and the iterates (h, R, S per step) are kept in the
 * worker's scratch; when that would exceed the store limit, only every c-th h is kept and the
 * segments are recomputed (checkpointing). Per step t, with g = dL/dh_{t+1}:
 *   gv = (g - sum_n g_n h_{t+1,n}) / (sum v + 1e-20)      (column normalisation)
 *   gu = eps gv (or gv),  gh = gv [eps > 0] + gu S,  gS = gu h
 *   gZ = W gS,  gP += gZ / (R + 1e-20),  gR = -gZ Z / (R + 1e-20)
 *   gh += W^T gR,  dW += Z gS^T + gR h^T
 * and finally dL/dx_i = (gP_i - sum_j gP_j p_j) / (sum x + 1e-20), routed back through the
 * window. BP SBS NNMF uses the SbS layer's approximate backward (layer_sbs.c) unchanged.
 *
 * Like SbS layers, the incoming gradient is divided by the layer's gradient scale S (SPEC §1.2)
 * unless disable_scale_grade, and each (pattern, position) counts as one contribution. */
#include "sbs/layer.h"
#include "sbs/train.h"

#include <cblas.h>
#include <string.h>

#define NNMF_EPS 1e-20f

/* The element-wise loops are compiled for AVX-512 and AVX2 as well and picked at load time. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define NNMF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NNMF_CLONES
#endif

/* Most floats of iterates one worker keeps in the backward before it checkpoints (32 MB);
 * read when a layer is planned, which sizes the backward scratch. */
static size_t nnmf_store_limit = (size_t)8 << 20;

void sbs_nnmf_set_store_limit(size_t floats)
{
    nnmf_store_limit = floats ? floats : 1;
}

static size_t al16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* Geometry of the backward's iterate store: segment length c (steps), number of segments. */
typedef struct {
    int c, nseg;
    size_t hsz, rsz;   /* floats of one h / S (N*M), one R (K*M), padded */
} nnmf_store;

static size_t store_floats(const nnmf_store *st)
{
    /* checkpoints (nseg h, none when one segment), segment: c+1 h, c R, c S */
    size_t ck = st->nseg > 1 ? (size_t)st->nseg * st->hsz : 0;
    return ck + (size_t)(st->c + 1) * st->hsz + (size_t)st->c * (st->rsz + st->hsz);
}

/* The store for at most `limit` floats (segments halved until it fits; at least c = 1). */
static nnmf_store store_plan(int K, int N, int M, int T, size_t limit)
{
    nnmf_store st = {T, 1, al16((size_t)N * M), al16((size_t)K * M)};
    while (st.c > 1 && store_floats(&st) > limit) {
        st.c = (st.c + 1) / 2;
        st.nseg = (T + st.c - 1) / st.c;
    }
    /* the first halving that fits; then even segments for that many (no longer: still fits) */
    st.c = (T + st.nseg - 1) / st.nseg;
    return st;
}

static size_t fwd_floats(int K, int N, int M)
{
    return 2 * al16((size_t)K * M) + al16((size_t)N * M) + al16((size_t)M) + al16((size_t)K);
}

/* Backward scratch besides the iterate store. */
static size_t bwd_fixed_floats(int K, int N, int M)
{
    return 4 * al16((size_t)K * M) + 3 * al16((size_t)N * M) + 3 * al16((size_t)M) +
           al16((size_t)K);
}

static int nnmf_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (c->out < 0)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: %s layer needs "
                           "[in, out], found []", nf, l, c->type);
    if (c->out <= 2)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: %s layer needs "
                           "more than 2 neurons, found %d", nf, l, c->type, c->out);
    if (c->spikes < 1)
        return sbs_fail(e, "number_of_spikes[%d]: %s layer needs at least 1 iteration, found %d",
                        l, c->type, c->spikes);
    if (sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = c->out;
    L->ldw = sbs_pad_n(L->N);
    L->n_w = (size_t)L->g.K * L->N;
    L->weight = xaligned((size_t)L->g.K * L->ldw * sizeof(float));
    memset(L->weight, 0, (size_t)L->g.K * L->ldw * sizeof(float));
    L->has_weights = true;
    L->sbs_w = true;
    L->file_weights = true;
    int K = L->g.K, N = L->N, M = L->X * L->Y;
    L->fwd_scr = fwd_floats(K, N, M);
    if (c->kind == SBS_L_BP_SBS_NNMF)
        L->bwd_scr = 3 * (size_t)M * K + (size_t)N * M + K; /* layer_sbs.c's backward */
    else {
        /* the store is sized here, with the limit of now; the backward fits its store into
         * what the plan gave it */
        nnmf_store st = store_plan(K, N, M, c->spikes, nnmf_store_limit);
        L->bwd_scr = bwd_fixed_floats(K, N, M) + store_floats(&st);
    }
    return 0;
}

/* ---- forward ---- */

/* P (K x M) = the window distributions of one image, column m for position m; inv[m] =
 * 1 / (sum x + 1e-20). win: K floats. */
static void gather_p(const sbs_geom *g, const float *x, int M, float *P, float *inv, float *win)
{
    int K = g->K;
    for (int m = 0; m < M; m++) {
        sbs_patch_gather(g, x, m / g->Y, m % g->Y, win);
        double sum = 0;
        for (int i = 0; i < K; i++) sum += win[i];
        float iv = (float)(1.0 / (sum + 1e-20));
        inv[m] = iv;
        for (int i = 0; i < K; i++) P[(size_t)i * M + m] = win[i] * iv;
    }
}

static void h_init(float *h, int N, int M)
{
    float v = 1.0f / (float)N;
    for (size_t i = 0; i < (size_t)N * M; i++) h[i] = v;
}

/* One iteration on M positions: h (N x M) -> hn (may be h). R (K x M) receives R (may be Z:
 * then it is overwritten by Z), Z (K x M), S (N x M), cs (M) scratch. */
NNMF_CLONES static void nnmf_step(const float *W, int ldw, int K, int N, int M, float eps, const float *P,
                      const float *h, float *hn, float *R, float *Z, float *S, float *cs)
{
    size_t KM = (size_t)K * M;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, N, 1.0f, W, ldw, h, M, 0.0f, R,
                M);
    for (size_t i = 0; i < KM; i++) Z[i] = P[i] / (R[i] + NNMF_EPS);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, M, K, 1.0f, W, ldw, Z, M, 0.0f, S, M);
    for (int m = 0; m < M; m++) cs[m] = 0.0f;
    for (int n = 0; n < N; n++) {
        const float *hr = h + (size_t)n * M, *sr = S + (size_t)n * M;
        float *vr = hn + (size_t)n * M;
        if (eps > 0.0f)
            for (int m = 0; m < M; m++) {
                float v = hr[m] + eps * (hr[m] * sr[m]);
                vr[m] = v;
                cs[m] += v;
            }
        else
            for (int m = 0; m < M; m++) {
                float v = hr[m] * sr[m];
                vr[m] = v;
                cs[m] += v;
            }
    }
    for (int m = 0; m < M; m++) cs[m] = 1.0f / (cs[m] + NNMF_EPS);
    for (int n = 0; n < N; n++) {
        float *vr = hn + (size_t)n * M;
        for (int m = 0; m < M; m++) vr[m] *= cs[m];
    }
}

typedef struct {
    sbs_net *net;
    const sbs_layer *L;
} fwd_job;

static void nnmf_fwd_img(void *ctx, long b, int worker)
{
    fwd_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_net *net = j->net;
    int K = L->g.K, N = L->N, M = L->X * L->Y, T = L->cfg->spikes;
    float eps = L->cfg->epsilon_0;
    size_t in_sz = (size_t)L->C * L->H * L->W;
    const float *x = net->act[L->index] + (size_t)b * in_sz;
    float *h = net->act[L->index + 1] + (size_t)b * N * M;
    float *P = net->scratch[worker], *Z = P + al16((size_t)K * M), *S = Z + al16((size_t)K * M);
    float *cs = S + al16((size_t)N * M), *win = cs + al16((size_t)M);
    gather_p(&L->g, x, M, P, cs, win);
    h_init(h, N, M);
    for (int t = 0; t < T; t++) nnmf_step(L->weight, L->ldw, K, N, M, eps, P, h, h, Z, Z, S, cs);
}

static void nnmf_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    (void)key;
    fwd_job j = {net, L};
    sbs_layer_per_image(net, B, nnmf_fwd_img, &j);
}

/* ---- exact backward ---- */

/* One neuron's row of the step's reverse: gv = (g - a) cs, gu = eps gv (or gv),
 * gS = gu h, gh = gv [eps > 0] + gu S. */
static inline void grad_row(int M, float eps, const float *restrict h, const float *restrict S,
                            const float *restrict g, const float *restrict a,
                            const float *restrict cs, float *restrict gh, float *restrict gs)
{
    float ge = eps > 0.0f ? eps : 1.0f, gd = eps > 0.0f ? 1.0f : 0.0f;
    for (int m = 0; m < M; m++) {
        float gv = (g[m] - a[m]) * cs[m], gu = ge * gv;
        gs[m] = gu * h[m];
        gh[m] = gd * gv + gu * S[m];
    }
}

typedef struct {
    sbs_trainer_state *s;
    const sbs_layer *L;
    bool need_dx, need_dw;
} bwd_job;

NNMF_CLONES static void nnmf_bwd_img(void *ctx, long b, int worker)
{
    bwd_job *j = ctx;
    const sbs_layer *L = j->L;
    sbs_trainer_state *s = j->s;
    sbs_net *net = s->net;
    const float *W = L->weight;
    int l = L->index, K = L->g.K, N = L->N, M = L->X * L->Y, T = L->cfg->spikes, ldw = L->ldw;
    float eps = L->cfg->epsilon_0;
    size_t in_sz = (size_t)L->C * L->H * L->W, KM = (size_t)K * M, NM = (size_t)N * M;
    const float *x = net->act[l] + (size_t)b * in_sz;
    nnmf_store st = store_plan(K, N, M, T, L->bwd_scr - bwd_fixed_floats(K, N, M));

    float *P = s->bscr[worker], *Z = P + al16(KM), *GZ = Z + al16(KM), *GP = GZ + al16(KM);
    float *G = GP + al16(KM), *GH = G + al16(NM), *GS = GH + al16(NM);
    float *cs = GS + al16(NM), *inv = cs + al16((size_t)M), *acol = inv + al16((size_t)M);
    float *win = acol + al16((size_t)M);
    float *seg_h = win + al16((size_t)K);                 /* c+1 iterates h */
    float *seg_r = seg_h + (size_t)(st.c + 1) * st.hsz;   /* c R */
    float *seg_s = seg_r + (size_t)st.c * st.rsz;         /* c S */
    float *ckpt = seg_s + (size_t)st.c * st.hsz;          /* nseg h (when nseg > 1) */

    gather_p(&L->g, x, M, P, inv, win);
    if (st.nseg > 1) {
        /* checkpoints h_{k c}: run the forward once, keeping every c-th iterate */
        h_init(ckpt, N, M);
        memcpy(seg_h, ckpt, NM * sizeof(float));
        for (int t = 0; t < (st.nseg - 1) * st.c; t++) {
            nnmf_step(W, ldw, K, N, M, eps, P, seg_h, seg_h, Z, Z, seg_s, cs);
            if ((t + 1) % st.c == 0)
                memcpy(ckpt + (size_t)((t + 1) / st.c) * st.hsz, seg_h, NM * sizeof(float));
        }
    }
    memcpy(G, s->gact[l + 1] + (size_t)b * NM, NM * sizeof(float));
    if (j->need_dx) memset(GP, 0, KM * sizeof(float));
    float *dW = NULL;
    if (j->need_dw) {
        dW = s->G[l].dWb + (size_t)b * K * ldw;
        memset(dW, 0, (size_t)K * ldw * sizeof(float));
    }
    for (int k = st.nseg - 1; k >= 0; k--) {
        int t0 = k * st.c, t1 = t0 + st.c < T ? t0 + st.c : T;
        if (st.nseg > 1) memcpy(seg_h, ckpt + (size_t)k * st.hsz, NM * sizeof(float));
        else h_init(seg_h, N, M);
        for (int t = t0; t < t1; t++) {
            int r = t - t0;
            nnmf_step(W, ldw, K, N, M, eps, P, seg_h + (size_t)r * st.hsz,
                      seg_h + (size_t)(r + 1) * st.hsz, seg_r + (size_t)r * st.rsz, Z,
                      seg_s + (size_t)r * st.hsz, cs);
        }
        for (int t = t1 - 1; t >= t0; t--) {
            int r = t - t0;
            const float *h = seg_h + (size_t)r * st.hsz, *hn = seg_h + (size_t)(r + 1) * st.hsz;
            const float *R = seg_r + (size_t)r * st.rsz, *S = seg_s + (size_t)r * st.hsz;
            bool need_gh = t > 0; /* h_0 is a constant */
            /* column sums of v and a = sum_n g hn */
            for (int m = 0; m < M; m++) cs[m] = acol[m] = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *hr = h + (size_t)n * M, *sr = S + (size_t)n * M;
                const float *gr = G + (size_t)n * M, *hnr = hn + (size_t)n * M;
                if (eps > 0.0f)
                    for (int m = 0; m < M; m++) cs[m] += hr[m] + eps * (hr[m] * sr[m]);
                else
                    for (int m = 0; m < M; m++) cs[m] += hr[m] * sr[m];
                for (int m = 0; m < M; m++) acol[m] += gr[m] * hnr[m];
            }
            for (int m = 0; m < M; m++) cs[m] = 1.0f / (cs[m] + NNMF_EPS);
            for (int n = 0; n < N; n++)
                grad_row(M, eps, h + (size_t)n * M, S + (size_t)n * M, G + (size_t)n * M, acol,
                         cs, GH + (size_t)n * M, GS + (size_t)n * M);
            /* gZ (K x M) = W gS */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, N, 1.0f, W, ldw, GS, M,
                        0.0f, GZ, M);
            for (size_t i = 0; i < KM; i++) {
                float d = 1.0f / (R[i] + NNMF_EPS);
                float z = P[i] * d;
                Z[i] = z;
                if (j->need_dx) GP[i] += GZ[i] * d;
                GZ[i] = -GZ[i] * z * d; /* gR */
            }
            if (need_gh)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, M, K, 1.0f, W, ldw, GZ, M,
                            1.0f, GH, M);
            if (dW) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, N, M, 1.0f, Z, M, GS, M,
                            1.0f, dW, ldw);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, N, M, 1.0f, GZ, M, h, M,
                            1.0f, dW, ldw);
            }
            float *tmp = G;
            G = GH;
            GH = tmp;
        }
    }
    if (j->need_dx) {
        float *dx = s->gact[l] + (size_t)b * in_sz;
        memset(dx, 0, in_sz * sizeof(float));
        for (int m = 0; m < M; m++) {
            float a = 0.0f;
            for (int i = 0; i < K; i++) a += GP[(size_t)i * M + m] * P[(size_t)i * M + m];
            for (int i = 0; i < K; i++) win[i] = (GP[(size_t)i * M + m] - a) * inv[m];
            sbs_patch_scatter_add(&L->g, win, m / L->Y, m % L->Y, dx);
        }
    }
}

static void nnmf_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx, bool need_dw)
{
    sbs_scale_gradient(s, L, B);
    bwd_job j = {s, L, need_dx, need_dw};
    sbs_layer_per_image(s->net, B, nnmf_bwd_img, &j);
    s->contrib[L->index] += (long)B * L->X * L->Y;
}

/* BP SBS NNMF: the SbS layer's approximate backward (scaling, contributions included) on the
 * saved input and the NNMF output. */
static void bp_sbs_nnmf_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx,
                                 bool need_dw)
{
    sbs_ops_sbs.backward(s, L, B, need_dx, need_dw);
}

const sbs_layer_ops sbs_ops_nnmf = {nnmf_plan, nnmf_forward, nnmf_backward, NULL};
const sbs_layer_ops sbs_ops_bp_sbs_nnmf = {nnmf_plan, nnmf_forward, bp_sbs_nnmf_backward, NULL};
