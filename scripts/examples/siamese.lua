-- A siamese network with the functional API (Hands-On ML ch. 10's list of
-- graph models; Bromley et al. 1993): are two Fashion-MNIST images of the
-- same class? Both images go through ONE encoder (shared layers: the same
-- weights for both branches); a distance layer written in Lua
-- (ln.layers.Layer:extend, called on the list of the two embeddings) gives
-- |e1 - e2|, and a Dense sigmoid decides. A second head, the cosine
-- similarity of the embeddings (the built-in Dot{axes = 1, normalize =
-- true}), is an auxiliary output. Trained with fit and callbacks, saved,
-- reloaded with custom_objects, and the reloaded model predicts the same
-- bits.
--
--   lunet scripts/examples/siamese.lua [outdir] [epochs=N]
--   (LUNET_SMOKE=1: the repo's sample, 1 epoch)
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local epochs = common.epochs_arg("siamese") or common.epochs(10)
local outdir = common.make_dir((arg and arg[1] and arg[1] ~= "") and arg[1] or "out")

-- |a - b| of the two embeddings: a Lua layer taking a list of inputs
local L1Distance = ln.layers.Layer:extend{name = "L1Distance",
  build = function(self, shapes)
    assert(#shapes == 2, "L1Distance takes two embeddings")
  end,
  call = function(self, inputs) return (inputs[1] - inputs[2]):abs() end}

-- ---- pairs of images: half of one class, half of two classes ---------------------------------

ln.random.seed(common.seed)
local d = common.fashion_mnist()

-- n pairs drawn from (x, y): {left, right} images and the target (1: same class)
local function make_pairs(x, y, n)
  local labels = y:totable()
  local by_class = {}
  for i, c in ipairs(labels) do
    by_class[c] = by_class[c] or {}
    table.insert(by_class[c], i)
  end
  local left, right, same = {}, {}, {}
  local m = #labels
  local u = ln.rand(n, 2):totable() -- lunet's generator: the seed fixes the pairs
  local function pick(count, r) return math.min(count, math.floor(r * count) + 1) end
  for k = 1, n do
    local i = pick(m, u[k][1])
    local j
    if k % 2 == 0 then -- a positive pair
      local list = by_class[labels[i]]
      j = list[pick(#list, u[k][2])]
    else -- the first image of another class after a random offset
      j = pick(m, u[k][2])
      while labels[j] == labels[i] do j = j % m + 1 end
    end
    left[k], right[k], same[k] = i, j, labels[i] == labels[j] and 1 or 0
  end
  local li, ri = ln.tensor(left, "int32"), ln.tensor(right, "int32")
  return {left_image = x:index(1, li), right_image = x:index(1, ri)},
         ln.tensor(same):reshape({n, 1})
end

local n_train = common.smoke and 2000 or 20000
local X_train, y_train = make_pairs(d.X_train, d.y_train, n_train)
local X_valid, y_valid = make_pairs(d.X_valid, d.y_valid, n_train // 10)
local X_test, y_test = make_pairs(d.X_test, d.y_test, n_train // 5)

-- ---- the graph -------------------------------------------------------------------------------

local left = ln.Input{shape = {28, 28}, name = "left_image"}
local right = ln.Input{shape = {28, 28}, name = "right_image"}
-- the shared encoder: each layer called on both branches
local encoder = {
  ln.layers.Flatten{name = "flatten"},
  ln.layers.Dense{128, activation = "relu", kernel_initializer = "he_normal", name = "enc_hidden"},
  ln.layers.Dense{32, name = "embedding"},
}
local function encode(t)
  for _, l in ipairs(encoder) do t = l(t) end
  return t
end
local e1, e2 = encode(left), encode(right)
local distance = L1Distance{name = "l1_distance"}({e1, e2})
local same = ln.layers.Dense{1, activation = "sigmoid", name = "same_class"}(distance)
local cosine = ln.layers.Dot{axes = 1, normalize = true, name = "cosine"}({e1, e2})
local model = ln.Model{inputs = {left, right}, outputs = {same, cosine}, name = "siamese"}

-- the cosine head is pulled towards +1 for pairs of one class and -1 for two
model:compile{loss = {same_class = "binary_crossentropy", cosine = "mse"},
              loss_weights = {same_class = 1.0, cosine = 0.2},
              optimizer = ln.optimizers.Adam{learning_rate = 1e-3},
              metrics = {same_class = {"accuracy"}}}
model:summary()

local function targets(y) return {same_class = y, cosine = y * 2 - 1} end
local history = model:fit(X_train, targets(y_train), {
  epochs = epochs, batch_size = 32,
  validation_data = {X_valid, targets(y_valid)},
  callbacks = {ln.callbacks.EarlyStopping{monitor = "val_same_class_accuracy", patience = 3,
                                          mode = "max", restore_best_weights = true}},
})

local r = model:evaluate(X_test, targets(y_test), {verbose = 0, return_dict = true})
print(string.format("test: loss %.4f, same_class_accuracy %.4f, cosine_loss %.4f", r.loss,
                    r.same_class_accuracy, r.cosine_loss))

-- the two branches share their weights: the encoder appears once
local n_dense = 0
for _, l in ipairs(model.layers) do if l.class_name == "Dense" then n_dense = n_dense + 1 end end

local path = outdir .. "/siamese.h5"
model:save(path)
local reloaded = ln.models.load_model(path, {custom_objects = {L1Distance = L1Distance}})
local p, q = model:predict(X_test), reloaded:predict(X_test)
local same_bits = p[1]:equal(q[1]) and p[2]:equal(q[2])
print(string.format("saved to %s; reloaded model predicts the same bits: %s", path,
                    tostring(same_bits)))
print(string.format("RESULT siamese test_accuracy=%.4f epochs=%d dense_layers=%d " ..
                    "same_after_reload=%s", r.same_class_accuracy, #history.history.loss, n_dense,
                    tostring(same_bits)))
if not same_bits then os.exit(1) end
