-- Experiment 8: Hands-On ML chapter 15, forecasting a time series with
-- RNNs -- the book's ladder of validation MSEs on its generated series.
--
-- generate_time_series (the book's): per series two sines with random
-- frequencies and offsets plus uniform noise,
--   0.5 sin((t - o1)(10 f1 + 10)) + 0.2 sin((t - o2)(20 f2 + 20)) + 0.1 (u - 0.5)
-- over t = linspace(0, 1, steps); 10,000 series of 50 steps (+1 or +10
-- targets); 7,000 train, 2,000 validation, 1,000 test.
--
-- Models (Adam, MSE, 20 epochs as the book, batch 32):
--   naive       the last value                              book ~0.020
--   linear      Flatten -> Dense(1)                          book ~0.004
--   simple_rnn  SimpleRNN(1), Adam lr 0.005                  book ~0.011-0.014
--   deep_rnn    SimpleRNN(20, seq) -> SimpleRNN(20, seq) -> SimpleRNN(1)   ~0.003
--   deep_rnn2   SimpleRNN(20, seq) -> SimpleRNN(20) -> Dense(1)            ~0.003
--   10 steps ahead (mean over the 10 outputs):
--   rnn_10      SimpleRNN(20, seq) -> SimpleRNN(20) -> Dense(10)           ~0.008
--   lstm_10     LSTM(20, seq) -> LSTM(20) -> Dense(10)
--   gru_10      GRU(20, seq) -> GRU(20) -> Dense(10)
--
--   lunet scripts/08_time_series.lua [outdir] [epochs=N] [seeds=K]
--
-- Writes time_series.png (a validation series with the forecasts of the
-- one-step models, and the 10-step forecasts of the RNN, LSTM and GRU) and
-- time_series.csv (model, seed, val_mse); seeds=K repeats everything with
-- seeds LUNET_SEED .. LUNET_SEED+K-1 and prints mean and spread.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp8", "time series forecasting with RNNs (Hands-On ML ch. 15)", {
  "10,000 generated series of 50 steps; naive, linear, SimpleRNN(1), deep RNNs,",
  "10 steps ahead with SimpleRNN/LSTM/GRU; book: 0.020, 0.004, 0.011-0.014, 0.003",
})

local EPOCHS, SEEDS = 20, 1
for i = 2, #arg do
  local e, s = arg[i]:match("^epochs=(%d+)$"), arg[i]:match("^seeds=(%d+)$")
  if not (e or s) or tonumber(e or s) < 1 then
    error(string.format("unknown argument '%s' (use epochs=N, seeds=K)", arg[i]), 0)
  end
  EPOCHS, SEEDS = tonumber(e) or EPOCHS, tonumber(s) or SEEDS
end
EPOCHS = common.epochs(EPOCHS)
local N = common.smoke and 1000 or 10000

--- The book's generate_time_series: (batch, steps, 1) float32.
local function generate_time_series(batch, steps)
  local f1, f2, o1, o2 = ln.rand(batch), ln.rand(batch), ln.rand(batch), ln.rand(batch)
  local noise = ln.rand(batch, steps)
  local s = ln.zeros(batch, steps, 1)
  local sv, nv = s:view(-1), noise:view(-1)
  for b = 1, batch do
    local a1, w1, a2, w2 = o1[b], f1[b] * 10 + 10, o2[b], f2[b] * 20 + 20
    for j = 1, steps do
      local t = (j - 1) / (steps - 1)
      local k = (b - 1) * steps + j
      sv[k] = 0.5 * math.sin((t - a1) * w1) + 0.2 * math.sin((t - a2) * w2) + 0.1 * (nv[k] - 0.5)
    end
  end
  return s
end

-- rows [a, b] (1-based) of the first `steps` steps, and the targets after them
local function split(series, steps, ahead)
  local function part(a, b)
    local rows = series:narrow(1, a, b - a + 1)
    local x = rows:narrow(2, 1, steps)
    local y = rows:narrow(2, steps + 1, ahead):reshape(b - a + 1, ahead)
    return x, y
  end
  local n7, n9 = N * 7 // 10, N * 9 // 10
  local xt, yt = part(1, n7)
  local xv, yv = part(n7 + 1, n9)
  return {x_train = xt, y_train = yt, x_valid = xv, y_valid = yv}
end

local L = ln.layers
local MODELS = {
  {"linear", 1, function() return {L.Flatten{input_shape = {50, 1}}, L.Dense{1}} end},
  {"simple_rnn", 1, function() return {L.SimpleRNN{1, input_shape = {50, 1}}} end, 0.005},
  {"deep_rnn", 1, function()
    return {L.SimpleRNN{20, return_sequences = true, input_shape = {50, 1}},
            L.SimpleRNN{20, return_sequences = true}, L.SimpleRNN{1}}
  end},
  {"deep_rnn2", 1, function()
    return {L.SimpleRNN{20, return_sequences = true, input_shape = {50, 1}},
            L.SimpleRNN{20}, L.Dense{1}}
  end},
  {"rnn_10", 10, function()
    return {L.SimpleRNN{20, return_sequences = true, input_shape = {50, 1}},
            L.SimpleRNN{20}, L.Dense{10}}
  end},
  {"lstm_10", 10, function()
    return {L.LSTM{20, return_sequences = true, input_shape = {50, 1}}, L.LSTM{20}, L.Dense{10}}
  end},
  {"gru_10", 10, function()
    return {L.GRU{20, return_sequences = true, input_shape = {50, 1}}, L.GRU{20}, L.Dense{10}}
  end},
}
local BOOK = {naive = 0.020, linear = 0.004, simple_rnn = 0.0125, deep_rnn = 0.003,
              deep_rnn2 = 0.003, rnn_10 = 0.008}

