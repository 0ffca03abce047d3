/* gen_data — writes a small synthetic data set in the formats the loaders read, for tests
 * that must run every config without the real MNIST / CIFAR-10:
 *   gen_data mnist DIR N   -> DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte (28x28)
 *   gen_data cifar DIR N   -> DIR/data_batch_{1..5}.bin, DIR/test_batch.bin (N records each)
 * Pixels are random; the label is encoded in the image (a bright block at a label-dependent
 * place) so a net can learn something. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

static void image(unsigned char *px, int c, int h, int w, int label)
{
    for (int i = 0; i < c * h * w; i++) px[i] = (unsigned char)(next() % 64);
    int r0 = 2 + (label / 5) * (h / 2 - 2), c0 = 2 + (label % 5) * (w / 6);
    for (int ch = 0; ch < c; ch++)
        for (int r = r0; r < r0 + 6 && r < h; r++)
            for (int q = c0; q < c0 + 4 && q < w; q++) px[(ch * h + r) * w + q] = 255;
}

static int idx(const char *dir, const char *split, int n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, split);
    FILE *fi = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, split);
    FILE *fl = fopen(p, "wb");
    if (!fi || !fl) return 1;
    be32(fi, 0x803);
    be32(fi, (uint32_t)n);
    be32(fi, 28);
    be32(fi, 28);
    be32(fl, 0x801);
    be32(fl, (uint32_t)n);
    unsigned char px[784];
    for (int i = 0; i < n; i++) {
        int lab = (int)(next() % 10);
        image(px, 1, 28, 28, lab);
        fwrite(px, 1, 784, fi);
        fputc(lab, fl);
    }
    return (fclose(fi) != 0) | (fclose(fl) != 0);
}

static int cifar(const char *path, int n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    unsigned char px[3072];
    for (int i = 0; i < n; i++) {
        int lab = (int)(next() % 10);
        image(px, 3, 32, 32, lab);
        fputc(lab, f);
        fwrite(px, 1, 3072, f);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: gen_data mnist|cifar DIR N\n");
        return 2;
    }
    int n = atoi(argv[3]);
    if (n < 1) return 2;
    if (!strcmp(argv[1], "mnist")) return idx(argv[2], "train", n) | idx(argv[2], "t10k", n);
    if (!strcmp(argv[1], "cifar")) {
        char p[4096];
        int r = 0;
        for (int b = 1; b <= 5; b++) {
            snprintf(p, sizeof p, "%s/data_batch_%d.bin", argv[2], b);
            r |= cifar(p, n);
        }
        snprintf(p, sizeof p, "%s/test_batch.bin", argv[2]);
        return r | cifar(p, n);
    }
    return 2;
}
