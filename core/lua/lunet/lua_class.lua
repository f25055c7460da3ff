--- lunet.lua_class: the class convention of units written in Lua -- the one
-- Optimizer:extend set and Layer:extend follows: `name` is the class name
-- (the Keras class_name in files), every key of `defaults` is read into
-- self.<key> and recorded for get_config, `init(self, args)` (optional)
-- sees every keyword argument for anything else; other keys are errors
-- naming them. Losses, metrics, constraints and regularizers written in
-- Lua are made with it.
--
--   local Root = lua_class.root{class_name = "Loss", accept = {name = true}}
--   local HuberLoss = lua_class.extend(Root, {name = "HuberLoss", defaults = {threshold = 1},
--                                             call = function(self, ...) ... end})
--   local loss = HuberLoss{threshold = 2}           -- an instance
local E = require "lunet.errors"
local registry = require "lunet.registry"

local M = {}

--- A root class from fields (class_name, accept: base keys every instance
-- takes besides the defaults, and metamethods such as __call).
function M.root(fields)
  local root = fields
  root._defaults = root._defaults or {}
  root._accept = root._accept or {}
  root.__index = root
  return root
end

-- A new instance of cls from keyword arguments (a single value for the
-- class's positional key: max_norm(2)).
local function new(cls, args)
  local who = cls.class_name
  if args ~= nil and type(args) ~= "table" then
    if not cls._positional then E.raisef("%s: expects a table of keyword arguments", who) end
    args = {[cls._positional] = args}
  end
  args = args or {}
  local self = setmetatable({_cls = cls, class_name = who}, cls)
  if cls._accept.name then self.name = args.name or registry.to_snake_case(who) end
  for k in pairs(args) do
    if cls._defaults[k] == nil and not cls._accept[k] and not cls.init then
      E.raisef("%s: unknown keyword argument '%s' (known: %s)", who, tostring(k),
               M.default_names(cls))
    end
  end
  for k, d in pairs(cls._defaults) do
    local v = args[k]
    if v == nil then v = d end
    self[k] = v
  end
  if cls.init then cls.init(self, args) end
  if cls.check then cls.check(self) end
  return self
end

--- parent:extend(spec) -> a subclass: functions of spec are its methods,
-- spec.defaults adds to the parent's.
function M.extend(parent, spec, usage)
  if type(spec) ~= "table" or type(spec.name) ~= "string" or spec.name == "" then
    E.raise(usage or "extend needs {name = \"MyClass\", ...}")
  end
  local cls = {class_name = spec.name, _accept = parent._accept,
               _positional = spec.positional or parent._positional}
  local defaults = registry.copy(parent._defaults)
  for k, v in pairs(spec.defaults or {}) do defaults[k] = v end
  cls._defaults = defaults
  for k, v in pairs(spec) do
    if type(v) == "function" then cls[k] = v end
  end
  cls.__index = cls
  for _, mm in ipairs({"__call", "__tostring"}) do cls[mm] = parent[mm] end
  return setmetatable(cls, {__index = parent, __call = E.protect(new)})
end

--- The table of a subclass of parent from spec, for the layer and model
-- classes (Layer:extend, Model:extend): spec.name required (`usage` says
-- so), spec.defaults a table added to the parent's, every other key a
-- function (a method). The caller adds its own fields and metatable.
function M.subclass(parent, spec, usage)
  if type(spec) ~= "table" or type(spec.name) ~= "string" or spec.name == "" then
    E.raise(usage)
  end
  if spec.defaults ~= nil and type(spec.defaults) ~= "table" then
    E.raisef("%s: defaults must be a table of keyword = default value", spec.name)
  end
  local cls = {class_name = spec.name, super = parent}
  local defaults = registry.copy(parent._defaults)
  for k, v in pairs(spec.defaults or {}) do defaults[k] = v end
  cls._defaults = defaults
  for k, v in pairs(spec) do
    if k ~= "name" and k ~= "defaults" then
      if type(v) ~= "function" then
        E.raisef("%s: '%s' must be a function (only name and defaults are values)", spec.name, k)
      end
      cls[k] = v
    end
  end
  return cls
end

--- The keys of a class's defaults, sorted, for messages.
function M.default_names(cls)
  local list = {}
  for k in pairs(cls._defaults) do list[#list + 1] = tostring(k) end
  table.sort(list)
  return #list > 0 and table.concat(list, ", ") or "none"
end

--- {name = ..., every default key = its value}: the default get_config.
function M.config(self)
  local cfg = {name = rawget(self, "name")}
  for k in pairs(self._cls._defaults) do cfg[k] = self[k] end
  return cfg
end

--- Whether v is an instance of a class made here.
function M.is_instance(v)
  return type(v) == "table" and rawget(v, "_cls") ~= nil and getmetatable(v) == rawget(v, "_cls")
end

return M
