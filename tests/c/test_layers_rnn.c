/*
** test_layers_rnn.c -- SimpleRNN, LSTM, GRU and Embedding:
**  - every cell and option (return_sequences, go_backwards, use_bias, GRU's
**    reset_after both ways, activations) against a float64 reference
**    written here from Keras's formulas, with dx and every weight gradient
**    checked by central differences (gradcheck.c);
**  - forward and backward against PyTorch's nn.RNN/LSTM/GRU on random
**    shapes, to 1e-5: the reference file tests/data/rnn_torch.txt
**    (tests/data/make_rnn_torch.py; LT_RNN_TORCH_FILE names another, as the
**    live comparison does);
**  - Embedding: gather forward, scatter-add gradient, bad indices refused;
**  - keyword arguments: defaults, weight shapes and names, refusals;
**  - forward and backward bitwise identical with 1 and 2 threads (also
**    with a mask);
**  - masked (right-padded) batches against pack_padded_sequence
**    (tests/data/rnn_torch_masked.txt, make_rnn_torch.py --masked).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

/* ---- float64 reference of the three cells -------------------------------- */

enum { SIMPLE, LSTM, GRU };

typedef struct rcfg {
    int cell, relu, seq, back, reset_after, bias;
    double drop, rdrop; /* dropout, recurrent_dropout (training) */
    uint64_t seed;      /* the layer's generator, re-seeded before each forward */
    int state;          /* return_state: the final states are outputs too */
} rcfg;

/* The layer's dropout masks: keep where u >= rate, scaled by 1 / (1 - rate);
** the input mask [B][D] drawn first, then the recurrent one [B][U]. */
static double *mask(ln_rng *g, int64_t n, double rate) {
    double *m = malloc((size_t)(n ? n : 1) * sizeof *m);
    float *u = malloc((size_t)(n ? n : 1) * sizeof *u);
    ln_rng_uniform(g, u, n, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) m[i] = rate > 0 && u[i] < (float)rate ? 0 : 1 / (1 - rate);
    free(u);
    return m;
}

static double sig(double v) { return 1 / (1 + exp(-v)); }
static double act(const rcfg *c, double v) { return c->relu ? (v > 0 ? v : 0) : tanh(v); }

/* One layer: weights w (kernel, recurrent_kernel[, bias]), masks drawn
** from g; with c->state the final h (and LSTM's c) follow y, [B][U] each
** (return_state's outputs). */
static void ref_core(const rcfg *c, ln_rng *g, int64_t B, int64_t T, int64_t D, int64_t U,
                     int64_t GU, const double *x, const double *const *w, double *y) {
    double *hT = y + B * (c->seq ? T : 1) * U, *cT = hT + B * U;
    const double *W = w[0], *R = w[1], *bi = c->bias ? w[2] : NULL;
    const double *br = c->bias && c->cell == GRU && c->reset_after ? w[2] + GU : NULL;
    double *h = calloc((size_t)U, sizeof *h), *cs = calloc((size_t)U, sizeof *cs);
    double *p = calloc((size_t)GU, sizeof *p), *q = calloc((size_t)GU, sizeof *q);
    double *hn = calloc((size_t)U, sizeof *hn), *rh = calloc((size_t)U, sizeof *rh);
    double *hm = calloc((size_t)U, sizeof *hm), *xm = calloc((size_t)D, sizeof *xm);
    double *mx = c->drop > 0 ? mask(g, B * D, c->drop) : NULL;
    double *mh = c->rdrop > 0 ? mask(g, B * U, c->rdrop) : NULL;
    for (int64_t b = 0; b < B; b++) {
        memset(h, 0, (size_t)U * sizeof *h);
        memset(cs, 0, (size_t)U * sizeof *cs);
        for (int64_t s = 0; s < T; s++) {
            const double *xs = x + (b * T + (c->back ? T - 1 - s : s)) * D;
            for (int64_t k = 0; k < D; k++) xm[k] = xs[k] * (mx ? mx[b * D + k] : 1);
            for (int64_t k = 0; k < U; k++) hm[k] = h[k] * (mh ? mh[b * U + k] : 1);
            for (int64_t j = 0; j < GU; j++) {
                p[j] = bi ? bi[j] : 0;
                q[j] = br ? br[j] : 0;
                for (int64_t k = 0; k < D; k++) p[j] += xm[k] * W[k * GU + j];
                for (int64_t k = 0; k < U; k++) q[j] += hm[k] * R[k * GU + j];
            }
            if (c->cell == GRU) /* Keras (implementation 2): GRU reads h' masked */
                memcpy(h, hm, (size_t)U * sizeof *h);
            for (int64_t u = 0; u < U; u++) {
                if (c->cell == SIMPLE) {
                    hn[u] = act(c, p[u] + q[u]);
                } else if (c->cell == LSTM) {
                    double i = sig(p[u] + q[u]), f = sig(p[U + u] + q[U + u]);
                    double g = act(c, p[2 * U + u] + q[2 * U + u]);
                    double o = sig(p[3 * U + u] + q[3 * U + u]);
                    cs[u] = f * cs[u] + i * g;
                    hn[u] = o * act(c, cs[u]);
                } else {
                    rh[u] = sig(p[U + u] + q[U + u]) * h[u]; /* r h' */
                }
            }
            if (c->cell == GRU)
                for (int64_t u = 0; u < U; u++) {
                    double z = sig(p[u] + q[u]), r = sig(p[U + u] + q[U + u]), a;
                    if (c->reset_after) {
                        a = p[2 * U + u] + r * q[2 * U + u];
                    } else {
                        a = p[2 * U + u];
                        for (int64_t k = 0; k < U; k++) a += rh[k] * R[k * GU + 2 * U + u];
                    }
                    hn[u] = z * h[u] + (1 - z) * act(c, a);
                }
            memcpy(h, hn, (size_t)U * sizeof *h);
            if (c->seq) memcpy(y + (b * T + s) * U, h, (size_t)U * sizeof *h);
        }
        if (!c->seq) memcpy(y + b * U, h, (size_t)U * sizeof *h);
        if (c->state) memcpy(hT + b * U, h, (size_t)U * sizeof *h);
        if (c->state && c->cell == LSTM) memcpy(cT + b * U, cs, (size_t)U * sizeof *cs);
    }
    free(h), free(cs), free(p), free(q), free(hn), free(rh), free(hm), free(xm), free(mx),
        free(mh);
}

