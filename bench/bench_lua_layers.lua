--[[ bench/bench_lua_layers.lua -- issue 16's target for layers written in
Lua: the seed's experiment-1 MLP (784-300-100-10, LeakyReLU) trained with
fit, its Dense layers either the built-in plugin or a Layer:extend class
(matmul + bias, the activation applied by the built-in LeakyReLU layers
between them), at batch 32 and 256. Both in the same process, alternated,
best of R runs each; the ratio is the figure (Lua time / built-in time).

  lunet bench/bench_lua_layers.lua [--repeat R] [--samples N] [--threads T] [--cpu 1]
                                  [--batch B] [--only 0|1] [--mode 0|1|2]

--threads 0 alternates 1 and 2 threads in the process (fit by fit) and prints
the second core's gain. --batch B times batch size B alone (default: 32 and 256); --only 1 times the
Lua Dense alone, --only 0 the built-in alone (default: both, alternated).
--mode 1 forces serial runs, 2 a thread team for every batch (the net's
set_threading("serial" | "team")); 0, the default, is "auto" (measured).

--cpu 1 times the process's CPU time (os.clock) instead of the wall clock:
on a loaded machine a 1-thread run gets a fraction of a core and the wall
time is mostly the load's (with 2 threads the waiting team counts too, so
use it on 1 thread only).
]]
local ln = require "lunet"
local sformat = string.format

local opts = {["repeat"] = 3, samples = 12800, threads = ln.get_num_threads(), cpu = 0,
              batch = 0, only = -1, mode = 0}
do
  local i = 1
  while arg and arg[i] do
    local k = arg[i]:gsub("^%-%-", "")
    if opts[k] == nil then error("bench_lua_layers: unknown option " .. arg[i], 0) end
    opts[k] = math.tointeger(tonumber(arg[i + 1])) or error(arg[i] .. ": an integer", 0)
    i = i + 2
  end
end
if opts.threads > 0 then ln.set_num_threads(opts.threads) end

local LuaDense = ln.layers.Layer:extend{
  name = "LuaDense", defaults = {units = 32},
  build = function(self, s)
    self.kernel = self:add_weight{name = "kernel", shape = {s[#s], self.units},
                                  initializer = "he_normal"}
    self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
  end,
  call = function(self, x) return ln.matmul(x, self.kernel) + self.bias end,
}

local function model(lua)
  ln.random.seed(42)
  local D = lua and function(u, extra)
    local a = {units = u}
    for k, v in pairs(extra or {}) do a[k] = v end
    return LuaDense(a)
  end or function(u, extra)
    local a = {u, kernel_initializer = "he_normal"}
    for k, v in pairs(extra or {}) do a[k] = v end
    return ln.layers.Dense(a)
  end
  local m = ln.Sequential{
    D(300, {input_shape = {784}}), ln.layers.LeakyReLU{},
    D(100), ln.layers.LeakyReLU{},
    lua and D(10) or D(10, {activation = "softmax"}),
  }
  if lua then m:add(ln.layers.Activation{activation = "softmax"}) end
  m:compile{loss = "sparse_categorical_crossentropy",
            optimizer = ln.optimizers.SGD{learning_rate = 1e-3}, metrics = {"accuracy"}}
  return m
end

ln.random.seed(1)
local x = ln.rand(opts.samples, 784)
local y = (ln.rand(opts.samples) * 10):int()

local function time_fit(lua, bs)
  local m = model(lua)
  m:fit(x:narrow(1, 1, bs * 4), y:narrow(1, 1, bs * 4), {batch_size = bs, verbose = 0}) -- warm
  if opts.mode ~= 0 then
    local net = lua and rawget(m, "_compiled").net or m:_get_net()
    net:set_threading(({"serial", "team"})[opts.mode])
  end
  local clock = opts.cpu == 1 and os.clock or ln.time
  local t0 = clock()
  m:fit(x, y, {batch_size = bs, epochs = 1, verbose = 0})
  return clock() - t0
end

local tlist = opts.threads == 0 and {1, 2} or {opts.threads}
print(sformat("bench_lua_layers: %d samples, %s threads, best of %d, %s time", opts.samples,
              table.concat(tlist, " and "), opts["repeat"], opts.cpu == 1 and "CPU" or "wall"))
local kinds = opts.only == 1 and {true} or opts.only == 0 and {false} or {false, true}
for _, bs in ipairs(opts.batch > 0 and {opts.batch} or {32, 256}) do
  local best, rounds = {}, {}
  for r = 1, opts["repeat"] do
    rounds[r] = {}
    for _, th in ipairs(tlist) do
      ln.set_num_threads(th)
      for _, lua in ipairs(kinds) do
        local key = tostring(lua) .. th
        rounds[r][key] = time_fit(lua, bs)
        best[key] = math.min(best[key] or math.huge, rounds[r][key])
      end
    end
  end
  for _, th in ipairs(tlist) do
    local line = {sformat("batch %3d  %d thread%s", bs, th, th > 1 and "s" or " ")}
    for _, lua in ipairs(kinds) do
      line[#line + 1] = sformat("%s Dense %8.0f samples/s", lua and "Lua" or "built-in",
                                opts.samples / best[tostring(lua) .. th])
    end
    if #kinds == 2 then
      line[#line + 1] = sformat("ratio %.2fx", best["true" .. th] / best["false" .. th])
    end
    print(table.concat(line, "  "))
  end
  if #tlist == 2 then
    -- best against best, and the median of each round's pair (robust to a
    -- neighbour taking a core for part of the run)
    local line = {sformat("batch %3d  2 threads / 1 thread (speed, best; median of rounds):", bs)}
    for _, lua in ipairs(kinds) do
      local k, q = tostring(lua), {}
      for r = 1, #rounds do q[r] = rounds[r][k .. 1] / rounds[r][k .. 2] end
      table.sort(q)
      local med = #q % 2 == 1 and q[(#q + 1) // 2] or (q[#q // 2] + q[#q // 2 + 1]) / 2
      line[#line + 1] = sformat("%s Dense %.2fx; %.2fx", lua and "Lua" or "built-in",
                                best[k .. 1] / best[k .. 2], med)
    end
    print(table.concat(line, "  "))
  end
end
