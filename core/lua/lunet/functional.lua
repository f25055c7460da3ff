--- lunet.functional: Keras's functional API -- models that are graphs of
-- layers, with several inputs and outputs, run by the engine in C.
--
--   local wide = ln.Input{shape = {5}, name = "wide_input"}
--   local deep = ln.Input{shape = {6}, name = "deep_input"}
--   local h = ln.layers.Dense{30, activation = "relu"}(deep)
--   local concat = ln.layers.Concatenate{}({wide, h})
--   local out = ln.layers.Dense{1, name = "output"}(concat)
--   local model = ln.Model{inputs = {wide, deep}, outputs = {out}}
--   model:compile{loss = "mse", optimizer = "sgd"}
--   model:fit({x_wide, x_deep}, y, {epochs = 10})      -- or {wide_input = ..., ...}
--
-- A layer called on symbolic tensors (ln.Input and what layers made of
-- them) is built for their shapes and adds a node; calling it again adds
-- another node with the same weights (a shared layer). ln.Model walks back
-- from the outputs to the inputs: the nodes in a topological order, the
-- distinct layers, the tensors numbered as lunet/engine/net_graph.h wants.
-- compile/fit/evaluate/predict are Sequential's (lunet.engine) with this
-- module's data hooks (_check_xy, _prepare_net, ...).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local layers = require "lunet.layers"
local models = require "lunet.models"
local engine = require "lunet.engine"
local losses = require "lunet.losses"
local metrics_mod = require "lunet.metrics"
local O = require "lunet.options"

local nn = core.nn
local sformat = string.format
local F = {}

-- ---- symbolic tensors -------------------------------------------------------------------

--- A KerasTensor: the shape of a sample (no batch axis), the node that
-- makes it and its index among that node's outputs.
local KerasTensor = {}
KerasTensor.__index = KerasTensor
F.KerasTensor = KerasTensor

local function new_tensor(shape, node, index)
  return setmetatable({shape = registry.copy_list(shape), node = node, index = index,
                       name = node.layer.name .. (index > 1 and ("_" .. (index - 1)) or "")},
                      KerasTensor)
end

KerasTensor.__tostring = function(t)
  return sformat("<KerasTensor: shape=%s name=%s (created by layer '%s')>",
                 registry.shape_str(t.shape), t.name, t.node.layer.name)
end

function F.is_symbolic(v)
  return type(v) == "table" and getmetatable(v) == KerasTensor
end

--- Whether x is what a layer called symbolically gets: a symbolic tensor or
-- a list holding one.
function F.is_symbolic_arg(x)
  if F.is_symbolic(x) then return true end
  if type(x) ~= "table" or getmetatable(x) ~= nil then return false end
  for _, v in ipairs(x) do if F.is_symbolic(v) then return true end end
  return false
end

-- "input_1[0][0]": a tensor as Keras's summaries and configs name it.
local function node_index(node)
  for i, n in ipairs(rawget(node.layer, "_nodes") or {}) do
    if n == node then return i - 1 end
  end
  return 0
end

local function describe(t)
  return sformat("%s %s", t.node.layer.name, registry.shape_str(t.shape))
end

-- ---- Input ----------------------------------------------------------------------------------

local input_keys = {shape = 1, name = 1, dtype = 1, batch_size = 1, batch_shape = 1}

--- ln.Input{shape = {8}, name = "wide_input"}: a symbolic tensor fed by the
-- model's input of that name (Keras's default names input_1, input_2, ...).
function F.Input(args)
  if type(args) ~= "table" then
    E.raise("Input: expects a table, e.g. ln.Input{shape = {8}, name = \"wide_input\"}")
  end
  O.keys("Input", args, input_keys)
  local shape = args.shape
  if shape == nil and type(args.batch_shape) == "table" then
    shape = {table.unpack(args.batch_shape, 2)}
  end
  if shape == nil then E.raise("Input: needs a shape without the batch axis, e.g. shape = {8}") end
  local name = args.name
  if name == nil then
    local n = tonumber(layers.unique_name("input"):match("_(%d+)$")) or 0
    name = "input_" .. (n + 1)
  end
  local il = layers.InputLayer{shape = shape, name = name, dtype = args.dtype}
  local node = {layer = il, inputs = {}, outputs = {}}
  rawset(il, "_nodes", {node})
  local t = new_tensor(il.input_shape, node, 1)
  node.outputs[1] = t
  return t
