--- lunet.saving_training: compile settings in Keras 2's training_config
-- JSON, both ways (used by lunet.saving; see docs/model-files.md).
--
-- Writing: {loss, metrics, weighted_metrics, loss_weights,
-- optimizer_config} as tf.keras 2.4 writes it -- the loss and metrics as
-- given to compile (names, or {class_name, config} of objects), the
-- optimizer through ln.optimizers.serialize with Keras's float numbers.
-- Reading also takes Keras <= 2.2's `lr`, MeanMetricWrapper metrics and
-- per-output metric lists of one-output models.
local E = require "lunet.errors"
local h5 = require "lunet.h5"
local registry = require "lunet.registry"
local cfgs = require "lunet.saving_config"

local null = h5.json_null
local ordered, array, fail = cfgs.ordered, cfgs.array, cfgs.fail
local dict, drop_nulls, floatify = cfgs.dict, cfgs.drop_nulls, cfgs.floatify
local unit_of_class = cfgs.unit_of_class

local M = {}

-- The optimizer's unit and class name.
local function optimizer_class(opt)
  local cls = opt.class_name
  if type(cls) == "string" then return cls end
  local unit = rawget(opt, "unit") or opt.unit
  if type(unit) == "string" then return registry.class_of("optimizer", unit) end
  return nil
end
M.optimizer_class = optimizer_class

-- Keras dict values with JSON nulls removed, recursively.
local function drop_nulls_deep(t)
  local r = {}
  for k, v in pairs(t) do
    if v ~= null then r[k] = type(v) == "table" and drop_nulls_deep(v) or v end
  end
  return r
end

-- Numbers as Keras writes optimizer hyper-parameters: floats.
local function floats(t)
  local r = {}
  for k, v in pairs(t) do
    if math.type(v) == "integer" then r[k] = v + 0.0
    elseif type(v) == "table" then r[k] = floats(v)
    else r[k] = v end
  end
  return setmetatable(r, getmetatable(t))
end

--- {class_name, config} of an optimizer object (ln.optimizers.serialize).
function M.keras_optimizer(opt)
  local optimizers = require "lunet.optimizers"
  local d = optimizers.serialize(opt)
  if type(d.class_name) ~= "string" then E.raise("save: cannot tell the optimizer's class") end
  local cfg = floats(d.config)
  if type(cfg.learning_rate) == "table" and cfg.learning_rate.class_name then
    local lr = cfg.learning_rate
    cfg.learning_rate = ordered({class_name = lr.class_name, config = lr.config or {}},
                                {"class_name", "config"})
  end
  return ordered({class_name = d.class_name, config = ordered(cfg, {"name", "learning_rate", "decay"})},
                 {"class_name", "config"})
end

--- The optimizer of a Keras optimizer_config ({class_name, config}): the
-- class selects the plugin unit, `lr` reads as learning_rate
-- (ln.optimizers.deserialize), or a Lua optimizer class given in
-- custom_objects ({MySGD = MySGD}).
function M.lunet_optimizer(oc, where, custom)
  local cls, cfg = dict(oc)
  if not cls then fail(where, "training_config: optimizer_config is not a {class_name, config} dict") end
  local lua_class = custom and custom[cls]
  if lua_class then
    local args = drop_nulls_deep(cfg)
    if args.lr ~= nil and args.learning_rate == nil then args.learning_rate, args.lr = args.lr, nil end
    local ok, opt = pcall(lua_class, args)
    if not ok then fail(where, "optimizer %s: %s", cls, E.message(opt)) end
    return opt
  end
  if not unit_of_class("optimizer", cls) then
    local optimizers = require "lunet.optimizers"
    if not optimizers.unit_of(cls) then
      fail(where, "the optimizer class '%s' is not provided by any installed plugin (known: %s); " ..
           "a Lua optimizer class is given as load_model(path, {custom_objects = {%s = ...}})",
           cls, registry.known("optimizer", "class_name"), cls)
    end
  end
  local optimizers = require "lunet.optimizers"
  local ok, opt = pcall(optimizers.deserialize, {class_name = cls, config = drop_nulls_deep(cfg)})
  if not ok then fail(where, "optimizer %s: %s", cls, E.message(opt)) end
  return opt
