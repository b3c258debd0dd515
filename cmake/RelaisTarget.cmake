# relais_defaults(<target>): warnings as errors and common settings for our own code.
function(relais_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers
    # GCC 12 reports a false mismatched-new-delete on Asio awaitable frames.
    -Wno-mismatched-new-delete)
  target_compile_features(${target} PUBLIC cxx_std_20)
  if(RELAIS_FUZZ)
    # clang warns where GCC does not: visible, not fatal, in the fuzz build only.
    target_compile_options(${target} PRIVATE -Wno-error)
  endif()
endfunction()

# relais_library(<name> SOURCES ... DEPS ...): libs/<name> as relais_<name>, alias relais::<name>.
function(relais_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(relais_${name} STATIC ${ARG_SOURCES})
  add_library(relais::${name} ALIAS relais_${name})
  target_include_directories(relais_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(relais_${name} PUBLIC ${ARG_DEPS})
  relais_defaults(relais_${name})
endfunction()
