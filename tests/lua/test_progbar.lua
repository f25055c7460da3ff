-- Tests for lunet.progbar (Keras 2.5/2.6 Progbar output, byte for byte).
-- Runs under stock lua5.4 or the `lunet` interpreter, from any directory.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local root = here .. "/../.."
package.path = root .. "/core/lua/?.lua;" .. root .. "/core/lua/?/init.lua;"
  .. package.path

local Progbar = require "lunet.progbar"

local T = dofile(here .. "/testlib.lua")
local test = T.test

local function show(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s\n  want %s\n  got  %s", what or "mismatch",
                        show(want), show(got)), 2)
  end
end

-- A fake clock: t[1] is the current time.
local function fake_clock(t0)
  local c = {t = t0 or 0}
  c.fn = function() return c.t end
  return c
end

-- A fake output: records every write.
local function fake_out()
  local o = {writes = {}, flushes = 0}
  function o:write(...)
    for _, s in ipairs{...} do self.writes[#self.writes + 1] = s end
    return self
  end
  function o:flush() self.flushes = self.flushes + 1 end
  function o:all() return table.concat(self.writes) end
  function o:last() return self.writes[#self.writes] end
  return o
end

local function new_bar(opts, clock, out)
  opts.time = clock.fn
  opts.out = out
  if opts.interactive == nil then opts.interactive = true end
  return Progbar.new(opts)
end

local B30 = string.rep("=", 30)

test("mid-epoch interactive line", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 1719, stateful_metrics = true}, c, o)
  c.t = 0.5
  bar:update(1, {{"loss", 0.7}, {"accuracy", 0.5}})
  local first = "   1/1719 [" .. string.rep(".", 30) .. "]"
  eq(o:last(), "\r" .. first .. " - ETA: 14:19 - loss: 0.7000 - accuracy: 0.5000",
     "first step line")
  local w1 = #o:last() - 1
  c.t = 0.5 + 57 * 0.003
  bar:update(58, {{"loss", 0.51234}, {"accuracy", 0.85409}})
  local line = "  58/1719 [>.............................] - ETA: 4s"
    .. " - loss: 0.5123 - accuracy: 0.8541"
  eq(o:last(), string.rep("\b", w1) .. "\r" .. line
     .. string.rep(" ", w1 - #line), "step 58 line")
  assert(o.flushes == 2, "flushed each write")
end)

test("final interactive line", function()
  local c, o = fake_clock(100), fake_out()
  local bar = new_bar({target = 1719, stateful_metrics = true}, c, o)
  c.t = 100.1
  bar:update(1, {{"loss", 0.9}, {"accuracy", 0.6}})
  c.t = 100.1 + 1717 * 0.0028
  bar:update(1718, {{"loss", 0.5}, {"accuracy", 0.8}})
  -- Keras backs up over the previous line's width *without* its erasing
  -- padding: strip the "\b"s, the "\r" and the trailing spaces.
  local pw = #(o:last():gsub("^\b*\r", ""):gsub(" +$", ""))
  c.t = 100.1 + 1718 * 0.0028
  bar:update(1719, {{"loss", 0.49237}, {"accuracy", 0.83214},
                    {"val_loss", 0.48161}, {"val_accuracy", 0.83937}})
  eq(o:last(), string.rep("\b", pw) .. "\r1719/1719 [" .. B30 .. "] - 5s 3ms/step"
     .. " - loss: 0.4924 - accuracy: 0.8321 - val_loss: 0.4816"
     .. " - val_accuracy: 0.8394\n", "final line")
end)

test("bar drawing: filled, arrow, dots", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 10, width = 10, interval = 0}, c, o)
  c.t = 1; bar:update(1)
  eq(o:last():gsub("^\b*\r", ""), " 1/10 [>.........] - ETA: 9s")
  c.t = 2; bar:update(5)
  eq(o:last():gsub("^\b*\r", ""), " 5/10 [====>.....] - ETA: 1s")
  c.t = 3; bar:update(9)
  eq(o:last():gsub("^\b*\r", ""), " 9/10 [========>.] - ETA: 0s")
  c.t = 4; bar:update(10)
  eq(o:last():gsub("^\b*\r", ""), "10/10 [==========] - 4s 333ms/step\n")
end)

test("shorter line is padded with spaces", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 10000, width = 10}, c, o)
  c.t = 1; bar:update(1)
  local l1 = "    1/10000 [..........] - ETA: 2:46:39"
  eq(o:last(), "\r" .. l1)
  c.t = 1 + 9940; bar:update(9941)
  eq(o:last(), string.rep("\b", #l1) .. "\r" .. " 9941/10000 [========>.] - ETA: 59s"
     .. "    ")
end)

