--- lunet.jupyter: the Lua half of the Jupyter kernel (lunet-kernel, whose C
-- half in core/jupyter speaks the protocol). It runs cells, completes
-- names and describes values; it is not meant to be called from a cell.
--
-- Completion and inspection live in lunet.jupyter_names.
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
M.is_identifier = is_identifier

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
M.KEYWORDS = KEYWORDS

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

-- "KeyboardInterrupt: ..." errors (an interrupt) keep their name, with
-- or without the position of the line they were raised at.
local function classify(msg)
  local rest = msg:match("^KeyboardInterrupt: (.*)")
    or msg:match("^[^\n]-:%d+: KeyboardInterrupt: (.*)")
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

-- ---- names (lunet.jupyter_names, loaded on the first request) -------------------------------

--- Completions at byte offset `cursor` of `code`: the matches and the byte
-- range [from, to) they replace.
function M.complete(code, cursor)
  return require("lunet.jupyter_names").complete(code, cursor)
end

--- A description of the value named at the cursor (Shift+Tab), or nil.
function M.inspect(code, cursor, detail)
  return require("lunet.jupyter_names").inspect(code, cursor, detail)
end

return M
