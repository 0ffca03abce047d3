/* tfevents.c — TensorBoard event files (tfevents.h): Event messages encoded with protobuf-c
 * from src/io/proto/event.proto, framed as TFRecords with masked CRC-32C, one write() per
 * record, fsync after every epoch. */
#include "sbs/tfevents.h"
#include "sbs/net.h"

#include "event.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct sbs_tb {
    int fd;
    char path[PATH_MAX];
    unsigned char *buf;
    size_t cap;
};

/* ---------------------------------------------------------------- CRC-32C */

/* reflected CRC-32C, polynomial 0x82f63b78, bit by bit: no table to share between threads,
 * and fast enough for records of at most a few kilobytes a few times per update */
uint32_t sbs_crc32c(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

/* ---------------------------------------------------------------- records */

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static double wall_time(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* Frame ev as one TFRecord and write it with one write() (looping only on a short write). */
static int put_event(sbs_tb *tb, Tensorboard__Event *ev, sbs_err *e)
{
    ev->wall_time = wall_time();
    size_t n = tensorboard__event__get_packed_size(ev), total = n + 16;
    if (total > tb->cap) {
        tb->cap = total * 2;
        tb->buf = xrealloc(tb->buf, tb->cap);
    }
    unsigned char *b = tb->buf;
    le64(b, (uint64_t)n);
    le32(b + 8, sbs_tb_mask_crc(sbs_crc32c(b, 8)));
    tensorboard__event__pack(ev, b + 12);
    le32(b + 12 + n, sbs_tb_mask_crc(sbs_crc32c(b + 12, n)));
    for (size_t done = 0; done < total;) {
        ssize_t w = write(tb->fd, b + done, total - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return sbs_fail(e, "writing TensorBoard event file %s: %s", tb->path,
                            w < 0 ? strerror(errno) : "nothing written");
        done += (size_t)w;
    }
    return 0;
}

sbs_tb *sbs_tb_open(const char *dir, sbs_err *e)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *p = host; *p; p++)
        if (*p == '/') *p = '_';
    sbs_tb *tb = xcalloc(1, sizeof *tb);
    if ((size_t)snprintf(tb->path, sizeof tb->path, "%s/events.out.tfevents.%lld.%s.%ld", dir,
                         (long long)time(NULL), host, (long)getpid()) >= sizeof tb->path) {
        free(tb);
        sbs_fail(e, "%s: path too long for a TensorBoard event file", dir);
        return NULL;
    }
    tb->fd = open(tb->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (tb->fd < 0) {
        sbs_fail(e, "cannot create TensorBoard event file %s: %s", tb->path, strerror(errno));
        free(tb);
        return NULL;
    }
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.what_case = TENSORBOARD__EVENT__WHAT_FILE_VERSION;
    ev.file_version = (char *)"brain.Event:2";
    if (put_event(tb, &ev, e) != 0) {
        sbs_tb_close(tb, NULL);
        return NULL;
    }
    return tb;
}

const char *sbs_tb_path(const sbs_tb *tb)
{
    return tb ? tb->path : NULL;
}

int sbs_tb_sync(sbs_tb *tb, sbs_err *e)
{
    if (!tb) return 0;
    if (fsync(tb->fd) != 0 && errno != EINVAL && errno != EROFS)
        return sbs_fail(e, "syncing TensorBoard event file %s: %s", tb->path, strerror(errno));
    return 0;
}

int sbs_tb_close(sbs_tb *tb, sbs_err *e)
{
    if (!tb) return 0;
    int r = sbs_tb_sync(tb, e);
    if (close(tb->fd) != 0 && r == 0)
        r = sbs_fail(e, "closing TensorBoard event file %s: %s", tb->path, strerror(errno));
    free(tb->buf);
    free(tb);
    return r;
}

/* one Summary with one Value in one Event */
static int put_value(sbs_tb *tb, int64_t step, Tensorboard__Summary__Value *v, sbs_err *e)
{
    Tensorboard__Summary__Value *vals[1] = {v};
    Tensorboard__Summary sum = TENSORBOARD__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = vals;
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.step = step;
    ev.what_case = TENSORBOARD__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return put_event(tb, &ev, e);
}

int sbs_tb_scalar(sbs_tb *tb, const char *tag, int64_t step, double value, sbs_err *e)
{
    if (!tb) return 0;
    Tensorboard__Summary__Value v = TENSORBOARD__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = (float)value;
    return put_value(tb, step, &v, e);
}

int sbs_tb_histogram(sbs_tb *tb, const char *tag, int64_t step, const float *v, size_t rows,
                     size_t cols, size_t ld, sbs_err *e)
{
    if (!tb || rows * cols == 0) return 0;
    Tensorboard__HistogramProto h = TENSORBOARD__HISTOGRAM_PROTO__INIT;
    double lo = DBL_MAX, hi = -DBL_MAX, sum = 0, sq = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            double x = v[r * ld + c];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
            sum += x;
            sq += x * x;
        }
    double limit[SBS_TB_BUCKETS], count[SBS_TB_BUCKETS] = {0};
    /* equal buckets over [min, max]; a constant array has one bucket */
    int nb = hi > lo ? SBS_TB_BUCKETS : 1;
    double width = (hi - lo) / nb;
    for (int i = 0; i < nb; i++) limit[i] = i + 1 < nb ? lo + width * (i + 1) : hi;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            double x = v[r * ld + c];
            int i = nb > 1 ? (int)((x - lo) / width) : 0;
            if (i >= nb) i = nb - 1;
            /* bucket i holds (limit[i-1], limit[i]]: a value on an inner edge goes left */
            while (i > 0 && x <= limit[i - 1]) i--;
            while (i < nb - 1 && x > limit[i]) i++;
            count[i] += 1;
        }
    h.min = lo;
    h.max = hi;
    h.num = (double)(rows * cols);
    h.sum = sum;
    h.sum_squares = sq;
    h.n_bucket_limit = h.n_bucket = (size_t)nb;
    h.bucket_limit = limit;
    h.bucket = count;
    Tensorboard__Summary__Value val = TENSORBOARD__SUMMARY__VALUE__INIT;
    val.tag = (char *)tag;
    val.value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_HISTO;
    val.histo = &h;
    return put_value(tb, step, &val, e);
}

