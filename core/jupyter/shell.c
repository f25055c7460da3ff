/*
** shell.c -- the shell channel's requests: kernel_info, execute, complete,
** inspect, is_complete, history, comm_info (and shutdown, which clients may
** still send here). Each is framed by status busy / idle on IOPub.
** Cells and the helpers run in lunet.jupyter (core/lua/lunet/jupyter.lua).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "kernel.h"

/* The code of a request with its length (JSON strings may hold NULs);
** NULL after answering a request that has none. */
static const char *code_of(kernel *k, const kmsg *m, size_t *n) {
    json_t *c = json_object_get(m->content, "code");
    if (json_is_string(c)) {
        *n = json_string_length(c);
        return json_string_value(c);
    }
    char why[160];
    snprintf(why, sizeof why, "%.100s without code", m->type);
    kreply_error(k, k->sock[K_SHELL], m, "BadRequest", why);
    return NULL;
}

/* Calls lunet.jupyter.<name>(code, extra...) with nargs extra values
** already pushed; leaves nres results, or answers m with the Lua error
** and returns -1. */
static int call(kernel *k, const kmsg *m, const char *name, int nargs, int nres) {
    lua_State *L = k->L;
    klua_method(k, name);
    lua_insert(L, -1 - nargs);
    if (lua_pcall(L, nargs, nres, 0) == LUA_OK) return 0;
    kreply_error(k, k->sock[K_SHELL], m, "LuaError", lua_tostring(L, -1));
    lua_pop(L, 1);
    return -1;
}

/* The byte offset of the request's cursor_pos (code points; default: end). */
static size_t cursor_of(const kmsg *m, const char *code, size_t n) {
    json_t *c = json_object_get(m->content, "cursor_pos");
    if (!json_is_integer(c) || json_integer_value(c) < 0) return n;
    return kutf8_offset(code, n, (size_t)json_integer_value(c));
}

static void reply(kernel *k, const kmsg *m, const char *type, json_t *content) {
    ksend(k, k->sock[K_SHELL], m, m->header, type, content);
}

/* ---- execute ------------------------------------------------------------------ */

/* user_expressions: {name: code} -> {name: result} after the cell. */
static json_t *user_expressions(kernel *k, const kmsg *m) {
    json_t *out = json_object(), *ue = json_object_get(m->content, "user_expressions");
    const char *name;
    json_t *expr;
    json_object_foreach(ue, name, expr) {
        if (!json_is_string(expr)) continue;
        lua_pushlstring(k->L, json_string_value(expr), json_string_length(expr));
        if (call(k, m, "user_expression", 1, 1) != 0) break;
        json_object_set_new(out, name, klua_to_json(k->L, -1));
        lua_pop(k->L, 1);
    }
    return out;
}

/* The requests that were queued when a cell failed (stop_on_error): read
** before the failed cell's reply goes out, answered after its idle. */
static kmsg *held;
static int nheld;

static void hold_queue(kernel *k) {
    kmsg m;
    while (kmsg_recv(k, k->sock[K_SHELL], &m, ZMQ_DONTWAIT) > 0) {
        kmsg *h = realloc(held, sizeof *h * (size_t)(nheld + 1));
        if (!h) {
            kmsg_free(&m);
            continue;
        }
        held = h;
        held[nheld++] = m;
    }
}

/* Queued cells are aborted (not run), other requests answered. */
static void release_held(kernel *k) {
    kmsg *list = held;
    int n = nheld;
    held = NULL, nheld = 0;
    for (int i = 0; i < n; i++) {
        kmsg *m = &list[i];
        if (!m->error[0] && !strcmp(m->type, "execute_request")) {
            kstatus(k, m->header, "busy");
            reply(k, m, "execute_reply",
                  json_pack("{s:s, s:i}", "status", "aborted", "execution_count",
                            k->execution_count));
            kstatus(k, m->header, "idle");
        } else {
            kshell_handle(k, m);
        }
        kmsg_free(m);
    }
    free(list);
}

static void execute(kernel *k, kmsg *m) {
    size_t n;
    const char *code = code_of(k, m, &n);
    if (!code) return;
    json_t *c = m->content;
    int silent = json_is_true(json_object_get(c, "silent"));
    json_t *sh = json_object_get(c, "store_history"), *as = json_object_get(c, "allow_stdin");
    json_t *soe = json_object_get(c, "stop_on_error");
    int store = !silent && (sh == NULL || json_is_true(sh));
    if (store) k->execution_count++;
    int count = k->execution_count;
    if (!silent)
        kpublish(k, m->header, "execute_input",
                 json_pack("{s:s%, s:i}", "code", code, n, "execution_count", count));

    kout_set_parent(k, m->header);
    k->current = m;
    k->allow_stdin = as == NULL || json_is_true(as);
    kinterrupt_reset(k);
    lua_State *L = k->L;
    klua_method(k, "execute");
    lua_pushlstring(L, code, n);
    lua_pushinteger(L, count);
    k->running = 1;
    int st = lua_pcall(L, 2, 1, 0);
    k->running = 0;
    kinterrupt_take(k);
    json_t *r = st == LUA_OK ? klua_to_json(L, -1)
                             : json_pack("{s:s, s:s, s:s, s:[]}", "status", "error", "ename",
                                         "LuaError", "evalue", lua_tostring(L, -1), "traceback");
    lua_pop(L, 1);
    kout_flush(k);
    k->current = NULL;

    const char *status = json_string_value(json_object_get(r, "status"));
    int ok = status && !strcmp(status, "ok");
    json_t *content;
    if (ok) {
        json_t *data = json_object_get(r, "data");
        if (!silent && json_is_object(data))
            kpublish(k, m->header, "execute_result",
                     json_pack("{s:i, s:O, s:{}}", "execution_count", count, "data", data,
                               "metadata"));
        content = json_pack("{s:s, s:i, s:[], s:o}", "status", "ok", "execution_count", count,
                            "payload", "user_expressions", user_expressions(k, m));
    } else {
        json_t *err = json_pack("{s:O, s:O, s:O}", "ename", json_object_get(r, "ename"),
                                "evalue", json_object_get(r, "evalue"), "traceback",
                                json_object_get(r, "traceback"));
        if (!err) err = json_pack("{s:s, s:s, s:[]}", "ename", "LuaError", "evalue",
                                  "(the error could not be read)", "traceback");
        kpublish(k, m->header, "error", json_deep_copy(err));
        content = err;
        json_object_set_new(content, "status", json_string("error"));
        json_object_set_new(content, "execution_count", json_integer(count));
    }
    json_decref(r);
    /* the cells queued behind a failed one are not run (stop_on_error) */
    if (!ok && !silent && (soe == NULL || json_is_true(soe))) hold_queue(k);
    reply(k, m, "execute_reply", content);
}

