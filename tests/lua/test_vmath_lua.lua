-- exp, log, tanh and sigmoid of tensors from Lua run lunet/vmath.h's
-- vectorised functions (issue 21): within a few ulp of double-precision
-- math, C99 special values, and the same bits for 1 and 2 threads on
-- tensors large enough to be split. The ulp bounds themselves are swept
-- in tests/c/test_vmath.c.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test

local function sigmoid(x) return 1 / (1 + math.exp(-x)) end
local function tanh(x)
  if x > 20 then return 1 elseif x < -20 then return -1 end
  local e = math.exp(2 * x)
  return (e - 1) / (e + 1)
end

-- |got - want| in units of float32 spacing at want (2^-23 relative).
local function ulps(got, want)
  local a = math.abs(want)
  if a < 2^-126 then return math.abs(got - want) / 2^-149 end
  local _, e = math.frexp(a)
  return math.abs(got - want) / 2^(e - 24)
end

-- n evenly spaced float32 values from lo to hi
local function lin(lo, hi, n)
  local t = {}
  for i = 1, n do t[i] = lo + (hi - lo) * (i - 1) / (n - 1) end
  return ln.tensor(t)
end

local cases = {
  {"exp", math.exp, -80, 80, 2},
  {"log", math.log, 1e-6, 1e6, 2},
  {"tanh", tanh, -12, 12, 3},
  {"sigmoid", sigmoid, -80, 80, 3},
}

test("values within the ulp bounds of vmath.h", function()
  for _, c in ipairs(cases) do
    local name, f, lo, hi, bound = table.unpack(c)
    local n = 20001
    local x = lin(lo, hi, n)
    if name == "log" then x = lin(math.log(lo), math.log(hi), n):exp() end
    local y = x[name](x)
    local xs, ys = x:totable(), y:totable()
    for i = 1, n, 7 do
      local e = ulps(ys[i], f(xs[i]))
      if e > bound then
        error(string.format("%s(%.9g) = %.9g, want %.9g (%.2f ulp > %d)", name, xs[i],
                            ys[i], f(xs[i]), e, bound))
      end
    end
  end
end)

test("special values", function()
  local inf, nan = math.huge, 0 / 0
  local x = ln.tensor({inf, -inf, nan, 0, -0.0, 100})
  local e = x:exp():totable()
  T.eq(e[1], inf, "exp(inf)"); T.eq(e[2], 0, "exp(-inf)"); assert(e[3] ~= e[3], "exp(nan)")
  T.eq(e[4], 1, "exp(0)"); T.eq(e[6], inf, "exp(100) overflows")
  local l = x:log():totable()
  T.eq(l[1], inf, "log(inf)"); assert(l[2] ~= l[2], "log(-inf) is nan")
  T.eq(l[4], -inf, "log(0)"); T.eq(l[5], -inf, "log(-0)")
  local t = x:tanh():totable()
  T.eq(t[1], 1, "tanh(inf)"); T.eq(t[2], -1, "tanh(-inf)"); assert(t[3] ~= t[3], "tanh(nan)")
  T.eq(1 / t[5], -inf, "tanh(-0) is -0")
  local s = x:sigmoid():totable()
  T.eq(s[1], 1, "sigmoid(inf)"); T.eq(s[2], 0, "sigmoid(-inf)"); T.eq(s[4], 0.5, "sigmoid(0)")
end)

test("1 and 2 threads give the same bits", function()
  local x = lin(-30, 30, 400003)
  local pos = x:abs() + 1e-3
  for _, name in ipairs{"exp", "tanh", "sigmoid"} do
    ln.set_num_threads(1)
    local a = x[name](x)
    ln.set_num_threads(2)
    local b = x[name](x)
    assert(a:equal(b), name .. ": 1 vs 2 threads differ")
  end
  ln.set_num_threads(1)
  local a = pos:log()
  ln.set_num_threads(2)
  assert(a:equal(pos:log()), "log: 1 vs 2 threads differ")
end)

T.summary()
