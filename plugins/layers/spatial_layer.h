/*
** spatial_layer.h -- the weightless spatial layers of Keras: ZeroPadding,
** Cropping, UpSampling (1-D and 2-D) and SpatialDropout (1-D and 2-D),
** shared by their plugin files. Private, static.
**
** Pixels are addressed through "planes": a channels_last sample is one
** plane of [H, W] pixels of C floats, a channels_first one is C planes of
** pixels of 1 float, so every kernel works on both formats in place.
**
**  - ZeroPadding / Cropping: out[p] = in[p + offset] (zeros outside); the
**    backward of one is the other's forward with the opposite offsets.
**  - UpSampling "nearest": out[oh, ow] = in[oh / sh, ow / sw]; "bilinear"
**    (2-D): TF 2's resize with half-pixel centres (PyTorch's
**    align_corners=False): source (o + 0.5) / s - 0.5, clamped to the
**    image; backward adds each output's gradient to its sources.
**  - SpatialDropout: Keras's Dropout with noise shape (batch, 1, 1,
**    channels): n * C uniforms per training forward (one fill), a channel
**    kept when u >= rate and scaled by 1 / (1 - rate).
** Forward tasks own output rows; backward tasks own samples.
*/
#ifndef LUNET_SPATIAL_LAYER_H
#define LUNET_SPATIAL_LAYER_H

#include <math.h>

#include "conv_util.h"

enum { SP_PAD, SP_CROP, SP_UP, SP_DROP };

typedef struct spatial {
    int rank, kind, channels_first, bilinear;
    int64_t amt[2][2]; /* pad/crop: (before, after) per axis (rows, cols) */
    int64_t size[2];   /* upsampling factors */
    double rate;       /* dropout */
    ln_rng own;
    cu_dims in, out;
    ln_tensor *mask; /* dropout: n x C factors of the last training forward */
} spatial;

/* padding / cropping: an integer; 2-D: (rows, cols) symmetric amounts or
** ((top, bottom), (left, right)); 1-D: (before, after). Recorded as Keras
** records it: 2-D [[t, b], [l, r]], 1-D [b, a]. */
static ln_status sp_amounts(ln_ctx *ctx, ln_args *a, const char *key,
                            int rank, int64_t def, int64_t amt[2][2]) {
    ln_status st;
    ln_args *t = NULL;
    int n = 0;
    int64_t v[4] = {def, def, def, def};
    int nested = 0;
    for (int i = 0; i < ln_args_count(a); i++)
        nested |= !strcmp(ln_args_at(a, i).key, key) && ln_args_at(a, i).type == LN_ARG_TABLE;
    if (nested) {
        if ((st = ln_args_table(ctx, a, key, &t))) return st;
        for (int r = 0; r < rank && ln_args_count(t) == rank; r++) {
            char k[8];
            int m = 0;
            snprintf(k, sizeof k, "#%d", r + 1);
            if (ln_args_has(t, k) && (st = ln_args_ints(ctx, t, k, 2, &m, v + 2 * r)))
                return ln_prefix(ctx, "'%s'", key);
            if (m != 2) break;
            n += 2;
        }
        if (n != 2 * rank)
            return ln_fail(ctx, LN_E_ARG, "'%s' must hold %d pairs (before, after)", key, rank);
    } else {
        if ((st = ln_args_ints(ctx, a, key, 4, &n, v))) return st;
        if (n == 1) v[1] = v[2] = v[3] = v[0];
        else if (n == 2 && rank == 2) v[3] = v[2] = v[1], v[1] = v[0];
        else if (n > 2)
            return ln_fail(ctx, LN_E_ARG,
                           "'%s' must be an integer or %s, got %d values", key,
                           rank == 2 ? "(rows, cols) or ((top, bottom), (left, right))"
                                     : "(before, after)",
                           n);
    }
    for (int i = 0; i < 2 * rank; i++)
        if (v[i] < 0 || v[i] > ((int64_t)1 << 30))
            return ln_fail(ctx, LN_E_ARG, "'%s' must hold integers >= 0, got %lld", key,
                           (long long)v[i]);
    if (rank == 1) {
        amt[0][0] = amt[0][1] = 0;
        amt[1][0] = v[0], amt[1][1] = v[1];
        return cu_record_ints(ctx, a, key, 2, amt[1]);
    }
    amt[0][0] = v[0], amt[0][1] = v[1], amt[1][0] = v[2], amt[1][1] = v[3];
    /* recorded as a table of two pairs, read back so it counts as used */
    const double p0[2] = {(double)v[0], (double)v[1]}, p1[2] = {(double)v[2], (double)v[3]};
    t = ln_args_new();
    if (!t || ln_args_set_numbers(t, "#1", 2, p0) || ln_args_set_numbers(t, "#2", 2, p1)) {
        ln_args_free(t);
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    }
    if (ln_args_set_table(a, key, t) || (st = ln_args_table(ctx, a, key, &t)))
        return ln_fail(ctx, LN_E_NOMEM, "out of memory");
    int m;
    double back[2];
    if (ln_args_numbers(ctx, t, "#1", 2, &m, back) || ln_args_numbers(ctx, t, "#2", 2, &m, back))
        return ctx->status;
    return LN_OK;
}

