/* net.c — network plan (shapes checked once), weights (init, load, save), activations and the
 * forward pass through a backend. */
#include "sbs/net.h"
#include "sbs/npy.h"
#include "sbs/rng.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* windowed geometry of layer l from its config; error names the key */
static int layer_geom(sbs_layer *L, const sbs_config *cfg, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    if (sbs_geom_init(&L->g, L->C, L->H, L->W, c->kernel[0], c->kernel[1], c->stride[0],
                      c->stride[1], c->dilation[0], c->dilation[1], c->padding[0],
                      c->padding[1]) != 0)
        return sbs_fail(e,
                        "%s: network_structure.forward_kernel_size[%d]: window %dx%d (dilation "
                        "%dx%d, padding %dx%d) is larger than the layer's input %dx%d",
                        nf, L->index, c->kernel[0], c->kernel[1], c->dilation[0],
                        c->dilation[1], c->padding[0], c->padding[1], L->H, L->W);
    (void)cfg;
    L->X = L->g.X;
    L->Y = L->g.Y;
    return 0;
}

int sbs_net_plan(sbs_net *net, const sbs_config *cfg, int C, int H, int W, sbs_err *e)
{
    memset(net, 0, sizeof *net);
    net->cfg = cfg;
    net->n = cfg->n_layers;
    net->in_c = C;
    net->in_h = H;
    net->in_w = W;
    net->n_out = cfg->number_of_output_neurons;
    net->L = xcalloc((size_t)net->n, sizeof *net->L);
    const char *nf = cfg->network_file[0] ? base_name(cfg->network_file) : "network.json";
    int ok = 0;
    for (int l = 0; l < net->n && ok == 0; l++) {
        sbs_layer *L = &net->L[l];
        const sbs_layer_cfg *c = &cfg->layers[l];
        L->index = l;
        L->kind = c->kind;
        L->cfg = c;
        L->C = C;
        L->H = H;
        L->W = W;
        if (c->in >= 0 && c->in != C) {
            ok = sbs_fail(e,
                          "%s: network_structure.forward_neuron_numbers[%d]: layer %d ('%s') "
                          "expects %d input channels, but its input has %d%s",
                          nf, l, l, c->type, c->in, C,
                          l ? " (the previous layer's output)" : " (the data set's channels)");
            break;
        }
        switch (c->kind) {
        case SBS_L_SBS:
        case SBS_L_SBS_POOLING:
        case SBS_L_SBS_LOCAL:
            if (c->out < 0) {
                ok = sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: SbS layer "
                                 "needs [in, out], found []", nf, l);
                break;
            }
            if (c->out <= 2) {
                ok = sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: SbS layer "
                                 "needs more than 2 neurons, found %d", nf, l, c->out);
                break;
            }
            if (c->kind == SBS_L_SBS_POOLING && c->out != C) {
                ok = sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: SbS "
                                 "POOLING needs as many neurons as input channels (%d), found %d",
                              nf, l, C, c->out);
                break;
            }
            if ((ok = layer_geom(L, cfg, nf, e)) != 0) break;
            L->N = c->out;
            L->T = c->spikes;
            L->eps = xmalloc((size_t)L->T * sizeof(float));
            sbs_eps_table(c->epsilon_0, c->cooldown_after_number_of_spikes,
                          c->reduction_cooldown, L->T, L->eps);
            L->fo = c->forgetting_offset;
            L->ldw = sbs_pad_n(L->N);
            L->n_w = (size_t)L->g.K * L->N;
            L->weight = xaligned((size_t)L->g.K * L->ldw * sizeof(float));
            memset(L->weight, 0, (size_t)L->g.K * L->ldw * sizeof(float));
            L->has_weights = true;
            L->file_weights = c->kind != SBS_L_SBS_POOLING;
            if (c->kind == SBS_L_SBS_POOLING) {
                int k = c->kernel[0] * c->kernel[1];
                for (int ch = 0; ch < C; ch++)
                    for (int j = 0; j < k; j++) L->weight[(size_t)(ch * k + j) * L->ldw + ch] = 1.0f / k;
            }
            break;
        case SBS_L_AVERAGE_POOLING:
        case SBS_L_MAX_POOLING:
            if (c->out >= 0 && c->out != C) {
                ok = sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: pooling keeps "
                                 "the channels: expected [%d, %d], found [%d, %d]",
                              nf, l, C, C, c->in, c->out);
                break;
            }
            if ((ok = layer_geom(L, cfg, nf, e)) != 0) break;
            L->N = C;
            break;
        case SBS_L_CONV2D:
            if (c->out < 1 || c->in < 1) {
                ok = sbs_fail(e, "%s: network_structure.forward_neuron_numbers[%d]: CONV2D needs "
                                 "[in, out], found %s", nf, l, c->out < 0 ? "[]" : "a zero size");
                break;
            }
            if ((ok = layer_geom(L, cfg, nf, e)) != 0) break;
            L->N = c->out;
            L->n_w = (size_t)L->N * L->g.K;
            L->n_b = (size_t)L->N;
            L->weight = xcalloc(L->n_w, sizeof(float));
            L->bias = xcalloc(L->n_b, sizeof(float));
            L->has_weights = true;
            L->file_weights = true;
            break;
        case SBS_L_RELU:
            L->N = C;
            L->X = H;
            L->Y = W;
            break;
        default:
            ok = sbs_fail(e, "%s: network_structure.layer_type[%d]: layer type '%s' is not "
                             "supported yet (supported: SbS, SbS POOLING, CONV2D, RELU, MAX "
                             "POOLING, AVERAGE POOLING)", nf, l, c->type);
            break;
        }
        C = L->N;
        H = L->X;
        W = L->Y;
    }
    if (ok == 0 && (C != net->n_out || H != 1 || W != 1))
        ok = sbs_fail(e, "%s: network_structure: the last layer must give number_of_output_neurons "
                         "x 1 x 1 = %d x 1 x 1 for the input %dx%dx%d, found %d x %d x %d",
                      nf, net->n_out, net->in_c, net->in_h, net->in_w, C, H, W);
    if (ok != 0) {
        sbs_net_free(net);
        return -1;
    }
    return 0;
}

