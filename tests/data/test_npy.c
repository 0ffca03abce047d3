/* test_npy.c — .npy reading/writing, gzip reading, atomic writes, layer-file lookup. */
#include "harness.h"

#include "child.h"

#include "sbs/npy.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <zlib.h>

/* ---------------------------------------------------------------- helpers */

/* Build a .npy in memory: magic, version, header (padded to 64 with spaces and '\n'),
 * then n data bytes. */
static unsigned char *make_npy(int major, const char *dict, const void *data, size_t n, size_t *len)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    *len = pre + hlen + n;
    unsigned char *b = malloc(*len);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    if (major == 1) {
        b[8] = (unsigned char)hlen;
        b[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++) b[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hlen - dl - 1);
    b[pre + hlen - 1] = '\n';
    if (n) memcpy(b + pre + hlen, data, n);
    return b;
}

static const float f6[6] = {0.5f, -1.25f, 3.0f, 1e-7f, 42.0f, -0.0f};

static bool same_bits(const float *a, const float *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof(float)) == 0;
}

static char tmp_root[4096];

/* ---------------------------------------------------------------- round trips */

static int roundtrip(int ndim, const long *shape)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rt.npy", tmp_root);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
    float *data = malloc((count ? count : 1) * sizeof(float));
    for (size_t i = 0; i < count; i++) data[i] = (float)i * 0.37f - 5.0f + (i % 7 ? 0 : 1e-30f);
    if (count > 3) data[3] = -0.0f;
    sbs_err e = {{0}};
    int ok = sbs_npy_write(path, data, ndim, shape, &e) == 0;
    if (!ok) {
        free(data);
        FAILF("write: %s", e.msg);
    }
    struct stat st;
    stat(path, &st);
    sbs_npy a;
    if (sbs_npy_read(path, &a, true, &e)) {
        free(data);
        FAILF("read: %s", e.msg);
    }
    int r = PASS;
    if (a.ndim != ndim || a.count != count || strcmp(a.dtype, "<f4") != 0) {
        printf("    ndim %d count %zu dtype %s\n", a.ndim, a.count, a.dtype);
        r = FAIL;
    }
    for (int i = 0; r == PASS && i < ndim; i++)
        if (a.shape[i] != shape[i]) r = FAIL;
    if (r == PASS && !same_bits(a.data, data, count)) r = FAIL;
    if (r == PASS && ((size_t)st.st_size - count * 4) % 64 != 0) {
        printf("    header not a multiple of 64 bytes\n");
        r = FAIL;
    }
    if (r == PASS && count_entries(tmp_root, ".tmp") != 0) {
        printf("    a temporary file was left behind\n");
        r = FAIL;
    }
    sbs_npy_free(&a);
    free(data);
    unlink(path);
    return r;
}

static int t_rt_1d(void)
{
    long s[] = {7};
    return roundtrip(1, s);
}
static int t_rt_2d(void)
{
    long s[] = {25, 32};
    return roundtrip(2, s);
}
static int t_rt_4d(void)
{
    long s[] = {2, 3, 4, 5};
    return roundtrip(4, s);
}
static int t_rt_zero(void)
{
    long s[] = {3, 0};
    return roundtrip(2, s);
}
static int t_rt_scalar(void)
{
    return roundtrip(0, NULL);
}
static int t_rt_big_dim(void)
{
    long s[] = {100000};
    return roundtrip(1, s);
}

static const char expected_header_25_32[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (25, 32), }   "
    "                                                     \n";

static int header_bytes(const long *shape, int ndim, unsigned char *out, size_t *n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/hdr.npy", tmp_root);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
    float *z = calloc(count ? count : 1, sizeof(float));
    sbs_err e;
    int r = sbs_npy_write(path, z, ndim, shape, &e);
    free(z);
    if (r) {
        printf("    write: %s\n", e.msg);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    *n = fread(out, 1, 4096, f);
    fclose(f);
    unlink(path);
    *n -= count * 4;
    return 0;
}

static int t_header_numpy_25_32(void)
{
    long s[] = {25, 32};
    unsigned char h[4096];
    size_t n;
    if (header_bytes(s, 2, h, &n)) return FAIL;
    CHECK(n == 128, "header is %zu bytes", n);
    CHECK(memcmp(h, expected_header_25_32, 128) == 0, "header differs from numpy's: %.*s",
          (int)n - 10, h + 10);
    return PASS;
}

static int t_header_numpy_1d(void)
{
    /* numpy.save(np.zeros(25, '<f4')): "(25,)" and 19 spare spaces for growth */
    long s[] = {25};
    unsigned char h[4096];
    size_t n;
    if (header_bytes(s, 1, h, &n)) return FAIL;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (25,), }";
    CHECK(n == 128, "header is %zu bytes", n);
    CHECK(memcmp(h + 10, dict, strlen(dict)) == 0, "dict: %.60s", h + 10);
    for (size_t i = 10 + strlen(dict); i < 127; i++) CHECK(h[i] == ' ', "byte %zu", i);
    CHECK(h[127] == '\n', "no final newline");
    return PASS;
}

