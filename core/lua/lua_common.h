/*
** lua_common.h -- the helpers every part of the binding shares
** (lua_common.c, which depends on no other part of the binding).
**
** A tensor reaches Lua as a full userdata holding one ln_tensor* (a boxed
** pointer): the box owns one reference, released by __gc or __close.
** C errors become Lua errors only here, after temporaries are released.
*/
#ifndef LUNET_LUA_COMMON_H
#define LUNET_LUA_COMMON_H

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

#include "lunet/memory.h"
#include "lunet/engine/net.h"
#include "lua_api.h"

#define LN_TENSOR_MT "lunet.Tensor"

/* The binding's error slot (one per process: Lua states share the core). */
ln_ctx *lnL_ctx(void);
/* Raise ctx's message as a Lua error. Never returns. */
int lnL_raise(lua_State *L);
/* Raise if st != LN_OK. */
void lnL_check(lua_State *L, ln_status st);

/* Push a new Tensor metatable, registered under LN_TENSOR_MT and under a key
** of its own, which the functions below compare by pointer (a lookup by
** name interns the name: a strcmp on every call). */
void lnL_new_tensor_mt(lua_State *L);
/* Push t, taking over the caller's reference (t == NULL raises ctx). */
void lnL_push_tensor(lua_State *L, ln_tensor *t);
/* Collect when tensor storages have grown past the trigger, or run a young
** collection every young headroom of new storage (lua_memory.c), not
** counting `fresh` bytes just made for the result about to be pushed.
** lnL_push_tensor calls it, and so do lnL_check_tensor/lnL_test_tensor
** when they find a tensor argument: at an operation's start, before its
** result is made, so the result can take the block of one just dead. */
void lnL_gc_check(lua_State *L, int64_t fresh);
/* Push t, adding a reference (the caller keeps its own). */
void lnL_push_tensor_ref(lua_State *L, ln_tensor *t);
/* The tensor at idx (borrowed); raises naming `fn` if idx is not one. */
ln_tensor *lnL_check_tensor(lua_State *L, int idx);
ln_tensor *lnL_test_tensor(lua_State *L, int idx); /* NULL if not */
/* Whether idx is an open tensor; no collection (a type test, not a use). */
int lnL_is_tensor(lua_State *L, int idx);
/* The float32 tensor at idx; raises naming fn and the dtype otherwise. */
ln_tensor *lnL_check_float(lua_State *L, int idx, const char *fn);

/* A Lua table of keyword arguments -> ln_args (owned by the caller).
** Positional entries [1], [2] become "#1", "#2". Numbers, booleans, strings,
** lists of numbers and nested tables (unit references like {name = ..})
** convert; tables with a `get_config` field (Lua objects) are asked for it.
** Raises on other values, naming fn and the key. */
ln_args *lnL_to_args(lua_State *L, int idx, const char *fn);
/* ln_args -> a new Lua table on the stack (configs), the one converter:
** `how` is LNL_ARGS_* (lua_api.h). Integral numbers become integers. */
void lnL_push_args(lua_State *L, const ln_args *a, unsigned how);

/* ---- integers at the Lua -> C boundary -------------------------------------
** Every integer a binding function takes (a size, an index, a count, a
** thread number) is read through these: a Lua integer, or a float with an
** exact integer value, within [lo, hi]; anything else raises
** "fn: name must be an integer in [lo, hi], got v". Never truncated. */
int64_t lnL_check_int(lua_State *L, int idx, const char *fn, const char *name,
                      int64_t lo, int64_t hi);
/* The same for an optional argument (def when none or nil). */
int64_t lnL_opt_int(lua_State *L, int idx, const char *fn, const char *name,
                    int64_t lo, int64_t hi, int64_t def);
/* The length (#, honouring __len) of the value at idx, in [0, max]. */
int lnL_len(lua_State *L, int idx, const char *fn, const char *name, int max);

/* The file path at idx: a non-empty string without NUL bytes (a Lua string
** may hold them; C would silently cut the name there). Raises naming fn. */
const char *lnL_check_path(lua_State *L, int idx, const char *fn);

/* Shape from a Lua list or varargs of integers, starting at idx. */
int lnL_check_shape(lua_State *L, int idx, int64_t *shape, const char *fn);

/* Register a luaL_Reg list into the table at the top of the stack. */
void lnL_register(lua_State *L, const luaL_Reg *fns);

#endif
