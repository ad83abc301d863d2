// bench/endpoints.hpp - the two sides of every benchmark: pysock and a hand-written raw baseline.
//
// Each workload in pysock_bench.cpp (and the instruction-count driver rtt_driver.cpp) is written once
// against a tiny "endpoint" interface, and instantiated twice:
//   pysock_*  : the calls a pysock user writes (socket, bind, listen, accept, connect, recv_into, sendall...)
//   raw_*     : the same program written directly on the OS socket API, the way a careful C programmer
//               would: on POSIX socket()/send()/recv() with EINTR retried, MSG_NOSIGNAL and SOCK_CLOEXEC;
//               on Windows the Winsock equivalents (non-inheritable sockets, WSAPoll), nothing more.
// Both sides use the same options: TCP_NODELAY on both ends of every TCP connection, the kernel's
// default SO_SNDBUF/SO_RCVBUF (never set on either side), the same 64 KiB user buffers.
//
// The only platform differences of the benchmarks live in the "raw system layer" and "CPU placement"
// sections below. AF_UNIX endpoints (abstract names) are Linux's; Windows builds leave them out.
#pragma once

#include <pysock/socket.hpp>

#if defined(_WIN32)
#include <winsock2.h>  // already included by pysock; named here because the raw side calls it directly
#include <ws2tcpip.h>
#include <windows.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#define PYSOCK_BENCH_HAVE_AF_UNIX 1
#endif

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

constexpr std::size_t kBufSize = 64 * 1024;  // user buffer of every echo loop, on both sides
constexpr int kTimeoutSeconds = 30;          // the "timeouts cost" variants

// ---------------------------------------------------------------- CPU placement
// same_cpu : client and server threads pinned to the same CPU (the latency figure; ~11 us/RT here)
// split_cpu: client on one CPU, server on another (a cross-CPU wake-up per message; ~50 us/RT here)
// free     : no affinity, the scheduler decides
enum class placement : int { same_cpu = 0, split_cpu = 1, free = 2 };

inline const char* placement_name(placement p) {
    switch (p) {
    case placement::same_cpu: return "same_cpu";
    case placement::split_cpu: return "split_cpu";
    default: return "free";
    }
}

// The CPUs this process may run on, captured by the first call (before anything is pinned).
#if defined(_WIN32)
inline std::vector<int> allowed_cpus() {
    DWORD_PTR process = 0, system = 0;
    std::vector<int> out;
    if (!::GetProcessAffinityMask(::GetCurrentProcess(), &process, &system)) return out;
    for (int i = 0; i < static_cast<int>(8 * sizeof process); ++i)
        if (process & (DWORD_PTR{1} << i)) out.push_back(i);
    return out;
}
#else
inline std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (int i = 0; i < CPU_SETSIZE; ++i)
        if (CPU_ISSET(i, &set)) out.push_back(i);
    return out;
}
#endif

struct cpu_choice {
    bool ok = true;
    int client = -1, server = -1;  // -1: leave affinity alone
};

inline cpu_choice choose_cpus(placement p) {
    static const std::vector<int> cpus =
        allowed_cpus();  // captured once, before anything is pinned
    cpu_choice c;
    if (p == placement::free) return c;
    if (cpus.empty()) {
        c.ok = false;
        return c;
    }
    if (p == placement::same_cpu) {
        c.client = c.server = cpus[0];
        return c;
    }
    if (cpus.size() < 2) {
        c.ok = false;
        return c;
    }
    c.client = cpus[0];
    c.server = cpus[1];
    return c;
}

// Pins the calling thread to one CPU and restores its old affinity on exit (sched_setaffinity(0)
// is per thread on Linux; SetThreadAffinityMask returns the old mask on Windows).
class pin_guard {
public:
    explicit pin_guard(int cpu) {
        if (cpu < 0) return;
#if defined(_WIN32)
        old_ = ::SetThreadAffinityMask(::GetCurrentThread(), DWORD_PTR{1} << cpu);
        active_ = old_ != 0;
#else
        CPU_ZERO(&old_);
        if (sched_getaffinity(0, sizeof old_, &old_) != 0) return;
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        active_ = sched_setaffinity(0, sizeof set, &set) == 0;
#endif
    }
    ~pin_guard() {
        if (!active_) return;
#if defined(_WIN32)
        ::SetThreadAffinityMask(::GetCurrentThread(), old_);
#else
        sched_setaffinity(0, sizeof old_, &old_);
#endif
    }
    pin_guard(const pin_guard&) = delete;
    pin_guard& operator=(const pin_guard&) = delete;

private:
#if defined(_WIN32)
    DWORD_PTR old_ = 0;
#else
    cpu_set_t old_{};
#endif
    bool active_ = false;
};

