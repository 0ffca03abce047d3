/* k_approx.c — CPU kernels of APPROX CONV2D (SPEC §1.5; the layer is described with its plan
 * in src/nn/layer_approx.c): the forward with the reduced-precision products of approx.h,
 * through a decomposed-operand loop bitwise equal to sbs_approx_dot, or the CONV2D kernels
 * (k_classic.c) when every product is exact; the backward is the CONV2D one
 * (straight-through). */
#include "cpu.h"
#include "sbs/approx.h"

#include <stdlib.h>
#include <string.h>

static sbs_approx_cfg approx_layer_cfg(const sbs_layer_cfg *c, bool *exact)
{
    sbs_approx_cfg a = sbs_approx_cfg_make(c->approximation_enable, c->number_of_trunc_bits,
                                           c->number_of_frac_bits);
    if (exact) *exact = a.frac_bits >= 24 && a.trunc_bits <= 2 * (a.frac_bits - 24);
    return a;
}

/* ---- the fast approximate path ----
 * Each operand is decomposed once (weights once per forward, columns once per image) exactly as
 * sbs_approx_mul does it: sig = the top F bits of the 24-bit significand with the sign in bit
 * 31 (sig = 0 for a zero), e = the unbiased exponent (denormals normalised). A product is then
 * an integer multiply, the truncated-array error term and one rounding to float. A zero product
 * is skipped: the running sum starts at +0 and can never be -0 (x + (-x) = +0 when rounding to
 * nearest), so adding a signed zero does not change it. Operands that are not finite (inf, NaN)
 * send the image to the plain sbs_approx_dot loop. tests/layers checks the two are bitwise
 * equal. */

typedef struct {
    int F, T; /* effective significand bits (<= 24) and truncated columns */
} ap_eff;

static ap_eff ap_effective(const sbs_approx_cfg *c)
{
    ap_eff r = {c->frac_bits, c->trunc_bits};
    if (r.F > 24) {
        r.T -= 2 * (r.F - 24);
        if (r.T < 0) r.T = 0;
        r.F = 24;
    }
    return r;
}

/* returns false for inf/NaN */
static inline bool ap_decompose(float x, int F, uint32_t *sig, int32_t *ex)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t be = (u >> 23) & 0xffu, fr = u & 0x7fffffu;
    if (be == 0xffu) return false;
    if ((u << 1) == 0) {
        *sig = 0;
        *ex = 0;
        return true;
    }
    uint32_t m;
    int e;
    if (be != 0) {
        e = (int)be - 127;
        m = fr | 0x800000u;
    } else {
        int lz = __builtin_clz(fr) - 8;
        e = -126 - lz;
        m = fr << lz;
    }
    *sig = (m >> (24 - F)) | (u & 0x80000000u);
    *ex = e;
    return true;
}

static bool ap_decompose_all(const float *x, size_t n, int F, uint32_t *sig, int32_t *ex)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok &= ap_decompose(x[i], F, sig + i, ex + i);
    return ok;
}

