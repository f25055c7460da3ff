-- The Wide & Deep examples in a child `lunet`:
-- scripts/examples/wide_and_deep_tabular.lua (the book's three steps on the
-- diabetes data of data/diabetes/: one input, two inputs, an auxiliary
-- output with loss_weights 0.9/0.1; fit with EarlyStopping and
-- ModelCheckpoint, save, reload, the same predictions) and
-- scripts/examples/wide_and_deep.lua (two inputs, two outputs, a residual
-- Add, on the repo's Fashion-MNIST sample, one epoch).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")

local root, lunet = T.root_and_lunet()
local out = T.mktempdir("lunet_wide_deep_")

local function run(script, args)
  local cmd = string.format("cd '%s' && timeout -s KILL 1200 '%s' %s %s 2>&1", root, lunet,
                            script, args)
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("exit %s: %s", tostring(code), text)) end
  return text
end

T.test("Wide & Deep on tabular data: one input, two inputs, an auxiliary output", function()
  local text = run("scripts/examples/wide_and_deep_tabular.lua", "200 '" .. out .. "'")
  local line = text:match("RESULT wide_and_deep_tabular [^\n]*")
  assert(line, "no RESULT line in:\n" .. text)
  assert(line:find("same_after_reload=true", 1, true), line)
  local base = tonumber(line:match("baseline_mae=([%d.]+)"))
  for _, k in ipairs({"one_input", "two_inputs", "aux_output"}) do
    local m = tonumber(line:match(k .. "_mae=([%d.]+)"))
    -- every step learns: its test error well below the training mean's
    assert(m and m < 0.8 * base, k .. ": " .. line)
  end
  assert(text:find("wide_input (InputLayer)", 1, true), "the two-input summary")
  assert(text:find("aux_output model on the test set: loss", 1, true), text)
  local f = io.open(out .. "/aux_output_best.h5", "rb")
  assert(f, "ModelCheckpoint wrote the best model"):close()
end)

T.test("Wide & Deep on Fashion-MNIST: two inputs, two outputs, one epoch", function()
  local text = run("scripts/examples/wide_and_deep.lua", "1 '' '" .. out .. "'")
  local line = text:match("RESULT wide_and_deep [^\n]*")
  assert(line, "no RESULT line in:\n" .. text)
  assert(line:find("same_after_reload=true", 1, true), line)
  assert(tonumber(line:match("test_accuracy=([%d.]+)")) > 0.5, line)
end)

T.summary("wide and deep examples")
