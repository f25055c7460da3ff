/*
** test_layers_args.c -- the layers' keyword arguments: every layer is
** registered under its snake_case name with its Keras class; defaults are
** Keras's and recorded in the config; bad values, unknown keys and
** unsupported options fail at creation naming the key (and names of
** activations/initializers are resolved then); the seed's BN model counts
** 271,346 / 268,978 / 2,368 parameters.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static ln_ctx ctx;

START_TEST(registered) {
    static const char *names[][2] = {
        {"dense", "Dense"}, {"flatten", "Flatten"},
        {"activation", "Activation"}, {"relu", "ReLU"},
        {"leaky_relu", "LeakyReLU"}, {"prelu", "PReLU"}, {"rrelu", "RReLU"},
        {"elu", "ELU"}, {"thresholded_relu", "ThresholdedReLU"},
        {"softmax", "Softmax"}, {"batch_normalization", "BatchNormalization"},
        {"dropout", "Dropout"}, {"alpha_dropout", "AlphaDropout"},
        {"gaussian_noise", "GaussianNoise"},
        {"gaussian_dropout", "GaussianDropout"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *file = NULL;
        const ln_unit *u = ln_registry_find(LN_KIND_LAYER, names[i][0], &file);
        ck_assert_msg(u != NULL, "layer '%s' is not registered", names[i][0]);
        ck_assert_str_eq(u->class_name, names[i][1]);
        ck_assert_int_ge(u->version, 1);
        ck_assert(u->summary && u->summary[0]);
        ck_assert_ptr_nonnull(strstr(file, names[i][0]));
    }
}
END_TEST

/* The recorded value of key in l's config: number/bool into *num, string
** into *str; returns the entry type or -1 when absent. */
static int config(const ln_layer *l, const char *key, double *num,
                  const char **str) {
    for (int i = 0; i < ln_args_count(ln_layer_args(l)); i++) {
        ln_arg a = ln_args_at(ln_layer_args(l), i);
        if (strcmp(a.key, key)) continue;
        ck_assert_msg(a.used, "'%s' recorded but not marked read", key);
        *num = a.num;
        *str = a.str;
        if (a.type == LN_ARG_TABLE) /* unit reference: its name */
            for (int j = 0; j < ln_args_count(a.table); j++) {
                ln_arg s = ln_args_at(a.table, j);
                if (!strcmp(s.key, "name")) *str = s.str;
            }
        return (int)a.type;
    }
    return -1;
}

typedef struct def_case {
    const char *unit, *spec, *key;
    int type; /* ln_arg_type */
    double num;
    const char *str;
} def_case;

