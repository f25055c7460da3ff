-- Checks lunet's spatial layers against PyTorch references written by
-- tests/tools/gen_conv_refs.py (cases.json + refs.h5 in one folder): for
-- every case the layer is built from its Keras config, given the stored
-- weights, run forward (training mode) on x and backward with dy; y, dx and
-- every weight gradient must match PyTorch's within 1e-5 of the largest
-- reference magnitude of that array (float32 against float64 references).
-- Used by test_conv_torch.lua (the committed references) and
-- test_conv_torch_live.lua (fresh ones, when PyTorch is installed).
local ln = require "lunet"
local h5 = require "lunet.h5"

local M = {}

M.TOL = 1e-5

local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- max |a - b| / max |b| (0 when b is all zeros and a equals it)
local function rel_err(a, b, what)
  local sa, sb = a:shape(), b:shape()
  assert(#sa == #sb, what .. ": rank " .. #sa .. " vs " .. #sb)
  for i = 1, #sa do
    assert(sa[i] == sb[i], string.format("%s: shape (%s) vs (%s)", what,
           table.concat(sa, ", "), table.concat(sb, ", ")))
  end
  local d = (a - b):abs():max()
  local m = b:abs():max()
  d = type(d) == "number" and d or d:item()
  m = type(m) == "number" and m or m:item()
  return d / (m > 0 and m or 1), d, m
end

local function check(got, want, tol, what)
  local r, d, m = rel_err(got, want, what)
  if not (r <= tol) then
    error(string.format("%s: max |diff| %.3g, max |ref| %.3g (relative %.3g > %g)",
                        what, d, m, r, tol), 0)
  end
  return r
end

--- Runs every case of dir through test(name, fn); returns the worst error.
function M.run(T, dir, opts)
  opts = opts or {}
  local cases = h5.json_decode(slurp(dir .. "/cases.json"), "cases.json")
  local h5 = dir .. "/refs.h5"
  local worst = 0
  for _, c in ipairs(cases) do
    T.test(c.name .. " (" .. c.class_name .. ") against PyTorch", function()
      local function get(k) return ln.io.read_h5(h5, "/" .. c.name .. "/" .. k) end
      local x = get("x")
      local cfg = {}
      for k, v in pairs(c.config) do cfg[k] = v end
      local layer = ln.layers[c.class_name](cfg)
      local shape = x:shape()
      table.remove(shape, 1)
      layer:build(shape)
      local ws = {}
      for i = 1, #c.weights do ws[i] = get("w" .. (i - 1)) end
      layer:set_weights(ws)
      local y = layer:forward(x, {training = true})
      worst = math.max(worst, check(y, get("y"), M.TOL, "y"))
      local dx = layer:backward(get("dy"))
      worst = math.max(worst, check(dx, get("dx"), M.TOL, "dx"))
      local vars = layer.trainable_variables
      assert(#vars == (c.trainable or #c.weights), "trainable weights: " .. #vars)
      for i, v in ipairs(vars) do
        worst = math.max(worst, check(v.grad, get("g" .. (i - 1)), M.TOL, v.name))
      end
    end)
  end
  return worst, #cases
end

return M
