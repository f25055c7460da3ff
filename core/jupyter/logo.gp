# The kernel's logo (Jupyter shows it in the launcher): a navy disc with
# "ln" and a small orbiting moon, Lua's own picture. Regenerate with
#   gnuplot -e "size=64" logo.gp > logo-64x64.png
#   gnuplot -e "size=32" logo.gp > logo-32x32.png
if (!exists("size")) size = 64
set terminal pngcairo size size,size transparent truecolor font "DejaVu Sans Bold,".sprintf("%d", size * 0.33)
set output
unset border; unset tics; unset key
set margins 0,0,0,0
set size ratio -1
set xrange [-1:1]
set yrange [-1:1]
set object 1 circle at -0.1,-0.1 size 0.78 fc rgb "#1f3a93" fs solid noborder front
set object 2 circle at 0.66,0.66 size 0.22 fc rgb "#1f3a93" fs solid noborder front
set object 3 circle at 0.3,0.3 size 0.17 fc rgb "#ffffff" fs solid noborder front
set label 1 "ln" at -0.16,-0.2 center tc rgb "#ffffff" front
plot NaN notitle
