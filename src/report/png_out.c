/* png_out.c — weight mosaics and confusion heat maps as PNG (png_out.h documents the layout):
 * pictures are drawn into an RGB buffer, encoded with libpng into memory and written with
 * sbs_write_file_atomic. */
#include "sbs/png_out.h"
#include "sbs/net.h"
#include "sbs/npy.h"

#include <limits.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t frame_rgb[3] = {SBS_PNG_FRAME_RGB};
static const uint8_t gap_rgb[3] = {SBS_PNG_GAP_RGB};
static const uint8_t hot_rgb[3] = {SBS_PNG_HOT_RGB};

/* ---------------------------------------------------------------- encoding */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = xrealloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

int sbs_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, sbs_err *e)
{
    if (width < 1 || height < 1 || width > 1000000 || height > 1000000)
        return sbs_fail(e, "%s: cannot write a %d x %d picture", path, width, height);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return sbs_fail(e, "%s: libpng could not start (out of memory)", path);
    }
    membuf m = {0};
    png_bytep *rows = xmalloc((size_t)height * sizeof *rows);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(m.p);
        return sbs_fail(e, "%s: libpng failed to encode the picture", path);
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * width * 3);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    int r = sbs_write_file_atomic(path, m.p, m.n, e);
    free(m.p);
    return r;
}

/* ---------------------------------------------------------------- drawing */

typedef struct {
    uint8_t *px;
    int w, h;
} canvas;

static void canvas_init(canvas *c, int w, int h, const uint8_t fill[3])
{
    c->w = w;
    c->h = h;
    c->px = xmalloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h; i++) memcpy(c->px + 3 * i, fill, 3);
}

static void fill_rect(canvas *c, int x0, int y0, int w, int h, const uint8_t rgb[3])
{
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) memcpy(c->px + ((size_t)y * c->w + x) * 3, rgb, 3);
}

/* ---------------------------------------------------------------- weight mosaics */

typedef struct {
    int gc, gr, g; /* channel grid columns, rows, gap */
    int tile_w, tile_h;
    int tc, tr; /* tile grid columns, rows */
    int f;      /* frame width */
    bool rgb;
} mosaic_layout;

static int ceil_sqrt(int n)
{
    int r = (int)sqrt((double)n);
    while (r * r < n) r++;
    while (r > 1 && (r - 1) * (r - 1) >= n) r--;
    return r < 1 ? 1 : r;
}

static void layout(const sbs_png_kernels *k, int s, mosaic_layout *m)
{
    m->rgb = k->C == 3;
    m->gc = m->rgb ? 1 : ceil_sqrt(k->C);
    m->gr = m->rgb ? 1 : (k->C + m->gc - 1) / m->gc;
    m->g = k->kx * k->ky > 1 ? 1 : 0;
    m->tile_h = m->gr * k->kx * s + (m->gr - 1) * m->g;
    m->tile_w = m->gc * k->ky * s + (m->gc - 1) * m->g;
    m->tc = ceil_sqrt(k->N);
    m->tr = (k->N + m->tc - 1) / m->tc;
    m->f = m->g && m->gc * m->gr > 1 ? 3 : 1;
}

void sbs_png_mosaic_size(const sbs_png_kernels *k, int s, int *width, int *height)
{
    mosaic_layout m;
    layout(k, s, &m);
    *width = m.tc * (m.tile_w + m.f) + m.f;
    *height = m.tr * (m.tile_h + m.f) + m.f;
}

int sbs_png_auto_scale(const sbs_png_kernels *k)
{
    int big = k->kx > k->ky ? k->kx : k->ky;
    int s = (48 + big - 1) / big;
    s = s < 1 ? 1 : s > 12 ? 12 : s;
    for (; s > 1; s--) {
        int w, h;
        sbs_png_mosaic_size(k, s, &w, &h);
        if (w <= 2400 && h <= 2400) break;
    }
    return s;
}

