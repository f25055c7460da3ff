/*
** lua.c -- the kernel's Lua state: lunet preloaded as `ln` (embed.c, as
** the `lunet` interpreter does), the kernel's Lua half (lunet.jupyter)
** and the front end that lunet.display calls: publish (display_data),
** interrupted, busy (interrupt guards), input (io.read over the stdin
** channel) and run_seconds.
*/
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>
#include <openssl/evp.h>

#include "embed.h"
#include "kernel.h"

#define BUSY_MT "lunet.kernel.busy"

static kernel *self(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* ---- Lua values -> JSON --------------------------------------------------------- */

static json_t *to_json(lua_State *L, int idx, int depth) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return json_null();
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        return isfinite(lua_tonumber(L, idx)) ? json_real(lua_tonumber(L, idx)) : json_null();
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return kjson_string(s, n);
    }
    case LUA_TTABLE: break;
    default: {
        size_t n;
        const char *s = luaL_tolstring(L, idx, &n);
        json_t *j = kjson_string(s, n);
        lua_pop(L, 1);
        return j;
    }
    }
    if (depth > 32) return json_string("<nested too deep>");
    luaL_checkstack(L, 4, "to_json");
    lua_Unsigned len = lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) count++, lua_pop(L, 1);
    json_t *out;
    if (len > 0 && count == len) {
        out = json_array();
        for (lua_Unsigned i = 1; i <= len; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            json_array_append_new(out, to_json(L, -1, depth + 1));
            lua_pop(L, 1);
        }
        return out;
    }
    out = json_object();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        const char *key = luaL_tolstring(L, -1, NULL); /* a copy: lua_next needs the key */
        json_t *v = to_json(L, -3, depth + 1);
        if (v) json_object_set_new(out, key, v);
        lua_pop(L, 3);
    }
    return out;
}

json_t *klua_to_json(lua_State *L, int idx) { return to_json(L, idx, 0); }

/* ---- the front end (see lunet/display.lua) -------------------------------------- */

static json_t *base64(const char *s, size_t n) {
    size_t cap = 4 * ((n + 2) / 3) + 1;
    unsigned char *b = malloc(cap);
    if (!b) return NULL;
    int len = EVP_EncodeBlock(b, (const unsigned char *)s, (int)n);
    json_t *j = json_stringn((const char *)b, (size_t)len);
    free(b);
    return j;
}

/* Binary MIME types travel base64-encoded (Jupyter's rule for images). */
static int is_binary(const char *mime) {
    return !strncmp(mime, "image/", 6) && strcmp(mime, "image/svg+xml");
}

/* publish(bundle, metadata): display_data on IOPub. */
static int fe_publish(lua_State *L) {
    kernel *k = self(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    json_t *data = json_object();
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *mime = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (mime) {
            size_t n;
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
            json_t *v = s && is_binary(mime) ? base64(s, n) : klua_to_json(L, -1);
            if (v) json_object_set_new(data, mime, v);
        }
        lua_pop(L, 1);
    }
    json_t *meta = lua_istable(L, 2) ? klua_to_json(L, 2) : json_object();
    if (!json_is_object(meta)) {
        json_decref(meta);
        meta = json_object();
    }
    kout_flush(k); /* what the cell printed before comes first */
    kpublish(k, k->current ? k->current->header : NULL, "display_data",
             json_pack("{s:o, s:o, s:{}}", "data", data, "metadata", meta, "transient"));
    return 0;
}

static int fe_interrupted(lua_State *L) {
    lua_pushboolean(L, kinterrupt_take(self(L)));
    return 1;
}

typedef struct guard {
    kernel *k;
    unsigned gen; /* the cell it belongs to */
    int open;
} guard;

static int guard_close(lua_State *L) {
    guard *g = luaL_checkudata(L, 1, BUSY_MT);
    if (g->open && g->gen == g->k->busy_gen && g->k->busy > 0) g->k->busy--;
    g->open = 0;
    return 0;
}

/* busy() -> a to-be-closed guard (see control.c). */
static int fe_busy(lua_State *L) {
    kernel *k = self(L);
    guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->k = k, g->gen = k->busy_gen, g->open = 1;
    k->busy++;
    luaL_setmetatable(L, BUSY_MT);
    return 1;
}

/* input(prompt, password) -> the line the user typed (stdin channel). */
static int fe_input(lua_State *L) {
    kernel *k = self(L);
    const char *prompt = luaL_optstring(L, 1, "");
    int password = lua_toboolean(L, 2);
    if (!k->current || !k->allow_stdin)
        return luaL_error(L, "io.read: this front end does not take input "
                             "(the request has allow_stdin = false)");
    kout_flush(k);
    void *sock = k->sock[K_STDIN];
    ksend(k, sock, k->current, k->current->header, "input_request",
          json_pack("{s:s, s:b}", "prompt", prompt, "password", password));
    for (;;) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, 200);
        if (kinterrupt_take(k)) return luaL_error(L, "KeyboardInterrupt: interrupted by the user");
        if (k->shutdown) return luaL_error(L, "io.read: the kernel is shutting down");
        if (rc <= 0) {
            if (rc < 0 && errno != EINTR) return luaL_error(L, "io.read: %s", zmq_strerror(errno));
            continue;
        }
        kmsg m;
        if (kmsg_recv(k, sock, &m, ZMQ_DONTWAIT) <= 0) continue;
        const char *value = m.error[0] || strcmp(m.type, "input_reply") ? NULL
                                                                         : kmsg_str(&m, "value");
        if (value) lua_pushstring(L, value);
        else klog(k, "ignored a '%s' message on the stdin channel", m.type);
        kmsg_free(&m);
        if (value) return 1;
    }
}

/* ---- the state ------------------------------------------------------------------ */

static void push_frontend(lua_State *L, kernel *k) {
    static const luaL_Reg fns[] = {{"publish", fe_publish},
                                   {"interrupted", fe_interrupted},
                                   {"busy", fe_busy},
                                   {"input", fe_input},
                                   {NULL, NULL}};
    luaL_newmetatable(L, BUSY_MT);
    lua_pushcfunction(L, guard_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, guard_close);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, k);
    luaL_setfuncs(L, fns, 1);
    lua_pushnumber(L, K_RUN_SECONDS);
    lua_setfield(L, -2, "run_seconds");
}

int klua_open(kernel *k) {
    lua_State *L = k->L = luaL_newstate();
    if (!L) {
        klog(k, "cannot create a Lua state");
        return -1;
    }
    luaL_openlibs(L);
    int st = lnE_open(L);
    if (st == LUA_OK) {
        lua_getglobal(L, "require");
        lua_pushstring(L, "lunet.jupyter");
        st = lnE_docall(L, 1, 1);
    }
    if (st == LUA_OK) {
        lua_getfield(L, -1, "start");
        push_frontend(L, k);
        st = lnE_docall(L, 1, 0);
    }
    if (st != LUA_OK) {
        klog(k, "cannot load lunet: %s", lua_tostring(L, -1));
        return -1;
    }
    k->ref_jupyter = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

void klua_close(kernel *k) {
    if (k->L) lua_close(k->L);
    k->L = NULL;
}

void klua_method(kernel *k, const char *name) {
    lua_rawgeti(k->L, LUA_REGISTRYINDEX, k->ref_jupyter);
    lua_getfield(k->L, -1, name);
    lua_remove(k->L, -2);
}
