--[[ bench/bench_plugin.lua -- an optimizer plugin built out of tree against
the built-in Adam, in one process: ns per element per step of
optimizer:apply_gradients on one float32 variable, the optimizers
alternated, several repeats; prints each repeat and the median of the
per-repeat ratios (plugin / built-in Adam).

  lunet bench/bench_plugin.lua [--repeat R] [--sizes n1,n2] CLASS=FILE.so ...

Sizes: 32767 elements (serial, cache-resident: the loop's own speed) and
2^22 (memory-bound, over the threads). Per-call overhead (Lua, the core's
step) is in both sides of a ratio.

Each CLASS=FILE.so is loaded with ln.load_plugin(FILE.so) and constructed
as ln.optimizers[CLASS]{}. Run by bench/run_plugin_bench.sh, which builds
the plugins the documented ways.
]]
local ln = require "lunet"

-- The largest variable updated in one serial loop (below LN_PAR_MIN =
-- 32768 elements: no OpenMP region, cache-resident, so the loop's own speed
-- shows), and a large one (memory-bound, spread over the threads).
local LN_SERIAL = 32767
local repeat_, sizes, plugins = 7, {LN_SERIAL, 1 << 22}, {}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--repeat" then repeat_ = math.tointeger(tonumber(arg[i + 1])); i = i + 2
  elseif a == "--sizes" then
    sizes = {}
    for s in arg[i + 1]:gmatch("[^,]+") do sizes[#sizes + 1] = math.tointeger(tonumber(s)) end
    i = i + 2
  else
    local cls, file = a:match("^([%w_]+)=(.+)$")
    assert(cls, "expected CLASS=FILE.so, got " .. a)
    ln.load_plugin(file)
    plugins[#plugins + 1] = {cls = cls, file = file}
    i = i + 1
  end
end

-- Seconds per step of opt over `steps` steps (after 3 warm-up steps that
-- create the slots).
local function per_step(make, n, steps)
  ln.random.seed(1)
  local w, g = ln.randn(n) * 0.1, ln.randn(n) * 0.01
  local opt = make()
  local pairs_ = {{g, w, name = "dense/kernel"}}
  for _ = 1, 3 do opt:apply_gradients(pairs_) end
  local t0 = ln.time()
  for _ = 1, steps do opt:apply_gradients(pairs_) end
  return (ln.time() - t0) / steps
end

local function median(t)
  local s = {table.unpack(t)}
  table.sort(s)
  local k = #s
  return k % 2 == 1 and s[(k + 1) // 2] or (s[k // 2] + s[k // 2 + 1]) / 2
end

print(string.format("threads %d, repeats %d", ln.get_num_threads(), repeat_))
for _, n in ipairs(sizes) do
  local steps = math.max(5, (1 << 26) // n) -- ~64M element-steps per timing
  local adam = function() return ln.optimizers.Adam{} end
  for _, p in ipairs(plugins) do
    local make = function() return ln.optimizers[p.cls]{} end
    local ratios, ta, tp = {}, {}, {}
    for r = 1, repeat_ do
      -- alternate which runs first, so neither always gets the warm machine
      local a, b
      if r % 2 == 1 then a = per_step(adam, n, steps); b = per_step(make, n, steps)
      else b = per_step(make, n, steps); a = per_step(adam, n, steps) end
      ta[r], tp[r], ratios[r] = a / n * 1e9, b / n * 1e9, b / a
    end
    print(string.format("n %-8d %-10s %s", n, p.cls, p.file))
    print(string.format("  Adam (built-in) ns/elem/step: median %.3f  [%s]", median(ta),
                        table.concat((function() local s = {} for k, v in ipairs(ta) do s[k] = string.format("%.3f", v) end return s end)(), " ")))
    print(string.format("  %-15s ns/elem/step: median %.3f", p.cls, median(tp)))
    print(string.format("  ratio %s / Adam: median %.3f  (repeats: %s)", p.cls, median(ratios),
                        table.concat((function() local s = {} for k, v in ipairs(ratios) do s[k] = string.format("%.3f", v) end return s end)(), " ")))
  end
end
