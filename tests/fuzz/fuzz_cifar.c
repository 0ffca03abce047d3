/* fuzz_cifar.c — CIFAR-10 binary batches (1 label byte + 3072 pixel bytes per record): the
 * input is parsed into an empty split and then appended to it once more. */
#include "fuzz_util.h"
#include "sbs/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sbs_split s = {0};
    sbs_err e = {{0}};
    for (int pass = 0; pass < 2; pass++) {
        int before = s.n;
        int r = sbs_cifar_parse(data, size, "fuzz_batch.bin", &s, &e);
        fuzz_note("cifar", r, e.msg);
        if (r != 0) {
            fuzz_check_msg(e.msg);
            if (s.n != before) abort();
            break;
        }
        if (s.n != before + (int)(size / 3073) || s.c != 3 || s.h != 32 || s.w != 32) abort();
        for (int i = 0; i < s.n; i++)
            if (s.y[i] > 9) abort();
        volatile float sum = 0;
        for (size_t i = 0; i < (size_t)s.n * 3072; i++) sum += s.x[i];
        (void)sum;
    }
    free(s.x);
    free(s.y);
    return 0;
}
