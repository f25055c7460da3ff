#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

ln_tensor *lt_uniform(int nd, const int64_t *shape, float lo, float hi,
                      uint64_t seed) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_tensor *t = ln_tensor_new(&ctx, LN_FLOAT32, nd, shape);
    ck_assert_msg(t != NULL, "%s", ctx.msg);
    ln_rng r = {seed, 0};
    ln_rng_uniform(&r, ln_f32(t), t->numel, lo, hi);
    return t;
}

double lt_max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

const char *lt_test_plugin(const char *file) {
    static char buf[4096];
    const char *dir = getenv("LUNET_TEST_PLUGIN_DIR");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "test_plugins", file);
    return buf;
}

/* ---- keyword arguments from a spec string -------------------------------- */

typedef struct spec_parser {
    const char *p;
    const char *spec;
} spec_parser;

static void sp_skip(spec_parser *s) {
    while (*s->p == ' ' || *s->p == ',' || *s->p == '\t' || *s->p == '\n') s->p++;
}

/* A bare token: up to a separator or a closing bracket. */
static size_t sp_token(spec_parser *s, char *buf, size_t n) {
    size_t k = 0;
    if (*s->p == '"') {
        s->p++;
        while (*s->p && *s->p != '"' && k + 1 < n) buf[k++] = *s->p++;
        ck_assert_msg(*s->p == '"', "lt_args: unterminated string in '%s'", s->spec);
        s->p++;
    } else {
        while (*s->p && !strchr(" ,\t\n=]}[{", *s->p) && k + 1 < n)
            buf[k++] = *s->p++;
    }
    buf[k] = '\0';
    return k;
}

static int sp_number(const char *tok, double *v) {
    char *end;
    if (!*tok) return 0;
    *v = strtod(tok, &end);
    return *end == '\0';
}

static void sp_table(spec_parser *s, ln_args *a, char close) {
    for (;;) {
        sp_skip(s);
        if (*s->p == close) {
            s->p++;
            return;
        }
        ck_assert_msg(*s->p, "lt_args: unexpected end of '%s'", s->spec);
        char key[128], tok[256];
        ck_assert_msg(sp_token(s, key, sizeof key) && *s->p == '=',
                      "lt_args: expected key= in '%s' at '%s'", s->spec, s->p);
        s->p++;
        ln_status st;
        if (*s->p == '{') {
            s->p++;
            ln_args *sub = ln_args_new();
            sp_table(s, sub, '}');
            st = ln_args_set_table(a, key, sub);
        } else if (*s->p == '[') {
            double v[64];
            int n = 0;
            s->p++;
            for (;;) {
                sp_skip(s);
                if (*s->p == ']') {
                    s->p++;
                    break;
                }
                sp_token(s, tok, sizeof tok);
                ck_assert_msg(n < 64 && sp_number(tok, &v[n]),
                              "lt_args: bad list in '%s'", s->spec);
                n++;
            }
            st = ln_args_set_numbers(a, key, n, v);
        } else {
            int quoted = *s->p == '"';
            double v;
            sp_token(s, tok, sizeof tok);
            if (quoted) st = ln_args_set_string(a, key, tok);
            else if (!strcmp(tok, "true")) st = ln_args_set_bool(a, key, 1);
            else if (!strcmp(tok, "false")) st = ln_args_set_bool(a, key, 0);
            else if (!strcmp(tok, "nil")) st = ln_args_set_null(a, key);
            else if (sp_number(tok, &v)) st = ln_args_set_number(a, key, v);
            else st = ln_args_set_string(a, key, tok);
        }
        ck_assert_int_eq(st, LN_OK);
    }
}

ln_args *lt_args(const char *spec) {
    ln_args *a = ln_args_new();
    ck_assert_ptr_nonnull(a);
    if (!spec) return a;
    spec_parser s = {spec, spec};
    sp_table(&s, a, '\0');
    return a;
}

ln_layer *lt_layer(const char *unit, const char *spec) {
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = ln_layer_new(&ctx, unit, lt_args(spec));
    ck_assert_msg(l != NULL, "%s{%s}: %s", unit, spec ? spec : "", ctx.msg);
    return l;
}

const char *lt_layer_error(const char *unit, const char *spec) {
    static ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = ln_layer_new(&ctx, unit, lt_args(spec));
    ck_assert_msg(l == NULL, "%s{%s} was accepted", unit, spec ? spec : "");
    ck_assert_msg(ctx.status != LN_OK && ctx.msg[0], "%s{%s}: no message",
                  unit, spec ? spec : "");
    return ctx.msg;
}

