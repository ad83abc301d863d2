#!/usr/bin/env bash
# Benchmarks smoke test: builds bench/ (Release) and runs every benchmark and tool for a few
# iterations, to prove they build and run. It never judges speed (figures on a shared CI machine
# mean nothing); the real figures are in the README's "Performance" section.
# packages: g++ libbenchmark-dev libasio-dev valgrind gnuplot-nox libssl-dev openssl
set -euo pipefail
. "$(dirname "$0")/common.sh"
B="$PYSOCK_BUILD_ROOT/bench-smoke"
step cmake -S "$PYSOCK_ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPYSOCK_WERROR=ON \
    -DPYSOCK_BUILD_TESTS=OFF -DPYSOCK_BUILD_EXAMPLES=OFF -DPYSOCK_BUILD_BENCHMARKS=ON
step cmake --build "$B" -j "$PYSOCK_JOBS" --target pysock_bench pysock_rtt_driver pysock_peers pysock_many_clients pysock_readline pysock_udp_servers pysock_sendfile pysock_tls

section "pysock_bench: every benchmark, a few iterations"
# Each stream/concurrency repetition lasts PYSOCK_BENCH_SECONDS; latency ones run min_time seconds.
PYSOCK_BENCH_SECONDS=0.05 step "$B/bench/pysock_bench" --benchmark_min_time=0.01 \
    --benchmark_out="$B/bench-smoke.json" --benchmark_out_format=json
# No benchmark may report an error, and the allocation counter must read 0 on every latency path
# (properties, not speeds).
step "$PYSOCK_ROOT/bench/check_smoke.py" "$B/bench-smoke.json"

section "report.py: table and chart from the JSON"
step "$PYSOCK_ROOT/bench/report.py" "$B/bench-smoke.json" --png "$B/bench-smoke.png" >/dev/null
test -s "$B/bench-smoke.png" || fail "no chart written"

section "instructions.sh: callgrind instruction counts (tiny N)"
if command -v valgrind >/dev/null; then
    N1=100 N2=300 OUT_DIR="$B/callgrind" step "$PYSOCK_ROOT/bench/instructions.sh" "$B/bench/pysock_rtt_driver"
else
    echo "valgrind not installed: skipped"
fi

section "compare: every peer, every workload, one short round"
step "$PYSOCK_ROOT/bench/compare.py" --no-build --build "$B" --quick

section "pysock_many_clients: every server, 16 and 300 clients, one short round (every reply checked)"
step "$B/bench/pysock_many_clients" --clients 16,300 --seconds 0.2 --rounds 1 \
    --python "$PYSOCK_ROOT/bench/peers/selectors_server.py" --csv "$B/many_clients.csv"
step "$PYSOCK_ROOT/bench/many_clients_chart.py" "$B/many_clients.csv" "$B/many_clients.png"
test -s "$B/many_clients.png" || fail "no many-clients chart written"

section "pysock_readline: makefile().readline(), a raw recv loop and Python's, one short round (every line checked)"
step "$B/bench/pysock_readline" --seconds 0.2 --rounds 1 --python "$PYSOCK_ROOT/bench/peers/readline.py"

section "pysock_udp_servers: the four UDP servers, one short round (every datagram checked)"
step "$B/bench/pysock_udp_servers" --datagrams 2000 --rounds 1 --python "$PYSOCK_ROOT/bench/peers/udp_server.py"

section "pysock_sendfile: sendfile beside a read + sendall loop, a 16 MiB file, one round (every byte counted)"
step "$B/bench/pysock_sendfile" --mib 16 --rounds 1 --dir "$B"

section "pysock_tls: TLS echo and handshakes, pysock, raw OpenSSL and Python's ssl, one short round (every block checked)"
step "$B/bench/pysock_tls" --mib 8 --handshakes 20 --rounds 1 --python "$PYSOCK_ROOT/bench/peers/tls.py"

section "compile_cost.sh: one run each"
step "$PYSOCK_ROOT/bench/compile_cost.sh" "${CXX:-g++}" 1
