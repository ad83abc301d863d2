// bench/endpoints.hpp - the two sides of every benchmark: pysock and a hand-written raw POSIX baseline.
//
// Each workload in pysock_bench.cpp (and the instruction-count driver rtt_driver.cpp) is written once
// against a tiny "endpoint" interface, and instantiated twice:
//   pysock_*  : the calls a pysock user writes (socket, bind, listen, accept, connect, recv_into, sendall...)
//   raw_*     : the same program written directly on socket()/send()/recv(), the way a careful C
//               programmer would (EINTR retried, MSG_NOSIGNAL, SOCK_CLOEXEC), nothing more.
// Both sides use the same options: TCP_NODELAY on both ends of every TCP connection, the kernel's
// default SO_SNDBUF/SO_RCVBUF (never set on either side), the same 64 KiB user buffers.
#pragma once

#include <pysock/socket.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

constexpr std::size_t kBufSize = 64 * 1024;   // user buffer of every echo loop, on both sides
constexpr int kTimeoutSeconds = 30;            // the "timeouts cost" variants

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

inline std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (int i = 0; i < CPU_SETSIZE; ++i)
        if (CPU_ISSET(i, &set)) out.push_back(i);
    return out;
}

struct cpu_choice {
    bool ok = true;
    int client = -1, server = -1;   // -1: leave affinity alone
};

inline cpu_choice choose_cpus(placement p) {
    static const std::vector<int> cpus = allowed_cpus();   // captured once, before anything is pinned
    cpu_choice c;
    if (p == placement::free) return c;
    if (cpus.empty()) { c.ok = false; return c; }
    if (p == placement::same_cpu) { c.client = c.server = cpus[0]; return c; }
    if (cpus.size() < 2) { c.ok = false; return c; }
    c.client = cpus[0];
    c.server = cpus[1];
    return c;
}

// Pins the calling thread (sched_setaffinity(0) is per thread on Linux) and restores it on exit.
class pin_guard {
public:
    explicit pin_guard(int cpu) {
        if (cpu < 0) return;
        CPU_ZERO(&old_);
        if (sched_getaffinity(0, sizeof old_, &old_) != 0) return;
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        active_ = sched_setaffinity(0, sizeof set, &set) == 0;
    }
    ~pin_guard() {
        if (active_) sched_setaffinity(0, sizeof old_, &old_);
    }
    pin_guard(const pin_guard&) = delete;
    pin_guard& operator=(const pin_guard&) = delete;

private:
    cpu_set_t old_{};
    bool active_ = false;
};

// A thread that is always joined; `stop` runs first (e.g. to wake a blocked accept()).
class scoped_thread {
public:
    scoped_thread() = default;
    template <class F>
    explicit scoped_thread(F&& f, std::function<void()> stop = {}) : stop_(std::move(stop)), t_(std::forward<F>(f)) {}
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

// ---------------------------------------------------------------- raw POSIX helpers
[[noreturn]] inline void raw_fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

class fd_t {
public:
    fd_t() = default;
    explicit fd_t(int fd) : fd_(fd) {}
    fd_t(fd_t&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    fd_t& operator=(fd_t&& o) noexcept {
        if (this != &o) { reset(); fd_ = std::exchange(o.fd_, -1); }
        return *this;
    }
    ~fd_t() { reset(); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int get() const { return fd_; }

private:
    int fd_ = -1;
};

inline void raw_nodelay(int fd) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) raw_fail("setsockopt(TCP_NODELAY)");
}

// CPython's model (the "raw_poll30" baseline): poll() before every call when a timeout is set.
inline void raw_poll_wait(int fd, short events) {
    pollfd p{fd, events, 0};
    for (;;) {
        int r = ::poll(&p, 1, kTimeoutSeconds * 1000);
        if (r > 0) return;
        if (r == 0) { errno = ETIMEDOUT; raw_fail("poll"); }
        if (errno != EINTR) raw_fail("poll");
    }
}

template <bool Poll>
inline void raw_send_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        if (Poll) raw_poll_wait(fd, POLLOUT);
        ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) continue;
            raw_fail("send");
        }
        p += r;
        n -= static_cast<std::size_t>(r);
    }
}

