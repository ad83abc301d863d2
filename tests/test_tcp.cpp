// TCP: bind/listen/accept/connect/connect_ex, data transfer (recv, recv_into, recvfrom,
// recvfrom_into, send, sendall), end of stream, half-close, resets, broken pipes (without
// SIGPIPE), IPv6 on ::1, create_connection and create_server.
//
// Python's socket module is the specification; tests ported from CPython's
// Lib/test/test_socket.py name the original test in a comment above the TEST_CASE.
//
// Windows (mingw-w64 under wine): expected values are what CPython gives there ([WinError N]
// texts, the WSA codes); tests of POSIX-only behaviour (fork/SIGPIPE, Linux's TCP_INFO and
// /proc, SO_REUSEPORT) and of what wine 8 does not do (abortive close as a reset) are reported
// skipped with the reason.

#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace pysock_test;

namespace {

// CPython's MSG (renamed: <windows.h> has a MSG type): 'Michael Gilfix was here\u1234\r\n'.encode('utf-8')
const pysock::bytes TEST_MSG = "Michael Gilfix was here\xe1\x88\xb4\r\n";

pysock::bytes random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    pysock::bytes out(n, '\0');
    for (auto& c : out) c = static_cast<char>(gen() & 0xff);
    return out;
}

bool readable_within(const pysock::socket& s, int ms) {
#if defined(_WIN32)
    // select(), as CPython on Windows (wine's WSAPoll does not report a peer's FIN as readable).
    fd_set r;
    FD_ZERO(&r);
    FD_SET(s.fileno(), &r);
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    return ::select(0, &r, nullptr, nullptr, &tv) == 1 && FD_ISSET(s.fileno(), &r);
#else
    pollfd p{s.fileno(), POLLIN, 0};
    return ::poll(&p, 1, ms) == 1 && (p.revents & POLLIN) != 0;
#endif
}

