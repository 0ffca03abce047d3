/* test_data.c — IDX / CIFAR / *Storage.npy loading, scaling, centre crop, augmentation. */
#include "harness.h"

#include "child.h"

#include "sbs/data.h"
#include "sbs/npy.h"

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <sys/resource.h>
#include <zlib.h>

static char tmp_root[4096];

/* ---------------------------------------------------------------- builders */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Pixel value of image i at (r, c): distinct and <= 250. */
static unsigned char pix(int i, int r, int c)
{
    return (unsigned char)((i * 31 + r * 7 + c) % 251);
}

static unsigned char *idx_images(int n, int rows, int cols, size_t *len)
{
    *len = 16 + (size_t)n * rows * cols;
    unsigned char *b = malloc(*len);
    put_be32(b, 0x803);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, (uint32_t)rows);
    put_be32(b + 12, (uint32_t)cols);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) b[16 + ((size_t)i * rows + r) * cols + c] = pix(i, r, c);
    return b;
}

static unsigned char *idx_labels(int n, size_t *len)
{
    *len = 8 + (size_t)n;
    unsigned char *b = malloc(*len);
    put_be32(b, 0x801);
    put_be32(b + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) b[8 + i] = (unsigned char)(i % 10);
    return b;
}

static int write_file(const char *dir, const char *name, const void *data, size_t n, bool gz)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s%s", dir, name, gz ? ".gz" : "");
    if (!gz) return write_bytes(p, data, n);
    gzFile g = gzopen(p, "wb");
    if (!g) return -1;
    int w = n ? gzwrite(g, data, (unsigned)n) : 0;
    return gzclose(g) == Z_OK && (size_t)w == n ? 0 : -1;
}

/* An MNIST-style folder: ntrain / ntest images of 28x28 with labels. */
static void write_mnist(const char *dir, int ntrain, int ntest, bool gz)
{
    size_t len;
    unsigned char *b = idx_images(ntrain, 28, 28, &len);
    write_file(dir, "train-images-idx3-ubyte", b, len, gz);
    free(b);
    b = idx_labels(ntrain, &len);
    write_file(dir, "train-labels-idx1-ubyte", b, len, gz);
    free(b);
    b = idx_images(ntest, 28, 28, &len);
    write_file(dir, "t10k-images-idx3-ubyte", b, len, gz);
    free(b);
    b = idx_labels(ntest, &len);
    write_file(dir, "t10k-labels-idx1-ubyte", b, len, gz);
    free(b);
}

static void fresh_dir(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "%s/%s", tmp_root, name);
    rm_rf(dir);
    mkdir(dir, 0777);
}

/* A .npy with any descr, header padded like numpy's. */
static void write_npy_raw(const char *path, const char *descr, const char *shape, const void *data,
                          size_t n)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    size_t dl = strlen(dict), hlen = dl + 1;
    hlen += (64 - (10 + hlen) % 64) % 64;
    unsigned char *b = malloc(10 + hlen + n);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)hlen, b[9] = (unsigned char)(hlen >> 8);
    memcpy(b + 10, dict, dl);
    memset(b + 10 + dl, ' ', hlen - dl - 1);
    b[10 + hlen - 1] = '\n';
    memcpy(b + 10 + hlen, data, n);
    write_bytes(path, b, 10 + hlen + n);
    free(b);
}

#define EXPECT_LOAD_ERROR(mode, dir, which, ...)                                                \
    do {                                                                                        \
        sbs_dataset d_;                                                                         \
        sbs_err e_ = {{0}};                                                                     \
        int r_ = sbs_dataset_load(&d_, mode, dir, which, &e_);                                  \
        if (r_ == 0) sbs_dataset_free(&d_);                                                     \
        CHECK(r_ != 0, "loaded, expected an error");                                            \
        const char *want_[] = {__VA_ARGS__};                                                    \
        for (size_t k_ = 0; k_ < sizeof want_ / sizeof want_[0]; k_++)                          \
            CHECK(strstr(e_.msg, want_[k_]), "message \"%s\" lacks \"%s\"", e_.msg, want_[k_]); \
        printf("    (message: %s)\n", e_.msg);                                                  \
    } while (0)

/* ---------------------------------------------------------------- IDX parsers */

static int t_idx_parse(void)
{
    size_t len;
    unsigned char *b = idx_images(3, 2, 5, &len);
    sbs_split s = {0};
    sbs_err e;
    int r = sbs_idx_parse_images(b, len, "img", &s, &e);
    free(b);
    CHECK(r == 0, "%s", e.msg);
    bool ok = s.n == 3 && s.c == 1 && s.h == 2 && s.w == 5;
    for (int i = 0; ok && i < 3; i++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 5; x++) ok = ok && s.x[(i * 2 + y) * 5 + x] == pix(i, y, x);
    free(s.x);
    CHECK(ok, "wrong images");
    b = idx_labels(12, &len);
    uint8_t *y = NULL;
    int n = 0;
    r = sbs_idx_parse_labels(b, len, "lab", &y, &n, &e);
    free(b);
    CHECK(r == 0, "%s", e.msg);
    ok = n == 12 && y[11] == 1;
    free(y);
    CHECK(ok, "labels");
    return PASS;
}

typedef struct {
    const char *name;
    bool labels;
    int n, rows, cols; /* header */
    long delta;        /* bytes added to (or cut from) the exact length */
    uint32_t magic;    /* 0: right one */
    const char *expect;
} idx_case;

