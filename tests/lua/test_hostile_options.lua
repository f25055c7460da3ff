-- Options by class (issue 14, part B): NaN, inf, negative, fractional
-- where an integer is needed, and wrongly typed values of every numeric
-- option of every callback, of fit/evaluate/predict/compile and the batch
-- methods, of the data helpers, optimizers, schedules, regularizers and
-- layers. Each must be refused at once with a message that starts with
-- this file's line and names the option -- never ignored, never failing
-- later somewhere else. Table-driven: each row is one case.
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

local NAN, INF = 0 / 0, math.huge
ln.random.seed(8)
local x = ln.rand(12, 4)
local y = ln.tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}, "int32")

local function model()
  local m = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
  return m
end
local m = model()

local rows = {}
local function row(label, fn, ...) rows[#rows + 1] = {label, fn, {...}} end

-- ---- callbacks: every option, every bad value ----------------------------------------------------

local cb = ln.callbacks
local bad_int = {{"nan", NAN}, {"inf", INF}, {"-1", -1}, {"1.5", 1.5}, {"'3'", "3"}, {"true", true}}
local bad_real = {{"nan", NAN}, {"inf", INF}, {"-inf", -INF}, {"'x'", "x"}, {"{}", {}}}
local bad_bool = {{"'yes'", "yes"}, {"1", 1}, {"0", 0}}
local bad_string = {{"5", 5}, {"true", true}, {"{}", {}}}
local bad_verbose = {{"nan", NAN}, {"3", 3}, {"-1", -1}, {"0.5", 0.5}, {"'loud'", "loud"}}

local callback_options = {
  EarlyStopping = {patience = bad_int, min_delta = bad_real, baseline = bad_real,
                   verbose = bad_verbose, restore_best_weights = bad_bool, monitor = bad_string,
                   mode = bad_string},
  ReduceLROnPlateau = {patience = bad_int, cooldown = bad_int, min_delta = bad_real,
                       epsilon = bad_real, min_lr = {{"nan", NAN}, {"inf", INF}, {"-1", -1}, {"'0'", "0"}},
                       factor = {{"nan", NAN}, {"inf", INF}, {"-0.5", -0.5}, {"1", 1}, {"2", 2},
                                 {"'0.5'", "0.5"}},
                       verbose = bad_verbose, monitor = bad_string, mode = bad_string},
  ModelCheckpoint = {verbose = bad_verbose, save_best_only = bad_bool,
                     save_weights_only = bad_bool, monitor = bad_string, mode = bad_string},
  CSVLogger = {separator = bad_string, append = bad_bool},
  LearningRateScheduler = {verbose = bad_verbose, schedule = {{"5", 5}, {"'f'", "f"}, {"{}", {}}}},
}
local required = {ModelCheckpoint = {filepath = H.tmp("cb.h5")}, CSVLogger = {filename = H.tmp("cb.csv")},
                  LearningRateScheduler = {schedule = function(_, lr) return lr end}}

local names = {}
for name in pairs(callback_options) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local keys = {}
  for k in pairs(callback_options[name]) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, key in ipairs(keys) do
    for _, bad in ipairs(callback_options[name][key]) do
      row(string.format("%s{%s = %s}", name, key, bad[1]), function()
        local args = {}
        for k, v in pairs(required[name] or {}) do args[k] = v end
        args[key] = bad[2]
        cb[name](args)
      end, name, key)
    end
  end
  row(name .. " with a misspelled keyword", function()
    local args = {}
    for k, v in pairs(required[name] or {}) do args[k] = v end
    args.patiance = 1
    cb[name](args)
  end, name, "unknown keyword argument 'patiance'")
end
row("EarlyStopping(5) positional", function() cb.EarlyStopping(5) end, "too many positional")
row("ReduceLROnPlateau{min_delta and epsilon}", function()
  cb.ReduceLROnPlateau{min_delta = 0.1, epsilon = 0.1}
end, "min_delta", "epsilon")
row("LambdaCallback{on_epoch_end = 5}", function() cb.LambdaCallback{on_epoch_end = 5} end,
    "LambdaCallback", "on_epoch_end", "function")
row("LambdaCallback{on_epoc_end = f}", function() cb.LambdaCallback{on_epoc_end = print} end,
    "unknown keyword argument 'on_epoc_end'", "did you mean 'on_epoch_end'")
for _, out in ipairs({{"nan", NAN}, {"-1", -1}, {"inf", INF}, {"'x'", "x"}, {"nil", nil}}) do
  row("LearningRateScheduler whose schedule returns " .. out[1], function()
    m:fit(x, y, {epochs = 1, verbose = 0,
                 callbacks = {cb.LearningRateScheduler(function() return out[2] end)}})
  end, "LearningRateScheduler", "the schedule returned", "epoch 0")
end

-- ---- fit, evaluate, predict, compile ------------------------------------------------------------

local fit_options = {
  batch_size = {{"nan", NAN}, {"0", 0}, {"-1", -1}, {"1.5", 1.5}, {"inf", INF}, {"'32'", "32"}},
  epochs = {{"nan", NAN}, {"-1", -1}, {"1.5", 1.5}, {"inf", INF}, {"'2'", "2"}},
  initial_epoch = {{"nan", NAN}, {"-1", -1}, {"0.5", 0.5}, {"'0'", "0"}},
  validation_split = {{"nan", NAN}, {"-0.1", -0.1}, {"1", 1}, {"1.5", 1.5}, {"inf", INF},
                      {"'0.1'", "0.1"}},
  validation_freq = {{"nan", NAN}, {"0", 0}, {"1.5", 1.5}, {"{1, 2}", {1, 2}}},
  validation_batch_size = {{"nan", NAN}, {"0", 0}, {"2.5", 2.5}},
  verbose = bad_verbose,
  shuffle = {{"'yes'", "yes"}, {"1", 1}},
  callbacks = {{"5", 5}, {"'x'", "x"}},
  max_queue_size = {{"nan", NAN}, {"0", 0}, {"'10'", "10"}},
  workers = {{"nan", NAN}, {"-1", -1}, {"1.5", 1.5}},
  use_multiprocessing = {{"'no'", "no"}, {"1", 1}},
}
local fkeys = {}
for k in pairs(fit_options) do fkeys[#fkeys + 1] = k end
table.sort(fkeys)
for _, key in ipairs(fkeys) do
  for _, bad in ipairs(fit_options[key]) do
    row(string.format("fit{%s = %s}", key, bad[1]), function()
      m:fit(x, y, {[key] = bad[2], verbose = key == "verbose" and bad[2] or 0})
    end, "fit", key == "shuffle" and "shuffle" or key)
  end
end
row("fit{class_weight = {}}", function() m:fit(x, y, {class_weight = {}, verbose = 0}) end,
    "fit: class_weight", "empty")
row("fit{sample_weight = {}}", function() m:fit(x, y, {sample_weight = {}, verbose = 0}) end,
    "fit: sample_weight", "0 weights for")
for _, key in ipairs({"steps_per_epoch", "validation_steps"}) do
  row("fit{" .. key .. "}", function() m:fit(x, y, {[key] = {}, verbose = 0}) end,
      "fit", key, "not supported")
end
row("fit{epocs = 2} (misspelled)", function() m:fit(x, y, {epocs = 2}) end,
    "fit: unknown keyword argument 'epocs'", "did you mean 'epochs'")
row("fit with options 5", function() m:fit(x, y, 5) end, "fit", "options must be a table")
row("fit{validation_data = 5}", function() m:fit(x, y, {validation_data = 5, verbose = 0}) end,
    "validation_data")

for _, spec in ipairs({
  {"batch_size", {{"nan", NAN}, {"0", 0}, {"1.5", 1.5}}},
  {"verbose", {{"nan", NAN}, {"7", 7}}},
  {"return_dict", {{"'yes'", "yes"}}},
  {"callbacks", {{"5", 5}}},
  {"workers", {{"nan", NAN}}},
}) do
  for _, bad in ipairs(spec[2]) do
    row(string.format("evaluate{%s = %s}", spec[1], bad[1]), function()
      m:evaluate(x, y, {[spec[1]] = bad[2], verbose = spec[1] == "verbose" and bad[2] or 0})
    end, "evaluate", spec[1])
  end
end
row("evaluate{steps = 2}", function() m:evaluate(x, y, {steps = 2, verbose = 0}) end, "evaluate", "steps")
for _, spec in ipairs({
  {"batch_size", {{"nan", NAN}, {"0", 0}, {"1.5", 1.5}, {"-3", -3}}},
  {"verbose", {{"nan", NAN}, {"'x'", "x"}}},
  {"callbacks", {{"5", 5}}},
  {"use_multiprocessing", {{"1", 1}}},
}) do
  for _, bad in ipairs(spec[2]) do
    row(string.format("predict{%s = %s}", spec[1], bad[1]), function()
      m:predict(x, {[spec[1]] = bad[2]})
    end, "predict", spec[1])
  end
end
row("predict{steps = 1}", function() m:predict(x, {steps = 1}) end, "predict", "steps")

local function compile_with(extra)
  local m2 = ln.Sequential{ln.layers.Dense{3, input_shape = {4}}}
  local args = {loss = "mse", optimizer = "sgd"}
  for k, v in pairs(extra) do args[k] = v end
  m2:compile(args)
end
row("compile{run_eagerly = 'yes'}", function() compile_with{run_eagerly = "yes"} end, "run_eagerly")
row("compile{steps_per_execution = nan}", function() compile_with{steps_per_execution = NAN} end,
    "steps_per_execution")
row("compile{steps_per_execution = 0}", function() compile_with{steps_per_execution = 0} end,
    "steps_per_execution")
row("compile{optimizer = 5}", function() compile_with{optimizer = 5} end, "optimizer")
row("compile{optimizer = 'adamm'}", function() compile_with{optimizer = "adamm"} end,
    "unknown optimizer 'adamm'")
row("compile{metrics = {5}}", function() compile_with{metrics = {5}} end, "metrics")
row("compile{metrics = {'acuracy'}}", function() compile_with{metrics = {"acuracy"}} end,
    "unknown metric 'acuracy'", "did you mean 'accuracy'")
row("compile{loss = 'msee'}", function() compile_with{loss = "msee"} end, "unknown loss 'msee'",
    "did you mean")
row("compile{los = 'mse'} (misspelled)", function()
  local m2 = ln.Sequential{ln.layers.Dense{3, input_shape = {4}}}
  m2:compile{los = "mse"}
end, "unknown keyword argument 'los'", "did you mean 'loss'")
row("train_on_batch{reset_metrics = 'no'}", function()
  m:train_on_batch(x, y, {reset_metrics = "no"})
end, "train_on_batch", "reset_metrics")
row("train_on_batch{return_dict = 1}", function() m:train_on_batch(x, y, {return_dict = 1}) end,
    "train_on_batch", "return_dict")
row("test_on_batch{reset_metrics = 0}", function() m:test_on_batch(x, y, {reset_metrics = 0}) end,
    "test_on_batch", "reset_metrics")
row("train_on_batch{class_weight = {}}", function() m:train_on_batch(x, y, {class_weight = {}}) end,
    "train_on_batch: class_weight", "empty")

-- ---- data helpers -------------------------------------------------------------------------------

for _, bad in ipairs({{"nan", NAN}, {"0", 0}, {"2.5", 2.5}, {"'8'", "8"}}) do
  row("data.batches{batch_size = " .. bad[1] .. "}", function()
    ln.data.batches(x, y, {batch_size = bad[2]})
  end, "batches", "batch_size")
end
row("data.batches{shuffle = 'yes'}", function() ln.data.batches(x, y, {shuffle = "yes"}) end,
    "batches", "shuffle")
for _, bad in ipairs({{"nan", NAN}, {"-0.5", -0.5}, {"1.5", 1.5}, {"inf", INF}}) do
  row("data.train_test_split{test_size = " .. bad[1] .. "}", function()
    ln.data.train_test_split(x, y, {test_size = bad[2]})
  end, "train_test_split", "test_size")
  row("data.validation_split(" .. bad[1] .. ")", function()
    ln.data.validation_split(x, y, bad[2])
  end, "validation_split", "fraction")
end

-- ---- optimizers, schedules, regularizers, layers --------------------------------------------------

for _, spec in ipairs({
  {"SGD", "learning_rate"}, {"SGD", "momentum"}, {"Adam", "learning_rate"}, {"Adam", "beta_1"},
  {"Adam", "epsilon"}, {"RMSprop", "rho"}, {"Adagrad", "initial_accumulator_value"},
  {"Nadam", "beta_2"}, {"Adamax", "learning_rate"}, {"Adadelta", "rho"}, {"SGD", "decay"},
  {"Adam", "clipnorm"}, {"Adam", "clipvalue"}, {"Adam", "global_clipnorm"},
}) do
  for _, bad in ipairs({{"nan", NAN}, {"-1", -1}, {"'x'", "x"}}) do
    row(string.format("ln.optimizers.%s{%s = %s}", spec[1], spec[2], bad[1]), function()
      ln.optimizers[spec[1]]{[spec[2]] = bad[2]}
    end, spec[2])
  end
end
for _, bad in ipairs({{"nan", NAN}, {"-1", -1}, {"inf", INF}, {"'x'", "x"}}) do
  row("optimizer.learning_rate = " .. bad[1], function()
    local o = ln.optimizers.Adam{}
    o.learning_rate = bad[2]
  end, "learning_rate")
end
for _, bad in ipairs({{"nan", NAN}, {"-1", -1}, {"1.5", 1.5}, {"'5'", "5"}}) do
  row("optimizer.iterations = " .. bad[1], function()
    local o = ln.optimizers.SGD{}
    o.iterations = bad[2]
  end, "iterations")
end
for _, bad in ipairs({{"nan", NAN}, {"-1", -1}, {"inf", INF}}) do
  if bad[1] ~= "inf" then -- inf: the plugins' own checks (not in this part)
  row("ln.schedules.ExponentialDecay{decay_rate = " .. bad[1] .. "}", function()
    ln.schedules.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 10, decay_rate = bad[2]}
  end, "decay_rate")
  end
  row("ln.regularizers.l2(" .. bad[1] .. ")", function() ln.regularizers.l2(bad[2]) end, "l2")
  row("ln.regularizers.l1_l2{l1 = " .. bad[1] .. "}", function()
    ln.regularizers.l1_l2{l1 = bad[2]}
  end, "l1")
end
for _, spec in ipairs({{"Dense", "units", {{"nan", NAN}, {"-3", -3}, {"2.5", 2.5}, {"inf", INF}}},
                       {"Dropout", "rate", {{"nan", NAN}, {"1.5", 1.5}, {"-0.1", -0.1}}},
                       {"LeakyReLU", "alpha", {{"nan", NAN}, {"inf", INF}}}}) do
  for _, bad in ipairs(spec[3]) do
    row(string.format("ln.layers.%s{%s = %s}", spec[1], spec[2], bad[1]), function()
      ln.layers[spec[1]]{[spec[2]] = bad[2]}
    end, spec[2])
  end
end

for _, r in ipairs(rows) do
  test(r[1], function()
    local err = H.raises(r[2], table.unpack(r[3]))
    H.check(err:find("^[^\n]-test_hostile_options%.lua:%d+: "),
            "the message does not start with this file's line: %s", err)
  end)
end

-- the issue's examples, by their effect
test("EarlyStopping{min_delta = 0/0} no longer stops after one epoch: it is refused", function()
  H.raises(function() cb.EarlyStopping{min_delta = NAN} end, "min_delta", "nan")
end)
test("validation_split = 0/0 is no longer ignored", function()
  H.raises(function() m:fit(x, y, {validation_split = NAN, verbose = 0}) end,
           "validation_split", "nan")
end)
test("ReduceLROnPlateau{factor = 0/0} fails at once, not later in SGD", function()
  H.raises(function() cb.ReduceLROnPlateau{factor = NAN} end, "ReduceLROnPlateau", "factor")
end)

H.finish()
