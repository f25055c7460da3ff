-- The vector loops behind masks, integer tensors and a few float calls
-- (logical ops, integer arithmetic and float modulo, sums and extremes,
-- 2-norms along a dim, arange, equal, allclose, a broadcast where, row
-- gathers) against
-- their element-by-element definitions written in Lua, on lengths around
-- their 4096-element blocks and past the parallel size, 1 and 2 threads.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq = T.test, T.eq

ln.random.seed(4242)
local LENS = {1, 15, 4096, 4097, 140001}

local function each_thread_count(fn) T.each_thread_count(ln, fn) end

-- got (a tensor) equals want[i] element by element (want: a Lua list)
local function same(got, want, what)
  local g = got:flatten():totable()
  eq(#g, #want, what .. " length")
  for i = 1, #want do
    if g[i] ~= want[i] then
      error(string.format("%s: element %d is %s, want %s", what, i, tostring(g[i]),
                          tostring(want[i])), 2)
    end
  end
end

-- uint8 masks holding 0, 1 and other nonzero bytes (2, 255): any nonzero is true
local function mask(n)
  return ((ln.rand(n) * 4):floor() * 85):byte()   -- 0, 85, 170, 255
end

test("logical and/or/xor/not of uint8 masks of one shape", function()
  each_thread_count(function(threads)
    for _, n in ipairs(LENS) do
      local a, b = mask(n), mask(n)
      local av, bv = a:totable(), b:totable()
      local want = {["and"] = {}, ["or"] = {}, xor = {}, ["not"] = {}}
      for i = 1, n do
        local x, y = av[i] ~= 0, bv[i] ~= 0
        want["and"][i] = (x and y) and 1 or 0
        want["or"][i] = (x or y) and 1 or 0
        want.xor[i] = (x ~= y) and 1 or 0
        want["not"][i] = x and 0 or 1
      end
      local what = string.format("n=%d, %d threads", n, threads)
      same(a:logical_and(b), want["and"], "and " .. what)
      same(a:logical_or(b), want["or"], "or " .. what)
      same(a:logical_xor(b), want.xor, "xor " .. what)
      same(a:logical_not(), want["not"], "not " .. what)
    end
  end)
end)

test("integer sums and extremes: exact, first position of ties", function()
  each_thread_count(function(threads)
    for _, n in ipairs(LENS) do
      -- int32 near the top of its range, so the sum needs 64 bits
      local i32 = ((ln.rand(n) * 2000):floor() - 1000):int() + 2147482000
      local u8 = ((ln.rand(n) * 7):floor() + 249):byte()  -- 249..255: many ties
      for _, t in ipairs({i32, u8}) do
        local v, s = t:totable(), 0
        local hi, lo, at_hi, at_lo = v[1], v[1], 1, 1
        for i = 1, n do
          s = s + v[i]
          if v[i] > hi then hi, at_hi = v[i], i end
          if v[i] < lo then lo, at_lo = v[i], i end
        end
        local what = string.format("%s n=%d, %d threads", t:type(), n, threads)
        eq(t:sum(), s, "sum " .. what)
        eq(t:max(), hi, "max " .. what)
        eq(t:min(), lo, "min " .. what)
        eq(t:argmax(), at_hi, "argmax " .. what)
        eq(t:argmin(), at_lo, "argmin " .. what)
      end
    end
  end)
end)

test("integer extremes: the first position when the extreme lies in later blocks", function()
  local n = 140001
  each_thread_count(function(threads)
    for _, cast in ipairs({"int", "byte"}) do
      for _, at in ipairs({1, 64, 65, 4097, 32768, 32769, 70037, n}) do
        local five = ln.ones(n) * 5
        local hi, lo = five[cast](five), five[cast](five)  -- :int() or :byte()
        hi[at], lo[at] = 9, 1
        if at + 40000 <= n then hi[at + 40000], lo[at + 40000] = 9, 1 end  -- a later tie
        local what = string.format("%s at %d, %d threads", cast, at, threads)
        eq(hi:max(), 9, "max " .. what)
        eq(hi:argmax(), at, "argmax " .. what)
        eq(lo:min(), 1, "min " .. what)
        eq(lo:argmin(), at, "argmin " .. what)
      end
    end
  end)
end)

test("int32 arithmetic, abs, neg and clamp: exact values and the first overflow", function()
  local raises = T.raises
  each_thread_count(function(threads)
    for _, n in ipairs(LENS) do
      local x = ((ln.rand(n) - 0.5) * 90000):floor():int()
      local y = ((ln.rand(n) - 0.5) * 90000):floor():int()
      local xv, yv = x:totable(), y:totable()
      local want = {add = {}, sub = {}, mul = {}, rsub = {}, abs = {}, neg = {}, clamp = {}}
      for i = 1, n do
        want.add[i], want.sub[i], want.mul[i] = xv[i] + yv[i], xv[i] - yv[i], xv[i] * yv[i]
        want.rsub[i], want.abs[i], want.neg[i] = 7 - xv[i], math.abs(xv[i]), -xv[i]
        want.clamp[i] = math.max(-100, math.min(100, xv[i]))
      end
      local what = string.format(" n=%d, %d threads", n, threads)
      same(x + y, want.add, "x + y" .. what)
      same(x - y, want.sub, "x - y" .. what)
      same(x * y, want.mul, "x * y" .. what)
      same(7 - x, want.rsub, "7 - x" .. what)
      same(x:abs(), want.abs, "abs" .. what)
      same(-x, want.neg, "neg" .. what)
      same(x:clamp(-100, 100), want.clamp, "clamp" .. what)
      -- one product past 2^31 - 1, at the middle: reported at its position
      local at = (n + 1) // 2
      local big = x:clone()
      big[at] = 2000000000
      local two = ln.ones(n, "int32") * 2
      raises(function() return big * two end,
             string.format("2000000000 and 2 (at position %d) give a result outside int32", at))
      raises(function() return big * 2 end,
             string.format("2000000000 and 2 (at position %d) give a result outside int32", at))
      big[at] = -2147483648
      raises(function() return big:abs() end, string.format("(at position %d)", at))
    end
  end)
end)

test("int32 + - *: results at the edges of int32 are kept, one past them is an error", function()
  local raises = T.raises
  local MAX, MIN = 2147483647, -2147483648
  -- {a, b}: a * b, a + b and a - b each either fit (kept exactly) or not
  local cases = {{MAX, 1}, {MIN, 1}, {-65536, 32768}, {65536, 32768}, {46341, 46341},
                 {46340, 46341}, {-46341, 46341}, {MAX, -1}, {MIN, -1}, {MAX, 0},
                 {1, MAX}, {-1, MIN}, {0, MIN}, {2147482623, 1}, {-1073741824, 2},
                 {1073741824, 2}, {-3, 715827882}, {3, -715827883}}
  local ops = {["*"] = function(a, b) return a * b end,
               ["+"] = function(a, b) return a + b end,
               ["-"] = function(a, b) return a - b end}
  local n = 140001
  each_thread_count(function(threads)
    for _, ab in ipairs(cases) do
      local a, b = ab[1], ab[2]
      for name, op in pairs(ops) do
        local want = op(a, b)  -- Lua's 64-bit integer result
        local fits = want >= MIN and want <= MAX
        -- a tensor of ones with the pair at one position, against the same
        for _, at in ipairs({1, 4097, n}) do
          local x, y = ln.ones(n, "int32"), ln.ones(n, "int32")
          x[at], y[at] = a, b
          local what = string.format("%d %s %d at %d, %d threads", a, name, b, at, threads)
          if fits then
            local z = op(x, y)
            eq(z[at], want, what)
            eq(z:sum(), want + (n - 1) * op(1, 1), what .. ": the other elements")
          else
            raises(function() return op(x, y) end,
                   string.format("(at position %d) give a result outside int32", at))
          end
        end
        -- a tensor of a's against the number b: every block at the edge
        local x = ln.ones(n, "int32") * a
        local what = string.format("%d %s %d (a number), %d threads", a, name, b, threads)
        if fits then
          local z = op(x, b)
          eq(z:min(), want, what)
          eq(z:max(), want, what)
        else
          raises(function() return op(x, b) end, "(at position 1) give a result outside int32")
        end
        -- the number first (b op a), and a column of b's against rows of a's
        local back = op(b, a)
        if back >= MIN and back <= MAX then
          local z = op(b, x)
          eq(z:min(), back, what .. ", number first")
          eq(z:max(), back, what .. ", number first")
        else
          raises(function() return op(b, x) end, "(at position 1) give a result outside int32")
        end
        local rows, col = ln.ones(1401, 100, "int32") * a, ln.ones(1401, 1, "int32") * b
        local unit = name == "*" and 1 or 0  -- a op unit is a: always fits
        col[{1401, 1}] = unit
        local last = op(a, unit)
        if fits then
          local z = op(rows, col)
          eq(z[{1, 1}], want, what .. ", column")
          eq(z[{1400, 100}], want, what .. ", column")
          eq(z[{1401, 100}], last, what .. ", column's last row")
        else
          raises(function() return op(rows, col) end, "(at position 1) give a result outside int32")
        end
      end
    end
  end)
end)

test("broadcast and mixed-dtype operands: int32 arithmetic, comparisons, logical ops", function()
  local R = dofile(here .. "/ref64.lua")
  -- shape pairs that broadcast: rows, columns, both, leading dims, 0-d
  local pairs_ = {{{300, 100}, {1, 100}}, {{300, 100}, {300, 1}}, {{300, 1}, {1, 100}},
                  {{7, 1, 33}, {5, 1}}, {{2, 3, 4}, {4}}, {{1}, {50, 3}}, {{}, {40, 41}},
                  {{2, 1, 3, 1}, {1, 5, 1, 70}}, {{4097}, {1}}, {{600, 64}, {600, 64}}}
  local function draw(shape, dtype)
    local t = ((ln.rand(table.unpack(shape)) - 0.5) * 12):floor()
    if #shape == 0 then t = ln.tensor(math.floor((math.random() - 0.5) * 12) + 0.0) end
    if dtype == "float32" then
      if t:numel() > 3 then t:reshape(t:numel())[3] = 0 / 0 end  -- a NaN: unordered
      return t
    end
    return dtype == "int32" and t:int() or (t + 6):byte()
  end
  local cmps = {eq = function(a, b) return a == b end, ne = function(a, b) return a ~= b end,
                lt = function(a, b) return a < b end, le = function(a, b) return a <= b end,
                gt = function(a, b) return a > b end, ge = function(a, b) return a >= b end}
  local logic = {logical_and = function(a, b) return a ~= 0 and b ~= 0 end,
                 logical_or = function(a, b) return a ~= 0 or b ~= 0 end,
                 logical_xor = function(a, b) return (a ~= 0) ~= (b ~= 0) end}
  local arith = {["+"] = function(a, b) return a + b end, ["-"] = function(a, b) return a - b end,
                 ["*"] = function(a, b) return a * b end,
                 maximum = function(a, b) return math.max(a, b) end,
                 minimum = function(a, b) return math.min(a, b) end}
  local function check(got, want, what)
    local g = R.from(got)
    eq(table.concat(g.shape, "x"), table.concat(want.shape, "x"), what .. " shape")
    for i = 1, #want.data do
      if g.data[i] ~= want.data[i] then
        error(string.format("%s: element %d is %s, want %s", what, i, tostring(g.data[i]),
                            tostring(want.data[i])), 2)
      end
    end
  end
  local dtypes = {"float32", "int32", "uint8"}
  each_thread_count(function(threads)
    for k, sh in ipairs(pairs_) do
      for _, swap in ipairs({false, true}) do
        local sa, sb = sh[1], sh[2]
        if swap then sa, sb = sb, sa end
        local da, db = dtypes[1 + k % 3], dtypes[1 + (k + (swap and 1 or 2)) % 3]
        local a, b = draw(sa, da), draw(sb, db)
        local ra, rb = R.from(a), R.from(b)
        local what = string.format("%s %s against %s %s, %d threads", da,
                                   table.concat(sa, "x"), db, table.concat(sb, "x"), threads)
        for name, f in pairs(cmps) do
          check(a[name](a, b), R.bin(ra, rb, function(x, y) return f(x, y) and 1 or 0 end),
                name .. " " .. what)
        end
        -- logical ops take uint8 masks: the uint8 draws (0..11), or x ~= 0
        local ma = da == "uint8" and a or a:ne(0)
        local mb = db == "uint8" and b or b:ne(0)
        for name, f in pairs(logic) do
          check(ma[name](ma, mb), R.bin(R.from(ma), R.from(mb),
                function(x, y) return f(x, y) and 1 or 0 end), name .. " " .. what)
        end
        local ia, ib = draw(sa, "int32"), draw(sb, "int32")
        local ria, rib = R.from(ia), R.from(ib)
        for name, f in pairs(arith) do
          local got = (name == "maximum" or name == "minimum") and ia[name](ia, ib)
                      or load("local x, y = ...; return x " .. name .. " y")(ia, ib)
          check(got, R.bin(ria, rib, f), "int32 " .. name .. " " .. what)
        end
      end
    end
    -- an overflow in a broadcast product: the first, by output position
    local col, row = ln.ones(300, 1, "int32"), ln.ones(1, 100, "int32")
    col[{201, 1}], row[{1, 37}] = 70000, 40000
    T.raises(function() return col * row end,
             "70000 and 40000 (at position 20037) give a result outside int32")
  end)
end)

test("float % is Lua's modulo (fmod's exact value, the divisor's sign)", function()
  local function f32(v) return string.unpack("f", string.pack("f", v)) end
  local function lua_mod(a, b)  -- Lua's % on the float32 values, rounded back to float32
    if b == 0 or a ~= a or b ~= b or a == math.huge or a == -math.huge then return 0 / 0 end
    return f32(a % b)
  end
  local function check(got, av, bv, what)
    local g = got:flatten():totable()
    for i = 1, #g do
      local a, b = av[i] or av[1], bv[i] or bv[1]
      local w = lua_mod(a, b)
      if not (g[i] == w or (g[i] ~= g[i] and w ~= w)) then
        error(string.format("%s: %.9g %% %.9g is %.9g, want %.9g", what, a, b, g[i], w), 2)
      end
    end
  end
  each_thread_count(function(threads)
    for _, n in ipairs(LENS) do
      local a = (ln.rand(n) - 0.5) * 20000
      local b = ((ln.rand(n) - 0.5) * 200):clamp(-100, 100)
      if n > 8 then   -- the second pass: zero, infinities, NaN, a quotient past 2^29
        a[2], a[3], a[4], a[5] = math.huge, 0 / 0, 1e30, -3
        b[6], b[7], b[8], b[5] = 0, math.huge, -math.huge, math.huge
        a[9], b[9] = 3e9 + 1, 0.7
      end
      local av, bv = a:totable(), b:totable()
      local what = string.format("n=%d, %d threads", n, threads)
      check(a % b, av, bv, "a % b " .. what)
      check(a % 7.5, av, {7.5}, "a % 7.5 " .. what)
      check(a % -0.3, av, {f32(-0.3)}, "a % -0.3 " .. what)
      check(1000.25 % b, {1000.25}, bv, "1000.25 % b " .. what)
    end
  end)
end)

test("float % and // with broadcast operands: each element as alone", function()
  local R = dofile(here .. "/ref64.lua")
  local function f32(v) return string.unpack("f", string.pack("f", v)) end
  local function lua_mod(a, b)
    if b == 0 or a ~= a or b ~= b or a == math.huge or a == -math.huge then return 0 / 0 end
    return f32(a % b)
  end
  local function lua_idiv(a, b)  -- floor of the float32 quotient
    local q = f32(a / b)
    if q ~= q or q == math.huge or q == -math.huge then return q end
    return math.floor(q) + 0.0
  end
  local function check(got, want, what)
    local g = R.from(got)
    for i = 1, #want.data do
      local x, w = g.data[i], want.data[i]
      if not (x == w or (x ~= x and w ~= w)) then
        error(string.format("%s: element %d is %.9g, want %.9g", what, i, x, w), 2)
      end
    end
  end
  local shapes = {{{300, 100}, {1, 100}}, {{300, 100}, {300, 1}}, {{300, 1}, {1, 100}},
                  {{7, 1, 33}, {5, 1}}, {{}, {40, 41}}, {{4097}, {1}}}
  each_thread_count(function(threads)
    for _, sh in ipairs(shapes) do
      local a = #sh[1] == 0 and ln.tensor(-1234.5) or (ln.rand(table.unpack(sh[1])) - 0.5) * 20000
      local b = ((ln.rand(table.unpack(sh[2])) - 0.5) * 200):clamp(-100, 100)
      local fb = b:reshape(b:numel())
      if b:numel() >= 3 then fb[1], fb[2], fb[3] = 0, math.huge, 0 / 0 end  -- zero, inf, NaN
      local ra, rb = R.from(a), R.from(b)
      local what = string.format("%s against %s, %d threads", table.concat(sh[1], "x"),
                                 table.concat(sh[2], "x"), threads)
      check(a % b, R.bin(ra, rb, lua_mod), "% " .. what)
      check(b % a, R.bin(rb, ra, lua_mod), "% (swapped) " .. what)
      check(a // b, R.bin(ra, rb, lua_idiv), "// " .. what)
      check(b // a, R.bin(rb, ra, lua_idiv), "// (swapped) " .. what)
      check(a // 7.5, R.bin(ra, 7.5, lua_idiv), "// 7.5 " .. what)
      check(7.5 // a, R.bin(7.5, ra, lua_idiv), "7.5 // " .. what)
    end
  end)
end)

test("arange: start + i * step in every dtype, past the parallel size", function()
  each_thread_count(function(threads)
    local cases = {{0, 140001, 1, "int32"}, {-5, 250, 3, "uint8", 0}, {7, -140000, -3, "int32"},
                   {0.5, 14000.3, 0.1, "float32"}, {1e6, 1e6 + 200000, 1.5, "float32"}}
    for _, c in ipairs(cases) do
      local start, stop, step, dtype = c[1], c[2], c[3], c[4]
      if dtype == "uint8" then start = 1 end                  -- uint8 needs >= 0
      local got = ln.arange(start, stop, step, dtype)
      local want, f = {}, dtype == "float32" and string.pack or nil
      for i = 0, got:numel() - 1 do
        local v = start + i * step
        if f then v = string.unpack("f", string.pack("f", v)) end -- rounded to float32
        want[i + 1] = v
      end
      assert(#want > 1)
      same(got, want, string.format("arange(%g, %g, %g, %s), %d threads", start, stop, step,
                                    dtype, threads))
    end
  end)
end)

test("equal: a difference anywhere, NaN, signed zeros, every dtype", function()
  for _, n in ipairs(LENS) do
    local a = ln.rand(n)
    for _, at in ipairs({1, (n + 1) // 2, n}) do
      local b = a:clone()
      b[at] = b[at] + 1
      assert(not a:equal(b), "a difference at " .. at .. " of " .. n)
      local i, j = a:int(), b:int()
      assert(not i:equal(j) and i:equal(i:clone()), "int32 at " .. at)
      assert(not a:byte():equal(b:byte() + 1), "uint8 at " .. at)
    end
    assert(a:equal(a:clone()), "equal copies of " .. n)
  end
  local z, nz = ln.tensor({0, 1}), ln.tensor({-0.0, 1})
  assert(z:equal(nz), "-0 equals +0")
  local nan = ln.tensor({0 / 0, 1})
  assert(not nan:equal(nan:clone()), "NaN differs from itself")
  assert(ln.tensor({1, 2}, "int32"):equal(ln.tensor({1, 2})), "int32 against float32")
end)

test("allclose: the rule |a - b| <= atol + rtol |b| at every element", function()
  for _, n in ipairs(LENS) do
    local b = ln.rand(n) + 1
    for _, at in ipairs({1, (n + 1) // 2, n}) do
      local a = b:clone()
      local y = b[at]
      a[at] = y + 1e-3 + 1e-2 * y * 0.999                     -- just inside
      assert(ln.allclose(a, b, 1e-2, 1e-3), "inside at " .. at .. " of " .. n)
      a[at] = y + (1e-3 + 1e-2 * y) * 1.01                    -- just outside
      assert(not ln.allclose(a, b, 1e-2, 1e-3), "outside at " .. at .. " of " .. n)
      a[at] = 0 / 0
      assert(not ln.allclose(a, b), "NaN at " .. at .. " of " .. n)
    end
  end
  local inf = ln.tensor({math.huge, -math.huge, 1})
  assert(ln.allclose(inf, inf:clone()), "equal infinities")
  assert(not ln.allclose(inf, ln.tensor({math.huge, math.huge, 1})), "opposite infinities")
  assert(ln.allclose(ln.tensor({1, 2}), ln.tensor({{1, 2}, {1, 2}})), "broadcast")
end)

test("2-norms along a dim: rows and 64-column pieces against a double sum", function()
  each_thread_count(function(threads)
    for _, s in ipairs({{3, 100}, {2, 9, 130}, {1400, 100}, {5, 7, 1}, {4, 1, 65}}) do
      local x = (ln.rand(table.unpack(s)) - 0.5) * 10
      x[1] = x[1] * 0                                 -- a zero row or column start
      local xv = x:flatten():totable()
      for d = 1, #s do
        local got = x:norm(2, d):flatten():totable()
        local outer, len, inner = 1, s[d], 1
        for k = 1, d - 1 do outer = outer * s[k] end
        for k = d + 1, #s do inner = inner * s[k] end
        for o = 0, outer - 1 do
          for c = 0, inner - 1 do
            local acc = 0
            for l = 0, len - 1 do
              local v = xv[(o * len + l) * inner + c + 1]
              acc = acc + v * v
            end
            local want, g = math.sqrt(acc), got[o * inner + c + 1]
            if math.abs(g - want) > 2 ^ -22 * want + 1e-30 then
              error(string.format("norm(2, %d) of %s, %d threads: output %d is %.9g, want %.9g", d,
                                  table.concat(s, "x"), threads, o * inner + c + 1, g, want))
            end
          end
        end
      end
    end
  end)
  local x = ln.randn(1500, 130)                           -- past the parallel size
  local before = ln.get_num_threads()
  ln.set_num_threads(1)
  local a, b = x:norm(2, 1), x:norm(2, 2)
  ln.set_num_threads(2)
  assert(x:norm(2, 1):equal(a) and x:norm(2, 2):equal(b), "1 and 2 threads differ")
  ln.set_num_threads(before)
  local inf = ln.tensor({{1, math.huge}, {0 / 0, 1}})
  eq(inf:norm(2, 2)[1], math.huge)
  local nan = inf:norm(2, 2)[2]
  assert(nan ~= nan, "a NaN row")
end)

test("where with a broadcast condition, tensors or numbers on each side", function()
  each_thread_count(function(threads)
    for _, s in ipairs({{300, 100}, {2, 3, 70001}, {1500, 1}, {7, 4097}}) do
      local r, c = s[1], s[#s]
      local full = ln.rand(table.unpack(s))
      local cshape = {}
      for d = 1, #s - 1 do cshape[d] = s[d] end
      cshape[#s] = 1
      for _, cdt in ipairs({"uint8", "int32", "float32"}) do
        local cond = (ln.rand(table.unpack(cshape)) * 3):floor():type(cdt) -- 0, 1, 2
        local row = ln.rand(c)                                              -- broadcast as (c,)
        local got1 = ln.where(cond, full, 0.25)
        local got2 = ln.where(cond, -1, row)
        local cv, fv, rv = cond:flatten():totable(), full:flatten():totable(), row:totable()
        local w1, w2 = {}, {}
        for i = 1, #fv do
          local k = (i - 1) // c + 1                 -- the condition's row
          local on = cv[k] ~= 0
          w1[i] = on and fv[i] or string.unpack("f", string.pack("f", 0.25))
          w2[i] = on and -1 or rv[(i - 1) % c + 1]
        end
        local what = string.format("%s cond over %s, %d threads", cdt, table.concat(s, "x"), threads)
        same(got1, w1, "tensor/number " .. what)
        same(got2, w2, "number/row " .. what)
      end
    end
  end)
  eq(ln.where(ln.ones(0, 1, "uint8"), ln.rand(0, 5), 1):numel(), 0)
end)

test("where with a condition along rows and operands as rows, columns or numbers", function()
  each_thread_count(function(threads)
    for _, s in ipairs({{300, 100}, {3, 4097}, {1200, 1}, {40, 3, 17}}) do
      local c, rows = s[#s], 1
      for d = 1, #s - 1 do rows = rows * s[d] end
      local colshape = {table.unpack(s)}
      colshape[#s] = 1
      local full, col, row = ln.rand(table.unpack(s)), ln.rand(table.unpack(colshape)), ln.rand(c)
      local fv, cv, rv = full:flatten():totable(), col:flatten():totable(), row:totable()
      local operands = { -- name, tensor or number, value of output element i
        {"full", full, function(i) return fv[i] end},
        {"column", col, function(i) return cv[(i - 1) // c + 1] end},
        {"row", row, function(i) return rv[(i - 1) % c + 1] end},
        {"number", 0.5, function() return 0.5 end}}
      for _, cdt in ipairs({"uint8", "int32", "float32"}) do
        local cond = (ln.rand(table.unpack(s)) * 3):floor():type(cdt) -- 0, 1, 2
        if cdt == "float32" then cond[1] = 0 / 0 end                   -- NaN: true
        local on = cond:flatten():totable()
        for _, A in ipairs(operands) do
          for _, B in ipairs(operands) do
            local got, want = ln.where(cond, A[2], B[2]), {}
            for i = 1, rows * c do
              want[i] = (on[i] ~= 0) and A[3](i) or B[3](i)
            end
            same(got, want, string.format("%s cond over %s, %s/%s, %d threads", cdt,
              table.concat(s, "x"), A[1], B[1], threads))
          end
        end
      end
    end
  end)
end)

test("index along the first dim: every row of a random order, past the parallel size", function()
  each_thread_count(function(threads)
    for _, shape in ipairs({{5, 3}, {4099, 7}, {20011, 37}, {300, 1200}}) do
      local rows, cols = shape[1], shape[2]
      local m = ln.randn(rows, cols)
      local idx = ln.randperm(rows)
      if rows > 10 then idx[rows] = 1; idx[1] = rows end -- the last row read, and twice
      local iv, mv, want = idx:totable(), m:totable(), {}
      for r = 1, rows do table.move(mv[iv[r]], 1, cols, #want + 1, want) end
      same(m:index(1, idx), want, string.format("%dx%d, %d threads", rows, cols, threads))
    end
  end)
end)

test("float clamp: NaN stays NaN, signed zeros and infinities, past the parallel size", function()
  each_thread_count(function(threads)
    for _, n in ipairs(LENS) do
      local a = ln.randn(n) * 2
      for _, i in ipairs({1, n // 2 + 1, n}) do a[i] = 0 / 0 end
      if n >= 15 then a[2], a[3], a[4], a[5] = -0.0, 1 / 0, -1 / 0, 0.0 end
      local av, got = a:totable(), a:clamp(-1, 1.5):totable()
      for i = 1, n do
        local v, g = av[i], got[i]
        local want = v ~= v and v or v < -1 and -1 or v > 1.5 and 1.5 or v
        local ok = (want ~= want and g ~= g) or (g == want and 1 / g == 1 / want)
        if not ok then
          error(string.format("%d threads, n %d: clamp of %s at %d is %s, want %s",
                              threads, n, v, i, g, want))
        end
      end
    end
  end)
end)


-- masks that select at random, nothing, everything, and the first half of
-- every 4096-element block (each block ends in unselected cells)
local function select_masks(n)
  local half = (ln.arange(0, n) % 4096):lt(2048)
  return {random = ln.rand(n):gt(0.5), none = ln.zeros(n):gt(0), all = ln.ones(n):gt(0),
          halves = half}
end

test("t[mask] and t[mask] = src: each selected cell in order, past the parallel size", function()
  each_thread_count(function(threads)
    for _, n in ipairs({1, 4097, 140001}) do
      for name, m in pairs(select_masks(n)) do
        local mv = m:totable()
        local xs = {float = ln.rand(n), int32 = (ln.rand(n) * 1000):int(),
                    uint8 = (ln.rand(n) * 255):byte(), rows = ln.rand(n, 3)}
        for dtype, x in pairs(xs) do
          local what = string.format("%s %s mask, n=%d, %d threads", dtype, name, n, threads)
          local xv, cell = x:flatten():totable(), dtype == "rows" and 3 or 1
          local want = {}
          for i = 1, n do
            if mv[i] ~= 0 then
              for j = 1, cell do want[#want + 1] = xv[(i - 1) * cell + j] end
            end
          end
          local got = x[m]
          same(got, want, "select " .. what)
          -- again, with the other thread awake: a task that wrote into its
          -- neighbour's cells would now run beside it
          for _ = 1, 10 do assert(x[m]:equal(got), "select again " .. what) end
          -- assign fresh values of the dtype: selected cells take them in order
          local k0 = #want // cell
          local fresh = {float = function() return ln.rand(k0) end,
                         int32 = function() return (ln.rand(k0) * 1000):int() end,
                         uint8 = function() return (ln.rand(k0) * 255):byte() end,
                         rows = function() return ln.rand(k0, 3) end}
          local src = fresh[dtype]()
          local sv, y = src:flatten():totable(), x:clone()
          y[m] = src
          for _ = 1, 10 do
            local again = x:clone()
            again[m] = src
            assert(again:equal(y), "assign again " .. what)
          end
          local k, expect = 0, {}
          for i = 1, n do
            for j = 1, cell do
              local at = (i - 1) * cell + j
              if mv[i] ~= 0 then k = k + 1; expect[at] = sv[k] else expect[at] = xv[at] end
            end
          end
          same(y, expect, "assign " .. what)
        end
      end
    end
  end)
end)

test("t[mask] on a uint8 view not aligned to 4 bytes, cells of 4 bytes", function()
  each_thread_count(function(threads)
    local rows = 40001
    local base = (ln.rand(rows * 4 + 1) * 255):byte()
    local x = base:narrow(1, 2, rows * 4):reshape(rows, 4)   -- starts at byte 1
    local m = ln.rand(rows):gt(0.3)
    local mv, xv, want = m:totable(), x:flatten():totable(), {}
    for i = 1, rows do
      if mv[i] ~= 0 then
        for j = 1, 4 do want[#want + 1] = xv[(i - 1) * 4 + j] end
      end
    end
    same(x[m], want, string.format("unaligned uint8 rows, %d threads", threads))
  end)
end)

T.summary("tensor loops")
