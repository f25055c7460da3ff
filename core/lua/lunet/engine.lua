--- lunet.engine: compile, fit, evaluate, predict and the *_on_batch
-- methods of models (added to lunet.models' methods), with Keras 2
-- semantics (see docs/model-api.md).
--
-- fit has one step path: runs of batches in one C call each
-- (ln_net_train_run: gather the rows, forward, loss, metrics, backward and,
-- for the optimizers backed by a plugin, the update over the cached
-- (gradient, variable) pairs), cut into runs of one batch when per-batch
-- callbacks or a Lua optimizer (optimizer:apply_gradients between batches)
-- need control. The pieces are those the low-level API exposes
-- (model:forward, loss:compute, model:backward,
-- optimizer:apply_gradients), with the same numbers.
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local models = require "lunet.models"
local losses = require "lunet.losses"
local metrics_mod = require "lunet.metrics"
local callbacks = require "lunet.callbacks"
local Progbar = require "lunet.progbar"
local display = require "lunet.display"
local O = require "lunet.options"
local SW = require "lunet.sample_weights"

local nn = core.nn
local methods = models.methods
local engine = {}

-- Progress bars: lunet's clock and terminal test (a notebook cell counts
-- as a terminal: it redraws the bar in place).
do
  local default_isatty = Progbar.isatty
  Progbar.clock = core.time
  Progbar.isatty = function(file)
    if file == nil or file == io.stdout then return display.isatty(1) end
    if file == io.stderr then return display.isatty(2) end
    return default_isatty(file)
  end
end

local sformat = string.format

-- lunet.engine_tape, loaded when a model first needs it.
local function tape_engine() return require "lunet.engine_tape" end

-- ---- helpers ------------------------------------------------------------------------------

local function check_keys(what, opts, known)
  if type(opts) ~= "table" then E.raisef("%s: options must be a table, got %s", what, type(opts)) end
  O.keys(what, opts, known)
end

-- Batches of bs covering n rows (no overflow for any batch size: a
-- batch_size of math.maxinteger is one batch).
local function nbatches(n, bs)
  return n // bs + (n % bs > 0 and 1 or 0)
end

local function check_int(what, key, v, min)
  return O.integer(what, key, v, min)
end

-- Options Keras has that lunet accepts and ignores (data-pipeline knobs):
-- checked for their type all the same.
local function check_pipeline(what, opts)
  O.integer(what, "max_queue_size", opts.max_queue_size, 1)
  O.integer(what, "workers", opts.workers, 0)
  O.boolean(what, "use_multiprocessing", opts.use_multiprocessing)
end

-- A callbacks option: nil or a list.
local function check_callbacks(what, list)
  if list ~= nil and (type(list) ~= "table" or getmetatable(list) ~= nil) then
    E.raisef("%s: callbacks must be a list of callbacks, got %s", what, O.show(list))
  end
  return list or {}
end

--- verbose: 0/false silent, 1/true/"auto" a progress bar (one line per
-- epoch when stdout is not a terminal, as verbose = 2), 2 one line.
function engine.verbose_mode(v, default, what)
  v = O.verbose(what or "verbose", v, default)
  if v == 1 and not display.isatty(1) then v = 2 end
  -- under mpirun only rank 0 prints progress (lunet.distributed)
  if v > 0 and not require("lunet.distributed").writes_files() then v = 0 end
  return v
end

local function require_compiled(self, what)
  local c = rawget(self, "_compiled")
  if not c then
    E.raise(sformat("%s: You must compile your model before training/testing. " ..
                  "Use model:compile{loss = ..., optimizer = ...}.", what))
  end
  return c
end

-- Samples in a tensor (its first size).
local function rows(what, name, t)
  if not registry.is_tensor(t) then
    E.raise(sformat("%s: %s must be a tensor, got %s", what, name, type(t)))
  end
  local s = t:shape()
  if #s == 0 then E.raise(sformat("%s: %s must have a batch axis, got a scalar", what, name)) end
  return s[1], s
end

-- An error message without its "file:line: " prefix.
local function bare(err)
  return (tostring(err):gsub("^[^:\n]+:%d+: ", ""))
end

