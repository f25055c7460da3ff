/*
** recurrent.c -- SimpleRNN, LSTM and GRU (Keras 2 semantics and weight
** layouts), one plugin with three units sharing the time loop.
**
** Input (batch, timesteps, features); output (batch, units), or with
** return_sequences (batch, timesteps, units); with return_state the final
** states follow as outputs 1 (h) and 2 (LSTM's c). stateful: the final
** states of a batch are kept as the initial states of the next one (until
** reset_states). Weights as tf.keras 2 stores
** them, gates side by side along the last axis:
**   kernel (features, G*units), recurrent_kernel (units, G*units),
**   bias (G*units) -- GRU with reset_after: (2, G*units), row 0 for the
**   input projection, row 1 for the recurrent one (PyTorch's b_ih, b_hh).
** Gate order: LSTM i, f, c, o (G = 4); GRU z, r, h (G = 3); SimpleRNN one.
**
**   SimpleRNN  h = act(x W + b + h' R)
**   LSTM       i, f, o = ract(.), g = act(.); c = f c' + i g; h = o act(c)
**   GRU        z, r = ract(.); reset_after: hh = act(x W_h + b_h + r (h' R_h + b'_h))
**              else: hh = act(x W_h + b_h + (r h') R_h); h = z h' + (1 - z) hh
**
** How it runs: a batch is cut into row slices fixed by its size (one per
** 16 rows, at most 8; rnn_slices), each slice a task that does everything
** below over its own rows in buffers of its own, so a thread team runs them
** side by side. A slice copies its input time-major (reversed for
** go_backwards); its projection for all steps is one GEMM per gate (bias in
** the epilogue) written gate-major, [G][T][rows][units], so each gate of
** each step is a contiguous block: a step's recurrent product h R is ONE
** GEMM for every gate (80 columns at 20 units fill the vectors; four of 20
** did not), added into the blocks; the activations (any elementwise
** activation unit) run over whole blocks, the gate arithmetic in fused
** vectorised kernels. Backward through time walks the steps in reverse,
** gathering each step's gate gradients side by side ([T][rows][G*units]):
** dh' is one GEMM with R^T (transposed once per batch, so no step packs
** it), and after the loop dx is one GEMM with W^T and each weight gradient
** one GEMM for every gate over the slice's steps; the slices' weight
** gradients are then added in slice order (results do not depend on the
** thread count). For a recurrent kernel too large to be read by every
** slice at every step there is one slice, and a team cuts its per-step
** GEMMs into fixed blocks of output columns, its long ones by gate.
**
** Masks (Keras 2: Masking, Embedding(mask_zero)): a masked step of a
** sample leaves its states as they were (h(s+1) = h(s), c too), so its
** output is the previous output; backward passes the state gradients
** through such a step unchanged and gives it no gate gradient (nothing
** reaches the weights or that step's input). With return_sequences the
** mask goes on to the next layer, else it is dropped. Bidirectional with
** return_sequences outputs zeros at masked steps (tf.keras's
** zero_output_for_mask).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lunet/gemm.h"
#include "lunet/plugin_util.h"

enum { CELL_SIMPLE, CELL_LSTM, CELL_GRU };

/* A batch's row slices (rnn_slices): one per RNN_SLICE_ROWS rows, at
** most RNN_MAX_SLICES. */
#define RNN_SLICE_ROWS 16
#define RNN_MAX_SLICES 8

typedef struct rnn {
    int cell, gates;
    int64_t units;
    ln_activation *act, *ract; /* ract NULL for SimpleRNN */
    int use_bias, return_sequences, go_backwards, reset_after, forget_bias;
    int return_state, stateful;
    const char *kinit, *rinit, *binit;
    ln_args *kinit_args, *rinit_args, *binit_args;
    double kl1, kl2, rl1, rl2, bl1, bl2;
    int kernel, rkernel, bias;
    double dropout, rdropout;
    int xmasked, hmasked; /* whether the last forward applied the masks */
    /* dropout masks (kept, scaled by 1 / (1 - rate)) */
    ln_tensor *xmask;  /* [B][D] */
    ln_tensor *hmask;  /* [B][U] */
    ln_tensor *hm;     /* sliced [T][B][U] masked states h(s) * hmask */
    /* stateful: the final states of the last batch, [B][U] (h; LSTM's c),
    ** the initial states of the next; state_batch their B (0: none) */
    ln_tensor *sh, *sc;
    int64_t state_batch;
    /* The last forward's row slices (rnn_slices; its backward runs the
    ** same). The buffers below are "sliced": each slice's rows in a region
    ** of its own (slice_buffer), [B] meaning the slice's rows. */
    int64_t nslices;
    int keep_state; /* the forward starts from sh/sc (stateful), not zeros */
    /* forward buffers (kept for backward) */
    ln_tensor *xt;   /* [T][B][D] input, processing order */
    ln_tensor *pre;  /* [G][T][B][U] gate pre-activations */
    ln_tensor *gate; /* [G][T][B][U] activated gates */
    ln_tensor *h;    /* [T+1][B][U] hidden states, h[0] the initial ones */
    ln_tensor *c;    /* LSTM: [T+1][B][U] cell states */
    ln_tensor *tc;   /* LSTM: [T+1][B][U] act(c) */
    ln_tensor *hp;   /* GRU reset_after: [T][B][U] h' R_h + b'_h; else r h' */
    ln_tensor *rprod; /* [B][G*U] a step's h(s) R, before it joins the gates */
    /* whole-batch [B][U]: h(T) and LSTM's c(T) (return_state, stateful) */
    ln_tensor *hlast, *clast;
    /* backward buffers */
    ln_tensor *dpre; /* [G][B][U] a step's gradients of the pre-activations */
    ln_tensor *dhp;  /* GRU reset_after: [T][B][U] gradient of hp */
    ln_tensor *dh, *dh2, *dc, *tmp; /* [B][U] */
    ln_tensor *dxt;  /* [T][B][D] */
    ln_tensor *dall; /* [T][B][G*U] those of every step, the gates side by side */
    ln_tensor *part; /* [slices][...] each slice's weight gradients (sum_parts) */
    ln_tensor *gws;  /* GEMM workspaces of the row slices (rnn_slices) */
    ln_tensor *rt, *wt; /* R^T [G*U][U] and W^T [G*U][D] for backward's products:
                           read in place, not packed again at every step */
    /* masks: stepmasked when the last forward had one; tmask [T][B] its
    ** values in processing order; msave [2][B][U] the gradients a masked
    ** step passes through */
    int stepmasked;
    ln_tensor *tmask, *msave; /* msave sliced */
} rnn;

/* ---- keyword arguments ------------------------------------------------------ */

/* A boolean option lunet does not implement yet: only false is accepted. */
static ln_status false_only(ln_ctx *ctx, ln_args *a, const char *key,
                            const char *why) {
    int v;
    ln_status st = ln_args_bool(ctx, a, key, 0, &v);
    if (st == LN_OK && v)
        return ln_fail(ctx, LN_E_ARG, "'%s = true' is not supported yet (%s)",
                       key, why);
    return st;
}

/* Read the keyword arguments of a cell into r. */
static ln_status rnn_read(ln_ctx *ctx, rnn *r, ln_args *a, int cell) {
    ln_status st;
    int64_t units, impl;
    int unroll;
    r->cell = cell;
    r->gates = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
    if ((st = ln_args_positional(ctx, a, 1, "units"))) return st;
    if (!ln_args_has(a, "units"))
        return ln_fail(ctx, LN_E_ARG, "missing required argument 'units'");
    if ((st = ln_args_int(ctx, a, "units", 0, &units))) return st;
    if (units <= 0 || units > (1 << 24))
        return ln_fail(ctx, LN_E_ARG,
                       "'units' must be an integer in [1, 16777216], got %lld",
                       (long long)units);
    r->units = units;
    if ((st = lu_activation(ctx, a, "activation", "tanh", &r->act))) return st;
    if (cell != CELL_SIMPLE &&
        (st = lu_activation(ctx, a, "recurrent_activation", "sigmoid", &r->ract)))
        return st;
    if (!ln_activation_ops_of(r->act)->elementwise ||
        (r->ract && !ln_activation_ops_of(r->ract)->elementwise))
        return ln_fail(ctx, LN_E_ARG,
                       "activation and recurrent_activation must be elementwise "
                       "(got '%s')", ln_activation_name(r->act));
    if ((st = ln_args_bool(ctx, a, "use_bias", 1, &r->use_bias)) ||
        (st = lu_initializer(ctx, a, "kernel_initializer", "glorot_uniform",
                             &r->kinit, &r->kinit_args)) ||
        (st = lu_initializer(ctx, a, "recurrent_initializer", "orthogonal",
                             &r->rinit, &r->rinit_args)) ||
        (st = lu_initializer(ctx, a, "bias_initializer", "zeros", &r->binit,
                             &r->binit_args)))
        return st;
    if (cell == CELL_LSTM &&
        (st = ln_args_bool(ctx, a, "unit_forget_bias", 1, &r->forget_bias)))
        return st;
    if (cell == CELL_GRU &&
        (st = ln_args_bool(ctx, a, "reset_after", 1, &r->reset_after)))
        return st;
    if ((st = ln_args_regularizer(ctx, a, "kernel_regularizer", &r->kl1, &r->kl2)) ||
        (st = ln_args_regularizer(ctx, a, "recurrent_regularizer", &r->rl1, &r->rl2)) ||
        (st = ln_args_regularizer(ctx, a, "bias_regularizer", &r->bl1, &r->bl2)) ||
        (st = lu_nil_only(ctx, a, "activity_regularizer")) ||
        (st = lu_nil_only(ctx, a, "kernel_constraint")) ||
        (st = lu_nil_only(ctx, a, "recurrent_constraint")) ||
        (st = lu_nil_only(ctx, a, "bias_constraint")))
        return st;
    if ((st = ln_args_bool(ctx, a, "return_sequences", 0, &r->return_sequences)) ||
        (st = ln_args_bool(ctx, a, "go_backwards", 0, &r->go_backwards)) ||
        (st = ln_args_bool(ctx, a, "return_state", 0, &r->return_state)) ||
        (st = ln_args_bool(ctx, a, "stateful", 0, &r->stateful)) ||
        (st = false_only(ctx, a, "time_major", "inputs are batch-major")) ||
        (st = ln_args_bool(ctx, a, "unroll", 0, &unroll)))
        return st;
    if ((st = ln_args_number(ctx, a, "dropout", 0, &r->dropout)) ||
        (st = ln_args_number(ctx, a, "recurrent_dropout", 0, &r->rdropout)))
        return st;
    if (!(r->dropout >= 0 && r->dropout < 1) || !(r->rdropout >= 0 && r->rdropout < 1))
        return ln_fail(ctx, LN_E_ARG,
                       "'%s' must be in [0, 1), got %g",
                       r->dropout >= 0 && r->dropout < 1 ? "recurrent_dropout" : "dropout",
                       r->dropout >= 0 && r->dropout < 1 ? r->rdropout : r->dropout);
    /* Keras's choice of kernel (SimpleRNN accepts and ignores it too): the
    ** same math here */
    if ((st = ln_args_int(ctx, a, "implementation", cell == CELL_SIMPLE ? 1 : 2, &impl)))
        return st;
    if (impl != 1 && impl != 2)
        return ln_fail(ctx, LN_E_ARG, "'implementation' must be 1 or 2, got %lld",
                       (long long)impl);
    r->bias = -1;
    return LN_OK;
}

