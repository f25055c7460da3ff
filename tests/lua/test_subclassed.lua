-- Subclassed models (lunet.subclassed): ln.Model:extend{name, defaults,
-- init, call}; layers assigned to fields are tracked; fit / evaluate /
-- predict through the tape give the numbers of the same Sequential (1e-5),
-- bitwise the same for 1 and 2 threads; several inputs; summary prints
-- "multiple"; save is refused with Keras's message, save_weights and
-- load_weights work; bad cases are named.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq, near = T.test, T.eq, T.near

local dir = T.mktempdir("lunet_subclassed_")

local MLP = ln.Model:extend{
  name = "MLP", defaults = {units = 16},
  init = function(self)
    self.hidden = ln.layers.Dense{self.units, activation = "relu"}
    self.out = ln.layers.Dense{1}
  end,
  call = function(self, inputs, training)
    return self.out(self.hidden(inputs, {training = training}))
  end,
}

local function data(n, seed)
  ln.random.seed(seed or 1)
  local x = ln.randn({n, 8})
  return x, x:sum(2, true) * 0.3 - x:narrow(2, 1, 1)
end

local function max_diff(a, b) return (a - b):abs():max() end

test("a subclassed model trains as the same Sequential (1e-5)", function()
  ln.random.seed(2)
  local m = MLP{units = 12, name = "mlp"}
  local s = ln.Sequential{ln.layers.Dense{12, activation = "relu", input_shape = {8}},
                          ln.layers.Dense{1}}
  local x, y = data(96)
  m:build({8})
  eq(#m.layers, 2, "the fields' layers are tracked")
  eq(m.layers[1], m.hidden, "in the order of assignment")
  m:set_weights(s:get_weights())
  for _, model in ipairs({m, s}) do
    model:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.05}, metrics = {"mae"}}
  end
  local hm = m:fit(x, y, {epochs = 3, batch_size = 16, shuffle = false, verbose = 0,
                          validation_split = 0.25})
  local hs = s:fit(x, y, {epochs = 3, batch_size = 16, shuffle = false, verbose = 0,
                          validation_split = 0.25})
  for _, k in ipairs({"loss", "mae", "val_loss", "val_mae"}) do
    for e = 1, 3 do near(hm.history[k][e], hs.history[k][e], 1e-5, k .. " epoch " .. e) end
  end
  local wm, ws = m:get_weights(), s:get_weights()
  for i = 1, #ws do assert(max_diff(wm[i], ws[i]) < 1e-5, "weight " .. i) end
  local em, es = {m:evaluate(x, y, {verbose = 0})}, {s:evaluate(x, y, {verbose = 0})}
  for i = 1, 2 do near(em[i], es[i], 1e-5, "evaluate " .. i) end
  assert(max_diff(m:predict(x), s:predict(x)) < 1e-5, "predict")
  assert(m(x):equal(m:predict(x)), "model(x) is predict's numbers")
  eq(m:count_params(), s:count_params())
end)

test("1 and 2 threads give bitwise the same weights", function()
  local function run(threads)
    ln.set_num_threads(threads)
    ln.random.seed(4)
    local m = MLP{units = 10}
    m:compile{loss = "mse", optimizer = "adam"}
    local x, y = data(80, 5)
    ln.random.seed(6)
    m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0})
    return m:get_weights()
  end
  local a, b = run(1), run(2)
  ln.set_num_threads(2)
  for i = 1, #a do assert(a[i]:equal(b[i]), "weight " .. i .. " bitwise") end
end)

