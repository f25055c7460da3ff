/*
** main.c -- the `lunet` interpreter: Lua 5.4 with lunet preloaded.
**
**   lunet script.lua [args]   run a script (args in `arg`, as lua does)
**   lunet -e 'code'           run a string
**   lunet plugins             list every registered unit
**   lunet kernel install      the Jupyter kernel (runs lunet-kernel, which
**                             links ZeroMQ and OpenSSL: lunet itself does not)
**   lunet --version | --help
**   lunet                     interactive prompt
*/
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "embed.h"
#include "lunet/registry.h"

static const char *usage =
    "usage: lunet [options] [script.lua [args...]]\n"
    "  -e code     run code\n"
    "  -i          enter the prompt after running the script or code\n"
    "  plugins     list every plugin unit: kind, name, version, file, summary\n"
    "  kernel install [--user] [--prefix DIR]\n"
    "              install the Jupyter kernel spec (see docs/jupyter.md)\n"
    "  --version   print the version\n"
    "  --help      print this help\n"
    "With no arguments, an interactive prompt. `ln` is lunet, preloaded.\n";

static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        fprintf(stderr, "lunet: %s\n", lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* A script or -e code failed (message on the stack): the registry's exit
** hook, if a module set one (embed.h), may act and reword the message. */
static int report_failure(lua_State *L, int status) {
    if (status == LUA_OK) return status;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LNE_EXIT_HOOK) == LUA_TFUNCTION) {
        lua_pushvalue(L, -2);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
            lua_replace(L, -2);
        else
            lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    return report(L, status);
}

/* Preload lunet, put `ln` in the globals. */
static int open_lunet(lua_State *L) {
    return report(L, lnE_open(L));
}

static int run_file(lua_State *L, const char *file, int argc, char **argv,
                    int script_at) {
    /* arg table as lua.c builds it: arg[0] = script, arg[1..] = its args */
    lua_createtable(L, argc - script_at - 1, script_at + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script_at);
    }
    lua_setglobal(L, "arg");
    int st = luaL_loadfile(L, file);
    if (st == LUA_OK) {
        int n = argc - script_at - 1;
        for (int i = 0; i < n; i++) lua_pushstring(L, argv[script_at + 1 + i]);
        st = lnE_docall(L, n, 0);
    }
    return report_failure(L, st);
}

static int run_string(lua_State *L, const char *code) {
    int st = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
    if (st == LUA_OK) st = lnE_docall(L, 0, 0);
    return report_failure(L, st);
}

static void repl(lua_State *L) {
    char line[8192];
    int tty = isatty(0);
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof line, stdin)) break;
        /* Try as an expression first, like lua.c. */
        lua_pushfstring(L, "return %s", line);
        int st = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
        lua_remove(L, -2);
        if (st != LUA_OK) {
            lua_pop(L, 1);
            st = luaL_loadbuffer(L, line, strlen(line), "=stdin");
        }
        int base = lua_gettop(L);
        if (st == LUA_OK) st = lnE_docall(L, 0, LUA_MULTRET);
        if (st != LUA_OK) {
            report(L, st);
            continue;
        }
        int n = lua_gettop(L) - base + 1;
        if (n > 0) {
            lua_getglobal(L, "print");
            lua_insert(L, base);
            if (lnE_docall(L, n, 0) != LUA_OK) report(L, LUA_ERRRUN);
        }
    }
    if (tty) fputc('\n', stdout);
}

/* `lunet kernel ARGS`: lunet-kernel ARGS, from the same folder. */
static int run_kernel_command(char **argv) {
    char dir[PATH_MAX], exe[PATH_MAX + 16];
    if (lnE_exe_dir(dir, sizeof dir) != 0) {
        fputs("lunet: cannot find the folder of the executable\n", stderr);
        return 1;
    }
    snprintf(exe, sizeof exe, "%s/lunet-kernel", dir);
    argv[1] = exe;
    execv(exe, argv + 1);
    fprintf(stderr, "lunet: cannot run %s (%s); lunet was built without the Jupyter "
            "kernel (it needs libzmq3-dev and libssl-dev)\n", exe, strerror(errno));
    return 1;
}

static int list_plugins(lua_State *L) {
    (void)L;
    int n = ln_registry_count();
    for (int i = 0; i < n; i++) {
        const char *file;
        const ln_unit *u = ln_registry_at(i, &file);
        printf("%-12s %-34s %-3d %s  %s\n", ln_kind_name(u->kind), u->name,
               u->version, file, u->summary ? u->summary : "");
    }
    for (int i = 0; i < ln_registry_warning_count(); i++)
        fprintf(stderr, "warning: %s\n", ln_registry_warning(i));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("lunet %s (%s, plugin ABI %d.%d, gemm %s)\n", LN_VERSION_STRING,
               LUA_RELEASE, LN_ABI_MAJOR, LN_ABI_MINOR, ln_gemm_kernel_name());
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "plugins")) return list_plugins(NULL);
    if (argc > 1 && !strcmp(argv[1], "kernel")) return run_kernel_command(argv);
    lua_State *L = luaL_newstate();
    if (!L) {
        fputs("lunet: cannot create a Lua state\n", stderr);
        return 1;
    }
    luaL_openlibs(L);
    if (open_lunet(L) != LUA_OK) {
        lua_close(L);
        return 1;
    }
    int status = 0, interactive = argc == 1, i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-e") && i + 1 < argc) {
            if (run_string(L, argv[++i]) != LUA_OK) status = 1;
        } else if (!strcmp(argv[i], "-i")) {
            interactive = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "lunet: unknown option '%s'\n%s", argv[i], usage);
            status = 1;
            break;
        } else {
            if (run_file(L, argv[i], argc, argv, i) != LUA_OK) status = 1;
            break;
        }
    }
    if (interactive && status == 0) repl(L);
    lua_close(L);
    return status;
}
