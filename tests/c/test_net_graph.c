/*
** Graph nets (lunet/engine/net_graph.h): weight gradients of a layer
** shared by two nodes and of a tensor feeding several nodes against
** central differences of the graph's own loss; several outputs with loss
** weights; the same bits with 1 and 2 threads; nodes out of topological
** order and missing targets refused with a message naming them.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"
#include "lunet/engine/net_graph.h"

static ln_ctx ctx;

#define B 6
#define D 4

/* x -> s(x) = a; s(a) = b (s shared); t(x) = c (x feeds s and t);
** out1 = o(add(a, b, c)); out2 = c. Tensors: 0 x, 1 a, 2 b, 3 c, 4 sum, 5 out1. */
typedef struct graph {
    ln_layer *s, *t, *add, *o;
    ln_net *net;
    ln_object *loss1, *loss2;
    ln_tensor *x, *y1, *y2;
} graph;

static void graph_init(graph *g, int feat, uint64_t seed) {
    ln_rng_seed(ln_rng_global(), seed);
    int64_t d = feat;
    char spec[64];
    snprintf(spec, sizeof spec, "#1=%d activation=tanh", feat);
    g->s = lt_layer("dense", spec);
    g->t = lt_layer("dense", spec);
    g->o = lt_layer("dense", "#1=2");
    g->add = lt_layer("add", "");
    ck_assert_int_eq(lt_build(&ctx, g->s, 1, &d), LN_OK);
    ck_assert_int_eq(lt_build(&ctx, g->t, 1, &d), LN_OK);
    ck_assert_int_eq(lt_build(&ctx, g->o, 1, &d), LN_OK);
    ln_shape in[3] = {{1, {feat}}, {1, {feat}}, {1, {feat}}};
    ck_assert_int_eq(ln_layer_build(&ctx, g->add, 3, in), LN_OK);
    ln_layer *ls[4] = {g->s, g->t, g->add, g->o};
    static const int i0[] = {0}, i1[] = {1}, i_add[] = {1, 2, 3}, i4[] = {4};
    const ln_net_node nodes[] = {{0, 1, i0}, {0, 1, i1}, {1, 1, i0}, {2, 3, i_add},
                                 {3, 1, i4}};
    int outs[2] = {5, 3};
    g->net = ln_net_new(&ctx);
    ck_assert_msg(ln_net_set_graph(&ctx, g->net, 4, ls, 1, 5, nodes, 2, outs) == LN_OK, "%s",
                  ctx.msg);
    g->loss1 = ln_object_new(&ctx, LN_KIND_LOSS, "mean_squared_error", NULL);
    g->loss2 = ln_object_new(&ctx, LN_KIND_LOSS, "mean_squared_error", NULL);
    ck_assert_int_eq(ln_net_set_output_loss(&ctx, g->net, 0, g->loss1, 0.7), LN_OK);
    ck_assert_int_eq(ln_net_set_output_loss(&ctx, g->net, 1, g->loss2, 0.3), LN_OK);
    g->x = lt_uniform(2, (int64_t[]){B, feat}, -1, 1, seed + 1);
    g->y1 = lt_uniform(2, (int64_t[]){B, 2}, -1, 1, seed + 2);
    g->y2 = lt_uniform(2, (int64_t[]){B, feat}, -1, 1, seed + 3);
}

static void graph_free(graph *g) {
    ln_net_free(g->net);
    ln_layer_free(g->s), ln_layer_free(g->t), ln_layer_free(g->add), ln_layer_free(g->o);
    ln_object_free(g->loss1), ln_object_free(g->loss2);
    ln_tensor_release(g->x), ln_tensor_release(g->y1), ln_tensor_release(g->y2);
}

static ln_net_io io_of(graph *g, const ln_tensor **xs, const ln_tensor **ys) {
    xs[0] = g->x;
    ys[0] = g->y1;
    ys[1] = g->y2;
    return (ln_net_io){1, xs, 2, ys, NULL};
}

static double graph_loss(void *user) {
    graph *g = user;
    const ln_tensor *xs[1], *ys[2];
    ln_net_io io = io_of(g, xs, ys);
    ln_net_run run;
    ck_assert_int_eq(ln_net_graph_test_run(&ctx, g->net, &io, 0, B, B, -1, 0, &run), LN_OK);
    return run.loss;
}

