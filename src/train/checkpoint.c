/* checkpoint.c — the resumable training state in one file, written atomically.
 *
 * Layout (little-endian): "SBSCKPT1", u32 version, u32 layers, then the fixed fields, (version
 * 2:) u32 length and the run definition (JSON text, rundef.c), then per layer u64 n_w, u64 n_b, u8 scale_set, u8 scale_frozen, f32 scale, and the float arrays
 * W, bias, mW, vW, mB, vB (SbS weights compact K x N), then u32 CRC-32 of all before. */
#include "sbs/npy.h"
#include "sbs/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CKPT_MAGIC "SBSCKPT1"
#define CKPT_VERSION 2u
#define CKPT_RUNDEF_AT 116 /* offset of the run definition's length in version 2 */

uint64_t sbs_plan_hash(const sbs_net *net)
{
    uint64_t h = 1469598103934665603ull;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ull)
    MIX(net->n);
    MIX(net->in_c);
    MIX(net->in_h);
    MIX(net->in_w);
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        MIX(L->kind);
        MIX(L->C);
        MIX(L->H);
        MIX(L->W);
        MIX(L->N);
        MIX(L->X);
        MIX(L->Y);
        MIX(L->g.K);
        MIX(L->n_w);
        MIX(L->n_b);
    }
    MIX(net->cfg->batch_size);
    MIX(net->cfg->learn.number_of_batches_for_one_update);
#undef MIX
    return h;
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
#define PUT(b, v) put((b), &(v), sizeof(v))

/* SbS arrays are stored compact (K x N); others as they are */
static void put_arr(wbuf *b, const sbs_layer *L, const float *a, bool weights_layout, size_t n)
{
    if (!a) return;
    if (weights_layout && L->sbs_w) {
        for (int i = 0; i < L->g.K; i++) put(b, a + (size_t)i * L->ldw, (size_t)L->N * 4);
    } else {
        put(b, a, n * 4);
    }
}

int sbs_ckpt_save(const char *path, const sbs_ckpt_state *st, const sbs_trainer_state *ts,
                  sbs_err *e)
{
    const sbs_net *net = ts->net;
    wbuf b = {0};
    put(&b, CKPT_MAGIC, 8);
    uint32_t ver = CKPT_VERSION, nl = (uint32_t)net->n;
    PUT(&b, ver);
    PUT(&b, nl);
    PUT(&b, st->seed);
    PUT(&b, st->plan_hash);
    PUT(&b, st->epoch);
    PUT(&b, st->next_sub);
    PUT(&b, st->updates_in_epoch);
    int32_t t = st->opt.t, nb = st->opt.num_bad, pat = st->opt.patience, pl = st->opt.plateau;
    PUT(&b, t);
    PUT(&b, st->opt.lr);
    PUT(&b, st->opt.best);
    PUT(&b, nb);
    PUT(&b, st->opt.factor);
    PUT(&b, pat);
    PUT(&b, pl);
    PUT(&b, st->ep_loss);
    PUT(&b, st->ep_correct);
    PUT(&b, st->ep_seen);
    PUT(&b, st->ep_seconds);
    uint32_t dl = st->run_def ? (uint32_t)strlen(st->run_def) : 0;
    PUT(&b, dl);
    put(&b, st->run_def ? st->run_def : "", dl);
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        uint64_t nw = L->file_weights ? L->n_w : 0, nbias = L->file_weights ? L->n_b : 0;
        PUT(&b, nw);
        PUT(&b, nbias);
        uint8_t f1 = ts->scale_set[l], f2 = ts->scale_frozen[l];
        PUT(&b, f1);
        PUT(&b, f2);
        PUT(&b, ts->scale[l]);
        if (!L->file_weights) continue;
        size_t nfull = sbs_weight_floats(L), np = net->n_params;
        const float *m = ts->moments, *v = ts->moments + np;
        put_arr(&b, L, L->weight, true, nfull);
        put_arr(&b, L, L->bias, false, L->n_b);
        put_arr(&b, L, m + L->w_off, true, nfull);
        put_arr(&b, L, v + L->w_off, true, nfull);
        put_arr(&b, L, L->bias ? m + L->b_off : NULL, false, L->n_b);
        put_arr(&b, L, L->bias ? v + L->b_off : NULL, false, L->n_b);
    }
    uint32_t crc = (uint32_t)crc32(0L, b.p, (uInt)b.n);
    PUT(&b, crc);
    int r = sbs_write_file_atomic(path, b.p, b.n, e);
    free(b.p);
    return r;
}

