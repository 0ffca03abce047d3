/* gen_seeds.c — writes the binary seed files of the fuzz corpus (npy, idx, cifar, ckpt):
 * valid examples and near misses. Usage: fuzz_gen_seeds CORPUS_DIR (the folders
 * CORPUS_DIR/{npy,idx,cifar,ckpt} must exist). The text seeds (config, set) are plain files
 * written by hand. */
#include "fuzz_net.h"
#include "sbs/npy.h"

#include <math.h>
#include <zlib.h>

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

static unsigned char *slurp(const char *path, size_t *n)
{
    unsigned char *b;
    sbs_err e;
    if (sbs_read_file(path, &b, n, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return b;
}

/* .npy with a hand-written header (padded to a multiple of 64 like numpy) */
static void npy(const char *name, int major, const char *dict, const void *d, size_t n)
{
    unsigned char b[4096];
    size_t lb = major == 1 ? 2 : 4, pre = 8 + lb, hl = strlen(dict) + 1;
    size_t pad = (64 - (pre + hl) % 64) % 64;
    hl += pad;
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < lb; i++) b[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + pre, dict, strlen(dict));
    memset(b + pre + strlen(dict), ' ', pad);
    b[pre + hl - 1] = '\n';
    memcpy(b + pre + hl, d, n);
    put("npy", name, b, pre + hl + n);
}

static size_t gz(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)in;
    z.avail_in = (unsigned)n;
    z.next_out = out;
    z.avail_out = (unsigned)cap;
    deflate(&z, Z_FINISH);
    size_t m = z.total_out;
    deflateEnd(&z);
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gen_seeds CORPUS_DIR\n");
        return 2;
    }
    root = argv[1];
    char p[4096];
    sbs_err e;

    /* ---- npy */
    float f6[6] = {0.5f, 1, 2, 3, 4, 5.25f};
    long s23[2] = {2, 3}, s6[1] = {6}, s0[1] = {0};
    snprintf(p, sizeof p, "%s/npy/valid_f4_2x3.npy", root);
    if (sbs_npy_write(p, f6, 2, s23, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    snprintf(p, sizeof p, "%s/npy/valid_f4_6.npy", root);
    sbs_npy_write(p, f6, 1, s6, &e);
    snprintf(p, sizeof p, "%s/npy/valid_f4_empty.npy", root);
    sbs_npy_write(p, f6, 1, s0, &e);
    snprintf(p, sizeof p, "%s/npy/valid_f4_scalar.npy", root);
    sbs_npy_write(p, f6, 0, s0, &e);
    size_t n;
    snprintf(p, sizeof p, "%s/npy/valid_f4_2x3.npy", root);
    unsigned char *v = slurp(p, &n);
    put("npy", "truncated_data.npy", v, n - 3);
    put("npy", "truncated_header.npy", v, 40);
    put("npy", "extra_data.npy", v, n); /* replaced below */
    {
        unsigned char *x = malloc(n + 4);
        memcpy(x, v, n);
        memset(x + n, 0, 4);
        put("npy", "extra_data.npy", x, n + 4);
        free(x);
    }
    free(v);
    unsigned char be[24];
    for (int i = 0; i < 6; i++) {
        uint32_t u;
        memcpy(&u, &f6[i], 4);
        for (int k = 0; k < 4; k++) be[4 * i + k] = (unsigned char)(u >> (24 - 8 * k));
    }
    npy("bigendian_f4.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", be,
        24);
    npy("fortran_f4.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f6, 24);
    double d6[6] = {1, 2, 3, 4, 5, 6};
    npy("fortran_f8_v2.npy", 2, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }", d6,
        48);
    npy("f8_v3.npy", 3, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (6,)}", d6, 48);
    unsigned char u8[24] = {0,  1,  2,  3,  255, 128, 7,  9,  10, 11, 12,
                            13, 14, 15, 16, 17,  18,  19, 20, 21, 22, 23};
    npy("u1_2x3x4.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }", u8,
        24);
    npy("b1.npy", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", u8, 3);
    int64_t i8[3] = {-1, 0, 1LL << 40};
    npy("i8_long.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3L,), }", i8, 24);
    npy("i2_be.npy", 1,
        "{'descr': '>i2', 'fortran_order': False, 'shape': (2, 2, 1, 1, 1, 1, 1, 1), }", u8, 8);
    float nan6[6] = {0, 1, NAN, 3, INFINITY, -1};
    npy("nan_inf_f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", nan6, 24);
    npy("structured.npy", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
        f6, 4);
    npy("bad_key.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", f6,
        24);
    npy("huge_shape.npy", 1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", f6, 24);

    /* ---- idx */
    unsigned char img[16 + 3 * 4 * 5], lab[8 + 3], gzb[1024];
    memcpy(img, "\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05", 16);
    for (int i = 0; i < 60; i++) img[16 + i] = (unsigned char)(i * 17);
    memcpy(lab, "\x00\x00\x08\x01\x00\x00\x00\x03\x07\x00\x09", 11);
    put("idx", "images_3x4x5", img, sizeof img);
    put("idx", "labels_3", lab, sizeof lab);
    put("idx", "images_truncated", img, sizeof img - 7);
    put("idx", "labels_count_too_big", "\x00\x00\x08\x01\x00\x00\x01\x00\x01\x02", 10);
    put("idx", "images_zero_rows",
        "\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05", 16);
    size_t m = gz(img, sizeof img, gzb, sizeof gzb);
    put("idx", "images_3x4x5.gz", gzb, m);
    put("idx", "images_gz_truncated", gzb, m - 5);
    size_t m2 = gz(lab, sizeof lab, gzb + m, sizeof gzb - m);
    put("idx", "labels_3.gz", gzb + m, m2);
    put("idx", "two_members.gz", gzb, m + m2);
    unsigned char big[16 + 2 * 28 * 28];
    memcpy(big, "\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c", 16);
    memset(big + 16, 0, sizeof big - 16);
    m = gz(big, sizeof big, gzb, sizeof gzb);
    put("idx", "images_2x28x28.gz", gzb, m);

    /* ---- cifar */
    unsigned char *rec = malloc(3 * 3073);
    for (int r = 0; r < 3; r++) {
        rec[r * 3073] = (unsigned char)(r == 2 ? 9 : r);
        for (int i = 0; i < 3072; i++) rec[r * 3073 + 1 + i] = (unsigned char)(i * 7 + r);
    }
    put("cifar", "two_records.bin", rec, 2 * 3073);
    put("cifar", "one_record.bin", rec, 3073);
    put("cifar", "partial_record.bin", rec, 3073 + 100);
    rec[3073] = 10;
    put("cifar", "bad_label.bin", rec, 2 * 3073);
    put("cifar", "empty.bin", rec, 0);
    free(rec);

    /* ---- ckpt */
    static fuzz_net f;
    fuzz_net_init(&f);
    for (int l = 0; l < f.net.n; l++) {
        sbs_layer *L = &f.net.L[l];
        if (!L->file_weights) continue;
        size_t nf = L->T > 0 ? (size_t)L->g.K * L->ldw : L->n_w;
        float *m = f.ts.moments + L->w_off, *v = f.ts.moments + f.net.n_params + L->w_off;
        for (size_t i = 0; i < nf; i++) {
            m[i] = 0.01f * (float)(i % 7) - 0.03f;
            v[i] = 0.001f * (float)(i % 5);
        }
        f.ts.scale[l] = 0.5f;
        f.ts.scale_set[l] = true;
    }
    sbs_ckpt_state st = {0};
    st.seed = 1;
    st.plan_hash = sbs_plan_hash(&f.net);
    st.epoch = 2;
    st.next_sub = 3;
    st.updates_in_epoch = 1;
    sbs_optim_init(&st.opt, &f.cfg);
    st.opt.t = 5;
    st.ep_loss = 1.25;
    st.ep_correct = 3;
    st.ep_seen = 6;
    snprintf(p, sizeof p, "%s/ckpt/valid.ckpt", root);
    if (sbs_ckpt_save(p, &st, &f.ts, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
    v = slurp(p, &n);
    put("ckpt", "truncated.ckpt", v, n / 2);
    v[20] ^= 1;
    put("ckpt", "bad_crc.ckpt", v, n);
    put("ckpt", "magic_only.ckpt", "SBSCKPT1\x01\x00\x00\x00\x04\x00\x00\x00", 16);
    free(v);
    st.plan_hash ^= 1;
    snprintf(p, sizeof p, "%s/ckpt/other_plan.ckpt", root);
    sbs_ckpt_save(p, &st, &f.ts, &e);
    fuzz_net_free(&f);
    printf("seeds written to %s\n", root);
    return 0;
}
