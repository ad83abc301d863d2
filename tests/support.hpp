// Helpers shared by pysock's socket test suites: catching an expected exception with what it
// carried, a peer thread whose failures fail the test, and loopback listeners and connections.
// Test-only code; it uses nothing but pysock's public API.
#ifndef PYSOCK_TESTS_SUPPORT_HPP
#define PYSOCK_TESTS_SUPPORT_HPP

#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include <chrono>
#include <exception>
#include <string>
#include <system_error>
#include <thread>
#include <typeindex>
#include <typeinfo>
#include <utility>

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

/// Runs f, which must throw an E (or something derived from E). Nothing thrown fails the check
/// (and the returned record then matches nothing); another exception type propagates and fails
/// the test case.
template <class E, class F>
raised expect_raises(F&& f) {
    auto start = clock_type::now();
    try {
        std::forward<F>(f)();
    } catch (const E& e) {
        std::size_t written = 0;
        if (auto* pe = dynamic_cast<const pysock::error*>(&e)) written = pe->characters_written();
        return raised{typeid(e), e.code(), e.what(), written, seconds_since(start)};
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
/// kernel queue takes it, and accept() then returns at once.
inline tcp_connection connect_tcp(int family = AF_INET) {
    pysock::socket listener = make_listener(family);
    pysock::socket client(family, SOCK_STREAM);
    client.connect(listener.getsockname());
    auto [server, addr] = listener.accept();
    return {std::move(listener), std::move(client), std::move(server)};
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

} // namespace pysock_test

#endif // PYSOCK_TESTS_SUPPORT_HPP
