/* trainer.c — the training loop (SPEC §2): sub-batches with augmentation, forward, loss,
 * backward, one update per window of number_of_batches_for_one_update sub-batches, weight
 * files and a checkpoint after every update, a test pass after every epoch, the learning-rate
 * schedule, metrics (JSON lines), a log file and progress, and a clean stop on SIGINT/SIGTERM.
 *
 * Every random number is keyed by (seed, epoch, position in the epoch), so a run gives
 * bitwise the same weights for any thread count and when resumed from its checkpoint. */
#include "sbs/cli.h"
#include "sbs/data.h"
#include "sbs/layer.h"
#include "sbs/png_out.h"
#include "sbs/rng.h"
#include "sbs/tfevents.h"
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
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
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
    bool quiet;
    sbs_progress prog;
    sbs_tb *tb;   /* TensorBoard event file (NULL: --no-tensorboard) */
    long *conf;   /* --png: confusion matrix of the test pass (n_out x n_out), else NULL */
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
    if (!o->quiet) {
        sbs_progress_done(&o->prog);
        fprintf(stderr, "%s\n", line);
    }
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

typedef struct {
    const sbs_split *s;
    const int *idx;
    const sbs_augment *aug;
    uint64_t seed;
    int epoch;
    float *x;
    size_t img;
} aug_job;

static void aug_one(void *ctx, long b, int worker)
{
    (void)worker;
    aug_job *j = ctx;
    sbs_augment_image(j->s, j->idx[b], j->aug, j->seed, (uint64_t)j->epoch, j->x + (size_t)b * j->img);
}

static int check_finite(const sbs_net *net, sbs_err *e)
{
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        if (!L->file_weights) continue;
        size_t n = sbs_weight_floats(L);
        for (size_t i = 0; i < n; i++)
            if (!isfinite(L->weight[i]))
                return sbs_fail(e, "layer %d (%s): a weight became %g; stopped, the last good "
                                   "weights are kept", l, L->cfg->type, (double)L->weight[i]);
        for (size_t i = 0; i < L->n_b; i++)
            if (!isfinite(L->bias[i]))
                return sbs_fail(e, "layer %d (%s): a bias became %g; stopped, the last good "
                                   "weights are kept", l, L->cfg->type, (double)L->bias[i]);
    }
    return 0;
}

/* test accuracy over the first n test images; for a last layer with its own target (the
 * `loss` hook, e.g. RECONSTRUCTION) the mean test loss per pattern instead */
static double test_pass(sbs_net *net, sbs_trainer_state *ts, const sbs_split *test, int n,
                        int crop, uint64_t seed, int epoch, outputs *out, bool *stopped)
{
    sbs_layer *last = &net->L[net->n - 1];
    double loss = 0;
    long correct = 0;
    int B = net->cap_B;
    if (out->conf) memset(out->conf, 0, (size_t)net->n_out * net->n_out * sizeof *out->conf);
    for (int first = 0; first < n; first += B) {
        if (g_stop) {
            *stopped = true;
            return NAN;
        }
        int b = n - first < B ? n - first : B;
        sbs_crop_center(test, first, b, crop, net->act[0]);
        sbs_spike_key key = {seed, (uint32_t)epoch * 2u + 1u, (uint32_t)first};
        sbs_net_forward(net, net->act[0], b, &key);
        if (last->ops->loss) {
            ts->labels = test->y + first;
            loss += last->ops->loss(ts, last, b);
            ts->labels = NULL;
            sbs_progress_line(&out->prog, false, "epoch %d  test %d/%d  loss %.5f", epoch,
                              first + b, n, loss / (first + b));
            continue;
        }
        const float *o = sbs_net_output(net);
        for (int i = 0; i < b; i++) {
            int pred = sbs_argmax(o + (size_t)i * net->n_out, net->n_out), y = test->y[first + i];
            correct += pred == y;
            if (out->conf && y < net->n_out) out->conf[y * net->n_out + pred]++; /* --png */
        }
        sbs_progress_line(&out->prog, false, "epoch %d  test %d/%d  accuracy %.2f%%", epoch,
                          first + b, n, 100.0 * correct / (first + b));
    }
    return last->ops->loss ? loss / n : 100.0 * correct / n;
}

/* a metric for JSON: the number, or null where it does not exist (accuracy of a network that
 * trains against its own target) */
