// pysock::address: Python's address tuples.
//
// Python represents a socket address as a tuple ('127.0.0.1', 54321), a 4-tuple ('::1', 8080, 0, 0)
// for AF_INET6, or a str path (bytes for a Linux abstract name) for AF_UNIX. pysock has one struct for
// all of them; these tests pin down its constructors, its comparison and the text it prints, which must
// be exactly what Python prints for the same address.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <climits>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

namespace {

std::string printed(const pysock::address& a) {
    std::ostringstream os;
    os << a;
    return os.str();
}

}  // namespace

// Python has None where there is no address (recvfrom/recvmsg on a connected stream): pysock's
// is the default address, family AF_UNSPEC, and it prints as None.
TEST_CASE("a default address is the empty AF_UNSPEC address and prints as None") {
    const pysock::address a;
    CHECK(a.host.empty());
    CHECK(a.port == 0);
    CHECK(a.flowinfo == 0);
    CHECK(a.scope_id == 0);
    CHECK(a.family == AF_UNSPEC);
    CHECK(printed(a) == "None");
}

TEST_CASE("address(host, port) is an AF_INET 2-tuple") {
    const pysock::address a("127.0.0.1", 54321);
    CHECK(a.host == "127.0.0.1");
    CHECK(a.port == 54321);
    CHECK(a.flowinfo == 0);
    CHECK(a.scope_id == 0);
    CHECK(a.family == AF_INET);
}

// CPython: GeneralModuleTests.test_getsockaddrarg (port + 65536 and port - 65536 raise OverflowError).
TEST_CASE("address rejects a port outside 0..65535 with std::out_of_range") {
    SUBCASE("the limits themselves are accepted") {
        CHECK(pysock::address("127.0.0.1", 0).port == 0);
        CHECK(pysock::address("127.0.0.1", 65535).port == 65535);
        CHECK(pysock::address("::1", 65535, 0, 0).port == 65535);
    }
    SUBCASE("one past the top") {
        CHECK_THROWS_AS(pysock::address("127.0.0.1", 65536), std::out_of_range);
    }
    SUBCASE("minus one") { CHECK_THROWS_AS(pysock::address("127.0.0.1", -1), std::out_of_range); }
    SUBCASE("a port that would wrap to a valid one") {
        CHECK_THROWS_AS(pysock::address("127.0.0.1", 65536 + 80), std::out_of_range);
        CHECK_THROWS_AS(pysock::address("127.0.0.1", 80 - 65536), std::out_of_range);
    }
    SUBCASE("INT_MAX and INT_MIN") {
        CHECK_THROWS_AS(pysock::address("127.0.0.1", INT_MAX), std::out_of_range);
        CHECK_THROWS_AS(pysock::address("127.0.0.1", INT_MIN), std::out_of_range);
    }
    SUBCASE("the AF_INET6 constructor checks too") {
        CHECK_THROWS_AS(pysock::address("::1", 65536, 0, 0), std::out_of_range);
        CHECK_THROWS_AS(pysock::address("::1", -1, 0, 0), std::out_of_range);
    }
}

TEST_CASE("address(host, port, flowinfo, scope_id) is an AF_INET6 4-tuple") {
    const pysock::address a("fe80::1", 8080, 5, 2);
    CHECK(a.host == "fe80::1");
    CHECK(a.port == 8080);
    CHECK(a.flowinfo == 5);
    CHECK(a.scope_id == 2);
    CHECK(a.family == AF_INET6);
}

TEST_CASE("address(path) is an AF_UNIX address") {
    SUBCASE("from std::string") {
        const pysock::address a(std::string("/tmp/pysock.sock"));
        CHECK(a.family == AF_UNIX);
        CHECK(a.host == "/tmp/pysock.sock");
        CHECK(a.port == 0);
    }
    SUBCASE("from a string literal") {
        const pysock::address a("/tmp/pysock.sock");
        CHECK(a.family == AF_UNIX);
        CHECK(a.host == "/tmp/pysock.sock");
    }
    SUBCASE("a Linux abstract name keeps its leading NUL and embedded NULs") {
        const std::string name("\0python\0test\0", 13);
        const pysock::address a(name);
        CHECK(a.family == AF_UNIX);
        CHECK(a.host.size() == 13);
        CHECK(a.host == name);
    }
}

TEST_CASE("an AF_INET address prints as Python prints the 2-tuple") {
    CHECK(printed(pysock::address("127.0.0.1", 54321)) == "('127.0.0.1', 54321)");
    CHECK(printed(pysock::address("", 0)) == "('', 0)");
    CHECK(printed(pysock::address("localhost", 65535)) == "('localhost', 65535)");
}

