-- A model trained with a third-party optimizer plugin (the test plugin
-- tp_engine.so's TpNormSGD) loads without that plugin -- as Keras loads a
-- model whose optimizer it does not know -- when the optimizer is not
-- needed: ln.models.load_model(path, {compile = false}) and
-- model:load_weights(path), from a whole-model file and from a weights
-- file. load_model with compile = true still refuses, naming the unit.
-- The files are written by a child process that loads the plugin; this
-- process never loads it. Run as `lunet test_saving_no_optimizer.lua`.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local test, eq, raises = T.test, T.eq, T.raises

local TMP = T.mktempdir("lunet_noopt_")
local PLUGIN = (os.getenv("LUNET_TEST_PLUGIN_DIR") or "test_plugins") .. "/tp_engine.so"

local function same(a, b, what)
  eq(table.concat(a:shape(), "x"), table.concat(b:shape(), "x"), what .. ": shape")
  local d = (a - b):abs():max()
  eq(type(d) == "number" and d or d:item(), 0, what .. ": values")
end

-- The child: trains 2 epochs with TpNormSGD, writes the model, its weights
-- and its predictions on fixed inputs.
T.write_file(TMP .. "/child.lua", string.format([[
local ln = require "lunet"
ln.load_plugin(%q)
ln.random.seed(3)
local x, y = ln.randn(64, 5), ln.randn(64, 2)
local m = ln.Sequential{ln.layers.Dense{8, activation = "tanh", input_shape = {5}},
                        ln.layers.Dense{2}}
m:compile{loss = "mse", optimizer = ln.optimizers.TpNormSGD{learning_rate = 0.05}}
m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0})
m:save(%q)
m:save_weights(%q)
ln.io.save_npy(%q, x)
ln.io.save_npy(%q, m:predict(x))
]], PLUGIN, TMP .. "/m.h5", TMP .. "/w.h5", TMP .. "/x.npy", TMP .. "/p.npy"))

local p = io.popen(string.format("%s %s 2>&1", R.lunet(), TMP .. "/child.lua"))
local out = p:read("a")
assert(p:close(), "the child process failed: " .. out)

test("the optimizer's plugin is not loaded here", function()
  raises(function() ln.optimizers.get("tp_normsgd") end, "tp_normsgd")
end)

local x, want = ln.io.load_npy(TMP .. "/x.npy"), ln.io.load_npy(TMP .. "/p.npy")

test("load_model(path, {compile = false}) without the optimizer's plugin", function()
  local m = ln.models.load_model(TMP .. "/m.h5", {compile = false})
  same(m:predict(x), want, "predictions")
  -- it can be compiled with another optimizer and trained on
  m:compile{loss = "mse", optimizer = "sgd"}
  m:fit(x, want, {epochs = 1, batch_size = 16, verbose = 0})
end)

test("load_model(path) still needs the optimizer, and says which", function()
  raises(function() ln.models.load_model(TMP .. "/m.h5") end,
         "optimizer", "tp_normsgd")
end)

test("load_weights without the optimizer's plugin, from both files", function()
  for _, f in ipairs{"w.h5", "m.h5"} do
    ln.random.seed(9)
    local m = ln.Sequential{ln.layers.Dense{8, activation = "tanh", input_shape = {5}},
                            ln.layers.Dense{2}}
    m:load_weights(TMP .. "/" .. f)
    same(m:predict(x), want, f .. ": predictions")
  end
end)

os.execute("rm -rf '" .. TMP .. "'")
T.summary("load without the optimizer")
