--- lunet.backend: Keras's backend utilities that apply to lunet.
--
--   ln.backend.clear_session()  -- restart Keras names (dense, dense_1, ...)
local backend = {}

--- Forgets the name counters of layers and models, as Keras's
-- clear_session does: the next Dense is "dense" again.
function backend.clear_session()
  require("lunet.layers").reset_names()
end

--- lunet computes in float32.
function backend.floatx() return "float32" end

--- Keras's fuzz factor (1e-7), used by the losses' clipping.
function backend.epsilon() return 1e-7 end

return backend
