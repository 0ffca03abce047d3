/* npy.c — NumPy .npy reading (format 1.0, 2.0, 3.0; any numeric dtype, converted to float)
 * and writing (format 1.0, '<f4', C order, byte-identical to numpy.save), whole-file reading
 * with transparent gzip, atomic file writing, and the Weight_L{layer}_S*.npy lookup. */
#include "sbs/npy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------- small helpers */

static bool host_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void fmt_shape(char *buf, size_t size, int ndim, const long *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "(");
    for (int i = 0; i < ndim; i++)
        o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "%s%ld", i ? ", " : "", shape[i]);
    if (ndim == 1) o += (size_t)snprintf(buf + o, o < size ? size - o : 0, ",");
    snprintf(buf + o, o < size ? size - o : 0, ")");
}

/* Describe the byte at p (or the end of the text) for "found ..." messages. */
static void describe_at(char *buf, size_t size, const unsigned char *p, const unsigned char *end)
{
    if (p >= end)
        snprintf(buf, size, "end of header");
    else if (*p >= 0x20 && *p < 0x7f)
        snprintf(buf, size, "'%c'", *p);
    else
        snprintf(buf, size, "byte 0x%02x", *p);
}

/* ---------------------------------------------------------------- header parsing */

typedef struct {
    const unsigned char *buf; /* whole file (offsets are reported relative to it) */
    const unsigned char *p, *end;
    const char *name;
    sbs_err *e;
} hparser;

static size_t hoff(const hparser *h)
{
    return (size_t)(h->p - h->buf);
}

static int hfail(hparser *h, const char *expected)
{
    char found[48];
    describe_at(found, sizeof found, h->p, h->end);
    return sbs_fail(h->e, "%s: offset %zu: expected %s, found %s", h->name, hoff(h), expected,
                    found);
}

static void hskip(hparser *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

/* A Python string literal in ' or " quotes, without escapes; copies at most size-1 bytes. */
static int hstring(hparser *h, char *out, size_t size, size_t *outlen, const char *what)
{
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return hfail(h, what);
    unsigned char q = *h->p;
    const unsigned char *s = h->p + 1, *t = s;
    while (t < h->end && *t != q) {
        if (*t == '\\' || *t < 0x20 || *t == 0x7f) break; /* no escapes, no control bytes */
        t++;
    }
    if (t >= h->end || *t != q) {
        h->p = t;
        return hfail(h, "closing quote of string");
    }
    size_t n = (size_t)(t - s);
    size_t c = n < size - 1 ? n : size - 1;
    memcpy(out, s, c);
    out[c] = 0;
    *outlen = n;
    h->p = t + 1;
    return 0;
}

static bool hword(hparser *h, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) < n || memcmp(h->p, w, n) != 0) return false;
    const unsigned char *after = h->p + n;
    if (after < h->end && (((*after | 0x20) >= 'a' && (*after | 0x20) <= 'z') ||
                           (*after >= '0' && *after <= '9') || *after == '_'))
        return false;
    h->p = after;
    return true;
}

/* Shape tuple: '(' [int (',' int)* [',']] ')', ints non-negative (a Python 2 'L' suffix ok). */
static int hshape(hparser *h, int *ndim, long *shape)
{
    if (h->p >= h->end || *h->p != '(') return hfail(h, "'(' starting the shape tuple");
    h->p++;
    int n = 0;
    for (;;) {
        hskip(h);
        if (h->p < h->end && *h->p == ')') break;
        if (h->p < h->end && *h->p == '-') return hfail(h, "a non-negative integer in the shape");
        if (h->p >= h->end || *h->p < '0' || *h->p > '9')
            return hfail(h, "an integer or ')' in the shape");
        if (n == SBS_NPY_MAX_DIMS) {
            char exp[64];
            snprintf(exp, sizeof exp, "at most %d dimensions", SBS_NPY_MAX_DIMS);
            return hfail(h, exp);
        }
        const unsigned char *start = h->p;
        long v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            int d = *h->p - '0';
            if (v > (LONG_MAX - d) / 10) {
                h->p = start;
                return hfail(h, "a dimension that fits in 63 bits");
            }
            v = v * 10 + d;
            h->p++;
        }
        if (h->p < h->end && (*h->p == 'L' || *h->p == 'l')) h->p++;
        shape[n++] = v;
        hskip(h);
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            continue;
        }
        if (h->p < h->end && *h->p == ')') break;
        return hfail(h, "',' or ')' in the shape");
    }
    h->p++; /* ')' */
    *ndim = n;
    return 0;
}

