--- lunet.errors: every error lunet raises points at the user's line.
--
--   local E = require "lunet.errors"
--   E.raise("fit: batch_size must be ...")      -- "train.lua:12: fit: batch_size ..."
--   E.raisef("%s: unknown option '%s'", what, k)
--   local f = E.protect(fn)   -- errors inside fn (from C, from Lua itself,
--                             -- from lunet) re-pointed at the caller's line
--   E.protect_all(tbl)        -- every function field of tbl protected, in place
--
-- "The user's line" is the first Lua frame on the stack that is not in one
-- of lunet's own files (the .lua files of this folder); C frames (pcall,
-- lunet's C functions) are skipped. A message that already carries the
-- position of a user's file (an error in a callback the user wrote) is
-- left alone. LUNET_DEBUG=1 turns the re-pointing off (tracebacks then
-- show lunet's own lines).
local E = {}

local sformat = string.format
local getinfo = debug.getinfo

-- lunet's folder: "/.../lunet/" (the one this file is in).
local folder = (getinfo(1, "S").source:match("^@(.*[/\\])[^/\\]*$")) or ""
local at_folder = "@" .. folder

local function ours(source)
  return folder ~= "" and source:sub(1, #at_folder) == at_folder
end

-- Whether a short_src (as in messages, maybe cut to "...tail") names one
-- of lunet's files.
local function ours_short(src)
  local base = src:match("[^/\\]+%.lua$")
  if not base or folder == "" then return false end
  local full = folder .. base
  if src:sub(1, 3) == "..." then
    local tail = src:sub(4)
    return #tail > 0 and full:sub(-#tail) == tail
  end
  return src == full
end

--- "file:line: " of the first user frame above the caller, or "".
function E.where()
  local level = 2
  while true do
    local info = getinfo(level, "Sl")
    if not info then return "" end
    if info.what ~= "C" and not ours(info.source) then
      if info.currentline and info.currentline > 0 then
        return sformat("%s:%d: ", info.short_src, info.currentline)
      end
      return ""
    end
    level = level + 1
  end
end

--- Raise msg at the user's line.
function E.raise(msg)
  error(E.where() .. tostring(msg), 0)
end

--- Raise string.format(fmt, ...) at the user's line.
function E.raisef(fmt, ...)
  error(E.where() .. sformat(fmt, ...), 0)
end

-- Whether src (before ":line: ") names a Lua chunk: a .lua file, a chunk
-- of load(), stdin, `lunet -e`, a cut path, or an existing file (a
-- script without .lua), a Jupyter cell (In[7]). "dense/kernel:0: ..." is a
-- weight, not a chunk.
local function chunk_name(src)
  if src:find("%.lua$") or src:find("^%[string ") or src:sub(1, 3) == "..." or
     src == "stdin" or src == "(command line)" or src:find("^In%[%d+%]$") then
    return true
  end
  local f = io.open(src, "r")
  if f then f:close() end
  return f ~= nil
end

-- A leading "src:line: " of msg: src, the rest (or nil).
local function position(msg)
  local src, line, rest = msg:match("^([^\n]-):(%d+): (.*)$")
  if src and #src < 300 and tonumber(line) >= 1 and chunk_name(src) then return src, rest end
  return nil
end

--- The text of an error message without its leading "src:line: "
-- positions (to embed a caught error in another message).
function E.message(err)
  local msg = tostring(err)
  local _, rest = position(msg)
  while rest do
    msg = rest
    _, rest = position(msg)
  end
  return msg
end

--- Re-raise err (caught inside lunet) at the user's line: lunet's own
-- position is replaced (kept at the end of Lua runtime errors, which are
-- lunet's bugs), a user's position is kept, none gets the user's.
function E.rethrow(err)
  if type(err) ~= "string" then error(err, 0) end
  local msg, inner = err, nil
  local src, rest = position(msg)
  while src and ours_short(src) do
    inner = inner or src:match("[^/\\]+%.lua$") .. ":" .. msg:match("^[^\n]-:(%d+): ")
    msg = rest
    src, rest = position(msg)
  end
  if src then error(msg, 0) end -- positioned in a user's file
  if inner and (msg:find("attempt to ", 1, true) or msg:find("bad argument", 1, true)) then
    msg = sformat("%s (in lunet/%s)", msg, inner)
  end
  error(E.where() .. msg, 0)
end

local protected = setmetatable({}, {__mode = "k"})
local debugging = os.getenv("LUNET_DEBUG") ~= nil and os.getenv("LUNET_DEBUG") ~= "0"

local function finish(ok, ...)
  if ok then return ... end
  E.rethrow((...))
end

--- fn, with its errors re-pointed at the caller's line.
function E.protect(fn)
  if debugging or protected[fn] then return fn end
  local pcall = pcall
  local f = function(...) return finish(pcall(fn, ...)) end
  protected[f] = fn
  return f
end

--- The function E.protect wrapped (fn itself when it is no wrapper): what
-- tools that read a function's source and documentation should look at.
function E.unwrap(fn)
  local inner = protected[fn]
  return type(inner) == "function" and inner or fn
end

--- Protect every function field of tbl (in place); returns tbl. Fields
-- named in `skip` (a set) are left as they are.
function E.protect_all(tbl, skip)
  for k, v in pairs(tbl) do
    if type(v) == "function" and not (skip and skip[k]) then tbl[k] = E.protect(v) end
  end
  return tbl
end

--- The closest of `names` to `name` (edit distance counting a swap of two
-- neighbours as one edit, case-insensitive; ties go to a name inside the
-- other, then the same length, then the same case), if close enough to be
-- a likely typo.
function E.closest(name, names)
  local function distance(a, b)
    local d = {}
    for i = 0, #a do d[i] = {[0] = i} end
    for j = 0, #b do d[0][j] = j end
    for i = 1, #a do
      for j = 1, #b do
        local cost = a:byte(i) == b:byte(j) and 0 or 1
        local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
        if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
          v = math.min(v, d[i - 2][j - 2] + 1)
        end
        d[i][j] = v
      end
    end
    return d[#a][#b]
  end
  local s = tostring(name)
  local a = s:lower()
  local best, key
  for _, cand in ipairs(names) do
    local c = tostring(cand)
    local cl = c:lower()
    local inside = (a:find(cl, 1, true) or cl:find(a, 1, true)) and 0 or 1
    local k = {distance(a, cl), inside, math.abs(#c - #s), distance(s, c)}
    local better = not key
    for i = 1, #k do
      if better or k[i] ~= key[i] then better = better or k[i] < key[i]; break end
    end
    if better then best, key = cand, k end
  end
  if best and key[1] <= math.max(2, #a // 3) then return best end
  return nil
end

return E
