-- scripts/examples/siamese.lua in smoke mode (LUNET_SMOKE=1: one epoch on
-- the repo's Fashion-MNIST sample) in a child `lunet`: a functional model
-- with shared layers and a distance layer written in Lua trains with fit,
-- saves, reloads with custom_objects and predicts the same bits.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")

local root, lunet = T.root_and_lunet()
local out = T.mktempdir("lunet_siamese_")

T.test("siamese: shared encoder, Lua L1Distance, Dot head; fit, save, reload", function()
  local cmd = string.format("cd '%s' && env LUNET_SMOKE=1 LUNET_SEED=42 timeout -s KILL 1200 " ..
                            "'%s' scripts/examples/siamese.lua '%s' 2>&1", root, lunet, out)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("exit %s: %s", tostring(code), text)) end
  local line = text:match("RESULT siamese [^\n]*")
  assert(line, "no RESULT line in:\n" .. text)
  assert(line:find("same_after_reload=true", 1, true), line)
  -- the two branches share the encoder: 3 Dense layers in the model, not 5
  T.eq(tonumber(line:match("dense_layers=(%d+)")), 3, "shared layers listed once")
  assert(text:find("l1_distance (L1Distance)", 1, true), "the Lua layer in the summary")
  assert(text:find("val_same_class_accuracy:", 1, true), text)
  -- better than chance on pairs that are half positive
  assert(tonumber(line:match("test_accuracy=([%d.]+)")) > 0.55, line)
end)

T.summary("siamese example")