typedef struct {
    char kind;      /* 'b', 'u', 'i', 'f' */
    int size;       /* bytes per element */
    bool swap;      /* byte order differs from the host */
    const char *np; /* numpy's name, e.g. "float32" */
} dtype_info;

static bool parse_descr(const char *d, dtype_info *t)
{
    char order = '=';
    if (*d == '<' || *d == '>' || *d == '=' || *d == '|') order = *d++;
    if (strcmp(d, "?") == 0) d = "b1";
    if (d[0] == 0 || d[1] < '1' || d[1] > '8' || d[2] != 0) return false;
    t->kind = d[0];
    t->size = d[1] - '0';
    static const struct {
        char k;
        int s;
        const char *np;
    } known[] = {
        {'b', 1, "bool"},   {'u', 1, "uint8"},   {'u', 2, "uint16"},  {'u', 4, "uint32"},
        {'u', 8, "uint64"}, {'i', 1, "int8"},    {'i', 2, "int16"},   {'i', 4, "int32"},
        {'i', 8, "int64"},  {'f', 4, "float32"}, {'f', 8, "float64"},
    };
    t->np = NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].k == t->kind && known[i].s == t->size) t->np = known[i].np;
    if (!t->np) return false;
    bool little = order == '<' || ((order == '=' || order == '|') && host_little());
    t->swap = t->size > 1 && little != host_little();
    return true;
}

static float convert(const unsigned char *p, const dtype_info *t)
{
    unsigned char b[8];
    if (t->swap)
        for (int i = 0; i < t->size; i++) b[i] = p[t->size - 1 - i];
    else
        memcpy(b, p, (size_t)t->size);
    switch (t->kind) {
    case 'b': return b[0] ? 1.0f : 0.0f;
    case 'u':
        switch (t->size) {
        case 1: return (float)b[0];
        case 2: {
            uint16_t v;
            memcpy(&v, b, 2);
            return (float)v;
        }
        case 4: {
            uint32_t v;
            memcpy(&v, b, 4);
            return (float)v;
        }
        default: {
            uint64_t v;
            memcpy(&v, b, 8);
            return (float)v;
        }
        }
    case 'i':
        switch (t->size) {
        case 1: return (float)(int8_t)b[0];
        case 2: {
            int16_t v;
            memcpy(&v, b, 2);
            return (float)v;
        }
        case 4: {
            int32_t v;
            memcpy(&v, b, 4);
            return (float)v;
        }
        default: {
            int64_t v;
            memcpy(&v, b, 8);
            return (float)v;
        }
        }
    default:
        if (t->size == 4) {
            float v;
            memcpy(&v, b, 4);
            return v;
        }
        {
            double v;
            memcpy(&v, b, 8);
            return (float)v;
        }
    }
}

