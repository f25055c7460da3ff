--[[ bench/bench_threads.lua -- a training workload at 1 and 2 threads, A/B
in ONE process: round after round, the same model trains one epoch over the
same random data with each configuration in turn (1 thread; 2 threads in
the net's automatic mode; 2 threads forced serial; 2 threads forced onto
the team), so a busy machine slows every configuration alike. Prints
samples/s per round, the best and median per configuration and the median
ratio to 1 thread. Timings only mean something against each other (and the
load average, printed); never a test. Run it with OMP_WAIT_POLICY=passive,
as bench/run_bench.sh runs lunet.

  lunet bench/bench_threads.lua [--model exp2] [--rounds R] [--rows N]
                                [--batch B] [--configs 1,auto,serial,team]
                                [--optimizer sgd|rmsprop|adagrad|adam]

Models (as bench/bench_train.lua's workloads of the same name):
  exp1   Flatten-Dense300-LeakyReLU-Dense100-LeakyReLU-Dense10 softmax, SGD 1e-3
  exp1_l2  exp1 with kernel_regularizer = l2(0.01) on the three Dense layers
  exp2   Flatten-BN-Dense300 relu-BN-Dense100 relu-BN-Dense10 softmax, SGD 1e-3
         (the default: the BatchNormalization step of issue 21)
  exp4a  Dense 300,100,50,50,50 selu -> Dense 8 softmax, SGD 1e-3
  exp5   Dense 250 relu -> Dense 10 softmax, SGD 1e-2 (use --batch 128)
  bn     Flatten-BN-Dense10 softmax (the BN(784) passes and little else)
  wide_deep  functional Wide & Deep (bench_train.lua's): 28 row + 28 column
         means and the pixels -> Dense 100 relu -> Dense 100 relu, Add,
         Concatenate -> Dense 10 softmax, aux Dense 10 softmax; loss weights
         0.9 / 0.1
]]
local ln = require "lunet"

local o = {rounds = 5, rows = 16384, batch = 32, configs = "1,auto,serial,team", model = "exp2",
           optimizer = "sgd"}
local i = 1
while i <= #arg do
  local k, v = arg[i], arg[i + 1]
  local key = k:match("^%-%-(%a+)$")
  if not key or o[key] == nil or v == nil then
    error("bench_threads: unknown option or missing value: " .. tostring(k), 0)
  end
  if type(o[key]) == "number" then
    local n = math.tointeger(tonumber(v))
    if not n or n < 1 then error("bench_threads: --" .. key .. " needs a positive integer", 0) end
    o[key] = n
  else
    o[key] = v
  end
  i = i + 2
end

local L = ln.layers
local function model()
  if o.model == "exp2" then
    return ln.Sequential{
      L.Flatten{input_shape = {28, 28}}, L.BatchNormalization{},
      L.Dense{300, activation = "relu"}, L.BatchNormalization{},
      L.Dense{100, activation = "relu"}, L.BatchNormalization{},
      L.Dense{10, activation = "softmax"}}
  elseif o.model == "bn" then
    return ln.Sequential{L.Flatten{input_shape = {28, 28}}, L.BatchNormalization{},
                         L.Dense{10, activation = "softmax"}}
  elseif o.model == "exp1" or o.model == "exp1_l2" then
    local reg = o.model == "exp1_l2" and ln.regularizers.l2(0.01) or nil
    return ln.Sequential{L.Flatten{input_shape = {28, 28}},
      L.Dense{300, kernel_initializer = "he_normal", kernel_regularizer = reg},
      L.LeakyReLU{alpha = 0.3},
      L.Dense{100, kernel_initializer = "he_normal", kernel_regularizer = reg},
      L.LeakyReLU{alpha = 0.3},
      L.Dense{10, activation = "softmax", kernel_regularizer = reg}}
  elseif o.model == "exp4a" then
    local m = ln.Sequential{L.Flatten{input_shape = {28, 28}}}
    for _, w in ipairs({300, 100, 50, 50, 50}) do
      m:add(L.Dense{w, activation = "selu", kernel_initializer = "lecun_normal"})
    end
    m:add(L.Dense{8, activation = "softmax"})
    return m
  elseif o.model == "exp5" then
    return ln.Sequential{L.Flatten{input_shape = {28, 28}}, L.Dense{250, activation = "relu"},
                         L.Dense{10, activation = "softmax"}}
  elseif o.model == "wide_deep" then
    local wide = ln.Input{shape = {56}, name = "wide_input"}
    local deep = ln.Input{shape = {28, 28}, name = "deep_input"}
    local h1 = L.Dense{100, activation = "relu"}(L.Flatten{}(deep))
    local h2 = L.Dense{100, activation = "relu"}(h1)
    local r = L.Add{}({h1, h2})
    local main = L.Dense{10, activation = "softmax"}(L.Concatenate{}({wide, r}))
    local aux = L.Dense{10, activation = "softmax"}(r)
    return ln.Model{inputs = {wide, deep}, outputs = {main, aux}}
  end
  error("bench_threads: --model is exp1, exp1_l2, exp2, exp4a, exp5, bn or wide_deep", 0)
end

model() -- an unknown --model fails here, before any timing
local configs = {}
for c in o.configs:gmatch("[^,]+") do
  if c ~= "1" and c ~= "auto" and c ~= "serial" and c ~= "team" then
    error("bench_threads: a config is 1, auto, serial or team, got " .. c, 0)
  end
  configs[#configs + 1] = c
end

local function load1()
  local f = io.open("/proc/loadavg")
  local s = f and f:read("l") or "?"
  if f then f:close() end
  return s:match("^(%S+)") or "?"
end

ln.random.seed(1)
local x = ln.rand({o.rows, 28, 28})
local y = (ln.rand({o.rows}) * (o.model == "exp4a" and 8 or 10)):floor():int()
local lr = o.model == "exp5" and 1e-2 or 1e-3
local loss_weights
if o.model == "wide_deep" then -- two inputs and two outputs
  x, y = {ln.cat({x:mean(3), x:mean(2)}, 2), x}, {y, y}
  loss_weights = {0.9, 0.1}
end
-- the first `count` rows of every input or target
local function head(v, count)
  if ln.is_tensor(v) then return v:narrow(1, 1, count) end
  local t = {}
  for k, e in ipairs(v) do t[k] = e:narrow(1, 1, count) end
  return t
end
-- SGD at lr, the others as bench_train.lua's exp5_* workloads
local O = ln.optimizers
local optimizers = {
  sgd = function() return O.SGD{learning_rate = lr} end,
  rmsprop = function() return O.RMSprop{learning_rate = 1e-3, rho = 0.9, epsilon = 1e-7} end,
  adagrad = function()
    return O.Adagrad{learning_rate = 1e-3, initial_accumulator_value = 0.1, epsilon = 1e-7}
  end,
  adam = function() return O.Adam{learning_rate = 1e-3, epsilon = 1e-7} end,
}
local opt = optimizers[o.optimizer] or
            error("bench_threads: --optimizer is sgd, rmsprop, adagrad or adam", 0)

local times = {}
for _, c in ipairs(configs) do times[c] = {} end
io.write(string.format("bench_threads: model %s, %d rows, batch %d, load %s\n", o.model, o.rows,
                       o.batch, load1()))
for r = 1, o.rounds do
  local line = {}
  for _, c in ipairs(configs) do
    ln.set_num_threads(c == "1" and 1 or 2)
    ln.random.seed(2)
    local m = model()
    m:compile{loss = "sparse_categorical_crossentropy", optimizer = opt(), metrics = {"accuracy"},
              loss_weights = loss_weights}
    local net = m:_get_net()
    net = net.c or net -- a functional model's C net
    net:set_threading(c == "1" and "serial" or c)
    local warm = math.min(64 * o.batch, o.rows)
    m:fit(head(x, warm), head(y, warm),
          {batch_size = o.batch, epochs = 1, verbose = 0}) -- buffers, caches
    local t0 = ln.time()
    m:fit(x, y, {batch_size = o.batch, epochs = 1, verbose = 0})
    local sps = o.rows / (ln.time() - t0)
    table.insert(times[c], sps)
    line[#line + 1] = string.format("%s %.1fk", c, sps / 1e3)
    if c == "auto" then -- what auto chose, warm-up included
      local st = net:threading_stats()
      line[#line] = line[#line] .. string.format(" [team %d/%d batches, probes %d: team %d serial %d, dropped %d, stalls forgiven %d]",
        st.team_batches, st.team_batches + st.serial_batches, st.probes, st.team_chosen,
        st.serial_chosen, st.team_dropped, st.stalls_forgiven or 0)
    end
  end
  io.write(string.format("round %d (load %s): %s\n", r, load1(), table.concat(line, ", ")))
  io.flush()
end
ln.set_num_threads(1)

local function stats(v)
  local s = {}
  for k, t in ipairs(v) do s[k] = t end
  table.sort(s)
  local n = #s
  return s[n], n % 2 == 1 and s[(n + 1) // 2] or 0.5 * (s[n // 2] + s[n // 2 + 1])
end
local base = times["1"] and select(2, stats(times["1"]))
for _, c in ipairs(configs) do
  local best, med = stats(times[c])
  io.write(string.format("%-6s best %.1fk median %.1fk samples/s%s\n", c, best / 1e3, med / 1e3,
                         base and string.format(" (median / 1 thread: %.2fx)", med / base) or ""))
end
