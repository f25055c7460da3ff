-- Units written in Lua inside functional models (ln.Input ... ln.Model):
-- Lua layers (one input, a list of inputs, shared), Lua losses and
-- metrics per output, add_loss, a functional model inside a tape
-- recording. Such graphs run node by node through the tape: a graph of Lua
-- layers gives the same results (1e-5) as the same graph of built-in
-- layers run by the C graph engine, bitwise the same for 1 and 2 threads;
-- bad cases name the layer.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq, near = T.test, T.eq, T.near

local dir = T.mktempdir("lunet_functional_lua_")

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

-- a merge layer in Lua: called on a list of tensors, built for their shapes
local MyConcat = ln.layers.Layer:extend{name = "MyConcat",
  build = function(self, shapes)
    assert(type(shapes[1]) == "table" and #shapes == 2, "build gets the list of input shapes")
  end,
  call = function(self, xs) return ln.cat(xs, 2) end}

local function my_mse(y_true, y_pred) return (y_true - y_pred):square():mean(2) end

local MaeMetric = ln.metrics.Metric:extend{name = "MaeMetric",
  init = function(self) self.total, self.count = 0, 0 end,
  update_state = function(self, y_true, y_pred)
    local d = (y_true - y_pred):abs()
    self.total, self.count = self.total + d:sum(), self.count + d:numel()
  end,
  result = function(self) return self.total / self.count end,
  reset_state = function(self) self.total, self.count = 0, 0 end}

-- Wide & Deep with two outputs, of Lua units (lua = true) or built-in ones.
local function wide_deep(lua)
  local D = lua and MyDense or function(a) return ln.layers.Dense{a.units, activation = a.activation, name = a.name} end
  local wide = ln.Input{shape = {5}, name = "wide_input"}
  local deep = ln.Input{shape = {6}, name = "deep_input"}
  local h1 = D{units = 8, activation = "relu", name = "h1"}(deep)
  local h2 = D{units = 8, activation = "relu", name = "h2"}(h1)
  local cat = (lua and MyConcat{name = "cat"} or ln.layers.Concatenate{name = "cat"})({wide, h2})
  local main = D{units = 1, name = "main_output"}(cat)
  local aux = D{units = 1, name = "aux_output"}(h2)
  return ln.Model{inputs = {wide, deep}, outputs = {main, aux}, name = "wide_deep"}
end

local function data(n, seed)
  ln.random.seed(seed or 1)
  local xw, xd = ln.randn({n, 5}), ln.randn({n, 6})
  return xw, xd, xw:sum(2, true) * 0.3 - xd:narrow(2, 1, 1), xd:mean(2, true)
end

-- the built-in model's weights given to the Lua one (same order: kernel, bias)
local function copy_weights(from, to)
  for _, name in ipairs({"h1", "h2", "main_output", "aux_output"}) do
    to:get_layer(name):set_weights(from:get_layer(name):get_weights())
  end
end

local function max_diff(a, b) return (a - b):abs():max() end

test("a graph of Lua layers, loss and metric trains as the same built-in graph (1e-5)", function()
  ln.random.seed(3)
  local c = wide_deep(false)
  local l = wide_deep(true)
  copy_weights(c, l)
  c:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.05},
            loss_weights = {0.9, 0.1}, metrics = {"mae"}}
  l:compile{loss = my_mse, optimizer = ln.optimizers.SGD{learning_rate = 0.05},
            loss_weights = {0.9, 0.1},
            metrics = {main_output = {MaeMetric{name = "mae"}}, aux_output = {MaeMetric{name = "mae"}}}}
  local xw, xd, y1, y2 = data(96)
  local hc = c:fit({xw, xd}, {y1, y2}, {epochs = 3, batch_size = 16, shuffle = false, verbose = 0})
  local hl = l:fit({wide_input = xw, deep_input = xd}, {main_output = y1, aux_output = y2},
                   {epochs = 3, batch_size = 16, shuffle = false, verbose = 0})
  for _, k in ipairs({"loss", "main_output_loss", "aux_output_loss", "main_output_mae",
                      "aux_output_mae"}) do
    assert(hl.history[k], "history has " .. k)
    for e = 1, 3 do near(hl.history[k][e], hc.history[k][e], 1e-5, k .. " epoch " .. e) end
  end
  for _, name in ipairs({"h1", "h2", "main_output", "aux_output"}) do
    local wc, wl = c:get_layer(name):get_weights(), l:get_layer(name):get_weights()
    for i = 1, 2 do
      assert(max_diff(wc[i], wl[i]) < 1e-5, name .. " weight " .. i .. " within 1e-5")
    end
  end
  local ec = {c:evaluate({xw, xd}, {y1, y2}, {verbose = 0})}
  local el = {l:evaluate({xw, xd}, {y1, y2}, {verbose = 0})}
  eq(#el, #ec, "evaluate's results")
  for i = 1, #ec do near(el[i], ec[i], 1e-5, "evaluate result " .. i) end
  local pc, pl = c:predict({xw, xd}), l:predict({xw, xd})
  assert(max_diff(pc[1], pl[1]) < 1e-5 and max_diff(pc[2], pl[2]) < 1e-5, "predict")
  local yl = l({xw, xd})
  assert(max_diff(yl[1], pl[1]) == 0, "model(x) is predict's numbers")
end)

