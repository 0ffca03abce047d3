/* data.h — the data sets (SPEC §4): MNIST / Fashion-MNIST IDX files (plain or .gz),
 * CIFAR-10 binary batches, and the reference's converted *Storage.npy form; pixels scaled to
 * [0, 1] by the split's maximum; test-time centre crop and training-time augmentation. */
#ifndef SBS_DATA_H
#define SBS_DATA_H

#include "sbs/common.h"

typedef struct {
    int n, c, h, w; /* images, channels, rows, columns */
    float *x;       /* n*c*h*w, NCHW, in [0, 1] */
    uint8_t *y;     /* n labels */
} sbs_split;

typedef struct {
    sbs_split train, test;
    int n_classes;   /* 10 */
    char source[64]; /* "idx", "idx.gz", "cifar-bin", "npy" */
} sbs_dataset;

enum { SBS_SPLIT_TRAIN = 1, SBS_SPLIT_TEST = 2 };

/* Load the splits named in `which` (bitmask) of data_mode "MNIST", "MNIST_FASHION" or
 * "CIFAR10" from folder `path`. For MNIST modes the IDX files (plain or .gz) are tried first,
 * then the *Storage.npy files; for CIFAR10 the binary batches, then *Storage.npy.
 * Errors name the file and what is wrong (missing, truncated, bad magic, count mismatch). */
int sbs_dataset_load(sbs_dataset *d, const char *data_mode, const char *path, int which,
                     sbs_err *e);
void sbs_dataset_free(sbs_dataset *d);

/* Parsers on memory buffers (used by the loader, the tests and the fuzz targets). */
int sbs_idx_parse_images(const unsigned char *buf, size_t len, const char *name, sbs_split *s,
                         sbs_err *e); /* fills n,c=1,h,w,x (raw 0..255) */
int sbs_idx_parse_labels(const unsigned char *buf, size_t len, const char *name, uint8_t **y,
                         int *n, sbs_err *e);
int sbs_cifar_parse(const unsigned char *buf, size_t len, const char *name, sbs_split *s,
                    sbs_err *e); /* appends to s (raw 0..255) */

/* Test-time preprocessing: centre crop `crop` pixels on each side of images
 * [first, first+count) and add 1e-20 to every pixel. out: count*c*(h-2crop)*(w-2crop). */
void sbs_crop_center(const sbs_split *s, int first, int count, int crop, float *out);

/* Training-time augmentation of one image (random crop of `crop` on each side, and when
 * `photometric`: horizontal flip with probability flip_p, brightness/contrast jitter), with
 * randomness from a counter-based generator keyed by (seed, epoch, index). Adds 1e-20. */
typedef struct {
    int crop;
    bool photometric; /* Fashion-MNIST and CIFAR-10 */
    float flip_p, brightness, contrast;
} sbs_augment;
void sbs_augment_image(const sbs_split *s, int index, const sbs_augment *a, uint64_t seed,
                       uint64_t epoch, float *out);

#endif
