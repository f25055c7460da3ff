--[[ lunet.optimizers: Keras 2 optimizers, each a plugin (plugins/optimizers).

  local opt = ln.optimizers.Adam{learning_rate = 1e-3}   -- every class_name
  local opt = ln.optimizers.get("adam")                  -- by name (any case)
  local opt = ln.optimizers.get{class_name = "SGD", config = {momentum = 0.9}}
  opt:apply_gradients(pairs)    -- pairs = {{grad, var, name = "dense/kernel"}, ...}
  opt:get_config()              -- every hyper-parameter, defaults included
  opt.iterations                -- steps applied (settable, for restores)
  opt.learning_rate, opt.lr     -- a number (or the schedule object); settable
  opt:get_weights(), opt:set_weights(list)   -- Keras's order
  opt:variables()               -- {{name = "Adam/dense/kernel/m:0", tensor}, ...}
  opt:get_slot(var, "m")        -- the live slot tensor

Common keyword arguments (every optimizer): learning_rate (a number, a
schedule object, or {name = "exponential_decay", ...}), lr (legacy alias),
decay (inverse-time: lr / (1 + decay * iterations)), clipvalue, clipnorm
(per variable), global_clipnorm, name. Unknown keys and bad values raise an
error naming the key.

Prototyping in Lua: ln.optimizers.Optimizer:extend{...} (alias
ln.optimizers.lua_optimizer{...}) builds an optimizer class from a Lua
update rule with the same interface (see below and docs/plugins.md).
]]
local E = require "lunet.errors"
local core = require "lunet.core"
local registry = require "lunet.registry"
local O = require "lunet.options"
local schedules = require "lunet.schedules"

local sformat = string.format
local M = {}

-- ---- optimizers backed by a plugin -------------------------------------------------------

local Methods = {}

-- After a step: the constraint of each layer variable updated (Keras
-- applies variable.constraint in apply_gradients).
local function constrain(pairs)
  local Variable = package.loaded["lunet.layers"] and package.loaded["lunet.layers"].Variable
  if not Variable then return end
  for _, p in ipairs(pairs) do
    local v = p[2]
    if p[1] and getmetatable(v) == Variable and v.constraint then
      require("lunet.constraints").apply(v.constraint, v.value)
    end
  end
end

--- One optimizer step. pairs: a list of {gradient, variable, name = ...} in
-- Keras's zip(grads, vars) order; the same list may be passed every step
-- (nothing is allocated after the first one).
function Methods:apply_gradients(pairs)
  local ud = rawget(self, "_ud")
  if rawget(self, "_pending") then self:build(pairs) end
  ud:apply(pairs)
  constrain(pairs)
  core.memory.step_end() -- a training step ends here: its garbage goes now
end

--- Create the slots of these variables without stepping (a list of pairs
-- or of variable tensors), then apply weights given to set_weights before
-- the optimizer had any.
function Methods:build(list)
  local ud = rawget(self, "_ud")
  ud:build(list)
  local pending = rawget(self, "_pending")
  if pending then
    rawset(self, "_pending", nil)
    ud:set_weights(pending)
  end
end

--- Every hyper-parameter with its effective value (a new table).
function Methods:get_config()
  return rawget(self, "_ud"):config()
end

--- Keras's get_weights: {iterations (int32 scalar tensor), globals...,
-- slot 1 of every variable, slot 2 of every variable, ...} (copies).
function Methods:get_weights()
  return rawget(self, "_ud"):weights()
end

--- The same list back. Before the optimizer has seen its variables the
-- list is kept and applied when they arrive (first apply_gradients or
-- build), as Keras restores deferred slot values.
function Methods:set_weights(list)
  local ud = rawget(self, "_ud")
  local nglobals = 0
  for _ in pairs(ud:globals()) do nglobals = nglobals + 1 end
  if ud:var_count() == 0 and #list > 1 + nglobals then
    rawset(self, "_pending", list)
    return
  end
  ud:set_weights(list)
end

