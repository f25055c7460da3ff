/*
** parallel_omp.c -- where par_for.h's OpenMP loops run (LN_FOR, LN_SUM_FOR
** from LN_PAR_MIN units of work, outside a region: copies, masks, random
** fills, integer loops). Owner: core (issue 21).
**
** An OpenMP loop ends in a barrier, and a thread that has done its share
** spins there: when the other vCPU is busy, the team's two threads can
** end up taking turns on one vCPU with the busy process, and a loop of
** tens of microseconds takes a scheduler's time slice or two (4-8 ms
** here, at load 2). So each loop on a team is timed: what it would have
** taken alone is the shortest share any thread took times the team's
** size (a thread that was kept off its core is slow for reasons that are
** not the work). When the region took longer (by more than a wake-up),
** it lost, and the loss is owed: the next loops run on this thread, timed,
** until they have run `factor` times the loss. The factor follows the
** account of the second core since its last loss: when the loops it won
** since then (alone - region, each) earned more than this loss, the loss
** was a passing hiccup (the host's, or another process's moment) and only
** itself is owed; else it is owed `factor` times, and the factor doubles
** (8 up to 4096) until the second core earns more than it loses again. So
** a core that stays busy costs these loops a vanishing share of their
** time, and one that was busy once costs them little of its gains. (The
** helper pool, parallel_pool.c, never waits for a task no helper claimed
** and skips a number of jobs after a loss instead; here one loss is a
** whole time slice and one win saves half a loop.) A loop's result never
** depends on where it ran (par_for.h).
**
** The account is three process-wide relaxed atomics: loops from two
** threads at once may both go, or both pay, which only moves the guess.
** ln_set_num_threads opens a new one (ln__omp_loop_reset): the loops of a
** new thread count, or after a fit's one-thread segment, start trusted.
*/
#include <stdatomic.h>
#include <stdint.h>

#include <omp.h>

#include "lunet/lunet.h"
#include "parallel_impl.h"

#define FACTOR_MIN 8
#define FACTOR_MAX 4096
/* A sleeping team thread's wake-up (~10-60 us here) is not counted: loops
** that run back to back keep it awake, and judged on their first, they
** would stay alone for good (300k-element loops then lost 1.3-1.8x on an
** idle machine). */
#define WAKE_NS 250000

static _Atomic int64_t owed_ns;   /* loop time to run alone before trying again */
static _Atomic int64_t earned_ns; /* won by the team's loops since the last loss */
static _Atomic int factor = FACTOR_MIN;

LN_API void ln__omp_loop_reset(void) {
    atomic_store_explicit(&owed_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&earned_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&factor, FACTOR_MIN, memory_order_relaxed);
}

LN_API int ln__omp_loop_go(ln__omp_loop *k) {
    /* nested regions run on one thread; a team of one only costs its set-up */
    if (omp_in_parallel() || omp_get_max_threads() < 2) return 0;
    atomic_init(&k->share_ns, INT64_MAX);
    k->nt = 1;
    k->t0 = ln_time();
    return atomic_load_explicit(&owed_ns, memory_order_relaxed) > 0 ? -1 : 1;
}

LN_API void ln__omp_loop_share_done(ln__omp_loop *k, double start) {
    const int64_t took = (int64_t)((ln_time() - start) * 1e9);
    int64_t was = atomic_load_explicit(&k->share_ns, memory_order_relaxed);
    while (took < was && !atomic_compare_exchange_weak_explicit(
                             &k->share_ns, &was, took, memory_order_relaxed,
                             memory_order_relaxed)) {
    }
    /* from thread 0's start: the fork (a first one starts the threads) is
    ** not judged */
    if (omp_get_thread_num() == 0) {
        k->t0 = start;
        k->nt = omp_get_num_threads();
    }
}

LN_API void ln__omp_loop_end(const ln__omp_loop *k) {
    if (k->nt < 2) return;
    const int64_t total = (int64_t)((ln_time() - k->t0) * 1e9);
    const int64_t share = atomic_load_explicit(&k->share_ns, memory_order_relaxed);
    const int64_t alone = share * k->nt;
    if (total <= alone + WAKE_NS) {
        if (total < alone)
            atomic_fetch_add_explicit(&earned_ns, alone - total, memory_order_relaxed);
        return;
    }
    const int64_t lost = total - alone;
    int f = atomic_load_explicit(&factor, memory_order_relaxed);
    if (atomic_exchange_explicit(&earned_ns, 0, memory_order_relaxed) >= lost) {
        f = 1; /* a hiccup: the account stays positive */
        atomic_store_explicit(&factor, FACTOR_MIN, memory_order_relaxed);
    } else {
        atomic_store_explicit(&factor, f < FACTOR_MAX ? 2 * f : FACTOR_MAX,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&owed_ns, lost * f, memory_order_relaxed);
}

LN_API void ln__omp_loop_paid(const ln__omp_loop *k) {
    const int64_t took = (int64_t)((ln_time() - k->t0) * 1e9);
    atomic_fetch_sub_explicit(&owed_ns, took > 0 ? took : 1, memory_order_relaxed);
}
