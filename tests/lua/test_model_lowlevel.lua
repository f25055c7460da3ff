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

test("predict and evaluate read float32 rows in place and keep none", function()
  -- rows of 21 floats (84 bytes): a batch's first row is 64-byte aligned
  -- every 16 rows, so one predict reads some batches in place and copies
  -- the others into its buffer
  ln.random.seed(5)
  local m = ln.Sequential{ln.layers.Flatten{input_shape = {3, 7}},
                          ln.layers.Dense{6, activation = "tanh"},
                          ln.layers.Dense{4, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  local n = 70
  local x, y = ln.randn(n, 3, 7), (ln.rand(n) * 4):floor():byte()
  local keep = x:clone()
  local p = m:predict(x, {batch_size = 4})
  for s = 1, n, 4 do
    local k = math.min(4, n - s + 1)
    assert(p:narrow(1, s, k):equal(m:forward(x:narrow(1, s, k))), "rows from " .. s)
  end
  assert(x:equal(keep), "x is only read")
  -- the same rows one row further into their storage: the other batches in place
  local wide = ln.randn(n + 1, 3, 7)
  wide:narrow(1, 2, n):copy_(x)
  local shifted = wide:narrow(1, 2, n)
  assert(m:predict(shifted, {batch_size = 4}):equal(p), "the same rows elsewhere")
  eq(m:evaluate(shifted, y, {batch_size = 4, verbose = 0}),
     m:evaluate(x, y, {batch_size = 4, verbose = 0}), "evaluate")
  -- a backward pairs with a forward, not with what predict ran
  local ok, err = pcall(m.backward, m, ln.ones(n, 4))
  assert(not ok and tostring(err):match("backward without a forward"), tostring(err))
  -- the model holds no reference to x once predict and evaluate return
  local big = ln.rand(4096, 3, 7) -- 344 KB, every batch of 16 in place
  m:predict(big, {batch_size = 16})
  m:evaluate(big, (ln.rand(4096) * 4):floor():byte(), {batch_size = 16, verbose = 0})
  local freed = T.freed_bytes(ln, function() big = nil end)
  assert(freed >= 4096 * 21 * 4, "x's storage freed: " .. freed .. " bytes")
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
