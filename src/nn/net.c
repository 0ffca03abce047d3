/* net.c — network plan (shapes checked once), the parameter arena, and weights (init, load,
 * save) on the host. */
#include "sbs/layer.h"
#include "sbs/npy.h"
#include "sbs/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static size_t al16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static const char *def_name(const sbs_config *cfg)
{
    return cfg->def_file[0] ? base_name(cfg->def_file) : "def.json";
}

static const char *net_name(const sbs_config *cfg)
{
    return cfg->network_file[0] ? base_name(cfg->network_file) : "network.json";
}

/* One layer's planned sizes against SBS_MAX_COUNT, in 64-bit: its weights and its output per
 * image; full-layer spikes route up to T*kx*ky entries per image (int32 offsets). Its input
 * is the previous layer's output (or checked by the caller); its window and output positions
 * were checked by sbs_layer_window. */
static int check_counts(const sbs_config *cfg, const sbs_layer *L, const char *nf, sbs_err *e)
{
    const sbs_layer_cfg *c = L->cfg;
    int l = L->index;
    if (L->has_weights) {
        unsigned long long w = L->sbs_w ? (unsigned long long)L->g.K * L->ldw : L->n_w;
        if (w > SBS_MAX_COUNT) {
            char pad[48] = "";
            if (L->sbs_w && L->ldw != L->N) snprintf(pad, sizeof pad, " (padded to %d)", L->ldw);
            return sbs_fail(e,
                            "%s: network_structure.forward_neuron_numbers[%d]: layer %d (%s) "
                            "has %d x %d%s = %llu weights (window x neurons), more than %d this "
                            "build supports",
                            nf, l, l, c->type, L->g.K, L->N, pad, w, SBS_MAX_COUNT);
        }
    }
    long long out = (long long)L->N * L->X * L->Y;
    if (out > SBS_MAX_COUNT)
        return sbs_fail(e,
                        "%s: network_structure.forward_neuron_numbers[%d]: layer %d (%s) gives "
                        "%d x %d x %d = %lld values per image, more than %d this build supports",
                        nf, l, l, c->type, L->N, L->X, L->Y, out, SBS_MAX_COUNT);
    if (L->T > 0 && c->spike_full_layer_input_distribution) {
        long long routes = (long long)L->T * L->g.kx * L->g.ky;
        if (routes > SBS_MAX_COUNT)
            return sbs_fail(e,
                            "%s: number_of_spikes[%d]: the full-layer spikes "
                            "(spike_full_layer_input_distribution) of layer %d route %d spikes "
                            "x %dx%d kernel = %lld entries per image, more than %d this build "
                            "supports",
                            def_name(cfg), l, l, L->T, L->g.kx, L->g.ky, routes, SBS_MAX_COUNT);
    }
    return 0;
}

/* The parameter layout: each layer's weights then bias, 16-float (64-byte) aligned views of
 * one arena of n_params floats. Sizes are checked: the arena's bytes fit a size_t. */
static int layout(sbs_net *net, const char *nf, sbs_err *e)
{
    size_t n = 0;
    bool ok = true;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        L->w_off = n;
        ok = ok && sbs_add_size(n, al16(L->has_weights ? sbs_weight_floats(L) : 0), &n);
        L->b_off = n;
        ok = ok && sbs_add_size(n, al16(L->has_weights ? L->n_b : 0), &n);
    }
    size_t bytes;
    if (!ok || !sbs_mul_size(n, sizeof(float), &bytes))
        return sbs_fail(e,
                        "%s: network_structure: the parameters do not fit this machine's "
                        "address space",
                        nf);
    net->n_params = n;
    return 0;
}

