--[==[ run_distributed.lua -- data-parallel training against threads on one
machine, side by side in ONE run (docs/distributed.md): the experiment-1
MLP (bench/dist_train.lua) at a global batch of 32 and of 1,024 per step,
as
  1 rank  x 1 thread    the baseline,
  1 rank  x 2 threads   lunet's thread team,
  2 ranks x 1 thread    mpirun -np 2 (lunet.mpi),
each in fresh processes, the three in a rotating order in every round,
with the load average read before each. Prints every measurement, then
per configuration the median and best samples/s, the median ratio to
the baseline measured in the same round, and the gradient reduction's
time per step; then the cost model's ratio for 2 ranks (docs/distributed.md:
a step is b/2 rows of the same round's 1-thread time per row plus one
allreduce, the fastest measured alone) against the measured one.

  lunet bench/run_distributed.lua [rounds [batches [epochs32 [epochs1024]]]]
  (defaults: 5 rounds, "32,1024", 1 epoch at batch 32, 3 at 1,024)
Environment: LUNET (the executable), MPIEXEC (default mpiexec). As root,
set OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1. ]==]
local rounds = math.tointeger(tonumber(arg[1] or "5"))
local batches = {}
for b in (arg[2] or "32,1024"):gmatch("%d+") do batches[#batches + 1] = math.tointeger(tonumber(b)) end
local epochs = {[32] = tonumber(arg[3] or "1"), [1024] = tonumber(arg[4] or "3")}

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local lunet = os.getenv("LUNET") or (here .. "/../build/bin/lunet")
local worker = here .. "/dist_train.lua"
local B = dofile(here .. "/dist_lib.lua")
local median, load_avg = B.median, B.load_avg

local CONFIGS = {
  {name = "1 rank x 1 thread", ranks = 1, threads = 1},
  {name = "1 rank x 2 threads", ranks = 1, threads = 2},
  {name = "2 ranks x 1 thread", ranks = 2, threads = 1},
}

local function run(cfg, batch)
  local ep = math.tointeger(epochs[batch] or 1) or 1
  local out, cmd = B.run(cfg.ranks, cfg.threads, nil, lunet, string.format("%s %d %d", worker, batch, ep))
  local line = out:match("RESULT[^\n]*")
  if not line then error("no RESULT from: " .. cmd .. "\n" .. out) end
  local r = {}
  for k, v in line:gmatch("([%w_]+)=(%S+)") do r[k] = tonumber(v) end
  return r
end

local results = {} -- [batch][config] = {samples, ratios, reduce, wait, mb, loads}
for _, b in ipairs(batches) do
  results[b] = {}
  for i = 1, #CONFIGS do
    results[b][i] = {sps = {}, ratio = {}, reduce = {}, wait = {}, alone = {}, amin = {},
                     compute = {}, model = {}, mb = 0, load = {}}
  end
end

print(string.format("%-6s %-5s %-20s %8s %12s %10s %9s %9s %9s %10s", "round", "batch", "config",
                    "load", "samples/s", "reduce ms", "wait ms", "alone ms", "min ms", "compute ms"))
for round = 1, rounds do
  for _, b in ipairs(batches) do
    local got = {}
    for k = 0, #CONFIGS - 1 do
      local i = (round + k - 1) % #CONFIGS + 1 -- rotate the order every round
      local cfg = CONFIGS[i]
      local load = load_avg()
      local r = run(cfg, b)
      got[i] = r
      local slot = results[b][i]
      slot.sps[#slot.sps + 1] = r.samples_per_s
      slot.reduce[#slot.reduce + 1] = r.reduce_ms
      slot.wait[#slot.wait + 1] = r.wait_ms
      slot.alone[#slot.alone + 1] = r.alone_ms
      slot.amin[#slot.amin + 1] = r.alone_min_ms
      slot.compute[#slot.compute + 1] = r.compute_ms
      slot.mb = r.reduce_mb
      slot.load[#slot.load + 1] = tonumber(load) or 0
      print(string.format("%-6d %-5d %-20s %8s %12.0f %10.3f %9.3f %9.3f %9.3f %10.3f", round, b,
                          cfg.name, load, r.samples_per_s, r.reduce_ms, r.wait_ms, r.alone_ms,
                          r.alone_min_ms, r.compute_ms))
    end
    for i = 1, #CONFIGS do
      local slot = results[b][i]
      slot.ratio[#slot.ratio + 1] = got[i].samples_per_s / got[1].samples_per_s
      if CONFIGS[i].ranks > 1 then -- the cost model, from this round's figures
        local per_row = 1e3 / got[1].samples_per_s -- ms per row, 1 rank x 1 thread
        local n = CONFIGS[i].ranks
        slot.model[#slot.model + 1] = b * per_row / (b / n * per_row + got[i].alone_min_ms)
      end
    end
  end
end

print()
print(string.format("%-5s %-20s %12s %12s %14s %14s %10s %10s %10s", "batch", "config",
                    "median s/s", "best s/s", "median ratio", "load (median)", "reduce ms",
                    "alone ms", "MB/step"))
for _, b in ipairs(batches) do
  for i, cfg in ipairs(CONFIGS) do
    local slot = results[b][i]
    local best = 0
    for _, v in ipairs(slot.sps) do best = math.max(best, v) end
    print(string.format("%-5d %-20s %12.0f %12.0f %13.2fx %14.2f %10.3f %10.3f %10.3f", b,
                        cfg.name, median(slot.sps), best, median(slot.ratio), median(slot.load),
                        median(slot.reduce), median(slot.alone), slot.mb))
  end
end
print()
print("cost model (no overlap) against the measurement, 2 ranks / 1 rank x 1 thread, median over rounds:")
for _, b in ipairs(batches) do
  for i, cfg in ipairs(CONFIGS) do
    local slot = results[b][i]
    if cfg.ranks > 1 then
      print(string.format("  batch %-5d model %.2fx (allreduce alone: fastest %.3f ms, median %.3f ms)" ..
                          "  measured %.2fx (reduce in fit %.3f ms/step, compute %.3f ms/step)", b,
                          median(slot.model), median(slot.amin), median(slot.alone),
                          median(slot.ratio), median(slot.reduce), median(slot.compute)))
    end
  end
end