local results, order = {}, {"naive"}
for _, m in ipairs(MODELS) do order[#order + 1] = m[1] end
local csv = {"model,seed,val_mse,seconds"}
local shown = {} -- the first seed's forecasts for the figure

for seed = common.seed, common.seed + SEEDS - 1 do
  ln.random.seed(seed)
  local one = split(generate_time_series(N, 51), 50, 1)
  local ten = split(generate_time_series(N, 60), 50, 10)
  local naive = ((one.x_valid:select(2, 50) - one.y_valid) ^ 2):mean()
  results.naive = results.naive or {}
  table.insert(results.naive, naive)
  csv[#csv + 1] = string.format("naive,%d,%.6f,0", seed, naive)
  print(string.format("seed %d  %-11s val MSE %.5f", seed, "naive", naive))
  if seed == common.seed then shown.one, shown.ten = one, ten end
  for _, m in ipairs(MODELS) do
    local name, ahead, build, lr = m[1], m[2], m[3], m[4]
    local data = ahead == 1 and one or ten
    local t0 = ln.time()
    local model = ln.Sequential(build())
    model:compile{loss = "mse", optimizer = ln.optimizers.Adam{learning_rate = lr or 0.001}}
    model:fit(data.x_train, data.y_train, {epochs = EPOCHS, batch_size = 32, verbose = 0,
                                           validation_data = {data.x_valid, data.y_valid}})
    local mse = model:evaluate(data.x_valid, data.y_valid, {verbose = 0})
    local dt = ln.time() - t0
    results[name] = results[name] or {}
    table.insert(results[name], mse)
    csv[#csv + 1] = string.format("%s,%d,%.6f,%.1f", name, seed, mse, dt)
    print(string.format("seed %d  %-11s val MSE %.5f  (%d epochs, %.1f s)", seed, name, mse,
                        EPOCHS, dt))
    if seed == common.seed then shown[name] = model:predict(data.x_valid:narrow(1, 1, 1)) end
  end
end

-- ---- summary, csv, figure ---------------------------------------------------------------

local function stats(v)
  local s, lo, hi = 0, math.huge, -math.huge
  for _, x in ipairs(v) do s, lo, hi = s + x, math.min(lo, x), math.max(hi, x) end
  return s / #v, lo, hi
end
print(string.format("\n%-11s %9s %9s %9s %9s", "model", "mean", "min", "max", "book"))
local fields = {}
for _, name in ipairs(order) do
  local mean, lo, hi = stats(results[name])
  print(string.format("%-11s %9.5f %9.5f %9.5f %9s", name, mean, lo, hi,
                      BOOK[name] and string.format("%.4f", BOOK[name]) or "-"))
  fields[#fields + 1] = {name, mean}
end
local f = assert(io.open(run:path("time_series.csv"), "w"))
f:write(table.concat(csv, "\n"), "\n")
f:close()

local function xy(t, x0)
  local xs, ys = {}, {}
  local v = t:view(-1)
  for i = 1, #v do xs[i], ys[i] = x0 + i - 1, v[i] end
  return xs, ys
end
-- A panel's series: validation series 1, its target(s), the models' forecasts.
local function forecast_series(data, target_style, names, line)
  local sx, sy = xy(data.x_valid[1], 0)
  local tx, ty = xy(data.y_valid[1], 50)
  local list = {{x = sx, y = sy, style = "b.-", label = "series"},
                {x = tx, y = ty, style = target_style, label = "target"}}
  for i, name in ipairs(names) do
    local px, py = xy(shown[name], 50)
    list[#list + 1] = {x = px, y = py, style = ({"rx", "g^", "ms"})[i] .. line, label = name}
  end
  return list
end
run:save_fig("time_series", function(path)
  local one = forecast_series(shown.one, "bo", {"linear", "simple_rnn", "deep_rnn2"}, "")
  local ten = forecast_series(shown.ten, "bo-", {"rnn_10", "lstm_10", "gru_10"}, "-")
  ln.plot.panels{filename = path, rows = 1, cols = 2, figsize = {14, 5}, panels = {
    {title = "one step ahead (validation series 1)", xlabel = "t", ylabel = "x(t)",
     series = one, grid = true, legend = "best"},
    {title = "10 steps ahead", xlabel = "t", series = ten, grid = true, legend = "best"},
  }}
end)
run:result(fields)
