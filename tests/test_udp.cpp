// UDP (SOCK_DGRAM over AF_INET and AF_INET6) on loopback.
//
// Datagrams sent to a bound loopback socket are queued before sendto() returns, so every test runs in
// one thread; receivers get a timeout so that a missing datagram fails the test instead of hanging it.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace {

// CPython's test message: non-ASCII text and a carriage return.
const pysock::bytes TEST_MSG = "Michael Gilfix was here\xe1\x88\xb4\r\n";

constexpr double WAIT = 5.0;  // upper bound for anything that should arrive at once

struct udp_pair {
    pysock::socket serv = pysock_test::bound_udp(AF_INET, WAIT);
    pysock::socket cli = pysock_test::bound_udp(AF_INET, WAIT);
    pysock::address serv_addr = serv.getsockname();
};

}  // namespace

// CPython: BasicUDPTest.testSendtoAndRecv
TEST_CASE("sendto then recv delivers a datagram") {
    udp_pair p;
    SUBCASE("sendto(data, address)") {
        CHECK(p.cli.sendto(TEST_MSG, p.serv_addr) == TEST_MSG.size());
    }
    SUBCASE("sendto(data, flags, address), as CPython's test calls it") {
        CHECK(p.cli.sendto(TEST_MSG, 0, p.serv_addr) == TEST_MSG.size());
    }
    CHECK(p.serv.recv(TEST_MSG.size()) == TEST_MSG);
}

// CPython: BasicUDPTest.testRecvFrom
TEST_CASE("recvfrom returns the datagram and the sender's address") {
    udp_pair p;
    p.cli.sendto(TEST_MSG, 0, p.serv_addr);
    auto [data, from] = p.serv.recvfrom(TEST_MSG.size());
    CHECK(data == TEST_MSG);
    CHECK(from == p.cli.getsockname());
    CHECK(from.family == AF_INET);
    CHECK(from.host == "127.0.0.1");
}

// CPython: BasicUDPTest.testRecvFromNegative
TEST_CASE("recvfrom with a negative size is std::invalid_argument") {
    udp_pair p;
    p.cli.sendto(TEST_MSG, p.serv_addr);
    CHECK_THROWS_AS(p.serv.recvfrom(static_cast<std::size_t>(-1)), std::invalid_argument);
    CHECK_THROWS_AS(p.serv.recv(static_cast<std::size_t>(-1)), std::invalid_argument);
    // the datagram is still there
    CHECK(p.serv.recv(TEST_MSG.size()) == TEST_MSG);
}

TEST_CASE("datagram boundaries are preserved") {
    udp_pair p;
    p.cli.sendto("one", p.serv_addr);
    p.cli.sendto("two", p.serv_addr);
    p.cli.sendto("three", p.serv_addr);
    CHECK(p.serv.recv(100) == "one");
    CHECK(p.serv.recv(100) == "two");
    CHECK(p.serv.recv(100) == "three");
}

TEST_CASE("a datagram longer than bufsize is truncated and the rest discarded" *
          pysock_test::skip_on_windows(
              "Windows (and CPython there) raises WSAEMSGSIZE instead of truncating")) {
    udp_pair p;
    p.cli.sendto("hello", p.serv_addr);
    p.cli.sendto("next", p.serv_addr);
    CHECK(p.serv.recv(3) == "hel");
    CHECK(p.serv.recv(100) == "next");
}

TEST_CASE("an empty datagram is received as empty bytes") {
    udp_pair p;
    CHECK(p.cli.sendto("", p.serv_addr) == 0);
    auto [data, from] = p.serv.recvfrom(100);
    CHECK(data.empty());
    CHECK(from == p.cli.getsockname());
}

TEST_CASE("a datagram with NUL bytes arrives intact") {
    udp_pair p;
    const pysock::bytes bin("\0\x01\xff\0", 4);
    p.cli.sendto(bin, p.serv_addr);
    CHECK(p.serv.recv(100) == bin);
}

TEST_CASE("the largest IPv4 datagram goes through loopback") {
    udp_pair p;
    p.serv.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20);
    const pysock::bytes big(65507, 'u');
    CHECK(p.cli.sendto(big, p.serv_addr) == big.size());
    CHECK(p.serv.recv(70000) == big);
}

