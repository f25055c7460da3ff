--- lunet.display: rich output and interrupts for a front end (the Jupyter
-- kernel, `lunet-kernel`). Outside a front end every function here is a
-- no-op or the plain terminal answer, so scripts behave as before.
--
--   ln.display.image("curves.png")     -- shown inline in a notebook
--   ln.display.show(value)             -- any value, as text (tostring)
--   ln.display.active()                -- true inside a notebook
--
-- Who calls it: ln.plot.* after writing a figure (display.image), fit and
-- the progress bars (display.isatty: in a notebook the bar is redrawn in
-- place, as Keras's is; display.interrupted: fit stops at a batch boundary
-- when the user interrupts the kernel). Anything that writes an image file
-- (a future ln.utils.plot_model) calls display.image(path) the same way.
--
-- A front end installs itself with display.attach(frontend), a table of:
--   publish(bundle, metadata)  show a MIME bundle {["image/png"] = bytes,
--                              ["text/plain"] = "..."}; binary types are
--                              raw bytes (the front end encodes them)
--   interrupted()              true once when the user asked to stop
--   busy()                     a to-be-closed guard: while it is open, an
--                              interrupt waits for the holder to call
--                              interrupted() (fit: at the next batch)
--   run_seconds                the longest run of batches fit makes in C
--                              before it looks at interrupted() again
local display = {}

local frontend = nil

--- Installs (or, with nil, removes) the front end.
function display.attach(fe)
  frontend = fe
end

--- Whether a front end (a notebook) shows the output.
function display.active()
  return frontend ~= nil
end

--- Whether output written to fd 1 (stdout) or 2 (stderr) reaches something
-- that redraws a line on "\r" and "\b": a terminal, or a notebook cell.
function display.isatty(fd)
  if frontend then return fd == 1 or fd == 2 end
  return require("lunet.core").isatty(fd)
end

--- Shows a MIME bundle; false when there is no front end.
function display.publish(bundle, metadata)
  if not frontend then return false end
  frontend.publish(bundle, metadata or {})
  return true
end

local IMAGE_TYPES = {png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg",
                     gif = "image/gif", svg = "image/svg+xml"}

--- Shows the image file `path` inline (PNG, JPEG, GIF or SVG, by its
-- extension). Returns true when it was shown, false without a front end
-- or for another kind of file; an unreadable file is an error.
function display.image(path)
  if not frontend then return false end
  local ext = tostring(path):match("%.(%w+)$")
  local mime = ext and IMAGE_TYPES[ext:lower()]
  if not mime then return false end
  local f, err = io.open(path, "rb")
  if not f then error("display.image: " .. tostring(err), 2) end
  local bytes = f:read("a")
  f:close()
  return display.publish({[mime] = bytes, ["text/plain"] = "<image " .. path .. ">"})
end

--- Shows a value as text (its __tostring, as print shows it).
function display.show(value)
  return display.publish({["text/plain"] = tostring(value)})
end

--- True once after the user interrupted the kernel (consumes the request).
function display.interrupted()
  return frontend ~= nil and frontend.interrupted() or false
end

--- A guard for `local g <close> = display.busy()`: while it is open, an
-- interrupt waits until the holder checks display.interrupted(). nil (no
-- guard) without a front end.
function display.busy()
  return frontend and frontend.busy() or nil
end

--- The longest time fit may spend in one run of batches in C before it
-- returns to Lua (and checks interrupted()); nil: no limit.
function display.run_seconds()
  return frontend and frontend.run_seconds or nil
end

return display
