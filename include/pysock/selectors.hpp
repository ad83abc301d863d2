// SPDX-License-Identifier: MIT
// pysock 1.0.0 — Python's selectors module, the companion of socket.hpp.
// Copyright (c) 2026 the pysock authors. See LICENSE.
//
// ---------------------------------------------------------------------------------------------
// What this is
// ---------------------------------------------------------------------------------------------
// If you know Python's `import selectors`, you know this header. One thread serves many
// connections by asking which sockets are ready, then doing only what cannot block:
//
//     namespace sel = pysock::selectors;
//     sel::default_selector selector;                        // sel = selectors.DefaultSelector()
//     listener.setblocking(false);                           // lsock.setblocking(False)
//     selector.register_(listener, sel::EVENT_READ);         // sel.register(lsock, EVENT_READ)
//     for (;;)                                               // while True:
//         for (auto& [key, events] : selector.select())      //     for key, mask in sel.select():
//             ...                                            //         ...
//
// Each selector keeps a map from descriptor to `selector_key` (fileobj, fd, events, data), as
// Python's does; `register_` (PEP 8's trailing underscore: `register` is a C++ keyword) adds one,
// `modify` changes it, `unregister` removes it, and `select` returns the ready keys with the
// subset of their events that is ready. `data` is a std::any: put there what the loop needs
// to find its state (a pointer, an index, a shared_ptr).
//
// The selectors
// -------------
//   select_selector   select(): everywhere; on POSIX only descriptors below FD_SETSIZE (1024)
//                     (on Windows pysock sizes the sets itself: no limit)
//   poll_selector     poll(), WSAPoll() on Windows: no descriptor limit, O(n) per call
//   epoll_selector    Linux's epoll: O(ready) per call; fileno() is the epoll descriptor
//   kqueue_selector   BSD and macOS kqueue: O(ready) per call; fileno() is the kqueue
//   default_selector  the best of them here: epoll on Linux, kqueue on the BSDs and macOS,
//                     poll elsewhere (WSAPoll on Windows), as Python's DefaultSelector
//
// The error model (as socket.hpp's, and as Python raises)
// --------------------------------------------------------
//   invalid events (0, or bits outside EVENT_READ | EVENT_WRITE), an invalid descriptor
//   (a closed socket, -1), a descriptor select() cannot hold, a NaN timeout
//                                          -> std::invalid_argument   (ValueError)
//   registering twice; get_key, modify or unregister of something not registered
//                                          -> key_error, a std::out_of_range (KeyError)
//   a call on a closed selector            -> std::invalid_argument   (ValueError: "I/O
//                                             operation on closed selector")
//   what the system refuses (epoll_ctl on a regular file, EMFILE...)
//                                          -> pysock::error and its subclasses (OSError)
// EINTR is retried with the time left (PEP 475); a timeout never ends early (a sub-millisecond
// timeout is rounded up, as CPython does for epoll and poll).
//
// Lifetimes
// ---------
// A key refers to its socket by address (Python keeps a reference): the socket must stay
// where it is (not be moved or destroyed) while registered. Unregistering a socket that was
// closed after it was registered works, as in Python: a closed socket is found by identity.
// The list select() returns is the selector's own buffer, reused by the next call (no
// allocation in steady state); the keys in it stay valid until the next select() even when
// they are unregistered meanwhile, so a loop may unregister any key while it iterates.
//
// Thread safety
// -------------
// A selector is used by one thread at a time, as Python's. To wake a thread blocked in
// select() from another thread, register one end of a socketpair() and write to the other.
// Several threads may each run their own selector (see examples/multiconn_threads.cpp).
//
// Layout of this file
// -------------------
//   1. Configuration        which selectors this platform has
//   2. System headers
//   3. Declarations         events, selector_key, key_error, the selector classes
//   4. Platform layer       pysock::selectors::detail: each system's polling calls, one
//                           backend class per mechanism (the only place platforms differ)
//   5. Implementation       the bookkeeping every selector shares
//   6. Internal macros are #undef'd at the end
// ---------------------------------------------------------------------------------------------
#ifndef PYSOCK_SELECTORS_HPP
#define PYSOCK_SELECTORS_HPP

// =============================================================================================
// 1. Configuration
// =============================================================================================

#include "socket.hpp"

// Which mechanisms exist here, by feature test (each can be forced to 0 to leave it out).
#ifndef PYSOCK_HAVE_EPOLL
#if defined(__linux__)
#define PYSOCK_HAVE_EPOLL 1
#else
#define PYSOCK_HAVE_EPOLL 0
#endif
#endif
#ifndef PYSOCK_HAVE_KQUEUE
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) ||   \
    defined(__DragonFly__)
#define PYSOCK_HAVE_KQUEUE 1
#else
#define PYSOCK_HAVE_KQUEUE 0
#endif
#endif

// =============================================================================================
// 2. System headers
// =============================================================================================

