--[[ lunet: deep learning in C, driven from Lua.

  local ln = require "lunet"

The core functions live in the C module lunet.core; everything else is a
submodule (lunet.layers, lunet.optimizers, lunet.datasets, ...) loaded on
first use through ln.<name>, so `require "lunet"` stays fast. ]]
local core = require "lunet.core"

local ln = {
  core = core,
  version = core.version,
  load_plugin = core.load_plugin,
  time = core.time,
  set_num_threads = core.set_num_threads,
  get_num_threads = core.get_num_threads,
  matmul = core.matmul,
  random = { seed = core.seed },
}

-- Every C function of lunet.core that is not named above is also ln.<name>
-- (tensor constructors and the like).
for k, v in pairs(core) do
  if ln[k] == nil and type(v) == "function" then ln[k] = v end
end

-- Functions of submodules offered at the top (loaded on first access).
local from = {GradientTape = "lunet.autograd", grad = "lunet.autograd",
              Variable = "lunet.autograd", zip = "lunet.autograd"}

-- ln.layers, ln.optimizers, ... : require "lunet.<name>" on first access
-- (a Lua file, or a C module such as lunet.h5, the HDF5 and JSON module
-- that saving and loading require: start-up maps neither library).
setmetatable(ln, {
  __index = function(t, key)
    if type(key) ~= "string" then return nil end
    if from[key] then
      local v = require(from[key])[key]
      rawset(t, key, v)
      return v
    end
    local modname = "lunet." .. key
    if not (package.searchpath(modname, package.path) or
            package.searchpath(modname, package.cpath)) then
      return nil
    end
    local mod = require(modname)
    rawset(t, key, mod)
    return mod
  end,
})

package.loaded["lunet"] = ln
return ln
