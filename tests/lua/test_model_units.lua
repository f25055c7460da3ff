-- The Keras-style unit modules of the model API: ln.activations,
-- ln.initializers (objects usable as layer arguments, as the seed's
-- VarianceScaling), ln.regularizers, ln.losses and ln.metrics functions
-- and objects.
-- Run as `lunet test_model_units.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises_as

test("activations as functions", function()
  local x = ln.tensor({{-2, 0, 3}})
  local r = ln.activations.relu(x):totable()[1]
  eq(r[1], 0); eq(r[3], 3)
  local s = ln.activations.softmax(ln.tensor({{1, 1, 1, 1}})):totable()[1]
  assert(math.abs(s[1] - 0.25) < 1e-7, "softmax")
  local l = ln.activations.get("leaky_relu")(x, {alpha = 0.5}):totable()[1]
  eq(l[1], -1, "leaky_relu with alpha")
  eq(ln.activations.serialize(ln.activations.selu), "selu")
  eq(ln.activations.get(ln.activations.tanh), ln.activations.tanh)
  raises(function() ln.activations.get("relux") end, "unknown activation 'relux'")
  local d = ln.layers.Dense{2, activation = ln.activations.tanh}
  eq(d:get_config().activation, "tanh", "an activation function as a layer argument")
  local g = ln.activations.gradient("relu", x, ln.ones(1, 3)):totable()[1]
  eq(g[1], 0); eq(g[3], 1)
end)

test("initializers: get, objects, configs, layer arguments", function()
  ln.random.seed(1)
  local w = ln.initializers.get("he_normal"){300, 100}
  eq(table.concat(w:shape(), ","), "300,100")
  local std = w:std()
  assert(math.abs(std - math.sqrt(2 / 300)) < 0.01, "he_normal std " .. std)
  local he_avg_init = ln.initializers.VarianceScaling{scale = 2., mode = "fan_avg", distribution = "uniform"}
  local cfg = he_avg_init:get_config()
  eq(cfg.name, "variance_scaling"); eq(cfg.scale, 2); eq(cfg.mode, "fan_avg")
  ln.random.seed(2)
  local d = ln.layers.Dense{10, activation = "relu", kernel_initializer = he_avg_init, input_shape = {40}}
  eq(#d:get_weights(), 0, "a layer alone is not built (Keras)")
  d:build()
  local k = d:get_weights()[1]
  local limit = math.sqrt(3 * 2 / ((40 + 10) / 2))
  assert(k:max() <= limit and k:min() >= -limit and k:max() > 0.8 * limit, "uniform within the fan_avg limit")
  local kc = d:get_config().kernel_initializer
  eq(kc.name, "variance_scaling"); eq(kc.distribution, "uniform")
  eq(ln.initializers.Zeros{}{3}:sum(), 0)
  eq(ln.initializers.get({class_name = "Constant", config = {value = 2}}){2, 2}:sum(), 8)
  raises(function() ln.initializers.get("he_normel") end, "unknown initializer 'he_normel'")
  raises(function() ln.initializers.VarianceScaling{scale = 2, mod = "fan_in"} end, "mod")
  -- checking arguments does not consume random numbers
  ln.random.seed(9)
  local a = ln.randn(4)
  ln.random.seed(9)
  ln.initializers.VarianceScaling{scale = 1}
  assert(ln.randn(4):equal(a), "random stream untouched")
end)

test("regularizers", function()
  local r = ln.regularizers.l2(0.5)
  eq(r:get_config().l2, 0.5)
  eq(r(ln.tensor({1, 2})), 2.5)
  eq(ln.regularizers.l1_l2{l1 = 1, l2 = 0}(ln.tensor({-1, 2})), 3)
  local d = ln.layers.Dense{2, input_shape = {2}, kernel_initializer = "ones",
                            kernel_regularizer = ln.regularizers.l1(0.1)}
  d:build{2}
  assert(math.abs(d:regularization_loss() - 0.4) < 1e-6, "l1 penalty in the layer")
  local d2 = ln.layers.Dense{2, input_shape = {2}, kernel_initializer = "ones", kernel_regularizer = "l2"}
  d2:build()
  assert(math.abs(d2:regularization_loss() - 0.04) < 1e-6, "'l2' = 0.01")
end)

test("losses: functions per sample, objects, aliases", function()
  local y = ln.tensor({0, 2}):byte()
  local p = ln.tensor({{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}})
  local per = ln.losses.sparse_categorical_crossentropy(y, p)
  eq(table.concat(per:shape(), ","), "2")
  local v = per:totable()
  assert(math.abs(v[1] + math.log(0.7)) < 1e-6 and math.abs(v[2] + math.log(0.8)) < 1e-6, "per sample")
  local obj = ln.losses.SparseCategoricalCrossentropy{}
  assert(math.abs(obj(y, p) - (v[1] + v[2]) / 2) < 1e-6, "object = mean")
  local val, grad = obj:compute(p, y)
  eq(table.concat(grad:shape(), ","), "2,3")
  assert(math.abs(val - obj(y, p)) < 1e-12)
  eq(ln.losses.get("mse").name, "mean_squared_error")
  eq(ln.losses.get(ln.losses.mae).name, "mean_absolute_error")
  eq(ln.losses.mse, ln.losses.mean_squared_error, "alias function is the same function")
  eq(ln.losses.is_lua_loss(ln.losses.get(function() end)), true, "a Lua function is a loss")
  raises(function() ln.losses.get("msee") end, "unknown loss 'msee'")
  local lg = ln.losses.SparseCategoricalCrossentropy{from_logits = true}
  eq(lg:get_config().from_logits, true)
end)

test("metrics: objects and functions", function()
  local y = ln.tensor({0, 2, 1}):byte()
  local p = ln.tensor({{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}, {0.5, 0.3, 0.2}})
  local m = ln.metrics.SparseCategoricalAccuracy{}
  m:update_state(y, p)
  assert(math.abs(m:result() - 2 / 3) < 1e-12, "2 of 3")
  m:update_state(y:narrow(1, 3, 1), p:narrow(1, 3, 1))
  assert(math.abs(m:result() - 2 / 4) < 1e-12, "running")
  m:reset_state()
  eq(m:result(), 0)
  local per = ln.metrics.sparse_categorical_accuracy(y, p):totable()
  eq(per[1], 1); eq(per[2], 1); eq(per[3], 0)
  eq(ln.metrics.BinaryAccuracy{threshold = 0.4}.name, "binary_accuracy")
  eq(ln.metrics.resolve("accuracy", 1, 5, 2, 10), "sparse_categorical_accuracy")
  eq(ln.metrics.resolve("accuracy", 2, 10, 2, 10), "categorical_accuracy")
  eq(ln.metrics.resolve("accuracy", 2, 1, 2, 10), "sparse_categorical_accuracy")
  eq(ln.metrics.resolve("accuracy", 1, 7, 2, 1), "binary_accuracy")
  eq(ln.metrics.resolve("crossentropy", 2, 10, 2, 10), "categorical_crossentropy")
end)

T.summary()
