--- lunet.saving: model files in Keras 2's HDF5 layout (see
-- docs/model-files.md). lunet.models forwards to it:
--
--   model:save("m.h5" [, {include_optimizer = true, overwrite = true}])
--   local m = ln.models.load_model("m.h5" [, {compile = true}])
--   model:save_weights("w.h5"); model:load_weights("w.h5" [, {by_name = false}])
--   local s = model:to_json([{indent = 2}]); ln.models.model_from_json(s)
--
-- A whole-model file holds the architecture (model_config, JSON), the
-- compile settings (training_config), every layer weight
-- (/model_weights/<layer>/<layer>/<weight>:0) and the optimizer's state
-- (/optimizer_weights: the iteration count and every slot), so training
-- resumes exactly where it stopped. Keras 2 reads these files and lunet
-- reads Keras 2's (the layer classes lunet has plugins for).
--
-- Writing is atomic: a temporary file in the same folder, fsync'ed, then
-- renamed over the target -- a failed save leaves the previous file as it
-- was. Reading never executes anything from the file: class names only
-- select registered plugin units, and a file naming a unit that is not
-- installed, or written by a newer lunet, is refused naming both.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local cfgs = require "lunet.saving_config"
local tcfg = require "lunet.saving_training"

local files = core.files
local sformat = string.format

local M = {}

--- The layout version this lunet writes (root attribute
-- lunet_format_version); files with a larger one are refused.
M.FORMAT_VERSION = 1

-- ---- helpers -----------------------------------------------------------------------

-- error() with "<what>: <path>: message", without a position prefix.
local function fail(what, path, fmt, ...)
  E.raise(sformat("%s: %s: " .. fmt, what, path, ...))
end

