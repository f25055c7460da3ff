--[[ make_corpus_h5model.lua -- the seed corpus of fuzz_h5model
(tests/fuzz/corpus/h5model/), made with lunet itself:

  build/bin/lunet tests/fuzz/make_corpus_h5model.lua

Each seed is a mode byte and bytes (see fuzz_h5model.lua): model JSON
texts (mode 0), whole model and weights files written by model:save and
save_weights (mode 1), and part-by-part file descriptions (mode 2). The
models are small and cover every layer class with weights or options that
the loader maps. Deterministic apart from HDF5's own bytes. ]]
local ln = require "lunet"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local dir = here .. "/corpus/h5model"
os.execute("mkdir -p '" .. dir .. "'")

local function put(name, mode, bytes)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(string.char(mode), bytes)
  f:close()
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local L = ln.layers
local models = {
  dense = function()
    return ln.Sequential{L.Dense{3, input_shape = {4}, activation = "relu"},
                         L.Dense{2, activation = "softmax"}}
  end,
  bn = function()
    return ln.Sequential{L.Flatten{input_shape = {2, 2}}, L.BatchNormalization{},
                         L.Dense{2, kernel_initializer = "he_normal",
                                 kernel_regularizer = ln.regularizers.l2(0.01)}}
  end,
  activations = function()
    return ln.Sequential{L.Dense{4, input_shape = {3}}, L.LeakyReLU{alpha = 0.2},
                         L.PReLU{}, L.ELU{}, L.ReLU{max_value = 6},
                         L.ThresholdedReLU{}, L.Softmax{}}
  end,
  noise = function()
    return ln.Sequential{L.Dense{3, input_shape = {2}, use_bias = false},
                         L.Dropout{0.5}, L.AlphaDropout{0.1}, L.GaussianNoise{0.1},
                         L.GaussianDropout{0.2}, L.Activation{"tanh"}}
  end,
  fixed = function() -- the shape of fuzz_h5model.lua's fixed model
    return ln.Sequential{L.Dense{3, input_shape = {4}, name = "fixed_dense"},
                         L.BatchNormalization{name = "fixed_bn"},
                         L.Dense{2, activation = "softmax", name = "fixed_out"}}
  end,
  unbuilt = function()
    return ln.Sequential{L.Dense{2}, L.Dense{1, activation = "sigmoid"}}
  end,
}

local tmp = os.tmpname()
local names = {}
for name in pairs(models) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  ln.backend.clear_session()
  local m = models[name]()
  put("json_" .. name, 0, m:to_json())
  if m:_is_built() then
    m:save(tmp)
    put("file_" .. name, 1, slurp(tmp))
    m:save_weights(tmp)
    put("weights_" .. name, 1, slurp(tmp))
  end
end

-- a compiled model: training_config and optimizer state in the file
ln.backend.clear_session()
local m = models.dense()
local ok = pcall(function()
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
  m:fit(ln.rand(8, 4), ln.tensor({0, 1, 0, 1, 1, 0, 0, 1}, "int32"), {epochs = 1, verbose = 0})
end)
if ok then
  m:save(tmp)
  put("file_compiled", 1, slurp(tmp))
end
os.remove(tmp)

-- Keras 2's older forms the loader accepts
put("json_keras_list_form", 0, [[{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [null, 3], "activation": "linear"}}]}]])
put("json_functional", 0, [==[{"class_name": "Functional", "config": {"name": "f", "layers": [{"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 3], "name": "in"}, "inbound_nodes": []}, {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2}, "inbound_nodes": [[["in", 0, 0, {}]]]}], "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}}]==])
put("json_unknown_class", 0, [[{"class_name": "Sequential", "config": {"layers": [{"class_name": "Conv9D", "config": {"name": "c"}}]}}]])

-- part-by-part files (mode 2)
ln.backend.clear_session()
local d = models.dense()
local parts = {d:to_json(), "", "layer/dense@1,initializer/glorot_uniform@1",
               "dense|kernel:0,bias:0|4x3;3", "dense_1|kernel:0,bias:0|3x2;2"}
put("parts_dense", 2, table.concat(parts, "\n--\n"))
parts[4] = "dense|kernel:0,bias:0|3x4;3"
put("parts_wrong_shape", 2, table.concat(parts, "\n--\n"))
parts[3] = "layer/dense@99,layer/conv9d@1"
put("parts_unknown_units", 2, table.concat(parts, "\n--\n"))
parts = {d:to_json(), [[{"loss": "mse", "optimizer_config": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}}, "metrics": []}]], "",
         "dense|kernel:0,bias:0|4x3;3", "dense_1|kernel:0,bias:0|3x2;2",
         "optimizer|SGD/iter:0,SGD/dense/kernel/momentum:0,SGD/dense/bias/momentum:0,SGD/dense_1/kernel/momentum:0,SGD/dense_1/bias/momentum:0|;4x3;3;3x2;2"}
put("parts_optimizer", 2, table.concat(parts, "\n--\n"))
print("h5model seeds written to " .. dir)
