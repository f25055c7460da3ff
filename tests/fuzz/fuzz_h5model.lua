--[[ fuzz_h5model.lua -- the Lua half of fuzz_h5model.c: the model-file
loader (lunet/saving.lua over core/h5/h5file*.c and core/h5/json.c) fed hostile
input. fuzz_h5model.c calls the returned function once per input:

  run(mode, bytes, path, dir)
    mode 0: bytes are a model JSON text -> ln.models.model_from_json
    mode 1: bytes are a whole file (already written at `path`) ->
            ln.models.load_model(path), and model:load_weights(path) into a
            fixed small model
    mode 2: bytes describe a well-formed HDF5 file part by part (below); it
            is written under `dir` and loaded as in mode 1

Mode 2 text, parts separated by lines "--":
  model_config text | training_config text ("" = none) |
  lunet_units, comma-separated ("" = none) |
  then one part per layer group: "name|weight1,weight2|2x3;3" (shapes of
  the weight datasets, "" for a scalar) | and a last optional part
  "optimizer|name1,name2|;2x3" for /optimizer_weights.

Invariants (a failure raises "INVARIANT: ..." and the harness aborts):
  - every refusal is a string starting with the function's name
    ("load_model: ");
  - a failed load_weights leaves the fixed model's weights bitwise as they
    were;
  - no tensor outlives the input (checked in C).
Findings (fuzz_finding: fatal in strict mode, noted in lenient mode):
  - a refusal that is not a clean message: a Lua source position, or
    "attempt to ..." from a bug in the loader;
  - a loaded model whose JSON (to_json) does not build the same model
    again, or that cannot predict.
Configs that would build big layers (a number above 4096) are skipped:
allocating what a config asks for is not a bug of the loader. ]]
local ln = require "lunet"
local h5 = require "lunet.h5"
local files = h5.files

local MAX_NUMBER = 4096
local verbose = os.getenv("FUZZ_VERBOSE") ~= nil

-- With FUZZ_VERBOSE set, one line per outcome on stderr.
local function note(fmt, ...)
  if verbose then io.stderr:write("  h5model: ", string.format(fmt, ...), "\n") end
end
local null = h5.json_null

local function inv(cond, fmt, ...)
  if not cond then error("INVARIANT: " .. string.format(fmt, ...), 0) end
end

-- A finding that is not a crash (fuzz_finding in C: fatal in strict mode,
-- noted once per key in lenient mode). The key drops numbers and paths.
local function finding(kind, msg)
  local where = msg:match("([%w_]+%.lua:%d+):") or ""
  fuzz_finding(kind .. " " .. where, msg)
end