#if !defined(_WIN32)
// Runs body in a forked child whose SIGPIPE disposition is the default (terminate). Returns
// the child's wait status. body returns the child's exit code.
template <class F>
int run_in_child_with_default_sigpipe(F body) {
    pid_t pid = ::fork();
    REQUIRE(pid != -1);
    if (pid == 0) {
        ::signal(SIGPIPE, SIG_DFL);
        int code = 99;
        try {
            code = body();
        } catch (...) {
            code = 98;
        }
        ::_exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
}
#endif

// EINVAL as CPython reports it: Python's errno.EINVAL on POSIX, WSAEINVAL (10022) on Windows.
constexpr int socket_einval =
#if defined(_WIN32)
    WSAEINVAL;
#else
    EINVAL;
#endif

const char* const no_tcp_info = "TCP_INFO (the listen backlog the kernel applied) is Linux-only";
const char* const no_reuseport = "SO_REUSEPORT does not exist on Windows";
const char* const no_sigpipe = "fork() and SIGPIPE do not exist on Windows";
const char* const wine_no_reset =
    "wine 8: an abortive close (SO_LINGER 0) reaches the peer as a clean EOF, not WSAECONNRESET";

#ifdef __linux__
// The accept-queue limit the kernel applied to a listening socket (tcpi_sacked is
// sk_max_ack_backlog for a socket in LISTEN state).
unsigned listen_backlog_of(const pysock::socket& s) {
    tcp_info info{};
    socklen_t len = sizeof info;
    REQUIRE(::getsockopt(s.fileno(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0);
    return info.tcpi_sacked;
}
#endif

}  // namespace

// ---------------------------------------------------------------------------------------------
// bind / listen / accept / connect

TEST_CASE("accept returns the connected socket and the client's address") {
    pysock::socket l = make_listener();
    pysock::socket c;
    c.connect(l.getsockname());
    auto [conn, addr] = l.accept();
    CHECK(addr == c.getsockname());
    CHECK(addr.host == "127.0.0.1");
    CHECK(addr.family == AF_INET);
    CHECK(conn.family() == AF_INET);
    CHECK(conn.type() == SOCK_STREAM);
    CHECK(conn.getsockname() == l.getsockname());
    CHECK(conn.getpeername() == c.getsockname());
    CHECK(c.getpeername() == l.getsockname());
}

// CPython's HOST is "localhost": host names are resolved as Python does in bind() and connect().
TEST_CASE("bind and connect resolve a host name") {
    pysock::socket l;
    l.bind({"localhost", 0});
    l.listen();
    CHECK(l.getsockname().host == "127.0.0.1");
    pysock::socket c;
    c.connect({"localhost", l.getsockname().port});
    CHECK(c.getpeername() == l.getsockname());
}

// CPython: GeneralModuleTests.test_listen_backlog
TEST_CASE("listen accepts a backlog of 0, -1 and the default") {
    for (int backlog : {0, -1}) {
        CAPTURE(backlog);
        pysock::socket s;
        s.bind({"127.0.0.1", 0});
        CHECK_NOTHROW(s.listen(backlog));
    }
    pysock::socket s;
    s.bind({"127.0.0.1", 0});
    CHECK_NOTHROW(s.listen());
}

#if defined(__linux__) || defined(_WIN32)
TEST_CASE("listen's default backlog is Python's min(SOMAXCONN, 128)" *
          skip_on_windows(no_tcp_info)) {
#if defined(__linux__)
    pysock::socket s;
    s.bind({"127.0.0.1", 0});
    s.listen();
    CHECK(listen_backlog_of(s) == static_cast<unsigned>(std::min(SOMAXCONN, 128)));
#endif
}

TEST_CASE("listen passes an explicit backlog and clamps a negative one to 0, as Python does" *
          skip_on_windows(no_tcp_info)) {
#if defined(__linux__)
    SUBCASE("5") {
        pysock::socket s;
        s.bind({"127.0.0.1", 0});
        s.listen(5);
        CHECK(listen_backlog_of(s) == 5);
    }
    SUBCASE("0") {
        pysock::socket s;
        s.bind({"127.0.0.1", 0});
        s.listen(0);
        CHECK(listen_backlog_of(s) == 0);
    }
    SUBCASE("-1") {
        pysock::socket s;
        s.bind({"127.0.0.1", 0});
        s.listen(-1);
        CHECK(listen_backlog_of(s) == 0);
    }
#endif
}
#endif

TEST_CASE("binding an address that is in use throws EADDRINUSE") {
    pysock::socket a = make_listener();
    pysock::socket b;
    auto r = expect_raises<pysock::error>([&] { b.bind(a.getsockname()); });
    CHECK(r.type == std::type_index(typeid(pysock::error)));
    CHECK(r.code.value() == EADDRINUSE);
    CHECK(r.what ==
          on_platform<std::string>("[Errno 98] Address already in use",
                                   "[WinError 10048] Only one usage of each socket address "
                                   "(protocol/network address/port) is normally permitted"));
}

TEST_CASE("binding an address that is not local throws EADDRNOTAVAIL") {
    pysock::socket s;
    auto r = expect_raises<pysock::error>([&] { s.bind({"192.0.2.1", 0}); });  // TEST-NET-1
    CHECK(r.code.value() == EADDRNOTAVAIL);
    CHECK(r.what == on_platform<std::string>(
                        "[Errno 99] Cannot assign requested address",
                        "[WinError 10049] The requested address is not valid in its context"));
}

TEST_CASE("accept on a socket that is not listening throws EINVAL") {
    pysock::socket s;
    s.bind({"127.0.0.1", 0});
    auto r = expect_raises<pysock::error>([&] { (void)s.accept(); });
    CHECK(r.code.value() == socket_einval);
    CHECK(r.what == on_platform<std::string>("[Errno 22] Invalid argument",
                                             "[WinError 10022] An invalid argument was supplied"));
}

TEST_CASE(
    "recv on a listening socket throws ENOTCONN" *
    skip_under_wine("wine 8: recv() on a listening socket blocks instead of failing WSAENOTCONN")) {
    pysock::socket l = make_listener();
    auto r = expect_raises<pysock::error>([&] { (void)l.recv(1); });
    CHECK(r.code.value() == ENOTCONN);
}

TEST_CASE("connecting a connected socket throws EISCONN and connect_ex returns it") {
    auto c = connect_tcp();
    auto r = expect_raises<pysock::error>([&] { c.client.connect(c.listener.getsockname()); });
    CHECK(r.code.value() == EISCONN);
    CHECK(r.what ==
          on_platform<std::string>("[Errno 106] Transport endpoint is already connected",
                                   "[WinError 10056] A connect request was made on an already "
                                   "connected socket"));
    CHECK(c.client.connect_ex(c.listener.getsockname()) == EISCONN);
}

// CPython: NetworkConnectionNoServer.test_connect
TEST_CASE("connect to a port nobody listens on throws connection_refused_error") {
    refusing_port nobody;
    pysock::socket c;
    auto r = expect_raises<pysock::connection_refused_error>([&] { c.connect(nobody.addr); });
    CHECK(r.type == std::type_index(typeid(pysock::connection_refused_error)));
    CHECK(r.code.value() == ECONNREFUSED);
    CHECK(r.what ==
          on_platform<std::string>("[Errno 111] Connection refused",
                                   "[WinError 10061] No connection could be made because the "
                                   "target machine actively refused it"));
}

TEST_CASE("connection_refused_error is a connection_error, an error and a std::system_error") {
    refusing_port nobody;
    pysock::socket c1, c2, c3;
    CHECK_THROWS_AS(c1.connect(nobody.addr), pysock::connection_error);
    CHECK_THROWS_AS(c2.connect(nobody.addr), pysock::error);
    CHECK_THROWS_AS(c3.connect(nobody.addr), std::system_error);
}

TEST_CASE("connect_ex returns 0 on success and the errno on failure") {
    SUBCASE("success") {
        pysock::socket l = make_listener();
        pysock::socket c;
        CHECK(c.connect_ex(l.getsockname()) == 0);
        CHECK(c.getpeername() == l.getsockname());
    }
    SUBCASE("refused") {
        refusing_port nobody;
        pysock::socket c;
        CHECK(c.connect_ex(nobody.addr) == ECONNREFUSED);
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and receiving (CPython's BasicTCPTest, BasicTCPTest2, BufferIOTest)

// CPython: BasicTCPTest.testRecv, BasicTCPTest2.testRecv (client made by create_connection)
TEST_CASE("recv returns what the peer sent") {
    SUBCASE("socket + connect") {
        auto c = connect_tcp();
        CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
        CHECK(c.server.recv(1024) == TEST_MSG);
    }
    SUBCASE("create_connection") {
        pysock::socket l = make_listener();
        pysock::socket cli = pysock::create_connection(l.getsockname());
        auto [conn, addr] = l.accept();
        CHECK(cli.send(TEST_MSG) == TEST_MSG.size());
        CHECK(conn.recv(1024) == TEST_MSG);
    }
}

// CPython: BasicTCPTest.testOverFlowRecv
TEST_CASE("recv returns at most bufsize bytes and the rest stays queued") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    pysock::bytes seg1 = c.server.recv(TEST_MSG.size() - 3);
    CHECK(seg1.size() <= TEST_MSG.size() - 3);
    pysock::bytes seg2 = c.server.recv(1024);
    CHECK(seg1 + seg2 == TEST_MSG);
}

// CPython: BasicTCPTest.testRecvFrom, testOverFlowRecvFrom
TEST_CASE("recvfrom works on a connected TCP socket") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    SUBCASE("whole") {
        auto [msg, addr] = c.server.recvfrom(1024);
        CHECK(msg == TEST_MSG);
    }
    SUBCASE("in chunks") {
        auto [seg1, a1] = c.server.recvfrom(TEST_MSG.size() - 3);
        auto [seg2, a2] = c.server.recvfrom(1024);
        CHECK(seg1 + seg2 == TEST_MSG);
    }
}

// CPython: BufferIOTest.testRecvIntoArray, testRecvIntoBytearray
TEST_CASE("recv_into fills the caller's buffer and returns the byte count") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    SUBCASE("a buffer of exactly len(TEST_MSG)") {
        std::vector<char> buf(TEST_MSG.size(), '\0');
        std::size_t n = c.server.recv_into(buf.data(), buf.size());
        CHECK(n == TEST_MSG.size());
        CHECK(pysock::bytes(buf.data(), n) == TEST_MSG);
    }
    SUBCASE("a larger buffer") {
        char buf[1024];
        std::memset(buf, 'z', sizeof buf);
        std::size_t n = c.server.recv_into(buf, sizeof buf);
        CHECK(n == TEST_MSG.size());
        CHECK(pysock::bytes(buf, n) == TEST_MSG);
        CHECK(buf[n] == 'z');  // nothing written past what was received
    }
    SUBCASE("nbytes smaller than what is queued") {
        char buf[1024];
        std::size_t n = c.server.recv_into(buf, 5);
        CHECK(n == 5);
        CHECK(pysock::bytes(buf, n) == TEST_MSG.substr(0, 5));
        CHECK(c.server.recv(1024) == TEST_MSG.substr(5));
    }
}

// CPython: BufferIOTest.testRecvFromIntoArray, testRecvFromIntoBytearray, testRecvFromIntoEmptyBuffer
TEST_CASE("recvfrom_into fills the caller's buffer on a TCP socket") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    SUBCASE("whole") {
        char buf[1024];
        auto [n, addr] = c.server.recvfrom_into(buf, sizeof buf);
        CHECK(n == TEST_MSG.size());
        CHECK(pysock::bytes(buf, n) == TEST_MSG);
    }
    SUBCASE("an empty buffer receives nothing") {
        std::vector<char> buf;  // Python: bytearray(0); nbytes 0 means "the buffer's size"
        auto [n, addr] = c.server.recvfrom_into(buf);
        CHECK(n == 0);
        CHECK(c.server.recv(1024) == TEST_MSG);
    }
}

// CPython: BufferIOTest.testRecvIntoArray, testRecvIntoBytearray (the buffer overloads)
TEST_CASE("recv_into with a buffer object fills it and nbytes 0 means the whole buffer") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    SUBCASE("std::vector<char> of len(TEST_MSG)") {
        std::vector<char> buf(TEST_MSG.size());
        CHECK(c.server.recv_into(buf) == TEST_MSG.size());
        CHECK(pysock::bytes(buf.data(), buf.size()) == TEST_MSG);
    }
    SUBCASE("std::array<unsigned char, 1024>") {
        std::array<unsigned char, 1024> buf{};
        std::size_t n = c.server.recv_into(buf);
        CHECK(n == TEST_MSG.size());
        CHECK(pysock::bytes(reinterpret_cast<const char*>(buf.data()), n) == TEST_MSG);
    }
    SUBCASE("explicit nbytes") {
        std::vector<char> buf(1024);
        CHECK(c.server.recv_into(buf, 4) == 4);
        CHECK(pysock::bytes(buf.data(), 4) == TEST_MSG.substr(0, 4));
    }
}

