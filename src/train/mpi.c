/* mpi.c — the MPI session of a program (mpi.h) and the reducer over MPI_COMM_WORLD: shares of
 * contiguous chunks, the sum in chunk order along a chain of the ranks (bitwise one process's
 * sum for any number of ranks and any split; MPI_Allreduce does not promise an order), the
 * maximum and the broadcast; the threads per rank; refusing a launcher of another MPI; ending
 * together, or aborting the job when a rank failed alone. MPI is started only when a launcher
 * started several processes: a plain run never touches it. */
#include "sbs/mpi.h"

#include <mpi.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef OPEN_MPI
#define LIB_NAME "Open MPI"
#define LAUNCHER "mpiexec.openmpi (Open MPI's mpiexec or mpirun), or srun --mpi=pmix"
#define LAUNCHER_VAR "OMPI_COMM_WORLD_SIZE"
#define OTHER_VAR "PMI_SIZE"
#define OTHER_NAME "MPICH's (hydra)"
#else
#define LIB_NAME "MPICH"
#define LAUNCHER "mpiexec.mpich (MPICH's mpiexec), or srun --mpi=pmi2"
#define LAUNCHER_VAR "PMI_SIZE"
#define OTHER_VAR "OMPI_COMM_WORLD_SIZE"
#define OTHER_NAME "Open MPI's"
#endif

/* seconds a failed rank waits for the others at the end before it aborts the job */
#define END_WAIT_S 5.0
#define TAG_CHAIN 10

typedef struct {
    sbs_reducer red;
    MPI_Comm world, end; /* end: a duplicate, so the end's barrier never matches the run's */
    int threads;         /* default threads per rank */
    /* the update reductions (with gradients): count, seconds reducing and before that waiting
     * for the slowest rank, bytes this rank sent along the chain and received from the
     * broadcast */
    long n_upd;
    double t_upd, t_wait, bytes, t_min;
} mpi_ctx;

static void mpi_share(sbs_reducer *r, int n, int *first, int *count)
{
    long a = (long)r->rank * n / r->size, b = (long)(r->rank + 1) * n / r->size;
    *first = (int)a;
    *count = (int)(b - a);
}

/* MPI counts are ints: big buffers go in pieces */
#define PIECE (1 << 28)
/* floats per message of the chain: while rank r adds one segment, rank r + 1 adds the one
 * before it (a pipeline: N - 1 + S message times instead of (N - 1) x S) */
#define SEGMENT (1 << 15)

static void bcast(void *buf, size_t n, MPI_Datatype t, size_t size, int root, MPI_Comm comm)
{
    for (size_t off = 0; off < n; off += PIECE) {
        int k = (int)(n - off < PIECE ? n - off : PIECE);
        MPI_Bcast((char *)buf + off * size, k, t, root, comm);
    }
}

/* The ordered chain: rank 0 starts from zero (as one process starts from zeroed sums), each
 * rank adds its chunks one by one in chunk order and passes the running sum on, the last
 * broadcasts. Ranks without a chunk pass the sum through. */
static int mpi_sum(sbs_reducer *r, const float *parts, const double *scal, int count, size_t n,
                   int n_scal, float *acc, double *tot, sbs_err *e)
{
    (void)e;
    mpi_ctx *c = r->ctx;
    double t0 = sbs_now();
    /* update reductions start together: the time after the barrier is the reduction's, the
     * time in it waiting for the slowest rank's chunks (a few microseconds more per update) */
    if (n) MPI_Barrier(c->world);
    double t1 = sbs_now();
    int prev = r->rank - 1, next = r->rank + 1 < r->size ? r->rank + 1 : -1, last = r->size - 1;
    if (prev >= 0)
        MPI_Recv(tot, n_scal, MPI_DOUBLE, prev, TAG_CHAIN, c->world, MPI_STATUS_IGNORE);
    else
        memset(tot, 0, (size_t)n_scal * sizeof *tot);
    for (int k = 0; k < count; k++)
        for (int j = 0; j < n_scal; j++) tot[j] += scal[(size_t)k * n_scal + j];
    if (next >= 0) MPI_Send(tot, n_scal, MPI_DOUBLE, next, TAG_CHAIN, c->world);
    for (size_t lo = 0; lo < n; lo += SEGMENT) {
        size_t hi = n - lo < SEGMENT ? n : lo + SEGMENT;
        if (prev >= 0)
            MPI_Recv(acc + lo, (int)(hi - lo), MPI_FLOAT, prev, TAG_CHAIN, c->world,
                     MPI_STATUS_IGNORE);
        else
            memset(acc + lo, 0, (hi - lo) * sizeof *acc);
        for (int k = 0; k < count; k++) {
            const float *p = parts + (size_t)k * n;
            for (size_t i = lo; i < hi; i++) acc[i] += p[i];
        }
        if (next >= 0) MPI_Send(acc + lo, (int)(hi - lo), MPI_FLOAT, next, TAG_CHAIN, c->world);
    }
    bcast(acc, n, MPI_FLOAT, sizeof *acc, last, c->world);
    bcast(tot, (size_t)n_scal, MPI_DOUBLE, sizeof *tot, last, c->world);
    if (n) {
        double msg = (double)n * sizeof *acc + (double)n_scal * sizeof *tot;
        double t = sbs_now() - t1;
        c->t_min = c->n_upd == 0 || t < c->t_min ? t : c->t_min;
        c->n_upd++;
        c->t_upd += t;
        c->t_wait += t1 - t0;
        c->bytes += (r->rank < last ? msg : 0) + (r->rank != last ? msg : 0);
    }
    return 0;
}

static int mpi_max(sbs_reducer *r, float *v, int n, sbs_err *e)
{
    (void)e;
    mpi_ctx *c = r->ctx;
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_FLOAT, MPI_MAX, c->world);
    return 0;
}

