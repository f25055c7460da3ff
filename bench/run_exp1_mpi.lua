--[==[ run_exp1_mpi.lua -- the seed's experiment 1 (scripts/01_*, 10 epochs
at batch 32, unchanged) on 2 ranks against 1, and the gradient exchange
overlapping backward against after it, side by side in ONE run
(docs/distributed.md). Configurations, each in fresh processes, in a
rotating order every round, the load average read before each:
  1 rank  x 1 thread              the baseline
  1 rank  x 2 threads             lunet's thread team on the 2 cores
  2 ranks x 1 thread, overlap     mpirun -np 2 (the default)
  2 ranks x 1 thread, no overlap  LUNET_DIST_OVERLAP=0
Prints every measurement (fit seconds per epoch, test and validation
accuracy, the reducer's time per step, the weights' checksum per rank),
then per configuration the medians and the median ratios to the same
round's other configurations.

  lunet bench/run_exp1_mpi.lua [rounds]     (default 3)
Environment: LUNET (the executable), MPIEXEC (default mpiexec), TMPDIR.
As root, set OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1. ]==]
local rounds = math.tointeger(tonumber(arg[1] or "3"))
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local lunet = os.getenv("LUNET") or (here .. "/../build/bin/lunet")
local worker = here .. "/exp1_timed.lua"
local B = dofile(here .. "/dist_lib.lua")
local median = B.median
local tmp = (os.getenv("TMPDIR") or "/tmp") .. "/lunet_exp1_mpi"

local CONFIGS = {
  {name = "1 rank x 1 thread", ranks = 1, threads = 1},
  {name = "1 rank x 2 threads", ranks = 1, threads = 2},
  {name = "2 ranks, overlap", ranks = 2, threads = 1, overlap = 1},
  {name = "2 ranks, no overlap", ranks = 2, threads = 1, overlap = 0},
}

-- One run: {epoch_s, test_acc, val_acc, reduce_ms, wait_ms, overlapped, sums = {per rank}}.
local function run(cfg, i)
  local out_dir = string.format("%s/c%d", tmp, i)
  os.execute("mkdir -p '" .. out_dir .. "'")
  local out, cmd = B.run(cfg.ranks, cfg.threads, {LUNET_DIST_OVERLAP = cfg.overlap or 1}, lunet,
                         string.format("%s '%s'", worker, out_dir))
  local r = {sums = {}}
  for line in out:gmatch("FIT [^\n]*") do
    local f = {}
    for k, v in line:gmatch("([%w_]+)=(%S+)") do f[k] = v end
    r.sums[tonumber(f.rank) + 1] = f.weights
    if f.rank == "0" then
      r.epoch_s = tonumber(f.fit_seconds) / tonumber(f.epochs)
      r.reduce_ms, r.wait_ms = tonumber(f.reduce_ms), tonumber(f.wait_ms)
      r.overlapped = tonumber(f.overlapped)
    end
  end
  local res = out:match("RESULT exp1 [^\n]*")
  if not r.epoch_s or not res or #r.sums ~= cfg.ranks then
    error("no FIT/RESULT lines from: " .. cmd .. "\n" .. out)
  end
  r.test_acc = tonumber(res:match("test_accuracy=(%S+)"))
  r.val_acc = tonumber(res:match("val_accuracy=(%S+)"))
  return r
end

local all = {}
for i = 1, #CONFIGS do all[i] = {} end
print(string.format("%-5s %-20s %6s %9s %9s %8s %10s %8s %10s  %s", "round", "config", "load",
                    "s/epoch", "test acc", "val acc", "reduce ms", "wait ms", "overlapped",
                    "weights (per rank)"))
for round = 1, rounds do
  for k = 0, #CONFIGS - 1 do
    local i = (round + k - 1) % #CONFIGS + 1 -- rotate the order every round
    local load = tonumber(B.load_avg()) or 0
    local r = run(CONFIGS[i], i)
    r.load = load
    all[i][round] = r
    print(string.format("%-5d %-20s %6.2f %9.3f %9.4f %8.4f %10.3f %8.3f %10d  %s", round,
                        CONFIGS[i].name, load, r.epoch_s, r.test_acc, r.val_acc, r.reduce_ms or 0,
                        r.wait_ms or 0, r.overlapped or 0, table.concat(r.sums, " ")))
  end
end

-- the median over rounds of a per-round figure f(round)
local function med(f)
  local t = {}
  for round = 1, rounds do t[round] = f(round) end
  return median(t)
end
local function ep(i, round) return all[i][round].epoch_s end

print()
print(string.format("%-20s %10s %10s %10s %10s %10s", "config", "s/epoch", "test acc",
                    "reduce ms", "wait ms", "load"))
for i, cfg in ipairs(CONFIGS) do
  print(string.format("%-20s %10.3f %10.4f %10.3f %10.3f %10.2f", cfg.name,
                      med(function(r) return ep(i, r) end),
                      med(function(r) return all[i][r].test_acc end),
                      med(function(r) return all[i][r].reduce_ms or 0 end),
                      med(function(r) return all[i][r].wait_ms or 0 end),
                      med(function(r) return all[i][r].load end)))
end
print()
print("median ratios of epoch time, same round:")
print(string.format("  2 ranks (overlap) / 1 rank x 1 thread   %.3f", med(function(r) return ep(3, r) / ep(1, r) end)))
print(string.format("  2 ranks (overlap) / 1 rank x 2 threads  %.3f", med(function(r) return ep(3, r) / ep(2, r) end)))
print(string.format("  overlap on / off (2 ranks)              %.3f", med(function(r) return ep(3, r) / ep(4, r) end)))
print(string.format("  1 rank x 2 threads / 1 thread           %.3f", med(function(r) return ep(2, r) / ep(1, r) end)))
print("accuracy, 2 ranks - 1 rank (same in every round: the runs are deterministic):")
print(string.format("  test %+.4f, validation %+.4f", all[3][1].test_acc - all[1][1].test_acc,
                    all[3][1].val_acc - all[1][1].val_acc))
local same = true
for round = 1, rounds do
  for i = 3, 4 do same = same and all[i][round].sums[1] == all[3][1].sums[1] and all[i][round].sums[2] == all[3][1].sums[1] end
end
print("2 ranks: the weights bitwise the same on both ranks, in every round, overlap on and off: " ..
      tostring(same))