static ln_status sp_create(ln_ctx *ctx, ln_layer *l, ln_args *a, int rank,
                           int kind) {
    spatial *s = cu_state(l);
    ln_status st;
    s->rank = rank, s->kind = kind;
    /* Keras's 1-D layers have no data_format (channels_last) */
    if (rank == 2 && (st = cu_data_format(ctx, a, &s->channels_first))) return st;
    if (kind == SP_PAD || kind == SP_CROP) {
        const char *key = kind == SP_PAD ? "padding" : "cropping";
        if ((st = ln_args_positional(ctx, a, 1, key))) return st;
        return sp_amounts(ctx, a, key, rank, kind == SP_PAD ? 1 : rank == 2 ? 0 : 1, s->amt);
    }
    if (kind == SP_UP) {
        int64_t v[2] = {0, 0}, two[2] = {2, 2};
        if ((st = cu_tuple(ctx, a, "size", 1, rank, two, 1, v))) return st;
        s->size[0] = rank == 2 ? v[0] : 1;
        s->size[1] = v[rank - 1];
        if (rank == 1) return LN_OK;
        char m[16];
        if ((st = cu_lower_string(ctx, a, "interpolation", "nearest", m, sizeof m))) return st;
        if (strcmp(m, "nearest") && strcmp(m, "bilinear"))
            return ln_fail(ctx, LN_E_ARG,
                           "'interpolation' must be \"nearest\" or \"bilinear\", got \"%s\"", m);
        s->bilinear = !strcmp(m, "bilinear");
        return LN_OK;
    }
    if ((st = lu_rate(ctx, a, &s->rate)) || (st = lu_nil_only(ctx, a, "noise_shape")))
        return st;
    return lu_seed(ctx, l, a, &s->own);
}

static ln_status sp_build(ln_ctx *ctx, ln_layer *l, int nin, const ln_shape *in,
                          int *nout, ln_shape *out) {
    const int in_nd = in[0].nd;
    const int64_t *in_shape = in[0].dim;
    int *out_nd = &out[0].nd;
    int64_t *out_shape = out[0].dim;
    spatial *s = cu_state(l);
    char buf[128];
    ln_status st = cu_sample_dims(ctx, s->rank, s->channels_first, in_nd, in_shape, &s->in);
    if (st) return st;
    s->out = s->in;
    int64_t *o[2] = {&s->out.h, &s->out.w};
    for (int i = 2 - s->rank; i < 2; i++) {
        if (s->kind == SP_PAD) *o[i] += s->amt[i][0] + s->amt[i][1];
        if (s->kind == SP_CROP) *o[i] -= s->amt[i][0] + s->amt[i][1];
        if (s->kind == SP_UP) *o[i] *= s->size[i];
        if (*o[i] < 1 || *o[i] > ((int64_t)1 << 40) / (s->in.c * 8))
            return ln_fail(ctx, LN_E_SHAPE,
                           "%s leaves %lld along spatial axis %d of input shape (None, %s",
                           s->kind == SP_CROP ? "cropping" : s->kind == SP_PAD ? "padding" : "size",
                           (long long)*o[i], i + s->rank - 1,
                           ln_dims_str(in_nd, in_shape, buf, sizeof buf) + 1);
    }
    cu_out_shape(s->rank, s->channels_first, &s->out, out_nd, out_shape);
    return LN_OK;
}

