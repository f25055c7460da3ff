--[[ crash_train.lua -- the training run test_crash_resume.lua kills and
resumes. Deterministic: the same data and model for the same seed, no
shuffling, no dropout, Adam (whose state -- iterations, m, v -- must come
back exactly from a checkpoint).

  lunet data/crash_train.lua train  DIR EPOCHS   train from scratch
  lunet data/crash_train.lua resume DIR EPOCHS   go on from DIR/ckpt.h5
Both save the checkpoint DIR/ckpt.h5 after every epoch (ModelCheckpoint,
whole model with the optimizer's state: each save replaces the previous
one) and, at the end, the final weights' raw float32 bytes in
DIR/final.bin. The epoch a checkpoint holds is its optimizer's iteration
count / STEPS. "resume" prints the epoch it resumed from ("resumed from
epoch N"). ]]
local ln = require "lunet"
local mode, dir, epochs = arg[1], arg[2], math.tointeger(tonumber(arg[3]))
assert((mode == "train" or mode == "resume") and dir and epochs, "usage: train|resume DIR EPOCHS")

-- The data: the same in every process.
ln.random.seed(7)
local n, d = 4096, 32
local x = ln.randn(n, d)
local w_true = ln.randn(d, 3)
local y = ln.matmul(x, w_true):argmax(2):int() - 1 -- labels 0..2 (argmax is 1-based)

local function new_model()
  ln.random.seed(42)
  local m = ln.Sequential{
    ln.layers.Dense{64, input_shape = {d}, activation = "relu"},
    ln.layers.Dense{32, activation = "tanh"},
    ln.layers.Dense{3, activation = "softmax"},
  }
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.Adam{},
            metrics = {"accuracy"}}
  return m
end

local STEPS = n // 32 -- optimizer steps per epoch
local ckpt = dir .. "/ckpt.h5"

local model, initial_epoch = nil, 0
if mode == "resume" then
  local f = io.open(ckpt, "rb")
  if f then
    f:close()
    model = ln.models.load_model(ckpt)
    initial_epoch = model.optimizer.iterations // STEPS
  end
  print("resumed from epoch " .. initial_epoch)
end
model = model or new_model()

model:fit(x, y, {epochs = epochs, initial_epoch = initial_epoch, batch_size = 32,
                 shuffle = false, verbose = 0,
                 callbacks = {ln.callbacks.ModelCheckpoint(ckpt)}})

local parts = {}
for _, w in ipairs(model:get_weights()) do
  for _, v in ipairs(w:flatten():totable()) do parts[#parts + 1] = string.pack("<f", v) end
end
local f = assert(io.open(dir .. "/final.bin", "wb"))
f:write(table.concat(parts))
f:close()
print("finished " .. epochs .. " epochs")