// A thread that is always joined; `stop` runs first (e.g. to wake a blocked accept()).
class scoped_thread {
public:
    scoped_thread() = default;
    template <class F>
    explicit scoped_thread(F&& f, std::function<void()> stop = {})
        : stop_(std::move(stop)), t_(std::forward<F>(f)) {}
    scoped_thread(scoped_thread&&) = default;
    scoped_thread& operator=(scoped_thread&&) = default;
    ~scoped_thread() { join(); }
    void join() {
        if (!t_.joinable()) return;
        if (stop_) stop_();
        t_.join();
    }
    void join_without_stop() {
        if (t_.joinable()) t_.join();
    }

private:
    std::function<void()> stop_;
    std::thread t_;
};

// ---------------------------------------------------------------- the raw system layer
// What the raw baseline calls, once per OS. Each function is the plain system call plus what a
// careful programmer adds on that OS (close-on-exec / non-inheritable, EINTR retried, no SIGPIPE).
#if defined(_WIN32)
using raw_handle = SOCKET;
constexpr raw_handle raw_invalid = INVALID_SOCKET;
constexpr int raw_send_flags = 0;  // Windows has no SIGPIPE
using raw_io_size = int;           // Winsock counts bytes in an int
inline raw_io_size raw_size(std::size_t n) { return n > INT_MAX ? INT_MAX : static_cast<int>(n); }
using raw_poll_fd = WSAPOLLFD;
inline int raw_last_error() { return ::WSAGetLastError(); }
inline void raw_set_last_error(int e) { ::WSASetLastError(e); }
inline bool raw_interrupted() { return ::WSAGetLastError() == WSAEINTR; }
// accept() failed for that one connection only (the client gave up first): accept the next.
inline bool raw_accept_retryable() {
    const int e = ::WSAGetLastError();
    return e == WSAEINTR || e == WSAECONNRESET || e == WSAECONNABORTED;
}
[[noreturn]] inline void raw_fail(const char* what) {
    throw std::system_error(raw_last_error(), std::system_category(), what);
}
// The raw side starts Winsock itself, once (pysock does the same lazily on its side).
inline void raw_startup() {
    static const int started = [] {
        WSADATA data;
        return ::WSAStartup(MAKEWORD(2, 2), &data);
    }();
    if (started != 0) throw std::system_error(started, std::system_category(), "WSAStartup");
}
inline raw_handle raw_socket(int family, int type) {
    raw_startup();
    return ::WSASocketW(family, type, 0, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}
// accept() hands out an inheritable handle: clear that, as pysock does.
inline raw_handle raw_accept(raw_handle listener, sockaddr* peer, socklen_t* len) {
    raw_handle s = ::accept(listener, peer, len);
    if (s != raw_invalid)
        ::SetHandleInformation(reinterpret_cast<HANDLE>(s), HANDLE_FLAG_INHERIT, 0);
    return s;
}
inline void raw_close(raw_handle s) { ::closesocket(s); }
inline int raw_poll(raw_poll_fd* p, int timeout_ms) { return ::WSAPoll(p, 1, timeout_ms); }
inline int raw_timed_out_code() { return WSAETIMEDOUT; }
#else
using raw_handle = int;
constexpr raw_handle raw_invalid = -1;
constexpr int raw_send_flags = MSG_NOSIGNAL;
using raw_io_size = std::size_t;
inline raw_io_size raw_size(std::size_t n) { return n; }
using raw_poll_fd = pollfd;
inline int raw_last_error() { return errno; }
inline void raw_set_last_error(int e) { errno = e; }
inline bool raw_interrupted() { return errno == EINTR; }
inline bool raw_accept_retryable() { return errno == EINTR || errno == ECONNABORTED; }
[[noreturn]] inline void raw_fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}
inline raw_handle raw_socket(int family, int type) {
    return ::socket(family, type | SOCK_CLOEXEC, 0);
}
inline raw_handle raw_accept(raw_handle listener, sockaddr* peer, socklen_t* len) {
    return ::accept4(listener, peer, len, SOCK_CLOEXEC);
}
inline void raw_close(raw_handle fd) { ::close(fd); }
inline int raw_poll(raw_poll_fd* p, int timeout_ms) { return ::poll(p, 1, timeout_ms); }
inline int raw_timed_out_code() { return ETIMEDOUT; }
#endif

