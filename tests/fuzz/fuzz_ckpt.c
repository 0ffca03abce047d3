/* fuzz_ckpt.c — the checkpoint file (sbs_ckpt_parse) against a small planned network
 * (fuzz_net.h): magic, version, CRC-32, counters, per-layer sizes, weights and moments.
 * The CRC would stop almost every mutation at the door, so each input is parsed twice: as it
 * is, and with its last four bytes replaced by the CRC-32 of the rest. */
#include "fuzz_net.h"
#include "fuzz_util.h"

#include <zlib.h>

static fuzz_net *fnet;

static void free_net(void)
{
    if (!fnet) return;
    fuzz_net_free(fnet);
    free(fnet);
    fnet = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fnet) {
        fnet = calloc(1, sizeof *fnet);
        fuzz_net_init(fnet);
        atexit(free_net);
    }
    for (int fix = 0; fix < 2; fix++) {
        unsigned char *buf = malloc(size ? size : 1);
        memcpy(buf, data, size);
        if (fix) {
            if (size < 16) {
                free(buf);
                break;
            }
            uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(size - 4));
            memcpy(buf + size - 4, &crc, 4);
        }
        sbs_ckpt_state st;
        sbs_err e = {{0}};
        int r = sbs_ckpt_parse(buf, size, "fuzz.ckpt", &st, &fnet->ts, &e);
        fuzz_note(fix ? "ckpt (crc fixed)" : "ckpt", r, e.msg);
        if (r != 0) fuzz_check_msg(e.msg);
        if (r == 0) free(st.run_def);
        free(buf);
    }
    return 0;
}
