--[==[ dist_train.lua -- one measurement of bench/run_distributed.lua: the
seed's experiment-1 MLP (784-300-100-10, LeakyReLU, SGD) trained by fit on
Fashion-MNIST's 55,000 training images at a global batch B, in one
process or under mpirun. Prints one line (rank 0):

  RESULT ranks=2 threads=1 batch=32 steps=1719 seconds=... samples_per_s=...
         reduce_ms=... wait_ms=... reduce_mb=...

reduce_ms: the gradient reduction per step in fit (packing, the
allreduce and the wait for the slower rank); wait_ms: of which in the
allreduce; reduce_mb: megabytes this rank sends per step; alone_ms: one
allreduce of the gradients' size with both ranks starting together (the
communication itself, without the wait for the slower rank), median of 41,
and alone_min_ms the fastest of them (neither rank descheduled);
compute_ms: the rest of a step (forward, backward, update: fit's time per
step minus reduce_ms).

  [mpirun -np N] lunet bench/dist_train.lua BATCH EPOCHS ]==]
local ln = require "lunet"
local batch = math.tointeger(tonumber(arg[1] or "32"))
local epochs = math.tointeger(tonumber(arg[2] or "1"))

ln.random.seed(42)
local train = ln.datasets.fashion_mnist.load_data()
local X = train.x:narrow(1, 5001, 55000):float() / 255
local y = train.y:narrow(1, 5001, 55000)
local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{300, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{100, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{10, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.SGD{learning_rate = 1e-3}, metrics = {"accuracy"}}
-- one warm-up epoch on a slice: buffers sized, plugins loaded, MPI started
model:fit(X:narrow(1, 1, 4 * batch), y:narrow(1, 1, 4 * batch), {batch_size = batch, verbose = 0})

local D = ln.distributed
D.barrier()
local t0 = ln.time()
model:fit(X, y, {batch_size = batch, epochs = epochs, verbose = 0})
D.barrier()
local seconds = ln.time() - t0
local steps = epochs * ((55000 + batch - 1) // batch)
local s = D.stats().fit or {seconds = 0, wait_seconds = 0, bytes = 0}
-- the allreduce alone: the gradients' size, both ranks starting together
-- (after a barrier), median of 41
local alone, alone_min = 0, 0
if D.size() > 1 then
  local g = ln.zeros(model:count_params())
  local t = {}
  for i = 1, 41 do
    D.barrier()
    local a = ln.time()
    D.allreduce(g)
    t[i] = ln.time() - a
  end
  table.sort(t)
  alone, alone_min = t[21], t[1]
end
if D.is_main() then
  print(string.format("RESULT ranks=%d threads=%d batch=%d steps=%d seconds=%.3f " ..
                      "samples_per_s=%.0f reduce_ms=%.4f wait_ms=%.4f reduce_mb=%.4f " ..
                      "alone_ms=%.4f alone_min_ms=%.4f compute_ms=%.4f", D.size(),
                      ln.get_num_threads(), batch, steps, seconds, epochs * 55000 / seconds,
                      1e3 * s.seconds / steps, 1e3 * s.wait_seconds / steps,
                      s.bytes / steps / 1e6, 1e3 * alone, 1e3 * alone_min,
                      1e3 * (seconds - s.seconds) / steps))
end
