--[[ lunet.autograd: reverse-mode automatic differentiation (docs/autograd.md).

  local tape = ln.GradientTape()               -- {persistent = true}, {watch_accessed_variables = false}
  local loss = tape:run(function()             -- records what runs inside
    return ((x:matmul(w) + b) - y):square():mean()
  end)
  local gw, gb = table.unpack(tape:gradient(loss, {w, b}))
  opt:apply_gradients(ln.zip(grads, vars))     -- or {{gw, w}, {gb, b}}

  local df = ln.grad(f)                        -- torch-autograd's grad
  local grads, value = df(params, ...)         -- grads shaped like params

  local w = ln.Variable(ln.randn(3, 4))        -- a tensor every tape watches
  ln.autograd.team_run(loop)                   -- a custom loop on one thread team

The tape and the gradient functions are C (include/lunet/tape.h,
core/engine/tape*.c); this module gives them Keras's and torch-autograd's
shapes: sources and gradients as a tensor, a list or a (nested) table of
tensors and variables. ]]
local E = require "lunet.errors"
local core = require "lunet.core"

local ag = core.autograd
local is_tensor = core.is_tensor
local M = {}

-- The tensor of a leaf: a tensor, or a layer's Variable (its value).
local function leaf_tensor(v)
  if is_tensor(v) then return v end
  local layers = package.loaded["lunet.layers"] -- no layer, no Variable
  if layers and getmetatable(v) == layers.Variable then return v.value end
  return nil
end

