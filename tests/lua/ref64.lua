-- ref64.lua -- float64 reference arrays for the autograd gradient checks:
-- plain Lua numbers (doubles) in row-major order with a shape, and the
-- operations the checks need, written independently of lunet's kernels.
-- Dims and positions here are 0-based (Python's), unlike lunet's Lua API.
local R = {}

local function numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

local function copy(t)
  local r = {}
  for i, v in ipairs(t) do r[i] = v end
  return r
end

function R.new(shape, data)
  return {shape = copy(shape), data = data or {}}
end

-- From a lunet tensor (its float32 values, exactly) or a number.
function R.from(t)
  if type(t) == "number" then return R.new({}, {t}) end
  local shape, data = t:shape(), {}
  local flat = t:reshape(t:numel()):totable()
  if type(flat) ~= "table" then flat = {flat} end
  for i, v in ipairs(flat) do data[i] = v end
  return R.new(shape, data)
end

local function strides(shape)
  local st, s = {}, 1
  for d = #shape, 1, -1 do st[d] = s; s = s * shape[d] end
  return st
end

-- Coordinates (0-based) of flat index k (1-based).
local function coords(shape, k)
  local c, r = {}, k - 1
  for d = #shape, 1, -1 do c[d] = r % shape[d]; r = r // shape[d] end
  return c
end

local function offset(st, c)
  local o = 1
  for d = 1, #c do o = o + c[d] * st[d] end
  return o
end

-- ---- elementwise ----------------------------------------------------------------

local function bshape(a, b)
  local n = math.max(#a, #b)
  local s = {}
  for i = 1, n do
    local x = a[i - (n - #a)] or 1
    local y = b[i - (n - #b)] or 1
    s[i] = x == 1 and y or x
  end
  return s
end

-- Element of a at output coordinates c (broadcast).
local function bget(a, c)
  local o, st, n = 1, strides(a.shape), #c
  for d = 1, #a.shape do
    local cd = c[d + n - #a.shape]
    if a.shape[d] ~= 1 then o = o + cd * st[d] end
  end
  return a.data[o]
end

local function lift(x) return type(x) == "number" and R.new({}, {x}) or x end

-- f(a, b) elementwise with numpy broadcasting; a, b arrays or numbers.
function R.bin(a, b, f)
  a, b = lift(a), lift(b)
  local s = bshape(a.shape, b.shape)
  local r = R.new(s)
  for k = 1, numel(s) do
    local c = coords(s, k)
    r.data[k] = f(bget(a, c), bget(b, c))
  end
  return r
end

function R.map(a, f)
  local r = R.new(a.shape)
  for k, v in ipairs(a.data) do r.data[k] = f(v) end
  return r
end

function R.where(c, a, b)
  a, b = lift(a), lift(b)
  local s = bshape(bshape(c.shape, a.shape), b.shape)
  local r = R.new(s)
  for k = 1, numel(s) do
    local co = coords(s, k)
    r.data[k] = bget(c, co) ~= 0 and bget(a, co) or bget(b, co)
  end
  return r
end

-- ---- reductions ----------------------------------------------------------------

-- Reduce along dim (0-based; nil = all elements) with f(list) -> number.
function R.reduce(a, dim, keep, f)
  if dim == nil then
    return R.new({}, {f(copy(a.data))})
  end
  local out = {}
  for d, s in ipairs(a.shape) do
    if d - 1 ~= dim then out[#out + 1] = s elseif keep then out[#out + 1] = 1 end
  end
  local full = copy(a.shape)
  full[dim + 1] = 1
  local r = R.new(out)
  local st = strides(a.shape)
  for k = 1, numel(full) do
    local c = coords(full, k)
    local vals = {}
    for l = 0, a.shape[dim + 1] - 1 do
      c[dim + 1] = l
      vals[#vals + 1] = a.data[offset(st, c)]
    end
    r.data[k] = f(vals)
  end
  return r
end

function R.sum(v) local s = 0; for _, x in ipairs(v) do s = s + x end; return s end
function R.mean(v) return R.sum(v) / #v end
function R.max(v) local m = v[1]; for _, x in ipairs(v) do if x > m then m = x end end; return m end
function R.min(v) local m = v[1]; for _, x in ipairs(v) do if x < m then m = x end end; return m end
function R.lse(v)
  local m = R.max(v)
  local s = 0
  for _, x in ipairs(v) do s = s + math.exp(x - m) end
  return m + math.log(s)
end
function R.norm(p)
  return function(v)
    if p == math.huge then
      local m = 0
      for _, x in ipairs(v) do m = math.max(m, math.abs(x)) end
      return m
    end
    local s = 0
    for _, x in ipairs(v) do s = s + math.abs(x) ^ p end
    return s ^ (1 / p)
  end
end

-- softmax / log_softmax along dim (0-based).
function R.softmax(a, dim, log)
  local r = R.new(a.shape)
  local st = strides(a.shape)
  local full = copy(a.shape)
  full[dim + 1] = 1
  for k = 1, numel(full) do
    local c = coords(full, k)
    local vals, offs = {}, {}
    for l = 0, a.shape[dim + 1] - 1 do
      c[dim + 1] = l
      offs[#offs + 1] = offset(st, c)
      vals[#vals + 1] = a.data[offs[#offs]]
    end
    local lse = R.lse(vals)
    for i, o in ipairs(offs) do
      r.data[o] = log and vals[i] - lse or math.exp(vals[i] - lse)
    end
  end
  return r
end

-- ---- moves -------------------------------------------------------------------------

function R.reshape(a, shape) return R.new(shape, copy(a.data)) end

function R.permute(a, perm) -- perm 0-based: out dim i = in dim perm[i]
  local s = {}
  for i, p in ipairs(perm) do s[i] = a.shape[p + 1] end
  local r, st = R.new(s), strides(a.shape)
  for k = 1, numel(s) do
    local c, ci = coords(s, k), {}
    for i, p in ipairs(perm) do ci[p + 1] = c[i] end
    r.data[k] = a.data[offset(st, ci)]
  end
  return r
end

-- A box: spec[d] = {first, count} (0-based) or a number (selects, drops d).
function R.slice(a, spec)
  local s, dims = {}, {}
  for d = 1, #a.shape do
    local e = spec[d] or {0, a.shape[d]}
    if type(e) == "table" then s[#s + 1] = e[2]; dims[#dims + 1] = d end
  end
  local r, st = R.new(s), strides(a.shape)
  for k = 1, numel(s) do
    local c, ci = coords(s, k), {}
    for d = 1, #a.shape do
      local e = spec[d] or {0, a.shape[d]}
      ci[d] = type(e) == "number" and e or e[1]
    end
    for i, d in ipairs(dims) do ci[d] = ci[d] + c[i] end
    r.data[k] = a.data[offset(st, ci)]
  end
  return r
end

-- idx: list of 0-based positions along dim.
function R.index(a, dim, idx)
  local s = copy(a.shape)
  s[dim + 1] = #idx
  local r, st = R.new(s), strides(a.shape)
  for k = 1, numel(s) do
    local c = coords(s, k)
    c[dim + 1] = idx[c[dim + 1] + 1]
    r.data[k] = a.data[offset(st, c)]
  end
  return r
end

-- idx: an array (0-based positions) of the output's shape.
function R.gather(a, dim, idx)
  local r, st = R.new(idx.shape), strides(a.shape)
  for k = 1, numel(idx.shape) do
    local c = coords(idx.shape, k)
    c[dim + 1] = idx.data[k]
    r.data[k] = a.data[offset(st, c)]
  end
  return r
end

-- Rows (cells of the trailing dims) where the mask (of a's leading dims) is set.
function R.masked(a, mask)
  local cell = numel(a.shape) // numel(mask.shape)
  local rest = {}
  for d = #mask.shape + 1, #a.shape do rest[#rest + 1] = a.shape[d] end
  local data, count = {}, 0
  for m = 1, #mask.data do
    if mask.data[m] ~= 0 then
      count = count + 1
      for j = 1, cell do data[#data + 1] = a.data[(m - 1) * cell + j] end
    end
  end
  table.insert(rest, 1, count)
  return R.new(rest, data)
end

function R.cat(list, dim)
  local s = copy(list[1].shape)
  s[dim + 1] = 0
  for _, a in ipairs(list) do s[dim + 1] = s[dim + 1] + a.shape[dim + 1] end
  local r = R.new(s)
  for k = 1, numel(s) do
    local c = coords(s, k)
    local p = c[dim + 1]
    for _, a in ipairs(list) do
      if p < a.shape[dim + 1] then
        c[dim + 1] = p
        r.data[k] = a.data[offset(strides(a.shape), c)]
        break
      end
      p = p - a.shape[dim + 1]
    end
  end
  return r
end

function R.stack(list, dim)
  local parts = {}
  for i, a in ipairs(list) do
    local s = copy(a.shape)
    table.insert(s, dim + 1, 1)
    parts[i] = R.reshape(a, s)
  end
  return R.cat(parts, dim)
end

function R.matmul(a, b, ta, tb)
  if ta then a = R.permute(a, {1, 0}) end
  if tb then b = R.permute(b, {1, 0}) end
  local m, k, n = a.shape[1], a.shape[2], b.shape[2]
  local r = R.new({m, n})
  for i = 0, m - 1 do
    for j = 0, n - 1 do
      local s = 0
      for l = 0, k - 1 do s = s + a.data[i * k + l + 1] * b.data[l * n + j + 1] end
      r.data[i * n + j + 1] = s
    end
  end
  return r
end

R.numel = numel
return R
