#!/usr/bin/env bash
# User-space instructions per round trip, pysock vs the raw POSIX baseline: repeatable where wall time is not.
#
#   bench/instructions.sh [DRIVER] [SIZE]
#     DRIVER: path to pysock_rtt_driver (default: first found in $BUILD_DIR, build-bench, build)
#
# Runs the driver under `valgrind --tool=callgrind` with N1 and N2 round trips and prints
# (Ir(N2) - Ir(N1)) / (N2 - N1): the instructions executed in user space (client + server thread, the
# library, libc's wrappers) for one round trip, with setup and teardown cancelled out. The kernel is not
# counted. (`perf stat -e instructions:u` would do too, but this VM reports it as <not supported>.)
# Also writes callgrind profiles to $OUT_DIR (default /tmp/pysock-callgrind) for callgrind_annotate.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
driver=${1:-}
size=${2:-64}
if [[ -z "$driver" ]]; then
    for d in "${BUILD_DIR:-}" "$here/../build-bench" "$here/../build"; do
        [[ -n "$d" && -x "$d/bench/pysock_rtt_driver" ]] && { driver="$d/bench/pysock_rtt_driver"; break; }
    done
fi
if [[ -z "$driver" || ! -x "$driver" ]]; then
    echo "usage: $0 path/to/pysock_rtt_driver [SIZE]   (build it: cmake --build BUILD --target pysock_rtt_driver)" >&2
    exit 2
fi
if ! command -v valgrind >/dev/null; then
    echo "valgrind not found (Debian: apt-get install valgrind)" >&2
    exit 2
fi

n1=${N1:-2000}
n2=${N2:-12000}
out=${OUT_DIR:-/tmp/pysock-callgrind}
mkdir -p "$out"

collected() {   # impl n -> total Ir
    local log="$out/$1-$2.log"
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$1.$2" "$driver" "$1" "$2" "$size" >"$log" 2>&1 \
        || { echo "driver failed under valgrind, see $log" >&2; exit 1; }
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log"
}

declare -A count
per_rt() {   # impl -> instructions per round trip (cached)
    if [[ -z "${count[$1]:-}" ]]; then
        local a b
        a=$(collected "$1" "$n1")
        b=$(collected "$1" "$n2")
        count[$1]=$(( (b - a) / (n2 - n1) ))
    fi
    echo "${count[$1]}"
}

printf '# user-space instructions per %s-byte round trip (client + server threads), callgrind, N=%s..%s\n' "$size" "$n1" "$n2"
printf '%-30s %-20s %-14s %8s %8s %7s %6s\n' "workload" "measured" "baseline" "instr" "baseline" "ratio" "extra"
row() {   # label impl baseline-impl
    local p r
    p=$(per_rt "$2")
    r=$(per_rt "$3")
    printf '%-30s %-20s %-14s %8s %8s %7s %6s\n' "$1" "$2" "$3" "$p" "$r" \
        "$(awk -v p="$p" -v r="$r" 'BEGIN { printf "%.3f", p / r }')" "$((p - r))"
}
row "TCP"                          pysock              raw
row "AF_UNIX stream"               pysock_unix         raw_unix
row "UDP recvfrom_into/sendto"     pysock_udp          raw_udp
row "TCP, settimeout(30) both"    pysock_settimeout30 pysock
row "TCP, CPython's poll() model"  raw_poll30          raw
row "TCP, server: an event loop"   pysock_selectors    raw_epoll
echo "# profiles: $out/callgrind.<impl>.$n2 (callgrind_annotate --auto=yes FILE include/pysock/socket.hpp)"