#if defined(_WIN32)
// socket.hpp brought <winsock2.h>: select(), WSAPoll() and Sleep().
#else
#include <poll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#endif
#if PYSOCK_HAVE_EPOLL
#include <sys/epoll.h>
#endif
#if PYSOCK_HAVE_KQUEUE
#include <sys/event.h>
#endif

#include <any>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pysock {
namespace selectors {

// =============================================================================================
// 3. Declarations
// =============================================================================================

/// selectors.EVENT_READ and selectors.EVENT_WRITE.
inline constexpr int EVENT_READ = 1;
inline constexpr int EVENT_WRITE = 2;

/// selectors.SelectorKey: what was registered. `fileobj` is null when a raw descriptor was.
struct selector_key {
    const socket* fileobj = nullptr;
    native_handle_type fd = pysock::detail::invalid_handle;
    int events = 0;
    std::any data;
};

/// Python's KeyError from a selector: registered twice, or not registered.
class key_error : public std::out_of_range {
public:
    using std::out_of_range::out_of_range;
};

/// What get_map() returns: every key by descriptor (`size()`, `at(fd)`, `count(fd)`, iteration
/// as `for (const auto& [fd, key] : map)`). Python's mapping; read-only through get_map().
using selector_map = std::unordered_map<native_handle_type, selector_key>;

/// One result of select(): the registered key itself (change `key.data` there and later calls
/// see it) and the ready subset of its events. `auto& [key, events]` unpacks it.
using ready_event = std::pair<selector_key&, int>;

namespace detail {

/// A table by descriptor: a vector indexed by descriptor on POSIX (descriptors are small
/// integers: one load per lookup), a hash map on Windows (a SOCKET is an opaque handle).
/// T{} means "absent".
template <class T>
class fd_table {
public:
    T get(native_handle_type fd) const noexcept {
#if defined(_WIN32)
        auto it = map_.find(fd);
        return it == map_.end() ? T{} : it->second;
#else
        auto i = static_cast<std::size_t>(fd);
        return i < slots_.size() ? slots_[i] : T{};
#endif
    }
    void set(native_handle_type fd, T value) {
#if defined(_WIN32)
        map_[fd] = value;
#else
        auto i = static_cast<std::size_t>(fd);
        if (i >= slots_.size())
            slots_.resize(i + 1 > 2 * slots_.size() ? i + 1 : 2 * slots_.size());
        slots_[i] = value;
#endif
    }
    /// Changes the value of a descriptor that has an entry (set() made it); never allocates.
    void overwrite(native_handle_type fd, T value) noexcept {
#if defined(_WIN32)
        auto it = map_.find(fd);
        if (it != map_.end()) it->second = value;
#else
        auto i = static_cast<std::size_t>(fd);
        if (i < slots_.size()) slots_[i] = value;
#endif
    }
    void erase(native_handle_type fd) noexcept {
#if defined(_WIN32)
        map_.erase(fd);
#else
        auto i = static_cast<std::size_t>(fd);
        if (i < slots_.size()) slots_[i] = T{};
#endif
    }
    void clear() noexcept {
#if defined(_WIN32)
        map_.clear();
#else
        slots_.clear();
#endif
    }

private:
#if defined(_WIN32)
    std::unordered_map<native_handle_type, T> map_;
#else
    std::vector<T> slots_;
#endif
};

/// The bookkeeping every selector shares (Python's _BaseSelectorImpl): the key map, lookups with
/// Python's errors, the reused result list, and the timeout loop. Section 5.
class selector_core {
public:
    selector_core() = default;
    selector_core(const selector_core&) = delete;
    selector_core& operator=(const selector_core&) = delete;

    /// The key of `fd`, or null: what a backend calls for each ready descriptor.
    selector_key* find(native_handle_type fd) const noexcept { return index_.get(fd); }
    /// Appends a ready key to the current result list (select() reserved room for every key).
    void ready(selector_key& key, int events) {
        ready_.emplace_back(key, events);
        reported_round_.overwrite(key.fd, round_);
    }
    /// For mechanisms that report a descriptor once per direction (kqueue, Windows select):
    /// adds `events` to the key's result of this round, or appends one. end_merge() after the
    /// round forgets the positions. No allocation: every registered descriptor has its slot.
    void ready_merged(selector_key& key, int events) {
        if (events == 0) return;
        if (std::size_t pos = merge_pos_.get(key.fd)) {
            ready_[pos - 1].second |= events;
            return;
        }
        ready(key, events);
        merge_pos_.overwrite(key.fd, ready_.size());
    }
    void end_merge() noexcept {
        for (const ready_event& r : ready_) merge_pos_.overwrite(r.first.fd, 0);
    }

protected:
    void check_open() const;
    static void check_events(int events);
    static void check_fd(native_handle_type fd);
    /// Python's _fileobj_lookup: the socket's descriptor, or for a closed socket the descriptor
    /// it was registered with (found by identity). @throws std::invalid_argument.
    native_handle_type fd_of(const socket& sock) const;
    /// Adds a key. @throws key_error when fd is registered already.
    selector_key& add_key(const socket* fileobj, native_handle_type fd, int events, std::any data);
    /// The registered key of fd. @throws key_error naming the socket (or the descriptor).
    selector_key& key_of(native_handle_type fd, const socket* sock) const;
    /// Removes fd's key from the map and returns a copy; a key the last select() returned lives
    /// on until the next select().
    selector_key retire_key(native_handle_type fd) noexcept;
    /// Runs `wait(timeout_ns)` (a backend's one system call) until something is ready, the
    /// deadline passes, or an error other than EINTR: PEP 475 with a total timeout.
    template <class Wait>
    const std::vector<ready_event>& run_select(std::optional<double> timeout, Wait&& wait);
    void close_core() noexcept;
    static std::string describe(const socket* sock, native_handle_type fd);

