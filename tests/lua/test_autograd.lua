-- The GradientTape API (TF's semantics), ln.grad (torch-autograd's),
-- ln.Variable, gradients of gradients, apply_gradients with the tape's
-- pairs, and the errors: integer tensors, non-differentiable operations,
-- in-place writes, a second use of a non-persistent tape.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq, near, raises = T.test, T.eq, T.near, T.raises

local function close(a, b, tol, what)
  if not ln.allclose(a, b, tol or 1e-5, tol or 1e-6) then
    error(string.format("%s: %s vs %s", what or "tensors differ", tostring(a), tostring(b)), 2)
  end
end

test("run records, gradient of a watched tensor", function()
  local x = ln.tensor({1, 2, 3})
  local tape = ln.GradientTape()
  local y, extra = tape:run(function()
    tape:watch(x)
    return (x * x):sum(), "kept"
  end)
  eq(extra, "kept", "second result of run")
  eq(y:dim(), 0, "a reduction of a recorded tensor is 0-d")
  near(y:item(), 14, 1e-6)
  assert(tape:gradient(y, x):equal(ln.tensor({2, 4, 6})))
end)

test("0-d results compare like numbers", function()
  local x = ln.Variable({1, 2, 3})
  local tape = ln.GradientTape()
  tape:run(function()
    local s = x:sum()
    assert(s > 5 and s >= 6 and s < 7 and s <= 6 and 5 < s and not (s < 6))
    raises(function() return x < 1 end, "one-element", "(3,)")
  end)
end)

test("off the tape reductions still give numbers", function()
  local x = ln.tensor({1, 2, 3})
  eq(type(x:sum()), "number")
  eq(type(x:max()), "number")
  local tape = ln.GradientTape()
  tape:run(function() eq(type(x:sum()), "number", "an untracked tensor inside run") end)
end)

