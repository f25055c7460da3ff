-- The workload of bench/bench_jupyter.py: experiment 1's model (Fashion-MNIST,
-- Dense 300/100 He + LeakyReLU, SGD 1e-3, batch 32), `fit` timed alone. The
-- same code runs as a script (`lunet bench/jupyter_fit.lua`) and as one
-- notebook cell. BENCH_EPOCHS (2) and BENCH_VERBOSE (1) set fit's options;
-- BENCH_AB (below) measures the display hooks alone.
local epochs = math.tointeger(tonumber(os.getenv("BENCH_EPOCHS") or "2"))
local verbose = math.tointeger(tonumber(os.getenv("BENCH_VERBOSE") or "1"))
ln.random.seed(42)
local train = ln.datasets.fashion_mnist.load_data()
local X = train.x:float() / 255
local X_train, y_train = X:narrow(1, 5001, #X - 5000), train.y:narrow(1, 5001, #X - 5000)
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

-- BENCH_AB=n: instead, n epochs with a front end's hooks attached (what the
-- kernel attaches, minus the protocol) and n without, alternated in this
-- process: what the hooks cost the hot path.
local ab = math.tointeger(tonumber(os.getenv("BENCH_AB") or ""))
if ab then
  local display = require "lunet.display"
  local fe = {run_seconds = 0.1, publish = function() end,
              interrupted = function() return false end, busy = function() return nil end}
  local t = {plain = {}, hooks = {}}
  model:fit(X_train, y_train, {epochs = 1, verbose = 0}) -- warm-up
  for r = 1, ab do
    for _, mode in ipairs(r % 2 == 1 and {"plain", "hooks"} or {"hooks", "plain"}) do
      display.attach(mode == "hooks" and fe or nil)
      local t0 = ln.time()
      model:fit(X_train, y_train, {epochs = 1, verbose = 0})
      t[mode][#t[mode] + 1] = ln.time() - t0
      display.attach(nil)
    end
  end
  table.sort(t.plain)
  table.sort(t.hooks)
  local m = (ab + 1) // 2
  print(string.format("AB_SECONDS plain %.4f hooks %.4f ratio %.3f", t.plain[m], t.hooks[m],
                      t.hooks[m] / t.plain[m]))
  return
end

local t0 = ln.time()
local history = model:fit(X_train, y_train, {epochs = epochs, verbose = verbose})
print(string.format("FIT_SECONDS %.4f loss %.6f", ln.time() - t0,
                    history.history.loss[#history.history.loss]))
