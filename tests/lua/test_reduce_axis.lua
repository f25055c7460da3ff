-- Reductions from Lua (issue 21): :sum/:mean/:var/:std/:max/:min/:argmax/
-- :argmin along an axis against a double reference computed here, on
-- shapes that cover the kernels' lanes and tails (rows of 1..1000, blocks of
-- columns of 1..300); ties, NaN and signed zeros follow the documented rule
-- (the first of equal values, a NaN over every number); the whole-tensor
-- :sum on 1M values against a double sum; and 1 vs 2 threads bitwise.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

local U = 2.0 ^ -24 -- float32 unit roundoff

-- x (a tensor) as a flat Lua array and its shape.
local function flat(x) return x:flatten():totable(), x:shape() end

-- The reference of op along dim d (1-based) of a tensor of shape sh whose
-- values are v: a table indexed like the result's flat layout, plus, per
-- output, the sum of |x| (for the error bound).
local function reference(op, v, sh, d)
  local outer, len, inner = 1, sh[d], 1
  for i = 1, d - 1 do outer = outer * sh[i] end
  for i = d + 1, #sh do inner = inner * sh[i] end
  local ref, mag = {}, {}
  for o = 0, outer - 1 do
    for i = 0, inner - 1 do
      local function at(l) return v[(o * len + l) * inner + i + 1] end
      local s, a = 0.0, 0.0
      for l = 0, len - 1 do s, a = s + at(l), a + math.abs(at(l)) end
      local r
      if op == "sum" then r = s
      elseif op == "mean" then r = s / len
      elseif op == "var" or op == "std" then
        local m, ss = s / len, 0.0
        for l = 0, len - 1 do ss = ss + (at(l) - m) ^ 2 end
        r = ss / (len - 1)
        if op == "std" then r = math.sqrt(r) end
      else -- max/min/argmax/argmin: strictly better, or a NaN over a number
        local want_max = op == "max" or op == "argmax"
        local best, pos = at(0), 0
        for l = 1, len - 1 do
          local x = at(l)
          if (want_max and x > best) or (not want_max and x < best) or
             (x ~= x and best == best) then best, pos = x, l end
        end
        r = (op == "max" or op == "min") and best or pos + 1
      end
      ref[o * inner + i + 1], mag[o * inner + i + 1] = r, a
    end
  end
  return ref, mag
end

local function same_float(a, b) -- bits of two float32 values (as doubles)
  if a ~= a then return b ~= b end
  return a == b and (a ~= 0 or 1 / a == 1 / b)
end

