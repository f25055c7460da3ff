/*
** conv_util.h -- private helpers of the convolution, pooling and spatial
** layer plugins (not installed). Everything is static: each plugin .so
** compiles its own copy.
**
**  - keyword arguments of spatial layers: size tuples (kernel_size,
**    strides, dilation_rate, pool_size), padding ("valid", "same",
**    "causal"; any case, recorded in lower case as Keras does) and
**    data_format ("channels_last" by default);
**  - geometry: TF's output sizes and its asymmetric "same" padding (the
**    extra pixel goes after), with build-time errors naming the shapes;
**  - work sharing (cu_run) and per-thread scratch memory that is grown
**    before a parallel region and never inside one;
**  - layout changes between channels_first and channels_last samples.
**
** Every spatial kernel works on channels_last samples, [H, W, C] (a 1-D
** layer is the case H = 1); channels_first layers transpose at their
** boundaries. The convolution kernels themselves live in conv_gemm.h.
*/
#ifndef LUNET_CONV_UTIL_H
#define LUNET_CONV_UTIL_H

#include <ctype.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "lunet/plugin_util.h"

/* ---- the layer object: every access the spatial plugins make -------------- */

static inline void *cu_state(const ln_layer *l) { return ln_layer_state(l); }

/* The weight's value as floats (NULL for an absent weight, index -1). */
static inline float *cu_value(const ln_layer *l, int i) {
    return i >= 0 ? ln_f32(ln_layer_weight(l, i)) : NULL;
}

/* Its gradient when this backward must write it (LN_NEED_DW and the
** weight trains), else NULL. */
static inline float *cu_grad(const ln_layer *l, int i, unsigned flags) {
    if (i < 0 || !(flags & LN_NEED_DW) || !ln_layer_trains(l, i)) return NULL;
    return ln_f32(ln_layer_grad(l, i));
}

/* Add a weight (ln_layer_add_weight) with its regularization factors;
** *index gets its position. */
static LU_UNUSED ln_status cu_add_weight(ln_ctx *ctx, ln_layer *l,
                                         const char *name, int nd,
                                         const int64_t *shape, int trainable,
                                         const char *init, ln_args *init_args,
                                         double l1, double l2, int *index) {
    ln_status st = ln_layer_add_weight(ctx, l, name, nd, shape, trainable,
                                       init, init_args, index);
    if (!st) ln_layer_set_regularizer(l, *index, l1, l2);
    return st;
}

/* ---- keyword arguments ------------------------------------------------------ */

enum { CU_VALID, CU_SAME, CU_CAUSAL };

/* Record v (n integers) as the effective value of key, a list as Keras's
** configs show tuples. */
static LU_UNUSED ln_status cu_record_ints(ln_ctx *ctx, ln_args *a,
                                          const char *key, int n,
                                          const int64_t *v) {
    double d[LN_MAX_DIM];
    for (int i = 0; i < n; i++) d[i] = (double)v[i];
    int got;
    double back[LN_MAX_DIM];
    if (ln_args_set_numbers(a, key, n, d) ||
        ln_args_numbers(ctx, a, key, LN_MAX_DIM, &got, back))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    return LN_OK;
}

/* A size tuple of `rank` integers >= lo: one integer (repeated) or a list
** of rank. pos: positional index (0 = none); def: NULL = required. */
static LU_UNUSED ln_status cu_tuple(ln_ctx *ctx, ln_args *a, const char *key,
                                    int pos, int rank, const int64_t *def,
                                    int64_t lo, int64_t *out) {
    ln_status st = pos ? ln_args_positional(ctx, a, pos, key) : LN_OK;
    if (st) return st;
    int n = 0;
    int64_t v[LN_MAX_DIM];
    if (ln_args_has(a, key) || !def) {
        if (!ln_args_has(a, key))
            return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'", key);
        if ((st = ln_args_ints(ctx, a, key, LN_MAX_DIM, &n, v))) return st;
        if (n != 1 && n != rank)
            return ln_fail(ctx, LN_E_ARG,
                           "'%s' must be an integer or a list of %d integers, "
                           "got %d values",
                           key, rank, n);
    }
    for (int i = 0; i < rank; i++) {
        out[i] = n == 0 ? def[i] : n == 1 ? v[0] : v[i];
        if (out[i] < lo || out[i] > ((int64_t)1 << 30))
            return ln_fail(ctx, LN_E_ARG, "'%s' must hold integers >= %lld, got %lld",
                           key, (long long)lo, (long long)out[i]);
    }
    return cu_record_ints(ctx, a, key, rank, out);
}

