--- lunet.metrics: Keras metrics as stateful objects and functions.
--
--   local m = ln.metrics.SparseCategoricalAccuracy{}
--   m:update_state(y_true, y_pred); print(m:result()); m:reset_state()
--   ln.metrics.sparse_categorical_accuracy(y_true, y_pred)  -- (N,) of 0/1
--
-- In model:compile{metrics = {...}} an entry may be a metric name
-- ("sparse_categorical_accuracy"), "accuracy"/"acc" or "crossentropy"/"ce"
-- (resolved from the shapes of y and of the model's output, as Keras does),
-- a loss name or function ("mse": the loss averaged as a metric), or an
-- object. The name as given is the history key: metrics = {"acc"} logs
-- acc and val_acc.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local lua_class = require "lunet.lua_class"

local nn = core.nn
local metrics = {}

-- ---- Metric objects ---------------------------------------------------------------------

local Metric = {}
Metric.__index = Metric
metrics.Metric = Metric

-- One weight per sample as a float32 tensor (a tensor or a list of numbers).
local function weights_tensor(w)
  if registry.is_tensor(w) then
    return nn.tensor_info(w) == "float32" and w or w:float()
  end
  if type(w) == "table" then return core.tensor(w) end
  E.raisef("sample_weight must be a tensor or a list of numbers, one per sample; got %s", type(w))
end
metrics.weights_tensor = weights_tensor

--- Adds a batch: y_true (labels or targets), y_pred (model outputs) and,
-- as Keras, an optional sample_weight (one weight per sample: each
-- sample's value counts that many times in the mean).
function Metric:update_state(y_true, y_pred, sample_weight)
  if sample_weight == nil then return self._c:update(y_pred, y_true) end
  self._c:update(y_pred, y_true, weights_tensor(sample_weight))
end

--- The running value (total / count; 0 before any update).
function Metric:result()
  return self._c:result()
end

function Metric:reset_state()
  self._c:reset()
end
Metric.reset_states = Metric.reset_state

--- metric(y_true, y_pred): update with the batch, then the result.
function Metric:__call(y_true, y_pred)
  self:update_state(y_true, y_pred)
  return self:result()
end

function Metric:__tostring()
  return string.format("<%s metric '%s'>", self.class_name, self.name)
end

function Metric:get_config()
  local cfg = self._c:config()
  cfg.name = self.name
  return cfg
end

--- A metric object of unit `unit` (a metric unit, or a loss unit averaged
-- as a metric), shown as `display` (defaults to the unit name).
function metrics.new(unit, args, display, kind)
  kind = kind or (registry.has("metric", unit) and "metric" or "loss")
  local c
  if kind == "metric" then c = nn.metric_new(unit, args or {})
  else c = nn.loss_new(unit, args or {}) end
  local _, name, class_name = c:unit()
  return setmetatable({_c = c, name = display or name, unit = name, class_name = class_name,
                       kind = kind}, Metric)
end

function metrics.is_metric(v)
  return type(v) == "table" and getmetatable(v) == Metric
end

-- ---- metrics written in Lua --------------------------------------------------------------

-- The root of Lua metric classes (lunet.lua_class; Keras's Metric
-- subclassing): init, update_state(self, y_true, y_pred), result(self),
-- reset_state(self).
local LuaMetric = lua_class.root{class_name = "Metric", _lua = true,
  _accept = {name = true, dtype = true}, get_config = lua_class.config,
  reset_state = function() end,
  __call = function(self, y_true, y_pred)
    self:update_state(y_true, y_pred)
    return self:result()
  end,
  __tostring = function(self) return string.format("<%s metric '%s'>", self.class_name, self.name) end}
metrics.LuaMetric = LuaMetric

--- ln.metrics.Metric:extend{name, defaults, init, update_state, result,
-- reset_state}: a streaming metric written in Lua; its result is listed in
-- fit's history under the instance's name.
function Metric.extend(parent, spec)
  if type(spec) ~= "table" or type(spec.update_state) ~= "function" or
      type(spec.result) ~= "function" then
    E.raise("Metric:extend needs {name = ..., update_state = function(self, y_true, y_pred) " ..
            "... end, result = function(self) ... end [, reset_state, init]}")
  end
  return lua_class.extend(parent == Metric and LuaMetric or parent, spec)
end
LuaMetric.extend = Metric.extend

--- Keras's MeanMetricWrapper: fn(y_true, y_pred) -> per-sample values (or
-- one number), averaged over every sample seen.
local MeanWrapper = Metric.extend(Metric, {name = "MeanMetricWrapper",
  init = function(self, args)
    self._fn = args.fn
    self._total, self._count = 0, 0
  end,
  update_state = function(self, y_true, y_pred, sample_weight)
    local v = self._fn(y_true, y_pred)
    if registry.is_tensor(v) then
      local n = v:numel()
      if n == 0 then return end
      if sample_weight ~= nil then -- each sample's values count w_i times
        local w = weights_tensor(sample_weight)
        local rows = w:numel()
        if rows == 0 or n % rows ~= 0 then
          E.raisef("metric %s: %d values for %d sample weights", self.name, n, rows)
        end
        local per = n // rows
        local vw = v:reshape({rows, per}) * w:reshape({rows, 1})
        self._total = self._total + vw:sum()
        self._count = self._count + w:sum() * per
        return
      end
      self._total = self._total + v:sum()
      self._count = self._count + n
    elseif sample_weight ~= nil then
      E.raisef("metric %s: the function returned one number, not a value per sample, so " ..
               "sample weights cannot weigh it", self.name)
    elseif type(v) == "number" then
      self._total, self._count = self._total + v, self._count + 1
    else
      E.raisef("metric %s: the function returned %s, not a tensor or a number", self.name, type(v))
    end
  end,
  result = function(self) return self._count > 0 and self._total / self._count or 0 end,
  reset_state = function(self) self._total, self._count = 0, 0 end,
  get_config = function(self) return {name = self.name, fn = self.name} end,
})
metrics.MeanMetricWrapper = function(args) return MeanWrapper(args) end

--- Keras's metrics.Mean, for custom loops: the (weighted) mean of every
-- value given to update_state(values [, sample_weight]); sample_weight is a
-- number or a tensor broadcasting to values' shape.
local Mean = Metric.extend(Metric, {name = "Mean",
  init = function(self) self._total, self._count = 0, 0 end,
  update_state = function(self, values, sample_weight)
    if type(values) == "number" then values = core.tensor(values) end
    if not registry.is_tensor(values) then
      E.raisef("Mean %s: update_state expects a number or a tensor, got %s", self.name, type(values))
    end
    local w = sample_weight
    if w == nil then
      self._total, self._count = self._total + values:sum(), self._count + values:numel()
      return
    end
    if type(w) ~= "number" and not registry.is_tensor(w) then
      E.raisef("Mean %s: sample_weight must be a number or a tensor, got %s", self.name, type(w))
    end
    local weights = values * 0 + w -- w broadcast to values' shape (an error names both shapes)
    self._total = self._total + (values * weights):sum()
    self._count = self._count + weights:sum()
  end,
  result = function(self) return self._count ~= 0 and self._total / self._count or 0 end,
  reset_state = function(self) self._total, self._count = 0, 0 end,
})
metrics.Mean = function(args) return Mean(args) end

--- Whether v is a metric written in Lua.
function metrics.is_lua_metric(v)
  return lua_class.is_instance(v) and v._lua == true
end

-- ---- resolution (compile) ---------------------------------------------------------------------

local deferred = {accuracy = "accuracy", acc = "accuracy", crossentropy = "crossentropy",
                  ce = "crossentropy"}

local functions, function_names = {}, setmetatable({}, {__mode = "k"})

--- Resolves a compile metrics entry into a spec {name = history key, make =
-- function(y_rank, y_last, out_rank, out_last) -> Metric}. Unknown names
-- fail here, naming them.
function metrics.spec(entry)
  if metrics.is_lua_metric(entry) then
    return {name = entry.name, lua = true, make = function() return entry end}
  end
  if metrics.is_metric(entry) and type(rawget(entry, "_c")) == "userdata" then
    return {name = entry.name, make = function() return entry end}
  end
  if type(entry) == "table" and (metrics.is_metric(entry) or type(entry.update_state) == "function") then
    E.raisef("metrics: '%s' is a metric written in Lua but not made by " ..
             "ln.metrics.Metric:extend{name = ..., update_state = ..., result = ...}",
             tostring(rawget(entry, "name") or "?"))
  end
  local losses = require "lunet.losses"
  if losses.is_lua_loss(entry) then
    return {name = entry.name, lua = true, make = function()
      return MeanWrapper{fn = function(yt, yp) return entry:call(yt, yp) end, name = entry.name}
    end}
  end
  if losses.is_loss(entry) then
    local _, unit = entry._c:unit()
    return {name = entry.name, make = function()
      return metrics.new(unit, entry._c:config(), entry.name, "loss")
    end}
  end
  local name = entry
  if type(entry) == "function" then
    name = function_names[entry] or losses.function_name(entry)
    if not name then -- a Lua function: averaged, named as its variable
      local fname = require("lunet.custom").function_name(entry) or "lua_metric"
      return {name = fname, lua = true, make = function()
        return MeanWrapper{fn = entry, name = fname}
      end}
    end
  end
  if type(name) ~= "string" then
    E.raise("metrics: expected a name, a metric function or object, got " .. type(entry))
  end
  local display = name
  local d = deferred[name]
  if d then
    return {name = display, make = function(y_rank, y_last, out_rank, out_last)
      return metrics.new(metrics.resolve(d, y_rank, y_last, out_rank, out_last), nil, display)
    end}
  end
  if registry.has("metric", name) then
    return {name = display, make = function() return metrics.new(name, nil, display, "metric") end}
  end
  local lname = losses.aliases[name] or name
  if registry.has("loss", lname) then
    return {name = display, make = function() return metrics.new(lname, nil, display, "loss") end}
  end
  local known = {"accuracy", "acc", "crossentropy", "ce"}
  for _, kind in ipairs({"metric", "loss"}) do
    for _, u in ipairs(registry.units(kind)) do known[#known + 1] = u.name end
  end
  for a in pairs(losses.aliases) do known[#known + 1] = a end
  E.raise(registry.unknown("metric", "metric", name, known))
end

--- The history key of a weighted metric named `name` (Keras 2's
-- MetricsContainer): the plain name (prefixed by the output's name when
-- output is given), "weighted_" inserted when an unweighted metric already
-- has that name. taken: the set of names so far.
function metrics.weighted_name(name, taken, output)
  if output then
    if taken[output .. "_" .. name] then return output .. "_weighted_" .. name end
    return output .. "_" .. name
  end
  return taken[name] and ("weighted_" .. name) or name
end

--- Keras's compile_utils rule for "accuracy" / "crossentropy" from the
-- ranks and last sizes of y_true and y_pred.
function metrics.resolve(what, y_rank, y_last, out_rank, out_last)
  local kind
  if out_last == 1 then kind = "binary"
  elseif y_rank < out_rank or (y_last == 1 and out_last > 1) then kind = "sparse"
  else kind = "categorical" end
  if what == "accuracy" then
    return ({binary = "binary_accuracy", sparse = "sparse_categorical_accuracy",
             categorical = "categorical_accuracy"})[kind]
  end
  return ({binary = "binary_crossentropy", sparse = "sparse_categorical_crossentropy",
           categorical = "categorical_crossentropy"})[kind]
end

-- ---- functions ------------------------------------------------------------------------------

local function metric_function(name)
  local f = functions[name]
  if f then return f end
  local obj
  f = E.protect(function(y_true, y_pred)
    obj = obj or metrics.new(name, nil, name, "metric")
    return obj._c:per_sample(y_pred, y_true)
  end)
  functions[name] = f
  function_names[f] = name
  return f
end

-- Every function a user reaches: errors point at the user's line.
E.protect_all(Metric, {extend = true})
Metric.extend = E.protect(Metric.extend)
E.protect_all(metrics)

-- The names a user may ask ln.metrics for.
local function metric_names()
  local names = {}
  for _, kind in ipairs({"metric", "loss"}) do
    for _, u in ipairs(registry.units(kind)) do
      names[#names + 1] = u.class_name
      names[#names + 1] = u.name
    end
  end
  return names
end

setmetatable(metrics, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    local unit = registry.find_class("metric", k)
    if unit then
      return E.protect(function(args)
        args = registry.copy(args or {})
        local display = args.name
        args.name = nil
        return metrics.new(unit, args, display, "metric")
      end)
    end
    if registry.has("metric", k) then return metric_function(k) end
    local losses = require "lunet.losses"
    local lunit = registry.find_class("loss", k)
    if lunit then  -- e.g. ln.metrics.MeanSquaredError{}
      return E.protect(function(args)
        args = registry.copy(args or {})
        local display = args.name
        args.name = nil
        return metrics.new(lunit, args, display, "loss")
      end)
    end
    local lname = losses.aliases[k] or k
    if registry.has("loss", lname) then return losses[lname] end
    E.raise(registry.unknown("metric", "metric", k, metric_names()))
  end,
})

return metrics
