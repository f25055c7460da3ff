-- Special files where a file is expected (issue 14), by class: every
-- reader (read_csv, read_idx, load_npy, read_h5, load_model, load_weights,
-- load_plugin, datasets.*.load_data) handed a FIFO, a folder, a socket,
-- character devices (/dev/null, /dev/zero), a symlink to a FIFO, an empty
-- path or a path with a NUL byte. Opening a FIFO for reading blocked
-- forever before (and /dev/zero never ends): each must be refused at once
-- with the function, the file and what it is. Also: start-up with a FIFO
-- named x.so in LUNET_PLUGIN_PATH (skipped with a warning, start-up goes
-- on) and a plugin folder of more than 1,024 .so files (none lost).
--
-- The readers run in child processes under `timeout`, one child per
-- reader: a reader that blocks again fails its rows ("hung") instead of
-- hanging the suite.
local ln = require "lunet"

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local T = dofile(here .. "/testlib.lua")
local R = dofile(here .. "/hostile_rows.lua")
local err, eq = R.err, R.eq

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local tmp = T.mktempdir("lunet_special_")
local LUNET = R.lunet()

-- The special files. A socket needs bind(2): python3 (a dependency of the
-- suite, scripts/setup.sh) makes it.
local IDX = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
local kinds = {
  {"FIFO", tmp .. "/fifo", "is a FIFO (named pipe), not a regular file"},
  {"folder", tmp .. "/dir", "is a folder, not a regular file"},
  {"socket", tmp .. "/sock", "is a socket, not a regular file"},
  {"/dev/null", "/dev/null", "is a character device, not a regular file"},
  {"/dev/zero", "/dev/zero", "is a character device, not a regular file"},
  {"symlink to a FIFO", tmp .. "/link", "is a FIFO (named pipe), not a regular file"},
}
sh("mkfifo " .. q(tmp .. "/fifo") .. " && mkdir " .. q(tmp .. "/dir") ..
   " && ln -s " .. q(tmp .. "/fifo") .. " " .. q(tmp .. "/link"))
sh("/usr/bin/python3 -c " .. q("import socket; socket.socket(socket.AF_UNIX).bind('" .. tmp .. "/sock')"))
-- for load_data: a folder per kind holding the four IDX names as that kind
for i, k in ipairs(kinds) do
  local d = tmp .. "/data" .. i
  sh("mkdir " .. q(d))
  for _, f in ipairs(IDX) do
    local p = d .. "/" .. f .. ".gz"
    if k[1] == "folder" then sh("mkdir " .. q(p))
    elseif k[1] == "FIFO" then sh("mkfifo " .. q(p))
    else sh("ln -s " .. q(k[2]) .. " " .. q(p)) end
  end
  k.data = d
end

-- The readers: Lua expressions of a path `p`, and the prefix of their
-- messages.
local readers = {
  {"read_csv", "ln.io.read_csv(p)"},
  {"read_idx", "ln.io.read_idx(p)"},
  {"load_npy", "ln.io.load_npy(p)"},
  {"read_h5", "ln.io.read_h5(p, '/x')"},
  {"load_model", "ln.models.load_model(p)"},
  {"load_weights", "ln.Sequential{ln.layers.Dense{2, input_shape = {3}}}:load_weights(p)"},
  {"load_plugin", "ln.load_plugin(p)"},
}