    selector_map map_;
    fd_table<selector_key*> index_;
    fd_table<std::size_t> merge_pos_;         // ready_merged(): a key's position in ready_, plus 1
    fd_table<std::uint64_t> reported_round_;  // the last select() round that returned the key
    std::uint64_t round_ = 1;                 // select() calls so far, plus 1 (0: never reported)
    std::vector<selector_map::node_type> retired_;  // unregistered keys the last select() returned
    std::vector<ready_event> ready_;
    bool closed_ = false;
};

}  // namespace detail

/// The interface every selector shares (Python's BaseSelector), over one polling mechanism.
/// Not copyable nor movable: the system holds descriptors that refer to it.
template <class Backend>
class basic_selector : protected detail::selector_core {
public:
    /// @throws error when the system refuses a new poller (EMFILE...).
    basic_selector() = default;
    ~basic_selector() { close(); }

    /// selector.register(fileobj, events, data): watches `sock` for `events` (EVENT_READ,
    /// EVENT_WRITE or both). @throws std::invalid_argument (bad events, closed socket, a
    /// descriptor select() cannot hold), key_error (registered already), error (the system).
    selector_key& register_(const socket& sock, int events, std::any data = {}) {
        check_open();
        check_events(events);
        native_handle_type fd = sock.fileno();
        check_fd(fd);
        return register_key(&sock, fd, events, std::move(data));
    }
    /// selector.register(fd, events, data) for a raw descriptor (key.fileobj is null).
    selector_key& register_(native_handle_type fd, int events, std::any data = {}) {
        check_open();
        check_events(events);
        check_fd(fd);
        return register_key(nullptr, fd, events, std::move(data));
    }

    /// selector.unregister(fileobj): stops watching and returns the key it had.
    /// @throws key_error (not registered), std::invalid_argument (closed and never registered).
    selector_key unregister(const socket& sock) {
        check_open();
        return unregister_key(fd_of(sock), &sock);
    }
    selector_key unregister(native_handle_type fd) {
        check_open();
        check_fd(fd);
        return unregister_key(fd, nullptr);
    }

    /// selector.modify(fileobj, events, data): new events and data (data is replaced, by an
    /// empty std::any when not given, as Python replaces it by None).
    /// @throws std::invalid_argument, key_error, error (the system; the key is then removed).
    selector_key& modify(const socket& sock, int events, std::any data = {}) {
        check_open();
        check_events(events);
        return modify_key(fd_of(sock), &sock, events, std::move(data));
    }
    selector_key& modify(native_handle_type fd, int events, std::any data = {}) {
        check_open();
        check_events(events);
        check_fd(fd);
        return modify_key(fd, nullptr, events, std::move(data));
    }

    /// selector.select(timeout): waits until a registered descriptor is ready and returns every
    /// ready key with its ready events. nullopt blocks; <= 0 polls without blocking; > 0 waits at
    /// most that long (never less) and returns an empty list on timeout. One system call; no
    /// allocation. The list is reused by the next call. @throws std::invalid_argument (NaN),
    /// error.
    const std::vector<ready_event>& select(std::optional<double> timeout = std::nullopt) {
        check_open();
        return run_select(
            timeout, [this](std::int64_t timeout_ns) { return backend_.wait(timeout_ns, *this); });
    }

    /// selector.get_key(fileobj). @throws key_error, std::invalid_argument.
    selector_key& get_key(const socket& sock) {
        check_open();
        return key_of(fd_of(sock), &sock);
    }
    selector_key& get_key(native_handle_type fd) {
        check_open();
        check_fd(fd);
        return key_of(fd, nullptr);
    }
    /// selector.get_map(): every key by descriptor. @throws std::invalid_argument when closed
    /// (Python returns None).
    const selector_map& get_map() const {
        check_open();
        return map_;
    }

