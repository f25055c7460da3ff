-- Tests of the Sequential model structure: construction, Keras names,
-- summary, variables, weights, configs, clone_model, errors.
-- Run as `lunet test_model.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises_as
local function lines_of(model)
  local t = {}
  model:summary{print_fn = function(s) t[#t + 1] = s end}
  return t
end

ln.backend.clear_session()
ln.random.seed(42)

test("the seed's BN model: summary text and counts", function()
  ln.backend.clear_session()
  -- the seed built one model before (flatten, dense .. dense_2)
  ln.Sequential{ln.layers.Flatten{input_shape = {28, 28}}, ln.layers.Dense{300},
                ln.layers.Dense{100}, ln.layers.Dense{10}}
  local model = ln.models.Sequential{
    ln.layers.Flatten{input_shape = {28, 28}},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{300, activation = "relu"},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{100, activation = "relu"},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{10, activation = "softmax"},
  }
  local want = {
    'Model: "sequential_1"',
    "_________________________________________________________________",
    "Layer (type)                 Output Shape              Param #   ",
    "=================================================================",
    "flatten_1 (Flatten)          (None, 784)               0         ",
    "_________________________________________________________________",
    "batch_normalization (BatchNo (None, 784)               3136      ",
    "_________________________________________________________________",
    "dense_3 (Dense)              (None, 300)               235500    ",
    "_________________________________________________________________",
    "batch_normalization_1 (Batch (None, 300)               1200      ",
    "_________________________________________________________________",
    "dense_4 (Dense)              (None, 100)               30100     ",
    "_________________________________________________________________",
    "batch_normalization_2 (Batch (None, 100)               400       ",
    "_________________________________________________________________",
    "dense_5 (Dense)              (None, 10)                1010      ",
    "=================================================================",
    "Total params: 271,346",
    "Trainable params: 268,978",
    "Non-trainable params: 2,368",
    "_________________________________________________________________",
  }
  local got = lines_of(model)
  eq(#got, #want, "summary line count")
  for i = 1, #want do eq(got[i], want[i], "summary line " .. i) end
  eq(model:count_params(), 271346, "count_params")
  eq(#model.trainable_weights, 12, "trainable weights")
  eq(#model.non_trainable_weights, 6, "non-trainable weights")
  -- bn1 = model.layers[1] in Python is the 2nd layer
  local bn1 = model.layers[2]
  local vars = bn1.variables
  local want_vars = {{"batch_normalization/gamma:0", true}, {"batch_normalization/beta:0", true},
                     {"batch_normalization/moving_mean:0", false},
                     {"batch_normalization/moving_variance:0", false}}
  eq(#vars, 4, "BN variables")
  for i, w in ipairs(want_vars) do
    eq(vars[i].name, w[1], "variable name")
    eq(vars[i].trainable, w[2], "variable trainable")
  end
  eq(model.summary_string ~= nil, true)
end)

test("Keras names and the session counter", function()
  ln.backend.clear_session()
  local a, b = ln.layers.Dense{3}, ln.layers.Dense{3}
  eq(a.name, "dense"); eq(b.name, "dense_1")
  eq(ln.layers.LeakyReLU{}.name, "leaky_re_lu")
  eq(ln.layers.PReLU{}.name, "p_re_lu")
  eq(ln.layers.ThresholdedReLU{}.name, "thresholded_re_lu")
  eq(ln.layers.Dense{3, name = "out"}.name, "out")
  eq(ln.layers.Dense{3}.name, "dense_2", "explicit names do not count")
  eq(ln.Sequential().name, "sequential")
  eq(ln.Sequential().name, "sequential_1")
  eq(ln.Sequential{name = "mine"}.name, "mine")
  ln.backend.clear_session()
  eq(ln.layers.Dense{3}.name, "dense")
end)

test("construction forms, add, pop, lazy build", function()
  local d1, d2 = ln.layers.Dense{4, activation = "relu"}, ln.layers.Dense{2}
  local m = ln.Sequential({d1, d2})
  eq(#m.layers, 2); eq(m.built, false)
  raises(function() m:summary() end, "not yet been built", "summary before build")
  raises(function() m:count_params() end, "not yet been built", "count_params before build")
  local y = m:predict(ln.rand(5, 3))
  eq(m.built, true, "built by the first call")
  eq(table.concat(y:shape(), ","), "5,2")
  eq(table.concat(m.input_shape, ","), "3")
  eq(table.concat(m.output_shape, ","), "2")
  eq(m:count_params(), 3 * 4 + 4 + 4 * 2 + 2)
  local m2 = ln.Sequential()
  m2:add(ln.layers.InputLayer{input_shape = {6}})
  m2:add(ln.layers.Dense{5})
  eq(m2.built, true, "InputLayer builds")
  eq(#m2.layers, 1, "InputLayer hidden from layers")
  m2:add(ln.layers.Dense{1})
  eq(table.concat(m2.output_shape, ","), "1")
  local popped = m2:pop()
  eq(popped.class_name, "Dense")
  eq(table.concat(m2.output_shape, ","), "5")
  m2:pop()
  raises(function() m2:pop() end, "There are no layers in the model", "pop on empty")
  local m3 = ln.Sequential{ln.layers.Dense{2, input_dim = 7}}
  eq(m3.built, true, "input_dim")
  eq(m3.layers[1].kernel.name, m3.layers[1].name .. "/kernel:0", "layer.kernel")
  eq(m3.layers[1].nothing, nil)
  eq(m3:get_layer(-1), m3.layers[1]); eq(m3:get_layer(m3.layers[1].name), m3.layers[1])
  eq(table.concat(m3.layers[1].input_shape, ","), "7")
end)

test("layer objects: variables, weights, trainable, call", function()
  ln.backend.clear_session()
  local d = ln.layers.Dense{3, input_shape = {2}, kernel_initializer = "ones", bias_initializer = "zeros"}
  eq(d.built, false)
  d:build({2})
  local v = d.variables
  eq(v[1].name, "dense/kernel:0"); eq(v[2].name, "dense/bias:0")
  eq(table.concat(v[1].shape, ","), "2,3")
  local w = d:get_weights()
  eq(w[1]:sum(), 6); eq(w[2]:sum(), 0)
  w[1]:fill(2)
  eq(d:get_weights()[1]:sum(), 6, "get_weights copies")
  d:set_weights({w[1], ln.tensor({1, 2, 3})})
  local y = d(ln.tensor({{1, 1}}))
  local row = y:totable()[1]
  eq(row[1] == 5 and row[2] == 6 and row[3] == 7, true, "layer call")
  raises(function() d:set_weights({w[1]}) end, "expecting 2 weights", "set_weights count")
  raises(function() d:set_weights({w[1], ln.zeros(4)}) end, "shape (3,), got float32 (4,)", "set_weights shape")
  d.trainable = false
  eq(d.trainable, false)
  eq(d.variables[1].trainable, false, "frozen variables")
  eq(#d.trainable_weights, 0)
  d.trainable = true
  eq(#d.trainable_weights, 2)
  raises(function() d.variables = {} end, "read-only")
  local a = ln.layers.LeakyReLU{}(ln.tensor({{-1, 2}})):totable()[1]
  eq(a[1] == ln.tensor({-0.3}):item() and a[2] == 2, true, "LeakyReLU call")
end)

test("get_config and from_config round trip", function()
  ln.backend.clear_session()
  local m = ln.Sequential{
    ln.layers.Flatten{input_shape = {4, 2}},
    ln.layers.Dense{5, activation = "selu", kernel_initializer = "lecun_normal"},
    ln.layers.Dropout{0.25},
    ln.layers.Dense{2, activation = "softmax", name = "out"},
  }
  local cfg = m:get_config()
  eq(cfg.name, "sequential")
  eq(#cfg.layers, 4)
  eq(cfg.layers[1].class_name, "Flatten")
  eq(table.concat(cfg.layers[1].config.input_shape, ","), "4,2")
  local dc = cfg.layers[2].config
  eq(dc.units, 5); eq(dc.activation, "selu"); eq(dc.name, "dense"); eq(dc.trainable, true)
  eq(cfg.layers[3].config.rate, 0.25)
  local m2 = ln.models.Sequential.from_config(cfg)
  eq(m2.name, "sequential")
  eq(m2.layers[4].name, "out")
  eq(m2:count_params(), m:count_params())
  eq(m2.layers[2]:get_config().kernel_initializer ~= nil, true)
end)

test("clone_model: same structure and names, fresh weights", function()
  ln.backend.clear_session()
  ln.random.seed(1)
  local m = ln.Sequential{ln.layers.Dense{4, input_shape = {3}}, ln.layers.Dense{2}}
  local c = ln.models.clone_model(m)
  eq(c.name, m.name); eq(c.layers[1].name, "dense"); eq(c.built, true)
  eq(c:count_params(), m:count_params())
  eq(c.layers[1] ~= m.layers[1], true, "new layers")
  eq(c:get_weights()[1]:equal(m:get_weights()[1]), false, "fresh weights")
  c:set_weights(m:get_weights())
  eq(c:get_weights()[1]:equal(m:get_weights()[1]), true, "set_weights copies")
end)

test("a new Sequential over another model's layers shares them", function()
  local a = ln.Sequential{ln.layers.Dense{3, input_shape = {2}}, ln.layers.Dense{1}}
  local b = ln.Sequential{table.unpack(a.layers, 1, #a.layers - 1)}
  b:add(ln.layers.Dense{4})
  eq(b.layers[1], a.layers[1], "same object")
  b.layers[1].variables[1].value:fill(0.5)
  eq(a.layers[1]:get_weights()[1]:sum(), 3, "shared weights")
end)

test("model(x), predict and forward agree", function()
  ln.random.seed(3)
  local m = ln.Sequential{ln.layers.Dense{8, input_shape = {5}, activation = "tanh"},
                          ln.layers.Dense{3, activation = "softmax"}}
  local x = ln.randn(70, 5)
  local p = m:predict(x, {batch_size = 32})
  local q = m(x)
  eq(p:equal(q), true, "predict == model(x)")
  local f = m:forward(x)
  eq(f:equal(p), true, "forward == predict")
  eq(math.abs(p:sum() - 70) < 1e-3, true, "softmax rows")
end)

test("errors name the layer, the keyword and the shapes", function()
  raises(function() return ln.layers.Dence end, "unknown layer class 'Dence'", "unknown class")
  raises(function() ln.layers.Dense{3, activaton = "relu"} end, "activaton", "unknown keyword")
  raises(function() ln.layers.Dense{3, activation = "relux"} end, "relux", "unknown activation")
  ln.backend.clear_session()
  local m = ln.Sequential{ln.layers.Flatten{input_shape = {28, 28}}, ln.layers.Dense{10}}
  local err = raises(function() m:predict(ln.rand(4, 784)) end, "flatten", "wrong input shape")
  assert(err:find("(None, 28, 28)", 1, true) and err:find("(4, 784)", 1, true), err)
  local shared = ln.layers.Dense{2, input_shape = {3}}
  ln.Sequential{shared}
  raises(function() ln.Sequential{ln.layers.InputLayer{input_shape = {5}}, shared} end,
         "dense", "shared layer built for another shape")
  raises(function() ln.Sequential{1} end, "expects a layer", "not a layer")
  raises(function() m:add(m.layers[1]) end, "already in the model", "twice")
end)

T.summary()
