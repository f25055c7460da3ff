-- Reading real Keras files: the Keras 2.0.6 MNIST MLP of
-- ../shared/interop/keras2-mnist-mlp (old list-form config, VarianceScaling
-- dicts, batch_input_shape on the first layer, a weights-only file with
-- fixed-length names) must give Keras's own predictions and per-layer
-- activations within 1e-5 on the 100 stored inputs -- through
-- model_from_json + load_weights, through a whole-model file in Keras
-- 2.0.6's layout (bytes attributes, `lr` in the optimizer config), and
-- through the newer dict-form and functional configs of the same model.
-- Run as `lunet test_keras_interop.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises_as

-- ---- the interop files ---------------------------------------------------------------

local function readable(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

local function interop_dir()
  local env = os.getenv("LUNET_INTEROP_DIR")
  if env then return env end
  local src = os.getenv("LUNET_SOURCE_DIR") or "../.."
  for _, d in ipairs({src .. "/../shared/interop/keras2-mnist-mlp",
                      src .. "/tests/data/keras2-mnist-mlp"}) do
    if readable(d .. "/mnist_mlp_tf_keras_2_weights.h5") then return d end
  end
  error("the Keras interop files are missing (set LUNET_INTEROP_DIR)")
end

local DIR = interop_dir()
local CONFIG = DIR .. "/mnist_mlp_tf_keras_2_config.json"
local WEIGHTS = DIR .. "/mnist_mlp_tf_keras_2_weights.h5"
local IO = DIR .. "/mnist_mlp_tf_keras_2_inputs_and_outputs.h5"
local PY = "/usr/bin/python3"

local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local TMP = T.mktempdir("lunet_interop_")

local X = ln.io.read_h5(IO, "/inputs/dense_1_input")
local WANT = ln.io.read_h5(IO, "/predictions/dense_3")
local NAMES = {"dense_1", "dropout_1", "dense_2", "dropout_2", "dense_3"}

local function max_diff(a, b)
  local m = (a - b):abs():max()
  return type(m) == "number" and m or m:item()
end

-- Keras's predictions and every layer's activations, within 1e-5.
local function check_outputs(model, what)
  eq(#model.layers, 5, what .. ": layers")
  local d = max_diff(model:predict(X), WANT)
  assert(d <= 1e-5, string.format("%s: predictions differ from Keras's by %g", what, d))
  local h = X
  for i, l in ipairs(model.layers) do
    eq(l.name, NAMES[i], what .. ": layer name")
    h = l(h)
    local want = ln.io.read_h5(IO, "/activations/" .. NAMES[i])
    local di = max_diff(h, want)
    assert(di <= 1e-5, string.format("%s: layer %s differs from Keras's by %g", what, l.name, di))
  end
end

-- ---- model_from_json + load_weights ---------------------------------------------------

test("Keras 2.0.6 list-form config + weights file: Keras's outputs", function()
  local model = ln.models.model_from_json(slurp(CONFIG))
  eq(model.name, "sequential", "a list-form config has no model name")
  eq(model:count_params(), 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10)
  local d1 = model.layers[1]
  eq(d1.class_name, "Dense")
  eq(d1.input_shape[1], 784, "batch_input_shape on the first layer")
  local cfg = d1:get_config()
  eq(cfg.activation, "relu")
  eq(cfg.kernel_initializer.name, "variance_scaling")
  eq(cfg.kernel_initializer.mode, "fan_avg")
  eq(cfg.kernel_initializer.distribution, "uniform")
  eq(model.layers[2]:get_config().rate, 0.2)
  eq(model.layers[5]:output_activation(), "softmax")
  model:load_weights(WEIGHTS)
  check_outputs(model, "list form")
end)

test("to_json of the loaded model reads back as the same model", function()
  local model = ln.models.model_from_json(slurp(CONFIG))
  model:load_weights(WEIGHTS)
  local again = ln.models.model_from_json(model:to_json())
  eq(again:to_json(), model:to_json())
  again:set_weights(model:get_weights())
  check_outputs(again, "to_json")
end)

-- ---- newer config forms of the same model ------------------------------------------------

local null = ln.h5.json_null

-- The 2.0.6 config rewritten as tf.keras 2.4 writes a Sequential: dict
-- form, an InputLayer first, dtype in every layer.
local function dict_form()
  local old = ln.h5.json_decode(slurp(CONFIG))
  local list = {{class_name = "InputLayer", config = {batch_input_shape = {null, 784},
                 dtype = "float32", sparse = false, ragged = false, name = "dense_1_input"}}}
  for _, e in ipairs(old.config) do
    local c = e.config
    c.batch_input_shape = nil
    c.dtype = "float32"
    list[#list + 1] = {class_name = e.class_name, config = c}
  end
  return {class_name = "Sequential", config = {name = "sequential_3", layers = list},
          keras_version = "2.4.0", backend = "tensorflow"}
end

-- The same model as a functional straight chain ("Functional", TF 2.4).
local function functional_form(class_name)
  local seq = dict_form()
  local list, prev = {}, "input_1"
  list[1] = {class_name = "InputLayer", name = "input_1", inbound_nodes = ln.h5.json_array(),
             config = {batch_input_shape = {null, 784}, dtype = "float32", sparse = false,
                       ragged = false, name = "input_1"}}
  for i = 2, #seq.config.layers do
    local e = seq.config.layers[i]
    list[#list + 1] = {class_name = e.class_name, config = e.config, name = e.config.name,
                       inbound_nodes = {{{prev, 0, 0, {}}}}}
    prev = e.config.name
  end
  return {class_name = class_name or "Functional", config = {name = "model", layers = list,
          input_layers = {{"input_1", 0, 0}}, output_layers = {{prev, 0, 0}}}}
end

test("tf.keras 2.4 dict-form Sequential with an InputLayer", function()
  local model = ln.models.model_from_json(ln.h5.json_encode(dict_form()))
  eq(model.name, "sequential_3")
  eq(model.input_shape[1], 784)
  model:load_weights(WEIGHTS)
  check_outputs(model, "dict form")
end)

test("functional straight chains (Functional and Model)", function()
  for _, cls in ipairs({"Functional", "Model"}) do
    local model = ln.models.model_from_json(ln.h5.json_encode(functional_form(cls)))
    eq(model.name, "model")
    model:load_weights(WEIGHTS)
    check_outputs(model, cls)
  end
end)

test("functional chains listed out of order are followed from the input", function()
  local f = functional_form()
  local l = f.config.layers
  l[2], l[4] = l[4], l[2]
  local model = ln.models.model_from_json(ln.h5.json_encode(f))
  model:load_weights(WEIGHTS)
  check_outputs(model, "shuffled functional")
end)

test("functional graphs load as functional models; bad wiring is named", function()
  local f = functional_form()
  -- dense_3 takes dropout_2 and dense_2: a Dense takes one input
  local last = f.config.layers[#f.config.layers]
  last.inbound_nodes = {{{"dropout_2", 0, 0, {}}, {"dense_2", 0, 0, {}}}}
  raises(function() ln.models.model_from_json(ln.h5.json_encode(f)) end,
         {"dense_3 (Dense)", "takes 1 input, got 2", "dropout_2 (None, 512)"})
  -- dense_3 reads dropout_1: a graph that leaves dense_2 and dropout_2
  -- out of the model (as Keras's from_config does)
  f = functional_form()
  f.config.layers[#f.config.layers].inbound_nodes = {{{"dropout_1", 0, 0, {}}}}
  local m = ln.models.model_from_json(ln.h5.json_encode(f))
  local names = {}
  for i, l in ipairs(m.layers) do names[i] = l.name end
  eq(table.concat(names, ","), "input_1,dense_1,dropout_1,dense_3")
end)

test("unknown layer classes are refused naming class and layer", function()
  local d = dict_form()
  d.config.layers[3].class_name = "ConvLSTM2D"
  raises(function() ln.models.model_from_json(ln.h5.json_encode(d)) end,
         {"ConvLSTM2D", "dropout_1", "no installed lunet plugin"})
end)

-- ---- a whole-model file in Keras 2.0.6's layout ---------------------------------------------

-- Keras 2.0.6 wrote model_config and training_config as bytes (h5py 2:
-- fixed-length strings) and the layer groups under /model_weights; h5py
-- builds one from the interop files.
local TRAINING_2_0_6 = '{"optimizer_config": {"class_name": "RMSprop", "config": ' ..
  '{"lr": 0.0010000000474974513, "rho": 0.8999999761581421, "epsilon": 1e-08, ' ..
  '"decay": 0.0}}, "loss": "categorical_crossentropy", "metrics": ["accuracy"], ' ..
  '"sample_weight_mode": null, "loss_weights": null}'

local function keras_model_file(path, model_config, training_config)
  local script = TMP .. "/make.py"
  local f = assert(io.open(script, "w"))
  f:write([[
import sys, h5py, numpy
src, dst, mc, tc = sys.argv[1:5]
# h5py 2 stored Python 2 / bytes strings as fixed-length strings
fixed = numpy.bytes_
with h5py.File(src, "r") as w, h5py.File(dst, "w") as f:
    f.attrs["keras_version"] = fixed(b"2.0.6")
    f.attrs["backend"] = fixed(b"tensorflow")
    f.attrs["model_config"] = fixed(open(mc, "rb").read())
    if tc != "-":
        f.attrs["training_config"] = fixed(open(tc, "rb").read())
    g = f.create_group("model_weights")
    for k, v in w.attrs.items():
        g.attrs[k] = v
    for name in w:
        w.copy(name, g)
]])
  f:close()
  local mc, tc = TMP .. "/mc.json", TMP .. "/tc.json"
  f = assert(io.open(mc, "w")); f:write(model_config); f:close()
  if training_config then f = assert(io.open(tc, "w")); f:write(training_config); f:close() end
  local cmd = string.format("%s %s %s %s %s %s", PY, script, WEIGHTS, path, mc,
                            training_config and tc or "-")
  assert(os.execute(cmd), "h5py could not write " .. path)
end

test("load_model on a Keras 2.0.6 whole-model file", function()
  local path = TMP .. "/keras_2_0_6_model.h5"
  keras_model_file(path, slurp(CONFIG), TRAINING_2_0_6)
  local model = ln.models.load_model(path)
  check_outputs(model, "load_model")
  -- compiled as Keras was: RMSprop from `lr`, its loss and metric
  eq(model.optimizer.class_name, "RMSprop")
  local lr = model.optimizer:get_config().learning_rate
  assert(math.abs(lr - 0.001) < 1e-9, "lr read as learning_rate: " .. tostring(lr))
  eq(model.metrics_names[2], "accuracy")
  local y = ln.io.read_h5(IO, "/outputs/dense_3")
  local loss, acc = model:evaluate(X, y, {verbose = 0})
  local keras_loss = ln.io.read_h5(IO, "/scores/loss"):item()
  assert(math.abs(loss - keras_loss) < 1e-5,
         string.format("loss %.8f, Keras's %.8f", loss, keras_loss))
  assert(math.abs(acc - 0.95) < 1e-6, "accuracy " .. acc)
end)

test("load_model without a training config leaves the model uncompiled", function()
  local path = TMP .. "/keras_uncompiled.h5"
  keras_model_file(path, slurp(CONFIG), nil)
  local model = ln.models.load_model(path)
  check_outputs(model, "uncompiled")
  eq(rawget(model, "_compiled"), nil)
end)

test("a Keras file naming an unknown class is refused naming it and the file", function()
  local path = TMP .. "/keras_unknown.h5"
  local d = dict_form()
  d.config.layers[2].class_name = "LocallyConnected1D"
  keras_model_file(path, ln.h5.json_encode(d), nil)
  raises(function() ln.models.load_model(path) end, {path, "LocallyConnected1D", "dense_1"})
end)

test("a Keras weights file given to load_model is refused with advice", function()
  raises(function() ln.models.load_model(WEIGHTS) end, {WEIGHTS, "weights only", "load_weights"})
end)

test("weights files that do not fit are refused naming layer and shapes", function()
  local model = ln.Sequential{ln.layers.Dense{512, input_shape = {784}}, ln.layers.Dense{256},
                              ln.layers.Dense{10}}
  raises(function() model:load_weights(WEIGHTS) end,
         {WEIGHTS, "dense_2", "(512, 512)", "(512, 256)"})
  local small = ln.Sequential{ln.layers.Dense{10, input_shape = {784}}}
  raises(function() small:load_weights(WEIGHTS) end, {WEIGHTS, "3 layers", "1 layers"})
end)

os.execute("rm -rf " .. TMP)
T.summary()
