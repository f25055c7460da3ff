--- lunet.progbar: a Keras 2 (tf.keras 2.5/2.6) compatible progress bar.
--
-- Pure Lua; requires no other lunet module.
--
--   local Progbar = require "lunet.progbar"
--   local bar = Progbar.new{target = 1719, stateful_metrics = true}
--   for step = 1, 1719 do
--     ...
--     bar:update(step, {{"loss", loss}, {"accuracy", acc}})
--   end
--
-- INJECTION POINTS (module fields the C core, tests or users may replace):
--
--   Progbar.clock   function() -> seconds (float), a wall clock. Used by every
--                   bar created without a `time` option, looked up at each
--                   call, so setting it later also affects existing bars.
--                   Unset by default; the fallback is os.time (whole seconds,
--                   coarse: os.clock is CPU time, which is wrong with threads).
--   Progbar.isatty  function(file) -> boolean, whether `file` is an
--                   interactive terminal. Used when the `interactive` option
--                   is nil. The default is a best effort: false when TERM is
--                   unset or "dumb"; for io.stdout / io.stderr it asks the
--                   shell once (`[ -t 1 ]` / `[ -t 2 ]`, cached); any other
--                   file or object is a terminal only if it says so through
--                   a field or method `isatty`.
--
-- Output follows tf.keras's generic_utils.Progbar (2.5/2.6):
--   verbose = 1 on a terminal: one line redrawn in place ("\b"s then "\r"),
--     e.g.   "  58/1719 [>.............................] - ETA: 4s - loss: 0.5123"
--     final: "1719/1719 [==============================] - 5s 3ms/step - loss: 0.4924"
--   verbose = 2, or verbose = 1 when the output is not a terminal (a pipe, a
--     CI log): only the final line,   "1719/1719 - 5s - loss: 0.4924"
--   verbose = 0: silent.
local Progbar = {}
Progbar.__index = Progbar

Progbar.clock = nil     -- injectable wall clock, see above

local floor, abs = math.floor, math.abs
local sformat, srep = string.format, string.rep

local tty_cache = {}

local function default_isatty(file)
  local term = os.getenv("TERM")
  if term == nil or term == "" or term == "dumb" then return false end
  local fd
  if file == io.stdout then fd = 1 elseif file == io.stderr then fd = 2 end
  if fd == nil then
    if type(file) == "table" then
      local f = file.isatty
      if type(f) == "function" then return f(file) and true or false end
      return f and true or false
    end
    return false
  end
  if tty_cache[fd] == nil then
    local ok = os.execute("[ -t " .. fd .. " ]")
    tty_cache[fd] = ok == true
  end
  return tty_cache[fd]
end

Progbar.isatty = default_isatty

-- Number of decimal digits of a positive integer target (Keras: log10 + 1).
local function numdigits(n)
  n = floor(n)
  if n < 1 then return 1 end
  return #sformat("%d", n)
end

