--- lunet.jupyter_names: names for the Jupyter kernel -- completion (Tab)
-- and inspection (Shift+Tab) of what a notebook can reach: ln's modules and
-- units, globals, a cell's locals, fields and methods of values (tensors,
-- models, layers: also those an __index function hides). lunet.jupyter
-- calls it; it is not meant to be called from a cell.
local J = require "lunet.jupyter"

local M = {}

local sformat, concat = string.format, table.concat
local repr, is_identifier, KEYWORDS = J.repr, J.is_identifier, J.KEYWORDS

-- ---- completion --------------------------------------------------------------------------

-- The unit modules of ln and the kind of unit each holds.
local UNIT_MODULES = {layers = "layer", activations = "activation", initializers = "initializer",
                      optimizers = "optimizer", schedules = "schedule", losses = "loss",
                      metrics = "metric"}

-- The kind of units of table t, if it is one of ln's unit modules.
local function unit_kind(t)
  for mod, kind in pairs(UNIT_MODULES) do
    if rawequal(package.loaded["lunet." .. mod], t) then return kind end
  end
  return nil
end

-- The lunet.* modules on disk (ln.<name> loads them on first use).
local lunet_modules
local function module_names()
  if lunet_modules then return lunet_modules end
  lunet_modules = {}
  local init = package.searchpath("lunet", package.path)
  local dir = init and init:match("^(.*)/init%.lua$")
  local p = dir and io.popen("ls '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  if p then
    for file in p:lines() do
      local n = file:match("^([%a_][%w_]*)%.lua$")
      if n and n ~= "init" then lunet_modules[#lunet_modules + 1] = n end
    end
    p:close()
  end
  return lunet_modules
end

-- Adds the members of v to `into` (name -> true if it is a method/function).
local function members(v, into, depth)
  depth = depth or 0
  if depth > 4 then return end
  if type(v) == "table" then
    for k, x in pairs(v) do
      if is_identifier(k) then into[k] = into[k] or type(x) == "function" end
    end
    local kind = unit_kind(v)
    if kind then
      local registry = require "lunet.registry"
      for _, u in ipairs(registry.units(kind)) do
        if u.class_name then into[u.class_name] = true end
        if kind == "activation" or kind == "loss" or kind == "metric" then into[u.name] = true end
      end
    end
    if rawequal(v, package.loaded["lunet"]) then
      for _, n in ipairs(module_names()) do into[n] = into[n] or false end
    end
  end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return end
  local index = rawget(mt, "__index")
  if type(index) == "table" and index ~= v then
    members(index, into, depth + 1)
  elseif type(index) == "function" then
    -- an __index function: its tables of methods and properties
    local is_c = debug.getinfo(index, "S").what == "C"
    for i = 1, 255 do
      local name, up = debug.getupvalue(index, i)
      if not name then break end
      if type(up) == "table" then
        if is_c or name:lower():match("methods$") then
          members(up, into, depth + 1)
        elseif name == "properties" or name == "stored" then
          for k in pairs(up) do if is_identifier(k) then into[k] = into[k] or false end end
        end
      end
    end
  end
end

-- Indexes v by k without raising.
local function try_index(v, k)
  local ok, r = pcall(function() return v[k] end)
  if ok then return r end
  return nil
end

-- The value of a dotted name path ("ln.layers"), or nil.
local function resolve(path)
  local v = _G
  for part in path:gmatch("[^%.]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    v = try_index(v, part)
    if v == nil then return nil end
  end
  return v
end

-- Names the cell declares (locals, parameters, loop variables).
local function declared(code, into)
  local function add(list)
    for n in list:gmatch("[%a_][%w_]*") do
      if not KEYWORDS[n] and n ~= "const" and n ~= "close" then into[n] = into[n] or false end
    end
  end
  for list in code:gmatch("local%s+function%s+([%a_][%w_]*)") do add(list) end
  for list in code:gmatch("local%s+([%a_][%w_%s,<>]*)") do add(list:match("^[^=]*")) end
  for list in code:gmatch("function[%s%w_%.:]*%(([^)]*)%)") do add(list) end
  for list in code:gmatch("for%s+([%a_][%w_%s,]*)%s+in") do add(list) end
  for name in code:gmatch("for%s+([%a_][%w_]*)%s*=") do add(name) end
end

--- Completions at byte offset `cursor` of `code`: the matches, and the
-- byte range [from, to) they replace.
function M.complete(code, cursor)
  local before = code:sub(1, cursor)
  local path = before:match("[%a_][%w_%.:]*$") or ""
  local at = cursor - #path
  if at > 0 and before:sub(at, at):match("[%.:%)%]}\"']") then return {}, cursor, cursor end
  local base, sep, partial = path:match("^(.*)([%.:])([%w_]*)$")
  local names = {}
  if base then
    if base == "" or base:find(":", 1, true) then return {}, cursor, cursor end
    local v = resolve(base)
    if v == nil then return {}, cursor, cursor end
    members(v, names)
  else
    partial = path
    members(_G, names)
    for k in pairs(KEYWORDS) do names[k] = names[k] or false end
    declared(code, names)
  end
  local out = {}
  for name, is_fn in pairs(names) do
    if name:sub(1, #partial) == partial and (sep ~= ":" or is_fn) and name:sub(1, 2) ~= "__" then
      out[#out + 1] = name
    end
  end
  table.sort(out)
  return out, cursor - #partial, cursor
end

-- ---- values: inspection --------------------------------------------------------------------------

-- The comment block just above line `line` of a source file ("--- doc").
local function doc_comment(file, line)
  local f = io.open(file, "r")
  if not f then return nil end
  local lines = {}
  for l in f:lines() do
    lines[#lines + 1] = l
    if #lines >= line then break end
  end
  f:close()
  local doc = {}
  for i = line - 1, 1, -1 do
    local text = lines[i] and lines[i]:match("^%s*%-%-+%s?(.*)$")
    if not text then break end
    table.insert(doc, 1, text)
  end
  return #doc > 0 and concat(doc, "\n") or nil
end

-- The leading comment of a module file (its documentation).
local function module_doc(file)
  local f = io.open(file, "r")
  if not f then return nil end
  local src = f:read(8192) or ""
  f:close()
  local long = src:match("^%-%-%[(=*)%[")
  if long then
    return src:match("^%-%-%[" .. long .. "%[\n?(.-)%]" .. long .. "%]")
  end
  local doc = {}
  for l in (src .. "\n"):gmatch("(.-)\n") do
    local text = l:match("^%-%-+%s?(.*)$")
    if not text then break end
    doc[#doc + 1] = text
  end
  return #doc > 0 and concat(doc, "\n") or nil
end

-- Lines first..last of a file.
local function source_lines(file, first, last)
  local f = io.open(file, "r")
  if not f then return nil end
  local out, n = {}, 0
  for l in f:lines() do
    n = n + 1
    if n > last then break end
    if n >= first then out[#out + 1] = l end
  end
  f:close()
  return concat(out, "\n")
end

-- A function's documentation comment; with detail >= 1 also its source.
local function function_doc(f, title, detail)
  f = require("lunet.errors").unwrap(f)
  local info = debug.getinfo(f, "S")
  if info.what == "C" then return title .. "  (a function written in C)" end
  local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or nil
  local where = sformat("%s:%d", file or info.short_src, info.linedefined)
  local doc = file and doc_comment(file, info.linedefined)
  local text = title .. "  (defined at " .. where .. ")" .. (doc and "\n\n" .. doc or "")
  local src = (detail or 0) >= 1 and file and source_lines(file, info.linedefined,
                                                            info.lastlinedefined)
  return text .. (src and "\n\n" .. src or "")
end

-- The keyword arguments of a unit with their defaults, by building one
-- (what the unit reads is its config); required ones are given a
-- placeholder and listed as such. Layers get an explicit name so that
-- Keras's name counters are not advanced.
local function unit_arguments(ctor, kind)
  local args, required = {}, {}
  if kind == "layer" then args.name = "layer" end
  for _ = 1, 8 do
    local ok, obj = pcall(ctor, args)
    if ok then
      local ok2, cfg = pcall(function() return obj:get_config() end)
      return ok2 and cfg or nil, required
    end
    local key = tostring(obj):match("argument '([%w_]+)'") or tostring(obj):match("'([%w_]+)' is required")
    if not key or args[key] ~= nil then return nil, required end
    args[key], required[key] = 1, true
  end
  return nil, required
end

local function unit_doc(module, key, kind, path)
  local registry = require "lunet.registry"
  local name = registry.resolve(kind, key)
  local u = name and registry.unit(kind, name)
  if not u then return nil end
  local lines = {sformat("%s  (%s '%s', version %d, %s)", path, kind, u.name, u.version,
                         tostring(u.file)), "", u.summary or ""}
  local ctor = try_index(module, key)
  local cfg, required = nil, {}
  local callable = type(ctor) == "function" or
                   (type(ctor) == "table" and getmetatable(ctor) and getmetatable(ctor).__call)
  if callable and key == u.class_name then
    cfg, required = unit_arguments(ctor, kind)
  end
  if cfg then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Keyword arguments (defaults):"
    local keys = {}
    for k in pairs(cfg) do if k ~= "name" or kind ~= "layer" then keys[#keys + 1] = k end end
    table.sort(keys, function(a, b)
      if required[a] ~= required[b] then return required[a] == true end
      return a < b
    end)
    for _, k in ipairs(keys) do
      lines[#lines + 1] = required[k] and sformat("  %s  (required)", k)
                          or sformat("  %s = %s", k, repr(cfg[k], 1))
    end
    if kind == "layer" then lines[#lines + 1] = "  name = (unique, from the class name)" end
  end
  return concat(lines, "\n")
end

-- The name paths to describe at byte offset `cursor`: the name under the
-- cursor, then the callee of the call (or table constructor) it is in.
local function paths_at(code, cursor)
  local before = code:sub(1, cursor)
  local left = before:match("[%a_][%w_%.:]*$") or ""
  local right = code:sub(cursor + 1):match("^[%w_]*") or ""
  local paths = {}
  if left .. right ~= "" then paths[1] = left .. right end
  local depth = 0
  for i = #before, 1, -1 do
    local c = before:sub(i, i)
    if c == ")" or c == "}" then depth = depth + 1
    elseif c == "(" or c == "{" then
      if depth == 0 then
        local callee = before:sub(1, i - 1):match("([%a_][%w_%.:]*)%s*$")
        if callee then paths[#paths + 1] = callee end
        break
      end
      depth = depth - 1
    end
  end
  return paths
end

-- A description of the value at name path `path`, or nil.
local function describe(path, detail)
  local base, _, key = path:match("^(.*)([%.:])([%a_][%w_]*)$")
  local parent
  if base then
    parent = resolve(base:gsub(":", "."))
    if parent == nil then return nil end
  else
    parent, key = _G, path
  end
  local v = try_index(parent, key)
  if v == nil then return nil end
  local kind = type(parent) == "table" and unit_kind(parent)
  local text = kind and unit_doc(parent, key, kind, path)
  if text then return text end
  if type(v) == "function" then return function_doc(v, path, detail) end
  local mt = getmetatable(v)
  if type(v) == "table" and type(try_index(v, "summary_string")) == "function" then
    local ok, s = pcall(function() return v:summary_string() end)
    return tostring(v) .. (ok and "\n" .. s or "")
  end
  if type(v) == "table" and not (mt and mt.__tostring) then
    local mod = package.searchpath(path == "ln" and "lunet" or path:gsub("^ln%.", "lunet."),
                                   package.path)
    local doc = mod and module_doc(mod)
    local fields = {}
    members(v, fields)
    local names = {}
    for n in pairs(fields) do names[#names + 1] = n end
    table.sort(names)
    return (doc and doc .. "\n\n" or "") .. path .. ": " .. concat(names, ", ")
  end
  return sformat("%s  (%s)\n%s", path, type(v) == "userdata" and (mt and mt.__name) or type(v),
                 repr(v, 0, true))
end

--- A description of the value named at the cursor (Shift+Tab), or nil.
function M.inspect(code, cursor, detail)
  for _, path in ipairs(paths_at(code, cursor)) do
    local text = describe(path, detail)
    if text then return text end
  end
  return nil
end

return M
