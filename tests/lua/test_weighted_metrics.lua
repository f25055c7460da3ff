-- compile{weighted_metrics = ...} with Keras 2's semantics: the metrics
-- weigh each sample by sample_weight / class_weight (a weighted mean:
-- sum(w_i * m_i) / sum(w_i)), equal the unweighted ones without weights,
-- are named as Keras names them (the plain name, "weighted_" only when an
-- unweighted metric has it; "<output>_..." for several outputs), for a
-- Sequential and a functional model, on the C path and on the tape path
-- (a Lua loss, a Lua metric), in fit's history with validation weights;
-- a metric object's update_state(y, p, sample_weight); bad specs named.
-- Run as `lunet test_weighted_metrics.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, near, raises = T.test, T.eq, T.near, T.raises_as

-- a classifier: 3 classes, sparse labels, per-sample weights
local N, C = 30, 3
ln.random.seed(11)
local X = ln.randn({N, 4})
local labels = {}
for i = 1, N do labels[i] = (i * 7) % C end
local Y = ln.tensor(labels, "int32")
local W = {}
for i = 1, N do W[i] = (i % 4) * 0.5 + (i % 3 == 0 and 1.25 or 0) end
local CW = {[0] = 1.0, [1] = 5.0, [2] = 0.5}

local function classifier(opts)
  ln.random.seed(5)
  local m = ln.Sequential{ln.layers.Dense{8, activation = "relu", input_shape = {4}},
                          ln.layers.Dense{C, activation = "softmax"}}
  opts.loss = opts.loss or "sparse_categorical_crossentropy"
  opts.optimizer = ln.optimizers.Adam{learning_rate = 0.01}
  m:compile(opts)
  return m
end

-- float64 references from the model's predictions
local function refs(m, w)
  local p = m:predict(X, {verbose = 0}):totable()
  local hit, ce, sw, plain = 0, 0, 0, 0
  for i = 1, N do
    local best = 1
    for j = 2, C do if p[i][j] > p[i][best] then best = j end end
    local ok = (best - 1 == labels[i]) and 1 or 0
    local li = -math.log(math.max(p[i][labels[i] + 1], 1e-7))
    hit, ce, sw, plain = hit + w[i] * ok, ce + w[i] * li, sw + w[i], plain + ok
  end
  return hit / sw, ce / sw, plain / N
end

test("Sequential: weighted accuracy and crossentropy against float64 references", function()
  local m = classifier{metrics = {"accuracy"},
                       weighted_metrics = {"accuracy", "sparse_categorical_crossentropy"}}
  eq(table.concat(m.metrics_names, ","),
     "loss,accuracy,weighted_accuracy,sparse_categorical_crossentropy", "names")
  local r = m:evaluate(X, Y, {sample_weight = W, verbose = 0, return_dict = true, batch_size = 7})
  local wacc, wce, acc = refs(m, W)
  near(r.weighted_accuracy, wacc, 1e-12, "weighted_accuracy")
  near(r.sparse_categorical_crossentropy, wce, 1e-5, "weighted crossentropy")
  near(r.accuracy, acc, 1e-12, "accuracy stays unweighted")
  assert(math.abs(wacc - acc) > 1e-3, "the weights change the accuracy in this case")
  -- the loss: sum(w_i * L_i) / n, the weighted crossentropy: / sum(w_i)
  local sw = 0
  for i = 1, N do sw = sw + W[i] end
  near(r.loss, wce * sw / N, 1e-5, "loss")
end)

test("without weights the weighted metrics equal the unweighted ones", function()
  local m = classifier{metrics = {"accuracy", "sparse_categorical_crossentropy"},
                       weighted_metrics = {"accuracy", "sparse_categorical_crossentropy"}}
  local r = m:evaluate(X, Y, {verbose = 0, return_dict = true})
  eq(r.weighted_accuracy, r.accuracy, "accuracy")
  eq(r.weighted_sparse_categorical_crossentropy, r.sparse_categorical_crossentropy, "ce")
end)

test("class_weight weighs them; fit's history with validation weights", function()
  local m = classifier{metrics = {"acc"}, weighted_metrics = {"acc"}}
  local cw = {}
  for i = 1, N do cw[i] = CW[labels[i]] end
  local before = m:evaluate(X, Y, {sample_weight = cw, verbose = 0, return_dict = true})
  local h = m:fit(X, Y, {class_weight = CW, epochs = 1, batch_size = N, shuffle = false,
                         verbose = 0, validation_data = {X, Y, W}})
  -- one batch: the training metrics are those of the weights before the step
  near(h.history.weighted_acc[1], before.weighted_acc, 1e-12, "weighted_acc (class_weight)")
  near(h.history.acc[1], before.acc, 1e-12, "acc")
  local wacc = refs(m, W)
  near(h.history.val_weighted_acc[1], wacc, 1e-12, "val_weighted_acc")
  local keys = {}
  for k in pairs(h.history) do keys[#keys + 1] = k end
  table.sort(keys)
  eq(table.concat(keys, ","), "acc,loss,val_acc,val_loss,val_weighted_acc,weighted_acc", "keys")
end)

test("a weighted metric alone keeps its plain name", function()
  local m = classifier{weighted_metrics = {"accuracy"}}
  eq(table.concat(m.metrics_names, ","), "loss,accuracy", "names")
  local r = m:evaluate(X, Y, {sample_weight = W, verbose = 0, return_dict = true})
  near(r.accuracy, (refs(m, W)), 1e-12, "weighted")
end)

test("tape path (a Lua loss, a Lua metric) gives the C path's numbers", function()
  local function lua_acc(y, p) return ln.metrics.sparse_categorical_accuracy(y, p) end
  local function lua_ce(y, p)
    return ln.losses.sparse_categorical_crossentropy(y, p)
  end
  local a = classifier{metrics = {"accuracy"}, weighted_metrics = {"accuracy", "sparse_categorical_crossentropy"}}
  local b = classifier{loss = lua_ce, metrics = {"accuracy"},
                       weighted_metrics = {"accuracy", "sparse_categorical_crossentropy"}}
  local c = classifier{metrics = {"accuracy"}, weighted_metrics = {lua_acc}}
  local ra = a:evaluate(X, Y, {sample_weight = W, verbose = 0, return_dict = true, batch_size = 8})
  local rb = b:evaluate(X, Y, {sample_weight = W, verbose = 0, return_dict = true, batch_size = 8})
  near(rb.weighted_accuracy, ra.weighted_accuracy, 1e-12, "accuracy")
  near(rb.sparse_categorical_crossentropy, ra.sparse_categorical_crossentropy, 1e-6, "ce")
  near(rb.loss, ra.loss, 1e-5, "loss")
  local rc = c:evaluate(X, Y, {sample_weight = W, verbose = 0, return_dict = true, batch_size = 8})
  local name = c.metrics_names[3]
  near(rc[name], ra.weighted_accuracy, 1e-6, "a Lua function metric, weighted")
end)

test("metric objects: update_state(y, p, sample_weight)", function()
  local m = ln.metrics.BinaryAccuracy{}
  local y = ln.tensor({{1}, {0}, {1}, {0}})
  local p = ln.tensor({{0.9}, {0.8}, {0.2}, {0.1}})
  m:update_state(y, p, ln.tensor({1, 3, 0.5, 2}))
  near(m:result(), 3 / 6.5, 1e-12, "weighted binary accuracy")
  m:update_state(y, p)
  near(m:result(), (3 + 2) / (6.5 + 4), 1e-12, "then unweighted rows")
  local mse = ln.metrics.MeanSquaredError{}
  mse:update_state(y, p, {2, 0, 0, 0})
  near(mse:result(), 0.01, 1e-6, "a loss as a weighted metric")
  raises(function() m:update_state(y, p, ln.tensor({1, 2})) end,
         {"sample_weight", "one weight per sample"})
end)

-- two outputs: main (regression) and aux
local function two_outputs(opts)
  ln.random.seed(9)
  local inp = ln.Input{shape = {4}, name = "in"}
  local h = ln.layers.Dense{6, activation = "tanh"}(inp)
  local main = ln.layers.Dense{1, name = "main"}(h)
  local aux = ln.layers.Dense{1, name = "aux"}(h)
  local m = ln.Model{inputs = inp, outputs = {main, aux}}
  opts.loss = opts.loss or "mse"
  opts.optimizer = ln.optimizers.SGD{learning_rate = 0.05}
  m:compile(opts)
  return m
end
ln.random.seed(4)
local YR = ln.randn({N, 1})

local function weighted_mae(m, k, w)
  local p = m:predict(X, {verbose = 0})[k]:totable()
  local y = YR:totable()
  local s, sw = 0, 0
  for i = 1, N do
    s, sw = s + w[i] * math.abs(p[i][1] - y[i][1]), sw + w[i]
  end
  return s / sw
end

test("two outputs: Keras's names and per-output weights (C path and tape)", function()
  local spec = {metrics = {main = {"mae"}}, weighted_metrics = {"mae"}}
  local m = two_outputs(spec)
  eq(table.concat(m.metrics_names, ","),
     "loss,main_loss,aux_loss,main_mae,main_weighted_mae,aux_mae", "names")
  local W2 = {}
  for i = 1, N do W2[i] = (i % 5) / 2 end
  local r = m:evaluate(X, {YR, YR}, {sample_weight = {main = W, aux = W2}, verbose = 0,
                                     return_dict = true, batch_size = 8})
  near(r.main_weighted_mae, weighted_mae(m, 1, W), 1e-6, "main_weighted_mae")
  near(r.aux_mae, weighted_mae(m, 2, W2), 1e-6, "aux_mae (weighted)")
  local ones = {}
  for i = 1, N do ones[i] = 1 end
  near(r.main_mae, weighted_mae(m, 1, ones), 1e-6, "main_mae (unweighted)")
  -- the same through the tape (Lua losses)
  local function lua_mse(y, p) return (y - p):square():mean(2) end
  local t = two_outputs{loss = {lua_mse, lua_mse},
                        metrics = spec.metrics, weighted_metrics = spec.weighted_metrics}
  local rt = t:evaluate(X, {YR, YR}, {sample_weight = {main = W, aux = W2}, verbose = 0,
                                      return_dict = true, batch_size = 8})
  for _, k in ipairs({"main_mae", "main_weighted_mae", "aux_mae"}) do
    near(rt[k], r[k], 1e-6, "tape " .. k)
  end
  local h = m:fit(X, {YR, YR}, {sample_weight = W, epochs = 1, verbose = 0,
                                validation_data = {X, {YR, YR}, {W, W}}})
  assert(h.history.val_main_weighted_mae and h.history.val_aux_mae, "validation keys")
end)

test("saved in training_config and compiled again by load_model", function()
  local dir = T.mktempdir("lunet_weighted_metrics_")
  local m = two_outputs{metrics = {main = {"mae"}}, weighted_metrics = {"mae"}}
  local path = dir .. "/two.h5"
  m:save(path)
  local back = ln.models.load_model(path)
  eq(table.concat(back.metrics_names, ","), table.concat(m.metrics_names, ","), "names")
  local a = m:evaluate(X, {YR, YR}, {sample_weight = W, verbose = 0, return_dict = true})
  local b = back:evaluate(X, {YR, YR}, {sample_weight = W, verbose = 0, return_dict = true})
  for k, v in pairs(a) do eq(b[k], v, k) end
  local s = classifier{metrics = {"accuracy"}, weighted_metrics = "accuracy"}
  s:save(dir .. "/seq.h5")
  eq(table.concat(ln.models.load_model(dir .. "/seq.h5").metrics_names, ","),
     "loss,accuracy,weighted_accuracy", "Sequential names")
end)

test("bad weighted_metrics are named", function()
  raises(function() classifier{weighted_metrics = {"nope"}} end, {"compile", "nope"})
  raises(function() classifier{weighted_metrics = {out = {"acc"}}} end,
         {"weighted_metrics", "one output", "list"})
  local obj = ln.metrics.SparseCategoricalAccuracy{}
  raises(function() classifier{metrics = {obj}, weighted_metrics = {obj}} end,
         {"both metrics and weighted_metrics", "own instance"})
  raises(function() classifier{metrics = {"accuracy", "accuracy"}} end,
         {"history key 'accuracy'"})
  raises(function() two_outputs{weighted_metrics = {nope = {"mae"}}} end,
         {"weighted_metrics", "no output named 'nope'"})
end)

T.summary("weighted_metrics")