TEST_CASE("a datagram too large for IPv4 raises error EMSGSIZE") {
    // CPython: [Errno 90] Message too long
    udp_pair p;
    try {
        p.cli.sendto(pysock::bytes(70000, 'x'), p.serv_addr);
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == EMSGSIZE);
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform(
                  "[Errno 90] Message too long",
                  "[WinError 10040] A message sent on a datagram socket was larger than the "
                  "internal message buffer or some other network limit, or the buffer used "
                  "to receive a datagram into was smaller than the datagram itself"));
    }
}

TEST_CASE("recv_into and recvfrom_into fill the caller's buffer") {
    udp_pair p;
    SUBCASE("recv_into") {
        p.cli.sendto(TEST_MSG, p.serv_addr);
        std::vector<char> buf(1024, '\0');
        const std::size_t n = p.serv.recv_into(buf.data(), buf.size());
        CHECK(n == TEST_MSG.size());
        CHECK(std::string(buf.data(), n) == TEST_MSG);
    }
    // CPython: BufferIOTest.testRecvFromIntoBytearray (over UDP here)
    SUBCASE("recvfrom_into") {
        p.cli.sendto(TEST_MSG, p.serv_addr);
        std::vector<char> buf(1024, '\0');
        auto [n, from] = p.serv.recvfrom_into(buf.data(), buf.size());
        CHECK(n == TEST_MSG.size());
        CHECK(std::string(buf.data(), n) == TEST_MSG);
        CHECK(from == p.cli.getsockname());
    }
    SUBCASE("recvfrom_into with a small nbytes truncates") {
        PYSOCK_TEST_SKIP_IF(pysock_test::on_windows,
                            "Windows raises WSAEMSGSIZE instead of truncating");
        p.cli.sendto("hello", p.serv_addr);
        char buf[16] = {};
        auto [n, from] = p.serv.recvfrom_into(buf, 2);
        CHECK(n == 2);
        CHECK(std::string(buf, 2) == "he");
        CHECK(buf[2] == '\0');
        CHECK(from.port == p.cli.getsockname().port);
    }
}

TEST_CASE("MSG_PEEK leaves the datagram queued") {
    udp_pair p;
    p.cli.sendto("peek", p.serv_addr);
    auto [peeked, from] = p.serv.recvfrom(100, MSG_PEEK);
    CHECK(peeked == "peek");
    CHECK(from == p.cli.getsockname());
    CHECK(p.serv.recv(100) == "peek");
}

#if defined(MSG_DONTWAIT)  // not on Windows
TEST_CASE("MSG_DONTWAIT on an empty queue raises blocking_io_error") {
    udp_pair p;
    CHECK_THROWS_AS(p.serv.recv(100, MSG_DONTWAIT), pysock::blocking_io_error);
    CHECK_THROWS_AS(p.serv.recvfrom(100, MSG_DONTWAIT), pysock::blocking_io_error);
}
#endif

TEST_CASE("sendto with flags passes them to the kernel") {
    udp_pair p;
    CHECK(p.cli.sendto("flagged", MSG_DONTROUTE, p.serv_addr) == 7);
    CHECK(p.serv.recv(100) == "flagged");
    // an invalid flag is rejected by the kernel, not ignored
    CHECK_THROWS_AS(p.cli.sendto("x", MSG_OOB, p.serv_addr), pysock::error);
}

TEST_CASE("an unbound UDP socket is ('0.0.0.0', 0) and sendto binds it") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    if (pysock_test::on_windows)  // CPython on Windows: [WinError 10022] for an unbound socket
        CHECK_THROWS_AS(s.getsockname(), pysock::error);
    else
        CHECK(pysock::to_string(s.getsockname()) == "('0.0.0.0', 0)");
    udp_pair p;
    s.sendto("x", p.serv_addr);
    CHECK(s.getsockname().port != 0);
    auto [data, from] = p.serv.recvfrom(10);
    CHECK(from.port == s.getsockname().port);
}

TEST_CASE("an unconnected UDP socket has no peer") {
    // CPython: [Errno 107] Transport endpoint is not connected
    pysock::socket s(AF_INET, SOCK_DGRAM);
    try {
        (void)s.getpeername();
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == ENOTCONN);
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform(
                  "[Errno 107] Transport endpoint is not connected",
                  "[WinError 10057] A request to send or receive data was disallowed because "
                  "the socket is not connected and (when sending on a datagram socket using a "
                  "sendto call) no address was supplied"));
    }
}