// CPython: BufferIOTest.testRecvFromIntoSmallBuffer
TEST_CASE("recvfrom_into with nbytes larger than the buffer throws std::invalid_argument") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    std::vector<char> buf(8);
    CHECK_THROWS_AS((void)c.server.recvfrom_into(buf, 1024), std::invalid_argument);
    CHECK_THROWS_AS((void)c.server.recv_into(buf, 1024), std::invalid_argument);
    CHECK(c.server.recv(1024) == TEST_MSG);  // nothing was consumed
}

TEST_CASE("recv with MSG_PEEK leaves the data queued") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    CHECK(c.server.recv(1024, MSG_PEEK) == TEST_MSG);
    CHECK(c.server.recv(1024) == TEST_MSG);
}

// Python: s.recv(0) == b"" and s.recv_into(bytearray(0)) == 0 at once, even with nothing queued.
TEST_CASE("recv(0) and recv_into of an empty buffer return at once, as in Python") {
    SUBCASE("TCP") {
        auto c = connect_tcp();
        c.server.settimeout(2.0);  // bounds a wrong wait
        auto start = std::chrono::steady_clock::now();
        CHECK(c.server.recv(0) == "");
        std::vector<char> empty;  // Python: s.recv_into(bytearray(0))
        CHECK(c.server.recv_into(empty) == 0);
        char buf[1];
        CHECK(c.server.recv_into(static_cast<void*>(buf), 0) == 0);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    }
    SUBCASE("UDP (nothing queued)") {
        pysock::socket u(AF_INET, SOCK_DGRAM);
        u.bind({"127.0.0.1", 0});
        u.settimeout(2.0);
        auto start = std::chrono::steady_clock::now();
        CHECK(u.recv(0) == "");
        std::vector<char> empty;
        CHECK(u.recv_into(empty) == 0);
        char buf[1];
        CHECK(u.recv_into(static_cast<void*>(buf), 0) == 0);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    }
}

// CPython: ContextManagersTest._testSocketClass ("exception inside with block")
// Windows: send() on an unconnected TCP socket fails WSAENOTCONN, a plain OSError in CPython.
TEST_CASE(
    "sendall on a socket that never connected throws broken_pipe_error" *
    skip_under_wine(
        "wine 8: send() on a never-connected TCP socket fails WSAECONNRESET, not WSAENOTCONN")) {
    pysock::socket s;
    auto r = expect_raises<pysock::error>([&] { s.sendall("foo"); });
    CHECK(r.type == on_platform(std::type_index(typeid(pysock::broken_pipe_error)),
                                std::type_index(typeid(pysock::error))));
    CHECK(r.code.value() == on_platform(EPIPE, ENOTCONN));
}

TEST_CASE("send of empty bytes returns 0") {
    auto c = connect_tcp();
    CHECK(c.client.send("") == 0);
    CHECK_NOTHROW(c.client.sendall(""));
}

TEST_CASE("send accepts binary data with NUL bytes") {
    auto c = connect_tcp();
    const pysock::bytes data("a\0b\0\xff", 5);
    CHECK(c.client.send(data) == 5);
    c.server.settimeout(SAFETY_TIMEOUT);
    pysock::bytes got;
    while (got.size() < 5) got += c.server.recv(5 - got.size());
    CHECK(got == data);
}

// CPython: BasicTCPTest.testSendAll
TEST_CASE("sendall sends every byte: 2048 bytes then EOF") {
    auto c = connect_tcp();
    c.server.settimeout(SAFETY_TIMEOUT);
    c.client.sendall(pysock::bytes(2048, 'f'));
    c.client.close();
    CHECK(recv_all(c.server) == pysock::bytes(2048, 'f'));
}

TEST_CASE("a large transfer arrives complete and in order") {
    const std::size_t size = 16u << 20;  // 16 MiB: far more than the socket buffers hold
    const pysock::bytes data = random_bytes(size, 4242);
    const std::uint64_t expected = fnv1a(data.data(), data.size());
    auto c = connect_tcp();
    c.client.settimeout(SAFETY_TIMEOUT);
    c.server.settimeout(SAFETY_TIMEOUT);
    peer_thread sender([&] {
        c.client.sendall(data);
        c.client.shutdown(SHUT_WR);
    });
    std::size_t total = 0;
    std::uint64_t h = fnv_seed;
    SUBCASE("with recv") {
        for (;;) {
            pysock::bytes chunk = c.server.recv(65536);
            if (chunk.empty()) break;
            h = fnv1a(chunk.data(), chunk.size(), h);
            total += chunk.size();
        }
    }
    SUBCASE("with recv_into") {
        std::vector<char> buf(100000);
        for (;;) {
            std::size_t n = c.server.recv_into(buf.data(), buf.size());
            if (n == 0) break;
            h = fnv1a(buf.data(), n, h);
            total += n;
        }
    }
    sender.join();
    CHECK(total == size);
    CHECK(h == expected);
}

TEST_CASE("a large transfer in both directions at once completes") {
    const std::size_t size = 8u << 20;
    const pysock::bytes a_data = random_bytes(size, 1);
    const pysock::bytes b_data = random_bytes(size, 2);
    auto c = connect_tcp();
    c.client.settimeout(SAFETY_TIMEOUT);
    c.server.settimeout(SAFETY_TIMEOUT);
    pysock::bytes got_by_server;
    // Each direction gets its own reader thread: sendall of 8 MiB cannot finish unless the
    // other side reads concurrently.
    peer_thread server_reader([&] { got_by_server = recv_all(c.server); });
    peer_thread client_writer([&] {
        c.client.sendall(a_data);
        c.client.shutdown(SHUT_WR);
    });
    peer_thread server_writer([&] {
        c.server.sendall(b_data);
        c.server.shutdown(SHUT_WR);
    });
    pysock::bytes got_by_client = recv_all(c.client);
    client_writer.join();
    server_writer.join();
    server_reader.join();
    CHECK(got_by_server.size() == size);
    CHECK(fnv1a(got_by_server.data(), got_by_server.size()) == fnv1a(a_data.data(), size));
    CHECK(got_by_client.size() == size);
    CHECK(fnv1a(got_by_client.data(), got_by_client.size()) == fnv1a(b_data.data(), size));
}

// CPython: BasicTCPTest.testFromFd (socket.fromfd dups the descriptor)
TEST_CASE("a socket adopted with from_fd reads the connection's data") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
#if defined(_WIN32)
    // No dup() of a SOCKET on Windows: WSADuplicateSocket, through pysock's dup().
    pysock::native_handle_type fd = c.server.dup().detach();
    REQUIRE(fd != INVALID_SOCKET);
#else
    int fd = ::dup(c.server.fileno());
    REQUIRE(fd != -1);
#endif
    pysock::socket s = pysock::socket::from_fd(fd);
    CHECK(s.family() == AF_INET);
    CHECK(s.type() == SOCK_STREAM);
    CHECK(s.recv(1024) == TEST_MSG);
}

