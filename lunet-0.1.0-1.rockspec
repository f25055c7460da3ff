-- `luarocks make` from a checkout builds lunet with CMake and installs it
-- into a Lua tree: the Lua library into the tree's share/lua/5.4, the C
-- modules (lunet/core.so, lunet/h5.so), liblunet* and the plugins
-- (lunet/plugins/*.so) into its lib/lua/5.4, so that stock Lua finds it:
--   luarocks --tree ~/.lua make && eval "$(luarocks --tree ~/.lua path)"
--   lua5.4 -e 'local ln = require "lunet"; print(ln.version)'
-- The libraries get no versioned symlinks (LuaRocks deploys files, not
-- links). Needs what scripts/setup.sh installs (cmake, a C compiler, OpenMP, zlib,
-- HDF5, jansson, Lua 5.4's headers).
rockspec_format = "3.0"
package = "lunet"
version = "0.1.0-1"
source = {url = "git+file://."}
description = {
  summary = "Deep learning in C driven from Lua 5.4, with Keras semantics",
  detailed = [[A C core (tensors, OpenMP kernels, its own GEMM) and plugins
(layers, activations, initializers, optimizers, schedules, losses, metrics)
with a Keras 2 model API in Lua: Sequential and functional models,
compile/fit, callbacks, HDF5 model files Keras reads.]],
}
dependencies = {"lua >= 5.4, < 5.5"}
build = {
  type = "command",
  build_command = [[cmake -S . -B build-rock -DCMAKE_BUILD_TYPE=Release -DLUNET_BUILD_TESTS=OFF ]]
    .. [[-DCMAKE_INSTALL_PREFIX="$(PREFIX)" -DCMAKE_INSTALL_LIBDIR=lib ]]
    .. [[-DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON ]]
    .. [[-DLUNET_INSTALL_LUA_DIR=lua -DLUNET_INSTALL_CMOD_DIR=lib && cmake --build build-rock -j2]],
  install_command = [[cmake --install build-rock]],
}
