--[[ bench/bench_ops.lua -- single tensor operations from Lua, one thread,
the sweep that found ln.ones, ln.rand, x^2, casts, comparisons, where(),
transposes, log_softmax and the 2-norm 4-47x slower than PyTorch eager
(issue 21, ninth session; 15 more calls in the tenth, 19 in the eleventh, 5 in
the twelfth). bench/torch_ops.py times the same calls in
PyTorch; bench/run_ops.sh runs both and prints the ratio table.

  lunet bench/bench_ops.lua [sizes]      e.g. 30000,1000000

One line per size: "lunet n=N op us op us ...", microseconds per call, best
of 7 rounds. Matrices are the same elements as rows of 100. ]]
local ln = require "lunet"
ln.set_num_threads(1)

local sizes = {30000, 1000000}
if arg[1] then
  sizes = {}
  for s in arg[1]:gmatch("%d+") do sizes[#sizes + 1] = tonumber(s) end
end

local function best(f, reps)
  local t = math.huge
  for _ = 1, 7 do
    local t0 = ln.time()
    for _ = 1, reps do f() end
    t = math.min(t, (ln.time() - t0) / reps * 1e6)
  end
  return t
end

for _, n in ipairs(sizes) do
  local a, b = ln.rand(n), ln.rand(n)
  local m = a:narrow(1, 1, n // 100 * 100):reshape(n // 100, 100)
  local row, col = ln.rand(1, 100), ln.rand(n // 100, 1)
  local mask = a:gt(0.5)
  local rows = n // 100
  local gidx = (ln.rand(rows, 1) * 100):int() + 1          -- 1-based positions in each row
  local gidx5 = (ln.rand(rows, 5) * 100):int() + 1
  local ai, bi = (ln.rand(n) * 10):int(), (ln.rand(n) * 10):int()
  local mask2, ccol = b:lt(0.3), ln.rand(n // 100, 1):gt(0.5)
  local ridx = ln.randperm(rows)                          -- 1-based rows
  local labels = (ln.rand(n // 10) * 10):int()            -- 0..9
  local x32, w = ln.rand(32, 784), ln.rand(784, 300)
  local cube = a:narrow(1, 1, n // 100 * 100):reshape(n // 100, 10, 10)
  local ai2, mf = ai:narrow(1, 1, rows * 100):reshape(rows, 100), ln.rand(rows, 100)
  local irow, icol = (ln.rand(1, 100) * 10):int(), (ln.rand(rows, 1) * 10):int()
  local hidx = ridx:narrow(1, 1, rows // 2)
  local reps = math.max(5, 3000000 // n)
  local ops = {
    {"ones", function() return ln.ones(n) end}, {"rand", function() return ln.rand(n) end},
    {"randn", function() return ln.randn(n) end}, {"clone", function() return a:clone() end},
    {"abs", function() return a:abs() end}, {"sqrt", function() return a:sqrt() end},
    {"log", function() return a:log() end}, {"exp", function() return a:exp() end},
    {"tanh", function() return a:tanh() end}, {"sigmoid", function() return a:sigmoid() end},
    {"clamp", function() return a:clamp(0.2, 0.8) end}, {"pow2", function() return a:pow(2) end},
    {"mul", function() return a * b end}, {"div", function() return a / b end},
    {"addrow", function() return m + row end}, {"mulcol", function() return m * col end},
    {"gt", function() return a:gt(0.5) end}, {"any", function() return mask:any() end},
    {"masksel", function() return a[mask] end}, {"where", function() return ln.where(mask, a, b) end},
    {"int", function() return a:int() end}, {"float", function() return mask:float() end},
    {"mean", function() return a:mean() end}, {"std", function() return a:std() end},
    {"norm", function() return a:norm() end}, {"argmax", function() return a:argmax() end},
    {"mean2", function() return m:mean(2) end}, {"argmax2", function() return m:argmax(2) end},
    {"softmax", function() return m:softmax(2) end}, {"logsm", function() return m:log_softmax(2) end},
    {"t", function() return m:t():contiguous() end}, {"cat", function() return ln.cat({a, b}) end},
    {"sum1", function() return m:sum(1) end}, {"var2", function() return m:var(2) end},
    {"lse", function() return m:logsumexp(2) end}, {"gather", function() return m:gather(2, gidx) end},
    {"index", function() return m:index(1, ridx) end},
    {"permute", function() return cube:permute(3, 1, 2):contiguous() end},
    {"mfill", function() return a:masked_fill(mask, 0) end}, {"eq", function() return a:eq(b) end},
    {"maximum", function() return a:maximum(b) end}, {"subs", function() return a - 0.5 end},
    {"argmin", function() return a:argmin() end}, {"stack", function() return ln.stack({a, b}) end},
    {"onehot", function() return ln.one_hot(labels, 10) end},
    {"randperm", function() return ln.randperm(n) end},
    {"mm32", function() return ln.matmul(x32, w) end},
    {"gather5", function() return m:gather(2, gidx5) end},
    {"perm132", function() return cube:permute(1, 3, 2):contiguous() end},
    {"perm213", function() return cube:permute(2, 1, 3):contiguous() end},
    {"lse1", function() return m:logsumexp(1) end}, {"sm1", function() return m:softmax(1) end},
    {"eqi", function() return ai:eq(bi) end}, {"land", function() return mask:logical_and(mask2) end},
    {"lnot", function() return mask:logical_not() end}, {"arange", function() return ln.arange(0, n) end},
    {"equal", function() return a:equal(b) end}, {"wherebc", function() return ln.where(ccol, m, 0) end},
    {"usum", function() return mask:sum() end}, {"imax", function() return ai:max() end},
    {"fmod", function() return a % b end}, {"imul", function() return ai * bi end},
    {"iadd", function() return ai + 3 end}, {"iabs", function() return ai:abs() end},
    {"norm2", function() return m:norm(2, 2) end}, {"allclose", function() return ln.allclose(a, a) end},
    {"ifill", function() mf[hidx] = 0 end}, {"iaddrow", function() return ai2 + irow end},
    {"imulcol", function() return ai2 * icol end}, {"igtcol", function() return ai2:gt(icol) end},
    {"mixeq", function() return ai2:eq(m) end},
  }
  local out = {}
  for _, op in ipairs(ops) do out[#out + 1] = string.format("%s %.1f", op[1], best(op[2], reps)) end
  print("lunet n=" .. n .. " " .. table.concat(out, " "))
end
