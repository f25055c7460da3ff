-- Hostile integers at the Lua -> C boundary (issue 14), by class: every
-- binding function that takes a size, a dim, an index, a range, a count or
-- a batch size, fed the extremes of a Lua integer (math.maxinteger,
-- math.mininteger), values just outside the valid range, floats with and
-- without an integer value, NaN, strings and lengths from __len. Each case
-- asserts the exact outcome: a clear error naming the function and the
-- argument, or the correct result. Before the fix some of these crashed
-- (narrow with math.maxinteger), wrote outside a tensor, or truncated.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local err, eq, ok, shape = R.err, R.eq, R.ok, R.shape

local MAX, MIN = math.maxinteger, math.mininteger
local t = ln.arange(12):float():reshape(3, 4)   -- 0..11, float32
local function long_len(n) return setmetatable({}, {__len = function() return n end}) end

R.run(T, "narrow", {
  {"length maxinteger (a segfault before)", function() return t:narrow(1, 2, MAX) end,
   err("narrow: start 2, length 9223372036854775807 out of range along dim 1 of shape (3, 4)")},
  {"start near maxinteger (wrote outside before)",
   function() return t:narrow(1, MAX - 100000, 100002):fill(7) end,
   err("narrow: start 9223372036854675807, length 100002 out of range along dim 1")},
  {"start maxinteger (read before the buffer)", function() return t:narrow(1, MAX, 2) end,
   err("narrow: start 9223372036854775807, length 2 out of range")},
  {"start mininteger", function() return t:narrow(1, MIN, 1) end,
   err("narrow: start -9223372036854775808, length 1 out of range")},
  {"start -maxinteger", function() return t:narrow(1, -MAX, 1) end, err("narrow: start", "out of range")},
  {"start 0", function() return t:narrow(1, 0, 1) end, err("narrow: start 0, length 1 out of range")},
  {"start -4 of 3", function() return t:narrow(1, -4, 1) end, err("narrow: start -4, length 1 out of range")},
  {"start 5 of 3 (past the empty end)", function() return t:narrow(1, 5, 0) end, err("narrow: start 5, length 0")},
  {"length -1", function() return t:narrow(1, 1, -1) end, err("narrow: length must be an integer >= 0, got -1")},
  {"length mininteger", function() return t:narrow(1, 1, MIN) end,
   err("narrow: length must be an integer >= 0, got -9223372036854775808")},
  {"length 2^63 (a float)", function() return t:narrow(1, 1, 2^63) end,
   err("narrow: length must be an integer >= 0, got 9.2233720368548e+18")},
  {"length 1.5", function() return t:narrow(1, 1, 1.5) end, err("narrow: length must be an integer >= 0, got 1.5")},
  {"start 1.5", function() return t:narrow(1, 1.5, 1) end, err("narrow: start must be an integer, got 1.5")},
  {"start NaN", function() return t:narrow(1, 0/0, 1) end, err("narrow: start must be an integer, got")},
  {"start a string", function() return t:narrow(1, "2", 1) end, err("narrow: start must be an integer, got string")},
  {"start nil", function() return t:narrow(1, nil, 1) end, err("narrow: start must be an integer, got nil")},
  {"length 4 of 3", function() return t:narrow(1, 1, 4) end, err("narrow: start 1, length 4 out of range")},
  {"empty range at the end", function() return R.shape(t:narrow(1, 4, 0)) end, eq("0x4")},
  {"last row from the end", function() return t:narrow(1, -1, 1):sum() end, eq(8 + 9 + 10 + 11)},
  {"whole from -3", function() return R.shape(t:narrow(1, -3, 3)) end, eq("3x4")},
  {"2.0 as a length (an exact float)", function() return R.shape(t:narrow(1, 1, 2.0)) end, eq("2x4")},
  {"dim 2, length maxinteger (the copy path)", function() return t:narrow(2, 2, MAX) end,
   err("narrow: start 2, length 9223372036854775807 out of range along dim 2 of shape (3, 4)")},
  {"dim 2, start maxinteger", function() return t:narrow(2, MAX, 2) end, err("out of range along dim 2")},
  {"dim 2, start mininteger", function() return t:narrow(2, MIN, 2) end, err("out of range along dim 2")},
  {"dim 2, columns 3..4", function() return t:narrow(2, 3, 2):sum() end, eq(2 + 3 + 6 + 7 + 10 + 11)},
  {"dim 3 of 2", function() return t:narrow(3, 1, 1) end, err("narrow: dim 3 out of range for shape (3, 4)")},
  {"dim maxinteger", function() return t:narrow(MAX, 1, 1) end, err("narrow: dim 9223372036854775807 out of range")},
  {"dim mininteger", function() return t:narrow(MIN, 1, 1) end, err("narrow: dim -9223372036854775808 out of range")},
  {"dim 2^53 (a float)", function() return t:narrow(2^53, 1, 1) end, err("narrow: dim 9007199254740992 out of range")},
  {"dim 0", function() return t:narrow(0, 1, 1) end, err("narrow: dim 0 out of range")},
})

