/*
** test_conv_noalloc.c -- after the first batch, a convolution layer's
** forward and backward make no heap allocation at all, with 2 threads:
** no per-task buffer (the tasks use the layer's per-thread scratch, grown
** before a run), no concurrent ln_gemm taking a private workspace. Nor
** does a net's training step or prediction whose inner Flatten layers are
** views of the buffers before them (each buffer resized in place again),
** as a Sequential or as a graph.
**
** The test binary interposes malloc and its relatives (forwarding to
** glibc's __libc_* entry points) and counts the calls made, by any thread,
** between the warm-up and the end of three more forward + backward passes.
*/
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <execinfo.h>
#include <unistd.h>

#include "lunet/engine/net_graph.h"
#include "testutil.h"

/* Under AddressSanitizer malloc belongs to the sanitizer: interposing it
** here would hand ASan's free glibc's blocks. The test then reports itself
** skipped (exit 77); the plain suite runs it. */
#if defined(__SANITIZE_ADDRESS__)
#define NOALLOC_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOALLOC_UNDER_ASAN 1
#endif
#endif

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

/* exported (the project builds with hidden visibility) */
#define EXPORT __attribute__((visibility("default")))

static atomic_int counting;
static atomic_long allocs;

static int trace; /* LT_NOALLOC_TRACE set: print where each one comes from */

static void note(void) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) return;
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    if (trace) {
        void *frames[16];
        int n = backtrace(frames, 16);
        backtrace_symbols_fd(frames, n, 2);
        (void)!write(2, "--\n", 3);
    }
}

#ifndef NOALLOC_UNDER_ASAN
EXPORT void *malloc(size_t n) {
    note();
    return __libc_malloc(n);
}
EXPORT void *calloc(size_t n, size_t m) {
    note();
    return __libc_calloc(n, m);
}
EXPORT void *realloc(void *p, size_t n) {
    note();
    return __libc_realloc(p, n);
}
EXPORT void *aligned_alloc(size_t a, size_t n) {
    note();
    return __libc_memalign(a, n);
}
EXPORT void *memalign(size_t a, size_t n) {
    note();
    return __libc_memalign(a, n);
}
EXPORT int posix_memalign(void **p, size_t a, size_t n) {
    note();
    void *q = __libc_memalign(a, n);
    if (!q) return 12; /* ENOMEM */
    *p = q;
    return 0;
}
EXPORT void free(void *p) { __libc_free(p); }
#endif

typedef struct na_case {
    const char *unit, *spec;
    int nd;
    int64_t shape[4];
} na_case;

static const na_case na_cases[] = {
    /* one input channel (conv_c1.h): LeNet's and chapter 14's first layers */
    {"conv2d", "#1=20 #2=5 padding=same activation=relu", 4, {32, 28, 28, 1}},
    {"conv2d", "#1=64 #2=7 padding=same activation=relu", 4, {32, 28, 28, 1}},
    {"conv2d", "#1=40 #2=5 padding=same data_format=channels_first", 4, {4, 1, 40, 100}},
    /* im2col + GEMM: gather, flipped gather, scatter, wgrad */
    {"conv2d", "#1=128 #2=3 padding=same activation=relu", 4, {32, 14, 14, 64}},
    {"conv2d", "#1=50 #2=5", 4, {32, 14, 14, 20}},
    {"conv2d", "#1=32 #2=3 strides=2 groups=2", 4, {16, 15, 14, 16}},
    {"conv2d_transpose", "#1=16 #2=3 strides=2 padding=same", 4, {16, 9, 8, 24}},
    {"depthwise_conv2d", "#1=3 padding=same", 4, {16, 14, 13, 32}},
    {"separable_conv2d", "#1=48 #2=3 activation=relu", 4, {16, 15, 14, 24}},
};
#define NNA ((int)(sizeof na_cases / sizeof *na_cases))

