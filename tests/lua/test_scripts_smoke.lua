-- Smoke test of the experiment scripts (scripts/00..07): each runs end to
-- end in smoke mode (LUNET_SMOKE=1: 1 epoch, the repo's Fashion-MNIST
-- sample, 1 run per optimizer) in a child `lunet` process, into a temporary
-- folder; the test checks the exit status, what the script printed (the
-- notebook's summary figures, the BN variable listing, the RESULT line)
-- and the artefacts (PNG, HDF5, CSV). Experiment 1 also runs with 1 and 2
-- threads: the histories must be identical to the last digit.
-- Run as `lunet test_scripts_smoke.lua` (cwd tests/lua).
local function cwd()
  local p = assert(io.popen("pwd", "r"))
  local d = p:read("l")
  p:close()
  return d
end
-- a path made absolute (the children run from the repo root)
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return cwd() .. "/" .. path
end

local root = absolute(os.getenv("LUNET_SOURCE_DIR") or "../..")
local lunet = arg[-1]
if not lunet or lunet == "" then
  lunet = (os.getenv("LUNET_BUILD_DIR") or (root .. "/build")) .. "/bin/lunet"
end
if lunet:find("/", 1, true) then lunet = absolute(lunet) end

local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = pcall(fn)
  if ok then passed = passed + 1
  else failed = failed + 1; io.stderr:write("FAIL ", name, ": ", tostring(err), "\n") end
end

local function shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- a fresh temporary folder
local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir " .. shquote(tmp)), "cannot make a temporary folder")

-- A smoke run takes a few seconds; one that hangs (a deadlock in a
-- parallel region, say) is killed after this many and reported as such.
-- Only a hang guard, never a speed check: generous enough for a sanitized
-- build on a loaded 2-core machine (120 s was not, under ASan).
local TIMEOUT = 1200

-- Runs scripts/<name> in smoke mode into <tmp>/<outdir>; returns its output
-- (stdout and stderr). Fails on a non-zero exit or after TIMEOUT seconds.
local function run_script(name, outdir, env, extra)
  local cmd = string.format("cd %s && env LUNET_SMOKE=1 LUNET_SEED=42 %s timeout -s KILL %d " ..
    "%s %s %s %s 2>&1", shquote(root), env or "", TIMEOUT, shquote(lunet),
    shquote("scripts/" .. name), shquote(tmp .. "/" .. outdir), extra or "")
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  if not ok then
    if code == 137 or (how == "signal" and code == 9) then
      error(string.format("%s did not finish within %d s (killed); its output so far:\n%s",
                          name, TIMEOUT, out), 0)
    end
    error(string.format("%s exited with %s %s:\n%s", name, tostring(how), tostring(code), out), 0)
  end
  return out
end

local function has(out, text, what)
  if not out:find(text, 1, true) then
    error(string.format("%s: the output lacks %q:\n%s", what, text, out), 2)
  end
end

-- The RESULT line of `id`: a table key -> value (numbers converted).
local function result(out, id)
  local line = out:match("\nRESULT " .. id:gsub("%p", "%%%0") .. " ([^\n]*)")
  if not line then error("no RESULT line for " .. id .. " in:\n" .. out, 2) end
  local r = {}
  for k, v in line:gmatch("(%S+)=(%S+)") do r[k] = tonumber(v) or v end
  if type(r.seconds) ~= "number" then error("RESULT " .. id .. " has no seconds", 2) end
  return r
end

local function check_png(path)
  local data = read_file(path)
  assert(data, path .. " was not written")
  assert(data:sub(1, 8) == "\137PNG\r\n\26\n", path .. " is not a PNG")
  assert(#data > 5000, path .. " is suspiciously small")
end

local function check_h5(path)
  local data = read_file(path)
  assert(data, path .. " was not written")
  assert(data:sub(1, 8) == "\137HDF\r\n\26\n", path .. " is not an HDF5 file")
end

-- CSV lines as a list of strings.
local function csv_lines(path)
  local data = read_file(path)
  assert(data, path .. " was not written")
  local lines = {}
  for l in data:gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines
end

local function probability(v, what)
  assert(type(v) == "number" and v >= 0 and v <= 1, what .. " is not in [0, 1]: " .. tostring(v))
end

test("00 sigmoid saturation", function()
  local out = run_script("00_sigmoid_saturation.lua", "e0")
  has(out, "Saving figure sigmoid_saturation_plot", "exp0")
  has(out, "slope at 0 = 0.2499", "exp0")
  result(out, "exp0")
  check_png(tmp .. "/e0/sigmoid_saturation_plot.png")
end)

local exp1_csv
test("01 He init + LeakyReLU (the main job)", function()
  local out = run_script("01_he_init_leaky_relu.lua", "e1")
  has(out, "Total params: 266,610", "exp1 summary")
  has(out, "leaky_re_lu (LeakyReLU)", "exp1 summary")
  has(out, " - loss: ", "exp1 progress")
  has(out, " - val_accuracy: ", "exp1 progress")
  exp1_csv = read_file(tmp .. "/e1/keras_learning_curves.csv")
  local r = result(out, "exp1")
  probability(r.test_accuracy, "test_accuracy")
  -- one epoch of 157 steps at lr 1e-3 already beats chance (0.1) by far
  assert(r.test_accuracy > 0.3, "one epoch on the sample: test accuracy " .. r.test_accuracy)
  check_png(tmp .. "/e1/keras_learning_curves_plot.png")
  check_h5(tmp .. "/e1/my_model.h5")
  local lines = csv_lines(tmp .. "/e1/keras_learning_curves.csv")
  assert(lines[1] == "epoch,loss,accuracy,val_loss,val_accuracy", "CSV header: " .. lines[1])
  assert(#lines == 2, "one epoch, one row: " .. #lines)
end)

test("01 gives the same numbers with 1 and 2 threads", function()
  assert(exp1_csv, "the 2-thread run did not finish")
  has(run_script("01_he_init_leaky_relu.lua", "e1_t1", "OMP_NUM_THREADS=1"),
      "seed 42, 1 thread(s)", "exp1 header")
  has(run_script("01_he_init_leaky_relu.lua", "e1_t2", "OMP_NUM_THREADS=2"),
      "seed 42, 2 thread(s)", "exp1 header")
  local a = read_file(tmp .. "/e1_t1/keras_learning_curves.csv")
  local b = read_file(tmp .. "/e1_t2/keras_learning_curves.csv")
  assert(a == b, "1 thread:\n" .. tostring(a) .. "\n2 threads:\n" .. tostring(b))
  assert(a == exp1_csv, "a rerun with the same seed differs")
end)

test("02 BN after activation", function()
  local out = run_script("02_batchnorm_after_activation.lua", "e2")
  has(out, "Total params: 271,346", "exp2 summary")
  has(out, "Trainable params: 268,978", "exp2 summary")
  has(out, "Non-trainable params: 2,368", "exp2 summary")
  has(out, '{"batch_normalization/gamma:0", true}', "exp2 BN variables")
  has(out, '{"batch_normalization/beta:0", true}', "exp2 BN variables")
  has(out, '{"batch_normalization/moving_mean:0", false}', "exp2 BN variables")
  has(out, '{"batch_normalization/moving_variance:0", false}', "exp2 BN variables")
  local r = result(out, "exp2")
  probability(r.test_accuracy, "test_accuracy")
  assert(r.params == 271346, "params " .. tostring(r.params))
  check_png(tmp .. "/e2/bn_after_learning_curves.png")
  assert(#csv_lines(tmp .. "/e2/bn_after_history.csv") == 2)
end)

test("03 BN before activation", function()
  local out = run_script("03_batchnorm_before_activation.lua", "e3")
  has(out, "activation (Activation)", "exp3 summary")
  has(out, "Total params: 270,946", "exp3 summary")
  has(out, "Non-trainable params: 2,368", "exp3 summary")
  local r = result(out, "exp3")
  probability(r.test_accuracy, "test_accuracy")
  check_png(tmp .. "/e3/bn_before_learning_curves.png")
end)

test("04 transfer learning", function()
  local out = run_script("04_transfer_learning.lua", "e4")
  has(out, "X_train_B:shape()  (200, 28, 28)", "exp4 shapes")
  has(out, "y_train_A[1..30]   {", "exp4 labels")
  -- the 4 frozen epochs train only the new output layer: 50 * 1 + 1
  has(out, "Trainable params: 51", "exp4c frozen summary")
  has(out, "Non-trainable params: 275,750", "exp4c frozen summary")
  has(out, "model A's first Dense kernel changed by training B on A: true", "exp4c sharing")
  for _, id in ipairs({"exp4a", "exp4b", "exp4c", "exp4"}) do result(out, id) end
  probability(result(out, "exp4a").val_accuracy, "4a val_accuracy")
  probability(result(out, "exp4c").test_accuracy, "4c test_accuracy")
  check_h5(tmp .. "/e4/my_model_A.h5")
  check_png(tmp .. "/e4/transfer_learning_curves.png")
  local lines = csv_lines(tmp .. "/e4/transfer_histories.csv")
  assert(lines[1] == "model,epoch,loss,accuracy,val_loss,val_accuracy", lines[1])
  assert(#lines == 1 + 4, "4 histories of 1 epoch: " .. #lines)
end)

test("05 optimizers", function()
  local out = run_script("05_optimizers.lua", "e5")
  has(out, "--- adamw ---", "exp5")
  has(out, "ranking by val_acc: ", "exp5")
  local names = {"sgd", "rmsprop", "adagrad", "adam", "momentum", "nesterov", "nadam", "adamax",
                 "adamw", "adagrad0"}
  for _, ds in ipairs({"mnist", "fashion_mnist"}) do
    local r = result(out, "exp5_" .. ds)
    for _, n in ipairs(names) do probability(r[n], ds .. " " .. n) end
    check_png(tmp .. "/e5/optimizers_" .. ds .. ".png")
    assert(#csv_lines(tmp .. "/e5/optimizers_" .. ds .. "_summary.csv") == 1 + #names)
  end
  local lines = csv_lines(tmp .. "/e5/optimizers_histories.csv")
  assert(lines[1] == "dataset,optimizer,run,epoch,loss,acc,val_loss,val_acc", lines[1])
  assert(#lines == 1 + 2 * #names, "2 datasets x 10 optimizers x 1 run x 1 epoch: " .. #lines)
end)

test("06 chapter-14 CNN", function()
  local out = run_script("06_cnn_fashion_mnist.lua", "e6")
  has(out, "Total params: 1,413,834", "exp6 summary")
  has(out, "max_pooling2d (MaxPooling2D) (None, 14, 14, 64)", "exp6 summary")
  has(out, "X_train (512, 28, 28, 1)", "exp6 data")
  has(out, " - val_accuracy: ", "exp6 progress")
  local r = result(out, "exp6")
  probability(r.test_accuracy, "test_accuracy")
  assert(r.epochs == 1 and r.params == 1413834, "exp6 RESULT fields")
  check_png(tmp .. "/e6/cnn_learning_curves.png")
  check_png(tmp .. "/e6/cnn_filters.png")
  assert(#csv_lines(tmp .. "/e6/cnn_history.csv") == 2)
end)

test("07 LeNet-5-style CNN", function()
  local out = run_script("07_lenet_fashion_mnist.lua", "e7")
  has(out, "conv2d_1 (Conv2D)            (None, 10, 10, 50)        25050", "exp7 summary")
  has(out, "Total params: 656,080", "exp7 summary")
  local r = result(out, "exp7")
  -- one epoch of 157 steps on the sample already beats chance by far
  assert(r.test_accuracy > 0.5, "one epoch on the sample: test accuracy " .. r.test_accuracy)
  check_png(tmp .. "/e7/lenet_learning_curves.png")
  check_png(tmp .. "/e7/lenet_filters.png")
  check_h5(tmp .. "/e7/lenet_model.h5")
end)

test("08 time series", function()
  local out = run_script("08_time_series.lua", "e8")
  local r = result(out, "exp8")
  for _, n in ipairs({"naive", "linear", "simple_rnn", "deep_rnn", "deep_rnn2", "rnn_10",
                      "lstm_10", "gru_10"}) do
    assert(type(r[n]) == "number" and r[n] > 0 and r[n] < 10, "exp8 " .. n .. ": " .. tostring(r[n]))
  end
  assert(r.naive > 0.01 and r.naive < 0.04, "naive forecast MSE " .. r.naive)
  check_png(tmp .. "/e8/time_series.png")
  assert(#csv_lines(tmp .. "/e8/time_series.csv") == 1 + 8)
  local ok, err = pcall(run_script, "08_time_series.lua", "e8bad", nil, "epoch=3")
  assert(not ok and tostring(err):find("unknown argument 'epoch=3'", 1, true), tostring(err))
end)

test("09 char rnn", function()
  local out = run_script("09_char_rnn.lua", "e9")
  local r = result(out, "exp9")
  probability(r.accuracy, "exp9 accuracy")
  assert(r.loss > 0 and r.vocabulary > 20, "exp9: " .. tostring(r.loss) .. " " .. tostring(r.vocabulary))
  has(out, "== temperature 0.5", "exp9")
  local samples = read_file(tmp .. "/e9/char_rnn_samples.txt")
  assert(samples and samples:find("== temperature 1.0", 1, true), "exp9 samples")
  assert(#csv_lines(tmp .. "/e9/char_rnn_history.csv") == 1 + 1)
end)

test("a bad argument is refused clearly", function()
  local ok, err = pcall(run_script, "05_optimizers.lua", "e5bad", nil, "cifar10")
  assert(not ok and tostring(err):find("unknown argument 'cifar10'", 1, true), tostring(err))
  ok, err = pcall(run_script, "07_lenet_fashion_mnist.lua", "e7bad", nil, "epochs=x")
  assert(not ok and tostring(err):find("unknown argument 'epochs=x'", 1, true), tostring(err))
end)

os.execute("rm -rf " .. shquote(tmp))
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then error(failed .. " test(s) failed") end