// CPython: BasicTCPTest.testDup
TEST_CASE("a dup'ed socket reads the connection's data") {
    auto c = connect_tcp();
    pysock::socket d = c.server.dup();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    CHECK(d.recv(1024) == TEST_MSG);
}

// CPython: BasicTCPTest.testDetach
TEST_CASE("a detached descriptor keeps the connection and can be adopted again") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    pysock::native_handle_type fileno = c.server.fileno();
    pysock::native_handle_type f = c.server.detach();
    CHECK(f == fileno);
    auto r = expect_raises<pysock::error>([&] { (void)c.server.recv(1024); });
    CHECK(r.code.value() == closed_socket_errno);
    c.server.close();
    pysock::socket s = pysock::socket::from_fd(f);
    CHECK(s.recv(1024) == TEST_MSG);
}

// ---------------------------------------------------------------------------------------------
// End of stream, half-close, resets, broken pipes

// CPython: TCPCloserTest.testClose
TEST_CASE("recv returns empty bytes at EOF") {
    auto c = connect_tcp();
    c.server.close();
    CHECK(readable_within(c.client, 1000));
    CHECK(c.client.recv(1) == "");
    CHECK(c.client.recv(1024) == "");  // and keeps doing so
    char buf[8];
    CHECK(c.client.recv_into(buf, sizeof buf) == 0);
    // Calling close() many times should be safe.
    c.server.close();
    c.server.close();
}

// CPython: BasicTCPTest.testShutdown
TEST_CASE("data sent before shutdown(SHUT_RDWR) is still delivered, then EOF") {
    auto c = connect_tcp();
    CHECK(c.client.send(TEST_MSG) == TEST_MSG.size());
    c.client.shutdown(SHUT_RDWR);
    CHECK(c.server.recv(1024) == TEST_MSG);
    CHECK(c.server.recv(1024) == "");
}

TEST_CASE("shutdown(SHUT_WR) half-closes: the peer sees EOF and can still answer") {
    auto c = connect_tcp();
    c.server.settimeout(SAFETY_TIMEOUT);
    c.client.settimeout(SAFETY_TIMEOUT);
    c.client.sendall("request");
    c.client.shutdown(SHUT_WR);
    CHECK(recv_all(c.server) == "request");
    c.server.sendall("response");
    c.server.close();
    CHECK(recv_all(c.client) == "response");
}

TEST_CASE("send after shutdown(SHUT_WR) throws broken_pipe_error") {
    auto c = connect_tcp();
    c.client.shutdown(SHUT_WR);
    auto r = expect_raises<pysock::broken_pipe_error>([&] { (void)c.client.send("x"); });
    CHECK(r.type == std::type_index(typeid(pysock::broken_pipe_error)));
    // Windows: WSAESHUTDOWN (10058), which CPython turns into BrokenPipeError too.
    CHECK(r.code.value() == on_platform(EPIPE, ESHUTDOWN));
    CHECK(r.what ==
          on_platform<std::string>("[Errno 32] Broken pipe",
                                   "[WinError 10058] A request to send or receive data was "
                                   "disallowed because the socket had already been shut down "
                                   "in that direction with a previous shutdown call"));
}

TEST_CASE("shutdown of an unconnected socket throws ENOTCONN") {
    pysock::socket s;
    auto r = expect_raises<pysock::error>([&] { s.shutdown(SHUT_RDWR); });
    CHECK(r.code.value() == ENOTCONN);
}

TEST_CASE("recv after the peer reset the connection throws connection_reset_error" *
          skip_under_wine(wine_no_reset)) {
    auto c = connect_tcp();
    c.client.settimeout(SAFETY_TIMEOUT);
    close_with_reset(c.server);
    auto r = expect_raises<pysock::connection_reset_error>([&] { (void)c.client.recv(1024); });
    CHECK(r.type == std::type_index(typeid(pysock::connection_reset_error)));
    CHECK(r.code.value() == ECONNRESET);
    CHECK(r.what ==
          on_platform<std::string>("[Errno 104] Connection reset by peer",
                                   "[WinError 10054] An existing connection was forcibly closed "
                                   "by the remote host"));
}

TEST_CASE("connection_reset_error is a connection_error" * skip_under_wine(wine_no_reset)) {
    auto c = connect_tcp();
    c.client.settimeout(SAFETY_TIMEOUT);
    close_with_reset(c.server);
    CHECK_THROWS_AS((void)c.client.recv(1024), pysock::connection_error);
}

TEST_CASE(
    "send after the peer closed throws broken_pipe_error and SIGPIPE does not kill the process" *
    skip_on_windows(no_sigpipe)) {
#if !defined(_WIN32)
    // In a child whose SIGPIPE disposition is "terminate": without MSG_NOSIGNAL (or an
    // equivalent) the child dies of SIGPIPE instead of exiting.
    SUBCASE("after the peer closed") {
        int status = run_in_child_with_default_sigpipe([] {
            auto c = connect_tcp();
            c.client.settimeout(SAFETY_TIMEOUT);
            c.server.close();
            if (c.client.recv(1) != "") return 10;  // the FIN arrived: we are in CLOSE_WAIT
            try {
                // The first send may succeed (the peer answers it with RST); the next fails.
                for (int i = 0; i < 100; ++i) (void)c.client.send("x");
            } catch (const pysock::broken_pipe_error& e) {
                return e.code().value() == EPIPE ? 0 : 11;
            }
            return 12;
        });
        CHECK_FALSE(WIFSIGNALED(status));
        if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) != SIGPIPE);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    SUBCASE("after our own shutdown(SHUT_WR), with sendall") {
        int status = run_in_child_with_default_sigpipe([] {
            auto c = connect_tcp();
            c.client.shutdown(SHUT_WR);
            try {
                c.client.sendall(pysock::bytes(100000, 'x'));
            } catch (const pysock::broken_pipe_error& e) {
                return e.code().value() == EPIPE ? 0 : 11;
            }
            return 12;
        });
        CHECK_FALSE(WIFSIGNALED(status));
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
#endif
}

// ---------------------------------------------------------------------------------------------
// IPv6

TEST_CASE("TCP over IPv6 on ::1" *
          skip_when(!ipv6_loopback_available(),
                    "::1 is not available on this machine (no IPv6 loopback)")) {
    auto c = connect_tcp(AF_INET6);
    CHECK(c.client.family() == AF_INET6);
    pysock::address name = c.listener.getsockname();
    CHECK(name.host == "::1");
    CHECK(name.family == AF_INET6);
    CHECK(name.port != 0);
    CHECK(name.flowinfo == 0);
    CHECK(name.scope_id == 0);
    pysock::address peer = c.server.getpeername();
    CHECK(peer.host == "::1");
    CHECK(peer == c.client.getsockname());
    c.server.settimeout(SAFETY_TIMEOUT);
    c.client.sendall(TEST_MSG);
    c.client.shutdown(SHUT_WR);
    CHECK(recv_all(c.server) == TEST_MSG);
}

TEST_CASE("an IPv6 address given with flowinfo and scope_id connects" *
          skip_when(!ipv6_loopback_available(),
                    "::1 is not available on this machine (no IPv6 loopback)")) {
    pysock::socket l = make_listener(AF_INET6);
    pysock::socket c(AF_INET6);
    c.connect({"::1", l.getsockname().port, 0, 0});
    auto [conn, addr] = l.accept();
    CHECK(addr == c.getsockname());
    CHECK(addr.family == AF_INET6);
}

