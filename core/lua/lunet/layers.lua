--- lunet.layers: Keras layers, one constructor per registered layer unit.
--
--   local ln = require "lunet"
--   local d = ln.layers.Dense{300, activation = "relu",
--                             kernel_initializer = "he_normal"}
--   local a = ln.layers.LeakyReLU{}             -- named leaky_re_lu, ...
--   local y = a(x)                              -- called: inference mode
--   d.name, d.trainable, d.variables, d:get_weights(), d:set_weights(list)
--
-- Constructors are generated from the plugin registry: ln.layers.<Class>
-- exists for every layer unit whose Keras class_name is <Class>. Besides the
-- unit's own keyword arguments every layer takes Keras's base-layer ones:
-- name, input_shape (or input_dim, batch_input_shape), trainable, dtype
-- ("float32" only). Unknown keywords are errors naming them.
--
-- Names follow Keras: to_snake_case(class) plus a session-wide counter
-- (dense, dense_1, ...; reset by ln.backend.clear_session()).
--
-- Shapes seen from Lua (input_shape, output_shape) leave out the batch axis:
-- Dense(300) after Flatten of 28x28 has input_shape {784}, output_shape
-- {300}; summaries print them Keras-style as (None, 784).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local lua_parts = require "lunet.custom_parts"

local nn = core.nn
local ag = core.autograd
local layers = {}

-- ---- names ------------------------------------------------------------------

local name_counts = {}

--- Keras's unique_object_name (zero-based): "dense", then "dense_1", ...
-- The counters are shared by layers and models for the whole session.
function layers.unique_name(base)
  local c = name_counts[base]
  if c == nil then
    name_counts[base] = 1
    return base
  end
  name_counts[base] = c + 1
  return base .. "_" .. c
end

