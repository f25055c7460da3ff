/*
** par_calib.c -- calibration of LN_PAR_MIN (include/lunet/parallel.h), the
** work below which lunet's parallel loops stay on the calling thread.
** Owner: perf.
**
** It measures, on this machine as it is loaded now:
**   - the fork/join cost of one OpenMP loop over the threads (median and
**     90th percentile of many empty `omp parallel for` regions), and
**   - the cost of one unit of work: one element of a simple loop
**     (y = a * x + b, cache-resident), in nanoseconds,
** and prints the break-even n (serial time == parallel time + fork/join)
** for the median and the 90th percentile. lunet takes the power of two at
** or above the 90th-percentile break-even: a split must pay even when the
** second thread was descheduled (shared machines), as element-wise ops on
** 2 threads must never be slower than on 1.
**
**   gcc -O2 -fopenmp bench/par_calib.c -o par_calib && OMP_NUM_THREADS=2 ./par_calib
*/
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define REPS 2001

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    static double t[REPS];
    int nt = omp_get_max_threads();
    if (nt < 2) {
        fprintf(stderr, "par_calib: needs 2 threads or more (OMP_NUM_THREADS)\n");
        return 1;
    }
    volatile int sink = 0;
    for (int r = 0; r < REPS; r++) { /* fork/join of an empty loop */
        double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (int i = 0; i < nt; i++) sink += 0;
        t[r] = omp_get_wtime() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp);
    double fork50 = t[REPS / 2], fork90 = t[REPS * 9 / 10];

    enum { N = 16384 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = (float)i / N;
    for (int r = 0; r < REPS; r++) { /* one element of a simple loop */
        double t0 = omp_get_wtime();
        for (int k = 0; k < 8; k++) {
#pragma omp simd
            for (int i = 0; i < N; i++) y[i] = 1.5f * x[i] + 0.25f;
            __asm__ __volatile__("" ::"r"(y) : "memory");
        }
        t[r] = (omp_get_wtime() - t0) / (8.0 * N);
    }
    qsort(t, REPS, sizeof t[0], cmp);
    double elem = t[REPS / 2];
    /* n * elem == n * elem / nt + fork  =>  n = fork * nt / ((nt - 1) elem) */
    double k = nt / ((nt - 1) * elem);
    double be50 = fork50 * k, be90 = fork90 * k;
    long p2 = 1;
    while ((double)p2 < be90) p2 <<= 1;
    printf("threads %d\nfork_join_median_us %.2f\nfork_join_p90_us %.2f\n"
           "ns_per_element %.4f\nbreak_even_median %.0f\nbreak_even_p90 %.0f\n"
           "suggested_LN_PAR_MIN %ld\n",
           nt, fork50 * 1e6, fork90 * 1e6, elem * 1e9, be50, be90, p2);
    return sink;
}