end

-- A loss as compile got it -> its Keras JSON form.
local function keras_loss(loss)
  local losses = require "lunet.losses"
  if type(loss) == "string" then return loss end
  if type(loss) == "function" then
    local name = losses.function_name(loss) or require("lunet.custom").function_name(loss)
    if name then return name end
  end
  if losses.is_lua_loss(loss) and rawget(loss, "_fn") then return loss.name end
  if losses.is_loss(loss) or losses.is_lua_loss(loss) then
    local cfg = {}
    for k, v in pairs(loss:get_config()) do cfg[k] = floatify(k, v) end
    cfg.reduction = "auto"
    return ordered({class_name = loss.class_name, config = cfg}, {"class_name", "config"})
  end
  E.raise("save: this model's loss cannot be written to a file")
end

-- A metric entry as compile got it -> its Keras JSON form.
local function keras_metric(m)
  if type(m) == "string" then return m end
  local metrics = require "lunet.metrics"
  local losses = require "lunet.losses"
  if type(m) == "function" then
    return losses.function_name(m) or require("lunet.custom").function_name(m)
           or E.raise("save: a metric function without a name cannot be written")
  end
  if metrics.is_metric(m) or losses.is_loss(m) or metrics.is_lua_metric(m)
      or losses.is_lua_loss(m) then
    local cfg = {}
    for k, v in pairs(m:get_config()) do cfg[k] = floatify(k, v) end
    cfg.dtype = "float32"
    return ordered({class_name = m.class_name, config = cfg}, {"class_name", "config"})
  end
  E.raise("save: a metric of type " .. type(m) .. " cannot be written")
end

