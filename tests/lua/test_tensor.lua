-- Tests of the Lua tensor API (core/lua/lua_tensor*.c): creation, dtypes,
-- shapes, indexing, views, operators, masks, reductions, printing, and the
-- error messages (they name the function and the shapes).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, near, raises = T.test, T.eq, T.near, T.raises

local function list(t) return table.concat(t:flatten():totable(), " ") end
local function shape(t) return table.concat(t:shape(), "x") end

test("creation from nested tables", function()
  local t = ln.tensor({{1, 2, 3}, {4, 5, 6}})
  eq(t:type(), "float32")
  eq(shape(t), "2x3")
  eq(t:dim(), 2)
  eq(t:numel(), 6)
  eq(#t, 2)
  eq(math.type(#t), "integer")
  eq(math.type(t:size(2)), "integer")
  eq(t:size(-1), 3)
  local i = ln.tensor({1, 2, 3}, "int32")
  eq(i:type(), "int32")
  eq(ln.tensor({{}}, "uint8"):numel(), 0)
  eq(ln.tensor(2.5):dim(), 0)
  eq(ln.tensor(2.5):item(), 2.5)
  eq(ln.tensor({true, false}, "uint8"):sum(), 1)
  local c = ln.tensor(t, "int32")
  eq(c:type(), "int32")
  raises(function() ln.tensor({{1, 2}, {3}}) end, "tensor: ragged", "expected 2")
  raises(function() ln.tensor({1, "x"}) end, "tensor:", "is a string, not a number")
  raises(function() ln.tensor({300}, "uint8") end, "does not fit in uint8")
  raises(function() ln.tensor({1}, "float64") end, "unknown dtype 'float64'")
  raises(function() ln.tensor("abc") end, "tensor: expects")
end)

test("zeros ones full arange", function()
  eq(list(ln.zeros(2, 2)), "0.0 0.0 0.0 0.0")
  eq(list(ln.ones({2}, "int32")), "1 1")
  eq(ln.zeros(3, "uint8"):type(), "uint8")
  eq(list(ln.full({2, 2}, 7, "int32")), "7 7 7 7")
  eq(list(ln.full(3, 0.5)), "0.5 0.5 0.5")
  eq(list(ln.arange(5)), "0 1 2 3 4")
  eq(ln.arange(5):type(), "int32")
  eq(list(ln.arange(1, 2, 0.25)), "1.0 1.25 1.5 1.75")
  eq(list(ln.arange(5, 0, -2)), "5 3 1")
  eq(ln.arange(3, "float32"):type(), "float32")
  raises(function() ln.zeros(2, -1) end, "zeros: size 2 must be an integer >= 0, got -1")
  raises(function() ln.arange(0, 1, 0) end, "arange: step must be a nonzero")
end)

test("seeded random: rand randn randperm", function()
  ln.random.seed(7)
  local a, p = ln.randn(100), ln.randperm(10)
  ln.random.seed(7)
  local b, q = ln.randn(100), ln.randperm(10)
  assert(a:equal(b), "randn not reproducible")
  assert(p:equal(q), "randperm not reproducible")
  local u = ln.rand(1000)
  assert(u:min() >= 0 and u:max() < 1, "rand outside [0, 1)")
  eq(p:type(), "int32")
  local seen = {}
  for _, v in ipairs(p:totable()) do seen[v] = true end
  for k = 1, 10 do assert(seen[k], "randperm lacks " .. k) end
  near(ln.randn(20000):mean(), 0, 0.05, "randn mean")
  near(ln.randn(20000):std(), 1, 0.05, "randn std")
end)

test("dtype conversions", function()
  local f = ln.tensor({-1.7, 2.9, 255})
  eq(list(f:int()), "-1 2 255")        -- an explicit conversion truncates
  eq(f:abs():byte():type(), "uint8")
  -- but never wraps: a value the target cannot hold is refused
  raises(function() return f:byte() end, "conversion to uint8", "-1.7000000476837158", "position 1")
  assert(rawequal(f:float(), f), ":float() on float32 returns itself")
  eq(f:type("int32"):type(), "int32")
  local b = ln.tensor({1, 2}, "uint8")
  eq(math.type(b:totable()[1]), "integer")
  eq(table.concat(ln.tensor({4, 5}, "int32"):totable(), " "), "4 5")
end)

test("element access and rows", function()
  local t = ln.arange(12):reshape(3, 4)
  eq(t[{2, 3}], 6)
  eq(math.type(t[{2, 3}]), "integer")
  eq(t[{-1, -1}], 11)
  local row = t[2]
  eq(shape(row), "4")
  row[1] = 100 -- a view: writes reach t
  eq(t[{2, 1}], 100)
  t[{3, 4}] = -5
  eq(t[{3, 4}], -5)
  local v = ln.arange(5)
  eq(v[5], 4)
  eq(v[-2], 3)
  v[1] = 9
  eq(v[1], 9)
  raises(function() return t[{4, 1}] end, "index 4 out of range 1..3 along dim 1")
  raises(function() return t[{1, 0}] end, "index 0 out of range 1..4 along dim 2")
  raises(function() return t[{1, 2, 3}] end, "3 indices for a tensor of shape (3, 4)")
  raises(function() t[{1, 1}] = 1.5e10 end, "does not fit in int32")
  raises(function() return t["nope"]() end)
  eq(t.nope, nil)
end)

test("fills: whole tensors, runs inside one, strided regions", function()
  -- one contiguous run goes through the vector fill, anything else the
  -- region walker: both must touch exactly the selected elements
  for _, dt in ipairs({"float32", "int32", "uint8"}) do
    local t = ln.zeros({4, 5}, dt)
    t[{{2, 3}}] = 7                          -- rows 2-3: one run at offset 5
    t[{{}, 5}] = 3                           -- a column: strided
    t[{4, {2, 3}}] = 9                       -- inside a row: a run at offset 16
    local z = dt == "float32" and ".0" or ""
    eq(list(t[1]), ("0 0 0 0 3"):gsub("%d", "%0" .. z))
    eq(list(t[2]), ("7 7 7 7 3"):gsub("%d", "%0" .. z))
    eq(list(t[3]), ("7 7 7 7 3"):gsub("%d", "%0" .. z))
    eq(list(t[4]), ("0 9 9 0 3"):gsub("%d", "%0" .. z))
    eq(list(ln.full({2, 3}, 5, dt)), ("5 5 5 5 5 5"):gsub("%d", "%0" .. z))
    eq(list(ln.ones(3, dt):fill(2)), ("2 2 2"):gsub("%d", "%0" .. z))
  end
  -- large fills (threaded from 131072 elements) and odd lengths
  for _, n in ipairs({1, 15, 17, 1000, 131073, 300001}) do
    local f = ln.full(n, 0.25)
    eq(f:sum(), n * 0.25)
    eq(f:min(), 0.25)
    local o = ln.ones(n, "int32")
    eq(o:sum(), n)
    local u = ln.zeros(n, "uint8")
    u:fill(255)
    eq(u:min(), 255)
    local i = ln.zeros(n, "int32"):fill(2147483647) -- the int32 vector fill, its extremes
    eq(i:min(), 2147483647)
    i:fill(-2147483648)
    eq(i:max(), -2147483648)
  end
  -- the sign of zero survives (not a memset of +0)
  local m = ln.full(100, -0.0)
  for i = 1, 100 do assert(1 / m[i] == -math.huge, "element " .. i .. " lost its sign") end
  local w = ln.ones(3, 4)
  w[{2}] = -0.0
  assert(1 / w[{2, 4}] == -math.huge and w[{1, 4}] == 1 and w[{3, 1}] == 1)
end)

test("x^2, x^1 and max/min with a number: the vector paths keep the rules", function()
  -- values with NaN, infinities, signed zeros and squares that round,
  -- around the 4096-element blocks and past the threaded threshold
  local function same(a, b) -- bitwise, NaN equal to NaN
    return a == b and (a ~= 0 or 1 / a == 1 / b) or (a ~= a and b ~= b)
  end
  for _, n in ipairs({1, 4097, 140001}) do
    local x = ln.rand(n) * 200 - 100
    local specials = {0 / 0, math.huge, -math.huge, -0.0, 0.0, 3.4e38, 1e-30, 16777217}
    for k, v in ipairs(specials) do if k <= n then x[k] = v end end
    local xs = x:totable()
    local sq, one = x:pow(2):totable(), x:pow(1):totable()
    local mx, mn = x:maximum(0.5):totable(), x:minimum(0.5):totable()
    local fmx, fmn = x.maximum(0.5, x):totable(), x.minimum(0.5, x):totable()
    local f32 = ln.tensor({0}) -- rounds a double to float32
    for i = 1, n do
      local v = xs[i]
      f32[1] = v * v
      assert(same(sq[i], f32[1]), ("x^2 at %d: %s vs %s"):format(i, sq[i], f32[1]))
      assert(same(one[i], v), "x^1 at " .. i)
      assert(same(mx[i], v > 0.5 and v or 0.5), "maximum at " .. i)
      assert(same(mn[i], v < 0.5 and v or 0.5), "minimum at " .. i)
      assert(same(fmx[i], 0.5 > v and 0.5 or v), "number-first maximum at " .. i)
      assert(same(fmn[i], 0.5 < v and 0.5 or v), "number-first minimum at " .. i)
    end
  end
  -- the other exponents still go through powf
  near(ln.tensor({2, 3}):pow(3):sum(), 35, 1e-5)
  near(ln.tensor({4}):pow(0.5)[1], 2, 1e-7)
  eq((2 ^ ln.tensor({3}))[1], 8.0)
end)

test("transposes: tiles of 32 at every edge, every dtype", function()
  for _, dt in ipairs({"float32", "int32", "uint8"}) do
    for _, rc in ipairs({{1, 5}, {5, 1}, {31, 33}, {32, 32}, {33, 70}, {1000, 3}, {3, 1000}}) do
      local r, c = rc[1], rc[2]
      local m = (ln.arange(r * c) % 251):reshape(r, c):type(dt)
      local t = m:t():contiguous()
      eq(shape(t), c .. "x" .. r)
      local mv, tv = m:totable(), t:totable()
      for i = 1, r do
        for j = 1, c do
          assert(tv[j][i] == mv[i][j], ("%s %dx%d at %d,%d"):format(dt, r, c, i, j))
        end
      end
      eq(list(m:permute(2, 1):contiguous()), list(t))
    end
  end
end)

-- log sum exp(row) in double (Lua numbers), shifted by the row's max; and the max
local function ref_logsumexp(row)
  local m, s = -math.huge, 0
  for c = 1, #row do m = math.max(m, row[c]) end
  for c = 1, #row do s = s + math.exp(row[c] - m) end
  return m + math.log(s), m
end

test("softmax and log_softmax against a double reference, rows of 1 to 1000", function()
  for _, cols in ipairs({1, 7, 8, 9, 16, 17, 100, 1000}) do
    local x = (ln.rand(5, cols) - 0.5) * 60
    x[{2, 1}] = 85                            -- exp would overflow without the max
    if cols > 3 then x[{3, 3}] = -math.huge end -- a zero probability
    local y, xv = x:log_softmax(2):totable(), x:totable()
    local p = x:softmax(2):totable()
    for r = 1, 5 do
      local lse, m = ref_logsumexp(xv[r])
      for c = 1, cols do
        local pw = math.exp(xv[r][c] - lse)
        -- float32 rounds x - m (an error growing with |x - m|), exp, 1/sum
        -- and the product: a few ulp times 1 + |x - m|; denormals flush to 0
        local tol = pw == 0 and 0 or 2 ^ -20 * pw * (1 + math.abs(xv[r][c] - m)) + 2 ^ -126
        assert(math.abs(p[r][c] - pw) <= tol,
               ("softmax cols %d row %d col %d: %.9g vs %.9g"):format(cols, r, c, p[r][c], pw))
        local want, got = xv[r][c] - lse, y[r][c]
        if want == -math.huge then
          assert(got == -math.huge, "row " .. r .. " col " .. c)
        else
          local tol = 2 ^ -22 * (math.abs(xv[r][c]) + math.abs(lse) + 1)
          assert(math.abs(got - want) <= tol,
                 ("cols %d row %d col %d: %.9g vs %.9g"):format(cols, r, c, got, want))
        end
      end
    end
  end
  -- a NaN anywhere in a row makes the row NaN; other rows are untouched
  local x = ln.tensor({{0, 0 / 0, 1}, {1, 2, 3}})
  local y = x:log_softmax(2)
  for c = 1, 3 do assert(y[{1, c}] ~= y[{1, c}]) end
  near(y[{2, 3}], 3 - math.log(math.exp(1) + math.exp(2) + math.exp(3)), 1e-6)
end)

test("logsumexp along rows against a double reference, and its special rows", function()
  for _, cols in ipairs({1, 7, 16, 17, 100, 1000}) do
    local x = (ln.rand(6, cols) - 0.5) * 60
    x[{2, 1}] = 85                              -- exp would overflow without the max
    if cols > 3 then x[{3, 3}] = -math.huge end
    local y, xv = x:logsumexp(2):totable(), x:totable()
    local yk = x:logsumexp(2, true)
    eq(yk:dim(), 2)
    eq(yk:size(2), 1)
    for r = 1, 6 do
      local want = ref_logsumexp(xv[r])
      assert(math.abs(y[r] - want) <= 2 ^ -22 * (math.abs(want) + 1),
             ("cols %d row %d: %.9g vs %.9g"):format(cols, r, y[r], want))
    end
    -- along the first dim (the strided loop) the same values as the transpose's rows
    local t = x:t():contiguous():logsumexp(2):totable()
    local c1 = x:logsumexp(1):totable()
    for c = 1, cols do assert(math.abs(c1[c] - t[c]) <= 2 ^ -22 * (math.abs(t[c]) + 1)) end
  end
  local x = ln.tensor({{-math.huge, -math.huge}, {1, math.huge}, {0 / 0, 1}, {1, 0 / 0}, {1000, 1000}})
  local y = x:logsumexp(2)
  eq(y[1], -math.huge)
  eq(y[2], math.huge)
  assert(y[3] ~= y[3] and y[4] ~= y[4], "NaN rows")
  near(y[5], 1000 + math.log(2), 1e-3)
end)

test("softmax family along a dim with elements after it: as the rows of the transpose", function()
  -- the column kernels (64 columns a piece) against the row kernels above,
  -- on the same numbers moved into rows; sums in double either way
  local function close(a, b, what)
    local av, bv = a:flatten():totable(), b:flatten():totable()
    for i = 1, #av do
      local x, y = av[i], bv[i]
      local ok = (x ~= x and y ~= y) or x == y or math.abs(x - y) <= 2 ^ -21 * (math.abs(y) + 1)
      if not ok then error(("%s: element %d is %.9g, rows give %.9g"):format(what, i, x, y), 2) end
    end
  end
  for _, s in ipairs({{1, 7, 3}, {3, 100, 64}, {2, 17, 65}, {1, 1, 130}, {2, 33, 200}}) do
    local x = (ln.rand(s[1], s[2], s[3]) - 0.5) * 60
    x[{1, 1, 1}] = 85                                  -- exp would overflow without the max
    if s[2] > 3 then x[{1, 3, 2}] = -math.huge end     -- a zero probability
    if s[3] > 66 then
      for l = 1, s[2] do x[{1, l, 65}] = -math.huge end -- a column of -inf
      x[{1, 1, 66}] = math.huge
      x[{1, s[2], 64}] = 0 / 0
    end
    local xt = x:transpose(2, 3):contiguous()
    local what = table.concat(s, "x")
    close(x:softmax(2), xt:softmax(3):transpose(2, 3):contiguous(), "softmax " .. what)
    close(x:log_softmax(2), xt:log_softmax(3):transpose(2, 3):contiguous(), "log_softmax " .. what)
    close(x:logsumexp(2), xt:logsumexp(3), "logsumexp " .. what)
    if s[3] > 66 then
      eq(x:logsumexp(2)[{1, 65}], -math.huge)
      eq(x:logsumexp(2)[{1, 66}], math.huge)
      local nan = x:logsumexp(2)[{1, 64}]
      assert(nan ~= nan, "a NaN column")
    end
  end
  local x = ln.randn(4, 300, 130)                      -- past the parallel size
  local before = ln.get_num_threads()
  ln.set_num_threads(1)
  local a, b = x:softmax(2), x:logsumexp(2)
  ln.set_num_threads(2)
  assert(x:softmax(2):equal(a) and x:logsumexp(2):equal(b), "1 and 2 threads differ")
  ln.set_num_threads(before)
end)

test("the whole 2-norm: a double sum, the same on 1 and 2 threads", function()
  for _, n in ipairs({0, 1, 7, 4097, 140001}) do
    local x = (ln.rand(n) - 0.5) * 10
    local s = 0
    for _, v in ipairs(x:totable()) do s = s + v * v end
    local want, before = math.sqrt(s), ln.get_num_threads()
    ln.set_num_threads(1)
    local one = x:norm()
    ln.set_num_threads(2)
    local two = x:norm()
    ln.set_num_threads(before)
    eq(one, two)
    assert(math.abs(one - want) <= 2 ^ -23 * want, ("n %d: %.9g vs %.9g"):format(n, one, want))
  end
  assert(ln.tensor({1, 0 / 0}):norm() ~= ln.tensor({1, 0 / 0}):norm())
  eq(ln.tensor({3, -math.huge}):norm(), math.huge)
end)

test("slices with ranges", function()
  local t = ln.arange(12):reshape(3, 4)
  eq(list(t[{{}, 2}]), "1 5 9")            -- a column (copy)
  eq(list(t[{{2, 3}, {1, 2}}]), "4 5 8 9")
  local rows = t[{{2, 3}}]                 -- leading range: a view
  rows[{1, 1}] = 40
  eq(t[{2, 1}], 40)
  t[{{}, 1}] = 0                           -- write a column
  eq(list(t[{{}, 1}]), "0 0 0")
  t[{{}, {3, 4}}] = ln.tensor({7, 8}, "int32") -- broadcast a row
  eq(list(t[3]), "0 9 7 8")
  raises(function() t[{{}, {1, 2}}] = ln.tensor({1, 2, 3}) end,
         "assignment: values of shape (3,) do not broadcast to the selected shape (3, 2)")
  raises(function() return t[{{2, 5}}] end, "range {2, 5} out of range along dim 1 of shape (3, 4)")
end)

test("views and copies", function()
  local x = ln.arange(24):reshape(2, 3, 4)
  local n = x:narrow(1, 2, 1)
  n[{1, 1, 1}] = 99
  eq(x[{2, 1, 1}], 99)                     -- narrow along dim 1 shares
  local c = x:narrow(3, 2, 2)
  eq(shape(c), "2x3x2")
  eq(list(c[1]), "1 2 5 6 9 10")
  eq(shape(x:select(2, 3)), "2x4")
  eq(list(x:select(1, -1)[1]), "99 13 14 15")
  eq(shape(x:reshape(-1, 4)), "6x4")
  eq(shape(x:view(4, 6)), "4x6")
  eq(shape(x:flatten()), "24")
  eq(shape(x:reshape(2, 1, 12):squeeze()), "2x12")
  eq(shape(x:unsqueeze(1)), "1x2x3x4")
  eq(shape(x:unsqueeze(-1)), "2x3x4x1")
  local tr = ln.arange(6):reshape(2, 3):t()
  eq(list(tr), "0 3 1 4 2 5")
  eq(shape(x:transpose(1, 3)), "4x3x2")
  eq(shape(x:permute(3, 1, 2)), "4x2x3")
  eq(x:permute(3, 1, 2)[{4, 2, 3}], x[{2, 3, 4}])
  local cl = x:clone()
  cl[{1, 1, 1}] = -1
  eq(x[{1, 1, 1}], 0)
  assert(rawequal(x:contiguous(), x))
  raises(function() x:narrow(2, 3, 2) end, "narrow: start 3, length 2 out of range along dim 2 of shape (2, 3, 4)")
  raises(function() x:reshape(5, 5) end, "reshape: cannot view shape (2, 3, 4) as (5, 5)")
  raises(function() x:select(4, 1) end, "select: dim 4 out of range for shape (2, 3, 4)")
end)

test("cat", function()
  local a, b = ln.ones(2, 3), ln.zeros(1, 3)
  eq(shape(ln.cat({a, b})), "3x3")
  eq(shape(ln.cat(a, a, 2)), "2x6")
  eq(shape(a:cat(a, -1)), "2x6")
  eq(list(ln.cat({ln.arange(2), ln.arange(3)})), "0 1 0 1 2")
  raises(function() ln.cat({a, b}, 2) end,
         "cat: tensor 2 is float32 (1, 3) but tensor 1 is float32 (2, 3)")
  raises(function() ln.cat({a, 3}) end, "cat: entry 2 is a number")
end)

test("arithmetic with broadcasting", function()
  local a = ln.tensor({{1}, {2}, {3}})
  local b = ln.tensor({10, 20})
  eq(list(a + b), "11.0 21.0 12.0 22.0 13.0 23.0")
  eq(list(a * 2), "2.0 4.0 6.0")
  eq(list(2 - a), "1.0 0.0 -1.0")
  eq(list(1 / ln.tensor({2, 4})), "0.5 0.25")
  eq(list(ln.tensor({2, 3}) ^ 2), "4.0 9.0")
  eq(list(-a), "-1.0 -2.0 -3.0")
  eq(list(a:maximum(2)), "2.0 2.0 3.0")
  eq(list(a:minimum(ln.tensor({2}))), "1.0 2.0 2.0")
  raises(function() return ln.ones(2, 3) + ln.ones(2) end,
         "add (+)", "(2, 3)", "(2,)", "cannot be broadcast")
  raises(function() return ln.ones(2) + "x" end,
         "add (+): expects tensors or numbers, argument 2 is string")
  raises(function() return ln.ones(2) * {} end, "mul (*)")
end)

test("integer arithmetic rules", function()
  local i = ln.tensor({7, -7, 3}, "int32")
  eq((i + 1):type(), "int32")
  eq((i * 2):type(), "int32")
  eq((i / 2):type(), "float32")            -- / always gives floats
  eq((i + 0.5):type(), "float32")          -- a float number promotes
  eq((i ^ 2):type(), "float32")
  eq(list(i // 2), "3 -4 1")               -- Lua's floor division
  eq(list(i % 3), "1 2 0")                 -- Lua's modulo (sign of divisor)
  eq(list(i % -3), "-2 -1 0")
  eq(list(ln.tensor({7, -7}) // 2), "3.0 -4.0")
  eq(list(ln.tensor({7.5, -7.5}) % 2), "1.5 0.5")
  local u = ln.tensor({250, 10}, "uint8")
  eq((u + 10):type(), "int32")             -- no uint8 wrap-around
  eq(list(u + 10), "260 20")
  eq(list(-u), "-250 -10")
  eq(list(u:abs()), "250 10")
  eq((u:float() / 255):type(), "float32")
  eq(list(u:clamp(20, 100)), "100 20")
  eq(u:clamp(20, 100):type(), "uint8")
  eq(list(i:abs()), "7 7 3")
  raises(function() return i // 0 end, "integer division by zero")
  raises(function() return i % ln.zeros(3, "int32") end, "division by zero")
end)

test("math functions", function()
  local x = ln.tensor({1, 4, 9})
  eq(list(x:sqrt()), "1.0 2.0 3.0")
  near(x:log()[2], math.log(4), 1e-6)
  near(x:exp()[1], math.exp(1), 1e-5)
  eq(list(ln.tensor({-1.5, 2.5}):abs()), "1.5 2.5")
  eq(list(ln.tensor({-1.5, 0, 2}):sign()), "-1.0 0.0 1.0")
  eq(list(ln.tensor({-1.5, 1.5}):floor()), "-2.0 1.0")
  eq(list(ln.tensor({-1.5, 1.2}):ceil()), "-1.0 2.0")
  eq(list(ln.tensor({-5, 0.5, 5}):clamp(-1, 1)), "-1.0 0.5 1.0")
  eq(list(ln.tensor({-5, 5}):clamp(0)), "0.0 5.0")
  near(ln.tensor({0}):sigmoid()[1], 0.5, 1e-7)
  eq(ln.tensor({1, 2}, "int32"):exp():type(), "float32")
end)

test("comparisons and masks", function()
  local x = ln.tensor({1, 5, 7, 3})
  local m = x:gt(3)
  eq(m:type(), "uint8")
  eq(list(m), "0 1 1 0")
  eq(list(x:eq(5)), "0 1 0 0")
  eq(list(x:ne(5)), "1 0 1 1")
  eq(list(x:le(3)), "1 0 0 1")
  eq(list(x:lt(ln.tensor({2}))), "1 0 0 0")
  eq(list(x:ge(x)), "1 1 1 1")
  eq(list(m & x:lt(7)), "0 1 0 0")
  eq(list(m | x:eq(1)), "1 1 1 0")
  eq(list(~m), "1 0 0 1")
  eq(list(m ~ x:gt(5)), "0 1 0 0")
  eq(list(x[m]), "5.0 7.0")
  raises(function() return x:gt("a") end, "gt: compares with a number or a tensor")
  raises(function() return m & x end, "and (&): combines uint8 masks, argument 2 is float32")
  raises(function() return ~x end, "not (~)", "float32")
  raises(function() return x:eq(ln.ones(3)) end, "eq:", "(4,)", "(3,)")
end)

test("mask selection and assignment", function()
  local X = ln.arange(12):reshape(4, 3)
  local rows = ln.tensor({1, 0, 0, 1}, "uint8")
  local sel = X[rows]
  eq(shape(sel), "2x3")
  eq(list(sel), "0 1 2 9 10 11")
  eq(list(X[X:gt(8)]), "9 10 11")
  local Y = X:clone()
  Y[rows] = 0
  eq(list(Y[1]), "0 0 0")
  Y[rows] = ln.tensor({5, 6, 7}, "int32")  -- one row for every selected row
  eq(list(Y[4]), "5 6 7")
  Y[Y:gt(6)] = ln.tensor({1, 2, 1, 2}, "int32") -- one value per element
  eq(list(Y), "5 6 1 3 4 5 6 2 1 5 6 2")
  local f = ln.tensor({1.5, -2, 3})
  f[f:lt(0)] = 0
  eq(list(f), "1.5 0.0 3.0")
  f[f:gt(1)] = ln.tensor({9})               -- a single value fills
  eq(list(f), "9.0 0.0 9.0")
  -- the seed's y_A[y_A > 6] -= 2 on uint8 labels
  local yA = ln.tensor({9, 0, 7, 4, 8}, "uint8")
  yA[yA:gt(6)] = yA[yA:gt(6)] - 2
  eq(list(yA), "7 0 5 4 6")
  eq(yA:type(), "uint8")
  raises(function() return X[ln.ones(3, "uint8")] end,
         "mask selection: mask of shape (3,) does not fit tensor of shape (4, 3)")
  raises(function() X[rows] = ln.ones(5, "int32") end,
         "masked assignment: 2 cells of 3 elements selected", "(5,)")
  raises(function() X[X:gt(0)] = 1e12 end, "does not fit in int32")
  raises(function() return X[ln.ones(4)] end, "float32 tensor of shape (4,) cannot index")
end)

test("masked_fill by elements: every dtype, past a block and the parallel size", function()
  local before = ln.get_num_threads()
  for _, n in ipairs{1, 15, 4097, 140001} do
    for _, dtype in ipairs{"float32", "int32", "uint8"} do
      local m = ln.rand(n):gt(0.5)
      local base = (ln.rand(n) * 100):floor():type(dtype)
      local fill = dtype == "float32" and -2.5 or 7
      local want, mv, bv = {}, m:totable(), base:totable()
      for i = 1, n do want[i] = mv[i] ~= 0 and fill or bv[i] end
      for _, threads in ipairs{1, 2} do
        ln.set_num_threads(threads)
        local got = base:clone():masked_fill(m, fill):totable()
        for i = 1, n do
          if got[i] ~= want[i] then
            error(string.format("%s n=%d, %d threads: element %d is %s, want %s",
                                dtype, n, threads, i, got[i], want[i]))
          end
        end
      end
    end
  end
  ln.set_num_threads(before)
end)

test("gather by index tensor", function()
  local X = ln.arange(12):reshape(4, 3)
  local idx = ln.tensor({4, 1, 4}, "int32")
  eq(list(X[idx]), "9 10 11 0 1 2 9 10 11")
  eq(list(X:index(2, ln.tensor({3, 1}, "int32"))), "2 0 5 3 8 6 11 9")
  local Z = X:clone()
  Z[ln.tensor({2, 3}, "int32")] = -1
  eq(list(Z:narrow(1, 2, 2)), "-1 -1 -1 -1 -1 -1")
  Z[ln.tensor({1}, "int32")] = ln.tensor({{7, 8, 9}}, "int32")
  eq(list(Z[1]), "7 8 9")
  local g = X:gather(2, ln.tensor({{3}, {1}, {2}, {3}}, "int32"))
  eq(list(g), "2 3 7 11")
  local perm = ln.randperm(4)
  eq(X[perm]:sum(), X:sum())
  raises(function() return X[ln.tensor({5}, "int32")] end, "index 5 (at position 1) out of range 1..4")
  raises(function() return X:gather(2, ln.tensor({{4}, {1}, {1}, {1}}, "int32")) end,
         "gather: index 4", "out of range 1..3 along dim 2")
end)

test("reductions", function()
  local x = ln.tensor({{1, 2, 3}, {4, 5, 6}})
  eq(x:sum(), 21.0)
  eq(math.type(ln.tensor({1, 2}, "int32"):sum()), "integer")
  eq(ln.ones(5, "uint8"):sum(), 5)
  eq(x:mean(), 3.5)
  eq(list(x:sum(1)), "5.0 7.0 9.0")
  eq(list(x:sum(2)), "6.0 15.0")
  eq(shape(x:sum(2, true)), "2x1")
  eq(list(x:mean(-1)), "2.0 5.0")
  eq(x:max(), 6.0)
  eq(x:min(), 1.0)
  eq(x:argmax(), 6)
  eq(x:argmin(), 1)
  local v, i = x:max(2)
  eq(list(v), "3.0 6.0")
  eq(list(i), "3 3")
  eq(i:type(), "int32")
  local iv, ii = ln.tensor({{3, 9}, {8, 1}}, "uint8"):min(1)
  eq(iv:type(), "uint8")
  eq(list(iv), "3 1")
  eq(list(ii), "1 2")
  eq(list(x:argmax(1)), "2 2 2")
  eq(list(ln.tensor({{0, 7, 7}}):argmax(2)), "2")   -- the first of ties
  near(ln.tensor({1, 2, 3, 4}):std(), math.sqrt(5 / 3), 1e-12, "std (unbiased)")
  near(ln.tensor({1, 2, 3, 4}):var(), 5 / 3, 1e-12, "var (unbiased)")
  near(x:std(2)[1], 1, 1e-6)
  near(x:var(1)[2], 4.5, 1e-6)
  assert(ln.tensor({0, 1}):any() and not ln.tensor({0, 1}):all())
  assert(ln.ones(3, "uint8"):all())
  raises(function() ln.zeros(0):max() end, "max: nothing to reduce in a tensor of shape (0,)")
  raises(function() x:sum(3) end, "sum: dim 3 out of range for shape (2, 3)")
end)

test("equal and allclose", function()
  local a = ln.tensor({1, 2, 3})
  assert(a:equal(ln.tensor({1, 2, 3}, "int32")))
  assert(not a:equal(ln.tensor({1, 2})))
  assert(not a:equal(ln.tensor({{1, 2, 3}})))
  assert(ln.allclose(a, a + 1e-7))
  assert(not ln.allclose(a, a + 1e-3))
  assert(ln.allclose(a, a + 1e-3, 1e-2))
  assert(ln.allclose(ln.ones(2, 3), ln.ones(3)))
  assert(a:allclose(a))
  raises(function() ln.allclose(a, ln.ones(2)) end, "allclose", "(3,)", "(2,)")
end)

test("totable", function()
  local t = ln.tensor({{1, 2}, {3, 4}}, "int32"):totable()
  eq(#t, 2)
  eq(table.concat(t[2], " "), "3 4")
  eq(math.type(t[1][1]), "integer")
  eq(ln.tensor({1.5}):totable()[1], 1.5)
  eq(ln.tensor(3, "int32"):totable(), 3)
end)

test("tostring like numpy", function()
  eq(tostring(ln.tensor({{1, 2}, {3, 4}}, "int32")),
     "tensor([[1, 2],\n        [3, 4]], dtype=int32, shape=(2, 2))")
  eq(tostring(ln.tensor({0.5, -1.25})),
     "tensor([ 0.5000, -1.2500], dtype=float32, shape=(2,))")
  eq(tostring(ln.tensor({1, 2})), "tensor([1., 2.], dtype=float32, shape=(2,))")
  eq(tostring(ln.tensor(2.5)), "tensor(2.5000, dtype=float32, shape=())")
  eq(tostring(ln.zeros(0, 3)), "tensor([], dtype=float32, shape=(0, 3))")
  eq(tostring(ln.tensor({1e-5, 1})),
     "tensor([1.0000e-05, 1.0000e+00], dtype=float32, shape=(2,))")
  local big = tostring(ln.arange(2000))
  eq(big, "tensor([   0,    1,    2, ..., 1997, 1998, 1999], dtype=int32, shape=(2000,))")
  local img = tostring(ln.zeros(60, 28, 28, "uint8"))
  assert(img:find("...,", 1, true) and img:find("shape=(60, 28, 28)", 1, true))
  assert(#img < 2000, "elided output stays short")
  local long = tostring(ln.arange(30))
  assert(long:find("\n", 1, true), "long rows wrap at 75 columns")
end)

test("method argument errors", function()
  local x = ln.ones(2, 3)
  raises(function() x:narrow("a", 1, 1) end, "narrow: dim must be an integer")
  raises(function() x:reshape(2, "b") end, "reshape")
  raises(function() x:unsqueeze(5) end, "unsqueeze: dim 5 out of range for shape (2, 3)")
  raises(function() x:permute(1) end, "permute: 1 dims given for shape (2, 3)")
  raises(function() x:t():t():transpose(1, 3) end, "transpose: dim 3 out of range")
  raises(function() ln.ones(3):t() end, "t: expects a 2-d tensor, got shape (3,)")
  raises(function() x:item() end, "item: the tensor has 6 elements (shape (2, 3)), not 1")
  raises(function() x:copy(ln.ones(5)) end, "copy: source of shape (5,) has 5 elements, the tensor of shape (2, 3) has 6")
  raises(function() x:fill(1e40):byte() end, "conversion to uint8: the value inf at position 1")
  raises(function() x:fill(7):byte():fill(300) end, "fill: value 300")
  raises(function() return #ln.tensor(1) end, "0-d tensor has no length")
  eq(list(x:copy(ln.arange(6))), "0.0 1.0 2.0 3.0 4.0 5.0")
  eq(list(x:zero()), "0.0 0.0 0.0 0.0 0.0 0.0")
end)

test("is_tensor: open tensors only, not what pretends to be one", function()
  local registry = require "lunet.registry"
  local t = ln.rand(2)
  local fake = setmetatable({}, getmetatable(t)) -- a table with the Tensor metatable
  local named = setmetatable({}, {__name = "lunet.Tensor"})
  for _, is in ipairs({ln.is_tensor, registry.is_tensor}) do
    eq(is(t), true)
    eq(is(t[1]), false) -- a number
    eq(is(fake), false)
    eq(is(named), false)
    eq(is(io.stdout), false) -- a userdata of another kind
    eq(is(nil), false)
  end
  do local c <close> = ln.rand(3); eq(ln.is_tensor(c), true) end
  local closed = ln.rand(3)
  getmetatable(closed).__close(closed)
  eq(ln.is_tensor(closed), false)
  raises(function() return closed:sum() end, "closed")
  raises(function() return fake:sum() end, "Tensor expected")
end)

T.summary()
