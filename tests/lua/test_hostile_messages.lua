-- Messages (issue 14, part B). Every error starts with the user's script
-- and line -- never one of lunet's own Lua files -- whether lunet raised it
-- in Lua, in C, or Lua itself did inside lunet; unknown names list the
-- known ones and the closest; settable-looking fields are applied or
-- refused; Lua metric objects are refused clearly. Each row of the table
-- is one mistake written on ONE line: the message must start with this
-- file's name and exactly that line. Also: the string attributes of model
-- files as Keras writes them (h5py).
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

ln.random.seed(2)
local x = ln.rand(6, 4)
local y = ln.tensor({0, 1, 2, 0, 1, 2}, "int32")
local function new_model()
  local m = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam"}
  return m
end
local m = new_model()
local d = m.layers[1]
local opt = m.optimizer
local sched = ln.schedules.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 10, decay_rate = 0.9}
local empty = ln.Sequential{}
local uncompiled = ln.Sequential{ln.layers.Dense{2, input_shape = {4}}}
local bad_y = ln.tensor({0, 1, 7, 0, 1, 2}, "int32")
local lua_metric = setmetatable({name = "my_metric"}, ln.metrics.Metric)

-- {label, one-line function, pieces the message must hold}
local rows = {
  {"add a number", function() m:add(5) end, {"add expects a layer", "got number"}},
  {"layer.name = 5", function() d.name = 5 end, {"layer name must be a non-empty string"}},
  {"model.name = 5", function() m.name = 5 end, {"model name must be a non-empty string"}},
  {"set_weights{1, 2}", function() m:set_weights({1, 2}) end, {"set_weights", "entry 1", "must be a tensor"}},
  {"set_weights of a wrong shape", function() m:set_weights({ln.rand(3, 3), ln.rand(3)}) end, {"entry 1", "(4, 3)", "(3, 3)"}},
  {"set_weights of 1 entry", function() m:set_weights({ln.rand(4, 3)}) end, {"set_weights got a list of 1 weights"}},
  {"layer:set_weights{'a'}", function() d:set_weights({"a", "b"}) end, {"set_weights", "must be a tensor"}},
  {"a bad ModelCheckpoint pattern", function() ln.callbacks.ModelCheckpoint("c-{epoch:02q}.h5") end, {"the format '02q'"}},
  {"ln.optimizers.Adamm{}", function() ln.optimizers.Adamm{} end, {"unknown optimizer class 'Adamm'", "did you mean 'Adam'", "Adadelta"}},
  {"ln.layers.Dens{3}", function() ln.layers.Dens{3} end, {"unknown layer class 'Dens'", "did you mean 'Dense'"}},
  {"ln.layers.dense{3} (lower case)", function() ln.layers.dense{3} end, {"unknown layer class 'dense'", "did you mean 'Dense'"}},
  {"ln.callbacks.EarlyStoping{}", function() ln.callbacks.EarlyStoping{} end, {"unknown callback class 'EarlyStoping'", "did you mean 'EarlyStopping'"}},
  {"ln.schedules.ExponentialDecy{}", function() ln.schedules.ExponentialDecy{} end, {"unknown schedule class", "did you mean 'ExponentialDecay'"}},
  {"ln.regularizers.l3(0.1)", function() ln.regularizers.l3(0.1) end, {"unknown regularizer 'l3'", "did you mean"}},
  {"ln.regularizers.get('l4')", function() ln.regularizers.get("l4") end, {"unknown regularizer 'l4'"}},
  {"ln.initializers.HeNormall{}", function() ln.initializers.HeNormall{} end, {"unknown initializer 'HeNormall'", "did you mean 'HeNormal'"}},
  {"ln.initializers.get('he_nromal')", function() ln.initializers.get("he_nromal") end, {"unknown initializer 'he_nromal'", "did you mean 'he_normal'"}},
  {"ln.activations.rleu(x)", function() ln.activations.rleu(x) end, {"unknown activation 'rleu'", "did you mean 'relu'"}},
  {"ln.activations.get('sigmoud')", function() ln.activations.get("sigmoud") end, {"unknown activation 'sigmoud'", "did you mean 'sigmoid'"}},
  {"ln.losses.msee", function() return ln.losses.msee end, {"unknown loss 'msee'", "did you mean"}},
  {"ln.losses.get('huberr')", function() ln.losses.get("huberr") end, {"unknown loss 'huberr'", "did you mean 'huber'"}},
  {"ln.metrics.acuracy", function() return ln.metrics.acuracy end, {"unknown metric 'acuracy'"}},
  {"ln.optimizers.get('adamm')", function() ln.optimizers.get("adamm") end, {"unknown optimizer 'adamm'"}},
  {"compile with 'adamm'", function() new_model():compile{loss = "mse", optimizer = "adamm"} end, {"unknown optimizer 'adamm'"}},
  {"a Lua metric object in compile", function() new_model():compile{loss = "mse", metrics = {lua_metric, "mae"}} end, {"'my_metric' is a metric written in Lua", "update_state"}},
  {"a Lua metric table in compile", function() new_model():compile{loss = "mse", metrics = {{name = "m2", update_state = print}}} end, {"'m2' is a metric written in Lua"}},
  {"kernel.value of a wrong shape", function() d.kernel.value = ln.ones(3, 3) end, {"dense", "kernel:0", "(4, 3)", "(3, 3)"}},
  {"kernel.value = a number", function() d.kernel.value = 5 end, {"assign expects a tensor of shape (4, 3)", "number"}},
  {"kernel:assign(int tensor)", function() d.kernel:assign(ln.zeros(4, 3):int()) end, {"kernel:0", "int32"}},
  {"layer.kernel = t", function() d.kernel = ln.ones(4, 3) end, {"'kernel' is a weight", "assign"}},
  {"layer.units = 10", function() d.units = 10 end, {"'units' is fixed when the layer is made"}},
  {"layer.activation = 'relu'", function() d.activation = "relu" end, {"'activation' is fixed"}},
  {"layer.trainable = 'no'", function() d.trainable = "no" end, {"trainable must be true or false"}},
  {"layer.output_shape = {1}", function() d.output_shape = {1} end, {"'output_shape' is read-only"}},
  {"layer.class_name = 'X'", function() d.class_name = "X" end, {"'class_name' is read-only"}},
  {"variable.shape = {1}", function() d.kernel.shape = {1} end, {"'shape' is read-only"}},
  {"variable.foo = 1", function() d.kernel.foo = 1 end, {"has no field 'foo'"}},
  {"model.layers = {}", function() m.layers = {} end, {"'layers' is read-only", "add"}},
  {"model.loss = 'mse'", function() m.loss = "mse" end, {"'loss' is set by compile/fit"}},
  {"model.metrics_names = {}", function() m.metrics_names = {} end, {"'metrics_names' is set by compile/fit"}},
  {"model.optimizer = 5", function() m.optimizer = 5 end, {"optimizer must be an optimizer object"}},
  {"model.optimizer before compile", function() uncompiled.optimizer = ln.optimizers.SGD{} end, {"compile the model first"}},
  {"model.trainable = 1", function() m.trainable = 1 end, {"trainable must be true or false"}},
  {"model.weights = {}", function() m.weights = {} end, {"'weights' is read-only"}},
  {"opt.beta_1 = 0.5", function() opt.beta_1 = 0.5 end, {"'beta_1' is fixed when the optimizer is made"}},
  {"opt.epsilon = 1", function() opt.epsilon = 1 end, {"'epsilon' is fixed"}},
  {"opt.name = 'x'", function() opt.name = "x" end, {"the name is fixed"}},
  {"opt.learning_rate = 'fast'", function() opt.learning_rate = "fast" end, {"learning_rate can be set to a number"}},
  {"schedule.decay_rate = 0.5", function() sched.decay_rate = 0.5 end, {"'decay_rate' cannot be set"}},
  {"fit before compile", function() uncompiled:fit(x, y) end, {"You must compile your model"}},
  {"predict a wrong shape", function() m:predict(ln.rand(3, 5)) end, {"predict", "(None, 4)", "(3, 5)"}},
  {"a bad label in fit", function() m:fit(x, bad_y, {verbose = 0, shuffle = false}) end, {"label 7 at y[3] (1-based, as Lua counts)"}},
  {"a bad label in evaluate", function() m:evaluate(x, bad_y, {verbose = 0}) end, {"label 7 at y[3]"}},
  {"get_layer(99)", function() m:get_layer(99) end, {"get_layer: index 99 out of range"}},
  {"tensors that do not broadcast", function() return x + ln.rand(5) end, {"cannot be broadcast together"}},
  {"int32 tensors that do not broadcast", function() return y + ln.ones(4, "int32") end, {"integer arithmetic", "cannot be broadcast"}},
  {"an int32 product past 2^31", function() return y:clone():fill(70000) * 70000 end, {"give a result outside int32"}},
  {"x:index(1, 7)", function() return x:index(1, ln.tensor({7}, "int32")) end, {"index: index 7 (at position 1) out of range 1..6"}},
  {"a comparison that does not broadcast", function() return x:gt(ln.rand(5)) end, {"compare", "cannot be broadcast"}},
  {"pop an empty model", function() empty:pop() end, {"There are no layers"}},
  {"summary of an empty model", function() empty:summary() end, {"has not yet been built"}},
  {"load_model of a missing file", function() ln.models.load_model("/nonexistent/m.h5") end, {"load_model", "/nonexistent/m.h5"}},
  {"load_model(5)", function() ln.models.load_model(5) end, {"load_model", "expects a file path"}},
  {"save(5)", function() m:save(5) end, {"save", "expects a file path"}},
  {"save_npy of a table", function() ln.io.save_npy("/tmp/x.npy", {1}) end, {"save_npy", "must be a tensor"}},
  {"read_h5 dataset 5", function() ln.io.read_h5("/tmp/x.h5", 5) end, {"read_h5", "dataset must be a string"}},
  {"Sequential{5}", function() ln.Sequential{5} end, {"add expects a layer"}},
  {"Sequential{nam = 'x'}", function() ln.Sequential{nam = "x"} end, {"unknown keyword argument 'nam'"}},
  {"Dense{} without units", function() ln.layers.Dense{} end, {"units"}},
  {"Dense{3, activaton = 'relu'}", function() ln.layers.Dense{3, activaton = "relu"} end, {"activaton"}},
  {"to_categorical of a string", function() ln.utils.to_categorical("x") end, {"to_categorical"}},
  {"losses function of wrong shapes", function() ln.losses.mse(ln.rand(2, 3), ln.rand(2, 4)) end, {"(2, 3)", "(2, 4)"}},
  {"metric update of wrong shapes", function() ln.metrics.SparseCategoricalAccuracy{}:update_state(ln.tensor({0, 1, 2}, "int32"), ln.rand(2, 3)) end, {"(3,)", "(2, 3)"}},
  {"an activation on an int tensor", function() ln.activations.relu(ln.zeros(2):int()) end, {"relu"}},
  {"optimizer apply on mismatched shapes", function() ln.optimizers.Adam{}:apply_gradients({{ln.rand(3, 2), ln.rand(2, 3)}}) end, {"(2, 3)", "(3, 2)"}},
  {"data.batches of a number", function() ln.data.batches(5) end, {"batches: x must be a tensor"}},
  {"plot.history of a number", function() ln.plot.history(5, "/tmp/h.png") end, {"lunet.plot", "History"}},
  {"clone_model of a table", function() ln.models.clone_model({}) end, {"clone_model: expects a model"}},
  {"model_from_json of bad JSON", function() ln.models.model_from_json("{") end, {"model_from_json"}},
  {"Lua optimizer with an unknown key", function() ln.optimizers.Optimizer:extend{name = "S", update = print}{momentm = 1} end, {"unknown keyword argument 'momentm'"}},
  {"Lua optimizer hyper-parameter set", function() local o = ln.optimizers.Optimizer:extend{name = "S2", defaults = {k = 1}, update = print}{}; o.k = 2 end, {"'k' is fixed"}},
}

