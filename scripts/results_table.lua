-- The README's results table: runs the six experiment scripts with several
-- seeds (each script in its own `lunet` process, LUNET_SEED set), collects
-- their RESULT lines and wall times, and writes docs/results.md with the
-- notebook's figure, the target, and ours as mean, standard deviation and
-- range over the seeds, plus the per-script times.
--
--   lunet scripts/results_table.lua [workdir] [options]
--     workdir           where the runs write (default out/results_table;
--                       one folder per seed, each script's log inside)
--     seeds=42,43,44    the seeds (default)
--     output=PATH       the Markdown file (default docs/results.md)
--     images=DIR        copy the first seed's plots there (the README's
--                       docs/img): sigmoid, learning curves, optimizers
--     reuse=1           run nothing: read the logs a previous run left in
--                       workdir (to rewrite the table)
--
-- Takes about three times as long as scripts/run_all.sh. The times in the
-- table are each script's own (its last RESULT line: data loading,
-- training, evaluation, plots and files).
local ln = require "lunet"

local sformat = string.format

-- ---- paths and arguments ---------------------------------------------------------------

local function shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function cwd()
  local p = assert(io.popen("pwd", "r"))
  local d = p:read("l")
  p:close()
  return d
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return cwd() .. "/" .. path
end

local script_dir = absolute((arg[0] or ""):match("^(.*)/[^/]*$") or ".")
local root = script_dir .. "/.."
local lunet = arg[-1] or "lunet"
if lunet:find("/", 1, true) then lunet = absolute(lunet) end

