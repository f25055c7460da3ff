--- lunet.engine_tape: fit, evaluate and predict for models with a unit
-- written in Lua (a layer, the loss, a metric), and the low-level
-- forward/backward of models with Lua layers.
--
-- A training step is a gradient tape around the model's forward and the
-- loss (C layers and C losses are single nodes whose backward is their
-- own, Lua code is recorded operation by operation), then the optimizer's
-- apply_gradients on the trainable variables and the weights' constraints.
-- The object made here has the C network's batch interface (train_batch,
-- test_batch, test_run, predict_run, results, reset_metrics), so fit's loop,
-- callbacks, validation and progress bar are the same code (lunet.engine).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local autograd = require "lunet.autograd"
local constraints = require "lunet.constraints"
local step_end = core.memory.step_end

local is_tensor = registry.is_tensor
local M = {}

local Net = {}
Net.__index = Net
M.Net = Net

local function number(v)
  if is_tensor(v) then return v:item() end
  return v
end

--- A batch runner for `model` with loss object `loss` (nil for predict)
-- and metric objects `metrics`, training the variables `vars` (a list of
-- layer Variables) with the model's optimizer.
function M.new(model, loss, metrics, vars, cons)
  -- a functional model: its graph node by node (lunet.functional_tape); a
  -- subclassed model with several outputs: per-output losses likewise
  if rawget(model, "_graph") or rawget(model, "_nout") then
    return require("lunet.functional_tape").new(model, nil, vars, cons)
  end
  return M.base(model, loss, metrics, vars, cons)
end

