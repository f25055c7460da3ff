/*
** test_layers_grad.c -- every layer plugin, in every mode that differs:
**  - its forward against a float64 reference formula written here (Keras's
**    definitions, keras-semantics.md §3-§5), independent of the plugin;
**  - dx and the gradient of every trainable weight against central
**    differences of L = sum(r . y) with a fixed random r, on the float64
**    reference and on the layer's own float32 forward (gradcheck.c);
**  - random layers (Dropout, AlphaDropout, GaussianNoise, GaussianDropout,
**    RReLU): the layer's generator is re-seeded before each forward, so the
**    masks repeat, and the reference redraws them from the same seed (one
**    fill of numel values per forward, the documented draw order);
**  - a forward on an input of the wrong shape fails naming the layer and
**    both shapes;
**  - forward and backward are bitwise identical with 1 and 2 threads at
**    sizes where the kernels run in parallel.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "testutil.h"

/* ---- float64 reference forwards ------------------------------------------ */

/* Per-sample numel of the layer's input and output. */
static int64_t in_per(const ln_layer *l) {
    int64_t n = 1;
    for (int i = 0; i < ln_layer_input_shape(l, 0)->nd; i++) n *= ln_layer_input_shape(l, 0)->dim[i];
    return n;
}
static int64_t last_dim(const ln_layer *l) {
    return ln_layer_input_shape(l, 0)->nd ? ln_layer_input_shape(l, 0)->dim[ln_layer_input_shape(l, 0)->nd - 1] : 1;
}

enum { A_LINEAR, A_TANH, A_SWISH, A_SOFTMAX };

/* act along rows of `cols` values, in place. */
static void ref_act(int act, double *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        double *v = y + r * cols;
        if (act == A_SOFTMAX) {
            double m = v[0], s = 0;
            for (int64_t c = 1; c < cols; c++) m = v[c] > m ? v[c] : m;
            for (int64_t c = 0; c < cols; c++) s += (v[c] = exp(v[c] - m));
            for (int64_t c = 0; c < cols; c++) v[c] /= s;
            continue;
        }
        for (int64_t c = 0; c < cols; c++) {
            if (act == A_TANH) v[c] = tanh(v[c]);
            else if (act == A_SWISH) v[c] = v[c] / (1 + exp(-v[c]));
        }
    }
}

typedef struct act_cfg {
    int act;
} act_cfg;

/* Dense: y = act(x W + b), the last axis contracted. */
static void ref_dense(const void *cfg, const ln_layer *l, int64_t batch,
                      const double *x, const double *const *w, double *y) {
    const act_cfg *c = cfg;
    int64_t in = last_dim(l), units = ln_layer_weight(l, 0)->shape[1];
    int64_t rows = batch * (in_per(l) / in);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < units; j++) {
            double s = ln_layer_weight_count(l) > 1 ? w[1][j] : 0;
            for (int64_t k = 0; k < in; k++) s += x[r * in + k] * w[0][k * units + j];
            y[r * units + j] = s;
        }
    ref_act(c->act, y, rows, units);
}

static void ref_copy(const void *cfg, const ln_layer *l, int64_t batch,
                     const double *x, const double *const *w, double *y) {
    memcpy(y, x, (size_t)(batch * in_per(l)) * sizeof *y);
}

/* Flatten channels_first: the channel axis (first after the batch) moves
** last before flattening. */
static void ref_flatten_cf(const void *cfg, const ln_layer *l, int64_t batch,
                           const double *x, const double *const *w, double *y) {
    int64_t per = in_per(l), c = ln_layer_input_shape(l, 0)->dim[0], rest = per / c;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t p = 0; p < rest; p++)
                y[b * per + p * c + ch] = x[b * per + ch * rest + p];
}

static void ref_activation(const void *cfg, const ln_layer *l, int64_t batch,
                           const double *x, const double *const *w, double *y) {
    const act_cfg *c = cfg;
    int64_t n = batch * in_per(l), cols = last_dim(l);
    memcpy(y, x, (size_t)n * sizeof *y);
    ref_act(c->act, y, n / cols, cols);
}

