--- lunet.sample_weights: Keras 2's sample_weight and class_weight of fit
-- and evaluate, checked and folded into one float32 weight vector per
-- output (the net then weighs each sample's loss: sum(w * loss) / batch
-- size, Keras's SUM_OVER_BATCH_SIZE; metrics stay unweighted as Keras 2's
-- compiled `metrics`).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"

local M = {}
local sformat = string.format

-- One weights vector (a tensor of n or (n, 1) values, or a list of numbers)
-- as a Lua list, checked.
local function vector(what, w, n)
  local vals
  if registry.is_tensor(w) then
    local s = w:shape()
    if not (#s == 1 or (#s == 2 and s[2] == 1)) then
      E.raisef("%s must be a vector of one weight per sample, got shape %s", what,
               registry.full_shape_str(s))
    end
    vals = w:reshape({s[1]}):totable()
  elseif type(w) == "table" then
    vals = w
  else
    E.raisef("%s must be a tensor or a list of numbers, got %s", what, type(w))
  end
  if #vals ~= n then E.raisef("%s has %d weights for %d samples", what, #vals, n) end
  for i = 1, n do
    local v = vals[i]
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      E.raisef("%s: weight %d is %s (weights must be finite numbers >= 0)", what, i,
               tostring(v))
    end
  end
  return vals
end

-- class_weight {[0] = w0, [1] = w1, ...} checked: keys 0 .. m-1, as Keras's.
local function class_table(what, cw)
  if type(cw) ~= "table" then E.raisef("%s must be a table {[class] = weight}", what) end
  local m = 0
  for k, v in pairs(cw) do
    if math.type(k) ~= "integer" or k < 0 then
      E.raisef("%s: key %s is not a class index (integers from 0)", what, tostring(k))
    end
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      E.raisef("%s: the weight of class %d is %s (must be finite and >= 0)", what, k,
               tostring(v))
    end
    m = m + 1
  end
  if m == 0 then E.raisef("%s is empty (give {[class] = weight, ...})", what) end
  for k = 0, m - 1 do
    if cw[k] == nil then
      E.raisef("%s: the keys must be the classes 0 to %d without gaps; class %d is missing",
               what, m - 1, k)
    end
  end
  return m
end

-- The class of every sample of y: y's value (n or (n, 1)) or its argmax.
local function labels(what, y, n)
  local s = y:shape()
  if #s == 1 or (#s == 2 and s[2] == 1) then return y:reshape({n}):totable(), false end
  if #s ~= 2 then
    E.raisef("%s is supported for targets of shape (n), (n, 1) or one-hot (n, classes), " ..
             "got %s", what, registry.full_shape_str(s))
  end
  local l = y:float():argmax(2):totable()
  for i = 1, n do l[i] = l[i] - 1 end
  return l, s[2]
end

-- The per-output weights as tensors (nil: unweighted), from opts'
-- sample_weight and class_weight. ys: the targets in output order; names:
-- the output names; where: "fit" or "evaluate".
function M.resolve(where, sw, cw, ys, names, n)
  local nout = #names
  local lists = {}
  if sw ~= nil then
    local what = where .. ": sample_weight"
    local per = {}
    if type(sw) == "table" and not registry.is_tensor(sw) and next(sw) ~= nil and
       type(sw[1]) ~= "number" then
      if sw[1] ~= nil then -- a list, one entry per output
        if #sw ~= nout then
          E.raisef("%s: the model has %d outputs (%s), got a list of %d", what, nout,
                   table.concat(names, ", "), #sw)
        end
        for k = 1, nout do per[k] = sw[k] end
      else -- keyed by output name
        local known = {}
        for k, name in ipairs(names) do known[name] = k end
        for key, v in pairs(sw) do
          if not known[key] then
            E.raisef("%s: the model has no output named '%s' (its outputs: %s)", what,
                     tostring(key), table.concat(names, ", "))
          end
          per[known[key]] = v
        end
      end
      for k = 1, nout do
        if per[k] ~= nil then
          lists[k] = vector(nout > 1 and sformat("%s of output '%s'", what, names[k]) or what,
                            per[k], n)
        end
      end
    else -- one vector for every output
      local v = vector(what, sw, n)
      for k = 1, nout do lists[k] = v end
    end
  end
  if cw ~= nil then
    local what = where .. ": class_weight"
    if nout ~= 1 then
      E.raisef("%s is only supported for models with one output (this one has %d: give " ..
               "sample_weight per output instead)", what, nout)
    end
    local m = class_table(what, cw)
    local l, classes = labels(what, ys[1], n)
    if classes and m > classes then
      E.raisef("%s has %d classes (0 to %d) but the targets have %d", what, m, m - 1, classes)
    end
    local base, w = lists[1], {}
    for i = 1, n do
      local c = l[i]
      if math.type(c) ~= "integer" and c == math.floor(c) then c = math.tointeger(c) end
      local cwv = c and cw[c]
      if cwv == nil then
        E.raisef("%s: sample %d has label %s, which has no weight (classes 0 to %d)", what,
                 i, tostring(l[i]), m - 1)
      end
      w[i] = base and base[i] * cwv or cwv
    end
    lists[1] = w
  end
  local out = {}
  for k = 1, nout do
    if lists[k] then out[k] = core.tensor(lists[k]) end
  end
  return out
end

-- Set the weights on net (outputs 1..nout; nil entries clear); returns a
-- to-be-closed value that clears them all again.
function M.apply(net, weights, nout)
  for k = 1, nout do net:set_sample_weight(k, weights[k]) end
  return setmetatable({}, {__close = function()
    for k = 1, nout do net:set_sample_weight(k, nil) end
  end})
end

return M