/* ---- kernels ------------------------------------------------------------------------ */

typedef struct sp_job {
    const spatial *s;
    const float *src;
    float *dst;
    cu_dims from, to;  /* source and destination samples */
    int64_t off[2];    /* shift: to[p] = from[p + off] */
    int64_t planes, pw; /* planes per sample, floats per pixel */
    const float *mask;
} sp_job;

static void sp_job_init(sp_job *j, const spatial *s, const float *src, float *dst,
                        const cu_dims *from, const cu_dims *to) {
    memset(j, 0, sizeof *j);
    j->s = s, j->src = src, j->dst = dst, j->from = *from, j->to = *to;
    j->planes = s->channels_first ? from->c : 1;
    j->pw = s->channels_first ? 1 : from->c;
}

/* Destination row t (sample, plane, row) of a shift. */
static void sp_shift_task(void *arg, int64_t t) {
    const sp_job *j = arg;
    const int64_t oh = t % j->to.h, sp = t / j->to.h; /* sp: sample * planes + plane */
    const int64_t pw = j->pw, tw = j->to.w, fw = j->from.w;
    float *d = j->dst + t * tw * pw;
    const int64_t ih = oh + j->off[0];
    if (ih < 0 || ih >= j->from.h) {
        memset(d, 0, (size_t)(tw * pw) * sizeof *d);
        return;
    }
    const float *srow = j->src + (sp * j->from.h + ih) * fw * pw;
    int64_t a = -j->off[1], b = fw - j->off[1]; /* ow with 0 <= ow + off < fw */
    if (a < 0) a = 0;
    if (b > tw) b = tw;
    if (b < a) b = a;
    memset(d, 0, (size_t)(a * pw) * sizeof *d);
    memcpy(d + a * pw, srow + (a + j->off[1]) * pw, (size_t)((b - a) * pw) * sizeof *d);
    memset(d + b * pw, 0, (size_t)((tw - b) * pw) * sizeof *d);
}

/* Bilinear source of output index o along an axis (TF 2 half-pixel). */
static void sp_lerp(int64_t o, int64_t scale, int64_t in, int64_t *lo,
                    int64_t *hi, float *w) {
    const float x = ((float)o + 0.5f) / (float)scale - 0.5f;
    const float f = floorf(x);
    *lo = f < 0 ? 0 : (int64_t)f;
    *hi = (int64_t)ceilf(x) > in - 1 ? in - 1 : (int64_t)ceilf(x);
    if (*hi < 0) *hi = 0;
    *w = x - f;
}

