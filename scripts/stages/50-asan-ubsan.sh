#!/usr/bin/env bash
# The whole suite (tests and the examples' end-to-end runs) under AddressSanitizer +
# UndefinedBehaviorSanitizer, with clang. Any report fails the run: UBSan does not recover,
# ASan's leak checker is on, and a report makes the test executable exit non-zero.
# packages: clang libclang-rt-14-dev doctest-dev netbase iproute2 libssl-dev openssl
set -euo pipefail
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/asan-ubsan"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 -DCMAKE_BUILD_TYPE= \
    "-DCMAKE_CXX_FLAGS=-O1 -g $SAN" "-DCMAKE_EXE_LINKER_FLAGS=$SAN" \
    -DPYSOCK_WERROR=ON -DPYSOCK_BUILD_BENCHMARKS=OFF -DPYSOCK_SSL=ON
step cmake --build "$B" -j "$PYSOCK_JOBS"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_ctest "$B" -LE consistency
