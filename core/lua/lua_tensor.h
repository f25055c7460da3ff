/*
** lua_tensor.h -- private to the lua_tensor*.c files: argument helpers
** shared by the Tensor binding and the openers of its parts.
**
** Temporaries: every tensor a binding function creates is pushed on the
** Lua stack at once (lnT_push), so an error raised later frees it through
** __gc; nothing is leaked when a Lua error unwinds.
*/
#ifndef LUNET_LUA_TENSOR_H
#define LUNET_LUA_TENSOR_H

#include "lua_common.h"
#include "lunet/tensor_ops.h"

/* Push t (taking its reference; NULL raises ctx's message) and return it. */
ln_tensor *lnT_push(lua_State *L, ln_tensor *t);
/* A dtype name at idx ("float32"/"float", "int32"/"int", "uint8"/"byte"),
** or def when idx is none/nil. Raises naming fn. */
ln_dtype lnT_opt_dtype(lua_State *L, int idx, ln_dtype def, const char *fn);
/* A 1-based (negative: from the end) dim argument at idx -> 0-based,
** checked against t's ndim. Raises naming fn and the shape. */
int lnT_check_dim(lua_State *L, int idx, const ln_tensor *t, const char *fn);
/* The same with a default (0-based) when the argument is absent. */
int lnT_opt_dim(lua_State *L, int idx, const ln_tensor *t, int def,
                const char *fn);
/* A 1-based (negative: from the end) position along a dim of size n ->
** 0-based. Raises naming fn, the dim and the size. */
int64_t lnT_check_pos(lua_State *L, lua_Integer pos, int64_t n, int dim,
                      const char *fn);
/* t converted to dtype: t itself when it already is (no reference added),
** else a new tensor pushed on the stack. */
ln_tensor *lnT_as(lua_State *L, ln_tensor *t, ln_dtype dtype);
/* A shape from integers or one table starting at idx (sizes >= 0; -1
** allowed when allow_infer). Stops at the first non-number after idx.
** Returns ndim; *next (optional) gets the index after the shape. */
int lnT_shape_args(lua_State *L, int idx, int64_t *shape, int allow_infer,
                   const char *fn, int *next);
/* Shape as "(2, 3)" for messages. */
const char *lnT_shape(const ln_tensor *t, char *buf, size_t n);
/* A view of t with another shape (no copy), pushed. */
ln_tensor *lnT_push_reshape(lua_State *L, ln_tensor *t, int nd,
                            const int64_t *shape);
/* Push element i of t as a Lua number (integers for int dtypes). */
void lnT_push_elem(lua_State *L, const ln_tensor *t, int64_t i);

/* Openers of the parts (called by lua_core.c): add methods to the table at
** `methods`, metamethods to the metatable at `meta`, functions to the
** module table at `mod`. */
void lnT_open_base(lua_State *L, int methods, int meta, int mod);
void lnT_open_index(lua_State *L, int methods, int meta, int mod);
void lnT_open_math(lua_State *L, int methods, int meta, int mod);
void lnT_open_reduce(lua_State *L, int methods, int meta, int mod);
void lnT_open_fmt(lua_State *L, int methods, int meta, int mod);
void lnT_open_inplace(lua_State *L, int methods, int meta, int mod);
void lnT_open_nn(lua_State *L, int methods, int meta, int mod);
/* Installs __index (method names, then lnT_index) and __newindex. */
void lnT_open_elem(lua_State *L, int methods, int meta, int mod);
void lnT_open_inplace(lua_State *L, int methods, int meta, int mod);
void lnT_open_nn(lua_State *L, int methods, int meta, int mod);
/* Installs __index (method names, then lnT_index) and __newindex. */
void lnT_open_elem(lua_State *L, int methods, int meta, int mod);

/* Register fns into the table at index t (the openers' methods and
** module functions). */
void lnT_register_into(lua_State *L, int t, const luaL_Reg *fns);
/* A Torch7 slice key (a number or a table at idx) as a region of t
** (lua_tensor_index.c); raises naming fn. */
void lnT_parse_region(lua_State *L, int idx, const ln_tensor *t, ln_region *r,
                      const char *fn);
/* __index / __newindex handlers for non-string keys (lua_tensor_index.c). */
int lnT_index(lua_State *L);
int lnT_newindex(lua_State *L);

#endif
