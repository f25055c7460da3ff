--[[ lunet.data -- batches and splits of in-memory datasets (rows = samples
along dim 1). Shuffling draws from the seeded generator (ln.random.seed), so
runs repeat exactly.

  for xb, yb, i in ln.data.batches(x, y, {batch_size = 32, shuffle = true}) do
    ...  -- i = 1, 2, ...; the last batch holds the remainder
  end
      batch_size defaults to 32, shuffle to false, drop_last to false; y
      may be nil. Unshuffled batches are views (no copy); shuffled ones are
      gathered rows. A new permutation is drawn each time batches() is
      called (so once per epoch in a loop over epochs).

  local x_train, x_test, y_train, y_test =
      ln.data.train_test_split(x, y, {test_size = 0.25, shuffle = true})
      test_size: a fraction (test rows = ceil(test_size * N), scikit-learn's
      rule) or a row count; shuffle defaults to true. Without shuffle the
      test rows are the last ones.

  local train, val = ln.data.validation_split(x, y, 0.1)
      Keras fit's validation_split: split_at = floor(N * (1 - fraction));
      train = the first split_at rows, val = the rest, taken before any
      shuffling; both tables {x = ..., y = ...} of views. ]]
local core = require "lunet.core"

local M = {}

local function check_xy(fn, x, y)
  if not core.is_tensor(x) then
    error(fn .. ": x must be a tensor, got " .. type(x), 3)
  end
  if x:dim() < 1 then error(fn .. ": x must have at least one dim", 3) end
  if y ~= nil then
    if not core.is_tensor(y) then
      error(fn .. ": y must be a tensor or nil, got " .. type(y), 3)
    end
    if y:dim() < 1 or #y ~= #x then
      error(string.format("%s: x has %d rows but y has %s (shapes %s and %s)",
        fn, #x, y:dim() < 1 and "none" or tostring(#y),
        table.concat(x:shape(), "x"), table.concat(y:shape(), "x")), 3)
    end
  end
end

function M.batches(x, y, opts)
  check_xy("batches", x, y)
  opts = opts or {}
  local bs = opts.batch_size or 32
  if math.type(bs) ~= "integer" or bs < 1 then
    error("batches: batch_size must be a positive integer, got "
          .. tostring(bs), 2)
  end
  local n = #x
  local perm = opts.shuffle and core.randperm(n) or nil
  local nb = n // bs + ((not opts.drop_last and n % bs > 0) and 1 or 0)
  local i = 0
  return function()
    if i >= nb then return nil end
    i = i + 1
    local start = (i - 1) * bs + 1
    local len = math.min(bs, n - start + 1)
    if perm then
      local idx = perm:narrow(1, start, len)
      return x[idx], y and y[idx], i
    end
    return x:narrow(1, start, len), y and y:narrow(1, start, len), i
  end
end

function M.train_test_split(x, y, opts)
  check_xy("train_test_split", x, y)
  opts = opts or {}
  local n = #x
  local ts = opts.test_size or 0.25
  local n_test
  if math.type(ts) == "integer" then
    n_test = ts
  elseif type(ts) == "number" and ts > 0 and ts < 1 then
    n_test = math.ceil(ts * n)
  else
    error("train_test_split: test_size must be a fraction in (0, 1) or a "
          .. "row count, got " .. tostring(ts), 2)
  end
  if n_test < 0 or n_test > n then
    error(string.format("train_test_split: %d test rows out of %d", n_test, n), 2)
  end
  local n_train = n - n_test
  local shuffle = opts.shuffle
  if shuffle == nil then shuffle = true end
  local function part(t, start, len, perm)
    if not t then return nil end
    if perm then return t[perm:narrow(1, start, len)] end
    return t:narrow(1, start, len)
  end
  local perm = shuffle and core.randperm(n) or nil
  return part(x, 1, n_train, perm), part(x, n_train + 1, n_test, perm),
         part(y, 1, n_train, perm), part(y, n_train + 1, n_test, perm)
end

function M.validation_split(x, y, fraction)
  check_xy("validation_split", x, y)
  if type(fraction) ~= "number" or fraction <= 0 or fraction >= 1 then
    error("validation_split: fraction must be in (0, 1), got "
          .. tostring(fraction), 2)
  end
  local n = #x
  local split_at = math.floor(n * (1 - fraction))
  local function cut(t, a, len) return t and t:narrow(1, a, len) end
  local train = {x = cut(x, 1, split_at), y = cut(y, 1, split_at)}
  local val = {x = cut(x, split_at + 1, n - split_at),
               y = cut(y, split_at + 1, n - split_at)}
  train[1], train[2], val[1], val[2] = train.x, train.y, val.x, val.y
  return train, val
end

return M