static void ref_rnn(const void *cfg, const ln_layer *l, int64_t B, const double *x,
                    const double *const *w, double *y) {
    const rcfg *c = cfg;
    ln_rng g;
    ln_rng_seed(&g, c->seed);
    ref_core(c, &g, B, ln_layer_input_shape(l, 0)->dim[0], ln_layer_input_shape(l, 0)->dim[1],
             ln_layer_weight(l, 1)->shape[0], ln_layer_weight(l, 0)->shape[1], x, w, y);
}

/* Bidirectional: the layer and its reversed copy (weights 0..n-1 and
** n..2n-1), the backward outputs back in input order, merged. */
typedef struct bcfg {
    rcfg c;
    int merge; /* 0 concat, 1 sum, 2 mul, 3 ave */
} bcfg;

static void ref_bidi(const void *cfg, const ln_layer *l, int64_t B, const double *x,
                     const double *const *w, double *y) {
    const bcfg *bc = cfg;
    rcfg back = bc->c;
    back.back = !back.back;
    const int64_t T = ln_layer_input_shape(l, 0)->dim[0], D = ln_layer_input_shape(l, 0)->dim[1];
    const int64_t U = ln_layer_weight(l, 1)->shape[0], GU = ln_layer_weight(l, 0)->shape[1];
    const int64_t S = bc->c.seq ? T : 1, n = ln_layer_weight_count(l) / 2;
    double *yf = calloc((size_t)(B * S * U), sizeof *yf), *yb = calloc((size_t)(B * S * U), sizeof *yb);
    ln_rng g;
    ln_rng_seed(&g, bc->c.seed);
    ref_core(&bc->c, &g, B, T, D, U, GU, x, w, yf);
    ref_core(&back, &g, B, T, D, U, GU, x, w + n, yb);
    for (int64_t i = 0; i < B * S; i++) {
        int64_t j = bc->c.seq ? i - i % S + (S - 1 - i % S) : i;
        for (int64_t u = 0; u < U; u++) {
            double a = yf[i * U + u], b = yb[j * U + u];
            if (bc->merge == 0) y[i * 2 * U + u] = a, y[i * 2 * U + U + u] = b;
            else y[i * U + u] = bc->merge == 1 ? a + b : bc->merge == 2 ? a * b : (a + b) / 2;
        }
    }
    free(yf), free(yb);
}

typedef struct gcase {
    const char *label, *unit, *spec;
    int64_t shape[3]; /* batch, timesteps, features */
    rcfg cfg;
    int merge; /* Bidirectional: 1 + merge mode; 0: not one */
} gcase;

