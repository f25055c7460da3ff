-- Tests of compile/fit/evaluate/predict: learning on the Fashion-MNIST
-- sample, Keras's steps, validation, histories, metric resolution,
-- progress output and the errors users meet.
-- Run as `lunet test_fit.lua` (cwd tests/lua).
local ln = require "lunet"

local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = pcall(fn)
  if ok then passed = passed + 1
  else failed = failed + 1; io.stderr:write("FAIL ", name, ": ", tostring(err), "\n") end
end
local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: want %s, got %s", what or "mismatch", tostring(want), tostring(got)), 2)
  end
end
local function raises(fn, pattern, what)
  local ok, err = pcall(fn)
  if ok then error((what or "call") .. " did not raise", 2) end
  if not tostring(err):find(pattern, 1, true) then
    error(string.format("%s: error %q lacks %q", what or "call", tostring(err), pattern), 2)
  end
  return err
end

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local lunet_exe = arg and arg[-1] or "lunet"

-- The repo's Fashion-MNIST sample: 6,000 train / 1,000 test images.
local train, test_set = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local X_full, y_full = train.x:float() / 255, train.y
local X_valid, X_train = X_full:narrow(1, 1, 1000), X_full:narrow(1, 1001, 5000)
local y_valid, y_train = y_full:narrow(1, 1, 1000), y_full:narrow(1, 1001, 5000)
local X_test, y_test = test_set.x:float() / 255, test_set.y

local function mlp(out, act)
  return ln.Sequential{
    ln.layers.Flatten{input_shape = {28, 28}},
    ln.layers.Dense{64, activation = "relu", kernel_initializer = "he_normal"},
    ln.layers.Dense{out or 10, activation = act or "softmax"},
  }
end

