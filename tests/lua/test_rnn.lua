-- SimpleRNN, LSTM, GRU and Embedding through the Lua API: Sequential models
-- train with fit (loss falls on a learnable sequence task), give bitwise
-- the same weights for 1 and 2 threads, save and load in Keras 2's HDF5
-- layout (weight names, configs) and predict the same afterwards; every
-- cell and Bidirectional passes ln.testing.gradcheck.
-- Run as `lunet test_rnn.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
function T.ok(c, what) if not c then error(what or "check failed", 2) end end

-- A sequence task: y = the mean of the first half of each series minus
-- the mean of its second half (order matters: a bag of steps cannot fit).
local function task(n, steps, seed)
  ln.random.seed(seed)
  local x = ln.rand(n, steps, 1) * 2 - 1
  local y = ln.zeros{n, 1}
  local xv = x:view(-1)
  for i = 0, n - 1 do
    local s = 0
    for t = 0, steps - 1 do
      local v = xv[i * steps + t + 1]
      s = s + (t < steps // 2 and v or -v)
    end
    y[i + 1][1] = s / steps
  end
  return x, y
end

local x, y = task(512, 8, 3)

local builders = {
  SimpleRNN = function() return ln.layers.SimpleRNN{16, input_shape = {8, 1}} end,
  LSTM = function() return ln.layers.LSTM{16, input_shape = {8, 1}} end,
  GRU = function() return ln.layers.GRU{16, input_shape = {8, 1}} end,
  dropout = function()
    return ln.layers.GRU{16, dropout = 0.1, recurrent_dropout = 0.2, input_shape = {8, 1}}
  end,
  GRU_v1 = function() return ln.layers.GRU{16, reset_after = false, input_shape = {8, 1}} end,
  wide = function() -- 64 units: the step GEMMs are cut into team tasks
    return ln.layers.LSTM{64, input_shape = {8, 1}}
  end,
  wide_gru = function() return ln.layers.GRU{64, reset_after = false, input_shape = {8, 1}} end,
  deep = function()
    return ln.layers.LSTM{12, return_sequences = true, go_backwards = true, input_shape = {8, 1}}
  end,
}

local function train(kind, threads, seed)
  ln.set_num_threads(threads)
  ln.random.seed(seed or 7)
  local layers = {builders[kind]()}
  if kind == "deep" then layers[2] = ln.layers.GRU{8} end
  layers[#layers + 1] = ln.layers.Dense{1}
  local model = ln.Sequential(layers)
  model:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.01}}
  local h = model:fit(x, y, {epochs = 6, batch_size = 32, verbose = 0})
  return model, h
end

for _, kind in ipairs{"SimpleRNN", "LSTM", "GRU", "GRU_v1", "deep", "dropout", "wide", "wide_gru"} do
  T.test(kind .. " learns with fit and is thread-count independent", function()
    local m1, h1 = train(kind, 1)
    local loss = h1.history.loss
    T.ok(loss[#loss] < 0.5 * loss[1], string.format("%s: loss %g -> %g", kind, loss[1],
                                                    loss[#loss]))
    local m2 = train(kind, 2)
    local w1, w2 = m1:get_weights(), m2:get_weights()
    for i = 1, #w1 do
      T.ok(w1[i]:equal(w2[i]), kind .. ": weight " .. i .. " differs for 1 and 2 threads")
    end
    ln.set_num_threads(2)
  end)
end

-- A batch runs as row slices fixed by its size (one per 16 rows, at most
-- 8), each slice's time loop and weight gradients over its own rows, the
-- gradients added in slice order; a team runs the slices side by side (or,
-- for a recurrent kernel over 8 MiB, one slice whose step GEMMs it cuts by
-- columns). Forced onto the team, every case must give the bits of one
-- thread: masks (a masked step carries its states), dropout masks,
-- reset_after = false, go_backwards, stateful, Bidirectional, a batch of
-- 35 (slices of 17 and 18 rows, a slice boundary inside a cache line) and
-- a last batch of 5 (one slice).
local function masked_x(n, steps, feat, seed)
  ln.random.seed(seed)
  local xs = ln.randn(n, steps, feat)
  local keep = (ln.rand(n, steps, 1) + 0.25):floor() -- ~75 % of the steps kept
  return xs * keep
end

local team_cases = {
  {"LSTM with a mask, batch 35", 35, {10, 3}, function()
    return {ln.layers.Masking{mask_value = 0, input_shape = {10, 3}},
            ln.layers.LSTM{16, return_sequences = true}, ln.layers.LSTM{8}}
  end},
  {"GRU reset_after = false, dropout, go_backwards", 32, {10, 3}, function()
    return {ln.layers.GRU{24, reset_after = false, dropout = 0.1, recurrent_dropout = 0.2,
                          go_backwards = true, return_sequences = true, input_shape = {10, 3}},
            ln.layers.GRU{8}}
  end},
  {"GRU with a mask, batch 35", 35, {10, 3}, function()
    return {ln.layers.Masking{mask_value = 0, input_shape = {10, 3}}, ln.layers.GRU{16}}
  end},
  {"SimpleRNN stateful", 32, {10, 3}, function()
    return {ln.layers.SimpleRNN{16, stateful = true, input_shape = {10, 3}}}
  end},
  {"LSTM stateful (h and c carried by each slice)", 32, {10, 3}, function()
    return {ln.layers.LSTM{16, stateful = true, return_sequences = true, input_shape = {10, 3}},
            ln.layers.LSTM{8}}
  end},
  {"Bidirectional(LSTM) with a mask", 35, {10, 3}, function()
    return {ln.layers.Masking{mask_value = 0, input_shape = {10, 3}},
            ln.layers.Bidirectional{ln.layers.LSTM{12}}}
  end},
  {"LSTM and GRU with softsign (the cells in separate kernels), batch 35", 35, {10, 3}, function()
    return {ln.layers.Masking{mask_value = 0, input_shape = {10, 3}},
            ln.layers.LSTM{16, activation = "softsign", return_sequences = true},
            ln.layers.GRU{12, activation = "softsign", return_sequences = true},
            ln.layers.LSTM{8, recurrent_activation = "hard_sigmoid"}}
  end},
  {"LSTM, batch 64 (four slices on two threads)", 64, {10, 3}, function()
    return {ln.layers.LSTM{16, return_sequences = true, input_shape = {10, 3}}, ln.layers.GRU{8}}
  end},
  {"LSTM of 768 units (column blocks)", 32, {3, 3}, function()
    return {ln.layers.LSTM{768, input_shape = {3, 3}}}
  end},
}

for _, c in ipairs(team_cases) do
  local name, batch, shape, build = c[1], c[2], c[3], c[4]
  T.test("on a thread team, " .. name .. ": the bits of one thread", function()
    local n = name:find("stateful") and 64 or 4 * batch + 5
    local xs = masked_x(n, shape[1], shape[2], 11)
    local ys = ln.randn(n, 1)
    local function run(threads, mode)
      ln.set_num_threads(threads)
      ln.random.seed(4)
      local layers = build()
      layers[#layers + 1] = ln.layers.Dense{1}
      local m = ln.Sequential(layers)
      m:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.01}}
      m:_get_net():set_threading(mode)
      m:fit(xs, ys, {epochs = 2, batch_size = batch, verbose = 0, shuffle = false})
      return m, m:predict(xs, {batch_size = batch})
    end
    local m1, p1 = run(1, "serial")
    local m2, p2 = run(2, "team")
    T.ok(m2:_get_net():threading_stats().team_batches > 0, name .. ": no batch ran on the team")
    local w1, w2 = m1:get_weights(), m2:get_weights()
    for i = 1, #w1 do
      T.ok(w1[i]:equal(w2[i]), name .. ": weight " .. i .. " differs for 1 thread and the team")
    end
    T.ok(p1:equal(p2), name .. ": predictions differ for 1 thread and the team")
    ln.set_num_threads(2)
  end)
end

-- The final states as outputs on the team: c(T) comes from each slice's
-- rows, and the gradients of h and c start each slice's backward.
T.test("on a thread team, LSTM return_state trained through h and c: the bits of one thread", function()
  local xs, th, tc = masked_x(69, 10, 3, 12), ln.randn(69, 16), ln.randn(69, 16)
  local function run(threads, mode)
    ln.set_num_threads(threads)
    ln.random.seed(5)
    local inp = ln.Input{shape = {10, 3}}
    local _, h, c = table.unpack(ln.layers.LSTM{16, return_state = true}(inp))
    local m = ln.Model{inputs = inp, outputs = {h, c}}
    m:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.01}}
    m:_get_net().c:set_threading(mode) -- a graph model's net is its .c
    m:fit(xs, {th, tc}, {epochs = 2, batch_size = 32, verbose = 0, shuffle = false})
    return m, m:predict(xs, {batch_size = 32})
  end
  local m1, p1 = run(1, "serial")
  local m2, p2 = run(2, "team")
  T.ok(m2:_get_net().c:threading_stats().team_batches > 0, "no batch ran on the team")
  local w1, w2 = m1:get_weights(), m2:get_weights()
  for i = 1, #w1 do T.ok(w1[i]:equal(w2[i]), "weight " .. i .. " differs for 1 thread and the team") end
  T.ok(p1[1]:equal(p2[1]) and p1[2]:equal(p2[2]), "h or c differ for 1 thread and the team")
  ln.set_num_threads(2)
end)

T.test("weight names, shapes and Keras config keys", function()
  local m = ln.Sequential{ln.layers.LSTM{5, return_sequences = true, input_shape = {4, 3}, name = "lstm"},
                          ln.layers.GRU{2, name = "gru"}}
  local v = m.layers[1].variables
  T.eq(v[1].name, "lstm/lstm_cell/kernel:0")
  T.eq(v[2].name, "lstm/lstm_cell/recurrent_kernel:0")
  T.eq(v[3].name, "lstm/lstm_cell/bias:0")
  T.eq(table.concat(v[1].shape, ","), "3,20")
  T.eq(m.layers[1].recurrent_kernel.name, "lstm/lstm_cell/recurrent_kernel:0")
  T.eq(table.concat(m.layers[2].variables[3].shape, ","), "2,6")
  local cfg = m.layers[1]:get_config()
  T.eq(cfg.units, 5)
  T.eq(cfg.return_sequences, true)
  T.eq(cfg.unit_forget_bias, true)
  T.eq(cfg.recurrent_activation, "sigmoid")
  T.eq(m.layers[2]:get_config().reset_after, true)
end)

T.test("save / load in Keras's HDF5 layout", function()
  local ok = pcall(require, "lunet.h5")
  if not ok then T.skip("lunet.h5 not built") return end
  local dir = T.mktempdir("rnn")
  ln.random.seed(5)
  local m = ln.Sequential{
    ln.layers.Embedding{10, 4, input_shape = {6}},
    ln.layers.SimpleRNN{3, return_sequences = true},
    ln.layers.GRU{3, go_backwards = true, return_sequences = true},
    ln.layers.LSTM{2},
  }
  m:compile{loss = "mse", optimizer = "adam"}
  local xi = ln.tensor({{1, 2, 3, 0, 9, 4}, {5, 5, 1, 2, 8, 7}})
  local before = m:predict(xi)
  local path = dir .. "/rnn.h5"
  m:save(path)
  local m2 = ln.models.load_model(path)
  T.ok(m2:predict(xi):equal(before), "predictions differ after loading")
  T.eq(m2.layers[3]:get_config().go_backwards, true)
  local f = ln.h5.files.h5_open(path)
  local names = f:attr_strings("/model_weights/" .. m.layers[4].name, "weight_names")
  T.eq(names[1], m.layers[4].name .. "/lstm_cell/kernel:0")
  T.eq(names[3], m.layers[4].name .. "/lstm_cell/bias:0")
  f:close()
  os.remove(path)
end)

T.test("bad input gets clear errors", function()
  T.raises_as(function() ln.layers.LSTM{} end, {"units"})
  T.raises_as(function() ln.layers.GRU{4, time_major = true} end, {"time_major"})
  local m = ln.Sequential{ln.layers.Embedding{5, 2, input_shape = {3}}, ln.layers.LSTM{2}}
  T.raises_as(function() m:predict(ln.tensor({{1, 2, 7}})) end, {"index 7", "input_dim"})
  T.raises_as(function() ln.Sequential{ln.layers.GRU{2, input_shape = {4}}} end,
              {"timesteps, features"})
end)

T.test("a tf.keras 2.4 file with Embedding, LSTM, GRU, SimpleRNN predicts as float64", function()
  local dir = (os.getenv("LUNET_SOURCE_DIR") or "../..") .. "/tests/data/keras2-rnn"
  local m = ln.models.load_model(dir .. "/rnn_tf_keras_2.h5")
  local x = ln.io.read_h5(dir .. "/rnn_inputs_and_outputs.h5", "/inputs")
  local want = ln.io.read_h5(dir .. "/rnn_inputs_and_outputs.h5", "/predictions")
  local got = m:predict(x)
  local d = (got - want:float()):abs():max()
  T.ok(d < 1e-5, "max |lunet - float64 reference| = " .. tostring(d))
  T.eq(m.layers[3]:get_config().go_backwards, true)
  T.eq(m.layers[2].variables[2].name, "lstm/lstm_cell/recurrent_kernel:0")
end)

T.test("Bidirectional: Keras weights, fit, save and load", function()
  ln.random.seed(3)
  local m = ln.Sequential{
    ln.layers.Bidirectional{ln.layers.LSTM{4, return_sequences = true}, input_shape = {5, 2}},
    ln.layers.Bidirectional{ln.layers.GRU{3}, merge_mode = "sum"}, ln.layers.Dense{1}}
  T.eq(m.layers[1].output_shape[2], 8)
  T.eq(m:count_params(), 224 + 234 + 4) -- Keras's counts
  T.eq(m.layers[1].variables[4].name, m.layers[1].name .. "/backward_lstm/lstm_cell/kernel:0")
  m:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = 0.01}}
  local h = m:fit(x:narrow(2, 1, 5):reshape(512, 5, 1):cat(x:narrow(2, 4, 5), 3), y,
                  {epochs = 4, batch_size = 32, verbose = 0})
  local loss = h.history.loss
  T.ok(loss[#loss] < loss[1], "Bidirectional does not learn")
  local ok = pcall(require, "lunet.h5")
  if not ok then return end
  local dir = T.mktempdir("bidi")
  local xs = x:narrow(1, 1, 8):narrow(2, 1, 5):cat(x:narrow(1, 1, 8):narrow(2, 4, 5), 3)
  local p = m:predict(xs)
  m:save(dir .. "/b.h5")
  local m2 = ln.models.load_model(dir .. "/b.h5")
  T.ok(m2:predict(xs):equal(p), "Bidirectional predictions differ after loading")
  T.eq(m2.layers[2]:get_config().merge_mode, "sum")
  os.remove(dir .. "/b.h5")
  T.raises_as(function() ln.layers.Bidirectional{ln.layers.Dense{3}} end, {"LSTM"})
  T.raises_as(function() ln.layers.Bidirectional{ln.layers.GRU{3}, merge_mode = "max"} end,
              {"merge_mode"})
end)

T.test("ln.testing.gradcheck passes every cell and Bidirectional", function()
  ln.random.seed(5)
  local xs = ln.randn(2, 4, 3)
  for _, layer in ipairs{
    ln.layers.SimpleRNN{3}, ln.layers.LSTM{3, return_sequences = true}, ln.layers.GRU{3},
    ln.layers.LSTM{3, activation = "softsign"}, -- not tanh: the cell in separate kernels
    ln.layers.GRU{3, activation = "softsign"},
    ln.layers.GRU{3, reset_after = false, go_backwards = true},
    ln.layers.Bidirectional{ln.layers.LSTM{2}},
  } do
    local r = ln.testing.gradcheck(layer, xs, {raise = false})
    T.ok(r.ok and r.checked > 40, layer.name .. ": " .. r.msg)
  end
end)

-- A batch of 33 runs as two slices (17 and 16 rows): their weight
-- gradients are added after the loops.
T.test("ln.testing.gradcheck on a batch of two slices", function()
  ln.random.seed(6)
  local xs = ln.randn(33, 3, 2)
  for _, layer in ipairs{
    ln.layers.LSTM{2, return_sequences = true}, ln.layers.GRU{2},
    ln.layers.GRU{2, reset_after = false}, ln.layers.SimpleRNN{2, go_backwards = true},
  } do
    local r = ln.testing.gradcheck(layer, xs, {raise = false})
    T.ok(r.ok and r.checked > 40, layer.name .. ": " .. r.msg)
  end
end)

os.exit(T.summary("rnn"))
