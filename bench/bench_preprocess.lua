--[[ bench/bench_preprocess.lua -- the seed's preprocessing x:float() / 255
on a 60000x28x28 uint8 tensor (Fashion-MNIST's shape), against a baseline
measured in the same run: :clone() of a float32 tensor of the result's size
(one fresh 188 MB allocation written once: the page faults and the memory
traffic any kernel producing that tensor pays).

  lunet bench/bench_preprocess.lua [--threads N] [--repeat R]

Prints the best of R repeats of each (interleaved, so a load change on a
shared machine hits both) and their ratio. This was a timed test once; a
wall-clock figure is a measurement, never a pass/fail check.
]]
local ln = require "lunet"

local threads, repeats = 2, 5
local i = 1
while arg and arg[i] do
  if arg[i] == "--threads" then threads = math.tointeger(tonumber(arg[i + 1])); i = i + 2
  elseif arg[i] == "--repeat" then repeats = math.tointeger(tonumber(arg[i + 1])); i = i + 2
  else error("usage: lunet bench/bench_preprocess.lua [--threads N] [--repeat R]", 0) end
end
assert(threads and threads >= 1 and repeats and repeats >= 1, "bad --threads or --repeat")
ln.set_num_threads(threads)

local x = ln.full({60000, 28, 28}, 7, "uint8")
local f = ln.full({60000, 28, 28}, 7)

local function timed(fn)
  collectgarbage()
  local t0 = ln.time()
  local y = fn()
  local dt = ln.time() - t0
  assert(y:numel() == 47040000)
  return dt
end

local best_op, best_base = math.huge, math.huge
for _ = 1, repeats do
  best_base = math.min(best_base, timed(function() return f:clone() end))
  best_op = math.min(best_op, timed(function() return x:float() / 255 end))
end
print(string.format("threads %d, best of %d", threads, repeats))
print(string.format("baseline  f:clone() (float32, 60000x28x28)  %8.1f ms", best_base * 1e3))
print(string.format("x:float() / 255 (uint8 -> float32)          %8.1f ms", best_op * 1e3))
print(string.format("ratio x:float()/255 : clone                 %8.2f", best_op / best_base))
