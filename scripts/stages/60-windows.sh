#!/usr/bin/env bash
# Windows: the same sources cross-compiled with mingw-w64 (cmake/mingw-w64.cmake: the -posix
# compilers, -static) and run under wine, -Wall -Wextra -Wpedantic -Werror. Builds the examples,
# the benchmarks and the portable test areas, then runs those tests through ctest
# (CMAKE_CROSSCOMPILING_EMULATOR = wine), then runs every benchmark program once, briefly, under
# wine (a smoke run: it proves they work on Winsock; figures under wine say nothing about Windows).
# Google Benchmark for mingw-w64 is built from Debian's source package by scripts/mingw-benchmark.sh
# (cached in the build root), or taken from PYSOCK_MINGW_BENCHMARK_DIR (its lib/cmake/benchmark).
# A test area is portable when its tests/test_<area>.cpp includes "platform.hpp" (the test-side
# shim, see its comment): porting a file makes it join this stage. A test wine or Windows cannot do
# reports itself skipped, with its reason; the skips are listed at the end.
#
# A persistent wineserver (wineserver -p) brings each wine start from ~0.6 s to ~0.03 s; it is
# stopped when the stage ends, whatever happens. Wine keeps its own prefix under the build root.
# packages: g++-mingw-w64-x86-64-posix wine wine64 meson dpkg-dev libbenchmark-dev doctest-dev libssl-dev
set -euo pipefail
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/mingw-w64"

# The test areas written to build and pass on Windows too: those whose file includes platform.hpp.
WINDOWS_TEST_AREAS=()
for f in "$PYSOCK_ROOT"/tests/test_*.cpp; do
    if grep -q '^#include "platform.hpp"' "$f"; then
        area=$(basename "$f" .cpp)
        WINDOWS_TEST_AREAS+=("${area#test_}")
    fi
