// pysock::selectors against Python's selectors module (Lib/test/test_selectors.py's intent):
// the key map and its errors, readiness, timeouts, EINTR, descriptor limits, allocation-free
// select(), non-blocking connect; and the non-throwing socket calls event loops use.
// Every selector class runs every portable test (TEST_CASE_TEMPLATE).
#include <doctest/doctest.h>
#include <pysock/selectors.hpp>

#include "platform.hpp"
#include "support.hpp"

#include <any>
#include <atomic>
#include <cerrno>
#include <limits>
#include <optional>
#include <ostream>  // doctest prints a failed CHECK(ec) through operator<< (MinGW: not otherwise included)
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

namespace bench {
unsigned long long allocations();  // bench/alloc_counter.cpp, linked into this test
bool allocations_counted();        // false under ThreadSanitizer (its runtime owns operator new)
}  // namespace bench

namespace sel = pysock::selectors;
using namespace pysock_test;

#if PYSOCK_HAVE_EPOLL
#define PYSOCK_TEST_SELECTORS sel::select_selector, sel::poll_selector, sel::epoll_selector
#else
#define PYSOCK_TEST_SELECTORS sel::select_selector, sel::poll_selector
#endif

namespace {

// Events of `key` in a select() result, or 0 when it is not there.
template <class Results>
int events_of(const Results& results, const sel::selector_key& key) {
    int found = 0;
    for (const auto& [k, events] : results)
        if (&k == &key) found |= events;
    return found;
}

// A bound for select() calls that must report something at once.
constexpr double READY_WAIT = SAFETY_TIMEOUT;

bool would_block(const std::error_code& ec) {
    bool blocking = ec.value() == EWOULDBLOCK || ec.value() == EAGAIN;
    CHECK(pysock::is_blocking_io(ec) == blocking);  // the portable test users write agrees
    return blocking;
}

}  // namespace

// =============================================================================================
// The key map: register, unregister, modify, get_key, get_map
// =============================================================================================

TEST_CASE("the event constants are Python's") {
    CHECK(sel::EVENT_READ == 1);
    CHECK(sel::EVENT_WRITE == 2);
#if PYSOCK_HAVE_EPOLL
    CHECK(std::is_same_v<sel::default_selector, sel::epoll_selector>);
#elif defined(_WIN32)
    CHECK(std::is_same_v<sel::default_selector, sel::poll_selector>);
#endif
}

TEST_CASE_TEMPLATE(
    "register returns a key holding the socket, its descriptor, the events and the data", S,
    PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    sel::selector_key& key = selector.register_(a, sel::EVENT_READ, std::string("state"));
    CHECK(key.fileobj == &a);
    CHECK(key.fd == a.fileno());
    CHECK(key.events == sel::EVENT_READ);
    CHECK(std::any_cast<std::string>(key.data) == "state");
    CHECK(&selector.get_key(a) == &key);
    CHECK(&selector.get_key(a.fileno()) == &key);
}

TEST_CASE_TEMPLATE("a raw descriptor registers with no fileobj", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    sel::selector_key& key = selector.register_(a.fileno(), sel::EVENT_WRITE);
    CHECK(key.fileobj == nullptr);
    CHECK(key.fd == a.fileno());
    CHECK_FALSE(key.data.has_value());
    // The socket and its descriptor are the same registration.
    CHECK(&selector.get_key(a) == &key);
}

TEST_CASE_TEMPLATE("registering twice is a KeyError", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    selector.register_(a, sel::EVENT_READ);
    auto r = expect_raises<sel::key_error>([&] { selector.register_(a, sel::EVENT_WRITE); });
    CHECK(r.what.find("is already registered") != std::string::npos);
    expect_raises<std::out_of_range>([&] { selector.register_(a.fileno(), sel::EVENT_READ); });
    CHECK(selector.get_key(a).events == sel::EVENT_READ);  // the first registration stands
    CHECK(selector.get_map().size() == 1);
}