int sbs_png_mosaic(const char *path, const sbs_png_kernels *k, const float *w, sbs_err *e)
{
    if (k->N < 1 || k->C < 1 || k->kx < 1 || k->ky < 1)
        return sbs_fail(e, "%s: no weights to draw (%d kernels of %d x %d x %d)", path, k->N, k->C,
                        k->kx, k->ky);
    int s = k->scale > 0 ? k->scale : sbs_png_auto_scale(k);
    mosaic_layout m;
    layout(k, s, &m);
    canvas cv;
    canvas_init(&cv, m.tc * (m.tile_w + m.f) + m.f, m.tr * (m.tile_h + m.f) + m.f, frame_rgb);
    int kk = k->kx * k->ky, K = k->C * kk;
    for (int n = 0; n < k->N; n++) {
        int ty = m.f + (n / m.tc) * (m.tile_h + m.f), tx = m.f + (n % m.tc) * (m.tile_w + m.f);
        fill_rect(&cv, tx, ty, m.tile_w, m.tile_h, gap_rgb);
        const float *wn = w + (size_t)n * k->sn;
        float lo = wn[0], hi = wn[0];
        for (int i = 1; i < K; i++) {
            float v = wn[(size_t)i * k->sk];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        for (int c = 0; c < k->C; c++) {
            int by = ty + (m.rgb ? 0 : (c / m.gc) * (k->kx * s + m.g));
            int bx = tx + (m.rgb ? 0 : (c % m.gc) * (k->ky * s + m.g));
            for (int u = 0; u < k->kx; u++)
                for (int v = 0; v < k->ky; v++) {
                    float x = wn[(size_t)(c * kk + u * k->ky + v) * k->sk];
                    uint8_t g = hi > lo ? (uint8_t)lrintf(255.0f * (x - lo) / (hi - lo)) : 128;
                    for (int yy = 0; yy < s; yy++)
                        for (int xx = 0; xx < s; xx++) {
                            uint8_t *p =
                                cv.px + ((size_t)(by + u * s + yy) * cv.w + bx + v * s + xx) * 3;
                            if (m.rgb)
                                p[c] = g;
                            else
                                p[0] = p[1] = p[2] = g;
                        }
                }
        }
    }
    int r = sbs_png_write_rgb(path, cv.px, cv.w, cv.h, e);
    free(cv.px);
    return r;
}

/* ---------------------------------------------------------------- confusion heat map */

/* 3x5 digits, one row of 3 bits per entry (bit 2 = left) */
static const uint8_t digit_rows[10][5] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7},
                                          {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
                                          {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7},
                                          {7, 5, 7, 1, 7}};

/* the number centred in the cell at (x0, y0), digits drawn at twice their size */
static void draw_number(canvas *c, int x0, int y0, int cell, int value, const uint8_t rgb[3])
{
    char s[16];
    int nd = snprintf(s, sizeof s, "%d", value);
    int w = nd * 6 + (nd - 1) * 2, x = x0 + (cell - w) / 2, y = y0 + (cell - 10) / 2;
    for (int d = 0; d < nd; d++, x += 8)
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++)
                if (digit_rows[s[d] - '0'][r] & (4 >> b))
                    fill_rect(c, x + 2 * b, y + 2 * r, 2, 2, rgb);
}

int sbs_png_confusion(const char *path, const long *conf, int nc, sbs_err *e)
{
    if (nc < 1 || nc > 1000)
        return sbs_fail(e, "%s: cannot draw a confusion matrix of %d classes", path, nc);
    const int cell = SBS_PNG_CELL;
    int side = nc * (cell + 1) + 1;
    canvas cv;
    canvas_init(&cv, side, side, frame_rgb);
    static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    for (int i = 0; i < nc; i++) {
        long row = 0;
        for (int j = 0; j < nc; j++) row += conf[(size_t)i * nc + j];
        for (int j = 0; j < nc; j++) {
            double f = row > 0 ? (double)conf[(size_t)i * nc + j] / row : 0.0;
            uint8_t rgb[3];
            for (int q = 0; q < 3; q++) rgb[q] = (uint8_t)lrint(255.0 + (hot_rgb[q] - 255.0) * f);
            int x = 1 + j * (cell + 1), y = 1 + i * (cell + 1);
            fill_rect(&cv, x, y, cell, cell, rgb);
            draw_number(&cv, x, y, cell, (int)lrint(100.0 * f), f > 0.5 ? white : black);
        }
    }
    int r = sbs_png_write_rgb(path, cv.px, cv.w, cv.h, e);
    free(cv.px);
    return r;
}

/* ---------------------------------------------------------------- a network's pictures */

int sbs_png_net_weights(const char *dir, const sbs_net *net, const char *suffix, sbs_err *e)
{
    if (sbs_mkdir_p(dir, e) != 0) return -1;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        /* SbS-like weights: (K, ldw), neuron = column; the others (O, C, kx, ky) */
        sbs_png_kernels k = {.N = L->N,
                             .C = L->g.C,
                             .kx = L->g.kx,
                             .ky = L->g.ky,
                             .sn = L->sbs_w ? 1 : (size_t)L->g.K,
                             .sk = L->sbs_w ? (size_t)L->ldw : 1};
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/weights_L%d%s.png", dir, l, suffix);
        if (sbs_png_mosaic(path, &k, L->weight, e) != 0) return -1;
    }
    return 0;
}

int sbs_png_epoch(const char *dir, const sbs_net *net, int epoch, const long *conf, sbs_err *e)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, "_S%d", epoch);
    if (sbs_png_net_weights(dir, net, suffix, e) != 0) return -1;
    if (!conf) return 0;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/confusion%s.png", dir, suffix);
    return sbs_png_confusion(path, conf, net->n_out, e);
}