test("counter padding", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 1719, width = 5}, c, o)
  c.t = 1; bar:update(5)
  eq(o:last(), "\r   5/1719 [.....] - ETA: 5:42")
  c, o = fake_clock(0), fake_out()
  bar = new_bar({target = 100, width = 5, verbose = 2}, c, o)
  c.t = 1; bar:update(100)
  eq(o:all(), "100/100 - 1s\n")
  c, o = fake_clock(0), fake_out()
  bar = new_bar({target = 1000, width = 4}, c, o)
  c.t = 2; bar:update(7)
  eq(o:last(), "\r   7/1000 [....] - ETA: 4:43")
end)

test("ETA formats", function()
  eq(Progbar.format_eta(0), "0s")
  eq(Progbar.format_eta(4.98), "4s")
  eq(Progbar.format_eta(59.9), "59s")
  eq(Progbar.format_eta(60), "60s")
  eq(Progbar.format_eta(61), "1:01")
  eq(Progbar.format_eta(754.7), "12:34")
  eq(Progbar.format_eta(3600), "60:00")
  eq(Progbar.format_eta(3601), "1:00:01")
  eq(Progbar.format_eta(3725.5), "1:02:05")
  eq(Progbar.format_eta(100000), "27:46:40")
end)

test("value formats %.4f vs %.4e", function()
  eq(Progbar.format_value(0.5), "0.5000")
  eq(Progbar.format_value(123.456789), "123.4568")
  eq(Progbar.format_value(-0.25), "-0.2500")
  eq(Progbar.format_value(0.0011), "0.0011")
  eq(Progbar.format_value(0.001), "1.0000e-03")
  eq(Progbar.format_value(1.5e-5), "1.5000e-05")
  eq(Progbar.format_value(-2e-4), "-2.0000e-04")
  eq(Progbar.format_value(0), "0.0000e+00")
  eq(Progbar.format_value(0 / 0), "nan")
  eq(Progbar.format_value(math.huge), "inf")
  -- the same through a bar line
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 2, width = 2, stateful_metrics = {"lr", "loss"}}, c, o)
  c.t = 1; bar:update(2, {{"loss", 0.12345}, {"lr", 1e-4}})
  eq(o:last(), "\r2/2 [==] - 1s 500ms/step - loss: 0.1235 - lr: 1.0000e-04\n")
end)

test("per-step time: s / ms / us switch", function()
  eq(Progbar.format_time_per_unit(2.4), " 2s/step")
  eq(Progbar.format_time_per_unit(1), " 1s/step")
  eq(Progbar.format_time_per_unit(0), " 0s/step")
  eq(Progbar.format_time_per_unit(0.0034), " 3ms/step")
  eq(Progbar.format_time_per_unit(0.001), " 1ms/step")
  eq(Progbar.format_time_per_unit(0.000015), " 15us/step")
  eq(Progbar.format_time_per_unit(0.5, "sample"), " 500ms/sample")
  local function final(step_time)
    local c, o = fake_clock(0), fake_out()
    local bar = new_bar({target = 100, width = 4}, c, o)
    c.t = 3            -- slow first step, excluded from the per-step time
    bar:update(1)
    c.t = 3 + 99 * step_time
    bar:update(100)
    return (o:last():gsub("^\b*\r", ""))
  end
  eq(final(2), "100/100 [====] - 201s 2s/step\n")
  eq(final(0.004), "100/100 [====] - 3s 4ms/step\n")
  eq(final(0.00002), "100/100 [====] - 3s 20us/step\n")
end)

test("first step alone uses elapsed/current", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 100, width = 4}, c, o)
  c.t = 2; bar:update(50, nil, true)
  eq(o:last(), "\r 50/100 [=>..] - 2s 40ms/step\n")
end)

test("verbose=2 line", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 1719, verbose = 2, stateful_metrics = true}, c, o)
  for i = 1, 1718 do
    c.t = i * 0.003
    bar:update(i, {{"loss", 0.6}, {"accuracy", 0.7}})
  end
  eq(o:all(), "", "nothing before the end")
  c.t = 5.2
  bar:update(1719, {{"loss", 0.49237}, {"accuracy", 0.83214},
                    {"val_loss", 0.48161}, {"val_accuracy", 0.83937}})
  eq(o:all(), "1719/1719 - 5s - loss: 0.4924 - accuracy: 0.8321"
     .. " - val_loss: 0.4816 - val_accuracy: 0.8394\n")
  -- Keras 2.5/2.6 quirk: verbose=2 tests avg > 1e-3 without abs().
  c, o = fake_clock(0), fake_out()
  bar = new_bar({target = 3, verbose = 2, stateful_metrics = true}, c, o)
  c.t = 0.4; bar:update(3, {{"loss", -0.5}, {"tiny", 5e-4}, {"acc", 0.9}})
  eq(o:all(), "3/3 - 0s - loss: -5.0000e-01 - tiny: 5.0000e-04 - acc: 0.9000\n")