static int t_header_numpy_long_shape(void)
{
    /* the spare spaces depend on the digits of the first dimension only */
    long t[] = {0, 123456789};
    unsigned char h[4096];
    size_t n;
    if (header_bytes(t, 2, h, &n)) return FAIL;
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 123456789), }";
    CHECK(memcmp(h + 10, dict, strlen(dict)) == 0, "dict: %.70s", h + 10);
    CHECK(n % 64 == 0 && h[n - 1] == '\n', "n %zu", n);
    /* numpy: 10 + len(dict) + (21 - len('0')) + 1 rounded up to 64 */
    size_t want = 10 + strlen(dict) + 20 + 1;
    want = (want + 63) / 64 * 64;
    CHECK(n == want, "header %zu bytes, numpy writes %zu", n, want);
    return PASS;
}

/* ---------------------------------------------------------------- reference weights */

static int t_reference_weights(void)
{
    const char *root = getenv("SBS_SOURCE_ROOT");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/datasets/reference/weights/FASHION_MNIST/SbS_Entropy",
             root ? root : ".");
    struct stat st;
    if (stat(dir, &st) != 0) SKIPF("%s not found", dir);
    static const struct {
        int layer;
        long r, c;
    } want[] = {{0, 25, 32}, {2, 800, 64}, {4, 576, 96}, {5, 96, 10}};
    for (size_t i = 0; i < 4; i++) {
        char path[4300];
        sbs_err e;
        int r = sbs_find_layer_file(dir, "Weight", want[i].layer, path, sizeof path, &e);
        CHECK(r == 1, "layer %d: find returned %d (%s)", want[i].layer, r, r < 0 ? e.msg : "");
        sbs_npy a;
        CHECK(sbs_npy_read(path, &a, true, &e) == 0, "%s", e.msg);
        bool ok = a.ndim == 2 && a.shape[0] == want[i].r && a.shape[1] == want[i].c;
        double sum = 0;
        for (size_t k = 0; k < a.count; k++) sum += a.data[k];
        long cols = a.shape[1];
        sbs_npy_free(&a);
        CHECK(ok, "%s: shape (%ld, %ld) expected", path, want[i].r, want[i].c);
        /* SbS weight columns sum to 1 */
        CHECK(fabs(sum - (double)cols) < 1e-2 * cols, "%s: sum %g, expected about %ld", path, sum,
              cols);
    }
    return PASS;
}

/* ---------------------------------------------------------------- malformed / dtypes */

#define F4_DICT(shape) "{'descr': '<f4', 'fortran_order': False, 'shape': " shape ", }"

typedef struct {
    const char *name;
    int major;
    const char *dict;
    int data_bytes; /* -1: exactly as needed for 6 floats of f6 */
    bool strict;
    const char *expect; /* substring of the error, or NULL when it must load */
} bad_case;

