--- lunet.losses: Keras losses as objects and functions over the loss plugins.
--
--   ln.losses.SparseCategoricalCrossentropy{from_logits = true}  -- object
--   ln.losses.get("mse")                    -- object by name or alias
--   ln.losses.categorical_crossentropy(y_true, y_pred) -- per-sample (N,)
--   local l = loss(y_true, y_pred)          -- batch mean (a number)
--   local v, grad = loss:compute(y_pred, y_true, {logits = false})
--
-- Anything here is accepted by model:compile{loss = ...}: a name ("mse",
-- "sparse_categorical_crossentropy"), a function of this module (as the seed
-- passes keras.losses.categorical_crossentropy) or an object.
-- Labels stay 0-based, as in the datasets and Keras.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local lua_class = require "lunet.lua_class"

local nn = core.nn
local ag = core.autograd
local losses = {}

--- Keras's short names.
losses.aliases = {
  mse = "mean_squared_error", MSE = "mean_squared_error",
  mae = "mean_absolute_error", MAE = "mean_absolute_error",
  mape = "mean_absolute_percentage_error", MAPE = "mean_absolute_percentage_error",
  msle = "mean_squared_logarithmic_error", MSLE = "mean_squared_logarithmic_error",
  kld = "kl_divergence", KLD = "kl_divergence",
  kullback_leibler_divergence = "kl_divergence",
  huber_loss = "huber", logcosh = "log_cosh",
}