static const idx_case idx_cases[] = {
    {"images truncated", false, 10000, 28, 28, -(7840016 - 1234), 0,
     "f: truncated: header says 10000 images of 28x28 (7840016 bytes), file has 1234"},
    {"images extra byte", false, 2, 28, 28, 1, 0, "(1584 bytes), file has 1585"},
    {"images header only", false, 1, 28, 28, -784 - 4, 0,
     "truncated: expected an IDX header of 16 bytes, file has 12"},
    {"images wrong magic", false, 2, 28, 28, 0, 0x801,
     "f: expected IDX magic 0x00000803 (unsigned byte images, 3 dimensions), found 0x00000801"},
    {"images zero rows", false, 2, 0, 28, 0, 0, "implausible IDX header"},
    {"labels truncated", true, 100, 0, 0, -10, 0,
     "f: truncated: header says 100 labels (108 bytes), file has 98"},
    {"labels extra", true, 100, 0, 0, 3, 0, "file has 111"},
    {"labels wrong magic", true, 10, 0, 0, 0, 0x803,
     "expected IDX magic 0x00000801 (unsigned byte labels, 1 dimension), found 0x00000803"},
    {"labels empty file", true, 0, 0, 0, -8, 0,
     "truncated: expected an IDX header of 8 bytes, file has 0"},
};

static int t_idx_errors(void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof idx_cases / sizeof idx_cases[0]; i++) {
        const idx_case *c = &idx_cases[i];
        size_t len = c->labels ? 8 + (size_t)c->n : 16 + (size_t)c->n * c->rows * c->cols;
        len = (size_t)((long)len + c->delta);
        unsigned char *b = calloc(len + 16, 1);
        if (len >= 4) put_be32(b, c->magic ? c->magic : c->labels ? 0x801 : 0x803);
        if (len >= 8) put_be32(b + 4, (uint32_t)c->n);
        if (!c->labels && len >= 16)
            put_be32(b + 8, (uint32_t)c->rows), put_be32(b + 12, (uint32_t)c->cols);
        sbs_err e = {{0}};
        int r;
        if (c->labels) {
            uint8_t *y = NULL;
            int n;
            r = sbs_idx_parse_labels(b, len, "f", &y, &n, &e);
            if (r == 0) free(y);
        } else {
            sbs_split s = {0};
            r = sbs_idx_parse_images(b, len, "f", &s, &e);
            if (r == 0) free(s.x);
        }
        free(b);
        bool ok = r != 0 && strstr(e.msg, c->expect);
        printf("    %-24s %s\n", c->name, ok ? "ok" : "FAIL");
        if (!ok) {
            printf("        got: %s\n        expected: %s\n", r ? e.msg : "(success)", c->expect);
            failed++;
        }
    }
    return failed ? FAIL : PASS;
}

/* ---------------------------------------------------------------- MNIST loading */

static int check_mnist(const sbs_dataset *d, int ntrain, int ntest)
{
    CHECK(d->train.n == ntrain && d->test.n == ntest, "n %d %d", d->train.n, d->test.n);
    CHECK(d->train.c == 1 && d->train.h == 28 && d->train.w == 28, "train shape");
    CHECK(d->n_classes == 10, "n_classes %d", d->n_classes);
    const sbs_split *sp[2] = {&d->train, &d->test};
    for (int k = 0; k < 2; k++) {
        const sbs_split *s = sp[k];
        if (s->n == 0) continue;
        float mx = 0;
        unsigned char rawmax = 0;
        for (int i = 0; i < s->n; i++)
            for (int r = 0; r < 28; r++)
                for (int c = 0; c < 28; c++)
                    if (pix(i, r, c) > rawmax) rawmax = pix(i, r, c);
        for (int i = 0; i < s->n; i++) {
            CHECK(s->y[i] == i % 10, "label %d", i);
            for (int r = 0; r < 28; r++)
                for (int c = 0; c < 28; c++) {
                    float v = s->x[(i * 28 + r) * 28 + c];
                    CHECK(v == (float)pix(i, r, c) / (float)rawmax, "pixel %d,%d,%d = %g", i, r, c,
                          (double)v);
                    if (v > mx) mx = v;
                }
        }
        CHECK(mx == 1.0f, "max %g", (double)mx);
    }
    return PASS;
}

static int load_mnist_folder(bool gz)
{
    char dir[4200];
    fresh_dir(dir, sizeof dir, gz ? "mnist-gz" : "mnist");
    write_mnist(dir, 7, 3, gz);
    sbs_dataset d;
    sbs_err e;
    CHECK(sbs_dataset_load(&d, "MNIST_FASHION", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, &e) == 0,
          "%s", e.msg);
    int r = check_mnist(&d, 7, 3);
    bool src = strcmp(d.source, gz ? "idx.gz" : "idx") == 0;
    sbs_dataset_free(&d);
    CHECK(src, "source");
    /* one split only */
    CHECK(sbs_dataset_load(&d, "MNIST", dir, SBS_SPLIT_TEST, &e) == 0, "%s", e.msg);
    bool only = d.train.n == 0 && d.train.x == NULL && d.test.n == 3;
    sbs_dataset_free(&d);
    CHECK(only, "which = TEST loaded the training data too");
    rm_rf(dir);
    return r;
}