    /// selector.close(): releases the system's poller and forgets every key. Idempotent.
    void close() noexcept {
        if (closed_) return;
        backend_.close();
        close_core();
    }
    /// Whether close() was called (Python's get_map() then returns None).
    bool closed() const noexcept { return closed_; }

protected:
    Backend backend_;

private:
    selector_key& register_key(const socket* fileobj, native_handle_type fd, int events,
                               std::any data) {
        Backend::check_capacity(fd);
        selector_key& key = add_key(fileobj, fd, events, std::move(data));
        try {
            backend_.add(fd, events, map_.size());
        } catch (...) {
            retire_key(fd);
            throw;
        }
        return key;
    }
    selector_key unregister_key(native_handle_type fd, const socket* sock) {
        selector_key& key = key_of(fd, sock);
        backend_.remove(fd, key.events);
        return retire_key(fd);
    }
    selector_key& modify_key(native_handle_type fd, const socket* sock, int events, std::any data) {
        selector_key& key = key_of(fd, sock);
        if (events != key.events) {
            try {
                backend_.modify(fd, key.events, events);
            } catch (...) {
                backend_.remove(fd, key.events);
                retire_key(fd);
                throw;
            }
            key.events = events;
        }
        key.data = std::move(data);
        return key;
    }
};

namespace detail {
class select_backend;
class poll_backend;
#if PYSOCK_HAVE_EPOLL
class epoll_backend;
#endif
#if PYSOCK_HAVE_KQUEUE
class kqueue_backend;
#endif
}  // namespace detail

// The classes are declared after their backends (section 4), which they hold by value.

// =============================================================================================
// 4. Platform layer: each system's polling calls
// =============================================================================================
// Each backend offers the same five operations: check_capacity(fd) (static), add(fd, events,
// count), modify(fd, old, new), remove(fd, old) (never throws: a closed descriptor is already
// gone from the kernel's sets) and wait(timeout_ns, core) (one system call; reports each ready
// descriptor to core.ready() and returns the kernel's count, or -1 with the error in
// last_error()), plus close().

namespace detail {

using pysock::detail::interrupted;
using pysock::detail::last_error;
using pysock::detail::raise_last_error;
using pysock::detail::timeout_ms;  // rounded up, as CPython rounds
using pysock::detail::timeout_timeval;

/// Python's mapping of a poll()-style result to selector events: anything besides "readable"
/// (POLLOUT, POLLERR, POLLHUP) makes the key writable, anything besides "writable" readable,
/// so an error or a hang-up wakes a reader and a writer alike.
inline int ready_events(unsigned revents, unsigned readable, unsigned writable) noexcept {
    int events = 0;
    if (revents & ~readable) events |= EVENT_WRITE;
    if (revents & ~writable) events |= EVENT_READ;
    return events;
}

#if defined(_WIN32)
// ---------------------------------------------------------------------------------------------
// Windows: Winsock's select() and WSAPoll(). Both refuse an empty set of sockets, where POSIX
// sleeps for the timeout: pysock sleeps then, as CPython's select module does.
// ---------------------------------------------------------------------------------------------

inline void sleep_for_timeout(std::int64_t timeout_ns) noexcept {
    ::Sleep(timeout_ns < 0 ? INFINITE : static_cast<DWORD>(timeout_ms(timeout_ns)));
}

using poll_entry = ::WSAPOLLFD;
inline int sys_poll(poll_entry* fds, std::size_t n, int ms) noexcept {
    return ::WSAPoll(fds, static_cast<ULONG>(n), ms);
}

/// select() on Windows: an fd_set is a count and an array of handles, and FD_SETSIZE (64)
/// limits the count, not the handle values. pysock lays out sets of any size itself.
class select_backend {
public:
    static void check_capacity(native_handle_type) noexcept {}
    void add(native_handle_type fd, int events, std::size_t) {
        if (events & EVENT_READ) read_.push_back(fd);
        if (events & EVENT_WRITE) write_.push_back(fd);
        reserve();
    }
    void modify(native_handle_type fd, int old_events, int events) {
        remove(fd, old_events);
        add(fd, events, 0);
    }
    void remove(native_handle_type fd, int) noexcept {
        erase(read_, fd);
        erase(write_, fd);
    }
    int wait(std::int64_t timeout_ns, selector_core& core) {
        if (read_.empty() && write_.empty()) {
            sleep_for_timeout(timeout_ns);
            return 0;
        }
        ::fd_set* r = fill(read_work_, read_);
        ::fd_set* w = fill(write_work_, write_);
        // As CPython on Windows: a failed non-blocking connect() is reported in the except set.
        ::fd_set* x = fill(except_work_, write_);
        ::timeval tv = timeout_timeval(timeout_ns);
        int n = ::select(0, r, w, x, timeout_ns >= 0 ? &tv : nullptr);
        if (n <= 0) return n;
        for (u_int i = 0; i < r->fd_count; ++i) report(core, r->fd_array[i], EVENT_READ);
        for (u_int i = 0; i < w->fd_count; ++i) report(core, w->fd_array[i], EVENT_WRITE);
        for (u_int i = 0; i < x->fd_count; ++i) report(core, x->fd_array[i], EVENT_WRITE);
        core.end_merge();
        return n;
    }
    void close() noexcept {}

private:
    static void erase(std::vector<native_handle_type>& list, native_handle_type fd) noexcept {
        for (auto& s : list) {
            if (s == fd) {
                s = list.back();
                list.pop_back();
                return;
            }
        }
    }
    void reserve() {
        // One SOCKET-sized slot holds the count (u_int, padded to the array's alignment).
        read_work_.resize(read_.size() + 1);
        write_work_.resize(write_.size() + 1);
        except_work_.resize(write_.size() + 1);
    }
    static ::fd_set* fill(std::vector<native_handle_type>& work,
                          const std::vector<native_handle_type>& from) noexcept {
        auto* set = reinterpret_cast<::fd_set*>(work.data());
        set->fd_count = static_cast<u_int>(from.size());
        for (std::size_t i = 0; i < from.size(); ++i) set->fd_array[i] = from[i];
        return set;
    }
    // A socket both readable and writable appears in two sets: merged into one result.
    static void report(selector_core& core, native_handle_type fd, int events) {
        if (selector_key* key = core.find(fd)) core.ready_merged(*key, events & key->events);
    }
    std::vector<native_handle_type> read_, write_;
    std::vector<native_handle_type> read_work_{1}, write_work_{1}, except_work_{1};
};

#else
// ---------------------------------------------------------------------------------------------
// POSIX: select() and poll(); epoll on Linux; kqueue on the BSDs and macOS.
// ---------------------------------------------------------------------------------------------

inline void sleep_for_timeout(std::int64_t) noexcept {}  // POSIX waits on an empty set itself

using poll_entry = ::pollfd;
inline int sys_poll(poll_entry* fds, std::size_t n, int ms) noexcept {
    return ::poll(fds, static_cast<::nfds_t>(n), ms);
}

/// select() on POSIX: bit sets indexed by descriptor, so descriptors >= FD_SETSIZE cannot be
/// held (Python raises ValueError at select time; pysock at registration, where it can be fixed).
class select_backend {
public:
    select_backend() noexcept {
        FD_ZERO(&read_);
        FD_ZERO(&write_);
    }
    static void check_capacity(native_handle_type fd) {
        if (fd >= FD_SETSIZE)
            throw std::invalid_argument("filedescriptor out of range in select()");
    }
    void add(native_handle_type fd, int events, std::size_t) noexcept {
        if (events & EVENT_READ) FD_SET(fd, &read_);
        if (events & EVENT_WRITE) FD_SET(fd, &write_);
        if (fd > max_fd_) max_fd_ = fd;
    }
    void modify(native_handle_type fd, int old_events, int events) noexcept {
        remove(fd, old_events);
        add(fd, events, 0);
    }
    void remove(native_handle_type fd, int) noexcept {
        FD_CLR(fd, &read_);
        FD_CLR(fd, &write_);
        while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &read_) && !FD_ISSET(max_fd_, &write_)) --max_fd_;
    }
    int wait(std::int64_t timeout_ns, selector_core& core) {
        ::fd_set r = read_, w = write_;
        ::timeval tv = timeout_timeval(timeout_ns);
        int n = ::select(max_fd_ + 1, &r, &w, nullptr, timeout_ns >= 0 ? &tv : nullptr);
        if (n <= 0) return n;
        int left = n;
        for (int fd = 0; fd <= max_fd_ && left > 0; ++fd) {
            int events = 0;
            if (FD_ISSET(fd, &r)) {
                events |= EVENT_READ;
                --left;
            }
            if (FD_ISSET(fd, &w)) {
                events |= EVENT_WRITE;
                --left;
            }
            if (events == 0) continue;
            if (selector_key* key = core.find(fd)) core.ready(*key, events & key->events);
        }
        return n;
    }
    void close() noexcept {}

private:
    ::fd_set read_, write_;
    int max_fd_ = -1;
};