end

-- ---- calling a layer on symbolic tensors --------------------------------------------------------

--- layer(x) for symbolic x (one tensor or a list): builds the layer for
-- their shapes and returns its output tensor(s) (a list for several).
function F.call_layer(layer, x)
  local list = F.is_symbolic(x) and {x} or x
  local shapes, seen = {}, {}
  for i, t in ipairs(list) do
    if not F.is_symbolic(t) then
      E.raisef("%s: entry %d of its inputs is a %s; a layer is called on symbolic tensors " ..
               "(ln.Input and the outputs of layers) or on real tensors, not on a mix",
               layer.name, i, type(t))
    end
    shapes[i], seen[#seen + 1] = t.shape, describe(t)
  end
  local ok, outs = pcall(layer._c.build_inputs, layer._c, shapes)
  if not ok then
    E.raisef("%s (called on %s)", engine.bare(outs), table.concat(seen, ", "))
  end
  local node = {layer = layer, inputs = registry.copy_list(list), outputs = {}}
  local nodes = rawget(layer, "_nodes") or {}
  nodes[#nodes + 1] = node
  rawset(layer, "_nodes", nodes)
  for j, s in ipairs(outs) do node.outputs[j] = new_tensor(s, node, j) end
  if #outs == 1 then return node.outputs[1] end
  return registry.copy_list(node.outputs)
end

-- ---- the Model ------------------------------------------------------------------------------------

local Functional = {}
models.Functional = Functional
local methods = setmetatable({}, {__index = models.methods})
F.methods = methods

local fproperties = {
  inputs = function(self) return registry.copy_list(self._graph.inputs) end,
  outputs = function(self) return registry.copy_list(self._graph.outputs) end,
  input_names = function(self) return registry.copy_list(self._graph.input_names) end,
  output_names = function(self) return registry.copy_list(self._graph.output_names) end,
  input_shape = function(self)
    local ins = self._graph.inputs
    if #ins == 1 then return registry.copy_list(ins[1].shape) end
    local r = {}
    for i, t in ipairs(ins) do r[i] = registry.copy_list(t.shape) end
    return r
  end,
  output_shape = function(self)
    local outs = self._graph.outputs
    if #outs == 1 then return registry.copy_list(outs[1].shape) end
    local r = {}
    for i, t in ipairs(outs) do r[i] = registry.copy_list(t.shape) end
    return r
  end,
}

Functional.__index = function(self, k)
  local m = rawget(methods, k)
  if m ~= nil then return m end
  local p = fproperties[k]
  if p then return p(self) end
  return models.Model.__index(self, k)
end

Functional.__newindex = function(self, k, v)
  if fproperties[k] or k == "layers" then
    E.raisef("%s: '%s' is read-only (a functional model is fixed by its inputs and outputs)",
             self.name, k)
  end
  return models.Model.__newindex(self, k, v)
end

Functional.__tostring = function(self)
  return sformat("<Functional name=%s, %d inputs, %d outputs, %d layers>", self.name,
                 #self._graph.inputs, #self._graph.outputs, #self.layers)
end

Functional.__call = E.protect(function(self, x, opts)
  if F.is_symbolic_arg(x) then
    E.raisef("%s: calling a model on symbolic tensors (a model used as a layer) is not " ..
             "supported yet; call its layers instead", self.name)
  end
  local training = type(opts) == "table" and opts.training and true or false
  local ys = self:_forward_list(x, training)
  local r = {}
  for k, y in ipairs(ys) do r[k] = nn.tensor_clone(y) end
  return #r == 1 and r[1] or r
end)

local function as_list(v, what)
  if F.is_symbolic(v) then return {v} end
  if type(v) ~= "table" or getmetatable(v) ~= nil or #v == 0 then
    E.raisef("Model: %s must be a symbolic tensor (ln.Input, a layer's output) or a list " ..
             "of them, got %s", what, type(v))
  end
  for i, t in ipairs(v) do
    if not F.is_symbolic(t) then
      E.raisef("Model: %s entry %d must be a symbolic tensor, got %s", what, i, type(t))
    end
  end
  return v
end

-- The nodes between the inputs and the outputs, each after the nodes it
-- reads (a depth-first walk from the outputs, in output order).
local function topological(ins, outs)
  local is_input, order, state, accessed = {}, {}, {}, {}
  for i, t in ipairs(ins) do is_input[t] = i end
  local function visit(node)
    if state[node] == "done" then return end
    if state[node] == "open" then
      E.raisef("Model: the graph has a cycle through layer %s", node.layer.name)
    end
    state[node] = "open"
    for _, t in ipairs(node.inputs) do
      if not is_input[t] then
        if layers.is_input_layer(t.node.layer) then
          E.raisef("Graph disconnected: cannot obtain value for tensor %s at layer \"%s\" " ..
                   "(it is not among the model's inputs). The following previous layers " ..
                   "were accessed without issue: {%s}", tostring(t), node.layer.name,
                   table.concat(accessed, ", "))
        end
        visit(t.node)
      end
    end
    state[node] = "done"
    order[#order + 1] = node
    accessed[#accessed + 1] = node.layer.name
  end
  for k, t in ipairs(outs) do
    if is_input[t] then
      E.raisef("Model: output %d is the input %s itself; put a layer between them", k, t.name)
    end
    visit(t.node)
  end
  return order
end

-- The graph of a model: inputs, outputs, nodes, layers, and the C wiring.
local function make_graph(ins, outs)
  local seen = {}
  for i, t in ipairs(ins) do
    if not layers.is_input_layer(t.node.layer) then
      E.raisef("Model: inputs entry %d is the output of layer %s (%s), not an ln.Input",
               i, t.node.layer.name, t.node.layer.class_name)
    end
    if seen[t] then E.raisef("Model: input %s is given twice", t.name) end
    seen[t] = true
  end
  local order = topological(ins, outs)
  local tid, used = {}, {}
  for i, t in ipairs(ins) do tid[t] = i - 1 end
  local next_t = #ins
  local g = {inputs = registry.copy_list(ins), outputs = registry.copy_list(outs), nodes = order,
             layers = {}, cnodes = {}, couts = {}, input_names = {}, output_names = {}}
  local index = {}
  for _, node in ipairs(order) do
    local l = node.layer
    if not index[l] then
      g.layers[#g.layers + 1] = l
      index[l] = #g.layers
    end
    local cin = {}
    for i, t in ipairs(node.inputs) do
      cin[i] = tid[t]
      used[t] = true
    end
    g.cnodes[#g.cnodes + 1] = {layer = index[l], inputs = cin}
    for j, t in ipairs(node.outputs) do tid[t] = next_t + j - 1 end
    next_t = next_t + #node.outputs
  end
  for i, t in ipairs(ins) do
    if not used[t] then
      E.raisef("Model: input %s %s is not connected to any output", t.name,
               registry.shape_str(t.shape))
    end
    g.input_names[i] = t.node.layer.name
  end
  local taken = {}
  for k, t in ipairs(outs) do
    g.couts[k] = tid[t]
    local name = t.node.layer.name
    if taken[name] then name = name .. "_" .. k end
    taken[name] = true
    g.output_names[k] = name
  end
  g.all_layers = {}
  for _, t in ipairs(ins) do g.all_layers[#g.all_layers + 1] = t.node.layer end
  for _, l in ipairs(g.layers) do g.all_layers[#g.all_layers + 1] = l end
  return g
end

local model_keys = {inputs = 1, outputs = 1, name = 1, trainable = 1}

--- ln.Model{inputs = ..., outputs = ..., name = ...}
function F.Model(args)
  if type(args) ~= "table" then
    E.raise("Model: expects a table {inputs = ..., outputs = ..., name = ...}")
  end
  O.keys("Model", args, model_keys)
  if args.inputs == nil or args.outputs == nil then
    E.raise("Model: needs inputs = ... and outputs = ... (symbolic tensors)")
  end
  local g = make_graph(as_list(args.inputs, "inputs"), as_list(args.outputs, "outputs"))
  local name = args.name
  if name ~= nil and (type(name) ~= "string" or name == "") then
    E.raise("Model: name must be a non-empty string")
  end
  local self = setmetatable({}, Functional)
  rawset(self, "_name", name or layers.unique_name("model"))
  rawset(self, "_graph", g)
  rawset(self, "_layers", g.all_layers)
  rawset(self, "stop_training", false)
  if args.trainable ~= nil then self.trainable = args.trainable end
  return self
end

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

function methods:_get_net()
  local net = rawget(self, "_net")
  if net then return net, 1 end
  local g = self._graph
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
    if dtype ~= "float32" then
      E.raisef("%s: input '%s' must be float32, got %s (use x:float())", what, name, dtype)
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

function methods:_check_xy(what, x, y)
  local n, xs = check_inputs(self, what, x)
  local g = self._graph
  local c = rawget(self, "_compiled")
  local ys = by_names(what .. ": y", y, g.output_names, "output", true)
  for k, name in ipairs(g.output_names) do
    local t = ys[k]
    local trained = not c or c.outputs[k].loss
    if t == nil and trained then
      E.raisef("%s: missing target for output '%s' (y: a list or a table keyed by output " ..
               "names: %s)", what, name, table.concat(g.output_names, ", "))
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
  return n, xs, ys
end

function methods:_new_outputs(n)
  local r = {}
  for k, t in ipairs(self._graph.outputs) do
    r[k] = nn.tensor_zeros({n, table.unpack(t.shape)})
  end
  return r
end

function methods:_outputs_result(out)
  return #out == 1 and out[1] or out
end

function methods:_forward_list(x, training)
  local _, xs = check_inputs(self, self.name .. ":forward", x)
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

-- A metrics value for one output: nil, one entry or a list of entries.
local function metric_list(v)
  if v == nil then return {} end
  if container(v) then return v end
  return {v}
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
  if opts.weighted_metrics ~= nil then
    E.raise("compile: weighted_metrics needs sample weights, which lunet does not have yet")
  end
  if opts.loss == nil then E.raisef("%s: compile needs a loss", self.name) end
  local names = self._graph.output_names
  local several = #names > 1
  local loss_specs = per_output("loss", opts.loss, names)
  local weights = per_output("loss_weights", opts.loss_weights, names)
  -- metrics: a flat list applies to every output
  local mspec = opts.metrics
  local flat = container(mspec) and mspec[1] ~= nil and not container(mspec[1])
  local mlist = (mspec == nil or flat or not container(mspec)) and per_output("metrics", {}, names)
                or per_output("metrics", mspec, names)
  if flat or (mspec ~= nil and not container(mspec)) then
    for k = 1, #names do mlist[k] = mspec end
  end
  local outputs, metric_names, loss_names = {}, {}, {}
  for k, name in ipairs(names) do
    local e = {weight = 1, specs = {}}
    if loss_specs[k] ~= nil then
      local ok, loss = pcall(losses.get, loss_specs[k])
      if not ok then E.raise("compile: output '" .. name .. "': " .. engine.bare(loss)) end
      e.loss = loss
      if several then loss_names[#loss_names + 1] = name .. "_loss" end
    end
    if weights[k] ~= nil then
      e.weight = O.number("compile", "loss_weights of '" .. name .. "'", weights[k], {min = 0})
    end
    for _, m in ipairs(metric_list(mlist[k])) do
      local okm, spec = pcall(metrics_mod.spec, m)
      if not okm then E.raise("compile: output '" .. name .. "': " .. engine.bare(spec)) end
      e.specs[#e.specs + 1] = spec
      metric_names[#metric_names + 1] = several and (name .. "_" .. spec.name) or spec.name
    end
    outputs[k] = e
  end
  local all = {"loss"}
  for _, n in ipairs(loss_names) do all[#all + 1] = n end
  for _, n in ipairs(metric_names) do all[#all + 1] = n end
  local snapshot = {}
  for _, l in ipairs(self._graph.layers) do snapshot[l] = l.trainable end
  local opt = engine.get_optimizer(opts.optimizer)
  rawset(self, "_compile_args", {loss = opts.loss, metrics = opts.metrics,
                                 loss_weights = opts.loss_weights})
  rawset(self, "_optimizer", opt)
  rawset(self, "_loss", opts.loss)
  rawset(self, "_compiled_loss", outputs[1].loss)
  rawset(self, "_metrics_names", all)
  rawset(self, "_compiled", {outputs = outputs, snapshot = snapshot, loss = outputs[1].loss})
end

--- The net ready for training or evaluation with targets ys (a list).
function methods:_prepare_net(ys)
  local c = rawget(self, "_compiled")
  local net = self:_get_net()
  if c.net == net then return c end
  for k, t in ipairs(self._graph.outputs) do
    local e = c.outputs[k]
    if e.loss then
      local yshape = ys[k]:shape()
      e.metrics = e.metrics or {}
      for i, spec in ipairs(e.specs) do
        e.metrics[i] = e.metrics[i] or spec.make(#yshape, yshape[#yshape], #t.shape + 1,
                                                 t.shape[#t.shape])
      end
      local mc = {}
      for i, m in ipairs(e.metrics) do mc[i] = m._c end
      net.c:set_output_loss(k, e.loss._c, e.weight)
      net.c:set_output_metrics(k, mc)
    elseif #e.specs > 0 then
      E.raisef("compile: output '%s' has metrics but no loss", self._graph.output_names[k])
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

-- ---- structure ----------------------------------------------------------------------------------------

function methods:add()
  E.raisef("%s: a functional model cannot add layers; build a new ln.Model", self.name)
end

function methods:pop()
  E.raisef("%s: a functional model cannot pop layers; build a new ln.Model", self.name)
end

function methods:count_params()
  local n = 0
  for _, l in ipairs(self._graph.layers) do n = n + l:count_params() end
  return n
end

-- Keras 2's print_row (shared with Sequential's summary).
local function row(fields, positions)
  local line = ""
  for i, f in ipairs(fields) do
    if i > 1 then line = line:sub(1, -2) .. " " end
    line = line .. tostring(f)
    line = line:sub(1, positions[i])
    line = line .. string.rep(" ", positions[i] - #line)
  end
  return line
end

--- Keras 2's summary of a graph: Layer (type), Output Shape, Param #,
-- Connected to ("dense_1[0][0]": layer, node, tensor), one line per input
-- of the layer's nodes in this model.
function methods:summary(opts)
  opts = opts or {}
  local print_fn = opts.print_fn or print
  local width = opts.line_length or 98
  local pos = opts.positions or {0.33, 0.55, 0.67, 1.0}
  local stops = {}
  for i, p in ipairs(pos) do stops[i] = p <= 1 and math.floor(width * p) or p end
  local g = self._graph
  local in_model = {}
  for _, node in ipairs(g.nodes) do in_model[node] = true end
  print_fn(sformat('Model: "%s"', self.name))
  print_fn(string.rep("_", width))
  print_fn(row({"Layer (type)", "Output Shape", "Param #", "Connected to"}, stops))
  print_fn(string.rep("=", width))
  local total, trainable = 0, 0
  for i, l in ipairs(self.layers) do
    local count, tr, shape, conn = 0, 0, nil, {}
    if layers.is_input_layer(l) then
      shape = "[" .. registry.shape_str(l.input_shape) .. "]"
    else
      count, tr = l._c:count_params()
      local outs = {}
      for _, node in ipairs(rawget(l, "_nodes") or {}) do
        if in_model[node] then
          for _, t in ipairs(node.inputs) do
            conn[#conn + 1] = sformat("%s[%d][%d]", t.node.layer.name, node_index(t.node),
                                      t.index - 1)
          end
          local s = {}
          for j, t in ipairs(node.outputs) do s[j] = registry.shape_str(t.shape) end
          outs[table.concat(s, ", ")] = true
        end
      end
      local distinct = {}
      for s in pairs(outs) do distinct[#distinct + 1] = s end
      shape = #distinct == 1 and distinct[1] or "multiple"
    end
    total, trainable = total + count, trainable + tr
    print_fn(row({l.name .. " (" .. l.class_name .. ")", shape, tostring(count), conn[1] or ""},
                 stops))
    for j = 2, #conn do print_fn(row({"", "", "", conn[j]}, stops)) end
    print_fn(i == #self.layers and string.rep("=", width) or string.rep("_", width))
  end
  print_fn("Total params: " .. models.thousands(total))
  print_fn("Trainable params: " .. models.thousands(trainable))
  print_fn("Non-trainable params: " .. models.thousands(total - trainable))
  print_fn(string.rep("_", width))
end

-- ---- configs (Keras 2's functional layout) ----------------------------------------------------------------

-- [layer name, node index, tensor index] of a symbolic tensor.
local function ref(t)
  return {t.node.layer.name, node_index(t.node), t.index - 1}
end

--- The nodes of `layer` inside `model`, each as the list of the
-- references it reads (Keras's inbound_nodes, without the kwargs).
function F.inbound_refs(model, layer)
  local in_model = {}
  for _, node in ipairs(model._graph.nodes) do in_model[node] = true end
  local r = {}
  for _, node in ipairs(rawget(layer, "_nodes") or {}) do
    if in_model[node] then
      local ins = {}
      for j, t in ipairs(node.inputs) do ins[j] = ref(t) end
      r[#r + 1] = ins
    end
  end
  return r
end

--- Keras's input_layers and output_layers of a model.
function F.io_refs(model)
  local ins, outs = {}, {}
  for k, t in ipairs(model._graph.inputs) do ins[k] = ref(t) end
  for k, t in ipairs(model._graph.outputs) do outs[k] = ref(t) end
  return ins, outs
end

--- Keras's functional get_config: name, layers (each with inbound_nodes:
-- per node, the [layer name, node index, tensor index, {}] it reads),
-- input_layers and output_layers ([name, node index, tensor index]).
function methods:get_config()
  local list = {}
  for i, l in ipairs(self.layers) do
    local entry
    if layers.is_input_layer(l) then
      entry = {name = l.name, class_name = "InputLayer", inbound_nodes = {},
               config = {input_shape = registry.copy_list(l.input_shape), dtype = "float32",
                         name = l.name}}
    else
      entry = layers.serialize(l)
      entry.name = l.name
      entry.config.input_shape = nil
      entry.inbound_nodes = F.inbound_refs(self, l)
      for _, node in ipairs(entry.inbound_nodes) do
        for _, r in ipairs(node) do r[4] = {} end
      end
    end
    list[i] = entry
  end
  local ins, outs = F.io_refs(self)
  return {name = self.name, layers = list, input_layers = ins, output_layers = outs}
end

-- A Keras tensor reference [name, node, tensor(, kwargs)] of a config.
local function ref_parts(r, what)
  if type(r) ~= "table" or type(r[1]) ~= "string" then
    E.raisef("Model.from_config: %s must be [layer name, node index, tensor index], got %s",
             what, type(r))
  end
  return r[1], math.tointeger(r[2] or 0) or 0, math.tointeger(r[3] or 0) or 0
end

--- A functional model from Keras 2's config (as get_config gives or as a
-- Keras 2 file holds): the layers are made, then called node by node in
-- an order where every node's inputs exist (Keras's own algorithm).
function F.from_config(config, make_layer)
  make_layer = make_layer or layers.from_config
  if type(config) ~= "table" or type(config.layers) ~= "table" then
    E.raise("Model.from_config: expects {name = ..., layers = {...}, input_layers = ..., " ..
            "output_layers = ...}")
  end
  local made, pending, by_name = {}, {}, {}
  for _, e in ipairs(config.layers) do
    local cfg = registry.copy(e.config or {})
    local name = e.name or cfg.name
    if e.class_name == "InputLayer" then
      local shape = type(cfg.batch_input_shape) == "table"
                    and {table.unpack(cfg.batch_input_shape, 2)} or cfg.input_shape or cfg.shape
      made[name] = {F.Input{shape = shape, name = name}}
      by_name[name] = made[name][1].node.layer
    else
      cfg.name = name
      cfg.batch_input_shape, cfg.input_shape = nil, nil
      by_name[name] = make_layer(e.class_name, cfg, name)
      made[name] = {}
      pending[#pending + 1] = {layer = by_name[name], nodes = e.inbound_nodes or {}, done = 0}
    end
  end
  -- tensors[name][node][tensor]: output `tensor` of node `node` of a layer
  local tensors = {}
  for name, list in pairs(made) do
    if list[1] then tensors[name] = {[0] = {[0] = list[1]}} end
  end
  local function lookup(r)
    local n, ni, ti = ref_parts(r, "an inbound node entry")
    local t = tensors[n] and tensors[n][ni] and tensors[n][ni][ti]
    return t
  end
  local progress = true
  while progress do
    progress = false
    for _, p in ipairs(pending) do
      while p.done < #p.nodes do
        local node = p.nodes[p.done + 1]
        -- Keras 2.x files: a node is a list of [name, node, tensor, kwargs]
        local ins = {}
        local ready = true
        for j, r in ipairs(node) do
          ins[j] = lookup(r)
          if not ins[j] then ready = false break end
        end
        if not ready then break end
        local out = p.layer(#ins == 1 and ins[1] or ins)
        local outs = F.is_symbolic(out) and {out} or out
        tensors[p.layer.name] = tensors[p.layer.name] or {}
        local list = {}
        for k, t in ipairs(outs) do list[k - 1] = t end
        tensors[p.layer.name][p.done] = list
        p.done = p.done + 1
        progress = true
      end
    end
  end
  for _, p in ipairs(pending) do
    if p.done < #p.nodes then
      E.raisef("Model.from_config: layer %s: node %d reads a tensor no layer makes (a " ..
               "disconnected or cyclic graph)", p.layer.name, p.done)
    end
  end
  local function resolve(list, what)
    local r = {}
    for k, ref in ipairs(list or {}) do
      r[k] = lookup(ref)
      if not r[k] then
        E.raisef("Model.from_config: %s entry %d (%s) names no tensor", what, k, tostring(ref[1]))
      end
    end
    return r
  end
  return F.Model{inputs = resolve(config.input_layers, "input_layers"),
                 outputs = resolve(config.output_layers, "output_layers"), name = config.name}
end

function F.is_functional(v)
  return type(v) == "table" and getmetatable(v) == Functional
end

local is_symbolic, is_symbolic_arg = F.is_symbolic, F.is_symbolic_arg
E.protect_all(methods)
E.protect_all(F)
-- called for every layer call: kept unwrapped
F.is_symbolic, F.is_symbolic_arg = is_symbolic, is_symbolic_arg

return F
