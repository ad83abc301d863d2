#!/usr/bin/env python3
"""bench/many_clients_chart.py - the chart of pysock_many_clients' CSV (gnuplot, Debian's gnuplot-nox).

    build/bench-release/bench/pysock_many_clients --csv many_clients.csv
    bench/many_clients_chart.py many_clients.csv docs/many_clients.png
"""
import csv
import shutil
import subprocess
import sys
import tempfile

LABELS = {
    "selectors": "pysock selectors, 1 thread",
    "selectors_2t": "pysock selectors, 2 threads",
    "raw_epoll": "raw epoll loop, 1 thread",
    "python": "Python selectors server",
    "threading": "pysock threading_tcp_server",
    "raw_threads": "raw thread per client",
}


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    if not shutil.which("gnuplot"):
        sys.exit("many_clients_chart.py: gnuplot not found (Debian: apt-get install gnuplot-nox)")
    with open(argv[1]) as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as d:
        for row in data:
            d.write(" ".join(row) + "\n")
    plots = []
    for i, name in enumerate(header[1:], start=2):
        plots.append(f"'{d.name}' using 1:(${i}/1000) with linespoints lw 2 pt 7 title '{LABELS.get(name, name)}'")
    script = f"""set terminal pngcairo noenhanced size 1000,560 font "DejaVu Sans,10"
set output '{argv[2]}'
set title "64 B ping-pong, K clients from one epoll load generator (2-core VM, loopback)"
set logscale x
set xtics ({", ".join(r[0] for r in data)})
set xlabel "K (concurrent connections)"
set ylabel "thousand round trips per second"
set yrange [0:*]
set key outside right
set grid ytics
plot {", ".join(plots)}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    main(sys.argv)
