/*
** net_batch.c -- one batch of a net: the rows gathered from x and y, then
** a training step (forward, loss, metrics, backward, the optimizer's
** update), an evaluation step or a prediction.
*/
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"
#include "lunet/overflow.h"

void ln__batch_free(ln_batch *b) {
    ln_tensor_release(b->x);
    ln_tensor_release(b->y);
    ln_tensor_release(b->rows);
}

/* The next batch's rows of the source, asked of the memory system while
** this batch computes: rows idx[0 .. n) of base (rows of `bytes`, `rows` of
** them). Only shuffled rows (consecutive ones are the hardware prefetcher's
** job) of small batches (a large one would not stay in cache). A hint;
** results are unaffected. */
#define PREFETCH_MAX_BYTES (512 * 1024)
typedef struct ahead {
    const char *base;
    const int64_t *idx; /* NULL: nothing to fetch */
    int64_t n, rows;
    size_t bytes;
} ahead;

static ahead ahead_of(const ln_tensor *x, const int64_t *idx, int64_t start, int64_t n) {
    ahead a = {NULL, NULL, 0, 0, 0};
    if (!idx || n <= 0 || x->ndim < 1 || x->shape[0] <= 0) return a;
    const size_t bytes = (size_t)(x->numel / x->shape[0]) * ln_dtype_size(x->dtype);
    if (bytes * (size_t)n > PREFETCH_MAX_BYTES) return a;
    a.base = ln_data(x);
    a.idx = idx + start;
    a.n = n;
    a.rows = x->shape[0];
    a.bytes = bytes;
    return a;
}

/* Rows [lo, hi) of the next batch (hi clipped to it): the part of it that
** the thread which copies rows [lo, hi) of this batch will copy next time,
** so that, in a team, each core fetches into its own cache what it will
** read (measured, docs/performance-training.md: a worker copying rows its
** publisher had fetched took 3x the publisher's time for its half). */
static void ahead_rows(const ahead *a, int64_t lo, int64_t hi) {
#if defined(__GNUC__)
    if (!a || !a->idx) return;
    if (hi > a->n) hi = a->n;
    for (int64_t r = lo; r < hi; r++) {
        int64_t row = a->idx[r];
        if (row < 0 || row >= a->rows) continue;
        const char *p = a->base + (size_t)row * a->bytes;
        for (size_t off = 0; off < a->bytes; off += 64) __builtin_prefetch(p + off, 0, 1);
    }
#else
    (void)a, (void)lo, (void)hi;
#endif
}

/* The last part of a cut also fetches whatever the next batch has beyond
** this one's rows (ahead_rows clips to the next batch's end). */
static void ahead_part(const ahead *a, int64_t lo, int64_t hi, int64_t n) {
    ahead_rows(a, lo, hi < n ? hi : INT64_MAX);
}

/* Rows of an integer tensor into float32 (the rows a batch picks). */
typedef struct to_float_job {
    float *dst;
    const void *src;
    const int64_t *idx; /* NULL: consecutive rows from start */
    int64_t start, rowlen, n;
    ln_dtype dtype;
    const ahead *next; /* the next batch's rows to fetch (or NULL) */
} to_float_job;

static void to_float_rows(void *arg, int64_t lo, int64_t hi) {
    const to_float_job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        int64_t row = j->idx ? j->idx[j->start + r] : j->start + r;
        float *d = j->dst + r * j->rowlen;
        if (j->dtype == LN_UINT8) {
            const uint8_t *s = (const uint8_t *)j->src + row * j->rowlen;
            for (int64_t k = 0; k < j->rowlen; k++) d[k] = (float)s[k];
        } else {
            const int32_t *s = (const int32_t *)j->src + row * j->rowlen;
            for (int64_t k = 0; k < j->rowlen; k++) d[k] = (float)s[k];
        }
    }
    ahead_part(j->next, lo, hi, j->n);
}

/* Rows of a batch copied from a tensor of the same dtype. */
typedef struct copy_job {
    void *dst;
    const void *src;
    const int64_t *idx; /* NULL: consecutive rows from start */
    int64_t start, n;
    size_t bytes; /* per row */
    const ahead *next; /* the next batch's rows to fetch (or NULL) */
} copy_job;

