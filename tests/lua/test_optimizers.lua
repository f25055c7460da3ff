-- Tests for ln.optimizers and ln.schedules from Lua: constructors for every
-- class, configs with defaults, errors naming the key, the lr alias and
-- learning_rate get/set, iterations, apply_gradients with a reused pairs
-- list, get/set_weights in Keras order (also deferred before the first
-- step), variables(), get_slot, get/serialize/deserialize, schedules as
-- learning rates, clipping. Run as `lunet test_optimizers.lua`.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, raises = T.test, T.raises

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

-- Largest |a - b| over two float tensors of the same shape.
local function maxdiff(a, b)
  local m = (a - b):abs():max()
  if type(m) ~= "number" then m = m:item() end
  return m
end

local classes = {SGD = 0.01, Adagrad = 0.001, RMSprop = 0.001, Adam = 0.001, Adamax = 0.001,
                 Nadam = 0.001, Adadelta = 0.001, Ftrl = 0.001, AdamW = 0.001, Lion = 1e-4,
                 LAMB = 0.001, LARS = 0.01}

test("a constructor for every optimizer class, with Keras's defaults", function()
  for cls, lr in pairs(classes) do
    local opt = ln.optimizers[cls]{}
    check(opt.class_name == cls, "%s: class_name %s", cls, tostring(opt.class_name))
    local c = opt:get_config()
    check(c.name == cls, "%s: config name %s", cls, tostring(c.name))
    check(c.learning_rate == lr, "%s: learning_rate %s", cls, tostring(c.learning_rate))
    check(c.decay == 0, "%s: decay", cls)
    check(opt.learning_rate == lr and opt.lr == lr, "%s: opt.learning_rate", cls)
    check(opt.iterations == 0, "%s: iterations", cls)
  end
end)

test("Adam's config holds every hyper-parameter", function()
  local c = ln.optimizers.Adam{}:get_config()
  check(c.epsilon == 1e-07, "epsilon %s", tostring(c.epsilon))
  check(c.beta_1 == 0.9 and c.beta_2 == 0.999 and c.amsgrad == false, "betas/amsgrad")
  check(c.clipnorm == nil and c.clipvalue == nil, "unset clips are absent")
  c = ln.optimizers.SGD{momentum = 0.9, nesterov = true, clipnorm = 1}:get_config()
  check(c.momentum == 0.9 and c.nesterov == true and c.clipnorm == 1, "SGD config")
  c = ln.optimizers.RMSprop{}:get_config()
  check(c.rho == 0.9 and c.momentum == 0 and c.centered == false and c.epsilon == 1e-7, "RMSprop")
  c = ln.optimizers.Nadam{}:get_config()
  check(c.schedule_decay == 0.004, "Nadam schedule_decay")
  c = ln.optimizers.Ftrl{}:get_config()
  check(c.learning_rate_power == -0.5 and c.initial_accumulator_value == 0.1, "Ftrl")
  check(ln.optimizers.AdamW{}:get_config().weight_decay == 0.004, "AdamW weight_decay")
  local l = ln.optimizers.Lion{}:get_config()
  check(l.beta_1 == 0.9 and l.beta_2 == 0.99 and l.weight_decay == 0, "Lion")
  c = ln.optimizers.LAMB{}:get_config()
  check(c.epsilon == 1e-6 and c.weight_decay == 0 and c.beta_2 == 0.999, "LAMB")
  c = ln.optimizers.LARS{}:get_config()
  check(c.momentum == 0.9 and c.eeta == 0.001 and c.weight_decay == 0 and
        c.nesterov == false, "LARS")
end)

test("bad values and unknown keys raise errors naming the key", function()
  raises(function() ln.optimizers.Adam{learning_rate = -1} end, "learning_rate")
  raises(function() ln.optimizers.SGD{lr = -0.5} end, "learning_rate")
  raises(function() ln.optimizers.SGD{momentum = 1.5} end, "momentum")
  raises(function() ln.optimizers.RMSprop{momentum = -0.1} end, "momentum")
  raises(function() ln.optimizers.Adam{betta_1 = 0.9} end, "betta_1")
  raises(function() ln.optimizers.Adam{decay = -1} end, "decay")
  raises(function() ln.optimizers.Adam{clipnorm = 1, global_clipnorm = 1} end, "global_clipnorm")
  raises(function() ln.optimizers.Adam{lr = 0.1, learning_rate = 0.1} end, "lr")
  raises(function() ln.optimizers.get("adamm") end, "adamm")
  local opt = ln.optimizers.SGD{}
  raises(function() opt.learning_rate = -2 end, "learning_rate")
  raises(function() opt.iterations = 1.5 end, "iterations")
end)

