-- The plugin SDK end to end: install lunet into a temporary prefix
-- (cmake --install of LUNET_BUILD_DIR), build docs/sdk/example_optimizer
-- (a copy, so only the installed headers and lunetConfig.cmake are seen)
-- with find_package(lunet), load it through LUNET_PLUGIN_PATH into the
-- installed `lunet` and train a linear regression with it; build the same
-- file with scripts/lunet-plugin-build and load it with ln.load_plugin.
-- Skipped (CTest: "Skipped", exit status 77, never a pass) when cmake, a C
-- compiler or the build directory is missing. Run by CTest as `lunet test_sdk.lua` (LUNET_BUILD_DIR and
-- LUNET_SOURCE_DIR set).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")

-- T.summary exits 77 (CTest: skipped) when a check was skipped.
local function finish()
  T.summary("SDK")
  os.exit(0)
end

local sh_quote, slurp = T.sh_quote, T.slurp

-- Run a shell command, its output into log; true when it exited 0.
local function run(cmd, log)
  local ok = os.execute(cmd .. " > " .. sh_quote(log) .. " 2>&1")
  return ok == true
end


local build_dir, source_dir = os.getenv("LUNET_BUILD_DIR"), os.getenv("LUNET_SOURCE_DIR")
if not build_dir or not source_dir then
  T.skip("LUNET_BUILD_DIR / LUNET_SOURCE_DIR not set (run through ctest)", 5)
  finish()
end
if not os.execute("cmake --version > /dev/null 2>&1") then
  T.skip("cmake is not installed", 5)
  finish()
end
if not os.execute("cc --version > /dev/null 2>&1") then
  T.skip("no C compiler (cc)", 5)
  finish()
end

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. sh_quote(tmp)), "cannot create " .. tmp)
local prefix = tmp .. "/prefix"

local test = T.test

local function must(cmd, what)
  local log = tmp .. "/" .. what .. ".log"
  if not run(cmd, log) then
    error(string.format("%s failed: %s\n%s", what, cmd, slurp(log):sub(-3000)), 2)
  end
  return slurp(log)
end

-- A training script for the installed lunet: least squares with the
-- example optimizer; prints OK when the loss fell by 1000x.
local train = [[
local ln = require "lunet"
if arg[1] then ln.load_plugin(arg[1]) end
ln.random.seed(1)
local N = 64
local X = ln.randn(N, 3)
local y = ln.matmul(X, ln.tensor{{1.5}, {-2.0}, {0.5}}) + 0.3
local w, b = ln.zeros(3, 1), ln.zeros(1)
local gw, gb = ln.zeros(3, 1), ln.zeros(1)
local opt = ln.optimizers.AdaBelief{learning_rate = 0.1}
local pairs_ = {{gw, w, name = "dense/kernel"}, {gb, b, name = "dense/bias"}}
local function num(x) return type(x) == "number" and x or x:item() end
local function loss()
  local e = ln.matmul(X, w) + b[1] - y
  return num((e * e):mean()), e
end
local first = loss()
for _ = 1, 300 do
  local _, e = loss()
  gw:copy(ln.matmul(X:t(), e) * (2 / N))
  gb[1] = 2 * num(e:sum()) / N
  opt:apply_gradients(pairs_)
end
local last = loss()
assert(opt.iterations == 300, "iterations")
assert(opt:get_config().beta_1 == 0.9, "config")
print(string.format("loss %.6g -> %.6g", first, last))
if last < 1e-3 * first then print("TRAINED OK") end
]]

test("cmake --install into a temporary prefix", function()
  must("cmake --install " .. sh_quote(build_dir) .. " --prefix " .. sh_quote(prefix), "install")
  for _, f in ipairs{"/bin/lunet", "/include/lunet/plugin.h", "/include/lunet/engine/optimizer.h"} do
    assert(io.open(prefix .. f, "r"), "not installed: " .. f)
  end
end)

test("the example builds with find_package(lunet) and trains from LUNET_PLUGIN_PATH", function()
  local src = tmp .. "/example"
  must(string.format("cp -r %s %s", sh_quote(source_dir .. "/docs/sdk/example_optimizer"),
                     sh_quote(src)), "copy")
  must(string.format("cmake -S %s -B %s -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=%s",
                     sh_quote(src), sh_quote(tmp .. "/build"), sh_quote(prefix)), "configure")
  must("cmake --build " .. sh_quote(tmp .. "/build"), "build")
  local f = assert(io.open(tmp .. "/train.lua", "w"))
  f:write(train)
  f:close()
  local out = must(string.format("cd %s && LUNET_PLUGIN_PATH=%s: OMP_WAIT_POLICY=passive %s train.lua",
                                 sh_quote(tmp), sh_quote(tmp .. "/build"),
                                 sh_quote(prefix .. "/bin/lunet")), "train")
  assert(out:find("TRAINED OK", 1, true), "training output:\n" .. out)
  local list = must(string.format("LUNET_PLUGIN_PATH=%s: %s plugins", sh_quote(tmp .. "/build"),
                                  sh_quote(prefix .. "/bin/lunet")), "plugins")
  assert(list:find("ada_belief", 1, true), "lunet plugins does not list ada_belief:\n" .. list)
end)

