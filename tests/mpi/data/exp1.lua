--[==[ exp1.lua -- the seed's experiment 1 (He initialisation + LeakyReLU on
Fashion-MNIST, SGD lr 1e-3, batch 32) for one epoch, as
scripts/01_he_init_leaky_relu.lua trains it, in one process or under
mpirun. Writes the final weights' raw float32 bytes to
OUT.r<rank>.bin and the history to OUT.r<rank>.txt.

  [mpirun -np N] lunet exp1.lua OUT [batch_size [per_rank_batch]]

EXP1_ROWS=n trains on the first n training rows only. EXP1_OVERLAP=mixed: rank 0 exchanges the gradients during backward,
rank 1 after it (LUNET_DIST_OVERLAP=0/1 sets every rank). The history
file ends with the steps whose exchange overlapped backward. ]==]
local ln = require "lunet"
local out = assert(arg[1], "usage: exp1.lua OUT [batch_size [per_rank]]")
local bs = math.tointeger(tonumber(arg[2] or "32"))
local per_rank = arg[3] == "per_rank"

if os.getenv("EXP1_OVERLAP") == "mixed" then
  ln.distributed.init{overlap = ln.distributed.rank() % 2 == 0}
end
ln.random.seed(42)
local train = ln.datasets.fashion_mnist.load_data()
local X_full, y_full = train.x:float() / 255, train.y
local X_valid, X_train = X_full:narrow(1, 1, 5000), X_full:narrow(1, 5001, 55000)
local y_valid, y_train = y_full:narrow(1, 1, 5000), y_full:narrow(1, 5001, 55000)
local rows = math.tointeger(tonumber(os.getenv("EXP1_ROWS") or ""))
if rows then X_train, y_train = X_train:narrow(1, 1, rows), y_train:narrow(1, 1, rows) end

local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{300, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{100, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.SGD{learning_rate = 1e-3},
              metrics = {"accuracy"}}
local t0 = ln.time()
local history = model:fit(X_train, y_train, {epochs = 1, batch_size = bs, per_rank_batch = per_rank,
                                             validation_data = {X_valid, y_valid}, verbose = 0})
local seconds = ln.time() - t0

local rank = ln.distributed.rank()
local parts = {}
for _, w in ipairs(model:get_weights()) do
  for _, v in ipairs(w:flatten():totable()) do parts[#parts + 1] = string.pack("<f", v) end
end
local f = assert(io.open(string.format("%s.r%d.bin", out, rank), "wb"))
f:write(table.concat(parts))
f:close()
local h = history.history
f = assert(io.open(string.format("%s.r%d.txt", out, rank), "w"))
local fs = ln.distributed.stats().fit or {calls = 0, overlapped = 0}
f:write(string.format("loss=%.17g accuracy=%.17g val_loss=%.17g val_accuracy=%.17g seconds=%.3f " ..
                      "steps=%d overlapped=%d\n", h.loss[1], h.accuracy[1], h.val_loss[1],
                      h.val_accuracy[1], seconds, fs.calls, fs.overlapped))
f:close()
if os.getenv("EXP1_STATS") then
  local s = ln.distributed.stats()
  if s.fit then
    io.stderr:write(string.format("rank %d: fit %.3f s, %d reduces, %.3f s reducing (%.3f s waiting), %d bytes\n",
                    rank, seconds, s.fit.calls, s.fit.seconds, s.fit.wait_seconds, s.fit.bytes))
  end
end