static ln_status simple_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return rnn_read(ctx, ln_layer_state(l), a, CELL_SIMPLE);
}
static ln_status lstm_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return rnn_read(ctx, ln_layer_state(l), a, CELL_LSTM);
}
static ln_status gru_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    return rnn_read(ctx, ln_layer_state(l), a, CELL_GRU);
}

/* The cell's name in tf.keras's weight names ("lstm_cell/kernel"). */
static const char *cell_name(const rnn *r) {
    return r->cell == CELL_LSTM ? "lstm_cell"
           : r->cell == CELL_GRU ? "gru_cell" : "simple_rnn_cell";
}

static ln_status check_input(ln_ctx *ctx, const ln_shape *in) {
    if (in[0].nd != 2 || in[0].dim[0] < 1 || in[0].dim[1] < 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "needs inputs of shape (batch, timesteps, features), got "
                       "rank %d", in[0].nd + 1);
    return LN_OK;
}

/* Add r's weights for `features` inputs, named <prefix><cell>/kernel... */
static ln_status rnn_add_weights(ln_ctx *ctx, ln_layer *l, rnn *r, const char *prefix,
                                 int64_t features) {
    char name[96];
    ln_status st;
    const int64_t g = r->gates, u = r->units;
    int64_t kshape[2] = {features, g * u}, rshape[2] = {u, g * u};
    snprintf(name, sizeof name, "%s%s/kernel", prefix, cell_name(r));
    if ((st = ln_layer_add_weight(ctx, l, name, 2, kshape, 1, r->kinit,
                                  r->kinit_args, &r->kernel)))
        return st;
    ln_layer_set_regularizer(l, r->kernel, r->kl1, r->kl2);
    snprintf(name, sizeof name, "%s%s/recurrent_kernel", prefix, cell_name(r));
    if ((st = ln_layer_add_weight(ctx, l, name, 2, rshape, 1, r->rinit,
                                  r->rinit_args, &r->rkernel)))
        return st;
    ln_layer_set_regularizer(l, r->rkernel, r->rl1, r->rl2);
    if (r->use_bias) {
        int64_t bshape[2] = {2, g * u};
        int two = r->cell == CELL_GRU && r->reset_after;
        snprintf(name, sizeof name, "%s%s/bias", prefix, cell_name(r));
        if ((st = ln_layer_add_weight(ctx, l, name, two ? 2 : 1,
                                      two ? bshape : bshape + 1, 1, r->binit,
                                      r->binit_args, &r->bias)))
            return st;
        ln_layer_set_regularizer(l, r->bias, r->bl1, r->bl2);
        if (r->cell == CELL_LSTM && r->forget_bias) { /* Keras: f's bias 1 */
            float *b = ln_f32(ln_layer_weight(l, r->bias));
            for (int64_t j = u; j < 2 * u; j++) b[j] = 1.0f;
        }
    }
    return LN_OK;
}

static ln_status rnn_build(ln_ctx *ctx, ln_layer *l, int nin,
                           const ln_shape *in, int *nout, ln_shape *out) {
    rnn *r = ln_layer_state(l);
    const int64_t u = r->units;
    ln_status st;
    if ((st = check_input(ctx, in)) || (st = rnn_add_weights(ctx, l, r, "", in[0].dim[1])))
        return st;
    if (r->return_sequences) {
        out[0].dim[1] = u;
    } else {
        out[0].nd = 1;
        out[0].dim[0] = u;
    }
    if (r->return_state) { /* Keras: [output, h] or [output, h, c] */
        *nout = r->cell == CELL_LSTM ? 3 : 2;
        for (int k = 1; k < *nout; k++) out[k] = (ln_shape){1, {u}};
    }
    return LN_OK;
}

/* ---- fused elementwise kernels ---------------------------------------------- */

typedef struct pw_job {
    const float *a, *b, *c, *d, *e, *f, *t;
    float *o, *o2, *o3, *o4, *o5;
} pw_job;

/* o = a * b */
LN_CLONES static void k_mul(void *arg, int64_t lo, int64_t hi) {
    const pw_job *j = arg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) j->o[i] = j->a[i] * j->b[i];
}

/* o += a * b */
LN_CLONES static void k_add_mul(void *arg, int64_t lo, int64_t hi) {
    const pw_job *j = arg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) j->o[i] += j->a[i] * j->b[i];
}

/* LSTM cell state: o = f c' + i g  (a = f, b = c', c = i, d = g) */
LN_CLONES static void k_lstm_c(void *arg, int64_t lo, int64_t hi) {
    const pw_job *j = arg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++)
        j->o[i] = j->a[i] * j->b[i] + j->c[i] * j->d[i];
}

/* GRU state: o = z h' + (1 - z) hh  (a = z, b = h', c = hh) */
LN_CLONES static void k_gru_h(void *arg, int64_t lo, int64_t hi) {
    const pw_job *j = arg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++)
        j->o[i] = j->a[i] * j->b[i] + (1.0f - j->a[i]) * j->c[i];
}

/* LSTM backward of one step: the cell gradient is dc (o5, updated to the
** dc of the step before) + t (dh o act'(c)); a = i, b = f, c = g, d = c',
** e = dh, f = act(c); writes di, df, dg, do (before the gate activations)
** into o, o2, o3, o4. */
LN_CLONES static void k_lstm_back(void *arg, int64_t lo, int64_t hi) {
    const pw_job *j = arg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float dct = j->o5[i] + j->t[i];
        j->o[i] = dct * j->c[i];
        j->o2[i] = dct * j->d[i];
        j->o3[i] = dct * j->a[i];
        j->o4[i] = j->e[i] * j->f[i];
        j->o5[i] = dct * j->b[i];
    }
}

/* GRU backward of one step: a = z, b = h', c = hh, d = dh; o = dz,
** o2 = dhh, o3 = dh' (the direct part, dh z). */
LN_CLONES static void k_gru_back(void *arg, int64_t lo, int64_t hi) {
    const pw_job *j = arg;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) {
        float dh = j->d[i], z = j->a[i];
        j->o[i] = dh * (j->b[i] - j->c[i]);
        j->o2[i] = dh * (1.0f - z);
        j->o3[i] = dh * z;
    }
}

static void pw(ln_range_fn fn, int64_t n, pw_job j) { ln_parallel_for(n, fn, &j); }

/* n floats from src to dst, inline: the rows copied at every step are a
** layer's width (20 floats in chapter 15), and a memcpy call per row took
** more than the copy. Vector-typed moves, no loop over single floats, so
** that the compiler does not turn the copy back into a memcpy call. */
typedef float v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
static inline void copy_floats(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) *(v16f *)(dst + i) = *(const v16f *)(src + i);
    for (; i + 4 <= n; i += 4) *(v4f *)(dst + i) = *(const v4f *)(src + i);
    if (i < n) dst[i] = src[i];
    if (i + 1 < n) dst[i + 1] = src[i + 1];
    if (i + 2 < n) dst[i + 2] = src[i + 2];
}

/* ---- GEMM tasks ---------------------------------------------------------------- */

/* A step's GEMM C (+)= A B + bias, cut in a team into blocks of
** RNN_COLS output columns (a column of C does not depend on the cut, and
** each task packs only its slice of B, the recurrent kernel). */
#define RNN_COLS 32
typedef struct step_prod {
    int64_t m, cols, k, lda, ldb, ldc, per;
    int team; /* the team may take its column blocks (dims.team) */
    const float *a, *b, *bias;
    float *c;
    float beta;
    float *ws; /* a row slice's own workspace (ln_gemm_ws), or NULL */
    size_t ws_floats;
} step_prod;

