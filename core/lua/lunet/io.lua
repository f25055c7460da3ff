--[[ lunet.io -- reading and writing data files.

  ln.io.read_idx(path)            IDX file (MNIST format), plain or .gz -> tensor
                                  (uint8 data -> uint8, int8/16/32 -> int32,
                                  float32/64 -> float32)
  ln.io.load_npy(path)            numpy .npy -> tensor (float32/float64 ->
                                  float32, int32/int64 -> int32, uint8/bool ->
                                  uint8; C order, little-endian)
  ln.io.save_npy(path, t)         tensor -> .npy ('<f4', '<i4' or '|u1'),
                                  written atomically (temp file + rename)
  ln.io.read_csv(path [, opts])   numeric CSV -> tensor (rows x cols), names
                                  opts: delimiter = ",", header = true,
                                  dtype = "float32"; empty fields are NaN
  ln.io.read_h5(path, dataset)    one HDF5 dataset -> tensor (floats ->
                                  float32, uint8 -> uint8, ints -> int32)
  ln.io.file_kind(path)           "regular file", "folder", "FIFO (named
                                  pipe)", ...; nil, reason if absent

Every error names the function, the file and the reason; sizes a file
claims are checked against its real contents before anything large is
allocated. The readers are C (core/io_*.c). ]]
local core = require "lunet.core"

local M = {}

local function check_path(fn, path)
  if type(path) ~= "string" then
    error(fn .. ": path must be a string, got " .. type(path), 3)
  end
  -- C would see the name cut at the NUL: another file
  if path:find("\0", 1, true) then
    error(fn .. ": the path contains a NUL byte: " .. path:gsub("%z", "\\0"), 3)
  end
end

--- file_kind(path) -> "regular file", "folder", "FIFO (named pipe)",
-- "socket", "character device", "block device"; or nil, reason when there
-- is nothing there (stat(2): never opens, so never blocks).
function M.file_kind(path)
  check_path("file_kind", path)
  return core.io_file_kind(path)
end

function M.read_idx(path)
  check_path("read_idx", path)
  return core.io_read_idx(path)
end

function M.load_npy(path)
  check_path("load_npy", path)
  return core.io_load_npy(path)
end

function M.save_npy(path, t)
  check_path("save_npy", path)
  if not core.is_tensor(t) then
    error("save_npy: argument 2 must be a tensor, got " .. type(t), 2)
  end
  core.io_save_npy(path, t)
end

function M.read_csv(path, opts)
  check_path("read_csv", path)
  if opts ~= nil and type(opts) ~= "table" then
    error("read_csv: options must be a table, got " .. type(opts), 2)
  end
  return core.io_read_csv(path, opts)
end

function M.read_h5(path, dataset)
  check_path("read_h5", path)
  if type(dataset) ~= "string" then
    error("read_h5: dataset must be a string such as \"/x\", got "
          .. type(dataset), 2)
  end
  return core.io_read_h5(path, dataset)
end

return M
