-- scripts/examples/tape_training_loop.lua in smoke mode (LUNET_SMOKE=1: one
-- epoch on the repo's Fashion-MNIST sample) in a child `lunet`: it trains
-- (loss falls, accuracy well above chance), prints Keras-style progress
-- and its RESULT line, and gives the same numbers with 1 and 2 threads,
-- and with its steps inside ln.autograd.team_run (--team).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test = T.test

local root, lunet = T.root_and_lunet()

local function run(args)
  local cmd = string.format("cd '%s' && env LUNET_SMOKE=1 LUNET_SEED=42 timeout -s KILL 300 " ..
                            "'%s' scripts/examples/tape_training_loop.lua %s 2>&1",
                            root, lunet, args)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("exit %s: %s", tostring(code), out), 2) end
  return out
end

local function result(out)
  local line = out:match("RESULT tape_loop [^\n]*")
  assert(line, "no RESULT line in:\n" .. out)
  return line, tonumber(line:match("test_accuracy=([%d.]+)"))
end

test("the book's loop with random batches trains and reports", function()
  local out = run("")
  assert(out:find("Epoch 1/1", 1, true), "progress header missing:\n" .. out)
  assert(out:find("loss:", 1, true) and out:find("accuracy:", 1, true), "progress bar:\n" .. out)
  assert(out:find("val_accuracy:", 1, true), "validation line:\n" .. out)
  local _, acc = result(out)
  assert(acc > 0.3, "test accuracy " .. acc .. " after an epoch on the sample")
end)

test("fit's batches, 1 and 2 threads: the same numbers", function()
  local one = result(run("--batches epoch --threads 1 --quiet"))
  local two = result(run("--batches epoch --threads 2 --quiet"))
  local strip = function(s) return (s:gsub(" train_seconds=%S+ samples_per_s=%S+ threads=%d+", "")) end
  T.eq(strip(two), strip(one), "RESULT with 2 threads")
  local team = result(run("--batches epoch --threads 2 --team --quiet"))
  T.eq(strip(team), strip(one), "RESULT with 2 threads in team_run")
end)

test("bad options are refused", function()
  local cmd = string.format("cd '%s' && env LUNET_SMOKE=1 '%s' scripts/examples/tape_training_loop.lua " ..
                            "--batches sometimes 2>&1", root, lunet)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  assert(not p:close(), "the script accepted --batches sometimes")
  assert(out:find("--batches", 1, true), out)
end)

T.summary()