static const bad_case bad_cases[] = {
    {"truncated data", 1, F4_DICT("(2, 3)"), 20, true,
     "truncated: header says shape (2, 3) = 6 float32 (24 bytes of data), file has 20"},
    {"extra data", 1, F4_DICT("(2, 3)"), 28, true, "file has 28"},
    {"big-endian strict", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", -1,
     true, "expected dtype '<f4' (little-endian float32, C order), found '>f4'"},
    {"f8 strict", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48, true,
     "found '<f8'"},
    {"fortran strict", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", -1, true,
     "expected dtype '<f4' (little-endian float32, C order), found fortran_order True"},
    {"missing shape", 1, "{'descr': '<f4', 'fortran_order': False, }", -1, true,
     "expected key 'shape' in the header"},
    {"missing descr", 1, "{'fortran_order': False, 'shape': (6,), }", -1, false,
     "expected key 'descr'"},
    {"negative dim", 1, F4_DICT("(2, -3)"), -1, true,
     "offset 64: expected a non-negative integer in the shape, found '-'"},
    {"shape overflow", 1, F4_DICT("(4294967296, 4294967296, 4294967296)"), -1, true,
     "too many elements"},
    {"dim beyond long", 1, F4_DICT("(99999999999999999999,)"), -1, true,
     "expected a dimension that fits in 63 bits"},
    {"too many dims", 1, F4_DICT("(1, 1, 1, 1, 1, 1, 1, 1, 1)"), -1, true,
     "expected at most 8 dimensions"},
    {"unknown key", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", -1, true,
     "expected key 'descr', 'fortran_order' or 'shape', found '''"},
    {"duplicate key", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
     -1, true, "expected key 'descr' only once"},
    {"no dict", 1, "['descr', '<f4']", -1, true,
     "offset 10: expected '{' starting the header dictionary, found '['"},
    {"missing colon", 1, "{'descr' '<f4', 'fortran_order': False, 'shape': (6,)}", -1, true,
     "expected ':' after the key, found '''"},
    {"unterminated string", 1, "{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", -1, true,
     "expected"},
    {"bad bool", 1, "{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}", -1, true,
     "expected True or False for 'fortran_order', found 'f'"},
    {"bad shape sep", 1, F4_DICT("(2; 3)"), -1, true,
     "expected ',' or ')' in the shape, found ';'"},
    {"shape not tuple", 1, F4_DICT("[2, 3]"), -1, true, "expected '(' starting the shape tuple"},
    {"garbage after dict", 1, F4_DICT("(2, 3)") " x", -1, true,
     "expected only spaces after the header dictionary, found 'x'"},
    {"unclosed dict", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", -1, true,
     "expected ',' or '}' in the header dictionary"},
    {"structured dtype", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,)}", -1,
     true, "structured dtypes are not supported"},
    {"complex dtype", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,)}", -1, false,
     "expected a numeric dtype (b1, u1, u2, u4, u8, i1, i2, i4, i8, f4, f8), found '<c8'"},
    {"f2 dtype", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (12,)}", -1, false,
     "found '<f2'"},
    {"NaN strict", 1, F4_DICT("(2, 3)"), -2, true, "element 4 is NaN"},
    {"Inf strict", 1, F4_DICT("(2, 3)"), -3, true, "element 1 is -Inf"},
    /* accepted variants */
    {"NaN non-strict", 1, F4_DICT("(2, 3)"), -2, false, NULL},
    {"any key order, double quotes", 1,
     "{ \"shape\" : ( 2 ,3 ) , \"fortran_order\":False,\"descr\":\"<f4\"}", -1, true, NULL},
    {"no trailing comma in tuple", 1, F4_DICT("(6)"), -1, true, NULL},
    {"python2 long suffix", 1, F4_DICT("(2L, 3L)"), -1, true, NULL},
    {"version 2.0", 2, F4_DICT("(2, 3)"), -1, true, NULL},
    {"version 3.0", 3, F4_DICT("(6,)"), -1, true, NULL},
};

static int t_bad_table(void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        float d[8];
        memcpy(d, f6, sizeof f6);
        d[6] = d[7] = 0;
        size_t n = c->data_bytes >= 0 ? (size_t)c->data_bytes : sizeof f6;
        if (c->data_bytes == -2) d[4] = NAN;
        if (c->data_bytes == -3) d[1] = -INFINITY;
        unsigned char big[64] = {0};
        const void *src = n <= sizeof d ? (const void *)d : big;
        size_t len;
        unsigned char *buf = make_npy(c->major, c->dict, src, n, &len);
        sbs_npy a;
        sbs_err e = {{0}};
        int r = sbs_npy_parse(buf, len, "x.npy", &a, c->strict, &e);
        free(buf);
        const char *why = NULL;
        if (c->expect) {
            if (r == 0)
                why = "loaded, expected an error";
            else if (!strstr(e.msg, c->expect) || strncmp(e.msg, "x.npy: ", 7) != 0)
                why = "wrong message";
        } else {
            if (r != 0)
                why = "failed to load";
            else if (a.count != 6 || a.data[0] != 0.5f || a.data[5] != 0.0f)
                why = "wrong data";
        }
        if (r == 0) sbs_npy_free(&a);
        printf("    %-30s %s%s%s\n", c->name, why ? "FAIL: " : "ok", why ? why : "",
               why && r ? "" : "");
        if (why) {
            printf("        got: %s\n        expected to contain: %s\n", r ? e.msg : "(success)",
                   c->expect ? c->expect : "(success)");
            failed++;
        }
    }
    return failed ? FAIL : PASS;
}