test("a graph with Lua layers trains bitwise the same for 1 and 2 threads", function()
  local function run(threads)
    ln.set_num_threads(threads)
    ln.random.seed(5)
    local m = wide_deep(true)
    m:compile{loss = my_mse, optimizer = "adam", metrics = {"mae"}}
    local xw, xd, y1, y2 = data(80, 6)
    ln.random.seed(7)
    m:fit({xw, xd}, {y1, y2}, {epochs = 2, batch_size = 16, verbose = 0})
    return m:get_weights()
  end
  local a, b = run(1), run(2)
  ln.set_num_threads(2)
  eq(#a, #b)
  for i = 1, #a do assert(a[i]:equal(b[i]), "weight " .. i .. " bitwise equal") end
end)

test("a shared Lua layer (siamese) sums its gradients; add_loss from a layer", function()
  local Penalized = ln.layers.Layer:extend{name = "Penalized", defaults = {rate = 0.1},
    build = function(self, s)
      self.w = self:add_weight{name = "w", shape = {s[1], 3}, initializer = "ones"}
    end,
    call = function(self, x)
      local y = ln.matmul(x, self.w)
      self:add_loss(self.rate * y:square():mean())
      return y
    end}
  local a, b = ln.Input{shape = {4}}, ln.Input{shape = {4}}
  local shared = Penalized{rate = 0.5}
  local d = ln.layers.Lambda(function(p) return (p[1] - p[2]):abs():sum(2, true) end,
                             {name = "l1_distance"})({shared(a), shared(b)})
  local m = ln.Model{inputs = {a, b}, outputs = d}
  eq(#m.trainable_variables, 1, "one weight for both branches")
  ln.random.seed(2)
  local xa, xb = ln.rand(8, 4), ln.rand(8, 4)
  -- the tape's gradient of the graph's loss against finite differences
  local y = ln.zeros({8, 1})
  m:compile{loss = "mse", optimizer = "sgd"}
  local function loss_at()
    local l = m:evaluate({xa, xb}, y, {verbose = 0, batch_size = 8})
    return l
  end
  local w = m.trainable_variables[1].value
  local tape = ln.GradientTape()
  local loss = tape:run(function()
    local out = m({xa, xb}, {training = true})
    local l = (out - y):square():mean()
    for _, r in ipairs(m.losses) do l = l + r end
    return l
  end)
  near(loss:item(), loss_at(), 1e-5, "the tape's loss is evaluate's (both calls' add_loss terms)")
  local g = tape:gradient(loss, {w})[1]
  local eps = 1e-2
  for _, ij in ipairs({{1, 1}, {2, 3}, {4, 2}}) do
    local i, j = ij[1], ij[2]
    local v = w[{i, j}]
    w[{i, j}] = v + eps
    local up = loss_at()
    w[{i, j}] = v - eps
    local down = loss_at()
    w[{i, j}] = v
    local gij = g[{i, j}]
    near(gij, (up - down) / (2 * eps), 2e-2 * math.max(1, math.abs(gij)), "dw " .. i .. "," .. j)
  end
end)

test("a functional model inside a tape recording: the same gradients as Sequential", function()
  ln.random.seed(9)
  local inp = ln.Input{shape = {6}}
  local h = ln.layers.Dense{5, activation = "tanh"}(inp)
  local f = ln.Model{inputs = inp, outputs = ln.layers.Dense{2}(h)}
  local s = ln.Sequential{ln.layers.Dense{5, activation = "tanh", input_shape = {6}},
                          ln.layers.Dense{2}}
  s:set_weights(f:get_weights())
  local x = ln.randn({7, 6})
  local function grads(model)
    local tape = ln.GradientTape()
    local l = tape:run(function() return model(x):square():sum() end)
    local vars = {}
    for i, v in ipairs(model.trainable_variables) do vars[i] = v.value end
    return tape:gradient(l, vars)
  end
  local gf, gs = grads(f), grads(s)
  eq(#gf, 4)
  for i = 1, 4 do assert(gf[i]:equal(gs[i]), "gradient " .. i .. " bitwise equal") end
  -- and a functional model of C layers still runs in C outside a tape
  assert(f(x):equal(s(x)), "outside a tape")
end)

test("model:add_loss on a functional model is in fit's loss and gradient", function()
  local function run(penalty)
    ln.random.seed(4)
    local inp = ln.Input{shape = {5}}
    local dense = ln.layers.Dense{1}
    local m = ln.Model{inputs = inp, outputs = dense(inp)}
    if penalty then m:add_loss(function() return dense.kernel.value:abs():sum() * 10 end) end
    m:compile{loss = "mse", optimizer = "sgd"}
    local xw, _, y = data(32, 8)
    return m, m:fit(xw, y, {epochs = 1, batch_size = 8, verbose = 0}).history.loss[1]
  end
  local m0, plain = run(false)
  local m1, with = run(true)
  assert(with > plain + 5 * m0.layers[2].kernel.value:abs():sum(), "the term is in the loss")
  assert(not m1.layers[2].kernel.value:equal(m0.layers[2].kernel.value), "and in the gradient")
end)

test("a graph with Lua layers saves and loads with custom_objects", function()
  ln.random.seed(11)
  local m = wide_deep(true)
  m:compile{loss = my_mse, optimizer = "adam"}
  local xw, xd, y1, y2 = data(32, 12)
  m:fit({xw, xd}, {y1, y2}, {epochs = 1, verbose = 0})
  local path = dir .. "/wd.h5"
  m:save(path)
  local back = ln.models.load_model(path, {custom_objects = {MyDense = MyDense,
                                                             MyConcat = MyConcat, my_mse = my_mse}})
  local p, q = m:predict({xw, xd}), back:predict({xw, xd})
  assert(p[1]:equal(q[1]) and p[2]:equal(q[2]), "the same predictions, bitwise")
  T.raises(function() ln.models.load_model(path, {custom_objects = {MyConcat = MyConcat,
                                                                    my_mse = my_mse}}) end,
           "MyDense")
end)

test("a Lua class named like a built-in layer loads back beside the built-in ones", function()
  local Dense = ln.layers.Layer:extend{name = "Dense", defaults = {units = 2},
    build = function(self, s) self.kernel = self:add_weight{name = "kernel", shape = {s[#s], self.units}} end,
    call = function(self, x) return ln.matmul(x, self.kernel) * 2 end}
  ln.random.seed(13)
  local x = ln.randn({5, 4})
  local inp = ln.Input{shape = {4}}
  local h = ln.layers.Dense{3, name = "builtin_1"}(inp)
  local f = ln.Model{inputs = inp, outputs = ln.layers.Dense{2, name = "builtin_2"}(Dense{units = 3, name = "lua_dense"}(h))}
  local s = ln.Sequential{Dense{units = 3, input_shape = {4}, name = "lua_first"}, ln.layers.Dense{2}}
  for _, m in ipairs({f, s}) do
    local path = dir .. "/clash_" .. m.name .. ".h5"
    m:save(path)
    local back = ln.models.load_model(path, {custom_objects = {Dense = Dense}})
    assert(back:predict(x):equal(m:predict(x)), m.name .. ": the same predictions")
    for _, l in ipairs(m.layers) do
      if l.class_name ~= "InputLayer" then
        eq(getmetatable(back:get_layer(l.name)) == getmetatable(l), true, l.name .. "'s kind")
      end
    end
  end
end)

test("Dot on samples of rank 3 (batch_dot): shapes, values, gradients through the tape", function()
  ln.random.seed(14)
  local a, b = ln.randn({2, 3, 4, 6}), ln.randn({2, 5, 4})
  local dot = ln.layers.Dot{axes = {2, 2}}
  local y = dot({a, b})
  eq(table.concat(y:shape(), ","), "2,3,6,5", "x's other axes, then y's")
  -- y[n][i][j][r] = sum_c a[n][i][c][j] b[n][r][c]
  for _, idx in ipairs({{1, 1, 1, 1}, {2, 3, 6, 5}, {1, 2, 4, 3}}) do
    local n, i, j, r = table.unpack(idx)
    local want = 0
    for c = 1, 4 do want = want + a[{n, i, c, j}] * b[{n, r, c}] end
    near(y[{n, i, j, r}], want, 1e-5, "y at " .. table.concat(idx, ","))
  end
  local i1, i2 = ln.Input{shape = {3, 4, 6}}, ln.Input{shape = {5, 4}}
  eq(table.concat(dot({i1, i2}).shape, ","), "3,6,5", "the symbolic shape")
  -- the tape's gradient of sum(y * w) with respect to a, against finite differences
  local w = ln.randn({2, 3, 6, 5})
  local tape = ln.GradientTape()
  local l = tape:run(function() tape:watch(a); return (dot({a, b}) * w):sum() end)
  local g = tape:gradient(l, {a})[1]
  local eps = 1e-2
  for _, idx in ipairs({{1, 1, 1, 1}, {2, 3, 4, 6}, {1, 2, 3, 2}}) do
    local v = a[idx]
    a[idx] = v + eps
    local up = (dot({a, b}) * w):sum()
    a[idx] = v - eps
    local down = (dot({a, b}) * w):sum()
    a[idx] = v
    near(g[idx], (up - down) / (2 * eps), 1e-2, "da at " .. table.concat(idx, ","))
  end
end)

test("clone_model of a graph with a shared Lua layer: same graph, new weights", function()
  ln.random.seed(15)
  local a, b = ln.Input{shape = {4}}, ln.Input{shape = {4}}
  local shared = MyDense{units = 3}
  local out = ln.layers.Dense{1}(MyConcat{}({shared(a), shared(b)}))
  local m = ln.Model{inputs = {a, b}, outputs = out}
  local c = ln.models.clone_model(m)
  eq(#c.layers, #m.layers)
  eq(#c.trainable_variables, #m.trainable_variables, "the shared layer is one layer")
  assert(c.layers[3] ~= m.layers[3] and c.layers[3].class_name == "MyDense", "a new MyDense")
  c:set_weights(m:get_weights())
  local xa, xb = ln.randn({6, 4}), ln.randn({6, 4})
  assert(c({xa, xb}):equal(m({xa, xb})), "the same function with the same weights")
  T.raises(function() ln.models.clone_model(ln.Model:extend{name = "Sub",
    call = function(_, x) return x end}{}) end, "Functional or Sequential")
end)

test("uint8 and int32 inputs through the tape path become float32 batch by batch", function()
  ln.random.seed(16)
  local x = (ln.rand(16, 3) * 255):floor():byte()
  local function graph(lua)
    ln.random.seed(17)
    local inp = ln.Input{shape = {3}}
    local h = ln.layers.Rescaling{1 / 255}(inp)
    if lua then h = ln.layers.Lambda(function(t) return t * 1 end)(h) end
    local m = ln.Model{inputs = inp, outputs = ln.layers.Dense{1}(h)}
    m:compile{loss = "mse", optimizer = "sgd"}
    return m
  end
  local c, l = graph(false), graph(true)
  l:set_weights(c:get_weights())
  local y = ln.rand(16, 1)
  local hc = c:fit(x, y, {epochs = 2, batch_size = 8, shuffle = false, verbose = 0})
  local hl = l:fit(x, y, {epochs = 2, batch_size = 8, shuffle = false, verbose = 0})
  near(hl.history.loss[2], hc.history.loss[2], 1e-5, "the same loss as the C graph")
  assert(max_diff(l:predict(x), c:predict(x)) < 1e-5, "predict")
end)

test("sample_weight and class_weight with Lua losses on the tape path (1e-5 of the C net)", function()
  -- a graph with two outputs, weighted per output, against the C graph with "mse"
  ln.random.seed(18)
  local c, l = wide_deep(false), wide_deep(true)
  copy_weights(c, l)
  c:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.05}, loss_weights = {0.9, 0.1}}
  l:compile{loss = my_mse, optimizer = ln.optimizers.SGD{learning_rate = 0.05}, loss_weights = {0.9, 0.1}}
  local xw, xd, y1, y2 = data(48, 19)
  local w1, w2 = ln.rand(48) * 2, ln.rand(48)
  local sw = {main_output = w1, aux_output = w2}
  local vw = {main_output = w2, aux_output = w1}
  local opts = {epochs = 2, batch_size = 16, shuffle = false, verbose = 0, sample_weight = sw,
                validation_data = {{xw, xd}, {y1, y2}, vw}}
  local hc, hl = c:fit({xw, xd}, {y1, y2}, opts), l:fit({xw, xd}, {y1, y2}, opts)
  for _, k in ipairs({"loss", "main_output_loss", "aux_output_loss", "val_loss"}) do
    for e = 1, 2 do near(hl.history[k][e], hc.history[k][e], 1e-5, k .. " epoch " .. e) end
  end
  near(l:evaluate({xw, xd}, {y1, y2}, {verbose = 0, sample_weight = sw}),
       c:evaluate({xw, xd}, {y1, y2}, {verbose = 0, sample_weight = sw}), 1e-5, "evaluate")
  -- class_weight on a Sequential with a Lua layer and a Lua loss
  local function seq(lua)
    ln.random.seed(20)
    local m = ln.Sequential{ln.layers.Dense{3, input_shape = {5}},
                            lua and ln.layers.Lambda(function(t) return t * 1 end) or ln.layers.Activation{"linear"},
                            ln.layers.Activation{"softmax"}}
    local function my_cce(yt, yp) return (yp:log() * yt):sum(2) * -1 end
    m:compile{loss = lua and my_cce or "categorical_crossentropy", optimizer = "sgd"}
    return m
  end
  local x = ln.randn({30, 5})
  local labels = (ln.rand(30) * 3):floor():int()
  local onehot = ln.zeros({30, 3})
  for i = 1, 30 do onehot[{i, labels[i] + 1}] = 1 end
  local a, b = seq(false), seq(true)
  b:set_weights(a:get_weights())
  local cw = {[0] = 1, [1] = 3, [2] = 0.5}
  local ha = a:fit(x, onehot, {epochs = 2, batch_size = 10, shuffle = false, verbose = 0, class_weight = cw})
  local hb = b:fit(x, onehot, {epochs = 2, batch_size = 10, shuffle = false, verbose = 0, class_weight = cw})
  near(hb.history.loss[2], ha.history.loss[2], 1e-5, "class_weight")
  -- a built-in loss on the tape weighs its per-sample losses as the C graph
  local m = wide_deep(true)
  copy_weights(c, m)
  m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.05}, loss_weights = {0.9, 0.1}}
  near(m:evaluate({xw, xd}, {y1, y2}, {verbose = 0, sample_weight = sw}),
       c:evaluate({xw, xd}, {y1, y2}, {verbose = 0, sample_weight = sw}), 1e-5,
       "built-in mse on the tape, weighted")
end)

test("a subclass of a merge layer in a graph: trained, saved, loaded", function()
  local HalfAdd = ln.layers.Add:extend{name = "HalfAdd",
    call = function(self, xs, training) return ln.layers.Add.call(self, xs, training) * 0.5 end}
  ln.random.seed(25)
  local a, b = ln.Input{shape = {4}}, ln.Input{shape = {4}}
  local da, db = ln.layers.Dense{4}, ln.layers.Dense{4}
  local half = HalfAdd{}({da(a), db(b)})
  eq(half.shape[1], 4)
  local m = ln.Model{inputs = {a, b}, outputs = ln.layers.Dense{1}(half)}
  local xa, xb = ln.randn({16, 4}), ln.randn({16, 4})
  assert(max_diff(m({xa, xb}), m.layers[#m.layers]((da(xa) + db(xb)) * 0.5)) < 1e-6, "half the sum")
  m:compile{loss = "mse", optimizer = "sgd"}
  m:fit({xa, xb}, ln.randn({16, 1}), {verbose = 0})
  local path = dir .. "/halfadd.h5"
  m:save(path)
  local back = ln.models.load_model(path, {custom_objects = {HalfAdd = HalfAdd}})
  assert(back({xa, xb}):equal(m({xa, xb})), "the same bits after loading")
end)

test("add_loss of a symbolic tensor (the VAE's latent loss): its mean joins the loss", function()
  local function vae(with_latent_loss)
    ln.random.seed(26)
    local inp = ln.Input{shape = {6}}
    local h = ln.layers.Dense{5, activation = "tanh"}(inp)
    local mean, log_var = ln.layers.Dense{2}(h), ln.layers.Dense{2}(h)
    local kl = ln.layers.Lambda(function(p)
      local m, lv = p[1], p[2]
      return ((lv + 1) - lv:exp() - m:square()):sum(2) * -0.5
    end, {name = "latent_loss"})({mean, log_var})
    local codings = ln.layers.Lambda(function(p) return p[1] + (p[2] * 0.5):exp() end)({mean, log_var})
    local out = ln.layers.Dense{6}(codings)
    local m = ln.Model{inputs = inp, outputs = out}
    if with_latent_loss then m:add_loss(kl) end
    m:compile{loss = "mse", optimizer = "sgd"}
    return m, kl
  end
  local x = ln.randn({24, 6})
  local plain = vae(false)
  local m = vae(true)
  local base = plain:evaluate(x, x, {verbose = 0, batch_size = 24})
  local with = m:evaluate(x, x, {verbose = 0, batch_size = 24})
  -- the latent loss of x by hand, from the layers' weights
  local g = m.layers
  local h = g[2](x)
  local mean, log_var = g[3](h), g[4](h)
  local kl = (((log_var + 1) - log_var:exp() - mean:square()):sum(2) * -0.5):mean()
  near(with - base, kl, 1e-5, "the difference is the batch mean of the latent loss")
  m:fit(x, x, {epochs = 1, batch_size = 8, verbose = 0})
  plain:fit(x, x, {epochs = 1, batch_size = 8, verbose = 0})
  assert(not m.layers[3].kernel.value:equal(plain.layers[3].kernel.value), "and in the gradient")
  local other = ln.layers.Dense{1}(ln.Input{shape = {6}})
  T.raises(function() m:add_loss(other) end, "not computed from this model's inputs")
  local side = ln.layers.Dense{1, name = "side_branch"}(m.inputs[1])
  T.raises(function() m:add_loss(side) end, "side_branch (Dense) has weights")
end)

test("bad Lua layers in graphs are named", function()
  local NotTensor = ln.layers.Layer:extend{name = "NotTensor",
    call = function(self, x) return 42 end}
  local inp = ln.Input{shape = {3}}
  T.raises(function() return NotTensor{name = "bad_one"}(inp) end, "bad_one", "not a tensor")
  local Fails = ln.layers.Layer:extend{name = "Fails",
    call = function(self, x, training)
      if training then error("no training for me") end
      return x * 1
    end}
  local out = Fails{name = "fails_in_training"}(inp)
  local m = ln.Model{inputs = inp, outputs = ln.layers.Dense{1}(out)}
  m:compile{loss = "mse", optimizer = "sgd"}
  T.raises(function() m:fit(ln.zeros({4, 3}), ln.zeros({4, 1}), {verbose = 0}) end,
           "fails_in_training", "no training for me")
  -- a shared Lua layer called on another shape
  local d = MyDense{units = 2, name = "shared_dense"}
  d(ln.Input{shape = {3}})
  T.raises(function() return d(ln.Input{shape = {4}}) end, "shared_dense", "(None, 3)", "(None, 4)")
  -- a Lua merge layer called on a list holding a non-tensor
  T.raises(function() return MyConcat{name = "cat_bad"}({ln.zeros({2, 3}), 5}) end,
           "cat_bad", "entry 2")
  -- one Lua metric object for two outputs (one running state)
  local two = wide_deep(false)
  local shared_metric = MaeMetric{name = "mae"}
  T.raises(function() two:compile{loss = "mse", metrics = {shared_metric}} end,
           "given to outputs 'main_output' and 'aux_output'")
  -- the C graph engine is not asked to run a Lua layer
  local lm = ln.Model{inputs = inp, outputs = MyDense{units = 1}(inp)}
  T.raises(function() return lm:_get_net() end, "written in Lua")
end)

T.summary("functional lua")