/* Read a string keyword case-insensitively into `low` (lower case) and
** record it so; NULL default means "required". */
static LU_UNUSED ln_status cu_lower_string(ln_ctx *ctx, ln_args *a,
                                           const char *key, const char *def,
                                           char *low, size_t n) {
    const char *s;
    ln_status st = ln_args_string(ctx, a, key, def, &s);
    if (st) return st;
    if (!s) return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'", key);
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[i] = 0;
    if (s[i]) low[0] = 0; /* too long: matches nothing */
    if (ln_args_set_string(a, key, low) || ln_args_string(ctx, a, key, NULL, &s))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    return LN_OK;
}

/* padding: "valid" or "same" (and "causal" when allowed), any case. */
static LU_UNUSED ln_status cu_padding(ln_ctx *ctx, ln_args *a, int causal_ok,
                                      int *out) {
    char s[16];
    ln_status st = cu_lower_string(ctx, a, "padding", "valid", s, sizeof s);
    if (st) return st;
    if (!strcmp(s, "valid")) *out = CU_VALID;
    else if (!strcmp(s, "same")) *out = CU_SAME;
    else if (causal_ok && !strcmp(s, "causal")) *out = CU_CAUSAL;
    else {
        const char *given;
        ln_args_string(ctx, a, "padding", NULL, &given);
        return ln_fail(ctx, LN_E_ARG,
                       "'padding' must be \"valid\" or \"same\"%s, got \"%s\"",
                       causal_ok ? " or \"causal\"" : "", s[0] ? s : "?");
    }
    return LN_OK;
}

/* data_format: "channels_last" (default, also for nil) or "channels_first". */
static LU_UNUSED ln_status cu_data_format(ln_ctx *ctx, ln_args *a,
                                          int *channels_first) {
    char s[32];
    ln_status st = cu_lower_string(ctx, a, "data_format", "channels_last", s,
                                   sizeof s);
    if (st) return st;
    if (!strcmp(s, "channels_last")) *channels_first = 0;
    else if (!strcmp(s, "channels_first")) *channels_first = 1;
    else
        return ln_fail(ctx, LN_E_ARG,
                       "'data_format' must be \"channels_last\" or "
                       "\"channels_first\", got \"%s\"",
                       s);
    return LN_OK;
}

/* ---- shapes ------------------------------------------------------------------ */

/* A sample as the kernels see it: [h, w, c] (channels_last). */
typedef struct cu_dims {
    int64_t h, w, c;
} cu_dims;

/* The layer's input shape (without the batch axis) as [h, w, c] for a
** spatial rank of 1 or 2, checking the rank; the message names the shape. */
static LU_UNUSED ln_status cu_sample_dims(ln_ctx *ctx, int rank,
                                          int channels_first, int in_nd,
                                          const int64_t *in_shape,
                                          cu_dims *d) {
    char buf[128];
    if (in_nd != rank + 1)
        return ln_fail(ctx, LN_E_SHAPE,
                       "expects inputs of rank %d (batch, %s, %s), got input "
                       "shape (None, %s",
                       rank + 2, rank == 2 ? "rows, cols" : "steps",
                       channels_first ? "first: channels" : "channels",
                       ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1);
    const int64_t *sp = in_shape + (channels_first ? 1 : 0);
    d->c = in_shape[channels_first ? 0 : rank];
    d->h = rank == 2 ? sp[0] : 1;
    d->w = sp[rank - 1];
    if (d->h < 1 || d->w < 1 || d->c < 1)
        return ln_fail(ctx, LN_E_SHAPE, "input shape (None, %s has an empty axis",
                       ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1);
    return LN_OK;
}

/* The output shape (without batch) of a sample [h, w, c] in the layer's
** format and rank. */
static LU_UNUSED void cu_out_shape(int rank, int channels_first,
                                   const cu_dims *d, int *out_nd,
                                   int64_t *out_shape) {
    int64_t sp[2] = {d->h, d->w};
    const int64_t *s = rank == 2 ? sp : sp + 1;
    *out_nd = rank + 1;
    if (channels_first) {
        out_shape[0] = d->c;
        memcpy(out_shape + 1, s, (size_t)rank * sizeof *s);
    } else {
        memcpy(out_shape, s, (size_t)rank * sizeof *s);
        out_shape[rank] = d->c;
    }
}

