// pysock's exception tree: Python's OSError hierarchy on top of std::system_error.
//
// Each exception is provoked for real (loopback / AF_UNIX only) and checked for its type, its errno
// (code().value()) and its what() text, which must read as Python prints the same exception.
// Expected texts are what /usr/bin/python3 prints on this machine for the same operation.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <cerrno>
#include <cstdio>
#include <string>
#include <ostream>
#include <system_error>
#include <type_traits>
#include <typeinfo>

namespace {

template <class Derived, class Base>
constexpr bool is_a = std::is_base_of<Base, Derived>::value;

}  // namespace

// CPython: TestExceptions.testExceptionTree
TEST_CASE("the exception tree mirrors Python's OSError hierarchy") {
    static_assert(is_a<pysock::error, std::system_error>, "error is a std::system_error");
    static_assert(is_a<pysock::timeout, pysock::error>,
                  "timeout is an error (socket.timeout is TimeoutError)");
    static_assert(is_a<pysock::gaierror, pysock::error>, "gaierror is an error");
    static_assert(is_a<pysock::blocking_io_error, pysock::error>, "BlockingIOError is an OSError");
    static_assert(is_a<pysock::permission_error, pysock::error>, "PermissionError is an OSError");
    static_assert(is_a<pysock::file_not_found_error, pysock::error>,
                  "FileNotFoundError is an OSError");
    static_assert(is_a<pysock::connection_error, pysock::error>, "ConnectionError is an OSError");
    static_assert(is_a<pysock::broken_pipe_error, pysock::connection_error>,
                  "BrokenPipeError is a ConnectionError");
    static_assert(is_a<pysock::connection_aborted_error, pysock::connection_error>,
                  "ConnectionAbortedError");
    static_assert(is_a<pysock::connection_refused_error, pysock::connection_error>,
                  "ConnectionRefusedError");
    static_assert(is_a<pysock::connection_reset_error, pysock::connection_error>,
                  "ConnectionResetError");
    // Siblings are not related.
    static_assert(!is_a<pysock::timeout, pysock::connection_error>, "");
    static_assert(!is_a<pysock::gaierror, pysock::timeout>, "");
    static_assert(!is_a<pysock::blocking_io_error, pysock::timeout>, "");
    static_assert(!is_a<pysock::connection_refused_error, pysock::connection_reset_error>, "");
    CHECK(is_a<pysock::connection_reset_error, std::exception>);
}

// CPython: GeneralModuleTests.testSocketError (every socket exception can be caught as OSError)
TEST_CASE("every pysock exception can be caught as error and as std::system_error") {
    SUBCASE("gaierror as error") {
        CHECK_THROWS_AS(pysock::getaddrinfo("nonexistent.invalid", 80), pysock::error);
    }
    SUBCASE("gaierror as std::system_error") {
        CHECK_THROWS_AS(pysock::getaddrinfo("nonexistent.invalid", 80), std::system_error);
    }
    SUBCASE("connection_refused_error as connection_error") {
        pysock::socket holder;
        holder.bind(pysock::address("127.0.0.1", 0));
        pysock::socket s;
        s.settimeout(5.0);
        CHECK_THROWS_AS(s.connect(holder.getsockname()), pysock::connection_error);
    }
}

TEST_CASE("error carries the errno and reads like Python's OSError") {
    // bind to an address already bound: OSError [Errno 98] Address already in use
    pysock::socket a;
    a.bind(pysock::address("127.0.0.1", 0));
    pysock::socket b;
    try {
        b.bind(a.getsockname());
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == EADDRINUSE);
        CHECK(e.code().category() == pysock_test::os_category());
        if (!pysock_test::on_windows)  // mingw's libstdc++ maps no Windows code to std::errc
            CHECK((e.code() == std::errc::address_in_use));
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform("[Errno 98] Address already in use",
                                       "[WinError 10048] Only one usage of each socket address "
                                       "(protocol/network address/port) is normally permitted"));
        CHECK(e.characters_written() == 0);
    }
}

