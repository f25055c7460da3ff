-- Hands-On ML chapter 12's custom loss and metric, written in Lua and
-- trained with fit on Fashion-MNIST: the Huber loss as a plain function,
-- as a class with a threshold (ln.losses.Loss:extend, saved with its
-- config), and the streaming HuberMetric (ln.metrics.Metric:extend),
-- listed in the history under its name. The targets are the one-hot
-- labels and the outputs softmax probabilities, so the Huber loss acts on
-- probabilities. Saved and loaded back with custom_objects.
--
--   lunet scripts/examples/huber_loss.lua      (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

-- the per-sample Huber loss of an error tensor (mean over the outputs)
local function huber(error, threshold)
  local is_small = error:abs():lt(threshold)
  local squared = error:square() / 2
  local linear = error:abs() * threshold - threshold ^ 2 / 2
  return ln.where(is_small, squared, linear):mean(2)
end

local function huber_fn(y_true, y_pred) return huber(y_true - y_pred, 1) end

local HuberLoss = ln.losses.Loss:extend{name = "HuberLoss", defaults = {threshold = 1.0},
  call = function(self, y_true, y_pred) return huber(y_true - y_pred, self.threshold) end}

local HuberMetric = ln.metrics.Metric:extend{name = "HuberMetric", defaults = {threshold = 1.0},
  init = function(self) self.total, self.count = 0, 0 end,
  update_state = function(self, y_true, y_pred)
    local metric = huber(y_true - y_pred, self.threshold)
    self.total = self.total + metric:sum()
    self.count = self.count + metric:numel()
  end,
  result = function(self) return self.total / self.count end,
  reset_state = function(self) self.total, self.count = 0, 0 end}

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local function one_hot(y) return ln.one_hot(y, 10) end
local Y_train, Y_valid, Y_test = one_hot(d.y_train), one_hot(d.y_valid), one_hot(d.y_test)

local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{100, activation = "relu", kernel_initializer = "he_normal"},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = HuberLoss{threshold = 2.0}, optimizer = ln.optimizers.Nadam{},
              metrics = {HuberMetric{threshold = 2.0, name = "huber_metric"}, huber_fn,
                         "categorical_accuracy"}}
local history = model:fit(d.X_train, Y_train, {epochs = common.epochs(5),
                                              validation_data = {d.X_valid, Y_valid}})
local loaded = common.save_and_reload(model, {HuberLoss = HuberLoss, HuberMetric = HuberMetric,
                                              huber_fn = huber_fn})
local r = loaded:evaluate(d.X_test, Y_test, {verbose = 0, return_dict = true})
print(string.format("RESULT huber_loss loss=%.4f huber_metric=%.4f test_accuracy=%.4f " ..
                    "history_keys=%d", r.loss, r.huber_metric, r.categorical_accuracy,
                    #history.history.val_huber_metric))
