/*
** The engine (liblunet_nn): a training step against its pieces, runs of
** batches against single steps, the gradient sink (incl. an optimizer that
** needs whole variables), layers of several inputs and outputs, and the
** thread team of the parallel facility the engine runs on.
*/
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static ln_ctx ctx;

#define N 96   /* samples */
#define D 40   /* features */
#define C 5    /* classes */

/* ---- a small model ---------------------------------------------------------- */

typedef struct model {
    ln_layer *layers[3];
    int n;
    ln_net *net;
    ln_object *loss;
    ln_optimizer *opt;
    int npairs;
    ln_tensor *vars[8], *grads[8];
} model;

/* layers: specs like {"tp_scale", ""}, {"dense", "#1=24 activation=relu"};
** built for D features with the library's generator seeded with seed. */
static void model_init(model *m, int n, const char *const (*specs)[2],
                       const char *opt, const char *opt_args, uint64_t seed) {
    memset(m, 0, sizeof *m);
    ln_rng_seed(ln_rng_global(), seed);
    int64_t d = D;
    for (int i = 0; i < n; i++) {
        m->layers[i] = lt_layer(specs[i][0], specs[i][1]);
        ck_assert_int_eq(lt_build(&ctx, m->layers[i], 1, &d), LN_OK);
        d = ln_layer_output_shape(m->layers[i], 0)->dim[0];
    }
    m->n = n;
    m->net = ln_net_new(&ctx);
    ck_assert_int_eq(ln_net_set_layers(&ctx, m->net, n, m->layers), LN_OK);
    m->loss = ln_object_new(&ctx, LN_KIND_LOSS, "sparse_categorical_crossentropy",
                            lt_args("from_logits=true"));
    ck_assert_ptr_nonnull(m->loss);
    ck_assert_int_eq(ln_net_set_loss(&ctx, m->net, m->loss), LN_OK);
    m->opt = ln_optimizer_new(&ctx, opt, lt_args(opt_args));
    ck_assert_msg(m->opt != NULL, "%s", ctx.msg);
    for (int i = 0; i < n; i++)
        for (int w = 0; w < ln_layer_weight_count(m->layers[i]); w++)
            if (ln_layer_grad(m->layers[i], w)) {
                m->vars[m->npairs] = ln_layer_weight(m->layers[i], w);
                m->grads[m->npairs++] = ln_layer_grad(m->layers[i], w);
            }
}

static void model_free(model *m) {
    ln_net_free(m->net);
    for (int i = 0; i < m->n; i++) ln_layer_free(m->layers[i]);
    ln_object_free(m->loss);
    ln_optimizer_free(m->opt);
}

/* Let the net apply the optimizer itself (the fused training step). */
static void model_fuse(model *m) {
    ck_assert_int_eq(ln_net_set_optimizer(&ctx, m->net, m->opt, m->npairs, m->vars,
                                          m->grads, NULL),
                     LN_OK);
}

static void assert_same_weights(const model *a, const model *b) {
    for (int k = 0; k < a->npairs; k++)
        ck_assert_msg(!memcmp(ln_data(a->vars[k]), ln_data(b->vars[k]),
                              (size_t)a->vars[k]->numel * sizeof(float)),
                      "variable %d differs", k);
}

static ln_tensor *data_x(void) {
    return lt_uniform(2, (int64_t[]){N, D}, -1, 1, 11);
}

static ln_tensor *data_y(void) {
    ln_tensor *y = ln_tensor_new(&ctx, LN_INT32, 1, (int64_t[]){N});
    for (int i = 0; i < N; i++) ln_i32(y)[i] = (i * 7 + 3) % C;
    return y;
}

static const char *const mlp[3][2] = {{"tp_scale", ""},
                                      {"dense", "#1=24 activation=relu"},
                                      {"dense", "#1=5"}};

/* ---- a training step against its pieces --------------------------------------- */

