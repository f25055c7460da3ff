-- Data-parallel fit (issue 20), through MPI jobs this test launches
-- (mpiexec -np N --oversubscribe): the workers in data/ train in one plain
-- process and in 2 or 3 ranks, write their weights and histories, and the
-- test compares them:
--  - the seed's experiment 1, one epoch: 2 ranks = 1 process within 1e-6,
--    and the ranks (and two runs) bitwise equal;
--  - the gradient exchange overlapping backward, or after it, or mixed
--    across ranks: the same bits (2 and 3 ranks);
--  - every path of fit (runs of batches, batch callbacks, accumulation, a
--    Lua optimizer, DistributedOptimizer, a last batch of one row,
--    per_rank_batch, a layer written in Lua -- the tape path -- in a
--    Sequential and a functional model, a subclassed model) at 2 and 3
--    ranks against one process;
--  - BatchNormalization and Dropout: the ranks stay identical;
--  - only rank 0 prints and writes the callbacks' files;
--  - a checkpoint written by N ranks resumes with M.
-- SKIPPED (77) when lunet.mpi is not built.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/../lua/testlib.lua")
local J = dofile(here .. "/data/jobs.lua")
J.skip_unless_mpi()
local test = T.test

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

local dir = J.tmpdir("lunet_mpi_fit")
local ENV = {OMP_NUM_THREADS = "1"}

-- Run a worker; fails with its output when it fails.
local function job(np, script, args)
  local rc, out = J.run(np, script, args, ENV)
  check(rc == 0, "%s %s on %s processes: exit %s\n%s", script, table.concat(args, " "),
        tostring(np or 1), tostring(rc), out)
  return out
end

-- The weights of rank r of the run at prefix p, as bytes.
local function weights(p, r) return assert(J.read(string.format("%s.r%d.bin", p, r)), p) end
local function history(p, r) return J.numbers(string.format("%s.r%d.txt", p, r)) end