static int t_mnist_plain(void)
{
    return load_mnist_folder(false);
}
static int t_mnist_gz(void)
{
    return load_mnist_folder(true);
}

static int t_mnist_test_only_present(void)
{
    char dir[4200];
    fresh_dir(dir, sizeof dir, "mnist-testonly");
    size_t len;
    unsigned char *b = idx_images(4, 28, 28, &len);
    write_file(dir, "t10k-images-idx3-ubyte", b, len, false);
    free(b);
    b = idx_labels(4, &len);
    write_file(dir, "t10k-labels-idx1-ubyte", b, len, true);
    free(b);
    sbs_dataset d;
    sbs_err e;
    CHECK(sbs_dataset_load(&d, "MNIST", dir, SBS_SPLIT_TEST, &e) == 0, "%s", e.msg);
    sbs_dataset_free(&d);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST,
                      "missing train-images-idx3-ubyte");
    rm_rf(dir);
    return PASS;
}

static int t_mnist_errors(void)
{
    char dir[4200];
    size_t len;
    unsigned char *b;

    fresh_dir(dir, sizeof dir, "mnist-count");
    write_mnist(dir, 5, 2, false);
    b = idx_labels(4, &len);
    write_file(dir, "train-labels-idx1-ubyte", b, len, false);
    free(b);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN, "train-images-idx3-ubyte has 5 images but",
                      "train-labels-idx1-ubyte has 4 labels");

    fresh_dir(dir, sizeof dir, "mnist-label10");
    write_mnist(dir, 5, 2, false);
    b = idx_labels(2, &len);
    b[8 + 1] = 10;
    write_file(dir, "t10k-labels-idx1-ubyte", b, len, false);
    free(b);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST,
                      "t10k-labels-idx1-ubyte: label 10 at index 1 out of range");

    fresh_dir(dir, sizeof dir, "mnist-trunc");
    write_mnist(dir, 5, 2, true);
    b = idx_images(5, 28, 28, &len);
    write_file(dir, "train-images-idx3-ubyte", b, len - 100, true);
    free(b);
    EXPECT_LOAD_ERROR(
        "MNIST", dir, SBS_SPLIT_TRAIN,
        "train-images-idx3-ubyte.gz: truncated: header says 5 images of 28x28 (3936 bytes), file has 3836");

    fresh_dir(dir, sizeof dir, "mnist-magic");
    write_mnist(dir, 5, 2, false);
    b = idx_labels(5, &len);
    write_file(dir, "train-images-idx3-ubyte", b, len, false);
    free(b);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN, "expected IDX magic 0x00000803",
                      "found 0x00000801");

    fresh_dir(dir, sizeof dir, "mnist-empty");
    write_mnist(dir, 0, 2, false);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, "training data has 0 images");

    fresh_dir(dir, sizeof dir, "mnist-badgz");
    write_mnist(dir, 3, 2, false);
    char p[4400], q[4400];
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
    snprintf(q, sizeof q, "%s/t10k-labels-idx1-ubyte.gz", dir);
    rename(p, q);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TEST,
                      "t10k-labels-idx1-ubyte.gz: not a valid gzip file");

    fresh_dir(dir, sizeof dir, "mnist-nothing");
    EXPECT_LOAD_ERROR("MNIST_FASHION", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST,
                      "no MNIST_FASHION data found in", "mnist-nothing",
                      "train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]",
                      "t10k-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]",
                      "TrainPatternStorage.npy", "TestLabelStorage.npy");
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, "no CIFAR10 data found in",
                      "data_batch_1.bin", "test_batch.bin", "cifar-10-batches-bin",
                      "TrainPatternStorage.npy");
    EXPECT_LOAD_ERROR("MNIST", "/nonexistent/sbs-data", SBS_SPLIT_TRAIN, "/nonexistent/sbs-data",
                      "No such file");
    EXPECT_LOAD_ERROR("SVHN", dir, SBS_SPLIT_TRAIN, "unknown data_mode 'SVHN'");
    rm_rf(dir);
    return PASS;
}

/* ---------------------------------------------------------------- special files (issue 13) */

/* A fresh MNIST folder `tag` (3 training, 2 test images) without `file`; path: that file. */
static void mnist_without(char *dir, size_t size, const char *tag, const char *file, char *path,
                          size_t psize)
{
    fresh_dir(dir, size, tag);
    write_mnist(dir, 3, 2, false);
    snprintf(path, psize, "%s/%s", dir, file);
    unlink(path);
}

/* A symlink loop is reported as one (not "missing"), a FIFO is refused without blocking. */
static int t_mnist_special_files(void)
{
    char dir[4200], p[4400];
    mnist_without(dir, sizeof dir, "mnist-loop", "t10k-images-idx3-ubyte", p, sizeof p);
    CHECK(symlink("t10k-images-idx3-ubyte", p) == 0, "symlink: %s", strerror(errno));
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TEST, "cannot open", "t10k-images-idx3-ubyte",
                      strerror(ELOOP));

    char loop[4400];
    snprintf(loop, sizeof loop, "%s/loop", tmp_root);
    unlink(loop);
    CHECK(symlink("loop", loop) == 0, "symlink: %s", strerror(errno));
    EXPECT_LOAD_ERROR("MNIST", loop, SBS_SPLIT_TEST, "data folder", "loop", strerror(ELOOP));
    unlink(loop);

    mnist_without(dir, sizeof dir, "mnist-fifo", "t10k-labels-idx1-ubyte", p, sizeof p);
    CHECK(mkfifo(p, 0600) == 0, "mkfifo: %s", strerror(errno));
    alarm(20); /* a blocking open would hang here */
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TEST, "t10k-labels-idx1-ubyte",
                      "not a regular file (a FIFO)");
    alarm(0);
    rm_rf(dir);
    return PASS;
}

