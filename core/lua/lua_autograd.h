/*
** lua_autograd.h -- private to lua_autograd*.c: how binding functions are
** put on the tape.
**
** Every differentiable binding function (tensor methods and operators,
** ln.cat/stack/where/matmul, activation and loss objects) is replaced by a
** wrapper that calls the original directly while no tape records. While
** one does and an argument is tracked, the wrapper calls the original in
** a frame of its own (so every argument stays alive), then hands
** arguments 1..n and results n+1..n+nres to the function's recorder,
** which records the node (ln_tape_record) and may replace results: a
** reduction of a recorded tensor to a number becomes a 0-d tensor, so it
** can be differentiated.
*/
#ifndef LUNET_LUA_AUTOGRAD_H
#define LUNET_LUA_AUTOGRAD_H

#include "lua_tensor.h"
#include "lunet/tape.h"

typedef struct ag_wrap ag_wrap;
/* Recorders see arguments 1..n, then AG_PAD nils (so an optional argument
** past n reads as absent), then the results from AG_RES(n) on. They may
** push temporaries above the results (dropped after). */
#define AG_PAD 8
#define AG_RES(n) ((n) + AG_PAD + 1)
/* Record the call; returns the number of results (after replacements). */
typedef int (*ag_rec)(lua_State *L, const ag_wrap *w, int n, int nres);

enum {
    AG_FUNC,       /* recorded when an argument is tracked */
    AG_INPLACE,    /* writes argument 1: refused on a tracked tensor while
                      recording; its storage version is bumped */
    AG_NOTE_LAYER, /* a layer's own forward/backward (argument 1) */
    AG_NOTE_NET,   /* a net running its layers */
    AG_OPT_APPLY   /* an optimizer writing its pairs' variables */
};

struct ag_wrap {
    const char *name; /* for messages and non-differentiable nodes */
    int kind;
    ag_rec rec;       /* AG_FUNC */
    int op;           /* ln_tape_opcode for the recorder, or -1 */
    lua_CFunction fn; /* the original, filled when installed */
};

/* ---- recorders (lua_autograd_rec.c) ------------------------------------------- */

int ag_rec_binary(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_unary(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_nondiff(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_clamp(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_reduce(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_norm(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_softmax(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_view(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_narrow(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_transpose(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_permute(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_take(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_masked_select(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_cat_method(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_cat(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_clone(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_where(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_matmul(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_index(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_activation(lua_State *L, const ag_wrap *w, int n, int nres);
int ag_rec_per_sample(lua_State *L, const ag_wrap *w, int n, int nres);

/* Whether the matmul call at 1..n writes into a tensor (its out forms). */
int ag_matmul_writes(lua_State *L, int n);

/* Wrap the functions of the module table at mod, the Tensor metatable and
** the layer, object, net and optimizer methods (lua_autograd_wrap.c). */
void ag_install_wrappers(lua_State *L, int mod);
/* core.autograd.team_run (lua_autograd_team.c) into the table at mod. */
void ag_open_team(lua_State *L, int mod);

/* ---- shared (lua_autograd.c) ----------------------------------------------------- */

/* Keep the Lua value at idx alive as long as every recording tape. */
void ag_anchor(lua_State *L, int idx);
/* Record one node (one output) and raise on failure. */
void ag_record(lua_State *L, ln_tape_opcode op, int nin, ln_tensor *const *x,
               ln_tensor *y, const ln_tape_params *p);

#endif