TEST_CASE_TEMPLATE("invalid events are a ValueError", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    for (int events : {0, 4, -1, sel::EVENT_READ | 8}) {
        CAPTURE(events);
        auto r = expect_raises<std::invalid_argument>([&] { selector.register_(a, events); });
        CHECK(r.what == "Invalid events: " + std::to_string(events));
    }
    CHECK(selector.get_map().size() == 0);
    selector.register_(a, sel::EVENT_READ);
    expect_raises<std::invalid_argument>([&] { selector.modify(a, 0); });
    CHECK(selector.get_key(a).events == sel::EVENT_READ);
}

TEST_CASE_TEMPLATE("a closed socket or an invalid descriptor is a ValueError", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    pysock::socket s;
    s.close();
    auto r = expect_raises<std::invalid_argument>([&] { selector.register_(s, sel::EVENT_READ); });
    CHECK(r.what == "Invalid file descriptor: -1");
    expect_raises<std::invalid_argument>(
        [&] { selector.register_(pysock::native_handle_type(-1), sel::EVENT_READ); });
    // Closed and never registered: no key can be found by identity either.
    expect_raises<std::invalid_argument>([&] { selector.unregister(s); });
    expect_raises<std::invalid_argument>([&] { selector.get_key(s); });
}

TEST_CASE_TEMPLATE("unregister returns the key and forgets it", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    selector.register_(a, sel::EVENT_READ, 7);
    sel::selector_key old = selector.unregister(a);
    CHECK(old.fileobj == &a);
    CHECK(old.fd == a.fileno());
    CHECK(old.events == sel::EVENT_READ);
    CHECK(std::any_cast<int>(old.data) == 7);
    CHECK(selector.get_map().size() == 0);
    auto r = expect_raises<sel::key_error>([&] { selector.unregister(a); });
    CHECK(r.what.find("is not registered") != std::string::npos);
    expect_raises<sel::key_error>([&] { selector.get_key(a); });
    // It can be registered again.
    CHECK(selector.register_(a, sel::EVENT_WRITE).events == sel::EVENT_WRITE);
}

TEST_CASE_TEMPLATE("a socket closed after it was registered can still be unregistered", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::native_handle_type fd = a.fileno();
    selector.register_(a, sel::EVENT_READ);
    a.close();
    sel::selector_key old = selector.unregister(a);  // found by identity, as Python does
    CHECK(old.fd == fd);
    CHECK(old.fileobj == &a);
    CHECK(selector.get_map().size() == 0);
}

TEST_CASE_TEMPLATE("get_key and modify of something never registered are KeyErrors", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    auto by_socket = expect_raises<sel::key_error>([&] { selector.get_key(a); });
    CHECK(by_socket.what == "<pysock.socket fd=" + std::to_string(a.fileno()) + ", family=" +
                                std::to_string(a.family()) + ", type=" + std::to_string(a.type()) +
                                ", proto=" + std::to_string(a.proto()) + "> is not registered");
    auto by_fd = expect_raises<sel::key_error>([&] { selector.get_key(b.fileno()); });
    CHECK(by_fd.what == std::to_string(b.fileno()) + " is not registered");
    expect_raises<sel::key_error>([&] { selector.modify(a, sel::EVENT_READ); });
    expect_raises<sel::key_error>([&] { selector.unregister(b.fileno()); });
}

TEST_CASE_TEMPLATE("modify changes the events and replaces the data", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    sel::selector_key& key = selector.register_(a, sel::EVENT_READ, 1);
    sel::selector_key& same = selector.modify(a, sel::EVENT_WRITE, 2);
    CHECK(&same == &key);
    CHECK(key.events == sel::EVENT_WRITE);
    CHECK(std::any_cast<int>(key.data) == 2);
    // The same events with new data; no data given replaces it with nothing (Python's None).
    selector.modify(a, sel::EVENT_WRITE, std::string("x"));
    CHECK(std::any_cast<std::string>(key.data) == "x");
    selector.modify(a.fileno(), sel::EVENT_WRITE);
    CHECK_FALSE(key.data.has_value());
    // The new events are what select() watches: a fresh socket is writable, not readable.
    const auto& ready = selector.select(READY_WAIT);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second == sel::EVENT_WRITE);
    selector.modify(a, sel::EVENT_READ);
    CHECK(selector.select(0).empty());
}