R.run(T, "select and t[i]", {
  {"select maxinteger", function() return t:select(1, MAX) end,
   err("select: index 9223372036854775807 out of range 1..3 along dim 1")},
  {"select mininteger", function() return t:select(1, MIN) end,
   err("select: index -9223372036854775808 out of range 1..3 along dim 1")},
  {"select 0", function() return t:select(2, 0) end, err("select: index 0 out of range 1..4 along dim 2")},
  {"select 1.5", function() return t:select(1, 1.5) end, err("select: index must be an integer, got 1.5")},
  {"select -1", function() return t:select(1, -1):sum() end, eq(38)},
  {"t[maxinteger]", function() return t[MAX] end, err("index: index 9223372036854775807 out of range 1..3 along dim 1")},
  {"t[mininteger]", function() return t[MIN] end, err("index -9223372036854775808 out of range 1..3")},
  {"t[0]", function() return t[0] end, err("index: index 0 out of range 1..3")},
  {"t[1.5]", function() return t[1.5] end, err("index: the index along dim 1 must be an integer, got 1.5")},
  {"t[-1]", function() return t[-1]:sum() end, eq(38)},
  {"t[{1, maxinteger}]", function() return t[{1, MAX}] end, err("index 9223372036854775807 out of range 1..4 along dim 2")},
  {"t[{mininteger, 1}]", function() return t[{MIN, 1}] end, err("out of range 1..3 along dim 1")},
  {"t[{3, -1}]", function() return t[{3, -1}] end, eq(11)},
  {"t[{1, 2, 3}] on 2 dims", function() return t[{1, 2, 3}] end, err("index: 3 indices for a tensor of shape (3, 4)")},
  {"a key with __len maxinteger", function() return t[long_len(MAX)] end,
   err("index: the number of indices must be an integer in [0, 9], got 9223372036854775807")},
  {"t[{1, maxinteger}] = 1", function() t[{1, MAX}] = 1 end, err("assignment: index 9223372036854775807 out of range")},
  {"t[maxinteger] = 1", function() t[MAX] = 1 end, err("assignment: index 9223372036854775807 out of range")},
})

