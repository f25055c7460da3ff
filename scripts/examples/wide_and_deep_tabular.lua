-- The chapter-10 Wide & Deep network (Hands-On ML) on a real tabular
-- regression set: the diabetes data shipped in data/diabetes/ (442
-- patients, 10 features, disease progression after one year; Debian's
-- python3-sklearn, BSD-3-Clause). In the book's three steps:
--   1. one input: the features go both through two hidden layers (deep)
--      and straight to the output (wide), joined by Concatenate;
--   2. two inputs: wide_input (features 1-5) and deep_input (features 3-10);
--   3. an auxiliary output on the deep path, loss_weights = {0.9, 0.1}.
-- Each is trained with fit and callbacks (EarlyStopping restoring the best
-- weights, ModelCheckpoint keeping the best file), evaluated on a held-out
-- test set (mean absolute error in the target's units, against always
-- predicting the training mean), saved, reloaded, and the reloaded model
-- predicts the same bits.
--
--   lunet scripts/examples/wide_and_deep_tabular.lua [epochs] [outdir]
local ln = require "lunet"

local epochs = tonumber(arg and arg[1]) or 200
local outdir = arg and arg[2] or "out"
os.execute("mkdir -p '" .. outdir:gsub("'", "'\\''") .. "'")
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."

-- ---- the data: data/diabetes/diabetes.csv ------------------------------------------------

