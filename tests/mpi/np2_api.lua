-- ln.distributed from Lua, run by CTest as `mpirun -np 2 lunet np2_api.lua`
-- (each rank runs every test; mpirun fails when one rank fails): rank,
-- size, allreduce of tensors, numbers and lists (the same bits on every
-- rank, in rank order), broadcast of tensors, values, models and
-- optimizers, barrier, errors, and DistributedOptimizer in a custom loop
-- against one process's step on the whole batch.
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/../lua/testlib.lua")
local test = T.test
local D = ln.distributed

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

local function bits(t)
  local parts = {}
  for _, v in ipairs(t:flatten():totable()) do parts[#parts + 1] = string.pack("<f", v) end
  return table.concat(parts)
end

local rank, size = D.rank(), D.size()

local function list(t)
  local out = {}
  for i, v in ipairs(t:totable()) do out[i] = string.format("%g", v) end
  return table.concat(out, ",")
end

test("rank, size, is_main under mpirun -np 2", function()
  T.eq(size, 2, "size")
  check(rank == 0 or rank == 1, "rank %s", tostring(rank))
  T.eq(D.is_main(), rank == 0, "is_main")
  T.eq(D.initialized(), true, "initialized")
  T.eq(D.launched_size(), 2, "launched_size")
end)

test("allreduce of float32 tensors: sum, mean, max, in place", function()
  local t = ln.tensor({1, 2, 3, 4, 5}) * (rank + 1)
  local r = D.allreduce(t)
  check(r == t, "returns the tensor")
  T.eq(list(t), "3,6,9,12,15", "sum")
  local m = D.allreduce(ln.tensor({2, 4}) * (rank + 1), {op = "mean"})
  T.eq(list(m), "3,6", "mean")
  local x = D.allreduce(ln.tensor({rank, -rank, 7}), {op = "max"})
  T.eq(list(x), "1,0,7", "max")
end)

test("allreduce of int32 tensors", function()
  local t = ln.tensor({1, 2, 3}):int() * (rank + 1)
  D.allreduce(t)
  T.eq(list(t), "3,6,9", "int sum")
end)

test("allreduce of numbers and lists", function()
  T.eq(D.allreduce(rank + 0.5), 2.0, "number sum")
  T.eq(D.allreduce(rank, "max"), 1, "string op")
  local t = ln.tensor({rank, 1})
  local l = D.allreduce({rank + 1, t, 10}, {op = "mean"})
  T.eq(l[1], 1.5, "list number")
  check(l[2] == t, "list keeps the tensor")
  T.eq(list(t), "0.5,1", "list tensor")
  T.eq(l[3], 10, "list number 2")
end)

test("allreduce: a big tensor, the same bits on every rank", function()
  ln.random.seed(100 + rank) -- different values on each rank
  local t = ln.randn(100003) * 1000
  local mine = bits(t)
  D.allreduce(t, {op = "mean"})
  local r0 = D.broadcast(ln.tensor(t:totable()), 0)
  T.eq(bits(r0), bits(t), "rank 0's result")
  check(bits(t) ~= mine, "reduced")
  -- the value of element 1 is the mean of both ranks' draws, in double
  ln.random.seed(100)
  local a = ln.randn(100003) * 1000
  ln.random.seed(101)
  local b = ln.randn(100003) * 1000
  local want = string.unpack("<f", string.pack("<f", (a[1] + b[1]) / 2))
  T.eq(t[1], want, "element 1")
end)

test("broadcast of tensors, values, lists of tensors", function()
  local t = ln.tensor({rank, rank})
  D.broadcast(t, 1)
  T.eq(list(t), "1,1", "tensor from rank 1")
  local v = D.broadcast(rank == 0 and {a = 1.5, b = {"x", true}, [3] = 0 / 0} or "ignored", 0)
  T.eq(v.a, 1.5, "table number")
  T.eq(v.b[1], "x", "nested string")
  T.eq(v.b[2], true, "nested boolean")
  check(v[3] ~= v[3], "NaN")
  T.eq(D.broadcast(rank == 1 and "hello" or nil, 1), "hello", "string")
  local l = {ln.tensor({rank}), ln.tensor({rank, rank})}
  D.broadcast(l, 0)
  T.eq(l[2][2], 0, "list of tensors")
end)

test("broadcast of a model's weights and an optimizer's state", function()
  ln.random.seed(rank) -- different weights on each rank
  local m = ln.Sequential{ln.layers.Dense{4, input_shape = {3}}}
  local opt = ln.optimizers.Adam{}
  local pairs_ = m:grads_and_vars()
  for _ = 1, rank + 1 do opt:apply_gradients(pairs_) end -- rank + 1 steps
  D.broadcast(m, 0)
  D.broadcast(opt, 0)
  T.eq(opt.iterations, 1, "iterations from rank 0")
  local k = m.layers[1].kernel.value
  local k0 = D.broadcast(ln.tensor(k:totable()), 0)
  T.eq(bits(k), bits(k0), "kernel from rank 0")
end)

test("barrier", function()
  D.barrier()
  D.barrier()
end)

test("errors name what is wrong", function()
  T.raises(function() D.allreduce(ln.ones(2), {op = "min"}) end, "op", "min")
  T.raises(function() D.allreduce("x") end, "tensor, a number or a list")
  T.raises(function() D.allreduce({1, "x"}) end, "entry 2")
  T.raises(function() D.broadcast(ln.ones(2), 5) end, "root 5")
  T.raises(function() D.broadcast(ln.ones(2), -1) end, "root")
  T.raises(function() D.broadcast(rank == 0 and function() end or 1, 0) end,
           "cannot send a function")
  T.raises(function() D.init{timeout = 0} end, "timeout")
  T.raises(function() D.DistributedOptimizer(3) end, "expected an optimizer")
  -- the world still works after refused arguments
  T.eq(D.allreduce(1), 2, "after errors")
end)

test("DistributedOptimizer: half a batch per rank = one step on the whole batch", function()
  local function model()
    ln.random.seed(9)
    return ln.Sequential{ln.layers.Dense{8, activation = "tanh", input_shape = {5}},
                         ln.layers.Dense{2}}
  end
  ln.random.seed(3)
  local x, y = ln.randn(16, 5), ln.randn(16, 2)
  local loss = ln.losses.MeanSquaredError{}
  -- one process, the whole batch
  local ref = model()
  local ref_opt = ln.optimizers.SGD{learning_rate = 0.1}
  local z = ref:forward(x, {training = true})
  local _, g = loss:compute(z, y)
  ref:backward(g)
  ref_opt:apply_gradients(ref:grads_and_vars())
  -- this rank's half, averaged by the wrapper
  local m = model()
  local opt = D.DistributedOptimizer(ln.optimizers.SGD{learning_rate = 0.1})
  T.eq(opt.learning_rate, 0.1, "forwards fields")
  local xs, ys = x:narrow(1, 1 + 8 * rank, 8), y:narrow(1, 1 + 8 * rank, 8)
  z = m:forward(xs, {training = true})
  _, g = loss:compute(z, ys)
  m:backward(g)
  opt:apply_gradients(m:grads_and_vars())
  T.eq(opt.iterations, 1, "iterations")
  for i, w in ipairs(m:get_weights()) do
    local d = (w - ref:get_weights()[i]):abs():max()
    d = type(d) == "number" and d or d:item()
    check(d <= 1e-6, "weight %d differs by %g", i, d)
  end
end)

test("stats count the collectives", function()
  local s = D.stats()
  check(s.calls > 10 and s.bytes > 0 and s.seconds >= 0, "stats %d %d", s.calls, s.bytes)
end)

T.summary("np2_api (rank " .. rank .. ")")
