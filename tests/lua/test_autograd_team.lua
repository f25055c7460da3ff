-- ln.autograd.team_run(fn, ...): fn inside one parallel region (the thread
-- team every kernel hands its work to), as fit's tape path runs its
-- batches. It must return fn's results, raise fn's errors after the region,
-- nest, and never change a number: a tape training loop and fit of a model
-- with Lua layers give bitwise the same weights with and without it, for 1
-- and 2 threads.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq = T.test, T.eq

local function same(a, b, what)
  if not (a and b and a:equal(b)) then
    error(string.format("%s: %s vs %s", what, tostring(a), tostring(b)), 2)
  end
end

test("team_run returns fn's results and passes its arguments", function()
  for _, threads in ipairs{1, 2} do
    ln.set_num_threads(threads)
    local a, b, c, d = ln.autograd.team_run(function(x, y) return x + y, nil, "s", y end, 2, 3)
    eq(a, 5); eq(b, nil); eq(c, "s"); eq(d, 3)
    eq(select("#", ln.autograd.team_run(function() end)), 0)
    -- nested: the inner call runs in the outer region
    local n = ln.autograd.team_run(function()
      return ln.autograd.team_run(function() return (ln.ones(300, 300) * 2):sum() end)
    end)
    eq(n, 180000)
  end
  ln.set_num_threads(2)
end)

test("team_run raises fn's error after the region, and the next call works", function()
  ln.set_num_threads(2)
  T.raises_as(function()
    ln.autograd.team_run(function() local _ = ln.ones(2, 3) + ln.ones(4, 5) end)
  end, {"cannot be broadcast"})
  T.raises_as(function() ln.autograd.team_run(function() error("boom") end) end, {"boom"})
  T.raises_as(function() ln.autograd.team_run(42) end, {"team_run", "expects a function"})
  eq(ln.autograd.team_run(function() return ln.ones(70000):sum() end), 70000)
end)

-- Three steps of a tape loop (matmul, broadcast bias, dropout, softmax
-- cross-entropy, Adam) with big enough kernels to be split.
local function tape_loop(threads, team)
  ln.set_num_threads(threads)
  ln.random.seed(41)
  local w1 = ln.Variable(ln.initializers.get("he_normal"){200, 300})
  local b1 = ln.Variable(ln.zeros(300))
  local w2 = ln.Variable(ln.initializers.get("glorot_uniform"){300, 10})
  local x, y = ln.rand(256, 200), (ln.rand(256) * 10):int():reshape(256, 1) + 1
  local opt = ln.optimizers.Adam{}
  local drop = ln.layers.Dropout{0.2}
  local function loop()
    for _ = 1, 3 do
      local tape = ln.GradientTape()
      local loss = tape:run(function()
        local h = drop((ln.matmul(x, w1) + b1):sigmoid(), {training = true})
        return -ln.matmul(h, w2):log_softmax():gather(2, y):mean()
      end)
      local vars = {w1, b1, w2}
      opt:apply_gradients(ln.zip(tape:gradient(loss, vars), vars))
    end
  end
  if team then ln.autograd.team_run(loop) else loop() end
  return {w1, b1, w2}
end

test("a tape loop inside team_run gives the same weights (1 and 2 threads)", function()
  local ref = tape_loop(1, false)
  for _, c in ipairs{{1, true}, {2, false}, {2, true}} do
    local got = tape_loop(c[1], c[2])
    for i = 1, 3 do
      same(ref[i], got[i], string.format("variable %d, %d threads, team %s", i, c[1],
                                         tostring(c[2])))
    end
  end
  ln.set_num_threads(2)
end)

