--[[ hostile.lua -- helpers of the hostile-input tests (test_hostile*.lua,
test_crash_resume.lua): a test runner, error matchers, a scratch folder and
child `lunet` processes.

  local H = dofile("data/hostile.lua")
  H.test("name", function() ... end)
  H.raises(fn, "piece", ...)      -- fn must raise; the message holds every piece
  H.tmp("file.h5")                -- a path in a fresh scratch folder
  H.child(code, {ulimit = "ulimit -f 40", args = {...}})
                                  -- run code (a string) in a new `lunet`
                                  -- process: returns exit code, output
  H.skip("reason")                -- inside a test: it counts as skipped (return after it)
  H.finish()                      -- prints "N passed, M failed", raises on failures;
                                  -- exits 77 (CTest: skipped) when a test skipped
]]
local H = {}

local passed, failed, skipped = 0, 0, 0
local only = os.getenv("HOSTILE_ONLY") -- run only tests whose name holds it
local this_skipped = false

function H.test(name, fn)
  if only and not name:find(only, 1, true) then return end
  this_skipped = false
  local ok, err = xpcall(fn, debug.traceback)
  if ok and this_skipped then
    skipped = skipped + 1
  elseif ok then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  end
end

-- The error fn raises; fails when it does not raise.
function H.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("no error raised", 3) end
  return tostring(err)
end

function H.raises(fn, ...)
  local ok, err = pcall(fn)
  if ok then error("no error raised", 2) end
  err = tostring(err)
  for _, piece in ipairs({...}) do
    if not err:find(piece, 1, true) then
      error(string.format("error %q lacks %q", err, piece), 2)
    end
  end
  -- a clean message: no Lua runtime error from inside lunet
  if err:find("attempt to ", 1, true) then
    error(string.format("error %q is a Lua runtime error, not a message", err), 2)
  end
  return err
end

function H.check(cond, fmt, ...)
  if not cond then error(string.format(fmt or "check failed", ...), 2) end
end

function H.eq(got, want, what)
  if got ~= want then
    error(string.format("%s: want %s, got %s", what or "mismatch", tostring(want),
                        tostring(got)), 2)
  end
end

-- ---- files ---------------------------------------------------------------------------

local scratch
function H.tmp(name)
  if not scratch then
    scratch = os.tmpname()
    os.remove(scratch)
    assert(os.execute("mkdir -p '" .. scratch .. "'"))
  end
  return name and (scratch .. "/" .. name) or scratch
end

function H.write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Names in a folder (for "no temporary file left behind").
function H.listdir(dir)
  local p = assert(io.popen("ls -A '" .. dir .. "' 2>/dev/null"))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

function H.cleanup()
  if scratch then os.execute("chmod -R u+rwx '" .. scratch .. "' 2>/dev/null; rm -rf '" .. scratch .. "'") end
end

-- ---- child processes ----------------------------------------------------------------

-- The `lunet` running this test (arg[-1], as lua.c sets it), else the build
-- tree's.
function H.lunet()
  local exe = arg and arg[-1]
  if exe and exe:find("lunet", 1, true) then return exe end
  local build = os.getenv("LUNET_BUILD_DIR")
  return build and (build .. "/bin/lunet") or "lunet"
end

-- Running under AddressSanitizer (scripts/sanitize.sh): `ulimit -v` cannot
-- be used (ASan reserves terabytes of address space).
function H.asan() return os.getenv("ASAN_OPTIONS") ~= nil end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
H.quote = shell_quote

local nchild = 0
-- Run `code` in a new lunet process (cwd unchanged). opts.ulimit: shell
-- commands before it (resource limits); opts.args: script arguments.
-- Returns the exit code and the combined output.
function H.child(code, opts)
  opts = opts or {}
  nchild = nchild + 1
  local script = H.tmp("child_" .. nchild .. ".lua")
  H.write(script, code)
  local args = {}
  for i, a in ipairs(opts.args or {}) do args[i] = shell_quote(a) end
  local cmd = string.format("%s exec %s %s %s 2>&1", opts.ulimit and (opts.ulimit .. ";") or "",
                            shell_quote(H.lunet()), shell_quote(script), table.concat(args, " "))
  local p = assert(io.popen("sh -c " .. shell_quote(cmd) .. "; echo \"=rc=$?\""))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("=rc=(%d+)%s*$"))
  return rc, (out:gsub("=rc=%d+%s*$", ""))
end

-- Inside a test: it counts as skipped, and reason goes to stderr.
function H.skip(reason)
  io.stderr:write("SKIP: ", reason, "\n")
  this_skipped = true
end

function H.finish()
  H.cleanup()
  print(string.format("%d passed, %d failed%s", passed, failed,
                      skipped > 0 and string.format(", %d skipped", skipped) or ""))
  if failed > 0 then error(failed .. " test(s) failed", 0) end
  if skipped > 0 then
    io.stdout:flush()
    os.exit(77, true) -- CTest's SKIP_RETURN_CODE: never counted as a pass
  end
end

return H
