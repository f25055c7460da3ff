-- Exact resume through a model file: a model trained 1 epoch, saved,
-- loaded in a NEW process and trained 1 more epoch equals, bit for bit, one
-- trained 2 epochs straight (shuffle = false) -- weights, BatchNormalization
-- statistics, optimizer slots and iteration count -- for SGD with momentum
-- and for Adam. Also: the training_config and optimizer_weights as h5py
-- reads them, and compile settings restored by load_model.
-- Run as `lunet test_saving_resume.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

local LUNET = arg and arg[-1] or (os.getenv("LUNET_BUILD_DIR") .. "/bin/lunet")
local PY = "/usr/bin/python3"
local TMP = T.mktempdir("lunet_resume_")
local function tmp(name) return TMP .. "/" .. name end
local spit = T.write_file

-- Bitwise equality of two tensors (NaN-free data: max |a - b| == 0 and the
-- same shape).
local function same(a, b, what)
  eq(table.concat(a:shape(), "x"), table.concat(b:shape(), "x"), what .. ": shape")
  local d = (a:float() - b:float()):abs():max()
  d = type(d) == "number" and d or d:item()
  eq(d, 0, what .. ": values")
end

-- The data: 200 samples of 8 features, 3 classes (saved for the child).
ln.random.seed(11)
local X = ln.randn(200, 8)
local Y = (ln.rand(200) * 3):int()
ln.io.save_npy(tmp("x.npy"), X)
ln.io.save_npy(tmp("y.npy"), Y)

local FIT = {batch_size = 32, shuffle = false, verbose = 0}

local function new_model(optimizer)
  ln.random.seed(5)
  local m = ln.Sequential{
    ln.layers.Dense{16, activation = "relu", input_shape = {8}, kernel_initializer = "he_normal"},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{3, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = optimizer(),
            metrics = {"accuracy"}}
  return m
end

-- Run a Lua script in a new lunet process; fails with its output.
local function child(code)
  local script = tmp("child.lua")
  spit(script, code)
  local p = io.popen(string.format("%s %s 2>&1", LUNET, script))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, "the child process failed: " .. out)
  return out
end

local function check_resume(label, optimizer)
  -- two epochs straight
  local straight = new_model(optimizer)
  straight:fit(X, Y, {epochs = 2, batch_size = FIT.batch_size, shuffle = false, verbose = 0})
  -- one epoch, a file, a new process, one more epoch, a file
  local first = new_model(optimizer)
  first:fit(X, Y, {epochs = 1, batch_size = FIT.batch_size, shuffle = false, verbose = 0})
  local mid, final = tmp(label .. "_1.h5"), tmp(label .. "_2.h5")
  first:save(mid)
  child(string.format([[
local ln = require "lunet"
local x, y = ln.io.load_npy(%q), ln.io.load_npy(%q)
local m = ln.models.load_model(%q)
m:fit(x, y, {epochs = 1, batch_size = %d, shuffle = false, verbose = 0})
m:save(%q)
]], tmp("x.npy"), tmp("y.npy"), mid, FIT.batch_size, final))
  local resumed = ln.models.load_model(final)
  local a, b = straight:get_weights(), resumed:get_weights()
  eq(#b, #a, label .. ": weight count")
  for i = 1, #a do same(b[i], a[i], label .. ": weight " .. straight.weights[i].name) end
  local oa, ob = straight.optimizer:get_weights(), resumed.optimizer:get_weights()
  eq(#ob, #oa, label .. ": optimizer weight count")
  eq(ob[1]:item(), 14, label .. ": iterations (2 epochs of 7 steps)")
  for i = 1, #oa do same(ob[i], oa[i], label .. ": optimizer weight " .. i) end
  -- and the next step agrees too
  straight:train_on_batch(X:narrow(1, 1, 32), Y:narrow(1, 1, 32))
  resumed:train_on_batch(X:narrow(1, 1, 32), Y:narrow(1, 1, 32))
  a, b = straight:get_weights(), resumed:get_weights()
  for i = 1, #a do same(b[i], a[i], label .. ": after one more step, weight " .. i) end
end

test("SGD with momentum resumes exactly", function()
  check_resume("sgd", function() return ln.optimizers.SGD{learning_rate = 0.05, momentum = 0.9} end)
end)

test("Adam resumes exactly", function()
  check_resume("adam", function() return ln.optimizers.Adam{learning_rate = 0.003} end)
end)

test("load_model restores the compile settings", function()
  local m = new_model(function() return ln.optimizers.Adam{learning_rate = 0.003, beta_2 = 0.99} end)
  m:fit(X, Y, {epochs = 1, batch_size = 64, shuffle = false, verbose = 0})
  local path = tmp("compiled.h5")
  m:save(path)
  local back = ln.models.load_model(path)
  eq(back.metrics_names[1], "loss")
  eq(back.metrics_names[2], "accuracy")
  local cfg = back.optimizer:get_config()
  eq(cfg.learning_rate, 0.003)
  eq(cfg.beta_2, 0.99)
  local l1, a1 = m:evaluate(X, Y, {verbose = 0})
  local l2, a2 = back:evaluate(X, Y, {verbose = 0})
  eq(l2, l1, "loss")
  eq(a2, a1, "accuracy")
  -- without compile: weights only
  local bare = ln.models.load_model(path, {compile = false})
  eq(rawget(bare, "_compiled"), nil)
  -- include_optimizer = false: compiled, fresh optimizer
  m:save(tmp("noopt.h5"), {include_optimizer = false})
  local fresh = ln.models.load_model(tmp("noopt.h5"))
  eq(#fresh.optimizer:get_weights() <= 1, true, "no optimizer state")
end)

test("h5py reads training_config and optimizer_weights", function()
  local m = new_model(function() return ln.optimizers.Adam{learning_rate = 0.003} end)
  m:fit(X, Y, {epochs = 1, batch_size = 64, shuffle = false, verbose = 0})
  local path = tmp("adam.h5")
  m:save(path)
  local script = tmp("check.py")
  spit(script, [==[
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
tc = json.loads(f.attrs["training_config"])
print(tc["loss"], tc["metrics"][0], tc["optimizer_config"]["class_name"],
      tc["optimizer_config"]["config"]["learning_rate"])
ow = f["optimizer_weights"]
names = [n.decode() for n in ow.attrs["weight_names"]]
print(names[0], ow[names[0]][()], ow[names[0]].dtype)
print(len(names), names[1], ow[names[1]].shape)
]==])
  local p = io.popen(string.format("%s %s %s 2>&1", PY, script, path))
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  assert(p:close(), "python failed: " .. table.concat(out, " / "))
  eq(out[1], "sparse_categorical_crossentropy accuracy Adam 0.003")
  eq(out[2], "Adam/iter:0 4 int64")
  -- iterations, then m and v of the 6 trainable variables (kernel and bias
  -- of the first Dense, gamma and beta of BN, kernel and bias of the last)
  eq(out[3]:match("^(%d+)"), tostring(1 + 2 * 6))
  assert(out[3]:find("Adam/" .. m.layers[1].name .. "/kernel/m:0 (8, 16)", 1, true), out[3])
end)

os.execute("rm -rf " .. TMP)
T.summary()
