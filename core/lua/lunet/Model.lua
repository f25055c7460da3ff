--- ln.Model{inputs = ..., outputs = ..., name = ...}: a functional model
-- (lunet.functional.Model; this module makes `ln.Model` resolve through
-- lunet's lazy submodule loading).
return require("lunet.functional").Model