static void load_as_nobody(void *dir, char *msg, size_t n)
{
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
        _exit(77);
    sbs_dataset d;
    sbs_err e = {{0}};
    if (sbs_dataset_load(&d, "MNIST", dir, SBS_SPLIT_TEST, &e) == 0)
        snprintf(e.msg, sizeof e.msg, "loaded");
    snprintf(msg, n, "%s", e.msg);
}

/* A data folder that cannot be read is "Permission denied", not "no data found". Root reads
 * anything: the load runs in a child that becomes nobody (skipped if it cannot). */
static int t_mnist_unreadable_folder(void)
{
    char dir[4200], msg[1100];
    fresh_dir(dir, sizeof dir, "mnist-noperm");
    write_mnist(dir, 3, 2, false);
    CHECK(chmod(tmp_root, 0755) == 0 && chmod(dir, 0) == 0, "chmod: %s", strerror(errno));
    int st = sbs_run_in_child(load_as_nobody, dir, 20, msg, sizeof msg);
    chmod(dir, 0755);
    chmod(tmp_root, 0700);
    rm_rf(dir);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77)
        SKIPF("running as root and cannot become nobody (uid 65534) to lose the permission");
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
    CHECK(strstr(msg, "data folder") && strstr(msg, "mnist-noperm") &&
              strstr(msg, strerror(EACCES)),
          "message \"%s\" lacks the folder or \"%s\"", msg, strerror(EACCES));
    printf("    (message: %s)\n", msg);
    return PASS;
}

/* A .gz whose header says 2 labels but which inflates to 128 MiB is stopped at the header's
 * size: the error says so and the process never holds the 128 MiB. */
static int t_mnist_gz_bomb(void)
{
    char dir[4200], p[4400];
    mnist_without(dir, sizeof dir, "mnist-bomb", "t10k-labels-idx1-ubyte", p, sizeof p);
    strcat(p, ".gz");
    gzFile g = gzopen(p, "wb1");
    CHECK(g, "gzopen");
    size_t len;
    unsigned char *lab = idx_labels(2, &len);
    CHECK(gzwrite(g, lab, (unsigned)len) == (int)len, "gzwrite");
    free(lab);
    enum { CHUNK = 1 << 20, CHUNKS = 128 };
    unsigned char *zeros = calloc(1, CHUNK);
    for (int i = 0; i < CHUNKS; i++) CHECK(gzwrite(g, zeros, CHUNK) == CHUNK, "gzwrite");
    free(zeros);
    CHECK(gzclose(g) == Z_OK, "gzclose");
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TEST, "t10k-labels-idx1-ubyte.gz: extra data",
                      "2 labels (10 bytes)", "inflates to more");
    getrusage(RUSAGE_SELF, &after);
    long grew_mib = (after.ru_maxrss - before.ru_maxrss) / 1024;
    CHECK(grew_mib < CHUNKS / 2, "the peak memory grew by %ld MiB: the file was inflated",
          grew_mib);
    rm_rf(dir);
    return PASS;
}

/* ---------------------------------------------------------------- CIFAR */

/* Record j of a CIFAR file: label (j % 10), R plane = 10 + j, G = 20 + y, B = 100 + x. */
static unsigned char *cifar_records(int n, int base, size_t *len)
{
    *len = (size_t)n * 3073;
    unsigned char *b = malloc(*len ? *len : 1);
    for (int j = 0; j < n; j++) {
        unsigned char *r = b + (size_t)j * 3073;
        r[0] = (unsigned char)((base + j) % 10);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                r[1 + y * 32 + x] = (unsigned char)(10 + base + j);
                r[1 + 1024 + y * 32 + x] = (unsigned char)(20 + y);
                r[1 + 2048 + y * 32 + x] = (unsigned char)(100 + x);
            }
    }
    return b;
}

static void write_cifar(const char *dir)
{
    size_t len;
    for (int k = 1; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", k);
        unsigned char *b = cifar_records(2, 2 * (k - 1), &len);
        write_file(dir, name, b, len, false);
        free(b);
    }
    unsigned char *b = cifar_records(3, 50, &len);
    write_file(dir, "test_batch.bin", b, len, false);
    free(b);
}

static int check_cifar(const sbs_dataset *d)
{
    CHECK(d->train.n == 10 && d->test.n == 3, "n %d %d", d->train.n, d->test.n);
    CHECK(d->train.c == 3 && d->train.h == 32 && d->train.w == 32, "shape");
    CHECK(strcmp(d->source, "cifar-bin") == 0, "source %s", d->source);
    const sbs_split *s = &d->train;
    float mx = 131.0f; /* B plane max 100 + 31 */
    for (int j = 0; j < s->n; j++) {
        CHECK(s->y[j] == j % 10, "label %d = %d", j, s->y[j]);
        const float *im = s->x + (size_t)j * 3072;
        CHECK(im[0] == (10 + j) / mx && im[1023] == (10 + j) / mx, "R plane of %d: %g", j,
              (double)im[0]);
        CHECK(im[1024 + 5 * 32 + 7] == (20 + 5) / mx, "G plane");
        CHECK(im[2048 + 5 * 32 + 7] == (100 + 7) / mx, "B plane");
    }
    CHECK(d->test.x[0] == 60 / 131.0f && d->test.y[2] == 2, "test split");
    return PASS;
}

