-- Masks through functional models (issue 19, Keras 2): ln.Input ->
-- Embedding{mask_zero} / Masking -> RNNs carry the mask along the graph as
-- Keras propagates it; merge layers combine masks (Add & co: a step is kept
-- when every masked input keeps it; Concatenate on the last axis likewise,
-- on the time axis the masks are joined); a model output's mask makes its
-- loss and metrics skip padded steps. Run as `lunet test_masks_functional.lua`.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
function T.ok(c, what) if not c then error(what or "check failed", 2) end end
local function maxdiff(a, b) return (a - b):abs():max() end

local N, S, V = 4, 6, 9
local X = {{1, 2, 3, 0, 0, 0}, {4, 5, 6, 7, 1, 2}, {0, 0, 3, 4, 5, 0}, {2, 0, 0, 0, 0, 0}}
local x = ln.tensor(X)

local function seq_and_functional(make_rnn)
  ln.random.seed(21)
  local s = ln.Sequential{ln.layers.Embedding{V, 3, mask_zero = true, input_shape = {S}},
                          make_rnn(), ln.layers.Dense{2}}
  local inp = ln.Input{shape = {S}}
  local h = ln.layers.Embedding{V, 3, mask_zero = true}(inp)
  h = make_rnn()(h)
  local f = ln.Model{inputs = inp, outputs = ln.layers.Dense{2}(h)}
  f:set_weights(s:get_weights())
  return s, f
end

for _, c in ipairs{{"LSTM", function() return ln.layers.LSTM{4, return_sequences = true} end},
                   {"GRU", function() return ln.layers.GRU{4, return_sequences = true} end},
                   {"Bidirectional(SimpleRNN)", function()
                      return ln.layers.Bidirectional{ln.layers.SimpleRNN{3, return_sequences = true}} end}} do
  T.test("functional Input -> Embedding(mask_zero) -> " .. c[1] .. " = Sequential (predict, loss, one step)", function()
    local s, f = seq_and_functional(c[2])
    T.ok(maxdiff(s:predict(x), f:predict(x)) == 0, "predictions differ")
    ln.random.seed(5)
    local y = ln.randn(N, S, 2)
    for _, m in ipairs{s, f} do m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.3}} end
    local ls = s:evaluate(x, y, {batch_size = N, verbose = 0})
    local lf = f:evaluate(x, y, {batch_size = N, verbose = 0})
    T.ok(ls == lf, ("losses %.9g and %.9g"):format(ls, lf))
    s:fit(x, y, {epochs = 1, batch_size = N, verbose = 0, shuffle = false})
    f:fit(x, y, {epochs = 1, batch_size = N, verbose = 0, shuffle = false})
    local ws, wf = s:get_weights(), f:get_weights()
    for i = 1, #ws do T.ok(maxdiff(ws[i], wf[i]) == 0, "weight " .. i .. " differs") end
  end)
end

T.test("functional: a padded sequence = the true-length one through Masking -> LSTM", function()
  ln.random.seed(8)
  local function mk(n)
    local inp = ln.Input{shape = {n, 2}}
    local h = ln.layers.Masking{mask_value = 0}(inp)
    return ln.Model{inputs = inp, outputs = ln.layers.LSTM{3}(h)}
  end
  local a, b = mk(5), mk(3)
  b:set_weights(a:get_weights())
  local xt = ln.randn(1, 3, 2)
  local xp = xt:cat(ln.zeros{1, 2, 2}, 2)
  T.ok(maxdiff(a:predict(xp), b:predict(xt)) < 1e-6)
  -- without Masking the padding changes the result (the check can fail)
  local inp = ln.Input{shape = {5, 2}}
  local c = ln.Model{inputs = inp, outputs = ln.layers.LSTM{3}(inp)}
  c:set_weights(a:get_weights())
  T.ok(maxdiff(c:predict(xp), b:predict(xt)) > 1e-4)
end)

-- sum m L / sum m with m the given keep(b, t)
local function masked_mse(out, y, keep)
  local num, den = 0, 0
  for b = 1, N do for t = 1, S do
    if keep(b, t) then
      local s = 0
      for u = 1, out:size(3) do s = s + (out[{b, t, u}] - y[{b, t, u}]) ^ 2 end
      num, den = num + s / out:size(3), den + 1
    end
  end end
  return num / den
end

