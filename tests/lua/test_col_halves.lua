-- The team's column halves (ln_parallel_half, include/lunet/parallel.h): a
-- batch of up to 64 rows with 256 features or more is cut at one fixed
-- column s by Flatten's copy, BatchNormalization's fused passes and
-- Dense's split sum, so on a 2-thread team each column stays on one core.
-- BatchNormalization runs the same two halves on one thread. Checked here: BN on such a batch is still batch
-- normalization (forward against the formula, dx by central differences,
-- dgamma/dbeta against their sums, features on both sides of s); Flatten's
-- halves copy exactly, forward and backward; and training through every
-- halved pass (float32 and int32 input, odd and short last batches) is
-- bitwise the same on 1 thread, a 2-thread team and auto.
-- Run as `lunet test_col_halves.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local L = ln.layers

local function maxdiff(a, b) return (a - b):abs():max() end

T.test("BN on a small wide batch (the column halves) is batch normalization", function()
  ln.random.seed(4)
  local rows, f = 6, 300                   -- cut at 160: features on both sides
  local bn = L.BatchNormalization{gamma_initializer = "random_normal",
                                  beta_initializer = "random_normal"}
  bn:build({f})
  local gamma, beta = bn:get_weights()[1], bn:get_weights()[2]
  local x = ln.randn({rows, f}) * 1.5 + 0.25
  local r = ln.rand({rows, f}) - 0.5
  local function fwd(t) return bn(t, {training = true}) end
  -- forward: (x - mean) / sqrt(var + eps) * gamma + beta, biased variance
  local mean = x:mean(1, true)
  local xc = x - mean
  local var = (xc * xc):mean(1, true)
  local xhat = xc / (var + 1e-3):sqrt()
  local d = maxdiff(fwd(x), xhat * gamma + beta)
  assert(d < 1e-4, "forward off by " .. d)
  -- gradients through the tape (the layer's backward)
  local tape = ln.GradientTape()
  local y = tape:run(function() tape:watch(x); return fwd(x) end)
  local g = tape:gradient(y, {x, bn.trainable_variables[1], bn.trainable_variables[2]},
                          {output_gradients = r})
  d = maxdiff(g[2], (r * xhat):sum(1))
  assert(d < 1e-4, "dgamma off by " .. d)
  d = maxdiff(g[3], r:sum(1))
  assert(d < 1e-5, "dbeta off by " .. d)
  -- dx: central differences on elements of both halves, every row
  local flat, gx = x:reshape(rows * f), g[1]:reshape(rows * f)
  local step = 1e-2
  for _, col in ipairs({1, 77, 159, 160, 161, 233, 300}) do
    for row = 1, rows do
      local k = (row - 1) * f + col
      local x0 = flat[k]
      flat[k] = x0 + step
      local fp = (fwd(x) * r):sum()
      flat[k] = x0 - step
      local fm = (fwd(x) * r):sum()
      flat[k] = x0
      local num = (fp - fm) / (2 * step)
      assert(math.abs(num - gx[k]) < 2e-2 * math.abs(num) + 2e-3,
             string.format("dx[%d, %d]: numeric %.6g, backward %.6g", row, col, num, gx[k]))
    end
  end
end)

local function with_threads(threads, mode, fn)
  ln.set_num_threads(threads)
  local ok, a, b = pcall(fn, mode)
  ln.set_num_threads(1)
  if not ok then error(a, 0) end
  return a, b
end

T.test("Flatten's halves copy exactly (forward, and backward into a Dense)", function()
  ln.random.seed(6)
  local x = ln.randn({70, 28, 28})
  for _, mode in ipairs({"serial", "team"}) do
    local p = with_threads(2, mode, function(m)
      local net = ln.Sequential{L.Flatten{input_shape = {28, 28}}}
      net:compile{loss = "mse", optimizer = "sgd"}
      net:_get_net():set_threading(m)
      return net:predict(x, {batch_size = 32})   -- 32, 32 and 6 rows
    end)
    assert(p:equal(x:reshape(70, 784)), mode .. ": Flatten is not a copy")
  end
end)

-- Models whose small-batch passes are cut at the halves (the gather goes
-- by rows, float32 or converted from int32): Flatten (forward; backward into a Dense on 3-D
-- input), BN(784), BN(320), BN(300), the split Dense layers.
local builds = {
  exp2 = function()
    return {L.Flatten{input_shape = {28, 28}}, L.BatchNormalization{},
            L.Dense{300, activation = "relu"}, L.BatchNormalization{momentum = 0.9},
            L.Dense{100, activation = "relu"}, L.BatchNormalization{},
            L.Dense{10, activation = "softmax"}}
  end,
  flat_back = function()
    return {L.Dense{8, activation = "tanh", input_shape = {40, 30}}, L.Flatten{},
            L.BatchNormalization{}, L.Dense{10, activation = "softmax"}}
  end,
}

local function train(build, x, y, threads, mode)
  return with_threads(threads, mode, function(m)
    ln.random.seed(9)
    local net = ln.Sequential(builds[build]())
    net:compile{loss = "sparse_categorical_crossentropy",
                optimizer = ln.optimizers.SGD{learning_rate = 0.05, momentum = 0.9},
                metrics = {"accuracy"}}
    net:_get_net():set_threading(m)
    net:fit(x, y, {epochs = 2, batch_size = 32, verbose = 0})     -- 11 x 32 + 17
    net:fit(x:narrow(1, 1, 33), y:narrow(1, 1, 33),
            {epochs = 1, batch_size = 32, verbose = 0})             -- 32 + 1
    return net:get_weights(), net:predict(x:narrow(1, 1, 50), {batch_size = 50})
  end)
end

T.test("training through the halves: 1 thread, a 2-thread team and auto bitwise", function()
  ln.random.seed(12)
  local y = (ln.rand({369}) * 10):floor():int()
  local inputs = {
    {"exp2 float32", "exp2", ln.randn({369, 28, 28})},
    {"exp2 int32", "exp2", (ln.rand({369, 28, 28}) * 255):floor():int()},
    {"Flatten backward", "flat_back", ln.randn({369, 40, 30})},
  }
  for _, c in ipairs(inputs) do
    local what, build, x = c[1], c[2], c[3]
    local w1, p1 = train(build, x, y, 1, "serial")
    for _, mode in ipairs({"team", "auto"}) do
      local w2, p2 = train(build, x, y, 2, mode)
      for i = 1, #w1 do
        assert(w1[i]:equal(w2[i]), string.format("%s, %s: weight %d differs", what, mode, i))
      end
      assert(p1:equal(p2), what .. ", " .. mode .. ": predictions differ")
    end
  end
end)

T.summary("test_col_halves")