static void gemm_task(void *arg, int64_t t) {
    const step_prod *g = arg;
    int64_t c0 = t * g->per, nc = g->cols - c0 < g->per ? g->cols - c0 : g->per;
    ln_gemm_epilogue epi = {g->bias ? g->bias + c0 : NULL, NULL, NULL};
    const float *b = g->b + c0;
    if (g->ws)
        ln_gemm_ws(0, 0, g->m, nc, g->k, 1.0f, g->a, g->lda, b, g->ldb, g->beta,
                   g->c + c0, g->ldc, epi.bias ? &epi : NULL, g->ws, g->ws_floats);
    else
        ln_gemm(0, 0, g->m, nc, g->k, 1.0f, g->a, g->lda, b, g->ldb, g->beta,
                g->c + c0, g->ldc, epi.bias ? &epi : NULL);
}

/* Below this many flops a step's GEMMs stay one task: handing out tasks
** costs more than they save (the chapter-15 sizes, 20 units). */
#define RNN_TEAM_MIN_FLOPS 5e5

static void gemm_run(step_prod *g) {
    g->per = g->cols;
    double flops = 2.0 * (double)g->m * (double)g->cols * (double)g->k;
    if (g->team && ln_parallel_threads() > 1 && g->cols > RNN_COLS &&
        flops >= RNN_TEAM_MIN_FLOPS)
        g->per = RNN_COLS;
    ln_parallel_tasks((g->cols + g->per - 1) / g->per, gemm_task, g);
}

/* One large GEMM per task (the gates of the projection and of the weight
** gradients): C_t = op(A_t) op(B_t) over all steps. */
typedef struct big_gemm {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    const float *bias;
} big_gemm;

/* g as one task, or two of about half its columns (multiples of 16) when
** a team may take them: a column of C does not depend on the cut. */
static void add_halves(big_gemm *list, int *n, big_gemm g, int team) {
    const int64_t half = (g.n / 2 + 15) / 16 * 16;
    if (!team || ln_parallel_threads() < 2 || half >= g.n) {
        list[(*n)++] = g;
        return;
    }
    big_gemm b = g;
    g.n = half;
    b.n -= half, b.b += half, b.c += half;
    list[(*n)++] = g;
    list[(*n)++] = b;
}

static void big_task(void *arg, int64_t t) {
    const big_gemm *g = (const big_gemm *)arg + t;
    ln_gemm_epilogue epi = {g->bias, NULL, NULL};
    ln_gemm(g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, g->lda, g->b, g->ldb,
            0.0f, g->c, g->ldc, g->bias ? &epi : NULL);
}

/* ---- forward ------------------------------------------------------------------- */

/* The sizes of a batch, and the rows [r0, r0 + nb) of slice ps (all of
** them outside slices) with the slice's GEMM workspace (NULL: none); team:
** whether a thread team may share out the slice's products (slice_of). */
typedef struct dims {
    int64_t B, T, D, U, G;
    int64_t r0, nb, ps;
    int team;
    float *ws;
    size_t ws_floats;
} dims;

static dims dims_of(const rnn *r, const ln_tensor *x) {
    dims d = {x->shape[0], x->shape[1], x->shape[2], r->units, r->gates, 0, 0, 0, 0, NULL, 0};
    d.nb = d.B;
    return d;
}

/* Sliced buffers: slice t's rows of every block in a region of its own,
** [nslices][region], blocks of the slice's nb rows, the regions 4 KiB
** apart; one slice: the plain layout. Two cores writing the two halves of
** each block at the same step, cache-line aligned, took 1.8x the time of
** each writing a region of its own on a 2-vCPU VM with distant vCPUs (a
** scratch program; most likely a hardware prefetcher reaching across the
** boundary: a gap of 1 KiB between the halves still cost 1.4x, 4 KiB
** nothing). */
#define RNN_SLICE_GAP 1024 /* floats */

/* Block k (rows of w floats) of a sliced buffer, at the slice's first row. */
static float *priv(const ln_tensor *t, const dims *d, int64_t k, int64_t w) {
    return ln_f32(t) + d->ps * t->shape[1] + k * d->nb * w;
}

/* Row block s (of U floats) of a sliced buffer. */
static float *prow(const ln_tensor *t, const dims *d, int64_t s) {
    return priv(t, d, s, d->U);
}

/* Gate g of step s of a sliced [G][T][B][U] buffer. */
static float *at(const ln_tensor *t, const dims *d, int64_t g, int64_t s) {
    return priv(t, d, g * d->T + s, d->U);
}

/* The slice's first row of a whole-batch [B][w] buffer. */
static float *row_of(const ln_tensor *t, const dims *d, int64_t w) {
    return ln_f32(t) + d->r0 * w;
}

/* The most rows a slice of n has (slice_of). */
static int64_t slice_rows_max(int64_t B, int64_t n) { return (B + n - 1) / n; }

/* A sliced buffer of k blocks of rows of w floats, for n slices of d. */
static ln_status slice_buffer(ln_ctx *ctx, ln_tensor **buf, const dims *d, int64_t n,
                              int64_t k, int64_t w) {
    int64_t shape[2] = {n, k * slice_rows_max(d->B, n) * w};
    if (n > 1) shape[1] = (shape[1] + 15) / 16 * 16 + RNN_SLICE_GAP;
    return lu_buffer(ctx, buf, 2, shape);
}

/* A step's GEMMs over the slice's rows, in its workspace. */
static void step_gemm(const dims *d, step_prod *g) {
    g->m = d->nb;
    g->team = d->team;
    g->ws = d->ws;
    g->ws_floats = d->ws_floats;
    gemm_run(g);
}

/* The forward's buffers for n slices. */
static ln_status buffers(ln_ctx *ctx, rnn *r, const dims *d, int64_t n) {
    const int64_t U = d->U, T = d->T, GT = d->G * T, GU = d->G * U;
    ln_status st;
    if ((st = slice_buffer(ctx, &r->xt, d, n, T, d->D)) ||
        (st = slice_buffer(ctx, &r->pre, d, n, GT, U)) ||
        (st = slice_buffer(ctx, &r->gate, d, n, GT, U)) ||
        (st = slice_buffer(ctx, &r->h, d, n, T + 1, U)) ||
        (st = slice_buffer(ctx, &r->rprod, d, n, 1, GU)))
        return st;
    if (r->cell == CELL_LSTM && ((st = slice_buffer(ctx, &r->c, d, n, T + 1, U)) ||
                                 (st = slice_buffer(ctx, &r->tc, d, n, T + 1, U))))
        return st;
    if (r->cell == CELL_GRU && (st = slice_buffer(ctx, &r->hp, d, n, T, U))) return st;
    int64_t bu[2] = {d->B, U};
    if (r->stateful || r->return_state) {
        if ((st = lu_buffer(ctx, &r->hlast, 2, bu))) return st;
        if (r->cell == CELL_LSTM && (st = lu_buffer(ctx, &r->clast, 2, bu))) return st;
    }
    return LN_OK;
}

/* The step's products into the gates, the slice's rows: pre_g(s) +=
** rprod's gate g for the first ng gates; GRU's h gate with reset_after:
** rprod's part is hp(s). */
LN_CLONES static void add_gates(rnn *r, const dims *d, int64_t s, int ng) {
    const int64_t U = d->U, GU = d->G * U;
    const float *q = priv(r->rprod, d, 0, GU);
    for (int g = 0; g < ng; g++) {
        const int to_hp = r->cell == CELL_GRU && g == 2;
        float *p = at(r->pre, d, g, s), *hp = to_hp ? prow(r->hp, d, s) : NULL;
        for (int64_t b = 0; b < d->nb; b++) {
            const float *qb = q + b * GU + g * U;
            float *pb = p + b * U;
            if (to_hp) {
                copy_floats(hp + b * U, qb, U);
                continue;
            }
#pragma omp simd
            for (int64_t u = 0; u < U; u++) pb[u] += qb[u];
        }
    }
}

