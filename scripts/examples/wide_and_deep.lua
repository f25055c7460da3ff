-- A Wide & Deep network with the functional API (Hands-On ML ch. 10), on
-- Fashion-MNIST: the "wide" input is a short summary of each image (its 28
-- row means and 28 column means), the "deep" input the 784 pixels, which
-- go through two hidden layers with a residual connection (Add); the wide
-- input joins the deep path before the main output (Concatenate), and an
-- auxiliary output on the deep path alone regularises it (loss_weights
-- 0.9 / 0.1, as in the book). Trained with fit and callbacks, saved,
-- reloaded, and the reloaded model predicts the same bits.
--
--   lunet scripts/examples/wide_and_deep.lua [epochs] [data_dir] [outdir]
--
-- data_dir: Fashion-MNIST's IDX files (default: the sample in data/, or
-- /usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist).
local ln = require "lunet"

local epochs = tonumber(arg and arg[1]) or 5
local data_dir = arg and arg[2] ~= "" and arg[2] or nil
local outdir = arg and arg[3] or "out"
os.execute("mkdir -p '" .. outdir:gsub("'", "'\\''") .. "'")

ln.random.seed(42)
local train, test = ln.datasets.fashion_mnist.load_data{path = data_dir, dtype = "float32"}

-- wide: row and column means (N x 56); deep: the pixels (N x 784), scaled
-- in place (the images were read as float32)
local function inputs(images)
  local x = images:div_(255)
  return {wide_input = ln.cat({x:mean(3), x:mean(2)}, 2), deep_input = x:reshape({#x, 784})}
end
local X_full, y_full = inputs(train.x), train.y
local X_test, y_test = inputs(test.x), test.y
local n = #y_full
local n_valid = n // 12

local function rows(t, from, count)
  return {wide_input = t.wide_input:narrow(1, from, count),
          deep_input = t.deep_input:narrow(1, from, count)}
end
local X_valid, X_train = rows(X_full, 1, n_valid), rows(X_full, n_valid + 1, n - n_valid)
local y_valid, y_train = y_full:narrow(1, 1, n_valid), y_full:narrow(1, n_valid + 1, n - n_valid)

-- the graph
local wide = ln.Input{shape = {56}, name = "wide_input"}
local deep = ln.Input{shape = {784}, name = "deep_input"}
local h1 = ln.layers.Dense{100, activation = "relu", kernel_initializer = "he_normal"}(deep)
local h2 = ln.layers.Dense{100, activation = "relu", kernel_initializer = "he_normal"}(h1)
local residual = ln.layers.Add{}({h1, h2})
local concat = ln.layers.Concatenate{}({wide, residual})
local main = ln.layers.Dense{10, activation = "softmax", name = "main_output"}(concat)
local aux = ln.layers.Dense{10, activation = "softmax", name = "aux_output"}(residual)
local model = ln.Model{inputs = {wide, deep}, outputs = {main, aux}, name = "wide_and_deep"}

model:compile{loss = "sparse_categorical_crossentropy", loss_weights = {0.9, 0.1},
              optimizer = ln.optimizers.SGD{learning_rate = 1e-2, momentum = 0.9},
              metrics = {main_output = {"accuracy"}}}
model:summary()

local history = model:fit(X_train, {y_train, y_train}, {
  epochs = epochs,
  validation_data = {X_valid, {main_output = y_valid, aux_output = y_valid}},
  callbacks = {ln.callbacks.EarlyStopping{monitor = "val_main_output_accuracy", patience = 3,
                                          mode = "max", restore_best_weights = true}},
})

local r = model:evaluate(X_test, {y_test, y_test}, {verbose = 0, return_dict = true})
print(string.format("test: loss %.4f, main_output_loss %.4f, aux_output_loss %.4f, " ..
                    "main_output_accuracy %.4f", r.loss, r.main_output_loss, r.aux_output_loss,
                    r.main_output_accuracy))

local path = outdir .. "/wide_and_deep.h5"
model:save(path)
local reloaded = ln.models.load_model(path)
local p, q = model:predict(X_test), reloaded:predict(X_test)
local same = ln.equal(p[1], q[1]) and ln.equal(p[2], q[2])
print(string.format("saved to %s; reloaded model predicts the same bits: %s", path,
                    tostring(same)))
print(string.format("RESULT wide_and_deep test_accuracy=%.4f epochs=%d same_after_reload=%s",
                    r.main_output_accuracy, #history.history.loss, tostring(same)))
if not same then os.exit(1) end
