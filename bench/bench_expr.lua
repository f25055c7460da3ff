--[[ bench/bench_expr.lua -- tensor expressions from Lua (issues 16 and 21):
the chain (a * 1.5 + b):exp():sum(), a:tanh(), a:sum(), a:max(), a:var() and, on the same
elements as a matrix (100 or 1000 columns), m:sum(1), m:sum(2) and m:max(2)
(values and positions) on 1k to 1M elements, 1 and 2 threads; microseconds per expression, best of 7 rounds,
the 1- and 2-thread runs of each round alternating (so load changes hit
both). bench/torch_expr.py times the same expressions in PyTorch eager:
run both in one session and compare (bench/run_expr.sh does).

  lunet bench/bench_expr.lua [sizes]     e.g. 1000,100000

  lunet bench/bench_expr.lua threads [sizes] [rounds]

times single operations -- a:exp(), a:tanh(), a + b, a * 1.5, a:sum() and
the update a:add_(b) (no result tensor) -- on 1 and 2 threads, alternated
call batch by call batch (rounds times, default 9), and prints the median
and the best 2-thread time over the 1-thread one: where 2 threads start to
win is the threshold (include/lunet/parallel.h, docs/performance.md).
Default sizes 16k to 1M.
]]
local ln = require "lunet"

if arg[1] == "threads" then
  local sizes = {16384, 32768, 65536, 131072, 262144, 524288, 1048576}
  if arg[2] then
    sizes = {}
    for s in arg[2]:gmatch("%d+") do sizes[#sizes + 1] = tonumber(s) end
  end
  local rounds = tonumber(arg[3]) or 9
  local function time(f, reps)
    local t0 = ln.time()
    for _ = 1, reps do f() end
    return (ln.time() - t0) / reps * 1e6
  end
  print(string.format("bench_expr threads: us per call, %d rounds, 1T/2T alternating; " ..
                      "ratio = 1T / 2T (> 1: 2 threads win)", rounds))
  print("| n | op | 1T best | 2T best | ratio best | ratio median |")
  print("|---:|---|---:|---:|---:|---:|")
  for _, n in ipairs(sizes) do
    local a, b = ln.rand(n), ln.rand(n)
    local reps = math.max(5, 4000000 // n)
    local ops = {
      {"exp", function() return a:exp() end}, {"tanh", function() return a:tanh() end},
      {"add", function() return a + b end}, {"mul", function() return a * 1.5 end},
      {"sum", function() return a:sum() end}, {"add_", function() return a:add_(b) end},
    }
    for _, op in ipairs(ops) do
      local t = {{}, {}}
      for _ = 1, rounds do
        for th = 1, 2 do
          ln.set_num_threads(th)
          t[th][#t[th] + 1] = time(op[2], reps)
        end
      end
      local ratios = {}
      for i = 1, rounds do ratios[i] = t[1][i] / t[2][i] end
      table.sort(ratios)
      local b1, b2 = math.min(table.unpack(t[1])), math.min(table.unpack(t[2]))
      print(string.format("| %d | %s | %.1f | %.1f | %.2f | %.2f |", n, op[1], b1, b2, b1 / b2,
                          ratios[(rounds + 1) // 2]))
      a:copy_(b) -- (add_ grew a)
    end
  end
  return
end

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
  -- the same elements as a matrix (1000 columns from 100k on, else 100)
  local cols = n >= 100000 and 1000 or 100
  local m = a:narrow(1, 1, n // cols * cols):reshape(n // cols, cols)
  local reps = math.max(3, 20000000 // n)
  local exprs = {
    {"chain", function() return (a * 1.5 + b):exp():sum() end},
    {"tanh", function() return a:tanh() end},
    {"sum", function() return a:sum() end},
    {"max", function() return a:max() end},
    {"var", function() return a:var() end},
    {"sum1", function() return m:sum(1) end},
    {"sum2", function() return m:sum(2) end},
    {"max2", function() return m:max(2) end},
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
    local fields = {}
    for k, e in ipairs(exprs) do fields[k] = string.format("%s %.1f", e[1], r[k]) end
    print(string.format("lunet n=%d threads=%d %s", n, threads, table.concat(fields, " ")))
  end
end