TEST_CASE("a closed socket raises error EBADF") {
    pysock::socket s(AF_INET, SOCK_STREAM);
    s.close();
    auto check_ebadf = [](auto&& op) {
        try {
            op();
            FAIL("no throw");
        } catch (const pysock::error& e) {
            CHECK(e.code().value() == pysock_test::closed_socket_errno);
            CHECK(std::string(e.what()) ==
                  pysock_test::on_platform("[Errno 9] Bad file descriptor",
                                           "[WinError 10038] An operation was attempted on "
                                           "something that is not a socket"));
        }
    };
    SUBCASE("send") {
        check_ebadf([&] { s.send("x"); });
    }
    SUBCASE("recv") {
        check_ebadf([&] { s.recv(1); });
    }
    SUBCASE("bind") {
        check_ebadf([&] { s.bind(pysock::address("127.0.0.1", 0)); });
    }
    SUBCASE("getsockname") {
        check_ebadf([&] { (void)s.getsockname(); });
    }
    SUBCASE("settimeout") {
        check_ebadf([&] { s.settimeout(1.0); });
    }  // CPython: [Errno 9] too
    SUBCASE("close again is harmless") { CHECK_NOTHROW(s.close()); }
}

// CPython: GeneralModuleTests.testSendAfterClose
TEST_CASE("send after close with a timeout raises error") {
    pysock::socket s(AF_INET, SOCK_STREAM);
    s.settimeout(1.0);
    s.close();
    CHECK_THROWS_AS(s.send("spam"), pysock::error);
}

// CPython: TestExceptions.test_setblocking_invalidfd
TEST_CASE("setblocking on a descriptor closed behind the socket's back raises error") {
    pysock::socket sock0(AF_INET, SOCK_STREAM);
    pysock::socket sock = pysock::socket::from_fd(sock0.fileno());
    sock0.close();
    CHECK_THROWS_AS(sock.setblocking(false), pysock::error);
    sock.detach();  // the descriptor is already closed; do not close it twice
}

TEST_CASE("gaierror has its own category and gai_strerror's message") {
    try {
        pysock::getaddrinfo("nonexistent.invalid", 80);
        FAIL("no throw");
    } catch (const pysock::gaierror& e) {
        CHECK(e.code().value() == EAI_NONAME);
        CHECK(e.code().category() != std::generic_category());
        CHECK(e.code().category() != std::system_category());
        CHECK(e.code().category() == pysock::gai_category());
        // CPython on Windows has no gai_strerror: "[Errno 11001] getaddrinfo failed".
        CHECK(e.code().message() == pysock_test::on_platform<std::string>(
                                        ::gai_strerror(EAI_NONAME), "getaddrinfo failed"));
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform("[Errno -2] Name or service not known",
                                       "[Errno 11001] getaddrinfo failed"));
    }
}

TEST_CASE("timeout reads 'timed out' and carries ETIMEDOUT") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    s.bind(pysock::address("127.0.0.1", 0));
    s.settimeout(0.05);
    try {
        s.recv(16);
        FAIL("no throw");
    } catch (const pysock::timeout& e) {
        CHECK(std::string(e.what()) == "timed out");
        CHECK(e.code().value() == ETIMEDOUT);
    }
    // and it is an error
    CHECK_THROWS_AS(s.recv(16), pysock::error);
}

TEST_CASE("blocking_io_error on a non-blocking socket reads like BlockingIOError") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    s.bind(pysock::address("127.0.0.1", 0));
    s.setblocking(false);
    try {
        s.recv(16);
        FAIL("no throw");
    } catch (const pysock::blocking_io_error& e) {
        CHECK((e.code().value() == EAGAIN || e.code().value() == EWOULDBLOCK));
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform("[Errno 11] Resource temporarily unavailable",
                                       "[WinError 10035] A non-blocking socket operation could not "
                                       "be completed immediately"));
    }
}

TEST_CASE("blocking_io_error is not a timeout") {
    // CPython: UDPTimeoutTest.testTimeoutZero ("caught timeout instead of error")
    pysock::socket s(AF_INET, SOCK_DGRAM);
    s.bind(pysock::address("127.0.0.1", 0));
    s.settimeout(0.0);
    bool got_timeout = false, got_blocking = false;
    try {
        s.recv(16);
    } catch (const pysock::timeout&) {
        got_timeout = true;
    } catch (const pysock::blocking_io_error&) {
        got_blocking = true;
    }
    CHECK_FALSE(got_timeout);
    CHECK(got_blocking);
}

