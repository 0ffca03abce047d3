/* trainer.c — the training loop (SPEC §2): sub-batches with augmentation, forward, loss,
 * backward, one update per window of number_of_batches_for_one_update sub-batches, weight
 * files and a checkpoint after every update, a test pass after every epoch, the learning-rate
 * schedule, metrics (JSON lines), a log file and progress, and a clean stop on SIGINT/SIGTERM.
 *
 * Every random number is keyed by (seed, epoch, position in the epoch), so a run gives
 * bitwise the same weights for any thread count and when resumed from its checkpoint. */
#include "sbs/data.h"
#include "sbs/noisy.h"
#include "sbs/png_out.h"
#include "sbs/mpi.h"
#include "sbs/rng.h"
#include "sbs/tfevents.h"
#include "sbs/threadpool.h"
#include "sbs/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <zlib.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static bool g_writer = true; /* this process writes the files (rank 0 of several, mpi.h) */

/* The first SIGINT/SIGTERM asks for a stop at the next update boundary (state saved, exit
 * 130). A second one, or the first when the stop has not happened within STOP_GRACE seconds
 * (a thread stuck in a library, say), ends the process at once: every file is written
 * atomically, so what is on disk stays whole. */
#define STOP_GRACE 10

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "sbs-train: the stop did not complete in time; exiting now (the "
                              "files on disk are whole; --resume continues from the last "
                              "saved update)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(SBS_EXIT_INTERRUPTED);
}

static void on_signal(int sig)
{
    (void)sig;
    if (g_stop) {
        static const char msg[] = "sbs-train: second signal: exiting now\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(SBS_EXIT_INTERRUPTED);
    }
    g_stop = 1;
    alarm(STOP_GRACE);
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* what MPI launchers forward (mpirun kills on SIGTERM) */
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    /* a file-size limit makes a write fail with EFBIG (reported, previous files kept) instead
     * of killing the process */
    signal(SIGXFSZ, SIG_IGN);
}

/* A log or metrics file opened for appending. A FIFO that no process reads would block the
 * open for ever: it is opened without waiting (ENXIO: nobody reads it), then made blocking,
 * so --metrics /dev/stdout into a pipe still works. */
