/*
** test_layers_conv.c -- the convolution, pooling and spatial layers:
**  - forward against float64 references written here from the layers'
**    definitions (naive loops over every output and tap: TF's "same"
**    padding with the odd pixel after, Keras's transposed output sizes,
**    "same" average pooling over the pixels inside the input, TF 2's
**    half-pixel bilinear upsampling), independent of the plugins' kernels;
**  - dx and every weight gradient against central differences of
**    L = sum(r . y) on the reference and on the layer's float32 forward
**    (gradcheck.c), for strides, padding, dilation, groups, both data
**    formats, odd sizes and batch 1;
**  - 1 and 2 threads give bitwise identical forward and backward results at
**    sizes where the kernels run in parallel (several blocks per task kind);
**  - impossible configurations fail at build time naming the shapes;
**  - no buffer or tensor outlives its layer.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

enum { CONV, CONVT, DW, SEP, MAXP, AVGP, GMAX, GAVG, PAD, CROP, UP, DROP, RESHAPE, BNORM,
       LNORM };
enum { A_LIN, A_RELU, A_TANH, A_SOFTMAX };
enum { P_VALID, P_SAME, P_CAUSAL };

typedef struct rc {
    int kind, rank, cf, pad, act, bias, keepdims, bilinear;
    int64_t k[2], s[2], d[2]; /* (rows, cols); rank 1 uses [1] */
    int64_t groups, dm, filters;
    int has_op;
    int64_t op[2];
    int64_t amt[2][2]; /* pad / crop */
    int64_t size[2];   /* upsampling */
    double rate;
    uint64_t seed;
    int lo, hi;   /* normalization: axes lo..hi (Keras numbering, batch 0) */
    double eps;
    int moving;   /* BN: the moving statistics (inference) */
} rc;

/* ---- sample layouts ------------------------------------------------------------ */

typedef struct dims {
    int64_t h, w, c;
} dims;

/* The sample dims (h, w, c) of a layer input or output shape. */
static dims dims_of(const rc *c, int nd, const int64_t *s) {
    dims d = {1, 1, 1};
    if (nd == 1) { /* global pooling output */
        d.c = s[0];
        return d;
    }
    if (c->cf) {
        d.c = s[0];
        d.w = s[nd - 1];
        if (nd == 3) d.h = s[1];
    } else {
        d.c = s[nd - 1];
        d.w = s[nd - 2];
        if (nd == 3) d.h = s[0];
    }
    return d;
}

/* Offset of (h, w, ch) in a sample of dims d in the layer's format. */
static int64_t at(const rc *c, dims d, int64_t h, int64_t w, int64_t ch) {
    return c->cf ? (ch * d.h + h) * d.w + w : (h * d.w + w) * d.c + ch;
}

static int64_t eff(int64_t k, int64_t d) { return (k - 1) * d + 1; }

/* Padding before for a window over n pixels (TF's rules). */
static int64_t pad_before(int mode, int64_t n, int64_t k, int64_t s, int64_t d) {
    if (mode == P_CAUSAL) return eff(k, d) - 1;
    if (mode == P_VALID) return 0;
    int64_t out = (n + s - 1) / s, total = (out - 1) * s + eff(k, d) - n;
    return total > 0 ? total / 2 : 0;
}

/* y (one sample, layer format) with the output activation applied: softmax
** over the last axis of the layer's output layout. */
static void apply_act(const rc *c, double *y, int64_t n, int64_t last) {
    for (int64_t i = 0; i < n; i++) {
        if (c->act == A_RELU) y[i] = y[i] > 0 ? y[i] : 0;
        if (c->act == A_TANH) y[i] = tanh(y[i]);
    }
    if (c->act != A_SOFTMAX) return;
    for (int64_t r = 0; r < n / last; r++) {
        double *v = y + r * last, m = v[0], s = 0;
        for (int64_t j = 1; j < last; j++) m = v[j] > m ? v[j] : m;
        for (int64_t j = 0; j < last; j++) s += (v[j] = exp(v[j] - m));
        for (int64_t j = 0; j < last; j++) v[j] /= s;
    }
}

/* ---- references ------------------------------------------------------------------- */

/* Conv / DepthwiseConv / SeparableConv: y[o] = sum over taps inside. */
static void ref_conv(const rc *c, dims di, dims dout, const double *x,
                     const double *const *w, double *y) {
    /* a 1-D case has k, s, d = 1 along the rows */
    const int64_t KH = c->k[0], kw = c->k[1], sh = c->s[0], dh = c->d[0];
    const int64_t ph = pad_before(c->pad, di.h, KH, sh, dh);
    const int64_t pw = pad_before(c->pad, di.w, kw, c->s[1], c->d[1]);
    const int sep = c->kind == SEP, depth = c->kind == DW || sep;
    const int64_t cm = di.c * c->dm;
    double *u = sep ? calloc((size_t)(dout.h * dout.w * cm), sizeof *u) : NULL;
    for (int64_t oh = 0; oh < dout.h; oh++)
        for (int64_t ow = 0; ow < dout.w; ow++) {
            const int64_t nout = depth ? cm : dout.c;
            for (int64_t o = 0; o < nout; o++) {
                double s = 0;
                const int64_t cing = depth ? 1 : di.c / c->groups;
                const int64_t g = depth ? o / c->dm : o / (dout.c / c->groups);
                for (int64_t th = 0; th < KH; th++)
                    for (int64_t tw = 0; tw < kw; tw++) {
                        const int64_t ih = oh * sh - ph + th * dh;
                        const int64_t iw = ow * c->s[1] - pw + tw * c->d[1];
                        if (ih < 0 || ih >= di.h || iw < 0 || iw >= di.w) continue;
                        for (int64_t ci = 0; ci < cing; ci++) {
                            const double xv = x[at(c, di, ih, iw, g * cing + ci)];
                            const int64_t t = th * kw + tw;
                            s += xv * (depth ? w[0][t * cm + o]
                                             : w[0][(t * cing + ci) * dout.c + o]);
                        }
                    }
                if (sep) u[(oh * dout.w + ow) * cm + o] = s;
                else y[at(c, dout, oh, ow, o)] = s + (c->bias ? w[1][o] : 0);
            }
            if (!sep) continue;
            for (int64_t f = 0; f < dout.c; f++) {
                double s = c->bias ? w[2][f] : 0;
                for (int64_t m = 0; m < cm; m++)
                    s += u[(oh * dout.w + ow) * cm + m] * w[1][m * dout.c + f];
                y[at(c, dout, oh, ow, f)] = s;
            }
        }
    free(u);
}

/* Conv2DTranspose: every input pixel spreads x . W over its window. */
static void ref_convt(const rc *c, dims di, dims dout, const double *x,
                      const double *const *w, double *y) {
    const int64_t KH = c->rank == 2 ? c->k[0] : 1, kw = c->k[1];
    const int64_t sh = c->rank == 2 ? c->s[0] : 1, dh = c->rank == 2 ? c->d[0] : 1;
    /* the forward conv from the output (dout) to the input (di) */
    const int64_t ph = c->pad == P_SAME && c->rank == 2
                           ? (((di.h - 1) * sh + eff(KH, dh) - dout.h) > 0
                                  ? ((di.h - 1) * sh + eff(KH, dh) - dout.h) / 2 : 0)
                           : 0;
    const int64_t tw_ = (di.w - 1) * c->s[1] + eff(kw, c->d[1]) - dout.w;
    const int64_t pw = c->pad == P_SAME && tw_ > 0 ? tw_ / 2 : 0;
    const int64_t n = dout.h * dout.w * dout.c;
    for (int64_t i = 0; i < n; i++) y[i] = 0;
    for (int64_t oh = 0; oh < dout.h; oh++)
        for (int64_t ow = 0; ow < dout.w; ow++)
            for (int64_t f = 0; f < dout.c; f++) y[at(c, dout, oh, ow, f)] = c->bias ? w[1][f] : 0;
    for (int64_t ih = 0; ih < di.h; ih++)
        for (int64_t iw = 0; iw < di.w; iw++)
            for (int64_t th = 0; th < KH; th++)
                for (int64_t tw = 0; tw < kw; tw++) {
                    const int64_t oh = ih * sh - ph + th * dh;
                    const int64_t ow = iw * c->s[1] - pw + tw * c->d[1];
                    if (oh < 0 || oh >= dout.h || ow < 0 || ow >= dout.w) continue;
                    for (int64_t f = 0; f < dout.c; f++) {
                        double s = 0;
                        for (int64_t ci = 0; ci < di.c; ci++)
                            s += x[at(c, di, ih, iw, ci)] *
                                 w[0][((th * kw + tw) * dout.c + f) * di.c + ci];
                        y[at(c, dout, oh, ow, f)] += s;
                    }
                }
}

