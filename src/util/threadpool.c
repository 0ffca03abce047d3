/* threadpool.c — fixed worker pool; jobs hand out indices through an atomic counter. */
#include "sbs/threadpool.h"
#include "sbs/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sbs_pool {
    int threads;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    unsigned long generation; /* bumped for every job */
    int running;              /* workers (excluding caller) still busy with the job */
    bool quit;
    /* current job */
    long n;
    sbs_pool_fn fn;
    void *ctx;
    atomic_long next;
};

typedef struct {
    sbs_pool *p;
    int worker;
} worker_arg;

static void work(sbs_pool *p, int worker)
{
    for (;;) {
        long i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n) break;
        p->fn(p->ctx, i, worker);
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    sbs_pool *p = wa->p;
    int worker = wa->worker;
    free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->start_cv, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        work(p, worker);
        pthread_mutex_lock(&p->mu);
        if (--p->running == 0) pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

sbs_pool *sbs_pool_create(int threads)
{
    if (threads <= 0) threads = sbs_num_cores();
    sbs_pool *p = xcalloc(1, sizeof *p);
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->tid = xcalloc((size_t)threads, sizeof *p->tid);
    for (int i = 1; i < threads; i++) {
        worker_arg *wa = xmalloc(sizeof *wa);
        wa->p = p;
        wa->worker = i;
        int rc = pthread_create(&p->tid[i], NULL, worker_main, wa);
        if (rc != 0) {
            /* EAGAIN: no memory for its stack (ulimit -v) or too many threads */
            fprintf(stderr, "error: cannot start worker thread %d of %d: %s\n", i, threads,
                    strerror(rc));
            exit(rc == EAGAIN || rc == ENOMEM ? SBS_EXIT_NOMEM : SBS_EXIT_FAILURE);
        }
    }
    return p;
}

int sbs_pool_threads(const sbs_pool *p)
{
    return p->threads;
}

void sbs_pool_run(sbs_pool *p, long n, sbs_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (p->threads == 1 || n == 1) {
        for (long i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->n = n;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->next, 0);
    p->running = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void sbs_pool_destroy(sbs_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->start_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->tid);
    free(p);
}
