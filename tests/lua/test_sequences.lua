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

-- train(threads) -> model, ...: run with 1 and 2 threads, check the weights
-- are the same bits; returns what the 1-thread run returned.
local function thread_independent(train)
  local r1 = table.pack(train(1))
  local w1, w2 = r1[1]:get_weights(), train(2):get_weights()
  for i = 1, #w1 do T.ok(w1[i]:equal(w2[i]), "weight " .. i .. " differs for 1 and 2 threads") end
  ln.set_num_threads(2)
  return table.unpack(r1, 1, r1.n)
end

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
  local m1, loss, x = thread_independent(run)
  T.ok(loss[#loss] < 0.2 * loss[1], string.format("loss %g -> %g", loss[1], loss[#loss]))
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

-- The encoder-decoder of Keras's guides: the encoder's final states start
-- the decoder (return_state in a functional model, states as initial
-- states through a layer's outputs).
T.test("return_state: {output, h} / {output, h, c} in a functional model", function()
  ln.random.seed(6)
  local inp = ln.Input{shape = {5, 3}}
  local seq, h, c = table.unpack(ln.layers.LSTM{4, return_sequences = true, return_state = true,
                                                name = "enc"}(inp))
  T.eq(table.concat(seq.shape, ","), "5,4")
  T.eq(table.concat(h.shape, ","), "4")
  T.eq(table.concat(c.shape, ","), "4")
  local gout, gh = table.unpack(ln.layers.GRU{2, return_state = true}(seq))
  local m = ln.Model{inputs = inp, outputs = {seq, h, c, gout, gh}}
  local x = ln.randn(35, 5, 3) -- batches of 32 (two row slices) and 3
  local p = m:predict(x)
  T.eq(#p, 5)
  -- h is the last step of the sequence output; GRU's output is its state
  T.ok(p[2]:equal(p[1]:narrow(2, 5, 1):reshape(35, 4)), "h is not the last output")
  T.ok(p[4]:equal(p[5]), "GRU: output and state differ")
  -- the same weights without return_state give the same output
  local m2 = ln.Sequential{ln.layers.LSTM{4, return_sequences = true, input_shape = {5, 3}}}
  m2:set_weights(m.layers[2]:get_weights())
  T.ok(m2:predict(x):equal(p[1]), "return_state changes the output")
  -- trains through the states (the loss on h and c reaches the weights)
  local hm = ln.Model{inputs = inp, outputs = {h, c}}
  hm:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.05}}
  local th, tc = ln.zeros{64, 4} - 0.3, ln.zeros{64, 4} - 0.5 -- h = o tanh(c) reachable
  local hist = hm:fit(ln.randn(64, 5, 3), {th, tc}, {epochs = 10, batch_size = 16, verbose = 0})
  local loss = hist.history.loss
  T.ok(loss[#loss] < 0.5 * loss[1], string.format("loss %g -> %g", loss[1], loss[#loss]))
  -- Sequential takes layers of one output; config and files keep the key
  T.raises_as(function() ln.Sequential{ln.layers.GRU{2, return_state = true, input_shape = {5, 3}}} end,
              {"outputs", "functional"})
  T.eq(m.layers[2]:get_config().return_state, true)
  local ok = pcall(require, "lunet.h5")
  if not ok then return end
  local dir = T.mktempdir("state")
  p = m:predict(x) -- hm trained the shared layers
  m:save(dir .. "/s.h5")
  local m3 = ln.models.load_model(dir .. "/s.h5")
  local q = m3:predict(x)
  for k = 1, 5 do T.ok(q[k]:equal(p[k]), "output " .. k .. " differs after loading") end
  os.remove(dir .. "/s.h5")
end)

-- Keras's stateful semantics: the final states of batch i are the initial
-- states of batch i of the next call, so a sequence cut in two halves fed
-- one after the other gives what the whole sequence gives.
T.test("stateful: two halves equal the whole sequence; reset_states", function()
  for _, cls in ipairs{"SimpleRNN", "LSTM", "GRU"} do
    ln.random.seed(7)
    local whole = ln.Sequential{ln.layers[cls]{3, input_shape = {8, 2}}}
    local half = ln.Sequential{ln.layers[cls]{3, stateful = true, input_shape = {4, 2}}}
    half:set_weights(whole:get_weights())
    local x = ln.randn(35, 8, 2) -- a batch of 35: two row slices (recurrent.c)
    local want = whole:predict(x)
    half:predict(x:narrow(2, 1, 4), {batch_size = 35})
    local got = half:predict(x:narrow(2, 5, 4), {batch_size = 35})
    T.ok(maxdiff(got, want) < 1e-6, cls .. ": the halves differ by " .. maxdiff(got, want))
    half:reset_states()
    local fresh = ln.Sequential{ln.layers[cls]{3, input_shape = {4, 2}}}
    fresh:set_weights(whole:get_weights())
    local a = half:predict(x:narrow(2, 5, 4), {batch_size = 35})
    T.ok(a:equal(fresh:predict(x:narrow(2, 5, 4))), cls .. ": reset_states does not zero the states")
    half.layers[1]:reset_states()
    T.ok(half:predict(x:narrow(2, 5, 4), {batch_size = 35}):equal(a), cls .. ": layer:reset_states")
    -- one batch size: another one is refused until reset_states
    T.raises_as(function() half:predict(x:narrow(1, 1, 4):narrow(2, 1, 4), {batch_size = 4}) end,
                {"stateful", "batch of 4", "35", "reset_states"})
  end
end)

T.test("stateful: fit carries states across batches, same bits for 1 and 2 threads", function()
  local function run(threads)
    ln.set_num_threads(threads)
    ln.random.seed(8)
    local x = ln.randn(64, 6, 1)
    local y = x:narrow(2, 1, 1):reshape(64, 1)
    local m = ln.Sequential{ln.layers.GRU{8, stateful = true, input_shape = {6, 1}},
                            ln.layers.Dense{1}}
    m:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.01}}
    for _ = 1, 3 do
      m:fit(x, y, {epochs = 1, batch_size = 16, shuffle = false, verbose = 0})
      m:reset_states()
    end
    return m
  end
  thread_independent(run)
  local m = ln.Sequential{ln.layers.LSTM{2, stateful = true, input_shape = {6, 1}}}
  m:compile{loss = "mse", optimizer = "sgd"}
  T.raises_as(function() m:fit(ln.randn(20, 6, 1), ln.zeros{20, 2}, {batch_size = 8, verbose = 0}) end,
              {"stateful", "batch of 4", "8"})
end)

os.exit(T.summary("sequences"))