--- The fields every tape runner has (M.new's, for any model).
function M.base(model, loss, metrics, vars, cons)
  -- the layers that may add to the loss: Lua layers (add_loss,
  -- regularizers) and C layers with a regularizer
  local L = require "lunet.custom_layers"
  local loss_layers = {}
  for _, l in ipairs(model.layers) do
    local has = L.is_lua_layer(l) or
                require("lunet.custom_parts").regularizes(rawget(l, "_lua_parts"))
    if not has and l._c then -- (an ln.Input's layer has none)
      for k, v in pairs(l._c:config()) do
        if type(k) == "string" and k:match("_regularizer$") and v ~= nil then has = true end
      end
    end
    if has then loss_layers[#loss_layers + 1] = l end
  end
  local values = {}
  for i, v in ipairs(vars or {}) do values[i] = v.value end
  return setmetatable({tape = true, model = model, loss = loss, metrics = metrics or {},
                       vars = values, cons = cons or {}, loss_layers = loss_layers,
                       total = 0, count = 0, extra_sum = {}, extra_n = {}}, Net)
end

--- A function picking rows [start, start + n) of a tensor (0-based start;
-- through the epoch's order `index`, an nn Index, when shuffled): one
-- gather straight from the index's entries.
function M.picker(_, index, start, n)
  if not index then
    return function(t) return t:narrow(1, start + 1, n) end
  end
  return function(t) return index:take(t, start, n) end
end

function Net:rows(x, y, index, start, n)
  local pick = M.picker(self, index, start, n)
  local xb
  if is_tensor(x) then
    xb = M.as_float(pick(x))
  else
    xb = {}
    for i, t in ipairs(x) do xb[i] = M.as_float(pick(t)) end
  end
  M.pick_weights(self, y, pick)
  return xb, y and pick(y)
end

--- The batch's sample weights (self.wb[k] for output k) from the weights
-- set by set_sample_weight, through the same rows as the targets.
function M.pick_weights(self, y, pick)
  self.wb = nil
  if not (self.sw and y) then return end
  for k, w in pairs(self.sw) do
    self.wb = self.wb or {}
    self.wb[k] = pick(w)
  end
end

--- The loss of a batch with per-sample weights w (nil: unweighted):
-- sum(w * per-sample loss) / batch size, Keras's SUM_OVER_BATCH_SIZE as the
-- C net computes it. A built-in loss gives its per-sample losses through
-- the tape (each row's own batch mean, as the C net weighs them).
function M.loss_value(loss, y, yp, w)
  if w == nil then return loss(y, yp) end
  local per
  if require("lunet.losses").is_loss(loss) then per = loss:per_sample(y, yp)
  else per = loss:call(y, yp) end
  if not is_tensor(per) then
    E.raisef("loss %s: call returned %s, not a tensor of per-sample losses", loss.name, type(per))
  end
  local n = w:numel()
  if per:numel() ~= n then
    E.raisef("loss %s: call returned %d values for a batch of %d samples; sample weights " ..
             "need one loss per sample", loss.name, per:numel(), n)
  end
  return (per:reshape({n}) * w):sum() / n
end

--- Weights for output k (a tensor of one weight per sample, or nil to
-- clear) -- fit's and evaluate's sample_weight and class_weight.
function M.set_weight(self, k, w)
  self.sw = self.sw or {}
  self.sw[k] = w
  if next(self.sw) == nil then self.sw = nil end
end

function Net:set_sample_weight(k, w)
  M.set_weight(self, k, w)
end

--- A batch of inputs as float32 (uint8 and int32 rows become float32 batch
-- by batch, as the C net's runs do).
function M.as_float(t)
  if core.nn.tensor_info(t) == "float32" then return t end
  return t:float()
end

-- The batch's loss: the compiled loss plus the model's losses
-- (regularization penalties, add_loss terms).
local function total_loss(self, yb, yp)
  return M.model_losses(self, M.loss_value(self.loss, yb, yp, self.wb and self.wb[1]))
end

--- l plus the model's losses (regularization penalties of the layers,
-- their add_loss terms, the model's add_loss terms).
function M.model_losses(self, l)
  for _, layer in ipairs(self.loss_layers) do
    for _, r in ipairs(layer.losses) do l = l + r end
  end
  for _, v in ipairs(rawget(self.model, "_added_losses") or {}) do
    l = l + (type(v) == "function" and v() or v)
  end
  for _, v in ipairs(rawget(self.model, "_call_losses") or {}) do l = l + v end -- (subclassed)
  return l
end

local TRAINING = {training = true}

-- The model's layers applied to x (the model was built and x checked).
local function forward(model, x, opts)
  if rawget(model, "_sub") then return model:_run(x, opts and opts.training) end
  for _, l in ipairs(model.layers) do x = l(x, opts) end
  return x
end

--- Updates metric objects with a batch; those flagged in `weighted`
-- (compile's weighted_metrics) get the batch's sample weights w (nil:
-- unweighted data).
function M.update_metrics(list, weighted, yb, yp, w)
  for i, m in ipairs(list) do
    if w ~= nil and weighted and weighted[i] then m:update_state(yb, yp, w)
    else m:update_state(yb, yp) end
  end
end

-- Running results after a batch of n samples.
local function record(self, lv, yb, yp, n)
  self.total, self.count = self.total + lv * n, self.count + n
  M.update_metrics(self.metrics, self.weighted, yb, yp, self.wb and self.wb[1])
  M.record_extra(self, n)
end

--- Running means of the add_metric values of the model's Lua layers
-- after a batch of n samples.
function M.record_extra(self, n)
  for name, v in pairs(rawget(self.model, "_call_metrics") or {}) do -- (a subclassed model's)
    self.extra_sum[name] = (self.extra_sum[name] or 0) + number(v) * n
    self.extra_n[name] = (self.extra_n[name] or 0) + n
  end
  local L = package.loaded["lunet.custom_layers"]
  for _, l in ipairs(self.model.layers) do
    if L and L.is_lua_layer(l) then
      for name, v in pairs(l.metrics) do
        self.extra_sum[name] = (self.extra_sum[name] or 0) + number(v) * n
        self.extra_n[name] = (self.extra_n[name] or 0) + n
      end
    end
  end
end

-- Whether opt is a plugin optimizer used as it is (its step is C code that
-- keeps no reference to the gradients it is given).
local function plugin_optimizer(opt)
  return type(opt) == "table" and type(rawget(opt, "_ud")) == "userdata" and
         rawget(opt, "apply_gradients") == nil -- (lunet.engine's test)
end

--- The gradients of loss (recorded on tape) applied by the model's
-- optimizer; under data-parallel fit (set_reducer) first averaged over the
-- ranks, weighted by their rows n (lunet.data_parallel). tape = nil: this
-- rank's share of the batch is empty (it still takes part in the exchange).
function M.apply_gradients(self, tape, loss, n)
  local grads
  if tape and is_tensor(loss) and #self.vars > 0 then grads = tape:gradient(loss, self.vars) end
  if self.reducer and #self.vars > 0 then
    grads = require("lunet.data_parallel").reduce_tape(self.vars, grads, n)
  end
  if grads then
    local opt = self.model.optimizer
    local pairs_ = autograd.zip(grads, self.vars)
    if #pairs_ > 0 then opt:apply_gradients(pairs_) end
    -- A plugin optimizer keeps nothing of them: their storage goes back to
    -- the block cache now, still hot for the next step's gradients, rather
    -- than at a later collection (they are most of a step's garbage, and
    -- every 32 MB of garbage costs a full collection).
    if plugin_optimizer(opt) then
      for _, g in pairs(grads) do
        if is_tensor(g) then getmetatable(g).__close(g) end
      end
    end
  end
end

--- One training step on rows [start, start + n) -> the batch loss.
function Net:train_batch(x, y, index, start, n)
  if n == 0 and self.reducer then -- (data-parallel: an empty share)
    M.apply_gradients(self, nil, nil, 0)
    M.apply_constraints(self.cons)
    return 0
  end
  local xb, yb = self:rows(x, y, index, start, n)
  local model = self.model
  local tape = autograd.GradientTape()
  local yp
  local loss = tape:run(function()
    yp = forward(model, xb, TRAINING)
    return total_loss(self, yb, yp)
  end)
  M.apply_gradients(self, tape, loss, n)
  M.apply_constraints(self.cons)
  local lv = number(loss)
  record(self, lv, yb, yp, n)
  return lv
end

--- One evaluation batch (inference mode).
function Net:test_batch(x, y, _, start, n)
  local xb, yb = self:rows(x, y, nil, start, n)
  local yp = forward(self.model, xb)
  record(self, number(total_loss(self, yb, yp)), yb, yp, n)
end

-- Runs fn(s, n) over the batches of bs rows in [0, count) -- at most
-- max_batches of them, stopping once `seconds` have passed -- as the C
-- net's *_run do: returns the batches done, or nil, the error and the
-- failed batch's offset. The batches run in segments, each serial or
-- inside ONE parallel region (every kernel of every step handing its work
-- to the same thread team, no fork/join per kernel), chosen as the C net
-- chooses: measured now and then, the faster kept (core.autograd.team_batches;
-- the same numbers either way).
local function run(self, kind, count, bs, max_batches, seconds, fn)
  self.tuner = self.tuner or core.autograd.tuner()
  return core.autograd.team_batches(self.tuner, kind, count, bs, max_batches, seconds, fn)
end

--- Threads of the runs, as the C net's set_threading: "auto" (measured
-- serial/team choice, the default), "serial" or "team".
function Net:set_threading(mode)
  self.tuner = self.tuner or core.autograd.tuner()
  core.autograd.tuner_set(self.tuner, mode)
end

--- How the next training batch runs: "serial" or "team".
function Net:threading()
  self.tuner = self.tuner or core.autograd.tuner()
  return core.autograd.tuner_mode(self.tuner)
end

--- What the runs did since set_threading, as the C net's threading_stats():
-- {serial_batches, team_batches, probes, team_chosen, serial_chosen, team_dropped,
-- stalls_forgiven}.
function Net:threading_stats()
  self.tuner = self.tuner or core.autograd.tuner()
  return core.autograd.tuner_stats(self.tuner)
end

--- Training batches over rows [start, start + count) (the C net's
-- train_run): done, then the offset and loss of the first batch whose loss
-- was not finite (if any); nil, error, offset on failure.
function Net:train_run(x, y, index, start, count, bs, _, max_batches, seconds)
  local bad, bad_loss
  local done, err, at = run(self, "train", count, bs, max_batches, seconds, function(s, n)
    local lv = self:train_batch(x, y, index, start + s, n)
    step_end(true) -- the step's tensors (train_batch's locals) died just now
    if not bad and (lv ~= lv or lv == math.huge or lv == -math.huge) then
      bad, bad_loss = s // bs, lv
    end
  end)
  if not done then return nil, err, at end
  return done, bad, bad_loss
end

--- Evaluation batches over rows [start, start + count).
function Net:test_run(x, y, start, count, bs, max_batches, seconds)
  return run(self, "test", count, bs, max_batches, seconds, function(s, n)
    self:test_batch(x, y, nil, start + s, n)
  end)
end

--- Outputs of rows [start, start + count) into out, bs at a time.
function Net:predict_run(x, start, count, bs, out, max_batches, seconds)
  return run(self, "predict", count, bs, max_batches, seconds, function(s, n)
    self:predict_batch(x, start + s, n, out)
  end)
end

function Net:predict_batch(x, start, n, out)
  out:narrow(1, start + 1, n):copy_(forward(self.model, (self:rows(x, nil, nil, start, n))))
end

-- fit's gradient stages (lunet.engine): a tape step applies its gradients
-- at once -- gradient accumulation is the C net's, refused clearly here;
-- under data-parallel fit (MPI) they are first averaged over the ranks
-- (M.apply_gradients).
function Net:set_accumulate(k)
  if k ~= 1 then
    E.raise("fit: accumulate_steps with a layer, loss or metric written in Lua is not supported")
  end
end

function Net:set_reducer(r)
  self.reducer = r
end

function Net:pending() return 0 end
function Net:flush() end

function Net:reset_metrics()
  self.total, self.count, self.extra_sum, self.extra_n = 0, 0, {}, {}
  for _, m in ipairs(self.metrics) do m:reset_state() end
end

--- The running loss, then each metric's result (compile's order).
function Net:results()
  local r = {self.count > 0 and self.total / self.count or 0}
  for i, m in ipairs(self.metrics) do r[i + 1] = number(m:result()) end
  return table.unpack(r)
end

--- {name = mean} of the add_metric values since the last reset.
function Net:extra()
  local r = {}
  for k, v in pairs(self.extra_sum) do r[k] = v / self.extra_n[k] end
  return r
end

-- ---- constraints -------------------------------------------------------------------------------

--- {{tensor, constraint}, ...} of the model's weights that have one, for
-- the layers in `on` (a set; nil for all).
function M.constraints_of(model, on)
  local list = {}
  local function add(l)
    if on and not on[l] then return end
    for _, v in ipairs(l.variables) do
      if v.constraint then list[#list + 1] = {v.value, v.constraint} end
    end
  end
  for _, l in ipairs(model.layers) do add(l) end
  return list
end

function M.apply_constraints(list)
  for i = 1, #list do constraints.apply(list[i][2], list[i][1]) end
end

-- ---- the low-level API of models with Lua layers ---------------------------------------------

--- model:forward(x): layer by layer (a C layer's own forward, a Lua layer
-- under a private tape kept for backward); a new tensor.
function M.forward(model, x, training)
  local L = require "lunet.custom_layers"
  local pass = {}
  for i, l in ipairs(model.layers) do
    if L.is_lua_layer(l) then
      local vars = l.trainable_variables
      local sources = {x}
      for j, v in ipairs(vars) do sources[j + 1] = v.value end
      local y, back = autograd.vjp(function() return l(x, {training = training}) end, sources)
      pass[i] = {back = back, vars = vars}
      x = y
    else
      x = l._c:forward(x, training, false)
      pass[i] = false
    end
  end
  rawset(model, "_lua_pass", pass)
  return x
end

--- model:backward(dy [, need_dx]) after forward: writes every trainable
-- weight's gradient (variable.grad) and returns dx when asked.
function M.backward(model, dy, need_dx)
  local pass = rawget(model, "_lua_pass")
  for i = #model.layers, 1, -1 do
    local l, p = model.layers[i], pass[i]
    local want_dx = i > 1 or need_dx
    if p then
      local g = p.back(dy)
      for j, v in ipairs(p.vars) do
        local w = M.weight_record(l, v.short_name)
        if w then
          w.grad = w.grad or core.zeros(v.value:shape())
          w.grad:copy_(g[j + 1])
        elseif v.grad then
          v.grad:copy_(g[j + 1])
        end
      end
      dy = g[1]
    else
      dy = l._c:backward(dy, want_dx and true or false, l.trainable and true or false)
    end
  end
  return need_dx and dy or nil
end

-- The record of a Lua layer's own weight named `short` (or nil: a weight
-- of the built-in layer below).
function M.weight_record(l, short)
  for _, w in ipairs(rawget(l, "_weights")) do
    if w.name == short then return w end
  end
  return nil
end

E.protect_all(M)
return M
