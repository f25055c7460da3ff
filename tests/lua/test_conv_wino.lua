-- Winograd F(2x2, 3x3) convolutions (plugins/layers/conv_wino.h) through
-- the Lua API: "winograd", "gemm" and "auto" agree on y, dx and both
-- weight gradients (the chapter-14 CNN's shapes, odd maps, "valid",
-- channels_first, batch 1), ln.testing.gradcheck passes them, training a
-- CNN whose 3x3 layers take them gives the same bits for 1 and 2 threads,
-- and asking for Winograd where it does not apply is a clear error.
-- Run as `lunet test_conv_wino.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local L = ln.layers
local test, eq = T.test, T.eq

local function rel(a, b)
  local d = (a - b):abs():max()
  local m = b:abs():max()
  d = type(d) == "number" and d or d:item()
  m = type(m) == "number" and m or m:item()
  return d / (m > 0 and m or 1)
end

-- {filters, extra keywords, input sample shape, batch}
local CASES = {
  {128, {padding = "same", activation = "relu"}, {14, 14, 64}, 3},
  {256, {padding = "same", activation = "relu"}, {7, 7, 128}, 2},
  {32, {}, {5, 6, 48}, 3},                                     -- valid, odd map
  {48, {padding = "same", activation = "tanh"}, {9, 4, 32}, 1}, -- kept z, batch 1
  {32, {padding = "same"}, {1, 1, 32}, 2},                     -- one pixel
  {32, {data_format = "channels_first", activation = "relu"}, {32, 6, 7}, 2},
  {64, {padding = "same", use_bias = false}, {3, 10, 32}, 2},
}

test("winograd, gemm and auto agree (y, dx, kernel and bias gradients)", function()
  ln.random.seed(7)
  for _, c in ipairs(CASES) do
    local layers = {}
    for i, alg in ipairs({"gemm", "winograd", "auto"}) do
      local kw = {c[1], 3, algorithm = alg}
      for k, v in pairs(c[2]) do kw[k] = v end
      layers[i] = L.Conv2D(kw)
      layers[i]:build(c[3])
      if i > 1 then layers[i]:set_weights(layers[1]:get_weights()) end
    end
    local x = ln.randn(c[4], table.unpack(c[3]))
    local ys, dxs, gs = {}, {}, {}
    local dy
    for i, l in ipairs(layers) do
      ys[i] = l:forward(x, {training = true}):clone()
      dy = dy or ln.randn(table.unpack(ys[i]:shape()))
      dxs[i] = l:backward(dy):clone()
      gs[i] = {}
      for k, v in ipairs(l.trainable_variables) do gs[i][k] = v.grad:clone() end
    end
    local what = string.format("%d filters on (%s)", c[1], table.concat(c[3], ", "))
    for i = 2, 3 do
      assert(rel(ys[i], ys[1]) < 1e-5, what .. ": y differs " .. rel(ys[i], ys[1]))
      assert(rel(dxs[i], dxs[1]) < 1e-5, what .. ": dx differs " .. rel(dxs[i], dxs[1]))
      for k = 1, #gs[1] do
        assert(rel(gs[i][k], gs[1][k]) < 1e-5,
               what .. ": gradient of weight " .. k .. " differs " .. rel(gs[i][k], gs[1][k]))
      end
    end
    -- a second call on the same layer reuses its buffers and gives the same bits
    local y2 = layers[2]:forward(x, {training = true})
    assert(y2:equal(ys[2]), what .. ": a second forward differs")
    assert(layers[2]:backward(dy):equal(dxs[2]), what .. ": a second backward differs")
  end
end)

test("ln.testing.gradcheck passes Winograd convolutions", function()
  ln.random.seed(5)
  for _, case in ipairs{
    {L.Conv2D{32, 3, padding = "same", algorithm = "winograd"}, ln.randn(2, 3, 4, 32)},
    {L.Conv2D{32, 3, algorithm = "winograd", activation = "tanh"}, ln.randn(1, 5, 4, 32)},
  } do
    local r = ln.testing.gradcheck(case[1], case[2], {raise = false})
    if not (r.ok and r.checked > 20) then error(case[1].name .. ": " .. r.msg) end
  end
end)

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local X = (train.x:float() / 255):narrow(1, 1, 96):reshape(96, 28, 28, 1)
local Y = train.y:narrow(1, 1, 96)

local function fit(threads, mode)
  ln.set_num_threads(threads)
  ln.random.seed(3)
  local m = ln.Sequential{
    L.Conv2D{32, 3, padding = "same", activation = "relu", input_shape = {28, 28, 1}},
    L.MaxPooling2D{2},
    L.Conv2D{64, 3, padding = "same", activation = "relu"},
    L.Conv2D{64, 3, padding = "same", activation = "relu"},
    L.MaxPooling2D{2},
    L.Conv2D{32, 3, activation = "relu"},
    L.Flatten{},
    L.Dense{10, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "nadam"}
  m:_get_net():set_threading(mode)
  local h = m:fit(X, Y, {epochs = 2, batch_size = 32, verbose = 0})
  local p = m:predict(X:narrow(1, 1, 40))
  ln.set_num_threads(1)
  return m:get_weights(), h, p
end

test("training with Winograd layers: same bits for 1 and 2 threads", function()
  local w1, h1, p1 = fit(1, "auto")
  for _, mode in ipairs({"serial", "team", "auto"}) do
    local w2, h2, p2 = fit(2, mode)
    for i = 1, #w1 do assert(w1[i]:equal(w2[i]), mode .. ": weight " .. i .. " differs") end
    eq(h2.history.loss[2], h1.history.loss[2], mode .. ": loss")
    assert(p1:equal(p2), mode .. ": predictions differ")
  end
  assert(h1.history.loss[2] < h1.history.loss[1], "the loss goes down")
end)

test("'algorithm' \"winograd\" where it does not apply is a clear error", function()
  for _, c in ipairs{
    {{16, 3, algorithm = "winograd"}, {8, 8, 32}, "multiples of 16 and at least 32"},
    {{32, 5, algorithm = "winograd"}, {8, 8, 32}, "kernel 5x5"},
    {{32, 3, strides = 2, algorithm = "winograd"}, {8, 8, 32}, "strides 1"},
    {{32, 3, algorithm = "winograd"}, {8, 8, 24}, "24 -> 32 channels"},
  } do
    local ok, err = pcall(function()
      c[1].input_shape = c[2]
      ln.Sequential{L.Conv2D(c[1])}
    end)
    assert(not ok and tostring(err):find(c[3], 1, true), tostring(err))
  end
  local ok, err = pcall(function() L.Conv2DTranspose{32, 3, algorithm = "winograd"} end)
  assert(not ok and tostring(err):find("transposed", 1, true), tostring(err))
  eq(L.Conv2D{32, 3, algorithm = "winograd"}:get_config().algorithm, "winograd", "config")
end)

T.summary("Winograd convolution")
