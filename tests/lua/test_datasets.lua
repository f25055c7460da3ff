-- ln.datasets, ln.utils and ln.data through the Lua API: the bundled
-- samples, the search error, and Keras's utilities. The seed's
-- split_dataset on the real Fashion-MNIST (Debian's package, which may be
-- absent, and then skips) is in test_datasets_debian.lua.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq, raises = T.test, T.eq, T.raises

local function list(t) return table.concat(t:flatten():totable(), " ") end
local function shape(t) return table.concat(t:shape(), "x") end
local split_dataset = dofile(here .. "/split_dataset.lua")

test("the bundled Fashion-MNIST sample", function()
  local dir = ln.datasets._bundled_dirs("fashion-mnist")[1]
  local train, test_ = ln.datasets.fashion_mnist.load_data(dir)
  eq(train.x:type(), "uint8")
  eq(shape(train.x):sub(-6), "x28x28")
  assert(#train.x >= 1000 and #test_.x >= 500, "a few thousand images")
  eq(#train.x, #train.y)
  assert(rawequal(train[1], train.x) and rawequal(train[2], train.y))
  eq(train.y:min(), 0)
  eq(train.y:max(), 9)
  -- split_dataset runs on the sample too
  local A, B = split_dataset(train.x, train.y)
  eq(#A[1] + #B[1], #train.x)
  eq(A[2]:max() <= 7, true)
  eq(ln.datasets.fashion_mnist.class_names[10], "Ankle boot")
end)

test("load_data{dtype = \"float32\"}: the same images as float32", function()
  local dir = ln.datasets._bundled_dirs("fashion-mnist")[1]
  local train, test_ = ln.datasets.fashion_mnist.load_data(dir)
  local ftrain, ftest = ln.datasets.fashion_mnist.load_data{path = dir, dtype = "float32"}
  eq(ftrain.x:type(), "float32")
  eq(shape(ftrain.x), shape(train.x))
  eq(ftrain.y:type(), "uint8", "labels as they are")
  eq((ftrain.x - train.x:float()):abs():max(), 0)
  eq((ftest.x - test_.x:float()):abs():max(), 0)
  assert(rawequal(ftrain[1], ftrain.x))
  local m = ln.datasets.mnist.load_data{dtype = "float32"}
  eq(m.x:type(), "float32")
  eq(m.x:max(), 255)
  raises(function() ln.datasets.fashion_mnist.load_data{path = dir, dtype = "int32"} end,
         "fashion_mnist.load_data: dtype must be \"float32\"", "got int32")
  raises(function() ln.datasets.mnist.load_data{dir = dir} end, "mnist.load_data", "dir")
end)

test("the bundled MNIST subset", function()
  local train, test_ = ln.datasets.mnist.load_data()
  eq(#train.x + #test_.x, 10000, "10k digits")
  eq(shape(train.x), "8000x28x28")
  eq(train.y:max(), 9)
  assert(train.x:max() == 255, "real pixel bytes")
end)

test("a dataset that is nowhere: every place is named", function()
  local cands = ln.datasets._candidates("no-such-set", "/usr/share/datasets/no-such-set")
  assert(#cands >= 2)
  local ok, err = pcall(ln.datasets._find, "fashion_mnist", cands, "dataset-fashion-mnist")
  assert(not ok)
  for _, c in ipairs(cands) do
    assert(err:find(c[1], 1, true), "error lacks " .. c[1] .. ": " .. err)
  end
  assert(err:find("dataset-fashion-mnist", 1, true), err)
  assert(err:find("train-images-idx3-ubyte", 1, true), err)
  raises(function() ln.datasets.fashion_mnist.load_data("/nonexistent/dir") end,
         "fashion_mnist", "/nonexistent/dir")
  raises(function() ln.datasets.mnist.load_data(42) end, "the argument must be a folder path")
end)

test("to_categorical (Keras semantics)", function()
  local y = ln.tensor({0, 2, 1, 2}, "uint8")
  local c = ln.utils.to_categorical(y)
  eq(shape(c), "4x3")                         -- num_classes = max + 1
  eq(c:type(), "float32")
  eq(list(c[2]), "0.0 0.0 1.0")
  eq(shape(ln.utils.to_categorical(y, 10)), "4x10")
  eq(shape(ln.utils.to_categorical(ln.tensor({{1}, {0}}, "int32"), 2)), "2x2") -- (N,1) squeezed
  eq(shape(ln.utils.to_categorical(ln.tensor({{1, 0}}, "int32"))), "1x2x2")
  eq(list(ln.utils.to_categorical({1, 0}, 2)), "0.0 1.0 1.0 0.0")
  raises(function() ln.utils.to_categorical(y, 2) end,
         "label 2 at position 2 is not a class id in 0..1")
  raises(function() ln.utils.to_categorical(ln.tensor({-1}, "int32"), 3) end,
         "label -1 at position 1")
end)

test("normalize (axis semantics)", function()
  -- x of shape (2, 2, 3): Keras normalize(x, axis=1) normalises each column
  -- x[n, :, j]; here that is axis 2.
  local x = ln.tensor({{{3, 1, 0}, {4, 1, 0}}, {{1, 2, 2}, {0, 2, 1}}})
  local n = ln.utils.normalize(x, 2)
  for b = 1, 2 do
    for j = 1, 3 do
      local a1, a2 = x[{b, 1, j}], x[{b, 2, j}]
      local norm = math.sqrt(a1 * a1 + a2 * a2)
      if norm == 0 then norm = 1 end
      assert(math.abs(n[{b, 1, j}] - a1 / norm) < 1e-6)
      assert(math.abs(n[{b, 2, j}] - a2 / norm) < 1e-6)
    end
  end
  local last = ln.utils.normalize(ln.tensor({{3, 4}, {0, 0}}))   -- axis -1
  eq(list(last), "0.60000002384186 0.80000001192093 0.0 0.0")
  eq(list(ln.utils.normalize(ln.tensor({{1, 3}}), -1, 1)), "0.25 0.75")
  eq(list(ln.utils.normalize(ln.tensor({{2, -4}}), -1, math.huge)), "0.5 -1.0")
  eq(ln.utils.normalize(ln.tensor({{1, 2}}, "uint8")):type(), "float32")
  raises(function() ln.utils.normalize(x, 4) end, "dim 4 out of range for shape (2, 2, 3)")
  raises(function() ln.utils.normalize(x, 1, 0) end, "normalize: order must be a positive number")
end)

test("argmax_labels", function()
  local p = ln.tensor({{0.1, 0.7, 0.2}, {0.5, 0.4, 0.1}})
  local l = ln.utils.argmax_labels(p)
  eq(l:type(), "int32")
  eq(list(l), "1 0")                          -- 0-based class ids
  eq(ln.utils.argmax_labels(ln.tensor({0.2, 0.8})), 1)
end)

test("batches", function()
  local x = ln.arange(10):reshape(10, 1)
  local y = ln.arange(10) * 10
  local n, seen = 0, {}
  for xb, yb, i in ln.data.batches(x, y, {batch_size = 4}) do
    n = n + 1
    eq(i, n)
    eq(#xb, n == 3 and 2 or 4)
    assert(yb:equal(xb:flatten() * 10))
  end
  eq(n, 3)
  ln.random.seed(5)
  local order1 = {}
  for xb, yb in ln.data.batches(x, y, {batch_size = 3, shuffle = true}) do
    assert(yb:equal(xb:flatten() * 10), "x and y stay paired")
    for _, v in ipairs(xb:flatten():totable()) do
      order1[#order1 + 1] = v
      seen[v] = (seen[v] or 0) + 1
    end
  end
  for v = 0, 9 do eq(seen[v], 1, "each row once") end
  ln.random.seed(5)
  local order2 = {}
  for xb in ln.data.batches(x, nil, {batch_size = 3, shuffle = true}) do
    for _, v in ipairs(xb:flatten():totable()) do order2[#order2 + 1] = v end
  end
  eq(table.concat(order1, " "), table.concat(order2, " "), "seeded shuffle repeats")
  assert(table.concat(order1, " ") ~= "0 1 2 3 4 5 6 7 8 9", "shuffled")
  local k = 0
  for _ in ln.data.batches(x, y, {batch_size = 4, drop_last = true}) do k = k + 1 end
  eq(k, 2)
  raises(function() ln.data.batches(x, ln.arange(3)) end,
         "batches: x has 10 rows but y has 3")
  raises(function() ln.data.batches(x, y, {batch_size = 0}) end,
         "batches: batch_size must be an integer >= 1")
end)

test("train_test_split and validation_split", function()
  local x = ln.arange(20):reshape(10, 2)
  local y = ln.arange(10)
  ln.random.seed(1)
  local xtr, xte, ytr, yte = ln.data.train_test_split(x, y, {test_size = 0.25})
  eq(#xtr, 7)                                  -- ceil(0.25 * 10) = 3 test rows
  eq(#xte, 3)
  assert((xtr[{{}, 1}] // 2):equal(ytr), "rows stay paired")
  local all = ln.cat({ytr, yte}):totable()
  table.sort(all)
  eq(table.concat(all, " "), "0 1 2 3 4 5 6 7 8 9")
  local a, b = ln.data.train_test_split(x, nil, {test_size = 4, shuffle = false})
  eq(list(b[1]), "12 13")
  eq(#a, 6)
  local big = ln.zeros(60000, 1, "uint8")
  local tr, va = ln.data.validation_split(big, ln.zeros(60000, "uint8"), 0.1)
  eq(#tr.x, 54000)                             -- Keras: 54,000 / 6,000
  eq(#va.y, 6000)
  raises(function() ln.data.train_test_split(x, y, {test_size = 1.5}) end,
         "train_test_split: test_size must be a fraction")
  raises(function() ln.data.validation_split(x, y, 0) end, "fraction must be in (0, 1)")
end)

T.summary()