static void ref_pool(const rc *c, dims di, dims dout, const double *x, double *y) {
    if (c->kind == GMAX || c->kind == GAVG) {
        for (int64_t ch = 0; ch < di.c; ch++) {
            double m = -INFINITY, s = 0;
            for (int64_t h = 0; h < di.h; h++)
                for (int64_t w = 0; w < di.w; w++) {
                    const double v = x[at(c, di, h, w, ch)];
                    m = v > m ? v : m;
                    s += v;
                }
            /* keepdims outputs are [1, 1, C] in the layer's format: offset ch */
            y[ch] = c->kind == GMAX ? m : s / (double)(di.h * di.w);
        }
        return;
    }
    const int64_t KH = c->rank == 2 ? c->k[0] : 1, SH = c->rank == 2 ? c->s[0] : 1;
    const int64_t ph = pad_before(c->pad, di.h, KH, SH, 1);
    const int64_t pw = pad_before(c->pad, di.w, c->k[1], c->s[1], 1);
    for (int64_t oh = 0; oh < dout.h; oh++)
        for (int64_t ow = 0; ow < dout.w; ow++)
            for (int64_t ch = 0; ch < di.c; ch++) {
                double m = -INFINITY, s = 0;
                int64_t cnt = 0;
                for (int64_t th = 0; th < KH; th++)
                    for (int64_t tw = 0; tw < c->k[1]; tw++) {
                        const int64_t ih = oh * SH - ph + th, iw = ow * c->s[1] - pw + tw;
                        if (ih < 0 || ih >= di.h || iw < 0 || iw >= di.w) continue;
                        const double v = x[at(c, di, ih, iw, ch)];
                        m = v > m ? v : m;
                        s += v;
                        cnt++;
                    }
                y[at(c, dout, oh, ow, ch)] = c->kind == MAXP ? m : s / (double)cnt;
            }
}

/* TF 2 half-pixel bilinear source along one axis. */
static void src_of(int64_t o, int64_t scale, int64_t n, int64_t *lo, int64_t *hi,
                   double *w) {
    double s = (o + 0.5) / (double)scale - 0.5, f = floor(s);
    *lo = f < 0 ? 0 : (int64_t)f;
    *hi = (int64_t)ceil(s) > n - 1 ? n - 1 : (int64_t)ceil(s);
    if (*hi < 0) *hi = 0;
    *w = s - f;
}

static void ref_resample(const rc *c, dims di, dims dout, const double *x,
                         double *y) {
    const int64_t a0 = c->rank == 2 ? c->amt[0][0] : 0, a1 = c->amt[1][0];
    const int64_t s0 = c->rank == 2 ? c->size[0] : 1, s1 = c->size[1];
    for (int64_t oh = 0; oh < dout.h; oh++)
        for (int64_t ow = 0; ow < dout.w; ow++)
            for (int64_t ch = 0; ch < dout.c; ch++) {
                double v = 0;
                if (c->kind == PAD || c->kind == CROP) {
                    const int64_t ih = c->kind == PAD ? oh - a0 : oh + a0;
                    const int64_t iw = c->kind == PAD ? ow - a1 : ow + a1;
                    if (ih >= 0 && ih < di.h && iw >= 0 && iw < di.w)
                        v = x[at(c, di, ih, iw, ch)];
                } else if (!c->bilinear) {
                    v = x[at(c, di, oh / s0, ow / s1, ch)];
                } else {
                    int64_t y0, y1, x0, x1;
                    double ly, lx;
                    src_of(oh, s0, di.h, &y0, &y1, &ly);
                    src_of(ow, s1, di.w, &x0, &x1, &lx);
                    const double top = x[at(c, di, y0, x0, ch)] * (1 - lx) + x[at(c, di, y0, x1, ch)] * lx;
                    const double bot = x[at(c, di, y1, x0, ch)] * (1 - lx) + x[at(c, di, y1, x1, ch)] * lx;
                    v = top * (1 - ly) + bot * ly;
                }
                y[at(c, dout, oh, ow, ch)] = v;
            }
}

/* SpatialDropout: the layer's n * C draws, one fill from the seed. */
static void ref_drop(const rc *c, int64_t batch, dims di, const double *x, double *y) {
    float *u = malloc((size_t)(batch * di.c) * sizeof *u);
    ck_assert_ptr_nonnull(u);
    ln_rng r;
    ln_rng_seed(&r, c->seed);
    ln_rng_uniform(&r, u, batch * di.c, 0.0f, 1.0f);
    const int64_t per = di.h * di.w * di.c;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < di.h; h++)
            for (int64_t w = 0; w < di.w; w++)
                for (int64_t ch = 0; ch < di.c; ch++) {
                    const int64_t i = b * per + at(c, di, h, w, ch);
                    y[i] = u[b * di.c + ch] >= (float)c->rate ? x[i] / (1 - c->rate) : 0;
                }
    free(u);
}

/* BatchNormalization (statistics per feature over the other axes) and
** LayerNormalization (per group over the features), x viewed as [outer,
** f, inner] with f the axes lo..hi of (batch, sample shape...). */
static void ref_norm(const rc *c, const ln_layer *l, int64_t batch, const double *x,
                     const double *const *w, double *y) {
    const ln_shape *in = ln_layer_input_shape(l, 0);
    int64_t shape[LN_MAX_DIM + 1], outer = 1, f = 1, inner = 1;
    shape[0] = batch;
    for (int i = 0; i < in->nd; i++) shape[i + 1] = in->dim[i];
    for (int i = 0; i <= in->nd; i++) {
        if (i < c->lo) outer *= shape[i];
        else if (i > c->hi) inner *= shape[i];
        else f *= shape[i];
    }
    /* LayerNormalization: gamma (scale), beta (center), either, or none */
    const double *gamma = NULL, *beta = NULL;
    for (int i = 0; i < ln_layer_weight_count(l); i++) {
        const char *name = ln_layer_weight_name(l, i);
        if (!strcmp(name, "gamma")) gamma = w[i];
        else if (!strcmp(name, "beta")) beta = w[i];
    }
#define AT(o, k, i) (((o) * f + (k)) * inner + (i))
    if (c->kind == BNORM) {
        for (int64_t k = 0; k < f; k++) {
            double mean = 0, var = 0;
            if (c->moving) {
                mean = w[2][k], var = w[3][k];
            } else {
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t i = 0; i < inner; i++) mean += x[AT(o, k, i)];
                mean /= (double)(outer * inner);
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t i = 0; i < inner; i++)
                        var += (x[AT(o, k, i)] - mean) * (x[AT(o, k, i)] - mean);
                var /= (double)(outer * inner);
            }
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++)
                    y[AT(o, k, i)] = (x[AT(o, k, i)] - mean) / sqrt(var + c->eps) * gamma[k] + beta[k];
        }
        return;
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mean = 0, var = 0;
            for (int64_t k = 0; k < f; k++) mean += x[AT(o, k, i)];
            mean /= (double)f;
            for (int64_t k = 0; k < f; k++) var += (x[AT(o, k, i)] - mean) * (x[AT(o, k, i)] - mean);
            var /= (double)f;
            for (int64_t k = 0; k < f; k++)
                y[AT(o, k, i)] = (x[AT(o, k, i)] - mean) / sqrt(var + c->eps) *
                                     (gamma ? gamma[k] : 1) + (beta ? beta[k] : 0);
        }
