// sock.makefile(): Python's file object over a socket (socket.SocketIO in a BufferedRWPair): modes,
// line framing across recv() boundaries, limits, buffering and flushing, timeouts, lifetimes.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pysock_test;

namespace {

// A connected pair whose ends a lambda can capture (clang 14 cannot capture structured bindings).
struct pair_of_sockets {
    pysock::socket a, b;
    pair_of_sockets() {
        auto p = pysock::socketpair();
        a = std::move(p.first);
        b = std::move(p.second);
        a.settimeout(SAFETY_TIMEOUT);
        b.settimeout(SAFETY_TIMEOUT);
    }
};

}  // namespace

// =============================================================================================
// Modes
// =============================================================================================

TEST_CASE("makefile accepts Python's modes and says what each can do") {
    pair_of_sockets p;
    struct expected {
        const char* mode;
        bool readable, writable;
    };
    for (auto e :
         {expected{"r", true, false}, expected{"rb", true, false}, expected{"b", true, false},
          expected{"w", false, true}, expected{"wb", false, true}, expected{"rw", true, true},
          expected{"rwb", true, true}, expected{"wr", true, true}, expected{"", true, false}}) {
        CAPTURE(e.mode);
        pysock::socket_file f = p.a.makefile(e.mode);
        CHECK(f.readable() == e.readable);
        CHECK(f.writable() == e.writable);
    }
}

TEST_CASE("an invalid mode is a ValueError with Python's message") {
    pair_of_sockets p;
    for (const char* mode : {"x", "rt", "a", "r+", "R"}) {
        CAPTURE(mode);
        auto r = expect_raises<std::invalid_argument>([&] { p.a.makefile(mode); });
        CHECK(r.what == std::string("invalid mode '") + mode + "' (only r, w, b allowed)");
    }
}

TEST_CASE("reading a write-only file or writing a read-only one is UnsupportedOperation") {
    pair_of_sockets p;
    pysock::socket_file w = p.a.makefile("wb");
    pysock::socket_file r = p.a.makefile("rb");
    auto e1 = expect_raises<pysock::unsupported_operation>([&] { w.readline(); });
    CHECK(e1.what == "File or stream is not readable.");
    auto e2 = expect_raises<pysock::unsupported_operation>([&] { r.write("x"); });
    CHECK(e2.what == "File or stream is not writable.");
    expect_raises<pysock::error>([&] { w.read(1); });  // an OSError, as Python's
}

TEST_CASE("a closed socket cannot make a file") {
    pysock::socket s;
    s.close();
    auto r = expect_raises<pysock::error>([&] { s.makefile(); });
    CHECK(r.code.value() == closed_socket_errno);
}

// =============================================================================================
// Reading lines
// =============================================================================================

TEST_CASE("readline keeps the newline, and returns the last line without one at end of stream") {
    pair_of_sockets p;
    p.a.sendall("first\nsecond\nlast");
    p.a.shutdown(SHUT_WR);
    pysock::socket_file f = p.b.makefile("rb");
    CHECK(f.readline() == "first\n");
    CHECK(f.readline() == "second\n");
    CHECK(f.readline() == "last");
    CHECK(f.readline().empty());
    CHECK(f.readline().empty());  // end of stream stays the end
}

TEST_CASE("a line split across many recv calls, one byte each, comes back whole") {
    pair_of_sockets p;
    peer_thread writer([&] {
        for (char c : std::string("split across many reads\nnext\n"))
            p.a.sendall(std::string(1, c));
        p.a.shutdown(SHUT_WR);
    });
    pysock::socket_file f = p.b.makefile("rb", 1);  // a one-byte buffer: one recv() per byte
    CHECK(f.readline() == "split across many reads\n");
    CHECK(f.readline() == "next\n");
    CHECK(f.readline().empty());
    writer.join();
}

TEST_CASE("a line longer than the buffer comes back whole") {
    pair_of_sockets p;
    const std::string line(100000, 'x');
    peer_thread writer([&] {
        p.a.sendall(line + "\nafter\n");
        p.a.shutdown(SHUT_WR);
    });
    pysock::socket_file f = p.b.makefile("rb", 16);
    CHECK(f.readline() == line + "\n");
    CHECK(f.readline() == "after\n");
    writer.join();
}