test("lr is the legacy alias of learning_rate, settable", function()
  local opt = ln.optimizers.SGD{lr = 0.5}
  check(opt.learning_rate == 0.5 and opt.lr == 0.5, "lr alias")
  check(opt:get_config().learning_rate == 0.5 and opt:get_config().lr == nil, "config")
  opt.lr = 0.25
  check(opt.learning_rate == 0.25 and opt:get_config().learning_rate == 0.25, "set lr")
  opt.learning_rate = 0.125
  check(opt.lr == 0.125, "set learning_rate")
end)

test("apply_gradients: plain SGD, reused pairs, iterations", function()
  local w, b = ln.randn(4, 3), ln.randn(3)
  local gw, gb = ln.randn(4, 3), ln.randn(3)
  local w0, b0 = w:clone(), b:clone()
  local opt = ln.optimizers.SGD{learning_rate = 0.1}
  local pairs_ = {{gw, w, name = "dense/kernel"}, {gb, b, name = "dense/bias"}}
  opt:apply_gradients(pairs_)
  opt:apply_gradients(pairs_)
  check(opt.iterations == 2, "iterations %d", opt.iterations)
  check(maxdiff(w, w0 - gw * 0.2) < 1e-6, "kernel")
  check(maxdiff(b, b0 - gb * 0.2) < 1e-6, "bias")
  opt.iterations = 10
  check(opt.iterations == 10, "set iterations")
  raises(function() opt:apply_gradients({{gw, b}}) end, "shape")
end)

