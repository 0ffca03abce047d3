/* fuzz_idx.c — IDX images and labels (MNIST / Fashion-MNIST), plain and gzip: the input is
 * parsed as an image file and as a label file, and written as a .gz file that is read back
 * through sbs_read_file (inflate) and, when that works, parsed again. */
#include "fuzz_util.h"
#include "sbs/data.h"
#include "sbs/npy.h"

static void parse_both(const unsigned char *buf, size_t len)
{
    sbs_split s = {0};
    sbs_err e = {{0}};
    int r = sbs_idx_parse_images(buf, len, "fuzz-images-idx3-ubyte", &s, &e);
    fuzz_note("images", r, e.msg);
    if (r == 0) {
        size_t total = (size_t)s.n * s.c * s.h * s.w;
        volatile float sum = 0;
        for (size_t i = 0; i < total; i++) sum += s.x[i];
        (void)sum;
        free(s.x);
    } else {
        fuzz_check_msg(e.msg);
    }
    uint8_t *y = NULL;
    int n = 0;
    r = sbs_idx_parse_labels(buf, len, "fuzz-labels-idx1-ubyte", &y, &n, &e);
    fuzz_note("labels", r, e.msg);
    if (r == 0) {
        volatile unsigned sum = 0;
        for (int i = 0; i < n; i++) sum += y[i];
        (void)sum;
        free(y);
    } else {
        fuzz_check_msg(e.msg);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_both(data, size);
    char path[512];
    fuzz_write("fuzz-idx.gz", data, size, path, sizeof path);
    unsigned char *buf = NULL;
    size_t len = 0;
    sbs_err e = {{0}};
    int r = sbs_read_file(path, &buf, &len, &e);
    fuzz_note("gunzip", r, e.msg);
    if (r == 0) {
        parse_both(buf, len);
        free(buf);
    } else {
        fuzz_check_msg(e.msg);
        if (buf) abort();
    }
    return 0;
}