// Wakes a thread blocked in accept() on `listener`, to stop it. On Linux shutdown() fails that
// accept() at once. Winsock (and wine) leave accept() blocked after shutdown(), so there a throwaway
// loopback connection wakes it instead: every accept loop checks its own stop flag after accept().
inline void raw_wake_accept(raw_handle listener) {
#if defined(_WIN32)
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    raw_handle s = raw_socket(addr.ss_family, SOCK_STREAM);
    if (s == raw_invalid) return;
    ::connect(s, reinterpret_cast<sockaddr*>(&addr), len);
    raw_close(s);
#else
    ::shutdown(listener, SHUT_RDWR);
#endif
}

class fd_t {
public:
    fd_t() = default;
    explicit fd_t(raw_handle fd) : fd_(fd) {}
    fd_t(fd_t&& o) noexcept : fd_(std::exchange(o.fd_, raw_invalid)) {}
    fd_t& operator=(fd_t&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, raw_invalid);
        }
        return *this;
    }
    ~fd_t() { reset(); }
    void reset() {
        if (fd_ != raw_invalid) raw_close(fd_);
        fd_ = raw_invalid;
    }
    raw_handle get() const { return fd_; }
    bool valid() const { return fd_ != raw_invalid; }

private:
    raw_handle fd_ = raw_invalid;
};

inline void raw_nodelay(raw_handle fd) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one),
                     sizeof one) != 0)
        raw_fail("setsockopt(TCP_NODELAY)");
}

// CPython's model (the "raw_poll30" baseline): poll() before every call when a timeout is set.
inline void raw_poll_wait(raw_handle fd, short events) {
    raw_poll_fd p{fd, events, 0};
    for (;;) {
        int r = raw_poll(&p, kTimeoutSeconds * 1000);
        if (r > 0) return;
        if (r == 0) {
            raw_set_last_error(raw_timed_out_code());
            raw_fail("poll");
        }
        if (!raw_interrupted()) raw_fail("poll");
    }
}

template <bool Poll>
inline void raw_send_all(raw_handle fd, const char* p, std::size_t n) {
    while (n > 0) {
        if (Poll) raw_poll_wait(fd, POLLOUT);
        auto r = ::send(fd, p, raw_size(n), raw_send_flags);
        if (r < 0) {
            if (raw_interrupted()) continue;
            raw_fail("send");
        }
        p += r;
        n -= static_cast<std::size_t>(r);
    }
}

template <bool Poll>
inline std::size_t raw_recv_some(raw_handle fd, char* p, std::size_t n) {
    for (;;) {
        if (Poll) raw_poll_wait(fd, POLLIN);
        auto r = ::recv(fd, p, raw_size(n), 0);
        if (r >= 0) return static_cast<std::size_t>(r);
        if (!raw_interrupted()) raw_fail("recv");
    }
}

