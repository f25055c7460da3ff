--[==[ lunet.utils -- Keras's keras.utils helpers (np_utils semantics).

  ln.utils.to_categorical(y [, num_classes [, dtype]])
      One-hot rows: y's shape + (num_classes,), 1 at each label. Labels are
      0-based class ids (as in the dataset files and Keras); y may be a
      tensor of any dtype or a Lua list. A trailing dim of size 1 is dropped
      (rank > 1), num_classes defaults to max(y) + 1, dtype to "float32".

  ln.utils.normalize(x [, axis [, order]])
      x divided by its `order`-norm along axis (L2 by default; 1, 2, any
      p > 0 or math.huge for the max norm); zero norms count as 1; integer
      input gives float32 (Keras: float64). axis is 1-based like every lunet
      dim, negative from the end, default -1 (the last). Keras's axis is
      0-based, so Keras's normalize(x, axis=1) on (N, 28, 28) images --
      every column x[n, :, j] gets unit norm -- is normalize(x, 2) here.

  ln.utils.argmax_labels(probs)
      0-based class ids of the largest entry along the last dim (int32), for
      comparing predictions with labels; a 1-d input gives one integer. ]==]
local E = require "lunet.errors"
local core = require "lunet.core"

local M = {}

function M.to_categorical(y, num_classes, dtype)
  if type(y) == "table" then y = core.tensor(y, "int32") end
  if not core.is_tensor(y) then
    E.raise("to_categorical: y must be a tensor or a list of labels, got "
          .. type(y))
  end
  if num_classes ~= nil and math.type(num_classes) ~= "integer" then
    E.raise("to_categorical: num_classes must be an integer, got "
          .. tostring(num_classes))
  end
  if y:dim() > 1 and y:size(-1) == 1 then y = y:squeeze(-1) end
  local out = core.one_hot(y, num_classes)
  if dtype ~= nil and dtype ~= "float32" and dtype ~= "float" then
    out = out:type(dtype)
  end
  return out
end

function M.normalize(x, axis, order)
  if not core.is_tensor(x) then
    E.raise("normalize: x must be a tensor, got " .. type(x))
  end
  axis = axis or -1
  order = order or 2
  if type(order) ~= "number" or order <= 0 then
    E.raise("normalize: order must be a positive number (or math.huge), got "
          .. tostring(order))
  end
  x = x:float()
  local n
  if order == 2 then
    n = (x * x):sum(axis, true):sqrt()
  elseif order == 1 then
    n = x:abs():sum(axis, true)
  elseif order == math.huge then
    n = x:abs():max(axis, true)
  else
    n = (x:abs() ^ order):sum(axis, true) ^ (1 / order)
  end
  n[n:eq(0)] = 1
  return x / n
end

function M.argmax_labels(probs)
  if not core.is_tensor(probs) then
    E.raise("argmax_labels: probs must be a tensor, got " .. type(probs))
  end
  if probs:dim() == 1 then return probs:argmax() - 1 end
  return probs:argmax(-1) - 1
end

E.protect_all(M)
--- Keras's plot_model / model_to_dot (lunet.plot_model: Graphviz).
function M.plot_model(...) return require("lunet.plot_model").plot_model(...) end
function M.model_to_dot(...) return require("lunet.plot_model").model_to_dot(...) end

return M
