#!/usr/bin/env bash
# Every measurement of the README's "Performance" section, in one command:
#
#   bench/run-all.sh [OUT_DIR]            (default OUT_DIR: build/bench-results)
#
# 1. builds bench/ in Release (build/bench-release, or $BUILD_DIR)
# 2. pysock_bench, 5 repetitions interleaved at random  -> OUT/pysock_bench.json, OUT/pysock_bench.md
#    and the chart                                      -> docs/performance.png (CHART=path to change it)
# 3. bench/compare.py (peers, 5 interleaved rounds)     -> OUT/compare.txt, OUT/compare.json
# 4. bench/instructions.sh (callgrind)                  -> OUT/instructions.txt
# 5. bench/compile_cost.sh                              -> OUT/compile_cost.txt
# Knobs: REPS (5), MIN_TIME (0.5 s per latency repetition), PYSOCK_BENCH_SECONDS (2 s per stream/
# concurrency repetition), ROUNDS (5), SECONDS_PER_RUN (2). About 10 minutes on a 2-core VM.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/bench-results}
build=${BUILD_DIR:-$root/build/bench-release}
chart=${CHART:-$root/docs/performance.png}
mkdir -p "$out" "$(dirname "$chart")"

echo "== build ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPYSOCK_BUILD_TESTS=OFF \
    -DPYSOCK_BUILD_EXAMPLES=OFF -DPYSOCK_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j "${PYSOCK_JOBS:-2}" --target pysock_bench pysock_rtt_driver pysock_peers

echo "== machine"
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs"
    echo "kernel: $(uname -r)"
    echo "compiler: $(${CXX:-g++} --version | head -1)"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

echo "== pysock_bench"
PYSOCK_BENCH_SECONDS=${PYSOCK_BENCH_SECONDS:-2} "$build/bench/pysock_bench" \
    --benchmark_repetitions="${REPS:-5}" --benchmark_enable_random_interleaving=true \
    --benchmark_min_time="${MIN_TIME:-0.5}" \
    --benchmark_out="$out/pysock_bench.json" --benchmark_out_format=json | tee "$out/pysock_bench.txt"
"$here/report.py" "$out/pysock_bench.json" --png "$chart" | tee "$out/pysock_bench.md"

echo "== compare"
"$here/compare.py" --no-build --build "$build" --rounds "${ROUNDS:-5}" --seconds "${SECONDS_PER_RUN:-2}" \
    --json "$out/compare.json" | tee "$out/compare.txt"

echo "== instructions"
OUT_DIR="$out/callgrind" "$here/instructions.sh" "$build/bench/pysock_rtt_driver" | tee "$out/instructions.txt"

echo "== compile cost"
"$here/compile_cost.sh" "${CXX:-g++}" 5 | tee "$out/compile_cost.txt"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt"
echo "== results in $out, chart in $chart"
