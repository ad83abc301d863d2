#!/usr/bin/env python3
"""bench/check_smoke.py JSON - judge a smoke run of pysock_bench (Google Benchmark's JSON output).

Smoke runs are short and figures from them mean nothing, so this checks properties, not speed:
  * at least one benchmark ran, and none reported an error (SkipWithError: a failed socket call,
    a short datagram, a server thread that threw);
  * every latency benchmark (those reporting allocs_per_rt) made 0 heap allocations per round trip
    on the recv_into/sendall/recvfrom_into/sendto paths, pysock's and the raw baseline's alike;
  * every event-loop benchmark (allocs_per_op) made 0 per call: a would-block through the
    error_code twin, select() in steady state (only the exception path may allocate: the throw).
Exit status 0 when all hold, 1 otherwise (with the offending benchmarks named).
"""
import json
import sys


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    benchmarks = json.load(open(argv[1]))["benchmarks"]
    problems = []
    if not benchmarks:
        problems.append("no benchmark ran")
    for b in benchmarks:
        if b.get("error_occurred"):
            problems.append("%s: error: %s" % (b["name"], b.get("error_message", "?")))
        elif b.get("allocs_per_rt", 0) != 0:
            problems.append("%s: %g heap allocations per round trip" % (b["name"], b["allocs_per_rt"]))
        elif b.get("allocs_per_op", 0) != 0 and not b["name"].endswith("/pysock_exception"):
            problems.append("%s: %g heap allocations per call" % (b["name"], b["allocs_per_op"]))
    latency = [b for b in benchmarks if "allocs_per_rt" in b]
    if benchmarks and not latency:
        problems.append("no latency benchmark reported allocs_per_rt")
    if problems:
        print("bench/check_smoke.py: %d problem(s):" % len(problems), *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("bench/check_smoke.py: %d benchmarks ran without error; allocs_per_rt == 0 in all %d latency benchmarks"
          % (len(benchmarks), len(latency)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
