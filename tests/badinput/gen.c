/* gen.c — test data of the bad-input table: a small Fashion-MNIST-shaped IDX data set
 * (48 training and 12 test images of 28x28), good weights for the tiny test net
 * (tests/train/tiny: SbS 5x5 1->16, AVERAGE POOLING 4x4/4, SbS 5x5 16->10), and weight files
 * that are wrong in one way each. Usage: badinput_gen DIR (creates DIR/data and DIR/npy). */
#include "sbs/npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;

static void put(const char *sub, const char *name, const void *d, size_t n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s/%s", root, sub, name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f)) {
        perror(p);
        exit(1);
    }
}

static void be32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void idx_pair(const char *img_name, const char *lab_name, unsigned n, unsigned seed)
{
    size_t ni = 16 + (size_t)n * 784;
    unsigned char *img = malloc(ni), *lab = malloc(8 + n);
    be32(img, 0x803), be32(img + 4, n), be32(img + 8, 28), be32(img + 12, 28);
    be32(lab, 0x801), be32(lab + 4, n);
    unsigned s = seed;
    for (unsigned i = 0; i < n; i++) {
        unsigned c = (i * 7 + seed) % 10;
        lab[8 + i] = (unsigned char)c;
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) {
                s = s * 1103515245u + 12345u;
                int on = (y / 3 + x / 3 + (int)c) % 4 == 0;
                img[16 + i * 784 + y * 28 + x] = (unsigned char)(on ? 200 + (s >> 28) : (s >> 27));
            }
    }
    put("data", img_name, img, ni);
    put("data", lab_name, lab, 8 + n);
    free(img);
    free(lab);
}

/* a .npy with a hand-written header dictionary (format 1.0) */
static void npy_raw(const char *name, const char *dict, const void *d, size_t n)
{
    size_t hl = strlen(dict) + 1, pad = (64 - (10 + hl) % 64) % 64;
    hl += pad;
    unsigned char *b = malloc(10 + hl + n);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hl & 0xff), b[9] = (unsigned char)(hl >> 8);
    memcpy(b + 10, dict, strlen(dict));
    memset(b + 10 + strlen(dict), ' ', pad);
    b[10 + hl - 1] = '\n';
    memcpy(b + 10 + hl, d, n);
    put("npy", name, b, 10 + hl + n);
    free(b);
}

static void npy(const char *name, const float *w, int nd, long a, long b)
{
    char p[4096];
    long sh[2] = {a, b};
    sbs_err e;
    snprintf(p, sizeof p, "%s/npy/%s", root, name);
    if (sbs_npy_write(p, w, nd, sh, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: badinput_gen DIR\n");
        return 2;
    }
    root = argv[1];
    char p[4096];
    snprintf(p, sizeof p, "%s/data", root);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/npy", root);
    mkdir(p, 0777);
    idx_pair("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 48, 1);
    idx_pair("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 12, 2);

    /* layer 0: (25, 16); layer 2: (400, 10) */
    float w0[25 * 16], w2[400 * 10];
    for (int i = 0; i < 25 * 16; i++) w0[i] = 1.0f + (float)((i * 37) % 11) / 10.0f;
    for (int i = 0; i < 400 * 10; i++) w2[i] = 1.0f + (float)((i * 53) % 13) / 10.0f;
    npy("w0.npy", w0, 2, 25, 16);
    npy("w2.npy", w2, 2, 400, 10);
    npy("w0_transposed.npy", w0, 2, 16, 25);
    npy("w0_flat.npy", w0, 1, 400, 0);
    {
        long sh3[3] = {25, 16, 1};
        sbs_err e;
        snprintf(p, sizeof p, "%s/npy/w0_3d.npy", root);
        if (sbs_npy_write(p, w0, 3, sh3, &e)) return 1;
    }
    double d0[25 * 16];
    for (int i = 0; i < 25 * 16; i++) d0[i] = w0[i];
    npy_raw("w0_f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (25, 16), }", d0,
            sizeof d0);
    unsigned char be[sizeof w0];
    for (int i = 0; i < 25 * 16; i++) {
        unsigned u;
        memcpy(&u, &w0[i], 4);
        for (int k = 0; k < 4; k++) be[4 * i + k] = (unsigned char)(u >> (24 - 8 * k));
    }
    npy_raw("w0_bigendian.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (25, 16), }", be,
            sizeof be);
    npy_raw("w0_fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (25, 16), }", w0,
            sizeof w0);
    npy_raw("w0_int32.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (25, 16), }", w0,
            sizeof w0);
    npy_raw("w0_badkey.npy", "{'descr': '<f4', 'fortran': False, 'shape': (25, 16), }", w0,
            sizeof w0);
    npy_raw("w0_noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", w0, sizeof w0);
    float bad[25 * 16];
    memcpy(bad, w0, sizeof bad);
    bad[37] = NAN;
    npy("w0_nan.npy", bad, 2, 25, 16);
    bad[37] = INFINITY;
    npy("w0_inf.npy", bad, 2, 25, 16);
    bad[37] = -0.5f;
    npy("w0_negative.npy", bad, 2, 25, 16);
    memcpy(bad, w0, sizeof bad);
    for (int i = 0; i < 25; i++) bad[i * 16 + 3] = 0.0f;
    npy("w0_zero_column.npy", bad, 2, 25, 16);

    /* truncated copies and a foreign file */
    snprintf(p, sizeof p, "%s/npy/w0.npy", root);
    unsigned char *buf;
    size_t n;
    sbs_err e;
    if (sbs_read_file(p, &buf, &n, &e)) return 1;
    put("npy", "w0_truncated.npy", buf, n - 10);
    put("npy", "w0_truncated_header.npy", buf, 50);
    unsigned char *more = malloc(n + 8);
    memcpy(more, buf, n);
    memset(more + n, 0, 8);
    put("npy", "w0_extra.npy", more, n + 8);
    free(more);
    buf[6] = 9;
    put("npy", "w0_version9.npy", buf, n);
    free(buf);
    put("npy", "w0_empty.npy", "", 0);

    /* the reference's converted data form: one 28x28 image, and labels good and bad */
    float img[784];
    for (int i = 0; i < 784; i++) img[i] = (float)(i % 29) / 28.0f;
    long s1[3] = {1, 28, 28};
    snprintf(p, sizeof p, "%s/npy/pattern_1x28x28.npy", root);
    if (sbs_npy_write(p, img, 3, s1, &e)) return 1;
    img[100] = -1.0f;
    snprintf(p, sizeof p, "%s/npy/pattern_negative.npy", root);
    if (sbs_npy_write(p, img, 3, s1, &e)) return 1;
    float lab[7] = {1.5f, 2, 3, 4, 5, 6, 7};
    npy("labels_fraction.npy", lab, 1, 1, 0);
    npy("labels_6.npy", lab + 1, 1, 6, 0); /* 6 labels for 1 image */
    npy("labels_1.npy", lab + 1, 1, 1, 0);
    put("npy", "w0_text.npy", "not a numpy file\n", 17);
    return 0;
}