TEST_CASE("a connected UDP socket uses send and recv and knows its peer") {
    udp_pair p;
    p.cli.connect(p.serv_addr);
    CHECK(p.cli.getpeername() == p.serv_addr);
    CHECK(p.cli.send("ping") == 4);
    auto [data, from] = p.serv.recvfrom(100);
    CHECK(data == "ping");
    p.serv.sendto("pong", from);
    CHECK(p.cli.recv(100) == "pong");
}

TEST_CASE("a connected UDP socket only receives from its peer") {
    udp_pair p;
    pysock::socket stranger(AF_INET, SOCK_DGRAM);
    p.cli.connect(p.serv_addr);
    stranger.sendto("not for you", p.cli.getsockname());
    p.serv.sendto("for you", p.cli.getsockname());
    CHECK(p.cli.recv(100) == "for you");
}

TEST_CASE("a connected UDP socket reports ICMP port unreachable as connection_refused_error" *
          pysock_test::skip_on_windows(
              "Windows reports ICMP port unreachable as WSAECONNRESET (and wine not at all)")) {
    // a port that was bound a moment ago and is now closed
    pysock::address gone;
    {
        pysock::socket tmp(AF_INET, SOCK_DGRAM);
        tmp.bind(pysock::address("127.0.0.1", 0));
        gone = tmp.getsockname();
    }
    pysock::socket c(AF_INET, SOCK_DGRAM);
    c.settimeout(WAIT);
    c.connect(gone);
    c.send("hi");
    try {
        c.recv(10);
        FAIL("no throw");
    } catch (const pysock::connection_refused_error& e) {
        CHECK(e.code().value() == ECONNREFUSED);
        CHECK(std::string(e.what()) == "[Errno 111] Connection refused");
    }
}

TEST_CASE("sendto reports address errors") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    SUBCASE("port 0 is EINVAL") {
        try {
            s.sendto("x", pysock::address("127.0.0.1", 0));
            FAIL("no throw");
        } catch (const pysock::error& e) {
            if (pysock_test::on_windows) {  // WSAEADDRNOTAVAIL on Windows, WSAEINVAL under wine
                CHECK(std::string(e.what()).rfind("[WinError 100", 0) == 0);
            } else {
                CHECK(e.code().value() == EINVAL);
                CHECK(std::string(e.what()) == "[Errno 22] Invalid argument");
            }
        }
    }
    SUBCASE("an unknown host is gaierror") {
        try {
            s.sendto("x", pysock::address("nonexistent.invalid", 9));
            FAIL("no throw");
        } catch (const pysock::gaierror& e) {
            CHECK(e.code().value() == EAI_NONAME);
            CHECK(std::string(e.what()) ==
                  pysock_test::on_platform("[Errno -2] Name or service not known",
                                           "[Errno 11001] getaddrinfo failed"));
        }
    }
    SUBCASE("an IPv6 literal on an AF_INET socket is gaierror EAI_ADDRFAMILY") {
        try {
            s.sendto("x", pysock::address("::1", 9));
            FAIL("no throw");
        } catch (const pysock::gaierror& e) {
#if defined(EAI_ADDRFAMILY)
            CHECK(e.code().value() == EAI_ADDRFAMILY);
            CHECK(std::string(e.what()) == "[Errno -9] Address family for hostname not supported");
#else
            CHECK(std::string(e.what()) ==
                  "[Errno " + std::to_string(e.code().value()) + "] getaddrinfo failed");
#endif
        }
    }
}

TEST_CASE("binding a UDP port that is taken raises EADDRINUSE") {
    udp_pair p;
    pysock::socket other(AF_INET, SOCK_DGRAM);
    try {
        other.bind(p.serv_addr);
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == EADDRINUSE);
    }
}

TEST_CASE("UDP over IPv6 loopback returns 4-tuple addresses") {
    if (!pysock::has_ipv6) return;
    pysock::socket serv(AF_INET6, SOCK_DGRAM);
    serv.bind(pysock::address("::1", 0));
    serv.settimeout(WAIT);
    const auto where = serv.getsockname();
    CHECK(where.family == AF_INET6);
    CHECK(pysock::to_string(where) == "('::1', " + std::to_string(where.port) + ", 0, 0)");

    pysock::socket cli(AF_INET6, SOCK_DGRAM);
    cli.sendto("hello", where);
    // A short buffer truncates the datagram on POSIX; Windows (and CPython there) reports
    // WSAEMSGSIZE instead, so the Windows run reads it whole.
    auto [data, from] = serv.recvfrom(pysock_test::on_platform(3, 100));
    CHECK(data == pysock_test::on_platform("hel", "hello"));
    CHECK(from.family == AF_INET6);
    CHECK(from.host == "::1");
    CHECK(from.port == cli.getsockname().port);
    CHECK(pysock::to_string(cli.getsockname()) ==
          "('::', " + std::to_string(from.port) + ", 0, 0)");
}