void sbs_net_free(sbs_net *net)
{
    if (!net->L) return;
    for (int l = 0; l < net->n; l++) {
        free(net->L[l].weight);
        free(net->L[l].bias);
        free(net->L[l].eps);
    }
    if (net->act)
        for (int l = 0; l <= net->n; l++) free(net->act[l]);
    if (net->scratch && net->be)
        for (int w = 0; w < net->be->threads; w++) free(net->scratch[w]);
    free(net->scratch);
    free(net->act);
    free(net->L);
    memset(net, 0, sizeof *net);
}

double sbs_net_spikes_per_image(const sbs_net *net)
{
    double s = 0;
    for (int l = 0; l < net->n; l++)
        if (net->L[l].T > 0) s += (double)net->L[l].T * net->L[l].X * net->L[l].Y;
    return s;
}

void sbs_net_print_plan(const sbs_net *net, FILE *f)
{
    fprintf(f, "input %d x %d x %d\n", net->in_c, net->in_h, net->in_w);
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        fprintf(f, "  L%-2d %-16s %3d x %2d x %2d -> %3d x %2d x %2d", l,
                sbs_layer_kind_name(L->kind), L->C, L->H, L->W, L->N, L->X, L->Y);
        if (L->kind != SBS_L_RELU)
            fprintf(f, "  kernel %dx%d stride %dx%d", L->cfg->kernel[0], L->cfg->kernel[1],
                    L->cfg->stride[0], L->cfg->stride[1]);
        if (L->T) fprintf(f, "  spikes %d", L->T);
        if (L->file_weights) fprintf(f, "  params %zu", L->n_w + L->n_b);
        fputc('\n', f);
    }
}

void sbs_normalize_columns(float *W, int K, int N, int ldw)
{
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int i = 0; i < K; i++) s += W[(size_t)i * ldw + n];
        if (s > 0)
            for (int i = 0; i < K; i++) W[(size_t)i * ldw + n] = (float)(W[(size_t)i * ldw + n] / s);
    }
}