local LuaDense = ln.layers.Layer:extend{
  name = "TeamLuaDense", defaults = {units = 32},
  build = function(self, s)
    self.kernel = self:add_weight{name = "kernel", shape = {s[#s], self.units},
                                  initializer = "he_normal"}
    self.bias = self:add_weight{name = "bias", shape = {self.units}, initializer = "zeros"}
  end,
  call = function(self, x) return ln.matmul(x, self.kernel) + self.bias end,
}

-- mode: nil (the default, "auto": a measured serial/team choice), "serial"
-- or "team", set on the tape runner after a first fit of one batch (the
-- same in every configuration); 110 training batches of 24 rows, so "auto"
-- waits, probes both ways and exploits its choice within the run.
local function fit_lua_dense(threads, mode)
  ln.set_num_threads(threads)
  ln.random.seed(7)
  local m = ln.Sequential{LuaDense{units = 300, input_shape = {784}}, ln.layers.LeakyReLU{},
                          ln.layers.Dropout{0.1}, LuaDense{units = 10},
                          ln.layers.Activation{activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = ln.optimizers.SGD{
              learning_rate = 1e-2, momentum = 0.9}, metrics = {"accuracy"}}
  ln.random.seed(8)
  local x, y = ln.rand(1760, 784), (ln.rand(1760) * 10):int()
  m:fit(x:narrow(1, 1, 24), y:narrow(1, 1, 24), {batch_size = 24, verbose = 0})
  local net = rawget(m, "_compiled").net
  if mode then
    net:set_threading(mode)
    eq(net:threading(), (mode == "team" and threads > 1) and "team" or "serial",
       "threading() after set_threading(" .. mode .. "), " .. threads .. " threads")
  end
  local h = m:fit(x, y, {batch_size = 24, epochs = 2, verbose = 0, validation_split = 0.25})
  local p = m:predict(x:narrow(1, 1, 300))
  if mode then -- 2 x 55 training and 2 x 19 validation batches (predict has its own runner)
    local st = net:threading_stats()
    eq(st.serial_batches + st.team_batches, 2 * 55 + 2 * 19, "threading_stats: batches, " .. mode)
    if mode == "serial" or threads == 1 then eq(st.team_batches, 0, "no team batch, " .. mode) end
    if mode == "team" and threads > 1 then
      assert(st.team_batches >= 2 * 55, "team: " .. st.team_batches .. " batches on the team")
    end
  end
  return m:get_weights(), h.history, p
end

test("fit of a model with Lua layers is the same for 1 and 2 threads, serial, team or auto",
     function()
  local w1, h1, p1 = fit_lua_dense(1)
  for _, c in ipairs{{2}, {2, "team"}, {2, "serial"}, {1, "team"}} do
    local what = string.format("%d threads, %s", c[1], c[2] or "auto")
    local w2, h2, p2 = fit_lua_dense(c[1], c[2])
    eq(#w1, #w2)
    for i = 1, #w1 do same(w1[i], w2[i], "weight " .. i .. ", " .. what) end
    for _, k in ipairs{"loss", "accuracy", "val_loss", "val_accuracy"} do
      for e = 1, 2 do eq(h1[k][e], h2[k][e], k .. " epoch " .. e .. ", " .. what) end
    end
    same(p1, p2, "predict, " .. what)
  end
  ln.set_num_threads(2)
end)

test("the tape runner's threading: modes, bad modes, bad runs", function()
  ln.set_num_threads(2)
  local core = require("lunet.core").autograd
  local t = core.tuner()
  eq(core.tuner_mode(t), "serial", "auto starts serial")
  core.tuner_set(t, "team")
  eq(core.tuner_mode(t), "team")
  T.raises_as(function() core.tuner_set(t, "both") end, {"invalid option", "both"})
  eq(core.tuner_stats(t).team_batches, 0, "tuner_stats of a fresh tuner")
  T.raises_as(function() core.tuner_stats({}) end, {"lunet.TapeTuner"})
  T.raises_as(function() core.tuner_set({}, "team") end, {"lunet.TapeTuner"})
  -- a run: batches of 3 rows over 10 rows, on the team, in order
  local seen = {}
  eq(core.team_batches(t, "train", 10, 3, nil, nil, function(s, n) seen[#seen + 1] = s .. ":" .. n end), 4)
  eq(table.concat(seen, " "), "0:3 3:3 6:3 9:1")
  -- at most max_batches; an error stops the run: nil, the message, batches done
  eq(core.team_batches(t, "test", 10, 3, 2, nil, function() end), 2)
  local done, err, at = core.team_batches(t, "predict", 10, 3, nil, nil, function(s)
    if s == 6 then error("bad batch", 0) end
  end)
  eq(done, nil); eq(err, "bad batch"); eq(at, 2)
  eq(core.team_batches(t, "train", 0, 3, nil, nil, function() error("never") end), 0)
  T.raises_as(function() core.team_batches(t, "train", 10, 0, nil, nil, print) end,
              {"bs", ">= 1"})
  T.raises_as(function() core.team_batches(t, "train", -1, 3, nil, nil, print) end,
              {"count", ">= 0"})
  T.raises_as(function() core.team_batches(t, "fit", 10, 3, nil, nil, print) end,
              {"invalid option", "fit"})
  for _, mode in ipairs{"serial", "auto"} do
    core.tuner_set(t, mode)
    eq(core.team_batches(t, "train", 100, 1, nil, nil, function() end), 100, mode)
  end
end)

-- ln.matmul and the tape's products inside a team are cut into tasks
-- (blocks of rows, or of columns when B is transposed and wide), and
-- outside a team on 2 threads their feature halves go to the helper pool
-- (ln_parallel_pair): every shape and transpose must give the bits of the
-- uncut product on one thread.
test("matmul inside team_run is bitwise the product outside, any shape", function()
  ln.random.seed(5)
  local cases = { -- m, k, n (big enough to be cut, edges not multiples of tiles)
    {256, 784, 300}, {300, 256, 100}, {256, 100, 300}, {12, 500, 700}, {37, 129, 61},
    {8, 64, 4000}, {1000, 33, 9}, {257, 777, 301},
    -- feature halves whose second half is the longer (769 = 384 + 385)
    {769, 60, 23}, {24, 100, 833}, {31, 769, 40},
  }
  for _, c in ipairs(cases) do
    local m, k, n = c[1], c[2], c[3]
    for _, t in ipairs{{false, false}, {true, false}, {false, true}, {true, true}} do
      local a = t[1] and ln.randn(k, m) or ln.randn(m, k)
      local b = t[2] and ln.randn(n, k) or ln.randn(k, n)
      local o = {transpose_a = t[1], transpose_b = t[2]}
      ln.set_num_threads(1)
      local ref = ln.matmul(a, b, o)
      ln.set_num_threads(2)
      local got = ln.autograd.team_run(function() return ln.matmul(a, b, o) end)
      same(ref, got, string.format("(%d, %d, %d) transposes %s %s", m, k, n,
                                   tostring(t[1]), tostring(t[2])))
      same(ref, ln.matmul(a, b, o), string.format("(%d, %d, %d) transposes %s %s, " ..
                                                  "2 threads outside a team", m, k, n,
                                                  tostring(t[1]), tostring(t[2])))
      local out = ln.zeros(m, n)
      ln.autograd.team_run(function() ln.matmul(a, b, {out = out, transpose_a = t[1],
                                                       transpose_b = t[2]}) end)
      same(ref, out, "out form")
    end
    -- the tape's gradient products (a^T g and g b^T) on the team
    -- and the bias's (a sum over rows, cut by columns on the team)
    local a, b = ln.Variable(ln.randn(m, k)), ln.Variable(ln.randn(k, n))
    local bias = ln.Variable(ln.randn(n))
    local function grads()
      local tape = ln.GradientTape()
      local y = tape:run(function()
        local z = ln.matmul(a, b) + bias
        return (z * z):sum()
      end)
      return tape:gradient(y, {a, b, bias})
    end
    ln.set_num_threads(1)
    local r = grads()
    ln.set_num_threads(2)
    local g = ln.autograd.team_run(grads)
    same(r[1], g[1], "gradient of a"); same(r[2], g[2], "gradient of b")
    same(r[3], g[3], "gradient of the bias")
    g = grads() -- 2 threads, no team: the halves on the pool
    same(r[1], g[1], "gradient of a, outside a team"); same(r[2], g[2], "gradient of b, outside")
    same(r[3], g[3], "gradient of the bias, outside a team")
  end
  ln.set_num_threads(2)
end)

-- fit's tape path gathers each batch of a shuffled epoch straight from the
-- index (index:take): the rows at the index's entries, any dtype.
test("index:take gives the rows at a run of the index's entries", function()
  local nn = require("lunet.core").nn
  ln.random.seed(3)
  local ix = nn.index_new(10)
  ix:shuffle()
  local order = ix:totable()
  local x = ln.randn(10, 3, 2)
  local y = ln.tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "int32")
  local xb, yb = ix:take(x, 4, 5), ix:take(y, 4, 5)
  eq(xb:shape()[1], 5); eq(xb:shape()[2], 3); eq(xb:shape()[3], 2)
  for r = 1, 5 do
    local src = order[4 + r] -- 0-based row of x
    same(xb:narrow(1, r, 1), x:narrow(1, src + 1, 1), "row " .. r)
    eq(yb[r], src)
  end
  eq(ix:take(x, 10, 0):shape()[1], 0)
  T.raises(function() ix:take(x, 8, 3) end, "outside the index")
  T.raises(function() ix:take(x, -1, 2) end, "outside the index")
  T.raises(function() ix:take(ln.zeros(4, 2), 0, 10) end, "of a tensor of 4 rows")
  -- a batch big enough to be cut over the team: the same rows
  local big = ln.randn(3000, 50)
  local bix = nn.index_new(3000)
  bix:shuffle()
  local ref = bix:take(big, 100, 2000)
  ln.set_num_threads(2)
  same(ln.autograd.team_run(function() return bix:take(big, 100, 2000) end), ref, "team take")
  local pos = bix:totable()
  for _, r in ipairs{1, 777, 2000} do
    same(ref:narrow(1, r, 1), big:narrow(1, pos[100 + r] + 1, 1), "big row " .. r)
  end
end)

T.summary()

-- auto's serial segments run as one thread (as the C net's: net_run.c
-- serial_alone), so no kernel forks a region there; the count is restored
-- after each segment and after a batch that fails.
local Probe = ln.layers.Layer:extend{
  name = "TeamThreadProbe", defaults = {},
  call = function(self, x)
    local n = ln.get_num_threads()
    self.seen[n] = (self.seen[n] or 0) + 1
    if self.fail_at and self.calls then
      self.calls = self.calls + 1
      if self.calls == self.fail_at then error("probe layer fails on purpose") end
    end
    return x * 1
  end,
}

test("auto's serial segments of a Lua-layer model run as one thread; the count comes back",
     function()
  ln.set_num_threads(2)
  local probe = Probe{input_shape = {8}}
  probe.seen = {}
  local m = ln.Sequential{probe, ln.layers.Dense{4}}
  m:compile{loss = "mse", optimizer = "sgd"}
  local x, y = ln.rand(24 * 40, 8), ln.rand(24 * 40, 4)
  m:fit(x, y, {batch_size = 24, epochs = 1, verbose = 0})
  local net = rawget(m, "_compiled").net
  local st = net:threading_stats()
  assert(st.serial_batches >= 16, "auto ran its first 16 batches serially: " .. st.serial_batches)
  assert((probe.seen[1] or 0) >= 16, "calls seen with 1 thread: " .. tostring(probe.seen[1]))
  eq(ln.get_num_threads(), 2, "thread count after fit in auto")
  -- forced serial keeps the count (kernels may fork their own threads)
  probe.seen = {}
  net:set_threading("serial")
  m:fit(x, y, {batch_size = 24, epochs = 1, verbose = 0})
  eq(probe.seen[1], nil, "forced serial sees 2 threads")
  -- a batch that fails inside an auto serial segment: the error reaches
  -- fit's caller, and the count is 2 again
  net:set_threading("auto")
  probe.calls, probe.fail_at = 0, 5
  local ok, err = pcall(m.fit, m, x, y, {batch_size = 24, epochs = 1, verbose = 0})
  assert(not ok and tostring(err):find("fails on purpose", 1, true), tostring(err))
  eq(ln.get_num_threads(), 2, "thread count after a failed batch in auto")
end)