R.run(T, "ranges t[{{a, b}}]", {
  {"{1, maxinteger}", function() return t[{{1, MAX}}] end,
   err("index: range {1, 9223372036854775807} out of range along dim 1 of shape (3, 4)")},
  {"{mininteger, 2}", function() return t[{{MIN, 2}}] end, err("range {-9223372036854775808, 2} out of range")},
  {"{maxinteger, mininteger}", function() return t[{{MAX, MIN}}] end, err("out of range along dim 1")},
  {"{maxinteger, maxinteger}", function() return t[{{MAX, MAX}}] end, err("out of range along dim 1")},
  {"{2, 1} is empty", function() return R.shape(t[{{2, 1}}]) end, eq("0x4")},
  {"{4, 3} is empty at the end", function() return R.shape(t[{{4, 3}}]) end, eq("0x4")},
  {"{5, 4} past the end", function() return t[{{5, 4}}] end, err("range {5, 4} out of range")},
  {"{3, 1} backwards", function() return t[{{3, 1}}] end, err("range {3, 1} out of range")},
  {"{-1, -1}", function() return t[{{-1, -1}}]:sum() end, eq(38)},
  {"{1, 2, 3}", function() return t[{{1, 2, 3}}] end, err("a range along dim 1 must be {first, last}")},
  {"{1.5, 2}", function() return t[{{1.5, 2}}] end, err("a range along dim 1 must be {first, last}")},
  {"{{}, {2, maxinteger}}", function() return t[{{}, {2, MAX}}] end, err("out of range along dim 2")},
  {"a range with __len maxinteger", function() return t[{long_len(MAX)}] end,
   err("a range along dim 1 must be {first, last}")},
  {"assign {1, maxinteger} = 0", function() t[{{1, MAX}}] = 0 end, err("assignment: range {1, 9223372036854775807}")},
})

R.run(T, "shapes of new tensors", {
  {"zeros(2^40, 2^40)", function() return ln.zeros(2^40, 2^40) end,
   err("tensor: shape (1099511627776, 1099511627776) needs", "more than")},
  {"zeros(maxinteger)", function() return ln.zeros(MAX) end, err("tensor: shape (9223372036854775807,) needs")},
  {"zeros(0, 2^62): products would overflow", function() return ln.zeros(0, 2^62) end,
   err("tensor: shape (0, 4611686018427387904): the sizes other than 0 multiply to")},
  {"zeros(2^40, 2^40, 0)", function() return ln.zeros(2^40, 2^40, 0) end, err("the sizes other than 0 multiply to")},
  {"zeros(0, 2^33) is fine (empty)", function() return ln.zeros(0, 2^33):numel() end, eq(0)},
  {"zeros(-1)", function() return ln.zeros(-1) end, err("zeros: size 1 must be an integer >= 0, got -1")},
  {"zeros(2, mininteger)", function() return ln.zeros(2, MIN) end,
   err("zeros: size 2 must be an integer >= 0, got -9223372036854775808")},
  {"zeros(1.5)", function() return ln.zeros(1.5) end, err("zeros: size 1 must be an integer >= 0, got 1.5")},
  {"zeros({2, -3})", function() return ln.zeros({2, -3}) end, err("zeros: size 2 must be an integer >= 0, got -3")},
  {"zeros of 9 dims", function() return ln.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end, err("zeros: at most 8 dimensions")},
  {"zeros(table with __len 2^40)", function() return ln.zeros(long_len(2^40)) end,
   err("zeros: the number of dimensions must be an integer in [0, 8], got 1099511627776.0")},
  {"ones(2^31, 2^31)", function() return ln.ones(2^31, 2^31) end, err("tensor: shape (2147483648, 2147483648) needs")},
  {"rand(2^62)", function() return ln.rand(2^62) end, err("tensor: shape (4611686018427387904,) needs")},
  {"randn(-5)", function() return ln.randn(-5) end, err("randn: size 1 must be an integer >= 0, got -5")},
  {"rand(3, 0)", function() return ln.rand(3, 0):numel() end, eq(0)},
  {"full(2^62, 1)", function() return ln.full(2^62, 1) end, err("tensor: shape (4611686018427387904,) needs")},
  {"full(-1, 1)", function() return ln.full(-1, 1) end, err("full: size must be an integer >= 0, got -1")},
  {"full({2^40, 2^40}, 0)", function() return ln.full({2^40, 2^40}, 0) end, err("needs", "more than")},
  {"full(3, 7, int32)", function() return ln.full(3, 7, "int32"):sum() end, eq(21)},
  {"uint8 2^40 x 2^40", function() return ln.zeros({2^40, 2^40}, "uint8") end, err("tensor: shape")},
})

