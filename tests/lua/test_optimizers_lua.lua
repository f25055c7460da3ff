-- Optimizers written in Lua (ln.optimizers.Optimizer:extend) against the C
-- plugins: SGD with momentum and Nesterov momentum written element by
-- element in Lua (doubles, like the plugin's arithmetic) gives bitwise the
-- same weights as the "sgd" plugin, with a schedule, decay and clipping;
-- Adam written with float32 tensor operations follows the "adam" plugin
-- within float32 rounding. Also the Lua optimizer's interface (config,
-- errors, iterations, weights, slots). Run as `lunet test_optimizers_lua.lua`.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

local function maxabs(t)
  local m = t:abs():max()
  if type(m) ~= "number" then m = m:item() end
  return m
end

-- SGD as tf.keras, one element at a time, rounded to float32 when stored
-- (the assignment does it): the plugin's arithmetic. The plain step uses
-- the learning rate rounded to float32; its product with a float32
-- gradient is exact in double, so w + (-lr32 * g) rounds as the plugin's
-- float32 fused multiply-add. The velocity is in double.
local LuaSGD = ln.optimizers.Optimizer:extend{
  name = "LuaSGD",
  default_learning_rate = 0.01,
  defaults = {momentum = 0.0, nesterov = false},
  check = function(h)
    if h.momentum < 0 or h.momentum > 1 then
      error("LuaSGD: 'momentum' must be in [0, 1], got " .. h.momentum, 4)
    end
  end,
  slots = function(h) return h.momentum > 0 and {{"momentum", 0}} or {} end,
  update = function(self, var, grad, slots, t, lr)
    local w, g = var:view(-1), grad:view(-1)
    local mu = self.momentum
    if mu == 0 then
      local nlr = -ln.tensor({lr}):item() -- lr as float32
      for i = 1, #w do w[i] = w[i] + nlr * g[i] end
      return
    end
    local v = slots.momentum:view(-1)
    for i = 1, #w do
      if self.nesterov then
        local step = lr * g[i]
        local vel = mu * v[i] - step
        v[i] = vel
        w[i] = w[i] + mu * vel - step
      else
        local vel = mu * v[i] - lr * g[i]
        v[i] = vel
        w[i] = w[i] + vel
      end
    end
  end,
}

-- Adam as tf.keras (epsilon-hat), with float32 tensor operations.
local LuaAdam = ln.optimizers.lua_optimizer{
  name = "LuaAdam",
  default_learning_rate = 0.001,
  defaults = {beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7},
  slots = {{"m", 0}, {"v", 0}},
  update = function(self, var, grad, s, t, lr)
    local b1, b2 = self.beta_1, self.beta_2
    local alpha = lr * math.sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
    s.m:copy(s.m * b1 + grad * (1 - b1))
    s.v:copy(s.v * b2 + grad:square() * (1 - b2))
    var:copy(var - s.m * alpha / (s.v:sqrt() + self.epsilon))
  end,
}

-- The same model twice: {kernel (5, 3), bias (3)} from one seed.
local function model(seed)
  ln.random.seed(seed)
  return {ln.randn(5, 3), ln.randn(3)}
end

-- Run `steps` steps of opt on vars with gradients drawn from `seed`.
local function run(opt, vars, steps, seed)
  ln.random.seed(seed)
  local grads = {ln.zeros(5, 3), ln.zeros(3)}
  local pairs_ = {{grads[1], vars[1], name = "dense/kernel"}, {grads[2], vars[2], name = "dense/bias"}}
  for step = 1, steps do
    local scale = step % 3 == 0 and 4 or 1
    grads[1]:copy(ln.randn(5, 3) * scale)
    grads[2]:copy(ln.randn(3) * scale)
    opt:apply_gradients(pairs_)
  end
end

local function same_bits(a, b)
  return maxabs(a - b) == 0
end

