-- Experiment 5 of the tutorial: the optimizer benchmark (the notebook's
-- "VI. (1)"): Flatten -> Dense(250, relu) -> Dense(10, softmax) on
-- L2-normalised images (keras.utils.normalize(x, axis=1), i.e. every
-- column of each image; lunet's dims are 1-based: normalize(x, 2)), one-hot
-- labels, categorical cross-entropy, batch 128, 10 epochs, shuffled,
-- validated on the test set; 2 runs per optimizer, averaged.
--
-- The notebook's four optimizers with Keras defaults (sgd, rmsprop,
-- adagrad, adam) plus momentum (SGD momentum 0.9), Nesterov (the same,
-- nesterov), Nadam, Adamax and AdamW (defaults), on the MNIST digits lunet
-- has (the 8,000/2,000 subset shipped in data/mnist unless a full set is
-- installed) and on Fashion-MNIST (60,000/10,000).
--
--   lunet scripts/05_optimizers.lua [outdir] [dataset ...]
--
-- datasets: mnist, fashion_mnist (default: both). Writes, per dataset,
-- optimizers_<dataset>.png (4 panels: train/val accuracy, train/val loss
-- per epoch, one line per optimizer, means of the runs) and
-- optimizers_<dataset>_summary.csv, and optimizers_histories.csv with every
-- history (dataset, optimizer, run, epoch, loss, acc, val_loss, val_acc).
--
-- Run r of every optimizer starts from the same seed (LUNET_SEED + 100 (r-1)),
-- so the optimizers are compared from the same initial weights and batches.
--
-- Epochs: 10, as the notebook, on a 60,000-image training set. On a smaller
-- one (the 8,000-digit MNIST subset) the epochs are scaled so that every
-- optimizer takes as many steps as in the notebook (10 x 469 = 4,690; 75
-- epochs of 63 steps = 4,725): optimizers are compared per update, and
-- 10 epochs of 63 steps would leave the slow ones (sgd, adagrad) far from
-- where the notebook saw them. An argument epochs=N sets N for every
-- dataset.
--
-- adagrad0 (an extra row): Adagrad with initial_accumulator_value = 0. With
-- tf.keras's defaults (lr 0.001, accumulator 0.1) an Adagrad step is at most
-- 0.001 / sqrt(0.1) = 0.0032 times the gradient in every coordinate, a third
-- of sgd's 0.01, so it cannot overtake sgd in the same number of steps; the
-- notebook's adagrad > sgd matches an accumulator starting at 0 (as in
-- standalone Keras), which this row shows.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp5", "optimizer benchmark (MNIST digits and Fashion-MNIST)", {
  "Flatten -> Dense(250, relu) -> Dense(10, softmax), categorical cross-entropy,",
  "batch 128, 10 epochs, 2 runs per optimizer averaged; validation = the test set.",
  "notebook (MNIST 60k/10k) mean val_acc: sgd 0.9037, rmsprop 0.9764, adagrad 0.9157,",
  "adam 0.9763 (train acc 0.8958 / 0.9933 / 0.9118 / 0.9961)",
})

local RUNS = common.smoke and 1 or 2

-- name, a fresh optimizer (Keras defaults unless said)
local OPTIMIZERS = {
  {"sgd", function() return "sgd" end},
  {"rmsprop", function() return "rmsprop" end},
  {"adagrad", function() return "adagrad" end},
  {"adam", function() return "adam" end},
  {"momentum", function() return ln.optimizers.SGD{momentum = 0.9} end},
  {"nesterov", function() return ln.optimizers.SGD{momentum = 0.9, nesterov = true} end},
  {"nadam", function() return "nadam" end},
  {"adamax", function() return "adamax" end},
  {"adamw", function() return "adamw" end},
  {"adagrad0", function() return ln.optimizers.Adagrad{initial_accumulator_value = 0} end},
}
local KEYS = {"acc", "val_acc", "loss", "val_loss"}

local DATASETS = {
  mnist = {title = "MNIST", load = function()
    return ln.datasets.mnist.load_data()
  end},
  fashion_mnist = {title = "Fashion-MNIST", load = function()
    return ln.datasets.fashion_mnist.load_data(common.smoke and (common.root ..
                                                "/data/fashion-mnist") or nil)
  end},
}

