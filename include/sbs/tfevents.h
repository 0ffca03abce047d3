/* tfevents.h — TensorBoard event files (events.out.tfevents.*), written as training goes so
 * that `tensorboard --logdir LOG_PATH` shows the reference's charts: the scalars `Train Loss`,
 * `Train Error`, `Test Error` and `Learning Rate Scale WF` per epoch (step = epoch, the tags
 * and steps of the reference's SummaryWriter), the per-update scalars `Train Loss/update`,
 * `Train Error/update` and `Learning Rate Scale WF/update` (step = update number), and the
 * histograms `Weights Layer {l}` / `Bias Layer {l}` of every layer with learned weights per
 * epoch.
 *
 * File format: TFRecords, each = uint64 length, uint32 masked CRC-32C of those 8 bytes, the
 * serialised Event (src/io/proto/event.proto, encoded with protobuf-c), uint32 masked
 * CRC-32C of the data (all little-endian; mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8).
 * The first record is an Event with file_version "brain.Event:2". Every record goes to the
 * file with one write() of the whole record, and the file is fsync'ed after every epoch: a
 * killed run leaves a file of whole records that TensorBoard reads.
 *
 * Every function but sbs_tb_open accepts tb == NULL (TensorBoard output turned off) and then
 * does nothing. Errors fill e with one line naming the file. */
#ifndef SBS_TFEVENTS_H
#define SBS_TFEVENTS_H

#include "sbs/common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sbs_tb sbs_tb;
struct sbs_net;

/* Create dir/events.out.tfevents.<unix time>.<hostname>.<pid> (dir must exist) and write the
 * file_version record. NULL with e set on failure. */
sbs_tb *sbs_tb_open(const char *dir, sbs_err *e);
/* The file's path (for messages and tests). */
const char *sbs_tb_path(const sbs_tb *tb);
/* Flush to disk (fsync) and close. */
int sbs_tb_close(sbs_tb *tb, sbs_err *e);

/* One scalar event. */
int sbs_tb_scalar(sbs_tb *tb, const char *tag, int64_t step, double value, sbs_err *e);
/* One histogram event over the values v[r * ld + c], r < rows, c < cols (a padded matrix;
 * rows = 1 for a plain array): min, max, num, sum, sum of squares, and SBS_TB_BUCKETS equal
 * buckets from min to max (bucket_limit = their right edges, the last one = max). */
#define SBS_TB_BUCKETS 30
int sbs_tb_histogram(sbs_tb *tb, const char *tag, int64_t step, const float *v, size_t rows,
                     size_t cols, size_t ld, sbs_err *e);
/* fsync the file. */
int sbs_tb_sync(sbs_tb *tb, sbs_err *e);

/* The trainer's records (the same values as its metrics.jsonl records; acc false: a network
 * without accuracy, whose Error tags are left out and whose `Test Error` is the test loss, as
 * in the reference). After every update, step = the update number: */
int sbs_tb_update(sbs_tb *tb, int64_t step, double loss, double train_accuracy, bool acc, double lr,
                  sbs_err *e);
/* After every epoch, step = epoch: the scalars, the weight histograms of net, then fsync. */
int sbs_tb_epoch(sbs_tb *tb, const struct sbs_net *net, int64_t epoch, double train_loss,
                 double train_accuracy, double test, bool acc, double lr, sbs_err *e);

/* CRC-32C (Castagnoli) of n bytes, and the TFRecord mask of a CRC. */
uint32_t sbs_crc32c(const void *data, size_t n);
static inline uint32_t sbs_tb_mask_crc(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

#endif
