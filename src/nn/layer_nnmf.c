/* layer_nnmf.c — the plans of NNMF and BP SBS NNMF (SPEC §1.5), whose kernels are in each
 * backend (src/backend/cpu/k_nnmf.c): the deterministic counterpart of the SbS layer. Same
 * window geometry and SbS-like weights (K, ldw) as SbS; per position
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
 * window. BP SBS NNMF uses the SbS layer's approximate backward (k_sbs.c) unchanged.
 *
 * Like SbS layers, the incoming gradient is divided by the layer's gradient scale S (SPEC §1.2)
 * unless disable_scale_grade (both kinds: L->grad_scaled, done by the caller), and each
 * (pattern, position) counts as one contribution. */
#include "sbs/layer.h"

static size_t al16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

size_t sbs_nnmf_store_floats(const sbs_nnmf_store *st)
{
    /* checkpoints (nseg h, none when one segment), segment: c+1 h, c R, c S */
    size_t ck = st->nseg > 1 ? (size_t)st->nseg * st->hsz : 0;
    return ck + (size_t)(st->c + 1) * st->hsz + (size_t)st->c * (st->rsz + st->hsz);
}

/* The store for at most `limit` floats (segments halved until it fits; at least c = 1). */
sbs_nnmf_store sbs_nnmf_store_plan(int K, int N, int M, int T, size_t limit)
{
    sbs_nnmf_store st = {T, 1, al16((size_t)N * M), al16((size_t)K * M)};
    while (st.c > 1 && sbs_nnmf_store_floats(&st) > limit) {
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

size_t sbs_nnmf_fwd_scratch(int K, int N, int M)
{
    return fwd_floats(K, N, M);
}

/* Backward scratch besides the iterate store. */
size_t sbs_nnmf_bwd_fixed(int K, int N, int M)
{
    return 4 * al16((size_t)K * M) + 3 * al16((size_t)N * M) + 3 * al16((size_t)M) +
           al16((size_t)K);
}

size_t sbs_nnmf_bwd_scratch(int K, int N, int M, int T, size_t store_limit)
{
    sbs_nnmf_store st = sbs_nnmf_store_plan(K, N, M, T, store_limit ? store_limit : 1);
    return sbs_nnmf_bwd_fixed(K, N, M) + sbs_nnmf_store_floats(&st);
}

static int nnmf_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    (void)net;
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (c->out < 0)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: %s layer needs "
                        "[in, out], found []",
                        nf, l, c->type);
    if (c->out <= 2)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: %s layer needs "
                        "more than 2 neurons, found %d",
                        nf, l, c->type, c->out);
    if (c->spikes < 1)
        return sbs_fail(e, "number_of_spikes[%d]: %s layer needs at least 1 iteration, found %d", l,
                        c->type, c->spikes);
    if (sbs_layer_window(L, nf, e) != 0) return -1;
    L->N = c->out;
    L->ldw = sbs_pad_n(L->N);
    L->n_w = (size_t)L->g.K * L->N; /* the weights start at 0 (the zeroed arena) */
    L->has_weights = true;
    L->sbs_w = true;
    L->file_weights = true;
    L->grad_scaled = true;
    int K = L->g.K, N = L->N, M = L->X * L->Y;
    L->fwd_scr = sbs_nnmf_fwd_scratch(K, N, M);
    if (c->kind == SBS_L_BP_SBS_NNMF)
        L->bwd_scr = 3 * (size_t)M * K + (size_t)N * M + K; /* k_sbs.c's backward */
    else /* the backward fits its iterate store into what the plan gave it */
        L->bwd_scr = sbs_nnmf_bwd_scratch(K, N, M, c->spikes, SBS_NNMF_STORE_LIMIT);
    return 0;
}

const sbs_layer_ops sbs_ops_nnmf = {.plan = nnmf_plan};
const sbs_layer_ops sbs_ops_bp_sbs_nnmf = {.plan = nnmf_plan};