-- Run fn(...) and re-raise any error prefixed with `what: ` (messages from
-- the C layer already start with the file name).
local function guarded(what, fn, ...)
  local r = table.pack(pcall(fn, ...))
  if r[1] then return table.unpack(r, 2, r.n) end
  -- messages raised by other modules carry "file.lua:123: " positions:
  -- they mean nothing to the user of a model file
  local msg = tostring(r[2]):gsub("[^%s:]*%.lua:%d+: ", "")
  if msg:sub(1, #what + 2) ~= what .. ": " then msg = what .. ": " .. msg end
  E.raise(msg)
end

local function check_path(what, path)
  if type(path) ~= "string" or path == "" then
    E.raise(sformat("%s: expects a file path, got %s", what, type(path)))
  end
end

local function check_model(what, model)
  local models = require "lunet.models"
  if not models.is_model(model) then E.raise(what .. ": expects a model") end
end

local function check_opts(what, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then E.raise(what .. ": options must be a table") end
  for k in pairs(opts) do
    if not known[k] then E.raise(sformat("%s: unknown option '%s'", what, tostring(k))) end
  end
  return opts
end

local function exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() end
  return fh ~= nil
end

-- HDF5 path of a layer group under `root` ("/" or "model_weights").
local function under(root, name)
  if root == "/" or root == "" then return name end
  return root .. "/" .. name
end

-- Layer names become HDF5 group names: they must be usable and unique.
local function check_layer_names(what, path, model)
  local seen = {}
  for _, l in ipairs(model.layers) do
    local n = l.name
    if n:find("/", 1, true) or n == "." or n == ".." then
      fail(what, path, "layer name '%s' cannot name an HDF5 group", n)
    end
    if seen[n] then
      fail(what, path, "two layers are named '%s'; give them distinct names " ..
           "(layer.name = ...) before saving", n)
    end
    seen[n] = true
  end
end

local function require_built(what, path, model)
  if not model:_is_built() then
    fail(what, path, "the model %s is not built; give its first layer an input_shape " ..
         "or call it on data first", model.name)
  end
end

-- ---- writing ---------------------------------------------------------------------------

-- Root attributes every lunet file carries.
local function stamp(f, model)
  f:set_attr("/", "keras_version", cfgs.KERAS_VERSION)
  f:set_attr("/", "backend", cfgs.BACKEND)
  f:set_attr("/", "lunet_version", tostring(core.version or "?"))
  f:set_attr("/", "lunet_format_version", tostring(M.FORMAT_VERSION))
  f:set_attr("/", "lunet_units", cfgs.units_of(model))
end

-- Layer groups under `root`: layer_names, then per layer its weight_names
-- and datasets (Keras's layout; weightless layers get an empty list).
local function write_weights(f, root, model)
  local names = {}
  for i, l in ipairs(model.layers) do names[i] = l.name end
  if root ~= "/" then f:group(root) end
  f:set_attr(root, "layer_names", names)
  f:set_attr(root, "backend", cfgs.BACKEND)
  f:set_attr(root, "keras_version", cfgs.KERAS_VERSION)
  for _, l in ipairs(model.layers) do
    local g = under(root, l.name)
    f:group(g)
    local wn = {}
    for j, v in ipairs(l.variables) do
      wn[j] = v.name
      f:write(g .. "/" .. v.name, v.value)
    end
    f:set_attr(g, "weight_names", wn)
  end
end

-- The optimizer's state as Keras's get_weights: {names, tensors} (the
-- first is the iteration count), or nil when it has none yet.
local function optimizer_state(opt)
  if type(opt.get_weights) ~= "function" or type(opt.variables) ~= "function" then
    return nil
  end
  local vars = opt:variables()
  local weights = opt:get_weights()
  if #weights == 0 then return nil end
  local names = {}
  for i, v in ipairs(vars) do
    names[i] = type(v) == "string" and v or v.name
  end
  if #names ~= #weights then
    E.raise(sformat("the optimizer lists %d variables but %d values", #names, #weights))
  end
  return names, weights
end

local function write_optimizer(f, model)
  local opt = rawget(model, "optimizer")
  if not rawget(model, "_compiled") or not opt then return end
  local names, weights = optimizer_state(opt)
  if not names then return end
  f:group("optimizer_weights")
  f:set_attr("optimizer_weights", "weight_names", names)
  for i, n in ipairs(names) do
    local p = "optimizer_weights/" .. n
    if i == 1 then
      f:write_int64(p, math.tointeger(weights[1]:item()) or 0) -- Keras: int64 scalar
    else
      f:write(p, weights[i])
    end
  end
end

local save_keys = {include_optimizer = true, overwrite = true, save_format = true,
                   signatures = true, options = true, save_traces = true}

--- model:save(path [, opts]): the whole model, Keras 2's .h5 layout.
function M.save_model(model, path, opts)
  local what = "save"
  check_model(what, model)
  check_path(what, path)
  opts = check_opts(what, opts, save_keys)
  if opts.save_format ~= nil and opts.save_format ~= "h5" then
    fail(what, path, "save_format '%s' is not supported (lunet writes HDF5 .h5 files)",
         tostring(opts.save_format))
  end
  if opts.overwrite == false and exists(path) then
    fail(what, path, "the file exists and overwrite = false")
  end
  require_built(what, path, model)
  check_layer_names(what, path, model)
  -- everything that can fail without touching the disk, first
  local model_config = guarded(what, core.json_encode, cfgs.keras_model(model))
  local training
  if rawget(model, "_compiled") then
    training = guarded(what, function()
      return core.json_encode(tcfg.keras_training_config(model))
    end)
  end
  -- <close>: on any error below the temporary file goes at once
  local f <close> = guarded(what, files.h5_create, path)
  guarded(what, function()
    stamp(f, model)
    f:set_attr("/", "model_config", model_config)
    if training then f:set_attr("/", "training_config", training) end
    write_weights(f, "model_weights", model)
    if opts.include_optimizer ~= false then write_optimizer(f, model) end
  end)
  guarded(what, f.commit, f)
end

--- model:save_weights(path [, opts]): the layer weights only (Keras's
-- weights file: the layer groups at the root).
function M.save_weights(model, path, opts)
  local what = "save_weights"
  check_model(what, model)
  check_path(what, path)
  opts = check_opts(what, opts, {overwrite = true, save_format = true, options = true})
  if opts.overwrite == false and exists(path) then
    fail(what, path, "the file exists and overwrite = false")
  end
  require_built(what, path, model)
  check_layer_names(what, path, model)
  -- <close>: on any error below the temporary file goes at once
  local f <close> = guarded(what, files.h5_create, path)
  guarded(what, function()
    stamp(f, model)
    write_weights(f, "/", model)
  end)
  guarded(what, f.commit, f)
end

-- ---- reading -------------------------------------------------------------------------------

-- Open a file and refuse one written by a newer lunet or naming units
-- that are not installed.
local function open_checked(what, path)
  local f = guarded(what, files.h5_open, path)
  local fv = f:attr_string("/", "lunet_format_version")
  if fv ~= nil then
    local n = tonumber(fv)
    if not n or n > M.FORMAT_VERSION then
      local by = f:attr_string("/", "lunet_version") or "?"
      f:close()
      fail(what, path, "written by a newer lunet (%s, file format %s); this lunet (%s) " ..
           "reads file formats up to %d", by, fv, tostring(core.version), M.FORMAT_VERSION)
    end
  end
  local units = f:attr_strings("/", "lunet_units")
  if units then
    local ok, err = pcall(cfgs.check_units, units, path)
    if not ok then
      f:close()
      E.raise(what .. ": " .. tostring(err))
    end
  end
  return f
end

-- A model from a decoded Keras model config (where: for messages).
local function build_model(mc, where)
  local models = require "lunet.models"
  local layers = require "lunet.layers"
  local entries, name = cfgs.model_entries(mc, where)
  local model = models.Sequential({}, name)
  for i, e in ipairs(entries) do
    if type(e) ~= "table" or type(e.class_name) ~= "string" then
      cfgs.fail(where, "layer entry %d of the model config is not a {class_name, config} dict", i)
    end
    local cls = e.class_name
    local c = type(e.config) == "table" and e.config or {}
    local lname = type(c.name) == "string" and c.name or ("#" .. i)
    local lwhere = sformat("%s: layer '%s' (%s)", where, lname, cls)
    if cls == "InputLayer" then
      local shape = c.batch_input_shape ~= nil and c.batch_input_shape ~= core.json_null
                    and cfgs.input_shape_of(c.batch_input_shape, lwhere) or nil
      if not shape then cfgs.fail(lwhere, "the input layer gives no batch_input_shape") end
      if i ~= 1 then cfgs.fail(lwhere, "an InputLayer can only come first") end
      model:add(layers.InputLayer{input_shape = shape, name = lname})
    else
      if not layers.constructor(cls) then
        cfgs.fail(where, "layer '%s' is of class '%s', which no installed lunet plugin " ..
                  "provides (known: %s)", lname, cls, registry.known("layer", "class_name"))
      end
      local args = cfgs.lunet_layer_args(cls, c, lwhere)
      local ok, layer = pcall(layers.from_config, cls, args)
      if not ok then cfgs.fail(lwhere, "%s", tostring(layer)) end
      local ok2, err = pcall(model.add, model, layer)
      if not ok2 then cfgs.fail(lwhere, "%s", tostring(err)) end
    end
  end
  return model
end

-- The weighted layers of a file group: list of {name, weight_names}.
local function saved_layers(f, root, path, what)
  local names = f:attr_strings(root, "layer_names")
  if not names then fail(what, path, "no layer_names attribute in '%s'", root) end
  local list = {}
  for _, n in ipairs(names) do
    local g = under(root, n)
    if f:kind(g) ~= "group" then
      fail(what, path, "layer_names lists '%s' but there is no group '%s'", n, g)
    end
    f:members(g) -- walks the group's index: damage shows here
    local wn = f:attr_strings(g, "weight_names") or {}
    if #wn > 0 then list[#list + 1] = {name = n, group = g, weights = wn} end
  end
  return list
end

-- Read every weight first (shapes checked against the model), assign
-- after: a bad file leaves the model as it was.
local function load_layer_weights(f, root, model, path, what, by_name)
  local saved = saved_layers(f, root, path, what)
  local targets = {}
  for _, l in ipairs(model.layers) do
    if #l.variables > 0 then targets[#targets + 1] = l end
  end
  local pairs_ = {}
  if by_name then
    local index = {}
    for _, s in ipairs(saved) do index[s.name] = s end
    local t2, s2 = {}, {}
    for _, l in ipairs(targets) do
      if index[l.name] then t2[#t2 + 1] = l; s2[#s2 + 1] = index[l.name] end
    end
    targets, saved = t2, s2
  elseif #saved ~= #targets then
    fail(what, path, "the file holds weights for %d layers, the model %s has %d layers " ..
         "with weights", #saved, model.name, #targets)
  end
  for i, s in ipairs(saved) do
    local l = targets[i]
    local vars = l.variables
    if #vars ~= #s.weights then
      fail(what, path, "layer '%s' (%s) of the model has %d weights, the file's layer '%s' " ..
           "has %d", l.name, l.class_name, #vars, s.name, #s.weights)
    end
    for j, v in ipairs(vars) do
      local ok, t = pcall(f.read, f, s.group .. "/" .. s.weights[j], v.shape)
      if not ok then
        E.raise(sformat("%s: layer '%s' (%s), weight '%s': %s", what, l.name, l.class_name,
                      v.short_name, tostring(t)))
      end
      pairs_[#pairs_ + 1] = {v, t}
    end
  end
  for _, p in ipairs(pairs_) do p[1]:assign(p[2]) end
end

-- The group holding the layer weights: the root (weights files) or
-- /model_weights (whole-model files).
local function weights_root(f, path, what)
  if f:attr_strings("/", "layer_names") then return "/" end
  if f:kind("model_weights") == "group" then return "model_weights" end
  fail(what, path, "no model weights in the file (neither a root layer_names attribute " ..
       "nor a model_weights group): not a Keras weights or model file")
end

-- Restore the optimizer's state: create its slots for the model's
-- trainable variables (as the first training step would), then set the
-- saved values in Keras's order.
local function load_optimizer(f, model, path, what)
  if f:kind("optimizer_weights") ~= "group" then return end
  local names = f:attr_strings("optimizer_weights", "weight_names")
  if not names or #names == 0 then return end
  local opt = model.optimizer
  local values = {}
  for i, n in ipairs(names) do
    local p = "optimizer_weights/" .. n
    if i == 1 then
      values[1] = core.tensor(guarded(what, f.read_int, f, p), "int32")
    else
      values[i] = guarded(what, f.read, f, p)
    end
  end
  if type(opt.build) ~= "function" or type(opt.set_weights) ~= "function" then
    fail(what, path, "the optimizer cannot take saved state (no build/set_weights)")
  end
  local ok, err = pcall(function()
    opt:build(model:grads_and_vars())
    opt:set_weights(values)
  end)
  if not ok then fail(what, path, "optimizer state: %s", tostring(err)) end
end

local function load_model(path, opts)
  local what = "load_model"
  local f <close> = open_checked(what, path)
  local text = f:attr_string("/", "model_config")
  if not text then
    if f:attr_strings("/", "layer_names") then
      fail(what, path, "this file holds weights only (written by save_weights): build the " ..
           "model and call model:load_weights(path)")
    end
    fail(what, path, "not a Keras model file: no 'model_config' attribute")
  end
  local mc = core.json_decode(text, path .. ": model_config")
  local model = build_model(mc, path)
  if not model:_is_built() then
    fail(what, path, "the model config gives no input shape, so the weights cannot be placed")
  end
  load_layer_weights(f, weights_root(f, path, what), model, path, what, false)
  if opts.compile ~= false then
    local tc = f:attr_string("/", "training_config")
    if tc then
      local t = core.json_decode(tc, path .. ": training_config")
      local args = tcfg.lunet_compile_args(t, path)
      local ok, err = pcall(model.compile, model, args)
      if not ok then fail(what, path, "training_config: %s", tostring(err)) end
      load_optimizer(f, model, path, what)
    end
  end
  return model
end

--- ln.models.load_model(path [, {compile = true}]): the model with its
-- weights, compiled as it was, with its optimizer's state.
function M.load_model(path, opts)
  local what = "load_model"
  check_path(what, path)
  opts = check_opts(what, opts, {compile = true, custom_objects = true, options = true})
  if opts.custom_objects ~= nil and next(opts.custom_objects) ~= nil then
    fail(what, path, "custom_objects are not supported: lunet builds layers from plugins only")
  end
  return guarded(what, load_model, path, opts)
end

--- model:load_weights(path [, {by_name = false}]): layer weights from a
-- weights file or a whole-model file (Keras's order rule: the i-th layer
-- with weights in the file goes to the i-th in the model; by_name matches
-- names instead).
function M.load_weights(model, path, opts)
  local what = "load_weights"
  check_model(what, model)
  check_path(what, path)
  opts = check_opts(what, opts, {by_name = true, skip_mismatch = true, options = true})
  if opts.skip_mismatch then fail(what, path, "skip_mismatch is not supported") end
  guarded(what, function()
    local f <close> = open_checked(what, path)
    require_built(what, path, model)
    load_layer_weights(f, weights_root(f, path, what), model, path, what, opts.by_name)
  end)
end

--- model:to_json([{indent = n}]): Keras's model JSON (architecture only).
function M.to_json(model, opts)
  check_model("to_json", model)
  opts = check_opts("to_json", opts, {indent = true})
  local t = cfgs.keras_model(model)
  t.keras_version = cfgs.KERAS_VERSION
  t.backend = cfgs.BACKEND
  setmetatable(t, {__jsonorder = {"class_name", "config", "keras_version", "backend"}})
  return guarded("to_json", core.json_encode, t, {indent = opts.indent or 0})
end

--- ln.models.model_from_json(text): a new model (fresh weights) from
-- Keras's model JSON (to_json's, or the model_config of a Keras file).
function M.model_from_json(text, opts)
  if type(text) ~= "string" then E.raise("model_from_json: expects a JSON string") end
  check_opts("model_from_json", opts, {custom_objects = true})
  local mc = guarded("model_from_json", core.json_decode, text, "model_from_json")
  return guarded("model_from_json", build_model, mc, "model_from_json")
end

return M
