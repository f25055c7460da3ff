# lunet_add_plugin(<target> <source>...): a plugin MODULE library linked to
# lunet (the core and the engine, whose layer accessors plugins call), with
# only its entry symbols exported, compiled with the flags lunet's own
# plugins get (LUNET_PLUGIN_C_OPTIONS) whatever the build type of the
# project around it: C11 with GNU extensions, -O2 (not in Debug builds),
# -fno-math-errno (so loops with sqrt vectorise) and -fno-trapping-math
# (so loops with selects do). Per-CPU loops come from LN_CLONES in the
# installed lunet/parallel.h. Used for the in-tree plugins and by
# out-of-tree ones after find_package(lunet).
set(LUNET_PLUGIN_C_OPTIONS $<$<NOT:$<CONFIG:Debug>>:-O2> -fno-math-errno
    -fno-trapping-math)

function(lunet_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE lunet::nn)
  target_compile_options(${target} PRIVATE ${LUNET_PLUGIN_C_OPTIONS})
  set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS ON)
endfunction()