TEST_CASE_TEMPLATE("get_map gives every key by descriptor", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_READ);
    selector.register_(b.fileno(), sel::EVENT_WRITE);
    const sel::selector_map& map = selector.get_map();
    CHECK(map.size() == 2);
    CHECK(map.at(a.fileno()).fileobj == &a);
    CHECK(map.at(b.fileno()).fileobj == nullptr);
    int seen = 0;
    for (const auto& [fd, key] : map) {
        CHECK(fd == key.fd);
        ++seen;
    }
    CHECK(seen == 2);
    CHECK_THROWS_AS(map.at(pysock::native_handle_type(12345)), std::out_of_range);
}

TEST_CASE_TEMPLATE("a closed selector refuses every call, and close is idempotent", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_READ);
    selector.close();
    selector.close();
    CHECK(selector.closed());
    auto r = expect_raises<std::invalid_argument>([&] { selector.select(0); });
    CHECK(r.what == "I/O operation on closed selector");
    expect_raises<std::invalid_argument>([&] { selector.register_(b, sel::EVENT_READ); });
    expect_raises<std::invalid_argument>([&] { selector.unregister(a); });
    expect_raises<std::invalid_argument>([&] { selector.modify(a, sel::EVENT_WRITE); });
    expect_raises<std::invalid_argument>([&] { selector.get_key(a); });
    expect_raises<std::invalid_argument>([&] { selector.get_map(); });
}

// =============================================================================================
// select(): readiness
// =============================================================================================

TEST_CASE_TEMPLATE("select reports a socket readable once data arrives", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    sel::selector_key& key = selector.register_(a, sel::EVENT_READ);
    CHECK(selector.select(0).empty());
    b.sendall("ping");
    const auto& ready = selector.select(READY_WAIT);
    REQUIRE(ready.size() == 1);
    CHECK(&ready[0].first == &key);
    CHECK(ready[0].second == sel::EVENT_READ);
    CHECK(a.recv(16) == "ping");
    CHECK(selector.select(0).empty());  // level-triggered: nothing left, nothing reported
}

TEST_CASE_TEMPLATE("select reports both events when a socket is readable and writable", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    sel::selector_key& key = selector.register_(a, sel::EVENT_READ | sel::EVENT_WRITE);
    {
        const auto& ready = selector.select(READY_WAIT);
        REQUIRE(ready.size() == 1);
        CHECK(ready[0].second == sel::EVENT_WRITE);
    }
    b.sendall("x");
    // The data may take a moment to be visible on loopback: wait for the state, bounded.
    auto start = clock_type::now();
    int events = 0;
    while (events != (sel::EVENT_READ | sel::EVENT_WRITE) && seconds_since(start) < SAFETY_TIMEOUT)
        events = events_of(selector.select(SAFETY_TIMEOUT), key);
    CHECK(events == (sel::EVENT_READ | sel::EVENT_WRITE));
    CHECK(selector.select(0).size() == 1);  // one result per key, never one per direction
}

TEST_CASE_TEMPLATE("select reports only the registered events", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_READ);
    b.sendall("x");
    b.close();  // a hang-up too: still only EVENT_READ for a key that asked for it
    const auto& ready = selector.select(READY_WAIT);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second == sel::EVENT_READ);
}

TEST_CASE_TEMPLATE("a peer that closes makes the reader's key readable, and recv then returns EOF",
                   S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_READ);
    b.close();
    const auto& ready = selector.select(READY_WAIT);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second == sel::EVENT_READ);
    CHECK(a.recv(16).empty());
}