/* ln_net_train_step (the update applied by the net, early through the
** gradient sink) gives the numbers of ln_net_train_batch followed by
** ln_optimizer_apply, bitwise; tp_scale's gradient was taken by the sink. */
static void step_vs_pieces_reg(const char *opt, const char *args, int sink_takes,
                               double l1, double l2) {
    model a, b;
    model_init(&a, 3, mlp, opt, args, 5);
    model_init(&b, 3, mlp, opt, args, 5);
    for (int i = 0; i < 3; i++) { /* every layer's first weight (tp_scale's w, kernels) */
        ln_layer_set_regularizer(a.layers[i], 0, l1, l2);
        ln_layer_set_regularizer(b.layers[i], 0, l1, l2);
    }
    model_fuse(&a);
    ln_tensor *x = data_x(), *y = data_y();
    for (int step = 0; step < 4; step++) {
        double la, lb;
        int64_t start = step * 24;
        ck_assert_int_eq(ln_net_train_step(&ctx, a.net, x, y, NULL, start, 24, &la), LN_OK);
        ck_assert_int_eq(ln_net_train_batch(&ctx, b.net, x, y, NULL, start, 24, &lb), LN_OK);
        ck_assert_int_eq(ln_optimizer_apply(&ctx, b.opt, b.npairs, b.vars,
                                            (const ln_tensor *const *)b.grads, NULL),
                         LN_OK);
        ck_assert_double_eq(la, lb);
    }
    assert_same_weights(&a, &b);
    ck_assert_int_eq(ln_optimizer_iterations(a.opt), 4);
    /* the first step sizes the buffers (no early update), the others hand
    ** two halves each to the sink -- unless the optimizer needs whole
    ** variables */
    ck_assert_int_eq(*(int *)ln_layer_state(a.layers[0]), sink_takes ? 6 : 0);
    ck_assert_int_eq(*(int *)ln_layer_state(b.layers[0]), 0);
    ln_tensor_release(x);
    ln_tensor_release(y);
    model_free(&a);
    model_free(&b);
}

static void step_vs_pieces(const char *opt, const char *args, int sink_takes) {
    step_vs_pieces_reg(opt, args, sink_takes, 0, 0);
}

START_TEST(step_equals_pieces_elementwise) {
    ln_set_num_threads(1);
    step_vs_pieces("adam", "", 1);
    step_vs_pieces("sgd", "learning_rate=0.1 momentum=0.9", 1);
}
END_TEST

/* Regularized weights are updated through the sink too (the penalty's
** gradient added block by block), with the numbers of the gradient added
** after backward and the update applied then. */
START_TEST(regularized_weights_take_the_sink) {
    ln_set_num_threads(1);
    step_vs_pieces_reg("sgd", "learning_rate=0.1 momentum=0.9", 1, 0, 0.01);
    step_vs_pieces_reg("adam", "", 1, 0.003, 0.02);
    step_vs_pieces_reg("sgd", "clipnorm=0.5", 0, 0.01, 0);
    ln_set_num_threads(2);
    step_vs_pieces_reg("adam", "", 1, 0.003, 0.02);
    ln_set_num_threads(1);
}
END_TEST

/* An optimizer that needs whole variables never gets slices: the net hands
** layers no sink and updates each variable after backward. */
START_TEST(whole_variable_optimizer) {
    ln_set_num_threads(1);
    step_vs_pieces("tp_normsgd", "", 0);
}
END_TEST

/* Outside a team, apply_gradients shares a large variable's update with
** the pool's helpers (core/engine/optimizer.c: the helper takes the
** kernel rows whose half of the products it computed, ln_gemm_team). Until
** the products' halves went to the helper, a variable of up to 4 MiB was
** updated on the calling thread alone. tp_where marks the elements another
** thread wrote, and its first chunk waits for such a thread. */
static double where_sum(int64_t n) {
    ln_ctx_clear(&ctx);
    ln_optimizer *o = ln_optimizer_new(&ctx, "tp_where", NULL);
    ck_assert_msg(o != NULL, "%s", ctx.msg);
    ln_tensor *v = ln_tensor_new(&ctx, LN_FLOAT32, 1, &n);
    ln_tensor *g = ln_tensor_new(&ctx, LN_FLOAT32, 1, &n);
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(g);
    const ln_tensor *grads[1] = {g};
    ck_assert_int_eq(ln_optimizer_apply(&ctx, o, 1, &v, grads, NULL), LN_OK);
    double others = ln_sum(ln_f32(v), n);
    ln_tensor_release(v);
    ln_tensor_release(g);
    ln_optimizer_free(o);
    return others;
}

