/* test_png.c — the pictures of png_out.h, read back with libpng: weight mosaics of SbS
 * (K, ldw) and CONV2D (O, C, kx, ky) layers planned as in a real net, with one-hot weights
 * that must land in the pixels the header's layout formula gives (every pixel of the picture
 * compared with an image drawn here from that formula); channel grids with gaps, RGB tiles
 * for three channels, contrast per tile, a constant tile; the confusion heat map's size,
 * colours and text; atomic writes (no temporary file left) and a clear error for a folder
 * that does not exist. One line per case; exit 1 on failure. */
#include "sbs/png_out.h"
#include "sbs_test.h"

#include <dirent.h>
#include <png.h>
#include <unistd.h>

static char tmpdir[256];

/* ------------------------------------------------------------------ reading back */

typedef struct {
    int w, h;
    uint8_t *px; /* RGB */
} image;

/* Decode path with libpng; the file must be 8-bit RGB without alpha. */
static int read_png(const char *path, image *im)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_file(&pi, path), "%s: %s", path, pi.message);
    CHECK(pi.format == PNG_FORMAT_RGB, "%s: format %#x, expected 8-bit RGB", path, pi.format);
    im->w = (int)pi.width;
    im->h = (int)pi.height;
    im->px = malloc(PNG_IMAGE_SIZE(pi));
    CHECK(png_image_finish_read(&pi, NULL, im->px, 0, NULL), "%s: %s", path, pi.message);
    return 0;
}

static const uint8_t *pixel(const image *im, int x, int y)
{
    return im->px + ((size_t)y * im->w + x) * 3;
}

static bool is_rgb(const uint8_t *p, int r, int g, int b)
{
    return p[0] == r && p[1] == g && p[2] == b;
}

/* ------------------------------------------------------------------ the layout, drawn here */

static int ceil_sqrt(int n)
{
    int r = 1;
    while (r * r < n) r++;
    return r;
}

/* The mosaic of one-hot kernels (neuron n: 1 at window index hot[n], 0 elsewhere) as the
 * header documents it, for grey tiles (C != 3): frame, gaps, black, and the hot square white. */
static uint8_t *expected_one_hot(int N, int C, int kx, int ky, int s, const int *hot, int *w,
                                 int *h)
{
    static const uint8_t frame[3] = {SBS_PNG_FRAME_RGB}, gap[3] = {SBS_PNG_GAP_RGB};
    int gc = ceil_sqrt(C), gr = (C + gc - 1) / gc, g = kx * ky > 1 ? 1 : 0;
    int f = g && gc * gr > 1 ? 3 : 1;
    int th = gr * kx * s + (gr - 1) * g, tw = gc * ky * s + (gc - 1) * g;
    int tc = ceil_sqrt(N), tr = (N + tc - 1) / tc;
    *w = tc * (tw + f) + f;
    *h = tr * (th + f) + f;
    uint8_t *px = malloc((size_t)*w * *h * 3);
    for (int i = 0; i < *w * *h; i++) memcpy(px + 3 * i, frame, 3);
    for (int n = 0; n < N; n++) {
        int y0 = f + (n / tc) * (th + f), x0 = f + (n % tc) * (tw + f);
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++) memcpy(px + ((size_t)(y0 + y) * *w + x0 + x) * 3, gap, 3);
        for (int c = 0; c < C; c++)
            for (int u = 0; u < kx; u++)
                for (int v = 0; v < ky; v++) {
                    bool on = c * kx * ky + u * ky + v == hot[n];
                    int y = y0 + (c / gc) * (kx * s + g) + u * s;
                    int x = x0 + (c % gc) * (ky * s + g) + v * s;
                    for (int a = 0; a < s; a++)
                        memset(px + ((size_t)(y + a) * *w + x) * 3, on ? 255 : 0, (size_t)s * 3);
                }
    }
    return px;
}

/* s as the header's automatic scale gives it (the mosaics here are far below 2400 pixels) */
static int auto_scale(int kx, int ky)
{
    int big = kx > ky ? kx : ky, s = (48 + big - 1) / big;
    return s < 1 ? 1 : s > 12 ? 12 : s;
}

