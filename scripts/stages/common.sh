# shellcheck shell=bash
# Sourced by the stages in scripts/stages/ (not a stage itself: stages are the executable NN-*.sh).
# scripts/test exports PYSOCK_ROOT, PYSOCK_BUILD_ROOT and PYSOCK_JOBS; these defaults let a stage
# also run on its own:  scripts/stages/10-gcc-cxx17.sh
PYSOCK_ROOT="${PYSOCK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PYSOCK_BUILD_ROOT="${PYSOCK_BUILD_ROOT:-$PYSOCK_ROOT/build}"
PYSOCK_JOBS="${PYSOCK_JOBS:-2}"
export PYSOCK_ROOT PYSOCK_BUILD_ROOT PYSOCK_JOBS
mkdir -p "$PYSOCK_BUILD_ROOT"

# step CMD...: print the command (to stderr, so $(step ...) captures only its output), then run
# it (set -e stops the stage when it fails).
step() {
    {
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    } >&2
    "$@"
}

# section TITLE: a visible heading inside a stage's output.
section() {
    printf '\n--- %s\n' "$*"
}

# fail MESSAGE: end the stage with an error.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# run_ctest BUILD [CTEST ARGS...]: every test of BUILD through ctest, then what the doctest
# executables counted (passed, failed, skipped with the reason: scripts/test_summary.py). Returns
# ctest's status, so set -e still ends a stage whose tests failed, after the summary.
run_ctest() {
    local build=$1 rc=0
    shift
    step ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$PYSOCK_JOBS" "$@" || rc=$?
    python3 "$PYSOCK_ROOT/scripts/test_summary.py" "$build/Testing/Temporary/LastTest.log"
    return $rc
}

# run_meson_test BUILD [MESON TEST ARGS...]: the same through meson test.
run_meson_test() {
    local build=$1 rc=0
    shift
    step meson test -C "$build" --print-errorlogs --num-processes "$PYSOCK_JOBS" "$@" || rc=$?
    python3 "$PYSOCK_ROOT/scripts/test_summary.py" "$build/meson-logs/testlog.txt"
    return $rc
}
