/* test_noisy.c — extract_noisy_pictures and the input noise of sbs-eval --noise:
 * the spike counts sum to T at every position, equal the histograms of the spikes the oracle
 * draws (sbs_spikes_draw under the forward's key), do not depend on threads or batch split,
 * and follow the full-layer routing; the .npy bytes are numpy's; the .npz holds the arrays
 * and is the same bytes twice; the --noise parser, level 0, clipping, reproducibility and the
 * noise statistics. */
#include "sbs_test.h"

#include "sbs/noise.h"
#include "sbs/noisy.h"
#include "sbs/npy.h"
#include "sbs/npz.h"

#include <unistd.h>
#include <zip.h>

/* a layer's args for counting: only g, T, layer and full_layer matter */
static sbs_layer_args args_for(int C, int H, int W, int k, int s, int d, int p, int T, int layer,
                               bool full)
{
    sbs_layer_args a = {0};
    sbs_geom_init(&a.g, C, H, W, k, k, s, s, d, d, p, p);
    a.T = T;
    a.layer = layer;
    a.full_layer = full;
    return a;
}

/* the oracle's spikes of (image b, position m) as sbs_ref_forward draws them, histogrammed */
static void oracle_hist(const sbs_layer_args *a, const float *img, const sbs_spike_key *key, int b,
                        int m, int64_t *hist)
{
    int K = a->g.K;
    float *win = xmalloc((size_t)K * sizeof *win);
    uint32_t *thr = xmalloc((size_t)K * sizeof *thr), *al = xmalloc((size_t)K * sizeof *al);
    double *scr = xmalloc((size_t)3 * K * sizeof *scr);
    int32_t *idx = xmalloc((size_t)a->T * sizeof *idx);
    sbs_patch_gather(&a->g, img, m / a->g.Y, m % a->g.Y, win);
    sbs_alias_build(win, K, thr, al, scr);
    sbs_spikes_draw(thr, al, K, key->seed, sbs_spike_tag(a->layer, key->pass),
                    key->first_sample + (uint32_t)b, (uint32_t)m, a->T, idx);
    memset(hist, 0, (size_t)K * sizeof *hist);
    for (int t = 0; t < a->T; t++) hist[idx[t]]++;
    free(win);
    free(thr);
    free(al);
    free(scr);
    free(idx);
}

static int test_counts_match_oracle(void)
{
    /* padding, stride, dilation, and an image with zero windows (uniform sampling) */
    sbs_layer_args a = args_for(3, 11, 9, 3, 2, 1, 1, 157, 2, false);
    int B = 4, K = a.g.K, XY = a.g.X * a.g.Y;
    size_t chw = (size_t)3 * 11 * 9;
    float *x = xmalloc(B * chw * sizeof *x);
    sbs_test_fill(x, B * chw, 1, 0.0f, 1.0f);
    memset(x + 2 * chw, 0, chw * sizeof *x);
    sbs_spike_key key = {.seed = 99, .pass = 7, .first_sample = 40};
    int64_t *cnt = xmalloc((size_t)B * K * XY * sizeof *cnt), *h = xmalloc(K * sizeof *h);
    sbs_noisy_counts(&a, x, B, &key, NULL, cnt);
    for (int b = 0; b < B; b++)
        for (int m = 0; m < XY; m++) {
            oracle_hist(&a, x + b * chw, &key, b, m, h);
            int64_t sum = 0;
            for (int i = 0; i < K; i++) {
                int64_t c = cnt[((size_t)b * K + i) * XY + m];
                CHECK(c == h[i], "image %d position %d entry %d: count %lld, oracle %lld", b, m, i,
                      (long long)c, (long long)h[i]);
                sum += c;
            }
            CHECK(sum == a.T, "image %d position %d: counts sum to %lld, not T = %d", b, m,
                  (long long)sum, a.T);
        }
    free(x);
    free(cnt);
    free(h);
    return 0;
}

