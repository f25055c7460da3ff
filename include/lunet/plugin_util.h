/*
** plugin_util.h -- the helpers every plugin of lunet is written with, the
** built-in ones and those out of tree alike (installed with the SDK).
** Everything here is static: each plugin .so compiles its own copy, so a
** plugin stays one self-contained file plus this header.
**
**  - fast loops: LN_CLONES (lunet/parallel.h) compiles a loop function per
**    CPU level and ln_parallel_for runs it over chunks, on a team or OpenMP
**    threads from LN_PAR_MIN elements on. Every thread runs the same clone, so results
**    never depend on how the work is cut. An OpenMP region's outlined body
**    is not cloned, which is why the loops live in cloned chunk functions
**    and never inside `omp parallel`. lu_select blends without a branch.
**  - keyword arguments: nil-only keys (constraints), optional and required
**    numbers, non-negative numbers, rates, seeds, activations and
**    initializers given as unit references;
**  - sums over a whole variable with a fixed blocking (lu_parallel_sums:
**    the norms of LAMB and LARS);
**  - shapes as Keras prints them in messages (lu_shape_str);
**  - scratch buffers a layer owns, grown with ln_tensor_resize (no
**    allocation once the largest batch was seen).
**
** Arithmetic policy of the built-in update rules (optimizers): slot
** recurrences (m, v, accumulators) stay in double -- a float32
** b1*m + (1-b1)*g loses its relative accuracy when the two terms cancel --
** and are rounded once when stored; the step itself (square root, division
** and the subtraction from the weight) runs in float32 on the stored,
** rounded slot values: 16 lanes per AVX-512 instruction instead of 8, and
** within 1e-6 of the float64 formula relative to the update (each float op
** adds at most 2^-24; tests/c/test_optimizers.c checks every rule).
**
** Kind-specific helpers: plugin_loss.h, plugin_metric.h,
** plugin_initializer.h, plugin_schedule.h.
*/
#ifndef LUNET_PLUGIN_UTIL_H
#define LUNET_PLUGIN_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lunet/plugin.h"
#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#define LU_SSE 1
#endif

#if defined(__GNUC__)
#define LU_UNUSED __attribute__((unused))
#else
#define LU_UNUSED
#endif

/* c ? a : b without a branch (a bit-mask blend of both values, exact).
** Elementwise kernels select on the sign of random data, where a branch is
** mispredicted half the time: this is ~5x faster at -O2. */
static inline float lu_select(int c, float a, float b) {
    uint32_t m = 0u - (uint32_t)(c != 0), ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    float r;
    memcpy(&r, &ua, sizeof r);
    return r;
}

/* ---- sums in lanes ------------------------------------------------------------- */

/* A sum kept in LU_LANES double lanes (lane k taking elements k, k +
** LU_LANES, ... in order; a[k] += ... inside a `#pragma omp simd` loop over
** k of a per-CPU function) is added up in this fixed tree: the same bits on
** every CPU, clone and thread count, and independent chains instead of one
** chain of dependent additions (4 cycles an element). */
#define LU_LANES 16
#if defined(__GNUC__)
#define LU_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define LU_ALWAYS_INLINE static inline
#endif