-- Run every path of `paths` through `expr` in one child lunet (under
-- timeout); returns the message of each (or "returned" / "hung").
local function in_child(expr, paths)
  local lines = {"local ln = require 'lunet'", "local paths = {"}
  for _, p in ipairs(paths) do lines[#lines + 1] = string.format("  %q,", p) end
  lines[#lines + 1] = "}"
  lines[#lines + 1] = "for i, p in ipairs(paths) do"
  lines[#lines + 1] = "  local ok, e = pcall(function() return " .. expr .. " end)"
  lines[#lines + 1] = "  io.write('ROW ', i, ' ', ok and 'returned' or tostring(e):gsub('\\n', ' '), '\\n')"
  lines[#lines + 1] = "  io.flush()"
  lines[#lines + 1] = "end"
  local script = os.tmpname()
  T.write_file(script, table.concat(lines, "\n"))
  local p = io.popen("timeout 120 " .. q(LUNET) .. " " .. q(script) .. " 2>&1")
  local out = p:read("a")
  p:close()
  os.remove(script)
  local got = {}
  for i, msg in out:gmatch("ROW (%d+) ([^\n]*)") do got[tonumber(i)] = msg end
  for i = 1, #paths do got[i] = got[i] or ("hung (or crashed); output: " .. out) end
  return got
end

local function got_of(results, i) return function() return results[i] end end
local function says(...)
  local pieces = {...}
  return R.ok(function(msg)
    for _, piece in ipairs(pieces) do
      if not msg:find(piece, 1, true) then return false end
    end
    return true
  end, "the message names " .. table.concat(pieces, ", "))
end

for _, rd in ipairs(readers) do
  local paths = {}
  for i, k in ipairs(kinds) do paths[i] = k[2] end
  local res = in_child(rd[2], paths)
  local rows = {}
  for i, k in ipairs(kinds) do
    rows[i] = {k[1], got_of(res, i), says(rd[1] .. ": " .. k[2] .. ": " .. k[3])}
  end
  R.run(T, rd[1], rows)
end

for _, ds in ipairs({"mnist", "fashion_mnist"}) do
  local paths = {}
  for i, k in ipairs(kinds) do paths[i] = k.data end
  local res = in_child("ln.datasets." .. ds .. ".load_data(p)", paths)
  local rows = {}
  for i, k in ipairs(kinds) do
    rows[i] = {k[1] .. " files", got_of(res, i),
               says("read_idx: " .. k.data .. "/train-images-idx3-ubyte.gz: " .. k[3])}
  end
  R.run(T, ds .. ".load_data", rows)
end

-- ---- names that are no file -----------------------------------------------------------

R.run(T, "empty paths and NUL bytes", {
  {"read_csv('')", function() return ln.io.read_csv("") end, err("read_csv: the file path is empty")},
  {"read_idx('')", function() return ln.io.read_idx("") end, err("read_idx: the file path is empty")},
  {"load_npy('')", function() return ln.io.load_npy("") end, err("load_npy: the file path is empty")},
  {"read_h5('')", function() return ln.io.read_h5("", "/x") end, err("read_h5: the file path is empty")},
  {"load_plugin('')", function() return ln.load_plugin("") end, err("load_plugin: the file path is empty")},
  {"read_csv('a.csv\\0x') would read a.csv", function() return ln.io.read_csv(tmp .. "/a.csv\0x") end,
   err("read_csv: the file path '" .. tmp .. "/a.csv\\0...' holds a NUL byte")},
  {"read_idx with a NUL", function() return ln.io.read_idx(tmp .. "/a\0b") end, err("read_idx: the file path", "holds a NUL byte")},
  {"load_npy with a NUL", function() return ln.io.load_npy(tmp .. "/a\0b") end, err("load_npy: the file path", "holds a NUL byte")},
  {"read_h5 with a NUL", function() return ln.io.read_h5(tmp .. "/a\0b", "/x") end, err("read_h5: the file path", "holds a NUL byte")},
  {"load_plugin with a NUL", function() return ln.load_plugin(tmp .. "/a.so\0b") end,
   err("load_plugin: the file path", "holds a NUL byte")},
  {"a missing file", function() return ln.io.read_csv(tmp .. "/none.csv") end,
   err("read_csv: " .. tmp .. "/none.csv: cannot open: No such file or directory")},
  {"file_kind of a FIFO (stat only)", function() return ln.io.file_kind(tmp .. "/fifo") end, eq("FIFO (named pipe)")},
  {"file_kind of a missing file", function() return select(2, ln.io.file_kind(tmp .. "/none")) end,
   eq(tmp .. "/none: No such file or directory")},
})

-- ---- plugin folders -------------------------------------------------------------------------

-- Start-up with a plugin folder: `lunet -e code` with LUNET_PLUGIN_PATH=dir:
-- (the trailing colon keeps lunet's own plugins); returns the output.
local function with_plugins(dir, code)
  local p = io.popen(string.format("LUNET_PLUGIN_PATH=%s: timeout 120 %s -e %s 2>&1", q(dir), q(LUNET), q(code)))
  local out = p:read("a")
  p:close()
  return out
end

local fifo_dir = tmp .. "/plugins_fifo"
sh("mkdir " .. q(fifo_dir) .. " && mkfifo " .. q(fifo_dir .. "/x.so"))
local startup = with_plugins(fifo_dir, [[
  print("STARTED " .. tostring(#ln.plugins() > 0))
  for _, w in ipairs(ln.plugin_warnings()) do print("WARNING " .. w) end
  print(ln.layers.Dense{2}.name ~= nil)]])

-- more than 1,024 files: 1,100 that are not ELF, then a real plugin named
-- to sort last (the 1,025th and later files were dropped before)
local many_dir = tmp .. "/plugins_many"
local plugin_dir = os.getenv("LUNET_TEST_PLUGIN_DIR")
sh("mkdir " .. q(many_dir))
sh("cd " .. q(many_dir) .. " && for i in $(seq 1000 2099); do echo text > p$i.so; done")
local many
if plugin_dir then
  sh("cp " .. q(plugin_dir .. "/good.so") .. " " .. q(many_dir .. "/zzzz_good.so"))
  many = with_plugins(many_dir, [[
    local n = 0
    for _, w in ipairs(ln.plugin_warnings()) do if w:find("not a loadable shared object", 1, true) then n = n + 1 end end
    print("NOTELF " .. n)
    for _, u in ipairs(ln.plugins()) do if u.file:find("zzzz_good.so", 1, true) then print("LOADED " .. u.name) end end]])
end

R.run(T, "plugin folders", {
  {"a FIFO x.so: start-up goes on", function() return startup:match("STARTED true") ~= nil end, eq(true)},
  {"a FIFO x.so: a warning names it",
   function() return startup:find("WARNING load_plugin: " .. fifo_dir .. "/x.so: is a FIFO (named pipe), not a regular file", 1, true) ~= nil end,
   eq(true)},
  {"a FIFO x.so: lunet's own plugins still load", function() return startup:match("\ntrue") ~= nil end, eq(true)},
  {"1,100 non-ELF files are each warned about",
   function() if not many then error("LUNET_TEST_PLUGIN_DIR not set (run through ctest)") end
     return tonumber(many:match("NOTELF (%d+)")) end, eq(1100)},
  {"the plugin after them (the 1,101st .so) loads",
   function() if not many then error("LUNET_TEST_PLUGIN_DIR not set (run through ctest)") end
     return many:match("LOADED (%S+)") ~= nil end, eq(true)},
})

os.execute("rm -rf " .. q(tmp))
T.summary("hostile special-file")
