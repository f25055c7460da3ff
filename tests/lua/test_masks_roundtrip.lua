-- Masks survive files (issue 19, Keras 2 layout): models with Masking
-- (`mask_value`) and Embedding (`mask_zero`) save and load (HDF5 and JSON,
-- Sequential and functional) and predict and score bitwise the same; a
-- tf.keras 2-written JSON config with those keys loads with its masks on;
-- a layer plugin built for ABI 2.1 (before compute_mask) still loads under
-- 2.2 and drops masks. Run as `lunet test_masks_roundtrip.lua` (via ctest
-- for the plugin directory).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
function T.ok(c, what) if not c then error(what or "check failed", 2) end end
local function maxdiff(a, b) return (a - b):abs():max() end

local X = ln.tensor{{1, 2, 3, 0, 0, 0}, {4, 5, 6, 7, 1, 2}, {3, 4, 5, 0, 0, 0}}
local tmp = T.mktempdir("lunet_masks_")

local function same_model(a, b, x, y)
  T.ok(maxdiff(a:predict(x), b:predict(x)) == 0, "predictions differ")
  for _, m in ipairs{a, b} do m:compile{loss = "mse", optimizer = "sgd"} end
  local la = a:evaluate(x, y, {batch_size = 3, verbose = 0})
  local lb = b:evaluate(x, y, {batch_size = 3, verbose = 0})
  T.ok(la == lb, ("losses %.9g and %.9g"):format(la, lb))
end

local function sequential_emb()
  ln.random.seed(31)
  return ln.Sequential{ln.layers.Embedding{9, 3, mask_zero = true, input_shape = {6}},
                       ln.layers.LSTM{4, return_sequences = true}, ln.layers.Dense{2}}
end

T.test("Sequential Embedding(mask_zero) -> LSTM -> Dense: HDF5 round trip, mask_zero in the config", function()
  local m = sequential_emb()
  local path = tmp .. "/emb.h5"
  m:save(path)
  local cfg = m:to_json()
  T.ok(cfg:find('"mask_zero": true', 1, true), "no mask_zero in " .. cfg:sub(1, 300))
  local m2 = ln.models.load_model(path)
  T.ok(m2:get_layer("embedding"):get_config().mask_zero == true, "mask_zero lost")
  same_model(m, m2, X, ln.randn(3, 6, 2))
  -- the masked loss is in force after loading: targets at padded steps do not count
  local y = ln.randn(3, 6, 2)
  local y2 = y:clone()
  y2[{1, 5, 1}] = 50
  m2:compile{loss = "mse", optimizer = "sgd"}
  T.ok(m2:evaluate(X, y, {verbose = 0}) == m2:evaluate(X, y2, {verbose = 0}))
end)

T.test("functional Masking(mask_value = -1) -> GRU: HDF5 and JSON round trips", function()
  ln.random.seed(32)
  local inp = ln.Input{shape = {5, 2}}
  local h = ln.layers.Masking{mask_value = -1}(inp)
  h = ln.layers.GRU{3, return_sequences = true}(h)
  local m = ln.Model{inputs = inp, outputs = ln.layers.Dense{2}(h)}
  local x = ln.randn(3, 5, 2)
  for t = 4, 5 do x[{1, t, 1}] = -1; x[{1, t, 2}] = -1 end
  local path = tmp .. "/masking.h5"
  m:save(path)
  local m2 = ln.models.load_model(path)
  same_model(m, m2, x, ln.randn(3, 5, 2))
  local js = m:to_json()
  T.ok(js:find('"mask_value": -1', 1, true), "no mask_value in the JSON")
  local m3 = ln.models.model_from_json(js)
  m3:set_weights(m:get_weights())
  T.ok(maxdiff(m:predict(x), m3:predict(x)) == 0)
end)

T.test("a tf.keras 2-written config with Masking and Embedding(mask_zero) loads with masks on", function()
  -- as tf.keras 2.4's model.to_json() writes them (every key)
  local js = [[{"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 2], "dtype": "float32",
      "sparse": false, "ragged": false, "name": "masking_input"}},
    {"class_name": "Masking", "config": {"name": "masking", "trainable": true,
      "batch_input_shape": [null, 4, 2], "dtype": "float32", "mask_value": 0.0}},
    {"class_name": "SimpleRNN", "config": {"name": "simple_rnn", "trainable": true, "dtype": "float32",
      "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false,
      "unroll": false, "time_major": false, "units": 3, "activation": "tanh", "use_bias": true,
      "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
      "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}},
      "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null,
      "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
      "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null,
      "dropout": 0.0, "recurrent_dropout": 0.0}}]}, "keras_version": "2.4.0", "backend": "tensorflow"}]]
  local m = ln.models.model_from_json(js)
  local short = ln.Sequential{ln.layers.SimpleRNN{3, input_shape = {2, 2}}}
  short:set_weights(m:get_weights())
  local xt = ln.randn(1, 2, 2)
  local xp = xt:cat(ln.zeros{1, 2, 2}, 2)
  T.ok(maxdiff(m:predict(xp), short:predict(xt)) < 1e-6, "the Masking of the file is not in force")
  local js2 = js:gsub('{"class_name": "Masking".-}},', "")
  local nomask = ln.models.model_from_json(js2)
  nomask:set_weights(m:get_weights())
  T.ok(maxdiff(nomask:predict(xp), short:predict(xt)) > 1e-4, "padding without Masking changes nothing")
end)

T.test("a layer plugin built for ABI 2.1 loads under 2.2 and drops masks", function()
  local dir = os.getenv("LUNET_TEST_PLUGIN_DIR")
  if not dir then error("LUNET_TEST_PLUGIN_DIR not set (run through ctest)") end
  ln.load_plugin(dir .. "/old_minor_layer.so")
  ln.random.seed(33)
  local m = ln.Sequential{ln.layers.Masking{input_shape = {4, 2}}, ln.layers.TpOldIdentity{},
                          ln.layers.LSTM{3}}
  local plain = ln.Sequential{ln.layers.LSTM{3, input_shape = {4, 2}}}
  plain:set_weights(m:get_weights())
  local x = ln.randn(2, 2, 2):cat(ln.zeros{2, 2, 2}, 2)
  -- the mask stops at the 2.1 layer: the LSTM runs over every step
  T.ok(maxdiff(m:predict(x), plain:predict(x)) == 0, "the mask crossed a 2.1 layer")
  local masked = ln.Sequential{ln.layers.Masking{input_shape = {4, 2}}, ln.layers.LSTM{3}}
  masked:set_weights(m:get_weights())
  T.ok(maxdiff(masked:predict(x), plain:predict(x)) > 1e-4)
end)

os.execute("rm -rf '" .. tmp .. "'")
os.exit(T.summary("masks_roundtrip"))
