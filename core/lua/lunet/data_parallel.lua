--- lunet.data_parallel: what fit does when several processes train one
-- model (mpirun -np N lunet train.lua; docs/distributed.md). Used by
-- lunet.engine only when lunet.distributed.training_world() says so.
--
-- Every rank holds the whole data set and the same model. A global batch
-- of b rows (batch_size, or batch_size * N with per_rank_batch) is cut in
-- N shares of the same epoch permutation: rank p takes its rows
-- [b*p//N, b*(p+1)//N), so shares differ by at most one row and the last,
-- smaller batch is cut alike (a share may then be empty: that rank still
-- takes part in the step). The net's reducer averages each step's
-- gradients weighted by the shares' rows -- exactly the gradient of the
-- whole batch -- so every rank applies the same update. Then:
--  - at fit's start, rank 0's weights and optimizer state go to everyone;
--  - at each epoch's start, rank 0's generator goes to everyone before the
--    shuffle (the same permutation everywhere), and rank r then draws its
--    dropout masks from a stream of its own;
--  - at each epoch's end the running totals of loss and metrics are summed
--    over ranks (sample-weighted means), and the weights no optimizer
--    updates (BatchNormalization's moving statistics, computed on each
--    rank's share) are averaged;
--  - validation data is cut in N contiguous slices, its totals summed;
--  - stop_training is true everywhere when it is anywhere (after each
--    epoch, and after each batch when batch callbacks run).
-- A rank whose fit raises tells the others (they raise naming it) before
-- the error goes on.
local core = require "lunet.core"

local DP = {}
DP.__index = DP

local reducer -- one per process: its buffers are reused by every fit
local current -- the world of the fit running now (for the tape runners)
local START_WAITS = 10

--- The gradient reducer's figures since the last fit started: seconds
-- in the reducer's calls, steps, bytes sent, wait_seconds (of those
-- seconds, blocked after backward until the exchange ended); nil before
-- any fit ran under MPI.
function DP.reducer_stats()
  return reducer and reducer:stats()
end

--- The training world over the MPI module m (lunet.mpi, initialised).
function DP.new(m)
  reducer = reducer or m.reducer()
  current = setmetatable({mpi = m, rank = m.rank(), size = m.size(), reducer = reducer}, DP)
  return current
end

--- The first row of rank p's share of b rows (p = size: b).
function DP:cut(b, p)
  return b * p // self.size
end

--- This rank's rows of a batch of b rows.
function DP:share(b)
  return self:cut(b, self.rank + 1) - self:cut(b, self.rank)
end

-- What every rank must agree on at fit's start (each as {what, value}).
local function disagreement(m, facts)
  local v = {}
  for i, f in ipairs(facts) do v[i], v[#facts + i] = f[2], -f[2] end
  local r = m.allreduce_numbers(v, "max")
  for i, f in ipairs(facts) do
    local hi, lo = r[i], -r[#facts + i]
    if hi ~= lo then
      return string.format("fit: the processes disagree on %s (from %s to %s): every rank " ..
                           "must call fit alike, with the whole data set (fit gives each its " ..
                           "share)", f[1], tostring(math.tointeger(lo) or lo),
                           tostring(math.tointeger(hi) or hi))
    end
  end
end

--- At fit's start: checks that every rank calls fit alike (facts: a list
-- of {what, number}; raises on every rank otherwise); sends rank 0's
-- weights (every one the model has) and its optimizer's state everywhere;
-- remembers the weights no optimizer updates (averaged at every epoch's
-- end). Returns whether some rank has batch callbacks (then every rank
-- reduces stop_training after each batch).
function DP:start(model, opt, pairs_, facts, batch_callbacks)
  local m = self.mpi
  local params = 0
  for _, p in ipairs(pairs_) do params = params + p[2]:numel() end
  facts[#facts + 1] = {"the trained parameters", params}
  -- ranks reach fit at different times (one loads its data from a slower
  -- disk): this first exchange waits START_WAITS times the usual limit
  local t = m.timeout(m.timeout() * START_WAITS)
  local ok, why = pcall(disagreement, m, facts)
  m.timeout(t)
  if not ok then error(why, 0) end
  if why then error(why, 0) end
  for _, v in ipairs(model.weights) do m.broadcast_tensor(v.value, 0) end
  if type(opt) == "table" and opt.get_weights then
    local ws = opt:get_weights()
    for _, w in ipairs(ws) do m.broadcast_tensor(w, 0) end
    if #ws > 0 then opt:set_weights(ws) end
  end
  local trained = {}
  for _, p in ipairs(pairs_) do trained[core.tensor_key(p[2])] = true end
  local c = rawget(model, "_compiled")
  if c and c.net and c.net.tape then -- a tape runner trains its variables itself
    for _, v in ipairs(c.net.vars) do trained[core.tensor_key(v)] = true end
  end
  local state = {}
  for _, v in ipairs(model.weights) do
    if not trained[core.tensor_key(v.value)] then state[#state + 1] = v.value end
  end
  self.state = state
  self.reducer:reset_stats()
  self.reducer:overlap(require("lunet.distributed").overlapping())
  return self:any(batch_callbacks)
end

--- Each epoch: the same permutation everywhere (rank 0's generator), then
-- a stream of its own per rank (for dropout and noise layers).
function DP:before_shuffle() self.mpi.sync_rng(0) end
function DP:after_shuffle() self.mpi.spread_rng() end

-- A tape runner's (lunet.engine_tape) running results as totals, the C
-- net's totals() layout: each mean of names times the rows seen, then the
-- add_metric values (sorted names). A metric's mean over the ranks is thus
-- weighted by their rows: exact for means (accuracy, MAE...), a weighted
-- mean of the ranks' results for other Lua metrics. Returns the list and
-- the extra names.
local function tape_totals(net, names)
  local vals, count, t = {net:results()}, net.count or 0, {}
  for i = 1, #names do t[2 * i - 1], t[2 * i] = (vals[i] or 0) * count, count end
  local extra, keys = net:extra(), {}
  for k in pairs(extra) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local n = net.extra_n and net.extra_n[k] or count
    t[#t + 1], t[#t + 2] = extra[k] * n, n
  end
  return t, keys
end

--- The means of the net's running totals summed over ranks: {name = value}
-- (prefix before each name).
function DP:results(net, names, prefix, into)
  local totals, keys = nil, {}
  if net.tape then totals, keys = tape_totals(net, names) else totals = {net:totals()} end
  local sums = self.mpi.allreduce_numbers(totals, "sum")
  local logs = into or {}
  prefix = prefix or ""
  local function mean(i)
    local total, count = sums[2 * i - 1], sums[2 * i]
    return count and count > 0 and total / count or 0 / 0
  end
  for i, n in ipairs(names) do logs[prefix .. n] = mean(i) end
  for j, k in ipairs(keys) do logs[prefix .. k] = mean(#names + j) end
  return logs
end

--- A tape runner's step (lunet.engine_tape): the gradients grads of its
-- variables vars over this rank's n rows (nil when the rank's share is
-- empty or gave none) -> the row-weighted mean over the ranks, in one
-- message. A variable keeps no gradient (nil) when no rank with rows had
-- one for it, as the optimizer skips it in one process.
function DP.reduce_tape(vars, grads, n)
  if not current then
    error("data_parallel.reduce_tape: no distributed fit is running (it is called by fit's tape runner under mpirun)", 2)
  end
  local m = current.mpi
  local k = #vars
  local list, flags = {}, {}
  for i, v in ipairs(vars) do
    local g = grads and grads[i]
    if g then
      flags[i] = 1
      g = g:contiguous()
      if g:type() ~= "float32" then g = g:float() end
    else
      flags[i] = 0
      g = core.zeros(v:shape())
    end
    list[i] = g
  end
  local f = core.tensor(flags)
  list[k + 1] = f
  m.allreduce_tensors(list, "mean", grads and n or 0)
  local out = {}
  for i = 1, k do out[i] = f[i] > 0 and list[i] or nil end
  return out
end

--- Whether flag is true on some rank.
function DP:any(flag)
  return self.mpi.allreduce_numbers({flag and 1 or 0}, "max")[1] > 0
end

--- The weights no optimizer updates, averaged over ranks.
function DP:average_state()
  if #self.state > 0 then self.mpi.allreduce_tensors(self.state, "mean") end
end

--- At fit's normal end: every rank continues with rank 0's generator.
function DP:finish() self.mpi.sync_rng(0) end

--- This rank's fit raised err: tell the others (once).
function DP:fail(err)
  if not self.mpi.broken() then self.mpi.fail(tostring(err)) end
end

return DP
