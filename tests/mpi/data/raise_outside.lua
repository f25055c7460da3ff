--[==[ raise_outside.lua -- a rank whose script raises outside fit, once
MPI runs (ln.distributed was called), while the other ranks wait for it
in a collective.

  mpirun -np 2 lunet raise_outside.lua HOW RANK

  before_fit   rank RANK raises before fit; the others wait in fit's
               first exchange
  custom_loop  rank RANK raises at step 5 of a custom loop of allreduces

The others must end at once with an error naming RANK and its message
("raise_outside.lua: injected failure"), not after the timeout: the
lunet interpreter's exit hook (lunet.mpi) tells them before the failing
process exits, and skips MPI_Finalize, which would wait for them. ]==]
local ln = require "lunet"
local D = ln.distributed
local how, bad = arg[1], tonumber(arg[2])
assert(how and bad, "usage: raise_outside.lua before_fit|custom_loop RANK")

ln.random.seed(1)
local x, y = ln.randn(200, 4), ln.randn(200, 2)
local m = ln.Sequential{ln.layers.Dense{2, input_shape = {4}}}
m:compile{loss = "mse", optimizer = "sgd"}
local rank = D.rank() -- starts MPI
if how == "before_fit" then
  if rank == bad then error("raise_outside.lua: injected failure") end
  m:fit(x, y, {epochs = 2, verbose = 0})
elseif how == "custom_loop" then
  for step = 1, 20 do
    if step == 5 and rank == bad then error("raise_outside.lua: injected failure") end
    D.allreduce(ln.ones(10))
  end
else
  error("raise_outside.lua: unknown HOW " .. tostring(how))
end
print("rank " .. rank .. " finished")
