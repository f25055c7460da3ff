-- The spatial layers against PyTorch itself, on fresh random values: runs
-- tests/tools/gen_conv_refs.py with another seed into a temporary folder
-- and checks lunet against those references (conv_refs.lua). Needs
-- /usr/bin/python3 with torch, numpy and h5py; without them the test
-- reports SKIPPED (exit code 77, CTest's SKIP_RETURN_CODE).
-- Run as `lunet test_conv_torch_live.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local refs = dofile(here .. "/conv_refs.lua")

local PY = os.getenv("LUNET_PYTHON") or "/usr/bin/python3"
local src = os.getenv("LUNET_SOURCE_DIR") or (here .. "/../..")

local function quiet(cmd)
  return os.execute(cmd .. " >/dev/null 2>&1")
end

if not quiet(PY .. " -c 'import torch, numpy, h5py'") then
  io.stderr:write("SKIP: PyTorch (python3-torch), numpy or h5py is not installed\n")
  os.exit(77)
end

local dir = T.mktempdir("lunet_torch_live_")
local seed = tonumber(os.getenv("LUNET_TORCH_SEED") or "") or os.time() % 100000
assert(quiet(string.format("%s '%s/tests/tools/gen_conv_refs.py' '%s' --seed %d", PY, src,
                           dir, seed)), "gen_conv_refs.py failed")
local worst, n = refs.run(T, dir)
print(string.format("seed %d: %d cases, worst relative error %.3g (tolerance %g)", seed, n,
                    worst, refs.TOL))
os.execute("rm -rf '" .. dir .. "'")
T.summary("live PyTorch")