static const def_case defaults[] = {
    {"dense", "#1=3", "units", LN_ARG_NUMBER, 3, NULL},
    {"dense", "#1=3", "activation", LN_ARG_TABLE, 0, "linear"},
    {"dense", "#1=3", "use_bias", LN_ARG_BOOL, 1, NULL},
    {"dense", "#1=3", "kernel_initializer", LN_ARG_TABLE, 0, "glorot_uniform"},
    {"dense", "#1=3", "bias_initializer", LN_ARG_TABLE, 0, "zeros"},
    {"dense", "#1=3", "kernel_regularizer", LN_ARG_NULL, 0, NULL},
    {"dense", "#1=3", "bias_regularizer", LN_ARG_NULL, 0, NULL},
    {"dense", "#1=3", "activity_regularizer", LN_ARG_NULL, 0, NULL},
    {"dense", "#1=3", "kernel_constraint", LN_ARG_NULL, 0, NULL},
    {"dense", "#1=3", "bias_constraint", LN_ARG_NULL, 0, NULL},
    {"dense", "#1=3 activation=relu", "activation", LN_ARG_TABLE, 0, "relu"},
    {"flatten", "", "data_format", LN_ARG_NULL, 0, NULL},
    {"activation", "#1=tanh", "activation", LN_ARG_TABLE, 0, "tanh"},
    {"relu", "", "max_value", LN_ARG_NULL, 0, NULL},
    {"relu", "", "negative_slope", LN_ARG_NUMBER, 0, NULL},
    {"relu", "", "threshold", LN_ARG_NUMBER, 0, NULL},
    {"relu", "max_value=6", "max_value", LN_ARG_NUMBER, 6, NULL},
    {"leaky_relu", "", "alpha", LN_ARG_NUMBER, 0.3, NULL},
    {"prelu", "", "alpha_initializer", LN_ARG_TABLE, 0, "zeros"},
    {"prelu", "", "alpha_regularizer", LN_ARG_NULL, 0, NULL},
    {"prelu", "", "alpha_constraint", LN_ARG_NULL, 0, NULL},
    {"prelu", "", "shared_axes", LN_ARG_NULL, 0, NULL},
    {"rrelu", "", "lower", LN_ARG_NUMBER, 1.0 / 8, NULL},
    {"rrelu", "", "upper", LN_ARG_NUMBER, 1.0 / 3, NULL},
    {"elu", "", "alpha", LN_ARG_NUMBER, 1.0, NULL},
    {"thresholded_relu", "", "theta", LN_ARG_NUMBER, 1.0, NULL},
    {"softmax", "", "axis", LN_ARG_NUMBER, -1, NULL},
    {"batch_normalization", "", "axis", LN_ARG_NUMBER, -1, NULL},
    {"batch_normalization", "", "momentum", LN_ARG_NUMBER, 0.99, NULL},
    {"batch_normalization", "", "epsilon", LN_ARG_NUMBER, 1e-3, NULL},
    {"batch_normalization", "", "center", LN_ARG_BOOL, 1, NULL},
    {"batch_normalization", "", "scale", LN_ARG_BOOL, 1, NULL},
    {"batch_normalization", "", "beta_initializer", LN_ARG_TABLE, 0, "zeros"},
    {"batch_normalization", "", "gamma_initializer", LN_ARG_TABLE, 0, "ones"},
    {"batch_normalization", "", "moving_mean_initializer", LN_ARG_TABLE, 0, "zeros"},
    {"batch_normalization", "", "moving_variance_initializer", LN_ARG_TABLE, 0, "ones"},
    {"batch_normalization", "", "beta_regularizer", LN_ARG_NULL, 0, NULL},
    {"batch_normalization", "", "gamma_constraint", LN_ARG_NULL, 0, NULL},
    {"batch_normalization", "axis=[1]", "axis", LN_ARG_NUMBERS, 0, NULL},
    {"dropout", "#1=0.5", "rate", LN_ARG_NUMBER, 0.5, NULL},
    {"dropout", "#1=0.5", "noise_shape", LN_ARG_NULL, 0, NULL},
    {"dropout", "#1=0.5", "seed", LN_ARG_NULL, 0, NULL},
    {"alpha_dropout", "rate=0.1", "rate", LN_ARG_NUMBER, 0.1, NULL},
    {"gaussian_noise", "#1=0.2", "stddev", LN_ARG_NUMBER, 0.2, NULL},
    {"gaussian_dropout", "#1=0.2", "rate", LN_ARG_NUMBER, 0.2, NULL},
};
#define NDEFAULTS ((int)(sizeof defaults / sizeof *defaults))

START_TEST(keras_defaults) {
    const def_case *c = &defaults[_i];
    ln_layer *l = lt_layer(c->unit, c->spec);
    double num = 0;
    const char *str = NULL;
    int type = config(l, c->key, &num, &str);
    ck_assert_msg(type == c->type, "%s{%s}: '%s' recorded as type %d, want %d",
                  c->unit, c->spec, c->key, type, c->type);
    if (c->type == LN_ARG_NUMBER || c->type == LN_ARG_BOOL)
        ck_assert_msg(fabs(num - c->num) <= 1e-12, "%s: '%s' = %g, want %g",
                      c->unit, c->key, num, c->num);
    if (c->str) ck_assert_str_eq(str, c->str);
    ln_layer_free(l);
}
END_TEST

typedef struct bad_case {
    const char *unit, *spec;
    const char *want[3]; /* substrings of the message */
} bad_case;