typedef struct relu_cfg {
    double max_value, slope, threshold;
} relu_cfg;

/* Keras backend.relu: x > t ? min(x, max) : slope (x - t). */
static void ref_relu(const void *cfg, const ln_layer *l, int64_t batch,
                     const double *x, const double *const *w, double *y) {
    const relu_cfg *c = cfg;
    for (int64_t i = 0; i < batch * in_per(l); i++)
        y[i] = x[i] > c->threshold ? fmin(x[i], c->max_value)
                                   : c->slope * (x[i] - c->threshold);
}

typedef struct alpha_cfg {
    double alpha;
} alpha_cfg;

static void ref_leaky(const void *cfg, const ln_layer *l, int64_t batch,
                      const double *x, const double *const *w, double *y) {
    const alpha_cfg *c = cfg;
    for (int64_t i = 0; i < batch * in_per(l); i++)
        y[i] = x[i] > 0 ? x[i] : c->alpha * x[i];
}

typedef struct rescale_cfg {
    double scale, offset;
} rescale_cfg;

static void ref_rescaling(const void *cfg, const ln_layer *l, int64_t batch,
                          const double *x, const double *const *w, double *y) {
    const rescale_cfg *c = cfg;
    for (int64_t i = 0; i < batch * in_per(l); i++) y[i] = x[i] * c->scale + c->offset;
}

static void ref_elu(const void *cfg, const ln_layer *l, int64_t batch,
                    const double *x, const double *const *w, double *y) {
    const alpha_cfg *c = cfg;
    for (int64_t i = 0; i < batch * in_per(l); i++)
        y[i] = x[i] > 0 ? x[i] : c->alpha * (exp(x[i]) - 1);
}

static void ref_trelu(const void *cfg, const ln_layer *l, int64_t batch,
                      const double *x, const double *const *w, double *y) {
    const alpha_cfg *c = cfg; /* theta */
    for (int64_t i = 0; i < batch * in_per(l); i++)
        y[i] = x[i] > c->alpha ? x[i] : 0;
}

typedef struct prelu_cfg {
    int nshared;
    int shared[4]; /* Keras axes, batch = 0 */
} prelu_cfg;

/* PReLU: alpha indexed by the sample coordinates with shared axes set to
** 0 (alpha has size 1 there). */
static void ref_prelu(const void *cfg, const ln_layer *l, int64_t batch,
                      const double *x, const double *const *w, double *y) {
    const prelu_cfg *c = cfg;
    int nd = ln_layer_input_shape(l, 0)->nd;
    int64_t per = in_per(l);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t p = 0; p < per; p++) {
            int64_t coord[LN_MAX_DIM], rem = p;
            for (int d = nd - 1; d >= 0; d--) {
                coord[d] = rem % ln_layer_input_shape(l, 0)->dim[d];
                rem /= ln_layer_input_shape(l, 0)->dim[d];
            }
            for (int s = 0; s < c->nshared; s++) coord[c->shared[s] - 1] = 0;
            int64_t j = 0;
            for (int d = 0; d < nd; d++) {
                int shared = 0;
                for (int s = 0; s < c->nshared; s++) shared |= c->shared[s] - 1 == d;
                j = j * (shared ? 1 : ln_layer_input_shape(l, 0)->dim[d]) + coord[d];
            }
            double v = x[b * per + p];
            y[b * per + p] = v > 0 ? v : w[0][j] * v;
        }
}

typedef struct rand_cfg {
    double a, b;   /* rrelu lower/upper; dropout rate; noise stddev */
    uint64_t seed; /* the layer's generator is re-seeded with it */
    int training;
} rand_cfg;

/* The layer's draws: one fill of n values from a generator seeded with
** seed (uniform in [lo, hi) or normal(mean, std)). */
static float *draws(uint64_t seed, int64_t n, int normal, float p, float q) {
    float *u = malloc((size_t)(n ? n : 1) * sizeof *u);
    ck_assert_ptr_nonnull(u);
    ln_rng r;
    ln_rng_seed(&r, seed);
    if (normal) ln_rng_normal(&r, u, n, p, q);
    else ln_rng_uniform(&r, u, n, p, q);
    return u;
}