START_TEST(variables_update_shared_outside_a_team) {
    ln_set_num_threads(2);
    ck_assert_msg(where_sum(300000) > 0, "1.2 MB: no helper took a chunk");
    ck_assert_msg(where_sum(1200000) > 0, "4.8 MB: no helper took a chunk");
    ln_set_num_threads(1);
    ck_assert_double_eq(where_sum(300000), 0.0); /* one thread: the caller */
}
END_TEST

/* Clipping needs whole gradients too: no early update either. */
START_TEST(clipping_disarms_the_sink) {
    ln_set_num_threads(1);
    step_vs_pieces("sgd", "clipnorm=0.5", 0);
}
END_TEST

/* ---- runs of batches ----------------------------------------------------------------- */

/* A run of batches over a shuffled index is the same as the single steps,
** bitwise, in serial and in team mode, with 1 and 2 threads. */
static void run_vs_steps(int threads, ln_net_threading mode) {
    ln_set_num_threads(threads);
    model a, b;
    model_init(&a, 3, mlp, "adam", "", 7);
    model_init(&b, 3, mlp, "adam", "", 7);
    model_fuse(&a);
    model_fuse(&b);
    ln_net_set_threading(a.net, mode);
    ln_tensor *x = data_x(), *y = data_y();
    int64_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = (i * 37) % N;
    ln_net_run run;
    for (int epoch = 0; epoch < 3; epoch++)
        ck_assert_int_eq(ln_net_train_run(&ctx, a.net, x, y, idx, 0, N, 10, 1, -1, 0, &run),
                         LN_OK);
    ck_assert_int_eq(run.batches, 10);
    ck_assert_int_eq(run.nonfinite, -1);
    double last = 0;
    for (int epoch = 0; epoch < 3; epoch++)
        for (int64_t s = 0; s < N; s += 10)
            ck_assert_int_eq(ln_net_train_step(&ctx, b.net, x, y, idx, s,
                                               N - s < 10 ? N - s : 10, &last),
                             LN_OK);
    ck_assert_double_eq(run.loss, last);
    assert_same_weights(&a, &b);
    /* evaluation as a run and as single batches agree too */
    double r1[2], r2[2];
    ln_net_reset_metrics(a.net);
    ck_assert_int_eq(ln_net_test_run(&ctx, a.net, x, y, 0, N, 32, -1, 0, &run), LN_OK);
    ln_net_results(a.net, r1, 2);
    ln_net_reset_metrics(b.net);
    for (int64_t s = 0; s < N; s += 32)
        ck_assert_int_eq(ln_net_test_batch(&ctx, b.net, x, y, NULL, s, 32, &last), LN_OK);
    ln_net_results(b.net, r2, 2);
    ck_assert_double_eq(r1[0], r2[0]);
    ln_tensor_release(x);
    ln_tensor_release(y);
    model_free(&a);
    model_free(&b);
}

START_TEST(runs_equal_single_steps) {
    run_vs_steps(1, LN_NET_SERIAL);
    run_vs_steps(2, LN_NET_SERIAL);
    run_vs_steps(2, LN_NET_TEAM);
    run_vs_steps(2, LN_NET_AUTO);
}
END_TEST

/* 1 and 2 threads, team mode: the same weights bitwise. */
START_TEST(threads_do_not_change_numbers) {
    model m[2];
    for (int t = 0; t < 2; t++) {
        ln_set_num_threads(t + 1);
        model_init(&m[t], 3, mlp, "nadam", "", 9);
        model_fuse(&m[t]);
        ln_net_set_threading(m[t].net, LN_NET_TEAM);
        ln_tensor *x = data_x(), *y = data_y();
        ln_net_run run;
        for (int epoch = 0; epoch < 2; epoch++)
            ck_assert_int_eq(ln_net_train_run(&ctx, m[t].net, x, y, NULL, 0, N, 16, 1,
                                              -1, 0, &run),
                             LN_OK);
        ln_tensor_release(x);
        ln_tensor_release(y);
    }
    assert_same_weights(&m[0], &m[1]);
    model_free(&m[0]);
    model_free(&m[1]);
}
END_TEST

