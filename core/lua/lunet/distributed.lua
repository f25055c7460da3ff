--- lunet.distributed (ln.distributed): data-parallel training over MPI.
--
--   mpirun -np 4 lunet train.lua      -- any script that calls fit
--
-- Under a launcher (mpirun, srun) fit splits every global batch across
-- the processes, averages the gradients with MPI and keeps the weights
-- identical everywhere (lunet.data_parallel; docs/distributed.md). For
-- custom loops:
--
--   ln.distributed.init{timeout = 30}   -- optional: any call below does it
--   ln.distributed.rank(), .size(), .is_main(), .barrier()
--   ln.distributed.allreduce(x, {op = "sum" | "mean" | "max"})
--   ln.distributed.broadcast(x, root)
--   ln.distributed.DistributedOptimizer(opt)   -- averages before applying
--
-- MPI itself is the optional C module lunet.mpi, loaded on the first call
-- in a process a launcher started (or by init()); otherwise -- and when
-- lunet was built without Open MPI and no launcher is there -- this is a
-- world of one process (rank 0 of 1) where every call is the identity.
local E = require "lunet.errors"
local O = require "lunet.options"

local D = {}
local sformat = string.format

local DEFAULT_TIMEOUT = 30 -- seconds a collective waits for a silent rank

-- ---- the world -----------------------------------------------------------------------------

