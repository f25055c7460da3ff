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
local E = require "lunet.errors"
local core = require "lunet.core"
local O = require "lunet.options"

local M = {}

local function check_xy(fn, x, y)
  if not core.is_tensor(x) then
    E.raise(fn .. ": x must be a tensor, got " .. type(x))
  end
  if x:dim() < 1 then E.raise(fn .. ": x must have at least one dim") end
  if y ~= nil then
    if not core.is_tensor(y) then
      E.raise(fn .. ": y must be a tensor or nil, got " .. type(y))
    end
    if y:dim() < 1 or #y ~= #x then
      E.raise(string.format("%s: x has %d rows but y has %s (shapes %s and %s)",
        fn, #x, y:dim() < 1 and "none" or tostring(#y),
        table.concat(x:shape(), "x"), table.concat(y:shape(), "x")))
    end
  end
end

function M.batches(x, y, opts)
  check_xy("batches", x, y)
  opts = O.keys("batches", opts or {}, {batch_size = true, shuffle = true, drop_last = true})
  local bs = O.integer("batches", "batch_size", opts.batch_size, 1) or 32
  O.boolean("batches", "shuffle", opts.shuffle)
  O.boolean("batches", "drop_last", opts.drop_last)
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
  opts = O.keys("train_test_split", opts or {}, {test_size = true, shuffle = true})
  O.boolean("train_test_split", "shuffle", opts.shuffle)
  local n = #x
  local ts = opts.test_size or 0.25
  local n_test
  if math.type(ts) == "integer" then
    n_test = ts
  elseif type(ts) == "number" and ts > 0 and ts < 1 then
    n_test = math.ceil(ts * n)
  else
    E.raise("train_test_split: test_size must be a fraction in (0, 1) or a "
          .. "row count, got " .. tostring(ts))
  end
  if n_test < 0 or n_test > n then
    E.raise(string.format("train_test_split: %d test rows out of %d", n_test, n))
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
  if type(fraction) ~= "number" or not (fraction > 0 and fraction < 1) then
    E.raise("validation_split: fraction must be in (0, 1), got "
          .. tostring(fraction))
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

E.protect_all(M)
return M
