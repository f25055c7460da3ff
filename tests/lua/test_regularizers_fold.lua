-- A weight regularizer's gradient folded into the optimizer's own pass
-- (plugin.h's update_reg, ABI 2.3; core/engine/net_update.c): fit with an
-- l1, l2 or l1_l2 kernel regularizer and SGD (plain, momentum, Nesterov),
-- Adam (and AMSGrad), AdamW, Adagrad, RMSprop (plain, centered, momentum),
-- Nadam, Adamax, Adadelta, Lion, Ftrl -- which fold it -- and an ABI 2.2
-- plugin -- which does not: the engine adds it in a pass of its own -- gives,
-- step by step, the weights and losses of a float64 reference of the rules; the
-- folded update equals the two-pass one to the bit, on 1 and 2 threads; the
-- penalty in the loss is layer:regularization_loss()'s number.
-- Run as `lunet test_regularizers_fold.lua` (cwd tests/lua, via ctest).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local H = dofile(here .. "/reg_harness.lua")

local B, D, O, N = 8, 20, 12, 32

local function data()
  ln.random.seed(5)
  return ln.rand{N, D} * 2 - 1, ln.rand{N, O} * 2 - 1
end

-- A linear Dense (mse): its kernel gradient is x^T 2 (x W + b - y) / (B O).
local function model_of(reg, optimizer)
  ln.random.seed(9)
  local m = ln.Sequential{ln.layers.Dense{O, input_shape = {D}, kernel_regularizer = reg}}
  m:compile{loss = "mse", optimizer = optimizer}
  return m
end

-- The optimizer rules (Keras's; plugins/optimizers/*.c), on one element:
-- state s (per element, a table), gradient g, step t; returns the new w.
local rules = {
  sgd = function(h) return function(w, g, s, t)
    if (h.momentum or 0) == 0 then return w - h.lr * g end
    local v = (h.momentum * (s.v or 0)) - h.lr * g
    s.v = v
    if h.nesterov then return w + h.momentum * v - h.lr * g end
    return w + v
  end end,
  adam = function(h) return function(w, g, s, t)
    local b1, b2, eps = 0.9, 0.999, 1e-7
    s.m = b1 * (s.m or 0) + (1 - b1) * g
    s.v = b2 * (s.v or 0) + (1 - b2) * g * g
    local v = s.v
    if h.amsgrad then s.vh = math.max(s.vh or 0, s.v); v = s.vh end
    local alpha = h.lr * math.sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
    return w - alpha * s.m / (math.sqrt(v) + eps)
  end end,
  adamw = function(h) return function(w, g, s, t)
    local b1, b2, eps = 0.9, 0.999, 1e-7
    s.m = b1 * (s.m or 0) + (1 - b1) * g
    s.v = b2 * (s.v or 0) + (1 - b2) * g * g
    local alpha = h.lr * math.sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
    return w * (1 - h.lr * h.wd) - alpha * s.m / (math.sqrt(s.v) + eps)
  end end,
  adagrad = function(h) return function(w, g, s, t)
    s.a = (s.a or 0.1) + g * g
    return w - h.lr * g / (math.sqrt(s.a) + 1e-7)
  end end,
  rmsprop = function(h) return function(w, g, s, t)
    local rho, eps, mu = 0.9, 1e-7, h.momentum or 0
    s.s = rho * (s.s or 0) + (1 - rho) * g * g
    local den = s.s
    if h.centered then
      s.mg = rho * (s.mg or 0) + (1 - rho) * g
      den = s.s - s.mg * s.mg
    end
    if mu == 0 then return w - h.lr * g / (math.sqrt(den) + eps) end
    s.p = mu * (s.p or 0) + h.lr * g / math.sqrt(den + eps)
    return w - s.p
  end end,
  nadam = function(h) return function(w, g, s, t)
    local b1, b2, eps = 0.9, 0.999, 1e-7
    local function mu(k) return b1 * (1 - 0.5 * 0.96 ^ (0.004 * k)) end
    local pi = 1
    for k = 1, t do pi = pi * mu(k) end
    s.m = b1 * (s.m or 0) + (1 - b1) * g
    s.v = b2 * (s.v or 0) + (1 - b2) * g * g
    local mbar = (1 - mu(t)) * g / (1 - pi) + mu(t + 1) * s.m / (1 - pi * mu(t + 1))
    return w - h.lr * mbar / (math.sqrt(s.v / (1 - b2 ^ t)) + eps)
  end end,
  adamax = function(h) return function(w, g, s, t)
    local b1, b2, eps = 0.9, 0.999, 1e-7
    s.m = b1 * (s.m or 0) + (1 - b1) * g
    s.u = math.max(b2 * (s.u or 0), math.abs(g))
    return w - h.lr / (1 - b1 ^ t) * s.m / (s.u + eps)
  end end,
  adadelta = function(h) return function(w, g, s, t)
    local rho, eps = 0.95, 1e-7
    s.a = rho * (s.a or 0) + (1 - rho) * g * g
    local delta = g * math.sqrt((s.d or 0) + eps) / math.sqrt(s.a + eps)
    s.d = rho * (s.d or 0) + (1 - rho) * delta * delta
    return w - h.lr * delta
  end end,
  lion = function(h) return function(w, g, s, t)
    local b1, b2 = 0.9, 0.99
    local c = b1 * (s.m or 0) + (1 - b1) * g
    local sign = c > 0 and 1 or (c < 0 and -1 or 0)
    s.m = b2 * (s.m or 0) + (1 - b2) * g
    return w * (1 - h.lr * (h.wd or 0)) - h.lr * sign
  end end,
  ftrl = function(h) return function(w, g, s, t)
    local n = s.n or 0.1
    local nn = n + g * g
    s.z = (s.z or 0) + g - (math.sqrt(nn) - math.sqrt(n)) / h.lr * w
    s.n = nn
    return -s.z / (math.sqrt(nn) / h.lr)
  end end,
}

-- Keras's training in float64: per batch the loss (mse + penalty of the
-- weights it ran with) and one update with the penalty's gradient.
local function reference(W, bias, x, y, l1, l2, rule)
  local losses, sw, sb = {}, {}, {}
  for i = 1, D do sw[i] = {} for k = 1, O do sw[i][k] = {} end end
  for k = 1, O do sb[k] = {} end
  for s = 0, N / B - 1 do
    local t = s + 1
    local dW, db, mse = {}, {}, 0
    for i = 1, D do dW[i] = {} for k = 1, O do dW[i][k] = 0 end end
    for k = 1, O do db[k] = 0 end
    for r = s * B + 1, s * B + B do
      for k = 1, O do
        local z = bias[k]
        for i = 1, D do z = z + x[r][i] * W[i][k] end
        local e = z - y[r][k]
        mse = mse + e * e / (B * O)
        local d = 2 * e / (B * O)
        db[k] = db[k] + d
        for i = 1, D do dW[i][k] = dW[i][k] + x[r][i] * d end
      end
    end
    local pen = 0
    for i = 1, D do
      for k = 1, O do
        local w = W[i][k]
        pen = pen + l1 * math.abs(w) + l2 * w * w
        local sign = w > 0 and 1 or (w < 0 and -1 or 0)
        W[i][k] = rule(w, dW[i][k] + l1 * sign + 2 * l2 * w, sw[i][k], t)
      end
    end
    for k = 1, O do bias[k] = rule(bias[k], db[k], sb[k], t) end
    losses[t] = mse + pen
  end
  return W, bias, losses
end

local regs = {
  {"l2", function() return ln.regularizers.l2(0.05) end, 0, 0.05},
  {"l1", function() return ln.regularizers.l1(0.02) end, 0.02, 0},
  {"l1_l2", function() return ln.regularizers.l1_l2{l1 = 0.01, l2 = 0.03} end, 0.01, 0.03},
}
local opts = {
  {"SGD", "sgd", {lr = 0.1}, function() return ln.optimizers.SGD{learning_rate = 0.1} end},
  {"SGD momentum", "sgd", {lr = 0.1, momentum = 0.9},
   function() return ln.optimizers.SGD{learning_rate = 0.1, momentum = 0.9} end},
  {"SGD nesterov", "sgd", {lr = 0.1, momentum = 0.9, nesterov = true},
   function() return ln.optimizers.SGD{learning_rate = 0.1, momentum = 0.9, nesterov = true} end},
  {"Adam", "adam", {lr = 0.01}, function() return ln.optimizers.Adam{learning_rate = 0.01} end},
  {"AMSGrad", "adam", {lr = 0.01, amsgrad = true},
   function() return ln.optimizers.Adam{learning_rate = 0.01, amsgrad = true} end},
  {"AdamW", "adamw", {lr = 0.01, wd = 0.05},
   function() return ln.optimizers.AdamW{learning_rate = 0.01, weight_decay = 0.05} end},
  {"Adagrad", "adagrad", {lr = 0.1},
   function() return ln.optimizers.Adagrad{learning_rate = 0.1} end},
  {"RMSprop", "rmsprop", {lr = 0.01}, function() return ln.optimizers.RMSprop{learning_rate = 0.01} end},
  {"RMSprop centered", "rmsprop", {lr = 0.01, centered = true},
   function() return ln.optimizers.RMSprop{learning_rate = 0.01, centered = true} end},
  {"RMSprop momentum", "rmsprop", {lr = 0.01, momentum = 0.9},
   function() return ln.optimizers.RMSprop{learning_rate = 0.01, momentum = 0.9} end},
  {"RMSprop centered momentum", "rmsprop", {lr = 0.01, momentum = 0.9, centered = true},
   function() return ln.optimizers.RMSprop{learning_rate = 0.01, momentum = 0.9, centered = true} end},
  {"Nadam", "nadam", {lr = 0.01}, function() return ln.optimizers.Nadam{learning_rate = 0.01} end},
  {"Adamax", "adamax", {lr = 0.01}, function() return ln.optimizers.Adamax{learning_rate = 0.01} end},
  {"Adadelta", "adadelta", {lr = 1}, function() return ln.optimizers.Adadelta{learning_rate = 1} end},
  {"Lion", "lion", {lr = 0.003, wd = 0.1},
   function() return ln.optimizers.Lion{learning_rate = 0.003, weight_decay = 0.1} end},
  {"Ftrl", "ftrl", {lr = 0.1}, function() return ln.optimizers.Ftrl{learning_rate = 0.1} end},
}

for _, o in ipairs(opts) do
  for _, r in ipairs(regs) do
    T.test(o[1] .. ", " .. r[1] .. ": fit step by step equals the float64 reference", function()
      local x, y = data()
      local m = model_of(r[2](), o[4]())
      local w0 = m:get_weights()
      local W, bias, losses = reference(w0[1]:totable(), w0[2]:totable(), x:totable(),
                                        y:totable(), r[3], r[4], rules[o[2]](o[3]))
      for s = 0, N / B - 1 do
        local l = m:train_on_batch(x:narrow(1, s * B + 1, B), y:narrow(1, s * B + 1, B))
        T.near(l, losses[s + 1], 2e-5 * (1 + math.abs(losses[s + 1])), "loss of batch " .. s + 1)
      end
      local w = m:get_weights()
      local kw, bw = w[1]:totable(), w[2]:totable()
      for i = 1, D do
        for k = 1, O do T.near(kw[i][k], W[i][k], 2e-5, "kernel " .. i .. "," .. k) end
      end
      for k = 1, O do T.near(bw[k], bias[k], 2e-5, "bias " .. k) end
      -- and fit gives the same bits as train_on_batch, its epoch loss the mean
      local m2 = model_of(r[2](), o[4]())
      local h = m2:fit(x, y, {epochs = 1, batch_size = B, shuffle = false, verbose = 0})
      for i, t in ipairs(m2:get_weights()) do
        assert(t:equal(w[i]), "fit and train_on_batch: weight " .. i .. " differs")
      end
      local mean = 0
      for _, l in ipairs(losses) do mean = mean + l / #losses end
      T.near(h.history.loss[1], mean, 2e-5 * (1 + math.abs(mean)), "epoch loss")
    end)
  end
end

-- Bigger (tests/lua/reg_harness.lua): fused (update_reg where the optimizer
-- has it) against two-pass (the engine regularizes in a pass of its own).
local function train(threads, reg, make_opt, unfused)
  return H.train{threads = threads, reg = reg, optimizer = make_opt, unfused = unfused,
                 rows = 128, shuffle = false}
end

for _, o in ipairs(opts) do
  for _, r in ipairs({regs[1], regs[3]}) do
    T.test(o[1] .. ", " .. r[1] .. ": folded and two-pass updates, 1 and 2 threads: bitwise", function()
      local m1, w1, l1 = train(1, r[2](), o[4])
      for _, v in ipairs({{2, false}, {1, true}, {2, true}}) do
        local _, w, l = train(v[1], r[2](), o[4], v[2])
        local what = string.format("%d thread(s)%s", v[1], v[2] and ", two-pass" or "")
        for i = 1, #w1 do assert(w1[i]:equal(w[i]), what .. ": weight " .. i .. " differs") end
        for e = 1, #l1 do T.eq(l[e], l1[e], what .. ": loss " .. e) end
      end
      -- the penalty the loss took from the update's pass is the layers' own sum
      local xb = ln.rand{32, 200} * 2 - 1
      local yb = (ln.rand{32} * 10):floor():int()
      local pen = m1.layers[1]:regularization_loss() + m1.layers[2]:regularization_loss()
      assert(pen > 0, "no penalty")
      local data_only = ln.Sequential{
        ln.layers.Dense{300, input_shape = {200}, activation = "relu"},
        ln.layers.Dense{10, activation = "softmax"}}
      data_only:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
      data_only:set_weights(m1:get_weights())
      T.eq(m1:regularization_loss(), pen, "the model's penalty: its layers'")
      local want = data_only:evaluate(xb, yb, {batch_size = 32, verbose = 0}) + pen
      T.near(m1:evaluate(xb, yb, {batch_size = 32, verbose = 0}), want, 1e-12 * want,
             "evaluate: data loss + penalty")
      -- (the fused runs' losses took the penalty from the update's pass, the
      -- two-pass ones summed it apart, ln_layer_regularization_loss: their
      -- equality above is that of the two sums)
    end)
  end
end

T.test("an optimizer plugin built for ABI 2.2 (no update_reg) loads, and regularizes bitwise as SGD", function()
  local dir = os.getenv("LUNET_TEST_PLUGIN_DIR")
  if not dir then error("LUNET_TEST_PLUGIN_DIR not set (run through ctest)") end
  ln.load_plugin(dir .. "/old_minor_optimizer.so")
  for _, r in ipairs(regs) do
    for _, threads in ipairs({1, 2}) do
      local _, w_new, l_new = train(threads, r[2](), function() return ln.optimizers.SGD{learning_rate = 0.05} end)
      local _, w_old, l_old = train(threads, r[2](), function() return ln.optimizers.TpOldSGD{learning_rate = 0.05} end)
      local what = r[1] .. ", " .. threads .. " thread(s)"
      for i = 1, #w_new do assert(w_new[i]:equal(w_old[i]), what .. ": weight " .. i .. " differs") end
      for e = 1, #l_new do T.eq(l_old[e], l_new[e], what .. ": loss " .. e) end
      local _, w_plain = train(threads, nil, function() return ln.optimizers.TpOldSGD{learning_rate = 0.05} end)
      assert(not w_plain[1]:equal(w_old[1]), what .. ": the regularizer changed nothing")
    end
  end
end)

T.summary("test_regularizers_fold")