void sbs_net_init_weights(sbs_net *net, uint64_t seed)
{
    const sbs_config *cfg = net->cfg;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        sbs_stream st;
        sbs_stream_init(&st, seed, SBS_RNG_INIT, (uint32_t)l, 0);
        if (L->T > 0) {
            double lo = cfg->learn.weight_noise_range[0], hi = cfg->learn.weight_noise_range[1];
            for (int i = 0; i < L->g.K; i++)
                for (int n = 0; n < L->N; n++)
                    L->weight[(size_t)i * L->ldw + n] = (float)(lo + (hi - lo) * sbs_stream_u01(&st));
            sbs_normalize_columns(L->weight, L->g.K, L->N, L->ldw);
        } else {
            double bound = 1.0 / sqrt((double)L->g.K);
            for (size_t i = 0; i < L->n_w; i++)
                L->weight[i] = (float)(bound * (2.0 * sbs_stream_u01(&st) - 1.0));
            for (size_t i = 0; i < L->n_b; i++)
                L->bias[i] = (float)(bound * (2.0 * sbs_stream_u01(&st) - 1.0));
        }
    }
}

static void shape_str(char *buf, size_t n, int nd, const long *sh)
{
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < nd && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%ld%s", sh[i], nd == 1 ? "," : i + 1 < nd ? ", " : "");
    if (o < n) snprintf(buf + o, n - o, ")");
}

static int load_array(const char *path, int nd, const long *want, sbs_npy *a, sbs_err *e)
{
    if (sbs_npy_read(path, a, true, e) != 0) return -1;
    bool same = a->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = a->shape[i] == want[i];
    if (!same) {
        char w[128], f[128];
        shape_str(w, sizeof w, nd, want);
        shape_str(f, sizeof f, a->ndim, a->shape);
        sbs_npy_free(a);
        return sbs_fail(e, "%s: expected shape %s for this layer, found %s", path, w, f);
    }
    return 0;
}

int sbs_net_load_weights(sbs_net *net, const char *dir, bool require_all, sbs_err *e)
{
    int loaded = 0;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        char path[PATH_MAX];
        int r = sbs_find_layer_file(dir, "Weight", l, path, sizeof path, e);
        if (r < 0) return -1;
        if (r == 0) {
            if (require_all)
                return sbs_fail(e, "%s: no weight file Weight_L%d_S*.npy for layer %d (%s)", dir,
                                l, l, L->cfg->type);
            continue;
        }
        sbs_npy a;
        if (L->T > 0) {
            long want[2] = {L->g.K, L->N};
            if (load_array(path, 2, want, &a, e) != 0) return -1;
            for (size_t i = 0; i < a.count; i++)
                if (a.data[i] < 0.0f) {
                    long row = (long)(i / (size_t)L->N), col = (long)(i % (size_t)L->N);
                    float v = a.data[i];
                    sbs_npy_free(&a);
                    return sbs_fail(e, "%s: SbS weights must be >= 0, found %g at [%ld, %ld]",
                                    path, (double)v, row, col);
                }
            for (int n = 0; n < L->N; n++) {
                double s = 0;
                for (int i = 0; i < L->g.K; i++) s += a.data[(size_t)i * L->N + n];
                if (!(s > 0)) {
                    sbs_npy_free(&a);
                    return sbs_fail(e, "%s: the weights of neuron %d sum to 0 (column %d)", path,
                                    n, n);
                }
            }
            for (int i = 0; i < L->g.K; i++)
                memcpy(L->weight + (size_t)i * L->ldw, a.data + (size_t)i * L->N,
                       (size_t)L->N * sizeof(float));
            sbs_npy_free(&a);
            sbs_normalize_columns(L->weight, L->g.K, L->N, L->ldw);
        } else {
            long want[4] = {L->N, L->C, L->g.kx, L->g.ky};
            if (load_array(path, 4, want, &a, e) != 0) return -1;
            memcpy(L->weight, a.data, L->n_w * sizeof(float));
            sbs_npy_free(&a);
            r = sbs_find_layer_file(dir, "Bias", l, path, sizeof path, e);
            if (r < 0) return -1;
            if (r == 0) {
                if (require_all)
                    return sbs_fail(e, "%s: no bias file Bias_L%d_S*.npy for layer %d (%s)", dir,
                                    l, l, L->cfg->type);
            } else {
                long wb[1] = {L->N};
                if (load_array(path, 1, wb, &a, e) != 0) return -1;
                memcpy(L->bias, a.data, L->n_b * sizeof(float));
                sbs_npy_free(&a);
            }
        }
        loaded++;
    }
    return loaded;
}

