-- Hands-On ML chapter 12's residual block: a layer written in Lua that
-- holds built-in Dense layers in its fields (they are tracked: their
-- weights are the block's, trained by fit, counted by summary, saved with
-- the block) and adds its input to their output. Trained on Fashion-MNIST,
-- saved and loaded back with custom_objects.
--
--   lunet scripts/examples/residual_block.lua      (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local ResidualBlock = ln.layers.Layer:extend{
  name = "ResidualBlock", defaults = {n_layers = 2, n_neurons = 30},
  init = function(self)
    self.hidden = {}
    for i = 1, self.n_layers do
      local layer = ln.layers.Dense{self.n_neurons, activation = "elu",
                                    kernel_initializer = "he_normal"}
      self["hidden_" .. i] = layer -- tracked: assigned to a field
      self.hidden[i] = layer
    end
  end,
  call = function(self, x, training)
    local z = x
    for _, layer in ipairs(self.hidden) do z = layer(z, {training = training}) end
    return x + z
  end,
}

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local block1 = ResidualBlock{n_layers = 2, n_neurons = 100}
local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{100, activation = "elu", kernel_initializer = "he_normal"},
  block1,
  ResidualBlock{n_layers = 2, n_neurons = 100},
  ln.layers.Dense{10, activation = "softmax"},
}
model:summary()
model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Nadam{},
              metrics = {"accuracy"}}
model:fit(d.X_train, d.y_train, {epochs = common.epochs(5), validation_data = {d.X_valid, d.y_valid}})
local loaded = common.save_and_reload(model, {ResidualBlock = ResidualBlock})
local loss, acc = loaded:evaluate(d.X_test, d.y_test, {verbose = 0})
print(string.format("RESULT residual_block test_loss=%.4f test_accuracy=%.4f block_params=%d",
                    loss, acc, block1:count_params()))
