--[[ hostile_rows.lua -- table-driven hostile cases on top of testlib.lua, so
that each case is one line of a test file (test_hostile_*.lua):

  local R = dofile(here .. "/hostile_rows.lua")
  R.run(T, "narrow", {
    {"length maxinteger", function() return t:narrow(1, 2, maxint) end,
     R.err("narrow: start 2, length 9223372036854775807 out of range")},
    {"last row", function() return t:narrow(1, -1, 1):numel() end, R.eq(4)},
  })

Expectations (every case asserts its exact outcome, never "did not crash"):
  R.err(piece, ...)   raises; the message holds every piece (plain text)
                      and is not a Lua runtime error from inside lunet
                      ("attempt to ...")
  R.eq(v)             returns v (the first result, compared with ==)
  R.ok(pred, what)    pred(first result) is true; what names the property
Each case is one T.test named "group: case". HOSTILE_ROW=k runs only the
k-th case of a file. ]]
local R = {}

function R.err(...) return {err = {...}} end
function R.eq(v) return {eq = v, is_eq = true} end
function R.ok(pred, what) return {pred = pred, what = what} end

local function check(name, fn, want)
  local res = table.pack(pcall(fn))
  if want.err then
    if res[1] then error(name .. ": no error raised", 0) end
    local msg = tostring(res[2])
    for _, piece in ipairs(want.err) do
      if not msg:find(piece, 1, true) then
        error(string.format("%s: error %q lacks %q", name, msg, piece), 0)
      end
    end
    if msg:find("attempt to ", 1, true) then
      error(string.format("%s: %q is a Lua runtime error, not a message", name, msg), 0)
    end
    return
  end
  if not res[1] then error(name .. ": unexpected error: " .. tostring(res[2]), 0) end
  if want.is_eq then
    if res[2] ~= want.eq then
      error(string.format("%s: want %s, got %s", name, tostring(want.eq), tostring(res[2])), 0)
    end
  elseif not want.pred(res[2]) then
    error(string.format("%s: %s does not hold (got %s)", name, want.what, tostring(res[2])), 0)
  end
end

-- Run every row of `rows` as one test of T. With HOSTILE_ROW=k in the
-- environment only the k-th case of the file runs (numbered across the
-- R.run calls): a case that crashes the process can be run on its own.
local only, seen = tonumber(os.getenv("HOSTILE_ROW") or ""), 0
function R.run(T, group, rows)
  for _, row in ipairs(rows) do
    seen = seen + 1
    local name = group .. ": " .. row[1]
    if not only or only == seen then
      T.test(name, function() check(name, row[2], row[3]) end)
    end
  end
end

-- The `lunet` running this test (arg[-1]), else the build tree's: for
-- child processes.
function R.lunet()
  local exe = arg and arg[-1]
  if exe and exe:find("lunet", 1, true) then return exe end
  return (os.getenv("LUNET_BUILD_DIR") or "build") .. "/bin/lunet"
end

-- The shape of a tensor as "3x4" (for R.eq).
function R.shape(t) return table.concat(t:shape(), "x") end

return R
