-- `mpirun -np 2 lunet script.lua` for a script that calls fit, unchanged
-- (issue 20): the seed's experiment 1 (scripts/01_he_init_leaky_relu.lua,
-- in smoke mode: 1 epoch on the repo's Fashion-MNIST sample) in one
-- process and in 2 ranks. The 2 ranks train the model one process trains
-- (the saved models within 1e-5), only rank 0 prints fit's and evaluate's
-- progress bars, and the script's own prints run on both ranks.
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

local dir = J.tmpdir("lunet_mpi_script")
local SCRIPT = "../../scripts/01_he_init_leaky_relu.lua" -- relative to tests/mpi
local ENV = {OMP_NUM_THREADS = "1", LUNET_SMOKE = "1"}

local function count(out, pattern)
  local n = 0
  for _ in out:gmatch(pattern) do n = n + 1 end
  return n
end

-- The saved model's weights, as one flat list.
local function weights(path)
  local m = ln.models.load_model(path)
  local all = {}
  for _, w in ipairs(m:get_weights()) do
    for _, v in ipairs(w:flatten():totable()) do all[#all + 1] = v end
  end
  return all
end

test("the seed's experiment 1, unchanged, under mpirun -np 2", function()
  local rc1, out1 = J.run(nil, SCRIPT, {dir .. "/np1"}, ENV)
  check(rc1 == 0, "1 process: exit %s\n%s", tostring(rc1), out1)
  local rc2, out2 = J.run(2, SCRIPT, {dir .. "/np2"}, ENV)
  check(rc2 == 0, "2 ranks: exit %s\n%s", tostring(rc2), out2)
  -- fit's epoch line and evaluate's final line: rank 0 only, as in one process
  local function bars(out)
    local fit, eval = 0, 0
    -- (mpirun gives the ranks a terminal: bars redraw with \r and \b)
    for line in out:gmatch("[^\r\n\b]+") do
      local done, all = line:match("^%s*(%d+)/(%d+) ")
      if done and done == all and line:find("loss: ", 1, true) and not line:find("ETA", 1, true) then
        if line:find("val_loss", 1, true) then fit = fit + 1 else eval = eval + 1 end
      end
    end
    return fit, eval
  end
  local f1, e1 = bars(out1)
  T.eq(f1, 1, "epoch lines, 1 process")
  T.eq(e1, 1, "evaluate's final lines, 1 process")
  local f2, e2 = bars(out2)
  T.eq(f2, 1, "epoch lines, 2 ranks (rank 0 only)")
  T.eq(e2, 1, "evaluate's final lines, 2 ranks (rank 0 only)")
  -- the script's own prints: on every rank
  T.eq(count(out2, "RESULT exp1 "), 2, "the script's RESULT lines (one per rank)")
  T.eq(count(out2, "saved [^\n]*my_model%.h5"), 2, "the script's 'saved' lines")
  -- the same model, to float rounding (the global batch of 32 is split)
  local a, b = weights(dir .. "/np1/my_model.h5"), weights(dir .. "/np2/my_model.h5")
  T.eq(#a, 266610, "parameters")
  T.eq(#b, #a, "parameters, 2 ranks")
  local d = 0
  for i = 1, #a do d = math.max(d, math.abs(a[i] - b[i])) end
  check(d <= 1e-5, "2 ranks against 1 process: max |diff| %g", d)
  check(J.exists(dir .. "/np2/keras_learning_curves.csv"), "no history CSV")
end)

test("before MPI starts, evaluate and predict print on rank 0 only (the launcher's rank)", function()
  local rc, out = J.run(2, "data/quiet.lua", {}, {OMP_NUM_THREADS = "1"})
  check(rc == 0, "exit %s\n%s", tostring(rc), out)
  T.eq(count(out, "4/4 %- "), 2, "final lines of evaluate and predict (rank 0's)")
  T.eq(count(out, "QUIET initialized=false"), 2, "MPI started")
  T.eq(count(out, "writes_files=true"), 1, "ranks that write files")
end)

os.execute("rm -rf " .. J.quote(dir))
T.summary("test_mpi_script")
