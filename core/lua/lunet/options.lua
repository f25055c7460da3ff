--- lunet.options: checks of the options users give (keyword tables of
-- fit, compile, callbacks, ...). Each raises at the user's line, naming
-- the function and the option: "EarlyStopping: min_delta must be a finite
-- number, got nan".
--
--   local O = require "lunet.options"
--   O.number(what, key, v, {min = 0, max = 1, max_open = true})  -> v
--   O.integer(what, key, v, min [, max])       -> v as an integer (2.0 -> 2)
--   O.boolean(what, key, v)                    -> v
--   O.string(what, key, v [, {"a", "b"}])      -> v
--   O.verbose(what, v [, default])             -> 0, 1 or 2
-- A nil v is returned as is: callers apply their defaults first.
local E = require "lunet.errors"

local O = {}
local sformat = string.format

-- "nan", "inf", "2.5", "'x'", "a table" for messages.
local function show(v)
  if type(v) == "number" then
    if v ~= v then return "nan" end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    return tostring(v)
  end
  if type(v) == "string" then return sformat("'%s' (a string)", v) end
  if v == nil then return "nil" end
  return "a " .. type(v)
end
O.show = show

--- A real number (never NaN); spec: min, max (bounds, inclusive unless
-- min_open / max_open), finite (default true).
function O.number(what, key, v, spec)
  if v == nil then return nil end
  spec = spec or {}
  local ok = type(v) == "number" and v == v
  if ok and spec.finite ~= false then ok = v ~= math.huge and v ~= -math.huge end
  if ok and spec.min then ok = spec.min_open and v > spec.min or (not spec.min_open and v >= spec.min) end
  if ok and spec.max then ok = spec.max_open and v < spec.max or (not spec.max_open and v <= spec.max) end
  if not ok then
    local range = ""
    if spec.min and spec.max then
      range = sformat(" in %s%s, %s%s", spec.min_open and "(" or "[", tostring(spec.min),
                      tostring(spec.max), spec.max_open and ")" or "]")
    elseif spec.min then
      range = sformat(" %s %s", spec.min_open and ">" or ">=", tostring(spec.min))
    elseif spec.max then
      range = sformat(" %s %s", spec.max_open and "<" or "<=", tostring(spec.max))
    end
    E.raisef("%s: %s must be a %snumber%s, got %s", what, key,
             spec.finite ~= false and "finite " or "", range, show(v))
  end
  return v
end

--- An integer >= min (and <= max); a float with an integral value is
-- taken (2.0 -> 2).
function O.integer(what, key, v, min, max)
  if v == nil then return nil end
  local n = math.type(v) == "integer" and v or (type(v) == "number" and math.tointeger(v))
  if not n or (min and n < min) or (max and n > max) then
    local range = min and max and sformat(" in [%d, %d]", min, max) or
                  min and sformat(" >= %d", min) or ""
    E.raisef("%s: %s must be an integer%s, got %s", what, key, range, show(v))
  end
  return n
end

function O.boolean(what, key, v)
  if v ~= nil and type(v) ~= "boolean" then
    E.raisef("%s: %s must be true or false, got %s", what, key, show(v))
  end
  return v
end

--- A string (one of `choices` when given).
function O.string(what, key, v, choices)
  if v == nil then return nil end
  if type(v) ~= "string" then E.raisef("%s: %s must be a string, got %s", what, key, show(v)) end
  if choices then
    for _, c in ipairs(choices) do if c == v then return v end end
    E.raisef("%s: %s must be one of %s, got '%s'", what, key,
             "'" .. table.concat(choices, "', '") .. "'", v)
  end
  return v
end

--- A function (or a callable table).
function O.callable(what, key, v)
  if v == nil then return nil end
  local mt = getmetatable(v)
  if type(v) ~= "function" and not (mt and mt.__call) then
    E.raisef("%s: %s must be a function, got %s", what, key, show(v))
  end
  return v
end

--- Keras's verbose: 0/false silent, 1/true/"auto" a progress bar, 2 one
-- line per epoch.
function O.verbose(what, v, default)
  if v == nil then v = default end
  if v == true or v == "auto" then return 1 end
  if v == false then return 0 end
  local n = type(v) == "number" and math.tointeger(v)
  if n ~= 0 and n ~= 1 and n ~= 2 then
    E.raisef("%s: verbose must be 0, 1, 2, true, false or 'auto', got %s", what, show(v))
  end
  return n
end

--- Refuse keys of t that are not in `known` (a set), listing the known ones.
function O.keys(what, t, known, noun)
  for k in pairs(t) do
    if type(k) ~= "string" or not known[k] then
      local names = {}
      for name in pairs(known) do names[#names + 1] = name end
      table.sort(names)
      local close = type(k) == "string" and E.closest(k, names)
      E.raisef("%s: unknown %s '%s' (known: %s)%s", what, noun or "keyword argument",
               tostring(k), table.concat(names, ", "),
               close and sformat("; did you mean '%s'?", close) or "")
    end
  end
  return t
end

return O
