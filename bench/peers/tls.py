#!/usr/bin/env python3
"""Python's ssl module, for bench/tls.cpp (pysock_tls): both ends in one process, two threads.

    tls.py echo MIB DIR          prints MiB/s: 64 KiB blocks sent and echoed back, each checked
    tls.py handshakes N DIR      prints handshakes per second (connect, handshake, close)

DIR holds the benchmark's certificates (ca.pem, server.pem, server.key, made by pysock_tls).
"""
import os
import socket
import ssl
import sys
import threading
import time

BLOCK = 64 * 1024


def contexts(d):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    client = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
    return server, client


def echo(mib, d):
    server_ctx, client_ctx = contexts(d)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            buf = bytearray(BLOCK)
            while n := tls.recv_into(buf):
                tls.sendall(memoryview(buf)[:n])
    t = threading.Thread(target=serve)
    t.start()
    block = bytes((i * 7 + 3) & 0xFF for i in range(BLOCK))
    back = bytearray(BLOCK)
    blocks = mib * 1024 * 1024 // BLOCK
    sock = socket.create_connection(listener.getsockname())
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with client_ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        start = time.perf_counter()
        view = memoryview(back)
        for _ in range(blocks):
            tls.sendall(block)
            got = 0
            while got < BLOCK:
                n = tls.recv_into(view[got:])
                if not n:
                    sys.exit("echo: the server closed early")
                got += n
            if back != block:
                sys.exit("echo: a block came back changed")
        elapsed = time.perf_counter() - start
    t.join()
    return blocks * BLOCK / (1024 * 1024) / elapsed


def handshakes(n, d):
    server_ctx, client_ctx = contexts(d)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        for _ in range(n):
            conn, _ = listener.accept()
            server_ctx.wrap_socket(conn, server_side=True).close()
    t = threading.Thread(target=serve)
    t.start()
    start = time.perf_counter()
    for _ in range(n):
        with client_ctx.wrap_socket(socket.create_connection(listener.getsockname()),
                                    server_hostname="localhost") as tls:
            assert tls.version()
    elapsed = time.perf_counter() - start
    t.join()
    return n / elapsed


if __name__ == "__main__":
    mode, amount, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(f"{(echo if mode == 'echo' else handshakes)(amount, d):.1f}", flush=True)
