// AF_UNIX sockets: filesystem paths, Linux abstract names, the sun_path limit.
//
// Filesystem sockets live in a fresh directory made with mkdtemp() and removed at the end of each
// test case. sun_path is 108 bytes on Linux: a filesystem path may use 107 of them (plus the NUL),
// an abstract name all 108 (its leading NUL included). Python's rules; anything longer is an error,
// never a silent truncation.
//
// Windows: every test here is reported skipped (the test suite's decorator): CPython on Windows has
// no socket.AF_UNIX, and wine 8 fails socket(AF_UNIX) with WSAEAFNOSUPPORT. The file still builds
// there (the helpers have Windows versions), so it stays in the Windows stage.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#if defined(_WIN32)
#include <filesystem>
#include <random>
#else
#include <dirent.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstdlib>
#include <regex>
#include <string>

TEST_SUITE_BEGIN("af_unix" * pysock_test::skip_on_windows(
                                 "AF_UNIX: CPython on Windows has no socket.AF_UNIX (and wine 8's "
                                 "socket(AF_UNIX) fails with WSAEAFNOSUPPORT)"));

namespace {

constexpr double WAIT = 5.0;
#if defined(_WIN32)
// <afunix.h> defines UNIX_PATH_MAX (108, the size of its sun_path) as a macro.
static_assert(UNIX_PATH_MAX == sizeof(sockaddr_un{}.sun_path), "sun_path size");
#else
constexpr std::size_t UNIX_PATH_MAX = sizeof(sockaddr_un{}.sun_path);  // 108 on Linux
#endif

using pysock_test::temp_dir;

#if defined(_WIN32)
// Windows versions of the helpers below (the tests are skipped there; these keep them building).
bool exists(const std::string& p) {
    std::error_code ec;
    return std::filesystem::exists(std::filesystem::symlink_status(p, ec));
}

bool is_socket_file(const std::string& p) {
    std::error_code ec;
    return std::filesystem::is_socket(std::filesystem::symlink_status(p, ec));
}
#else
bool exists(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

bool is_socket_file(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}
#endif

std::string abstract(const std::string& name) { return std::string(1, '\0') + name; }

}  // namespace

// CPython: TestUnixDomain.testUnbound
TEST_CASE("an unbound AF_UNIX socket's name is the empty path") {
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    const auto a = s.getsockname();
    CHECK(a.family == AF_UNIX);
    CHECK(a.host.empty());
    CHECK(pysock::to_string(a) == "''");
}

// CPython: TestUnixDomain.testStrAddr
TEST_CASE("bind to a filesystem path and read it back with getsockname") {
    temp_dir dir;
    const std::string path = dir / "sock";
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    s.bind(pysock::address(path));
    CHECK(is_socket_file(path));
    const auto a = s.getsockname();
    CHECK(a.family == AF_UNIX);
    CHECK(a.host == path);
    CHECK(a == pysock::address(path));
    CHECK(pysock::to_string(a) == "'" + path + "'");
}

// CPython: TestUnixDomain.testSurrogateescapeBind / testBytesAddr (paths are bytes to the kernel)
TEST_CASE("a non-ASCII path round-trips byte for byte") {
    temp_dir dir;
    const std::string path = dir / "donn\xc3\xa9"
                                   "e-\xff";
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    s.bind(pysock::address(path));
    CHECK(exists(path));
    CHECK(s.getsockname().host == path);
}

TEST_CASE("a stream connection over a filesystem path") {
    temp_dir dir;
    const std::string path = dir / "stream.sock";
    pysock::socket serv(AF_UNIX, SOCK_STREAM);
    serv.bind(pysock::address(path));
    serv.listen();
    serv.settimeout(WAIT);

    pysock::socket cli(AF_UNIX, SOCK_STREAM);
    cli.settimeout(WAIT);
    cli.connect(pysock::address(path));
    auto [conn, addr] = serv.accept();
    conn.settimeout(WAIT);

    CHECK(addr.family == AF_UNIX);
    CHECK(addr.host.empty());  // the client is unbound
    CHECK(cli.getpeername().host == path);
    CHECK(conn.getsockname().host == path);

    cli.sendall("hello");
    CHECK(conn.recv(100) == "hello");
    conn.sendall("world");
    CHECK(cli.recv(100) == "world");
    cli.close();
    CHECK(conn.recv(100) == "");
}

TEST_CASE("datagrams over filesystem paths carry the sender's path") {
    temp_dir dir;
    pysock::socket a(AF_UNIX, SOCK_DGRAM);
    pysock::socket b(AF_UNIX, SOCK_DGRAM);
    a.bind(pysock::address(dir / "a"));
    b.bind(pysock::address(dir / "b"));
    b.settimeout(WAIT);
    a.settimeout(WAIT);

    CHECK(a.sendto("one", pysock::address(dir / "b")) == 3);
    auto [data, from] = b.recvfrom(100);
    CHECK(data == "one");
    CHECK(from.family == AF_UNIX);
    CHECK(from.host == dir / "a");

    b.sendto("two", from);
    CHECK(a.recv(100) == "two");
}

TEST_CASE("a datagram from an unbound AF_UNIX socket has an empty sender address") {
    temp_dir dir;
    pysock::socket r(AF_UNIX, SOCK_DGRAM);
    r.bind(pysock::address(dir / "r"));
    r.settimeout(WAIT);
    pysock::socket w(AF_UNIX, SOCK_DGRAM);
    w.sendto("anon", pysock::address(dir / "r"));
    auto [data, from] = r.recvfrom(100);
    CHECK(data == "anon");
    CHECK(from.host.empty());
}

TEST_CASE("the sun_path limit for filesystem paths") {
    temp_dir dir;
    SUBCASE("exactly at the limit (107 bytes + NUL) binds") {
        const std::string p = dir.path_of_length(UNIX_PATH_MAX - 1);
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        s.bind(pysock::address(p));
        CHECK(s.getsockname().host == p);
        CHECK(s.getsockname().host.size() == UNIX_PATH_MAX - 1);
        CHECK(exists(p));
    }
    SUBCASE("one past the limit (108 bytes) is an error and creates nothing") {
        // CPython: OSError: AF_UNIX path too long
        const std::string p = dir.path_of_length(UNIX_PATH_MAX);
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        try {
            s.bind(pysock::address(p));
            FAIL("bind did not throw");
        } catch (const pysock::error& e) {
            CHECK(std::string(e.what()) ==
                  "AF_UNIX path too long");  // CPython's text (its errno is None)
        }
        CHECK_FALSE(exists(p));
        CHECK_FALSE(exists(p.substr(0, UNIX_PATH_MAX - 1)));  // no truncated twin either
    }
    SUBCASE("far past the limit") {
        const std::string p = dir.path_of_length(300);
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        CHECK_THROWS_AS(s.bind(pysock::address(p)), pysock::error);
        CHECK_FALSE(exists(p.substr(0, UNIX_PATH_MAX - 1)));
    }
    SUBCASE("connect and sendto check the limit too") {
        const std::string p = dir.path_of_length(UNIX_PATH_MAX);
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        CHECK_THROWS_AS(s.connect(pysock::address(p)), pysock::error);
        pysock::socket d(AF_UNIX, SOCK_DGRAM);
        CHECK_THROWS_AS(d.sendto("x", pysock::address(p)), pysock::error);
    }
}

// The kernel would stop a filesystem path at the first NUL and bind a different file (CPython passes it
// through and binds "/dir/a"); pysock refuses the path instead of truncating it silently.
TEST_CASE("a NUL inside a filesystem path is rejected, not truncated") {
    temp_dir dir;
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    CHECK_THROWS_AS(s.bind(pysock::address(dir / std::string("a\0b", 3))), std::invalid_argument);
    CHECK_FALSE(exists(dir / "a"));
    pysock::socket c(AF_UNIX, SOCK_STREAM);
    CHECK_THROWS_AS(c.connect(pysock::address(dir / std::string("a\0b", 3))),
                    std::invalid_argument);
}

// CPython: TestLinuxAbstractNamespace.testLinuxAbstractNamespace
TEST_CASE("a Linux abstract name works for stream sockets and reads back with its NULs") {
    const std::string name("\0python-test-hello\0\xff", 20);
    pysock::socket s1(AF_UNIX, SOCK_STREAM);
    s1.bind(pysock::address(name));
    s1.listen();
    s1.settimeout(WAIT);
    pysock::socket s2(AF_UNIX, SOCK_STREAM);
    s2.settimeout(WAIT);
    s2.connect(s1.getsockname());
    auto s3 = s1.accept().first;
    CHECK(s1.getsockname().host == name);
    CHECK(s2.getpeername().host == name);
    CHECK(s1.getsockname() == pysock::address(name));
    CHECK(pysock::to_string(s1.getsockname()) == R"(b'\x00python-test-hello\x00\xff')");
}

// CPython: TestLinuxAbstractNamespace.testMaxName
TEST_CASE("an abstract name may fill sun_path exactly") {
    const std::string name = abstract(std::string(UNIX_PATH_MAX - 1, 'h'));
    REQUIRE(name.size() == UNIX_PATH_MAX);
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    s.bind(pysock::address(name));
    CHECK(s.getsockname().host == name);
}

// CPython: TestLinuxAbstractNamespace.testNameOverflow
TEST_CASE("an abstract name one byte past sun_path is an error") {
    const std::string name = abstract(std::string(UNIX_PATH_MAX, 'h'));
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    CHECK_THROWS_WITH_AS(s.bind(pysock::address(name)), "AF_UNIX path too long", pysock::error);
    // and nothing got bound under the truncated name
    pysock::socket t(AF_UNIX, SOCK_STREAM);
    CHECK_NOTHROW(t.bind(pysock::address(name.substr(0, UNIX_PATH_MAX))));
}

// CPython: TestLinuxAbstractNamespace.testStrName
TEST_CASE("embedded NULs in an abstract name are kept") {
    const std::string name("\0python\0test\0", 13);
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    s.bind(pysock::address(name));
    CHECK(s.getsockname().host == name);
    CHECK(s.getsockname().host.size() == 13);
    CHECK(pysock::to_string(s.getsockname()) == R"(b'\x00python\x00test\x00')");
}

// CPython: TestLinuxAbstractNamespace.testAutobind
TEST_CASE("binding to the empty path autobinds a unique abstract name") {
    const std::regex autobound("^\\x00[0-9a-f]{5}$");
    pysock::socket s1(AF_UNIX, SOCK_STREAM);
    s1.bind(pysock::address(std::string()));
    const std::string n1 = s1.getsockname().host;
    CHECK(std::regex_match(n1, autobound));
    pysock::socket s2(AF_UNIX, SOCK_STREAM);
    s2.bind(pysock::address(std::string()));
    const std::string n2 = s2.getsockname().host;
    CHECK(std::regex_match(n2, autobound));
    CHECK(n1 != n2);
}

TEST_CASE("abstract datagram sockets exchange messages") {
    const std::string a_name = abstract("pysock-test-dgram-a-" + std::to_string(::getpid()));
    const std::string b_name = abstract("pysock-test-dgram-b-" + std::to_string(::getpid()));
    pysock::socket a(AF_UNIX, SOCK_DGRAM);
    pysock::socket b(AF_UNIX, SOCK_DGRAM);
    a.bind(pysock::address(a_name));
    b.bind(pysock::address(b_name));
    b.settimeout(WAIT);
    a.sendto(std::string("x\0y", 3), pysock::address(b_name));
    auto [data, from] = b.recvfrom(100);
    CHECK(data == std::string("x\0y", 3));
    CHECK(from.host == a_name);
}

TEST_CASE("an abstract name in use raises EADDRINUSE") {
    const std::string name = abstract("pysock-test-inuse-" + std::to_string(::getpid()));
    pysock::socket a(AF_UNIX, SOCK_STREAM);
    a.bind(pysock::address(name));
    pysock::socket b(AF_UNIX, SOCK_STREAM);
    try {
        b.bind(pysock::address(name));
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == EADDRINUSE);
    }
}

