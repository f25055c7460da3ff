-- Keras 2 CNN model files (tests/data/keras2-cnn, written in tf.keras 2.4's
-- HDF5 layout by tests/tools/make_keras_cnn.py; see the README there):
-- Sequential and functional configs with Conv1D/2D, Conv2DTranspose,
-- DepthwiseConv2D, SeparableConv2D, pooling, BatchNormalization, Dense,
-- Dropout, Flatten and Reshape load with their weights in Keras's layouts
-- and predict like the float64 reference (1e-5 of the largest output);
-- weights load into a model built in Lua; lunet's own save reads back.
-- Run as `lunet test_keras_cnn.lua` (cwd tests/lua).
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq
local L = ln.layers

local src = os.getenv("LUNET_SOURCE_DIR") or (here .. "/../..")
local DIR = src .. "/tests/data/keras2-cnn"
local IO = DIR .. "/cnn_io.h5"
local X = ln.io.read_h5(IO, "/inputs")

local function close(got, want, what)
  local d = (got - want):abs():max()
  local m = want:abs():max()
  d = type(d) == "number" and d or d:item()
  m = type(m) == "number" and m or m:item()
  assert(d <= 1e-5 * m, string.format("%s: max |diff| %.3g, max |reference| %.3g", what, d, m))
end

local function check(name, classes)
  local model = ln.models.load_model(DIR .. "/" .. name .. ".h5")
  eq(#model.layers, #classes, name .. ": layers")
  for i, cls in ipairs(classes) do eq(model.layers[i].class_name, cls, name .. ": layer " .. i) end
  close(model:predict(X), ln.io.read_h5(IO, "/predictions/" .. name), name)
  return model
end

test("Sequential CNN (Conv2D, BatchNormalization, pooling, Dropout, Dense)", function()
  local m = check("cnn_sequential", {"Conv2D", "BatchNormalization", "MaxPooling2D", "Conv2D",
                                     "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout",
                                     "Dense"})
  eq(m.layers[1]:get_config().padding, "same")
  eq(table.concat(m.layers[1].kernel.shape, ","), "3,3,1,8")
  eq(m.optimizer.class_name, "SGD", "compiled as the file says")
  local loss, acc = m:evaluate(X, ln.zeros({12}), {verbose = 0})
  assert(loss > 0 and acc >= 0 and acc <= 1, "evaluate runs")
end)

test("functional CNN (strides, dilation, same average pooling)", function()
  check("cnn_functional", {"Conv2D", "Conv2D", "AveragePooling2D", "Flatten", "Dense"})
end)

test("every kernel layout: Conv1D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose", function()
  local m = check("cnn_layouts", {"Reshape", "Conv1D", "Reshape", "DepthwiseConv2D",
                                  "SeparableConv2D", "Conv2DTranspose",
                                  "GlobalAveragePooling2D", "Dense"})
  eq(table.concat(m.layers[2].kernel.shape, ","), "3,28,8", "Conv1D (k, in, out)")
  eq(table.concat(m.layers[4].depthwise_kernel.shape, ","), "3,3,1,2")
  eq(table.concat(m.layers[5].pointwise_kernel.shape, ","), "1,1,2,5")
  eq(table.concat(m.layers[6].kernel.shape, ","), "3,3,3,5", "Conv2DTranspose (kh, kw, out, in)")
end)

test("load_weights into the same CNN written in Lua", function()
  local m = ln.Sequential{
    L.Conv2D{6, 5, strides = 2, input_shape = {28, 28, 1}},
    L.Conv2D{8, 3, padding = "same", dilation_rate = 2, activation = "tanh"},
    L.AveragePooling2D{2, padding = "same"},
    L.Flatten{},
    L.Dense{10, activation = "softmax"},
  }
  m:load_weights(DIR .. "/cnn_functional.h5")
  close(m:predict(X), ln.io.read_h5(IO, "/predictions/cnn_functional"), "load_weights")
end)

test("a loaded Keras CNN saved by lunet reads back the same", function()
  local m = ln.models.load_model(DIR .. "/cnn_layouts.h5")
  local dir = T.mktempdir("lunet_kcnn_")
  m:save(dir .. "/again.h5")
  local m2 = ln.models.load_model(dir .. "/again.h5")
  assert(m:predict(X):equal(m2:predict(X)), "predictions differ")
  os.execute("rm -rf '" .. dir .. "'")
end)

T.summary("Keras CNN file")
