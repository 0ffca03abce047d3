/* dataset.c — MNIST / Fashion-MNIST (IDX, plain or .gz), CIFAR-10 (binary batches) and the
 * reference's converted *Storage.npy files; scaling by the split maximum; test-time centre
 * crop and training-time augmentation keyed by (seed, epoch, index). */
#include "sbs/data.h"

#include "sbs/npy.h"
#include "sbs/rng.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_CLASSES 10
#define CIFAR_RECORD 3073

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---------------------------------------------------------------- parsers */

int sbs_idx_parse_images(const unsigned char *buf, size_t len, const char *name, sbs_split *s,
                         sbs_err *e)
{
    if (!name) name = "(idx)";
    if (len < 4)
        return sbs_fail(e, "%s: truncated: expected an IDX header of 16 bytes, file has %zu", name,
                        len);
    uint32_t magic = be32(buf);
    if (magic != 0x00000803u)
        return sbs_fail(e,
                        "%s: expected IDX magic 0x00000803 (unsigned byte images, 3 "
                        "dimensions), found 0x%08x%s",
                        name, magic, magic == 0x00000801u ? " (a label file)" : "");
    if (len < 16)
        return sbs_fail(e, "%s: truncated: expected an IDX header of 16 bytes, file has %zu", name,
                        len);
    uint32_t n = be32(buf + 4), rows = be32(buf + 8), cols = be32(buf + 12);
    if (n > INT_MAX || rows == 0 || cols == 0 || rows > 65536 || cols > 65536)
        return sbs_fail(e, "%s: implausible IDX header: %u images of %ux%u", name, n, rows, cols);
    uint64_t px = (uint64_t)rows * cols;
    uint64_t need = 16 + (uint64_t)n * px;
    if (need != (uint64_t)len)
        return sbs_fail(e, "%s: %sheader says %u images of %ux%u (%llu bytes), file has %zu", name,
                        (uint64_t)len < need ? "truncated: " : "extra data: ", n, rows, cols,
                        (unsigned long long)need, len);
    size_t total = (size_t)n * (size_t)px;
    float *x = xmalloc(total * sizeof(float));
    for (size_t i = 0; i < total; i++) x[i] = (float)buf[16 + i];
    s->n = (int)n;
    s->c = 1;
    s->h = (int)rows;
    s->w = (int)cols;
    s->x = x;
    return 0;
}

int sbs_idx_parse_labels(const unsigned char *buf, size_t len, const char *name, uint8_t **y,
                         int *n, sbs_err *e)
{
    if (!name) name = "(idx)";
    if (len < 4)
        return sbs_fail(e, "%s: truncated: expected an IDX header of 8 bytes, file has %zu", name,
                        len);
    uint32_t magic = be32(buf);
    if (magic != 0x00000801u)
        return sbs_fail(e,
                        "%s: expected IDX magic 0x00000801 (unsigned byte labels, 1 "
                        "dimension), found 0x%08x%s",
                        name, magic, magic == 0x00000803u ? " (an image file)" : "");
    if (len < 8)
        return sbs_fail(e, "%s: truncated: expected an IDX header of 8 bytes, file has %zu", name,
                        len);
    uint32_t count = be32(buf + 4);
    if (count > INT_MAX) return sbs_fail(e, "%s: implausible IDX header: %u labels", name, count);
    uint64_t need = 8 + (uint64_t)count;
    if (need != (uint64_t)len)
        return sbs_fail(e, "%s: %sheader says %u labels (%llu bytes), file has %zu", name,
                        (uint64_t)len < need ? "truncated: " : "extra data: ", count,
                        (unsigned long long)need, len);
    uint8_t *lab = xmalloc(count);
    memcpy(lab, buf + 8, count);
    *y = lab;
    *n = (int)count;
    return 0;
}