TEST_CASE("connect to a missing path raises file_not_found_error") {
    temp_dir dir;
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    try {
        s.connect(pysock::address(dir / "nonexistent"));
        FAIL("no throw");
    } catch (const pysock::file_not_found_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK(std::string(e.what()) == "[Errno 2] No such file or directory");
    }
}

TEST_CASE("connect_ex to a missing path returns ENOENT") {
    temp_dir dir;
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    CHECK(s.connect_ex(pysock::address(dir / "nonexistent")) == ENOENT);
}

TEST_CASE("bind in a missing directory raises file_not_found_error") {
    temp_dir dir;
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    CHECK_THROWS_AS(s.bind(pysock::address(dir / "no-such-dir/sock")),
                    pysock::file_not_found_error);
}

TEST_CASE("bind over an existing file raises EADDRINUSE") {
    temp_dir dir;
    const std::string path = dir / "taken";
    pysock::socket a(AF_UNIX, SOCK_STREAM);
    a.bind(pysock::address(path));
    pysock::socket b(AF_UNIX, SOCK_STREAM);
    try {
        b.bind(pysock::address(path));
        FAIL("no throw");
    } catch (const pysock::error& e) {
        CHECK(e.code().value() == EADDRINUSE);
        CHECK(std::string(e.what()) == "[Errno 98] Address already in use");
    }
}