R.run(T, "reshape and view", {
  {"(2^32, 2^32) of 12 (the product wraps to 0)", function() return t:reshape(2^32, 2^32) end,
   err("reshape: cannot view shape (3, 4) as (4294967296, 4294967296)")},
  {"(-1, 2^62)", function() return t:reshape(-1, 2^62) end, err("reshape: cannot view shape (3, 4)")},
  {"(maxinteger, 0)", function() return t:reshape(MAX, 0) end, err("reshape: cannot view shape (3, 4)")},
  {"an empty tensor as (2^62, 4, 0)", function() return ln.zeros(0, 4):reshape(2^62, 4, 0) end,
   err("reshape: cannot view shape (0, 4) as (4611686018427387904, 4, 0)")},
  {"an empty tensor as (2^32, 2^32, 0)", function() return ln.zeros(0, 4):reshape(2^32, 2^32, 0) end,
   err("reshape: cannot view shape (0, 4)")},
  {"an empty tensor as (4, 0)", function() return R.shape(ln.zeros(0, 4):reshape(4, 0)) end, eq("4x0")},
  {"an empty tensor as (-1, 4)", function() return R.shape(ln.zeros(0, 4):reshape(-1, 4)) end, eq("0x4")},
  {"-2", function() return t:reshape(-2, 6) end, err("reshape: size 1 must be an integer >= -1, got -2")},
  {"1.5", function() return t:reshape(1.5, 8) end, err("reshape: size 1 must be an integer >= -1, got 1.5")},
  {"two -1", function() return t:reshape(-1, -1) end, err("reshape: size -1 in (-1, -1) (only one size may be -1")},
  {"mininteger", function() return t:view(MIN) end, err("reshape: size 1 must be an integer >= -1")},
  {"{3, maxinteger}", function() return t:reshape({3, MAX}) end, err("reshape: cannot view shape (3, 4)")},
  {"9 dims", function() return t:reshape(1, 1, 1, 1, 1, 1, 1, 3, 4) end, err("reshape: at most 8 dimensions")},
  {"(12)", function() return R.shape(t:reshape(12)) end, eq("12")},
  {"(2, -1, 2)", function() return R.shape(t:view(2, -1, 2)) end, eq("2x3x2")},
})

R.run(T, "dims of methods", {
  {"size(maxinteger)", function() return t:size(MAX) end, err("size: dim 9223372036854775807 out of range")},
  {"size(-1)", function() return t:size(-1) end, eq(4)},
  {"size(-3)", function() return t:size(-3) end, err("size: dim -3 out of range for shape (3, 4)")},
  {"sum(maxinteger)", function() return t:sum(MAX) end, err("sum: dim 9223372036854775807 out of range")},
  {"sum(0)", function() return t:sum(0) end, err("sum: dim 0 out of range")},
  {"mean(mininteger)", function() return t:mean(MIN) end, err("mean: dim -9223372036854775808 out of range")},
  {"std(3)", function() return t:std(3) end, err("std: dim 3 out of range")},
  {"var(2^31)", function() return t:var(2^31) end, err("var: dim 2147483648 out of range")},
  {"max(1.5)", function() return t:max(1.5) end, err("max: dim must be an integer, got 1.5")},
  {"min(maxinteger)", function() return t:min(MAX) end, err("min: dim 9223372036854775807 out of range")},
  {"argmax(mininteger)", function() return t:argmax(MIN) end, err("argmax: dim -9223372036854775808 out of range")},
  {"argmin(2^32 + 1)", function() return t:argmin((1 << 32) + 1) end, err("argmin: dim 4294967297 out of range")},
  {"squeeze(maxinteger)", function() return t:squeeze(MAX) end, err("squeeze: dim 9223372036854775807 out of range")},
  {"unsqueeze(maxinteger)", function() return t:unsqueeze(MAX) end,
   err("unsqueeze: dim 9223372036854775807 out of range for shape (3, 4)")},
  {"unsqueeze(mininteger)", function() return t:unsqueeze(MIN) end, err("unsqueeze: dim -9223372036854775808 out of range")},
  {"unsqueeze(-1)", function() return R.shape(t:unsqueeze(-1)) end, eq("3x4x1")},
  {"unsqueeze(3)", function() return R.shape(t:unsqueeze(3)) end, eq("3x4x1")},
  {"unsqueeze(4)", function() return t:unsqueeze(4) end, err("unsqueeze: dim 4 out of range")},
  {"transpose(1, maxinteger)", function() return t:transpose(1, MAX) end, err("transpose: dim 9223372036854775807 out of range")},
  {"permute(2, maxinteger)", function() return t:permute(2, MAX) end, err("permute: dim 9223372036854775807 out of range")},
  {"permute{2, 2^32 + 1} (2^32 + 1 is not 1)", function() return t:permute{2, (1 << 32) + 1} end,
   err("permute: dim 4294967297 out of range")},
  {"permute(list with __len 2^32 + 2)", function() return t:permute(long_len((1 << 32) + 2)) end,
   err("permute: the number of dims must be an integer in [0, 9], got 4294967298")},
  {"index(maxinteger, idx)", function() return t:index(MAX, ln.tensor({1}, "int32")) end,
   err("index: dim 9223372036854775807 out of range")},
  {"index(1, {4})", function() return t:index(1, ln.tensor({4}, "int32")) end,
   err("index: index 4 (at position 1) out of range 1..3")},
  {"gather(mininteger, idx)", function() return t:gather(MIN, ln.ones({3, 1}, "int32")) end,
   err("gather: dim -9223372036854775808 out of range")},
  {"cat(t, maxinteger)", function() return t:cat(t, MAX) end, err("cat: dim 9223372036854775807 out of range")},
  {"ln.cat({t, t}, 0)", function() return ln.cat({t, t}, 0) end, err("cat: dim 0 out of range")},
  {"ln.cat(list with __len -1)", function() return ln.cat(long_len(-1)) end,
   err("cat: the number of tensors must be an integer in [0, ")},
  {"cat of empty tensors whose sizes add up beyond the limit",
   function() local e = ln.zeros(0, 2^33); return ln.cat({e, e, e, e}, 2) end,
   err("tensor: shape (0, 34359738368): the sizes other than 0 multiply to")},
})

