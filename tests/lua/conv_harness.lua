-- The checks the convolution tests share (test_conv_c1.lua,
-- test_conv_wino.lua, test_conv_layers.lua): kernel choices that must agree,
-- finite-difference gradient checks, and training that must give the same
-- bits for 1 and 2 threads. Loaded with dofile, like testlib.lua.
local ln = require "lunet"

local M = {}

M.TOL = 1e-5 -- relative to the largest magnitude of the reference

-- max |a - b| / max |b| (b all zeros: max |a - b|).
function M.rel(a, b)
  local d = (a - b):abs():max()
  local m = b:abs():max()
  d = type(d) == "number" and d or d:item()
  m = type(m) == "number" and m or m:item()
  return d / (m > 0 and m or 1)
end

-- One Conv2D{kw..., algorithm = a} per a in algorithms, built on the sample
-- shape `shape` with the first one's weights, run forward and backward on
-- the same batch of `batch` samples: y, dx and every weight gradient of the
-- others must be within M.TOL of the first's. Returns the layers, x, dy and
-- each layer's y and dx (for further checks).
function M.algorithms_agree(kw, shape, batch, algorithms)
  local layers = {}
  for i, alg in ipairs(algorithms) do
    local k = {algorithm = alg}
    for key, v in pairs(kw) do k[key] = v end
    layers[i] = ln.layers.Conv2D(k)
    layers[i]:build(shape)
    if i > 1 then layers[i]:set_weights(layers[1]:get_weights()) end
  end
  local x = ln.randn(batch, table.unpack(shape))
  local ys, dxs, gs = {}, {}, {}
  local dy
  for i, l in ipairs(layers) do
    ys[i] = l:forward(x, {training = true}):clone()
    dy = dy or ln.randn(table.unpack(ys[i]:shape()))
    dxs[i] = l:backward(dy):clone()
    gs[i] = {}
    for k, v in ipairs(l.trainable_variables) do gs[i][k] = v.grad:clone() end
  end
  local what = string.format("%d filters %s on (%s)", kw[1], tostring(kw[2]),
                             table.concat(shape, ", "))
  for i = 2, #layers do
    local w = what .. ", " .. algorithms[i] .. " against " .. algorithms[1]
    local r = M.rel(ys[i], ys[1])
    assert(r < M.TOL, w .. ": y differs " .. r)
    r = M.rel(dxs[i], dxs[1])
    assert(r < M.TOL, w .. ": dx differs " .. r)
    assert(#gs[i] == #gs[1], w .. ": weight count")
    for k = 1, #gs[1] do
      r = M.rel(gs[i][k], gs[1][k])
      assert(r < M.TOL, w .. ": gradient of weight " .. k .. " differs " .. r)
    end
  end
  return layers, x, dy, ys, dxs
end

-- ln.testing.gradcheck on each {layer, x}: it must pass and check more than
-- 20 entries.
function M.gradcheck_all(cases)
  for _, case in ipairs(cases) do
    local r = ln.testing.gradcheck(case[1], case[2], {raise = false})
    if not (r.ok and r.checked > 20) then
      error(case[1].name .. ": " .. tostring(r.msg) .. " (" .. tostring(r.checked) .. " checked)")
    end
  end
end

-- The first n Fashion-MNIST training images as floats in [0, 1] (shaped
-- {n, shape...} when shape is given) and their labels.
function M.fashion(n, shape)
  local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
  local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
  local x = (train.x:float() / 255):narrow(1, 1, n)
  if shape then x = x:reshape(n, table.unpack(shape)) end
  return x, train.y:narrow(1, 1, n)
end

-- Training gives the same bits for 1 and 2 threads: o.model() returns a
-- compiled model (called after ln.random.seed(o.seed)); it is fit for 2
-- epochs at batch 32 on o.x, o.y, on 1 thread ("auto") and on 2 threads
-- with each threading mode (serial, team, auto); the weights, both epochs'
-- losses and the predictions on the first 64 samples must be equal, and
-- the loss must go down.
function M.same_bits_for_threads(o)
  local function run(threads, mode)
    ln.set_num_threads(threads)
    ln.random.seed(o.seed)
    local m = o.model()
    m:_get_net():set_threading(mode)
    local h = m:fit(o.x, o.y, {epochs = 2, batch_size = 32, verbose = 0})
    local p = m:predict(o.x:narrow(1, 1, 64))
    ln.set_num_threads(1)
    return m:get_weights(), h, p
  end
  local w1, h1, p1 = run(1, "auto")
  for _, mode in ipairs({"serial", "team", "auto"}) do
    local w2, h2, p2 = run(2, mode)
    assert(#w2 == #w1, mode .. ": weight count")
    for i = 1, #w1 do assert(w1[i]:equal(w2[i]), mode .. ": weight " .. i .. " differs") end
    for e = 1, 2 do
      assert(h2.history.loss[e] == h1.history.loss[e],
             string.format("%s: loss of epoch %d: %.17g, 1 thread %.17g", mode, e,
                           h2.history.loss[e], h1.history.loss[e]))
    end
    assert(p1:equal(p2), mode .. ": predictions differ")
  end
  assert(h1.history.loss[2] < h1.history.loss[1], "the loss goes down")
end

return M
