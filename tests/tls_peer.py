#!/usr/bin/env python3
"""Python's ssl module as the other end of tests/test_ssl.cpp's interoperability tests.

  tls_peer.py server CERT KEY [--max 1.2|1.3] [--alpn a,b] [--cafile CA]
      listens on 127.0.0.1 (port 0), prints "port N", serves one TLS connection: echoes each
      line, and at the client's end of stream prints "version V", "alpn A", "peer CN" and
      unwraps (close_notify). With --cafile it requires a client certificate.
  tls_peer.py client PORT CAFILE [--max 1.2|1.3] [--alpn a,b] [--cert CERT --key KEY]
      connects to 127.0.0.1:PORT with server_hostname "localhost", sends "hello from python",
      prints "echo <line>", "version V", "alpn A", "cipher C", then unwraps.
Every socket has a 10 s timeout: a peer that goes wrong fails the test, it does not hang it.
"""
import argparse
import socket
import ssl
import sys

TIMEOUT = 10.0


def configure(ctx, args):
    if args.max:
        ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[args.max]
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))


def say(*words):
    print(*words, flush=True)


def serve(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.cafile:
        ctx.load_verify_locations(args.cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    configure(ctx, args)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        say("port", listener.getsockname()[1])
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            f = tls.makefile("rwb", buffering=0)
            for line in iter(f.readline, b""):
                tls.sendall(line)
            say("version", tls.version())
            say("alpn", tls.selected_alpn_protocol())
            cert = tls.getpeercert()
            say("peer", dict(x[0] for x in cert["subject"])["commonName"] if cert else None)
            tls.unwrap().close()


def connect(args):
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    configure(ctx, args)
    with socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"hello from python\n")
            f = tls.makefile("rb", buffering=0)
            say("echo", f.readline().decode().rstrip("\n"))
            say("version", tls.version())
            say("alpn", tls.selected_alpn_protocol())
            say("cipher", tls.cipher()[0])
            tls.unwrap().close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("cert")
    s.add_argument("key")
    s.add_argument("--cafile")
    c = sub.add_parser("client")
    c.add_argument("port", type=int)
    c.add_argument("cafile")
    c.add_argument("--cert")
    c.add_argument("--key")
    for p in (s, c):
        p.add_argument("--max", choices=["1.2", "1.3"])
        p.add_argument("--alpn")
    args = parser.parse_args()
    (serve if args.mode == "server" else connect)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
