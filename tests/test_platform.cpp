// The platform layer: what differs between POSIX and Windows (Winsock), checked on both.
//
// On Linux these run natively; the Windows build (mingw-w64) runs them under wine. Each test
// states what CPython does on each platform; a test wine cannot do is reported skipped with
// its reason (see tests/platform.hpp) and runs on real Windows.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using pysock_test::starts_with;

// First in this file (doctest runs a file's tests in order), so that it starts the network
// stack: on Windows, Winsock must be started once, lazily and thread-safely, by pysock itself.
TEST_CASE("the first calls, from many threads at once, need no set-up (Winsock starts itself)") {
    constexpr int n = 8;
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&ok, i] {
            try {
                if (i % 2 == 0) {
                    pysock::socket s(AF_INET, SOCK_DGRAM);
                    s.bind(pysock::address("127.0.0.1", 0));
                    if (s.getsockname().port != 0) ++ok;
                } else {
                    auto infos = pysock::getaddrinfo("127.0.0.1", 80, AF_INET, SOCK_STREAM);
                    if (!infos.empty() && infos[0].sockaddr.port == 80 &&
                        !pysock::gethostname().empty())
                        ++ok;
                }
            } catch (const std::exception&) {
                // counted as missing below (doctest assertions stay on the main thread)
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok.load() == n);
}

TEST_CASE("native_handle_type is the platform's handle and fileno() is -1 once closed") {
#if defined(_WIN32)
    static_assert(std::is_same<pysock::native_handle_type, SOCKET>::value, "SOCKET on Windows");
#else
    static_assert(std::is_same<pysock::native_handle_type, int>::value, "a descriptor on POSIX");
#endif
    pysock::socket s(AF_INET, SOCK_STREAM);
    CHECK(s.fileno() != static_cast<pysock::native_handle_type>(-1));
    s.close();
    CHECK(s.fileno() == static_cast<pysock::native_handle_type>(-1));
}

TEST_CASE("a refused connection is connection_refused_error with the platform's text") {
    pysock_test::refusing_port nobody;
    const int port = nobody.addr.port;
    pysock::socket s(AF_INET, SOCK_STREAM);
    s.settimeout(10.0);  // real Windows retries a refused SYN for about 2 s before giving up
    try {
        s.connect(pysock::address("127.0.0.1", port));
        FAIL("connect to a closed port succeeded");
    } catch (const pysock::connection_refused_error& e) {
        CHECK(e.code().value() == ECONNREFUSED);
        // CPython: "[Errno 111] Connection refused" on Linux,
        // "[WinError 10061] No connection could be made because the target machine actively refused it"
        if (pysock_test::on_windows)
            CHECK(std::string(e.what()) == "[WinError 10061] No connection could be made because "
                                           "the target machine actively refused it");
        else
            CHECK(std::string(e.what()) ==
                  "[Errno " + std::to_string(ECONNREFUSED) + "] Connection refused");
    }
    pysock::socket t(AF_INET, SOCK_STREAM);
    t.settimeout(10.0);
    CHECK(t.connect_ex(pysock::address("127.0.0.1", port)) == ECONNREFUSED);
}

TEST_CASE("a non-blocking recv with nothing to read is blocking_io_error (EWOULDBLOCK)") {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    p.server.setblocking(false);
    try {
        p.server.recv(10);
        FAIL("recv on an empty non-blocking socket returned");
    } catch (const pysock::blocking_io_error& e) {
        CHECK(e.code().value() == EWOULDBLOCK);
        if (pysock_test::on_windows)
            CHECK(std::string(e.what()) == "[WinError 10035] A non-blocking socket operation could "
                                           "not be completed immediately");
        else
            CHECK(std::string(e.what()) == "[Errno 11] Resource temporarily unavailable");
    }
}

TEST_CASE(
    "a non-blocking connect is blocking_io_error, connect_ex returns EWOULDBLOCK/EINPROGRESS") {
    pysock::socket listener = pysock::create_server(pysock::address("127.0.0.1", 0));
    pysock::socket s(AF_INET, SOCK_STREAM);
    s.setblocking(false);
    // CPython: Windows reports WSAEWOULDBLOCK (10035) where POSIX says EINPROGRESS.
    int expected = pysock_test::on_windows ? EWOULDBLOCK : EINPROGRESS;
    int rc = s.connect_ex(listener.getsockname());
    CHECK((rc == expected || rc == 0));  // loopback may complete at once
}

