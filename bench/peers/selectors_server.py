#!/usr/bin/env python3
"""bench/peers/selectors_server.py - Python's selectors echo server, the peer of pysock_many_clients.

Real Python's multiconn-server.py (selectors.DefaultSelector, a non-blocking listener, a
SimpleNamespace per connection), with the prints removed and one change that every event loop in
the benchmark makes: a connection asks for EVENT_WRITE only while it has bytes it could not send
(the tutorial registers it always, and then every select() returns at once). TCP_NODELAY on the
accepted sockets and a backlog of 4096, as the C++ servers. Prints "PORT n", serves until killed.
"""
import selectors
import socket
import types

sel = selectors.DefaultSelector()


def accept_wrapper(sock):
    while True:
        try:
            conn, addr = sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = types.SimpleNamespace(addr=addr, outb=b"")
        sel.register(conn, selectors.EVENT_READ, data=data)


def close(sock):
    sel.unregister(sock)
    sock.close()


def service_connection(key, mask):
    sock = key.fileobj
    data = key.data
    try:
        if mask & selectors.EVENT_WRITE and data.outb:
            sent = sock.send(data.outb)
            data.outb = data.outb[sent:]
            if not data.outb:
                sel.modify(sock, selectors.EVENT_READ, data=data)
        if mask & selectors.EVENT_READ:
            recv_data = sock.recv(65536)
            if not recv_data:
                close(sock)
                return
            if data.outb:
                data.outb += recv_data
                return
            sent = sock.send(recv_data)
            if sent < len(recv_data):
                data.outb = recv_data[sent:]
                sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, data=data)
    except BlockingIOError:
        pass
    except OSError:
        close(sock)


def main():
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, data=None)
    print("PORT %d" % lsock.getsockname()[1], flush=True)
    while True:
        for key, mask in sel.select(timeout=None):
            if key.data is None:
                accept_wrapper(key.fileobj)
            else:
                service_connection(key, mask)


if __name__ == "__main__":
    main()
