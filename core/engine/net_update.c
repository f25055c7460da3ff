/*
** net_update.c -- the optimizer a net's training step applies: its
** (gradient, variable) pairs, and the gradient sink through which layers
** hand over finished blocks of weight gradients during backward.
**
** When the early update is armed, a layer's backward gets a sink bound to
** that layer; sink->ready(w, lo, hi) runs the optimizer's update over
** elements [lo, hi) of the pair holding weight w, at once, while they are
** hot in cache (the optimizer's step applied in pieces: optimizer_impl.h).
** The variables nobody handed over are updated after backward, whole.
** The numbers are those of one ln_optimizer_apply after backward: update
** rules are elementwise unless they say otherwise (LN_OPT_WHOLE_VARIABLE),
** and then the update is never armed.
*/
#include <stdlib.h>

#include "net_impl.h"
#include "optimizer_impl.h"

void ln__update_free(ln_update *u) {
    free(u->vars);
    free(u->grads);
    free(u->names);
    free((void *)u->covered);
}

ln_status ln_net_set_optimizer(ln_ctx *ctx, ln_net *net, ln_optimizer *opt,
                               int n, ln_tensor *const *vars,
                               ln_tensor *const *grads,
                               const char *const *names) {
    ln_update *u = &net->update;
    if (n < 0) return ln_fail(ctx, LN_E_ARG, "net: negative pair count");
    if (!opt || n == 0) {
        u->opt = NULL;
        u->n = 0;
        return LN_OK;
    }
    if (n > u->cap) {
        ln_tensor **v = realloc(u->vars, (size_t)n * sizeof *v);
        if (v) u->vars = v;
        ln_tensor **g = v ? realloc(u->grads, (size_t)n * sizeof *g) : NULL;
        if (g) u->grads = g;
        const char **nm = g ? realloc(u->names, (size_t)n * sizeof *nm) : NULL;
        if (nm) u->names = nm;
        _Atomic int64_t *cv = nm ? malloc((size_t)n * sizeof *cv) : NULL;
        if (cv) {
            free((void *)u->covered);
            u->covered = cv;
        }
        if (!cv) return ln_fail(ctx, LN_E_NOMEM, "net: out of memory");
        u->cap = n;
    }
    for (int i = 0; i < n; i++) {
        u->vars[i] = vars[i];
        u->grads[i] = grads[i];
        u->names[i] = names ? names[i] : NULL;
    }
    /* Slots created now, in this order (Keras's), never inside a step. */
    ln_status st = ln_optimizer_build(ctx, opt, n, u->vars, u->names);
    if (st) {
        u->opt = NULL;
        u->n = 0;
        return st;
    }
    u->opt = opt;
    u->n = n;
    return LN_OK;
}

/* Whether some layer appears twice in the chain (its later backward would
** see weights already updated by the earlier one's early update). */
static int layer_repeated(const ln_chain *c) {
    for (int i = 0; i < c->n; i++)
        for (int j = i + 1; j < c->n; j++)
            if (c->layers[i] == c->layers[j]) return 1;
    return 0;
}

ln_status ln__update_begin(ln_ctx *ctx, ln_update *u, const ln_chain *c,
                           int can_early) {
    u->armed = 0;
    if (!can_early || !u->opt || u->n == 0 || !ln__opt_pieces_ok(u->opt) ||
        layer_repeated(c))
        return LN_OK;
    ln_status st = ln__opt_step_begin(ctx, u->opt, u->n, u->vars,
                                      (const ln_tensor *const *)u->grads, u->names);
    if (st) return st;
    for (int i = 0; i < u->n; i++)
        atomic_store_explicit(&u->covered[i], 0, memory_order_relaxed);
    u->armed = 1;
    return LN_OK;
}

static int sink_ready(ln_grad_sink *sink, int w, int64_t lo, int64_t hi) {
    ln__layer_sink *s = (ln__layer_sink *)sink;
    ln_update *u = s->u;
    const ln_tensor *grad = ln_layer_grad(s->l, w), *var = ln_layer_weight(s->l, w);
    if (!grad || lo < 0 || hi > var->numel || lo >= hi) return 0;
    /* A regularized weight's blocks come with the penalty's gradient added
    ** (layer_reg.c's sink sits in front of this one). */
    for (int i = 0; i < u->n; i++) {
        if (u->grads[i] != grad || u->vars[i] != var) continue;
        if (u->reduce) /* the reducer's first, then the update (net_stage.c) */
            ln__stage_ready(u->reduce, i, lo, hi);
        else
            ln__opt_step_range(u->opt, i, ln_f32(grad), lo, hi);
        atomic_fetch_add_explicit(&u->covered[i], hi - lo, memory_order_relaxed);
        return 1;
    }
    return 0;
}

ln_grad_sink *ln__update_sink(ln_update *u, const ln_layer *l,
                              ln__layer_sink *sink) {
    if (!u->armed) return NULL;
    sink->base.ready = sink_ready;
    sink->u = u;
    sink->l = l;
    return &sink->base;
}

ln_status ln__update_finish(ln_ctx *ctx, ln_update *u) {
    if (!u->armed)
        return ln_optimizer_apply(ctx, u->opt, u->n, u->vars,
                                  (const ln_tensor *const *)u->grads, u->names);
    u->armed = 0;
    for (int i = 0; i < u->n; i++) {
        int64_t c = atomic_load_explicit(&u->covered[i], memory_order_acquire);
        if (c == 0) {
            ln__opt_step_var(u->opt, i, ln_f32(u->grads[i]));
        } else if (c != u->vars[i]->numel) {
            char s[128];
            return ln_fail(ctx, LN_E_INTERNAL, "net: a layer reported %lld of "
                           "the %lld gradient elements of %s %s as final",
                           (long long)c, (long long)u->vars[i]->numel,
                           u->names[i] ? u->names[i] : "a variable",
                           ln_shape_str(u->vars[i], s, sizeof s));
        }
    }
    ln__opt_step_end(u->opt);
    return LN_OK;
}