R.run(T, "counts of constructors", {
  {"randperm(-1)", function() return ln.randperm(-1) end, err("randperm: n must be an integer in [0, 2147483647], got -1")},
  {"randperm(2^31)", function() return ln.randperm(2^31) end, err("randperm: n must be an integer in [0, 2147483647]")},
  {"randperm(maxinteger)", function() return ln.randperm(MAX) end, err("randperm: n must be an integer in [0, 2147483647]")},
  {"randperm(1.5)", function() return ln.randperm(1.5) end, err("randperm: n must be an integer in [0, 2147483647], got 1.5")},
  {"randperm(0)", function() return ln.randperm(0):numel() end, eq(0)},
  {"randperm(5)", function() return ln.randperm(5):sum() end, eq(15)},
  {"arange(0, 1e12)", function() return ln.arange(0, 1e12) end, err("arange: 1000000000000 elements is too many")},
  {"arange(0, huge)", function() return ln.arange(0, math.huge) end, err("arange: inf elements is too many")},
  {"arange(0, 10, 0)", function() return ln.arange(0, 10, 0) end, err("arange: step must be a nonzero number")},
  {"arange(0, NaN)", function() return ln.arange(0, 0/0) end, err("arange: step must be a nonzero number")},
  {"one_hot(y, -1)", function() return ln.one_hot(ln.tensor({0}, "int32"), -1) end,
   err("one_hot: num_classes must be an integer >= 1, got -1")},
  {"one_hot(y, 0)", function() return ln.one_hot(ln.tensor({0}, "int32"), 0) end, err("one_hot: num_classes must be an integer >= 1, got 0")},
  {"one_hot(y, 2^40)", function() return ln.one_hot(ln.tensor({0}, "int32"), 2^40) end, err("tensor: shape (1, 1099511627776) needs")},
  {"one_hot(y, 1.5)", function() return ln.one_hot(ln.tensor({0}, "int32"), 1.5) end, err("one_hot: num_classes must be an integer >= 1, got 1.5")},
  {"one_hot of a label 1e30", function() return ln.one_hot(ln.tensor({1e30})) end,
   err("one_hot: label 1.0000000150474662e+30 at position 1 is not a class id")},
  {"one_hot of a label -3", function() return ln.one_hot(ln.tensor({-3}, "int32")) end,
   err("one_hot: label -3 at position 1 is not a class id in 0..0")},
  {"one_hot(y, 3)", function() return R.shape(ln.one_hot(ln.tensor({0, 2}, "int32"), 3)) end, eq("2x3")},
})

