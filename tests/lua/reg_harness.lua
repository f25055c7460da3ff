-- Shared by test_regularizers.lua and test_regularizers_fold.lua: a
-- two-Dense model big enough that Dense hands its kernel over in several
-- blocks (several 4096-element pieces each), trained by fit on seeded
-- random data, on a given number of threads.
--   fused: fit's early update (update_reg where the optimizer has it);
--   unfused: apply_gradients overridden on the instance, so the update runs
--   after backward on gradients the engine regularized in a pass of its own.
-- Used as `local H = dofile(here .. "/reg_harness.lua")`.
local ln = require "lunet"

local H = {}

-- o: threads, reg (a regularizer or nil), optimizer (a function making
-- one), unfused, rows (of data), shuffle (fit's; nil: its default).
-- Returns the model, its weights and fit's loss history.
function H.train(o)
  ln.set_num_threads(o.threads)
  ln.random.seed(3)
  local x = ln.rand{o.rows, 200} * 2 - 1
  local y = (ln.rand{o.rows} * 10):floor():int()
  local opt = o.optimizer()
  if o.unfused then
    local apply = opt.apply_gradients
    opt.apply_gradients = function(self, p) return apply(self, p) end
  end
  local L, reg = ln.layers, o.reg
  local m = ln.Sequential{
    L.Dense{300, input_shape = {200}, activation = "relu", kernel_regularizer = reg},
    L.Dense{10, activation = "softmax", kernel_regularizer = reg, bias_regularizer = reg}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = opt}
  local h = m:fit(x, y, {epochs = 2, batch_size = 32, shuffle = o.shuffle, verbose = 0})
  ln.set_num_threads(1)
  return m, m:get_weights(), h.history.loss
end

return H