/* compare the picture at path with the expected one, naming the first differing pixel */
static int same_picture(const char *path, const uint8_t *want, int w, int h)
{
    image im;
    if (read_png(path, &im) != 0) return 1;
    CHECK(im.w == w && im.h == h, "%s: %d x %d pixels, expected %d x %d", path, im.w, im.h, w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = pixel(&im, x, y), *q = want + ((size_t)y * w + x) * 3;
            CHECK(memcmp(p, q, 3) == 0, "%s: pixel (%d, %d) is (%d, %d, %d), expected (%d, %d, %d)",
                  path, x, y, p[0], p[1], p[2], q[0], q[1], q[2]);
        }
    free(im.px);
    return 0;
}

/* Draw the weights of the one-layer net (one-hot kernels: neuron n at window index hot[n])
 * with sbs_png_net_weights and compare every pixel with the documented layout; frees net. */
static int draw_and_compare(sbs_net *net, const char *suffix, const int *hot)
{
    const sbs_layer *L = &net->L[0];
    int r = sbs_png_net_weights(tmpdir, net, suffix, NULL), w, h;
    uint8_t *want =
        expected_one_hot(L->N, L->g.C, L->g.kx, L->g.ky, auto_scale(L->g.kx, L->g.ky), hot, &w, &h);
    char path[512];
    snprintf(path, sizeof path, "%s/weights_L0%s.png", tmpdir, suffix);
    if (r != 0)
        printf("    FAIL writing %s\n", path);
    else
        r = same_picture(path, want, w, h);
    free(want);
    sbs_net_free(net);
    return r;
}

/* A net of one layer of `kind`, C -> N with a kx x ky kernel on a C x kx x ky input (one
 * output position), its weights all zero. */
static int one_layer(sbs_config *cfg, sbs_net *net, int kind, int C, int N, int kx, int ky)
{
    sbs_test_layer ls[] = {{.kind = kind, .in = C, .out = N, .k = {kx, ky}}};
    CHECK(sbs_test_net(cfg, net, ls, 1, N, C, kx, ky, 8, NULL) == 0, "plan");
    memset(net->L[0].weight, 0, sbs_weight_floats(&net->L[0]) * sizeof(float));
    return 0;
}

/* ------------------------------------------------------------------ cases */

/* SbS (K, ldw) weights of a planned layer, one input channel: one tile per neuron */
static int test_sbs_one_hot(void)
{
    static sbs_config cfg;
    sbs_net net;
    enum { N = 5, KX = 3, KY = 2 };
    if (one_layer(&cfg, &net, SBS_L_SBS, 1, N, KX, KY) != 0) return 1;
    sbs_layer *L = &net.L[0];
    CHECK(L->sbs_w && L->g.K == KX * KY, "an SbS layer with K = %d", L->g.K);
    int hot[N];
    for (int n = 0; n < N; n++) {
        hot[n] = (4 * n + 1) % (KX * KY);
        L->weight[(size_t)hot[n] * L->ldw + n] = 1.0f;
    }
    return draw_and_compare(&net, "_t", hot);
}

/* CONV2D (O, C, kx, ky) weights, four input channels: a 2 x 2 channel grid with gaps */
static int test_conv_channel_grid(void)
{
    static sbs_config cfg;
    sbs_net net;
    enum { N = 3, C = 4, KX = 2, KY = 3 };
    if (one_layer(&cfg, &net, SBS_L_CONV2D, C, N, KX, KY) != 0) return 1;
    sbs_layer *L = &net.L[0];
    CHECK(!L->sbs_w && L->n_w == (size_t)N * C * KX * KY, "a CONV2D layer");
    int K = C * KX * KY, hot[N];
    for (int n = 0; n < N; n++) {
        hot[n] = (7 * n + 5) % K; /* different channels and places */
        L->weight[(size_t)n * K + hot[n]] = 0.5f;
    }
    return draw_and_compare(&net, "", hot);
}