--- The number of processes the launcher started, from its environment
-- (mpirun: OMPI_COMM_WORLD_SIZE; MPICH/Intel/srun with PMI: PMI_SIZE;
-- srun with PMIx: SLURM_STEP_NUM_TASKS), or nil when not launched.
function D.launched_size()
  for _, v in ipairs({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"}) do
    local n = tonumber(os.getenv(v) or "")
    if n then return math.tointeger(n) or 1 end
  end
  if os.getenv("PMIX_RANK") or os.getenv("PMI_RANK") then
    return math.tointeger(tonumber(os.getenv("SLURM_STEP_NUM_TASKS") or "")) or 1
  end
  return nil
end

local mpi         -- the C module once initialised
local timeout     -- its wait limit (seconds)
local overlap     -- init's overlap option (nil: LUNET_DIST_OVERLAP, default on)

local function env_timeout()
  local s = os.getenv("LUNET_DIST_TIMEOUT")
  if not s or s == "" then return DEFAULT_TIMEOUT end
  local v = tonumber(s)
  if not v or not (v > 0) or v == math.huge then
    E.raisef("LUNET_DIST_TIMEOUT must be a number of seconds > 0, got '%s'", s)
  end
  return v
end

-- lunet.mpi, or nil with the reason.
local function load_mpi()
  local ok, mod = pcall(require, "lunet.mpi")
  if ok then return mod end
  return nil, mod
end

-- Ranks on one machine share its cores: without OMP_NUM_THREADS, each of
-- the k ranks the launcher put on this node uses 1/k of the threads it
-- would use alone (as torchrun does), instead of all of them fighting.
local function share_cores()
  if os.getenv("OMP_NUM_THREADS") then return end
  local k = tonumber(os.getenv("OMPI_COMM_WORLD_LOCAL_SIZE") or os.getenv("MPI_LOCALNRANKS") or "")
  if k and k > 1 then
    local core = require "lunet.core"
    core.set_num_threads(math.max(1, core.get_num_threads() // math.tointeger(k)))
  end
end

--- init{timeout = seconds, overlap = true}: start MPI (idempotent; a
-- later call only changes the options given). Every collective fails,
-- naming the silent ranks, after `timeout` seconds without an answer
-- (default 30, or the environment's LUNET_DIST_TIMEOUT). overlap = false
-- (or LUNET_DIST_OVERLAP=0) makes fit exchange the gradients after
-- backward instead of during it (the same numbers). Returns
-- ln.distributed.
function D.init(opts)
  opts = opts or {}
  if type(opts) ~= "table" then E.raisef("distributed.init: options must be a table, got %s", type(opts)) end
  O.keys("distributed.init", opts, {timeout = 1, overlap = 1})
  local t = O.number("distributed.init", "timeout", opts.timeout, {min = 0, min_open = true})
  local ov = O.boolean("distributed.init", "overlap", opts.overlap)
  if ov ~= nil then overlap = ov end
  t = t or timeout or env_timeout()
  local mod, why = mpi or load_mpi()
  if not mod then
    local n = D.launched_size()
    if n and n > 1 then
      E.raisef("distributed: %d processes were launched (mpirun/srun) but this lunet was built " ..
               "without MPI (install libopenmpi-dev and rebuild: scripts/setup.sh): %s", n,
               tostring(why):match("^[^\n]*"))
    end
    timeout = t -- a world of one process, no MPI
    return D
  end
  local fresh = not mod.initialized()
  local ok, err = pcall(mod.init, t)
  if not ok then E.raise("distributed.init: " .. tostring(err)) end
  mpi, timeout = mod, t
  if fresh then share_cores() end
  return D
end

-- MPI when it runs; started here on the first call when a launcher
-- started this process. A process started without one is a world of one
-- (no MPI loaded) unless the script called init().
local function world()
  if not mpi and not timeout and D.launched_size() then D.init() end
  return mpi
end

--- Whether fit overlaps the gradient exchange with backward: init's
-- option, else the environment's LUNET_DIST_OVERLAP (0 or 1), else true.
function D.overlapping()
  if overlap ~= nil then return overlap end
  local s = os.getenv("LUNET_DIST_OVERLAP")
  if not s or s == "" or s == "1" then return true end
  if s == "0" then return false end
  E.raisef("LUNET_DIST_OVERLAP must be 0 or 1, got '%s'", s)
end

--- Whether MPI runs in this process.
function D.initialized() return mpi ~= nil end

--- This process's rank, 0-based.
function D.rank() local m = world(); return m and m.rank() or 0 end

--- The number of processes.
function D.size() local m = world(); return m and m.size() or 1 end

--- Whether this is rank 0 (the one that prints and writes files).
function D.is_main() return D.rank() == 0 end

--- Wait until every rank got here.
function D.barrier()
  local m = world()
  if m then m.barrier() end
end

-- This process's rank from the launcher's environment (mpirun, srun), or
-- nil when not launched.
local function launched_rank()
  for _, v in ipairs({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) do
    local r = math.tointeger(tonumber(os.getenv(v) or ""))
    if r then return r end
  end
  return nil
end

--- Whether this process may write lunet's files (callbacks' checkpoints
-- and logs) and print progress bars (fit, evaluate, predict): true unless
-- this is not rank 0 -- of the running MPI world, or before MPI starts,
-- of the launcher's (mpirun, srun) environment. Never starts MPI.
function D.writes_files()
  if mpi then return mpi.rank() == 0 end
  local n = D.launched_size()
  return not (n and n > 1) or (launched_rank() or 0) == 0
end

--- Figures of this process's collectives: {seconds, calls, bytes} since
-- MPI started, and `fit` = those of the last fit's gradient reductions
-- ({seconds, calls, bytes, wait_seconds}; nil when none ran). Zeros
-- without MPI.
function D.stats()
  if not mpi then return {seconds = 0, calls = 0, bytes = 0} end
  local s = mpi.stats()
  s.fit = require("lunet.data_parallel").reducer_stats()
  return s
end

-- ---- collectives ------------------------------------------------------------------------------

local is_tensor = require("lunet.registry").is_tensor

local OPS = {"sum", "mean", "max"}

local function op_of(what, opts)
  if opts == nil then return "sum" end
  if type(opts) == "string" then opts = {op = opts} end
  if type(opts) ~= "table" then E.raisef("%s: options must be a table {op = ...}, got %s", what, type(opts)) end
  O.keys(what, opts, {op = 1})
  return O.string(what, "op", opts.op, OPS) or "sum"
end

--- allreduce(x, {op = "sum" | "mean" | "max"}) over every rank, in a fixed
-- order (the same bits on every rank, run after run):
--   a tensor (float32 or int32): reduced in place, returned;
--   a number: the reduced number;
--   a list of numbers and tensors: a new list (tensors reduced in place,
--   all of them in one message).
function D.allreduce(x, opts)
  local op = op_of("distributed.allreduce", opts)
  local m = world()
  if is_tensor(x) then
    if m then m.allreduce_tensor(x, op) end
    return x
  end
  if type(x) == "number" then
    return m and m.allreduce_numbers({x}, op)[1] or x
  end
  if type(x) ~= "table" then
    E.raisef("distributed.allreduce: expected a tensor, a number or a list of them, got %s", type(x))
  end
  local nums, tensors, out = {}, {}, {}
  for i, v in ipairs(x) do
    if type(v) == "number" then nums[#nums + 1] = v
    elseif is_tensor(v) then tensors[#tensors + 1] = v
    else E.raisef("distributed.allreduce: entry %d is a %s, not a number or a tensor", i, type(v)) end
  end
  if m then
    if #nums > 0 then nums = m.allreduce_numbers(nums, op) end
    if #tensors > 0 then m.allreduce_tensors(tensors, op) end
  end
  local k = 0
  for i, v in ipairs(x) do
    if type(v) == "number" then k = k + 1; out[i] = nums[k] else out[i] = v end
  end
  return out
end

-- Lua values as Lua source (numbers, strings, booleans, nested tables).
local function serialize(v, seen)
  local t = type(v)
  if t == "number" then
    if v ~= v then return "0/0" end
    if v == math.huge then return "math.huge" elseif v == -math.huge then return "-math.huge" end
    return math.type(v) == "integer" and sformat("%d", v) or sformat("%.17g", v)
  end
  if t == "string" then return sformat("%q", v) end
  if t == "boolean" or t == "nil" then return tostring(v) end
  if t == "table" and getmetatable(v) == nil then
    if seen[v] then E.raise("distributed.broadcast: the table holds a cycle") end
    seen[v] = true
    local parts = {}
    for k, e in pairs(v) do
      parts[#parts + 1] = "[" .. serialize(k, seen) .. "]=" .. serialize(e, seen)
    end
    seen[v] = nil
    return "{" .. table.concat(parts, ",") .. "}"
  end
  E.raisef("distributed.broadcast: cannot send a %s (numbers, strings, booleans, plain " ..
           "tables, tensors, models, optimizers)", t)
end

--- broadcast(x, root = 0): root's x on every rank.
--   a tensor, or a list of tensors: overwritten in place, returned;
--   a model (or layer): its weights, in place; an optimizer: its state
--   (iterations and slots), in place;
--   numbers, strings, booleans, plain tables: root's value is returned.
function D.broadcast(x, root)
  root = O.integer("distributed.broadcast", "root", root, 0) or 0
  local m = world()
  local size = m and m.size() or 1
  if root >= size then E.raisef("distributed.broadcast: root %d outside ranks 0..%d", root, size - 1) end
  if not m then return x end
  if is_tensor(x) then m.broadcast_tensor(x, root); return x end
  if type(x) == "table" and x.weights and x.get_weights and not x.apply_gradients then -- a model or layer
    for _, v in ipairs(x.weights) do m.broadcast_tensor(v.value, root) end
    return x
  end
  if type(x) == "table" and x.apply_gradients then -- an optimizer
    if x.get_weights then
      local ws = x:get_weights()
      for _, w in ipairs(ws) do m.broadcast_tensor(w, root) end
      if #ws > 0 then x:set_weights(ws) end
    end
    return x
  end
  if type(x) == "table" and getmetatable(x) == nil and #x > 0 and is_tensor(x[1]) then
    for i, t in ipairs(x) do
      if not is_tensor(t) then E.raisef("distributed.broadcast: entry %d is a %s, not a tensor", i, type(t)) end
      m.broadcast_tensor(t, root)
    end
    return x
  end
  -- root's value as Lua source; a value root cannot send still goes out
  -- (as "\0" and the reason), so every rank raises and none waits
  local src
  if m.rank() == root then
    local ok, code = pcall(serialize, x, {})
    src = ok and ("return " .. code) or ("\0" .. tostring(code))
  end
  local s = m.broadcast_string(src, root)
  if s:sub(1, 1) == "\0" then
    if m.rank() == root then error(s:sub(2), 0) end
    E.raisef("distributed.broadcast: rank %d could not send its value: %s", root,
             (s:sub(2):gsub("^[^:\n]+:%d+: ", ""):gsub("^distributed%.broadcast: ", "")))
  end
  if m.rank() == root then return x end
  return assert(load(s, "=broadcast", "t", {math = {huge = math.huge}}))()
end

-- ---- DistributedOptimizer ------------------------------------------------------------------

local Wrapper = {}

function Wrapper:apply_gradients(pairs_)
  local opt = rawget(self, "_distributed_inner")
  if type(pairs_) ~= "table" then
    E.raisef("DistributedOptimizer: apply_gradients expects a list of {gradient, variable}, got %s",
             type(pairs_))
  end
  local m = world()
  if m and m.size() > 1 then
    local grads = {}
    for i, p in ipairs(pairs_) do
      local g = type(p) == "table" and (p[1] or p.grad)
      if not is_tensor(g) then
        E.raisef("DistributedOptimizer: pair %d has no gradient tensor", i)
      end
      grads[i] = g
    end
    m.allreduce_tensors(grads, rawget(self, "_distributed_op"))
  end
  return opt:apply_gradients(pairs_)
end

--- DistributedOptimizer(opt, {op = "mean"}): an optimizer that averages
-- (or sums) the gradients across ranks -- in one fused message, in a fixed
-- order -- before opt applies them. Everything else (learning_rate,
-- iterations, get_config, ...) is opt's. Given to compile, fit uses opt
-- itself (fit averages the gradients on its own, weighted by rows).
function D.DistributedOptimizer(opt, opts)
  if type(opt) ~= "table" or not opt.apply_gradients then
    E.raisef("DistributedOptimizer: expected an optimizer, got %s", O.show(opt))
  end
  opts = opts or {}
  O.keys("DistributedOptimizer", opts, {op = 1})
  local op = O.string("DistributedOptimizer", "op", opts.op, {"mean", "sum"}) or "mean"
  return setmetatable({_distributed_inner = opt, _distributed_op = op}, {
    __index = function(_, k)
      if Wrapper[k] then return Wrapper[k] end
      if k == "optimizer" then return opt end
      local v = opt[k]
      if type(v) == "function" then return function(_, ...) return v(opt, ...) end end
      return v
    end,
    __newindex = function(_, k, v) opt[k] = v end,
  })
end

-- ---- for fit (lunet.data_parallel) -------------------------------------------------------------

--- The MPI module when this process is one of several a launcher started
-- (initialising MPI), else nil: fit then runs as it always does.
function D.training_world()
  local n = D.launched_size()
  if not mpi and not (n and n > 1) then return nil end
  local m = world()
  if not m or m.size() < 2 then return nil end
  return m
end

E.protect_all(D)
return D
