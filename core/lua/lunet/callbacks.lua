--- lunet.callbacks: Keras callbacks for model:fit (and evaluate).
--
--   model:fit(x, y, {callbacks = {
--     ln.callbacks.EarlyStopping{patience = 3, restore_best_weights = true},
--     ln.callbacks.ReduceLROnPlateau{factor = 0.5, patience = 2},
--     ln.callbacks.CSVLogger("train.csv"),
--     {on_epoch_end = function(self, epoch, logs) print(epoch, logs.loss) end},
--   }})
--
-- A callback is any table with some of these methods (called with the
-- callback as self): on_train_begin(logs), on_train_end(logs),
-- on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
-- on_train_batch_begin/end(batch, logs) (alias on_batch_begin/end),
-- on_test_begin/end(logs), on_test_batch_begin/end(batch, logs),
-- on_predict_begin/end(logs), on_predict_batch_begin/end(batch, logs).
-- As in Keras, epoch and batch numbers are 0-based and logs map names
-- ("loss", "accuracy", "val_loss", ...) to numbers; batch logs hold the
-- running epoch averages. Before training, fit sets callback.model and
-- callback.params ({epochs, steps, verbose}); setting
-- model.stop_training = true ends training after the current batch.
local E = require "lunet.errors"
local O = require "lunet.options"
local core = require "lunet.core"
local callbacks = {}

local sformat = string.format

-- Under mpirun every process runs the callbacks (with the same logs), but
-- only rank 0 writes their files and prints their messages
-- (lunet.distributed; never loads MPI itself).
local function main_rank()
  local d = package.loaded["lunet.distributed"]
  return not d or d.writes_files()
end

local function say(...)
  if main_rank() then print(...) end
end

local function warn(msg)
  if main_rank() then io.stderr:write("WARNING: ", msg, "\n") end
end

local available -- the names of a logs table (defined below)

