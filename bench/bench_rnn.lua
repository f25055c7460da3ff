--[[ bench/bench_rnn.lua -- lunet's side of the RNN training benchmark
(bench/run_rnn.sh runs it and bench/torch_rnn.py in the same run).

  lunet bench/bench_rnn.lua THREADS [REPEAT]

Workloads (Adam, MSE, batch 32, random normal data, one epoch timed after a
warm-up of two batches; best of REPEAT fresh models):
  ch15_lstm  LSTM(20, seq) -> LSTM(20) -> Dense(1) on (50, 1), 7,000 series
             (Hands-On ML chapter 15's series shape)
  ch15_gru   the same with GRU
  long_lstm  LSTM(128) -> Dense(1) on (100, 128), 640 sequences
  long_gru   the same with GRU
One line per workload: "lunet <workload> threads=<n> samples_per_s=<v>". ]]
local ln = require "lunet"
local threads, repeat_ = tonumber(arg[1] or "1"), tonumber(arg[2] or "2")
ln.set_num_threads(threads)

local L = ln.layers
local WORKLOADS = {
  {"ch15_lstm", 50, 1, 7000, function()
    return {L.LSTM{20, return_sequences = true, input_shape = {50, 1}}, L.LSTM{20}, L.Dense{1}}
  end},
  {"ch15_gru", 50, 1, 7000, function()
    return {L.GRU{20, return_sequences = true, input_shape = {50, 1}}, L.GRU{20}, L.Dense{1}}
  end},
  {"long_lstm", 100, 128, 640, function() return {L.LSTM{128, input_shape = {100, 128}}, L.Dense{1}} end},
  {"long_gru", 100, 128, 640, function() return {L.GRU{128, input_shape = {100, 128}}, L.Dense{1}} end},
}

for _, w in ipairs(WORKLOADS) do
  local name, steps, feat, n, build = w[1], w[2], w[3], w[4], w[5]
  ln.random.seed(1)
  local x, y = ln.randn(n, steps, feat), ln.randn(n, 1)
  local best = 0
  for _ = 1, repeat_ do
    local m = ln.Sequential(build())
    m:compile{loss = "mse", optimizer = "adam"}
    m:fit(x:narrow(1, 1, 64), y:narrow(1, 1, 64), {epochs = 1, batch_size = 32, verbose = 0})
    local t0 = ln.time()
    m:fit(x, y, {epochs = 1, batch_size = 32, verbose = 0, shuffle = true})
    best = math.max(best, n / (ln.time() - t0))
  end
  print(string.format("lunet %s threads=%d samples_per_s=%.0f", name, threads, best))
end
