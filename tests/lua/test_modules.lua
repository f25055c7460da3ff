-- How lunet loads: the HDF5/JSON module (lunet.h5) only when a script
-- saves or loads -- start-up maps neither libhdf5 nor libjansson --, the
-- same under stock lua5.4 (require "lunet", C modules loaded RTLD_LOCAL);
-- and the plugin rules seen from Lua: a user plugin cannot replace a
-- built-in unless loaded with {override = true}, class names cannot be
-- taken twice, and an unknown unit's error names the plugin that was
-- refused and why. Run by CTest under `lunet` (LUNET_BUILD_DIR,
-- LUNET_SOURCE_DIR and LUNET_TEST_PLUGIN_DIR set).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = ln or require "lunet"

local build_dir, source_dir = os.getenv("LUNET_BUILD_DIR"), os.getenv("LUNET_SOURCE_DIR")
local plugin_dir = os.getenv("LUNET_TEST_PLUGIN_DIR")

local function mapped(pattern)
  local f = assert(io.open("/proc/self/maps", "r"))
  local maps = f:read("a")
  f:close()
  return maps:find(pattern) ~= nil
end

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function tmpname(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. suffix
end

T.test("start-up and training map neither libhdf5 nor libjansson; saving loads lunet.h5", function()
  if not io.open("/proc/self/maps", "r") then return T.skip("no /proc/self/maps") end
  local model = ln.Sequential{ln.layers.Dense{3, input_shape = {4}}}
  model:compile{loss = "mse", optimizer = "sgd"}
  model:fit(ln.rand(8, 4), ln.rand(8, 3), {epochs = 1, verbose = 0})
  T.eq(mapped("libhdf5"), false, "libhdf5 mapped before any save")
  T.eq(mapped("libjansson"), false, "libjansson mapped before any save")
  T.eq(package.loaded["lunet.h5"], nil, "lunet.h5 loaded before any save")
  local path = tmpname(".h5")
  model:save(path)
  T.eq(mapped("libhdf5"), true, "libhdf5 after a save")
  T.eq(type(package.loaded["lunet.h5"]), "table", "lunet.h5 after a save")
  T.eq(ln.h5, package.loaded["lunet.h5"], "ln.h5")
  os.remove(path)
end)

T.test("stock lua5.4: require \"lunet\" trains, saves and loads", function()
  if not build_dir or not source_dir then return T.skip("run through ctest") end
  if not os.execute("command -v lua5.4 > /dev/null 2>&1") then return T.skip("no lua5.4") end
  local path = tmpname(".h5")
  local code = string.format([[
    local ln = require "lunet"
    ln.random.seed(1)
    local m = ln.Sequential{ln.layers.Dense{2, input_shape = {3}}}
    m:compile{loss = "mse", optimizer = "adam"}
    m:fit(ln.rand(6, 3), ln.rand(6, 2), {epochs = 2, verbose = 0})
    m:save(%q)
    local n = ln.models.load_model(%q)
    local x = ln.rand(4, 3)
    assert(((m:predict(x) - n:predict(x)):abs():max()) == 0)
    print("STOCK LUA OK")
  ]], path, path)
  -- a sanitized build: lua5.4 is not instrumented, so preload the runtimes
  local preload = os.getenv("LUNET_TEST_PRELOAD")
  local cmd = string.format("%sLUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s 2>&1",
                            preload and ("LD_PRELOAD=" .. sh_quote(preload) .. " ") or "",
                            sh_quote(source_dir .. "/core/lua/?.lua;" .. source_dir ..
                                     "/core/lua/?/init.lua;;"),
                            sh_quote(build_dir .. "/lib/lua/5.4/?.so;;"), sh_quote(code))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(path)
  assert(out:find("STOCK LUA OK", 1, true), "lua5.4 output:\n" .. out)
end)

T.test("a user plugin cannot replace a built-in; {override = true} does", function()
  if not plugin_dir then return T.skip("LUNET_TEST_PLUGIN_DIR not set") end
  local shadow = plugin_dir .. "/shadow.so"
  T.raises(function() ln.load_plugin(shadow) end, "duplicate optimizer 'adam'",
           "ln_optimizers_adam.so", "shadow.so", "override = true")
  -- its other unit is unknown, and the error says which file and why
  T.raises(function() return ln.optimizers.get("TpRAdam") end, "unknown optimizer 'TpRAdam'",
           "shadow.so was refused", "duplicate optimizer 'adam'")
  T.eq(ln.optimizers.Adam{}:get_config().beta_1, 0.9, "the built-in Adam")
  T.raises(function() ln.load_plugin(shadow, {overide = true}) end, "unknown option 'overide'")
  local registry = require "lunet.registry"
  local builtin = registry.unit("optimizer", "adam") -- cached by the Lua side
  assert(builtin.file:find("ln_optimizers_adam.so", 1, true), builtin.file)
  ln.load_plugin(shadow, {override = true})
  local unit
  for _, u in ipairs(ln.core.plugins()) do
    if u.kind == "optimizer" and u.name == "adam" then unit = u end
  end
  T.eq(unit.version, 9, "adam after the override")
  assert(unit.file:find("shadow.so", 1, true), unit.file)
  T.eq(registry.unit("optimizer", "adam").version, 9, "registry.unit after the override")
  T.eq(ln.optimizers.Adam{}:get_config().learning_rate, 0.5, "the replacement's default rate")
  -- an override that keeps the count of units: the Lua tables follow it too
  local count = #ln.core.plugins()
  ln.load_plugin(plugin_dir .. "/shadow_again.so", {override = true})
  T.eq(#ln.core.plugins(), count, "units after the second override")
  T.eq(registry.unit("optimizer", "adam").version, 10, "registry.unit after the second override")
  T.eq(ln.optimizers.Adam{}:get_config().learning_rate, 0.25, "the second replacement's default rate")
end)

T.test("a class name cannot be taken twice", function()
  if not plugin_dir then return T.skip("LUNET_TEST_PLUGIN_DIR not set") end
  T.raises(function() ln.load_plugin(plugin_dir .. "/clash.so") end,
           "optimizer 'radam2'", "'Adam' is taken by optimizer 'adam'")
  T.raises(function() return ln.optimizers.get("radam2") end, "unknown optimizer", "clash.so")
  T.raises(function()
    local m = ln.Sequential{ln.layers.Dense{1, input_shape = {2}}}
    m:compile{loss = "mse", optimizer = "radam2"}
  end, "unknown optimizer 'radam2'", "clash.so was refused")
end)

T.summary("modules")