/* Step s: pre(s) (the input's projection) += h(s) R (+ recurrent bias),
** activations, state update. */
static void step_forward(rnn *r, const dims *d, const float *R, const float *brec,
                         int64_t s) {
    const int64_t U = d->U, G = d->G, NU = d->nb * U;
    float *hs = prow(r->h, d, s), *hn = prow(r->h, d, s + 1);
    const float *h0 = hs; /* h(s) as the state update reads it */
    if (r->hmasked) { /* Keras: the recurrent products read h(s) * mask; GRU's
                         update z h' + (1 - z) hh reads it too */
        float *hm = prow(r->hm, d, s);
        pw(k_mul, NU, (pw_job){.a = hs, .b = row_of(r->hmask, d, U), .o = hm});
        hs = hm;
        if (r->cell == CELL_GRU) h0 = hm;
    }
    /* One product for every gate that reads h(s) (one call, full vectors:
    ** 4 x 20 columns are 80, not 4 x 32 lanes), then into the gates; GRU's
    ** h gate comes later without reset_after (it reads r h'), else it is
    ** hp = h R_h + b'_h */
    const int ng = r->cell == CELL_GRU && !r->reset_after ? 2 : (int)G;
    step_prod gl = {.cols = ng * U, .k = U, .lda = U, .ldb = G * U, .ldc = G * U,
                    .a = hs, .b = R, .bias = brec, .c = priv(r->rprod, d, 0, G * U)};
    step_gemm(d, &gl);
    add_gates(r, d, s, ng);
    float *hp = r->hp ? prow(r->hp, d, s) : NULL;
    if (r->cell == CELL_SIMPLE) {
        ln_activation_forward(r->act, at(r->pre, d, 0, s), hn, d->nb, U);
        return;
    }
    for (int g = 0; g < G; g++) {
        if (r->cell == CELL_GRU && g == 2) break;
        ln_activation *a = r->cell == CELL_LSTM && g == 2 ? r->act : r->ract;
        ln_activation_forward(a, at(r->pre, d, g, s), at(r->gate, d, g, s), d->nb, U);
    }
    if (r->cell == CELL_LSTM) {
        float *cs = prow(r->c, d, s), *cn = prow(r->c, d, s + 1), *tc = prow(r->tc, d, s);
        pw(k_lstm_c, NU, (pw_job){.a = at(r->gate, d, 1, s), .b = cs,
                                  .c = at(r->gate, d, 0, s), .d = at(r->gate, d, 2, s),
                                  .o = cn});
        ln_activation_forward(r->act, cn, tc, d->nb, U);
        pw(k_mul, NU, (pw_job){.a = at(r->gate, d, 3, s), .b = tc, .o = hn});
        return;
    }
    float *ph = at(r->pre, d, 2, s), *rr = at(r->gate, d, 1, s);
    if (r->reset_after) {
        pw(k_add_mul, NU, (pw_job){.a = rr, .b = hp, .o = ph});
    } else { /* hp = r h'; pre_h += hp R_h */
        pw(k_mul, NU, (pw_job){.a = rr, .b = hs, .o = hp});
        step_prod g2 = {.cols = U, .k = U, .lda = U, .ldb = G * U, .ldc = U, .a = hp,
                        .b = R + 2 * U, .c = ph, .beta = 1.0f};
        step_gemm(d, &g2);
    }
    ln_activation_forward(r->act, ph, at(r->gate, d, 2, s), d->nb, U);
    pw(k_gru_h, NU, (pw_job){.a = at(r->gate, d, 0, s), .b = h0,
                             .c = at(r->gate, d, 2, s), .o = hn});
}

/* Input step of processing step s. */
static int64_t src_step(const rnn *r, const dims *d, int64_t s) {
    return r->go_backwards ? d->T - 1 - s : s;
}

/* Keras's dropout masks (implementation 2): one per sequence, the same at
** every step and for every gate -- keep where u >= rate, scaled by
** 1 / (1 - rate); drawn from the layer's generator, inputs' first. */
static ln_status draw_mask(ln_ctx *ctx, ln_layer *l, ln_tensor **mask, int64_t rows,
                           int64_t cols, double rate) {
    int64_t shape[2] = {rows, cols};
    ln_status st = lu_buffer(ctx, mask, 2, shape);
    if (st) return st;
    float *m = ln_f32(*mask);
    const float keep = (float)(1.0 / (1.0 - rate)), p = (float)rate;
    ln_rng_uniform(ln_layer_rng(l), m, rows * cols, 0.0f, 1.0f);
    for (int64_t i = 0; i < rows * cols; i++) m[i] = m[i] >= p ? keep : 0.0f;
    return LN_OK;
}

/* Whether the forward starts from zeros or from a stateful layer's kept
** states (keep_state; each slice copies its rows: first_states). */
static ln_status initial_state(ln_ctx *ctx, rnn *r, const dims *d) {
    const int lstm = r->cell == CELL_LSTM;
    r->keep_state = 0;
    if (!r->stateful || !r->state_batch) {
        if (!r->stateful) return LN_OK;
        int64_t bu[2] = {d->B, d->U};
        ln_status st = lu_buffer(ctx, &r->sh, 2, bu);
        if (!st && lstm) st = lu_buffer(ctx, &r->sc, 2, bu);
        return st;
    }
    if (d->B != r->state_batch)
        return ln_fail(ctx, LN_E_SHAPE,
                       "stateful: a batch of %lld samples, but the states are those of "
                       "a batch of %lld (a stateful layer needs one batch size: give "
                       "fit, evaluate and predict the same batch_size and a sample count "
                       "that is a multiple of it, or call reset_states() first)",
                       (long long)d->B, (long long)r->state_batch);
    r->keep_state = 1;
    return LN_OK;
}

static void rnn_reset_states(ln_layer *l) {
    rnn *r = ln_layer_state(l);
    r->state_batch = 0;
}

/* Forward of r over x into out ([B][units] or [B][T][units]). */
/* The step mask of this forward (mask: [B][T] in input order, or NULL)
** into r->tmask in processing order. */
static ln_status step_mask(ln_ctx *ctx, rnn *r, const dims *d, int64_t n,
                           const ln_tensor *mask) {
    r->stepmasked = 0;
    if (!mask) return LN_OK;
    if (mask->ndim != 2 || mask->shape[0] != d->B || mask->shape[1] != d->T)
        return ln_fail(ctx, LN_E_SHAPE,
                       "the input mask must be (batch, timesteps) = (%lld, %lld), got a "
                       "mask of rank %d", (long long)d->B, (long long)d->T, mask->ndim);
    int64_t tb[2] = {d->T, d->B};
    ln_status st;
    if ((st = lu_buffer(ctx, &r->tmask, 2, tb)) ||
        (st = slice_buffer(ctx, &r->msave, d, n, 2, d->U)))
        return st;
    const float *m = ln_f32(mask);
    float *t = ln_f32(r->tmask);
    for (int64_t s = 0; s < d->T; s++)
        for (int64_t bi = 0; bi < d->B; bi++)
            t[s * d->B + bi] = m[bi * d->T + src_step(r, d, s)] != 0.0f ? 1.0f : 0.0f;
    r->stepmasked = 1;
    return LN_OK;
}

/* Masked samples of step s keep their states: h(s+1) = h(s) (c too). */
static void carry_masked(rnn *r, const dims *d, int64_t s) {
    const float *m = ln_f32(r->tmask) + s * d->B + d->r0;
    for (int64_t bi = 0; bi < d->nb; bi++) {
        if (m[bi] != 0.0f) continue;
        copy_floats(prow(r->h, d, s + 1) + bi * d->U, prow(r->h, d, s) + bi * d->U, d->U);
        if (r->cell == CELL_LSTM)
            copy_floats(prow(r->c, d, s + 1) + bi * d->U, prow(r->c, d, s) + bi * d->U, d->U);
    }
}

/* ---- row slices ---------------------------------------------------------------- */

/* A batch runs as row slices, each a task: the time loop over its own
** rows (a sample's recurrence never reads another's) from the input copy
** to the output, and back to dx and the slice's own weight gradients,
** summed in slice order afterwards (sum_parts). A thread team runs the
** slices side by side, each thread's data staying with its core (the
** weight gradients over all rows had each thread read every other row: on
** a 2-vCPU VM with distant vCPUs the loops that followed ran up to 1.6x
** slower, the lines taken back one by one). The slices depend on the batch
** alone -- one per RNN_SLICE_ROWS rows, at most RNN_MAX_SLICES -- so every
** result is the same for any thread count; one thread runs them one after
** the other (2 slices of 16 rows cost what one loop over 32 does). A
** recurrent kernel over RNN_SLICE_MAX_R bytes makes one slice, whose step
** GEMMs a team cuts into column blocks instead: every slice would read all
** of it at every step, from L3 at best (batch 32, 100 steps, team: slices
** over column blocks 1.28x at 128 units, 1.09-1.18x at 256, 1.05-1.13x at
** 512 -- a 4 MiB kernel; docs/sequences.md). */
#define RNN_SLICE_MAX_R (8 << 20)

static int64_t rnn_slices(const dims *d) {
    if ((double)d->U * (double)(d->G * d->U) * sizeof(float) > RNN_SLICE_MAX_R) return 1;
    int64_t n = d->B / RNN_SLICE_ROWS;
    return n < 1 ? 1 : n > RNN_MAX_SLICES ? RNN_MAX_SLICES : n;
}

/* Slice t of n of the batch d, with its part of the workspaces ws
** (per floats each; ws NULL: none). */
static dims slice_of(const dims *d, int64_t t, int64_t n, float *ws, size_t per) {
    dims s = *d;
    s.r0 = d->B * t / n;
    s.nb = d->B * (t + 1) / n - s.r0;
    s.ps = t;
    /* One slice: the team may share out its products when a step's
    ** recurrent product is worth cutting (a large kernel); else the
    ** caller keeps them all -- a gate's projection made on the other
    ** core would be read back at every step. */
    s.team = n == 1 && 2.0 * (double)d->B * (double)(d->G * d->U) * (double)d->U >=
                           RNN_TEAM_MIN_FLOPS;
    s.ws = ws ? ws + per * (size_t)t : NULL;
    s.ws_floats = ws ? per : 0;
    return s;
}

/* Floats of GEMM workspace a slice's step products need (16-float
** aligned): the larger of h R and dh' = dall R^T (R^T stored: neither is
** transposed; GRU's smaller ones fit); 0 below the row count from which
** ln_gemm packs B. The products over all steps use ln_gemm's own. */
static size_t slice_ws_floats(const dims *d, int64_t n) {
    const int64_t rows = slice_rows_max(d->B, n), GU = d->G * d->U;
    size_t a = ln_gemm_ws_floats(0, 0, rows, GU, d->U),
           b = ln_gemm_ws_floats(0, 0, rows, d->U, GU), m = a > b ? a : b;
    return m ? ((m + 15) & ~(size_t)15) + RNN_SLICE_GAP : 0;
}

