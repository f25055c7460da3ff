-- The shared harness of the Lua tests: test/skip/eq/near/raises/summary.
-- Pure Lua (no lunet), so tests run under stock lua5.4 can use it too.
-- Load it relative to the test script, which may run from any directory:
--   local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
--   local T = dofile(here .. "/testlib.lua")
local T = {passed = 0, failed = 0, skipped = 0}

local running = false          -- inside T.test
local current_skipped = false  -- T.skip was called inside the running test

-- Run fn as one test; a raised error is a failure, reported on stderr.
function T.test(name, fn)
  running, current_skipped = true, false
  local ok, err = pcall(fn)
  running = false
  if not ok then
    T.failed = T.failed + 1
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  elseif current_skipped then
    T.skipped = T.skipped + 1
  else
    T.passed = T.passed + 1
  end
end

-- Inside a test: the test counts as skipped (return from it after this).
-- Outside: count n (default 1) skipped tests. reason, if any, goes to
-- stderr as "SKIP: reason".
function T.skip(reason, n)
  if reason then io.stderr:write("SKIP: ", reason, "\n") end
  if running and not n then
    current_skipped = true
  else
    T.skipped = T.skipped + (n or 1)
  end
end

function T.eq(got, want, what)
  if got ~= want then
    error(string.format("%s: want %s, got %s", what or "mismatch",
                        tostring(want), tostring(got)), 2)
  end
end

-- |got - want| <= tol (default 1e-6).
function T.near(got, want, tol, what)
  if math.abs(got - want) > (tol or 1e-6) then
    error(string.format("%s: want %.9g, got %.9g", what or "mismatch", want,
                        got), 2)
  end
end

-- pcall fn; it must raise an error containing every piece (plain text).
-- what labels the messages ("<what> did not raise"); nil gives the
-- unlabelled ones. Returns the error message. level: of the test's call.
local function check_raises(level, fn, pieces, what)
  local ok, err = pcall(fn)
  if ok then
    error(what and (what .. " did not raise") or "no error raised", level)
  end
  err = tostring(err)
  for _, piece in ipairs(pieces) do
    if not err:find(piece, 1, true) then
      local msg = string.format("error %q lacks %q", err, piece)
      error(what and (what .. ": " .. msg) or msg, level)
    end
  end
  return err
end

-- T.raises(fn, piece1, piece2, ...): the error contains every piece.
function T.raises(fn, ...)
  local err = check_raises(3, fn, {...}, nil)
  return err
end

-- T.raises_as(fn, patterns, what): patterns is one piece or a list of
-- pieces; the messages name what (default "call").
function T.raises_as(fn, patterns, what)
  local pieces = type(patterns) == "table" and patterns or {patterns}
  local err = check_raises(3, fn, pieces, what or "call")
  return err
end

-- A fresh directory /tmp/<prefix>XXXXXX (mktemp -d); returns its path.
function T.mktempdir(prefix)
  local p = io.popen("mktemp -d /tmp/" .. prefix .. "XXXXXX")
  local d = p:read("l")
  p:close()
  return d
end

-- Write bytes to path (binary), raising on failure.
function T.write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- The contents of path ("" when it cannot be read).
function T.slurp(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- s quoted for sh.
function T.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- path made absolute against the working directory.
function T.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd", "r")
  local d = p:read("l")
  p:close()
  return d .. "/" .. path
end

-- The source tree's root and the `lunet` executable running this test
-- (for tests that run scripts in child processes; cwd tests/lua).
function T.root_and_lunet()
  local root = T.absolute(os.getenv("LUNET_SOURCE_DIR") or "../..")
  local lunet = arg and arg[-1]
  if not lunet or lunet == "" then
    lunet = (os.getenv("LUNET_BUILD_DIR") or (root .. "/build")) .. "/bin/lunet"
  end
  if lunet:find("/", 1, true) then lunet = T.absolute(lunet) end
  return root, lunet
end

-- The exit status CTest reads as "skipped" (SKIP_RETURN_CODE in
-- tests/CMakeLists.txt).
T.SKIP_STATUS = 77

-- fn(n) with lunet (ln, passed in: this file does not load it) on n = 1
-- and then 2 threads; the caller's thread count is restored.
function T.each_thread_count(ln, fn)
  local before = ln.get_num_threads()
  for _, n in ipairs{1, 2} do
    ln.set_num_threads(n)
    fn(n)
  end
  ln.set_num_threads(before)
end

-- The bytes of tensor storage (ln.memory's live bytes, ln passed in) that
-- drop() lets go of: it clears the caller's references; collected before
-- and after.
function T.freed_bytes(ln, drop)
  collectgarbage(); collectgarbage()
  local before = ln.memory.stats().live_bytes
  drop()
  collectgarbage(); collectgarbage()
  return before - ln.memory.stats().live_bytes
end

-- Print "N passed, M failed" (", K skipped" when any) and raise an error
-- when any test failed; label names the tests in that error. When a test
-- was skipped and none failed, the process exits with T.SKIP_STATUS, so
-- CTest reports the file as skipped, never as passed: keep checks that may
-- skip (a missing tool or data set) in a file of their own.
function T.summary(label)
  local line = string.format("%d passed, %d failed", T.passed, T.failed)
  if T.skipped > 0 then line = line .. string.format(", %d skipped", T.skipped) end
  print(line)
  if T.failed > 0 then
    error(T.failed .. " " .. (label and label .. " " or "") .. "test(s) failed")
  end
  if T.skipped > 0 then
    io.stdout:flush()
    os.exit(T.SKIP_STATUS, true)
  end
end

return T