local workdir, seeds, output, images, reuse = "out/results_table", {42, 43, 44}, nil, nil, false
for i = 1, #arg do
  local k, v = arg[i]:match("^(%w+)=(.*)$")
  if k == "seeds" then
    seeds = {}
    for s in v:gmatch("[^,]+") do seeds[#seeds + 1] = math.tointeger(tonumber(s)) end
  elseif k == "output" then
    output = v
  elseif k == "images" then
    images = v
  elseif k == "reuse" then
    reuse = v ~= "0" and v ~= ""
  elseif k then
    error("results_table: unknown option '" .. k .. "' (seeds=, output=, images=, reuse=)", 0)
  else
    workdir = arg[i]
  end
end
output = output or (root .. "/docs/results.md")
workdir = absolute(workdir)

local SCRIPTS = {"00_sigmoid_saturation", "01_he_init_leaky_relu",
                 "02_batchnorm_after_activation", "03_batchnorm_before_activation",
                 "04_transfer_learning", "05_optimizers"}
-- the id of each script's last RESULT line (its whole run)
local SCRIPT_ID = {["00_sigmoid_saturation"] = "exp0", ["01_he_init_leaky_relu"] = "exp1",
                   ["02_batchnorm_after_activation"] = "exp2",
                   ["03_batchnorm_before_activation"] = "exp3",
                   ["04_transfer_learning"] = "exp4", ["05_optimizers"] = "exp5"}

-- ---- running ---------------------------------------------------------------------------

-- results[id][key] = {value per seed, in seed order}
local results, times = {}, {}

local function record(line, seed_index)
  local id, rest = line:match("^RESULT (%S+) (.*)$")
  if not id then return end
  results[id] = results[id] or {}
  for k, v in rest:gmatch("(%S+)=(%S+)") do
    local n = tonumber(v)
    if n then
      results[id][k] = results[id][k] or {}
      results[id][k][seed_index] = n
    end
  end
end

-- Reads the log a previous run of one script left.
local function reread(script, seed, seed_index)
  local path = sformat("%s/seed%d/%s.log", workdir, seed, script)
  local f = io.open(path, "r")
  if not f then error("results_table: reuse: no log " .. path, 0) end
  for line in f:lines() do record(line, seed_index) end
  f:close()
end

-- Runs one script for one seed, its output into a log; returns seconds.
local function run(script, seed, seed_index)
  local dir = sformat("%s/seed%d", workdir, seed)
  assert(os.execute("mkdir -p " .. shquote(dir)))
  local log = {}
  local cmd = sformat("cd %s && LUNET_SEED=%d %s %s %s 2>&1", shquote(root), seed,
                      shquote(lunet), shquote("scripts/" .. script .. ".lua"), shquote(dir))
  local t0 = ln.time()
  local p = assert(io.popen(cmd, "r"))
  for line in p:lines() do
    log[#log + 1] = line .. "\n"
    record(line, seed_index)
  end
  local ok, _, code = p:close()
  ln.io.write_file(dir .. "/" .. script .. ".log", table.concat(log))
  local secs = ln.time() - t0
  if not ok then
    error(sformat("results_table: %s (seed %d) failed with status %s; see %s/%s.log", script,
                  seed, tostring(code), dir, script), 0)
  end
  return secs
end

-- the 1-minute load average (other jobs on the machine slow the runs)
local function loadavg()
  local f = io.open("/proc/loadavg", "r")
  if not f then return nil end
  local v = tonumber(f:read("a"):match("^(%S+)"))
  f:close()
  return v
end

local t_start = ln.time()
local load_before = loadavg()
for si, seed in ipairs(seeds) do
  for _, s in ipairs(SCRIPTS) do
    if reuse then
      reread(s, seed, si)
    else
      io.write(sformat("seed %d: %-32s ", seed, s))
      io.flush()
      print(sformat("%6.1f s", run(s, seed, si)))
    end
  end
end
local load_after = loadavg()
for _, s in ipairs(SCRIPTS) do
  local r = results[SCRIPT_ID[s]]
  times[s] = r and r.seconds
  if not times[s] or #times[s] ~= #seeds then
    error("results_table: no RESULT " .. SCRIPT_ID[s] .. " line for every seed", 0)
  end
end

-- ---- statistics --------------------------------------------------------------------------

local function stats(list)
  local n, sum = #list, 0
  for _, v in ipairs(list) do sum = sum + v end
  local mean = sum / n
  local ss, lo, hi = 0, math.huge, -math.huge
  for _, v in ipairs(list) do
    ss = ss + (v - mean) ^ 2
    lo, hi = math.min(lo, v), math.max(hi, v)
  end
  local sd = n > 1 and math.sqrt(ss / (n - 1)) or 0
  return mean, sd, lo, hi
end

local function values(id, key)
  local r = results[id] and results[id][key]
  if not r or #r ~= #seeds then
    error(sformat("results_table: no %s of %s for every seed", key, id), 0)
  end
  return r
end

local function cell(id, key)
  local mean, sd, lo, hi = stats(values(id, key))
  return sformat("%.4f ± %.4f (%.4f – %.4f)", mean, sd, lo, hi)
end

-- ---- the Markdown file --------------------------------------------------------------------

local function cpu_model()
  local f = io.open("/proc/cpuinfo", "r")
  if not f then return "unknown CPU" end
  local s = f:read("a")
  f:close()
  return s:match("model name%s*:%s*([^\n]+)") or "unknown CPU"
end

local function nproc()
  local p = io.popen("nproc 2>/dev/null", "r")
  local n = p and p:read("l")
  if p then p:close() end
  return n or "?"
end

local out = {}
local function w(fmt, ...) out[#out + 1] = sformat(fmt, ...) end

local seed_list = {}
for i, s in ipairs(seeds) do seed_list[i] = tostring(s) end
local per_seed_total = {}
for si = 1, #seeds do
  local t = 0
  for _, s in ipairs(SCRIPTS) do t = t + times[s][si] end
  per_seed_total[si] = t
end
local tmean, _, tlo, thi = stats(per_seed_total)

w("# Results: the tutorial's experiments in lunet")
w("")
w("Written by `scripts/results_table.lua` on %s: every script run with seeds %s",
  os.date("!%Y-%m-%d"), table.concat(seed_list, ", "))
w("(`LUNET_SEED`), same epochs and batch sizes as the notebook. Machine: %s,", cpu_model())
w("%s CPU(s), OMP_NUM_THREADS=%s, lunet %s. \"ours\" is mean ± standard deviation", nproc(),
  os.getenv("OMP_NUM_THREADS") or "unset", tostring(ln.version))
w("(min – max) over the seeds. A seed gives the same numbers for 1 and 2 threads")
w("(tests/lua/test_scripts_smoke.lua checks it on every test run).")
w("")
w("| # | experiment | figure | notebook | target | ours (%d seeds) | target met |", #seeds)
w("|---|---|---|---:|---:|---|---|")
local rows = {
  {"1", "He init + LeakyReLU", "test accuracy", "exp1", "test_accuracy", "0.8241", "≥ 0.81"},
  {"1", "", "val. accuracy, epoch 10", "exp1", "val_accuracy", "0.8394", ""},
  {"2", "BatchNorm after activation", "test accuracy", "exp2", "test_accuracy", "0.8568", "≥ 0.84"},
  {"2", "", "val. accuracy, epoch 10", "exp2", "val_accuracy", "0.8664", ""},
  {"3", "BatchNorm before activation", "test accuracy", "exp3", "test_accuracy", "0.8471", "≥ 0.83"},
  {"3", "", "val. accuracy, epoch 10", "exp3", "val_accuracy", "0.8680", ""},
  {"4a", "transfer: task A (8 classes)", "val. accuracy, epoch 20", "exp4a", "val_accuracy",
   "0.9208", "≥ 0.91"},
  {"4b", "task B from scratch (200 images)", "test accuracy", "exp4b", "test_accuracy", "0.9705",
   "≥ 0.95"},
  {"4c", "task B on A (frozen 4 + 16)", "test accuracy", "exp4c", "test_accuracy", "0.9930",
   "≥ 0.95"},
}
-- "all seeds" when the worst seed reaches the target, "mean" when only the
-- mean does, "no" otherwise
local function met(id, key, target)
  local bound = tonumber(target:match("([%d.]+)"))
  if not bound then return "" end
  local mean, _, lo = stats(values(id, key))
  if lo >= bound then return "all seeds" end
  if mean >= bound then return "mean" end
  return "**no**"
end
for _, r in ipairs(rows) do
  w("| %s | %s | %s | %s | %s | %s | %s |", r[1], r[2], r[3], r[6], r[7], cell(r[4], r[5]),
    met(r[4], r[5], r[7]))
end
w("")

local OPTS = {"sgd", "rmsprop", "adagrad", "adam", "momentum", "nesterov", "nadam", "adamax",
              "adamw", "adagrad0"}
local NOTEBOOK = {sgd = {"0.9037", "0.8958"}, rmsprop = {"0.9764", "0.9933"},
                  adagrad = {"0.9157", "0.9118"}, adam = {"0.9763", "0.9961"}}
for _, ds in ipairs({{"mnist", "MNIST digits"}, {"fashion_mnist", "Fashion-MNIST"}}) do
  local id = "exp5_" .. ds[1]
  if results[id] then
    local ep = stats(values(id, "epochs"))
    w("Experiment 5, %s (%d epoch(s), batch 128, 2 runs per optimizer averaged; validation =",
      ds[2], math.floor(ep + 0.5))
    w("the test set)%s:", ds[1] == "mnist" and " -- the notebook's figures are for MNIST " ..
      "60,000/10,000; lunet ships an 8,000/2,000 subset, so the epochs are scaled to the " ..
      "notebook's 4,690 updates" or "")
    w("")
    w("| optimizer | notebook val_acc | ours val_acc | notebook train acc | ours train acc |")
    w("|---|---:|---|---:|---|")
    local order = {}
    for _, o in ipairs(OPTS) do order[#order + 1] = o end
    table.sort(order, function(a, b)
      return stats(values(id, a)) > stats(values(id, b))
    end)
    for _, o in ipairs(order) do
      local nb = ds[1] == "mnist" and NOTEBOOK[o] or nil
      w("| %s | %s | %s | %s | %s |", o, nb and nb[1] or "", cell(id, o), nb and nb[2] or "",
        cell(id, "acc_" .. o))
    end
    w("")
  end
end
w("momentum and nesterov are SGD with momentum 0.9 (Nesterov for the second); the others")
w("use Keras's defaults. adagrad0 is Adagrad with `initial_accumulator_value = 0`: with")
w("tf.keras's defaults (learning rate 0.001, accumulator starting at 0.1) an Adagrad step")
w("is at most 0.001/√0.1 ≈ 0.0032 times the gradient in every coordinate, a third of")
w("sgd's 0.01, so it cannot overtake sgd in the same number of steps; the notebook's")
w("adagrad figures (above sgd) match an accumulator starting at 0, as adagrad0 shows.")
w("")

w("Time per script (seconds, mean over the seeds; %s CPU(s)%s):", nproc(),
  load_before and reuse == false and sformat("; the machine's load average was %.1f before "
  .. "and %.1f after the runs", load_before, load_after or 0) or "")
w("")
w("| script | seconds |")
w("|---|---:|")
for _, s in ipairs(SCRIPTS) do
  w("| `scripts/%s.lua` | %.1f |", s, (stats(times[s])))
end
w("| all six | %.1f (%.1f – %.1f) |", tmean, tlo, thi)
w("")

ln.io.write_file(output, table.concat(out, "\n") .. "\n")
print(sformat("wrote %s (%.0f s in all)", output, ln.time() - t_start))

-- ---- the plots ----------------------------------------------------------------------------------

if images then
  assert(os.execute("mkdir -p " .. shquote(images)))
  local dir = sformat("%s/seed%d", workdir, seeds[1])
  for _, name in ipairs({"sigmoid_saturation_plot", "keras_learning_curves_plot",
                         "transfer_learning_curves", "optimizers_mnist",
                         "optimizers_fashion_mnist"}) do
    local src = assert(io.open(dir .. "/" .. name .. ".png", "rb"))
    local data = src:read("a")
    src:close()
    ln.io.write_file(images .. "/" .. name .. ".png", data)
    print(sformat("copied %s.png (%d bytes) to %s", name, #data, images))
  end
end
