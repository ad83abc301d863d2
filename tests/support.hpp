// The helpers of pysock's test suites, each written once: catching an expected exception with
// what it carried, a peer thread whose failures fail the test, loopback listeners, connections
// and refusing ports, reading to a count or to the end, the default timeout restored, open
// descriptors listed, and (Linux) signals delivered to a thread blocked in a system call.
// Test-only code. Every test file includes it after <doctest/doctest.h> and <pysock/socket.hpp>.
#ifndef PYSOCK_TESTS_SUPPORT_HPP
#define PYSOCK_TESTS_SUPPORT_HPP

#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include "platform.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>
#include <exception>
#include <string>
#include <system_error>
#include <thread>
#include <typeindex>
#include <typeinfo>
#include <utility>

#if defined(_WIN32)
#include <random>
#include <windows.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#if defined(__linux__)
#include <dirent.h>
#endif
#endif

#if defined(__linux__)
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pysock_test {

using clock_type = std::chrono::steady_clock;

/// A bound for every wait that should not happen at all in a passing test.
constexpr double SAFETY_TIMEOUT = 10.0;

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// What an expected exception carried: its dynamic type, code, message, how far sendall got,
/// and when it came.
struct raised {
    std::type_index type;
    std::error_code code;
    std::string what;
    std::size_t characters_written;
    double elapsed;  // seconds from the call to the exception
};

/// Runs f, which must throw an E (or something derived from E; any exception type). Nothing thrown fails the check
/// (and the returned record then matches nothing); another exception type propagates and fails
/// the test case.
template <class E, class F>
raised expect_raises(F&& f) {
    auto start = clock_type::now();
    try {
        std::forward<F>(f)();
    } catch (const E& e) {
        std::error_code code;  // none for the standard exceptions (ValueError, KeyError...)
        if (auto* se = dynamic_cast<const std::system_error*>(&e)) code = se->code();
        std::size_t written = 0;
        if (auto* pe = dynamic_cast<const pysock::error*>(&e)) written = pe->characters_written();
        return raised{typeid(e), code, e.what(), written, seconds_since(start)};
    }
    FAIL_CHECK("the expected exception was not thrown");
    return raised{typeid(void), std::error_code(), "(nothing thrown)", 0, seconds_since(start)};
}

/// A peer running in a thread. Exceptions thrown by the peer are rethrown by join(), so a
/// failing peer fails the test. Every wait in a peer is bounded, so join() is bounded.
class peer_thread {
public:
    template <class F>
    explicit peer_thread(F f)
        : thread_([this, f = std::move(f)]() mutable {
              try {
                  f();
              } catch (...) {
                  error_ = std::current_exception();
              }
          }) {}
    peer_thread(const peer_thread&) = delete;
    peer_thread& operator=(const peer_thread&) = delete;
    ~peer_thread() {
        if (thread_.joinable()) thread_.join();
    }
    void join() {
        thread_.join();
        if (error_) std::rethrow_exception(error_);
    }

private:
    std::exception_ptr error_;
    std::thread thread_;
};

/// A TCP listener on the loopback address of `family`, on a port the kernel picks.
inline pysock::socket make_listener(int family = AF_INET, int backlog = PYSOCK_DEFAULT_BACKLOG) {
    pysock::socket s(family, SOCK_STREAM);
    s.bind({family == AF_INET6 ? "::1" : "127.0.0.1", 0});
    s.listen(backlog);
    return s;
}

struct tcp_connection {
    pysock::socket listener;
    pysock::socket client;  // the connecting side
    pysock::socket server;  // the accepted side
};

/// A connected pair without threads: a loopback connect completes as soon as the listener's
/// kernel queue takes it, and accept() then returns at once. With `timeout`, both ends are in
/// timeout mode (a test that goes wrong then fails instead of hanging).
inline tcp_connection connect_tcp(int family = AF_INET,
                                  std::optional<double> timeout = std::nullopt) {
    pysock::socket listener = make_listener(family);
    pysock::socket client(family, SOCK_STREAM);
    client.connect(listener.getsockname());
    auto [server, addr] = listener.accept();
    if (timeout) {
        client.settimeout(timeout);
        server.settimeout(timeout);
    }
    return {std::move(listener), std::move(client), std::move(server)};
}

/// A UDP socket bound to the loopback address of `family` (so getsockname() is the address a
/// receiver sees), with a timeout: a datagram that never comes fails the test, it does not hang.
inline pysock::socket bound_udp(int family = AF_INET, double timeout = SAFETY_TIMEOUT) {
    pysock::socket s(family, SOCK_DGRAM);
    s.bind({family == AF_INET6 ? "::1" : "127.0.0.1", 0});
    s.settimeout(timeout);
    return s;
}

/// A TCP port on 127.0.0.1 that refuses connections: held by a bound socket that never
/// listens, so nobody else can take it while the test runs.
struct refusing_port {
    pysock::socket holder{AF_INET, SOCK_STREAM};
    pysock::address addr;
    refusing_port() {
        holder.bind({"127.0.0.1", 0});
        addr = holder.getsockname();
    }
};

/// Reads exactly n bytes (fewer only at end of stream), within the socket's timeout.
inline pysock::bytes recv_exactly(pysock::socket& s, std::size_t n) {
    pysock::bytes out;
    while (out.size() < n) {
        pysock::bytes part = s.recv(n - out.size());
        if (part.empty()) break;
        out += part;
    }
    return out;
}

/// Reads until the peer ends the stream (bounded by the socket's timeout).
inline pysock::bytes recv_all(pysock::socket& s) {
    pysock::bytes out;
    for (auto data = s.recv(4096); !data.empty(); data = s.recv(4096)) out += data;
    return out;
}

/// FNV-1a: a cheap checksum that depends on every byte and its position. Feed it piece by
/// piece by passing the previous value as `h`.
inline constexpr std::uint64_t fnv_seed = 14695981039346656037ull;
inline std::uint64_t fnv1a(const char* data, std::size_t n, std::uint64_t h = fnv_seed) {
    for (std::size_t i = 0; i < n; ++i)
        h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
    return h;
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

/// Restores the process-wide default timeout when a test ends, whatever happens. (A flag and a
/// double rather than a std::optional: mingw-w64's GCC 12 at -O2 warns, wrongly, that the
/// optional "may be used uninitialized" in the destructor.)
struct default_timeout_guard {
    bool had_timeout = pysock::getdefaulttimeout().has_value();
    double saved = pysock::getdefaulttimeout().value_or(0.0);
    default_timeout_guard() = default;
    default_timeout_guard(const default_timeout_guard&) = delete;
    default_timeout_guard& operator=(const default_timeout_guard&) = delete;
    ~default_timeout_guard() {
        if (had_timeout)
            pysock::setdefaulttimeout(saved);
        else
            pysock::setdefaulttimeout(std::nullopt);
    }
};

/// A fresh temporary directory (for AF_UNIX paths), removed with what it holds at scope exit.
struct temp_dir {
    std::string path;
    temp_dir() {
#if defined(_WIN32)
        std::random_device rd;
        auto p = std::filesystem::temp_directory_path() / ("pysock-" + std::to_string(rd()));
        REQUIRE(std::filesystem::create_directory(p));
        path = p.string();
#else
        char tmpl[] = "/tmp/pysock-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
#endif
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
    /// A path inside this directory whose total length is exactly n bytes.
    std::string path_of_length(std::size_t n) const {
        REQUIRE(n > path.size() + 1);
        return path + "/" + std::string(n - path.size() - 1, 'x');
    }
};

// ---------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------

#if defined(_WIN32)
/// The open handle values, sorted (probed: wine 8 cannot enumerate handles; it hands out small
/// values). A SOCKET is a handle.
inline std::vector<std::string> fd_listing() {
    std::vector<std::string> names;
    DWORD flags = 0;
    for (std::uintptr_t h = 4; h < 0x10000; h += 4)
        if (::GetHandleInformation(reinterpret_cast<HANDLE>(h), &flags))
            names.push_back(std::to_string(h));
    std::sort(names.begin(), names.end());
    return names;
}

/// A handle value that is certainly not open: a socket that was closed.
inline pysock::native_handle_type closed_fd() {
    pysock::native_handle_type fd = pysock::socket(AF_INET, SOCK_DGRAM).detach();
    ::closesocket(fd);
    return fd;
}

/// Windows' close-on-exec: the handle is not inheritable.
inline bool fd_is_cloexec(pysock::native_handle_type fd) {
    DWORD flags = 0;
    REQUIRE(::GetHandleInformation(reinterpret_cast<HANDLE>(fd), &flags));
    return (flags & HANDLE_FLAG_INHERIT) == 0;
}
#else
/// The open descriptors, sorted, from /proc/self/fd (Linux; the listing's own descriptor left
/// out). Elsewhere an empty list: the checks that compare listings then compare nothing.
inline std::vector<std::string> fd_listing() {
    std::vector<std::string> names;
#if defined(__linux__)
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    const std::string own = std::to_string(::dirfd(dir));
    while (dirent* e = ::readdir(dir))
        if (e->d_name[0] != '.' && e->d_name != own) names.push_back(e->d_name);
    ::closedir(dir);
    std::sort(names.begin(), names.end());
#endif
    return names;
}

/// A descriptor number that is certainly not open (CPython's os_helper.make_bad_fd()): the
/// number a pipe had, closed again.
inline int closed_fd() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[1]);
    ::close(fds[0]);
    return fds[0];
}

inline bool fd_is_cloexec(int fd) {
    int flags = ::fcntl(fd, F_GETFD);
    REQUIRE(flags != -1);
    return (flags & FD_CLOEXEC) != 0;
}

inline bool fd_is_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    REQUIRE(flags != -1);
    return (flags & O_NONBLOCK) != 0;
}
#endif

