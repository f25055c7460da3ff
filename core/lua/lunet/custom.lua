--- lunet.custom: what makes Lua-written units savable -- the name of a
-- Lua function (Keras saves a function by its __name__) and the lookup of
-- custom_objects when a model file is read.
local E = require "lunet.errors"

local M = {}

local names = setmetatable({}, {__mode = "k"}) -- function -> a name given

-- "@/.../lunet/": the source prefix of lunet's own files (skipped).
local ours = "@" .. ((debug.getinfo(1, "S").source:match("^@(.*[/\\])[^/\\]*$")) or "\0")

--- Names function fn (the name a saved model refers to it by).
function M.name_function(fn, name)
  names[fn] = name
  return fn
end

--- The name of a Lua function: one given by name_function, else the name
-- of a local or global variable holding it in a calling frame (the user's
-- `local function huber_fn`), else nil.
function M.function_name(fn)
  if names[fn] then return names[fn] end
  for level = 2, 40 do
    local info = debug.getinfo(level, "S")
    if not info then break end
    for i = 1, info.source:sub(1, #ours) == ours and 0 or 250 do
      local k, v = debug.getlocal(level, i)
      if k == nil then break end
      if v == fn and k:sub(1, 1) ~= "(" then names[fn] = k; return k end
    end
  end
  for k, v in pairs(_G) do
    if v == fn and type(k) == "string" then names[fn] = k; return k end
  end
  return nil
end

--- custom_objects[name], or an error naming what is missing and how to
-- give it (kind: "layer class", "loss", ...).
function M.need(custom, name, kind, where)
  local v = custom and custom[name]
  if v == nil then
    E.raisef("%s: the model uses the %s '%s', written in Lua: pass it to load_model as " ..
             "{custom_objects = {%s = ...}}", where, kind, tostring(name), tostring(name))
  end
  return v
end

return M
