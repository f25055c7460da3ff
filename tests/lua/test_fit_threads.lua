-- The threads of fit, evaluate and predict (core/engine/net_run.c,
-- core/parallel.c): serial and team mode, the automatic choice, runs of
-- batches in one C call, the fused optimizer update (whole and in blocks
-- during backward) and the per-batch paths give bitwise the same weights,
-- histories, evaluations and predictions, for 1 and 2 threads.
-- Run as `lunet test_fit_threads.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local x = (train.x:float() / 255):narrow(1, 1, 1600)
local y = train.y:narrow(1, 1, 1600)

-- A model using every path of the team code: Dense splits (fused and
-- unfused activations, logits), BatchNormalization's row blocks, Dropout,
-- a LeakyReLU layer, biases and a regularized kernel (updated after
-- backward, not in blocks).
local function model_of(optimizer)
  local L = ln.layers
  local m = ln.Sequential{
    L.Flatten{input_shape = {28, 28}},
    L.BatchNormalization{},
    L.Dense{96, activation = "selu", kernel_initializer = "lecun_normal"},
    L.Dropout{0.1},
    L.Dense{64, kernel_regularizer = {l2 = 1e-4}},
    L.LeakyReLU{},
    L.Dense{48, activation = "softmax"},     -- unfused activation (softmax)
    L.Dense{10, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = optimizer(),
            metrics = {"accuracy"}}
  return m
end

-- Train (and evaluate, predict) with `threads` OpenMP threads and the net's
-- threading mode; cb: an optional callback list (per-batch path).
local function run(threads, mode, optimizer, cbs)
  ln.set_num_threads(threads)
  ln.random.seed(7)
  local m = model_of(optimizer)
  local net = m:_get_net()
  net:set_threading(mode)
  local h = m:fit(x, y, {epochs = 2, batch_size = 32, verbose = 0, validation_split = 0.25,
                         callbacks = cbs})
  local ev = {m:evaluate(x, y, {batch_size = 50, verbose = 0})}
  local p = m:predict(x:narrow(1, 1, 300), {batch_size = 64})
  ln.set_num_threads(1)
  return {w = m:get_weights(), h = h, ev = ev, p = p, opt = m.optimizer}
end

local function same(a, b, what)
  T.eq(#a.w, #b.w, what .. ": weight count")
  for i = 1, #a.w do
    assert(a.w[i]:equal(b.w[i]), string.format("%s: weight %d differs", what, i))
  end
  for _, k in ipairs(a.h.keys) do
    for e = 1, #a.h.history[k] do
      T.eq(b.h.history[k][e], a.h.history[k][e], string.format("%s: %s[%d]", what, k, e))
    end
  end
  for i = 1, #a.ev do T.eq(b.ev[i], a.ev[i], what .. ": evaluate " .. i) end
  assert(a.p:equal(b.p), what .. ": predictions differ")
  T.eq(b.opt.iterations, a.opt.iterations, what .. ": optimizer iterations")
end

local optimizers = {
  sgd = function() return ln.optimizers.SGD{learning_rate = 0.01, momentum = 0.9} end,
  adam = function() return ln.optimizers.Adam{learning_rate = 1e-3} end,
  -- clipping: the update runs after backward, whole
  clipped = function() return ln.optimizers.RMSprop{learning_rate = 1e-3, clipnorm = 0.5} end,
}

for name, opt in pairs(optimizers) do
  T.test(name .. ": 1 thread, 2 threads serial, team and auto agree bitwise", function()
    local ref = run(1, "auto", opt)
    same(ref, run(2, "serial", opt), name .. " serial")
    same(ref, run(2, "team", opt), name .. " team")
    same(ref, run(2, "auto", opt), name .. " auto")
  end)
end

T.test("per-batch callbacks (one C call per batch) give the same training", function()
  local seen = 0
  local cb = {on_train_batch_end = function() seen = seen + 1 end,
              on_test_batch_begin = function() end,
              on_predict_batch_end = function() end}
  local ref = run(2, "team", optimizers.adam)
  same(ref, run(2, "team", optimizers.adam, {cb}), "callbacks")
  T.eq(seen, 2 * 38, "train batches seen by the callback")
end)

T.test("the update inside the C step equals apply_gradients after it", function()
  -- an apply_gradients set on the instance keeps fit from fusing the update
  local function unfused()
    local o = ln.optimizers.Adam{learning_rate = 1e-3}
    local apply = o.apply_gradients
    o.apply_gradients = function(self, pairs_) return apply(self, pairs_) end
    return o
  end
  local fused = run(2, "team", optimizers.adam)
  same(fused, run(2, "team", unfused), "unfused team")
  same(fused, run(1, "serial", unfused), "unfused serial")
end)

T.test("Dense(relu)'s own loop equals the relu plugin (Activation layer)", function()
  for _, act in ipairs({"relu", {name = "relu", max_value = 0.5, threshold = 0.1}}) do
    local function train(fused)
      ln.set_num_threads(1)
      ln.random.seed(3)
      local L = ln.layers
      local layers = {L.Flatten{input_shape = {28, 28}}}
      if fused then
        layers[#layers + 1] = L.Dense{40, activation = act}
      else
        layers[#layers + 1] = L.Dense{40}
        layers[#layers + 1] = L.Activation{act}
      end
      layers[#layers + 1] = L.Dense{10, activation = "softmax"}
      local m = ln.Sequential(layers)
      m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam"}
      m:fit(x:narrow(1, 1, 320) * 4 - 1, y:narrow(1, 1, 320), {epochs = 2, verbose = 0})
      return m:get_weights(), m:predict(x:narrow(1, 1, 64) * 4 - 1)
    end
    local w1, p1 = train(true)
    local w2, p2 = train(false)
    for i = 1, #w1 do assert(w1[i]:equal(w2[i]), "weight " .. i .. " differs") end
    assert(p1:equal(p2), "predictions differ")
  end
end)

T.test("threading modes: names and the mode in force", function()
  ln.set_num_threads(2)
  local m = model_of(optimizers.sgd)
  local net = m:_get_net()
  net:set_threading("team")
  T.eq(net:threading(), "team", "forced team")
  net:set_threading("serial")
  T.eq(net:threading(), "serial", "forced serial")
  T.raises(function() net:set_threading("both") end, "invalid option")
  ln.set_num_threads(1)
  net:set_threading("team")
  T.eq(net:threading(), "serial", "one thread is always serial")
end)

T.test("threading_stats: the batches each way and the probes, reset by set_threading", function()
  local xs, ys = x:narrow(1, 1, 320), y:narrow(1, 1, 320) -- 10 batches of 32
  local function fit_stats(threads, mode, epochs)
    ln.set_num_threads(threads)
    local m = model_of(optimizers.sgd)
    local net = m:_get_net()
    net:set_threading(mode)
    m:fit(xs, ys, {batch_size = 32, epochs = epochs, verbose = 0})
    ln.set_num_threads(1)
    return net:threading_stats(), net
  end
  local s = fit_stats(2, "serial", 2)
  T.eq(s.serial_batches, 20, "serial: every batch")
  T.eq(s.team_batches, 0, "serial: no team batch")
  T.eq(s.probes, 0, "serial: no probe")
  s = fit_stats(2, "team", 2)
  T.eq(s.serial_batches + s.team_batches, 20, "team: every batch counted once")
  assert(s.team_batches >= 18, "team: " .. s.team_batches .. " batches on the team")
  s = fit_stats(1, "team", 1)
  T.eq(s.team_batches, 0, "one thread: never a team")
  -- auto over enough batches to probe: every probe ends in a choice, or is
  -- still running when fit ends
  local net
  s, net = fit_stats(2, "auto", 12)
  T.eq(s.serial_batches + s.team_batches, 120, "auto: every batch counted once")
  assert(s.probes >= 1, "auto: no probe in 120 batches")
  local ended = s.team_chosen + s.serial_chosen
  assert(ended == s.probes or ended == s.probes - 1,
         string.format("auto: %d probes, %d choices", s.probes, ended))
  assert(s.team_dropped <= s.team_chosen, "auto: more team exploits dropped than chosen")
  assert(math.type(s.stalls_forgiven) == "integer" and s.stalls_forgiven <= s.team_batches,
         "auto: stalls_forgiven is a count of team batches")
  net:set_threading("auto")
  local z = net:threading_stats()
  for _, k in ipairs{"serial_batches", "team_batches", "probes", "team_chosen",
                     "serial_chosen", "team_dropped", "stalls_forgiven"} do
    T.eq(z[k], 0, "set_threading resets " .. k)
  end
end)

T.test("runs: a time budget stops early, errors name the batch", function()
  ln.set_num_threads(2)
  local m = model_of(optimizers.sgd)
  m:fit(x:narrow(1, 1, 32), y:narrow(1, 1, 32), {epochs = 1, verbose = 0})
  local net = m:_get_net()
  local bad_y = y:narrow(1, 1, 320):clone()
  bad_y[8] = 99 -- label out of range, in batch 1 (0-based 0)
  local d2, err, failed = net:train_run(x:narrow(1, 1, 320), bad_y, nil, 0, 320, 32, true)
  T.eq(d2, nil, "failed run")
  T.eq(failed, 0, "failing batch")
  assert(tostring(err):find("99"), "message names the label: " .. tostring(err))
  -- auto runs its serial segments as one thread (the OpenMP count is 1 for
  -- their length): the count is given back after a run, and after a run
  -- that failed inside such a segment (the net's 2nd batch, the first of
  -- its first wait: batches of 2 ms or more, under a sanitizer, end the
  -- wait after one when the batch sizing the buffers was long too, and a
  -- failed batch does not count)
  T.eq(net:threading(), "serial", "auto: still in its serial batches")
  T.eq(ln.get_num_threads(), 2, "thread count restored after a failed serial segment")
  local done, bad, _, loss = net:train_run(x, y, nil, 0, 320, 32, true, 3)
  T.eq(done, 3, "max_batches")
  T.eq(bad, nil, "no non-finite loss")
  assert(loss == loss and loss > 0, "last loss")
  done = net:train_run(x, y, nil, 0, 640, 32, true)
  T.eq(done, 20, "auto run")
  T.eq(ln.get_num_threads(), 2, "thread count restored after an auto run")
  ln.set_num_threads(1)
end)

T.summary("test_fit_threads")
