/* fuzz_npy.c — .npy header and data parsing (sbs_npy_parse), strict (weight files: '<f4', C
 * order, finite) and lenient (data sets: any numeric dtype, either byte order, Fortran order). */
#include "fuzz_util.h"
#include "sbs/npy.h"

static void check(const sbs_npy *a, int r, const sbs_err *e)
{
    if (r != 0) {
        fuzz_check_msg(e->msg);
        return;
    }
    size_t count = 1;
    for (int i = 0; i < a->ndim; i++) count *= (size_t)a->shape[i];
    if (a->ndim < 0 || a->ndim > SBS_NPY_MAX_DIMS || count != a->count) abort();
    volatile float s = 0;
    for (size_t i = 0; i < a->count; i++) s += a->data[i]; /* touch every element */
    (void)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int strict = 0; strict < 2; strict++) {
        sbs_npy a;
        sbs_err e = {{0}};
        int r = sbs_npy_parse(data, size, "fuzz.npy", &a, strict, &e);
        fuzz_note(strict ? "strict" : "lenient", r, e.msg);
        check(&a, r, &e);
        if (strict && r == 0) {
            for (size_t i = 0; i < a.count; i++)
                if (!(a.data[i] == a.data[i]) || a.data[i] - a.data[i] != 0) abort(); /* finite */
            if (strcmp(a.dtype, "<f4") != 0) abort();
        }
        sbs_npy_free(&a);
    }
    return 0;
}