int sbs_net_save_weights(const sbs_net *net, const char *dir, int epoch, sbs_err *e)
{
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/Weight_L%d_S%d.npy", dir, l, epoch);
        if (L->T > 0) {
            float *w = xmalloc(L->n_w * sizeof(float));
            for (int i = 0; i < L->g.K; i++)
                memcpy(w + (size_t)i * L->N, L->weight + (size_t)i * L->ldw, (size_t)L->N * sizeof(float));
            long sh[2] = {L->g.K, L->N};
            int r = sbs_npy_write(path, w, 2, sh, e);
            free(w);
            if (r != 0) return -1;
        } else {
            long sh[4] = {L->N, L->C, L->g.kx, L->g.ky};
            if (sbs_npy_write(path, L->weight, 4, sh, e) != 0) return -1;
            snprintf(path, sizeof path, "%s/Bias_L%d_S%d.npy", dir, l, epoch);
            long sb[1] = {L->N};
            if (sbs_npy_write(path, L->bias, 1, sb, e) != 0) return -1;
        }
    }
    return 0;
}

void sbs_net_bind(sbs_net *net, sbs_backend *be, int B)
{
    openblas_set_num_threads(1); /* images are spread over our own pool */
    if (net->act && net->cap_B >= B && net->be == be) return;
    if (net->act)
        for (int l = 0; l <= net->n; l++) free(net->act[l]);
    if (net->scratch && net->be)
        for (int w = 0; w < net->be->threads; w++) free(net->scratch[w]);
    free(net->scratch);
    free(net->act);
    net->be = be;
    net->cap_B = B;
    net->act = xcalloc((size_t)net->n + 1, sizeof *net->act);
    net->act[0] = xaligned((size_t)B * net->in_c * net->in_h * net->in_w * sizeof(float));
    size_t scr = 1;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        net->act[l + 1] = xaligned((size_t)B * L->N * L->X * L->Y * sizeof(float));
        if (L->kind == SBS_L_CONV2D) {
            size_t need = (size_t)L->g.K * L->X * L->Y;
            if (need > scr) scr = need;
        }
    }
    net->scratch_size = scr;
    net->scratch = xcalloc((size_t)be->threads, sizeof *net->scratch);
    for (int w = 0; w < be->threads; w++) net->scratch[w] = xaligned(scr * sizeof(float));
}

typedef struct {
    sbs_net *net;
    const sbs_layer *L;
    const float *x;
    float *y;
} classic_job;

static void classic_img(void *ctx, long b, int worker)
{
    classic_job *j = ctx;
    const sbs_layer *L = j->L;
    size_t in_sz = (size_t)L->C * L->H * L->W, out_sz = (size_t)L->N * L->X * L->Y;
    const float *x = j->x + (size_t)b * in_sz;
    float *y = j->y + (size_t)b * out_sz;
    switch (L->kind) {
    case SBS_L_CONV2D:
        sbs_conv2d_forward_img(&L->g, L->N, L->weight, L->bias, x, y, j->net->scratch[worker]);
        break;
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING:
        sbs_pool_forward_img(&L->g, L->kind == SBS_L_MAX_POOLING, x, y);
        break;
    case SBS_L_RELU:
        for (size_t i = 0; i < out_sz; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    default:
        break;
    }
}

void sbs_net_forward(sbs_net *net, const float *x, int B, const sbs_spike_key *key)
{
    if (x != net->act[0])
        memcpy(net->act[0], x, (size_t)B * net->in_c * net->in_h * net->in_w * sizeof(float));
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (L->T > 0) {
            sbs_layer_args a = {.g = L->g, .N = L->N, .W = L->weight, .ldw = L->ldw, .T = L->T,
                                .eps = L->eps, .forgetting_offset = L->fo, .layer = l};
            net->be->sbs_forward(net->be, &a, net->act[l], B, key, net->act[l + 1]);
        } else {
            classic_job j = {net, L, net->act[l], net->act[l + 1]};
            sbs_pool_run(net->be->pool, B, classic_img, &j);
        }
    }
}