/* The layer's slice workspaces (slices of per floats); per 0: none. */
static ln_status slice_buffers(ln_ctx *ctx, rnn *r, const dims *d, int64_t n,
                               size_t *per) {
    *per = n > 1 ? slice_ws_floats(d, n) : 0;
    int64_t len = (int64_t)(*per * (size_t)n) + 16;
    return *per ? lu_buffer(ctx, &r->gws, 1, &len) : LN_OK;
}

/* The task of slice t: forward or backward over its rows. */
typedef struct loop_job {
    rnn *r;
    const dims *d;
    int64_t n;
    size_t per;
    const float *x, *W, *b, *R, *brec; /* backward: W^T and R^T */
    const float *dy, *dhT, *dcT; /* backward: the output's and final states' gradients */
    float *out; /* forward: the output; backward: dx (NULL: none) */
    ln_layer *l; /* backward: the weight gradients wanted (grad_list) */
    unsigned flags;
} loop_job;

/* 64-byte aligned start of the slice workspaces. */
static float *gws_base(const rnn *r) {
    uintptr_t p = (uintptr_t)ln_f32(r->gws);
    return (float *)((p + 63) & ~(uintptr_t)63);
}

/* The slice's rows of the input, every step, into xt (time-major,
** processing order, dropout applied). */
static void input_rows(rnn *r, const dims *d, const float *xs) {
    for (int64_t s = 0; s < d->T; s++)
        for (int64_t b = 0; b < d->nb; b++) {
            const int64_t bi = d->r0 + b;
            float *dst = priv(r->xt, d, s, d->D) + b * d->D;
            copy_floats(dst, xs + (bi * d->T + src_step(r, d, s)) * d->D, d->D);
            if (r->xmasked) {
                const float *m = ln_f32(r->xmask) + bi * d->D;
                for (int64_t k = 0; k < d->D; k++) dst[k] *= m[k];
            }
        }
}

/* The slice's projection of the input for all steps, pre_g = x W_g + b_g:
** one product per gate (tasks: a team takes them when one slice runs). */
static void project(rnn *r, const dims *d, const float *W, const float *b) {
    const int64_t U = d->U, GU = d->G * U;
    big_gemm proj[4];
    for (int g = 0; g < d->G; g++)
        proj[g] = (big_gemm){0, 0, d->T * d->nb, U, d->D, d->D, GU, U, priv(r->xt, d, 0, d->D),
                             W + g * U, at(r->pre, d, g, 0),
                             b ? b + g * U : NULL};
    if (d->team) ln_parallel_tasks(d->G, big_task, proj);
    else for (int g = 0; g < d->G; g++) big_task(proj, g);
}

/* The slice's rows of the output: h(T), or h(1..T) batch-major. */
static void output_rows(const rnn *r, const dims *d, float *out) {
    if (!r->return_sequences) {
        memcpy(out + d->r0 * d->U, prow(r->h, d, d->T), (size_t)(d->nb * d->U) * sizeof *out);
        return;
    }
    for (int64_t b = 0; b < d->nb; b++)
        for (int64_t s = 0; s < d->T; s++)
            copy_floats(out + ((d->r0 + b) * d->T + s) * d->U, prow(r->h, d, s + 1) + b * d->U,
                        d->U);
}

/* h(0) and LSTM's c(0) of the slice's rows: zeros or the kept states. */
static void first_states(const rnn *r, const dims *d) {
    const size_t bytes = (size_t)(d->nb * d->U) * sizeof(float);
    if (r->keep_state) memcpy(prow(r->h, d, 0), row_of(r->sh, d, d->U), bytes);
    else memset(prow(r->h, d, 0), 0, bytes);
    if (!r->c) return;
    if (r->keep_state) memcpy(prow(r->c, d, 0), row_of(r->sc, d, d->U), bytes);
    else memset(prow(r->c, d, 0), 0, bytes);
}

static void forward_task(void *arg, int64_t t) {
    const loop_job *j = arg;
    rnn *r = j->r;
    dims d = slice_of(j->d, t, j->n, j->per ? gws_base(r) : NULL, j->per);
    first_states(r, &d);
    input_rows(r, &d, j->x);
    project(r, &d, j->W, j->b);
    for (int64_t s = 0; s < d.T; s++) {
        step_forward(r, &d, j->R, j->brec, s);
        if (r->stepmasked) carry_masked(r, &d, s);
    }
    output_rows(r, &d, j->out);
    const size_t bytes = (size_t)(d.nb * d.U) * sizeof(float);
    if (r->hlast) memcpy(row_of(r->hlast, &d, d.U), prow(r->h, &d, d.T), bytes);
    if (r->clast) memcpy(row_of(r->clast, &d, d.U), prow(r->c, &d, d.T), bytes);
}

static ln_status rnn_run(ln_ctx *ctx, ln_layer *l, rnn *r, const ln_tensor *x, float *out,
                         const ln_tensor *mask, unsigned flags) {
    dims d = dims_of(r, x);
    const int64_t n = rnn_slices(&d);
    ln_status st = buffers(ctx, r, &d, n);
    if (st || (st = step_mask(ctx, r, &d, n, mask))) return st;
    r->nslices = n;
    r->xmasked = (flags & LN_TRAINING) && r->dropout > 0;
    r->hmasked = (flags & LN_TRAINING) && r->rdropout > 0;
    if (r->xmasked && (st = draw_mask(ctx, l, &r->xmask, d.B, d.D, r->dropout))) return st;
    if (r->hmasked && ((st = draw_mask(ctx, l, &r->hmask, d.B, d.U, r->rdropout)) ||
                       (st = slice_buffer(ctx, &r->hm, &d, n, d.T, d.U))))
        return st;
    const float *W = ln_f32(ln_layer_weight(l, r->kernel));
    const float *R = ln_f32(ln_layer_weight(l, r->rkernel));
    const float *b = r->bias >= 0 ? ln_f32(ln_layer_weight(l, r->bias)) : NULL;
    const float *brec = b && r->cell == CELL_GRU && r->reset_after ? b + d.G * d.U : NULL;
    loop_job lj = {r, &d, n, 0, ln_f32(x), W, b, R, brec, NULL, NULL, NULL, out, l, flags};
    if ((st = initial_state(ctx, r, &d)) || (st = slice_buffers(ctx, r, &d, n, &lj.per)))
        return st;
    ln_parallel_tasks(n, forward_task, &lj);
    if (r->stateful) { /* Keras: the next batch starts where this one ended */
        const int64_t BU = d.B * d.U;
        ln_copy(ln_f32(r->sh), ln_f32(r->hlast), BU);
        if (r->c) ln_copy(ln_f32(r->sc), ln_f32(r->clast), BU);
        r->state_batch = d.B;
    }
    return LN_OK;
}

static ln_status rnn_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                             ln_tensor *const *y, unsigned flags) {
    rnn *r = ln_layer_state(l);
    ln_status st = rnn_run(ctx, l, r, x[0], ln_f32(y[0]), ln_layer_input_mask(l), flags);
    if (st || !r->return_state) return st;
    const int64_t BU = x[0]->shape[0] * r->units;
    ln_copy(ln_f32(y[1]), ln_f32(r->hlast), BU); /* the final states */
    if (r->cell == CELL_LSTM) ln_copy(ln_f32(y[2]), ln_f32(r->clast), BU);
    return LN_OK;
}

/* ---- backward ------------------------------------------------------------------ */

/* dh (the slice's rows) += the output gradient of processing step s. */
static void add_dy(const rnn *r, const dims *d, const float *dy, float *dh,
                   int64_t s) {
    if (!r->return_sequences) {
        if (s == d->T - 1) {
            const float *src = dy + d->r0 * d->U;
            for (int64_t i = 0; i < d->nb * d->U; i++) dh[i] += src[i];
        }
        return;
    }
    for (int64_t bi = 0; bi < d->nb; bi++) {
        const float *src = dy + ((d->r0 + bi) * d->T + s) * d->U;
        float *dst = dh + bi * d->U;
        for (int64_t u = 0; u < d->U; u++) dst[u] += src[u];
    }
}

/* Gate g of the step's gradients dpre, at the slice's first row. */
static float *dgate(const rnn *r, const dims *d, int64_t g) {
    return prow(r->dpre, d, g);
}

/* dall(s) = the step's gate gradients side by side, the slice's rows (the
** operand of dh', dx and the weight gradients). Returns the first row. */
static float *gather_gates(rnn *r, const dims *d, int64_t s) {
    const int64_t U = d->U, GU = d->G * U;
    float *da = priv(r->dall, d, s, GU);
    for (int64_t g = 0; g < d->G; g++) {
        const float *src = dgate(r, d, g);
        for (int64_t b = 0; b < d->nb; b++)
            copy_floats(da + b * GU + g * U, src + b * U, U);
    }
    return da;
}

