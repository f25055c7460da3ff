-- Masks (issue 19, Keras 2 semantics): Masking and Embedding(mask_zero)
-- make RNNs skip padded steps. A padded sequence must give the same output
-- and the same weight gradients (one SGD step) as the true-length one.
-- Run as `lunet test_masking.lua` (cwd tests/lua).
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local ln = require "lunet"
function T.ok(c, what) if not c then error(what or "check failed", 2) end end

local L, P, F = 3, 5, 2 -- true length, padded length, features

-- Masking -> rnn on (P, F) and the same rnn on (L, F), same weights.
local function pair(make)
  ln.random.seed(7)
  local a = ln.Sequential{ln.layers.Masking{mask_value = 0, input_shape = {P, F}}, make()}
  local b = ln.Sequential{ln.layers.Masking{mask_value = 0, input_shape = {L, F}}, make()}
  b:set_weights(a:get_weights())
  return a, b
end

local function data(pre)
  local xt = ln.randn(1, L, F)
  local pad = ln.zeros{1, P - L, F}
  return xt, pre and pad:cat(xt, 2) or xt:cat(pad, 2)
end

local function maxdiff(a, b) return (a - b):abs():max() end

local cases = {
  {"SimpleRNN", function() return ln.layers.SimpleRNN{4} end},
  {"LSTM", function() return ln.layers.LSTM{4} end},
  {"GRU", function() return ln.layers.GRU{4} end},
  {"GRU reset_after=false", function() return ln.layers.GRU{4, reset_after = false} end},
  {"LSTM go_backwards", function() return ln.layers.LSTM{4, go_backwards = true} end},
  {"Bidirectional(LSTM)", function() return ln.layers.Bidirectional{ln.layers.LSTM{4}} end},
}

for _, c in ipairs(cases) do
  for _, pre in ipairs{false, true} do
    T.test(c[1] .. (pre and " pre-padded" or " post-padded") ..
           ": padded = true length (output and one SGD step)", function()
      local a, b = pair(c[2])
      local xt, xp = data(pre)
      local ya, yb = a:predict(xp), b:predict(xt)
      T.ok(maxdiff(ya, yb) < 1e-5, "outputs differ by " .. maxdiff(ya, yb))
      local y = ln.randn(1, ya:size(2))
      for _, m in ipairs{a, b} do m:compile{loss = "mse", optimizer = ln.optimizers.SGD{learning_rate = 0.5}} end
      a:fit(xp, y, {epochs = 1, batch_size = 1, verbose = 0, shuffle = false})
      b:fit(xt, y, {epochs = 1, batch_size = 1, verbose = 0, shuffle = false})
      local wa, wb = a:get_weights(), b:get_weights()
      for i = 1, #wa do
        T.ok(maxdiff(wa[i], wb[i]) < 1e-5, "weight " .. i .. " differs by " .. maxdiff(wa[i], wb[i]))
      end
    end)
  end
end

T.test("without Masking the padded steps change the result (the check can fail)", function()
  ln.random.seed(7)
  local a = ln.Sequential{ln.layers.LSTM{4, input_shape = {P, F}}}
  local b = ln.Sequential{ln.layers.LSTM{4, input_shape = {L, F}}}
  b:set_weights(a:get_weights())
  local xt, xp = data(false)
  T.ok(maxdiff(a:predict(xp), b:predict(xt)) > 1e-4)
end)

T.test("Embedding mask_zero: index 0 is padding for the LSTM", function()
  ln.random.seed(3)
  local function mk(n)
    return ln.Sequential{ln.layers.Embedding{10, 3, mask_zero = true, input_shape = {n}},
                         ln.layers.LSTM{4}}
  end
  local a, b = mk(5), mk(3)
  b:set_weights(a:get_weights())
  local ya = a:predict(ln.tensor({{4, 7, 2, 0, 0}}))
  local yb = b:predict(ln.tensor({{4, 7, 2}}))
  T.ok(maxdiff(ya, yb) < 1e-5, "differ by " .. maxdiff(ya, yb))
end)

T.test("return_sequences: masked steps repeat the last output; the mask reaches the next RNN", function()
  ln.random.seed(5)
  local m = ln.Sequential{ln.layers.Masking{input_shape = {P, F}},
                          ln.layers.SimpleRNN{4, return_sequences = true}}
  local _, xp = data(false)
  local y = m:predict(xp)
  for t = L + 1, P do T.ok(maxdiff(y:narrow(2, t, 1), y:narrow(2, L, 1)) == 0) end
  local m2 = ln.Sequential{ln.layers.Masking{input_shape = {P, F}},
                           ln.layers.SimpleRNN{4, return_sequences = true}, ln.layers.GRU{3}}
  local m3 = ln.Sequential{ln.layers.Masking{input_shape = {L, F}},
                           ln.layers.SimpleRNN{4, return_sequences = true}, ln.layers.GRU{3}}
  m3:set_weights(m2:get_weights())
  local xt, xp2 = data(false)
  T.ok(maxdiff(m2:predict(xp2), m3:predict(xt)) < 1e-5)
end)

T.test("Bidirectional return_sequences gives zeros at masked steps (tf.keras)", function()
  ln.random.seed(5)
  local m = ln.Sequential{ln.layers.Masking{input_shape = {P, F}},
                          ln.layers.Bidirectional{ln.layers.GRU{2, return_sequences = true}}}
  local _, xp = data(false)
  local y = m:predict(xp)
  T.ok(y:narrow(2, L + 1, P - L):abs():max() == 0)
  T.ok(y:narrow(2, 1, L):abs():max() > 0)
end)

T.test("Masking refuses a NaN or inf mask_value", function()
  T.raises_as(function() ln.layers.Masking{mask_value = 0 / 0} end, {"mask_value", "finite"})
  T.raises_as(function() ln.layers.Masking{mask_value = math.huge} end, {"mask_value"})
end)

T.test("Masking round-trips through save/load", function()
  ln.random.seed(9)
  local m = ln.Sequential{ln.layers.Masking{mask_value = -1, input_shape = {P, F}}, ln.layers.LSTM{3}}
  local path = os.tmpname() .. ".h5"
  m:save(path)
  local m2 = ln.models.load_model(path)
  os.remove(path)
  local x = ln.randn(2, P, F)
  T.ok(maxdiff(m:predict(x), m2:predict(x)) == 0)
end)

T.test("a mask counts for its model run only: a later eager layer call has none", function()
  ln.random.seed(1)
  local lstm = ln.layers.LSTM{3}
  local m = ln.Sequential{ln.layers.Masking{input_shape = {4, 2}}, lstm}
  m:predict(ln.randn(2, 2, 2):cat(ln.zeros{2, 2, 2}, 2))
  local x3 = ln.randn(3, 4, 2) -- another batch size: a stale mask would be refused
  local plain = ln.Sequential{ln.layers.LSTM{3, input_shape = {4, 2}}}
  plain:set_weights(m:get_weights())
  T.ok(maxdiff(lstm(x3), plain:predict(x3)) == 0)
  local x2 = ln.randn(2, 4, 2) -- the same batch size: a stale mask would apply
  T.ok(maxdiff(lstm(x2), plain:predict(x2)) == 0)
end)

os.exit(T.summary("masking"))
