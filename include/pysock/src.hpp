// SPDX-License-Identifier: MIT
// pysock: the bodies of socket.hpp and selectors.hpp, for separate compilation mode.
//
// With PYSOCK_SEPARATE_COMPILATION defined in every translation unit of a program, the pysock
// headers give declarations only; include this file in exactly ONE .cpp of the program (the
// CMake target pysock::compiled and Meson's pysock_compiled_dep are that .cpp, ready-made):
//
//     // pysock.cpp
//     #include <pysock/src.hpp>
//
// Compiled without PYSOCK_SEPARATE_COMPILATION it is an error: in the default (header-only)
// mode there is nothing to compile separately.
#ifndef PYSOCK_SRC_HPP
#define PYSOCK_SRC_HPP

#if !defined(PYSOCK_SEPARATE_COMPILATION)
#error "pysock/src.hpp is for separate compilation: define PYSOCK_SEPARATE_COMPILATION everywhere"
#endif

#define PYSOCK_SOURCE
#include <pysock/socket.hpp>
#include <pysock/selectors.hpp>

#endif  // PYSOCK_SRC_HPP
