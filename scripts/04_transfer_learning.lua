-- Experiment 4 of the tutorial: reusing pretrained layers (the notebook's
-- "V."). Fashion-MNIST is split into
--   task A: every class but sandal (5) and shirt (6), labels 7, 8, 9 -> 5, 6, 7
--   task B: sandal or shirt, "is it a shirt?", only 200 training images.
-- 4a trains model A (5 SELU layers, 20 epochs) and saves my_model_A.h5;
-- 4b trains the same stack on B from scratch (20 epochs);
-- 4c loads my_model_A.h5, reuses every layer but the output one under a new
--    Dense(1, sigmoid), trains 4 epochs with the reused layers frozen, then
--    16 epochs unfrozen (compiling again after each change).
--
--   lunet scripts/04_transfer_learning.lua [outdir]
--
-- writes my_model_A.h5, transfer_histories.csv and transfer_learning_curves.png.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp4", "transfer learning (Fashion-MNIST task A -> task B)", {
  "A: Flatten -> Dense 300, 100, 50, 50, 50 (selu) -> Dense(8, softmax), SGD(1e-3), 20 epochs",
  "B: same stack -> Dense(1, sigmoid), binary cross-entropy, 200 images, 20 epochs",
  "B on A: model A's layers (loaded from my_model_A.h5) + Dense(1): 4 frozen + 16 epochs",
  "notebook: 4a val_accuracy 0.9208; 4b test accuracy 0.9705; 4c test accuracy 0.9930",
})

local d = common.fashion_mnist()

-- The notebook's split_dataset(X, y): A = not sandal/shirt (labels above 6
-- moved down by 2), B = sandal/shirt with y = 1 for a shirt (float32).
local function split_dataset(X, y)
  local y_5_or_6 = y:eq(5) | y:eq(6)
  local y_A = y[~y_5_or_6]
  y_A[y_A:gt(6)] = y_A[y_A:gt(6)] - 2
  local y_B = y[y_5_or_6]:eq(6):float()
  return {X[~y_5_or_6], y_A}, {X[y_5_or_6], y_B}
end

local train_A, train_B = split_dataset(d.X_train, d.y_train)
local valid_A, valid_B = split_dataset(d.X_valid, d.y_valid)
local test_A, test_B = split_dataset(d.X_test, d.y_test)
local X_train_A, y_train_A = train_A[1], train_A[2]
local X_train_B, y_train_B = train_B[1]:narrow(1, 1, 200), train_B[2]:narrow(1, 1, 200)
local X_valid_A, y_valid_A = valid_A[1], valid_A[2]
local X_valid_B, y_valid_B = valid_B[1], valid_B[2]
local X_test_B, y_test_B = test_B[1], test_B[2]

local function head30(t)
  return "{" .. table.concat(t:narrow(1, 1, 30):int():totable(), ", ") .. "}"