int sbs_cifar_parse(const unsigned char *buf, size_t len, const char *name, sbs_split *s,
                    sbs_err *e)
{
    if (!name) name = "(cifar)";
    if (len == 0)
        return sbs_fail(e,
                        "%s: empty file (expected records of %d bytes: 1 label + 3072 "
                        "pixels)",
                        name, CIFAR_RECORD);
    if (len % CIFAR_RECORD != 0)
        return sbs_fail(e,
                        "%s: truncated: length %zu is not a multiple of %d (1 label byte + "
                        "3072 pixel bytes per image): %zu records and %zu bytes of a partial one",
                        name, len, CIFAR_RECORD, len / CIFAR_RECORD, len % CIFAR_RECORD);
    size_t m = len / CIFAR_RECORD;
    if (s->n > 0 && (s->c != 3 || s->h != 32 || s->w != 32))
        return sbs_fail(e, "%s: cannot append 3x32x32 CIFAR images to a split of %dx%dx%d", name,
                        s->c, s->h, s->w);
    if (m > (size_t)(INT_MAX - s->n)) return sbs_fail(e, "%s: too many images", name);
    for (size_t r = 0; r < m; r++)
        if (buf[r * CIFAR_RECORD] >= N_CLASSES)
            return sbs_fail(e,
                            "%s: record %zu (offset %zu): label %d out of range (expected "
                            "0..9)",
                            name, r, r * CIFAR_RECORD, buf[r * CIFAR_RECORD]);
    size_t old = (size_t)s->n, img = 3 * 32 * 32;
    s->x = xrealloc(s->x, (old + m) * img * sizeof(float));
    s->y = xrealloc(s->y, old + m);
    for (size_t r = 0; r < m; r++) {
        const unsigned char *rec = buf + r * CIFAR_RECORD;
        s->y[old + r] = rec[0];
        float *dst = s->x + (old + r) * img;
        for (size_t i = 0; i < img; i++) dst[i] = (float)rec[1 + i];
    }
    s->n = (int)(old + m);
    s->c = 3;
    s->h = 32;
    s->w = 32;
    return 0;
}

/* ---------------------------------------------------------------- loader helpers */

/* Is there a file (anything but a folder: the reader refuses what is not a regular file) at
 * path? 1 yes, 0 no (nothing, or a folder), -1 with e set when it cannot be looked at (a
 * symlink loop, no permission): "missing" would be wrong then. */
static int file_at(const char *path, sbs_err *e)
{
    struct stat st;
    if (stat(path, &st) == 0) return !S_ISDIR(st.st_mode);
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    return sbs_fail(e, "cannot open %s: %s", path, strerror(errno));
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir/name; a path too long is cut (and then simply not found). */
static void join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) out[size - 1] = 0;
}

