#!/usr/bin/env python3
"""End-to-end tests of pysock's examples/: every example runs as a real process.

    run_examples.py --bindir DIR TEST      TEST: args echo exercises threads multi_server
                                                 multi_server_helper chat sigint two_machines
                                                 multiconn multiconn_errors http tls https
    run_examples.py --bindir DIR demo      plays exercises 1, 2 and 3 and prints the conversation

Exit status: 0 pass, 1 fail, 77 skipped (the reason is printed).

How a test finds a server's port. The servers print only what the course prints (echo_server says
nothing before its first client), so they are started on port 0 (the kernel picks a free port)
and the driver reads the port the server really listens on from Linux's /proc: the socket inodes
in /proc/PID/fd matched against the LISTEN entries of /proc/PID/net/tcp (net/ of the process's
own network namespace). This is exact (no port is guessed, nothing can take it in between) and it
is also the readiness signal: the port appears once listen() has returned, so a client started
afterwards never races the server. Without /proc the tests skip, saying why.

Bounded waits everywhere: every read of a child's output, every wait for a child, every socket
operation has a deadline (TIMEOUT); on any failure or timeout every child is killed.
Standard library only.
"""

import argparse
import ast
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

TIMEOUT = 15.0  # seconds: the bound on any single wait
SKIP = 77
EXE_SUFFIX = ".exe" if os.name == "nt" else ""


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


BINDIR = "."
ECHO = False  # demo: print every line of the examples' output as it is read
CHILDREN = []


def exe(name):
    path = os.path.join(BINDIR, name + EXE_SUFFIX)
    if not os.path.exists(path):
        raise Failure(f"{path}: not built")
    return path


class Proc:
    """A child process; stdout is read line by line by a thread, every wait is bounded."""

    def __init__(self, argv, label=None):
        self.label = label or os.path.basename(argv[0])
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        CHILDREN.append(self)
        self.lines = queue.Queue()
        self.seen = []  # every stdout line consumed so far (for failure reports)
        self.err = bytearray()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_thread.start()

    def _read_stdout(self):
        for raw in iter(self.p.stdout.readline, b""):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = f"<invalid UTF-8: {raw!r}>"
            self.lines.put(text[:-1] if text.endswith("\n") else text)
        self.lines.put(None)  # end of output

    def _read_stderr(self):
        for chunk in iter(lambda: self.p.stderr.read1(4096), b""):
            self.err += chunk

    @property
    def pid(self):
        return self.p.pid

    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def report(self):
        out = "\n".join("    | " + line for line in self.seen)
        return (f"  {self.label} ({' '.join(map(str, self.argv))}), output so far:\n{out}\n"
                f"  stderr: {self.stderr()!r}")

    def line(self, timeout=TIMEOUT):
        """The next line of stdout (None at its end)."""
        try:
            text = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise Failure(f"{self.label}: no output line within {timeout} s\n{self.report()}")
        if text is not None:
            self.seen.append(text)
            if ECHO:
                print(f"  [{self.label}] {text}", flush=True)
        return text

    def expect(self, want, timeout=TIMEOUT):
        """The next line must be `want` (a str: equal; a compiled regex: full match)."""
        got = self.line(timeout)
        ok = got is not None and (want.fullmatch(got) if isinstance(want, re.Pattern) else got == want)
        if not ok:
            shown = want.pattern if isinstance(want, re.Pattern) else want
            raise Failure(f"{self.label}: expected {shown!r}, got {got!r}\n{self.report()}")
        return got

    def expect_set(self, wanted, timeout=TIMEOUT):
        """The next len(wanted) lines must be `wanted`, in any order (concurrent threads)."""
        got = [self.line(timeout) for _ in wanted]
        check(sorted(map(str, got)) == sorted(wanted),
              f"{self.label}: expected (any order) {sorted(wanted)!r}, got {got!r}\n{self.report()}")

    def expect_end(self, timeout=TIMEOUT):
        got = self.line(timeout)
        check(got is None, f"{self.label}: expected the end of the output, got {got!r}\n{self.report()}")

    def write(self, text):
        try:
            self.p.stdin.write(text.encode("utf-8"))
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise Failure(f"{self.label}: cannot write to its stdin: {e}\n{self.report()}")

    def close_stdin(self):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass

    def wait(self, timeout=TIMEOUT):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure(f"{self.label}: still running after {timeout} s (killed)\n{self.report()}")
        self._err_thread.join(timeout)
        # A sanitizer build (scripts/stages 50/55) reports on stderr: that fails the test too.
        check("Sanitizer" not in self.stderr(), f"{self.label}: sanitizer report\n{self.report()}")
        return rc

    def expect_exit(self, code, timeout=TIMEOUT):
        rc = self.wait(timeout)
        check(rc == code, f"{self.label}: exit status {rc}, expected {code}\n{self.report()}")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def kill_all():
    for c in CHILDREN:
        c.kill()
        for f in (c.p.stdin, c.p.stdout, c.p.stderr):
            try:
                f.close()
            except OSError:
                pass
    CHILDREN.clear()


