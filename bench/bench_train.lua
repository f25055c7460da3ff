--[[ bench/bench_train.lua -- the lunet side of the training benchmark: the
same workloads as bench/torch_bench.py, written the way a user writes them
(Sequential, compile, fit / predict), one JSON line per workload.

  lunet bench/bench_train.lua [--threads N] [--workloads a,b] [--epochs E]
                              [--repeat R] [--data DIR] [--out FILE]

Each workload runs in its own child process (so that its peak RSS is its
own); every timed repeat builds a fresh model and optimizer, and the best
repeat is reported. Data: Fashion-MNIST read with ln.io.read_idx from the
IDX .gz files a workload needs (as torch_bench.py), /255 as float32 (read
as float32 and divided in place: one float copy in memory, as PyTorch's
in-place division, and no uint8 copy beside it);
validation = the first 5,000 training images, train = the last 55,000;
exp4a keeps the 8 classes other than 5 (sandal) and 6 (shirt), labels
mapped to 0..7. The "load" workload times ln.datasets' loader instead.

Workloads (as torch_bench.py):
  exp1          Flatten-300-LeakyReLU-100-LeakyReLU-10 (he_normal), SGD 1e-3, batch 32
  exp1_l2       exp1 with kernel_regularizer = l2(0.01) on the three Dense layers
                (lunet only: bench/run_variants.sh compares it with exp1)
  exp1_u8       exp1 fed the uint8 images, Rescaling{1/255} as its first layer
                (lunet only; no float copy of the data set)
  exp2          BN-Dense300 relu-BN-Dense100 relu-BN-Dense10, SGD 1e-3, batch 32
  exp4a         Dense 300,100,50,50,50 selu (lecun_normal) -> 8, SGD 1e-3, batch 32
  exp5_sgd      Dense 250 relu -> 10, batch 128, SGD 0.01
  exp5_rmsprop  ... RMSprop 1e-3 (rho 0.9, epsilon 1e-7)
  exp5_adagrad  ... Adagrad 1e-3 (initial_accumulator_value 0.1, epsilon 1e-7)
  exp5_adam     ... Adam 1e-3 (epsilon 1e-7)
  wide_deep     functional Wide & Deep: wide = 28 row + 28 column means, deep =
                the pixels -> Dense 100 relu -> Dense 100 relu, Add (residual),
                Concatenate(wide, .) -> Dense 10 softmax (main), aux Dense 10
                softmax on the residual; loss weights 0.9/0.1, SGD 1e-3, batch 32
  infer_b32     the exp1 model, predict over the 10,000 test images, batch 32
  infer_b1000   the same, batch 1000
  startup       wall time from spawning a fresh `lunet` to the end of its
                first training step (exp1 model, a random batch of 32), and
                its peak RSS
  load          ln.datasets.fashion_mnist.load_data(): the four .gz files
                inflated and parsed (seconds, best of the repeats)
Training uses the loss "sparse_categorical_crossentropy" and the metric
"accuracy" (as the seed's experiments do: a little more work than the
PyTorch loop, which computes no metric). "exp5" expands to the four exp5_*
workloads, "infer" to both inference ones, "all" (the default) to all.

Output lines look like torch_bench.py's:
  {"workload": "exp1", "threads": 2, "samples_per_s": 150000.0, "seconds": 0.36,
   "samples": 55000, "epochs": 1, "batch": 32, "repeat": 3, "peak_rss_mb": 300.1}
]]
local ln = require "lunet"

local sformat = string.format

local DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
local EXP5 = {"exp5_sgd", "exp5_rmsprop", "exp5_adagrad", "exp5_adam"}
local INFER = {"infer_b32", "infer_b1000"}
local ALL = {"startup", "load", "exp1", "exp2", "exp4a", "wide_deep", "exp1_l2", "exp1_u8"}
for _, w in ipairs(EXP5) do ALL[#ALL + 1] = w end
for _, w in ipairs(INFER) do ALL[#ALL + 1] = w end

local function is_infer(name) return name == "infer_b32" or name == "infer_b1000" end

-- ---- options ------------------------------------------------------------------------

local function parse_args(argv)
  local o = {threads = 1, workloads = "all", epochs = 1, repeat_ = 3, data = DEFAULT_DATA}
  local i = 1
  while i <= #argv do
    local k, v = argv[i], argv[i + 1]
    if k == "--threads" then o.threads = math.tointeger(tonumber(v))
    elseif k == "--workloads" then o.workloads = v
    elseif k == "--epochs" then o.epochs = math.tointeger(tonumber(v))
    elseif k == "--repeat" then o.repeat_ = math.tointeger(tonumber(v))
    elseif k == "--data" then o.data = v
    elseif k == "--out" then o.out = v
    elseif k == "--child" then o.child = v
    else error("bench_train: unknown option " .. tostring(k), 0) end
    i = i + 2
  end
  for _, k in ipairs({"threads", "epochs", "repeat_"}) do
    if not o[k] or o[k] < 1 then error("bench_train: --" .. k:gsub("_", "") .. " must be >= 1", 0) end
  end
  return o
end

local function expand(spec)
  local out = {}
  for w in spec:gmatch("[^,%s]+") do
    if w == "all" then for _, x in ipairs(ALL) do out[#out + 1] = x end
    elseif w == "exp5" then for _, x in ipairs(EXP5) do out[#out + 1] = x end
    elseif w == "infer" then for _, x in ipairs(INFER) do out[#out + 1] = x end
    else
      local known = false
      for _, x in ipairs(ALL) do known = known or x == w end
      if not known then
        error(sformat("bench_train: unknown workload '%s' (known: %s)", w, table.concat(ALL, ", ")), 0)
      end
      out[#out + 1] = w
    end
  end
  return out
end

-- ---- process facts --------------------------------------------------------------------

-- Peak resident set size of this process in MiB (Linux VmHWM), or nil.
local function peak_rss_mb()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local kb = tonumber(s:match("VmHWM:%s*(%d+)"))
  return kb and math.floor(kb / 1024 * 10 + 0.5) / 10 or nil
end

-- A JSON object from an ordered list of {key, value} (numbers and strings).
local function json(list)
  local parts = {}
  for _, kv in ipairs(list) do
    local v = kv[2]
    if type(v) == "string" then v = sformat("%q", v)
    elseif math.type(v) == "integer" then v = tostring(v)
    elseif type(v) == "number" then v = sformat("%.6g", v)
    else v = tostring(v) end
    parts[#parts + 1] = sformat("%q: %s", kv[1], v)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- ---- data ---------------------------------------------------------------------------------

-- uint8 images -> float32 / 255, block by block into one new tensor: the
-- same values as (u8:float() / 255) without two float copies alive at once
-- (PyTorch's side divides in place); peak memory is the data plus a block,
-- freed by <close> at each block's end rather than by the collector.
local function to_unit_float(u8)
  local shape = u8:shape()
  local out = ln.zeros(shape)
  local n, step = shape[1], 2048
  for s = 1, n, step do
    local c = math.min(step, n - s + 1)
    local block <close> = u8:narrow(1, s, c):float()
    out:narrow(1, s, c):copy(block:div_(255))
  end
  return out
end

-- x (float32, N x 28 x 28 in [0, 1]) and y (labels) for one workload: only
-- the files it needs, as torch_bench.py reads them. Where every image is
-- kept, the images are read as float32 (converted while inflating: the
-- uint8 copy and the float one never coexist) and divided in place;
-- experiment 4a picks its rows from the uint8 images first.
local function load_data(dir, name)
  local function file(f, dtype)
    return ln.io.read_idx(dir .. "/" .. f .. ".gz", dtype and {dtype = dtype} or nil)
  end
  if is_infer(name) then
    return file("t10k-images-idx3-ubyte", "float32"):div_(255), file("t10k-labels-idx1-ubyte")
  end
  local n_valid = 5000
  local ys = file("train-labels-idx1-ubyte")
  local n = ys:size(1) - n_valid
  local y = ys:narrow(1, n_valid + 1, n):int()
  if name ~= "exp4a" and name ~= "exp1_u8" then
    return file("train-images-idx3-ubyte", "float32"):narrow(1, n_valid + 1, n):div_(255), y
  end
  local xs = file("train-images-idx3-ubyte")
  local xu = xs:narrow(1, n_valid + 1, n)
  if name == "exp4a" then
    local keep = y:ne(5) & y:ne(6)
    xu, y = xu[keep], y[keep]
    y[y:gt(6)] = y[y:gt(6)] - 2
  end
  xs = nil
  if name == "exp1_u8" then return xu, y end
  local x = to_unit_float(xu)
  xu = nil
  collectgarbage()
  return x, y
end

-- ---- models -----------------------------------------------------------------------------

local function make_model(name)
  local L = ln.layers
  if name:match("^exp1") or is_infer(name) or name == "startup" then
    local reg = name == "exp1_l2" and ln.regularizers.l2(0.01) or nil
    local m = ln.Sequential{}
    if name == "exp1_u8" then m:add(L.Rescaling{1 / 255, input_shape = {28, 28}}) end
    m:add(name == "exp1_u8" and L.Flatten{} or L.Flatten{input_shape = {28, 28}})
    for _, l in ipairs{
      L.Dense{300, kernel_initializer = "he_normal", kernel_regularizer = reg}, L.LeakyReLU{alpha = 0.3},
      L.Dense{100, kernel_initializer = "he_normal", kernel_regularizer = reg}, L.LeakyReLU{alpha = 0.3},
      L.Dense{10, activation = "softmax", kernel_regularizer = reg}} do m:add(l) end
    return m
  elseif name == "exp2" then
    return ln.Sequential{
      L.Flatten{input_shape = {28, 28}}, L.BatchNormalization{},
      L.Dense{300, activation = "relu"}, L.BatchNormalization{},
      L.Dense{100, activation = "relu"}, L.BatchNormalization{},
      L.Dense{10, activation = "softmax"}}
  elseif name == "exp4a" then
    local m = ln.Sequential{L.Flatten{input_shape = {28, 28}}}
    for _, w in ipairs({300, 100, 50, 50, 50}) do
      m:add(L.Dense{w, activation = "selu", kernel_initializer = "lecun_normal"})
    end
    m:add(L.Dense{8, activation = "softmax"})
    return m
  elseif name == "wide_deep" then
    local wide = ln.Input{shape = {56}, name = "wide_input"}
    local deep = ln.Input{shape = {28, 28}, name = "deep_input"}
    local h1 = L.Dense{100, activation = "relu"}(L.Flatten{}(deep))
    local h2 = L.Dense{100, activation = "relu"}(h1)
    local r = L.Add{}({h1, h2})
    local main = L.Dense{10, activation = "softmax", name = "main_output"}(L.Concatenate{}({wide, r}))
    local aux = L.Dense{10, activation = "softmax", name = "aux_output"}(r)
    return ln.Model{inputs = {wide, deep}, outputs = {main, aux}}
  elseif name:match("^exp5") then
    return ln.Sequential{
      L.Flatten{input_shape = {28, 28}},
      L.Dense{250, activation = "relu"},
      L.Dense{10, activation = "softmax"}}
  end
  error("unknown workload " .. name, 0)
end

local function make_optimizer(name)
  local O = ln.optimizers
  if name == "exp5_sgd" then return O.SGD{learning_rate = 0.01} end
  if name == "exp5_rmsprop" then return O.RMSprop{learning_rate = 1e-3, rho = 0.9, epsilon = 1e-7} end
  if name == "exp5_adagrad" then
    return O.Adagrad{learning_rate = 1e-3, initial_accumulator_value = 0.1, epsilon = 1e-7}
  end
  if name == "exp5_adam" then return O.Adam{learning_rate = 1e-3, epsilon = 1e-7} end
  return O.SGD{learning_rate = 1e-3}
end

local function batch_size(name)
  if name:match("^exp5") then return 128 end
  if name == "infer_b1000" then return 1000 end
  return 32
end

local function compiled(name)
  local model = make_model(name)
  model:compile{loss = "sparse_categorical_crossentropy", optimizer = make_optimizer(name),
                metrics = {"accuracy"},
                loss_weights = name == "wide_deep" and {0.9, 0.1} or nil}
  return model
end

-- ---- children ---------------------------------------------------------------------------

-- The startup child: a first training step on random data, then its facts.
local function startup_child(o)
  ln.set_num_threads(o.threads)
  ln.random.seed(0)
  local model = compiled("startup")
  local x = ln.rand{32, 28, 28}
  local y = (ln.rand{32} * 10):floor():int()
  model:train_on_batch(x, y)
  io.stdout:write("STEP_DONE\n")
  io.stdout:flush()
  io.stdout:write(json({{"peak_rss_mb", peak_rss_mb()}}), "\n")
end

local function workload_child(o)
  local name = o.child
  ln.set_num_threads(o.threads)
  ln.random.seed(42)
  if name == "load" then
    local best
    for _ = 1, o.repeat_ do
      collectgarbage()
      local t0 = ln.time()
      local train, test = ln.datasets.fashion_mnist.load_data(o.data)
      local dt = ln.time() - t0
      assert(train.x:size(1) > 0 and test.x:size(1) > 0)
      if not best or dt < best then best = dt end
    end
    print(json({{"workload", name}, {"threads", o.threads}, {"seconds", best},
                {"repeat", o.repeat_}, {"peak_rss_mb", peak_rss_mb()}}))
    return
  end
  local x, y = load_data(o.data, name)
  if name == "wide_deep" then -- two inputs and two outputs
    x, y = {ln.cat({x:mean(3), x:mean(2)}, 2), x}, {y, y}
  end
  local bs = batch_size(name)
  local n = (ln.is_tensor(x) and x or x[1]):size(1)
  local best, samples, epochs, last_loss
  for _ = 1, o.repeat_ do
    collectgarbage()
    local model = compiled(name)
    local dt
    if is_infer(name) then
      local t0 = ln.time()
      model:predict(x, {batch_size = bs})
      dt = ln.time() - t0
      samples, epochs = n, 1
    else
      local t0 = ln.time()
      local h = model:fit(x, y, {epochs = o.epochs, batch_size = bs, verbose = 0})
      dt = ln.time() - t0
      samples, epochs = n * o.epochs, o.epochs
      local l = h.history.loss
      last_loss = l[#l]
    end
    if not best or dt < best then best = dt end
  end
  local rec = {{"workload", name}, {"threads", o.threads},
               {"samples_per_s", samples / best}, {"seconds", best},
               {"samples", samples}, {"epochs", epochs}, {"batch", bs},
               {"repeat", o.repeat_}, {"peak_rss_mb", peak_rss_mb()}}
  if last_loss then rec[#rec + 1] = {"last_loss", last_loss} end
  rec[#rec + 1] = {"omp_wait_policy", os.getenv("OMP_WAIT_POLICY") or ""}
  print(json(rec))
end

-- ---- the parent --------------------------------------------------------------------------

-- POSIX shell quoting.
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The interpreter running this script (lunet) and the script's path.
local function self_cmd()
  local exe = arg and arg[-1] or "lunet"
  local script = arg and arg[0] or "bench/bench_train.lua"
  return q(exe) .. " " .. q(script)
end

-- Spawn a fresh interpreter; time from spawn to its first finished step.
local function run_startup(o)
  local cmd = "exec " .. self_cmd() .. " --child startup --threads " .. o.threads
  local best, rss
  for _ = 1, o.repeat_ do
    local t0 = ln.time()
    local p = assert(io.popen(cmd, "r"))
    local line = p:read("l")
    local dt = ln.time() - t0
    local rest = p:read("a")
    local ok = p:close()
    if not ok or line ~= "STEP_DONE" then error("bench_train: the startup child failed", 0) end
    if not best or dt < best then
      best, rss = dt, tonumber(rest:match('"peak_rss_mb": ([%d.]+)'))
    end
  end
  return json({{"workload", "startup"}, {"threads", o.threads}, {"seconds", best},
               {"repeat", o.repeat_}, {"peak_rss_mb", rss}})
end

local function main(argv)
  local o = parse_args(argv)
  if o.child == "startup" then return startup_child(o) end
  if o.child then return workload_child(o) end
  local out = o.out and assert(io.open(o.out, "a"))
  for _, w in ipairs(expand(o.workloads)) do
    local line
    if w == "startup" then
      line = run_startup(o)
    else
      local cmd = sformat("exec %s --child %s --threads %d --epochs %d --repeat %d --data %s",
                          self_cmd(), w, o.threads, o.epochs, o.repeat_, q(o.data))
      local p = assert(io.popen(cmd, "r"))
      local text = p:read("a")
      local ok = p:close()
      if not ok then error(sformat("bench_train: workload %s failed", w), 0) end
      for l in text:gmatch("[^\n]+") do line = l end
    end
    print(line)
    io.stdout:flush()
    if out then out:write(line, "\n"); out:flush() end
  end
  if out then out:close() end
end

main(arg or {})
