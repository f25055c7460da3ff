-- The functional API (lunet.functional): ln.Input, layers called on
-- symbolic tensors, ln.Model with several inputs and outputs, shared
-- layers, fit/evaluate/predict with lists and name-keyed tables, Keras's
-- history names, summary's "Connected to", configs, and bad graphs named
-- at the user's line; ln.testing.gradcheck on RepeatVector and Permute.
-- Run as `lunet test_functional.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, near, raises = T.test, T.eq, T.near, T.raises_as

-- Two models' weights (get_weights lists), equal to the bit.
local function same_weights(a, b)
  eq(#a, #b, "weight count")
  for i = 1, #a do assert(ln.equal(a[i], b[i]), "weight " .. i .. " differs") end
end

local function wide_and_deep(aux)
  local wide = ln.Input{shape = {5}, name = "wide_input"}
  local deep = ln.Input{shape = {6}, name = "deep_input"}
  local h1 = ln.layers.Dense{30, activation = "relu"}(deep)
  local h2 = ln.layers.Dense{30, activation = "relu"}(h1)
  local concat = ln.layers.Concatenate{}({wide, h2})
  local out = ln.layers.Dense{1, name = "main_output"}(concat)
  local outs = {out}
  if aux then outs[2] = ln.layers.Dense{1, name = "aux_output"}(h2) end
  return ln.Model{inputs = {wide, deep}, outputs = outs, name = "wide_deep"}
end

local function data(n, seed)
  ln.random.seed(seed or 1)
  return ln.randn({n, 5}), ln.randn({n, 6}), ln.randn({n, 1})
end

test("structure: layers, inputs, outputs, get_layer, count_params", function()
  ln.backend.clear_session()
  local m = wide_and_deep(true)
  eq(#m.layers, 7, "layers (InputLayers included, as Keras)")
  eq(m.layers[1].name, "wide_input")
  eq(m.layers[1].class_name, "InputLayer")
  eq(#m.inputs, 2)
  eq(#m.outputs, 2)
  eq(m.outputs[2].node.layer.name, "aux_output")
  eq(table.concat(m.output_names, ","), "main_output,aux_output")
  eq(m:get_layer("concatenate").class_name, "Concatenate")
  eq(m:get_layer("main_output").output_shape[1], 1)
  eq(m:count_params(), 210 + 930 + 36 + 31)
  eq(#m.trainable_weights, 8)
  raises(function() m:get_layer("nope") end, "No such layer: nope")
end)

test("summary: Keras's functional layout with Connected to", function()
  ln.backend.clear_session()
  local m = wide_and_deep(false)
  local lines = {}
  m:summary{print_fn = function(s) lines[#lines + 1] = s end}
  eq(lines[1], 'Model: "wide_deep"')
  eq(lines[3]:gsub("%s+$", ""), "Layer (type)                    Output Shape         Param #     Connected to")
  local text = table.concat(lines, "\n")
  assert(text:find("wide_input (InputLayer)         [(None, 5)]          0", 1, true), text)
  assert(text:find("concatenate (Concatenate)       (None, 35)           0           wide_input[0][0]", 1, true), text)
  assert(text:find("\n                                                                 dense_1[0][0]", 1, true), text)
  assert(text:find("Total params: 1,176", 1, true), text)
end)

test("a chain as a graph gives Sequential's numbers, bitwise", function()
  local function run(functional)
    ln.backend.clear_session()
    ln.random.seed(7)
    local model
    if functional then
      local x = ln.Input{shape = {20}}
      local h = ln.layers.Dense{16, kernel_initializer = "he_normal"}(x)
      h = ln.layers.LeakyReLU{}(h)
      model = ln.Model{inputs = x, outputs = ln.layers.Dense{5, activation = "softmax"}(h)}
    else
      model = ln.Sequential{ln.layers.Dense{16, kernel_initializer = "he_normal", input_shape = {20}},
                            ln.layers.LeakyReLU{}, ln.layers.Dense{5, activation = "softmax"}}
    end
    model:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam",
                  metrics = {"accuracy"}}
    ln.random.seed(3)
    local x = ln.randn({300, 20})
    local y = (ln.rand({300}) * 5):floor():int()
    local h = model:fit(x, y, {epochs = 2, verbose = 0, batch_size = 32})
    return model:get_weights(), h.history, model:predict(x)
  end
  local a, ha, pa = run(false)
  local b, hb, pb = run(true)
  same_weights(a, b)
  eq(ha.loss[2], hb.loss[2], "loss")
  eq(ha.accuracy[2], hb.accuracy[2], "accuracy")
  assert(ln.equal(pa, pb), "predictions differ")
end)

test("Flatten, Reshape and Dropout as views in a Sequential and a graph: the numbers of copies, bitwise", function()
  -- a Sequential shows a Flatten's or Reshape's input (a Dropout's or
  -- GaussianNoise's outside training) as its output and its output
  -- gradient as its input gradient; a graph shows the output and copies
  -- the gradient; layers called alone copy both
  local function layers()
    local L = ln.layers
    return {L.Flatten{input_shape = {4, 5}}, L.Dense{12, kernel_initializer = "he_normal"},
            L.Reshape{{3, 4}}, L.Flatten{}, L.Dropout{0.25}, L.Dense{8, activation = "relu"},
            L.GaussianNoise{0.1}, L.Reshape{{2, 4}},
            L.Flatten{data_format = "channels_first"}, -- a transpose: copies
            L.Dense{5, activation = "softmax"}}
  end
  local function run(functional)
    ln.backend.clear_session()
    ln.random.seed(11)
    local model
    if functional then
      local x = ln.Input{shape = {4, 5}}
      local h = x
      for _, l in ipairs(layers()) do h = l(h) end
      model = ln.Model{inputs = x, outputs = h}
    else
      model = ln.Sequential(layers())
    end
    model:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam",
                  metrics = {"accuracy"}}
    ln.random.seed(5)
    local x, y = ln.randn({200, 4, 5}), (ln.rand({200}) * 5):floor():int()
    local xv, yv = ln.randn({40, 4, 5}), (ln.rand({40}) * 5):floor():int()
    local h = model:fit(x, y, {epochs = 2, verbose = 0, batch_size = 16,
                               validation_data = {xv, yv}})
    -- the layers called one by one on the whole of x: every one computes
    local e = x
    for _, l in ipairs(model.layers) do
      if l.forward then e = l:forward(e):clone() end
    end
    return model:get_weights(), h.history, model:predict(x, {batch_size = 200}), e
  end
  local a, ha, pa, ea = run(false)
  local b, hb, pb = run(true)
  same_weights(a, b)
  eq(ha.loss[2], hb.loss[2], "loss")
  eq(ha.val_loss[2], hb.val_loss[2], "val_loss")
  assert(ln.equal(pa, pb), "predictions differ")
  assert(ln.equal(pa, ea), "predict differs from the layers called one by one")
end)

test("a graph's predict and evaluate read float32 rows in place and keep none", function()
  ln.backend.clear_session()
  ln.random.seed(13)
  local a, b = ln.Input{shape = {21}}, ln.Input{shape = {3, 7}}
  local h = ln.layers.Concatenate{}({ln.layers.Dense{6, activation = "tanh"}(a), ln.layers.Flatten{}(b)})
  local m = ln.Model{inputs = {a, b}, outputs = ln.layers.Dense{4, activation = "softmax"}(h)}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  -- rows of 21 floats: a batch's first row is 64-byte aligned every 16
  -- rows; the same rows one row further into a storage: the other batches
  local n = 70
  local xa, xb, y = ln.randn(n, 21), ln.randn(n, 3, 7), (ln.rand(n) * 4):floor():byte()
  local wa, wb = ln.randn(n + 1, 21), ln.randn(n + 1, 3, 7)
  wa:narrow(1, 2, n):copy_(xa); wb:narrow(1, 2, n):copy_(xb)
  local sa, sb = wa:narrow(1, 2, n), wb:narrow(1, 2, n)
  local p = m:predict({xa, xb}, {batch_size = 4})
  assert(p:equal(m:predict({sa, sb}, {batch_size = 4})), "the same rows elsewhere")
  eq(m:evaluate({xa, xb}, y, {batch_size = 4, verbose = 0}),
     m:evaluate({sa, sb}, y, {batch_size = 4, verbose = 0}), "evaluate")
  local big = ln.rand(4096, 21)
  m:predict({big, ln.rand(4096, 3, 7)}, {batch_size = 16})
  m:evaluate({big, ln.rand(4096, 3, 7)}, (ln.rand(4096) * 4):floor():byte(),
             {batch_size = 16, verbose = 0})
  local freed = T.freed_bytes(ln, function() big = nil end)
  assert(freed >= 4096 * 21 * 4, "x's storage freed: " .. freed .. " bytes")
end)

test("a layer plugin built for ABI 2.3 (no is_view) loads and runs by copies, bitwise", function()
  local dir = os.getenv("LUNET_TEST_PLUGIN_DIR")
  if not dir then error("LUNET_TEST_PLUGIN_DIR not set (run through ctest)") end
  ln.load_plugin(dir .. "/old_minor_view.so")
  local function run(flatten)
    ln.backend.clear_session()
    ln.random.seed(12)
    local m = ln.Sequential{ln.layers.Dense{6, input_shape = {5}}, ln.layers.Reshape{{2, 3}},
                            flatten{}, ln.layers.Dense{3, activation = "softmax"}}
    m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
    ln.random.seed(6)
    local x, y = ln.randn({64, 5}), (ln.rand({64}) * 3):floor():int()
    m:fit(x, y, {epochs = 2, verbose = 0, batch_size = 8})
    return m:get_weights()
  end
  local a, b = run(ln.layers.Flatten), run(ln.layers.TpOldFlatten)
  same_weights(a, b)
end)

test("two inputs, two outputs: fit with lists and tables, Keras's history keys", function()
  ln.backend.clear_session()
  local m = wide_and_deep(true)
  m:compile{loss = {"mse", "mse"}, loss_weights = {0.9, 0.1}, optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
            metrics = {"mae"}}
  eq(table.concat(m.metrics_names, ","),
     "loss,main_output_loss,aux_output_loss,main_output_mae,aux_output_mae")
  local xw, xd, y = data(400)
  local h = m:fit({xw, xd}, {y, y}, {epochs = 2, verbose = 0, validation_split = 0.25})
  for _, k in ipairs({"loss", "main_output_loss", "aux_output_loss", "main_output_mae",
                      "aux_output_mae", "val_loss", "val_main_output_loss", "val_aux_output_mae"}) do
    assert(h.history[k] and #h.history[k] == 2, "history lacks " .. k)
  end
  local r = m:evaluate({wide_input = xw, deep_input = xd}, {main_output = y, aux_output = y},
                       {verbose = 0, return_dict = true})
  near(r.loss, 0.9 * r.main_output_loss + 0.1 * r.aux_output_loss, 1e-5, "weighted total")
  local p = m:predict({deep_input = xd, wide_input = xw})
  eq(#p, 2)
  eq(p[1]:shape()[1], 400)
  local q = m({xw, xd})
  assert(ln.equal(p[1], q[1]) and ln.equal(p[2], q[2]), "predict and call differ")
  -- per-output losses by name, one output untrained
  m:compile{loss = {main_output = "mse"}, optimizer = "sgd"}
  eq(table.concat(m.metrics_names, ","), "loss,main_output_loss")
  m:fit({xw, xd}, {main_output = y}, {epochs = 1, verbose = 0})
end)

test("shared layers: one Dense on two inputs, weights counted and trained once", function()
  ln.backend.clear_session()
  local a = ln.Input{shape = {4}, name = "left"}
  local b = ln.Input{shape = {4}, name = "right"}
  local shared = ln.layers.Dense{3, activation = "tanh", name = "shared"}
  local diff = ln.layers.Subtract{}({shared(a), shared(b)})
  local out = ln.layers.Dense{1, activation = "sigmoid"}(ln.layers.Multiply{}({diff, diff}))
  local m = ln.Model{inputs = {a, b}, outputs = out}
  eq(m:count_params(), 15 + 4)
  eq(#rawget(shared, "_nodes"), 2)
  local lines = {}
  m:summary{print_fn = function(s) lines[#lines + 1] = s end}
  local text = table.concat(lines, "\n")
  assert(text:find("shared (Dense)                  (None, 3)            15          left[0][0]", 1, true), text)
  assert(text:find("right[0][0]", 1, true), text)
  assert(text:find("subtract (Subtract)             (None, 3)            0           shared[0][0]", 1, true), text)
  assert(text:find("shared[1][0]", 1, true), text)
  m:compile{loss = "binary_crossentropy", optimizer = ln.optimizers.Adam{learning_rate = 0.01},
            metrics = {"accuracy"}}
  ln.random.seed(4)
  local xa, xb = ln.randn({256, 4}), ln.randn({256, 4})
  local y = ((xa - xb):abs():sum(2, true):gt(3.2)):float()
  local before = shared.kernel:read_value()
  local h = m:fit({xa, xb}, y, {epochs = 20, verbose = 0})
  assert(not ln.equal(before, shared.kernel.value), "the shared kernel did not train")
  assert(h.history.loss[20] < h.history.loss[1], "the loss did not fall")
end)

test("models as layers: a functional model and a Sequential inside a model", function()
  ln.backend.clear_session()
  local a = ln.Input{shape = {4}}
  local encoder = ln.Model{inputs = a, outputs = ln.layers.Dense{3, activation = "tanh"}(a),
                           name = "encoder"}
  local head = ln.Sequential{ln.layers.Dense{2, input_shape = {6}}, ln.layers.Dense{1}}
  local left, right = ln.Input{shape = {4}, name = "left"}, ln.Input{shape = {4}, name = "right"}
  local both = ln.layers.Concatenate{}({encoder(left), encoder(right)})
  local m = ln.Model{inputs = {left, right}, outputs = head(both)}
  eq(m:count_params(), 15 + 14 + 3, "the encoder's weights are shared by its two uses")
  m:compile{loss = "mse", optimizer = "sgd"}
  local xl, xr = ln.randn({16, 4}), ln.randn({16, 4})
  m:fit({xl, xr}, ln.randn({16, 1}), {epochs = 1, verbose = 0})
  local direct = head(ln.cat({encoder(xl), encoder(xr)}, 2))
  assert(ln.allclose(m({xl, xr}), direct, 1e-5, 1e-6), "nested models compute otherwise")
  raises(function() local _ = encoder({left, right}) end, {"encoder", "called on 2 tensors"})
end)

test("config: Keras's functional layout and back", function()
  ln.backend.clear_session()
  local m = wide_and_deep(true)
  local cfg = m:get_config()
  eq(cfg.input_layers[2][1], "deep_input")
  eq(cfg.output_layers[2][1], "aux_output")
  local concat = cfg.layers[5]
  eq(concat.class_name, "Concatenate")
  eq(concat.inbound_nodes[1][1][1], "wide_input")
  eq(concat.inbound_nodes[1][2][1], "dense_1")
  ln.backend.clear_session()
  local m2 = ln.functional.from_config(cfg)
  eq(#m2.layers, 7)
  m2:set_weights(m:get_weights())
  local xw, xd = data(10)
  local p, q = m:predict({xw, xd}), m2:predict({xw, xd})
  assert(ln.equal(p[1], q[1]) and ln.equal(p[2], q[2]), "the rebuilt model differs")
end)

test("files: Keras's functional layout, load_model predicts the same bits and resumes", function()
  ln.backend.clear_session()
  local m = wide_and_deep(true)
  m:compile{loss = {main_output = "mse", aux_output = "mae"}, loss_weights = {0.9, 0.1},
            optimizer = "adam", metrics = {main_output = {"mae"}}}
  local xw, xd, y = data(64)
  m:fit({xw, xd}, {y, y}, {epochs = 1, verbose = 0})
  local dir = T.mktempdir("lunet_functional_")
  local path = dir .. "/wd.h5"
  m:save(path)
  local j = ln.h5.json_decode(m:to_json())
  eq(j.class_name, "Functional")
  eq(j.config.layers[5].inbound_nodes[1][2][1], "dense_1")
  eq(j.config.output_layers[2][1], "aux_output")
  local m2 = ln.models.load_model(path)
  eq(table.concat(m2.metrics_names, ","), table.concat(m.metrics_names, ","))
  local p, q = m:predict({xw, xd}), m2:predict({xw, xd})
  assert(ln.equal(p[1], q[1]) and ln.equal(p[2], q[2]), "the loaded model predicts otherwise")
  ln.random.seed(11)
  m:fit({xw, xd}, {y, y}, {epochs = 1, verbose = 0})
  ln.random.seed(11)
  m2:fit({xw, xd}, {y, y}, {epochs = 1, verbose = 0})
  p, q = m:predict({xw, xd}), m2:predict({xw, xd})
  assert(ln.equal(p[1], q[1]), "training resumed otherwise (optimizer state)")
  local m3 = ln.models.model_from_json(m:to_json())
  eq(#m3.layers, 7)
  os.remove(path)
  os.remove(dir)
end)

test("ln.testing.gradcheck passes RepeatVector and Permute", function()
  ln.random.seed(5)
  for _, case in ipairs{
    {ln.layers.RepeatVector{2}, ln.randn(2, 3)},
    {ln.layers.Permute{{2, 1}}, ln.randn(2, 4, 3)},
  } do
    local r = ln.testing.gradcheck(case[1], case[2], {raise = false})
    if not (r.ok and r.checked >= 6) then error(case[1].name .. ": " .. r.msg) end
  end
end)

test("a layer applied to its own output: trained as the tape path; a node cycle refused", function()
  -- d(d(d(x))): a loop through one shared layer, legal as in Keras (the
  -- nodes form no cycle); the C graph sums its three gradients
  local Identity = ln.layers.Layer:extend{name = "Identity", call = function(_, x) return x end}
  local function model(lua)
    ln.random.seed(4)
    local inp = ln.Input{shape = {4}}
    local d = ln.layers.Dense{4, activation = "tanh"}
    local h = d(inp)
    if lua then h = Identity{}(h) end
    local m = ln.Model{inputs = inp, outputs = ln.layers.Dense{1}(d(d(h)))}
    m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.05}}
    return m
  end
  ln.random.seed(3)
  local x, y = ln.randn({32, 4}), ln.randn({32, 1})
  local a, b = model(false), model(true)
  eq(a:count_params(), 25, "the shared layer's weights counted once")
  local ha = a:fit(x, y, {epochs = 3, batch_size = 8, shuffle = false, verbose = 0})
  local hb = b:fit(x, y, {epochs = 3, batch_size = 8, shuffle = false, verbose = 0})
  for e = 1, 3 do near(ha.history.loss[e], hb.history.loss[e], 1e-5, "loss " .. e) end
  local wa, wb = a:get_weights(), b:get_weights()
  for i = 1, #wa do assert((wa[i] - wb[i]):abs():max() < 1e-5, "weight " .. i) end
  -- symbolic tensors cannot be rewired through the API; a forged cycle of
  -- nodes is still refused by the topological walk, naming a layer
  local inp = ln.Input{shape = {4}}
  local d1, d2 = ln.layers.Dense{4, name = "loop_a"}, ln.layers.Dense{4, name = "loop_b"}
  local t = d1(inp)
  local u = d2(t)
  t.node.inputs = {u}
  raises(function() return ln.Model{inputs = inp, outputs = u} end,
         {"cycle through layer loop_"})
end)

test("bad graphs are named at the user's line", function()
  ln.backend.clear_session()
  local a = ln.Input{shape = {3}, name = "a"}
  local b = ln.Input{shape = {4}, name = "b"}
  local err = raises(function() local _ = ln.layers.Add{}({a, b}) end,
                     {"add (Add)", "(None, 3)", "(None, 4)", "called on a (None, 3), b (None, 4)"})
  assert(err:find("^[^:]*test_functional%.lua:%d+:"), err)
  local c = ln.layers.Dense{2}(b)
  err = raises(function() local _ = ln.Model{inputs = a, outputs = c} end,
               {"Graph disconnected", "layer \"dense\"", "b"})
  assert(err:find("^[^:]*test_functional%.lua:%d+:"), err)
  raises(function() return ln.Model{inputs = {a, b}, outputs = c} end,
         {"input a (None, 3) is not connected"})
  raises(function() return ln.Model{inputs = {c}, outputs = c} end, {"not an ln.Input"})
  local m = ln.Model{inputs = b, outputs = c}
  m:compile{loss = "mse", optimizer = "sgd"}
  raises(function() m:fit({}, ln.zeros({4, 2}), {verbose = 0}) end, {"fit: x", "missing input 'b'"})
  raises(function() m:fit(ln.zeros({4, 3}), ln.zeros({4, 2}), {verbose = 0}) end,
         {"input 'b'", "expects shape (None, 4)", "(4, 3)"})
  local w = wide_and_deep(false)
  w:compile{loss = "mse", optimizer = "sgd"}
  local xw, xd, y = data(8)
  raises(function() w:fit({wide_input = xw}, y, {verbose = 0}) end,
         {"missing input 'deep_input'", "wide_input, deep_input"})
  raises(function() w:fit(xw, y, {verbose = 0}) end, {"the model has 2 inputs"})
  raises(function() w:fit({xw, xd}, nil, {verbose = 0}) end, {"main_output"})
end)

T.summary("functional")