lt_weight lt_weight_at(const ln_layer *l, int k) {
    lt_weight w = {ln_layer_weight_name(l, k), ln_layer_weight(l, k),
                   ln_layer_grad(l, k), ln_layer_weight_trainable(l, k), k};
    return w;
}

lt_weight lt_weight_named(const ln_layer *l, const char *name) {
    for (int k = 0; k < ln_layer_weight_count(l); k++)
        if (!strcmp(ln_layer_weight_name(l, k), name)) return lt_weight_at(l, k);
    return (lt_weight){NULL, NULL, NULL, 0, -1};
}

ln_status lt_build(ln_ctx *ctx, ln_layer *l, int nd, const int64_t *dims) {
    ln_shape s = {nd, {0}};
    for (int i = 0; i < nd && i < LN_MAX_DIM; i++) s.dim[i] = dims[i];
    return ln_layer_build(ctx, l, 1, &s);
}

void lt_fill_weights(ln_layer *l, float lo, float hi, uint64_t seed) {
    for (int k = 0; k < ln_layer_weight_count(l); k++) {
        ln_rng r = {seed + (uint64_t)k, 0};
        ln_rng_uniform(&r, ln_f32(ln_layer_weight(l, k)),
                       ln_layer_weight(l, k)->numel, lo, hi);
    }
}

void lt_away_from(ln_tensor *x, float at, float margin) {
    float *p = ln_f32(x);
    for (int64_t i = 0; i < x->numel; i++) {
        float d = p[i] - at;
        if (d >= 0 && d < margin) p[i] = at + margin;
        else if (d < 0 && d > -margin) p[i] = at - margin;
    }
}

float *lt_layer_run(const char *unit, const char *spec, int nd,
                    const int64_t *shape, unsigned flags, int threads,
                    void (*fill)(ln_layer *l), int64_t *len) {
    ln_set_num_threads(threads);
    ln_ctx ctx;
    ln_ctx_clear(&ctx);
    ln_layer *l = lt_layer(unit, spec);
    ln_rng own;
    ln_rng_seed(&own, 3);
    ln_layer_set_rng(l, &own);
    ln_tensor *x = lt_uniform(nd, shape, -2, 2, 11);
    ck_assert_msg(lt_build(&ctx, l, nd - 1, shape + 1) == LN_OK, "%s", ctx.msg);
    if (fill) fill(l);
    else lt_fill_weights(l, -0.5f, 0.5f, 12);
    ln_tensor *y = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ln_tensor *dx = ln_tensor_new(&ctx, LN_FLOAT32, 1, (int64_t[]){0});
    ck_assert_msg(ln_layer_forward1(&ctx, l, x, y, flags) == LN_OK, "%s", ctx.msg);
    ln_tensor *dy = lt_uniform(y->ndim, y->shape, -1, 1, 13);
    ck_assert_msg(ln_layer_backward1(&ctx, l, x, y, dy, dx, flags | LN_NEED_DW) == LN_OK,
                  "%s", ctx.msg);
    int64_t n = y->numel + dx->numel;
    for (int k = 0; k < ln_layer_weight_count(l); k++)
        n += ln_layer_weight(l, k)->numel * (ln_layer_grad(l, k) ? 2 : 1);
    float *out = malloc((size_t)n * sizeof *out), *p = out;
    ck_assert_ptr_nonnull(out);
    memcpy(p, ln_f32(y), (size_t)y->numel * sizeof *p), p += y->numel;
    memcpy(p, ln_f32(dx), (size_t)dx->numel * sizeof *p), p += dx->numel;
    for (int k = 0; k < ln_layer_weight_count(l); k++) {
        lt_weight w = lt_weight_at(l, k);
        memcpy(p, ln_f32(w.value), (size_t)w.value->numel * sizeof *p);
        p += w.value->numel;
        if (w.grad) {
            memcpy(p, ln_f32(w.grad), (size_t)w.grad->numel * sizeof *p);
            p += w.grad->numel;
        }
    }
    *len = n;
    ln_layer_free(l);
    ln_tensor_release(x);
    ln_tensor_release(y);
    ln_tensor_release(dy);
    ln_tensor_release(dx);
    return out;
}
