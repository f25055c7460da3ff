--- lunet.regularizers: Keras weight regularizers (L1, L2, L1L2).
--
--   ln.layers.Dense{100, kernel_regularizer = ln.regularizers.l2(0.01)}
--   ln.regularizers.l1_l2{l1 = 1e-5, l2 = 1e-4}
--
-- The layer adds l1 * sum|w| + l2 * sum w^2 to the loss and its gradient
-- to the weight's. A layer also takes "l1", "l2", "l1_l2" (factor 0.01) or
-- a number (an l2 factor).
local E = require "lunet.errors"
local regularizers = {}

local Regularizer = {}
Regularizer.__index = Regularizer
regularizers.Regularizer = Regularizer

local function new(l1, l2)
  l1, l2 = l1 or 0, l2 or 0
  for _, p in ipairs({{"l1", l1}, {"l2", l2}}) do
    local v = p[2]
    if type(v) ~= "number" or not (v >= 0) or v == math.huge then
      E.raisef("regularizers: %s must be a finite number >= 0, got %s %s", p[1], type(v),
               tostring(v))
    end
  end
  return setmetatable({l1 = l1, l2 = l2}, Regularizer)
end

--- {name = "l1_l2", l1 = ..., l2 = ...}: the form layers read.
function Regularizer:get_config()
  return {name = "l1_l2", l1 = self.l1, l2 = self.l2}
end

--- reg(w) -> the penalty of tensor w (a number).
function Regularizer:__call(w)
  local s = 0
  if self.l1 ~= 0 then s = s + self.l1 * w:abs():sum() end
  if self.l2 ~= 0 then s = s + self.l2 * (w * w):sum() end
  return s
end

function Regularizer:__tostring()
  return string.format("<L1L2 l1=%g l2=%g>", self.l1, self.l2)
end

function regularizers.l1(l1) return new(l1 or 0.01, 0) end
function regularizers.l2(l2) return new(0, l2 or 0.01) end
function regularizers.l1_l2(a, b)
  if type(a) == "table" then return new(a.l1 or 0.01, a.l2 or 0.01) end
  return new(a or 0.01, b or 0.01)
end
regularizers.L1 = function(a) return regularizers.l1(type(a) == "table" and a.l1 or a) end
regularizers.L2 = function(a) return regularizers.l2(type(a) == "table" and a.l2 or a) end
regularizers.L1L2 = function(a) a = a or {}; return new(a.l1 or 0, a.l2 or 0) end

--- A regularizer from a name ("l1", "l2", "l1_l2"), an object or a config.
function regularizers.get(spec)
  if spec == nil then return nil end
  if type(spec) == "table" and getmetatable(spec) == Regularizer then return spec end
  if spec == "l1" then return regularizers.l1() end
  if spec == "l2" then return regularizers.l2() end
  if spec == "l1_l2" then return regularizers.l1_l2() end
  if type(spec) == "table" then
    local c = spec.config or spec
    return new(c.l1 or 0, c.l2 or 0)
  end
  E.raise(require("lunet.registry").unknown("regularizer", "regularizer", spec,
                                           {"l1", "l2", "l1_l2", "L1", "L2", "L1L2"}))
end

--- What a Lua layer's add_weight takes: anything get takes, a Lua
-- function w -> penalty, or an instance of a Regularizer:extend class.
function regularizers.resolve(spec)
  if type(spec) == "function" then return spec end
  if type(spec) == "table" and rawget(spec, "_cls") then return spec end
  return regularizers.get(spec)
end

--- Regularizer:extend{name, defaults, call = function(self, w) -> penalty}:
-- a class of Lua regularizers (lunet.lua_class; instances by calling it:
-- MyReg{factor = 0.1}).
local LuaRegularizer = require("lunet.lua_class").root{class_name = "Regularizer",
  get_config = function(self)
    local cfg = require("lunet.lua_class").config(self)
    cfg.name = nil
    return cfg
  end,
  __call = function(self, w) return self:call(w) end}

function Regularizer.extend(_, spec)
  if type(spec) ~= "table" or type(spec.call) ~= "function" then
    E.raise("Regularizer:extend needs {name = ..., call = function(self, w) ... end}")
  end
  return require("lunet.lua_class").extend(LuaRegularizer, spec)
end

E.protect_all(Regularizer)
E.protect_all(regularizers)

-- anything but the functions above is unknown
setmetatable(regularizers, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    E.raise(require("lunet.registry").unknown("regularizer", "regularizer", k,
                                             {"l1", "l2", "l1_l2", "L1", "L2", "L1L2", "get"}))
  end,
})

return regularizers