TEST_CASE_TEMPLATE("the key in a select result is the registered key itself", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    selector.register_(a, sel::EVENT_WRITE, 0);
    for (auto& [key, events] : selector.select(READY_WAIT)) {
        CHECK(events == sel::EVENT_WRITE);
        key.data = 41 + 1;
    }
    CHECK(std::any_cast<int>(selector.get_key(a).data) == 42);
}

TEST_CASE_TEMPLATE(
    "keys unregistered while the results are walked stay valid until the next select", S,
    PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_WRITE, std::string("a"));
    selector.register_(b, sel::EVENT_WRITE, std::string("b"));
    const auto& ready = selector.select(READY_WAIT);
    REQUIRE(ready.size() == 2);
    // A handler that closes another connection: unregister both, then read the second result.
    selector.unregister(a);
    selector.unregister(b);
    for (const auto& [key, events] : ready) {
        CHECK(events == sel::EVENT_WRITE);
        std::string name = std::any_cast<std::string>(key.data);  // the sanitizer stages read it
        CHECK((name == "a" || name == "b"));
    }
    CHECK(selector.select(0).empty());
}

TEST_CASE_TEMPLATE("registering while the results are walked leaves them valid", S,
                   PYSOCK_TEST_SELECTORS) {
    // An accept handler registers new connections in the middle of the walk: the results must
    // not move (this crashed a server before select() reserved its room up front).
    S selector;
    std::vector<std::pair<pysock::socket, pysock::socket>> first(4), added(200);
    for (auto& p : first) {
        p = pysock::socketpair();
        selector.register_(p.first, sel::EVENT_WRITE);
    }
    std::size_t walked = 0;
    for (const auto& [key, events] : selector.select(READY_WAIT)) {
        CHECK(events == sel::EVENT_WRITE);
        CHECK(selector.get_map().count(key.fd) == 1);
        if (walked++ == 0) {
            for (auto& p : added) {
                p = pysock::socketpair();
                selector.register_(p.first, sel::EVENT_WRITE);
            }
        }
    }
    CHECK(walked == first.size());
    CHECK(selector.select(READY_WAIT).size() == first.size() + added.size());
}

TEST_CASE_TEMPLATE("many sockets are reported, each once", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    std::vector<std::pair<pysock::socket, pysock::socket>> pairs;
    for (int i = 0; i < 100; ++i) pairs.push_back(pysock::socketpair());
    for (auto& p : pairs) selector.register_(p.first, sel::EVENT_WRITE);
    std::vector<int> seen(pairs.size(), 0);
    const auto& ready = selector.select(READY_WAIT);
    CHECK(ready.size() == pairs.size());
    for (const auto& [key, events] : ready) {
        for (std::size_t i = 0; i < pairs.size(); ++i)
            if (key.fileobj == &pairs[i].first) ++seen[i];
    }
    for (int n : seen) CHECK(n == 1);
    // Unregistering half leaves the other half, in whatever order the swaps left them.
    for (std::size_t i = 0; i < pairs.size(); i += 2) selector.unregister(pairs[i].first);
    CHECK(selector.select(READY_WAIT).size() == pairs.size() / 2);
}

// =============================================================================================
// select(): timeouts and signals
// =============================================================================================

TEST_CASE_TEMPLATE("a timeout of zero or less polls without blocking", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    selector.register_(a, sel::EVENT_READ);
    for (double t : {0.0, -1.0}) {
        auto start = clock_type::now();
        CHECK(selector.select(t).empty());
        CHECK(seconds_since(start) < 1.0);
    }
}

TEST_CASE_TEMPLATE("select never returns before its timeout", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    selector.register_(a, sel::EVENT_READ);
    for (double t : {0.0001, 0.0015, 0.05}) {  // sub-millisecond: rounded up, never down to 0
        CAPTURE(t);
        auto start = clock_type::now();
        CHECK(selector.select(t).empty());
        double elapsed = seconds_since(start);
        CHECK(elapsed >= t);
        CHECK(elapsed < t + 5.0);
    }
}

