--[[ scripts/lib/common.lua -- what the experiment scripts share.

Each script of scripts/ starts with

  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  package.path = here .. "/?.lua;" .. package.path
  local common = require "lib.common"
  local run = common.start("exp1", "He initialisation + LeakyReLU", {...})

and ends with run:result{...}, which prints the one-line machine-readable
summary that scripts/run_all.sh and scripts/results_table.lua collect:

  RESULT exp1 test_loss=0.5155 test_accuracy=0.8241 seconds=7.1

Environment:
  LUNET_SMOKE=1   smoke mode: 1 epoch (common.epochs), the repo's small
                  Fashion-MNIST sample (data/fashion-mnist) and fewer runs;
                  the CTest smoke test uses it to prove the scripts run end
                  to end in seconds.
  LUNET_SEED=n    the seed given to ln.random.seed (default 42, as in the
                  notebook); scripts/results_table.lua runs 42, 43 and 44.
  LUNET_DATA      where the datasets are looked for first (lunet.datasets).
The output folder is the script's first argument (default "out"). ]]
local ln = require "lunet"

local M = {}

local sformat = string.format

--- The folder holding scripts/ (the repo root), from this file's path.
local function repo_root()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  return dir .. "/../.."
end
M.root = repo_root()

M.smoke = (os.getenv("LUNET_SMOKE") or "") ~= "" and os.getenv("LUNET_SMOKE") ~= "0"
M.seed = math.tointeger(tonumber(os.getenv("LUNET_SEED") or "")) or 42

--- n epochs, or 1 in smoke mode.
function M.epochs(n)
  return M.smoke and 1 or n
end

-- Whether a folder exists (fopen of a directory succeeds on POSIX).
local function dir_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- POSIX shell quoting.
local function shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Makes the output folder (and its parents) if needed; returns its path.
-- Lua has no mkdir: this is the one place the scripts call the shell.
function M.make_dir(path)
  if dir_exists(path) then return path end
  local ok = os.execute("mkdir -p " .. shquote(path))
  if not ok or not dir_exists(path) then
    error(sformat("cannot create the output folder '%s'", path), 0)
  end
  return path
end

-- ---- a run: header, timing, artefact paths, the RESULT line --------------------------

local Run = {}
Run.__index = Run

--- Starts an experiment: seeds the RNG, makes the output folder from
-- arg[1], prints a header. id: "exp1"; title: one line; lines: more lines
-- describing what is reproduced.
function M.start(id, title, lines)
  local self = setmetatable({id = id, t0 = ln.time()}, Run)
  self.outdir = M.make_dir((arg and arg[1] and arg[1] ~= "") and arg[1] or "out")
  ln.random.seed(M.seed)
  local bar = string.rep("=", 72)
  print(bar)
  print(sformat("%s: %s", id, title))
  for _, l in ipairs(lines or {}) do print("  " .. l) end
  print(sformat("  seed %d, %d thread(s), output folder %s%s", M.seed, ln.get_num_threads(),
                self.outdir, M.smoke and ", SMOKE MODE (1 epoch, small data)" or ""))
  print(bar)
  return self
end

--- The path of an artefact in the output folder.
function Run:path(name)
  return self.outdir .. "/" .. name
end

--- Seconds since start.
function Run:elapsed()
  return ln.time() - self.t0
end

-- A value for a RESULT line: numbers with 4 decimals (integers as is).
local function field(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return sformat("%.4f", v) end
  return (tostring(v):gsub("%s", "_"))
end

--- Prints "RESULT <id> k=v ... seconds=s". fields: a list of {key, value}
-- (printed in order). id defaults to the run's. seconds: the time since
-- start unless given.
function Run:result(fields, id, seconds)
  local parts = {"RESULT", id or self.id}
  for _, kv in ipairs(fields) do parts[#parts + 1] = kv[1] .. "=" .. field(kv[2]) end
  parts[#parts + 1] = sformat("seconds=%.1f", seconds or self:elapsed())
  print(table.concat(parts, " "))
end

--- "Saving figure <name>" (the notebook's save_fig message) after
-- drawing it with fn(path).
function Run:save_fig(name, fn)
  local path = self:path(name .. ".png")
  fn(path)
  print("Saving figure " .. name .. "  -> " .. path)
  return path
end

-- ---- data ---------------------------------------------------------------------------------

--- Fashion-MNIST as the notebook prepares it: pixels / 255, validation =
-- the first 5,000 training images, train = the other 55,000, and the test
-- set. Smoke mode uses the repo's 6,000/1,000 sample (validation = its
-- first 1,000). Returns a table {X_train, y_train, X_valid, y_valid,
-- X_test, y_test} (x float32 N x 28 x 28, y uint8 labels 0..9). The
-- images are read as float32 (no uint8 copy beside them) and divided in
-- place (div_: the same values as x:float() / 255), so the 188 MB float
-- copy is the only one.
function M.fashion_mnist()
  local dir = M.smoke and (M.root .. "/data/fashion-mnist") or nil
  local train, test = ln.datasets.fashion_mnist.load_data{path = dir, dtype = "float32"}
  local X_full, y_full = train.x:div_(255), train.y
  local n = #X_full
  local n_valid = n >= 60000 and 5000 or n // 6
  return {
    X_valid = X_full:narrow(1, 1, n_valid), X_train = X_full:narrow(1, n_valid + 1, n - n_valid),
    y_valid = y_full:narrow(1, 1, n_valid), y_train = y_full:narrow(1, n_valid + 1, n - n_valid),
    X_test = test.x:div_(255), y_test = test.y,
  }
end

--- Saves model to a temporary .h5 file, loads it back with custom_objects
-- (the Lua classes and functions it uses), checks that the reloaded model
-- has the same classes and weights, and returns it.
function M.save_and_reload(model, custom)
  local path = os.tmpname() .. ".h5"
  model:save(path)
  local back = ln.models.load_model(path, {custom_objects = custom})
  os.remove(path)
  local a, b = model:get_weights(), back:get_weights()
  for i, l in ipairs(model.layers) do
    if back.layers[i].class_name ~= l.class_name then error("reloaded: another class", 0) end
  end
  for i = 1, #a do
    if not a[i]:equal(b[i]) then error("reloaded: weight " .. i .. " differs", 0) end
  end
  return back
end

--- The script's extra arguments (arg[2] on): epochs=N (returned, or nil);
-- anything else is refused naming what is accepted.
function M.epochs_arg(script)
  local epochs
  for i = 2, arg and #arg or 0 do
    local n = arg[i]:match("^epochs=(%d+)$")
    if not n then error(sformat("%s: unknown argument '%s' (epochs=N)", script, arg[i]), 0) end
    epochs = math.tointeger(tonumber(n))
  end
  return epochs
end

--- Draws the kernels of a convolution layer with one input channel
-- (kernel (kh, kw, 1, filters)) as a grid of grayscale images, each on its
-- own scale (light = large weights), like the book's filter figures.
function M.plot_filters(path, layer, title)
  local k = layer.kernel.value
  local s = k:shape()
  local t = k:totable()
  local images, titles = {}, {}
  for f = 1, s[4] do
    local img = {}
    for r = 1, s[1] do
      img[r] = {}
      for c = 1, s[2] do img[r][c] = t[r][c][1][f] end
    end
    images[f], titles[f] = img, nil
  end
  return ln.plot.images{filename = path, images = images, cols = math.min(16, s[4]),
                        title = title, cell = 60}
end

--- "(55000, 28, 28)" -- a shape the way numpy prints it.
function M.shape(t)
  local s = t:shape()
  if #s == 1 then return "(" .. s[1] .. ",)" end
  return "(" .. table.concat(s, ", ") .. ")"
end

-- ---- histories --------------------------------------------------------------------------

-- The ordered series names of a History (or of a plain name -> list table).
local function history_keys(h)
  if type(h.keys) == "table" and #h.keys > 0 then return h.keys end
  local ks = {}
  for k, v in pairs(h.history or h) do
    if type(v) == "table" then ks[#ks + 1] = k end
  end
  table.sort(ks)
  return ks
end
M.history_keys = history_keys

-- A CSV number: enough digits to give back the exact double.
local function csvnum(v)
  if math.type(v) == "integer" then return tostring(v) end
  return sformat("%.17g", v)
end

--- Writes rows of a long CSV: header = prefix_names .. {"epoch"} .. keys,
-- one row per epoch of each history. entries: a list of {prefix_values,
-- history}. Returns the path.
function M.write_histories_csv(path, prefix_names, entries)
  local keys = history_keys(entries[1][2])
  local header = {}
  for _, n in ipairs(prefix_names) do header[#header + 1] = n end
  header[#header + 1] = "epoch"
  for _, k in ipairs(keys) do header[#header + 1] = k end
  local lines = {table.concat(header, ",")}
  for _, e in ipairs(entries) do
    local h = e[2].history or e[2]
    for i = 1, #h[keys[1]] do
      local row = {}
      for _, v in ipairs(e[1]) do row[#row + 1] = tostring(v) end
      row[#row + 1] = tostring(i - 1)
      for _, k in ipairs(keys) do row[#row + 1] = csvnum(h[k][i]) end
      lines[#lines + 1] = table.concat(row, ",")
    end
  end
  -- as every lunet file: atomic, symlinks followed, devices refused
  ln.io.write_file(path, table.concat(lines, "\n") .. "\n")
  return path
end

--- Writes text to path as every lunet file is written (ln.io.write_file).
function M.write_text(path, text)
  ln.io.write_file(path, text)
  return path
end

--- One history as CSV (epoch, loss, accuracy, val_loss, val_accuracy),
-- like Keras's CSVLogger. Returns the path.
function M.write_history_csv(path, history)
  return M.write_histories_csv(path, {}, {{{}, history}})
end

--- The last value of a history series.
function M.last(history, key)
  local s = (history.history or history)[key]
  return s and s[#s]
end

--- Prints evaluate's results the way the notebook shows Keras's list.
function M.print_eval(loss, ...)
  local vals = {loss, ...}
  local s = {}
  for i, v in ipairs(vals) do s[i] = sformat("%.15g", v) end
  print("{" .. table.concat(s, ", ") .. "}")
end

return M
