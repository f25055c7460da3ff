-- Hostile values for the integer dtypes (issue 14), by class: int32 and
-- uint8 tensors built, filled and assigned from numbers they cannot hold,
-- integer arithmetic whose result leaves int32, conversions of NaN,
-- infinities and out-of-range values, integer ranges (arange) and CSV
-- columns read with an explicit dtype. The rule: refuse (or promote to
-- float32, where the docs say so), never wrap or truncate silently -- a
-- number stored into an integer tensor must be an integer in range (as
-- numpy 2 and pandas refuse), and an explicit conversion (:int(), :byte(),
-- assigning a float tensor) truncates fractions toward zero but refuses
-- values out of range. Each case asserts the exact outcome.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local err, eq = R.err, R.eq

local MAX, MIN = math.maxinteger, math.mininteger
local function list(t) return table.concat(t:flatten():totable(), " ") end
local function u8(...) return ln.tensor({...}, "uint8") end
local function i32(...) return ln.tensor({...}, "int32") end
local I32MAX, I32MIN = 2147483647, -2147483648

R.run(T, "numbers into integer tensors", {
  {"tensor({300}, uint8)", function() return u8(300) end, err("tensor: value 300 does not fit in uint8")},
  {"tensor({-1}, uint8)", function() return u8(-1) end, err("tensor: value -1 does not fit in uint8")},
  {"tensor({255, 0}, uint8)", function() return list(u8(255, 0)) end, eq("255 0")},
  {"tensor({1.5}, int32): no truncation", function() return i32(1.5) end, err("tensor: value 1.5 does not fit in int32")},
  {"tensor({2^31}, int32)", function() return i32(2^31) end, err("tensor: value 2147483648.0 does not fit in int32")},
  {"tensor({-2^31 - 1}, int32)", function() return i32(I32MIN - 1) end, err("tensor: value -2147483649 does not fit in int32")},
  {"tensor({maxinteger}, int32)", function() return i32(MAX) end, err("tensor: value 9223372036854775807 does not fit in int32")},
  {"tensor({int32 limits})", function() return list(i32(I32MAX, I32MIN)) end, eq("2147483647 -2147483648")},
  {"tensor({NaN}, int32)", function() return i32(0/0) end, err("tensor:", "does not fit in int32")},
  {"tensor({inf}, uint8)", function() return u8(math.huge) end, err("tensor: value inf does not fit in uint8")},
  {"tensor(300, uint8) (a scalar)", function() return ln.tensor(300, "uint8") end, err("tensor: value 300 does not fit in uint8")},
  {"tensor({true, false}, uint8)", function() return list(u8(true, false)) end, eq("1 0")},
  {"full({2}, 256, uint8)", function() return ln.full({2}, 256, "uint8") end, err("full: value 256 does not fit in uint8")},
  {"full({2}, 0.5, int32)", function() return ln.full({2}, 0.5, "int32") end, err("full: value 0.5 does not fit in int32")},
  {"full({2}, -2^31, int32)", function() return ln.full({2}, I32MIN, "int32"):sum() end, eq(2 * I32MIN)},
})