static int t_bad_prefix(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        const char *expect;
    } c[] = {
        {"empty", "", 0, "offset 0: expected NumPy magic \\x93NUMPY, found an empty file"},
        {"bad magic", "\x93NUMPX\x01\x00", 8, "offset 0: expected NumPy magic"},
        {"text", "hello world", 11, "found \\x68\\x65"},
        {"no version", "\x93NUMPY\x01", 7,
         "offset 7: expected format version (2 bytes), found end of file"},
        {"bad version", "\x93NUMPY\x04\x00\x10\x00", 10,
         "offset 6: expected format version 1.0, 2.0 or 3.0, found 4.0"},
        {"bad minor", "\x93NUMPY\x01\x01\x10\x00", 10, "found 1.1"},
        {"no header length", "\x93NUMPY\x02\x00\x10\x00", 10,
         "offset 8: expected header length (4 bytes)"},
        {"truncated header", "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4'", 25,
         "offset 10: expected a header of 118 bytes, found end of file after 15 (truncated header)"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        sbs_npy a;
        sbs_err e = {{0}};
        int r = sbs_npy_parse((const unsigned char *)c[i].bytes, c[i].len, "x.npy", &a, false, &e);
        bool ok = r != 0 && strstr(e.msg, c[i].expect);
        printf("    %-30s %s\n", c[i].name, ok ? "ok" : "FAIL");
        if (!ok) {
            printf("        got: %s\n        expected: %s\n", r ? e.msg : "(success)", c[i].expect);
            failed++;
        }
        if (r == 0) sbs_npy_free(&a);
    }
    return failed ? FAIL : PASS;
}

static void put_be(unsigned char *p, uint64_t v, int size)
{
    for (int i = 0; i < size; i++) p[i] = (unsigned char)(v >> (8 * (size - 1 - i)));
}
static void put_le(unsigned char *p, uint64_t v, int size)
{
    for (int i = 0; i < size; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Every dtype and byte order converts to the same floats. */
static int t_dtypes(void)
{
    static const struct {
        const char *descr;
        int size;
        char kind;
        bool big;
    } c[] = {
        {"|b1", 1, 'b', false}, {"?", 1, 'b', false},   {"|u1", 1, 'u', false},
        {"|i1", 1, 'i', false}, {"<u2", 2, 'u', false}, {">u2", 2, 'u', true},
        {"<u4", 4, 'u', false}, {">u4", 4, 'u', true},  {"<u8", 8, 'u', false},
        {">u8", 8, 'u', true},  {"<i2", 2, 'i', false}, {">i2", 2, 'i', true},
        {"<i4", 4, 'i', false}, {">i4", 4, 'i', true},  {"=i4", 4, 'i', false},
        {"<i8", 8, 'i', false}, {">i8", 8, 'i', true},  {"<f4", 4, 'f', false},
        {">f4", 4, 'f', true},  {"<f8", 8, 'f', false}, {">f8", 8, 'f', true},
        {"|f4", 4, 'f', false},
    };
    static const double vals[4] = {0, 1, 7, 100};
    static const double svals[4] = {0, -1, 7, -100};
    int failed = 0;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        unsigned char data[32];
        const double *v = c[i].kind == 'u' || c[i].kind == 'b' ? vals : svals;
        double want[4];
        for (int k = 0; k < 4; k++) {
            uint64_t bits;
            double x = c[i].kind == 'b' ? (k ? 1 : 0) : v[k];
            want[k] = x;
            if (c[i].kind == 'f' && c[i].size == 4) {
                float f = (float)x;
                uint32_t u;
                memcpy(&u, &f, 4);
                bits = u;
            } else if (c[i].kind == 'f') {
                memcpy(&bits, &x, 8);
            } else {
                bits = (uint64_t)(int64_t)x;
            }
            if (c[i].big)
                put_be(data + k * c[i].size, bits, c[i].size);
            else
                put_le(data + k * c[i].size, bits, c[i].size);
        }
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 2), }",
                 c[i].descr);
        size_t len;
        unsigned char *buf = make_npy(1, dict, data, 4 * (size_t)c[i].size, &len);
        sbs_npy a;
        sbs_err e = {{0}};
        int r = sbs_npy_parse(buf, len, "d.npy", &a, false, &e);
        free(buf);
        bool ok = r == 0 && a.count == 4 && strcmp(a.dtype, c[i].descr) == 0;
        for (int k = 0; ok && k < 4; k++) ok = a.data[k] == (float)want[k];
        if (r == 0) sbs_npy_free(&a);
        if (!ok) {
            printf("    dtype %s: FAIL %s\n", c[i].descr, r ? e.msg : "wrong values or dtype");
            failed++;
        }
    }
    /* uint64 and int64 extremes convert without wrapping */
    unsigned char d2[16];
    put_le(d2, UINT64_MAX, 8);
    put_le(d2 + 8, (uint64_t)INT64_MIN, 8);
    size_t len;
    unsigned char *buf =
        make_npy(1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2,)}", d2, 16, &len);
    sbs_npy a;
    sbs_err e;
    CHECK(sbs_npy_parse(buf, len, "u8.npy", &a, false, &e) == 0, "%s", e.msg);
    free(buf);
    CHECK(a.data[0] == 18446744073709551616.0f, "u8 max -> %g", (double)a.data[0]);
    sbs_npy_free(&a);
    return failed ? FAIL : PASS;
}

