--- lunet.registry: the plugin units seen from Lua, and small helpers the
-- Keras-style modules share (Keras naming, shape strings, class tables).
--
--   local registry = require "lunet.registry"
--   registry.units("layer")                 -- list of {name, class_name, ...}
--   registry.find_class("layer", "Dense")   -- "dense" (or nil)
--   registry.has("loss", "huber")           -- true / false
--   registry.to_snake_case("LeakyReLU")     -- "leaky_re_lu" (Keras)
--   registry.shape_str({784})               -- "(None, 784)"
local core = require "lunet.core"

local registry = {}

local cache, named, cache_generation = nil, nil, nil

-- Units grouped by kind: {layer = {list...}, ...}, and by kind and name;
-- rebuilt when a plugin added or replaced units. Lookups run at every
-- activations.get of a layer's call, so they must not list the registry.
local function by_kind()
  local g = core.plugin_generation()
  if cache and g == cache_generation then return cache, named end
  local t, n = {}, {}
  for _, u in ipairs(core.plugins()) do
    local k = t[u.kind]
    if not k then k = {}; t[u.kind] = k; n[u.kind] = {} end
    k[#k + 1] = u
    n[u.kind][u.name] = u
  end
  cache, named, cache_generation = t, n, g
  return t, n
end

--- The units of one kind ("layer", "activation", "initializer", "optimizer",
-- "schedule", "loss", "metric"): a list of {name, class_name, version,
-- file, summary}.
function registry.units(kind)
  return by_kind()[kind] or {}
end

--- The unit name of the unit of `kind` whose Keras class is `class_name`.
function registry.find_class(kind, class_name)
  for _, u in ipairs(registry.units(kind)) do
    if u.class_name == class_name then return u.name end
  end
  return nil
end

--- The record {name, class_name, version, file, summary} of unit `name`
-- of `kind`, or nil.
function registry.unit(kind, name)
  local _, n = by_kind()
  return n[kind] and n[kind][name]
end

--- Whether a unit `name` of `kind` is registered.
function registry.has(kind, name)
  return registry.unit(kind, name) ~= nil
end

--- The class name of unit `name` of `kind` (the name itself if it has none).
function registry.class_of(kind, name)
  local u = registry.unit(kind, name)
  return u and u.class_name
end

--- The unit name for `id` given as a unit name or a class name, in any
-- case ("adam", "Adam", "RMSprop", "rmsprop"); nil if none matches.
function registry.resolve(kind, id)
  if registry.has(kind, id) then return id end
  local u = registry.find_class(kind, id)
  if u then return u end
  local low = id:lower()
  for _, unit in ipairs(registry.units(kind)) do
    if unit.name == low or (unit.class_name or ""):lower() == low then return unit.name end
  end
  return nil
end

--- The unit names of a kind (a list).
function registry.names_of(kind)
  local names = {}
  for _, u in ipairs(registry.units(kind)) do names[#names + 1] = u.name end
  return names
end

--- Sorted, comma-separated class names (or names) of a kind, for messages.
function registry.known(kind, field)
  local names = {}
  for _, u in ipairs(registry.units(kind)) do names[#names + 1] = u[field or "name"] end
  table.sort(names)
  return table.concat(names, ", ")
end

--- The message for an unknown `name` asked of `kind` (what: "optimizer
-- class", "activation", ...): the known names (`known`, a list; default
-- the class names of the kind), the closest one, and -- when a plugin that
-- offered it was refused -- that file and why, else the plugins that failed
-- to load and may have provided it (ln.plugin_warnings()).
function registry.unknown(kind, what, name, known)
  if not known then
    known = {}
    for _, u in ipairs(registry.units(kind)) do known[#known + 1] = u.class_name or u.name end
  end
  local sorted = registry.copy_list(known)
  table.sort(sorted)
  local msg = string.format("unknown %s '%s' (known: %s)", what, tostring(name),
                            #sorted > 0 and table.concat(sorted, ", ") or "none")
  local close = require("lunet.errors").closest(name, sorted)
  if close then msg = msg .. string.format("; did you mean '%s'?", close) end
  local refused = type(name) == "string" and core.plugin_refusal(kind, name)
  if refused then return msg .. "; " .. refused end
  local failed, mentioned = core.plugin_warnings and core.plugin_warnings() or {}, {}
  local snake = type(name) == "string" and registry.to_snake_case(name) or ""
  for _, w in ipairs(failed) do
    local file = w:match("'([^']+)'") or ""
    local base = file:match("[^/]+$") or file
    if base:find(kind, 1, true) or (snake ~= "" and base:find(snake, 1, true)) then
      mentioned[#mentioned + 1] = w
    end
  end
  if #mentioned > 0 then
    msg = msg .. "; plugins that failed to load: " .. table.concat(mentioned, "; ")
  elseif #failed > 0 then
    msg = msg .. string.format("; %d plugin(s) failed to load (ln.plugin_warnings() lists them)",
                               #failed)
  end
  return msg
end

--- Keras's generic_utils.to_snake_case: "BatchNormalization" ->
-- "batch_normalization", "LeakyReLU" -> "leaky_re_lu", "PReLU" -> "p_re_lu".
function registry.to_snake_case(name)
  local s = name:gsub("(.)(%u[%l%d]+)", "%1_%2")
  s = s:gsub("(%l)(%u)", "%1_%2"):lower()
  if s:sub(1, 1) == "_" then return "private" .. s end
  return s
end

--- "(None, 28, 28)" for a shape given without its batch axis.
function registry.shape_str(dims)
  if dims == nil then return "multiple" end
  local parts = {"None"}
  for i = 1, #dims do parts[#parts + 1] = tostring(math.tointeger(dims[i]) or dims[i]) end
  if #parts == 1 then return "(None,)" end
  return "(" .. table.concat(parts, ", ") .. ")"
end

--- "(1000, 784)" for a full shape list.
function registry.full_shape_str(dims)
  local parts = {}
  for i = 1, #dims do parts[i] = tostring(math.tointeger(dims[i]) or dims[i]) end
  if #parts == 1 then return "(" .. parts[1] .. ",)" end
  return "(" .. table.concat(parts, ", ") .. ")"
end

--- Copy of a list.
function registry.copy_list(t)
  local r = {}
  for i = 1, #t do r[i] = t[i] end
  return r
end

--- A shallow copy of a table.
function registry.copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return r
end

--- Whether v is a lunet tensor (an open one), in C: the check runs on
-- every argument of every Lua unit's call.
registry.is_tensor = core.is_tensor

--- The shape of tensor t as a Lua list.
function registry.shape(t)
  return t:shape()
end

return registry
