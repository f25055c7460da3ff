-- Hands-On ML chapter 12's custom layer and custom functions, in Lua:
-- MyDense (ln.layers.Layer:extend: add_weight in build, the forward pass in
-- call, get_config through defaults) taking a custom activation
-- (my_softplus), initializer (my_glorot_initializer), regularizer (a
-- Regularizer:extend class, MyL1Regularizer) and constraint
-- (my_positive_weights) -- all Lua functions or classes -- mixed with
-- built-in layers in a Sequential, trained with fit on Fashion-MNIST, saved
-- and loaded back with custom_objects.
--
--   lunet scripts/examples/my_dense.lua      (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local function my_softplus(z) return (z:exp() + 1):log() end

local function my_glorot_initializer(shape)
  local stddev = math.sqrt(2 / (shape[1] + shape[2]))
  return ln.randn(shape) * stddev
end

local MyL1Regularizer = ln.regularizers.Regularizer:extend{name = "MyL1Regularizer",
  defaults = {factor = 0.01},
  call = function(self, weights) return weights:abs():sum() * self.factor end}

local function my_positive_weights(weights) return ln.where(weights:lt(0), weights * 0, weights) end

local MyDense = ln.layers.Layer:extend{
  name = "MyDense",
  defaults = {units = 32, activation = "linear", kernel_initializer = "glorot_uniform",
              kernel_regularizer = false, kernel_constraint = false},
  init = function(self)
    -- a name ("relu") or a Lua function
    self.act = type(self.activation) == "function" and self.activation
               or ln.activations.get(self.activation)
  end,
  build = function(self, input_shape)
    self.kernel = self:add_weight{name = "kernel", shape = {input_shape[#input_shape], self.units},
                                  initializer = self.kernel_initializer,
                                  regularizer = self.kernel_regularizer or nil,
                                  constraint = self.kernel_constraint or nil}
    self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
  end,
  call = function(self, x) return self.act(ln.matmul(x, self.kernel) + self.bias) end,
}

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  MyDense{units = 300, activation = my_softplus, kernel_initializer = my_glorot_initializer,
          kernel_regularizer = MyL1Regularizer{factor = 1e-5},
          kernel_constraint = my_positive_weights},
  ln.layers.Dense{100, activation = "relu", kernel_initializer = "he_normal"},
  MyDense{units = 10, activation = "softmax"},
}
model:summary()
model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Nadam{},
              metrics = {"accuracy"}}
model:fit(d.X_train, d.y_train, {epochs = common.epochs(5), validation_data = {d.X_valid, d.y_valid}})
assert(model.layers[2].kernel:min() >= 0, "the constraint holds after every step")
local loaded = common.save_and_reload(model, {
  MyDense = MyDense, my_softplus = my_softplus, my_glorot_initializer = my_glorot_initializer,
  MyL1Regularizer = MyL1Regularizer, my_positive_weights = my_positive_weights})
local loss, acc = loaded:evaluate(d.X_test, d.y_test, {verbose = 0})
print(string.format("RESULT my_dense test_loss=%.4f test_accuracy=%.4f", loss, acc))
