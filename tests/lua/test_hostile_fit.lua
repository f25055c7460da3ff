-- NaN and infinities during training (issue 11, Keras semantics):
--  - NaN/Inf in the inputs or in the loss: training goes on (fit returns,
--    the history holds the non-finite values) and a warning names the
--    first batch whose loss is not finite;
--  - with TerminateOnNaN, fit stops after that batch and returns normally,
--    and the last good checkpoint written by ModelCheckpoint stays good.
-- fit runs in child processes so its warnings (stderr) can be read.
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

-- The common part of the child scripts: 40 samples, batches of 8 (5 per
-- epoch, no shuffling), a NaN or Inf planted in sample `bad` (1-based) of
-- x at the end of epoch `poison_epoch` (0-based; -1: from the start).
local prelude = [[
local ln = require "lunet"
ln.random.seed(3)
local x = ln.rand(40, 4)
local labels = {}
for i = 1, 40 do labels[i] = (i - 1) %% 3 end
local y = ln.tensor(labels, "int32")
local model = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
local bad, value, poison_epoch = %d, %s, %d
local function poison() x[{bad, 2}] = value end
if poison_epoch < 0 then poison() end
local poisoner = ln.callbacks.LambdaCallback{on_epoch_end = function(epoch)
  if epoch == poison_epoch then poison() end
end}
]]

local function fit_child(bad, value, poison_epoch, body)
  return H.child(string.format(prelude, bad, value, poison_epoch) .. body)
end

local function finite_weights(m)
  for _, w in ipairs(m:get_weights()) do
    for _, v in ipairs(w:flatten():totable()) do
      if v ~= v or v == math.huge or v == -math.huge then return false end
    end
  end
  return true
end

-- The warning names the first non-finite batch: sample 26 of 40 is in the
-- 4th batch of 8 (batch 3 counted from 0, as Keras's callbacks count).
local function check_warning(out, batch0)
  local lower = out:lower()
  H.check(lower:find("nan", 1, true) or lower:find("finite", 1, true) or lower:find("inf", 1, true),
          "no warning about a non-finite loss: %s", out)
  H.check(lower:find("batch " .. batch0, 1, true) or lower:find("batch " .. (batch0 + 1), 1, true),
          "the warning does not name batch %d (0-based) / %d (1-based): %s", batch0, batch0 + 1, out)
end

test("NaN in the inputs: training goes on and a warning names the first bad batch", function()
  local rc, out = fit_child(26, "0/0", -1, [[
    local h = model:fit(x, y, {epochs = 2, batch_size = 8, shuffle = false, verbose = 0})
    print("epochs", #h.history.loss, "loss", h.history.loss[1])
  ]])
  H.eq(rc, 0, "exit code (output: " .. out .. ")")
  H.check(out:find("epochs\t2", 1, true), "training did not go on for 2 epochs: %s", out)
  check_warning(out, 3)
end)

test("Inf in the inputs (a non-finite loss) is warned about the same way", function()
  local rc, out = fit_child(26, "math.huge", -1, [[
    local h = model:fit(x, y, {epochs = 1, batch_size = 8, shuffle = false, verbose = 0})
    print("epochs", #h.history.loss)
  ]])
  H.eq(rc, 0, "exit code (output: " .. out .. ")")
  H.check(out:find("epochs\t1", 1, true), "fit did not return: %s", out)
  check_warning(out, 3)
end)

test("TerminateOnNaN stops fit, which returns normally; the last good checkpoint stays", function()
  local ckpt = H.tmp("ckpt.h5")
  local rc, out = fit_child(26, "0/0", 0, string.format([[
    local saved
    local keep = ln.callbacks.LambdaCallback{on_epoch_end = function(epoch)
      if epoch == 0 then saved = model:get_weights() end
    end}
    local h = model:fit(x, y, {epochs = 4, batch_size = 8, shuffle = false, verbose = 0,
      callbacks = {keep, poisoner, ln.callbacks.TerminateOnNaN(),
                   ln.callbacks.ModelCheckpoint(%q)}})
    print("epochs", #h.history.loss)
    print("stop_training", tostring(model.stop_training))
    local c = ln.models.load_model(%q)
    local same = true
    for i, w in ipairs(c:get_weights()) do
      if not w:equal(saved[i]) then same = false end
    end
    print("checkpoint equals epoch 1", same)
  ]], ckpt, ckpt))
  H.eq(rc, 0, "exit code (output: " .. out .. ")")
  H.check(out:find("epochs\t2", 1, true), "fit did not stop in epoch 2: %s", out)
  H.check(out:find("Batch 3: Invalid loss, terminating training", 1, true),
          "TerminateOnNaN's message (Keras's) is missing: %s", out)
  H.check(out:find("checkpoint equals epoch 1\ttrue", 1, true),
          "the last good checkpoint was overwritten: %s", out)
  local c = ln.models.load_model(ckpt)
  H.check(finite_weights(c), "the checkpoint on disk holds non-finite weights")
end)

H.finish()
