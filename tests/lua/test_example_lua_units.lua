-- The chapter-12 examples of units written in Lua (scripts/examples/) in
-- smoke mode (LUNET_SMOKE=1: one epoch on the repo's Fashion-MNIST sample)
-- in a child `lunet`: each trains with fit, saves, loads back with
-- custom_objects (same classes, same weights) and prints its RESULT line.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test

local root, lunet = T.root_and_lunet()

local function run(script)
  local cmd = string.format("cd '%s' && env LUNET_SMOKE=1 LUNET_SEED=42 timeout -s KILL 1200 " ..
                            "'%s' scripts/examples/%s.lua 2>&1", root, lunet, script)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("%s: exit %s: %s", script, tostring(code), out), 2) end
  local line = out:match("RESULT " .. script .. " [^\n]*")
  assert(line, "no RESULT line in:\n" .. out)
  return line, out
end

local function value(line, key) return tonumber(line:match(key .. "=([%d.]+)")) end

test("huber_loss: a Loss:extend loss and a Metric:extend metric, in history", function()
  local line, out = run("huber_loss")
  assert(out:find("val_huber_metric:", 1, true), out)
  assert(value(line, "test_accuracy") > 0.3, line)
  T.near(value(line, "huber_metric"), value(line, "loss"), 1e-3, "the metric is the loss")
end)

test("my_dense: MyDense with Lua activation, initializer, regularizer, constraint", function()
  local line, out = run("my_dense")
  assert(out:find("(MyDense)", 1, true), out)
  assert(value(line, "test_accuracy") > 0.3, line)
end)

test("mc_dropout: a Dropout subclass stays stochastic at inference", function()
  local line = run("mc_dropout")
  assert(line:find("passes_differ=true", 1, true), line)
  assert(value(line, "mc20_accuracy") > 0.3, line)
end)

test("residual_block: a Lua layer holding Dense layers", function()
  local line = run("residual_block")
  T.eq(value(line, "block_params"), 2 * (100 * 100 + 100), "the block's parameters")
  assert(value(line, "test_accuracy") > 0.3, line)
end)

test("reconstruction_loss: add_loss and add_metric", function()
  local line, out = run("reconstruction_loss")
  assert(out:find("reconstruction_error:", 1, true), out)
  assert(value(line, "reconstruction_error") > 0, line)
  assert(value(line, "test_accuracy") > 0.3, line)
end)

T.summary("lua unit examples")