R.run(T, "library functions", {
  {"random.seed(maxinteger)", function() ln.random.seed(MAX) return ln.rand(1):numel() end, eq(1)},
  {"random.seed(mininteger)", function() ln.random.seed(MIN) return ln.rand(1):numel() end, eq(1)},
  {"random.seed(1.5)", function() ln.random.seed(1.5) end, err("random.seed: seed must be an integer, got 1.5")},
  {"random.seed(2^63)", function() ln.random.seed(2^63) end, err("random.seed: seed must be an integer, got 9.2233720368548e+18")},
  {"isatty(2^32 + 1)", function() return ln.isatty((1 << 32) + 1) end, err("isatty: fd must be an integer in [0, 2147483647], got 4294967297")},
  {"isatty(-1)", function() return ln.isatty(-1) end, err("isatty: fd must be an integer in [0, 2147483647], got -1")},
})

-- ---- batch sizes and counts of fit / evaluate / predict / batches -----------------------

ln.random.seed(3)
local x = ln.rand(10, 4)
local y = ln.tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, "int32")
local function model()
  ln.random.seed(5)
  local m = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
  return m
end
local function fit_loss(opts)
  opts.verbose = 0
  opts.shuffle = false
  return model():fit(x, y, opts).history.loss[1]
end
local whole = fit_loss({batch_size = 10})

R.run(T, "fit, evaluate, predict", {
  {"fit batch_size maxinteger is one batch", function() return fit_loss({batch_size = MAX}) end, eq(whole)},
  {"fit batch_size maxinteger - 1", function() return fit_loss({batch_size = MAX - 1}) end, eq(whole)},
  {"fit batch_size 0", function() return fit_loss({batch_size = 0}) end, err("fit: batch_size must be an integer >= 1, got 0")},
  {"fit batch_size mininteger", function() return fit_loss({batch_size = MIN}) end, err("fit: batch_size must be an integer >= 1")},
  {"fit batch_size 2^63", function() return fit_loss({batch_size = 2^63}) end, err("fit: batch_size must be an integer >= 1, got 9.2233720368548e+18")},
  {"fit batch_size 1.5", function() return fit_loss({batch_size = 1.5}) end, err("fit: batch_size must be an integer >= 1, got 1.5")},
  {"fit epochs -1", function() return fit_loss({epochs = -1}) end, err("fit: epochs must be an integer >= 0, got -1")},
  {"fit initial_epoch mininteger", function() return fit_loss({initial_epoch = MIN}) end, err("fit: initial_epoch must be an integer >= 0")},
  {"fit validation_freq 0", function() return fit_loss({validation_freq = 0}) end, err("fit: validation_freq must be an integer >= 1, got 0")},
  {"fit validation_batch_size maxinteger",
   function() return fit_loss({batch_size = 10, validation_batch_size = MAX, validation_data = {x, y}}) end, eq(whole)},
  {"evaluate batch_size maxinteger", function() local m = model() return m:evaluate(x, y, {batch_size = MAX, verbose = 0}) end,
   eq(model():evaluate(x, y, {batch_size = 10, verbose = 0}))},
  {"evaluate batch_size 0", function() return model():evaluate(x, y, {batch_size = 0, verbose = 0}) end,
   err("evaluate: batch_size must be an integer >= 1, got 0")},
  {"predict batch_size maxinteger", function() return R.shape(model():predict(x, {batch_size = MAX})) end, eq("10x3")},
  {"predict batch_size mininteger", function() return model():predict(x, {batch_size = MIN}) end,
   err("predict: batch_size must be an integer >= 1")},
  {"batches batch_size maxinteger is one batch",
   function() local n = 0 for _ in ln.data.batches(x, y, {batch_size = MAX}) do n = n + 1 end return n end, eq(1)},
  {"batches batch_size 0", function() return ln.data.batches(x, y, {batch_size = 0}) end,
   err("batches: batch_size must be an integer >= 1, got 0")},
})

