--- lunet.saving_state: the optimizer's state in model files (the
-- /optimizer_weights group; used by lunet.saving, see docs/model-files.md).
--
-- Writing: the state of the model's own trainable variables, in Keras's
-- get_weights order -- the iteration count (int64), the optimizer-wide
-- values, then slot 1 of every variable, slot 2, ... A fresh optimizer's
-- slots are written at their initial values, an optimizer shared with
-- another model gives this model's share only: whatever is written loads.
--
-- Reading: a lunet file or a tf.keras (>= 2.4) file must hold exactly that
-- layout; anything else (a missing or extra value, a wrong shape, a
-- negative or fractional iteration count) is refused, naming the file and
-- the dataset. Files of Keras <= 2.3 stored the state differently; what
-- maps is mapped, silently when exact:
--   - no iteration count (RMSprop, Adagrad, Adadelta of Keras <= 2.2):
--     it restarts at 0, as Keras itself does;
--   - Adam's extra `vhat` values (one (1,) array per variable) when
--     amsgrad is off: dropped;
--   - SGD's momentum slots at momentum 0: dropped;
--   - no optimizer-wide values (Nadam's m_schedule in Keras 2.2): their
--     initial values, with a warning, as Keras does;
-- anything else gets one warning on stderr naming the file, and the
-- optimizer starts fresh (as Keras does): the weights always load.
local E = require "lunet.errors"
local core = require "lunet.core"
local optimizers = require "lunet.optimizers"

local sformat = string.format
local M = {}

local GROUP = "optimizer_weights"

-- The one warning of a state that cannot be restored.
local function warn_fresh(path, why)
  io.stderr:write(sformat("WARNING: load_model: %s: the optimizer state cannot be restored " ..
                          "(%s); the optimizer starts fresh\n", path, why))
end

-- ---- writing ------------------------------------------------------------------------------

-- Every weight of an optimizer that is not lunet's own (a user object
-- with get_weights and variables): {names, tensors}, or nil.
local function foreign_state(opt)
  if type(opt.get_weights) ~= "function" or type(opt.variables) ~= "function" then
    return nil
  end
  local vars, weights = opt:variables(), opt:get_weights()
  if #weights == 0 then return nil end
  local names = {}
  for i, v in ipairs(vars) do names[i] = type(v) == "string" and v or v.name end
  if #names ~= #weights then
    E.raisef("the optimizer lists %d variables but %d values", #names, #weights)
  end
  return {names = names, values = weights,
          iterations = math.tointeger(weights[1]:item()) or 0}
end

--- Write the optimizer state of `model` (compiled) into the open file f.
function M.write(f, model)
  local opt = rawget(model, "_optimizer")
  if not rawget(model, "_compiled") or not opt then return end
  local st
  if optimizers.has_state(opt) then st = optimizers.state_for(opt, model:grads_and_vars())
  else st = foreign_state(opt) end
  if not st then return end
  f:group(GROUP)
  f:set_attr(GROUP, "weight_names", st.names)
  for i, n in ipairs(st.names) do
    local p = GROUP .. "/" .. n
    if i == 1 then f:write_int64(p, st.iterations) -- Keras: an int64 scalar
    else f:write(p, st.values[i]) end
  end
end

-- ---- reading ------------------------------------------------------------------------------

local function numel(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function shape_str(s)
  local parts = {}
  for i, d in ipairs(s) do parts[i] = tostring(d) end
  return "(" .. table.concat(parts, ", ") .. (#s == 1 and ",)" or ")")
end

-- Does the list of items ({path, shape}) fit the expected layout exactly?
-- nil if so, else why not (naming the dataset).
local function misfit(items, want)
  if #items ~= #want.shapes then
    return sformat("the file holds %d values, the optimizer for this model has %d " ..
                   "(the iteration count, %d optimizer-wide value(s), %d slot(s) x %d " ..
                   "variable(s))", #items, #want.shapes, want.nglobals, #want.slot_names,
                   want.nvars)
  end
  for i, it in ipairs(items) do
    local ws = want.shapes[i]
    local ok
    if #ws == 0 then ok = numel(it.shape) == 1 else ok = same_shape(it.shape, ws) end
    if not ok then
      return sformat("dataset '%s' has shape %s, expected %s (%s)", it.path,
                     shape_str(it.shape), #ws == 0 and "a scalar" or shape_str(ws),
                     want.names[i])
    end
  end
  return nil
end

-- Keras <= 2.3's layouts, by the Keras class that wrote them (facts of
-- the old file format, see the header).
local NO_COUNT = {RMSprop = true, Adagrad = true, Adadelta = true}

-- Older layouts mapped onto the expected one: the new item list (virtual
-- items carry `value`) and a warning (or nil when exact), or nil. strict:
-- only lunet's own older layout (below) is mapped.
local function map_legacy(items, want, opt, strict)
  local cls = opt.class_name
  local n, g, s = want.nvars, want.nglobals, #want.slot_names
  local expected = 1 + g + s * n
  local scalar = function(it) return numel(it.shape) == 1 end
  -- lunet before 0.1.1 wrote a fresh optimizer's state without its slots
  -- (none existed yet): they are the initial ones, exactly
  if s * n > 0 and #items == 1 + g then
    for i = 1, #items do if not scalar(items[i]) then return nil end end
    local r = table.move(items, 1, #items, 1, {})
    for k = #items + 1, expected do
      r[k] = {path = "(fresh " .. want.names[k] .. ")", shape = want.shapes[k],
              tensor = want.values[k]}
    end
    return r, nil
  end
  if strict then return nil end
  -- no iteration count (RMSprop, Adagrad, Adadelta of Keras <= 2.2)
  if NO_COUNT[cls] and #items == expected - 1 and g == 0 and s > 0 and not scalar(items[1]) then
    local r = {{path = "(iterations)", shape = {}, value = 0}}
    for i, it in ipairs(items) do r[i + 1] = it end
    local cfg = opt:get_config()
    local timed = (tonumber(cfg.decay) or 0) ~= 0 or type(cfg.learning_rate) == "table"
    return r, timed and "the file has no iteration count (Keras <= 2.2); it restarts at 0, " ..
                        "which changes the decayed or scheduled learning rate" or nil
  end
  -- no optimizer-wide values (Nadam's m_schedule in Keras 2.2)
  if cls == "Nadam" and g > 0 and #items == expected - g and scalar(items[1]) then
    local parts, r = opt:_state_parts(), {items[1]}
    for k = 1, g do r[#r + 1] = {path = "(" .. parts.globals[k][1] .. ")", shape = {},
                                  value = parts.globals[k][2]} end
    for i = 2, #items do r[#r + 1] = items[i] end
    return r, "the file has no " .. parts.globals[1][1] .. " (Keras <= 2.2); it restarts " ..
              "at its initial value, as Keras does"
  end
  -- Adam's vhat values when amsgrad is off: one (1,) array per variable
  if cls == "Adam" and n > 0 and #items == expected + n then
    local tail = true
    for i = expected + 1, #items do
      if not same_shape(items[i].shape, {1}) then tail = false end
    end
    if tail then return table.move(items, 1, expected, 1, {}), nil end
  end
  -- SGD's momentum slots at momentum 0 (Keras's moments, shaped like the
  -- variables)
  if cls == "SGD" and s == 0 and n > 0 and #items == expected + n then
    for i = 1, n do
      if not same_shape(items[expected + i].shape, want.var_shapes[i]) then return nil end
    end
    return table.move(items, 1, expected, 1, {}), nil
  end
  return nil
end

--- Restore the optimizer state of `model` (just compiled from the file's
-- training_config) from the open file f. strict: the file is lunet's or
-- tf.keras's current layout (damage refused); otherwise Keras <= 2.3
-- layouts are mapped, else a warning and a fresh optimizer.
function M.read(f, model, path, strict, fail)
  if f:kind(GROUP) ~= "group" then return end
  local names = f:attr_strings(GROUP, "weight_names")
  if not names or #names == 0 then return end
  local opt = model.optimizer
  if not optimizers.has_state(opt) then
    fail("the optimizer %s cannot take saved state", tostring(opt))
  end
  local pairs_ = model:grads_and_vars()
  local want = optimizers.state_for(opt, pairs_)
  local items = {}
  for i, nm in ipairs(names) do
    local p = GROUP .. "/" .. nm
    if f:kind(p) ~= "dataset" then
      fail("optimizer state: weight_names lists '%s' but there is no dataset '%s'", nm, p)
    end
    items[i] = {path = p, shape = f:shape(p)}
  end
  local why, note = misfit(items, want), nil
  if why then
    local mapped
    mapped, note = map_legacy(items, want, opt, strict)
    if not mapped then
      if strict then fail("optimizer state: %s", why) end
      warn_fresh(path, why)
      return
    end
    items = mapped
    local why2 = misfit(items, want)
    if why2 then
      warn_fresh(path, why2)
      return
    end
  end
  -- the values: the iteration count must be a whole number >= 0
  local first = items[1]
  local iterations = first.value
  if iterations == nil then
    local ok, v = pcall(f.read_int, f, first.path)
    if not ok or v < 0 then
      local msg = ok and sformat("dataset '%s' holds the iteration count %d, which is negative",
                                 first.path, v)
                  or tostring(v):gsub("^[^\n]-:%d+: ", "")
      if strict then fail("optimizer state: %s", msg) end
      warn_fresh(path, msg)
      return
    end
    iterations = v
  end
  local values = {}
  for i = 2, #items do
    local it = items[i]
    if it.tensor then values[i] = it.tensor
    elseif it.value ~= nil then values[i] = core.tensor(it.value)
    else values[i] = f:read(it.path) end
  end
  optimizers.set_state_for(opt, pairs_, iterations, values)
  if note then
    io.stderr:write(sformat("WARNING: load_model: %s: %s\n", path, note))
  end
end

return M
