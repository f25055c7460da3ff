-- The workload of bench/bench_jupyter.py: experiment 1's model (Fashion-MNIST,
-- Dense 300/100 He + LeakyReLU, SGD 1e-3, batch 32), `fit` timed alone. The
-- same code runs as a script (`lunet bench/jupyter_fit.lua`) and as one
-- notebook cell. BENCH_EPOCHS (2) and BENCH_VERBOSE (1) set fit's options.
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
local t0 = ln.time()
local history = model:fit(X_train, y_train, {epochs = epochs, verbose = verbose})
print(string.format("FIT_SECONDS %.4f loss %.6f", ln.time() - t0,
                    history.history.loss[#history.history.loss]))
