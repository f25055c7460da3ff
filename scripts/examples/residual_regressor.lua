-- Hands-On ML chapter 12's subclassed model, ResidualRegressor, in Lua:
-- ln.Model:extend with its layers in fields and its forward pass in call
-- -- a Dense layer, a residual block (a Lua layer) applied 1 + 3 times
-- (the same weights each time, as in the book), a second block, the
-- output layer. Trained with fit and EarlyStopping on Fashion-MNIST (ten
-- classes rather than the book's California housing regression: the data
-- the repository ships), its weights saved with save_weights and loaded
-- into a new instance, which predicts the same bits; model:save is refused
-- as Keras refuses it.
--
--   lunet scripts/examples/residual_regressor.lua [outdir] [epochs=N]
--   (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local epochs = common.epochs_arg("residual_regressor") or common.epochs(10)
local outdir = common.make_dir((arg and arg[1] and arg[1] ~= "") and arg[1] or "out")

local ResidualBlock = ln.layers.Layer:extend{
  name = "ResidualBlock", defaults = {n_layers = 2, n_neurons = 30},
  init = function(self)
    self.hidden = {}
    for i = 1, self.n_layers do
      self.hidden[i] = ln.layers.Dense{self.n_neurons, activation = "elu",
                                       kernel_initializer = "he_normal"}
    end
  end,
  call = function(self, x, training)
    local z = x
    for _, layer in ipairs(self.hidden) do z = layer(z, {training = training}) end
    return x + z
  end,
}

local ResidualRegressor = ln.Model:extend{
  name = "ResidualRegressor", defaults = {output_dim = 10},
  init = function(self)
    self.flatten = ln.layers.Flatten{}
    self.hidden1 = ln.layers.Dense{30, activation = "elu", kernel_initializer = "he_normal"}
    self.block1 = ResidualBlock{n_layers = 2, n_neurons = 30}
    self.block2 = ResidualBlock{n_layers = 2, n_neurons = 30}
    self.out = ln.layers.Dense{self.output_dim, activation = "softmax"}
  end,
  call = function(self, inputs, training)
    local z = self.hidden1(self.flatten(inputs))
    for _ = 1, 1 + 3 do z = self.block1(z, {training = training}) end
    z = self.block2(z, {training = training})
    return self.out(z)
  end,
}

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local model = ResidualRegressor{output_dim = 10, name = "residual_regressor"}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Nadam{},
              metrics = {"accuracy"}}
local history = model:fit(d.X_train, d.y_train, {
  epochs = epochs, validation_data = {d.X_valid, d.y_valid},
  callbacks = {ln.callbacks.EarlyStopping{monitor = "val_accuracy", mode = "max", patience = 3,
                                          restore_best_weights = true}},
})
model:summary()
local loss, acc = model:evaluate(d.X_test, d.y_test, {verbose = 0})
print(string.format("test: loss %.4f, accuracy %.4f", loss, acc))

local ok, err = pcall(model.save, model, outdir .. "/residual_regressor.h5")
print("model:save -> " .. (ok and "saved?!" or tostring(err)))
local path = outdir .. "/residual_regressor.weights.h5"
model:save_weights(path)
local again = ResidualRegressor{output_dim = 10}
again:build({28, 28})
again:load_weights(path)
local same = again:predict(d.X_test):equal(model:predict(d.X_test))
print(string.format("weights saved to %s; a new instance with them predicts the same bits: %s",
                    path, tostring(same)))
print(string.format("RESULT residual_regressor test_loss=%.4f test_accuracy=%.4f epochs=%d " ..
                    "params=%d save_refused=%s same_after_reload=%s", loss, acc,
                    #history.history.loss, model:count_params(), tostring(not ok),
                    tostring(same)))
if ok or not same then os.exit(1) end
