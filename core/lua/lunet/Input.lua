--- ln.Input{shape = ..., name = ...}: a symbolic input of a functional
-- model (lunet.functional.Input; this module makes `ln.Input` resolve
-- through lunet's lazy submodule loading).
return require("lunet.functional").Input
