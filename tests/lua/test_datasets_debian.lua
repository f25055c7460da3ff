-- The seed's split_dataset on the real Fashion-MNIST (Debian's package
-- dataset-fashion-mnist, which scripts/setup.sh installs). Skipped (CTest:
-- "Skipped", exit status 77) when the package is absent.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local test, eq = T.test, T.eq

local function shape(t) return table.concat(t:shape(), "x") end

local split_dataset = dofile(here .. "/split_dataset.lua")

local DEBIAN = "/usr/share/datasets/fashion-mnist"
local function have_debian()
  local f = io.open(DEBIAN .. "/train-labels-idx1-ubyte.gz", "rb")
  if f then f:close() return true end
  return false
end

test("split_dataset on the real Fashion-MNIST", function()
  if not have_debian() then
    T.skip(DEBIAN .. " is absent (apt-get install "
           .. "dataset-fashion-mnist); the split check needs the full set")
    return
  end
  local train, test_ = ln.datasets.fashion_mnist.load_data(DEBIAN)
  eq(shape(train.x), "60000x28x28")
  eq(train.x:type(), "uint8")
  eq(shape(test_.y), "10000")
  eq(train.y:max(), 9)
  local X_full, y_full = train.x:float() / 255, train.y
  local X_train, y_train = X_full:narrow(1, 5001, 55000), y_full:narrow(1, 5001, 55000)
  local A, B = split_dataset(X_train, y_train)
  eq(#A[1], 43986, "task-A training images")
  eq(shape(A[1]), "43986x28x28")
  eq(#B[1], 11014)
  eq(table.concat(A[2]:narrow(1, 1, 30):totable(), " "),
     "4 0 5 7 7 7 4 4 3 4 0 1 6 3 4 3 2 6 5 3 4 5 1 3 4 2 0 6 7 1", "y_train_A[:30]")
  eq(table.concat(B[2]:narrow(1, 1, 30):int():totable(), " "),
     "1 1 0 0 0 0 1 1 1 0 0 1 1 0 0 0 0 0 0 1 1 0 0 1 1 0 1 1 1 1", "y_train_B[:30]")
  eq(B[2]:type(), "float32")
  eq(A[2]:max(), 7)
  -- the default search finds the Debian files too (unless LUNET_DATA points elsewhere)
  if not os.getenv("LUNET_DATA") then
    local t2 = ln.datasets.fashion_mnist.load_data()
    eq(#t2.x, 60000)
  end
end)

test("the bundled Fashion-MNIST sample is the head of the real files", function()
  if not have_debian() then
    T.skip(DEBIAN .. " is absent (apt-get install dataset-fashion-mnist)")
    return
  end
  local train = ln.datasets.fashion_mnist.load_data(ln.datasets._bundled_dirs("fashion-mnist")[1])
  local full = ln.io.read_idx(DEBIAN .. "/train-labels-idx1-ubyte.gz")
  assert(full:narrow(1, 1, #train.y):equal(train.y), "sample = first images")
end)

T.summary()