-- A plain table (several outputs' values: a list or keyed by output name).
local function container(v)
  return type(v) == "table" and getmetatable(v) == nil
end

-- v, or per-output values mapped with fn: a list -> an array, a table
-- keyed by output names -> an object (names sorted, for stable files).
local function per_output(v, fn)
  if not container(v) then return fn(v) end
  if v[1] ~= nil then
    local r = array()
    for i, e in ipairs(v) do r[i] = fn(e) end
    return r
  end
  local r, keys = {}, {}
  for k, e in pairs(v) do r[k] = fn(e); keys[#keys + 1] = k end
  table.sort(keys)
  return ordered(r, keys)
end

-- A metrics entry of one output: one metric or a list of them.
local function keras_metric_list(v)
  if container(v) then
    local r = array()
    for i, m in ipairs(v) do r[i] = keras_metric(m) end
    return r
  end
  return keras_metric(v)
end

--- Keras's training_config of a compiled model (nil if not compiled).
function M.keras_training_config(model)
  local compiled = rawget(model, "_compiled")
  if not compiled then return nil end
  local given = rawget(model, "_compile_args") or {}
  local list = given.metrics
  if list == nil and rawget(model, "_compile_args") then
    list = {} -- compiled without metrics (the history's other names are output losses)
  elseif list == nil then -- the history names are the entries as given
    list = {}
    local names = rawget(model, "_metrics_names") or {}
    for i = 2, #names do list[#list + 1] = names[i] end
  elseif type(list) ~= "table" or getmetatable(list) then
    list = {list}
  end
  local ms = per_output(list, keras_metric_list)
  local wlist = given.weighted_metrics
  if wlist ~= nil and (type(wlist) ~= "table" or getmetatable(wlist)) then wlist = {wlist} end
  local tc = {
    loss = per_output(given.loss or rawget(model, "_loss"), keras_loss),
    metrics = ms,
    weighted_metrics = wlist == nil and null or per_output(wlist, keras_metric_list),
    loss_weights = given.loss_weights == nil and null or per_output(given.loss_weights,
                                                                    function(w) return w end),
    optimizer_config = M.keras_optimizer(rawget(model, "_optimizer")),
  }
  return ordered(tc, {"loss", "metrics", "weighted_metrics", "loss_weights", "optimizer_config"})
end

-- The error for a unit a file names that is neither built in nor given.
local function missing(where, kind, name)
  fail(where, "training_config: the %s '%s' is not one of lunet's; a %s written in Lua is " ..
       "given as load_model(path, {custom_objects = {%s = ...}})", kind, name, kind, name)
end

-- A Keras loss (name or dict) -> what compile takes.
local function lunet_loss(v, where, custom)
  local cls, cfg = dict(v)
  if not cls then
    if type(v) ~= "string" then fail(where, "training_config: the loss is not readable") end
    if custom and custom[v] then return custom[v] end
    local losses = require "lunet.losses"
    if not (losses.aliases[v] or registry.has("loss", v)) then missing(where, "loss", v) end
    return v
  end
  local losses = require "lunet.losses"
  if not (custom and custom[cls]) and not registry.find_class("loss", cls) then
    missing(where, "loss", cls)
  end
  if custom and custom[cls] then
    local args = drop_nulls(cfg)
    args.reduction = nil
    local ok, loss = pcall(custom[cls], args)
    if not ok then fail(where, "training_config: loss %s: %s", cls, E.message(loss)) end
    return loss
  end
  local ok, loss = pcall(losses.get, {class_name = cls, config = drop_nulls(cfg)})
  if not ok then fail(where, "training_config: loss: %s", E.message(loss)) end
  return loss
end

-- A Keras metric entry -> what compile takes.
local function lunet_metric(v, where, custom)
  local cls, cfg = dict(v)
  if not cls then
    if type(v) ~= "string" then fail(where, "training_config: a metric is not readable") end
    if custom and custom[v] then return custom[v] end
    if not pcall(require("lunet.metrics").spec, v) then missing(where, "metric", v) end
    return v
  end
  if cls == "MeanMetricWrapper" then
    local name = cfg.fn ~= null and cfg.fn or cfg.name
    if custom and custom[name] then return custom[name] end
    if not pcall(require("lunet.metrics").spec, name) then missing(where, "metric", name) end
    return name
  end
  local metrics = require "lunet.metrics"
  if not (custom and custom[cls]) and not registry.find_class("metric", cls)
      and not registry.find_class("loss", cls) then
    missing(where, "metric", cls)
  end
  local args = drop_nulls(cfg)
  args.dtype = nil
  if custom and custom[cls] then
    local ok, m = pcall(custom[cls], args)
    if not ok then fail(where, "training_config: metric %s: %s", cls, E.message(m)) end
    return m
  end
  local ok, m = pcall(function() return metrics[cls](args) end)
  if not ok then fail(where, "training_config: metric %s: %s", cls, E.message(m)) end
  return m
end

--- compile's argument table from a Keras training_config (custom: the
-- custom_objects of load_model).
function M.lunet_compile_args(tc, where, custom)
  if type(tc) ~= "table" then fail(where, "training_config is not a JSON object") end
  if tc.loss == nil or tc.loss == null then fail(where, "training_config has no loss") end
  -- per-output values: a list, or an object keyed by output name
  local function each(v, fn)
    if type(v) ~= "table" or dict(v) then return fn(v) end
    local r = {}
    for k, e in pairs(v) do r[k] = fn(e) end
    return r
  end
  local function metric_lists(list)
    if list == nil or list == null then return nil end
    if type(list) == "table" and #list == 1 and type(list[1]) == "table" and not dict(list[1]) then
      list = list[1] -- per-output lists of a one-output model
    end
    return each(list, function(v)
      return each(v, function(m) return lunet_metric(m, where, custom) end)
    end)
  end
  local ms, wms = metric_lists(tc.metrics), metric_lists(tc.weighted_metrics)
  local loss = each(tc.loss, function(v) return lunet_loss(v, where, custom) end)
  local weights = tc.loss_weights
  if weights == null then weights = nil end
  return {loss = loss, metrics = ms or {}, weighted_metrics = wms, loss_weights = weights,
          optimizer = M.lunet_optimizer(tc.optimizer_config, where, custom)}
end

return M