#undef AT
}

static void ref_forward(const void *cfg, const ln_layer *l, int64_t batch,
                        const double *x, const double *const *w, double *y) {
    const rc *c = cfg;
    if (c->kind == BNORM || c->kind == LNORM) {
        ref_norm(c, l, batch, x, w, y);
        return;
    }
    const ln_shape *in = ln_layer_input_shape(l, 0), *out = ln_layer_output_shape(l, 0);
    dims di = dims_of(c, in->nd, in->dim), dout = dims_of(c, out->nd, out->dim);
    int64_t in_per = 1, out_per = 1;
    for (int i = 0; i < in->nd; i++) in_per *= in->dim[i];
    for (int i = 0; i < out->nd; i++) out_per *= out->dim[i];
    if (c->kind == DROP) {
        ref_drop(c, batch, di, x, y);
        return;
    }
    for (int64_t b = 0; b < batch; b++) {
        const double *xb = x + b * in_per;
        double *yb = y + b * out_per;
        switch (c->kind) {
        case CONV: case DW: case SEP: ref_conv(c, di, dout, xb, w, yb); break;
        case CONVT: ref_convt(c, di, dout, xb, w, yb); break;
        case MAXP: case AVGP: case GMAX: case GAVG: ref_pool(c, di, dout, xb, yb); break;
        case RESHAPE: memcpy(yb, xb, (size_t)in_per * sizeof *yb); break;
        default: ref_resample(c, di, dout, xb, yb); break;
        }
        apply_act(c, yb, out_per, out->dim[out->nd - 1]);
    }
}

/* ---- the cases ---------------------------------------------------------------------- */

#define K2(a, b) .k = {a, b}
#define S2(a, b) .s = {a, b}
#define D2(a, b) .d = {a, b}
static const rc r_conv_valid = {.kind = CONV, .rank = 2, .bias = 1, K2(3, 3), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv_same_relu = {.kind = CONV, .rank = 2, .pad = P_SAME, .act = A_RELU, .bias = 1,
                                    K2(3, 2), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv_same_s2 = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3), S2(2, 2),
                                  D2(1, 1), .groups = 1};
static const rc r_conv_s32 = {.kind = CONV, .rank = 2, .bias = 1, K2(4, 3), S2(3, 2), D2(1, 1), .groups = 1};
static const rc r_conv_dil = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 2), S2(1, 1),
                              D2(2, 3), .groups = 1};
static const rc r_conv_dil_s = {.kind = CONV, .rank = 2, .bias = 1, K2(2, 2), S2(2, 1), D2(2, 2), .groups = 1};
static const rc r_conv_groups = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3), S2(1, 1),
                                 D2(1, 1), .groups = 2};
static const rc r_conv_groups3 = {.kind = CONV, .rank = 2, .act = A_TANH, .bias = 1, K2(2, 3), S2(2, 1),
                                  D2(1, 1), .groups = 3};
static const rc r_conv_cf = {.kind = CONV, .rank = 2, .cf = 1, .pad = P_SAME, .act = A_TANH, .bias = 1,
                             K2(3, 3), S2(1, 2), D2(1, 1), .groups = 1};
static const rc r_conv_cf_groups = {.kind = CONV, .rank = 2, .cf = 1, .act = A_RELU, .bias = 1, K2(2, 2),
                                    S2(1, 1), D2(1, 1), .groups = 2};