static FILE *open_append(const char *path, const char *what, sbs_err *e)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0666);
    if (fd < 0) {
        if (errno == ENXIO)
            sbs_fail(e, "cannot open %s %s: it is a FIFO that no process reads", what, path);
        else
            sbs_fail(e, "cannot open %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "a");
    if (!f) {
        sbs_fail(e, "cannot open %s %s: %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

/* One run per output folder: an exclusive flock on OUT/.sbs-train.lock, released by the
 * kernel when the process ends however it ends (a killed run never blocks the next). The
 * file holds the pid of the holder for the message. Returns the open descriptor or -1. */
static int lock_folder(const char *dir, sbs_err *e)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/.sbs-train.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        sbs_fail(e, "cannot create the lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        if (pid > 0)
            sbs_fail(e,
                     "%s is in use by another sbs-train run (pid %ld); wait for it to finish "
                     "or choose another --out",
                     dir, pid);
        else
            sbs_fail(e,
                     "%s is in use by another sbs-train run; wait for it to finish or choose "
                     "another --out",
                     dir);
        close(fd);
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        /* the lock holds regardless; the pid is only for the message */
    }
    return fd;
}

/* fprintf to a results file with its errors reported: a full disk must not pass silently */
static int write_record(FILE *f, const char *what, sbs_err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int write_record(FILE *f, const char *what, sbs_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(f, fmt, ap);
    va_end(ap);
    if (r < 0 || fflush(f) != 0 || ferror(f))
        return sbs_fail(e, "cannot write %s: %s", what, strerror(errno ? errno : EIO));
    return 0;
}

/* Remove temporary files a killed run left behind (NAME.tmp.PID of a process that is gone);
 * the files they were meant to replace are intact, as writes are atomic. */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *t = strstr(de->d_name, ".tmp.");
        if (!t || (strncmp(de->d_name, "Weight_L", 8) && strncmp(de->d_name, "Bias_L", 6) &&
                   strncmp(de->d_name, "checkpoint.sbs", 14)))
            continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno == EPERM)) continue;
        char p[PATH_MAX + 256];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

typedef struct {
    FILE *log, *metrics;
    sbs_report_fn report;
    void *ctx;
    sbs_tb *tb; /* TensorBoard event file (NULL: --no-tensorboard) */
    long *conf; /* --png: confusion matrix of the test pass (n_out x n_out), else NULL */
} outputs;

static void say(outputs *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(outputs *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (o->log) {
        time_t now = time(NULL);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", localtime(&now));
        fprintf(o->log, "%s %s\n", ts, line);
        fflush(o->log);
    }
    if (o->report) o->report(o->ctx, SBS_REPORT_LOG, line);
}

/* a progress line for the program's display (final: keep it) */
static void progress(outputs *o, bool final, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void progress(outputs *o, bool final, const char *fmt, ...)
{
    if (!o->report) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->report(o->ctx, final ? SBS_REPORT_PROGRESS_FINAL : SBS_REPORT_PROGRESS, line);
}

/* Fisher-Yates over [0, n) keyed by (seed, epoch) */
static void shuffle(int *order, int n, uint64_t seed, int epoch)
{
    for (int i = 0; i < n; i++) order[i] = i;
    sbs_stream st;
    sbs_stream_init(&st, seed, SBS_RNG_SHUFFLE, (uint32_t)epoch, 0);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)sbs_stream_below(&st, (uint32_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* The chunks of the training set: sub-batch `first_sub + k` of the epoch's shuffled order,
 * augmented on the trainer's own pool. */
typedef struct {
    const sbs_split *s;
    const int *order;
    const sbs_augment *aug;
    sbs_pool *pool;
    uint64_t seed;
    int epoch, B, n, first_sub;
    size_t img;
    float *x;
} train_chunks;

static void aug_one(void *ctx, long b, int worker)
{
    (void)worker;
    train_chunks *c = ctx;
    sbs_augment_image(c->s, c->order[b], c->aug, c->seed, (uint64_t)c->epoch,
                      c->x + (size_t)b * c->img);
}

static void load_train_chunk(void *ctx, int k, float *img, uint8_t *labels, int *B,
                             sbs_spike_key *key)
{
    train_chunks *c = ctx;
    int first = (c->first_sub + k) * c->B, b = c->n - first < c->B ? c->n - first : c->B;
    train_chunks one = *c;
    one.order = c->order + first;
    one.x = img;
    sbs_pool_run(c->pool, b, aug_one, &one);
    for (int i = 0; i < b; i++) labels[i] = c->s->y[c->order[first + i]];
    *B = b;
    *key = (sbs_spike_key){c->seed, (uint32_t)c->epoch * 2u, (uint32_t)first};
}

/* test accuracy over the first n test images; for a last layer with its own target (e.g.
 * RECONSTRUCTION) the mean test loss per pattern instead. With several ranks each computes a
 * contiguous share of the chunks and the chunk sums are combined in chunk order (the same
 * result as one process); pictures (extract_noisy_pictures) and the confusion matrix (--png)
 * are made by a single process only. */
static double test_pass(sbs_exec *x, const sbs_split *test, int n, int crop, uint64_t seed,
                        int epoch, outputs *out, sbs_reducer *red, bool *stopped, sbs_noisy *pics,
                        sbs_pool *pool)
{
    const sbs_net *net = x->net;
    bool own = net->L[net->n - 1].own_target, multi = sbs_ranks_multi(red);
    int B = x->cap_B, n_chunks = (n + B - 1) / B, c0 = 0, count = n_chunks;
    if (multi) red->share(red, n_chunks, &c0, &count);
    int lo = c0 * B, hi = (c0 + count) * B < n ? (c0 + count) * B : n; /* this rank's images */
    double *scal = xcalloc((size_t)(count ? count : 1) * 2, sizeof *scal), tot[2] = {0, 0};
    float *img = xaligned((size_t)B * sbs_act_floats(net, 0) * sizeof(float));
    if (multi) pics = NULL;
    long *conf = multi ? NULL : out->conf;
    float *pin =
        pics ? xaligned((size_t)B * sbs_act_floats(net, pics->layer) * sizeof(float)) : NULL;
    if (conf) memset(conf, 0, (size_t)net->n_out * net->n_out * sizeof *conf);
    bool failed = false;
    for (int first = lo, k = 0; first < hi; first += B, k++) {
        if (!multi && g_stop) break;
        int b = n - first < B ? n - first : B;
        sbs_crop_center(test, first, b, crop, img);
        sbs_spike_key key = {seed, (uint32_t)epoch * 2u + 1u, (uint32_t)first};
        sbs_exec_forward(x, img, b, &key);
        /* extract_noisy_pictures (noisy.h): a failure is in pics->err, checked by the caller */
        if (pics) {
            sbs_exec_download_act(x, pics->layer, b, pin);
            if (sbs_noisy_add(pics, pin, b, &key, test->y + first, first, pool, NULL) != 0) {
                failed = true;
                break;
            }
        }
        double *sc = scal + 2 * k; /* the chunk's loss and correct answers */
        if (own) sc[0] = sbs_exec_loss(x, test->y + first, b);
        for (int i = 0; !own && i < b; i++) {
            int pred = sbs_argmax(x->out + (size_t)i * net->n_out, net->n_out);
            int y = test->y[first + i];
            sc[1] += pred == y;
            if (conf && y < net->n_out) conf[y * net->n_out + pred]++; /* --png */
        }
        tot[0] += sc[0];
        tot[1] += sc[1];
        if (own)
            progress(out, false, "epoch %d  test %d/%d  loss %.5f", epoch, first + b - lo, hi - lo,
                     tot[0] / (first + b - lo));
        else
            progress(out, false, "epoch %d  test %d/%d  accuracy %.2f%%", epoch, first + b - lo,
                     hi - lo, 100.0 * tot[1] / (first + b - lo));
    }
    free(img);
    free(pin);
    if (failed || (pics && !g_stop && sbs_noisy_finish(pics, NULL) != 0)) {
        free(scal);
        return NAN; /* the caller reports pics->err */
    }
    /* the ranks agree on a stop at the end of the pass; one process stops at once */
    if (multi ? sbs_ranks_any(red, g_stop) : g_stop)
        *stopped = true;
    else if (multi)
        red->sum(red, NULL, scal, count, 0, 2, NULL, tot, NULL);
    free(scal);
    if (*stopped) return NAN;
    return own ? tot[0] / n : 100.0 * tot[1] / n;
}

/* a metric for JSON: the number, or null where it does not exist (accuracy of a network that
 * trains against its own target) */
static const char *jnum(char buf[32], double v, bool exists)
{
    if (!exists || !isfinite(v)) return "null";
    snprintf(buf, 32, "%.4f", v);
    return buf;
}

/* the same with 6 significant digits (losses) */
static const char *jnum6(char buf[32], double v)
{
    if (!isfinite(v)) return "null";
    snprintf(buf, 32, "%.6g", v);
    return buf;
}

/* "  train 12.34%" for progress lines, or nothing without accuracy */
static const char *train_str(char buf[32], bool exists, long correct, long seen)
{
    if (!exists) return "";
    snprintf(buf, 32, "  train %.2f%%", 100.0 * correct / seen);
    return buf;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* save the weights (when learning) and the checkpoint from the host copies (rank 0 only:
 * every rank holds the same state) */
static int save_state(sbs_trainer_state *ts, const sbs_ckpt_state *st, bool learn,
                      const char *out_dir, const char *ckpt_path, int epoch, sbs_err *e)
{
    if (!g_writer) return 0;
    sbs_trainer_state_download(ts);
    if (learn && sbs_net_save_weights(ts->net, out_dir, epoch, e) != 0) return -1;
    return sbs_ckpt_save(ckpt_path, st, ts, e);
}

size_t sbs_train_net_memory(const sbs_net *net, sbs_backend *be, int cap, bool learn)
{
    size_t m = sbs_add_huge(sbs_net_memory(net, cap, learn), be->workspace(be, net, cap, learn));
    return sbs_add_huge(m, sbs_mul_huge(net->n_params, 3 * sizeof(float)));
}

int sbs_train_run(const sbs_config *cfg, const sbs_train_opts *o, sbs_err *e)
{
    int ic, ih, iw, crop = cfg->aug.crop_width_in_pixel;
    static sbs_net net;
    /* the shapes only: the parameters are allocated after the memory check below */
    if (sbs_plan_shapes_for_data(&net, cfg, &ic, &ih, &iw, e) != 0) return SBS_EXIT_USAGE;
    const char *out_dir = o->out_dir ? o->out_dir : cfg->weight_path;
    const char *win = o->weights_in ? o->weights_in : cfg->learn.overload_path;
    int B = cfg->batch_size, nbu = cfg->learn.number_of_batches_for_one_update;
    int cap = B < 64 ? 64 : B;
    bool learn = cfg->learn.learning_active;
    int status = SBS_EXIT_USAGE;
    sbs_backend *be = NULL;
    sbs_pool *pool = NULL;
    sbs_dataset ds;
    memset(&ds, 0, sizeof ds);
    sbs_exec ex;
    memset(&ex, 0, sizeof ex);
    sbs_trainer_state ts; /* set up after the memory check */
    memset(&ts, 0, sizeof ts);
    /* several ranks (mpi.h): rank 0 reads the start state and writes every file and line */
    sbs_reducer *red = o->reducer;
    bool writer = g_writer = sbs_ranks_writer(red);
    outputs out = {.report = writer ? o->report : NULL, .ctx = o->report_ctx};
    int *order = NULL, lock_fd = -1;
    sbs_ckpt_state st;
    memset(&st, 0, sizeof st);
    sbs_noisy pics = {0}; /* extract_noisy_pictures */
    char *run_def = NULL; /* what defines this run (rundef.c); st.run_def points to it */
    catch_signals();

    be = sbs_backend_create(o->backend, &o->be_opts, e);
    if (!be) goto done;
    /* memory, computed up front: fail before any work rather than in the middle */
    {
        size_t netb = sbs_train_net_memory(&net, be, cap, learn);
        size_t need = sbs_add_huge(netb, sbs_mode_data_bytes(cfg->data_mode));
        size_t avail = sbs_mem_available();
        if (need > avail) {
            sbs_fail(e,
                     "this run needs about %.1f GiB of memory (network %.1f GiB for batch %d "
                     "on %s, data %.1f GiB), only %.1f GiB are available",
                     need / 1073741824.0, netb / 1073741824.0, B, be->describe(be),
                     sbs_mode_data_bytes(cfg->data_mode) / 1073741824.0, avail / 1073741824.0);
            status = SBS_EXIT_NOMEM;
            goto done;
        }
        size_t left, vneed = sbs_add_huge(need, be->reserve);
        if (!sbs_address_space_fits(vneed, &left)) {
            sbs_fail(e,
                     "this run needs about %.1f GiB of address space (network %.1f GiB, data "
                     "%.1f GiB, %.1f GiB for the threads of %s), the limit (ulimit -v) leaves "
                     "only %.1f GiB",
                     vneed / 1073741824.0, netb / 1073741824.0,
                     sbs_mode_data_bytes(cfg->data_mode) / 1073741824.0, be->reserve / 1073741824.0,
                     be->describe(be), left / 1073741824.0);
            status = SBS_EXIT_NOMEM;
            goto done;
        }
    }
    sbs_net_alloc_params(&net);
    sbs_trainer_state_init(&ts, &net);
    /* weights before data: a bad weight file is reported before the long load */
    sbs_net_init_weights(&net, o->seed);
    int loaded = 0;
    if (!o->resume && writer) {
        loaded = sbs_net_load_weights(&net, win, false, e);
        if (loaded < 0) goto done;
    }
    /* the output folder before the long data load: a read-only or busy folder is reported
     * at once */
    if (writer && sbs_mkdir_p(out_dir, e) != 0) goto done;
    if (writer && (lock_fd = lock_folder(out_dir, e)) < 0) goto done;
    if (sbs_dataset_load(&ds, cfg->data_mode, o->data_dir ? o->data_dir : cfg->data_path,
                         SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, e) != 0)
        goto done;
    if (ds.train.c != ic || ds.train.h != ih || ds.train.w != iw) {
        sbs_fail(e, "the data set's images are %dx%dx%d, data_mode %s expects %dx%dx%d", ds.train.c,
                 ds.train.h, ds.train.w, cfg->data_mode, ic, ih, iw);
        goto done;
    }
    if (writer) remove_stale_temps(out_dir);
    char path[PATH_MAX + 64];
    char ckpt_path[PATH_MAX + 64];
    snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint.sbs", out_dir);

    int n_train = ds.train.n, n_test = ds.test.n;
    if (o->limit_train > 0 && o->limit_train < n_train) n_train = (int)o->limit_train;
    if (o->limit_test > 0 && o->limit_test < n_test) n_test = (int)o->limit_test;
    uint32_t lcrc = (uint32_t)crc32(0L, ds.train.y, (uInt)n_train);
    lcrc = (uint32_t)crc32(lcrc, ds.test.y, (uInt)n_test);
    run_def = sbs_run_definition(cfg, n_train, n_test, lcrc);
    st.seed = o->seed;
    st.plan_hash = sbs_plan_hash(&net);
    st.epoch = cfg->epoch_id;
    sbs_optim_init(&st.opt, cfg);
    if (o->resume && writer) {
        struct stat cs;
        if (stat(ckpt_path, &cs) != 0 && errno == ENOENT) {
            sbs_fail(e,
                     "--resume: %s holds no checkpoint.sbs (the run there stopped before its "
                     "first update was saved, or none ran there): start it without --resume",
                     out_dir);
            goto done;
        }
        if (sbs_ckpt_load(ckpt_path, &st, &ts, e) != 0) goto done;
        if (st.seed != o->seed) {
            sbs_fail(e, "%s: the run was started with --seed %llu, not %llu", ckpt_path,
                     (unsigned long long)st.seed, (unsigned long long)o->seed);
            goto done;
        }
        char *saved = st.run_def;
        st.run_def = run_def;
        int changed = saved && run_def && sbs_run_definition_check(saved, run_def, ckpt_path, e);
        free(saved); /* the checkpoint's copy */
        if (changed) {
            status = SBS_EXIT_USAGE;
            goto done;
        }
    }
    /* the other ranks take rank 0's start state, and keep their own run definition (the
     * state they receive holds rank 0's pointer) */
    int shared = sbs_ranks_share_start(red, &st, &ts, e);
    st.run_def = run_def;
    if (shared != 0) goto done;
    if (sbs_exec_init(&ex, &net, be, cap, learn, &status, e) != 0) goto done;
    ts.ex = &ex;
    sbs_trainer_state_upload(&ts);
    pool = sbs_pool_create(o->be_opts.threads);
    status = SBS_EXIT_FAILURE;

    if (sbs_ranks_check_start(red, be->describe(be), &ds, n_train, n_test, e) != 0) {
        status = SBS_EXIT_USAGE;
        goto done;
    }
    /* outputs: train.log and metrics.jsonl go to --out, else to log_path. Appended, never
     * truncated: an earlier run's records in the same folder are kept; a "start" record
     * marks where each run (or resumption) begins. */
    const char *log_dir = o->out_dir ? o->out_dir : cfg->log_path;
    char metrics_what[PATH_MAX + 96];
    if (!writer) goto outputs_open; /* the other ranks open no files */
    if (sbs_mkdir_p(log_dir, e) != 0) goto done;
    if ((size_t)snprintf(path, sizeof path, "%s/train.log", log_dir) >= sizeof path) {
        sbs_fail(e, "log folder name too long (%zu characters, at most %d): %.60s...",
                 strlen(log_dir), PATH_MAX - 11, log_dir);
        goto done;
    }
    if (!(out.log = open_append(path, "log file", e))) goto done;
    size_t plen = o->metrics_path
                      ? (size_t)snprintf(path, sizeof path, "%s", o->metrics_path)
                      : (size_t)snprintf(path, sizeof path, "%s/metrics.jsonl", log_dir);
    if (plen >= sizeof path) {
        sbs_fail(e, "--metrics: file name too long (%zu characters, at most %d): %.60s...", plen,
                 PATH_MAX - 1, path);
        goto done;
    }
    if (!(out.metrics = open_append(path, "metrics file", e))) goto done;
    snprintf(metrics_what, sizeof metrics_what, "metrics file %s", path);
    if (write_record(out.metrics, metrics_what, e,
                     "{\"type\": \"start\", \"epoch\": %d, \"step\": %d, \"resume\": %s, "
                     "\"seed\": %llu}\n",
                     st.epoch, st.opt.t, o->resume ? "true" : "false",
                     (unsigned long long)o->seed) != 0)
        goto done;
    /* extract_noisy_pictures writes LOG_DIR/noisy_picture_data/<spikes>/<batch>.npz in every
     * test pass (the reference's files; each pass replaces the previous pass's) */
    if (cfg->extract_noisy_pictures) {
        if (sbs_noisy_open(&pics, &net, log_dir, B, e) != 0) goto done;
        if (!pics.on)
            say(&out, "extract_noisy_pictures: the network has no SbS layer, no pictures");
    }
    /* TensorBoard event file beside metrics.jsonl (tfevents.h) */
    if (!o->no_tensorboard && !(out.tb = sbs_tb_open(log_dir, e))) goto done;
outputs_open:;
    int n_sub = (n_train + B - 1) / B;
    if (learn && n_sub < nbu) {
        sbs_fail(e,
                 "%d training images make %d sub-batch%s of batch_size %d, fewer than one update "
                 "window (number_of_batches_for_one_update %d): nothing would be learnt; use "
                 "at least %d images",
                 n_train, n_sub, n_sub == 1 ? "" : "es", B, nbu, B * nbu);
        status = SBS_EXIT_USAGE;
        goto done;
    }
    if (st.next_sub > n_sub || (st.next_sub % nbu != 0 && st.next_sub != n_sub)) {
        sbs_fail(e,
                 "%s: the checkpoint stopped at sub-batch %d, which is not an update boundary "
                 "of this run's %d sub-batches (was --limit-train or the data set changed?)",
                 ckpt_path, st.next_sub, n_sub);
        status = SBS_EXIT_USAGE;
        goto done;
    }
    /* --epochs N trains up to epoch epoch_id + N (exclusive), for a fresh run and a resumed
     * one alike, so an interrupted run and its continuation end where the uninterrupted run
     * would */
    int epoch_end = cfg->epoch_id_max;
    if (o->epochs > 0 && (long)cfg->epoch_id + o->epochs < epoch_end)
        epoch_end = cfg->epoch_id + o->epochs;
    say(&out,
        "sbs-train %s: %s, %d layers, %d train / %d test images (%s), batch %d x %d, "
        "%s, seed %llu%s",
        SBS_VERSION, cfg->def_file, net.n, n_train, n_test, ds.source, B, nbu, be->describe(be),
        (unsigned long long)o->seed, o->resume ? ", resumed" : "");
    if (sbs_ranks_multi(red))
        say(&out, "%d ranks (MPI) share every update window; chunk sums added in chunk order",
            red->size);
    if (o->resume)
        say(&out, "resuming at epoch %d, sub-batch %d/%d (update %d)", st.epoch, st.next_sub, n_sub,
            st.opt.t);
    else if (loaded > 0)
        say(&out, "started from %d weight file(s) in %s", loaded, win);
    if (st.epoch >= epoch_end) say(&out, "nothing to do: epoch %d >= %d", st.epoch, epoch_end);

    order = xmalloc((size_t)ds.train.n * sizeof *order);
    sbs_augment aug = {.crop = crop,
                       .photometric = strcmp(cfg->data_mode, "MNIST") != 0,
                       .flip_p = cfg->aug.flip_p,
                       .brightness = cfg->aug.jitter_brightness,
                       .contrast = cfg->aug.jitter_contrast};
    /* a last layer with its own target (RECONSTRUCTION): loss only, no accuracy */
    bool acc = !net.L[net.n - 1].own_target;
    char nb[4][32];
    double last_test = NAN, last_loss = NAN, run_t0 = sbs_now();
    int epochs_done = 0;
    bool stopped = g_stop != 0; /* a signal during the set-up: stop before any work */
    if (o->png_dir && acc) out.conf = xcalloc((size_t)net.n_out * net.n_out, sizeof *out.conf);

    for (; st.epoch < epoch_end && !stopped; st.epoch++) {
        int epoch = st.epoch;
        shuffle(order, n_train, o->seed, epoch);
        double t_upd = 0, ep_t0 = sbs_now() - st.ep_seconds;
        sbs_window_sums tsum = {0};
        if (st.next_sub == 0) {
            st.ep_loss = 0;
            st.ep_correct = st.ep_seen = 0;
            st.updates_in_epoch = 0;
        }
        train_chunks tc = {.s = &ds.train,
                           .order = order,
                           .aug = &aug,
                           .pool = pool,
                           .seed = o->seed,
                           .epoch = epoch,
                           .B = B,
                           .n = n_train,
                           .img = sbs_act_floats(&net, 0)};
        sbs_chunk_source src = {load_train_chunk, &tc, epoch, 0, out_dir};
        /* one window of nbu sub-batches per update; a trailing partial window is forwarded
         * (its loss and accuracy count) but not applied */
        for (int sub = st.next_sub; sub < n_sub; sub += nbu) {
            int nw = n_sub - sub < nbu ? n_sub - sub : nbu;
            bool apply = nw == nbu;
            tc.first_sub = src.first_sub = sub;
            sbs_window_sums w = {0};
            if (sbs_train_step(&ts, &st.opt, &src, nw, apply, o->reducer, &w, e) != 0) goto done;
            st.ep_loss += w.loss;
            st.ep_correct += w.correct;
            st.ep_seen += w.seen;
            tsum.t_data += w.t_data;
            tsum.t_fwd += w.t_fwd;
            tsum.t_bwd += w.t_bwd;
            t_upd += w.t_upd;
            if (!apply) break;
            double t4 = sbs_now();
            st.updates_in_epoch++;
            st.next_sub = sub + nw;
            st.ep_seconds = sbs_now() - ep_t0;
            if (save_state(&ts, &st, learn, out_dir, ckpt_path, epoch, e) != 0) goto done;
            double t5 = sbs_now();
            t_upd += t5 - t4;
            double el = t5 - ep_t0;
            if (out.metrics &&
                write_record(out.metrics, metrics_what, e,
                             "{\"type\": \"update\", \"epoch\": %d, \"update\": %d, "
                             "\"step\": %d, \"loss\": %.6g, \"train_accuracy\": %s, "
                             "\"lr\": %.6g, \"images_per_s\": %.2f, \"seconds\": %.3f}\n",
                             epoch, st.updates_in_epoch, st.opt.t, w.loss / w.seen,
                             jnum(nb[0], 100.0 * w.correct / w.seen, acc), st.opt.lr,
                             st.ep_seen / el, el) != 0)
                goto done;
            if (sbs_tb_update(out.tb, st.opt.t, w.loss / w.seen, 100.0 * w.correct / w.seen, acc,
                              st.opt.lr, e) != 0)
                goto done;
            double eta = (double)(n_sub - st.next_sub) * el / st.next_sub;
            progress(&out, true, "epoch %d  update %d  %d/%d  loss %.4f%s  %.1f img/s  ETA %.0fs",
                     epoch, st.updates_in_epoch, st.next_sub, n_sub, st.ep_loss / st.ep_seen,
                     train_str(nb[0], acc, st.ep_correct, st.ep_seen), st.ep_seen / el, eta);
            if (sbs_ranks_any(red, g_stop)) { /* all ranks stop after the same update */
                stopped = true;
                break;
            }
        }
        if (stopped) break;
        st.next_sub = n_sub;
        st.ep_seconds = sbs_now() - ep_t0;
        if (save_state(&ts, &st, false, out_dir, ckpt_path, epoch, e) != 0) goto done;
        double t6 = sbs_now();
        last_test = test_pass(&ex, &ds.test, n_test, crop, o->seed, epoch, &out, red, &stopped,
                              pics.on ? &pics : NULL, pool);
        if (pics.failed) {
            sbs_fail(e, "extract_noisy_pictures: %s", pics.err.msg);
            goto done;
        }
        if (stopped) break;
        double t_test = sbs_now() - t6;
        double train_loss = st.ep_loss / st.ep_seen, train_acc = 100.0 * st.ep_correct / st.ep_seen;
        last_loss = train_loss;
        bool reduced = false;
        if (learn && !cfg->learn.adapt_learning_rate_after_minibatch)
            reduced =
                sbs_sched_step(&st.opt, cfg->learn.lr_scheduler_use_performance ? 100.0 - train_acc
                                                                                : train_loss);
        double secs = sbs_now() - ep_t0;
        if ((out.metrics &&
             write_record(
                 out.metrics, metrics_what, e,
                 "{\"type\": \"epoch\", \"epoch\": %d, \"updates\": %d, \"step\": %d, "
                 "\"loss\": %.6g, \"train_accuracy\": %s, \"test_accuracy\": %s, "
                 "\"test_error\": %s, \"test_loss\": %s, \"lr\": %.6g, \"images_per_s\": %.2f, "
                 "\"seconds\": %.3f, \"seconds_data\": %.3f, \"seconds_forward\": %.3f, "
                 "\"seconds_backward\": %.3f, \"seconds_update\": %.3f, \"seconds_test\": %.3f}\n",
                 epoch, st.updates_in_epoch, st.opt.t, train_loss, jnum(nb[0], train_acc, acc),
                 jnum(nb[1], last_test, acc), jnum(nb[2], 100.0 - last_test, acc),
                 acc ? "null" : jnum(nb[3], last_test, true), st.opt.lr,
                 (st.ep_seen + n_test) / secs, secs, tsum.t_data, tsum.t_fwd, tsum.t_bwd, t_upd,
                 t_test) != 0) ||
            sbs_tb_epoch(out.tb, &net, epoch, train_loss, train_acc, last_test, acc, st.opt.lr,
                         e) != 0 ||
            (o->png_dir && writer && sbs_png_epoch(o->png_dir, &net, epoch, out.conf, e) != 0))
            goto done;
        if (acc)
            say(&out,
                "epoch %d: loss %.5f, train %.2f %%, test %.2f %% (error %.2f %%), lr %.3g%s, "
                "%.0f s (data %.0f, forward %.0f, backward %.0f, update %.0f, test %.0f)",
                epoch, train_loss, train_acc, last_test, 100.0 - last_test, st.opt.lr,
                reduced ? " (reduced)" : "", secs, tsum.t_data, tsum.t_fwd, tsum.t_bwd, t_upd,
                t_test);
        else
            say(&out,
                "epoch %d: loss %.5f, test loss %.5f, lr %.3g%s, %.0f s (data %.0f, "
                "forward %.0f, backward %.0f, update %.0f, test %.0f)",
                epoch, train_loss, last_test, st.opt.lr, reduced ? " (reduced)" : "", secs,
                tsum.t_data, tsum.t_fwd, tsum.t_bwd, t_upd, t_test);
        epochs_done++;
        st.next_sub = 0;
        st.ep_seconds = 0;
        int32_t keep = st.epoch;
        st.epoch++;
        if (save_state(&ts, &st, false, out_dir, ckpt_path, epoch, e) != 0) goto done;
        st.epoch = keep;
    }
    if (!writer) { /* rank 0 prints the result */
        status = stopped ? SBS_EXIT_INTERRUPTED : SBS_EXIT_OK;
        goto done;
    }
    if (stopped) {
        if (st.opt.t == 0 && st.epoch == cfg->epoch_id && st.next_sub == 0 && !o->resume)
            say(&out, "interrupted before the first update: nothing was written");
        else
            say(&out, "interrupted: state saved to %s; continue with --resume", ckpt_path);
        printf("{\"status\": \"interrupted\", \"epoch\": %d, \"step\": %d, \"checkpoint\": ",
               st.epoch, st.opt.t);
        json_str(stdout, ckpt_path);
        printf("}\n");
        status = SBS_EXIT_INTERRUPTED;
        goto done;
    }
    printf("{\"status\": \"finished\", \"epochs\": %d, \"epoch_id\": %d, \"steps\": %d, "
           "\"train_loss\": %s, \"test_accuracy\": %s, \"test_error\": %s, \"test_loss\": %s, "
           "\"lr\": %.6g, \"seconds\": %.2f, \"weights\": ",
           epochs_done, st.epoch, st.opt.t, jnum6(nb[3], last_loss), jnum(nb[0], last_test, acc),
           jnum(nb[1], 100.0 - last_test, acc), acc ? "null" : jnum(nb[2], last_test, true),
           st.opt.lr, sbs_now() - run_t0);
    json_str(stdout, out_dir);
    printf("}\n");
    fflush(stdout);
    status = SBS_EXIT_OK;
done:
    if (status != SBS_EXIT_OK && status != SBS_EXIT_INTERRUPTED && out.log)
        fprintf(out.log, "error: %s\n", e->msg);
    if (out.log) fclose(out.log);
    if (out.metrics) fclose(out.metrics);
    if (lock_fd >= 0) close(lock_fd);
    alarm(0);
    if (st.run_def != run_def) free(st.run_def); /* a checkpoint's copy left by a failure */
    free(run_def);
    sbs_tb_close(out.tb, NULL);
    free(out.conf);
    free(order);
    sbs_noisy_close(&pics);
    sbs_exec_free(&ex);
    sbs_trainer_state_free(&ts);
    sbs_net_free(&net);
    sbs_pool_destroy(pool);
    sbs_backend_destroy(be);
    sbs_dataset_free(&ds);
    return status;
}
