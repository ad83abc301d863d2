#!/usr/bin/env bash
# g++ in C++17 at -O2 (the optimizer finds warnings -O0 misses), -Wall -Wextra -Wpedantic -Werror:
# CMake + Ninja build of the tests, examples and benchmarks, then every test through ctest.
# packages: g++ doctest-dev libbenchmark-dev libasio-dev netbase iproute2 libssl-dev openssl
set -euo pipefail
# shellcheck source=scripts/stages/common.sh
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/gcc-cxx17"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_STANDARD_REQUIRED=ON \
    -DCMAKE_CXX_EXTENSIONS=OFF -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O2 -DPYSOCK_WERROR=ON \
    -DPYSOCK_SSL=ON
step cmake --build "$B" -j "$PYSOCK_JOBS"
run_ctest "$B"