def listening_port(proc, timeout=TIMEOUT):
    """The TCP port `proc` listens on, read from /proc once the server has called listen()."""
    if not os.path.isdir(f"/proc/{proc.pid}/net"):
        raise Skip("no Linux /proc/PID/net: cannot learn the port a server picked")
    deadline = time.monotonic() + timeout
    while True:
        try:
            inodes = set()
            for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                link = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:["):-1])
            for table in ("tcp", "tcp6"):
                with open(f"/proc/{proc.pid}/net/{table}") as f:
                    for row in f.readlines()[1:]:
                        fields = row.split()
                        if fields[3] == "0A" and fields[9] in inodes:  # 0A: TCP_LISTEN
                            return int(fields[1].rsplit(":", 1)[1], 16)
        except (FileNotFoundError, ProcessLookupError):
            pass  # the process is starting or has just died: poll() below tells
        if proc.p.poll() is not None:
            raise Failure(f"{proc.label} exited ({proc.p.returncode}) before listening\n{proc.report()}")
        if time.monotonic() > deadline:
            raise Failure(f"{proc.label}: not listening after {timeout} s\n{proc.report()}")
        time.sleep(0.01)  # poll interval while waiting for a condition (bounded by the deadline)


def start_server(name, *args, label=None, prefix=()):
    proc = Proc([*prefix, exe(name), *args], label=label or name)
    return proc, listening_port(proc)


def connect(port, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        check(chunk, f"connection closed after {data!r}, expected {n} bytes")
        data += chunk
    return data


def recv_all(s):
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return data


class Lines:
    """The driver's own line reader on a raw socket (bounded by the socket's timeout)."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8")


def free_listener():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen()
    ls.settimeout(TIMEOUT)
    return ls, ls.getsockname()[1]


def closed_port():
    """A loopback port nobody listens on (bound, never listening: connect is refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def run(argv, stdin=b"", timeout=TIMEOUT):
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{argv}: still running after {timeout} s (killed)")


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
NETWORKED = ["echo_server", "echo_client", "ex1_server", "ex2_client", "multi_server",
             "multi_server_helper", "chat_server", "chat_client"]


def test_args():
    """Bad arguments: a usage line on stderr, exit status 2; --help: the usage on stdout, 0."""
    names = NETWORKED
    bad = [["127.0.0.1", "80", "extra"], ["127.0.0.1", "http"], ["127.0.0.1", "65536"],
           ["127.0.0.1", "-1"], ["127.0.0.1", ""], ["--verbose"], ["127.0.0.1", "123456"]]
    for name in names:
        for args in bad:
            r = run([exe(name), *args])
            err = r.stderr.decode("utf-8", "replace")
            check(r.returncode == 2 and err.startswith(f"usage: {name} [HOST [PORT]]") and not r.stdout,
                  f"{name} {args}: status {r.returncode}, stdout {r.stdout!r}, stderr {err!r}")
        r = run([exe(name), "--help"])
        check(r.returncode == 0 and r.stdout.decode().startswith(f"usage: {name} [HOST [PORT]]"),
              f"{name} --help: status {r.returncode}, stdout {r.stdout!r}")
    for args in (["--slow"], ["--fast", "--fast"], ["127.0.0.1"]):
        r = run([exe("threads"), *args])
        check(r.returncode == 2 and r.stderr.decode().startswith("usage: threads [--fast]"),
              f"threads {args}: status {r.returncode}, stderr {r.stderr!r}")
    r = run([exe("threads"), "--help"])
    check(r.returncode == 0 and r.stdout.decode().startswith("usage: threads"), "threads --help")


def test_echo():
    """Example 1 and Example 2 (the echo server and its client)."""
    # echo_server against our own client: each chunk printed as Python prints bytes, echoed back.
    srv, port = start_server("echo_server", "127.0.0.1", "0")
    c = connect(port)
    srv.expect(f"Connected by ('127.0.0.1', {c.getsockname()[1]})")
    for msg in [b"Bonjour", "donnée".encode(), b"it's", b"say \"hi\" \\ it's", b"\t\x00\x7f\xff\n",
                bytes(range(256))]:
        c.sendall(msg)
        check(recv_exactly(c, len(msg)) == msg, f"echo of {msg!r}")
        srv.expect(repr(msg))  # what CPython prints
    c.sendall(b"\r\n")  # the course's stop word: not printed, not echoed
    srv.expect_end()
    srv.expect_exit(0)
    check(recv_all(c) == b"", "echo_server sent something after b'\\r\\n'")
    c.close()

    # The course's server would print b'' forever once the client leaves: ours stops.
    srv, port = start_server("echo_server", "127.0.0.1", "0")
    c = connect(port)
    c.sendall(b"Bonjour")
    check(recv_exactly(c, 7) == b"Bonjour", "echo")
    c.close()
    srv.expect(re.compile(r"Connected by \('127\.0\.0\.1', \d+\)"))
    srv.expect("b'Bonjour'")
    srv.expect_end()
    srv.expect_exit(0)

    # echo_client against our own server: it sends b'Bonjour' and prints what comes back.
    ls, port = free_listener()
    cli = Proc([exe("echo_client"), "127.0.0.1", str(port)])
    conn, _ = ls.accept()
    conn.settimeout(TIMEOUT)
    check(recv_exactly(conn, 7) == b"Bonjour", "echo_client did not send b'Bonjour'")
    conn.sendall("Bonjour é".encode())
    cli.expect("Received b'Bonjour \\xc3\\xa9'")
    cli.expect_end()
    cli.expect_exit(0)
    conn.close()
    ls.close()

    # The pair, as the course runs it.
    srv, port = start_server("echo_server", "127.0.0.1", "0")
    cli = Proc([exe("echo_client"), "127.0.0.1", str(port)])
    cli.expect("Received b'Bonjour'")
    cli.expect_exit(0)
    srv.expect(re.compile(r"Connected by \('127\.0\.0\.1', \d+\)"))
    srv.expect("b'Bonjour'")
    srv.expect_exit(0)

    # Nobody listening: Python's error text, status 1.
    holder, port = closed_port()
    r = run([exe("echo_client"), "127.0.0.1", str(port)])
    holder.close()
    check(r.returncode == 1 and b"[Errno 111] Connection refused" in r.stderr,
          f"echo_client with no server: {r.returncode} {r.stderr!r}")


QUESTION = "Serveur es-tu là ?"


def test_exercises():
    """Exercise 1 (the « Présent ! » server) and exercise 2 (its client)."""
    # ex1_server against our own client.
    srv, port = start_server("ex1_server", "127.0.0.1", "0")
    c = connect(port)
    srv.expect(f"Client connecté : ('127.0.0.1', {c.getsockname()[1]})")
    c.sendall(QUESTION.encode())
    check(recv_all(c) == (QUESTION + "\nPrésent !").encode(), "ex1_server's answer")
    srv.expect("Message reçu : " + repr(QUESTION.encode()))
    srv.expect_end()
    srv.expect_exit(0)
    c.close()

    # ex2_client against our own server.
    ls, port = free_listener()
    cli = Proc([exe("ex2_client"), "127.0.0.1", str(port)])
    conn, _ = ls.accept()
    conn.settimeout(TIMEOUT)
    want = QUESTION.encode()
    check(recv_exactly(conn, len(want)) == want, "ex2_client's question")
    conn.sendall(want + "\nPrésent !".encode())
    conn.close()
    cli.expect(QUESTION)
    cli.expect("Présent !")
    cli.expect_end()
    cli.expect_exit(0)
    ls.close()

    # The pair, as the course runs it: the client asks for ('localhost', PORT).
    srv, port = start_server("ex1_server", "127.0.0.1", "0")
    cli = Proc([exe("ex2_client"), "localhost", str(port)])
    cli.expect(QUESTION)
    cli.expect("Présent !")
    cli.expect_end()
    cli.expect_exit(0)
    srv.expect(re.compile(r"Client connecté : \('127\.0\.0\.1', \d+\)"))
    srv.expect("Message reçu : b'Serveur es-tu l\\xc3\\xa0 ?'")
    srv.expect_exit(0)


def test_threads():
    """Les threads: two threads, five lines each, 0.5 s apart; --fast: thread 2 twice as fast."""
    for fast in (False, True):
        start = time.monotonic()
        proc = Proc([exe("threads")] + (["--fast"] if fast else []))
        got = [proc.line() for _ in range(11)]
        proc.expect_end()
        proc.expect_exit(0)
        elapsed = time.monotonic() - start
        lines = {n: [g for g in got if g and g.startswith(f"Thread {n}: ")] for n in (1, 2)}
        for n in (1, 2):
            check(lines[n] == [f"Thread {n}: on est dans la boucle {i}" for i in range(5)],
                  f"thread {n}'s lines: {got}")
        check(got[-1] == "C'est fini!", f"last line {got[-1]!r}")
        # Thread 1 sleeps 0.5 s after each of its 5 lines: never less than 2.5 s in all.
        check(elapsed >= 2.4, f"finished after {elapsed:.2f} s, expected >= 2.5 s")
        # --fast: thread 2's last line (t = 1.0 s) comes before thread 1's fourth (t = 1.5 s);
        # without it thread 2's last line comes at t = 2.0 s, after thread 1's fourth.
        early = got.index("Thread 2: on est dans la boucle 4") < got.index("Thread 1: on est dans la boucle 3")
        check(early == fast, f"{'--fast' if fast else 'default'}: order {got}")


def multi_server_test(name):
    # multi_server (the course's loop) prints "En écoute..." before every accept() and
    # "[+] Nouveau thread" in the accepting thread; multi_server_helper prints "En écoute..." once,
    # and both lines in the client's thread (threading_tcp_server accepts by itself).
    course = name == "multi_server"
    again = ["En écoute..."] if course else []
    srv, port = start_server(name, "127.0.0.1", "0")
    srv.expect("En écoute...")

    def arrive():
        c = connect(port)
        p = c.getsockname()[1]
        srv.expect(f"[+] Nouveau thread pour 127.0.0.1 {p}")  # printed before the thread starts
        srv.expect_set([f"Connexion de 127.0.0.1 {p}"] + again)  # the thread / the loop
        return c

    # A stays silent: its thread waits in recv, and B is served meanwhile. That is the point.
    a = arrive()
    b = arrive()
    b.sendall(b"Salut de B")
    srv.expect("b'Salut de B'")
    srv.expect("Client déconnecté...")
    check(recv_all(b) == b"", "the server closes B's connection")
    a.sendall("donnée".encode())
    srv.expect("b'donn\\xc3\\xa9e'")
    srv.expect("Client déconnecté...")
    check(recv_all(a) == b"", "the server closes A's connection")

    # Five clients at once.
    clients = [connect(port) for _ in range(5)]
    for i, c in enumerate(clients):
        c.sendall(f"client {i}".encode())
    wanted = []
    for i, c in enumerate(clients):
        p = c.getsockname()[1]
        wanted += [f"[+] Nouveau thread pour 127.0.0.1 {p}", f"Connexion de 127.0.0.1 {p}",
                   f"b'client {i}'", "Client déconnecté..."] + again
    srv.expect_set(wanted)
    for c in clients:
        check(recv_all(c) == b"", "closed by the server")
        c.close()

    # A client that connects and leaves at once: b'' printed, the server carries on.
    c = arrive()
    c.close()
    srv.expect("b''")
    srv.expect("Client déconnecté...")
    a.close()
    b.close()
    srv.p.send_signal(signal.SIGINT)
    srv.expect_exit(130)
    check("Interrompu (Ctrl-C)." in srv.stderr(), f"{name}: stderr {srv.stderr()!r}")


def test_multi_server():
    """Serveur multi-connexions: the course's ClientThread, one std::thread per client."""
    multi_server_test("multi_server")


def test_multi_server_helper():
    """The same server written with pysock::threading_tcp_server."""
    multi_server_test("multi_server_helper")


MESSAGES = b"Message 1 from client." + b"Message 2 from client."


def multiconn_client(port, n):
    """Runs multiconn_client with n connections; returns what each connection received."""
    cli = Proc([exe("multiconn_client"), "127.0.0.1", str(port), str(n)])
    received = {i: b"" for i in range(1, n + 1)}
    started, closed = set(), set()
    pattern = re.compile(r"Received (b'.*') from connection (\d+)")
    while (line := cli.line()) is not None:
        if m := re.fullmatch(r"Starting connection (\d+) to \('127\.0\.0\.1', (\d+)\)", line):
            check(int(m.group(2)) == port, f"multiconn_client: {line!r}")
            started.add(int(m.group(1)))
        elif m := pattern.fullmatch(line):
            received[int(m.group(2))] += ast.literal_eval(m.group(1))
        elif m := re.fullmatch(r"Closing connection (\d+)", line):
            closed.add(int(m.group(1)))
        else:
            check(re.fullmatch(r"Sending b'Message [12] from client\.' to connection \d+", line),
                  f"multiconn_client: unexpected line {line!r}\n{cli.report()}")
    cli.expect_exit(0)
    wanted = set(range(1, n + 1))
    check(started == wanted and closed == wanted, f"multiconn_client: started {started}, closed {closed}")
    return received


def test_multiconn():
    """Real Python's multiconn-server and multiconn-client, ported to pysock::selectors."""
    srv, port = start_server("multiconn_server", "127.0.0.1", "0")
    srv.expect("Listening on ('127.0.0.1', 0)")
    # Two connections, as in the tutorial: every byte sent comes back, on its own connection.
    received = multiconn_client(port, 2)
    check(all(r == MESSAGES for r in received.values()), f"echoes: {received!r}")
    addr = r"\('127\.0\.0\.1', \d+\)"
    lines = [srv.line() for _ in range(4)]  # 2 accepted + 2 closed, the echoes in between
    while sum(line.startswith("Closing connection to ") for line in lines) < 2:
        lines.append(srv.line())
    check(sum(bool(re.fullmatch("Accepted connection from " + addr, x)) for x in lines) == 2, f"{lines}")
    check(all(re.fullmatch("(Accepted connection from |Closing connection to |Echoing b'Message .*' to )"
                           + addr, x) for x in lines), f"server lines: {lines}")
    # Many clients at once, from one thread, served by one thread. At most the server's listen()
    # backlog (128): a burst beyond it overflows the accept queue, in Python as here.
    received = multiconn_client(port, 120)
    check(all(r == MESSAGES for r in received.values()), "120 connections: an echo is wrong or missing")
    # A client that connects and leaves at once, and one that sends half a message and vanishes.
    c = connect(port)
    c.close()
    c = connect(port)
    c.sendall(b"half")
    check(recv_exactly(c, 4) == b"half", "the echo of an unterminated message")
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # a reset
    # Still serving.
    received = multiconn_client(port, 1)
    check(received[1] == MESSAGES, f"after the reset: {received!r}")
    srv.p.send_signal(signal.SIGINT)
    srv.expect_exit(130)
    rest = list(iter(srv.line, None))
    check(rest and rest[-1] == "Caught keyboard interrupt, exiting", f"multiconn_server's last lines: {rest[-3:]}")


def test_multiconn_errors():
    """multiconn_client and multiconn_server: bad arguments, a refused connection."""
    for name, args in (("multiconn_server", [["127.0.0.1"], ["127.0.0.1", "http"], ["127.0.0.1", "70000"]]),
                       ("multiconn_client", [["127.0.0.1", "1"], ["127.0.0.1", "1", "0"], ["h", "x", "2"]])):
        for a in args:
            r = run([exe(name), *a])
            check(r.returncode == 2 and r.stderr.decode().startswith(f"usage: {name} <host> <port>"),
                  f"{name} {a}: status {r.returncode}, stderr {r.stderr!r}")
        r = run([exe(name), "--help"])
        check(r.returncode == 0 and r.stdout.decode().startswith(f"usage: {name}"), f"{name} --help")
    s, port = closed_port()
    r = run([exe("multiconn_client"), "127.0.0.1", str(port), "1"])
    s.close()
    check(r.returncode == 1 and b"Connection refused" in r.stderr,
          f"refused: status {r.returncode}, stderr {r.stderr!r}")
    # A port that is taken: the server reports the bind error.
    ls, port = free_listener()
    r = run([exe("multiconn_server"), "127.0.0.1", str(port)])
    ls.close()
    check(r.returncode == 1 and b"Address already in use" in r.stderr, f"bind: {r.returncode} {r.stderr!r}")


def http_exchange(port, request):
    """Sends raw bytes to the HTTP server; returns (status code, whole response)."""
    c = connect(port)
    c.sendall(request)
    response = recv_all(c)
    c.close()
    m = re.match(rb"HTTP/1\.0 (\d{3}) ", response)
    check(m, f"not an HTTP/1.0 response to {request[:60]!r}...: {response[:200]!r}")
    return int(m.group(1)), response


def test_http():
    """http_server, Python's http.server in pysock, driven by urllib.request and raw sockets."""
    import tempfile
    import urllib.error
    import urllib.request
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(b"Hello from pysock\n")
        os.mkdir(os.path.join(root, "sub"))
        big = os.urandom(300 * 1024)  # several writes of the 64 KiB chunk
        with open(os.path.join(root, "sub", "big.bin"), "wb") as f:
            f.write(big)
        srv, port = start_server("http_server", "--bind", "127.0.0.1", "--directory", root, "0")
        srv.expect(f"Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ...")
        base = f"http://127.0.0.1:{port}"

        def get(path, method="GET"):
            req = urllib.request.Request(base + path, method=method)
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.status, dict(r.headers), r.read(), r.url

        status, headers, body, _ = get("/hello.txt")
        check(status == 200 and body == b"Hello from pysock\n", f"GET /hello.txt: {status} {body!r}")
        check(headers["Content-type"] == "text/plain" and headers["Content-Length"] == "18", f"{headers}")
        status, headers, body, _ = get("/hello.txt", "HEAD")
        check(status == 200 and body == b"" and headers["Content-Length"] == "18", f"HEAD: {headers} {body!r}")
        status, _, body, _ = get("/sub/big.bin")
        check(body == big, f"GET /sub/big.bin: {len(body)} bytes, expected {len(big)}")
        status, _, body, _ = get("/")
        check(b"Directory listing for /" in body and b'<a href="hello.txt">' in body
              and b'<a href="sub/">' in body, f"listing: {body!r}")
        status, _, body, url = get("/sub")  # 301 to /sub/, which urllib follows
        check(url == base + "/sub/" and b'<a href="big.bin">' in body, f"redirect: {url} {body!r}")
        status, _, body, _ = get("/hello%2Etxt?query=1#frag")
        check(body == b"Hello from pysock\n", f"quoted path with a query: {body!r}")
        for path, code in (("/missing", 404), ("/", 501)):
            try:
                get(path, "GET" if code == 404 else "POST")
                raise Failure(f"{path}: no HTTP error, expected {code}")
            except urllib.error.HTTPError as e:
                check(e.code == code, f"{path}: HTTP {e.code}, expected {code}")
                if code == 501:
                    check(b"Unsupported method" in e.read(), "no explanation in the 501 page")
        # What urllib cannot send: a path escaping the directory, lines too long, too many
        # headers, garbage, and a client that leaves without a word.
        code, _ = http_exchange(port, b"GET /../../../../etc/passwd HTTP/1.0\r\n\r\n")
        check(code == 404, f"path traversal answered {code}")
        code, _ = http_exchange(port, b"GET /" + b"a" * 70000 + b" HTTP/1.0\r\n\r\n")
        check(code == 414, f"a 70,000-byte request line answered {code}")
        code, resp = http_exchange(port, b"GET / HTTP/1.0\r\nX: " + b"b" * 70000 + b"\r\n\r\n")
        check(code == 431 and b"Line too long" in resp, f"a 70,000-byte header answered {code}")
        code, resp = http_exchange(port, b"GET / HTTP/1.0\r\n" + b"X: y\r\n" * 101 + b"\r\n")
        check(code == 431 and b"Too many headers" in resp, f"101 headers answered {code}")
        code, resp = http_exchange(port, b"garbage\r\n\r\n")
        check(code == 400 and b"Bad request syntax" in resp, f"garbage answered {code}")
        c = connect(port)
        c.close()
        status, _, body, _ = get("/hello.txt")  # still serving
        check(body == b"Hello from pysock\n", "after a silent client")
        srv.p.send_signal(signal.SIGINT)
        srv.expect("")
        srv.expect("Keyboard interrupt received, exiting.")
        srv.expect_exit(0)
        log = srv.stderr()
        check(re.search(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\] '
                        r'"GET /hello\.txt HTTP/1\.1" 200 -$', log, re.M), f"log lines: {log[:500]!r}")
        check(re.search(r'"POST / HTTP/1\.1" 501 -$', log, re.M), f"no 501 log line: {log[:800]!r}")


def chat_connect(port, host="127.0.0.1", prefix=(), label="chat_client"):
    cli = Proc([*prefix, exe("chat_client"), host, str(port)], label=label)
    cli.expect(f"Connecté au serveur ('{host}', {port}). Tapez « fini » pour terminer.")
    return cli


def turn(sender, receiver, text, receiver_prefix):
    """One turn: `sender`'s user types `text`, `receiver` shows it."""
    sender.write(text + "\n")
    sender.expect("Vous : " + text)
    receiver.expect(receiver_prefix + text)


WAITING = "En attente d'un client..."
CLIENT_GONE = re.compile(r"Client déconnecté( \(.*\))?\.")


def test_chat():
    """Exercise 3: the chat, as a protocol (framing, UTF-8, peers that vanish)."""
    srv, port = start_server("chat_server", "127.0.0.1", "0")
    srv.expect(WAITING)

    # 1. A conversation that the client ends with "fini".
    cli = chat_connect(port)
    srv.expect(re.compile(r"Connexion de \('127\.0\.0\.1', \d+\)"))
    turn(cli, srv, "Bonjour, ça va ?", "Client : ")
    turn(srv, cli, "Très bien, et toi ? Voilà l'été à Noël…", "Serveur : ")
    turn(cli, srv, "Super ! 🎉", "Client : ")
    turn(srv, cli, "Tant mieux.", "Serveur : ")
    turn(cli, srv, "fini", "Client : ")
    cli.expect("Discussion terminée.")
    cli.expect_end()
    cli.expect_exit(0)
    srv.expect("Le client a terminé la discussion.")
    srv.expect(WAITING)

    # 2. A second client, and this time the server ends with "fini".
    cli = chat_connect(port)
    srv.expect(re.compile(r"Connexion de \('127\.0\.0\.1', \d+\)"))
    turn(cli, srv, "Re-bonjour", "Client : ")
    turn(srv, cli, "fini", "Serveur : ")
    srv.expect("Discussion terminée.")
    srv.expect(WAITING)
    cli.expect("Le serveur a terminé la discussion.")
    cli.expect_end()
    cli.expect_exit(0)

    # 3. Framing, with our own client: a message longer than one recv() whose 'é' straddles the
    # 1024-byte boundary of the server's recv(), two messages in one send(), a message sent one
    # byte at a time (so multi-byte characters arrive in pieces), CRLF line ends.
    s = connect(port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lines = Lines(s)
    srv.expect(f"Connexion de ('127.0.0.1', {s.getsockname()[1]})")
    long_message = "x" + "é" * 3000 + " fin"
    s.sendall((long_message + "\n" + "deux messages\n").encode())
    srv.expect("Client : " + long_message)
    srv.write("réponse 1\n")
    srv.expect("Vous : réponse 1")
    check(lines.readline() == "réponse 1", "first answer")
    srv.expect("Client : deux messages")  # already received with the first one
    srv.write("réponse 2\n")
    srv.expect("Vous : réponse 2")
    check(lines.readline() == "réponse 2", "second answer")
    for byte in "à bientôt\r\n".encode():
        s.send(bytes([byte]))
    srv.expect("Client : à bientôt")
    srv.write("ok\n")
    srv.expect("Vous : ok")
    check(lines.readline() == "ok", "third answer")
    s.sendall(b"fini\n")
    srv.expect("Client : fini")
    srv.expect("Le client a terminé la discussion.")
    srv.expect(WAITING)
    check(lines.readline() is None, "the server closes after fini")
    s.close()

    # 4. A client that vanishes mid-turn (killed while the server's user is typing).
    cli = chat_connect(port)
    srv.expect(re.compile(r"Connexion de \('127\.0\.0\.1', \d+\)"))
    turn(cli, srv, "Je dois partir", "Client : ")
    cli.p.kill()
    cli.wait()
    srv.write("Attends !\n")
    srv.expect("Vous : Attends !")
    srv.expect(CLIENT_GONE)
    srv.expect(WAITING)

    # 5. A client that leaves in the middle of a line; 6. one that resets the connection.
    s = connect(port)
    srv.expect(re.compile(r"Connexion de .*"))
    s.sendall("moitié d'un mess".encode())
    s.close()
    srv.expect(CLIENT_GONE)
    srv.expect(WAITING)
    s = connect(port)
    srv.expect(re.compile(r"Connexion de .*"))
    s.sendall(b"coucou\n")
    srv.expect("Client : coucou")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # linger 0: RST instead of FIN
    srv.write("toujours là ?\n")
    srv.expect("Vous : toujours là ?")
    srv.expect(CLIENT_GONE)
    srv.expect(WAITING)

    # 7. A line that never ends must not eat the server's memory.
    s = connect(port)
    srv.expect(re.compile(r"Connexion de .*"))
    try:
        s.sendall(b"a" * (2 << 20))
    except OSError:
        pass  # the server may close (reset) before we are done: that is the point
    srv.expect("Client déconnecté (message trop long).")
    srv.expect(WAITING)
    s.close()

    # 8. The server's user leaves (end of its input): it answers "fini" and stops.
    cli = chat_connect(port)
    srv.expect(re.compile(r"Connexion de .*"))
    turn(cli, srv, "Dernier message", "Client : ")
    srv.close_stdin()
    srv.expect("Vous : fini")
    srv.expect("Discussion terminée.")
    srv.expect("Fin de l'entrée : arrêt du serveur.")
    srv.expect_end()
    srv.expect_exit(0)
    cli.expect("Serveur : fini")
    cli.expect("Le serveur a terminé la discussion.")
    cli.expect_exit(0)

    # chat_client against our own server: two answers in one send(), a long one, then the server
    # vanishes mid-turn.
    ls, port = free_listener()
    cli = chat_connect(port)
    conn, _ = ls.accept()
    conn.settimeout(TIMEOUT)
    lines = Lines(conn)
    cli.write("salut\n")
    cli.expect("Vous : salut")
    check(lines.readline() == "salut", "chat_client sends one line per message")
    conn.sendall("un\ndeux\n".encode())
    cli.expect("Serveur : un")
    cli.write("et ?\n")
    cli.expect("Vous : et ?")
    cli.expect("Serveur : deux")  # was already there
    check(lines.readline() == "et ?", "second message")
    long_answer = "à" * 2000
    conn.sendall((long_answer + "\r\n").encode())
    cli.write("long ?\n")  # answer to "deux"
    cli.expect("Vous : long ?")
    check(lines.readline() == "long ?", "third message")
    cli.expect("Serveur : " + long_answer)
    conn.close()  # the server vanishes while the client's user is typing
    cli.write("tu es là ?\n")
    cli.expect("Vous : tu es là ?")
    cli.expect(re.compile(r"Serveur déconnecté( \(.*\))?\."))
    cli.expect_end()
    cli.expect_exit(1)

    # chat_client's user leaves (end of input): it sends "fini" and closes.
    cli = chat_connect(port)
    conn, _ = ls.accept()
    conn.settimeout(TIMEOUT)
    cli.close_stdin()
    cli.expect("Vous : fini")
    cli.expect("Discussion terminée.")
    cli.expect_exit(0)
    check(recv_all(conn) == b"fini\n", "the client sends fini then closes")
    conn.close()
    ls.close()

    # No server: status 1 and Python's error text.
    holder, port = closed_port()
    r = run([exe("chat_client"), "127.0.0.1", str(port)])
    holder.close()
    check(r.returncode == 1 and b"[Errno 111] Connection refused" in r.stderr,
          f"chat_client with no server: {r.returncode} {r.stderr!r}")


def test_sigint():
    """Ctrl-C (SIGINT) ends every example at once, status 130, no crash."""

    def interrupt(proc):
        proc.p.send_signal(signal.SIGINT)
        proc.expect_exit(130)
        check("Interrompu (Ctrl-C)." in proc.stderr(), f"{proc.label}: stderr {proc.stderr()!r}")

    for name in ("echo_server", "ex1_server", "multi_server", "multi_server_helper", "chat_server"):
        proc, _ = start_server(name, "127.0.0.1", "0")  # blocked in accept()
        if name == "multi_server_helper":
            # It listens (in the server's constructor) before it installs its SIGINT handler
            # (shutdown_on_signals()); "En écoute..." comes after: the handler is in place.
            proc.expect("En écoute...")
        interrupt(proc)
    # chat_server blocked on its user's input, a client connected.
    srv, port = start_server("chat_server", "127.0.0.1", "0")
    cli = chat_connect(port)
    cli.write("allô\n")
    srv.expect(WAITING)
    srv.expect(re.compile(r"Connexion de .*"))
    srv.expect("Client : allô")
    interrupt(srv)
    cli.expect("Vous : allô")
    cli.expect(re.compile(r"Serveur déconnecté( \(.*\))?\."))  # the OS closed its socket
    cli.expect_exit(1)
    # chat_client blocked on its user's input.
    ls, port = free_listener()
    cli = chat_connect(port)
    interrupt(cli)
    ls.close()
    # threads, in the middle of its loops. Under ThreadSanitizer (scripts/stages/55-tsan.sh) the
    # runtime defers asynchronous signals and, rarely, loses one that lands while the main thread
    # sits in pthread_join: the program then runs to its end (status 0, no "Interrompu"). So a
    # run that ended normally is tried again, three times at most; a handler that does not end
    # the program fails every time.
    for attempt in range(3):
        proc = Proc([exe("threads")])
        proc.line()
        proc.p.send_signal(signal.SIGINT)
        if proc.wait() != 0 or attempt == 2:
            break
    proc.expect_exit(130)
    check("Interrompu (Ctrl-C)." in proc.stderr(), f"threads: stderr {proc.stderr()!r}")


def ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise Failure(f"ip {' '.join(args)}: {r.stderr.decode().strip()}")


def test_two_machines():
    """Exercise 3 "between two different machines": two network namespaces joined by a veth pair."""
    if not sys.platform.startswith("linux"):
        raise Skip("network namespaces are Linux only")
    if os.geteuid() != 0:
        raise Skip("needs root to create network namespaces (run as root to test two machines)")
    if shutil.which("ip") is None:
        raise Skip("needs the `ip` command (Debian package iproute2)")
    tag = uuid.uuid4().hex[:8]
    ns_srv, ns_cli = f"pysock-srv-{tag}", f"pysock-cli-{tag}"
    veth_srv, veth_cli = f"pks{tag[:6]}s", f"pks{tag[:6]}c"  # interface names: 15 chars at most
    created = []
    try:
        try:
            ip("netns", "add", ns_srv)
        except Failure as e:
            raise Skip(f"cannot create a network namespace here ({e})")
        created.append(ns_srv)
        ip("netns", "add", ns_cli)
        created.append(ns_cli)
        try:
            ip("link", "add", veth_srv, "netns", ns_srv, "type", "veth", "peer", "name", veth_cli,
               "netns", ns_cli)
        except Failure as e:
            raise Skip(f"cannot create a veth pair here ({e})")
        # A private /30 that exists only inside these two namespaces.
        ip("-n", ns_srv, "addr", "add", "10.200.0.1/30", "dev", veth_srv)
        ip("-n", ns_cli, "addr", "add", "10.200.0.2/30", "dev", veth_cli)
        for ns, dev in ((ns_srv, veth_srv), (ns_cli, veth_cli)):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")

        # The server machine listens on every interface at the course's port (the namespace is
        # ours alone, so the port is free); `ip netns exec` execs, so the pid is the server's.
        srv, port = start_server("chat_server", prefix=("ip", "netns", "exec", ns_srv), label="server machine")
        check(port == 63000, f"default port {port}")
        srv.expect(WAITING)
        # Two machines indeed: on the client machine, 127.0.0.1 is another host's loopback.
        r = run(["ip", "netns", "exec", ns_cli, exe("chat_client"), "127.0.0.1"])
        check(r.returncode == 1 and b"Connection refused" in r.stderr,
              f"the server must not be reachable on the client machine's loopback: {r}")
        cli = chat_connect(63000, host="10.200.0.1", prefix=("ip", "netns", "exec", ns_cli),
                           label="client machine")
        srv.expect(re.compile(r"Connexion de \('10\.200\.0\.2', \d+\)"))
        turn(cli, srv, "Bonjour depuis l'autre machine !", "Client : ")
        turn(srv, cli, "Bien reçu, à toi.", "Serveur : ")
        turn(cli, srv, "fini", "Client : ")
        cli.expect("Discussion terminée.")
        cli.expect_exit(0)
        srv.expect("Le client a terminé la discussion.")
        srv.expect(WAITING)
        srv.p.send_signal(signal.SIGINT)
        srv.expect_exit(130)
    finally:
        kill_all()
        for ns in created:  # deleting a namespace deletes its end of the veth pair, hence both
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=TIMEOUT)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=TIMEOUT).stdout.decode()
        if tag in left:
            raise Failure(f"namespaces left behind: {left}")


# ---------------------------------------------------------------------------------------------
# The demo (./scripts/demo): exercises 1, 2 and 3 on loopback, the conversation printed.
# ---------------------------------------------------------------------------------------------
def demo():
    global ECHO
    ECHO = True
    print("== Exercices 1 et 2 : « Serveur es-tu là ? » ==", flush=True)
    srv, port = start_server("ex1_server", "127.0.0.1", "0")
    print(f"$ ex1_server 127.0.0.1 {port}    # (port {port}: a free one; the default is 63000)")
    print(f"$ ex2_client localhost {port}", flush=True)
    cli = Proc([exe("ex2_client"), "localhost", str(port)])
    srv.expect(re.compile(r"Client connecté : .*"))
    srv.expect(re.compile(r"Message reçu : .*"))
    cli.expect(QUESTION)
    cli.expect("Présent !")
    cli.expect_exit(0)
    srv.expect_exit(0)

    print("\n== Exercice 3 : la discussion ==", flush=True)
    srv, port = start_server("chat_server", "127.0.0.1", "0")
    print(f"$ chat_server 127.0.0.1 {port}")
    srv.expect(WAITING)
    print(f"$ chat_client 127.0.0.1 {port}", flush=True)
    cli = chat_connect(port)
    srv.expect(re.compile(r"Connexion de .*"))
    turn(cli, srv, "Bonjour ! Tu m'entends ?", "Client : ")
    turn(srv, cli, "Oui, très bien. Ça marche entre nos deux programmes.", "Serveur : ")
    turn(cli, srv, "Génial. Je m'en vais.", "Client : ")
    turn(srv, cli, "À bientôt !", "Serveur : ")
    turn(cli, srv, "fini", "Client : ")
    cli.expect("Discussion terminée.")
    cli.expect_exit(0)
    srv.expect("Le client a terminé la discussion.")
    srv.expect(WAITING)
    print(f"$ chat_client 127.0.0.1 {port}    # a second client; this time the server ends", flush=True)
    cli = chat_connect(port)
    srv.expect(re.compile(r"Connexion de .*"))
    turn(cli, srv, "Re-bonjour !", "Client : ")
    turn(srv, cli, "fini", "Serveur : ")
    srv.expect("Discussion terminée.")
    cli.expect("Le serveur a terminé la discussion.")
    cli.expect_exit(0)
    srv.expect(WAITING)
    print("(Ctrl-C on the server)", flush=True)
    srv.p.send_signal(signal.SIGINT)
    srv.expect_exit(130)


# ---------------------------------------------------------------------------------------------
# TLS (pysock/ssl.hpp): certificates made by the README's own commands
# ---------------------------------------------------------------------------------------------
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def readme_certificate(directory):
    """Runs, in `directory`, the openssl commands README.md gives between its
    <!-- tls-certificate-commands --> markers (so the README cannot lie about them); returns the
    paths of cert.pem and key.pem."""
    if shutil.which("openssl") is None:
        raise Skip("no openssl command: the README's certificate commands need it")
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- tls-certificate-commands -->(.*?)<!-- /tls-certificate-commands -->", text, re.S)
    check(m, "README.md lost its <!-- tls-certificate-commands --> block")
    commands = [line.strip() for line in m.group(1).splitlines() if line.strip().startswith("openssl ")]
    check(commands, "README.md's certificate block has no openssl command")
    for command in commands:
        r = subprocess.run(command, shell=True, cwd=directory, capture_output=True, timeout=TIMEOUT)
        check(r.returncode == 0, f"README command failed: {command}\n{r.stderr.decode()}")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    check(os.path.exists(cert) and os.path.exists(key), "the README's commands made no cert.pem/key.pem")
    return cert, key


def tls_client(port, cafile, payload):
    """Python's ssl client: sends payload, returns what comes back (as much as was sent)."""
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tls:
            tls.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = tls.recv(65536)
                check(chunk, f"TLS echo closed after {len(got)} of {len(payload)} bytes")
                got += chunk
            return got


def test_tls():
    """tls_echo_server (one thread, selectors) with tls_echo_client and Python's ssl clients:
    concurrent clients, an idle client that never shakes hands, a plaintext client and an
    untrusting client, none of which stops the others."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cert, key = readme_certificate(d)
        srv, port = start_server("tls_echo_server", "127.0.0.1", "0", cert, key)
        srv.expect(f"Listening on ('127.0.0.1', {port}) with TLS")
        idle = connect(port)  # connects, never says a word: the loop must not wait for it
        srv.expect(re.compile(r"Accepted connection from \('127\.0\.0\.1', \d+\)"))
        r = run([exe("tls_echo_client"), "127.0.0.1", str(port), cert])
        check(r.returncode == 0 and b"Received b'Bonjour'" in r.stdout,
              f"tls_echo_client: {r.returncode} {r.stdout!r} {r.stderr!r}")
        check(b"Connected with TLSv1.3" in r.stdout, f"tls_echo_client: {r.stdout!r}")
        payloads = [os.urandom(100_000 + i) for i in range(16)]
        results = [None] * len(payloads)

        def one(i):
            results[i] = tls_client(port, cert, payloads[i])
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        check(results == payloads, "some concurrent TLS echoes came back wrong or not at all")
        with connect(port) as plain:  # plaintext: the server closes that connection only
            plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:  # closed with unread bytes: an RST, or an EOF if the kernel read them all first
                check(recv_all(plain) == b"", "a plaintext client got an answer")
            except ConnectionResetError:
                pass
        other_dir = os.path.join(d, "other")
        os.mkdir(other_dir)
        other_cert, _ = readme_certificate(other_dir)
        r = run([exe("tls_echo_client"), "127.0.0.1", str(port), other_cert])
        check(r.returncode == 1 and b"CERTIFICATE_VERIFY_FAILED" in r.stderr,
              f"a client trusting another certificate: {r.returncode} {r.stderr!r}")
        check(tls_client(port, cert, b"still serving") == b"still serving", "the server stopped serving")
        idle.close()
        srv.kill()
        log = "\n".join(srv.seen) + "\n" + "\n".join(l for l in iter(lambda: srv.line(1), None))
        check("HTTP_REQUEST" in log or "WRONG_VERSION_NUMBER" in log, f"no log of the plaintext client:\n{log}")
        check("TLSV1_ALERT_UNKNOWN_CA" in log, f"no log of the untrusting client:\n{log}")


HTTPS_SERVER = """
import http.server, ssl, sys, functools
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("port", httpd.server_address[1], flush=True)
httpd.serve_forever()
"""


def test_https():
    """https_get against Python's http.server behind ssl: a file, a 404, a server it must not
    trust, a bad URL."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cert, key = readme_certificate(d)
        root = os.path.join(d, "www")
        os.mkdir(root)
        body = b"Hello over TLS\n" * 1000
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(body)
        srv = Proc([sys.executable, "-c", HTTPS_SERVER, root, cert, key], label="https server")
        port = int(srv.line().split()[1])
        r = run([exe("https_get"), f"https://localhost:{port}/hello.txt", "--cafile", cert])
        check(r.returncode == 0 and r.stdout == body, f"https_get: {r.returncode} {len(r.stdout)} bytes {r.stderr!r}")
        check(r.stderr.startswith(b"HTTP/1.0 200 OK"), f"https_get status: {r.stderr!r}")
        r = run([exe("https_get"), f"https://127.0.0.1:{port}/missing", "--cafile", cert])
        check(r.returncode == 1 and r.stderr.startswith(b"HTTP/1.0 404"), f"404: {r.returncode} {r.stderr!r}")
        r = run([exe("https_get"), f"https://localhost:{port}/hello.txt"])  # system store: untrusted
        check(r.returncode == 1 and b"CERTIFICATE_VERIFY_FAILED" in r.stderr, f"untrusted: {r.returncode} {r.stderr!r}")
        r = run([exe("https_get"), f"http://localhost:{port}/"])
        check(r.returncode == 2 and b"usage" in r.stderr, f"bad URL: {r.returncode} {r.stderr!r}")


TESTS = {
    "args": test_args,
    "echo": test_echo,
    "exercises": test_exercises,
    "threads": test_threads,
    "multi_server": test_multi_server,
    "multi_server_helper": test_multi_server_helper,
    "chat": test_chat,
    "multiconn": test_multiconn,
    "multiconn_errors": test_multiconn_errors,
    "http": test_http,
    "sigint": test_sigint,
    "two_machines": test_two_machines,
    "tls": test_tls,
    "https": test_https,
}


def main():
    global BINDIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bindir", required=True, help="directory holding the built examples")
    parser.add_argument("test", choices=sorted(TESTS) + ["demo", "all"])
    args = parser.parse_args()
    BINDIR = args.bindir
    names = sorted(TESTS) if args.test == "all" else [args.test]
    status = 0
    for name in names:
        try:
            demo() if name == "demo" else TESTS[name]()
            print(f"PASS  {name}", flush=True)
        except Skip as e:
            print(f"SKIP  {name}: {e}", flush=True)
            status = status or (SKIP if len(names) == 1 else 0)
        except (Failure, OSError) as e:
            print(f"FAIL  {name}: {type(e).__name__ if isinstance(e, OSError) else ''}{e}", flush=True)
            status = 1
        finally:
            kill_all()
    return status


if __name__ == "__main__":
    sys.exit(main())
