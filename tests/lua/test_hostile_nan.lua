-- NaN goes through every activation (issue 14): Dense{activation = "relu"}
-- mapped NaN to 0 in its fused path (so a NaN input never showed in the
-- loss and TerminateOnNaN never fired) and ln.activations.relu did too,
-- as did hard_sigmoid and the ELU and ThresholdedReLU layers. As in TF and
-- PyTorch, f(NaN) = NaN for every activation and activation layer; a NaN
-- input gives a NaN loss, and TerminateOnNaN stops fit in its first batch.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local eq, ok = R.eq, R.ok

local NAN = 0/0
local function isnan(v) return v ~= v end
local is_nan = ok(isnan, "the value is NaN")

-- Activations (with the arguments that change their code path).
local acts = {
  {"relu"}, {"relu", {max_value = 6}}, {"relu", {threshold = 0.5}}, {"relu", {alpha = 0.1}},
  {"relu", {alpha = 0.1, max_value = 6, threshold = 0.5}}, {"leaky_relu"}, {"elu"},
  {"selu"}, {"hard_sigmoid"}, {"sigmoid"}, {"tanh"}, {"softplus"}, {"softsign"},
  {"swish"}, {"gelu"}, {"exponential"}, {"linear"}, {"softmax"},
}
local function label(a)
  if not a[2] then return a[1] end
  local keys = {}
  for k, v in pairs(a[2]) do keys[#keys + 1] = k .. "=" .. tostring(v) end
  table.sort(keys)
  return a[1] .. "{" .. table.concat(keys, ",") .. "}"
end

local x1 = ln.tensor({{NAN, 1, -1, 2}})
local rows = {}
for _, a in ipairs(acts) do
  rows[#rows + 1] = {label(a) .. "(NaN)", function()
    local f = ln.activations[a[1]]
    return f(x1, a[2]):totable()[1][1] end, is_nan}
end
R.run(T, "activations", rows)

-- Dense with each activation (a name, or {name = ..., args}): its fused
-- epilogue (relu without alpha) and the general one.
rows = {}
for _, a in ipairs(acts) do
  local spec = a[1]
  if a[2] then
    spec = {name = a[1]}
    for k, v in pairs(a[2]) do spec[k] = v end
  end
  rows[#rows + 1] = {"Dense{activation = " .. label(a) .. "}", function()
    local d = ln.layers.Dense{3, activation = spec, kernel_initializer = "ones"}
    return d(x1):totable()[1][2] end, is_nan}
end
R.run(T, "Dense", rows)

-- Activation layers.
local layers = {
  {"ReLU", {}}, {"ReLU", {max_value = 6}}, {"ReLU", {threshold = 0.5}}, {"ReLU", {negative_slope = 0.1}},
  {"LeakyReLU", {}}, {"ELU", {}}, {"ThresholdedReLU", {}}, {"PReLU", {}}, {"Softmax", {}},
  {"Activation", {"relu"}}, {"Activation", {"hard_sigmoid"}}, {"Activation", {"elu"}},
}
rows = {}
for _, l in ipairs(layers) do
  local name = l[1] .. "{" .. (l[2][1] or next(l[2]) or "") .. "}"
  rows[#rows + 1] = {name, function() return ln.layers[l[1]](l[2])(x1):totable()[1][1] end, is_nan}
end
R.run(T, "layers", rows)

-- fit on a batch holding a NaN: the loss is NaN and TerminateOnNaN stops
-- in the first batch of the first epoch (it never fired for relu before).
ln.random.seed(4)
local x = ln.rand(8, 4)
x[{2, 3}] = NAN
local y = ln.tensor({0, 1, 2, 0, 1, 2, 0, 1}, "int32")
local function fit_nan(act)
  ln.random.seed(9)
  local m = ln.Sequential{ln.layers.Dense{5, input_shape = {4}, activation = act},
                         ln.layers.Dense{3, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  local h = m:fit(x, y, {epochs = 3, batch_size = 4, shuffle = false, verbose = 0,
                         callbacks = {ln.callbacks.TerminateOnNaN()}})
  return h, m
end
rows = {}
for _, act in ipairs({"relu", "leaky_relu", "elu", "selu", "hard_sigmoid", "sigmoid", "tanh",
                      "softplus", "swish", "gelu", "linear"}) do
  rows[#rows + 1] = {act .. ": the loss is NaN", function() return fit_nan(act).history.loss[1] end, is_nan}
  rows[#rows + 1] = {act .. ": TerminateOnNaN stops in epoch 1", function()
    local h, m = fit_nan(act)
    return #h.history.loss == 1 and m.stop_training == true end, eq(true)}
end
rows[#rows + 1] = {"relu: evaluate gives NaN", function()
  ln.random.seed(9)
  local m = ln.Sequential{ln.layers.Dense{5, input_shape = {4}, activation = "relu"},
                         ln.layers.Dense{3, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  return m:evaluate(x, y, {verbose = 0}) end, is_nan}
rows[#rows + 1] = {"relu: predict gives NaN in the NaN row only", function()
  ln.random.seed(9)
  local m = ln.Sequential{ln.layers.Dense{5, input_shape = {4}, activation = "relu"},
                         ln.layers.Dense{3, activation = "softmax"}}
  local p = m:predict(x)
  return isnan(p[{2, 1}]) and not isnan(p[{1, 1}]) end, eq(true)}
R.run(T, "fit", rows)

T.summary("hostile NaN")
