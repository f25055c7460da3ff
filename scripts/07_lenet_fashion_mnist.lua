-- Experiment 7: a LeNet-5-style network on Fashion-MNIST, small enough to
-- train in a few minutes on 2 cores:
--
--   lunet scripts/07_lenet_fashion_mnist.lua [outdir] [epochs=N]
--
-- Reshape(28, 28, 1) -> Conv2D(20, 5x5, "same", relu) -> MaxPooling2D(2)
-- -> Conv2D(50, 5x5, relu) -> MaxPooling2D(2) -> Flatten -> Dense(500,
-- relu) -> Dense(10, softmax): LeNet-5's two convolution + subsampling
-- stages and its fully connected head (in the widths of Caffe's and
-- MXNet's LeNet examples), with ReLU and max pooling; Adam (lr 1e-3),
-- batch 32, 5 epochs, pixels / 255.
--
-- Writes into outdir (default "out"): lenet_learning_curves.png,
-- lenet_filters.png (the 20 first-layer 5x5 kernels), lenet_history.csv,
-- lenet_model.h5. LUNET_SMOKE=1: 1 epoch on the repo's sample.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local epochs_arg = common.epochs_arg("07_lenet_fashion_mnist")
local run = common.start("exp7", "LeNet-5-style CNN (Fashion-MNIST)", {
  "Conv 20 5x5 -> MaxPool 2 -> Conv 50 5x5 -> MaxPool 2 -> Dense 500 -> Dense 10;",
  "Adam 1e-3, batch 32, 5 epochs. Target: >= 0.90 test accuracy in minutes.",
})

local d = common.fashion_mnist()
print("X_train " .. common.shape(d.X_train) .. ", X_valid " .. common.shape(d.X_valid) ..
      ", X_test " .. common.shape(d.X_test))

local L = ln.layers
local model = ln.Sequential{
  L.Reshape{{28, 28, 1}, input_shape = {28, 28}},
  L.Conv2D{20, 5, padding = "same", activation = "relu"},
  L.MaxPooling2D{2},
  L.Conv2D{50, 5, activation = "relu"},
  L.MaxPooling2D{2},
  L.Flatten{},
  L.Dense{500, activation = "relu"},
  L.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.Adam{learning_rate = 1e-3}, metrics = {"accuracy"}}
model:summary()

local epochs = epochs_arg or common.epochs(5)
local t0 = ln.time()
local history = model:fit(d.X_train, d.y_train, {epochs = epochs,
                                                 validation_data = {d.X_valid, d.y_valid}})
local train_seconds = ln.time() - t0

run:save_fig("lenet_learning_curves", function(file)
  ln.plot.history(history, file, {figsize = {8, 5}})
end)
run:save_fig("lenet_filters", function(file)
  common.plot_filters(file, model.layers[2], "first layer: 20 kernels 5x5 (light = large)")
end)
common.write_history_csv(run:path("lenet_history.csv"), history)

local loss, acc = model:evaluate(d.X_test, d.y_test)
common.print_eval(loss, acc)
model:save(run:path("lenet_model.h5"))
run:result({{"test_loss", loss}, {"test_accuracy", acc},
            {"val_accuracy", common.last(history, "val_accuracy")}, {"epochs", epochs},
            {"params", model:count_params()}, {"train_seconds", train_seconds}})