local function read_csv(path)
  local f = assert(io.open(path, "r"))
  local header, rows = nil, {}
  for line in f:lines() do
    local vals = {}
    for v in line:gmatch("[^,]+") do vals[#vals + 1] = v end
    if not header then header = vals
    else
      for i, v in ipairs(vals) do vals[i] = assert(tonumber(v), path .. ": not a number: " .. v) end
      rows[#rows + 1] = vals
    end
  end
  f:close()
  return header, rows
end

local header, rows = read_csv(here .. "/../../data/diabetes/diabetes.csv")
local nfeat = #header - 1
ln.random.seed(42)
-- a fixed shuffle, then 300 training, 70 validation and 72 test patients
local order = ln.randperm(#rows):totable()
local function take(from, count)
  local x, y = {}, {}
  for i = 1, count do
    local r = rows[order[from + i - 1]] -- (ln.randperm: 1 .. n)
    x[i], y[i] = {table.unpack(r, 1, nfeat)}, {r[nfeat + 1]}
  end
  return ln.tensor(x), ln.tensor(y)
end
local x_train, y_train = take(1, 300)
local x_valid, y_valid = take(301, 70)
local x_test, y_test = take(371, 72)

-- standardised with the training set's statistics (the book's StandardScaler)
local mean, std = x_train:mean(1, true), x_train:std(1, true)
local ymean, ystd = y_train:mean(), y_train:std()
local function scale(x) return (x - mean) / std end
local function scale_y(y) return (y - ymean) / ystd end
x_train, x_valid, x_test = scale(x_train), scale(x_valid), scale(x_test)
local t_train, t_valid = scale_y(y_train), scale_y(y_valid)

-- wide: features 1-5 (age, sex, bmi, bp, s1), deep: features 3-10 (bmi .. s6)
local function split(x) return x:narrow(2, 1, 5), x:narrow(2, 3, nfeat - 2) end
local xa_train, xb_train = split(x_train)
local xa_valid, xb_valid = split(x_valid)
local xa_test, xb_test = split(x_test)

-- mean absolute error of scaled predictions, in the target's units
local function mae(pred)
  return ((pred * ystd + ymean) - y_test):abs():mean()
end
local baseline = (y_test - ymean):abs():mean()
print(string.format("diabetes: %d features; test MAE of the training mean: %.2f", nfeat, baseline))

local function callbacks(name)
  return {ln.callbacks.EarlyStopping{monitor = "val_loss", patience = 20,
                                     restore_best_weights = true},
          ln.callbacks.ModelCheckpoint{filepath = outdir .. "/" .. name .. "_best.h5",
                                       monitor = "val_loss", save_best_only = true}}
end

-- fit, evaluate, save, reload, predict the same bits; returns test MAE, same
local function run(name, model, x, y, xv, yv, xt)
  model:summary()
  local h = model:fit(x, y, {epochs = epochs, batch_size = 32, verbose = 0,
                             validation_data = {xv, yv}, callbacks = callbacks(name)})
  local pred = model:predict(xt)
  local main = type(pred) == "table" and pred[1] or pred
  local err = mae(main)
  local path = outdir .. "/" .. name .. ".h5"
  model:save(path)
  local again = ln.models.load_model(path):predict(xt)
  local same
  if type(pred) == "table" then same = ln.equal(pred[1], again[1]) and ln.equal(pred[2], again[2])
  else same = ln.equal(pred, again) end
  print(string.format("%s: %d epochs, val_loss %.4f, test MAE %.2f; reloaded from %s, " ..
                      "same predictions: %s", name, #h.history.loss,
                      h.history.val_loss[#h.history.val_loss], err, path, tostring(same)))
  return err, same
end

local function sgd() return ln.optimizers.SGD{learning_rate = 1e-2, momentum = 0.9} end

-- 1. one input, wide and deep paths
ln.random.seed(1)
local input = ln.Input{shape = {nfeat}, name = "input"}
local h1 = ln.layers.Dense{30, activation = "relu"}(input)
local h2 = ln.layers.Dense{30, activation = "relu"}(h1)
local concat = ln.layers.Concatenate{}({input, h2})
local one = ln.Model{inputs = input, outputs = ln.layers.Dense{1, name = "output"}(concat),
                     name = "wide_deep_one_input"}
one:compile{loss = "mse", optimizer = sgd(), metrics = {"mae"}}
local mae1, same1 = run("one_input", one, x_train, t_train, x_valid, t_valid, x_test)

-- 2. two inputs
ln.random.seed(1)
local wide = ln.Input{shape = {5}, name = "wide_input"}
local deep = ln.Input{shape = {nfeat - 2}, name = "deep_input"}
local d1 = ln.layers.Dense{30, activation = "relu"}(deep)
local d2 = ln.layers.Dense{30, activation = "relu"}(d1)
local output = ln.layers.Dense{1, name = "output"}(ln.layers.Concatenate{}({wide, d2}))
local two = ln.Model{inputs = {wide, deep}, outputs = output, name = "wide_deep_two_inputs"}
two:compile{loss = "mse", optimizer = sgd(), metrics = {"mae"}}
local mae2, same2 = run("two_inputs", two, {xa_train, xb_train}, t_train,
                        {wide_input = xa_valid, deep_input = xb_valid}, t_valid,
                        {xa_test, xb_test})

-- 3. two inputs, the main and an auxiliary output
ln.random.seed(1)
wide = ln.Input{shape = {5}, name = "wide_input"}
deep = ln.Input{shape = {nfeat - 2}, name = "deep_input"}
d1 = ln.layers.Dense{30, activation = "relu"}(deep)
d2 = ln.layers.Dense{30, activation = "relu"}(d1)
local main = ln.layers.Dense{1, name = "main_output"}(ln.layers.Concatenate{}({wide, d2}))
local aux = ln.layers.Dense{1, name = "aux_output"}(d2)
local three = ln.Model{inputs = {wide, deep}, outputs = {main, aux}, name = "wide_deep_aux"}
three:compile{loss = {"mse", "mse"}, loss_weights = {0.9, 0.1}, optimizer = sgd(),
              metrics = {main_output = {"mae"}}}
local mae3, same3 = run("aux_output", three, {xa_train, xb_train}, {t_train, t_train},
                        {xa_valid, xb_valid}, {main_output = t_valid, aux_output = t_valid},
                        {xa_test, xb_test})
local r = three:evaluate({xa_test, xb_test}, {scale_y(y_test), scale_y(y_test)},
                         {verbose = 0, return_dict = true})
print(string.format("aux_output model on the test set: loss %.4f = 0.9 * %.4f + 0.1 * %.4f",
                    r.loss, r.main_output_loss, r.aux_output_loss))

print(string.format("RESULT wide_and_deep_tabular baseline_mae=%.2f one_input_mae=%.2f " ..
                    "two_inputs_mae=%.2f aux_output_mae=%.2f same_after_reload=%s", baseline,
                    mae1, mae2, mae3, tostring(same1 and same2 and same3)))
if not (same1 and same2 and same3) then os.exit(1) end