static int t_fortran_order(void)
{
    /* a 2x3 array [[0,1,2],[3,4,5]] stored column-major: 0 3 1 4 2 5 */
    const float col[6] = {0, 3, 1, 4, 2, 5};
    size_t len;
    unsigned char *buf = make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                  col, sizeof col, &len);
    sbs_npy a;
    sbs_err e;
    int r = sbs_npy_parse(buf, len, "f.npy", &a, false, &e);
    free(buf);
    CHECK(r == 0, "%s", e.msg);
    bool ok = a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3;
    for (int i = 0; ok && i < 6; i++) ok = a.data[i] == (float)i;
    sbs_npy_free(&a);
    CHECK(ok, "Fortran order not converted to C order");
    /* 3-D: shape (2, 3, 4), element (i,j,k) = 100i + 10j + k at Fortran offset i + 2j + 6k */
    float f3[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) f3[i + 2 * j + 6 * k] = (float)(100 * i + 10 * j + k);
    buf = make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", f3,
                   sizeof f3, &len);
    r = sbs_npy_parse(buf, len, "f.npy", &a, false, &e);
    free(buf);
    CHECK(r == 0, "%s", e.msg);
    ok = true;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                ok = ok && a.data[(i * 3 + j) * 4 + k] == (float)(100 * i + 10 * j + k);
    sbs_npy_free(&a);
    CHECK(ok, "3-D Fortran order not converted");
    return PASS;
}