typedef struct {
    const unsigned char *p;
    size_t n, off;
    const char *name;
    sbs_err *e;
} rbuf;

static int get(rbuf *r, void *d, size_t n, const char *what)
{
    if (r->n - r->off < n)
        return sbs_fail(r->e,
                        "%s: offset %zu: truncated: expected %zu more bytes for %s, file has %zu",
                        r->name, r->off, n, what, r->n - r->off);
    memcpy(d, r->p + r->off, n);
    r->off += n;
    return 0;
}
#define GET(r, v, what) get((r), &(v), sizeof(v), (what))

static int get_arr(rbuf *r, const sbs_layer *L, float *a, bool weights_layout, size_t n,
                   const char *what)
{
    if (!a) return 0;
    if (weights_layout && L->sbs_w) {
        for (int i = 0; i < L->g.K; i++)
            if (get(r, a + (size_t)i * L->ldw, (size_t)L->N * 4, what)) return -1;
        return 0;
    }
    return get(r, a, n * 4, what);
}

/* Size of the checkpoint of net as sbs_ckpt_save writes it: the fixed fields, per layer
 * two u64 sizes, two flags and the scale, then W, bias and the four moment arrays (SbS
 * arrays compact K x N), and the CRC. */
static size_t ckpt_size(const sbs_net *net, uint32_t version, uint32_t deflen)
{
    size_t n = 8 + 4 + 4;              /* magic, version, layers */
    if (version >= 2) n += 4 + deflen; /* run definition */
    n += 8 + 8 + 3 * 4;                /* seed, plan hash, epoch, next_sub, updates */
    n += 4 + 8 + 8 + 4 + 8 + 4 + 4;    /* t, lr, best, num_bad, factor, patience, plateau */
    n += 8 + 8 + 8 + 8;                /* loss, correct, seen, seconds */
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        n += 8 + 8 + 1 + 1 + 4;
        if (L->file_weights) n += 3 * 4 * (L->n_w + (L->bias ? L->n_b : 0));
    }
    return n + 4;
}

/* One pass over the checkpoint. With commit false everything is read into temporary arrays
 * and validated, and the network is not touched; with commit true it is written into the
 * network (only after a validating pass succeeded). */