test("get_weights/set_weights in Keras order, variables, get_slot", function()
  local w, b = ln.randn(4, 3), ln.randn(3)
  local pairs_ = {{ln.randn(4, 3), w, name = "dense/kernel"}, {ln.randn(3), b, name = "dense/bias"}}
  local opt = ln.optimizers.Adam{learning_rate = 0.01}
  for _ = 1, 3 do opt:apply_gradients(pairs_) end
  local ws = opt:get_weights()
  check(#ws == 5, "%d weights", #ws)
  check(ws[1]:item() == 3, "iterations first")
  local names = {}
  for i, v in ipairs(opt:variables()) do names[i] = v.name end
  local want = {"Adam/iter:0", "Adam/dense/kernel/m:0", "Adam/dense/bias/m:0",
                "Adam/dense/kernel/v:0", "Adam/dense/bias/v:0"}
  for i = 1, 5 do check(names[i] == want[i], "variable %d is %s", i, tostring(names[i])) end
  check(maxdiff(opt:get_slot(w, "m"), ws[2]) == 0, "slot m")
  check(maxdiff(opt:get_slot(b, "v"), ws[5]) == 0, "slot v")
  raises(function() opt:get_slot(w, "q") end, "'q'")
  -- The variables' slot tensors are live: the next step changes them.
  local live = opt:variables()[2][1]
  opt:apply_gradients(pairs_)
  check(maxdiff(live, opt:get_slot(w, "m")) == 0 and maxdiff(live, ws[2]) > 0, "live slot")
  -- Restore into a fresh optimizer (deferred until it sees the variables).
  local fresh = ln.optimizers.Adam{learning_rate = 0.01}
  fresh:set_weights(ws)
  check(fresh.iterations == 0, "deferred")
  local w2, b2 = w:clone(), b:clone()
  opt:set_weights(ws) -- back to step 3
  local p2 = {{pairs_[1][1], w2, name = "dense/kernel"}, {pairs_[2][1], b2, name = "dense/bias"}}
  w:copy(w2); b:copy(b2)
  fresh:apply_gradients(p2)
  opt:apply_gradients(pairs_)
  check(fresh.iterations == 4 and opt.iterations == 4, "iterations after restore")
  check(maxdiff(w, w2) == 0 and maxdiff(b, b2) == 0, "restored run differs")
  raises(function() opt:set_weights({ws[1], ws[2]}) end, "5")
  -- build() creates slots without a step; an integer works for iterations.
  local built = ln.optimizers.Adam{}
  built:build(pairs_)
  check(built.iterations == 0 and #built:get_weights() == 5, "build")
  ws[1] = 7
  built:set_weights(ws)
  check(built.iterations == 7, "integer iterations")
end)

test("Nadam keeps momentum_cache as a global weight", function()
  local w = ln.randn(5)
  local opt = ln.optimizers.Nadam{}
  opt:apply_gradients({{ln.randn(5), w, name = "v"}})
  local vars = opt:variables()
  check(vars[2].name == "Nadam/momentum_cache:0", "name %s", vars[2].name)
  check(math.abs(vars[2][1]:item() - 0.9 * (1 - 0.5 * 0.96 ^ 0.004)) < 1e-7, "mu_1")
end)

test("get by name, by Keras dict, by object; serialize", function()
  check(ln.optimizers.get("adam").class_name == "Adam", "adam")
  check(ln.optimizers.get("RMSprop").class_name == "RMSprop", "RMSprop")
  check(ln.optimizers.get("rmsprop").class_name == "RMSprop", "rmsprop")
  check(ln.optimizers.get("Adamw").class_name == "AdamW", "Adamw")
  local o = ln.optimizers.Adam{}
  check(ln.optimizers.get(o) == o, "object")
  local k = ln.optimizers.get{class_name = "SGD", config = {name = "SGD", lr = 0.3, momentum = 0.5}}
  check(k.learning_rate == 0.3 and k:get_config().momentum == 0.5, "Keras dict")
  -- Keras's Nadam config calls the momentum schedule decay `decay`.
  local n = ln.optimizers.get{class_name = "Nadam", config = {learning_rate = 0.002, decay = 0.004}}
  local nc = n:get_config()
  check(nc.schedule_decay == 0.004 and nc.decay == 0, "Nadam decay mapping")
  local s = ln.optimizers.serialize(ln.optimizers.SGD{learning_rate =
              ln.schedules.ExponentialDecay{0.1, 100, 0.5}})
  check(s.class_name == "SGD" and s.config.learning_rate.class_name == "ExponentialDecay",
        "serialized schedule")
  local back = ln.optimizers.deserialize(s)
  check(back:current_learning_rate() == 0.1, "round trip")
end)

test("schedules: constructors, values, configs", function()
  local e = ln.schedules.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 10,
                                          decay_rate = 0.5, staircase = true}
  check(e(0) == 0.1 and e(9) == 0.1 and e(10) == 0.05, "staircase")
  local c = e:get_config()
  check(c.name == "exponential_decay" and c.decay_steps == 10 and c.staircase == true, "config")
  local p = ln.schedules.PiecewiseConstantDecay{{10, 20}, {1.0, 0.5, 0.1}}
  check(p(10) == 1.0 and p(11) == 0.5 and p(21) == 0.1, "piecewise")
  local cd = ln.schedules.CosineDecay{1.0, 10}
  check(math.abs(cd(5) - 0.5) < 1e-12 and cd(10) == 0, "cosine")
  local pd = ln.schedules.PolynomialDecay{1.0, 10, end_learning_rate = 0}
  check(math.abs(pd(5) - 0.5) < 1e-12, "polynomial")
  local it = ln.schedules.InverseTimeDecay{1.0, 1, 1}
  check(it(3) == 0.25, "inverse time")
  local oc = ln.schedules.OneCycle{total_steps = 100, max_learning_rate = 1}
  check(oc(0) == 0.1 and oc(44) == 1.0 and oc(100) < 1e-3, "one cycle")
  raises(function() ln.schedules.ExponentialDecay{0.1} end, "decay_steps")
  check(ln.schedules.get{class_name = "CosineDecay",
                         config = {initial_learning_rate = 2, decay_steps = 4, name = nil}}(0) == 2,
        "deserialize")
end)

test("a schedule as learning rate: evaluated at iterations, then decay", function()
  local sched = ln.schedules.ExponentialDecay{0.1, 2, 0.5}
  local opt = ln.optimizers.SGD{learning_rate = sched, decay = 1.0}
  check(ln.schedules.is_schedule(opt.learning_rate), "learning_rate is the schedule")
  check(opt:get_config().learning_rate.name == "exponential_decay", "config reference")
  local w = ln.zeros(3)
  local g = ln.ones(3)
  local pairs_ = {{g, w, name = "w"}}
  local total = 0
  for i = 0, 4 do
    local lr = 0.1 * 0.5 ^ (i / 2) / (1 + i)
    check(math.abs(opt:current_learning_rate() - lr) < 1e-15, "lr at %d", i)
    total = total + lr
    opt:apply_gradients(pairs_)
  end
  check(math.abs(w[1] + total) < 1e-6, "weights follow the schedule: %g vs %g", w[1], -total)
  -- The table form works too; setting a number replaces the schedule.
  local o2 = ln.optimizers.Adam{learning_rate = {name = "cosine_decay",
                                                 initial_learning_rate = 0.01, decay_steps = 5}}
  check(o2:current_learning_rate() == 0.01, "table schedule")
  o2.learning_rate = 0.5
  check(o2.learning_rate == 0.5 and o2:get_config().learning_rate == 0.5, "replaced")
end)

test("clipnorm, clipvalue, global_clipnorm", function()
  local w = ln.zeros(4)
  local g = ln.tensor{3, 4, 0, 0} -- norm 5
  local opt = ln.optimizers.SGD{learning_rate = 1, clipnorm = 1}
  opt:apply_gradients({{g, w}})
  check(maxdiff(w, ln.tensor{-0.6, -0.8, 0, 0}) < 1e-7, "clipnorm")
  check(maxdiff(g, ln.tensor{3, 4, 0, 0}) == 0, "gradients are not modified")
  w:zero()
  ln.optimizers.SGD{learning_rate = 1, clipvalue = 2}:apply_gradients({{g, w}})
  check(maxdiff(w, ln.tensor{-2, -2, 0, 0}) == 0, "clipvalue")
  local w1, w2 = ln.zeros(4), ln.zeros(4)
  ln.optimizers.SGD{learning_rate = 1, global_clipnorm = 2.5}:apply_gradients(
    {{g, w1}, {g, w2}}) -- global norm 5 * sqrt(2)
  local f = 2.5 / (5 * math.sqrt(2))
  check(maxdiff(w1, g * -f) < 1e-7 and maxdiff(w2, g * -f) < 1e-7, "global_clipnorm")
end)

-- LAMB and LARS need whole variables (their norms): fit in C (runs of
-- batches on a thread team) must give the step apply_gradients gives
-- between batches -- bitwise, with 1 and 2 threads.
test("LAMB and LARS: fit's step is apply_gradients' step", function()
  ln.random.seed(4)
  local x, y = ln.randn(256, 40), ln.randn(256, 3)
  local function train(opt, lua_path, threads)
    ln.set_num_threads(threads)
    ln.random.seed(8)
    local m = ln.Sequential{ln.layers.Dense{1200, activation = "relu", input_shape = {40}},
                            ln.layers.Dense{3}}
    local o = ln.optimizers.get(opt)
    -- an apply_gradients of the instance sends fit through the Lua path
    if lua_path then
      local apply = o.apply_gradients
      rawset(o, "apply_gradients", function(self, p) return apply(self, p) end)
    end
    m:compile{loss = "mse", optimizer = o}
    m:fit(x, y, {epochs = 2, batch_size = 32, shuffle = false, verbose = 0})
    return m:get_weights()
  end
  local threads = ln.get_num_threads()
  for _, opt in ipairs{"lamb", "lars"} do
    local a = train(opt, false, 2)
    for _, case in ipairs{{true, 2}, {false, 1}} do
      local b = train(opt, case[1], case[2])
      for i = 1, #a do
        check(maxdiff(a[i], b[i]) == 0, "%s: weight %d differs (Lua path %s, %d threads)",
              opt, i, tostring(case[1]), case[2])
      end
    end
  end
  ln.set_num_threads(threads)
end)

T.summary("optimizer")
