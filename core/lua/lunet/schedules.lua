--[[ lunet.schedules: learning-rate schedules, usable wherever a learning
rate goes (tf.keras.optimizers.schedules).

  local s = ln.schedules.ExponentialDecay{initial_learning_rate = 0.01,
                                          decay_steps = 1000, decay_rate = 0.9}
  s(0), s:value(500)                 -- the rate at a 0-based step
  ln.optimizers.SGD{learning_rate = s}
  ln.optimizers.SGD{learning_rate = {name = "cosine_decay",
                                     initial_learning_rate = 0.1, decay_steps = 100}}

Every schedule unit registered by a plugin gets a constructor under its
class name: ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
PolynomialDecay, CosineDecay and OneCycle ship with lunet. Arguments may
also be given by position in Keras's order: ExponentialDecay{0.01, 1000, 0.9}.

  s:get_config()     -> {name = "exponential_decay", initial_learning_rate = ..}
                        (the reference form an optimizer's config holds)
  ln.schedules.get(x)              -- a name table, a Keras {class_name, config},
                                   -- or a schedule object
  ln.schedules.serialize(s)        -- {class_name = "ExponentialDecay", config = ..}
  ln.schedules.deserialize(d)
]]
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"

local M = {}

local Schedule = {}
Schedule.__index = Schedule

--- The learning rate at a 0-based step (the optimizer's `iterations`).
function Schedule:value(step)
  return self._ud:value(step)
end

function Schedule:__call(step)
  return self._ud:value(step)
end

--- Every argument with its effective value, plus `name` (the unit).
function Schedule:get_config()
  local c = self._ud:config()
  c.name = self.unit
  return c
end

function Schedule:__tostring()
  return string.format("%s(%s)", self.class_name, self.unit)
end

--- A schedule of the registered unit `unit` ("exponential_decay").
function M.new(unit, args)
  local ud = core.schedule_new(unit, args or {})
  local name, class_name = ud:unit()
  return setmetatable({_ud = ud, unit = name, class_name = class_name}, Schedule)
end

--- Whether x is a schedule object of this module.
function M.is_schedule(x)
  return getmetatable(x) == Schedule
end

local function unit_of(id) return registry.resolve("schedule", id) end
M.unit_of = unit_of

--- A Keras-serialized schedule {class_name = "ExponentialDecay", config = {..}}.
function M.deserialize(d)
  local cls = d.class_name
  local unit = type(cls) == "string" and unit_of(cls)
  if not unit then
    E.raise(registry.unknown("schedule", "learning-rate schedule", cls))
  end
  local args = {}
  for k, v in pairs(d.config or {}) do
    if k ~= "name" then args[k] = v end -- Keras's name is the op name, not the unit
  end
  return M.new(unit, args)
end

--- {class_name, config} as Keras writes it.
function M.serialize(s)
  local c = s:get_config()
  c.name = nil
  return {class_name = s.class_name, config = c}
end

--- A schedule from a schedule object, a reference table {name = unit, ...}
-- or a Keras dict {class_name, config}.
function M.get(x)
  if M.is_schedule(x) then return x end
  if type(x) == "table" then
    if x.class_name then return M.deserialize(x) end
    if type(x.name) == "string" then
      local unit = unit_of(x.name)
      if not unit then
        E.raise(registry.unknown("schedule", "learning-rate schedule", x.name,
                                 registry.names_of("schedule")))
      end
      local args = {}
      for k, v in pairs(x) do if k ~= "name" then args[k] = v end end
      return M.new(unit, args)
    end
  end
  E.raise("schedules.get: expected a schedule, {name = ...} or {class_name = ..., config = ...}, got "
        .. type(x))
end

-- Constructors by class name: ln.schedules.ExponentialDecay{...}.
-- A schedule's arguments are fixed when it is made.
function Schedule.__newindex(self, k)
  E.raisef("%s: '%s' cannot be set: a schedule is fixed when it is made (ln.schedules.%s{...})",
           self.class_name, tostring(k), self.class_name)
end

E.protect_all(Schedule)
E.protect_all(M)

-- ln.schedules.<Class>: a constructor; anything else is an unknown class.
setmetatable(M, {
  __index = function(t, key)
    if type(key) ~= "string" then return nil end
    local unit = registry.find_class("schedule", key)
    if not unit then E.raise(registry.unknown("schedule", "schedule class", key)) end
    local ctor = E.protect(function(args) return M.new(unit, args) end)
    rawset(t, key, ctor)
    return ctor
  end,
})

return M