static int parse(const unsigned char *buf, size_t len, const char *name, sbs_ckpt_state *st,
                 sbs_trainer_state *ts, bool commit, sbs_err *e)
{
    sbs_net *net = ts->net;
    if (len < 12 || memcmp(buf, CKPT_MAGIC, 8) != 0)
        return sbs_fail(e, "%s: offset 0: expected checkpoint magic '%s', found %s", name,
                        CKPT_MAGIC, len == 0 ? "an empty file" : "something else");
    if (len < 16) return sbs_fail(e, "%s: truncated checkpoint (%zu bytes)", name, len);
    /* version and layer count first, then the size: a clearer message than the checksum's
     * for a file of another version or network, or one cut short */
    uint32_t ver0, nl0;
    memcpy(&ver0, buf + 8, 4);
    memcpy(&nl0, buf + 12, 4);
    /* the plan hash sits at a fixed offset: a checkpoint of another network is named as such,
     * not as a file of the wrong size */
    bool known = ver0 == 1 || ver0 == CKPT_VERSION;
    uint32_t deflen = 0;
    if (ver0 >= 2 && len >= CKPT_RUNDEF_AT + 4) memcpy(&deflen, buf + CKPT_RUNDEF_AT, 4);
    uint64_t hash0 = 0;
    if (len >= 32) memcpy(&hash0, buf + 24, 8);
    if (known && len >= 32 && hash0 != sbs_plan_hash(net))
        return sbs_fail(e,
                        "%s: the checkpoint was made for another network, batch size or "
                        "update window (plan hash %016llx, this config %016llx)",
                        name, (unsigned long long)hash0, (unsigned long long)sbs_plan_hash(net));
    size_t want = ckpt_size(net, ver0, deflen);
    if (known && nl0 == (uint32_t)net->n && len != want)
        return sbs_fail(e, "%s: %s: expected %zu bytes for this network, file has %zu", name,
                        len < want ? "truncated" : "extra data", want, len);
    uint32_t crc_file;
    memcpy(&crc_file, buf + len - 4, 4);
    uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
    if (crc != crc_file)
        return sbs_fail(e, "%s: checksum mismatch (expected %08x, found %08x): the file is corrupt",
                        name, crc, crc_file);
    rbuf r = {buf, len - 4, 8, name, e};
    uint32_t ver = 0, nl = 0;
    if (GET(&r, ver, "version") || GET(&r, nl, "layer count")) return -1;
    if (ver != 1 && ver != CKPT_VERSION)
        return sbs_fail(e, "%s: offset 8: expected checkpoint version 1 or %u, found %u", name,
                        CKPT_VERSION, ver);
    if (nl != (uint32_t)net->n)
        return sbs_fail(e, "%s: offset 12: the checkpoint has %u layers, the network %d", name, nl,
                        net->n);
    sbs_ckpt_state s = {0};
    int32_t t = 0, nb = 0, pat = 0, pl = 0;
    if (GET(&r, s.seed, "seed") || GET(&r, s.plan_hash, "plan hash") || GET(&r, s.epoch, "epoch") ||
        GET(&r, s.next_sub, "sub-batch") || GET(&r, s.updates_in_epoch, "updates") ||
        GET(&r, t, "step") || GET(&r, s.opt.lr, "lr") || GET(&r, s.opt.best, "best") ||
        GET(&r, nb, "num_bad") || GET(&r, s.opt.factor, "factor") || GET(&r, pat, "patience") ||
        GET(&r, pl, "plateau") || GET(&r, s.ep_loss, "loss") || GET(&r, s.ep_correct, "correct") ||
        GET(&r, s.ep_seen, "seen") || GET(&r, s.ep_seconds, "seconds"))
        return -1;
    if (ver >= 2) {
        uint32_t dl = 0;
        if (GET(&r, dl, "run definition length")) return -1;
        if (dl > r.n - r.off)
            return sbs_fail(e,
                            "%s: offset %zu: truncated: the run definition needs %u bytes, "
                            "%zu remain",
                            name, r.off, dl, r.n - r.off);
        if (commit) {
            s.run_def = xmalloc((size_t)dl + 1);
            memcpy(s.run_def, r.p + r.off, dl);
            s.run_def[dl] = 0;
        }
        r.off += dl;
    }
    if (s.plan_hash != sbs_plan_hash(net))
        return sbs_fail(e,
                        "%s: the checkpoint was made for another network, batch size or "
                        "update window (plan hash %016llx, this config %016llx)",
                        name, (unsigned long long)s.plan_hash,
                        (unsigned long long)sbs_plan_hash(net));
    if (s.epoch < 0 || s.next_sub < 0 || s.updates_in_epoch < 0 || t < 0 || !(s.opt.lr >= 0))
        return sbs_fail(e, "%s: counters out of range (epoch %d, sub-batch %d, step %d)", name,
                        s.epoch, s.next_sub, t);
    /* the values, not only the checksum: a hand-edited file with a valid CRC is refused */
    if (!isfinite(s.opt.lr) || isnan(s.opt.best) || s.opt.best == -INFINITY || nb < 0 || pat < 0 ||
        !(s.opt.factor > 0.0 && s.opt.factor <= 1.0) || (pl != 0 && pl != 1))
        return sbs_fail(e,
                        "%s: learning-rate schedule out of range (lr %g, best %g, factor %g, "
                        "patience %d, bad epochs %d)",
                        name, s.opt.lr, s.opt.best, s.opt.factor, pat, nb);
    if (!isfinite(s.ep_loss) || s.ep_loss < 0 || s.ep_seen < 0 || s.ep_correct < 0 ||
        s.ep_correct > s.ep_seen || !isfinite(s.ep_seconds) || s.ep_seconds < 0)
        return sbs_fail(e, "%s: epoch totals out of range (loss %g, %lld correct of %lld, %g s)",
                        name, s.ep_loss, (long long)s.ep_correct, (long long)s.ep_seen,
                        s.ep_seconds);
    s.opt.t = t;
    s.opt.num_bad = nb;
    s.opt.patience = pat;
    s.opt.plateau = pl != 0;
    for (int l = 0; l < net->n; l++) {
        sbs_layer *L = &net->L[l];
        uint64_t nw = 0, nbias = 0;
        uint8_t f1 = 0, f2 = 0;
        float scale = 1.0f;
        if (GET(&r, nw, "layer sizes") || GET(&r, nbias, "layer sizes") || GET(&r, f1, "flags") ||
            GET(&r, f2, "flags") || GET(&r, scale, "scale"))
            return -1;
        uint64_t want_w = L->file_weights ? L->n_w : 0, want_b = L->file_weights ? L->n_b : 0;
        if (nw != want_w || nbias != want_b)
            return sbs_fail(e,
                            "%s: offset %zu: layer %d: expected %llu weights and %llu biases, "
                            "found %llu and %llu",
                            name, r.off, l, (unsigned long long)want_w, (unsigned long long)want_b,
                            (unsigned long long)nw, (unsigned long long)nbias);
        if (commit) {
            ts->scale_set[l] = f1;
            ts->scale_frozen[l] = f2;
            ts->scale[l] = scale;
        }
        if (!L->file_weights) continue;
        if (!(scale > 0.0f) || !isfinite(scale))
            return sbs_fail(e, "%s: layer %d: gradient scale must be a positive number, found %g",
                            name, l, (double)scale);
        size_t nfull = sbs_weight_floats(L);
        /* destinations: the network's arrays, or zeroed temporaries while validating */
        size_t np = net->n_params;
        float *w = L->weight, *b = L->bias, *mw = ts->moments + L->w_off,
              *vw = ts->moments + np + L->w_off;
        float *mb = L->bias ? ts->moments + L->b_off : NULL;
        float *vb = L->bias ? ts->moments + np + L->b_off : NULL;
        if (!commit) {
            w = xcalloc(3 * nfull + 3 * L->n_b + 1, sizeof(float));
            mw = w + nfull;
            vw = mw + nfull;
            b = L->bias ? vw + nfull : NULL;
            mb = L->bias ? vw + nfull + L->n_b : NULL;
            vb = L->bias ? vw + nfull + 2 * L->n_b : NULL;
        }
        int bad = get_arr(&r, L, w, true, nfull, "weights") ||
                  get_arr(&r, L, b, false, L->n_b, "biases") ||
                  get_arr(&r, L, mw, true, nfull, "Adam moments") ||
                  get_arr(&r, L, vw, true, nfull, "Adam moments") ||
                  get_arr(&r, L, mb, false, L->n_b, "Adam moments") ||
                  get_arr(&r, L, vb, false, L->n_b, "Adam moments");
        for (size_t i = 0; !bad && i < nfull; i++)
            if (!isfinite(w[i]) || (L->sbs_w && w[i] < 0.0f) || !isfinite(mw[i]) ||
                !(vw[i] >= 0.0f) || !isfinite(vw[i]))
                bad = sbs_fail(e,
                               "%s: layer %d: element %zu of the weights or moments is "
                               "invalid (%g)",
                               name, l, i, (double)w[i]);
        if (!commit) free(w);
        if (bad) return -1;
    }
    if (r.off != r.n)
        return sbs_fail(e, "%s: offset %zu: %zu bytes of unexpected extra data", name, r.off,
                        r.n - r.off);
    *st = s;
    return 0;
}

int sbs_ckpt_parse(const unsigned char *buf, size_t len, const char *name, sbs_ckpt_state *st,
                   sbs_trainer_state *ts, sbs_err *e)
{
    sbs_ckpt_state tmp;
    if (parse(buf, len, name, &tmp, ts, false, e) != 0) return -1;
    return parse(buf, len, name, st, ts, true, e);
}

int sbs_ckpt_load(const char *path, sbs_ckpt_state *st, sbs_trainer_state *ts, sbs_err *e)
{
    unsigned char *buf;
    size_t len;
    if (sbs_read_file(path, &buf, &len, e) != 0) return -1;
    int r = sbs_ckpt_parse(buf, len, path, st, ts, e);
    free(buf);
    return r;
}
