-- Crash safety (issues 11 and 14): training that replaces one checkpoint
-- after every epoch (ModelCheckpoint, whole model with the optimizer's
-- state) is killed with SIGKILL in the middle of a save, at NAMED points of
-- the writer (LUNET_FAULT=<point>:<n>, see core/atomic_write.h) -- not
-- after a measured delay, so every trial really dies mid-write whatever
-- the machine's speed. After each kill the checkpoint on disk must be a
-- whole one (the previous epoch's, or the new one once renamed), load, and
-- resuming from it must end with weights bitwise equal to an uninterrupted
-- run's. The training script is data/crash_train.lua (deterministic:
-- fixed seeds, no shuffling, Adam).
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

local EPOCHS = 5
local STEPS = 4096 // 32 -- optimizer steps per epoch (crash_train.lua)

local function mkdir(name)
  local d = H.tmp(name)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

local function script(mode, dir)
  local path = H.tmp(mode .. "_" .. dir:match("[^/]+$") .. ".lua")
  H.write(path, string.format("arg = {%q, %q, %q}\n", mode, dir, tostring(EPOCHS)) ..
                H.read("data/crash_train.lua"))
  return path
end

-- Run the training in `dir` with LUNET_FAULT=fault (nil: none); returns the
-- exit code as the shell saw it (128 + 9 when SIGKILL ended it) and output.
local function train(dir, fault, mode)
  local cmd = string.format("%s%s %s 2>&1; echo \"=rc=$?\"",
                            fault and ("LUNET_FAULT=" .. fault .. " ") or "",
                            H.quote(H.lunet()), H.quote(script(mode or "train", dir)))
  local p = assert(io.popen("sh -c " .. H.quote(cmd)))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("=rc=(%d+)%s*$")), out:gsub("=rc=%d+%s*$", "")
end

local function temporaries(dir)
  local n = 0
  for _, name in ipairs(H.listdir(dir)) do
    if name:match("^%.ckpt%.h5%.") then n = n + 1 end
  end
  return n
end

-- The uninterrupted run: the reference weights.
local ref_dir = mkdir("reference")
local rc, out = train(ref_dir)
local reference = H.read(ref_dir .. "/final.bin")

test("the uninterrupted run finishes and leaves its checkpoint", function()
  H.eq(rc, 0, "exit code (output: " .. out .. ")")
  H.check(reference and #reference > 0, "no final weights")
  H.eq(ln.models.load_model(ref_dir .. "/ckpt.h5").optimizer.iterations, EPOCHS * STEPS,
       "the last checkpoint's iterations")
  H.eq(temporaries(ref_dir), 0, "temporary files left")
end)

-- Each trial: the point, the save it hits (n-th), the epoch the checkpoint
-- on disk must then hold, and whether the killed save left its temporary
-- file (it did unless the rename happened).
local trials = {
  {"mid-data", 1, 0, true},        -- the first save: no checkpoint yet
  {"mid-data", 3, 2, true},
  {"tmp-written", 2, 1, true},
  {"tmp-written", 4, 3, true},
  {"before-rename", 3, 2, true},
  {"before-rename", 5, 4, true},
  {"after-rename", 2, 2, false},  -- renamed: the new checkpoint is whole
  {"after-rename", 4, 4, false},
}

local killed = 0
for i, t in ipairs(trials) do
  local point, nth, epoch, left = t[1], t[2], t[3], t[4]
  test(string.format("SIGKILL at %s of save %d: checkpoint of epoch %d, resumed bitwise",
                     point, nth, epoch), function()
    local dir = mkdir("killed_" .. i)
    local code, output = train(dir, point .. ":" .. nth)
    H.eq(code, 128 + 9, "the training must die by SIGKILL mid-write (output: " .. output .. ")")
    killed = killed + 1
    H.eq(temporaries(dir), left and 1 or 0, "temporary files after the kill")
    local path = dir .. "/ckpt.h5"
    if epoch == 0 then
      H.check(H.read(path) == nil, "a checkpoint exists although the first save was killed")
    else
      local ok, m = pcall(ln.models.load_model, path)
      H.check(ok, "the checkpoint does not load after the kill: %s", tostring(m))
      H.eq(m.optimizer.iterations, epoch * STEPS, "the checkpoint's iterations")
    end
    local rc2, out2 = train(dir, nil, "resume")
    H.eq(rc2, 0, "resume exit code (output: " .. out2 .. ")")
    H.check(out2:find("resumed from epoch " .. epoch, 1, true), "resumed from: %s", out2)
    local final = H.read(dir .. "/final.bin")
    H.check(final ~= nil, "the resumed run wrote no weights: %s", out2)
    H.check(final == reference, "weights after resuming differ from the uninterrupted run's")
  end)
end

test("every trial was killed mid-write", function()
  H.eq(killed, #trials, "trials killed by SIGKILL")
end)

H.finish()
