--- ln.Sequential: the Keras Sequential model (lunet.models.Sequential).
-- This module exists so that `ln.Sequential{...}` works through lunet's
-- lazy submodule loading; everything lives in lunet.models.
return require("lunet.models").Sequential