-- A refusal must name the function and read as a message, not a crash of
-- the Lua code. It starts with the position of the call (this file's line:
-- lunet's errors point at their caller).
local function check_refusal(what, err)
  inv(type(err) == "string", "%s raised a %s, not a message", what, type(err))
  local at = err:match("^[^\n]-fuzz_h5model%.lua:%d+: ")
  inv(at ~= nil, "%s: the message does not start with the caller's position: %s", what, err)
  err = err:sub(#at + 1)
  inv(err:sub(1, #what + 2) == what .. ": ", "%s: the message lacks the prefix: %s",
      what, err)
  if err:find("attempt to ") or err:find("stack traceback") then
    finding("lua-runtime-error", string.format("%s: a Lua runtime error (a bug in the loader): %s", what, err))
  elseif err:find("%.lua:%d+:") then
    finding("lua-position", string.format("%s: a Lua source position in the message: %s", what, err))
  end
end

-- Are all numbers in a decoded JSON value modest?
local function modest(v, depth)
  depth = depth or 0
  if depth > 64 then return false end
  if type(v) == "number" then return v == v and math.abs(v) <= MAX_NUMBER end
  if type(v) == "table" then
    for k, x in pairs(v) do
      if not modest(k, depth + 1) or not modest(x, depth + 1) then return false end
    end
  end
  return true
end

local function modest_text(text)
  local ok, v = pcall(h5.json_decode, text)
  return not ok or modest(v)
end

-- The fixed model that load_weights writes into (made once, at load).
local fixed = ln.Sequential{
  ln.layers.Dense{3, input_shape = {4}, name = "fixed_dense"},
  ln.layers.BatchNormalization{name = "fixed_bn"},
  ln.layers.Dense{2, activation = "softmax", name = "fixed_out"},
}
local function fixed_model() return fixed end

local function snapshot(model)
  local s = {}
  for i, w in ipairs(model:get_weights()) do
    s[i] = table.concat(w:flatten():totable(), ",")
  end
  return table.concat(s, ";")
end

-- What a loaded model must allow: to_json, rebuilding from it, predict.
local function exercise(model)
  local json = model:to_json()
  local ok, again = pcall(ln.models.model_from_json, json)
  if not ok then
    finding("json-refused", "a loaded model's own JSON is refused: " .. tostring(again))
    return
  end
  local json2 = again:to_json()
  if json2 ~= json then
    finding("json-changed", string.format("the JSON changes on a round trip:\n%s\n%s", json, json2))
  end
  if model:_is_built() then
    local shape = {2}
    for _, d in ipairs(model.input_shape) do shape[#shape + 1] = d end
    local n = 1
    for _, d in ipairs(shape) do n = n * d end
    if n <= 65536 then
      local okp, y = pcall(model.predict, model, ln.zeros(shape), {verbose = 0})
      if not okp then
        finding("predict-failed", "a loaded model cannot predict: " .. tostring(y))
      else
        inv(y:size(1) == 2, "predict gave %d rows for 2", y:size(1))
      end
    end
  end
end

local function load_file(path)
  -- skip configs that ask for big layers (see above)
  local ok, f = pcall(files.h5_open, path)
  if ok then
    local ok2, text = pcall(f.attr_string, f, "/", "model_config")
    f:close()
    if ok2 and text and not modest_text(text) then return end
  end
  local okm, model = pcall(ln.models.load_model, path)
  note("load_model: %s", okm and "loaded" or tostring(model))
  if okm then exercise(model) else check_refusal("load_model", model) end

  local m = fixed_model()
  local before = snapshot(m)
  local okw, err = pcall(m.load_weights, m, path)
  note("load_weights: %s", okw and "loaded" or tostring(err))
  if not okw then
    check_refusal("load_weights", err)
    inv(snapshot(m) == before, "a failed load_weights changed the model's weights")
  end
end

-- ---- mode 2: a file from parts ---------------------------------------------------------

local function split(s, sep)
  local out, at = {}, 1
  while true do
    local i, j = s:find(sep, at, true)
    if not i then out[#out + 1] = s:sub(at); return out end
    out[#out + 1] = s:sub(at, i - 1)
    at = j + 1
  end
end

local function list(s)
  if s == nil or s == "" then return {} end
  return split(s, ",")
end

-- "2x3" -> {2, 3}; nil when not a modest shape
local function shape_of(s)
  local shape, n = {}, 1
  if s == "" then return shape end
  for d in s:gmatch("[^x]+") do
    local v = math.tointeger(tonumber(d))
    if not v or v < 0 or v > 64 or #shape == 4 then return nil end
    shape[#shape + 1] = v
    n = n * v
  end
  return n <= 4096 and shape or nil
end

local function write_parts(bytes, path)
  local parts = split(bytes, "\n--\n")
  local f = files.h5_create(path)
  local ok, err = pcall(function()
    local mc, tc = parts[1] or "", parts[2] or ""
    if mc ~= "" then f:set_attr("/", "model_config", mc) end
    if tc ~= "" then f:set_attr("/", "training_config", tc) end
    if parts[3] and parts[3] ~= "" then f:set_attr("/", "lunet_units", list(parts[3])) end
    local names = {}
    f:group("model_weights")
    for i = 4, #parts do
      local p = split(parts[i], "|")
      local name, wn, shapes = p[1] or "", list(p[2]), split(p[3] or "", ";")
      local root = name == "optimizer" and "optimizer_weights" or ("model_weights/" .. name)
      if name ~= "optimizer" then names[#names + 1] = name end
      f:group(root)
      f:set_attr(root, "weight_names", wn)
      for j, w in ipairs(wn) do
        local shape = shape_of(shapes[j] or "")
        if shape and w ~= "" then
          local where = root .. "/" .. w
          if name == "optimizer" and j == 1 then f:write_int64(where, 3)
          else f:write(where, ln.zeros(shape) + j) end
        end
      end
    end
    f:set_attr("model_weights", "layer_names", names)
  end)
  if not ok then
    f:close()
    return false, err
  end
  f:commit()
  return true
end

return function(mode, bytes, path, dir)
  if mode == 0 then
    if not modest_text(bytes) then return end
    local ok, model = pcall(ln.models.model_from_json, bytes)
    note("model_from_json: %s", ok and "built" or tostring(model))
    if ok then exercise(model) else check_refusal("model_from_json", model) end
  elseif mode == 1 then
    load_file(path)
  else
    local target = dir .. "/parts.h5"
    -- names the writer refuses (a "/" or "." inside) are not the loader's
    -- business: such inputs stop here
    os.remove(target)
    local ok, written = pcall(write_parts, bytes, target)
    note("parts: %s", ok and (written and "written" or "refused by the writer") or tostring(written))
    if ok and written then load_file(target) end
  end
  ln.backend.clear_session()
end
