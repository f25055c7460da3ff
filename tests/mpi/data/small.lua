--[==[ small.lua -- a small model trained by fit in one process or under
mpirun, one case per path of data-parallel fit. Writes the final weights'
raw float32 bytes (every weight, moving statistics included) to
OUT.r<rank>.bin and the history to OUT.r<rank>.txt.

  [mpirun -np N] lunet small.lua OUT CASE

Cases (900 training rows, validation_split 0.1, 2 epochs, shuffled):
  sgd        Dense(16, relu) -> Dense(3, softmax), SGD, batch 33 (the last
             batch 9 rows: shares of 4 and 5, or 3 each)
  batch_cb   sgd with a batch callback (one C call per batch, the stop
             flag reduced after each batch)
  accum      sgd at batch 11 with accumulate_steps = 3 (the same rows per
             update as batch 33)
  per_rank   sgd with batch_size 32 // size and per_rank_batch
  lua_opt    sgd with an optimizer written in Lua (apply_gradients in Lua)
  bn_drop    BatchNormalization and Dropout, Adam, batch 32
  tiny_last  sgd over 901 rows: the last batch holds 1 row (an empty
             share on every rank but one)
  dist_opt   sgd compiled with ln.distributed.DistributedOptimizer (fit
             uses the optimizer inside)
  lua_layer  a layer written in Lua (Layer:extend: fit's tape path), then
             Dense(3, softmax), Adam, over 1001 rows as tiny_last (a rank
             with an empty share of the last batch)
  lua_layer_fn  the same layer in a functional model (ln.Input, ln.Model)
  subclassed    a subclassed model (ln.Model:extend) calling a Dense layer
                twice (shared weights), Adam
  files      sgd, verbose = 2, with ModelCheckpoint, CSVLogger and
             EarlyStopping(verbose) writing to OUT.<what>.r<rank>.*: only
             rank 0 prints and writes ]==]
local ln = require "lunet"
local out, case = arg[1], arg[2]
assert(out and case, "usage: small.lua OUT CASE")

ln.random.seed(5)
local N, D = (case == "tiny_last" or case == "lua_layer") and 1001 or 1000, 20
local x = ln.randn(N, D)
local w_true = ln.randn(D, 3)
local y = ln.matmul(x, w_true):argmax(2):int() - 1

ln.random.seed(42)
local layers
if case == "bn_drop" then
  layers = {ln.layers.Dense{32, input_shape = {D}}, ln.layers.BatchNormalization{},
            ln.layers.Activation{"relu"}, ln.layers.Dropout{0.2},
            ln.layers.Dense{3, activation = "softmax"}}
else
  layers = {ln.layers.Dense{16, activation = "relu", input_shape = {D}},
            ln.layers.Dense{3, activation = "softmax"}}
end
local MyDense = ln.layers.Layer:extend{
  name = "MyDense", defaults = {units = 16},
  build = function(self, input_shape)
    self.kernel = self:add_weight{name = "kernel", shape = {input_shape[#input_shape], self.units},
                                  initializer = "glorot_uniform"}
    self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
  end,
  call = function(self, z) return ln.activations.get("relu")(ln.matmul(z, self.kernel) + self.bias) end,
}
local model
if case == "lua_layer" then
  model = ln.Sequential{MyDense{units = 16, input_shape = {D}}, ln.layers.Dense{3, activation = "softmax"}}
elseif case == "subclassed" then
  local Sub = ln.Model:extend{
    name = "Sub", defaults = {},
    init = function(self)
      self.d1 = ln.layers.Dense{16, activation = "elu"}
      self.d2 = ln.layers.Dense{16, activation = "elu"}
      self.o = ln.layers.Dense{3, activation = "softmax"}
    end,
    call = function(self, z, training)
      z = self.d1(z)
      for _ = 1, 2 do z = z + self.d2(z) end
      return self.o(z)
    end,
  }
  model = Sub{}
elseif case == "lua_layer_fn" then
  local inp = ln.Input{shape = {D}}
  model = ln.Model{inputs = inp, outputs = ln.layers.Dense{3, activation = "softmax"}(MyDense{units = 16}(inp))}
else
  model = ln.Sequential(layers)
end

local LuaSGD = ln.optimizers.Optimizer:extend{
  name = "LuaSGD", default_learning_rate = 0.1,
  update = function(self, var, grad, slots, t, lr)
    var:copy(var - grad * lr)
  end,
}
local opt
if case == "bn_drop" or case:match("^lua_layer") or case == "subclassed" then opt = ln.optimizers.Adam{learning_rate = 1e-2}
elseif case == "lua_opt" then opt = LuaSGD{learning_rate = 0.1}
else opt = ln.optimizers.SGD{learning_rate = 0.1} end
if case == "dist_opt" then opt = ln.distributed.DistributedOptimizer(opt) end
model:compile{loss = "sparse_categorical_crossentropy", optimizer = opt, metrics = {"accuracy"}}

local size = ln.distributed.size()
local fit = {epochs = 2, batch_size = 33, validation_split = 0.1, verbose = 0}
if case == "accum" then fit.batch_size, fit.accumulate_steps = 11, 3 end
if case == "per_rank" then fit.batch_size, fit.per_rank_batch = 32 // size, true end
if case == "bn_drop" then fit.batch_size = 32 end
if case == "batch_cb" then
  fit.callbacks = {ln.callbacks.LambdaCallback{on_train_batch_end = function() end}}
end
local rank = ln.distributed.rank()
if case == "files" then
  fit.verbose = 2
  fit.callbacks = {
    ln.callbacks.ModelCheckpoint(string.format("%s.ckpt.r%d.h5", out, rank), {verbose = 1}),
    ln.callbacks.CSVLogger(string.format("%s.log.r%d.csv", out, rank)),
    ln.callbacks.EarlyStopping{monitor = "loss", patience = 5, verbose = 1},
  }
end
local history = model:fit(x, y, fit)
print(string.format("rank %d finished", rank))
local parts = {}
for _, w in ipairs(model:get_weights()) do
  for _, v in ipairs(w:flatten():totable()) do parts[#parts + 1] = string.pack("<f", v) end
end
local f = assert(io.open(string.format("%s.r%d.bin", out, rank), "wb"))
f:write(table.concat(parts))
f:close()
local h = history.history
f = assert(io.open(string.format("%s.r%d.txt", out, rank), "w"))
for e = 1, #h.loss do
  f:write(string.format("%.17g %.17g %.17g %.17g\n", h.loss[e], h.accuracy[e], h.val_loss[e],
                        h.val_accuracy[e]))
end
f:write(string.format("iterations %d\n", model.optimizer.iterations))
f:close()