local chosen, epochs_arg = {}, nil
for i = 2, #arg do
  local n = arg[i]:match("^epochs=(%d+)$")
  if n then
    epochs_arg = math.tointeger(tonumber(n))
  elseif DATASETS[arg[i]] then
    chosen[#chosen + 1] = arg[i]
  else
    error("05_optimizers: unknown argument '" .. arg[i] .. "' (mnist, fashion_mnist, epochs=N)", 0)
  end
end
if #chosen == 0 then chosen = {"mnist", "fashion_mnist"} end

-- The notebook's train_mnist(optimizer): a new model, compiled and fitted.
local function train(data, optimizer, epochs)
  local model = ln.Sequential{
    ln.layers.Flatten{input_shape = {28, 28}},
    ln.layers.Dense{250, activation = "relu"},
    ln.layers.Dense{10, activation = "softmax"},
  }
  model:compile{optimizer = optimizer, loss = ln.losses.categorical_crossentropy,
                metrics = {"acc"}}
  local history = model:fit(data.x_train, data.y_train, {
    batch_size = 128, epochs = epochs, verbose = false, shuffle = true,
    validation_data = {data.x_test, data.y_test}})
  return history, model
end

local all_histories = {}

local function benchmark(name)
  local spec = DATASETS[name]
  local t0 = ln.time()
  local tr, te = spec.load()
  -- to_categorical; normalize(x, axis=1) in Keras = dim 2 here
  local data = {
    x_train = ln.utils.normalize(tr.x, 2), y_train = ln.utils.to_categorical(tr.y, 10),
    x_test = ln.utils.normalize(te.x, 2), y_test = ln.utils.to_categorical(te.y, 10),
  }
  local n_train = #data.x_train
  local epochs = epochs_arg or (n_train >= 60000 and 10 or math.floor(10 * 60000 / n_train + 0.5))
  epochs = common.epochs(epochs)
  local steps = (n_train + 127) // 128
  print(string.format("\n==== %s: x_train %s, y_train %s, x_test %s, y_test %s", spec.title,
                      common.shape(data.x_train), common.shape(data.y_train),
                      common.shape(data.x_test), common.shape(data.y_test)))
  print(string.format("%d epochs of %d steps = %d updates per run (notebook: 10 x 469 = 4690)",
                      epochs, steps, epochs * steps))

  local results = {}
  for _, o in ipairs(OPTIMIZERS) do
    local opt = o[1]
    local r = {acc = {}, val_acc = {}, loss = {}, val_loss = {}, history = {}, seconds = 0}
    results[opt] = r
    print(string.format("--- %s ---", opt))
    for i = 1, RUNS do
      print(string.format("starting  %d", i - 1))
      ln.random.seed(common.seed + 100 * (i - 1))
      local t = ln.time()
      local history, model = train(data, o[2](), epochs)
      local train_loss, train_accuracy = model:evaluate(data.x_train, data.y_train, {verbose = false})
      local val_loss, val_accuracy = model:evaluate(data.x_test, data.y_test, {verbose = false})
      r.seconds = r.seconds + (ln.time() - t)
      r.loss[i], r.acc[i], r.val_loss[i], r.val_acc[i] = train_loss, train_accuracy, val_loss,
                                                          val_accuracy
      r.history[i] = history
      all_histories[#all_histories + 1] = {{name, opt, i - 1}, history}
    end
  end

  local function mean(list)
    local s = 0
    for _, v in ipairs(list) do s = s + v end
    return s / #list
  end

  -- the notebook's printout: optimizer, key, mean over the runs
  for _, o in ipairs(OPTIMIZERS) do
    for _, key in ipairs(KEYS) do
      print(o[1], key, string.format("%.16g", mean(results[o[1]][key])))
    end
  end

  -- the same as a table, best validation accuracy first
  local order = {}
  for _, o in ipairs(OPTIMIZERS) do order[#order + 1] = o[1] end
  table.sort(order, function(a, b) return mean(results[a].val_acc) > mean(results[b].val_acc) end)
  print(string.format("\n%s, %d epochs, mean of %d run(s):", spec.title, epochs, RUNS))
  print(string.format("%-10s %8s %8s %8s %8s %8s", "optimizer", "acc", "val_acc", "loss",
                      "val_loss", "s/run"))
  local csv = {"optimizer,acc,val_acc,loss,val_loss,seconds_per_run\n"}
  for _, opt in ipairs(order) do
    local r = results[opt]
    print(string.format("%-10s %8.4f %8.4f %8.4f %8.4f %8.1f", opt, mean(r.acc), mean(r.val_acc),
                        mean(r.loss), mean(r.val_loss), r.seconds / RUNS))
    csv[#csv + 1] = string.format("%s,%.17g,%.17g,%.17g,%.17g,%.3f\n", opt, mean(r.acc),
                                  mean(r.val_acc), mean(r.loss), mean(r.val_loss), r.seconds / RUNS)
  end
  common.write_text(run:path("optimizers_" .. name .. "_summary.csv"), table.concat(csv))
  print("ranking by val_acc: " .. table.concat(order, " > "))

  -- the 4-panel figure, mean history of the runs per optimizer
  local titles = {"Training Accuracy on ", "Validation Accuracy on ", "Training Loss on ",
                  "Validation Loss on "}
  local panels = {}
  for p, key in ipairs(KEYS) do
    local series = {}
    for _, o in ipairs(OPTIMIZERS) do
      local hs = results[o[1]].history
      local y = {}
      for e = 1, #hs[1].history[key] do
        local s = 0
        for _, h in ipairs(hs) do s = s + h.history[key][e] end
        y[e] = s / #hs
      end
      series[#series + 1] = {y = y, label = o[1]}
    end
    panels[p] = {title = titles[p] .. spec.title, series = series, legend = "best", grid = true,
                 xlabel = "epoch", legend_size = 8}
  end
  run:save_fig("optimizers_" .. name, function(file)
    ln.plot.panels{filename = file, rows = 1, cols = 4, figsize = {20, 5}, panels = panels}
  end)

  local fields = {}
  for _, o in ipairs(OPTIMIZERS) do fields[#fields + 1] = {o[1], mean(results[o[1]].val_acc)} end
  for _, o in ipairs(OPTIMIZERS) do
    fields[#fields + 1] = {"acc_" .. o[1], mean(results[o[1]].acc)}
  end
  fields[#fields + 1] = {"epochs", epochs}
  run:result(fields, "exp5_" .. name, ln.time() - t0)
end

for _, name in ipairs(chosen) do benchmark(name) end
common.write_histories_csv(run:path("optimizers_histories.csv"), {"dataset", "optimizer", "run"},
                           all_histories)
print("saved " .. run:path("optimizers_histories.csv"))
run:result({{"datasets", table.concat(chosen, "+")}, {"runs", RUNS}})
