-- A rank that fails during data-parallel fit (issue 20): the others end
-- with an error naming it, by themselves (a watchdog would show a hang as
-- exit code 124: no test here measures time), and the last checkpoint
-- rank 0 wrote stays whole. Jobs of 2 ranks run data/fault.lua, which
-- makes one rank raise, die (SIGKILL) or stop answering in epoch 3.
-- SKIPPED (77) when lunet.mpi is not built.
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/../lua/testlib.lua")
local J = dofile(here .. "/data/jobs.lua")
J.skip_unless_mpi()
local test = T.test

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

local STEPS = (2000 + 31) // 32 -- steps per epoch of fault.lua

-- Run fault.lua making `rank` fail with `how`; returns the exit code and
-- the output, after checking the checkpoint holds the 2 finished epochs.
local function fault(how, rank, env, mpi_opts)
  local dir = J.tmpdir("lunet_mpi_fault")
  env = env or {}
  env.OMP_NUM_THREADS = "1"
  local rc, out = J.run(2, "data/fault.lua", {dir, how, tostring(rank), "3"}, env, 300, mpi_opts)
  check(rc ~= 124, "the job hung (killed by the watchdog):\n%s", out)
  check(out:find("injecting '" .. how .. "' in epoch 3", 1, true), "no fault injected:\n%s", out)
  check(not out:find("finished", 1, true), "a rank finished its fit:\n%s", out)
  local ok, m = pcall(ln.models.load_model, dir .. "/ckpt.h5")
  check(ok, "the checkpoint does not load: %s", tostring(m))
  T.eq(m.optimizer.iterations, 2 * STEPS, "the checkpoint's iterations (2 epochs)")
  os.execute("rm -rf " .. J.quote(dir))
  return rc, out
end

test("a rank that raises: the other one fails naming it and its error", function()
  local rc, out = fault("raise", 1)
  check(rc ~= 0, "exit code 0")
  check(out:find("rank 0: [^\n]*rank 1 failed: [^\n]*fault%.lua:%d+: fault%.lua: injected failure"),
        "rank 0's message does not name rank 1 and its error:\n%s", out)
end)

test("rank 0 raises: rank 1 fails naming it", function()
  local rc, out = fault("raise", 0)
  check(rc ~= 0, "exit code 0")
  check(out:find("rank 1: [^\n]*rank 0 failed: [^\n]*injected failure"),
        "rank 1's message does not name rank 0:\n%s", out)
end)

test("a rank killed by SIGKILL: the launcher ends the job, naming it", function()
  local rc, out = fault("kill", 1)
  check(rc ~= 0, "exit code 0")
  check(out:find("rank 1 [^\n]*signal 9"), "no message names rank 1:\n%s", out)
end)

test("a rank that stops answering: the other one gives up after the timeout, naming it", function()
  local rc, out = fault("hang", 1, {LUNET_DIST_TIMEOUT = "3"})
  check(rc ~= 0, "exit code 0")
  check(out:find("rank 0: [^\n]*no answer from rank 1 for 3 s"), "no timeout message:\n%s", out)
end)

test("a dead rank the launcher does not reap (--enable-recovery): the timeout names it", function()
  local _, out = fault("kill", 1, {LUNET_DIST_TIMEOUT = "3"}, "--enable-recovery")
  check(out:find("rank 0: [^\n]*no answer from rank 1 for 3 s"), "no timeout message:\n%s", out)
end)

-- A rank whose script raises outside fit (its own code, a custom loop),
-- once MPI runs: the lunet interpreter's exit hook tells the others before
-- the process exits. The others' wait limit is 600 s and the watchdog's
-- 120 s, so a rank left waiting for the failed one shows as a hang (124).
local function outside(how, rank)
  local rc, out = J.run(2, "data/raise_outside.lua", {how, tostring(rank)},
                        {OMP_NUM_THREADS = "1", LUNET_DIST_TIMEOUT = "600"}, 120)
  check(rc ~= 124, "the job hung (killed by the watchdog):\n%s", out)
  check(rc ~= 0, "exit code 0")
  check(not out:find("finished", 1, true), "a rank finished:\n%s", out)
  local other = 1 - rank
  check(out:find(string.format("rank %d: [^\n]*raise_outside%%.lua:%%d+: raise_outside%%.lua: injected failure", rank)),
        "rank %d's own message does not name it:\n%s", rank, out)
  check(out:find(string.format("rank %d: [^\n]*rank %d failed: [^\n]*raise_outside%%.lua:%%d+: [^\n]*injected failure", other, rank)),
        "rank %d's message does not name rank %d and its error:\n%s", other, rank, out)
  check(not out:find("failed: rank " .. rank .. ":", 1, true), "the notice repeats the rank:\n%s", out)
end

test("a rank that raises before fit: the other one, waiting in fit, fails at once naming it", function()
  outside("before_fit", 1)
  outside("before_fit", 0)
end)

test("a rank that raises in a custom loop: the other one fails at once naming it", function()
  outside("custom_loop", 1)
end)

T.summary("test_mpi_faults")
