-- The Lua half of the Jupyter kernel, in-process: lunet.display with a fake
-- front end (what plots publish, how fit stops on an interrupt, progress
-- bars in a cell), and lunet.jupyter (cells, results, completion,
-- inspection). The kernel itself is tested through jupyter_client in
-- tests/jupyter. Run as `lunet test_jupyter_lua.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

local display = require "lunet.display"
local J = require "lunet.jupyter"

-- A front end that records what is published; interrupted() turns true
-- after `interrupt_after` calls.
local function fake_frontend(interrupt_after)
  local fe = {published = {}, calls = 0, guards = 0, run_seconds = 0.01}
  function fe.publish(bundle, meta) fe.published[#fe.published + 1] = {bundle, meta} end
  function fe.interrupted()
    fe.calls = fe.calls + 1
    return interrupt_after ~= nil and fe.calls > interrupt_after
  end
  function fe.busy()
    fe.guards = fe.guards + 1
    return setmetatable({}, {__close = function() fe.guards = fe.guards - 1 end})
  end
  return fe
end

local function with_frontend(fe, fn)
  display.attach(fe)
  local ok, err = pcall(fn)
  display.attach(nil)
  if not ok then error(err, 0) end
end

test("the `lunet` executable does not load ZeroMQ or OpenSSL (only lunet-kernel does)", function()
  local f = assert(io.open("/proc/self/maps"))
  local maps = f:read("a")
  f:close()
  eq(maps:find("libzmq", 1, true), nil, "libzmq mapped")
  -- HDF5 brings OpenSSL (through libcurl) where it is linked at start-up
  if not maps:find("libhdf5", 1, true) then
    eq(maps:find("libssl", 1, true), nil, "libssl mapped")
    eq(maps:find("libcrypto", 1, true), nil, "libcrypto mapped")
  end
end)

test("without a front end display is inert", function()
  eq(display.active(), false)
  eq(display.publish({["text/plain"] = "x"}), false)
  eq(display.image("/nonexistent.png"), false)
  eq(display.interrupted(), false)
  eq(display.busy(), nil)
  eq(display.run_seconds(), nil)
  eq(display.isatty(1), ln.core.isatty(1))
end)

test("ln.plot shows its PNG inline and still writes the file", function()
  local fe = fake_frontend()
  local dir = T.mktempdir("lunet-display-")
  local file = dir .. "/curve.png"
  with_frontend(fe, function()
    eq(ln.plot.lines{filename = file, series = {{y = {1, 2, 4}}}}, file)
  end)
  eq(#fe.published, 1, "published")
  local png = fe.published[1][1]["image/png"]
  eq(png:sub(1, 8), "\137PNG\r\n\26\n", "PNG signature")
  local f = assert(io.open(file, "rb"))
  eq(f:read("a"), png, "the file and the inline image")
  f:close()
  os.execute("rm -rf '" .. dir .. "'")
  with_frontend(fe, function()
    eq(display.image("notes.txt"), false, "not an image type")
    T.raises(function() display.image(dir .. "/gone.png") end, "display.image")
  end)
end)

-- A small model and data for fit.
local function setup(n)
  ln.random.seed(3)
  local X = ln.randn{n, 8}
  local y = X:narrow(2, 1, 1):reshape{n}:gt(0):float()
  local model = ln.Sequential{ln.layers.Dense{4, activation = "relu", input_shape = {8}},
                              ln.layers.Dense{1, activation = "sigmoid"}}
  model:compile{loss = "binary_crossentropy", optimizer = "sgd", metrics = {"accuracy"}}
  return model, X, y
end

test("an interrupt stops fit at a batch boundary; the model stays usable", function()
  for _, verbose in ipairs({0, 2}) do
    local model, X, y = setup(640)          -- 20 batches of 32 per epoch
    local fe = fake_frontend(3)
    local err
    with_frontend(fe, function()
      err = T.raises(function() model:fit(X, y, {epochs = 50, verbose = verbose}) end,
                     "KeyboardInterrupt: fit stopped in epoch")
      eq(fe.guards, 0, "the busy guard is closed")
    end)
    local e, b = err:match("epoch (%d+)/50 after batch (%d+)/20")
    eq(model.optimizer.iterations, (tonumber(e) - 1) * 20 + tonumber(b), "updates done")
    local h = model:fit(X, y, {epochs = 1, verbose = 0})
    eq(#h.history.loss, 1)
  end
end)

test("with per-batch callbacks fit checks after every batch", function()
  local model, X, y = setup(640)
  local fe = fake_frontend(5)
  local seen = 0
  local cb = ln.callbacks.LambdaCallback{on_train_batch_end = function() seen = seen + 1 end}
  with_frontend(fe, function()
    T.raises(function() model:fit(X, y, {epochs = 5, verbose = 0, callbacks = {cb}}) end,
             "after batch 6/20")
  end)
  eq(seen, 6)
  eq(model.optimizer.iterations, 6)
end)

test("the numbers do not depend on the front end (runs cut for interrupt checks)", function()
  local m1, X, y = setup(640)
  local h1 = m1:fit(X, y, {epochs = 2, verbose = 0})
  local m2 = setup(640)
  local h2
  with_frontend(fake_frontend(), function() h2 = m2:fit(X, y, {epochs = 2, verbose = 0}) end)
  eq(h1.history.loss[2], h2.history.loss[2], "loss")
  eq(h1.history.accuracy[2], h2.history.accuracy[2], "accuracy")
end)

test("in a notebook the progress bar is redrawn in place", function()
  with_frontend(fake_frontend(), function()
    eq(display.isatty(1), true)
    eq(require("lunet.engine").verbose_mode(1), 1)
  end)
end)

test("cells: results, statements, trailing ';', locals that live on", function()
  local function result(code)
    local r = J.execute(code, 1)
    eq(r.status, "ok", code .. ": " .. tostring(r.evalue))
    return r.data and r.data["text/plain"]
  end
  eq(result("1 + 1"), "2")
  eq(result("jl_a = 1"), nil)
  eq(result("ln.zeros{2};"), nil)
  eq(result("local jl_b = 4\njl_b * 2"), "8")
  eq(jl_b, 4, "a cell's local becomes a global")
  eq(result("local s = 'x'\nreturn s, #s"), "x\t1")
  eq(result("f_multi = function()\n  return 1\nend\nf_multi(\n)"), "1")
  eq(result("local t = {}\n(type)('paren')"), nil)   -- not split at the "("
  local r = J.execute("x = = 1", 7)
  eq(r.status, "error")
  eq(r.ename, "SyntaxError")
  r = J.execute("local function g() error('deep') end\ng()", 8)
  eq(r.ename, "LuaError")
  eq(r.evalue, "In[8]:1: deep")
  eq(table.concat(r.traceback, "\n"):find("In[8]:2: in main chunk", 1, true) ~= nil, true,
     "the cell's frame is in the traceback")
end)

test("values are shown as Lua and Python users read them", function()
  eq(J.repr(0.1 + 0.2), "0.30000000000000004")
  eq(J.repr(2.0), "2.0")
  eq(J.repr(1e300 * 1e10), "inf")
  eq(J.repr({1, "a", {b = true}}), '{1, "a", {b = true}}')
  eq(J.repr("top", 0, true), "top")
  eq(J.repr({["key with space"] = 1}), '{["key with space"] = 1}')
end)

test("is_complete", function()
  eq(J.is_complete("x = 1"), "complete")
  local s, indent = J.is_complete("  if x then")
  eq(s, "incomplete")
  eq(indent, "    ")
  eq(J.is_complete("x = = 1"), "invalid")
  eq(J.is_complete(""), "complete")
end)

test("completion: ln names, unit classes, tensor and model methods, locals", function()
  local function has(code, name)
    local m = J.complete(code, #code)
    for _, v in ipairs(m) do if v == name then return true end end
    return false
  end
  eq(has("ln.opt", "optimizers"), true)
  eq(has("ln.layers.Batch", "BatchNormalization"), true)
  eq(has("ln.activations.re", "relu"), true)
  jl_t = ln.zeros{2}
  eq(has("jl_t:resh", "reshape"), true)
  eq(has("jl_t:", "shape"), true)
  jl_m = setup(32)
  eq(has("jl_m:comp", "compile"), true)
  eq(has("jl_m.lay", "layers"), true)
  eq(has("jl_m:lay", "layers"), false, "':' lists only methods")
  eq(has("local abc_def = 1\nabc", "abc_def"), true)
  eq(has("for idx_name = 1, 2 do print(idx_", "idx_name"), true)
  eq(#J.complete("x = f().", 7), 0, "no guess after a call")
  local m, from, to = J.complete("ln.la", 5)
  eq(from, 3)
  eq(to, 5)
  eq(m[1], "layers")
end)

test("inspection: a unit's summary and keyword arguments with defaults", function()
  local t = J.inspect("ln.layers.Dense", 15, 0)
  eq(t:find("units  (required)", 1, true) ~= nil, true, t)
  eq(t:find('use_bias = true', 1, true) ~= nil, true, t)
  t = J.inspect("ln.optimizers.Adam{lr", 21, 0)   -- inside the call: its callee
  eq(t:find("beta_1 = 0.9", 1, true) ~= nil, true, t)
  t = J.inspect("ln.schedules.ExponentialDecay", 29, 0)
  eq(t:find("initial_learning_rate  (required)", 1, true) ~= nil, true, t)
  eq(J.inspect("ln.plot", 7, 0):find("matplotlib", 1, true) ~= nil, true)
  t = J.inspect("ln.plot.history", 15, 0)
  eq(t:find("Plots a Keras-like training history", 1, true) ~= nil, true, t)
  eq(t:find("function plot.history(", 1, true), nil, "the source only at level 1")
  t = J.inspect("ln.plot.history", 15, 1)
  eq(t:find("function plot.history(", 1, true) ~= nil, true, t)
  eq(J.inspect("nothing_here", 5, 0), nil)
end)

T.summary("jupyter (Lua)")