TEST_CASE_TEMPLATE("an empty selector with a timeout sleeps that long", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto start = clock_type::now();
    CHECK(selector.select(0.05).empty());
    CHECK(seconds_since(start) >= 0.05);
}

TEST_CASE_TEMPLATE("a NaN timeout is a ValueError", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    expect_raises<std::invalid_argument>(
        [&] { selector.select(std::numeric_limits<double>::quiet_NaN()); });
}

TEST_CASE_TEMPLATE("select without a timeout blocks until another thread writes", S,
                   PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_READ);
    std::atomic<bool> writing{false};
    peer_thread writer([&] {
        writing = true;
        b.sendall("wake");
    });
    const auto& ready = selector.select();  // the wake-up pattern: a socketpair written elsewhere
    CHECK(writing.load());
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second == sel::EVENT_READ);
    writer.join();
}

#if defined(__linux__)
TEST_CASE_TEMPLATE(
    "a signal during select is retried with the time left" * doctest::skip(!can_see_syscalls()) *
        doctest::description("needs /proc/self/task/<tid>/syscall to see the thread blocked"),
    S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    selector.register_(a, sel::EVENT_READ);
    signal_handler_guard handler;
    target_thread me;
    std::atomic<bool> delivered{false};
    peer_thread interrupter([&] {
        if (wait_until_blocked(me.tid)) {
            me.interrupt();
            delivered = wait_until_signals(1);
        }
    });
    auto start = clock_type::now();
    CHECK(selector.select(0.3).empty());  // PEP 475: not InterruptedError, not early
    double elapsed = seconds_since(start);
    interrupter.join();
    CHECK(delivered.load());
    CHECK(signals_caught.load() >= 1);
    CHECK(elapsed >= 0.3);
}

TEST_CASE_TEMPLATE("a signal during a blocking select does not end it", S, PYSOCK_TEST_SELECTORS) {
    S selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    selector.register_(a, sel::EVENT_READ);
    signal_handler_guard handler;
    target_thread me;
    peer_thread interrupter([&] {
        REQUIRE(wait_until_blocked(me.tid));
        me.interrupt();
        REQUIRE(wait_until_signals(1));
        REQUIRE(wait_until_blocked(me.tid));  // back in the kernel after the handler ran
        b.sendall("x");
    });
    const auto& ready = selector.select();
    interrupter.join();
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second == sel::EVENT_READ);
}
#endif

// =============================================================================================
// Limits, resources, allocation
// =============================================================================================

#if !defined(_WIN32)
TEST_CASE(
    "a descriptor above FD_SETSIZE works with poll and epoll, and select_selector refuses it") {
    ::rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    if (limit.rlim_cur < FD_SETSIZE + 16) {
        ::rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max < FD_SETSIZE + 64 ? limit.rlim_max : FD_SETSIZE + 64;
        ::setrlimit(RLIMIT_NOFILE, &raised);
    }
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::socket& b = pair.second;
    int high = ::fcntl(a.fileno(), F_DUPFD_CLOEXEC, FD_SETSIZE + 8);
    if (high < 0) {
        ::setrlimit(RLIMIT_NOFILE, &limit);
        FAIL("cannot get a descriptor above FD_SETSIZE: errno " << errno);
    }
    pysock::socket big = pysock::socket::from_fd(high);
    CHECK(big.fileno() >= FD_SETSIZE);
    b.sendall("x");

    sel::select_selector by_select;
    auto r =
        expect_raises<std::invalid_argument>([&] { by_select.register_(big, sel::EVENT_READ); });
    CHECK(r.what == "filedescriptor out of range in select()");
    CHECK(by_select.get_map().size() == 0);

    sel::poll_selector by_poll;
    by_poll.register_(big, sel::EVENT_READ);
    CHECK(by_poll.select(READY_WAIT).size() == 1);
#if PYSOCK_HAVE_EPOLL
    sel::epoll_selector by_epoll;
    by_epoll.register_(big, sel::EVENT_READ);
    CHECK(by_epoll.select(READY_WAIT).size() == 1);
#endif
    big.close();
    ::setrlimit(RLIMIT_NOFILE, &limit);
}
#endif