-- The leaves of a structure into `out`; returns its shape (a leaf's index,
-- or a table of shapes with the same keys).
local function flatten(s, out, what)
  local t = leaf_tensor(s)
  if t then
    out[#out + 1] = t
    return #out
  end
  if type(s) ~= "table" then
    E.raisef("%s: expects tensors, variables, or tables of them; got a %s", what, type(s))
  end
  local shape = {}
  for k, v in pairs(s) do shape[k] = flatten(v, out, what) end
  return shape
end

local function rebuild(shape, flat)
  if type(shape) == "number" then
    local g = flat[shape]
    if g == false then return nil end
    return g
  end
  local r = {}
  for k, v in pairs(shape) do r[k] = rebuild(v, flat) end
  return r
end

-- ---- GradientTape --------------------------------------------------------------------

local Tape = {}
Tape.__index = Tape
M.Tape = Tape

--- ln.GradientTape([{persistent = false, watch_accessed_variables = true}])
function M.GradientTape(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    E.raise("GradientTape: options must be a table {persistent = ..., " ..
            "watch_accessed_variables = ...}")
  end
  for k in pairs(opts) do
    if k ~= "persistent" and k ~= "watch_accessed_variables" then
      E.raisef("GradientTape: unknown option '%s' (persistent, watch_accessed_variables)",
               tostring(k))
    end
  end
  local persistent = opts.persistent == true
  local ud = ag.tape_new(persistent, opts.watch_accessed_variables ~= false)
  return setmetatable({_ud = ud, persistent = persistent}, Tape)
end

function Tape:__tostring()
  return string.format("<GradientTape persistent=%s, %d operations recorded>",
                       tostring(self.persistent), self._ud:node_count())
end

-- self._ud[method](fn, ...) once fn is checked.
local function bracket(self, method, fn, ...)
  if type(fn) ~= "function" then
    E.raisef("GradientTape:%s expects a function, got %s", method, type(fn))
  end
  return self._ud[method](self._ud, fn, ...)
end

--- Runs fn(...) while the tape records; returns fn's results. Errors
-- inside fn propagate unchanged (the tape stops recording first).
function Tape:run(fn, ...) return bracket(self, "run", fn, ...) end

--- Runs fn(...) with this tape not recording (tf's stop_recording).
function Tape:stop_recording(fn, ...) return bracket(self, "stop_recording", fn, ...) end

--- Tracks x (a float32 tensor, a variable, or a table of them).
function Tape:watch(x)
  local list = {}
  flatten(x, list, "watch")
  for _, t in ipairs(list) do self._ud:watch(t) end
end

--- The tensors the tape tracks as leaves (watched tensors, variables).
function Tape:watched_variables()
  return self._ud:watched()
end

--- Forgets everything recorded.
function Tape:reset()
  self._ud:reset()
end

--- Gradients of target (a tensor, or a list of tensors whose sum counts)
-- with respect to sources (a tensor, a variable, a list or a table of
-- them), shaped like sources. opts.output_gradients: the upstream
-- gradient of each target (default ones); opts.unconnected_gradients:
-- "none" (nil for sources the target does not depend on, as TF) or "zero".
-- A number as target was computed off the tape: every gradient is nil.
function Tape:gradient(target, sources, opts)
  opts = opts or {}
  local targets = target
  if is_tensor(target) then
    targets = {target}
  elseif type(target) == "number" then
    targets = {} -- a number was not recorded: nothing depends on the sources
  elseif type(target) ~= "table" then
    E.raisef("gradient: the target must be a tensor (a loss computed inside tape:run), " ..
             "got a %s", type(target))
  end
  local seeds = opts.output_gradients
  if is_tensor(seeds) then seeds = {seeds} end
  if #targets == 0 then seeds = nil end
  local un = opts.unconnected_gradients or "none"
  if un ~= "none" and un ~= "zero" then
    E.raise("gradient: unconnected_gradients must be \"none\" or \"zero\", got " .. tostring(un))
  end
  local flat = {}
  local shape = flatten(sources, flat, "gradient")
  return rebuild(shape, self._ud:gradient(targets, flat, seeds, un == "zero"))
end

-- ---- grad, Variable, zip ----------------------------------------------------------------

--- torch-autograd's grad: df(params, ...) returns the gradients of f with
-- respect to params (shaped like params), then f's results. f's first
-- result must be a tensor (the value to differentiate, summed if not 0-d).
function M.grad(f)
  if type(f) ~= "function" then E.raise("grad: expects a function") end
  return function(params, ...)
    local tape = M.GradientTape()
    local res = table.pack(tape:run(function(...)
      tape:watch(params)
      return f(params, ...)
    end, ...))
    if not is_tensor(res[1]) then
      E.raise("grad: f must return a tensor as its first result (the value to " ..
              "differentiate), got " .. type(res[1]))
    end
    return tape:gradient(res[1], params), table.unpack(res, 1, res.n)
  end
end

--- JAX's vjp, the form a unit's backward takes: runs fn(...) on a private
-- tape watching `sources` (a list of tensors and variables) and returns fn's
-- first result y, then backward(dy) -> the gradients of sum(dy * y) with
-- respect to sources (a list; zeros where y does not depend on a source),
-- then fn's other results. backward may be called once. A Lua layer's
-- call recorded this way is its backward inside fit:
--   local y, backward = ln.autograd.vjp(function() return layer:call(x, true) end,
--                                       {x, layer.kernel, layer.bias})
--   local dx, dkernel, dbias = table.unpack(backward(dy))
function M.vjp(fn, sources, ...)
  if type(fn) ~= "function" then E.raise("vjp: expects a function") end
  if type(sources) ~= "table" then E.raise("vjp: sources must be a list of tensors") end
  local tape = M.GradientTape()
  local res = table.pack(tape:run(function(...)
    tape:watch(sources)
    return fn(...)
  end, ...))
  local y = res[1]
  if not is_tensor(y) then E.raise("vjp: fn must return a tensor first, got " .. type(y)) end
  local function backward(dy)
    return tape:gradient(y, sources, {output_gradients = dy, unconnected_gradients = "zero"})
  end
  return y, backward, table.unpack(res, 2, res.n)
end

--- A variable: a copy of init (a tensor, a number or nested tables of
-- numbers) that every tape watches when it is used, unless opts.trainable
-- is false. It is a tensor: use it in any expression; assign, assign_add,
-- assign_sub (and add_, copy_...) change it in place.
function M.Variable(init, opts)
  opts = opts or {}
  local t = is_tensor(init) and init:clone() or core.tensor(init)
  if opts.trainable ~= false then ag.mark_variable(t, true) end
  return t
end

--- Whether t is a trainable variable (ln.Variable or a layer weight).
function M.is_variable(t)
  return is_tensor(t) and ag.is_variable(t)
end

--- Keras's zip(grads, vars): the pairs apply_gradients takes, skipping
-- variables without a gradient (nil).
function M.zip(grads, vars)
  local r = {}
  for i = 1, #vars do
    if grads[i] then r[#r + 1] = {grads[i], vars[i]} end
  end
  return r
end

--- fn(...) inside one parallel region: every kernel fn calls (tape steps,
-- the optimizer) hands its work to the same thread team instead of forking
-- and joining its own, as fit does for each run of batches. Returns fn's
-- results; the numbers are the same as without.
function M.team_run(fn, ...)
  if type(fn) ~= "function" then
    E.raisef("team_run: expects a function, got %s", type(fn))
  end
  return ag.team_run(fn, ...)
end

E.protect_all(Tape, {__tostring = true})
E.protect_all(M)
return M
