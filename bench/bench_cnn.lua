--[[ bench/bench_cnn.lua -- the lunet side of the CNN benchmark: the same
workloads as bench/torch_cnn.py, written the way a user writes them
(Sequential, compile, fit / predict), one JSON line per workload.

  lunet bench/bench_cnn.lua [--threads N] [--workloads a,b] [--repeat R]
                            [--data DIR] [--samples N] [--clock wall|cpu]
                            [--algorithm auto|gemm]

Workloads:
  lenet_b32, lenet_b128   train the LeNet-5-style CNN of
                          scripts/07_lenet_fashion_mnist.lua (Conv 20 5x5 same
                          -> MaxPool -> Conv 50 5x5 -> MaxPool -> Dense 500 ->
                          Dense 10; Adam) for one epoch over the first 16,384
                          training images, batch 32 / 128
  cnn_b32, cnn_b128       train the chapter-14 CNN of
                          scripts/06_cnn_fashion_mnist.lua (Nadam) on the first
                          2,048 training images
  lenet_infer_b32/_b128   predict over the 10,000 test images
  cnn_infer_b32/_b128     predict over the first 2,048 test images
"lenet", "cnn", "infer" and "all" (the default) expand to groups.
--samples N caps every workload's image count at N (shorter runs on a busy
machine; torch_cnn.py takes the same option). --clock cpu times with the
process CPU clock (os.clock: all threads summed; for 1 thread on a busy
machine, as torch_cnn.py --clock cpu), wall (default) with ln.time.
--algorithm gemm gives every Conv2D algorithm = "gemm" (the im2col + GEMM
path alone, as before conv_c1.h) to compare with the default "auto". Every
timed repeat builds a fresh model; the best is reported. Images are the
Fashion-MNIST IDX files / 255 with a channel axis (N, 28, 28, 1).

Output lines, like torch_cnn.py's:
  {"workload": "cnn_b32", "threads": 2, "samples_per_s": 400.0, "seconds": 5.12,
   "samples": 2048, "batch": 32, "repeat": 3}
]]
local ln = require "lunet"

local sformat = string.format

