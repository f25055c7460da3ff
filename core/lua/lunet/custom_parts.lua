--[[ lunet.custom_parts -- Lua functions (or Lua class instances) given
to a built-in layer as its activation, *_initializer or *_regularizer, as
Keras takes any callable: Dense{30, activation = my_softplus,
kernel_initializer = my_glorot_initializer, kernel_regularizer = my_l1}.

The C unit is made without them (its defaults: a linear output, its own
initializer, no penalty) and Lua applies them: the initializer when the
layer is built, the activation to the unit's output, the penalty in
layer.losses. A model holding such a layer trains through the gradient tape,
as models with Lua layers do; the parts are saved by name (custom_objects
maps them back at load_model). Constraints have their own path
(lunet.constraints.take), shared by C and tape training.
]]
local E = require "lunet.errors"
local registry = require "lunet.registry"

local M = {}

local function is_part_key(k)
  return type(k) == "string" and (k == "activation" or k:match("_initializer$") ~= nil or
                                  k:match("_regularizer$") ~= nil)
end

--- Whether keyword k with value v is a part Lua must apply: a Lua function
-- (a built-in activation function is passed by its name instead) or an
-- instance of a Lua class (Regularizer:extend, ...).
function M.is_part(k, v)
  if not is_part_key(k) then return false end
  if type(v) == "function" then
    if k ~= "activation" then return true end
    return not pcall(require("lunet.activations").serialize, v)
  end
  return type(v) == "table" and rawget(v, "_cls") ~= nil
end

--- Removes the Lua parts from kw (a layer's keywords): a table
-- {[keyword] = function or object}, or nil when there are none.
function M.take(class_name, kw)
  local parts
  for k, v in pairs(kw) do
    if M.is_part(k, v) then
      if k == "activity_regularizer" then
        E.raisef("%s: activity_regularizer written in Lua is not supported on a built-in " ..
                 "layer; add the penalty with self:add_loss in a Lua layer", class_name)
      end
      parts = parts or {}
      parts[k] = v
    end
  end
  if parts then
    -- the unit draws nothing where Lua initializes (zeros takes no random
    -- numbers), so a seed gives the Lua initializer's own draw
    for k in pairs(parts) do kw[k] = k:match("_initializer$") and "zeros" or nil end
  end
  return parts
end

--- Refuses parts the unit cannot take from Lua: a recurrent layer applies
-- its activation inside each step, not to its output.
function M.check(class_name, parts, config)
  if not (parts and parts.activation) then return end
  for k in pairs(config) do
    if type(k) == "string" and k:match("^recurrent_") then
      E.raisef("%s: an activation written in Lua is not supported by the built-in recurrent " ..
               "layers (it acts inside each step); write the cell as a Lua layer", class_name)
    end
  end
end

-- The variable a *_initializer or *_regularizer keyword is about:
-- kernel_initializer -> kernel, depthwise_initializer -> depthwise_kernel,
-- recurrent_initializer -> recurrent_kernel.
local function weight_of(layer, key, suffix)
  local base = key:sub(1, #key - #suffix)
  local v = layer[base] or layer[base .. "_kernel"]
  if not v then
    E.raisef("%s: %s: the layer has no weight '%s'", layer.name, key, base)
  end
  return v
end

--- Draws the weights whose initializer is written in Lua (once, when the
-- layer is built): init(shape) must return a tensor of the weight's shape.
function M.initialize(layer, parts)
  for k, init in pairs(parts) do
    if k:match("_initializer$") then
      local v = weight_of(layer, k, "_initializer")
      local t = init(registry.copy_list(v.shape))
      if not registry.is_tensor(t) then
        E.raisef("%s: %s returned %s, not a tensor", layer.name, k, type(t))
      end
      v:assign(t:float())
    end
  end
end

--- The layer's output y with a Lua activation applied (y itself without).
function M.activate(parts, y)
  local act = parts and parts.activation
  if not act then return y end
  if registry.is_tensor(y) then return act(y) end
  local r = {}
  for i, t in ipairs(y) do r[i] = act(t) end
  return r
end

--- Appends the penalties of the Lua regularizers to list (on a tape they
-- are recorded, so their gradients reach the weights).
function M.penalties(layer, parts, list)
  if not (parts and layer.trainable) then return list end
  for k, reg in pairs(parts) do
    if k:match("_regularizer$") then
      list[#list + 1] = reg(weight_of(layer, k, "_regularizer").value)
    end
  end
  return list
end

--- Whether the layer has parts that regularize (it then adds to the loss).
function M.regularizes(parts)
  for k in pairs(parts or {}) do
    if k:match("_regularizer$") then return true end
  end
  return false
end

return M
