--- lunet.functional_tape: functional models with a unit written in Lua (a
-- layer, a loss, a metric, an add_loss term), or called inside a gradient
-- tape, run node by node through the tape -- the C graph engine keeps the
-- models made of C units only.
--
-- run(model, xs, opts) applies the graph's nodes in their topological
-- order to real tensors: each layer is called as a user would call it
-- (a C layer is one tape node whose backward is its own, a Lua layer is
-- recorded operation by operation), so gradients are summed where a tensor
-- feeds several layers by the tape itself, in a fixed order.
--
-- new(model, outputs, vars, cons) is the batch runner fit, evaluate and
-- predict use (lunet.engine_tape's Net with lists of inputs and targets,
-- per-output losses, loss weights and metrics as compile gave them).
local E = require "lunet.errors"
local registry = require "lunet.registry"
local autograd = require "lunet.autograd"
local tape_engine = require "lunet.engine_tape"

local is_tensor = registry.is_tensor
local sformat = string.format
local M = {}

local function number(v)
  if is_tensor(v) then return v:item() end
  return v
end

-- "dense_1 (Dense)" for messages.
local function who(layer)
  return sformat("%s (%s)", layer.name, layer.class_name)
end

--- The outputs (a list) of model's graph applied to the list of tensors xs
-- (checked by the caller). opts: {training = true} or nil.
function M.run(model, xs, opts)
  local g = model._graph
  local L = package.loaded["lunet.custom_layers"]
  local map = {}
  for i, t in ipairs(g.inputs) do map[t] = xs[i] end
  local shared -- Lua layers called more than once: their add_loss terms of every call
  local function run_node(node)
    local args = {}
    for i, t in ipairs(node.inputs) do args[i] = map[t] end
    local layer = node.layer
    local ok, out = pcall(layer, #args == 1 and args[1] or args, opts)
    if not ok then
      local msg = tostring(out)
      if not E.message(msg):find(layer.name, 1, true) then
        msg = sformat("layer %s: %s", who(layer), msg) -- (a user's position kept inside)
      end
      error(msg, 0)
    end
    local outs = is_tensor(out) and {out} or out
    if type(outs) ~= "table" or #outs ~= #node.outputs then
      E.raisef("layer %s returned %d outputs, the graph expects %d", who(layer),
               type(outs) == "table" and #outs or 0, #node.outputs)
    end
    for j, t in ipairs(node.outputs) do
      if not is_tensor(outs[j]) then
        E.raisef("layer %s: output %d is a %s, not a tensor", who(layer), j, type(outs[j]))
      end
      map[t] = outs[j]
    end
    if L and L.is_lua_layer(layer) and #(rawget(layer, "_nodes") or {}) > 1 then
      shared = shared or {}
      local acc = shared[layer] or {}
      for _, v in ipairs(rawget(layer, "_losses")) do acc[#acc + 1] = v end
      shared[layer] = acc
    end
  end
  for _, node in ipairs(g.nodes) do run_node(node) end
  -- the nodes only symbolic add_loss terms need
  for _, node in ipairs(rawget(model, "_loss_nodes") or {}) do run_node(node) end
  for layer, acc in pairs(shared or {}) do rawset(layer, "_losses", acc) end
  local r = {}
  for k, t in ipairs(g.outputs) do r[k] = map[t] end
  return r, map
end

-- ---- the batch runner --------------------------------------------------------------------------

local Net = setmetatable({}, {__index = tape_engine.Net})
Net.__index = Net
M.Net = Net

--- A runner for functional `model`: outputs is compile's per-output list
-- ({loss, weight, metrics} each; nil for predict), vars the trainable
-- variables, cons the weights' constraints.
function M.new(model, outputs, vars, cons)
  local self = tape_engine.base(model, nil, {}, vars, cons)
  self.outs = outputs or {}
  self.out_total = {}
  self.nout = #model:_outputs_info().names
  return setmetatable(self, Net)
end

-- The outputs (a list) of the model on a batch, and the graph's tensor
-- values (add_loss of symbolic tensors); a subclassed model with several
-- outputs runs its call.
function Net:outputs(xb, opts)
  local model = self.model
  if rawget(model, "_sub") then
    return model:_run(xb, opts and opts.training), {}
  end
  return M.run(model, xb, opts)
end

-- Rows [start, start + n) of every tensor of a list (holes kept).
local function slice(list, count, pick)
  local r = {}
  for k = 1, count do
    if list[k] ~= nil then r[k] = pick(list[k]) end
  end
  return r
end

function Net:rows(xs, ys, index, start, n)
  local nout = self.nout
  local pick = tape_engine.picker(self, index, start, n)
  local xb
  if is_tensor(xs) then -- (a subclassed model's one input)
    xb = tape_engine.as_float(pick(xs))
  else
    xb = slice(xs, #xs, pick)
    for i, t in ipairs(xb) do xb[i] = tape_engine.as_float(t) end
  end
  tape_engine.pick_weights(self, ys, pick)
  return xb, ys and slice(ys, nout, pick)
end

-- The batch's loss: the outputs' losses (times their weights) plus the
-- model's losses; also the list of each output's own loss.
local function total_loss(self, yb, yp, values)
  local l, parts = nil, {}
  for k, e in ipairs(self.outs) do
    if e.loss then
      local lk = tape_engine.loss_value(e.loss, yb[k], yp[k], self.wb and self.wb[k])
      parts[k] = lk
      local term = e.weight == 1 and lk or lk * e.weight
      l = l and l + term or term
    end
  end
  -- add_loss of symbolic tensors: the mean of their values in this step
  for _, t in ipairs(rawget(self.model, "_symbolic_losses") or {}) do
    local v = values[t]:mean()
    l = l and l + v or v
  end
  return tape_engine.model_losses(self, l or 0), parts
end

local TRAINING = {training = true}

local function record(self, lv, parts, yb, yp, n)
  self.total, self.count = self.total + lv * n, self.count + n
  for k, e in ipairs(self.outs) do
    if parts[k] then
      self.out_total[k] = (self.out_total[k] or 0) + number(parts[k]) * n
    end
    tape_engine.update_metrics(e.metrics or {}, e.weighted, yb[k], yp[k], self.wb and self.wb[k])
  end
  tape_engine.record_extra(self, n)
end

function Net:train_batch(x, y, index, start, n)
  if n == 0 and self.reducer then return tape_engine.Net.train_batch(self, x, y, index, start, n) end
  local xb, yb = self:rows(x, y, index, start, n)
  local model = self.model
  local tape = autograd.GradientTape()
  local yp, parts
  local loss = tape:run(function()
    local values
    yp, values = self:outputs(xb, TRAINING)
    local l
    l, parts = total_loss(self, yb, yp, values)
    return l
  end)
  tape_engine.apply_gradients(self, tape, loss, n)
  tape_engine.apply_constraints(self.cons)
  local lv = number(loss)
  record(self, lv, parts, yb, yp, n)
  return lv
end

function Net:test_batch(x, y, _, start, n)
  local xb, yb = self:rows(x, y, nil, start, n)
  local yp, values = self:outputs(xb)
  local l, parts = total_loss(self, yb, yp, values)
  record(self, number(l), parts, yb, yp, n)
end

function Net:predict_batch(x, start, n, out)
  local xb = self:rows(x, nil, nil, start, n)
  local yp = self:outputs(xb)
  for k, t in ipairs(out) do t:narrow(1, start + 1, n):copy_(yp[k]) end
end

function Net:set_sample_weight(k, w)
  local e = self.outs[k] or {}
  if w ~= nil and not e.loss then return end -- an output without a loss: nothing to weigh
  tape_engine.set_weight(self, k, w)
end

function Net:reset_metrics()
  self.total, self.count, self.extra_sum, self.extra_n, self.out_total = 0, 0, {}, {}, {}
  for _, e in ipairs(self.outs) do
    for _, m in ipairs(e.metrics or {}) do m:reset_state() end
  end
end

--- compile's order: the loss, each output's loss (several outputs), then
-- each output's metrics.
function Net:results()
  local r = {self.count > 0 and self.total / self.count or 0}
  if self.nout > 1 then
    for k, e in ipairs(self.outs) do
      if e.loss then r[#r + 1] = self.count > 0 and (self.out_total[k] or 0) / self.count or 0 end
    end
  end
  for _, e in ipairs(self.outs) do
    for _, m in ipairs(e.metrics or {}) do r[#r + 1] = number(m:result()) end
  end
  return table.unpack(r)
end

E.protect_all(M)
return M
