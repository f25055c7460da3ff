-- Winograd F(2x2, 3x3) convolutions (plugins/layers/conv_wino.h) through
-- the Lua API: "winograd", "gemm" and "auto" agree on y, dx and both
-- weight gradients (the chapter-14 CNN's shapes, odd maps, "valid",
-- channels_first, batch 1), ln.testing.gradcheck passes them, training a
-- CNN whose 3x3 layers take them gives the same bits for 1 and 2 threads,
-- and asking for Winograd where it does not apply is a clear error.
-- Run as `lunet test_conv_wino.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local H = dofile(here .. "/conv_harness.lua")
local ln = require "lunet"
local L = ln.layers
local test, eq = T.test, T.eq

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
    local kw = {c[1], 3}
    for k, v in pairs(c[2]) do kw[k] = v end
    local layers, x, dy, ys, dxs = H.algorithms_agree(kw, c[3], c[4], {"gemm", "winograd", "auto"})
    -- a second call on the same layer reuses its buffers and gives the same bits
    local what = string.format("%d filters on (%s)", c[1], table.concat(c[3], ", "))
    local y2 = layers[2]:forward(x, {training = true})
    assert(y2:equal(ys[2]), what .. ": a second forward differs")
    assert(layers[2]:backward(dy):equal(dxs[2]), what .. ": a second backward differs")
  end
end)

test("ln.testing.gradcheck passes Winograd convolutions", function()
  ln.random.seed(5)
  H.gradcheck_all{
    {L.Conv2D{32, 3, padding = "same", algorithm = "winograd"}, ln.randn(2, 3, 4, 32)},
    {L.Conv2D{32, 3, algorithm = "winograd", activation = "tanh"}, ln.randn(1, 5, 4, 32)},
  }
end)

test("training with Winograd layers: same bits for 1 and 2 threads", function()
  local X, Y = H.fashion(96, {28, 28, 1})
  H.same_bits_for_threads{x = X, y = Y, seed = 3, model = function()
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
    return m
  end}
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
