--[==[ dist_lib.lua -- what the data-parallel benches share
(run_distributed.lua, run_exp1_mpi.lua): the load average, the median,
and the command line of one run in fresh processes, alone or under
mpiexec. ]==]
local L = {}

--- The 1-minute load average, as /proc/loadavg prints it ("?" if unknown).
function L.load_avg()
  local f = io.open("/proc/loadavg")
  local s = f and f:read("l") or "?"
  if f then f:close() end
  return s:match("^(%S+)") or "?"
end

function L.median(t)
  local s = {table.unpack(t)}
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

--- Runs `lunet args` with OMP_NUM_THREADS = threads (passive waits) and
-- the variables of env (name -> value), under `mpiexec -np ranks` when
-- ranks > 1; returns its output (stdout and stderr).
function L.run(ranks, threads, env, lunet, args)
  local cmd = string.format("OMP_NUM_THREADS=%d OMP_WAIT_POLICY=passive ", threads)
  local fwd = "-x OMP_NUM_THREADS -x OMP_WAIT_POLICY"
  for k, v in pairs(env or {}) do
    cmd = cmd .. string.format("%s=%s ", k, v)
    fwd = fwd .. " -x " .. k
  end
  if ranks > 1 then
    cmd = cmd .. string.format("%s -np %d --oversubscribe --bind-to none %s ",
                               os.getenv("MPIEXEC") or "mpiexec", ranks, fwd)
  end
  local p = assert(io.popen(cmd .. lunet .. " " .. args .. " 2>&1"))
  local out = p:read("a")
  p:close()
  return out, cmd .. lunet .. " " .. args
end

return L