static int mpi_bcast(sbs_reducer *r, void *buf, size_t len, sbs_err *e)
{
    (void)e;
    mpi_ctx *c = r->ctx;
    bcast(buf, len, MPI_BYTE, 1, 0, c->world);
    return 0;
}

/* Threads per rank: the cores of the affinity mask, shared by the ranks on this machine with
 * the same mask (all of them when the launcher does not bind). Collective. */
static int threads_per_rank(MPI_Comm world)
{
    cpu_set_t mine;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) return 0;
    MPI_Comm node;
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int nn;
    MPI_Comm_size(node, &nn);
    cpu_set_t *all = xmalloc((size_t)nn * sizeof *all);
    MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, node);
    int same = 0;
    for (int q = 0; q < nn; q++) same += CPU_EQUAL(&all[q], &mine);
    free(all);
    MPI_Comm_free(&node);
    int t = CPU_COUNT(&mine) / (same ? same : 1);
    return t > 0 ? t : 1;
}

int sbs_mpi_begin(int *argc, char ***argv, sbs_reducer **red, sbs_err *e)
{
    *red = NULL;
    const char *var;
    int n = sbs_launcher_size(&var);
    if (n <= 1) return 0;
    /* the other library's launcher alone: MPI would start as N unconnected singletons */
    if (getenv(OTHER_VAR) && !getenv(LAUNCHER_VAR) && !getenv("SLURM_STEP_NUM_TASKS"))
        return sbs_fail(e,
                        "started by %s launcher as one of %d processes (%s=%d), but this "
                        "program is built with %s: start it with %s",
                        OTHER_NAME, n, OTHER_VAR, n, LIB_NAME, LAUNCHER),
               SBS_EXIT_USAGE;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != n) {
        MPI_Finalize();
        return sbs_fail(e,
                        "started as one of %d processes (%s=%d), but %s sees %d: the launcher "
                        "is not one of the library this program is built with (%s); start it "
                        "with %s",
                        n, var, n, LIB_NAME, size, LIB_NAME, LAUNCHER),
               SBS_EXIT_USAGE;
    }
    mpi_ctx *c = xcalloc(1, sizeof *c);
    c->world = MPI_COMM_WORLD;
    MPI_Comm_dup(MPI_COMM_WORLD, &c->end);
    c->threads = threads_per_rank(c->world);
    c->red = (sbs_reducer){.rank = rank,
                           .size = size,
                           .share = mpi_share,
                           .sum = mpi_sum,
                           .max = mpi_max,
                           .bcast = mpi_bcast,
                           .ctx = c};
    *red = &c->red;
    return 0;
}

int sbs_mpi_default_threads(sbs_reducer *red)
{
    return red ? ((mpi_ctx *)red->ctx)->threads : 0;
}

/* rank 0's line on the update reductions (collective: quiet may differ between ranks) */
static void report_reductions(mpi_ctx *c, const char *prog, bool quiet)
{
    sbs_reducer *r = &c->red;
    double k = c->n_upd ? (double)c->n_upd : 1.0;
    double mine[4] = {c->t_upd / k, c->t_wait / k, c->bytes / k, c->t_min};
    double *all = r->rank == 0 ? xmalloc((size_t)r->size * sizeof mine) : NULL;
    MPI_Gather(mine, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, 0, c->end);
    if (r->rank == 0 && c->n_upd > 0 && !quiet) {
        char line[1024];
        double bytes = 0;
        int used = 0;
        for (int q = 0; q < r->size; q++) bytes += all[4 * q + 2];
        used += snprintf(line, sizeof line,
                         "%s: %d ranks, %ld update reductions: %.0f bytes "
                         "moved per reduction (chain and broadcast); ms per reduction, mean "
                         "(fastest; mean wait for the slowest rank before it):",
                         prog, r->size, c->n_upd, bytes);
        for (int q = 0; q < r->size && used < (int)sizeof line - 40; q++)
            used +=
                snprintf(line + used, sizeof line - (size_t)used, " rank %d %.2f (%.2f; %.1f)%s", q,
                         1e3 * all[4 * q], 1e3 * all[4 * q + 3], 1e3 * all[4 * q + 1],
                         q + 1 < r->size ? "," : "");
        fprintf(stderr, "%s\n", line);
    }
    free(all);
}

int sbs_mpi_end(sbs_reducer *red, int status, const sbs_err *e, const char *prog, bool quiet)
{
    bool failed = status != SBS_EXIT_OK && status != SBS_EXIT_INTERRUPTED;
    if (!red) {
        if (failed) fprintf(stderr, "%s: %s\n", prog, e->msg);
        return status;
    }
    mpi_ctx *c = red->ctx;
    char who[32] = "";
    if (red->rank > 0) snprintf(who, sizeof who, "rank %d: ", red->rank);
    MPI_Request rq;
    MPI_Ibarrier(c->end, &rq);
    double t0 = sbs_now();
    for (int done = 0;;) {
        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
        if (done) break;
        if (failed && sbs_now() - t0 > END_WAIT_S) {
            /* the others wait for this rank in the run: end the job */
            fprintf(stderr, "%s: %s%s\n", prog, who, e->msg);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, status);
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    char first[sizeof e->msg];
    snprintf(first, sizeof first, "%s", failed ? e->msg : "");
    MPI_Bcast(first, (int)sizeof first, MPI_CHAR, 0, c->end);
    if (failed && (red->rank == 0 || strcmp(first, e->msg) != 0))
        fprintf(stderr, "%s: %s%s\n", prog, who, e->msg);
    report_reductions(c, prog, quiet);
    MPI_Comm_free(&c->end);
    free(c);
    MPI_Finalize();
    return status;
}