local function check(x, op, d)
  local v, sh = flat(x)
  local ref, mag = reference(op, v, sh, d)
  local got = x[op](x, d):flatten():totable()
  eq(#got, #ref)
  for k = 1, #ref do
    local g, r = got[k], ref[k]
    local where = string.format("%s(%d) of %s at %d: got %.9g, want %.9g", op, d,
                                table.concat(sh, "x"), k, g, r)
    if op == "sum" or op == "mean" then
      -- float32 partials of at most 8 terms, added in double (core/
      -- kernels_reduce.c): at most 7 float32 roundings per partial, so
      -- |error| <= 7 u sum|x| (+ the double additions, ~1e-16 sum|x|) and
      -- the final rounding to float32; a mean is the sum / len. A plain
      -- float32 accumulation would be off by up to ~len u sum|x|.
      local scale = op == "mean" and sh[d] or 1
      local bound = U * math.abs(r) + (7 * U + 2.0 ^ -50) * mag[k] / scale
      assert(math.abs(g - r) <= bound, where)
    elseif op == "var" or op == "std" then
      assert(math.abs(g - r) <= 4 * U * math.abs(r) + 2.0 ^ -40 * mag[k] ^ 2, where)
    elseif op == "argmax" or op == "argmin" then
      assert(g == r, where)
    else
      assert(same_float(g, r), where)
    end
  end
end

local ops = {"sum", "mean", "var", "std", "max", "min", "argmax", "argmin"}

test("every op along every axis matches the double reference", function()
  ln.random.seed(7)
  local shapes = {{1000, 3}, {3, 1000}, {17, 33}, {33, 17}, {5, 31, 7},
                  {2, 100, 65}, {4, 7, 300}, {1, 1}, {64, 32}, {2, 1, 129}}
  for _, sh in ipairs(shapes) do
    local x = ln.randn(table.unpack(sh)) * 3 + 1
    for d = 1, #sh do
      for _, op in ipairs(ops) do
        if not ((op == "var" or op == "std") and sh[d] < 2) then check(x, op, d) end
      end
    end
  end
end)

test("ties keep the first position; a NaN wins; -0 and +0 keep the first", function()
  -- long rows (the vector passes) and columns (the block loops)
  local n = 200
  local t = {}
  for i = 1, n do t[i] = (i % 5) - 2.0 end -- maxima 2 first at 4, minima -2 at 5
  local row = ln.tensor(t):reshape(1, n)
  for _, op in ipairs({"max", "min", "argmax", "argmin"}) do
    check(row, op, 2)
    check(row:t():contiguous(), op, 1)
  end
  eq(row:argmax(2):totable()[1], 4)
  eq(row:argmin(2):totable()[1], 5)
  t[150], t[170] = 0 / 0, 0 / 0
  local nan = ln.tensor(t):reshape(1, n)
  for _, x in ipairs({nan, nan:t():contiguous()}) do
    local d = x:shape()[1] == 1 and 2 or 1
    eq(x:argmax(d):totable()[1], 150)
    eq(x:argmin(d):totable()[1], 150)
    local v = x:max(d):totable()[1]
    assert(v ~= v, "max over a NaN is NaN")
  end
  local z = {}
  for i = 1, 100 do z[i] = -1.0 end
  z[40], z[41] = -0.0, 0.0
  local zr = ln.tensor(z):reshape(1, 100)
  local m = zr:max(2):totable()[1]
  eq(1 / m, -math.huge) -- -0 came first
  eq(zr:argmax(2):totable()[1], 40)
  local mc = zr:t():contiguous():max(1):totable()[1]
  eq(1 / mc, -math.huge)
end)

test("max/min along a dim return values and 1-based positions together", function()
  ln.random.seed(3)
  local x = ln.randn(50, 70)
  for d = 1, 2 do
    local v, p = x:max(d)
    eq(v:equal(x:max(d)), true)
    eq(p:equal(x:argmax(d)), true)
    local vn, pn = x:min(d)
    eq(pn:equal(x:argmin(d)), true)
    eq(vn:equal(x:min(d)), true)
  end
end)

test("sum of 1M values: within the documented float32-lanes bound of a double sum",
     function()
  ln.random.seed(11)
  local n = 1000000
  local x = ln.rand(n) * 2 - 1
  local v = x:totable()
  local s, a = 0.0, 0.0
  for i = 1, n do s, a = s + v[i], a + math.abs(v[i]) end
  local got = x:sum()
  -- float32 runs of at most 8 terms per lane, then double (core/kernels.c):
  -- |error| <= 8 u sum|x|
  assert(math.abs(got - s) <= 8 * U * a, string.format("sum %.17g vs %.17g", got, s))
  -- and along an axis: the same scheme (float32 partials of <= 8 terms)
  local rows = x:reshape(1000, 1000)
  check(rows, "sum", 2)
  check(rows, "sum", 1)
end)

test("sums along an axis: float32 partials of <= 8 terms, not a float32 running sum",
     function()
  -- 1 then 999 terms of 2^-25 (half an ulp of 1): a float32 running sum
  -- stays at 1 (each addition a tie to even), off by 999 * 2^-25 = 3e-5;
  -- runs of 8 lose at most 7 of them on the lane holding the 1
  for _, len in ipairs({1000, 77, 513}) do
    local t = {1.0}
    for i = 2, len do t[i] = 2.0 ^ -25 end
    local want = 1 + (len - 1) * 2.0 ^ -25
    local row = ln.tensor(t):reshape(1, len)
    -- a row (dim 2), and 20 equal columns (dim 1: the column blocks, 16
    -- vector lanes and 4 more)
    local cols = (row:t() * ln.ones(1, 20)):contiguous()
    for _, case in ipairs({{row, 2}, {cols, 1}}) do
      local x, d = case[1], case[2]
      for _, got in ipairs(x:sum(d):flatten():totable()) do
        assert(math.abs(got - want) <= 8 * U * want,
               string.format("len %d dim %d: %.9g vs %.9g", len, d, got, want))
        assert(got > 1, "the small terms count")
      end
    end
  end
end)

test("a row's sum and mean do not depend on the rows around it", function()
  -- sum/mean along the last axis, every row equal to the row summed alone
  -- (shapes around groups of 8 rows: a grouped finish was tried)
  for _, shape in ipairs({{19, 100}, {8, 7}, {23, 513}, {9, 1}, {16, 64}}) do
    local m = ln.randn(shape[1], shape[2]) * 1000 + ln.rand(shape[1], shape[2])
    for _, op in ipairs({"sum", "mean"}) do
      local all = m[op](m, 2):flatten():totable()
      for i = 1, shape[1] do
        local alone = m:narrow(1, i, 1)[op](m:narrow(1, i, 1), 2):flatten():totable()[1]
        if all[i] ~= alone then
          error(string.format("%s of %dx%d: row %d is %.9g, alone %.9g", op, shape[1],
                              shape[2], i, all[i], alone))
        end
      end
    end
  end
end)

-- float32 rounding of a double: a sum of two floats rounded so is the
-- float32 sum (double has more than twice float's precision)
local function f32(v) return (string.unpack("f", string.pack("f", v))) end

-- The documented scheme of a row's sum (kernels_reduce.c, row_fsum_c),
-- computed here: short rows as 16 lanes of 8-term trees, longer ones as 64
-- float32 lanes per run of 512 folded into 16 double accumulators.
local function lane_sum(x, n) -- x: 0-based Lua table of float32 values
  local d = {}
  for m = 0, 15 do d[m] = 0.0 end
  if n > 0 and n <= 128 then
    for m = 0, 15 do
      local v = {}
      for q = 0, 7 do v[q] = m + 16 * q < n and x[m + 16 * q] or 0.0 end
      d[m] = f32(f32(f32(v[0] + v[4]) + f32(v[1] + v[5])) +
                 f32(f32(v[2] + v[6]) + f32(v[3] + v[7])))
    end
  else
    for i = 0, n - 1, 512 do
      local e = math.min(n, i + 512)
      local f = {}
      for l = 0, 63 do f[l] = 0.0 end
      local k = i
      while k < e do
        for l = 0, 63 do
          if k + l < e then f[l] = f32(f[l] + x[k + l]) end
        end
        k = k + 64
      end
      for q = 0, 3 do
        for m = 0, 15 do d[m] = d[m] + f[16 * q + m] end
      end
    end
  end
  local r = {}
  for m = 0, 7 do r[m] = d[m] + d[m + 8] end
  return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
end

test("sums along the last axis: the documented lanes bit for bit, on every CPU path",
     function()
  -- the hand-written AVX-512 and AVX2 paths and the generic code must all
  -- give these bits (lengths around vectors, the short-row tree and runs)
  math.randomseed(30)
  for _, n in ipairs({1, 3, 7, 8, 9, 16, 17, 63, 64, 65, 100, 127, 128, 129,
                      200, 511, 512, 513, 577, 1000, 1100}) do
    -- row 1: magnitudes 2^-60..2^60 (the float lanes round); rows 2-3: a
    -- few of +-2^55, +-1, +-3 among zeros (the double tree's order decides
    -- whether a 1 survives next to 2^55)
    local v, spikes = {}, {2.0 ^ 55, -2.0 ^ 55, 1.0, -1.0, 3.0, -3.0}
    for i = 1, 3 * n do
      if i <= n then
        v[i] = f32((math.random() - 0.5) * 2.0 ^ math.random(-60, 60))
      else
        v[i] = math.random() < 0.15 and spikes[math.random(#spikes)] or 0.0
      end
    end
    local m = ln.tensor(v):reshape(3, n)
    local sums, means = m:sum(2):totable(), m:mean(2):totable()
    for row = 0, 2 do
      local x = {}
      for j = 0, n - 1 do x[j] = v[row * n + j + 1] end
      local want = lane_sum(x, n)
      if sums[row + 1] ~= f32(want) or means[row + 1] ~= f32(want / n) then
        error(string.format("row of %d: sum %a mean %a, the lanes give %a %a", n,
                            sums[row + 1], means[row + 1], f32(want), f32(want / n)))
      end
    end
  end
end)

-- ROW_LANES (kernels_reduce.c): 32 double lanes, lane l adding term(x[i + l])
-- for i in steps of 32, then ((a0 + a1) + (a2 + a3)) per lane of 8, the 8
-- in a fixed tree, and the tail added in order
local function row_lanes(x, n, term)
  local a = {}
  for l = 0, 31 do a[l] = 0.0 end
  local i = 0
  while i + 32 <= n do
    for l = 0, 31 do a[l] = a[l] + term(x[i + l]) end
    i = i + 32
  end
  local s = {}
  for l = 0, 7 do s[l] = (a[l] + a[l + 8]) + (a[l + 16] + a[l + 24]) end
  local r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
  for j = i, n - 1 do r = r + term(x[j]) end
  return r
end

test("std along the last axis: the documented double lanes bit for bit, on every CPU path",
     function()
  math.randomseed(31)
  for _, n in ipairs({2, 3, 31, 32, 33, 64, 100, 1000, 1003}) do
    -- row 3: +-2^27 and +-1, each value's negation in the second half (the
    -- mean exactly 0). (The double tree's order itself rarely shows in a
    -- float32 result: 2^55 + 24 against 2^55 + 32 round alike.)
    local v, h = {}, n // 2
    for i = 1, 2 * n do
      v[i] = i <= n and f32((math.random() - 0.5) * 2.0 ^ math.random(-40, 40))
             or f32(math.random() < 0.3 and 2.0 ^ 30 or math.random())
    end
    for j = 1, n do
      if j <= h then
        v[2 * n + j] = (math.random() < 0.2 and 2.0 ^ 27 or 1.0) * (math.random(2) * 2 - 3)
      else
        v[2 * n + j] = j - h <= h and -v[2 * n + j - h] or 0.0
      end
    end
    local got = ln.tensor(v):reshape(3, n):std(2):totable()
    for row = 0, 2 do
      local x = {}
      for j = 0, n - 1 do x[j] = v[row * n + j + 1] end
      local mean = row_lanes(x, n, function(t) return t end) / n
      local ss = row_lanes(x, n, function(t) local d = t - mean; return d * d end)
      local want = f32(math.sqrt(ss / (n - 1)))
      if got[row + 1] ~= want then
        error(string.format("row of %d: std %a, the lanes give %a", n, got[row + 1], want))
      end
    end
  end
end)

test("whole-tensor max/min/argmax/argmin/var/std: the rule and a double reference",
     function()
  ln.random.seed(13)
  for _, n in ipairs({1, 5, 63, 64, 65, 4095, 4097, 300001}) do
    local x = ln.randn(n) * 2
    local v = x:totable()
    v[#v // 3 + 1] = 9.5 -- a tie of the maximum, first at #v // 3 + 1
    v[#v] = 9.5
    local t = ln.tensor(v)
    local mx, mn, imx, imn = v[1], v[1], 1, 1
    local s = 0.0
    for i = 1, #v do
      if v[i] > mx then mx, imx = v[i], i end
      if v[i] < mn then mn, imn = v[i], i end
      s = s + v[i]
    end
    eq(t:max(), mx)
    eq(t:argmax(), imx)
    eq(t:min(), mn)
    eq(t:argmin(), imn)
    if n > 1 then
      local m, ss = s / #v, 0.0
      for i = 1, #v do ss = ss + (v[i] - m) ^ 2 end
      local var = ss / (#v - 1)
      assert(math.abs(t:var() - var) <= 1e-12 * var + 1e-15,
             string.format("var n=%d: %.17g vs %.17g", n, t:var(), var))
      assert(math.abs(t:std() - math.sqrt(var)) <= 1e-12 * math.sqrt(var))
    end
    if n >= 64 then -- NaNs: the first one wins both ways
      v[n - 3], v[n - 1] = 0 / 0, 0 / 0
      local tn = ln.tensor(v)
      eq(tn:argmax(), n - 3)
      eq(tn:argmin(), n - 3)
      assert(tn:max() ~= tn:max())
    end
  end
end)

-- results (numbers or tensors) bit for bit
local function same_bits(one, two)
  for k = 1, #one do
    if type(one[k]) == "number" then
      eq(string.pack("d", one[k]), string.pack("d", two[k]))
    else
      eq(one[k]:equal(two[k]), true)
    end
  end
end

-- all()'s results on one thread, then the same bits on two
local function one_thread_bits_on_two(all)
  local before = ln.get_num_threads()
  ln.set_num_threads(1)
  local one = all()
  ln.set_num_threads(2)
  local two = all()
  ln.set_num_threads(before)
  same_bits(one, two)
end

test("1 and 2 threads give the same bits (whole and along each axis)", function()
  ln.random.seed(5)
  local x = ln.randn(600, 700) -- 420k elements: the parallel path
  local big = ln.randn(3000017)
  local function all()
    local out = {x:sum(), x:mean(), big:sum(), big:mean(), x:max(), x:argmin(),
                 big:max(), big:argmax(), big:min(), big:var(), big:std(), x:var()}
    for d = 1, 2 do
      for _, op in ipairs(ops) do out[#out + 1] = x[op](x, d) end
    end
    return out
  end
  one_thread_bits_on_two(all)
end)

test("split jobs (50k, 100k) and mirrored halves (3M): one thread's bits, call after call", function()
  -- 50k elements: the caller and one helper share an elementwise split job
  -- (core/kernels.c); 100k: the whole sums, max and axis reductions split
  -- too (core/par_for.h), right after a job on the helper as well (the
  -- chain's sum, the var of v + w); 3M: every other call walks
  -- each half the other way (core/par_for.h)
  ln.random.seed(6)
  local cases = {{ln.randn(50003), ln.randn(50, 1000), ln.randn(50003)},
                 {ln.randn(100003), ln.randn(100, 1000), ln.randn(100003)},
                 {ln.randn(3000017), ln.randn(3000, 1000), ln.randn(3000017)}}
  local function all(c)
    local v, m, w = c[1], c[2], c[3]
    return {v:sum(), v:mean(), v:max(), v:var(), m:sum(1), m:sum(2), m:mean(1),
            m:max(1), (v * 1.5 + w):exp(), v:tanh(), v + w, (v * 1.5 + w):exp():sum(),
            (v + w):var()}
  end
  local before = ln.get_num_threads()
  for _, c in ipairs(cases) do
    ln.set_num_threads(1)
    local one = all(c)
    ln.set_num_threads(2)
    for _ = 1, 3 do same_bits(one, all(c)) end
  end
  ln.set_num_threads(before)
end)

test("column sums by groups of rows: one thread's bits on two", function()
  -- from 524288 elements the tasks are groups of rows, added afterwards in
  -- group order (core/kernels_reduce.c); short last groups, narrow rows
  ln.random.seed(7)
  local cases = {ln.randn(5200, 101), ln.randn(2, 2700, 100), ln.randn(80000, 7)}
  local function all()
    local out = {}
    for _, m in ipairs(cases) do
      out[#out + 1] = m:sum(m:dim() - 1)
      out[#out + 1] = m:mean(m:dim() - 1)
    end
    return out
  end
  one_thread_bits_on_two(all)
end)

test("an axis longer than 2^24: exact positions and their values", function()
  local n = (1 << 24) + 4 -- positions past 2^24 are not all floats
  local t = ln.zeros(1, n)
  t[{1, n - 1}] = -7
  local v, p = t:min(2)
  eq(v[1], -7, "min value past 2^24")
  eq(p[1], n - 1, "min position past 2^24")
  t[{1, n}] = 5
  v, p = t:max(2)
  eq(v[1], 5, "max value at the last element")
  eq(p[1], n, "max position at the last element")
  eq(t:argmax(2)[1], n, "argmax")
  eq(t:argmin(2, true):shape()[2], 1, "keepdim")
  t = nil
  local u = ln.zeros(n, 2) -- along dim 1 (strided)
  u[{n - 1, 2}] = -3
  u[{3, 1}] = 0 / 0
  v, p = u:min(1)
  assert(v[1] ~= v[1], "a NaN wins")
  eq(p[1], 3, "the first NaN's position")
  eq(v[2], -3, "strided min value")
  eq(p[2], n - 1, "strided min position")
  eq(u:argmax(1)[2], 1, "ties keep the first")
  u = nil
  collectgarbage()
end)

test("extremes along an axis: elements in their dtype; along one element, position 1", function()
  -- int32 past 2^24 stays exact (a float32 pass would round 16777217)
  local big = ln.tensor({{16777217}, {-2147483648}, {2147483647}}, "int32")
  for _, want_max in ipairs({true, false}) do
    local v, p = (want_max and big.max or big.min)(big, 2)
    eq(v:type(), "int32")
    eq(table.concat(v:totable(), " "), "16777217 -2147483648 2147483647")
    eq(table.concat(p:totable(), " "), "1 1 1")
    v, p = (want_max and big.max or big.min)(big, -1, true)
    eq(table.concat(v:shape(), "x"), "3x1")
    eq(v[{1, 1}], 16777217)
    eq(table.concat(p:shape(), "x"), "3x1")
  end
  eq(table.concat(big:argmax(2):totable(), " "), "1 1 1")
  -- along a longer axis the values are the elements at the positions too
  -- (2^31 - 1 once raised: its float32 copy is 2^31)
  local wide = ln.tensor({{2147483647, 0, -3}, {16777217, 16777216, 5}}, "int32")
  eq(table.concat(wide:max(2):totable(), " "), "2147483647 16777217")
  local cv, cp = wide:min(1)
  eq(table.concat(cv:totable(), " "), "16777217 0 -3")
  eq(table.concat(cp:totable(), " "), "2 1 1")
  eq(table.concat(big:argmin(2, true):shape(), "x"), "3x1")
  local u8 = ln.tensor({{0, 255, 7}}, "uint8")
  eq(u8:max(1):type(), "uint8")
  eq(table.concat(u8:min(1):totable(), " "), "0 255 7")
  -- float32: NaN and -0 as they are; a row past the threaded fill size,
  -- on every thread count
  local f = ln.tensor({{0 / 0, -0.0, 1, -math.huge}})
  local v, p = f:max(1)
  assert(v[1] ~= v[1], "NaN kept")
  eq(1 / v[2], -math.huge)
  eq(v[4], -math.huge)
  eq(table.concat(p:totable(), " "), "1 1 1 1")
  local n = 300001
  local row = ln.randn(1, n)
  local before = ln.get_num_threads()
  for _, th in ipairs({1, 2}) do
    ln.set_num_threads(th)
    local mv, mp = row:max(1)
    eq(mv:equal(row:reshape(n)), true)
    eq(mp:sum(), n)
    eq(row:argmin(1):max(), 1)
    eq(row:t():min(2):equal(row:reshape(n)), true)
  end
  ln.set_num_threads(before)
end)

test("std and var along an axis of one element: NaN (unbiased, as Torch)", function()
  local s, v = ln.zeros{3, 1}:std(2), ln.zeros{3, 1}:var(2)
  for i = 1, 3 do
    assert(s[i] ~= s[i], "std " .. i .. " is " .. tostring(s[i]))
    assert(v[i] ~= v[i], "var " .. i .. " is " .. tostring(v[i]))
  end
  assert(ln.zeros{1}:std() ~= ln.zeros{1}:std(), "whole std of one element")
end)

os.exit(T.summary())
