--[[ bench/bench_loaded_ops.lua -- single tensor operations from Lua at a
given thread count, as the MEAN time over many calls in a row (not the
best: a loop that waits a scheduler's time slice now and then must show
it). bench/run_loaded_ops.sh runs it at 1 and 2 threads with the machine
idle or its vCPUs kept busy, the way issue 21 found OpenMP loops losing to
one thread at load 2. Timings only mean something against each other.

  lunet bench/bench_loaded_ops.lua THREADS [N] [CALLS]    e.g. 2 300000 1000

One line: "THREADS T n=N mean: op us op us ...". ]]
local ln = require "lunet"
local threads = math.tointeger(tonumber(arg[1] or 1))
if not threads or threads < 1 then error("bench_loaded_ops: THREADS must be a positive integer", 0) end
ln.set_num_threads(threads)
local n = math.tointeger(tonumber(arg[2] or 300000))
local calls = math.tointeger(tonumber(arg[3] or 1000))
if not n or n < 100 or not calls or calls < 1 then
  error("bench_loaded_ops: N must be an integer >= 100 and CALLS a positive integer", 0)
end
local a, b = ln.rand(n), ln.rand(n)
local ai = (a * 10):int()
local mask, mask2 = a:gt(0.5), b:lt(0.3)
local rows = n // 100
local m = a:narrow(1, 1, rows * 100):reshape(rows, 100)
local gidx5 = (ln.rand(rows, 5) * 100):int() + 1
local labels = (ln.rand(n // 10) * 10):int()
local ops = {
  {"add", function() return a + b end},          -- the helper pool's loops
  {"exp", function() return a:exp() end},
  {"gt", function() return a:gt(0.5) end},       -- OpenMP loops (core/par_for.h)
  {"lnot", function() return mask:logical_not() end},
  {"land", function() return mask:logical_and(mask2) end},
  {"where", function() return ln.where(mask, a, b) end},
  {"iabs", function() return ai:abs() end},
  {"fmod", function() return a % b end},
  {"clone", function() return a:clone() end},
  {"rand", function() return ln.rand(n) end},
  {"ones", function() return ln.ones(n) end},
  {"sumb", function() return mask:sum() end},
  {"masksel", function() return a[mask] end},
  {"gather5", function() return m:gather(2, gidx5) end},
  {"onehot", function() return ln.one_hot(labels, 10) end},
  {"t", function() return m:t():contiguous() end},
}
local out = {}
for _, op in ipairs(ops) do
  local f = op[2]
  f()
  local t0 = ln.time()
  for _ = 1, calls do f() end
  out[#out + 1] = ("%s %.1f"):format(op[1], (ln.time() - t0) / calls * 1e6)
end
print(threads .. "T n=" .. n .. " mean: " .. table.concat(out, "  "))
