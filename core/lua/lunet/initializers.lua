--- lunet.initializers: Keras initializers as objects over the initializer
-- plugins.
--
--   local init = ln.initializers.get("he_normal")
--   local w = init{300, 100}                  -- a new tensor (shape list)
--   local he_avg = ln.initializers.VarianceScaling{scale = 2, mode = "fan_avg",
--                                                  distribution = "uniform"}
--   ln.layers.Dense{10, activation = "relu", kernel_initializer = he_avg}
--
-- An initializer object carries its unit name and keyword arguments;
-- get_config() gives {name = "variance_scaling", scale = 2, ...}, the form
-- layers take. Arguments are checked when the object is made (without
-- touching the random stream); values are drawn from lunet's generator
-- (ln.random.seed), or from `seed` when the unit takes one.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"

local nn = core.nn
local initializers = {}

local Initializer = {}
Initializer.__index = Initializer
initializers.Initializer = Initializer

--- init(shape) -> a new float32 tensor of that shape, filled.
function Initializer:__call(shape, ...)
  if type(shape) ~= "table" then shape = {shape, ...} end
  return nn.initializer_fill(self.name, registry.copy(self.args), shape)
end

function Initializer:get_config()
  local cfg = registry.copy(self.args)
  cfg.name = self.name
  return cfg
end

function Initializer:__tostring()
  return string.format("<%s initializer>", self.class_name)
end

--- A new initializer of unit `name` with keyword arguments.
function initializers.new(name, args)
  if not registry.has("initializer", name) then
    E.raise(registry.unknown("initializer", "initializer", name, registry.names_of("initializer")))
  end
  args = registry.copy(args or {})
  nn.initializer_check(name, registry.copy(args))
  return setmetatable({name = name, args = args,
                       class_name = registry.class_of("initializer", name)}, Initializer)
end

--- An initializer from a name ("glorot_uniform"), an object, or a config
-- table {name = ..., ...} / {class_name = ..., config = {...}}.
function initializers.get(spec)
  if type(spec) == "table" and getmetatable(spec) == Initializer then return spec end
  if type(spec) == "string" then
    local unit = registry.has("initializer", spec) and spec
                 or registry.find_class("initializer", spec)
    return initializers.new(unit or spec)
  end
  if type(spec) == "table" and spec.class_name then
    local unit = registry.find_class("initializer", spec.class_name) or spec.class_name
    return initializers.new(unit, spec.config)
  end
  if type(spec) == "table" and type(spec.name) == "string" then
    local args = registry.copy(spec)
    args.name = nil
    return initializers.new(spec.name, args)
  end
  E.raise("initializers.get: expected a name, an initializer or a config, got " .. type(spec))
end

E.protect_all(Initializer)
E.protect_all(initializers)

-- ln.initializers.<Class> or .<name>: a constructor; anything else is
-- unknown.
setmetatable(initializers, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    local unit = registry.find_class("initializer", k) or (registry.has("initializer", k) and k)
    if unit then
      return E.protect(function(args) return initializers.new(unit, args) end)
    end
    local known = registry.names_of("initializer")
    for _, u in ipairs(registry.units("initializer")) do known[#known + 1] = u.class_name end
    E.raise(registry.unknown("initializer", "initializer", k, known))
  end,
})

return initializers