START_TEST(shared_and_fanout_gradients) {
    graph g;
    graph_init(&g, D, 5);
    const ln_tensor *xs[1], *ys[2];
    ln_net_io io = io_of(&g, xs, ys);
    ln_net_run run;
    ck_assert_msg(ln_net_graph_train_run(&ctx, g.net, &io, NULL, 0, B, B, 0, -1, 0, &run) == LN_OK,
                  "%s", ctx.msg);
    /* the loss is 0.7 * mse1 + 0.3 * mse2, both outputs reported */
    double r[8];
    ck_assert_int_eq(ln_net_graph_results(g.net, r, 8), 3);
    ck_assert_double_eq_tol(r[0], 0.7 * r[1] + 0.3 * r[2], 1e-9);
    float *grads[6];
    lt_gc_var vars[6];
    ln_layer *ls[3] = {g.s, g.t, g.o};
    int nv = 0;
    for (int k = 0; k < 3; k++)
        for (int w = 0; w < 2; w++) {
            ln_tensor *gr = ln_layer_grad(ls[k], w), *v = ln_layer_weight(ls[k], w);
            grads[nv] = malloc((size_t)gr->numel * sizeof(float));
            memcpy(grads[nv], ln_f32(gr), (size_t)gr->numel * sizeof(float));
            vars[nv] = (lt_gc_var){ln_layer_weight_name(ls[k], w), v->numel, NULL, ln_f32(v),
                                   grads[nv]};
            nv++;
        }
    lt_gc_opts o = lt_gc_float_defaults();
    lt_gc_report rep;
    ck_assert_msg(lt_gradcheck(graph_loss, &g, vars, nv, &o, &rep), "%s", rep.msg);
    for (int i = 0; i < nv; i++) free(grads[i]);
    graph_free(&g);
}
END_TEST

/* Training steps with the optimizer give the same bits with 1 and 2 threads. */
START_TEST(threads_do_not_change_numbers) {
    float *keep[2];
    int64_t n = 0;
    for (int t = 1; t <= 2; t++) {
        ln_set_num_threads(t);
        graph g;
        graph_init(&g, 600, 9);
        ln_optimizer *opt = ln_optimizer_new(&ctx, "sgd", lt_args("learning_rate=0.05"));
        ln_tensor *vars[6], *grads[6];
        ln_layer *ls[3] = {g.s, g.t, g.o};
        for (int k = 0; k < 3; k++)
            for (int w = 0; w < 2; w++) {
                vars[k * 2 + w] = ln_layer_weight(ls[k], w);
                grads[k * 2 + w] = ln_layer_grad(ls[k], w);
            }
        ck_assert_int_eq(ln_net_set_optimizer(&ctx, g.net, opt, 6, vars, grads, NULL), LN_OK);
        const ln_tensor *xs[1], *ys[2];
        ln_net_io io = io_of(&g, xs, ys);
        ln_net_run run;
        for (int step = 0; step < 3; step++)
            ck_assert_int_eq(ln_net_graph_train_run(&ctx, g.net, &io, NULL, 0, B, 2, 1, -1, 0,
                                                    &run), LN_OK);
        n = vars[0]->numel;
        keep[t - 1] = malloc((size_t)n * sizeof(float));
        memcpy(keep[t - 1], ln_f32(vars[0]), (size_t)n * sizeof(float));
        graph_free(&g);
        ln_optimizer_free(opt);
    }
    ck_assert_mem_eq(keep[0], keep[1], (size_t)n * sizeof(float));
    free(keep[0]), free(keep[1]);
    ln_set_num_threads(2);
}
END_TEST

START_TEST(bad_graphs) {
    ln_layer *d = lt_layer("dense", "#1=3");
    int64_t f = 3;
    ck_assert_int_eq(lt_build(&ctx, d, 1, &f), LN_OK);
    static const int later[] = {2};
    const ln_net_node nodes[] = {{0, 1, later}};
    int out = 1;
    ln_net *net = ln_net_new(&ctx);
    ck_assert_int_eq(ln_net_set_graph(&ctx, net, 1, &d, 1, 1, nodes, 1, &out), LN_E_ARG);
    ck_assert_msg(strstr(ctx.msg, "topological") && strstr(ctx.msg, "Dense"), "%s", ctx.msg);
    static const int first[] = {0};
    const ln_net_node ok[] = {{0, 1, first}};
    ck_assert_int_eq(ln_net_set_graph(&ctx, net, 1, &d, 1, 1, ok, 1, &out), LN_OK);
    ln_object *loss = ln_object_new(&ctx, LN_KIND_LOSS, "mean_squared_error", NULL);
    ck_assert_int_eq(ln_net_set_output_loss(&ctx, net, 0, loss, 1), LN_OK);
    ln_tensor *x = lt_uniform(2, (int64_t[]){4, 3}, -1, 1, 1);
    const ln_tensor *xs[1] = {x}, *ys[1] = {NULL};
    ln_net_io io = {1, xs, 1, ys, NULL};
    ln_net_run run;
    ck_assert_int_ne(ln_net_graph_test_run(&ctx, net, &io, 0, 4, 2, -1, 0, &run), LN_OK);
    ck_assert_msg(strstr(ctx.msg, "target 1"), "%s", ctx.msg);
    /* a graph net refuses the chain's calls */
    ck_assert_int_ne(ln_net_test_batch(&ctx, net, x, x, NULL, 0, 4, NULL), LN_OK);
    ck_assert_msg(strstr(ctx.msg, "graph"), "%s", ctx.msg);
    ln_tensor_release(x);
    ln_object_free(loss);
    ln_net_free(net);
    ln_layer_free(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("net_graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, shared_and_fanout_gradients);
    tcase_add_test(tc, threads_do_not_change_numbers);
    tcase_add_test(tc, bad_graphs);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