static void ref_rrelu(const void *cfg, const ln_layer *l, int64_t batch,
                      const double *x, const double *const *w, double *y) {
    const rand_cfg *c = cfg;
    int64_t n = batch * in_per(l);
    float *a = c->training ? draws(c->seed, n, 0, (float)c->a, (float)c->b) : NULL;
    for (int64_t i = 0; i < n; i++) {
        double slope = a ? a[i] : (c->a + c->b) / 2;
        y[i] = x[i] >= 0 ? x[i] : slope * x[i];
    }
    free(a);
}

/* Dropout: keep where u >= rate, kept values scaled by 1 / (1 - rate). */
static void ref_dropout(const void *cfg, const ln_layer *l, int64_t batch,
                        const double *x, const double *const *w, double *y) {
    const rand_cfg *c = cfg;
    int64_t n = batch * in_per(l);
    float *u = draws(c->seed, n, 0, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        y[i] = u[i] >= (float)c->a ? x[i] / (1 - c->a) : 0;
    free(u);
}

/* AlphaDropout with SELU's alpha' = -alpha * scale. */
static void ref_alpha_dropout(const void *cfg, const ln_layer *l,
                              int64_t batch, const double *x,
                              const double *const *w, double *y) {
    const rand_cfg *c = cfg;
    const double selu_alpha = 1.6732632423543772848170429916717;
    const double selu_scale = 1.0507009873554804934193349852946;
    double ap = -selu_alpha * selu_scale, p = c->a;
    double a = pow((1 - p) * (1 + p * ap * ap), -0.5), b = -a * ap * p;
    int64_t n = batch * in_per(l);
    float *u = draws(c->seed, n, 0, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        y[i] = a * (u[i] >= (float)p ? x[i] : ap) + b;
    free(u);
}

static void ref_gaussian_noise(const void *cfg, const ln_layer *l,
                               int64_t batch, const double *x,
                               const double *const *w, double *y) {
    const rand_cfg *c = cfg;
    int64_t n = batch * in_per(l);
    float *e = draws(c->seed, n, 1, 0.0f, (float)c->a);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + e[i];
    free(e);
}

static void ref_gaussian_dropout(const void *cfg, const ln_layer *l,
                                 int64_t batch, const double *x,
                                 const double *const *w, double *y) {
    const rand_cfg *c = cfg;
    int64_t n = batch * in_per(l);
    float *e = draws(c->seed, n, 1, 1.0f, (float)sqrt(c->a / (1 - c->a)));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * e[i];
    free(e);
}

static void ref_softmax(const void *cfg, const ln_layer *l, int64_t batch,
                        const double *x, const double *const *w, double *y) {
    static const act_cfg sm = {A_SOFTMAX};
    ref_activation(&sm, l, batch, x, w, y);
}

typedef struct bn_cfg {
    double eps;
    int center, scale;
    int batch_stats; /* 1: batch mean / biased variance; 0: moving */
} bn_cfg;

/* BatchNormalization over all axes but the last. */
static void ref_bn(const void *cfg, const ln_layer *l, int64_t batch,
                   const double *x, const double *const *w, double *y) {
    const bn_cfg *c = cfg;
    int64_t f = last_dim(l), rows = batch * in_per(l) / f;
    int k = 0;
    const double *gamma = c->scale ? w[k++] : NULL;
    const double *beta = c->center ? w[k++] : NULL;
    const double *mm = w[k], *mv = w[k + 1];
    for (int64_t j = 0; j < f; j++) {
        double mean = mm[j], var = mv[j];
        if (c->batch_stats) {
            mean = var = 0;
            for (int64_t r = 0; r < rows; r++) mean += x[r * f + j];
            mean /= (double)rows;
            for (int64_t r = 0; r < rows; r++)
                var += (x[r * f + j] - mean) * (x[r * f + j] - mean);
            var /= (double)rows;
        }
        for (int64_t r = 0; r < rows; r++)
            y[r * f + j] = (gamma ? gamma[j] : 1) * (x[r * f + j] - mean) /
                               sqrt(var + c->eps) +
                           (beta ? beta[j] : 0);
    }
}

/* ---- the cases -------------------------------------------------------------- */

static const act_cfg c_linear = {A_LINEAR}, c_tanh = {A_TANH},
                     c_swish = {A_SWISH}, c_softmax = {A_SOFTMAX};
static const relu_cfg c_relu = {INFINITY, 0, 0}, c_relu6 = {1.5, 0.1, 0.5};
static const alpha_cfg c_a03 = {0.3}, c_a01 = {0.1}, c_a1 = {1.0},
                       c_a05 = {0.5}, c_th1 = {1.0}, c_th03 = {0.3};
static const prelu_cfg c_pr_none = {0, {0}}, c_pr_12 = {2, {1, 2}},
                       c_pr_2 = {1, {2}};
static const rand_cfg c_rr_train = {1.0 / 8, 1.0 / 3, 77, 1},
                      c_rr_inf = {1.0 / 8, 1.0 / 3, 77, 0},
                      c_rr_wide = {0.2, 0.6, 78, 1},
                      c_do = {0.3, 0, 91, 1}, c_ado = {0.2, 0, 92, 1},
                      c_gn = {0.4, 0, 93, 1}, c_gd = {0.25, 0, 94, 1};
static const rescale_cfg c_rs = {0.25, -0.5}, c_rs_neg = {-3.0, 0};
static const bn_cfg c_bn_train = {1e-3, 1, 1, 1}, c_bn_inf = {1e-3, 1, 1, 0},
                    c_bn_bare = {1e-3, 0, 0, 1}, c_bn_eps = {0.1, 1, 1, 1};

typedef void (*fill_fn)(ln_layer *l);

/* BatchNormalization weights: gamma near 1, beta near 0, moving variance
** positive; in the layer's order for its center/scale. */
static void fill_bn(ln_layer *l) {
    for (int k = 0; k < ln_layer_weight_count(l); k++) {
        lt_weight w = lt_weight_at(l, k);
        float lo = -0.5f, hi = 0.5f;
        if (!strcmp(w.name, "gamma") || !strcmp(w.name, "moving_variance"))
            lo = 0.5f, hi = 1.5f;
        ln_rng r = {500 + (uint64_t)k, 0};
        ln_rng_uniform(&r, ln_f32(w.value), w.value->numel, lo, hi);
    }
}
static void fill_small(ln_layer *l) { lt_fill_weights(l, -0.5f, 0.5f, 300); }
static void fill_dense(ln_layer *l) { lt_fill_weights(l, -0.7f, 0.7f, 400); }

typedef struct gcase {
    const char *label, *unit, *spec;
    int nd;
    int64_t shape[5];
    unsigned flags;
    lt_ref_forward ref;
    const void *cfg;
    uint64_t seed; /* re-seed the layer's generator (0: no) */
    fill_fn fill;
    int frozen;   /* layer->trainable = 0 */
    int nkinks;
    float kinks[2];
} gcase;

#define T LN_TRAINING
static const gcase cases[] = {
    {"dense linear", "dense", "#1=5 activation=linear", 2, {6, 7}, 0,
     ref_dense, &c_linear, 0, fill_dense, 0, 0, {0}},
    {"dense tanh (fused)", "dense", "#1=5 activation=tanh", 2, {6, 7}, T,
     ref_dense, &c_tanh, 0, fill_dense, 0, 0, {0}},
    {"dense swish (unfused: backward uses x)", "dense", "#1=4 activation=swish",
     2, {6, 7}, 0, ref_dense, &c_swish, 0, fill_dense, 0, 0, {0}},
    {"dense tpl_tanh_x (unfused)", "dense", "#1=4 activation=tpl_tanh_x", 2,
     {5, 3}, 0, ref_dense, &c_tanh, 0, fill_dense, 0, 0, {0}},
    {"dense softmax (not elementwise)", "dense", "#1=6 activation=softmax", 2,
     {5, 4}, 0, ref_dense, &c_softmax, 0, fill_dense, 0, 0, {0}},
    {"dense softmax under LN_LOGITS", "dense", "#1=6 activation=softmax", 2,
     {5, 4}, LN_LOGITS, ref_dense, &c_linear, 0, fill_dense, 0, 0, {0}},
    {"dense tanh under LN_LOGITS", "dense", "#1=3 activation=tanh", 2,
     {5, 4}, LN_LOGITS | T, ref_dense, &c_linear, 0, fill_dense, 0, 0, {0}},
    {"dense without bias", "dense", "units=3 use_bias=false activation=tanh",
     2, {4, 5}, 0, ref_dense, &c_tanh, 0, fill_dense, 0, 0, {0}},
    {"dense rank-3 input", "dense", "#1=3 activation=softmax", 3, {3, 2, 4},
     0, ref_dense, &c_softmax, 0, fill_dense, 0, 0, {0}},
    {"flatten", "flatten", "", 3, {3, 2, 4}, 0, ref_copy, NULL, 0, NULL, 0, 0,
     {0}},
    {"flatten channels_first", "flatten", "data_format=channels_first", 4,
     {2, 3, 2, 2}, 0, ref_flatten_cf, NULL, 0, NULL, 0, 0, {0}},
    {"flatten rank-1 input", "flatten", "", 1, {4}, 0, ref_copy, NULL, 0, NULL,
     0, 0, {0}},
    {"activation tanh", "activation", "#1=tanh", 2, {4, 5}, 0, ref_activation,
     &c_tanh, 0, NULL, 0, 0, {0}},
    {"activation softmax rank 3", "activation", "activation=softmax", 3,
     {2, 3, 4}, 0, ref_activation, &c_softmax, 0, NULL, 0, 0, {0}},
    {"activation softmax under LN_LOGITS", "activation", "#1=softmax", 2,
     {3, 4}, LN_LOGITS, ref_activation, &c_linear, 0, NULL, 0, 0, {0}},
    {"relu", "relu", "", 2, {5, 6}, 0, ref_relu, &c_relu, 0, NULL, 0, 1, {0}},
    {"relu max_value/negative_slope/threshold", "relu",
     "max_value=1.5 negative_slope=0.1 threshold=0.5", 2, {6, 6}, 0, ref_relu,
     &c_relu6, 0, NULL, 0, 2, {0.5f, 1.5f}},
    {"leaky_relu", "leaky_relu", "", 2, {5, 6}, 0, ref_leaky, &c_a03, 0, NULL,
     0, 1, {0}},
    {"leaky_relu alpha 0.1", "leaky_relu", "alpha=0.1", 3, {2, 3, 4}, T,
     ref_leaky, &c_a01, 0, NULL, 0, 1, {0}},
    {"prelu", "prelu", "", 2, {6, 5}, 0, ref_prelu, &c_pr_none, 0, fill_small,
     0, 1, {0}},
    {"prelu shared_axes {1,2}", "prelu", "shared_axes=[1,2]", 4, {3, 2, 3, 4},
     T, ref_prelu, &c_pr_12, 0, fill_small, 0, 1, {0}},
    {"prelu shared_axes 2", "prelu", "shared_axes=2", 3, {3, 4, 3}, 0,
     ref_prelu, &c_pr_2, 0, fill_small, 0, 1, {0}},
    {"rrelu training", "rrelu", "", 2, {6, 5}, T, ref_rrelu, &c_rr_train, 77,
     NULL, 0, 1, {0}},
    {"rrelu inference", "rrelu", "", 2, {6, 5}, 0, ref_rrelu, &c_rr_inf, 0,
     NULL, 0, 1, {0}},
    {"rrelu lower/upper training", "rrelu", "lower=0.2 upper=0.6", 2, {6, 5},
     T, ref_rrelu, &c_rr_wide, 78, NULL, 0, 1, {0}},
    {"elu", "elu", "", 2, {5, 6}, 0, ref_elu, &c_a1, 0, NULL, 0, 1, {0}},
    {"elu alpha 0.5", "elu", "alpha=0.5", 2, {5, 6}, 0, ref_elu, &c_a05, 0,
     NULL, 0, 1, {0}},
    {"thresholded_relu", "thresholded_relu", "", 2, {5, 6}, 0, ref_trelu,
     &c_th1, 0, NULL, 0, 1, {1.0f}},
    {"thresholded_relu theta 0.3", "thresholded_relu", "theta=0.3", 2, {5, 6},
     0, ref_trelu, &c_th03, 0, NULL, 0, 1, {0.3f}},
    {"softmax", "softmax", "", 2, {4, 5}, 0, ref_softmax, NULL, 0, NULL, 0, 0,
     {0}},
    {"softmax rank 3", "softmax", "axis=-1", 3, {2, 3, 4}, 0, ref_softmax,
     NULL, 0, NULL, 0, 0, {0}},
    {"batch_normalization training", "batch_normalization", "", 2, {6, 5}, T,
     ref_bn, &c_bn_train, 0, fill_bn, 0, 0, {0}},
    {"batch_normalization inference", "batch_normalization", "", 2, {6, 5}, 0,
     ref_bn, &c_bn_inf, 0, fill_bn, 0, 0, {0}},
    {"batch_normalization training rank 3", "batch_normalization",
     "epsilon=0.1", 3, {3, 2, 4}, T, ref_bn, &c_bn_eps, 0, fill_bn, 0, 0, {0}},
    {"batch_normalization center/scale off", "batch_normalization",
     "center=false scale=false", 2, {5, 3}, T, ref_bn, &c_bn_bare, 0, fill_bn,
     0, 0, {0}},
    {"batch_normalization trainable=false in training", "batch_normalization",
     "", 2, {6, 4}, T, ref_bn, &c_bn_inf, 0, fill_bn, 1, 0, {0}},
    {"dropout training", "dropout", "#1=0.3", 2, {6, 5}, T, ref_dropout, &c_do,
     91, NULL, 0, 0, {0}},
    {"dropout inference", "dropout", "rate=0.3", 2, {6, 5}, 0, ref_copy, NULL,
     0, NULL, 0, 0, {0}},
    {"alpha_dropout training", "alpha_dropout", "#1=0.2", 2, {6, 5}, T,
     ref_alpha_dropout, &c_ado, 92, NULL, 0, 0, {0}},
    {"alpha_dropout inference", "alpha_dropout", "#1=0.2", 2, {6, 5}, 0,
     ref_copy, NULL, 0, NULL, 0, 0, {0}},
    {"gaussian_noise training", "gaussian_noise", "#1=0.4", 2, {6, 5}, T,
     ref_gaussian_noise, &c_gn, 93, NULL, 0, 0, {0}},
    {"gaussian_noise inference", "gaussian_noise", "stddev=0.4", 2, {6, 5}, 0,
     ref_copy, NULL, 0, NULL, 0, 0, {0}},
    {"rescaling", "rescaling", "#1=0.25 offset=-0.5", 2, {6, 5}, T, ref_rescaling,
     &c_rs, 0, NULL, 0, 0, {0}},
    {"rescaling negative scale rank 3", "rescaling", "scale=-3", 3, {2, 3, 4}, 0,
     ref_rescaling, &c_rs_neg, 0, NULL, 0, 0, {0}},
    {"gaussian_dropout training", "gaussian_dropout", "#1=0.25", 2, {6, 5}, T,
     ref_gaussian_dropout, &c_gd, 94, NULL, 0, 0, {0}},
    {"gaussian_dropout inference", "gaussian_dropout", "rate=0.25", 2, {6, 5},
     0, ref_copy, NULL, 0, NULL, 0, 0, {0}},
};
#undef T
#define NCASES ((int)(sizeof cases / sizeof *cases))

static void load_support(void) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ck_assert_msg(ln_registry_load(&ctx, lt_test_plugin("tp_layers_support.so"), 0) ==
                      LN_OK,
                  "%s", ctx.msg);
}

START_TEST(gradient) {
    const gcase *c = &cases[_i];
    load_support();
    ln_layer *l = lt_layer(c->unit, c->spec);
    ln_rng own;
    ln_layer_set_rng(l, &own); /* the test's generator, re-seeded per forward */
    ln_rng_seed(&own, 1);
    if (c->frozen) ln_layer_set_trainable(l, 0);
    ln_tensor *x = lt_uniform(c->nd, c->shape, -2.0f, 2.0f, 1000 + (uint64_t)_i);
    for (int k = 0; k < c->nkinks; k++) lt_away_from(x, c->kinks[k], 0.02f);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ck_assert_msg(lt_build(&ctx, l, x->ndim - 1, x->shape + 1) == LN_OK,
                  "%s: %s", c->label, ctx.msg);
    if (c->fill) c->fill(l);
    const void *cfg = c->cfg;
    lt_layer_case lc = {
        .layer = l,
        .x = x,
        .flags = c->flags,
        .ref = c->ref,
        .cfg = cfg,
        .reseed = c->seed != 0,
        .seed = c->seed,
        .fwd_tol = 2e-6,
        .ref_opts = lt_gc_ref_defaults(),
        .layer_opts = lt_gc_float_defaults(),
        .r_seed = 7 + (uint64_t)_i,
    };
    lt_gc_report rep;
    int ok = lt_layer_gradcheck(&lc, &rep);
    ck_assert_msg(ok, "%s: %s", c->label, rep.msg);
    ck_assert_msg(rep.checked > 0, "%s: nothing checked", c->label);
    if (getenv("LT_VERBOSE"))
        fprintf(stderr, "%-50s %4lld derivatives, worst error/tolerance %.3f\n",
                c->label, (long long)rep.checked, rep.worst);
    ln_layer_free(l);
    ln_tensor_release(x);
}
END_TEST

/* ---- wrong input shapes ---------------------------------------------------- */

typedef struct shape_case {
    const char *unit, *spec, *class_name;
    int nd;
    int64_t built[4]; /* including the batch */
    int wnd;
    int64_t wrong[4];
    /* the built shape as "(None, 5" (core/engine/layer.c currently prints a
    ** rank-1 shape as "(None, 5,)"), the wrong one in full */
    const char *built_str, *wrong_str;
} shape_case;

static const shape_case shape_cases[] = {
    {"dense", "#1=3", "Dense", 2, {2, 5}, 2, {4, 6}, "(None, 5", "(4, 6)"},
    {"flatten", "", "Flatten", 3, {2, 2, 3}, 3, {4, 3, 2}, "(None, 2, 3)",
     "(4, 3, 2)"},
    {"activation", "#1=tanh", "Activation", 2, {2, 5}, 3, {4, 5, 1},
     "(None, 5", "(4, 5, 1)"},
    {"relu", "", "ReLU", 2, {2, 5}, 2, {4, 6}, "(None, 5", "(4, 6)"},
    {"leaky_relu", "", "LeakyReLU", 2, {2, 5}, 2, {4, 6}, "(None, 5",
     "(4, 6)"},
    {"prelu", "", "PReLU", 2, {2, 5}, 2, {4, 6}, "(None, 5", "(4, 6)"},
    {"rrelu", "", "RReLU", 2, {2, 5}, 2, {4, 6}, "(None, 5", "(4, 6)"},
    {"elu", "", "ELU", 2, {2, 5}, 2, {4, 6}, "(None, 5", "(4, 6)"},
    {"thresholded_relu", "", "ThresholdedReLU", 2, {2, 5}, 2, {4, 6},
     "(None, 5", "(4, 6)"},
    {"softmax", "", "Softmax", 2, {2, 5}, 2, {4, 6}, "(None, 5", "(4, 6)"},
    {"batch_normalization", "", "BatchNormalization", 2, {2, 5}, 2, {4, 6},
     "(None, 5", "(4, 6)"},
    {"dropout", "#1=0.5", "Dropout", 2, {2, 5}, 2, {4, 6}, "(None, 5",
     "(4, 6)"},
    {"alpha_dropout", "#1=0.5", "AlphaDropout", 2, {2, 5}, 2, {4, 6},
     "(None, 5", "(4, 6)"},
    {"gaussian_noise", "#1=0.5", "GaussianNoise", 2, {2, 5}, 2, {4, 6},
     "(None, 5", "(4, 6)"},
    {"gaussian_dropout", "#1=0.5", "GaussianDropout", 2, {2, 5}, 2, {4, 6},
     "(None, 5", "(4, 6)"},
};
#define NSHAPES ((int)(sizeof shape_cases / sizeof *shape_cases))

START_TEST(bad_shape) {
    const shape_case *c = &shape_cases[_i];
    ln_layer *l = lt_layer(c->unit, c->spec);
    ln_tensor *good = lt_uniform(c->nd, c->built, -1, 1, 5);
    ln_tensor *bad = lt_uniform(c->wnd, c->wrong, -1, 1, 6);
    ln_tensor *y = ln_tensor_new(NULL, LN_FLOAT32, 1, (int64_t[]){0});
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ck_assert_msg(ln_layer_forward1(&ctx, l, good, y, 0) == LN_OK, "%s", ctx.msg);
    ck_assert_int_eq(ln_layer_forward1(&ctx, l, bad, y, LN_TRAINING), LN_E_SHAPE);
    ck_assert_msg(strstr(ctx.msg, c->class_name) && strstr(ctx.msg, c->built_str) &&
                      strstr(ctx.msg, c->wrong_str),
                  "%s: message '%s' should name %s, %s and %s", c->unit,
                  ctx.msg, c->class_name, c->built_str, c->wrong_str);
    ln_layer_free(l);
    ln_tensor_release(good);
    ln_tensor_release(bad);
    ln_tensor_release(y);
}
END_TEST

/* ---- 1 vs 2 threads ---------------------------------------------------------- */

typedef struct det_case {
    const char *unit, *spec;
    int64_t shape[2];
    unsigned flags;
} det_case;

static const det_case det_cases[] = {
    {"dense", "#1=200 activation=tanh", {256, 300}, LN_TRAINING},
    {"dense", "#1=200 activation=swish", {256, 300}, LN_TRAINING},
    {"dense", "#1=10 activation=softmax", {512, 300}, LN_TRAINING},
    {"flatten", "", {256, 160}, LN_TRAINING},
    {"activation", "#1=softmax", {256, 160}, LN_TRAINING},
    {"relu", "max_value=1 negative_slope=0.1", {256, 160}, LN_TRAINING},
    {"leaky_relu", "", {256, 160}, LN_TRAINING},
    {"prelu", "", {256, 160}, LN_TRAINING},
    {"rrelu", "", {256, 160}, LN_TRAINING},
    {"elu", "", {256, 160}, LN_TRAINING},
    {"thresholded_relu", "", {256, 160}, LN_TRAINING},
    {"softmax", "", {256, 160}, LN_TRAINING},
    {"batch_normalization", "", {256, 300}, LN_TRAINING},
    {"batch_normalization", "", {256, 300}, 0},
    {"dropout", "#1=0.4", {256, 160}, LN_TRAINING},
    {"alpha_dropout", "#1=0.4", {256, 160}, LN_TRAINING},
    {"gaussian_noise", "#1=0.4", {256, 160}, LN_TRAINING},
    {"gaussian_dropout", "#1=0.4", {256, 160}, LN_TRAINING},
};
#define NDET ((int)(sizeof det_cases / sizeof *det_cases))

static float *det_run(const det_case *c, int threads, int64_t *len) {
    return lt_layer_run(c->unit, c->spec, 2, c->shape, c->flags, threads,
                        strcmp(c->unit, "batch_normalization") ? NULL : fill_bn, len);
}

START_TEST(threads_bitwise) {
    const det_case *c = &det_cases[_i];
    int64_t n1, n2;
    float *a = det_run(c, 1, &n1);
    float *b = det_run(c, 2, &n2);
    ln_set_num_threads(2);
    ck_assert_int_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, (size_t)n1 * sizeof *a) == 0,
                  "%s{%s}: 1 and 2 threads differ (max |diff| %g)", c->unit,
                  c->spec, lt_max_abs_diff(a, b, n1));
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

int main(void) {
    Suite *s = suite_create("layers_grad");
    TCase *tc = tcase_create("gradients");
    tcase_add_loop_test(tc, gradient, 0, NCASES);
    tcase_add_loop_test(tc, bad_shape, 0, NSHAPES);
    tcase_add_loop_test(tc, threads_bitwise, 0, NDET);
    tcase_add_test(tc, no_leaks);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