/* the same counts for 1 and 3 threads, and for the batch split into two calls */
static int test_counts_threads_split(void)
{
    sbs_layer_args a = args_for(2, 12, 12, 5, 1, 1, 0, 300, 0, false);
    int B = 7, K = a.g.K, XY = a.g.X * a.g.Y;
    size_t chw = (size_t)2 * 12 * 12, per = (size_t)K * XY;
    float *x = xmalloc(B * chw * sizeof *x);
    sbs_test_fill(x, B * chw, 2, 0.0f, 1.0f);
    sbs_spike_key key = {.seed = 5, .pass = 1, .first_sample = 0};
    int64_t *c1 = xmalloc(B * per * sizeof *c1), *c3 = xmalloc(B * per * sizeof *c3);
    int64_t *cs = xmalloc(B * per * sizeof *cs);
    sbs_pool *p1 = sbs_pool_create(1), *p3 = sbs_pool_create(3);
    sbs_noisy_counts(&a, x, B, &key, p1, c1);
    sbs_noisy_counts(&a, x, B, &key, p3, c3);
    sbs_noisy_counts(&a, x, 3, &key, p3, cs);
    sbs_spike_key k2 = key;
    k2.first_sample = 3;
    sbs_noisy_counts(&a, x + 3 * chw, B - 3, &k2, NULL, cs + 3 * per);
    CHECK(!memcmp(c1, c3, B * per * sizeof *c1), "1 and 3 threads differ");
    CHECK(!memcmp(c1, cs, B * per * sizeof *c1), "one batch and two (3 + 4) differ");
    sbs_pool_destroy(p1);
    sbs_pool_destroy(p3);
    free(x);
    free(c1);
    free(c3);
    free(cs);
    return 0;
}

/* full-layer spikes: counts equal a plain scan of every spike against every window slot;
 * with windows that tile the image (kernel = stride, no padding) every spike lands once */
static int test_counts_full_layer(void)
{
    for (int tiled = 0; tiled < 2; tiled++) {
        sbs_layer_args a = tiled ? args_for(2, 8, 8, 2, 2, 1, 0, 500, 1, true)
                                 : args_for(2, 9, 7, 3, 2, 2, 1, 500, 1, true);
        const sbs_geom *g = &a.g;
        int B = 3, K = g->K, XY = g->X * g->Y, CHW = g->C * g->H * g->W, HW = g->H * g->W;
        float *x = xmalloc((size_t)B * CHW * sizeof *x);
        sbs_test_fill(x, (size_t)B * CHW, 3 + tiled, 0.0f, 1.0f);
        sbs_spike_key key = {.seed = 11, .pass = 3, .first_sample = 10};
        int64_t *cnt = xmalloc((size_t)B * K * XY * sizeof *cnt);
        int64_t *want = xcalloc((size_t)K * XY, sizeof *want);
        sbs_noisy_counts(&a, x, B, &key, NULL, cnt);
        uint32_t *thr = xmalloc(CHW * sizeof *thr), *al = xmalloc(CHW * sizeof *al);
        double *scr = xmalloc(3 * (size_t)CHW * sizeof *scr);
        int32_t *spk = xmalloc((size_t)a.T * sizeof *spk);
        for (int b = 0; b < B; b++) {
            sbs_alias_build(x + (size_t)b * CHW, CHW, thr, al, scr);
            sbs_spikes_draw(thr, al, CHW, key.seed, sbs_spike_tag(a.layer, key.pass),
                            key.first_sample + (uint32_t)b, SBS_FULL_LAYER_POSITION, a.T, spk);
            memset(want, 0, (size_t)K * XY * sizeof *want);
            for (int ox = 0; ox < g->X; ox++)
                for (int oy = 0; oy < g->Y; oy++)
                    for (int t = 0; t < a.T; t++) {
                        int c = spk[t] / HW, r = spk[t] % HW / g->W, q = spk[t] % g->W;
                        for (int u = 0; u < g->kx; u++)
                            for (int v = 0; v < g->ky; v++)
                                if (ox * g->sx - g->px + u * g->dx == r &&
                                    oy * g->sy - g->py + v * g->dy == q)
                                    want[(size_t)((c * g->kx + u) * g->ky + v) * XY + ox * g->Y +
                                         oy]++;
                    }
            int64_t total = 0;
            for (size_t i = 0; i < (size_t)K * XY; i++) {
                CHECK(cnt[(size_t)b * K * XY + i] == want[i],
                      "%s: image %d entry %zu: %lld, "
                      "scan %lld",
                      tiled ? "tiled" : "overlapping", b, i, (long long)cnt[(size_t)b * K * XY + i],
                      (long long)want[i]);
                total += want[i];
            }
            if (tiled)
                CHECK(total == a.T, "tiled windows: %lld spikes counted, T = %d", (long long)total,
                      a.T);
        }
        free(x);
        free(cnt);
        free(want);
        free(thr);
        free(al);
        free(scr);
        free(spk);
    }
    return 0;
}