TEST_CASE("permission_error for a broadcast without SO_BROADCAST") {
    // 127.255.255.255 is the loopback broadcast address; nothing leaves the machine.
    pysock::socket s(AF_INET, SOCK_DGRAM);
    try {
        s.sendto("x", pysock::address("127.255.255.255", 9));
        FAIL("no throw");
    } catch (const pysock::permission_error& e) {
        CHECK(e.code().value() == pysock_test::on_platform(EACCES, 10013));  // WSAEACCES
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform(
                  "[Errno 13] Permission denied",
                  "[WinError 10013] An attempt was made to access a socket in a way "
                  "forbidden by its access permissions"));
    }
}

TEST_CASE(
    "file_not_found_error when an AF_UNIX path does not exist" *
    pysock_test::skip_on_windows(
        "POSIX AF_UNIX paths (wine has no AF_UNIX; Windows reports a missing path differently)")) {
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    try {
        s.connect(pysock::address("/nonexistent-pysock-dir/sock"));
        FAIL("no throw");
    } catch (const pysock::file_not_found_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK(std::string(e.what()) == "[Errno 2] No such file or directory");
    }
}

// CPython: NetworkConnectionNoServer.test_connect
TEST_CASE("connection_refused_error when nobody listens") {
    pysock::socket holder;  // keeps the port bound but not listening: connections are refused
    holder.bind(pysock::address("127.0.0.1", 0));
    pysock::socket s;
    s.settimeout(5.0);
    try {
        s.connect(holder.getsockname());
        FAIL("no throw");
    } catch (const pysock::connection_refused_error& e) {
        CHECK(e.code().value() == ECONNREFUSED);
        CHECK(std::string(e.what()) ==
              pysock_test::on_platform(
                  "[Errno 111] Connection refused",
                  "[WinError 10061] No connection could be made because the target "
                  "machine actively refused it"));
    }
}

TEST_CASE("connect_ex returns the errno instead of throwing") {
    pysock::socket holder;
    holder.bind(pysock::address("127.0.0.1", 0));
    pysock::socket s;
    s.settimeout(5.0);
    CHECK(s.connect_ex(holder.getsockname()) == ECONNREFUSED);
}

TEST_CASE("broken_pipe_error when the peer is gone, and no SIGPIPE" *
          pysock_test::skip_on_windows(
              "socketpair() is TCP on Windows: the first send to a closed peer succeeds")) {
    auto [a, b] = pysock::socketpair();
    b.close();
    try {
        a.send("x");
        FAIL("no throw");
    } catch (const pysock::broken_pipe_error& e) {
        CHECK(e.code().value() == EPIPE);
        CHECK(std::string(e.what()) == "[Errno 32] Broken pipe");
    }
}

TEST_CASE("connection_reset_error when the peer closes with unread data") {
    SUBCASE("AF_UNIX") {
        PYSOCK_TEST_SKIP_IF(pysock_test::under_wine(),
                            "wine 8: a close with unread data reaches the peer as a clean EOF");
        auto [a, b] = pysock::socketpair();
        a.settimeout(5.0);
        a.send("unread");
        b.close();  // b never read: the kernel resets the connection
        try {
            a.recv(10);
            FAIL("no throw");
        } catch (const pysock::connection_reset_error& e) {
            CHECK(e.code().value() == ECONNRESET);
            CHECK(std::string(e.what()) ==
                  pysock_test::on_platform("[Errno 104] Connection reset by peer",
                                           "[WinError 10054] An existing connection was forcibly "
                                           "closed by the remote host"));
        }
    }
    SUBCASE("TCP") {
        auto p = pysock_test::connect_tcp(AF_INET, 5.0);
        p.client.sendall("data");
        p.server.close();  // unread data: TCP sends RST
        try {
            p.client.recv(10);
            FAIL("no throw");
        } catch (const pysock::connection_reset_error& e) {
            CHECK(e.code().value() == ECONNRESET);
            CHECK(std::string(e.what()) ==
                  pysock_test::on_platform("[Errno 104] Connection reset by peer",
                                           "[WinError 10054] An existing connection was forcibly "
                                           "closed by the remote host"));
        }
    }
}

