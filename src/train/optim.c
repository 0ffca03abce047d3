/* optim.c — losses (SPEC §2), the Adam/SGD update with the multiplicative rule for SbS
 * weights, weight care after each update, and ReduceLROnPlateau. */
#include "sbs/train.h"

#include <math.h>
#include <string.h>
#include <strings.h>

double sbs_loss(int mode, float c_mse, float c_kl, const float *out, const uint8_t *labels,
                int B, int n_out, float *gout)
{
    double total = 0;
    for (int b = 0; b < B; b++) {
        const float *h = out + (size_t)b * n_out;
        float *g = gout + (size_t)b * n_out;
        int lab = labels[b];
        if (mode == 1) {
            double mx = h[0];
            for (int n = 1; n < n_out; n++) mx = fmax(mx, h[n]);
            double z = 0;
            for (int n = 0; n < n_out; n++) z += exp(h[n] - mx);
            double lz = log(z) + mx;
            total += lz - h[lab];
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
            total += l / cs;
        }
    }
    return mode == 1 ? total / B : total;
}

void sbs_optim_init(sbs_optim *o, const sbs_config *cfg)
{
    memset(o, 0, sizeof *o);
    o->lr = cfg->learn.learning_rate_gamma_w > 0 ? cfg->learn.learning_rate_gamma_w : 1e-3;
    o->best = INFINITY;
    bool custom = cfg->learn.lr_scheduler_factor_w > 0 && cfg->learn.lr_scheduler_patience_w > 0;
    o->factor = custom ? cfg->learn.lr_scheduler_factor_w : 0.1;
    o->patience = custom ? cfg->learn.lr_scheduler_patience_w : 10;
    o->plateau = strcasecmp(cfg->learn.lr_schedule_name, "None") != 0;
}

bool sbs_sched_step(sbs_optim *o, double metric)
{
    if (!o->plateau) return false;
    if (metric < o->best * (1.0 - 1e-4)) {
        o->best = metric;
        o->num_bad = 0;
    } else {
        o->num_bad++;
    }
    if (o->num_bad > o->patience) {
        double nl = o->lr * o->factor;
        o->num_bad = 0;
        if (o->lr - nl > 1e-14) {
            o->lr = nl;
            return true;
        }
    }
    return false;
}

void sbs_weight_care(sbs_layer *L, float threshold)
{
    int K = L->g.K, N = L->N, ldw = L->ldw;
    float floor_w = threshold / (float)L->C;
    sbs_normalize_columns(L->weight, K, N, ldw);
    for (int i = 0; i < K; i++)
        for (int n = 0; n < N; n++) {
            float *w = &L->weight[(size_t)i * ldw + n];
            if (!(*w >= floor_w)) *w = floor_w; /* also replaces NaN */
        }
    sbs_normalize_columns(L->weight, K, N, ldw);
}

static void adam(float *w, const float *g, float *m, float *v, size_t n, double scale_g,
                 double lr_t, double c2, bool multiplicative)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] * scale_g;
        m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
        v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
        double den = sqrt((double)v[i]) / c2 + eps;
        double step = lr_t * m[i] / den;
        if (multiplicative) w[i] = (float)(w[i] * (1.0 + 0.5 * tanh(-step)));
        else w[i] = (float)(w[i] - step);
    }
}

void sbs_optim_step(sbs_optim *o, sbs_trainer_state *s, const sbs_config *cfg)
{
    sbs_net *net = s->net;
    o->t++;
    bool is_adam = strcasecmp(cfg->learn.optimizer_name, "SGD") != 0;
    double lr_t = o->lr / (1.0 - pow(0.9, o->t));
    double c2 = sqrt(1.0 - pow(0.999, o->t));
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        sbs_layer_grad *G = &s->G[l];
        if (!G->gW || !cfg->learn.learning_active || !L->cfg->w_trainable) continue;
        bool sbs = L->sbs_w;
        size_t n = sbs ? (size_t)L->g.K * L->ldw : L->n_w;
        double sg = sbs && s->contrib[l] > 0 ? 1.0 / (double)s->contrib[l] : 1.0;
        if (is_adam) {
            adam(L->weight, G->gW, G->mW, G->vW, n, sg, lr_t, c2, sbs);
            if (G->gB) adam(L->bias, G->gB, G->mB, G->vB, L->n_b, 1.0, lr_t, c2, false);
        } else {
            for (size_t i = 0; i < n; i++) L->weight[i] -= (float)(o->lr * G->gW[i] * sg);
            for (size_t i = 0; i < L->n_b; i++) L->bias[i] -= (float)(o->lr * G->gB[i]);
        }
        if (sbs) {
            /* keep the padding columns exactly zero */
            for (int i = 0; i < L->g.K; i++)
                for (int c = L->N; c < L->ldw; c++) L->weight[(size_t)i * L->ldw + c] = 0.0f;
            sbs_weight_care(L, cfg->learn.learning_rate_threshold_w);
        }
    }
    sbs_grad_zero(s);
}
