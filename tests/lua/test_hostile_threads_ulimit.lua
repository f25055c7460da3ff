-- Thread counts under an address-space limit (issue 14): with `ulimit -v`
-- libgomp ended the process ("Thread creation failed") for a count far
-- below LN_MAX_THREADS. ln.max_threads() lowers the bound to what the
-- limit holds (half of it for thread stacks) and set_num_threads refuses
-- more. Skipped (exit 77) under AddressSanitizer, which cannot run with
-- `ulimit -v` (it reserves terabytes of address space).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local eq = R.eq

if os.getenv("ASAN_OPTIONS") then
  T.skip("under ASan: ulimit -v cannot be used")
  T.summary()
end

local LUNET = R.lunet()
-- 4 GB of address space, 8 MB stacks: about 238 threads
local function limited(env, code)
  local p = io.popen(string.format("sh -c 'ulimit -v 4000000; ulimit -s 8192; exec env %s timeout 120 %s -e \"%s\"' 2>&1",
                                   env, LUNET, code))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end
local work = "ln.random.seed(3); local x = ln.randn(400, 300); return ((x * 3):exp():sum(2) + x:t():sum(1)):sum()"
local out, ok = limited("OMP_WAIT_POLICY=passive", "local f = function() " .. work .. " end; " ..
  "ln.set_num_threads(1); local s = f(); " ..
  "print(\\\"MAX \\\" .. ln.max_threads()); " ..
  "print(\\\"REFUSED \\\" .. tostring(not pcall(ln.set_num_threads, 1024))); " ..
  "ln.set_num_threads(ln.max_threads()); print(\\\"SAME \\\" .. tostring(f() == s))")
local out2, ok2 = limited("OMP_NUM_THREADS=1024 OMP_WAIT_POLICY=passive", "print(\\\"THREADS \\\" .. ln.get_num_threads()); " ..
  "local x = ln.randn(400, 300); print(\\\"RAN \\\" .. tostring((x * 2):sum() ~= nil))")

R.run(T, "ulimit -v 4000000", {
  {"the run ends normally", function() return ok end, eq(true)},
  {"max_threads() is below 1024 and above 100",
   function() local m = tonumber(out:match("MAX (%d+)")) return m and m < 1024 and m > 100 end, eq(true)},
  {"1024 threads are refused", function() return out:match("REFUSED (%a+)") end, eq("true")},
  {"max_threads() threads run a kernel, same result", function() return out:match("SAME (%a+)") end, eq("true")},
  {"OMP_NUM_THREADS=1024: the process goes on", function() return ok2 end, eq(true)},
  {"OMP_NUM_THREADS=1024: clamped, with a warning",
   function() return out2:find("lunet: warning: 1024 threads asked (OMP_NUM_THREADS); using", 1, true) ~= nil end, eq(true)},
  {"OMP_NUM_THREADS=1024: kernels run", function() return out2:match("RAN (%a+)") end, eq("true")},
})

T.summary("hostile thread (ulimit)")