for _, r in ipairs(rows) do
  local line = debug.getinfo(r[2], "S").linedefined
  test(r[1], function()
    local err = H.raises(r[2], table.unpack(r[3]))
    local at = err:match("^[^\n]-test_hostile_messages%.lua:(%d+): ")
    H.check(at ~= nil, "the message does not start with this file's name: %s", err)
    H.eq(tonumber(at), line, "the line in the message")
    H.check(not err:find("lunet/[%w_]+%.lua:%d+"), "a lunet source position in: %s", err)
  end)
end

-- ---- positions through pcall, coroutines, callbacks ------------------------------------------------

test("an error through pcall points at the pcall's line", function()
  local ok, err = pcall(m.add, m, 5) local line = debug.getinfo(1, "l").currentline
  H.check(not ok, "no error")
  H.eq(tonumber(err:match("test_hostile_messages%.lua:(%d+): ")), line, "line")
end)

test("an error inside a coroutine points at the coroutine's line", function()
  local co = coroutine.wrap(function() m:add(5) end) local line = debug.getinfo(1, "l").currentline
  local ok, err = pcall(co)
  H.check(not ok, "no error")
  H.eq(tonumber(err:match("test_hostile_messages%.lua:(%d+): ")), line, "line")
end)

test("an error in the user's own callback keeps the callback's line", function()
  local cb = {on_epoch_end = function() error("my callback broke") end} local line = debug.getinfo(1, "l").currentline
  local err = H.raises(function() m:fit(x, y, {verbose = 0, callbacks = {cb}}) end, "my callback broke")
  H.eq(tonumber(err:match("test_hostile_messages%.lua:(%d+): ")), line, "line")
end)

