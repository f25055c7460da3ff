--[==[ fault.lua -- data-parallel training where one rank fails.

  mpirun -np 2 lunet fault.lua DIR HOW RANK EPOCH

trains 6 epochs with ModelCheckpoint(DIR/ckpt.h5) (rank 0 writes it after
every epoch) and makes rank RANK fail in epoch EPOCH (1-based), after its
3rd batch:
  raise  a Lua error in a batch callback ("fault.lua: injected failure")
  kill   SIGKILL (the process dies at once)
  hang   it stops answering: sleeps for ten minutes
The other ranks must end with an error naming RANK, within seconds. ]==]
local ln = require "lunet"
local dir, how, bad, at = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
assert(dir and how and bad and at, "usage: fault.lua DIR raise|kill|hang RANK EPOCH")

ln.random.seed(5)
local x = ln.randn(2000, 20)
local y = ln.matmul(x, ln.randn(20, 3)):argmax(2):int() - 1
ln.random.seed(42)
local model = ln.Sequential{ln.layers.Dense{16, activation = "relu", input_shape = {20}},
                            ln.layers.Dense{3, activation = "softmax"}}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Adam{},
              metrics = {"accuracy"}}

local rank = ln.distributed.rank()
local epoch_now = 0
local fault = ln.callbacks.LambdaCallback{
  on_epoch_begin = function(epoch) epoch_now = epoch + 1 end,
  on_train_batch_end = function(batch)
    if rank ~= bad or epoch_now ~= at or batch ~= 3 then return end
    io.stderr:write(string.format("rank %d: injecting '%s' in epoch %d\n", rank, how, at))
    if how == "raise" then error("fault.lua: injected failure") end
    if how == "kill" then os.execute("kill -9 $PPID") end
    if how == "hang" then os.execute("sleep 600") end
  end,
}
model:fit(x, y, {epochs = 6, batch_size = 32, verbose = 0,
                 callbacks = {ln.callbacks.ModelCheckpoint(dir .. "/ckpt.h5"), fault}})
print("rank " .. rank .. " finished")
