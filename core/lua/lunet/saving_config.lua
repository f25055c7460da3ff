--- lunet.saving_config: model configs in Keras 2's JSON form, both ways
-- (used by lunet.saving; see docs/model-files.md).
--
-- Writing follows tf.keras 2.4: a Sequential's config starts with an
-- InputLayer entry, layer configs list name, trainable, dtype and every
-- keyword the unit read (nulls included), initializers and regularizers
-- as {class_name, config} dicts.
--
-- Reading takes what Keras 2.0 to 2.6 wrote: the old list-form Sequential
-- config, the dict form with or without an InputLayer (batch_input_shape
-- on the first layer), functional models ("Model"/"Functional") that are a
-- straight chain, VarianceScaling dicts, regularizer dicts, dtype policies.
-- Nothing in a config is ever executed: class names only select
-- registered plugin units.
local E = require "lunet.errors"
local h5 = require "lunet.h5"
local registry = require "lunet.registry"

local null = h5.json_null
local sformat = string.format

local M = {}

M.KERAS_VERSION = "2.4.0" -- what Keras-side loaders see
M.BACKEND = "tensorflow"

-- ---- ordered JSON objects ----------------------------------------------------------

local function ordered(t, keys)
  return setmetatable(t, {__jsonorder = keys})
end
M.ordered = ordered

local function array(t)
  return h5.json_array(t or {})
end
M.array = array

local function is_null(v) return v == nil or v == null end
M.is_null = is_null

