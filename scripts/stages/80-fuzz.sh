#!/usr/bin/env bash
# libFuzzer targets (fuzz/), built with clang + ASan + UBSan, each run for a bounded time on its
# seed corpus (fuzz/corpus/<target>/, replayed first: a crash once found and saved there stays a
# regression test). Any crash, sanitizer report, leak, timeout or out-of-memory fails the stage;
# the crashing input is kept as $B/artifacts/<target>/crash-* (replay: $B/fuzz/<target> <file>).
#
# PYSOCK_FUZZ_SECONDS (default 30) is the fuzzing time per target: 3 targets, ~2 min in all on
# two cores including the build. New inputs the fuzzer finds go to a scratch directory in the
# build tree, never into the repository.
# packages: clang libclang-rt-14-dev libssl-dev openssl
set -euo pipefail
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/fuzz"
SECONDS_PER_TARGET="${PYSOCK_FUZZ_SECONDS:-30}"
TARGETS="fuzz_address fuzz_repr fuzz_chat_framing fuzz_tls_handshake"

step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 -DCMAKE_BUILD_TYPE= \
    -DPYSOCK_BUILD_FUZZERS=ON -DPYSOCK_WERROR=ON -DPYSOCK_SSL=ON \
    -DPYSOCK_BUILD_TESTS=OFF -DPYSOCK_BUILD_EXAMPLES=OFF -DPYSOCK_BUILD_BENCHMARKS=OFF
step cmake --build "$B" -j "$PYSOCK_JOBS" --target fuzzers

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=()
for t in $TARGETS; do
    section "$t: ${SECONDS_PER_TARGET} s"
    seeds="$PYSOCK_ROOT/fuzz/corpus/$t"
    [[ -d "$seeds" ]] || fail "no seed corpus $seeds"
    scratch="$B/corpus/$t"
    artifacts="$B/artifacts/$t"
    rm -rf "$scratch" "$artifacts"
    mkdir -p "$scratch" "$artifacts"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory runaway; -max_len
    # bounds inputs (the targets' docs say what it excludes); the first directory receives the
    # new inputs, the seeds are only read.
    # The fuzzer's progress lines go to $B/<target>.log; the end of it is shown (all of a crash).
    log="$B/$t.log"
    if step "$B/fuzz/$t" "$scratch" "$seeds" \
            -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
            -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(INFO: seed corpus|Done |stat::)' "$log" || true
    else
        sed -n '/ERROR: \|invariant failed\|==ERROR\|runtime error/,$p' "$log" | head -n 200 >&2
        echo "FAIL: $t found a crash (full log: $log); inputs in $artifacts:" >&2
        ls -l "$artifacts" >&2 || true
        failed+=("$t")
    fi
done
[[ ${#failed[@]} -eq 0 ]] || fail "fuzzers with crashes: ${failed[*]}"
