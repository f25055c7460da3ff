-- A functional model's threads (core/engine/net_graph.c on the runs of
-- net_run.c): a graph of two inputs and three outputs (two scored) gives in
-- team mode on 2 threads bitwise the fit, evaluate and predict of one
-- thread, and a bad label of the second output met inside a team segment
-- is named as it is on one thread.
-- Run as `lunet test_graph_threads.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"

local N = 640

local function data()
  ln.random.seed(3)
  local wide, deep = ln.randn({N, 12}), ln.randn({N, 300})
  local y1 = (ln.rand{N} * 10):floor():int()
  local y2 = (ln.rand{N} * 4):floor():int()
  return wide, deep, y1, y2
end

-- Wide & Deep with an auxiliary head of other classes, three outputs in
-- all (the third with no loss: it is predicted, not scored); the two
-- hidden layers large enough to be cut on the team (the first by the
-- halves of its 300 input features).
local function model()
  local L = ln.layers
  local wide = ln.Input{shape = {12}, name = "wide"}
  local deep = ln.Input{shape = {300}, name = "deep"}
  local h1 = L.Dense{128, activation = "relu"}(deep)
  local h2 = L.Dense{128, activation = "relu"}(h1)
  local r = L.Add{}({h1, h2})
  local main = L.Dense{10, activation = "softmax", name = "main"}(L.Concatenate{}({wide, r}))
  local aux = L.Dense{4, activation = "softmax", name = "aux"}(r)
  local code = L.Dense{3, name = "code"}(r)
  local m = ln.Model{inputs = {wide, deep}, outputs = {main, aux, code}}
  m:compile{loss = {main = "sparse_categorical_crossentropy", aux = "sparse_categorical_crossentropy"},
            optimizer = ln.optimizers.SGD{learning_rate = 0.05},
            metrics = {main = {"accuracy"}, aux = {"accuracy"}},
            loss_weights = {main = 0.7, aux = 0.3}}
  return m
end

local function run(threads, mode, y2)
  local wide, deep, y1, y2ok = data()
  ln.set_num_threads(threads)
  ln.random.seed(11)
  local m = model()
  local net = m:_get_net()
  net = net.c or net
  net:set_threading(mode)
  local ok, h = pcall(m.fit, m, {wide, deep}, {main = y1, aux = y2 or y2ok},
                      {epochs = 2, batch_size = 32, verbose = 0})
  local r = {ok = ok, err = not ok and tostring(h) or nil, h = h, stats = net:threading_stats()}
  if ok then
    r.w = m:get_weights()
    r.ev = {m:evaluate({wide, deep}, {main = y1, aux = y2ok}, {batch_size = 32, verbose = 0})}
    r.p = m:predict({wide, deep}, {batch_size = 32})
  end
  ln.set_num_threads(1)
  return r
end

T.test("two scored outputs on a team (2 threads) = one thread, bitwise", function()
  local one = run(1, "serial")
  local team = run(2, "team")
  assert(one.ok, one.err)
  assert(team.ok, team.err)
  T.eq(#team.w, #one.w, "weight count")
  for i = 1, #one.w do assert(one.w[i]:equal(team.w[i]), "weight " .. i .. " differs") end
  local keys = one.h.keys
  T.eq(#keys >= 5, true, "history keys: loss, two output losses, two accuracies")
  for _, k in ipairs(keys) do
    for e = 1, 2 do
      T.eq(team.h.history[k][e], one.h.history[k][e], string.format("%s[%d]", k, e))
    end
  end
  T.eq(#team.ev, #one.ev, "evaluate's results")
  for i = 1, #one.ev do T.eq(team.ev[i], one.ev[i], "evaluate " .. i) end
  for k = 1, 3 do assert(one.p[k]:equal(team.p[k]), "prediction " .. k .. " differs") end
  T.eq(team.stats.team_batches > 0, true, "batches ran on the team")
end)

T.test("a bad label of output 2 inside a team segment: the same error as one thread", function()
  local _, _, _, y2 = data()
  y2 = y2:clone()
  y2[N - 5] = 9 -- the last batch, after the team segment has started
  local one = run(1, "serial", y2)
  local team = run(2, "team", y2)
  T.eq(one.ok, false, "one thread fails")
  T.eq(team.ok, false, "the team fails")
  assert(one.err:find("output 2", 1, true), one.err)
  assert(one.err:find("label 9", 1, true), one.err)
  T.eq(team.err, one.err, "the same message")
  T.eq(team.stats.team_batches > 0, true, "the failing batch ran on the team")
end)

T.summary("graph_threads")
