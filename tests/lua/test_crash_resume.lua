-- Crash safety (issue 11): training that saves a checkpoint every epoch
-- (ModelCheckpoint, whole model with the optimizer's state) is killed with
-- SIGKILL at a random moment, possibly in the middle of a save. Every
-- checkpoint left on disk must load; resuming from the newest one with
-- initial_epoch must end with weights bitwise equal to an uninterrupted
-- run's. The training script is data/crash_train.lua (deterministic:
-- fixed seeds, no shuffling, Adam). Three kills at random times; the
-- delays are printed, so a failure can be replayed with CRASH_DELAYS.
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

local EPOCHS = 12

if not (ln.models and ln.models.load_model and ln.callbacks and ln.callbacks.ModelCheckpoint) then
  print("SKIP: the model API (load_model, ModelCheckpoint) is not there yet")
  print("0 passed, 0 failed")
  return
end

local function run(mode, dir)
  return H.child(string.format("arg = {%q, %q, %q}\n", mode, dir, tostring(EPOCHS)) ..
                 H.read("data/crash_train.lua"))
end

local function mkdir(name)
  local d = H.tmp(name)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

-- Start the training in the background and kill it with SIGKILL after
-- `delay` seconds. Returns the shell's report ("killed" or "finished").
local function train_and_kill(dir, delay)
  local script = H.tmp("train_" .. dir:match("[^/]+$") .. ".lua")
  H.write(script, string.format("arg = {%q, %q, %q}\n", "train", dir, tostring(EPOCHS)) ..
                  H.read("data/crash_train.lua"))
  local cmd = string.format(
    "%s %s >/dev/null 2>&1 & pid=$!; sleep %.3f; " ..
    "if kill -9 $pid 2>/dev/null; then echo killed; else echo finished; fi; wait $pid 2>/dev/null",
    H.quote(H.lunet()), H.quote(script), delay)
  local p = assert(io.popen("sh -c " .. H.quote(cmd)))
  local out = p:read("a")
  p:close()
  return out:match("killed") or "finished"
end

local function checkpoints(dir)
  local list = {}
  for _, name in ipairs(H.listdir(dir)) do
    if name:match("^ckpt%-%d+%.h5$") then list[#list + 1] = dir .. "/" .. name end
  end
  return list
end

-- The uninterrupted run: the reference weights, and how long it takes.
local ref_dir = mkdir("reference")
local t0 = ln.time()
local rc, out = run("train", ref_dir)
local full_time = ln.time() - t0
local reference = H.read(ref_dir .. "/final.bin")

test("the uninterrupted run finishes and leaves every checkpoint", function()
  H.eq(rc, 0, "exit code (output: " .. out .. ")")
  H.check(reference and #reference > 0, "no final weights")
  H.eq(#checkpoints(ref_dir), EPOCHS, "checkpoints")
end)

-- Kill times: random fractions of the full run (CRASH_DELAYS="0.3,1.2"
-- replays given delays in seconds).
local delays = {}
if os.getenv("CRASH_DELAYS") then
  for v in os.getenv("CRASH_DELAYS"):gmatch("[^,]+") do delays[#delays + 1] = tonumber(v) end
else
  math.randomseed(os.time())
  for i = 1, 3 do
    -- spread over the run: early, middle, late thirds
    delays[i] = full_time * (0.1 + 0.28 * (i - 1) + 0.25 * math.random())
  end
end

for i, delay in ipairs(delays) do
  test(string.format("killed at %.3f s (of %.3f s), resumed: bitwise equal weights", delay, full_time),
       function()
    local dir = mkdir("killed_" .. i)
    local how = train_and_kill(dir, delay)
    print(string.format("trial %d: SIGKILL after %.3f s: %s, %d checkpoint(s) on disk",
                        i, delay, how, #checkpoints(dir)))
    -- every checkpoint that exists is whole and loads
    for _, p in ipairs(checkpoints(dir)) do
      local ok, err = pcall(ln.models.load_model, p)
      H.check(ok, "checkpoint %s does not load after the kill: %s", p, tostring(err))
    end
    os.remove(dir .. "/final.bin")
    local rc2, out2 = run("resume", dir)
    H.eq(rc2, 0, "resume exit code (output: " .. out2 .. ")")
    print("  " .. (out2:match("resumed from epoch %d+") or "?"))
    local final = H.read(dir .. "/final.bin")
    H.check(final ~= nil, "the resumed run wrote no weights: %s", out2)
    H.check(final == reference, "weights after resuming differ from the uninterrupted run's " ..
            "(replay with CRASH_DELAYS=%.3f)", delay)
  end)
end

H.finish()