local GROUPS = {
  lenet = {"lenet_b32", "lenet_b128"},
  cnn = {"cnn_b32", "cnn_b128"},
  infer = {"lenet_infer_b32", "lenet_infer_b128", "cnn_infer_b32", "cnn_infer_b128"},
}
GROUPS.all = {}
for _, g in ipairs({"lenet", "cnn", "infer"}) do
  for _, w in ipairs(GROUPS[g]) do GROUPS.all[#GROUPS.all + 1] = w end
end

local function parse_args(argv)
  local o = {threads = 1, workloads = "all", repeat_ = 3,
             data = "/usr/share/datasets/fashion-mnist", samples = 0, clock = "wall",
             algorithm = "auto"}
  for i = 1, #argv, 2 do
    local k, v = argv[i], argv[i + 1]
    if k == "--threads" then o.threads = math.tointeger(tonumber(v))
    elseif k == "--workloads" then o.workloads = v
    elseif k == "--repeat" then o.repeat_ = math.tointeger(tonumber(v))
    elseif k == "--data" then o.data = v
    elseif k == "--samples" then o.samples = math.tointeger(tonumber(v))
    elseif k == "--clock" then o.clock = v
    elseif k == "--algorithm" then o.algorithm = v
    else error("bench_cnn: unknown option " .. tostring(k), 0) end
  end
  if not o.threads or o.threads < 1 or not o.repeat_ or o.repeat_ < 1 then
    error("bench_cnn: --threads and --repeat must be >= 1", 0)
  end
  if o.clock ~= "wall" and o.clock ~= "cpu" then
    error("bench_cnn: --clock must be wall or cpu, got " .. tostring(o.clock), 0)
  end
  if o.algorithm ~= "auto" and o.algorithm ~= "gemm" then
    error("bench_cnn: --algorithm must be auto or gemm, got " .. tostring(o.algorithm), 0)
  end
  if not o.samples or o.samples < 0 then
    error("bench_cnn: --samples must be an integer >= 0 (0: the workload's count)", 0)
  end
  local list = {}
  for w in o.workloads:gmatch("[^,%s]+") do
    local g = GROUPS[w]
    if g then for _, x in ipairs(g) do list[#list + 1] = x end
    else
      local known = false
      for _, x in ipairs(GROUPS.all) do known = known or x == w end
      if not known then
        error(sformat("bench_cnn: unknown workload '%s' (known: %s)", w,
                      table.concat(GROUPS.all, ", ")), 0)
      end
      list[#list + 1] = w
    end
  end
  o.list = list
  return o
end

local ALG = "auto" -- --algorithm, for every Conv2D

local function lenet()
  local L = ln.layers
  return ln.Sequential{
    L.Conv2D{20, 5, padding = "same", activation = "relu", input_shape = {28, 28, 1},
             algorithm = ALG},
    L.MaxPooling2D{2},
    L.Conv2D{50, 5, activation = "relu", algorithm = ALG},
    L.MaxPooling2D{2},
    L.Flatten{},
    L.Dense{500, activation = "relu"},
    L.Dense{10, activation = "softmax"},
  }, ln.optimizers.Adam{learning_rate = 1e-3, epsilon = 1e-7}
end

local function cnn()
  local L = ln.layers
  local function conv(f, k, first)
    return L.Conv2D{f, k or 3, activation = "relu", padding = "same",
                    input_shape = first and {28, 28, 1} or nil, algorithm = ALG}
  end
  return ln.Sequential{
    conv(64, 7, true), L.MaxPooling2D{2},
    conv(128), conv(128), L.MaxPooling2D{2},
    conv(256), conv(256), L.MaxPooling2D{2},
    L.Flatten{},
    L.Dense{128, activation = "relu"}, L.Dropout{0.5},
    L.Dense{64, activation = "relu"}, L.Dropout{0.5},
    L.Dense{10, activation = "softmax"},
  }, ln.optimizers.Nadam{learning_rate = 1e-3, epsilon = 1e-7}
end

-- (images, labels) of a workload: n images from the training or test file.
local function data(dir, test, n)
  local pre = test and "t10k" or "train"
  local xs = ln.io.read_idx(dir .. "/" .. pre .. "-images-idx3-ubyte.gz")
  local ys = ln.io.read_idx(dir .. "/" .. pre .. "-labels-idx1-ubyte.gz")
  n = math.min(n, xs:size(1))
  local x = (xs:narrow(1, 1, n):float() / 255):reshape(n, 28, 28, 1)
  return x, ys:narrow(1, 1, n):int()
end

local function run(o, name)
  local is_lenet, infer = name:match("^lenet") ~= nil, name:match("infer") ~= nil
  local bs = math.tointeger(tonumber(name:match("_b(%d+)$")))
  local n = infer and (is_lenet and 10000 or 2048) or (is_lenet and 16384 or 2048)
  if o.samples > 0 then n = math.min(n, o.samples) end
  local x, y = data(o.data, infer, n)
  local best
  for _ = 1, o.repeat_ do
    collectgarbage()
    local model, opt = (is_lenet and lenet or cnn)()
    model:compile{loss = "sparse_categorical_crossentropy", optimizer = opt,
                  metrics = {"accuracy"}}
    local clock = o.clock == "cpu" and os.clock or ln.time
    local t0 = clock()
    if infer then model:predict(x, {batch_size = bs})
    else model:fit(x, y, {epochs = 1, batch_size = bs, verbose = 0}) end
    local dt = clock() - t0
    if not best or dt < best then best = dt end
  end
  return sformat('{"workload": "%s", "threads": %d, "samples_per_s": %.1f, "seconds": %.4f, ' ..
                 '"samples": %d, "batch": %d, "repeat": %d, "clock": "%s", "algorithm": "%s"}',
                 name, o.threads, n / best, best, n, bs, o.repeat_, o.clock, o.algorithm)
end

local o = parse_args(arg)
ALG = o.algorithm
ln.set_num_threads(o.threads)
ln.random.seed(42)
for _, w in ipairs(o.list) do
  print(run(o, w))
  io.stdout:flush()
end
