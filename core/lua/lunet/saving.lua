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
local h5 = require "lunet.h5"
local registry = require "lunet.registry"
local cfgs = require "lunet.saving_config"
local tcfg = require "lunet.saving_training"
local state = require "lunet.saving_state"

local files = h5.files
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
  local msg = E.message(r[2]):gsub("[^%s:]*%.lua:%d+: ", "")
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

-- Option types: "boolean", "string", "table", "integer" (>= 0), "absent"
-- (a TensorFlow SavedModel option: only nil is accepted).
local function check_opts(what, opts, spec)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    E.raisef("%s: options must be a table, got %s", what, type(opts))
  end
  for k, v in pairs(opts) do
    local want = spec[k]
    if not want then
      local known = {}
      for name in pairs(spec) do known[#known + 1] = name end
      table.sort(known)
      E.raisef("%s: unknown option '%s' (known: %s)", what, tostring(k), table.concat(known, ", "))
    end
    local ok
    if want == "integer" then ok = math.type(v) == "integer" and v >= 0
    elseif want == "absent" then ok = false
    else ok = type(v) == want end
    if not ok then
      if want == "absent" then
        E.raisef("%s: option '%s' is for TensorFlow SavedModel files; lunet writes HDF5 " ..
                 "files (leave it out)", what, k)
      end
      E.raisef("%s: option '%s' must be %s, got %s %s", what, k,
               want == "integer" and "an integer >= 0" or "a " .. want, type(v), tostring(v))
    end
  end
  return opts
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

local save_keys = {include_optimizer = "boolean", overwrite = "boolean", save_format = "string",
                   signatures = "absent", options = "absent", save_traces = "boolean"}

--- model:save(path [, opts]): the whole model, Keras 2's .h5 layout.
function M.save_model(model, path, opts)
  local what = "save"
  check_model(what, model)
  check_path(what, path)
  opts = check_opts(what, opts, save_keys)
  if opts.save_format ~= nil and opts.save_format ~= "h5" and opts.save_format ~= "hdf5" then
    fail(what, path, "save_format '%s' is not supported (lunet writes HDF5 .h5 files)",
         tostring(opts.save_format))
  end
  require_built(what, path, model)
  check_layer_names(what, path, model)
  -- everything that can fail without touching the disk, first
  local model_config = guarded(what, h5.json_encode, cfgs.keras_model(model))
  local training
  if rawget(model, "_compiled") then
    training = guarded(what, function()
      return h5.json_encode(tcfg.keras_training_config(model))
    end)
  end
  -- <close>: on any error below the temporary file goes at once
  local f <close> = guarded(what, files.h5_create, path, opts.overwrite ~= false)
  guarded(what, function()
    stamp(f, model)
    f:set_attr("/", "model_config", model_config)
    if training then f:set_attr("/", "training_config", training) end
    write_weights(f, "model_weights", model)
    if opts.include_optimizer ~= false then state.write(f, model) end
  end)
  guarded(what, f.commit, f)
end

--- model:save_weights(path [, opts]): the layer weights only (Keras's
-- weights file: the layer groups at the root).
function M.save_weights(model, path, opts)
  local what = "save_weights"
  check_model(what, model)
  check_path(what, path)
  opts = check_opts(what, opts, {overwrite = "boolean", save_format = "string",
                                 options = "absent"})
  if opts.save_format ~= nil and opts.save_format ~= "h5" and opts.save_format ~= "hdf5" then
    fail(what, path, "save_format '%s' is not supported (lunet writes HDF5 .h5 files)",
         tostring(opts.save_format))
  end
  require_built(what, path, model)
  check_layer_names(what, path, model)
  -- <close>: on any error below the temporary file goes at once
  local f <close> = guarded(what, files.h5_create, path, opts.overwrite ~= false)
  guarded(what, function()
    stamp(f, model)
    write_weights(f, "/", model)
  end)
  guarded(what, f.commit, f)
end

-- ---- reading -------------------------------------------------------------------------------

-- Open a file and refuse one written by a newer lunet or naming units
-- that are not installed.
-- A file opened for reading, its format version and units checked; units
-- of the kinds in `skip` (a set) may be absent: an optimizer is not needed
-- to read weights or a model that is not compiled (Keras loads those too).
local function open_checked(what, path, skip)
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
    local ok, err = pcall(cfgs.check_units, units, path, skip)
    if not ok then
      f:close()
      E.raise(what .. ": " .. tostring(err))
    end
  end
  return f
end

-- A layer from its Keras config (custom: custom_objects, where Lua layer
-- classes and functions are found by name); also the place for messages.
local function make_layer(cls, c, lname, where, custom)
  local layers = require "lunet.layers"
  local lwhere = sformat("%s: layer '%s' (%s)", where, lname, cls)
  if not (custom and custom[cls]) and not layers.constructor(cls) then
    cfgs.fail(where, "layer '%s' is of class '%s', which no installed lunet plugin " ..
              "provides (known: %s); a layer class written in Lua is given as " ..
              "load_model(path, {custom_objects = {%s = %s}})", lname, cls,
              registry.known("layer", "class_name"), cls, cls)
  end
  local args = cfgs.lunet_layer_args(cls, c, lwhere, custom)
  local ok, layer = pcall(layers.from_config, cls, args, custom)
  if not ok then
    local msg = E.message(layer)
    -- a name no unit has: most likely a function written in Lua
    local name = msg:match("unknown %a+ '([%w_]+)'")
    if name and not (custom and custom[name]) then
      msg = sformat("%s; a function or class written in Lua is given as load_model(path, " ..
                    "{custom_objects = {%s = ...}})", msg, name)
    end
    cfgs.fail(lwhere, "%s", msg)
  end
  return layer
end

-- A functional model from a graph config (Keras's layout), each layer's
-- Keras config read as for Sequential models.
local function build_functional(mc, where, custom)
  local F = require "lunet.functional"
  local marked = cfgs.marks_custom(type(mc.config) == "table" and mc.config.layers)
  local function make(cls, c, lname, entry)
    return make_layer(cls, c, lname, where, cfgs.custom_for_entry(custom, entry, marked))
  end
  local cfg = registry.copy(mc.config)
  if cfg.name == h5.json_null then cfg.name = nil end
  local ok, model = pcall(F.from_config, cfg, make)
  if not ok then cfgs.fail(where, "%s", E.message(model)) end
  return model
end

-- A model from a decoded Keras model config (where: for messages).
local function build_model(mc, where, custom)
  if cfgs.is_graph_config(mc) then return build_functional(mc, where, custom) end
  local models = require "lunet.models"
  local layers = require "lunet.layers"
  local entries, name = cfgs.model_entries(mc, where)
  local marked = cfgs.marks_custom(entries)
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
      local shape = c.batch_input_shape ~= nil and c.batch_input_shape ~= h5.json_null
                    and cfgs.input_shape_of(c.batch_input_shape, lwhere) or nil
      if not shape then cfgs.fail(lwhere, "the input layer gives no batch_input_shape") end
      if i ~= 1 then cfgs.fail(lwhere, "an InputLayer can only come first") end
      model:add(layers.InputLayer{input_shape = shape, name = lname})
    else
      local layer = make_layer(cls, c, lname, where, cfgs.custom_for_entry(custom, e, marked))
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

-- Whether a file's optimizer state must be in the current layout: lunet's
-- files and tf.keras >= 2.4's (older Keras layouts are mapped, see
-- lunet.saving_state).
local function current_layout(f)
  if f:attr_string("/", "lunet_format_version") then return true end
  local major, minor = (f:attr_string("/", "keras_version") or ""):match("^(%d+)%.(%d+)")
  major, minor = tonumber(major), tonumber(minor)
  return major ~= nil and (major > 2 or (major == 2 and minor >= 4))
end

local function load_model(path, opts)
  local what = "load_model"
  local f <close> = open_checked(what, path,
                                 opts.compile == false and {optimizer = true} or nil)
  local text = f:attr_string("/", "model_config")
  if not text then
    if f:attr_strings("/", "layer_names") then
      fail(what, path, "this file holds weights only (written by save_weights): build the " ..
           "model and call model:load_weights(path)")
    end
    fail(what, path, "not a Keras model file: no 'model_config' attribute")
  end
  local mc = h5.json_decode(text, path .. ": model_config")
  local model = build_model(mc, path, opts.custom_objects)
  if not model:_is_built() then
    fail(what, path, "the model config gives no input shape, so the weights cannot be placed")
  end
  -- a graph's layers are matched by name (its layer order may differ from the file's)
  load_layer_weights(f, weights_root(f, path, what), model, path, what,
                     rawget(model, "_graph") ~= nil)
  if opts.compile ~= false then
    local tc = f:attr_string("/", "training_config")
    if tc then
      local t = h5.json_decode(tc, path .. ": training_config")
      local args = tcfg.lunet_compile_args(t, path, opts.custom_objects)
      local ok, err = pcall(model.compile, model, args)
      if not ok then fail(what, path, "training_config: %s", E.message(err)) end
      state.read(f, model, path, current_layout(f), function(fmt, ...)
        fail(what, path, fmt, ...)
      end)
    end
  end
  return model
