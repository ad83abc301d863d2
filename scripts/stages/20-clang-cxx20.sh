#!/usr/bin/env bash
# clang++ in C++20 (debug build), -Wall -Wextra -Wpedantic -Werror: CMake + Ninja build of the
# tests, examples and benchmarks, then every test through ctest. This stage also switches the
# timeout machinery to CPython's (PYSOCK_KERNEL_TIMEOUTS=0: O_NONBLOCK + poll when a call would
# block), the path macOS and the BSDs take, so both machineries pass the whole suite; the other
# stages test Linux's default, the kernel timers.
# Every test, example and benchmark is built in separate compilation mode (against
# pysock::compiled: PYSOCK_SEPARATE_COMPILATION, the bodies compiled once), so both modes pass
# the whole suite. It also type-checks kqueue_selector against the kqueue API as documented
# (no BSD here).
# packages: clang doctest-dev libbenchmark-dev libasio-dev netbase iproute2 libssl-dev openssl
set -euo pipefail
# shellcheck source=scripts/stages/common.sh
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/clang-cxx20"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=20 -DCMAKE_CXX_STANDARD_REQUIRED=ON \
    -DCMAKE_CXX_EXTENSIONS=OFF -DCMAKE_BUILD_TYPE=Debug -DPYSOCK_WERROR=ON \
    "-DCMAKE_CXX_FLAGS=-DPYSOCK_KERNEL_TIMEOUTS=0" -DPYSOCK_OWN_SEPARATE_COMPILATION=ON \
    -DPYSOCK_SSL=ON
step cmake --build "$B" -j "$PYSOCK_JOBS"
run_ctest "$B"

section "kqueue_selector type-check (no kqueue on Linux: declarations from kqueue(2), see tests/compile_only/sys/event.h)"
step clang++ -std=c++20 -Wall -Wextra -Wpedantic -Werror -I"$PYSOCK_ROOT/include" \
    -I"$PYSOCK_ROOT/tests/compile_only" -fsyntax-only "$PYSOCK_ROOT/tests/compile_only/kqueue_selector.cpp"
