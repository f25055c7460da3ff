-- The low-level API fit is written on: a hand-written loop with
-- model:forward, loss:compute, model:backward and
-- optimizer:apply_gradients gives bitwise the same weights and losses as
-- fit (shuffle = false); train_on_batch / test_on_batch; layer-level
-- forward/backward; training-mode calls.
-- Run as `lunet test_model_lowlevel.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

ln.random.seed(8)
local X = ln.randn(100, 12)
local Y = (ln.rand(100) * 4):floor():byte()

local function net(seed)
  ln.random.seed(seed)
  return ln.Sequential{
    ln.layers.Dense{16, input_shape = {12}, kernel_initializer = "he_normal"},
    ln.layers.LeakyReLU{alpha = 0.2},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{4, activation = "softmax", kernel_regularizer = ln.regularizers.l2(1e-3)},
  }
end

test("a hand-written loop equals fit bitwise", function()
  local a = net(1)
  a:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.05},
            metrics = {"accuracy"}}
  local h = a:fit(X, Y, {epochs = 2, batch_size = 32, shuffle = false, verbose = 0})

  local b = net(1)
  local loss_fn = ln.losses.SparseCategoricalCrossentropy{}
  local opt = ln.optimizers.SGD{learning_rate = 0.05}
  local logits = b:uses_logits(loss_fn)
  eq(logits, true, "softmax + sparse CE fuse")
  local acc = ln.metrics.SparseCategoricalAccuracy{}
  for epoch = 1, 2 do
    local total, count = 0, 0
    acc:reset_state()
    for s = 1, 100, 32 do
      local n = math.min(32, 101 - s)
      local xb, yb = X:narrow(1, s, n), Y:narrow(1, s, n)
      local z = b:forward(xb, {training = true, logits = logits})
      local value, grad = loss_fn:compute(z, yb, {logits = logits})
      value = value + b:regularization_loss()
      acc:update_state(yb, ln.activations.softmax(z))
      b:backward(grad)
      opt:apply_gradients(b:grads_and_vars())
      total, count = total + value * n, count + n
    end
    eq(total / count, h.history.loss[epoch], "epoch " .. epoch .. " loss")
    eq(acc:result(), h.history.accuracy[epoch], "epoch " .. epoch .. " accuracy")
  end
  local wa, wb = a:get_weights(), b:get_weights()
  eq(#wa, #wb)
  for i = 1, #wa do assert(wa[i]:equal(wb[i]), "weight " .. i .. " differs") end
end)

test("shuffled: a loop over ln.randperm batches equals fit", function()
  local a = net(4)
  a:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.05}}
  local h = a:fit(X, Y, {epochs = 2, batch_size = 32, verbose = 0})
  local b = net(4)
  local loss_fn = ln.losses.get("sparse_categorical_crossentropy")
  local opt = ln.optimizers.SGD{learning_rate = 0.05}
  for epoch = 1, 2 do
    local perm = ln.randperm(100)
    local total = 0
    for s = 1, 100, 32 do
      local n = math.min(32, 101 - s)
      local idx = perm:narrow(1, s, n)
      local z = b:forward(X:index(1, idx), {training = true, logits = true})
      local value, grad = loss_fn:compute(z, Y:index(1, idx), {logits = true})
      value = value + b:regularization_loss() -- before the update, as fit
      b:backward(grad)
      opt:apply_gradients(b:grads_and_vars())
      total = total + value * n
    end
    eq(total / 100, h.history.loss[epoch], "epoch " .. epoch .. " loss")
  end
  local wa, wb = a:get_weights(), b:get_weights()
  for i = 1, #wa do assert(wa[i]:equal(wb[i]), "weight " .. i .. " differs") end
end)

test("train_on_batch, test_on_batch, predict_on_batch", function()
  local m = net(2)
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.1},
            metrics = {"accuracy"}}
  local l0, a0 = m:test_on_batch(X, Y)
  local tl, ta = m:train_on_batch(X, Y)
  eq(type(tl), "number"); eq(type(ta), "number")
  local l1 = m:test_on_batch(X, Y)
  assert(l1 < l0, "one step lowers the loss: " .. l0 .. " -> " .. l1)
  local d = m:test_on_batch(X, Y, {return_dict = true})
  eq(d.loss, l1)
  local p = m:predict_on_batch(X)
  assert(p:equal(m:predict(X)), "predict_on_batch")
  assert(a0 >= 0 and a0 <= 1)
end)

test("layer-level forward and backward", function()
  ln.random.seed(3)
  local d = ln.layers.Dense{5, input_shape = {3}}
  local x = ln.randn(4, 3)
  local y = d:forward(x, {training = true})
  eq(table.concat(y:shape(), ","), "4,5")
  local y2 = d:forward(x)
  eq(rawequal(y, y2), true, "the layer's own buffer is reused")
  local dx = d:backward(ln.ones(4, 5))
  eq(table.concat(dx:shape(), ","), "4,3")
  local v = d.variables
  -- dL/db = column sums of ones = 4; dL/dW = x^T 1
  assert(v[2].grad:equal(ln.full({5}, 4)), "bias gradient")
  local k = v[1].value
  local want_dx = ln.matmul(ln.ones(4, 5), k:t())
  assert(ln.allclose(dx, want_dx, 1e-6, 1e-6), "input gradient")
end)

test("training-mode calls and model(x)", function()
  ln.random.seed(4)
  ln.backend.clear_session()
  local m = ln.Sequential{ln.layers.Dense{32, input_shape = {8}}, ln.layers.Dropout{0.5}}
  local x = ln.ones(6, 8)
  local inf1, inf2 = m(x), m(x)
  assert(inf1:equal(inf2), "inference is deterministic")
  local tr = m(x, {training = true})
  assert(not tr:equal(inf1), "dropout active in training mode")
  local zeros = tr:eq(0):float():sum()
  assert(zeros > 0, "some units dropped")
  eq(#m.trainable_variables, 2)
  eq(m.trainable_variables[1].name, "dense/kernel:0")
  local gv = m:grads_and_vars()
  eq(#gv, 2); eq(gv[1].name, "dense/kernel")
  eq(m:grads_and_vars(), gv, "cached while nothing changes")
  m.layers[1].trainable = false
  eq(#m:grads_and_vars(), 0, "follows the trainable flags")
end)

T.summary()