static const gcase cases[] = {
    {"simple_rnn", "simple_rnn", "#1=4", {3, 4, 3}, {SIMPLE, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 0},
    {"simple_rnn sequences backwards", "simple_rnn",
     "#1=4 return_sequences=true go_backwards=true", {2, 5, 3}, {SIMPLE, 0, 1, 1, 0, 1, 0, 0, 0, 0}, 0},
    {"simple_rnn no bias sequences", "simple_rnn", "units=3 use_bias=false return_sequences=true",
     {3, 3, 2}, {SIMPLE, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0},
    {"lstm", "lstm", "#1=3", {2, 4, 3}, {LSTM, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 0},
    {"lstm sequences", "lstm", "#1=3 return_sequences=true", {3, 3, 2}, {LSTM, 0, 1, 0, 0, 1, 0, 0, 0, 0}, 0},
    {"lstm backwards no bias", "lstm", "#1=4 go_backwards=true use_bias=false", {2, 4, 3},
     {LSTM, 0, 0, 1, 0, 0, 0, 0, 0, 0}, 0},
    {"lstm sequences backwards", "lstm", "#1=2 return_sequences=true go_backwards=true",
     {2, 5, 2}, {LSTM, 0, 1, 1, 0, 1, 0, 0, 0, 0}, 0},
    {"gru (reset_after)", "gru", "#1=3", {2, 4, 3}, {GRU, 0, 0, 0, 1, 1, 0, 0, 0, 0}, 0},
    {"gru sequences backwards", "gru", "#1=3 return_sequences=true go_backwards=true",
     {3, 3, 2}, {GRU, 0, 1, 1, 1, 1, 0, 0, 0, 0}, 0},
    {"gru reset_after=false", "gru", "#1=3 reset_after=false", {2, 4, 3},
     {GRU, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 0},
    {"gru reset_after=false sequences no bias", "gru",
     "#1=4 reset_after=false return_sequences=true use_bias=false", {2, 3, 3},
     {GRU, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0},
    {"gru reset_after no bias", "gru", "#1=2 use_bias=false", {2, 3, 2},
     {GRU, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 0},
    {"simple_rnn dropout recurrent_dropout", "simple_rnn",
     "#1=4 dropout=0.3 recurrent_dropout=0.4 return_sequences=true", {3, 4, 3},
     {SIMPLE, 0, 1, 0, 0, 1, 0.3, 0.4, 31, 0}, 0},
    {"lstm dropout recurrent_dropout", "lstm", "#1=3 dropout=0.25 recurrent_dropout=0.5",
     {3, 4, 3}, {LSTM, 0, 0, 0, 0, 1, 0.25, 0.5, 32, 0}, 0},
    {"lstm recurrent_dropout backwards", "lstm",
     "#1=3 recurrent_dropout=0.3 go_backwards=true return_sequences=true", {2, 4, 2},
     {LSTM, 0, 1, 1, 0, 1, 0, 0.3, 33, 0}, 0},
    {"gru dropout recurrent_dropout", "gru", "#1=3 dropout=0.3 recurrent_dropout=0.4",
     {3, 4, 3}, {GRU, 0, 0, 0, 1, 1, 0.3, 0.4, 34, 0}, 0},
    {"gru reset_after=false dropout recurrent_dropout", "gru",
     "#1=3 reset_after=false dropout=0.2 recurrent_dropout=0.5 return_sequences=true",
     {2, 4, 3}, {GRU, 0, 1, 0, 0, 1, 0.2, 0.5, 35, 0}, 0},
    {"lstm return_state", "lstm", "#1=3 return_state=true", {2, 4, 3},
     {LSTM, 0, 0, 0, 0, 1, 0, 0, 0, 1}, 0},
    {"lstm return_state sequences backwards dropout", "lstm",
     "#1=3 return_state=true return_sequences=true go_backwards=true dropout=0.2 "
     "recurrent_dropout=0.3", {2, 4, 3}, {LSTM, 0, 1, 1, 0, 1, 0.2, 0.3, 37, 1}, 0},
    {"gru return_state sequences", "gru", "#1=3 return_state=true return_sequences=true",
     {3, 3, 2}, {GRU, 0, 1, 0, 1, 1, 0, 0, 0, 1}, 0},
    {"gru reset_after=false return_state", "gru", "#1=2 return_state=true reset_after=false",
     {2, 4, 2}, {GRU, 0, 0, 0, 0, 1, 0, 0, 0, 1}, 0},
    {"simple_rnn return_state sequences", "simple_rnn",
     "#1=4 return_state=true return_sequences=true", {2, 3, 3},
     {SIMPLE, 0, 1, 0, 0, 1, 0, 0, 0, 1}, 0},
    {"bidirectional lstm concat", "bidirectional", "layer={name=lstm units=3}", {2, 4, 3},
     {LSTM, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 1},
    {"bidirectional gru sequences sum", "bidirectional",
     "layer={name=gru units=3 return_sequences=true} merge_mode=sum", {2, 4, 2},
     {GRU, 0, 1, 0, 1, 1, 0, 0, 0, 0}, 2},
    {"bidirectional simple_rnn sequences mul", "bidirectional",
     "#1={name=simple_rnn units=3 return_sequences=true} merge_mode=mul", {3, 3, 2},
     {SIMPLE, 0, 1, 0, 0, 1, 0, 0, 0, 0}, 3},
    {"bidirectional lstm go_backwards ave dropout", "bidirectional",
     "layer={name=lstm units=2 go_backwards=true dropout=0.2 recurrent_dropout=0.3} "
     "merge_mode=ave", {2, 3, 3}, {LSTM, 0, 0, 1, 0, 1, 0.2, 0.3, 36, 0}, 4},
};
#define NCASES ((int)(sizeof cases / sizeof *cases))

/* Case c on a random x of shape (nd dims) against ref (with cfg); the
** random x, weights and output gradient drawn from seeds salt, salt + 100,
** salt + 200. */
static void check_case(const gcase *c, int nd, const int64_t *shape, lt_ref_forward ref,
                       const void *cfg, uint64_t salt) {
    ln_layer *l = lt_layer(c->unit, c->spec);
    ln_rng own;
    ln_rng_seed(&own, 1);
    ln_layer_set_rng(l, &own);
    ln_tensor *x = lt_uniform(nd, shape, -1.5f, 1.5f, salt);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ck_assert_msg(lt_build(&ctx, l, nd - 1, shape + 1) == LN_OK, "%s: %s", c->label, ctx.msg);
    lt_fill_weights(l, -0.6f, 0.6f, salt + 100);
    lt_layer_case lc = {
        .layer = l, .x = x, .flags = LN_TRAINING, .ref = ref, .cfg = cfg,
        .reseed = c->cfg.seed != 0, .seed = c->cfg.seed,
        .fwd_tol = 2e-6, .ref_opts = lt_gc_ref_defaults(),
        .layer_opts = lt_gc_float_defaults(), .r_seed = salt + 200,
    };
    lt_gc_report rep;
    ck_assert_msg(lt_layer_gradcheck(&lc, &rep), "%s: %s", c->label, rep.msg);
    ck_assert_msg(rep.checked > 0, "%s: nothing checked", c->label);
    if (getenv("LT_VERBOSE"))
        fprintf(stderr, "%-45s %4lld derivatives, worst error/tolerance %.3f\n", c->label,
                (long long)rep.checked, rep.worst);
    ln_layer_free(l);
    ln_tensor_release(x);
}

START_TEST(gradient) {
    const gcase *c = &cases[_i];
    bcfg bc = {c->cfg, c->merge - 1};
    check_case(c, 3, c->shape, c->merge ? ref_bidi : ref_rnn,
               c->merge ? (const void *)&bc : (const void *)&c->cfg, 100 + (uint64_t)_i);
}
END_TEST

/* ---- TimeDistributed ----------------------------------------------------------

** TimeDistributed(RNN) on (batch, S, T, D): the recurrent layer on each of
** the batch * S sequences, with one set of weights. */
static void ref_tdist(const void *cfg, const ln_layer *l, int64_t B, const double *x,
                      const double *const *w, double *y) {
    const rcfg *c = cfg;
    const ln_shape *in = ln_layer_input_shape(l, 0);
    ln_rng g;
    ln_rng_seed(&g, c->seed);
    ref_core(c, &g, B * in->dim[0], in->dim[1], in->dim[2], ln_layer_weight(l, 1)->shape[0],
             ln_layer_weight(l, 0)->shape[1], x, w, y);
}

static const gcase td_cases[] = {
    {"time_distributed lstm", "time_distributed", "layer={name=lstm units=3}", {2, 3, 3},
     {LSTM, 0, 0, 0, 0, 1, 0, 0, 0, 0}, 0},
    {"time_distributed gru sequences dropout", "time_distributed",
     "#1={name=gru units=2 return_sequences=true dropout=0.2}", {3, 2, 2},
     {GRU, 0, 1, 0, 1, 1, 0.2, 0, 41, 0}, 0},
};

START_TEST(time_distributed_gradient) {
    const gcase *c = &td_cases[_i];
    int64_t shape[4] = {c->shape[0], 2, c->shape[1], c->shape[2]}; /* S = 2 */
    check_case(c, 4, shape, ref_tdist, &c->cfg, 500 + (uint64_t)_i);
}
END_TEST

/* ---- PyTorch reference file ------------------------------------------------ */

typedef struct tcase {
    char name[512], unit[32], spec[256];
    int64_t b, t, d, u;
    double *v[10];
    int64_t n[10];
    double *mask; /* masked cases: (b, t) 1 keep, 0 padded; else NULL */
    int64_t nmask;
} tcase;

static const char *const keys[10] = {"x", "kernel", "recurrent_kernel", "bias", "r",
                                     "y", "dx", "dkernel", "drecurrent_kernel", "dbias"};

static double *read_values(FILE *f, const char *name, const char *want, int64_t *n) {
    char key[32];
    ck_assert_msg(fscanf(f, " %31s %ld", key, n) == 2 && !strcmp(key, want),
                  "%s: expected '%s'", name, want);
    double *v = malloc((size_t)(*n ? *n : 1) * sizeof(double));
    for (int64_t i = 0; i < *n; i++) ck_assert(fscanf(f, " %lf", &v[i]) == 1);
    return v;
}

/* Read the next case of f into c (masked files: a "mask" after "x"); 0 at
** the end of the file. */
static int read_case(FILE *f, tcase *c, int masked) {
    char line[512];
    memset(c, 0, sizeof *c);
    do {
        if (!fgets(line, sizeof line, f)) return 0;
    } while (line[0] == '#' || strncmp(line, "case ", 5));
    line[strcspn(line, "\n")] = 0;
    snprintf(c->name, sizeof c->name, "%s", line + 5);
    ck_assert(fscanf(f, " unit %31s", c->unit) == 1);
    ck_assert(fscanf(f, " spec %255[^\n]", c->spec) == 1);
    ck_assert(fscanf(f, " shape %ld %ld %ld %ld", &c->b, &c->t, &c->d, &c->u) == 4);
    for (int k = 0; k < 10; k++) {
        c->v[k] = read_values(f, c->name, keys[k], &c->n[k]);
        if (k == 0 && masked) c->mask = read_values(f, c->name, "mask", &c->nmask);
    }
    return 1;
}

static void set_values(ln_tensor *t, const double *v, int64_t n, const char *what) {
    ck_assert_msg(t->numel == n, "%s: %lld values for %lld", what, (long long)n,
                  (long long)t->numel);
    for (int64_t i = 0; i < n; i++) ln_f32(t)[i] = (float)v[i];
}

/* |got - want| <= 1e-5 max(1, |want|) everywhere. */
static void expect_close(const char *name, const char *what, const float *got,
                         const double *want, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-5 * fmax(1.0, fabs(want[i]));
        ck_assert_msg(fabs(got[i] - want[i]) <= tol, "%s: %s[%lld] = %.9g, PyTorch %.9g",
                      name, what, (long long)i, got[i], want[i]);
    }
}

static int torch_case(const tcase *c) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = lt_layer(c->unit, c->spec);
    int64_t xs[3] = {c->b, c->t, c->d};
    ck_assert_msg(lt_build(&ctx, l, 2, xs + 1) == LN_OK, "%s: %s", c->name, ctx.msg);
    ck_assert_int_eq(ln_layer_weight_count(l), 3);
    for (int k = 0; k < 3; k++)
        set_values(ln_layer_weight(l, k), c->v[1 + k], c->n[1 + k], c->name);
    ln_tensor *x = ln_tensor_new(&ctx, LN_FLOAT32, 3, xs);
    set_values(x, c->v[0], c->n[0], c->name);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dx = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *mask = NULL;
    if (c->mask) { /* the mask of input 0, as the engine hands it over */
        mask = ln_tensor_new(&ctx, LN_FLOAT32, 2, xs);
        set_values(mask, c->mask, c->nmask, c->name);
        ln_layer_set_input_mask(l, mask);
    }
    ck_assert_msg(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING) == LN_OK, "%s", ctx.msg);
    ln_tensor *dy = ln_tensor_new(&ctx, LN_FLOAT32, y->ndim, y->shape);
    set_values(dy, c->v[4], c->n[4], c->name);
    expect_close(c->name, "y", ln_f32(y), c->v[5], c->n[5]);
    ck_assert_msg(ln_layer_backward1(&ctx, l, x, y, dy, dx, LN_TRAINING | LN_NEED_DW) == LN_OK,
                  "%s", ctx.msg);
    expect_close(c->name, "dx", ln_f32(dx), c->v[6], c->n[6]);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(ln_layer_grad(l, k)->numel, c->n[7 + k]);
        expect_close(c->name, keys[7 + k], ln_f32(ln_layer_grad(l, k)), c->v[7 + k],
                     c->n[7 + k]);
    }
    ln_layer_free(l);
    ln_tensor_release(x), ln_tensor_release(y), ln_tensor_release(dx), ln_tensor_release(dy);
    ln_tensor_release(mask);
    return 1;
}

/* Every case of a reference file (env: its variable naming another file,
** as the live comparisons do; else tests/data/<base>). */
static void torch_file(const char *env, const char *base, int masked) {
    char path[1024];
    const char *file = getenv(env);
    if (!file) {
        const char *src = getenv("LUNET_SOURCE_DIR");
        snprintf(path, sizeof path, "%s/tests/data/%s", src ? src : "../..", base);
        file = path;
    }
    FILE *f = fopen(file, "r");
    ck_assert_msg(f != NULL, "cannot open %s", file);
    tcase c;
    int n = 0, cells[3] = {0, 0, 0};
    while (read_case(f, &c, masked)) {
        n += torch_case(&c);
        cells[!strcmp(c.unit, "lstm") ? 1 : !strcmp(c.unit, "gru") ? 2 : 0]++;
        for (int k = 0; k < 10; k++) free(c.v[k]);
        free(c.mask);
    }
    fclose(f);
    ck_assert_msg(n >= 9 && cells[0] && cells[1] && cells[2], "only %d cases in %s", n, file);
    if (getenv("LT_VERBOSE")) fprintf(stderr, "%d PyTorch cases agree to 1e-5\n", n);
}

START_TEST(pytorch_reference) { torch_file("LT_RNN_TORCH_FILE", "rnn_torch.txt", 0); }
END_TEST

/* Right-padded batches with a mask against pack_padded_sequence. */
START_TEST(pytorch_masked) { torch_file("LT_RNN_TORCH_MASKED_FILE", "rnn_torch_masked.txt", 1); }
END_TEST

/* ---- Embedding ------------------------------------------------------------- */

START_TEST(embedding) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = lt_layer("embedding", "#1=7 #2=3");
    int64_t xs[2] = {4, 5};
    ck_assert_int_eq(lt_build(&ctx, l, 1, xs + 1), LN_OK);
    lt_weight w = lt_weight_at(l, 0);
    ck_assert_str_eq(w.name, "embeddings");
    ck_assert_int_eq(w.value->shape[0], 7);
    ck_assert_int_eq(w.value->shape[1], 3);
    for (int64_t i = 0; i < 21; i++) /* Keras's default: U(-0.05, 0.05) */
        ck_assert(fabsf(ln_f32(w.value)[i]) <= 0.05f);
    lt_fill_weights(l, -1, 1, 5);
    ln_tensor *x = ln_tensor_new(&ctx, LN_FLOAT32, 2, xs);
    for (int64_t i = 0; i < 20; i++) ln_f32(x)[i] = (float)((i * 5) % 7);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dx = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    ck_assert_int_eq(y->ndim, 3);
    ck_assert_int_eq(y->shape[2], 3);
    for (int64_t i = 0; i < 20; i++)
        for (int64_t c = 0; c < 3; c++)
            ck_assert(ln_f32(y)[i * 3 + c] == ln_f32(w.value)[((i * 5) % 7) * 3 + c]);
    ln_tensor *dy = lt_uniform(3, y->shape, -1, 1, 9);
    ck_assert_int_eq(ln_layer_backward1(&ctx, l, x, y, dy, dx, LN_NEED_DW), LN_OK);
    double want[21] = {0};
    for (int64_t i = 0; i < 20; i++)
        for (int64_t c = 0; c < 3; c++) want[((i * 5) % 7) * 3 + c] += ln_f32(dy)[i * 3 + c];
    for (int64_t k = 0; k < 21; k++)
        ck_assert(fabs(ln_f32(w.grad)[k] - want[k]) <= 1e-6);
    for (int64_t i = 0; i < dx->numel; i++) ck_assert(ln_f32(dx)[i] == 0);
    ln_f32(x)[7] = 7; /* out of range */
    ck_assert_int_ne(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    ck_assert_msg(strstr(ctx.msg, "index 7") && strstr(ctx.msg, "position 7"), "%s", ctx.msg);
    ln_ctx_clear(&ctx);
    ln_f32(x)[7] = 1.5f;
    ck_assert_int_ne(ln_layer_forward1(&ctx, l, x, y, 0), LN_OK);
    ck_assert_msg(strstr(ctx.msg, "1.5"), "%s", ctx.msg);
    ln_layer_free(l);
    ln_tensor_release(x), ln_tensor_release(y), ln_tensor_release(dx), ln_tensor_release(dy);
}
END_TEST

/* ---- arguments and layouts ---------------------------------------------------- */

START_TEST(layouts) {
    static const struct {
        const char *unit, *spec;
        const char *names[3];
        int64_t k1, r1, bnd, b0;
    } lay[] = {
        {"simple_rnn", "#1=5", {"simple_rnn_cell/kernel", "simple_rnn_cell/recurrent_kernel",
                                "simple_rnn_cell/bias"}, 5, 5, 1, 5},
        {"lstm", "#1=5", {"lstm_cell/kernel", "lstm_cell/recurrent_kernel", "lstm_cell/bias"},
         20, 20, 1, 20},
        {"gru", "#1=5", {"gru_cell/kernel", "gru_cell/recurrent_kernel", "gru_cell/bias"}, 15,
         15, 2, 2},
        {"gru", "#1=5 reset_after=false", {"gru_cell/kernel", "gru_cell/recurrent_kernel",
                                           "gru_cell/bias"}, 15, 15, 1, 15},
    };
    for (size_t i = 0; i < sizeof lay / sizeof *lay; i++) {
        ln_ctx ctx;
        ln_ctx_clear(&ctx);
        ln_layer *l = lt_layer(lay[i].unit, lay[i].spec);
        int64_t in[2] = {6, 4};
        ck_assert_int_eq(lt_build(&ctx, l, 2, in), LN_OK);
        for (int k = 0; k < 3; k++) ck_assert_str_eq(lt_weight_at(l, k).name, lay[i].names[k]);
        ln_tensor *k0 = ln_layer_weight(l, 0), *r = ln_layer_weight(l, 1), *b = ln_layer_weight(l, 2);
        ck_assert_int_eq(k0->shape[0], 4);
        ck_assert_int_eq(k0->shape[1], lay[i].k1);
        ck_assert_int_eq(r->shape[0], 5);
        ck_assert_int_eq(r->shape[1], lay[i].r1);
        ck_assert_int_eq(b->ndim, lay[i].bnd);
        ck_assert_int_eq(b->shape[0], lay[i].b0);
        /* orthogonal recurrent kernel: R R^T = I (rows 5 <= cols) */
        const float *rv = ln_f32(r);
        for (int64_t a = 0; a < 5; a++)
            for (int64_t c = 0; c < 5; c++) {
                double s = 0;
                for (int64_t j = 0; j < r->shape[1]; j++)
                    s += (double)rv[a * r->shape[1] + j] * rv[c * r->shape[1] + j];
                ck_assert_msg(fabs(s - (a == c)) < 1e-5, "%s: R R^T[%lld][%lld] = %g",
                              lay[i].unit, (long long)a, (long long)c, s);
            }
        for (int64_t j = 0; j < b->numel; j++) { /* LSTM: unit_forget_bias */
            float want = !strcmp(lay[i].unit, "lstm") && j >= 5 && j < 10 ? 1.0f : 0.0f;
            ck_assert(ln_f32(b)[j] == want);
        }
        ck_assert_int_eq(ln_layer_output_shape(l, 0)->nd, 1);
        ck_assert_int_eq(ln_layer_output_shape(l, 0)->dim[0], 5);
        ln_layer_free(l);
    }
    ck_assert(strstr(lt_layer_error("lstm", ""), "units"));
    ck_assert(strstr(lt_layer_error("lstm", "#1=0"), "units"));
    ck_assert(strstr(lt_layer_error("bidirectional", "layer={name=gru units=3 return_state=true}"),
                     "return_state"));
    ck_assert(strstr(lt_layer_error("bidirectional", "layer={name=lstm units=3 stateful=true}"),
                     "stateful"));
    ck_assert(strstr(lt_layer_error("lstm", "#1=3 dropout=1"), "dropout"));
    ck_assert(strstr(lt_layer_error("gru", "#1=3 recurrent_dropout=-0.1"), "recurrent_dropout"));
    ck_assert(strstr(lt_layer_error("lstm", "#1=3 activation=softmax"), "elementwise"));
    ck_assert(strstr(lt_layer_error("simple_rnn", "#1=3 recurrent_activation=sigmoid"),
                     "recurrent_activation"));
    ck_assert(strstr(lt_layer_error("embedding", "#1=10"), "output_dim"));
    ck_assert(strstr(lt_layer_error("masking", "mask_value=nan"), "mask_value"));
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = lt_layer("lstm", "#1=3");
    int64_t bad[1] = {4};
    ck_assert_int_ne(lt_build(&ctx, l, 1, bad), LN_OK);
    ck_assert_msg(strstr(ctx.msg, "timesteps"), "%s", ctx.msg);
    ln_layer_free(l);
}
END_TEST

/* ---- 1 vs 2 threads ------------------------------------------------------------ */

static float *det_run(const char *unit, const char *spec, int masked, int threads,
                      int64_t *len) {
    ln_set_num_threads(threads);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = lt_layer(unit, spec);
    ln_rng own;
    ln_rng_seed(&own, 3);
    ln_layer_set_rng(l, &own);
    int64_t xs[3] = {64, 12, 40};
    ln_tensor *x = lt_uniform(3, xs, -1, 1, 11);
    ck_assert_int_eq(lt_build(&ctx, l, 2, xs + 1), LN_OK);
    lt_fill_weights(l, -0.3f, 0.3f, 12);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dx = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *mask = masked ? ln_tensor_new(&ctx, LN_FLOAT32, 2, xs) : NULL;
    for (int64_t b = 0; masked && b < xs[0]; b++) /* right-padded, lengths 1..12 */
        for (int64_t t = 0; t < xs[1]; t++) ln_f32(mask)[b * xs[1] + t] = t <= (b * 5) % 12;
    if (mask) ln_layer_set_input_mask(l, mask);
    ck_assert_msg(ln_layer_forward1(&ctx, l, x, y, LN_TRAINING) == LN_OK, "%s", ctx.msg);
    ln_tensor *dy = lt_uniform(y->ndim, y->shape, -1, 1, 13);
    ck_assert_msg(ln_layer_backward1(&ctx, l, x, y, dy, dx, LN_TRAINING | LN_NEED_DW) == LN_OK,
                  "%s", ctx.msg);
    int64_t n = y->numel + dx->numel;
    for (int k = 0; k < ln_layer_weight_count(l); k++) n += ln_layer_grad(l, k)->numel;
    float *out = malloc((size_t)n * sizeof *out), *p = out;
    memcpy(p, ln_f32(y), (size_t)y->numel * sizeof *p), p += y->numel;
    memcpy(p, ln_f32(dx), (size_t)dx->numel * sizeof *p), p += dx->numel;
    for (int k = 0; k < ln_layer_weight_count(l); k++) {
        ln_tensor *g = ln_layer_grad(l, k);
        memcpy(p, ln_f32(g), (size_t)g->numel * sizeof *p), p += g->numel;
    }
    *len = n;
    ln_layer_free(l);
    ln_tensor_release(x), ln_tensor_release(y), ln_tensor_release(dy), ln_tensor_release(dx);
    ln_tensor_release(mask);
    return out;
}

START_TEST(threads_bitwise) {
    static const char *const units[][2] = {{"simple_rnn", "#1=64 return_sequences=true"},
                                           {"lstm", "#1=96 dropout=0.2 recurrent_dropout=0.3"},
                                           {"gru", "#1=80 return_sequences=true"},
                                           {"gru", "#1=48 reset_after=false"},
                                           {"lstm", "#1=96 return_sequences=true"}, /* masked */
                                           {"gru", "#1=80 go_backwards=true"}};     /* masked */
    int64_t n1, n2;
    int masked = _i >= 4;
    float *a = det_run(units[_i][0], units[_i][1], masked, 1, &n1);
    float *b = det_run(units[_i][0], units[_i][1], masked, 2, &n2);
    ln_set_num_threads(2);
    ck_assert_int_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, (size_t)n1 * sizeof *a) == 0, "%s{%s}: 1 and 2 threads differ",
                  units[_i][0], units[_i][1]);
    free(a), free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers_rnn");
    TCase *tc = tcase_create("rnn");
    tcase_add_loop_test(tc, gradient, 0, NCASES);
    tcase_add_loop_test(tc, time_distributed_gradient, 0, 2);
    tcase_add_test(tc, pytorch_reference);
    tcase_add_test(tc, pytorch_masked);
    tcase_add_test(tc, embedding);
    tcase_add_test(tc, layouts);
    tcase_add_loop_test(tc, threads_bitwise, 0, 6);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