/* One spatial axis of a window operation from a "big" side (the image: a
** convolution's or pooling's input, a transposed convolution's output) to
** a "small" side: small index o reads big index o*s - pad + t*d for taps
** t < k (entries outside [0, in) are padding). */
typedef struct cu_axis {
    int64_t in, out; /* big and small sizes */
    int64_t k, s, d; /* kernel, stride, dilation */
    int64_t pad;     /* padding before */
} cu_axis;

/* The axis of a window of k taps (dilation d, stride s) over `in` pixels
** with TF's rules: valid: out = floor((in - eff) / s) + 1; same:
** out = ceil(in / s), padded by max((out - 1) s + eff - in, 0), the smaller
** half before; causal: eff - 1 before. eff = (k - 1) d + 1. Returns 0 when
** the window does not fit (out < 1). */
static LU_UNUSED int cu_axis_make(cu_axis *ax, int64_t in, int64_t k,
                                  int64_t s, int64_t d, int padding) {
    const int64_t eff = (k - 1) * d + 1;
    ax->in = in, ax->k = k, ax->s = s, ax->d = d;
    if (padding == CU_SAME) {
        ax->out = (in + s - 1) / s;
        int64_t total = (ax->out - 1) * s + eff - in;
        ax->pad = total > 0 ? total / 2 : 0;
    } else if (padding == CU_CAUSAL) {
        ax->pad = eff - 1;
        ax->out = (in - 1) / s + 1;
    } else {
        ax->pad = 0;
        ax->out = in >= eff ? (in - eff) / s + 1 : 0;
    }
    return ax->out >= 1;
}

/* Taps [*t0, *t1) of an axis whose big index o*s - pad + t*d is inside. */
static inline void cu_taps(const cu_axis *ax, int64_t o, int64_t *t0,
                           int64_t *t1) {
    const int64_t i0 = o * ax->s - ax->pad; /* big index of tap 0 */
    int64_t a = 0, b = ax->k;
    if (i0 < 0) a = (-i0 + ax->d - 1) / ax->d;
    if (i0 + (b - 1) * ax->d >= ax->in) b = (ax->in - 1 - i0) / ax->d + 1;
    if (i0 >= ax->in) b = 0;
    if (b < a) b = a;
    *t0 = a;
    *t1 = b;
}

/* The build error for a window that does not fit, naming the layer's
** input shape, the window and the padding. */
static LU_UNUSED ln_status cu_fit_error(ln_ctx *ctx, const char *what,
                                        int rank, const int64_t *k,
                                        const int64_t *d, int in_nd,
                                        const int64_t *in_shape) {
    char sh[128], ks[64];
    int n = 0;
    for (int i = 0; i < rank; i++)
        n += snprintf(ks + n, sizeof ks - (size_t)n, "%s%lld", i ? "x" : "",
                      (long long)((k[i] - 1) * d[i] + 1));
    return ln_fail(ctx, LN_E_SHAPE,
                   "%s %s is larger than the (padded) input: input shape "
                   "(None, %s gives an empty output (use padding = \"same\" "
                   "or a larger input)",
                   what, ks, ln_dims_str(in_nd, in_shape, sh, sizeof sh) + 1);
}

/* a * b * ... without overflow past 2^40 (far beyond what fits in memory;
** tensors refuse sizes over 64 GiB anyway). 0 on overflow. */
static LU_UNUSED int64_t cu_mul(int n, const int64_t *f) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) {
        if (f[i] < 0 || (f[i] && p > ((int64_t)1 << 40) / f[i])) return 0;
        p *= f[i];
    }
    return p;
}

/* ---- work sharing ----------------------------------------------------------- */

typedef void (*cu_task_fn)(void *arg, int64_t task);

/* Threads that may run tasks of one cu_run: the team's when inside a
** batch's thread team, else OpenMP's. */
static LU_UNUSED int cu_threads(void) {
    int nt = ln_parallel_threads();
    return nt > 1 ? nt : omp_in_parallel() ? 1 : omp_get_max_threads();
}