test("SGD momentum in Lua == the sgd plugin, bitwise", function()
  for _, nesterov in ipairs{false, true} do
    local args = function()
      return {learning_rate = ln.schedules.ExponentialDecay{0.05, 10, 0.5}, decay = 0.01,
              momentum = 0.9, nesterov = nesterov, clipnorm = 2.0}
    end
    local a, b = model(1), model(1)
    local c_opt, lua_opt = ln.optimizers.SGD(args()), LuaSGD(args())
    run(c_opt, a, 30, 7)
    run(lua_opt, b, 30, 7)
    check(c_opt.iterations == 30 and lua_opt.iterations == 30, "iterations")
    for k = 1, 2 do
      check(same_bits(a[k], b[k]), "nesterov=%s: variable %d differs by %g", tostring(nesterov),
            k, maxabs(a[k] - b[k]))
      check(same_bits(c_opt:get_slot(a[k], "momentum"), lua_opt:get_slot(b[k], "momentum")),
            "momentum slot %d", k)
    end
  end
end)

test("plain SGD in Lua == the sgd plugin, bitwise, with clipvalue", function()
  local a, b = model(2), model(2)
  run(ln.optimizers.SGD{learning_rate = 0.1, clipvalue = 0.5}, a, 20, 3)
  run(LuaSGD{learning_rate = 0.1, clipvalue = 0.5}, b, 20, 3)
  check(same_bits(a[1], b[1]) and same_bits(a[2], b[2]), "differs")
end)

test("Adam with tensor ops in Lua follows the adam plugin", function()
  local a, b = model(3), model(3)
  local c_opt, lua_opt = ln.optimizers.Adam{learning_rate = 0.01}, LuaAdam{learning_rate = 0.01}
  run(c_opt, a, 25, 11)
  run(lua_opt, b, 25, 11)
  for k = 1, 2 do
    local d = maxabs(a[k] - b[k])
    check(d < 2e-6, "variable %d differs by %g", k, d)
    local dm = maxabs(c_opt:get_slot(a[k], "m") - lua_opt:get_slot(b[k], "m"))
    check(dm < 1e-6, "slot m differs by %g", dm)
  end
end)

test("a Lua optimizer has the plugin interface", function()
  local opt = LuaSGD{lr = 0.2, momentum = 0.5}
  check(opt.learning_rate == 0.2 and opt.lr == 0.2, "lr alias")
  local c = opt:get_config()
  check(c.name == "LuaSGD" and c.learning_rate == 0.2 and c.momentum == 0.5 and c.nesterov == false
        and c.decay == 0, "config")
  local ok, err = pcall(LuaSGD, {momentum = 2})
  check(not ok and err:find("momentum", 1, true), "range error: %s", tostring(err))
  ok, err = pcall(LuaSGD, {momentun = 0.1})
  check(not ok and err:find("momentun", 1, true), "unknown key: %s", tostring(err))
  ok, err = pcall(LuaSGD, {learning_rate = -1})
  check(not ok and err:find("learning_rate", 1, true), "negative lr: %s", tostring(err))
  local vars = model(4)
  run(opt, vars, 3, 5)
  check(opt.iterations == 3, "iterations")
  local names = {}
  for i, v in ipairs(opt:variables()) do names[i] = v.name end
  check(names[1] == "LuaSGD/iter:0" and names[2] == "LuaSGD/dense/kernel/momentum:0"
        and names[3] == "LuaSGD/dense/bias/momentum:0", "names %s %s %s", names[1], names[2], names[3])
  local ws = opt:get_weights()
  check(#ws == 3 and ws[1]:item() == 3, "weights")
  -- Restore into a fresh one and continue: same as the original.
  local copy = {vars[1]:clone(), vars[2]:clone()}
  local fresh = LuaSGD{lr = 0.2, momentum = 0.5}
  fresh:set_weights(ws)
  run(opt, vars, 4, 9)
  run(fresh, copy, 4, 9)
  check(fresh.iterations == 7, "restored iterations %d", fresh.iterations)
  check(same_bits(vars[1], copy[1]) and same_bits(vars[2], copy[2]), "resumed run differs")
  opt.learning_rate = 0.01
  check(opt:current_learning_rate() == 0.01, "set learning_rate")
  -- A Lua function works as a schedule for Lua optimizers.
  local f = LuaSGD{learning_rate = function(step) return 1 / (step + 1) end}
  f.iterations = 3
  check(f:current_learning_rate() == 0.25, "function schedule")
end)

T.summary("Lua optimizer")