int sbs_net_plan_shapes(sbs_net *net, const sbs_config *cfg, int C, int H, int W, sbs_err *e)
{
    memset(net, 0, sizeof *net);
    net->cfg = cfg;
    net->n = cfg->n_layers;
    net->in_c = C;
    net->in_h = H;
    net->in_w = W;
    net->n_out = cfg->number_of_output_neurons;
    net->L = xcalloc((size_t)net->n, sizeof *net->L);
    const char *nf = net_name(cfg);
    int ok = 0;
    long long in = (long long)C * H * W;
    if (in > SBS_MAX_COUNT)
        ok = sbs_fail(e,
                      "%s: the input %d x %d x %d = %lld values per image is more than %d this "
                      "build supports",
                      nf, C, H, W, in, SBS_MAX_COUNT);
    for (int l = 0; l < net->n && ok == 0; l++) {
        sbs_layer *L = &net->L[l];
        const sbs_layer_cfg *c = &cfg->layers[l];
        L->index = l;
        L->kind = c->kind;
        L->cfg = c;
        L->C = C;
        L->H = H;
        L->W = W;
        L->ref_layer = -1;
        L->ops = sbs_layer_ops_get(c->kind);
        if (!L->ops) {
            ok = sbs_fail(e,
                          "%s: network_structure.layer_type[%d]: layer type '%s' is not "
                          "supported yet",
                          nf, l, c->type);
            break;
        }
        if (c->in >= 0 && c->in != C) {
            ok = sbs_fail(e,
                          "%s: network_structure.forward_neuron_numbers[%d]: layer %d ('%s') "
                          "expects %d input channels, but its input has %d%s",
                          nf, l, l, c->type, c->in, C,
                          l ? " (the previous layer's output)" : " (the data set's channels)");
            break;
        }
        if ((ok = L->ops->plan(net, L, nf, e)) != 0) break;
        if ((ok = check_counts(cfg, L, nf, e)) != 0) break;
        C = L->N;
        H = L->X;
        W = L->Y;
    }
    bool own_target = ok == 0 && net->n > 0 && net->L[net->n - 1].own_target;
    if (ok == 0 && !own_target && (C != net->n_out || H != 1 || W != 1))
        ok = sbs_fail(e,
                      "%s: network_structure: the last layer must give number_of_output_neurons "
                      "x 1 x 1 = %d x 1 x 1 for the input %dx%dx%d, found %d x %d x %d",
                      nf, net->n_out, net->in_c, net->in_h, net->in_w, C, H, W);
    if (ok == 0) ok = layout(net, nf, e);
    if (ok != 0) {
        sbs_net_free(net);
        return -1;
    }
    bool learns_below = false;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        L->last = l == net->n - 1;
        L->grad_below = learns_below;
        L->loss_mse = cfg->learn.loss_coeffs_mse;
        L->loss_kl = cfg->learn.loss_coeffs_kldiv;
        learns_below |= L->file_weights && L->cfg->w_trainable && cfg->learn.learning_active &&
                        L->kind != SBS_L_SBS_LOCAL;
    }
    return 0;
}

void sbs_net_alloc_params(sbs_net *net)
{
    size_t n = net->n_params ? net->n_params : 1; /* n_params * sizeof(float) fits (layout) */
    net->params = xaligned(n * sizeof(float));
    memset(net->params, 0, n * sizeof(float));
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        if (L->has_weights) {
            L->weight = net->params + L->w_off;
            if (L->n_b) L->bias = net->params + L->b_off;
        }
        if (L->ops->init_params) L->ops->init_params(L);
    }
}

int sbs_net_plan(sbs_net *net, const sbs_config *cfg, int C, int H, int W, sbs_err *e)
{
    if (sbs_net_plan_shapes(net, cfg, C, H, W, e) != 0) return -1;
    sbs_net_alloc_params(net);
    return 0;
}

