-- fit{accumulate_steps = k} (issue 20) in one process: the optimizer steps
-- once per k batches on their row-weighted mean gradient, so k batches of
-- b rows update as one batch of k*b rows would (to float rounding); the
-- last, partial group of an epoch is applied at its end; stop_training
-- drops a partial group; the same with a Lua optimizer and batch
-- callbacks; accumulate_steps = 1 changes nothing; bad values are refused.
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

ln.random.seed(5)
local X = ln.randn(900, 12)
local Y = ln.matmul(X, ln.randn(12, 3)):argmax(2):int() - 1

local function model(opt)
  ln.random.seed(42)
  local m = ln.Sequential{ln.layers.Dense{10, activation = "relu", input_shape = {12}},
                          ln.layers.Dense{3, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = opt or ln.optimizers.SGD{learning_rate = 0.2},
            metrics = {"accuracy"}}
  return m
end

local function maxdiff(a, b)
  local m = 0
  for i, w in ipairs(a:get_weights()) do
    local d = (w - b:get_weights()[i]):abs():max()
    d = type(d) == "number" and d or d:item()
    if d > m then m = d end
  end
  return m
end

local function same(a, b)
  for i, w in ipairs(a:get_weights()) do
    local u, v = w:flatten():totable(), b:get_weights()[i]:flatten():totable()
    for j = 1, #u do
      if u[j] ~= v[j] then return false end
    end
  end
  return true
end

local function fit(m, opts)
  opts.verbose = 0
  ln.random.seed(7) -- the same shuffles
  return m:fit(X, Y, opts)
end

test("3 batches of 10 accumulated = 1 batch of 30 (900 rows: 30 updates per epoch)", function()
  local a, b = model(), model()
  fit(a, {epochs = 2, batch_size = 10, accumulate_steps = 3})
  fit(b, {epochs = 2, batch_size = 30})
  T.eq(a.optimizer.iterations, 60, "iterations")
  local d = maxdiff(a, b)
  check(d <= 1e-6, "max |diff| %g", d)
end)

test("the last, partial group of an epoch is applied at its end", function()
  -- 900 rows at batch 40: 23 batches (the last of 20 rows); groups of 4:
  -- 5 full groups and one of 3 batches (100 rows) = batches of 160, 160,
  -- 160, 160, 160, 100
  local a, b = model(), model()
  fit(a, {epochs = 1, batch_size = 40, accumulate_steps = 4, shuffle = false})
  fit(b, {epochs = 1, batch_size = 160, shuffle = false})
  T.eq(a.optimizer.iterations, 6, "iterations")
  T.eq(b.optimizer.iterations, 6, "iterations of the reference")
  local d = maxdiff(a, b)
  check(d <= 1e-6, "max |diff| %g", d)
end)

test("a Lua optimizer and batch callbacks accumulate alike", function()
  local LuaSGD = ln.optimizers.Optimizer:extend{
    name = "LuaSGD", default_learning_rate = 0.2,
    update = function(self, var, grad, slots, t, lr) var:copy(var - grad * lr) end,
  }
  local a, b, c = model(LuaSGD{}), model(), model()
  fit(a, {epochs = 1, batch_size = 10, accumulate_steps = 3})
  fit(b, {epochs = 1, batch_size = 10, accumulate_steps = 3,
          callbacks = {ln.callbacks.LambdaCallback{on_train_batch_end = function() end}}})
  fit(c, {epochs = 1, batch_size = 10, accumulate_steps = 3})
  T.eq(a.optimizer.iterations, 30, "Lua optimizer's iterations")
  check(maxdiff(a, c) <= 1e-6, "Lua optimizer: max |diff| %g", maxdiff(a, c))
  check(same(b, c), "batch callbacks change the numbers")
end)

test("stop_training drops the partial group", function()
  local a = model()
  local stopper = ln.callbacks.LambdaCallback{on_train_batch_end = function(batch)
    if batch == 4 then a.stop_training = true end
  end}
  fit(a, {epochs = 3, batch_size = 10, accumulate_steps = 3, callbacks = {stopper}})
  T.eq(a.optimizer.iterations, 1, "iterations (batches 0-2 applied, 3-4 dropped)")
end)

test("accumulate_steps = 1 is bitwise the plain fit; the net forgets it after fit", function()
  local a, b = model(), model()
  fit(a, {epochs = 1, batch_size = 32, accumulate_steps = 1})
  fit(b, {epochs = 1, batch_size = 32})
  check(same(a, b), "accumulate_steps = 1 changes the numbers")
  fit(a, {epochs = 1, batch_size = 32, accumulate_steps = 2})
  fit(a, {epochs = 1, batch_size = 32})
  fit(b, {epochs = 1, batch_size = 64})
  fit(b, {epochs = 1, batch_size = 32})
  check(maxdiff(a, b) <= 1e-6, "after an accumulating fit: %g", maxdiff(a, b))
  T.eq(a.optimizer.iterations, b.optimizer.iterations, "iterations")
end)

test("per_rank_batch in one process is batch_size", function()
  local a, b = model(), model()
  fit(a, {epochs = 1, batch_size = 32, per_rank_batch = true})
  fit(b, {epochs = 1, batch_size = 32})
  check(same(a, b), "per_rank_batch changes a single process's fit")
end)

test("bad values are refused, naming the option", function()
  local m = model()
  T.raises(function() m:fit(X, Y, {accumulate_steps = 0, verbose = 0}) end, "accumulate_steps")
  T.raises(function() m:fit(X, Y, {accumulate_steps = 1.5, verbose = 0}) end, "accumulate_steps")
  T.raises(function() m:fit(X, Y, {accumulate_steps = "2", verbose = 0}) end, "accumulate_steps")
  T.raises(function() m:fit(X, Y, {per_rank_batch = 1, verbose = 0}) end, "per_rank_batch")
  T.eq(m.optimizer.iterations, 0, "nothing trained")
end)

T.summary("test_fit_accumulate")
