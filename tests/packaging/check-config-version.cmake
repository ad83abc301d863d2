# cmake -DFILE=<prefix>/share/cmake/pysock/pysockConfigVersion.cmake -DVERSION=1.0.0 -P check-config-version.cmake
# Asks the installed version file what find_package would ask it: SameMajorVersion (any 1.x at or
# below the installed version, never 0.x or 2.x) and ARCH_INDEPENDENT (a 32-bit consumer may use
# the files a 64-bit build installed: pysock is header-only).
cmake_minimum_required(VERSION 3.14)
string(REPLACE "." ";" _v "${VERSION}")
list(GET _v 0 _major)
list(GET _v 1 _minor)
math(EXPR _next_minor "${_minor} + 1")
math(EXPR _next_major "${_major} + 1")
math(EXPR _prev_major "${_major} - 1")

set(_failures 0)
function(expect wanted pointer_size compatible)
  set(PACKAGE_FIND_NAME pysock)
  set(PACKAGE_FIND_VERSION "${wanted}")
  string(REPLACE "." ";" _w "${wanted}")
  list(GET _w 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET _w 1 PACKAGE_FIND_VERSION_MINOR)
  set(PACKAGE_FIND_VERSION_RANGE FALSE)
  set(CMAKE_SIZEOF_VOID_P ${pointer_size})
  include("${FILE}")
  if(PACKAGE_VERSION_COMPATIBLE AND NOT PACKAGE_VERSION_UNSUITABLE)
    set(got TRUE)
  else()
    set(got FALSE)
  endif()
  if(got STREQUAL compatible)
    message(STATUS "ok    find_package(pysock ${wanted}), ${pointer_size}-byte pointers: compatible=${got}")
  else()
    message(STATUS "FAIL  find_package(pysock ${wanted}), ${pointer_size}-byte pointers: compatible=${got}, expected ${compatible}")
    math(EXPR n "${_failures} + 1")
    set(_failures ${n} PARENT_SCOPE)
  endif()
endfunction()

expect("${_major}.0" 8 TRUE)
expect("${_major}.${_minor}" 8 TRUE)
expect("${_major}.0" 4 TRUE)                    # ARCH_INDEPENDENT
expect("${_major}.${_next_minor}" 8 FALSE)      # newer than installed
expect("${_next_major}.0" 8 FALSE)              # SameMajorVersion
if(_prev_major GREATER_EQUAL 0)
  expect("${_prev_major}.0" 8 FALSE)
endif()
if(_failures GREATER 0)
  message(FATAL_ERROR "${FILE}: ${_failures} wrong answer(s)")
endif()
