--- lunet.custom_layers: layers written in Lua -- ln.layers.Layer:extend{...},
-- subclasses of built-in layers (ln.layers.Dropout:extend{...}) and
-- ln.layers.Lambda(fn) -- first-class: they go in Sequential, train with
-- fit (their gradient is a gradient tape's), show in summary, save and load.
--
--   local MyDense = ln.layers.Layer:extend{
--     name = "MyDense", defaults = {units = 32, activation = "linear"},
--     build = function(self, input_shape)        -- without the batch axis
--       self.kernel = self:add_weight{name = "kernel", initializer = "glorot_normal",
--                                     shape = {input_shape[#input_shape], self.units}}
--       self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
--     end,
--     call = function(self, x, training)
--       return ln.activations.get(self.activation)(ln.matmul(x, self.kernel) + self.bias)
--     end,
--   }
--   local d = MyDense{units = 100, activation = "relu"}
--
-- The class conventions are Optimizer:extend's: `name` is the class name,
-- `defaults` are read into self.<key> and recorded for get_config, `init`
-- (optional) sees every keyword argument for anything else. Methods of a
-- parent class are reached through it: ln.layers.Dropout.call(self, x, true),
-- MyDense.get_config(self).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local layers = require "lunet.layers"

local nn = core.nn
local ag = core.autograd
local sformat = string.format
local M = {}

local LuaLayer = {}   -- the metatable of every instance
M.LuaLayer = LuaLayer
local Root = {class_name = "Layer", _defaults = {}}  -- the methods every Lua layer has
M.Root = Root

--- Whether v is a layer written in Lua.
function M.is_lua_layer(v)
  return type(v) == "table" and getmetatable(v) == LuaLayer
end

--- Whether v is a Lua layer class (made by extend).
function M.is_class(v)
  return type(v) == "table" and rawget(v, "_defaults") ~= nil
end

local function copy_value(v)
  if type(v) == "table" and getmetatable(v) == nil then return registry.copy(v) end
  return v
end

-- ---- classes ---------------------------------------------------------------------------

local function class_mt_for(parent)
  return {__index = parent, __call = E.protect(function(cls, args) return M.new(cls, args) end),
          __tostring = function(cls) return sformat("<layer class %s>", cls.class_name) end}
end

--- parent:extend(spec) -> a new class. spec.name (the class name) is
-- required; defaults, init, build, call, get_config, compute_output_shape
-- are optional (call is required unless a built-in layer is below).
function M.extend(parent, spec)
  local cls = require("lunet.lua_class").subclass(parent, spec,
    "Layer:extend needs {name = \"MyLayer\", ...} (the class name)")
  cls._unit = rawget(parent, "_unit")
  return setmetatable(cls, class_mt_for(parent))
end
Root.extend = M.extend

--- The class of a built-in layer (ln.layers.Dense, ...): callable like its
-- constructor, and extendable.
function M.builtin_class(class_name, unit, make)
  local cls = {class_name = class_name, _unit = unit, _defaults = {}, super = Root}
  return setmetatable(cls, {
    __index = Root,
    __call = function(_, args) return make(args) end,
    __tostring = function() return sformat("<layer class %s>", class_name) end,
  })
end

-- ---- instances -------------------------------------------------------------------------

local base_keys = {name = true, trainable = true, input_shape = true, input_dim = true,
                   batch_input_shape = true, dtype = true, batch_size = true}

--- A new instance of class cls from keyword arguments.
function M.new(cls, args)
  local who = cls.class_name
  if args ~= nil and type(args) ~= "table" then
    E.raisef("%s: expects a table of keyword arguments, e.g. %s{...}", who, who)
  end
  args = args or {}
  local self = {_cls = cls, _weights = {}, _losses = {}, _metrics = {}, _cfg = {}, _sublayers = {}}
  local extra = {}
  for k, v in pairs(args) do
    if not base_keys[k] and cls._defaults[k] == nil then extra[k] = v end
  end
  local name = args.name
  if name ~= nil and (type(name) ~= "string" or name == "") then
    E.raisef("%s: name must be a non-empty string", who)
  end
  name = name or layers.unique_name(registry.to_snake_case(who))
  self._name = name
  if cls._unit then
    -- the built-in layer below: it takes the base keywords and the rest
    local kw = registry.copy(extra)
    for k in pairs(base_keys) do kw[k] = args[k] end
    kw.name = name
    local inner = layers.create(cls._unit, who, kw)
    self._inner, self._c = inner, inner._c
    self._input_shape = rawget(inner, "_input_shape")
  else
    local shape = args.input_shape
    if args.input_dim ~= nil then shape = {args.input_dim} end
    if args.batch_input_shape ~= nil then shape = {table.unpack(args.batch_input_shape, 2)} end
    if shape ~= nil then self._input_shape = layers.check_shape(who, shape) end
    if args.dtype ~= nil and args.dtype ~= "float32" then
      E.raisef("%s: dtype %s is not supported (lunet computes in float32)", who, tostring(args.dtype))
    end
    if args.trainable ~= nil and type(args.trainable) ~= "boolean" then
      E.raisef("%s: trainable must be true or false", who)
    end
    self._trainable = args.trainable ~= false
    if next(extra) ~= nil and not cls.init then
      local k = next(extra)
      E.raisef("%s: unknown keyword argument '%s' (the class's defaults: %s)", who, tostring(k),
               M.default_names(cls))
    end
  end
  for k, d in pairs(cls._defaults) do
    local v = args[k]
    if v == nil then v = d end
    self._cfg[k] = copy_value(v)
    self[k] = copy_value(v)
  end
  setmetatable(self, LuaLayer)
  if cls.init then cls.init(self, args) end
  return self
end

M.default_names = require("lunet.lua_class").default_names

-- ---- weights -------------------------------------------------------------------------------

-- The Variable (lunet.layers' form) of one of the layer's own weights.
local function variable_of(self, w)
  local on = self.trainable
  return setmetatable({_f = {
    name = self.name .. "/" .. w.name .. ":0", short_name = w.name, value = w.value,
    grad = w.grad, trainable = (w.trainable and on) and true or false,
    shape = w.value:shape(), layer = self, constraint = w.constraint,
  }}, layers.Variable)
end

-- The layers held in fields, directly (in the order of assignment) or in
-- lists assigned to fields (also filled after the assignment: self.hidden
-- = {} then self.hidden[i] = ...), as Keras tracks attributes and lists.
local function sublayers(self)
  local subs = rawget(self, "_sublayers")
  local lists = rawget(self, "_sublists")
  if not lists then return subs end
  local r, seen = {}, {}
  for _, l in ipairs(subs) do r[#r + 1] = l; seen[l] = true end
  for _, list in ipairs(lists) do
    for _, l in ipairs(list) do
      if layers.is_layer(l) and not seen[l] then r[#r + 1] = l; seen[l] = true end
    end
  end
  return r
end
M.sublayers = sublayers

-- Keras's order: trainable weights, then the others (the built-in
-- layer's below first in each group).
local function variables(self)
  local first, second = {}, {}
  local inner = rawget(self, "_inner")
  if inner then
    for _, v in ipairs(inner.variables) do
      if v.trainable then first[#first + 1] = v else second[#second + 1] = v end
    end
  end
  for _, w in ipairs(self._weights) do
    local v = variable_of(self, w)
    if v.trainable then first[#first + 1] = v else second[#second + 1] = v end
  end
  for _, l in ipairs(sublayers(self)) do -- layers held in fields
    for _, v in ipairs(l.variables) do
      if v.trainable and self.trainable then first[#first + 1] = v else second[#second + 1] = v end
    end
  end
  for _, v in ipairs(second) do first[#first + 1] = v end
  return first
end

local filter = layers.filter_trainable

--- self:add_weight{name, shape, initializer = "glorot_uniform", regularizer,
-- constraint, trainable = true} -> the weight: a tensor (a variable when
-- trainable, so tapes watch it) to use in call's expressions.
function Root:add_weight(spec)
  local who = self.name
  if type(spec) ~= "table" then E.raisef("%s: add_weight expects {name = ..., shape = {...}}", who) end
  local wname = spec.name or ("weight_" .. #self._weights)
  if type(wname) ~= "string" or wname == "" then
    E.raisef("%s: add_weight: name must be a non-empty string", who)
  end
  for _, w in ipairs(self._weights) do
    if w.name == wname then E.raisef("%s: add_weight: a weight named '%s' exists", who, wname) end
  end
  local shape = spec.shape
  if type(shape) == "number" then shape = {shape} end
  if type(shape) ~= "table" then
    E.raisef("%s: add_weight '%s': shape must be a list of sizes", who, wname)
  end
  shape = #shape == 0 and {} or layers.check_shape(who .. ": add_weight '" .. wname .. "'", shape)
  local init = spec.initializer or "glorot_uniform"
  local value
  if type(init) == "function" then
    value = init(shape)
    if not registry.is_tensor(value) then
      E.raisef("%s: add_weight '%s': the initializer returned %s, not a tensor", who, wname,
               type(value))
    end
    value = value:float():clone()
  else
    value = require("lunet.initializers").get(init)(#shape > 0 and shape or {1})
    if #shape == 0 then value = value:reshape({}) end
  end
  local trainable = spec.trainable ~= false
  if trainable then ag.mark_variable(value, true) end
  local constraints = require "lunet.constraints"
  self._weights[#self._weights + 1] = {
    name = wname, value = value, trainable = trainable,
    regularizer = spec.regularizer and require("lunet.regularizers").resolve(spec.regularizer),
    constraint = spec.constraint and constraints.get(spec.constraint),
  }
  return value
end

--- self:add_loss(t): a loss term (a 0-d tensor or a number) of this call,
-- added to the model's loss by fit and listed in layer.losses/model.losses.
function Root:add_loss(v)
  if type(v) ~= "number" and not registry.is_tensor(v) then
    E.raisef("%s: add_loss expects a tensor or a number, got %s", self.name, type(v))
  end
  local list = rawget(self, "_losses")
  list[#list + 1] = v
end

--- self:add_metric(t, name): a value (averaged over the batches of an
-- epoch) that fit lists in its logs under `name`.
function Root:add_metric(v, name)
  if type(name) ~= "string" or name == "" then
    E.raisef("%s: add_metric needs a name: self:add_metric(value, \"name\")", self.name)
  end
  if type(v) ~= "number" and not registry.is_tensor(v) then
    E.raisef("%s: add_metric '%s' expects a tensor or a number, got %s", self.name, name, type(v))
  end
  rawget(self, "_metrics")[name] = v
end

-- ---- default hooks -------------------------------------------------------------------

--- The built-in layer below's call (ln.layers.Dropout.call(self, x, true)).
function Root:call(x, training)
  local c = rawget(self, "_c")
  if not c then
    E.raisef("%s (%s): the class defines no call(self, x, training)", self.name, self.class_name)
  end
  if ag.active() or not registry.is_tensor(x) then -- (a list: a merge layer below)
    return ag.layer_call(c, x, training and true or false)
  end
  if training then return nn.tensor_clone(c:forward(x, true, false)) end
  return c:call(x)
end

function Root:build() end

--- Keras's get_config: name, trainable, dtype, the built-in layer's
-- keywords, the defaults' keys with the values given.
function Root:get_config()
  local inner = rawget(self, "_inner")
  local cfg = inner and inner:get_config() or {}
  for k, v in pairs(rawget(self, "_cfg")) do cfg[k] = copy_value(v) end
  cfg.name = self.name
  cfg.trainable = self.trainable
  cfg.dtype = "float32"
  local s = rawget(self, "_input_shape")
  if s then cfg.input_shape = registry.copy_list(s) end
  return cfg
end

-- ---- building ---------------------------------------------------------------------------

-- A shape as text; a list of shapes (a layer called on a list of inputs,
-- as merge layers are) as "[(None, 4), (None, 4)]".
local function shape_key(s)
  if type(s[1]) == "table" then
    local parts = {}
    for i, d in ipairs(s) do parts[i] = registry.shape_str(d) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  return registry.shape_str(s)
end
M.shape_key = shape_key

-- A copy of a shape or of a list of shapes.
local function copy_shape(s)
  if type(s[1]) == "table" then
    local r = {}
    for i, d in ipairs(s) do r[i] = registry.copy_list(d) end
    return r
  end
  return registry.copy_list(s)
end

local function run_build(self, shape)
  local inner = rawget(self, "_inner")
  if inner and type(shape[1]) == "table" then
    inner._c:build_inputs(copy_shape(shape)) -- a merge layer below: the list of shapes
  elseif inner then
    inner:build(shape)
  end
  self._cls.build(self, copy_shape(shape))
  rawset(self, "_built", true)
  rawset(self, "_shape_in", copy_shape(shape))
  -- sublayers made in init or build are built by a first call: make it now
  -- (a probe of one zero sample), so the weights exist to be loaded
  for _, l in ipairs(sublayers(self)) do
    if not l.built then return M.output_shape(self) end
  end
end

--- Builds for inputs of shape `shape` (without the batch axis); returns
-- the output shape. (The class's own build is the hook this calls.)
function Root:_build(shape)
  shape = shape or rawget(self, "_input_shape")
  if type(shape) ~= "table" then
    E.raisef("%s: build needs an input shape (without the batch axis), e.g. {784}", self.name)
  end
  local have = rawget(self, "_shape_in")
  if have and shape_key(have) ~= shape_key(shape) then
    E.raisef("%s: built for input shape %s, now given %s", self.name, shape_key(have),
             shape_key(shape))
  end
  if not rawget(self, "_built") then run_build(self, shape) end
  return self.output_shape
end

-- The output shape: compute_output_shape, the built-in layer's, or the
-- shape of a call on one zero sample.
function M.output_shape(self)
  local s = rawget(self, "_shape_out")
  if s then return s end
  local shape = rawget(self, "_shape_in")
  if not shape then return nil end
  local cls = self._cls
  if not cls.compute_output_shape and rawget(self, "_inner") and cls.call == Root.call then
    s = self._inner.output_shape
  else
    s = M.shape_for(self, shape)
  end
  rawset(self, "_shape_out", s)
  return s
end

-- A batch of one zero sample of `shape` (or a list of them for a list of shapes).
local function probe_of(shape)
  if type(shape[1]) == "table" then
    local r = {}
    for i, d in ipairs(shape) do r[i] = probe_of(d) end
    return r
  end
  local p = {1}
  for _, d in ipairs(shape) do p[#p + 1] = d end
  return core.zeros(p)
end

--- The output shape (without the batch axis) of the built layer for
-- inputs of `shape` (one shape, or a list for a list of inputs):
-- compute_output_shape, or the shape of a call on one zero sample (the
-- call's add_loss and add_metric values are dropped).
function M.shape_for(self, shape)
  local cls = self._cls
  if cls.compute_output_shape then
    local s = cls.compute_output_shape(self, copy_shape(shape))
    if type(s) ~= "table" then
      E.raisef("%s (%s): compute_output_shape returned %s, not a shape list", self.name,
               self.class_name, type(s))
    end
    return s
  end
  local y = self:call(probe_of(shape), false)
  rawset(self, "_losses", {})
  rawset(self, "_metrics", {})
  if not registry.is_tensor(y) then
    E.raisef("%s (%s): call returned %s, not a tensor", self.name, self.class_name, type(y))
  end
  local s = y:shape()
  table.remove(s, 1)
  return s
end

-- ---- properties, fields and the call ----------------------------------------------------

local properties = {
  name = function(self) return rawget(self, "_name") end,
  class_name = function(self) return self._cls.class_name end,
  trainable = function(self)
    local inner = rawget(self, "_inner")
    if inner then return inner.trainable end
    return rawget(self, "_trainable")
  end,
  built = function(self) return rawget(self, "_built") == true end,
  weights = variables,
  variables = variables,
  trainable_weights = function(self) return filter(variables(self), true) end,
  trainable_variables = function(self) return filter(variables(self), true) end,
  non_trainable_weights = function(self) return filter(variables(self), false) end,
  non_trainable_variables = function(self) return filter(variables(self), false) end,
  input_shape = function(self) return rawget(self, "_shape_in") or rawget(self, "_input_shape") end,
  output_shape = M.output_shape,
  dtype = function() return "float32" end,
  -- the weights' penalties and the last call's add_loss terms (0-d
  -- tensors on a tape, numbers off it)
  losses = function(self)
    local r = {}
    local inner = rawget(self, "_inner")
    if inner then
      local p = inner.losses[1]
      if registry.is_tensor(p) or p ~= 0 then r[#r + 1] = p end
    end
    if self.trainable then
      for _, w in ipairs(self._weights) do
        if w.regularizer and w.trainable then r[#r + 1] = w.regularizer(w.value) end
      end
    end
    for _, l in ipairs(sublayers(self)) do
      for _, v in ipairs(l.losses) do
        if registry.is_tensor(v) or v ~= 0 then r[#r + 1] = v end
      end
    end
    for _, v in ipairs(rawget(self, "_losses")) do r[#r + 1] = v end
    return r
  end,
  metrics = function(self) return rawget(self, "_metrics") end,
}

LuaLayer.__index = function(self, k)
  local p = properties[k]
  if p then return p(self) end
  local v = rawget(self, "_cls")[k]
  if v ~= nil then return v end
  local inner = rawget(self, "_inner")
  if inner and type(k) == "string" then return inner[k] end -- its weights by name
  return nil
end

LuaLayer.__newindex = function(self, k, v)
  layers.check_assigned(self, "layer", k, v)
  if k == "trainable" then
    local inner = rawget(self, "_inner")
    if inner then inner.trainable = v else rawset(self, "_trainable", v) end
  elseif k == "name" then
    rawset(self, "_name", v)
    local inner = rawget(self, "_inner")
    if inner then inner.name = v end
  elseif properties[k] then
    E.raisef("%s: '%s' is read-only", self.name, tostring(k))
  else
    -- a layer kept in a field is tracked (its weights are this layer's),
    -- in the order of assignment, as Keras tracks attributes
    if layers.is_layer(v) then
      local subs = rawget(self, "_sublayers")
      subs[#subs + 1] = v
    elseif type(v) == "table" and getmetatable(v) == nil then
      local lists = rawget(self, "_sublists") or {}
      lists[#lists + 1] = v
      rawset(self, "_sublists", lists)
    end
    rawset(self, k, v)
  end
end

LuaLayer.__tostring = function(self)
  return sformat("<%s name=%s, built=%s>", self.class_name, self.name, tostring(self.built))
end

--- layer(x [, {training = true}]): builds on first use, then the class's
-- call(self, x, training). Inside tape:run everything call does is recorded.
LuaLayer.__call = function(self, x, opts)
  -- on symbolic tensors: a node of a functional model
  local functional = package.loaded["lunet.functional"]
  if functional and functional.is_symbolic_arg(x) then return functional.call_layer(self, x) end
  local shape
  if type(x) == "table" and not registry.is_tensor(x) and getmetatable(x) == nil then
    -- a list of inputs (a merge-like layer): call gets the list, build the
    -- list of their shapes
    if #x == 0 then E.raisef("%s (%s): called on an empty list", self.name, self.class_name) end
    shape = {}
    for i, t in ipairs(x) do
      if not registry.is_tensor(t) then
        E.raisef("%s (%s): entry %d of its list of inputs is a %s, not a tensor", self.name,
                 self.class_name, i, type(t))
      end
      local s = t:shape()
      table.remove(s, 1)
      shape[i] = s
    end
  elseif not registry.is_tensor(x) then
    E.raisef("%s: expects a tensor input (or a list of tensors), got %s", self.name, type(x))
  end
  local training = type(opts) == "table" and opts.training and true or false
  if not rawget(self, "_built") then
    if not shape then
      shape = x:shape()
      table.remove(shape, 1)
    end
    run_build(self, shape)
  end
  rawset(self, "_losses", {})
  rawset(self, "_metrics", {})
  local y = self._cls.call(self, x, training)
  if not registry.is_tensor(y) then
    E.raisef("%s (%s): call returned %s, not a tensor", self.name, self.class_name, type(y))
  end
  if not rawget(self, "_shape_out") then
    local s = y:shape()
    table.remove(s, 1)
    rawset(self, "_shape_out", s)
  end
  return y
end

-- ---- the methods models use (the same as a built-in layer's) ------------------------

Root.get_weights = layers.methods.get_weights
Root.set_weights = layers.methods.set_weights

--- Number of weight values, and of trainable ones.
function Root:_count_params()
  local n, t = 0, 0
  for _, v in ipairs(variables(self)) do
    local k = v.value:numel()
    n = n + k
    if v.trainable then t = t + k end
  end
  return n, t
end

function Root:count_params()
  if not self.built then
    E.raisef("You tried to call `count_params` on layer %s, but the layer isn't built.", self.name)
  end
  return (self:_count_params())
end

function Root:regularization_loss()
  local s = 0
  for _, p in ipairs(self.losses) do s = s + (registry.is_tensor(p) and p:item() or p) end
  return s
end

function Root:output_activation() return nil end

-- ---- Lambda ---------------------------------------------------------------------------------

--- ln.layers.Lambda(fn [, {name = ...}]) or Lambda{fn, name = ...}: a
-- weightless layer computing fn(x). Saved by name: loading needs the
-- function in custom_objects under its name (Keras saves bytecode).
local Lambda = M.extend(Root, {name = "Lambda",
  init = function(self, args)
    local fn = args[1] or args["function"]
    if type(fn) ~= "function" then
      E.raise("Lambda: expects a Lua function: ln.layers.Lambda(function(x) ... end)")
    end
    rawset(self, "_fn", fn)
    rawset(self, "_fn_name", args.function_name or require("lunet.custom").function_name(fn))
  end,
  call = function(self, x, training) return self._fn(x, training) end,
  get_config = function(self)
    local cfg = Root.get_config(self)
    cfg["function"] = rawget(self, "_fn_name") or self.name
    return cfg
  end,
})
M.Lambda = setmetatable({}, {
  __index = Lambda,
  __call = E.protect(function(_, a, b)
    if type(a) ~= "function" and type(a) ~= "table" then
      E.raise("Lambda: expects a Lua function: ln.layers.Lambda(function(x) ... end)")
    end
    local args = type(a) == "function" and registry.copy(b or {}) or a
    if type(a) == "function" then args[1] = a end
    return M.new(Lambda, args)
  end),
})

E.protect_all(Root, {call = true, build = true, get_config = true})
M.extend = E.protect(M.extend)
Root.extend = M.extend
return M