// ---------------------------------------------------------------------------------------------
// create_connection

// CPython: NetworkConnectionAttributesTest.testFamily
TEST_CASE("create_connection returns a connected AF_INET stream socket") {
    pysock::socket l = make_listener();
    pysock::socket c = pysock::create_connection(l.getsockname(), SAFETY_TIMEOUT);
    CHECK(c.family() == AF_INET);
    CHECK(c.type() == SOCK_STREAM);
    CHECK(c.getpeername() == l.getsockname());
}

TEST_CASE("create_connection resolves a host name") {
    pysock::socket l = make_listener();
    pysock::socket c =
        pysock::create_connection({"localhost", l.getsockname().port}, SAFETY_TIMEOUT);
    auto [conn, addr] = l.accept();
    CHECK(addr == c.getsockname());
}

// CPython: NetworkConnectionAttributesTest.testSourceAddress
TEST_CASE("create_connection binds to source_address before connecting") {
    pysock::socket l = make_listener();
    SUBCASE("a source host (127.0.0.2 is loopback on Linux)") {
        pysock::socket c = pysock::create_connection(l.getsockname(), SAFETY_TIMEOUT,
                                                     pysock::address{"127.0.0.2", 0});
        CHECK(c.getsockname().host == "127.0.0.2");
        auto [conn, addr] = l.accept();
        CHECK(addr.host == "127.0.0.2");
    }
    SUBCASE("a source port") {
        // Reserve a port, release it, and ask create_connection to use it (CPython does the
        // same with find_unused_port()); SO_REUSEADDR-free ports are free again at once.
        std::uint16_t port = 0;
        {
            pysock::socket probe;
            probe.bind({"127.0.0.1", 0});
            port = probe.getsockname().port;
        }
        pysock::socket c =
            pysock::create_connection(l.getsockname(), SAFETY_TIMEOUT, pysock::address{"", port});
        CHECK(c.getsockname().port == port);
    }
}

// CPython: NetworkConnectionAttributesTest.testTimeoutValueNamed, testTimeoutValueNonamed
TEST_CASE("create_connection applies the timeout it is given") {
    pysock::socket l = make_listener();
    pysock::socket c = pysock::create_connection(l.getsockname(), 30.0);
    CHECK(c.gettimeout() == 30.0);
    CHECK(c.getblocking());
}

// CPython: NetworkConnectionAttributesTest.testTimeoutDefault
// (testTimeoutNone cannot be expressed: std::nullopt is Python's "not given", which means the
// default timeout, not None.)
TEST_CASE("create_connection without a timeout uses the default timeout") {
    default_timeout_guard restore;
    REQUIRE_FALSE(pysock::getdefaulttimeout().has_value());
    pysock::socket l = make_listener();
    pysock::setdefaulttimeout(42.0);
    pysock::socket c = pysock::create_connection(l.getsockname());
    pysock::setdefaulttimeout(std::nullopt);
    CHECK(c.gettimeout() == 42.0);
    pysock::socket c2 = pysock::create_connection(l.getsockname());
    CHECK_FALSE(c2.gettimeout().has_value());
}

// CPython: NetworkConnectionNoServer.test_create_connection
TEST_CASE("create_connection to a port nobody listens on throws connection_refused_error") {
    refusing_port nobody;
    auto r = expect_raises<pysock::connection_refused_error>(
        [&] { (void)pysock::create_connection(nobody.addr, SAFETY_TIMEOUT); });
    CHECK(r.code.value() == ECONNREFUSED);
}

#if defined(__linux__) || defined(_WIN32)
#if defined(__linux__)
namespace {
std::size_t open_descriptor_count() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) ++n;
        ::closedir(d);
    }
    return n;
}
}  // namespace

#endif

TEST_CASE("failing create_connection, create_server and accept leak no descriptor" *
          skip_on_windows("counts the descriptors in /proc/self/fd (Linux-only)")) {
#if defined(__linux__)
    refusing_port nobody;
    pysock::socket busy = pysock::create_server({"127.0.0.1", 0});
    pysock::socket idle = make_listener();
    idle.settimeout(0.01);
    const std::size_t before = open_descriptor_count();
    for (int i = 0; i < 20; ++i) {
        CHECK_THROWS_AS((void)pysock::create_connection(nobody.addr, SAFETY_TIMEOUT),
                        pysock::connection_refused_error);
        CHECK_THROWS_AS((void)pysock::create_server(busy.getsockname()), pysock::error);
        CHECK_THROWS_AS((void)idle.accept(), pysock::timeout);
        CHECK_THROWS_AS((void)pysock::socket(12345, SOCK_STREAM), pysock::error);
    }
    CHECK(open_descriptor_count() == before);
#endif
}
#endif

// CPython: ContextManagersTest.testCreateConnectionBase, testCreateConnectionClose
TEST_CASE("a create_connection socket talks to an echo peer and is unusable after close") {
    pysock::socket l = make_listener();
    l.settimeout(SAFETY_TIMEOUT);
    peer_thread echo([&] {
        auto [conn, addr] = l.accept();
        conn.settimeout(SAFETY_TIMEOUT);
        pysock::bytes data = conn.recv(1024);
        conn.sendall(data);
    });
    pysock::socket s = pysock::create_connection(l.getsockname(), SAFETY_TIMEOUT);
    s.sendall("foo");
    CHECK(s.recv(1024) == "foo");
    s.close();
    echo.join();
    auto r = expect_raises<pysock::error>([&] { s.sendall("foo"); });
    CHECK(r.code.value() == closed_socket_errno);
}

// ---------------------------------------------------------------------------------------------
// create_server

// CPython: CreateServerTest.test_address
TEST_CASE("create_server listens on the address it is given") {
    pysock::socket s = pysock::create_server({"127.0.0.1", 0});
    CHECK(s.getsockname().host == "127.0.0.1");
    CHECK(s.getsockname().port != 0);
    std::uint16_t port = s.getsockname().port;
    s.close();
    // Re-listening on the same port right away works (SO_REUSEADDR, as in Python).
    pysock::socket again = pysock::create_server({"127.0.0.1", port});
    CHECK(again.getsockname().port == port);
    if (ipv6_loopback_available()) {
        pysock::socket s6 = pysock::create_server({"::1", 0}, AF_INET6);
        CHECK(s6.getsockname().host == "::1");
        CHECK(s6.getsockname().port != 0);
    }
}

// CPython: CreateServerTest.test_family_and_type
TEST_CASE("create_server makes a SOCK_STREAM socket of the requested family") {
    pysock::socket s = pysock::create_server({"127.0.0.1", 0});
    CHECK(s.family() == AF_INET);
    CHECK(s.type() == SOCK_STREAM);
    if (ipv6_loopback_available()) {
        pysock::socket s6 = pysock::create_server({"::1", 0}, AF_INET6);
        CHECK(s6.family() == AF_INET6);
        CHECK(s6.type() == SOCK_STREAM);
    }
}