/* three input channels: one RGB block per tile, channel c = colour component c */
static int test_rgb_tiles(void)
{
    static sbs_config cfg;
    sbs_net net;
    enum { N = 3, KX = 2, KY = 2 };
    if (one_layer(&cfg, &net, SBS_L_SBS, 3, N, KX, KY) != 0) return 1;
    sbs_layer *L = &net.L[0];
    /* neuron n: 1 in channel n at (u, v) = (1, 0) */
    for (int n = 0; n < N; n++) L->weight[(size_t)(n * KX * KY + 1 * KY + 0) * L->ldw + n] = 1.0f;
    CHECK(sbs_png_net_weights(tmpdir, &net, "_rgb", NULL) == 0, "write");
    char path[512];
    snprintf(path, sizeof path, "%s/weights_L0_rgb.png", tmpdir);
    image im;
    if (read_png(path, &im) != 0) return 1;
    int s = auto_scale(KX, KY), t = KX * s; /* square tiles, 1-pixel frame, 2 x 2 tile grid */
    CHECK(im.w == 2 * (t + 1) + 1 && im.h == 2 * (t + 1) + 1, "%d x %d pixels", im.w, im.h);
    for (int n = 0; n < N; n++) {
        int x0 = 1 + (n % 2) * (t + 1), y0 = 1 + (n / 2) * (t + 1);
        for (int u = 0; u < KX; u++)
            for (int v = 0; v < KY; v++) {
                const uint8_t *p = pixel(&im, x0 + v * s + s / 2, y0 + u * s + s / 2);
                bool on = u == 1 && v == 0;
                CHECK(is_rgb(p, on && n == 0 ? 255 : 0, on && n == 1 ? 255 : 0,
                             on && n == 2 ? 255 : 0),
                      "neuron %d (%d, %d): (%d, %d, %d)", n, u, v, p[0], p[1], p[2]);
            }
    }
    const uint8_t *p = pixel(&im, 1 + (t + 1) + 2, 1 + (t + 1) + 2); /* the unused 4th tile */
    CHECK(is_rgb(p, SBS_PNG_FRAME_RGB), "unused tile: (%d, %d, %d)", p[0], p[1], p[2]);
    free(im.px);
    sbs_net_free(&net);
    return 0;
}

/* contrast per tile: a ramp spans 0..255 whatever its range and sign; a constant tile is 128 */
static int test_contrast(void)
{
    enum { N = 2, K = 4 };
    /* conv layout: neuron n's weights are w[n*K .. n*K+3] */
    float w[N * K] = {-3.0f, -1.0f, 1.0f, 3.0f, 0.25f, 0.25f, 0.25f, 0.25f};
    sbs_png_kernels k = {.N = N, .C = 1, .kx = 2, .ky = 2, .sn = K, .sk = 1, .scale = 1};
    char path[512];
    snprintf(path, sizeof path, "%s/contrast.png", tmpdir);
    CHECK(sbs_png_mosaic(path, &k, w, NULL) == 0, "write");
    image im;
    if (read_png(path, &im) != 0) return 1;
    int wd, ht;
    sbs_png_mosaic_size(&k, 1, &wd, &ht);
    CHECK(im.w == 2 * 3 + 1 && im.h == 3 + 1 && wd == im.w && ht == im.h,
          "%d x %d pixels (size function: %d x %d), expected 7 x 4", im.w, im.h, wd, ht);
    /* tile 0 at (1, 1): rows u, columns v; values -3, -1, 1, 3 -> 0, 85, 170, 255 */
    const int want[4] = {0, 85, 170, 255};
    for (int i = 0; i < 4; i++) {
        const uint8_t *p = pixel(&im, 1 + i % 2, 1 + i / 2);
        CHECK(is_rgb(p, want[i], want[i], want[i]), "ramp %d: (%d, %d, %d), expected %d", i, p[0],
              p[1], p[2], want[i]);
    }
    for (int i = 0; i < 4; i++) {
        const uint8_t *p = pixel(&im, 4 + i % 2, 1 + i / 2);
        CHECK(is_rgb(p, 128, 128, 128), "constant tile: (%d, %d, %d)", p[0], p[1], p[2]);
    }
    free(im.px);
    return 0;
}