TEST_CASE("connect to a socket file nobody listens on raises connection_refused_error") {
    temp_dir dir;
    const std::string path = dir / "bound-not-listening";
    pysock::socket a(AF_UNIX, SOCK_STREAM);
    a.bind(pysock::address(path));
    pysock::socket b(AF_UNIX, SOCK_STREAM);
    b.settimeout(WAIT);
    CHECK_THROWS_AS(b.connect(pysock::address(path)), pysock::connection_refused_error);
}

TEST_CASE("closing a bound AF_UNIX socket leaves its file in place, as in Python") {
    temp_dir dir;
    const std::string path = dir / "stays";
    {
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        s.bind(pysock::address(path));
    }
    CHECK(is_socket_file(path));
}

TEST_CASE("AF_UNIX sockets report their family and type") {
    pysock::socket s(AF_UNIX, SOCK_STREAM);
    CHECK(s.family() == AF_UNIX);
    CHECK(s.type() == SOCK_STREAM);
    pysock::socket d(AF_UNIX, SOCK_DGRAM);
    CHECK(d.type() == SOCK_DGRAM);
}

TEST_SUITE_END();

// ---------------------------------------------------------------------------------------------
// sendmsg / recvmsg, and descriptor passing (send_fds / recv_fds). POSIX only, as in Python.
// CPython: SendmsgTests, RecvmsgTests, SCMRightsTest, test_send_fds/test_recv_fds
// ---------------------------------------------------------------------------------------------
#if PYSOCK_HAVE_SENDMSG
namespace {

// A pipe whose ends close themselves.
struct pipe_pair {
    int read_end = -1, write_end = -1;
    pipe_pair() {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~pipe_pair() {
        ::close(read_end);
        ::close(write_end);
    }
    pipe_pair(const pipe_pair&) = delete;
    pipe_pair& operator=(const pipe_pair&) = delete;
};

std::pair<pysock::socket, pysock::socket> unix_pair(int type = SOCK_STREAM) {
    auto p = pysock::socketpair(AF_UNIX, type);
    p.first.settimeout(pysock_test::SAFETY_TIMEOUT);
    p.second.settimeout(pysock_test::SAFETY_TIMEOUT);
    return p;
}

}  // namespace

TEST_CASE("sendmsg gathers its buffers into one message") {
    auto pair = unix_pair(SOCK_DGRAM);
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    CHECK(a.sendmsg({"scatter", "/", "gather"}) == 14);
    CHECK(b.recv(64) == "scatter/gather");  // one datagram: the buffers were one message
    CHECK(a.sendmsg({}) == 0);              // an empty message is a message too
    CHECK(b.recv(64) == "");
}

TEST_CASE("sendmsg to an address and recvmsg report the sender, as sendto/recvfrom") {
    pysock::socket server(AF_INET, SOCK_DGRAM), client(AF_INET, SOCK_DGRAM);
    server.bind({"127.0.0.1", 0});
    client.bind({"127.0.0.1", 0});
    server.settimeout(pysock_test::SAFETY_TIMEOUT);
    CHECK(client.sendmsg({"hello ", "there"}, {}, 0, server.getsockname()) == 11);
    auto [data, ancdata, msg_flags, addr] = server.recvmsg(64);
    CHECK(data == "hello there");
    CHECK(ancdata.empty());
    CHECK(msg_flags == 0);
    CHECK(addr == client.getsockname());
}

TEST_CASE("recvmsg on a stream has no address (Python's None) and prints it as None") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    a.sendall("x");
    auto r = b.recvmsg(16);
    CHECK(r.data == "x");
    CHECK(r.addr.family == AF_UNSPEC);
    CHECK(pysock::to_string(r.addr) == "None");
}