/// Closes `s` with a reset (RST) instead of an orderly FIN: SO_LINGER with a zero timeout.
inline void close_with_reset(pysock::socket& s) {
    ::linger l{};
    l.l_onoff = 1;
    l.l_linger = 0;
    s.setsockopt(SOL_SOCKET, SO_LINGER,
                 std::string_view(reinterpret_cast<const char*>(&l), sizeof l));
    s.close();
}

/// Whether ::1 can be bound here (IPv6 tests skip, with the reason, where it cannot).
inline bool ipv6_loopback_available() {
    try {
        pysock::socket s(AF_INET6, SOCK_STREAM);
        s.bind({"::1", 0});
        return true;
    } catch (const pysock::error&) {
        return false;
    }
}

#if defined(__linux__)
// ---------------------------------------------------------------------------------------------
// Signals: a handler installed WITHOUT SA_RESTART, delivered to the test's thread while it is
// blocked in a system call, found by reading /proc/self/task/<tid>/syscall (Linux).
// ---------------------------------------------------------------------------------------------

inline std::atomic<int> signals_caught{0};

inline void count_signal(int) { signals_caught.fetch_add(1); }

inline constexpr int TEST_SIGNAL = SIGUSR1;

class signal_handler_guard {
public:
    signal_handler_guard() {
        signals_caught = 0;
        struct sigaction sa {};
        sa.sa_handler = count_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: interrupted calls fail with EINTR
        REQUIRE(::sigaction(TEST_SIGNAL, &sa, &old_) == 0);
    }
    signal_handler_guard(const signal_handler_guard&) = delete;
    signal_handler_guard& operator=(const signal_handler_guard&) = delete;
    ~signal_handler_guard() {
        // Swallow a signal still in flight before putting the old disposition back.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, TEST_SIGNAL);
        sigset_t old_mask;
        ::pthread_sigmask(SIG_BLOCK, &set, &old_mask);
        timespec zero{};
        while (::sigtimedwait(&set, nullptr, &zero) == TEST_SIGNAL) {}
        ::sigaction(TEST_SIGNAL, &old_, nullptr);
        ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    }

private:
    struct sigaction old_ {};
};

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

