-- Experiment 9: a character-level language model (Hands-On ML chapter 16's
-- char-RNN, on a text every Debian system has): Embedding -> GRU -> Dense
-- softmax predicts the next character from the 40 before it, then text is
-- sampled at a few temperatures.
--
-- Text: /usr/share/common-licenses/GPL-3 (Debian package base-files), the
-- GNU GPL version 3, (C) 2007 Free Software Foundation, Inc.; "Everyone is
-- permitted to copy and distribute verbatim copies of this license
-- document, but changing it is not allowed." It is only read here (no
-- modified copy is distributed); the samples printed are the model's.
--
--   lunet scripts/09_char_rnn.lua [outdir] [epochs=N] [text=PATH]
--
-- Windows of 40 characters every 3 characters, sparse categorical
-- cross-entropy, Adam, batch 128, 10 epochs (smoke: 1 epoch on the first
-- 3,000 characters). Writes char_rnn_samples.txt and char_rnn_history.csv.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp9", "character-level GRU language model (ch. 16)", {
  "Embedding(vocab, 16) -> GRU(128) -> Dense(vocab, softmax) on the GPL-3 text,",
  "windows of 40 characters; samples at temperatures 0.2, 0.5, 1.0",
})

local EPOCHS, TEXT = 10, "/usr/share/common-licenses/GPL-3"
for i = 2, #arg do
  local e, t = arg[i]:match("^epochs=(%d+)$"), arg[i]:match("^text=(.+)$")
  if not (e or t) then
    error(string.format("unknown argument '%s' (use epochs=N, text=PATH)", arg[i]), 0)
  end
  EPOCHS, TEXT = tonumber(e) or EPOCHS, t or TEXT
end
EPOCHS = common.epochs(EPOCHS)
local WINDOW, STRIDE = 40, 3

local f = io.open(TEXT, "rb")
if not f then error("cannot read the text " .. TEXT .. " (Debian package base-files)", 0) end
local text = f:read("a"):gsub("%s+", " ")
f:close()
if common.smoke then text = text:sub(1, 3000) end

-- the vocabulary: the characters present, sorted; ids 0-based
local chars, id = {}, {}
for c in text:gmatch(".") do
  if not id[c] then id[c] = true; chars[#chars + 1] = c end
end
table.sort(chars)
for i, c in ipairs(chars) do id[c] = i - 1 end
local V = #chars
print(string.format("text: %d characters, %d distinct", #text, V))

local n = (#text - WINDOW - 1) // STRIDE + 1
local X, Y = ln.zeros(n, WINDOW), ln.zeros(n)
local xv = X:view(-1)
for i = 0, n - 1 do
  local start = i * STRIDE
  for j = 1, WINDOW do xv[i * WINDOW + j] = id[text:sub(start + j, start + j)] end
  Y[i + 1] = id[text:sub(start + WINDOW + 1, start + WINDOW + 1)]
end

local model = ln.Sequential{
  ln.layers.Embedding{V, 16, input_shape = {WINDOW}},
  ln.layers.GRU{128},
  ln.layers.Dense{V, activation = "softmax"},
}
model:compile{loss = "sparse_categorical_crossentropy",
              optimizer = ln.optimizers.Adam{learning_rate = 0.005}, metrics = {"accuracy"}}
local h = model:fit(X, Y, {epochs = EPOCHS, batch_size = 128, verbose = 2, shuffle = true})

-- the next character drawn from p^(1/T), renormalised
local function sample(probs, temperature)
  local p, total = probs:view(-1), 0
  local w = {}
  for i = 1, #p do
    w[i] = math.exp(math.log(math.max(p[i], 1e-30)) / temperature)
    total = total + w[i]
  end
  local u, acc = ln.rand(1)[1] * total, 0
  for i = 1, #w do
    acc = acc + w[i]
    if u <= acc then return chars[i] end
  end
  return chars[#w]
end

local function complete(seed_text, count, temperature)
  local s = seed_text
  local x = ln.zeros(1, WINDOW)
  for _ = 1, count do
    local tail = s:sub(-WINDOW)
    for j = 1, WINDOW do x[1][j] = id[tail:sub(j, j)] or 0 end
    s = s .. sample(model:predict(x, {verbose = 0}), temperature)
  end
  return s
end

local seed_text = text:sub(1, WINDOW)
local out = {}
for _, t in ipairs({0.2, 0.5, 1.0}) do
  local s = complete(seed_text, common.smoke and 40 or 300, t)
  out[#out + 1] = string.format("== temperature %.1f\n%s\n", t, s)
  print(out[#out])
end
local sf = assert(io.open(run:path("char_rnn_samples.txt"), "w"))
sf:write(table.concat(out, "\n"))
sf:close()
local hf = assert(io.open(run:path("char_rnn_history.csv"), "w"))
hf:write("epoch,loss,accuracy\n")
for e = 1, #h.history.loss do
  hf:write(string.format("%d,%.6f,%.6f\n", e, h.history.loss[e], h.history.accuracy[e]))
end
hf:close()
local last = #h.history.loss
run:result({{"loss", h.history.loss[last]}, {"accuracy", h.history.accuracy[last]},
            {"vocabulary", V}})