static const bad_case bad[] = {
    {"dense", "", {"Dense", "units"}},
    {"dense", "#1=0", {"Dense", "units", "0"}},
    {"dense", "#1=-3", {"Dense", "units"}},
    {"dense", "#1=2.5", {"Dense", "units", "integer"}},
    {"dense", "#1=3 units=4", {"units", "position"}},
    {"dense", "#1=3 activation=relux", {"Dense", "unknown activation 'relux'"}},
    {"dense", "#1=3 kernel_initializer=glorot_unifrom", {"Dense", "glorot_unifrom"}},
    {"dense", "#1=3 bias_initializer={name=constant valu=1}", {"Dense", "valu"}},
    {"dense", "#1=3 kernel_regularizer=l3", {"Dense", "l3"}},
    {"dense", "#1=3 kernel_regularizer={l2=-1}", {"kernel_regularizer", "negative"}},
    {"dense", "#1=3 kernel_constraint=max_norm", {"Dense", "kernel_constraint", "not supported"}},
    {"dense", "#1=3 bias_constraint=non_neg", {"bias_constraint"}},
    {"dense", "#1=3 activity_regularizer=l2", {"activity_regularizer"}},
    {"dense", "#1=3 use_bias=1", {"use_bias", "boolean"}},
    {"dense", "#1=3 unitz=4", {"Dense", "unknown keyword", "unitz"}},
    {"flatten", "data_format=channels_middle", {"Flatten", "data_format", "channels_middle"}},
    {"activation", "", {"Activation", "activation"}},
    {"activation", "#1=sigmoidd", {"Activation", "sigmoidd"}},
    {"relu", "max_value=-1", {"ReLU", "max_value"}},
    {"relu", "negative_slope=-0.1", {"ReLU", "negative_slope"}},
    {"relu", "threshold=-1", {"ReLU", "threshold"}},
    {"relu", "alpha=0.1", {"ReLU", "unknown keyword", "alpha"}},
    {"leaky_relu", "alpha=fast", {"LeakyReLU", "alpha", "number"}},
    {"prelu", "shared_axes=[0]", {"PReLU", "shared_axes"}},
    {"prelu", "alpha_initializer=zero", {"PReLU", "zero"}},
    {"prelu", "alpha_constraint=non_neg", {"PReLU", "alpha_constraint"}},
    {"rrelu", "lower=0.5 upper=0.25", {"RReLU", "upper", "lower"}},
    {"rrelu", "lower=-0.1", {"RReLU", "lower"}},
    {"rrelu", "seed=1.5", {"RReLU", "seed"}},
    {"elu", "alpha=nan", {"ELU", "alpha"}},
    {"thresholded_relu", "theta=-0.5", {"ThresholdedReLU", "theta"}},
    {"softmax", "axis=1.5", {"Softmax", "axis"}},
    {"batch_normalization", "momentum=1.5", {"BatchNormalization", "momentum"}},
    {"batch_normalization", "epsilon=0", {"BatchNormalization", "epsilon"}},
    {"batch_normalization", "axis=[1,2]", {"BatchNormalization", "axis"}},
    {"batch_normalization", "renorm=true", {"BatchNormalization", "renorm"}},
    {"batch_normalization", "beta_constraint=non_neg", {"beta_constraint"}},
    {"batch_normalization", "gamma_initializer=one", {"BatchNormalization", "one"}},
    {"batch_normalization", "virtual_batch_size=8", {"virtual_batch_size"}},
    {"dropout", "", {"Dropout", "rate"}},
    {"dropout", "#1=1", {"Dropout", "rate", "[0, 1)"}},
    {"dropout", "#1=-0.1", {"Dropout", "rate"}},
    {"dropout", "#1=0.5 noise_shape=[1,5]", {"Dropout", "noise_shape"}},
    {"alpha_dropout", "#1=1.5", {"AlphaDropout", "rate"}},
    {"gaussian_noise", "", {"GaussianNoise", "stddev"}},
    {"gaussian_noise", "#1=-1", {"GaussianNoise", "stddev"}},
    {"gaussian_dropout", "rate=1", {"GaussianDropout", "rate"}},
};
#define NBAD ((int)(sizeof bad / sizeof *bad))

