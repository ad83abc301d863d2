#!/usr/bin/env bash
# Packaging consumers: the tiny program in tests/packaging/ (socketpair, send, receive, compare,
# exit 0) built and run every way a user gets pysock:
#   1. copy only socket.hpp next to main.cpp: c++ -std=c++17 main.cpp -pthread
#   2. CMake add_subdirectory, and FetchContent (offline: FETCHCONTENT_SOURCE_DIR_PYSOCK), checking
#      that pysock builds none of its tests/examples/benchmarks for the consumer
#   3. cmake --install to a prefix, MOVE the prefix, find_package(pysock 1.0 CONFIG REQUIRED);
#      2.0 must be refused (SameMajorVersion)
#   4. pkg-config, from the CMake-installed and the Meson-installed pysock.pc (diffed: identical)
#   5. Meson: as a subproject (dependency fallback to pysock_dep) and from the installed pysock.pc
#   6. pysock::ssl (ssl.hpp over OpenSSL 3): the copied headers with -lssl -lcrypto,
#      find_package(pysock COMPONENTS ssl) from the moved prefix, and Meson's pysock_ssl_dep from
#      pysock as a subproject
# packages: g++ meson pkg-config doctest-dev libssl-dev
set -euo pipefail
# shellcheck source=scripts/stages/common.sh
. "$(dirname "$0")/common.sh"

SRC="$PYSOCK_ROOT"
PKG="$SRC/tests/packaging"
W="$PYSOCK_BUILD_ROOT/consumers"
VERSION=$(cat "$SRC/VERSION")
rm -rf "$W"
mkdir -p "$W"

# The program prints "pysock X.Y.Z: received b'hello from pysock'"; check the version too.
run_app() {
    local out
    out=$(step "$@")
    echo "$out"
    [[ "$out" == *"pysock $VERSION: received b'hello from pysock'"* ]] || fail "unexpected output from $*"
}

# No test, example or benchmark of pysock's may be among a consumer build's targets: the only
# object file a consumer build compiles is its own main.cpp (pysock itself is header-only).
check_no_pysock_extras() {
    local objects
    # What the build compiled (pysock::compiled is EXCLUDE_FROM_ALL: listed, never built here).
    objects=$(cd "$1" && find . -name '*.o' -o -name '*.obj' | sed 's|^\./||' | sort)
    [[ "$objects" == */main.cpp.o && $(echo "$objects" | wc -l) -eq 1 ]] ||
        fail "the consumer $1 compiles more than its main.cpp: $objects"
    echo "ok: the consumer compiles only its own main.cpp ($objects)"
}

section "1. copy the header: c++ -std=c++17 main.cpp -pthread"
mkdir "$W/copy-header"
cp "$SRC/include/pysock/socket.hpp" "$PKG/copy-header/main.cpp" "$W/copy-header/"
(
    cd "$W/copy-header"
    step c++ -std=c++17 main.cpp -pthread
    run_app ./a.out
    # and warning-free for the user who compiles with warnings
    step c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror main.cpp -pthread -o app-warnings
    run_app ./app-warnings
    # and without the server section (PYSOCK_WITH_SERVER=0), so that switch cannot rot
    step c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -DPYSOCK_WITH_SERVER=0 main.cpp -pthread -o app-no-server
    run_app ./app-no-server
)
section "1b. copy the two headers, socket.hpp and selectors.hpp: c++ -std=c++17 event_loop.cpp -pthread"
mkdir "$W/copy-headers"
cp "$SRC/include/pysock/socket.hpp" "$SRC/include/pysock/selectors.hpp" "$PKG/copy-header/event_loop.cpp" "$W/copy-headers/"
(
    cd "$W/copy-headers"
    step c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror event_loop.cpp -pthread
    run_app ./a.out
)

section "2a. CMake add_subdirectory"
step cmake -S "$PKG/add-subdirectory" -B "$W/add-subdirectory" -G Ninja -DPYSOCK_SOURCE_DIR="$SRC"
step cmake --build "$W/add-subdirectory" -j "$PYSOCK_JOBS"
run_app "$W/add-subdirectory/app"
check_no_pysock_extras "$W/add-subdirectory"

section "2b. CMake FetchContent (offline, pointed at this source tree)"
step cmake -S "$PKG/fetchcontent" -B "$W/fetchcontent" -G Ninja \
    -DFETCHCONTENT_SOURCE_DIR_PYSOCK="$SRC" -DFETCHCONTENT_FULLY_DISCONNECTED=ON