/* Reading files: plain, gzip, errors. */
static int t_read_file(void)
{
    char p[4200], pgz[4200];
    snprintf(p, sizeof p, "%s/w.npy", tmp_root);
    snprintf(pgz, sizeof pgz, "%s/w.npy.gz", tmp_root);
    long s[] = {2, 3};
    sbs_err e;
    CHECK(sbs_npy_write(p, f6, 2, s, &e) == 0, "%s", e.msg);
    unsigned char *raw;
    size_t n;
    CHECK(sbs_read_file(p, &raw, &n, &e) == 0, "%s", e.msg);
    gzFile g = gzopen(pgz, "wb");
    CHECK(g != NULL, "gzopen");
    gzwrite(g, raw, (unsigned)n);
    gzclose(g);
    sbs_npy a;
    int r = sbs_npy_read(pgz, &a, true, &e);
    if (r) free(raw);
    CHECK(r == 0, "%s", e.msg);
    bool ok = a.count == 6 && same_bits(a.data, f6, 6);
    sbs_npy_free(&a);
    CHECK(ok, "gzip round trip differs");

    /* concatenated gzip members decode as one stream */
    g = gzopen(pgz, "wb");
    gzwrite(g, raw, 50);
    gzclose(g);
    g = gzopen(pgz, "ab");
    gzwrite(g, raw + 50, (unsigned)(n - 50));
    gzclose(g);
    r = sbs_npy_read(pgz, &a, true, &e);
    if (r) free(raw);
    CHECK(r == 0, "concatenated: %s", e.msg);
    sbs_npy_free(&a);

    /* a .gz that is not gzip */
    write_bytes(pgz, raw, n);
    r = sbs_npy_read(pgz, &a, true, &e);
    if (r == 0) sbs_npy_free(&a);
    CHECK(r != 0 && strstr(e.msg, "w.npy.gz: not a valid gzip file"), "got %s",
          r ? e.msg : "success");

    /* a truncated .gz (compressed bytes read back under a name without .gz) */
    char praw[4300];
    snprintf(praw, sizeof praw, "%s/w.compressed", tmp_root);
    g = gzopen(praw, "wb");
    gzwrite(g, raw, (unsigned)n);
    gzclose(g);
    free(raw);
    CHECK(sbs_read_file(praw, &raw, &n, &e) == 0, "%s", e.msg);
    unlink(praw);
    CHECK(n > 20 && raw[0] == 0x1f && raw[1] == 0x8b, "gzopen did not compress");
    write_bytes(pgz, raw, n - 12);
    free(raw);
    r = sbs_read_file(pgz, &raw, &n, &e);
    if (r == 0) free(raw);
    CHECK(r != 0 && strstr(e.msg, "w.npy.gz: truncated gzip file"), "got %s",
          r ? e.msg : "success");

    /* corrupt deflate data */
    unsigned char junk[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff};
    write_bytes(pgz, junk, sizeof junk);
    r = sbs_read_file(pgz, &raw, &n, &e);
    if (r == 0) free(raw);
    CHECK(r != 0 && strstr(e.msg, "not a valid gzip file"), "got %s", r ? e.msg : "success");

    /* missing file, a folder */
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/nope.npy", tmp_root);
    r = sbs_npy_read(missing, &a, true, &e);
    CHECK(r != 0 && strstr(e.msg, "cannot open ") && strstr(e.msg, "nope.npy: No such file"),
          "got %s", r ? e.msg : "success");
    r = sbs_read_file(tmp_root, &raw, &n, &e);
    if (r == 0) free(raw);
    CHECK(r != 0 && strstr(e.msg, "Is a directory"), "got %s", r ? e.msg : "success");
    unlink(p);
    unlink(pgz);
    return PASS;
}

static void read_npy_child(void *path, char *msg, size_t n)
{
    sbs_npy a;
    sbs_err e = {{0}};
    if (sbs_npy_read(path, &a, true, &e) == 0) snprintf(e.msg, sizeof e.msg, "success");
    snprintf(msg, n, "%s", e.msg);
}

/* Only regular files are read: a FIFO with no writer, a device, a socket are refused at once
 * (a plain open() of the FIFO would block forever: it runs in a child with an alarm). */
static int t_read_special(void)
{
    char fifo[4300], msg[1100];
    snprintf(fifo, sizeof fifo, "%s/fifo.npy", tmp_root);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    int st = sbs_run_in_child(read_npy_child, fifo, 10, msg, sizeof msg);
    unlink(fifo);
    CHECK(st != -1 && WIFEXITED(st), "reading a FIFO blocked (killed by signal %d)",
          st != -1 && WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    CHECK(strstr(msg, "fifo.npy: not a regular file (a FIFO)"), "got %s", msg);

    unsigned char *buf;
    size_t len;
    sbs_err e = {{0}};
    int r = sbs_read_file("/dev/null", &buf, &len, &e);
    if (r == 0) free(buf);
    CHECK(r != 0 && strstr(e.msg, "cannot open /dev/null: not a regular file (a character device)"),
          "got %s", r ? e.msg : "success");
    return PASS;
}

/* sbs_read_file_max reads (inflates) no more than asked and says whether there is more. */
static int t_read_file_max(void)
{
    char p[4300], pgz[4300];
    snprintf(p, sizeof p, "%s/data.bin", tmp_root);
    snprintf(pgz, sizeof pgz, "%s/data.bin.gz", tmp_root);
    unsigned char data[5000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7);
    CHECK(write_bytes(p, data, sizeof data) == 0, "setup");
    gzFile g = gzopen(pgz, "wb");
    CHECK(g && gzwrite(g, data, sizeof data) == (int)sizeof data && gzclose(g) == Z_OK, "gz");
    const char *paths[2] = {p, pgz};
    static const size_t maxes[] = {0, 1, 16, 4999, 5000, 5001, SIZE_MAX};
    for (int k = 0; k < 2; k++)
        for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
            unsigned char *buf = NULL;
            size_t len = 0;
            bool more = false;
            sbs_err e = {{0}};
            CHECK(sbs_read_file_max(paths[k], maxes[m], &buf, &len, &more, &e) == 0, "%s", e.msg);
            size_t want = maxes[m] < sizeof data ? maxes[m] : sizeof data;
            CHECK(len == want && more == (maxes[m] < sizeof data), "%s max %zu: len %zu more %d",
                  paths[k], maxes[m], len, more);
            CHECK(len == 0 || memcmp(buf, data, len) == 0, "%s: wrong bytes", paths[k]);
            free(buf);
        }
    /* stopping early skips the checks of the rest; a whole read still makes them */
    FILE *f = fopen(pgz, "ab");
    CHECK(f && fwrite("xyz", 1, 3, f) == 3 && fclose(f) == 0, "append");
    unsigned char *buf;
    size_t len;
    bool more;
    sbs_err e = {{0}};
    CHECK(sbs_read_file_max(pgz, 100, &buf, &len, &more, &e) == 0 && more, "%s", e.msg);
    free(buf);
    int r = sbs_read_file_max(pgz, 5000, &buf, &len, &more, &e);
    if (r == 0) free(buf);
    CHECK(r != 0 && strstr(e.msg, "garbage"), "got %s", r ? e.msg : "success");
    unlink(p);
    unlink(pgz);
    return PASS;
}

