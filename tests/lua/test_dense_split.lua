-- Dense's split forward (plugins/layers/dense.c, dense_split): for batches up
-- to 128 rows of 256 inputs or more, x W + b is summed as two halves over the
-- kernel's rows, on any thread count. It is still the product (to float
-- rounding, against matmul), batches on either side of the 128-row limit
-- agree to rounding, and training with split layers is bitwise the same on
-- 1 thread and on a 2-thread team, including odd and 1-row last batches, at
-- batches of 32 and of 96 rows.
-- Run as `lunet test_dense_split.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local L = ln.layers

local function maxdiff(a, b) return (a - b):abs():max() end

T.test("the split forward is x W + b (rows below and above the split limit)", function()
  ln.random.seed(3)
  local m = ln.Sequential{L.Dense{37, input_shape = {300}, bias_initializer = "glorot_uniform"}}
  local w = m:get_weights()
  for _, rows in ipairs({1, 5, 64, 65, 128, 129, 200}) do
    local x = ln.rand({rows, 300}) - 0.5
    local ref = x:matmul(w[1]) + w[2]
    local d = maxdiff(m:predict(x, {batch_size = rows}), ref)
    assert(d < 1e-5, string.format("%d rows: off by %g", rows, d))
  end
end)

-- ln.matmul sums the same two halves (core/engine/gemm_team.c: on a team
-- each core then reads and updates its own half of a Lua layer's kernel),
-- from the shape alone: a Lua Dense's x W + b is the built-in's output to
-- the bit, on 1 thread, on a team and outside one on 2 threads (the halves
-- on the helper pool); past 128 rows neither splits.
T.test("ln.matmul(x, W) + b is Dense's output bitwise, split or not", function()
  for _, c in ipairs({{32, 784, 300}, {128, 300, 37}, {5, 520, 100}, {129, 300, 37}}) do
    local rows, k, n = c[1], c[2], c[3]
    ln.random.seed(rows + k)
    local m = ln.Sequential{L.Dense{n, input_shape = {k}, bias_initializer = "glorot_uniform"}}
    local w = m:get_weights()
    local x = ln.rand({rows, k}) - 0.5
    local ref = m:predict(x, {batch_size = rows})
    for _, threads in ipairs({1, 2}) do
      ln.set_num_threads(threads)
      local got = ln.autograd.team_run(function() return ln.matmul(x, w[1]) + w[2] end)
      assert(got:equal(ref), string.format("%d x %d x %d, %d threads: off by %g", rows, k, n,
                                           threads, maxdiff(got, ref)))
      got = ln.matmul(x, w[1]) + w[2] -- outside a team: the halves on the helper pool
      assert(got:equal(ref), string.format("%d x %d x %d, %d threads, no team: off by %g",
                                           rows, k, n, threads, maxdiff(got, ref)))
    end
    ln.set_num_threads(1)
  end
end)

local function train(threads, mode)
  ln.set_num_threads(threads)
  ln.random.seed(11)
  local m = ln.Sequential{
    L.Dense{300, input_shape = {520}},          -- split, no activation
    L.Dense{100, activation = "relu"},          -- split, fused activation
    L.Dense{40, activation = "softmax"},        -- not split (100 inputs)
  }
  m:compile{loss = "sparse_categorical_crossentropy",
            optimizer = ln.optimizers.SGD{learning_rate = 0.05, momentum = 0.9}}
  m:_get_net():set_threading(mode)
  ln.random.seed(12)
  local x = ln.rand({369, 520})           -- 11 batches of 32 and one of 17
  local y = (ln.rand({369}) * 40):floor():int()
  m:fit(x, y, {epochs = 2, batch_size = 32, verbose = 0})
  m:fit(x:narrow(1, 1, 33), y:narrow(1, 1, 33), {epochs = 1, batch_size = 32, verbose = 0})
  m:fit(x, y, {epochs = 1, batch_size = 96, verbose = 0}) -- 3 of 96 and one of 81
  local p = m:predict(x:narrow(1, 1, 50), {batch_size = 50})
  ln.set_num_threads(1)
  return m:get_weights(), p
end

T.test("training with split Dense layers: 1 thread and a 2-thread team bitwise", function()
  local w1, p1 = train(1, "serial")
  for _, mode in ipairs({"team", "auto"}) do
    local w2, p2 = train(2, mode)
    for i = 1, #w1 do
      assert(w1[i]:equal(w2[i]), string.format("%s: weight %d differs", mode, i))
    end
    assert(p1:equal(p2), mode .. ": predictions differ")
  end
end)

T.summary("test_dense_split")
