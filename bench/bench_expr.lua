--[[ bench/bench_expr.lua -- tensor expressions from Lua (issues 16 and 21):
the chain (a * 1.5 + b):exp():sum(), a:tanh() and a:sum() on 1k to 1M
elements, 1 and 2 threads; microseconds per expression, best of 7 rounds,
the 1- and 2-thread runs of each round alternating (so load changes hit
both). bench/torch_expr.py times the same expressions in PyTorch eager:
run both in one session and compare (bench/run_expr.sh does).

  lunet bench/bench_expr.lua [sizes]     e.g. 1000,100000
]]
local ln = require "lunet"

local sizes = {1000, 10000, 30000, 100000, 300000, 1000000}
if arg[1] then
  sizes = {}
  for s in arg[1]:gmatch("%d+") do sizes[#sizes + 1] = tonumber(s) end
end

local function once(f, reps)
  local t0 = ln.time()
  for _ = 1, reps do f() end
  return (ln.time() - t0) / reps * 1e6
end

for _, n in ipairs(sizes) do
  local a, b = ln.rand(n), ln.rand(n)
  local reps = math.max(3, 20000000 // n)
  local exprs = {
    {"chain", function() return (a * 1.5 + b):exp():sum() end},
    {"tanh", function() return a:tanh() end},
    {"sum", function() return a:sum() end},
  }
  local best = {{}, {}}
  for _ = 1, 7 do
    for threads = 1, 2 do
      ln.set_num_threads(threads)
      for k, e in ipairs(exprs) do
        best[threads][k] = math.min(best[threads][k] or math.huge, once(e[2], reps))
      end
    end
  end
  for threads = 1, 2 do
    local r = best[threads]
    print(string.format("lunet n=%d threads=%d chain %.1f tanh %.1f sum %.1f", n, threads,
                        r[1], r[2], r[3]))
  end
end
