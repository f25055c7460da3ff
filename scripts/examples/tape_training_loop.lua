-- The custom training loop of Hands-On ML's chapter 12 with a GradientTape,
-- on the seed's experiment-1 model written in Lua: each Dense layer is a
-- matmul plus a bias (variables in a table, torch-autograd style), then
-- LeakyReLU (alpha 0.3, Keras's layer default); the loss is a Lua
-- cross-entropy from log_softmax. He initialisation, SGD lr 1e-3, batch 32,
-- Fashion-MNIST, as scripts/01_he_init_leaky_relu.lua trains with fit.
-- Prints Keras-style progress (mean loss and accuracy), validation at each
-- epoch's end, the test accuracy and a RESULT line.
--
--   lunet scripts/examples/tape_training_loop.lua [options]
--     --epochs N        (10; 1 with LUNET_SMOKE=1)
--     --batches random  the book's random batches (default), or
--               epoch   a fresh permutation per epoch: the batches fit draws
--                       with the same seed, for comparing with fit
--     --threads N       ln.set_num_threads(N)
--     --team            each epoch's steps inside ln.autograd.team_run: the
--                       kernels hand their work to one thread team (the
--                       same numbers; on 2 threads ~1.6x the steps/s)
--     --quiet           no progress bar (the benchmark's mode)
-- Environment: LUNET_SEED (42), LUNET_SMOKE, LUNET_DATA (scripts/lib/common.lua).
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"
local Progbar = require "lunet.progbar"

local opts = {epochs = common.epochs(10), batches = "random"}
do
  local i = 1
  while arg and arg[i] do
    local k = arg[i]
    if k == "--quiet" then opts.quiet = true; i = i + 1
    elseif k == "--team" then opts.team = true; i = i + 1
    elseif k == "--epochs" or k == "--batches" or k == "--threads" then
      opts[k:sub(3)] = arg[i + 1]; i = i + 2
    else error("tape_training_loop: unknown option " .. k, 0) end
  end
  opts.epochs = math.tointeger(tonumber(opts.epochs)) or error("--epochs: an integer", 0)
  if opts.batches ~= "random" and opts.batches ~= "epoch" then
    error("--batches: random or epoch", 0)
  end
  if opts.threads then ln.set_num_threads(math.tointeger(tonumber(opts.threads))) end
end

ln.random.seed(common.seed)
local d = common.fashion_mnist()
local function flat(x) return x:reshape(#x, 784) end
local X_train, X_valid, X_test = flat(d.X_train), flat(d.X_valid), flat(d.X_test)
-- labels as 1-based int32 (N, 1) columns, what gather takes
local function column(y) return (y:int() + 1):reshape(#y, 1) end
local y_train, y_valid, y_test = column(d.y_train), column(d.y_valid), column(d.y_test)
local n_train = #X_train

-- The model: variables drawn in the order fit's Sequential draws them (same
-- seed, same initial weights): He normal kernels, Glorot uniform for the last.
local he, glorot = ln.initializers.get("he_normal"), ln.initializers.get("glorot_uniform")
local p = {}
p.W1, p.b1 = ln.Variable(he{784, 300}), ln.Variable(ln.zeros(300))
p.W2, p.b2 = ln.Variable(he{300, 100}), ln.Variable(ln.zeros(100))
p.W3, p.b3 = ln.Variable(glorot{100, 10}), ln.Variable(ln.zeros(10))
local variables = {p.W1, p.b1, p.W2, p.b2, p.W3, p.b3}

local leaky_relu = ln.activations.get("leaky_relu", {alpha = 0.3})

local function model(x) -- logits
  local h1 = leaky_relu(ln.matmul(x, p.W1) + p.b1)
  local h2 = leaky_relu(ln.matmul(h1, p.W2) + p.b2)
  return ln.matmul(h2, p.W3) + p.b3
end

local function cross_entropy(logits, labels) -- labels: 1-based (N, 1)
  return -logits:log_softmax():gather(2, labels):mean()
end

local function correct(logits, labels)
  return logits:argmax(2):eq(labels:reshape(#labels)):sum()
end

-- Loss and accuracy of a data set in inference mode (no tape).
local function evaluate(x, y)
  local loss, right = 0, 0
  for s = 1, #x, 1000 do
    local n = math.min(1000, #x - s + 1)
    local z = model(x:narrow(1, s, n))
    local yb = y:narrow(1, s, n)
    loss = loss + cross_entropy(z, yb) * n
    right = right + correct(z, yb)
  end
  return loss / #x, right / #x
end

local optimizer = ln.optimizers.SGD{learning_rate = 1e-3}
local batch_size = 32
local steps = (n_train + batch_size - 1) // batch_size
local train_seconds = 0
local val_loss, val_acc

for epoch = 1, opts.epochs do
  if not opts.quiet then print(string.format("Epoch %d/%d", epoch, opts.epochs)) end
  local bar = not opts.quiet and Progbar.new{target = steps, stateful_metrics = true}
  local order = opts.batches == "epoch" and ln.randperm(n_train)
  local total, right, seen = 0, 0, 0
  local t0 = ln.time()
  local function train_step(step)
    local idx
    if order then
      local s = (step - 1) * batch_size + 1
      idx = order:narrow(1, s, math.min(batch_size, n_train - s + 1))
    else -- the book's random_batch: indices drawn with replacement
      idx = (ln.rand(batch_size) * n_train):int() + 1
    end
    local xb, yb = X_train:index(1, idx), y_train:index(1, idx)
    local tape = ln.GradientTape()
    local loss, logits = tape:run(function()
      local z = model(xb)
      return cross_entropy(z, yb), z
    end)
    local grads = tape:gradient(loss, variables)
    optimizer:apply_gradients(ln.zip(grads, variables))
    local n = #xb
    total, right, seen = total + loss:item() * n, right + correct(logits, yb), seen + n
    if bar then bar:update(step, {{"loss", total / seen}, {"accuracy", right / seen}}) end
  end
  local function train_steps() for step = 1, steps do train_step(step) end end
  if opts.team then ln.autograd.team_run(train_steps) else train_steps() end
  train_seconds = train_seconds + (ln.time() - t0)
  val_loss, val_acc = evaluate(X_valid, y_valid)
  if opts.quiet then
    print(string.format("epoch %d: loss %.4f - accuracy %.4f - val_loss %.4f - val_accuracy %.4f",
                        epoch, total / seen, right / seen, val_loss, val_acc))
  else
    print(string.format("val_loss: %.4f - val_accuracy: %.4f", val_loss, val_acc))
  end
end

local test_loss, test_acc = evaluate(X_test, y_test)
print(string.format("test loss %.4f - test accuracy %.4f", test_loss, test_acc))
print(string.format("RESULT tape_loop test_loss=%.4f test_accuracy=%.4f val_accuracy=%.4f " ..
                    "train_seconds=%.3f samples_per_s=%.1f threads=%d", test_loss, test_acc,
                    val_acc, train_seconds, steps * opts.epochs > 0 and
                    n_train * opts.epochs / train_seconds or 0, ln.get_num_threads()))