/* A run stops after max_batches, and reports the batches it finished. */
START_TEST(run_limits) {
    ln_set_num_threads(1);
    model m;
    model_init(&m, 3, mlp, "sgd", "", 3);
    model_fuse(&m);
    ln_tensor *x = data_x(), *y = data_y();
    ln_net_run run;
    ck_assert_int_eq(ln_net_train_run(&ctx, m.net, x, y, NULL, 0, N, 10, 1, 1, 0, &run), LN_OK);
    ck_assert_int_eq(run.batches, 1);
    ck_assert_int_eq(ln_optimizer_iterations(m.opt), 1);
    ck_assert_int_eq(ln_net_train_run(&ctx, m.net, x, y, NULL, 0, N, 0, 1, -1, 0, &run),
                     LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "batches of 0"), "%s", ctx.msg);
    ln_tensor_release(x);
    ln_tensor_release(y);
    model_free(&m);
}
END_TEST

/* ---- layers of several inputs and outputs ---------------------------------------------- */

START_TEST(several_inputs_and_outputs) {
    ln_layer *add = lt_layer("tp_add", "");
    ln_tensor *x[3];
    for (int i = 0; i < 3; i++) x[i] = lt_uniform(2, (int64_t[]){4, 3}, -1, 1, 20 + i);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL);
    /* one input is refused, naming the layer and the counts */
    ck_assert_int_eq(ln_layer_forward(&ctx, add, 1, (const ln_tensor *const *)x, &y, 0),
                     LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "TpAdd") && strstr(ctx.msg, "at least 2 inputs, got 1"),
                  "%s", ctx.msg);
    ck_assert_int_eq(ln_layer_forward(&ctx, add, 3, (const ln_tensor *const *)x, &y, 0), LN_OK);
    ck_assert_int_eq(ln_layer_input_count(add), 3);
    for (int k = 0; k < 12; k++)
        ck_assert_float_eq(ln_f32(y)[k], ln_f32(x[0])[k] + ln_f32(x[1])[k] + ln_f32(x[2])[k]);
    ln_tensor *dy = lt_uniform(2, (int64_t[]){4, 3}, -1, 1, 30);
    ln_tensor *dx[3] = {ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL), NULL,
                        ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL)};
    ck_assert_int_eq(ln_layer_backward(&ctx, add, (const ln_tensor *const *)x,
                                       (const ln_tensor *const *)&y,
                                       (const ln_tensor *const *)&dy, dx, NULL, 0),
                     LN_OK);
    ck_assert_mem_eq(ln_data(dx[0]), ln_data(dy), 12 * sizeof(float));
    ck_assert_mem_eq(ln_data(dx[2]), ln_data(dy), 12 * sizeof(float));

    ln_layer *split = lt_layer("tp_split", "");
    ln_tensor *ys[2] = {ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL),
                        ln_tensor_new(&ctx, LN_FLOAT32, 0, NULL)};
    ck_assert_int_eq(ln_layer_forward(&ctx, split, 1, (const ln_tensor *const *)x, ys, 0),
                     LN_OK);
    ck_assert_int_eq(ln_layer_output_count(split), 2);
    ck_assert(ln_shape_equal(ys[1], x[0]));
    ck_assert_float_eq(ln_f32(ys[1])[5], 2 * ln_f32(x[0])[5]);
    const ln_tensor *dys[2] = {dy, dy};
    ck_assert_int_eq(ln_layer_backward(&ctx, split, (const ln_tensor *const *)x,
                                       (const ln_tensor *const *)ys, dys, dx, NULL, 0),
                     LN_OK);
    ck_assert_float_eq(ln_f32(dx[0])[7], 3 * ln_f32(dy)[7]);
    /* a chain (the net) takes single-output layers in order */
    for (int i = 0; i < 3; i++) ln_tensor_release(x[i]);
    ln_tensor_release(y);
    ln_tensor_release(dy);
    ln_tensor_release(dx[0]);
    ln_tensor_release(dx[2]);
    ln_tensor_release(ys[0]);
    ln_tensor_release(ys[1]);
    ln_layer_free(add);
    ln_layer_free(split);
}
END_TEST