#if PYSOCK_HAVE_EPOLL
/// Linux's epoll, level-triggered as Python's EpollSelector. The kernel reports the descriptor;
/// its key is found by index (never by a pointer kept in the kernel, which a descriptor closed
/// before it was unregistered could leave dangling).
class epoll_backend {
public:
    epoll_backend() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (ep_ < 0) raise_last_error();
    }
    epoll_backend(const epoll_backend&) = delete;
    epoll_backend& operator=(const epoll_backend&) = delete;
    ~epoll_backend() { close(); }
    static void check_capacity(native_handle_type) noexcept {}
    void add(native_handle_type fd, int events, std::size_t count) {
        if (events_.size() < count) events_.resize(count);
        control(EPOLL_CTL_ADD, fd, events);
    }
    void modify(native_handle_type fd, int, int events) { control(EPOLL_CTL_MOD, fd, events); }
    void remove(native_handle_type fd, int) noexcept {
        ::epoll_event ev{};
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, &ev);  // fails (EBADF, ENOENT) only when already gone
    }
    int wait(std::int64_t timeout_ns, selector_core& core) {
        int n = ::epoll_wait(ep_, events_.data(), static_cast<int>(events_.size()),
                             timeout_ms(timeout_ns));
        for (int i = 0; i < n; ++i) {
            const ::epoll_event& ev = events_[static_cast<std::size_t>(i)];
            if (selector_key* key = core.find(ev.data.fd))
                core.ready(*key, ready_events(ev.events, EPOLLIN, EPOLLOUT) & key->events);
        }
        return n;
    }
    void close() noexcept {
        if (ep_ >= 0) ::close(ep_);
        ep_ = -1;
    }
    int fileno() const noexcept { return ep_; }