end
print("X_train_A:shape()  " .. common.shape(X_train_A))
print("X_train_B:shape()  " .. common.shape(X_train_B))
print("y_train_A[1..30]   " .. head30(y_train_A))
print("y_train_B[1..30]   " .. head30(y_train_B))
print(string.format("valid A %d, valid B %d, test A %d, test B %d", #X_valid_A, #X_valid_B,
                    #test_A[1], #X_test_B))

local histories = {}

-- ---- 4a: model A -------------------------------------------------------------------------
print("\n-- (3) model A: 8 classes, 20 epochs")
local t_a = ln.time()
local model_A = ln.models.Sequential()
model_A:add(ln.layers.Flatten{input_shape = {28, 28}})
for _, n_hidden in ipairs({300, 100, 50, 50, 50}) do
  model_A:add(ln.layers.Dense{n_hidden, activation = "selu"})
end
model_A:add(ln.layers.Dense{8, activation = "softmax"})
model_A:compile{loss = "sparse_categorical_crossentropy",
                optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
                metrics = {"accuracy"}}
local history = model_A:fit(X_train_A, y_train_A, {epochs = common.epochs(20),
                                                   validation_data = {X_valid_A, y_valid_A}})
histories[#histories + 1] = {{"A"}, history}
local val_A = common.last(history, "val_accuracy")
model_A:save(run:path("my_model_A.h5"))
print("saved " .. run:path("my_model_A.h5"))
run:result({{"val_accuracy", val_A}}, "exp4a", ln.time() - t_a)

-- ---- 4b: model B from scratch -------------------------------------------------------------
print("\n-- (4) model B: from scratch on 200 images, 20 epochs")
local t_b = ln.time()
local model_B = ln.models.Sequential()
model_B:add(ln.layers.Flatten{input_shape = {28, 28}})
for _, n_hidden in ipairs({300, 100, 50, 50, 50}) do
  model_B:add(ln.layers.Dense{n_hidden, activation = "selu"})
end
model_B:add(ln.layers.Dense{1, activation = "sigmoid"})
model_B:compile{loss = "binary_crossentropy",
                optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
                metrics = {"accuracy"}}
history = model_B:fit(X_train_B, y_train_B, {epochs = common.epochs(20),
                                             validation_data = {X_valid_B, y_valid_B}})
histories[#histories + 1] = {{"B"}, history}
local t_b_fit = ln.time() - t_b

-- ---- 4c: model B on A --------------------------------------------------------------------
print("\n-- (5) transfer: model A loaded from my_model_A.h5, its layers reused")
local t_c = ln.time()
model_A = ln.models.load_model(run:path("my_model_A.h5"))
local reused = {table.unpack(model_A.layers, 1, #model_A.layers - 1)}
local model_B_on_A = ln.models.Sequential(reused)
model_B_on_A:add(ln.layers.Dense{1, activation = "sigmoid"})
local A_kernel_before = model_A.layers[2].kernel:read_value()

-- (6) freeze the reused layers for 4 epochs, then unfreeze for 16
for i = 1, #model_B_on_A.layers - 1 do model_B_on_A.layers[i].trainable = false end
model_B_on_A:compile{loss = "binary_crossentropy",
                     optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
                     metrics = {"accuracy"}}
model_B_on_A:summary()
local h1 = model_B_on_A:fit(X_train_B, y_train_B, {epochs = common.epochs(4),
                                                   validation_data = {X_valid_B, y_valid_B}})
for i = 1, #model_B_on_A.layers - 1 do model_B_on_A.layers[i].trainable = true end
model_B_on_A:compile{loss = "binary_crossentropy",
                     optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
                     metrics = {"accuracy"}}
local h2 = model_B_on_A:fit(X_train_B, y_train_B, {epochs = common.epochs(16),
                                                   validation_data = {X_valid_B, y_valid_B}})
histories[#histories + 1] = {{"B_on_A_frozen"}, h1}
histories[#histories + 1] = {{"B_on_A"}, h2}
local t_c_fit = ln.time() - t_c

-- (7) the final scores
print("\n-- (7) evaluation on the test set of task B")
print("model_B:evaluate(X_test_B, y_test_B)")
local t0 = ln.time()
local loss_B, acc_B = model_B:evaluate(X_test_B, y_test_B)
common.print_eval(loss_B, acc_B)
local t_b_eval = ln.time() - t0
print("model_B_on_A:evaluate(X_test_B, y_test_B)")
t0 = ln.time()
local loss_BA, acc_BA = model_B_on_A:evaluate(X_test_B, y_test_B)
common.print_eval(loss_BA, acc_BA)
local t_c_eval = ln.time() - t0
print(string.format("error rate: B %.2f%%, B on A %.2f%% (divided by %.1f)",
                    100 * (1 - acc_B), 100 * (1 - acc_BA), (1 - acc_B) / math.max(1 - acc_BA, 1e-9)))
-- as the notebook notes: model A shares those layers, so it was trained too
print("model A's first Dense kernel changed by training B on A: " ..
      tostring(not model_A.layers[2].kernel:read_value():equal(A_kernel_before)))

common.write_histories_csv(run:path("transfer_histories.csv"), {"model"}, histories)
run:save_fig("transfer_learning_curves", function(file)
  -- validation accuracy per epoch of B from scratch and of B on A (the
  -- 4 frozen epochs then the 16 unfrozen ones)
  local xb, yb, xba, yba = {}, {}, {}, {}
  for i, v in ipairs(histories[2][2].history.val_accuracy) do xb[i], yb[i] = i, v end
  for _, h in ipairs({h1, h2}) do
    for _, v in ipairs(h.history.val_accuracy) do
      xba[#xba + 1], yba[#yba + 1] = #xba + 1, v
    end
  end
  ln.plot.lines{
    filename = file, figsize = {8, 5}, grid = true, legend = "lower right",
    title = "Task B (sandal or shirt): validation accuracy", xlabel = "epoch",
    ylabel = "val_accuracy", xrange = {1, math.max(#xb, #xba)}, xtics = 1,
    series = {{x = xb, y = yb, label = "model B from scratch"},
              {x = xba, y = yba, label = "model B on A (4 frozen + 16 epochs)"}},
    vlines = {{x = 4.5, style = "k:"}},
  }
end)

run:result({{"test_accuracy", acc_B}, {"test_loss", loss_B}}, "exp4b", t_b_fit + t_b_eval)
run:result({{"test_accuracy", acc_BA}, {"test_loss", loss_BA}}, "exp4c", t_c_fit + t_c_eval)
run:result({{"val_accuracy_4a", val_A}, {"test_accuracy_4b", acc_B},
            {"test_accuracy_4c", acc_BA}})
