--[[ lunet.io -- reading and writing data files.

  ln.io.read_idx(path [, {dtype = "float32"}])
                                  IDX file (MNIST format), plain or .gz -> tensor
                                  (uint8 data -> uint8, int8/16/32 -> int32,
                                  float32/64 -> float32); dtype converts while
                                  reading (float32: any data, int32: integer
                                  data), so uint8 images and their float copy
                                  never coexist
  ln.io.load_npy(path)            numpy .npy -> tensor (float32/float64 ->
                                  float32, int32/int64 -> int32, uint8/bool ->
                                  uint8; C order, little-endian)
  ln.io.save_npy(path, t)         tensor -> .npy ('<f4', '<i4' or '|u1')
  ln.io.write_file(path, text [, {overwrite = true}])
                                  a string becomes the file
  Every file lunet writes (these, model files, CSVLogger, plots) follows
  one rule (docs/model-files.md, "Save targets"): a symlink is followed
  to its target, only regular files are replaced (devices, FIFOs,
  sockets, folders and read-only files are refused), the new content goes
  to a temporary file next to the target, fsync'ed and renamed over it.
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
local E = require "lunet.errors"
local core = require "lunet.core"
local O = require "lunet.options"

local M = {}

local function check_path(fn, path)
  if type(path) ~= "string" then
    E.raise(fn .. ": path must be a string, got " .. type(path))
  end
end

--- file_kind(path) -> "regular file", "folder", "FIFO (named pipe)",
-- "socket", "character device", "block device"; or nil, reason when there
-- is nothing there (stat(2): never opens, so never blocks).
function M.file_kind(path)
  check_path("file_kind", path)
  return core.io_file_kind(path)
end

function M.read_idx(path, opts)
  check_path("read_idx", path)
  if opts ~= nil and type(opts) ~= "table" then
    E.raise("read_idx: options must be a table, got " .. type(opts))
  end
  if opts then O.keys("read_idx", opts, {dtype = true}, "option") end
  return core.io_read_idx(path, opts and opts.dtype)
end

function M.load_npy(path)
  check_path("load_npy", path)
  return core.io_load_npy(path)
end

function M.save_npy(path, t)
  check_path("save_npy", path)
  if not core.is_tensor(t) then
    E.raise("save_npy: argument 2 must be a tensor, got " .. type(t))
  end
  core.io_save_npy(path, t)
end

function M.write_file(path, text, opts)
  check_path("write_file", path)
  if type(text) ~= "string" then
    E.raise("write_file: argument 2 must be a string, got " .. type(text))
  end
  if opts ~= nil and type(opts) ~= "table" then
    E.raise("write_file: options must be a table, got " .. type(opts))
  end
  opts = opts or {}
  O.keys("write_file", opts, {overwrite = true}, "option")
  O.boolean("write_file", "overwrite", opts.overwrite)
  core.io_write_file(path, text, opts.overwrite ~= false, "write_file")
end

function M.read_csv(path, opts)
  check_path("read_csv", path)
  if opts ~= nil and type(opts) ~= "table" then
    E.raise("read_csv: options must be a table, got " .. type(opts))
  end
  return core.io_read_csv(path, opts)
end

function M.read_h5(path, dataset)
  check_path("read_h5", path)
  if type(dataset) ~= "string" then
    E.raise("read_h5: dataset must be a string such as \"/x\", got "
          .. type(dataset))
  end
  return require("lunet.h5").read_h5(path, dataset)
end

E.protect_all(M)
return M