int sbs_npy_parse(const unsigned char *buf, size_t len, const char *name, sbs_npy *out,
                  bool strict_f4, sbs_err *e)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    memset(out, 0, sizeof *out);
    if (!name) name = "(npy)";

    size_t m = len < 6 ? len : 6;
    if (len == 0 || memcmp(buf, magic, m) != 0) {
        char found[40] = "";
        size_t o = 0;
        for (size_t i = 0; i < m; i++)
            o += (size_t)snprintf(found + o, sizeof found - o, "\\x%02x", buf[i]);
        return sbs_fail(e, "%s: offset 0: expected NumPy magic \\x93NUMPY, found %s", name,
                        len ? found : "an empty file");
    }
    if (len < 8)
        return sbs_fail(e, "%s: offset %zu: expected format version (2 bytes), found end of file",
                        name, len);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return sbs_fail(e, "%s: offset 6: expected format version 1.0, 2.0 or 3.0, found %d.%d",
                        name, major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if (len < 8 + lenbytes)
        return sbs_fail(e, "%s: offset 8: expected header length (%zu bytes), found end of file",
                        name, lenbytes);
    size_t hlen = major == 1 ? (size_t)buf[8] | (size_t)buf[9] << 8
                             : (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
                                   (size_t)buf[11] << 24;
    size_t hstart = 8 + lenbytes;
    if (hlen > len - hstart)
        return sbs_fail(e,
                        "%s: offset %zu: expected a header of %zu bytes, found end of file "
                        "after %zu (truncated header)",
                        name, hstart, hlen, len - hstart);

    hparser h = {buf, buf + hstart, buf + hstart + hlen, name, e};
    char descr[16] = "";
    size_t descr_off = 0;
    bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
    int ndim = 0;
    long shape[SBS_NPY_MAX_DIMS] = {0};

    hskip(&h);
    if (h.p >= h.end || *h.p != '{') return hfail(&h, "'{' starting the header dictionary");
    h.p++;
    for (;;) {
        hskip(&h);
        if (h.p < h.end && *h.p == '}') break;
        const unsigned char *key_at = h.p;
        char key[32];
        size_t klen;
        if (hstring(&h, key, sizeof key, &klen, "a quoted key or '}'")) return -1;
        bool *seen = NULL;
        if (klen == 5 && strcmp(key, "descr") == 0)
            seen = &have_descr;
        else if (klen == 13 && strcmp(key, "fortran_order") == 0)
            seen = &have_fortran;
        else if (klen == 5 && strcmp(key, "shape") == 0)
            seen = &have_shape;
        if (!seen) {
            h.p = key_at;
            return hfail(&h, "key 'descr', 'fortran_order' or 'shape'");
        }
        if (*seen) {
            h.p = key_at;
            char exp[64];
            snprintf(exp, sizeof exp, "key '%s' only once", key);
            return hfail(&h, exp);
        }
        *seen = true;
        hskip(&h);
        if (h.p >= h.end || *h.p != ':') return hfail(&h, "':' after the key");
        h.p++;
        hskip(&h);
        if (seen == &have_descr) {
            if (h.p < h.end && *h.p == '[')
                return hfail(&h, "a simple dtype string such as '<f4' (structured dtypes are "
                                 "not supported)");
            descr_off = hoff(&h);
            size_t dlen;
            if (hstring(&h, descr, sizeof descr, &dlen, "a quoted dtype string such as '<f4'"))
                return -1;
            (void)dlen;
        } else if (seen == &have_fortran) {
            if (hword(&h, "True"))
                fortran = true;
            else if (hword(&h, "False"))
                fortran = false;
            else
                return hfail(&h, "True or False for 'fortran_order'");
        } else {
            if (hshape(&h, &ndim, shape)) return -1;
        }
        hskip(&h);
        if (h.p < h.end && *h.p == ',') {
            h.p++;
            continue;
        }
        if (h.p < h.end && *h.p == '}') break;
        return hfail(&h, "',' or '}' in the header dictionary");
    }
    h.p++; /* '}' */
    hskip(&h);
    if (h.p < h.end) return hfail(&h, "only spaces after the header dictionary");
    if (!have_descr || !have_fortran || !have_shape) {
        h.p = h.end;
        return hfail(&h, !have_descr     ? "key 'descr' in the header"
                         : !have_fortran ? "key 'fortran_order' in the header"
                                         : "key 'shape' in the header");
    }

    if (strict_f4 && (strcmp(descr, "<f4") != 0 || fortran)) {
        bool bad_dtype = strcmp(descr, "<f4") != 0;
        return sbs_fail(e,
                        "%s: expected dtype '<f4' (little-endian float32, C order), found %s%s%s",
                        name, bad_dtype ? "'" : "", bad_dtype ? descr : "fortran_order True",
                        bad_dtype ? "'" : "");
    }
    dtype_info t;
    if (!parse_descr(descr, &t))
        return sbs_fail(e,
                        "%s: offset %zu: expected a numeric dtype (b1, u1, u2, u4, u8, i1, i2, "
                        "i4, i8, f4, f8), found '%s'",
                        name, descr_off, descr);

    char shp[SBS_NPY_MAX_DIMS * 22 + 8];
    fmt_shape(shp, sizeof shp, ndim, shape);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && count > SIZE_MAX / 8 / (size_t)shape[i])
            return sbs_fail(e, "%s: shape %s has too many elements (size overflows)", name, shp);
        count *= (size_t)shape[i];
    }
    size_t need = count * (size_t)t.size;
    size_t dstart = hstart + hlen, have = len - dstart;
    if (have != need)
        return sbs_fail(e, "%s: %sheader says shape %s = %zu %s (%zu bytes of data), file has %zu",
                        name, have < need ? "truncated: " : "extra data: ", shp, count, t.np, need,
                        have);

    float *data = xmalloc(count * sizeof(float));
    const unsigned char *src = buf + dstart;
    if (!fortran || ndim < 2) {
        for (size_t i = 0; i < count; i++) data[i] = convert(src + i * (size_t)t.size, &t);
    } else if (count > 0) {
        /* Fortran order: the first axis varies fastest in the file; produce C order. */
        size_t fstride[SBS_NPY_MAX_DIMS], idx[SBS_NPY_MAX_DIMS] = {0}, off = 0;
        fstride[0] = 1;
        for (int k = 1; k < ndim; k++) fstride[k] = fstride[k - 1] * (size_t)shape[k - 1];
        for (size_t i = 0; i < count; i++) {
            data[i] = convert(src + off * (size_t)t.size, &t);
            for (int k = ndim - 1; k >= 0; k--) {
                idx[k]++;
                off += fstride[k];
                if (idx[k] < (size_t)shape[k]) break;
                off -= idx[k] * fstride[k];
                idx[k] = 0;
            }
        }
    }
    if (strict_f4)
        for (size_t i = 0; i < count; i++)
            if (!isfinite(data[i])) {
                int r = sbs_fail(e, "%s: element %zu is %s", name, i,
                                 isnan(data[i]) ? "NaN"
                                 : data[i] > 0  ? "+Inf"
                                                : "-Inf");
                free(data);
                return r;
            }

    out->ndim = ndim;
    memcpy(out->shape, shape, sizeof shape);
    out->count = count;
    out->data = data;
    snprintf(out->dtype, sizeof out->dtype, "%s", descr);
    return 0;
}