static inline double ap_pow2(int k) /* 2^k, -1022 <= k <= 1023 */
{
    uint64_t u = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static float ap_dot(const uint32_t *sa, const int32_t *ea, const uint32_t *sb, const int32_t *eb,
                    int K, ap_eff f)
{
    const int off = 2 * (f.F - 1), n = f.T < f.F ? f.T : f.F;
    const uint64_t mask = f.T > 0 ? (1ull << f.T) - 1 : 0;
    float s = 0.0f;
    for (int i = 0; i < K; i++) {
        uint64_t ma = sa[i] & 0x7fffffffu, mb = sb[i] & 0x7fffffffu;
        if (!ma || !mb) continue;
        uint64_t P = ma * mb;
        if (f.T > 0) {
            uint64_t E = 0;
            for (int b = 0; b < n; b++) E += (mb << b) & mask & (0 - ((ma >> b) & 1u));
            P = E > P ? 0 : P - E;
        }
        float r = (float)((double)(int64_t)P * ap_pow2(ea[i] + eb[i] - off)); /* P < 2^48 */
        s += ((sa[i] ^ sb[i]) >> 31) ? -r : r;
    }
    return s;
}

typedef struct {
    sbs_backend *be;
    const sbs_op_args *a;
    sbs_approx_cfg ac;
    ap_eff eff;
    bool w_ok;      /* weights finite: the fast path may be used */
    uint32_t *wsig; /* decomposed weights (O x K) */
    int32_t *wexp;
} fwd_job;

static void approx_fwd_img(void *ctx, long b, int worker)
{
    fwd_job *j = ctx;
    const sbs_op_args *a = j->a;
    const sbs_layer *L = a->L;
    const sbs_geom *g = &L->g;
    int M = L->X * L->Y, K = g->K, O = L->N;
    size_t in_sz = (size_t)L->C * L->H * L->W, out_sz = (size_t)O * M;
    const float *x = a->x + (size_t)b * in_sz;
    float *y = a->y + (size_t)b * out_sz;
    float *cols = cpu_scratch(j->be, worker);
    for (int m = 0; m < M; m++) sbs_patch_gather(g, x, m / g->Y, m % g->Y, cols + (size_t)m * K);
    uint32_t *csig = (uint32_t *)(cols + (size_t)M * K);
    int32_t *cexp = (int32_t *)(csig + (size_t)M * K);
    bool fast = j->w_ok && ap_decompose_all(cols, (size_t)M * K, j->eff.F, csig, cexp);
    for (int o = 0; o < O; o++) {
        const float *w = a->W + (size_t)o * K;
        float bo = a->b ? a->b[o] : 0.0f;
        float *yo = y + (size_t)o * M;
        for (int m = 0; m < M; m++) {
            float d = fast ? ap_dot(j->wsig + (size_t)o * K, j->wexp + (size_t)o * K,
                                    csig + (size_t)m * K, cexp + (size_t)m * K, K, j->eff)
                           : sbs_approx_dot(w, cols + (size_t)m * K, K, &j->ac);
            yo[m] = d + bo;
        }
    }
}

/* The CONV2D kernel table on this layer (the classic kernels pick the operation by kind). */
static sbs_layer as_conv2d(const sbs_layer *L)
{
    sbs_layer c = *L;
    c.kind = SBS_L_CONV2D;
    return c;
}

static void approx_forward(sbs_backend *be, const sbs_op_args *a)
{
    const sbs_layer *L = a->L;
    bool exact;
    fwd_job j = {.be = be, .a = a};
    j.ac = approx_layer_cfg(L->cfg, &exact);
    if (exact) { /* an ordinary convolution: the CONV2D sgemm path */
        sbs_layer c = as_conv2d(L);
        sbs_op_args ca = *a;
        ca.L = &c;
        cpu_k_conv2d.forward(be, &ca);
        return;
    }
    j.eff = ap_effective(&j.ac);
    j.wsig = xmalloc(L->n_w * sizeof *j.wsig);
    j.wexp = xmalloc(L->n_w * sizeof *j.wexp);
    j.w_ok = ap_decompose_all(a->W, L->n_w, j.eff.F, j.wsig, j.wexp);
    cpu_reserve(be, L->fwd_scr);
    cpu_run(be, a->B, approx_fwd_img, &j);
    free(j.wsig);
    free(j.wexp);
}

/* straight-through: the exact CONV2D gradients */
static long approx_backward(sbs_backend *be, const sbs_op_args *a)
{
    sbs_layer c = as_conv2d(a->L);
    sbs_op_args ca = *a;
    ca.L = &c;
    return cpu_k_conv2d.backward(be, &ca);
}

const sbs_layer_kernels cpu_k_approx_conv2d = {.forward = approx_forward,
                                               .backward = approx_backward};