test("scripts/lunet-plugin-build compiles one file; ln.load_plugin loads it", function()
  local so = tmp .. "/helper/ada_belief.so"
  must("mkdir -p " .. sh_quote(tmp .. "/helper"), "mkdir")
  must(string.format("sh %s --prefix %s -o %s %s", sh_quote(source_dir .. "/scripts/lunet-plugin-build"),
                     sh_quote(prefix), sh_quote(so),
                     sh_quote(source_dir .. "/docs/sdk/example_optimizer/ada_belief.c")), "helper")
  local out = must(string.format("cd %s && OMP_WAIT_POLICY=passive %s train.lua %s", sh_quote(tmp),
                                 sh_quote(prefix .. "/bin/lunet"), sh_quote(so)), "train_helper")
  assert(out:find("TRAINED OK", 1, true), "training output:\n" .. out)
end)

-- The layer and activation examples, built against the build tree (an SDK
-- too) and used the way an author tests them: the C gradient check
-- (lunet/gradcheck.h) and, from Lua, ln.testing.gradcheck, a model trained
-- with both, and ln.testing.check_optimizer on AdaBelief against its rule
-- written in Lua.
local units = [[
local ln = require "lunet"
ln.load_plugin(arg[1]); ln.load_plugin(arg[2]); ln.load_plugin(arg[3])
ln.random.seed(2)
local x = ln.randn(6, 4)
local r = ln.testing.gradcheck(ln.layers.TrainableSwish{beta_initializer = "glorot_uniform"}, x)
print(string.format("layer gradcheck worst %.3g", r.worst))
r = ln.testing.gradcheck("mish", x * 3)
print(string.format("mish gradcheck worst %.3g", r.worst))
local X = ln.randn(256, 4)
local Y = (X:sum(2) * 0.5):reshape(256, 1)
local m = ln.Sequential{ln.layers.Dense{16, activation = "mish", input_shape = {4}},
                        ln.layers.TrainableSwish{}, ln.layers.Dense{1}}
m:compile{loss = "mse", optimizer = ln.optimizers.AdaBelief{learning_rate = 0.01}}
local h = m:fit(X, Y, {epochs = 30, batch_size = 32, verbose = 0})
local first, last = h.history.loss[1], h.history.loss[30]
print(string.format("loss %.4g -> %.4g", first, last))
assert(last < 0.1 * first, "the example units did not train")
assert(m.layers[2]:get_config().beta_initializer, "config")
-- AdaBelief's rule in Lua (docs/sdk/example_optimizer/ada_belief.c)
local function ada_belief(t, lr, w, g, s)
  local b1, b2, eps = 0.9, 0.999, 1e-14
  local nw, m_, s_ = {}, {}, {}
  for i = 1, #w do
    m_[i] = b1 * s.m[i] + (1 - b1) * g[i]
    s_[i] = b2 * s.s[i] + (1 - b2) * (g[i] - m_[i]) ^ 2 + eps
    nw[i] = w[i] - lr * (m_[i] / (1 - b1 ^ t)) / (math.sqrt(s_[i] / (1 - b2 ^ t)) + eps)
  end
  return nw, {m = m_, s = s_}
end
r = ln.testing.check_optimizer{reference = ada_belief,
  optimizer = function() return ln.optimizers.AdaBelief{learning_rate = 0.01} end}
print(string.format("AdaBelief against its Lua reference: worst %.3g of the tolerance", r.worst))
print("UNITS OK")
]]

test("the layer and activation examples build on the build tree, gradcheck and train", function()
  local b = tmp .. "/units"
  for _, ex in ipairs{"example_layer", "example_activation", "example_optimizer"} do
    must(string.format("cmake -S %s -B %s -Dlunet_DIR=%s", sh_quote(source_dir .. "/docs/sdk/" .. ex),
                       sh_quote(b .. "/" .. ex), sh_quote(build_dir)), "configure_" .. ex)
    local log = must(string.format("cmake --build %s --verbose", sh_quote(b .. "/" .. ex)), "build_" .. ex)
    -- the flags of the built-ins, though no build type was given
    for _, flag in ipairs{"-O2", "-fno-math-errno", "-fno-trapping-math"} do
      assert(log:find(flag, 1, true), ex .. ": built without " .. flag .. "\n" .. log)
    end
  end
  -- an out-of-tree program is not instrumented: under ASan (scripts/sanitize.sh)
  -- the runtimes of the sanitized liblunet it links must come first
  local preload = os.getenv("LUNET_TEST_PRELOAD")
  local out = must(string.format("%s%s %s", preload and ("LD_PRELOAD=" .. sh_quote(preload) .. " ") or "",
                                 sh_quote(b .. "/example_layer/test_trainable_swish"),
                                 sh_quote(b .. "/example_layer/trainable_swish.so")), "c_gradcheck")
  assert(select(2, out:gsub(" ok: ", "")) == 2, "C gradient check:\n" .. out)
  local f = assert(io.open(tmp .. "/units.lua", "w"))
  f:write(units)
  f:close()
  out = must(string.format("cd %s && OMP_WAIT_POLICY=passive %s units.lua %s %s %s", sh_quote(tmp),
                           sh_quote(build_dir .. "/bin/lunet"),
                           sh_quote(b .. "/example_layer/trainable_swish.so"),
                           sh_quote(b .. "/example_activation/mish.so"),
                           sh_quote(b .. "/example_optimizer/ada_belief.so")), "units")
  assert(out:find("UNITS OK", 1, true), "output:\n" .. out)
  print(out)
end)

test("the installed lunet refuses a missing plugin with a message", function()
  local log = tmp .. "/missing.log"
  local ok = run(string.format("%s -e %s", sh_quote(prefix .. "/bin/lunet"),
                               sh_quote('ln.load_plugin("' .. tmp .. '/none.so")')), log)
  assert(not ok, "loading a missing plugin succeeded")
  assert(slurp(log):find("none.so", 1, true), "message: " .. slurp(log))
end)

os.execute("rm -rf " .. sh_quote(tmp))
finish()