-- Python's "%.4f" / "%.4e" print nan and inf without a sign quirk.
local function fmt_number(fmt, v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return sformat(fmt, v)
end

--- Formats a metric value as Keras does: " %.4f" if |v| > 1e-3, else " %.4e".
function Progbar.format_value(v)
  if type(v) ~= "number" then return tostring(v) end
  if abs(v) > 1e-3 then return fmt_number("%.4f", v) end
  return fmt_number("%.4e", v)
end

--- Formats an ETA in seconds: "%ds" (<= 60 s), "%d:%02d" (<= 1 h), "%d:%02d:%02d".
function Progbar.format_eta(eta)
  if eta > 3600 then
    return sformat("%d:%02d:%02d", floor(eta / 3600), floor((eta % 3600) / 60),
                   floor(eta % 60))
  elseif eta > 60 then
    return sformat("%d:%02d", floor(eta / 60), floor(eta % 60))
  end
  return sformat("%ds", floor(eta))
end

--- Formats a time per unit: " 2s/step", " 3ms/step" or " 15us/step".
function Progbar.format_time_per_unit(t, unit)
  unit = unit or "step"
  if t >= 1 or t == 0 then
    return sformat(" %.0fs/%s", t, unit)
  elseif t >= 1e-3 then
    return sformat(" %.0fms/%s", t * 1e3, unit)
  end
  return sformat(" %.0fus/%s", t * 1e6, unit)
end

local function make_stateful(sm)
  if sm == true then return true end
  local set = {}
  if type(sm) == "table" then
    for k, v in pairs(sm) do
      if type(k) == "number" then set[v] = true       -- list form
      elseif v then set[k] = true end                  -- set form
    end
  end
  return set
end

--- Creates a bar. Options (a table; `Progbar.new(target, opts)` works too):
--   target            total number of steps, nil if unknown
--   width             bar width in characters (30)
--   verbose           0 silent, 1 bar, 2 final line only (1)
--   interval          minimum seconds between redraws (0.05)
--   stateful_metrics  names shown as-is instead of averaged: a list, a set
--                     {name = true}, or true for all (fit passes true)
--   unit_name         "step"
--   out               object with :write (and optionally :flush) (io.stdout)
--   interactive       true/false forces the terminal mode; nil detects it
--                     with Progbar.isatty(out)
--   time              function() -> seconds; defaults to Progbar.clock, then
--                     os.time
function Progbar.new(opts, opts2)
  if type(opts) ~= "table" then
    local o = {}
    for k, v in pairs(opts2 or {}) do o[k] = v end
    o.target = opts
    opts = o
  end
  local self = setmetatable({}, Progbar)
  self.target = opts.target
  self.width = opts.width or 30
  self.verbose = opts.verbose == nil and 1 or opts.verbose
  self.interval = opts.interval or 0.05
  self.unit_name = opts.unit_name or "step"
  self.out = opts.out or io.stdout
  self.stateful_metrics = make_stateful(opts.stateful_metrics)
  self._time = opts.time
  if opts.interactive == nil then
    self.interactive = Progbar.isatty(self.out) and true or false
  else
    self.interactive = opts.interactive and true or false
  end
  self._total_width = 0
  self._seen_so_far = 0
  self._values = {}
  self._values_order = {}
  self._start = self:_now()
  self._last_update = nil
  self._time_after_first_step = nil
  return self
end

setmetatable(Progbar, {__call = function(_, ...) return Progbar.new(...) end})

function Progbar:_now()
  local f = self._time or Progbar.clock or os.time
  return f()
end

function Progbar:_is_stateful(name)
  local sm = self.stateful_metrics
  return sm == true or sm[name] == true
end

-- Keras: the first step's duration (graph tracing, warm-up) is excluded from
-- the per-step estimate once a later step is available.
function Progbar:_estimate_step_duration(current, now)
  if current and current ~= 0 then
    local t
    if self._time_after_first_step ~= nil and current > 1 then
      t = (now - self._time_after_first_step) / (current - 1)
    else
      t = (now - self._start) / current
    end
    if current == 1 then self._time_after_first_step = now end
    return t
  end
  return 0
end

function Progbar:_write(s)
  local out = self.out
  out:write(s)
  if out.flush then out:flush() end
end

function Progbar:_avg(k)
  local e = self._values[k]
  if type(e[1]) ~= "number" then return e[1] end
  return e[1] / math.max(1, e[2])
end

--- Updates the bar to step `current`.
-- values: ordered list of {name, value} pairs (a {name = value} map is
--   accepted too, shown in name order); a non-stateful value is
--   averaged over steps (weighted by the number of steps since the previous
--   update), a stateful one is displayed as is.
-- finalize: whether this is the last update; defaults to current >= target.
function Progbar:update(current, values, finalize)
  if finalize == nil then
    if self.target == nil then finalize = false
    else finalize = current >= self.target end
  end

  values = values or {}
  if values[1] == nil and next(values) ~= nil then
    -- a {name = value} map: no order given, use the names' order
    local list = {}
    for k, v in pairs(values) do list[#list + 1] = {k, v} end
    table.sort(list, function(a, b) return tostring(a[1]) < tostring(b[1]) end)
    values = list
  end
  for _, kv in ipairs(values) do
    local k, v = kv[1], kv[2]
    if self._values[k] == nil then
      self._values_order[#self._values_order + 1] = k
    end
    if not self:_is_stateful(k) and type(v) == "number" then
      local base = math.max(current - self._seen_so_far, 1)
      local e = self._values[k]
      if e == nil or type(e[1]) ~= "number" then
        self._values[k] = {v * base, base}
      else
        e[1] = e[1] + v * base
        e[2] = e[2] + base
      end
    else
      self._values[k] = {v, 1}
    end
  end
  self._seen_so_far = current

  local now = self:_now()
  local info = sformat(" - %.0fs", now - self._start)
  local verbose = self.verbose
  if verbose == 1 and not self.interactive then verbose = 2 end

  if verbose == 1 then
    if not finalize and self._last_update ~= nil
        and now - self._last_update < self.interval then
      return
    end
    local prev_total_width = self._total_width
    local parts = {srep("\b", prev_total_width), "\r"}

    local bar
    local target = self.target
    if target ~= nil then
      bar = sformat("%" .. numdigits(target) .. "d/%d [", floor(current),
                    floor(target))
      local prog = target > 0 and current / target or 1
      local prog_width = floor(self.width * prog)
      if prog_width > 0 then
        bar = bar .. srep("=", prog_width - 1)
        bar = bar .. (current < target and ">" or "=")
      end
      bar = bar .. srep(".", self.width - prog_width) .. "]"
    else
      bar = sformat("%7d/Unknown", floor(current))
    end
    self._total_width = #bar
    parts[#parts + 1] = bar

    local time_per_unit = self:_estimate_step_duration(current, now)
    if target == nil or finalize then
      info = info .. Progbar.format_time_per_unit(time_per_unit, self.unit_name)
    else
      local eta = time_per_unit * (target - current)
      info = " - ETA: " .. Progbar.format_eta(eta)
    end

    for _, k in ipairs(self._values_order) do
      info = info .. " - " .. tostring(k) .. ": " .. Progbar.format_value(self:_avg(k))
    end

    self._total_width = self._total_width + #info
    if prev_total_width > self._total_width then
      info = info .. srep(" ", prev_total_width - self._total_width)
    end
    if finalize then info = info .. "\n" end
    parts[#parts + 1] = info
    self:_write(table.concat(parts))

  elseif verbose == 2 then
    if finalize then
      local count
      if self.target ~= nil then
        count = sformat("%" .. numdigits(self.target) .. "d/%d", floor(current),
                        floor(self.target))
      else
        count = sformat("%d", floor(current))
      end
      info = count .. info
      for _, k in ipairs(self._values_order) do
        local avg = self:_avg(k)
        local s
        -- tf.keras 2.5/2.6 tests `avg > 1e-3` here (no abs()): negative
        -- values print in %.4e. Kept for fidelity.
        if type(avg) ~= "number" then s = tostring(avg)
        elseif avg > 1e-3 then s = fmt_number("%.4f", avg)
        else s = fmt_number("%.4e", avg) end
        info = info .. " - " .. tostring(k) .. ": " .. s
      end
      self:_write(info .. "\n")
    end
  end

  self._last_update = now
end

--- Advances the bar by n steps.
function Progbar:add(n, values)
  self:update(self._seen_so_far + n, values)
end

--- Adds names to the set of stateful metrics (Keras's _update_stateful_metrics).
function Progbar:update_stateful_metrics(names)
  if self.stateful_metrics == true then return end
  local add = make_stateful(names)
  if add == true then self.stateful_metrics = true; return end
  for k in pairs(add) do self.stateful_metrics[k] = true end
end

return Progbar