test("a table raised by the user's callback comes back as it is", function()
  local token = {}
  local ok, err = pcall(m.fit, m, x, y, {verbose = 0, callbacks = {{on_epoch_end = function() error(token) end}}})
  H.check(not ok and err == token, "the error object changed")
end)

test("an error in a user's Lua optimizer keeps its own line", function()
  local Bad = ln.optimizers.Optimizer:extend{name = "Bad", update = function() error("rule broke") end} local line = debug.getinfo(1, "l").currentline
  local m2 = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
  m2:compile{loss = "sparse_categorical_crossentropy", optimizer = Bad{}}
  local err = H.raises(function() m2:fit(x, y, {verbose = 0}) end, "rule broke")
  H.eq(tonumber(err:match("test_hostile_messages%.lua:(%d+): ")), line, "line")
end)

-- ---- what is applied --------------------------------------------------------------------------------

test("layer.kernel.value = t copies t into the weight", function()
  local t = ln.full({4, 3}, 0.25)
  d.kernel.value = t
  H.check(d.kernel.value:equal(t), "kernel not assigned")
  H.check(d:get_weights()[1]:equal(t), "get_weights does not see it")
  t:fill(9) -- a copy: the weight does not follow t
  H.check(d.kernel.value:max() < 1, "the weight aliases t")
end)

