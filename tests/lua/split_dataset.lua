-- The seed's split_dataset, as a user writes it in Lua (shared by
-- test_datasets.lua and test_datasets_debian.lua): task A = the 8 classes
-- other than 5 (sandal) and 6 (shirt), labels mapped to 0..7; task B =
-- "is it a shirt?" on sandals and shirts.
return function(X, y)
  local y_5_or_6 = y:eq(5) | y:eq(6)          -- sandals or shirts
  local y_A = y[~y_5_or_6]
  y_A[y_A:gt(6)] = y_A[y_A:gt(6)] - 2         -- classes 7, 8, 9 -> 5, 6, 7
  local y_B = y[y_5_or_6]:eq(6):float()       -- binary: is it a shirt?
  return {X[~y_5_or_6], y_A}, {X[y_5_or_6], y_B}
end
