-- Tensor temporaries and memory: the collector sees tensor bytes, freed
-- blocks are reused from the cache, in-place and out-parameter forms, and
-- the fast element access path (same rules and errors as the general one).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
local test, eq, raises = T.test, T.eq, T.raises

local MB = 2 ^ 20

test("a loop of temporaries stays bounded without <close>", function()
  local a = ln.rand(1000000)               -- 4 MB
  local before = ln.memory.stats().live_bytes
  local worst = 0
  for _ = 1, 300 do
    local b = a * 0.9
    worst = math.max(worst, ln.memory.stats().live_bytes - before)
  end
  -- garbage never exceeds the collection headroom (4 MiB, half the live
  -- bytes, 32 times the small Lua heap) plus the one temporary being made
  assert(worst < 16 * MB, string.format("live bytes grew by %.1f MB", worst / MB))
end)

test("the collection headroom: bytes, live ratio, Lua heap ratio", function()
  collectgarbage()
  local a = ln.rand(1000000)                 -- 4 MB live
  local function trigger_room()
    collectgarbage()
    ln.memory.set_collect_headroom(0, 0, 0)  -- recompute the trigger
    local base = ln.memory.stats().collect_trigger
    return base
  end
  local live = trigger_room()                -- headroom 0: trigger = live bytes
  assert(live >= 4e6, "live " .. live)
  ln.memory.set_collect_headroom(8 * MB, 0, 0)
  eq(ln.memory.stats().collect_trigger - live, 8 * MB, "bytes term")
  ln.memory.set_collect_headroom(0, 3, 0)
  eq(ln.memory.stats().collect_trigger - live, math.floor(3 * live), "live term")
  ln.memory.set_collect_headroom(0, 0, 10)
  local heap = collectgarbage("count") * 1024
  local room = ln.memory.stats().collect_trigger - live
  assert(math.abs(room - 10 * heap) < 0.05 * 10 * heap, "heap term " .. room .. " vs " .. heap)
  -- the heap term is capped at 32 MiB (the block cache's blocks in flight)
  local keep = {}
  for i = 1, 20000 do keep[i] = {i} end     -- > 1 MB of Lua heap
  ln.memory.set_collect_headroom(0, 0, 1000)
  eq(ln.memory.stats().collect_trigger - live, 32 * MB, "heap cap")
  keep = nil
  -- a loop of 400 KB temporaries stays within the bytes term
  ln.memory.set_collect_headroom(2 * MB, 0, 0)
  local b, worst = ln.rand(100000), 0
  local before = ln.memory.stats().live_bytes
  for _ = 1, 200 do
    local c = b * 2
    worst = math.max(worst, ln.memory.stats().live_bytes - before)
  end
  assert(worst <= 2 * MB + 2 * 458752, "grew " .. worst) -- + 2 class-sized blocks
  ln.memory.set_collect_headroom(4 * MB, 0, 32)  -- the defaults
  raises(function() ln.memory.set_collect_headroom(1, 0.5, -1) end, "heap_ratio")
end)

test("young collections free a loop's temporaries between full ones", function()
  local a = ln.rand(30000)                  -- 120 KB temporaries
  collectgarbage()
  local s0, worst = ln.memory.stats(), 0
  for _ = 1, 200 do
    local b = a * 2
    worst = math.max(worst, ln.memory.stats().live_bytes - s0.live_bytes)
  end
  local s1 = ln.memory.stats()
  -- 24 MB of temporaries: a young collection every 2-4 of them
  assert(s1.young_collections - s0.young_collections >= 40,
         "young " .. (s1.young_collections - s0.young_collections))
  assert(s1.full_collections - s0.full_collections <= 1, "full " .. (s1.full_collections - s0.full_collections))
  -- garbage stays within the young headroom plus the blocks being made
  assert(worst <= 256 * 1024 + 3 * 131072, "grew " .. worst)
  assert(s1.young_bytes >= 0 and s1.young_bytes <= 256 * 1024 + 131072, "young bytes " .. s1.young_bytes)
  -- off: full collections only
  ln.memory.set_young_headroom(0)
  local s2 = ln.memory.stats()
  for _ = 1, 100 do local b = a * 2 end
  eq(ln.memory.stats().young_collections, s2.young_collections, "young collections when off")
  ln.memory.set_young_headroom(256 * 1024)
  raises(function() ln.memory.set_young_headroom(-1) end, "set_young_headroom", ">= 0")
end)

test("a large result takes the block of the one that died before the call", function()
  local a, b = ln.rand(2000000), ln.rand(2000000)    -- 8 MB each, results 16 MB
  collectgarbage()
  local s0, R = ln.memory.stats(), 16 * MB
  assert(s0.live_bytes + 2 * R > s0.peak_bytes + R / 2, "the peak is already too high to tell")
  for _ = 1, 10 do local r = ln.cat({a, b}) end
  local s1 = ln.memory.stats()
  -- the young collection runs when cat reads its arguments, before its
  -- result is made: the last result is freed first, and its block reused
  assert(s1.peak_bytes <= math.max(s0.peak_bytes, s0.live_bytes + R + MB),
         string.format("two results alive at once: peak %.1f MB, live %.1f MB",
                       s1.peak_bytes / MB, s0.live_bytes / MB))
  if s0.cache_limit >= 4 * R then                      -- sanitizer builds run without the cache
    assert(s1.cache_misses - s0.cache_misses <= 1, "new blocks " .. (s1.cache_misses - s0.cache_misses))
  end
end)

test("tensors that grew old are freed by full collections, within the trigger", function()
  local a = ln.rand(30000)
  collectgarbage()
  local s0, worst = ln.memory.stats(), 0
  local olds = {}
  for i = 1, 40 do
    olds[i % 3] = ln.zeros(1000000)         -- 4 MB, kept through young collections, then dropped
    for _ = 1, 10 do local b = a * 2 end    -- 1.2 MB of temporaries
    local s = ln.memory.stats()
    assert(s.live_bytes <= s.collect_trigger + 4000000 + 131072, "live above the trigger")
    worst = math.max(worst, s.live_bytes - s0.live_bytes)
  end
  local s1 = ln.memory.stats()
  -- 160 MB of old garbage: freed by full collections, never more than the
  -- headroom (at most 32 MiB here) on top of the three live ones
  assert(s1.full_collections - s0.full_collections >= 2, "full " .. (s1.full_collections - s0.full_collections))
  assert(worst <= 12e6 + 32 * MB + MB, string.format("grew %.1f MB", worst / MB))
end)

test("a large tensor's headroom goes when it dies young", function()
  -- The pattern of x:float() / 255 on a data set: a full collection runs
  -- while a large temporary lives, and a young collection frees it after.
  -- The trigger must come down with the live bytes, or the loop after it
  -- piles up that much garbage beyond the block cache (a GradientTape loop
  -- ran 2.6x slower, faulting in fresh pages).
  ln.memory.set_collect_headroom(4 * MB, 0, 0)
  local a = ln.rand(30000)
  local big = ln.zeros(16 * 1024 * 1024)     -- 64 MB: its push passes the trigger
  local s0 = ln.memory.stats()
  assert(s0.collect_trigger > 64 * MB, "no full collection with the large tensor alive")
  big = nil
  for _ = 1, 20 do local b = a * 2 end       -- 2.4 MB: young collections
  local s1 = ln.memory.stats()
  assert(s1.live_bytes < s0.live_bytes - 60 * MB, "the large tensor was not freed young")
  assert(s1.collect_trigger - s1.live_bytes <= 4 * MB,
         string.format("trigger %.1f MB above the live bytes", (s1.collect_trigger - s1.live_bytes) / MB))
  ln.memory.set_collect_headroom(4 * MB, 0, 32)
end)

-- A small MLP step on the tape, ~2 MB of new tensors a step.
local function tape_mlp()
  local w1, b1 = ln.randn(784, 300) * 0.05, ln.zeros(300)
  local w2, b2 = ln.randn(300, 10) * 0.05, ln.zeros(10)
  local vars = {w1, b1, w2, b2}
  local x, y = ln.rand(256, 784), (ln.rand(256) * 10):floor():int()
  local function loss_of(xb)
    local h = ln.activations.relu(ln.matmul(xb, w1) + b1)
    return ln.losses.get("sparse_categorical_crossentropy")(y, ln.activations.softmax(ln.matmul(h, w2) + b2))
  end
  return vars, x, loss_of
end

test("a training step's garbage goes at its end", function()
  -- Young collections every 256 KiB in the middle of a step made its
  -- tensors old (they lived through two), so they waited for full
  -- collections: the blocks in flight grew cold and, while the cache
  -- warmed, came fresh from the system (fit's first epoch with Lua units
  -- 1.5x slower). optimizer:apply_gradients marks the step's end instead,
  -- and the young room follows the step's size.
  local vars, x, loss_of = tape_mlp()
  local opt = ln.optimizers.SGD{learning_rate = 0.01}
  local function step()
    local tape = ln.GradientTape()
    local loss = tape:run(function() return loss_of(x) end)
    opt:apply_gradients(ln.zip(tape:gradient(loss, vars), vars))
  end
  local limit = ln.memory.stats().cache_limit -- 0 in sanitizer builds
  ln.memory.set_cache_limit(128 * MB)
  collectgarbage()
  ln.memory.empty_cache()
  local s0 = ln.memory.stats()
  for _ = 1, 150 do step() end
  local s1 = ln.memory.stats()
  ln.memory.set_cache_limit(limit)
  -- one young collection a step (at apply_gradients), none in between
  -- (the build before: 450)
  local minors = s1.young_collections - s0.young_collections
  assert(minors <= 150 * 1.25, minors .. " young collections in 150 steps")
  assert(s1.full_collections - s0.full_collections <= 1, string.format(
    "%d full collections in 150 steps", s1.full_collections - s0.full_collections))
  assert(s1.cache_misses - s0.cache_misses <= 64, "blocks came fresh from the system")
  assert(s1.live_bytes - s0.live_bytes < 8 * MB, "live bytes grew")
end)

test("fit's tape path marks its steps once", function()
  local Lin = ln.layers.Layer:extend{name = "MemLin", defaults = {units = 8},
    build = function(self, s)
      self.kernel = self:add_weight{name = "kernel", shape = {s[#s], self.units}}
    end,
    call = function(self, x) return ln.matmul(x, self.kernel) end}
  local m = ln.Sequential{ln.layers.InputLayer{input_shape = {784}}, Lin{units = 300},
                          ln.layers.ReLU{}, Lin{units = 10}, ln.layers.Softmax{}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  local x, y = ln.rand(2048, 784), (ln.rand(2048) * 10):floor():int()
  m:fit(x, y, {epochs = 1, batch_size = 32, verbose = 0})
  local s0 = ln.memory.stats()
  m:fit(x, y, {epochs = 2, batch_size = 32, verbose = 0})
  local s1 = ln.memory.stats()
  assert(s1.full_collections - s0.full_collections <= 1, string.format(
    "%d full collections in 128 steps", s1.full_collections - s0.full_collections))
  -- one young collection a step, after it (the build before: 255); the
  -- optimizer's own marks inside the step are ignored (511 when not)
  local minors = s1.young_collections - s0.young_collections
  assert(minors <= 128 * 1.25, minors .. " young collections in 128 steps")
end)

test("freed blocks are served from the cache", function()
  local old = ln.memory.stats().cache_limit -- 0 in sanitizer builds
  ln.memory.set_cache_limit(64 * MB)
  local a = ln.rand(250000)
  local s0 = ln.memory.stats()
  for _ = 1, 50 do local b <close> = a * 2 end
  local s1 = ln.memory.stats()
  ln.memory.set_cache_limit(old)
  assert(s1.cache_hits - s0.cache_hits >= 49, "hits " .. (s1.cache_hits - s0.cache_hits))
  assert(s1.cached_bytes <= s1.cache_limit)
end)

test("a full cache makes room for a mapped block by letting stale ones go", function()
  -- the cache full of 16 MB blocks: a loop's 4 MB temporaries (mapped
  -- blocks, over 2 MiB) are released while those blocks are recent, and
  -- take their place once twice the limit's bytes were freed without them
  -- being used (the build before released every one: each iteration's
  -- block came fresh from the system)
  local old = ln.memory.stats().cache_limit -- 0 in sanitizer builds
  collectgarbage()
  collectgarbage()
  ln.memory.empty_cache()
  ln.memory.set_cache_limit(64 * MB)
  do -- four 16 MB blocks, freed at the block's end
    local b1 <close> = ln.zeros(4000000)
    local b2 <close> = ln.zeros(4000000)
    local b3 <close> = ln.zeros(4000000)
    local b4 <close> = ln.zeros(4000000)
  end
  local a = ln.rand(1000000)
  local s0 = ln.memory.stats()
  assert(s0.cached_bytes >= 60 * MB, "cached " .. s0.cached_bytes)
  for _ = 1, 8 do local b <close> = a * 2 end -- 32 MB freed: still recent
  local s1 = ln.memory.stats()
  for _ = 1, 52 do local b <close> = a * 2 end -- 240 MB in all
  local s2 = ln.memory.stats()
  ln.memory.set_cache_limit(old)
  eq(s1.cache_hits - s0.cache_hits, 0, "hits while the 16 MB blocks were recent")
  eq(s1.cached_bytes, s0.cached_bytes, "cached bytes while recent")
  if old == 0 then -- a sanitizer build: every block on malloc, none mapped, none evicted
    eq(s2.cache_hits - s1.cache_hits, 0, "hits in a sanitizer build")
  else
    assert(s2.cache_hits - s1.cache_hits >= 20, "hits " .. (s2.cache_hits - s1.cache_hits))
  end
  assert(s2.cached_bytes <= 64 * MB, "cached " .. s2.cached_bytes)
end)

test("cache limit, empty_cache and stats", function()
  local s = ln.memory.stats()
  for _, k in ipairs{"live_bytes", "peak_bytes", "cached_bytes", "cache_limit",
                     "cache_hits", "cache_misses", "collect_trigger", "young_bytes",
                     "young_collections", "full_collections"} do
    assert(math.type(s[k]) == "integer", k)
  end
  local old = s.cache_limit
  ln.memory.set_cache_limit(0)
  eq(ln.memory.stats().cached_bytes, 0, "cached after limit 0")
  local x <close> = ln.rand(1000)
  ln.memory.set_cache_limit(old)
  ln.memory.empty_cache()
  eq(ln.memory.stats().cached_bytes, 0, "cached after empty_cache")
  raises(function() ln.memory.set_cache_limit(-1) end, "set_cache_limit", ">= 0")
  raises(function() ln.memory.set_collect_headroom(1, -2) end, "ratio")
end)

test("cached blocks come back zeroed from ln.zeros", function()
  for _ = 1, 20 do
    local a <close> = ln.full({1000}, 7)
    local z <close> = ln.zeros(1000)
    eq(z:sum(), 0, "zeros from a reused block")
  end
end)

test("collectgarbage('stop') is respected", function()
  collectgarbage("stop")
  local s0 = ln.memory.stats().live_bytes
  local keep = {}
  for i = 1, 20 do keep[i] = ln.zeros(1000000) end  -- 80 MB, above the trigger
  assert(ln.memory.stats().live_bytes - s0 >= 80e6)
  keep = nil
  collectgarbage("restart")
  collectgarbage()
end)

test("in-place arithmetic with numbers, tensors, broadcasting and alpha", function()
  local a = ln.tensor({{1, 2, 3}, {4, 5, 6}})
  assert(a:add_(1) == a)
  assert(a:equal(ln.tensor({{2, 3, 4}, {5, 6, 7}})))
  a:sub_(ln.tensor({1, 1, 1}))
  a:mul_(ln.tensor({{2}, {1}}))
  assert(a:equal(ln.tensor({{2, 4, 6}, {4, 5, 6}})))
  a:div_(2)
  assert(a:equal(ln.tensor({{1, 2, 3}, {2, 2.5, 3}})))
  a:add_(ln.ones(2, 3), -2)            -- a += -2 * ones
  a:sub_(ln.ones(3), 0.5)
  assert(ln.allclose(a, ln.tensor({{-1.5, -0.5, 0.5}, {-0.5, 0, 0.5}})))
  a:clamp_(-1, 0.25)
  assert(ln.allclose(a, ln.tensor({{-1, -0.5, 0.25}, {-0.5, 0, 0.25}})))
  raises(function() a:add_(ln.ones(3, 3)) end, "add_", "(2, 3)", "(3, 3)")
  raises(function() a:mul_("x") end, "mul_", "string")
end)

test("in-place forms keep the target's dtype", function()
  local i = ln.tensor({1, 2, 3}, "int32")
  i:add_(2)
  eq(i:type(), "int32")
  assert(i:equal(ln.tensor({3, 4, 5})))
  i:mul_(1.5)                                   -- 4.5, 6, 7.5 truncated
  assert(i:equal(ln.tensor({4, 6, 7})))
  local u = ln.tensor({250, 3}, "uint8")
  u:clamp_(0, 100)
  assert(u:equal(ln.tensor({100, 3})) and u:type() == "uint8")
end)

test("an operand overlapping the target is read before it is written", function()
  local a = ln.arange(1, 7):float()
  local v = a:narrow(1, 2, 5)   -- elements 2..6 of a
  local w = a:narrow(1, 1, 5)   -- elements 1..5 of a
  w:add_(v)                     -- a[i] += a[i + 1] for i = 1..5, old values
  assert(a:equal(ln.tensor({3, 5, 7, 9, 11, 6})))
  local b = ln.tensor({1, 2})
  b:add_(b)
  assert(b:equal(ln.tensor({2, 4})))
end)

test("copy_, fill_, zero_ and the Variable-style assign methods", function()
  local a = ln.zeros(2, 2)
  assert(a:fill_(3) == a and a:sum() == 12)
  assert(a:zero_() == a and a:sum() == 0)
  assert(a:copy_(ln.ones(4)) == a and a:sum() == 4)
  a:assign(ln.full({2, 2}, 2))
  a:assign_add(ln.ones(2, 2))
  a:assign_sub(ln.full({2, 2}, 0.5))
  assert(a:equal(ln.full({2, 2}, 2.5)))
end)

test("matmul: out parameter, Torch7's c:matmul(a, b), transposes", function()
  local a, b = ln.randn(4, 3), ln.randn(3, 5)
  local ref = ln.matmul(a, b)
  local c = ln.zeros(4, 5)
  assert(ln.matmul(a, b, {out = c}) == c)
  assert(c:equal(ref))
  c:zero()
  assert(c:matmul(a, b) == c and c:equal(ref))
  assert(a:matmul(b):equal(ref))
  assert(ln.matmul(a:t(), b, {transpose_a = true}):equal(ref))
  assert(ln.matmul(a, b:t(), {transpose_b = true}):equal(ref))
  raises(function() ln.matmul(a, b, {out = ln.zeros(5, 4)}) end, "matmul", "out", "(5, 4)")
  raises(function() ln.matmul(a, a) end, "matmul", "(4, 3)", "do not fit")
  raises(function() ln.matmul(a, b, {out = a}) end, "matmul")
  raises(function() ln.matmul(a:int(), b) end, "float32")
  raises(function() ln.matmul(a, b, 3) end, "options must be a table")
end)

test("element reads and writes: fast path and general path agree", function()
  local t = ln.arange(1, 7):float()
  eq(t[1], 1.0)
  eq(t[-1], 6.0)
  t[2] = 20
  eq(t[2], 20.0)
  local m = t:reshape(2, 3)
  eq(m[{2, 3}], 6.0)
  eq(m[{-1, -3}], 4.0)
  m[{1, 3}] = 30
  eq(t[3], 30.0)
  local i = ln.tensor({1, 2}, "int32")
  i[1] = 7
  eq(i[1], 7)
  eq(math.type(i[1]), "integer")
  raises(function() return t[7] end, "index 7 out of range 1..6")
  raises(function() t[0] = 1 end, "out of range")
  raises(function() m[{3, 1}] = 1 end, "out of range")
  raises(function() local u = ln.zeros(2, "uint8"); u[1] = 300 end, "does not fit", "uint8")
  -- non-integer keys and views still take the general path
  assert(m[1]:equal(ln.tensor({1, 20, 30})))
  m[{2, {1, 2}}] = 0
  eq(t[4], 0.0)
  eq(t.no_such_method, nil)
  eq(type(t.sum), "function")
end)

T.summary()
