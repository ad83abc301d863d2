#!/usr/bin/env python3
"""bench/peers/peer_python.py - the Python peer of bench/compare.py (standard library only).

The server is the course's multi-connection server ("Serveur multi-connexions": a ClientThread per
accepted client, SO_REUSEADDR, listen then accept in a loop), with the prints removed and run() turned
into an echo loop so that it can serve the benchmark's workloads. Two changes from the course, both
applied to every peer: TCP_NODELAY on the accepted socket, and a listen backlog of 128 instead of 10 so
that 128 clients can connect at once without SYN retries.

    peer_python.py server
    peer_python.py client PORT latency|throughput|concurrency SECONDS [CLIENTS]
"""
import json
import socket
import sys
import threading
import time


class ClientThread(threading.Thread):
    def __init__(self, ip, port, clientSocket):
        threading.Thread.__init__(self)
        self.ip = ip
        self.port = port
        self.clientSocket = clientSocket
        self.daemon = True

    def run(self):
        while True:
            data = self.clientSocket.recv(65536)
            if not data:
                break
            self.clientSocket.sendall(data)
        self.clientSocket.close()


def server():
    listeningSocket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listeningSocket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listeningSocket.bind(("127.0.0.1", 0))
    listeningSocket.listen(128)
    print("PORT %d" % listeningSocket.getsockname()[1], flush=True)
    while True:
        (clientSocket, (ip, port)) = listeningSocket.accept()
        clientSocket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        newThread = ClientThread(ip, port, clientSocket)
        newThread.start()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def round_trip(s, msg, buf):
    s.sendall(msg)
    view = memoryview(buf)
    got = 0
    while got < len(msg):
        n = s.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("unexpected end of stream")
        got += n


def latency(port, seconds):
    s = connect(port)
    msg, buf = b"x" * 64, bytearray(64)
    for _ in range(200):
        round_trip(s, msg, buf)
    samples = []
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    while True:
        t0 = clock()
        if t0 >= deadline:
            break
        round_trip(s, msg, buf)
        samples.append((clock() - t0) * 1e6)
    total = clock() - start
    samples.sort()
    return {"workload": "latency", "value": samples[len(samples) // 2], "unit": "us",
            "p99_us": samples[len(samples) * 99 // 100], "rt_per_s": len(samples) / total}


def throughput(port, seconds):
    s = connect(port)
    chunk = b"x" * 65536
    t0 = time.perf_counter()
    deadline = t0 + seconds

    def sender():
        while time.perf_counter() < deadline:
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=sender)
    t.start()
    buf = bytearray(65536)
    got = 0
    while True:
        n = s.recv_into(buf)
        if n == 0:
            break
        got += n
    secs = time.perf_counter() - t0
    t.join()
    return {"workload": "throughput", "value": got / secs / (1024 * 1024), "unit": "MiB/s"}


def concurrency(port, seconds, nclients):
    conns = [connect(port) for _ in range(nclients)]
    msg = b"x" * 64
    for c in conns:
        round_trip(c, msg, bytearray(64))
    go = threading.Event()
    counts = [0] * nclients
    failures = []
    deadline = [0.0]

    def client(i, c):
        go.wait()
        buf = bytearray(64)
        n = 0
        try:
            while time.perf_counter() < deadline[0]:
                round_trip(c, msg, buf)
                n += 1
        except OSError as e:
            failures.append(e)
        counts[i] = n

    threads = [threading.Thread(target=client, args=(i, c)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    go.set()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    if failures:
        raise RuntimeError("%d client(s) failed: %s" % (len(failures), failures[0]))
    return {"workload": "concurrency", "clients": nclients, "value": sum(counts) / secs, "unit": "rt/s"}


def main(argv):
    if len(argv) > 1 and argv[1] == "server":
        server()
        return 0
    if len(argv) >= 5 and argv[1] == "client":
        port, workload, seconds = int(argv[2]), argv[3], float(argv[4])
        clients = int(argv[5]) if len(argv) > 5 else 16
        if workload == "latency":
            print(json.dumps(latency(port, seconds)))
        elif workload == "throughput":
            print(json.dumps(throughput(port, seconds)))
        elif workload == "concurrency":
            print(json.dumps(concurrency(port, seconds, clients)))
        else:
            workload = None
        if workload:
            return 0
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
