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
static const ln_activation_ops dbl_ops = {0, NULL, dbl_fwd, dbl_bwd, 1, 0};

static ln_status id_fwd(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                        ln_tensor *y, unsigned flags) {
    return ln_tensor_copy(ctx, y, x);
}
static ln_status id_bwd(ln_ctx *ctx, ln_layer *l, const ln_tensor *x,
                        const ln_tensor *y, const ln_tensor *dy, ln_tensor *dx,
                        unsigned flags) {
    return (flags & LN_NEED_DX) ? ln_tensor_copy(ctx, dx, dy) : LN_OK;
}
static const ln_layer_ops id_ops = {0, NULL, NULL, id_fwd, id_bwd, NULL, NULL};

static const ln_unit units[] = {
    {LN_KIND_ACTIVATION, "tp_double", NULL, 1, "test: y = 2x", &dbl_ops},
    {LN_KIND_LAYER, "tp_identity", "TpIdentity", 3, "test: y = x", &id_ops},
};

LN_PLUGIN("tp_good") {
    for (int i = 0; i < 2; i++) {
        ln_status st = host->add(host, &units[i]);
        if (st) return st;
    }
    return LN_OK;
}
