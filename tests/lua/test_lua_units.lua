-- Units written in Lua, first-class: Layer:extend layers, subclasses of
-- built-in layers, Lambda, Lua losses and metrics, constraints, add_loss
-- and add_metric -- in Sequential, fit, summary, save and load. A Lua
-- layer's gradient is a tape's: a model mixing Lua and C layers gives the
-- same gradients through the tape as through model:backward, and a Lua
-- Dense trains like the built-in one.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq, near = T.test, T.eq, T.near

local dir = T.mktempdir("lunet_lua_units_")

local MyDense = ln.layers.Layer:extend{
  name = "MyDense", defaults = {units = 32, activation = "linear"},
  build = function(self, input_shape)
    self.kernel = self:add_weight{name = "kernel", initializer = "glorot_normal",
                                  shape = {input_shape[#input_shape], self.units}}
    self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
  end,
  call = function(self, x)
    return ln.activations.get(self.activation)(ln.matmul(x, self.kernel) + self.bias)
  end,
}

local function huber_fn(y_true, y_pred)
  local e = y_true - y_pred
  return ln.where(e:abs():lt(1), e:square() / 2, e:abs() - 0.5):mean(2)
end

local HuberLoss = ln.losses.Loss:extend{name = "HuberLoss", defaults = {threshold = 1.0},
  call = function(self, y_true, y_pred)
    local e, t = y_true - y_pred, self.threshold
    return ln.where(e:abs():lt(t), e:square() / 2, e:abs() * t - t * t / 2):mean(2)
  end}

local HuberMetric = ln.metrics.Metric:extend{name = "HuberMetric", defaults = {threshold = 1.0},
  init = function(self) self.total, self.count = 0, 0 end,
  update_state = function(self, y_true, y_pred)
    local l = HuberLoss{threshold = self.threshold}:call(y_true, y_pred)
    self.total, self.count = self.total + l:sum(), self.count + l:numel()
  end,
  result = function(self) return self.total / self.count end,
  reset_state = function(self) self.total, self.count = 0, 0 end}

local function data(n, seed)
  ln.random.seed(seed or 5)
  local x = ln.rand(n, 8)
  return x, x:sum(2, true) * 0.5 - 1
end

local function same(a, b, what)
  if not a:equal(b) then error(what .. ": not bitwise equal", 2) end
end

-- ---- Layer:extend -------------------------------------------------------------------------------

test("a Layer:extend class: defaults, config, weights, summary", function()
  local d = MyDense{units = 4, activation = "relu", input_shape = {3}}
  eq(d.units, 4, "units")
  eq(d.class_name, "MyDense", "class_name")
  T.raises(function() MyDense{unit = 3} end, "unknown keyword argument 'unit'", "units")
  local m = ln.Sequential{d}
  eq(#d.trainable_weights, 2, "weights")
  eq(d.kernel:shape()[2], 4, "kernel")
  eq(d.variables[1].name, d.name .. "/kernel:0", "variable name")
  local cfg = d:get_config()
  eq(cfg.units, 4, "config units")
  eq(cfg.activation, "relu", "config activation")
  eq(m:count_params(), 16, "params")
  local s = m:summary_string()
  assert(s:find(d.name .. " (MyDense)", 1, true), s)
  assert(s:find("(None, 4)", 1, true), s)
  local y = m(ln.ones(2, 3))
  eq(y:shape()[2], 4, "output")
  local other = MyDense{units = 4, activation = "relu"}
  ln.Sequential{ln.layers.InputLayer{input_shape = {3}}, other}
  other:set_weights(d:get_weights())
  T.raises(function() other:set_weights({}) end, "expecting 2 weights")
  T.raises(function()
    ln.layers.Layer:extend{name = "NoCall"}{}(ln.ones(1, 2))
  end, "defines no call")
end)

test("a Lua Dense trains with fit as the built-in Dense does", function()
  local x, y = data(128)
  local function run(first)
    ln.random.seed(3)
    local m = ln.Sequential{first, ln.layers.Dense{1}}
    return m
  end
  local a = run(ln.layers.Dense{6, activation = "tanh", input_shape = {8}})
  local b = run(MyDense{units = 6, activation = "tanh", input_shape = {8}})
  b:set_weights(a:get_weights())
  for _, m in ipairs({a, b}) do
    m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.05}}
  end
  local ha = a:fit(x, y, {epochs = 3, batch_size = 16, shuffle = false, verbose = 0})
  local hb = b:fit(x, y, {epochs = 3, batch_size = 16, shuffle = false, verbose = 0})
  for e = 1, 3 do near(hb.history.loss[e], ha.history.loss[e], 1e-5, "loss epoch " .. e) end
  assert(ha.history.loss[3] < ha.history.loss[1], "it learns")
  local wa, wb = a:get_weights(), b:get_weights()
  for i = 1, #wa do assert(ln.allclose(wa[i], wb[i], 1e-4, 1e-5), "weight " .. i) end
  near(b:evaluate(x, y, {verbose = 0}), a:evaluate(x, y, {verbose = 0}), 1e-5, "evaluate")
  assert(ln.allclose(b:predict(x), a:predict(x), 1e-4, 1e-5), "predict")
end)

test("Lua and C layers mixed: the tape's gradients are model:backward's", function()
  ln.random.seed(9)
  local model = ln.Sequential{
    ln.layers.Dense{10, activation = "relu", input_shape = {8}},
    MyDense{units = 6, activation = "tanh"},
    ln.layers.Dense{3, activation = "softmax"},
  }
  local x, y = ln.rand(12, 8), ln.tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}, "int32")
  local loss_fn = ln.losses.SparseCategoricalCrossentropy{}
  local tape = ln.GradientTape()
  local loss = tape:run(function() return loss_fn(y, model(x, {training = true})) end)
  local vars = model.trainable_variables
  eq(#vars, 6, "variables")
  local grads = tape:gradient(loss, vars)
  local p = model:forward(x, {training = true})
  local l, dp = loss_fn:compute(p, y)
  model:backward(dp)
  near(loss:item(), l, 1e-6, "loss")
  for i, v in ipairs(model.trainable_variables) do same(grads[i], v.grad, v.name) end
end)

test("a model with Lua layers trains bitwise the same for 1 and 2 threads", function()
  local function run(threads)
    ln.set_num_threads(threads)
    local x, y = data(96, 11)
    ln.random.seed(12)
    local m = ln.Sequential{MyDense{units = 16, activation = "relu", input_shape = {8}},
                            ln.layers.Dropout{0.2}, MyDense{units = 1}}
    m:compile{loss = huber_fn, optimizer = "adam"}
    m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0})
    return m:get_weights()
  end
  local a, b = run(1), run(2)
  ln.set_num_threads(2)
  for i = 1, #a do same(a[i], b[i], "weight " .. i) end
