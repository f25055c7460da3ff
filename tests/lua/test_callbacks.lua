-- Tests of ln.callbacks and how fit drives callbacks: hook order, logs,
-- stop_training, EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
-- CSVLogger, TerminateOnNaN, ModelCheckpoint, LambdaCallback.
-- Run as `lunet test_callbacks.lua` (cwd tests/lua).
local ln = require "lunet"
local cb = ln.callbacks

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq
local function near(got, want, what)
  if math.abs(got - want) > 1e-12 * math.max(1, math.abs(want)) then
    error(string.format("%s: want %.17g, got %.17g", what or "mismatch", want, got), 2)
  end
end

ln.random.seed(5)
local X = ln.randn(96, 6)
local Y = (ln.rand(96) * 3):floor():byte()

local function model(lr)
  local m = ln.Sequential{ln.layers.Dense{8, input_shape = {6}, activation = "relu"},
                          ln.layers.Dense{3, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = lr or 0.01},
            metrics = {"accuracy"}}
  return m
end

test("hook order, arguments, model and params", function()
  local log = {}
  local rec = {}
  for _, h in ipairs({"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                      "on_train_batch_begin", "on_batch_end", "on_test_begin", "on_test_end"}) do
    rec[h] = function(self, a, b)
      local s = h
      if type(a) == "number" then s = s .. "(" .. a .. ")" end
      if h == "on_epoch_end" then
        s = s .. string.format("[%s]", table.concat({tostring(b.loss ~= nil), tostring(b.accuracy ~= nil),
                                                     tostring(b.val_loss ~= nil), tostring(b.val_accuracy ~= nil)}, ","))
      end
      if h == "on_batch_end" and not (b and b.loss and b.accuracy) then s = s .. "!nologs" end
      log[#log + 1] = s
    end
  end
  local m = model()
  m:fit(X, Y, {epochs = 2, batch_size = 48, verbose = 0, callbacks = {rec},
               validation_data = {X:narrow(1, 1, 10), Y:narrow(1, 1, 10)}})
  local want = "on_train_begin on_epoch_begin(0) on_train_batch_begin(0) on_batch_end(0) " ..
               "on_train_batch_begin(1) on_batch_end(1) on_test_begin on_test_end " ..
               "on_epoch_end(0)[true,true,true,true] on_epoch_begin(1) on_train_batch_begin(0) " ..
               "on_batch_end(0) on_train_batch_begin(1) on_batch_end(1) on_test_begin on_test_end " ..
               "on_epoch_end(1)[true,true,true,true] on_train_end"
  eq(table.concat(log, " "), want, "hooks")
  eq(rec.model, m, "callback.model")
  eq(rec.params.epochs, 2); eq(rec.params.steps, 2)
end)

test("batch logs are the running epoch means; stop_training stops at once", function()
  local seen = {}
  local stopper = {on_train_batch_end = function(self, batch, logs)
    seen[#seen + 1] = logs.loss
    if batch == 1 then self.model.stop_training = true end
  end}
  local m = model()
  local h = m:fit(X, Y, {epochs = 5, batch_size = 16, verbose = 0, callbacks = {stopper}})
  eq(#seen, 2, "stopped after batch 1")
  eq(#h.epoch, 1, "one epoch recorded")
  eq(h.history.loss[1], seen[2], "epoch loss = running mean at the stop")
end)

test("EarlyStopping: patience and stopped epoch through fit", function()
  local m = model(0)  -- lr 0: val_loss never improves after epoch 0
  local es = cb.EarlyStopping{monitor = "val_loss", patience = 2}
  local h = m:fit(X, Y, {epochs = 10, verbose = 0, callbacks = {es}, validation_data = {X, Y}})
  eq(#h.epoch, 3, "epochs run")
  eq(es.stopped_epoch, 2)
  eq(m.stop_training, true)
end)

test("EarlyStopping: modes, min_delta, baseline, restore_best_weights", function()
  local weights = {}
  local fake = {stop_training = false, n = 0}
  function fake:get_weights() self.n = self.n + 1; return {self.n} end
  function fake:set_weights(w) weights[#weights + 1] = w[1] end
  local es = cb.EarlyStopping{monitor = "val_accuracy", patience = 2, restore_best_weights = true,
                              min_delta = 0.01}
  es:set_model(fake)
  es:on_train_begin()
  local accs = {0.5, 0.7, 0.705, 0.69, 0.72}
  for e, a in ipairs(accs) do
    es:on_epoch_end(e - 1, {val_accuracy = a})
    if fake.stop_training then break end
  end
  -- 'acc' in the name: mode max; 0.705 is not 0.01 better than 0.7
  eq(es.stopped_epoch, 3, "stopped at epoch 3")
  eq(es.best, 0.7)
  eq(weights[1], 2, "restored the weights saved at the best epoch (the 2nd improvement)")
  local es2 = cb.EarlyStopping{monitor = "loss", baseline = 0.5, patience = 1}
  local fake2 = {stop_training = false}
  es2:set_model(fake2)
  es2:on_train_begin()
  es2:on_epoch_end(0, {loss = 0.6})
  eq(fake2.stop_training, true, "baseline not beaten")
  local ok = pcall(function() return cb.EarlyStopping{patiense = 2} end)
  eq(ok, false, "unknown keyword refused")
end)

test("ReduceLROnPlateau: factor, patience, min_lr, lr in the history", function()
  local m = model(0.1)
  local r = cb.ReduceLROnPlateau{monitor = "loss", factor = 0.5, patience = 1, min_delta = 100,
                                 min_lr = 0.03}
  local h = m:fit(X, Y, {epochs = 4, verbose = 0, callbacks = {r}})
  eq(h.keys[#h.keys], "lr", "lr logged last")
  local lrs = h.history.lr
  near(lrs[1], 0.1, "epoch 0"); near(lrs[2], 0.1, "epoch 1")
  near(lrs[3], 0.05, "epoch 2"); near(lrs[4], 0.03, "epoch 3 (min_lr)")
  near(m.optimizer.learning_rate, 0.03, "clamped at min_lr")
  local ok, err = pcall(cb.ReduceLROnPlateau, {factor = 1.5})
  eq(ok, false); assert(tostring(err):find("factor", 1, true), err)
end)

test("LearningRateScheduler sets the rate per epoch (0-based epoch)", function()
  local m = model(0.2)
  local epochs = {}
  local s = cb.LearningRateScheduler(function(epoch, lr)
    epochs[#epochs + 1] = epoch
    if epoch < 1 then return lr end
    return lr * 0.5
  end)
  local h = m:fit(X, Y, {epochs = 3, verbose = 0, callbacks = {s}})
  eq(table.concat(epochs, ","), "0,1,2")
  near(h.history.lr[1], 0.2); near(h.history.lr[2], 0.1); near(h.history.lr[3], 0.05)
end)

test("CSVLogger writes sorted columns, appends without a second header", function()
  local path = os.tmpname()
  local m = model()
  m:fit(X, Y, {epochs = 2, verbose = 0, callbacks = {cb.CSVLogger(path)},
               validation_data = {X, Y}})
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  local rows = {}
  for line in text:gmatch("[^\n]+") do rows[#rows + 1] = line end
  eq(rows[1], "epoch,accuracy,loss,val_accuracy,val_loss", "header")
  eq(#rows, 3, "header + 2 epochs")
  local vals = {}
  for v in rows[3]:gmatch("[^,]+") do vals[#vals + 1] = v end
  eq(vals[1], "1", "epoch column")
  eq(tonumber(vals[3]), m.history.history.loss[2], "loss round-trips exactly")
  m:fit(X, Y, {epochs = 1, verbose = 0, callbacks = {cb.CSVLogger{filename = path, separator = ";", append = true}}})
  f = assert(io.open(path))
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  eq(n, 4, "one more row, no header")
  os.remove(path)
  eq(cb.py_repr(0.1), "0.1"); eq(cb.py_repr(1.0), "1.0"); eq(cb.py_repr(1e-05), "1e-05")
end)

test("TerminateOnNaN stops at the first NaN loss", function()
  local m = model()
  local x = X
  m.layers[2].variables[2].value[{1}] = 0 / 0 -- a NaN output bias: NaN loss
  local batches = 0
  local count = {on_train_batch_end = function() batches = batches + 1 end}
  local h = m:fit(x, Y, {epochs = 3, batch_size = 16, verbose = 0, shuffle = false,
                         callbacks = {cb.TerminateOnNaN(), count}})
  eq(batches, 1, "one batch")
  eq(#h.epoch, 1, "one epoch")
  local l = h.history.loss[1]
  eq(l ~= l, true, "NaN loss recorded")
end)

test("ModelCheckpoint: file names, save_best_only, weights only", function()
  if not package.searchpath("lunet.saving", package.path) then
    local m = model()
    local ok, err = pcall(m.fit, m, X, Y, {verbose = 0, callbacks = {cb.ModelCheckpoint("m.h5")}})
    eq(ok, false, "no model files module")
    assert(tostring(err):find("lunet.saving", 1, true), err)
  end
  local saved = {}
  package.loaded["lunet.saving"] = {
    save_model = function(model, path) saved[#saved + 1] = "model:" .. path end,
    save_weights = function(model, path) saved[#saved + 1] = "weights:" .. path end,
  }
  local m = model(0)
  m:fit(X, Y, {epochs = 3, verbose = 0, validation_data = {X, Y},
               callbacks = {cb.ModelCheckpoint("ckpt-{epoch:02d}-{val_loss:.2f}.h5", {})}})
  local vl = string.format("%.2f", m.history.history.val_loss[1])
  eq(saved[1], "model:ckpt-01-" .. vl .. ".h5", "formatted path")
  eq(#saved, 3, "every epoch")
  saved = {}
  m:fit(X, Y, {epochs = 3, verbose = 0, validation_data = {X, Y},
               callbacks = {cb.ModelCheckpoint{filepath = "best.h5", save_best_only = true,
                                               save_weights_only = true}}})
  eq(table.concat(saved, " "), "weights:best.h5", "lr 0: only the first epoch improves")
  -- a NaN epoch loss never overwrites a checkpoint (lunet's guard)
  saved = {}
  local bad = model(0)
  bad.layers[2].variables[2].value[{1}] = 0 / 0
  bad:fit(X, Y, {epochs = 2, verbose = 0, callbacks = {cb.ModelCheckpoint("nan.h5")}})
  eq(#saved, 0, "no save with a NaN loss")
  package.loaded["lunet.saving"] = nil
end)

test("LambdaCallback and the Callback base class", function()
  local ends = {}
  local l = cb.LambdaCallback{on_epoch_end = function(epoch, logs) ends[#ends + 1] = epoch end}
  local Counter = cb.Callback:extend{}
  function Counter:on_train_begin() self.n = 0 end
  function Counter:on_train_batch_end() self.n = self.n + 1 end
  local c = Counter:new()
  model():fit(X, Y, {epochs = 2, batch_size = 32, verbose = 0, callbacks = {l, c}})
  eq(table.concat(ends, ","), "0,1")
  eq(c.n, 6, "96 samples at 32: 3 batches x 2 epochs")
end)

T.summary()