/* ---- introspection -------------------------------------------------------------- */

static void complete(kernel *k, kmsg *m) {
    size_t n;
    const char *code = code_of(k, m, &n);
    if (!code) return;
    size_t cur = cursor_of(m, code, n);
    lua_pushlstring(k->L, code, n);
    lua_pushinteger(k->L, (lua_Integer)cur);
    if (call(k, m, "complete", 2, 3) != 0) return;
    lua_Integer from = luaL_optinteger(k->L, -2, (lua_Integer)cur);
    lua_Integer to = luaL_optinteger(k->L, -1, (lua_Integer)cur);
    if (from < 0 || (size_t)from > n) from = (lua_Integer)cur;
    if (to < from || (size_t)to > n) to = (lua_Integer)cur;
    json_t *matches = lua_istable(k->L, -3) ? klua_to_json(k->L, -3) : json_array();
    if (!json_is_array(matches)) {
        json_decref(matches);
        matches = json_array();
    }
    lua_pop(k->L, 3);
    reply(k, m, "complete_reply",
          json_pack("{s:s, s:o, s:I, s:I, s:{}}", "status", "ok", "matches", matches,
                    "cursor_start", (json_int_t)kutf8_count(code, (size_t)from), "cursor_end",
                    (json_int_t)kutf8_count(code, (size_t)to), "metadata"));
}

static void inspect(kernel *k, kmsg *m) {
    size_t n;
    const char *code = code_of(k, m, &n);
    if (!code) return;
    json_t *dl = json_object_get(m->content, "detail_level");
    lua_pushlstring(k->L, code, n);
    lua_pushinteger(k->L, (lua_Integer)cursor_of(m, code, n));
    lua_pushinteger(k->L, json_is_integer(dl) ? (lua_Integer)json_integer_value(dl) : 0);
    if (call(k, m, "inspect", 3, 1) != 0) return;
    json_t *data = json_object();
    if (lua_type(k->L, -1) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(k->L, -1, &len);
        json_object_set_new(data, "text/plain", kjson_string(text, len));
    }
    lua_pop(k->L, 1);
    int found = json_object_size(data) > 0;
    reply(k, m, "inspect_reply",
          json_pack("{s:s, s:b, s:o, s:{}}", "status", "ok", "found", found, "data", data,
                    "metadata"));
}

static void is_complete(kernel *k, kmsg *m) {
    size_t n;
    const char *code = code_of(k, m, &n);
    if (!code) return;
    lua_pushlstring(k->L, code, n);
    if (call(k, m, "is_complete", 1, 2) != 0) return;
    const char *status = lua_tostring(k->L, -2), *indent = lua_tostring(k->L, -1);
    json_t *c = json_pack("{s:s}", "status", status ? status : "unknown");
    if (status && !strcmp(status, "incomplete"))
        json_object_set_new(c, "indent", json_string(indent ? indent : ""));
    lua_pop(k->L, 2);
    reply(k, m, "is_complete_reply", c);
}

/* ---- dispatch ------------------------------------------------------------------- */

void kshell_handle(kernel *k, kmsg *m) {
    void *sock = k->sock[K_SHELL];
    kstatus(k, m->header, "busy");
    const char *t = m->type;
    if (m->error[0]) kreply_error(k, sock, m, "BadRequest", m->error);
    else if (!strcmp(t, "execute_request")) execute(k, m);
    else if (!strcmp(t, "kernel_info_request")) reply(k, m, "kernel_info_reply", kkernel_info());
    else if (!strcmp(t, "complete_request")) complete(k, m);
    else if (!strcmp(t, "inspect_request")) inspect(k, m);
    else if (!strcmp(t, "is_complete_request")) is_complete(k, m);
    else if (!strcmp(t, "history_request"))
        reply(k, m, "history_reply", json_pack("{s:s, s:[]}", "status", "ok", "history"));
    else if (!strcmp(t, "comm_info_request"))
        reply(k, m, "comm_info_reply", json_pack("{s:s, s:{}}", "status", "ok", "comms"));
    else if (!strcmp(t, "shutdown_request")) {
        int restart = json_is_true(json_object_get(m->content, "restart"));
        reply(k, m, "shutdown_reply", json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
        k->shutdown = 1;
    } else
        kreply_unknown(k, sock, m);
    kstatus(k, m->header, "idle");
    if (nheld) release_held(k);
}
