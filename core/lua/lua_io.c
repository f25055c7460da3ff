/*
** lua_io.c -- file formats from Lua: IDX, NPY, CSV (HDF5 datasets are the
** h5 module's, core/h5/lua_files.c).
**
** Registered in lunet.core as io_read_idx, io_load_npy, io_save_npy,
** io_write_file (every file lunet's Lua side writes), io_check_write and
** io_read_csv; core/lua/lunet/io.lua gives them their user names
** (ln.io.read_idx, ...).
*/
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lua_common.h"
#include "lua_parts.h"
#include "lua_tensor.h"
#include "lunet/atomic_write.h"
#include "lunet/io.h"
#include "lunet/safe_open.h"

/* io_read_idx(path [, dtype]) -> tensor (dtype nil: the file's own) */
static int l_read_idx(lua_State *L) {
    const char *path = lnL_check_path(L, 1, "read_idx");
    int as = lua_isnoneornil(L, 2) ? LN_IDX_NATIVE
                                   : (int)lnT_opt_dtype(L, 2, LN_FLOAT32, "read_idx");
    ln_tensor *t;
    lnL_check(L, ln_read_idx_as(lnL_ctx(), path, as, &t));
    lnL_push_tensor(L, t);
    return 1;
}

/* io_load_npy(path) -> tensor */
static int l_load_npy(lua_State *L) {
    ln_tensor *t;
    lnL_check(L, ln_load_npy(lnL_ctx(), lnL_check_path(L, 1, "load_npy"), &t));
    lnL_push_tensor(L, t);
    return 1;
}

/* io_save_npy(path, tensor) */
static int l_save_npy(lua_State *L) {
    const char *path = lnL_check_path(L, 1, "save_npy");
    ln_tensor *t = lnL_test_tensor(L, 2);
    if (!t)
        return luaL_error(L, "save_npy: argument 2 must be a tensor, got %s",
                          luaL_typename(L, 2));
    lnL_check(L, ln_save_npy(lnL_ctx(), path, t));
    return 0;
}

/* write_file(path, data [, overwrite [, what]]): data (a string) becomes
** the file, atomically, under the save-target rule (atomic_write.h); what
** names the caller in messages (default "write_file"). */
static int l_write_file(lua_State *L) {
    const char *what = luaL_optstring(L, 4, "write_file");
    const char *path = lnL_check_path(L, 1, what);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    int flags = lua_isnoneornil(L, 3) || lua_toboolean(L, 3) ? 0 : LN_WRITE_NO_OVERWRITE;
    lnL_check(L, ln_atomic_write_file(lnL_ctx(), what, path, data, n, flags));
    return 0;
}

/* check_write(path [, what]): raises when write_file(path, ...) would be
** refused by the save-target rule, before anything is written. */
static int l_check_write(lua_State *L) {
    const char *what = luaL_optstring(L, 2, "write_file");
    const char *path = lnL_check_path(L, 1, what);
    lnL_check(L, ln_atomic_check(lnL_ctx(), what, path, 0));
    return 0;
}

/* io_read_csv(path [, {delimiter = ",", header = true, dtype = "float32"}])
** -> tensor, list of column names (empty without a header) */
static int l_read_csv(lua_State *L) {
    const char *path = lnL_check_path(L, 1, "read_csv");
    ln_csv_opts o = {',', 1, LN_FLOAT32};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (!strcmp(k, "delimiter")) {
                size_t n;
                const char *d = lua_tolstring(L, -1, &n);
                if (!d || n != 1 || lua_type(L, -1) != LUA_TSTRING)
                    return luaL_error(L, "read_csv: delimiter must be a "
                                      "one-character string");
                o.delimiter = d[0];
            } else if (!strcmp(k, "header")) {
                o.header = lua_toboolean(L, -1);
            } else if (!strcmp(k, "dtype")) {
                o.dtype = lnT_opt_dtype(L, -1, LN_FLOAT32, "read_csv");
            } else {
                return luaL_error(L, "read_csv: unknown option '%s' (delimiter, "
                                  "header, dtype)", k);
            }
            lua_pop(L, 1);
        }
    }
    ln_tensor *t;
    char **names;
    int ncols;
    lnL_check(L, ln_read_csv(lnL_ctx(), path, &o, &t, &names, &ncols));
    lnL_push_tensor(L, t);
    lua_createtable(L, names ? ncols : 0, 0);
    for (int i = 0; names && i < ncols; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    ln_csv_free_names(names, ncols);
    return 2;
}

/* io_file_kind(path) -> "regular file", "folder", ... (ln_file_kind), or
** nil, "path: reason" (stat only: never blocks). */
static int l_file_kind(lua_State *L) {
    const char *path = lnL_check_path(L, 1, "file_kind");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushstring(L, ln_file_kind(sb.st_mode));
    return 1;
}

void lnL_open_io(lua_State *L) {
    static const luaL_Reg fns[] = {{"io_read_idx", l_read_idx},
                                   {"io_load_npy", l_load_npy},
                                   {"io_save_npy", l_save_npy},
                                   {"io_write_file", l_write_file},
                                   {"io_check_write", l_check_write},
                                   {"io_read_csv", l_read_csv},
                                   {"io_file_kind", l_file_kind},
                                   {NULL, NULL}};
    lnL_register(L, fns);
}