end)

test("non-interactive output prints only the final line", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 20, interactive = false, stateful_metrics = true}, c, o)
  for i = 1, 19 do c.t = i; bar:update(i, {{"loss", 1 / i}}) end
  eq(o:all(), "")
  c.t = 20; bar:update(20, {{"loss", 0.05}})
  eq(o:all(), "20/20 - 20s - loss: 0.0500\n")
  -- detection through the injectable Progbar.isatty
  local saved = Progbar.isatty
  local seen
  Progbar.isatty = function(f) seen = f; return false end
  o = fake_out()
  bar = Progbar.new{target = 2, out = o, time = c.fn}
  Progbar.isatty = saved
  assert(seen == o, "isatty got the output object")
  assert(bar.interactive == false)
  c.t = 21; bar:update(1); c.t = 22; bar:update(2)
  eq(o:all(), "2/2 - 2s\n")
  Progbar.isatty = function() return true end
  bar = Progbar.new{target = 2, out = fake_out(), time = c.fn}
  Progbar.isatty = saved
  assert(bar.interactive == true)
  -- a plain table without isatty is not a terminal under the default
  assert(Progbar.isatty({write = function() end}) == false)
  assert(Progbar.isatty({isatty = true}) == (os.getenv("TERM") ~= nil
    and os.getenv("TERM") ~= "" and os.getenv("TERM") ~= "dumb"))
end)

test("target = 1 edge case", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 1}, c, o)
  c.t = 0.25; bar:update(1, {{"loss", 0.1}})
  eq(o:all(), "\r1/1 [" .. B30 .. "] - 0s 250ms/step - loss: 0.1000\n")
  c, o = fake_clock(0), fake_out()
  bar = new_bar({target = 1, verbose = 2}, c, o)
  c.t = 0.25; bar:update(1, {{"loss", 0.1}})
  eq(o:all(), "1/1 - 0s - loss: 0.1000\n")
end)

test("averaging of non-stateful values, weighted by steps", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 10, width = 10, interval = 0,
                       stateful_metrics = {acc = true}}, c, o)
  c.t = 1; bar:update(1, {{"loss", 1.0}, {"acc", 0.1}})
  c.t = 2; bar:update(3, {{"loss", 0.5}, {"acc", 0.3}})
  eq(o:last():gsub("^\b*\r", ""):gsub(" +$", ""),
     " 3/10 [==>.......] - ETA: 3s - loss: 0.6667 - acc: 0.3000")
  c.t = 3; bar:add(2, {{"loss", 0.25}, {"acc", 0.5}})
  eq(o:last():gsub("^\b*\r", ""):gsub(" +$", ""),
     " 5/10 [====>.....] - ETA: 2s - loss: 0.5000 - acc: 0.5000")
  bar:update_stateful_metrics{"loss"}
  c.t = 4; bar:update(6, {{"loss", 0.2}})
  eq(o:last():gsub("^\b*\r", ""):gsub(" +$", ""),
     " 6/10 [=====>....] - ETA: 2s - loss: 0.2000 - acc: 0.5000")
end)

test("redraws are rate limited by interval, final always drawn", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 4, width = 4}, c, o)
  c.t = 1; bar:update(1)
  c.t = 1.01; bar:update(2)
  eq(#o.writes, 1, "second update within 0.05 s skipped")
  c.t = 1.02; bar:update(4)
  eq(#o.writes, 2)
  eq(o:last():sub(-1), "\n")
end)

test("unknown target", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({}, c, o)
  c.t = 1; bar:update(10, {{"loss", 0.3}})
  eq(o:last(), "\r     10/Unknown - 1s 100ms/step - loss: 0.3000")
  c.t = 2; bar:update(20, {{"loss", 0.3}}, true)
  eq(o:last():gsub("^\b*\r", ""), "     20/Unknown - 2s 100ms/step - loss: 0.3000\n")
end)

test("verbose = 0 is silent", function()
  local c, o = fake_clock(0), fake_out()
  local bar = new_bar({target = 3, verbose = 0}, c, o)
  for i = 1, 3 do c.t = i; bar:update(i, {{"loss", 1}}) end
  eq(#o.writes, 0)
end)

test("clock injection and positional constructor", function()
  local saved = Progbar.clock
  local t = 10
  Progbar.clock = function() return t end
  local o = fake_out()
  local bar = Progbar(3, {out = o, verbose = 2})
  t = 13; bar:update(3)
  Progbar.clock = saved
  eq(o:all(), "3/3 - 3s\n")
  assert(type(Progbar.isatty(io.stdout)) == "boolean")
end)

T.summary("progbar")