TEST_CASE_TEMPLATE(
    "select makes no allocation in steady state" * doctest::skip(!bench::allocations_counted()) *
        doctest::description("ThreadSanitizer's runtime owns operator new: nothing to count with"),
    S, PYSOCK_TEST_SELECTORS) {
    S selector;
    std::vector<std::pair<pysock::socket, pysock::socket>> pairs;
    for (int i = 0; i < 32; ++i) pairs.push_back(pysock::socketpair());
    for (auto& p : pairs) selector.register_(p.first, sel::EVENT_READ | sel::EVENT_WRITE);
    selector.select(0);  // the first call may size what later calls reuse
    unsigned long long before = bench::allocations();
    std::size_t reported = 0;
    for (int round = 0; round < 100; ++round) reported += selector.select(0).size();
    selector.select(0.001);  // a wait with a deadline too
    unsigned long long after = bench::allocations();
    CHECK(reported == 100 * pairs.size());
    CHECK(after - before == 0);
}

#if PYSOCK_HAVE_EPOLL
TEST_CASE("epoll_selector has a close-on-exec epoll descriptor, released by close") {
    sel::epoll_selector selector;
    int fd = selector.fileno();
    REQUIRE(fd >= 0);
    int flags = ::fcntl(fd, F_GETFD);
    CHECK((flags & FD_CLOEXEC) != 0);
    selector.close();
    CHECK(selector.fileno() == -1);
    CHECK(::fcntl(fd, F_GETFD) == -1);
    CHECK(errno == EBADF);
}

TEST_CASE("epoll refuses a regular file with PermissionError, and no key is left behind") {
    sel::epoll_selector selector;
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto r =
        expect_raises<pysock::permission_error>([&] { selector.register_(fd, sel::EVENT_READ); });
    CHECK(r.code.value() == EPERM);
    CHECK(selector.get_map().size() == 0);
    ::close(fd);
}

TEST_CASE(
    "epoll: modify of a descriptor closed behind the selector's back raises and unregisters it") {
    sel::epoll_selector selector;
    auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
    pysock::socket& a = pair.first;
    pysock::native_handle_type fd = a.fileno();
    selector.register_(fd, sel::EVENT_READ);
    a.close();
    expect_raises<pysock::error>([&] { selector.modify(fd, sel::EVENT_WRITE); });
    expect_raises<sel::key_error>([&] { selector.get_key(fd); });
}

TEST_CASE("destroying a selector releases its descriptor") {
    int fd = -1;
    {
        sel::epoll_selector selector;
        fd = selector.fileno();
        CHECK(::fcntl(fd, F_GETFD) >= 0);
    }
    CHECK(::fcntl(fd, F_GETFD) == -1);
}
#endif

// =============================================================================================
// Non-blocking connect, as in the selectors tutorial
// =============================================================================================

TEST_CASE_TEMPLATE("a non-blocking connect completes when the socket becomes writable", S,
                   PYSOCK_TEST_SELECTORS) {
    pysock::socket listener = make_listener();
    pysock::socket client;
    client.setblocking(false);
    int err = client.connect_ex(listener.getsockname());
    // EINPROGRESS on POSIX, WSAEWOULDBLOCK on Windows; a loopback connect may also finish at once.
    CHECK((err == 0 || err == EINPROGRESS || err == EWOULDBLOCK));
    S selector;
    selector.register_(client, sel::EVENT_WRITE);
    const auto& ready = selector.select(READY_WAIT);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].second == sel::EVENT_WRITE);
    CHECK(client.getsockopt(SOL_SOCKET, SO_ERROR) == 0);
    auto [conn, addr] = listener.accept();
    CHECK(addr == client.getsockname());
}