inline sockaddr_in loopback4(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// ---------------------------------------------------------------- TCP endpoints
template <bool Poll>
struct raw_tcp {
    using conn = fd_t;
    struct listener {
        fd_t fd;
        std::uint16_t port = 0;
    };
    static listener listen(int backlog = 128) {
        listener l;
        l.fd = fd_t(raw_socket(AF_INET, SOCK_STREAM));
        if (!l.fd.valid()) raw_fail("socket");
        sockaddr_in a = loopback4(0);
        if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) raw_fail("bind");
        if (::listen(l.fd.get(), backlog) != 0) raw_fail("listen");
        socklen_t len = sizeof a;
        if (::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
            raw_fail("getsockname");
        l.port = ntohs(a.sin_port);
        return l;
    }
    static conn accept(listener& l) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        for (;;) {
            if (Poll) raw_poll_wait(l.fd.get(), POLLIN);
            raw_handle fd = raw_accept(l.fd.get(), reinterpret_cast<sockaddr*>(&peer), &len);
            if (fd != raw_invalid) {
                conn c(fd);
                raw_nodelay(fd);
                return c;
            }
            if (!raw_interrupted()) raw_fail("accept");
        }
    }
    static conn connect(const listener& l) {
        conn c(raw_socket(AF_INET, SOCK_STREAM));
        if (!c.valid()) raw_fail("socket");
        raw_nodelay(c.get());
        sockaddr_in a = loopback4(l.port);
        if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) raw_fail("connect");
        return c;
    }
    static void send_all(conn& c, const char* p, std::size_t n) {
        raw_send_all<Poll>(c.get(), p, n);
    }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) {
        return raw_recv_some<Poll>(c.get(), p, n);
    }
    static void shutdown_write(conn& c) { ::shutdown(c.get(), SHUT_WR); }
    static void close(conn& c) { c.reset(); }
    static void stop_listener(listener& l) { raw_wake_accept(l.fd.get()); }
};

template <bool Timeout>
struct pysock_tcp {
    using conn = pysock::socket;
    struct listener {
        pysock::socket sock;
        pysock::address addr;
    };
    static listener listen() {
        pysock::socket s(AF_INET, SOCK_STREAM);
        s.bind({"127.0.0.1", 0});
        s.listen();
        pysock::address a = s.getsockname();
        return {std::move(s), std::move(a)};
    }
    static conn accept(listener& l) {
        auto accepted = l.sock.accept();
        accepted.first.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
        if (Timeout) accepted.first.settimeout(static_cast<double>(kTimeoutSeconds));
        return std::move(accepted.first);
    }
    static conn connect(const listener& l) {
        pysock::socket s(AF_INET, SOCK_STREAM);
        s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
        if (Timeout) s.settimeout(static_cast<double>(kTimeoutSeconds));
        s.connect(l.addr);
        return s;
    }
    static void send_all(conn& c, const char* p, std::size_t n) {
        c.sendall(std::string_view(p, n));
    }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) { return c.recv_into(p, n); }
    static void shutdown_write(conn& c) { c.shutdown(SHUT_WR); }
    static void close(conn& c) { c.close(); }
    static void stop_listener(listener& l) { raw_wake_accept(l.sock.fileno()); }
};

// ---------------------------------------------------------------- AF_UNIX stream endpoints (abstract names)
#if defined(PYSOCK_BENCH_HAVE_AF_UNIX)
inline std::string unique_abstract_name() {
    static std::atomic<unsigned> counter{0};
    return std::string(1, '\0') + "pysock-bench-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter++);
}

struct raw_unix {
    using conn = fd_t;
    struct listener {
        fd_t fd;
        sockaddr_un addr{};
        socklen_t len = 0;
    };
    static listener listen() {
        listener l;
        std::string name = unique_abstract_name();
        l.addr.sun_family = AF_UNIX;
        std::memcpy(l.addr.sun_path, name.data(), name.size());
        l.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
        l.fd = fd_t(raw_socket(AF_UNIX, SOCK_STREAM));
        if (!l.fd.valid()) raw_fail("socket");
        if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&l.addr), l.len) != 0) raw_fail("bind");
        if (::listen(l.fd.get(), 128) != 0) raw_fail("listen");
        return l;
    }
    static conn accept(listener& l) {
        for (;;) {
            raw_handle fd = raw_accept(l.fd.get(), nullptr, nullptr);
            if (fd != raw_invalid) return conn(fd);
            if (!raw_interrupted()) raw_fail("accept");
        }
    }
    static conn connect(const listener& l) {
        conn c(raw_socket(AF_UNIX, SOCK_STREAM));
        if (!c.valid()) raw_fail("socket");
        if (::connect(c.get(), reinterpret_cast<const sockaddr*>(&l.addr), l.len) != 0)
            raw_fail("connect");
        return c;
    }
    static void send_all(conn& c, const char* p, std::size_t n) {
        raw_send_all<false>(c.get(), p, n);
    }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) {
        return raw_recv_some<false>(c.get(), p, n);
    }
    static void shutdown_write(conn& c) { ::shutdown(c.get(), SHUT_WR); }
    static void close(conn& c) { c.reset(); }
    static void stop_listener(listener& l) { raw_wake_accept(l.fd.get()); }
};

