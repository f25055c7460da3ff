--- lunet.functional_config: Keras 2's functional configs of lunet.functional
-- models (get_config, the references files hold) and models made from
-- them (from_config, also what loading a Keras functional file uses).
-- Installed into lunet.functional by that module.
local E = require "lunet.errors"
local registry = require "lunet.registry"
local layers = require "lunet.layers"

return function(F, methods)
local node_index = F.node_index
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
      by_name[name] = make_layer(e.class_name, cfg, name, e)
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

end