void sbs_npy_free(sbs_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

int sbs_npy_read(const char *path, sbs_npy *out, bool strict_f4, sbs_err *e)
{
    unsigned char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    if (sbs_read_file(path, &buf, &len, e)) return -1;
    int r = sbs_npy_parse(buf, len, path, out, strict_f4, e);
    free(buf);
    return r;
}

/* ---------------------------------------------------------------- writing */

int sbs_npy_encode(const char *name, const char *descr, const void *data, int ndim,
                   const long *shape, unsigned char **out, size_t *out_len, sbs_err *e)
{
    int elsize = descr[0] && descr[1] ? atoi(descr + 2) : 0;
    if (strlen(descr) < 3 || strlen(descr) > 4 ||
        (elsize != 1 && elsize != 2 && elsize != 4 && elsize != 8))
        return sbs_fail(e, "%s: cannot write dtype '%s' (expected e.g. '<f4' or '<i8')", name,
                        descr);
    if (ndim < 0 || ndim > SBS_NPY_MAX_DIMS)
        return sbs_fail(e, "%s: cannot write %d dimensions (at most %d)", name, ndim,
                        SBS_NPY_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return sbs_fail(e, "%s: cannot write negative dimension %ld", name, shape[i]);
        if (shape[i] != 0 && count > SIZE_MAX / 8 / (size_t)shape[i])
            return sbs_fail(e, "%s: shape too large to write", name);
        count *= (size_t)shape[i];
    }
    char shp[SBS_NPY_MAX_DIMS * 22 + 8];
    fmt_shape(shp, sizeof shp, ndim, shape);

    /* Exactly as numpy.save (format 1.0): the dict repr with sorted keys, spare spaces for
     * the growth axis, then spaces and '\n' so the whole prefix is a multiple of 64. */
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shp);
    if (ndim > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%ld", shape[0]);
        for (int i = digits; i < 21; i++) hdr[n++] = ' ';
    }
    size_t hlen = (size_t)n + 1;
    size_t pad = 64 - (10 + hlen) % 64;
    hlen += pad;
    size_t total = 10 + hlen + count * (size_t)elsize;
    unsigned char *buf = xmalloc(total);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, hdr, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    unsigned char *d = buf + 10 + hlen;
    if (count) memcpy(d, data, count * (size_t)elsize);
    /* the data are the host's values: swap to the byte order descr names */
    bool want_little = descr[0] != '>';
    if (elsize > 1 && want_little != host_little())
        for (size_t i = 0; i < count; i++) {
            unsigned char *q = d + (size_t)elsize * i;
            for (int a = 0, b = elsize - 1; a < b; a++, b--) {
                unsigned char t = q[a];
                q[a] = q[b];
                q[b] = t;
            }
        }
    *out = buf;
    *out_len = total;
    return 0;
}

