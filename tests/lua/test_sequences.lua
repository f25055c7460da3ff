-- Issue 19's wrappers and states through the Lua API: TimeDistributed
-- (Keras 2 semantics: the wrapped layer on every step, weights shared,
-- summary and saving), return_state in functional models, stateful layers
-- with reset_states.
-- Run as `lunet test_sequences.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
function T.ok(c, what) if not c then error(what or "check failed", 2) end end

local function maxdiff(a, b) return (a - b):abs():max() end

T.test("TimeDistributed(Dense) is Dense on every step, with Keras's count and names", function()
  ln.random.seed(1)
  local m = ln.Sequential{ln.layers.TimeDistributed{ln.layers.Dense{3, activation = "relu"},
                                                   input_shape = {5, 4}, name = "td"}}
  T.eq(table.concat(m.layers[1].output_shape, ","), "5,3")
  T.eq(m:count_params(), 4 * 3 + 3)
  local v = m.layers[1].variables
  T.eq(v[1].name, "td/kernel:0")
  T.eq(v[2].name, "td/bias:0")
  local s = m:summary_string()
  T.ok(s:find("td %(TimeDistributed%)") and s:find("%(None, 5, 3%)") and s:find("15"), s)
  local x = ln.randn(2, 5, 4)
  local y = m:predict(x)
  local W, b = v[1].value:view(-1), v[2].value:view(-1)
  local xv, yv = x:view(-1), y:view(-1)
  for r = 0, 2 * 5 - 1 do -- every (sample, step) row: relu(x W + b)
    for j = 1, 3 do
      local a = b[j]
      for k = 1, 4 do a = a + xv[r * 4 + k] * W[(k - 1) * 3 + j] end
      T.ok(math.abs(yv[r * 3 + j] - math.max(a, 0)) < 1e-5, "row " .. r .. " differs")
    end
  end
end)

T.test("TimeDistributed wraps conv and recurrent layers; bad wraps are refused", function()
  ln.random.seed(2)
  local m = ln.Sequential{
    ln.layers.TimeDistributed{ln.layers.Conv2D{2, 3}, input_shape = {4, 6, 6, 1}},
    ln.layers.TimeDistributed{ln.layers.Flatten{}},
    ln.layers.LSTM{3},
  }
  T.eq(table.concat(m.layers[1].output_shape, ","), "4,4,4,2")
  T.eq(table.concat(m.layers[2].output_shape, ","), "4,32")
  T.eq(m.layers[1].variables[1].name, m.layers[1].name .. "/kernel:0")
  T.raises_as(function() ln.Sequential{ln.layers.TimeDistributed{ln.layers.Dense{2}, input_shape = {4}}} end,
              {"timesteps"})
  T.raises_as(function() ln.layers.TimeDistributed{} end, {"layer"})
  T.raises_as(function() ln.layers.TimeDistributed{ln.layers.Dense{2, bogus = 1}} end, {"bogus"})
  local m2 = ln.Sequential{ln.layers.TimeDistributed{ln.layers.LSTM{2}, input_shape = {3, 4, 2}}}
  T.eq(table.concat(m2.layers[1].output_shape, ","), "3,2")
end)

-- A per-step task: y[t] = x[t] . (1, -2) + 0.5, so one TimeDistributed(Dense)
-- fits it; trained, thread-count independent, saved and loaded.
T.test("TimeDistributed trains, is thread-count independent, saves and loads", function()
  local function run(threads)
    ln.set_num_threads(threads)
    ln.random.seed(4)
    local x = ln.randn(256, 6, 2)
    local y = ln.matmul(x:reshape(256 * 6, 2), ln.tensor({{1}, {-2}})):reshape(256, 6, 1) + 0.5
    local m = ln.Sequential{
      ln.layers.GRU{8, return_sequences = true, input_shape = {6, 2}},
      ln.layers.TimeDistributed{ln.layers.Dense{1, kernel_regularizer = {l2 = 1e-4}}},
    }
    m:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.02}}
    local h = m:fit(x, y, {epochs = 8, batch_size = 32, verbose = 0})
    return m, h.history.loss, x
  end
  local m1, loss, x = run(1)
  T.ok(loss[#loss] < 0.2 * loss[1], string.format("loss %g -> %g", loss[1], loss[#loss]))
  local m2 = run(2)
  local w1, w2 = m1:get_weights(), m2:get_weights()
  for i = 1, #w1 do T.ok(w1[i]:equal(w2[i]), "weight " .. i .. " differs for 1 and 2 threads") end
  ln.set_num_threads(2)
  local ok = pcall(require, "lunet.h5")
  if not ok then return end
  local dir = T.mktempdir("td")
  local p = m1:predict(x)
  m1:save(dir .. "/td.h5")
  local m3 = ln.models.load_model(dir .. "/td.h5")
  T.ok(m3:predict(x):equal(p), "predictions differ after loading")
  local cfg = m3.layers[2]:get_config()
  T.eq(cfg.layer.units, 1)
  local f = ln.h5.files.h5_open(dir .. "/td.h5")
  local names = f:attr_strings("/model_weights/" .. m1.layers[2].name, "weight_names")
  T.eq(names[1], m1.layers[2].name .. "/kernel:0")
  f:close()
  os.remove(dir .. "/td.h5")
end)

os.exit(T.summary("sequences"))