TEST_CASE("readline's limit cuts a line, and the rest follows") {
    pair_of_sockets p;
    p.a.sendall("hello world\nx\n");
    pysock::socket_file f = p.b.makefile("rb");
    CHECK(f.readline(5) == "hello");
    CHECK(f.readline(5) == " worl");
    CHECK(f.readline(5) == "d\n");
    CHECK(f.readline(2) == "x\n");  // the newline fits: the line ends there
    CHECK(f.readline(0).empty());   // Python: readline(0) is b''
}

TEST_CASE("a limit bounds what a peer that never sends a newline can make the reader hold") {
    pair_of_sockets p;
    peer_thread writer([&] { p.a.sendall(std::string(70000, 'A')); });
    pysock::socket_file f = p.b.makefile("rb");
    pysock::bytes line = f.readline(65537);  // http.server's request-line bound
    CHECK(line.size() == 65537);
    CHECK(line.back() == 'A');  // no newline: the caller knows the line was too long
    writer.join();
}

TEST_CASE("read(n) and readline interleave without losing a byte") {
    pair_of_sockets p;
    p.a.sendall("abcdef\nghij\nklm");
    p.a.shutdown(SHUT_WR);
    pysock::socket_file f = p.b.makefile("rb", 4);
    CHECK(f.read(2) == "ab");
    CHECK(f.readline() == "cdef\n");
    CHECK(f.read(3) == "ghi");
    CHECK(f.readline() == "j\n");
    CHECK(f.read() == "klm");  // read() reads to end of stream
    CHECK(f.read().empty());
    CHECK(f.read(10).empty());
}

TEST_CASE("readlines and iteration give every line") {
    pair_of_sockets p;
    p.a.sendall("1\n22\n333");
    p.a.shutdown(SHUT_WR);
    SUBCASE("readlines") {
        pysock::socket_file f = p.b.makefile("rb");
        CHECK(f.readlines() == std::vector<pysock::bytes>{"1\n", "22\n", "333"});
    }
    SUBCASE("for (const auto& line : f)") {
        pysock::socket_file f = p.b.makefile("rb");
        std::vector<pysock::bytes> lines;
        for (const auto& line : f) lines.push_back(line);
        CHECK(lines == std::vector<pysock::bytes>{"1\n", "22\n", "333"});
    }
}

TEST_CASE("readinto fills the buffer, from what is buffered first") {
    pair_of_sockets p;
    p.a.sendall("line\n0123456789");
    p.a.shutdown(SHUT_WR);
    pysock::socket_file f = p.b.makefile("rb");
    CHECK(f.readline() == "line\n");
    char buf[8];
    CHECK(f.readinto(buf, sizeof buf) == 8);
    CHECK(std::string(buf, 8) == "01234567");
    std::string rest(8, '\0');
    CHECK(f.readinto(rest) == 2);  // fewer only at end of stream
    CHECK(rest.substr(0, 2) == "89");
}

TEST_CASE(
    "an unbuffered file reads with one recv per read, and readline never reads past its line") {
    pair_of_sockets p;
    p.a.sendall("one\ntwo\n");
    pysock::socket_file f = p.b.makefile("rb", 0);
    CHECK(f.readline() == "one\n");
    // Nothing past the newline was consumed: the socket itself still has "two\n".
    CHECK(p.b.recv(16) == "two\n");
    p.a.sendall("abc");
    CHECK(f.read(100) == "abc");  // one recv(): what is there, not 100 bytes
}

// =============================================================================================
// Writing
// =============================================================================================

TEST_CASE("writes are buffered until flush, and write returns the count") {
    pair_of_sockets p;
    pysock::socket_file f = p.a.makefile("wb");
    CHECK(f.write("buffered") == 8);
    p.b.settimeout(0.0);
    expect_raises<pysock::blocking_io_error>([&] { p.b.recv(16); });  // nothing sent yet
    f.flush();
    p.b.settimeout(SAFETY_TIMEOUT);
    CHECK(p.b.recv(16) == "buffered");
}

TEST_CASE("close flushes, and so does the destructor") {
    pair_of_sockets p;
    {
        pysock::socket_file f = p.a.makefile("wb");
        f.write("by close");
        f.close();
        CHECK(f.closed());
        f.close();  // idempotent
    }
    CHECK(p.b.recv(16) == "by close");
    {
        pysock::socket_file f = p.a.makefile("wb");
        f.write("by destructor");
    }
    CHECK(p.b.recv(16) == "by destructor");
}