end

--- ln.models.load_model(path [, {compile = true}]): the model with its
-- weights, compiled as it was, with its optimizer's state.
function M.load_model(path, opts)
  local what = "load_model"
  check_path(what, path)
  opts = check_opts(what, opts, {compile = "boolean", custom_objects = "table", options = "absent"})
  for k, v in pairs(opts.custom_objects or {}) do
    if type(k) ~= "string" or (type(v) ~= "table" and type(v) ~= "function") then
      fail(what, path, "custom_objects: '%s' must map a name to a Lua class or function " ..
           "(Layer:extend, Loss:extend, Metric:extend, Optimizer:extend, ...)", tostring(k))
    end
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
  opts = check_opts(what, opts, {by_name = "boolean", skip_mismatch = "boolean", options = "absent"})
  if opts.skip_mismatch then fail(what, path, "skip_mismatch is not supported") end
  guarded(what, function()
    local f <close> = open_checked(what, path, {optimizer = true})
    require_built(what, path, model)
    load_layer_weights(f, weights_root(f, path, what), model, path, what, opts.by_name)
  end)
end

--- model:to_json([{indent = n}]): Keras's model JSON (architecture only).
function M.to_json(model, opts)
  check_model("to_json", model)
  opts = check_opts("to_json", opts, {indent = "integer"})
  local t = cfgs.keras_model(model)
  t.keras_version = cfgs.KERAS_VERSION
  t.backend = cfgs.BACKEND
  setmetatable(t, {__jsonorder = {"class_name", "config", "keras_version", "backend"}})
  return guarded("to_json", h5.json_encode, t, {indent = opts.indent or 0})
end

--- ln.models.model_from_json(text): a new model (fresh weights) from
-- Keras's model JSON (to_json's, or the model_config of a Keras file).
function M.model_from_json(text, opts)
  if type(text) ~= "string" then E.raise("model_from_json: expects a JSON string") end
  check_opts("model_from_json", opts, {custom_objects = "table"})
  local mc = guarded("model_from_json", h5.json_decode, text, "model_from_json")
  return guarded("model_from_json", build_model, mc, "model_from_json", (opts or {}).custom_objects)
end

E.protect_all(M)
return M