TEST_CASE("recvmsg says MSG_TRUNC when a datagram is longer than bufsize, and drops the rest") {
    auto pair = unix_pair(SOCK_DGRAM);
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    a.send("0123456789");
    auto r = b.recvmsg(4);
    CHECK(r.data == "0123");
    CHECK((r.msg_flags & MSG_TRUNC) != 0);
}

TEST_CASE("send_fds passes descriptors that work in the receiver, close-on-exec") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    pipe_pair pipe;
    const auto before = pysock_test::fd_listing();
    CHECK(pysock::send_fds(a, {"fd"}, {pipe.write_end}) == 2);
    auto [data, fds, msg_flags, addr] = pysock::recv_fds(b, 16, 1);
    CHECK(data == "fd");
    CHECK(msg_flags == 0);
    REQUIRE(fds.size() == 1);
    CHECK(fds[0] != pipe.write_end);  // the receiver's own copy
    CHECK(pysock_test::fd_is_cloexec(fds[0]));
    REQUIRE(::write(fds[0], "via", 3) == 3);  // writes into the sender's pipe
    char buf[8] = {};
    REQUIRE(::read(pipe.read_end, buf, sizeof buf) == 3);
    CHECK(std::string(buf, 3) == "via");
    ::close(fds[0]);
    CHECK(pysock_test::fd_listing() == before);
}

