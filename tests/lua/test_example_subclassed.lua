-- scripts/examples/residual_regressor.lua in smoke mode (LUNET_SMOKE=1: one
-- epoch on the repo's Fashion-MNIST sample) in a child `lunet`: the book's
-- subclassed ResidualRegressor trains with fit, save is refused as in
-- Keras, save_weights/load_weights give a new instance the same bits.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")

local root, lunet = T.root_and_lunet()
local out = T.mktempdir("lunet_residual_regressor_")

T.test("residual_regressor: ln.Model:extend trained by fit, weights saved and reloaded", function()
  local cmd = string.format("cd '%s' && env LUNET_SMOKE=1 LUNET_SEED=42 timeout -s KILL 1200 " ..
                            "'%s' scripts/examples/residual_regressor.lua '%s' 2>&1", root, lunet,
                            out)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("exit %s: %s", tostring(code), text)) end
  local line = text:match("RESULT residual_regressor [^\n]*")
  assert(line, "no RESULT line in:\n" .. text)
  assert(line:find("save_refused=true", 1, true) and line:find("same_after_reload=true", 1, true),
         line)
  -- 784*30+30, two blocks of 2 x (30*30+30), 30*10+10: the list-held Dense layers count
  T.eq(tonumber(line:match("params=(%d+)")), 23550 + 2 * 1860 + 310, "parameters")
  assert(text:find("multiple", 1, true), "summary's output shapes")
  assert(text:find("Saving the model to HDF5 format requires", 1, true), text)
  assert(tonumber(line:match("test_accuracy=([%d.]+)")) > 0.3, line)
end)

T.summary("residual_regressor example")
