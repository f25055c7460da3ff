-- Model files: save / load_model / save_weights / load_weights / to_json
-- round trips, the Keras 2 layout as h5py sees it, refusals of corrupt,
-- truncated, foreign, newer-format and unknown-unit files (naming the
-- file), and atomic saving (a failed save leaves the previous file).
-- Training state and exact resume: test_saving_resume.lua.
-- Run as `lunet test_saving.lua` (cwd tests/lua).
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises_as

local PY = "/usr/bin/python3"
local TMP = T.mktempdir("lunet_saving_")
local function tmp(name) return TMP .. "/" .. name end

local function slurp(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local spit = T.write_file
-- Entries of the temporary folder (to see that no temporary file stays).
local function entries()
  local p = io.popen("ls -A " .. TMP)
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end
-- Run a Python snippet over a file; its output lines.
local function python(code, file)
  local script = tmp("check.py")
  spit(script, code)
  local p = io.popen(string.format("%s %s %s 2>&1", PY, script, file))
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  local ok = p:close()
  assert(ok, "python failed: " .. table.concat(out, " / "))
  return out
end

local function same_tensor(a, b, what)
  eq(table.concat(a:shape(), "x"), table.concat(b:shape(), "x"), (what or "") .. " shape")
  local d = (a - b):abs():max()
  d = type(d) == "number" and d or d:item()
  eq(d, 0, (what or "") .. " values")
end

-- A model touching every kind of saved thing: BN moving statistics, a
-- frozen layer, a non-default initializer with arguments, a regularizer,
-- layers without weights.
local function sample_model()
  ln.random.seed(7)
  local m = ln.Sequential({
    ln.layers.Flatten{input_shape = {4, 5}},
    ln.layers.Dense{12, activation = "relu", kernel_initializer = "he_normal",
                    kernel_regularizer = {l2 = 0.01}},
    ln.layers.BatchNormalization{momentum = 0.9},
    ln.layers.LeakyReLU{alpha = 0.2},
    ln.layers.Dropout{0.25},
    ln.layers.Dense{3, activation = "softmax",
                    kernel_initializer = ln.initializers.VarianceScaling{scale = 2, mode = "fan_avg",
                                                                        distribution = "uniform"}},
  }, "sample")
  -- non-trivial BN statistics
  local bn = m.layers[3]
  bn:set_weights({ln.rand(12) + 0.5, ln.rand(12) - 0.5, ln.randn(12), ln.rand(12) + 0.1})
  m.layers[2].trainable = false
  return m
end

local X = (function() ln.random.seed(3); return ln.randn(16, 4, 5) end)()

-- ---- round trips -------------------------------------------------------------------------

test("save / load_model: architecture, names, flags and weights", function()
  local m = sample_model()
  local path = tmp("model.h5")
  m:save(path)
  eq(entries(), 1, "no temporary file left")
  local back = ln.models.load_model(path)
  eq(back.name, "sample")
  eq(#back.layers, #m.layers)
  for i, l in ipairs(m.layers) do
    eq(back.layers[i].name, l.name, "layer name")
    eq(back.layers[i].class_name, l.class_name, "layer class")
    eq(back.layers[i].trainable, l.trainable, "trainable of " .. l.name)
  end
  eq(back.input_shape[1], 4)
  eq(back.input_shape[2], 5)
  local cfg = back.layers[2]:get_config()
  eq(cfg.kernel_initializer, "he_normal")
  eq(cfg.activation, "relu")
  eq(back.layers[3]:get_config().momentum, 0.9)
  eq(back.layers[4]:get_config().alpha, 0.2)
  eq(back.layers[5]:get_config().rate, 0.25)
  local ki = back.layers[6]:get_config().kernel_initializer
  eq(ki.name, "variance_scaling")
  eq(ki.scale, 2)
  eq(ki.mode, "fan_avg")
  eq(back.layers[2]:regularization_loss(), m.layers[2]:regularization_loss(), "l2 penalty")
  local a, b = m:get_weights(), back:get_weights()
  eq(#b, #a)
  for i = 1, #a do same_tensor(b[i], a[i], "weight " .. i) end
  same_tensor(back:predict(X), m:predict(X), "predictions")
  eq(back:to_json(), m:to_json(), "configs")
end)

test("save_weights / load_weights, by order and by name", function()
  local m = sample_model()
  local path = tmp("weights.h5")
  m:save_weights(path)
  ln.random.seed(99)
  local other = ln.models.clone_model(m)
  other:load_weights(path)
  same_tensor(other:predict(X), m:predict(X), "predictions")
  -- a whole-model file also gives its weights
  m:save(tmp("whole.h5"))
  local third = ln.models.clone_model(m)
  third:load_weights(tmp("whole.h5"))
  same_tensor(third:predict(X), m:predict(X), "from a model file")
  -- by name: only layers whose names match take weights
  local part = ln.Sequential{ln.layers.Flatten{input_shape = {4, 5}},
                             ln.layers.Dense{12, name = "nope"},
                             ln.layers.Dense{3, name = m.layers[6].name}}
  local before = part.layers[2]:get_weights()[1]
  part:load_weights(path, {by_name = true})
  same_tensor(part.layers[3]:get_weights()[1], m.layers[6]:get_weights()[1], "matched by name")
  same_tensor(part.layers[2]:get_weights()[1], before, "unmatched stays")
end)

test("load_weights refuses what does not fit, leaving the model unchanged", function()
  local m = sample_model()
  local path = tmp("weights.h5")
  m:save_weights(path)
  local wider = ln.Sequential{ln.layers.Flatten{input_shape = {4, 5}}, ln.layers.Dense{12},
                              ln.layers.BatchNormalization{}, ln.layers.Dense{4}}
  local keep = wider:get_weights()
  raises(function() wider:load_weights(path) end, {path, "dense", "(12, 3)", "(12, 4)"})
  local now = wider:get_weights()
  for i = 1, #keep do same_tensor(now[i], keep[i], "unchanged " .. i) end
  local fewer = ln.Sequential{ln.layers.Dense{3, input_shape = {20}}}
  raises(function() fewer:load_weights(path) end, {path, "3 layers", "1 layers"})
  local unbuilt = ln.Sequential{ln.layers.Dense{3}}
  raises(function() unbuilt:load_weights(path) end, {path, "not built"})
end)

test("to_json / model_from_json", function()
  local m = sample_model()
  local s = m:to_json()
  local t = ln.h5.json_decode(s)
  eq(t.class_name, "Sequential")
  eq(t.keras_version, "2.4.0")
  eq(t.config.layers[1].class_name, "InputLayer")
  eq(t.config.layers[1].config.batch_input_shape[2], 4)
  eq(t.config.layers[3].config.kernel_initializer.class_name, "HeNormal")
  eq(t.config.layers[3].config.kernel_regularizer.class_name, "L2")
  eq(t.config.layers[3].config.kernel_regularizer.config.l2, 0.01)
  eq(t.config.layers[3].config.trainable, false)
  eq(t.config.layers[3].config.bias_constraint, ln.h5.json_null)
  local back = ln.models.model_from_json(s)
  eq(back:to_json(), s)
  eq(back:count_params(), m:count_params())
  assert(s:find('"name": "sample"', 1, true))
  local pretty = m:to_json{indent = 2}
  assert(pretty:find('\n  "config"', 1, true), "indented")
end)

test("models that cannot be saved say why, and write nothing", function()
  local unbuilt = ln.Sequential{ln.layers.Dense{3}}
  raises(function() unbuilt:save(tmp("u.h5")) end, {tmp("u.h5"), "not built"})
  local a = ln.layers.Dense{3, input_shape = {2}, name = "twin"}
  local b = ln.layers.Dense{3, name = "twin"}
  raises(function() ln.Sequential{a, b}:save(tmp("t.h5")) end, {tmp("t.h5"), "twin"})
  eq(slurp(tmp("u.h5")), nil)
  eq(slurp(tmp("t.h5")), nil)
end)

-- ---- the Keras layout, as h5py reads it ----------------------------------------------------

test("h5py reads a saved model: config JSON, layer groups, weights", function()
  local m = sample_model()
  local path = tmp("model.h5")
  m:save(path)
  local out = python([==[
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
mc = json.loads(f.attrs["model_config"])
print(mc["class_name"], mc["config"]["name"])
print(" ".join(l["class_name"] for l in mc["config"]["layers"]))
print(f.attrs["keras_version"], f.attrs["backend"], f.attrs["lunet_format_version"])
mw = f["model_weights"]
names = [n.decode() for n in mw.attrs["layer_names"]]
print(" ".join(names))
count, total = 0, 0.0
for n in names:
    g = mw[n]
    for w in g.attrs["weight_names"]:
        d = g[w.decode()]
        assert d.dtype == "float32"
        count += d.size
        total += float(d[()].astype("float64").sum())
print(count)
print(repr(total))
print(mw[names[1]][names[1]]["kernel:0"].shape)
print(len(mw[names[0]].attrs["weight_names"]), mw[names[0]].attrs["weight_names"].dtype)
]==], path)
  eq(out[1], "Sequential sample")
  eq(out[2], "InputLayer Flatten Dense BatchNormalization LeakyReLU Dropout Dense")
  eq(out[3], "2.4.0 tensorflow 1")
  local names = {}
  for i, l in ipairs(m.layers) do names[i] = l.name end
  eq(out[4], table.concat(names, " "))
  eq(tonumber(out[5]), m:count_params(), "weights sum to count_params()")
  local total = 0
  for _, w in ipairs(m:get_weights()) do
    local flat = w:reshape({w:numel()})
    for i = 1, w:numel() do total = total + flat[i] end
  end
  assert(math.abs(tonumber(out[6]) - total) < 1e-3 * (1 + math.abs(total)),
         "weight values: h5py " .. out[6] .. ", lunet " .. total)
  eq(out[7], "(20, 12)")
  eq(out[8], "0 float64")
end)

test("h5dump reads a saved model", function()
  local path = tmp("model.h5")
  sample_model():save(path)
  local p = io.popen("h5dump -H " .. path .. " 2>&1")
  local text = p:read("a")
  local ok = p:close()
  assert(ok, "h5dump failed: " .. text)
  assert(text:find('DATASET "kernel:0"', 1, true))
  assert(text:find('ATTRIBUTE "model_config"', 1, true))
end)

-- ---- refusals ----------------------------------------------------------------------------

local function load_refused(path, extra)
  local pats = {path}
  for _, p in ipairs(extra or {}) do pats[#pats + 1] = p end
  return raises(function() ln.models.load_model(path) end, pats, "load_model " .. path)
end

test("foreign, empty and missing files are refused naming the file", function()
  spit(tmp("image.h5"), "\x89PNG\r\n\x1a\n\0\0\0\13IHDR\0\0\0\1\0\0\0\1\8\6\0\0\0")
  load_refused(tmp("image.h5"), {"not an HDF5 file", "PNG"})
  spit(tmp("empty.h5"), "")
  load_refused(tmp("empty.h5"), {"empty"})
  spit(tmp("config.json"), sample_model():to_json())
  load_refused(tmp("config.json"), {"JSON"})
  load_refused(tmp("missing.h5"), {"No such file"})
  raises(function() sample_model():load_weights(tmp("image.h5")) end, {tmp("image.h5"), "PNG"})
end)

test("truncated and corrupt model files are refused naming the file", function()
  local path = tmp("model.h5")
  sample_model():save(path)
  local good = slurp(path)
  for _, cut in ipairs({#good // 2, #good - 100, 600}) do
    spit(tmp("cut.h5"), good:sub(1, cut))
    load_refused(tmp("cut.h5"), {"truncated"})
  end
  -- damaged metadata: every B-tree / symbol-table / heap signature in turn
  local n = 0
  for _, tag in ipairs({"TREE", "SNOD", "HEAP", "GCOL"}) do
    local at = good:find(tag, 1, true)
    while at do
      spit(tmp("bad.h5"), good:sub(1, at - 1) .. "XXXX" .. good:sub(at + 4))
      load_refused(tmp("bad.h5"))
      n = n + 1
      at = good:find(tag, at + 1, true)
    end
  end
  assert(n >= 8, "signatures found: " .. n)
end)

test("HDF5 files that are not models are refused naming the file", function()
  local f = ln.h5.files.h5_create(tmp("data.h5"))
  f:write("x", ln.ones(3))
  f:commit()
  load_refused(tmp("data.h5"), {"not a Keras model file", "model_config"})
  raises(function() sample_model():load_weights(tmp("data.h5")) end, {tmp("data.h5"), "no model weights"})
  sample_model():save_weights(tmp("w.h5"))
  load_refused(tmp("w.h5"), {"weights only", "load_weights"})
  -- a model_config that is not JSON, or not a model
  f = ln.h5.files.h5_create(tmp("notjson.h5"))
  f:set_attr("/", "model_config", "{\"class_name\": \"Sequential\", ")
  f:commit()
  load_refused(tmp("notjson.h5"), {"model_config", "invalid JSON"})
  f = ln.h5.files.h5_create(tmp("notmodel.h5"))
  f:set_attr("/", "model_config", "[1, 2]")
  f:commit()
  load_refused(tmp("notmodel.h5"), {"not a Keras model config"})
end)

test("files from a newer lunet or naming unknown units are refused", function()
  local path = tmp("model.h5")
  sample_model():save(path)
  local function edit(code)
    local copy = tmp("edited.h5")
    spit(copy, slurp(path))
    python("import sys, h5py\nf = h5py.File(sys.argv[1], 'a')\n" .. code .. "\nf.close()\n", copy)
    return copy
  end
  local p = edit("f.attrs['lunet_format_version'] = '2'")
  load_refused(p, {"newer lunet", "file format 2"})
  raises(function() sample_model():load_weights(p) end, {p, "newer lunet"})
  p = edit("u = [s.decode() if isinstance(s, bytes) else s for s in f.attrs['lunet_units']]\n" ..
           "f.attrs['lunet_units'] = [s.encode() for s in u + ['layer/conv9d@1']]")
  load_refused(p, {"layer unit 'conv9d'", "no installed plugin"})
  p = edit("u = [s.decode() for s in f.attrs['lunet_units']]\n" ..
           "f.attrs['lunet_units'] = [(s.replace('@1', '@7') if s.startswith('layer/dense@') else s).encode() for s in u]")
  load_refused(p, {"layer unit 'dense' version 7", "version 1"})
  p = edit("import json\nmc = json.loads(f.attrs['model_config'])\n" ..
           "mc['config']['layers'][2]['class_name'] = 'Dense9000'\n" ..
           "f.attrs['model_config'] = json.dumps(mc)")
  load_refused(p, {"Dense9000", "no installed lunet plugin"})
end)

-- ---- atomic saving --------------------------------------------------------------------------

test("a save into a missing folder raises and creates nothing", function()
  raises(function() sample_model():save(tmp("no/such/dir/m.h5")) end,
         {tmp("no/such/dir/m.h5"), "does not exist"})
  spit(tmp("plain"), "x")
  raises(function() sample_model():save(tmp("plain/m.h5")) end, {tmp("plain/m.h5")})
  raises(function() sample_model():save(TMP) end, {"folder"})
end)

test("a failed save leaves the previous file intact", function()
  local path = tmp("keep.h5")
  local m = sample_model()
  m:save(path)
  local before = slurp(path)
  local n = entries()
  -- failing before the disk: duplicate names
  local a = ln.layers.Dense{3, input_shape = {2}, name = "twin"}
  raises(function() ln.Sequential{a, ln.layers.Dense{3, name = "twin"}}:save(path) end, path)
  eq(slurp(path), before, "unchanged after a refused save")
  -- failing on the disk: a file-size limit stands in for a full disk; the
  -- save runs in a child process that cannot write more than 64 KiB
  local lunet = arg and arg[-1] or (os.getenv("LUNET_BUILD_DIR") .. "/bin/lunet")
  local script = tmp("big_save.lua")
  spit(script, string.format([[
local ln = require "lunet"
local m = ln.Sequential{ln.layers.Dense{200, input_shape = {300}}}
local ok, err = pcall(m.save, m, %q)
io.stdout:write(ok and "saved" or err)
]], path))
  local p = io.popen(string.format("sh -c 'trap \"\" XFSZ; ulimit -f 128; exec %s %s' 2>&1",
                                   lunet, script))
  local out = p:read("a")
  p:close()
  assert(out:find(path, 1, true) and out:find("cannot write", 1, true),
         "the child's save should fail naming the file: " .. out)
  eq(slurp(path), before, "unchanged after a failed write")
  os.remove(script)
  eq(entries(), n, "no temporary file left")
  -- and a save that works replaces it whole
  local big = ln.Sequential{ln.layers.Dense{200, input_shape = {300}}}
  big:save(path)
  assert(slurp(path) ~= before)
  eq(ln.models.load_model(path):count_params(), 300 * 200 + 200)
  eq(entries(), n)
end)

test("overwrite = false keeps an existing file", function()
  local path = tmp("once.h5")
  sample_model():save(path)
  raises(function() sample_model():save(path, {overwrite = false}) end, {path, "overwrite"})
  raises(function() sample_model():save(path, {bogus = 1}) end, "bogus")
end)

os.execute("rm -rf " .. TMP)
T.summary()