TEST_CASE("a recv deadline is timeout: 'timed out' with ETIMEDOUT") {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    p.server.settimeout(0.05);
    auto start = std::chrono::steady_clock::now();
    try {
        p.server.recv(10);
        FAIL("recv returned without data");
    } catch (const pysock::timeout& e) {
        CHECK(std::string(e.what()) == "timed out");
        CHECK(e.code().value() == ETIMEDOUT);
    }
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(waited >= 0.04);
    CHECK(waited < 3.0);
    // The socket is still usable after the timeout.
    p.client.sendall("ok");
    p.server.settimeout(5.0);
    CHECK(p.server.recv(10) == "ok");
}

TEST_CASE("sending after shutdown(SHUT_WR) is broken_pipe_error (EPIPE, WSAESHUTDOWN on Windows)") {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    p.client.shutdown(SHUT_WR);
    CHECK(p.server.recv(10) == "");  // the peer sees the end of the stream
    try {
        p.client.send("x");
        FAIL("send after SHUT_WR succeeded");
    } catch (const pysock::broken_pipe_error& e) {
        CHECK(e.code().value() == (pysock_test::on_windows ? ESHUTDOWN : EPIPE));
        if (pysock_test::on_windows)
            CHECK(starts_with(e.what(),
                              "[WinError 10058] A request to send or receive data was disallowed"));
        else
            CHECK(std::string(e.what()) == "[Errno 32] Broken pipe");
    }
}

TEST_CASE("an operation on a closed socket is error (EBADF; WSAENOTSOCK on Windows)") {
    pysock::socket s(AF_INET, SOCK_STREAM);
    s.close();
    try {
        s.getsockname();
        FAIL("getsockname on a closed socket returned");
    } catch (const pysock::error& e) {
        if (pysock_test::on_windows) {
            CHECK(e.code().value() == ENOTSOCK);
            CHECK(std::string(e.what()) ==
                  "[WinError 10038] An operation was attempted on something that is not a socket");
        } else {
            CHECK(e.code().value() == EBADF);
            CHECK(std::string(e.what()) == "[Errno 9] Bad file descriptor");
        }
    }
    s.close();  // twice is harmless
}

TEST_CASE("a failed name lookup is gaierror with the platform's text") {
    try {
        pysock::getaddrinfo("no-such-host.invalid", 80);
        FAIL("no-such-host.invalid resolved");
    } catch (const pysock::gaierror& e) {
        std::string what = e.what();
        CHECK(starts_with(what, "[Errno " + std::to_string(e.code().value()) + "] "));
        // CPython on Windows has no gai_strerror: "[Errno 11001] getaddrinfo failed".
        if (pysock_test::on_windows)
            CHECK(what.substr(what.find("] ") + 2) == "getaddrinfo failed");
        CHECK(e.code().category() == pysock::gai_category());
    }
}

TEST_CASE("socketpair() defaults to AF_UNIX on POSIX and to an emulated AF_INET pair on Windows") {
    auto [a, b] = pysock::socketpair();
    CHECK(a.family() == (pysock_test::on_windows ? AF_INET : AF_UNIX));
    CHECK(a.type() == SOCK_STREAM);
    a.settimeout(5.0);
    b.settimeout(5.0);
    a.sendall("ping");
    CHECK(b.recv(10) == "ping");
    b.sendall("pong");
    CHECK(a.recv(10) == "pong");
    if (pysock_test::on_windows) {
        // The emulation connects two loopback TCP sockets to each other (CPython's socket.py).
        CHECK(a.getsockname() == b.getpeername());
        CHECK(b.getsockname() == a.getpeername());
    }
}

TEST_CASE("socketpair(AF_INET6) works on Windows; other kinds are Python's ValueError there" *
          pysock_test::only_on_windows("Windows only: the socketpair() emulation")) {
    auto [a, b] = pysock::socketpair(AF_INET6);
    a.settimeout(5.0);
    b.settimeout(5.0);
    a.sendall("six");
    CHECK(b.recv(10) == "six");
    CHECK(a.family() == AF_INET6);
    CHECK_THROWS_AS(pysock::socketpair(AF_INET, SOCK_DGRAM), std::invalid_argument);
    CHECK_THROWS_AS(pysock::socketpair(AF_INET, SOCK_STREAM, 6), std::invalid_argument);
    CHECK_THROWS_AS(pysock::socketpair(AF_UNIX), std::invalid_argument);
}

