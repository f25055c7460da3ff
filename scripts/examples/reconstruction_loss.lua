-- Hands-On ML chapter 12's reconstruction loss, in a Sequential model: a
-- layer written in Lua encodes its input with a Dense layer of its own and
-- also reconstructs that input from the code; the reconstruction error
-- (times 0.05) joins the model's loss through self:add_loss, and
-- self:add_metric logs it in fit's history as "reconstruction_error".
-- Placed first, the layer's input is the model's (flattened) input, as in
-- the book's ReconstructingRegressor. Trained on Fashion-MNIST, saved and
-- loaded back with custom_objects.
--
--   lunet scripts/examples/reconstruction_loss.lua      (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local ReconstructingEncoder = ln.layers.Layer:extend{
  name = "ReconstructingEncoder", defaults = {units = 100, weight = 0.05},
  init = function(self)
    self.encoder = ln.layers.Dense{self.units, activation = "selu",
                                   kernel_initializer = "lecun_normal"}
  end,
  build = function(self, input_shape)
    self.reconstruct = ln.layers.Dense{input_shape[#input_shape]}
  end,
  call = function(self, x, training)
    local code = self.encoder(x, {training = training})
    local reconstruction = self.reconstruct(code, {training = training})
    local error = (reconstruction - x):square():mean()
    self:add_loss(error * self.weight)
    self:add_metric(error, "reconstruction_error")
    return code
  end,
}

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ReconstructingEncoder{units = 100},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Nadam{},
              metrics = {"accuracy"}}
local h = model:fit(d.X_train, d.y_train, {epochs = common.epochs(5),
                                          validation_data = {d.X_valid, d.y_valid}})
local loaded = common.save_and_reload(model, {ReconstructingEncoder = ReconstructingEncoder})
local r = loaded:evaluate(d.X_test, d.y_test, {verbose = 0, return_dict = true})
print(string.format("RESULT reconstruction_loss test_loss=%.4f test_accuracy=%.4f " ..
                    "reconstruction_error=%.4f train_reconstruction_error=%.4f", r.loss,
                    r.accuracy, r.reconstruction_error, h.history.reconstruction_error[#h.history.reconstruction_error]))