done
[[ ${#WINDOWS_TEST_AREAS[@]} -gt 0 ]] || fail "no test file includes platform.hpp"

for tool in x86_64-w64-mingw32-g++-posix wine wineserver; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian: g++-mingw-w64-x86-64-posix wine wine64)"
done
export WINEDEBUG=-all                                   # no "fixme:" noise
export WINEPREFIX="${WINEPREFIX:-$PYSOCK_BUILD_ROOT/wineprefix}"
mkdir -p "$WINEPREFIX"

section "Google Benchmark for mingw-w64"
benchmark_dir=${PYSOCK_MINGW_BENCHMARK_DIR:-$(step "$PYSOCK_ROOT/scripts/mingw-benchmark.sh" "$PYSOCK_BUILD_ROOT")}
echo "benchmark_DIR=$benchmark_dir"

section "build (mingw-w64, static)"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$PYSOCK_ROOT/cmake/mingw-w64.cmake" \
    -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_STANDARD_REQUIRED=ON -DCMAKE_CXX_EXTENSIONS=OFF \
    -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O2 -DPYSOCK_WERROR=ON \
    -DPYSOCK_BUILD_BENCHMARKS=ON -Dbenchmark_DIR="$benchmark_dir"
targets=(examples pysock_bench pysock_rtt_driver pysock_peers)
regex=""
for area in "${WINDOWS_TEST_AREAS[@]}"; do
    targets+=("test_$area")
    regex+="${regex:+|}$area"
done
step cmake --build "$B" -j "$PYSOCK_JOBS" --target "${targets[@]}"

section "Meson cross build: examples and benchmarks (meson/mingw-w64.ini; the suites are built by CMake above)"
BM="$PYSOCK_BUILD_ROOT/mingw-w64-meson"
rm -rf "$BM"
step meson setup "$BM" "$PYSOCK_ROOT" --cross-file "$PYSOCK_ROOT/meson/mingw-w64.ini" -Dtests=disabled \
    -Dpkg_config_path="$benchmark_dir/../../pkgconfig" >"$PYSOCK_BUILD_ROOT/mingw-w64-meson.log"
grep -q 'Run-time dependency benchmark found: YES' "$PYSOCK_BUILD_ROOT/mingw-w64-meson.log" ||
    fail "meson did not find the mingw-w64 Google Benchmark (see $PYSOCK_BUILD_ROOT/mingw-w64-meson.log)"
step ninja -C "$BM" -j "$PYSOCK_JOBS"
for exe in bench/pysock_bench bench/pysock_rtt_driver bench/pysock_peer_pysock bench/pysock_peer_raw examples/echo_server; do
    [[ -f "$BM/$exe.exe" ]] || fail "meson built no $exe.exe"
done

section "tests under wine ($(wine --version))"
cleanup() { wineserver -k 2>/dev/null || true; }
trap cleanup EXIT
wineserver -k 2>/dev/null || true   # a server left over on this stage's own prefix
step wineserver -p
# Create or update the prefix and start wine's own services now, with their output going to a
# log: started from inside ctest they would keep the test's output pipe open until the timeout.
echo "+ wine wineboot --init  (output in $B/wineboot.log)"
wine wineboot --init >"$B/wineboot.log" 2>&1 </dev/null
rc=0
# The summary lists each skip with its reason (the "wine 8:" ones run on real Windows).
run_ctest "$B" -R "^test_($regex)\$" || rc=$?

section "test areas not built for Windows (POSIX-only code, not yet ported to tests/platform.hpp)"
for f in "$PYSOCK_ROOT"/tests/test_*.cpp; do
    area=$(basename "$f" .cpp); area=${area#test_}
    [[ " ${WINDOWS_TEST_AREAS[*]} " == *" $area "* ]] || echo "  test_$area"
done

section "ssl.hpp type-check for Windows (no OpenSSL for mingw-w64 in Debian: the TLS tests cannot run here)"
# The host's OpenSSL 3 headers, generic and x86_64 parts in one directory (never the rest of
# /usr/include, whose glibc headers would shadow mingw-w64's).
ossl="$B/openssl-headers/openssl"
rm -rf "$ossl" && mkdir -p "$ossl"
ln -s /usr/include/openssl/* "$ossl/"
ln -sf /usr/include/x86_64-linux-gnu/openssl/* "$ossl/"
step x86_64-w64-mingw32-g++-posix -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
    -I"$PYSOCK_ROOT/include" -I"$B/openssl-headers" "$PYSOCK_ROOT/tests/compile_only/ssl_windows.cpp" || rc=1

section "benchmarks under wine: each program once, briefly (a smoke run; the figures mean nothing)"
bench_rc=0
# Each run is bounded (timeout) so that a hang under wine fails the stage with a name, not the CI.
PYSOCK_BENCH_SECONDS=0.05 step timeout 300 wine "$B/bench/pysock_bench.exe" --benchmark_min_time=0.01 \
    --benchmark_out="$B/bench-smoke.json" --benchmark_out_format=json </dev/null >"$B/bench-smoke.txt" 2>&1 || bench_rc=$?
tail -n 12 "$B/bench-smoke.txt"
if [[ $bench_rc -eq 0 ]]; then
    step "$PYSOCK_ROOT/bench/check_smoke.py" "$B/bench-smoke.json" || bench_rc=$?
fi
# The AF_UNIX drivers are Linux-only (bench/endpoints.hpp).
for impl in pysock raw pysock_settimeout30 raw_poll30 pysock_udp raw_udp; do
    step timeout 60 wine "$B/bench/pysock_rtt_driver.exe" "$impl" 1000 </dev/null || bench_rc=$?
done
step "$PYSOCK_ROOT/bench/compare.py" --no-build --build "$B" --runner wine --no-python --quick || bench_rc=$?
[[ $bench_rc -eq 0 ]] || { echo "FAIL: a benchmark program failed under wine (exit $bench_rc)" >&2; rc=1; }
exit $rc
