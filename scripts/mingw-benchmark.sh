#!/usr/bin/env bash
# Google Benchmark for Windows, so bench/ builds with mingw-w64 like everything else.
#
#   scripts/mingw-benchmark.sh [BUILD_ROOT]     prints the directory to pass as -Dbenchmark_DIR=...
#
# Debian ships Google Benchmark for the host only (libbenchmark-dev). This builds the same version
# with the repository's mingw-w64 toolchain (cmake/mingw-w64.cmake: static, -posix threads) from
# Debian's own source package, fetched with `apt-get source` from the archive the machine already
# uses. The system's apt configuration is left alone: the deb-src entries and package lists live in
# a private directory under BUILD_ROOT (default: $PYSOCK_BUILD_ROOT, else build/). The build is
# cached there by version. Nothing of it enters the repository.
#
# Needs: g++-mingw-w64-x86-64-posix, cmake, ninja-build, dpkg-dev (dpkg-source applies Debian's
# patches), libbenchmark-dev (for the version to build). scripts/test installs them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_ROOT=${1:-${PYSOCK_BUILD_ROOT:-$ROOT/build}}
mkdir -p "$BUILD_ROOT"
BUILD_ROOT=$(cd "$BUILD_ROOT" && pwd)

die() {
    echo "scripts/mingw-benchmark.sh: $*" >&2
    exit 1
}

# The version the host has, so both builds of bench/ use the same Google Benchmark.
version=$(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null) ||
    die "libbenchmark-dev is not installed (apt-get install libbenchmark-dev)"
source_pkg=$(dpkg-query -W -f='${source:Package}' libbenchmark-dev)
WORK="$BUILD_ROOT/mingw-benchmark/$source_pkg-$version"
PREFIX="$WORK/prefix"
CONFIG_DIR="$PREFIX/lib/cmake/benchmark"
if [[ -f "$CONFIG_DIR/benchmarkConfig.cmake" ]]; then
    echo "$CONFIG_DIR"
    exit 0
fi
for tool in x86_64-w64-mingw32-g++-posix cmake ninja dpkg-source; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: g++-mingw-w64-x86-64-posix cmake ninja-build dpkg-dev)"
done

rm -rf "$WORK"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/parts" "$WORK/apt/cache/archives/partial" "$WORK/src"
LOG="$WORK/build.log"

# deb-src twins of the machine's own Debian entries (deb822 .sources files and one-line .list files).
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
    sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$WORK/apt/parts/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] && sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$WORK/apt/parts/$(basename "$f").list"
done
shopt -u nullglob
apt_private=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$WORK/apt/parts"
             -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
             -o "APT::Sandbox::User=$(id -un)")

echo "scripts/mingw-benchmark.sh: building Google Benchmark $version for mingw-w64 in $WORK (log: $LOG)" >&2
# (set -e does not apply inside a command list tested by ||: each step is chained with &&.)
{
    apt-get "${apt_private[@]}" update &&
        cd "$WORK/src" &&
        apt-get "${apt_private[@]}" source "$source_pkg=$version"
} >>"$LOG" 2>&1 || die "could not fetch Debian's source of $source_pkg $version (see $LOG); the
  Debian archive must be reachable. Or point PYSOCK_MINGW_BENCHMARK_DIR at an existing mingw build."
src=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[[ -n "$src" && -f "$src/CMakeLists.txt" ]] || die "no unpacked source in $WORK/src (see $LOG)"

upstream_version=${version#*:}
upstream_version=${upstream_version%-*}
# GIT_VERSION as Debian's rules pass it: its patches stop the build from asking git for one.
{
    cmake -S "$src" -B "$WORK/build" -G Ninja -DGIT_VERSION="$upstream_version" \
        -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/mingw-w64.cmake" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$PREFIX" -DBUILD_SHARED_LIBS=OFF \
        -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF \
        -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_ENABLE_INSTALL=ON &&
        cmake --build "$WORK/build" -j "${PYSOCK_JOBS:-2}" &&
        cmake --install "$WORK/build"
} >>"$LOG" 2>&1 || die "building Google Benchmark with mingw-w64 failed (see $LOG)"
[[ -f "$CONFIG_DIR/benchmarkConfig.cmake" ]] || die "no $CONFIG_DIR/benchmarkConfig.cmake after the install (see $LOG)"
echo "$CONFIG_DIR"
