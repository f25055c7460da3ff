-- Hostile files (issue 11): missing, unreadable, foreign, truncated and
-- corrupt files; model files naming plugin units that are not installed;
-- headers claiming huge sizes; a full disk (the file-size limit) during a
-- save. Each gives a catchable Lua error naming the file and the reason,
-- never a crash, and a failed save leaves the previous file as it was.
local ln = require "lunet"
local h5 = require "lunet.h5"
local H = dofile("data/hostile.lua")
local test, raises = H.test, H.raises

ln.random.seed(5)

local function small_model()
  return ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "relu"},
                       ln.layers.Dense{2, activation = "softmax"}}
end

local function weights_text(m)
  local parts = {}
  for i, w in ipairs(m:get_weights()) do parts[i] = table.concat(w:flatten():totable(), ",") end
  return table.concat(parts, ";")
end

-- ---- missing and unreadable files ------------------------------------------------------

test("missing files are named with the reason by every reader", function()
  local missing = H.tmp("no_such_file")
  for _, case in ipairs{
    {"read_idx", function() return ln.io.read_idx(missing) end},
    {"load_npy", function() return ln.io.load_npy(missing) end},
    {"read_csv", function() return ln.io.read_csv(missing) end},
    {"read_h5", function() return ln.io.read_h5(missing, "/x") end},
    {"load_model", function() return ln.models.load_model(missing) end},
    {"load_weights", function() return small_model():load_weights(missing) end},
    {"load_plugin", function() return ln.load_plugin(missing) end},
  } do
    local err = raises(case[2], case[1], missing)
    H.check(err:find("No such file", 1, true) or err:find("cannot open", 1, true),
            "%s: no reason given: %s", case[1], err)
  end
  raises(function() return ln.datasets.fashion_mnist.load_data(missing) end, missing)
end)

test("a folder where a file should be is refused by every reader", function()
  local dir = H.tmp("a_folder")
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  raises(function() return ln.io.read_idx(dir) end, "read_idx", dir)
  raises(function() return ln.io.load_npy(dir) end, "load_npy", dir)
  raises(function() return ln.io.read_csv(dir) end, "read_csv", dir)
  raises(function() return ln.io.read_h5(dir, "/x") end, "read_h5", dir)
  raises(function() return ln.models.load_model(dir) end, "load_model", dir)
end)

test("unreadable files (no read permission) are refused", function()
  local p = H.tmp("secret.npy")
  ln.io.save_npy(p, ln.zeros(3))
  os.execute("chmod 000 '" .. p .. "'")
  local f = io.open(p, "rb")
  if f then -- root reads anything: nothing to test here
    f:close()
    print("note: running as root, permission row not applicable")
    return
  end
  raises(function() return ln.io.load_npy(p) end, "load_npy", p, "Permission denied")
  raises(function() return ln.models.load_model(p) end, "load_model", p)
end)

-- ---- foreign, truncated and corrupt model files --------------------------------------------