START_TEST(no_alloc_after_first_batch) {
    const na_case *c = &na_cases[_i];
    ln_set_num_threads(2);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = lt_layer(c->unit, c->spec);
    ln_tensor *x = lt_uniform(c->nd, c->shape, -2, 2, 21);
    ck_assert_msg(lt_build(&ctx, l, c->nd - 1, c->shape + 1) == LN_OK, "%s", ctx.msg);
    lt_fill_weights(l, -0.5f, 0.5f, 22);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dx = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ck_assert_msg(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING) == LN_OK, "%s", ctx.msg);
    ln_tensor *dy = lt_uniform(y->ndim, y->shape, -1, 1, 23);
    int bad = 0; /* no ck_assert while counting: check itself allocates */
    for (int pass = 0; pass < 5; pass++) {
        if (pass == 2) atomic_store(&counting, 1); /* after two warm-up passes */
        bad |= ln_layer_forward1(&ctx, l, x, y, LN_TRAINING) != LN_OK;
        bad |= ln_layer_backward1(&ctx, l, x, y, dy, dx, LN_TRAINING | LN_NEED_DW) != LN_OK;
    }
    atomic_store(&counting, 0);
    ck_assert_msg(!bad, "%s{%s}: %s", c->unit, c->spec, ctx.msg);
    long n = atomic_load(&allocs);
    atomic_store(&allocs, 0);
    ck_assert_msg(n == 0, "%s{%s}: %ld heap allocations in 3 forward + backward passes "
                  "with 2 threads", c->unit, c->spec, n);
    ln_layer_free(l);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(dy);
    ln_tensor_release(dx);
}
END_TEST

/* A net Flatten -> Dense -> Flatten -> Dense over samples of (4, 5), as a
** chain or as a graph, with its loss and an SGD update. */
typedef struct views_net {
    ln_layer *l[4];
    ln_net *net;
    ln_object *loss;
    ln_optimizer *opt;
} views_net;

static void views_net_init(views_net *v, int graph) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    const char *const spec[4][2] = {{"flatten", ""}, {"dense", "#1=12 activation=relu"},
                                    {"flatten", ""}, {"dense", "#1=5"}};
    const int64_t in[2] = {4, 5}, d[4] = {0, 20, 12, 12};
    for (int i = 0; i < 4; i++) {
        v->l[i] = lt_layer(spec[i][0], spec[i][1]);
        ck_assert_int_eq(i ? lt_build(&ctx, v->l[i], 1, &d[i]) : lt_build(&ctx, v->l[i], 2, in),
                         LN_OK);
    }
    v->net = ln_net_new(&ctx);
    v->loss = ln_object_new(&ctx, LN_KIND_LOSS, "sparse_categorical_crossentropy",
                            lt_args("from_logits=true"));
    static const int t0[] = {0}, t1[] = {1}, t2[] = {2}, t3[] = {3};
    const ln_net_node nodes[] = {{0, 1, t0}, {1, 1, t1}, {2, 1, t2}, {3, 1, t3}};
    const int out = 4;
    if (graph) {
        ck_assert_int_eq(ln_net_set_graph(&ctx, v->net, 4, v->l, 1, 4, nodes, 1, &out), LN_OK);
        ln_net_set_threading(v->net, LN_NET_SERIAL); /* the tuner's plans aside */
        ck_assert_int_eq(ln_net_set_output_loss(&ctx, v->net, 0, v->loss, 1), LN_OK);
    } else {
        ck_assert_int_eq(ln_net_set_layers(&ctx, v->net, 4, v->l), LN_OK);
        ck_assert_int_eq(ln_net_set_loss(&ctx, v->net, v->loss), LN_OK);
    }
    v->opt = ln_optimizer_new(&ctx, "sgd", lt_args("learning_rate=0.1"));
    ln_tensor *vars[4], *grads[4];
    int nv = 0;
    for (int i = 0; i < 4; i++)
        for (int w = 0; w < ln_layer_weight_count(v->l[i]); w++) {
            vars[nv] = ln_layer_weight(v->l[i], w);
            grads[nv++] = ln_layer_grad(v->l[i], w);
        }
    ck_assert_int_eq(ln_net_set_optimizer(&ctx, v->net, v->opt, nv, vars, grads, NULL), LN_OK);
}

static void views_net_free(views_net *v) {
    ln_net_free(v->net);
    for (int i = 0; i < 4; i++) ln_layer_free(v->l[i]);
    ln_object_free(v->loss);
    ln_optimizer_free(v->opt);
}

