-- Experiment 0 of the tutorial (Hands-On ML 2nd ed., chapter 11): the
-- sigmoid saturation figure -- the logistic function on [-5, 5], the lines
-- y = 0 and y = 1, the vertical axis, the dashed tangent at 0 (slope 1/4)
-- and arrows showing where it saturates and where it is linear.
--
--   lunet scripts/00_sigmoid_saturation.lua [outdir]
-- writes <outdir>/sigmoid_saturation_plot.png.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local ln = require "lunet"
local common = require "lib.common"

local run = common.start("exp0", "sigmoid saturation plot", {
  "notebook: I. vanishing/exploding gradients, plt.plot(z, logit(z)) with",
  "annotations 'Saturating' / 'Linear'; saved as sigmoid_saturation_plot.png",
})

-- the logistic function, as the notebook's logit(z)
local function logit(z)
  return 1 / (1 + math.exp(-z))
end

-- z = np.linspace(-5, 5, 200)
local z, s = {}, {}
for i = 0, 199 do
  z[#z + 1] = -5 + 10 * i / 199
  s[#s + 1] = logit(z[#z])
end

local path = run:save_fig("sigmoid_saturation_plot", function(file)
  ln.plot.lines{
    filename = file, figsize = {6.4, 4.8},
    title = "Sigmoid activation function", title_size = 14,
    xrange = {-5, 5}, yrange = {-0.2, 1.2}, grid = true, legend = false,
    series = {
      {x = {-5, 5}, y = {0, 0}, style = "k-"},
      {x = {-5, 5}, y = {1, 1}, style = "k--"},
      {x = {0, 0}, y = {-0.2, 1.2}, style = "k-"},
      {x = {-5, 5}, y = {-3 / 4, 7 / 4}, style = "g--"},
      {x = z, y = s, style = "b-", width = 2},
    },
    annotations = {
      {text = "Saturating", at = {3.5, 0.7}, arrow_to = {5, 1}, align = "center",
       size = 14, shrink = 0.1},
      {text = "Saturating", at = {-3.5, 0.3}, arrow_to = {-5, 0}, align = "center",
       size = 14, shrink = 0.1},
      {text = "Linear", at = {2, 0.2}, arrow_to = {0, 0.5}, align = "center",
       size = 14, shrink = 0.1},
    },
  }
end)

-- the figure's facts, checked: saturation at the ends, slope 1/4 at 0
local tail = logit(5) - logit(4.9)
local mid = (logit(0.05) - logit(-0.05)) / 0.1
print(string.format("sigmoid(-5) = %.4f, sigmoid(5) = %.4f, slope at 0 = %.4f, " ..
                    "slope near 5 = %.4f", logit(-5), logit(5), mid, tail / 0.1))
local f = assert(io.open(path, "rb"))
local bytes = #f:read("a")
f:close()
run:result({{"png", "sigmoid_saturation_plot.png"}, {"bytes", bytes}})