-- A failed batch call of the net (a label out of range, a shape) is raised
-- with where it happened: "fit: epoch 2/10, batch 17/1719: ...". (pcall
-- of the C function allocates nothing per step.)
-- The batch is rows start, start + 1, ... (0-based) of the epoch's order:
-- index (a shuffled order, or nil for x's own order). A plugin names a bad
-- label by its row in the batch ("label 10 at index 24"); the message
-- names its row of y instead, 1-based as Lua counts.
local function batch_error(err, index, start, fmt, ...)
  local msg = bare(err)
  if msg:find("label .- at index %d+") then
    local order = index and index:totable()
    msg = msg:gsub("label (%S+) at index (%d+)", function(v, r)
      local p = start + tonumber(r)
      local row = (order and order[p + 1] or p) + 1
      return sformat("label %s at y[%d] (1-based, as Lua counts)", v, row)
    end)
  end
  E.raise(sformat(fmt, ...) .. ": " .. msg)
end

local function check_xy(what, x, y)
  local nx = rows(what, "x", x)
  local ny = rows(what, "y", y)
  if nx ~= ny then
    E.raise(sformat("%s: x and y have different numbers of samples: %d and %d " ..
                  "(their first sizes must match)", what, nx, ny))
  end
  return nx
end

-- ---- the data hooks ------------------------------------------------------------------------

-- What fit, evaluate and the *_on_batch methods ask a model about its data;
-- a model with several inputs or outputs (lunet.functional) has its own:
--   model:_check_xy(what, x, y) -> n, x, y   (checked, in the form its net takes)
--   model:_new_outputs(n) -> what predict fills; model:_outputs_result(out)
function methods:_check_xy(what, x, y)
  return check_xy(what, x, y), x, y
end

-- The targets as a list in output order, and the output names (a
-- Sequential has one output, named after the model).
function methods:_targets_list(y) return {y} end
function methods:_loss_output_names() return {self.name} end

function methods:_new_outputs(n)
  local shape = {n}
  for _, d in ipairs(self.output_shape) do shape[#shape + 1] = d end
  return nn.tensor_zeros(shape)
end

function methods:_outputs_result(out) return out end

-- ---- optimizer resolution ---------------------------------------------------------------------

--- An optimizer from compile's argument: an object with apply_gradients,
-- a unit name ("adam"), or a class name ("Adam"). nil gives "rmsprop" as
-- in Keras.
function engine.get_optimizer(spec)
  if spec == nil then spec = "rmsprop" end
  if type(spec) == "string" then
    local unit = spec:lower()
    if not registry.has("optimizer", unit) then unit = registry.find_class("optimizer", spec) end
    if not unit then
      E.raise(registry.unknown("optimizer", "optimizer", spec, registry.names_of("optimizer")))
    end
    local optim = require "lunet.optimizers"
    if type(optim.get) == "function" then return optim.get(unit) end
    local cls = registry.class_of("optimizer", unit)
    return optim[cls]{}
  end
  local t = type(spec)
  if (t == "table" or t == "userdata") and spec.apply_gradients then return spec end
  E.raise("compile: optimizer must be a name or an optimizer object (with apply_gradients), got " .. t)
end

-- ---- compile ------------------------------------------------------------------------------------

local compile_keys = {loss = 1, optimizer = 1, metrics = 1, loss_weights = 1,
                      weighted_metrics = 1, run_eagerly = 1, steps_per_execution = 1}

--- compile{loss = ..., optimizer = ..., metrics = {...}}. Compiling again
-- keeps the weights (and an optimizer object's state) and takes a new
-- snapshot of the layers' trainable flags, as Keras does: flags changed
-- after compile take effect at the next compile.
function methods:compile(opts)
  if type(opts) ~= "table" then
    E.raise(sformat("%s: compile expects a table {loss = ..., optimizer = ..., metrics = ...}", self.name))
  end
  check_keys("compile", opts, compile_keys)
  O.boolean("compile", "run_eagerly", opts.run_eagerly)
  O.integer("compile", "steps_per_execution", opts.steps_per_execution, 1)
  if opts.loss_weights ~= nil then
    E.raise("compile: loss_weights needs a model with several outputs (a functional model)")
  end
  if opts.loss == nil then E.raise(sformat("%s: compile needs a loss", self.name)) end
  rawset(self, "_compile_args", {loss = opts.loss, metrics = opts.metrics,
                                 weighted_metrics = opts.weighted_metrics}) -- for saving
  local ok, loss = pcall(losses.get, opts.loss)
  if not ok then E.raise("compile: " .. bare(loss)) end
  local opt = engine.get_optimizer(opts.optimizer)
  local specs, names = engine.metric_specs(opts.metrics, opts.weighted_metrics)
  table.insert(names, 1, "loss")
  local snapshot = {}
  for _, l in ipairs(self.layers) do snapshot[l] = l.trainable end
  rawset(self, "_optimizer", opt)
  rawset(self, "_loss", opts.loss)
  rawset(self, "_compiled_loss", loss)
  rawset(self, "_metrics_names", names)
  rawset(self, "_compiled", {loss = loss, specs = specs, snapshot = snapshot})
end

-- A compile metrics value as a list (nil: none; one entry: a list of one).
local function metric_entries(what, v)
  if v == nil then return {} end
  if type(v) ~= "table" or metrics_mod.is_metric(v) or metrics_mod.is_lua_metric(v) or
     losses.is_loss(v) or losses.is_lua_loss(v) then
    return {v}
  end
  for k in pairs(v) do
    if math.type(k) ~= "integer" then
      E.raisef("compile: %s of a model with one output must be a list, got a table keyed " ..
               "by '%s'", what, tostring(k))
    end
  end
  return v
end

--- The metric specs of one output from compile's metrics and
-- weighted_metrics (Keras 2: the unweighted ones, then the weighted ones,
-- spec.weighted set) and their history keys; output: the output's name
-- when the model has several (keys "<output>_<metric>"), taken: the set of
-- keys of earlier outputs (updated).
function engine.metric_specs(list, wlist, output, taken)
  taken = taken or {}
  local specs, names, objects = {}, {}, {}
  local function add(entry, weighted)
    local okm, spec = pcall(metrics_mod.spec, entry)
    if not okm then E.raise("compile: " .. (output and ("output '" .. output .. "': ") or "") ..
                            bare(spec)) end
    local name
    if weighted then
      name = metrics_mod.weighted_name(spec.name, taken, output)
      if type(entry) == "table" and objects[entry] then
        E.raisef("compile: the metric object %s is in both metrics and weighted_metrics; " ..
                 "give weighted_metrics its own instance (each keeps its running state)",
                 spec.name)
      end
    else
      name = output and (output .. "_" .. spec.name) or spec.name
      if type(entry) == "table" then objects[entry] = true end
    end
    if taken[name] then
      E.raisef("compile: two metrics have the history key '%s'; give one of them another " ..
               "name", name)
    end
    taken[name] = true
    spec.weighted = weighted or nil
    spec.entry = entry
    specs[#specs + 1] = spec
    names[#names + 1] = name
  end
  for _, m in ipairs(metric_entries("metrics", list)) do add(m, false) end
  for _, m in ipairs(metric_entries("weighted_metrics", wlist)) do add(m, true) end
  return specs, names
end

--- The weighted flags of a list of metric specs (for net:set_weighted_metrics).
function engine.weighted_flags(specs)
  local f = {}
  for i, spec in ipairs(specs) do f[i] = spec.weighted or false end
  return f
end

-- Whether a model trains through a gradient tape (lunet.engine_tape): a
-- layer, the loss or a metric is written in Lua, or add_loss gave terms.
local function needs_tape(self, c)
  if models.has_lua_layers(self) or losses.is_lua_loss(c.loss) then return true end
  if rawget(self, "_added_losses") then return true end
  for _, spec in ipairs(c.specs) do if spec.lua then return true end end
  return false
end

-- The layers' list as a key: compiled state is set up again when it changes.
local function layers_key(self)
  local k = {}
  for i, l in ipairs(self.layers) do k[i] = tostring(l) end
  return table.concat(k, ";")
end

-- The set of self's layers that train (compile's snapshot of the flags).
local function training_layers(self, snapshot)
  local on = {}
  for _, l in ipairs(self.layers) do
    local f = snapshot[l]
    if f == nil then f = l.trainable end
    on[l] = f or nil
  end
  return on
end

-- prepare for a model that trains through a tape.
local function prepare_tape(self, c)
  local key = layers_key(self)
  if c.net and c.net.tape and c.key == key then return c end
  local on, vars = training_layers(self, c.snapshot), {}
  for _, l in ipairs(self.layers) do
    if on[l] then
      for _, v in ipairs(l.trainable_variables) do vars[#vars + 1] = v end
    end
  end
  c.constraints = tape_engine().constraints_of(self, on)
  c.net = tape_engine().new(self, c.loss, c.metrics, vars, c.constraints)
  c.net.weighted = engine.weighted_flags(c.specs)
  c.key, c.pairs, c.gen = key, {}, nil
  return c
end

-- Makes the C network ready for training/evaluation with y's shape:
-- resolves "accuracy"-like metrics, sets the loss, metrics and the
-- trainable snapshot, and caches the optimizer's (gradient, variable) pairs
-- and the constraints of the weights that train.
local function prepare(self, y)
  if self._prepare_net then
    local c = self:_prepare_net(y)
    c.constraints = c.constraints or
                    tape_engine().constraints_of(self, training_layers(self, c.snapshot))
    return c
  end
  local c = rawget(self, "_compiled")
  local out = self.output_shape
  local ys = y:shape()
  if not c.metrics then
    local objs = {}
    for i, spec in ipairs(c.specs) do
      objs[i] = spec.make(#ys, ys[#ys], #out + 1, out[#out])
    end
    c.metrics = objs
  end
  if needs_tape(self, c) then return prepare_tape(self, c) end
  local net, gen = self:_get_net()
  if c.net == net and c.gen == gen then return c end
  local mc = {}
  for i, m in ipairs(c.metrics) do mc[i] = m._c end
  net:set_loss(c.loss._c)
  net:set_metrics(mc)
  net:set_weighted_metrics(1, engine.weighted_flags(c.specs))
  local flags
  flags, c.pairs = engine.trainable_pairs(self.layers, c.snapshot)
  net:set_trainable(flags)
  c.constraints = tape_engine().constraints_of(self, training_layers(self, c.snapshot))
  c.net, c.gen = net, gen
  return c
end

--- The compile-time trainable flag of each layer of `list` (snapshot:
-- layer -> flag, taken by compile) and the (gradient, variable) pairs of
-- the layers that train, in Keras's order.
function engine.trainable_pairs(list, snapshot)
  local flags, pairs_ = {}, {}
  for i, l in ipairs(list) do
    local f = snapshot[l]
    if f == nil then f = l.trainable end
    flags[i] = f
    if f then
      -- the weights that take gradients, in Keras's order
      local first, second = {}, {}
      for _, w in ipairs(l._c:weights()) do
        if w.grad then
          local p = {w.grad, w.value, name = l.name .. "/" .. w.name}
          if w.trainable then first[#first + 1] = p else second[#second + 1] = p end
        end
      end
      for _, p in ipairs(first) do pairs_[#pairs_ + 1] = p end
      for _, p in ipairs(second) do pairs_[#pairs_ + 1] = p end
    end
  end
  return flags, pairs_
end

-- The C optimizer behind opt when its update is the plugin's own (not a
-- Lua optimizer, no apply_gradients overridden on the instance), or nil.
local function plugin_optimizer(opt)
  if type(opt) ~= "table" then return nil end
  local ud = rawget(opt, "_ud")
  if type(ud) ~= "userdata" or rawget(opt, "apply_gradients") ~= nil then return nil end
  return ud
end

-- Hands a plugin optimizer to the net (its pending weights restored
-- first), so that every training step updates the weights in C; returns
-- whether it did (else the caller applies the gradients: a Lua optimizer).
local function attach_optimizer(net, opt, pairs_)
  if net.tape then return false end -- a tape step applies its gradients itself
  local ud = #pairs_ > 0 and plugin_optimizer(opt)
  if not ud then net:set_optimizer(nil) return false end
  if rawget(opt, "_pending") then opt:build(pairs_) end
  net:set_optimizer(ud, pairs_)
  return true
end

-- ---- logs ------------------------------------------------------------------------------------------

-- {name = value} of the net's running results, names in compile's order.
local function results_logs(net, names, prefix, into)
  local logs = into or {}
  local vals = {net:results()}
  prefix = prefix or ""
  for i, n in ipairs(names) do logs[prefix .. n] = vals[i] end
  if net.tape then -- add_metric values of Lua layers
    for k, v in pairs(net:extra()) do logs[prefix .. k] = v end
  end
  return logs
end

-- The logs as an ordered list of {name, value} for the progress bar.
local function ordered(logs, order)
  local list, seen = {}, {}
  for _, k in ipairs(order) do
    if logs[k] ~= nil then list[#list + 1] = {k, logs[k]}; seen[k] = true end
  end
  local extra = {}
  for k in pairs(logs) do if not seen[k] then extra[#extra + 1] = k end end
  table.sort(extra)
  for _, k in ipairs(extra) do list[#list + 1] = {k, logs[k]} end
  return list
end

-- Runs the test loop over rows [start, start + count) of x, y; returns the
-- logs. bar: a Progbar or nil; cbs: a CallbackList or nil.
-- Seconds between progress-bar refreshes while batches run in C.
local BAR_SECONDS = 0.05

local function test_loop(self, c, x, y, start, count, bs, bar, cbs, names, what, world)
  local net = c.net
  net:reset_metrics()
  local steps = nbatches(count, bs)
  local bar_steps = bar and bar.verbose == 1 and bar.interactive
  local has_begin = cbs and cbs.has.on_test_batch_begin
  local has_end = cbs and cbs.has.on_test_batch_end
  -- runs of batches in one C call each, of one batch with batch callbacks
  -- (see fit)
  local per_batch = has_begin or has_end
  local step = 0
  while step < steps do
    if has_begin then cbs:call("on_test_batch_begin", step, {}) end
    local s = step * bs
    local done, err, failed = net:test_run(x, y, start + s, count - s, bs,
                                           per_batch and 1 or nil,
                                           (bar_steps and not per_batch) and BAR_SECONDS or nil)
    if done == nil then
      batch_error(err, nil, start + (step + failed) * bs, "%s: batch %d/%d", what,
                  step + failed + 1, steps)
    end
    step = step + done
    if has_end or bar_steps then
      local logs = results_logs(net, names)
      if has_end then cbs:call("on_test_batch_end", step - 1, logs) end
      if bar_steps then bar:update(step, ordered(logs, names), false) end
    end
  end
  return world and world:results(net, names) or results_logs(net, names), steps
end

-- ---- fit ------------------------------------------------------------------------------------------------

local fit_keys = {batch_size = 1, epochs = 1, verbose = 1, callbacks = 1, validation_split = 1,
                  validation_data = 1, shuffle = 1, initial_epoch = 1, validation_batch_size = 1,
                  validation_freq = 1, class_weight = 1, sample_weight = 1, steps_per_epoch = 1,
                  validation_steps = 1, max_queue_size = 1, workers = 1, use_multiprocessing = 1,
                  accumulate_steps = 1, per_rank_batch = 1}

-- The validation data of fit: x, y, first row, count (or nil).
local function validation_of(self, opts, x, y, n)
  local vd = opts.validation_data
  if vd ~= nil then
    if type(vd) ~= "table" then E.raise("fit: validation_data must be {x_val, y_val}") end
    local xv, yv = vd[1] or vd.x, vd[2] or vd.y
    local nv
    nv, xv, yv = self:_check_xy("fit: validation_data", xv, yv)
    local wv = vd[3] or vd.sample_weight
    if wv ~= nil then
      wv = SW.resolve("fit: validation_data", wv, nil, self:_targets_list(yv),
                      self:_loss_output_names(), nv)
    end
    return n, xv, yv, 0, nv, wv
  end
  local split = O.number("fit", "validation_split", opts.validation_split,
                         {min = 0, max = 1, max_open = true}) or 0
  if split > 0 then
    local at = math.floor(n * (1 - split))
    if at < 1 or at >= n then
      E.raise(sformat("fit: validation_split %g of %d samples leaves no training or no " ..
                    "validation samples", split, n))
    end
    return at, x, y, at, n - at
  end
  return n, nil
end

-- fit's one-time warning about a loss that is not finite.
local function warn_nonfinite(loss, epoch, step, steps)
  io.stderr:write(sformat("WARNING: fit: the loss is not finite (%s) in epoch %d, batch %d " ..
                          "(0-based, as callbacks count; step %d/%d): check the inputs, " ..
                          "targets and learning rate; ln.callbacks.TerminateOnNaN() stops there\n",
                          callbacks.py_repr(loss), epoch + 1, step, step + 1, steps))
end

-- A front end's interrupt (the Jupyter kernel's): fit stops between two
-- batches, with the model as those batches left it.
local function stop_if_interrupted(epoch, epochs, step, steps)
  if display.interrupted() then
    error(sformat("KeyboardInterrupt: fit stopped in epoch %d/%d after batch %d/%d; " ..
                  "the model keeps the updates made so far", epoch + 1, epochs, step, steps), 0)
  end
end

-- The batches of an epoch as this process runs them: `steps` global steps
-- of `gbs` rows; this process's rows of a full step (`lbs`), of the last
-- partial one (`lrest`), its rows per epoch (`lrows`) and the steps where
-- it has rows (`lsteps`: steps, or steps - 1 when its share of the last
-- batch is empty). One process: its share is everything.
local function batch_plan(ntrain, gbs, world)
  local steps, full = nbatches(ntrain, gbs), ntrain // gbs
  local rest = ntrain - full * gbs
  local lbs = world and world:share(gbs) or gbs
  local lrest = world and world:share(rest) or rest
  return {steps = steps, full = full, lbs = lbs, lrest = lrest,
          lrows = full * lbs + lrest, lsteps = full + (lrest > 0 and 1 or 0)}
end

--- fit(x, y, {batch_size = 32, epochs = 1, verbose = 1, shuffle = true,
-- validation_data = {x_val, y_val} | validation_split = 0.1,
-- initial_epoch = 0, callbacks = {...}, accumulate_steps = 1,
-- per_rank_batch = false}) -> History.
-- accumulate_steps = k: the optimizer steps once per k batches, on their
-- row-weighted mean gradient (as one batch k times larger would). Under
-- mpirun (several processes) every global batch is split across them
-- (lunet.data_parallel); per_rank_batch makes batch_size each process's
-- share (the global batch is then batch_size * processes).
function methods:fit(x, y, opts)
  opts = opts or {}
  check_keys("fit", opts, fit_keys)
  check_pipeline("fit", opts)
  for _, k in ipairs({"steps_per_epoch", "validation_steps"}) do
    if opts[k] ~= nil then E.raise("fit: " .. k .. " is not supported") end
  end
  local c = require_compiled(self, "fit")
  local n
  n, x, y = self:_check_xy("fit", x, y)
  if n == 0 then E.raise("fit: x and y are empty (0 samples)") end
  self:_check_input(x, "fit")
  local bs = check_int("fit", "batch_size", opts.batch_size or 32, 1)
  local epochs = check_int("fit", "epochs", opts.epochs or 1, 0)
  local initial = check_int("fit", "initial_epoch", opts.initial_epoch or 0, 0)
  local vfreq = check_int("fit", "validation_freq", opts.validation_freq or 1, 1)
  local accum = check_int("fit", "accumulate_steps", opts.accumulate_steps or 1, 1)
  local per_rank = O.boolean("fit", "per_rank_batch", opts.per_rank_batch) or false
  local ntrain, xv, yv, vstart, nv, wv = validation_of(self, opts, x, y, n)
  local onames = self:_loss_output_names()
  local weights = (opts.sample_weight ~= nil or opts.class_weight ~= nil) and
    SW.resolve("fit", opts.sample_weight, opts.class_weight, self:_targets_list(y), onames, n)
  if xv then self:_check_input(xv, "fit: validation_data") end
  local vbs = check_int("fit", "validation_batch_size", opts.validation_batch_size or bs, 1)
  local shuffle = opts.shuffle
  if shuffle == nil then shuffle = true end
  if shuffle ~= true and shuffle ~= false and shuffle ~= "batch" then
    E.raise("fit: shuffle must be true, false or 'batch'")
  end
  local mode = engine.verbose_mode(opts.verbose, 1, "fit")
  local user = check_callbacks("fit", opts.callbacks)
  local m = require("lunet.distributed").training_world()
  local world = m and require("lunet.data_parallel").new(m)
  local gbs = per_rank and world and bs * world.size or bs
  if world and gbs < world.size then
    E.raise(sformat("fit: batch_size %d is smaller than the %d processes (each needs a row " ..
                    "of every batch; per_rank_batch = true makes batch_size each one's share)",
                    gbs, world.size))
  end
  if world and world.rank > 0 then mode = 0 end -- rank 0 prints
  c = prepare(self, y)
  local net, opt, pairs_ = c.net, self.optimizer, c.pairs
  opt = type(opt) == "table" and rawget(opt, "_distributed_inner") or opt -- fit reduces itself
  local fused = attach_optimizer(net, opt, pairs_)
  if (weights or wv) and not net.set_sample_weight then
    E.raise("fit: sample_weight and class_weight are not supported for models with Lua " ..
            "layers or losses yet")
  end
  local weighted <close> = (weights or wv) and SW.apply(net, weights or {}, #onames)
  local names = self.metrics_names
  local order = registry.copy_list(names)
  for _, k in ipairs(names) do order[#order + 1] = "val_" .. k end
  rawset(self, "_log_order", order)

  local plan = batch_plan(ntrain, gbs, world)
  local steps, lbs = plan.steps, plan.lbs
  local index = shuffle and nn.index_new(ntrain) or nil
  -- this process's rows of every batch, in the epoch's order
  local lindex = world and nn.index_new(plan.lrows) or index
  if world and not index then lindex:shard(nil, ntrain, gbs, world.size, world.rank) end
  local history = callbacks.History()
  local list = registry.copy_list(user)
  list[#list + 1] = history
  local params = {verbose = mode, epochs = epochs, steps = steps}
  local cbs = callbacks.CallbackList(list, self, params)
  history.params = params
  rawset(self, "_history", history)
  rawset(self, "stop_training", false)
  local has_begin = cbs.has.on_train_batch_begin
  local has_end = cbs.has.on_train_batch_end
  local apply = #pairs_ > 0 and not fused
  local warned = false
  -- One step path: runs of batches in C (one thread team per run), cut
  -- where the progress bar wants a refresh; runs of ONE batch when
  -- per-batch callbacks, a Lua optimizer (apply_gradients) or constraints
  -- need control between batches.
  local cons = not net.tape and c.constraints or {} -- a tape step applies its own
  local per_batch = has_begin or has_end or apply or #cons > 0
  local busy <close> = display.busy()
  local run_seconds = display.run_seconds()
  -- the gradient stages of this fit (accumulation, the reducer), off after it
  net:set_accumulate(accum)
  if world then net:set_reducer(world.reducer) end
  local stages <close> = setmetatable({}, {__close = function()
    net:set_accumulate(1)
    net:set_reducer(nil)
  end})
  local function logs_of(prefix, into)
    if world then return world:results(net, names, prefix, into) end
    return results_logs(net, names, prefix, into)
  end

  -- every rank checks that all call fit alike (an error then is raised on
  -- all of them: the world goes on) and gets rank 0's weights
  local sync_batches = world and world:start(self, opt, pairs_, {
    {"the training samples", ntrain}, {"the validation samples", xv and nv or 0},
    {"the global batch", gbs}, {"epochs", epochs}, {"initial_epoch", initial},
    {"accumulate_steps", accum}, {"shuffle", index and 1 or 0},
    {"the optimizer's kind (plugin or Lua)", fused and 1 or 0}}, has_begin or has_end)
  if sync_batches then per_batch = true end -- every rank goes batch by batch

  local function train()
    cbs:call("on_train_begin", {})
    for epoch = initial, epochs - 1 do
      if mode > 0 and epochs > 1 then print(sformat("Epoch %d/%d", epoch + 1, epochs)) end
      local bar = mode > 0 and Progbar.new{target = steps, verbose = mode, stateful_metrics = true} or nil
      local bar_steps = bar and bar.verbose == 1 and bar.interactive
      cbs:call("on_epoch_begin", epoch, {})
      net:reset_metrics()
      if world then world:before_shuffle() end
      if index then index:shuffle() end
      if world then
        if index then lindex:shard(index, ntrain, gbs, world.size, world.rank) end
        world:after_shuffle()
      end
      local step = 0
      while step < steps do
        if has_begin then cbs:call("on_train_batch_begin", step, {}) end
        local s = step * lbs
        local done, bad, bad_loss
        if step < plan.lsteps then
          done, bad, bad_loss = net:train_run(x, y, lindex, s, plan.lrows - s, lbs, fused,
                                              per_batch and 1 or nil,
                                              (bar_steps and not per_batch) and BAR_SECONDS
                                                or run_seconds)
        else
          -- this process's share of the last batch is empty: it still
          -- takes part in that step (zero gradient, weight 0)
          local ok, err = pcall(fused and net.train_step or net.train_batch, net, x, y, nil, 0, 0)
          if ok then done = 1 else done, bad, bad_loss = nil, err, 0 end
        end
        if done == nil then
          batch_error(bad, lindex, (step + bad_loss) * lbs, "fit: epoch %d/%d, batch %d/%d",
                      epoch + 1, epochs, step + bad_loss + 1, steps)
        end
        if bad and not warned then
          warned = true
          if world then io.stderr:write(sformat("rank %d: ", world.rank)) end
          warn_nonfinite(bad_loss, epoch, step + bad, steps)
        end
        step = step + done
        if apply and net:pending() == 0 then opt:apply_gradients(pairs_) end
        if #cons > 0 and net:pending() == 0 then tape_engine().apply_constraints(cons) end
        if has_end or bar_steps then
          local logs = results_logs(net, names)
          if has_end then cbs:call("on_train_batch_end", step - 1, logs) end
          if bar_steps then bar:update(step, ordered(logs, names), false) end
        end
        stop_if_interrupted(epoch, epochs, step, steps)
        local stop = rawget(self, "stop_training")
        if sync_batches then
          stop = world:any(stop)
          rawset(self, "stop_training", stop)
        end
        -- (without batch callbacks, runs end at different steps on
        -- different processes: they all finish the epoch, and stop after it)
        if stop and (not world or sync_batches) then break end
      end
      if net:pending() > 0 then
        if rawget(self, "stop_training") then
          net:set_accumulate(accum) -- stopped: the partial group is dropped
        else -- the epoch's last, partial group of batches
          net:flush(fused)
          if apply then opt:apply_gradients(pairs_) end
          if #cons > 0 then tape_engine().apply_constraints(cons) end
        end
      end
      if world then world:average_state() end
      local logs = logs_of()
      if xv and (epoch + 1) % vfreq == 0 then
        local vs, vn = vstart, nv
        if world then vs, vn = vstart + world:cut(nv, world.rank), world:share(nv) end
        cbs:call("on_test_begin", {})
        -- validation_data's own weights (or none); validation_split keeps x's
        local own = weighted and opts.validation_data ~= nil
        if own then SW.apply(net, wv or {}, #onames) end
        local vlogs = test_loop(self, c, xv, yv, vs, vn, vbs, nil, cbs, names,
                                sformat("fit: validation after epoch %d", epoch + 1), world)
        if own then SW.apply(net, weights or {}, #onames) end
        cbs:call("on_test_end", vlogs)
        for k, v in pairs(vlogs) do logs["val_" .. k] = v end -- add_metric's too
      end
      if bar then bar:update(steps, ordered(logs, order), true) end
      cbs:call("on_epoch_end", epoch, logs)
      if world then rawset(self, "stop_training", world:any(rawget(self, "stop_training"))) end
      if rawget(self, "stop_training") then break end
    end
    cbs:call("on_train_end", {})
    if world then world:finish() end
  end

  if not world then
    train()
  else -- a rank that fails tells the others before its error goes on
    local ok, err = pcall(train)
    if not ok then
      world:fail(err)
      error(err, 0)
    end
  end
  return history
end

-- ---- evaluate / predict -------------------------------------------------------------------------------

local eval_keys = {batch_size = 1, verbose = 1, return_dict = 1, callbacks = 1, sample_weight = 1,
                   steps = 1, max_queue_size = 1, workers = 1, use_multiprocessing = 1}

--- evaluate(x, y, {batch_size = 32, verbose = 1, return_dict = false})
-- -> loss, metric values... (Keras's list as multiple results), or a
-- {name = value} table with return_dict. Inference mode.
function methods:evaluate(x, y, opts)
  opts = opts or {}
  check_keys("evaluate", opts, eval_keys)
  check_pipeline("evaluate", opts)
  O.boolean("evaluate", "return_dict", opts.return_dict)
  if opts.steps ~= nil then E.raise("evaluate: steps is not supported") end
  require_compiled(self, "evaluate")
  local n
  n, x, y = self:_check_xy("evaluate", x, y)
  if n == 0 then E.raise("evaluate: x and y are empty (0 samples)") end
  self:_check_input(x, "evaluate")
  local bs = check_int("evaluate", "batch_size", opts.batch_size or 32, 1)
  local mode = engine.verbose_mode(opts.verbose, 1, "evaluate")
  local cblist = check_callbacks("evaluate", opts.callbacks)
  local c = prepare(self, y)
  local weighted
  if opts.sample_weight ~= nil then
    local onames = self:_loss_output_names()
    local w = SW.resolve("evaluate", opts.sample_weight, nil, self:_targets_list(y), onames, n)
    if not c.net.set_sample_weight then
      E.raise("evaluate: sample_weight is not supported for models with Lua layers or losses yet")
    end
    weighted = SW.apply(c.net, w, #onames)
  end
  local _ <close> = weighted
  local names = self.metrics_names
  local steps = nbatches(n, bs)
  local bar = mode > 0 and Progbar.new{target = steps, verbose = mode, stateful_metrics = true} or nil
  local cbs = callbacks.CallbackList(cblist, self, {verbose = mode, steps = steps})
  cbs:call("on_test_begin", {})
  local logs = test_loop(self, c, x, y, 0, n, bs, bar, cbs, names, "evaluate")
  if bar then bar:update(steps, ordered(logs, names), true) end
  cbs:call("on_test_end", logs)
  if opts.return_dict then return logs end
  local vals = {}
  for i, k in ipairs(names) do vals[i] = logs[k] end
  return table.unpack(vals)
end

--- predict(x, {batch_size = 32, verbose = 0}) -> the outputs (a new tensor
-- of shape (N, output shape...)), inference mode. No compile needed.
function methods:predict(x, opts)
  opts = opts or {}
  check_keys("predict", opts, {batch_size = 1, verbose = 1, callbacks = 1, steps = 1,
                               max_queue_size = 1, workers = 1, use_multiprocessing = 1})
  check_pipeline("predict", opts)
  if opts.steps ~= nil then E.raise("predict: steps is not supported") end
  local n, xs = self:_check_input(x, "predict")
  x = xs or x -- a functional model's inputs, as a list
  local bs = check_int("predict", "batch_size", opts.batch_size or 32, 1)
  local mode = engine.verbose_mode(opts.verbose, 0, "predict")
  local cblist = check_callbacks("predict", opts.callbacks)
  local net = models.has_lua_layers(self) and tape_engine().new(self) or self:_get_net()
  local out = self:_new_outputs(n)
  local steps = nbatches(n, bs)
  local bar = mode > 0 and Progbar.new{target = steps, verbose = mode} or nil
  local cbs = callbacks.CallbackList(cblist, self, {verbose = mode, steps = steps})
  cbs:call("on_predict_begin", {})
  local bar_steps = bar and bar.verbose == 1 and bar.interactive
  if not (cbs.has.on_predict_batch_begin or cbs.has.on_predict_batch_end) then
    -- runs of batches in one C call each (see fit)
    local step = 0
    while step < steps do
      local s = step * bs
      local done, err = net:predict_run(x, s, n - s, bs, out, nil,
                                                bar_steps and BAR_SECONDS or nil)
      if done == nil then E.raise(err) end
      step = step + done
      if bar_steps then bar:update(step, nil, false) end
    end
  else
    for step = 0, steps - 1 do
      local s = step * bs
      cbs:call("on_predict_batch_begin", step, {})
      net:predict_batch(x, s, math.min(bs, n - s), out)
      cbs:call("on_predict_batch_end", step, {})
      if bar_steps then bar:update(step + 1, nil, false) end
    end
  end
  if bar then bar:update(steps, nil, true) end
  cbs:call("on_predict_end", {})
  return self:_outputs_result(out)
end

-- ---- single batches ---------------------------------------------------------------------------------------

local function batch_results(self, net, return_dict)
  local names = self.metrics_names
  local logs = results_logs(net, names)
  if return_dict then return logs end
  local vals = {}
  for i, k in ipairs(names) do vals[i] = logs[k] end
  return table.unpack(vals)
end

--- train_on_batch(x, y, {reset_metrics = true, return_dict = false}):
-- The sample weights of a train_on_batch/test_on_batch call set on the net
-- (a to-be-closed value clearing them), or nil.
local function batch_weights(self, c, what, opts, y, n)
  if opts.sample_weight == nil and opts.class_weight == nil then return nil end
  local onames = self:_loss_output_names()
  local w = SW.resolve(what, opts.sample_weight, opts.class_weight, self:_targets_list(y),
                       onames, n)
  return SW.apply(c.net, w, #onames)
end

-- one training step on all of x -> loss, metrics...
function methods:train_on_batch(x, y, opts)
  opts = opts or {}
  check_keys("train_on_batch", opts, {reset_metrics = 1, return_dict = 1, sample_weight = 1,
                                      class_weight = 1})
  O.boolean("train_on_batch", "reset_metrics", opts.reset_metrics)
  O.boolean("train_on_batch", "return_dict", opts.return_dict)
  require_compiled(self, "train_on_batch")
  local n
  n, x, y = self:_check_xy("train_on_batch", x, y)
  self:_check_input(x, "train_on_batch")
  local c = prepare(self, y)
  local _ <close> = batch_weights(self, c, "train_on_batch", opts, y, n)
  if opts.reset_metrics ~= false then c.net:reset_metrics() end
  local fused = attach_optimizer(c.net, self.optimizer, c.pairs)
  local ok, err = pcall(fused and c.net.train_step or c.net.train_batch, c.net, x, y, nil, 0, n)
  if not ok then batch_error(err, nil, 0, "train_on_batch") end
  if #c.pairs > 0 and not fused then self.optimizer:apply_gradients(c.pairs) end
  if not c.net.tape and c.constraints and #c.constraints > 0 then
    tape_engine().apply_constraints(c.constraints)
  end
  return batch_results(self, c.net, opts.return_dict)
end

--- test_on_batch(x, y, {reset_metrics = true, return_dict = false}) -> loss, metrics...
function methods:test_on_batch(x, y, opts)
  opts = opts or {}
  check_keys("test_on_batch", opts, {reset_metrics = 1, return_dict = 1, sample_weight = 1})
  O.boolean("test_on_batch", "reset_metrics", opts.reset_metrics)
  O.boolean("test_on_batch", "return_dict", opts.return_dict)
  require_compiled(self, "test_on_batch")
  local n
  n, x, y = self:_check_xy("test_on_batch", x, y)
  self:_check_input(x, "test_on_batch")
  local c = prepare(self, y)
  local _ <close> = batch_weights(self, c, "test_on_batch", opts, y, n)
  if opts.reset_metrics ~= false then c.net:reset_metrics() end
  local ok, err = pcall(c.net.test_batch, c.net, x, y, nil, 0, n)
  if not ok then batch_error(err, nil, 0, "test_on_batch") end
  return batch_results(self, c.net, opts.return_dict)
end

--- predict_on_batch(x) -> the outputs for all of x.
function methods:predict_on_batch(x)
  local n = self:_check_input(x, "predict_on_batch")
  return self:predict(x, {batch_size = math.max(n, 1)})
end

--- Resets the running metric values (Keras's model.reset_metrics).
function methods:reset_metrics()
  local net = rawget(self, "_net")
  if net then net:reset_metrics() end
end

engine.compile_keys = compile_keys
engine.check_keys = check_keys
engine.bare = bare

-- Every method of models (models.lua's and these): errors point at the
-- user's line.
E.protect_all(methods)

return engine