int sbs_npy_write(const char *path, const float *data, int ndim, const long *shape, sbs_err *e)
{
    unsigned char *buf;
    size_t total;
    if (sbs_npy_encode(path, "<f4", data, ndim, shape, &buf, &total, e) != 0) return -1;
    int r = sbs_write_file_atomic(path, buf, total, e);
    free(buf);
    return r;
}

static int fsync_dir_of(const char *path, sbs_err *e)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sbs_fail(e, "cannot open folder %s to sync it: %s", dir, strerror(errno));
    int r = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        r = sbs_fail(e, "syncing folder %s after writing %s: %s", dir, path, strerror(errno));
    close(fd);
    return r;
}

int sbs_write_file_atomic(const char *path, const void *data, size_t n, sbs_err *e)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return sbs_fail(e, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return sbs_fail(e, "cannot write %s: cannot create %s: %s", path, tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return sbs_fail(e, "cannot write %s: %s", path, strerror(err));
    }
    const char *what = NULL;
    if (n && fwrite(data, 1, n, f) != n)
        what = "writing";
    else if (fflush(f) != 0)
        what = "writing";
    else if (fsync(fileno(f)) != 0 && errno != EINVAL)
        what = "syncing";
    int err = errno;
    if (fclose(f) != 0 && !what) {
        what = "closing";
        err = errno;
    }
    if (what) {
        unlink(tmp);
        return sbs_fail(e, "%s %s (%zu bytes): %s", what, path, n, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return sbs_fail(e, "cannot replace %s with %s: %s", path, tmp, strerror(err));
    }
    return fsync_dir_of(path, e);
}

/* ---------------------------------------------------------------- reading files */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Read at most max bytes of a regular file; *more: the file goes on past them. */
static int read_raw(const char *path, size_t max, unsigned char **buf, size_t *len, bool *more,
                    sbs_err *e)
{
    int fd = sbs_open_regular(path, e);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return sbs_fail(e, "cannot read %s: %s", path, strerror(err));
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
    if (cap > max) cap = max > 0 ? max : 1;
    unsigned char *b = xmalloc(cap);
    size_t n = 0;
    *more = false;
    for (;;) {
        if (n == cap && cap < max) {
            cap = cap > max / 2 ? max : 2 * cap;
            b = xrealloc(b, cap);
        }
        unsigned char extra;
        bool past = n == max; /* one byte more tells whether the file goes on */
        ssize_t r = read(fd, past ? &extra : b + n, past ? 1 : cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            free(b);
            return sbs_fail(e, "cannot read %s: %s", path, strerror(err));
        }
        if (r == 0) break;
        if (past) {
            *more = true;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

/* Inflate gzip data (concatenated members too), at most max bytes of output; *more: the data
 * goes on past them (the rest is not inflated: a small file cannot make us inflate gigabytes
 * that nobody asked for). */
static int gunzip(const char *path, const unsigned char *in, size_t inlen, size_t max,
                  unsigned char **buf, size_t *len, bool *more, sbs_err *e)
{
    if (inlen < 18 || in[0] != 0x1f || in[1] != 0x8b)
        return sbs_fail(e, "%s: not a valid gzip file (%s)", path,
                        inlen < 2 || in[0] != 0x1f || in[1] != 0x8b ? "no gzip magic 1f 8b"
                                                                    : "too short");
    size_t cap = (size_t)in[inlen - 4] | (size_t)in[inlen - 3] << 8 | (size_t)in[inlen - 2] << 16 |
                 (size_t)in[inlen - 1] << 24;
    if (cap / 64 > inlen) cap = 64 * inlen; /* do not trust the stored size blindly */
    if (cap < 1024) cap = 1024;
    if (cap > max) cap = max;
    unsigned char *out = xmalloc(cap ? cap : 1);
    size_t n = 0, pos = 0;
    *more = false;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(out);
        return sbs_fail(e, "%s: cannot start zlib", path);
    }
    int ret = Z_OK;
    for (;;) {
        if (n == cap && cap < max) {
            cap = cap > max / 2 ? max : 2 * cap;
            out = xrealloc(out, cap);
        }
        unsigned char extra;
        bool past = n == max; /* inflating on into one spare byte: is there more? */
        size_t in_chunk = inlen - pos > UINT_MAX ? UINT_MAX : inlen - pos;
        size_t out_chunk = past ? 1 : cap - n > UINT_MAX ? UINT_MAX : cap - n;
        z.next_in = (unsigned char *)(uintptr_t)(in + pos);
        z.avail_in = (unsigned)in_chunk;
        z.next_out = past ? &extra : out + n;
        z.avail_out = (unsigned)out_chunk;
        ret = inflate(&z, Z_NO_FLUSH);
        pos += in_chunk - z.avail_in;
        if (past && z.avail_out == 0) {
            *more = true;
            break;
        }
        if (!past) n += out_chunk - z.avail_out;
        if (ret == Z_STREAM_END) {
            /* another gzip member may follow (concatenated .gz files) */
            if (pos + 2 <= inlen && in[pos] == 0x1f && in[pos + 1] == 0x8b) {
                inflateReset(&z);
                continue;
            }
            if (pos != inlen) {
                inflateEnd(&z);
                free(out);
                return sbs_fail(e,
                                "%s: not a valid gzip file (%zu bytes of garbage after the "
                                "compressed data)",
                                path, inlen - pos);
            }
            break;
        }
        if (ret == Z_BUF_ERROR && z.avail_out > 0) {
            inflateEnd(&z);
            free(out);
            return sbs_fail(e, "%s: truncated gzip file (compressed data ends early)", path);
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            const char *msg = z.msg ? z.msg : zError(ret);
            inflateEnd(&z);
            free(out);
            return sbs_fail(e, "%s: not a valid gzip file (%s)", path, msg);
        }
    }
    inflateEnd(&z);
    *buf = out;
    *len = n;
    return 0;
}

int sbs_read_file_max(const char *path, size_t max, unsigned char **buf, size_t *len, bool *more,
                      sbs_err *e)
{
    unsigned char *raw = NULL;
    size_t n = 0;
    bool gz = ends_with(path, ".gz"), raw_more = false;
    *buf = NULL;
    *len = 0;
    *more = false;
    if (read_raw(path, gz ? SIZE_MAX : max, &raw, &n, &raw_more, e)) return -1;
    if (!gz) {
        *buf = raw;
        *len = n;
        *more = raw_more;
        return 0;
    }
    int r = gunzip(path, raw, n, max, buf, len, more, e);
    free(raw);
    return r;
}

int sbs_read_file(const char *path, unsigned char **buf, size_t *len, sbs_err *e)
{
    bool more;
    return sbs_read_file_max(path, SIZE_MAX, buf, len, &more, e);
}

/* ---------------------------------------------------------------- layer files */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The epoch S of a file name "<head><S>.npy" (head = "<prefix>_L<layer>_S"); -1 when the
 * name is not of that form (or S does not fit an int). */
static long layer_file_epoch(const char *name, const char *head, size_t hl)
{
    if (strncmp(name, head, hl) != 0) return -1;
    const char *q = name + hl;
    if (*q < '0' || *q > '9') return -1;
    long s = 0;
    for (; *q >= '0' && *q <= '9'; q++) {
        s = s * 10 + (*q - '0');
        if (s > INT_MAX) return -1;
    }
    return strcmp(q, ".npy") == 0 ? s : -1;
}

int sbs_find_layer_file(const char *dir, const char *prefix, int layer, char *path,
                        size_t path_size, sbs_err *e)
{
    return sbs_find_layer_file_epoch(dir, prefix, layer, -1, path, path_size, e);
}

int sbs_find_layer_file_epoch(const char *dir, const char *prefix, int layer, long epoch,
                              char *path, size_t path_size, sbs_err *e)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return sbs_fail(e, "cannot open folder %s: %s", dir, strerror(errno));
    }
    char head[256];
    snprintf(head, sizeof head, "%s_L%d_S", prefix, layer);
    size_t hl = strlen(head);
    char **match = NULL;
    size_t nm = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *s = ent->d_name;
        long s_epoch = layer_file_epoch(s, head, hl);
        if (s_epoch < 0 || (epoch >= 0 && s_epoch != epoch)) continue;
        match = xrealloc(match, (nm + 1) * sizeof *match);
        match[nm] = xmalloc(strlen(s) + 1);
        strcpy(match[nm], s);
        nm++;
    }
    closedir(d);
    int r = (int)(nm > 0);
    if (nm > 1) {
        qsort(match, nm, sizeof *match, cmp_str);
        char list[768] = "";
        size_t o = 0;
        for (size_t i = 0; i < nm && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", match[i]);
        r = sbs_fail(e, "%s: %zu files match %s*.npy (expected one): %s", dir, nm, head, list);
    } else if (nm == 1) {
        if ((size_t)snprintf(path, path_size, "%s/%s", dir, match[0]) >= path_size)
            r = sbs_fail(e, "%s/%s: path too long", dir, match[0]);
    }
    for (size_t i = 0; i < nm; i++) free(match[i]);
    free(match);
    return r;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int sbs_list_layer_epochs(const char *dir, const char *prefix, int layer, long **epochs, size_t *n,
                          sbs_err *e)
{
    *epochs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return sbs_fail(e, "cannot open folder %s: %s", dir, strerror(errno));
    char head[256];
    snprintf(head, sizeof head, "%s_L%d_S", prefix, layer);
    size_t hl = strlen(head);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        long s = layer_file_epoch(ent->d_name, head, hl);
        if (s < 0) continue;
        *epochs = xrealloc(*epochs, (*n + 1) * sizeof **epochs);
        (*epochs)[(*n)++] = s;
    }
    closedir(d);
    if (*n > 1) qsort(*epochs, *n, sizeof **epochs, cmp_long);
    return 0;
}