// CPython's create_server sets SO_REUSEADDR on POSIX only (os.name != 'nt').
TEST_CASE("create_server sets SO_REUSEADDR on its listener (not on Windows, as Python)") {
    pysock::socket s = pysock::create_server({"127.0.0.1", 0});
    if (on_windows)
        CHECK(s.getsockopt(SOL_SOCKET, SO_REUSEADDR) == 0);
    else
        CHECK(s.getsockopt(SOL_SOCKET, SO_REUSEADDR) != 0);
}

#if defined(SO_REUSEPORT) || defined(_WIN32)
// CPython: CreateServerTest.test_reuse_port
TEST_CASE("create_server sets SO_REUSEPORT only when reuse_port is true" *
          skip_on_windows(no_reuseport)) {
#if defined(SO_REUSEPORT)
    pysock::socket s = pysock::create_server({"127.0.0.1", 0});
    CHECK(s.getsockopt(SOL_SOCKET, SO_REUSEPORT) == 0);
    pysock::socket r = pysock::create_server({"127.0.0.1", 0}, AF_INET, std::nullopt, true);
    CHECK(r.getsockopt(SOL_SOCKET, SO_REUSEPORT) != 0);
#endif
}

TEST_CASE("two reuse_port servers can listen on the same port; without it the second fails" *
          skip_on_windows(no_reuseport)) {
#if defined(SO_REUSEPORT)
    pysock::socket a = pysock::create_server({"127.0.0.1", 0}, AF_INET, std::nullopt, true);
    pysock::address addr = a.getsockname();
    pysock::socket b = pysock::create_server(addr, AF_INET, std::nullopt, true);
    CHECK(b.getsockname() == addr);
    auto r = expect_raises<pysock::error>([&] { (void)pysock::create_server(addr); });
    CHECK(r.code.value() == EADDRINUSE);
    CHECK(std::string(r.what).rfind("[Errno 98] Address already in use", 0) == 0);
#endif
}
#endif

TEST_CASE("create_server listens with Python's default backlog unless given one") {
    pysock::socket s = pysock::create_server({"127.0.0.1", 0});
#ifdef __linux__
    CHECK(listen_backlog_of(s) == static_cast<unsigned>(std::min(SOMAXCONN, 128)));
    pysock::socket s3 = pysock::create_server({"127.0.0.1", 0}, AF_INET, 3);
    CHECK(listen_backlog_of(s3) == 3);
#endif
    // It is listening: a client connects and is accepted.
    pysock::socket c = pysock::create_connection(s.getsockname(), SAFETY_TIMEOUT);
    auto [conn, addr] = s.accept();
    CHECK(addr == c.getsockname());
}

// CPython: CreateServerTest.test_ipv6_only_default
TEST_CASE("an AF_INET6 create_server is IPv6-only by default" *
          skip_when(!ipv6_loopback_available(), "::1 is not available on this machine")) {
    pysock::socket s = pysock::create_server({"::1", 0}, AF_INET6);
    CHECK(s.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) != 0);
}

// CPython: CreateServerTest.test_dualstack_ipv6_family
TEST_CASE("a dualstack create_server is AF_INET6 and not IPv6-only" *
          skip_when(!ipv6_loopback_available() || !pysock::has_dualstack_ipv6(),
                    "no ::1 or no dual-stack support")) {
    pysock::socket s = pysock::create_server({"::1", 0}, AF_INET6, std::nullopt, false, true);
    CHECK(s.family() == AF_INET6);
    // On the wildcard address the listener is not IPv6-only. (Linux makes a socket bound to a
    // specific IPv6 address such as ::1 IPv6-only whatever IPV6_V6ONLY said, Python included.)
    pysock::socket any = pysock::create_server({"", 0}, AF_INET6, std::nullopt, false, true);
    CHECK(any.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) == 0);
}

TEST_CASE("create_server with dualstack_ipv6 and AF_INET throws std::invalid_argument") {
    // Python: ValueError("dualstack_ipv6 requires AF_INET6 family")
    CHECK_THROWS_AS(
        (void)pysock::create_server({"127.0.0.1", 0}, AF_INET, std::nullopt, false, true),
        std::invalid_argument);
}

namespace {

// CPython: CreateServerFunctionalTest.echo_server / echo_client
void check_echo(pysock::socket& server, const pysock::address& target, int client_family) {
    server.settimeout(SAFETY_TIMEOUT);
    peer_thread echo([&] {
        auto [conn, addr] = server.accept();
        conn.settimeout(SAFETY_TIMEOUT);
        pysock::bytes msg = conn.recv(1024);
        if (!msg.empty()) conn.sendall(msg);
    });
    pysock::socket client(client_family);
    client.settimeout(SAFETY_TIMEOUT);
    client.connect(target);
    client.sendall("foo");
    CHECK(client.recv(1024) == "foo");
    echo.join();
}

}  // namespace

// CPython: CreateServerFunctionalTest.test_tcp4
TEST_CASE("create_server on the empty host accepts an IPv4 client") {
    pysock::socket s = pysock::create_server({"", 0});
    CHECK(s.getsockname().host == "0.0.0.0");
    check_echo(s, {"127.0.0.1", s.getsockname().port}, AF_INET);
}

// CPython: CreateServerFunctionalTest.test_tcp6
TEST_CASE("an AF_INET6 create_server on the empty host accepts an IPv6 client" *
          skip_when(!ipv6_loopback_available(), "::1 is not available on this machine")) {
    pysock::socket s = pysock::create_server({"", 0}, AF_INET6);
    CHECK(s.getsockname().host == "::");
    check_echo(s, {"::1", s.getsockname().port}, AF_INET6);
}

// CPython: CreateServerFunctionalTest.test_dual_stack_client_v4, test_dual_stack_client_v6
TEST_CASE("a dualstack create_server accepts IPv4 and IPv6 clients" *
          skip_when(!ipv6_loopback_available() || !pysock::has_dualstack_ipv6(),
                    "no ::1 or no dual-stack support")) {
    pysock::socket s = pysock::create_server({"", 0}, AF_INET6, std::nullopt, false, true);
    std::uint16_t port = s.getsockname().port;
    SUBCASE("IPv4 client") { check_echo(s, {"127.0.0.1", port}, AF_INET); }
    SUBCASE("IPv6 client") { check_echo(s, {"::1", port}, AF_INET6); }
}

TEST_CASE("a dualstack server reports an IPv4 client as an IPv4-mapped IPv6 address" *
          skip_when(!ipv6_loopback_available() || !pysock::has_dualstack_ipv6(),
                    "no ::1 or no dual-stack support")) {
    pysock::socket s = pysock::create_server({"", 0}, AF_INET6, std::nullopt, false, true);
    pysock::socket c =
        pysock::create_connection({"127.0.0.1", s.getsockname().port}, SAFETY_TIMEOUT);
    auto [conn, addr] = s.accept();
    CHECK(addr.host == "::ffff:127.0.0.1");
    CHECK(addr.port == c.getsockname().port);
    CHECK(addr.family == AF_INET6);
}