private:
    void control(int op, native_handle_type fd, int events) {
        ::epoll_event ev{};
        ev.events =
            ((events & EVENT_READ) ? EPOLLIN : 0u) | ((events & EVENT_WRITE) ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        if (::epoll_ctl(ep_, op, fd, &ev) < 0) raise_last_error();
    }
    int ep_;
    std::vector<::epoll_event> events_ = std::vector<::epoll_event>(1);
};
#endif  // PYSOCK_HAVE_EPOLL

#if PYSOCK_HAVE_KQUEUE
/// kqueue (BSD, macOS): one filter per direction, so a descriptor ready both ways comes back
/// as two kernel events; pysock merges them into one result, as the other selectors give.
class kqueue_backend {
public:
    kqueue_backend() : kq_(::kqueue()) {
        if (kq_ < 0) raise_last_error();
        if (pysock::detail::set_cloexec(kq_, true) < 0) {
            int err = last_error();
            ::close(kq_);
            pysock::detail::raise_os_error(err);
        }
    }
    kqueue_backend(const kqueue_backend&) = delete;
    kqueue_backend& operator=(const kqueue_backend&) = delete;
    ~kqueue_backend() { close(); }
    static void check_capacity(native_handle_type) noexcept {}
    void add(native_handle_type fd, int events, std::size_t) {
        std::size_t filters = filters_ + filter_count(events);
        if (events_.size() < filters) events_.resize(filters);
        change(fd, events, EV_ADD);
        filters_ = filters;
    }
    void modify(native_handle_type fd, int old_events, int events) {
        if (int gone = old_events & ~events) {
            change_quietly(fd, gone, EV_DELETE);
            filters_ -= filter_count(gone);
        }
        if (int added = events & ~old_events) {
            std::size_t filters = filters_ + filter_count(added);
            if (events_.size() < filters) events_.resize(filters);
            change(fd, added, EV_ADD);
            filters_ = filters;
        }
    }
    void remove(native_handle_type fd, int events) noexcept {
        change_quietly(fd, events, EV_DELETE);
        filters_ -= filter_count(events);
    }
    int wait(std::int64_t timeout_ns, selector_core& core) {
        ::timespec ts{};
        ::timespec* tsp = nullptr;
        if (timeout_ns >= 0) {
            ts.tv_sec = static_cast<decltype(ts.tv_sec)>(timeout_ns / 1000000000);
            ts.tv_nsec = static_cast<decltype(ts.tv_nsec)>(timeout_ns % 1000000000);
            tsp = &ts;
        }
        int n = ::kevent(kq_, nullptr, 0, events_.data(), static_cast<int>(events_.size()), tsp);
        for (int i = 0; i < n; ++i) {
            const struct ::kevent& ev = events_[static_cast<std::size_t>(i)];
            auto fd = static_cast<native_handle_type>(ev.ident);
            selector_key* key = core.find(fd);
            if (!key) continue;
            int events = (ev.filter == EVFILT_READ ? EVENT_READ : 0) |
                         (ev.filter == EVFILT_WRITE ? EVENT_WRITE : 0);
            core.ready_merged(*key, events & key->events);
        }
        core.end_merge();
        return n;
    }
    void close() noexcept {
        if (kq_ >= 0) ::close(kq_);
        kq_ = -1;
    }
    int fileno() const noexcept { return kq_; }

private:
    static std::size_t filter_count(int events) noexcept {
        return ((events & EVENT_READ) ? 1u : 0u) + ((events & EVENT_WRITE) ? 1u : 0u);
    }
    int apply(native_handle_type fd, int events, unsigned short action) noexcept {
        struct ::kevent changes[2];
        int n = 0;
        if (events & EVENT_READ) EV_SET(&changes[n++], fd, EVFILT_READ, action, 0, 0, nullptr);
        if (events & EVENT_WRITE) EV_SET(&changes[n++], fd, EVFILT_WRITE, action, 0, 0, nullptr);
        return ::kevent(kq_, changes, n, nullptr, 0, nullptr);
    }
    void change(native_handle_type fd, int events, unsigned short action) {
        if (apply(fd, events, action) < 0) raise_last_error();
    }
    void change_quietly(native_handle_type fd, int events, unsigned short action) noexcept {
        apply(fd, events, action);
    }
    int kq_;
    std::size_t filters_ = 0;
    std::vector<struct ::kevent> events_ = std::vector<struct ::kevent>(1);
};
#endif  // PYSOCK_HAVE_KQUEUE

