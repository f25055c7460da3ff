/*
** bench_gemm.c -- ln_gemm against OpenBLAS cblas_sgemm (OpenMP build) on the
** products of Dense layers and on large squares, with 1 and 2 threads.
**
** usage: bench_gemm [seconds-per-case [threads...]]
**   default: 0.25 s per case and library, threads 1 2.
**   LUNET_BENCH_WALL=1: time 1-thread runs by wall clock too (default: the
**   calling thread's CPU time, which other processes do not inflate).
** Run with OMP_WAIT_POLICY=passive (bench/run_gemm.sh does): idle OpenMP
** threads then sleep instead of spinning, which is what the library
** expects on a shared 2-core machine.
*/
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "lunet/kernels.h"

/* OpenBLAS extensions (declared in its cblas.h, repeated for clarity). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);
char *openblas_get_config(void);

/* With 1 thread every call runs on this thread, so its CPU time measures the
** call even when other processes share the cores (it is not charged while
** descheduled). 2 threads need wall time. */
static int use_cpu_clock;
static double now(void) {
    struct timespec ts;
    clock_gettime(use_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC,
                  &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bcase {
    char label[48];
    int ta, tb;
    int64_t m, n, k;
    int batch; /* 0 for the squares */
} bcase;

static float *fill(int64_t count) {
    size_t bytes = ((size_t)count * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    unsigned s = 12345u;
    for (int64_t i = 0; i < count; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) * (1.0 / 16777216.0)) - 0.5f;
    }
    return p;
}

typedef struct operands {
    const bcase *c;
    float *a, *b, *cm;
    int64_t lda, ldb, ldc;
} operands;

static void run_ours(const operands *o) {
    const bcase *c = o->c;
    ln_gemm(c->ta, c->tb, c->m, c->n, c->k, 1.0f, o->a, o->lda, o->b, o->ldb,
            0.0f, o->cm, o->ldc, NULL);
}

static void run_blas(const operands *o) {
    const bcase *c = o->c;
    cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans,
                c->tb ? CblasTrans : CblasNoTrans, (int)c->m, (int)c->n,
                (int)c->k, 1.0f, o->a, (int)o->lda, o->b, (int)o->ldb, 0.0f,
                o->cm, (int)o->ldc);
}

/* Calls per timed batch so that one batch takes ~ target seconds. */
static int calibrate(void (*fn)(const operands *), const operands *o,
                     double target) {
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++) fn(o);
        double t = now() - t0;
        if (t >= target || reps >= (1 << 24)) {
            double per = t / reps;
            int want = per > 0 ? (int)(target / per) : reps;
            return want < 1 ? 1 : want;
        }
        reps *= 2;
    }
}

/* Best time per call over batches, ours and OpenBLAS interleaved, until each
** has used at least `budget` seconds (and at least 3 batches). */
static void time_pair(const operands *o, double budget, double *t_ours,
                      double *t_blas) {
    const double batch = budget / 8;
    int ro = calibrate(run_ours, o, batch), rb = calibrate(run_blas, o, batch);
    double best_o = INFINITY, best_b = INFINITY, used_o = 0, used_b = 0;
    int n = 0;
    while (n < 3 || used_o < budget || used_b < budget) {
        double t0 = now();
        for (int r = 0; r < ro; r++) run_ours(o);
        double t1 = now();
        for (int r = 0; r < rb; r++) run_blas(o);
        double t2 = now();
        used_o += t1 - t0;
        used_b += t2 - t1;
        if ((t1 - t0) / ro < best_o) best_o = (t1 - t0) / ro;
        if ((t2 - t1) / rb < best_b) best_b = (t2 - t1) / rb;
        n++;
        if (n > 1000) break;
    }
    *t_ours = best_o;
    *t_blas = best_b;
}

