-- Experiment 3 of the tutorial: Batch Normalization before the activation
-- (the notebook's "IV. (2)"): the hidden Dense layers lose their bias
-- (use_bias = false: BN's beta shifts instead), then BN, then the ReLU as
-- its own Activation layer.
--
--   lunet scripts/03_batchnorm_before_activation.lua [outdir]
--
-- prints the summary, the progress of 10 epochs and the test evaluation;
-- writes bn_before_learning_curves.png and bn_before_history.csv.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp3", "BatchNormalization before the activation (Fashion-MNIST)", {
  "Flatten -> BN -> Dense(300, no bias) -> BN -> relu -> Dense(100, no bias) -> BN -> relu",
  "-> Dense(10, softmax); SGD(lr=1e-3), 10 epochs.",
  "notebook: epoch 10 val_accuracy 0.8680; test loss 0.4244, accuracy 0.8471",
})

local d = common.fashion_mnist()

local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.BatchNormalization{},
  ln.layers.Dense{300, use_bias = false},
  ln.layers.BatchNormalization{},
  ln.layers.Activation{"relu"},
  ln.layers.Dense{100, use_bias = false},
  ln.layers.BatchNormalization{},
  ln.layers.Activation{"relu"},
  ln.layers.Dense{10, activation = "softmax"},
}
model:summary()

model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
              metrics = {"accuracy"}}
local history = model:fit(d.X_train, d.y_train, {epochs = common.epochs(10),
                                                 validation_data = {d.X_valid, d.y_valid}})
run:save_fig("bn_before_learning_curves", function(file)
  ln.plot.history(history, file, {figsize = {8, 5},
                                  title = "BatchNormalization before the activation"})
end)
common.write_history_csv(run:path("bn_before_history.csv"), history)

local loss, acc = model:evaluate(d.X_test, d.y_test)
common.print_eval(loss, acc)

run:result({{"test_loss", loss}, {"test_accuracy", acc},
            {"val_accuracy", common.last(history, "val_accuracy")},
            {"params", model:count_params()}})
