--- lunet.testing (ln.testing): checks for plugin authors' tests, the same
-- ones lunet holds its own units to.
--
--   ln.testing.gradcheck(layer_or_activation, x [, opts]) -> report
--     dx and the gradient of every trainable weight, from the layer's
--     backward with dy = r (fixed pseudo-random values in [-1, 1]), against
--     central differences of L = sum(r . forward(x)) computed with the
--     layer's own float32 forward (step 1e-3; an element passes when
--     |numeric - analytic| <= atol * scale + rtol * |numeric| + abs, scale
--     the largest |numeric| of its variable: atol 5e-3, rtol 1e-2, abs 1e-6
--     -- tests/c/gradcheck.c and lunet/gradcheck.h say why). A string names
--     an activation (checked as ln.layers.Activation{name}). opts: training
--     (false), step, atol, rtol, abs, raise (true: raise when it fails).
--     Regularizers add to the gradient, not to L: check without them.
--   ln.testing.check_optimizer{optimizer = ctor, reference = fn [, steps =
--     50, shapes = {{6, 5}, {37}}, rtol = 1e-6]} -> report
--     ctor() makes the optimizer; fn(t, lr, w, g, slots) is the rule in
--     Lua for one variable: t the 1-based step, lr this step's learning
--     rate, w and g arrays of numbers (doubles), slots a table name ->
--     array; it returns the new w and the new slots (same layout). At
--     every step the reference gets the plugin's current float32 state and
--     the same (clipped: give no clipping) gradients; the new weights must
--     agree within rtol of the update plus the float32 rounding of the
--     stored weight, the slots within rtol relative (the C suites' rule).
--     Then the same steps on a regularized variable, as fit trains it (a
--     Dense kernel with `regularizer`, default l1_l2{l1 = 0.01, l2 =
--     0.02}; false skips it): the reference on the gradient plus the
--     penalty's, which checks a plugin's update_reg (plugin.h) when it has
--     one.
-- Reports: {ok, checked, worst (largest error / tolerance), msg}.
local E = require "lunet.errors"
local core = require "lunet.core"

local M = {}
local sformat = string.format

-- A fixed pseudo-random value in [-1, 1] for position i (no generator
-- state is touched).
local function r_at(i)
  return ((i * 7919 + 104729) % 2001) / 1000 - 1
end

-- The float32 value nearest x, and the gap to the next float above |x|.
local function f32(x) return (string.unpack("<f", string.pack("<f", x))) end
local function ulp(x)
  local f = math.abs(f32(x))
  local bits = string.unpack("<I4", string.pack("<f", f))
  return string.unpack("<f", string.pack("<I4", bits + 1)) - f
end

local function flat(t) return t:contiguous():view(-1) end

local function fail_or(report, opts, where)
  if not report.ok and (opts.raise == nil or opts.raise) then
    E.raise(sformat("%s: %s", where, report.msg))
  end
  return report
end

function M.gradcheck(layer, x, opts)
  opts = opts or {}
  if type(layer) == "string" then layer = require("lunet.layers").Activation{layer} end
  if not core.is_tensor(x) then E.raise("gradcheck: x must be a float tensor (batch first)") end
  local training = opts.training and true or false
  local step, atol = opts.step or 1e-3, opts.atol or 5e-3
  local rtol, abs = opts.rtol or 1e-2, opts.abs or 1e-6
  local y = layer:forward(x, {training = training})
  local n = #flat(y)
  local r = y:clone()
  local rf = flat(r)
  for i = 1, n do rf[i] = r_at(i) end
  local function loss()
    local yf = flat(layer:forward(x, {training = training}))
    local s = 0
    for i = 1, n do s = s + rf[i] * yf[i] end
    return s
  end
  loss()
  local vars = {{name = "dx", value = x, grad = layer:backward(r):clone()}}
  for _, v in ipairs(layer.variables) do
    if v.trainable and v.grad then
      vars[#vars + 1] = {name = v.name, value = v.value, grad = v.grad:clone()}
    end
  end
  local report = {ok = true, checked = 0, worst = 0, msg = "passed"}
  for _, v in ipairs(vars) do
    local xf, gf = flat(v.value), flat(v.grad)
    local num, scale = {}, 0
    for i = 1, #xf do
      local x0 = xf[i]
      xf[i] = x0 + step
      local xp = xf[i]
      local fp = loss()
      xf[i] = x0 - step
      local xm = xf[i]
      local fm = loss()
      xf[i] = x0
      num[i] = (fp - fm) / (xp - xm)
      scale = math.max(scale, math.abs(num[i]))
    end
    for i = 1, #xf do
      local tol = atol * scale + rtol * math.abs(num[i]) + abs
      local ratio = math.abs(num[i] - gf[i]) / tol
      if ratio ~= ratio then ratio = math.huge end
      report.checked = report.checked + 1
      if ratio > report.worst then
        report.worst = ratio
        report.msg = sformat("%s[%d]: numeric %.9g, analytic %.9g (tolerance %.3g, scale %.3g)",
                             v.name, i, num[i], gf[i], tol, scale)
      end
      if ratio > 1 then report.ok = false end
    end
  end
  loss() -- leave the layer's output at the unperturbed input
  return fail_or(report, opts, "gradcheck " .. tostring(layer.name))
end

-- The reference's results for a variable of n elements and these slots,
-- checked: a clear error instead of arithmetic on nil further on.
local function reference_of(spec, where, n, names, ...)
  local w, s = spec.reference(...)
  if type(w) ~= "table" or #w ~= n then
    E.raise(sformat("check_optimizer: the reference returned %s weights for %s (%d expected)",
                    type(w) == "table" and tostring(#w) or "no", where, n))
  end
  for _, nm in ipairs(names) do
    if type(s) ~= "table" or type(s[nm]) ~= "table" then
      E.raise(sformat("check_optimizer: the reference gave no slot '%s'", nm))
    end
    if #s[nm] ~= n then
      E.raise(sformat("check_optimizer: the reference's slot '%s' has %d values for %s (%d expected)",
                      nm, #s[nm], where, n))
    end
  end
  return w, s
end

local function copy_of(t)
  local f, a = flat(t), {}
  for i = 1, #f do a[i] = f[i] end
  return a
end

-- A regularized variable, as fit trains it: the kernel of a Dense with an
-- l1_l2 regularizer, one train_on_batch per step. fit folds the penalty's
-- gradient into the optimizer's own pass when the plugin has update_reg
-- (plugin.h), and adds it to the gradient in a pass of its own when not:
-- either way the step must be the reference's on the gradient plus the
-- penalty's. That gradient comes from a twin model with the same weights
-- whose apply_gradients, overridden on the instance (so fit cannot fold),
-- records what it is given and updates nothing.
local function check_folded(spec, steps, rtol, bad)
  local ln = require "lunet"
  local D, U, B = 7, 5, 4
  local reg = spec.regularizer or ln.regularizers.l1_l2{l1 = 0.01, l2 = 0.02}
  local function model(opt)
    local m = ln.Sequential{ln.layers.Dense{U, input_shape = {D}, use_bias = false,
                                            kernel_regularizer = reg}}
    m:compile{loss = "mse", optimizer = opt}
    return m
  end
  local opt, twin_opt = spec.optimizer(), spec.optimizer()
  local seen
  twin_opt.apply_gradients = function(_, p) seen = copy_of(p[1][1]) end
  local m, twin = model(opt), model(twin_opt)
  local x, y = core.zeros(B, D), core.zeros(B, U)
  local function batch(step)
    local xf, yf = flat(x), flat(y)
    for i = 1, #xf do xf[i] = r_at(i * 13 + step * 101) end
    for i = 1, #yf do yf[i] = r_at(i * 17 + step * 211) / 2 end
  end
  batch(0)
  m:train_on_batch(x, y) -- the optimizer's slots now exist
  local kernel = m.layers[1].kernel.value -- the live tensor fit updates
  local names = opt:get_slot_names()
  for step = 1, steps do
    batch(step)
    twin:set_weights(m:get_weights())
    twin:train_on_batch(x, y)
    local w, s = copy_of(kernel), {}
    for _, nm in ipairs(names) do s[nm] = copy_of(opt:get_slot(kernel, nm)) end
    local t, lr = opt.iterations + 1, opt:current_learning_rate()
    m:train_on_batch(x, y)
    local w_want, s_want = reference_of(spec, "a regularized kernel", #w, names, t, lr, w, seen, s)
    local wf = flat(kernel)
    for i = 1, #wf do
      local tol = rtol * math.abs(w_want[i] - w[i]) + ulp(w_want[i])
      bad(math.abs(wf[i] - w_want[i]) / tol,
          sformat("regularized step %d, kernel[%d]: %.9g, reference %.9g (from %.9g, "
                  .. "gradient with the penalty's %.9g, lr %g)", step, i, wf[i],
                  w_want[i], w[i], seen[i], lr))
    end
    for _, nm in ipairs(names) do
      local sf, want = flat(opt:get_slot(kernel, nm)), s_want[nm]
      for i = 1, #sf do
        bad(math.abs(sf[i] - want[i]) / (rtol * math.abs(want[i]) + 1e-300),
            sformat("regularized step %d, slot '%s' of kernel[%d]: %.9g, reference %.9g",
                    step, nm, i, sf[i], want[i]))
      end
    end
  end
end

function M.check_optimizer(spec)
  if type(spec) ~= "table" or type(spec.optimizer) ~= "function" or
     type(spec.reference) ~= "function" then
    E.raise("check_optimizer: expects {optimizer = constructor, reference = function}")
  end
  local steps, rtol = spec.steps or 50, spec.rtol or 1e-6
  if math.type(steps) ~= "integer" or steps < 1 then
    E.raise(sformat("check_optimizer: steps must be a positive integer, got %s", tostring(steps)))
  end
  if type(rtol) ~= "number" or not (rtol > 0) then
    E.raise(sformat("check_optimizer: rtol must be a positive number, got %s", tostring(rtol)))
  end
  local shapes = spec.shapes or {{6, 5}, {37}}
  local opt = spec.optimizer()
  local pairs_, state = {}, {}
  for k, shape in ipairs(shapes) do
    local w, g = core.zeros(table.unpack(shape)), core.zeros(table.unpack(shape))
    local wf = flat(w)
    for i = 1, #wf do wf[i] = r_at(i + 1000 * k) / 2 end
    pairs_[k] = {g, w, name = sformat("var%d/kernel", k)}
  end
  opt:build(pairs_)
  local names = opt:get_slot_names()
  local report = {ok = true, checked = 0, worst = 0, msg = "passed"}
  local function bad(ratio, msg)
    report.checked = report.checked + 1
    if ratio ~= ratio then ratio = math.huge end
    if ratio > report.worst then report.worst, report.msg = ratio, msg end
    if ratio > 1 then report.ok = false end
  end
  for step = 1, steps do
    local scale = step % 3 == 0 and 3 or (step % 3 == 1 and 0.2 or 1)
    local before = {}
    for k, p in ipairs(pairs_) do
      local gf, wf = flat(p[1]), flat(p[2])
      for i = 1, #gf do gf[i] = r_at(i * 31 + step * 977 + k) * scale end
      local w, g, s = {}, {}, {}
      for i = 1, #wf do w[i], g[i] = wf[i], gf[i] end
      for _, nm in ipairs(names) do
        local sf, a = flat(opt:get_slot(p[2], nm)), {}
        for i = 1, #sf do a[i] = sf[i] end
        s[nm] = a
      end
      before[k] = {w = w, g = g, s = s}
    end
    local t, lr = opt.iterations + 1, opt:current_learning_rate()
    opt:apply_gradients(pairs_)
    for k, p in ipairs(pairs_) do
      local b = before[k]
      local w_want, s_want = reference_of(spec, p.name, #b.w, names, t, lr, b.w, b.g, b.s)
      local wf = flat(p[2])
      for i = 1, #wf do
        local tol = rtol * math.abs(w_want[i] - b.w[i]) + ulp(w_want[i])
        bad(math.abs(wf[i] - w_want[i]) / tol,
            sformat("step %d, %s[%d]: %.9g, reference %.9g (from %.9g, lr %g)", step,
                    p.name, i, wf[i], w_want[i], b.w[i], lr))
      end
      for _, nm in ipairs(names) do
        local sf, want = flat(opt:get_slot(p[2], nm)), s_want[nm]
        for i = 1, #sf do
          local tol = rtol * math.abs(want[i]) + 1e-300
          bad(math.abs(sf[i] - want[i]) / tol,
              sformat("step %d, slot '%s' of %s[%d]: %.9g, reference %.9g", step, nm,
                      p.name, i, sf[i], want[i]))
        end
      end
    end
  end
  if spec.regularizer ~= false then check_folded(spec, steps, rtol, bad) end
  return fail_or(report, spec, "check_optimizer " .. tostring(opt.class_name or opt.name))
end

return M
