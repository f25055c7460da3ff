--[[ bench/bench_memory.lua -- Lua tensor code: temporaries, the garbage
collector and element access (issue 16, item 3). Every case runs in its own
child `lunet` process (so its peak RSS is its own) and prints one line;
ratios are taken inside one run, never against numbers from elsewhere.

  lunet bench/bench_memory.lua [--threads N] [--cases a,b] [--repeat R]

Cases:
  gc_loop       for i = 1, 2000 do local b = a * 0.9 end, a of 1M floats,
                no <close>: seconds and peak RSS
  gc_loop_close the same with `local b <close> = a * 0.9` (the baseline)
  matmul        ln.matmul of 1024x1024 in a plain loop: GFLOP/s
  matmul_close  the same with <close> (the baseline); matmul_out: into one
                result with ln.matmul(a, b, {out = c}) (when available)
  chain         (a * 1.5 + b):exp():sum() on 1M elements: ms per iteration
  elem_read     x = t[i] on a 1-d tensor: us per access
  elem_write    t[i] = v: us per access
  elem_read2    x = t[{i, j}] on a 2-d tensor; elem_write2: t[{i, j}] = v
]]
local ln = require "lunet"
local sformat = string.format

local ALL = {"gc_loop", "gc_loop_close", "matmul", "matmul_close", "matmul_out",
             "chain", "elem_read", "elem_write", "elem_read2", "elem_write2"}

local function peak_rss_mb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return (tonumber(s:match("VmHWM:%s*(%d+)")) or 0) / 1024
end

local cases = {}

function cases.gc_loop(n)
  local a = ln.rand(1000000)
  local t0 = ln.time()
  for _ = 1, n or 2000 do local b = a * 0.9 end
  return {seconds = ln.time() - t0}
end

function cases.gc_loop_close(n)
  local a = ln.rand(1000000)
  local t0 = ln.time()
  for _ = 1, n or 2000 do local b <close> = a * 0.9 end
  return {seconds = ln.time() - t0}
end

local function gemm_rate(kind)
  local a, b = ln.rand(1024, 1024), ln.rand(1024, 1024)
  local c = ln.zeros(1024, 1024)
  local iters = 60
  local best = math.huge
  for _ = 1, 3 do
    local t0 = ln.time()
    for _ = 1, iters do
      if kind == "plain" then
        local r = ln.matmul(a, b)
      elseif kind == "close" then
        local r <close> = ln.matmul(a, b)
      else
        ln.matmul(a, b, {out = c})
      end
    end
    best = math.min(best, ln.time() - t0)
  end
  return {gflops = 2 * 1024 ^ 3 * iters / best / 1e9, seconds = best}
end

function cases.matmul() return gemm_rate("plain") end
function cases.matmul_close() return gemm_rate("close") end
function cases.matmul_out() return gemm_rate("out") end

function cases.chain()
  local a, b = ln.rand(1000000), ln.rand(1000000)
  local iters, best = 50, math.huge
  for _ = 1, 3 do
    local t0 = ln.time()
    for _ = 1, iters do local s = (a * 1.5 + b):exp():sum() end
    best = math.min(best, ln.time() - t0)
  end
  return {ms = best / iters * 1e3}
end

local function per_access(fn)
  local n, best = 2000000, math.huge
  for _ = 1, 3 do
    local t0 = ln.time()
    fn(n)
    best = math.min(best, ln.time() - t0)
  end
  return {us = best / n * 1e6}
end

function cases.elem_read()
  local t = ln.rand(1000)
  return per_access(function(n) local s = 0; for i = 1, n do s = s + t[i % 1000 + 1] end end)
end
function cases.elem_write()
  local t = ln.zeros(1000)
  return per_access(function(n) for i = 1, n do t[i % 1000 + 1] = 0.5 end end)
end
function cases.elem_read2()
  local t = ln.rand(100, 10)
  return per_access(function(n) local s = 0; for i = 1, n do s = s + t[{i % 100 + 1, 3}] end end)
end
function cases.elem_write2()
  local t = ln.zeros(100, 10)
  return per_access(function(n) for i = 1, n do t[{i % 100 + 1, 3}] = 0.5 end end)
end

-- ---- driver ------------------------------------------------------------------------------

local opts = {threads = 2, cases = table.concat(ALL, ","), ["repeat"] = 1}
local i = 1
while arg and i <= #arg do
  local k = arg[i]:gsub("^%-%-", "")
  opts[k] = arg[i + 1]
  i = i + 2
end
ln.set_num_threads(math.tointeger(tonumber(opts.threads)) or 2)

if opts.child then
  local ok, r = pcall(cases[opts.child])
  if not ok then print(sformat("%s: unavailable (%s)", opts.child, tostring(r))) return end
  local parts = {}
  for _, k in ipairs({"seconds", "gflops", "ms", "us"}) do
    if r[k] then parts[#parts + 1] = sformat("%s=%.4g", k, r[k]) end
  end
  print(sformat("%s: %s peak_rss_mb=%.1f", opts.child, table.concat(parts, " "), peak_rss_mb()))
  return
end

local lunet = arg[-1]
local script = arg[0]
print(sformat("bench_memory: %d thread(s), load %s", ln.get_num_threads(),
              (io.open("/proc/loadavg"):read("l"):match("^%S+"))))
for name in opts.cases:gmatch("[^,]+") do
  for _ = 1, math.tointeger(tonumber(opts["repeat"])) do
    local p = io.popen(sformat("%q %q --child %s --threads %s 2>&1", lunet, script, name, opts.threads))
    io.write(p:read("a"))
    p:close()
  end
end