static void copy_rows(void *arg, int64_t lo, int64_t hi) {
    const copy_job *j = arg;
    char *d = (char *)j->dst + (size_t)lo * j->bytes;
    if (!j->idx) {
        memcpy(d, (const char *)j->src + (size_t)(j->start + lo) * j->bytes,
               (size_t)(hi - lo) * j->bytes);
    } else {
        for (int64_t r = lo; r < hi; r++, d += j->bytes)
            memcpy(d, (const char *)j->src + (size_t)j->idx[r] * j->bytes, j->bytes);
    }
    ahead_part(j->next, lo, hi, j->n);
}

/* dst <- the selected rows of src (shape [n, src rows' shape]). dst's dtype
** must be src's, or float32 for an integer src (converted row by row: a
** float copy of the whole data set is never made). The rows of `next` are
** fetched as the rows are copied (next may be NULL). */
static ln_status gather_ahead(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src,
                              const int64_t *idx, int64_t start, int64_t n,
                              const char *what, const ahead *next) {
    char s[128];
    if (src->ndim < 1)
        return ln_fail(ctx, LN_E_SHAPE, "%s: a scalar has no samples", what);
    int64_t rows = src->shape[0];
    if (start < 0 || n < 0 || (!idx && !ln_range_ok(start, n, rows)))
        return ln_fail(ctx, LN_E_ARG, "%s: %lld rows from row %lld outside %s",
                       what, (long long)n, (long long)start + 1,
                       ln_shape_str(src, s, sizeof s));
    if (idx)
        for (int64_t r = 0; r < n; r++)
            if (idx[start + r] < 0 || idx[start + r] >= rows)
                return ln_fail(ctx, LN_E_ARG, "%s: row %lld outside %s", what,
                               (long long)idx[start + r] + 1,
                               ln_shape_str(src, s, sizeof s));
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, src->shape, (size_t)src->ndim * sizeof *shape);
    shape[0] = n;
    ln_status st = ln_tensor_resize(ctx, dst, src->ndim, shape);
    if (st) return st;
    int64_t rowlen = rows ? src->numel / rows : 0;
    size_t es = ln_dtype_size(src->dtype);
    if (dst->dtype != src->dtype) {
        if (dst->dtype != LN_FLOAT32 || src->dtype == LN_FLOAT32)
            return ln_fail(ctx, LN_E_ARG, "%s: %s rows cannot go to a %s batch", what,
                           ln_dtype_name(src->dtype), ln_dtype_name(dst->dtype));
        to_float_job j = {ln_f32(dst), ln_data(src), idx, start, rowlen, n, src->dtype,
                          next};
        ln_parallel_rows(n, rowlen, to_float_rows, &j);
        return LN_OK;
    }
    /* Rows on the team when one runs (the first rows on this thread, as
    ** the layers cut them), else on this thread. */
    copy_job j = {ln_data(dst), ln_data(src), idx ? idx + start : NULL, start, n,
                  (size_t)rowlen * es, next};
    if (ln_parallel_threads() > 1) {
        ln_parallel_rows(n, rowlen, copy_rows, &j);
    } else if (idx) {
        ln_gather_rows(j.dst, j.src, j.idx, n, rowlen, es);
        ahead_part(next, 0, n, n);
    } else {
        copy_rows(&j, 0, n);
    }
    return LN_OK;
}

ln_status ln__gather(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *src,
                     const int64_t *idx, int64_t start, int64_t n,
                     const char *what) {
    return gather_ahead(ctx, dst, src, idx, start, n, what, NULL);
}

/* An empty tensor of dtype for a buffer (resized on use). */
ln_status ln__batch_buffer(ln_ctx *ctx, ln_tensor **t, ln_dtype dtype) {
    int64_t zero = 0;
    if (*t && (*t)->dtype != dtype) {
        ln_tensor_release(*t);
        *t = NULL;
    }
    if (!*t && !(*t = ln_tensor_new(ctx, dtype, 1, &zero))) return ctx->status;
    return LN_OK;
}

