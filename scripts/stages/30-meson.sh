#!/usr/bin/env bash
# The Meson build (g++ in C++20, warning_level=3 = -Wall -Wextra -Wpedantic, werror): meson setup,
# compile, then every test through meson test.
# packages: meson g++ pkg-config doctest-dev libbenchmark-dev libasio-dev netbase libssl-dev openssl
set -euo pipefail
# shellcheck source=scripts/stages/common.sh
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/meson-gcc-cxx20"
opts=(-Dcpp_std=c++20 -Dwarning_level=3 -Dwerror=true -Dbuildtype=debug -Dssl=enabled)
if [[ -f "$B/meson-private/coredata.dat" ]]; then
    step meson setup --reconfigure "$B" "$PYSOCK_ROOT" "${opts[@]}"
else
    step env CXX=g++ meson setup "$B" "$PYSOCK_ROOT" "${opts[@]}"
fi
step meson compile -C "$B" -j "$PYSOCK_JOBS"
run_meson_test "$B" --no-rebuild
