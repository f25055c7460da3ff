-- Keras 2's sample_weight and class_weight in fit and evaluate: the
-- trained weights against a float64 reference that weighs the per-sample
-- losses, all-ones weights bitwise equal to no weights, class_weight
-- bitwise equal to its sample_weight, 1 vs 2 threads, weighted evaluate,
-- validation weights, several outputs, and bad weights named.
-- Run as `lunet test_sample_weight.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, near, raises = T.test, T.eq, T.near, T.raises_as

local function same_weights(a, b, what)
  eq(#a, #b, what .. ": weight counts")
  for i = 1, #a do assert(a[i]:equal(b[i]), what .. ": weight " .. i .. " differs") end
end

-- a linear regression: x (8, 3), y (8, 1), per-sample weights
local N, D = 8, 3
ln.random.seed(7)
local X, Y = ln.randn({N, D}), ln.randn({N, 1})
local W = {0.5, 2, 0, 1, 3, 0.25, 1.5, 1}

local function linear(seed)
  ln.random.seed(seed or 3)
  local m = ln.Sequential{ln.layers.Dense{1, input_shape = {D}}}
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.1}}
  return m
end

test("weighted mse + SGD equals a float64 reference", function()
  local m = linear()
  local k0, b0 = m:get_weights()[1]:totable(), m:get_weights()[2]:totable()
  m:fit(X, Y, {sample_weight = ln.tensor(W), batch_size = 4, epochs = 2, shuffle = false,
               verbose = 0})
  -- reference: loss = sum_i w_i (p_i - y_i)^2 / batch size
  local k, b = {}, b0[1]
  for j = 1, D do k[j] = k0[j][1] end
  local x, y = X:totable(), Y:totable()
  for _ = 1, 2 do
    for s = 0, N - 1, 4 do
      local gk, gb = {0, 0, 0}, 0
      for i = s + 1, s + 4 do
        local p = b
        for j = 1, D do p = p + k[j] * x[i][j] end
        local g = W[i] * 2 * (p - y[i][1]) / 4
        for j = 1, D do gk[j] = gk[j] + g * x[i][j] end
        gb = gb + g
      end
      for j = 1, D do k[j] = k[j] - 0.1 * gk[j] end
      b = b - 0.1 * gb
    end
  end
  local got = m:get_weights()
  for j = 1, D do near(got[1]:totable()[j][1], k[j], 1e-5, "kernel " .. j) end
  near(got[2]:totable()[1], b, 1e-5, "bias")
end)

test("all-ones weights train bitwise as no weights", function()
  local a = linear()
  a:fit(X, Y, {batch_size = 3, epochs = 3, verbose = 0})
  local b = linear()
  b:fit(X, Y, {batch_size = 3, epochs = 3, verbose = 0, sample_weight = ln.ones({N})})
  same_weights(a:get_weights(), b:get_weights(), "ones")
end)

test("evaluate weighs each sample's loss, divides by the sample count", function()
  local m = linear()
  local want = 0
  for i = 1, N do
    local li = m:evaluate(X:narrow(1, i, 1), Y:narrow(1, i, 1), {verbose = 0})
    want = want + W[i] * li
  end
  want = want / N
  near(m:evaluate(X, Y, {sample_weight = W, verbose = 0, batch_size = 3}), want, 1e-6,
       "weighted evaluate")
  -- the weights do not stay on the model
  local plain = m:evaluate(X, Y, {verbose = 0})
  assert(math.abs(plain - want) > 1e-4, "unweighted evaluate after a weighted one")
end)

-- a classifier: 3 classes, sparse and one-hot labels
local C = 3
ln.random.seed(11)
local XC = ln.randn({30, 4})
local labels = {}
for i = 1, 30 do labels[i] = (i * 7) % C end
local YS = ln.tensor(labels, "int32")
local YH = ln.zeros({30, C})
for i = 1, 30 do YH[i][labels[i] + 1] = 1 end
local CW = {[0] = 1.0, [1] = 5.0, [2] = 0.5}
local SWC = {}
for i = 1, 30 do SWC[i] = CW[labels[i]] end

local function classifier(loss, threads)
  ln.set_num_threads(threads or 2)
  ln.random.seed(5)
  local m = ln.Sequential{ln.layers.Dense{8, activation = "relu", input_shape = {4}},
                          ln.layers.Dense{C, activation = "softmax"}}
  m:compile{loss = loss, optimizer = ln.optimizers.Adam{learning_rate = 0.01},
            metrics = {"accuracy"}}
  return m
end

test("class_weight equals its sample_weight bitwise (sparse and one-hot)", function()
  for _, case in ipairs({{"sparse_categorical_crossentropy", YS},
                         {"categorical_crossentropy", YH}}) do
    local a = classifier(case[1])
    local ha = a:fit(XC, case[2], {class_weight = CW, epochs = 2, batch_size = 8, verbose = 0})
    local b = classifier(case[1])
    local hb = b:fit(XC, case[2], {sample_weight = SWC, epochs = 2, batch_size = 8, verbose = 0})
    same_weights(a:get_weights(), b:get_weights(), case[1])
    eq(ha.history.loss[2], hb.history.loss[2], case[1] .. " loss")
    local c = classifier(case[1])
    c:fit(XC, case[2], {epochs = 2, batch_size = 8, verbose = 0})
    assert(not c:get_weights()[1]:equal(a:get_weights()[1]), "class_weight had no effect")
  end
end)

test("class_weight and sample_weight multiply", function()
  local half = {}
  for i = 1, 30 do half[i] = (i % 2 == 0) and 2 or 0.5 end
  local both = {}
  for i = 1, 30 do both[i] = half[i] * SWC[i] end
  local a = classifier("sparse_categorical_crossentropy")
  a:fit(XC, YS, {class_weight = CW, sample_weight = half, epochs = 1, batch_size = 8, verbose = 0})
  local b = classifier("sparse_categorical_crossentropy")
  b:fit(XC, YS, {sample_weight = both, epochs = 1, batch_size = 8, verbose = 0})
  same_weights(a:get_weights(), b:get_weights(), "product")
end)

test("weighted fit is bitwise the same on 1 and 2 threads", function()
  local a = classifier("sparse_categorical_crossentropy", 1)
  a:fit(XC, YS, {class_weight = CW, epochs = 2, batch_size = 8, verbose = 0})
  local b = classifier("sparse_categorical_crossentropy", 2)
  b:fit(XC, YS, {class_weight = CW, epochs = 2, batch_size = 8, verbose = 0})
  same_weights(a:get_weights(), b:get_weights(), "threads")
end)

test("metrics stay unweighted; validation_data carries its own weights", function()
  local m = classifier("sparse_categorical_crossentropy")
  local _, acc = m:evaluate(XC, YS, {verbose = 0})
  local wl, wacc = m:evaluate(XC, YS, {verbose = 0, sample_weight = SWC})
  eq(wacc, acc, "accuracy")
  local h = m:fit(XC, YS, {epochs = 1, batch_size = 8, verbose = 0, shuffle = false,
                          validation_data = {XC, YS, SWC}})
  near(h.history.val_loss[1], m:evaluate(XC, YS, {verbose = 0, sample_weight = SWC}), 1e-6,
       "val_loss")
  assert(wl ~= select(1, m:evaluate(XC, YS, {verbose = 0})))
end)

test("several outputs: weights per output name, one vector for all", function()
  local function model()
    ln.random.seed(9)
    local inp = ln.Input{shape = {D}, name = "in"}
    local h = ln.layers.Dense{4, activation = "tanh"}(inp)
    local main = ln.layers.Dense{1, name = "main"}(h)
    local aux = ln.layers.Dense{1, name = "aux"}(h)
    local m = ln.Model{inputs = inp, outputs = {main, aux}}
    m:compile{loss = {"mse", "mse"}, optimizer = ln.optimizers.SGD{learning_rate = 0.05}}
    return m
  end
  local m = model()
  local aux0 = m:get_layer("aux"):get_weights()
  m:fit(X, {Y, Y}, {sample_weight = {aux = ln.zeros({N})}, epochs = 2, batch_size = 4,
                    verbose = 0})
  same_weights(m:get_layer("aux"):get_weights(), aux0, "aux with zero weights")
  local r = m:evaluate(X, {Y, Y}, {sample_weight = {aux = ln.zeros({N})}, verbose = 0,
                                   return_dict = true})
  eq(r.aux_loss, 0, "aux_loss")
  local a = model()
  a:fit(X, {Y, Y}, {sample_weight = W, epochs = 1, batch_size = 4, verbose = 0})
  local b = model()
  b:fit(X, {Y, Y}, {sample_weight = {W, W}, epochs = 1, batch_size = 4, verbose = 0})
  same_weights(a:get_weights(), b:get_weights(), "one vector = a list")
  raises(function() a:fit(X, {Y, Y}, {class_weight = CW, verbose = 0}) end,
         {"class_weight", "one output"})
  raises(function() a:fit(X, {Y, Y}, {sample_weight = {nope = W}, verbose = 0}) end,
         {"sample_weight", "no output named 'nope'"})
end)

test("bad weights are named", function()
  local m = linear()
  local function fit(o) o.verbose = 0; m:fit(X, Y, o) end
  raises(function() fit{sample_weight = {1, 2}} end, {"fit: sample_weight", "2 weights for 8"})
  local neg = {table.unpack(W)}; neg[3] = -1
  raises(function() fit{sample_weight = neg} end, {"sample_weight", "weight 3 is -1"})
  local nan = {table.unpack(W)}; nan[2] = 0 / 0
  raises(function() fit{sample_weight = ln.tensor(nan)} end, {"sample_weight", "weight 2"})
  raises(function() fit{sample_weight = ln.ones({N, 2})} end, {"sample_weight", "vector"})
  raises(function() m:evaluate(X, Y, {sample_weight = {1}, verbose = 0}) end,
         {"evaluate: sample_weight", "1 weights for 8"})
  raises(function() fit{validation_data = {X, Y, {1}}} end,
         {"validation_data: sample_weight", "1 weights"})
  local c = classifier("categorical_crossentropy")
  local function cfit(cw) c:fit(XC, YH, {class_weight = cw, verbose = 0}) end
  raises(function() cfit({[0] = 1, [1] = 1, [2] = 1, [3] = 1}) end,
         {"class_weight", "4 classes", "targets have 3"})
  raises(function() cfit({[0] = 1, [2] = 1}) end, {"class_weight", "class 1 is missing"})
  raises(function() cfit({[0] = 1, [1] = -2, [2] = 1}) end, {"class_weight", "class 1 is -2"})
  raises(function() cfit({a = 1}) end, {"class_weight", "key a"})
  raises(function() c:fit(XC, YS, {class_weight = {[0] = 1, [1] = 1}, verbose = 0}) end,
         {"class_weight", "label 2", "no weight"})
end)

-- the tape path (a model holding a Lua unit) weighs built-in losses as the
-- C path does: same seed, same history and weights to 1e-5
local Identity = ln.layers.Layer:extend{name = "Identity", call = function(_, x) return x end}

local function close_weights(a, b, tol, what)
  eq(#a, #b, what .. ": weight counts")
  for i = 1, #a do
    local x, y = a[i]:reshape({a[i]:numel()}):totable(), b[i]:reshape({b[i]:numel()}):totable()
    for j = 1, #x do near(x[j], y[j], tol, what .. ": weight " .. i .. "[" .. j .. "]") end
  end
end

local function close_history(ha, hb, tol, what)
  for k, v in pairs(ha.history) do
    assert(hb.history[k], what .. ": history key " .. k .. " missing on the tape path")
    for e = 1, #v do near(hb.history[k][e], v[e], tol, what .. ": " .. k .. "[" .. e .. "]") end
  end
end

test("tape path: class_weight and sample_weight with a built-in loss as the C path", function()
  local function model(lua)
    ln.set_num_threads(2)
    ln.random.seed(5)
    local layers = {ln.layers.Dense{8, activation = "relu", input_shape = {4}}}
    if lua then layers[#layers + 1] = Identity{} end
    layers[#layers + 1] = ln.layers.Dense{C, activation = "softmax"}
    local m = ln.Sequential(layers)
    m:compile{loss = "sparse_categorical_crossentropy", metrics = {"accuracy"},
              weighted_metrics = {"accuracy"}, optimizer = ln.optimizers.Adam{learning_rate = 0.01}}
    return m
  end
  local half = {}
  for i = 1, 30 do half[i] = (i % 2 == 0) and 2 or 0.5 end
  local opts = {class_weight = CW, sample_weight = half, epochs = 3, batch_size = 8,
                verbose = 0, validation_data = {XC, YS, SWC}}
  local a, b = model(false), model(true)
  ln.random.seed(1) -- (the same shuffles)
  local ha = a:fit(XC, YS, opts)
  ln.random.seed(1)
  local hb = b:fit(XC, YS, opts)
  assert(rawget(b._compiled, "net").tape and not rawget(a._compiled, "net").tape, "paths")
  close_history(ha, hb, 1e-5, "Sequential")
  close_weights(a:get_weights(), b:get_weights(), 1e-5, "Sequential")
  near(b:evaluate(XC, YS, {sample_weight = SWC, verbose = 0}),
       a:evaluate(XC, YS, {sample_weight = SWC, verbose = 0}), 1e-5, "evaluate")
end)

test("tape path: two outputs weighted per output name as the C path", function()
  local function model(lua)
    ln.random.seed(9)
    local inp = ln.Input{shape = {D}, name = "in"}
    local h = ln.layers.Dense{4, activation = "tanh"}(inp)
    if lua then h = Identity{}(h) end
    local main = ln.layers.Dense{1, name = "main"}(h)
    local aux = ln.layers.Dense{1, name = "aux"}(h)
    local m = ln.Model{inputs = inp, outputs = {main, aux}}
    m:compile{loss = {"mse", "mae"}, loss_weights = {0.9, 0.1}, weighted_metrics = {"mae"},
              optimizer = ln.optimizers.SGD{learning_rate = 0.05}}
    return m
  end
  local W2 = {}
  for i = 1, N do W2[i] = (i % 3) * 0.75 end
  local opts = {sample_weight = {main = ln.tensor(W), aux = W2}, epochs = 3, batch_size = 3,
                verbose = 0}
  local a, b = model(false), model(true)
  ln.random.seed(1)
  local ha = a:fit(X, {Y, Y}, opts)
  ln.random.seed(1)
  local hb = b:fit(X, {Y, Y}, opts)
  close_history(ha, hb, 1e-5, "two outputs")
  close_weights(a:get_weights(), b:get_weights(), 1e-5, "two outputs")
end)

test("train_on_batch and test_on_batch take sample_weight and class_weight", function()
  local a = classifier("sparse_categorical_crossentropy")
  local half = {}
  for i = 1, 30 do half[i] = (i % 2 == 0) and 2 or 0.5 end
  a:fit(XC, YS, {class_weight = CW, sample_weight = half, epochs = 1, batch_size = 30,
                 shuffle = false, verbose = 0})
  local b = classifier("sparse_categorical_crossentropy")
  b:train_on_batch(XC, YS, {class_weight = CW, sample_weight = half})
  same_weights(a:get_weights(), b:get_weights(), "one weighted batch")
  eq(b:test_on_batch(XC, YS, {sample_weight = SWC}),
     b:evaluate(XC, YS, {sample_weight = SWC, batch_size = 30, verbose = 0}), "test_on_batch")
  assert(b:test_on_batch(XC, YS) ~= b:test_on_batch(XC, YS, {sample_weight = SWC}),
         "the weights do not stay")
  raises(function() b:train_on_batch(XC, YS, {sample_weight = {1, 2}}) end,
         {"train_on_batch: sample_weight", "2 weights for 30"})
end)

ln.set_num_threads(2)
T.summary("sample_weight")
