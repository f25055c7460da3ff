--- lunet.functional_train: what fit, evaluate and predict ask a functional
-- model (lunet.engine's data hooks: lists or name-keyed tables of tensors),
-- its compile (per-output losses, loss_weights and metrics with Keras's
-- names) and the C net of its graph under the names the engine calls.
-- Installed into lunet.functional's methods by that module.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local engine = require "lunet.engine"
local losses = require "lunet.losses"
local metrics_mod = require "lunet.metrics"
local O = require "lunet.options"
local models = require "lunet.models"

local nn = core.nn

return function(F, methods)
-- ---- the net -------------------------------------------------------------------------------------------

-- The C net with the graph's calls under the names the engine uses for a
-- chain's (train_run, test_run, ... take lists of tensors).
local GraphNet = {}
GraphNet.__index = GraphNet

local function one_batch(ok, err, loss)
  if ok == nil then error(err, 0) end
  return loss
end

function GraphNet:train_run(...) return self.c:graph_train_run(...) end
function GraphNet:test_run(...) return self.c:graph_test_run(...) end
function GraphNet:predict_run(...) return self.c:graph_predict_run(...) end
function GraphNet:results() return self.c:graph_results() end
function GraphNet:reset_metrics() return self.c:reset_metrics() end
function GraphNet:set_optimizer(...) return self.c:set_optimizer(...) end
-- (gradient accumulation and reducers: a graph's training batches refuse them)
function GraphNet:set_accumulate(...) return self.c:set_accumulate(...) end
function GraphNet:set_sample_weight(...) return self.c:set_sample_weight(...) end
function GraphNet:set_reducer(...) return self.c:set_reducer(...) end
function GraphNet:pending() return self.c:pending() end
function GraphNet:flush(...) return self.c:flush(...) end
function GraphNet:train_step(x, y, idx, s, n)
  local ok, err, _, loss = self.c:graph_train_run(x, y, idx, s, n, math.max(n, 1), true)
  return one_batch(ok, err, loss)
end
function GraphNet:train_batch(x, y, idx, s, n)
  local ok, err, _, loss = self.c:graph_train_run(x, y, idx, s, n, math.max(n, 1), false)
  return one_batch(ok, err, loss)
end
function GraphNet:test_batch(x, y, _, s, n)
  local ok, err, _, loss = self.c:graph_test_run(x, y, s, n, math.max(n, 1))
  return one_batch(ok, err, loss)
end
function GraphNet:predict_batch(x, s, n, out)
  local ok, err = self.c:graph_predict_run(x, s, n, math.max(n, 1), out)
  one_batch(ok, err)
end

--- Whether the model runs node by node through the tape
-- (lunet.functional_tape): a layer written in Lua, or a tape recording.
function methods:_runs_on_tape()
  return models.has_lua_layers(self) or core.autograd.active()
end

function methods:_get_net()
  local net = rawget(self, "_net")
  if net then return net, 1 end
  local g = self._graph
  for _, l in ipairs(g.layers) do
    if not l._c or require("lunet.custom_layers").is_lua_layer(l) then
      E.raisef("%s: layer %s (%s) is written in Lua: the model runs through the tape, not " ..
               "the C graph engine", self.name, l.name, l.class_name)
    end
  end
  local cs = {}
  for i, l in ipairs(g.layers) do cs[i] = l._c end
  local c = nn.net_new()
  c:set_graph(cs, #g.inputs, g.cnodes, g.couts)
  net = setmetatable({c = c}, GraphNet)
  rawset(self, "_net", net)
  return net, 1
end

function methods:_is_built() return true end

function methods:build()
  -- a functional model is built when it is made (its layers were called)
end

-- ---- data ----------------------------------------------------------------------------------------------

-- A list, one entry per name (names: the model's input or output names),
-- from a tensor (one name), a list or a table keyed by the names. what:
-- "fit: x"; holes: entries may be missing (outputs without a loss).
local function by_names(what, v, names, kind, holes)
  if registry.is_tensor(v) then
    if #names ~= 1 then
      E.raisef("%s: the model has %d %ss (%s); give a list or a table keyed by these names, " ..
               "got one tensor", what, #names, kind, table.concat(names, ", "))
    end
    return {v}
  end
  if type(v) ~= "table" then
    E.raisef("%s must be a tensor, a list of tensors or a table keyed by %s names (%s), got %s",
             what, kind, table.concat(names, ", "), type(v))
  end
  local r = {}
  if v[1] ~= nil then
    if #v ~= #names then
      E.raisef("%s: the model has %d %ss (%s), got a list of %d", what, #names, kind,
               table.concat(names, ", "), #v)
    end
    for i = 1, #names do r[i] = v[i] end
    return r
  end
  local known = {}
  for i, n in ipairs(names) do
    known[n] = true
    r[i] = v[n]
    if r[i] == nil and not holes then
      E.raisef("%s: missing %s '%s' (the model's %ss: %s)", what, kind, n, kind,
               table.concat(names, ", "))
    end
  end
  for k in pairs(v) do
    if not known[k] then
      E.raisef("%s: the model has no %s named '%s' (its %ss: %s)", what, kind, tostring(k),
               kind, table.concat(names, ", "))
    end
  end
  return r
end

local function sample_shape(t)
  local s = t:shape()
  return {table.unpack(s, 2)}, s
end

-- xs checked against the inputs' shapes; returns n and the list.
local function check_inputs(self, what, x)
  local g = self._graph
  local xs = by_names(what .. ": x", x, g.input_names, "input")
  local n
  for i, t in ipairs(xs) do
    local name = g.input_names[i]
    if not registry.is_tensor(t) then
      E.raisef("%s: input '%s' must be a tensor, got %s", what, name, type(t))
    end
    local sample, full = sample_shape(t)
    if #full == 0 then E.raisef("%s: input '%s' must have a batch axis, got a scalar", what, name) end
    if registry.shape_str(sample) ~= registry.shape_str(g.inputs[i].shape) then
      E.raisef("%s: input '%s' of model %s expects shape %s, got x of shape %s", what, name,
               self.name, registry.shape_str(g.inputs[i].shape), registry.full_shape_str(full))
    end
    local dtype = nn.tensor_info(t)
    if dtype ~= "float32" and dtype ~= "uint8" and dtype ~= "int32" then
      E.raisef("%s: input '%s' must be float32, uint8 or int32, got %s", what, name, dtype)
    end
    if n and full[1] ~= n then
      E.raisef("%s: the inputs have different numbers of samples: %d (%s) and %d (%s)", what,
               n, g.input_names[1], full[1], name)
    end
    n = n or full[1]
  end
  return n, xs
end

function methods:_check_input(x, what)
  return check_inputs(self, what, x)
end

--- The outputs as the training code sees them: names (history keys),
-- the layers (compile's trainable snapshot) and each output's sample shape.
-- (A subclassed model with several outputs gives its own.)
function methods:_outputs_info()
  local g = self._graph
  local shapes = {}
  for k, t in ipairs(g.outputs) do shapes[k] = t.shape end
  return {names = g.output_names, layers = g.layers, shapes = shapes}
end

function methods:_check_xy(what, x, y)
  local n, xs = check_inputs(self, what, x)
  return n, xs, self:_check_targets(what, n, y)
end

--- The targets y (a tensor, a list or a table keyed by output names) as a
-- list in output order, checked against n samples.
function methods:_check_targets(what, n, y)
  local names = self:_outputs_info().names
  local c = rawget(self, "_compiled")
  local ys = by_names(what .. ": y", y, names, "output", true)
  for k, name in ipairs(names) do
    local t = ys[k]
    local trained = not c or c.outputs[k].loss
    if t == nil and trained then
      E.raisef("%s: missing target for output '%s' (y: a list or a table keyed by output " ..
               "names: %s)", what, name, table.concat(names, ", "))
    end
    if t ~= nil then
      if not registry.is_tensor(t) then
        E.raisef("%s: target '%s' must be a tensor, got %s", what, name, type(t))
      end
      local s = t:shape()
      if #s == 0 or s[1] ~= n then
        E.raisef("%s: x and y have different numbers of samples: %d and %s (target '%s')",
                 what, n, #s == 0 and "a scalar" or tostring(s[1]), name)
      end
    end
  end
  return ys
end

function methods:_targets_list(ys) return ys end
function methods:_loss_output_names() return self:_outputs_info().names end

function methods:_new_outputs(n)
  local r = {}
  for k, shape in ipairs(self:_outputs_info().shapes) do
    r[k] = nn.tensor_zeros({n, table.unpack(shape)})
  end
  return r
end

function methods:_outputs_result(out)
  return #out == 1 and out[1] or out
end

function methods:_forward_list(x, training)
  local _, xs = check_inputs(self, self.name .. ":forward", x)
  if self:_runs_on_tape() then
    return require("lunet.functional_tape").run(self, xs, training and {training = true} or nil)
  end
  return self:_get_net().c:graph_forward(xs, training)
end

--- model:forward(x, {training = false}): the outputs (net-owned buffers,
-- reused by the next call): a tensor, or a list for several outputs.
function methods:forward(x, opts)
  local ys = self:_forward_list(x, type(opts) == "table" and opts.training or false)
  return #ys == 1 and ys[1] or ys
end

function methods:backward()
  E.raisef("%s: the low-level backward is not available for functional models; use fit, " ..
           "train_on_batch or evaluate", self.name)
end

-- ---- compile -----------------------------------------------------------------------------------------

-- Whether v is a per-output container: a plain table (not a loss or metric
-- object, which have metatables).
local function container(v)
  return type(v) == "table" and not losses.is_loss(v) and not metrics_mod.is_metric(v)
         and not losses.is_lua_loss(v) and not metrics_mod.is_lua_metric(v)
end

-- One value per output from a single value, a list or a table keyed by
-- output names.
local function per_output(what, v, names, is_entry)
  local r = {}
  if v == nil then return r end
  if not container(v) or (is_entry and is_entry(v)) then
    for k = 1, #names do r[k] = v end
    return r
  end
  return by_names("compile: " .. what, v, names, "output", true)
end

-- compile's metrics (or weighted_metrics) value as one entry per output:
-- a single entry or a flat list applies to every output (as Keras), else a
-- list in output order or a table keyed by output names.
local function metrics_per_output(what, mspec, names)
  local flat = container(mspec) and mspec[1] ~= nil and not container(mspec[1])
  if mspec == nil or flat or not container(mspec) then
    local r = {}
    for k = 1, #names do r[k] = mspec end
    return r
  end
  return per_output(what, mspec, names)
end

--- compile{loss = ..., loss_weights = ..., metrics = ..., optimizer = ...}:
-- loss, loss_weights and metrics apply to every output or are given per
-- output (a list in output order, or a table keyed by output names).
function methods:compile(opts)
  if type(opts) ~= "table" then
    E.raisef("%s: compile expects a table {loss = ..., optimizer = ..., metrics = ...}", self.name)
  end
  engine.check_keys("compile", opts, engine.compile_keys)
  O.boolean("compile", "run_eagerly", opts.run_eagerly)
  O.integer("compile", "steps_per_execution", opts.steps_per_execution, 1)
  if opts.loss == nil then E.raisef("%s: compile needs a loss", self.name) end
  local info = self:_outputs_info()
  local names = info.names
  local several = #names > 1
  local loss_specs = per_output("loss", opts.loss, names)
  local weights = per_output("loss_weights", opts.loss_weights, names)
  local mlist = metrics_per_output("metrics", opts.metrics, names)
  local wlist = metrics_per_output("weighted_metrics", opts.weighted_metrics, names)
  local outputs, metric_names, loss_names, used_by, taken = {}, {}, {}, {}, {}
  for k, name in ipairs(names) do
    local e = {weight = 1, specs = {}}
    if loss_specs[k] ~= nil then
      local ok, loss = pcall(losses.get, loss_specs[k])
      if not ok then E.raise("compile: output '" .. name .. "': " .. engine.bare(loss)) end
      if losses.is_lua_loss(loss) then e.lua = true end
      e.loss = loss
      if several then loss_names[#loss_names + 1] = name .. "_loss" end
    end
    if weights[k] ~= nil then
      e.weight = O.number("compile", "loss_weights of '" .. name .. "'", weights[k], {min = 0})
    end
    local specs, keys = engine.metric_specs(mlist[k], wlist[k], several and name or nil, taken)
    for i, spec in ipairs(specs) do
      local m = spec.entry
      if spec.lua then
        e.lua = true
        -- a metric object keeps one running state: one output each
        if metrics_mod.is_lua_metric(m) then
          if used_by[m] and used_by[m] ~= name then
            E.raisef("compile: the metric object %s is given to outputs '%s' and '%s'; give " ..
                     "each output its own instance (it keeps one running state)", spec.name,
                     used_by[m], name)
          end
          used_by[m] = name
        end
      end
      e.specs[#e.specs + 1] = spec
      metric_names[#metric_names + 1] = keys[i]
    end
    e.weighted = engine.weighted_flags(e.specs)
    outputs[k] = e
  end
  local all = {"loss"}
  for _, n in ipairs(loss_names) do all[#all + 1] = n end
  for _, n in ipairs(metric_names) do all[#all + 1] = n end
  local snapshot = {}
  for _, l in ipairs(info.layers) do snapshot[l] = l.trainable end
  local opt = engine.get_optimizer(opts.optimizer)
  rawset(self, "_compile_args", {loss = opts.loss, metrics = opts.metrics,
                                 weighted_metrics = opts.weighted_metrics,
                                 loss_weights = opts.loss_weights})
  rawset(self, "_optimizer", opt)
  rawset(self, "_loss", opts.loss)
  rawset(self, "_compiled_loss", outputs[1].loss)
  rawset(self, "_metrics_names", all)
  rawset(self, "_compiled", {outputs = outputs, snapshot = snapshot, loss = outputs[1].loss})
end

--- model:add_loss(t): as for any model (a tensor, a number, a function
-- called at each step), or -- Keras's functional form -- a symbolic tensor
-- of the model's graph (a layer's output, e.g. a Lambda computing a
-- penalty from other tensors): the mean of its value at each step joins
-- the loss (the VAE's latent loss).
function methods:add_loss(v)
  if F.is_symbolic(v) then
    -- the nodes it needs beyond the graph's (a branch that feeds no output,
    -- as the VAE's latent loss): run after the graph's, in their order
    local g = self._graph
    local ok, order = pcall(F.topological, g.inputs, {v})
    if not ok then
      E.raisef("%s: add_loss: the symbolic tensor %s is not computed from this model's " ..
               "inputs: %s", self.name, tostring(v), engine.bare(order))
    end
    local known, in_graph = {}, {}
    for _, l in ipairs(g.layers) do known[l] = true end
    for _, node in ipairs(g.nodes) do in_graph[node] = true end
    local extra = rawget(self, "_loss_nodes") or {}
    for _, node in ipairs(extra) do in_graph[node] = true end
    for _, node in ipairs(order) do
      if not in_graph[node] then
        if not known[node.layer] and #node.layer.variables > 0 then
          E.raisef("%s: add_loss: layer %s (%s) has weights and feeds only this loss term; " ..
                   "lunet trains the layers on the paths to the model's outputs", self.name,
                   node.layer.name, node.layer.class_name)
        end
        extra[#extra + 1] = node
        in_graph[node] = true
      end
    end
    rawset(self, "_loss_nodes", extra)
    local list = rawget(self, "_symbolic_losses") or {}
    list[#list + 1] = v
    rawset(self, "_symbolic_losses", list)
    return
  end
  return models.methods.add_loss(self, v)
end

-- Whether training goes through the tape (lunet.functional_tape): a layer,
-- loss or metric written in Lua, or add_loss terms.
local function needs_tape(self, c)
  if models.has_lua_layers(self) or rawget(self, "_added_losses") then return true end
  if rawget(self, "_symbolic_losses") then return true end
  for _, e in ipairs(c.outputs) do if e.lua then return true end end
  return false
end

-- The metric objects of each output for targets ys.
local function make_metrics(self, c, ys)
  local info = self:_outputs_info()
  for k, shape in ipairs(info.shapes) do
    local e = c.outputs[k]
    if e.loss then
      local yshape = ys[k]:shape()
      e.metrics = e.metrics or {}
      for i, spec in ipairs(e.specs) do
        e.metrics[i] = e.metrics[i] or spec.make(#yshape, yshape[#yshape], #shape + 1,
                                                 shape[#shape])
      end
    elseif #e.specs > 0 then
      E.raisef("compile: output '%s' has metrics but no loss", info.names[k])
    end
  end
end

-- The tape runner (lunet.functional_tape) for training the layers that
-- compile saw trainable.
local function prepare_tape(self, c)
  if c.net and c.net.tape then return c end
  local on, vars = {}, {}
  for _, l in ipairs(self:_outputs_info().layers) do
    local f = c.snapshot[l]
    if f == nil then f = l.trainable end
    if f then
      on[l] = true
      for _, v in ipairs(l.trainable_variables) do vars[#vars + 1] = v end
    end
  end
  c.constraints = require("lunet.engine_tape").constraints_of(self, on)
  c.net = require("lunet.functional_tape").new(self, c.outputs, vars, c.constraints)
  c.pairs, c.gen = {}, nil
  return c
end

--- The net ready for training or evaluation with targets ys (a list).
function methods:_prepare_net(ys)
  local c = rawget(self, "_compiled")
  make_metrics(self, c, ys)
  if rawget(self, "_sub") or needs_tape(self, c) then return prepare_tape(self, c) end
  local net = self:_get_net()
  if c.net == net then return c end
  for k in ipairs(self._graph.outputs) do
    local e = c.outputs[k]
    if e.loss then
      local mc = {}
      for i, m in ipairs(e.metrics) do mc[i] = m._c end
      net.c:set_output_loss(k, e.loss._c, e.weight)
      net.c:set_output_metrics(k, mc)
      net.c:set_weighted_metrics(k, engine.weighted_flags(e.specs))
    else
      net.c:set_output_loss(k, nil, 1)
      net.c:set_output_metrics(k, {})
    end
  end
  local flags
  flags, c.pairs = engine.trainable_pairs(self._graph.layers, c.snapshot)
  net.c:set_trainable(flags)
  c.net, c.gen = net, 1
  return c
end

end
