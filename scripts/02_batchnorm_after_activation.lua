-- Experiment 2 of the tutorial: Batch Normalization after the activation
-- (the notebook's "IV. (1)"): BN on the input and after each hidden Dense.
--
--   lunet scripts/02_batchnorm_after_activation.lua [outdir]
--
-- prints the summary (271,346 params: 268,978 trainable, 2,368 not), the
-- first BN layer's variables with their trainable flags, the progress of
-- 10 epochs and the test evaluation; writes bn_after_learning_curves.png
-- and bn_after_history.csv into outdir.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp2", "BatchNormalization after the activation (Fashion-MNIST)", {
  "Flatten -> BN -> Dense(300, relu) -> BN -> Dense(100, relu) -> BN -> Dense(10, softmax);",
  "SGD(lr=1e-3), 10 epochs. notebook: 271,346 params (2,368 non-trainable);",
  "epoch 10 val_accuracy 0.8664; test loss 0.3969, accuracy 0.8568",
})

local d = common.fashion_mnist()

local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.BatchNormalization{},
  ln.layers.Dense{300, activation = "relu"},
  ln.layers.BatchNormalization{},
  ln.layers.Dense{100, activation = "relu"},
  ln.layers.BatchNormalization{},
  ln.layers.Dense{10, activation = "softmax"},
}
model:summary()

-- bn1 = model.layers[1] (Keras counts from 0); its variables and flags
local bn1 = model.layers[2]
print("bn1 = model.layers[2]")
for _, var in ipairs(bn1.variables) do
  print(string.format("  {%q, %s}", var.name, tostring(var.trainable)))
end

model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
              metrics = {"accuracy"}}
local history = model:fit(d.X_train, d.y_train, {epochs = common.epochs(10),
                                                 validation_data = {d.X_valid, d.y_valid}})
run:save_fig("bn_after_learning_curves", function(file)
  ln.plot.history(history, file, {figsize = {8, 5},
                                  title = "BatchNormalization after the activation"})
end)
common.write_history_csv(run:path("bn_after_history.csv"), history)

local loss, acc = model:evaluate(d.X_test, d.y_test)
common.print_eval(loss, acc)

run:result({{"test_loss", loss}, {"test_accuracy", acc},
            {"val_accuracy", common.last(history, "val_accuracy")},
            {"params", model:count_params()}})
