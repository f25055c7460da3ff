-- ln.io through Lua: NPY, CSV, HDF5 datasets, IDX, and hostile files
-- refused with the file name and the reason. The round trips with numpy
-- and h5py (which may be absent, and then skip) are in test_io_python.lua.
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

test("idx: read as another dtype", function()
  local hdr = string.pack(">BBBBI4I4", 0, 0, 8, 2, 2, 3)
  write(tpath("u8.idx"), hdr .. "\0\1\127\128\254\255")
  local f = ln.io.read_idx(tpath("u8.idx"), {dtype = "float32"})
  eq(f:type(), "float32")
  eq(table.concat(f:shape(), "x"), "2x3")
  eq(list(f), "0.0 1.0 127.0 128.0 254.0 255.0")
  eq(list(ln.io.read_idx("../data/idx_small.gz", {dtype = "float"})), "1.0 2.0 3.0 4.0 5.0 6.0")
  local i = ln.io.read_idx(tpath("u8.idx"), {dtype = "int32"})
  eq(i:type(), "int32")
  eq(list(i), "0 1 127 128 254 255")
  eq(ln.io.read_idx(tpath("u8.idx"), {}):type(), "uint8")
  write(tpath("f32.idx"), string.pack(">BBBBI4>f", 0, 0, 0x0D, 1, 1, -2.5))
  raises(function() ln.io.read_idx(tpath("f32.idx"), {dtype = "int32"}) end,
         "read_idx: " .. tpath("f32.idx"), "float32 data cannot be read as int32")
  raises(function() ln.io.read_idx(tpath("f32.idx"), {dtype = "uint8"}) end,
         "float32 data cannot be read as uint8")
  raises(function() ln.io.read_idx(tpath("u8.idx"), {dtype = "float64"}) end,
         "read_idx: unknown dtype 'float64'")
  raises(function() ln.io.read_idx(tpath("u8.idx"), {dtyp = "float32"}) end,
         "read_idx", "dtyp")
  raises(function() ln.io.read_idx(tpath("u8.idx"), "float32") end,
         "read_idx: options must be a table, got string")
end)

test("csv", function()
  write(tpath("a.csv"), "x,y,label\n1.5,2,0\n-3,4e-1,1\n")
  local t, names = ln.io.read_csv(tpath("a.csv"))
  eq(table.concat(names, ","), "x,y,label")
  eq(table.concat(t:shape(), "x"), "2x3")
  eq(t[{2, 2}], 0.4000000059604645)
  -- an explicit dtype that cannot hold a value is refused (pandas), never
  -- truncated: 1.5 is not an int32
  raises(function() ln.io.read_csv(tpath("a.csv"), {dtype = "int32", header = true}) end,
         "read_csv: " .. tpath("a.csv"), "line 2, column 1 ('x'): '1.5' does not fit in int32")
  write(tpath("ints.csv"), "x,y,label\n1,2,0\n-3,4e1,1\n")
  local i = ln.io.read_csv(tpath("ints.csv"), {dtype = "int32", header = true})
  eq(list(i), "1 2 0 -3 40 1")
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
end)

os.execute("rm -rf '" .. tmp .. "'")
T.summary()
