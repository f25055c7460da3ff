--- lunet.models: Keras's Sequential model -- structure, weights, summary,
-- and the low-level API (forward, backward, gradients) that training is
-- written on. compile/fit/evaluate/predict live in lunet.engine.
--
--   local model = ln.Sequential{                 -- or ln.models.Sequential
--     ln.layers.Flatten{input_shape = {28, 28}},
--     ln.layers.Dense{300, activation = "relu"},
--     ln.layers.Dense{10, activation = "softmax"},
--   }
--   model:add(layer); model:pop(); model.layers   -- a plain Lua list
--   model:summary(); model:count_params(); model:get_weights() ...
--   local y = model(x)                            -- inference, a new tensor
--   ln.models.clone_model(model)                  -- same config, new weights
--
-- A Sequential built from another model's layers shares those layer objects
-- (their weights), as Keras does: training one trains the other.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local layers = require "lunet.layers"

local nn = core.nn
local ag = core.autograd
local models = {}

-- ---- the Model class ------------------------------------------------------------

local Model = {}
models.Model = Model
local methods = {}
models.methods = methods -- lunet.engine adds compile/fit/... here

local function model_error(self, fmt, ...)
  E.raise(string.format("%s: " .. fmt, self.name, ...))
end

-- All variables of the model in Keras's order (layer by layer).
local function all_variables(self)
  local r = {}
  for _, l in ipairs(self.layers) do
    for _, v in ipairs(l.variables) do r[#r + 1] = v end
  end
  return r
end

local function filter(list, want)
  local r = {}
  for _, v in ipairs(list) do if v.trainable == want then r[#r + 1] = v end end
  return r
end

-- Fields kept under "_<name>" so that every assignment reaches __newindex.
local stored = {name = true, layers = true, optimizer = true, loss = true,
                compiled_loss = true, metrics_names = true, history = true}

local properties = {
  built = function(self) return self:_is_built() end,
  weights = all_variables,
  variables = all_variables,
  trainable_weights = function(self) return filter(all_variables(self), true) end,
  trainable_variables = function(self) return filter(all_variables(self), true) end,
  non_trainable_weights = function(self) return filter(all_variables(self), false) end,
  non_trainable_variables = function(self) return filter(all_variables(self), false) end,
  input_shape = function(self) return self._input_shape end,
  output_shape = function(self)
    local last = self.layers[#self.layers]
    return last and last.output_shape or nil
  end,
  trainable = function(self)
    for _, l in ipairs(self.layers) do if l.trainable then return true end end
    return #self.layers == 0
  end,
  losses = function(self) -- numbers; 0-d recorded tensors inside tape:run
    local r = {}
    for _, l in ipairs(self.layers) do
      for _, v in ipairs(l.losses or {}) do r[#r + 1] = v end -- (an ln.Input has none)
    end
    for _, v in ipairs(rawget(self, "_added_losses") or {}) do
      r[#r + 1] = type(v) == "function" and v() or v
    end
    return r
  end,
}
models.properties = properties

Model.__index = function(self, k)
  local m = methods[k]
  if m ~= nil then return m end
  if stored[k] then return rawget(self, "_" .. k) end
  local p = properties[k]
  if p then return p(self) end
  return nil
end

-- Assignments: name, trainable and optimizer are checked and applied; what
-- compile and fit set, and the properties, are refused (they would be
-- ignored); other fields are the user's own.
Model.__newindex = function(self, k, v)
  layers.check_assigned(self, "model", k, v)
  if k == "trainable" then
    -- Keras: model.trainable sets every layer's flag
    for _, l in ipairs(self.layers) do l.trainable = v end
  elseif k == "name" then
    rawset(self, "_name", v)
  elseif k == "optimizer" then
    if not rawget(self, "_compiled") then
      E.raisef("%s: compile the model first (model:compile{optimizer = ...})", self.name)
    end
    local optimizers = require "lunet.optimizers"
    if not optimizers.is_optimizer(v) then
      E.raisef("%s: optimizer must be an optimizer object (ln.optimizers.Adam{...}), got %s",
               self.name, type(v))
    end
    rawset(self, "_optimizer", v)
  elseif k == "layers" then
    E.raisef("%s: 'layers' is read-only; use model:add(layer) and model:pop()", self.name)
  elseif stored[k] then
    E.raisef("%s: '%s' is set by compile/fit; call model:compile{...} again to change it",
             self.name, k)
  elseif properties[k] then
    E.raisef("%s: '%s' is read-only", self.name, k)
  else
    rawset(self, k, v)
  end
end

Model.__tostring = function(self)
  return string.format("<Sequential name=%s, %d layers, built=%s>", self.name, #self.layers,
                       tostring(self:_is_built()))
end

--- model(x [, opts]): the model applied to x, a new tensor; inference mode
-- unless opts.training. Inside tape:run every layer call is recorded.
Model.__call = function(self, x, opts)
  -- on symbolic tensors: the Sequential used as a layer of a functional model
  local functional = package.loaded["lunet.functional"]
  if functional and functional.is_symbolic_arg(x) then
    local y = x
    for _, l in ipairs(self.layers) do y = l(y) end
    return y
  end
  local training = type(opts) == "table" and opts.training and true or false
  if ag.active() or models.has_lua_layers(self) then
    self:_check_input(x, self.name)
    for _, l in ipairs(self.layers) do x = l(x, opts) end
    return x
  end
  return nn.tensor_clone(self:forward(x, {training = training}))
end

-- ---- construction -------------------------------------------------------------------

--- Sequential{layer, ..., name = "..."} or Sequential(list) or Sequential().
local function new_sequential(arg, name)
  local self = setmetatable({}, Model)
  rawset(self, "_layers", {})
  rawset(self, "stop_training", false)
  if arg ~= nil and type(arg) ~= "table" then
    E.raise("Sequential: expects a list of layers (and optional name = ...)")
  end
  arg = arg or {}
  name = name or arg.name
  for k in pairs(arg) do
    if k ~= "name" and k ~= "layers" and math.type(k) ~= "integer" then
      E.raise(string.format("Sequential: unknown keyword argument '%s'", tostring(k)))
    end
  end
  if name ~= nil and (type(name) ~= "string" or name == "") then
    E.raise("Sequential: name must be a non-empty string")
  end
  rawset(self, "_name", name or layers.unique_name("sequential"))
  local list = arg.layers or arg
  for i = 1, #list do self:add(list[i]) end
  return self
end

--- Whether the model has a layer written in Lua (it then runs layer by
-- layer, and fit through a gradient tape).
function models.has_lua_layers(model)
  if rawget(model, "_sub") then return true end -- a subclassed model: its call is Lua
  local L = package.loaded["lunet.custom_layers"]
  for _, l in ipairs(model.layers) do
    -- a built-in layer with an activation, initializer or regularizer in Lua
    if rawget(l, "_lua_parts") then return true end
    if L and L.is_lua_layer(l) then return true end
  end
  return false
end

--- model:add_loss(t or function): a loss term added to the model's loss in
-- fit (Keras's model.add_loss; a function is called at each step, so it
-- can depend on the weights: function() return 1e-3 * model.layers[1].kernel.value:abs():sum() end).
function methods:add_loss(v)
  if type(v) ~= "function" and type(v) ~= "number" and not registry.is_tensor(v) then
    model_error(self, "add_loss expects a function, a tensor or a number, got %s", type(v))
  end
  local list = rawget(self, "_added_losses") or {}
  list[#list + 1] = v
  rawset(self, "_added_losses", list)
end

--- Whether v is a model.
function models.is_model(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return mt == Model or (mt ~= nil and (mt == models.Functional or mt == models.Subclassed))
end

-- Builds layers from index `from` on, starting from input shape `shape`
-- (the output of the layer before); returns the last output shape.
local function build_from(self, from, shape)
  for i = from, #self.layers do
    shape = self.layers[i]:_build(shape)
  end
  return shape
end

-- The output shape of layer i (built), or the model's input shape for i = 0.
local function shape_before(self, i)
  if i == 0 then return self._input_shape end
  return self.layers[i].output_shape
end

--- Adds a layer on top. A first layer with input_shape (or an InputLayer)
-- fixes the model's input shape and the model is built right away, as in
-- Keras; otherwise it is built on first use.
function methods:add(layer)
  if layers.is_input_layer(layer) then
    if #self.layers > 0 then
      model_error(self, "an InputLayer can only be the first layer")
    end
    rawset(self, "_input_shape", registry.copy_list(layer.input_shape))
    return
  end
  if models.is_model(layer) then
    model_error(self, "adding a model as a layer is not supported; add its layers (model.layers)")
  end
  if not layers.is_layer(layer) then
    model_error(self, "add expects a layer (ln.layers.<Class>{...}), got %s", type(layer))
  end
  for _, l in ipairs(self.layers) do
    if l == layer then model_error(self, "layer %s is already in the model", layer.name) end
  end
  local n = #self.layers
  if n == 0 and self._input_shape == nil then
    local s = rawget(layer, "_input_shape") or (rawget(layer, "_c") and layer._c:input_shape())
    if s then rawset(self, "_input_shape", registry.copy_list(s)) end
  end
  self.layers[n + 1] = layer
  if self._input_shape then
    local before = shape_before(self, n)
    if before then layer:_build(before) end
  end
end

--- Keras's get_layer: the layer named `name`, or at (1-based) index `i`
-- (negative counts from the end).
function methods:get_layer(key)
  local n = #self.layers
  if math.type(key) == "integer" then
    local i = key < 0 and n + 1 + key or key
    if i < 1 or i > n then
      model_error(self, "get_layer: index %d out of range (the model has %d layers)", key, n)
    end
    return self.layers[i]
  end
  for _, l in ipairs(self.layers) do
    if l.name == key then return l end
  end
  model_error(self, "No such layer: %s", tostring(key))
end

--- Removes the last layer (and returns it).
function methods:pop()
  local n = #self.layers
  if n == 0 then model_error(self, "There are no layers in the model.") end
  local l = table.remove(self.layers)
  return l
end

--- Whether every layer is built for the model's input shape.
function methods:_is_built()
  if #self.layers == 0 or self._input_shape == nil then return false end
  for _, l in ipairs(self.layers) do
    if not l.built then return false end
  end
  return true
end

--- Builds the model for inputs of shape `shape` (without the batch axis),
-- e.g. model:build{784}.
function methods:build(shape)
  if type(shape) ~= "table" or #shape == 0 then
    model_error(self, "build expects an input shape without the batch axis, e.g. {784}")
  end
  if #self.layers == 0 then model_error(self, "There are no layers in the model.") end
  if self._input_shape then
    local a, b = registry.shape_str(self._input_shape), registry.shape_str(shape)
    if a ~= b then model_error(self, "built for input shape %s, called with %s", a, b) end
  end
  rawset(self, "_input_shape", registry.copy_list(shape))
  build_from(self, 1, shape)
end

-- Builds the model from x if needed and checks x's sample shape against
-- the model's input shape (the message names the first layer, both shapes).
function methods:_check_input(x, what)
  if not registry.is_tensor(x) then
    E.raise(string.format("%s: %s must be a tensor, got %s", what, "x", type(x)))
  end
  local s = x:shape()
  if #s < 1 then E.raise(string.format("%s: x must have a batch axis, got a scalar", what)) end
  local sample = {}
  for i = 2, #s do sample[#sample + 1] = s[i] end
  if #self.layers == 0 then E.raise(string.format("%s: the model has no layers", what)) end
  if not self._input_shape then
    self:build(sample)
  elseif not self:_is_built() then
    build_from(self, 1, self._input_shape)
  end
  local want = self._input_shape
  local ok = #want == #sample
  for i = 1, #want do ok = ok and want[i] == sample[i] end
  if not ok then
    local first = self.layers[1]
    E.raise(string.format("%s: layer %s (%s) of model %s expects input shape %s, got x of shape %s",
                        what, first.name, first.class_name, self.name, registry.shape_str(want),
                        registry.full_shape_str(s)))
  end
  -- uint8 and int32 rows become float32 batch by batch (Rescaling{1/255} first)
  local dtype = nn.tensor_info(x)
  if dtype ~= "float32" and dtype ~= "uint8" and dtype ~= "int32" then
    E.raise(string.format("%s: x must be float32, uint8 or int32, got %s", what, dtype))
  end
  return s[1]
end

-- ---- the network (C) --------------------------------------------------------------

-- The C network for the current layer list, rebuilt when the list
-- changed; also returns the list's generation (incremented at each
-- rebuild), so compiled state can tell it must be set up again.
function methods:_get_net()
  local net, list = rawget(self, "_net"), rawget(self, "_net_layers")
  local same = net ~= nil and #list == #self.layers
  if same then
    for i = 1, #list do if list[i] ~= self.layers[i] then same = false; break end end
  end
  if same then return net, rawget(self, "_net_gen") end
  net = net or nn.net_new()
  local cs = {}
  for i, l in ipairs(self.layers) do cs[i] = l._c end
  net:set_layers(cs)
  local gen = (rawget(self, "_net_gen") or 0) + 1
  rawset(self, "_net", net)
  rawset(self, "_net_layers", registry.copy_list(self.layers))
  rawset(self, "_net_gen", gen)
  return net, gen
end

-- ---- low-level API -------------------------------------------------------------------

--- Runs every layer on x. opts.training (false): training mode (dropout on,
-- BN batch statistics and moving-average updates); opts.logits (false):
-- the last layer skips its output activation (use model:uses_logits(loss)
-- to know when the loss can take logits). Returns the model's own output
-- buffer, overwritten by the next forward.
function methods:forward(x, opts)
  opts = opts or {}
  self:_check_input(x, self.name .. ":forward")
  if models.has_lua_layers(self) then
    return require("lunet.engine_tape").forward(self, x, opts.training and true or false)
  end
  local net = self:_get_net()
  return net:forward(x, opts.training and true or false, opts.logits and true or false)
end

--- Backpropagates dy (the loss gradient with respect to the last forward's
-- output) and writes the gradients of trainable weights (variable.grad).
-- opts.need_dx: also return the gradient with respect to x.
function methods:backward(dy, opts)
  opts = opts or {}
  if rawget(self, "_lua_pass") then
    return require("lunet.engine_tape").backward(self, dy, opts.need_dx)
  end
  local net = rawget(self, "_net")
  if not net then model_error(self, "backward before forward") end
  return net:backward(dy, opts.need_dx and true or false)
end

--- Whether the fused logits path applies with `loss` (a loss object or
-- name): the last layer's output activation is the loss's logits
-- activation (softmax + cross-entropy, sigmoid + binary cross-entropy).
function methods:uses_logits(loss)
  local losses = require "lunet.losses"
  local lo = losses.get(loss)
  local last = self.layers[#self.layers]
  if not last or not lo._c then return false end
  local want = lo._c:logits_activation()
  local cfg = lo._c:config()
  return want ~= nil and not cfg.from_logits and last:output_activation() == want
end

--- The (gradient, variable) pairs of the trainable variables, in the form
-- optimizer:apply_gradients takes: {grad, value, name = "dense/kernel"}.
-- The list is cached while the layers and their trainable flags stay.
function methods:grads_and_vars()
  local sig = {}
  for i, l in ipairs(self.layers) do sig[i] = tostring(l) .. (l.trainable and "1" or "0") end
  sig = table.concat(sig, ";")
  local cached = rawget(self, "_gv")
  if cached and cached.sig == sig then return cached.pairs end
  local pairs_ = models.make_pairs(self.trainable_variables)
  rawset(self, "_gv", {sig = sig, pairs = pairs_})
  return pairs_
end

--- {grad, value, name = "layer/weight"} for each variable that has a grad.
function models.make_pairs(vars)
  local r = {}
  for _, v in ipairs(vars) do
    if v.grad then
      r[#r + 1] = {v.grad, v.value, name = v.layer.name .. "/" .. v.short_name, variable = v}
    end
  end
  return r
end

--- Keras's model.reset_states(): every stateful layer forgets its states.
function methods:reset_states()
  for _, l in ipairs(self.layers) do l:reset_states() end
end

--- Sum of the layers' regularization penalties (Keras's sum(model.losses)).
function methods:regularization_loss()
  local s = 0
  for _, l in ipairs(self.layers) do s = s + l:regularization_loss() end
  return s
end

-- ---- weights ---------------------------------------------------------------------------

local function require_built(self, what)
  if not self:_is_built() then
    E.raise(string.format("%s: This model has not yet been built. Build the model first by " ..
                        "calling `build()` or by calling the model on a batch of data " ..
                        "(needed by %s).", self.name, what))
  end
end

--- Copies of every weight, in Keras's order.
function methods:get_weights()
  local r = {}
  for _, v in ipairs(all_variables(self)) do r[#r + 1] = nn.tensor_clone(v.value) end
  return r
end

--- Sets every weight from a list in Keras's order (values copied in).
function methods:set_weights(list)
  local vars = all_variables(self)
  if type(list) ~= "table" or #list ~= #vars then
    E.raise(string.format("%s: set_weights got a list of %d weights, the model has %d",
                        self.name, type(list) == "table" and #list or 0, #vars))
  end
  layers.assign_all(self.name, vars, list)
end

--- Total number of weight values.
function methods:count_params()
  require_built(self, "count_params")
  local n = 0
  for _, l in ipairs(self.layers) do n = n + l:count_params() end
  return n
end

-- ---- summary ------------------------------------------------------------------------------

-- "1234567" -> "1,234,567"
local function thousands(n)
  local s = tostring(math.tointeger(n) or n)
  local r = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (r:gsub("^,", ""))
end
models.thousands = thousands

-- Keras's print_row: each field cut/padded to its stop, the character
-- before the next field forced to a space.
local function row(fields, positions)
  local line = ""
  for i, f in ipairs(fields) do
    if i > 1 then line = line:sub(1, -2) .. " " end
    line = line .. tostring(f)
    line = line:sub(1, positions[i])
    line = line .. string.rep(" ", positions[i] - #line)
  end
  return line
end
models.summary_row = row

--- Prints the Keras summary. opts.print_fn (print) receives each line;
-- opts.line_length (65) and opts.positions ({.45, .85, 1}) as in Keras.
function methods:summary(opts)
  opts = opts or {}
  require_built(self, "summary")
  local print_fn = opts.print_fn or print
  local width = opts.line_length or 65
  local pos = opts.positions or {0.45, 0.85, 1.0}
  local stops = {}
  for i, p in ipairs(pos) do
    stops[i] = p <= 1 and math.floor(width * p) or p
  end
  print_fn(string.format('Model: "%s"', self.name))
  print_fn(string.rep("_", width))
  print_fn(row({"Layer (type)", "Output Shape", "Param #"}, stops))
  print_fn(string.rep("=", width))
  local total, trainable = 0, 0
  for i, l in ipairs(self.layers) do
    local count, tr = l:_count_params()
    total, trainable = total + count, trainable + tr
    print_fn(row({l.name .. " (" .. l.class_name .. ")", registry.shape_str(l.output_shape),
                  tostring(count)}, stops))
    print_fn(i == #self.layers and string.rep("=", width) or string.rep("_", width))
  end
  if #self.layers == 0 then print_fn(string.rep("=", width)) end
  print_fn("Total params: " .. thousands(total))
  print_fn("Trainable params: " .. thousands(trainable))
  print_fn("Non-trainable params: " .. thousands(total - trainable))
  print_fn(string.rep("_", width))
end

--- The summary as one string (lines joined with "\n").
function methods:summary_string(opts)
  local lines = {}
  local o = registry.copy(opts or {})
  o.print_fn = function(s) lines[#lines + 1] = s end
  self:summary(o)
  return table.concat(lines, "\n")
end

-- ---- configs ------------------------------------------------------------------------------

--- Keras's Sequential get_config: {name = ..., layers = {{class_name = ...,
-- config = {...}}, ...}}. The first layer's config carries the model's
-- input shape (without the batch axis) as input_shape.
function methods:get_config()
  local list = {}
  for i, l in ipairs(self.layers) do
    local s = layers.serialize(l)
    if i == 1 and self._input_shape then s.config.input_shape = registry.copy_list(self._input_shape) end
    list[i] = s
  end
  return {name = self.name, layers = list}
end

--- A Sequential from a config (as get_config gives, or as read from a
-- Keras file: an InputLayer entry sets the input shape).
function models.Sequential_from_config(config)
  if type(config) ~= "table" then E.raise("Sequential.from_config: expects a table") end
  local model = models.Sequential({}, config.name)
  for _, e in ipairs(config.layers or config) do
    if e.class_name == "InputLayer" then
      model:add(layers.InputLayer(registry.copy(e.config or {})))
    else
      model:add(layers.from_config(e.class_name, e.config))
    end
  end
  return model
end

--- Keras's clone_model: new layers with the same configs (and names),
-- fresh weights drawn from the initializers; the clone is built when the
-- original is. Copy the weights with clone:set_weights(model:get_weights()).
-- A layer like l (its class and config, new weights).
local function clone_layer(l)
  local cfg = l:get_config()
  cfg.input_shape = nil
  local cls = rawget(l, "_cls")
  if rawget(l, "_fn") then cfg[1] = l._fn end -- a Lambda's function
  return cls and cls(cfg) or layers.from_config(l.class_name, cfg)
end

function models.clone_model(model)
  if not models.is_model(model) then E.raise("clone_model: expects a model") end
  if rawget(model, "_sub") then
    E.raisef("clone_model: Expected `model` to be a Functional or Sequential model, got a " ..
             "subclassed model (%s); make a new instance of its class instead", model.class_name)
  end
  if rawget(model, "_graph") then
    -- a functional model: the same graph of new layers (shared layers stay shared)
    local by_name = {}
    for _, l in ipairs(model.layers) do by_name[l.name] = l end
    return require("lunet.functional").from_config(model:get_config(), function(_, _, name)
      return clone_layer(by_name[name])
    end)
  end
  local clone = models.Sequential({}, model.name)
  if model._input_shape then rawset(clone, "_input_shape", registry.copy_list(model._input_shape)) end
  for _, l in ipairs(model.layers) do clone:add(clone_layer(l)) end
  return clone
end

-- ---- model files (the model-files module) ----------------------------------------------

-- Model files are written by the module lunet.saving (the model-files
-- issue); these entry points forward to it and fail clearly without it.
local function saving(what)
  local ok, mod = pcall(require, "lunet.saving")
  if not ok or type(mod) ~= "table" or type(mod[what]) ~= "function" then
    E.raise(string.format("%s: model files are not available in this build " ..
                        "(module lunet.saving with %s() is missing)", what, what))
  end
  return mod[what]
end

function methods:save(path, opts) return saving("save_model")(self, path, opts) end
function methods:save_weights(path, opts) return saving("save_weights")(self, path, opts) end
function methods:load_weights(path, opts) return saving("load_weights")(self, path, opts) end
function methods:to_json(opts) return saving("to_json")(self, opts) end
function models.load_model(path, opts) return saving("load_model")(path, opts) end
function models.model_from_json(s, opts) return saving("model_from_json")(s, opts) end
function models.save_model(model, path, opts) return saving("save_model")(model, path, opts) end

-- Every function a user reaches: errors point at the user's line (the
-- methods once lunet.engine has added its own).
Model.__call = E.protect(Model.__call)
E.protect_all(models)

-- ln.models.Sequential(...) and Sequential.from_config
models.Sequential = setmetatable({from_config = models.Sequential_from_config}, {
  __call = E.protect(function(_, ...) return new_sequential(...) end),
})

-- compile/fit/evaluate/predict are added to the methods by lunet.engine,
-- which needs this module: publish it first.
package.loaded["lunet.models"] = models
require "lunet.engine"

return models
