/*
** test_trainable_swish.c -- the example layer's gradients checked with the
** installed gradient checker (lunet/gradcheck.h): dx and dbeta against
** central differences of the layer's own float32 forward, in inference
** and training mode (no regularizer: its gradient is not in the forward).
**
**   test_trainable_swish path/to/trainable_swish.so     (exit 0: passed)
*/
#include <stdio.h>

#include "lunet/gradcheck.h"

static int check(const char *what, ln_args *args, unsigned flags) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = ln_layer_new(&ctx, "trainable_swish", args);
    if (!l) {
        fprintf(stderr, "%s: %s\n", what, ctx.msg);
        return 0;
    }
    int64_t shape[2] = {7, 5};
    ln_tensor *x = ln_tensor_new(&ctx, LN_FLOAT32, 2, shape);
    ln_rng r = {42, 0};
    ln_rng_uniform(&r, ln_f32(x), x->numel, -3.0f, 3.0f);
    lu_gc_opts o = lu_gc_float_defaults();
    lu_gc_report rep;
    int ok = lu_layer_gradcheck(&ctx, l, x, flags, 7, &o, &rep);
    printf("%-28s %s: %lld values, worst %.3g of the tolerance%s%s\n", what,
           ok ? "ok" : "FAILED", (long long)rep.checked, rep.worst,
           ok ? "" : ": ", ok ? "" : rep.msg);
    ln_tensor_release(x);
    ln_layer_free(l);
    return ok;
}

int main(int argc, char **argv) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    if (argc != 2 || ln_registry_load(&ctx, argv[1], 0)) {
        fprintf(stderr, "usage: test_trainable_swish plugin.so (%s)\n", ctx.msg);
        return 2;
    }
    ln_args *init = ln_args_new();
    ln_args_set_string(init, "name", "random_uniform");
    ln_args_set_number(init, "minval", 0.5);
    ln_args_set_number(init, "maxval", 2.0);
    ln_args *a = ln_args_new();
    ln_args_set_table(a, "beta_initializer", init);
    int ok = check("inference, beta = 1", NULL, 0);
    ok &= check("training, random beta", a, LN_TRAINING);
    return ok ? 0 : 1;
}