TEST_CASE("a write larger than the buffer goes out at once, after what was buffered") {
    pair_of_sockets p;
    pysock::socket_file f = p.a.makefile("wb", 16);
    f.write("head:");
    const std::string big(100, 'b');
    CHECK(f.write(big) == big.size());
    f.close();
    p.a.close();
    CHECK(recv_all(p.b) == "head:" + big);
}

TEST_CASE("an unbuffered writer sends every write at once") {
    pair_of_sockets p;
    pysock::socket_file f = p.a.makefile("wb", 0);
    CHECK(f.write("now") == 3);
    CHECK(p.b.recv(16) == "now");
}

TEST_CASE("the destructor of a file whose peer is gone does not throw") {
    pair_of_sockets p;
    {
        pysock::socket_file f = p.a.makefile("wb");
        f.write("into the void");
        p.b.close();
        p.a.close();
    }  // the flush fails (EPIPE or ECONNRESET): swallowed
    CHECK(p.a.fileno() == pysock::native_handle_type(-1));
}

// =============================================================================================
// Lifetimes, closing, timeouts
// =============================================================================================

TEST_CASE("closing the socket leaves a file's connection open until the file is closed") {
    pair_of_sockets p;
    pysock::socket_file f = p.a.makefile("rwb");
    CHECK(f.fileno() != p.a.fileno());
    p.a.close();
    f.write("still here\n");
    f.flush();
    CHECK(p.b.recv(16) == "still here\n");
    p.b.sendall("reply\n");
    CHECK(f.readline() == "reply\n");
    f.close();
    CHECK(p.b.recv(16).empty());  // now the connection is closed
}

TEST_CASE("moving or destroying the socket while a file is open is safe") {
    pair_of_sockets p;
    std::optional<pysock::socket_file> f;
    {
        pysock::socket moved = std::move(p.a);
        f.emplace(moved.makefile("rwb"));
    }  // the socket object is gone
    f->write("after the socket\n");
    f->flush();
    CHECK(p.b.recv(32) == "after the socket\n");
    pysock::socket_file g = std::move(*f);  // a moved-from file is closed
    CHECK(f->closed());
    CHECK_FALSE(g.closed());
}

TEST_CASE("a closed file refuses every operation with Python's ValueError") {
    pair_of_sockets p;
    pysock::socket_file f = p.a.makefile("rwb");
    f.close();
    for (auto op : {0, 1, 2, 3, 4, 5}) {
        CAPTURE(op);
        auto r = expect_raises<std::invalid_argument>([&] {
            switch (op) {
            case 0: f.readline(); break;
            case 1: f.read(1); break;
            case 2: f.write("x"); break;
            case 3: f.flush(); break;
            case 4: f.fileno(); break;
            default: f.readable(); break;
            }
        });
        CHECK(r.what == "I/O operation on closed file.");
    }
}

TEST_CASE("after a timeout the file refuses reads, but keeps what it received") {
    pair_of_sockets p;
    p.b.settimeout(0.05);
    pysock::socket_file f = p.b.makefile("rb");
    p.a.sendall("one\ntwo");
    CHECK(f.readline() == "one\n");
    auto t = expect_raises<pysock::timeout>([&] { f.readline(); });  // "two" waits for its newline
    CHECK(t.what == "timed out");
    CHECK(t.elapsed >= 0.04);
    p.a.sendall("\n");
    auto r = expect_raises<pysock::error>([&] { f.readline(); });
    CHECK(r.what == "cannot read from timed out object");
    CHECK(f.read(3) == "two");  // received before the timeout: not lost
}

TEST_CASE("the file keeps the socket's timeout mode") {
    pair_of_sockets p;
    p.b.settimeout(0.0);
    pysock::socket_file f = p.b.makefile("rb");
    expect_raises<pysock::blocking_io_error>([&] { f.readline(); });
}

TEST_CASE(
    "a peer reset in the middle of a line is ConnectionResetError" *
    skip_under_wine("wine 8: an abortive close (SO_LINGER 0) reaches the peer as a clean EOF")) {
    tcp_connection c = connect_tcp();
    c.server.settimeout(SAFETY_TIMEOUT);
    pysock::socket_file f = c.server.makefile("rb");
    c.client.sendall("partial line");
    CHECK(f.read(7) == "partial");  // " line" is buffered now
    close_with_reset(c.client);
    expect_raises<pysock::connection_reset_error>([&] { f.readline(); });
}