static int t_cifar_bin(void)
{
    char dir[4200], sub[4300];
    fresh_dir(dir, sizeof dir, "cifar");
    write_cifar(dir);
    sbs_dataset d;
    sbs_err e;
    CHECK(sbs_dataset_load(&d, "CIFAR10", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, &e) == 0, "%s",
          e.msg);
    int r = check_cifar(&d);
    sbs_dataset_free(&d);
    if (r) return r;
    /* the same inside cifar-10-batches-bin/ */
    fresh_dir(dir, sizeof dir, "cifar-sub");
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    mkdir(sub, 0777);
    write_cifar(sub);
    CHECK(sbs_dataset_load(&d, "CIFAR10", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, &e) == 0, "%s",
          e.msg);
    r = check_cifar(&d);
    sbs_dataset_free(&d);
    rm_rf(dir);
    return r;
}

static int t_cifar_errors(void)
{
    char dir[4200];
    size_t len;
    unsigned char *b;

    fresh_dir(dir, sizeof dir, "cifar-partial");
    write_cifar(dir);
    b = cifar_records(2, 0, &len);
    write_file(dir, "data_batch_4.bin", b, len - 1000, false);
    free(b);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TRAIN, "data_batch_4.bin: truncated",
                      "not a multiple of 3073", "1 records and 2073 bytes of a partial one");

    fresh_dir(dir, sizeof dir, "cifar-label");
    write_cifar(dir);
    b = cifar_records(3, 0, &len);
    b[2 * 3073] = 10;
    write_file(dir, "test_batch.bin", b, len, false);
    free(b);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TEST, "test_batch.bin: record 2",
                      "label 10 out of range");

    fresh_dir(dir, sizeof dir, "cifar-missing");
    write_cifar(dir);
    char p[4400];
    snprintf(p, sizeof p, "%s/data_batch_3.bin", dir);
    unlink(p);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TRAIN, "missing data_batch_3.bin");

    fresh_dir(dir, sizeof dir, "cifar-empty");
    write_cifar(dir);
    write_file(dir, "test_batch.bin", "", 0, false);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TEST, "test_batch.bin: empty file");

    /* parser: appending to a split of another shape */
    sbs_split s = {0};
    sbs_err e;
    b = cifar_records(1, 0, &len);
    CHECK(sbs_cifar_parse(b, len, "a", &s, &e) == 0, "%s", e.msg);
    CHECK(sbs_cifar_parse(b, len, "b", &s, &e) == 0 && s.n == 2, "append");
    s.h = 28;
    int r = sbs_cifar_parse(b, len, "c", &s, &e);
    free(b);
    free(s.x);
    free(s.y);
    CHECK(r != 0 && strstr(e.msg, "cannot append"), "append to 3x28x32");
    rm_rf(dir);
    return PASS;
}

/* ---------------------------------------------------------------- *Storage.npy */

static int t_storage_npy_cifar(void)
{
    char dir[4200], p[4400];
    fresh_dir(dir, sizeof dir, "npy-cifar");
    /* (N, 32, 32, 3) HWC: value = 1000*c + 32*y + x + 7*i */
    int n = 3;
    size_t img = 32 * 32 * 3;
    float *x = malloc(n * img * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int y = 0; y < 32; y++)
            for (int xx = 0; xx < 32; xx++)
                for (int c = 0; c < 3; c++)
                    x[i * img + (y * 32 + xx) * 3 + c] = (float)(1000 * c + 32 * y + xx + 7 * i);
    long shp[4] = {n, 32, 32, 3};
    sbs_err e;
    snprintf(p, sizeof p, "%s/TrainPatternStorage.npy", dir);
    CHECK(sbs_npy_write(p, x, 4, shp, &e) == 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/TestPatternStorage.npy", dir);
    CHECK(sbs_npy_write(p, x, 4, shp, &e) == 0, "%s", e.msg);
    free(x);
    int64_t lab64[3] = {9, 0, 4};
    snprintf(p, sizeof p, "%s/TrainLabelStorage.npy", dir);
    write_npy_raw(p, "<i8", "(3,)", lab64, sizeof lab64);
    double labf[3] = {1, 2, 3};
    snprintf(p, sizeof p, "%s/TestLabelStorage.npy", dir);
    write_npy_raw(p, "<f8", "(3, 1)", labf, sizeof labf);

    sbs_dataset d;
    CHECK(sbs_dataset_load(&d, "CIFAR10", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, &e) == 0, "%s",
          e.msg);
    float mx = 1000 * 2 + 32 * 31 + 31 + 14;
    bool ok = d.train.n == 3 && d.train.c == 3 && d.train.h == 32 && d.train.w == 32 &&
              strcmp(d.source, "npy") == 0 && d.train.y[0] == 9 && d.train.y[2] == 4 &&
              d.test.y[2] == 3;
    for (int i = 0; ok && i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int xx = 0; xx < 32; xx++)
                    ok = ok && d.train.x[i * img + (c * 32 + y) * 32 + xx] ==
                                   (float)(1000 * c + 32 * y + xx + 7 * i) / mx;
    sbs_dataset_free(&d);
    CHECK(ok, "HWC -> CHW conversion or labels wrong");

    /* errors: MNIST shape in CIFAR mode, a bad label, a count mismatch */
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN,
                      "TrainPatternStorage.npy: expected shape (N, 28, 28)",
                      "found (3, 32, 32, 3)");
    labf[1] = 2.5;
    snprintf(p, sizeof p, "%s/TestLabelStorage.npy", dir);
    write_npy_raw(p, "<f8", "(3, 1)", labf, sizeof labf);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TEST, "TestLabelStorage.npy: label 2.5 at index 1");
    write_npy_raw(p, "<f8", "(2,)", labf, 2 * sizeof(double));
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TEST, "TestPatternStorage.npy has 3 images but",
                      "TestLabelStorage.npy has 2 labels");
    write_npy_raw(p, "<f8", "(1, 3)", labf, sizeof labf);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TEST, "expected labels of shape (N,) or (N, 1)");
    snprintf(p, sizeof p, "%s/TestLabelStorage.npy", dir);
    unlink(p);
    EXPECT_LOAD_ERROR("CIFAR10", dir, SBS_SPLIT_TEST, "cannot open", "TestLabelStorage.npy");
    rm_rf(dir);
    return PASS;
}