inline std::string syscall_file(pid_t tid) {
    return "/proc/self/task/" + std::to_string(tid) + "/syscall";
}

inline bool can_see_syscalls() {
    std::ifstream f(syscall_file(current_tid()));
    std::string first;
    return static_cast<bool>(f >> first);
}

// True when thread `tid` is blocked inside one of the system calls a socket operation blocks in.
inline bool blocked_in_socket_call(pid_t tid) {
    std::ifstream f(syscall_file(tid));
    std::string first;
    if (!(f >> first) || first == "running") return false;
    char* end = nullptr;
    long nr = std::strtol(first.c_str(), &end, 10);
    if (end == first.c_str()) return false;
    static const long blocking[] = {
        SYS_recvfrom,    SYS_recvmsg, SYS_read,     SYS_sendto,  SYS_sendmsg,
        SYS_write,       SYS_ppoll,   SYS_pselect6, SYS_accept4, SYS_connect,
#ifdef SYS_poll
        SYS_poll,
#endif
#ifdef SYS_select
        SYS_select,
#endif
#ifdef SYS_accept
        SYS_accept,
#endif
#ifdef SYS_recv
        SYS_recv,
#endif
#ifdef SYS_send
        SYS_send,
#endif
        SYS_epoll_pwait,
#ifdef SYS_epoll_wait
        SYS_epoll_wait,
#endif
    };
    for (long b : blocking)
        if (nr == b) return true;
    return false;
}

