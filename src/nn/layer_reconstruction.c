/* layer_reconstruction.c — "RECONSTRUCTION" (SPEC §1.5): placed after an SbS layer S
 * (L->ref_layer, the previous layer), it maps S's output h (B, N, X, Y) back to S's input
 * space with S's weights: per position, hn = h / sum h, R = W hn, output o = R / sum R
 * (B, K, X, Y), K = S's window size. No weights of its own (S's weights are read, never
 * trained here), as the reference's SbSReconstruction.
 *
 * As the last layer it defines its own training target (the `loss` hook): the mixed loss of
 * SPEC §2 (loss_mode 0, loss_coeffs_mse / loss_coeffs_kldiv) of o against S's normalised
 * input windows p = x / sum x (uniform for a window summing to 0), summed over patterns and
 * positions — the reference's loss_function_reconstruction against S.last_input_data.
 * Backward routes dL/do exactly through o = R / sum R, R = W hn and hn = h / sum h to dL/dh;
 * S's own (approximate) backward then turns that into its weight gradient, so S learns
 * without labels. */
#include "sbs/layer.h"
#include "sbs/train.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_sbs_kind(sbs_layer_kind k)
{
    return k == SBS_L_SBS || k == SBS_L_SBS_LOCAL || k == SBS_L_SBS_POOLING;
}

static int recon_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (l == 0 || !is_sbs_kind(net->L[l - 1].kind))
        return sbs_fail(e, "%s: network_structure.layer_type[%d]: RECONSTRUCTION must follow an "
                           "SbS layer (it reconstructs that layer's input with its weights), "
                           "found %s", nf, l, l == 0 ? "it first" : net->L[l - 1].cfg->type);
    const sbs_layer *S = &net->L[l - 1];
    L->ref_layer = l - 1;
    int K = S->g.K;
    if (c->out >= 0 && c->out != K)
        return sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: RECONSTRUCTION of "
                           "layer %d gives its %d inputs per position (%d channels x %dx%d "
                           "kernel): expected [%d, %d], found [%d, %d]", nf, l, l - 1, K, S->C,
                        S->g.kx, S->g.ky, L->C, K, c->in, c->out);
    if (l == net->n - 1) {
        const sbs_config *cfg = net->cfg;
        const char *df = cfg->def_file[0] ? cfg->def_file : "def.json";
        if (strrchr(df, '/')) df = strrchr(df, '/') + 1;
        if (cfg->learn.loss_mode != 0)
            return sbs_fail(e, "%s: learning_parameters.loss_mode: a network ending in "
                               "RECONSTRUCTION is trained with the mixed loss (0), found %d",
                            df, cfg->learn.loss_mode);
        if (cfg->learn.lr_scheduler_use_performance)
            return sbs_fail(e, "%s: learning_parameters.lr_scheduler_use_performance: a network "
                               "ending in RECONSTRUCTION has no accuracy; set it to false", df);
    }
    L->N = K;
    L->X = L->H;
    L->Y = L->W;
    size_t M = (size_t)L->X * L->Y, Cn = (size_t)L->C;
    L->fwd_scr = Cn * M + M;
    L->bwd_scr = Cn * M + (size_t)K * M + 4 * M;
    if ((size_t)K > L->bwd_scr) L->bwd_scr = (size_t)K;
    return 0;
}

/* hn (C x M) = h / (sum over channels), hsum (M) the sums */
static void normalise_h(const float *h, int C, int M, float *hn, float *hsum)
{
    for (int m = 0; m < M; m++) hsum[m] = 0.0f;
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++) hsum[m] += h[(size_t)n * M + m];
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++)
            hn[(size_t)n * M + m] = hsum[m] > 0.0f ? h[(size_t)n * M + m] / hsum[m] : 0.0f;
}

/* R (K x M) = W hn; colsum (M) its sums over K */
static void reconstruct(const sbs_layer *S, const float *hn, int M, float *R, float *colsum)
{
    int K = S->g.K;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, S->N, 1.0f, S->weight, S->ldw,
                hn, M, 0.0f, R, M);
    for (int m = 0; m < M; m++) colsum[m] = 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++) colsum[m] += R[(size_t)i * M + m];
}

typedef struct {
    sbs_net *net;
    const sbs_layer *L;
    sbs_trainer_state *s;
    double *loss;
} recon_job;

static void recon_fwd_img(void *ctx, long b, int worker)
{
    recon_job *j = ctx;
    const sbs_layer *L = j->L, *S = &j->net->L[L->ref_layer];
    int M = L->X * L->Y, C = L->C, K = L->N;
    const float *h = j->net->act[L->index] + (size_t)b * C * M;
    float *out = j->net->act[L->index + 1] + (size_t)b * K * M;
    float *hn = j->net->scratch[worker], *sum = hn + (size_t)C * M;
    normalise_h(h, C, M, hn, sum);
    reconstruct(S, hn, M, out, sum);
    for (int m = 0; m < M; m++) sum[m] = sum[m] > 0.0f ? 1.0f / sum[m] : 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++) out[(size_t)i * M + m] *= sum[m];
}