--- {{name = "Adam/dense/kernel/m:0", tensor}, ...} in get_weights order;
-- slot tensors are the live ones, iterations and globals are copies.
function Methods:variables()
  local ud = rawget(self, "_ud")
  local names, weights = ud:weight_names(), ud:weights()
  local nvars, slots = ud:var_count(), ud:slot_names()
  local first_slot = #names - nvars * #slots
  local out = {}
  for k, n in ipairs(names) do
    local t = weights[k]
    if k > first_slot then
      local w = k - first_slot - 1
      t = ud:slot(w % nvars + 1, w // nvars + 1)
    end
    out[k] = {name = n, t}
  end
  return out
end

--- The slot `name` ("m", "v", ...) of a variable tensor.
function Methods:get_slot(var, name)
  return rawget(self, "_ud"):slot(var, name)
end

function Methods:get_slot_names()
  return rawget(self, "_ud"):slot_names()
end

--- The learning rate the next step uses (schedule and decay applied).
function Methods:current_learning_rate()
  return rawget(self, "_ud"):lr_at()
end

local Optimizer_mt = {}

function Optimizer_mt.__index(self, key)
  local ud = rawget(self, "_ud")
  if key == "iterations" then return ud:iterations() end
  if key == "learning_rate" or key == "lr" then
    if ud:has_schedule() then return schedules.get(ud:config().learning_rate) end
    return ud:learning_rate()
  end
  if key == "name" then return ud:name() end
  return Methods[key]
end

function Optimizer_mt.__newindex(self, key, value)
  local ud = rawget(self, "_ud")
  if key == "iterations" then
    ud:iterations(O.integer(ud:name(), "iterations", value, 0))
  elseif key == "learning_rate" or key == "lr" then
    if type(value) ~= "number" then
      E.raise(sformat("%s: learning_rate can be set to a number (got %s); give a schedule when "
                    .. "creating the optimizer", ud:name(), type(value)))
    end
    ud:learning_rate(O.number(ud:name(), "learning_rate", value, {min = 0}))
  elseif key == "name" then
    E.raise(sformat("%s: the name is fixed when the optimizer is created", ud:name()))
  elseif ud:config()[key] ~= nil or key == "unit" or key == "class_name" then
    -- a hyper-parameter set here would be ignored by the plugin
    E.raisef("%s: '%s' is fixed when the optimizer is made (ln.optimizers.%s{%s = ...}); " ..
             "only learning_rate (lr) and iterations can be set", ud:name(), tostring(key),
             tostring(rawget(self, "class_name")), tostring(key))
  else
    rawset(self, key, value)
  end
end

function Optimizer_mt.__tostring(self)
  return sformat("%s(learning_rate=%s)", self.class_name, tostring(self.learning_rate))
end

--- An optimizer of the registered unit `unit` ("adam") with keyword
-- arguments `args` (a table; nil = defaults).
function M.new(unit, args)
  if args ~= nil and type(args) ~= "table" then
    E.raise(sformat("%s: keyword arguments must be a table, got %s", unit, type(args)))
  end
  local ud = core.optimizer_new(unit, args or {})
  local name, class_name = ud:unit()
  return setmetatable({_ud = ud, unit = name, class_name = class_name}, Optimizer_mt)
end

--- Whether x is an optimizer (a plugin-backed one or a Lua one).
function M.is_optimizer(x)
  local t = type(x)
  return (t == "table" or t == "userdata") and type(x.apply_gradients) == "function"
end

local function unit_of(id) return registry.resolve("optimizer", id) end
M.unit_of = unit_of

--- An optimizer from Keras's serialized form {class_name, config}. Keras's
-- quirks are mapped: `lr` is learning_rate; a schedule dict becomes a
-- schedule; Nadam's `decay` is its momentum schedule_decay.
function M.deserialize(d)
  local cls = d.class_name
  local unit = type(cls) == "string" and unit_of(cls)
  if not unit then
    E.raise(registry.unknown("optimizer", "optimizer", cls))
  end
  local args = {}
  for k, v in pairs(d.config or {}) do args[k] = v end
  if args.lr ~= nil and args.learning_rate == nil then
    args.learning_rate, args.lr = args.lr, nil
  end
  if type(args.learning_rate) == "table" and args.learning_rate.class_name then
    args.learning_rate = schedules.deserialize(args.learning_rate)
  end
  if unit == "nadam" and args.schedule_decay == nil and args.decay ~= nil then
    args.schedule_decay, args.decay = args.decay, nil
  end
  return M.new(unit, args)
end

--- {class_name, config} as Keras writes it (a schedule as its own dict).
function M.serialize(opt)
  local c = opt:get_config()
  if type(c.learning_rate) == "table" then
    c.learning_rate = schedules.serialize(schedules.get(c.learning_rate))
  end
  return {class_name = opt.class_name, config = c}
end

--- An optimizer from a name ("adam"), a Keras dict {class_name, config},
-- or an optimizer object (returned as is).
function M.get(id)
  if M.is_optimizer(id) then return id end
  if type(id) == "string" then
    local unit = unit_of(id)
    if not unit then
      E.raise(registry.unknown("optimizer", "optimizer", id, registry.names_of("optimizer")))
    end
    return M.new(unit, {})
  end
  if type(id) == "table" and id.class_name then return M.deserialize(id) end
  E.raise("optimizers.get: expected a name, {class_name = ..., config = ...} or an optimizer, got "
        .. type(id))
end

-- ---- optimizers written in Lua ------------------------------------------------------------

--[[ A prototype optimizer: the rule in Lua, the rest (learning rate,
schedules, decay, clipping, slots, saving) as for plugins.

  local MySGD = ln.optimizers.Optimizer:extend{
    name = "MySGD",                          -- class name (and config name)
    default_learning_rate = 0.01,
    defaults = {momentum = 0.0, nesterov = false},   -- hyper-parameters
    check = function(h) ... error naming the key ... end,   -- optional
    slots = function(h) return {{"momentum", 0}} end,       -- or a list
    globals = {{"momentum_cache", 1}},                      -- optional
    begin_step = function(self, globals, t) end,            -- optional
    update = function(self, var, grad, slots, t, lr, globals)
      -- slots.momentum is a tensor shaped like var; update var in place
    end,
  }
  local opt = MySGD{learning_rate = 0.1, momentum = 0.9}

Inside update, hyper-parameters are self.<name>; t is the 1-based step;
lr has the schedule and decay applied; grad is already clipped. ]]
local LuaOpt = {}       -- methods of instances
local LuaOpt_mt = {}
local common_keys = {name = true, learning_rate = true, lr = true, decay = true,
                     clipvalue = true, clipnorm = true, global_clipnorm = true}

local function nonneg(who, key, v)
  if type(v) ~= "number" or not (v >= 0) or v == math.huge then
    E.raise(sformat("%s: '%s' must be a finite number >= 0, got %s", who, key, tostring(v)))
  end
  return v
end

-- A fresh instance of class cls from keyword arguments.
local function lua_new(cls, args)
  args = args or {}
  local spec, who = cls._spec, cls._spec.name
  if type(args) ~= "table" then E.raise(sformat("%s: keyword arguments must be a table", who)) end
  for k in pairs(args) do
    if not common_keys[k] and spec.defaults[k] == nil then
      E.raise(sformat("%s: unknown keyword argument '%s'", who, tostring(k)))
    end
  end
  local self = {_cls = cls, _iterations = 0, _vars = {}, _index = {}, _clip_out = {},
                _hyper = {}}
  self._name = args.name or who
  if type(self._name) ~= "string" then E.raise(sformat("%s: 'name' must be a string", who)) end
  if args.lr ~= nil and args.learning_rate ~= nil then
    E.raise(sformat("%s: give 'learning_rate' or its legacy alias 'lr', not both", who))
  end
  local lr = args.learning_rate
  if lr == nil then lr = args.lr end
  if lr == nil then lr = spec.default_learning_rate or 0.001 end
  if type(lr) == "number" then
    self._lr = nonneg(who, "learning_rate", lr)
  elseif type(lr) == "function" then
    self._schedule = lr
  else
    self._schedule = schedules.get(lr)
  end
  self._decay = nonneg(who, "decay", args.decay or 0)
  for _, k in ipairs{"clipvalue", "clipnorm", "global_clipnorm"} do
    if args[k] ~= nil then self["_" .. k] = nonneg(who, k, args[k]) end
  end
  if self._clipnorm and self._global_clipnorm then
    E.raise(sformat("%s: 'clipnorm' and 'global_clipnorm' cannot both be set", who))
  end
  for k, def in pairs(spec.defaults) do
    local v = args[k]
    if v == nil then v = def end
    if type(v) ~= type(def) then
      E.raise(sformat("%s: '%s' must be a %s, got %s", who, k, type(def), type(v)))
    end
    self._hyper[k] = v
  end
  if spec.check then spec.check(self._hyper) end
  local sl = spec.slots or {}
  if type(sl) == "function" then sl = sl(self._hyper) end
  self._slot_spec = sl
  local gl = spec.globals or {}
  if type(gl) == "function" then gl = gl(self._hyper) end
  self._global_spec, self._globals = gl, {}
  for i, g in ipairs(gl) do self._globals[i] = g[2] end
  return setmetatable(self, LuaOpt_mt)
end

--- Build an optimizer class from a Lua rule (see above).
M.Optimizer = {}
function M.Optimizer:extend(spec)
  if type(spec) ~= "table" or type(spec.name) ~= "string" or type(spec.update) ~= "function" then
    E.raise("Optimizer:extend needs {name = ..., update = function(self, var, grad, slots, t, lr) ...}")
  end
  spec.defaults = spec.defaults or {}
  local cls = {_spec = spec, class_name = spec.name}
  return setmetatable(cls, {__call = E.protect(lua_new), __index = M.Optimizer})
end
M.lua_optimizer = function(spec) return M.Optimizer:extend(spec) end

--- Whether x is a Lua optimizer class (made by Optimizer:extend).
function M.is_lua_class(x)
  return type(x) == "table" and type(rawget(x, "_spec")) == "table"
end

-- The learning rate of the step after `it` applied steps.
function LuaOpt:_lr_at(it)
  local lr = self._lr
  if self._schedule then
    local s = self._schedule
    lr = type(s) == "function" and s(it) or s:value(it)
  end
  return lr / (1 + self._decay * it)
end

-- The record of variable var (created with its slots on first sight),
-- found by the tensor itself (one weight may reach Lua as several values).
function LuaOpt:_entry(var, name)
  local key = core.tensor_key(var)
  local e = self._index[key]
  if e then return e end
  local slots, shape = {}, var:shape()
  for _, s in ipairs(self._slot_spec) do slots[s[1]] = core.full(shape, s[2]) end
  if name then name = name:gsub(":0$", "") end
  e = {var = var, name = name or ("variable_" .. #self._vars), slots = slots}
  self._vars[#self._vars + 1] = e
  self._index[key] = e
  return e
end

function LuaOpt:build(list)
  for _, p in ipairs(list) do
    if core.is_tensor(p) then self:_entry(p)
    elseif core.is_tensor(p.value) then self:_entry(p.value, p.name)
    else self:_entry(type(p[2]) == "table" and p[2].value or p[2], p.name) end
  end
  local pending = self._pending
  if pending then
    self._pending = nil
    self:set_weights(pending)
  end
end

function LuaOpt:apply_gradients(pairs)
  if self._pending then self:build(pairs) end
  local spec = self._cls._spec
  local grads, entries = {}, {}
  for i, p in ipairs(pairs) do
    local g, v = p[1], p[2]
    if type(v) == "table" and core.is_tensor(v.value) then v = v.value end -- a layer's variable
    if g then -- a pair without a gradient is skipped, as Keras skips None
      if not (core.is_tensor(g) and core.is_tensor(v)) then
        E.raise(sformat("%s: pair %d must hold a gradient tensor then a variable", self._name, i))
      end
      grads[#grads + 1], entries[#entries + 1] = g, self:_entry(v, p.name)
    end
  end
  if #pairs > 0 and #grads == 0 then
    E.raise(sformat("%s: no gradients provided for any variable", self._name))
  end
  if self._clipvalue or self._clipnorm or self._global_clipnorm then
    local outs = {}
    for i, g in ipairs(grads) do
      local o = self._clip_out[entries[i]]
      if not o then o = core.zeros(g:shape()); self._clip_out[entries[i]] = o end
      outs[i] = o
    end
    core.clip_gradients(grads, outs, self._clipvalue, self._clipnorm, self._global_clipnorm)
    grads = outs
  end
  local it = self._iterations
  local lr, t = self:_lr_at(it), it + 1
  if spec.begin_step then spec.begin_step(self, self._globals, t) end
  for i, e in ipairs(entries) do spec.update(self, e.var, grads[i], e.slots, t, lr, self._globals) end
  self._iterations = t
  constrain(pairs)
  core.memory.step_end()
end

function LuaOpt:get_config()
  local c = {name = self._name, decay = self._decay}
  if self._schedule then
    c.learning_rate = type(self._schedule) == "function" and self._schedule
                      or self._schedule:get_config()
  else
    c.learning_rate = self._lr
  end
  for _, k in ipairs{"clipvalue", "clipnorm", "global_clipnorm"} do c[k] = self["_" .. k] end
  for k, v in pairs(self._hyper) do c[k] = v end
  return c
end

function LuaOpt:variables()
  local out = {{name = self._name .. "/iter:0", core.tensor(self._iterations, "int32")}}
  for i, g in ipairs(self._global_spec) do
    out[#out + 1] = {name = sformat("%s/%s:0", self._name, g[1]), core.tensor(self._globals[i])}
  end
  for _, s in ipairs(self._slot_spec) do
    for _, e in ipairs(self._vars) do
      out[#out + 1] = {name = sformat("%s/%s/%s:0", self._name, e.name, s[1]), e.slots[s[1]]}
    end
  end
  return out
end

function LuaOpt:get_weights()
  local out = {}
  for i, v in ipairs(self:variables()) do out[i] = i == 1 and v[1] or v[1]:clone() end
  return out
end

function LuaOpt:set_weights(list)
  local vars = self:variables()
  if #self._vars == 0 and #list > #vars then
    self._pending = list
    return
  end
  if #list ~= #vars then
    E.raise(sformat("%s: set_weights got %d weights but the optimizer has %d", self._name, #list, #vars))
  end
  for i = 2, #vars do
    local want, got = vars[i][1], list[i]
    if not core.is_tensor(got) or got:numel() ~= want:numel() then
      E.raise(sformat("%s: set_weights: '%s' does not fit", self._name, vars[i].name))
    end
  end
  local it = list[1]
  if core.is_tensor(it) then it = it:item() end
  self._iterations = math.tointeger(it) or E.raise(sformat("%s: bad iteration count", self._name))
  local ng = #self._global_spec
  for i = 1, ng do self._globals[i] = list[1 + i]:item() end
  for i = 2 + ng, #vars do vars[i][1]:copy(list[i]:reshape(vars[i][1]:shape())) end
end

function LuaOpt:get_slot(var, name)
  local e = core.is_tensor(var) and self._index[core.tensor_key(var)]
  if not e then E.raise(sformat("%s: get_slot: no slots for this variable", self._name)) end
  local s = e.slots[name]
  if not s then E.raise(sformat("%s: get_slot: no slot '%s'", self._name, tostring(name))) end
  return s
end

function LuaOpt:current_learning_rate()
  return self:_lr_at(self._iterations)
end

function LuaOpt_mt.__index(self, key)
  if key == "iterations" then return rawget(self, "_iterations") end
  if key == "learning_rate" or key == "lr" then
    return rawget(self, "_schedule") or rawget(self, "_lr")
  end
  if key == "name" then return rawget(self, "_name") end
  if key == "class_name" then return rawget(self, "_cls").class_name end
  local h = rawget(self, "_hyper")[key]
  if h ~= nil then return h end
  return LuaOpt[key]
end

function LuaOpt_mt.__newindex(self, key, value)
  if key == "iterations" then
    local n = math.type(value) == "integer" and value or
              (type(value) == "number" and math.tointeger(value))
    if not n or n < 0 then
      E.raisef("%s: iterations must be an integer >= 0, got %s", self._name, tostring(value))
    end
    rawset(self, "_iterations", n)
  elseif key == "learning_rate" or key == "lr" then
    rawset(self, "_lr", nonneg(self._name, "learning_rate", value))
    rawset(self, "_schedule", nil)
  elseif rawget(self, "_hyper")[key] ~= nil or common_keys[key] or key == "class_name" then
    E.raisef("%s: '%s' is fixed when the optimizer is made (%s{%s = ...}); only " ..
             "learning_rate (lr) and iterations can be set", self._name, tostring(key),
             self.class_name, tostring(key))
  else
    rawset(self, key, value)
  end
end

-- ---- one model's share of the state (model files) ---------------------------------------

-- The state of a plugin optimizer, seen through four functions (the Lua
-- optimizers have the same below): globals() -> {{name, value}, ...} in
-- order; slot_names(); slot(var, j) -> the live slot tensor or nil when the
-- optimizer has not seen var; fresh(var, j) -> a new tensor holding slot
-- j's initial value for var.
function Methods:_state_parts()
  local ud = rawget(self, "_ud")
  local values, names, globals = ud:globals(), ud:weight_names(), {}
  local prefix = ud:name() .. "/"
  for k = 2, #names do
    local g = names[k]:sub(#prefix + 1):match("^([^/]+):0$")
    if g == nil or values[g] == nil then break end
    globals[#globals + 1] = {g, values[g]}
  end
  local clone
  return {
    globals = globals,
    slot_names = ud:slot_names(),
    slot = function(var, j) return ud:find_var(var) and ud:slot(var, j) or nil end,
    fresh = function(var, j)
      -- a twin optimizer built on var holds the initial slot values
      clone = clone or rawget(M.new(rawget(self, "unit"), ud:config()), "_ud")
      clone:build({var})
      return clone:slot(var, j):clone()
    end,
    set_global = function(k, v) ud:set_global(globals[k][1], v) end,
  }
end

function LuaOpt:_state_parts()
  local globals = {}
  for i, g in ipairs(self._global_spec) do globals[i] = {g[1], self._globals[i]} end
  local names = {}
  for j, sl in ipairs(self._slot_spec) do names[j] = sl[1] end
  return {
    globals = globals,
    slot_names = names,
    slot = function(var, j)
      local e = self._index[core.tensor_key(var)]
      return e and e.slots[names[j]] or nil
    end,
    fresh = function(var, j) return core.full(var:shape(), self._slot_spec[j][2]) end,
    set_global = function(k, v) self._globals[k] = v end,
  }
end

--- Whether opt keeps its state in the form state_for reads (lunet's
-- plugin and Lua optimizers).
function M.has_state(opt)
  return type(opt) == "table" and type(opt._state_parts) == "function"
end

--- opt's state for the variables of `pairs` (a model's grads_and_vars, in
-- its order), as get_weights lists it for an optimizer built on exactly
-- these variables: {names = {...}, values = {...}, shapes = {...},
-- iterations = n, nglobals, slot_names, nvars, var_shapes}. values[1] is nil (the
-- iteration count is `iterations`, an integer that may exceed int32);
-- slots not created yet hold their initial values. Nothing is changed:
-- an optimizer shared with another model gives this model's share.
function M.state_for(opt, pairs)
  local parts = opt:_state_parts()
  local name = opt.name
  local st = {names = {name .. "/iter:0"}, values = {}, shapes = {{}},
              iterations = opt.iterations, nglobals = #parts.globals,
              slot_names = parts.slot_names, nvars = #pairs, var_shapes = {}}
  for i, p in ipairs(pairs) do st.var_shapes[i] = p[2]:shape() end
  for _, g in ipairs(parts.globals) do
    local k = #st.names + 1
    st.names[k], st.values[k], st.shapes[k] = sformat("%s/%s:0", name, g[1]), core.tensor(g[2]), {}
  end
  for j, sname in ipairs(parts.slot_names) do
    for _, p in ipairs(pairs) do
      local var = p[2]
      local k = #st.names + 1
      local vname = (p.name or ("variable_" .. (k - 1))):gsub(":0$", "")
      st.names[k] = sformat("%s/%s/%s:0", name, vname, sname)
      st.values[k] = parts.slot(var, j) or parts.fresh(var, j)
      st.shapes[k] = var:shape()
    end
  end
  return st
end

--- Set opt's state for the variables of `pairs` from a list laid out as
-- state_for's values (values[1] ignored: the count is `iterations`). The
-- optimizer is built on the variables first; shapes must match (the
-- caller checks them, naming its source).
function M.set_state_for(opt, pairs, iterations, values)
  opt:build(pairs)
  local parts = opt:_state_parts()
  local k = 1
  for g = 1, #parts.globals do
    k = k + 1
    parts.set_global(g, values[k]:item())
  end
  for j = 1, #parts.slot_names do
    for _, p in ipairs(pairs) do
      k = k + 1
      local dst = parts.slot(p[2], j)
      dst:copy(values[k]:reshape(dst:shape()))
    end
  end
  opt.iterations = iterations
end

-- ---- constructors by class name --------------------------------------------------------------

-- Every function a user reaches: errors point at the user's line.
E.protect_all(Methods)
E.protect_all(LuaOpt)
E.protect_all(M.Optimizer)
E.protect_all(M)

-- ln.optimizers.<Class>: a constructor; anything else is an unknown class
-- (naming plugins that failed to load).
setmetatable(M, {
  __index = function(t, key)
    if type(key) ~= "string" then return nil end
    local unit = registry.find_class("optimizer", key)
    if not unit then E.raise(registry.unknown("optimizer", "optimizer class", key)) end
    local ctor = E.protect(function(args) return M.new(unit, args) end)
    rawset(t, key, ctor)
    return ctor
  end,
})

return M