R.run(T, "fill and assignment", {
  {"uint8 fill(256)", function() return u8(1):fill(256) end, err("fill: value 256 does not fit in uint8")},
  {"uint8 fill(-1)", function() return u8(1):fill(-1) end, err("fill: value -1 does not fit in uint8")},
  {"int32 fill(2.5)", function() return i32(1):fill(2.5) end, err("fill: value 2.5 does not fit in int32")},
  {"int32 fill(NaN)", function() return i32(1):fill(0/0) end, err("fill:", "does not fit in int32")},
  {"int32 fill(2^31)", function() return i32(1):fill(2^31) end, err("fill: value 2147483648.0 does not fit in int32")},
  {"uint8 fill(255)", function() return list(u8(1, 2):fill(255)) end, eq("255 255")},
  {"uint8 t[1] = 300", function() local u = u8(1, 2); u[1] = 300 end, err("assignment: value 300 does not fit in uint8")},
  {"uint8 t[{2}] = -1", function() local u = u8(1, 2); u[{2}] = -1 end, err("assignment: value -1 does not fit in uint8")},
  {"int32 t[1] = 1.5", function() local i = i32(1, 2); i[1] = 1.5 end, err("assignment: value 1.5 does not fit in int32")},
  {"int32 t[1] = maxinteger", function() local i = i32(1, 2); i[1] = MAX end, err("does not fit in int32")},
  {"uint8 t[{{1, 2}}] = 256", function() local u = u8(1, 2); u[{{1, 2}}] = 256 end, err("assignment: value 256 does not fit in uint8")},
  {"uint8 t[2] = 255", function() local u = u8(1, 2); u[2] = 255 return list(u) end, eq("1 255")},
  {"uint8 t[mask] = 300", function() local u = u8(1, 2); u[u:gt(0)] = 300 end,
   err("masked assignment: value 300 does not fit in uint8")},
  {"uint8 masked_fill(mask, 256)", function() local u = u8(1, 2); u:masked_fill(u:gt(1), 256) end,
   err("masked assignment: value 256 does not fit in uint8")},
  {"int32 t[mask] = 2.5", function() local i = i32(1, 2); i[i:gt(0)] = 2.5 end,
   err("masked assignment: value 2.5 does not fit in int32")},
  {"uint8 t[mask] = int32 {300, 400} (wrapped to 44 144 before)", function() local u = u8(1, 2); u[u:gt(0)] = i32(300, 400) end,
   err("conversion to uint8: the value 300 at position 1 does not fit in uint8")},
  {"uint8 t[mask] = float {1.5, 2.7}: converted as :byte()",
   function() local u = u8(1, 2); u[u:gt(0)] = ln.tensor({1.5, 2.7}) return list(u) end, eq("1 2")},
  {"uint8 t[idx] = 256", function() local u = u8(1, 2); u[i32(1)] = 256 end,
   err("index assignment: value 256 does not fit in uint8")},
  {"uint8 t[idx] = int32 {-1}", function() local u = u8(1, 2); u[i32(2)] = i32(-1) end,
   err("conversion to uint8: the value -1 at position 1 does not fit in uint8")},
  {"uint8 t[{{1, 2}}] = int32 {256, 1}", function() local u = u8(1, 2); u[{{1, 2}}] = i32(256, 1) end,
   err("conversion to uint8: the value 256 at position 1")},
  {"uint8 copy(int32 {1, 999})", function() return u8(1, 2):copy(i32(1, 999)) end,
   err("conversion to uint8: the value 999 at position 2 does not fit in uint8")},
  {"int32 copy(float {1e10})", function() return i32(1):copy(ln.tensor({1e10})) end,
   err("conversion to int32: the value 10000000000 at position 1 does not fit in int32")},
})