static const rc r_conv_nobias = {.kind = CONV, .rank = 2, K2(5, 5), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv_1x1 = {.kind = CONV, .rank = 2, .bias = 1, K2(1, 1), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv_softmax = {.kind = CONV, .rank = 2, .pad = P_SAME, .act = A_SOFTMAX, .bias = 1,
                                  K2(3, 3), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv_cf_softmax = {.kind = CONV, .rank = 2, .cf = 1, .act = A_SOFTMAX,
                                     K2(2, 2), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv_logits = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3), S2(1, 1),
                                 D2(1, 1), .groups = 1};
static const rc r_conv_flip = {.kind = CONV, .rank = 2, .pad = P_SAME, .act = A_TANH, .bias = 1,
                               K2(3, 2), S2(1, 1), D2(1, 2), .groups = 1};
static const rc r_conv_flip_groups = {.kind = CONV, .rank = 2, .bias = 1, K2(2, 2), S2(1, 1),
                                      D2(1, 1), .groups = 2};
static const rc r_conv_flip_cf = {.kind = CONV, .rank = 2, .cf = 1, .pad = P_SAME, .bias = 1,
                                  K2(3, 3), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv1_flip = {.kind = CONV, .rank = 1, .pad = P_CAUSAL, .bias = 1, K2(1, 3),
                                S2(1, 1), D2(1, 2), .groups = 1};
static const rc r_convt_flip = {.kind = CONVT, .rank = 2, .pad = P_SAME, .act = A_TANH,
                                .bias = 1, K2(3, 2), S2(1, 1), D2(2, 1), .groups = 1};
static const rc r_convt_flip_valid = {.kind = CONVT, .rank = 2, .bias = 1, K2(2, 3), S2(1, 1),
                                      D2(1, 1), .groups = 1};
/* one input channel: conv_c1.h's direct kernels (forward below 48 filters,
** the kernel gradient always), "algorithm" forcing either path */
static const rc r_c1_same = {.kind = CONV, .rank = 2, .pad = P_SAME, .act = A_TANH, .bias = 1,
                             K2(5, 5), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_c1_s2 = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 4), S2(2, 3),
                           D2(1, 1), .groups = 1};
static const rc r_c1_dil = {.kind = CONV, .rank = 2, .bias = 1, K2(3, 2), S2(1, 2), D2(2, 3),
                            .groups = 1};
static const rc r_c1_cf = {.kind = CONV, .rank = 2, .cf = 1, .pad = P_SAME, .act = A_TANH,
                           .bias = 1, K2(3, 3), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_c1_wide = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(7, 7),
                             S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_c1_k3 = {.kind = CONV, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3),
                           S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_c1_nobias = {.kind = CONV, .rank = 2, K2(2, 9), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_c1_1d = {.kind = CONV, .rank = 1, .pad = P_CAUSAL, .act = A_TANH, .bias = 1,
                           K2(1, 4), S2(1, 1), D2(1, 2), .groups = 1};
static const rc r_conv1_valid = {.kind = CONV, .rank = 1, .bias = 1, K2(1, 3), S2(1, 1), D2(1, 1), .groups = 1};
static const rc r_conv1_same = {.kind = CONV, .rank = 1, .pad = P_SAME, .bias = 1, K2(1, 4), S2(1, 3),
                                D2(1, 1), .groups = 1};
static const rc r_conv1_causal = {.kind = CONV, .rank = 1, .pad = P_CAUSAL, .act = A_RELU, .bias = 1,
                                  K2(1, 3), S2(1, 1), D2(1, 2), .groups = 1};
static const rc r_conv1_cf = {.kind = CONV, .rank = 1, .cf = 1, .bias = 1, K2(1, 3), S2(1, 1), D2(1, 1),
                              .groups = 2};
static const rc r_convt_valid = {.kind = CONVT, .rank = 2, .bias = 1, K2(3, 3), S2(2, 2), D2(1, 1), .groups = 1};
static const rc r_convt_same = {.kind = CONVT, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 4), S2(2, 2),
                                D2(1, 1), .groups = 1};
static const rc r_convt_k1 = {.kind = CONVT, .rank = 2, .bias = 1, K2(1, 2), S2(3, 3), D2(1, 1), .groups = 1};
static const rc r_convt_op = {.kind = CONVT, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3), S2(2, 3),
                              D2(1, 1), .groups = 1, .has_op = 1, .op = {1, 2}};
static const rc r_convt_cf = {.kind = CONVT, .rank = 2, .cf = 1, .act = A_RELU, .bias = 1, K2(2, 2),
                              S2(1, 1), D2(2, 2), .groups = 1};
static const rc r_convt1 = {.kind = CONVT, .rank = 1, .pad = P_SAME, .bias = 1, K2(1, 3), S2(1, 2),
                            D2(1, 1), .groups = 1};
static const rc r_dw_same = {.kind = DW, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3), S2(1, 1), D2(1, 1),
                             .groups = 1, .dm = 1};
static const rc r_dw_dm2 = {.kind = DW, .rank = 2, .act = A_TANH, .bias = 1, K2(3, 2), S2(2, 2), D2(1, 1),
                            .groups = 1, .dm = 2};
static const rc r_dw_k25 = {.kind = DW, .rank = 2, .pad = P_SAME, .bias = 1, K2(2, 5), S2(1, 1), D2(1, 1),
                            .groups = 1, .dm = 1};
static const rc r_dw_cf = {.kind = DW, .rank = 2, .cf = 1, .pad = P_SAME, K2(2, 3), S2(1, 1), D2(2, 2),
                           .groups = 1, .dm = 1};
static const rc r_sep = {.kind = SEP, .rank = 2, .pad = P_SAME, .bias = 1, K2(3, 3), S2(1, 1), D2(1, 1),
                         .groups = 1, .dm = 2};
static const rc r_sep_s2 = {.kind = SEP, .rank = 2, .act = A_TANH, .bias = 1, K2(3, 3), S2(2, 2), D2(1, 1),
                            .groups = 1, .dm = 1};
static const rc r_sep_cf = {.kind = SEP, .rank = 2, .cf = 1, .bias = 1, K2(2, 2), S2(1, 1), D2(1, 1),
                            .groups = 1, .dm = 3};
static const rc r_maxp = {.kind = MAXP, .rank = 2, K2(2, 2), S2(2, 2)};
static const rc r_maxp_same = {.kind = MAXP, .rank = 2, .pad = P_SAME, K2(3, 3), S2(1, 1)};
static const rc r_maxp_odd = {.kind = MAXP, .rank = 2, .pad = P_SAME, K2(2, 3), S2(2, 2)};
static const rc r_maxp_cf = {.kind = MAXP, .rank = 2, .cf = 1, K2(3, 3), S2(2, 2)};
static const rc r_avgp = {.kind = AVGP, .rank = 2, K2(2, 3), S2(2, 3)};
static const rc r_avgp_same = {.kind = AVGP, .rank = 2, .pad = P_SAME, K2(3, 3), S2(2, 2)};
static const rc r_avgp_cf = {.kind = AVGP, .rank = 2, .cf = 1, .pad = P_SAME, K2(2, 3), S2(1, 1)};
static const rc r_maxp1 = {.kind = MAXP, .rank = 1, K2(1, 3), S2(1, 2)};
static const rc r_avgp1_same = {.kind = AVGP, .rank = 1, .pad = P_SAME, K2(1, 4), S2(1, 3)};
static const rc r_gmax = {.kind = GMAX, .rank = 2};
static const rc r_gavg_keep = {.kind = GAVG, .rank = 2, .keepdims = 1};
static const rc r_gavg_cf = {.kind = GAVG, .rank = 2, .cf = 1};
static const rc r_gmax1_cf = {.kind = GMAX, .rank = 1, .cf = 1, .keepdims = 1};
static const rc r_pad = {.kind = PAD, .rank = 2, .amt = {{1, 2}, {0, 3}}};
static const rc r_pad_cf = {.kind = PAD, .rank = 2, .cf = 1, .amt = {{1, 1}, {2, 2}}};
static const rc r_pad1 = {.kind = PAD, .rank = 1, .amt = {{0, 0}, {2, 1}}};
static const rc r_crop = {.kind = CROP, .rank = 2, .amt = {{1, 2}, {3, 0}}};
static const rc r_crop_cf = {.kind = CROP, .rank = 2, .cf = 1, .amt = {{1, 1}, {0, 2}}};
static const rc r_crop1 = {.kind = CROP, .rank = 1, .amt = {{0, 0}, {2, 1}}};
static const rc r_up = {.kind = UP, .rank = 2, .size = {2, 3}};
static const rc r_up_cf = {.kind = UP, .rank = 2, .cf = 1, .size = {3, 2}};
static const rc r_up_bi = {.kind = UP, .rank = 2, .bilinear = 1, .size = {2, 3}};
static const rc r_up_bi_cf = {.kind = UP, .rank = 2, .cf = 1, .bilinear = 1, .size = {3, 2}};
static const rc r_up1 = {.kind = UP, .rank = 1, .size = {1, 3}};
static const rc r_drop = {.kind = DROP, .rank = 2, .rate = 0.4, .seed = 51};
static const rc r_drop_cf = {.kind = DROP, .rank = 2, .cf = 1, .rate = 0.3, .seed = 52};
static const rc r_drop1 = {.kind = DROP, .rank = 1, .rate = 0.5, .seed = 53};
static const rc r_reshape = {.kind = RESHAPE};
static const rc r_bn_maps = {.kind = BNORM, .lo = 3, .hi = 3, .eps = 1e-3};
static const rc r_bn_cf = {.kind = BNORM, .cf = 1, .lo = 1, .hi = 1, .eps = 1e-3};
static const rc r_bn_mid = {.kind = BNORM, .lo = 1, .hi = 1, .eps = 0.01};
static const rc r_bn_moving = {.kind = BNORM, .lo = 3, .hi = 3, .eps = 1e-3, .moving = 1};
static const rc r_bn_chunks = {.kind = BNORM, .lo = 3, .hi = 3, .eps = 1e-3};
static const rc r_ln_last = {.kind = LNORM, .lo = 1, .hi = 1, .eps = 1e-3};
static const rc r_ln_maps = {.kind = LNORM, .lo = 1, .hi = 3, .eps = 1e-3};
static const rc r_ln_mid = {.kind = LNORM, .lo = 1, .hi = 2, .eps = 0.1};
static const rc r_ln_bare = {.kind = LNORM, .lo = 2, .hi = 2, .eps = 1e-3};

typedef struct gcase {
    const char *label, *unit, *spec;
    int nd;
    int64_t shape[5];
    unsigned flags;
    const rc *cfg;
    int distinct; /* max pooling: inputs far from ties */
} gcase;

#define T LN_TRAINING
static const gcase cases[] = {
    {"conv2d valid", "conv2d", "#1=4 #2=3", 4, {2, 7, 6, 3}, 0, &r_conv_valid, 0},
    {"conv2d same relu", "conv2d", "#1=5 #2=[3,2] padding=SAME activation=relu", 4,
     {2, 7, 6, 3}, T, &r_conv_same_relu, 0},
    {"conv2d same stride 2", "conv2d", "#1=4 #2=3 strides=2 padding=same", 4,
     {3, 9, 8, 2}, 0, &r_conv_same_s2, 0},
    {"conv2d valid strides 3x2", "conv2d", "#1=3 #2=[4,3] strides=[3,2]", 4,
     {2, 11, 9, 3}, 0, &r_conv_s32, 0},
    {"conv2d dilation same", "conv2d", "#1=3 #2=[3,2] dilation_rate=[2,3] padding=same",
     4, {2, 9, 10, 2}, 0, &r_conv_dil, 0},
    {"conv2d dilation with strides", "conv2d", "#1=2 #2=2 dilation_rate=2 strides=[2,1]",
     4, {2, 7, 6, 2}, 0, &r_conv_dil_s, 0},
    {"conv2d groups 2", "conv2d", "#1=4 #2=3 groups=2 padding=same", 4, {2, 6, 5, 6}, 0,
     &r_conv_groups, 0},
    {"conv2d groups 3 tanh", "conv2d", "#1=9 #2=[2,3] groups=3 strides=[2,1] activation=tanh",
     4, {2, 7, 6, 6}, T, &r_conv_groups3, 0},
    {"conv2d channels_first tanh", "conv2d",
     "#1=4 #2=3 strides=[1,2] padding=same data_format=channels_first activation=tanh", 4,
     {2, 3, 7, 6}, 0, &r_conv_cf, 0},
    {"conv2d channels_first groups relu", "conv2d",
     "#1=4 #2=2 groups=2 data_format=channels_first activation=relu", 4, {2, 4, 5, 4}, 0,
     &r_conv_cf_groups, 0},
    {"conv2d batch 1 no bias 5x5", "conv2d", "#1=3 #2=5 use_bias=false", 4, {1, 5, 5, 2},
     0, &r_conv_nobias, 0},
    {"conv2d 1x1", "conv2d", "#1=6 #2=1", 4, {2, 4, 5, 7}, 0, &r_conv_1x1, 0},
    {"conv2d softmax (channels)", "conv2d", "#1=4 #2=3 padding=same activation=softmax", 4,
     {2, 4, 5, 3}, 0, &r_conv_softmax, 0},
    {"conv2d channels_first softmax (unfused)", "conv2d",
     "#1=2 #2=2 data_format=channels_first activation=softmax use_bias=false", 4,
     {2, 3, 4, 4}, 0,
     &r_conv_cf_softmax, 0},
    {"conv2d softmax under LN_LOGITS", "conv2d", "#1=3 #2=3 padding=same activation=softmax",
     4, {2, 4, 4, 2}, LN_LOGITS, &r_conv_logits, 0},
    /* stride 1 with >= 32 input channels per group: dx (and the transposed
    ** forward) as a gather over the flipped kernel */
    {"conv2d flipped dx, same, dilation", "conv2d",
     "#1=3 #2=[3,2] padding=same dilation_rate=[1,2] activation=tanh", 4, {2, 4, 5, 33}, 0,
     &r_conv_flip, 0},
    {"conv2d flipped dx, groups", "conv2d", "#1=4 #2=2 groups=2", 4, {1, 3, 4, 64}, 0,
     &r_conv_flip_groups, 0},
    {"conv2d flipped dx, channels_first", "conv2d",
     "#1=2 #2=3 padding=same data_format=channels_first", 4, {1, 32, 3, 4}, 0,
     &r_conv_flip_cf, 0},
    {"conv1d flipped dx, causal dilated", "conv1d",
     "#1=3 #2=3 padding=causal dilation_rate=2", 3, {2, 7, 32}, 0, &r_conv1_flip, 0},
    {"conv2d_transpose stride 1 as a gather, same", "conv2d_transpose",
     "#1=32 #2=[3,2] padding=same dilation_rate=[2,1] activation=tanh", 4, {2, 4, 3, 2}, 0,
     &r_convt_flip, 0},
    {"conv2d_transpose stride 1 as a gather, valid", "conv2d_transpose", "#1=33 #2=[2,3]", 4,
     {1, 3, 2, 3}, 0, &r_convt_flip_valid, 0},
    /* one input channel (conv_c1.h) */
    {"c1 conv2d 5 filters 5x5 same tanh", "conv2d", "#1=5 #2=5 padding=same activation=tanh",
     4, {2, 7, 6, 1}, T, &r_c1_same, 0},
    {"c1 conv2d 20 filters strides 2x3 same", "conv2d", "#1=20 #2=[3,4] strides=[2,3] padding=same",
     4, {2, 9, 10, 1}, 0, &r_c1_s2, 0},
    {"c1 conv2d 9 filters dilation 2x3 stride [1,2]", "conv2d",
     "#1=9 #2=[3,2] strides=[1,2] dilation_rate=[2,3]", 4, {2, 8, 11, 1}, 0, &r_c1_dil, 0},
    {"c1 conv2d channels_first tanh", "conv2d",
     "#1=7 #2=3 padding=same activation=tanh data_format=channels_first", 4, {2, 1, 5, 6},
     0, &r_c1_cf, 0},
    /* the forward's switch: 48 filters without AVX-512, 100 with */
    {"c1 conv2d 47 filters", "conv2d", "#1=47 #2=7 padding=same", 4, {1, 5, 4, 1}, 0,
     &r_c1_wide, 0},
    {"c1 conv2d 48 filters", "conv2d", "#1=48 #2=7 padding=same", 4, {1, 5, 4, 1}, 0,
     &r_c1_wide, 0},
    {"c1 conv2d 99 filters", "conv2d", "#1=99 #2=3 padding=same", 4, {1, 4, 5, 1}, 0,
     &r_c1_k3, 0},
    {"c1 conv2d 100 filters", "conv2d", "#1=100 #2=3 padding=same", 4, {1, 4, 5, 1}, 0,
     &r_c1_k3, 0},
    {"c1 conv2d 64 filters forced direct", "conv2d", "#1=64 #2=7 padding=same algorithm=direct",
     4, {1, 4, 5, 1}, 0, &r_c1_wide, 0},
    {"c1 conv2d 6 filters forced gemm", "conv2d", "#1=6 #2=7 padding=same algorithm=gemm", 4,
     {2, 4, 5, 1}, 0, &r_c1_wide, 0},
    {"c1 conv2d 2x9 window batch 1 no bias", "conv2d", "#1=3 #2=[2,9] use_bias=false", 4,
     {1, 4, 12, 1}, 0, &r_c1_nobias, 0},
    {"c1 conv1d causal dilated", "conv1d",
     "#1=10 #2=4 padding=causal dilation_rate=2 activation=tanh", 3, {2, 13, 1}, 0, &r_c1_1d,
     0},
    {"conv1d valid", "conv1d", "#1=4 #2=3", 3, {2, 11, 3}, 0, &r_conv1_valid, 0},
    {"conv1d same stride 3", "conv1d", "#1=3 #2=4 strides=3 padding=same", 3, {3, 10, 2}, 0,
     &r_conv1_same, 0},
    {"conv1d causal dilated relu", "conv1d",
     "#1=2 #2=3 dilation_rate=2 padding=causal activation=relu", 3, {2, 9, 3}, T,
     &r_conv1_causal, 0},
    {"conv1d channels_first groups", "conv1d", "#1=6 #2=3 groups=2 data_format=channels_first",
     3, {2, 4, 8}, 0, &r_conv1_cf, 0},
    {"conv2d_transpose valid stride 2", "conv2d_transpose", "#1=2 #2=3 strides=2", 4,
     {2, 4, 3, 3}, 0, &r_convt_valid, 0},
    {"conv2d_transpose same stride 2", "conv2d_transpose",
     "#1=3 #2=[3,4] strides=2 padding=same", 4, {2, 4, 5, 3}, 0, &r_convt_same, 0},
    {"conv2d_transpose k1 stride 3 batch 1", "conv2d_transpose", "#1=2 #2=[1,2] strides=3", 4,
     {1, 3, 2, 2}, 0, &r_convt_k1, 0},
    {"conv2d_transpose output_padding", "conv2d_transpose",
     "#1=3 #2=3 strides=[2,3] padding=same output_padding=[1,2]", 4, {2, 3, 4, 2}, 0,
     &r_convt_op, 0},
    {"conv2d_transpose dilated channels_first relu", "conv2d_transpose",
     "#1=2 #2=2 dilation_rate=2 data_format=channels_first activation=relu", 4, {2, 2, 4, 3},
     T, &r_convt_cf, 0},
    {"conv1d_transpose same stride 2", "conv1d_transpose", "#1=2 #2=3 strides=2 padding=same",
     3, {2, 5, 3}, 0, &r_convt1, 0},
    {"depthwise same", "depthwise_conv2d", "#1=3 padding=same", 4, {2, 6, 5, 3}, 0,
     &r_dw_same, 0},
    {"depthwise multiplier 2 stride 2 tanh", "depthwise_conv2d",
     "#1=[3,2] depth_multiplier=2 strides=2 activation=tanh", 4, {2, 7, 8, 3}, T, &r_dw_dm2, 0},
    /* channels in the kernels' vector blocks: 64 + 6, 64 + 16, 3 x 16 */
    {"depthwise same 70 channels", "depthwise_conv2d", "#1=3 padding=same", 4, {2, 5, 4, 70},
     0, &r_dw_same, 0},
    {"depthwise multiplier 2 of 40 channels stride 2 tanh", "depthwise_conv2d",
     "#1=[3,2] depth_multiplier=2 strides=2 activation=tanh", 4, {2, 5, 6, 40}, T, &r_dw_dm2,
     0},
    {"depthwise [2,5] same 66 channels (taps one by one)", "depthwise_conv2d",
     "#1=[2,5] padding=same", 4, {2, 4, 7, 66}, 0, &r_dw_k25, 0},
    {"separable same multiplier 2 of 24 channels", "separable_conv2d",
     "#1=4 #2=3 padding=same depth_multiplier=2", 4, {2, 5, 4, 24}, 0, &r_sep, 0},
    {"depthwise dilated channels_first batch 1", "depthwise_conv2d",
     "#1=[2,3] dilation_rate=2 padding=same data_format=channels_first use_bias=false", 4,
     {1, 4, 7, 6}, 0, &r_dw_cf, 0},
    {"separable same multiplier 2", "separable_conv2d",
     "#1=4 #2=3 padding=same depth_multiplier=2", 4, {2, 6, 7, 3}, 0, &r_sep, 0},
    {"separable stride 2 tanh", "separable_conv2d", "#1=5 #2=3 strides=2 activation=tanh", 4,
     {2, 9, 8, 4}, T, &r_sep_s2, 0},
    {"separable channels_first multiplier 3", "separable_conv2d",
     "#1=3 #2=2 depth_multiplier=3 data_format=channels_first", 4, {2, 2, 5, 4}, 0,
     &r_sep_cf, 0},
    {"max_pooling2d", "max_pooling2d", "", 4, {2, 7, 6, 3}, 0, &r_maxp, 1},
    {"max_pooling2d same stride 1", "max_pooling2d", "#1=3 strides=1 padding=same", 4,
     {2, 5, 6, 2}, T, &r_maxp_same, 1},
    {"max_pooling2d same odd", "max_pooling2d", "pool_size=[2,3] strides=2 padding=Same", 4,
     {1, 7, 5, 3}, 0, &r_maxp_odd, 1},
    {"max_pooling2d channels_first overlapping", "max_pooling2d",
     "#1=3 strides=2 data_format=channels_first", 4, {2, 3, 7, 7}, 0, &r_maxp_cf, 1},
    {"average_pooling2d", "average_pooling2d", "#1=[2,3]", 4, {2, 6, 7, 3}, 0, &r_avgp, 0},
    {"average_pooling2d same", "average_pooling2d", "#1=3 strides=2 padding=same", 4,
     {2, 7, 5, 2}, 0, &r_avgp_same, 0},
    {"average_pooling2d same stride 1 channels_first", "average_pooling2d",
     "#1=[2,3] strides=1 padding=same data_format=channels_first", 4, {1, 2, 5, 4}, 0,
     &r_avgp_cf, 0},
    {"max_pooling1d", "max_pooling1d", "#1=3 strides=2", 3, {2, 9, 3}, 0, &r_maxp1, 1},
    {"average_pooling1d same", "average_pooling1d", "#1=4 strides=3 padding=same", 3,
     {2, 7, 2}, 0, &r_avgp1_same, 0},
    {"global_max_pooling2d", "global_max_pooling2d", "", 4, {2, 5, 4, 3}, 0, &r_gmax, 1},
    {"global_average_pooling2d keepdims", "global_average_pooling2d", "keepdims=true", 4,
     {2, 5, 4, 3}, 0, &r_gavg_keep, 0},
    {"global_average_pooling2d channels_first", "global_average_pooling2d",
     "data_format=channels_first", 4, {2, 3, 4, 5}, 0, &r_gavg_cf, 0},
    {"global_max_pooling1d channels_first keepdims", "global_max_pooling1d",
     "data_format=channels_first keepdims=true", 3, {2, 3, 6}, 0, &r_gmax1_cf, 1},
    {"zero_padding2d pairs", "zero_padding2d", "padding={#1=[1,2] #2=[0,3]}", 4,
     {2, 3, 4, 2}, 0, &r_pad, 0},
    {"zero_padding2d symmetric channels_first", "zero_padding2d",
     "#1=[1,2] data_format=channels_first", 4, {2, 2, 3, 4}, 0, &r_pad_cf, 0},
    {"zero_padding1d", "zero_padding1d", "#1=[2,1]", 3, {2, 4, 3}, 0, &r_pad1, 0},
    {"cropping2d pairs", "cropping2d", "cropping={#1=[1,2] #2=[3,0]}", 4, {2, 6, 7, 2}, 0,
     &r_crop, 0},
    {"cropping2d channels_first", "cropping2d",
     "cropping={#1=[1,1] #2=[0,2]} data_format=channels_first", 4, {2, 2, 5, 6}, 0,
     &r_crop_cf, 0},
    {"cropping1d", "cropping1d", "#1=[2,1]", 3, {2, 7, 3}, 0, &r_crop1, 0},
    {"up_sampling2d", "up_sampling2d", "#1=[2,3]", 4, {2, 3, 2, 3}, 0, &r_up, 0},
    {"up_sampling2d channels_first", "up_sampling2d", "#1=[3,2] data_format=channels_first",
     4, {1, 2, 3, 3}, 0, &r_up_cf, 0},
    {"up_sampling2d bilinear", "up_sampling2d", "#1=[2,3] interpolation=bilinear", 4,
     {2, 3, 4, 2}, 0, &r_up_bi, 0},
    {"up_sampling2d bilinear channels_first", "up_sampling2d",
     "#1=[3,2] interpolation=bilinear data_format=channels_first", 4, {1, 3, 3, 2}, 0,
     &r_up_bi_cf, 0},
    {"up_sampling1d", "up_sampling1d", "#1=3", 3, {2, 4, 3}, 0, &r_up1, 0},
    {"spatial_dropout2d training", "spatial_dropout2d", "#1=0.4", 4, {3, 3, 4, 5}, T,
     &r_drop, 0},
    {"spatial_dropout2d channels_first", "spatial_dropout2d",
     "#1=0.3 data_format=channels_first", 4, {3, 5, 3, 4}, T, &r_drop_cf, 0},
    {"spatial_dropout1d training", "spatial_dropout1d", "#1=0.5", 3, {4, 5, 6}, T, &r_drop1,
     0},
    {"reshape with -1", "reshape", "#1=[-1,2,3]", 3, {2, 4, 3}, 0, &r_reshape, 0},
    {"batch_normalization feature maps", "batch_normalization", "", 4, {2, 5, 4, 3}, T,
     &r_bn_maps, 0},
    {"batch_normalization channels_first (axis 1)", "batch_normalization", "axis=1", 4,
     {2, 3, 4, 5}, T, &r_bn_cf, 0},
    {"batch_normalization middle axis", "batch_normalization", "axis=1 epsilon=0.01", 3,
     {3, 4, 5}, T, &r_bn_mid, 0},
    {"batch_normalization feature maps, inference", "batch_normalization", "", 4,
     {2, 3, 4, 3}, 0, &r_bn_moving, 0},
    {"batch_normalization 4160 rows (chunked sums)", "batch_normalization", "axis=-1", 4,
     {1, 64, 65, 1}, T, &r_bn_chunks, 0},
    {"layer_normalization last axis", "layer_normalization", "", 2, {4, 7}, T, &r_ln_last, 0},
    {"layer_normalization feature maps", "layer_normalization", "axis=[1,2,3]", 4,
     {2, 3, 4, 5}, 0, &r_ln_maps, 0},
    {"layer_normalization middle axes", "layer_normalization", "axis=[-3,-2] epsilon=0.1", 4,
     {2, 4, 3, 2}, 0, &r_ln_mid, 0},
    {"layer_normalization no gamma, no beta", "layer_normalization",
     "axis=2 center=false scale=false", 3, {3, 4, 5}, 0, &r_ln_bare, 0},
    /* the contiguous path's lanes: whole blocks of 16 and a tail, and each
    ** mix of gamma and beta */
    {"layer_normalization last axis, 37 features", "layer_normalization", "", 2, {3, 37}, T,
     &r_ln_last, 0},
    {"layer_normalization last axis, gamma only", "layer_normalization", "center=false", 2,
     {3, 32}, T, &r_ln_last, 0},
    {"layer_normalization last axis, beta only", "layer_normalization", "scale=false", 2,
     {2, 19}, T, &r_ln_last, 0},
    {"layer_normalization last axis, no gamma, no beta", "layer_normalization",
     "center=false scale=false", 2, {3, 17}, T, &r_ln_last, 0},
};
#undef T
#define NCASES ((int)(sizeof cases / sizeof *cases))

/* The layer's parameters for the reference, from the spec's case. */
static rc case_cfg(const gcase *gc, const ln_layer *l) {
    rc c = *gc->cfg;
    if (c.kind == DW || c.kind == SEP) c.dm = ln_layer_weight(l, 0)->shape[3];
    if (c.kind == CONV || c.kind == CONVT || c.kind == DW || c.kind == SEP)
        c.bias = !strstr(gc->spec, "use_bias=false");
    return c;
}

/* x with every value at least 4/n apart (a shuffled grid), so that no
** finite-difference step moves a maximum across another value. */
static void distinct_fill(ln_tensor *x, uint64_t seed) {
    const int64_t n = x->numel;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    ck_assert_ptr_nonnull(perm);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    ln_rng r;
    ln_rng_seed(&r, seed);
    float u;
    for (int64_t i = n - 1; i > 0; i--) {
        ln_rng_uniform(&r, &u, 1, 0.0f, 1.0f);
        int64_t j = (int64_t)(u * (float)(i + 1));
        if (j > i) j = i;
        int64_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int64_t i = 0; i < n; i++) ln_f32(x)[i] = -2.0f + 4.0f * (float)perm[i] / (float)n;
    free(perm);
}

START_TEST(gradient) {
    const gcase *gc = &cases[_i];
    ln_layer *l = lt_layer(gc->unit, gc->spec);
    ln_rng own;
    ln_layer_set_rng(l, &own);
    ln_rng_seed(&own, 1);
    ln_tensor *x = lt_uniform(gc->nd, gc->shape, -2.0f, 2.0f, 2000 + (uint64_t)_i);
    if (gc->distinct) distinct_fill(x, 3000 + (uint64_t)_i);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ck_assert_msg(lt_build(&ctx, l, x->ndim - 1, x->shape + 1) == LN_OK, "%s: %s",
                  gc->label, ctx.msg);
    lt_fill_weights(l, -0.5f, 0.5f, 600 + (uint64_t)_i);
    for (int k = 0; k < ln_layer_weight_count(l); k++) { /* gamma and variances near 1 */
        lt_weight w = lt_weight_at(l, k);
        if (!strcmp(w.name, "gamma") || !strcmp(w.name, "moving_variance"))
            for (int64_t i = 0; i < w.value->numel; i++) ln_f32(w.value)[i] += 1.0f;
    }
    rc cfg = case_cfg(gc, l);
    if (gc->flags & LN_LOGITS) cfg.act = A_LIN;
    if (cfg.act == A_RELU) lt_away_from(x, 0.0f, 0.05f); /* not exact: z moves it */
    lt_layer_case lc = {
        .layer = l,
        .x = x,
        .flags = gc->flags,
        .ref = ref_forward,
        .cfg = &cfg,
        .reseed = cfg.kind == DROP,
        .seed = cfg.seed,
        .fwd_tol = 2e-6,
        .ref_opts = lt_gc_ref_defaults(),
        .layer_opts = cfg.act == A_RELU ? (lt_gc_opts){0} : lt_gc_float_defaults(),
        .r_seed = 9 + (uint64_t)_i,
    };
    lt_gc_report rep;
    int ok = lt_layer_gradcheck(&lc, &rep);
    ck_assert_msg(ok, "%s: %s", gc->label, rep.msg);
    ck_assert_msg(rep.checked > 0, "%s: nothing checked", gc->label);
    if (getenv("LT_VERBOSE"))
        fprintf(stderr, "%-50s %5lld derivatives, worst error/tolerance %.3f\n", gc->label,
                (long long)rep.checked, rep.worst);
    ln_layer_free(l);
    ln_tensor_release(x);
}
END_TEST

/* ---- 1 vs 2 threads ----------------------------------------------------------------- */

typedef struct det_case {
    const char *unit, *spec;
    int nd;
    int64_t shape[4];
} det_case;

/* Sizes with several tasks of every kind: patch rows in many blocks,
** kernel gradients over several chunks and column blocks (K > 384 and more
** than 120 channels in one case), samples for dx. */
static const det_case det_cases[] = {
    {"conv2d", "#1=130 #2=3 padding=same activation=relu", 4, {6, 12, 11, 45}},
    {"conv2d", "#1=16 #2=[3,2] strides=2 groups=2 data_format=channels_first", 4,
     {5, 8, 13, 12}},
    {"conv2d", "#1=24 #2=1 activation=softmax", 4, {8, 10, 9, 16}},
    /* one input channel (conv_c1.h): the LeNet and chapter-14 first layers,
    ** and images wide enough for several weight-gradient chunks a sample */
    {"conv2d", "#1=20 #2=5 padding=same activation=relu", 4, {8, 28, 28, 1}},
    {"conv2d", "#1=64 #2=7 padding=same activation=relu", 4, {4, 28, 28, 1}},
    {"conv2d", "#1=12 #2=3 strides=[1,2] dilation_rate=[2,1]", 4, {3, 30, 200, 1}},
    {"conv2d", "#1=40 #2=5 padding=same data_format=channels_first algorithm=direct", 4,
     {4, 1, 40, 100}},
    {"conv1d", "#1=16 #2=9 padding=same", 3, {4, 5000, 1}},
    {"conv1d", "#1=32 #2=5 padding=causal dilation_rate=2", 3, {8, 60, 24}},
    {"conv2d_transpose", "#1=20 #2=3 strides=2 padding=same activation=tanh", 4,
     {6, 9, 8, 24}},
    {"depthwise_conv2d", "#1=3 depth_multiplier=2 padding=same", 4, {8, 14, 13, 40}},
    {"separable_conv2d", "#1=48 #2=3 strides=2 activation=relu", 4, {8, 15, 14, 24}},
    {"max_pooling2d", "#1=3 strides=2 padding=same", 4, {8, 15, 14, 32}},
    {"average_pooling2d", "#1=2", 4, {8, 16, 14, 32}},
    {"global_average_pooling2d", "", 4, {16, 12, 11, 40}},
    {"global_max_pooling1d", "", 3, {16, 50, 40}},
    {"up_sampling2d", "#1=2 interpolation=bilinear", 4, {8, 12, 11, 32}},
    {"zero_padding2d", "#1=2", 4, {8, 14, 13, 32}},
    {"spatial_dropout2d", "#1=0.3", 4, {8, 14, 13, 32}},
    {"batch_normalization", "", 4, {16, 20, 20, 24}},
    {"batch_normalization", "axis=1", 4, {8, 24, 14, 13}},
    {"layer_normalization", "axis=[1,2,3]", 4, {16, 12, 11, 8}},
    {"layer_normalization", "", 3, {64, 40, 48}},
};
#define NDET ((int)(sizeof det_cases / sizeof *det_cases))

static float *det_run(const det_case *c, int threads, int64_t *len) {
    return lt_layer_run(c->unit, c->spec, c->nd, c->shape, LN_TRAINING, threads, NULL, len);
}

START_TEST(threads_bitwise) {
    const det_case *c = &det_cases[_i];
    int64_t n1, n2;
    float *a = det_run(c, 1, &n1);
    float *b = det_run(c, 2, &n2);
    ln_set_num_threads(2);
    ck_assert_int_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, (size_t)n1 * sizeof *a) == 0,
                  "%s{%s}: 1 and 2 threads differ (max |diff| %g)", c->unit, c->spec,
                  lt_max_abs_diff(a, b, n1));
    free(a);
    free(b);
}
END_TEST