test("layer.name, model.name, optimizer.learning_rate and iterations are applied", function()
  local m2 = new_model()
  m2.layers[1].name = "renamed"
  H.eq(m2.layers[1].kernel.name, "renamed/kernel:0", "variable name")
  m2.name = "my_model"
  H.eq(m2:summary_string():match('Model: "([^"]+)"'), "my_model", "model name")
  m2.optimizer.learning_rate = 0.5
  H.eq(m2.optimizer.learning_rate, 0.5, "learning rate")
  m2.optimizer.iterations = 7
  H.eq(m2.optimizer.iterations, 7, "iterations")
  local o = ln.optimizers.RMSprop{}
  m2.optimizer = o
  H.check(m2.optimizer == o, "optimizer")
  m2:fit(x, y, {verbose = 0})
  H.eq(o.iterations, 1, "the new optimizer trained")
end)

test("user fields on layers and models are the user's own", function()
  d.note, m.note = "mine", "ours"
  H.eq(d.note, "mine", "layer field")
  H.eq(m.note, "ours", "model field")
end)

test("set_weights with one bad entry changes nothing", function()
  local before = m:get_weights()
  H.raises(function() m:set_weights({ln.zeros(4, 3), ln.zeros(4)}) end, "entry 2")
  local after = m:get_weights()
  for i = 1, #before do H.check(before[i]:equal(after[i]), "weight %d changed", i) end
end)

