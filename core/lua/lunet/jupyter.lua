--- lunet.jupyter: the Lua half of the Jupyter kernel (lunet-kernel, whose C
-- half in core/jupyter speaks the protocol). It runs cells, completes
-- names and describes values; it is not meant to be called from a cell.
--
-- A cell is a Lua chunk named In[n] (errors read "In[3]:2: ..."). As in
-- IPython:
--   * the value of a cell that is an expression, or ends with one (its
--     last statement, possibly over several lines, or a `return`), is the
--     cell's result (execute_result); a trailing ";" hides it;
--   * the cell's top-level `local`s live on as globals, so the next cells
--     see them (a notebook's cells are one program, not separate chunks).
-- io.read() reads a line typed in the notebook (the stdin channel).
local display = require "lunet.display"

local M = {}

local frontend = nil
local sformat, concat = string.format, table.concat

--- Called by the kernel once, with its front end (see lunet.display).
function M.start(fe)
  frontend = fe
  display.attach(fe)
  local file_read = io.read
  io.read = function(...)
    if io.input() ~= io.stdin then return file_read(...) end
    local fmts = table.pack(...)
    if fmts.n == 0 then fmts = {"l", n = 1} end
    local out = {}
    for i = 1, fmts.n do
      local f = fmts[i]
      if type(f) == "string" then f = f:gsub("^%*", ""):sub(1, 1) end
      local line = fe.input("", false)
      if f == "n" then out[i] = tonumber(line)
      elseif f == "L" then out[i] = line .. "\n"
      elseif type(f) == "number" then out[i] = line:sub(1, f)
      else out[i] = line end
    end
    return table.unpack(out, 1, fmts.n)
  end
end

-- ---- showing values ----------------------------------------------------------------------

-- The shortest decimal that reads back as v (Python's repr of a float).
local function number_repr(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
  local s
  for digits = 15, 17 do
    s = sformat("%." .. digits .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = {["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\"}
    return named[c] or sformat("\\%03d", c:byte())
  end) .. '"'
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- A value as text: strings quoted (except at the top), numbers as Python
-- prints them, plain tables as Lua constructors (a few levels, some items).
local function repr(v, depth, top)
  depth = depth or 0
  local t = type(v)
  if t == "string" then return top and v or quote(v) end
  if t == "number" then return number_repr(v) end
  local mt = getmetatable(v)
  if t ~= "table" or (mt and mt.__tostring) or depth > 3 then return tostring(v) end
  local parts, n, shown = {}, #v, 0
  for i = 1, n do
    shown = shown + 1
    if shown > 100 then parts[#parts + 1] = "..."; break end
    parts[#parts + 1] = repr(v[i], depth + 1)
  end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    shown = shown + 1
    if shown > 100 then parts[#parts + 1] = "..."; break end
    local key = is_identifier(k) and k or "[" .. repr(k, depth + 1) .. "]"
    parts[#parts + 1] = key .. " = " .. repr(v[k], depth + 1)
  end
  local one = "{" .. concat(parts, ", ") .. "}"
  if #one <= 100 or depth > 0 then return one end
  return "{\n  " .. concat(parts, ",\n  ") .. ",\n}"
end
M.repr = repr

-- The MIME bundle of a cell's values (nil: nothing to show).
local function bundle(values, from, to)
  if to < from then return nil end
  local parts = {}
  for i = from, to do parts[#parts + 1] = repr(values[i], 0, true) end
  return {["text/plain"] = concat(parts, "\t")}
end

-- ---- running cells ----------------------------------------------------------------------------

-- Copies the caller's active locals (a cell's top-level ones) to globals.
local function keep_locals()
  local i = 1
  while true do
    local name, value = debug.getlocal(2, i)
    if not name then break end
    if name:sub(1, 1) ~= "(" then rawset(_G, name, value) end
    i = i + 1
  end
end

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
            repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

-- Whether `tail` can start the last statement (an expression): not an
-- operator or bracket that would continue the line before it.
local function starts_expression(tail)
  local c = tail:match("^%s*(.)")
  if not c or not c:match("[%w_\"'{]") then return false end
  local word = tail:match("^%s*([%a_][%w_]*)")
  return not (word and KEYWORDS[word] and word ~= "not" and word ~= "nil" and
              word ~= "true" and word ~= "false" and word ~= "function")
end

-- The values of an expression list; `return f()` would be a tail call and
-- drop the cell's frame from tracebacks, `return pass(f())` keeps it.
local function pass(...) return ... end

local function is_expression(s)
  return load("return " .. s, "=expression") ~= nil
end

-- Code returning the values of expression list s (pass is the chunk's
-- second vararg; the "\n" ends a trailing comment).
local function returning(s)
  return "return ({...})[2](" .. s .. "\n)"
end

--- Compiles a cell: returns the function (to call with keep_locals and
-- pass as its `...`), or nil and the syntax error.
function M.compile(code, name)
  local quiet = code:match(";%s*$")
  if not quiet and is_expression(code) then
    local f = load(returning(code), name)
    if f then return f end
  end
  if not quiet then
    -- the last statement as an expression (it may span several lines)
    local lines = {}
    for line in (code .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
    while #lines > 1 and lines[#lines]:match("^%s*$") do lines[#lines] = nil end
    for k = #lines, math.max(2, #lines - 40), -1 do
      local head = concat(lines, "\n", 1, k - 1)
      local tail = concat(lines, "\n", k)
      local explicit = tail:match("^%s*return[%s;]") or tail:match("^%s*return$")
      if (explicit or (starts_expression(tail) and is_expression(tail))) and load(head, name) then
        local f = load(head .. "\n;(...)() " .. (explicit and tail or returning(tail)), name)
        if f then return f end
      end
    end
  end
  local base, err = load(code, name)
  if not base then return nil, err end
  return load(code .. "\n;(...)()", name) or base
end

-- The traceback of an error, without the kernel's own frames.
local function handler(e)
  local msg = type(e) == "string" and e or (getmetatable(e) and getmetatable(e).__tostring
              and tostring(e)) or sformat("(error object is a %s value)", type(e))
  local tb = debug.traceback("", 2)
  local lines = {}
  for line in tb:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local cut = #lines + 1
  for i = #lines, 1, -1 do
    if lines[i]:find("in function 'xpcall'", 1, true) then cut = i; break end
  end
  local kept = {}
  for i = 1, cut - 1 do
    if lines[i] ~= "" then kept[#kept + 1] = lines[i] end
  end
  return {msg = msg, traceback = kept}
end

local function error_result(ename, evalue, frames)
  local tb = {"\27[0;31m" .. ename .. "\27[0m: " .. evalue}
  for _, l in ipairs(frames or {}) do tb[#tb + 1] = l end
  return {status = "error", ename = ename, evalue = evalue, traceback = tb}
end

-- "KeyboardInterrupt: ..." errors (an interrupt) keep their name.
local function classify(msg)
  local rest = msg:match("^KeyboardInterrupt: (.*)")
  if rest then return "KeyboardInterrupt", rest end
  return "LuaError", msg
end

--- Runs cell `count`: {status = "ok", data = bundle|nil} or {status =
-- "error", ename, evalue, traceback}.
function M.execute(code, count)
  local f, err = M.compile(code, "=In[" .. tostring(count) .. "]")
  if not f then return error_result("SyntaxError", err) end
  local res = table.pack(xpcall(f, handler, keep_locals, pass))
  if not res[1] then
    local ename, evalue = classify(res[2].msg)
    return error_result(ename, evalue, res[2].traceback)
  end
  return {status = "ok", data = bundle(res, 2, res.n)}
end

--- A user_expressions entry: the value of `code` as a result.
function M.user_expression(code)
  local f, err = load("return " .. code, "=expression")
  if not f then return error_result("SyntaxError", err) end
  local res = table.pack(xpcall(f, handler))
  if not res[1] then return error_result(classify(res[2].msg)) end
  return {status = "ok", data = bundle(res, 2, res.n) or {["text/plain"] = "nil"},
          metadata = {}}
end

--- Whether a cell is complete: "complete", "incomplete" (with an indent
-- for the next line) or "invalid".
function M.is_complete(code)
  if code:match("^%s*$") or load("return " .. code, "=cell") then return "complete", "" end
  local f, err = load(code, "=cell")
  if f then return "complete", "" end
  if err:match("<eof>$") then
    local indent = code:match("([ \t]*)[^\n]*\n?$") or ""
    return "incomplete", indent .. "  "
  end
  return "invalid", ""
end

-- ---- names: completion --------------------------------------------------------------------------

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
        elseif name == "properties" then
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
  if type(ctor) == "function" and key == u.class_name then
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
