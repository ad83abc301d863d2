#!/usr/bin/env bash
# Windows: the same sources cross-compiled with mingw-w64 (cmake/mingw-w64.cmake: the -posix
# compilers, -static) and run under wine, -Wall -Wextra -Wpedantic -Werror. Builds the examples
# and the portable test areas, then runs those tests through ctest (CMAKE_CROSSCOMPILING_EMULATOR
# = wine). A test area is portable when its tests/test_<area>.cpp includes "platform.hpp" (the
# test-side shim, see its comment): porting a file makes it join this stage. A test wine or
# Windows cannot do reports itself skipped, with its reason; the skips are listed at the end.
#
# A persistent wineserver (wineserver -p) brings each wine start from ~0.6 s to ~0.03 s; it is
# stopped when the stage ends, whatever happens. Wine keeps its own prefix under the build root.
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

section "build (mingw-w64, static)"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$PYSOCK_ROOT/cmake/mingw-w64.cmake" \
    -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_STANDARD_REQUIRED=ON -DCMAKE_CXX_EXTENSIONS=OFF \
    -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O2 -DPYSOCK_WERROR=ON
targets=(examples)
regex=""
for area in "${WINDOWS_TEST_AREAS[@]}"; do
    targets+=("test_$area")
    regex+="${regex:+|}$area"
done
step cmake --build "$B" -j "$PYSOCK_JOBS" --target "${targets[@]}"

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
step ctest --test-dir "$B" --output-on-failure --no-tests=error -j "$PYSOCK_JOBS" -R "^test_($regex)\$" || rc=$?

section "skipped, with the reason (the 'wine 8:' ones run on real Windows)"
grep -h '\[pysock\] SKIPPED' "$B/Testing/Temporary/LastTest.log" | sort -u || echo "(none)"
section "test areas not built for Windows (POSIX-only code, not yet ported to tests/platform.hpp)"
for f in "$PYSOCK_ROOT"/tests/test_*.cpp; do
    area=$(basename "$f" .cpp); area=${area#test_}
    [[ " ${WINDOWS_TEST_AREAS[*]} " == *" $area "* ]] || echo "  test_$area"
done
exit $rc