/* Layers release everything they own. */
START_TEST(no_leaks) {
    int64_t t0 = ln_tensor_live_count(), s0 = ln_storage_live_count();
    for (int i = 0; i < NDET; i++) {
        int64_t n;
        free(det_run(&det_cases[i], 2, &n));
    }
    ck_assert_int_eq(ln_tensor_live_count(), t0);
    ck_assert_int_eq(ln_storage_live_count(), s0);
}
END_TEST

/* ---- impossible configurations ------------------------------------------------------ */

typedef struct bad_case {
    const char *unit, *spec;
    int nd;
    int64_t shape[4];        /* the input (without the batch); nd 0: create fails */
    const char *pieces[3];   /* in the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"conv2d", "#1=4 #2=5", 3, {4, 6, 3}, {"Conv2D", "kernel 5x5", "(None, 4, 6, 3)"}},
    {"conv2d", "#1=4 #2=3 dilation_rate=3", 3, {6, 6, 1}, {"kernel 7x7", "(None, 6, 6, 1)"}},
    {"conv2d", "#1=4 #2=3 strides=0", 0, {0}, {"'strides'", ">= 1", "0"}},
    {"conv2d", "#1=4 #2=[3,0]", 0, {0}, {"'kernel_size'", ">= 1"}},
    {"conv2d", "#1=5 #2=3 groups=2", 0, {0}, {"'filters' (5)", "'groups' (2)"}},
    {"conv2d", "#1=4 #2=3 groups=2", 3, {8, 8, 3}, {"input channels 3", "'groups' (2)"}},
    {"conv2d", "#1=4 #2=3", 2, {8, 3}, {"rank 4", "(None, 8, 3)"}},
    {"conv2d", "#1=4 #2=3 padding=full", 0, {0}, {"'padding'", "\"full\""}},
    {"conv2d", "#1=4 #2=3 data_format=nhwc", 0, {0}, {"'data_format'", "nhwc"}},
    {"conv2d", "#1=0 #2=3", 0, {0}, {"'filters'", "0"}},
    {"conv2d", "#1=4 #2=[1,2,3]", 0, {0}, {"'kernel_size'", "2 integers", "3 values"}},
    {"conv1d", "#1=4 #2=7", 2, {5, 2}, {"Conv1D", "kernel 7", "(None, 5, 2)"}},
    {"conv2d_transpose", "#1=4 #2=3 strides=2 output_padding=2", 0, {0},
     {"'output_padding' (2)", "'strides' (2)"}},
    {"conv2d_transpose", "#1=4 #2=3 groups=2", 0, {0}, {"'groups'"}},
    {"conv2d", "#1=4 #2=3 padding=causal", 0, {0}, {"'padding'", "causal"}},
    {"conv2d", "#1=4 #2=3 algorithm=direct", 3, {8, 8, 3},
     {"'algorithm' \"direct\"", "one input channel", "got 3"}},
    {"conv2d", "#1=4 #2=3 algorithm=fast", 0, {0}, {"'algorithm'", "\"gemm\"", "\"fast\""}},
    {"conv2d_transpose", "#1=4 #2=3 algorithm=direct", 0, {0},
     {"'algorithm' \"direct\"", "transposed"}},
    {"depthwise_conv2d", "#1=3 depth_multiplier=0", 0, {0}, {"'depth_multiplier'"}},
    {"max_pooling2d", "#1=3", 3, {2, 5, 4}, {"MaxPooling2D", "pool_size 3x3", "(None, 2, 5, 4)"}},
    {"max_pooling2d", "#1=2 strides=0", 0, {0}, {"'strides'", ">= 1"}},
    {"average_pooling1d", "#1=2 padding=causal", 0, {0}, {"'padding'"}},
    {"cropping2d", "cropping={#1=[2,2] #2=[0,0]}", 3, {4, 5, 1},
     {"Cropping2D", "(None, 4, 5, 1)", "leaves 0"}},
    {"zero_padding2d", "padding=[1,2,3]", 0, {0}, {"'padding'", "3 values"}},
    {"up_sampling2d", "interpolation=bicubic", 0, {0}, {"'interpolation'", "bicubic"}},
    {"reshape", "#1=[5,-1]", 2, {3, 4}, {"Reshape", "(None, 3, 4)", "(5, -1)"}},
    {"reshape", "#1=[-1,-1]", 0, {0}, {"'target_shape'", "one -1"}},
    {"spatial_dropout2d", "#1=1.5", 0, {0}, {"'rate'"}},
};
#define NBAD ((int)(sizeof bad_cases / sizeof *bad_cases))

START_TEST(impossible) {
    const bad_case *c = &bad_cases[_i];
    const char *msg;
    char buf[1024];
    if (!c->nd) {
        msg = lt_layer_error(c->unit, c->spec);
    } else {
        ln_layer *l = lt_layer(c->unit, c->spec);
        ln_ctx ctx;
        ln_ctx_clear(&ctx);
        ck_assert_msg(lt_build(&ctx, l, c->nd, c->shape) != LN_OK,
                      "%s{%s} was built", c->unit, c->spec);
        snprintf(buf, sizeof buf, "%s", ctx.msg);
        msg = buf;
        ln_layer_free(l);
    }
    for (int k = 0; k < 3 && c->pieces[k]; k++)
        ck_assert_msg(strstr(msg, c->pieces[k]), "%s{%s}: '%s' lacks '%s'", c->unit,
                      c->spec, msg, c->pieces[k]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers_conv");
    TCase *tc = tcase_create("conv");
    tcase_add_loop_test(tc, gradient, 0, NCASES);
    tcase_add_loop_test(tc, threads_bitwise, 0, NDET);
    tcase_add_test(tc, no_leaks);
    tcase_add_loop_test(tc, impossible, 0, NBAD);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