/* Step s backward over the slice's rows: from dh (the gradient of h(s+1))
** into dpre(s) (and dhp(s)), and dhn = the gradient of h(s) through the
** recurrence. */
static void step_backward(rnn *r, const dims *d, const float *RT, int64_t s,
                          const float *dh, float *dhn) {
    const int64_t U = d->U, G = d->G, NB = d->nb, NU = NB * U;
    const float *hs = prow(r->h, d, s);
    const float *hr = r->hmasked ? prow(r->hm, d, s) : hs; /* as GRU read it */
    if (r->cell == CELL_SIMPLE) {
        ln_activation_backward(r->act, at(r->pre, d, 0, s), prow(r->h, d, s + 1), dh,
                               dgate(r, d, 0), NB, U);
    } else if (r->cell == CELL_LSTM) {
        const float *cs = prow(r->c, d, s), *tc = prow(r->tc, d, s);
        float *tmp = prow(r->tmp, d, 0), *dc = prow(r->dc, d, 0);
        pw(k_mul, NU, (pw_job){.a = dh, .b = at(r->gate, d, 3, s), .o = tmp});
        ln_activation_backward(r->act, prow(r->c, d, s + 1), tc, tmp, tmp, NB, U);
        pw(k_lstm_back, NU,
           (pw_job){.a = at(r->gate, d, 0, s), .b = at(r->gate, d, 1, s),
                    .c = at(r->gate, d, 2, s), .d = cs, .e = dh, .f = tc, .t = tmp,
                    .o = dgate(r, d, 0), .o2 = dgate(r, d, 1),
                    .o3 = dgate(r, d, 2), .o4 = dgate(r, d, 3), .o5 = dc});
        for (int g = 0; g < 4; g++) {
            float *dp = dgate(r, d, g);
            ln_activation_backward(g == 2 ? r->act : r->ract, at(r->pre, d, g, s),
                                   at(r->gate, d, g, s), dp, dp, NB, U);
        }
    } else {
        float *dz = dgate(r, d, 0), *dr = dgate(r, d, 1);
        float *dhh = dgate(r, d, 2), *hp = prow(r->hp, d, s);
        const float *z = at(r->gate, d, 0, s), *rr = at(r->gate, d, 1, s);
        pw(k_gru_back, NU, (pw_job){.a = z, .b = hr, .c = at(r->gate, d, 2, s),
                                    .d = dh, .o = dz, .o2 = dhh, .o3 = dhn});
        ln_activation_backward(r->act, at(r->pre, d, 2, s), at(r->gate, d, 2, s),
                               dhh, dhh, NB, U);
        if (r->reset_after) {
            float *dhp = prow(r->dhp, d, s);
            pw(k_mul, NU, (pw_job){.a = dhh, .b = rr, .o = dhp});
            pw(k_mul, NU, (pw_job){.a = dhh, .b = hp, .o = dr});
        } else { /* d(r h') = dhh R_h^T */
            float *tmp = prow(r->tmp, d, 0);
            step_prod g2 = {.cols = U, .k = U, .lda = U, .ldb = U, .ldc = U, .a = dhh,
                            .b = RT + 2 * U * U, .c = tmp};
            step_gemm(d, &g2);
            pw(k_mul, NU, (pw_job){.a = tmp, .b = hr, .o = dr});
            pw(k_add_mul, NU, (pw_job){.a = tmp, .b = rr, .o = dhn});
        }
        ln_activation_backward(r->ract, at(r->pre, d, 0, s), z, dz, dz, NB, U);
        ln_activation_backward(r->ract, at(r->pre, d, 1, s), rr, dr, dr, NB, U);
    }
    /* dh' = the gates' gradients side by side times R^T, one product (GRU:
    ** z and r, += to its direct part; with reset_after h's through hp) */
    float *da = gather_gates(r, d, s);
    const int gru = r->cell == CELL_GRU;
    step_prod gl = {.cols = U, .k = (gru ? 2 : G) * U, .lda = G * U, .ldb = U, .ldc = U,
                    .a = da, .b = RT, .c = dhn, .beta = gru ? 1.0f : 0.0f};
    step_gemm(d, &gl);
    if (gru && r->reset_after) {
        step_prod g3 = {.cols = U, .k = U, .lda = U, .ldb = U, .ldc = U,
                        .a = prow(r->dhp, d, s), .b = RT + 2 * U * U, .c = dhn, .beta = 1.0f};
        step_gemm(d, &g3);
    }
    if (r->hmasked) /* everything above is the gradient of h(s) * mask */
        pw(k_mul, NU, (pw_job){.a = dhn, .b = row_of(r->hmask, d, U), .o = dhn});
}

/* The backward's buffers for n slices. */
static ln_status back_buffers(ln_ctx *ctx, rnn *r, const dims *d, int64_t n) {
    const int64_t U = d->U, GU = d->G * U, T = d->T;
    int64_t rts[2] = {GU, U}, wts[2] = {GU, d->D};
    ln_status st;
    if ((st = lu_buffer(ctx, &r->rt, 2, rts)) || (st = lu_buffer(ctx, &r->wt, 2, wts)) ||
        (st = slice_buffer(ctx, &r->dpre, d, n, d->G, U)) ||
        (st = slice_buffer(ctx, &r->dall, d, n, T, GU)) ||
        (st = slice_buffer(ctx, &r->dh, d, n, 1, U)) ||
        (st = slice_buffer(ctx, &r->dh2, d, n, 1, U)) ||
        (st = slice_buffer(ctx, &r->dc, d, n, 1, U)) ||
        (st = slice_buffer(ctx, &r->tmp, d, n, 1, U)) ||
        (st = slice_buffer(ctx, &r->dxt, d, n, T, d->D)))
        return st;
    if (r->cell == CELL_GRU && r->reset_after && (st = slice_buffer(ctx, &r->dhp, d, n, T, U)))
        return st;
    return LN_OK;
}

/* Before step s backward: keep the gradients of h(s+1) (and c(s+1)) of
** the slice's masked samples, which pass through the step unchanged (dh:
** the slice's rows). */
static void save_masked(rnn *r, const dims *d, int64_t s, const float *dh) {
    const float *m = ln_f32(r->tmask) + s * d->B + d->r0;
    float *sv = prow(r->msave, d, 0), *svc = prow(r->msave, d, 1);
    const float *dc = prow(r->dc, d, 0);
    for (int64_t bi = 0; bi < d->nb; bi++) {
        if (m[bi] != 0.0f) continue;
        copy_floats(sv + bi * d->U, dh + bi * d->U, d->U);
        if (r->cell == CELL_LSTM)
            copy_floats(svc + bi * d->U, dc + bi * d->U, d->U);
    }
}

/* After step s backward: the slice's masked samples get the kept gradients
** as those of h(s) (c(s)) and no gate gradient at step s. */
static void pass_masked(rnn *r, const dims *d, int64_t s, float *dhn) {
    const float *m = ln_f32(r->tmask) + s * d->B + d->r0, *sv = prow(r->msave, d, 0);
    const float *svc = prow(r->msave, d, 1);
    float *dc = prow(r->dc, d, 0);
    const size_t row = (size_t)d->U * sizeof(float);
    for (int64_t bi = 0; bi < d->nb; bi++) {
        if (m[bi] != 0.0f) continue;
        copy_floats(dhn + bi * d->U, sv + bi * d->U, d->U);
        if (r->cell == CELL_LSTM) copy_floats(dc + bi * d->U, svc + bi * d->U, d->U);
        memset(priv(r->dall, d, s, d->G * d->U) + bi * d->G * d->U, 0, row * (size_t)d->G);
        if (r->dhp && r->cell == CELL_GRU && r->reset_after)
            memset(prow(r->dhp, d, s) + bi * d->U, 0, row);
    }
}

/* The slice's rows of dx, every step (batch-major, input order, dropout
** applied): dx = dall W^T, one product over the slice's steps (WT = W^T). */
static void dx_rows(const rnn *r, const dims *d, const float *WT, float *dx) {
    const int64_t D = d->D, GU = d->G * d->U;
    step_prod gl = {.m = d->T * d->nb, .cols = D, .k = GU, .lda = GU, .ldb = D, .ldc = D,
                    .team = d->team, .a = priv(r->dall, d, 0, GU), .b = WT,
                    .c = priv(r->dxt, d, 0, D)};
    gemm_run(&gl);
    for (int64_t s = 0; s < d->T; s++)
        for (int64_t b = 0; b < d->nb; b++) {
            const int64_t bi = d->r0 + b;
            float *dst = dx + (bi * d->T + src_step(r, d, s)) * D;
            copy_floats(dst, priv(r->dxt, d, s, D) + b * D, D);
            if (r->xmasked) {
                const float *m = ln_f32(r->xmask) + bi * D;
                for (int64_t k = 0; k < D; k++) dst[k] *= m[k];
            }
        }
}

/* The weight gradients a backward writes: the kernel's, the recurrent
** kernel's and the bias's (NULL when not wanted), and their sizes. With
** more than one slice each slice writes its own in its region of
** r->part at the same offsets (0, nw, nw + nr), summed by sum_parts. */
typedef struct grad_list {
    float *w, *rk, *b;
    int64_t nw, nr, nb;
} grad_list;

static grad_list grads_of(const rnn *r, ln_layer *l, unsigned flags) {
    grad_list g = {0};
    if (!(flags & LN_NEED_DW)) return g;
    if (ln_layer_trains(l, r->kernel)) {
        const ln_tensor *t = ln_layer_grad(l, r->kernel);
        g.w = ln_f32(t), g.nw = t->numel;
    }
    if (ln_layer_trains(l, r->rkernel)) {
        const ln_tensor *t = ln_layer_grad(l, r->rkernel);
        g.rk = ln_f32(t), g.nr = t->numel;
    }
    if (r->bias >= 0 && ln_layer_trains(l, r->bias)) {
        const ln_tensor *t = ln_layer_grad(l, r->bias);
        g.b = ln_f32(t), g.nb = t->numel;
    }
    return g;
}

/* Where slice d writes its weight gradients: the layer's own for one
** slice, else its region of r->part. */
static grad_list grads_at(const rnn *r, const dims *d, int64_t n, grad_list g) {
    if (n == 1) return g;
    float *p = ln_f32(r->part) + d->ps * r->part->shape[1];
    if (g.w) g.w = p;
    if (g.rk) g.rk = p + g.nw;
    if (g.b) g.b = p + g.nw + g.nr;
    return g;
}