/* ---------------------------------------------------------------- atomic writes */

static int t_atomic_missing_dir(void)
{
    char dir[4200], p[4300];
    snprintf(dir, sizeof dir, "%s/no-such-dir", tmp_root);
    snprintf(p, sizeof p, "%s/w.npy", dir);
    long s[] = {6};
    sbs_err e = {{0}};
    CHECK(sbs_npy_write(p, f6, 1, s, &e) != 0, "write into a missing folder succeeded");
    CHECK(strstr(e.msg, "no-such-dir/w.npy") && strstr(e.msg, "No such file"), "got %s", e.msg);
    struct stat st;
    CHECK(stat(dir, &st) != 0, "the folder was created");
    CHECK(count_entries(tmp_root, NULL) == 0, "something was left in %s", tmp_root);
    return PASS;
}

static int t_atomic_replace(void)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/Weight_L0_S1.npy", tmp_root);
    CHECK(write_bytes(p, "old contents", 12) == 0, "setup");
    long s[] = {3, 2};
    sbs_err e;
    CHECK(sbs_npy_write(p, f6, 2, s, &e) == 0, "%s", e.msg);
    sbs_npy a;
    CHECK(sbs_npy_read(p, &a, true, &e) == 0, "%s", e.msg);
    bool ok = a.ndim == 2 && a.shape[0] == 3 && same_bits(a.data, f6, 6);
    sbs_npy_free(&a);
    CHECK(ok, "contents not replaced");
    CHECK(count_entries(tmp_root, NULL) == 1, "%d entries (a .tmp left?)",
          count_entries(tmp_root, NULL));
    /* generic helper, 0 bytes */
    CHECK(sbs_write_file_atomic(p, "", 0, &e) == 0, "%s", e.msg);
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size == 0, "empty write");
    unlink(p);
    return PASS;
}

/* A write that fails half way (file size limit -> EFBIG, as a full disk would) is an error
 * naming the file, removes the temporary file and leaves the old file untouched. */
static int t_atomic_write_error(void)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/keep.npy", tmp_root);
    CHECK(write_bytes(p, "precious", 8) == 0, "setup");
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        size_t n = 1 << 20;
        float *big = calloc(n, sizeof(float));
        long s[] = {(long)n};
        sbs_err e = {{0}};
        int r = sbs_npy_write(p, big, 1, s, &e);
        free(big);
        if (r == 0) _exit(10);
        if (!strstr(e.msg, "keep.npy") || !strstr(e.msg, "File too large")) {
            printf("    message: %s\n", e.msg);
            _exit(11);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    unsigned char *b;
    size_t n;
    sbs_err e;
    CHECK(sbs_read_file(p, &b, &n, &e) == 0, "%s", e.msg);
    bool same = n == 8 && memcmp(b, "precious", 8) == 0;
    free(b);
    CHECK(same, "old file was changed");
    CHECK(count_entries(tmp_root, NULL) == 1, "temporary file left behind");
    unlink(p);
    return PASS;
}

