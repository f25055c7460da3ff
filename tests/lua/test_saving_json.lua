-- JSON through libjansson (h5.json_encode / json_decode): the mapping
-- to Lua values, key order, exact numbers, nulls, empty arrays, errors.
-- Run as `lunet test_saving_json.lua` (cwd tests/lua).
local ln = require "lunet"
local h5 = require "lunet.h5"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises_as

local enc, dec, null = h5.json_encode, h5.json_decode, h5.json_null

test("scalars and Python's separators", function()
  eq(enc(true), "true")
  eq(enc(3), "3")
  eq(enc(-7), "-7")
  eq(enc(1.0), "1.0")
  eq(enc(0.5), "0.5")
  eq(enc("a\"b\n"), [["a\"b\n"]])
  eq(enc(null), "null")
  eq(enc(nil), "null")
  eq(enc({1, 2, {3}}), "[1, 2, [3]]")
  eq(enc({a = 1, b = {c = false}}), '{"a": 1, "b": {"c": false}}')
end)

test("reals read back bit for bit, with the fewest digits", function()
  eq(enc(0.1), "0.1")
  eq(enc(1e-7), "1e-7")
  eq(enc(0.001), "0.001")
  eq(enc(0.9), "0.9")
  for _, v in ipairs({0.1 + 0.2, 1 / 3, math.pi, 2 ^ -40, 1e300, -123.456e-7, 5e-324}) do
    local back = dec(enc(v))
    eq(back, v, "round trip of " .. string.format("%.17g", v))
    eq(math.type(back), "float")
  end
  eq(enc(0.1 + 0.2), "0.30000000000000004")
end)

test("integers stay integers, reals stay reals", function()
  local t = dec('{"units": 300, "rate": 0.2, "scale": 1.0, "big": 9007199254740993}')
  eq(math.type(t.units), "integer")
  eq(math.type(t.scale), "float")
  eq(t.scale, 1.0)
  eq(t.big, 9007199254740993)
  eq(math.type(t.big), "integer")
end)

test("null, empty containers and arrays keep their kind", function()
  local t = dec('{"seed": null, "layers": [], "config": {}, "shape": [null, 784]}')
  eq(t.seed, null)
  eq(#t.layers, 0)
  eq(t.shape[1], null)
  eq(t.shape[2], 784)
  eq(enc(t), '{"config": {}, "layers": [], "seed": null, "shape": [null, 784]}')
  eq(enc(h5.json_array({})), "[]")
  eq(enc({}), "{}")
  eq(enc(h5.json_array()), "[]")
end)

test("keys: __jsonorder first, then sorted -- never hash order", function()
  local t = setmetatable({z = 1, a = 2, m = 3, b = 4}, {__jsonorder = {"m", "z", "missing"}})
  eq(enc(t), '{"m": 3, "z": 1, "a": 2, "b": 4}')
  local big = {}
  for i = 1, 50 do big["k" .. i] = i end
  local s = enc(big)
  eq(s, enc(big), "stable")
  local keys = {}
  for k in s:gmatch('"(k%d+)"') do keys[#keys + 1] = k end
  for i = 2, #keys do assert(keys[i - 1] < keys[i], "sorted keys") end
end)

test("decoding preserves the text's key order on re-encoding through tables", function()
  local t = dec('{"class_name": "Dense", "config": {"units": 3}}')
  eq(t.class_name, "Dense")
  eq(t.config.units, 3)
end)

test("indentation and ASCII escaping", function()
  eq(enc({a = {1}}, {indent = 2}), '{\n  "a": [\n    1\n  ]\n}')
  eq(enc("é"):lower(), '"\\u00e9"')
  eq(enc("é", {ascii = false}), '"é"')
  eq(dec('"\\u00e9"'), "é")
end)

test("what JSON cannot hold is refused with where it is", function()
  raises(function() enc({a = {b = {print}}}) end, "value.a.b[1]: cannot write a function")
  raises(function() enc({1, 2, x = 3}) end, "mixes list entries and keys")
  raises(function() enc({x = 0 / 0}) end, "NaN")
  raises(function() enc({x = math.huge}) end, "infinities")
  raises(function() enc("\xff\xfe") end, "not valid UTF-8")
  local t = {}
  t.self = t
  raises(function() enc(t) end, "nested too deep")
end)

test("bad text is refused with the line, the column and the name given", function()
  raises(function() dec('{"a": 1,\n "b": }', "m.h5: model_config") end, "m.h5: model_config")
  raises(function() dec('{"a": 1,\n "b": }') end, "line 2")
  raises(function() dec('{"a": 1, "a": 2}') end, "duplicate")
  raises(function() dec('') end, "invalid JSON")
  raises(function() dec('[1, 2') end, "invalid JSON")
  raises(function() dec('{"x": NaN}') end, "invalid JSON")
end)

test("a Keras config round-trips", function()
  local text = '{"class_name": "Sequential", "config": {"name": "sequential", "layers": ' ..
    '[{"class_name": "Dense", "config": {"kernel_initializer": {"class_name": ' ..
    '"VarianceScaling", "config": {"distribution": "uniform", "scale": 1.0, "seed": null, ' ..
    '"mode": "fan_avg"}}, "units": 512, "batch_input_shape": [null, 784]}}]}}'
  local t = dec(text)
  local again = dec(enc(t))
  eq(enc(again), enc(t))
  eq(again.config.layers[1].config.kernel_initializer.config.seed, null)
  eq(again.config.layers[1].config.batch_input_shape[2], 784)
end)

T.summary()