TEST_CASE("create_server sets SO_REUSEADDR on POSIX only, as CPython") {
    pysock::socket s = pysock::create_server(pysock::address("127.0.0.1", 0));
    // CPython: `if os.name not in ('nt', 'cygwin')`: on Windows SO_REUSEADDR would let another
    // process bind the listening port.
    CHECK((s.getsockopt(SOL_SOCKET, SO_REUSEADDR) != 0) == !pysock_test::on_windows);
#if !defined(SO_REUSEPORT)
    CHECK_THROWS_AS(
        pysock::create_server(pysock::address("127.0.0.1", 0), AF_INET, std::nullopt, true),
        std::invalid_argument);
#endif
}

TEST_CASE("a second server on a port in use is EADDRINUSE, with the address in the message") {
    pysock::socket s = pysock::create_server(pysock::address("127.0.0.1", 0));
    auto taken = s.getsockname();
    try {
        pysock::create_server(pysock::address("127.0.0.1", taken.port));
        FAIL("two servers bound one port");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == EADDRINUSE);
        // CPython re-raises error(errno, strerror + " (while ...)"): "[Errno N]" on Windows too.
        std::string what = e.what();
        CHECK(starts_with(what, "[Errno " + std::to_string(EADDRINUSE) + "] "));
        if (pysock_test::on_windows)
            CHECK(starts_with(what, "[Errno 10048] Only one usage of each socket address"));
        CHECK(what.find("(while attempting to bind on address ('127.0.0.1', " +
                        std::to_string(taken.port) + "))") != std::string::npos);
    }
}

TEST_CASE("sockets, accepted sockets and duplicates are not inherited by child processes") {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    CHECK_FALSE(p.listener.get_inheritable());
    CHECK_FALSE(p.client.get_inheritable());
    // Windows hands accept() an inheritable handle: pysock clears the flag.
    CHECK_FALSE(p.server.get_inheritable());
    pysock::socket d = p.server.dup();
    CHECK_FALSE(d.get_inheritable());
    p.server.set_inheritable(true);
    CHECK(p.server.get_inheritable());
    p.server.set_inheritable(false);
    CHECK_FALSE(p.server.get_inheritable());
}

TEST_CASE("an accepted socket starts blocking even when the listener is non-blocking") {
    // Windows hands accept() a socket in the listener's non-blocking mode; Python's accepted
    // socket starts in getdefaulttimeout()'s mode (blocking here), and so must pysock's.
    pysock::socket listener = pysock::create_server(pysock::address("127.0.0.1", 0));
    listener.setblocking(false);
    pysock::socket client = pysock::create_connection(listener.getsockname(), 5.0);
    listener.settimeout(5.0);  // wait for the connection, then look at what accept() returned
    auto [conn, addr] = listener.accept();
    CHECK(conn.gettimeout() == std::nullopt);
    CHECK(addr == client.getsockname());
    // Blocking for real: a recv issued before the data exists waits for it instead of raising
    // blocking_io_error. The sender waits until the receiver is about to block.
    const pysock_test::blocking_probe receiver;
    std::thread sender([&] {
        CHECK(receiver.wait_until_blocked());  // recv is waiting in the kernel
        client.sendall("late");
    });
    std::string got;
    try {
        got = conn.recv(10);
    } catch (const std::exception& e) {
        MESSAGE("recv failed: " << e.what());
    }
    sender.join();
    CHECK(got == "late");
}

TEST_CASE("dup() shares the socket: the duplicate works after the original is closed") {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    pysock::socket d = p.server.dup();
    CHECK(d.getsockname() == p.server.getsockname());
    CHECK(d.gettimeout() == p.server.gettimeout());
    p.server.close();
    p.client.sendall("still here");
    CHECK(d.recv(20) == "still here");
}

TEST_CASE("from_fd() reads family, type and protocol from the handle") {
    pysock::socket s(AF_INET6, SOCK_DGRAM);
    pysock::socket t = pysock::socket::from_fd(s.detach());
    CHECK(t.family() == AF_INET6);
    CHECK(t.type() == SOCK_DGRAM);
    CHECK(t.proto() == IPPROTO_UDP);
}