#endif  // _WIN32

/// poll() (WSAPoll() on Windows): an array of (descriptor, events), one slot per key.
class poll_backend {
public:
    static void check_capacity(native_handle_type) noexcept {}
    void add(native_handle_type fd, int events, std::size_t) {
        poll_entry entry{};
        entry.fd = fd;
        entry.events = mask(events);
        fds_.reserve(fds_.size() + 1);
        slots_.set(fd, fds_.size() + 1);  // slot + 1: 0 means absent
        fds_.push_back(entry);            // cannot throw: reserved
    }
    void modify(native_handle_type fd, int, int events) noexcept {
        fds_[slots_.get(fd) - 1].events = mask(events);
    }
    void remove(native_handle_type fd, int) noexcept {
        std::size_t slot = slots_.get(fd);
        if (slot == 0) return;
        fds_[slot - 1] = fds_.back();
        slots_.overwrite(fds_[slot - 1].fd, slot);
        fds_.pop_back();
        slots_.erase(fd);
    }
    int wait(std::int64_t timeout_ns, selector_core& core) {
        if (fds_.empty() && !waits_on_empty_set) {
            sleep_for_timeout(timeout_ns);
            return 0;
        }
        int n = sys_poll(fds_.data(), fds_.size(), timeout_ms(timeout_ns));
        int left = n;
        for (std::size_t i = 0; i < fds_.size() && left > 0; ++i) {
            const poll_entry& entry = fds_[i];
            if (entry.revents == 0) continue;
            --left;
            if (selector_key* key = core.find(entry.fd))
                core.ready(*key, ready_events(static_cast<unsigned short>(entry.revents), POLLIN,
                                              POLLOUT) &
                                     key->events);
        }
        return n;
    }
    void close() noexcept {}

private:
#if defined(_WIN32)
    static constexpr bool waits_on_empty_set = false;
#else
    static constexpr bool waits_on_empty_set = true;
#endif
    static short mask(int events) noexcept {
        return static_cast<short>(((events & EVENT_READ) ? POLLIN : 0) |
                                  ((events & EVENT_WRITE) ? POLLOUT : 0));
    }
    std::vector<poll_entry> fds_;
    fd_table<std::size_t> slots_;
};

}  // namespace detail

/// selectors.SelectSelector: select(). On POSIX, descriptors must be below FD_SETSIZE.
class select_selector : public basic_selector<detail::select_backend> {};

/// selectors.PollSelector: poll() (WSAPoll() on Windows).
class poll_selector : public basic_selector<detail::poll_backend> {};

#if PYSOCK_HAVE_EPOLL
/// selectors.EpollSelector (Linux).
class epoll_selector : public basic_selector<detail::epoll_backend> {
public:
    /// selector.fileno(): the epoll descriptor (close-on-exec), -1 once closed.
    int fileno() const noexcept { return backend_.fileno(); }
};
#endif

#if PYSOCK_HAVE_KQUEUE
/// selectors.KqueueSelector (the BSDs, macOS).
class kqueue_selector : public basic_selector<detail::kqueue_backend> {
public:
    /// selector.fileno(): the kqueue descriptor (close-on-exec), -1 once closed.
    int fileno() const noexcept { return backend_.fileno(); }
};
#endif

/// selectors.DefaultSelector: the most efficient selector this platform has.
#if PYSOCK_HAVE_EPOLL
using default_selector = epoll_selector;
#elif PYSOCK_HAVE_KQUEUE
using default_selector = kqueue_selector;
#else
using default_selector = poll_selector;
#endif

// =============================================================================================
// 5. Implementation
// =============================================================================================

namespace detail {

template <class Wait>
const std::vector<ready_event>& selector_core::run_select(std::optional<double> timeout,
                                                          Wait&& wait) {
    retired_.clear();
    ready_.clear();
    ++round_;
    // Room for every key, made here and never while the results are walked (a handler may
    // register while it iterates): select() allocates only when the map has grown, and an
    // unregister() during the walk never does.
    if (ready_.capacity() < map_.size()) ready_.reserve(map_.size());
    if (retired_.capacity() < map_.size()) retired_.reserve(map_.size());
    std::int64_t timeout_ns = -1;
    if (timeout) {
        double seconds = *timeout;
        if (seconds != seconds) throw std::invalid_argument("Invalid value NaN (not a number)");
        if (seconds <= 0) {
            timeout_ns = 0;
        } else if (seconds >= 9.0e9) {  // beyond int64 nanoseconds: some three centuries
            timeout_ns = INT64_MAX / 2;
        } else {
            double ns = seconds * 1e9;
            timeout_ns = static_cast<std::int64_t>(ns);
            if (static_cast<double>(timeout_ns) < ns) ++timeout_ns;
        }
    }
    const std::int64_t deadline = timeout_ns > 0 ? pysock::detail::monotonic_ns() + timeout_ns : 0;
    std::int64_t left = timeout_ns;
    for (;;) {
        int n = wait(left);
        if (n > 0) break;
        if (n < 0) {
            int err = last_error();
            if (!interrupted(err)) pysock::detail::raise_os_error(err);
        } else if (timeout_ns == 0) {
            break;
        }
        if (timeout_ns > 0) {
            // Timed out (the kernel may round a timer down by a hair) or interrupted: wait for
            // what is left, so select() never returns before its timeout.
            left = deadline - pysock::detail::monotonic_ns();
            if (left <= 0) break;
        }
    }
    return ready_;
}

// The rest is compiled once, by <pysock/src.hpp>, in separate compilation mode.
#if PYSOCK_HEADER_ONLY || defined(PYSOCK_SOURCE)

PYSOCK_DECL void selector_core::check_open() const {
    if (closed_) throw std::invalid_argument("I/O operation on closed selector");
}

PYSOCK_DECL void selector_core::check_events(int events) {
    if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)) != 0)
        throw std::invalid_argument("Invalid events: " + std::to_string(events));
}