static void split_free(sbs_split *s)
{
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

static int check_labels(const uint8_t *y, int n, const char *name, sbs_err *e)
{
    for (int i = 0; i < n; i++)
        if (y[i] >= N_CLASSES)
            return sbs_fail(e, "%s: label %d at index %d out of range (expected 0..9)", name, y[i],
                            i);
    return 0;
}

static void scale_split(sbs_split *s)
{
    size_t total = (size_t)s->n * s->c * s->h * s->w;
    float mx = 0.0f;
    for (size_t i = 0; i < total; i++)
        if (s->x[i] > mx) mx = s->x[i];
    if (mx > 0.0f)
        for (size_t i = 0; i < total; i++) s->x[i] /= mx;
}

static const char *const idx_names[2][2] = {
    {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
    {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
};
static const char *const npy_names[2][2] = {
    {"TrainPatternStorage.npy", "TrainLabelStorage.npy"},
    {"TestPatternStorage.npy", "TestLabelStorage.npy"},
};

/* Find base or base.gz in dir; fills path, sets *gz; 0 if neither exists, -1 (e set) if one
 * cannot be looked at. */
static int find_idx(const char *dir, const char *base, char *path, size_t size, bool *gz,
                    sbs_err *e)
{
    join(path, size, dir, base);
    int r = file_at(path, e);
    if (r != 0) {
        *gz = false;
        return r;
    }
    snprintf(path + strlen(path), size - strlen(path), ".gz");
    r = file_at(path, e);
    if (r > 0) *gz = true;
    return r;
}

/* The size an IDX file must have by its header (16 + n*rows*cols, 8 + n), with the header's
 * words for messages; false if the header is short or wrong (the parser says how). */
static bool idx_size(const unsigned char *b, size_t len, bool images, uint64_t *need, char *what,
                     size_t what_size)
{
    if (images) {
        if (len < 16 || be32(b) != 0x00000803u) return false;
        uint32_t n = be32(b + 4), rows = be32(b + 8), cols = be32(b + 12);
        *need = 16 + (uint64_t)n * rows * cols;
        snprintf(what, what_size, "%u images of %ux%u", n, rows, cols);
    } else {
        if (len < 8 || be32(b) != 0x00000801u) return false;
        *need = 8 + (uint64_t)be32(b + 4);
        snprintf(what, what_size, "%u labels", be32(b + 4));
    }
    return true;
}

/* Read an IDX file; a .gz one is inflated only as far as its header says the data reaches,
 * so a small file that inflates to gigabytes stops there. */
static int read_idx(const char *path, bool gz, bool images, unsigned char **buf, size_t *len,
                    sbs_err *e)
{
    if (!gz) return sbs_read_file(path, buf, len, e);
    bool more;
    if (sbs_read_file_max(path, 16, buf, len, &more, e)) return -1;
    uint64_t need;
    char what[96];
    if (!idx_size(*buf, *len, images, &need, what, sizeof what) || need > SIZE_MAX)
        return 0; /* the parser reports the header */
    free(*buf);
    if (sbs_read_file_max(path, (size_t)need, buf, len, &more, e)) return -1;
    if (more) {
        free(*buf);
        *buf = NULL;
        return sbs_fail(e,
                        "%s: extra data: header says %s (%llu bytes), the file inflates to "
                        "more (stopped there)",
                        path, what, (unsigned long long)need);
    }
    return 0;
}

static int count_mismatch(const char *img, int ni, const char *lab, int nl, sbs_err *e)
{
    return sbs_fail(e, "%s has %d images but %s has %d labels", img, ni, lab, nl);
}

static int missing_idx(const char *dir, const char *base, sbs_err *e)
{
    char p[4096];
    join(p, sizeof p, dir, base);
    if (dir_exists(p)) return sbs_fail(e, "%s: expected a file, found a folder", p);
    return sbs_fail(e, "%s: missing %s (or %s.gz)", dir, base, base);
}

static int load_idx_split(const char *dir, int k, sbs_split *s, bool *used_gz, sbs_err *e)
{
    char ip[4096], lp[4096];
    bool gzi, gzl;
    int f = find_idx(dir, idx_names[k][0], ip, sizeof ip, &gzi, e);
    if (f <= 0) return f < 0 ? -1 : missing_idx(dir, idx_names[k][0], e);
    f = find_idx(dir, idx_names[k][1], lp, sizeof lp, &gzl, e);
    if (f <= 0) return f < 0 ? -1 : missing_idx(dir, idx_names[k][1], e);
    *used_gz = *used_gz || gzi || gzl;
    unsigned char *buf;
    size_t len;
    if (read_idx(ip, gzi, true, &buf, &len, e)) return -1;
    sbs_split t = {0};
    int r = sbs_idx_parse_images(buf, len, ip, &t, e);
    free(buf);
    if (r) return -1;
    if (read_idx(lp, gzl, false, &buf, &len, e)) {
        split_free(&t);
        return -1;
    }
    int nl = 0;
    r = sbs_idx_parse_labels(buf, len, lp, &t.y, &nl, e);
    free(buf);
    if (!r && nl != t.n) r = count_mismatch(ip, t.n, lp, nl, e);
    if (!r) r = check_labels(t.y, nl, lp, e);
    if (r) {
        split_free(&t);
        return -1;
    }
    *s = t;
    return 0;
}

static int load_npy_split(const char *dir, int k, int want_c, int want_hw, sbs_split *s, sbs_err *e)
{
    char ip[4096], lp[4096], shp[128];
    join(ip, sizeof ip, dir, npy_names[k][0]);
    join(lp, sizeof lp, dir, npy_names[k][1]);
    sbs_npy a, b;
    if (sbs_npy_read(ip, &a, false, e)) return -1;
    int c = 0;
    bool hwc = false;
    if (a.ndim == 3)
        c = 1;
    else if (a.ndim == 4)
        c = (int)a.shape[3], hwc = true;
    size_t o = 0;
    o += (size_t)snprintf(shp + o, sizeof shp - o, "(");
    for (int i = 0; i < a.ndim && o < sizeof shp; i++)
        o += (size_t)snprintf(shp + o, sizeof shp - o, "%s%ld", i ? ", " : "", a.shape[i]);
    if (o < sizeof shp) snprintf(shp + o, sizeof shp - o, "%s)", a.ndim == 1 ? "," : "");
    if (c != want_c || a.shape[1] != want_hw || a.shape[2] != want_hw || a.shape[0] > INT_MAX) {
        sbs_npy_free(&a);
        if (want_c == 1)
            return sbs_fail(e, "%s: expected shape (N, %d, %d) (or (N, %d, %d, 1)), found %s", ip,
                            want_hw, want_hw, want_hw, want_hw, shp);
        return sbs_fail(e,
                        "%s: expected shape (N, %d, %d, %d) (N images, rows, columns, "
                        "channels), found %s",
                        ip, want_hw, want_hw, want_c, shp);
    }
    for (size_t i = 0; i < a.count; i++)
        if (!(a.data[i] >= 0.0f) || isinf(a.data[i])) {
            int r = sbs_fail(e, "%s: element %zu is %g (expected pixel values >= 0, finite)", ip, i,
                             (double)a.data[i]);
            sbs_npy_free(&a);
            return r;
        }
    int n = (int)a.shape[0], h = want_hw, w = want_hw;
    if (sbs_npy_read(lp, &b, false, e)) {
        sbs_npy_free(&a);
        return -1;
    }
    int r = 0;
    if (!(b.ndim == 1 || (b.ndim == 2 && b.shape[1] == 1)))
        r = sbs_fail(e, "%s: expected labels of shape (N,) or (N, 1), found %d dimensions%s", lp,
                     b.ndim, b.ndim == 2 ? " with more than one column" : "");
    else if (b.shape[0] != n)
        r = count_mismatch(ip, n, lp, (int)(b.shape[0] > INT_MAX ? INT_MAX : b.shape[0]), e);
    for (size_t i = 0; !r && i < b.count; i++) {
        float v = b.data[i];
        if (!(v >= 0.0f && v < N_CLASSES && v == floorf(v)))
            r = sbs_fail(e, "%s: label %g at index %zu is not an integer in 0..9", lp, (double)v,
                         i);
    }
    if (r) {
        sbs_npy_free(&a);
        sbs_npy_free(&b);
        return -1;
    }
    s->n = n;
    s->c = c;
    s->h = h;
    s->w = w;
    s->y = xmalloc((size_t)n);
    for (int i = 0; i < n; i++) s->y[i] = (uint8_t)b.data[i];
    sbs_npy_free(&b);
    if (!hwc || c == 1) {
        s->x = a.data; /* (N,H,W) or (N,H,W,1): already CHW */
        a.data = NULL;
    } else {
        size_t img = (size_t)c * h * w;
        s->x = xmalloc((size_t)n * img * sizeof(float));
        for (size_t i = 0; i < (size_t)n; i++) {
            const float *src = a.data + i * img;
            float *dst = s->x + i * img;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int ch = 0; ch < c; ch++)
                        dst[((size_t)ch * h + y) * w + x] = src[((size_t)y * w + x) * c + ch];
        }
    }
    sbs_npy_free(&a);
    return 0;
}

static int load_cifar_bin_split(const char *dir, int k, sbs_split *s, sbs_err *e)
{
    sbs_split t = {0};
    int first = k == 0 ? 1 : 0, last = k == 0 ? 5 : 0;
    for (int b = first; b <= last; b++) {
        char p[4096], base[32];
        if (k == 0)
            snprintf(base, sizeof base, "data_batch_%d.bin", b);
        else
            snprintf(base, sizeof base, "test_batch.bin");
        join(p, sizeof p, dir, base);
        unsigned char *buf;
        size_t len;
        int f = file_at(p, e);
        if (f <= 0) {
            split_free(&t);
            if (f < 0) return -1;
            return sbs_fail(e,
                            "%s: missing %s (CIFAR-10 binary version: data_batch_1.bin .. "
                            "data_batch_5.bin, test_batch.bin)",
                            dir, base);
        }
        if (sbs_read_file(p, &buf, &len, e)) {
            split_free(&t);
            return -1;
        }
        int r = sbs_cifar_parse(buf, len, p, &t, e);
        free(buf);
        if (r) {
            split_free(&t);
            return -1;
        }
    }
    *s = t;
    return 0;
}

static int check_nonempty(const sbs_split *s, const char *what, const char *dir, sbs_err *e)
{
    if (s->n == 0) return sbs_fail(e, "%s: the %s data has 0 images", dir, what);
    return 0;
}

/* ---------------------------------------------------------------- loader */

int sbs_dataset_load(sbs_dataset *d, const char *data_mode, const char *path, int which, sbs_err *e)
{
    memset(d, 0, sizeof *d);
    d->n_classes = N_CLASSES;
    bool cifar;
    if (strcasecmp(data_mode, "MNIST") == 0 || strcasecmp(data_mode, "MNIST_FASHION") == 0 ||
        strcasecmp(data_mode, "FASHION_MNIST") == 0)
        cifar = false;
    else if (strcasecmp(data_mode, "CIFAR10") == 0)
        cifar = true;
    else
        return sbs_fail(e, "unknown data_mode '%s' (expected MNIST, MNIST_FASHION or CIFAR10)",
                        data_mode);
    if (!(which & (SBS_SPLIT_TRAIN | SBS_SPLIT_TEST)))
        return sbs_fail(e, "sbs_dataset_load: no split requested");
    struct stat st;
    if (stat(path, &st) != 0)
        return sbs_fail(e, "data folder %s for %s: %s", path, data_mode, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return sbs_fail(e, "data folder %s for %s: not a folder", path, data_mode);
    /* the files are looked up by name: the folder must be searchable (and, to say what it
     * holds, readable); "no data found" would be wrong */
    if (faccessat(AT_FDCWD, path, R_OK | X_OK, AT_EACCESS) != 0)
        return sbs_fail(e, "data folder %s for %s: %s", path, data_mode, strerror(errno));

    sbs_split *splits[2] = {&d->train, &d->test};
    const char *what[2] = {"training", "test"};
    bool want[2] = {(which & SBS_SPLIT_TRAIN) != 0, (which & SBS_SPLIT_TEST) != 0};
    char tmp[4096];
    bool gz = false;
    int r = 0;

    /* Which form is present? */
    enum { FORM_NONE, FORM_NATIVE, FORM_NPY } form = FORM_NONE;
    char native_dir[4096];
    snprintf(native_dir, sizeof native_dir, "%s", path);
    for (int k = 0; k < 2 && form == FORM_NONE; k++) {
        if (!want[k]) continue;
        if (!cifar) {
            for (int j = 0; j < 2; j++) {
                int f = find_idx(path, idx_names[k][j], tmp, sizeof tmp, &gz, e);
                if (f < 0) return -1;
                if (f > 0) form = FORM_NATIVE;
            }
        } else {
            const char *sub[2] = {"", "/cifar-10-batches-bin"};
            for (int q = 0; q < 2 && form == FORM_NONE; q++) {
                char dir[4096];
                snprintf(dir, sizeof dir, "%s%s", path, sub[q]);
                for (int b = 1; b <= 5 && form == FORM_NONE; b++) {
                    char base[32];
                    if (k == 0)
                        snprintf(base, sizeof base, "data_batch_%d.bin", b);
                    else
                        snprintf(base, sizeof base, "test_batch.bin");
                    join(tmp, sizeof tmp, dir, base);
                    int f = file_at(tmp, e);
                    if (f < 0) return -1;
                    if (f > 0) {
                        form = FORM_NATIVE;
                        snprintf(native_dir, sizeof native_dir, "%s", dir);
                    }
                }
            }
        }
    }
    gz = false;
    if (form == FORM_NONE)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 2; j++) {
                if (!want[k]) continue;
                join(tmp, sizeof tmp, path, npy_names[k][j]);
                int f = file_at(tmp, e);
                if (f < 0) return -1;
                if (f > 0) form = FORM_NPY;
            }
    if (form == FORM_NONE) {
        char list[1024] = "";
        size_t o = 0;
#define APPEND(...) \
    (o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, __VA_ARGS__))
        for (int k = 0; k < 2; k++) {
            if (!want[k]) continue;
            if (!cifar)
                for (int j = 0; j < 2; j++) APPEND("%s%s[.gz]", o ? ", " : "", idx_names[k][j]);
            else
                APPEND("%s%s", o ? ", " : "",
                       k == 0 ? "data_batch_1.bin .. data_batch_5.bin" : "test_batch.bin");
        }
        if (cifar) APPEND(" (also in cifar-10-batches-bin/)");
        bool first = true;
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 2; j++)
                if (want[k]) {
                    APPEND("%s%s", first ? "; or " : ", ", npy_names[k][j]);
                    first = false;
                }
#undef APPEND
        return sbs_fail(e, "no %s data found in %s: looked for %s", data_mode, path, list);
    }

    for (int k = 0; k < 2 && !r; k++) {
        if (!want[k]) continue;
        if (form == FORM_NPY)
            r = load_npy_split(path, k, cifar ? 3 : 1, cifar ? 32 : 28, splits[k], e);
        else if (cifar)
            r = load_cifar_bin_split(native_dir, k, splits[k], e);
        else
            r = load_idx_split(path, k, splits[k], &gz, e);
        if (!r) r = check_nonempty(splits[k], what[k], form == FORM_NATIVE ? native_dir : path, e);
    }
    if (!r && want[0] && want[1] &&
        (d->train.c != d->test.c || d->train.h != d->test.h || d->train.w != d->test.w))
        r = sbs_fail(e, "%s: training images are %dx%dx%d but test images are %dx%dx%d", path,
                     d->train.c, d->train.h, d->train.w, d->test.c, d->test.h, d->test.w);
    if (r) {
        sbs_dataset_free(d);
        return -1;
    }
    for (int k = 0; k < 2; k++)
        if (want[k]) scale_split(splits[k]);
    snprintf(d->source, sizeof d->source, "%s",
             form == FORM_NPY ? "npy"
             : cifar          ? "cifar-bin"
             : gz             ? "idx.gz"
                              : "idx");
    return 0;
}

