--[==[ exp1_timed.lua -- one measurement of bench/run_exp1_mpi.lua: runs the
seed's experiment 1 (scripts/01_he_init_leaky_relu.lua, unchanged: 10
epochs at batch 32, the test evaluation) in this process -- alone or as
one rank under mpirun -- with fit timed (between barriers), and prints
one line per rank:

  FIT rank=0 ranks=2 threads=1 overlap=1 epochs=10 fit_seconds=...
      reduce_ms=... wait_ms=... overlapped=... weights=<FNV-1a of the bytes>

  [mpirun -np N] lunet bench/exp1_timed.lua OUTDIR ]==]
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local script = here .. "/../scripts/01_he_init_leaky_relu.lua"
local outdir = assert(arg[1], "usage: exp1_timed.lua OUTDIR")
local ln = require "lunet"
local D = ln.distributed

local methods = require("lunet.models").methods
local fit = methods.fit
local timed = {}
methods.fit = function(self, x, y, opts)
  D.barrier()
  local t0 = ln.time()
  local h = fit(self, x, y, opts)
  D.barrier()
  timed.seconds, timed.epochs, timed.model = ln.time() - t0, #h.history.loss, self
  timed.stats = D.stats().fit
  return h
end

arg = {[0] = script, outdir}
dofile(script)

-- FNV-1a (32 bits) of the final weights' float32 bytes: ranks and runs compare
local h = 2166136261
for _, w in ipairs(timed.model:get_weights()) do
  local bytes = {}
  for i, v in ipairs(w:flatten():totable()) do bytes[i] = string.pack("<f", v) end
  local s = table.concat(bytes)
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
end
local s = timed.stats or {seconds = 0, wait_seconds = 0, calls = 1, overlapped = 0}
local steps = math.max(s.calls, 1)
print(string.format("FIT rank=%d ranks=%d threads=%d overlap=%d epochs=%d fit_seconds=%.3f " ..
                    "reduce_ms=%.4f wait_ms=%.4f overlapped=%d weights=%08x", D.rank(), D.size(),
                    ln.get_num_threads(), D.overlapping() and 1 or 0, timed.epochs, timed.seconds,
                    1e3 * s.seconds / steps, 1e3 * s.wait_seconds / steps, s.overlapped, h))