-- ---- plugins that failed to load are named ------------------------------------------------------------

test("an optimizer whose plugin failed to load: the file and why", function()
  local dir = H.tmp("broken_plugins")
  os.execute("mkdir -p " .. H.quote(dir))
  H.write(dir .. "/ln_optimizers_adam.so", "not a shared object\n")
  local rc, out = H.child([[
    local ln = require "lunet"
    local ok, err = pcall(function() return ln.optimizers.Adam{} end)
    print(err)
  ]], {ulimit = "LUNET_PLUGIN_PATH=" .. H.quote(dir) .. " && export LUNET_PLUGIN_PATH"})
  H.eq(rc, 0, "exit code: " .. out)
  H.check(out:find("unknown optimizer class 'Adam'", 1, true), "%s", out)
  H.check(out:find("ln_optimizers_adam.so", 1, true) and out:find("not a loadable", 1, true),
          "the failed plugin is not named: %s", out)
end)

-- ---- the string attributes Keras writes ---------------------------------------------------------------

test("root string attributes have the types of a Keras-written file (h5py)", function()
  local PY = "/usr/bin/python3"
  if not os.execute(PY .. " -c 'import h5py' 2>/dev/null") then
    H.check(false, "python3-h5py is missing (scripts/setup.sh installs it)")
  end
  local keras = "../data/keras2-mnist-mlp/mnist_mlp_tf_keras_2_weights.h5" -- Keras 2.0.6 wrote it
  H.check(H.read(keras) ~= nil, "the Keras-written file %s is missing", keras)
  local p = H.tmp("types.h5")
  new_model():save(p)
  local script = H.tmp("attr_kinds.py") -- not types.py: that would shadow the module
  H.write(script, [==[
import sys, json, h5py
# h5py 2.x (what Keras 2 ran on) gives bytes for an ASCII-tagged
# variable-length string and str for a UTF-8 one; Keras 2 .decode()s what
# it reads, so only the ASCII tag loads there. h5py 3 gives str for both,
# so the tag is read from the type itself.
def kind(f, name):
    tid = f.attrs.get_id(name).get_type()
    return "%s/%s" % ("vlen" if tid.is_variable_str() else "fixed",
                      "ascii" if tid.get_cset() == h5py.h5t.CSET_ASCII else "utf8")
f = h5py.File(sys.argv[1], "r")
for a in ("model_config", "training_config", "keras_version", "backend"):
    print(a, kind(f, a))
json.loads(f.attrs["model_config"])
json.loads(f.attrs["training_config"])
print("decoded", f.attrs["keras_version"])
if len(sys.argv) > 2:
    g = h5py.File(sys.argv[2], "r")
    print("keras", kind(g, "keras_version"), kind(g, "backend"))
]==])
  local pp = io.popen(PY .. " " .. script .. " " .. p .. " " .. keras .. " 2>&1")
  local out = pp:read("a")
  pp:close()
  for _, a in ipairs({"model_config", "training_config", "keras_version", "backend"}) do
    H.check(out:find(a .. " vlen/ascii\n", 1, true), "%s is not a vlen ASCII string: %s", a, out)
  end
  H.check(out:find("decoded 2.4.0", 1, true), "the JSON does not read back: %s", out)
  H.check(out:find("keras vlen/ascii vlen/ascii", 1, true), "the Keras file's types differ: %s", out)
end)

H.finish()
