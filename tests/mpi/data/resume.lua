--[==[ resume.lua -- training stopped after some epochs and resumed from the
checkpoint, with any number of processes in either part.

  [mpirun -np N] lunet resume.lua DIR train EPOCHS     from scratch
  [mpirun -np N] lunet resume.lua DIR resume EPOCHS    from DIR/ckpt.h5

Both save DIR/ckpt.h5 after every epoch (the whole model with the
optimizer's state) and end with the weights' raw float32 bytes in
DIR/final.r<rank>.bin. The shuffle of epoch e is seeded with e (a
callback), so a resumed run sees the batches an uninterrupted one does;
the global batch is 32 whatever the number of processes. ]==]
local ln = require "lunet"
local dir, mode, epochs = arg[1], arg[2], math.tointeger(tonumber(arg[3]))
assert(dir and (mode == "train" or mode == "resume") and epochs, "usage: DIR train|resume EPOCHS")

ln.random.seed(5)
local x = ln.randn(1000, 20)
local y = ln.matmul(x, ln.randn(20, 3)):argmax(2):int() - 1
local STEPS = (1000 + 31) // 32
local ckpt = dir .. "/ckpt.h5"

local model, initial = nil, 0
if mode == "resume" then
  model = ln.models.load_model(ckpt)
  initial = model.optimizer.iterations // STEPS
else
  ln.random.seed(42)
  model = ln.Sequential{ln.layers.Dense{16, activation = "relu", input_shape = {20}},
                        ln.layers.Dense{3, activation = "softmax"}}
  model:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Adam{},
                metrics = {"accuracy"}}
end
model:fit(x, y, {epochs = epochs, initial_epoch = initial, batch_size = 32, verbose = 0,
                 callbacks = {ln.callbacks.LambdaCallback{
                                on_epoch_begin = function(epoch) ln.random.seed(1000 + epoch) end},
                              ln.callbacks.ModelCheckpoint(ckpt)}})
local parts = {}
for _, w in ipairs(model:get_weights()) do
  for _, v in ipairs(w:flatten():totable()) do parts[#parts + 1] = string.pack("<f", v) end
end
local f = assert(io.open(string.format("%s/final.r%d.bin", dir, ln.distributed.rank()), "wb"))
f:write(table.concat(parts))
f:close()
