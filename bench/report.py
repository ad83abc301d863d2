#!/usr/bin/env python3
"""bench/report.py - turn pysock_bench's JSON into the README's table and chart.

    pysock_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true \\
                 --benchmark_out=bench.json --benchmark_out_format=json
    bench/report.py bench.json                      # markdown table on stdout
    bench/report.py bench.json --png docs/performance.png   # and the chart (gnuplot, Debian's gnuplot-nox)
    bench/report.py run1.json run2.json             # two runs: repetitions pooled, medians over all

Every figure is the median over the repetitions; "spread" is (max - min) / median of the headline
metric across repetitions, for the noisier of the two sides: how far apart the runs were.
Headline metrics: latency = p50 round trip (us) (the mean per round trip is shown too), streams = MiB/s,
connections = connections/s, concurrency = round trips/s.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

SUFFIX = re.compile(r"/(manual_time|real_time|iterations:\d+|repeats:\d+|min_time:[\d.]+)$")

# family -> (headline counter, unit, lower is better, goal as (kind, threshold) or None)
# A goal's ratio is always "pysock / baseline" of the headline metric.
PAIRS = [
    # (prefix, case label template, pysock impl, baseline impl)
    ("latency/", "pysock", "raw"),
    ("timeouts/", "pysock_settimeout30", "pysock_blocking"),
    ("timeouts/", "raw_poll30", "raw_blocking"),
    ("stream/", "pysock", "raw"),
    ("connect/", "pysock", "raw"),
    ("concurrency/", "threading_tcp_server", "raw_thread_per_client"),
]


def parse_name(run_name):
    name = run_name
    while True:
        stripped = SUFFIX.sub("", name)
        if stripped == name:
            break
        name = stripped
    case, _, impl = name.rpartition("/")
    return case, impl


def load(paths):
    runs = {}   # (case, impl) -> list of benchmark dicts (one per repetition, all files pooled)
    aggregates = {}
    benchmarks, context = [], {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        benchmarks += data["benchmarks"]
        context = data.get("context", context)
    for b in benchmarks:
        if b.get("error_occurred"):
            continue
        key = parse_name(b.get("run_name", b["name"]))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                aggregates[key] = b
        else:
            runs.setdefault(key, []).append(b)
    for key, b in aggregates.items():   # only aggregates were reported: use the medians
        runs.setdefault(key, [b])
    return context, runs


def to_us(b):
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
    return b["real_time"] * scale


def headline(case):
    if case.startswith(("latency/", "timeouts/")):
        return "p50_us", "us", True
    if case.startswith("stream/"):
        return "MiB_per_s", "MiB/s", False
    if case.startswith("connect/"):
        return "conn_per_s", "conn/s", False
    return "rt_per_s", "rt/s", False


def med(runs, field):
    vals = [to_us(b) if field == "time_us" else b[field] for b in runs if field == "time_us" or field in b]
    return statistics.median(vals) if vals else None


def spread(runs, field):
    vals = [b[field] for b in runs if field in b]
    if len(vals) < 2:
        return 0.0
    m = statistics.median(vals)
    return (max(vals) - min(vals)) / m if m else 0.0


def goal_for(case, impl):
    if impl == "pysock_settimeout30":
        return "<= 1.05", lambda r: r <= 1.05
    if impl == "raw_poll30":
        return "(CPython's way)", None
    if case.startswith("latency/tcp_same_cpu"):
        return "<= 1.03", lambda r: r <= 1.03
    if case.startswith("stream/"):
        return ">= 0.95", lambda r: r >= 0.95
    if case.startswith("concurrency/") and case.split("/")[-1] in ("128", "512"):
        return ">= 0.95", lambda r: r >= 0.95
    return "", None


FAMILY_ORDER = ["latency/tcp_same_cpu", "latency/tcp_split_cpu", "latency/unix", "latency/udp", "timeouts/",
                "stream/echo_64KiB_same", "stream/echo_1KiB_same", "stream/sink_64KiB_same", "stream/echo_64KiB_free",
                "stream/echo_1KiB_free", "stream/sink_64KiB_free", "connect/", "concurrency/"]


def order_key(case):
    fam = next((i for i, f in enumerate(FAMILY_ORDER) if case.startswith(f)), len(FAMILY_ORDER))
    last = case.rsplit("/", 1)[-1]
    return (fam, int(last) if last.isdigit() else 0, case)


def rows(runs):
    out = []
    cases = sorted({case for (case, _) in runs}, key=order_key)
    for case in cases:
        for prefix, mine, base in PAIRS:
            if not case.startswith(prefix) or (case, base) not in runs:
                continue
            field, unit, lower = headline(case)
            b = runs[(case, base)]
            m = runs.get((case, mine))
            row = {"case": case, "impl": mine, "baseline": base, "unit": unit, "field": field,
                   "base": med(b, field), "mine": med(m, field) if m else None,
                   "spread": max(spread(b, field), spread(m, field) if m else 0.0), "reps": len(b)}
            if case.startswith(("latency/", "timeouts/")):
                row["base_mean"], row["mine_mean"] = med(b, "time_us"), med(m, "time_us") if m else None
                row["allocs"] = med(m, "allocs_per_rt") if m else None
            row["ratio"] = row["mine"] / row["base"] if row["mine"] and row["base"] else None
            row["goal"], check = goal_for(case, mine)
            row["met"] = None if (check is None or row["ratio"] is None) else check(row["ratio"])
            out.append(row)
    return out


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "us":
        return "%.2f" % v
    if v >= 1e5:
        return "%.0fk" % (v / 1e3)
    if v >= 1e4:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def markdown(rs):
    lines = ["| workload | pysock side | baseline | median pysock | median baseline | ratio | goal | spread |",
             "|---|---|---|---:|---:|---:|---|---:|"]
    for r in rs:
        extra = ""
        if "mine_mean" in r and r["mine_mean"] is not None:
            extra = " (mean %.2f / %.2f)" % (r["mine_mean"], r["base_mean"])
        goal = r["goal"]
        if r["met"] is not None:
            goal += " met" if r["met"] else " **not met**"
        lines.append("| %s | %s | %s | %s %s | %s %s | %s%s | %s | %.0f%% |" % (
            r["case"], r["impl"], r["baseline"], fmt(r["mine"], r["unit"]), r["unit"], fmt(r["base"], r["unit"]), r["unit"],
            "%.3f" % r["ratio"] if r["ratio"] else "-", extra, goal, 100 * r["spread"]))
    allocs = [r["allocs"] for r in rs if r.get("allocs") is not None and r["impl"].startswith("pysock")]
    if allocs:
        lines.append("")
        lines.append("Heap allocations per round trip on the pysock recv_into/sendall (and recvfrom_into/sendto) paths: "
                     "max %g over %d latency cases." % (max(allocs), len(allocs)))
    return "\n".join(lines)


def chart(rs, runs, png, title):
    if not shutil.which("gnuplot"):
        sys.exit("bench/report.py: gnuplot not found (Debian: apt-get install gnuplot-nox)")
    tmp = tempfile.mkdtemp()
    # Panel 1: p50 round trip by message size, same CPU and split CPU, pysock vs raw.
    lat = os.path.join(tmp, "latency.dat")
    with open(lat, "w") as f:
        for where in ("same_cpu", "split_cpu"):
            for size in ("1", "64", "1024", "16384"):
                case = "latency/tcp_%s/%s" % (where, size)
                p, r = runs.get((case, "pysock")), runs.get((case, "raw"))
                if p and r:
                    label = "%s B %s" % (size if size != "16384" else "16 Ki", "1 CPU" if where == "same_cpu" else "2 CPUs")
                    f.write('"%s" %.3f %.3f\n' % (label, med(p, "p50_us"), med(r, "p50_us")))
    # Panel 2: pysock's speed relative to its baseline (baseline = 1; for latency: baseline time / pysock time).
    rel = os.path.join(tmp, "relative.dat")
    speeds = []
    with open(rel, "w") as f:
        for r in rs:
            if not r["ratio"] or r["impl"] == "raw_poll30" or "split_cpu" in r["case"]:
                continue
            speed = 1.0 / r["ratio"] if r["unit"] == "us" else r["ratio"]
            label = r["case"].replace("latency/", "").replace("stream/", "").replace("concurrency/clients/", "server, ")
            label = label.replace("_same_cpu", " (1 CPU)").replace("_free", " (free)").replace("connect/rate", "connect")
            if r["case"].startswith("concurrency/"):
                label += " clients"
            if r["impl"] == "pysock_settimeout30":
                label = "settimeout(30) vs blocking"
            label = label.replace("tcp (1 CPU)/", "TCP ").replace("unix (1 CPU)/", "AF_UNIX ").replace("udp (1 CPU)/", "UDP ")
            speeds.append(speed)
            f.write('"%s" %.4f\n' % (label.replace("_", " "), speed))
    script = os.path.join(tmp, "chart.gp")
    with open(script, "w") as f:
        f.write("""set terminal pngcairo size 1500,680 font "DejaVu Sans,10"
