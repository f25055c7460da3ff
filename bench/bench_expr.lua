--[[ bench/bench_expr.lua -- tensor expressions from Lua (issues 16 and 21):
the chain (a * 1.5 + b):exp():sum(), a:tanh() and a:sum() on 1k, 100k and
1M elements, 1 and 2 threads; microseconds per expression, best of 5
rounds. bench/torch_expr.py times the same expressions in PyTorch eager:
run both in one session and compare (bench/run_expr.sh does).

  lunet bench/bench_expr.lua
]]
local ln = require "lunet"

local function time(f, reps)
  local best = math.huge
  for _ = 1, 5 do
    local t0 = ln.time()
    for _ = 1, reps do f() end
    best = math.min(best, (ln.time() - t0) / reps)
  end
  return best * 1e6
end

for _, n in ipairs{1000, 100000, 1000000} do
  local a, b = ln.rand(n), ln.rand(n)
  local reps = math.max(3, 20000000 // n)
  for _, threads in ipairs{1, 2} do
    ln.set_num_threads(threads)
    print(string.format("lunet n=%d threads=%d chain %.1f tanh %.1f sum %.1f", n, threads,
                        time(function() return (a * 1.5 + b):exp():sum() end, reps),
                        time(function() return a:tanh() end, reps),
                        time(function() return a:sum() end, reps)))
  end
end