R.run(T, "integer arithmetic", {
  {"int32 + (1 << 40) (gave 1 before)", function() return i32(1, 2) + (1 << 40) end,
   err("add (+): 1 and 1099511627776 (at position 1) give a result outside int32")},
  {"int32 + 2^40 (a float: float32 result)", function() local z = i32(1) + 2^40 return z:type() .. " " .. z:item() end,
   eq("float32 1099511627776.0")},
  {"int32 max + 1", function() return i32(I32MAX) + 1 end, err("add (+): 2147483647 and 1 (at position 1) give a result outside int32")},
  {"int32 min - 1", function() return i32(I32MIN) - 1 end, err("sub (-): -2147483648 and 1")},
  {"1 - int32 min", function() return 1 - i32(I32MIN) end, err("sub (-): 1 and -2147483648")},
  {"int32 * 65536 * 32768", function() return i32(65536) * 32768 end, err("mul (*): 65536 and 32768")},
  {"int32 * maxinteger", function() return i32(0, 2) * MAX end, err("mul (*): 2 and 9223372036854775807 (at position 2)")},
  {"int32 {0} * maxinteger is 0", function() return list(i32(0) * MAX) end, eq("0")},
  {"-int32 min", function() return -i32(5, I32MIN) end, err("unary minus: -2147483648 (at position 2) has no int32 negation")},
  {"abs(int32 min)", function() return i32(I32MIN):abs() end, err("abs: -2147483648 (at position 1) has no int32 absolute value")},
  {"int32 min // -1", function() return i32(I32MIN) // -1 end, err("floor division (//): -2147483648 and -1")},
  {"int32 min % -1 is 0", function() return list(i32(I32MIN) % -1) end, eq("0")},
  {"(1 << 40) // int32 {2}", function() return (1 << 40) // i32(2) end, err("floor division (//): 1099511627776 and 2")},
  {"mininteger // int32 {-1}", function() return MIN // i32(-1) end, err("floor division (//): -9223372036854775808 and -1")},
  {"mininteger % int32 {-1} is 0", function() return list(MIN % i32(-1)) end, eq("0")},
  {"int32 {5} % (1 << 40) is 5", function() return list(i32(5) % (1 << 40)) end, eq("5")},
  {"int32 {-5} % (1 << 40)", function() return i32(-5) % (1 << 40) end, err("modulo (%): -5 and 1099511627776")},
  {"int32 // 0", function() return i32(1) // 0 end, err("floor division (//): integer division by zero")},
  {"int32 % int32 {0}", function() return i32(1) % i32(0) end, err("modulo (%): integer division by zero")},
  {"maximum(int32, 1 << 40)", function() return i32(1):maximum(1 << 40) end, err("maximum: 1 and 1099511627776")},
  {"minimum(int32, -(1 << 40))", function() return i32(1):minimum(-(1 << 40)) end, err("minimum: 1 and -1099511627776")},
  {"minimum(int32, 1 << 40)", function() return list(i32(1, -3):minimum(1 << 40)) end, eq("1 -3")},
  {"int32 max + int32 {{1}, {0}} (broadcast)", function() return i32(I32MAX) + ln.tensor({{0}, {1}}, "int32") end,
   err("add (+): 2147483647 and 1 (at position 2)")},
  {"uint8 200 + uint8 100 is int32 300", function() local z = u8(200) + u8(100) return z:type() .. " " .. z:item() end,
   eq("int32 300")},
  {"uint8 255 * uint8 255", function() return (u8(255) * u8(255)):item() end, eq(65025)},
  {"uint8 0 - uint8 1 is -1", function() return (u8(0) - u8(1)):item() end, eq(-1)},
  {"uint8 - 1 << 40", function() return u8(1) - (1 << 40) end, err("sub (-): 1 and 1099511627776")},
  {"-uint8 {255} is -255", function() return (-u8(255)):item() end, eq(-255)},
})

R.run(T, "conversions", {
  {"NaN:int()", function() return ln.tensor({0/0}):int() end,
   err("conversion to int32: the value NaN at position 1 does not fit in int32")},
  {"inf:int()", function() return ln.tensor({1, math.huge}):int() end, err("conversion to int32: the value inf at position 2")},
  {"-inf:byte()", function() return ln.tensor({-math.huge}):byte() end, err("conversion to uint8: the value -inf at position 1")},
  {"2^31:int()", function() return ln.tensor({2^31}):int() end, err("conversion to int32: the value 2147483648 at position 1")},
  {"1e10 at position 3", function() return ln.tensor({1, 2, 1e10}):int() end, err("the value 10000000000 at position 3")},
  {"-1:byte()", function() return ln.tensor({-1}):byte() end, err("conversion to uint8: the value -1 at position 1")},
  {"256:byte()", function() return ln.tensor({256}):byte() end, err("conversion to uint8: the value 256 at position 1")},
  {"255.9:byte() truncates", function() return list(ln.tensor({255.9, 0.5}):byte()) end, eq("255 0")},
  {"-0.5:byte() truncates to 0", function() return list(ln.tensor({-0.5}):byte()) end, eq("0")},
  {"-1.7:int() truncates to -1", function() return list(ln.tensor({-1.7}):int()) end, eq("-1")},
  {"int32 256:byte()", function() return i32(1, 256):byte() end, err("conversion to uint8: the value 256 at position 2")},
  {"int32 -1:byte()", function() return i32(-1):byte() end, err("conversion to uint8: the value -1 at position 1")},
  {"int32:type(uint8)", function() return i32(300):type("uint8") end, err("conversion to uint8: the value 300")},
  {"tensor(int32 t, uint8)", function() return ln.tensor(i32(300), "uint8") end, err("conversion to uint8: the value 300")},
  {"uint8:int()", function() return list(u8(0, 255):int()) end, eq("0 255")},
  {"int32 max:float() rounds (a float)", function() return i32(I32MAX):float():item() end, eq(2147483648.0)},
  {"float 2^31 - 128:int() fits", function() return i32(0):copy(ln.tensor({2147483520})):item() end, eq(2147483520)},
  {"a big tensor, one bad value at the end",
   function() local f = ln.full({100000}, 3); f[100000] = 1e12 return f:int() end,
   err("conversion to int32: the value 999999995904 at position 100000")},
})

R.run(T, "integer ranges", {
  {"arange(2^31 - 3, 2^31 + 2) (wrapped before)", function() return ln.arange(2147483645, 2147483650) end,
   err("arange: the values 2147483645 .. 2147483649 do not fit in int32")},
  {"arange(-2^31 - 2, -2^31 + 1)", function() return ln.arange(-2147483650, -2147483647) end,
   err("arange: the values -2147483650 .. -2147483648 do not fit in int32")},
  {"arange(2^31 - 7, 2^31 - 1) fits", function() local a = ln.arange(2147483640, 2147483647) return a[-1] end, eq(2147483646)},
  {"arange(0, 4.5, 1.5, int32)", function() return ln.arange(0, 4.5, 1.5, "int32") end,
   err("arange: step 1.5 is not an integer, as an int32 range needs")},
  {"arange(0.5, 3, 1, int32)", function() return ln.arange(0.5, 3, 1, "int32") end,
   err("arange: the values 0.5 .. 2.5 do not fit in int32")},
  {"arange(0, 300, 1, uint8)", function() return ln.arange(0, 300, 1, "uint8") end,
   err("arange: the values 0 .. 299 do not fit in uint8")},
  {"arange(0, 256, 1, uint8)", function() return ln.arange(0, 256, 1, "uint8"):max() end, eq(255)},
  {"arange(maxinteger - 2, maxinteger) (0 elements before: rounded)", function() return ln.arange(MAX - 2, MAX) end,
   err("arange: the integer 9223372036854775805 is beyond 2^53")},
  {"arange(0, 2^53 + 1) (a count rounded before)", function() return ln.arange(0, (1 << 53) + 1) end,
   err("arange: the integer 9007199254740993 is beyond 2^53")},
  {"arange(1e10, 1e10 + 3) is float32", function() return ln.arange(1e10, 1e10 + 3):type() end, eq("float32")},
  {"arange(10, 0, -3, int32)", function() return list(ln.arange(10, 0, -3, "int32")) end, eq("10 7 4 1")},
})

-- ---- CSV columns read with an explicit dtype (pandas refuses these) -----------------------

local tmp = T.mktempdir("lunet_hostile_dtypes_")
local function csv(text, dtype)
  local p = tmp .. "/c.csv"
  return function()
    T.write_file(p, "a,b\n" .. text .. "\n")
    return list(ln.io.read_csv(p, {dtype = dtype}))
  end
end
local at = "read_csv: " .. tmp .. "/c.csv: line 2, column "

R.run(T, "read_csv dtype", {
  {"1.5 as int32 (read as 1 before)", csv("1.5,2", "int32"), err(at .. "1 ('a'): '1.5' does not fit in int32")},
  {"300 as uint8", csv("1,300", "uint8"), err(at .. "2 ('b'): '300' does not fit in uint8")},
  {"-1 as uint8", csv("-1,0", "uint8"), err(at .. "1 ('a'): '-1' does not fit in uint8")},
  {"2^31 as int32", csv("2147483648,0", "int32"), err(at .. "1 ('a'): '2147483648' does not fit in int32")},
  {"nan as int32", csv("nan,0", "int32"), err(at .. "1 ('a'): 'nan' does not fit in int32")},
  {"inf as uint8", csv("0,inf", "uint8"), err(at .. "2 ('b'): 'inf' does not fit in uint8")},
  {"an empty field as int32", csv("1,", "int32"), err(at .. "2 ('b'): '' is not a number")},
  {"int32 limits", csv("2147483647,-2147483648", "int32"), eq("2147483647 -2147483648")},
  {"1e3 as int32 is 1000", csv("1e3,7", "int32"), eq("1000 7")},
  {"255 as uint8", csv("255,0", "uint8"), eq("255 0")},
})
os.execute("rm -rf '" .. tmp .. "'")

T.summary("hostile dtype")