// Waits (bounded) until thread `tid` is blocked in a socket system call.
inline bool wait_until_blocked(pid_t tid, double limit = 5.0) {
    auto start = clock_type::now();
    while (seconds_since(start) < limit) {
        if (blocked_in_socket_call(tid)) return true;
        std::this_thread::yield();
    }
    return false;
}

// Waits (bounded) until the handler has run at least `n` times in total.
inline bool wait_until_signals(int n, double limit = 5.0) {
    auto start = clock_type::now();
    while (seconds_since(start) < limit) {
        if (signals_caught.load() >= n) return true;
        std::this_thread::yield();
    }
    return false;
}

// The test thread, as the interrupting thread sees it.
struct target_thread {
    pthread_t handle = ::pthread_self();
    pid_t tid = current_tid();
    void interrupt() const { ::pthread_kill(handle, TEST_SIGNAL); }
};
#endif  // __linux__

/// Whether this process can see what system call each of its threads is blocked in (Linux's
/// /proc/self/task/<tid>/syscall): what the tests that interrupt a blocked call wait on.
inline bool syscalls_visible() {
#if defined(__linux__)
    return can_see_syscalls();
#else
    return false;
#endif
}

/// Made by a thread about to block in a socket call; another thread then waits until it is
/// blocked in the kernel before acting on it (shutting the socket down, sending late data).
/// Linux shows the state (/proc/self/task/<tid>/syscall). Where nothing shows it (Windows, or a
/// kernel that hides it) the only stand-in is a bounded pause: said here, once.
struct blocking_probe {
#if defined(__linux__)
    pid_t tid = current_tid();
#endif
    /// False when the thread did not block within `limit` seconds.
    bool wait_until_blocked(double limit = 5.0) const {
#if defined(__linux__)
        if (syscalls_visible()) return pysock_test::wait_until_blocked(tid, limit);
#endif
        (void)limit;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // unobservable: see above
        return true;
    }
};

#if !defined(_WIN32)
// ---------------------------------------------------------------------------------------------
// Child processes (the interoperability tests: python3, openssl s_server / s_client)
// ---------------------------------------------------------------------------------------------

/// A program run with its stdin and stdout on pipes (stderr inherited). Every read and the wait
/// are bounded; the destructor kills and reaps a child still running.
class child_process {
public:
    explicit child_process(const std::vector<std::string>& argv) {
        int in[2], out[2];  // stdin is a socket pair: writes use MSG_NOSIGNAL, never SIGPIPE
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) == 0);
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        stdin_ = in[1];
        stdout_ = out[0];
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() {
        close_stdin();
        if (stdout_ >= 0) ::close(stdout_);
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    void write(const std::string& data) {
        REQUIRE(::send(stdin_, data.data(), data.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(data.size()));
    }
    void close_stdin() {
        if (stdin_ >= 0) ::close(std::exchange(stdin_, -1));
    }
    /// The next line of stdout without its '\n'; nullopt at end of output or after `limit` s.
    std::optional<std::string> read_line(double limit = SAFETY_TIMEOUT) {
        auto start = clock_type::now();
        for (;;) {
            auto nl = buffer_.find('\n');
            if (nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            double left = limit - seconds_since(start);
            ::pollfd p{stdout_, POLLIN, 0};
            if (left <= 0 || ::poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0)
                return std::nullopt;
            char chunk[4096];
            ssize_t n = ::read(stdout_, chunk, sizeof chunk);
            if (n <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    /// Every line until one contains `text` (returned), or nullopt at the end or the limit.
    std::optional<std::string> read_until(const std::string& text, double limit = SAFETY_TIMEOUT) {
        auto start = clock_type::now();
        while (auto line = read_line(limit - seconds_since(start)))
            if (line->find(text) != std::string::npos) return line;
        return std::nullopt;
    }
    /// The exit status (-1 if it did not exit within `limit` s or died of a signal). Bounded
    /// polling of waitpid(WNOHANG): a child's exit has no descriptor to wait on here.
    int wait(double limit = SAFETY_TIMEOUT) {
        auto start = clock_type::now();
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (seconds_since(start) > limit) return -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    bool exited_ = false;
    std::string buffer_;
};

/// Whether `program` is on PATH (the interoperability tests skip, saying so, without it).
inline bool have_program(const std::string& program) {
    return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}
#endif  // !_WIN32

}  // namespace pysock_test

#endif  // PYSOCK_TESTS_SUPPORT_HPP