/* the confusion heat map: size, the colour of a cell by its row fraction, the text */
static int test_confusion(void)
{
    enum { NC = 3 };
    const long conf[NC * NC] = {5, 0, 0, 0, 5, 0, 1, 0, 4};
    char path[512];
    snprintf(path, sizeof path, "%s/confusion.png", tmpdir);
    CHECK(sbs_png_confusion(path, conf, NC, NULL) == 0, "write");
    image im;
    if (read_png(path, &im) != 0) return 1;
    const int cell = SBS_PNG_CELL, side = NC * (cell + 1) + 1;
    CHECK(im.w == side && im.h == side, "%d x %d pixels, expected %d square", im.w, im.h, side);
    static const uint8_t hot[3] = {SBS_PNG_HOT_RGB};
    for (int i = 0; i < NC; i++) {
        long row = 0;
        for (int j = 0; j < NC; j++) row += conf[i * NC + j];
        for (int j = 0; j < NC; j++) {
            double fr = (double)conf[i * NC + j] / row;
            int x = 1 + j * (cell + 1), y = 1 + i * (cell + 1);
            /* a corner inside the cell (no text there) */
            const uint8_t *p = pixel(&im, x + 2, y + 2);
            for (int q = 0; q < 3; q++) {
                int want = (int)lrint(255.0 + (hot[q] - 255.0) * fr);
                CHECK(abs(p[q] - want) <= 1, "cell (%d, %d) component %d: %d, expected %d", i, j, q,
                      p[q], want);
            }
            const uint8_t *fp = pixel(&im, x - 1, y + 3);
            CHECK(is_rgb(fp, SBS_PNG_FRAME_RGB), "frame left of cell (%d, %d)", i, j);
            /* text in the middle: some pixels black (light cell) or white (dark cell) */
            int text = 0;
            for (int yy = y + 4; yy < y + cell - 4; yy++)
                for (int xx = x + 4; xx < x + cell - 4; xx++) {
                    const uint8_t *t = pixel(&im, xx, yy);
                    text += fr > 0.5 ? is_rgb(t, 255, 255, 255) : is_rgb(t, 0, 0, 0);
                }
            CHECK(text >= 20, "cell (%d, %d): %d text pixels", i, j, text);
        }
    }
    free(im.px);
    return 0;
}

/* writes are atomic (no temporary file stays behind); a missing folder is a clear error */
static int test_files(void)
{
    DIR *d = opendir(tmpdir);
    CHECK(d, "%s", tmpdir);
    struct dirent *de;
    int pngs = 0;
    while ((de = readdir(d))) {
        CHECK(!strstr(de->d_name, ".tmp"), "temporary file left: %s", de->d_name);
        pngs += strstr(de->d_name, ".png") != NULL;
    }
    closedir(d);
    CHECK(pngs == 5, "%d pictures in %s, expected 5", pngs, tmpdir);
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/folder/c.png", tmpdir);
    const long conf[1] = {1};
    sbs_err e = {{0}};
    CHECK(sbs_png_confusion(path, conf, 1, &e) != 0, "writing into a missing folder failed");
    CHECK(strstr(e.msg, path) != NULL, "the error names the file: %s", e.msg);
    return 0;
}

static int cleanup(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
        if (de->d_name[0] != '.') unlink(p);
    }
    if (d) closedir(d);
    CHECK(rmdir(tmpdir) == 0, "remove %s", tmpdir);
    return 0;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sbs_test_png.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    static const sbs_test_case cases[] = {
        {"SbS layer: one-hot weights land in the documented pixels", test_sbs_one_hot},
        {"CONV2D layer: channel grid with gaps, one-hot pixels", test_conv_channel_grid},
        {"three channels: RGB tiles", test_rgb_tiles},
        {"contrast per tile; constant tile grey", test_contrast},
        {"confusion heat map: size, colours, text", test_confusion},
        {"atomic writes; missing folder is an error", test_files},
        {"clean up", cleanup},
    };
    return SBS_TEST_RUN(cases);
}
