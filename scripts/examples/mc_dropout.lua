-- Hands-On ML's MC Dropout (chapter 11, written as in chapter 12): a
-- subclass of the built-in Dropout layer whose call keeps dropout on at
-- inference (ln.layers.Dropout:extend, overriding call). Trained with fit
-- on Fashion-MNIST, then the test set's predictions are averaged over 20
-- stochastic passes; saved and loaded back with custom_objects.
--
--   lunet scripts/examples/mc_dropout.lua      (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local MCDropout = ln.layers.Dropout:extend{name = "MCDropout",
  call = function(self, x) return ln.layers.Dropout.call(self, x, true) end}

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  MCDropout{rate = 0.2},
  ln.layers.Dense{300, activation = "elu", kernel_initializer = "he_normal"},
  MCDropout{rate = 0.2},
  ln.layers.Dense{100, activation = "elu", kernel_initializer = "he_normal"},
  MCDropout{rate = 0.2},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Nadam{},
              metrics = {"accuracy"}}
model:fit(d.X_train, d.y_train, {epochs = common.epochs(5), validation_data = {d.X_valid, d.y_valid}})
local loaded = common.save_and_reload(model, {MCDropout = MCDropout})

local function accuracy(p) return (p:argmax(2):int() - 1):eq(d.y_test:int()):float():mean() end
local once = loaded:predict(d.X_test)
local sum = once:clone()
for _ = 2, 20 do sum:add_(loaded:predict(d.X_test)) end
local mc = sum / 20
print(string.format("RESULT mc_dropout one_pass_accuracy=%.4f mc20_accuracy=%.4f " ..
                    "passes_differ=%s", accuracy(once), accuracy(mc),
                    tostring(not once:equal(loaded:predict(d.X_test)))))
