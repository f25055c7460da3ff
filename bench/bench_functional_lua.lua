--[[ bench/bench_functional_lua.lua -- issues 16/17: a functional model
whose units are written in Lua (Layer:extend Dense = matmul + bias +
activation, a Lua concatenation layer taking a list of inputs) trains
through the tape node by node; the same graph of built-in layers runs in
the C graph engine. Two graphs: Wide & Deep (inputs of 56 and 784,
Dense 100-100 on the deep one, concatenation, Dense 10 softmax) and the
seed's 784-300-100-10 MLP, the latter also as a Sequential (the tape path
of Sequential models, the reference for the graph's own overhead). All in
one process, alternated, best of R runs of one epoch each; the ratios are
the figures (Lua time / built-in time).

  lunet bench/bench_functional_lua.lua [--repeat R] [--samples N] [--threads T]
]]
local ln = require "lunet"
local sformat = string.format

local opts = {["repeat"] = 3, samples = 16384, threads = ln.get_num_threads()}
do
  local i = 1
  while arg and arg[i] do
    local k = arg[i]:gsub("^%-%-", "")
    if opts[k] == nil then error("bench_functional_lua: unknown option " .. arg[i], 0) end
    opts[k] = math.tointeger(tonumber(arg[i + 1])) or error(arg[i] .. ": an integer", 0)
    i = i + 2
  end
end
ln.set_num_threads(opts.threads)

local MyDense = ln.layers.Layer:extend{
  name = "MyDense", defaults = {units = 32, activation = "linear"},
  build = function(self, s)
    self.kernel = self:add_weight{name = "kernel", shape = {s[#s], self.units}}
    self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
  end,
  call = function(self, x)
    return ln.activations.get(self.activation)(ln.matmul(x, self.kernel) + self.bias)
  end}
local MyConcat = ln.layers.Layer:extend{name = "MyConcat",
  call = function(self, xs) return ln.cat(xs, 2) end}

local function dense(lua)
  if lua then return function(u, a) return MyDense{units = u, activation = a} end end
  return function(u, a) return ln.layers.Dense{u, activation = a} end
end

local function compiled(m)
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
  return m
end

local builders = {
  wide_deep = function(lua)
    local D = dense(lua)
    local wide, deep = ln.Input{shape = {56}}, ln.Input{shape = {784}}
    local h = D(100, "relu")(D(100, "relu")(deep))
    local c = (lua and MyConcat{} or ln.layers.Concatenate{})({wide, h})
    return compiled(ln.Model{inputs = {wide, deep}, outputs = D(10, "softmax")(c)})
  end,
  mlp_graph = function(lua)
    local D = dense(lua)
    local inp = ln.Input{shape = {784}}
    return compiled(ln.Model{inputs = inp,
                             outputs = D(10, "softmax")(D(100, "relu")(D(300, "relu")(inp)))})
  end,
  mlp_sequential = function(lua)
    local D = dense(lua)
    return compiled(ln.Sequential{ln.layers.InputLayer{input_shape = {784}}, D(300, "relu"),
                                  D(100, "relu"), D(10, "softmax")})
  end,
}

ln.random.seed(1)
local n = opts.samples
local xw, xd = ln.rand(n, 56), ln.rand(n, 784)
local y = (ln.rand(n) * 10):floor():int()
local inputs = {wide_deep = {xw, xd}, mlp_graph = xd, mlp_sequential = xd}

print(sformat("threads=%d samples=%d best of %d", opts.threads, n, opts["repeat"]))
for _, bs in ipairs({32, 256}) do
  for _, name in ipairs({"wide_deep", "mlp_graph", "mlp_sequential"}) do
    local best = {}
    for _ = 1, opts["repeat"] do
      for _, lua in ipairs({false, true}) do
        local m = builders[name](lua)
        local t0 = ln.time()
        m:fit(inputs[name], y, {epochs = 1, batch_size = bs, verbose = 0})
        local dt = ln.time() - t0
        best[lua] = math.min(best[lua] or math.huge, dt)
      end
    end
    print(sformat("batch %3d  %-15s built-in %.3f s  Lua units %.3f s  ratio %.2fx", bs, name,
                  best[false], best[true], best[true] / best[false]))
  end
end