// ---------------------------------------------------------------------------------------------
// sendfile (CPython: SendfileUsingSendTest, SendfileUsingSendfileTest)
// ---------------------------------------------------------------------------------------------
namespace {

// A temporary file holding `content`, open for reading; removed at scope exit.
struct temp_file {
    pysock_test::temp_dir dir;
    std::string path = dir / "data";
    int fd = -1;
    explicit temp_file(const pysock::bytes& content) {
        {
            std::ofstream out(path, std::ios::binary);
            out.write(content.data(), static_cast<std::streamsize>(content.size()));
            REQUIRE(out.good());
        }
#if defined(_WIN32)
        fd = ::_open(path.c_str(), _O_RDONLY | _O_BINARY);
#else
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
#endif
        REQUIRE(fd >= 0);
    }
    ~temp_file() {
#if defined(_WIN32)
        ::_close(fd);
#else
        ::close(fd);
#endif
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    long long offset() const {
#if defined(_WIN32)
        return ::_lseeki64(fd, 0, SEEK_CUR);
#else
        return static_cast<long long>(::lseek(fd, 0, SEEK_CUR));
#endif
    }
};

}  // namespace

TEST_CASE("sendfile sends a whole file and leaves the file offset at its end") {
    const pysock::bytes content = random_bytes(3 * 1024 * 1024 + 17, 7);
    temp_file file(content);
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    pysock::bytes got;
    peer_thread reader([&] { got = recv_all(c.server); });
    CHECK(c.client.sendfile(file.fd) == content.size());
    c.client.shutdown(SHUT_WR);
    reader.join();
    CHECK(got.size() == content.size());
    CHECK(fnv1a(got.data(), got.size()) == fnv1a(content.data(), content.size()));
    CHECK(file.offset() == static_cast<long long>(content.size()));
}

TEST_CASE("sendfile with an offset and a count sends that slice; past the end it stops there") {
    const pysock::bytes content = random_bytes(100000, 8);
    temp_file file(content);
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    CHECK(c.client.sendfile(file.fd, 1000, 5000) == 5000);
    CHECK(recv_exactly(c.server, 5000) == content.substr(1000, 5000));
    CHECK(file.offset() == 6000);
    CHECK(c.client.sendfile(file.fd, 99000, 1u << 20) == 1000);  // only 1,000 bytes are left
    CHECK(recv_exactly(c.server, 1000) == content.substr(99000));
    CHECK(c.client.sendfile(file.fd, 200000) == 0);  // past the end: nothing
}

TEST_CASE("sendfile from what the kernel cannot send zero-copy (a pipe) falls back to read + send" *
          pysock_test::skip_on_windows(
              "a pipe's descriptor: POSIX pipe(); Windows always reads + sends")) {
#if !defined(_WIN32)
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], "through a pipe", 14) == 14);
    ::close(fds[1]);
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    CHECK(c.client.sendfile(fds[0], 0, 14) == 14);  // pread() on a pipe fails: ESPIPE
    CHECK(recv_exactly(c.server, 14) == "through a pipe");
    ::close(fds[0]);
#endif
}

TEST_CASE("sendfile refuses what Python refuses, with Python's messages") {
    temp_file file("abc");
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    CHECK_THROWS_WITH_AS(c.client.sendfile(file.fd, 0, 0),
                         "count must be a positive integer (got 0)", std::invalid_argument);
    c.client.setblocking(false);
    CHECK_THROWS_WITH_AS(c.client.sendfile(file.fd), "non-blocking sockets are not supported",
                         std::invalid_argument);
    pysock::socket udp(AF_INET, SOCK_DGRAM);
    CHECK_THROWS_WITH_AS(udp.sendfile(file.fd), "only SOCK_STREAM type sockets are supported",
                         std::invalid_argument);
    pysock::socket closed;
    closed.close();
    CHECK_THROWS_AS(closed.sendfile(file.fd), pysock::error);
}

TEST_CASE("sendfile of a descriptor that is not open raises EBADF") {
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    auto r = expect_raises<pysock::error>([&] { c.client.sendfile(pysock_test::closed_fd()); });
#if defined(_WIN32)
    CHECK(r.code.value() == WSAEBADF);
#else
    CHECK(r.code.value() == EBADF);
#endif
}

TEST_CASE("the socket's timeout bounds the whole sendfile, and says how much went") {
    const pysock::bytes content(64u << 20, 'z');  // far more than the socket buffers hold
    temp_file file(content);
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    c.client.settimeout(0.5);  // the peer never reads
    auto r = expect_raises<pysock::timeout>([&] { c.client.sendfile(file.fd); });
    CHECK(r.what == "timed out");
    CHECK(r.elapsed >= 0.45);
    CHECK(r.elapsed < 0.5 + 2.0);
    CHECK(r.characters_written > 0);
    CHECK(r.characters_written < content.size());
    CHECK(file.offset() == static_cast<long long>(r.characters_written));
}

TEST_CASE("a peer that vanishes mid-sendfile is a connection error, not a SIGPIPE death") {
    const pysock::bytes content(16u << 20, 'q');
    temp_file file(content);
    auto c = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    pysock_test::close_with_reset(c.server);
    CHECK_THROWS_AS(c.client.sendfile(file.fd), pysock::connection_error);
}

// ---------------------------------------------------------------------------------------------
// create_connection: the last error, all_errors (ExceptionGroup), Happy Eyeballs
// ---------------------------------------------------------------------------------------------
namespace {

// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
// neither succeeds nor fails until its timeout (an address "whose route is broken"), on
// 127.0.0.1 at the port of `working`, a listener on 127.0.0.2 (loopback on Linux).
struct blackhole_and_working {
    pysock::socket blackhole{AF_INET, SOCK_STREAM};
    pysock::socket working{AF_INET, SOCK_STREAM};
    std::vector<pysock::socket> queued;
    std::uint16_t port = 0;
    blackhole_and_working() {
        // One port on both addresses, as a name with two addresses gives. The kernel picks it
        // free on 127.0.0.2 only: if another socket holds it on 127.0.0.1, pick again (bounded).
        for (int tries = 0;; ++tries) {
            working = pysock::socket(AF_INET, SOCK_STREAM);
            blackhole = pysock::socket(AF_INET, SOCK_STREAM);
            working.bind({"127.0.0.2", 0});
            port = working.getsockname().port;
            try {
                blackhole.bind({"127.0.0.1", port});
                break;
            } catch (const pysock::error& e) {
                REQUIRE(e.code().value() == EADDRINUSE);
                REQUIRE(tries < 20);
            }
        }
        working.listen();
        blackhole.listen(0);
        // Fill the queue: connections that complete but are never accepted.
        for (int i = 0; i < 3; ++i) {
            pysock::socket c(AF_INET, SOCK_STREAM);
            c.setblocking(false);
            c.connect_ex(blackhole.getsockname());
            queued.push_back(std::move(c));
        }
        // The queue is full once a connect can no longer complete: wait (bounded) for it.
        for (int tries = 0;; ++tries) {
            pysock::socket probe(AF_INET, SOCK_STREAM);
            probe.settimeout(0.2);
            try {
                probe.connect(blackhole.getsockname());
                queued.push_back(std::move(probe));  // it got in: the queue had room
            } catch (const pysock::timeout&) {
                break;  // dropped: full
            }
            REQUIRE(tries < 20);
        }
    }
};

pysock::addrinfo info_of(const pysock::address& a) {
    pysock::addrinfo info;
    info.family = AF_INET;
    info.type = SOCK_STREAM;
    info.proto = IPPROTO_TCP;
    info.sockaddr = a;
    return info;
}

}  // namespace