-- The names a user may ask ln.losses for: classes, unit names, aliases.
local function loss_names()
  local names = {}
  for _, u in ipairs(registry.units("loss")) do
    names[#names + 1] = u.class_name
    names[#names + 1] = u.name
  end
  for a in pairs(losses.aliases) do names[#names + 1] = a end
  return names
end

-- ---- Loss objects -----------------------------------------------------------------

local Loss = {}
Loss.__index = Loss
losses.Loss = Loss

--- loss(y_true, y_pred) -> the batch loss (mean over samples), a number;
-- inside tape:run, with y_pred recorded, a 0-d tensor (differentiable).
function Loss:__call(y_true, y_pred)
  if ag.active() and ag.tracks(y_pred) then return ag.loss(self._c, y_pred, y_true) end
  return (self._c:compute(y_pred, y_true, false, false))
end

function Loss:__tostring()
  return string.format("<%s loss '%s'>", self.class_name, self.name)
end

--- loss:compute(y_pred, y_true [, opts]) -> value, gradient. The low-level
-- step: value is the batch mean, gradient (the loss's own buffer, reused)
-- is d value / d y_pred. opts.logits: y_pred holds the logits of the
-- loss's logits activation (the fused, stable formula; see
-- model:uses_logits). opts.gradient = false skips the gradient.
function Loss:compute(y_pred, y_true, opts)
  opts = opts or {}
  local want = opts.gradient == nil or opts.gradient
  return self._c:compute(y_pred, y_true, opts.logits and true or false, want and true or false)
end

--- Per-sample losses of a batch: a tensor (N,).
function Loss:per_sample(y_true, y_pred)
  return self._c:per_sample(y_pred, y_true)
end

--- The activation whose logits the loss can take ("softmax", "sigmoid").
function Loss:logits_activation()
  return self._c:logits_activation()
end

--- {name = "sparse_categorical_crossentropy", from_logits = false, ...}
function Loss:get_config()
  local cfg = self._c:config()
  cfg.name = self.name
  return cfg
end

--- A new loss object of unit `name` with keyword arguments `args`.
function losses.new(name, args)
  name = losses.aliases[name] or name
  if not registry.has("loss", name) then
    E.raise(registry.unknown("loss", "loss", name, loss_names()))
  end
  local c = nn.loss_new(name, args or {})
  local _, unit, class_name = c:unit()
  return setmetatable({_c = c, name = unit, class_name = class_name}, Loss)
end

function losses.is_loss(v)
  return type(v) == "table" and getmetatable(v) == Loss
end

-- ---- functions ------------------------------------------------------------------------

local functions = {}   -- name -> function
local function_names = setmetatable({}, {__mode = "k"}) -- function -> unit name

local function loss_function(name)
  local f = functions[name]
  if f then return f end
  local obj
  f = E.protect(function(y_true, y_pred)
    obj = obj or losses.new(name)
    return obj:per_sample(y_true, y_pred)
  end)
  functions[name] = f
  function_names[f] = name
  return f
end

--- The unit name of a loss function of this module (nil for others).
function losses.function_name(f)
  return function_names[f]
end

-- ---- losses written in Lua ---------------------------------------------------------------

-- The root of Lua loss classes (lunet.lua_class): call(self, y_true,
-- y_pred) gives the per-sample losses; calling an instance gives their
-- batch mean (a 0-d tensor on a tape, where it is differentiable through
-- call's operations).
local function lua_loss_call(self, y_true, y_pred)
  local v = self:call(y_true, y_pred)
  if type(v) == "number" then return v end
  if not registry.is_tensor(v) then
    E.raisef("loss %s: call returned %s, not a tensor of per-sample losses", self.name, type(v))
  end
  return v:mean()
end

local LuaLoss = lua_class.root{class_name = "Loss", _accept = {name = true, reduction = true},
  __call = lua_loss_call, get_config = lua_class.config,
  __tostring = function(self) return string.format("<%s loss '%s'>", self.class_name, self.name) end}
losses.LuaLoss = LuaLoss

--- ln.losses.Loss:extend{name, defaults, init, call = function(self, y_true,
-- y_pred) -> per-sample losses, get_config}: a loss class written in Lua.
function Loss.extend(parent, spec)
  return lua_class.extend(parent == Loss and LuaLoss or parent, spec,
    "Loss:extend needs {name = \"MyLoss\", call = function(self, y_true, y_pred) ... end}")
end
LuaLoss.extend = Loss.extend

--- A plain Lua function (y_true, y_pred) -> per-sample losses, as a loss
-- object (its name: the variable holding it, for history and files).
function losses.from_function(fn)
  local name = require("lunet.custom").function_name(fn) or "lua_loss"
  return setmetatable({_fn = fn, name = name, class_name = name, _defaults = {}},
                      {__index = {call = function(self, yt, yp) return self._fn(yt, yp) end,
                                  get_config = function(self) return {name = self.name} end},
                       __call = lua_loss_call})
end

--- Whether v is a loss written in Lua (an instance of a Loss:extend class
-- or a wrapped function).
function losses.is_lua_loss(v)
  return type(v) == "table" and rawget(v, "_c") == nil and (rawget(v, "_fn") ~= nil or
         rawget(v, "_cls") ~= nil) and type(v.call) == "function"
end

--- Resolves anything compile accepts into a Loss object (Lua losses as
-- they are; plain Lua functions wrapped).
function losses.get(spec)
  if losses.is_loss(spec) or losses.is_lua_loss(spec) then return spec end
  if type(spec) == "string" then return losses.new(spec) end
  if type(spec) == "function" then
    local name = function_names[spec]
    if name then return losses.new(name) end
    return losses.from_function(spec)
  end
  if type(spec) == "table" and spec.class_name then
    local unit = registry.find_class("loss", spec.class_name)
    if not unit then E.raise(registry.unknown("loss", "loss class", spec.class_name)) end
    local cfg = registry.copy(spec.config or {})
    cfg.name, cfg.reduction = nil, nil
    return losses.new(unit, cfg)
  end
  E.raise("loss: expected a name, a loss function or a loss object, got " .. type(spec))
end

--- serialize(loss) -> {class_name = ..., config = {...}}
function losses.serialize(loss)
  loss = losses.get(loss)
  return {class_name = loss.class_name, config = loss:get_config()}
end

-- Every function a user reaches: errors point at the user's line.
E.protect_all(Loss, {extend = true})
Loss.extend = E.protect(Loss.extend)
E.protect_all(losses)

setmetatable(losses, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    local unit = registry.find_class("loss", k)
    if unit then
      return E.protect(function(args)
        args = registry.copy(args or {})
        local display, reduction = args.name, args.reduction
        args.name, args.reduction = nil, nil
        if reduction ~= nil and reduction ~= "auto" and reduction ~= "sum_over_batch_size" then
          E.raise(string.format("%s: reduction '%s' is not supported (lunet averages over " ..
                              "the batch: 'auto')", k, tostring(reduction)))
        end
        local obj = losses.new(unit, args)
        if display then obj.name = display end
        return obj
      end)
    end
    local name = losses.aliases[k] or k
    if registry.has("loss", name) then return loss_function(name) end
    E.raise(registry.unknown("loss", "loss", k, loss_names()))
  end,
})

return losses