/* ---- the thread team ---------------------------------------------------------------------- */

typedef struct team_check {
    _Atomic int hits[257];
    int threads_seen;
    int nested_ok;
    int64_t n;
    unsigned char *covered;
} team_check;

static void count_task(void *arg, int64_t t) {
    team_check *c = arg;
    atomic_fetch_add(&c->hits[t], 1);
    /* work handed out from inside a task runs in place, once */
    if (t == 0) c->nested_ok = ln_parallel_threads() == 1;
}

static void mark_range(void *arg, int64_t lo, int64_t hi) {
    team_check *c = arg;
    for (int64_t i = lo; i < hi; i++) c->covered[i]++;
}

static ln_status team_body(void *arg) {
    team_check *c = arg;
    c->threads_seen = ln_parallel_threads();
    ln_parallel_tasks(257, count_task, c);
    ln_parallel_for(c->n, mark_range, c);
    return LN_OK;
}

/* Many short jobs in a row, some after a pause long enough for the other
** threads to fall asleep: each job's tasks have all run, once, by the time
** ln_parallel_tasks returns (the publisher counts the others' tasks over
** the whole region, and wakes sleepers again after its own first task). */
typedef struct job_check {
    _Atomic int hits[8];
} job_check;

static void job_task(void *arg, int64_t t) {
    job_check *c = arg;
    if (t & 1) /* uneven tasks: the publisher must wait for the others */
        for (volatile int k = 0; k < 200; k++) {
        }
    atomic_fetch_add(&c->hits[t], 1);
}

static ln_status jobs_body(void *arg) {
    int *bad = arg;
    for (int i = 0; i < 20000 && !*bad; i++) {
        job_check c;
        const int n = 2 + i % 6;
        memset(&c, 0, sizeof c);
        if (i % 2000 == 1999) usleep(3000); /* the workers go to sleep */
        ln_parallel_tasks(n, job_task, &c);
        for (int t = 0; t < 8; t++)
            if (atomic_load(&c.hits[t]) != (t < n)) *bad = i + 1;
    }
    return LN_OK;
}

START_TEST(team_jobs_in_a_row) {
    ln_set_num_threads(2);
    int bad = 0;
    ck_assert_int_eq(ln_parallel_region(jobs_body, &bad), LN_OK);
    ck_assert_msg(bad == 0, "job %d returned before its tasks had run once", bad - 1);
}
END_TEST

/* A worker asleep when a job is published is woken before the publisher
** runs task 0, so it takes task 1 while task 0 runs: task 0 waits (at
** most 10 s) for task 1 to start. Woken only after task 0 (as before), a
** recurrent layer's backward -- two long slices after ~260 us of serial
** work -- ran both slices on the publisher. */
typedef struct wake_check {
    _Atomic int second_started, second_waited;
} wake_check;

static void wake_task(void *arg, int64_t t) {
    wake_check *c = arg;
    if (t == 1) {
        atomic_store(&c->second_started, 1);
        return;
    }
    const double t0 = ln_time();
    while (!atomic_load(&c->second_started) && ln_time() - t0 < 10) usleep(100);
    atomic_store(&c->second_waited, atomic_load(&c->second_started));
}

static ln_status wake_body(void *arg) {
    wake_check *c = arg;
    ln_parallel_tasks(2, wake_task, c); /* the worker is up */
    memset(c, 0, sizeof *c);
    usleep(100000); /* it spins, yields, then sleeps */
    ln_parallel_tasks(2, wake_task, c);
    return LN_OK;
}

START_TEST(sleeping_worker_woken_before_task_0) {
    ln_set_num_threads(2);
    ck_assert_int_eq(omp_get_max_threads(), 2);
    wake_check c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(ln_parallel_region(wake_body, &c), LN_OK);
    ck_assert_msg(atomic_load(&c.second_waited),
                  "task 1 did not start while task 0 ran: the sleeping worker was not woken");
}
END_TEST

/* ln_parallel_pair: task 1 runs on another thread while task 0 runs --
** a pool helper outside a team, the team's other thread inside one -- and
** with one thread both run here, in order. Task 0 waits (at most 10 s)
** for task 1 to start when another thread is expected. */
typedef struct pair_check {
    pthread_t caller;
    int expect_other;
    _Atomic int second_started, second_elsewhere, waited, order_ok;
} pair_check;

