--- lunet.subclassed: Keras's subclassed models -- ln.Model:extend{...}, a
-- model whose forward pass is a Lua function, trained by fit/evaluate/
-- predict through the gradient tape (lunet.engine_tape).
--
--   local ResMLP = ln.Model:extend{
--     name = "ResMLP", defaults = {units = 30},
--     init = function(self, args)
--       self.hidden = ln.layers.Dense{self.units, activation = "relu"}
--       self.out = ln.layers.Dense{1}
--     end,
--     call = function(self, inputs, training)
--       return self.out(self.hidden(inputs))
--     end,
--   }
--   local model = ResMLP{units = 16, name = "res"}
--   model:compile{loss = "mse", optimizer = "adam"}
--   model:fit(x, y, {epochs = 5})
--
-- The class conventions are Layer:extend's (`name` the class name,
-- `defaults` read into self.<key>, `init` for anything else). Layers (and
-- models) assigned to fields -- or lists of them -- are tracked, in the
-- order of assignment: they are model.layers and their weights the model's.
-- The model is built by its first call (fit, evaluate, predict or model(x)).
-- Inputs are one tensor or a list of tensors (call gets them as given);
-- the output is one tensor or a list (outputs output_1, output_2, ...
-- trained as a functional model's). Like Keras, such a model cannot be saved whole
-- (its architecture is Lua code): save_weights/load_weights save and load
-- its weights.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local layers = require "lunet.layers"
local models = require "lunet.models"
require "lunet.engine" -- compile, fit, ... in models.methods

local nn = core.nn

-- compile's keyword check (lunet.engine's list).
local function engine_keys_check(opts)
  local engine = require "lunet.engine"
  engine.check_keys("compile", opts, engine.compile_keys)
end
local sformat = string.format
local M = {}

local Sub = {}        -- the metatable of every instance
M.Sub = Sub
models.Subclassed = Sub
local methods = setmetatable({}, {__index = models.methods})
M.methods = methods
local Root = {class_name = "Model", _defaults = {}}
M.Root = Root

--- Whether v is an instance of a subclassed model.
function M.is_subclassed(v)
  return type(v) == "table" and getmetatable(v) == Sub
end

-- ---- classes ------------------------------------------------------------------------------

local function class_mt(parent)
  return {__index = parent, __call = E.protect(function(cls, args) return M.new(cls, args) end),
          __tostring = function(cls) return sformat("<model class %s>", cls.class_name) end}
end

--- ln.Model:extend{name = "MyModel", defaults = {...}, init = ..., call = ...}
function M.extend(parent, spec)
  local cls = require("lunet.lua_class").subclass(parent, spec,
    "Model:extend needs {name = \"MyModel\", ...} (the class name)")
  if not cls.call and not parent.call then
    E.raisef("%s: a subclassed model needs call = function(self, inputs, training) ... end",
             spec.name)
  end
  return setmetatable(cls, class_mt(parent))
end
Root.extend = M.extend

-- ---- instances ---------------------------------------------------------------------------

local base_keys = {name = true, trainable = true}

function M.new(cls, args)
  local who = cls.class_name
  if args ~= nil and type(args) ~= "table" then
    E.raisef("%s: expects a table of keyword arguments, e.g. %s{...}", who, who)
  end
  args = args or {}
  if not cls.init then
    for k in pairs(args) do
      if not base_keys[k] and cls._defaults[k] == nil then
        E.raisef("%s: unknown keyword argument '%s' (the class's defaults: %s)", who,
                 tostring(k), require("lunet.lua_class").default_names(cls))
      end
    end
  end
  local name = args.name
  if name ~= nil and (type(name) ~= "string" or name == "") then
    E.raisef("%s: name must be a non-empty string", who)
  end
  local self = setmetatable({}, Sub)
  rawset(self, "_cls", cls)
  rawset(self, "_fields", {})
  rawset(self, "_name", name or layers.unique_name(registry.to_snake_case(who)))
  rawset(self, "_sub", true)
  rawset(self, "stop_training", false)
  for k, d in pairs(cls._defaults) do
    local v = args[k]
    if v == nil then v = d end
    rawset(self, k, type(v) == "table" and getmetatable(v) == nil and registry.copy(v) or v)
  end
  if cls.init then cls.init(self, args) end
  if args.trainable ~= nil then self.trainable = args.trainable end
  return self
