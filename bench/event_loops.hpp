// The event-driven echo servers of the benchmarks (Linux): the loop a pysock::selectors user writes,
// and the same loop written on epoll by hand, its baseline. pysock_many_clients serves thousands of
// clients with them; pysock_rtt_driver counts their user-space instructions per round trip.
// Both: a non-blocking listener and connections, read interest on each, an echo sent at once, and a
// reply the kernel would not take kept until the socket is writable.
#ifndef PYSOCK_BENCH_EVENT_LOOPS_HPP
#define PYSOCK_BENCH_EVENT_LOOPS_HPP

#include <pysock/selectors.hpp>

#include "endpoints.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

namespace bench {

class selectors_echo_loop {
public:
    explicit selectors_echo_loop(pysock::socket& listener) : listener_(listener) {
        selector_.register_(listener_, pysock::selectors::EVENT_READ);
    }
    selectors_echo_loop(const selectors_echo_loop&) = delete;
    selectors_echo_loop& operator=(const selectors_echo_loop&) = delete;
    ~selectors_echo_loop() {
        for (auto& [fd, key] : selector_.get_map())
            if (key.data.has_value()) delete std::any_cast<connection*>(key.data);
    }
    /// Serves until, with stop_when_idle, the last client has gone.
    void run(bool stop_when_idle) {
        namespace sel = pysock::selectors;
        for (;;) {
            for (auto& [key, events] : selector_.select()) {
                if (!key.data.has_value()) {
                    accept_all();
                    continue;
                }
                auto* c = std::any_cast<connection*>(key.data);
                if (events & sel::EVENT_WRITE) flush(*c);
                if (events & sel::EVENT_READ) echo(*c);
            }
            if (stop_when_idle && served_ && open_ == 0) return;
        }
    }

private:
    struct connection {
        pysock::socket sock;
        pysock::bytes pending;  // what the kernel would not take yet
    };
    void accept_all() {
        for (;;) {
            std::error_code ec;
            auto [sock, addr] = listener_.accept(ec);
            if (ec) return;  // would-block (or another thread of the same listener got it)
            sock.setblocking(false);
            sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
            auto* c = new connection{std::move(sock), {}};
            selector_.register_(c->sock, pysock::selectors::EVENT_READ, c);
            ++open_;
            served_ = true;
        }
    }
    void echo(connection& c) {
        std::error_code ec;
        std::size_t n = c.sock.recv_into(buf_, sizeof buf_, ec);
        if (pysock::is_blocking_io(ec)) return;
        if (ec || n == 0) return drop(c);
        if (!c.pending.empty()) {
            c.pending.append(buf_, n);
            return;
        }
        std::size_t sent = c.sock.send(std::string_view(buf_, n), ec);
        if (ec && !pysock::is_blocking_io(ec)) return drop(c);
        if (sent < n) {
            c.pending.assign(buf_ + sent, n - sent);
            selector_.modify(c.sock, pysock::selectors::EVENT_READ | pysock::selectors::EVENT_WRITE,
                             &c);
        }
    }
    void flush(connection& c) {
        std::error_code ec;
        std::size_t sent = c.sock.send(c.pending, ec);
        if (ec && !pysock::is_blocking_io(ec)) return drop(c);
        c.pending.erase(0, sent);
        if (c.pending.empty()) selector_.modify(c.sock, pysock::selectors::EVENT_READ, &c);
    }
    void drop(connection& c) {
        selector_.unregister(c.sock);
        delete &c;  // the key stays readable until the next select(); the connection is gone
        --open_;
    }
    pysock::socket& listener_;
    pysock::selectors::default_selector selector_;
    std::size_t open_ = 0;
    bool served_ = false;
    char buf_[kBufSize];
};

class raw_epoll_echo_loop {
public:
    /// A non-blocking, close-on-exec listener on 127.0.0.1, port 0.
    static int listen_nonblocking(int backlog) {
        int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa = loopback4(0);
        if (::bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 ||
            ::listen(ls, backlog) < 0)
            raw_fail("bind/listen");
        return ls;
    }
    explicit raw_epoll_echo_loop(int listener)
        : ls_(listener), ep_(::epoll_create1(EPOLL_CLOEXEC)) {
        control(EPOLL_CTL_ADD, ls_, EPOLLIN);
    }
    raw_epoll_echo_loop(const raw_epoll_echo_loop&) = delete;
    raw_epoll_echo_loop& operator=(const raw_epoll_echo_loop&) = delete;
    ~raw_epoll_echo_loop() {
        for (std::size_t fd = 0; fd < open_fd_.size(); ++fd)
            if (open_fd_[fd]) ::close(static_cast<int>(fd));
        ::close(ep_);
    }
    void run(bool stop_when_idle) {
        for (;;) {
            int n = ::epoll_wait(ep_, events_.data(), static_cast<int>(events_.size()), -1);
            if (n < 0 && errno == EINTR) continue;
            for (int i = 0; i < n; ++i) {
                const epoll_event& ev = events_[static_cast<std::size_t>(i)];
                if (ev.data.fd == ls_) {
                    accept_all();
                    continue;
                }
                int fd = ev.data.fd;
                if (ev.events & EPOLLOUT) flush(fd);
                if ((ev.events & ~static_cast<std::uint32_t>(EPOLLOUT)) &&
                    open_fd_[static_cast<std::size_t>(fd)])
                    echo(fd);
            }
            if (stop_when_idle && served_ && open_ == 0) return;
        }
    }

private:
    void control(int op, int fd, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        ::epoll_ctl(ep_, op, fd, &ev);
    }
    void accept_all() {
        for (;;) {
            int c = ::accept4(ls_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c < 0) return;
            int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            control(EPOLL_CTL_ADD, c, EPOLLIN);
            auto i = static_cast<std::size_t>(c);
            if (i >= pending_.size()) {
                pending_.resize(i + 1);
                open_fd_.resize(i + 1);
            }
            open_fd_[i] = true;
            if (++open_ + 1 > events_.size()) events_.resize(open_ + 1);
            served_ = true;
        }
    }
    void echo(int fd) {
        std::string& rest = pending_[static_cast<std::size_t>(fd)];
        ssize_t r = ::recv(fd, buf_, sizeof buf_, 0);
        if (r < 0 && errno == EAGAIN) return;
        if (r <= 0) return drop(fd);
        if (!rest.empty()) {
            rest.append(buf_, static_cast<std::size_t>(r));
            return;
        }
        ssize_t s = ::send(fd, buf_, static_cast<std::size_t>(r), MSG_NOSIGNAL);
        if (s < 0 && errno != EAGAIN) return drop(fd);
        std::size_t sent = s < 0 ? 0 : static_cast<std::size_t>(s);
        if (sent < static_cast<std::size_t>(r)) {
            rest.assign(buf_ + sent, static_cast<std::size_t>(r) - sent);
            control(EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLOUT);
        }
    }
    void flush(int fd) {
        std::string& rest = pending_[static_cast<std::size_t>(fd)];
        ssize_t s = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (s < 0 && errno != EAGAIN) return drop(fd);
        rest.erase(0, s < 0 ? 0 : static_cast<std::size_t>(s));
        if (rest.empty()) control(EPOLL_CTL_MOD, fd, EPOLLIN);
    }
    void drop(int fd) {
        control(EPOLL_CTL_DEL, fd, 0);
        ::close(fd);
        pending_[static_cast<std::size_t>(fd)].clear();
        open_fd_[static_cast<std::size_t>(fd)] = false;
        --open_;
    }
    int ls_;
    int ep_;
    std::vector<epoll_event> events_ = std::vector<epoll_event>(1);
    std::vector<std::string> pending_;
    std::vector<bool> open_fd_;
    std::size_t open_ = 0;
    bool served_ = false;
    char buf_[kBufSize];
};

}  // namespace bench

#endif  // PYSOCK_BENCH_EVENT_LOOPS_HPP
