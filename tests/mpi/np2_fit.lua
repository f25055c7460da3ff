-- fit's rules under `mpirun -np 2 lunet np2_fit.lua` (each rank runs every
-- test): ranks that start from different weights train one model (rank
-- 0's); a callback on one rank only that stops training stops both; a
-- rank-0-only checkpoint callback (Horovod's habit) works; evaluate runs
-- whole on each rank; calls that disagree across ranks, or a batch smaller
-- than the world, fail on every rank with a message saying so -- and the
-- world goes on working.
local ln = require "lunet"
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/../lua/testlib.lua")
local test = T.test
local D = ln.distributed
local rank = D.rank()

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

ln.random.seed(5)
local X = ln.randn(300, 8)
local Y = ln.matmul(X, ln.randn(8, 3)):argmax(2):int() - 1

local function model(seed)
  ln.random.seed(seed)
  local m = ln.Sequential{ln.layers.Dense{6, activation = "relu", input_shape = {8}},
                          ln.layers.Dense{3, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Adam{},
            metrics = {"accuracy"}}
  return m
end

-- The same on every rank: rank 0's value of each weight's bytes.
local function same_everywhere(m, what)
  for i, w in ipairs(m:get_weights()) do
    local mine = w:flatten()
    local r0 = D.broadcast(ln.tensor(mine:totable()), 0)
    local d = (mine - r0):abs():max()
    d = type(d) == "number" and d or d:item()
    T.eq(d, 0, what .. ": weight " .. i)
  end
end

test("ranks that start from different weights train rank 0's model", function()
  local m = model(100 + rank)
  m:fit(X, Y, {epochs = 2, batch_size = 30, verbose = 0})
  same_everywhere(m, "after fit")
  local start = model(100) -- rank 0's initial weights
  check(start:get_weights()[1]:sum() ~= m:get_weights()[1]:sum(), "not trained")
end)

test("a callback on rank 0 only that stops training stops both ranks", function()
  local m = model(1)
  local cbs = {}
  if rank == 0 then
    cbs[1] = ln.callbacks.LambdaCallback{on_train_batch_end = function(b)
      if b == 3 then m.stop_training = true end
    end}
  end
  local h = m:fit(X, Y, {epochs = 3, batch_size = 30, verbose = 0, callbacks = cbs})
  T.eq(#h.history.loss, 1, "epochs run")
  T.eq(m.optimizer.iterations, 4, "steps run")
  same_everywhere(m, "after the stop")
end)

test("a checkpoint callback on rank 0 only", function()
  local m = model(2)
  local dir = os.tmpname()
  os.remove(dir)
  local cbs = rank == 0 and {ln.callbacks.ModelCheckpoint(dir .. ".h5")} or {}
  m:fit(X, Y, {epochs = 2, batch_size = 30, verbose = 0, callbacks = cbs})
  if rank == 0 then
    T.eq(ln.models.load_model(dir .. ".h5").optimizer.iterations, 20, "checkpoint")
    os.remove(dir .. ".h5")
  end
end)

test("evaluate runs whole on each rank (rank 0 alone may call it)", function()
  local m = model(3)
  m:fit(X, Y, {epochs = 1, batch_size = 30, verbose = 0})
  local loss, acc = m:evaluate(X, Y, {verbose = 0})
  T.eq(D.allreduce(loss, "max"), loss, "the same loss everywhere")
  if rank == 0 then m:evaluate(X, Y, {verbose = 0}) end -- no collective inside
  D.barrier()
  check(acc >= 0 and acc <= 1, "accuracy %g", acc)
end)

test("disagreeing calls fail on every rank, naming what differs; the world goes on", function()
  local m = model(4)
  T.raises(function()
    m:fit(X:narrow(1, 1, 300 - 10 * rank), Y:narrow(1, 1, 300 - 10 * rank),
          {epochs = 1, batch_size = 30, verbose = 0})
  end, "the processes disagree on the training samples (from 290 to 300)")
  T.raises(function()
    m:fit(X, Y, {epochs = 1 + rank, batch_size = 30, verbose = 0})
  end, "disagree on epochs")
  T.raises(function() m:fit(X, Y, {batch_size = 1, verbose = 0}) end,
           "batch_size 1 is smaller than the 2 processes")
  T.eq(m.optimizer.iterations, 0, "nothing trained")
  m:fit(X, Y, {epochs = 1, batch_size = 30, verbose = 0})
  same_everywhere(m, "after the refusals")
end)

T.summary("np2_fit (rank " .. rank .. ")")