LU_ALWAYS_INLINE double lu_lanes_total(double *a) {
    for (int k = 0; k < 8; k++) a[k] += a[k + 8];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* ---- elementwise activations ---------------------------------------------------- */

/* What an activation's chunk functions share: its state, the inputs and
** the output. Written as
**     LN_CLONES static void fwd_chunk(void *arg, int64_t lo, int64_t hi) {
**         const lu_act_job *j = arg; ... j->out[i] = f(j->x[i]) ...
**     }
**     static void fwd(const void *s, const float *x, float *y, int64_t r,
**                     int64_t c) {
**         lu_act_run(fwd_chunk, s, x, NULL, NULL, y, r * c);
**     }
** an activation is vectorised per CPU, serial below LN_PAR_MIN elements and
** spread over the threads (or the team) above. */
typedef struct lu_act_job {
    const void *state;
    const float *x, *y, *dy; /* forward reads x; backward x or y, and dy */
    float *out;              /* y, or dx */
} lu_act_job;

static inline void lu_act_run(ln_range_fn chunk, const void *state,
                              const float *x, const float *y, const float *dy,
                              float *out, int64_t n) {
    lu_act_job j = {state, x, y, dy, out};
    ln_parallel_for(n, chunk, &j);
}

/* ---- update rules with and without a weight regularizer ---------------------- */

/* An elementwise optimizer offers update and update_reg (plugin.h) from
** one loop. The loop is an always-inline body taking `reg` (0, 1 or 2)
** that reads gradient element i through LU_GRAD; LU_UPDATE_LOOPS compiles
** it three times, as the chunk functions NAME (reg 0: the plain update),
** NAME##_l2 (1: an l2 penalty's gradient folded in) and NAME##_reg (2: l1
** and l2), each vectorised per CPU; LU_PICK chooses one for an lu_reg:
**
**     typedef struct job { float *var; const float *g; double lr; lu_reg reg; } job;
**     LU_BODY void plain_body(const job *j, int64_t lo, int64_t hi, int reg) {
**         float *restrict var = j->var;
**         const float *restrict g = j->g;
**         const lu_reg r = j->reg;
**         const float nlr = (float)-j->lr;
**     #pragma omp simd
**         for (int64_t i = lo; i < hi; i++)
**             var[i] = fmaf(nlr, LU_GRAD(r, reg, g, var, i), var[i]);
**     }
**     LU_UPDATE_LOOPS(plain, plain_body, job)
**     static void run(const void *state, float *var, const float *grad,
**                     float *const *slots, int64_t n, int64_t t, double lr,
**                     const double *globals, lu_reg reg) {
**         job j = {var, grad, lr, reg};
**         ln_parallel_for(n, LU_PICK(reg, plain), &j);
**     }
**     LU_UPDATE_OPS(run) // defines update and update_reg
**
** then .update = update, .update_reg = update_reg in the ops table.
** Write every product that meets an addition as an explicit fma (or keep
** it apart from any sum): the compiler's contraction is free to fuse a
** different product in each of the three functions (it does once the
** sanitizers reorder the code), and update_reg must give the bits of the
** engine's two-pass path, update on the gradient ln_reg_grad made. */
typedef struct lu_reg {
    int on;            /* a regularizer's gradient is folded in */
    float l1, l2x2;    /* its factors, as ln_reg_grad takes them */
} lu_reg;

#define LU_BODY static inline __attribute__((always_inline))

/* Gradient element i as the rule must use it: grad[i] itself (reg 0), or
** ln_reg_grad of grad[i] and var[i] (read before the loop writes it) with
** the lu_reg r's factors (2), l1 known to be 0 (1). */
#define LU_GRAD(r, reg, grad, var, i)                                        \
    ((reg) == 0 ? (grad)[i]                                                  \
     : (reg) == 1 ? ln_reg_grad((grad)[i], (var)[i], 0.0f, (r).l2x2)          \
                  : ln_reg_grad((grad)[i], (var)[i], (r).l1, (r).l2x2))

#define LU_UPDATE_LOOPS(NAME, BODY, JOB) LU_UPDATE_LOOPS_ATTR(NAME, BODY, JOB, )

/* The same with ATTR (an __attribute__ or nothing) before each of the
** three functions: LU_SELECTS_OK for loops with selects. */
#define LU_UPDATE_LOOPS_ATTR(NAME, BODY, JOB, ATTR)                          \
    ATTR LN_CLONES static void NAME(void *arg_, int64_t lo_, int64_t hi_) {  \
        BODY((const JOB *)arg_, lo_, hi_, 0);                                \
    }                                                                        \
    ATTR LN_CLONES static void NAME##_l2(void *arg_, int64_t lo_,            \
                                         int64_t hi_) {                      \
        BODY((const JOB *)arg_, lo_, hi_, 1);                                \
    }                                                                        \
    ATTR LN_CLONES static void NAME##_reg(void *arg_, int64_t lo_,           \
                                          int64_t hi_) {                     \
        BODY((const JOB *)arg_, lo_, hi_, 2);                                \
    }

/* Selects (a ? b : c) in a loop vectorise only when the compiler may
** evaluate both sides, which -ftrapping-math (GCC's default) forbids;
** lunet never enables floating-point traps, so a loop with selects (Lion's
** sign, FTRL's threshold) lifts it: put this before its function (or pass
** it to LU_UPDATE_LOOPS_ATTR). Rounding is not affected. */
#if defined(__GNUC__) && !defined(__clang__)
#define LU_SELECTS_OK __attribute__((optimize("no-trapping-math")))
#else
#define LU_SELECTS_OK
#endif

