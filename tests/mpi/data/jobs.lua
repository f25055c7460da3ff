--[[ jobs.lua -- helpers of the tests that launch MPI jobs (test_mpi_*.lua):
the lunet executable, mpiexec, scratch folders, and the raw float32 files
the workers write.

  local J = dofile(here .. "/data/jobs.lua")
  J.skip_unless_mpi()                 -- exit 77 (SKIPPED) without lunet.mpi
  local rc, out = J.run(2, "data/small.lua", {dir .. "/a", "sgd"}, {VAR = "1"})
  J.maxdiff(J.read(p1), J.read(p2))   -- largest |difference| of two files
]]
local J = {}

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
J.here = here
local build = os.getenv("LUNET_BUILD_DIR") or (here .. "/../../build")
J.lunet = build .. "/bin/lunet"
J.mpiexec = os.getenv("LUNET_MPIEXEC") or "mpiexec"

function J.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Exit with 77 (CTest: SKIPPED) when lunet was built without lunet.mpi
-- or mpiexec cannot be run.
function J.skip_unless_mpi()
  local ok = pcall(require, "lunet.mpi")
  local why = not ok and "lunet.mpi is not built (it needs libopenmpi-dev)" or nil
  if not why and not os.execute(J.quote(J.mpiexec) .. " --version >/dev/null 2>&1") then
    why = J.mpiexec .. " cannot be run"
  end
  if why then
    io.stderr:write("SKIP: ", why, "\n")
    os.exit(77)
  end
end

--- A fresh folder under /tmp.
function J.tmpdir(prefix)
  local p = io.popen("mktemp -d /tmp/" .. (prefix or "lunet_mpi") .. "XXXXXX")
  local d = p:read("l")
  p:close()
  return d
end

--- Run script (relative to tests/mpi) with args in np processes under
-- mpiexec (np = nil: one plain process), env (a table) in every process.
-- A watchdog kills a job still running after `limit` seconds (default
-- 600): a hang then shows as exit code 124, never as a hung test.
-- Returns the exit code and the output (stdout and stderr).
function J.run(np, script, args, env, limit, mpi_opts)
  local envs, exports = {}, {}
  for k, v in pairs(env or {}) do
    envs[#envs + 1] = k .. "=" .. J.quote(v)
    exports[#exports + 1] = "-x " .. k
  end
  table.sort(envs)
  table.sort(exports)
  local argv = {}
  for i, a in ipairs(args or {}) do argv[i] = J.quote(a) end
  local launcher = ""
  if np then
    launcher = string.format("%s -np %d --oversubscribe --bind-to none %s %s ",
                             J.quote(J.mpiexec), np, table.concat(exports, " "), mpi_opts or "")
  end
  local cmd = string.format("cd %s && %s timeout %d %s%s %s %s 2>&1; echo \"=rc=$?\"",
                            J.quote(here), table.concat(envs, " "), limit or 600, launcher,
                            J.quote(J.lunet), J.quote(script), table.concat(argv, " "))
  local p = assert(io.popen("sh -c " .. J.quote(cmd)))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("=rc=(%d+)%s*$")), (out:gsub("=rc=%d+%s*$", ""))
end

function J.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function J.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The largest |a_i - b_i| of two files of float32 values.
function J.maxdiff(a, b)
  assert(a and b, "missing file")
  assert(#a == #b, string.format("files of %d and %d bytes", #a, #b))
  local m = 0
  for i = 1, #a, 4 do
    local d = math.abs(string.unpack("<f", a, i) - string.unpack("<f", b, i))
    if d > m or d ~= d then m = d end
  end
  return m
end

--- The numbers of a text file, in order.
function J.numbers(path)
  local s = assert(J.read(path), "missing " .. path)
  local t = {}
  for v in s:gmatch("[-+]?%d[%d.eE+-]*") do t[#t + 1] = tonumber(v) end
  return t
end

return J