static void recon_forward(sbs_net *net, sbs_layer *L, int B, const sbs_spike_key *key)
{
    (void)key;
    recon_job j = {net, L, NULL, NULL};
    sbs_layer_per_image(net, B, recon_fwd_img, &j);
}

static void recon_bwd_img(void *ctx, long b, int worker)
{
    recon_job *j = ctx;
    const sbs_layer *L = j->L, *S = &j->net->L[L->ref_layer];
    sbs_trainer_state *s = j->s;
    int M = L->X * L->Y, C = L->C, K = L->N;
    const float *h = j->net->act[L->index] + (size_t)b * C * M;
    const float *o = j->net->act[L->index + 1] + (size_t)b * K * M;
    const float *g = s->gact[L->index + 1] + (size_t)b * K * M;
    float *dh = s->gact[L->index] + (size_t)b * C * M;
    float *hn = s->bscr[worker], *R = hn + (size_t)C * M, *hsum = R + (size_t)K * M;
    float *rsum = hsum + M, *gdot = rsum + M, *d = gdot + M;
    normalise_h(h, C, M, hn, hsum);
    reconstruct(S, hn, M, R, rsum);
    /* o = R / sum R:  dL/dR_i = (g_i - sum_k g_k o_k) / sum R */
    for (int m = 0; m < M; m++) gdot[m] = 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++) gdot[m] += g[(size_t)i * M + m] * o[(size_t)i * M + m];
    for (int m = 0; m < M; m++) rsum[m] = rsum[m] > 0.0f ? 1.0f / rsum[m] : 0.0f;
    for (int i = 0; i < K; i++)
        for (int m = 0; m < M; m++)
            R[(size_t)i * M + m] = (g[(size_t)i * M + m] - gdot[m]) * rsum[m];
    /* R = W hn:  dL/dhn (C x M) = W^T dL/dR */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, M, K, 1.0f, S->weight, S->ldw, R, M,
                0.0f, dh, M);
    /* hn = h / sum h:  dL/dh_n = (dL/dhn_n - sum_k dL/dhn_k hn_k) / sum h */
    for (int m = 0; m < M; m++) d[m] = 0.0f;
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++) d[m] += dh[(size_t)n * M + m] * hn[(size_t)n * M + m];
    for (int n = 0; n < C; n++)
        for (int m = 0; m < M; m++)
            dh[(size_t)n * M + m] = hsum[m] > 0.0f ? (dh[(size_t)n * M + m] - d[m]) / hsum[m] : 0.0f;
}

static void recon_backward(sbs_trainer_state *s, sbs_layer *L, int B, bool need_dx,
                           bool need_dw)
{
    (void)need_dw; /* no weights of its own */
    if (!need_dx) return;
    recon_job j = {s->net, L, s, NULL};
    sbs_layer_per_image(s->net, B, recon_bwd_img, &j);
}

static void recon_loss_img(void *ctx, long b, int worker)
{
    recon_job *j = ctx;
    const sbs_layer *L = j->L, *S = &j->net->L[L->ref_layer];
    const sbs_config *cfg = j->net->cfg;
    int M = L->X * L->Y, K = L->N;
    double cm = cfg->learn.loss_coeffs_mse, ck = cfg->learn.loss_coeffs_kldiv, cs = cm + ck;
    const float *x = j->net->act[S->index] + (size_t)b * S->C * S->H * S->W;
    const float *o = j->net->act[L->index + 1] + (size_t)b * K * M;
    float *g = j->s->gact[L->index + 1] + (size_t)b * K * M;
    float *p = j->s->bscr[worker];
    double total = 0;
    for (int m = 0; m < M; m++) {
        sbs_patch_gather(&S->g, x, m / S->Y, m % S->Y, p);
        double sum = 0;
        for (int i = 0; i < K; i++) sum += p[i];
        for (int i = 0; i < K; i++) {
            double t = sum > 0 ? p[i] / sum : 1.0 / K, ov = o[(size_t)i * M + m];
            total += cm * (ov - t) * (ov - t) + ck * (t + 1e-20) * (log(t + 1e-20) - log(ov + 1e-20));
            g[(size_t)i * M + m] = (float)((2.0 * cm * (ov - t) - ck * (t + 1e-20) / (ov + 1e-20)) / cs);
        }
    }
    j->loss[b] = total / cs;
}

static double recon_loss(sbs_trainer_state *s, sbs_layer *L, int B)
{
    double *per = xcalloc((size_t)(B > 0 ? B : 1), sizeof *per);
    recon_job j = {s->net, L, s, per};
    sbs_layer_per_image(s->net, B, recon_loss_img, &j);
    double total = 0;
    for (int b = 0; b < B; b++) total += per[b];
    free(per);
    return total;
}

const sbs_layer_ops sbs_ops_reconstruction = {recon_plan, recon_forward, recon_backward,
                                              recon_loss};