/* rows samples of (4, 5) and labels 0..4 */
static void views_data(int64_t rows, ln_tensor **x, ln_tensor **y, ln_tensor **out) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    *x = lt_uniform(3, (int64_t[]){rows, 4, 5}, -1, 1, 31);
    *y = ln_tensor_new(&ctx, LN_INT32, 1, (int64_t[]){rows});
    for (int64_t i = 0; i < rows; i++) ln_i32(*y)[i] = (int32_t)(i % 5);
    *out = ln_tensor_new(&ctx, LN_FLOAT32, 2, (int64_t[]){rows, 5});
}

/* The Flatten layers show the batch's rows and Dense's output
** (LN_MAY_VIEW) -- and give them back before the next batch resizes
** them, so nothing is allocated anew. */
START_TEST(net_with_views_no_alloc) {
    ln_set_num_threads(2);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    views_net v;
    views_net_init(&v, 0);
    ln_tensor *x, *y, *out;
    views_data(64, &x, &y, &out);
    int bad = 0;
    double lv;
    for (int pass = 0; pass < 5; pass++) {
        if (pass == 2) atomic_store(&counting, 1);
        for (int b = 0; b < 4; b++)
            bad |= ln_net_train_step(&ctx, v.net, x, y, NULL, b * 16, 16, &lv) != LN_OK;
        for (int b = 0; b < 4; b++)
            bad |= ln_net_predict_batch(&ctx, v.net, x, b * 16, 16, out) != LN_OK;
    }
    atomic_store(&counting, 0);
    ck_assert_msg(!bad, "%s", ctx.msg);
    long n = atomic_exchange(&allocs, 0);
    ck_assert_msg(n == 0, "%ld heap allocations in 12 training steps and 12 predictions", n);
    views_net_free(&v);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(out);
}
END_TEST

/* The same as a graph (a functional model): a run of 12 batches makes as
** many heap calls as a run of 4 -- none per batch, though the Flatten
** nodes show the gathered input and Dense's output. */
static long graph_run_allocs(ln_net *net, const ln_net_io *io, int64_t batches) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_net_run run;
    atomic_store(&counting, 1);
    int bad = ln_net_graph_train_run(&ctx, net, io, NULL, 0, batches * 16, 16, 1, -1, 0, &run) !=
              LN_OK;
    bad |= ln_net_graph_predict_run(&ctx, net, io, 0, batches * 16, 16, -1, 0, &run) != LN_OK;
    atomic_store(&counting, 0);
    ck_assert_msg(!bad, "%s", ctx.msg);
    return atomic_exchange(&allocs, 0);
}

START_TEST(graph_with_views_no_alloc) {
    ln_set_num_threads(2);
    views_net v;
    views_net_init(&v, 1);
    ln_tensor *x, *y, *o;
    views_data(192, &x, &y, &o);
    const ln_tensor *xs[1] = {x}, *ys[1] = {y};
    ln_tensor *outs[1] = {o};
    ln_net_io io = {1, xs, 1, ys, outs};
    graph_run_allocs(v.net, &io, 4); /* sizes the buffers */
    long four = graph_run_allocs(v.net, &io, 4), twelve = graph_run_allocs(v.net, &io, 12);
    ck_assert_msg(twelve == four, "%ld heap calls in runs of 12 batches, %ld in runs of 4",
                  twelve, four);
    views_net_free(&v);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(o);
}
END_TEST

/* The counter itself works: an allocation is seen. */
START_TEST(counter_counts) {
    atomic_store(&counting, 1);
    void *volatile p = malloc(4096);
    atomic_store(&counting, 0);
    free(p);
    ck_assert_int_eq(atomic_load(&allocs), 1);
    atomic_store(&allocs, 0);
}
END_TEST

int main(void) {
#ifdef NOALLOC_UNDER_ASAN
    fputs("SKIPPED: counting allocations needs malloc, which ASan owns\n", stderr);
    return 77;
#endif
    void *warm[2];
    trace = getenv("LT_NOALLOC_TRACE") != NULL;
    backtrace(warm, 2); /* its first call loads libgcc (allocating) */
    Suite *s = suite_create("conv_noalloc");
    TCase *tc = tcase_create("noalloc");
    tcase_add_test(tc, counter_counts);
    tcase_add_loop_test(tc, no_alloc_after_first_batch, 0, NNA);
    tcase_add_test(tc, net_with_views_no_alloc);
    tcase_add_test(tc, graph_with_views_no_alloc);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
