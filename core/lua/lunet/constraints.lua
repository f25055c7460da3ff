--- lunet.constraints: Keras weight constraints, applied to a weight after
-- each optimizer step (fit, train_on_batch, optimizer:apply_gradients with
-- a layer's variables).
--
--   ln.layers.Dense{100, kernel_constraint = ln.constraints.max_norm(2.0)}
--   ln.constraints.max_norm{max_value = 2, axis = 0}, non_neg(), unit_norm(),
--   ln.constraints.min_max_norm{min_value = 0, max_value = 1, rate = 1}
--   kernel_constraint = function(w) return w:clamp(-1, 1) end   -- a Lua one
--   local C = ln.constraints.Constraint:extend{name = "Clip", defaults = {c = 1},
--     call = function(self, w) return w:clamp(-self.c, self.c) end}
--
-- A constraint maps a weight tensor to its new value. `axis` is Keras's
-- (0-based, as the files store it): for a Dense kernel (inputs, units)
-- axis = 0 bounds each unit's incoming weight vector.
local E = require "lunet.errors"
local registry = require "lunet.registry"
local lua_class = require "lunet.lua_class"

local sformat = string.format
local M = {}

local EPS = 1e-7 -- Keras's backend epsilon

--- c(w) -> the constrained value (a new tensor). The root class
-- (lunet.lua_class): Constraint:extend{name, defaults, call [, check]}.
local Constraint = lua_class.root{class_name = "Constraint", get_config = lua_class.config,
  __call = function(self, w) return self:call(w) end,
  __tostring = function(self) return sformat("<%s constraint>", self.class_name) end,
  call = function(self) E.raisef("%s: the class defines no call(self, w)", self.class_name) end}
M.Constraint = Constraint

function Constraint:extend(spec)
  return lua_class.extend(self, spec,
                          "Constraint:extend needs {name = ..., call = function(self, w) ... end}")
end

-- ---- the built-in constraints (Keras's formulas) ------------------------------------------

local function norms(self, w)
  local axis = self.axis
  if w:dim() == 1 then return (w * w):sum() ^ 0.5 end
  local dims = type(axis) == "table" and axis or {axis}
  local s = w * w
  for _, a in ipairs(dims) do
    if math.type(a) ~= "integer" or a < 0 or a >= w:dim() then
      E.raisef("%s: axis %s is out of range for a weight with %d dimensions (0-based, as Keras)",
               self.class_name, tostring(a), w:dim())
    end
    s = s:sum(a + 1, true)
  end
  return s:sqrt()
end

local function number(self, key, min)
  local v = self[key]
  if type(v) ~= "number" or v ~= v or v < min then
    E.raisef("%s: %s must be a number >= %g, got %s", self.class_name, key, min, tostring(v))
  end
end

M.MaxNorm = Constraint:extend{name = "MaxNorm", positional = "max_value",
  defaults = {max_value = 2, axis = 0},
  check = function(self) number(self, "max_value", 0) end,
  call = function(self, w)
    local n = norms(self, w)
    return w * (n:clamp(0, self.max_value) / (n + EPS))
  end,
}

M.NonNeg = Constraint:extend{name = "NonNeg",
  call = function(_, w) return w * (w:ge(0):float()) end,
}

M.UnitNorm = Constraint:extend{name = "UnitNorm", positional = "axis", defaults = {axis = 0},
  call = function(self, w) return w / (norms(self, w) + EPS) end,
}

M.MinMaxNorm = Constraint:extend{name = "MinMaxNorm",
  defaults = {min_value = 0, max_value = 1, rate = 1, axis = 0},
  check = function(self)
    number(self, "min_value", 0)
    number(self, "max_value", self.min_value)
    number(self, "rate", 0)
  end,
  call = function(self, w)
    local n = norms(self, w)
    local want = n:clamp(self.min_value, self.max_value) * self.rate + n * (1 - self.rate)
    return w * (want / (n + EPS))
  end,
}

-- Keras's function-style names.
M.max_norm, M.non_neg, M.unit_norm, M.min_max_norm = M.MaxNorm, M.NonNeg, M.UnitNorm, M.MinMaxNorm
M.maxnorm, M.nonneg, M.unitnorm = M.MaxNorm, M.NonNeg, M.UnitNorm
local by_name = {max_norm = M.MaxNorm, non_neg = M.NonNeg, unit_norm = M.UnitNorm,
                 min_max_norm = M.MinMaxNorm, MaxNorm = M.MaxNorm, NonNeg = M.NonNeg,
                 UnitNorm = M.UnitNorm, MinMaxNorm = M.MinMaxNorm}

-- ---- resolution, serialization and application -----------------------------------------

--- Whether v is a constraint object (a class instance).
function M.is_constraint(v)
  return lua_class.is_instance(v)
end

--- A constraint from a name ("non_neg"), an object, a Lua function, or a
-- Keras config {class_name = "MaxNorm", config = {...}} (custom: the
-- load's custom_objects, for Lua classes and functions by name).
function M.get(spec, custom)
  if type(spec) == "function" or M.is_constraint(spec) then return spec end
  if type(spec) == "string" then
    local cls = (custom and custom[spec]) or by_name[spec]
    if type(cls) == "function" then return cls end
    if cls then return cls{} end
  end
  if type(spec) == "table" and type(spec.class_name) == "string" then
    local cls = (custom and custom[spec.class_name]) or by_name[spec.class_name]
    if type(cls) == "function" then return cls end
    if cls then return cls(registry.copy(spec.config or {})) end
    E.raisef("unknown constraint class '%s' (built in: MaxNorm, NonNeg, UnitNorm, MinMaxNorm; " ..
             "give a Lua one in custom_objects = {%s = ...})", spec.class_name, spec.class_name)
  end
  E.raisef("unknown constraint %s (use ln.constraints.max_norm(2), non_neg(), unit_norm(), " ..
           "min_max_norm{...}, a Constraint:extend class or a Lua function)", tostring(spec))
end

--- {class_name, config} of a constraint (a Lua function: its name, found
-- through custom_objects when loading).
function M.serialize(c)
  if type(c) == "function" then
    return {class_name = require("lunet.custom").function_name(c) or "lua_function", config = {}}
  end
  local cfg = c:get_config()
  cfg.name = nil
  return {class_name = c.class_name, config = cfg}
end

--- Removes the *_constraint keywords from a layer's keyword table kw and
-- returns them resolved ({kernel_constraint = c, ...}), or nil.
function M.take(class_name, kw)
  local r
  for k, v in pairs(kw) do
    if type(k) == "string" and k:match("_constraint$") then
      r = r or {}
      local ok, c = pcall(M.get, v)
      if not ok then E.raisef("%s: %s: %s", class_name, k, E.message(c)) end
      r[k] = c
    end
  end
  if r then for k in pairs(r) do kw[k] = nil end end
  return r
end

--- Applies constraint c to tensor w in place.
function M.apply(c, w)
  local v = c(w)
  if not registry.is_tensor(v) then
    E.raisef("constraint %s returned %s, not a tensor", tostring(c), type(v))
  end
  w:copy_(v)
end

E.protect_all(M, {MaxNorm = true, NonNeg = true, UnitNorm = true, MinMaxNorm = true,
                  max_norm = true, non_neg = true, unit_norm = true, min_max_norm = true,
                  maxnorm = true, nonneg = true, unitnorm = true, Constraint = true})
Constraint.extend = E.protect(Constraint.extend)
return M
