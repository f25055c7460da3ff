--- lunet.plot_model: Keras's model_to_dot and plot_model -- a model's
-- graph (Sequential or functional) as Graphviz's DOT text, and drawn to a
-- PNG by Graphviz's `dot` (Debian package graphviz).
--
--   ln.utils.plot_model(model, "model.png", {show_shapes = true})
--   local text = ln.utils.model_to_dot(model, {rankdir = "LR"})
--
-- Options: show_shapes (false), show_layer_names (true), rankdir ("TB" or
-- "LR"), dpi (96). The PNG is written as every lunet file (atomically,
-- lunet.io's save-target rule).
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local layers = require "lunet.layers"
local O = require "lunet.options"

local M = {}
local sformat = string.format

local keys = {show_shapes = 1, show_layer_names = 1, rankdir = 1, dpi = 1, expand_nested = 1,
              show_dtype = 1}

local function options(what, opts)
  opts = opts or {}
  if type(opts) ~= "table" then E.raisef("%s: options must be a table, got %s", what, type(opts)) end
  O.keys(what, opts, keys)
  O.boolean(what, "show_shapes", opts.show_shapes)
  O.boolean(what, "show_layer_names", opts.show_layer_names)
  if opts.rankdir ~= nil and opts.rankdir ~= "TB" and opts.rankdir ~= "LR" then
    E.raisef("%s: rankdir must be \"TB\" or \"LR\", got %s", what, tostring(opts.rankdir))
  end
  O.integer(what, "dpi", opts.dpi, 10, 2400)
  return opts
end

-- DOT's quoting of a label.
local function quote(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0"):gsub("\n", "\\n") .. '"'
end

-- Every (layer, its input layers) of a model, in model.layers order.
local function wiring(model)
  local r = {}
  local g = rawget(model, "_graph")
  if g then
    for _, l in ipairs(model.layers) do
      local from, shapes = {}, {}
      for _, node in ipairs(g.nodes) do
        if node.layer == l then
          for _, t in ipairs(node.inputs) do
            from[#from + 1] = t.node.layer.name
            shapes[#shapes + 1] = t.shape
          end
        end
      end
      r[#r + 1] = {layer = l, from = from, in_shapes = #shapes > 1 and shapes or shapes[1]}
    end
  elseif rawget(model, "_sub") then
    -- a subclassed model: its connections are Lua code (Keras draws its
    -- layers unconnected too)
    for _, l in ipairs(model.layers) do r[#r + 1] = {layer = l, from = {}} end
  else
    local prev
    for _, l in ipairs(model.layers) do
      r[#r + 1] = {layer = l, from = prev and {prev} or {}}
      prev = l.name
    end
  end
  return r
end

local function shape_text(s)
  if type(s) ~= "table" then return "?" end
  if type(s[1]) == "table" then
    local parts = {}
    for i, e in ipairs(s) do parts[i] = registry.shape_str(e) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  return registry.shape_str(s)
end

--- Keras's model_to_dot: the graph as DOT text.
function M.model_to_dot(model, opts)
  if not require("lunet.models").is_model(model) then
    E.raise("model_to_dot: expects a model (ln.Sequential or ln.Model)")
  end
  opts = options("model_to_dot", opts)
  local names = opts.show_layer_names ~= false
  local lines = {"digraph G {", sformat("  rankdir=%s;", opts.rankdir or "TB"),
                 sformat("  dpi=%d;", opts.dpi or 96),
                 '  node [shape=record, fontname="Helvetica"];'}
  local ids = {}
  for i, w in ipairs(wiring(model)) do
    local l = w.layer
    ids[l.name] = "n" .. i
    local cls = l.class_name or (rawget(l, "_graph") and "Functional" or "Sequential")
    local label = names and (l.name .. ": " .. cls) or cls
    if opts.show_shapes then
      local ins = w.in_shapes or l.input_shape
      local outs = layers.is_input_layer(l) and l.input_shape or l.output_shape
      label = sformat("%s|{input:|output:}|{%s|%s}", label, shape_text(ins), shape_text(outs))
    end
    lines[#lines + 1] = sformat("  n%d [label=%s];", i, quote(label))
    for _, from in ipairs(w.from) do
      lines[#lines + 1] = sformat("  %s -> n%d;", ids[from] or quote(from), i)
    end
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

--- Keras's plot_model: draws the graph into `path` (PNG) with Graphviz.
function M.plot_model(model, path, opts)
  if type(path) ~= "string" or path == "" then
    E.raise("plot_model: expects a file name (\"model.png\") as argument 2")
  end
  local text = M.model_to_dot(model, opts)
  if os.execute("command -v dot >/dev/null 2>&1") ~= true then
    E.raise("plot_model: Graphviz's `dot` was not found (install the Debian package graphviz)")
  end
  local src, png, err = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(src, "wb"))
  f:write(text)
  f:close()
  local q = function(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local ok = os.execute("dot -Tpng " .. q(src) .. " -o " .. q(png) .. " 2>" .. q(err)) == true
  local fe = io.open(err, "rb")
  local msg = fe and fe:read("a") or ""
  if fe then fe:close() end
  local fi = io.open(png, "rb")
  local image = fi and fi:read("a") or ""
  if fi then fi:close() end
  os.remove(src)
  os.remove(png)
  os.remove(err)
  if not ok or image == "" then
    E.raisef("plot_model: Graphviz's dot failed: %s", msg:gsub("%s+$", ""))
  end
  core.io_write_file(path, image, true, "plot_model")
  require("lunet.display").image(path)
  return path
end

E.protect_all(M)
return M
