/* A well-formed test plugin: one layer and one activation. */
#include "lunet/plugin.h"

static void dbl_fwd(const void *s, const float *x, float *y, int64_t r,
                    int64_t c) {
    for (int64_t i = 0; i < r * c; i++) y[i] = 2 * x[i];
}
static void dbl_bwd(const void *s, const float *x, const float *y,
                    const float *dy, float *dx, int64_t r, int64_t c) {
    for (int64_t i = 0; i < r * c; i++) dx[i] = 2 * dy[i];
}
static const ln_activation_ops dbl_ops = {
    .size = sizeof(ln_activation_ops),
    .forward = dbl_fwd,
    .backward = dbl_bwd,
    .elementwise = 1,
};

static ln_status id_fwd(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                        ln_tensor *const *y, unsigned flags) {
    return ln_tensor_copy(ctx, y[0], x[0]);
}
static ln_status id_bwd(ln_ctx *ctx, ln_layer *l, const ln_tensor *const *x,
                        const ln_tensor *const *y, const ln_tensor *const *dy,
                        ln_tensor *const *dx, ln_grad_sink *sink,
                        unsigned flags) {
    return dx[0] ? ln_tensor_copy(ctx, dx[0], dy[0]) : LN_OK;
}
static const ln_layer_ops id_ops = {
    .size = sizeof(ln_layer_ops),
    .forward = id_fwd,
    .backward = id_bwd,
};

static const ln_unit units[] = {
    {
        .kind = LN_KIND_ACTIVATION,
        .name = "tp_double",
        .version = 1,
        .summary = "test: y = 2x",
        .ops = &dbl_ops,
    },
    {
        .kind = LN_KIND_LAYER,
        .name = "tp_identity",
        .class_name = "TpIdentity",
        .version = 3,
        .summary = "test: y = x",
        .ops = &id_ops,
    },
};

LN_PLUGIN("tp_good") {
    for (int i = 0; i < 2; i++) {
        ln_status st = host->add(host, &units[i]);
        if (st) return st;
    }
    return LN_OK;
}
