-- Units on the tape: every activation, loss and layer unit registered is
-- differentiated through its own backward. The tape's gradient must equal
-- the unit's direct backward exactly (those backwards have float64
-- gradient checks in the C suites), and a float32 finite-difference check
-- of the tape's gradient catches wiring mistakes (scales, rows, shapes).
-- Then: a layer called twice on one tape, a model of C layers through the
-- tape and through model:backward (the same numbers), regularizers, and
-- determinism for 1 and 2 threads.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq = T.test, T.eq

local function units(kind)
  local r = {}
  for _, p in ipairs(ln.plugins()) do
    if p.kind == kind then r[#r + 1] = p end
  end
  table.sort(r, function(a, b) return a.name < b.name end)
  return r
end

local function same(a, b, what)
  if not (a and b and a:equal(b)) then
    error(string.format("%s: %s vs %s", what, tostring(a), tostring(b)), 2)
  end
end

-- Float32 central differences of L(x) = sum(r * f(x)) against grad.
local function fd_check(what, f, x, r, grad)
  local step, scale, num = 1e-2, 0, {}
  local flat = x:reshape(x:numel())
  for k = 1, x:numel() do
    local x0 = flat[k]
    flat[k] = x0 + step
    local fp = (f(x) * r):sum()
    flat[k] = x0 - step
    local fm = (f(x) * r):sum()
    flat[k] = x0
    num[k] = (fp - fm) / (2 * step)
    scale = math.max(scale, math.abs(num[k]))
  end
  local g = grad:reshape(x:numel())
  for k = 1, x:numel() do
    if math.abs(num[k] - g[k]) > 1e-2 * scale + 2e-2 * math.abs(num[k]) + 1e-4 then
      error(string.format("%s: element %d: numeric %.6g, tape %.6g", what, k, num[k], g[k]), 2)
    end
  end
end

local function tape_grad(f, inputs, r)
  local tape = ln.GradientTape()
  local y = tape:run(function()
    for _, x in ipairs(inputs) do tape:watch(x) end
    return f(table.unpack(inputs))
  end)
  return tape:gradient(y, inputs, {output_gradients = r}), y
end

-- ---- activations ---------------------------------------------------------------------

for _, u in ipairs(units("activation")) do
  test("activation " .. u.name, function()
    ln.random.seed(11)
    local x = ln.rand(4, 5) * 3 - 1.5
    x = ln.where(x:abs():lt(0.05), 0.3, x) -- away from kinks at 0
    local f = ln.activations.get(u.name)
    local r = ln.rand(4, 5) - 0.5
    local g = tape_grad(f, {x}, r)
    same(g[1], ln.activations.gradient(u.name, x, r), u.name .. ": tape vs the unit's backward")
    fd_check(u.name, f, x, r, g[1])
  end)
end

-- ---- losses -----------------------------------------------------------------------------

local loss_data = {
  binary_crossentropy = function()
    return (ln.rand(6, 3):gt(0.5)):float(), ln.rand(6, 3) * 0.8 + 0.1
  end,
  categorical_crossentropy = function()
    return ln.one_hot(ln.tensor({0, 2, 1, 1, 0, 2}, "int32"), 3), (ln.rand(6, 3) + 0.2):softmax()
  end,
  sparse_categorical_crossentropy = function()
    return ln.tensor({0, 2, 1, 1, 0, 2}, "int32"), (ln.rand(6, 3) + 0.2):softmax()
  end,
  huber = function() return ln.rand(6, 3) * 4, ln.rand(6, 3) * 4 end,
  mean_absolute_error = function() return ln.rand(6, 3), ln.rand(6, 3) + 1.1 end,
  mean_squared_error = function() return ln.rand(6, 3), ln.rand(6, 3) end,
}

for _, u in ipairs(units("loss")) do
  test("loss " .. u.name, function()
    ln.random.seed(12)
    local make = loss_data[u.name]
    assert(make, "no test data for the loss unit " .. u.name .. ": add it to this test")
    local y, pred = make()
    local obj = ln.losses.get(u.name)
    -- the batch mean (a 0-d tensor on the tape)
    local g = tape_grad(function(p) return obj(y, p) end, {pred}, ln.tensor(1))
    local _, want = obj:compute(pred, y)
    same(g[1], want, u.name .. ": tape vs compute's gradient")
    fd_check(u.name, function(p) return ln.tensor(obj(y, p)) end, pred, ln.tensor(1), g[1])
    -- the per-sample function (Keras's loss functions)
    local fn = ln.losses[u.name]
    local r = ln.rand(6)
    local gs = tape_grad(function(p) return fn(y, p) end, {pred}, r)
    local expect = want * (r * 6):reshape(6, 1)
    assert(ln.allclose(gs[1], expect, 1e-5, 1e-7), u.name .. ": per-sample gradient")
    fd_check(u.name .. " per sample", function(p) return fn(y, p) end, pred, r, gs[1])
  end)
end

-- ---- layers ------------------------------------------------------------------------------

-- Each layer unit: its arguments and its inputs' shapes without the batch
-- axis (several for merge layers; Embedding's input holds indices).
local function rnn(args) return {args, {{5, 3}}} end
local image, seq = {{6, 6, 2}}, {{7, 2}}
local layer_cases = {
  Activation = {{"tanh"}}, AlphaDropout = {{0.3}}, BatchNormalization = {{}},
  Dense = {{3, activation = "elu"}}, Dropout = {{0.4}}, ELU = {{}}, Flatten = {{}},
  GaussianDropout = {{0.3}}, GaussianNoise = {{0.2}}, LeakyReLU = {{}}, PReLU = {{}},
  ReLU = {{}}, RReLU = {{}}, Softmax = {{}}, ThresholdedReLU = {{theta = 0.1}},
  LayerNormalization = {{}}, Reshape = {{{3, 2}}}, Permute = {{{2, 1}}},
  RepeatVector = {{3}, {{4}}},
  -- images (batch, rows, cols, channels) and sequences (batch, steps, channels)
  Conv2D = {{3, 3, padding = "same", activation = "relu"}, image},
  Conv2DTranspose = {{2, 3, strides = 2}, image},
  DepthwiseConv2D = {{3, depth_multiplier = 2}, image},
  SeparableConv2D = {{3, 3, depth_multiplier = 2}, image},
  AveragePooling2D = {{2}, image}, MaxPooling2D = {{2}, image},
  GlobalAveragePooling2D = {{}, image}, GlobalMaxPooling2D = {{}, image},
  Cropping2D = {{{{1, 0}, {0, 2}}}, image}, ZeroPadding2D = {{1}, image},
  UpSampling2D = {{2}, image}, SpatialDropout2D = {{0.4}, image},
  Conv1D = {{3, 3, strides = 2}, seq}, Conv1DTranspose = {{2, 3, strides = 2}, seq},
  AveragePooling1D = {{2}, seq}, MaxPooling1D = {{3, strides = 2}, seq},
  GlobalAveragePooling1D = {{}, seq}, GlobalMaxPooling1D = {{}, seq},
  Cropping1D = {{{1, 2}}, seq}, ZeroPadding1D = {{2}, seq}, UpSampling1D = {{2}, seq},
  SpatialDropout1D = {{0.4}, seq},
  -- recurrent layers: (batch, time, features)
  SimpleRNN = rnn{4, return_sequences = true}, LSTM = rnn{4, dropout = 0.2},
  GRU = rnn{3, recurrent_dropout = 0.3},
  Bidirectional = {{function() return ln.layers.LSTM{3, return_sequences = true} end}, {{5, 3}}},
  Embedding = {{10, 4}, {{6}}, indices = 10},
  TimeDistributed = {{function() return ln.layers.Dense{3, activation = "tanh"} end}, {{5, 3}}},
  Masking = {{mask_value = 0}, seq},
  Rescaling = {{1 / 255, offset = -0.5}},
  -- several inputs
  Add = {{}, {{3, 4}, {3, 4}, {3, 4}}}, Subtract = {{}, {{5}, {5}}},
  Multiply = {{}, {{2, 3}, {2, 3}}}, Average = {{}, {{4}, {4}, {4}}},
  Maximum = {{}, {{6}, {6}}, apart = true}, Minimum = {{}, {{6}, {6}}, apart = true},
  Concatenate = {{axis = 1}, {{2, 3}, {4, 3}}}, Dot = {{axes = 1, normalize = true}, {{4}, {4}}},
}

-- The layer's arguments (a function entry makes a fresh layer argument).
local function layer_of(name, case)
  local args = {}
  for k, v in pairs(case[1]) do args[k] = type(v) == "function" and v() or v end
  return ln.layers[name](args)
end

-- Inputs of 4 samples (indices below case.indices, as floats, for Embedding).
local function inputs_of(case)
  local xs = {}
  for i, s in ipairs(case[2] or {{2, 3}}) do
    local shape = {4, table.unpack(s)}
    if case.indices then xs[i] = (ln.rand(shape) * case.indices):floor()
    else xs[i] = ln.rand(shape) - 0.5 end
  end
  -- Maximum, Minimum: inputs 0.3 apart, away from the kink where they meet
  if case.apart then xs[2] = xs[1] + ln.where(ln.rand(xs[1]:shape()):gt(0.5), 0.3, -0.3) end
  return xs
end

for _, u in ipairs(units("layer")) do
  local name = u.class_name
  test("layer " .. name .. " (training and inference)", function()
    local case = layer_cases[name]
    assert(case, "no test case for the layer unit " .. name .. ": add it to layer_cases")
    local single = #(case[2] or {1}) == 1
    for _, training in ipairs{true, false} do
      ln.random.seed(13)
      local layer = layer_of(name, case)
      local xs = inputs_of(case)
      local x = single and xs[1] or xs
      local out = layer(x) -- builds it
      local vars = layer.trainable_variables
      local r = ln.rand(out:shape())
      local srcs = {}
      if not case.indices then for i, t in ipairs(xs) do srcs[i] = t end end
      local nx = #srcs
      for _, v in ipairs(vars) do srcs[#srcs + 1] = v end
      ln.random.seed(99)
      local tape = ln.GradientTape()
      local y = tape:run(function()
        for i = 1, nx do tape:watch(xs[i]) end
        return layer(x, {training = training})
      end)
      local g = tape:gradient(y, srcs, {output_gradients = r, unconnected_gradients = "zero"})
      if single then
        -- the tape gives the layer's own forward and backward exactly
        ln.random.seed(99)
        same(y, layer:forward(x, {training = training}), name .. " output")
        local dx = layer:backward(r)
        if nx == 1 then same(g[1], dx, name .. " dx") end
        for i, v in ipairs(vars) do same(g[nx + i], v.grad, name .. " " .. v.name) end
      else
        -- differences in float32 catch wiring mistakes (which input, which output)
        for i = 1, nx do
          local function f(t)
            local args = {table.unpack(xs)}
            args[i] = t
            ln.random.seed(99)
            return layer(single and args[1] or args, {training = training})
          end
          fd_check(name .. " input " .. i, f, xs[i], r, g[i])
        end
      end
    end
  end)
end

-- Merge layers called on real tensors outside a tape: a new tensor.
test("merge layers on a list of tensors", function()
  local a, b = ln.rand(3, 4), ln.rand(3, 4)
  same(ln.layers.Add{}({a, b}), a + b, "Add")
  local c = ln.layers.Concatenate{}({a, b})
  eq(c:shape()[2], 8, "Concatenate's width")
  same(c:narrow(2, 5, 4), b, "Concatenate's second part")
  T.raises_as(function() ln.layers.Add{}({a, "b"}) end, {"input 2", "not a tensor"})
  T.raises_as(function() ln.layers.Add{}({}) end, {"list of 0 inputs"})
end)

-- Built-in layers as Lua-class bases: a single-input base runs under the
-- tape; a merge layer below takes its list of inputs.
test("built-in layers as bases of Lua classes", function()
  local Scaled = ln.layers.Conv2D:extend{name = "ScaledConv",
    call = function(self, x, training) return ln.layers.Conv2D.call(self, x, training) * 2 end}
  local l = Scaled{2, 3}
  local x = ln.rand(2, 5, 5, 1)
  local tape = ln.GradientTape()
  local y = tape:run(function() tape:watch(x); return l(x) end)
  local g = tape:gradient(y, {x, l.trainable_variables[1]})
  assert(g[1] and g[2], "gradients through the built-in base")
  local MyAdd = ln.layers.Add:extend{name = "MyAdd"}
  local a = ln.rand(2, 3)
  same(MyAdd{}({a, x:reshape({2, -1}):narrow(2, 1, 3)}), a + x:reshape({2, -1}):narrow(2, 1, 3),
       "a subclass of Add adds its list of inputs")
  local Halved = ln.layers.Add:extend{name = "HalvedAdd",
    call = function(self, xs, training) return ln.layers.Add.call(self, xs, training) * 0.5 end}
  local h = Halved{}
  local t2 = ln.GradientTape()
  local y2 = t2:run(function() t2:watch(a); return h({a, a}):sum() end)
  same(t2:gradient(y2, {a})[1], ln.ones({2, 3}), "its gradient through the tape")
end)

-- ---- a layer called twice ---------------------------------------------------------------------

-- f(x) = L(g(L(x))) with one layer L, against the same with two copies of
-- L (equal weights): the shared layer's gradient is the sum of the copies'.
local function twice(name, make, g, training)
  test("a layer called twice on one tape: " .. name, function()
    ln.random.seed(21)
    local a = make()
    local x = ln.rand(5, 4) - 0.5
    a:build({4})
    local b = make()
    b:build({4})
    b:set_weights(a:get_weights())
    local r = ln.rand(5, 4)
    local function run(l1, l2)
      ln.random.seed(5)
      local tape = ln.GradientTape()
      local y = tape:run(function()
        tape:watch(x)
        return l2(g(l1(x, {training = training})), {training = training})
      end)
      local srcs = {x}
      for _, v in ipairs(l1.trainable_variables) do srcs[#srcs + 1] = v end
      for _, v in ipairs(l2.trainable_variables) do srcs[#srcs + 1] = v end
      local before = l1:get_weights()
      local grads = tape:gradient(y, srcs, {output_gradients = r})
      for i, w in ipairs(l1:get_weights()) do
        same(w, before[i], name .. ": weight " .. i .. " unchanged by the gradient")
      end
      return grads, y
    end
    local gs, ys = run(a, a)
    local gc, yc = run(a, b)
    same(ys, yc, name .. " output")
    same(gs[1], gc[1], name .. " dx")
    local nw = #a.trainable_variables
    for i = 1, nw do
      -- shared: listed twice, each entry the total
      local total = gc[1 + i] + gc[1 + nw + i]
      same(gs[1 + i], total, name .. " weight gradient " .. i)
      same(gs[1 + nw + i], total, name .. " weight gradient " .. i .. " (second entry)")
    end
  end)
end

local function tanh(t) return t:tanh() end
twice("Dense with swish (keeps its pre-activation)", function() return ln.layers.Dense{4, activation = "swish"} end, tanh, true)
twice("Dropout (keeps its mask)", function() return ln.layers.Dropout{0.5} end, tanh, true)
twice("BatchNormalization in training", function() return ln.layers.BatchNormalization{} end, tanh, true)
twice("PReLU", function() return ln.layers.PReLU{} end, tanh, false)

test("a layer run outside the tape between forward and gradient", function()
  ln.random.seed(22)
  local l = ln.layers.Dense{3, activation = "selu", input_shape = {4}}
  local x = ln.rand(6, 4)
  local tape = ln.GradientTape()
  local y = tape:run(function() tape:watch(x); return l(x):sum() end)
  local ref = ln.GradientTape()
  local y2 = ref:run(function() ref:watch(x); return l(x):sum() end)
  local want = ref:gradient(y2, x)
  l:forward(ln.rand(2, 4))       -- overwrites the layer's buffers
  same(tape:gradient(y, x), want, "gradient after another forward")
end)

-- ---- a model of C layers: tape vs model:backward ------------------------------------------------

test("a model of C layers: the tape's gradients are model:backward's", function()
  ln.random.seed(31)
  local model = ln.Sequential{
    ln.layers.Dense{16, activation = "relu", input_shape = {8}, kernel_regularizer = {l2 = 0.01}},
    ln.layers.BatchNormalization{},
    ln.layers.Dropout{0.3},
    ln.layers.LeakyReLU{},
    ln.layers.Dense{5, activation = "softmax", bias_regularizer = {l1 = 0.02}},
  }
  local x, y = ln.rand(12, 8), ln.tensor({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}, "int32")
  local loss_fn = ln.losses.SparseCategoricalCrossentropy{}
  ln.random.seed(7)
  local tape = ln.GradientTape()
  local loss = tape:run(function()
    local p = model(x, {training = true})
    local l = loss_fn(y, p)
    for _, r in ipairs(model.losses) do l = l + r end
    return l
  end)
  local vars = model.trainable_variables
  local grads = tape:gradient(loss, vars)
  ln.random.seed(7)
  local p = model:forward(x, {training = true})
  local l, dp = loss_fn:compute(p, y)
  model:backward(dp)
  T.near(loss:item(), l + model:regularization_loss(), 1e-5, "loss")
  for i, v in ipairs(vars) do same(grads[i], v.grad, v.name) end
end)

-- ---- determinism -------------------------------------------------------------------------------

test("a tape training loop gives the same weights for 1 and 2 threads", function()
  local function train(threads)
    ln.set_num_threads(threads)
    ln.random.seed(41)
    local w1 = ln.Variable(ln.initializers.get("he_normal"){200, 300})
    local b1 = ln.Variable(ln.zeros(300))
    local w2 = ln.Variable(ln.initializers.get("glorot_uniform"){300, 10})
    local x, y = ln.rand(256, 200), (ln.rand(256) * 10):int():reshape(256, 1) + 1
    local opt = ln.optimizers.Adam{}
    local act = ln.layers.Dropout{0.2}
    for _ = 1, 3 do
      local tape = ln.GradientTape()
      local loss = tape:run(function()
        local h = act((ln.matmul(x, w1) + b1):sigmoid(), {training = true})
        return -ln.matmul(h, w2):log_softmax():gather(2, y):mean() + w1:norm() * 1e-3
      end)
      local vars = {w1, b1, w2}
      opt:apply_gradients(ln.zip(tape:gradient(loss, vars), vars))
    end
    return {w1, b1, w2}
  end
  local one, two = train(1), train(2)
  ln.set_num_threads(2)
  for i = 1, 3 do same(one[i], two[i], "variable " .. i) end
end)

T.summary()