template <bool Poll>
inline std::size_t raw_recv_some(int fd, char* p, std::size_t n) {
    for (;;) {
        if (Poll) raw_poll_wait(fd, POLLIN);
        ssize_t r = ::recv(fd, p, n, 0);
        if (r >= 0) return static_cast<std::size_t>(r);
        if (errno != EINTR) raw_fail("recv");
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
    static listener listen() {
        listener l;
        l.fd = fd_t(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (l.fd.get() < 0) raw_fail("socket");
        sockaddr_in a = loopback4(0);
        if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) raw_fail("bind");
        if (::listen(l.fd.get(), 128) != 0) raw_fail("listen");
        socklen_t len = sizeof a;
        if (::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) raw_fail("getsockname");
        l.port = ntohs(a.sin_port);
        return l;
    }
    static conn accept(listener& l) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        for (;;) {
            if (Poll) raw_poll_wait(l.fd.get(), POLLIN);
            int fd = ::accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
            if (fd >= 0) {
                conn c(fd);
                raw_nodelay(fd);
                return c;
            }
            if (errno != EINTR) raw_fail("accept");
        }
    }
    static conn connect(const listener& l) {
        conn c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (c.get() < 0) raw_fail("socket");
        raw_nodelay(c.get());
        sockaddr_in a = loopback4(l.port);
        if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) raw_fail("connect");
        return c;
    }
    static void send_all(conn& c, const char* p, std::size_t n) { raw_send_all<Poll>(c.get(), p, n); }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) { return raw_recv_some<Poll>(c.get(), p, n); }
    static void shutdown_write(conn& c) { ::shutdown(c.get(), SHUT_WR); }
    static void close(conn& c) { c.reset(); }
    static void stop_listener(listener& l) { ::shutdown(l.fd.get(), SHUT_RDWR); }
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
    static void send_all(conn& c, const char* p, std::size_t n) { c.sendall(std::string_view(p, n)); }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) { return c.recv_into(p, n); }
    static void shutdown_write(conn& c) { c.shutdown(SHUT_WR); }
    static void close(conn& c) { c.close(); }
    static void stop_listener(listener& l) { ::shutdown(l.sock.fileno(), SHUT_RDWR); }
};

// ---------------------------------------------------------------- AF_UNIX stream endpoints (abstract names)
inline std::string unique_abstract_name() {
    static std::atomic<unsigned> counter{0};
    return std::string(1, '\0') + "pysock-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
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
        l.fd = fd_t(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (l.fd.get() < 0) raw_fail("socket");
        if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&l.addr), l.len) != 0) raw_fail("bind");
        if (::listen(l.fd.get(), 128) != 0) raw_fail("listen");
        return l;
    }
    static conn accept(listener& l) {
        for (;;) {
            int fd = ::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) return conn(fd);
            if (errno != EINTR) raw_fail("accept");
        }
    }
    static conn connect(const listener& l) {
        conn c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (c.get() < 0) raw_fail("socket");
        if (::connect(c.get(), reinterpret_cast<const sockaddr*>(&l.addr), l.len) != 0) raw_fail("connect");
        return c;
    }
    static void send_all(conn& c, const char* p, std::size_t n) { raw_send_all<false>(c.get(), p, n); }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) { return raw_recv_some<false>(c.get(), p, n); }
    static void shutdown_write(conn& c) { ::shutdown(c.get(), SHUT_WR); }
    static void close(conn& c) { c.reset(); }
    static void stop_listener(listener& l) { ::shutdown(l.fd.get(), SHUT_RDWR); }
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
    static void send_all(conn& c, const char* p, std::size_t n) { c.sendall(std::string_view(p, n)); }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) { return c.recv_into(p, n); }
    static void shutdown_write(conn& c) { c.shutdown(SHUT_WR); }
    static void close(conn& c) { c.close(); }
    static void stop_listener(listener& l) { ::shutdown(l.sock.fileno(), SHUT_RDWR); }
};

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
        s.fd = fd_t(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (s.fd.get() < 0) raw_fail("socket");
        s.addr = loopback4(0);
        if (::bind(s.fd.get(), reinterpret_cast<sockaddr*>(&s.addr), sizeof s.addr) != 0) raw_fail("bind");
        socklen_t len = sizeof s.addr;
        if (::getsockname(s.fd.get(), reinterpret_cast<sockaddr*>(&s.addr), &len) != 0) raw_fail("getsockname");
        return s;
    }
    static void serve(server& s) {
        char buf[kBufSize];
        for (;;) {
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            ssize_t n = ::recvfrom(s.fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
            if (n < 0) {
                if (errno == EINTR) continue;
                raw_fail("recvfrom");
            }
            if (n == 0) return;
            while (::sendto(s.fd.get(), buf, static_cast<std::size_t>(n), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&peer),
                            len) < 0) {
                if (errno != EINTR) raw_fail("sendto");
            }
        }
    }
    static client open_client(const server& s) {
        client c;
        c.fd = fd_t(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (c.fd.get() < 0) raw_fail("socket");
        c.to = s.addr;
        return c;
    }
    static std::size_t round_trip(client& c, const char* msg, std::size_t n, char* buf, std::size_t cap) {
        while (::sendto(c.fd.get(), msg, n, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&c.to), sizeof c.to) < 0)
            if (errno != EINTR) raw_fail("sendto");
        for (;;) {
            sockaddr_storage peer{};
            socklen_t len = sizeof peer;
            ssize_t r = ::recvfrom(c.fd.get(), buf, cap, 0, reinterpret_cast<sockaddr*>(&peer), &len);
            if (r >= 0) return static_cast<std::size_t>(r);
            if (errno != EINTR) raw_fail("recvfrom");
        }
    }
    static void stop(client& c) {
        ::sendto(c.fd.get(), "", 0, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&c.to), sizeof c.to);
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
    static client open_client(const server& s) { return {pysock::socket(AF_INET, SOCK_DGRAM), s.addr}; }
    static std::size_t round_trip(client& c, const char* msg, std::size_t n, char* buf, std::size_t cap) {
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

}  // namespace bench
