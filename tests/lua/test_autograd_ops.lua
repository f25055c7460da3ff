-- Finite-difference gradient checks of every differentiable tensor
-- operation on the tape, against float64 references (ref64.lua): the tape
-- differentiates L = sum(r * f(x...)) for a fixed random r (its
-- output_gradients); central differences of the same L computed in double
-- from the reference give the numeric gradient. Tolerances as the C
-- suites' float64 checks (gradcheck.c): |num - ana| <= 2e-5 * scale +
-- 1e-4 * |num|, scale the variable's largest |num|. Inputs avoid the kinks
-- of abs, max, clamp and mod. Includes broadcasting, views and slices.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/ref64.lua")
local ln = require "lunet"
local test = T.test

local STEP, RTOL, ATOL = 1e-6, 1e-4, 2e-5

ln.random.seed(1234)

-- Values in [lo, hi) (kept away from kinks by the callers' choices).
local function U(shape, lo, hi)
  lo, hi = lo or -1, hi or 1
  return ln.rand(shape) * (hi - lo) + lo
end

-- The gradient check: fn(inputs...) -> tensor on the tape; ref(refs...)
-- -> the float64 reference array.
local function check(name, inputs, fn, ref)
  local tape = ln.GradientTape()
  local y = tape:run(function()
    for _, x in ipairs(inputs) do tape:watch(x) end
    return fn(table.unpack(inputs))
  end)
  assert(ln.is_tensor(y), name .. ": the function did not give a tensor on the tape")
  local r = U(y:shape())
  local grads = tape:gradient(y, inputs, {output_gradients = r, unconnected_gradients = "zero"})
  local refs = {}
  for i, x in ipairs(inputs) do refs[i] = R.from(x) end
  local yr = ref(table.unpack(refs))
  local yf = R.from(y)
  assert(#yr.data == #yf.data, string.format("%s: %d outputs, reference %d", name,
                                             #yf.data, #yr.data))
  for k = 1, #yr.data do
    if math.abs(yf.data[k] - yr.data[k]) > 1e-5 * (1 + math.abs(yr.data[k])) then
      error(string.format("%s: output %d is %.9g, reference %.9g", name, k, yf.data[k], yr.data[k]))
    end
  end
  local rr = R.from(r)
  local function L()
    local o = ref(table.unpack(refs))
    local s = 0
    for k = 1, #o.data do s = s + rr.data[k] * o.data[k] end
    return s
  end
  for i, x in ipairs(inputs) do
    T.eq(table.concat(grads[i]:shape(), ","), table.concat(x:shape(), ","),
         name .. ": gradient shape of input " .. i)
    local ana, num, scale = R.from(grads[i]), {}, 0
    local d = refs[i].data
    for k = 1, #d do
      local x0 = d[k]
      d[k] = x0 + STEP
      local fp = L()
      d[k] = x0 - STEP
      local fm = L()
      d[k] = x0
      num[k] = (fp - fm) / (2 * STEP)
      scale = math.max(scale, math.abs(num[k]))
    end
    for k = 1, #d do
      local err = math.abs(num[k] - ana.data[k])
      if err > ATOL * scale + RTOL * math.abs(num[k]) + 1e-10 then
        error(string.format("%s: input %d element %d: numeric %.9g, tape %.9g", name, i, k,
                            num[k], ana.data[k]))
      end
    end
  end
end

local function case(name, inputs, fn, ref)
  test(name, function() check(name, inputs, fn, ref) end)
end

local add = function(x, y) return x + y end
local mul = function(x, y) return x * y end

-- ---- arithmetic with broadcasting ----------------------------------------------------

case("add (3,4) + (4,)", {U{3, 4}, U{4}}, function(a, b) return a + b end,
     function(a, b) return R.bin(a, b, add) end)
case("sub (3,1) - (3,4)", {U{3, 1}, U{3, 4}}, function(a, b) return a - b end,
     function(a, b) return R.bin(a, b, function(x, y) return x - y end) end)
case("mul (2,3,4) * (3,1)", {U{2, 3, 4}, U{3, 1}}, function(a, b) return a * b end,
     function(a, b) return R.bin(a, b, mul) end)
case("div (3,4) / (1,4)", {U{3, 4}, U({1, 4}, 0.5, 2)}, function(a, b) return a / b end,
     function(a, b) return R.bin(a, b, function(x, y) return x / y end) end)
case("pow tensor ^ tensor", {U({3, 4}, 0.5, 2), U({4}, -1, 2)}, function(a, b) return a ^ b end,
     function(a, b) return R.bin(a, b, function(x, y) return x ^ y end) end)
case("pow tensor ^ 3 and 2 ^ tensor", {U({2, 3}, 0.5, 2)},
     function(a) return a ^ 3 + 2 ^ a end,
     function(a) return R.map(a, function(x) return x ^ 3 + 2 ^ x end) end)
case("mod a % b (away from the jumps)", {U({3, 4}, 0.1, 0.9), U({4}, 1.2, 1.8)},
     function(a, b) return (a + 2) % b end,
     function(a, b) return R.bin(a, b, function(x, y) return (x + 2) % y end) end)
case("maximum and minimum", {U{3, 4}, U{4}},
     function(a, b) return a:maximum(b) + a:minimum(b * 0.5) end,
     function(a, b)
       return R.bin(R.bin(a, b, math.max), R.bin(a, R.map(b, function(y) return y * 0.5 end), math.min), add)
     end)
case("numbers on either side", {U({2, 3}, 0.5, 2)},
     function(a) return (3 - a) * 2 + 1 / a - a / 4 + -a end,
     function(a) return R.map(a, function(x) return (3 - x) * 2 + 1 / x - x / 4 - x end) end)
case("method forms add sub mul div", {U{3, 2}, U({3, 2}, 0.5, 1.5)},
     function(a, b) return a:add(b):mul(b):sub(a):div(b) end,
     function(a, b)
       return R.bin(R.bin(R.bin(R.bin(a, b, add), b, mul), a, function(x, y) return x - y end), b,
                    function(x, y) return x / y end)
     end)

-- ---- unary ------------------------------------------------------------------------------

local function unary(name, method, f, lo, hi)
  case(name, {U({3, 4}, lo, hi)}, function(a) return a[method](a) end,
       function(a) return R.map(a, f) end)
end
unary("abs", "abs", math.abs, 0.1, 1)
unary("abs of negatives", "abs", math.abs, -1, -0.1)
unary("exp", "exp", math.exp)
unary("log", "log", math.log, 0.5, 2)
unary("sqrt", "sqrt", math.sqrt, 0.5, 2)
unary("square", "square", function(x) return x * x end)
unary("tanh", "tanh", function(x) return (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1) end)
unary("sigmoid", "sigmoid", function(x) return 1 / (1 + math.exp(-x)) end)
unary("neg", "neg", function(x) return -x end)
case("clamp", {ln.tensor({{-0.9, -0.3, 0.2}, {0.45, 0.7, 0.95}})},
     function(a) return a:clamp(-0.5, 0.5) + a:clamp(0) end,
     function(a)
       return R.map(a, function(x) return math.min(math.max(x, -0.5), 0.5) + math.max(x, 0) end)
     end)
case("where with broadcasting", {U{3, 4}, U{4}},
     function(a, b) return ln.where(ln.tensor({{1}, {0}, {1}}, "uint8"), a, b) + ln.where(a:gt(0.1), 0, a) end,
     function(a, b)
       local c = R.new({3, 1}, {1, 0, 1})
       local m = R.map(a, function(x) return x > 0.1 and 1 or 0 end)
       return R.bin(R.where(c, a, b), R.where(m, 0, a), add)
     end)

-- ---- reductions ----------------------------------------------------------------------------

case("sum of everything (0-d on the tape)", {U{3, 4}}, function(a) return a:sum() end,
     function(a) return R.reduce(a, nil, false, R.sum) end)
case("sum along dims", {U{2, 3, 4}}, function(a) return a:sum(2):sum(-1, true) end,
     function(a) return R.reduce(R.reduce(a, 1, false, R.sum), 1, true, R.sum) end)
case("mean", {U{3, 4}}, function(a) return a:mean(1) * a:mean() end,
     function(a)
       return R.bin(R.reduce(a, 0, false, R.mean), R.reduce(a, nil, false, R.mean), mul)
     end)
case("max and min along dims and of everything", {U{3, 5}},
     function(a) return a:max(2) + a:min(1, true):sum() + a:max() end,
     function(a)
       local m = R.reduce(a, 1, false, R.max)
       local s = R.reduce(R.reduce(a, 0, true, R.min), nil, false, R.sum)
       return R.bin(R.bin(m, s, add), R.reduce(a, nil, false, R.max), add)
     end)
case("norm 2, 1, 3, inf", {U({3, 4}, 0.1, 1)},
     function(a) return a:norm() + a:norm(1, 2) + a:norm(3, 1):sum() + a:norm(math.huge, 2) end,
     function(a)
       local s = R.bin(R.reduce(a, nil, false, R.norm(2)), R.reduce(a, 1, false, R.norm(1)), add)
       s = R.bin(s, R.reduce(R.reduce(a, 0, false, R.norm(3)), nil, false, R.sum), add)
       return R.bin(s, R.reduce(a, 1, false, R.norm(math.huge)), add)
     end)
case("norm with negative entries, keepdim", {ln.tensor({{-0.5, 0.3, 0.9}, {0.2, -0.8, 0.4}})},
     function(a) return a / a:norm(2, 2, true) end,
     function(a) return R.bin(a, R.reduce(a, 1, true, R.norm(2)), function(x, y) return x / y end) end)
case("logsumexp", {U{3, 4}}, function(a) return a:logsumexp(2) + a:logsumexp(1, true):sum() * a:logsumexp() end,
     function(a)
       local t = R.reduce(R.reduce(a, 0, true, R.lse), nil, false, R.sum)
       return R.bin(R.reduce(a, 1, false, R.lse), R.bin(t, R.reduce(a, nil, false, R.lse), mul), add)
     end)
case("softmax and log_softmax", {U{2, 3, 4}},
     function(a) return a:softmax() * a:log_softmax(2) + a:softmax(1) end,
     function(a)
       return R.bin(R.bin(R.softmax(a, 2), R.softmax(a, 1, true), mul), R.softmax(a, 0), add)
     end)
case("softmax and log_softmax over rows of 70 and 70 columns (vector lanes, two column pieces)",
     {U{2, 5, 70}},
     function(a) return a:log_softmax(3) * a:softmax(2) end,
     function(a) return R.bin(R.softmax(a, 2, true), R.softmax(a, 1), mul) end)

-- ---- shapes and views ------------------------------------------------------------------------

case("reshape, view, flatten, squeeze, unsqueeze", {U{2, 1, 6}},
     function(a) return a:reshape(3, 4):view(4, 3):flatten():unsqueeze(1):squeeze() * 2 end,
     function(a) return R.map(R.reshape(a, {12}), function(x) return x * 2 end) end)
case("narrow along dim 1 (a view) and dim 2 (a copy)", {U{4, 5}},
     function(a) return a:narrow(1, 2, 2):narrow(2, 3, 2) * a:narrow(1, -2, 2):narrow(2, 1, 2) end,
     function(a)
       return R.bin(R.slice(a, {{1, 2}, {2, 2}}), R.slice(a, {{2, 2}, {0, 2}}), mul)
     end)
case("select along dims 1 and 2", {U{3, 4}},
     function(a) return a:select(1, 2) + a:select(2, -1):sum() end,
     function(a)
       return R.bin(R.slice(a, {1}), R.reduce(R.slice(a, {nil, 3}), nil, false, R.sum), add)
     end)
case("transpose, t, permute", {U{2, 3, 4}},
     function(a) return a:transpose(1, 3):permute(2, 1, 3):reshape(12, 2):t() end,
     function(a) return R.permute(R.reshape(R.permute(R.permute(a, {2, 1, 0}), {1, 0, 2}), {12, 2}), {1, 0}) end)
case("slices t[i], t[{i, {a, b}}], t[{i, j}] and t[{{a, b}}]", {U{3, 4}},
     function(a) return a[2] * a[{3, {2, 3}}]:sum() + a[{1, 4}] + a[{{2, 3}}]:sum() end,
     function(a)
       local s = R.reduce(R.slice(a, {2, {1, 2}}), nil, false, R.sum)
       local v = R.bin(R.slice(a, {1}), s, mul)
       v = R.bin(v, R.slice(a, {0, 3}), add)
       return R.bin(v, R.reduce(R.slice(a, {{1, 2}}), nil, false, R.sum), add)
     end)
case("index with repeats, along dims 1 and 2", {U{4, 3}},
     function(a)
       local i = ln.tensor({2, 4, 2}, "int32")
       return a:index(1, i):index(2, ln.tensor({3, 1}, "int32")) + a[ln.tensor({1, 1, 3}, "int32")]:narrow(2, 1, 2)
     end,
     function(a)
       return R.bin(R.index(R.index(a, 0, {1, 3, 1}), 1, {2, 0}), R.slice(R.index(a, 0, {0, 0, 2}), {nil, {0, 2}}), add)
     end)
case("gather along dim 2", {U{3, 4}},
     function(a) return a:gather(2, ln.tensor({{1, 1}, {4, 2}, {3, 3}}, "int32")) end,
     function(a) return R.gather(a, 1, R.new({3, 2}, {0, 0, 3, 1, 2, 2})) end)
case("masks: elements and rows", {U{3, 4}},
     function(a)
       local m = a:gt(0)
       return a[m]:sum() + a[ln.tensor({1, 0, 1}, "uint8")]:sum(1) + a:masked_select(m):mean()
     end,
     function(a)
       local m = R.map(a, function(x) return x > 0 and 1 or 0 end)
       local rows = R.masked(a, R.new({3}, {1, 0, 1}))
       local all = R.masked(R.reshape(a, {12}), R.reshape(m, {12}))
       local s = R.reduce(all, nil, false, R.sum)
       return R.bin(R.bin(s, R.reduce(rows, 0, false, R.sum), add), R.reduce(all, nil, false, R.mean), add)
     end)
case("cat and stack", {U{2, 3}, U{2, 2}, U{2, 3}},
     function(a, b, c)
       return ln.cat({a, b}, 2) + ln.cat(c, b, 2) * a:cat(b, 2) + ln.stack({a, c}, -1):sum(3):sum(2, true)
     end,
     function(a, b, c)
       local ab = R.cat({a, b}, 1)
       local v = R.bin(ab, R.bin(R.cat({c, b}, 1), ab, mul), add)
       local st = R.reduce(R.reduce(R.stack({a, c}, 2), 2, false, R.sum), 1, true, R.sum)
       return R.bin(v, st, add)
     end)
case("clone", {U{2, 2}}, function(a) return a:clone() * a end,
     function(a) return R.bin(a, a, mul) end)

-- ---- matmul -------------------------------------------------------------------------------------

case("matmul", {U{3, 4}, U{4, 2}}, function(a, b) return ln.matmul(a, b) end,
     function(a, b) return R.matmul(a, b) end)
case("matmul with transposes and the method form", {U{4, 3}, U{2, 4}},
     function(a, b) return ln.matmul(a, b, {transpose_a = true, transpose_b = true}) + b:matmul(a):t() end,
     function(a, b) return R.bin(R.matmul(a, b, true, true), R.permute(R.matmul(b, a), {1, 0}), add) end)
case("a dense layer written with matmul and a broadcast bias", {U{5, 3}, U{3, 2}, U{2}},
     function(x, w, b) return (ln.matmul(x, w) + b):tanh():log_softmax() end,
     function(x, w, b)
       local z = R.map(R.bin(R.matmul(x, w), b, add), function(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end)
       return R.softmax(z, 1, true)
     end)

T.summary()