static double max_abs_diff(const operands *o, float *ref) {
    const bcase *c = o->c;
    double d = 0;
    for (int64_t i = 0; i < c->m; i++)
        for (int64_t j = 0; j < c->n; j++) {
            double x = fabs((double)o->cm[i * o->ldc + j] - ref[i * o->ldc + j]);
            if (x > d) d = x;
        }
    return d;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.25;
    if (!(budget > 0)) budget = 0.25;
    int threads[8] = {1, 2}, nthr = 2;
    if (argc > 2) {
        nthr = 0;
        for (int i = 2; i < argc && nthr < 8; i++) threads[nthr++] = atoi(argv[i]);
    }

    ln_cpu_init();
    static const int batches[] = {32, 128, 1000};
    static const int64_t layers[][2] = {{784, 300}, {300, 100}, {100, 10},
                                        {784, 250}};
    bcase cases[64];
    int nc = 0;
    for (int bi = 0; bi < 3; bi++)
        for (int l = 0; l < 4; l++) {
            const int B = batches[bi];
            const int64_t in = layers[l][0], out = layers[l][1];
            bcase f = {"", 0, 0, B, out, in, B};
            snprintf(f.label, sizeof f.label, "B=%d %lld->%lld fwd X*W", B,
                     (long long)in, (long long)out);
            bcase w = {"", 1, 0, in, out, B, B};
            snprintf(w.label, sizeof w.label, "B=%d %lld->%lld dW=X^T*dY", B,
                     (long long)in, (long long)out);
            bcase x = {"", 0, 1, B, in, out, B};
            snprintf(x.label, sizeof x.label, "B=%d %lld->%lld dX=dY*W^T", B,
                     (long long)in, (long long)out);
            cases[nc++] = f;
            cases[nc++] = w;
            cases[nc++] = x;
        }
    bcase sq1 = {"1024^3 NN", 0, 0, 1024, 1024, 1024, 0};
    bcase sq2 = {"2048^3 NN", 0, 0, 2048, 2048, 2048, 0};
    cases[nc++] = sq1;
    cases[nc++] = sq2;

    const char *wp = getenv("OMP_WAIT_POLICY");
    double load[3] = {0, 0, 0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = -1;
        fclose(la);
    }
    printf("# lunet GEMM vs OpenBLAS cblas_sgemm (row-major, alpha=1, beta=0)\n");
    printf("# lunet kernel: %s | OpenBLAS: %s (core %s)\n",
           ln_gemm_kernel_name(), openblas_get_config(),
           openblas_get_corename());
    printf("# OMP_WAIT_POLICY=%s%s\n", wp ? wp : "(unset)",
           wp && !strcmp(wp, "passive")
               ? ""
               : "  <- set OMP_WAIT_POLICY=passive for representative numbers");
    printf("# load average before the run: %.2f %.2f %.2f (2 cores: anything "
           "else running skews the 2-thread numbers)\n",
           load[0], load[1], load[2]);
    const char *wall = getenv("LUNET_BENCH_WALL");
    const int wall1 = wall && *wall && strcmp(wall, "0");
    printf("# best time per call over interleaved batches, >= %.2f s per case "
           "and library; GFLOP/s = 2mnk / time\n",
           budget);
    printf("# clock: %s with 1 thread, wall time with more\n",
           wall1 ? "wall time" : "the thread's CPU time");

    for (int ti = 0; ti < nthr; ti++) {
        const int T = threads[ti];
        omp_set_num_threads(T);
        openblas_set_num_threads(T);
        ln_cpu_init();
        use_cpu_clock = T == 1 && !wall1;
        printf("\n## threads = %d\n", T);
        printf("%-28s %5s %5s %5s %10s %10s %7s %9s\n", "case", "m", "n", "k",
               "lunet", "openblas", "ratio", "maxdiff");
        double lg_all = 0, lg_32 = 0;
        int n_all = 0, n_32 = 0;
        for (int ci = 0; ci < nc; ci++) {
            const bcase *c = &cases[ci];
            operands o;
            o.c = c;
            const int64_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
            const int64_t br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
            o.lda = ac;
            o.ldb = bc;
            o.ldc = c->n;
            o.a = fill(ar * o.lda);
            o.b = fill(br * o.ldb);
            o.cm = fill(c->m * o.ldc);
            float *ref = fill(c->m * o.ldc);
            run_blas(&o);
            memcpy(ref, o.cm, sizeof(float) * (size_t)(c->m * o.ldc));
            run_ours(&o);
            double diff = max_abs_diff(&o, ref);
            double to, tb;
            time_pair(&o, budget, &to, &tb);
            const double fl = 2.0 * (double)c->m * (double)c->n * (double)c->k;
            const double go = fl / to * 1e-9, gb = fl / tb * 1e-9;
            const double ratio = go / gb;
            printf("%-28s %5lld %5lld %5lld %10.1f %10.1f %7.3f %9.2g\n",
                   c->label, (long long)c->m, (long long)c->n,
                   (long long)c->k, go, gb, ratio, diff);
            fflush(stdout);
            if (c->batch) {
                lg_all += log(ratio);
                n_all++;
                if (c->batch == 32) {
                    lg_32 += log(ratio);
                    n_32++;
                }
            }
            free(o.a);
            free(o.b);
            free(o.cm);
            free(ref);
        }
        printf("geomean lunet/openblas, threads=%d: Dense shapes %.3f (%d "
               "cases), B=32 %.3f (%d cases)\n",
               T, exp(lg_all / n_all), n_all, exp(lg_32 / n_32), n_32);
    }
    return 0;
}
