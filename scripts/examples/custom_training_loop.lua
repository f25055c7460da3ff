-- A hand-written training loop with lunet's low-level API: the seed's
-- experiment-1 model (He init + LeakyReLU) on Fashion-MNIST, trained with
-- forward / loss:compute / backward / optimizer:apply_gradients, a Keras
-- progress bar, and an evaluation per epoch. It computes exactly what
-- model:fit computes (same seed: same shuffles, same numbers).
--
--   lunet scripts/examples/custom_training_loop.lua [epochs] [data_dir]
local ln = require "lunet"
local Progbar = require "lunet.progbar"

local epochs = tonumber(arg and arg[1]) or 2
local data_dir = arg and arg[2]
local batch_size = 32

ln.random.seed(42)
-- the images as float32 (no uint8 copy beside them), scaled in place
local train, test = ln.datasets.fashion_mnist.load_data{path = data_dir, dtype = "float32"}
local X_full, y_full = train.x:div_(255), train.y
local X_test, y_test = test.x:div_(255), test.y
-- validation = the first 5,000 images (1/6 of the repo's 6,000 sample)
local n_valid = #X_full >= 60000 and 5000 or #X_full // 6
local n_train = #X_full - n_valid
local X_valid, X_train = X_full:narrow(1, 1, n_valid), X_full:narrow(1, n_valid + 1, n_train)
local y_valid, y_train = y_full:narrow(1, 1, n_valid), y_full:narrow(1, n_valid + 1, n_train)

local model = ln.Sequential{
  ln.layers.Flatten{input_shape = {28, 28}},
  ln.layers.Dense{300, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{100, kernel_initializer = "he_normal"},
  ln.layers.LeakyReLU{},
  ln.layers.Dense{10, activation = "softmax"},
}
local loss_fn = ln.losses.SparseCategoricalCrossentropy{}
local optimizer = ln.optimizers.SGD{learning_rate = 1e-3}
local accuracy = ln.metrics.SparseCategoricalAccuracy{}

-- softmax + cross-entropy: train on the logits (the stable formula fit uses)
local logits = model:uses_logits(loss_fn)
local grads_and_vars = model:grads_and_vars()

-- One pass over a data set in inference mode: mean loss and accuracy.
local function evaluate(x, y)
  local acc = ln.metrics.SparseCategoricalAccuracy{}
  local total = 0
  for s = 1, #x, batch_size do
    local n = math.min(batch_size, #x - s + 1)
    local xb, yb = x:narrow(1, s, n), y:narrow(1, s, n)
    local z = model:forward(xb, {logits = logits})
    total = total + loss_fn:compute(z, yb, {logits = logits, gradient = false}) * n
    acc:update_state(yb, logits and ln.activations.softmax(z) or z)
  end
  return total / #x, acc:result()
end

local steps = (n_train + batch_size - 1) // batch_size
for epoch = 1, epochs do
  print(string.format("Epoch %d/%d", epoch, epochs))
  local bar = Progbar.new{target = steps, stateful_metrics = true}
  local perm = ln.randperm(n_train)          -- the shuffle fit draws
  local total, seen = 0, 0
  accuracy:reset_state()
  for step = 1, steps do
    local s = (step - 1) * batch_size + 1
    local n = math.min(batch_size, n_train - s + 1)
    local idx = perm:narrow(1, s, n)
    local xb, yb = X_train:index(1, idx), y_train:index(1, idx)
    local z = model:forward(xb, {training = true, logits = logits})
    local loss, grad = loss_fn:compute(z, yb, {logits = logits})
    loss = loss + model:regularization_loss()
    accuracy:update_state(yb, logits and ln.activations.softmax(z) or z)
    model:backward(grad)
    optimizer:apply_gradients(grads_and_vars)
    total, seen = total + loss * n, seen + n
    local logs = {{"loss", total / seen}, {"accuracy", accuracy:result()}}
    if step == steps then
      local vl, va = evaluate(X_valid, y_valid)
      logs[3], logs[4] = {"val_loss", vl}, {"val_accuracy", va}
    end
    bar:update(step, logs)
  end
end

local test_loss, test_acc = evaluate(X_test, y_test)
print(string.format("test loss %.4f - test accuracy %.4f", test_loss, test_acc))