test("sources: a tensor, a list, a table, nested, model variables", function()
  local a, b = ln.Variable({1, 2}), ln.Variable({{3}, {4}})
  local tape = ln.GradientTape{persistent = true}
  local y = tape:run(function() return (a * b):sum() end) -- (2, 2) outer product
  assert(tape:gradient(y, a):equal(ln.tensor({7, 7})))
  local l = tape:gradient(y, {a, b})
  assert(l[1]:equal(ln.tensor({7, 7})) and l[2]:equal(ln.tensor({{3}, {3}})))
  local t = tape:gradient(y, {first = a, more = {b = b}})
  assert(t.first:equal(l[1]) and t.more.b:equal(l[2]))
  local model = ln.Sequential{ln.layers.Dense{2, input_shape = {3}}}
  local tape2 = ln.GradientTape()
  local out = tape2:run(function() return model(ln.ones(4, 3)):sum() end)
  local g = tape2:gradient(out, model.trainable_variables)
  eq(#g, 2)
  assert(g[1]:equal(ln.full({3, 2}, 4)) and g[2]:equal(ln.full({2}, 4)))
end)

test("TF watch semantics: unwatched tensors and watch_accessed_variables", function()
  local x, v = ln.tensor({1, 2}), ln.Variable({1, 2})
  local tape = ln.GradientTape{persistent = true}
  local y = tape:run(function() return (x * v):sum() end)
  eq(tape:gradient(y, x), nil, "a plain tensor not watched")
  assert(tape:gradient(y, v):equal(ln.tensor({1, 2})))
  local z = tape:gradient(y, {x, v}, {unconnected_gradients = "zero"})
  assert(z[1]:equal(ln.zeros(2)) and z[2]:equal(ln.tensor({1, 2})))
  local t2 = ln.GradientTape{watch_accessed_variables = false}
  local y2 = t2:run(function() return (x * v):sum() end)
  eq(t2:gradient(y2, v), nil, "variables not watched")
  local vars = tape:watched_variables()
  eq(#vars, 1)
  assert(vars[1]:equal(v))
end)

test("a variable is a tensor; assign methods; non-trainable and int variables", function()
  local v = ln.Variable(ln.tensor({1, 2}))
  assert(ln.is_tensor(v))
  v:assign(ln.tensor({5, 6})):assign_add(ln.ones(2)):assign_sub(ln.tensor({1, 1}))
  assert(v:equal(ln.tensor({5, 6})))
  local c = ln.Variable({1, 2}, {trainable = false})
  local tape = ln.GradientTape()
  local y = tape:run(function() return (c * 2):sum() end)
  eq(tape:gradient(y, c), nil, "a non-trainable variable is not watched")
  raises(function() ln.Variable(ln.tensor({1, 2}, "int32")) end, "int32", "trainable")
end)

test("persistent tapes answer again, others once", function()
  local x = ln.Variable({2})
  local tape = ln.GradientTape()
  local y = tape:run(function() return (x ^ 3):sum() end)
  near(tape:gradient(y, x)[1], 12, 1e-5)
  raises(function() tape:gradient(y, x) end, "non-persistent", "persistent = true")
  raises(function() tape:run(function() end) end, "records once")
  local p = ln.GradientTape{persistent = true}
  local y2 = p:run(function() return (x ^ 3):sum() end)
  near(p:gradient(y2, x)[1], 12, 1e-5)
  near(p:gradient(y2, x)[1], 12, 1e-5)
  p:reset()
  eq(p:gradient(y2, x), nil, "after reset nothing is recorded")
end)

test("output_gradients and several targets", function()
  local x = ln.Variable({1, 2, 3})
  local tape = ln.GradientTape{persistent = true}
  local y, z = tape:run(function() return x * 2, (x * x):sum() end)
  assert(tape:gradient(y, x, {output_gradients = ln.tensor({1, 0, 10})}):equal(ln.tensor({2, 0, 20})))
  assert(tape:gradient({y, z}, x):equal(ln.tensor({4, 6, 8})))
  raises(function() tape:gradient(y, x, {output_gradients = ln.ones(2)}) end,
         "output gradient 1", "(2,)", "(3,)")
  eq(tape:gradient(5, x), nil, "a number target was not recorded: no gradient")
  raises(function() tape:gradient("loss", x) end, "target must be a tensor")
end)

test("stop_recording and nested runs", function()
  local x = ln.Variable({3})
  local tape = ln.GradientTape()
  local y = tape:run(function()
    local a = x * x
    local b = tape:stop_recording(function() return x * 100 end)
    return (a + b):sum()
  end)
  near(tape:gradient(y, x)[1], 6, 1e-5)
end)

test("gradients of gradients with nested tapes", function()
  local x = ln.Variable({0.5, 2})
  local outer = ln.GradientTape()
  local d2 = outer:run(function()
    local inner = ln.GradientTape()
    local y = inner:run(function() return (x ^ 3):sum() end)
    local g = inner:gradient(y, x)        -- 3 x^2, recorded by the outer tape
    return g:sum()
  end)
  close(outer:gradient(d2, x), ln.tensor({3, 12}), 1e-5, "d2/dx2 of x^3 is 6x")
  -- a Hessian-vector product through matmul, softmax and a broadcast bias
  local w, b = ln.Variable(ln.tensor({{1, -1}, {0.5, 2}})), ln.Variable({0.1, -0.2})
  local v = ln.tensor({{1, 0}, {0, 1}})
  local o2 = ln.GradientTape()
  local hv = o2:run(function()
    local i2 = ln.GradientTape()
    local l = i2:run(function() return (ln.matmul(ln.ones(3, 2), w) + b):log_softmax():sum() end)
    return (i2:gradient(l, w) * v):sum()
  end)
  local h = o2:gradient(hv, {w, b})
  assert(h[1] and h[2], "second-order gradients through matmul and log_softmax")
end)

test("second-order gradients agree with finite differences of the first", function()
  -- every adjoint (sum_to, expand, scatter_add, index_add, masked and
  -- slice scatters) appears in a first gradient below and is differentiated
  ln.random.seed(3)
  local b0 = ln.rand(4) + 0.5
  local mask = ln.tensor({{1, 0, 1, 1}, {0, 1, 1, 0}, {1, 1, 0, 0}}, "uint8")
  local function f(x)
    local s = ((x + b0) ^ 2):sum() + x:max(2):sum() + x:gather(2, ln.tensor({{2}, {4}, {1}}, "int32")):exp():sum()
    s = s + x:index(1, ln.tensor({3, 1, 3}, "int32")):square():sum() + x[mask]:sigmoid():sum()
    return s + x:narrow(2, 2, 2):tanh():sum() + x:softmax():log():sum() + x:mean() * x:norm()
  end
  local function first(x) -- the tape's first gradient, g(x)
    local t = ln.GradientTape()
    local y = t:run(function() t:watch(x); return f(x) end)
    return t:gradient(y, x)
  end
  local x = ln.rand(3, 4)
  local r = ln.rand(3, 4)
  local outer = ln.GradientTape()
  local s = outer:run(function() outer:watch(x); return (first(x) * r):sum() end)
  local h = outer:gradient(s, x)
  local step = 1e-2
  for i = 1, 3 do
    for j = 1, 4 do
      local xp, xm = x:clone(), x:clone()
      xp[{i, j}] = x[{i, j}] + step
      xm[{i, j}] = x[{i, j}] - step
      local num = ((first(xp) * r):sum() - (first(xm) * r):sum()) / (xp[{i, j}] - xm[{i, j}])
      near(h[{i, j}], num, 2e-2 * (1 + math.abs(num)), string.format("element %d, %d", i, j))
    end
  end
end)

test("ln.grad: gradients shaped like the parameters, and f's results", function()
  local function f(params, x, y)
    local pred = ln.matmul(x, params.w) + params.b
    return ((pred - y) ^ 2):mean(), pred
  end
  local df = ln.grad(f)
  local params = {w = ln.tensor({{1}, {2}}), b = ln.tensor({0.5})}
  local x, y = ln.tensor({{1, 1}, {2, 0}}), ln.tensor({{3}, {1}})
  local g, loss, pred = df(params, x, y)
  -- pred = (3.5, 2.5), errors (0.5, 1.5): loss 1.25
  near(loss:item(), 1.25, 1e-6)
  assert(pred:equal(ln.tensor({{3.5}, {2.5}})))
  close(g.w, ln.tensor({{3.5}, {0.5}}))
  close(g.b, ln.tensor({2}))
  raises(function() ln.grad(function() return 1 end)({}) end, "first result")
end)

test("vjp: a function's output and its backward, as a unit's backward", function()
  local w, b = ln.Variable({{1, 2}, {3, 4}}), ln.Variable({0.5, -0.5})
  local x = ln.tensor({{1, 0}, {2, 1}})
  local y, backward, extra = ln.autograd.vjp(function(k) return (ln.matmul(x, w) + b) * k, "extra" end,
                                             {x, w, b, ln.ones(3)}, 2)
  eq(extra, "extra")
  assert(y:equal(ln.tensor({{3, 3}, {11, 15}})))
  local g = backward(ln.tensor({{1, 0}, {0, 1}}))
  assert(g[1]:equal(ln.tensor({{2, 6}, {4, 8}})), "dx")
  assert(g[2]:equal(ln.tensor({{2, 4}, {0, 2}})), "dw")
  assert(g[3]:equal(ln.tensor({2, 2})), "db")
  assert(g[4]:equal(ln.zeros(3)), "unconnected: zeros")
  raises(function() backward(ln.ones(2, 2)) end, "non-persistent")
end)

test("integer tensors and non-differentiable operations refuse clearly", function()
  local i = ln.tensor({1, 2}, "int32")
  local tape = ln.GradientTape{persistent = true}
  raises(function() tape:watch(i) end, "watch", "int32")
  local x = ln.Variable({1.5, 2.5})
  local y, z, w = tape:run(function() return (x:floor() * x):sum(), (x * 2):sum(), x:argmax() end)
  raises(function() tape:gradient(y, x) end, "floor", "not differentiable")
  near(tape:gradient(z, x)[1], 2, 1e-6)
  raises(function() tape:gradient(z, i) end, "source 1", "int32")
  eq(math.type(w), "integer", "argmax stays an index")
  local t2 = ln.GradientTape()
  local v = t2:run(function() return x:var() + x:sum() end)
  raises(function() t2:gradient(v, x) end, "var", "not differentiable")
end)

test("in-place writes: refused while recording, detected afterwards", function()
  local x = ln.Variable({1, 2})
  local tape = ln.GradientTape{persistent = true}
  raises(function() tape:run(function() x:add_(1) end) end, "add_", "in place", "tracking")
  raises(function() tape:run(function() x[1] = 5 end) end, "in place")
  raises(function() tape:run(function() ln.matmul(x:reshape(1, 2), x:reshape(2, 1), {out = ln.zeros(1, 1)}) end) end,
         "matmul", "out form")
  local y = tape:run(function() return (x * x):sum() end)
  x:mul_(3) -- after recording
  raises(function() tape:gradient(y, x) end, "modified in place", "mul")
  -- untracked tensors may be written while recording
  local buf = ln.zeros(2)
  tape:run(function() buf:add_(1) end)
  assert(buf:equal(ln.ones(2)))
end)

test("apply_gradients takes the tape's pairs: zip, variables, layer variables", function()
  local w = ln.Variable({1, 2})
  local opt = ln.optimizers.SGD{learning_rate = 0.5}
  local tape = ln.GradientTape()
  local y = tape:run(function() return (w * w):sum() end)
  local grads = tape:gradient(y, {w})
  opt:apply_gradients(ln.zip(grads, {w}))
  assert(w:equal(ln.tensor({0, 0})))
  -- {grad, layer variable} pairs (Keras's zip(grads, model.trainable_variables))
  local model = ln.Sequential{ln.layers.Dense{1, input_shape = {2}, kernel_initializer = "ones"}}
  local t2 = ln.GradientTape()
  local l = t2:run(function() return model(ln.ones(1, 2)):sum() end)
  local vars = model.trainable_variables
  ln.optimizers.SGD{learning_rate = 0.25}:apply_gradients(ln.zip(t2:gradient(l, vars), vars))
  assert(model.layers[1].kernel.value:equal(ln.full({2, 1}, 0.75)))
  -- pairs without a gradient are skipped; none at all is an error
  opt:apply_gradients({{nil, w}, {ln.ones(2), w}})
  assert(w:equal(ln.tensor({-0.5, -0.5})))
  raises(function() opt:apply_gradients({{nil, w}}) end, "no gradients provided")
  local lua_opt = ln.optimizers.Optimizer:extend{name = "Plain", update = function(self, var, grad, slots, t, lr)
    var:sub_(grad * lr)
  end}{learning_rate = 1}
  lua_opt:apply_gradients({{ln.ones(2, 1), model.layers[1].kernel}, {nil, w}})
  assert(model.layers[1].kernel.value:equal(ln.full({2, 1}, -0.25)))
end)

test("errors inside run propagate and stop the recording", function()
  local tape = ln.GradientTape()
  local err = raises(function() tape:run(function() error("boom") end) end, "boom")
  assert(err:find("test_autograd.lua", 1, true), "the error keeps the user's position")
  eq(ln.core.autograd.active(), false, "no tape records after the error")
  raises(function() ln.GradientTape{persistant = true} end, "unknown option 'persistant'")
  raises(function() tape:run(5) end, "expects a function")
end)

test("the tape releases what it holds after its gradient", function()
  collectgarbage()
  local before = ln.memory.stats().live_bytes
  do
    local x = ln.Variable(ln.rand(100, 100))
    local tape = ln.GradientTape()
    local y = tape:run(function() return (x:exp() * x):tanh():sum() end)
    local g = tape:gradient(y, x)
    assert(g)
  end
  collectgarbage()
  collectgarbage()
  local after = ln.memory.stats().live_bytes
  assert(after <= before, string.format("live bytes %d after the tape is gone, %d before", after, before))
end)

T.summary()
