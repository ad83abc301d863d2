#!/usr/bin/env python3
"""bench/peers/readline.py SECONDS LINE_BYTES - Python's sock.makefile("rb").readline() rate.

A socketpair; a thread writes 64 KiB blocks of LINE_BYTES-byte lines with sendall until stopped;
the main thread reads lines with readline() for SECONDS and prints "LINES_PER_S <rate>". The same
workload as pysock_readline's C++ readers (bench/readline.cpp).
"""
import socket
import sys
import threading
import time


def main():
    seconds, line_bytes = float(sys.argv[1]), int(sys.argv[2])
    a, b = socket.socketpair()
    line = b"x" * (line_bytes - 1) + b"\n"
    block = line * (65536 // line_bytes)

    def writer():
        try:
            while True:
                a.sendall(block)
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    f = b.makefile("rb")
    readline = f.readline
    lines = 0
    start = time.monotonic()
    deadline = start + seconds
    while True:
        for _ in range(1024):
            if len(readline()) != line_bytes:
                sys.exit("readline.py: a short line")
        lines += 1024
        if time.monotonic() >= deadline:
            break
    elapsed = time.monotonic() - start
    print("LINES_PER_S %.0f" % (lines / elapsed), flush=True)
    f.close()
    b.close()
    a.close()
    t.join(5)


if __name__ == "__main__":
    main()