end)

-- ---- subclassing a built-in layer, Lambda, weights updated in call ------------------------

local MCDropout = ln.layers.Dropout:extend{name = "MCDropout",
  call = function(self, x) return ln.layers.Dropout.call(self, x, true) end}

test("MCDropout (a Dropout subclass) drops at inference; Lambda", function()
  local d = MCDropout{rate = 0.5}
  eq(d:get_config().rate, 0.5, "rate")
  local x = ln.ones(4, 100)
  local y1, y2 = d(x), d(x)
  assert(not y1:equal(y2), "stochastic at inference")
  near((y1:eq(0):float()):mean(), 0.5, 0.15, "half dropped")
  local plain = ln.layers.Dropout{rate = 0.5}
  assert(plain(x):equal(x), "the built-in still passes at inference")
  local double = ln.layers.Lambda(function(t) return t * 2 end)
  same(double(x), x * 2, "lambda")
  T.raises(function() ln.layers.Lambda(3) end, "expects a Lua function")
end)

test("a non-trainable weight updated in call (a running statistic)", function()
  local Running = ln.layers.Layer:extend{name = "RunningMean",
    build = function(self, s)
      self.mean = self:add_weight{name = "mean", shape = {s[1]}, initializer = "zeros",
                                  trainable = false}
    end,
    call = function(self, x, training)
      if training then self.mean:copy_(self.mean * 0.9 + x:mean(1) * 0.1) end
      return x - self.mean
    end}
  local r = Running{}
  local m = ln.Sequential{r, MyDense{units = 1}}
  m:compile{loss = "mse", optimizer = "sgd"}
  local x, y = data(64)
  m:fit(x, y, {epochs = 1, batch_size = 16, verbose = 0})
  eq(#r.non_trainable_weights, 1, "non-trainable")
  eq(#r.trainable_weights, 0, "trainable")
  assert(r.mean:abs():sum() > 0, "updated during fit")
  local s = m:summary_string()
  assert(s:find("Non-trainable params: 8", 1, true), s)
end)

-- ---- Lua losses and metrics in fit -------------------------------------------------------------

test("Lua losses (function, Loss:extend) and metrics (function, Metric:extend) in fit", function()
  local x, y = data(128)
  ln.random.seed(4)
  local m = ln.Sequential{ln.layers.Dense{8, activation = "relu", input_shape = {8}}, ln.layers.Dense{1}}
  m:compile{loss = HuberLoss{threshold = 2}, optimizer = "adam",
            metrics = {HuberMetric{threshold = 2, name = "huber_metric"}, huber_fn, "mae"}}
  eq(table.concat(m.metrics_names, ","), "loss,huber_metric,huber_fn,mae", "names")
  local h = m:fit(x, y, {epochs = 2, batch_size = 32, verbose = 0, validation_split = 0.25})
  near(h.history.huber_metric[2], h.history.loss[2], 1e-5, "the metric is the loss here")
  assert(h.history.val_huber_metric and h.history.val_huber_fn and h.history.val_mae, "val logs")
  local yp = m:predict(x)
  local ev = m:evaluate(x, y, {verbose = 0, return_dict = true})
  local want = HuberLoss{threshold = 2}:call(y, yp):mean()
  near(ev.loss, want, 1e-5, "evaluate loss")
  near(ev.huber_fn, huber_fn(y, yp):mean(), 1e-5, "evaluate function metric")
  m:compile{loss = huber_fn, optimizer = "sgd"}
  local h2 = m:fit(x, y, {epochs = 1, verbose = 0})
  assert(h2.history.loss[1] >= 0, "a plain function as the loss")
end)

test("ln.metrics.Mean: the (weighted) mean of values, for custom loops", function()
  local m = ln.metrics.Mean{name = "train_loss"}
  assert(m.name == "train_loss" and m:result() == 0, "fresh")
  m:update_state(ln.tensor{1, 2, 3})
  m:update_state(6)
  T.near(m:result(), 3, 1e-12, "plain mean of 1, 2, 3, 6")
  m:reset_state()
  m:update_state(ln.tensor{{1, 2}, {3, 4}}, ln.tensor{{1}, {0}}) -- weights broadcast over rows
  T.near(m:result(), 1.5, 1e-12, "weighted: (1 + 2) / 2")
  m:update_state(ln.tensor{10}, 2)
  T.near(m:result(), (3 + 20) / 4, 1e-12, "a number as weight")
  T.near(m(ln.tensor{4}), (23 + 4) / 5, 1e-12, "calling updates and returns the result")
  T.raises(function() m:update_state("x") end, "expects a number or a tensor")
  T.raises(function() m:update_state(ln.tensor{1, 2}, ln.tensor{1, 2, 3}) end, "shape")
end)

-- ---- constraints ----------------------------------------------------------------------------------

test("constraints: Keras's formulas (float64 reference)", function()
  local w = ln.tensor{{3, -4, 0.5}, {4, 3, -0.5}}
  local function col_norm(j) return math.sqrt(w[{1, j}] ^ 2 + w[{2, j}] ^ 2) end
  local c = ln.constraints.max_norm(2)(w)
  for j = 1, 3 do
    local n = col_norm(j)
    local want = math.min(n, 2) / (n + 1e-7)
    for i = 1, 2 do near(c[{i, j}], w[{i, j}] * want, 1e-6, "max_norm") end
  end
  local u = ln.constraints.unit_norm()(w)
  for j = 1, 3 do for i = 1, 2 do near(u[{i, j}], w[{i, j}] / (col_norm(j) + 1e-7), 1e-6, "unit_norm") end end
  local mm = ln.constraints.min_max_norm{min_value = 1, max_value = 3, rate = 0.5}(w)
  for j = 1, 3 do
    local n = col_norm(j)
    local want = (0.5 * math.max(1, math.min(3, n)) + 0.5 * n) / (n + 1e-7)
    for i = 1, 2 do near(mm[{i, j}], w[{i, j}] * want, 1e-6, "min_max_norm") end
  end
  local nn = ln.constraints.non_neg()(w)
  eq(nn[{1, 2}], 0, "non_neg")
  eq(nn[{1, 1}], 3, "non_neg keeps")
  local r = ln.constraints.max_norm{max_value = 2, axis = 1}(w) -- rows
  near((r[1] * r[1]):sum(), 4, 1e-5, "axis 1")
  T.raises(function() ln.constraints.max_norm{max_value = -1} end, "max_value must be")
  T.raises(function() ln.constraints.max_norm{maxvalue = 1} end, "unknown keyword argument 'maxvalue'")
end)

test("constraints are applied after each step (fit, a tape loop, Lua layers)", function()
  local x, y = data(64)
  local Clip = ln.constraints.Constraint:extend{name = "Clip", defaults = {c = 0.05},
    call = function(self, w) return w:clamp(-self.c, self.c) end}
  local ClipDense = MyDense:extend{name = "ClipDense",
    build = function(self, s)
      MyDense.build(self, s)
      self._weights[1].constraint = Clip{c = 0.01}
    end}
  for _, lua in ipairs({false, true}) do
    ln.random.seed(6)
    local m = ln.Sequential{
      ln.layers.Dense{8, input_shape = {8}, kernel_constraint = ln.constraints.max_norm(0.5),
                      bias_constraint = Clip{}},
      lua and ClipDense{units = 1} or ln.layers.Dense{1, kernel_constraint = ln.constraints.non_neg()},
    }
    m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.5}}
    m:fit(x, y, {epochs = 1, batch_size = 16, verbose = 0})
    local k = m.layers[1].kernel.value
    assert((k * k):sum(1):sqrt():max() <= 0.5 + 1e-5, "max_norm held")
    assert(m.layers[1].bias.value:abs():max() <= 0.05 + 1e-7, "a Lua constraint held")
    if lua then
      assert(m.layers[2].kernel:abs():max() <= 0.01 + 1e-7, "a Lua layer's constraint")
    else
      assert(m.layers[2].kernel.value:min() >= 0, "non_neg held")
    end
  end
  -- a custom loop: apply_gradients applies the variables' constraints
  ln.random.seed(6)
  local d = ln.layers.Dense{4, input_shape = {8}, kernel_constraint = ln.constraints.non_neg()}
  local m = ln.Sequential{d}
  local opt = ln.optimizers.SGD{learning_rate = 1}
  local tape = ln.GradientTape()
  local loss = tape:run(function() return (m(x) - 5):square():mean() * -1 end)
  local vars = m.trainable_variables
  opt:apply_gradients(ln.zip(tape:gradient(loss, vars), vars))
  assert(d.kernel.value:min() >= 0, "custom loop")
  -- a Lua function as a built-in layer's constraint, through fit and a file
  local function clip_kernel(w) return w:clamp(-0.01, 0.01) end
  ln.random.seed(7)
  local m3 = ln.Sequential{ln.layers.Dense{4, input_shape = {8}, kernel_constraint = clip_kernel}}
  m3:compile{loss = "mse", optimizer = "sgd"}
  m3:fit(x, (ln.rand(#x, 4) * 10), {epochs = 1, batch_size = 16, verbose = 0})
  assert(m3.layers[1].kernel.value:abs():max() <= 0.01 + 1e-7, "a Lua constraint on Dense")
  local path = os.tmpname()
  m3:save(path)
  local m4 = ln.models.load_model(path, {custom_objects = {clip_kernel = clip_kernel}})
  os.remove(path)
  same(m4:predict(x, {verbose = 0}), m3:predict(x, {verbose = 0}), "reloaded with the constraint")
end)

-- ---- Lua functions as a built-in layer's activation, initializer, regularizer -----------------

local function my_softplus(z) return (z:exp() + 1):log() end
local function my_glorot_initializer(shape)
  return ln.randn(shape) * math.sqrt(2 / (shape[1] + shape[2]))
end
local function my_l1_regularizer(w) return w:abs():sum() * 0.01 end
local function my_positive_weights(w) return ln.where(w:lt(0), w * 0, w) end
local MyL1Regularizer = ln.regularizers.Regularizer:extend{name = "MyL1Regularizer",
  defaults = {factor = 0.01}, call = function(self, w) return w:abs():sum() * self.factor end}

local function num(v) return type(v) == "number" and v or v:item() end

local function book_dense(reg)
  return ln.layers.Dense{30, input_shape = {8}, activation = my_softplus,
                         kernel_initializer = my_glorot_initializer,
                         kernel_regularizer = reg or my_l1_regularizer,
                         kernel_constraint = my_positive_weights}
end

test("the book's Dense with Lua activation, initializer, regularizer, constraint", function()
  -- the initializer draws the kernel: the same numbers as calling it with the seed
  ln.random.seed(11)
  local d = book_dense()
  d:build({8})
  ln.random.seed(11)
  same(d.kernel.value, my_glorot_initializer({8, 30}), "the Lua initializer's draw")
  assert(d.bias.value:abs():max() == 0, "the bias keeps the unit's initializer")
  -- the activation is applied to the unit's output
  local x = ln.rand(5, 8)
  local want = my_softplus(ln.matmul(x, d.kernel.value) + d.bias.value)
  assert(ln.allclose(d(x), want, 1e-6, 1e-6), "softplus(x W + b)")
  -- the penalty is the Lua regularizer's value, also for a class instance
  T.near(d:regularization_loss(), num(my_l1_regularizer(d.kernel.value)), 1e-6, "penalty")
  local c = book_dense(MyL1Regularizer{factor = 0.5})
  c:build({8})
  T.near(c:regularization_loss(), num(c.kernel.value:abs():sum()) * 0.5, 1e-5, "class penalty")
  -- built-in names keep the C path: no Lua parts
  assert(rawget(ln.layers.Dense{3, activation = "relu"}, "_lua_parts") == nil, "a name")
  assert(rawget(ln.layers.Dense{3, activation = ln.activations.relu}, "_lua_parts") == nil,
         "a built-in activation function")
end)

test("gradients through a Lua activation and a Lua penalty agree with finite differences", function()
  ln.random.seed(12)
  local d = ln.layers.Dense{4, input_shape = {3}, activation = my_softplus,
                            kernel_regularizer = my_l1_regularizer}
  d:build({3})
  local x, r = ln.randn(6, 3), ln.randn(6, 4)
  local function objective()
    local total = (d(x) * r):sum()
    for _, p in ipairs(d.losses) do total = total + p end
    return total
  end
  local tape = ln.GradientTape()
  local value = tape:run(objective)
  local g = tape:gradient(value, d.kernel)
  local w = d.kernel.value
  local step, worst, scale = 1e-2, 0, g:abs():max()
  for i = 1, 3 do
    for j = 1, 4 do
      local w0 = w[{i, j}]
      w[{i, j}] = w0 + step
      local up = num(objective())
      w[{i, j}] = w0 - step
      local down = num(objective())
      w[{i, j}] = w0
      local numeric = (up - down) / (2 * step)
      local err = math.abs(numeric - g[{i, j}]) / (5e-3 * scale + 1e-2 * math.abs(numeric))
      worst = math.max(worst, err)
    end
  end
  assert(worst <= 1, "kernel gradient off by " .. worst .. " tolerances")
end)

test("a model with Lua parts in built-in layers trains with fit, saves and loads", function()
  local x, y = data(64)
  ln.random.seed(13)
  local m = ln.Sequential{book_dense(MyL1Regularizer{factor = 0.01}), ln.layers.Dense{1}}
  m:compile{loss = "mse", optimizer = "sgd"}
  local h = m:fit(x, y, {epochs = 3, batch_size = 16, verbose = 0})
  assert(h.history.loss[3] < h.history.loss[1], "it learns")
  assert(m.layers[1].kernel.value:min() >= 0, "the constraint still holds")
  -- the penalty is in fit's loss: evaluate = mse + penalty
  local mse = num((m:predict(x, {verbose = 0}) - y):square():mean())
  local loss = m:evaluate(x, y, {verbose = 0})
  T.near(loss, mse + m.layers[1]:regularization_loss(), 1e-4, "loss with the Lua penalty")
  local path = os.tmpname()
  m:save(path)
  local custom = {my_softplus = my_softplus, my_glorot_initializer = my_glorot_initializer,
                  MyL1Regularizer = MyL1Regularizer, my_positive_weights = my_positive_weights}
  local m2 = ln.models.load_model(path, {custom_objects = custom})
  same(m2:predict(x, {verbose = 0}), m:predict(x, {verbose = 0}), "reloaded")
  T.near(m2.layers[1]:regularization_loss(), m.layers[1]:regularization_loss(), 1e-6,
         "the regularizer's factor is saved")
  -- in a functional model too (it then runs on the tape)
  local inp = ln.Input{shape = {8}}
  local d = ln.layers.Dense{5, activation = my_softplus}
  local top = ln.layers.Dense{1}
  local f = ln.Model{inputs = inp, outputs = top(d(inp))}
  f:compile{loss = "mse", optimizer = "sgd"}
  f:fit(x, y, {epochs = 1, batch_size = 16, verbose = 0})
  local want = ln.matmul(my_softplus(ln.matmul(x, d.kernel.value) + d.bias.value),
                         top.kernel.value) + top.bias.value
  assert(ln.allclose(f:predict(x, {verbose = 0}), want, 1e-5, 1e-5), "functional")
  custom.my_softplus = nil
  T.raises(function() ln.models.load_model(path, {custom_objects = custom}) end,
           "unknown activation 'my_softplus'", "custom_objects = {my_softplus = ...}")
  os.remove(path)
end)

test("Lua parts a built-in layer cannot take are refused, naming them", function()
  T.raises(function() return ln.layers.LSTM{4, activation = function(t) return t end} end,
           "LSTM: an activation written in Lua is not supported")
  T.raises(function() return ln.layers.Dense{4, activity_regularizer = function(t) return t:sum() end} end,
           "activity_regularizer written in Lua is not supported")
  local d = ln.layers.Dense{2, input_shape = {3}, kernel_initializer = function() return 1 end}
  T.raises(function() d:build({3}) end, "kernel_initializer returned number, not a tensor")
  local e = ln.layers.Dense{2, input_shape = {3}, kernel_initializer = function() return ln.zeros(5) end}
  T.raises(function() e:build({3}) end, "shape")
end)

-- ---- add_loss, add_metric ---------------------------------------------------------------------------

test("add_loss (layer and model) and add_metric reach fit", function()
  local Recon = ln.layers.Layer:extend{name = "Recon", defaults = {weight = 0.5},
    build = function(self, s)
      self.back = self:add_weight{name = "back", shape = {s[1], s[1]}}
    end,
    call = function(self, x)
      local r = ln.matmul(x, self.back)
      local loss = (r - x):square():mean()
      self:add_loss(loss * self.weight)
      self:add_metric(loss, "reconstruction")
      return x
    end}
  local x, y = data(64)
  ln.random.seed(2)
  local m = ln.Sequential{Recon{input_shape = {8}}, ln.layers.Dense{1}}
  m:compile{loss = "mse", optimizer = "adam"}
  local h = m:fit(x, y, {epochs = 3, batch_size = 16, verbose = 0})
  assert(h.history.reconstruction, "the metric is logged")
  assert(h.history.reconstruction[3] < h.history.reconstruction[1], "the reconstruction trains")
  m(x)
  eq(#m.layers[1].losses, 1, "layer.losses: the last call's add_loss")
  local extra = 0
  m:add_loss(function() extra = extra + 1; return m.layers[2].kernel.value:abs():sum() * 0 end)
  m:fit(x, y, {epochs = 1, batch_size = 64, verbose = 0})
  assert(extra >= 1, "model:add_loss is called in fit")
end)

-- ---- saving -------------------------------------------------------------------------------------

test("save and load with custom_objects; a missing class is named", function()
  local x, y = data(64)
  ln.random.seed(8)
  local m = ln.Sequential{MyDense{units = 8, activation = "relu", input_shape = {8}},
                          MCDropout{rate = 0.1},
                          ln.layers.Dense{1, kernel_constraint = ln.constraints.max_norm(2)}}
  m:compile{loss = HuberLoss{threshold = 2}, optimizer = "adam",
            metrics = {HuberMetric{name = "huber_metric"}, huber_fn}}
  m:fit(x, y, {epochs = 1, verbose = 0})
  local path = dir .. "/lua_units.h5"
  m:save(path)
  T.raises(function() ln.models.load_model(path) end, "'MyDense'", "custom_objects")
  T.raises(function() ln.models.load_model(path, {custom_objects = {MyDense = MyDense}}) end,
           "'MCDropout'")
  local custom = {MyDense = MyDense, MCDropout = MCDropout, HuberLoss = HuberLoss,
                  HuberMetric = HuberMetric, huber_fn = huber_fn}
  local m2 = ln.models.load_model(path, {custom_objects = custom})
  eq(m2.layers[1].class_name, "MyDense", "class")
  eq(m2.layers[1].units, 8, "config")
  eq(m2.layers[3]:get_config().kernel_constraint.max_value, 2, "constraint")
  local w1, w2 = m:get_weights(), m2:get_weights()
  for i = 1, #w1 do same(w1[i], w2[i], "weight " .. i) end
  eq(table.concat(m2.metrics_names, ","), "loss,huber_metric,huber_fn", "metrics")
  m2:fit(x, y, {epochs = 1, verbose = 0}) -- the optimizer's state came along
  local clone = ln.models.clone_model(m)
  eq(clone.layers[1].class_name, "MyDense", "clone")
end)

test("Lambda and Lua regularizers save and load; a missing loss or metric is named", function()
  local x, y = data(32)
  local function double(t) return t * 2 end
  local L1 = ln.regularizers.Regularizer:extend{name = "L1", defaults = {f = 0.01},
    call = function(self, w) return w:abs():sum() * self.f end}
  local RegDense = MyDense:extend{name = "RegDense", defaults = {reg = false},
    build = function(self, s)
      self.kernel = self:add_weight{name = "kernel", shape = {s[1], self.units}, regularizer = self.reg}
      self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
    end}
  ln.random.seed(3)
  local m = ln.Sequential{ln.layers.InputLayer{input_shape = {8}}, ln.layers.Lambda(double),
                          RegDense{units = 1, reg = L1{f = 0.5}}}
  m:compile{loss = huber_fn, optimizer = "sgd", metrics = {HuberMetric{}}}
  m:fit(x, y, {epochs = 1, verbose = 0})
  near(m.layers[2].losses[1], m.layers[2].kernel:abs():sum() * 0.5, 1e-4, "penalty (a number off the tape)")
  local path = dir .. "/lambda.h5"
  m:save(path)
  T.raises(function() ln.models.load_model(path, {custom_objects = {RegDense = RegDense, L1 = L1}}) end,
           "'double'", "custom_objects")
  local custom = {RegDense = RegDense, L1 = L1, double = double}
  T.raises(function() ln.models.load_model(path, {custom_objects = custom}) end, "'HuberMetric'")
  custom.HuberMetric = HuberMetric
  T.raises(function() ln.models.load_model(path, {custom_objects = custom}) end, "'huber_fn'")
  custom.huber_fn = huber_fn
  local m2 = ln.models.load_model(path, {custom_objects = custom})
  same(m2:predict(x), m:predict(x), "predictions")
  eq(m2.layers[2].reg.f, 0.5, "the regularizer's config")
end)

-- ---- add_loss on a model of built-in layers; functional models ----------------------------------

test("model:add_loss reaches fit for a model of built-in layers", function()
  local x, y = data(16)
  local function run(penalty)
    ln.random.seed(4)
    local m = ln.Sequential{ln.layers.Dense{1, input_shape = {8}}}
    if penalty then m:add_loss(function() return m.layers[1].kernel.value:abs():sum() * 100 end) end
    m:compile{loss = "mse", optimizer = "sgd"}
    return m, m:fit(x, y, {epochs = 1, batch_size = 16, verbose = 0}).history.loss[1]
  end
  local m0, plain = run(false)
  local m1, with = run(true)
  local k = m0.layers[1].kernel.value:abs():sum()
  assert(with > plain + 50 * k, "the add_loss term is in the loss: " .. with .. " vs " .. plain)
  assert(not m1.layers[1].kernel.value:equal(m0.layers[1].kernel.value), "and in the gradient")
end)

test("functional models take Lua units (tested in full by test_functional_lua)", function()
  local inp = ln.Input{shape = {4}}
  local h = ln.layers.Dense{3}(inp)
  local twice = ln.layers.Lambda(function(t) return t * 2 end)(h)
  eq(twice.shape[1], 3, "a Lambda's symbolic output shape")
  local m = ln.Model{inputs = inp, outputs = ln.layers.Dense{1}(twice)}
  m:compile{loss = function(yt, yp) return (yt - yp):abs():mean(2) end, optimizer = "sgd",
            metrics = {function(yt, yp) return (yt - yp):abs():mean(2) end}}
  local x, y = data(32, 4)
  m:add_loss(0.25)
  local loss = m:evaluate(x:narrow(2, 1, 4), y, {verbose = 0})
  assert(loss > 0.25, "the add_loss term is in the loss: " .. loss)
end)

T.summary("lua units")