struct pysock_unix {
    using conn = pysock::socket;
    struct listener {
        pysock::socket sock;
        pysock::address addr;
    };
    static listener listen() {
        pysock::address a(unique_abstract_name());
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        s.bind(a);
        s.listen();
        return {std::move(s), std::move(a)};
    }
    static conn accept(listener& l) {
        auto accepted = l.sock.accept();
        return std::move(accepted.first);
    }
    static conn connect(const listener& l) {
        pysock::socket s(AF_UNIX, SOCK_STREAM);
        s.connect(l.addr);
        return s;
    }
    static void send_all(conn& c, const char* p, std::size_t n) {
        c.sendall(std::string_view(p, n));
    }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) { return c.recv_into(p, n); }
    static void shutdown_write(conn& c) { c.shutdown(SHUT_WR); }
    static void close(conn& c) { c.close(); }
    static void stop_listener(listener& l) { raw_wake_accept(l.sock.fileno()); }
};

#endif  // PYSOCK_BENCH_HAVE_AF_UNIX

// ---------------------------------------------------------------- UDP endpoints (Python style: recvfrom + sendto)
// The server answers each datagram to its sender; an empty datagram stops it.
struct raw_udp {
    struct server {
        fd_t fd;
        sockaddr_in addr{};
    };
    struct client {
        fd_t fd;
        sockaddr_in to{};
    };
    static server open_server() {
        server s;
        s.fd = fd_t(raw_socket(AF_INET, SOCK_DGRAM));
        if (!s.fd.valid()) raw_fail("socket");
        s.addr = loopback4(0);
        if (::bind(s.fd.get(), reinterpret_cast<sockaddr*>(&s.addr), sizeof s.addr) != 0)
            raw_fail("bind");
        socklen_t len = sizeof s.addr;
        if (::getsockname(s.fd.get(), reinterpret_cast<sockaddr*>(&s.addr), &len) != 0)
            raw_fail("getsockname");
        return s;
    }
    static void serve(server& s) {
        char buf[kBufSize];
        for (;;) {
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            auto n = ::recvfrom(s.fd.get(), buf, raw_size(sizeof buf), 0,
                                reinterpret_cast<sockaddr*>(&peer), &len);
            if (n < 0) {
                if (raw_interrupted()) continue;
                raw_fail("recvfrom");
            }
            if (n == 0) return;
            while (::sendto(s.fd.get(), buf, static_cast<raw_io_size>(n), raw_send_flags,
                            reinterpret_cast<sockaddr*>(&peer), len) < 0) {
                if (!raw_interrupted()) raw_fail("sendto");
            }
        }
    }
    static client open_client(const server& s) {
        client c;
        c.fd = fd_t(raw_socket(AF_INET, SOCK_DGRAM));
        if (!c.fd.valid()) raw_fail("socket");
        c.to = s.addr;
        return c;
    }
    static std::size_t round_trip(client& c, const char* msg, std::size_t n, char* buf,
                                  std::size_t cap) {
        while (::sendto(c.fd.get(), msg, raw_size(n), raw_send_flags,
                        reinterpret_cast<sockaddr*>(&c.to), sizeof c.to) < 0)
            if (!raw_interrupted()) raw_fail("sendto");
        for (;;) {
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            auto r = ::recvfrom(c.fd.get(), buf, raw_size(cap), 0,
                                reinterpret_cast<sockaddr*>(&peer), &len);
            if (r >= 0) return static_cast<std::size_t>(r);
            if (!raw_interrupted()) raw_fail("recvfrom");
        }
    }
    static void stop(client& c) {
        ::sendto(c.fd.get(), "", 0, raw_send_flags, reinterpret_cast<sockaddr*>(&c.to),
                 sizeof c.to);
    }
};

