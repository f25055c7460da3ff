-- ln.io through Lua: NPY round trips with numpy (/usr/bin/python3) in both
-- directions, CSV, HDF5 datasets, IDX, and hostile files refused with the
-- file name and the reason.
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

local function have_numpy()
  return os.execute("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == true
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

local NUMPY = have_numpy()

test("npy: lunet writes, numpy reads", function()
  if not NUMPY then T.skip() return end
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
  if not NUMPY then T.skip() return end
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

test("npy: hostile files", function()
  write(tpath("magic.npy"), "\x93NUMPX\1\0\16\0{}")
  raises(function() ln.io.load_npy(tpath("magic.npy")) end,
         "load_npy: " .. tpath("magic.npy"), "wrong magic")
  write(tpath("hlen.npy"), "\x93NUMPY\2\0\255\255\255\127{}")
  raises(function() ln.io.load_npy(tpath("hlen.npy")) end,
         tpath("hlen.npy"), "header claims 2147483647 bytes")
  local hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000), }"
  hdr = hdr .. string.rep(" ", 127 - 10 - #hdr) .. "\n"
  write(tpath("trunc.npy"), "\x93NUMPY\1\0" .. string.pack("<I2", #hdr) .. hdr .. "abcd")
  raises(function() ln.io.load_npy(tpath("trunc.npy")) end,
         tpath("trunc.npy"), "truncated", "4000000000 data bytes")
  raises(function() ln.io.load_npy(tpath("none.npy")) end,
         tpath("none.npy"), "cannot open")
  raises(function() ln.io.load_npy(42) end, "load_npy: path must be a string")
  raises(function() ln.io.save_npy(tpath("x.npy"), {1, 2}) end,
         "save_npy: argument 2 must be a tensor")
  raises(function() ln.io.save_npy(tmp .. "/no/dir/x.npy", ln.ones(2)) end,
         "save_npy: " .. tmp .. "/no/dir/x.npy", "does not exist")
end)

test("idx: good and hostile files", function()
  local hdr = string.pack(">BBBBI4I4", 0, 0, 8, 2, 2, 3)
  write(tpath("ok.idx"), hdr .. "\1\2\3\4\5\6")
  local t = ln.io.read_idx(tpath("ok.idx"))
  eq(t:type(), "uint8")
  eq(list(t), "1 2 3 4 5 6")
  eq(list(ln.io.read_idx("../data/idx_small.gz")), "1 2 3 4 5 6")
  write(tpath("magic.idx"), string.pack(">BBBBI4", 8, 0, 8, 1, 1) .. "\1")
  raises(function() ln.io.read_idx(tpath("magic.idx")) end,
         "read_idx: " .. tpath("magic.idx"), "wrong magic")
  write(tpath("short.idx"), hdr .. "\1\2")
  raises(function() ln.io.read_idx(tpath("short.idx")) end,
         tpath("short.idx"), "truncated", "need 6 data bytes, the file has 2")
  write(tpath("ovf.idx"), string.pack(">BBBBI4I4I4", 0, 0, 8, 3, 0xffffffff, 0xffffffff, 16))
  raises(function() ln.io.read_idx(tpath("ovf.idx")) end,
         tpath("ovf.idx"), "dims claim more than the")
  raises(function() ln.io.read_idx("../data/idx_huge_claim.gz") end,
         "idx_huge_claim.gz", "truncated", "6 of the 3000000000 data bytes")
  raises(function() ln.io.read_idx("../data/idx_early_end.gz") end,
         "idx_early_end.gz")
  raises(function() ln.io.read_idx("../data/idx_trailing.gz") end,
         "idx_trailing.gz", "trailing data")
  raises(function() ln.io.read_idx(tpath("none.idx")) end,
         tpath("none.idx"), "No such file")
end)

test("csv", function()
  write(tpath("a.csv"), "x,y,label\n1.5,2,0\n-3,4e-1,1\n")
  local t, names = ln.io.read_csv(tpath("a.csv"))
  eq(table.concat(names, ","), "x,y,label")
  eq(table.concat(t:shape(), "x"), "2x3")
  eq(t[{2, 2}], 0.4000000059604645)
  local i = ln.io.read_csv(tpath("a.csv"), {dtype = "int32", header = true})
  eq(list(i), "1 2 0 -3 0 1")
  write(tpath("b.csv"), "1;2\n3;4\n")
  local b, nb = ln.io.read_csv(tpath("b.csv"), {delimiter = ";", header = false})
  eq(#nb, 0)
  eq(list(b), "1.0 2.0 3.0 4.0")
  write(tpath("bad.csv"), "x,y\n1,2\n3,oops\n")
  raises(function() ln.io.read_csv(tpath("bad.csv")) end,
         "read_csv: " .. tpath("bad.csv"), "line 3, column 2 ('y'): 'oops' is not a number")
  write(tpath("rag.csv"), "x,y\n1,2,3\n")
  raises(function() ln.io.read_csv(tpath("rag.csv")) end,
         tpath("rag.csv"), "line 2 has 3 fields, expected 2")
  raises(function() ln.io.read_csv(tpath("a.csv"), {sep = ";"}) end,
         "read_csv: unknown option 'sep'")
  raises(function() ln.io.read_csv(tpath("a.csv"), {delimiter = ";;"}) end,
         "delimiter must be a one-character string")
end)

test("hdf5 datasets", function()
  local f = "../data/small.h5"
  local a = ln.io.read_h5(f, "/f32")
  eq(table.concat(a:shape(), "x"), "2x3")
  eq(a[{2, 3}], 6.25)
  eq(ln.io.read_h5(f, "/u8"):type(), "uint8")
  eq(list(ln.io.read_h5(f, "/grp/i16")), "-300 300")
  eq(ln.io.read_h5(f, "/scalar"):item(), 2.5)
  raises(function() ln.io.read_h5(f, "/nope") end, "read_h5: " .. f, "no dataset '/nope'")
  raises(function() ln.io.read_h5(f, "/grp") end, f, "'/grp' is a group, not a dataset")
  raises(function() ln.io.read_h5(f, "/names") end, f, "'/names' holds string values")
  raises(function() ln.io.read_h5(f, "/big_i64") end, f, "does not fit in int32")
  raises(function() ln.io.read_h5("../data/idx_small.gz", "/x") end,
         "idx_small.gz", "not an HDF5 file")
  raises(function() ln.io.read_h5(f) end, "read_h5: dataset must be a string")
  if os.execute("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == true then
    python(string.format([==[
import h5py, numpy as np
with h5py.File(%q, "w") as h:
    h["x"] = np.arange(12, dtype=np.float64).reshape(3, 4) / 4
    h["y"] = np.array([3, 1, 2], dtype=np.int64)
]==], tpath("made.h5")))
    eq(ln.io.read_h5(tpath("made.h5"), "x")[{3, 4}], 11 / 4)
    eq(list(ln.io.read_h5(tpath("made.h5"), "/y")), "3 1 2")
  end
end)

os.execute("rm -rf '" .. tmp .. "'")
if not NUMPY then
  io.stderr:write("SKIP: numpy round trips (no numpy under /usr/bin/python3)\n")
end
T.summary()