TEST_CASE("create_connection raises the last attempt's error, as CPython" *
          pysock_test::skip_on_windows("127.0.0.2 is not a loopback address on Windows")) {
    blackhole_and_working net;
    refusing_port nobody;
    const std::vector<pysock::addrinfo> timeout_then_refused = {
        info_of(net.blackhole.getsockname()), info_of(nobody.addr)};
    auto r = expect_raises<pysock::connection_refused_error>([&] {
        pysock::detail::connect_any(timeout_then_refused, 0.2, std::nullopt, false, std::nullopt);
    });
    CHECK(r.code.value() == ECONNREFUSED);
    const std::vector<pysock::addrinfo> refused_then_timeout = {
        info_of(nobody.addr), info_of(net.blackhole.getsockname())};
    auto t = expect_raises<pysock::timeout>([&] {
        pysock::detail::connect_any(refused_then_timeout, 0.2, std::nullopt, false, std::nullopt);
    });
    CHECK(t.what == "timed out");
}

TEST_CASE("with all_errors every attempt's error comes back in an exception_group" *
          pysock_test::skip_on_windows("127.0.0.2 is not a loopback address on Windows")) {
    blackhole_and_working net;
    refusing_port nobody;
    const std::vector<pysock::addrinfo> infos = {info_of(net.blackhole.getsockname()),
                                                 info_of(nobody.addr)};
    try {
        pysock::detail::connect_any(infos, 0.2, std::nullopt, true, std::nullopt);
        FAIL("connected");
    } catch (const pysock::exception_group& g) {
        CHECK(std::string(g.what()) == "create_connection failed (2 sub-exceptions)");
        REQUIRE(g.exceptions().size() == 2);
        CHECK_THROWS_AS(std::rethrow_exception(g.exceptions()[0]), pysock::timeout);
        CHECK_THROWS_AS(std::rethrow_exception(g.exceptions()[1]),
                        pysock::connection_refused_error);
    }
    // Through the public call: one address here ("localhost" is 127.0.0.1 only), one sub-exception.
    try {
        pysock::create_connection(nobody.addr, SAFETY_TIMEOUT, std::nullopt, true);
        FAIL("connected");
    } catch (const pysock::exception_group& g) {
        CHECK(std::string(g.what()) == "create_connection failed (1 sub-exception)");
    }
}

TEST_CASE("Happy Eyeballs: an address that never answers costs the delay, not the timeout" *
          pysock_test::skip_on_windows("127.0.0.2 is not a loopback address on Windows")) {
    blackhole_and_working net;
    const std::vector<pysock::addrinfo> infos = {info_of(net.blackhole.getsockname()),
                                                 info_of(net.working.getsockname())};
    const auto before = fd_listing();
    {
        auto start = clock_type::now();
        pysock::socket s = pysock::detail::connect_any(infos, 5.0, std::nullopt, false, 0.1);
        const double took = seconds_since(start);
        CHECK(took >= 0.09);
        CHECK(took < 0.1 + 1.0);  // without Happy Eyeballs: the first attempt's whole 5 s
        CHECK(s.getpeername() == net.working.getsockname());
        CHECK(s.gettimeout() == 5.0);
        auto [conn, addr] = net.working.accept();
        CHECK(addr == s.getsockname());
    }
    CHECK(fd_listing() == before);  // the losing attempt was closed
    // The same pair without the race waits out the first attempt's timeout.
    auto start = clock_type::now();
    pysock::socket slow =
        pysock::detail::connect_any(infos, 0.5, std::nullopt, false, std::nullopt);
    CHECK(seconds_since(start) >= 0.45);
    CHECK(slow.getpeername() == net.working.getsockname());
}

TEST_CASE(
    "Happy Eyeballs: a failure starts the next attempt at once; all failing raises the last") {
    refusing_port a, b;
    const std::vector<pysock::addrinfo> infos = {info_of(a.addr), info_of(b.addr)};
    auto start = clock_type::now();
    auto r = expect_raises<pysock::connection_refused_error>(
        [&] { pysock::detail::connect_any(infos, 5.0, std::nullopt, false, 2.0); });
    CHECK(seconds_since(start) < 1.0);  // the 2 s delay never waited: the refusals came first
    CHECK(r.code.value() == ECONNREFUSED);
}

TEST_CASE("Happy Eyeballs: the first address that connects wins and no other is tried") {
    pysock::socket first = make_listener(), second = make_listener();
    const std::vector<pysock::addrinfo> infos = {info_of(first.getsockname()),
                                                 info_of(second.getsockname())};
    pysock::socket s =
        pysock::create_connection(first.getsockname(), SAFETY_TIMEOUT, std::nullopt, false, 0.25);
    CHECK(s.getpeername() == first.getsockname());
    pysock::socket t =
        pysock::detail::connect_any(infos, SAFETY_TIMEOUT, std::nullopt, false, 0.25);
    CHECK(t.getpeername() == first.getsockname());
    second.setblocking(false);
    CHECK_THROWS_AS(second.accept(), pysock::blocking_io_error);  // never tried
}

TEST_CASE("Happy Eyeballs rejects a negative or NaN delay") {
    pysock::socket l = make_listener();
    CHECK_THROWS_AS(pysock::create_connection(l.getsockname(), 1.0, std::nullopt, false, -0.1),
                    std::invalid_argument);
    CHECK_THROWS_AS(
        pysock::create_connection(l.getsockname(), 1.0, std::nullopt, false, std::nan("")),
        std::invalid_argument);
}

TEST_CASE("Happy Eyeballs alternates address families, the first result's first" *
          pysock_test::skip_on_windows("127.0.0.2 is not a loopback address on Windows") *
          pysock_test::skip_when(!pysock_test::ipv6_loopback_available(),
                                 "no IPv6 loopback (::1) on this machine")) {
    blackhole_and_working net;  // 127.0.0.1: never answers; 127.0.0.2: answers
    pysock::socket v6 = make_listener(AF_INET6);
    pysock::addrinfo v6_info = info_of(v6.getsockname());
    v6_info.family = AF_INET6;
    // getaddrinfo's order: IPv4, IPv4, IPv6. Raced in order the second attempt would reach
    // 127.0.0.2; alternating families, it is ::1.
    const std::vector<pysock::addrinfo> infos = {info_of(net.blackhole.getsockname()),
                                                 info_of(net.working.getsockname()), v6_info};
    pysock::socket s = pysock::detail::connect_any(infos, SAFETY_TIMEOUT, std::nullopt, false, 0.2);
    CHECK(s.family() == AF_INET6);
    CHECK(s.getpeername() == v6.getsockname());
}

// Python 3.11: with a timeout, recvfrom(0) waits for data: TimeoutError when none comes, and
// (b'', None) when some has (a connected stream has no address: None). recv(0) returns b'' at once.
TEST_CASE("recvfrom(0) on a stream with a timeout waits for data, as CPython") {
    auto c = connect_tcp(AF_INET, 0.2);
    auto r = expect_raises<pysock::timeout>([&] { c.client.recvfrom(0); });
    CHECK(r.what == "timed out");
    CHECK(r.elapsed >= 0.19);
    CHECK(c.client.recv(0) == "");  // no wait: CPython answers it without a system call
    c.server.sendall("x");
    auto [data, from] = c.client.recvfrom(0);
    CHECK(data == "");
    CHECK(pysock::to_string(from) == "None");
    CHECK(c.client.recv(1) == "x");  // the zero-byte read took nothing
}