struct pysock_udp {
    struct server {
        pysock::socket sock;
        pysock::address addr;
    };
    struct client {
        pysock::socket sock;
        pysock::address to;
    };
    static server open_server() {
        pysock::socket s(AF_INET, SOCK_DGRAM);
        s.bind({"127.0.0.1", 0});
        pysock::address a = s.getsockname();
        return {std::move(s), std::move(a)};
    }
    static void serve(server& s) {
        char buf[kBufSize];
        for (;;) {
            auto [n, peer] = s.sock.recvfrom_into(buf, sizeof buf);
            if (n == 0) return;
            s.sock.sendto(std::string_view(buf, n), peer);
        }
    }
    static client open_client(const server& s) {
        return {pysock::socket(AF_INET, SOCK_DGRAM), s.addr};
    }
    static std::size_t round_trip(client& c, const char* msg, std::size_t n, char* buf,
                                  std::size_t cap) {
        c.sock.sendto(std::string_view(msg, n), c.to);
        return c.sock.recvfrom_into(buf, cap).first;
    }
    static void stop(client& c) { c.sock.sendto(std::string_view(), c.to); }
};

// ---------------------------------------------------------------- shared loops
// The echo server every stream workload uses: read what is there, send it back, until end of stream.
template <class E>
void echo_loop(typename E::conn& c) {
    char buf[kBufSize];
    for (;;) {
        std::size_t n = E::recv_some(c, buf, sizeof buf);
        if (n == 0) return;
        E::send_all(c, buf, n);
    }
}

// One ping-pong round trip: send n bytes, read until n bytes are back.
template <class E>
inline void round_trip(typename E::conn& c, const char* msg, char* buf, std::size_t n) {
    E::send_all(c, msg, n);
    std::size_t got = 0;
    while (got < n) {
        std::size_t r = E::recv_some(c, buf + got, n - got);
        if (r == 0) throw std::runtime_error("unexpected end of stream");
        got += r;
    }
}

// ---------------------------------------------------------------- thread-per-client servers
// Raw thread-per-client echo server: accept loop, one std::thread per connection, joined at the end.
class raw_thread_per_client_server {
public:
    explicit raw_thread_per_client_server(int backlog = 128)
        : ls_(raw_tcp<false>::listen(backlog)) {
        acceptor_ = std::thread([this] {
            for (;;) {
                raw_handle fd = raw_accept(ls_.fd.get(), nullptr, nullptr);
                if (stopping_.load()) {
                    if (fd != raw_invalid) raw_close(fd);
                    return;
                }
                if (fd == raw_invalid) {
                    if (raw_accept_retryable()) continue;
                    return;
                }
                raw_nodelay(fd);
                workers_.emplace_back([fd] {
                    fd_t c(fd);
                    try {
                        echo_loop<raw_tcp<false>>(c);
                    } catch (const std::exception&) {}
                });
            }
        });
    }
    ~raw_thread_per_client_server() {
        stopping_.store(true);
        raw_wake_accept(ls_.fd.get());
        acceptor_.join();
        for (auto& t : workers_) t.join();
    }
    std::uint16_t port() const { return ls_.port; }

private:
    raw_tcp<false>::listener ls_;
    std::atomic<bool> stopping_{false};
    std::vector<std::thread> workers_;
    std::thread acceptor_;
};

#ifdef PYSOCK_BENCH_HAVE_THREADING_SERVER
class pysock_threading_server {
public:
    explicit pysock_threading_server(int backlog = PYSOCK_DEFAULT_BACKLOG)
        : server_(
              pysock::address("127.0.0.1", 0),
              [](pysock::socket& conn, const pysock::address&) {
                  conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
                  char buf[kBufSize];
                  try {
                      while (std::size_t n = conn.recv_into(buf, sizeof buf))
                          conn.sendall(std::string_view(buf, n));
                  } catch (const pysock::connection_error&) {
                      // a load generator that resets its connections at the end (as the raw server)
                  }
              },
              options(backlog)) {
        thread_ = std::thread([this] { server_.serve_forever(); });
    }
    ~pysock_threading_server() {
        server_.shutdown();
        thread_.join();
        server_.server_close();
    }
    std::uint16_t port() const { return server_.server_address().port; }

private:
    static pysock::server_options options(int backlog) {
        pysock::server_options o;
        o.request_queue_size = backlog;
        return o;
    }
    pysock::threading_tcp_server server_;
    std::thread thread_;
};
#endif

}  // namespace bench