TEST_CASE("an AF_INET6 address prints as Python prints the 4-tuple") {
    CHECK(printed(pysock::address("::1", 8080, 0, 0)) == "('::1', 8080, 0, 0)");
    CHECK(printed(pysock::address("fe80::1", 80, 5, 2)) == "('fe80::1', 80, 5, 2)");
    CHECK(printed(pysock::address("::", 0, 1048575, 4294967295u)) ==
          "('::', 0, 1048575, 4294967295)");
}

TEST_CASE("an AF_UNIX address prints as Python prints the path") {
    SUBCASE("a filesystem path is a quoted str") {
        CHECK(printed(pysock::address("/tmp/pysock.sock")) == "'/tmp/pysock.sock'");
    }
    // CPython: TestLinuxAbstractNamespace: getsockname() of an abstract socket is bytes.
    SUBCASE("an abstract name is bytes") {
        CHECK(printed(pysock::address(std::string("\0name", 5))) == R"(b'\x00name')");
        CHECK(printed(pysock::address(std::string("\0python-test-hello\0\xff", 20))) ==
              R"(b'\x00python-test-hello\x00\xff')");
    }
    SUBCASE("an unbound AF_UNIX address prints as the empty str") {
        // what getsockname() returns for an unbound AF_UNIX socket (CPython TestUnixDomain.testUnbound)
        pysock::address a("/x");
        a.host.clear();
        CHECK(printed(a) == "''");
    }
}

