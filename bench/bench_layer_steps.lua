--[[ bench/bench_layer_steps.lua -- one training step of single layers: the
forward (training mode) and the backward (input and weight gradients) of
each layer below, called through layer:forward / layer:backward on a fixed
input, the best of 5 loops of at least 50 ms each; then losses with their
gradient (loss:compute with gradient = true). PyTorch's side is
bench/torch_layer_steps.py (the same names and shapes, its layouts: NCHW,
NCL); bench/run_layer_steps.sh runs both and prints the ratios.

  lunet bench/bench_layer_steps.lua [THREADS]

Prints one line per layer: "lunet <name> <microseconds>". Shapes are batch
first, channels last; the names give them.
]]
local ln = require "lunet"
local threads = tonumber(arg and arg[1] or 1) or 1
ln.set_num_threads(threads)
ln.random.seed(1)
local L = ln.layers

-- The best time of one call of fn: loops of at least 50 ms, the best of 5.
local function best_of(fn)
  fn()
  local n, t0 = 1, ln.time()
  while ln.time() - t0 < 0.05 do fn(); n = n + 1 end
  local best = math.huge
  for _ = 1, 5 do
    local t1 = ln.time()
    for _ = 1, n do fn() end
    best = math.min(best, (ln.time() - t1) / n)
  end
  return best
end

local function report(name, seconds)
  print(string.format("lunet %s %.2f", name, seconds * 1e6))
  io.stdout:flush()
end

local function bench(name, layer, shape, x)
  x = x or ln.randn(table.unpack(shape))
  local sample = {}
  for i = 2, #shape do sample[#sample + 1] = shape[i] end
  layer:build(sample)
  local dy = ln.randn(table.unpack(layer:forward(x, {training = true}):size()))
  report(name, best_of(function()
    layer:forward(x, {training = true})
    layer:backward(dy, {need_dx = true, need_dw = true})
  end))
end

bench("dense_32x512_512", L.Dense{512}, {32, 512})
bench("layernorm_32x512", L.LayerNormalization{}, {32, 512})
bench("layernorm_256x512", L.LayerNormalization{}, {256, 512})
bench("batchnorm_32x512", L.BatchNormalization{}, {32, 512})
bench("batchnorm_32x14x14x64", L.BatchNormalization{}, {32, 14, 14, 64})
bench("dropout_32x512", L.Dropout{0.5}, {32, 512})
bench("alphadropout_32x512", L.AlphaDropout{0.1}, {32, 512})
bench("gaussnoise_32x512", L.GaussianNoise{0.1}, {32, 512})
bench("prelu_32x512", L.PReLU{}, {32, 512})
bench("relu_32x512", L.ReLU{}, {32, 512})
bench("leakyrelu_32x512", L.LeakyReLU{}, {32, 512})
bench("elu_32x512", L.ELU{}, {32, 512})
bench("tanh_32x512", L.Activation{"tanh"}, {32, 512})
bench("sigmoid_32x512", L.Activation{"sigmoid"}, {32, 512})
bench("gelu_32x512", L.Activation{"gelu"}, {32, 512})
bench("swish_32x512", L.Activation{"swish"}, {32, 512})
bench("softplus_32x512", L.Activation{"softplus"}, {32, 512})
bench("softmax_32x1000", L.Softmax{}, {32, 1000})
bench("permute_32x50x64", L.Permute{{2, 1}}, {32, 50, 64})
bench("embedding_32x50_10k_64", L.Embedding{10000, 64}, {32, 50}, (ln.rand(32, 50) * 9999):floor())
bench("timedist_dense_32x50x64_64", L.TimeDistributed{L.Dense{64}}, {32, 50, 64})
bench("conv1d_32x100x64_k3_64", L.Conv1D{64, 3, padding = "same"}, {32, 100, 64})
bench("maxpool1d_32x100x64", L.MaxPooling1D{2}, {32, 100, 64})
bench("gmp1d_32x100x64", L.GlobalMaxPooling1D{}, {32, 100, 64})
bench("conv2d_32x28x28x32_k3_32", L.Conv2D{32, 3, padding = "same"}, {32, 28, 28, 32})
bench("dwconv_32x14x14x64_k3", L.DepthwiseConv2D{3, padding = "same"}, {32, 14, 14, 64})
bench("sepconv_32x14x14x64_k3_64", L.SeparableConv2D{64, 3, padding = "same"}, {32, 14, 14, 64})
bench("convT_32x14x14x32_k3_s2_32", L.Conv2DTranspose{32, 3, strides = 2, padding = "same"},
      {32, 14, 14, 32})
bench("maxpool2d_32x28x28x32", L.MaxPooling2D{2}, {32, 28, 28, 32})
bench("avgpool2d_32x28x28x32", L.AveragePooling2D{2}, {32, 28, 28, 32})
bench("gap2d_32x14x14x64", L.GlobalAveragePooling2D{}, {32, 14, 14, 64})
bench("upsample2d_32x14x14x32", L.UpSampling2D{2}, {32, 14, 14, 32})
bench("zeropad2d_32x28x28x32", L.ZeroPadding2D{1}, {32, 28, 28, 32})
bench("simplernn64_32x50x32", L.SimpleRNN{64}, {32, 50, 32})
bench("lstm64_32x50x32", L.LSTM{64}, {32, 50, 32})
bench("gru64_32x50x32", L.GRU{64}, {32, 50, 32})

-- losses: value and gradient of a batch of predictions
local function bench_loss(name, loss, pred, target, opts)
  report(name, best_of(function() loss:compute(pred, target, opts) end))
end

local LS = ln.losses
for _, s in ipairs({{32, 10}, {256, 1000}}) do
  local tag = s[1] .. "x" .. s[2]
  local z = ln.randn(s[1], s[2])
  local labels = (ln.rand(s[1]) * (s[2] - 1)):floor():int()
  local onehot = ln.zeros(s[1], s[2])
  for i = 1, s[1] do onehot[i][labels[i] + 1] = 1 end
  local bits = ln.rand(s[1], s[2]):gt(0.5):float()
  local g = {gradient = true}
  bench_loss("loss_scce_logits_" .. tag, LS.SparseCategoricalCrossentropy{from_logits = true}, z, labels, g)
  bench_loss("loss_cce_logits_" .. tag, LS.CategoricalCrossentropy{from_logits = true}, z, onehot, g)
  bench_loss("loss_bce_logits_" .. tag, LS.BinaryCrossentropy{from_logits = true}, z, bits, g)
  bench_loss("loss_bce_probs_" .. tag, LS.BinaryCrossentropy{}, z:sigmoid(), bits, g)
  bench_loss("loss_mse_" .. tag, LS.MeanSquaredError{}, z, bits, g)
end