/* Work estimates, in flops (a memory-bound loop counts CU_FLOPS_PER_ELEMENT
** per element): below CU_OMP_MIN a run stays on the calling thread
** outside a team (waking a sleeping OpenMP thread and joining it costs tens
** of microseconds with OMP_WAIT_POLICY=passive); inside a batch's team,
** whose threads spin, tasks are shared from CU_TEAM_MIN. */
#define CU_FLOPS_PER_ELEMENT 8.0
#define CU_OMP_MIN 4e6
#define CU_TEAM_MIN 1e5

/* fn(arg, t) for t < ntasks. Tasks write disjoint outputs with arithmetic
** that does not depend on who runs them, so any schedule gives the same
** bits: inside a batch's thread team they go to the team, else to an
** OpenMP region, when the work (flops) pays for it; otherwise they run in
** order on this thread. A task may use cu_scratch memory of the thread
** running it (omp_get_thread_num()); it never allocates. */
static LU_UNUSED void cu_run(double work, int64_t ntasks, cu_task_fn fn,
                             void *arg) {
    if (ntasks <= 0) return;
    if (ntasks > 1 && work >= CU_TEAM_MIN && ln_parallel_threads() > 1) {
        ln_parallel_tasks(ntasks, fn, arg);
        return;
    }
    int nt = ntasks > 1 && work >= CU_OMP_MIN && !omp_in_parallel()
                 ? omp_get_max_threads() : 1;
    if (nt > ntasks) nt = (int)ntasks;
    if (nt <= 1) {
        for (int64_t t = 0; t < ntasks; t++) fn(arg, t);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t t = 0; t < ntasks; t++) fn(arg, t);
}

/* cu_run for a memory-bound loop over `elements` elements. */
static LU_UNUSED void cu_run_sized(int64_t elements, int64_t ntasks,
                                   cu_task_fn fn, void *arg) {
    cu_run((double)elements * CU_FLOPS_PER_ELEMENT, ntasks, fn, arg);
}

/* Per-thread scratch floats: slot i for OpenMP thread i of a cu_run. Grown
** (never shrunk) by cu_scratch_reserve before the run. */
typedef struct cu_scratch {
    ln_tensor *buf;
    int64_t per; /* floats per thread, a multiple of 16 (64 bytes) */
    int n;       /* threads covered */
} cu_scratch;

static LU_UNUSED ln_status cu_scratch_reserve(ln_ctx *ctx, cu_scratch *s,
                                              int64_t floats) {
    int nt = cu_threads();
    if (nt < 1) nt = 1;
    floats = (floats + 15) / 16 * 16;
    if (s->buf && floats <= s->per && nt <= s->n) return LN_OK;
    if (floats < s->per) floats = s->per;
    if (nt < s->n) nt = s->n;
    int64_t total = floats * nt;
    if (floats && total / floats != nt)
        return ln_fail(ctx, LN_E_NOMEM, "scratch memory size overflows");
    ln_status st = lu_buffer(ctx, &s->buf, 1, &total);
    if (st) return st;
    s->per = floats;
    s->n = nt;
    return LN_OK;
}

static inline float *cu_scratch_get(const cu_scratch *s) {
    return ln_f32(s->buf) + s->per * omp_get_thread_num();
}

static LU_UNUSED void cu_scratch_free(cu_scratch *s) {
    ln_tensor_release(s->buf);
    s->buf = NULL;
    s->per = 0;
    s->n = 0;
}

/* ---- layouts ------------------------------------------------------------------ */

/* Sample-wise layout change of n samples of [a x b] into [b x a]
** (channels_first [C, P] <-> channels_last [P, C]), one task per sample. */
typedef struct cu_layout_job {
    const float *src;
    float *dst;
    int64_t a, b;
} cu_layout_job;

static LU_UNUSED void cu_layout_task(void *arg, int64_t t) {
    const cu_layout_job *j = arg;
    const int64_t per = j->a * j->b;
    lu_transpose(j->dst + t * per, j->a, j->src + t * per, j->b, j->a, j->b);
}

static LU_UNUSED void cu_swap_layout(float *dst, const float *src, int64_t n,
                                     int64_t a, int64_t b) {
    cu_layout_job j = {src, dst, a, b};
    if (a == 1 || b == 1) {
        memcpy(dst, src, (size_t)(n * a * b) * sizeof *dst);
        return;
    }
    cu_run_sized(n * a * b, n, cu_layout_task, &j);
}

