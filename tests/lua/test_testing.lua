-- ln.testing, the checks offered to plugin authors: gradcheck passes on
-- shipped layers and activations and fails on a wrong gradient;
-- check_optimizer passes Adam against a Lua reference of Keras's formula
-- and fails a wrong reference, naming the step and the slot; its
-- regularized steps catch an update_reg that forgets the l1 penalty.
-- Run as `lunet test_testing.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises

local function check(cond, msg, ...)
  if not cond then error(string.format(msg or "check failed", ...), 2) end
end

ln.random.seed(3)
local x = ln.randn(5, 4)

test("gradcheck passes shipped layers and activations", function()
  for _, case in ipairs{
    {ln.layers.Dense{3, activation = "tanh", input_shape = {4}}},
    {ln.layers.PReLU{alpha_initializer = "ones"}},
    {ln.layers.BatchNormalization{}, {training = true}},
    {"elu"}, {"softplus"}, {"softmax"},
  } do
    local r = ln.testing.gradcheck(case[1], x, case[2])
    check(r.ok and r.checked > 0 and r.worst <= 1, "%s: %s", tostring(case[1]), r.msg)
  end
end)

test("gradcheck fails a wrong gradient, naming the element", function()
  -- Dropout in training mode draws a new mask at every forward: its
  -- backward (for the first mask) disagrees with the differences.
  local r = ln.testing.gradcheck(ln.layers.Dropout{0.5}, x, {training = true, raise = false})
  eq(r.ok, false, "ok")
  check(r.msg:find("dx%[%d+%]"), "message %s", r.msg)
  raises(function() ln.testing.gradcheck(ln.layers.Dropout{0.5}, x, {training = true}) end,
         "gradcheck", "numeric")
end)

local function adam_ref(b1)
  return function(t, lr, w, g, s)
    local b2, eps = 0.999, 1e-7
    local alpha = lr * math.sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
    local nw, m, v = {}, {}, {}
    for i = 1, #w do
      m[i] = b1 * s.m[i] + (1 - b1) * g[i]
      v[i] = b2 * s.v[i] + (1 - b2) * g[i] ^ 2
      nw[i] = w[i] - alpha * m[i] / (math.sqrt(v[i]) + eps)
    end
    return nw, {m = m, v = v}
  end
end

test("check_optimizer: Adam against its formula in Lua", function()
  local r = ln.testing.check_optimizer{
    optimizer = function() return ln.optimizers.Adam{learning_rate = 0.01} end,
    reference = adam_ref(0.9)}
  check(r.ok and r.checked > 10000 and r.worst <= 1, "%s", r.msg)
  local bad = ln.testing.check_optimizer{
    optimizer = function() return ln.optimizers.Adam{learning_rate = 0.01} end,
    reference = adam_ref(0.8), raise = false, steps = 3}
  eq(bad.ok, false, "a wrong reference fails")
  check(bad.msg:find("step %d, ") and bad.msg:find("reference"), "message %s", bad.msg)
  local plain = ln.testing.check_optimizer{
    optimizer = function() return ln.optimizers.Adam{learning_rate = 0.01} end,
    reference = adam_ref(0.8), raise = false, steps = 3, regularizer = false}
  check(plain.msg:find("^step %d, "), "without the regularized steps: message %s", plain.msg)
end)

-- SGD's rule in Lua, for one variable.
local function sgd_ref(t, lr, w, g)
  local nw = {}
  for i = 1, #w do nw[i] = w[i] - lr * g[i] end
  return nw, {}
end

test("check_optimizer's regularized steps catch a wrong update_reg", function()
  local dir = os.getenv("LUNET_TEST_PLUGIN_DIR")
  if not dir then error("LUNET_TEST_PLUGIN_DIR not set (run through ctest)") end
  ln.load_plugin(dir .. "/wrong_reg_optimizer.so")
  local good = ln.testing.check_optimizer{reference = sgd_ref, steps = 10,
    optimizer = function() return ln.optimizers.SGD{learning_rate = 0.05} end}
  check(good.ok, "SGD: %s", good.msg)
  local function wrong() return ln.optimizers.TpWrongRegSGD{learning_rate = 0.05} end
  local r = ln.testing.check_optimizer{reference = sgd_ref, optimizer = wrong, steps = 10,
                                       raise = false}
  eq(r.ok, false, "an update_reg without the l1 penalty passes")
  check(r.msg:find("^regularized step %d+, kernel%[%d+%]"), "message %s", r.msg)
  -- its plain update is right, and an l2-only regularizer it folds right
  check(ln.testing.check_optimizer{reference = sgd_ref, optimizer = wrong, steps = 10,
                                   regularizer = false}.ok, "plain steps")
  check(ln.testing.check_optimizer{reference = sgd_ref, optimizer = wrong, steps = 10,
                                   regularizer = ln.regularizers.l2(0.03)}.ok, "l2 only")
  raises(function()
    ln.testing.check_optimizer{reference = sgd_ref, optimizer = wrong, steps = 10}
  end, "regularized step") -- raise defaults to true
end)

test("check_optimizer: bad steps and a reference giving the wrong lengths are named", function()
  local function sgd() return ln.optimizers.SGD{learning_rate = 0.05} end
  for _, steps in ipairs{0, -3, 1.5, "2"} do
    raises(function() ln.testing.check_optimizer{optimizer = sgd, reference = sgd_ref, steps = steps} end,
           "steps must be a positive integer")
  end
  raises(function() ln.testing.check_optimizer{optimizer = sgd, reference = sgd_ref, rtol = -1} end,
         "rtol must be a positive number")
  local short = function(t, lr, w, g) local nw = sgd_ref(t, lr, w, g); nw[#nw] = nil; return nw, {} end
  raises(function() ln.testing.check_optimizer{optimizer = sgd, reference = short, steps = 2} end,
         "the reference returned 29 weights for var1/kernel (30 expected)")
  raises(function() ln.testing.check_optimizer{optimizer = sgd, reference = function() end, steps = 2} end,
         "the reference returned no weights")
  local function adam() return ln.optimizers.Adam{learning_rate = 0.01} end
  local no_v = function(...) local w, s = adam_ref(0.9)(...); s.v = nil; return w, s end
  raises(function() ln.testing.check_optimizer{optimizer = adam, reference = no_v, steps = 2} end,
         "the reference gave no slot 'v'")
  local short_m = function(...) local w, s = adam_ref(0.9)(...); s.m[1] = nil; s.m = {table.unpack(s.m, 2)}; return w, s end
  raises(function() ln.testing.check_optimizer{optimizer = adam, reference = short_m, steps = 2} end,
         "the reference's slot 'm' has 29 values")
end)

T.summary("ln.testing")
