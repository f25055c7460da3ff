-- Hostile thread counts (issue 14): ln.set_num_threads with values libgomp
-- cannot run (it crashed inside libgomp at 100000, and 2^32 + 3 silently
-- became 3) and OMP_NUM_THREADS too large at start-up. The bound is
-- ln.max_threads(): LN_MAX_THREADS (1024) or fewer under an address-space
-- limit (test_hostile_threads_ulimit.lua). Each case asserts the outcome.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local err, eq = R.err, R.eq

local MAX, MIN = math.maxinteger, math.mininteger
local want = "set_num_threads: the number of threads must be an integer in [1, 1024], got "
local function set(n) return function() ln.set_num_threads(n) end end
local LUNET = R.lunet()

-- A tensor pipeline large enough that every kernel runs in parallel.
local function work()
  ln.random.seed(7)
  local x = ln.randn(300, 200)
  return ((x * 3):exp():sum(2) + x:t():sum(1)):sum()
end
ln.set_num_threads(1)
local serial = work()

R.run(T, "set_num_threads", {
  {"2^32 + 3 (became 3 before)", set(2^32 + 3), err(want .. "4294967299.0")},
  {"(1 << 32) | 3, an integer", set((1 << 32) | 3), err(want .. "4294967299")},
  {"100000 (crashed in libgomp before)", set(100000), err(want .. "100000")},
  {"1025", set(1025), err(want .. "1025")},
  {"maxinteger", set(MAX), err(want .. "9223372036854775807")},
  {"mininteger", set(MIN), err(want .. "-9223372036854775808")},
  {"0", set(0), err(want .. "0")},
  {"-1", set(-1), err(want .. "-1")},
  {"1.5", set(1.5), err(want .. "1.5")},
  {"NaN", set(0/0), err("set_num_threads: the number of threads must be an integer in [1, 1024], got")},
  {"a string", set("2"), err(want .. "string")},
  {"nil", set(nil), err(want .. "nil")},
  {"a refused count leaves the old one", function() ln.set_num_threads(2); pcall(ln.set_num_threads, 5000)
     return ln.get_num_threads() end, eq(2)},
  {"max_threads() without a limit", function() return ln.max_threads() end, eq(1024)},
  {"1", function() ln.set_num_threads(1) return ln.get_num_threads() end, eq(1)},
  {"2.0 (an exact float)", function() ln.set_num_threads(2.0) return ln.get_num_threads() end, eq(2)},
  {"16 threads give the 1-thread result bitwise", function() ln.set_num_threads(16) return work() end, eq(serial)},
})
ln.set_num_threads(2)

-- Start-up with OMP_NUM_THREADS beyond the bound: clamped with a warning.
local function child(env, code)
  local p = io.popen(string.format("env %s timeout 120 '%s' -e '%s' 2>&1", env, LUNET, code))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end
local out, ok = child("OMP_NUM_THREADS=100000", "print(\"THREADS \" .. ln.get_num_threads()); print(\"SUM \" .. ln.ones(10):sum())")

R.run(T, "OMP_NUM_THREADS at start-up", {
  {"100000: the process goes on", function() return ok end, eq(true)},
  {"100000: clamped to 1024", function() return out:match("THREADS (%d+)") end, eq("1024")},
  {"100000: a warning says so", function()
     return out:find("lunet: warning: 100000 threads asked (OMP_NUM_THREADS); using 1024", 1, true) ~= nil end, eq(true)},
  {"100000: kernels run", function() return out:match("SUM (%S+)") end, eq("10.0")},
})

T.summary("hostile thread")