static const char *jnum(char buf[32], double v, bool exists)
{
    if (!exists) return "null";
    snprintf(buf, 32, "%.4f", v);
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
        if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

int sbs_train_run(const sbs_config *cfg, const sbs_train_opts *o, sbs_err *e)
{
    int ic, ih, iw, crop = cfg->aug.crop_width_in_pixel;
    static sbs_net net;
    if (sbs_plan_for_data(&net, cfg, &ic, &ih, &iw, e) != 0) return SBS_EXIT_USAGE;
    const char *out_dir = o->out_dir ? o->out_dir : cfg->weight_path;
    const char *win = o->weights_in ? o->weights_in : cfg->learn.overload_path;
    int B = cfg->batch_size, nbu = cfg->learn.number_of_batches_for_one_update;
    int status = SBS_EXIT_USAGE;
    sbs_backend *be = NULL;
    sbs_dataset ds;
    memset(&ds, 0, sizeof ds);
    sbs_trainer_state ts;
    memset(&ts, 0, sizeof ts);
    outputs out = {0};
    out.quiet = o->quiet;
    sbs_progress_init(&out.prog);
    int *order = NULL;

    /* memory, computed up front: fail before any work rather than in the middle */
    {
        int th = o->threads > 0 ? o->threads : sbs_num_cores();
        size_t need = sbs_net_memory(&net, B < 64 ? 64 : B, th, cfg->learn.learning_active) +
                      sbs_mode_data_bytes(cfg->data_mode);
        size_t avail = sbs_mem_available();
        if (need > avail) {
            sbs_fail(e, "this run needs about %.1f GiB of memory (network %.1f GiB for batch %d "
                        "on %d threads, data %.1f GiB), only %.1f GiB are available",
                     need / 1073741824.0,
                     sbs_net_memory(&net, B < 64 ? 64 : B, th, cfg->learn.learning_active) /
                         1073741824.0,
                     B, th, sbs_mode_data_bytes(cfg->data_mode) / 1073741824.0,
                     avail / 1073741824.0);
            sbs_net_free(&net);
            return SBS_EXIT_NOMEM;
        }
    }
    /* weights before data: a bad weight file is reported before the long load */
    sbs_net_init_weights(&net, o->seed);
    int loaded = 0;
    if (!o->resume) {
        loaded = sbs_net_load_weights(&net, win, false, e);
        if (loaded < 0) goto done;
    }
    if (sbs_dataset_load(&ds, cfg->data_mode, o->data_dir ? o->data_dir : cfg->data_path,
                         SBS_SPLIT_TRAIN | SBS_SPLIT_TEST, e) != 0)
        goto done;
    if (ds.train.c != ic || ds.train.h != ih || ds.train.w != iw) {
        sbs_fail(e, "the data set's images are %dx%dx%d, data_mode %s expects %dx%dx%d", ds.train.c,
                 ds.train.h, ds.train.w, cfg->data_mode, ic, ih, iw);
        goto done;
    }
    if (sbs_mkdir_p(out_dir, e) != 0) goto done;
    remove_stale_temps(out_dir);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/checkpoint.sbs", out_dir);
    char ckpt_path[PATH_MAX + 64];
    snprintf(ckpt_path, sizeof ckpt_path, "%s", path);

    be = sbs_cpu_backend_create(o->threads, o->simd);
    int cap = B < 64 ? 64 : B;
    sbs_net_bind(&net, be, cap);
    sbs_grad_init(&ts, &net);
    sbs_ckpt_state st = {0};
    st.seed = o->seed;
    st.plan_hash = sbs_plan_hash(&net);
    st.epoch = cfg->epoch_id;
    sbs_optim_init(&st.opt, cfg);
    if (o->resume) {
        if (sbs_ckpt_load(ckpt_path, &st, &ts, e) != 0) goto done;
        if (st.seed != o->seed) {
            sbs_fail(e, "%s: the run was started with --seed %llu, not %llu", ckpt_path,
                     (unsigned long long)st.seed, (unsigned long long)o->seed);
            goto done;
        }
    }
    status = SBS_EXIT_FAILURE;

    /* outputs: train.log and metrics.jsonl go to --out, else to log_path */
    const char *log_dir = o->out_dir ? o->out_dir : cfg->log_path;
    if (sbs_mkdir_p(log_dir, e) != 0) goto done;
    snprintf(path, sizeof path, "%s/train.log", log_dir);
    out.log = fopen(path, "a");
    if (!out.log) {
        sbs_fail(e, "cannot open log file %s: %s", path, strerror(errno));
        goto done;
    }
    if (o->metrics_path) snprintf(path, sizeof path, "%s", o->metrics_path);
    else snprintf(path, sizeof path, "%s/metrics.jsonl", log_dir);
    /* appended, never truncated: an earlier run's records in the same folder are kept; a
     * "start" record marks where each run (or resumption) begins */
    out.metrics = fopen(path, "a");
    if (!out.metrics) {
        sbs_fail(e, "cannot open metrics file %s: %s", path, strerror(errno));
        goto done;
    }
    fprintf(out.metrics, "{\"type\": \"start\", \"epoch\": %d, \"step\": %d, \"resume\": %s, "
                         "\"seed\": %llu}\n", st.epoch, st.opt.t, o->resume ? "true" : "false",
            (unsigned long long)o->seed);
    fflush(out.metrics);
    /* TensorBoard event file beside metrics.jsonl (tfevents.h) */
    if (!o->no_tensorboard && !(out.tb = sbs_tb_open(log_dir, e))) goto done;

    int n_train = ds.train.n, n_test = ds.test.n;
    if (o->limit_train > 0 && o->limit_train < n_train) n_train = (int)o->limit_train;
    if (o->limit_test > 0 && o->limit_test < n_test) n_test = (int)o->limit_test;
    int n_sub = (n_train + B - 1) / B;
    /* --epochs N trains up to epoch epoch_id + N (exclusive), for a fresh run and a resumed
     * one alike, so an interrupted run and its continuation end where the uninterrupted run
     * would */
    int epoch_end = cfg->epoch_id_max;
    if (o->epochs > 0 && (long)cfg->epoch_id + o->epochs < epoch_end)
        epoch_end = cfg->epoch_id + o->epochs;
    say(&out, "sbs-train %s: %s, %d layers, %d train / %d test images (%s), batch %d x %d, "
              "%d threads (%s), seed %llu%s", SBS_VERSION, cfg->def_file, net.n, n_train, n_test,
        ds.source, B, nbu, be->threads, sbs_cpu_simd_name(be), (unsigned long long)o->seed,
        o->resume ? ", resumed" : "");
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
    size_t img = (size_t)net.in_c * net.in_h * net.in_w;
    bool learn = cfg->learn.learning_active;
    /* a last layer with its own target (RECONSTRUCTION): loss only, no accuracy */
    bool acc = net.L[net.n - 1].ops->loss == NULL;
    char nb[4][32];
    double last_test = NAN, last_loss = NAN, run_t0 = sbs_now();
    int epochs_done = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a file-size limit makes a write fail with EFBIG (reported, previous files kept) instead
     * of killing the process */
    signal(SIGXFSZ, SIG_IGN);
    bool stopped = false;
    if (o->png_dir && acc) out.conf = xcalloc((size_t)net.n_out * net.n_out, sizeof *out.conf);

    for (; st.epoch < epoch_end && !stopped; st.epoch++) {
        int epoch = st.epoch;
        shuffle(order, n_train, o->seed, epoch);
        double t_fwd = 0, t_bwd = 0, t_upd = 0, t_data = 0, ep_t0 = sbs_now() - st.ep_seconds;
        double win_loss = 0;
        long win_seen = 0, win_correct = 0;
        if (st.next_sub == 0) {
            st.ep_loss = 0;
            st.ep_correct = st.ep_seen = 0;
            st.updates_in_epoch = 0;
        }
        sbs_grad_zero(&ts);
        int in_window = 0;
        for (int sub = st.next_sub; sub < n_sub; sub++) {
            int first = sub * B, b = n_train - first < B ? n_train - first : B;
            double t0 = sbs_now();
            aug_job aj = {&ds.train, order + first, &aug, o->seed, epoch, net.act[0], img};
            sbs_pool_run(be->pool, b, aug_one, &aj);
            uint8_t labels[4096];
            uint8_t *lab = b <= 4096 ? labels : xmalloc((size_t)b);
            for (int i = 0; i < b; i++) lab[i] = ds.train.y[order[first + i]];
            double t1 = sbs_now();
            sbs_spike_key key = {o->seed, (uint32_t)epoch * 2u, (uint32_t)first};
            sbs_net_forward(&net, net.act[0], b, &key);
            const float *outp = sbs_net_output(&net);
            ts.labels = lab;
            sbs_layer *last = &net.L[net.n - 1];
            double loss = last->ops->loss
                              ? last->ops->loss(&ts, last, b)
                              : sbs_loss(cfg->learn.loss_mode, cfg->learn.loss_coeffs_mse,
                                         cfg->learn.loss_coeffs_kldiv, outp, lab, b, net.n_out,
                                         ts.gact[net.n]);
            long corr = 0;
            if (!last->ops->loss)
                for (int i = 0; i < b; i++)
                    corr += sbs_argmax(outp + (size_t)i * net.n_out, net.n_out) == lab[i];
            double t2 = sbs_now();
            if (!isfinite(loss)) {
                int bad = -1;
                for (int l = 0; l < net.n && bad < 0; l++) {
                    const sbs_layer *L = &net.L[l];
                    size_t nn = (size_t)b * L->N * L->X * L->Y;
                    for (size_t i = 0; i < nn; i++)
                        if (!isfinite(net.act[l + 1][i])) {
                            bad = l;
                            break;
                        }
                }
                if (bad >= 0)
                    sbs_fail(e, "epoch %d sub-batch %d: layer %d (%s) produced %s values and the "
                                "loss became %g; stopped, the weights of the last update are kept "
                                "in %s", epoch, sub, bad, net.L[bad].cfg->type, "non-finite",
                             loss, out_dir);
                else
                    sbs_fail(e, "epoch %d sub-batch %d: the loss became %g; stopped, the weights "
                                "of the last update are kept in %s", epoch, sub, loss, out_dir);
                goto done;
            }
            /* per-pattern loss for reports: mode 0 sums over the batch, mode 1 averages */
            double loss_sum = cfg->learn.loss_mode == 1 ? loss * b : loss;
            st.ep_loss += loss_sum;
            st.ep_correct += corr;
            st.ep_seen += b;
            win_loss += loss_sum;
            win_correct += corr;
            win_seen += b;
            if (learn) {
                ts.update_scale = st.opt.t == 0;
                sbs_net_backward(&ts, b);
            }
            double t3 = sbs_now();
            ts.labels = NULL;
            if (lab != labels) free(lab);
            t_data += t1 - t0;
            t_fwd += t2 - t1;
            t_bwd += t3 - t2;
            if (++in_window < nbu) {
                sbs_progress_line(&out.prog, false, "epoch %d  %d/%d  loss %.4f%s  %.1f img/s",
                                  epoch, sub + 1, n_sub, st.ep_loss / st.ep_seen,
                                  train_str(nb[0], acc, st.ep_correct, st.ep_seen),
                                  st.ep_seen / (sbs_now() - ep_t0));
                continue;
            }
            in_window = 0;
            double t4 = sbs_now();
            if (learn) {
                if (cfg->learn.adapt_learning_rate_after_minibatch)
                    sbs_sched_step(&st.opt, cfg->learn.lr_scheduler_use_performance
                                                ? 100.0 - 100.0 * win_correct / win_seen
                                                : win_loss / win_seen);
                sbs_optim_step(&st.opt, &ts, cfg);
                for (int l = 0; l < net.n; l++)
                    if (ts.G[l].scale_set) ts.G[l].scale_frozen = true;
                if (check_finite(&net, e) != 0) goto done;
            }
            st.updates_in_epoch++;
            st.next_sub = sub + 1;
            st.ep_seconds = sbs_now() - ep_t0;
            if ((learn && sbs_net_save_weights(&net, out_dir, epoch, e) != 0) ||
                sbs_ckpt_save(ckpt_path, &st, &ts, e) != 0)
                goto done;
            double t5 = sbs_now();
            t_upd += t5 - t4;
            double el = t5 - ep_t0;
            fprintf(out.metrics,
                    "{\"type\": \"update\", \"epoch\": %d, \"update\": %d, \"step\": %d, "
                    "\"loss\": %.6g, \"train_accuracy\": %s, \"lr\": %.6g, "
                    "\"images_per_s\": %.2f, \"seconds\": %.3f}\n",
                    epoch, st.updates_in_epoch, st.opt.t, win_loss / win_seen,
                    jnum(nb[0], 100.0 * win_correct / win_seen, acc), st.opt.lr,
                    st.ep_seen / el, el);
            fflush(out.metrics);
            if (sbs_tb_update(out.tb, st.opt.t, win_loss / win_seen,
                              100.0 * win_correct / win_seen, acc, st.opt.lr, e) != 0)
                goto done;
            double eta = (double)(n_sub - sub - 1) * el / (sub + 1 - 0.0);
            sbs_progress_line(&out.prog, true,
                              "epoch %d  update %d  %d/%d  loss %.4f%s  %.1f img/s  ETA %.0fs",
                              epoch, st.updates_in_epoch, sub + 1, n_sub,
                              st.ep_loss / st.ep_seen,
                              train_str(nb[0], acc, st.ep_correct, st.ep_seen), st.ep_seen / el,
                              eta);
            win_loss = 0;
            win_seen = win_correct = 0;
            if (g_stop) {
                stopped = true;
                break;
            }
        }
        if (stopped) break;
        /* a trailing partial window is not applied */
        sbs_grad_zero(&ts);
        st.next_sub = n_sub;
        st.ep_seconds = sbs_now() - ep_t0;
        if (sbs_ckpt_save(ckpt_path, &st, &ts, e) != 0) goto done;
        double t6 = sbs_now();
        last_test = test_pass(&net, &ts, &ds.test, n_test, crop, o->seed, epoch, &out, &stopped);
        if (stopped) break;
        double t_test = sbs_now() - t6;
        double train_loss = st.ep_loss / st.ep_seen, train_acc = 100.0 * st.ep_correct / st.ep_seen;
        last_loss = train_loss;
        bool reduced = false;
        if (learn && !cfg->learn.adapt_learning_rate_after_minibatch)
            reduced = sbs_sched_step(&st.opt, cfg->learn.lr_scheduler_use_performance
                                                  ? 100.0 - train_acc : train_loss);
        double secs = sbs_now() - ep_t0;
        fprintf(out.metrics,
                "{\"type\": \"epoch\", \"epoch\": %d, \"updates\": %d, \"step\": %d, "
                "\"loss\": %.6g, \"train_accuracy\": %s, \"test_accuracy\": %s, "
                "\"test_error\": %s, \"test_loss\": %s, \"lr\": %.6g, \"images_per_s\": %.2f, "
                "\"seconds\": %.3f, \"seconds_data\": %.3f, \"seconds_forward\": %.3f, "
                "\"seconds_backward\": %.3f, \"seconds_update\": %.3f, \"seconds_test\": %.3f}\n",
                epoch, st.updates_in_epoch, st.opt.t, train_loss, jnum(nb[0], train_acc, acc),
                jnum(nb[1], last_test, acc), jnum(nb[2], 100.0 - last_test, acc),
                acc ? "null" : jnum(nb[3], last_test, true), st.opt.lr,
                (st.ep_seen + n_test) / secs, secs, t_data, t_fwd, t_bwd, t_upd, t_test);
        fflush(out.metrics);
        if (sbs_tb_epoch(out.tb, &net, epoch, train_loss, train_acc, last_test, acc, st.opt.lr,
                         e) != 0 ||
            (o->png_dir && sbs_png_epoch(o->png_dir, &net, epoch, out.conf, e) != 0))
            goto done;
        if (acc)
            say(&out, "epoch %d: loss %.5f, train %.2f %%, test %.2f %% (error %.2f %%), lr %.3g%s, "
                      "%.0f s (data %.0f, forward %.0f, backward %.0f, update %.0f, test %.0f)",
                epoch, train_loss, train_acc, last_test, 100.0 - last_test, st.opt.lr,
                reduced ? " (reduced)" : "", secs, t_data, t_fwd, t_bwd, t_upd, t_test);
        else
            say(&out, "epoch %d: loss %.5f, test loss %.5f, lr %.3g%s, %.0f s (data %.0f, "
                      "forward %.0f, backward %.0f, update %.0f, test %.0f)",
                epoch, train_loss, last_test, st.opt.lr, reduced ? " (reduced)" : "", secs,
                t_data, t_fwd, t_bwd, t_upd, t_test);
        epochs_done++;
        st.next_sub = 0;
        st.ep_seconds = 0;
        int32_t keep = st.epoch;
        st.epoch++;
        if (sbs_ckpt_save(ckpt_path, &st, &ts, e) != 0) goto done;
        st.epoch = keep;
    }
    sbs_progress_done(&out.prog);
    if (stopped) {
        say(&out, "interrupted: state saved to %s; continue with --resume", ckpt_path);
        printf("{\"status\": \"interrupted\", \"epoch\": %d, \"step\": %d, \"checkpoint\": ",
               st.epoch, st.opt.t);
        json_str(stdout, ckpt_path);
        printf("}\n");
        status = SBS_EXIT_INTERRUPTED;
        goto done;
    }
    printf("{\"status\": \"finished\", \"epochs\": %d, \"epoch_id\": %d, \"steps\": %d, "
           "\"train_loss\": %.6g, \"test_accuracy\": %s, \"test_error\": %s, \"test_loss\": %s, "
           "\"lr\": %.6g, \"seconds\": %.2f, \"weights\": ",
           epochs_done, st.epoch, st.opt.t, last_loss, jnum(nb[0], last_test, acc),
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
    sbs_tb_close(out.tb, NULL);
    free(out.conf);
    free(order);
    sbs_grad_free(&ts);
    sbs_net_free(&net);
    if (be) be->destroy(be);
    sbs_dataset_free(&ds);
    return status;
}
