/* threadpool.h — a fixed pthreads pool running index-parallel jobs.
 *
 * sbs_pool_run(pool, n, fn, ctx) calls fn(ctx, i, worker) for i in [0, n) across the workers
 * and returns when all are done. Which worker runs which index varies, so fn must write only
 * to outputs owned by index i (then results are independent of the thread count);
 * `worker` (0..threads-1) selects per-thread scratch space. */
#ifndef SBS_THREADPOOL_H
#define SBS_THREADPOOL_H

typedef struct sbs_pool sbs_pool;
typedef void (*sbs_pool_fn)(void *ctx, long index, int worker);

/* threads <= 0: all online cores. The calling thread takes part as worker 0. */
sbs_pool *sbs_pool_create(int threads);
int sbs_pool_threads(const sbs_pool *p);
void sbs_pool_run(sbs_pool *p, long n, sbs_pool_fn fn, void *ctx);
void sbs_pool_destroy(sbs_pool *p);

#endif
