-- Copies that rearrange elements (core/tensor_copy.c, ln_gather): permute
-- and contiguous() of transposes, box reads, and gather, against ref64.lua's
-- element-by-element definitions on random shapes. The shapes cross the
-- copy's cases (merged dims, contiguous rows, 16 x 16 transposed tiles and
-- their masked edges, strided columns) and its parallel size; every dtype;
-- one and two threads give the same elements.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/ref64.lua")
local ln = require "lunet"
local test, eq, raises = T.test, T.eq, T.raises

ln.random.seed(2112)
math.randomseed(2112)
local SIZES = {1, 2, 3, 5, 10, 15, 16, 17, 31, 33}

local function random_shape(nd, limit)
  local s, n = {}, 1
  for d = 1, nd do
    local k = SIZES[math.random(#SIZES)]
    if n * k > limit then k = 1 end
    s[d], n = k, n * k
  end
  return s
end

local function random_perm(nd)
  local p = {}
  for i = 1, nd do p[i] = i end
  for i = nd, 2, -1 do
    local j = math.random(i)
    p[i], p[j] = p[j], p[i]
  end
  return p
end

-- Distinct values in each dtype's range (uint8 wraps, so positions repeat
-- every 256 elements; the float and int32 cases catch those).
local function filled(shape, dtype)
  local n = 1
  for _, k in ipairs(shape) do n = n * k end
  local t = ln.arange(0, n, 1, "int32")
  if dtype == "uint8" then t = t % 256 end
  if dtype == "float32" then t = t:float() * 0.5 + 0.25 end
  return t:type(dtype):reshape(shape)
end

-- The first element where got (a lunet tensor) differs from want (ref64).
local function same(got, want, what)
  eq(table.concat(got:shape(), "x"), table.concat(want.shape, "x"), what .. " shape")
  local g = R.from(got).data
  for i = 1, #want.data do
    if g[i] ~= want.data[i] then
      error(string.format("%s: element %d is %s, want %s", what, i,
                          tostring(g[i]), tostring(want.data[i])), 2)
    end
  end
end

local function zero_based(perm)
  local p = {}
  for i, d in ipairs(perm) do p[i] = d - 1 end
  return p
end

local function each_thread_count(fn) T.each_thread_count(ln, fn) end

test("permute matches the definition on random shapes, dtypes and orders", function()
  local dtypes = {"float32", "int32", "uint8"}
  each_thread_count(function(threads)
    for case = 1, 120 do
      local nd = 1 + case % 5
      local shape = random_shape(nd, 40000)
      local dtype = dtypes[1 + case % 3]
      local x, perm = filled(shape, dtype), random_perm(nd)
      same(x:permute(perm):contiguous(), R.permute(R.from(x), zero_based(perm)),
           string.format("%d threads, %s %s permute{%s}", threads, dtype,
                         table.concat(shape, "x"), table.concat(perm, ",")))
    end
  end)
end)

test("permute past the parallel size, and transposes, on both thread counts", function()
  local cases = {
    {{60, 50, 48}, {3, 1, 2}}, {{60, 50, 48}, {2, 1, 3}}, {{60, 50, 48}, {1, 3, 2}},
    {{60, 50, 48}, {3, 2, 1}}, {{400, 333}, {2, 1}}, {{7, 20001}, {2, 1}},
    {{20001, 7}, {2, 1}}, {{3, 5, 11, 17, 16}, {5, 2, 4, 1, 3}},
  }
  for _, c in ipairs(cases) do
    local x = filled(c[1], "float32")
    local want = R.permute(R.from(x), zero_based(c[2]))
    each_thread_count(function(threads)
      same(x:permute(c[2]):contiguous(), want, string.format("%d threads, %s permute{%s}",
           threads, table.concat(c[1], "x"), table.concat(c[2], ",")))
    end)
  end
  local m = filled({33, 47}, "int32")
  same(m:t():contiguous(), R.permute(R.from(m), {1, 0}), "t()")
  local c3 = filled({17, 4, 31}, "uint8")
  same(c3:transpose(1, 3):contiguous(), R.permute(R.from(c3), {2, 1, 0}), "transpose(1, 3)")
end)

test("box reads (slices that are not one block) match the definition", function()
  local x = filled({9, 34, 17, 5}, "float32")
  local boxes = {
    {{{2, 8}, {}, {4, 16}, {}}, {{1, 7}, {0, 34}, {3, 13}, {0, 5}}},
    {{3, {1, 33}, {}, {2, 4}}, {2, {0, 33}, {0, 17}, {1, 3}}},
    {{{}, 5, {1, 16}, 2}, {{0, 9}, 4, {0, 16}, 1}},
    {{{9, 9}, {2, 34}, 17, {}}, {{8, 1}, {1, 33}, 16, {0, 5}}},
  }
  for i, b in ipairs(boxes) do
    same(x[b[1]], R.slice(R.from(x), b[2]), "box " .. i)
  end
end)

-- A random gather: the tensor's shape, a dim, an index shape that fits
-- (any length along dim), the index dtype.
local function gather_case(case)
  local nd = 1 + case % 4
  local shape = random_shape(nd, 20000)
  local dim = math.random(nd)
  local ishape = {}
  for d = 1, nd do
    ishape[d] = d == dim and SIZES[math.random(#SIZES)] or math.random(shape[d])
  end
  return nd, shape, dim, ishape, case % 2 == 0 and "int32" or "uint8"
end

test("gather matches the definition on random shapes, dims and index dtypes", function()
  local dtypes = {"float32", "int32", "uint8"}
  each_thread_count(function(threads)
    for case = 1, 90 do
      local _, shape, dim, ishape, idtype = gather_case(case)
      local x = filled(shape, dtypes[1 + case % 3])
      local pos = (ln.rand(ishape) * shape[dim]):floor():type(idtype)
      local want = R.gather(R.from(x), dim - 1, R.from(pos))
      same(x:gather(dim, pos + 1), want, string.format("%d threads, %s gather(%d, %s %s)",
           threads, table.concat(shape, "x"), dim, idtype, table.concat(ishape, "x")))
    end
  end)
end)

test("gather past the parallel size, and its first bad index", function()
  local x = filled({300, 700}, "float32")
  local pos = (ln.rand(300, 500) * 700):floor():int()
  local want = R.gather(R.from(x), 1, R.from(pos))
  each_thread_count(function(threads)
    same(x:gather(2, pos + 1), want, threads .. " threads, gather(2, 300x500)")
  end)
  local col = (ln.rand(300, 1) * 300):floor():int()
  same(x:gather(1, col + 1), R.gather(R.from(x), 0, R.from(col)),
       "a column of indices")
  local bad = ln.ones({4, 5}, "int32")
  bad[{3, 2}] = 701
  bad[{4, 5}] = 0
  raises(function() return x:gather(2, bad) end,
         "gather: index 701 (at flat position 12) out of range 1..700 along dim 2")
  raises(function() return x:gather(2, ln.zeros({1, 1}, "uint8")) end,
         "gather: index 0 (at flat position 1) out of range 1..700 along dim 2")
end)

test("index and index assignment with int32 and uint8 positions, and the first bad one", function()
  local dtypes = {"float32", "int32", "uint8"}
  each_thread_count(function(threads)
    for case = 1, 60 do
      local nd = 1 + case % 3
      local shape = random_shape(nd, 20000)
      local dim = math.random(nd)
      local k = SIZES[math.random(#SIZES)] * (case % 7 == 0 and 40 or 1)  -- some past 4096 elements
      local idtype = case % 2 == 0 and "int32" or "uint8"
      local pos = (ln.rand(k) * math.min(shape[dim], 256)):floor():type(idtype)
      local x = filled(shape, dtypes[1 + case % 3])
      local want = R.index(R.from(x), dim - 1, R.from(pos).data)
      local what = string.format("%d threads, %s index(%d, %s of %d)", threads,
                                 table.concat(shape, "x"), dim, idtype, k)
      same(x:index(dim, pos + 1), want, what)
      if dim == 1 then same(x[pos + 1], want, what .. " as x[pos]") end
    end
  end)
  local x = filled({50, 3}, "float32")
  local rows = ln.tensor({5, 50, 1, 5}, "int32")
  same(x:index(1, rows), R.index(R.from(x), 0, {4, 49, 0, 4}), "repeated rows")
  local y = x:clone()
  y[ln.tensor({2, 50}, "int32")] = -1
  eq(y[{2, 3}], -1, "a row set to a number")
  eq(y[{50, 1}], -1, "the last row set")
  eq(y[{1, 1}], x[{1, 1}], "other rows kept")
  for _, cast in ipairs({"int", "byte"}) do  -- typed stores: every cell of the chosen rows
    local z = ln.zeros(50, 3)[cast](ln.zeros(50, 3))
    z[ln.tensor({7, 2, 7}, "int32")] = 200
    eq(z:sum(), 2 * 3 * 200, cast .. ": two rows of 200")
    eq(z[{7, 3}], 200, cast .. ": row 7")
    eq(z[{2, 1}], 200, cast .. ": row 2")
  end
  local bad = ln.ones(6000, "int32")
  bad[4100], bad[5000] = 51, 0
  raises(function() return x:index(1, bad) end,
         "index: index 51 (at position 4100) out of range 1..50")
  raises(function() return x[bad] end, "index: index 51 (at position 4100) out of range 1..50")
  raises(function() x[bad] = 0 end,
         "index assignment: index 51 (at position 4100) out of range 1..50")
  raises(function() return x:index(2, ln.zeros(3, "uint8")) end,
         "index: index 0 (at position 1) out of range 1..3")
  raises(function() return x:index(1, ln.ones(2)) end, "indices must be an int32 or uint8")
end)

test("gather's gradient (scatter_add) on random shapes and dims, repeated indices", function()
  -- w holds small integers: the sums of repeated indices are exact in float32
  each_thread_count(function(threads)
    for case = 1, 40 do
      local nd, shape, dim, ishape, idtype = gather_case(case)
      local pos = (ln.rand(ishape) * math.min(shape[dim], 3)):floor():type(idtype)  -- repeats
      local w = (ln.rand(ishape) * 8):floor()
      local x = ln.rand(shape)
      local grads = ln.grad(function(p) return (p.x:gather(dim, pos + 1) * w):sum() end)({x = x})
      -- the definition: every upstream element added at its index along dim
      local want = R.new(shape)
      for k = 1, R.numel(shape) do want.data[k] = 0 end
      local rp, rw = R.from(pos), R.from(w)
      local st, acc = {}, 1
      for d = nd, 1, -1 do st[d], acc = acc, acc * shape[d] end
      for e = 1, R.numel(ishape) do
        local r, o = e - 1, 1
        for d = nd, 1, -1 do
          local c = r % ishape[d]
          r = r // ishape[d]
          o = o + (d == dim and rp.data[e] or c) * st[d]
        end
        want.data[o] = want.data[o] + rw.data[e]
      end
      same(grads.x, want, string.format("%d threads, %s gather(%d, %s %s)'s gradient", threads,
           table.concat(shape, "x"), dim, idtype, table.concat(ishape, "x")))
    end
  end)
end)

T.summary("tensor copies")