-- Records how fit drives a callback.
local function recorder()
  local r = {batches = {}, epochs = {}, sizes = {}}
  r.on_train_batch_end = function(self, batch, logs) self.batches[#self.batches + 1] = batch end
  r.on_epoch_end = function(self, epoch, logs) self.epochs[#self.epochs + 1] = epoch end
  return r
end

test("a small model learns the Fashion-MNIST sample", function()
  ln.random.seed(42)
  local model = mlp()
  model:compile{loss = "sparse_categorical_crossentropy",
                optimizer = ln.optimizers.SGD{learning_rate = 0.05}, metrics = {"accuracy"}}
  local h = model:fit(X_train, y_train, {epochs = 3, verbose = 0,
                                         validation_data = {X_valid, y_valid}})
  eq(table.concat(h.keys, ","), "loss,accuracy,val_loss,val_accuracy", "history keys")
  eq(#h.history.loss, 3); eq(table.concat(h.epoch, ","), "0,1,2", "epochs")
  eq(h.params.steps, 157, "ceil(5000/32)")
  assert(h.history.loss[3] < h.history.loss[1], "loss decreases")
  assert(h.history.accuracy[3] > 0.6, "accuracy above chance: " .. h.history.accuracy[3])
  assert(h.history.val_accuracy[3] > 0.6, "val accuracy: " .. h.history.val_accuracy[3])
  local loss, acc = model:evaluate(X_test, y_test, {verbose = 0})
  assert(acc > 0.6 and loss < 1.2, "test: " .. loss .. " " .. acc)
  local d = model:evaluate(X_test, y_test, {verbose = 0, return_dict = true})
  eq(d.loss, loss); eq(d.accuracy, acc)
  eq(model.metrics_names[2], "accuracy")
end)

test("steps, the last partial batch and validation_split", function()
  ln.random.seed(1)
  local x, y = X_train:narrow(1, 1, 100), y_train:narrow(1, 1, 100)
  local model = mlp()
  model:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"acc"}}
  local r = recorder()
  local h = model:fit(x, y, {epochs = 2, verbose = 0, callbacks = {r}, validation_split = 0.2})
  eq(table.concat(r.batches, ","), "0,1,2,0,1,2", "80 train samples: 3 steps")
  eq(table.concat(h.keys, ","), "loss,acc,val_loss,val_acc", "names as written")
  -- the validation rows are the last 20, evaluated with the final weights
  local vl, va = model:evaluate(x:narrow(1, 81, 20), y:narrow(1, 81, 20), {verbose = 0})
  eq(h.history.val_loss[2], vl, "val_loss = evaluate on the last 20")
  eq(h.history.val_acc[2], va, "val_acc")
  r = recorder()
  model:fit(x, y, {epochs = 1, batch_size = 40, verbose = 0, callbacks = {r}, shuffle = false})
  eq(table.concat(r.batches, ","), "0,1,2", "100 at 40: 3 steps (last 20)")
  -- the epoch loss is the sample-weighted mean of the batch losses
  local losses = {}
  local probe = {on_train_batch_end = function(_, b, logs) losses[#losses + 1] = logs.loss end}
  ln.random.seed(5)
  local m2 = mlp()
  m2:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0}}
  local h2 = m2:fit(x, y, {batch_size = 40, verbose = 0, shuffle = false, callbacks = {probe}})
  -- with a zero learning rate each running mean folds in one more batch:
  -- after batch 3 the mean is (40 l1 + 40 l2 + 20 l3) / 100
  eq(#losses, 3)
  eq(h2.history.loss[1], losses[3], "epoch loss = last running mean")
end)

test("initial_epoch and validation_freq", function()
  ln.random.seed(3)
  local x, y = X_train:narrow(1, 1, 64), y_train:narrow(1, 1, 64)
  local model = mlp()
  model:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
  local r = recorder()
  local h = model:fit(x, y, {epochs = 4, initial_epoch = 2, verbose = 0, callbacks = {r}})
  eq(table.concat(h.epoch, ","), "2,3", "epochs 2 and 3 (0-based)")
  eq(table.concat(r.epochs, ","), "2,3")
  local seen = {}
  local probe = {on_epoch_end = function(_, e, logs) seen[#seen + 1] = logs.val_loss ~= nil end}
  model:fit(x, y, {epochs = 4, verbose = 0, validation_data = {x, y}, validation_freq = 2,
                   callbacks = {probe}})
  eq(table.concat({tostring(seen[1]), tostring(seen[2]), tostring(seen[3]), tostring(seen[4])}, ","),
     "false,true,false,true", "validation every 2nd epoch")
end)

test("accuracy resolves by shapes: sparse, categorical, binary", function()
  ln.random.seed(7)
  local x, y = X_train:narrow(1, 1, 256), y_train:narrow(1, 1, 256)
  local onehot = ln.utils.to_categorical(y, 10)
  local m = mlp()
  m:compile{loss = ln.losses.categorical_crossentropy, optimizer = "sgd", metrics = {"accuracy"}}
  local h = m:fit(x, onehot, {verbose = 0})
  local _, acc_cat = m:evaluate(x, onehot, {verbose = 0})
  local m_sp = ln.Sequential(m.layers)
  m_sp:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
  local _, acc_sp = m_sp:evaluate(x, y, {verbose = 0})
  eq(acc_cat, acc_sp, "categorical and sparse accuracy agree")
  assert(h.history.accuracy[1] >= 0 and h.history.accuracy[1] <= 1)
  -- binary: is it a shirt (class 6)?
  local yb = y:eq(6):float()
  local mb = mlp(1, "sigmoid")
  mb:compile{loss = "binary_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.05},
             metrics = {"accuracy"}}
  local hb = mb:fit(x, yb, {epochs = 2, verbose = 0})
  local pred = mb:predict(x)
  local want = (pred:gt(0.5):float():reshape(256) - yb):abs():lt(0.5):float():mean()
  local _, acc_b = mb:evaluate(x, yb, {verbose = 0})
  assert(math.abs(acc_b - want) < 1e-6, "binary accuracy " .. acc_b .. " vs " .. want)
  assert(hb.history.loss[2] < hb.history.loss[1], "binary loss decreases")
end)

test("loss metrics, metric objects, loss objects", function()
  ln.random.seed(9)
  local x, y = X_train:narrow(1, 1, 64), y_train:narrow(1, 1, 64)
  local m = mlp()
  m:compile{loss = ln.losses.SparseCategoricalCrossentropy{},
            optimizer = ln.optimizers.SGD{learning_rate = 0},
            metrics = {"sparse_categorical_crossentropy", ln.metrics.SparseCategoricalAccuracy{}}}
  local loss, ce, acc = m:evaluate(x, y, {verbose = 0})
  eq(table.concat(m.metrics_names, ","), "loss,sparse_categorical_crossentropy,sparse_categorical_accuracy")
  -- the loss uses logits (fused), the metric the clipped probabilities
  assert(math.abs(loss - ce) < 1e-4, "loss " .. loss .. " vs metric " .. ce)
  assert(acc >= 0 and acc <= 1)
end)

test("regularization losses are part of the loss", function()
  ln.random.seed(11)
  local x, y = X_train:narrow(1, 1, 64), y_train:narrow(1, 1, 64)
  local m = ln.Sequential{
    ln.layers.Flatten{input_shape = {28, 28}},
    ln.layers.Dense{16, activation = "relu", kernel_regularizer = ln.regularizers.l2(0.01)},
    ln.layers.Dense{10, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  local loss = m:evaluate(x, y, {verbose = 0, batch_size = 64})
  local reg = m:regularization_loss()
  local k = m.layers[2]:get_weights()[1]
  assert(math.abs(reg - 0.01 * (k * k):sum()) < 1e-4 * reg, "l2 penalty")
  local ce = ln.losses.SparseCategoricalCrossentropy{}(y, m:predict(x))
  assert(math.abs(loss - (ce + reg)) < 1e-4, string.format("%g vs %g + %g", loss, ce, reg))
end)

test("progress output: verbose 2 lines, Epoch k/N, silence", function()
  local script = [[
    local ln = require "lunet"
    ln.random.seed(1)
    local x, y = ln.rand(100, 4), (ln.rand(100) * 3):floor():byte()
    local m = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
    m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
    m:fit(x, y, {epochs = 2, validation_data = {x, y}})
    io.write("--\n")
    m:fit(x, y, {epochs = 1, verbose = 1})
    io.write("--\n")
    m:fit(x, y, {epochs = 2, verbose = 0})
    io.write("--\n")
    m:evaluate(x, y)
  ]]
  local f = assert(io.open(os.tmpname and "/tmp/lunet_test_fit_child.lua" or "x", "w"))
  f:write(script)
  f:close()
  local p = io.popen(string.format("%q /tmp/lunet_test_fit_child.lua 2>&1", lunet_exe))
  local out = p:read("a")
  p:close()
  os.remove("/tmp/lunet_test_fit_child.lua")
  local parts = {}
  for chunk in (out .. "--\n"):gmatch("(.-)%-%-\n") do parts[#parts + 1] = chunk end
  eq(#parts, 4, "output parts:\n" .. out)
  local pat2 = "^Epoch 1/2\n4/4 %- %d+s %- loss: %d%.%d%d%d%d %- accuracy: %d%.%d%d%d%d %- " ..
               "val_loss: %d%.%d%d%d%d %- val_accuracy: %d%.%d%d%d%d\nEpoch 2/2\n4/4 %- %d+s %- loss: "
  assert(parts[1]:match(pat2), "verbose=1 on a pipe behaves as 2:\n" .. parts[1])
  assert(parts[2]:match("^4/4 %- %d+s %- loss: [%d.]+ %- accuracy: [%d.]+\n$"),
         "one epoch, no Epoch line:\n" .. parts[2])
  eq(parts[3], "", "verbose = 0")
  assert(parts[4]:match("^4/4 %- %d+s %- loss: [%d.]+ %- accuracy: [%d.]+\n$"), "evaluate:\n" .. parts[4])
end)

test("errors: compile, lengths, labels, shapes, names", function()
  ln.random.seed(2)
  local m = mlp()
  local x, y = X_train:narrow(1, 1, 10), y_train:narrow(1, 1, 10)
  raises(function() m:fit(x, y, {verbose = 0}) end, "must compile your model", "fit before compile")
  raises(function() m:evaluate(x, y, {verbose = 0}) end, "must compile your model", "evaluate before compile")
  raises(function() m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adamx"} end,
         "unknown optimizer 'adamx'", "optimizer name")
  raises(function() m:compile{loss = "sparse_categorical_crossentropi", optimizer = "sgd"} end,
         "unknown loss 'sparse_categorical_crossentropi'", "loss name")
  raises(function() m:compile{loss = "mse", optimizer = "sgd", metrics = {"acuracy"}} end,
         "unknown metric 'acuracy'", "metric name")
  raises(function() m:compile{loss = "mse", optimizer = "sgd", metric = {"accuracy"}} end,
         "unknown keyword argument 'metric'", "compile keyword")
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
  raises(function() m:fit(x, y_train:narrow(1, 1, 9), {verbose = 0}) end,
         "different numbers of samples: 10 and 9", "x/y lengths")
  raises(function() m:fit(x, y, {verbose = 0, epoch = 2}) end, "unknown keyword argument 'epoch'", "fit keyword")
  local bad = ln.tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 12}):byte()
  raises(function() m:fit(x, bad, {verbose = 0}) end, "12", "label out of range")
  raises(function() m:fit(ln.rand(10, 784), y, {verbose = 0}) end, "(None, 28, 28)", "input shape")
  raises(function() m:fit(ln.rand(10, 784), y, {verbose = 0}) end, "(10, 784)", "input shape (got)")
  raises(function() m:fit(x, y, {verbose = 3}) end, "verbose", "verbose value")
  raises(function() m:fit(x, y, {verbose = 0, validation_split = 1.5}) end, "validation_split", "split")
end)

print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then error(failed .. " test(s) failed") end