/* channels_last view of x: x itself, or its transpose in *buf. */
static LU_UNUSED ln_status cu_to_last(ln_ctx *ctx, int channels_first,
                                      const ln_tensor *x, const cu_dims *d,
                                      ln_tensor **buf, const float **out) {
    if (!channels_first) {
        *out = ln_f32(x);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, buf, x);
    if (st) return st;
    cu_swap_layout(ln_f32(*buf), ln_f32(x), x->shape[0], d->c, d->h * d->w);
    *out = ln_f32(*buf);
    return LN_OK;
}

/* Where a channels_last result for y goes: y itself, or *buf (then
** cu_from_last moves it into y). */
static LU_UNUSED ln_status cu_last_dst(ln_ctx *ctx, int channels_first,
                                       ln_tensor *y, ln_tensor **buf,
                                       float **out) {
    if (!channels_first) {
        *out = ln_f32(y);
        return LN_OK;
    }
    ln_status st = lu_buffer_like(ctx, buf, y);
    if (st) return st;
    *out = ln_f32(*buf);
    return LN_OK;
}

static LU_UNUSED void cu_from_last(int channels_first, ln_tensor *y,
                                   const ln_tensor *buf, const cu_dims *d) {
    if (channels_first)
        cu_swap_layout(ln_f32(y), ln_f32(buf), y->shape[0], d->h * d->w, d->c);
}

/* ---- output activations ------------------------------------------------------------------- */

/* Runs on rows [0, rows) of a finished block of `cols` columns. */
typedef void (*cu_post_fn)(const void *arg, float *y, int64_t rows,
                           int64_t cols);

/* How a layer's output activation runs: 0 none (identity, or skipped
** with LN_LOGITS); 1 inside the forward's tasks on finished rows of whole
** pixels (channels_last, and backward needs y only: relu, sigmoid, softmax
** over the channels); 2 after the forward, from a kept pre-activation z. */
static LU_UNUSED int cu_act_mode(const ln_activation *act, int channels_first,
                                 unsigned flags) {
    if ((flags & LN_LOGITS) || ln_activation_is_identity(act)) return 0;
    return !channels_first && !ln_activation_ops_of(act)->backward_uses_x ? 1 : 2;
}

/* Mode 1: the activation in place on finished rows (arg: the activation). */
static LU_UNUSED void cu_act_post(const void *arg, float *y, int64_t rows,
                                  int64_t cols) {
    ln_activation_forward(arg, y, y, rows, cols);
}

typedef struct cu_act_job {
    const ln_activation *act;
    const float *z, *y, *dy;
    float *out;
    int64_t rows, cols, per;
} cu_act_job;

static LU_UNUSED void cu_act_task(void *arg, int64_t t) {
    const cu_act_job *j = arg;
    const int64_t r0 = t * j->per, m = j->rows - r0 < j->per ? j->rows - r0 : j->per;
    const int64_t o = r0 * j->cols;
    if (j->dy)
        ln_activation_backward(j->act, j->z ? j->z + o : NULL, j->y + o, j->dy + o,
                               j->out + o, m, j->cols);
    else
        ln_activation_forward(j->act, j->z + o, j->out + o, m, j->cols);
}

/* Mode 2 forward (dy NULL: out = act(z)) or any mode's backward (out =
** act'(z or y) dy), over a tensor t's rows (its last axis), in tasks. */
static LU_UNUSED void cu_act_run(const ln_activation *act, const ln_tensor *t,
                                 const float *z, const float *y,
                                 const float *dy, float *out) {
    cu_act_job j = {act, z, y, dy, out, 0, t->shape[t->ndim - 1], 0};
    j.rows = t->numel / j.cols;
    j.per = 16384 / j.cols + 1;
    cu_run_sized(t->numel, (j.rows + j.per - 1) / j.per, cu_act_task, &j);
}

/* ---- the output side of a layer with an activation ---------------------------

** Conv and depthwise layers compute a channels_last product, then the
** activation (cu_act_mode). cu_out_begin gives where the product goes (y,
** or the kept pre-activation z, or a channels_last staging buffer for
** channels_first), cu_out_end finishes y; in backward cu_out_grad gives
** the gradient with respect to the product, channels_last. Buffers are
** grown with lu_buffer and owned by the struct. */
typedef struct cu_out {
    ln_tensor *z, *yl, *dz, *dzl;
    ln_tensor *final; /* the forward's: y or z */
} cu_out;