static int t_storage_npy_mnist(void)
{
    char dir[4200], p[4400];
    fresh_dir(dir, sizeof dir, "npy-mnist");
    int n = 4;
    float *x = malloc(n * 784 * sizeof(float));
    for (int i = 0; i < n * 784; i++) x[i] = (float)(i % 200);
    x[5] = 0.5f;
    long shp[3] = {n, 28, 28};
    sbs_err e;
    snprintf(p, sizeof p, "%s/TrainPatternStorage.npy", dir);
    CHECK(sbs_npy_write(p, x, 3, shp, &e) == 0, "%s", e.msg);
    uint8_t lab[4] = {0, 1, 2, 9};
    snprintf(p, sizeof p, "%s/TrainLabelStorage.npy", dir);
    write_npy_raw(p, "|u1", "(4,)", lab, 4);
    sbs_dataset d;
    int r = sbs_dataset_load(&d, "MNIST_FASHION", dir, SBS_SPLIT_TRAIN, &e);
    if (r) free(x);
    CHECK(r == 0, "%s", e.msg);
    bool ok =
        d.train.n == 4 && d.train.c == 1 && d.train.h == 28 && d.train.y[3] == 9 && d.test.n == 0;
    for (int i = 0; ok && i < n * 784; i++) ok = d.train.x[i] == x[i] / 199.0f;
    sbs_dataset_free(&d);
    CHECK(ok, "values");
    /* test split asked for but absent */
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, "cannot open",
                      "TestPatternStorage.npy");
    /* negative pixels are refused */
    x[10] = -1;
    snprintf(p, sizeof p, "%s/TrainPatternStorage.npy", dir);
    sbs_npy_write(p, x, 3, shp, &e);
    free(x);
    EXPECT_LOAD_ERROR("MNIST", dir, SBS_SPLIT_TRAIN, "TrainPatternStorage.npy: element 10 is -1");
    rm_rf(dir);
    return PASS;
}

static int t_scale_all_zero(void)
{
    char dir[4200];
    fresh_dir(dir, sizeof dir, "mnist-zero");
    size_t len;
    unsigned char *b = idx_images(2, 28, 28, &len);
    memset(b + 16, 0, len - 16);
    write_file(dir, "train-images-idx3-ubyte", b, len, false);
    free(b);
    b = idx_labels(2, &len);
    write_file(dir, "train-labels-idx1-ubyte", b, len, false);
    free(b);
    sbs_dataset d;
    sbs_err e;
    CHECK(sbs_dataset_load(&d, "MNIST", dir, SBS_SPLIT_TRAIN, &e) == 0, "%s", e.msg);
    bool ok = true;
    for (int i = 0; i < 2 * 784; i++) ok = ok && d.train.x[i] == 0.0f;
    sbs_dataset_free(&d);
    CHECK(ok, "blank images are not left at 0");
    rm_rf(dir);
    return PASS;
}

/* ---------------------------------------------------------------- crop and augmentation */

static sbs_split make_split(int n, int c, int h, int w)
{
    sbs_split s = {n, c, h, w, malloc((size_t)n * c * h * w * sizeof(float)), calloc((size_t)n, 1)};
    for (int i = 0; i < n * c * h * w; i++) s.x[i] = (float)((i * 37) % 101) / 100.0f;
    return s;
}

static float at(const sbs_split *s, int i, int ch, int y, int x)
{
    return s->x[(((size_t)i * s->c + ch) * s->h + y) * s->w + x];
}