ln_status ln__rows_alias(ln_ctx *ctx, ln_tensor *dst, const ln_tensor *x,
                         const int64_t *idx, int64_t start, int64_t n, int *aliased) {
    *aliased = 0;
    if (idx || x->dtype != LN_FLOAT32 || dst->dtype != LN_FLOAT32 || x->ndim < 1 || n <= 0 ||
        !ln_range_ok(start, n, x->shape[0]))
        return LN_OK; /* the gather copies, converts or names the error */
    const int64_t per = x->numel / x->shape[0];
    if (((uintptr_t)ln_data(x) + (size_t)(start * per) * sizeof(float)) % 64) return LN_OK;
    int64_t shape[LN_MAX_DIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = n;
    ln_status st = ln_tensor_alias(ctx, dst, x, start * per, x->ndim, shape);
    *aliased = st == LN_OK;
    return st;
}

/* b->rows shows x's rows when ln__rows_alias can; *in: b->rows or NULL */
static ln_status rows_in_place(ln_ctx *ctx, ln_batch *b, const ln_tensor *x,
                               const int64_t *idx, int64_t start, int64_t n,
                               ln_tensor **in) {
    int aliased = 0;
    ln_status st = ln__batch_buffer(ctx, &b->rows, LN_FLOAT32);
    if (!st) st = ln__rows_alias(ctx, b->rows, x, idx, start, n, &aliased);
    *in = aliased ? b->rows : NULL;
    return st;
}

/* Gather x (any dtype, into float32) and y (any dtype, may be NULL) into
** the batch buffers; x's rows of the next batch are fetched meanwhile.
** With in (predict, evaluate) x's rows may be read in place instead:
** *in is then b->rows (until ln__chain_forget_input), else NULL and b->x
** holds them. */
static ln_status gather_batch(ln_ctx *ctx, ln_batch *b, const ln_tensor *x,
                              const ln_tensor *y, const int64_t *idx,
                              int64_t start, int64_t n, ln_score *s,
                              const ahead *next, ln_tensor **in) {
    if (y && (y->ndim < 1 || x->ndim < 1 || y->shape[0] != x->shape[0])) {
        char a[128], c[128];
        return ln_fail(ctx, LN_E_SHAPE, "x %s and y %s differ in sample count",
                       ln_shape_str(x, a, sizeof a), ln_shape_str(y, c, sizeof c));
    }
    ln_status st = in ? rows_in_place(ctx, b, x, idx, start, n, in) : LN_OK;
    const int gather = !(in && *in);
    if (!st && gather) st = ln__batch_buffer(ctx, &b->x, LN_FLOAT32);
    if (!st && gather) st = gather_ahead(ctx, b->x, x, idx, start, n, "x", next);
    if (!st && y) st = ln__batch_buffer(ctx, &b->y, y->dtype);
    if (!st && y) st = ln__gather(ctx, b->y, y, idx, start, n, "y");
    if (!st && y && s->weights && s->weights->shape[0] != x->shape[0])
        st = ln_fail(ctx, LN_E_SHAPE, "sample_weight: %lld weights for %lld samples",
                     (long long)s->weights->shape[0], (long long)x->shape[0]);
    if (!st && y) st = ln__score_gather(ctx, s, idx, start, n);
    if (st && in && *in) {
        ln_tensor_unalias(*in);
        *in = NULL;
    }
    return st;
}

/* Forward, loss, metrics and backward of a training batch, and the
** optimizer's update when b->apply, with the compile-time trainable
** snapshot in force. With b->early (buffers sized, so nothing can fail
** half-way) the update may be armed: layers then hand finished blocks of
** weight gradients to their sink and those are updated at once -- or,
** with a reducer, exchanged at once and updated when back (net_stage.c).
** With a stage on, a batch of 0 rows runs no layer. */
static ln_status train_body(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    ln_chain *c = &net->chain;
    ln_stage *sg = &net->stage;
    int staged = ln__stage_on(sg), layers = b->n > 0 || !staged, ready = 1, overlap = 0;
    const ahead next = ahead_of(b->x, b->idx, b->next_start, b->next_n);
    ln_status st = layers ? gather_batch(ctx, &net->batch, b->x, b->y, b->idx, b->start, b->n,
                                       &net->score, &next, NULL)
                          : LN_OK;
    if (st) return st;
    if (!layers) *b->loss = 0;
    ln__chain_snapshot(c, 1);
    unsigned flags = LN_TRAINING | (net->score.fused ? LN_LOGITS : 0);
    ln_update *upd = b->apply && net->update.n > 0 ? &net->update : NULL;
    if (layers) st = ln__chain_forward(ctx, c, net->batch.x, flags);
    net->score.mask = ln__chain_output_mask(c);
    net->score.pen_from = &net->update; /* the penalty the last update summed */
    if (!st && layers)
        st = ln__score_batch(ctx, &net->score, c, ln__chain_output(c), net->batch.y,
                             1, b->loss);
    net->score.pen_from = NULL;
    if (!st && upd && layers)
        st = staged ? ln__stage_overlap_begin(ctx, sg, c, upd, b->n, b->early, &overlap)
                    : ln__update_begin(ctx, upd, c, b->early);
    if (!st && layers) {
        int stop = ln__chain_first_trainable(c);
        if (stop < c->n) st = ln__chain_backward(ctx, c, net->score.dpred, stop, 0, upd);
    }
    if (!st && staged && !overlap) st = ln__stage_batch(ctx, sg, c, b->n, &ready);
    ln__chain_snapshot(c, 0);
    if (upd && st) upd->armed = 0, upd->reduce = NULL;
    if (st || !upd || !ready) return st;
    if (overlap) return ln__stage_overlap_finish(ctx, sg, upd);
    return ln__update_finish(ctx, upd);
}

/* The input of an evaluation or prediction batch: x's rows in place (in)
** or the batch buffer. After the batch the chain lets go of them
** (ln__chain_forget_input): a model keeps no reference to the user's x. */
static ln_tensor *batch_input(ln_net *net, ln_tensor *in) {
    return in ? in : net->batch.x;
}

static ln_status test_body(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    ln_chain *c = &net->chain;
    const ahead next = ahead_of(b->x, b->idx, b->next_start, b->next_n);
    ln_tensor *in = NULL;
    ln_status st = gather_batch(ctx, &net->batch, b->x, b->y, b->idx, b->start, b->n,
                                &net->score, &next, &in);
    if (!st)
        st = ln__chain_forward(ctx, c, batch_input(net, in),
                               net->score.fused ? LN_LOGITS : 0);
    net->score.mask = ln__chain_output_mask(c);
    if (!st)
        st = ln__score_batch(ctx, &net->score, c, ln__chain_output(c), net->batch.y,
                             0, b->loss);
    ln__chain_forget_input(c);
    if (in) ln_tensor_unalias(in);
    return st;
}

static ln_status predict_body(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    ln_chain *c = &net->chain;
    ln_tensor *in = NULL;
    ln_status st = gather_batch(ctx, &net->batch, b->x, NULL, NULL, b->start, b->n,
                                &net->score, NULL, &in);
    if (!st) st = ln__chain_forward(ctx, c, batch_input(net, in), 0);
    if (!st) st = ln__put_rows(ctx, b->out, ln__chain_output(c), b->start, b->n);
    ln__chain_forget_input(c);
    if (in) ln_tensor_unalias(in);
    return st;
}

ln_status ln__put_rows(ln_ctx *ctx, ln_tensor *out, const ln_tensor *y,
                       int64_t start, int64_t n) {
    char a[128], c[128];
    int64_t rowlen = n ? y->numel / n : 0;
    if (out->dtype != LN_FLOAT32 || out->ndim < 1 || start + n > out->shape[0] ||
        (out->shape[0] && out->numel / out->shape[0] != rowlen))
        return ln_fail(ctx, LN_E_SHAPE,
                       "predict: output %s cannot hold rows of %s at %lld",
                       ln_shape_str(out, a, sizeof a), ln_shape_str(y, c, sizeof c),
                       (long long)start + 1);
    memcpy(ln_f32(out) + start * rowlen, ln_f32(y), (size_t)(n * rowlen) * sizeof(float));
    return LN_OK;
}

ln_status ln__net_batch(ln_ctx *ctx, ln_net *net, const ln__batch *b) {
    if (b->io) return ln__graph_batch(ctx, net, b);
    ln__chain_unalias(&net->chain); /* the batch buffer may be shown */
    if (net->graph)
        return ln_fail(ctx, LN_E_STATE, "net: a graph runs through the "
                       "ln_net_graph_* calls (several inputs and outputs)");
    switch (b->kind) {
    case LN__K_TRAIN: return train_body(ctx, net, b);
    case LN__K_TEST: return test_body(ctx, net, b);
    default: return predict_body(ctx, net, b);
    }
}
