-- Experiment 6: the convolutional network of Hands-On ML (2nd ed.), chapter
-- 14, on Fashion-MNIST:
--
--   lunet scripts/06_cnn_fashion_mnist.lua [outdir] [epochs=N]
--
-- Conv2D(64, 7x7, "SAME", relu) -> MaxPooling2D(2) -> 2 x Conv2D(128, 3x3)
-- -> MaxPooling2D(2) -> 2 x Conv2D(256, 3x3) -> MaxPooling2D(2) -> Flatten
-- -> Dense(128, relu) -> Dropout(0.5) -> Dense(64, relu) -> Dropout(0.5) ->
-- Dense(10, softmax); Nadam, sparse categorical cross-entropy, 10 epochs
-- (the book's), batch 32. Pixels are standardised with the training set's
-- per-pixel mean and standard deviation, as the book does, and given a
-- channel axis (N, 28, 28, 1). The book reports about 92 % test accuracy.
--
-- Writes into outdir (default "out"): cnn_learning_curves.png (the
-- history), cnn_filters.png (the 64 first-layer 7x7 kernels after
-- training), cnn_history.csv. Prints the summary (1,413,834 parameters),
-- Keras progress, the test evaluation and a RESULT line. LUNET_SMOKE=1:
-- 1 epoch on 512 images of the repo's sample.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local epochs_arg = common.epochs_arg("06_cnn_fashion_mnist")
local run = common.start("exp6", "CNN of Hands-On ML chapter 14 (Fashion-MNIST)", {
  "Conv 64 7x7 -> MaxPool 2 -> 2x Conv 128 3x3 -> MaxPool -> 2x Conv 256 3x3 -> MaxPool",
  "-> Flatten -> Dense 128 -> Dropout 0.5 -> Dense 64 -> Dropout 0.5 -> Dense 10;",
  "Nadam, 10 epochs. Book: about 0.92 test accuracy.",
})

local d = common.fashion_mnist()
if common.smoke then
  d.X_train, d.y_train = d.X_train:narrow(1, 1, 512), d.y_train:narrow(1, 1, 512)
  d.X_valid, d.y_valid = d.X_valid:narrow(1, 1, 256), d.y_valid:narrow(1, 1, 256)
  d.X_test, d.y_test = d.X_test:narrow(1, 1, 256), d.y_test:narrow(1, 1, 256)
end

-- X_mean = X_train.mean(axis=0, keepdims=True); X_std = X_train.std(axis=0,
-- keepdims=True) (numpy's: divides by n); X = (X - X_mean) / X_std, then a
-- channel axis. A pixel that is 0 in every training image (the smoke
-- sample's corners) has std 0: it is divided by 1 instead, as scikit-learn's
-- StandardScaler does (the book's 0/0 would make every loss NaN).
local mean = d.X_train:mean(1, true)
local std = ((d.X_train - mean) ^ 2):mean(1, true):sqrt()
std = std + std:eq(0):float()
local function prepare(x)
  return ((x - mean) / std):reshape(#x, 28, 28, 1)
end
local X_train, X_valid, X_test = prepare(d.X_train), prepare(d.X_valid), prepare(d.X_test)
print("X_train " .. common.shape(X_train) .. ", X_valid " .. common.shape(X_valid) ..
      ", X_test " .. common.shape(X_test))

-- DefaultConv2D = partial(keras.layers.Conv2D, kernel_size=3, activation='relu',
--                         padding="SAME")
local function DefaultConv2D(args)
  args.kernel_size = args.kernel_size or 3
  args.activation, args.padding = "relu", "SAME"
  return ln.layers.Conv2D(args)
end
local L = ln.layers
local model = ln.Sequential{
  DefaultConv2D{filters = 64, kernel_size = 7, input_shape = {28, 28, 1}},
  L.MaxPooling2D{pool_size = 2},
  DefaultConv2D{filters = 128},
  DefaultConv2D{filters = 128},
  L.MaxPooling2D{pool_size = 2},
  DefaultConv2D{filters = 256},
  DefaultConv2D{filters = 256},
  L.MaxPooling2D{pool_size = 2},
  L.Flatten{},
  L.Dense{units = 128, activation = "relu"},
  L.Dropout{0.5},
  L.Dense{units = 64, activation = "relu"},
  L.Dropout{0.5},
  L.Dense{units = 10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = "nadam",
              metrics = {"accuracy"}}
model:summary()

local epochs = epochs_arg or common.epochs(10)
local t0 = ln.time()
local history = model:fit(X_train, d.y_train, {epochs = epochs,
                                               validation_data = {X_valid, d.y_valid}})
local train_seconds = ln.time() - t0

run:save_fig("cnn_learning_curves", function(file)
  ln.plot.history(history, file, {figsize = {8, 5}})
end)
run:save_fig("cnn_filters", function(file)
  common.plot_filters(file, model.layers[1], "first layer: 64 kernels 7x7 (light = large)")
end)
common.write_history_csv(run:path("cnn_history.csv"), history)

local loss, acc = model:evaluate(X_test, d.y_test)
common.print_eval(loss, acc)
run:result({{"test_loss", loss}, {"test_accuracy", acc},
            {"val_accuracy", common.last(history, "val_accuracy")}, {"epochs", epochs},
            {"params", model:count_params()}, {"train_seconds", train_seconds}})