/* The weight gradients over the slice's rows, every step: every gate in
** one product per weight (wide enough to fill the vectors: 80 columns at
** 20 units), each cut in two column halves when one slice runs on a team;
** the bias's the column sums of dall (and of dhp: GRU's recurrent h bias;
** its z and r are the input's). */
static void slice_grads(const rnn *r, const dims *d, grad_list g) {
    const int64_t U = d->U, G = d->G, GU = G * U, K = d->T * d->nb;
    const float *hh = priv(r->hmasked ? r->hm : r->h, d, 0, U), *da = priv(r->dall, d, 0, GU);
    const int gru = r->cell == CELL_GRU;
    big_gemm gg[8];
    int n = 0;
    if (g.w)
        add_halves(gg, &n, (big_gemm){1, 0, d->D, GU, K, d->D, GU, GU, priv(r->xt, d, 0, d->D),
                                      da, g.w, NULL}, d->team);
    if (g.rk) { /* GRU's h gate reads r h' (hp) or, with reset_after, dhp */
        add_halves(gg, &n, (big_gemm){1, 0, U, (gru ? 2 : G) * U, K, U, GU, GU, hh, da, g.rk,
                                      NULL}, d->team);
        if (gru && r->reset_after)
            add_halves(gg, &n, (big_gemm){1, 0, U, U, K, U, U, GU, hh, priv(r->dhp, d, 0, U),
                                          g.rk + 2 * U, NULL}, d->team);
        else if (gru)
            add_halves(gg, &n, (big_gemm){1, 0, U, U, K, U, GU, GU, priv(r->hp, d, 0, U),
                                          da + 2 * U, g.rk + 2 * U, NULL}, d->team);
    }
    if (d->team) ln_parallel_tasks(n, big_task, gg);
    else for (int t = 0; t < n; t++) big_task(gg, t);
    if (!g.b) return;
    ln_sum_rows(g.b, da, K, GU, 0);
    if (gru && r->reset_after) { /* [2][G * U]: row 1 the recurrent bias */
        memcpy(g.b + GU, g.b, (size_t)(2 * U) * sizeof *g.b);
        ln_sum_rows(g.b + GU + 2 * U, priv(r->dhp, d, 0, U), K, U, 0);
    }
}

static void backward_task(void *arg, int64_t t) {
    const loop_job *j = arg;
    rnn *r = j->r;
    dims d = slice_of(j->d, t, j->n, j->per ? gws_base(r) : NULL, j->per);
    /* each slice swaps its own dh / dh2, starting from the final states' gradients */
    float *dh = prow(r->dh, &d, 0), *dhn = prow(r->dh2, &d, 0), *dc = prow(r->dc, &d, 0);
    const size_t rows = (size_t)(d.nb * d.U) * sizeof *dh;
    if (j->dhT) memcpy(dh, j->dhT + d.r0 * d.U, rows);
    else memset(dh, 0, rows);
    if (j->dcT) memcpy(dc, j->dcT + d.r0 * d.U, rows);
    else memset(dc, 0, rows);
    for (int64_t s = d.T - 1; s >= 0; s--) {
        add_dy(r, &d, j->dy, dh, s);
        if (r->stepmasked) save_masked(r, &d, s, dh);
        step_backward(r, &d, j->R, s, dh, dhn);
        if (r->stepmasked) pass_masked(r, &d, s, dhn);
        float *tp = dh;
        dh = dhn, dhn = tp;
    }
    if (j->out) dx_rows(r, &d, j->W, j->out);
    slice_grads(r, &d, grads_at(r, &d, j->n, grads_of(r, j->l, j->flags)));
}

/* grad = the n slices' parts at off added in slice order. */
static void sum_parts(const rnn *r, int64_t n, float *grad, int64_t off, int64_t len) {
    if (!grad) return;
    const float *p = ln_f32(r->part) + off;
    ln_copy(grad, p, len);
    for (int64_t t = 1; t < n; t++) ln_axpy(grad, 1.0f, p + t * r->part->shape[1], len);
}

/* Backward of r's last forward: dy like its output, dhT and dcT (NULL:
** none) the gradients of the final states; dx (NULL: none) like x. */
static ln_status rnn_back(ln_ctx *ctx, ln_layer *l, rnn *r, const ln_tensor *x,
                          const float *dy, const float *dhT, const float *dcT, float *dx,
                          unsigned flags) {
    dims d = dims_of(r, x);
    const int64_t n = r->nslices, U = d.U, G = d.G;
    ln_status st = back_buffers(ctx, r, &d, n);
    if (st) return st;
    const grad_list g = grads_of(r, l, flags);
    if (n > 1) {
        int64_t len = g.nw + g.nr + g.nb, shape[2] = {n, len + RNN_SLICE_GAP};
        if ((st = lu_buffer(ctx, &r->part, 2, shape))) return st;
    }
    const float *W = ln_f32(ln_layer_weight(l, r->kernel));
    const float *R = ln_f32(ln_layer_weight(l, r->rkernel));
    float *RT = ln_f32(r->rt), *WT = ln_f32(r->wt);
    /* by tiles (lu_transpose): element by element the two kernels of a
    ** 128-unit LSTM took ~260 us a batch here, long enough for the team's
    ** other thread to fall asleep before the slices */
    lu_transpose(RT, U, R, G * U, U, G * U);
    lu_transpose(WT, d.D, W, G * U, d.D, G * U);
    loop_job lj = {r, &d, n, 0, NULL, WT, NULL, RT, NULL, dy, dhT, dcT, dx, l, flags};
    if ((st = slice_buffers(ctx, r, &d, n, &lj.per))) return st;
    ln_parallel_tasks(n, backward_task, &lj);
    if (n > 1) {
        sum_parts(r, n, g.w, 0, g.nw);
        sum_parts(r, n, g.rk, g.nw, g.nr);
        sum_parts(r, n, g.b, g.nw + g.nr, g.nb);
    }
    return LN_OK;
}

static ln_status rnn_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              const ln_tensor *const *y, const ln_tensor *const *dy,
                              ln_tensor *const *dx, ln_grad_sink *sink,
                              unsigned flags) {
    rnn *r = ln_layer_state(l);
    const float *dhT = r->return_state ? ln_f32(dy[1]) : NULL;
    const float *dcT = r->return_state && r->cell == CELL_LSTM ? ln_f32(dy[2]) : NULL;
    (void)y, (void)sink;
    return rnn_back(ctx, l, r, x[0], ln_f32(dy[0]), dhT, dcT, dx[0] ? ln_f32(dx[0]) : NULL,
                    flags);
}

static void rnn_free(rnn *r) {
    ln_activation_free(r->act);
    ln_activation_free(r->ract);
    ln_tensor *bufs[] = {r->sh, r->sc, r->xmask, r->hmask, r->hm, r->xt, r->pre, r->gate, r->h, r->c, r->tc, r->hp, r->dpre,
                         r->dhp, r->dh, r->dh2, r->dc, r->tmp, r->dxt, r->tmask, r->msave, r->gws, r->clast,
                         r->rprod, r->hlast, r->part, r->dall, r->rt, r->wt};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ln_tensor_release(bufs[i]);
}

static void rnn_destroy(ln_layer *l) { rnn_free(ln_layer_state(l)); }

/* return_sequences keeps the input mask; a last output drops it (Keras). */
static ln_status rnn_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                          const ln_tensor *in_mask, ln_tensor *out, int *has) {
    const rnn *r = ln_layer_state(l);
    return r->return_sequences ? ln_mask_keep(ctx, l, x, in_mask, out, has) : LN_OK;
}

static ln_status bidi_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                           const ln_tensor *in_mask, ln_tensor *out, int *has);

#define RNN_OPS(CREATE)                                                      \
    {                                                                        \
        .size = sizeof(ln_layer_ops), .state_size = sizeof(rnn),             \
        .create = CREATE, .build = rnn_build, .forward = rnn_forward,        \
        .backward = rnn_backward, .destroy = rnn_destroy,                    \
        .reset_states = rnn_reset_states, .compute_mask = rnn_mask,          \
    }
static const ln_layer_ops simple_ops = RNN_OPS(simple_create);
static const ln_layer_ops lstm_ops = RNN_OPS(lstm_create);
static const ln_layer_ops gru_ops = RNN_OPS(gru_create);

/* ---- Bidirectional ------------------------------------------------------------ */

/* Bidirectional (Keras): the wrapped layer over the sequence and a copy of
** it over the reversed sequence (go_backwards flipped), their outputs
** merged -- with return_sequences the backward outputs are put back in
** input order first, as Keras does. Weights: the forward layer's, then the
** backward one's ("forward_lstm/lstm_cell/kernel", ...). */
enum { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE };

typedef struct bidi {
    rnn f, b;
    int merge;
    char fname[40], bname[40]; /* weight name prefixes */
    ln_args *bargs;            /* the backward copy's arguments (owned) */
    ln_tensor *yf, *yb, *dyf, *dyb, *dxb;
    int masked; /* the last forward had a mask (s->f.tmask holds it) */
} bidi;