static void pair_task(void *arg, int64_t t) {
    pair_check *c = arg;
    if (t == 1) {
        atomic_store(&c->second_elsewhere, !pthread_equal(pthread_self(), c->caller));
        atomic_store(&c->second_started, 1);
        return;
    }
    atomic_store(&c->order_ok, !atomic_load(&c->second_started));
    const double t0 = ln_time();
    while (c->expect_other && !atomic_load(&c->second_started) && ln_time() - t0 < 10)
        usleep(100);
    atomic_store(&c->waited, atomic_load(&c->second_started));
}

static ln_status pair_body(void *arg) {
    ln_parallel_pair(pair_task, arg);
    return LN_OK;
}

static void pair_once(int threads, int team) {
    ln_set_num_threads(threads);
    pair_check c;
    memset(&c, 0, sizeof c);
    c.caller = pthread_self();
    c.expect_other = threads > 1;
    if (team) ck_assert_int_eq(ln_parallel_region(pair_body, &c), LN_OK);
    else ln_parallel_pair(pair_task, &c);
    ck_assert_int_eq(atomic_load(&c.second_started), 1);
    if (threads > 1) {
        ck_assert_msg(atomic_load(&c.waited) && atomic_load(&c.second_elsewhere),
                      "%s: task 1 did not run on another thread while task 0 ran",
                      team ? "team" : "pool");
    } else {
        ck_assert(!atomic_load(&c.second_elsewhere));
        ck_assert(atomic_load(&c.order_ok)); /* task 0, then task 1 */
    }
}

START_TEST(pair_takes_a_second_thread) {
    pair_once(2, 0); /* outside a team: the helper pool */
    pair_once(2, 1); /* on a team */
    pair_once(1, 0);
}
END_TEST

/* Every task runs exactly once and every element of a parallel-for is
** covered once, with the team (2 threads) and without (1). */
START_TEST(thread_team) {
    for (int threads = 1; threads <= 2; threads++) {
        ln_set_num_threads(threads);
        team_check c;
        memset(&c, 0, sizeof c);
        c.n = 5 * LN_PAR_CHUNK + 77;
        c.covered = calloc((size_t)c.n, 1);
        ck_assert_int_eq(ln_parallel_region(team_body, &c), LN_OK);
        for (int t = 0; t < 257; t++) ck_assert_int_eq(c.hits[t], 1);
        for (int64_t i = 0; i < c.n; i++) ck_assert_int_eq(c.covered[i], 1);
        ck_assert(c.nested_ok);
        if (threads == 2 && omp_get_max_threads() == 2) ck_assert_int_eq(c.threads_seen, 2);
        ck_assert_int_eq(ln_parallel_threads(), 1); /* no team outside */
        free(c.covered);
    }
}
END_TEST

/* LN_MAY_VIEW: a Flatten or Reshape (a Dropout outside training) shows its
** input as its output and its output gradient as its input gradient; a
** Flatten that moves channels (channels_first), a Dropout in training and
** layers with weights still compute theirs. */
static ln_layer *built(const char *unit, const char *spec, int nd, const int64_t *in) {
    ln_layer *l = lt_layer(unit, spec);
    ck_assert_int_eq(lt_build(&ctx, l, nd, in), LN_OK);
    return l;
}

