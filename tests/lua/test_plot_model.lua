-- ln.utils.model_to_dot and plot_model (lunet.plot_model): the DOT text
-- of a functional graph and of a Sequential, and a PNG drawn by Graphviz.
-- Skipped (exit status 77) when Graphviz's `dot` is absent.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises_as

local function graph()
  ln.backend.clear_session()
  local wide = ln.Input{shape = {5}, name = "wide_input"}
  local deep = ln.Input{shape = {6}, name = "deep_input"}
  local h = ln.layers.Dense{30, activation = "relu"}(deep)
  local c = ln.layers.Concatenate{}({wide, h})
  return ln.Model{inputs = {wide, deep}, outputs = {ln.layers.Dense{1, name = "main"}(c),
                                                    ln.layers.Dense{1, name = "aux"}(h)}}
end

test("model_to_dot: nodes, edges and shapes", function()
  local text = ln.utils.model_to_dot(graph(), {show_shapes = true, rankdir = "LR"})
  assert(text:find("rankdir=LR;", 1, true), text)
  assert(text:find('n4 [label="concatenate: Concatenate|{input:|output:}|{[(None, 5), (None, 30)]|(None, 35)}"];', 1, true), text)
  for _, e in ipairs({"n2 -> n3;", "n1 -> n4;", "n3 -> n4;", "n4 -> n5;", "n3 -> n6;"}) do
    assert(text:find(e, 1, true), "missing edge " .. e .. "\n" .. text)
  end
  local seq = ln.Sequential{ln.layers.Dense{3, input_shape = {2}}, ln.layers.Dense{1}}
  local s = ln.utils.model_to_dot(seq, {show_layer_names = false})
  assert(s:find('n1 [label="Dense"];\n  n2 [label="Dense"];\n  n1 -> n2;', 1, true), s)
  raises(function() ln.utils.model_to_dot(seq, {rankdir = "XY"}) end, "rankdir")
  raises(function() ln.utils.model_to_dot({}) end, "expects a model")
end)

test("plot_model draws a PNG", function()
  if os.execute("command -v dot >/dev/null 2>&1") ~= true then
    T.skip("Graphviz's dot is absent (apt-get install graphviz)")
    return
  end
  local dir = T.mktempdir("lunet_plot_model_")
  local path = dir .. "/model.png"
  eq(ln.utils.plot_model(graph(), path, {show_shapes = true}), path)
  local f = assert(io.open(path, "rb"))
  local head = f:read(8)
  f:close()
  eq(head, "\137PNG\r\n\26\n", "PNG signature")
  os.remove(path)
  os.remove(dir)
end)

test("without Graphviz, plot_model says what to install", function()
  -- a child lunet whose PATH has no dot
  local _, lunet = T.root_and_lunet()
  local code = "local ln = require 'lunet'; local i = ln.Input{shape = {3}}; " ..
               "local m = ln.Model{inputs = i, outputs = ln.layers.Dense{2}(i)}; " ..
               "local ok, e = pcall(ln.utils.plot_model, m, os.tmpname() .. '.png'); " ..
               "io.write(tostring(ok), ' ', tostring(e))"
  local p = assert(io.popen(string.format("env PATH=/nonexistent '%s' -e \"%s\" 2>&1", lunet,
                                          code)))
  local out = p:read("a")
  p:close()
  assert(out:find("^false ") and out:find("Graphviz's `dot` was not found", 1, true) and
         out:find("graphviz", 1, true), out)
end)

T.summary("plot_model")