step cmake --build "$W/fetchcontent" -j "$PYSOCK_JOBS"
run_app "$W/fetchcontent/app"
check_no_pysock_extras "$W/fetchcontent"

section "3. cmake --install, move the prefix, find_package(pysock 1.0 CONFIG REQUIRED)"
step cmake -S "$SRC" -B "$W/install-build" -G Ninja -DCMAKE_INSTALL_LIBDIR=lib \
    -DPYSOCK_BUILD_TESTS=OFF -DPYSOCK_BUILD_EXAMPLES=OFF -DPYSOCK_BUILD_BENCHMARKS=OFF
step cmake --install "$W/install-build" --prefix "$W/prefix-installed"
expected="include/pysock/selectors.hpp
include/pysock/socket.hpp
include/pysock/src.hpp
include/pysock/ssl.hpp
share/cmake/pysock/pysockConfig.cmake
share/cmake/pysock/pysockConfigVersion.cmake
share/cmake/pysock/pysockSslTargets.cmake
share/cmake/pysock/pysockTargets.cmake
share/pkgconfig/pysock.pc"
installed=$(cd "$W/prefix-installed" && find . -type f | sed 's|^\./||' | sort)
[[ "$installed" == "$expected" ]] || fail "cmake --install installed:
$installed
expected:
$expected"
echo "ok: cmake --install installed exactly:"
while IFS= read -r f; do echo "  $f"; done <<<"$installed"
cmp "$SRC/include/pysock/socket.hpp" "$W/prefix-installed/include/pysock/socket.hpp"
cmp "$SRC/include/pysock/selectors.hpp" "$W/prefix-installed/include/pysock/selectors.hpp"
step cmake -DFILE="$W/prefix-installed/share/cmake/pysock/pysockConfigVersion.cmake" -DVERSION="$VERSION" \
    -P "$PKG/check-config-version.cmake"
step mv "$W/prefix-installed" "$W/prefix"
if grep -rl "prefix-installed" "$W/prefix"; then
    fail "the installed files above name the original prefix: not relocatable"
fi
step cmake -S "$PKG/find-package" -B "$W/find-package" -G Ninja -DCMAKE_PREFIX_PATH="$W/prefix"
step cmake --build "$W/find-package" -j "$PYSOCK_JOBS"
run_app "$W/find-package/app"
echo "+ find_package(pysock 2.0 CONFIG REQUIRED) must fail (SameMajorVersion):"
if cmake -S "$PKG/find-package" -B "$W/find-package-2.0" -G Ninja -DCMAKE_PREFIX_PATH="$W/prefix" \
        -DPYSOCK_WANTED_VERSION=2.0 >"$W/find-package-2.0.log" 2>&1; then
    cat "$W/find-package-2.0.log"
    fail "find_package(pysock 2.0) accepted version $VERSION"
fi
grep -q "pysockConfig.cmake, version: $VERSION" "$W/find-package-2.0.log" ||
    { cat "$W/find-package-2.0.log"; fail "find_package(pysock 2.0) failed for another reason"; }
echo "ok: refused, as it should be (found $VERSION)"

section "4. pkg-config: CMake's and Meson's pysock.pc"
step meson setup "$W/meson-install-build" "$SRC" --prefix "$W/meson-prefix-installed" --libdir lib \
    -Dtests=disabled -Dexamples=disabled -Dbenchmarks=disabled
step meson install -C "$W/meson-install-build"
step mv "$W/meson-prefix-installed" "$W/meson-prefix"
cmp "$SRC/include/pysock/socket.hpp" "$W/meson-prefix/include/pysock/socket.hpp"
cmp "$SRC/include/pysock/selectors.hpp" "$W/meson-prefix/include/pysock/selectors.hpp"
step diff -u "$W/prefix/share/pkgconfig/pysock.pc" "$W/meson-prefix/share/pkgconfig/pysock.pc"
echo "ok: CMake and Meson install the same pysock.pc:"
sed 's/^/  /' "$W/prefix/share/pkgconfig/pysock.pc"
for p in prefix meson-prefix; do
    export PKG_CONFIG_PATH="$W/$p/share/pkgconfig"
    v=$(step pkg-config --modversion pysock)
    [[ "$v" == "$VERSION" ]] || fail "pkg-config --modversion pysock says $v"
    flags=$(step pkg-config --cflags --libs pysock)
    echo "$flags"
    inc=$(tr ' ' '\n' <<<"$flags" | sed -n 's/^-I//p' | head -1)
    [[ -n "$inc" && "$(realpath "$inc")" == "$W/$p/include" ]] ||
        fail "pkg-config --cflags does not point into the moved prefix $W/$p"
    mkdir "$W/pkg-config-$p"
    cp "$PKG/main.cpp" "$W/pkg-config-$p/"
    (
        cd "$W/pkg-config-$p"
        # shellcheck disable=SC2046
        step c++ -std=c++17 main.cpp $(pkg-config --cflags --libs pysock) -o app
        run_app ./app
    )
    unset PKG_CONFIG_PATH
