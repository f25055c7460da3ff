-- A Keras 2 functional file with branches, merges (Subtract, Multiply, Dot
-- normalize, Concatenate, Add), two inputs, two outputs and a shared layer
-- (one Dense with two inbound nodes; consumers name node 1) --
-- tests/data/keras2-functional, written in tf.keras 2.4's HDF5 layout by
-- tests/tools/make_keras_functional.py -- loads as a functional model and
-- predicts within 1e-5 of the float64 reference; its training_config
-- compiles it (losses, loss_weights, metrics keyed by output name) and it
-- trains; lunet's own save of it loads back bitwise, and h5py reads the
-- Keras functional layout from that file (inbound_nodes with node indices,
-- input_layers, output_layers, one weight group for the shared layer).
-- Run as `lunet test_keras_functional.lua` (cwd tests/lua).
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

local src = os.getenv("LUNET_SOURCE_DIR") or (here .. "/../..")
local DIR = src .. "/tests/data/keras2-functional"
local IO = DIR .. "/functional_io.h5"
local A = ln.io.read_h5(IO, "/inputs/input_a")
local B = ln.io.read_h5(IO, "/inputs/input_b")
local TMP = T.mktempdir("lunet_keras_functional_")

local function max_diff(a, b)
  local d = (a - b):abs():max()
  return type(d) == "number" and d or d:item()
end

test("the Keras file loads as a graph and predicts as float64 (1e-5)", function()
  local m = ln.models.load_model(DIR .. "/functional_graph.h5")
  eq(m.name, "two_towers")
  eq(table.concat(m.input_names, ","), "input_a,input_b")
  eq(table.concat(m.output_names, ","), "main_output,aux_output")
  eq(m:count_params(), 56 + 120 + 6 + 27, "the shared Dense counted once")
  local lines = {}
  m:summary{print_fn = function(s) lines[#lines + 1] = s end}
  local text = table.concat(lines, "\n")
  assert(text:find("shared[1][0]", 1, true), "node 1 of the shared layer is connected")
  local p = m:predict({input_a = A, input_b = B})
  for k, name in ipairs({"main_output", "aux_output"}) do
    local want = ln.io.read_h5(IO, "/predictions/" .. name):float()
    local d = max_diff(p[k], want)
    assert(d <= 1e-5, string.format("%s: max |diff| from the float64 reference %.3g", name, d))
  end
end)

test("its training_config compiles it; it trains; lunet's save loads back bitwise", function()
  local m = ln.models.load_model(DIR .. "/functional_graph.h5")
  eq(table.concat(m.metrics_names, ","), "loss,main_output_loss,aux_output_loss,main_output_accuracy")
  local y1 = (A:sum(2, true):gt(0)):float()
  local labels = {}
  for i = 1, 16 do labels[i] = i % 3 end
  local y2 = ln.tensor(labels, "int32")
  local before = m:evaluate({A, B}, {y1, y2}, {verbose = 0})
  ln.random.seed(3)
  m:fit({A, B}, {y1, y2}, {epochs = 20, batch_size = 8, verbose = 0})
  local after = m:evaluate({A, B}, {y1, y2}, {verbose = 0})
  assert(after < before, string.format("training lowered the loss: %g -> %g", before, after))
  local path = TMP .. "/resaved.h5"
  m:save(path)
  local back = ln.models.load_model(path)
  local p, q = m:predict({A, B}), back:predict({A, B})
  assert(ln.equal(p[1], q[1]) and ln.equal(p[2], q[2]), "the reloaded model predicts the same bits")
  -- h5py sees Keras's functional layout
  local script = TMP .. "/check.py"
  local f = assert(io.open(script, "w"))
  f:write([==[
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
mc = json.loads(f.attrs["model_config"])
c = mc["config"]
print(mc["class_name"])
print(json.dumps(c["input_layers"]), json.dumps(c["output_layers"]))
by = {l["name"]: l for l in c["layers"]}
print(len(by["shared"]["inbound_nodes"]), json.dumps(by["subtract"]["inbound_nodes"][0]))
mw = f["model_weights"]
names = [n.decode() for n in mw.attrs["layer_names"]]
print(" ".join(names))
print(" ".join(w.decode() for w in mw["shared"].attrs["weight_names"]))
]==])
  f:close()
  local pipe = io.popen(string.format("/usr/bin/python3 '%s' '%s' 2>&1", script, path))
  local out = {}
  for l in pipe:lines() do out[#out + 1] = l end
  assert(pipe:close(), "python failed: " .. table.concat(out, " / "))
  eq(out[1], "Functional")
  eq(out[2], '[["input_a", 0, 0], ["input_b", 0, 0]] [["main_output", 0, 0], ["aux_output", 0, 0]]')
  eq(out[3], '2 [["shared", 0, 0, {}], ["shared", 1, 0, {}]]')
  local names = {}
  for i, l in ipairs(m.layers) do names[i] = l.name end
  eq(out[4], table.concat(names, " "))
  eq(out[5], "shared/kernel:0 shared/bias:0")
end)

T.summary("keras functional files")
