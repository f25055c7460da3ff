--[[ bench/exp1_l2_ratio.lua -- the cost of an l2(0.01) kernel regularizer on
experiment 1, in ONE process: the plain and the regularized model train one
epoch each on 12,800 images (batch 32), alternating, ROUNDS times; prints the
best epoch of each and their ratio. Alternating in one process keeps the
ratio meaningful on a loaded machine; any lunet binary runs it (before/after
comparisons). Also the best CPU seconds of each (os.clock).
  lunet bench/exp1_l2_ratio.lua [THREADS] [ROUNDS] [--optimizer NAME]
NAME: an optimizer as compile takes it ("rmsprop", "adagrad", "adam", ...,
with Keras's default learning rate); default SGD at 1e-3.
]]
local ln = require "lunet"
local pos, opt_name = {}, nil
do
  local i = 1
  while arg[i] do
    if arg[i] == "--optimizer" then
      opt_name = arg[i + 1]
      if not opt_name then error("--optimizer needs a name (rmsprop, adagrad, ...)") end
      i = i + 2
    else
      pos[#pos + 1] = arg[i]
      i = i + 1
    end
  end
end
local threads = tonumber(pos[1]) or 1
ln.set_num_threads(threads)
local train = ln.datasets.fashion_mnist.load_data(os.getenv("DATA") or "/usr/share/datasets/fashion-mnist")
local n = 12800
local x = (train.x:narrow(1, 1, n):float() / 255)
local y = train.y:narrow(1, 1, n):int()
local L = ln.layers
local function model(reg)
  ln.random.seed(1)
  local m = ln.Sequential{L.Flatten{input_shape = {28, 28}},
    L.Dense{300, kernel_initializer = "he_normal", kernel_regularizer = reg}, L.LeakyReLU{alpha = 0.3},
    L.Dense{100, kernel_initializer = "he_normal", kernel_regularizer = reg}, L.LeakyReLU{alpha = 0.3},
    L.Dense{10, activation = "softmax", kernel_regularizer = reg}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = opt_name or ln.optimizers.SGD{learning_rate = 1e-3}, metrics = {"accuracy"}}
  return m
end
local ms = {plain = model(nil), l2 = model(ln.regularizers.l2(0.01))}
local best, cpu = {}, {}
for r = 1, tonumber(pos[2]) or 8 do
  for _, k in ipairs({"plain", "l2"}) do
    local t0, c0 = ln.time(), os.clock()
    ms[k]:fit(x, y, {epochs = 1, batch_size = 32, verbose = 0})
    local dt, dc = ln.time() - t0, os.clock() - c0
    best[k] = math.min(best[k] or 1e9, dt)
    cpu[k] = math.min(cpu[k] or 1e9, dc)
  end
end
-- cpu: the process's CPU seconds (all threads), steadier than the wall
-- clock on a loaded machine at 1 thread
print(string.format("%s threads %d plain %.3fs l2 %.3fs ratio %.3f | cpu plain %.3fs l2 %.3fs ratio %.3f | load %s",
  opt_name or "sgd", threads, best.plain, best.l2, best.l2 / best.plain, cpu.plain, cpu.l2, cpu.l2 / cpu.plain,
  io.open("/proc/loadavg"):read("l")))