static LU_UNUSED ln_status cu_out_begin(ln_ctx *ctx, cu_out *o, int mode, int cf,
                                        ln_tensor *y, float **dst) {
    ln_status st;
    o->final = y;
    if (mode == 2) {
        if ((st = lu_buffer_like(ctx, &o->z, y))) return st;
        o->final = o->z;
    }
    return cu_last_dst(ctx, cf, o->final, &o->yl, dst);
}

static LU_UNUSED void cu_out_end(cu_out *o, const ln_activation *act, int mode, int cf,
                                 ln_tensor *y, const cu_dims *out) {
    cu_from_last(cf, o->final, o->yl, out);
    if (mode == 2) cu_act_run(act, y, ln_f32(o->z), NULL, NULL, ln_f32(y));
}

static LU_UNUSED ln_status cu_out_grad(ln_ctx *ctx, cu_out *o, const ln_activation *act,
                                       int mode, int cf, const ln_tensor *y,
                                       const ln_tensor *dy, const cu_dims *out,
                                       const float **dzl) {
    ln_status st;
    const float *dz = ln_f32(dy);
    if (mode) {
        if ((st = lu_buffer_like(ctx, &o->dz, dy))) return st;
        cu_act_run(act, dy, mode == 2 ? ln_f32(o->z) : NULL, ln_f32(y), ln_f32(dy),
                   ln_f32(o->dz));
        dz = ln_f32(o->dz);
    }
    *dzl = dz;
    if (!cf) return LN_OK;
    if ((st = lu_buffer_like(ctx, &o->dzl, dy))) return st;
    cu_swap_layout(ln_f32(o->dzl), dz, dy->shape[0], out->c, out->h * out->w);
    *dzl = ln_f32(o->dzl);
    return LN_OK;
}

static LU_UNUSED void cu_out_free(cu_out *o) {
    ln_tensor_release(o->z);
    ln_tensor_release(o->yl);
    ln_tensor_release(o->dz);
    ln_tensor_release(o->dzl);
}

/* ---- sums over rows ----------------------------------------------------------- */

/* Column sums of [rows x cols] in a fixed blocking: rows in blocks of
** CU_SUM_ROWS, each block summed in row order in double (one task per
** block), then the block sums added in block order. Deterministic for
** any thread count. part: nblocks * cols doubles of scratch. */
#define CU_SUM_ROWS 512

typedef struct cu_colsum_job {
    const float *x;
    double *part;
    int64_t rows, cols;
} cu_colsum_job;

static LU_UNUSED int64_t cu_colsum_tasks(int64_t rows) {
    return (rows + CU_SUM_ROWS - 1) / CU_SUM_ROWS;
}

/* Compiled per CPU (LN_CLONES): the float-to-double adds vectorise 8 or 16
** wide instead of SSE2's 2 (the same sums in the same order). `omp simd`:
** -O2's cost model leaves a loop whose pointers may overlap scalar. */
LN_CLONES static LU_UNUSED void cu_colsum_task(void *arg, int64_t t) {
    const cu_colsum_job *j = arg;
    const int64_t r0 = t * CU_SUM_ROWS;
    const int64_t r1 = r0 + CU_SUM_ROWS < j->rows ? r0 + CU_SUM_ROWS : j->rows;
    double *p = j->part + t * j->cols;
    for (int64_t c = 0; c < j->cols; c++) p[c] = 0;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = j->x + r * j->cols;
#pragma omp simd
        for (int64_t c = 0; c < j->cols; c++) p[c] += xr[c];
    }
}

/* The work of a column sum for cu_run: a memory-bound pass over its
** elements (counting its tasks instead left the first layer's bias sums,
** 25,088 x 64 at batch 32 with no other task in the run, on one thread:
** ~1.3 ms of a chapter-14 CNN batch while the team's other thread slept). */
static LU_UNUSED double cu_colsum_work(const cu_colsum_job *j) {
    return (double)j->rows * (double)j->cols * CU_FLOPS_PER_ELEMENT;
}

static LU_UNUSED void cu_colsum_finish(const cu_colsum_job *j, float *out) {
    const int64_t nb = cu_colsum_tasks(j->rows);
    for (int64_t c = 0; c < j->cols; c++) {
        double s = 0;
        for (int64_t b = 0; b < nb; b++) s += j->part[b * j->cols + c];
        out[c] = (float)s;
    }
}

#endif