test("several inputs, a Lua layer and a list of layers inside; a subclass of a subclass", function()
  local Scale = ln.layers.Layer:extend{name = "Scale",
    build = function(self, s) self.s = self:add_weight{name = "s", shape = {s[1]}, initializer = "ones"} end,
    call = function(self, x) return x * self.s end}
  local TwoTower = ln.Model:extend{name = "TwoTower",
    init = function(self)
      self.towers = {ln.layers.Dense{4, activation = "tanh"}, ln.layers.Dense{4, activation = "tanh"}}
      self.scale = Scale{}
      self.head = ln.layers.Dense{1}
    end,
    call = function(self, inputs)
      local a = self.towers[1](inputs[1])
      local b = self.towers[2](inputs[2])
      return self.head(self.scale(ln.cat({a, b}, 2)))
    end}
  local Halved = TwoTower:extend{name = "HalvedTwoTower",
    call = function(self, inputs, training) return TwoTower.call(self, inputs, training) * 0.5 end}
  ln.random.seed(8)
  local m = Halved{}
  local xa, xb = ln.randn({40, 3}), ln.randn({40, 5})
  local y = xa:narrow(2, 1, 1) - xb:narrow(2, 2, 1)
  m:compile{loss = "mse", optimizer = "adam"}
  local h = m:fit({xa, xb}, y, {epochs = 4, batch_size = 8, verbose = 0})
  assert(h.history.loss[4] < h.history.loss[1], "trains")
  eq(#m.layers, 4, "the list's layers, the Lua layer and the head are tracked")
  eq(#m.trainable_variables, 7)
  eq(m.class_name, "HalvedTwoTower")
  local p = m:predict({xa, xb})
  eq(p:shape()[1], 40)
  -- inside a tape recording
  local tape = ln.GradientTape()
  local l = tape:run(function() return m({xa, xb}):square():mean() end)
  local g = tape:gradient(l, {m.scale.s})
  eq(g[1]:shape()[1], 8, "the Lua layer's weight gets a gradient")
end)

test("summary prints 'multiple'; save refused, save_weights and load_weights work", function()
  ln.random.seed(3)
  local m = MLP{units = 6, name = "small"}
  T.raises(function() m:summary() end, "has not yet been built")
  local x, y = data(32, 9)
  m:compile{loss = "mse", optimizer = "adam"}
  m:fit(x, y, {epochs = 1, verbose = 0})
  local text = m:summary_string()
  assert(text:find('Model: "small"', 1, true), text)
  local n = 0
  for _ in text:gmatch("multiple") do n = n + 1 end
  eq(n, 2, "one 'multiple' per layer")
  assert(text:find("Total params: 61", 1, true), text)
  T.raises(function() m:save(dir .. "/m.h5") end, "subclassed models (MLP)", "save_weights")
  T.raises(function() m:to_json() end, "subclassed models", "save_weights")
  m:save_weights(dir .. "/w.h5")
  local back = MLP{units = 6}
  back:build({8})
  back:load_weights(dir .. "/w.h5")
  assert(back:predict(x):equal(m:predict(x)), "the same predictions, bitwise")
end)

test("the book's ReconstructingRegressor: add_loss and add_metric in call", function()
  local ReconstructingRegressor = ln.Model:extend{name = "ReconstructingRegressor",
    defaults = {output_dim = 1},
    init = function(self)
      self.hidden = {}
      for i = 1, 2 do
        self.hidden[i] = ln.layers.Dense{12, activation = "selu", kernel_initializer = "lecun_normal"}
      end
      self.out = ln.layers.Dense{self.output_dim}
      self.reconstruct = ln.layers.Dense{8}
    end,
    call = function(self, inputs, training)
      local z = inputs
      for _, l in ipairs(self.hidden) do z = l(z) end
      local recon_loss = (self.reconstruct(z) - inputs):square():mean()
      self:add_loss(recon_loss * 0.05)
      self:add_metric(recon_loss, "reconstruction_error")
      return self.out(z)
    end}
  local function run(weight_of_term)
    ln.random.seed(21)
    local m = ReconstructingRegressor{}
    local x, y = data(64, 22)
    m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.01}}
    local h = m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0, shuffle = false})
    return m, h
  end
  local m, h = run()
  assert(h.history.reconstruction_error and h.history.reconstruction_error[2] > 0,
         "the add_metric value is in the history")
  eq(#m.layers, 4)
  local x, y = data(64, 22)
  -- evaluate's loss is the mse plus 0.05 times the reconstruction error
  local loss = m:evaluate(x, y, {verbose = 0, batch_size = 64})
  local yp = m:predict(x, {batch_size = 64}) -- (one call: m.losses are its terms)
  local mse = (yp - y):square():mean()
  local terms, nonzero = 0, 0
  for _, v in ipairs(m.losses) do -- (the Dense layers' penalties are zeros)
    v = type(v) == "number" and v or v:item()
    terms = terms + v
    if v ~= 0 then nonzero = nonzero + 1 end
  end
  eq(nonzero, 1, "one add_loss term per call, not one per step")
  near(loss, mse + terms, 1e-5, "the loss includes the add_loss term")
end)

test("models inside a subclassed model: trained, summarized, drawn unconnected", function()
  ln.random.seed(23)
  local inner = MLP{units = 4, name = "inner_mlp"}
  local seq = ln.Sequential{ln.layers.Dense{2, input_shape = {8}}, name = "inner_seq"}
  local Outer = ln.Model:extend{name = "Outer",
    init = function(self) self.a, self.b = inner, seq end,
    call = function(self, x, training)
      return self.a(x, {training = training}) + self.b(x):sum(2, true)
    end}
  local o = Outer{}
  local x, y = data(32, 24)
  o:compile{loss = "mse", optimizer = "sgd"}
  o:build({8})
  local before = inner.layers[1].kernel.value:clone()
  o:fit(x, y, {epochs = 1, verbose = 0})
  assert(not inner.layers[1].kernel.value:equal(before), "the inner model's weights train")
  eq(#o.trainable_variables, 6)
  local text = o:summary_string()
  assert(text:find("inner_mlp (MLP)", 1, true) and text:find("inner_seq (Sequential)", 1, true), text)
  local dot = ln.utils.model_to_dot(o)
  assert(dot:find("inner_mlp: MLP", 1, true) and not dot:find("->", 1, true), dot)
end)

test("a Lua layer tracks layers in a list field filled after the assignment", function()
  local Block = ln.layers.Layer:extend{name = "ListBlock",
    init = function(self)
      self.hidden = {}
      for i = 1, 2 do self.hidden[i] = ln.layers.Dense{4, activation = "tanh"} end
    end,
    call = function(self, x)
      local z = x
      for _, l in ipairs(self.hidden) do z = l(z) end
      return x + z
    end}
  local b = Block{}
  b(ln.zeros({1, 4}))
  eq(#b.trainable_variables, 4, "both Dense layers' weights are the block's")
  eq(b:count_params(), 2 * (16 + 4))
end)

test("bad subclassed models are named", function()
  T.raises(function() ln.Model:extend{name = "NoCall"} end, "NoCall", "needs call")
  local NotTensor = ln.Model:extend{name = "NotTensor", defaults = {units = 1},
                                    call = function() return 3 end}
  T.raises(function() NotTensor{unitz = 3} end, "NotTensor", "unitz")
  T.raises(function() NotTensor{}(ln.zeros({2, 3})) end, "NotTensor", "not a tensor")
  local m = MLP{}
  m(ln.zeros({2, 8}))
  T.raises(function() m(ln.zeros({2, 7})) end, "(None, 8)", "(None, 7)")
  m:compile{loss = "mse", optimizer = "sgd"}
  T.raises(function() m:fit(ln.zeros({4, 8}), ln.zeros({3, 1}), {verbose = 0}) end,
           "different numbers of samples")
  T.raises(function() return MLP{}(ln.Input{shape = {8}}) end, "symbolic")
end)

-- several outputs: call returns a list
local TwoHeads = ln.Model:extend{name = "TwoHeads",
  init = function(self)
    self.hidden = ln.layers.Dense{8, activation = "tanh"}
    self.main = ln.layers.Dense{1}
    self.aux = ln.layers.Dense{2, activation = "softmax"}
  end,
  call = function(self, x) local h = self.hidden(x) return {self.main(h), self.aux(h)} end}

local function two_data(n)
  ln.random.seed(30)
  local x = ln.randn({n, 4})
  local labels = {}
  for i = 1, n do labels[i] = i % 2 end
  return x, x:sum(2, true) * 0.5, ln.tensor(labels, "int32")
end

test("several outputs train as the same functional model (1e-5), Keras's names", function()
  ln.random.seed(31)
  local inp = ln.Input{shape = {4}}
  local h = ln.layers.Dense{8, activation = "tanh"}(inp)
  local f = ln.Model{inputs = inp, outputs = {ln.layers.Dense{1, name = "output_1"}(h),
                                              ln.layers.Dense{2, activation = "softmax",
                                                              name = "output_2"}(h)}}
  local m = TwoHeads{}
  local spec = {loss = {"mse", "sparse_categorical_crossentropy"}, loss_weights = {0.7, 0.3},
                metrics = {output_1 = {"mae"}, output_2 = {"accuracy"}},
                weighted_metrics = {output_2 = "accuracy"}}
  -- compiled before the first call: the outputs are resolved at fit
  for _, model in ipairs({m, f}) do
    spec.optimizer = ln.optimizers.SGD{learning_rate = 0.05}
    model:compile(spec)
  end
  local x, y1, y2 = two_data(64)
  m:build({4})
  m:set_weights(f:get_weights())
  eq(table.concat(m.metrics_names, ","),
     "loss,output_1_loss,output_2_loss,output_1_mae,output_2_accuracy,output_2_weighted_accuracy")
  local w = ln.rand(64) * 2
  local opts = {epochs = 3, batch_size = 16, shuffle = false, verbose = 0,
                sample_weight = {output_2 = w}, validation_data = {x, {y1, y2}}}
  local hm = m:fit(x, {y1, y2}, opts)
  local hf = f:fit(x, {y1, y2}, opts)
  for k, v in pairs(hf.history) do
    assert(hm.history[k], "history key " .. k)
    for e = 1, 3 do near(hm.history[k][e], v[e], 1e-5, k .. " epoch " .. e) end
  end
  local wm, wf = m:get_weights(), f:get_weights()
  for i = 1, #wf do assert(max_diff(wm[i], wf[i]) < 1e-5, "weight " .. i) end
  local pm, pf = m:predict(x), f:predict(x)
  eq(#pm, 2, "predict gives a list")
  for k = 1, 2 do assert(max_diff(pm[k], pf[k]) < 1e-5, "predict " .. k) end
  local em = m:evaluate(x, {output_1 = y1, output_2 = y2}, {verbose = 0, return_dict = true})
  local ef = f:evaluate(x, {y1, y2}, {verbose = 0, return_dict = true})
  for k, v in pairs(ef) do near(em[k], v, 1e-5, "evaluate " .. k) end
  local out = m(x)
  eq(#out, 2, "model(x) gives the list")
end)

test("several outputs: one loss for all, compiled after the build; bad cases named", function()
  local m = TwoHeads{}
  local x, y1, y2 = two_data(32)
  m(x)
  m:compile{loss = "mse", optimizer = "sgd"}
  eq(table.concat(m.metrics_names, ","), "loss,output_1_loss,output_2_loss")
  local y2f = ln.zeros({32, 2})
  m:fit(x, {y1, y2f}, {verbose = 0})
  T.raises(function() m:fit(x, y1, {verbose = 0}) end, "2 outputs", "output_1, output_2")
  T.raises(function() m:fit(x, {y1}, {verbose = 0}) end, "2 outputs", "list of 1")
  T.raises(function() m:evaluate(x, {output_1 = y1, nope = y2}, {verbose = 0}) end,
           "no output named 'nope'")
  local late = TwoHeads{}
  late:compile{loss = {main = "mse"}, optimizer = "sgd"}
  T.raises(function() late:fit(x, {y1, y2f}, {verbose = 0}) end, "no output named 'main'")
  local Bad = ln.Model:extend{name = "BadList", call = function(_, x) return {x, 3} end}
  T.raises(function() Bad{}(x) end, "BadList", "entry 2", "not a tensor")
  local Flip = ln.Model:extend{name = "Flip", init = function(self) self.n = 0 end,
    call = function(self, x) self.n = self.n + 1 return self.n == 1 and x or {x, x} end}
  -- (the build's call returns one tensor, the next a list)
  T.raises(function() Flip{}(x) end, "Flip", "2 outputs", "built with one output")
end)

T.summary("subclassed")
