# Included by the CMake consumers: pysock, pulled in as a dependency, must build nothing of its
# own (no tests, examples, benchmarks) and must not turn its warning flags on for the consumer.
# PYSOCK_DIR: pysock's source directory as the consumer added it.
foreach(opt IN ITEMS PYSOCK_BUILD_TESTS PYSOCK_BUILD_EXAMPLES PYSOCK_BUILD_BENCHMARKS PYSOCK_WERROR)
  if(${opt})
    message(FATAL_ERROR "${opt} is ON in a consumer's build")
  endif()
endforeach()
foreach(t IN ITEMS pysock_warnings pysock_doctest_main pysock_doctest)
  if(TARGET ${t})
    message(FATAL_ERROR "pysock defined its internal target ${t} in a consumer's build")
  endif()
endforeach()
get_property(_subdirs DIRECTORY "${PYSOCK_DIR}" PROPERTY SUBDIRECTORIES)
if(_subdirs)
  message(FATAL_ERROR "pysock added subdirectories in a consumer's build: ${_subdirs}")
endif()
# pysock (header-only) and pysock_compiled (separate compilation: EXCLUDE_FROM_ALL, so built
# only for a consumer that links pysock::compiled), nothing else.
get_property(_targets DIRECTORY "${PYSOCK_DIR}" PROPERTY BUILDSYSTEM_TARGETS)
if(NOT _targets STREQUAL "pysock;pysock_compiled")
  message(FATAL_ERROR "pysock defined targets other than pysock and pysock_compiled in a consumer's build: ${_targets}")
endif()
get_property(_excluded TARGET pysock_compiled PROPERTY EXCLUDE_FROM_ALL)
if(NOT _excluded)
  message(FATAL_ERROR "pysock_compiled is built by default in a consumer's build")
endif()
message(STATUS "pysock consumer: pysock builds no tests, examples or benchmarks here")