TEST_CASE("recv_fds closes the descriptors beyond maxfds, and says MSG_CTRUNC") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    pipe_pair p1, p2, p3;
    const auto before = pysock_test::fd_listing();
    pysock::send_fds(a, {"3"}, {p1.write_end, p2.write_end, p3.write_end});
    auto r = pysock::recv_fds(b, 16, 1);  // CMSG_SPACE(4) holds two ints: one is closed for us
    CHECK(r.data == "3");
    REQUIRE(r.fds.size() == 1);
    CHECK((r.msg_flags & MSG_CTRUNC) != 0);
    ::close(r.fds[0]);
    CHECK(pysock_test::fd_listing() == before);  // nothing of the three left open
}

TEST_CASE("recvmsg without room for ancillary data loses the descriptors without leaking them") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    pipe_pair pipe;
    const auto before = pysock_test::fd_listing();
    pysock::send_fds(a, {"x"}, {pipe.read_end, pipe.write_end});
    auto r = b.recvmsg(16);  // ancbufsize 0
    CHECK(r.data == "x");
    CHECK(r.ancdata.empty());
    CHECK((r.msg_flags & MSG_CTRUNC) != 0);
    CHECK(pysock_test::fd_listing() == before);
}

TEST_CASE("recvmsg returns SCM_RIGHTS as Python's ancdata triple") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    pipe_pair pipe;
    pysock::send_fds(a, {"y"}, {pipe.write_end});
    auto r = b.recvmsg(16, CMSG_SPACE(sizeof(int)));
    REQUIRE(r.ancdata.size() == 1);
    CHECK(r.ancdata[0].level == SOL_SOCKET);
    CHECK(r.ancdata[0].type == SCM_RIGHTS);
    REQUIRE(r.ancdata[0].data.size() == sizeof(int));
    int fd;
    std::memcpy(&fd, r.ancdata[0].data.data(), sizeof fd);
    CHECK(pysock_test::fd_is_cloexec(fd));
    ::close(fd);
}

TEST_CASE("recv_fds honours its flags (CPython ignores them, gh-107898)") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    b.settimeout(std::nullopt);  // blocking: only MSG_DONTWAIT can make the call return at once
    auto r = pysock_test::expect_raises<pysock::blocking_io_error>(
        [&] { pysock::recv_fds(b, 16, 1, MSG_DONTWAIT); });
    CHECK(r.code.value() == EAGAIN);
    pipe_pair pipe;
    pysock::send_fds(a, {"peek"}, {pipe.write_end});
    auto peeked = pysock::recv_fds(b, 16, 1, MSG_PEEK);  // the message stays queued
    CHECK(peeked.data == "peek");
    for (int fd : peeked.fds) ::close(fd);
    auto taken = pysock::recv_fds(b, 16, 1);
    CHECK(taken.data == "peek");
    REQUIRE(taken.fds.size() == 1);
    ::close(taken.fds[0]);
}

TEST_CASE("sendmsg with a descriptor that is not open raises EBADF, and the message is not sent") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    auto r = pysock_test::expect_raises<pysock::error>(
        [&] { pysock::send_fds(a, {"bad"}, {pysock_test::closed_fd()}); });
    CHECK(r.code.value() == EBADF);
    b.setblocking(false);
    CHECK_THROWS_AS(b.recv(16), pysock::blocking_io_error);
}

TEST_CASE(
    "sendmsg and recvmsg on a closed socket raise EBADF; recvmsg after the peer left returns b''") {
    auto pair = unix_pair();  // (lambdas cannot capture structured bindings in C++17)
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    a.close();
    CHECK(b.recvmsg(16).data == "");
    b.close();
    CHECK_THROWS_AS(b.sendmsg({"x"}), pysock::error);
    CHECK_THROWS_AS(b.recvmsg(16), pysock::error);
}
#endif  // PYSOCK_HAVE_SENDMSG
