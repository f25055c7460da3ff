-- Optimizer state in model files (issue 14, part B): whatever `save` writes
-- `load_model` reads back, for EVERY optimizer (every plugin unit and Lua
-- optimizers) in every state -- fresh (compiled, never trained), trained,
-- with schedules, decay, clipping, an optimizer shared by two models, an
-- iteration count beyond int32. After loading, predictions are identical
-- and training continues bit for bit as the original does.
-- Table-driven: each row is one case (counted in the report).
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test
local registry = require "lunet.registry"

ln.random.seed(14)
local x = ln.rand(24, 4)
local y = ln.tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}, "int32")

local function model(opt)
  local m = ln.Sequential{
    ln.layers.Dense{5, input_shape = {4}, activation = "relu"},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{3, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = opt, metrics = {"accuracy"}}
  return m
end

local function fit(m, epochs)
  m:fit(x, y, {epochs = epochs or 1, batch_size = 8, shuffle = false, verbose = 0})
end

local function same_tensors(a, b, what)
  H.eq(#a, #b, what .. ": count")
  for i = 1, #a do
    H.check(a[i]:equal(b[i]), "%s %d differs", what, i)
  end
end

-- The optimizer's whole state, iteration count apart (it may pass int32).
local function opt_state(m)
  local optimizers = require "lunet.optimizers"
  local st = optimizers.state_for(m.optimizer, m:grads_and_vars())
  local values = {}
  for i = 2, #st.names do values[#values + 1] = st.values[i]:clone() end
  return st.iterations, st.names, values
end

local counter = 0
-- save, load, compare; then one more epoch on both: bitwise equal weights
local function round_trip(m, opts)
  opts = opts or {}
  counter = counter + 1
  local p = H.tmp("opt_" .. counter .. ".h5")
  m:save(p)
  local m2 = ln.models.load_model(p, opts.load)
  same_tensors(m2:get_weights(), m:get_weights(), "weights after load")
  H.check(m2:predict(x):equal(m:predict(x)), "predictions differ after load")
  local it1, n1, v1 = opt_state(m)
  local it2, n2, v2 = opt_state(m2)
  H.eq(it2, it1, "iterations after load")
  H.eq(table.concat(n2, ","), table.concat(n1, ","), "optimizer weight names")
  same_tensors(v2, v1, "optimizer value")
  fit(m, 1)
  fit(m2, 1)
  same_tensors(m2:get_weights(), m:get_weights(), "weights after one more epoch")
  local it3 = opt_state(m)
  local it4 = opt_state(m2)
  H.eq(it4, it3, "iterations after one more epoch")
  return m2
end

-- every optimizer unit with its default settings and its variants
local variants = {
  sgd = {{}, {momentum = 0.9}, {momentum = 0.9, nesterov = true}},
  rmsprop = {{}, {momentum = 0.5}, {centered = true}, {momentum = 0.5, centered = true}},
  adam = {{}, {amsgrad = true}},
}
local rows = {}
for _, u in ipairs(registry.units("optimizer")) do
  for _, v in ipairs(variants[u.name] or {{}}) do
    rows[#rows + 1] = {unit = u.name, args = v}
  end
  rows[#rows + 1] = {unit = u.name, args = {decay = 0.01, clipnorm = 1.0}}
  rows[#rows + 1] = {unit = u.name, args = {
    learning_rate = ln.schedules.ExponentialDecay{initial_learning_rate = 0.01, decay_steps = 2,
                                                  decay_rate = 0.5}}}
end

local function label(r)
  local parts = {}
  for k, v in pairs(r.args) do parts[#parts + 1] = k .. "=" .. tostring(v) end
  table.sort(parts)
  return r.unit .. "{" .. table.concat(parts, ",") .. "}"
end

for _, r in ipairs(rows) do
  test("fresh " .. label(r) .. ": save before training, load, continue bitwise", function()
    round_trip(model(ln.optimizers.new(r.unit, r.args)))
  end)
  test("trained " .. label(r) .. ": save after 2 epochs, load, continue bitwise", function()
    local m = model(ln.optimizers.new(r.unit, r.args))
    fit(m, 2)
    round_trip(m)
  end)
end

-- by name, as the issue's example
for _, name in ipairs({"adam", "rmsprop", "nadam", "adagrad", "sgd", "adamax", "adadelta", "ftrl"}) do
  if registry.has("optimizer", name) then
    test("compile{optimizer = '" .. name .. "'} then save before training loads", function()
      round_trip(model(name))
    end)
  end
end

-- ---- shared optimizers ------------------------------------------------------------------------

test("an optimizer shared by two models: each file holds its model's share", function()
  local opt = ln.optimizers.Adam{}
  local a, b = model(opt), model(opt)
  fit(a, 1)
  -- b never trained: its slots are fresh, the count is the shared one
  local b2 = round_trip(b)
  H.eq(b2.optimizer.iterations, b.optimizer.iterations, "shared count")
end)

test("an optimizer shared by two models, both trained", function()
  local opt = ln.optimizers.RMSprop{momentum = 0.3}
  local a, b = model(opt), model(opt)
  fit(a, 1)
  fit(b, 1)
  round_trip(a)
  round_trip(b)
end)

test("an optimizer shared, saved fresh from the second model", function()
  local opt = ln.optimizers.Nadam{}
  local a, b = model(opt), model(opt)
  fit(b, 1)
  round_trip(a)
end)

-- ---- iteration counts -----------------------------------------------------------------------

for _, n in ipairs({2 ^ 31 - 1, 2 ^ 31, 2 ^ 31 + 5, 2 ^ 40, 2 ^ 53}) do
  test(string.format("iterations = %.0f (beyond int32 as Keras's int64) saves and loads", n), function()
    local m = model(ln.optimizers.SGD{momentum = 0.5})
    fit(m, 1)
    m.optimizer.iterations = math.tointeger(n)
    local p = H.tmp("big_iter.h5")
    m:save(p)
    local m2 = ln.models.load_model(p)
    H.eq(m2.optimizer.iterations, math.tointeger(n), "iterations")
  end)
end

-- ---- Lua optimizers -------------------------------------------------------------------------

local LuaMomentum = ln.optimizers.Optimizer:extend{
  name = "LuaMomentum",
  default_learning_rate = 0.05,
  defaults = {momentum = 0.9},
  slots = {{"velocity", 0}},
  update = function(self, var, grad, slots, t, lr)
    local v = slots.velocity
    v:copy(v * self.momentum - grad * lr)
    var:copy(var + v)
  end,
}
local LuaCounted = ln.optimizers.Optimizer:extend{
  name = "LuaCounted",
  slots = {{"acc", 0.5}},
  globals = {{"scale", 1}},
  begin_step = function(self, globals, t) globals[1] = globals[1] * 0.99 end,
  update = function(self, var, grad, slots, t, lr, globals)
    slots.acc:copy(slots.acc + grad * grad)
    var:copy(var - grad * (lr * globals[1]) / (slots.acc:sqrt() + 1e-7))
  end,
}

for _, cls in ipairs({LuaMomentum, LuaCounted}) do
  local custom = {[cls.class_name] = cls}
  test("Lua optimizer " .. cls.class_name .. ", fresh: loads with custom_objects", function()
    round_trip(model(cls{}), {load = {custom_objects = custom}})
  end)
  test("Lua optimizer " .. cls.class_name .. ", trained: loads with custom_objects", function()
    local m = model(cls{})
    fit(m, 2)
    round_trip(m, {load = {custom_objects = custom}})
  end)
  test("Lua optimizer " .. cls.class_name .. " without custom_objects: a clear refusal", function()
    local m = model(cls{})
    local p = H.tmp("lua_opt.h5")
    m:save(p)
    H.raises(function() ln.models.load_model(p) end, "load_model", p, cls.class_name,
             "custom_objects")
    -- the weights are there all the same, without compiling
    local m2 = ln.models.load_model(p, {compile = false})
    H.check(m2:predict(x):equal(m:predict(x)), "predictions")
  end)
end

test("custom_objects holding something else is refused, naming it", function()
  local m = model("sgd")
  local p = H.tmp("c.h5")
  m:save(p)
  H.raises(function() ln.models.load_model(p, {custom_objects = {Dense = 5}}) end,
           "custom_objects", "Dense", "Lua class or function")
  H.raises(function() ln.models.load_model(p, {custom_objects = 5}) end,
           "custom_objects", "table")
end)

test("include_optimizer = false: the model loads with a fresh optimizer", function()
  local m = model("adam")
  fit(m, 1)
  local p = H.tmp("noopt.h5")
  m:save(p, {include_optimizer = false})
  local m2 = ln.models.load_model(p)
  H.eq(m2.optimizer.iterations, 0, "iterations")
end)

H.finish()
