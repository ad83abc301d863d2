// The README's "Guarantees" that no other test file proves: what a child process gets across
// fork and exec, and the thread-safety rules (module functions from many threads; changing a
// socket's timeout while another thread is blocked on it is defined, not a data race: the
// ThreadSanitizer stage runs this file too). The fork/exec tests are POSIX only (skipped on
// Windows, with the reason); the thread-safety tests run on both.
#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace std::chrono_literals;

namespace {

using pysock_test::SAFETY_TIMEOUT;  // bound on every wait below: a bug fails, never hangs

#if !defined(_WIN32)
// Exit status of a child, waited for at most SAFETY_TIMEOUT (then killed: -1).
int wait_child(pid_t pid) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(SAFETY_TIMEOUT);
    int status = 0;
    while (true) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -2;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        // Polling a child's exit: there is no descriptor to wait on.
        std::this_thread::sleep_for(1ms);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -3;
}

// Runs /bin/sh -c 'test -S /proc/self/fd/<fd>' after fork + exec: 0 when the exec'ed program has
// descriptor `fd` and it is a socket, 1 when it does not.
int socket_visible_after_exec(int fd) {
    const std::string script = "test -S /proc/self/fd/" + std::to_string(fd);
    const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::execv("/bin/sh", const_cast<char* const*>(argv));  // only async-signal-safe calls here
        ::_exit(127);
    }
    return wait_child(pid);
}
#endif

}  // namespace

TEST_CASE("sockets are closed across exec unless set_inheritable(true)" *
          pysock_test::skip_on_windows("POSIX fork/exec and /proc/self/fd: Windows has neither")) {
#if !defined(_WIN32)
    auto tcp = pysock_test::connect_tcp(AF_INET, SAFETY_TIMEOUT);
    auto pair = pysock::socketpair();
    pysock::socket plain(AF_INET, SOCK_DGRAM);
    pysock::socket duplicate = plain.dup();
    struct named {
        const char* what;
        pysock::socket* s;
    };
    for (named n : {named{"socket()", &plain}, named{"listener", &tcp.listener},
                    named{"connected", &tcp.client}, named{"accept()", &tcp.server},
                    named{"socketpair()", &pair.first}, named{"dup()", &duplicate}}) {
        CAPTURE(n.what);
        CHECK(socket_visible_after_exec(n.s->fileno()) == 1);  // not inherited
        n.s->set_inheritable(true);
        CHECK(socket_visible_after_exec(n.s->fileno()) == 0);  // inherited on request
        n.s->set_inheritable(false);
        CHECK(socket_visible_after_exec(n.s->fileno()) == 1);
    }
#endif
}

TEST_CASE("a forked child closing its copy of a socket leaves the parent's connection working" *
          pysock_test::skip_on_windows("POSIX fork(): Windows has no fork")) {
#if !defined(_WIN32)
    // As in Python: close() releases this process's descriptor only; it does not shut the
    // connection down (shutdown() would, for every process sharing it).
    auto pair = pysock::socketpair();
    pair.first.settimeout(SAFETY_TIMEOUT);
    pair.second.settimeout(SAFETY_TIMEOUT);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int rc = 0;
        try {
            pair.first.close();
            pair.second.close();
        } catch (...) {
            rc = 1;
        }
        ::_exit(rc);
    }
    REQUIRE(wait_child(pid) == 0);
    pair.first.sendall("still here");
    CHECK(pair.second.recv(64) == "still here");
    pair.second.sendall("and back");
    CHECK(pair.first.recv(64) == "and back");
#endif
}

TEST_CASE("module functions may be called from many threads at once") {
    constexpr int threads = 8;
    constexpr int rounds = 200;
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&failures, t] {
            auto fail = [&failures] { failures.fetch_add(1); };
            try {
                for (int i = 0; i < rounds; ++i) {
                    const double mine = 1.0 + t;
                    pysock::setdefaulttimeout(mine);
                    auto now = pysock::getdefaulttimeout();
                    if (!now || *now < 1.0 || *now > threads) fail();  // one of the values set
                    pysock::socket s(AF_INET, SOCK_DGRAM);
                    auto got = s.gettimeout();
                    if (!got || *got < 1.0 || *got > threads) fail();
                    auto infos = pysock::getaddrinfo("127.0.0.1", 1000 + i, AF_INET, SOCK_DGRAM, 0,
                                                     AI_NUMERICHOST);
                    if (infos.size() != 1 || infos[0].sockaddr.port != 1000 + i) fail();
                    if (pysock::inet_ntop(AF_INET6, pysock::inet_pton(AF_INET6, "fe80::1")) !=
                        "fe80::1")
                        fail();
                    if (pysock::repr(std::string(1, static_cast<char>(i))).empty()) fail();
                    if (pysock::to_string(pysock::address("::1", i, 0, 0)) !=
                        "('::1', " + std::to_string(i) + ", 0, 0)")
                        fail();
                }
            } catch (...) {
                fail();
            }
        });
    }
    for (auto& th : pool) th.join();
    pysock::setdefaulttimeout(std::nullopt);
    CHECK(failures.load() == 0);
}

TEST_CASE(
    "changing the timeout while another thread is blocked in recv is defined, not a data race") {
    auto pair = pysock::socketpair();
    pair.first.settimeout(SAFETY_TIMEOUT);
    auto reader = std::async(std::launch::async, [&] { return pair.first.recv(16); });
    // The reader keeps the mode it started with; the writes here race with its reads of the
    // socket's state, which the header keeps in atomics (TSan checks it).
    for (int i = 0; i < 1000; ++i) {
        pair.first.settimeout(i % 2 ? std::optional<double>(SAFETY_TIMEOUT)
                                    : std::optional<double>(2.0 * SAFETY_TIMEOUT));
        auto t = pair.first.gettimeout();
        CHECK((t && *t >= SAFETY_TIMEOUT));
    }
    pair.second.sendall("late");
    REQUIRE(reader.wait_for(std::chrono::duration<double>(SAFETY_TIMEOUT)) ==
            std::future_status::ready);
    CHECK(reader.get() == "late");
}