// Python's repr(str) rules for the host/path inside the tuple (values from /usr/bin/python3).
TEST_CASE("the host is quoted with Python's str repr rules") {
    SUBCASE("a single quote switches to double quotes") {
        CHECK(printed(pysock::address("it's", 1)) == R"(("it's", 1))");
    }
    SUBCASE("both quotes: single quotes kept, the single quote escaped") {
        CHECK(printed(pysock::address("it's \"x\"", 1)) == R"py(('it\'s "x"', 1))py");
    }
    SUBCASE("control characters are escaped") {
        CHECK(printed(pysock::address("\x7f\t", 1)) == R"(('\x7f\t', 1))");
    }
    SUBCASE("a backslash is doubled") {
        CHECK(printed(pysock::address("a\\b", 1)) == R"(('a\\b', 1))");
    }
    SUBCASE("a newline in an AF_UNIX path is escaped") {
        CHECK(printed(pysock::address("/tmp/a\nb")) == R"('/tmp/a\nb')");
    }
    SUBCASE("printable non-ASCII (UTF-8) is shown as is, as in Python 3") {
        CHECK(printed(pysock::address("/tmp/donn\xc3\xa9"
                                      "e")) == "'/tmp/donn\xc3\xa9"
                                               "e'");
    }
}

TEST_CASE("an AF_UNSPEC address prints like an AF_INET one") {
    pysock::address a("127.0.0.1", 7);
    a.family = AF_UNSPEC;
    CHECK(printed(a) == "('127.0.0.1', 7)");
}

TEST_CASE("to_string gives the same text as operator<<") {
    const pysock::address cases[] = {
        pysock::address(),
        pysock::address("127.0.0.1", 54321),
        pysock::address("::1", 8080, 1, 2),
        pysock::address("/tmp/pysock.sock"),
        pysock::address(std::string("\0abstract", 9)),
        pysock::address("it's", 1),
    };
    for (const auto& a : cases) {
        CAPTURE(printed(a));
        CHECK(pysock::to_string(a) == printed(a));
    }
}

TEST_CASE("operator== compares host, port, flowinfo and scope_id") {
    SUBCASE("equal fields are equal") {
        CHECK(pysock::address("127.0.0.1", 80) == pysock::address("127.0.0.1", 80));
        CHECK(pysock::address("::1", 80, 3, 4) == pysock::address("::1", 80, 3, 4));
        CHECK(pysock::address("/tmp/s") == pysock::address(std::string("/tmp/s")));
    }
    SUBCASE("a different port is unequal") {
        CHECK_FALSE(pysock::address("127.0.0.1", 80) == pysock::address("127.0.0.1", 81));
    }
    SUBCASE("a different host is unequal") {
        CHECK_FALSE(pysock::address("127.0.0.1", 80) == pysock::address("127.0.0.2", 80));
    }
    SUBCASE("a different flowinfo is unequal") {
        CHECK_FALSE(pysock::address("::1", 80, 1, 0) == pysock::address("::1", 80, 0, 0));
    }
    SUBCASE("a different scope_id is unequal") {
        CHECK_FALSE(pysock::address("::1", 80, 0, 1) == pysock::address("::1", 80, 0, 0));
    }
    SUBCASE("abstract names differing after an embedded NUL are unequal") {
        CHECK_FALSE(pysock::address(std::string("\0a\0b", 4)) ==
                    pysock::address(std::string("\0a\0c", 4)));
    }
    SUBCASE("operator!= is the negation") {
        CHECK(pysock::address("127.0.0.1", 80) != pysock::address("127.0.0.1", 81));
        CHECK_FALSE(pysock::address("127.0.0.1", 80) != pysock::address("127.0.0.1", 80));
    }
    SUBCASE("family is not compared") {
        CHECK(pysock::address("::1", 80) == pysock::address("::1", 80, 0, 0));
    }
}

TEST_CASE("addresses from the OS carry the socket's real family") {
    SUBCASE("AF_INET") {
        pysock::socket s(AF_INET, SOCK_DGRAM);
        s.bind(pysock::address("127.0.0.1", 0));
        const auto a = s.getsockname();
        CHECK(a.family == AF_INET);
        CHECK(a.host == "127.0.0.1");
        CHECK(a.port != 0);
        CHECK(printed(a) == "('127.0.0.1', " + std::to_string(a.port) + ")");
    }
    SUBCASE("AF_INET6 prints the 4-tuple even when bound with a 2-tuple") {
        pysock::socket s(AF_INET6, SOCK_DGRAM);
        s.bind(pysock::address("::1", 0));
        const auto a = s.getsockname();
        CHECK(a.family == AF_INET6);
        CHECK(a.host == "::1");
        CHECK(printed(a) == "('::1', " + std::to_string(a.port) + ", 0, 0)");
    }
    SUBCASE("an unbound AF_INET socket is ('0.0.0.0', 0)") {
        pysock::socket s(AF_INET, SOCK_DGRAM);
        if (pysock_test::on_windows) {  // CPython on Windows: [WinError 10022] (WSAEINVAL)
            CHECK_THROWS_AS(s.getsockname(), pysock::error);
            return;
        }
        const auto a = s.getsockname();
        CHECK(a.family == AF_INET);
        CHECK(printed(a) == "('0.0.0.0', 0)");
    }
}

// CPython: GeneralModuleTests.test_flowinfo (bind with a flowinfo outside 0..0xfffff is OverflowError).
TEST_CASE("binding an AF_INET6 address with flowinfo above 20 bits throws std::out_of_range") {
    pysock::socket s(AF_INET6, SOCK_STREAM);
    CHECK_THROWS_AS(s.bind(pysock::address("::1", 0, 0x100000, 0)), std::out_of_range);
    CHECK_NOTHROW(s.bind(pysock::address("::1", 0, 0xfffff, 0)));
}

// CPython: bind(('127.0.0.1\0junk', 0)) raises TypeError "host name must not contain null character".
TEST_CASE("a host with an embedded NUL is rejected with std::invalid_argument") {
    pysock::socket s(AF_INET, SOCK_STREAM);
    CHECK_THROWS_AS(s.bind(pysock::address(std::string("127.0.0.1\0junk", 14), 0)),
                    std::invalid_argument);
    CHECK_THROWS_AS(s.connect(pysock::address(std::string("127.0.0.1\0junk", 14), 9)),
                    std::invalid_argument);
}

TEST_CASE("binding to an unresolvable host name raises gaierror") {
    // CPython: bind(('nonexistent.invalid', 0)) -> gaierror [Errno -2] Name or service not known
    pysock::socket s(AF_INET, SOCK_STREAM);
    CHECK_THROWS_AS(s.bind(pysock::address("nonexistent.invalid", 0)), pysock::gaierror);
}

TEST_CASE("binding to a malformed IPv4 address raises gaierror") {
    // CPython: bind(('300.1.1.1', 0)) -> gaierror [Errno -2]
    pysock::socket s(AF_INET, SOCK_STREAM);
    CHECK_THROWS_AS(s.bind(pysock::address("300.1.1.1", 0)), pysock::gaierror);
}

// bind/connect/sendto parse dotted quads by hand (detail::parse_ipv4: inet_pton costs ~200
// instructions per sendto). It must never accept what inet_pton refuses, nor read it differently;
// what it declines goes the general way (inet_pton, then getaddrinfo).
namespace {
bool fast_parse(const std::string& text, unsigned char (&out)[4]) {
    return pysock::detail::parse_ipv4(text, out);
}
bool libc_parse(const std::string& text, unsigned char (&out)[4]) {
    return text.find('\0') == std::string::npos && ::inet_pton(AF_INET, text.c_str(), out) == 1;
}
}  // namespace

TEST_CASE("the dotted-quad fast path reads canonical IPv4 text as inet_pton does") {
    for (const char* text :
         {"127.0.0.1", "0.0.0.0", "255.255.255.255", "10.0.0.10", "9.99.199.249", "1.2.3.0"}) {
        CAPTURE(text);
        unsigned char fast[4] = {}, libc[4] = {};
        REQUIRE(fast_parse(text, fast));
        REQUIRE(libc_parse(text, libc));
        CHECK(std::memcmp(fast, libc, 4) == 0);
    }
    // Every canonical text of pseudo-random addresses (a fixed-seed LCG: the same run every time).
    std::uint32_t x = 12345;
    for (int i = 0; i < 20000; ++i) {
        x = x * 1664525u + 1013904223u;
        const std::string text =
            pysock::inet_ntoa(std::string(reinterpret_cast<const char*>(&x), 4));
        unsigned char fast[4] = {};
        REQUIRE_MESSAGE(fast_parse(text, fast), text);
        CHECK(std::memcmp(fast, &x, 4) == 0);
    }
}

TEST_CASE("the dotted-quad fast path leaves anything unusual to inet_pton and getaddrinfo") {
    for (const char* text :
         {"", "1.2.3", "1.2.3.4.", "1.2.3.4.5", ".1.2.3", "1..2.3", "256.0.0.1", "1.2.3.1000",
          "01.2.3.4", "1.2.3.04", "00.0.0.0", "0x1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.-4",
          "1.2.3.255a", "localhost", "::1"}) {
        CAPTURE(text);
        unsigned char fast[4] = {};
        CHECK_FALSE(fast_parse(text, fast));
    }
    unsigned char fast[4] = {};
    CHECK_FALSE(fast_parse(std::string("1.2.3.4\0", 8),
                           fast));  // the embedded NUL is refused later, as before
    // Random strings of digits, dots and a few strangers: accepted only when inet_pton agrees.
    const char alphabet[] = "0123456789.0123456789..x 5";
    std::uint32_t x = 777;
    int accepted = 0;
    for (int i = 0; i < 200000; ++i) {
        std::string text;
        x = x * 1664525u + 1013904223u;
        for (std::uint32_t k = 0, n = (x >> 16) % 17; k < n; ++k) {
            x = x * 1664525u + 1013904223u;
            text += alphabet[(x >> 16) % (sizeof alphabet - 1)];
        }
        unsigned char f[4] = {}, l[4] = {};
        if (!fast_parse(text, f)) continue;
        ++accepted;
        REQUIRE_MESSAGE(libc_parse(text, l), text);
        REQUIRE_MESSAGE(std::memcmp(f, l, 4) == 0, text);
    }
    CHECK(accepted > 0);  // the campaign did reach the accepting path
}

TEST_CASE("sendto and connect reach the address the fast path parsed") {
    pysock::socket receiver(AF_INET, SOCK_DGRAM);
    receiver.bind(pysock::address("127.0.0.1", 0));
    receiver.settimeout(pysock_test::SAFETY_TIMEOUT);
    const auto port = receiver.getsockname().port;
    pysock::socket sender(AF_INET, SOCK_DGRAM);
    sender.sendto("via 127.0.0.1", pysock::address("127.0.0.1", port));
    sender.sendto("via localhost", pysock::address("localhost", port));  // the general way
    CHECK(receiver.recv(64) == "via 127.0.0.1");
    CHECK(receiver.recv(64) == "via localhost");
    sender.connect(pysock::address("127.0.0.1", port));
    CHECK(sender.getpeername() == pysock::address("127.0.0.1", port));
}

TEST_CASE("an IPv6 literal on an AF_INET socket raises gaierror EAI_ADDRFAMILY") {
    // CPython: socket(AF_INET).bind(('::1', 0)) -> gaierror [Errno -9] Address family for hostname not supported
    pysock::socket s(AF_INET, SOCK_DGRAM);
    try {
        s.bind(pysock::address("::1", 0));
        FAIL("bind did not throw");
    } catch (const pysock::gaierror& e) {
#if defined(EAI_ADDRFAMILY)
        CHECK(e.code().value() == EAI_ADDRFAMILY);
        CHECK(std::string(e.what()) == "[Errno -9] Address family for hostname not supported");
#else
        // Windows (no EAI_ADDRFAMILY, no gai_strerror in CPython): "[Errno 11001] getaddrinfo failed"
        CHECK(std::string(e.what()) ==
              "[Errno " + std::to_string(e.code().value()) + "] getaddrinfo failed");
#endif
    }
}

TEST_CASE("the empty host binds to the wildcard address") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    s.bind(pysock::address("", 0));
    CHECK(s.getsockname().host == "0.0.0.0");
    CHECK(s.getsockname().port != 0);
}

TEST_CASE("'localhost' resolves when binding") {
    pysock::socket s(AF_INET, SOCK_DGRAM);
    s.bind(pysock::address("localhost", 0));
    CHECK(s.getsockname().host == "127.0.0.1");
}
