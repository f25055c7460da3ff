--[[ bench/bench_conv_layers.lua -- convolution layers one product at a time:
GFLOP/s of the forward, the input gradient (dx) and the weight gradient
(wgrad) of the LeNet-5-style and chapter-14 CNNs' convolutions, for lunet's
automatic kernel choice ("auto": conv_c1.h for one input channel,
conv_wino.h's Winograd for the 3x3 layers) against the im2col + GEMM path
alone ("gemm", measured for those layers) and PyTorch (bench/torch_conv_layers.py,
same shapes, same clock), all in ONE run, with the share of the FMA peak.

  lunet bench/bench_conv_layers.lua [--threads N] [--batch B] [--repeat R]
        [--min-time S] [--clock wall|cpu] [--layers a,b] [--sweep]
        [--torch yes|no] [--peak GFLOPS]

Layers (batch 32 unless --batch; channels_last, stride 1):
  lenet1  28x28x1  -> Conv2D 20, 5x5 "same"   (LeNet's first layer)
  lenet2  14x14x20 -> Conv2D 50, 5x5 "valid"
  cnn1    28x28x1  -> Conv2D 64, 7x7 "same"   (chapter 14's first layer)
  cnn2    14x14x64 -> Conv2D 128, 3x3 "same"
  cnn3    14x14x128 -> Conv2D 128, 3x3 "same"
  cnn4    7x7x128  -> Conv2D 256, 3x3 "same"
  cnn5    7x7x256  -> Conv2D 256, 3x3 "same"
--sweep adds 28x28x1 -> Conv2D F, 5x5 "same" for F = 16, 32, ..., 128, run
with algorithm = "direct" (not "auto") against "gemm": where the
one-channel forward stops beating the GEMM (conv_c1.h's C1_FWD_MAX16).
--clock cpu times with the process CPU clock (os.clock; all threads summed:
use it with --threads 1 on a busy machine); wall with ln.time. Each figure
is the best of R loops of at least S seconds. --peak: FMA peak GFLOP/s per
core (default 213); the share is against peak x threads.
PyTorch runs as /usr/bin/python3 (OpenMP OpenBLAS for 2 threads); --torch no
skips it.
]]
local ln = require "lunet"
local L = ln.layers
local sformat = string.format

local LAYERS = {
  {name = "lenet1", h = 28, w = 28, c = 1, f = 20, k = 5, pad = "same"},
  {name = "lenet2", h = 14, w = 14, c = 20, f = 50, k = 5, pad = "valid"},
  {name = "cnn1", h = 28, w = 28, c = 1, f = 64, k = 7, pad = "same"},
  {name = "cnn2", h = 14, w = 14, c = 64, f = 128, k = 3, pad = "same"},
  {name = "cnn3", h = 14, w = 14, c = 128, f = 128, k = 3, pad = "same"},
  {name = "cnn4", h = 7, w = 7, c = 128, f = 256, k = 3, pad = "same"},
  {name = "cnn5", h = 7, w = 7, c = 256, f = 256, k = 3, pad = "same"},
}

local function parse(argv)
  local o = {threads = 1, batch = 32, repeat_ = 3, min_time = 0.2, clock = "wall",
             torch = "yes", peak = 213}
  local i = 1
  while i <= #argv do
    local k, v = argv[i], argv[i + 1]
    if k == "--sweep" then o.sweep = true; i = i + 1
    else
      if v == nil then error("bench_conv_layers: " .. k .. " needs a value", 0) end
      if k == "--threads" then o.threads = math.tointeger(tonumber(v))
      elseif k == "--batch" then o.batch = math.tointeger(tonumber(v))
      elseif k == "--repeat" then o.repeat_ = math.tointeger(tonumber(v))
      elseif k == "--min-time" then o.min_time = tonumber(v)
      elseif k == "--clock" then o.clock = v
      elseif k == "--layers" then o.layers = v
      elseif k == "--torch" then o.torch = v
      elseif k == "--peak" then o.peak = tonumber(v)
      else error("bench_conv_layers: unknown option " .. tostring(k), 0) end
      i = i + 2
    end
  end
  for _, key in ipairs({"threads", "batch", "repeat_"}) do
    if not o[key] or o[key] < 1 then
      error("bench_conv_layers: --" .. key:gsub("_$", "") .. " must be an integer >= 1", 0)
    end
  end
  if not o.min_time or o.min_time <= 0 then error("bench_conv_layers: --min-time > 0", 0) end
  if o.clock ~= "wall" and o.clock ~= "cpu" then
    error("bench_conv_layers: --clock must be wall or cpu, got " .. tostring(o.clock), 0)
  end
  if o.torch ~= "yes" and o.torch ~= "no" then
    error("bench_conv_layers: --torch must be yes or no", 0)
  end
  local list = {}
  if o.layers then
    local by = {}
    for _, l in ipairs(LAYERS) do by[l.name] = l end
    for n in o.layers:gmatch("[^,%s]+") do
      if not by[n] then error("bench_conv_layers: unknown layer '" .. n .. "'", 0) end
      list[#list + 1] = by[n]
    end
  else
    for _, l in ipairs(LAYERS) do list[#list + 1] = l end
  end
  if o.sweep then
    for f = 16, 128, 16 do
      list[#list + 1] = {name = "c1_f" .. f, h = 28, w = 28, c = 1, f = f, k = 5, pad = "same",
                         algorithm = "direct"}
    end
  end
  o.list = list
  return o
end

local o = parse(arg)
local clock = o.clock == "cpu" and os.clock or ln.time
ln.set_num_threads(o.threads)
ln.random.seed(1)

-- best seconds per call of fn: R loops of at least min_time each
local function timed(fn)
  fn()
  local best
  for _ = 1, o.repeat_ do
    local k, t0, dt = 0, clock(), 0
    repeat
      fn()
      k = k + 1
      dt = clock() - t0
    until dt >= o.min_time
    if not best or dt / k < best then best = dt / k end
  end
  return best
end

local function out_size(l)
  return l.pad == "same" and l.h or l.h - l.k + 1, l.pad == "same" and l.w or l.w - l.k + 1
end

local function flops(l)
  local oh, ow = out_size(l)
  return 2.0 * o.batch * oh * ow * l.k * l.k * l.c * l.f
end

-- {fwd=, dx=, wgrad=} GFLOP/s of layer spec l with the given algorithm
local function measure(l, algorithm)
  local layer = L.Conv2D{l.f, l.k, padding = l.pad, algorithm = algorithm}
  layer:build({l.h, l.w, l.c})
  local x = ln.randn(o.batch, l.h, l.w, l.c)
  local y = layer:forward(x, {training = true})
  local dy = ln.randn(table.unpack(y:shape()))
  local fl = flops(l)
  local r = {}
  r.fwd = fl / timed(function() layer:forward(x, {training = true}) end) / 1e9
  r.dx = fl / timed(function() layer:backward(dy, {need_dx = true, need_dw = false}) end) / 1e9
  r.wgrad = fl / timed(function() layer:backward(dy, {need_dx = false, need_dw = true}) end) / 1e9
  return r
end

local function torch_figures()
  if o.torch == "no" then return {} end
  local specs = {}
  for _, l in ipairs(o.list) do
    -- "same" (odd k, stride 1) unless named in --valid
    specs[#specs + 1] = table.concat({l.name, l.h, l.w, l.c, l.f, l.k}, ":")
  end
  local here = (arg[0] or ""):match("^(.*)[/\\]") or "."
  local env = o.threads > 1 and "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp " or ""
  local cmd = sformat("%sOMP_NUM_THREADS=%d /usr/bin/python3 '%s/torch_conv_layers.py' " ..
                      "--layers %s --threads %d --batch %d --repeat %d --min-time %g " ..
                      "--clock %s --valid %s 2>&1", env, o.threads, here,
                      table.concat(specs, ","), o.threads, o.batch, o.repeat_, o.min_time,
                      o.clock, (function()
                        local v = {}
                        for _, l in ipairs(o.list) do
                          if l.pad == "valid" then v[#v + 1] = l.name end
                        end
                        return #v > 0 and table.concat(v, ",") or "-"
                      end)())
  local p = assert(io.popen(cmd))
  local res, raw = {}, {}
  for line in p:lines() do
    raw[#raw + 1] = line
    local name, op, g = line:match('"layer": "([^"]+)", "op": "([^"]+)", "gflops": ([%d%.e%+%-]+)')
    if name then
      res[name] = res[name] or {}
      res[name][op] = tonumber(g)
    end
  end
  p:close()
  if not next(res) then
    io.stderr:write("bench_conv_layers: no PyTorch figures (" .. table.concat(raw, " | ") .. ")\n")
  end
  return res
end

local peak = o.peak * o.threads
print(sformat("# batch %d, %d thread(s), %s clock, peak %.0f GFLOP/s (%g per core)", o.batch,
              o.threads, o.clock, peak, o.peak))
local rows = {}
for _, l in ipairs(o.list) do
  local new = measure(l, l.algorithm or "auto")
  local old = (l.c == 1 or l.k == 3) and measure(l, "gemm") or nil
  rows[#rows + 1] = {l = l, new = new, old = old}
end
local tf = torch_figures()
print("| layer | product | lunet GFLOP/s | % of peak | im2col+GEMM path | lunet / GEMM path " ..
      "| PyTorch | lunet / PyTorch |")
print("|---|---|---|---|---|---|---|---|")
for _, r in ipairs(rows) do
  local l = r.l
  local desc = sformat("%s (%dx%dx%d, %d %dx%d %s)", l.name, l.h, l.w, l.c, l.f, l.k, l.k, l.pad)
  for _, op in ipairs({"fwd", "dx", "wgrad"}) do
    local g, og = r.new[op], r.old and r.old[op]
    local t = tf[l.name] and tf[l.name][op]
    print(sformat("| %s | %s | %.1f | %.0f %% | %s | %s | %s | %s |", desc, op, g,
                  100 * g / peak, og and sformat("%.1f", og) or "(same)",
                  og and sformat("%.2fx", g / og) or "-",
                  t and sformat("%.1f", t) or "n/a", t and sformat("%.2fx", g / t) or "-"))
  end
end