local function near_lists(a, b, tol, what)
  T.eq(#a, #b, what .. ": length")
  for i = 1, #a do
    check(math.abs(a[i] - b[i]) <= tol * math.max(1, math.abs(b[i])),
          "%s: entry %d: %.17g against %.17g", what, i, a[i], b[i])
  end
end

test("experiment 1, one epoch: 2 ranks give 1 process's weights within 1e-6, bitwise across ranks and runs", function()
  job(nil, "data/exp1.lua", {dir .. "/exp1_ref"})
  job(2, "data/exp1.lua", {dir .. "/exp1_a"})
  job(2, "data/exp1.lua", {dir .. "/exp1_b"})
  local ref, a0, a1, b0 = weights(dir .. "/exp1_ref", 0), weights(dir .. "/exp1_a", 0),
                          weights(dir .. "/exp1_a", 1), weights(dir .. "/exp1_b", 0)
  T.eq(#ref, 4 * 266610, "weight bytes")
  check(a0 == a1, "rank 1's weights differ from rank 0's")
  check(a0 == b0, "a second run differs")
  local d = J.maxdiff(a0, ref)
  check(d <= 1e-6, "2 ranks against 1 process: max |diff| %g", d)
  -- the history is the sample-weighted mean over both ranks
  local ha, href = history(dir .. "/exp1_a", 0), history(dir .. "/exp1_ref", 0)
  near_lists({table.unpack(ha, 1, 4)}, {table.unpack(href, 1, 4)}, 1e-6, "history")
  T.eq(J.read(dir .. "/exp1_a.r0.txt"):match("^[^s]*"), J.read(dir .. "/exp1_a.r1.txt"):match("^[^s]*"),
       "history on both ranks")
end)

-- The steps of a run and those whose exchange overlapped backward (rank r).
local function overlap_steps(p, r)
  local s = assert(J.read(string.format("%s.r%d.txt", p, r)))
  return tonumber(s:match("steps=(%d+)")), tonumber(s:match("overlapped=(%d+)"))
end

test("overlap: exchanging the gradients during backward changes no bit (on, off, mixed; 2 and 3 ranks)", function()
  local on = weights(dir .. "/exp1_a", 0)
  for r = 0, 1 do
    local steps, ov = overlap_steps(dir .. "/exp1_a", r)
    T.eq(steps, 1719, "exchanges in an epoch of batch 32")
    check(ov >= steps - 2, "rank %d: only %d of %d steps overlapped backward", r, ov, steps)
  end
  local function run(np, p, env)
    local e = {OMP_NUM_THREADS = "1"}
    for k, v in pairs(env) do e[k] = v end
    local rc, out = J.run(np, "data/exp1.lua", {p}, e)
    check(rc == 0, "exp1 on %s ranks (%s): exit %s\n%s", tostring(np or 1), p, tostring(rc), out)
  end
  run(2, dir .. "/exp1_off", {LUNET_DIST_OVERLAP = "0"})
  run(2, dir .. "/exp1_mixed", {EXP1_OVERLAP = "mixed"})
  T.eq(select(2, overlap_steps(dir .. "/exp1_off", 0)), 0, "steps overlapped with overlap off")
  T.eq(select(2, overlap_steps(dir .. "/exp1_mixed", 1)), 0, "rank 1's overlapped steps (mixed)")
  check(select(2, overlap_steps(dir .. "/exp1_mixed", 0)) > 0, "rank 0 did not overlap (mixed)")
  for _, p in ipairs({"exp1_off", "exp1_mixed"}) do
    for r = 0, 1 do
      check(weights(dir .. "/" .. p, r) == on, "%s, rank %d: the weights differ from overlap on", p, r)
    end
  end
  -- 3 ranks (on 320 rows: 3 processes share 2 cores): buckets of 64 K
  -- floats go through reduce-scatter + allgather
  run(3, dir .. "/exp1_3on", {EXP1_ROWS = "320"})
  run(3, dir .. "/exp1_3off", {EXP1_ROWS = "320", LUNET_DIST_OVERLAP = "0"})
  local on3 = weights(dir .. "/exp1_3on", 0)
  check(select(2, overlap_steps(dir .. "/exp1_3on", 2)) > 0, "3 ranks did not overlap")
  for r = 0, 2 do
    check(weights(dir .. "/exp1_3on", r) == on3, "3 ranks, rank %d differs from rank 0", r)
    check(weights(dir .. "/exp1_3off", r) == on3, "3 ranks, overlap off: rank %d differs", r)
  end
  run(nil, dir .. "/exp1_3ref", {EXP1_ROWS = "320"})
  local d = J.maxdiff(on3, weights(dir .. "/exp1_3ref", 0))
  check(d <= 1e-6, "3 ranks against 1 process (10 steps): max |diff| %g", d)
end)

local CASES = {"sgd", "batch_cb", "accum", "lua_opt", "tiny_last", "dist_opt", "per_rank",
               "lua_layer", "lua_layer_fn", "subclassed"}

test("every path of fit: 2 and 3 ranks give 1 process's weights and history", function()
  for _, case in ipairs(CASES) do
    local p1 = dir .. "/" .. case .. "_np1"
    job(nil, "data/small.lua", {p1, case})
    for _, np in ipairs(case == "per_rank" and {2} or {2, 3}) do -- (32 // 3 * 3 is 30)
      local p = dir .. "/" .. case .. "_np" .. np
      job(np, "data/small.lua", {p, case})
      local w0 = weights(p, 0)
      for r = 1, np - 1 do
        check(weights(p, r) == w0, "%s, %d ranks: rank %d's weights differ from rank 0's", case, np, r)
        T.eq(J.read(p .. ".r" .. r .. ".txt"), J.read(p .. ".r0.txt"), case .. ": history of rank " .. r)
      end
      local d = J.maxdiff(w0, weights(p1, 0))
      check(d <= 1e-6, "%s, %d ranks against 1 process: max |diff| %g", case, np, d)
      near_lists(history(p, 0), history(p1, 0), 1e-6, case .. " history, " .. np .. " ranks")
    end
  end
end)

test("the paths agree: batch callbacks, DistributedOptimizer and runs bitwise; accumulation", function()
  local sgd = weights(dir .. "/sgd_np2", 0)
  check(weights(dir .. "/batch_cb_np2", 0) == sgd, "batch callbacks change the numbers")
  check(weights(dir .. "/dist_opt_np2", 0) == sgd, "DistributedOptimizer changes the numbers")
  -- batch 11 x 3 accumulated: the rows of batch 33, one update per 3 batches
  local d = J.maxdiff(weights(dir .. "/accum_np1", 0), weights(dir .. "/sgd_np1", 0))
  check(d <= 1e-6, "accumulate_steps = 3 at batch 11 against batch 33: %g", d)
  local it_acc, it_sgd = history(dir .. "/accum_np2", 0), history(dir .. "/sgd_np2", 0)
  T.eq(it_acc[#it_acc], it_sgd[#it_sgd], "optimizer iterations")
  T.eq(it_sgd[#it_sgd], 56, "iterations of 2 epochs of 28 steps")
end)

test("BatchNormalization and Dropout: the ranks stay identical, run after run", function()
  job(2, "data/small.lua", {dir .. "/bn_a", "bn_drop"})
  job(2, "data/small.lua", {dir .. "/bn_b", "bn_drop"})
  local a0 = weights(dir .. "/bn_a", 0)
  check(weights(dir .. "/bn_a", 1) == a0, "rank 1's weights (moving statistics) differ")
  check(weights(dir .. "/bn_b", 0) == a0, "a second run differs")
  T.eq(J.read(dir .. "/bn_a.r1.txt"), J.read(dir .. "/bn_a.r0.txt"), "history on both ranks")
end)

test("only rank 0 prints the progress and writes the callbacks' files", function()
  local p = dir .. "/files"
  local out = job(2, "data/small.lua", {p, "files"})
  local function count(s)
    local n = 0
    for _ in out:gmatch(s) do n = n + 1 end
    return n
  end
  T.eq(count("Epoch 1/2"), 1, "'Epoch 1/2' lines")
  T.eq(count("28/28 %- "), 2, "epoch lines")
  T.eq(count("saving model to"), 2, "ModelCheckpoint messages")
  T.eq(count("rank %d finished"), 2, "the script's own prints (every rank)")
  check(J.exists(p .. ".ckpt.r0.h5") and J.exists(p .. ".log.r0.csv"), "rank 0's files are missing")
  check(not J.exists(p .. ".ckpt.r1.h5") and not J.exists(p .. ".log.r1.csv"), "rank 1 wrote files")
  -- the CSV holds the reduced history (rank 0's history file has the same numbers)
  local csv = J.read(p .. ".log.r0.csv")
  local row = csv:match("\n1,([^\n]+)")
  check(row, "no row for epoch 1 in\n%s", csv)
  local h = history(p, 0)
  local first = tonumber(row:match("^([^,]+)")) -- accuracy (sorted names)
  check(math.abs(first - h[6]) <= 1e-12, "CSV accuracy %s against %s", tostring(first), tostring(h[6]))
end)

test("a checkpoint resumes with another number of processes: the same trajectory", function()
  local function run(np, sub, mode, epochs)
    os.execute("mkdir -p " .. J.quote(dir .. "/" .. sub))
    job(np, "data/resume.lua", {dir .. "/" .. sub, mode, tostring(epochs)})
  end
  run(2, "whole2", "train", 4)                -- uninterrupted, 2 ranks
  run(2, "cut2to1", "train", 2)               -- 2 ranks for 2 epochs ...
  run(nil, "cut2to1", "resume", 4)            -- ... 1 process for the rest
  run(nil, "cut1to3", "train", 1)             -- 1 process for 1 epoch ...
  run(3, "cut1to3", "resume", 4)              -- ... 3 ranks for the rest
  local whole = weights(dir .. "/whole2/final", 0)
  for _, sub in ipairs({"cut2to1", "cut1to3"}) do
    local d = J.maxdiff(weights(dir .. "/" .. sub .. "/final", 0), whole)
    check(d <= 1e-5, "%s against the uninterrupted run: max |diff| %g", sub, d)
  end
end)

os.execute("rm -rf " .. J.quote(dir))
T.summary("test_mpi_fit")