PYSOCK_DECL void selector_core::check_fd(native_handle_type fd) {
#if defined(_WIN32)
    if (fd == pysock::detail::invalid_handle)
        throw std::invalid_argument("Invalid file descriptor: -1");
#else
    if (fd < 0) throw std::invalid_argument("Invalid file descriptor: " + std::to_string(fd));
#endif
}

PYSOCK_DECL std::string selector_core::describe(const socket* sock, native_handle_type fd) {
    std::string fd_text =
        fd == pysock::detail::invalid_handle ? std::string("-1") : std::to_string(fd);
    if (!sock) return fd_text;
    return "<pysock.socket fd=" + fd_text + ", family=" + std::to_string(sock->family()) +
           ", type=" + std::to_string(sock->type()) + ", proto=" + std::to_string(sock->proto()) +
           ">";
}

PYSOCK_DECL native_handle_type selector_core::fd_of(const socket& sock) const {
    native_handle_type fd = sock.fileno();
    if (fd != pysock::detail::invalid_handle) return fd;
    // Closed after it was registered: Python finds the key whose fileobj is this very object.
    for (const auto& entry : map_)
        if (entry.second.fileobj == &sock) return entry.first;
    throw std::invalid_argument("Invalid file descriptor: -1");
}

PYSOCK_DECL selector_key& selector_core::add_key(const socket* fileobj, native_handle_type fd,
                                                 int events, std::any data) {
    if (index_.get(fd)) {
        throw key_error(describe(fileobj, fd) + " (FD " + describe(nullptr, fd) +
                        ") is already registered");
    }
    selector_key key;
    key.fileobj = fileobj;
    key.fd = fd;
    key.events = events;
    key.data = std::move(data);
    auto inserted = map_.emplace(fd, std::move(key));
    selector_key& stored = inserted.first->second;
    try {
        index_.set(fd, &stored);
        merge_pos_.set(fd, 0);
        reported_round_.set(fd, 0);
    } catch (...) {
        index_.erase(fd);
        map_.erase(inserted.first);
        throw;
    }
    return stored;
}

PYSOCK_DECL selector_key& selector_core::key_of(native_handle_type fd, const socket* sock) const {
    selector_key* key = index_.get(fd);
    if (!key) throw key_error(describe(sock, sock ? sock->fileno() : fd) + " is not registered");
    return *key;
}

PYSOCK_DECL selector_key selector_core::retire_key(native_handle_type fd) noexcept {
    const bool in_results = reported_round_.get(fd) == round_;
    index_.erase(fd);
    merge_pos_.erase(fd);
    reported_round_.erase(fd);
    auto node = map_.extract(fd);
    selector_key copy;
    copy.fileobj = node.mapped().fileobj;
    copy.fd = node.mapped().fd;
    copy.events = node.mapped().events;
    if (!in_results) {
        copy.data = std::move(node.mapped().data);
        return copy;  // the node is freed here
    }
    // The results of the last select() refer to the key: it lives, data included, until the next
    // select(). retired_ never allocates here (select() reserved a place for each result).
    try {
        copy.data = node.mapped().data;
    } catch (...) {  // data that cannot be copied (out of memory) is not returned
    }
    retired_.push_back(std::move(node));
    return copy;
}

PYSOCK_DECL void selector_core::close_core() noexcept {
    closed_ = true;
    ready_.clear();
    index_.clear();
    merge_pos_.clear();
    reported_round_.clear();
    map_.clear();
    retired_.clear();
}

#endif  // PYSOCK_HEADER_ONLY || PYSOCK_SOURCE

}  // namespace detail
}  // namespace selectors
}  // namespace pysock

// =============================================================================================
// 6. Internal macros end here
// =============================================================================================
// PYSOCK_HAVE_EPOLL and PYSOCK_HAVE_KQUEUE stay defined: they tell users which classes exist.

#endif  // PYSOCK_SELECTORS_HPP
