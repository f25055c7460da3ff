-- The rockspec: `luarocks make` from a copy of the checkout builds lunet
-- and installs it into a fresh Lua tree; stock `lua5.4` then requires it
-- (with the tree's paths from `luarocks path`), trains a small model,
-- saves it (the HDF5 module from the tree) and finds the built-in plugins.
-- Skipped (exit 77, CTest "Skipped") without luarocks, lua5.4, cmake or
-- LUNET_SOURCE_DIR. A full build: slow on a loaded machine.
-- Run by CTest as `lunet test_luarocks.lua`.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")

local q, slurp = T.sh_quote, T.slurp
local function ok(cmd) return os.execute(cmd .. " > /dev/null 2>&1") == true end

local source = os.getenv("LUNET_SOURCE_DIR")
local missing = not source and "LUNET_SOURCE_DIR is not set (run through ctest)"
  or not ok("luarocks --version") and "luarocks is not installed"
  or not ok("command -v lua5.4") and "lua5.4 is not installed"
  or not ok("cmake --version") and "cmake is not installed"
if missing then
  T.skip(missing, 1)
  T.summary("luarocks")
  os.exit(0)
end

local tmp = T.mktempdir("lunet_rock_")
local tree = tmp .. "/tree"

T.test("luarocks make installs lunet into a tree; lua5.4 requires it", function()
  local src = tmp .. "/src"
  assert(os.execute("mkdir -p " .. q(src)))
  for _, e in ipairs{"CMakeLists.txt", "core", "plugins", "include", "cmake", "scripts",
                     "data", "lunet-0.1.0-1.rockspec"} do
    assert(ok(string.format("cp -r %s %s", q(source .. "/" .. e), q(src .. "/"))), "copy " .. e)
  end
  local log = tmp .. "/make.log"
  local built = os.execute(string.format("cd %s && luarocks --lua-version 5.4 --tree %s make " ..
                                         "lunet-0.1.0-1.rockspec > %s 2>&1", q(src), q(tree), q(log)))
  assert(built == true, "luarocks make failed:\n" .. slurp(log):sub(-3000))
  local script = tmp .. "/use.lua"
  T.write_file(script, [[
local ln = require "lunet"
ln.random.seed(1)
local x, y = ln.randn(64, 3), ln.randn(64, 1)
local m = ln.Sequential{ln.layers.Dense{4, activation = "relu", input_shape = {3}}, ln.layers.Dense{1}}
m:compile{loss = "mse", optimizer = ln.optimizers.LAMB{}}
m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0})
m:save(arg[1])
local back = ln.models.load_model(arg[1])
assert(back.optimizer.class_name == "LAMB")
print("REQUIRE OK " .. package.searchpath("lunet", package.path))
]])
  local out = tmp .. "/use.out"
  local ran = os.execute(string.format("cd %s && eval \"$(luarocks --lua-version 5.4 --tree %s path)\" && " ..
                                       "lua5.4 %s %s > %s 2>&1", q(tmp), q(tree), q(script),
                                       q(tmp .. "/m.h5"), q(out)))
  local text = slurp(out)
  assert(ran == true and text:find("REQUIRE OK " .. tree, 1, true), "lua5.4 output:\n" .. text)
end)

os.execute("rm -rf " .. q(tmp))
T.summary("luarocks")
