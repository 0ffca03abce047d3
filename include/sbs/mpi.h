/* mpi.h — data-parallel training over several processes ("ranks", MPI), bitwise the same as
 * one process.
 *
 * One run of N ranks is one training. Every rank loads the data set and steps through the same
 * update windows; each computes a contiguous share of a window's chunks, and the reducer
 * (sbs_reducer, train.h) adds the chunk sums in chunk order along a chain of the ranks (rank r
 * adds its chunks onto the running sum of rank r - 1, the last rank broadcasts), so every rank
 * holds the sums one process would have and applies the same update. Rank 0 reads the start
 * state (weights or checkpoint) and sends it to the others, and writes every file; the ranks
 * agree on stopping after each update; the test pass is split the same way.
 *
 * Two parts: what the trainer calls with any reducer (ranks.c; a NULL reducer or one of size 1
 * is one process), and the MPI session of a program (mpi.c with MPI, mpi_none.c without). */
#ifndef SBS_MPI_H
#define SBS_MPI_H

#include "sbs/data.h"
#include "sbs/train.h"

/* ---- with any reducer (ranks.c) ---- */

/* several processes */
bool sbs_ranks_multi(const sbs_reducer *r);
/* this process writes the run's files (weights, checkpoint, log, metrics, results): rank 0 */
bool sbs_ranks_writer(const sbs_reducer *r);
/* true on every rank when flag is true on any (one process: flag) */
bool sbs_ranks_any(sbs_reducer *r, bool flag);
/* Rank 0's start state to every rank: the weights (net->params), the optimizer moments, the
 * gradient scales and the checkpoint state st. */
int sbs_ranks_share_start(sbs_reducer *r, sbs_ckpt_state *st, sbs_trainer_state *ts, sbs_err *e);
/* The ranks compute alike and on the same images: `compute` (the backend's description up
 * to its first comma, e.g. "cpu (avx2") and a CRC-32 of the images and labels of the first
 * n_train training and n_test test images must equal rank 0's. -1 (a usage error: exit 2)
 * naming the ranks that differ. */
int sbs_ranks_check_start(sbs_reducer *r, const char *compute, const sbs_dataset *ds, int n_train,
                          int n_test, sbs_err *e);

/* The number of processes a launcher started this one among, from its environment
 * (OMPI_COMM_WORLD_SIZE: Open MPI; PMI_SIZE: MPICH's hydra, srun --mpi=pmi2;
 * SLURM_STEP_NUM_TASKS: srun); 1 when none says more. *var (may be NULL) gets the variable. */
int sbs_launcher_size(const char **var);

/* ---- the MPI session (mpi.c / mpi_none.c) ---- */

/* Start MPI when a launcher started this process as one of several; *red gets the reducer
 * over all of them, or NULL for one process. Refuses (SBS_EXIT_USAGE, e says why and what to
 * do) a launcher of another MPI library, and any launcher of several processes in a build
 * without MPI: N independent trainings into one folder. */
int sbs_mpi_begin(int *argc, char ***argv, sbs_reducer **red, sbs_err *e);
/* Worker threads per rank when none are asked for: the cores of this process's affinity mask,
 * divided among the ranks on this machine with the same mask (unbound ranks share the
 * machine). 0 with one process (the thread pool's own default: the affinity mask). */
int sbs_mpi_default_threads(sbs_reducer *red);
/* End the session with the run's status (SBS_EXIT_*) and error e: the error is printed once
 * as "PROG: message" by rank 0, and by another rank only when its message differs ("PROG:
 * rank R: message"); without quiet, rank 0 prints a line on the reductions (count, bytes sent,
 * time). A failed rank whose peers do not reach the end within a few seconds (it failed alone,
 * they wait for it) ends the job with MPI_Abort(status). Returns the exit status. */
int sbs_mpi_end(sbs_reducer *red, int status, const sbs_err *e, const char *prog, bool quiet);

#endif