-- ---- integers handed to plugins (keyword arguments) ----------------------------------------

R.run(T, "keyword arguments", {
  {"Dense{maxinteger}: no exact double", function() return ln.layers.Dense{MAX} end,
   err("keyword '#1': the integer 9223372036854775807 is beyond 2^53")},
  {"Dense{2^53 + 1} would round to 2^53", function() return ln.layers.Dense{(1 << 53) + 1} end,
   err("the integer 9007199254740993 is beyond 2^53")},
  {"Dense{2^63} (a float)", function() return ln.layers.Dense{2^63} end,
   err("Dense: keyword 'units' must be an integer, got 9.2233720368547758e+18")},
  {"Dense{2^40} builds no 4 TB kernel", function() return ln.layers.Dense{2^40}(x) end,
   err("tensor: shape (4, 1099511627776) needs")},
  {"Dense{-1}", function() return ln.layers.Dense{-1} end, err("Dense: 'units' must be a positive integer, got -1")},
  {"DepthwiseConv2D over a row of 8e8 pixels builds no 10 GB table",
   function() return ln.layers.DepthwiseConv2D{{1, 3}}:build({3, 800000000, 2}) end,
   err("(DepthwiseConv2D): an input axis of 800000000 pixels under a window of 3 taps is too large")},
  {"Dense{1.5}", function() return ln.layers.Dense{1.5} end, err("Dense: keyword 'units' must be an integer, got 1.5")},
  {"Softmax{axis = mininteger}", function() return ln.layers.Softmax{axis = MIN}(x) end,
   err("(Softmax): 'axis' -9223372036854775808: only the last axis (-1) is supported")},
  {"Softmax{axis = maxinteger}", function() return ln.layers.Softmax{axis = MAX}(x) end,
   err("keyword 'axis': the integer 9223372036854775807 is beyond 2^53")},
  {"BatchNormalization{axis = {2^60}}", function() return ln.layers.BatchNormalization{axis = {1 << 60}}(x) end,
   err("(BatchNormalization): 'axis' 1152921504606846976 is not a feature axis of input (None, 4,)")},
  {"BatchNormalization{axis = -2^60}", function() return ln.layers.BatchNormalization{axis = -(1 << 60)}(x) end,
   err("(BatchNormalization): 'axis' -1152921504606846976 is not a feature axis of input (None, 4,)")},
  {"BatchNormalization{axis = {2^53 + 1}}", function() return ln.layers.BatchNormalization{axis = {(1 << 53) + 1}} end,
   err("keyword 'axis': the integer 9007199254740993 is beyond 2^53")},
  {"activations.softmax axis 2^60", function() return ln.activations.softmax(x, {axis = 1 << 60}) end,
   err("activation 'softmax': only axis = -1 (the last axis) is supported, got axis = 1152921504606846976")},
  {"PReLU{shared_axes = {2^60}}", function() return ln.layers.PReLU{shared_axes = {1 << 60}}(x) end,
   err("(PReLU): 'shared_axes' holds 1152921504606846976 but the input (None, 4,) has axes 1..1")},
  {"PReLU{shared_axes = {1.5}}", function() return ln.layers.PReLU{shared_axes = {1.5}} end,
   err("PReLU: keyword 'shared_axes' must hold integers, entry 1 is 1.5")},
  {"input_shape {2^40}", function() return ln.Sequential{ln.layers.Dense{2, input_shape = {2^40}}} end,
   err("tensor: shape (1099511627776, 2) needs")},
  {"to_categorical(y, 2^40)", function() return ln.utils.to_categorical(y, 2^40) end,
   err("to_categorical: num_classes must be an integer, got 1099511627776.0")},
})

T.summary("hostile integer")
