-- The convolution, pooling and spatial layers through the Lua model API:
-- Keras's summary (output shapes, parameter counts), configs as Keras
-- writes them and their round trip through model files, build-time errors
-- that name the layer and the shapes and point at the user's line, whole
-- channels dropped by SpatialDropout, and CNN training that gives the same
-- bits for 1 thread and 2 threads in serial, team and automatic mode;
-- ln.testing.gradcheck on convolutions, pooling and Reshape.
-- Run as `lunet test_conv_layers.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local H = dofile(here .. "/conv_harness.lua")
local ln = require "lunet"
local L = ln.layers
local test, eq, raises = T.test, T.eq, T.raises_as

local function capture(fn)
  local old, out = print, {}
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring(select(i, ...)) end
    out[#out + 1] = table.concat(parts, "\t")
  end
  local ok, err = pcall(fn)
  print = old
  if not ok then error(err, 0) end
  return table.concat(out, "\n")
end

local function has(text, piece, what)
  if not text:find(piece, 1, true) then
    error(string.format("%s: %q lacks %q", what, text, piece), 2)
  end
end

-- ---- summaries ---------------------------------------------------------------------------

test("the chapter-14 CNN: Keras's shapes and parameter counts", function()
  ln.backend.clear_session()
  local m = ln.Sequential{
    L.Conv2D{64, 7, activation = "relu", padding = "same", input_shape = {28, 28, 1}},
    L.MaxPooling2D{2},
    L.Conv2D{128, 3, activation = "relu", padding = "same"},
    L.Conv2D{128, 3, activation = "relu", padding = "same"},
    L.MaxPooling2D{2},
    L.Conv2D{256, 3, activation = "relu", padding = "same"},
    L.Conv2D{256, 3, activation = "relu", padding = "same"},
    L.MaxPooling2D{2},
    L.Flatten{},
    L.Dense{128, activation = "relu"}, L.Dropout{0.5},
    L.Dense{64, activation = "relu"}, L.Dropout{0.5},
    L.Dense{10, activation = "softmax"},
  }
  local s = capture(function() m:summary() end)
  for _, piece in ipairs({"conv2d (Conv2D)              (None, 28, 28, 64)        3200",
                          "max_pooling2d (MaxPooling2D) (None, 14, 14, 64)        0",
                          "conv2d_2 (Conv2D)            (None, 14, 14, 128)       147584",
                          "max_pooling2d_1 (MaxPooling2 (None, 7, 7, 128)         0",
                          "conv2d_4 (Conv2D)            (None, 7, 7, 256)         590080",
                          "flatten (Flatten)            (None, 2304)              0",
                          "Total params: 1,413,834"}) do
    has(s, piece, "summary")
  end
end)

test("every layer: output shapes and parameter counts as Keras gives them", function()
  local function check(layer, input, out, params)
    local got = layer:build(input)
    eq(table.concat(got, ","), table.concat(out, ","), layer.class_name .. " output shape")
    eq(layer:count_params(), params, layer.class_name .. " params")
  end
  check(L.Conv2D{32, 3, groups = 4, use_bias = false}, {10, 12, 8}, {8, 10, 32}, 3 * 3 * 2 * 32)
  check(L.Conv2D{6, {3, 5}, strides = {2, 3}, padding = "same", data_format = "channels_first"},
        {4, 11, 13}, {6, 6, 5}, 3 * 5 * 4 * 6 + 6)
  check(L.Conv1D{8, 5, padding = "causal", dilation_rate = 2}, {20, 3}, {20, 8}, 5 * 3 * 8 + 8)
  check(L.Conv2DTranspose{16, 3, strides = 2}, {7, 7, 32}, {15, 15, 16}, 3 * 3 * 16 * 32 + 16)
  check(L.Conv2DTranspose{16, 3, strides = 2, padding = "same"}, {7, 7, 32}, {14, 14, 16},
        3 * 3 * 16 * 32 + 16)
  check(L.Conv1DTranspose{4, 3, strides = 2, output_padding = 1, padding = "same"}, {5, 2},
        {10, 4}, 3 * 4 * 2 + 4)
  check(L.DepthwiseConv2D{3, depth_multiplier = 2}, {9, 9, 5}, {7, 7, 10}, 3 * 3 * 5 * 2 + 10)
  check(L.SeparableConv2D{12, 3, padding = "same"}, {9, 9, 5}, {9, 9, 12}, 45 + 5 * 12 + 12)
  check(L.MaxPooling2D{3, strides = 2, padding = "same"}, {15, 15, 4}, {8, 8, 4}, 0)
  check(L.AveragePooling1D{2}, {9, 4}, {4, 4}, 0)
  check(L.GlobalAveragePooling2D{}, {5, 5, 7}, {7}, 0)
  check(L.GlobalMaxPooling2D{keepdims = true, data_format = "channels_first"}, {7, 5, 5},
        {7, 1, 1}, 0)
  check(L.ZeroPadding2D{{{1, 2}, {3, 4}}}, {5, 5, 2}, {8, 12, 2}, 0)
  check(L.Cropping2D{cropping = {1, 2}}, {8, 8, 2}, {6, 4, 2}, 0)
  check(L.UpSampling2D{{2, 3}}, {4, 5, 2}, {8, 15, 2}, 0)
  check(L.UpSampling1D{3}, {4, 2}, {12, 2}, 0)
  check(L.SpatialDropout2D{0.2}, {4, 5, 2}, {4, 5, 2}, 0)
  check(L.Reshape{{28, 28, 1}}, {28, 28}, {28, 28, 1}, 0)
  check(L.Reshape{{-1, 7}}, {28, 4}, {16, 7}, 0)
  check(L.BatchNormalization{}, {7, 7, 32}, {7, 7, 32}, 4 * 32)
  check(L.BatchNormalization{axis = 1}, {32, 7, 7}, {32, 7, 7}, 4 * 32)
  check(L.LayerNormalization{}, {10, 16}, {10, 16}, 2 * 16)
  check(L.LayerNormalization{axis = {1, 2, 3}}, {4, 5, 6}, {4, 5, 6}, 2 * 120)
end)

-- ---- configs -------------------------------------------------------------------------------

test("configs: tuples as lists of integers, padding in lower case", function()
  local c = L.Conv2D{8, 3, padding = "SAME", strides = 2}:get_config()
  eq(c.padding, "same")
  eq(math.type(c.kernel_size[1]), "integer", "kernel_size holds integers")
  eq(table.concat(c.kernel_size, ","), "3,3")
  eq(table.concat(c.strides, ","), "2,2")
  eq(table.concat(c.dilation_rate, ","), "1,1")
  eq(c.data_format, "channels_last")
  eq(c.groups, 1)
  local z = L.ZeroPadding2D{2}:get_config()
  eq(#z.padding, 2, "two pairs")
  eq(table.concat(z.padding[1], ","), "2,2")
  eq(table.concat(L.MaxPooling2D{3}:get_config().strides, ","), "3,3", "strides = pool_size")
  eq(L.UpSampling2D{interpolation = "Bilinear"}:get_config().interpolation, "bilinear")
end)

test("a CNN saved and loaded predicts the same (configs and Keras weight layouts)", function()
  ln.random.seed(5)
  local m = ln.Sequential{
    L.Reshape{{12, 10, 1}, input_shape = {12, 10}},
    L.ZeroPadding2D{{{1, 0}, {2, 1}}},
    L.Conv2D{6, {3, 2}, activation = "relu", groups = 1},
    L.DepthwiseConv2D{3, depth_multiplier = 2, padding = "same"},
    L.SeparableConv2D{5, 3, activation = "tanh"},
    L.Conv2DTranspose{4, 3, strides = 2, padding = "same"},
    L.Cropping2D{{{1, 1}, {0, 2}}},
    L.AveragePooling2D{2, padding = "same"},
    L.UpSampling2D{2},
    L.MaxPooling2D{3, strides = 2},
    L.GlobalAveragePooling2D{},
    L.Dense{3, activation = "softmax"},
  }
  local dir = T.mktempdir("lunet_conv_")
  m:save(dir .. "/m.h5")
  local m2 = ln.models.load_model(dir .. "/m.h5")
  eq(#m2.layers, #m.layers)
  eq(table.concat(m2.layers[4].depthwise_kernel.shape, ","), "3,3,6,2")
  eq(table.concat(m2.layers[6].kernel.shape, ","), "3,3,4,5", "Conv2DTranspose (kh, kw, out, in)")
  local x = ln.rand({4, 12, 10})
  assert(m:predict(x):equal(m2:predict(x)), "predictions differ after loading")
  os.execute("rm -rf '" .. dir .. "'")
end)

-- ---- errors ---------------------------------------------------------------------------------

test("impossible configurations fail when the model is built, naming layer and shapes", function()
  local err = raises(function()
    ln.Sequential{L.Conv2D{8, 5, input_shape = {4, 4, 1}, name = "first"}}
  end, {"first", "kernel 5x5", "(None, 4, 4, 1)"})
  has(err, "test_conv_layers.lua", "the error points at the user's line")
  raises(function() L.Conv2D{6, 3, groups = 4} end, {"'filters' (6)", "'groups' (4)"})
  raises(function() L.MaxPooling2D{2, strides = 0} end, {"'strides'", ">= 1"})
  raises(function()
    ln.Sequential{L.Conv2D{4, 3, groups = 2, input_shape = {8, 8, 3}}}
  end, {"input channels 3", "'groups' (2)"})
end)

test("a wrong input names the layer and both shapes", function()
  local m = ln.Sequential{L.Conv2D{4, 3, input_shape = {28, 28, 1}, name = "c1"}}
  raises(function() m:predict(ln.rand({2, 28, 28})) end, {"c1", "(None, 28, 28, 1)", "(2, 28, 28)"})
end)

-- ---- SpatialDropout -----------------------------------------------------------------------

test("SpatialDropout2D drops whole feature maps in training only", function()
  local d = L.SpatialDropout2D{0.5, seed = 3}
  local x = ln.ones({4, 5, 6, 8})
  local y = d(x, {training = true})
  local kept = 0
  for b = 1, 4 do
    for c = 1, 8 do
      local v = y[b][1][1][c]
      for h = 1, 5 do
        for w = 1, 6 do eq(y[b][h][w][c], v, "one value per feature map") end
      end
      assert(v == 0 or v == 2, "0 or 1 / (1 - rate): " .. v)
      if v > 0 then kept = kept + 1 end
    end
  end
  assert(kept > 4 and kept < 28, "about half kept: " .. kept)
  assert(d(x):equal(x), "inference is the identity")
end)

-- ---- LayerNormalization: what backward is asked for ---------------------------------------

test("LayerNormalization: dx alone and weight gradients alone are those of the full backward",
     function()
  ln.random.seed(5)
  for _, cfg in ipairs({{}, {center = false}, {scale = false}, {center = false, scale = false}}) do
    for _, f in ipairs({5, 16, 40}) do
      local l = L.LayerNormalization(cfg)
      l:build({f})
      for _, v in ipairs(l.variables) do v.value:copy_(ln.randn(table.unpack(v.shape))) end
      local x, dy = ln.randn(6, f), ln.randn(6, f)
      l:forward(x, {training = true})
      local dx = l:backward(dy, {need_dx = true, need_dw = true}):clone()
      local grads = {}
      for i, v in ipairs(l.variables) do grads[i] = v.grad:clone() end
      l:forward(x, {training = true})
      local what = string.format("%d features, center %s, scale %s", f,
                                 tostring(cfg.center ~= false), tostring(cfg.scale ~= false))
      assert(l:backward(dy, {need_dx = true, need_dw = false}):equal(dx), "dx alone: " .. what)
      for _, v in ipairs(l.variables) do v.grad:zero_() end
      l:forward(x, {training = true})
      l:backward(dy, {need_dx = false, need_dw = true})
      for i, v in ipairs(l.variables) do
        assert(v.grad:equal(grads[i]), v.name .. " alone: " .. what)
      end
    end
  end
end)

test("DepthwiseConv2D: kernel gradients over 504 pixels a tap (float chunks of 256) are the window sums",
     function()
  ln.random.seed(7)
  local n, h, w, c = 3, 14, 16, 70 -- a block of 64 channels in registers, then 6 one by one
  for _, kw in ipairs({3, 5}) do   -- a row of taps per task (kw <= 3), or a tap per task
    local l = L.DepthwiseConv2D{{3, kw}, use_bias = false}
    l:build({h, w, c})
    local oh, ow = h - 2, w - kw + 1
    local x, dy = ln.randn(n, h, w, c), ln.randn(n, oh, ow, c)
    l:forward(x, {training = true})
    l:backward(dy, {need_dx = false, need_dw = true})
    local g = l.variables[1].grad
    for th = 1, 3 do
      for tw = 1, kw do
        local want = (x:narrow(2, th, oh):narrow(3, tw, ow) * dy):reshape(n * oh * ow, c):sum(1):reshape(c)
        local got = g:narrow(1, th, 1):narrow(2, tw, 1):reshape(c)
        local err = (got - want):abs():max()
        assert(err <= 1e-5 * want:abs():max() + 1e-5,
               string.format("kernel %dx%d, tap (%d, %d): off by %g", 3, kw, th, tw, err))
      end
    end
  end
end)

-- ---- training: threads -------------------------------------------------------------------------

local function cnn()
  local m = ln.Sequential{
    L.Reshape{{28, 28, 1}, input_shape = {28, 28}},
    L.Conv2D{8, 5, activation = "relu", padding = "same"},
    L.MaxPooling2D{2},
    L.SpatialDropout2D{0.1},
    L.BatchNormalization{},
    L.DepthwiseConv2D{3, depth_multiplier = 2, activation = "relu"},
    L.LayerNormalization{axis = {1, 2, 3}},
    L.SeparableConv2D{12, 3, padding = "same", activation = "tanh"},
    L.AveragePooling2D{2, padding = "same"},
    L.Conv2DTranspose{6, 3, strides = 2, padding = "same", activation = "relu"},
    L.Conv2D{16, 3, strides = 2, data_format = "channels_first", activation = "softmax"},
    L.GlobalMaxPooling2D{},
    L.Dense{10, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy",
            optimizer = ln.optimizers.SGD{learning_rate = 0.05, momentum = 0.9},
            metrics = {"accuracy"}}
  return m
end

test("ln.testing.gradcheck passes convolutions, pooling and Reshape", function()
  ln.random.seed(5)
  local x3, x4 = ln.randn(2, 4, 3), ln.randn(2, 4, 4, 2)
  H.gradcheck_all{
    {L.Conv1D{2, 2}, x3}, {L.Reshape{{12}}, x3},
    {L.Conv2D{2, 3}, x4}, {L.DepthwiseConv2D{2}, x4}, {L.SeparableConv2D{2, 2}, x4},
    {L.Conv2DTranspose{2, 2}, x4}, {L.MaxPooling2D{}, x4}, {L.AveragePooling2D{}, x4},
  }
end)

test("a CNN trains to the same bits with 1 and 2 threads (serial, team, auto)", function()
  local X, Y = H.fashion(256)
  H.same_bits_for_threads{x = X, y = Y, seed = 11, model = cnn}
end)

T.summary("conv layer")