-- Python's repr of a float (shortest round-trip form), for CSV and paths.
local function py_repr(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if v == math.floor(v) and math.abs(v) < 1e16 then return sformat("%.1f", v) end
  for p = 1, 17 do
    local s = sformat("%." .. p .. "g", v)
    if tonumber(s) == v then return s end
  end
  return sformat("%.17g", v)
end
callbacks.py_repr = py_repr

-- Python's str.format for file names ("ckpt-{epoch:02d}-{val_loss:.2f}.h5"):
-- parse(path) -> a list of literal strings and {name, fmt, kind} fields,
-- refusing specs lunet cannot apply; format(parts, epoch, logs) -> text.
-- A spec is [sign][#][0][width][.precision][type], type one of d x X o
-- (integers), f F e E g G % (reals), s or none.
local function parse_path(what, path)
  local parts, i = {}, 1
  while i <= #path do
    local c = path:sub(i, i)
    if c == "{" and path:sub(i + 1, i + 1) == "{" then
      parts[#parts + 1] = "{"; i = i + 2
    elseif c == "}" and path:sub(i + 1, i + 1) == "}" then
      parts[#parts + 1] = "}"; i = i + 2
    elseif c == "{" then
      local close = path:find("}", i, true)
      if not close then E.raisef("%s: filepath '%s' has a '{' without its '}'", what, path) end
      local field = path:sub(i + 1, close - 1)
      local name, spec = field:match("^([%a_][%w_]*):(.*)$")
      if not name then name, spec = field:match("^([%a_][%w_]*)$"), "" end
      if not name then
        E.raisef("%s: filepath '%s': '{%s}' is not a field lunet can fill (use {epoch} or a " ..
                 "log name such as {val_loss}, with an optional format as in {epoch:02d})",
                 what, path, field)
      end
      local flags, width, prec, kind = spec:match("^([+ #0-]*)(%d*)(%.?%d*)([dxXofFeEgGs%%]?)$")
      if not flags or prec == "." then
        E.raisef("%s: filepath '%s': the format '%s' of field '%s' is not one lunet can " ..
                 "apply ([sign][0][width][.precision][type], type d, x, o, f, e, g, %% or s, " ..
                 "as in {epoch:02d} or {val_loss:.4f})", what, path, spec, name)
      end
      parts[#parts + 1] = {name = name, spec = spec, flags = flags, width = width, prec = prec,
                           kind = kind}
      i = close + 1
    elseif c == "}" then
      E.raisef("%s: filepath '%s' has a '}' without its '{' (write '}}' for a brace)", what, path)
    else
      local j = path:find("[{}]", i) or #path + 1
      parts[#parts + 1] = path:sub(i, j - 1)
      i = j
    end
  end
  return parts
end
callbacks.parse_path = parse_path

local function format_field(f, v)
  if f.spec == "" then return py_repr(v) end
  local k = f.kind
  if type(v) ~= "number" then
    return sformat("%" .. f.flags:gsub("0", "") .. f.width .. "s", tostring(v))
  end
  if v ~= v or v == math.huge or v == -math.huge then
    return sformat("%" .. f.width .. "s", py_repr(v)) -- Python prints nan, inf
  end
  if k == "d" or k == "x" or k == "X" or k == "o" then
    return sformat("%" .. f.flags .. f.width .. k, math.tointeger(math.floor(v)))
  end
  if k == "%" then
    return sformat("%" .. f.flags .. f.width .. (f.prec ~= "" and f.prec or ".6") .. "f", v * 100) .. "%"
  end
  if k == "s" then return sformat("%" .. f.flags .. f.width .. "s", py_repr(v)) end
  if k == "" then
    if f.prec == "" then return sformat("%" .. f.flags .. f.width .. "s", py_repr(v)) end
    k = "g"
  end
  if k == "F" then k = "f" end
  return sformat("%" .. f.flags .. f.width .. (f.prec ~= "" and f.prec or ".6") .. k, v)
end

local function format_path(path, epoch, logs, parts)
  parts = parts or parse_path("ModelCheckpoint", path)
  local out = {}
  for i, p in ipairs(parts) do
    if type(p) == "string" then
      out[i] = p
    else
      local v
      if p.name == "epoch" then v = epoch else v = logs and logs[p.name] end
      if v == nil then
        E.raisef("ModelCheckpoint: the file name '%s' needs '%s', which the logs do not have " ..
                 "(they have: %s)", path, p.name, available(logs))
      end
      out[i] = format_field(p, v)
    end
  end
  return table.concat(out)
end
callbacks.format_path = format_path

-- ---- base class -----------------------------------------------------------------------------

--- Base class: callbacks.Callback:extend{on_epoch_end = function(self, epoch, logs) ... end}
local Callback = {}
Callback.__index = Callback
callbacks.Callback = Callback

function Callback:extend(t)
  t = t or {}
  t.__index = t
  return setmetatable(t, self)
end

function Callback:new(t)
  return setmetatable(t or {}, self)
end

function Callback:set_model(model) self.model = model end
function Callback:set_params(params) self.params = params end

-- A class derived from Callback. Its constructor takes a keyword table,
-- or Keras's positional arguments (named by `positional`, in order)
-- optionally followed by a keyword table: CSVLogger("log.csv", ";"),
-- ModelCheckpoint("m.h5", {save_best_only = true}). Unknown keys fail.
local function class(name, known, init, positional)
  local cls = Callback:extend({class_name = name})
  setmetatable(cls, {__index = Callback, __call = E.protect(function(_, ...)
    local n = select("#", ...)
    local args, i = {}, 1
    while i <= n and type((select(i, ...))) ~= "table" do
      local key = positional and positional[i]
      if not key then E.raise(sformat("%s: too many positional arguments", name)) end
      args[key] = (select(i, ...))
      i = i + 1
    end
    local kw = select(i, ...)
    if type(kw) == "table" then
      O.keys(name, kw, known)
      for k, v in pairs(kw) do
        if args[k] ~= nil then
          E.raise(sformat("%s: '%s' given twice", name, k))
        end
        args[k] = v
      end
    end
    local self = setmetatable({}, cls)
    init(self, args)
    return self
  end)})
  return cls
end

-- Optimizer learning rate, read and written through optimizer.learning_rate.
local function get_lr(model, who)
  local opt = model.optimizer
  if opt == nil then E.raise(who .. ": the model has no optimizer (compile it first)") end
  local lr = opt.learning_rate
  if type(lr) ~= "number" then lr = opt.lr end
  if type(lr) ~= "number" then
    E.raise(who .. ": the optimizer's learning_rate is not a number (a schedule cannot be changed)")
  end
  return lr
end

local function set_lr(model, lr)
  model.optimizer.learning_rate = lr
end

-- Keras's mode handling: returns is_max.
local function resolve_mode(who, mode, monitor)
  if mode ~= "auto" and mode ~= "min" and mode ~= "max" then
    warn(sformat("%s mode %s is unknown, fallback to auto mode.", who, tostring(mode)))
    mode = "auto"
  end
  if mode == "max" then return true end
  if mode == "min" then return false end
  return monitor:find("acc", 1, true) ~= nil or monitor:sub(1, 8) == "fmeasure"
end

function available(logs)
  local ks = {}
  for k in pairs(logs or {}) do ks[#ks + 1] = k end
  table.sort(ks)
  return table.concat(ks, ",")
end

-- ---- History --------------------------------------------------------------------------------

--- Records every epoch's logs: history.history[name] is a list (one value
-- per epoch), history.epoch the epoch numbers (0-based), history.keys the
-- names in Keras's order (loss, metrics, val_loss, val_metrics, extras such
-- as lr), history.params fit's parameters. fit returns one.
callbacks.History = class("History", {}, function(self)
  self.history, self.epoch, self.keys, self.params = {}, {}, {}, {}
end)

function callbacks.History:on_train_begin()
  self.epoch = {}
end

function callbacks.History:on_epoch_end(epoch, logs)
  self.epoch[#self.epoch + 1] = epoch
  local order = (self.model and rawget(self.model, "_log_order")) or {}
  local seen, names = {}, {}
  for _, k in ipairs(order) do
    if logs[k] ~= nil then names[#names + 1] = k; seen[k] = true end
  end
  local extra = {}
  for k in pairs(logs) do if not seen[k] then extra[#extra + 1] = k end end
  table.sort(extra)
  for _, k in ipairs(extra) do names[#names + 1] = k end
  for _, k in ipairs(names) do
    local h = self.history[k]
    if h == nil then
      h = {}
      self.history[k] = h
      self.keys[#self.keys + 1] = k
    end
    h[#h + 1] = logs[k]
  end
end

-- ---- EarlyStopping -----------------------------------------------------------------------------

--- Stops training when `monitor` ("val_loss") has not improved by more than
-- min_delta (0) for `patience` (0) epochs. mode "auto"/"min"/"max";
-- baseline: a value to beat; restore_best_weights: set the weights of the
-- best epoch when stopping. verbose 1 prints when it stops.
callbacks.EarlyStopping = class("EarlyStopping",
  {monitor = 1, min_delta = 1, patience = 1, verbose = 1, mode = 1, baseline = 1,
   restore_best_weights = 1},
  function(self, a)
    local who = "EarlyStopping"
    self.monitor = O.string(who, "monitor", a.monitor) or "val_loss"
    self.patience = O.integer(who, "patience", a.patience, 0) or 0
    self.verbose = O.verbose(who, a.verbose, 0)
    self.baseline = O.number(who, "baseline", a.baseline)
    self.restore_best_weights = O.boolean(who, "restore_best_weights", a.restore_best_weights) or false
    self.is_max = resolve_mode(who, O.string(who, "mode", a.mode) or "auto", self.monitor)
    self.min_delta = math.abs(O.number(who, "min_delta", a.min_delta) or 0) * (self.is_max and 1 or -1)
  end)

local function improved(is_max, a, b)
  if is_max then return a > b end
  return a < b
end

function callbacks.EarlyStopping:on_train_begin()
  self.wait, self.stopped_epoch, self.best_weights = 0, 0, nil
  if self.baseline ~= nil then self.best = self.baseline
  else self.best = self.is_max and -math.huge or math.huge end
end

function callbacks.EarlyStopping:on_epoch_end(epoch, logs)
  local current = logs and logs[self.monitor]
  if current == nil then
    warn(sformat("Early stopping conditioned on metric `%s` which is not available. " ..
                 "Available metrics are: %s", self.monitor, available(logs)))
    return
  end
  if improved(self.is_max, current - self.min_delta, self.best) then
    self.best, self.wait = current, 0
    if self.restore_best_weights then self.best_weights = self.model:get_weights() end
  else
    self.wait = self.wait + 1
    if self.wait >= self.patience then
      self.stopped_epoch = epoch
      self.model.stop_training = true
      if self.restore_best_weights and self.best_weights then
        if self.verbose > 0 then say("Restoring model weights from the end of the best epoch.") end
        self.model:set_weights(self.best_weights)
      end
    end
  end
end

function callbacks.EarlyStopping:on_train_end()
  if self.stopped_epoch > 0 and self.verbose > 0 then
    say(sformat("Epoch %05d: early stopping", self.stopped_epoch + 1))
  end
end

-- ---- ModelCheckpoint ------------------------------------------------------------------------------

--- Saves the model (model:save, or model:save_weights with
-- save_weights_only) at the end of every epoch, to filepath formatted with
-- the epoch (1-based, as Keras) and the logs: "ckpt-{epoch:02d}-{val_loss:.2f}.h5".
-- save_best_only: only when `monitor` improved (mode auto/min/max).
-- Unlike Keras, an epoch whose loss is NaN or infinite is never saved (a
-- warning says so), so the last good checkpoint survives a divergence.
callbacks.ModelCheckpoint = class("ModelCheckpoint",
  {filepath = 1, monitor = 1, verbose = 1, save_best_only = 1, save_weights_only = 1,
   mode = 1, save_freq = 1, options = 1},
  function(self, a)
    local who = "ModelCheckpoint"
    if type(a.filepath) ~= "string" or a.filepath == "" then
      E.raisef("%s: filepath (a non-empty string) is required, got %s", who, O.show(a.filepath))
    end
    self.filepath = a.filepath
    self._parts = parse_path(who, a.filepath) -- a bad pattern fails now, not after an epoch
    self.monitor = O.string(who, "monitor", a.monitor) or "val_loss"
    self.verbose = O.verbose(who, a.verbose, 0)
    self.save_best_only = O.boolean(who, "save_best_only", a.save_best_only) or false
    self.save_weights_only = O.boolean(who, "save_weights_only", a.save_weights_only) or false
    local freq = a.save_freq or "epoch"
    if freq ~= "epoch" then
      E.raisef("%s: only save_freq = 'epoch' is supported, got %s", who, O.show(freq))
    end
    if a.options ~= nil then
      E.raisef("%s: options is for TensorFlow SavedModel files; lunet writes HDF5 files", who)
    end
    self.is_max = resolve_mode(who, O.string(who, "mode", a.mode) or "auto", self.monitor)
    self.best = self.is_max and -math.huge or math.huge
  end, {"filepath", "monitor", "verbose", "save_best_only", "save_weights_only", "mode"})

function callbacks.ModelCheckpoint:_save(path)
  if not main_rank() then return end
  local m = self.model
  if self.save_weights_only then m:save_weights(path, {overwrite = true})
  else m:save(path, {overwrite = true}) end
end

function callbacks.ModelCheckpoint:on_epoch_end(epoch, logs)
  local loss = logs and logs.loss
  if loss ~= nil and (loss ~= loss or loss == math.huge or loss == -math.huge) then
    -- lunet's guard (Keras would save): weights trained on a non-finite
    -- loss never replace a good checkpoint
    warn(sformat("ModelCheckpoint: epoch %d ended with a non-finite loss (%s); not saving",
                 epoch + 1, py_repr(loss)))
    return
  end
  local path = format_path(self.filepath, epoch + 1, logs, self._parts)
  if not self.save_best_only then
    if self.verbose > 0 then say(sformat("\nEpoch %05d: saving model to %s", epoch + 1, path)) end
    self:_save(path)
    return
  end
  local current = logs and logs[self.monitor]
  if current == nil then
    warn(sformat("Can save best model only with %s available, skipping.", self.monitor))
    return
  end
  if improved(self.is_max, current, self.best) then
    if self.verbose > 0 then
      say(sformat("\nEpoch %05d: %s improved from %0.5f to %0.5f, saving model to %s",
                    epoch + 1, self.monitor, self.best, current, path))
    end
    self.best = current
    self:_save(path)
  elseif self.verbose > 0 then
    say(sformat("\nEpoch %05d: %s did not improve from %0.5f", epoch + 1, self.monitor, self.best))
  end
end

-- ---- CSVLogger ----------------------------------------------------------------------------------

--- Writes every epoch's logs to a CSV file: a header "epoch,<sorted log
-- names>" then one row per epoch. CSVLogger(filename [, separator [, append]])
-- or CSVLogger{filename = ..., separator = ",", append = false}.
-- The file is rewritten whole after every epoch, as every lunet file is
-- written (ln.io.write_file: symlinks followed, devices and read-only
-- files refused, atomic replacement), so it is never half a row; a write
-- that fails (a full disk, a file-size limit) raises, as ModelCheckpoint's.
callbacks.CSVLogger = class("CSVLogger", {filename = 1, separator = 1, append = 1},
  function(self, a)
    local who = "CSVLogger"
    if type(a.filename) ~= "string" or a.filename == "" then
      E.raisef("%s: filename (a non-empty string) is required, got %s", who, O.show(a.filename))
    end
    self.filename = a.filename
    self.sep = O.string(who, "separator", a.separator) or ","
    if self.sep == "" then E.raisef("%s: separator must not be empty", who) end
    self.append = O.boolean(who, "append", a.append) or false
  end, {"filename", "separator", "append"})

function callbacks.CSVLogger:_write()
  if not main_rank() then return end
  core.io_write_file(self.filename, table.concat(self.text), true, "CSVLogger")
end

function callbacks.CSVLogger:on_train_begin()
  local old = ""
  if self.append and main_rank() then
    core.io_check_write(self.filename, "CSVLogger") -- never opens a FIFO or a device
    local f = io.open(self.filename, "rb")
    if f then
      old = f:read("a") or ""
      f:close()
    end
  end
  -- as Keras, the file is (re)started now: a bad path fails before training
  self.text, self.keys, self.append_header = {old}, nil, old:match("^[^\n]*[^\n%s]") == nil
  self:_write()
end

function callbacks.CSVLogger:on_epoch_end(epoch, logs)
  logs = logs or {}
  if not self.keys then
    local ks = {}
    for k in pairs(logs) do ks[#ks + 1] = k end
    table.sort(ks)
    self.keys = ks
    if self.append_header then
      self.text[#self.text + 1] = "epoch" .. (#ks > 0 and self.sep or "") ..
                                  table.concat(ks, self.sep) .. "\n"
    end
  end
  local row = {tostring(epoch)}
  for _, k in ipairs(self.keys) do
    local v = logs[k]
    row[#row + 1] = v == nil and "NA" or py_repr(v)
  end
  self.text[#self.text + 1] = table.concat(row, self.sep) .. "\n"
  self:_write()
end

function callbacks.CSVLogger:on_train_end()
  self.text = nil
end

-- ---- TerminateOnNaN -------------------------------------------------------------------------------

--- Stops training as soon as the loss is NaN or infinite.
callbacks.TerminateOnNaN = class("TerminateOnNaN", {}, function() end)

function callbacks.TerminateOnNaN:on_train_batch_end(batch, logs)
  local loss = logs and logs.loss
  if loss ~= nil and (loss ~= loss or loss == math.huge or loss == -math.huge) then
    say(sformat("Batch %d: Invalid loss, terminating training", batch))
    self.model.stop_training = true
  end
end

-- ---- ReduceLROnPlateau --------------------------------------------------------------------------------

--- Multiplies the learning rate by `factor` (0.1) when `monitor`
-- ("val_loss") has not improved by min_delta (1e-4) for `patience` (10)
-- epochs; then waits `cooldown` (0) epochs; never below min_lr (0).
-- Adds "lr" to the logs (so to the history).
callbacks.ReduceLROnPlateau = class("ReduceLROnPlateau",
  {monitor = 1, factor = 1, patience = 1, verbose = 1, mode = 1, min_delta = 1,
   cooldown = 1, min_lr = 1, epsilon = 1},
  function(self, a)
    local who = "ReduceLROnPlateau"
    self.monitor = O.string(who, "monitor", a.monitor) or "val_loss"
    self.factor = O.number(who, "factor", a.factor, {min = 0, max = 1, max_open = true}) or 0.1
    self.patience = O.integer(who, "patience", a.patience, 0) or 10
    self.verbose = O.verbose(who, a.verbose, 0)
    if a.min_delta ~= nil and a.epsilon ~= nil then
      E.raisef("%s: give min_delta or its legacy alias epsilon, not both", who)
    end
    self.min_delta = O.number(who, a.min_delta ~= nil and "min_delta" or "epsilon",
                              a.min_delta or a.epsilon) or 1e-4
    self.cooldown = O.integer(who, "cooldown", a.cooldown, 0) or 0
    self.min_lr = O.number(who, "min_lr", a.min_lr, {min = 0}) or 0
    local mode = O.string(who, "mode", a.mode) or "auto"
    if mode ~= "auto" and mode ~= "min" and mode ~= "max" then
      warn(sformat("Learning rate reduction mode %s is unknown, fallback to auto mode.", tostring(mode)))
      mode = "auto"
    end
    self.is_max = not (mode == "min" or (mode == "auto" and not self.monitor:find("acc", 1, true)))
    self:_reset()
  end)

function callbacks.ReduceLROnPlateau:_reset()
  self.best = self.is_max and -math.huge or math.huge
  self.cooldown_counter, self.wait = 0, 0
end

function callbacks.ReduceLROnPlateau:on_train_begin()
  self:_reset()
end

function callbacks.ReduceLROnPlateau:on_epoch_end(epoch, logs)
  logs = logs or {}
  logs.lr = get_lr(self.model, "ReduceLROnPlateau")
  local current = logs[self.monitor]
  if current == nil then
    warn(sformat("Learning rate reduction is conditioned on metric `%s` which is not " ..
                 "available. Available metrics are: %s", self.monitor, available(logs)))
    return
  end
  local better
  if self.is_max then better = current > self.best + self.min_delta
  else better = current < self.best - self.min_delta end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.wait = 0
  end
  if better then
    self.best, self.wait = current, 0
  elseif self.cooldown_counter <= 0 then
    self.wait = self.wait + 1
    if self.wait >= self.patience then
      local old = get_lr(self.model, "ReduceLROnPlateau")
      if old > self.min_lr then
        local new = math.max(old * self.factor, self.min_lr)
        set_lr(self.model, new)
        if self.verbose > 0 then
          say(sformat("\nEpoch %05d: ReduceLROnPlateau reducing learning rate to %s.",
                        epoch + 1, py_repr(new)))
        end
        self.cooldown_counter, self.wait = self.cooldown, 0
      end
    end
  end
end

-- ---- LearningRateScheduler -------------------------------------------------------------------------------

--- Sets the learning rate at the start of every epoch to
-- schedule(epoch, lr) (epoch 0-based, lr the current rate). Adds "lr" to
-- the logs. LearningRateScheduler(fn [, verbose]) or {schedule = fn, verbose = 0}.
callbacks.LearningRateScheduler = class("LearningRateScheduler", {schedule = 1, verbose = 1},
  function(self, a)
    local who = "LearningRateScheduler"
    if a.schedule == nil then E.raisef("%s: schedule (a function(epoch, lr)) is required", who) end
    self.schedule = O.callable(who, "schedule", a.schedule)
    self.verbose = O.verbose(who, a.verbose, 0)
  end, {"schedule", "verbose"})

function callbacks.LearningRateScheduler:on_epoch_begin(epoch)
  local lr = get_lr(self.model, "LearningRateScheduler")
  local new = self.schedule(epoch, lr)
  if type(new) ~= "number" or not (new >= 0) or new == math.huge then
    E.raisef("LearningRateScheduler: the schedule returned %s for epoch %d (0-based); a " ..
             "learning rate is a finite number >= 0", O.show(new), epoch)
  end
  set_lr(self.model, new)
  if self.verbose > 0 then
    say(sformat("\nEpoch %05d: LearningRateScheduler setting learning rate to %s.",
                  epoch + 1, py_repr(new)))
  end
end

function callbacks.LearningRateScheduler:on_epoch_end(epoch, logs)
  if logs then logs.lr = get_lr(self.model, "LearningRateScheduler") end
end

-- ---- LambdaCallback ----------------------------------------------------------------------------------------

--- Functions without self: LambdaCallback{on_epoch_end = function(epoch, logs) ... end,
-- on_batch_end = function(batch, logs) ... end, on_train_begin = function(logs) ... end, ...}
local hooks = {"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
               "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
               "on_predict_batch_end"}
local hook_set = {}
for _, h in ipairs(hooks) do hook_set[h] = 1 end

callbacks.LambdaCallback = class("LambdaCallback", hook_set, function(self, a)
  for k, f in pairs(a) do
    O.callable("LambdaCallback", k, f)
    self[k] = function(_, ...) return f(...) end
  end
end)

-- ---- the list fit drives ----------------------------------------------------------------------------------------

local CallbackList = {}
CallbackList.__index = CallbackList

-- The method of cb for hook `name`, following Keras's aliases
-- (on_train_batch_* falls back to on_batch_*).
local function method(cb, name)
  local f = cb[name]
  if f == nil and name == "on_train_batch_begin" then f = cb.on_batch_begin end
  if f == nil and name == "on_train_batch_end" then f = cb.on_batch_end end
  if type(f) == "function" then return f end
  return nil
end

--- The callbacks of one fit/evaluate: list (user's, in order), model,
-- params. Plain tables get .model and .params set.
function callbacks.CallbackList(list, model, params)
  local self = setmetatable({list = {}}, CallbackList)
  for i, cb in ipairs(list or {}) do
    if type(cb) ~= "table" then
      E.raise(sformat("callbacks: entry %d is a %s, not a callback table", i, type(cb)))
    end
    if type(cb.set_model) == "function" then cb:set_model(model) else cb.model = model end
    if type(cb.set_params) == "function" then cb:set_params(params) else cb.params = params end
    self.list[#self.list + 1] = cb
  end
  self.has = {}
  for _, h in ipairs(hooks) do
    for _, cb in ipairs(self.list) do
      if method(cb, h) then self.has[h] = true; break end
    end
  end
  return self
end

--- Calls hook `name` on every callback that has it.
function CallbackList:call(name, ...)
  if not self.has[name] then return end
  for _, cb in ipairs(self.list) do
    local f = method(cb, name)
    if f then f(cb, ...) end
  end
end

-- Every function a user reaches: errors point at the user's line.
for _, v in pairs(callbacks) do
  if type(v) == "table" and v ~= callbacks then E.protect_all(v) end
end
E.protect_all(callbacks)

-- ln.callbacks.<Class>; anything else is unknown.
setmetatable(callbacks, {
  __index = function(_, k)
    if type(k) ~= "string" then return nil end
    local known = {}
    for name, v in pairs(callbacks) do
      if type(v) == "table" and rawget(v, "class_name") then known[#known + 1] = name end
    end
    E.raise(require("lunet.registry").unknown("callback", "callback class", k, known))
  end,
})

return callbacks