set bmargin 10
set rmargin 8
set output '%(png)s'
set multiplot layout 1,2 title "%(title)s"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -30 left
set title "TCP ping-pong, median round trip (lower is better)"
set ylabel "microseconds"
set yrange [0:*]
plot '%(lat)s' using 2:xtic(1) title "pysock" lc rgb "#1f77b4", '' using 3 title "raw POSIX" lc rgb "#999999"
set title "pysock relative to its baseline (raw POSIX = 1; higher is better)"
set ylabel "relative speed"
set yrange [%(lo).2f:%(hi).2f]
set style histogram clustered gap 2
plot '%(rel)s' using 2:xtic(1) notitle lc rgb "#1f77b4", 1 notitle lc rgb "black" lw 1, 0.95 title "0.95" lc rgb "red" dt 2
unset multiplot
""" % {"png": png, "title": title, "lat": lat, "rel": rel,
       "lo": min([0.8] + [v - 0.05 for v in speeds]), "hi": max([1.1] + [v + 0.05 for v in speeds])})
    subprocess.run(["gnuplot", script], check=True)
    shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="pysock_bench --benchmark_out=FILE --benchmark_out_format=json "
                    "(several files: their repetitions are pooled)")
    ap.add_argument("--png", help="write the chart here (e.g. docs/performance.png)")
    ap.add_argument("--title", default="pysock vs raw POSIX, loopback, 2-core VM")
    a = ap.parse_args()
    ctx, runs = load(a.json)
    rs = rows(runs)
    print(markdown(rs))
    if a.png:
        chart(rs, runs, os.path.abspath(a.png), a.title)
        print("\nchart: %s" % a.png, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
