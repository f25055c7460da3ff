-- Convolutions of one input channel (plugins/layers/conv_c1.h) through the
-- Lua API: the direct kernels and the im2col + GEMM path agree (algorithm =
-- "direct" / "gemm" / "auto"), ln.testing.gradcheck passes them, training
-- a model whose first layer takes them gives the same bits for 1 and 2
-- threads, and misuse of `algorithm` is a clear error.
-- Run as `lunet test_conv_c1.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local H = dofile(here .. "/conv_harness.lua")
local ln = require "lunet"
local L = ln.layers
local test, eq = T.test, T.eq

-- {filters, kernel, extra keywords, input sample shape}
local CASES = {
  {20, 5, {padding = "same", activation = "relu"}, {28, 28, 1}},
  {64, 7, {padding = "same"}, {28, 28, 1}},
  {8, 3, {strides = 2}, {13, 11, 1}},
  {99, 3, {dilation_rate = {2, 1}, padding = "same"}, {9, 10, 1}},
  {130, 3, {}, {8, 9, 1}},
  {12, 3, {data_format = "channels_first", activation = "tanh"}, {1, 9, 12}},
  {16, 3, {}, {12, 210, 1}}, -- several gradient chunks a sample
}

test("direct, gemm and auto agree (y, dx, kernel and bias gradients)", function()
  ln.random.seed(7)
  for _, c in ipairs(CASES) do
    local kw = {c[1], c[2]}
    for k, v in pairs(c[3]) do kw[k] = v end
    H.algorithms_agree(kw, c[4], 3, {"direct", "gemm", "auto"})
  end
end)

test("ln.testing.gradcheck passes one-channel convolutions", function()
  ln.random.seed(5)
  H.gradcheck_all{
    {L.Conv2D{3, 3, padding = "same", algorithm = "direct"}, ln.randn(2, 5, 4, 1)},
    {L.Conv2D{5, {2, 3}, strides = {1, 2}, dilation_rate = {2, 1}}, ln.randn(2, 6, 7, 1)},
    {L.Conv1D{4, 3, padding = "causal", dilation_rate = 2}, ln.randn(2, 9, 1)},
  }
end)

test("training with a one-channel first layer: same bits for 1 and 2 threads", function()
  local X, Y = H.fashion(192, {28, 28, 1})
  H.same_bits_for_threads{x = X, y = Y, seed = 3, model = function()
    local m = ln.Sequential{
      L.Conv2D{64, 7, padding = "same", activation = "relu", input_shape = {28, 28, 1}},
      L.MaxPooling2D{4},
      L.Conv2D{20, 5, activation = "relu"},
      L.Flatten{},
      L.Dense{10, activation = "softmax"},
    }
    m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam"}
    return m
  end}
end)

test("'algorithm': bad values and impossible uses are clear errors", function()
  local ok, err = pcall(function() L.Conv2D{4, 3, algorithm = "fast"} end)
  assert(not ok and tostring(err):find('"fast"', 1, true), tostring(err))
  ok, err = pcall(function()
    ln.Sequential{L.Conv2D{4, 3, algorithm = "direct", input_shape = {8, 8, 3}}}
  end)
  assert(not ok and tostring(err):find("one input channel, got 3", 1, true), tostring(err))
  ok, err = pcall(function() L.Conv2DTranspose{4, 3, algorithm = "direct"} end)
  assert(not ok and tostring(err):find("transposed", 1, true), tostring(err))
  local cfg = L.Conv2D{4, 3, algorithm = "gemm"}:get_config()
  eq(cfg.algorithm, "gemm", "config")
  eq(L.Conv2D{4, 3}:get_config().algorithm, nil, "config without it")
end)

T.summary("one-channel convolution")
