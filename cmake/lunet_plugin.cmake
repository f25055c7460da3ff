# lunet_add_plugin(<target> <source>...): a plugin MODULE library linked to
# lunet (the core and the engine, whose layer accessors plugins call), with
# only its entry symbols exported. Used for the in-tree plugins and by
# out-of-tree ones after find_package(lunet).
function(lunet_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE lunet::nn)
  set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden)
endfunction()
