--[==[ cost_model.lua -- when data-parallel training pays (docs/distributed.md).

  lua5.4 bench/cost_model.lua [rate_gflops [alpha_10gbe_us [alpha_100g_us]]]

For the seed's MLP (784-300-100-10) and the chapter-14 CNN (Conv 64 7x7
-> pool -> 2x Conv 128 -> pool -> 2x Conv 256 -> pool -> Dense 128 -> 64 ->
10 on 28x28x1, 'same' padding), from their layers: parameters, bytes
allreduced per step, training FLOPs per sample; then for N ranks on a
fabric of bandwidth BW and per-message latency alpha, the time of the
allreduce (reduce-scatter + allgather, or a ring: 2 (N-1)/N of the
gradients each way, 2 (N-1) latencies) against the compute time per step,
and the per-rank batch b* above which one step's communication costs less
than its computation (then 2 ranks beat 1, and N ranks keep >= 50 %
efficiency without overlap).

rate_gflops: the training FLOP rate of one core (default 180: a core of
this machine on the MLP, measured: 160k samples/s x 1.13 MFLOP); a rank
is one core, or a node of 32 such cores (one rank per node, threads). ]==]
local core_rate = tonumber(arg[1] or "180") * 1e9
local ranks = {{name = "1 core", rate = core_rate}, {name = "32 cores", rate = 32 * core_rate}}
local fabrics = {
  {name = "10 GbE", bw = 1.1e9, alpha = tonumber(arg[2] or "20") * 1e-6},
  {name = "100 Gb/s", bw = 11e9, alpha = tonumber(arg[3] or "2") * 1e-6},
}

-- Dense(in, out): params and MACs per sample; backward_dx: whether its
-- input gradient is computed (not for the first layer).
local function dense(i, o) return {params = i * o + o, macs = i * o} end
-- Conv2D(k x k, cin -> cout) on an h x w output ('same': output = input).
local function conv(k, cin, cout, h, w)
  return {params = k * k * cin * cout + cout, macs = h * w * cout * k * k * cin}
end

local models = {
  {name = "MLP 784-300-100-10", layers = {dense(784, 300), dense(300, 100), dense(100, 10)}},
  {name = "CNN (chapter 14)", layers = {
    conv(7, 1, 64, 28, 28), conv(3, 64, 128, 14, 14), conv(3, 128, 128, 14, 14),
    conv(3, 128, 256, 7, 7), conv(3, 256, 256, 7, 7),
    dense(3 * 3 * 256, 128), dense(128, 64), dense(64, 10)}},
}

for _, m in ipairs(models) do
  local params, macs = 0, 0
  for _, l in ipairs(m.layers) do params, macs = params + l.params, macs + l.macs end
  -- forward 2 MACs-FLOPs; backward: dW (2) and dX (2) but no dX for layer 1
  m.params = params
  m.flops = 2 * macs + 2 * macs + 2 * (macs - m.layers[1].macs)
  m.bytes = 4 * params
end

local function comm(bytes, N, f)
  return 2 * (N - 1) / N * bytes / f.bw + 2 * (N - 1) * f.alpha
end

print(string.format("core: %.0f GFLOP/s; efficiency = compute / (compute + allreduce) per " ..
                    "step, no overlap; b = per-rank batch", core_rate / 1e9))
for _, m in ipairs(models) do
  print(string.format("\n%s: %d parameters, %.2f MB allreduced per step, %.1f MFLOP per " ..
                      "training sample (%.1f us on one core)", m.name, m.params, m.bytes / 1e6,
                      m.flops / 1e6, m.flops / core_rate * 1e6))
  print(string.format("| %-8s | %-8s | %3s | %9s | %6s | %8s | %9s |", "fabric", "rank", "N",
                      "allreduce", "b*", "eff b=32", "eff b=256"))
  print("|---|---|---:|---:|---:|---:|---:|")
  for _, f in ipairs(fabrics) do
    for _, r in ipairs(ranks) do
      local ts = m.flops / r.rate
      for _, N in ipairs({2, 8, 64}) do
        local tc = comm(m.bytes, N, f)
        local function eff(b) return b * ts / (b * ts + tc) end
        print(string.format("| %-8s | %-8s | %3d | %6.2f ms | %6.0f | %7.0f%% | %8.0f%% |", f.name,
                            r.name, N, tc * 1e3, math.ceil(tc / ts), 100 * eff(32), 100 * eff(256)))
      end
    end
  end
end
