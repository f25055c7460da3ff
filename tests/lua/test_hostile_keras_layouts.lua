-- Optimizer state of older Keras files (issue 14, part B). Keras 2.1-2.3
-- stored it in other layouts; tests/tools/keras_optimizer_layouts.py
-- rewrites a lunet file into each (Keras is not installable here). What
-- maps is mapped (training then continues exactly), what cannot gets ONE
-- warning on stderr naming the file and a fresh optimizer -- the weights
-- always load. Damage in a file of the current layout (lunet's, tf.keras
-- >= 2.4) is refused, naming the file and the dataset.
-- Table-driven: each row is one case.
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

local PY = "/usr/bin/python3"
local TOOL = "../tools/keras_optimizer_layouts.py"
if not os.execute(PY .. " -c 'import h5py' 2>/dev/null") then
  print("SKIP: python3-h5py is not installed (scripts/setup.sh installs it)")
  os.exit(77)
end

ln.random.seed(5)
local x = ln.rand(16, 4)
local y = ln.tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, "int32")

local function model(opt)
  local m = ln.Sequential{
    ln.layers.Dense{5, input_shape = {4}, activation = "relu"},
    ln.layers.Dense{3, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = opt}
  return m
end

local function fit(m, n)
  m:fit(x, y, {epochs = n or 1, batch_size = 4, shuffle = false, verbose = 0})
end

-- Run fn with stderr captured; returns fn's results and the text.
local function capture(fn)
  local real, text = io.stderr, {}
  io.stderr = {write = function(_, ...) for _, s in ipairs({...}) do text[#text + 1] = s end end}
  local ok, a = pcall(fn)
  io.stderr = real
  if not ok then error(a, 0) end
  return a, table.concat(text)
end

local n = 0
-- A trained model saved by lunet, rewritten into `layout`.
local function legacy_file(opt, layout)
  n = n + 1
  local m = model(opt)
  fit(m, 2)
  local src, dst = H.tmp("src_" .. n .. ".h5"), H.tmp(layout .. "_" .. n .. ".h5")
  m:save(src)
  local ok = os.execute(string.format("%s %s %s %s %s", PY, TOOL, src, dst, layout))
  H.check(ok, "the layout tool failed for %s", layout)
  return m, dst
end

local function state(m)
  local st = require("lunet.optimizers").state_for(m.optimizer, m:grads_and_vars())
  return st
end

-- The optimizer values of a and b (globals too unless slots_only).
local function same_slots(a, b, slots_only)
  local sa, sb = state(a), state(b)
  H.eq(#sb.values, #sa.values, "state size")
  for i = slots_only and 2 + sa.nglobals or 2, #sa.values do
    H.check(sa.values[i]:equal(sb.values[i]), "optimizer value %d (%s) differs", i, sa.names[i])
  end
end

-- Loaded exactly: weights, slots and (optionally) the count; training
-- continues as the original.
local function exact(opt, layout, iterations)
  return function()
    local m, p = legacy_file(opt, layout)
    local m2, err = capture(function() return ln.models.load_model(p) end)
    H.eq(err, "", "stderr")
    H.check(m2:predict(x):equal(m:predict(x)), "predictions")
    same_slots(m, m2)
    H.eq(m2.optimizer.iterations, iterations or m.optimizer.iterations, "iterations")
    if iterations == nil then
      fit(m, 1)
      fit(m2, 1)
      H.check(m2:predict(x):equal(m:predict(x)), "predictions after one more epoch")
    end
  end
end

-- Loaded, one warning naming the file and `piece`, a fresh optimizer (or
-- mapped with a warning when `mapped`: the count is then `mapped`, or the
-- saved one for true).
local function warned(opt, layout, piece, mapped)
  return function()
    local m, p = legacy_file(opt, layout)
    local m2, err = capture(function() return ln.models.load_model(p) end)
    H.check(select(2, err:gsub("WARNING", "")) == 1, "want one warning, got: %s", err)
    H.check(err:find(p, 1, true), "the warning does not name the file: %s", err)
    H.check(err:find(piece, 1, true), "the warning lacks %q: %s", piece, err)
    H.check(m2:predict(x):equal(m:predict(x)), "the weights must load")
    if mapped then
      same_slots(m, m2, true)
      H.eq(m2.optimizer.iterations, mapped == true and m.optimizer.iterations or mapped, "iterations")
    else
      H.eq(m2.optimizer.iterations, 0, "a fresh optimizer")
      H.check(err:find("starts fresh", 1, true), "the warning does not say so: %s", err)
    end
  end
end

-- Refused, naming the file and the dataset.
local function refused(opt, layout, ...)
  local pieces = {...}
  return function()
    local _, p = legacy_file(opt, layout)
    H.raises(function() ln.models.load_model(p) end, "load_model", p, "optimizer state",
             table.unpack(pieces))
  end
end

local rows = {
  -- current layouts
  {"tf.keras 2.4 Adam", exact("adam", "keras24")},
  {"tf.keras 2.4 Nadam", exact("nadam", "keras24")},
  {"tf.keras 2.4 RMSprop", exact("rmsprop", "keras24")},
  {"Keras 2.3 Adam (same layout, Keras 2.3 names)", exact(ln.optimizers.Adam{amsgrad = true}, "keras23")},
  {"Keras 2.3 RMSprop with the count", exact("rmsprop", "keras23")},
  {"Keras 2.3 Adagrad with the count", exact("adagrad", "keras23")},
  {"Keras 2.3 SGD momentum", exact(ln.optimizers.SGD{momentum = 0.9}, "keras23")},
  -- Keras <= 2.2: no iteration count (restarts at 0, exact without decay)
  {"Keras 2.2 RMSprop, no count", exact("rmsprop", "keras22_no_iter", 0)},
  {"Keras 2.2 Adagrad, no count", exact("adagrad", "keras22_no_iter", 0)},
  {"Keras 2.2 Adadelta, no count", exact("adadelta", "keras22_no_iter", 0)},
  {"Keras 2.2 RMSprop with decay, no count: warned",
   warned(ln.optimizers.RMSprop{decay = 0.01}, "keras22_no_iter", "no iteration count", 0)},
  -- Adam's vhats, SGD's momentum-0 slots
  {"Keras 2.2 Adam with (1,) vhats", exact("adam", "keras22_adam_vhat")},
  {"Keras 2.2 SGD momentum 0 with its moments", exact("sgd", "keras22_sgd_m0")},
  -- Nadam without m_schedule: mapped with a warning, as Keras does
  {"Keras 2.2 Nadam without m_schedule", warned("nadam", "keras22_no_global", "momentum_cache", true)},
  -- what cannot be mapped: a warning and a fresh optimizer
  {"Keras 2.2 file with an unknown extra value", warned("adam", "keras22_extra", "holds")},
  {"Keras 2.2 file with a slot of the wrong shape", warned("adam", "keras22_shape", "shape")},
  {"Keras 2.2 file with a negative count", warned("adam", "keras22_neg_iter", "negative")},
  {"Keras 2.2-like Adam without its count: not mapped (Adam needs t)",
   warned("adam", "keras22_no_iter", "holds")},
  {"Keras 2.2-like Adamax with (1,) extras: not mapped (only Adam had vhats)",
   warned("adamax", "keras22_adam_vhat", "holds")},
  {"Keras 2.2-like SGD momentum file with extra moments: not mapped",
   warned(ln.optimizers.SGD{momentum = 0.5}, "keras22_sgd_m0", "holds")},
  -- current layout, damaged: refused naming the file and the dataset
  {"tf.keras 2.4 file missing a slot", refused("adam", "keras24_missing", "holds 8 values")},
  {"tf.keras 2.4 file with a wrong shape", refused("adam", "keras24_shape", "optimizer_weights/Adam/",
                                                   "has shape")},
  {"tf.keras 2.4 file with a negative count", refused("adam", "keras24_neg_iter",
                                                      "optimizer_weights/Adam/iter:0", "negative")},
  {"tf.keras 2.4 file with a fractional count", refused("adam", "keras24_frac_iter",
                                                        "optimizer_weights/Adam/iter:0", "2.5")},
  {"lunet file missing a slot", refused("rmsprop", "lunet_missing", "holds 4 values")},
  -- counts
  {"tf.keras 2.4 count beyond int32 (int64)", function()
    local _, p = legacy_file("adam", "keras24_big_iter")
    H.eq(ln.models.load_model(p).optimizer.iterations, 2 ^ 33 + 7, "iterations")
  end},
  {"tf.keras 2.4 count stored as a whole float", function()
    local _, p = legacy_file("sgd", "keras24_float_iter")
    H.eq(ln.models.load_model(p).optimizer.iterations, 12, "iterations")
  end},
}

for _, r in ipairs(rows) do test(r[1], r[2]) end

-- A fresh-optimizer file as lunet 0.1.0 wrote it (the count only): exact.
test("lunet 0.1.0 fresh-optimizer file (iteration count only) loads", function()
  local m = model("adam")
  local p = H.tmp("old_lunet.h5")
  m:save(p)
  local code = [==[
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "a")
g = f["optimizer_weights"]
names = [n for n in g.attrs["weight_names"]]
del f["optimizer_weights"]
g = f.create_group("optimizer_weights")
g.attrs["weight_names"] = np.array(names[:1])
g.create_dataset(names[0].decode(), data=np.array(0, np.int64))
f.close()
]==]
  local script = H.tmp("old.py")
  H.write(script, code)
  H.check(os.execute(PY .. " " .. script .. " " .. p), "python failed")
  local m2 = ln.models.load_model(p)
  fit(m, 1)
  fit(m2, 1)
  H.check(m2:predict(x):equal(m:predict(x)), "continues as a fresh Adam")
end)

H.finish()