static int t_crop_center(void)
{
    sbs_split s = make_split(5, 3, 8, 10);
    int crop = 2, oh = 4, ow = 6;
    float *out = malloc(3 * 8 * 10 * sizeof(float)); /* room for one uncropped image */
    sbs_crop_center(&s, 1, 3, crop, out);
    int bad = 0;
    for (int i = 0; i < 3; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                    if (out[((i * 3 + ch) * oh + y) * ow + x] !=
                        at(&s, 1 + i, ch, y + 2, x + 2) + 1e-20f)
                        bad++;
    /* crop 0: a copy plus 1e-20 (blank pixels become 1e-20) */
    s.x[0] = 0;
    sbs_crop_center(&s, 0, 1, 0, out);
    if (out[0] != 1e-20f || out[5] != s.x[5] + 1e-20f) bad++;
    free(out);
    free(s.x);
    free(s.y);
    CHECK(bad == 0, "%d wrong pixels", bad);
    return PASS;
}

static int t_augment(void)
{
    sbs_split s = make_split(40, 3, 12, 12);
    sbs_augment a = {2, true, 0.5f, 0.5f, 0.1f};
    size_t o = 3 * 8 * 8;
    float *o1 = malloc(o * sizeof(float)), *o2 = malloc(o * sizeof(float));
    int r = PASS, differ_epoch = 0, differ_index = 0, flips = 0;
    for (int i = 0; i < s.n && r == PASS; i++) {
        sbs_augment_image(&s, i, &a, 1234, 7, o1);
        sbs_augment_image(&s, i, &a, 1234, 7, o2);
        if (memcmp(o1, o2, o * sizeof(float)) != 0) {
            printf("    not deterministic for index %d\n", i);
            r = FAIL;
        }
        for (size_t k = 0; k < o; k++)
            if (!(o1[k] >= 1e-20f && o1[k] <= 1.0f + 1e-20f)) {
                printf("    out of range: %g\n", (double)o1[k]);
                r = FAIL;
                break;
            }
        sbs_augment_image(&s, i, &a, 1234, 8, o2);
        if (memcmp(o1, o2, o * sizeof(float)) != 0) differ_epoch++;
        sbs_augment_image(&s, i, &a, 1235, 7, o2);
        if (memcmp(o1, o2, o * sizeof(float)) != 0) differ_index++;
    }
    (void)flips;
    CHECK(r == PASS, "see above");
    CHECK(differ_epoch >= 35, "only %d of 40 images differ for another epoch", differ_epoch);
    CHECK(differ_index >= 35, "only %d of 40 images differ for another seed", differ_index);

    /* flip_p = 1 without crop or jitter: an exact mirror image */
    sbs_augment m = {0, true, 1.0f, 0.0f, 0.0f};
    float *full = malloc(3 * 12 * 12 * sizeof(float));
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        sbs_augment_image(&s, i, &m, 99, 0, full);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 12; y++)
                for (int x = 0; x < 12; x++)
                    if (full[(ch * 12 + y) * 12 + x] != at(&s, i, ch, y, 11 - x) + 1e-20f) bad++;
    }
    /* flip_p = 0, no jitter, no crop: identity (+1e-20) */
    m.flip_p = 0;
    sbs_augment_image(&s, 3, &m, 99, 0, full);
    for (int k = 0; k < 3 * 144; k++)
        if (full[k] != s.x[3 * 3 * 144 + k] + 1e-20f) bad++;
    CHECK(bad == 0, "%d pixels differ from the mirror / identity", bad);

    /* not photometric: a plain crop window; every offset 0..4 shows up on both axes */
    sbs_augment c = {2, false, 0.5f, 0.5f, 0.1f};
    int seen_y[5] = {0}, seen_x[5] = {0};
    for (int i = 0; i < s.n; i++) {
        for (int e = 0; e < 5; e++) {
            sbs_augment_image(&s, i, &c, 5, (uint64_t)e, o1);
            int found = 0;
            for (int oy = 0; oy <= 4; oy++)
                for (int ox = 0; ox <= 4; ox++) {
                    bool same = true;
                    for (int ch = 0; ch < 3 && same; ch++)
                        for (int y = 0; y < 8 && same; y++)
                            for (int x = 0; x < 8 && same; x++)
                                same = o1[(ch * 8 + y) * 8 + x] ==
                                       at(&s, i, ch, y + oy, x + ox) + 1e-20f;
                    if (same && !found) {
                        found = 1;
                        seen_y[oy]++, seen_x[ox]++;
                    }
                }
            if (!found) bad++;
        }
    }
    for (int k = 0; k < 5; k++)
        if (!seen_y[k] || !seen_x[k]) bad++;
    CHECK(bad == 0, "crop windows wrong (%d); offsets y %d %d %d %d %d", bad, seen_y[0], seen_y[1],
          seen_y[2], seen_y[3], seen_y[4]);

    /* brightness only: factor in [0.5, 1.5] multiplies, clamp to 1 */
    sbs_augment br = {0, true, 0.0f, 0.5f, 0.0f};
    double lo = 10, hi = 0;
    for (int i = 0; i < s.n; i++) {
        sbs_augment_image(&s, i, &br, 3, 1, full);
        const float *src = s.x + (size_t)i * 3 * 144;
        double f = -1;
        for (int k = 0; k < 3 * 144; k++) {
            if (src[k] > 0.05f && src[k] < 0.6f) {
                double fk = (full[k] - 1e-20f) / src[k];
                if (f < 0) f = fk;
                if (fabs(fk - f) > 1e-5) bad++;
            }
            if (full[k] > 1.0f + 1e-20f) bad++;
        }
        if (f < lo) lo = f;
        if (f > hi) hi = f;
    }
    CHECK(bad == 0 && lo >= 0.5 - 1e-6 && hi <= 1.5 + 1e-6 && hi - lo > 0.3,
          "brightness factors in [%g, %g], %d bad", lo, hi, bad);

    /* contrast only, one channel: the mean is kept (when nothing clamps) */
    sbs_split g = make_split(10, 1, 6, 6);
    for (int k = 0; k < 10 * 36; k++) g.x[k] = 0.3f + 0.4f * g.x[k];
    sbs_augment ct = {0, true, 0.0f, 0.0f, 0.5f};
    float gout[36];
    for (int i = 0; i < 10; i++) {
        sbs_augment_image(&g, i, &ct, 11, 2, gout);
        double m0 = 0, m1 = 0;
        for (int k = 0; k < 36; k++) m0 += g.x[i * 36 + k], m1 += gout[k];
        if (fabs(m0 - m1) > 1e-4) bad++;
    }
    free(g.x);
    free(g.y);
    CHECK(bad == 0, "contrast does not keep the mean (%d)", bad);

    /* contrast, three channels: out - L = f*(x - L) with L the mean luminance
     * 0.299 R + 0.587 G + 0.114 B of the image, one f for every pixel */
    sbs_split col = make_split(6, 3, 5, 5);
    for (int k = 0; k < 6 * 75; k++) col.x[k] = 0.35f + 0.3f * col.x[k];
    float cout[75];
    for (int i = 0; i < 6; i++) {
        sbs_augment_image(&col, i, &ct, 21, 4, cout);
        const float *src = col.x + i * 75;
        double L = 0;
        for (int k = 0; k < 25; k++)
            L += 0.299 * src[k] + 0.587 * src[25 + k] + 0.114 * src[50 + k];
        L /= 25;
        double f = -1;
        for (int k = 0; k < 75; k++) {
            if (fabs(src[k] - L) < 0.05) continue;
            double fk = (cout[k] - L) / (src[k] - L);
            if (f < 0) f = fk;
            if (fabs(fk - f) > 1e-4 || fk < 0.5 - 1e-4 || fk > 1.5 + 1e-4) bad++;
        }
    }
    free(col.x);
    free(col.y);
    free(o1);
    free(o2);
    free(full);
    free(s.x);
    free(s.y);
    CHECK(bad == 0, "three-channel contrast is not a blend with the luminance mean (%d)", bad);
    return PASS;
}