static ln_status bidi_create(ln_ctx *ctx, ln_layer *l, ln_args *a) {
    bidi *s = ln_layer_state(l);
    const char *unit, *merge;
    ln_args *sub;
    ln_status st;
    if ((st = ln_args_positional(ctx, a, 1, "layer")) ||
        (st = ln_args_unit(ctx, a, "layer", NULL, &unit, &sub)))
        return st;
    if (!unit) return ln_fail(ctx, LN_E_ARG, "missing required argument 'layer'");
    int cell = !strcmp(unit, "lstm") ? CELL_LSTM : !strcmp(unit, "gru") ? CELL_GRU
               : !strcmp(unit, "simple_rnn") ? CELL_SIMPLE : -1;
    if (cell < 0)
        return ln_fail(ctx, LN_E_ARG,
                       "'layer' must be a SimpleRNN, LSTM or GRU, got '%s'", unit);
    if (!(s->bargs = ln_args_clone(sub))) return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    if ((st = rnn_read(ctx, &s->f, sub, cell)) ||
        (st = rnn_read(ctx, &s->b, s->bargs, cell)))
        return ln_prefix(ctx, "'layer'");
    if (s->f.return_state || s->f.stateful)
        return ln_fail(ctx, LN_E_ARG, "'layer': %s = true inside Bidirectional is not "
                       "supported yet", s->f.stateful ? "stateful" : "return_state");
    s->b.go_backwards = !s->f.go_backwards;
    snprintf(s->fname, sizeof s->fname, "forward_%s/", unit);
    snprintf(s->bname, sizeof s->bname, "backward_%s/", unit);
    if ((st = ln_args_string(ctx, a, "merge_mode", "concat", &merge)) ||
        (st = lu_nil_only(ctx, a, "backward_layer")))
        return st;
    static const char *const modes[] = {"concat", "sum", "mul", "ave"};
    s->merge = -1;
    for (int i = 0; i < 4; i++)
        if (merge && !strcmp(merge, modes[i])) s->merge = i;
    if (s->merge < 0)
        return ln_fail(ctx, LN_E_ARG,
                       "'merge_mode' must be 'concat', 'sum', 'mul' or 'ave', got '%s' "
                       "(nil, two outputs, needs a functional model)", merge ? merge : "nil");
    return LN_OK;
}

static ln_status bidi_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                            int *nout, ln_shape *out) {
    bidi *s = ln_layer_state(l);
    ln_status st;
    if ((st = check_input(ctx, in)) ||
        (st = rnn_add_weights(ctx, l, &s->f, s->fname, in[0].dim[1])) ||
        (st = rnn_add_weights(ctx, l, &s->b, s->bname, in[0].dim[1])))
        return st;
    int64_t u = s->f.units * (s->merge == MERGE_CONCAT ? 2 : 1);
    if (s->f.return_sequences) {
        out[0].dim[1] = u;
    } else {
        out[0].nd = 1;
        out[0].dim[0] = u;
    }
    return LN_OK;
}

/* Rows of the outputs: (batch, step) with S steps (1 without sequences);
** the backward layer's row of output row i. */
static int64_t brow(const bidi *s, int64_t i, int64_t S) {
    return s->f.return_sequences ? i - i % S + (S - 1 - i % S) : i;
}

/* Whether output row i is a masked step given zeros (return_sequences). */
static int zeroed(const bidi *s, const ln_tensor *mask, int64_t i) {
    return mask && s->f.return_sequences && ln_f32(mask)[i] == 0.0f;
}

static ln_status bidi_mask(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                           const ln_tensor *in_mask, ln_tensor *out, int *has) {
    const bidi *s = ln_layer_state(l);
    return s->f.return_sequences ? ln_mask_keep(ctx, l, x, in_mask, out, has) : LN_OK;
}

static ln_status bidi_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                              ln_tensor *const *y, unsigned flags) {
    bidi *s = ln_layer_state(l);
    const int64_t B = x[0]->shape[0], S = s->f.return_sequences ? x[0]->shape[1] : 1;
    const int64_t U = s->f.units, shape[2] = {B * S, U};
    const ln_tensor *mask = ln_layer_input_mask(l);
    s->masked = mask != NULL;
    ln_status st;
    if ((st = lu_buffer(ctx, &s->yf, 2, shape)) || (st = lu_buffer(ctx, &s->yb, 2, shape)) ||
        (st = rnn_run(ctx, l, &s->f, x[0], ln_f32(s->yf), mask, flags)) ||
        (st = rnn_run(ctx, l, &s->b, x[0], ln_f32(s->yb), mask, flags)))
        return st;
    const float *yf = ln_f32(s->yf), *yb = ln_f32(s->yb);
    float *out = ln_f32(y[0]);
    const int64_t W = s->merge == MERGE_CONCAT ? 2 * U : U;
    for (int64_t i = 0; i < B * S; i++) {
        if (zeroed(s, mask, i)) { /* tf.keras: zero_output_for_mask */
            memset(out + i * W, 0, (size_t)W * sizeof *out);
            continue;
        }
        const float *a = yf + i * U, *b = yb + brow(s, i, S) * U;
        if (s->merge == MERGE_CONCAT) {
            memcpy(out + i * 2 * U, a, (size_t)U * sizeof *out);
            memcpy(out + i * 2 * U + U, b, (size_t)U * sizeof *out);
            continue;
        }
        float *o = out + i * U;
        for (int64_t u = 0; u < U; u++)
            o[u] = s->merge == MERGE_SUM ? a[u] + b[u]
                   : s->merge == MERGE_MUL ? a[u] * b[u] : (a[u] + b[u]) * 0.5f;
    }
    return LN_OK;
}

static ln_status bidi_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                               const ln_tensor *const *y, const ln_tensor *const *dy,
                               ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    bidi *s = ln_layer_state(l);
    const int64_t B = x[0]->shape[0], S = s->f.return_sequences ? x[0]->shape[1] : 1;
    const int64_t U = s->f.units, shape[2] = {B * S, U};
    ln_status st;
    if ((st = lu_buffer(ctx, &s->dyf, 2, shape)) || (st = lu_buffer(ctx, &s->dyb, 2, shape)) ||
        (dx[0] && (st = lu_buffer_like(ctx, &s->dxb, x[0]))))
        return st;
    const float *g = ln_f32(dy[0]), *yf = ln_f32(s->yf), *yb = ln_f32(s->yb);
    float *df = ln_f32(s->dyf), *db = ln_f32(s->dyb);
    for (int64_t i = 0; i < B * S; i++) {
        int64_t j = brow(s, i, S);
        const int64_t w = s->merge == MERGE_CONCAT ? 2 * U : U;
        const int zero = s->masked && s->f.return_sequences &&
                         ln_f32(s->f.tmask)[(s->f.go_backwards ? S - 1 - i % S : i % S) * B + i / S] == 0.0f;
        for (int64_t u = 0; u < U; u++) {
            float gi = zero ? 0.0f : g[i * w + u];
            if (zero) {
                df[i * U + u] = 0.0f, db[j * U + u] = 0.0f;
                continue;
            }
            if (s->merge == MERGE_CONCAT) {
                df[i * U + u] = gi, db[j * U + u] = g[i * w + U + u];
            } else if (s->merge == MERGE_MUL) {
                df[i * U + u] = gi * yb[j * U + u], db[j * U + u] = gi * yf[i * U + u];
            } else {
                float h = s->merge == MERGE_AVE ? gi * 0.5f : gi;
                df[i * U + u] = h, db[j * U + u] = h;
            }
        }
    }
    float *dxf = dx[0] ? ln_f32(dx[0]) : NULL, *dxb = dx[0] ? ln_f32(s->dxb) : NULL;
    if ((st = rnn_back(ctx, l, &s->f, x[0], df, NULL, NULL, dxf, flags)) ||
        (st = rnn_back(ctx, l, &s->b, x[0], db, NULL, NULL, dxb, flags)))
        return st;
    if (dxf)
        for (int64_t i = 0; i < x[0]->numel; i++) dxf[i] += dxb[i];
    (void)y, (void)sink;
    return LN_OK;
}

static void bidi_destroy(ln_layer *l) {
    bidi *s = ln_layer_state(l);
    rnn_free(&s->f);
    rnn_free(&s->b);
    ln_args_free(s->bargs);
    ln_tensor *bufs[] = {s->yf, s->yb, s->dyf, s->dyb, s->dxb};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ln_tensor_release(bufs[i]);
}

static const ln_layer_ops bidi_ops = {
    .size = sizeof(ln_layer_ops), .state_size = sizeof(bidi), .create = bidi_create,
    .build = bidi_build, .forward = bidi_forward, .backward = bidi_backward,
    .destroy = bidi_destroy, .compute_mask = bidi_mask,
};

static const ln_unit units[] = {
    {.kind = LN_KIND_LAYER, .name = "simple_rnn", .class_name = "SimpleRNN",
     .version = 1, .summary = "fully-connected recurrent layer: h = act(x W + h R + b)",
     .ops = &simple_ops},
    {.kind = LN_KIND_LAYER, .name = "lstm", .class_name = "LSTM", .version = 1,
     .summary = "long short-term memory (Keras 2 gates i, f, c, o)", .ops = &lstm_ops},
    {.kind = LN_KIND_LAYER, .name = "gru", .class_name = "GRU", .version = 1,
     .summary = "gated recurrent unit (Keras 2 gates z, r, h; reset_after)",
     .ops = &gru_ops},
    {.kind = LN_KIND_LAYER, .name = "bidirectional", .class_name = "Bidirectional",
     .version = 1, .summary = "a recurrent layer over the sequence both ways, merged",
     .ops = &bidi_ops},
};

LN_PLUGIN("recurrent") {
    ln_status st = LN_OK;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        ln_status s = host->add(host, &units[i]);
        if (s && !st) st = s;
    }
    return st;
}
