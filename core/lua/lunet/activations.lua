--- lunet.activations: activation functions over the activation plugins.
--
--   ln.activations.relu(x)                   -- a new tensor
--   ln.activations.leaky_relu(x, {alpha = 0.2})
--   local f = ln.activations.get("selu"); f(x)
--   ln.activations.serialize(f)               -- "selu"
--
-- Any registered activation unit is a function here; the last axis is the
-- one softmax normalises. Names in `activation = "..."` of layers are
-- resolved by the layer plugins themselves.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"

local nn = core.nn
local activations = {}

local functions = {}
local names = setmetatable({}, {__mode = "k"})

local function make(name)
  local f = functions[name]
  if f then return f end
  local default
  f = E.protect(function(x, args)
    if args ~= nil then return nn.activation_new(name, args):apply(x) end
    default = default or nn.activation_new(name, {})
    return default:apply(x)
  end)
  functions[name] = f
  names[f] = name
  return f
end

--- The function of activation `name` (a name, or one of these functions;
-- nil gives linear, as in Keras). With args, a function bound to one
-- instance with those arguments: get("leaky_relu", {alpha = 0.3}).
function activations.get(spec, args)
  if spec == nil then spec = "linear" end
  if type(spec) == "function" and names[spec] then return spec end
  if type(spec) == "string" and args ~= nil and registry.has("activation", spec) then
    local o = nn.activation_new(spec, args)
    local f = E.protect(function(x) return o:apply(x) end)
    names[f] = spec
    return f
  end
  if type(spec) == "string" and registry.has("activation", spec) then return make(spec) end
  E.raise(registry.unknown("activation", "activation", spec,
                           registry.names_of("activation")))
end

--- The name of an activation function of this module.
function activations.serialize(f)
  local n = names[f]
  if not n then E.raise("activations.serialize: not an activation of ln.activations") end
  return n
end

--- f'(x) . dy for activation `name` (gradient checks, custom code).
function activations.gradient(name, x, dy, args)
  return nn.activation_new(name, args or {}):gradient(x, dy)
end

E.protect_all(activations)

-- ln.activations.<name>: the function; anything else is unknown.
setmetatable(activations, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    if registry.has("activation", k) then return make(k) end
    E.raise(registry.unknown("activation", "activation", k, registry.names_of("activation")))
  end,
})

return activations
