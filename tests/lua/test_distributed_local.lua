-- ln.distributed in a process no launcher started (issue 20): a world of
-- one, where every call is the identity and MPI is never loaded -- so
-- scripts written for mpirun run unchanged alone, and lunet without the
-- MPI module (or with it, unused) behaves as before. Also: neither the
-- lunet executable nor liblunet links MPI; index:shard (each process's
-- share of every batch).
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test
local D = ln.distributed

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

local function mpi_mapped()
  local f = io.open("/proc/self/maps", "r")
  if not f then return nil end
  local maps = f:read("a")
  f:close()
  return maps:find("libmpi", 1, true) ~= nil
end

if D.launched_size() then
  io.stderr:write("SKIP: run under a launcher (this test is about a process alone)\n")
  os.exit(77)
end

test("a world of one: rank 0 of 1, calls are the identity", function()
  T.eq(D.rank(), 0, "rank")
  T.eq(D.size(), 1, "size")
  T.eq(D.is_main(), true, "is_main")
  local t = ln.tensor({1, 2})
  check(D.allreduce(t, {op = "mean"}) == t, "the tensor itself")
  T.eq(t[2], 2, "unchanged")
  T.eq(D.allreduce(3.5), 3.5, "number")
  T.eq(D.allreduce({1, t})[1], 1, "list")
  T.eq(D.broadcast("x", 0), "x", "broadcast")
  T.raises(function() D.broadcast(1, 1) end, "root 1 outside ranks 0..0")
  T.raises(function() D.allreduce(t, {op = "prod"}) end, "op")
  T.eq(D.overlapping(), os.getenv("LUNET_DIST_OVERLAP") ~= "0", "overlap by default")
  T.raises(function() D.init{overlap = 1} end, "overlap must be true or false")
  T.raises(function() D.init{overlaps = true} end, "overlaps")
  D.barrier()
  T.eq(D.stats().calls, 0, "no collectives")
  T.eq(D.initialized(), false, "MPI not started")
end)

test("DistributedOptimizer alone is its optimizer", function()
  local function model(opt)
    ln.random.seed(1)
    local m = ln.Sequential{ln.layers.Dense{3, input_shape = {4}}}
    m:compile{loss = "mse", optimizer = opt}
    return m
  end
  local a = model(D.DistributedOptimizer(ln.optimizers.Adam{}))
  local b = model(ln.optimizers.Adam{})
  ln.random.seed(2)
  local x, y = ln.randn(40, 4), ln.randn(40, 3)
  a:fit(x, y, {epochs = 2, verbose = 0, shuffle = false})
  b:fit(x, y, {epochs = 2, verbose = 0, shuffle = false})
  T.eq(a.optimizer.iterations, 4, "iterations through the wrapper")
  local wa, wb = a:get_weights()[1]:totable(), b:get_weights()[1]:totable()
  for i = 1, #wa do
    for j = 1, #wa[i] do T.eq(wa[i][j], wb[i][j], "weight") end
  end
  -- the wrapper in a custom loop
  local opt = D.DistributedOptimizer(ln.optimizers.SGD{learning_rate = 0.5}, {op = "sum"})
  opt:apply_gradients(a:grads_and_vars())
  T.eq(opt.iterations, 1, "custom loop")
  T.raises(function() D.DistributedOptimizer(ln.optimizers.SGD{}, {op = "max"}) end, "op")
end)

test("fit and the calls above never load MPI", function()
  local mapped = mpi_mapped()
  if mapped == nil then return T.skip("no /proc/self/maps") end
  check(not mapped, "libmpi is mapped in this process")
end)

test("the lunet executable and liblunet do not link MPI", function()
  local build = os.getenv("LUNET_BUILD_DIR") or (here .. "/../../build")
  if not os.execute("command -v ldd >/dev/null 2>&1") then return T.skip("no ldd") end
  for _, f in ipairs({build .. "/bin/lunet", build .. "/lib/liblunet.so"}) do
    local p = io.popen("ldd '" .. f .. "' 2>&1")
    local out = p:read("a")
    p:close()
    check(out:find("=>", 1, true), "ldd %s: %s", f, out)
    check(not out:find("libmpi", 1, true), "%s links MPI:\n%s", f, out)
  end
end)

test("index:shard: the shares of every batch partition it, in order", function()
  local nn = ln.core.nn
  local src = nn.index_new(23)
  src:shuffle()
  local order = src:totable()
  for _, np in ipairs({1, 2, 3, 5}) do
    local seen, all = {}, {}
    for p = 0, np - 1 do
      local n = 0
      for s = 0, 22, 7 do -- batches of 7, the last of 2
        local b = math.min(7, 23 - s)
        n = n + (b * (p + 1) // np - b * p // np)
      end
      local ix = nn.index_new(n)
      ix:shard(src, 23, 7, np, p)
      all[p] = ix:totable()
    end
    -- batch k of part p follows batch k of part p - 1 in the source order
    local k = {}
    for p = 0, np - 1 do k[p] = 1 end
    local pos = 1
    for s = 0, 22, 7 do
      local b = math.min(7, 23 - s)
      for p = 0, np - 1 do
        for _ = 1, b * (p + 1) // np - b * p // np do
          T.eq(all[p][k[p]], order[pos], string.format("%d parts: part %d, position %d", np, p, pos))
          seen[order[pos]] = true
          k[p], pos = k[p] + 1, pos + 1
        end
      end
    end
    T.eq(pos, 24, "every position")
  end
  T.raises(function() nn.index_new(3):shard(src, 23, 7, 2, 0) end, "share is")
  T.raises(function() nn.index_new(3):shard(src, 23, 7, 8, 0) end, "bad arguments")
end)

T.summary("test_distributed_local")