T.test("Add of two masked branches: the loss keeps steps both masks keep", function()
  ln.random.seed(12)
  local a, b = ln.Input{shape = {S}}, ln.Input{shape = {S}}
  local ha = ln.layers.LSTM{3, return_sequences = true}(ln.layers.Embedding{V, 3, mask_zero = true}(a))
  local hb = ln.layers.GRU{3, return_sequences = true}(ln.layers.Embedding{V, 3, mask_zero = true}(b))
  local m = ln.Model{inputs = {a, b}, outputs = ln.layers.Dense{2}(ln.layers.Add{}({ha, hb}))}
  m:compile{loss = "mse", optimizer = "sgd"}
  local X2 = {{1, 1, 1, 1, 0, 0}, {1, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}, {0, 1, 1, 0, 0, 0}}
  local x2 = ln.tensor(X2)
  local y = ln.randn(N, S, 2)
  local got = m:evaluate({x, x2}, y, {batch_size = N, verbose = 0})
  local out = m:predict({x, x2})
  local want = masked_mse(out, y, function(b, t) return X[b][t] ~= 0 and X2[b][t] ~= 0 end)
  T.ok(math.abs(got - want) <= 1e-6 * want, ("loss %.9g, hand %.9g"):format(got, want))
  local one = masked_mse(out, y, function(b, t) return X[b][t] ~= 0 end)
  T.ok(math.abs(one - want) > 1e-4, "the second mask changes nothing: weak data")
end)

T.test("Concatenate (last axis) of a masked and an unmasked branch keeps the first mask", function()
  ln.random.seed(13)
  local a, b = ln.Input{shape = {S}}, ln.Input{shape = {S, 2}}
  local ha = ln.layers.SimpleRNN{3, return_sequences = true}(ln.layers.Embedding{V, 3, mask_zero = true}(a))
  local m = ln.Model{inputs = {a, b}, outputs = ln.layers.Dense{2}(ln.layers.Concatenate{}({ha, b}))}
  m:compile{loss = "mse", optimizer = "sgd"}
  local xb, y = ln.randn(N, S, 2), ln.randn(N, S, 2)
  local got = m:evaluate({x, xb}, y, {batch_size = N, verbose = 0})
  local want = masked_mse(m:predict({x, xb}), y, function(bb, t) return X[bb][t] ~= 0 end)
  T.ok(math.abs(got - want) <= 1e-6 * want, ("loss %.9g, hand %.9g"):format(got, want))
end)

T.test("Concatenate on the time axis joins the masks: the LSTM skips both paddings", function()
  ln.random.seed(14)
  local emb = ln.layers.Embedding{V, 3, mask_zero = true}
  local lstm = ln.layers.LSTM{4}
  local a, b = ln.Input{shape = {3}}, ln.Input{shape = {3}}
  local joined = ln.layers.Concatenate{axis = 1}({emb(a), emb(b)})
  local m = ln.Model{inputs = {a, b}, outputs = lstm(joined)}
  local inp = ln.Input{shape = {3}}
  local ref = ln.Model{inputs = inp, outputs = ln.layers.LSTM{4}(ln.layers.Embedding{V, 3}(inp))}
  ref:set_weights(m:get_weights())
  local ya = m:predict({ln.tensor{{1, 2, 0}, {5, 0, 0}}, ln.tensor{{3, 0, 0}, {6, 7, 8}}})
  local yr = ref:predict(ln.tensor{{1, 2, 3}, {5, 6, 7}})
  T.ok(maxdiff(ya:narrow(1, 1, 1), yr:narrow(1, 1, 1)) < 1e-6, "row 1 differs")
  -- row 2 keeps 4 steps: compare with a 4-step reference
  local inp4 = ln.Input{shape = {4}}
  local ref4 = ln.Model{inputs = inp4, outputs = ln.layers.LSTM{4}(ln.layers.Embedding{V, 3}(inp4))}
  ref4:set_weights(m:get_weights())
  local y4 = ref4:predict(ln.tensor{{5, 6, 7, 8}})
  T.ok(maxdiff(ya:narrow(1, 2, 1), y4) < 1e-6, "row 2 differs")
end)

T.test("return_state: the state outputs carry no mask (Keras), the sequence output does", function()
  ln.random.seed(15)
  local inp = ln.Input{shape = {S}}
  local seq, h = table.unpack(ln.layers.GRU{3, return_sequences = true, return_state = true}(
    ln.layers.Embedding{V, 3, mask_zero = true}(inp)))
  local m = ln.Model{inputs = inp, outputs = {ln.layers.Dense{2}(seq), h}}
  m:compile{loss = {"mse", "mse"}, optimizer = "sgd"}
  local y1, y2 = ln.randn(N, S, 2), ln.randn(N, 3)
  local r = {m:evaluate(x, {y1, y2}, {batch_size = N, verbose = 0})}
  if type(r[1]) == "table" then r = r[1] end
  local p = m:predict(x)
  local w1 = masked_mse(p[1], y1, function(b, t) return X[b][t] ~= 0 end)
  local w2 = ((p[2] - y2) ^ 2):mean()
  T.ok(math.abs(r[2] - w1) <= 1e-6 * w1, ("output 1 loss %.9g, hand %.9g"):format(r[2], w1))
  T.ok(math.abs(r[3] - w2) <= 1e-6 * w2, ("output 2 loss %.9g, hand %.9g"):format(r[3], w2))
  T.ok(math.abs(r[1] - (w1 + w2)) <= 1e-6 * (w1 + w2))
end)

os.exit(T.summary("masks_functional"))