void sbs_net_free(sbs_net *net)
{
    if (!net->L) return;
    for (int l = 0; l < net->n; l++) free(net->L[l].eps);
    free(net->params);
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

size_t sbs_net_memory(const sbs_net *net, int B, bool training)
{
    size_t act = 0, eps = 0, b = B > 0 ? (size_t)B : 0;
    for (int l = 0; l <= net->n; l++) act = sbs_add_huge(act, sbs_act_floats(net, l));
    for (int l = 0; l < net->n; l++) eps = sbs_add_huge(eps, (size_t)net->L[l].T);
    /* parameters (+ gradients, chunk sums, Adam m and v), activations (+ their gradients) */
    size_t floats = sbs_mul_huge(net->n_params, training ? 5 : 1);
    floats = sbs_add_huge(floats, sbs_mul_huge(sbs_mul_huge(act, b), training ? 2 : 1));
    floats = sbs_add_huge(floats, sbs_add_huge(sbs_mul_huge(b, (size_t)net->n_out), eps));
    return sbs_mul_huge(floats, sizeof(float));
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
            for (int i = 0; i < K; i++)
                W[(size_t)i * ldw + n] = (float)(W[(size_t)i * ldw + n] / s);
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
        if (L->sbs_w) {
            double lo = cfg->learn.weight_noise_range[0], hi = cfg->learn.weight_noise_range[1];
            for (int i = 0; i < L->g.K; i++)
                for (int n = 0; n < L->N; n++)
                    L->weight[(size_t)i * L->ldw + n] =
                        (float)(lo + (hi - lo) * sbs_stream_u01(&st));
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
        o += (size_t)snprintf(buf + o, n - o, "%ld%s", sh[i],
                              nd == 1      ? ","
                              : i + 1 < nd ? ", "
                                           : "");
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
    return sbs_net_load_weights_epoch(net, dir, -1, require_all, e);
}

int sbs_net_load_weights_epoch(sbs_net *net, const char *dir, long epoch, bool require_all,
                               sbs_err *e)
{
    char sx[24] = "*"; /* the epoch in error messages */
    if (epoch >= 0) snprintf(sx, sizeof sx, "%ld", epoch);
    int loaded = 0;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        char path[PATH_MAX];
        int r = sbs_find_layer_file_epoch(dir, "Weight", l, epoch, path, sizeof path, e);
        if (r < 0) return -1;
        if (r == 0) {
            if (require_all)
                return sbs_fail(e, "%s: no weight file Weight_L%d_S%s.npy for layer %d (%s)", dir,
                                l, sx, l, L->cfg->type);
            continue;
        }
        sbs_npy a;
        if (L->sbs_w) {
            long want[2] = {L->g.K, L->N};
            if (load_array(path, 2, want, &a, e) != 0) return -1;
            for (size_t i = 0; i < a.count; i++)
                if (a.data[i] < 0.0f) {
                    long row = (long)(i / (size_t)L->N), col = (long)(i % (size_t)L->N);
                    float v = a.data[i];
                    sbs_npy_free(&a);
                    return sbs_fail(e, "%s: SbS weights must be >= 0, found %g at [%ld, %ld]", path,
                                    (double)v, row, col);
                }
            for (int n = 0; n < L->N; n++) {
                double s = 0;
                for (int i = 0; i < L->g.K; i++) s += a.data[(size_t)i * L->N + n];
                if (!(s > 0)) {
                    sbs_npy_free(&a);
                    return sbs_fail(e, "%s: the weights of neuron %d sum to 0 (column %d)", path, n,
                                    n);
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
            r = sbs_find_layer_file_epoch(dir, "Bias", l, epoch, path, sizeof path, e);
            if (r < 0) return -1;
            if (r == 0) {
                if (require_all)
                    return sbs_fail(e, "%s: no bias file Bias_L%d_S%s.npy for layer %d (%s)", dir,
                                    l, sx, l, L->cfg->type);
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
        if (L->sbs_w) {
            float *w = xmalloc(L->n_w * sizeof(float));
            for (int i = 0; i < L->g.K; i++)
                memcpy(w + (size_t)i * L->N, L->weight + (size_t)i * L->ldw,
                       (size_t)L->N * sizeof(float));
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

int sbs_mode_shape(const char *m, int *c, int *h, int *w)
{
    if (!strcmp(m, "MNIST") || !strcmp(m, "MNIST_FASHION")) {
        *c = 1;
        *h = 28;
        *w = 28;
        return 0;
    }
    if (!strcmp(m, "CIFAR10")) {
        *c = 3;
        *h = 32;
        *w = 32;
        return 0;
    }
    return -1;
}

int sbs_plan_shapes_for_data(sbs_net *net, const sbs_config *cfg, int *c, int *h, int *w,
                             sbs_err *e)
{
    int ic, ih, iw;
    if (sbs_mode_shape(cfg->data_mode, &ic, &ih, &iw) != 0)
        return sbs_fail(e, "%s: data_mode: expected MNIST, MNIST_FASHION or CIFAR10, found '%s'",
                        cfg->dataset_file, cfg->data_mode);
    int crop = cfg->aug.crop_width_in_pixel;
    if (2 * crop >= ih || 2 * crop >= iw)
        return sbs_fail(e, "augmentation.crop_width_in_pixel: %d leaves nothing of a %dx%d image",
                        crop, ih, iw);
    if (sbs_net_plan_shapes(net, cfg, ic, ih - 2 * crop, iw - 2 * crop, e) != 0) return -1;
    /* every data set here has 10 classes; a label must index an output */
    if (!net->L[net->n - 1].own_target && net->n_out < SBS_N_CLASSES) {
        const char *nf = net_name(cfg);
        sbs_net_free(net);
        return sbs_fail(e,
                        "%s: network_structure.number_of_output_neurons: the %s data set has "
                        "%d classes, so at least %d outputs are needed, found %d",
                        nf, cfg->data_mode, SBS_N_CLASSES, SBS_N_CLASSES,
                        cfg->number_of_output_neurons);
    }
    if (c) *c = ic;
    if (h) *h = ih;
    if (w) *w = iw;
    return 0;
}

int sbs_plan_for_data(sbs_net *net, const sbs_config *cfg, int *c, int *h, int *w, sbs_err *e)
{
    if (sbs_plan_shapes_for_data(net, cfg, c, h, w, e) != 0) return -1;
    sbs_net_alloc_params(net);
    return 0;
}

size_t sbs_mode_data_bytes(const char *m)
{
    int c, h, w;
    if (sbs_mode_shape(m, &c, &h, &w) != 0) return 0;
    size_t n = !strcmp(m, "CIFAR10") ? 60000 : 70000;
    return n * ((size_t)c * h * w * sizeof(float) + 1);
}