TEST_CASE("an IPv4 literal on an AF_INET6 UDP socket is gaierror") {
    // CPython: socket(AF_INET6, SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9)) -> gaierror [Errno -9]
    if (!pysock::has_ipv6) return;
    pysock::socket s(AF_INET6, SOCK_DGRAM);
    CHECK_THROWS_AS(s.sendto("x", pysock::address("127.0.0.1", 9)), pysock::gaierror);
}

// CPython: UDPTimeoutTest.testUDPTimeout
TEST_CASE("recv on a UDP socket with a timeout raises timeout") {
    udp_pair p;
    p.serv.settimeout(0.05);
    CHECK_THROWS_AS(p.serv.recv(1024), pysock::timeout);
    CHECK_THROWS_AS(p.serv.recvfrom(1024), pysock::timeout);
}

// CPython: UDPTimeoutTest.testTimeoutZero
TEST_CASE("recv on a non-blocking UDP socket raises blocking_io_error, not timeout") {
    udp_pair p;
    p.serv.settimeout(0.0);
    try {
        p.serv.recv(1024);
        FAIL("recv() returned success when we did not expect it");
    } catch (const pysock::timeout&) {
        FAIL("caught timeout instead of error (UDP)");
    } catch (const pysock::blocking_io_error& e) {
        CHECK(e.code().value() == EAGAIN);
    }
}

TEST_CASE("a UDP socket has the right family, type and proto") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    CHECK(s.family() == AF_INET);
    CHECK(s.type() == SOCK_DGRAM);
    CHECK(s.proto() == 0);
    pysock::socket u(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    CHECK(u.proto() == IPPROTO_UDP);
}

// --- recv_into / recvfrom_into with a buffer object, Python's recv_into(buffer[, nbytes]) form

TEST_CASE(
    "recv_into fills a whole buffer object when nbytes is omitted" *
    pysock_test::skip_on_windows("uses an AF_UNIX SOCK_DGRAM socketpair (no AF_UNIX on Windows)")) {
    auto pair = pysock::socketpair(AF_UNIX, SOCK_DGRAM);
    SUBCASE("a char array") {
        char buf[8];
        pair.second.send("abcdefghij");  // a datagram longer than the buffer is truncated
        CHECK(pair.first.recv_into(buf) == 8);
        CHECK(std::string(buf, 8) == "abcdefgh");
    }
    SUBCASE("a std::string") {
        std::string buf(5, '\0');
        pair.second.send("hello");
        CHECK(pair.first.recv_into(buf) == 5);
        CHECK(buf == "hello");
    }
    SUBCASE("a std::vector with an explicit nbytes") {
        std::vector<char> buf(3, '-');
        pair.second.send("xyz");
        CHECK(pair.first.recv_into(buf, 2) == 2);
        CHECK(std::string(buf.begin(), buf.end()) == "xy-");
    }
}

// CPython: testRecvFromIntoSmallBuffer / testRecvIntoSmallBuffer
TEST_CASE("recv_into and recvfrom_into refuse an nbytes larger than the buffer") {
    udp_pair p;  // any datagram socket (a UDP one also exists on Windows)
    std::vector<char> buf(4);
    CHECK_THROWS_WITH_AS(p.serv.recv_into(buf, 5), "buffer too small for requested bytes",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(p.serv.recvfrom_into(buf, 5), "buffer too small for requested bytes",
                         std::invalid_argument);
}

TEST_CASE("recvfrom_into a buffer object returns the count and the sender") {
    pysock::socket receiver(AF_INET, SOCK_DGRAM);
    receiver.bind({"127.0.0.1", 0});
    pysock::socket sender(AF_INET, SOCK_DGRAM);
    sender.bind({"127.0.0.1", 0});
    sender.sendto("ping", receiver.getsockname());
    std::array<char, 16> buf{};
    auto [n, from] = receiver.recvfrom_into(buf);
    CHECK(n == 4);
    CHECK(std::string(buf.data(), n) == "ping");
    CHECK(from == sender.getsockname());
}
