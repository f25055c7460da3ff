-- Save targets by class (issue 14, part B). Every writer lunet has -- model
-- files, weights files, NPY, write_file, CSVLogger, ModelCheckpoint, plots --
-- against every kind of target: new and existing files, symlinks (to
-- files, chains, dangling, to folders, loops, to read-only files), folders,
-- devices, FIFOs, sockets, read-only files and folders, NUL bytes, very
-- long names, missing folders, files used as folders, hard links. Each row
-- asserts the exact outcome of docs/model-files.md's rule: written (through
-- the link, mode kept), or refused naming the reason -- the message starts
-- with this file's line, the target is unchanged, no temporary file is
-- left. Table-driven: writers x targets, each pair one case.
local ln = require "lunet"
local H = dofile("data/hostile.lua")
local test = H.test

local q = H.quote

local function out_of(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return s
end

ln.random.seed(3)
local x = ln.rand(8, 4)
local y = ln.tensor({0, 1, 2, 0, 1, 2, 0, 1}, "int32")
local model = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
model:compile{loss = "sparse_categorical_crossentropy", optimizer = "adam"}

local has_gnuplot = os.execute("command -v gnuplot >/dev/null 2>&1") == true

-- The writers: name, write(path), what the written file starts with.
local writers = {
  {"save", function(p) model:save(p) end, "\137HDF"},
  {"save_weights", function(p) model:save_weights(p) end, "\137HDF"},
  {"save_npy", function(p) ln.io.save_npy(p, ln.ones(2, 3)) end, "\147NUMPY"},
  {"write_file", function(p) ln.io.write_file(p, "hello\n") end, "hello"},
  {"CSVLogger", function(p)
    model:fit(x, y, {epochs = 1, verbose = 0, callbacks = {ln.callbacks.CSVLogger(p)}})
  end, "epoch,"},
  {"ModelCheckpoint", function(p)
    model:fit(x, y, {epochs = 1, verbose = 0, callbacks = {ln.callbacks.ModelCheckpoint(p)}})
  end, "\137HDF"},
}
if has_gnuplot then
  writers[#writers + 1] = {"plot", function(p)
    ln.plot.lines{filename = p, width = 120, height = 90, series = {{y = {1, 2, 3}}}}
  end, "\137PNG"}
else
  print("NOTE: gnuplot is not installed: the plot writer's rows are left out")
end

local root = out_of("id -u"):match("^0%s*$") ~= nil

-- Each target: name, setup(d, sh) -> path [, final target path], outcome
-- ("written" or {pieces of the refusal}), extra check(d). setup runs the
-- shell commands it needs through sh(cmd) (all cases' commands run as one
-- script: shells are slow to start on a loaded machine).
local targets = {
  {"a new file", function(d) return d .. "/new.out" end, "written"},
  {"an existing file (mode 0640 kept)", function(d, sh)
    H.write(d .. "/old.out", "old content")
    sh("chmod 640 " .. q(d .. "/old.out"))
    return d .. "/old.out"
  end, "written", function(d, after) H.check(after[d .. "/old.out"]:find("|640|", 1, true), "mode") end},
  {"a symlink to a file", function(d, sh)
    H.write(d .. "/real.out", "old")
    sh("ln -s real.out " .. q(d .. "/link.out"))
    return d .. "/link.out", d .. "/real.out"
  end, "written"},
  {"a chain of symlinks", function(d, sh)
    sh("mkdir " .. q(d .. "/sub") .. " && echo old > " .. q(d .. "/sub/end.out"))
    sh("ln -s end.out " .. q(d .. "/sub/mid.out") .. " && ln -s sub/mid.out " .. q(d .. "/top.out"))
    return d .. "/top.out", d .. "/sub/end.out"
  end, "written"},
  {"an absolute symlink to a file", function(d, sh)
    H.write(d .. "/abs_real.out", "old")
    sh("ln -s " .. q(d .. "/abs_real.out") .. " " .. q(d .. "/abs.out"))
    return d .. "/abs.out", d .. "/abs_real.out"
  end, "written"},
  {"a dangling symlink (creates its target)", function(d, sh)
    sh("ln -s made.out " .. q(d .. "/dangling.out"))
    return d .. "/dangling.out", d .. "/made.out"
  end, "written"},
  {"a dangling symlink into a missing folder", function(d, sh)
    sh("ln -s nowhere/x.out " .. q(d .. "/dangling2.out"))
    return d .. "/dangling2.out"
  end, {"does not exist"}},
  {"a symlink to a folder", function(d, sh)
    sh("mkdir " .. q(d .. "/adir") .. " && ln -s adir " .. q(d .. "/dirlink.out"))
    return d .. "/dirlink.out"
  end, {"is a folder"}},
  {"a symlink loop", function(d, sh)
    sh("ln -s loop_b " .. q(d .. "/loop_a") .. " && ln -s loop_a " .. q(d .. "/loop_b"))
    return d .. "/loop_a"
  end, {"too many levels of symbolic links"}},
  {"a symlink to a read-only file", function(d, sh)
    H.write(d .. "/ro_real.out", "old")
    sh("chmod 444 " .. q(d .. "/ro_real.out") .. " && ln -s ro_real.out " .. q(d .. "/ro_link.out"))
    return d .. "/ro_link.out"
  end, {"is read-only", "0444"}},
  {"a folder", function(d, sh)
    sh("mkdir " .. q(d .. "/folder.out"))
    return d .. "/folder.out"
  end, {"is a folder"}},
  {"a name ending in /", function(d) return d .. "/x.out/" end, {"names a folder"}},
  {"a character device", function(d, sh)
    -- as root, a private copy of /dev/null (the real one must survive a bug)
    if root then
      sh("mknod " .. q(d .. "/null.out") .. " c 1 3")
      return d .. "/null.out"
    end
    return "/dev/null"
  end, {"is a character device"}},
  {"a FIFO", function(d, sh)
    sh("mkfifo " .. q(d .. "/fifo.out"))
    return d .. "/fifo.out"
  end, {"is a FIFO"}},
  {"a socket", function(d, sh)
    sh("/usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' " ..
       q(d .. "/sock.out"))
    return d .. "/sock.out"
  end, {"is a socket"}},
  {"a read-only file (0444)", function(d, sh)
    H.write(d .. "/ro.out", "old")
    sh("chmod 444 " .. q(d .. "/ro.out"))
    return d .. "/ro.out"
  end, {"is read-only (mode 0444)"}},
  {"a file without any permission (0000)", function(d, sh)
    H.write(d .. "/none.out", "old")
    sh("chmod 000 " .. q(d .. "/none.out"))
    return d .. "/none.out"
  end, {"is read-only (mode 0000)"}},
  {"a new file in a read-only folder", function(d, sh)
    sh("mkdir " .. q(d .. "/rodir") .. " && chmod 555 " .. q(d .. "/rodir"))
    return d .. "/rodir/new.out"
  end, {"the folder", "is read-only"}},
  {"a writable file in a read-only folder", function(d, sh)
    sh("mkdir " .. q(d .. "/rodir2") .. " && echo old > " .. q(d .. "/rodir2/w.out") ..
       " && chmod 555 " .. q(d .. "/rodir2"))
    return d .. "/rodir2/w.out"
  end, {"the folder", "is read-only"}},
  {"a path holding a NUL byte", function(d) return d .. "/m.out\0.bak" end, {"NUL byte"},
   function(d) H.check(H.read(d .. "/m.out") == nil, "the part before the NUL was written") end},
  {"a 255-byte file name (the longest allowed)", function(d)
    return d .. "/" .. string.rep("n", 251) .. ".out"
  end, "written"},
  {"a 300-byte file name", function(d) return d .. "/" .. string.rep("n", 300) end,
   {"too long"}},
  {"a 5000-byte path", function(d) return d .. string.rep("/deep", 1000) .. "/x.out" end,
   {"too long"}},
  {"a missing folder", function(d) return d .. "/no/such/dir/x.out" end, {"does not exist"}},
  {"a file used as a folder", function(d)
    H.write(d .. "/plain", "x")
    return d .. "/plain/x.out"
  end, {"not a folder"}},
  {"a hard link (this name gets the new file)", function(d, sh)
    H.write(d .. "/hl_a.out", "old")
    sh("ln " .. q(d .. "/hl_a.out") .. " " .. q(d .. "/hl_b.out"))
    return d .. "/hl_a.out"
  end, "written", function(d) H.eq(H.read(d .. "/hl_b.out"), "old", "the other name") end},
}

-- The cases: every writer against every target, set up at once.
local cases, commands, dirs = {}, {}, {}
for i = 1, #writers * #targets do dirs[i] = q(H.tmp("t" .. i)) end
os.execute("mkdir -p " .. table.concat(dirs, " "))
for _, w in ipairs(writers) do
  for _, t in ipairs(targets) do
    local d = H.tmp("t" .. (#cases + 1))
    local c = {writer = w, target = t, dir = d}
    c.path, c.final = t[2](d, function(cmd) commands[#commands + 1] = cmd end)
    c.final = c.final or c.path
    c.shown = c.path:match("^[^%z]*") -- stat gets the part before a NUL
    cases[#cases + 1] = c
  end
end
local setup_script = H.tmp("setup.sh")
H.write(setup_script, table.concat(commands, "\n") .. "\n")
os.execute("sh " .. q(setup_script) .. " 2>&1")

-- "kind|mode|size|link" of every case's path (lstat), keyed by path; and
-- the temporary files (".name.XXXXXX") left in every case's folder.
local function survey()
  local list = H.tmp("paths.txt")
  local lines = {}
  for _, c in ipairs(cases) do lines[#lines + 1] = c.shown end
  H.write(list, table.concat(lines, "\n") .. "\n")
  local text = out_of("while IFS= read -r p; do stat -c '%F|%a|%s|%N' \"$p\" 2>/dev/null || " ..
                      "echo none; done < " .. q(list))
  local snap, i = {}, 0
  for line in text:gmatch("[^\n]+") do
    i = i + 1
    if cases[i] then snap[cases[i].shown] = line end
  end
  local temps = {}
  for path in out_of("find " .. q(H.tmp()) .. " -name '.*.??????' 2>/dev/null"):gmatch("[^\n]+") do
    local dir = path:match("^(.*)/[^/]*$")
    temps[dir] = (temps[dir] or 0) + 1
  end
  return snap, temps
end

local before = survey()
local results = {}
for i, c in ipairs(cases) do
  local ok, err = pcall(c.writer[2], c.path)
  results[i] = {ok = ok, err = err}
end
local after, temps = survey()

for i, c in ipairs(cases) do
  local wname, magic = c.writer[1], c.writer[3]
  local tname, outcome, extra = c.target[1], c.target[3], c.target[4]
  test(wname .. " -> " .. tname, function()
    local r = results[i]
    if outcome == "written" then
      H.check(r.ok, "refused: %s", tostring(r.err))
      local got = H.read(c.final)
      H.check(got and got:sub(1, #magic) == magic, "%s does not hold the new file", c.final)
      if before[c.shown]:find("^symbolic link") then
        H.check(after[c.shown]:find("^symbolic link"), "the symlink was replaced")
      end
    else
      H.check(not r.ok, "no error raised")
      local err = tostring(r.err)
      for _, piece in ipairs(outcome) do
        H.check(err:find(piece, 1, true), "error %q lacks %q", err, piece)
      end
      H.check(err:find("^[^\n]-test_hostile_targets%.lua:%d+: "),
              "the message does not start with this file's line: %s", err)
      H.eq(after[c.shown], before[c.shown], "the target")
    end
    H.eq(temps[c.dir] or 0, 0, "temporary files left in " .. c.dir)
    if extra then extra(c.dir, after) end
  end)
end

-- ---- options of the writers --------------------------------------------------------------

local case_n = 0
local option_rows = {
  {"save overwrite=false on an existing file", function(p) model:save(p, {overwrite = false}) end,
   {"exists", "overwrite = false"}, "old"},
  {"save overwrite=false on a new file", function(p) model:save(p, {overwrite = false}) end, nil},
  {"save overwrite='no' (a string)", function(p) model:save(p, {overwrite = "no"}) end,
   {"overwrite", "must be a boolean", "string"}},
  {"save overwrite=0", function(p) model:save(p, {overwrite = 0}) end, {"overwrite", "boolean"}},
  {"save include_optimizer='yes'", function(p) model:save(p, {include_optimizer = "yes"}) end,
   {"include_optimizer", "boolean"}},
  {"save save_format='tf'", function(p) model:save(p, {save_format = "tf"}) end,
   {"save_format 'tf' is not supported"}},
  {"save save_format=5", function(p) model:save(p, {save_format = 5}) end, {"save_format", "string"}},
  {"save signatures=...", function(p) model:save(p, {signatures = {}}) end, {"SavedModel"}},
  {"save with an unknown option", function(p) model:save(p, {overwrit = true}) end,
   {"unknown option 'overwrit'"}},
  {"save with options not a table", function(p) model:save(p, true) end, {"options must be a table"}},
  {"save to a number", function() model:save(42) end, {"expects a file path"}},
  {"save to an empty path", function() model:save("") end, {"expects a file path"}},
  {"save_weights overwrite=false on an existing file", function(p)
    model:save_weights(p, {overwrite = false}) end, {"exists"}, "old"},
  {"save_weights overwrite='false'", function(p) model:save_weights(p, {overwrite = "false"}) end,
   {"overwrite", "boolean"}},
  {"write_file overwrite=false on an existing file", function(p)
    ln.io.write_file(p, "new", {overwrite = false}) end, {"exists"}, "old"},
  {"write_file overwrite=1", function(p) ln.io.write_file(p, "new", {overwrite = 1}) end,
   {"overwrite", "true or false"}},
  {"write_file of a number", function(p) ln.io.write_file(p, 42) end, {"must be a string"}},
  {"write_file with an unknown option", function(p) ln.io.write_file(p, "x", {mode = 1}) end,
   {"unknown option 'mode'"}},
  {"save_npy of a table", function(p) ln.io.save_npy(p, {1, 2}) end, {"must be a tensor"}},
  {"save_npy to a path with NUL", function(p) ln.io.save_npy(p .. "\0x", ln.ones(2)) end, {"NUL"}},
  {"CSVLogger with filename 5", function() ln.callbacks.CSVLogger(5) end, {"filename"}},
  {"CSVLogger with an empty filename", function() ln.callbacks.CSVLogger("") end, {"filename"}},
  {"CSVLogger with separator 5", function(p) ln.callbacks.CSVLogger(p, 5) end, {"separator", "string"}},
  {"CSVLogger with an empty separator", function(p) ln.callbacks.CSVLogger(p, "") end, {"separator"}},
  {"CSVLogger with append='yes'", function(p) ln.callbacks.CSVLogger(p, ",", "yes") end,
   {"append", "true or false"}},
  {"ModelCheckpoint with filepath 5", function() ln.callbacks.ModelCheckpoint(5) end, {"filepath"}},
  {"ModelCheckpoint with a bad format spec", function() ln.callbacks.ModelCheckpoint("c-{epoch:02q}.h5") end,
   {"the format '02q' of field 'epoch'"}},
  {"ModelCheckpoint with a '{' unclosed", function() ln.callbacks.ModelCheckpoint("c-{epoch.h5") end,
   {"without its '}'"}},
  {"ModelCheckpoint with a stray '}'", function() ln.callbacks.ModelCheckpoint("c-}.h5") end,
   {"without its '{'"}},
  {"ModelCheckpoint with a positional field", function() ln.callbacks.ModelCheckpoint("c-{}.h5") end,
   {"is not a field lunet can fill"}},
  {"ModelCheckpoint naming a missing log", function(p)
    model:fit(x, y, {epochs = 1, verbose = 0,
                     callbacks = {ln.callbacks.ModelCheckpoint(p .. "-{val_loss:.2f}")}})
  end, {"needs 'val_loss'", "the logs do not have"}},
  {"ModelCheckpoint with save_freq=10", function(p) ln.callbacks.ModelCheckpoint(p, {save_freq = 10}) end,
   {"save_freq"}},
}

for _, r in ipairs(option_rows) do
  test(r[1], function()
    case_n = case_n + 1
    local p = H.tmp("opt" .. case_n .. ".out")
    if r[4] then H.write(p, r[4]) end
    if r[3] == nil then
      r[2](p)
      H.check(H.read(p) ~= nil, "nothing written")
    else
      local before = H.read(p)
      local err = H.raises(function() r[2](p) end, table.unpack(r[3]))
      H.check(err:find("^[^\n]-test_hostile_targets%.lua:%d+: "),
              "the message does not start with this file's line: %s", err)
      H.eq(H.read(p), before, "the file changed")
    end
  end)
end

-- ---- formats of ModelCheckpoint file names -----------------------------------------------------

local formats = {
  {"ck-{epoch:02d}.h5", {epoch = 3}, "ck-03.h5"},
  {"ck-{epoch}.h5", {epoch = 3}, "ck-3.h5"},
  {"ck-{epoch:03d}-{val_loss:.2f}.h5", {epoch = 12, val_loss = 0.123456}, "ck-012-0.12.h5"},
  {"ck-{loss:.4e}.h5", {epoch = 1, loss = 1234.5}, "ck-1.2345e+03.h5"},
  {"ck-{acc:.1%}.h5", {epoch = 1, acc = 0.9876}, "ck-98.8%.h5"},
  {"ck-{loss}.h5", {epoch = 1, loss = 0.5}, "ck-0.5.h5"},
  {"ck-{loss:.3g}.h5", {epoch = 1, loss = 0.000123456}, "ck-0.000123.h5"},
  {"ck-{epoch:x}.h5", {epoch = 255}, "ck-ff.h5"},
  {"{{braces}}-{epoch}.h5", {epoch = 2}, "{braces}-2.h5"},
  {"ck-{val_loss:.2f}.h5", {epoch = 1, val_loss = 0 / 0}, "ck-nan.h5"},
  {"ck-{val_loss:02d}.h5", {epoch = 1, val_loss = math.huge}, "ck-inf.h5"},
  {"ck-{epoch:+d}.h5", {epoch = 4}, "ck-+4.h5"},
}
for _, f in ipairs(formats) do
  test("ModelCheckpoint file name " .. f[1], function()
    local cb = require "lunet.callbacks"
    local logs = {}
    for k, v in pairs(f[2]) do if k ~= "epoch" then logs[k] = v end end
    H.eq(cb.format_path(f[1], f[2].epoch, logs), f[3], "file name")
  end)
end

-- ---- CSVLogger write errors (ulimit -f) -----------------------------------------------------------

test("CSVLogger raises when its file cannot be written (a file-size limit)", function()
  local p = H.tmp("limited.csv")
  local rc, out = H.child(string.format([[
    local ln = require "lunet"
    local m = ln.Sequential{ln.layers.Dense{3, input_shape = {4}, activation = "softmax"}}
    m:compile{loss = "sparse_categorical_crossentropy", optimizer = "sgd"}
    local x, y = ln.rand(8, 4), ln.tensor({0, 1, 2, 0, 1, 2, 0, 1}, "int32")
    local ok, err = pcall(m.fit, m, x, y, {epochs = 400, verbose = 0,
                                           callbacks = {ln.callbacks.CSVLogger(%q)}})
    print(ok, err)
  ]], p), {ulimit = "ulimit -f 8"})
  H.check(out:find("false\t[^\n]-child_%d+%.lua:%d+: CSVLogger: [^\n]*limited%.csv: cannot write"),
          "fit did not raise the write error: %s", out)
  H.eq(rc, 0, "exit code")
  local got = H.read(p) or ""
  H.check(#got > 0 and got:sub(-1) == "\n", "the log must end with a whole row: %q", got:sub(-80))
end)

test("CSVLogger append keeps the old log and writes no second header", function()
  local p = H.tmp("append.csv")
  local cb = function() return ln.callbacks.CSVLogger(p, ",", true) end
  model:fit(x, y, {epochs = 2, verbose = 0, callbacks = {cb()}})
  model:fit(x, y, {epochs = 1, verbose = 0, callbacks = {cb()}})
  local text = H.read(p)
  H.eq(select(2, text:gsub("epoch,", "")), 1, "headers")
  H.eq(select(2, text:gsub("\n", "")), 4, "lines")
end)

test("CSVLogger append onto a FIFO is refused without blocking", function()
  local p = H.tmp("append_fifo.csv")
  os.execute("mkfifo " .. q(p))
  H.raises(function()
    model:fit(x, y, {epochs = 1, verbose = 0, callbacks = {ln.callbacks.CSVLogger(p, ",", true)}})
  end, "CSVLogger", "FIFO")
end)

H.finish()