void sbs_dataset_free(sbs_dataset *d)
{
    if (!d) return;
    split_free(&d->train);
    split_free(&d->test);
}

/* ---------------------------------------------------------------- preprocessing */

void sbs_crop_center(const sbs_split *s, int first, int count, int crop, float *out)
{
    int oh = s->h - 2 * crop, ow = s->w - 2 * crop;
    if (oh <= 0 || ow <= 0 || crop < 0) return;
    size_t img = (size_t)s->c * s->h * s->w;
    for (int i = 0; i < count; i++) {
        const float *src = s->x + (size_t)(first + i) * img;
        for (int ch = 0; ch < s->c; ch++)
            for (int y = 0; y < oh; y++) {
                const float *row = src + ((size_t)ch * s->h + y + crop) * s->w + crop;
                float *dst = out + (((size_t)i * s->c + ch) * oh + y) * ow;
                for (int x = 0; x < ow; x++) dst[x] = row[x] + 1e-20f;
            }
    }
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

void sbs_augment_image(const sbs_split *s, int index, const sbs_augment *a, uint64_t seed,
                       uint64_t epoch, float *out)
{
    int crop = a->crop > 0 ? a->crop : 0;
    int oh = s->h - 2 * crop, ow = s->w - 2 * crop, c = s->c;
    if (oh <= 0 || ow <= 0) return;
    sbs_stream st;
    sbs_stream_init(&st, seed, SBS_RNG_AUGMENT, (uint32_t)epoch, (uint32_t)index);
    /* The draws are always made in the same order, used or not. */
    int oy = (int)sbs_stream_below(&st, (uint32_t)(2 * crop + 1));
    int ox = (int)sbs_stream_below(&st, (uint32_t)(2 * crop + 1));
    double u_flip = sbs_stream_u01(&st), u_b = sbs_stream_u01(&st), u_c = sbs_stream_u01(&st);

    const float *src = s->x + (size_t)index * c * s->h * s->w;
    bool flip = a->photometric && u_flip < (double)a->flip_p;
    size_t plane = (size_t)oh * ow;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++) {
            const float *row = src + ((size_t)ch * s->h + y + oy) * s->w + ox;
            float *dst = out + ((size_t)ch * oh + y) * ow;
            if (flip)
                for (int x = 0; x < ow; x++) dst[x] = row[ow - 1 - x];
            else
                memcpy(dst, row, (size_t)ow * sizeof(float));
        }

    if (a->photometric) {
        /* torchvision ColorJitter: brightness blends with black, x*f, then contrast blends
         * with the mean of the grayscale image, f*x + (1-f)*mean, each clamped to [0, 1].
         * A jitter of 0 leaves the image alone (the draw is still made). */
        double b = a->brightness > 0 ? a->brightness : 0, cc = a->contrast > 0 ? a->contrast : 0;
        double blo = b < 1 ? 1 - b : 0, clo = cc < 1 ? 1 - cc : 0;
        float fb = (float)(blo + (1 + b - blo) * u_b);
        float fc = (float)(clo + (1 + cc - clo) * u_c);
        size_t total = plane * c;
        if (b > 0)
            for (size_t i = 0; i < total; i++) out[i] = clamp01(out[i] * fb);
        if (cc > 0) {
            double mean = 0;
            if (c == 3) {
                for (size_t i = 0; i < plane; i++)
                    mean += 0.299 * out[i] + 0.587 * out[plane + i] + 0.114 * out[2 * plane + i];
                mean /= (double)plane;
            } else {
                for (size_t i = 0; i < total; i++) mean += out[i];
                mean /= (double)total;
            }
            float mterm = (1.0f - fc) * (float)mean;
            for (size_t i = 0; i < total; i++) out[i] = clamp01(fc * out[i] + mterm);
        }
    }
    for (size_t i = 0; i < plane * c; i++) out[i] += 1e-20f;
}