/* Upsampled row t (sample, plane, row). */
static void sp_up_task(void *arg, int64_t t) {
    const sp_job *j = arg;
    const spatial *s = j->s;
    const int64_t oh = t % j->to.h, sp = t / j->to.h, pw = j->pw;
    const float *plane = j->src + sp * j->from.h * j->from.w * pw;
    float *d = j->dst + t * j->to.w * pw;
    if (!s->bilinear) {
        const float *srow = plane + (oh / s->size[0]) * j->from.w * pw;
        for (int64_t ow = 0; ow < j->to.w; ow++)
            memcpy(d + ow * pw, srow + (ow / s->size[1]) * pw, (size_t)pw * sizeof *d);
        return;
    }
    int64_t y0, y1;
    float ly;
    sp_lerp(oh, s->size[0], j->from.h, &y0, &y1, &ly);
    const float *r0 = plane + y0 * j->from.w * pw, *r1 = plane + y1 * j->from.w * pw;
    for (int64_t ow = 0; ow < j->to.w; ow++) {
        int64_t x0, x1;
        float lx;
        sp_lerp(ow, s->size[1], j->from.w, &x0, &x1, &lx);
        float *o = d + ow * pw;
        for (int64_t c = 0; c < pw; c++) {
            const float top = r0[x0 * pw + c] + (r0[x1 * pw + c] - r0[x0 * pw + c]) * lx;
            const float bot = r1[x0 * pw + c] + (r1[x1 * pw + c] - r1[x0 * pw + c]) * lx;
            o[c] = top + (bot - top) * ly;
        }
    }
}

/* dx of sample t of an upsampling: each output's gradient added to its
** sources, in output order. */
static void sp_up_bwd_task(void *arg, int64_t t) {
    const sp_job *j = arg; /* from = the output, to = the input */
    const spatial *s = j->s;
    const int64_t pw = j->pw, plane_in = j->to.h * j->to.w * pw;
    const int64_t plane_out = j->from.h * j->from.w * pw;
    for (int64_t p = 0; p < j->planes; p++) {
        float *dx = j->dst + (t * j->planes + p) * plane_in;
        const float *dy = j->src + (t * j->planes + p) * plane_out;
        memset(dx, 0, (size_t)plane_in * sizeof *dx);
        for (int64_t oh = 0; oh < j->from.h; oh++) {
            int64_t y0 = oh / s->size[0], y1 = y0;
            float ly = 0;
            if (s->bilinear) sp_lerp(oh, s->size[0], j->to.h, &y0, &y1, &ly);
            for (int64_t ow = 0; ow < j->from.w; ow++) {
                const float *g = dy + (oh * j->from.w + ow) * pw;
                if (!s->bilinear) {
                    float *o = dx + (y0 * j->to.w + ow / s->size[1]) * pw;
                    for (int64_t c = 0; c < pw; c++) o[c] += g[c];
                    continue;
                }
                int64_t x0, x1;
                float lx;
                sp_lerp(ow, s->size[1], j->to.w, &x0, &x1, &lx);
                float *a = dx + (y0 * j->to.w + x0) * pw, *b = dx + (y0 * j->to.w + x1) * pw;
                float *c2 = dx + (y1 * j->to.w + x0) * pw, *d2 = dx + (y1 * j->to.w + x1) * pw;
                for (int64_t c = 0; c < pw; c++) {
                    const float top = g[c] * (1.0f - ly), bot = g[c] * ly;
                    a[c] += top * (1.0f - lx);
                    b[c] += top * lx;
                    c2[c] += bot * (1.0f - lx);
                    d2[c] += bot * lx;
                }
            }
        }
    }
}

/* Rows of the dropout: out = in * mask[sample, channel]. */
static void sp_drop_task(void *arg, int64_t t) {
    const sp_job *j = arg;
    const int64_t C = j->from.c, P = j->from.h * j->from.w;
    const float *m = j->mask + t * C;
    const float *x = j->src + t * P * C;
    float *y = j->dst + t * P * C;
    if (j->s->channels_first) {
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++) y[c * P + p] = x[c * P + p] * m[c];
    } else {
        for (int64_t p = 0; p < P; p++)
            for (int64_t c = 0; c < C; c++) y[p * C + c] = x[p * C + c] * m[c];
    }
}

/* ---- the layer ---------------------------------------------------------------------- */

static int sp_drop_active(const spatial *s, unsigned flags) {
    return s->kind == SP_DROP && (flags & LN_TRAINING) && s->rate > 0;
}

