-- uint8 and int32 inputs to fit, evaluate and predict (core/engine/
-- net_batch.c converts each batch's rows to float32; no float copy of the
-- data set) and the Rescaling layer (plugins/layers/rescaling.c, Keras's
-- y = x * scale + offset). Training from uint8 through Rescaling{1/255}
-- equals training from the float32 copy of the same images, bitwise.
-- Run as `lunet test_uint8_input.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local xu = train.x:narrow(1, 1, 640)      -- uint8 (640, 28, 28)
local y = train.y:narrow(1, 1, 640)

T.test("Rescaling: Keras's x * scale + offset, positional and named", function()
  local x = ln.tensor({{0, 1, 255}}, "uint8")
  local m = ln.Sequential{ln.layers.Rescaling{scale = 2, offset = -1, input_shape = {3}}}
  local q = m:predict(x)[1]:totable()
  for i, v in ipairs({-1, 1, 509}) do T.eq(q[i], v, "named " .. i) end
  local r = ln.layers.Rescaling{1 / 255, 0.5, input_shape = {3}}
  local c = r:get_config()
  T.near(c.scale, 1 / 255, 1e-15, "config scale")
  T.eq(c.offset, 0.5, "config offset")
  local p = ln.Sequential{r}:predict(x)[1]:totable()
  for i, v in ipairs({0, 1, 255}) do T.near(p[i], v / 255 + 0.5, 1e-6, "positional " .. i) end
  T.eq(ln.layers.Rescaling{1 / 255}:get_config().offset, 0, "offset defaults to 0")
  T.raises_as(function() ln.layers.Rescaling{} end, {"Rescaling", "scale"})
  T.raises_as(function() ln.layers.Rescaling{"x"} end, {"scale", "number"})
  T.raises_as(function() ln.layers.Rescaling{1, offset = 0 / 0} end, {"offset", "finite"})
end)

local function model_of()
  ln.random.seed(4)
  local L = ln.layers
  local m = ln.Sequential{L.Rescaling{1 / 255, input_shape = {28, 28}}, L.Flatten{},
                          L.Dense{32, activation = "relu"}, L.Dense{10, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
  return m
end

local function run(x, threads)
  ln.set_num_threads(threads or 1)
  local m = model_of()
  local h = m:fit(x, y, {epochs = 2, batch_size = 32, verbose = 0, validation_split = 0.2})
  local ev = {m:evaluate(x, y, {verbose = 0})}
  local p = m:predict(x:narrow(1, 1, 100))
  ln.set_num_threads(1)
  return {w = m:get_weights(), h = h, ev = ev, p = p}
end

local function same(a, b, what)
  for i = 1, #a.w do assert(a.w[i]:equal(b.w[i]), what .. ": weight " .. i .. " differs") end
  for _, k in ipairs(a.h.keys) do
    for e = 1, #a.h.history[k] do T.eq(b.h.history[k][e], a.h.history[k][e], what .. ": " .. k) end
  end
  for i = 1, #a.ev do T.eq(b.ev[i], a.ev[i], what .. ": evaluate " .. i) end
  assert(a.p:equal(b.p), what .. ": predictions differ")
end

T.test("fit/evaluate/predict from uint8 and int32 equal the float32 copy, bitwise", function()
  local ref = run(xu:float())
  same(ref, run(xu), "uint8")
  same(ref, run(xu:int()), "int32")
  same(ref, run(xu, 2), "uint8, 2 threads")
  local m = ref.h.history.loss
  assert(m[2] < m[1], "the model learns")
end)

T.test("uint8 without Rescaling: the values 0..255 as floats", function()
  local m = ln.Sequential{ln.layers.Flatten{input_shape = {28, 28}}}
  assert(m:predict(xu:narrow(1, 1, 8)):equal(xu:narrow(1, 1, 8):float():reshape{8, 784}),
         "predict of uint8 through Flatten")
end)

T.test("functional model: a uint8 input trains as its float32 copy", function()
  local function fitted(x)
    ln.random.seed(2)
    local inp = ln.Input{shape = {28, 28}}
    local out = ln.layers.Dense{10, activation = "softmax"}(
      ln.layers.Flatten{}(ln.layers.Rescaling{1 / 255}(inp)))
    local m = ln.Model{inputs = inp, outputs = out}
    m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
    m:fit(x, y, {epochs = 1, batch_size = 64, verbose = 0})
    return m:get_weights(), m:predict(x:narrow(1, 1, 50))
  end
  local wa, pa = fitted(xu:float())
  local wb, pb = fitted(xu)
  for i = 1, #wa do assert(wa[i]:equal(wb[i]), "weight " .. i .. " differs") end
  assert(pa:equal(pb), "predictions differ")
end)

T.test("Rescaling saves and loads (Keras config: scale, offset)", function()
  local m = ln.Sequential{ln.layers.Rescaling{1 / 255, offset = 0.5, input_shape = {4}},
                          ln.layers.Dense{2}}
  local dir = T.mktempdir("lunet-rescaling")
  local path = dir .. "/m.h5"
  m:save(path)
  local m2 = ln.models.load_model(path)
  local x = ln.tensor({{0, 10, 100, 255}}, "uint8")
  assert(m:predict(x):equal(m2:predict(x)), "predictions after load differ")
  local c = m2.layers[1]:get_config()
  T.eq(c.offset, 0.5, "offset after load")
  T.near(c.scale, 1 / 255, 1e-15, "scale after load")
  os.remove(path)
  os.remove(dir)
end)

T.summary("test_uint8_input")
