-- Masked losses and metrics (issue 19, Keras 2): when the model's output
-- carries a mask (Embedding(mask_zero) or Masking, then return_sequences
-- layers), a padded step contributes nothing. The loss is the mean over the
-- unmasked steps, sum_{b,t} w_b m_bt L_bt / sum_{b,t} m_bt (Keras 2.0's
-- weighted_masked_objective divides by mean(mask); tf.keras 2's
-- apply_valid_mask by the valid count: the same), its gradient is checked
-- by central differences, metrics average over the unmasked steps.
-- Run as `lunet test_masked_loss.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
function T.ok(c, what) if not c then error(what or "check failed", 2) end end

local N, S, V = 4, 6, 8 -- sequences, steps, vocabulary
-- Right, left and inner padding, a full row and a nearly empty one.
local X = {{1, 2, 3, 0, 0, 0}, {4, 5, 6, 7, 1, 2}, {0, 0, 3, 4, 5, 0}, {2, 0, 0, 0, 0, 0}}

local function model(rnn, units, act)
  ln.random.seed(11)
  return ln.Sequential{ln.layers.Embedding{V, 3, mask_zero = true, input_shape = {S}},
                       rnn, ln.layers.Dense{units, activation = act}}
end

-- The hand computation: sum_{b,t} w_b m_bt L(b, t) / sum m.
local function masked_mean(L, w)
  local num, den = 0, 0
  for b = 1, N do
    for t = 1, S do
      if X[b][t] ~= 0 then num, den = num + (w and w[b] or 1) * L(b, t), den + 1 end
    end
  end
  return num / den
end

local function mse_at(out, y)
  return function(b, t)
    local s = 0
    for u = 1, out:size(3) do s = s + (out[{b, t, u}] - y[{b, t, u}]) ^ 2 end
    return s / out:size(3)
  end
end

local x = ln.tensor(X)

for _, c in ipairs{{"SimpleRNN", ln.layers.SimpleRNN}, {"LSTM", ln.layers.LSTM},
                   {"GRU", ln.layers.GRU}} do
  T.test(c[1] .. " return_sequences + mse: the loss is the mean over unmasked steps", function()
    local m = model(c[2]{4, return_sequences = true}, 2)
    m:compile{loss = "mse", optimizer = "sgd"}
    ln.random.seed(2)
    local y = ln.randn(N, S, 2)
    local got = m:evaluate(x, y, {batch_size = N, verbose = 0})
    local out = m:predict(x)
    local want = masked_mean(mse_at(out, y))
    T.ok(math.abs(got - want) <= 1e-6 * math.abs(want), ("loss %.9g, hand %.9g"):format(got, want))
    -- the unmasked mean differs (the check can fail)
    local all = ((out - y) ^ 2):mean()
    T.ok(math.abs(all - want) > 1e-3, "masked and unmasked means agree: no padding effect")
  end)
end

T.test("sample weights with a mask: sum w m L / sum m (tf.keras 2's apply_valid_mask)", function()
  local m = model(ln.layers.LSTM{4, return_sequences = true}, 2)
  m:compile{loss = "mse", optimizer = "sgd"}
  ln.random.seed(3)
  local y = ln.randn(N, S, 2)
  local w = {0.5, 2, 1, 3}
  local got = m:evaluate(x, y, {batch_size = N, verbose = 0, sample_weight = ln.tensor(w)})
  local want = masked_mean(mse_at(m:predict(x), y), w)
  T.ok(math.abs(got - want) <= 1e-6 * math.abs(want), ("loss %.9g, hand %.9g"):format(got, want))
end)

T.test("sparse crossentropy (fused softmax) and accuracy count only unmasked steps", function()
  local m = model(ln.layers.GRU{5, return_sequences = true}, 3, "softmax")
  m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd",
            metrics = {"accuracy", "sparse_categorical_crossentropy"}}
  local lab = {}
  for b = 1, N do lab[b] = {} for t = 1, S do lab[b][t] = (b * 7 + t * 3) % 3 end end
  local y = ln.tensor(lab)
  local r = {m:evaluate(x, y, {batch_size = N, verbose = 0})}
  if type(r[1]) == "table" then r = r[1] end
  local p = m:predict(x)
  local function argmax(b, t)
    local best = 1
    for k = 2, 3 do if p[{b, t, k}] > p[{b, t, best}] then best = k end end
    return best - 1
  end
  local ce = masked_mean(function(b, t) return -math.log(p[{b, t, lab[b][t] + 1}]) end)
  local acc = masked_mean(function(b, t) return argmax(b, t) == lab[b][t] and 1 or 0 end)
  T.ok(math.abs(r[1] - ce) <= 1e-5 * ce, ("loss %.9g, hand %.9g"):format(r[1], ce))
  T.ok(math.abs(r[2] - acc) <= 1e-12, ("accuracy %.9g, hand %.9g"):format(r[2], acc))
  T.ok(math.abs(r[3] - ce) <= 1e-5 * ce, ("ce metric %.9g, hand %.9g"):format(r[3], ce))
end)

-- The gradient one SGD step (learning rate 1) applies, w0 - w1, against
-- central differences of the evaluated (masked) loss.
local function grad_check(make, loss, y, opts)
  local m = make()
  m:compile{loss = loss, optimizer = ln.optimizers.SGD{learning_rate = 1}}
  local w0 = m:get_weights()
  local function L(ws)
    m:set_weights(ws)
    return m:evaluate(x, y, {batch_size = N, verbose = 0, sample_weight = opts.sw})
  end
  m:fit(x, y, {epochs = 1, batch_size = N, verbose = 0, shuffle = false, sample_weight = opts.sw})
  local w1 = m:get_weights()
  local h, checked = 1e-2, 0
  for i = 1, #w0 do
    local g = (w0[i] - w1[i]):contiguous():view(-1)
    local n = g:size(1)
    local scale = g:abs():max()
    for k = 1, n, math.max(1, n // 7) do
      local wp, wm = {}, {}
      for j = 1, #w0 do wp[j], wm[j] = w0[j]:clone(), w0[j]:clone() end
      local fp, fm = wp[i]:view(-1), wm[i]:view(-1)
      fp[k] = fp[k] + h
      fm[k] = fm[k] - h
      local num = (L(wp) - L(wm)) / (2 * h)
      local err = math.abs(num - g[k])
      T.ok(err <= 5e-3 * scale + 1e-2 * math.abs(num) + 1e-6,
           ("weight %d element %d: numeric %.6g, step %.6g"):format(i, k, num, g[k]))
      checked = checked + 1
    end
  end
  T.ok(checked > 10)
end

T.test("finite differences: masked mse through Embedding(mask_zero) + LSTM", function()
  ln.random.seed(4)
  local y = ln.randn(N, S, 2)
  grad_check(function() return model(ln.layers.LSTM{3, return_sequences = true}, 2) end,
             "mse", y, {})
end)

T.test("finite differences: masked, weighted sparse crossentropy through GRU", function()
  local lab = {}
  for b = 1, N do lab[b] = {} for t = 1, S do lab[b][t] = (b + 2 * t) % 3 end end
  grad_check(function() return model(ln.layers.GRU{3, return_sequences = true}, 3, "softmax") end,
             "sparse_categorical_crossentropy", ln.tensor(lab), {sw = ln.tensor{1, 0.5, 2, 1}})
end)

T.test("training ignores targets at padded steps", function()
  -- two target sets that differ only at masked steps train to the same weights
  local y1 = ln.randn(N, S, 2)
  local y2 = y1:clone()
  for b = 1, N do for t = 1, S do
    if X[b][t] == 0 then y2[{b, t, 1}] = 100; y2[{b, t, 2}] = -50 end
  end end
  local ws = {}
  for i, y in ipairs{y1, y2} do
    local m = model(ln.layers.SimpleRNN{3, return_sequences = true}, 2)
    m:compile{loss = "mse", optimizer = "adam"}
    m:fit(x, y, {epochs = 3, batch_size = 2, verbose = 0, shuffle = false})
    ws[i] = m:get_weights()
  end
  for i = 1, #ws[1] do T.ok((ws[1][i] - ws[2][i]):abs():max() == 0, "weight " .. i .. " differs") end
end)

T.test("a batch whose steps are all masked has loss 0", function()
  local m = model(ln.layers.LSTM{3, return_sequences = true}, 2)
  m:compile{loss = "mse", optimizer = "sgd"}
  local v = m:evaluate(ln.zeros{2, S}, ln.randn(2, S, 2), {batch_size = 2, verbose = 0})
  T.ok(v == 0, "loss " .. tostring(v))
end)

T.test("targets that do not fit the mask are refused by name", function()
  local m = model(ln.layers.LSTM{3, return_sequences = true}, 2)
  m:compile{loss = "mse", optimizer = "sgd"}
  T.raises_as(function() m:evaluate(x, ln.randn(N, S - 1, 2), {verbose = 0}) end, {"carries a mask", "(4, 5, 2)"})
end)

T.test("masked training is bitwise the same with 1 and 2 threads", function()
  -- large enough for the kernels' parallel paths: 64 sequences of 30 steps
  local xs, n, s = {}, 64, 30
  for b = 1, n do
    xs[b] = {}
    for t = 1, s do xs[b][t] = t <= (b * 7) % s + 1 and (b * 3 + t) % (V - 1) + 1 or 0 end
  end
  local xx = ln.tensor(xs)
  ln.random.seed(6)
  local y = ln.randn(n, s, 4)
  local ws = {}
  for i, threads in ipairs{1, 2} do
    ln.set_num_threads(threads)
    ln.random.seed(12)
    local m = ln.Sequential{ln.layers.Embedding{V, 8, mask_zero = true, input_shape = {s}},
                            ln.layers.LSTM{48, return_sequences = true},
                            ln.layers.GRU{40, return_sequences = true}, ln.layers.Dense{4}}
    m:compile{loss = "mse", optimizer = "adam", metrics = {"mae"}}
    m:fit(xx, y, {epochs = 2, batch_size = 16, verbose = 0, shuffle = false})
    ws[i] = m:get_weights()
  end
  ln.set_num_threads(2)
  for i = 1, #ws[1] do T.ok(ws[1][i]:equal(ws[2][i]), "weight " .. i .. " differs for 1 and 2 threads") end
end)

os.exit(T.summary("masked_loss"))
