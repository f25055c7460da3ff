# lunet_add_plugin(<target> <source>...): a plugin MODULE library linked to
# the lunet core, with only its entry symbols exported. Used for the in-tree
# plugins and by out-of-tree ones after find_package(lunet).
function(lunet_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE lunet::lunet)
  set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden)
endfunction()
