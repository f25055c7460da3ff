--- lunet.plot: matplotlib-looking PNG figures drawn by gnuplot (pngcairo).
--
-- The module writes a gnuplot script (data inline as $DATA << EOD blocks)
-- to a temporary file, runs `gnuplot FILE`, which draws into another
-- temporary file, removes them afterwards, and writes the image to its
-- filename as every lunet file is written (ln.io.write_file: symlinks
-- followed, devices and read-only files refused, atomic replacement). In a
-- notebook the figure also shows inline (lunet.display).
--
--   local plot = require "lunet.plot"
--   plot.history(history, "learning_curves.png")          -- like pandas
--   plot.lines{filename = "f.png", series = {{x = xs, y = ys, style = "b-"}}}
--   plot.panels{filename = "p.png", rows = 2, cols = 2, panels = {...}}
--   plot.images{filename = "f.png", images = {img1, ...}, cols = 8}
--
-- MODULE FIELDS (settable):
--   plot.gnuplot     the gnuplot executable, a name looked up in PATH or a
--                    path ("gnuplot")
--   plot.font        font family ("DejaVu Sans", matplotlib's default)
--   plot.dpi         pixels per inch used to turn matplotlib-like sizes in
--                    points (font sizes, line widths) into pixels (100)
--   plot.keep_script when true, the gnuplot script is kept and its path
--                    printed to stderr (debugging)
--
-- STYLE STRINGS (matplotlib's format strings): [color][marker][line]
--   colors  b g r c m y k w, or C0..C9 (the tab10 cycle)
--   lines   "-" solid, "--" dashed, ":" dotted, "-." dash-dot
--   markers . , o x + s ^ v < > * d D p h
--   A marker without a line style draws points only ("b."); nothing at all
--   means a solid line. Series without a color take the next cycle color.
local E = require "lunet.errors"
local core = require "lunet.core"
local plot = {}

plot.gnuplot = "gnuplot"
plot.font = "DejaVu Sans"
plot.dpi = 100
plot.keep_script = false

-- matplotlib's default property cycle (tab10), as pandas uses it
plot.cycle = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

local COLOR_CODES = {
  b = "#0000ff", g = "#008000", r = "#ff0000", c = "#00bfbf",
  m = "#bf00bf", y = "#bfbf00", k = "#000000", w = "#ffffff",
}

local NAMED_COLORS = {
  blue = "#0000ff", green = "#008000", red = "#ff0000", cyan = "#00ffff",
  magenta = "#ff00ff", yellow = "#ffff00", black = "#000000",
  white = "#ffffff", gray = "#808080", grey = "#808080", orange = "#ffa500",
  purple = "#800080", brown = "#a52a2a", pink = "#ffc0cb",
}

-- matplotlib dash patterns, in multiples of the line width
local DASHES = {
  ["--"] = {3.7, 1.6},
  [":"]  = {1, 1.65},
  ["-."] = {6.4, 1.6, 1, 1.6},
}

-- marker -> {gnuplot point type, size relative to matplotlib's 6 pt}
local MARKERS = {
  ["."] = {7, 0.5}, [","] = {7, 0.2}, o = {7, 1}, x = {2, 1}, ["+"] = {1, 1},
  s = {5, 0.9}, ["^"] = {9, 1}, v = {11, 1}, ["<"] = {9, 1}, [">"] = {11, 1},
  ["*"] = {3, 1.2}, d = {13, 0.8}, D = {13, 1}, p = {15, 1}, h = {15, 1},
}

local LEGEND_POS = {
  ["upper right"] = "right top", ["top right"] = "right top",
  ["upper left"] = "left top", ["top left"] = "left top",
  ["lower left"] = "left bottom", ["bottom left"] = "left bottom",
  ["lower right"] = "right bottom", ["bottom right"] = "right bottom",
  ["right"] = "right center", ["center right"] = "right center",
  ["center left"] = "left center", ["lower center"] = "center bottom",
  ["bottom center"] = "center bottom", ["upper center"] = "center top",
  ["top center"] = "center top", ["center"] = "center center",
}

-- matplotlib's order of candidates for loc="best"
local BEST_ORDER = {"upper right", "upper left", "lower left", "lower right",
                    "right", "center left", "center right", "lower center",
                    "upper center", "center"}

local sformat, concat = string.format, table.concat
local floor, huge = math.floor, math.huge

local function fail(msg, ...)
  E.raise("lunet.plot: " .. sformat(msg, ...))
end

--------------------------------------------------------------------------
-- small helpers

-- a gnuplot double-quoted string literal
local function gpstr(s)
  s = tostring(s)
  s = s:gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\r", ""):gsub("\n", "\\n")
    :gsub("\t", "\\t")
  return '"' .. s .. '"'
end
plot._gpstr = gpstr

local function shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function isfinite(v)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge
end

local function num(v)
  if not isfinite(v) then return "NaN" end
  if math.type(v) == "integer" then return tostring(v) end
  return sformat("%.17g", v)
end

-- Accept plain Lua arrays, or objects with :totable() / :tolist().
local function tolist(v, what)
  if v == nil then return nil end
  if type(v) == "table" and getmetatable(v) == nil then return v end
  for _, m in ipairs{"totable", "tolist", "table"} do
    local ok, f = pcall(function() return v[m] end)
    if ok and type(f) == "function" then
      local t = f(v)
      if type(t) == "table" then return t end
    end
  end
  if type(v) == "table" then return v end
  fail("%s must be a list of numbers (got %s)", what or "data", type(v))
end

local function color_of(c)
  if c == nil then return nil end
  if type(c) ~= "string" then fail("bad color %s", tostring(c)) end
  if c:match("^#%x%x%x%x%x%x$") then return c:lower() end
  if COLOR_CODES[c] then return COLOR_CODES[c] end
  local n = c:match("^C(%d)$")
  if n then return plot.cycle[tonumber(n) + 1] end
  if NAMED_COLORS[c:lower()] then return NAMED_COLORS[c:lower()] end
  fail("unknown color %q", c)
end

--- Parses a matplotlib format string ("b-", "r--", "k:", "g.", "C1o-").
-- Returns {color = "#rrggbb"|nil, line = "-"|"--"|":"|"-."|nil, marker = ch|nil}
function plot.parse_style(s)
  local st = {}
  if s == nil or s == "" then return st end
  local i, n = 1, #s
  while i <= n do
    local two = s:sub(i, i + 1)
    local c = s:sub(i, i)
    if two == "--" or two == "-." then
      st.line = two; i = i + 2
    elseif c == "C" and s:sub(i + 1, i + 1):match("%d") then
      st.color = plot.cycle[tonumber(s:sub(i + 1, i + 1)) + 1]; i = i + 2
    elseif c == "-" or c == ":" then
      st.line = c; i = i + 1
    elseif COLOR_CODES[c] then
      st.color = COLOR_CODES[c]; i = i + 1
    elseif MARKERS[c] then
      st.marker = c; i = i + 1
    else
      fail("unknown style character %q in %q", c, s)
    end
  end
  return st
end

--------------------------------------------------------------------------
-- gnuplot discovery and execution

local found_cache = {}

local function gnuplot_available(exe)
  if found_cache[exe] ~= nil then return found_cache[exe] end
  local cmd
  if exe:find("/", 1, true) then
    cmd = "[ -x " .. shquote(exe) .. " ] && [ ! -d " .. shquote(exe) .. " ]"
  else
    cmd = "command -v " .. shquote(exe) .. " >/dev/null 2>&1"
  end
  local ok = os.execute(cmd) == true
  found_cache[exe] = ok
  return ok
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a") or ""
  f:close()
  return s
end

-- Runs a gnuplot script that draws into the temporary file `png`, then
-- writes the image to `filename` under lunet's save-target rule (atomic,
-- through ln.io.write_file); raises a lunet.plot error on failure.
local function run_script(script, filename, png)
  local exe = plot.gnuplot or "gnuplot"
  if not gnuplot_available(exe) then
    os.remove(png)
    fail("gnuplot not found (install the Debian package gnuplot-nox)")
  end
  local gp = os.tmpname()
  local err = os.tmpname()
  local ok, res = pcall(function()
    local f, oerr = io.open(gp, "wb")
    if not f then E.raise(oerr) end
    f:write(script)
    f:close()
    local r1, _, code = os.execute(shquote(exe) .. " " .. shquote(gp) ..
                                   " >/dev/null 2>" .. shquote(err))
    return {ok = r1 == true, code = code, stderr = read_all(err)}
  end)
  if plot.keep_script then
    io.stderr:write("lunet.plot: script kept in ", gp, "\n")
  else
    os.remove(gp)
  end
  os.remove(err)
  local image = read_all(png)
  os.remove(png)
  if not ok then fail("%s", tostring(res)) end
  if not res.ok then
    local msg = res.stderr:gsub("%s+$", "")
    if msg == "" then msg = "(no message)" end
    fail("gnuplot failed (exit status %s) while drawing %s:\n%s",
         tostring(res.code), tostring(filename), msg)
  end
  if image == "" then fail("gnuplot did not draw %s", tostring(filename)) end
  core.io_write_file(filename, image, true, "lunet.plot")
  require("lunet.display").image(filename)   -- inline in a notebook
  return filename
end

--------------------------------------------------------------------------
-- figure building

local function pt2px(pt) return pt * plot.dpi / 72 end
-- gnuplot pngcairo: linewidth 1 is 1 px; font sizes are points at 96 dpi.
local function lw(pt) return pt2px(pt) end
local function fontsize(pt) return pt2px(pt) * 72 / 96 end
local function font(pt) return gpstr(sformat(",%.3g", fontsize(pt))) end

-- Dash pattern for gnuplot: pngcairo dash units are a quarter line width.
local function dash_spec(line)
  local d = DASHES[line]
  if not d then return "dt 1" end
  local parts = {}
  for i, v in ipairs(d) do parts[i] = sformat("%.3g", v * 4) end
  return "dt (" .. concat(parts, ",") .. ")"
end

local function line_style(opts, default_color, default_lw)
  local st = plot.parse_style(opts.style)
  local color = color_of(opts.color) or st.color or default_color
  local line = st.line
  if opts.dash == true and (line == nil or line == "-") then line = "--" end
  if opts.dash == false and line and line ~= "-" then line = "-" end
  if type(opts.linestyle) == "string" then line = opts.linestyle end
  local marker = opts.marker or st.marker
  if line == nil and marker == nil then line = "-" end
  return {color = color, line = line, marker = marker,
          width = opts.width or opts.linewidth or default_lw or 1.5,
          msize = opts.markersize}
end

-- " with ..." clause of a plot element
local function with_clause(ls)
  local parts = {}
  local mk = ls.marker and MARKERS[ls.marker]
  if mk and ls.line then
    parts[#parts + 1] = "with linespoints"
  elseif mk then
    parts[#parts + 1] = "with points"
  else
    parts[#parts + 1] = "with lines"
  end
  if ls.line then
    parts[#parts + 1] = sformat("lw %.3g %s", lw(ls.width), dash_spec(ls.line))
  end
  if mk then
    local ms = (ls.msize or 6) / 6
    parts[#parts + 1] = sformat("pt %d ps %.3g", mk[1], mk[2] * ms * plot.dpi / 100)
  end
  parts[#parts + 1] = "lc rgb " .. gpstr(ls.color)
  return concat(parts, " ")
end

-- Normalizes a series into {x = {...}, y = {...}, ...}.
local function series_data(s, i)
  local y = tolist(s.y or s[2] or s[1], "series " .. i .. " y")
  local x = tolist(s.x or (s[2] and s[1]) or nil, "series " .. i .. " x")
  if s.fn then
    if x == nil then
      local r = s.range or s.xrange
      if not r then fail("series %d: fn needs x or range", i) end
      local n = s.samples or 200
      x = {}
      for k = 1, n do x[k] = r[1] + (r[2] - r[1]) * (k - 1) / (n - 1) end
    end
    y = {}
    for k = 1, #x do y[k] = s.fn(x[k]) end
  end
  if y == nil then fail("series %d has no y data", i) end
  if x == nil then
    x = {}
    for k = 1, #y do x[k] = k - 1 end
  end
  if #x ~= #y then
    fail("series %d: x has %d values, y has %d", i, #x, #y)
  end
  return x, y
end

-- Data limits of an axes' series.
local function data_limits(series)
  local xmin, xmax, ymin, ymax = huge, -huge, huge, -huge
  for _, s in ipairs(series) do
    for k = 1, #s.x do
      local xv, yv = s.x[k], s.y[k]
      if isfinite(xv) and isfinite(yv) then
        if xv < xmin then xmin = xv end
        if xv > xmax then xmax = xv end
        if yv < ymin then ymin = yv end
        if yv > ymax then ymax = yv end
      end
    end
  end
  return xmin, xmax, ymin, ymax
end

-- matplotlib's loc="best": the candidate box covering the fewest data
-- points (line segments are sampled), first candidate on ties.
local function best_legend(series, xr, yr, nlabels, maxlen, ax_w, ax_h, fs)
  local xmin, xmax, ymin, ymax = data_limits(series)
  local x0 = (xr and xr[1]) or xmin
  local x1 = (xr and xr[2]) or xmax
  local y0 = (yr and yr[1]) or ymin
  local y1 = (yr and yr[2]) or ymax
  if not (isfinite(x0) and isfinite(x1) and isfinite(y0) and isfinite(y1))
      or x1 == x0 or y1 == y0 then
    return "upper right"
  end
  -- legend size as a fraction of the axes
  local fpx = pt2px(fs)
  local lw_frac = ((maxlen * 0.6 + 2 + 1.6) * fpx) / ax_w
  local lh_frac = ((nlabels * 1.35 + 1.0) * fpx) / ax_h
  local pad = 0.02
  local pts = {}
  for _, s in ipairs(series) do
    local px, py
    for k = 1, #s.x do
      local u = (s.x[k] - x0) / (x1 - x0)
      local v = (s.y[k] - y0) / (y1 - y0)
      if isfinite(u) and isfinite(v) then
        if px and s.has_line then
          for j = 1, 7 do
            local t = j / 8
            pts[#pts + 1] = {px + (u - px) * t, py + (v - py) * t}
          end
        end
        pts[#pts + 1] = {u, v}
        px, py = u, v
      else
        px, py = nil, nil
      end
    end
  end
  local best, best_bad = "upper right", huge
  for _, loc in ipairs(BEST_ORDER) do
    local bx, by
    if loc:find("left") then bx = pad
    elseif loc:find("right") then bx = 1 - pad - lw_frac
    else bx = 0.5 - lw_frac / 2 end
    if loc:find("upper") then by = 1 - pad - lh_frac
    elseif loc:find("lower") then by = pad
    else by = 0.5 - lh_frac / 2 end
    local bad = 0
    for _, p in ipairs(pts) do
      if p[1] >= bx and p[1] <= bx + lw_frac and p[2] >= by
          and p[2] <= by + lh_frac then
        bad = bad + 1
      end
    end
    if bad < best_bad then best, best_bad = loc, bad end
    if bad == 0 then break end
  end
  return best
end

local function range_spec(r)
  if r == nil or r == false then return "[*:*]" end
  local a = r[1] ~= nil and num(r[1]) or "*"
  local b = r[2] ~= nil and num(r[2]) or "*"
  return "[" .. a .. ":" .. b .. "]"
end

local nice_ticks

local function tics_spec(t)
  if t == nil then return nil end
  if t == false then return "unset %s" end
  if type(t) == "number" then return "set %s " .. num(t) end
  if type(t) == "table" then
    local parts = {}
    for i, v in ipairs(t) do
      if type(v) == "table" then
        parts[i] = gpstr(v[2]) .. " " .. num(v[1])
      else
        parts[i] = num(v)
      end
    end
    return "set %s (" .. concat(parts, ", ") .. ")"
  end
  fail("bad tics specification")
end

-- A tick label the way matplotlib's ScalarFormatter writes it: the same
-- number of decimals for every tick, and a real minus sign.
local function tick_label(v, decimals)
  local t = sformat("%." .. decimals .. "f", v)
  if t:match("^%-0%.?0*$") then t = t:sub(2) end        -- no "-0.0"
  return (t:gsub("^%-", "\u{2212}"))
end

-- matplotlib's MaxNLocator(nbins, steps = {1, 2, 2.5, 5, 10}): the
-- smallest "nice" step giving at most nbins intervals over [lo, hi].
-- Returns a tics_spec-like format string, or nil (let gnuplot decide).
nice_ticks = function(lo, hi, nbins)
  if not (isfinite(lo) and isfinite(hi)) or hi <= lo then return nil end
  nbins = math.max(1, math.min(9, floor(nbins)))
  local raw = (hi - lo) / nbins
  local scale = 10 ^ floor(math.log(raw, 10))
  local step, mult
  for _, m in ipairs{1, 2, 2.5, 5, 10} do
    if m * scale >= raw * (1 - 1e-9) then step, mult = m * scale, m; break end
  end
  local i0 = math.ceil(lo / step - 1e-9)
  local i1 = floor(hi / step + 1e-9)
  if i1 - i0 > 50 then return nil end
  local mag = math.max(math.abs(lo), math.abs(hi))
  if mag >= 1e5 or step < 1e-4 then return nil end  -- leave it to gnuplot
  local decimals = math.max(0, -floor(math.log(step, 10) + 1e-9))
  if mult == 2.5 then decimals = decimals + 1 end
  local parts = {}
  for i = i0, i1 do
    local v = i * step
    parts[#parts + 1] = gpstr(tick_label(v, decimals)) .. " " .. num(v)
  end
  return "set %s (" .. concat(parts, ", ") .. ")"
end

-- Emits the gnuplot commands for one axes (a whole single plot or one
-- multiplot panel). `ax` holds the axes options; `w`, `h` its pixel size.
local function emit_axes(out, ax, w, h, counter)
  local fs = ax.font_size or 10
  local series = {}
  local ncycle = 0
  for i, s in ipairs(ax.series or {}) do
    local x, y = series_data(s, i)
    local default_color
    local st = plot.parse_style(s.style)
    if not (s.color or st.color) then
      default_color = plot.cycle[(ncycle % #plot.cycle) + 1]
      ncycle = ncycle + 1
    end
    local ls = line_style(s, default_color, ax.linewidth)
    series[#series + 1] = {x = x, y = y, ls = ls, label = s.label,
                           has_line = ls.line ~= nil}
  end

  out[#out + 1] = "unset label; unset arrow; unset title; unset xlabel; unset ylabel"
  out[#out + 1] = "unset logscale"
  if ax.title and ax.title ~= "" then
    out[#out + 1] = "set title " .. gpstr(ax.title) .. " font "
      .. font(ax.title_size or 12)
  end
  if ax.xlabel then
    out[#out + 1] = "set xlabel " .. gpstr(ax.xlabel) .. " font "
      .. font(ax.label_size or fs)
  end
  if ax.ylabel then
    out[#out + 1] = "set ylabel " .. gpstr(ax.ylabel) .. " font "
      .. font(ax.label_size or fs)
  end
  if ax.xlog then out[#out + 1] = "set logscale x" end
  if ax.ylog then out[#out + 1] = "set logscale y" end
  -- matplotlib pads autoscaled limits by 5 % of the data span
  local xmin, xmax, ymin, ymax = data_limits(series)
  local function pad_range(r, lo, hi, log, margin)
    if r == false then r = nil end
    if r and r[1] ~= nil and r[2] ~= nil then return r end
    if not (isfinite(lo) and isfinite(hi)) or log then return r end
    local span = hi - lo
    if span == 0 then span = math.abs(hi) > 0 and math.abs(hi) or 1 end
    return {r and r[1] or lo - margin * span, r and r[2] or hi + margin * span}
  end
  local xr = pad_range(ax.xrange, xmin, xmax, ax.xlog, ax.xmargin or 0.05)
  local yr = pad_range(ax.yrange, ymin, ymax, ax.ylog, ax.ymargin or 0.05)
  out[#out + 1] = "set xrange " .. range_spec(xr)
  out[#out + 1] = "set yrange " .. range_spec(yr)
  local tsize = ax.tick_size or fs
  out[#out + 1] = "set tics out nomirror scale 0.75 font " .. font(tsize)
  -- ticks like matplotlib's AutoLocator: at most ~ one per 3 label heights
  -- on x, per 2 on y (axes size guessed from the figure size)
  local xt, yt = tics_spec(ax.xtics), tics_spec(ax.ytics)
  if not xt and not ax.xlog and xr then
    xt = nice_ticks(xr[1], xr[2], (w * 0.78) / pt2px(tsize * 3))
  end
  if not yt and not ax.ylog and yr then
    yt = nice_ticks(yr[1], yr[2], (h * 0.75) / pt2px(tsize * 2))
  end
  out[#out + 1] = xt and sformat(xt, "xtics") or "set xtics autofreq"
  out[#out + 1] = yt and sformat(yt, "ytics") or "set ytics autofreq"
  out[#out + 1] = "set mxtics default; set mytics default"
  if ax.grid then
    out[#out + 1] = sformat("set grid xtics ytics back lt 1 lw %.3g lc rgb "
                            .. "\"#b0b0b0\" dt solid", lw(0.8))
  else
    out[#out + 1] = "unset grid"
  end

  -- legend
  local labels, maxlen = 0, 0
  for _, s in ipairs(series) do
    if s.label and s.label ~= "" then
      labels = labels + 1
      maxlen = math.max(maxlen, utf8.len(tostring(s.label)) or #tostring(s.label))
    end
  end
  local legend = ax.legend
  if legend == nil then legend = "best" end
  if legend == false or labels == 0 then
    out[#out + 1] = "unset key"
  else
    if legend == true then legend = "best" end
    if legend == "best" then
      -- the axes' size in pixels, roughly: figure less margins and texts
      local ax_w = w - pt2px(fs) * (ax.ylabel and 6.5 or 5)
      local ax_h = h - pt2px(fs) * (3 + (ax.title and 2.5 or 0)
                                      + (ax.xlabel and 1.5 or 0))
      legend = best_legend(series, xr, yr, labels, maxlen,
                           math.max(ax_w, 10), math.max(ax_h, 10),
                           ax.legend_size or fs)
    end
    local pos = LEGEND_POS[legend] or legend
    out[#out + 1] = sformat(
      "set key inside %s reverse Left opaque box lc rgb \"#cccccc\" lw %.3g "
      .. "samplen 2 spacing 1.15 width 2 height 0.6 font %s maxrows auto",
      pos, lw(0.8), font(ax.legend_size or fs))
  end

  -- reference lines: they span the whole axes whatever the ranges
  local function ref_line(spec, horizontal)
    local v = type(spec) == "number" and spec or spec.y or spec.x or spec[1]
    spec = type(spec) == "table" and spec or {}
    local ls = line_style({style = spec.style or "k-", color = spec.color,
                           width = spec.width or 1.5, dash = spec.dash},
                          "#000000")
    local from, to
    if horizontal then
      from = spec.from and ("first " .. num(spec.from)) or "graph 0"
      to = spec.to and ("first " .. num(spec.to)) or "graph 1"
      out[#out + 1] = sformat("set arrow from %s, first %s to %s, first %s nohead "
        .. "back lw %.3g %s lc rgb %s", from, num(v), to, num(v), lw(ls.width),
        dash_spec(ls.line or "-"), gpstr(ls.color))
    else
      from = spec.from and ("first " .. num(spec.from)) or "graph 0"
      to = spec.to and ("first " .. num(spec.to)) or "graph 1"
      out[#out + 1] = sformat("set arrow from first %s, %s to first %s, %s nohead "
        .. "back lw %.3g %s lc rgb %s", num(v), from, num(v), to, lw(ls.width),
        dash_spec(ls.line or "-"), gpstr(ls.color))
    end
  end
  for _, hl in ipairs(ax.hlines or {}) do ref_line(hl, true) end
  for _, vl in ipairs(ax.vlines or {}) do ref_line(vl, false) end

  -- annotations: text, optionally with a matplotlib-like fat arrow
  for _, a in ipairs(ax.annotations or {}) do
    local at = a.at or a.xytext or a.xy
    if not at then fail("annotation %q needs `at`", tostring(a.text)) end
    local align = a.align or (a.center and "center") or "left"
    if align ~= "left" and align ~= "center" and align ~= "right" then
      fail("annotation align must be left, center or right")
    end
    local size = a.size or a.fontsize or fs
    -- matplotlib anchors text on its baseline; gnuplot on its middle
    out[#out + 1] = sformat("set label %s at first %s, first %s %s font %s "
      .. "tc rgb %s front offset 0, character %.3g", gpstr(a.text), num(at[1]),
      num(at[2]), align, font(size), gpstr(color_of(a.color) or "#000000"),
      0.32 * size / fs)
    local to = a.arrow_to or a.xy
    if a.arrow_to and to then
      local shrink = a.shrink or 0.1
      local dx, dy = to[1] - at[1], to[2] - at[2]
      local x1, y1 = at[1] + dx * shrink, at[2] + dy * shrink
      local x2, y2 = to[1] - dx * shrink, to[2] - dy * shrink
      local aw = a.arrow_width or 4         -- points, like matplotlib's
      out[#out + 1] = sformat("set arrow from first %s, first %s to first %s, "
        .. "first %s front head filled size screen %.4g,%.3g,90 lw %.3g "
        .. "lc rgb %s", num(x1), num(y1), num(x2), num(y2),
        (a.head_length or 0.022) * (800 / w), a.head_angle or 30, lw(aw),
        gpstr(color_of(a.arrow_color or a.color) or "#000000"))
    end
  end

  -- data blocks and the plot command
  local elems = {}
  for _, s in ipairs(series) do
    counter.n = counter.n + 1
    local name = "$S" .. counter.n
    out[#out + 1] = name .. " << EOD"
    for k = 1, #s.x do
      out[#out + 1] = num(s.x[k]) .. " " .. num(s.y[k])
    end
    out[#out + 1] = "EOD"
    local title = (s.label and s.label ~= "") and ("title " .. gpstr(s.label))
      or "notitle"
    elems[#elems + 1] = name .. " using 1:2 " .. with_clause(s.ls) .. " " .. title
  end
  if #elems == 0 then
    elems[1] = "NaN notitle"      -- empty axes still get drawn
  end
  out[#out + 1] = "plot " .. concat(elems, ", \\\n     ")
end

local function header(out, filename, w, h, spec)
  out[#out + 1] = "set encoding utf8"
  out[#out + 1] = sformat("set terminal pngcairo size %d,%d font %s noenhanced "
    .. "background rgb \"#ffffff\"", w, h,
    gpstr(sformat("%s,%.3g", spec.font or plot.font, fontsize(spec.font_size or 10))))
  out[#out + 1] = "set output " .. gpstr(filename)
  out[#out + 1] = "set minussign"
  out[#out + 1] = "set clip two"
  out[#out + 1] = sformat("set border 15 lw %.3g lc rgb \"#000000\" front", lw(0.8))
  out[#out + 1] = "set format x \"% h\"; set format y \"% h\""
end

local function check_filename(f)
  if type(f) ~= "string" or f == "" then
    fail("a filename (string) is required")
  end
end

local function figure_size(spec)
  local w = spec.width or (spec.figsize and floor(spec.figsize[1] * plot.dpi + 0.5))
    or 800
  local h = spec.height or (spec.figsize and floor(spec.figsize[2] * plot.dpi + 0.5))
    or 500
  return floor(w), floor(h)
end

--------------------------------------------------------------------------
-- public API

--- Draws one axes of lines into a PNG. See the file header for the options.
-- spec = {filename, width = 800, height = 500 (or figsize = {8, 5}),
--   title, xlabel, ylabel, xrange = {a, b}, yrange = {a, b} (either end may
--   be nil = automatic), grid = false, legend = "best"|position|false,
--   xtics/ytics = step | {v1, v2, ...} | {{v, "label"}, ...} | false,
--   xlog, ylog, font_size = 10, title_size = 12, label_size, tick_size,
--   legend_size, linewidth = 1.5 (default for series),
--   series = {{x =, y =, style = "b-", label =, width =, color =, dash =,
--              marker =, markersize =, fn =, range =, samples =}, ...},
--   hlines = {{y =, style = "k-", width =, from =, to =}, ...},
--   vlines = {{x =, ...}, ...},
--   annotations = {{text =, at = {x, y}, arrow_to = {x, y}, align =
--                   "left"|"center"|"right" (or center = true), size =,
--                   shrink = 0.1, color =}, ...}}
-- Returns the filename.
function plot.lines(spec)
  if type(spec) ~= "table" then fail("plot.lines expects a table") end
  check_filename(spec.filename)
  local w, h = figure_size(spec)
  local out, png = {}, os.tmpname()
  header(out, png, w, h, spec)
  emit_axes(out, spec, w, h, {n = 0})
  out[#out + 1] = "unset output"
  return run_script(concat(out, "\n") .. "\n", spec.filename, png)
end

-- The start of a multiplot figure: header, layout and title; returns the
-- script lines and the temporary PNG gnuplot draws into.
local function multiplot(spec, w, h, rows, cols, title_size)
  local out, png = {}, os.tmpname()
  header(out, png, w, h, spec)
  local mp = sformat("set multiplot layout %d,%d rowsfirst", rows, cols)
  if spec.title then
    mp = mp .. " title " .. gpstr(spec.title) .. " font " .. font(spec.title_size or title_size)
  end
  out[#out + 1] = mp
  return out, png
end

--- Draws a grid of axes (gnuplot multiplot).
-- spec = {filename, width = 400*cols, height = 300*rows, rows, cols,
--   title (figure title), title_size = 14, panels = {axes spec, ...}}
-- Each panel takes the options of plot.lines (title, xlabel, ylabel,
-- series, ranges, grid, legend, annotations, ...), filling rows first.
function plot.panels(spec)
  if type(spec) ~= "table" then fail("plot.panels expects a table") end
  check_filename(spec.filename)
  local panels = spec.panels or {}
  local n = #panels
  if n == 0 then fail("plot.panels needs at least one panel") end
  local cols = spec.cols or math.ceil(math.sqrt(n))
  local rows = spec.rows or math.ceil(n / cols)
  if rows * cols < n then
    fail("%d panels do not fit in %d x %d", n, rows, cols)
  end
  local w = spec.width or (spec.figsize and floor(spec.figsize[1] * plot.dpi + 0.5))
    or 400 * cols
  local h = spec.height or (spec.figsize and floor(spec.figsize[2] * plot.dpi + 0.5))
    or 300 * rows
  local out, png = multiplot(spec, w, h, rows, cols, 14)
  local counter = {n = 0}
  for i = 1, n do
    local p = panels[i]
    if p.grid == nil and spec.grid ~= nil then
      p = setmetatable({grid = spec.grid}, {__index = p})
    end
    emit_axes(out, p, w / cols, h / rows, counter)
  end
  out[#out + 1] = "unset multiplot"
  out[#out + 1] = "unset output"
  return run_script(concat(out, "\n") .. "\n", spec.filename, png)
end

--- Draws a grid of grayscale images, like matplotlib's imshow(cmap="gray")
-- with the axes off (a convolution's filters, digits).
-- spec = {filename, images = {img, ...} (each a list of rows of numbers or
--   a 2-D tensor), cols (default: ceil(sqrt(n))), titles = {...}, title,
--   cell = 100 (pixels per image), width, height, scale = "each" (every
--   image from its own min to max) | "all" (one range for all)}.
-- Returns the filename.
function plot.images(spec)
  if type(spec) ~= "table" then fail("plot.images expects a table") end
  check_filename(spec.filename)
  local images = spec.images or {}
  local n = #images
  if n == 0 then fail("plot.images needs at least one image") end
  local cols = spec.cols or math.ceil(math.sqrt(n))
  local rows = math.ceil(n / cols)
  local cell = spec.cell or 100
  local w = spec.width or cols * cell
  local h = spec.height or rows * cell + (spec.title and 40 or 0)
  local data, lo_all, hi_all = {}, huge, -huge
  for i, img in ipairs(images) do
    local t = tolist(img, "image " .. i)
    local lo, hi = huge, -huge
    for r = 1, #t do
      local row = tolist(t[r], "image " .. i .. " row " .. r)
      if #row ~= #tolist(t[1]) then fail("image %d is not rectangular", i) end
      for _, v in ipairs(row) do
        if isfinite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end
      end
      t[r] = row
    end
    if #t == 0 then fail("image %d is empty", i) end
    data[i] = {rows = t, lo = lo, hi = hi}
    lo_all, hi_all = math.min(lo_all, lo), math.max(hi_all, hi)
  end
  local out, png = multiplot(spec, w, h, rows, cols, 12)
  out[#out + 1] = "unset key; unset tics; unset border; unset colorbox"
  out[#out + 1] = "set palette gray; set size ratio -1; set margins 1, 1, 1, 1"
  for i, d in ipairs(data) do
    local lo, hi = d.lo, d.hi
    if spec.scale == "all" then lo, hi = lo_all, hi_all end
    if not (hi > lo) then lo, hi = lo - 1, hi + 1 end
    local nr, nc = #d.rows, #d.rows[1]
    out[#out + 1] = sformat("set cbrange [%s:%s]", num(lo), num(hi))
    out[#out + 1] = sformat("set xrange [-0.5:%s]; set yrange [%s:-0.5]", num(nc - 0.5),
                            num(nr - 0.5))
    out[#out + 1] = spec.titles and spec.titles[i]
      and ("set title " .. gpstr(spec.titles[i]) .. " font " .. font(spec.font_size or 9))
      or "unset title"
    out[#out + 1] = "$I" .. i .. " << EOD"
    for _, row in ipairs(d.rows) do
      local cells = {}
      for c, v in ipairs(row) do cells[c] = num(v) end
      out[#out + 1] = concat(cells, " ")
    end
    out[#out + 1] = "EOD"
    out[#out + 1] = "plot $I" .. i .. " matrix with image notitle"
  end
  out[#out + 1] = "unset multiplot"
  out[#out + 1] = "unset output"
  return run_script(concat(out, "\n") .. "\n", spec.filename, png)
end

-- Default column order of a history: loss, other training metrics
-- alphabetically, val_loss, other validation metrics alphabetically.
local function default_key_order(h)
  local train, val = {}, {}
  for k, v in pairs(h) do
    if type(k) == "string" and k ~= "keys"
        and (type(v) ~= "table" or getmetatable(v) ~= nil
             or type(v[1]) == "number") and type(v) ~= "function"
        and type(v) ~= "number" and type(v) ~= "string"
        and type(v) ~= "boolean" then
      if k:sub(1, 4) == "val_" then val[#val + 1] = k else train[#train + 1] = k end
    end
  end
  local function cmp(name)
    return function(a, b)
      if a == name then return b ~= name end
      if b == name then return false end
      return a < b
    end
  end
  table.sort(train, cmp("loss"))
  table.sort(val, cmp("val_loss"))
  for _, k in ipairs(val) do train[#train + 1] = k end
  return train
end

local function string_list(t)
  if type(t) ~= "table" or #t == 0 then return nil end
  for _, v in ipairs(t) do if type(v) ~= "string" then return nil end end
  return t
end

--- Plots a Keras-like training history, as
--   pd.DataFrame(history.history).plot(figsize=(8, 5))
--   plt.grid(True); plt.gca().set_ylim(0, 1)
-- history: a History object (with .history) or its table name -> per-epoch
--   numbers; an ordered key list may be given as history.keys (a list or a
--   method returning one) or opts.keys.
-- opts: title, ylim = {0, 1} (false: automatic), xlabel, ylabel, grid = true,
--   legend = "best", width = 800, height = 500 (or figsize = {8, 5}),
--   font_size, linewidth, xrange.
-- Epochs are on x from 0, like the DataFrame's default index.
function plot.history(history, filename, opts)
  if type(filename) == "table" and opts == nil then
    opts, filename = filename, filename.filename
  end
  opts = opts or {}
  filename = filename or opts.filename
  check_filename(filename)
  if type(history) ~= "table" then fail("plot.history expects a History or a table") end
  local h = history.history
  if type(h) ~= "table" then h = history end
  local keys = opts.keys
  if keys == nil then
    local k = history.keys
    if type(k) == "function" then
      local ok, r = pcall(k, history)
      k = ok and r or nil
    end
    keys = string_list(k)
    if keys == nil and h ~= history then keys = string_list(h.keys) end
  end
  keys = keys or default_key_order(h)
  local series = {}
  for _, k in ipairs(keys) do
    local v = h[k]
    if v ~= nil then
      local y = tolist(v, "history." .. k)
      series[#series + 1] = {y = y, label = k}
    end
  end
  if #series == 0 then fail("the history has no series to plot") end
  local nmax = 0
  for _, s in ipairs(series) do nmax = math.max(nmax, #s.y) end
  local ylim = opts.ylim
  if ylim == nil then ylim = {0, 1} end
  local spec = {
    filename = filename, width = opts.width, height = opts.height,
    figsize = opts.figsize, title = opts.title, xlabel = opts.xlabel,
    ylabel = opts.ylabel, grid = opts.grid == nil and true or opts.grid,
    legend = opts.legend == nil and "best" or opts.legend,
    yrange = ylim or nil, xrange = opts.xrange or {0, math.max(1, nmax - 1)},
    series = series,
    font_size = opts.font_size, linewidth = opts.linewidth,
    title_size = opts.title_size, xtics = opts.xtics, ytics = opts.ytics,
  }
  return plot.lines(spec)
end

E.protect_all(plot)
return plot