START_TEST(view_layers_alias) {
    const int64_t in[2] = {4, 5}, flat = 20;
    ln_tensor *x = lt_uniform(3, (int64_t[]){3, 4, 5}, -1, 1, 41);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *copy = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dx = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_layer *f = built("flatten", "", 2, in);
    ck_assert_int_eq(ln_layer_forward(&ctx, f, 1, (const ln_tensor *[]){x}, &copy, 0), LN_OK);
    ck_assert_ptr_ne(ln_data(copy), ln_data(x));
    ck_assert_int_eq(ln_layer_forward(&ctx, f, 1, (const ln_tensor *[]){x}, &y, LN_MAY_VIEW),
                     LN_OK);
    ck_assert_ptr_eq(ln_data(y), ln_data(x));
    ck_assert(ln_shape_equal(y, copy) && !memcmp(ln_data(y), ln_data(copy), 60 * sizeof(float)));
    ln_tensor *dy = lt_uniform(2, (int64_t[]){3, 20}, -1, 1, 42);
    ck_assert_int_eq(ln_layer_backward(&ctx, f, (const ln_tensor *[]){x},
                                       (const ln_tensor *[]){y}, (const ln_tensor *[]){dy},
                                       &dx, NULL, LN_MAY_VIEW),
                     LN_OK);
    ck_assert_ptr_eq(ln_data(dx), ln_data(dy));
    ck_assert(ln_shape_equal(dx, x));
    ln_tensor_unalias(y);
    ln_tensor_unalias(dx);
    /* channels_first over (4, 5): a transpose, computed */
    ln_layer *t = built("flatten", "data_format=channels_first", 2, in);
    ck_assert_int_eq(ln_layer_forward(&ctx, t, 1, (const ln_tensor *[]){x}, &y, LN_MAY_VIEW),
                     LN_OK);
    ck_assert_ptr_ne(ln_data(y), ln_data(x));
    ck_assert_float_eq(ln_f32(y)[1], ln_f32(x)[5]); /* sample 0: [r * 4 + k] = [k * 5 + r] */
    /* Reshape, and a Dense (weights: never a view) */
    ln_layer *r = built("reshape", "target_shape=[5,4]", 2, in);
    ck_assert_int_eq(ln_layer_forward(&ctx, r, 1, (const ln_tensor *[]){x}, &y, LN_MAY_VIEW),
                     LN_OK);
    ck_assert_ptr_eq(ln_data(y), ln_data(x));
    ck_assert_int_eq(y->shape[1], 5);
    ln_tensor_unalias(y);
    /* Dropout: the input outside training, its own draw in training */
    ln_layer *dr = built("dropout", "#1=0.5", 1, &flat);
    ck_assert_int_eq(ln_layer_forward(&ctx, dr, 1, (const ln_tensor *[]){dy}, &y, LN_MAY_VIEW),
                     LN_OK);
    ck_assert_ptr_eq(ln_data(y), ln_data(dy));
    ck_assert_int_eq(ln_layer_forward(&ctx, dr, 1, (const ln_tensor *[]){dy}, &y,
                                      LN_MAY_VIEW | LN_TRAINING),
                     LN_OK);
    ck_assert_ptr_ne(ln_data(y), ln_data(dy));
    ln_layer_free(dr);
    ln_layer *d = built("dense", "#1=20", 1, &flat);
    ck_assert_int_eq(ln_layer_forward(&ctx, d, 1, (const ln_tensor *[]){dy}, &y, LN_MAY_VIEW),
                     LN_OK);
    ck_assert_ptr_ne(ln_data(y), ln_data(dy));
    ln_layer_free(f);
    ln_layer_free(t);
    ln_layer_free(r);
    ln_layer_free(d);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(copy);
    ln_tensor_release(dx);
    ln_tensor_release(dy);
}
END_TEST

int main(void) {
    setenv("LUNET_PLUGIN_PATH", ":", 1); /* the built-in plugins */
    ln_ctx_clear(&ctx);
    if (ln_registry_load(&ctx, lt_test_plugin("tp_engine.so"), 0)) {
        fprintf(stderr, "%s\n", ctx.msg);
        return 1;
    }
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, step_equals_pieces_elementwise);
    tcase_add_test(tc, view_layers_alias);
    tcase_add_test(tc, whole_variable_optimizer);
    tcase_add_test(tc, variables_update_shared_outside_a_team);
    tcase_add_test(tc, clipping_disarms_the_sink);
    tcase_add_test(tc, regularized_weights_take_the_sink);
    tcase_add_test(tc, runs_equal_single_steps);
    tcase_add_test(tc, threads_do_not_change_numbers);
    tcase_add_test(tc, run_limits);
    tcase_add_test(tc, several_inputs_and_outputs);
    tcase_add_test(tc, thread_team);
    tcase_add_test(tc, team_jobs_in_a_row);
    tcase_add_test(tc, sleeping_worker_woken_before_task_0);
    tcase_add_test(tc, pair_takes_a_second_thread);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