--- Forget every counter (Keras's clear_session).
function layers.reset_names()
  name_counts = {}
end

-- ---- variables ----------------------------------------------------------------

--- A layer weight as Keras shows it: name ("dense/kernel:0"), trainable
-- (in effect: the weight's nature and its layer's flag), shape, value (the
-- live tensor; writing into it changes the layer), grad (the gradient buffer
-- the last backward wrote, nil for never-trained weights).
local Variable = {}
layers.Variable = Variable
local variable_methods = {}

-- A Variable's fields live in a hidden table: every assignment goes
-- through __newindex (value copies into the weight, the rest is fixed).
Variable.__index = function(self, k)
  local m = variable_methods[k]
  if m ~= nil then return m end
  return rawget(self, "_f")[k]
end

Variable.__newindex = function(self, k, v)
  if k == "value" then return self:assign(v) end
  if rawget(self, "_f")[k] ~= nil then
    E.raisef("variable %s: '%s' is read-only (assign a value with variable.value = t " ..
             "or variable:assign(t))", self.name, tostring(k))
  end
  E.raisef("variable %s has no field '%s' (fields: name, short_name, shape, value, grad, " ..
           "trainable, layer, constraint)", self.name, tostring(k))
end

function Variable:__tostring()
  return string.format("<Variable '%s' shape=%s trainable=%s>", self.name,
                       registry.full_shape_str(self.shape), tostring(self.trainable))
end

--- A copy of the current value.
function variable_methods:read_value()
  return nn.tensor_clone(self.value)
end
variable_methods.numpy = variable_methods.read_value

--- Copies t into the variable (same shape and dtype).
function variable_methods:assign(t)
  if not registry.is_tensor(t) then
    E.raisef("variable %s: assign expects a tensor of shape %s, got %s", self.name,
             registry.full_shape_str(self.shape), type(t))
  end
  nn.tensor_assign(self.value, t, self.name)
  return self
end

-- ---- the Layer class ------------------------------------------------------------

local Layer = {}
layers.Layer = Layer
local methods = {}

-- Variables in Keras's order: the weights trainable by nature first, then
-- the others (BN: gamma, beta, moving_mean, moving_variance), each with
-- its effective trainable flag.
local function variables(self)
  local c = self._c
  local on = c:trainable()
  local cons = rawget(self, "_constraints")
  local first, second = {}, {}
  for _, w in ipairs(c:weights()) do
    local v = setmetatable({_f = {
      name = self.name .. "/" .. w.name .. ":0", short_name = w.name,
      value = w.value, grad = w.grad, trainable = (w.trainable and on) and true or false,
      shape = w.value:shape(), layer = self, constraint = cons and cons[w.name .. "_constraint"],
    }}, Variable)
    if w.trainable then first[#first + 1] = v else second[#second + 1] = v end
    if v.trainable then ag.mark_variable(w.value) end -- tapes watch it
  end
  for _, v in ipairs(second) do first[#first + 1] = v end
  return first
end

local function filter(list, want)
  local r = {}
  for _, v in ipairs(list) do if v.trainable == want then r[#r + 1] = v end end
  return r
end
layers.filter_trainable = filter
layers.methods = methods -- get_weights/set_weights serve Lua layers too

local properties = {
  name = function(self) return rawget(self, "_name") end,
  class_name = function(self) return rawget(self, "_class_name") end,
  unit = function(self) return rawget(self, "_unit") end,
  trainable = function(self) return self._c:trainable() end,
  built = function(self) return self._c:is_built() end,
  weights = variables,
  variables = variables,
  trainable_weights = function(self) return filter(variables(self), true) end,
  trainable_variables = function(self) return filter(variables(self), true) end,
  non_trainable_weights = function(self) return filter(variables(self), false) end,
  non_trainable_variables = function(self) return filter(variables(self), false) end,
  input_shape = function(self) return self._c:input_shape() or self._input_shape end,
  output_shape = function(self) return self._c:output_shape() end,
  dtype = function() return "float32" end,
  -- on a tape: the 0-d penalty, recorded (so its gradient reaches the weights)
  losses = function(self)
    local parts = rawget(self, "_lua_parts")
    if ag.active() then return lua_parts.penalties(self, parts, {ag.regularization(self._c)}) end
    return lua_parts.penalties(self, parts, {self._c:regularization_loss()})
  end,
}

Layer.__index = function(self, k)
  local m = methods[k]
  if m ~= nil then return m end
  local p = properties[k]
  if p then return p(self) end
  -- a weight by its short name, as Keras's attributes: dense.kernel,
  -- dense.bias, bn.gamma, bn.moving_mean (a Variable)
  if type(k) == "string" then
    local vars, found = variables(self), nil
    for _, v in ipairs(vars) do
      if v.short_name == k then return v end
    end
    -- a cell's weight (lstm.kernel for "lstm_cell/kernel") when only one matches
    for _, v in ipairs(vars) do
      if v.short_name:sub(-#k - 1) == "/" .. k then
        if found then return nil end
        found = v
      end
    end
    return found
  end
  return nil
end

-- Assignments: name and trainable are checked and applied; properties,
-- weights and the keyword arguments the layer was made with are refused
-- (they would be ignored); other fields are the user's own.
--- Checks v assigned to obj.trainable or obj.name (what: "layer",
-- "model"), for every kind of layer and model.
function layers.check_assigned(obj, what, k, v)
  if k == "trainable" and type(v) ~= "boolean" then
    E.raisef("%s: trainable must be true or false, got %s", obj.name, type(v))
  elseif k == "name" and (type(v) ~= "string" or v == "") then
    E.raisef("%s: the %s name must be a non-empty string, got %s %s", obj.name, what,
             type(v), tostring(v))
  end
end

Layer.__newindex = function(self, k, v)
  layers.check_assigned(self, "layer", k, v)
  if k == "trainable" then
    self._c:trainable(v)
  elseif k == "name" then
    rawset(self, "_name", v)
    self._c:set_name(v)
  elseif properties[k] then
    E.raisef("%s: '%s' is read-only", self.name, tostring(k))
  elseif type(k) == "string" and methods[k] == nil and Layer.__index(self, k) ~= nil then
    E.raisef("%s: '%s' is a weight; assign its value with layer.%s:assign(t) (or " ..
             "layer.%s.value = t)", self.name, k, k, k)
  elseif type(k) == "string" and self._c:config()[k] ~= nil then
    E.raisef("%s: '%s' is fixed when the layer is made (%s{%s = ...}); make a new layer",
             self.name, k, self.class_name, k)
  elseif k == "_c" then
    E.raisef("%s: '%s' is read-only", self.name, k)
  else
    rawset(self, k, v)
  end
end

Layer.__tostring = function(self)
  return string.format("<%s name=%s, built=%s>", self.class_name, self.name,
                       tostring(self._c:is_built()))
end

--- layer(x [, opts]): the layer applied to x (a tensor, or a list of
-- tensors for a layer with several inputs) in inference mode (a new
-- tensor); opts.training = true runs it in training mode. Inside tape:run
-- the call is recorded (its backward is the layer's own).
Layer.__call = function(self, x, opts)
  -- on symbolic tensors (ln.Input and what layers made of them): a node of
  -- a functional model (lunet.functional, loaded whenever such tensors exist)
  local functional = package.loaded["lunet.functional"]
  if functional and functional.is_symbolic_arg(x) then return functional.call_layer(self, x) end
  -- on a tape, and for a list of inputs (merge layers): new output tensors
  -- (a list for a layer with several outputs)
  local parts = rawget(self, "_lua_parts")
  if parts and not rawget(self, "_lua_initialized") and registry.is_tensor(x) then
    local s = x:shape()
    table.remove(s, 1)
    methods.build(self, s)
  end
  if ag.active() or not registry.is_tensor(x) then
    return lua_parts.activate(parts, ag.layer_call(self._c, x, type(opts) == "table" and
                                                   opts.training and true or false))
  end
  if type(opts) == "table" and opts.training then
    return lua_parts.activate(parts, nn.tensor_clone(self._c:forward(x, true, false)))
  end
  return lua_parts.activate(parts, self._c:call(x))
end

--- Builds the layer for inputs of shape `shape` (without the batch axis;
-- default: the input_shape it was given); returns the output shape.
function methods:build(shape)
  shape = shape or rawget(self, "_input_shape")
  if type(shape) ~= "table" then
    E.raise(string.format("%s: build needs an input shape (without the batch axis), e.g. {784}",
                        self.name))
  end
  local out = self._c:build(shape)
  local parts = rawget(self, "_lua_parts")
  if parts and not rawget(self, "_lua_initialized") then
    rawset(self, "_lua_initialized", true)
    lua_parts.initialize(self, parts)
  end
  return out
end

--- Low-level forward: the layer's own output buffer (reused by the next
-- call). opts: training, logits (skip the output activation).
function methods:forward(x, opts)
  opts = opts or {}
  return self._c:forward(x, opts.training and true or false, opts.logits and true or false)
end

--- Low-level backward after forward: writes weight gradients, returns dx
-- (the layer's own buffer). opts: need_dx (true), need_dw (true).
function methods:backward(dy, opts)
  opts = opts or {}
  local need_dx = opts.need_dx == nil or opts.need_dx
  local need_dw = opts.need_dw == nil or opts.need_dw
  return self._c:backward(dy, need_dx and true or false, need_dw and true or false)
end

local function require_built(self, what)
  if not self._c:is_built() then
    E.raise(string.format("You tried to call `%s` on layer %s, but the layer isn't built. " ..
                        "Build it first (give input_shape, call it, or fit the model).",
                        what, self.name))
  end
end

--- Copies of the weight values, in Keras's order.
function methods:get_weights()
  local r = {}
  for i, v in ipairs(self.variables) do r[i] = nn.tensor_clone(v.value) end
  return r
end

--- Sets the weights from a list of tensors in Keras's order (copied in).
function methods:set_weights(list)
  local vars = self.variables
  if type(list) ~= "table" or #list ~= #vars then
    E.raise(string.format("You called `set_weights(weights)` on layer %q with a weight list " ..
                        "of length %d, but the layer was expecting %d weights.", self.name,
                        type(list) == "table" and #list or 0, #vars))
  end
  layers.assign_all(self.name, vars, list)
end

--- Copy list[i] into vars[i] (Variables) for every i, after checking every
-- entry: a bad list changes nothing. owner names the layer or model.
function layers.assign_all(owner, vars, list)
  for i, v in ipairs(vars) do
    local t = list[i]
    if not registry.is_tensor(t) then
      E.raisef("%s: set_weights: entry %d (for %s) must be a tensor of shape %s, got %s",
               owner, i, v.name, registry.full_shape_str(v.shape), type(t))
    end
    local want, got = registry.full_shape_str(v.shape), registry.full_shape_str(t:shape())
    if want ~= got or nn.tensor_info(t) ~= "float32" then
      E.raisef("%s: set_weights: entry %d (for %s) must be a float32 tensor of shape %s, " ..
               "got %s %s", owner, i, v.name, want, nn.tensor_info(t), got)
    end
  end
  for i, v in ipairs(vars) do nn.tensor_assign(v.value, list[i], "set_weights: " .. v.name) end
end

--- Number of weight values (the layer must be built).
function methods:count_params()
  require_built(self, "count_params")
  return (self._c:count_params())
end

--- Keras's get_config: name, trainable, dtype, the input shape when one was
-- given, and every keyword argument with its effective value (units given
-- by name read as names: activation = "relu"; with arguments as tables
-- {name = "variance_scaling", scale = 2, ...}).
function methods:get_config()
  local cfg = self._c:config()
  -- a unit reference without arguments ({name = "relu"}) reads as its name
  for k, v in pairs(cfg) do
    if type(v) == "table" and v.name ~= nil and next(v, next(v)) == nil and next(v) == "name" then
      cfg[k] = v.name
    end
  end
  cfg.name = self.name
  cfg.trainable = self._c:trainable()
  cfg.dtype = "float32"
  for k, c in pairs(rawget(self, "_constraints") or {}) do cfg[k] = c end
  for k, p in pairs(rawget(self, "_lua_parts") or {}) do cfg[k] = p end
  if self._input_shape then cfg.input_shape = registry.copy_list(self._input_shape) end
  return cfg
end

--- The output activation ("softmax", ...) the layer applies, or nil.
function methods:output_activation()
  return self._c:output_activation()
end

--- Keras's layer.reset_states(): a stateful RNN forgets its states (the
-- next batch starts from zeros); other layers keep none.
function methods:reset_states()
  self._c:reset_states()
end

--- Sum of the layer's regularization penalties.
function methods:regularization_loss()
  local total = self._c:regularization_loss()
  for _, p in ipairs(lua_parts.penalties(self, rawget(self, "_lua_parts"), {})) do
    total = total + (registry.is_tensor(p) and p:item() or p)
  end
  return total
end

-- ---- construction -------------------------------------------------------------------

-- Splits Keras's base-layer keywords from the unit's own.
local function split_args(class_name, args)
  local kw, base = {}, {}
  for k, v in pairs(args) do
    if k == "name" or k == "trainable" or k == "input_shape" then
      base[k] = v
    elseif k == "input_dim" then -- Keras's shorthand, unless the unit reads it
      base.input_dim = v
    elseif k == "batch_input_shape" then
      local s = {}
      for i = 2, #v do s[#s + 1] = v[i] end
      base.input_shape = s
    elseif k == "dtype" then
      if v ~= "float32" and v ~= nil then
        E.raise(string.format("%s: dtype %s is not supported (lunet computes in float32)",
                            class_name, tostring(v)))
      end
    elseif k == "batch_size" then
      base.batch_size = v
    elseif layers.is_layer(v) then
      -- a wrapped layer (Bidirectional{LSTM{...}}): its unit and config
      local ref = v._c:config()
      ref.name = v.unit
      kw[k] = ref
      base.input_shape = base.input_shape or rawget(v, "_input_shape")
    elseif type(v) == "function" and type(k) == "string" and k:match("_constraint$") then
      kw[k] = v -- a Lua constraint, resolved by constraints.take below
    elseif lua_parts.is_part(k, v) then
      kw[k] = v -- applied by Lua (lunet.custom_parts), taken below
    elseif type(v) == "function" then
      -- activation = ln.activations.relu: the function's unit name
      local ok, name = pcall(require("lunet.activations").serialize, v)
      if not ok then
        E.raise(string.format("%s: keyword '%s' is a Lua function; give a name or a " ..
                            "function of ln.activations", class_name, tostring(k)))
      end
      kw[k] = name
    else
      kw[k] = v
    end
  end
  return kw, base
end

-- Checks an input_shape given by the user: a list of positive integers.
function layers.check_shape(class_name, s)
  if type(s) ~= "table" or #s == 0 then
    E.raise(string.format("%s: input_shape must be a list of sizes like {28, 28}", class_name))
  end
  for i = 1, #s do
    if math.type(s[i]) ~= "integer" and not (type(s[i]) == "number" and s[i] == math.floor(s[i])) or s[i] < 1 then
      E.raise(string.format("%s: input_shape entry %d is %s (sizes are positive integers)",
                          class_name, i, tostring(s[i])))
    end
  end
  local r = {}
  for i = 1, #s do r[i] = math.tointeger(s[i]) end
  return r
end

--- Creates a layer of unit `unit` from a keyword table. `exact_name`:
-- use args.name as is (from_config) -- a given name is always kept as is.
function layers.create(unit, class_name, args)
  if args ~= nil and type(args) ~= "table" then
    E.raise(string.format("%s: expects a table of keyword arguments, e.g. %s{...}",
                        class_name, class_name))
  end
  local kw, base = split_args(class_name, args or {})
  local constraints = require("lunet.constraints").take(class_name, kw)
  local parts = lua_parts.take(class_name, kw)
  local c
  if base.input_dim ~= nil then
    -- Embedding's input_dim is its own keyword; for other layers it is
    -- Keras's input_shape = {input_dim}
    kw.input_dim = base.input_dim
    local ok, made = pcall(nn.layer_new, unit, kw)
    if ok then c = made
    else kw.input_dim = nil; base.input_shape = base.input_shape or {base.input_dim} end
  end
  c = c or nn.layer_new(unit, kw)
  lua_parts.check(class_name, parts, c:config())
  local self = {_c = c, _class_name = class_name, _unit = unit, _lua_parts = parts}
  if base.input_shape ~= nil then
    self._input_shape = layers.check_shape(class_name, base.input_shape)
  end
  self._constraints = constraints
  local name = base.name
  if name ~= nil and (type(name) ~= "string" or name == "") then
    E.raise(class_name .. ": name must be a non-empty string")
  end
  name = name or layers.unique_name(registry.to_snake_case(class_name))
  self._name = name
  c:set_name(name)
  if base.trainable ~= nil then c:trainable(base.trainable and true or false) end
  return setmetatable(self, Layer)
end

--- Whether v is a layer object (a built-in layer or one written in Lua).
function layers.is_layer(v)
  return type(v) == "table" and (getmetatable(v) == Layer or require("lunet.custom_layers").is_lua_layer(v))
end

-- ---- InputLayer -------------------------------------------------------------------

--- Keras's InputLayer: only carries the input shape of a Sequential model
-- (hidden from model.layers, as in Keras).
local InputLayer = {}
InputLayer.__index = InputLayer
layers.InputLayer_class = InputLayer

-- An InputLayer has no weights (it is listed in functional models' layers).
InputLayer.variables, InputLayer.weights = {}, {}
InputLayer.trainable_weights, InputLayer.non_trainable_weights = {}, {}
function InputLayer:count_params() return 0 end
function InputLayer:regularization_loss() return 0 end
function InputLayer:get_weights() return {} end
function InputLayer:set_weights(list)
  if type(list) ~= "table" or #list ~= 0 then
    E.raisef("%s: an InputLayer has no weights", self.name)
  end
end

function InputLayer:get_config()
  return {name = self.name, input_shape = registry.copy_list(self.input_shape), dtype = "float32"}
end

local function make_input_layer(args)
  if type(args) ~= "table" then E.raise("InputLayer: expects a table of keyword arguments") end
  local shape = args.input_shape or args.shape
  if shape == nil and args.batch_input_shape then
    shape = {}
    for i = 2, #args.batch_input_shape do shape[#shape + 1] = args.batch_input_shape[i] end
  end
  for k in pairs(args) do
    if k ~= "input_shape" and k ~= "shape" and k ~= "batch_input_shape" and k ~= "name"
        and k ~= "dtype" and k ~= "batch_size" and k ~= "sparse" and k ~= "ragged" then
      E.raise(string.format("InputLayer: unknown keyword argument '%s'", tostring(k)))
    end
  end
  if args.sparse or args.ragged then E.raise("InputLayer: sparse and ragged inputs are not supported") end
  if args.dtype ~= nil and args.dtype ~= "float32" then
    E.raise("InputLayer: dtype " .. tostring(args.dtype) .. " is not supported (float32 only)")
  end
  local s = layers.check_shape("InputLayer", shape)
  return setmetatable({input_shape = s, name = args.name or layers.unique_name("input"),
                       class_name = "InputLayer"}, InputLayer)
end

function layers.is_input_layer(v)
  return type(v) == "table" and getmetatable(v) == InputLayer
end

-- ---- lookup by class --------------------------------------------------------------------

local constructors = {InputLayer = make_input_layer}

--- The constructor of Keras class `class_name`, or nil.
function layers.constructor(class_name)
  local f = constructors[class_name]
  if class_name == "Lambda" then return require("lunet.custom_layers").Lambda end
  if f then return f end
  local unit = registry.find_class("layer", class_name)
  if not unit then return nil end
  f = require("lunet.custom_layers").builtin_class(class_name, unit,
    E.protect(function(args) return layers.create(unit, class_name, args) end))
  constructors[class_name] = f
  return f
end

--- A layer from Keras's (class_name, config) pair, e.g. from a model file;
-- config.name is kept as is. custom: {ClassName = class} (Lua classes).
function layers.from_config(class_name, config, custom)
  local f = custom and custom[class_name] or layers.constructor(class_name)
  if not f then E.raise(registry.unknown("layer", "layer class", class_name)) end
  return f(registry.copy(config or {}))
end

--- layers.deserialize{class_name = ..., config = {...}}
function layers.deserialize(t)
  return layers.from_config(t.class_name, t.config)
end

--- {class_name = ..., config = layer:get_config()}
function layers.serialize(layer)
  return {class_name = layer.class_name, config = layer:get_config()}
end

--- Layers written in Lua: ln.layers.Layer:extend{...}, ln.layers.Lambda(fn).
function Layer.extend(_, spec)
  local L = require "lunet.custom_layers"
  return L.extend(L.Root, spec)
end

--- The {name = constraint} of a layer's weights (nil when none).
function methods:_weight_constraints()
  return rawget(self, "_constraints")
end

--- Builds (for models: a Lua layer's build is its class's hook).
methods._build = function(self, shape) return methods.build(self, shape) end

--- Number of weight values, and of trainable ones.
function methods:_count_params()
  return self._c:count_params()
end

-- Every function a user reaches: errors point at the user's line.
E.protect_all(layers)
E.protect_all(methods)
E.protect_all(variable_methods)
Layer.__call = E.protect(Layer.__call)
constructors.InputLayer = E.protect(make_input_layer)

-- ln.layers.<Class>: a constructor; anything else is an unknown class.
setmetatable(layers, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    local f = layers.constructor(k)
    if f then return f end
    E.raise(registry.unknown("layer", "layer class", k))
  end,
})

return layers
