#!/usr/bin/env bash
# The vcpkg port and the Conan recipe, checked without vcpkg or Conan (CI has neither; README.md,
# "Install", says how they were run for real):
#   1. configure + install pysock with exactly the options ports/pysock/portfile.cmake passes
#      (every option must be one CMakeLists.txt knows)
#   2. tests/packaging/check_recipes.py: the port's usage and vcpkg.json, the Conan recipe (run
#      against a stand-in for the conan module), test_package/ and the consumer agree with that
#      install and with VERSION: same target, same header path, same pkg-config name, same version;
#      python3 -m py_compile of both conanfiles
#   3. the check must be able to fail: it runs again on copies with one wrong value each and must
#      report each one
# packages: g++ libssl-dev
set -euo pipefail
. "$(dirname "$0")/common.sh"

SRC="$PYSOCK_ROOT"
CHECK="$SRC/tests/packaging/check_recipes.py"
W="$PYSOCK_BUILD_ROOT/recipes"
rm -rf "$W"
mkdir -p "$W"

section "1. install pysock as the vcpkg port does"
mapfile -t port_opts < <(python3 "$CHECK" port-options "$SRC")
[[ ${#port_opts[@]} -gt 0 ]] || fail "no options found in ports/pysock/portfile.cmake"
step cmake -S "$SRC" -B "$W/build" -G Ninja "${port_opts[@]}" 2>&1 | tee "$W/configure.log"
if grep -q "Manually-specified variables were not used" "$W/configure.log"; then
    fail "the port passes options CMakeLists.txt does not know (see above)"
fi
step cmake --install "$W/build" --prefix "$W/prefix" >/dev/null
(cd "$W/prefix" && find . -type f | sed 's|^\./|  |' | sort)

section "2. port + recipe + consumers against the install"
(cd "$SRC" && step env PYTHONPYCACHEPREFIX="$W/pycache" python3 -m py_compile conanfile.py test_package/conanfile.py)
step python3 "$CHECK" check "$SRC" "$W/prefix"

section "3. the check fails on a wrong value"
# mutate FILE PERL-SUBSTITUTION EXPECTED-FAIL-TEXT: copy the checked files, break one, expect FAIL.
n=0
mutate() {
    local file=$1 subst=$2 expected=$3 dir out
    n=$((n + 1))
    dir="$W/mutant-$n"
    mkdir -p "$dir/tests/packaging"
    cp -r "$SRC/VERSION" "$SRC/LICENSE" "$SRC/conanfile.py" "$SRC/include" "$SRC/ports" "$SRC/test_package" "$dir/"
    cp -r "$SRC/tests/packaging/vcpkg-conan-consumer" "$dir/tests/packaging/"
    perl -0pi -e "$subst" "$dir/$file"
    cmp -s "$SRC/$file" "$dir/$file" && fail "mutation $n did not change $file ($subst)"
    if out=$(python3 "$CHECK" check "$dir" "$W/prefix" 2>&1); then
        echo "$out"
        fail "check_recipes.py passed although $file was changed with $subst"
    fi
    grep -F "FAIL  $expected" <<<"$out" || { echo "$out"; fail "mutation $n ($file: $subst) failed, but not with '$expected'"; }
}
mutate ports/pysock/usage          's/pysock::pysock/pysock::socket/'        "ports/pysock/usage: target 'pysock::socket'"
mutate ports/pysock/usage          's|<pysock/socket.hpp>|<pysock.hpp>|'     "ports/pysock/usage: #include <pysock.hpp>"
mutate ports/pysock/vcpkg.json     's/"version": "[^"]*"/"version": "9.9.9"/' "ports/pysock/vcpkg.json: version"
mutate ports/pysock/portfile.cmake 's|CONFIG_PATH share/cmake/pysock|CONFIG_PATH lib/cmake/pysock|' "ports/pysock/portfile.cmake: vcpkg_cmake_config_fixup"
mutate conanfile.py                's/"pysock::pysock"/"pysock::core"/'      "conanfile.py: cmake_target_name 'pysock::core'"
mutate conanfile.py                's/"pkg_config_name", "pysock"/"pkg_config_name", "libpysock"/' "conanfile.py: pkg_config_name 'libpysock'"
mutate conanfile.py                's/"include", "pysock"\)/"include")/'     "conanfile.py: package() + includedirs"
mutate conanfile.py                's/self\.info\.clear\(\)/pass/'           "conanfile.py: package_id()"
mutate conanfile.py                's/self\.version = version/self.version = "0.9.0"/' "conanfile.py: version '0.9.0'"
mutate conanfile.py                's/def package_id\(self\):/def package_id(self)/' "conanfile.py: py_compile"
mutate VERSION                     's/^.*$/1.0.1/'                           "ports/pysock/vcpkg.json: version"
mutate tests/packaging/vcpkg-conan-consumer/conanfile.txt 's|pysock/\d+\.\d+\.\d+|pysock/0.1.0|' "vcpkg-conan-consumer/conanfile.txt"
echo "ok: all $n wrong values were reported"