TEST_CASE("getsockopt reads one-byte BOOL options as 0/1 (Windows returns some as one byte)") {
    pysock::socket s(AF_INET6, SOCK_STREAM);
    s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    CHECK(s.getsockopt(IPPROTO_TCP, TCP_NODELAY) != 0);
    s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 0);
    CHECK(s.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 0);
    s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    CHECK(s.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY) == 1);
}

TEST_CASE("IPv6 loopback, and a dual-stack server accepts IPv4 clients") {
    pysock::socket server =
        pysock::create_server(pysock::address("", 0), AF_INET6, std::nullopt, false, true);
    server.settimeout(5.0);
    int port = server.getsockname().port;
    pysock::socket v4 = pysock::create_connection(pysock::address("127.0.0.1", port), 5.0);
    auto [c4, a4] = server.accept();
    CHECK(a4.host == "::ffff:127.0.0.1");
    pysock::socket v6 = pysock::create_connection(pysock::address("::1", port), 5.0);
    auto [c6, a6] = server.accept();
    CHECK(a6.host == "::1");
    CHECK(a6.family == AF_INET6);
}

TEST_CASE("getsockname() of an unbound socket: ('0.0.0.0', 0) on POSIX, WSAEINVAL on Windows") {
    pysock::socket s(AF_INET, SOCK_STREAM);
    if (pysock_test::on_windows) {
        // CPython on Windows: OSError [WinError 10022] An invalid argument was supplied
        try {
            s.getsockname();
            FAIL("getsockname of an unbound socket returned");
        } catch (const pysock::error& e) {
            CHECK(std::string(e.what()) == "[WinError 10022] An invalid argument was supplied");
        }
    } else {
        CHECK(s.getsockname() == pysock::address("0.0.0.0", 0));
    }
}

TEST_CASE("inet_aton accepts the classic short forms and 255.255.255.255") {
    CHECK(pysock::inet_aton("127.1") == std::string("\x7f\x00\x00\x01", 4));
    CHECK(pysock::inet_aton("255.255.255.255") == std::string("\xff\xff\xff\xff", 4));
    CHECK_THROWS_AS(pysock::inet_aton("300.1.2.3"), pysock::error);
}

TEST_CASE("AF_UNIX stream sockets carry data" *
          pysock_test::skip_under_wine(
              "wine 8: socket(AF_UNIX) fails with WSAEAFNOSUPPORT (works on Windows 10 1803+)")) {
    std::string path =
        "pysock-platform-" + std::to_string(pysock_test::refusing_port().addr.port) + ".sock";
    pysock::socket server(AF_UNIX, SOCK_STREAM);
    server.bind(pysock::address(path));
    server.listen();
    server.settimeout(5.0);
    pysock::socket client(AF_UNIX, SOCK_STREAM);
    client.settimeout(5.0);
    client.connect(pysock::address(path));
    auto [conn, addr] = server.accept();
    conn.settimeout(5.0);
    client.sendall("unix");
    CHECK(conn.recv(10) == "unix");
    std::remove(path.c_str());
}

TEST_CASE("shutdown(SHUT_RDWR) from another thread wakes a thread blocked in recv" *
          pysock_test::skip_under_wine(
              "wine 8: shutdown() from another thread does not wake a blocked recv")) {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    const pysock_test::blocking_probe receiver;
    std::thread closer([&] {
        CHECK(receiver.wait_until_blocked());  // recv is waiting in the kernel
        p.server.shutdown(SHUT_RDWR);
    });
    auto start = std::chrono::steady_clock::now();
    std::string got = "unset";
    try {
        got = p.server.recv(10);  // 5 s timeout: a missing wake-up fails, never hangs
    } catch (const pysock::error& e) {
        got = std::string("error: ") + e.what();
    }
    closer.join();
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(got == "");
    CHECK(waited < 4.0);
}

TEST_CASE(
    "an abortive close (SO_LINGER 0) reaches the peer as connection_reset_error" *
    pysock_test::skip_under_wine("wine 8: an abortive close reaches the peer as a clean EOF")) {
    auto p = pysock_test::connect_tcp(AF_INET, 5.0);
    pysock_test::close_with_reset(p.client);
    CHECK_THROWS_AS(p.server.recv(10), pysock::connection_reset_error);
}