TEST_CASE_TEMPLATE("a refused non-blocking connect is reported by SO_ERROR", S,
                   PYSOCK_TEST_SELECTORS) {
    refusing_port nobody;
    const pysock::address closed_port = nobody.addr;
    pysock::socket client;
    client.setblocking(false);
    int err = client.connect_ex(closed_port);
    // Usually in progress; a system may also refuse a loopback connect at once.
    REQUIRE((err == EINPROGRESS || err == EWOULDBLOCK || err == ECONNREFUSED));
    if (err != ECONNREFUSED) {
        S selector;
        selector.register_(client, sel::EVENT_WRITE);
        const auto& ready = selector.select(READY_WAIT);
        REQUIRE(ready.size() == 1);
        CHECK((ready[0].second & sel::EVENT_WRITE) != 0);
        CHECK(client.getsockopt(SOL_SOCKET, SO_ERROR) == ECONNREFUSED);
    }
}

// =============================================================================================
// The non-throwing twins of the socket calls
// =============================================================================================

TEST_SUITE("error_code calls") {

    TEST_CASE("recv_into with an error_code reports a would-block without throwing") {
        auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
        pysock::socket& a = pair.first;
        pysock::socket& b = pair.second;
        a.setblocking(false);
        char buf[16];
        std::error_code ec = std::make_error_code(std::errc::io_error);
        CHECK(a.recv_into(buf, sizeof buf, ec) == 0);
        CHECK(would_block(ec));
        CHECK(ec.category() == os_category());
        b.sendall("abc");
        std::string buffer(8, '\0');
        auto start = clock_type::now();
        std::size_t n = 0;
        do {  // the bytes may take a moment to arrive on loopback: wait for them, bounded
            n = a.recv_into(buffer, ec);
        } while (would_block(ec) && seconds_since(start) < SAFETY_TIMEOUT);
        CHECK_FALSE(ec);
        CHECK(buffer.substr(0, n) == "abc");
    }

    TEST_CASE("is_blocking_io recognises Python's BlockingIOError codes, and nothing else") {
        CHECK(pysock::is_blocking_io(std::error_code(EWOULDBLOCK, os_category())));
        CHECK(pysock::is_blocking_io(std::error_code(EINPROGRESS, os_category())));
        CHECK(pysock::is_blocking_io(std::error_code(EALREADY, os_category())));
        CHECK_FALSE(pysock::is_blocking_io(std::error_code()));
        CHECK_FALSE(pysock::is_blocking_io(std::error_code(ECONNRESET, os_category())));
        CHECK_FALSE(pysock::is_blocking_io(std::error_code(ETIMEDOUT, os_category())));
        CHECK_FALSE(pysock::is_blocking_io(std::error_code(EWOULDBLOCK, pysock::gai_category())));
#if !defined(_WIN32)
        CHECK(std::error_code(EAGAIN, os_category()) ==
              std::errc::operation_would_block);  // POSIX only
#endif
    }

    TEST_CASE("recv and send with an error_code move data and clear the code") {
        auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
        pysock::socket& a = pair.first;
        pysock::socket& b = pair.second;
        std::error_code ec = std::make_error_code(std::errc::io_error);
        CHECK(a.send("hello", ec) == 5);
        CHECK_FALSE(ec);
        ec = std::make_error_code(std::errc::io_error);
        CHECK(b.recv(16, ec) == "hello");
        CHECK_FALSE(ec);
        a.close();
        CHECK(b.recv(16, 0, ec).empty());  // EOF is not an error
        CHECK_FALSE(ec);
    }

    TEST_CASE("a closed socket's error_code calls report the closed-socket error") {
        pysock::socket s;
        s.close();
        std::error_code ec;
        char buf[4];
        CHECK(s.recv_into(buf, sizeof buf, ec) == 0);
        CHECK(ec.value() == closed_socket_errno);
        CHECK(s.send("x", ec) == 0);
        CHECK(ec.value() == closed_socket_errno);
        CHECK(s.sendto("x", {"127.0.0.1", 9}, ec) == 0);
        CHECK(ec.value() == closed_socket_errno);
        auto [conn, addr] = s.accept(ec);
        CHECK(ec.value() == closed_socket_errno);
        CHECK(conn.fileno() == pysock::native_handle_type(-1));
    }

    TEST_CASE("send with an error_code fills the buffer, then reports a would-block") {
        auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
        pysock::socket& a = pair.first;
        a.setblocking(false);
        std::string chunk(65536, 'x');
        std::error_code ec;
        std::size_t total = 0;
        for (int i = 0; i < 10000 && !ec; ++i) total += a.send(chunk, ec);
        CHECK(would_block(ec));
        CHECK(total > 0);
    }

    TEST_CASE("a timeout reports ETIMEDOUT in the error_code") {
        auto pair = pysock::socketpair();  // named: clang 14 lambdas cannot capture bindings
        pysock::socket& a = pair.first;
        a.settimeout(0.05);
        std::error_code ec;
        char buf[4];
        auto start = clock_type::now();
        CHECK(a.recv_into(buf, sizeof buf, ec) == 0);
        CHECK(ec.value() == ETIMEDOUT);
        CHECK(seconds_since(start) >= 0.04);
    }

    TEST_CASE("accept with an error_code: a would-block, then a connection") {
        pysock::socket listener = make_listener();
        listener.setblocking(false);
        std::error_code ec;
        auto [none, none_addr] = listener.accept(ec);
        CHECK(would_block(ec));
        CHECK(none.fileno() == pysock::native_handle_type(-1));
        pysock::socket client;
        client.connect(listener.getsockname());
        sel::default_selector selector;
        selector.register_(listener, sel::EVENT_READ);
        REQUIRE(selector.select(READY_WAIT).size() == 1);
        auto [conn, addr] = listener.accept(ec);
        CHECK_FALSE(ec);
        CHECK(conn.fileno() != pysock::native_handle_type(-1));
        CHECK(addr == client.getsockname());
    }

    TEST_CASE("connect with an error_code reports refusal, a bad name and a non-blocking start") {
        refusing_port nobody;
        const pysock::address closed_port = nobody.addr;
        std::error_code ec;
        {
            pysock::socket s;
            s.settimeout(SAFETY_TIMEOUT);
            s.connect(closed_port, ec);
            CHECK(ec.value() == ECONNREFUSED);
        }
        {
            pysock::socket s;
            s.connect({"no-such-host.invalid", 80}, ec);
            CHECK(ec.category() == pysock::gai_category());
        }
        {
            pysock::socket s;
            s.connect({"127.0.0.1", 1, 0, 0}, ec);  // a 4-tuple on an AF_INET socket
            CHECK(ec);
        }
        {
            pysock::socket listener = make_listener();
            pysock::socket s;
            s.setblocking(false);
            s.connect(listener.getsockname(), ec);
            CHECK((!ec || ec.value() == EINPROGRESS || ec.value() == EWOULDBLOCK));
        }
    }

    TEST_CASE("sendto and recvfrom_into with an error_code carry datagrams and addresses") {
        pysock::socket receiver(AF_INET, SOCK_DGRAM);
        receiver.bind({"127.0.0.1", 0});
        receiver.settimeout(SAFETY_TIMEOUT);
        pysock::socket sender(AF_INET, SOCK_DGRAM);
        sender.bind({"127.0.0.1", 0});
        std::error_code ec;
        CHECK(sender.sendto("datagram", receiver.getsockname(), ec) == 8);
        CHECK_FALSE(ec);
        char buf[32];
        auto [n, from] = receiver.recvfrom_into(buf, sizeof buf, ec);
        CHECK_FALSE(ec);
        CHECK(std::string(buf, n) == "datagram");
        CHECK(from == sender.getsockname());
        CHECK(sender.sendto("x", 0, {"no-such-host.invalid", 9}, ec) == 0);
        CHECK(ec.category() == pysock::gai_category());
    }

}  // TEST_SUITE