/* a spatial dropout outside training: the output is the input (the other
** kinds move elements) */
static int sp_is_view(const ln_layer *l, unsigned flags) {
    const spatial *s = ln_layer_state(l);
    return s->kind == SP_DROP && !sp_drop_active(s, flags);
}

/* from -> to through the layer (backward: dir = -1, from the output). */
static void sp_apply(const spatial *s, int64_t n, const float *src, float *dst,
                     int dir) {
    sp_job j;
    const cu_dims *from = dir > 0 ? &s->in : &s->out, *to = dir > 0 ? &s->out : &s->in;
    sp_job_init(&j, s, src, dst, from, to);
    const int64_t work = n * (to->h * to->w + from->h * from->w) * to->c;
    if (s->kind == SP_UP) {
        if (dir > 0) cu_run_sized(work, n * j.planes * to->h, sp_up_task, &j);
        else cu_run_sized(work, n, sp_up_bwd_task, &j);
        return;
    }
    /* padding shifts by -before, cropping by +before; backward inverts */
    const int sign = (s->kind == SP_CROP ? 1 : -1) * dir;
    j.off[0] = sign * s->amt[0][0];
    j.off[1] = sign * s->amt[1][0];
    cu_run_sized(work, n * j.planes * to->h, sp_shift_task, &j);
}

static ln_status sp_forward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                            ln_tensor *const *ys, unsigned flags) {
    const ln_tensor *x = xs[0];
    ln_tensor *y = ys[0];
    spatial *s = cu_state(l);
    const int64_t n = x->shape[0];
    if (s->kind != SP_DROP) {
        sp_apply(s, n, ln_f32(x), ln_f32(y), 1);
        return LN_OK;
    }
    if (!sp_drop_active(s, flags)) {
        ln_copy(ln_f32(y), ln_f32(x), x->numel);
        return LN_OK;
    }
    const int64_t shape[2] = {n, s->in.c};
    ln_status st = lu_buffer(ctx, &s->mask, 2, shape);
    if (st) return st;
    float *m = ln_f32(s->mask);
    const float rate = (float)s->rate, scale = (float)(1.0 / (1.0 - s->rate));
    ln_rng_uniform(ln_layer_rng(l), m, n * s->in.c, 0.0f, 1.0f);
    for (int64_t i = 0; i < n * s->in.c; i++) m[i] = lu_select(m[i] >= rate, scale, 0.0f);
    sp_job j;
    sp_job_init(&j, s, ln_f32(x), ln_f32(y), &s->in, &s->in);
    j.mask = m;
    cu_run_sized(x->numel, n, sp_drop_task, &j);
    return LN_OK;
}

static ln_status sp_backward(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *xs,
                             const ln_tensor *const *ys, const ln_tensor *const *dys,
                             ln_tensor *const *dxs, ln_grad_sink *sink, unsigned flags) {
    const ln_tensor *x = xs[0], *dy = dys[0];
    ln_tensor *dx = dxs[0];
    spatial *s = cu_state(l);
    const int64_t n = x->shape[0];
    if (!dx) return LN_OK;
    if (s->kind != SP_DROP) {
        sp_apply(s, n, ln_f32(dy), ln_f32(dx), -1);
        return LN_OK;
    }
    if (!sp_drop_active(s, flags)) {
        ln_copy(ln_f32(dx), ln_f32(dy), x->numel);
        return LN_OK;
    }
    if (!s->mask || s->mask->numel != n * s->in.c)
        return ln_fail(ctx, LN_E_STATE, "backward without its training forward");
    sp_job j;
    sp_job_init(&j, s, ln_f32(dy), ln_f32(dx), &s->in, &s->in);
    j.mask = ln_f32(s->mask);
    cu_run_sized(x->numel, n, sp_drop_task, &j);
    return LN_OK;
}

static void sp_destroy(ln_layer *l) {
    spatial *s = cu_state(l);
    ln_tensor_release(s->mask);
}

#endif