done

section "5a. Meson subproject: dependency('pysock', fallback: ['pysock', 'pysock_dep'])"
mkdir -p "$W/meson-consumer/subprojects"
cp "$PKG/meson/meson.build" "$PKG/main.cpp" "$W/meson-consumer/"
ln -s "$SRC" "$W/meson-consumer/subprojects/pysock"
step meson setup "$W/meson-subproject" "$W/meson-consumer" --force-fallback-for=pysock
step meson test -C "$W/meson-subproject" --print-errorlogs
run_app "$W/meson-subproject/app"
# pysock_compiled (separate compilation) is declared with build_by_default: false: built only
# for a consumer that uses pysock_compiled_dep.
extra=$(meson introspect --targets "$W/meson-subproject" |
        python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(sys.stdin) if t["name"] != "app" and t.get("build_by_default", True)))')
[[ -z "$extra" ]] || fail "the pysock subproject built targets of its own: $extra"
echo "ok: the subproject builds nothing but the consumer's app"

section "5b. Meson from the installed pysock.pc (no fallback allowed)"
step env PKG_CONFIG_PATH="$W/meson-prefix/share/pkgconfig" \
    meson setup "$W/meson-pkgconfig" "$W/meson-consumer" --wrap-mode=nofallback
grep -q "Run-time dependency pysock found: YES $VERSION" "$W/meson-pkgconfig/meson-logs/meson-log.txt" ||
    fail "meson did not find pysock $VERSION through pkg-config"
step meson test -C "$W/meson-pkgconfig" --print-errorlogs
run_app "$W/meson-pkgconfig/app"

section "6. pysock::ssl: copied headers + -lssl -lcrypto, find_package(pysock COMPONENTS ssl), Meson subproject"
# The program prints "pysock X.Y.Z ssl: [SSL: WRONG_VERSION_NUMBER] wrong version number (...)".
run_ssl_app() {
    local out
    out=$(step "$@")
    echo "$out"
    [[ "$out" == *"pysock $VERSION ssl: [SSL: WRONG_VERSION_NUMBER] wrong version number"* ]] ||
        fail "unexpected output from $*"
}
mkdir -p "$W/copy-ssl/pysock"
cp "$SRC/include/pysock/socket.hpp" "$SRC/include/pysock/ssl.hpp" "$W/copy-ssl/pysock/"
cp "$PKG/ssl_main.cpp" "$W/copy-ssl/"
(
    cd "$W/copy-ssl"  # the two headers copied into the project's pysock/ directory
    step c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -I. ssl_main.cpp -pthread -lssl -lcrypto
    run_ssl_app ./a.out
)
step cmake -S "$PKG/find-package-ssl" -B "$W/find-package-ssl" -G Ninja -DCMAKE_PREFIX_PATH="$W/prefix"
step cmake --build "$W/find-package-ssl" -j "$PYSOCK_JOBS"
run_ssl_app "$W/find-package-ssl/app_ssl"
mkdir -p "$W/meson-ssl-consumer/subprojects"
cp "$PKG/meson-ssl/meson.build" "$PKG/ssl_main.cpp" "$W/meson-ssl-consumer/"
ln -s "$SRC" "$W/meson-ssl-consumer/subprojects/pysock"
step meson setup "$W/meson-ssl-subproject" "$W/meson-ssl-consumer" --force-fallback-for=pysock-ssl
step meson test -C "$W/meson-ssl-subproject" --print-errorlogs
run_ssl_app "$W/meson-ssl-subproject/app_ssl"

section "all consumers built and ran"
