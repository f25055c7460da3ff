-- BatchNormalization's fused passes (plugins/layers/batch_normalization.c)
-- on 1 and 2 threads: one task per block of features runs every pass of the
-- block, in a team from BN_TEAM_MIN elements and on one thread below; the
-- finished dgamma/dbeta blocks go to the early update. Training with 1
-- thread, 2 threads serial and 2 threads on the team must give bitwise the
-- same weights (moving statistics included) and predictions, and the early
-- update must equal apply_gradients after backward -- for layer sizes below
-- and above the team threshold, the chunked sums (many rows, few features),
-- frozen BN (inference-mode backward), and scale/center switched off.
-- Run as `lunet test_bn_threads.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"

ln.random.seed(11)
local N = 512
local x = ln.randn({N, 16, 28}) * 2 + 0.5
local y = (ln.rand({N}) * 10):floor():int()

local L = ln.layers
local builds = {
  -- BN(448) on the input (batch 128: 57k elements; batch 256: 115k, the team),
  -- BN(300) and BN(100) after Dense layers, as experiment 2
  exp2 = function()
    return {L.Flatten{input_shape = {16, 28}}, L.BatchNormalization{},
            L.Dense{300, activation = "relu"}, L.BatchNormalization{momentum = 0.9},
            L.Dense{100, activation = "relu"}, L.BatchNormalization{gamma_regularizer = {l2 = 1e-3}},
            L.Dense{10, activation = "softmax"}}
  end,
  -- features = 28 over batch x 16 rows (4096 rows at batch 256: the chunked sums)
  rows = function()
    return {L.BatchNormalization{input_shape = {16, 28}}, L.Flatten{},
            L.Dense{10, activation = "softmax"}}
  end,
  -- a frozen BN (inference-mode backward: dx = dy k) and one without scale / center
  frozen = function()
    local frozen = L.BatchNormalization{}
    frozen.trainable = false
    return {L.Flatten{input_shape = {16, 28}}, L.Dense{200, activation = "relu"}, frozen,
            L.Dense{150}, L.BatchNormalization{scale = false},
            L.Dense{120}, L.BatchNormalization{center = false},
            L.Dense{10, activation = "softmax"}}
  end,
}

local function adam() return ln.optimizers.Adam{learning_rate = 1e-3} end
-- an apply_gradients on the instance keeps fit from updating during backward
local function adam_after()
  local o = adam()
  local apply = o.apply_gradients
  o.apply_gradients = function(self, pairs_) return apply(self, pairs_) end
  return o
end

local function run(build, threads, mode, batch, optimizer)
  ln.set_num_threads(threads)
  ln.random.seed(5)
  local m = ln.Sequential(builds[build]())
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = optimizer(), metrics = {"accuracy"}}
  m:_get_net():set_threading(mode)
  local h = m:fit(x, y, {epochs = 2, batch_size = batch, verbose = 0})
  local p = m:predict(x:narrow(1, 1, 100), {batch_size = 50})
  ln.set_num_threads(1)
  return {w = m:get_weights(), p = p, loss = h.history.loss}
end

local function same(a, b, what)
  T.eq(#b.w, #a.w, what .. ": weight count")
  for i = 1, #a.w do
    assert(a.w[i]:equal(b.w[i]), string.format("%s: weight %d differs", what, i))
  end
  assert(a.p:equal(b.p), what .. ": predictions differ")
  for e = 1, #a.loss do T.eq(b.loss[e], a.loss[e], what .. ": loss " .. e) end
end

for _, build in ipairs({"exp2", "rows", "frozen"}) do
  -- 112: the feature halves of a batch of 65-128 rows (lu_feature_halves)
  for _, batch in ipairs({32, 112, 256}) do
    T.test(string.format("%s, batch %d: 1 thread, 2 serial, 2 team agree bitwise", build, batch),
           function()
      local ref = run(build, 1, "serial", batch, adam)
      assert(ref.loss[2] == ref.loss[2] and ref.loss[2] < ref.loss[1], "training progresses")
      same(ref, run(build, 2, "serial", batch, adam), "2 threads serial")
      same(ref, run(build, 2, "team", batch, adam), "2 threads team")
    end)
  end
end

T.test("exp2, batch 256: the early update of gamma/beta equals the update after backward",
       function()
  local early = run("exp2", 2, "team", 256, adam)
  same(early, run("exp2", 2, "team", 256, adam_after), "after backward, team")
  same(early, run("exp2", 1, "serial", 256, adam_after), "after backward, 1 thread")
end)

T.test("the moving statistics follow the batches (training) and stay frozen", function()
  local r = run("frozen", 2, "team", 256, adam)
  -- frozen BN: weights 3..6 (gamma, beta, moving mean, variance) at their initial values
  T.eq(r.w[3]:min(), 1, "frozen gamma")
  T.eq(r.w[5]:max(), 0, "frozen moving mean")
  local e = run("exp2", 2, "team", 256, adam)
  assert(e.w[3]:abs():max() > 0, "the input BN's moving mean moved")
end)

T.summary("test_bn_threads")