TEST_CASE("sendall's timeout says how many bytes got out") {
    auto [a, b] = pysock::socketpair();
    a.settimeout(0.2);
    const std::string big(16 * 1024 * 1024,
                          'x');  // far more than the socket buffers hold; b never reads
    try {
        a.sendall(big);
        FAIL("no throw");
    } catch (const pysock::timeout& e) {
        CHECK(e.characters_written() > 0);
        CHECK(e.characters_written() < big.size());
        CHECK(std::string(e.what()) == "timed out");
    }
}

TEST_CASE("errors that are not from sendall report zero characters written") {
    try {
        pysock::getaddrinfo("nonexistent.invalid", 80);
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.characters_written() == 0);
    }
}

TEST_CASE("invalid arguments are std::invalid_argument, not error") {
    pysock::socket s;
    CHECK_THROWS_AS(s.settimeout(-1.0), std::invalid_argument);
    CHECK_THROWS_AS(pysock::setdefaulttimeout(-1.0), std::invalid_argument);
    static_assert(!is_a<std::invalid_argument, std::system_error>, "");
}

TEST_CASE("an out-of-range port is std::out_of_range, not error") {
    CHECK_THROWS_AS(pysock::address("127.0.0.1", 65536), std::out_of_range);
}

// CPython: OSError(errnum, strerror) picks the subclass from errnum (PEP 3151).
TEST_CASE(
    "raise_os_error throws the subclass Python's OSError(errnum) would be, with its message") {
    auto check_raise = [](int errnum, auto tag, const char* text) {
        using E = decltype(tag);
        CAPTURE(errnum);
        try {
            pysock::raise_os_error(errnum);
        } catch (const E& e) {
            CHECK(typeid(e) == typeid(E));
            CHECK(e.code().value() == errnum);
            if (!pysock_test::on_windows) CHECK(std::string(e.what()) == text);
            return;
        } catch (const std::exception& e) {
            FAIL_CHECK("wrong exception type: " << typeid(e).name() << ": " << e.what());
            return;
        }
    };
#if !defined(_WIN32)
    check_raise(ENOTDIR, pysock::not_a_directory_error(std::error_code(), "", 0),
                "[Errno 20] Not a directory");
    check_raise(EISDIR, pysock::is_a_directory_error(std::error_code(), "", 0),
                "[Errno 21] Is a directory");
    check_raise(EEXIST, pysock::file_exists_error(std::error_code(), "", 0),
                "[Errno 17] File exists");
    check_raise(EINTR, pysock::interrupted_error(std::error_code(), "", 0),
                "[Errno 4] Interrupted system call");
    check_raise(ENOENT, pysock::file_not_found_error(std::error_code(), "", 0),
                "[Errno 2] No such file or directory");
    check_raise(EIO, pysock::error(std::error_code(), "", 0), "[Errno 5] Input/output error");
#endif
    check_raise(ECONNREFUSED, pysock::connection_refused_error(std::error_code(), "", 0),
                "[Errno 111] Connection refused");
    check_raise(ETIMEDOUT, pysock::timeout(std::error_code(), "", 0),
                "[Errno 110] Connection timed out");
}

TEST_CASE("the new subclasses are errors, so catch (const pysock::error&) still sees them") {
    static_assert(is_a<pysock::not_a_directory_error, pysock::error>, "");
    static_assert(is_a<pysock::is_a_directory_error, pysock::error>, "");
    static_assert(is_a<pysock::file_exists_error, pysock::error>, "");
    static_assert(is_a<pysock::interrupted_error, pysock::error>, "");
    CHECK_THROWS_AS(pysock::raise_os_error(ECONNRESET), pysock::connection_error);
}

TEST_CASE("binding an AF_UNIX path under a regular file raises not_a_directory_error" *
          pysock_test::skip_on_windows("AF_UNIX: CPython on Windows has no socket.AF_UNIX")) {
#if !defined(_WIN32)
    pysock_test::temp_dir dir;
    const std::string file = dir / "file";
    std::FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    auto r =
        pysock_test::expect_raises<pysock::not_a_directory_error>([&] { s.bind(file + "/sock"); });
    CHECK(r.code.value() == ENOTDIR);
    CHECK(r.what == "[Errno 20] Not a directory");
#endif
}