/* ---------------------------------------------------------------- the trainer's records */

int sbs_tb_update(sbs_tb *tb, int64_t step, double loss, double train_accuracy, bool acc, double lr,
                  sbs_err *e)
{
    if (!tb) return 0;
    if (sbs_tb_scalar(tb, "Train Loss/update", step, loss, e) != 0 ||
        (acc && sbs_tb_scalar(tb, "Train Error/update", step, 100.0 - train_accuracy, e) != 0) ||
        sbs_tb_scalar(tb, "Learning Rate Scale WF/update", step, lr, e) != 0)
        return -1;
    return 0;
}

int sbs_tb_epoch(sbs_tb *tb, const sbs_net *net, int64_t epoch, double train_loss,
                 double train_accuracy, double test, bool acc, double lr, sbs_err *e)
{
    if (!tb) return 0;
    if (sbs_tb_scalar(tb, "Train Loss", epoch, train_loss, e) != 0 ||
        (acc && sbs_tb_scalar(tb, "Train Error", epoch, 100.0 - train_accuracy, e) != 0) ||
        sbs_tb_scalar(tb, "Test Error", epoch, acc ? 100.0 - test : test, e) != 0 ||
        sbs_tb_scalar(tb, "Learning Rate Scale WF", epoch, lr, e) != 0)
        return -1;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        char tag[64];
        snprintf(tag, sizeof tag, "Weights Layer %d", l);
        /* SbS-like weights are (K, ldw) with padding columns; the others are n_w floats */
        int r = L->sbs_w ? sbs_tb_histogram(tb, tag, epoch, L->weight, (size_t)L->g.K, (size_t)L->N,
                                            (size_t)L->ldw, e)
                         : sbs_tb_histogram(tb, tag, epoch, L->weight, 1, L->n_w, L->n_w, e);
        if (r != 0) return -1;
        if (L->n_b && L->bias) {
            snprintf(tag, sizeof tag, "Bias Layer %d", l);
            if (sbs_tb_histogram(tb, tag, epoch, L->bias, 1, L->n_b, L->n_b, e) != 0) return -1;
        }
    }
    return sbs_tb_sync(tb, e);
}
