#!/usr/bin/env python3
"""bench/compare.py - pysock against its peers, in one command.

    bench/compare.py                    build the peers (Release) and run every workload
    bench/compare.py --rounds 7 --seconds 3 --json out.json
    bench/compare.py --quick            a few seconds in all (smoke test; figures meaningless)
    bench/compare.py --no-build --build B --runner wine --no-python --quick
                                        the Windows (mingw-w64) peers of build B, run under wine

Peers: pysock, raw POSIX, standalone Asio's synchronous API with a thread per client (skipped with a
message when Debian's libasio-dev is absent), and the course's Python server with a Python client
(python3, standard library only). Each peer is a server process and a client process talking over
loopback (bench/peers/). Workloads: latency (64 B ping-pong, median round trip, both processes pinned to
one CPU), throughput (64 KiB sendall chunks echoed back and read concurrently, pinned to one CPU),
concurrency with 16 and 128 clients (64 B ping-pong, aggregate round trips/s, unpinned).

The machine is shared and noisy, so runs are interleaved (round 1: A B C D, round 2: D C B A, ...) and
the table shows medians over the rounds, the spread (min..max) and ratios to raw POSIX: for latency
the time ratio (above 1 is slower than raw), for the others the rate ratio (below 1 is slower than raw).
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKLOADS = [
    # key, label, client workload, clients, pinned to one CPU, lower is better
    ("latency", "latency 64 B (median RTT)", "latency", None, True, True),
    ("throughput", "throughput 64 KiB chunks", "throughput", None, True, False),
    ("clients16", "16 clients ping-pong", "concurrency", 16, False, False),
    ("clients128", "128 clients ping-pong", "concurrency", 128, False, False),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build(build_dir):
    if not shutil.which("cmake"):
        sys.exit("bench/compare.py: cmake not found")
    gen = ["-G", "Ninja"] if shutil.which("ninja") and not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")) else []
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, *gen, "-DCMAKE_BUILD_TYPE=Release",
                    "-DPYSOCK_BUILD_TESTS=OFF", "-DPYSOCK_BUILD_EXAMPLES=OFF", "-DPYSOCK_BUILD_BENCHMARKS=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j", os.environ.get("PYSOCK_JOBS", "2"),
                    "--target", "pysock_peers"], check=True)


def find_peers(build_dir, runner, with_python):
    peers = []
    for name, exe in (("pysock", "pysock_peer_pysock"), ("raw POSIX", "pysock_peer_raw"), ("Asio sync", "pysock_peer_asio")):
        path = os.path.join(build_dir, "bench", exe)
        if runner and os.path.exists(path + ".exe"):
            path += ".exe"   # a Windows build: the runner (wine) executes it
        if os.path.isfile(path) and (runner or os.access(path, os.X_OK)):
            peers.append((name, runner + [path]))
        elif name == "Asio sync":
            log("bench/compare.py: Asio peer skipped: %s was not built (Debian's libasio-dev, asio.hpp, not found)" % exe)
        else:
            sys.exit("bench/compare.py: %s not found; build it (cmake --build %s --target pysock_peers)" % (path, build_dir))
    python = shutil.which("python3")
    if not with_python:
        log("bench/compare.py: Python peer left out (--no-python)")
    elif python:
        peers.append(("Python (course)", [python, os.path.join(HERE, "peers", "peer_python.py")]))
    else:
        log("bench/compare.py: Python peer skipped: no python3")
    return peers


def pin_to(cpu):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_once(cmd, workload, clients, seconds, cpu):
    server = subprocess.Popen(cmd + ["server"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=pin_to(cpu), text=True)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 20)
        line = server.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            raise RuntimeError("server did not start: %r %s" % (line, server.stderr.read() if server.poll() is not None else ""))
        port = line.split()[1]
        args = cmd + ["client", port, workload, str(seconds)] + ([str(clients)] if clients else [])
        r = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120, preexec_fn=pin_to(cpu))
        if r.returncode != 0:
            raise RuntimeError("client failed (exit %d): %s" % (r.returncode, r.stderr.strip()))
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(os.environ.get("PYSOCK_BUILD_ROOT", os.path.join(ROOT, "build")), "bench-release"),
                    help="CMake build directory for the peers (default: %(default)s)")
    ap.add_argument("--no-build", action="store_true", help="use the peers already built in --build")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per workload (default 5)")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each run (default 2)")
    ap.add_argument("--only", default="", help="comma-separated workload keys: " + ",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--quick", action="store_true", help="1 round of 0.2 s: a smoke test, not a measurement")
    ap.add_argument("--json", help="also write every run and the medians to this file")
    ap.add_argument("--runner", default="", help="command that runs the C++ peers, e.g. 'wine' for a mingw-w64 build")
    ap.add_argument("--no-python", action="store_true", help="leave out the course's Python peer")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds = 1, 0.2

    if not a.no_build:
        build(a.build)
    peers = find_peers(a.build, a.runner.split(), not a.no_python)
    cpus = sorted(os.sched_getaffinity(0))
    wanted = [w for w in WORKLOADS if not a.only or w[0] in a.only.split(",")]

    results = {}
    start = time.time()
    for key, label, workload, clients, pinned, _ in wanted:
        cpu = cpus[0] if pinned else None
        for r in range(a.rounds):
            order = peers if r % 2 == 0 else list(reversed(peers))
            for name, cmd in order:
                res = run_once(cmd, workload, clients, a.seconds, cpu)
                results.setdefault(key, {}).setdefault(name, []).append(res["value"])
                log("  %-11s round %d  %-16s %12.1f %s" % (key, r + 1, name, res["value"], res["unit"]))

    units = {"latency": "us", "throughput": "MiB/s", "clients16": "rt/s", "clients128": "rt/s"}
    rows = []
    print()
    print("pysock vs peers: medians of %d interleaved runs of %.1f s, loopback, %d CPUs allowed (%s)"
          % (a.rounds, a.seconds, len(cpus), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start))))
    print("%-28s %-16s %12s %-6s %8s  %s" % ("workload", "peer", "median", "unit", "vs raw", "spread (min..max)"))
    for key, label, _, _, _, lower_better in wanted:
        raw = statistics.median(results[key]["raw POSIX"])
        for name, _ in peers:
            vals = results[key].get(name)
            if not vals:
                continue
            med = statistics.median(vals)
            ratio = med / raw
            print("%-28s %-16s %12.1f %-6s %8.3f  %.1f..%.1f" % (label, name, med, units[key], ratio, min(vals), max(vals)))
            rows.append({"workload": key, "label": label, "peer": name, "median": med, "unit": units[key],
                         "ratio_to_raw": ratio, "ratio_kind": "time" if lower_better else "rate", "runs": vals})
    print("(latency: time ratio, above 1 = slower than raw POSIX; others: rate ratio, below 1 = slower than raw POSIX)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": a.rounds, "seconds": a.seconds, "cpus": len(cpus),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
