-- ln.io against numpy and h5py (/usr/bin/python3): NPY round trips in both
-- directions and an HDF5 file h5py wrote. Skipped (CTest: "Skipped", exit
-- status 77) when python3, numpy or h5py is missing; scripts/setup.sh
-- installs them.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises

local function list(t) return table.concat(t:flatten():totable(), " ") end

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p '" .. tmp .. "'"))
local function tpath(name) return tmp .. "/" .. name end

local write = T.write_file

local function have(module)
  return os.execute("/usr/bin/python3 -c 'import " .. module .. "' 2>/dev/null") == true
end

-- Run python code; returns its stdout (trimmed).
local function python(code)
  local script = tpath("script.py")
  write(script, code)
  local p = assert(io.popen("/usr/bin/python3 '" .. script .. "' 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then error("python failed:\n" .. out, 2) end
  return (out:gsub("%s+$", ""))
end

local NUMPY, H5PY = have("numpy"), have("h5py")

test("npy: lunet writes, numpy reads", function()
  if not NUMPY then T.skip("no numpy under /usr/bin/python3") return end
  ln.random.seed(3)
  local f = ln.randn(3, 4, 5)
  local i = ln.tensor({{-2147483648, 0, 2147483647}}, "int32")
  local u = ln.tensor({0, 7, 255}, "uint8")
  ln.io.save_npy(tpath("f.npy"), f)
  ln.io.save_npy(tpath("i.npy"), i)
  ln.io.save_npy(tpath("u.npy"), u)
  ln.io.save_npy(tpath("s.npy"), ln.tensor(1.5))
  local out = python(string.format([==[
import numpy as np
f = np.load(%q); i = np.load(%q); u = np.load(%q); s = np.load(%q)
print(f.dtype, f.shape, i.dtype, i.shape, u.dtype, s.dtype, s.shape, float(s))
print(repr(float(f.astype(np.float64).sum())), i.tolist(), u.tolist())
print(repr(float(f[2, 3, 4])))
]==], tpath("f.npy"), tpath("i.npy"), tpath("u.npy"), tpath("s.npy")))
  local l1, l2, l3 = out:match("([^\n]*)\n([^\n]*)\n([^\n]*)")
  eq(l1, "float32 (3, 4, 5) int32 (1, 3) uint8 float32 () 1.5")
  local sum = 0
  for _, v in ipairs(f:flatten():totable()) do sum = sum + v end
  local psum, ilist, ulist = l2:match("^(%S+) (%[%[.-%]%]) (%[.-%])$")
  assert(math.abs(tonumber(psum) - sum) < 1e-9, l2)
  eq(ilist, "[[-2147483648, 0, 2147483647]]")
  eq(ulist, "[0, 7, 255]")
  eq(tonumber(l3), f[{3, 4, 5}])
end)

test("npy: numpy writes, lunet reads", function()
  if not NUMPY then T.skip("no numpy under /usr/bin/python3") return end
  python(string.format([==[
import numpy as np
d = %q
np.save(d + "/a32.npy", np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8)
np.save(d + "/a64.npy", np.array([[0.1, -2.5], [1e10, 3]]))
np.save(d + "/i64.npy", np.array([-5, 0, 2**31 - 1], dtype=np.int64))
np.save(d + "/i32.npy", np.array([[1, -2]], dtype=np.int32))
np.save(d + "/u8.npy", np.array([0, 200, 255], dtype=np.uint8))
np.save(d + "/b.npy", np.array([True, False, True]))
np.save(d + "/big.npy", np.array([2**40], dtype=np.int64))
np.save(d + "/fort.npy", np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(d + "/c64.npy", np.ones(3, np.complex64))
np.save(d + "/be.npy", np.ones(3, ">f4"))
np.save(d + "/empty.npy", np.zeros((0, 5), np.float32))
]==], tmp))
  local a = ln.io.load_npy(tpath("a32.npy"))
  eq(a:type(), "float32")
  eq(table.concat(a:shape(), "x"), "2x3x4")
  eq(a[{2, 3, 4}], 23 / 8)
  local b = ln.io.load_npy(tpath("a64.npy"))
  eq(b:type(), "float32")
  eq(b[{1, 2}], -2.5)
  eq(b[{2, 1}], 1e10)
  eq(list(ln.io.load_npy(tpath("i64.npy"))), "-5 0 2147483647")
  eq(ln.io.load_npy(tpath("i32.npy")):type(), "int32")
  eq(list(ln.io.load_npy(tpath("u8.npy"))), "0 200 255")
  eq(list(ln.io.load_npy(tpath("b.npy"))), "1 0 1")
  eq(ln.io.load_npy(tpath("empty.npy")):numel(), 0)
  raises(function() ln.io.load_npy(tpath("big.npy")) end,
         tpath("big.npy"), "does not fit in int32")
  raises(function() ln.io.load_npy(tpath("fort.npy")) end,
         tpath("fort.npy"), "Fortran-order arrays are not supported")
  raises(function() ln.io.load_npy(tpath("c64.npy")) end,
         tpath("c64.npy"), "dtype '<c8' is not supported")
  raises(function() ln.io.load_npy(tpath("be.npy")) end,
         tpath("be.npy"), "dtype '>f4' is not supported")
  -- and back: a round trip through lunet gives numpy the same bytes
  ln.io.save_npy(tpath("a32b.npy"), a)
  eq(python(string.format([==[
import numpy as np
print(np.array_equal(np.load(%q), np.load(%q)))]==], tpath("a32.npy"), tpath("a32b.npy"))), "True")
end)

test("hdf5: h5py writes, read_h5 reads", function()
  if not H5PY then T.skip("no h5py under /usr/bin/python3") return end
  python(string.format([==[
import h5py, numpy as np
with h5py.File(%q, "w") as h:
  h["x"] = np.arange(12, dtype=np.float64).reshape(3, 4) / 4
  h["y"] = np.array([3, 1, 2], dtype=np.int64)
]==], tpath("made.h5")))
  eq(ln.io.read_h5(tpath("made.h5"), "x")[{3, 4}], 11 / 4)
  eq(list(ln.io.read_h5(tpath("made.h5"), "/y")), "3 1 2")
end)

os.execute("rm -rf '" .. tmp .. "'")
T.summary()
