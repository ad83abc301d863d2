#!/usr/bin/env bash
# The whole suite under ThreadSanitizer, with clang: the server helper, every test with threads,
# the threaded examples. Any data race report fails the test (halt_on_error).
# packages: clang libclang-rt-14-dev doctest-dev netbase iproute2 libssl-dev openssl
set -euo pipefail
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/tsan"
SAN="-fsanitize=thread"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 -DCMAKE_BUILD_TYPE= \
    "-DCMAKE_CXX_FLAGS=-O1 -g $SAN" "-DCMAKE_EXE_LINKER_FLAGS=$SAN" \
    -DPYSOCK_WERROR=ON -DPYSOCK_BUILD_BENCHMARKS=OFF -DPYSOCK_SSL=ON
step cmake --build "$B" -j "$PYSOCK_JOBS"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
run_ctest "$B" -LE consistency
