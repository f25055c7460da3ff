-- Convolutions of one input channel (plugins/layers/conv_c1.h) through the
-- Lua API: the direct kernels and the im2col + GEMM path agree (algorithm =
-- "direct" / "gemm" / "auto"), ln.testing.gradcheck passes them, training
-- a model whose first layer takes them gives the same bits for 1 and 2
-- threads, and misuse of `algorithm` is a clear error.
-- Run as `lunet test_conv_c1.lua` (cwd tests/lua).
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
    local layers = {}
    for i, alg in ipairs({"direct", "gemm", "auto"}) do
      local kw = {c[1], c[2], algorithm = alg}
      for k, v in pairs(c[3]) do kw[k] = v end
      layers[i] = L.Conv2D(kw)
      layers[i]:build(c[4])
      if i > 1 then layers[i]:set_weights(layers[1]:get_weights()) end
    end
    local x = ln.randn(3, table.unpack(c[4]))
    local ys, dxs, gs = {}, {}, {}
    local dy
    for i, l in ipairs(layers) do
      ys[i] = l:forward(x, {training = true}):clone()
      dy = dy or ln.randn(table.unpack(ys[i]:shape()))
      dxs[i] = l:backward(dy):clone()
      gs[i] = {l.trainable_variables[1].grad:clone(), l.trainable_variables[2].grad:clone()}
    end
    local what = string.format("%d filters %dx%d", c[1], c[2], c[2])
    for i = 2, 3 do
      assert(rel(ys[i], ys[1]) < 1e-5, what .. ": y differs")
      assert(rel(dxs[i], dxs[1]) < 1e-5, what .. ": dx differs")
      assert(rel(gs[i][1], gs[1][1]) < 1e-5, what .. ": kernel gradient differs")
      assert(rel(gs[i][2], gs[1][2]) < 1e-5, what .. ": bias gradient differs")
    end
  end
end)

test("ln.testing.gradcheck passes one-channel convolutions", function()
  ln.random.seed(5)
  for _, case in ipairs{
    {L.Conv2D{3, 3, padding = "same", algorithm = "direct"}, ln.randn(2, 5, 4, 1)},
    {L.Conv2D{5, {2, 3}, strides = {1, 2}, dilation_rate = {2, 1}}, ln.randn(2, 6, 7, 1)},
    {L.Conv1D{4, 3, padding = "causal", dilation_rate = 2}, ln.randn(2, 9, 1)},
  } do
    local r = ln.testing.gradcheck(case[1], case[2], {raise = false})
    if not (r.ok and r.checked > 20) then error(case[1].name .. ": " .. r.msg) end
  end
end)

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local X = (train.x:float() / 255):narrow(1, 1, 192):reshape(192, 28, 28, 1)
local Y = train.y:narrow(1, 1, 192)

local function fit(threads, mode)
  ln.set_num_threads(threads)
  ln.random.seed(3)
  local m = ln.Sequential{
    L.Conv2D{64, 7, padding = "same", activation = "relu", input_shape = {28, 28, 1}},
    L.MaxPooling2D{4},
    L.Conv2D{20, 5, activation = "relu"},
    L.Flatten{},
    L.Dense{10, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam"}
  m:_get_net():set_threading(mode)
  local h = m:fit(X, Y, {epochs = 2, batch_size = 32, verbose = 0})
  ln.set_num_threads(1)
  return m:get_weights(), h
end

test("training with a one-channel first layer: same bits for 1 and 2 threads", function()
  local w1, h1 = fit(1, "auto")
  for _, mode in ipairs({"serial", "team", "auto"}) do
    local w2, h2 = fit(2, mode)
    for i = 1, #w1 do assert(w1[i]:equal(w2[i]), mode .. ": weight " .. i .. " differs") end
    eq(h2.history.loss[2], h1.history.loss[2], mode .. ": loss")
  end
  assert(h1.history.loss[2] < h1.history.loss[1], "the loss goes down")
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
