-- Experiment 1 of the tutorial: He initialisation + LeakyReLU on
-- Fashion-MNIST (the notebook's "III. (1) LeakyReLU"). The README's main job:
--
--   lunet scripts/01_he_init_leaky_relu.lua [outdir]
--
-- prints the model summary, Keras-style progress for 10 epochs of SGD
-- (lr 1e-3, batch 32: 1719 steps), the test evaluation, and writes into
-- outdir (default "out"): keras_learning_curves_plot.png (the history, as
-- pandas plots it), keras_learning_curves.csv (the history) and
-- my_model.h5 (the trained model, Keras 2 HDF5 layout).
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp1", "He initialisation + LeakyReLU (Fashion-MNIST)", {
  "Flatten -> Dense(300, he_normal) -> LeakyReLU -> Dense(100, he_normal) -> LeakyReLU",
  "-> Dense(10, softmax); sparse categorical cross-entropy, SGD(lr=1e-3), 10 epochs.",
  "notebook: epoch 10 val_accuracy 0.8394; test loss 0.5155, accuracy 0.8241",
})

local d = common.fashion_mnist()
print("X_train " .. common.shape(d.X_train) .. ", X_valid " .. common.shape(d.X_valid) ..
      ", X_test " .. common.shape(d.X_test))

-- tf.random.set_seed(42); np.random.seed(42)  (common.start seeded)
local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{300, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{100, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
              metrics = {"accuracy"}}
model:summary()

local history = model:fit(d.X_train, d.y_train, {epochs = common.epochs(10),
                                                 validation_data = {d.X_valid, d.y_valid}})

-- pd.DataFrame(history.history).plot(figsize=(8, 5)); grid; ylim(0, 1)
run:save_fig("keras_learning_curves_plot", function(file)
  ln.plot.history(history, file, {figsize = {8, 5}})
end)
common.write_history_csv(run:path("keras_learning_curves.csv"), history)

local loss, acc = model:evaluate(d.X_test, d.y_test)
common.print_eval(loss, acc)

model:save(run:path("my_model.h5"))
print("saved " .. run:path("my_model.h5") .. ", " .. run:path("keras_learning_curves.csv"))

run:result({{"test_loss", loss}, {"test_accuracy", acc},
            {"val_accuracy", common.last(history, "val_accuracy")}})
