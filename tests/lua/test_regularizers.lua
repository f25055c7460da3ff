-- Weight regularizers in training (core/engine/layer_reg.c): fit with an
-- l1, l2 or l1_l2 kernel regularizer gives the weights and losses of a
-- float64 reference of Keras's rule (loss = data loss + penalty, gradient
-- with the penalty's), the fused update (the penalty's gradient added as
-- backward hands blocks over) equals the update applied after backward,
-- and 1 and 2 threads agree bitwise.
-- Run as `lunet test_regularizers.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local H = dofile(here .. "/reg_harness.lua")

local B, D, C, N, LR = 8, 6, 4, 32, 0.1

local function data()
  ln.random.seed(5)
  local x = ln.rand{N, D} * 2 - 1
  local y = ln.tensor((function()
    local t = {}
    for i = 1, N do t[i] = (i * 7 + 3) % C end
    return t
  end)()):int()
  return x, y
end

local function model_of(reg, optimizer)
  ln.random.seed(9)
  local m = ln.Sequential{ln.layers.Dense{C, input_shape = {D}, activation = "softmax",
                                          kernel_regularizer = reg}}
  m:compile{loss = "sparse_categorical_crossentropy",
            optimizer = optimizer or ln.optimizers.SGD{learning_rate = LR}}
  return m
end

-- Keras's rule in float64 on plain tables: one SGD step per batch of B
-- rows; returns the final kernel, bias and each batch's loss.
local function reference(W, bias, x, y, l1, l2)
  local losses = {}
  for s = 0, N / B - 1 do
    local dW, db, data_loss = {}, {}, 0
    for i = 1, D do dW[i] = {} for k = 1, C do dW[i][k] = 0 end end
    for k = 1, C do db[k] = 0 end
    for r = s * B + 1, s * B + B do
      local z, zmax = {}, -math.huge
      for k = 1, C do
        z[k] = bias[k]
        for i = 1, D do z[k] = z[k] + x[r][i] * W[i][k] end
        zmax = math.max(zmax, z[k])
      end
      local se = 0
      for k = 1, C do se = se + math.exp(z[k] - zmax) end
      for k = 1, C do
        local p = math.exp(z[k] - zmax) / se
        local d = (p - (k - 1 == y[r] and 1 or 0)) / B
        db[k] = db[k] + d
        for i = 1, D do dW[i][k] = dW[i][k] + x[r][i] * d end
      end
      data_loss = data_loss - (z[y[r] + 1] - zmax - math.log(se)) / B
    end
    local pen = 0
    for i = 1, D do
      for k = 1, C do
        local w = W[i][k]
        pen = pen + l1 * math.abs(w) + l2 * w * w
        local sign = w > 0 and 1 or (w < 0 and -1 or 0)
        W[i][k] = w - LR * (dW[i][k] + l1 * sign + 2 * l2 * w)
      end
    end
    for k = 1, C do bias[k] = bias[k] - LR * db[k] end
    losses[#losses + 1] = data_loss + pen
  end
  return W, bias, losses
end

local cases = {
  {"l2", ln.regularizers.l2(0.05), 0, 0.05},
  {"l1", ln.regularizers.l1(0.02), 0.02, 0},
  {"l1_l2", ln.regularizers.l1_l2{l1 = 0.01, l2 = 0.03}, 0.01, 0.03},
}

for _, c in ipairs(cases) do
  T.test(c[1] .. ": fit equals the float64 reference, loss includes the penalty", function()
    local x, y = data()
    local m = model_of(c[2])
    local w0 = m:get_weights()
    local W, bias, losses = reference(w0[1]:totable(), w0[2]:totable(), x:totable(),
                                      y:totable(), c[3], c[4])
    local h = m:fit(x, y, {epochs = 1, batch_size = B, shuffle = false, verbose = 0})
    local w = m:get_weights()
    local kw, bw = w[1]:totable(), w[2]:totable()
    for i = 1, D do
      for k = 1, C do T.near(kw[i][k], W[i][k], 1e-5, "kernel " .. i .. "," .. k) end
    end
    for k = 1, C do T.near(bw[k], bias[k], 1e-5, "bias " .. k) end
    local mean = 0
    for _, l in ipairs(losses) do mean = mean + l / #losses end
    T.near(h.history.loss[1], mean, 1e-5, "epoch loss (data loss + penalty)")
    -- and step by step: train_on_batch reports the batch's loss with the penalty
    local m2 = model_of(c[2])
    for s = 0, N / B - 1 do
      local l = m2:train_on_batch(x:narrow(1, s * B + 1, B), y:narrow(1, s * B + 1, B))
      T.near(l, losses[s + 1], 1e-5, "train_on_batch loss " .. s + 1)
    end
    for i, t in ipairs(m2:get_weights()) do
      assert(t:equal(w[i]), "train_on_batch and fit: weight " .. i .. " differs")
    end
  end)
end

-- A bigger model so that Dense hands its kernel over in several blocks.
local function train(threads, reg, unfused)
  local _, w, loss = H.train{threads = threads, reg = reg, unfused = unfused, rows = 256,
                             optimizer = function() return ln.optimizers.Adam{learning_rate = 1e-3} end}
  return w, loss
end

T.test("fused and after-backward updates, 1 and 2 threads: bitwise the same", function()
  local reg = ln.regularizers.l1_l2{l1 = 1e-4, l2 = 1e-3}
  local w1, l1 = train(1, reg)
  for _, v in ipairs({{2, false}, {1, true}, {2, true}}) do
    local w, l = train(v[1], reg, v[2])
    local what = string.format("%d thread(s)%s", v[1], v[2] and ", unfused" or "")
    for i = 1, #w1 do assert(w1[i]:equal(w[i]), what .. ": weight " .. i .. " differs") end
    for e = 1, #l1 do T.eq(l[e], l1[e], what .. ": loss " .. e) end
  end
  local w0 = train(1, nil)
  assert(not w0[1]:equal(w1[1]), "the regularizer changed nothing")
end)

-- The update sums the penalty of the weights it writes (core/engine/
-- net_update.c) and the next batch's loss takes it from there: that
-- number must be the penalty of the weights the batch really ran with.
local function big_model(reg, frozen)
  ln.random.seed(4)
  local L = ln.layers
  local m = ln.Sequential{
    L.Dense{300, input_shape = {200}, activation = "relu", kernel_regularizer = reg,
            trainable = not frozen},
    L.Dense{10, activation = "softmax", kernel_regularizer = reg}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.05}}
  return m
end

local function big_data()
  ln.random.seed(6)
  return ln.rand{96, 200} * 2 - 1, (ln.rand{96} * 10):floor():int()
end

T.test("the penalty in the loss follows weights set between runs", function()
  local x, y = big_data()
  local m = big_model(ln.regularizers.l2(0.01))
  m:fit(x, y, {epochs = 1, batch_size = 32, shuffle = false, verbose = 0})
  local w = m:get_weights()
  w[1] = w[1] * 3
  m:set_weights(w)
  local xb, yb = x:narrow(1, 1, 32), y:narrow(1, 1, 32)
  local want = m:evaluate(xb, yb, {batch_size = 32, verbose = 0})
  local got = m:train_on_batch(xb, yb)
  T.near(got, want, 1e-6 * math.abs(want), "loss with the weights just set")
  -- and for a fit right after a set_weights: its first batch's loss
  m:set_weights(w)
  local want2 = m:evaluate(xb, yb, {batch_size = 32, verbose = 0})
  local h = m:fit(xb, yb, {epochs = 1, batch_size = 32, shuffle = false, verbose = 0})
  T.near(h.history.loss[1], want2, 1e-6 * math.abs(want2), "fit's first batch after set_weights")
end)

T.test("a callback changing the weights between batches: the loss sees it", function()
  local function run(unfused)
    local x, y = big_data()
    local m = big_model(ln.regularizers.l2(0.01))
    if unfused then
      local opt = m.optimizer
      local apply = opt.apply_gradients
      opt.apply_gradients = function(self, p) return apply(self, p) end
    end
    local shrink = ln.callbacks.LambdaCallback{on_train_batch_end = function()
      local w = m:get_weights()
      w[1] = w[1] * 0.5
      m:set_weights(w)
    end}
    return m:fit(x, y, {epochs = 2, batch_size = 32, shuffle = false, verbose = 0,
                        callbacks = {shrink}}).history.loss
  end
  local fused, unfused = run(false), run(true)
  for e = 1, #fused do T.eq(fused[e], unfused[e], "loss " .. e) end
end)

T.test("a frozen regularized layer: fused and after-backward losses bitwise, 1 and 2 threads", function()
  local reg = ln.regularizers.l1_l2{l1 = 1e-3, l2 = 1e-2}
  local function run(threads, unfused)
    ln.set_num_threads(threads)
    local x, y = big_data()
    local m = big_model(reg, true)
    if unfused then
      local opt = m.optimizer
      local apply = opt.apply_gradients
      opt.apply_gradients = function(self, p) return apply(self, p) end
    end
    local h = m:fit(x, y, {epochs = 3, batch_size = 32, shuffle = false, verbose = 0})
    ln.set_num_threads(1)
    return m:get_weights(), h.history.loss
  end
  local w1, l1 = run(1, false)
  for _, v in ipairs({{2, false}, {1, true}, {2, true}}) do
    local w, l = run(v[1], v[2])
    local what = string.format("%d thread(s)%s", v[1], v[2] and ", unfused" or "")
    for i = 1, #w1 do assert(w1[i]:equal(w[i]), what .. ": weight " .. i .. " differs") end
    for e = 1, #l1 do T.eq(l[e], l1[e], what .. ": loss " .. e) end
  end
end)

T.summary("test_regularizers")
