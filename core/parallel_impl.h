/*
** parallel_impl.h -- the thread team of one batch call (private to the core;
** the public side is ln_team_run / ln_team_threads in lunet/engine/net.h).
**
** A batch call in team mode opens ONE OpenMP parallel region. Thread 0 (the
** caller) runs the batch as usual with the team installed as its current
** team; every other thread runs ln__team_worker, which takes tasks of the
** jobs the caller publishes with ln_team_run until ln__team_stop. So a
** batch costs one fork/join however many kernels it runs, and a kernel
** handing out work costs a few cache-line transfers instead of waking
** sleeping threads.
*/
#ifndef LUNET_TRAIN_TEAM_H
#define LUNET_TRAIN_TEAM_H

#include <stdatomic.h>
#include <stdint.h>

#include "lunet/engine/net.h"

typedef struct ln__team_slot {
    ln_task_fn fn;
    void *arg;
} ln__team_slot;

typedef struct ln__team {
    /* The current job: tag (16 bits) | front (24) | back (24). Tasks
    ** [front, back) are unclaimed; a claim is a compare-and-swap that also
    ** checks the tag, so a stale claim on a finished job fails. */
    _Alignas(64) _Atomic uint64_t word;
    _Alignas(64) _Atomic int64_t done; /* tasks of the job finished */
    _Alignas(64) _Atomic int stop;
    ln__team_slot slot[2]; /* fn and arg of jobs by tag parity */
    void *early;           /* the fused step's update state (train.c) */
    unsigned tag;          /* tag of the last job published */
    int nthreads;
} ln__team;

/* Before the region: no job, not stopped. */
void ln__team_reset(ln__team *t);
/* On the calling thread, inside the region: install t (nthreads = the
** region's thread count) as this thread's team. */
void ln__team_start(ln__team *t, int nthreads);
/* The loop of every other thread of the region; returns after stop. */
void ln__team_worker(ln__team *t);
/* On the calling thread: release the workers and uninstall the team. */
void ln__team_stop(ln__team *t);

/* The fused training step's early-update state for ln_grad_ready (train.c)
** on this thread: set by the calling thread, seen by its team's workers
** while they run its tasks. NULL: none. */
void ln__early_set(void *state);
void *ln__early_get(void);

#endif