/* The chunk function of LU_UPDATE_LOOPS(NAME, ...) for the lu_reg r. */
#define LU_PICK(r, NAME)                                                     \
    (!(r).on ? NAME : (r).l1 == 0 ? NAME##_l2 : NAME##_reg)

/* update and update_reg, both through RUN(state, var, grad, slots, n, t,
** lr, globals, lu_reg). */
#define LU_UPDATE_OPS(RUN)                                                   \
    static void update(const void *state, float *var, const float *grad,    \
                       float *const *slots, int64_t n, int64_t t, double lr, \
                       const double *globals) {                              \
        RUN(state, var, grad, slots, n, t, lr, globals, (lu_reg){0, 0, 0});  \
    }                                                                        \
    static void update_reg(const void *state, float *var, const float *grad, \
                           float *const *slots, int64_t n, int64_t t,        \
                           double lr, const double *globals, double l1,      \
                           double l2) {                                      \
        RUN(state, var, grad, slots, n, t, lr, globals,                      \
            (lu_reg){1, (float)l1, (float)(2 * l2)});                        \
    }

/* ---- sums over a whole variable (LN_OPT_WHOLE_VARIABLE optimizers) ------------- */

/* Sums (norms) over [0, n) with a fixed blocking, so they are the same for
** any thread count: the range is cut into at most LU_SUM_BLOCKS blocks of
** about LN_PAR_CHUNK elements (the cut depends on n alone); fn(arg, lo, hi,
** acc) adds its block's nsums sums (<= LU_MAX_SUMS) into acc, which starts
** at zero -- it may also write its own elements, as ln_parallel_for's
** functions do -- and the block sums are added in block order. The blocks
** run on the thread team when one runs, else on OpenMP threads from
** LN_PAR_MIN elements on. A LN_CLONES fn with `omp simd reduction` is
** vectorised per CPU. Nothing is allocated. */
#define LU_SUM_BLOCKS 64
#define LU_MAX_SUMS 4
typedef void (*lu_sums_fn)(void *arg, int64_t lo, int64_t hi, double *acc);

typedef struct lu_sums_job {
    lu_sums_fn fn;
    void *arg;
    int64_t n, block;
    double (*acc)[LU_MAX_SUMS];
} lu_sums_job;

static LU_UNUSED void lu_sums_block(void *arg, int64_t b) {
    const lu_sums_job *j = arg;
    int64_t lo = b * j->block, hi = lo + j->block < j->n ? lo + j->block : j->n;
    if (lo < hi) j->fn(j->arg, lo, hi, j->acc[b]);
}

static LU_UNUSED void lu_parallel_sums(int64_t n, lu_sums_fn fn, void *arg,
                                       int nsums, double *sums) {
    double acc[LU_SUM_BLOCKS][LU_MAX_SUMS] = {{0}};
    int64_t nb = n > 0 ? (n + LN_PAR_CHUNK - 1) / LN_PAR_CHUNK : 0;
    if (nb > LU_SUM_BLOCKS) nb = LU_SUM_BLOCKS;
    lu_sums_job j = {fn, arg, n, nb ? (n + nb - 1) / nb : 0, acc};
    if (ln_parallel_threads() > 1) {
        ln_parallel_tasks(nb, lu_sums_block, &j);
    } else {
        LN_PAR_FOR(n)
        for (int64_t b = 0; b < nb; b++) lu_sums_block(&j, b);
    }
    for (int k = 0; k < nsums && k < LU_MAX_SUMS; k++) {
        double s = 0;
        for (int64_t b = 0; b < nb; b++) s += acc[b][k];
        sums[k] = s;
    }
}

/* ---- shapes ----------------------------------------------------------------- */

/* A shape without the batch axis as Keras prints it with one: "(None, 3, 4)"
** (messages of layers with several inputs). Returns buf. */
static LU_UNUSED const char *lu_shape_str(const ln_shape *s, char *buf,
                                          size_t n) {
    int k = snprintf(buf, n, "(None");
    for (int i = 0; i < s->nd && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, ", %lld", (long long)s->dim[i]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, ")");
    return buf;
}

/* ---- layouts ------------------------------------------------------------------ */

/* dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: tiles of 16
** so that both sides stream through whole cache lines, each cut into 4x4
** blocks transposed in SSE registers (x86-64's baseline). */
static LU_UNUSED void lu_transpose(float *dst, int64_t ldd, const float *src,
                                   int64_t lds, int64_t rows, int64_t cols) {
    enum { T = 16 };
    for (int64_t i0 = 0; i0 < rows; i0 += T) {
        const int64_t i1 = i0 + T < rows ? i0 + T : rows;
        for (int64_t j0 = 0; j0 < cols; j0 += T) {
            const int64_t j1 = j0 + T < cols ? j0 + T : cols;
            int64_t i = i0;
#ifdef LU_SSE
            for (; i + 4 <= i1; i += 4) {
                int64_t j = j0;
                for (; j + 4 <= j1; j += 4) {
                    __m128 r0 = _mm_loadu_ps(src + i * lds + j);
                    __m128 r1 = _mm_loadu_ps(src + (i + 1) * lds + j);
                    __m128 r2 = _mm_loadu_ps(src + (i + 2) * lds + j);
                    __m128 r3 = _mm_loadu_ps(src + (i + 3) * lds + j);
                    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                    _mm_storeu_ps(dst + j * ldd + i, r0);
                    _mm_storeu_ps(dst + (j + 1) * ldd + i, r1);
                    _mm_storeu_ps(dst + (j + 2) * ldd + i, r2);
                    _mm_storeu_ps(dst + (j + 3) * ldd + i, r3);
                }
                for (; j < j1; j++)
                    for (int64_t k = i; k < i + 4; k++) dst[j * ldd + k] = src[k * lds + j];
            }
#endif
            for (int64_t j = j0; j < j1; j++)
                for (int64_t k = i; k < i1; k++) dst[j * ldd + k] = src[k * lds + j];
        }
    }
}

/* ---- two halves of the features on a team ---------------------------------- */

/* parallel.h's ln_feature_halves under the SDK's prefix: where a layer
** working on a batch of 1-128 rows cuts n features (or a kernel's rows)
** into one half per thread of a team. */
static inline int64_t lu_feature_halves(int64_t rows, int64_t n) {
    return ln_feature_halves(rows, n);
}

/* ---- keyword arguments ------------------------------------------------------ */

/* Fail unless v, the argument key, is a finite number >= 0. */
static inline ln_status lu_check_nonneg(ln_ctx *ctx, const char *key,
                                        double v) {
    if (v < 0 || !isfinite(v))
        return ln_fail(ctx, LN_E_ARG,
                       "'%s' must be a finite number >= 0, got %g", key, v);
    return LN_OK;
}

/* Read the argument key (default dflt), a finite number >= 0, into *out. */
static inline ln_status lu_read_nonneg(ln_ctx *ctx, ln_args *args,
                                       const char *key, double dflt,
                                       float *out) {
    double v;
    ln_status st = ln_args_number(ctx, args, key, dflt, &v);
    if (st || (st = lu_check_nonneg(ctx, key, v))) return st;
    *out = (float)v;
    return LN_OK;
}

/* Accept `key` only when absent or nil (constraints, activity
** regularizers: not supported by lunet), recording it as null in the
** config; anything else fails naming the key. */
static LU_UNUSED ln_status lu_nil_only(ln_ctx *ctx, ln_args *a,
                                       const char *key) {
    if (ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG,
                       "'%s' is not supported by lunet (only nil is accepted)",
                       key);
    const char *s;
    return ln_args_string(ctx, a, key, NULL, &s);
}

/* An optional number: *has = 0 and null recorded when absent or nil. */
static LU_UNUSED ln_status lu_opt_number(ln_ctx *ctx, ln_args *a,
                                         const char *key, int *has,
                                         double *v) {
    *has = ln_args_has(a, key);
    *v = 0;
    if (*has) return ln_args_number(ctx, a, key, 0, v);
    const char *s;
    return ln_args_string(ctx, a, key, NULL, &s);
}

/* A required number (given by name or as positional `pos`, 0 = none). */
static LU_UNUSED ln_status lu_req_number(ln_ctx *ctx, ln_args *a, int pos,
                                         const char *key, double *v) {
    ln_status st = pos ? ln_args_positional(ctx, a, pos, key) : LN_OK;
    if (st) return st;
    if (!ln_args_has(a, key))
        return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'", key);
    st = ln_args_number(ctx, a, key, 0, v);
    if (st == LN_OK && !isfinite(*v))
        return ln_fail(ctx, LN_E_ARG, "'%s' must be finite, got %g", key, *v);
    return st;
}

/* A number with a default that must be finite. */
static LU_UNUSED ln_status lu_number(ln_ctx *ctx, ln_args *a, const char *key,
                                     double def, double *v) {
    ln_status st = ln_args_number(ctx, a, key, def, v);
    if (st == LN_OK && !isfinite(*v))
        return ln_fail(ctx, LN_E_ARG, "'%s' must be finite, got %g", key, *v);
    return st;
}

/* A dropout-like rate: required (positional 1 or by name), in [0, 1). */
static LU_UNUSED ln_status lu_rate(ln_ctx *ctx, ln_args *a, double *rate) {
    ln_status st = lu_req_number(ctx, a, 1, "rate", rate);
    if (st) return st;
    if (!(*rate >= 0 && *rate < 1))
        return ln_fail(ctx, LN_E_ARG, "'rate' must be in [0, 1), got %g",
                       *rate);
    return LN_OK;
}

/* Keras's `seed` of random layers: nil keeps the layer on the library's
** generator (ln_layer_rng, reproducible through ln.random.seed); an integer
** gives the layer its own generator *own seeded with it. */
static LU_UNUSED ln_status lu_seed(ln_ctx *ctx, ln_layer *l, ln_args *a,
                                   ln_rng *own) {
    int has;
    double v;
    ln_status st = lu_opt_number(ctx, a, "seed", &has, &v);
    if (st || !has) return st;
    if (v < 0 || v != floor(v) || v > 9007199254740992.0)
        return ln_fail(ctx, LN_E_ARG,
                       "'seed' must be a non-negative integer, got %g", v);
    ln_rng_seed(own, (uint64_t)v);
    ln_layer_set_rng(l, own);
    return LN_OK;
}

/* Resolve the activation given by unit reference `key` ("relu", or a table
** {name = "relu", ...}) into a new activation instance, now, so an unknown
** name fails when the layer is created. The activation reads its own copy of
** the table; what it read (its effective config) is written back into the
** layer's args so configs show it. def: the name used when absent. */
static LU_UNUSED ln_status lu_activation(ln_ctx *ctx, ln_args *a,
                                         const char *key, const char *def,
                                         ln_activation **out) {
    const char *name;
    ln_args *sub;
    *out = NULL;
    ln_status st = ln_args_unit(ctx, a, key, def, &name, &sub);
    if (st) return st;
    if (!name)
        return ln_fail(ctx, LN_E_ARG, "missing required argument '%s'", key);
    ln_args *own = ln_args_new();
    if (!own || ln_args_copy(own, sub, "name", 0)) {
        ln_args_free(own);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    ln_activation *act = ln_activation_new(ctx, name, own);
    if (!act) return ctx->status;
    if (ln_args_copy(sub, ln_activation_args(act), NULL, 0)) {
        ln_activation_free(act);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    *out = act;
    return LN_OK;
}

/* Read initializer reference `key` and check now that it exists and
** accepts its arguments, so a bad one fails when the layer is created
** rather than when it is built. */
static LU_UNUSED ln_status lu_initializer(ln_ctx *ctx, ln_args *a,
                                          const char *key, const char *def,
                                          const char **name, ln_args **sub) {
    ln_status st = ln_args_unit(ctx, a, key, def, name, sub);
    if (st) return st;
    if (!ln_registry_require(ctx, LN_KIND_INITIALIZER, *name))
        return ln_prefix(ctx, "'%s'", key);
    /* A trial fill of one value (private generator, the library's stream is
    ** untouched) checks the initializer's own arguments now as well. */
    int64_t one[2] = {1, 1};
    ln_tensor *t = ln_tensor_new(ctx, LN_FLOAT32, 2, one);
    if (!t) return ctx->status;
    ln_rng trial = {0, 0};
    st = ln_initializer_fill(ctx, *name, *sub, t, &trial);
    ln_tensor_release(t);
    return st ? ln_prefix(ctx, "'%s'", key) : LN_OK;
}

/* ---- scratch buffers --------------------------------------------------------- */

/* A layer-owned float buffer of the given shape (created on first use,
** then resized: storage is reused once it is large enough). */
static LU_UNUSED ln_status lu_buffer(ln_ctx *ctx, ln_tensor **buf, int nd,
                                     const int64_t *shape) {
    if (!*buf) {
        *buf = ln_tensor_new(ctx, LN_FLOAT32, nd, shape);
        return *buf ? LN_OK : ctx->status;
    }
    return ln_tensor_resize(ctx, *buf, nd, shape);
}

/* The same, shaped like t. */
static LU_UNUSED ln_status lu_buffer_like(ln_ctx *ctx, ln_tensor **buf,
                                          const ln_tensor *t) {
    return lu_buffer(ctx, buf, t->ndim, t->shape);
}

/* View of x as [rows x cols] with cols its last axis (1 for rank 1). */
static LU_UNUSED void lu_rows_cols(const ln_tensor *x, int64_t *rows,
                                   int64_t *cols) {
    *cols = x->ndim > 1 ? x->shape[x->ndim - 1] : 1;
    *rows = *cols ? x->numel / *cols : 0;
}

/* ---- layers that apply an activation ------------------------------------------ */

/* ReLU, LeakyReLU, ELU, Softmax, ThresholdedReLU and Activation are one
** activation unit applied as a layer: the math lives in the activation
** (plugins/activations/), the layer only maps its keyword arguments. Such a
** layer's state starts with an lu_act_layer; its create makes the
** activation; the ops below do the rest. Along the last axis (softmax);
** under LN_LOGITS (the activation fused with the loss) y = x, dx = dy. */
typedef struct lu_act_layer {
    ln_activation *act; /* never NULL after create */
} lu_act_layer;

/* For create: the activation `unit` from args (owned) into the state. */
static LU_UNUSED ln_status lu_act_layer_make(ln_ctx *ctx, ln_layer *l,
                                             const char *unit, ln_args *args) {
    lu_act_layer *s = ln_layer_state(l);
    s->act = ln_activation_new(ctx, unit, args);
    return s->act ? LN_OK : ctx->status;
}

static LU_UNUSED ln_status lu_act_layer_forward(ln_ctx *ctx, ln_layer *l,
                                                const ln_tensor *const *x,
                                                ln_tensor *const *y,
                                                unsigned flags) {
    const lu_act_layer *s = ln_layer_state(l);
    int64_t rows, cols;
    if ((flags & LN_LOGITS) || ln_activation_is_identity(s->act))
        return ln_tensor_copy(ctx, y[0], x[0]);
    lu_rows_cols(x[0], &rows, &cols);
    ln_activation_forward(s->act, ln_f32(x[0]), ln_f32(y[0]), rows, cols);
    return LN_OK;
}

static LU_UNUSED ln_status lu_act_layer_backward(
    ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
    const ln_tensor *const *y, const ln_tensor *const *dy,
    ln_tensor *const *dx, ln_grad_sink *sink, unsigned flags) {
    const lu_act_layer *s = ln_layer_state(l);
    int64_t rows, cols;
    if (!dx[0]) return LN_OK;
    if ((flags & LN_LOGITS) || ln_activation_is_identity(s->act))
        return ln_tensor_copy(ctx, dx[0], dy[0]);
    lu_rows_cols(x[0], &rows, &cols);
    ln_activation_backward(s->act, ln_f32(x[0]), ln_f32(y[0]), ln_f32(dy[0]),
                           ln_f32(dx[0]), rows, cols);
    return LN_OK;
}

/* The activation is the layer's output activation: a final Softmax or
** Activation("sigmoid") fuses with the loss like Dense(.., activation). */
static LU_UNUSED const char *lu_act_layer_output(const ln_layer *l) {
    const lu_act_layer *s = ln_layer_state(l);
    return ln_activation_is_identity(s->act) ? NULL : ln_activation_name(s->act);
}

static LU_UNUSED void lu_act_layer_destroy(ln_layer *l) {
    lu_act_layer *s = ln_layer_state(l);
    ln_activation_free(s->act);
}

/* The ops table of such a layer, with its own state type and create. */
#define LU_ACT_LAYER_OPS(STATE, CREATE)                                      \
    {                                                                        \
        .size = sizeof(ln_layer_ops), .state_size = sizeof(STATE),           \
        .create = CREATE, .forward = lu_act_layer_forward,                   \
        .backward = lu_act_layer_backward,                                   \
        .output_activation = lu_act_layer_output,                            \
        .destroy = lu_act_layer_destroy, LN_MASK_PASSTHROUGH,                \
    }

#endif