/* numpy 1.24's np.save of np.arange(6, dtype='<i8').reshape(2, 3) and of
 * np.array([7, 1, 250], dtype='|u1') */
static int test_npy_bytes(void)
{
    static const char h1[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<i8', 'fortran_order': False, "
                             "'shape': (2, 3), }";
    static const char h2[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, "
                             "'shape': (3,), }";
    int64_t v[6] = {0, 1, 2, 3, 4, 5};
    uint8_t u[3] = {7, 1, 250};
    long s1[2] = {2, 3}, s2[1] = {3};
    const char *hdr[2] = {h1, h2};
    size_t hn[2] = {sizeof h1 - 1, sizeof h2 - 1};
    for (int k = 0; k < 2; k++) {
        unsigned char *buf;
        size_t len;
        sbs_err e;
        int r = k == 0 ? sbs_npy_encode("a.npy", "<i8", v, 2, s1, &buf, &len, &e)
                       : sbs_npy_encode("b.npy", "|u1", u, 1, s2, &buf, &len, &e);
        CHECK(r == 0, "%s", e.msg);
        size_t dlen = k == 0 ? sizeof v : sizeof u;
        CHECK(len == 128 + dlen, "array %d: %zu bytes, numpy writes %zu", k, len, 128 + dlen);
        CHECK(!memcmp(buf, hdr[k], hn[k]), "array %d: header differs from numpy's", k);
        for (size_t i = hn[k]; i < 127; i++) CHECK(buf[i] == ' ', "array %d: byte %zu", k, i);
        CHECK(buf[127] == '\n', "array %d: header does not end in a newline", k);
        CHECK(!memcmp(buf + 128, k == 0 ? (void *)v : (void *)u, dlen), "array %d: data", k);
        free(buf);
    }
    sbs_err e;
    unsigned char *buf = NULL;
    size_t len;
    CHECK(sbs_npy_encode("c.npy", "<c16", v, 1, s2, &buf, &len, &e) != 0 &&
              strstr(e.msg, "c.npy") && strstr(e.msg, "<c16"),
          "an unsupported dtype is refused");
    return 0;
}

/* read member `name` of the zip at path into *buf */
static int zip_member(const char *path, const char *name, unsigned char **buf, size_t *len)
{
    int err;
    zip_t *z = zip_open(path, ZIP_RDONLY, &err);
    CHECK(z, "%s does not open as a zip (libzip error %d)", path, err);
    zip_stat_t st;
    CHECK(zip_stat(z, name, 0, &st) == 0, "%s: no member %s", path, name);
    CHECK(st.comp_method == ZIP_CM_DEFLATE, "%s: %s is not deflated", path, name);
    zip_file_t *f = zip_fopen(z, name, 0);
    *len = (size_t)st.size;
    *buf = xmalloc(*len + 1);
    CHECK(f && zip_fread(f, *buf, st.size) == (zip_int64_t)st.size, "%s: reading %s", path, name);
    zip_fclose(f);
    zip_close(z);
    return 0;
}

static bool same_file(const char *a, const char *b)
{
    unsigned char *x, *y;
    size_t nx, ny;
    sbs_err e;
    if (sbs_read_file(a, &x, &nx, &e) || sbs_read_file(b, &y, &ny, &e)) return false;
    bool same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

/* check file `path` holds the_images = cnt (b patterns of per) and labels */
static int check_npz(const char *path, const int64_t *cnt, const uint8_t *labels, int b,
                     const sbs_layer *L)
{
    size_t per = (size_t)L->g.K * L->X * L->Y;
    const char *member[2] = {"the_images.npy", "labels.npy"};
    sbs_err e;
    for (int k = 0; k < 2; k++) {
        unsigned char *buf;
        size_t len;
        if (zip_member(path, member[k], &buf, &len)) return 1;
        sbs_npy a;
        CHECK(sbs_npy_parse(buf, len, member[k], &a, false, &e) == 0, "%s", e.msg);
        free(buf);
        CHECK(!strcmp(a.dtype, "<i8"), "%s: dtype %s", member[k], a.dtype);
        if (k == 0) {
            CHECK(a.ndim == 4 && a.shape[0] == b && a.shape[1] == L->g.K && a.shape[2] == L->X &&
                      a.shape[3] == L->Y,
                  "%s: the_images shape", path);
            for (size_t i = 0; i < b * per; i++)
                CHECK(a.data[i] == (float)cnt[i], "%s: the_images[%zu] = %g, count %lld", path, i,
                      (double)a.data[i], (long long)cnt[i]);
        } else {
            CHECK(a.ndim == 1 && a.shape[0] == b, "%s: labels shape", path);
            for (int i = 0; i < b; i++) CHECK(a.data[i] == labels[i], "%s: labels[%d]", path, i);
        }
        sbs_npy_free(&a);
    }
    return 0;
}

/* a net whose first layer is not SbS: the pictures come from layer 1; a forward batch of 5
 * images goes into files of 3 patterns (0.npz full, 1.npz the 2 left at the end of the
 * pass); a second pass writes the same bytes; images out of order are refused */
static int test_writer(void)
{
    sbs_test_layer ls[] = {
        {.kind = SBS_L_AVERAGE_POOLING, .k = {1, 1}},
        {.kind = SBS_L_SBS, .in = 2, .out = 6, .k = {3, 3}, .s = {2, 2}},
        {.kind = SBS_L_SBS, .in = 6, .out = 4, .k = {4, 4}},
    };
    sbs_config cfg;
    sbs_net net;
    CHECK(sbs_test_net(&cfg, &net, ls, 3, 4, 2, 9, 9, 64, NULL) == 0, "plan");
    int B = 5;
    /* layer 1's input, as a forward would leave it (the counts depend on nothing else) */
    size_t chw = sbs_act_floats(&net, 1);
    float *x = xmalloc(B * chw * sizeof *x);
    sbs_test_fill(x, B * chw, 4, 0.0f, 1.0f);
    uint8_t labels[5] = {3, 0, 9, 1, 1};
    sbs_spike_key key = {.seed = 2, .pass = 1, .first_sample = 0};
    char dir[] = "/tmp/sbs-noisy-XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    sbs_noisy nz;
    sbs_err e;
    CHECK(sbs_noisy_open(&nz, &net, dir, 3, &e) == 0 && nz.on && nz.layer == 1, "open: layer %d",
          nz.layer);
    CHECK(sbs_noisy_add(&nz, x, B, &key, labels, 0, NULL, &e) == 0, "%s", e.msg);
    CHECK(nz.files == 1, "%ld files after 5 patterns, want 1 (3 a file)", nz.files);
    CHECK(sbs_noisy_finish(&nz, &e) == 0 && nz.files == 2, "finish: %ld files", nz.files);
    const sbs_layer *L = &net.L[1];
    size_t per = (size_t)L->g.K * L->X * L->Y;
    int64_t *cnt = xmalloc(B * per * sizeof *cnt);
    sbs_noisy_counts(&nz.args, x, B, &key, NULL, cnt);
    char p0[PATH_MAX], p1[PATH_MAX], copy[PATH_MAX];
    snprintf(p0, sizeof p0, "%s/noisy_picture_data/64/0.npz", dir);
    snprintf(p1, sizeof p1, "%s/noisy_picture_data/64/1.npz", dir);
    snprintf(copy, sizeof copy, "%s/copy.npz", dir);
    if (check_npz(p0, cnt, labels, 3, L) || check_npz(p1, cnt + 3 * per, labels + 3, 2, L))
        return 1;
    CHECK(rename(p0, copy) == 0, "rename");
    CHECK(sbs_noisy_add(&nz, x, B, &key, labels, 0, NULL, &e) == 0, "%s", e.msg);
    CHECK(same_file(p0, copy), "the same pass written twice differs");
    CHECK(sbs_noisy_add(&nz, x, B, &key, labels, 7, NULL, &e) != 0 && strstr(e.msg, "in order") &&
              nz.failed,
          "images out of order are refused: %s", e.msg);
    unlink(p0);
    unlink(p1);
    unlink(copy);
    snprintf(p0, sizeof p0, "%s/noisy_picture_data/64", dir);
    rmdir(p0);
    snprintf(p0, sizeof p0, "%s/noisy_picture_data", dir);
    rmdir(p0);
    rmdir(dir);
    /* a folder that cannot be created: one line naming it */
    sbs_noisy bad;
    CHECK(sbs_noisy_open(&bad, &net, "/proc/no-such/x", 3, &e) != 0 &&
              strstr(e.msg, "/proc/no-such"),
          "an impossible folder is refused: %s", e.msg);
    sbs_noisy_close(&bad);
    sbs_noisy_close(&nz);
    free(x);
    free(cnt);
    sbs_net_free(&net);
    return 0;
}

static int test_noise_parse(void)
{
    sbs_noise nz;
    sbs_err e;
    CHECK(sbs_noise_parse("gaussian:0,0.1,0.25", &nz, &e) == 0 && nz.kind == SBS_NOISE_GAUSSIAN &&
              nz.n == 3 && nz.level[2] == 0.25,
          "gaussian:0,0.1,0.25");
    CHECK(sbs_noise_parse("saltpepper:1", &nz, &e) == 0 && nz.n == 1, "saltpepper:1");
    CHECK(sbs_noise_parse("poisson:0.01", &nz, &e) == 0, "poisson");
    CHECK(sbs_noise_parse("uniform:0.3", &nz, &e) == 0, "uniform");
    static const char *const bad[] = {"",
                                      "gauss:0.1",
                                      "gaussian",
                                      "gaussian:",
                                      "gaussian:0.1,",
                                      "gaussian:-1",
                                      "gaussian:x",
                                      "gaussian:0.1x",
                                      "gaussian:nan",
                                      "gaussian:inf",
                                      "saltpepper:1.5",
                                      "gaussian:0,,1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.msg[0] = 0;
        CHECK(sbs_noise_parse(bad[i], &nz, &e) != 0, "'%s' is accepted", bad[i]);
        CHECK(!strncmp(e.msg, "--noise: ", 9) && !strchr(e.msg, '\n'), "'%s': message '%s'", bad[i],
              e.msg);
    }
    return 0;
}

/* level 0 is the identity; the result stays in [1e-20, 1]; the same image gets the same
 * noise whether applied alone or within a batch; different seeds differ */
static int test_noise_apply(void)
{
    int n = 6;
    size_t px = 200;
    float *x = xmalloc(n * px * sizeof *x), *y = xmalloc(n * px * sizeof *y);
    float *z = xmalloc(n * px * sizeof *z);
    sbs_test_fill(x, n * px, 5, 0.0f, 1.0f);
    for (size_t i = 0; i < px; i++) x[i] = 1e-20f; /* a black image */
    for (int k = SBS_NOISE_GAUSSIAN; k <= SBS_NOISE_POISSON; k++) {
        memcpy(y, x, n * px * sizeof *y);
        sbs_noise_apply(k, 0.0, 1, y, n, px, 0);
        CHECK(!memcmp(x, y, n * px * sizeof *x), "%s level 0 changes the images",
              sbs_noise_name(k));
        double level = k == SBS_NOISE_SALTPEPPER ? 0.3 : 0.5;
        memcpy(y, x, n * px * sizeof *y);
        sbs_noise_apply(k, level, 1, y, n, px, 100);
        size_t changed = 0;
        for (size_t i = 0; i < n * px; i++) {
            CHECK(y[i] >= 1e-20f && y[i] <= 1.0f, "%s: pixel %zu = %g outside [1e-20, 1]",
                  sbs_noise_name(k), i, (double)y[i]);
            changed += y[i] != x[i];
        }
        CHECK(changed > n * px / 5, "%s: only %zu of %zu pixels changed", sbs_noise_name(k),
              changed, n * px);
        memcpy(z, x, n * px * sizeof *z);
        sbs_noise_apply(k, level, 1, z, 2, px, 100);
        sbs_noise_apply(k, level, 1, z + 2 * px, n - 2, px, 102);
        CHECK(!memcmp(y, z, n * px * sizeof *y), "%s: batch split changes the noise",
              sbs_noise_name(k));
        memcpy(z, x, n * px * sizeof *z);
        sbs_noise_apply(k, level, 2, z, n, px, 100);
        CHECK(memcmp(y, z, n * px * sizeof *y), "%s: seeds 1 and 2 give the same noise",
              sbs_noise_name(k));
    }
    free(x);
    free(y);
    free(z);
    return 0;
}

/* the noise has the documented statistics on mid-grey images (0.5), where clipping is rare:
 * gaussian std s, uniform std a/sqrt(3), saltpepper fraction p, poisson mean x, var s*x */
static int test_noise_stats(void)
{
    size_t px = 1000;
    int n = 200;
    float *y = xmalloc(n * px * sizeof *y);
    struct {
        int kind;
        double level, mean, sd, frac;
    } c[] = {
        {SBS_NOISE_GAUSSIAN, 0.1, 0.5, 0.1, 1},
        {SBS_NOISE_UNIFORM, 0.2, 0.5, 0.2 / sqrt(3.0), 1},
        {SBS_NOISE_POISSON, 0.01, 0.5, sqrt(0.01 * 0.5), 0},
        {SBS_NOISE_SALTPEPPER, 0.1, 0.5, 0, 0.1},
    };
    for (size_t j = 0; j < sizeof c / sizeof *c; j++) {
        for (size_t i = 0; i < n * px; i++) y[i] = 0.5f;
        sbs_noise_apply(c[j].kind, c[j].level, 9, y, n, px, 0);
        double s = 0, s2 = 0;
        size_t changed = 0;
        for (size_t i = 0; i < n * px; i++) {
            s += y[i];
            s2 += (double)y[i] * y[i];
            changed += y[i] != 0.5f;
        }
        double N = (double)n * px, mean = s / N, sd = sqrt(s2 / N - mean * mean);
        const char *name = sbs_noise_name(c[j].kind);
        if (c[j].kind == SBS_NOISE_SALTPEPPER) {
            double f = changed / N;
            CHECK(fabs(f - c[j].frac) < 0.005, "%s: %.4f of the pixels changed, want %.3f", name, f,
                  c[j].frac);
            continue;
        }
        CHECK(fabs(mean - c[j].mean) < 0.002, "%s %g: mean %.5f, want %.3f", name, c[j].level, mean,
              c[j].mean);
        CHECK(fabs(sd / c[j].sd - 1) < 0.02, "%s %g: standard deviation %.5f, want %.5f", name,
              c[j].level, sd, c[j].sd);
    }
    free(y);
    return 0;
}

int main(void)
{
    static const sbs_test_case cases[] = {
        {"counts equal the oracle's spikes and sum to T", test_counts_match_oracle},
        {"counts: same for 1/3 threads and a split batch", test_counts_threads_split},
        {"counts: full-layer spikes routed as the forward routes them", test_counts_full_layer},
        {".npy bytes are numpy's", test_npy_bytes},
        {".npz writer: first SbS layer, files of batch_size, same bytes twice", test_writer},
        {"--noise parser", test_noise_parse},
        {"noise: level 0, range, batch split, seed", test_noise_apply},
        {"noise statistics", test_noise_stats},
    };
    return SBS_TEST_RUN(cases);
}
