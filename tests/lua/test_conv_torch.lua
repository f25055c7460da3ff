-- The spatial layers against the committed PyTorch references
-- (tests/data/conv_refs, written by tests/tools/gen_conv_refs.py; see
-- conv_refs.lua for what is compared and the tolerance).
-- Run as `lunet test_conv_torch.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local refs = dofile(here .. "/conv_refs.lua")

local src = os.getenv("LUNET_SOURCE_DIR") or (here .. "/../..")
local worst, n = refs.run(T, src .. "/tests/data/conv_refs")
print(string.format("%d cases, worst relative error %.3g (tolerance %g)", n, worst, refs.TOL))
T.summary("PyTorch reference")