test("empty, foreign, truncated and corrupt model files are refused by name", function()
  local m = small_model()
  local good = H.tmp("good.h5")
  m:save(good)
  local bytes = H.read(good)
  local cases = {
    {"empty.h5", ""},
    {"png.h5", "\137PNG\r\n\26\n" .. string.rep("\0", 64)},
    {"text.h5", "just some text, not a model\n"},
    {"half.h5", bytes:sub(1, #bytes // 2)},
    {"head.h5", bytes:sub(1, 600)},
    {"flipped.h5", bytes:sub(1, 2000) .. string.rep("\255", 512) .. bytes:sub(2513)},
  }
  for _, c in ipairs(cases) do
    local p = H.tmp(c[1])
    H.write(p, c[2])
    local ok, err = pcall(ln.models.load_model, p)
    if ok then
      -- a corruption HDF5 does not notice must still give a sound model
      H.eq(err:predict(ln.rand(2, 4)):size(2), 2, c[1] .. " loaded: output width")
    else
      err = tostring(err)
      H.check(err:find("load_model", 1, true) and err:find(p, 1, true),
              "%s: message lacks the function or the file: %s", c[1], err)
      H.check(not err:find("attempt to ", 1, true), "%s: Lua runtime error: %s", c[1], err)
    end
    local m2 = small_model()
    local before = weights_text(m2)
    ok, err = pcall(m2.load_weights, m2, p)
    if not ok then H.eq(weights_text(m2), before, c[1] .. ": weights after a failed load") end
  end
end)

-- ---- model files naming units that are not installed -----------------------------------------

-- A model file written with the HDF5 binding: the given model config and
-- root attributes, and the weights of `m`.
local function write_model_file(path, config_text, units, m)
  local f = h5.files.h5_create(path)
  f:set_attr("/", "model_config", config_text)
  f:set_attr("/", "keras_version", "2.4.0")
  f:set_attr("/", "backend", "tensorflow")
  if units then f:set_attr("/", "lunet_units", units) end
  f:group("model_weights")
  local names = {}
  for i, l in ipairs(m.layers) do
    names[i] = l.name
    local wn = {}
    for j, v in ipairs(l.variables) do
      wn[j] = v.name
      f:write("model_weights/" .. l.name .. "/" .. v.name, v.value)
    end
    f:set_attr("model_weights/" .. l.name, "weight_names", wn)
  end
  f:set_attr("model_weights", "layer_names", names)
  f:commit()
end

test("a model file naming a plugin unit that is not installed is refused naming it", function()
  local m = small_model()
  local config = m:to_json()
  local p = H.tmp("unknown_unit.h5")
  write_model_file(p, config, {"layer/dense@1", "layer/conv9d@1", "activation/relu@1"}, m)
  raises(function() return ln.models.load_model(p) end, "load_model", p, "conv9d")
  -- a Keras file (no lunet_units) whose config names a class no plugin has
  local keras = config:gsub('"class_name": "Dense"', '"class_name": "Conv9D"', 1)
  p = H.tmp("unknown_class.h5")
  write_model_file(p, keras, nil, m)
  raises(function() return ln.models.load_model(p) end, "load_model", p, "Conv9D")
  -- a unit version newer than the installed plugin
  p = H.tmp("newer_unit.h5")
  write_model_file(p, config, {"layer/dense@99"}, m)
  raises(function() return ln.models.load_model(p) end, "load_model", "dense", "99")
  -- a file from a newer lunet file format
  p = H.tmp("newer_format.h5")
  local f = h5.files.h5_create(p)
  f:set_attr("/", "model_config", config)
  f:set_attr("/", "lunet_format_version", "999")
  f:commit()
  raises(function() return ln.models.load_model(p) end, "load_model", "999")
end)

-- ---- headers claiming huge sizes -------------------------------------------------------------------

-- Run code in a child whose address space is capped at ~2 GB (under ASan,
-- whose allocator returns NULL above its limit, uncapped): a reader that
-- believed a huge header would fail to allocate instead of refusing.
local function in_small_child(code)
  local rc, out = H.child(code, {ulimit = not H.asan() and "ulimit -v 2000000" or nil})
  H.eq(rc, 0, "child exit code (output: " .. out .. ")")
  return out
end

test("IDX and NPY headers claiming huge sizes are refused before allocating", function()
  local idx = H.tmp("huge.idx")
  H.write(idx, string.pack(">BBBBI4I4I4I4", 0, 0, 8, 4, 1000, 1000, 1000, 3) .. "abcdef")
  local hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
  hdr = hdr .. string.rep(" ", (64 - (10 + #hdr + 1) % 64) % 64) .. "\n"
  local npy = H.tmp("huge.npy")
  H.write(npy, "\147NUMPY\1\0" .. string.pack("<I2", #hdr) .. hdr .. string.rep("\0", 16))
  local mid = H.tmp("mid.npy") -- 1 GB claimed, 16 bytes present
  local hdr2 = "{'descr': '<f4', 'fortran_order': False, 'shape': (16384, 16384), }"
  hdr2 = hdr2 .. string.rep(" ", (64 - (10 + #hdr2 + 1) % 64) % 64) .. "\n"
  H.write(mid, "\147NUMPY\1\0" .. string.pack("<I2", #hdr2) .. hdr2 .. string.rep("\0", 16))
  local out = in_small_child(string.format([[
    local ln = require "lunet"
    for _, f in ipairs{function() return ln.io.read_idx(%q) end,
                       function() return ln.io.load_npy(%q) end,
                       function() return ln.io.load_npy(%q) end} do
      local ok, err = pcall(f)
      print(ok, err)
    end
  ]], idx, npy, mid))
  H.check(not out:find("true", 1, true), "a huge claim was accepted: %s", out)
  H.check(not out:find("cannot allocate", 1, true) and not out:find("out of memory", 1, true),
          "a reader tried to allocate what the header claims: %s", out)
  H.check(out:find("read_idx", 1, true) and out:find("load_npy", 1, true), "messages: %s", out)
end)

test("an HDF5 dataset claiming more than the reader's limit is refused before allocating", function()
  if os.execute("/usr/bin/python3 -c 'import h5py' 2>/dev/null") ~= true then
    H.skip("h5py not available under /usr/bin/python3: HDF5 huge-claim row not run")
    return
  end
  local p = H.tmp("huge.h5")
  -- chunked and never written: a few KB on disk for 4 TB claimed
  local script = H.tmp("mk.py")
  H.write(script, string.format([[
import h5py
with h5py.File(%q, "w") as f:
    f.create_dataset("x", shape=(1000000, 1000000), dtype="f4", chunks=(16, 16))
]], p))
  assert(os.execute("/usr/bin/python3 '" .. script .. "'"))
  local out = in_small_child(string.format([[
    local ln = require "lunet"
    print(pcall(ln.io.read_h5, %q, "/x"))
  ]], p))
  H.check(out:find("false", 1, true) and out:find("limit", 1, true),
          "not refused by the size limit: %s", out)
end)

test("a model file whose config claims huge layers fails cleanly", function()
  local m = small_model()
  local p = H.tmp("huge_layers.h5")
  -- Dense(100000) on 100000 inputs: 40 GB of weights claimed by a tiny file
  local config = m:to_json():gsub('"batch_input_shape": %[null, 4%]', '"batch_input_shape": [null, 100000]')
                            :gsub('"units": 3', '"units": 100000')
  write_model_file(p, config, nil, m)
  local out = in_small_child(string.format([[
    local ln = require "lunet"
    local ok, err = pcall(ln.models.load_model, %q)
    print(ok, err)
  ]], p))
  H.check(out:find("false\t[^\n]-child_%d+%.lua:%d+: load_model"), "not a clean refusal: %s", out)
end)

-- ---- a full disk ---------------------------------------------------------------------------------------

test("a save that cannot complete (file-size limit) raises and leaves the previous file intact", function()
  local dir = H.tmp("fsize")
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  local model_path, weights_path, npy_path = dir .. "/m.h5", dir .. "/w.h5", dir .. "/t.npy"
  local m = small_model()
  m:save(model_path)
  m:save_weights(weights_path)
  ln.io.save_npy(npy_path, ln.rand(3, 3))
  local before = {H.read(model_path), H.read(weights_path), H.read(npy_path)}
  local listing = table.concat(H.listdir(dir), " ")
  -- the child writes much more than the limit allows (RLIMIT_FSIZE: the
  -- library ignores SIGXFSZ, so write() fails with EFBIG)
  local rc, out = H.child(string.format([[
    local ln = require "lunet"
    local big = ln.Sequential{ln.layers.Dense{300, input_shape = {200}}, ln.layers.Dense{2}}
    for _, f in ipairs{function() big:save(%q) end,
                       function() big:save_weights(%q) end,
                       function() ln.io.save_npy(%q, ln.rand(300, 300)) end} do
      local ok, err = pcall(f)
      print(ok, err)
    end
    print("done")
  ]], model_path, weights_path, npy_path), {ulimit = "ulimit -f 64"})
  H.eq(rc, 0, "child exit code (output: " .. out .. ")")
  H.check(out:find("done", 1, true), "the child did not get to the end: %s", out)
  H.check(not out:find("true", 1, true), "a save succeeded past the limit: %s", out)
  for _, what in ipairs{"save:", "save_weights:", "save_npy:"} do
    H.check(out:find(what, 1, true), "no error from %s: %s", what, out)
  end
  H.check(out:find("too large", 1, true) or out:find("File too large", 1, true),
          "the reason (EFBIG) is not given: %s", out)
  H.eq(H.read(model_path), before[1], "model file after the failed save")
  H.eq(H.read(weights_path), before[2], "weights file after the failed save")
  H.eq(H.read(npy_path), before[3], "npy file after the failed save")
  H.eq(table.concat(H.listdir(dir), " "), listing, "files in the folder (temporary files left?)")
  local again = ln.models.load_model(model_path)
  H.eq(weights_text(again), weights_text(m), "weights of the previous file")
end)

H.finish()
