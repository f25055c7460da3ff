--[==[ quiet.lua -- under mpirun, before anything starts MPI: evaluate and
predict print their progress bar on rank 0 only (the rank is read from the
launcher's environment), and MPI is still not started.

  mpirun -np 2 lunet quiet.lua ]==]
local ln = require "lunet"
ln.random.seed(1)
local x, y = ln.randn(64, 4), ln.randn(64, 2)
local m = ln.Sequential{ln.layers.Dense{2, input_shape = {4}}}
m:compile{loss = "mse", optimizer = "sgd"}
m:evaluate(x, y, {batch_size = 16, verbose = 2})
m:predict(x, {batch_size = 16, verbose = 2})
local D = ln.distributed
print(string.format("QUIET initialized=%s writes_files=%s", tostring(D.initialized()),
                    tostring(D.writes_files())))