static int t_write_bad_args(void)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/bad.npy", tmp_root);
    long neg[] = {2, -1};
    sbs_err e;
    CHECK(sbs_npy_write(p, f6, 2, neg, &e) != 0 && strstr(e.msg, "negative"), "negative dim");
    long s[] = {1};
    CHECK(sbs_npy_write(p, f6, 9, s, &e) != 0, "9 dims accepted");
    CHECK(count_entries(tmp_root, NULL) == 0, "file left");
    return PASS;
}

/* ---------------------------------------------------------------- layer files */

static int t_find_layer(void)
{
    char dir[4300], path[4400];
    sbs_err e = {{0}};
    snprintf(dir, sizeof dir, "%s/missing", tmp_root);
    CHECK(sbs_find_layer_file(dir, "Weight", 1, path, sizeof path, &e) == 0, "missing dir");
    snprintf(dir, sizeof dir, "%s/w", tmp_root);
    mkdir(dir, 0777);
    CHECK(sbs_find_layer_file(dir, "Weight", 1, path, sizeof path, &e) == 0, "empty dir");

    static const char *const files[] = {
        "Weight_L10_S3.npy", "Weight_L1_S.npy",   "Weight_L1_S5.npy.bak", "Weight_L1_Sx.npy",
        "Bias_L1_S3.npy",    "xWeight_L1_S3.npy", "Weight_L01_S3.npy",    "Weight_L1_S3.npz",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        write_bytes(path, "", 0);
    }
    CHECK(sbs_find_layer_file(dir, "Weight", 1, path, sizeof path, &e) == 0,
          "L1 matched one of the decoys: %s", path);
    CHECK(sbs_find_layer_file(dir, "Weight", 10, path, sizeof path, &e) == 1, "L10");
    CHECK(strstr(path, "/w/Weight_L10_S3.npy"), "path %s", path);
    CHECK(sbs_find_layer_file(dir, "Bias", 1, path, sizeof path, &e) == 1, "Bias L1");

    snprintf(path, sizeof path, "%s/Weight_L1_S199.npy", dir);
    write_bytes(path, "", 0);
    CHECK(sbs_find_layer_file(dir, "Weight", 1, path, sizeof path, &e) == 1, "one match");
    CHECK(strstr(path, "Weight_L1_S199.npy"), "path %s", path);
    char small[8];
    CHECK(sbs_find_layer_file(dir, "Weight", 1, small, sizeof small, &e) == -1, "tiny buffer");

    snprintf(path, sizeof path, "%s/Weight_L1_S2.npy", dir);
    write_bytes(path, "", 0);
    int r = sbs_find_layer_file(dir, "Weight", 1, path, sizeof path, &e);
    CHECK(r == -1, "two matches gave %d", r);
    CHECK(strstr(e.msg, "Weight_L1_S199.npy") && strstr(e.msg, "Weight_L1_S2.npy") &&
              !strstr(e.msg, "L10"),
          "message: %s", e.msg);
    rm_rf(dir);
    return PASS;
}

int main(void)
{
    make_tmpdir(tmp_root, sizeof tmp_root, "npy");
    static const test_case cases[] = {
        {"round trip 1-D", t_rt_1d},
        {"round trip 2-D", t_rt_2d},
        {"round trip 4-D", t_rt_4d},
        {"round trip zero-size", t_rt_zero},
        {"round trip 0-D", t_rt_scalar},
        {"round trip 100000", t_rt_big_dim},
        {"header identical to numpy (25, 32)", t_header_numpy_25_32},
        {"header identical to numpy (25,)", t_header_numpy_1d},
        {"header growth padding", t_header_numpy_long_shape},
        {"reference weights", t_reference_weights},
        {"malformed headers and data", t_bad_table},
        {"malformed prefix", t_bad_prefix},
        {"dtypes and byte orders", t_dtypes},
        {"fortran order", t_fortran_order},
        {"read file, gzip", t_read_file},
        {"read file: FIFO, device", t_read_special},
        {"read file: at most N bytes", t_read_file_max},
        {"atomic: missing folder", t_atomic_missing_dir},
        {"atomic: replace", t_atomic_replace},
        {"atomic: write error", t_atomic_write_error},
        {"write: bad arguments", t_write_bad_args},
        {"find layer file", t_find_layer},
    };
    int r = run_cases("npy", cases, sizeof cases / sizeof cases[0]);
    rm_rf(tmp_root);
    return r;
}
