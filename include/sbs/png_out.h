/* png_out.h — pictures with libpng: mosaics of learned weights (one tile per neuron) and the
 * confusion matrix as a heat map, for `sbs-eval --png DIR` and `sbs-train --png DIR`.
 * Every file is 8-bit RGB, written atomically (temporary file, fsync, rename).
 *
 * Weight mosaic of N kernels with C input channels of kx rows x ky columns; weight (n, c, u, v)
 * is w[n * sn + k * sk] with k = c*kx*ky + u*ky + v (SbS (K, ldw): sn = 1, sk = ldw; CONV2D
 * (O, C, kx, ky): sn = K, sk = 1). Layout, with s = pixels per weight:
 *   - a tile per neuron: C == 3 gives one kx*s x ky*s RGB block (channel c = colour
 *     component c); any other C a grid of grey blocks, gc = ceil(sqrt(C)) columns and
 *     gr = ceil(C / gc) rows, channel c at grid row c / gc, column c % gc, with a gap of
 *     g = 1 pixel (SBS_PNG_GAP) between blocks when kx*ky > 1 and none for 1x1 kernels;
 *     tile_h = gr*kx*s + (gr-1)*g, tile_w = gc*ky*s + (gc-1)*g (gr = gc = 1 for RGB);
 *   - tiles in tc = ceil(sqrt(N)) columns and tr = ceil(N / tc) rows, neuron n at row n / tc,
 *     column n % tc, with a frame (SBS_PNG_FRAME) of f pixels around and between them, f = 3
 *     where tiles have gaps (g = 1 and more than one channel block), else 1: the image is
 *     tc*(tile_w+f)+f pixels wide and tr*(tile_h+f)+f high;
 *   - weight (n, c, u, v) fills the s x s square whose top-left pixel is
 *       y = f + (n/tc)*(tile_h+f) + (c/gc)*(kx*s+g) + u*s,
 *       x = f + (n%tc)*(tile_w+f) + (c%gc)*(ky*s+g) + v*s;
 *   - contrast per tile: value round(255 * (w - lo) / (hi - lo)) with lo, hi the smallest and
 *     largest weight of neuron n (all channels); 128 where hi == lo. Grey tiles have R = G = B.
 * Unused grid places are filled with the gap (channels) or frame (tiles) colour. */
#ifndef SBS_PNG_OUT_H
#define SBS_PNG_OUT_H

#include "sbs/common.h"

#include <stddef.h>
#include <stdint.h>

struct sbs_net;

#define SBS_PNG_FRAME_RGB 70, 110, 180 /* frame around and between tiles / cells */
#define SBS_PNG_GAP_RGB 150, 70, 70    /* gap between the channel blocks of a tile */

typedef struct {
    int N, C, kx, ky; /* kernels, input channels, kernel rows, kernel columns */
    size_t sn, sk;    /* strides of neuron and window index k */
    int scale;        /* pixels per weight; <= 0: automatic (sbs_png_auto_scale) */
} sbs_png_kernels;

/* Automatic scale: ceil(48 / max(kx, ky)) clamped to 1..12, then lowered (not below 1) until
 * the mosaic fits in 2400 x 2400 pixels. */
int sbs_png_auto_scale(const sbs_png_kernels *k);
/* Size of the mosaic at scale s (> 0). */
void sbs_png_mosaic_size(const sbs_png_kernels *k, int s, int *width, int *height);
/* Write the mosaic of k's weights w to path. */
int sbs_png_mosaic(const char *path, const sbs_png_kernels *k, const float *w, sbs_err *e);

/* Confusion matrix (nc x nc, row = label, column = prediction) as a heat map: a cell of
 * SBS_PNG_CELL x SBS_PNG_CELL pixels per entry, row i at y = 1 + i*(SBS_PNG_CELL+1), column j at
 * x = 1 + j*(SBS_PNG_CELL+1), a 1-pixel frame around and between cells (the image is
 * nc*(SBS_PNG_CELL+1)+1 pixels square). The colour goes linearly from white (fraction 0) to
 * SBS_PNG_HOT_RGB (fraction 1) with the entry's fraction of its row (recall); the rounded
 * percentage is written in the middle of the cell (3x5-pixel digits at twice their size, black
 * on light, white on dark cells; a cell's outer 6 pixels stay free of text). */
#define SBS_PNG_CELL 32
#define SBS_PNG_HOT_RGB 8, 48, 107
int sbs_png_confusion(const char *path, const long *conf, int nc, sbs_err *e);

/* Every layer of net with learned weights (SbS, SbS LOCAL, NNMF, CONV2D, APPROX CONV2D):
 * dir/weights_L{l}{suffix}.png (dir and its parents are created if missing). */
int sbs_png_net_weights(const char *dir, const struct sbs_net *net, const char *suffix, sbs_err *e);
/* The trainer's pictures after epoch `epoch`: weights_L{l}_S{epoch}.png and, when conf is
 * not NULL, confusion_S{epoch}.png (conf: n_out x n_out counts of the test pass). */
int sbs_png_epoch(const char *dir, const struct sbs_net *net, int epoch, const long *conf,
                  sbs_err *e);

/* Encode rgb (height rows of width*3 bytes) as an 8-bit RGB PNG and write it atomically. */
int sbs_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, sbs_err *e);

#endif