START_TEST(bad_values) {
    const bad_case *c = &bad[_i];
    const char *msg = lt_layer_error(c->unit, c->spec);
    for (int k = 0; k < 3 && c->want[k]; k++)
        ck_assert_msg(strstr(msg, c->want[k]) != NULL,
                      "%s{%s}: message '%s' lacks '%s'", c->unit, c->spec, msg,
                      c->want[k]);
}
END_TEST

/* Errors that need the input shape come from build, naming the key. */
START_TEST(bad_at_build) {
    static const struct {
        const char *unit, *spec, *want;
        int nd;
        int64_t shape[3];
    } cases[] = {
        {"prelu", "shared_axes=[3]", "shared_axes", 2, {4, 5}},
        {"softmax", "axis=1", "axis", 2, {3, 4}},
        {"batch_normalization", "axis=3", "axis", 2, {3, 4}},
        {"batch_normalization", "axis=0", "axis", 2, {3, 4}},
        {"batch_normalization", "axis=-3", "axis", 2, {3, 4}},
        {"batch_normalization", "", "rank", 0, {0}},
        {"dense", "#1=2", "rank", 0, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ln_layer *l = lt_layer(cases[i].unit, cases[i].spec);
        ln_ctx_clear(&ctx);
        ck_assert_int_ne(lt_build(&ctx, l, cases[i].nd, cases[i].shape), LN_OK);
        ck_assert_msg(strstr(ctx.msg, cases[i].want) && strstr(ctx.msg, ln_layer_unit(l)->class_name),
                      "%s{%s}: '%s'", cases[i].unit, cases[i].spec, ctx.msg);
        ln_layer_free(l);
    }
    /* BN axis given as the last axis' Keras number is accepted */
    ln_layer *l = lt_layer("batch_normalization", "axis=2");
    ck_assert_int_eq(lt_build(&ctx, l, 2, (int64_t[]){3, 4}), LN_OK);
    ln_layer_free(l);
}
END_TEST

/* A given seed gives the layer its own generator: two layers with the same
** seed draw the same mask; without one they follow the library's. */
START_TEST(seeded_layers) {
    ln_layer *a = lt_layer("dropout", "#1=0.5 seed=7");
    ln_layer *b = lt_layer("dropout", "#1=0.5 seed=7");
    ln_layer *c = lt_layer("dropout", "#1=0.5");
    ck_assert_ptr_eq(ln_layer_rng(c), ln_rng_global());
    ck_assert_ptr_ne(ln_layer_rng(a), ln_rng_global());
    ln_tensor *x = lt_uniform(2, (int64_t[]){10, 10}, 1, 2, 3);
    ln_tensor *ya = ln_tensor_new(NULL, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *yb = ln_tensor_new(NULL, LN_FLOAT32, 1, (int64_t[]){0});
    ck_assert_int_eq(ln_layer_forward1(&ctx, a, x, ya, LN_TRAINING), LN_OK);
    ck_assert_int_eq(ln_layer_forward1(&ctx, b, x, yb, LN_TRAINING), LN_OK);
    ck_assert_mem_eq(ln_f32(ya), ln_f32(yb), 100 * sizeof(float));
    int dropped = 0;
    for (int i = 0; i < 100; i++) dropped += ln_f32(ya)[i] == 0.0f;
    ck_assert_int_gt(dropped, 25);
    ck_assert_int_lt(dropped, 75);
    ln_tensor_release(x);
    ln_tensor_release(ya);
    ln_tensor_release(yb);
    ln_layer_free(a);
    ln_layer_free(b);
    ln_layer_free(c);
}
END_TEST

/* The seed's BN model, built layer by layer in C:
** Flatten(28x28) -> BN -> Dense(300, relu) -> BN -> Dense(100, relu) -> BN
** -> Dense(10, softmax). Keras: 271,346 total, 268,978 trainable,
** 2,368 non-trainable. */
START_TEST(seed_bn_model_parameters) {
    static const char *units[][2] = {
        {"flatten", ""},
        {"batch_normalization", ""},
        {"dense", "#1=300 activation=relu"},
        {"batch_normalization", ""},
        {"dense", "#1=100 activation=relu"},
        {"batch_normalization", ""},
        {"dense", "#1=10 activation=softmax"},
    };
    int nd = 2;
    int64_t shape[LN_MAX_DIM] = {28, 28};
    int64_t total = 0, trainable = 0;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        ln_layer *l = lt_layer(units[i][0], units[i][1]);
        ln_ctx_clear(&ctx);
        ck_assert_msg(lt_build(&ctx, l, nd, shape) == LN_OK, "%s", ctx.msg);
        for (int k = 0; k < ln_layer_weight_count(l); k++) {
            total += ln_layer_weight(l, k)->numel;
            if (ln_layer_trains(l, k)) trainable += ln_layer_weight(l, k)->numel;
        }
        nd = ln_layer_output_shape(l, 0)->nd;
        memcpy(shape, ln_layer_output_shape(l, 0)->dim, sizeof shape);
        ln_layer_free(l);
    }
    ck_assert_int_eq(nd, 1);
    ck_assert_int_eq(shape[0], 10);
    ck_assert_int_eq(total, 271346);
    ck_assert_int_eq(trainable, 268978);
    ck_assert_int_eq(total - trainable, 2368);
}
END_TEST

/* Weightless layers have no weights; PReLU's alpha follows shared_axes. */
START_TEST(weight_shapes) {
    ln_layer *p = lt_layer("prelu", "shared_axes=[1,2]");
    ck_assert_int_eq(lt_build(&ctx, p, 3, (int64_t[]){5, 6, 3}), LN_OK);
    ck_assert_int_eq(ln_layer_weight_count(p), 1);
    ck_assert_str_eq(ln_layer_weight_name(p, 0), "alpha");
    ck_assert_int_eq(ln_layer_weight(p, 0)->ndim, 3);
    ck_assert_int_eq(ln_layer_weight(p, 0)->shape[0], 1);
    ck_assert_int_eq(ln_layer_weight(p, 0)->shape[1], 1);
    ck_assert_int_eq(ln_layer_weight(p, 0)->shape[2], 3);
    ck_assert(ln_layer_weight_trainable(p, 0) && ln_layer_grad(p, 0));
    ck_assert_float_eq(ln_f32(ln_layer_weight(p, 0))[1], 0.0f); /* zeros */
    ln_layer_free(p);
    static const char *weightless[][2] = {
        {"flatten", ""}, {"activation", "#1=relu"}, {"relu", ""},
        {"leaky_relu", ""}, {"rrelu", ""}, {"elu", ""},
        {"thresholded_relu", ""}, {"softmax", ""}, {"dropout", "#1=0.2"},
        {"alpha_dropout", "#1=0.2"}, {"gaussian_noise", "#1=0.2"},
        {"gaussian_dropout", "#1=0.2"}};
    for (size_t i = 0; i < sizeof weightless / sizeof *weightless; i++) {
        ln_layer *l = lt_layer(weightless[i][0], weightless[i][1]);
        ck_assert_int_eq(lt_build(&ctx, l, 2, (int64_t[]){4, 5}), LN_OK);
        ck_assert_int_eq(ln_layer_weight_count(l), 0);
        ln_layer_free(l);
    }
    ln_layer *f = lt_layer("flatten", "");
    ck_assert_int_eq(lt_build(&ctx, f, 0, (int64_t[]){1}), LN_OK);
    ck_assert_int_eq(ln_layer_output_shape(f, 0)->nd, 1);
    ck_assert_int_eq(ln_layer_output_shape(f, 0)->dim[0], 1); /* (batch,) -> (batch, 1) */
    ln_layer_free(f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("layers_args");
    TCase *tc = tcase_create("args");
    tcase_add_test(tc, registered);
    tcase_add_loop_test(tc, keras_defaults, 0, NDEFAULTS);
    tcase_add_loop_test(tc, bad_values, 0, NBAD);
    tcase_add_test(tc, bad_at_build);
    tcase_add_test(tc, seeded_layers);
    tcase_add_test(tc, seed_bn_model_parameters);
    tcase_add_test(tc, weight_shapes);
    suite_add_tcase(s, tc);
    return lt_run(s);
}
