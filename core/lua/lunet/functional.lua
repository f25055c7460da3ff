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
-- compile/fit/evaluate/predict are Sequential's (lunet.engine) with the
-- data hooks of lunet.functional_train (_check_xy, _prepare_net, ...).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local layers = require "lunet.layers"
local models = require "lunet.models"
local engine = require "lunet.engine"
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
  local ok, outs
  local L = package.loaded["lunet.custom_layers"]
  if L and L.is_lua_layer(layer) then
    -- a layer written in Lua: built for the shapes (a list of shapes when
    -- called on a list), its output shape found for them
    local s = F.is_symbolic(x) and shapes[1] or shapes
    ok, outs = pcall(function()
      if not layer.built then layer:_build(s) end
      local have = rawget(layer, "_shape_in")
      if L.shape_key(have) ~= L.shape_key(s) then
        E.raisef("%s (%s): built for input shape %s, now called on %s", layer.name,
                 layer.class_name, L.shape_key(have), L.shape_key(s))
      end
      return {L.shape_for(layer, s)}
    end)
  else
    ok, outs = pcall(layer._c.build_inputs, layer._c, shapes)
  end
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

--- model(x) on symbolic tensors: the model used as a layer. Its nodes are
-- applied again to x, in order (its layers, so its weights, are shared, as
-- Keras's nested models share theirs); the outer model lists those layers
-- itself rather than the model as one layer.
function F.call_model(model, x)
  local list = F.is_symbolic(x) and {x} or x
  local g = model._graph
  if #list ~= #g.inputs then
    E.raisef("%s: called on %d tensors, the model has %d inputs (%s)", model.name, #list,
             #g.inputs, table.concat(g.input_names, ", "))
  end
  local map = {}
  for i, t in ipairs(g.inputs) do
    if not F.is_symbolic(list[i]) then
      E.raisef("%s: input %d must be a symbolic tensor, got %s", model.name, i, type(list[i]))
    end
    if registry.shape_str(list[i].shape) ~= registry.shape_str(t.shape) then
      E.raisef("%s: input '%s' expects shape %s, got %s", model.name, g.input_names[i],
               registry.shape_str(t.shape), describe(list[i]))
    end
    map[t] = list[i]
  end
  for _, node in ipairs(g.nodes) do
    local args = {}
    for i, t in ipairs(node.inputs) do args[i] = map[t] end
    local out = F.call_layer(node.layer, #args == 1 and args[1] or args)
    local outs = F.is_symbolic(out) and {out} or out
    for j, t in ipairs(node.outputs) do map[t] = outs[j] end
  end
  local r = {}
  for k, t in ipairs(g.outputs) do r[k] = map[t] end
  return #r == 1 and r[1] or r
end

Functional.__call = E.protect(function(self, x, opts)
  if F.is_symbolic_arg(x) then return F.call_model(self, x) end
  local training = type(opts) == "table" and opts.training and true or false
  local ys = self:_forward_list(x, training)
  local r = {}
  -- (node by node, on a tape or with Lua layers: new tensors already)
  local fresh = self:_runs_on_tape()
  for k, y in ipairs(ys) do r[k] = fresh and y or nn.tensor_clone(y) end
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

--- ln.Model is callable (a functional model: F.Model{inputs, outputs}) and
-- extendable (a subclassed model: ln.Model:extend{..., call = ...}, made
-- by lunet.subclassed).
do
  local make = E.protect(F.Model)
  F.Model = setmetatable({
    extend = function(_, spec)
      local S = require "lunet.subclassed"
      return S.Root.extend(S.Root, spec)
    end,
  }, {__call = function(_, args) return make(args) end,
      __tostring = function() return "<model class Model>" end})
end

-- fit/evaluate/predict hooks, compile (lunet.functional_train) and configs
-- (lunet.functional_config) add their methods and functions here.
F.node_index = node_index
F.topological = topological
require("lunet.functional_train")(F, methods)
require("lunet.functional_config")(F, methods)

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

local row = models.summary_row -- Keras 2's print_row

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
      local L = package.loaded["lunet.custom_layers"]
      if L and L.is_lua_layer(l) then count, tr = l:_count_params()
      else count, tr = l._c:count_params() end
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

function F.is_functional(v)
  return type(v) == "table" and getmetatable(v) == Functional
end

local is_symbolic, is_symbolic_arg = F.is_symbolic, F.is_symbolic_arg
E.protect_all(methods)
E.protect_all(F)
-- called for every layer call: kept unwrapped
F.is_symbolic, F.is_symbolic_arg = is_symbolic, is_symbolic_arg

return F
