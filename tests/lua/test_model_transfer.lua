-- Transfer learning as in the seed: layers shared between models,
-- freezing with trainable = false + compile (counts change, frozen weights
-- stay bitwise), unfreezing, Keras's compile-time snapshot, frozen
-- BatchNormalization in inference mode, clone_model + set_weights.
-- Run as `lunet test_model_transfer.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local X = (train.x:float() / 255):narrow(1, 1, 2000)
local Y = train.y:narrow(1, 1, 2000)

-- The seed's split: task A = every class but 5 and 6 (7, 8, 9 -> 5, 6, 7),
-- task B = sandal (5) or shirt (6), labelled 1 for shirts.
local is_b = Y:eq(5):logical_or(Y:eq(6))
local XA, yA = X[is_b:logical_not()], Y[is_b:logical_not()]
yA[yA:gt(6)] = yA[yA:gt(6)] - 2
local XB, yB = X[is_b]:narrow(1, 1, 200), Y[is_b]:eq(6):float():narrow(1, 1, 200)

local function copies(list)
  local r = {}
  for i, t in ipairs(list) do r[i] = t:clone() end
  return r
end

local function all_equal(a, b)
  for i = 1, #a do if not a[i]:equal(b[i]) then return false end end
  return true
end

ln.random.seed(42)
local model_A = ln.models.Sequential()
model_A:add(ln.layers.Flatten{input_shape = {28, 28}})
for _, n in ipairs({30, 20}) do model_A:add(ln.layers.Dense{n, activation = "selu"}) end
model_A:add(ln.layers.Dense{8, activation = "softmax"})
model_A:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 1e-2},
                metrics = {"accuracy"}}
model_A:fit(XA, yA, {epochs = 2, verbose = 0})

test("freeze, compile, fit: reused layers stay bitwise, counts change", function()
  local model_B_on_A = ln.models.Sequential({table.unpack(model_A.layers, 1, #model_A.layers - 1)})
  model_B_on_A:add(ln.layers.Dense{1, activation = "sigmoid"})
  eq(model_B_on_A.layers[2], model_A.layers[2], "shared layer objects")
  for i = 1, #model_B_on_A.layers - 1 do model_B_on_A.layers[i].trainable = false end
  model_B_on_A:compile{loss = "binary_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
                       metrics = {"accuracy"}}
  local lines = {}
  model_B_on_A:summary{print_fn = function(s) lines[#lines + 1] = s end}
  eq(lines[#lines - 2], "Trainable params: 21", "only the new output layer trains")
  eq(lines[#lines - 1], "Non-trainable params: 24,170", "784*30+30 + 30*20+20")
  local frozen = copies(model_A:get_weights())
  local out_before = model_B_on_A.layers[4]:get_weights()[1]
  model_B_on_A:fit(XB, yB, {epochs = 2, verbose = 0, validation_data = {XB, yB}})
  local a_now = model_A:get_weights()
  for i = 1, 4 do assert(a_now[i]:equal(frozen[i]), "frozen weight " .. i .. " changed") end
  assert(not model_B_on_A.layers[4]:get_weights()[1]:equal(out_before), "the new layer trains")
  -- unfreeze, compile again: the shared layers (so model A) train now
  for i = 1, #model_B_on_A.layers - 1 do model_B_on_A.layers[i].trainable = true end
  model_B_on_A:compile{loss = "binary_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 1e-2},
                       metrics = {"accuracy"}}
  local h = model_B_on_A:fit(XB, yB, {epochs = 4, verbose = 0})
  assert(not model_A:get_weights()[1]:equal(frozen[1]), "model A changes with model B on A")
  assert(h.history.loss[4] < h.history.loss[1], "B on A learns")
end)

test("the trainable flags are snapshot at compile (Keras)", function()
  ln.random.seed(3)
  local m = ln.Sequential{ln.layers.Dense{4, input_shape = {3}, activation = "tanh"},
                          ln.layers.Dense{1}}
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.1}}
  local x, y = ln.randn(16, 3), ln.randn(16, 1)
  m.layers[1].trainable = false          -- not compiled again: still trains
  local w0 = m.layers[1]:get_weights()[1]
  m:fit(x, y, {verbose = 0})
  assert(not m.layers[1]:get_weights()[1]:equal(w0), "snapshot said trainable")
  eq(m.layers[1].trainable, false, "the flag itself is kept")
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.1}}
  w0 = m.layers[1]:get_weights()[1]
  m.layers[1].trainable = true           -- not compiled again: stays frozen
  m:fit(x, y, {verbose = 0})
  assert(m.layers[1]:get_weights()[1]:equal(w0), "snapshot said frozen")
end)

test("layers added after compile train once the net is rebuilt", function()
  ln.random.seed(6)
  local m = ln.Sequential{ln.layers.Dense{4, input_shape = {3}, activation = "tanh"}}
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.1}}
  local x, y = ln.randn(16, 3), ln.randn(16, 2)
  m:add(ln.layers.Dense{2})
  m:forward(x)                           -- the low-level call rebuilds the net first
  local w0 = m.layers[2]:get_weights()[1]
  m:fit(x, y, {verbose = 0})
  assert(not m.layers[2]:get_weights()[1]:equal(w0), "the added layer trains")
end)

test("a frozen BatchNormalization runs in inference mode", function()
  ln.random.seed(4)
  local bn = ln.layers.BatchNormalization{}
  local m = ln.Sequential{ln.layers.Dense{6, input_shape = {3}}, bn, ln.layers.Dense{1}}
  local x, y = ln.randn(32, 3) * 3 + 1, ln.randn(32, 1)
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.01}}
  local before = copies(bn:get_weights())
  m:fit(x, y, {verbose = 0, epochs = 1})
  assert(not bn:get_weights()[3]:equal(before[3]), "moving mean moves while trainable")
  bn.trainable = false
  eq(bn.variables[1].trainable, false)
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.01}}
  before = copies(bn:get_weights())
  m:fit(x, y, {verbose = 0, epochs = 1})
  assert(all_equal(bn:get_weights(), before), "frozen BN: all 4 weights unchanged")
end)

test("clone_model then set_weights: independent copies", function()
  local clone = ln.models.clone_model(model_A)
  clone:set_weights(model_A:get_weights())
  assert(all_equal(clone:get_weights(), model_A:get_weights()), "same values")
  clone:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.1}}
  local keep = copies(model_A:get_weights())
  clone:fit(XA, yA, {verbose = 0})
  assert(all_equal(model_A:get_weights(), keep), "training the clone leaves model A alone")
  assert(not all_equal(clone:get_weights(), keep), "the clone trained")
end)

T.summary()
