#!/usr/bin/env bash
# Formatting: every C++ file of the repository as clang-format (Debian's clang-format 14, the
# .clang-format at the root) would write it. A file that drifts fails the stage, with the diff;
# `clang-format -i FILE` fixes it.
# packages: clang-format
set -euo pipefail
# shellcheck source=scripts/stages/common.sh
. "$(dirname "$0")/common.sh"
cd "$PYSOCK_ROOT"
mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.h' 2>/dev/null || find include tests examples bench fuzz -name '*.[ch]pp' -o -name '*.h')
[[ ${#files[@]} -gt 0 ]] || fail "no C++ file found"
echo "+ clang-format --version: $(clang-format --version)"
drifted=0
for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" -; then
        drifted=$((drifted + 1))
    fi
done
echo "${#files[@]} files checked, $drifted not formatted"
[[ $drifted -eq 0 ]] || fail "$drifted files differ from clang-format's output (fix: clang-format -i FILE)"
