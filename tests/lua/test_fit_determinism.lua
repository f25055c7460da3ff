-- fit gives bitwise identical weights and histories for 1 and 2 threads
-- and for repeated runs with the same seed (BatchNormalization, Dropout,
-- shuffling and validation included).
-- Run as `lunet test_fit_determinism.lua` (cwd tests/lua).
local ln = require "lunet"

local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = pcall(fn)
  if ok then passed = passed + 1
  else failed = failed + 1; io.stderr:write("FAIL ", name, ": ", tostring(err), "\n") end
end

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local x = (train.x:float() / 255):narrow(1, 1, 2000)
local y = train.y:narrow(1, 1, 2000)

-- One seeded training run; returns the weights and the history.
local function run(threads, optimizer, seed)
  ln.set_num_threads(threads)
  ln.random.seed(seed or 42)
  local model = ln.Sequential{
    ln.layers.Flatten{input_shape = {28, 28}},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{128, activation = "relu", kernel_initializer = "he_normal"},
    ln.layers.Dropout{0.2},
    ln.layers.BatchNormalization{},
    ln.layers.Dense{64, kernel_initializer = "he_normal"},
    ln.layers.LeakyReLU{},
    ln.layers.Dense{10, activation = "softmax"},
  }
  model:compile{loss = "sparse_categorical_crossentropy", optimizer = optimizer(),
                metrics = {"accuracy"}}
  local h = model:fit(x, y, {epochs = 2, batch_size = 64, verbose = 0, validation_split = 0.2})
  return model:get_weights(), h
end

local function same(a, b, what)
  local wa, ha = a[1], a[2]
  local wb, hb = b[1], b[2]
  assert(#wa == #wb, what .. ": weight counts")
  for i = 1, #wa do
    assert(wa[i]:equal(wb[i]), string.format("%s: weight %d differs", what, i))
  end
  for _, k in ipairs(ha.keys) do
    for e = 1, #ha.history[k] do
      assert(ha.history[k][e] == hb.history[k][e],
             string.format("%s: %s[%d] %.17g vs %.17g", what, k, e, ha.history[k][e], hb.history[k][e]))
    end
  end
end

local sgd = function() return ln.optimizers.SGD{learning_rate = 0.01} end

test("1 and 2 threads give bitwise identical training", function()
  local one = {run(1, sgd)}
  local two = {run(2, sgd)}
  same(one, two, "threads 1 vs 2")
  local again = {run(2, sgd)}
  same(two, again, "same seed again")
end)

test("a different seed gives a different run", function()
  local a = run(2, sgd, 42)
  local b = run(2, sgd, 43)
  assert(not a[3]:equal(b[3]), "seeds 42 and 43 gave the same weights")
end)

ln.set_num_threads(2)
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then error(failed .. " test(s) failed") end
