-- Tests for lunet.plot (PNG figures through gnuplot's pngcairo terminal).
-- Runs under stock lua5.4 or the `lunet` interpreter, from any directory.
-- Set LUNET_PLOT_OUT=/some/dir to keep the PNGs there for a look.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/core/lua/?.lua;" .. root .. "/core/lua/?/init.lua;"
  .. package.path

local plot = require "lunet.plot"

local T = dofile(here .. "/testlib.lua")
local test = T.test

-- Record every temporary file the module asks for, to check their removal.
local tmpnames = {}
local real_tmpname = os.tmpname
os.tmpname = function()
  local n = real_tmpname()
  tmpnames[#tmpnames + 1] = n
  return n
end

local keep = os.getenv("LUNET_PLOT_OUT")
local dir
if keep and keep ~= "" then
  dir = keep
  os.execute("mkdir -p '" .. dir .. "'")
else
  dir = real_tmpname()
  os.remove(dir)
  assert(os.execute("mkdir '" .. dir .. "'"), "cannot make a temp dir")
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Checks a PNG: signature, IHDR size, a sensible byte count.
local function check_png(path, w, h)
  local data = read_file(path)
  assert(data, path .. " was not written")
  assert(data:sub(1, 8) == "\137PNG\r\n\26\n", path .. ": no PNG signature")
  assert(data:sub(13, 16) == "IHDR", path .. ": first chunk is not IHDR")
  local pw, ph = string.unpack(">I4I4", data, 17)
  assert(pw == w and ph == h, string.format("%s is %dx%d, want %dx%d", path,
                                            pw, ph, w, h))
  assert(#data > 5000, path .. " is suspiciously small (" .. #data .. " bytes)")
  return data
end

local function check_no_temp_left()
  for _, n in ipairs(tmpnames) do
    assert(io.open(n, "rb") == nil, "temporary file left behind: " .. n)
  end
end

local function sigmoid(z) return 1 / (1 + math.exp(-z)) end

-- A Fashion-MNIST-like 30 epoch history.
local function fake_history()
  local h = {loss = {}, accuracy = {}, val_loss = {}, val_accuracy = {}}
  for e = 1, 30 do
    h.loss[e] = 0.72 * math.exp(-(e - 1) / 12) + 0.23
    h.accuracy[e] = 1 - h.loss[e] * 0.95 + 0.02
    h.val_loss[e] = 0.52 * math.exp(-(e - 1) / 10) + 0.30 + 0.01 * math.sin(3 * e)
    h.val_accuracy[e] = 1 - h.val_loss[e] * 0.8 - 0.02
  end
  return h
end

test("style strings", function()
  local st = plot.parse_style("b-")
  assert(st.color == "#0000ff" and st.line == "-" and st.marker == nil)
  st = plot.parse_style("r--")
  assert(st.color == "#ff0000" and st.line == "--")
  st = plot.parse_style("k:")
  assert(st.color == "#000000" and st.line == ":")
  st = plot.parse_style("g-.")
  assert(st.color == "#008000" and st.line == "-.")
  st = plot.parse_style("b.")
  assert(st.color == "#0000ff" and st.marker == "." and st.line == nil)
  st = plot.parse_style("ro-")
  assert(st.color == "#ff0000" and st.marker == "o" and st.line == "-")
  st = plot.parse_style("C1--")
  assert(st.color == "#ff7f0e" and st.line == "--")
  for _, c in ipairs{"b", "g", "r", "c", "m", "y", "k"} do
    assert(plot.parse_style(c).color, c)
  end
  local ok, err = pcall(plot.parse_style, "bq")
  assert(not ok and err:find("lunet.plot: unknown style character", 1, true), err)
end)

test("gnuplot string escaping", function()
  assert(plot._gpstr('a "b" \\c') == '"a \\"b\\" \\\\c"')
  assert(plot._gpstr("two\nlines") == '"two\\nlines"')
end)

test("history plot (pandas-like)", function()
  local f = dir .. "/history.png"
  local r = plot.history({history = fake_history()}, f)
  assert(r == f)
  check_png(f, 800, 500)
  check_no_temp_left()
end)

test("history: raw table, keys, options, awkward names", function()
  local h = fake_history()
  h.keys = {"val_loss", "loss"}
  local f = dir .. "/history_keys.png"
  plot.history(h, f, {title = 'He said "hi" \\ @x $y', ylim = false,
                      width = 640, height = 400})
  check_png(f, 640, 400)
  -- a History-like object whose `keys` is a method
  local H = {history = fake_history()}
  function H:keys() return {"loss", "val_loss", "accuracy"} end
  f = dir .. "/history_obj.png"
  plot.history(H, {filename = f, figsize = {6, 4}})
  check_png(f, 600, 400)
  check_no_temp_left()
end)

test("sigmoid saturation figure (HOML fig. 11-1)", function()
  local f = dir .. "/sigmoid.png"
  plot.lines{
    filename = f, width = 800, height = 500,
    title = "Sigmoid activation function", title_size = 14, grid = true,
    xrange = {-5, 5}, yrange = {-0.2, 1.2}, legend = false,
    hlines = {{y = 0, style = "k-"}, {y = 1, style = "k--"}},
    vlines = {{x = 0, style = "k-"}},
    series = {
      {x = {-5, 5}, y = {-3 / 4, 7 / 4}, style = "g--"},
      {fn = sigmoid, range = {-5, 5}, samples = 200, style = "b-", width = 2},
      {x = {-2, 2}, y = {0, 1}, style = "r:", width = 1},
    },
    annotations = {
      {text = "Saturating", at = {3.5, 0.7}, arrow_to = {5, 1}, center = true,
       size = 14},
      {text = "Saturating", at = {-3.5, 0.3}, arrow_to = {-5, 0}, center = true,
       size = 14},
      {text = "Linear", at = {2, 0.2}, arrow_to = {0, 0.5}, center = true,
       size = 14},
    },
  }
  check_png(f, 800, 500)
  check_no_temp_left()
end)

test("lines: markers, labels, NaN gaps, explicit tics", function()
  local xs, ys, zs = {}, {}, {}
  for i = 1, 40 do
    xs[i] = i / 4
    ys[i] = math.sin(xs[i])
    zs[i] = (i == 20) and (0 / 0) or math.cos(xs[i])
  end
  local f = dir .. "/lines.png"
  plot.lines{
    filename = f, figsize = {7, 4}, xlabel = "x (rad)", ylabel = 'y "value"',
    legend = "lower left", grid = true, xtics = 2,
    ytics = {{-1, "min"}, {0, "zero"}, {1, "max"}},
    series = {
      {x = xs, y = ys, style = "b.", label = "sin"},
      {x = xs, y = zs, style = "ro-", label = "cos (gap)", markersize = 4},
      {y = {0.5, 0.25, 0.1}, label = "cycle color", dash = true},
    },
  }
  check_png(f, 700, 400)
end)

test("four panels (optimizer comparison)", function()
  local names = {"SGD", "Momentum", "Nesterov", "RMSprop", "Adam"}
  local panels = {}
  for p, what in ipairs{"accuracy", "val_accuracy", "loss", "val_loss"} do
    local series = {}
    for i, o in ipairs(names) do
      local y = {}
      for e = 1, 10 do
        local l = 0.9 * math.exp(-(e - 1) / (2 + i)) + 0.25 + 0.02 * i
        y[e] = what:find("acc") and (1 - l * 0.9) or l
      end
      series[i] = {x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, y = y, label = o}
    end
    panels[p] = {title = what, xlabel = "epoch",
                 ylabel = what:find("acc") and "accuracy" or "loss",
                 series = series}
  end
  local f = dir .. "/optimizers.png"
  plot.panels{filename = f, width = 1200, height = 800, rows = 2, cols = 2,
              grid = true, title = "Optimizers", panels = panels}
  check_png(f, 1200, 800)
  check_no_temp_left()
end)

test("image grid (convolution filters)", function()
  local images = {}
  for i = 1, 12 do
    local img = {}
    for r = 1, 5 do
      img[r] = {}
      for c = 1, 7 do img[r][c] = math.sin(i * r * r + 3 * c * c) end
    end
    images[i] = img
  end
  local f = dir .. "/images.png"
  plot.images{filename = f, images = images, cols = 6, title = "filters", cell = 120}
  check_png(f, 720, 280)
  check_no_temp_left()
  local ok, err = pcall(plot.images, {filename = f, images = {}})
  assert(not ok and err:find("at least one image", 1, true), err)
  ok, err = pcall(plot.images, {filename = f, images = {{{1, 2}, {3}}}})
  assert(not ok and err:find("not rectangular", 1, true), err)
end)

test("missing gnuplot gives a clear error", function()
  local saved = plot.gnuplot
  plot.gnuplot = "/nonexistent/gnuplot"
  local ok, err = pcall(plot.lines, {filename = dir .. "/never.png",
                                     series = {{y = {1, 2, 3}}}})
  plot.gnuplot = saved
  assert(not ok, "no error raised")
  -- the message points at the call (this file), then says what is wrong
  assert(err:match("^[^\n]-test_plot%.lua:%d+: lunet%.plot: gnuplot not found %(install the " ..
                   "Debian package gnuplot%-nox%)$"), "unexpected error: " .. tostring(err))
  assert(io.open(dir .. "/never.png") == nil)
  plot.gnuplot = "no-such-gnuplot-binary"
  ok, err = pcall(plot.history, fake_history(), dir .. "/never.png")
  plot.gnuplot = saved
  assert(not ok and err:find("gnuplot not found", 1, true), tostring(err))
end)

test("gnuplot failure is reported and temp files removed", function()
  local saved = plot.gnuplot
  plot.gnuplot = "false" -- runs, fails, draws nothing
  local ok, err = pcall(plot.lines, {filename = dir .. "/x.png", series = {{y = {1, 2, 3}}}})
  plot.gnuplot = saved
  assert(not ok, "no error raised")
  assert(err:find("^[^\n]-test_plot%.lua:%d+: lunet%.plot: gnuplot failed"), err)
  check_no_temp_left()
end)

test("a target the save rule refuses is reported and temp files removed", function()
  local ok, err = pcall(plot.lines, {filename = dir .. "/no/such/dir/x.png",
                                     series = {{y = {1, 2, 3}}}})
  assert(not ok, "no error raised")
  assert(err:find("^[^\n]-test_plot%.lua:%d+: lunet%.plot: [^\n]*/no/such/dir/x%.png: " ..
                  "the folder '[^']*' does not exist"), err)
  check_no_temp_left()
end)

test("bad arguments", function()
  local ok, err = pcall(plot.lines, {series = {{y = {1}}}})
  assert(not ok and err:find("filename", 1, true), err)
  ok, err = pcall(plot.lines, {filename = dir .. "/x.png",
                               series = {{x = {1, 2}, y = {1, 2, 3}}}})
  assert(not ok and err:find("x has 2 values, y has 3", 1, true), err)
  ok, err = pcall(plot.history, {}, dir .. "/x.png")
  assert(not ok and err:find("no series", 1, true), err)
  ok, err = pcall(plot.panels, {filename = dir .. "/x.png", rows = 1, cols = 1,
                                panels = {{}, {}}})
  assert(not ok and err:find("do not fit", 1, true), err)
end)

if not keep or keep == "" then os.execute("rm -rf '" .. dir .. "'") end
os.tmpname = real_tmpname

T.summary("plot")
