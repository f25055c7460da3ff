-- The serial tail of a team step (issue 21; core/engine/net_batch.c,
-- include/lunet/plugin_loss.h, plugins/metrics/*): the gather's tasks fetch
-- the next batch's rows as they copy this one's (float32 and uint8 inputs,
-- shuffled, a last batch shorter than the others), and the loss and the
-- metrics take one path below LN_PAR_MIN elements and an OpenMP loop above.
-- Training on the team equals training on one thread, bitwise; a metric
-- or a loss gives the same counts on either path, and the right ones.
-- Run as `lunet test_team_tail.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"

local root = os.getenv("LUNET_SOURCE_DIR") or "../.."
local train = ln.datasets.fashion_mnist.load_data(root .. "/data/fashion-mnist")
local N = 1000 -- batches of 48: the last one has 40 rows
local xu = train.x:narrow(1, 1, N)
local xf = xu:float() / 255
local y = train.y:narrow(1, 1, N)

local function fit(x, threads, mode, is_uint8)
  ln.set_num_threads(threads)
  ln.random.seed(11)
  local L = ln.layers
  local first = is_uint8 and L.Rescaling{1 / 255, input_shape = {28, 28}}
                or L.Reshape{{28, 28}, input_shape = {28, 28}}
  local m = ln.Sequential{first, L.Flatten{}, L.Dense{300}, L.LeakyReLU{alpha = 0.3},
                          L.Dense{10, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{learning_rate = 0.05},
            metrics = {"accuracy"}}
  m:_get_net():set_threading(mode)
  local h = m:fit(x, y, {batch_size = 48, epochs = 2, verbose = 0, shuffle = true})
  local st = m:_get_net():threading_stats()
  ln.set_num_threads(1)
  return m:get_weights(), h, st
end

local function same(a, b, what)
  local wa, ha = a[1], a[2]
  local wb, hb = b[1], b[2]
  T.eq(#wa, #wb, what .. ": weight count")
  for i = 1, #wa do assert(wa[i]:equal(wb[i]), what .. ": weight " .. i .. " differs") end
  for _, k in ipairs(ha.keys) do
    for e = 1, #ha.history[k] do
      T.eq(hb.history[k][e], ha.history[k][e], string.format("%s: %s[%d]", what, k, e))
    end
  end
end

for _, case in ipairs({{"float32", xf}, {"uint8", xu}}) do
  T.test("shuffled " .. case[1] .. " rows: team (2 threads) = one thread, bitwise", function()
    local one = {fit(case[2], 1, "serial", case[1] == "uint8")}
    local team = {fit(case[2], 2, "team", case[1] == "uint8")}
    same(one, team, case[1])
    T.eq(team[3].team_batches > 0, true, case[1] .. ": batches ran on the team")
    if team[3].team_batches == 0 then
      io.write("  (no team could start here: serial and team ran alike)\n")
    end
  end)
end

-- accuracy, top-k and the loss from predictions computed here
local function reference(p, labels, k)
  local rows, cols = p:shape()[1], p:shape()[2]
  local pt, lt = p:totable(), labels:totable()
  local hits, topk, loss = 0, 0, 0
  for r = 1, rows do
    local row, lab = pt[r], lt[r] + 1
    local best = 1
    for c = 2, cols do if row[c] > row[best] then best = c end end
    if best == lab then hits = hits + 1 end
    local above = 0
    for c = 1, cols do if row[c] > row[lab] then above = above + 1 end end
    if above < k then topk = topk + 1 end
    loss = loss - math.log(math.max(row[lab], 1e-7))
  end
  return hits / rows, topk / rows, loss / rows
end

T.test("metrics and the loss: the same on one thread's path and the OpenMP loop's", function()
  -- 1500 rows of 100 classes (top-k's k: Keras's default 5): 150,000 elements in one batch (> LN_PAR_MIN)
  local R, K = 1500, 100
  ln.set_num_threads(2)
  ln.random.seed(5)
  local x = ln.rand({R, 20})
  local labels = (ln.rand({R}) * K):floor():int()
  local m = ln.Sequential{ln.layers.Dense{K, activation = "softmax", input_shape = {20}}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd",
            metrics = {"accuracy", "sparse_top_k_categorical_accuracy"}}
  local whole = {m:evaluate(x, labels, {batch_size = R, verbose = 0})}
  local small = {m:evaluate(x, labels, {batch_size = 50, verbose = 0})}
  local acc, topk, loss = reference(m:predict(x, {batch_size = R}), labels, 5)
  ln.set_num_threads(1)
  T.near(whole[1], loss, 1e-5 * loss, "loss, one batch of 150,000 elements")
  T.near(small[1], loss, 1e-5 * loss, "loss, batches of 5,000 elements")
  T.eq(whole[2], acc, "accuracy, one batch")
  T.eq(small[2], acc, "accuracy, small batches")
  T.near(whole[3], topk, 1e-12, "top-5, one batch")
  T.near(small[3], topk, 1e-12, "top-5, small batches")
end)

T.summary("team_tail")
