#!/usr/bin/env python3
"""bench/peers/udp_server.py MODE HANDLER_MS - Python's socketserver UDP echo server.

MODE is "plain" (socketserver.UDPServer: one datagram at a time) or "threading"
(socketserver.ThreadingUDPServer: a thread per datagram). Each handler waits HANDLER_MS
milliseconds (a stand-in for the blocking work a real handler does), then echoes the datagram.
Binds 127.0.0.1 port 0, prints "PORT <n>", serves until its stdin closes. The same servers as
pysock_udp_servers' C++ ones (bench/udp_servers.cpp).
"""
import socketserver
import sys
import threading
import time


def main():
    mode, delay = sys.argv[1], float(sys.argv[2]) / 1000.0

    class Echo(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            if delay:
                time.sleep(delay)
            sock.sendto(data, self.client_address)

    cls = socketserver.ThreadingUDPServer if mode == "threading" else socketserver.UDPServer
    server = cls(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("PORT", server.server_address[1], flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