end

-- ---- fields, properties --------------------------------------------------------------------

local function trackable(v)
  return layers.is_layer(v) or models.is_model(v)
end

-- The model's layers: those held by its fields -- directly or in a list
-- (filled before or after the assignment) -- fields in the order of their
-- first assignment, as Keras tracks attributes.
local function tracked_layers(self)
  local r, seen = {}, {}
  local function add(v)
    if trackable(v) and not seen[v] then
      seen[v] = true
      r[#r + 1] = v
    end
  end
  for _, k in ipairs(rawget(self, "_fields")) do
    local v = rawget(self, k)
    if type(v) == "table" and getmetatable(v) == nil then
      for _, e in ipairs(v) do add(e) end
    else
      add(v)
    end
  end
  return r
end

local sproperties = {
  input_shape = function(self) return rawget(self, "_in_shape") end,
  layers = tracked_layers,
  -- the layers' losses, then the last call's add_loss terms and the model's own
  losses = function(self)
    local r = models.properties.losses(self)
    for _, v in ipairs(rawget(self, "_call_losses") or {}) do r[#r + 1] = v end
    return r
  end,
  output_shape = function(self) return rawget(self, "_out_shape") end,
  class_name = function(self) return rawget(self, "_cls").class_name end,
}

local multi = {} -- the methods of a model whose call returns several outputs

Sub.__index = function(self, k)
  if rawget(self, "_nout") then
    local mm = multi[k]
    if mm ~= nil then return mm end
  end
  local m = rawget(methods, k)
  if m ~= nil then return m end
  local p = sproperties[k]
  if p then return p(self) end
  local v = rawget(self, "_cls")[k]
  if v ~= nil then return v end
  return models.Model.__index(self, k)
end

Sub.__newindex = function(self, k, v)
  if k == "layers" then E.raisef("%s: 'layers' is read-only (assign layers to fields)", self.name) end
  if sproperties[k] then E.raisef("%s: '%s' is read-only", self.name, tostring(k)) end
  if type(k) == "string" and (trackable(v) or type(v) == "table") and rawget(self, k) == nil then
    local fields = rawget(self, "_fields")
    fields[#fields + 1] = k
  end
  return models.Model.__newindex(self, k, v)
end

Sub.__tostring = function(self)
  return sformat("<%s name=%s, %d layers, built=%s>", self.class_name, self.name, #self.layers,
                 tostring(self:_is_built()))
end

-- ---- the call ----------------------------------------------------------------------------

-- The sample shape(s) of x: one shape, or a list of shapes.
local function shapes_of(x)
  local function one(t)
    local s = t:shape()
    table.remove(s, 1)
    return s
  end
  if registry.is_tensor(x) then return one(x) end
  local r = {}
  for i, t in ipairs(x) do r[i] = one(t) end
  return r
end

local function shape_text(s)
  return require("lunet.custom_layers").shape_key(s)
end

--- The class's call on x (training: a boolean), the model built by the first.
function methods:_run(x, training)
  rawset(self, "_call_losses", {})
  rawset(self, "_call_metrics", {})
  rawset(self, "_in_call", true)
  local ok, y = pcall(self._cls.call, self, x, training and true or false)
  rawset(self, "_in_call", nil)
  if not ok then error(y, 0) end
  local several = type(y) == "table" and getmetatable(y) == nil
  if several then
    if #y == 0 then
      E.raisef("%s (%s): call returned an empty list (give a tensor or a list of tensors)",
               self.name, self.class_name)
    end
    for i, t in ipairs(y) do
      if not registry.is_tensor(t) then
        E.raisef("%s (%s): call returned a list whose entry %d is %s, not a tensor",
                 self.name, self.class_name, i, type(t))
      end
    end
  elseif not registry.is_tensor(y) then
    E.raisef("%s (%s): call returned %s, not a tensor or a list of tensors", self.name,
             self.class_name, type(y))
  end
  local nout = several and #y or nil
  if not rawget(self, "_out_shape") then
    rawset(self, "_in_shape", shapes_of(x))
    rawset(self, "_out_shape", shapes_of(y))
    rawset(self, "_nout", nout)
  elseif rawget(self, "_nout") ~= nout then
    E.raisef("%s (%s): call returned %s, but the model was built with %s", self.name,
             self.class_name, nout and (#y .. " outputs") or "one tensor",
             rawget(self, "_nout") and (rawget(self, "_nout") .. " outputs") or "one output")
  end
  return y
end

Sub.__call = E.protect(function(self, x, opts)
  local functional = package.loaded["lunet.functional"]
  if functional and functional.is_symbolic_arg(x) then
    E.raisef("%s (%s): a subclassed model cannot be called on symbolic tensors (ln.Input); " ..
             "call it on tensors, or write it as a layer (ln.layers.Layer:extend)", self.name,
             self.class_name)
  end
  self:_check_input(x, self.name)
  return self:_run(x, type(opts) == "table" and opts.training)
end)

-- ---- what the engine asks ---------------------------------------------------------------------

--- n, x: x checked (a tensor or a list of tensors with as many rows each);
-- the model is built by a call on its first sample if it is not yet.
function methods:_check_input(x, what)
  local list = registry.is_tensor(x) and {x} or x
  if type(list) ~= "table" or getmetatable(list) ~= nil or #list == 0 then
    E.raisef("%s: x must be a tensor or a list of tensors, got %s", what, type(x))
  end
  local n
  for i, t in ipairs(list) do
    if not registry.is_tensor(t) then
      E.raisef("%s: input %d must be a tensor, got %s", what, i, type(t))
    end
    local s = t:shape()
    if #s == 0 then E.raisef("%s: input %d must have a batch axis, got a scalar", what, i) end
    local dtype = nn.tensor_info(t)
    if dtype ~= "float32" and dtype ~= "uint8" and dtype ~= "int32" then
      E.raisef("%s: input %d must be float32, uint8 or int32, got %s", what, i, dtype)
    end
    if n and s[1] ~= n then
      E.raisef("%s: the inputs have different numbers of samples: %d and %d (input %d)", what,
               n, s[1], i)
    end
    n = n or s[1]
  end
  local have = rawget(self, "_in_shape")
  if have and shape_text(have) ~= shape_text(shapes_of(x)) then
    E.raisef("%s: model %s was built for inputs of shape %s, got %s", what, self.name,
             shape_text(have), shape_text(shapes_of(x)))
  end
  if not have and n > 0 and not core.autograd.active() then
    -- built by a call on one sample (Keras builds subclassed models on first use)
    local one = registry.is_tensor(x) and x:narrow(1, 1, 1) or {}
    if not registry.is_tensor(x) then
      for i, t in ipairs(x) do one[i] = t:narrow(1, 1, 1) end
    end
    self:_run(one, false)
    for _, l in ipairs(self.layers) do rawset(l, "_losses", rawget(l, "_losses") and {} or nil) end
    M.compile_pending(self)
  end
  return n, x
end

function methods:_check_xy(what, x, y)
  local n = self:_check_input(x, what)
  if rawget(self, "_nout") then return multi._check_xy(self, what, x, y, n) end
  if not registry.is_tensor(y) then
    E.raisef("%s: y must be a tensor (a subclassed model has one output), got %s", what, type(y))
  end
  local s = y:shape()
  if #s == 0 or s[1] ~= n then
    E.raisef("%s: x and y have different numbers of samples: %d and %s", what, n,
             #s == 0 and "a scalar" or tostring(s[1]))
  end
  return n, x, y
end

function methods:_is_built() return rawget(self, "_out_shape") ~= nil end

-- ---- several outputs --------------------------------------------------------------------------
-- call returns a list: the outputs are named output_1, output_2, ... (as
-- Keras names a subclassed model's), and compile, fit, evaluate and
-- predict take per-output values as a functional model's
-- (lunet.functional_train's hooks, through the tape).

--- compile{...}: as any model's; before the model is built (its number of
-- outputs unknown) a per-output loss (a list or a table keyed by output
-- names) waits for the first call, as Keras's compile of a subclassed model.
function methods:compile(opts)
  rawset(self, "_compile_opts", nil)
  local F = require "lunet.functional"
  if not self:_is_built() and type(opts) == "table" and type(opts.loss) == "table" and
     getmetatable(opts.loss) == nil then
    engine_keys_check(opts)
    rawset(self, "_compile_opts", opts)
    rawset(self, "_optimizer", require("lunet.engine").get_optimizer(opts.optimizer))
    rawset(self, "_metrics_names", {})
    rawset(self, "_compiled", {pending = true})
    return
  end
  if rawget(self, "_nout") then return F.methods.compile(self, opts) end
  models.methods.compile(self, opts)
  rawset(self, "_compile_opts", opts) -- (compiled again if the first call gives several outputs)
end

--- After the first call: a compile that waited for the outputs, or a
-- one-output compile of a model that turned out to have several, is done
-- again for them.
function M.compile_pending(self)
  local opts = rawget(self, "_compile_opts")
  if not opts then return end
  local c = rawget(self, "_compiled")
  if c and (c.pending or rawget(self, "_nout")) then
    local opt = rawget(self, "_optimizer")
    if rawget(self, "_nout") then require("lunet.functional").methods.compile(self, opts)
    else models.methods.compile(self, opts) end
    rawset(self, "_optimizer", opt) -- (the one compile made: its state is kept)
  end
  rawset(self, "_compile_opts", nil)
end

function multi:_outputs_info()
  local names, shapes = {}, rawget(self, "_out_shape")
  for k = 1, #shapes do names[k] = "output_" .. k end
  return {names = names, layers = self.layers, shapes = shapes}
end

function multi:_check_xy(what, x, y, n)
  n = n or self:_check_input(x, what)
  return n, x, self:_check_targets(what, n, y)
end

--- self:add_loss(t) inside call: a term of this call added to fit's loss
-- (Keras's add_loss in a subclassed model's call); outside call, as for
-- any model (a tensor, a number or a function called at each step).
function methods:add_loss(v)
  if rawget(self, "_in_call") then
    if type(v) ~= "number" and not registry.is_tensor(v) then
      E.raisef("%s: add_loss expects a tensor or a number, got %s", self.name, type(v))
    end
    local list = rawget(self, "_call_losses")
    list[#list + 1] = v
    return
  end
  return models.methods.add_loss(self, v)
end

--- self:add_metric(t, name) inside call: a value averaged over the epoch's
-- batches, in fit's logs under `name`.
function methods:add_metric(v, name)
  if type(name) ~= "string" or name == "" then
    E.raisef("%s: add_metric needs a name: self:add_metric(value, \"name\")", self.name)
  end
  if type(v) ~= "number" and not registry.is_tensor(v) then
    E.raisef("%s: add_metric '%s' expects a tensor or a number, got %s", self.name, name, type(v))
  end
  if not rawget(self, "_in_call") then
    E.raisef("%s: add_metric is called inside call(self, inputs, training)", self.name)
  end
  rawget(self, "_call_metrics")[name] = v
end

function methods:build(shape)
  if type(shape) ~= "table" or #shape == 0 then
    E.raisef("%s: build expects an input shape without the batch axis, e.g. {784}", self.name)
  end
  local function zeros(s)
    local full = {1}
    for _, d in ipairs(s) do full[#full + 1] = d end
    return core.zeros(full)
  end
  local x
  if type(shape[1]) == "table" then
    x = {}
    for i, s in ipairs(shape) do x[i] = zeros(s) end
  else
    x = zeros(shape)
  end
  self:_check_input(x, self.name .. ":build")
end

function methods:_get_net()
  E.raisef("%s: a subclassed model runs through the gradient tape, not a C network", self.name)
end

function methods:forward(x, opts)
  return self(x, opts)
end

function methods:backward()
  E.raisef("%s: the low-level backward is not available for subclassed models; use fit, " ..
           "train_on_batch or a GradientTape", self.name)
end

function methods:add()
  E.raisef("%s: a subclassed model cannot add layers; assign them to fields in init", self.name)
end

function methods:pop()
  E.raisef("%s: a subclassed model cannot pop layers", self.name)
end

--- Keras's summary of a subclassed model: every output shape is
-- "multiple" (the layers' connections are Lua code).
function methods:summary(opts)
  if not self:_is_built() then
    E.raisef("This model has not yet been built. Build the model first by calling `build()` " ..
             "or by calling the model on a batch of data (model %s).", self.name)
  end
  opts = opts or {}
  local print_fn = opts.print_fn or print
  local width = opts.line_length or 65
  local pos = opts.positions or {0.45, 0.85, 1.0}
  local stops = {}
  for i, p in ipairs(pos) do stops[i] = p <= 1 and math.floor(width * p) or p end
  local row = models.summary_row
  print_fn(sformat('Model: "%s"', self.name))
  print_fn(string.rep("_", width))
  print_fn(row({"Layer (type)", "Output Shape", "Param #"}, stops))
  print_fn(string.rep("=", width))
  local total, trainable = 0, 0
  for i, l in ipairs(self.layers) do
    local count, tr = 0, 0
    for _, v in ipairs(l.variables) do
      local k = v.value:numel()
      count = count + k
      if v.trainable then tr = tr + k end
    end
    total, trainable = total + count, trainable + tr
    local cls = l.class_name or (rawget(l, "_graph") and "Functional" or "Sequential")
    print_fn(row({l.name .. " (" .. cls .. ")", "multiple", tostring(count)}, stops))
    print_fn(i == #self.layers and string.rep("=", width) or string.rep("_", width))
  end
  if #self.layers == 0 then print_fn(string.rep("=", width)) end
  print_fn("Total params: " .. models.thousands(total))
  print_fn("Trainable params: " .. models.thousands(trainable))
  print_fn("Non-trainable params: " .. models.thousands(total - trainable))
  print_fn(string.rep("_", width))
end

function methods:count_params()
  local n = 0
  for _, v in ipairs(self.variables) do n = n + v.value:numel() end
  return n
end

-- Keras's message, with lunet's way out.
local function not_serializable(self, what)
  E.raisef("%s: Saving the model to %s requires the model to be a Functional model or a " ..
           "Sequential model. It does not work for subclassed models (%s), because such " ..
           "models are defined via the body of a Lua function, which isn't safely " ..
           "serializable. Use model:save_weights(path) instead; to restore, make the model " ..
           "again, call it on data (or model:build(shape)) and model:load_weights(path).",
           what, what == "to_json" and "JSON" or "HDF5 format", self.class_name)
end

function methods:save() not_serializable(self, "save") end
function methods:to_json() not_serializable(self, "to_json") end

--- Keras's get_config of a subclassed model: the defaults' values (the
-- class may override it).
function methods:get_config()
  local cfg = {name = self.name}
  for k in pairs(self._cls._defaults) do cfg[k] = rawget(self, k) end
  return cfg
end

do
  local fm = require("lunet.functional").methods
  for _, k in ipairs({"_check_targets", "_targets_list", "_loss_output_names", "_new_outputs",
                      "_outputs_result", "_prepare_net"}) do
    multi[k] = fm[k]
  end
  multi.compile = methods.compile
end

E.protect_all(methods)
E.protect_all(multi)
Root.extend = E.protect(M.extend)
return M