-- Keras's key order for the common classes (other keys follow sorted).
-- Conv1D and the transposed convolutions share Conv2D's, AveragePooling2D
-- and the 1-D poolings MaxPooling2D's (below).
local key_order = {
  layer = {"name", "trainable", "batch_input_shape", "dtype"},
  Dense = {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
           "kernel_regularizer", "bias_regularizer", "activity_regularizer",
           "kernel_constraint", "bias_constraint"},
  BatchNormalization = {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                        "gamma_initializer", "moving_mean_initializer",
                        "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                        "beta_constraint", "gamma_constraint"},
  Dropout = {"rate", "noise_shape", "seed"},
  Conv2D = {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
            "groups", "activation", "use_bias", "kernel_initializer", "bias_initializer",
            "kernel_regularizer", "bias_regularizer", "activity_regularizer",
            "kernel_constraint", "bias_constraint"},
  MaxPooling2D = {"pool_size", "padding", "strides", "data_format"},
  VarianceScaling = {"scale", "mode", "distribution", "seed"},
  RandomNormal = {"mean", "stddev", "seed"},
  TruncatedNormal = {"mean", "stddev", "seed"},
  RandomUniform = {"minval", "maxval", "seed"},
  InputLayer = {"batch_input_shape", "dtype", "sparse", "ragged", "name"},
}

for _, c in ipairs({"Conv1D", "Conv1DTranspose", "Conv2DTranspose"}) do key_order[c] = key_order.Conv2D end
for _, c in ipairs({"MaxPooling1D", "AveragePooling1D", "AveragePooling2D"}) do
  key_order[c] = key_order.MaxPooling2D
end

-- Keys whose values Keras writes as floats (2 -> 2.0), so files look as
-- Python wrote them; everything else keeps its Lua number type.
local float_keys = {
  rate = true, alpha = true, momentum = true, epsilon = true, theta = true, stddev = true,
  mean = true, scale = true, minval = true, maxval = true, value = true, gain = true,
  l1 = true, l2 = true, max_value = true, negative_slope = true, threshold = true,
  label_smoothing = true, delta = true, dropout = true, recurrent_dropout = true,
}

local function floatify(key, v)
  if float_keys[key] and math.type(v) == "integer" then return v + 0.0 end
  return v
end
M.floatify = floatify

-- ---- lunet -> Keras ------------------------------------------------------------------

-- A unit reference as lunet records it ({name = "he_normal", seed = null}
-- or a plain name) -> name, the other keys.
local function split_ref(v)
  if type(v) == "string" then return v, {} end
  local rest = {}
  for k, x in pairs(v) do if k ~= "name" then rest[k] = x end end
  return v.name, rest
end

local function has_keys(t) return next(t) ~= nil end

-- {class_name, config} of an initializer reference.
local function keras_initializer(v)
  local name, rest = split_ref(v)
  local cls = registry.class_of("initializer", name) or name
  local cfg = {}
  for k, x in pairs(rest) do cfg[k] = floatify(k, x) end
  return ordered({class_name = cls, config = ordered(cfg, key_order[cls] or {})},
                 {"class_name", "config"})
end

-- Keras's regularizer dict of a lunet regularizer value.
local function keras_regularizer(v)
  if is_null(v) then return null end
  local l1, l2 = 0.0, 0.0
  if type(v) == "number" then l2 = v
  elseif v == "l2" then l2 = 0.01
  elseif v == "l1" then l1 = 0.01
  elseif v == "l1_l2" then l1, l2 = 0.01, 0.01
  elseif type(v) == "table" then l1, l2 = v.l1 or 0.0, v.l2 or 0.0
  end
  local cls, cfg
  if l1 ~= 0 and l2 ~= 0 then cls, cfg = "L1L2", ordered({l1 = l1 + 0.0, l2 = l2 + 0.0}, {"l1", "l2"})
  elseif l1 ~= 0 then cls, cfg = "L1", {l1 = l1 + 0.0}
  else cls, cfg = "L2", {l2 = l2 + 0.0} end
  return ordered({class_name = cls, config = cfg}, {"class_name", "config"})
end

-- The Keras form of an activation reference: its name, or a layer-class
-- dict when it has arguments (tf.keras accepts advanced activations so).
local function keras_activation(v)
  local name, rest = split_ref(v)
  local extra = {}
  for k, x in pairs(rest) do if not is_null(x) then extra[k] = floatify(k, x) end end
  if not has_keys(extra) then return name end
  local cls = registry.class_of("layer", name) or name
  return ordered({class_name = cls, config = extra}, {"class_name", "config"})
end

-- An object of a class written in Lua (a constraint, a regularizer, ...).
local function is_lua_unit(v)
  return type(v) == "table" and rawget(v, "_cls") ~= nil
end

-- {class_name, config} of a constraint or of an object of a Lua class;
-- a Lua function by its name.
local function keras_unit(v)
  local d = require("lunet.constraints").serialize(v)
  local cfg = {}
  for k, x in pairs(d.config) do cfg[k] = floatify(k, x) end
  return ordered({class_name = d.class_name, config = cfg}, {"class_name", "config"})
end

local keras_value

-- A wrapped layer (Bidirectional's `layer`), recorded as a unit reference
-- {name = "lstm", units = ...} -> Keras's {class_name, config}.
local function keras_wrapped(v)
  local cfg = {name = v.name, trainable = true, dtype = "float32"}
  for k, x in pairs(v) do if k ~= "name" then cfg[k] = keras_value(k, x) end end
  return ordered({class_name = registry.class_of("layer", v.name) or v.name, config = cfg},
                 {"class_name", "config"})
end

-- A lunet config value -> its Keras JSON form, by key.
function keras_value(key, v)
  if is_null(v) then return null end
  if v == false and (key:match("_constraint$") or key:match("_regularizer$")) then return null end
  if type(v) == "function" then -- saved by name (Keras: by __name__)
    local name = require("lunet.custom").function_name(v)
    if not name then E.raisef("save: %s is a Lua function without a name", key) end
    return name
  end
  if key == "layer" and type(v) == "table" and type(v.name) == "string" and not is_lua_unit(v) then
    return keras_wrapped(v)
  end
  if key:match("_constraint$") or is_lua_unit(v) then return keras_unit(v) end
  if key == "activation" or key == "recurrent_activation" then return keras_activation(v) end
  if key:match("_initializer$") then return keras_initializer(v) end
  if key:match("_regularizer$") then return keras_regularizer(v) end
  if type(v) == "table" then
    local r = {}
    for k, x in pairs(v) do r[k] = keras_value(tostring(k), x) end
    return setmetatable(r, getmetatable(v))
  end
  return floatify(key, v)
end

--- The Keras {class_name, config} of a layer. input_shape (without the
-- batch axis) adds batch_input_shape, as Keras writes on a first layer.
function M.keras_layer(layer, input_shape)
  local cfg = {}
  local lua = rawget(layer, "_cls") ~= nil
  local src = lua and layer:get_config() or h5.files.layer_config(layer._c)
  for k, c in pairs(rawget(layer, "_constraints") or {}) do src[k] = c end
  for k, p in pairs(rawget(layer, "_lua_parts") or {}) do src[k] = p end
  for k, v in pairs(src) do cfg[k] = keras_value(k, v) end
  cfg.input_shape = nil
  cfg.name = layer.name
  cfg.trainable = layer.trainable and true or false
  cfg.dtype = "float32"
  if input_shape then
    local b = {null}
    for i = 1, #input_shape do b[i + 1] = input_shape[i] end
    cfg.batch_input_shape = array(b)
  end
  local order = {}
  for _, k in ipairs(key_order.layer) do order[#order + 1] = k end
  for _, k in ipairs(key_order[layer.class_name] or {}) do order[#order + 1] = k end
  -- a Lua class is marked as Keras >= 2.13 marks custom objects
  -- (registered_name), so that loading tells it from a built-in class of
  -- the same name (M.custom_for_entry)
  return ordered({class_name = layer.class_name, config = ordered(cfg, order),
                  registered_name = lua and layer.class_name or nil},
                 {"class_name", "config", "registered_name"})
end

--- Whether the layer entries of a model config mark their custom classes
-- (a registered_name key on some entry: lunet's files with a Lua layer,
-- Keras >= 2.13's files).
function M.marks_custom(entries)
  for _, e in ipairs(type(entries) == "table" and entries or {}) do
    if type(e) == "table" and e.registered_name ~= nil then return true end
  end
  return false
end

--- custom_objects as seen by one layer entry: when the config marks its
-- custom classes (marked) and this entry is not marked, a class of
-- custom_objects named like a built-in layer is not this entry's (a Lua
-- class "Dense" and built-in Dense layers in one file); else custom.
function M.custom_for_entry(custom, entry, marked)
  if not custom or not marked or type(entry) ~= "table" then return custom end
  local cls = entry.class_name
  if custom[cls] == nil or type(entry.registered_name) == "string" then return custom end
  if not require("lunet.layers").constructor(cls) then return custom end
  local r = {}
  for k, v in pairs(custom) do r[k] = v end
  r[cls] = nil
  return r
end

-- Keras's functional config (tf.keras >= 2.4 calls the class
-- "Functional"): layers with name and inbound_nodes, input_layers,
-- output_layers.
local function keras_functional(model)
  local F = require "lunet.functional"
  local layers = require "lunet.layers"
  local list = array()
  local keys = {"class_name", "config", "name", "inbound_nodes", "registered_name"}
  for i, l in ipairs(model.layers) do
    local e
    if layers.is_input_layer(l) then
      e = {class_name = "InputLayer", config = ordered({
        batch_input_shape = array({null, table.unpack(l.input_shape)}), dtype = "float32",
        sparse = false, ragged = false, name = l.name}, key_order.InputLayer)}
      e.inbound_nodes = array()
    else
      e = M.keras_layer(l)
      local nodes = array()
      for j, node in ipairs(F.inbound_refs(model, l)) do
        local refs = array()
        for k, r in ipairs(node) do refs[k] = array({r[1], r[2], r[3], ordered({}, {})}) end
        nodes[j] = refs
      end
      e.inbound_nodes = nodes
    end
    e.name = l.name
    list[i] = ordered(e, keys)
  end
  local ins, outs = F.io_refs(model)
  for k, r in ipairs(ins) do ins[k] = array(r) end
  for k, r in ipairs(outs) do outs[k] = array(r) end
  return ordered({class_name = "Functional", config = ordered({
    name = model.name, layers = list, input_layers = array(ins), output_layers = array(outs)},
    {"name", "layers", "input_layers", "output_layers"})}, {"class_name", "config"})
end

--- Keras's config of a model: a functional model's, or Sequential's
-- {class_name = "Sequential", config = {name, layers = [InputLayer, ...]}}.
function M.keras_model(model)
  if rawget(model, "_graph") then return keras_functional(model) end
  local list = array()
  local shape = rawget(model, "_input_shape")
  if shape and #model.layers > 0 then
    local b = {null}
    for i = 1, #shape do b[i + 1] = shape[i] end
    list[1] = ordered({class_name = "InputLayer", config = ordered({
      batch_input_shape = array(b), dtype = "float32", sparse = false, ragged = false,
      name = model.layers[1].name .. "_input"}, key_order.InputLayer)}, {"class_name", "config"})
  end
  for i, l in ipairs(model.layers) do
    list[#list + 1] = M.keras_layer(l, i == 1 and shape or nil)
  end
  return ordered({class_name = "Sequential", config = ordered({name = model.name, layers = list},
                                                              {"name", "layers"})},
                 {"class_name", "config"})
end

-- ---- Keras -> lunet ---------------------------------------------------------------------

-- A config error: "<where>: <message>".
local function fail(where, fmt, ...)
  E.raise(sformat("%s: " .. fmt, where, ...))
end
M.fail = fail

-- The unit of `kind` for a Keras class name (or a unit name), or nil.
local function unit_of_class(kind, cls)
  if type(cls) ~= "string" then return nil end
  return registry.find_class(kind, cls) or (registry.has(kind, cls) and cls)
    or (registry.has(kind, registry.to_snake_case(cls)) and registry.to_snake_case(cls)) or nil
end
M.unit_of_class = unit_of_class

-- A Keras {class_name, config} dict -> its class name and config table.
local function dict(v)
  if type(v) == "table" and type(v.class_name) == "string" then
    return v.class_name, type(v.config) == "table" and v.config or {}
  end
  return nil
end
M.dict = dict

-- Config values with JSON nulls removed (the unit's defaults apply).
local function drop_nulls(t)
  local r = {}
  for k, v in pairs(t) do if v ~= null then r[k] = v end end
  return r
end
M.drop_nulls = drop_nulls

-- A plain config value (not a unit reference): objects lose their null
-- entries (the defaults apply), lists may not hold nulls.
local function plain_value(v, where, key, depth)
  if type(v) ~= "table" then return v end
  if depth > 16 then fail(where, "%s: nested too deep", key) end
  local r, n = {}, #v
  for k, x in pairs(v) do
    if x == null then
      if math.type(k) == "integer" and k >= 1 and k <= n then
        fail(where, "%s: a list holding null is not a valid value", key)
      end
    else
      r[k] = plain_value(x, where, key, depth + 1)
    end
  end
  return r
end

local function lunet_initializer(v, where, key)
  local cls, cfg = dict(v)
  if not cls then return plain_value(v, where, key, 0) end
  local unit = unit_of_class("initializer", cls)
  if not unit then
    fail(where, "%s: unknown initializer class '%s' (known: %s)", key, cls,
         registry.known("initializer", "class_name"))
  end
  local r = plain_value(cfg, where, key, 0)
  r.name = unit
  return r
end

local function lunet_regularizer(v, where, key)
  local cls, cfg = dict(v)
  if not cls then return plain_value(v, where, key, 0) end
  if cls ~= "L1L2" and cls ~= "L1" and cls ~= "L2" then
    fail(where, "%s: unknown regularizer class '%s' (lunet has L1, L2, L1L2)", key, cls)
  end
  local l1, l2 = cfg.l1, cfg.l2
  return {l1 = type(l1) == "number" and l1 or 0, l2 = type(l2) == "number" and l2 or 0}
end

local function lunet_activation(v, where)
  local cls, cfg = dict(v)
  if not cls then return plain_value(v, where, "activation", 0) end
  -- a layer class (LeakyReLU) names the activation unit of its layer unit
  local unit = unit_of_class("layer", cls)
  if not (unit and registry.has("activation", unit)) then unit = unit_of_class("activation", cls) end
  if not unit then
    fail(where, "activation: unknown activation class '%s' (known: %s)", cls,
         registry.known("activation"))
  end
  local r = plain_value(cfg, where, "activation", 0)
  r.name = unit
  return r
end

-- A Keras batch_input_shape [null, d1, ...] -> {d1, ...}.
local function input_shape_of(b, where)
  if type(b) ~= "table" or #b < 2 then
    fail(where, "batch_input_shape must list at least the batch axis and one size")
  end
  local s = {}
  for i = 2, #b do
    if math.type(b[i]) ~= "integer" or b[i] < 1 then
      fail(where, "batch_input_shape %s has an unknown or bad size at position %d " ..
           "(lunet needs fixed input sizes)", h5.json_encode(b), i)
    end
    s[#s + 1] = b[i]
  end
  return s
end
M.input_shape_of = input_shape_of

--- A Keras layer config -> the keyword table for ln.layers.<class>.
function M.lunet_layer_args(cls, cfg, where, custom)
  local args = {}
  for k, v in pairs(cfg) do
    if type(k) ~= "string" then
      fail(where, "the layer config is not a JSON object of keywords")
    elseif v == null then -- absent: the unit's default (Keras's None)
    elseif custom and type(v) == "string" and custom[v] ~= nil then
      args[k] = custom[v] -- a Lua function or object by its name
    elseif custom and dict(v) and custom[v.class_name] ~= nil then
      local ok, o = pcall(custom[v.class_name], drop_nulls(v.config or {}))
      if not ok then fail(where, "%s: %s", k, E.message(o)) end
      args[k] = o -- an object of a Lua class (a regularizer, ...)
    elseif k:match("_constraint$") then
      local ok, c = pcall(require("lunet.constraints").get, v, custom)
      if not ok then fail(where, "%s: %s", k, E.message(c)) end
      args[k] = c
    elseif k == "function" and cls == "Lambda" then
      args[1] = require("lunet.custom").need(custom, v, "Lambda function", where)
    elseif k == "activation" or k == "recurrent_activation" then
      args[k] = lunet_activation(v, where)
    elseif k == "layer" and dict(v) then -- a wrapped layer (Bidirectional)
      local wcls, wcfg = dict(v)
      local unit = unit_of_class("layer", wcls)
      if not unit then fail(where, "layer: unknown layer class '%s'", tostring(wcls)) end
      local r = M.lunet_layer_args(wcls, wcfg, where, custom)
      r.trainable, r.input_shape = nil, nil
      r.name = unit
      args[k] = r
    elseif type(k) == "string" and k:match("_initializer$") then args[k] = lunet_initializer(v, where, k)
    elseif type(k) == "string" and k:match("_regularizer$") then args[k] = lunet_regularizer(v, where, k)
    elseif k == "dtype" then
      local pc, pcfg = dict(v)
      local name = pc and pcfg.name or v
      if name ~= "float32" then
        fail(where, "dtype %s is not supported (lunet computes in float32)", tostring(name))
      end
    elseif k == "batch_input_shape" then args.input_shape = input_shape_of(v, where)
    elseif k == "batch_size" then -- a property of the input, not of the layer
    else args[k] = plain_value(v, where, k, 0) end
  end
  return args
end

-- The layer entries of a functional config that is a straight chain, in
-- order from the input (the InputLayer entry included).
local function functional_chain(config, where)
  local entries, by_name = config.layers or {}, {}
  for _, e in ipairs(entries) do
    local nm = e.name or (e.config and e.config.name)
    by_name[nm] = e
  end
  local function ref(node, what)
    -- Keras 2: [[["dense", 0, 0, {}], ...]]
    if type(node) ~= "table" or type(node[1]) ~= "string" then
      fail(where, "%s: unreadable inbound node", what)
    end
    return node[1]
  end
  local inputs, outputs = config.input_layers or {}, config.output_layers or {}
  if type(inputs[1]) == "string" then inputs = {inputs} end
  if type(outputs[1]) == "string" then outputs = {outputs} end
  if #inputs ~= 1 or #outputs ~= 1 then
    fail(where, "the functional model has %d inputs and %d outputs; lunet reads models " ..
         "with one input and one output", #inputs, #outputs)
  end
  local next_of = {}
  for _, e in ipairs(entries) do
    local nm = e.name or (e.config and e.config.name)
    local nodes = e.inbound_nodes or {}
    if e.class_name ~= "InputLayer" then
      if #nodes ~= 1 or type(nodes[1]) ~= "table" or #nodes[1] ~= 1 then
        fail(where, "the functional model is not a straight chain: layer '%s' has %s " ..
             "(lunet reads Sequential models and straight chains)", tostring(nm),
             #nodes ~= 1 and sformat("%d call sites", #nodes) or sformat("%d inputs", #nodes[1]))
      end
      local from = ref(nodes[1][1], nm)
      if next_of[from] then
        fail(where, "the functional model is not a straight chain: layer '%s' feeds both " ..
             "'%s' and '%s'", from, next_of[from], tostring(nm))
      end
      next_of[from] = nm
    end
  end
  local chain, at = {}, ref(inputs[1], "input_layers")
  local seen = {}
  while at do
    local e = by_name[at]
    if not e or seen[at] then fail(where, "the functional model's layer graph is broken at '%s'", at) end
    seen[at] = true
    chain[#chain + 1] = e
    if at == ref(outputs[1], "output_layers") then break end
    at = next_of[at]
  end
  if #chain ~= #entries then
    fail(where, "the functional model is not a straight chain from its input to its output")
  end
  return chain
end

--- Whether mc is a functional config that is not a straight chain (read
-- as a functional model; chains are read as Sequential models).
function M.is_graph_config(mc)
  if type(mc) ~= "table" or (mc.class_name ~= "Model" and mc.class_name ~= "Functional")
      or type(mc.config) ~= "table" then
    return false
  end
  return not pcall(functional_chain, mc.config, "")
end

--- The layer entries {class_name, config} of a Keras model config, its
-- name and the class it had ("Sequential", "Functional", ...).
function M.model_entries(mc, where)
  if type(mc) ~= "table" or type(mc.class_name) ~= "string" then
    fail(where, "model_config is not a Keras model config (no class_name)")
  end
  local cls, config = mc.class_name, mc.config
  if type(config) ~= "table" then fail(where, "model_config has no config") end
  if cls == "Sequential" then
    local list = config.layers or config
    if config.layers == nil and #config == 0 and next(config) ~= nil then
      fail(where, "the Sequential config has no layers")
    end
    return list, config.name ~= null and config.name or nil, cls
  elseif cls == "Model" or cls == "Functional" then
    return functional_chain(config, where), config.name ~= null and config.name or nil, cls
  end
  fail(where, "model class '%s' cannot be read (lunet reads Sequential, Model and " ..
       "Functional configs)", cls)
end

-- ---- units a model uses -------------------------------------------------------------------

-- The optimizer's Keras class name.
local function optimizer_class(opt)
  local cls = opt.class_name
  if type(cls) == "string" then return cls end
  local unit = rawget(opt, "unit") or opt.unit
  if type(unit) == "string" then return registry.class_of("optimizer", unit) end
  return nil
end

--- "kind/name@version" of every plugin unit a model's file refers to.
function M.units_of(model)
  local seen, list = {}, {}
  local function add(kind, name)
    if type(name) ~= "string" then return end
    local key = kind .. "/" .. name
    if seen[key] then return end
    local u = registry.unit(kind, name)
    if u then
      seen[key] = true
      list[#list + 1] = sformat("%s@%d", key, u.version)
    end
  end
  local function refs(cfg)
    for k, v in pairs(cfg) do
      if type(k) == "string" and type(v) == "table" and type(v.name) == "string" then
        if k == "activation" then add("activation", v.name)
        elseif k:match("_initializer$") then add("initializer", v.name) end
      end
    end
  end
  for _, l in ipairs(model.layers) do
    -- (a functional model's InputLayers are no units)
    if rawget(l, "_c") or rawget(l, "_cls") then add("layer", l.unit) end
    if rawget(l, "_c") then refs(h5.files.layer_config(l._c)) end
  end
  local opt = rawget(model, "_compiled") and rawget(model, "_optimizer")
  if opt then
    local cls = optimizer_class(opt)
    add("optimizer", type(opt.unit) == "string" and opt.unit
                     or (cls and registry.find_class("optimizer", cls)))
  end
  table.sort(list)
  return list
end

--- Check a file's unit list against the registry: every unit present,
-- at the version the file was written with; a unit of a kind in `skip` (a
-- set, or nil) may be absent.
function M.check_units(list, where, skip)
  for _, s in ipairs(list) do
    local kind, name, version = s:match("^(%w+)/([^@]+)@(%d+)$")
    if not kind then fail(where, "unreadable unit reference '%s' in lunet_units", s) end
    local found = registry.unit(kind, name)
    if skip and skip[kind] then
      -- not used by this read (a later compile names a missing unit itself)
    elseif not found then
      fail(where, "the model uses the %s unit '%s' (version %s), which no installed " ..
           "plugin provides (load its plugin first: ln.load_plugin(path))", kind, name, version)
    elseif found.version ~= tonumber(version) then
      fail(where, "the model was saved with %s unit '%s' version %s; the installed plugin " ..
           "(%s) is version %d", kind, name, version, tostring(found.file), found.version)
    end
  end
end

return M
