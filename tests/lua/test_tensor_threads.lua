-- Tensor operations give bitwise identical results with 1 and 2 threads
-- (tensors large enough that every kernel runs in parallel). The speed of
-- the seed's preprocessing x:float() / 255 is measured in
-- bench/bench_preprocess.lua, never asserted here.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test

-- Every result of a pipeline of tensor ops, from a fixed seed.
local function pipeline()
  ln.random.seed(123)
  local x = ln.randn(700, 600)
  local b = ln.rand(600)
  local img = (ln.rand(3000, 28, 28) * 255):byte()
  local labels = (ln.rand(3000) * 10):int()
  local out = {}
  local function keep(v) out[#out + 1] = v end
  keep(x + b)
  keep(x * 3 - b / 2)
  keep(x ^ 2)
  keep((x:abs() + 1):log())
  keep(x:exp():sqrt())
  keep(x:clamp(-0.5, 0.5))
  keep(-x)
  keep(x // 0.3)
  keep(x % 0.7)
  keep(x:gt(b))
  keep(x:lt(0.1) & x:gt(-0.1))
  keep(~x:eq(0))
  keep(x[x:gt(1)])
  keep(img:float() / 255)
  keep(img + 3)
  keep(img[labels:eq(3)])
  keep(img[ln.randperm(3000)])
  keep(x:sum(1))
  keep(x:mean(2))
  keep(x:std(1))
  keep(x:var(2))
  keep(x:argmax(2))
  keep(select(2, x:min(1)))
  keep(x:t())
  keep(x:narrow(2, 10, 300))
  keep(x[{{}, {5, 400}}])
  keep(ln.cat({x, x}, 2))
  keep(ln.one_hot(labels, 10))
  keep(ln.utils.normalize(img, 2))
  keep(x:gather(2, (ln.rand(700, 50) * 599):int() + 1))
  local y = x:clone()
  y[y:lt(0)] = 0
  keep(y)
  local z = img:clone()
  z[labels:gt(5)] = 1
  keep(z)
  keep(ln.tensor({x:sum(), x:mean(), x:std(), x:max(), x:min(), x:argmax(),
                  img:sum(), labels:sum()}))
  return out
end

test("1 and 2 threads give identical results", function()
  ln.set_num_threads(1)
  local a = pipeline()
  ln.set_num_threads(2)
  local b = pipeline()
  assert(#a == #b)
  for i = 1, #a do
    if not (a[i]:type() == b[i]:type() and a[i]:equal(b[i])) then
      -- equal() is numeric; NaN-free inputs make it exact here
      error("result " .. i .. " differs between 1 and 2 threads")
    end
  end
end)

T.summary()