/* ---------------------------------------------------------------- real Fashion-MNIST */

static int t_real_fashion_mnist(void)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char p[4200];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    struct stat st;
    if (stat(p, &st) != 0) SKIPF("%s not found (Debian package dataset-fashion-mnist)", p);
    sbs_dataset d;
    sbs_err e;
    CHECK(sbs_dataset_load(&d, "MNIST_FASHION", dir, SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, &e) == 0,
          "%s", e.msg);
    int r = PASS;
    const sbs_split *sp[2] = {&d.train, &d.test};
    int want[2] = {60000, 10000};
    for (int k = 0; k < 2; k++) {
        const sbs_split *s = sp[k];
        if (s->n != want[k] || s->c != 1 || s->h != 28 || s->w != 28) {
            printf("    split %d: %d images of %dx%dx%d\n", k, s->n, s->c, s->h, s->w);
            r = FAIL;
            continue;
        }
        int counts[10] = {0};
        for (int i = 0; i < s->n; i++) {
            if (s->y[i] >= 10) {
                r = FAIL;
                break;
            }
            counts[s->y[i]]++;
        }
        for (int c = 0; c < 10; c++)
            if (counts[c] != want[k] / 10) r = FAIL; /* Fashion-MNIST is balanced */
        float mx = 0, mn = 1;
        for (size_t i = 0; i < (size_t)s->n * 784; i++) {
            if (s->x[i] > mx) mx = s->x[i];
            if (s->x[i] < mn) mn = s->x[i];
        }
        if (mx != 1.0f || mn != 0.0f) {
            printf("    split %d: pixels in [%g, %g]\n", k, (double)mn, (double)mx);
            r = FAIL;
        }
    }
    bool src = strcmp(d.source, "idx.gz") == 0;
    sbs_dataset_free(&d);
    CHECK(src, "source");
    return r;
}

int main(void)
{
    make_tmpdir(tmp_root, sizeof tmp_root, "data");
    static const test_case cases[] = {
        {"IDX parse", t_idx_parse},
        {"IDX malformed", t_idx_errors},
        {"MNIST folder, plain IDX", t_mnist_plain},
        {"MNIST folder, gzip IDX", t_mnist_gz},
        {"MNIST folder, test split only", t_mnist_test_only_present},
        {"MNIST folder errors", t_mnist_errors},
        {"MNIST folder: symlink loop, FIFO", t_mnist_special_files},
        {"MNIST folder without permission", t_mnist_unreadable_folder},
        {"MNIST .gz inflating past its header", t_mnist_gz_bomb},
        {"CIFAR-10 binary", t_cifar_bin},
        {"CIFAR-10 errors", t_cifar_errors},
        {"Storage.npy CIFAR (HWC -> CHW)", t_storage_npy_cifar},
        {"Storage.npy MNIST", t_storage_npy_mnist},
        {"scaling: all-zero images", t_scale_all_zero},
        {"centre crop", t_crop_center},
        {"augmentation", t_augment},
        {"real Fashion-MNIST", t_real_fashion_mnist},
    };
    int r = run_cases("data", cases, sizeof cases / sizeof cases[0]);
    rm_rf(tmp_root);
    return r;
}
