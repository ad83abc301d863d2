// SPDX-License-Identifier: MIT
// pysock 1.0.0 — Python's socket module in one C++17 header.
// Copyright (c) 2026 the pysock authors. See LICENSE.
//
// ---------------------------------------------------------------------------------------------
// What this is
// ---------------------------------------------------------------------------------------------
// If you know Python's `import socket`, you know pysock:
//
//     pysock::socket server(AF_INET, SOCK_STREAM);          // socket.socket(AF_INET, SOCK_STREAM)
//     server.bind({"127.0.0.1", 65432});                     // server.bind(("127.0.0.1", 65432))
//     server.listen();                                       // server.listen()
//     auto [conn, addr] = server.accept();                   // conn, addr = server.accept()
//     for (auto data = conn.recv(1024); !data.empty();       // while data := conn.recv(1024):
//          data = conn.recv(1024))
//         conn.sendall(data);                                //     conn.sendall(data)
//
// Every name mirrors Python's; where Python returns a tuple, pysock returns a std::pair or a
// struct; where Python returns bytes, pysock returns `pysock::bytes` (a std::string holding raw
// octets). Sockets are move-only objects that close themselves when destroyed (Python's `with`).
//
// The error model
// ---------------
// Every failure is an exception, never a return code you could forget to check (connect_ex is
// the one deliberate exception, as in Python). The exception types mirror Python's OSError tree
// and all derive from std::system_error, so `catch (const std::system_error&)` catches them all
// and `e.code().value()` is the errno (the WSA error code on Windows):
//
//     error                          OSError (socket.error)
//       timeout                      TimeoutError (socket.timeout)
//       gaierror                     socket.gaierror: getaddrinfo failures, in their own category
//       blocking_io_error            BlockingIOError: EAGAIN/EWOULDBLOCK/EINPROGRESS, non-blocking
//       permission_error             PermissionError: EACCES/EPERM
//       file_not_found_error         FileNotFoundError: ENOENT (an AF_UNIX path)
//       connection_error             ConnectionError
//         broken_pipe_error          BrokenPipeError: EPIPE/ESHUTDOWN
//         connection_aborted_error   ConnectionAbortedError: ECONNABORTED
//         connection_refused_error   ConnectionRefusedError: ECONNREFUSED
//         connection_reset_error     ConnectionResetError: ECONNRESET
//
// what() reads exactly as Python prints the exception: "[Errno 111] Connection refused",
// "timed out", "[Errno -2] Name or service not known". Arguments Python would reject with
// ValueError throw std::invalid_argument; out-of-range ports (Python's OverflowError) throw
// std::out_of_range. Nothing leaks when an exception flies: every descriptor is owned by an
// object whose destructor closes it.
//
// The timeout model (Python's "Notes on socket timeouts")
// -------------------------------------------------------
// A socket is in one of three modes, set by settimeout():
//   * blocking (settimeout(std::nullopt), the default): operations block until they complete;
//   * non-blocking (settimeout(0.0)): an operation that cannot complete at once throws
//     blocking_io_error;
//   * timeout (settimeout(x), x > 0): an operation that cannot complete within x seconds throws
//     `timeout`. For sendall() the timeout bounds the whole call, not each partial send.
// setdefaulttimeout() sets the mode new sockets start in, accepted sockets included (as in
// Python, an accepted socket does not inherit the listener's timeout).
//
// How pysock keeps timeouts free: CPython polls before each operation (two system calls). On
// Linux pysock instead hands the timeout to the kernel (SO_RCVTIMEO / SO_SNDTIMEO) once, in
// settimeout(), so recv/send/accept with a timeout still cost exactly one system call. When a
// signal interrupts a timed call, pysock re-arms the kernel timer with the time left, so the
// timeout remains a total, and restores it afterwards. Where the kernel timers cannot be trusted
// (PYSOCK_KERNEL_TIMEOUTS=0, the default off Linux) the socket is non-blocking and pysock waits
// with poll() only when an operation would block.
//
// Signals and processes
// ---------------------
// EINTR is retried inside every call (PEP 475), with the remaining timeout. SIGPIPE never kills
// the process (MSG_NOSIGNAL, or SO_NOSIGPIPE where that is the platform's way): writing to a
// closed connection throws broken_pipe_error instead. Every descriptor pysock creates is
// close-on-exec (set_inheritable(true) to pass one to a child).
//
// Thread safety
// -------------
// Module functions are thread-safe. A socket object may be used by several threads at once for
// independent directions (one thread in recv, another in send), as the kernel allows. Changing a
// socket (close, detach, settimeout, move) while another thread uses it is defined but racy:
// the descriptor and timeout are atomics, so there is no undefined behaviour, but a thread
// already blocked in recv is not woken by close() (and its descriptor number may be reused).
// To wake a blocked thread, call shutdown(SHUT_RDWR) from another thread first, then close().
//
// Layout of this file
// -------------------
//   1. Configuration        tunables, each behind #ifndef PYSOCK_...
//   2. System headers
//   3. Declarations         bytes, address, exceptions, socket, module functions
//   4. Platform layer       pysock::detail: every system call behind one small wrapper
//   5. Implementation       errors, addresses, the socket class, module functions
//   6. Internal macros are #undef'd at the end
// ---------------------------------------------------------------------------------------------
#ifndef PYSOCK_SOCKET_HPP
#define PYSOCK_SOCKET_HPP

// =============================================================================================
// 1. Configuration
// =============================================================================================

#define PYSOCK_VERSION_MAJOR 1
#define PYSOCK_VERSION_MINOR 0
#define PYSOCK_VERSION_PATCH 0

// Let the kernel enforce timeouts (SO_RCVTIMEO/SO_SNDTIMEO: one system call per operation).
// Linux honours them for recv, send and accept; elsewhere pysock polls (as CPython does).
#ifndef PYSOCK_KERNEL_TIMEOUTS
#if defined(__linux__)
#define PYSOCK_KERNEL_TIMEOUTS 1
#else
#define PYSOCK_KERNEL_TIMEOUTS 0
#endif
#endif

// listen() without an argument: Python's default, min(SOMAXCONN, 128).
#ifndef PYSOCK_DEFAULT_BACKLOG
#define PYSOCK_DEFAULT_BACKLOG 128
#endif

// recv(n) allocates n bytes, then gives back the unused part of large buffers when little
// arrived (as CPython's _PyBytes_Resize does), so a recv(1 << 20) returning 10 bytes does not
// keep a megabyte alive. Buffers up to this size are returned as they are.
#ifndef PYSOCK_RECV_SHRINK_THRESHOLD
#define PYSOCK_RECV_SHRINK_THRESHOLD 4096
#endif

// =============================================================================================
// 2. System headers
// =============================================================================================

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

// glibc defines the byte-order functions as macros too when optimising; pysock::htons(x) could
// not be called while they are. The functions themselves stay declared by <arpa/inet.h>.
#if defined(__GLIBC__)
#undef htons
#undef ntohs
#undef htonl
#undef ntohl
#endif

// Feature tests, not OS names: each platform difference is keyed on what the headers offer.
#if defined(MSG_NOSIGNAL)
#define PYSOCK_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define PYSOCK_MSG_NOSIGNAL 0
#endif

namespace pysock {

// =============================================================================================
// 3. Declarations
// =============================================================================================

/// Python's `bytes`: raw octets in a std::string.
using bytes = std::string;

/// The operating system's socket handle: a file descriptor (SOCKET on Windows).
using native_handle_type = int;

/// Python's socket.has_ipv6: whether this build supports IPv6.
inline constexpr bool has_ipv6 = true;

// ---------------------------------------------------------------------------------------------
// 3.1 Addresses
// ---------------------------------------------------------------------------------------------

/// Python's address tuple: ('127.0.0.1', 8080) for AF_INET, ('::1', 8080, 0, 0) for AF_INET6,
/// a path string for AF_UNIX (an abstract Linux name starts with '\0', as in Python).
///
/// `family` records which of these shapes the address has: addresses built with two arguments
/// print as 2-tuples, with four as 4-tuples, with one string as an AF_UNIX path; addresses that
/// come from the system (accept, getsockname, recvfrom, ...) carry their real family.
struct address {
    std::string host;              ///< "127.0.0.1", "::1", "localhost", "" (any); or an AF_UNIX path
    std::uint16_t port = 0;
    std::uint32_t flowinfo = 0;    ///< AF_INET6 only
    std::uint32_t scope_id = 0;    ///< AF_INET6 only
    int family = AF_UNSPEC;

    address() = default;
    /// (host, port). @throws std::out_of_range when port is not in 0..65535.
    address(std::string host, int port);
    /// (host, port, flowinfo, scope_id) for AF_INET6. @throws std::out_of_range for the port.
    address(std::string host, int port, std::uint32_t flowinfo, std::uint32_t scope_id);
    /// An AF_UNIX path (or abstract name starting with '\0').
    address(std::string path);
    address(const char* path);
};

/// Prints the address as Python prints the tuple: ('127.0.0.1', 54321), ('::1', 8080, 0, 0),
/// '/tmp/sock' or b'\x00abstract'.
/// The text operator<< prints.
std::string to_string(const address& a);
// A template so that this header needs only <iosfwd>: <ostream> costs every includer.
template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, const address& a) {
    return os << to_string(a);
}
/// Equal hosts, ports, flowinfo and scope ids (the shape recorded in `family` is not compared).
bool operator==(const address& a, const address& b);
bool operator!=(const address& a, const address& b);

/// Python's repr() of a bytes object: b'Bonjour', b'donn\xc3\xa9e', b"it's".
std::string repr(std::string_view data);

// ---------------------------------------------------------------------------------------------
// 3.2 Exceptions: Python's OSError tree (see the narrative at the top)
// ---------------------------------------------------------------------------------------------

/// OSError (socket.error). code().value() is the errno; what() is Python's message.
class error : public std::system_error {
public:
    error(std::error_code code, const std::string& message, std::size_t characters_written = 0);
    const char* what() const noexcept override { return message_.what(); }
    /// How many bytes sendall() delivered before it failed (Python's BlockingIOError attribute).
    std::size_t characters_written() const noexcept { return characters_written_; }

private:
    std::runtime_error message_;  // holds the text: copying it never throws
    std::size_t characters_written_ = 0;
};

#define PYSOCK_DECLARE_ERROR(name, base)                                                       \
    class name : public base {                                                                 \
    public:                                                                                    \
        using base::base;                                                                      \
    }
PYSOCK_DECLARE_ERROR(timeout, error);                   // TimeoutError (socket.timeout)
PYSOCK_DECLARE_ERROR(gaierror, error);                  // socket.gaierror
PYSOCK_DECLARE_ERROR(blocking_io_error, error);         // BlockingIOError
PYSOCK_DECLARE_ERROR(permission_error, error);          // PermissionError
PYSOCK_DECLARE_ERROR(file_not_found_error, error);      // FileNotFoundError
PYSOCK_DECLARE_ERROR(connection_error, error);          // ConnectionError
PYSOCK_DECLARE_ERROR(broken_pipe_error, connection_error);
PYSOCK_DECLARE_ERROR(connection_aborted_error, connection_error);
PYSOCK_DECLARE_ERROR(connection_refused_error, connection_error);
PYSOCK_DECLARE_ERROR(connection_reset_error, connection_error);

/// The error category of gaierror codes (EAI_*); message() is gai_strerror().
const std::error_category& gai_category() noexcept;

// ---------------------------------------------------------------------------------------------
// 3.3 The socket class
// ---------------------------------------------------------------------------------------------

/// Python's socket.socket. Move-only; the destructor closes the socket.
///
/// Thread safety: see the narrative at the top of this file. Every operation on a closed,
/// detached or moved-from socket throws `error` with EBADF.
class socket {
public:
    /// socket.socket(family, type, proto). The socket is close-on-exec and starts in the mode
    /// set by setdefaulttimeout(). @throws error (e.g. EAFNOSUPPORT, EMFILE).
    explicit socket(int family = AF_INET, int type = SOCK_STREAM, int proto = 0);
    /// socket.socket(fileno=fd): adopts an open socket descriptor; family, type and protocol are
    /// read from it. On failure the descriptor is left open and still yours.
    /// @throws error (ENOTSOCK when fd is not a socket).
    static socket from_fd(native_handle_type fd);

    socket(socket&& other) noexcept;
    socket& operator=(socket&& other) noexcept;
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;
    ~socket();

    /// sock.bind(address). @throws error, gaierror (unknown host), std::invalid_argument.
    void bind(const address& addr);
    /// sock.listen([backlog]); a negative backlog counts as 0, as in Python.
    void listen(int backlog = PYSOCK_DEFAULT_BACKLOG);
    /// conn, addr = sock.accept(). The new socket starts in getdefaulttimeout()'s mode.
    /// @throws timeout, blocking_io_error, error.
    std::pair<socket, address> accept();
    /// sock.connect(address): with a timeout, a non-blocking connect and a wait.
    /// @throws connection_refused_error, timeout, blocking_io_error (non-blocking), gaierror...
    void connect(const address& addr);
    /// sock.connect_ex(address): 0 or the errno of the connection attempt instead of an
    /// exception (EWOULDBLOCK when a timeout expires, as in CPython). Name resolution failures
    /// still throw gaierror.
    int connect_ex(const address& addr);

    /// sock.recv(bufsize[, flags]): at most bufsize bytes; "" at orderly end of stream.
    /// @throws std::invalid_argument for a negative bufsize cast to size_t, timeout, error.
    bytes recv(std::size_t bufsize, int flags = 0);
    /// sock.recv_into(buffer, nbytes[, flags]): no allocation; returns the count (0 at EOF).
    std::size_t recv_into(void* buf, std::size_t nbytes, int flags = 0);
    /// data, addr = sock.recvfrom(bufsize[, flags]).
    std::pair<bytes, address> recvfrom(std::size_t bufsize, int flags = 0);
    /// nbytes, addr = sock.recvfrom_into(buffer, nbytes[, flags]).
    std::pair<std::size_t, address> recvfrom_into(void* buf, std::size_t nbytes, int flags = 0);

    /// sock.send(data[, flags]): one send; returns how many bytes went (maybe fewer than all).
    std::size_t send(std::string_view data, int flags = 0);
    /// sock.sendall(data[, flags]): sends everything or throws; the exception's
    /// characters_written() says how much was delivered. A timeout bounds the whole call.
    void sendall(std::string_view data, int flags = 0);
    /// sock.sendto(data, address) and sock.sendto(data, flags, address).
    std::size_t sendto(std::string_view data, const address& addr);
    std::size_t sendto(std::string_view data, int flags, const address& addr);

    /// sock.shutdown(how): SHUT_RD, SHUT_WR or SHUT_RDWR. Wakes threads blocked on the socket.
    void shutdown(int how);
    /// sock.close(): idempotent; never throws for an already closed socket.
    void close() noexcept;
    /// sock.detach(): gives up ownership and returns the descriptor (-1 if closed).
    native_handle_type detach() noexcept;
    /// sock.fileno(): the descriptor, -1 after close() or detach().
    native_handle_type fileno() const noexcept;

    /// sock.getsockname() / sock.getpeername().
    address getsockname() const;
    address getpeername() const;

    /// sock.settimeout(seconds): nullopt = blocking, 0.0 = non-blocking, > 0 = timeout.
    /// @throws std::invalid_argument for negative or NaN values, std::out_of_range for values
    /// too large to represent, error (EBADF) on a closed socket.
    void settimeout(std::optional<double> seconds);
    /// sock.gettimeout(): nullopt in blocking mode.
    std::optional<double> gettimeout() const noexcept;
    /// sock.setblocking(flag): settimeout(nullopt) or settimeout(0.0).
    void setblocking(bool flag);
    /// sock.getblocking(): false only in non-blocking mode (gettimeout() == 0.0).
    bool getblocking() const noexcept;

    /// sock.setsockopt(level, optname, value) with an int, or with raw bytes for struct options.
    void setsockopt(int level, int optname, int value);
    void setsockopt(int level, int optname, std::string_view value);
    /// sock.getsockopt(level, optname) as an int; with buflen, the raw bytes.
    int getsockopt(int level, int optname) const;
    bytes getsockopt(int level, int optname, std::size_t buflen) const;

    /// sock.family, sock.type, sock.proto.
    int family() const noexcept { return family_; }
    int type() const noexcept { return type_; }
    int proto() const noexcept { return proto_; }

    /// sock.dup(): a new close-on-exec descriptor for the same socket, with the same timeout.
    socket dup() const;
    /// sock.get_inheritable() / sock.set_inheritable(flag): whether children inherit it.
    bool get_inheritable() const;
    void set_inheritable(bool inheritable);

private:
    friend std::pair<socket, socket> socketpair(int, int, int);
    socket(native_handle_type fd, int family, int type, int proto) noexcept;
    native_handle_type checked_fd() const;
    void apply_timeout(std::int64_t timeout_ns, std::int64_t previous_ns);
    template <class Op> std::size_t call(short events, int flags, Op&& op, std::int64_t start = -1);
    template <class Op> std::size_t call_slow(short events, int flags, Op& op, std::int64_t start);
    int connect_impl(const address& addr, bool raise);

    std::atomic<native_handle_type> fd_;
    int family_;
    int type_;
    int proto_;
    std::atomic<std::int64_t> timeout_ns_;  // -1 blocking, 0 non-blocking, > 0 timeout
};

// ---------------------------------------------------------------------------------------------
// 3.4 Module functions
// ---------------------------------------------------------------------------------------------

/// socket.create_connection(address, timeout, source_address): resolves address, tries each
/// result in turn, returns the first connected socket, else throws the first error. A nullopt
/// timeout keeps getdefaulttimeout().
socket create_connection(const address& addr, std::optional<double> timeout = std::nullopt,
                         std::optional<address> source_address = std::nullopt);
/// socket.create_server(address, family, backlog, reuse_port, dualstack_ipv6): a listening TCP
/// socket with SO_REUSEADDR (POSIX), optionally SO_REUSEPORT and IPv4-mapped IPv6.
/// @throws std::invalid_argument for impossible option combinations, error.
socket create_server(const address& addr, int family = AF_INET,
                     std::optional<int> backlog = std::nullopt, bool reuse_port = false,
                     bool dualstack_ipv6 = false);
/// socket.socketpair(family, type, proto): two connected sockets.
std::pair<socket, socket> socketpair(int family = AF_UNIX, int type = SOCK_STREAM, int proto = 0);

/// One getaddrinfo() result: Python's (family, type, proto, canonname, sockaddr) 5-tuple.
struct addrinfo {
    int family = 0;
    int type = 0;
    int proto = 0;
    std::string canonname;
    address sockaddr;
};
/// socket.getaddrinfo(host, port, family, type, proto, flags). An empty host is Python's None.
/// @throws gaierror.
std::vector<addrinfo> getaddrinfo(const std::string& host, std::optional<int> port,
                                  int family = 0, int type = 0, int proto = 0, int flags = 0);
/// socket.getnameinfo(sockaddr, flags): (host, port) as strings. The host must be numeric.
std::pair<std::string, std::string> getnameinfo(const address& addr, int flags = 0);
/// socket.gethostname().
std::string gethostname();
/// socket.getfqdn([name]).
std::string getfqdn(const std::string& name = "");
/// socket.has_dualstack_ipv6(): whether an AF_INET6 socket can also accept IPv4 clients.
bool has_dualstack_ipv6() noexcept;

/// socket.getdefaulttimeout() / socket.setdefaulttimeout(seconds).
std::optional<double> getdefaulttimeout() noexcept;
void setdefaulttimeout(std::optional<double> seconds);

/// socket.inet_pton(family, string) -> packed bytes; socket.inet_ntop(family, packed) -> string.
bytes inet_pton(int family, const std::string& ip);
std::string inet_ntop(int family, std::string_view packed);
/// socket.inet_aton / socket.inet_ntoa (IPv4 only).
bytes inet_aton(const std::string& ip);
std::string inet_ntoa(std::string_view packed);

/// socket.htons / ntohs / htonl / ntohl.
constexpr std::uint16_t htons(std::uint16_t x) noexcept;
constexpr std::uint16_t ntohs(std::uint16_t x) noexcept;
constexpr std::uint32_t htonl(std::uint32_t x) noexcept;
constexpr std::uint32_t ntohl(std::uint32_t x) noexcept;

/// socket.close(fd): closes a raw descriptor. @throws error.
void close(native_handle_type fd);

// =============================================================================================
// 4. Platform layer: every system call behind one small wrapper
// =============================================================================================
// Each wrapper returns what the system call returns and leaves the error in last_error(). The
// rest of the header calls only these, so a port to another system changes this section only.

namespace detail {

using ssize_type = ::ssize_t;
inline constexpr native_handle_type invalid_handle = -1;

inline int last_error() noexcept { return errno; }
inline bool interrupted(int err) noexcept { return err == EINTR; }
inline bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }
inline bool in_progress(int err) noexcept { return err == EINPROGRESS; }
inline constexpr int err_bad_handle = EBADF;
inline constexpr int err_timed_out = ETIMEDOUT;
inline constexpr int err_would_block = EWOULDBLOCK;
inline constexpr int err_invalid = EINVAL;
inline constexpr int err_name_too_long = ENAMETOOLONG;

/// Which exception an error code becomes.
enum class error_kind {
    plain, timeout, blocking, permission, not_found, broken_pipe, aborted, refused, reset
};
inline error_kind classify(int err) noexcept {
    switch (err) {
    case ETIMEDOUT: return error_kind::timeout;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EALREADY:
    case EINPROGRESS: return error_kind::blocking;
    case EACCES:
    case EPERM: return error_kind::permission;
    case ENOENT: return error_kind::not_found;
    case EPIPE:
    case ESHUTDOWN: return error_kind::broken_pipe;
    case ECONNABORTED: return error_kind::aborted;
    case ECONNREFUSED: return error_kind::refused;
    case ECONNRESET: return error_kind::reset;
    default: return error_kind::plain;
    }
}

/// Python's text for an OS error: "[Errno 111] Connection refused".
inline std::string os_error_message(int err) {
    return "[Errno " + std::to_string(err) + "] " + std::generic_category().message(err);
}

/// Monotonic clock in nanoseconds (the timeout deadlines).
inline std::int64_t monotonic_ns() noexcept {
    ::timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Sets BSD's sun_len/sin_len-style length members where the struct has them (a feature test
// by overload resolution: the first overload exists only when the member does).
template <class T> auto set_sun_len(T& sa, std::size_t len, int) -> decltype(sa.sun_len = 0, void()) {
    sa.sun_len = static_cast<decltype(sa.sun_len)>(len);
}
template <class T> void set_sun_len(T&, std::size_t, long) {}

inline int set_cloexec(native_handle_type fd, bool on) noexcept {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    int wanted = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return wanted == flags ? 0 : ::fcntl(fd, F_SETFD, wanted);
}
inline int get_cloexec(native_handle_type fd, bool& on) noexcept {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    on = (flags & FD_CLOEXEC) != 0;
    return 0;
}
inline int set_nonblocking(native_handle_type fd, bool on) noexcept {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return wanted == flags ? 0 : ::fcntl(fd, F_SETFL, wanted);
}

// New descriptors get their close-on-exec flag (and, on BSD, SO_NOSIGPIPE) at once.
inline int prepare_new_handle(native_handle_type fd, bool needs_cloexec) noexcept {
    if (needs_cloexec && set_cloexec(fd, true) < 0) return -1;
#if defined(SO_NOSIGPIPE)
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0) return -1;
#endif
    return 0;
}
inline int close_handle(native_handle_type fd) noexcept { return ::close(fd); }

inline native_handle_type open_socket(int family, int type, int proto) noexcept {
#if defined(SOCK_CLOEXEC)
    native_handle_type fd = ::socket(family, type | SOCK_CLOEXEC, proto);
    bool needs_cloexec = false;
#else
    native_handle_type fd = ::socket(family, type, proto);
    bool needs_cloexec = true;
#endif
    if (fd != invalid_handle && prepare_new_handle(fd, needs_cloexec) < 0) {
        int err = errno;
        ::close(fd);
        errno = err;
        return invalid_handle;
    }
    return fd;
}
inline int open_socketpair(int family, int type, int proto, native_handle_type fds[2]) noexcept {
#if defined(SOCK_CLOEXEC)
    if (::socketpair(family, type | SOCK_CLOEXEC, proto, fds) < 0) return -1;
    bool needs_cloexec = false;
#else
    if (::socketpair(family, type, proto, fds) < 0) return -1;
    bool needs_cloexec = true;
#endif
    for (int i = 0; i < 2; ++i) {
        if (prepare_new_handle(fds[i], needs_cloexec) < 0) {
            int err = errno;
            ::close(fds[0]);
            ::close(fds[1]);
            errno = err;
            return -1;
        }
    }
    return 0;
}
inline native_handle_type accept_handle(native_handle_type fd, ::sockaddr* sa, ::socklen_t* len,
                                        bool nonblocking) noexcept {
#if defined(SOCK_CLOEXEC)
    return ::accept4(fd, sa, len, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
#else
    native_handle_type conn = ::accept(fd, sa, len);
    if (conn == invalid_handle) return conn;
    if (prepare_new_handle(conn, true) < 0 || set_nonblocking(conn, nonblocking) < 0) {
        int err = errno;
        ::close(conn);
        errno = err;
        return invalid_handle;
    }
    return conn;
#endif
}
inline native_handle_type dup_handle(native_handle_type fd) noexcept {
    return ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

inline ssize_type sys_recv(native_handle_type fd, void* buf, std::size_t n, int flags) noexcept {
    return ::recv(fd, buf, n, flags);
}
inline ssize_type sys_recvfrom(native_handle_type fd, void* buf, std::size_t n, int flags,
                               ::sockaddr* sa, ::socklen_t* len) noexcept {
    return ::recvfrom(fd, buf, n, flags, sa, len);
}
inline ssize_type sys_send(native_handle_type fd, const void* buf, std::size_t n, int flags) noexcept {
    return ::send(fd, buf, n, flags | PYSOCK_MSG_NOSIGNAL);
}
inline ssize_type sys_sendto(native_handle_type fd, const void* buf, std::size_t n, int flags,
                             const ::sockaddr* sa, ::socklen_t len) noexcept {
    return ::sendto(fd, buf, n, flags | PYSOCK_MSG_NOSIGNAL, sa, len);
}

inline int sys_bind(native_handle_type fd, const ::sockaddr* sa, ::socklen_t len) noexcept {
    return ::bind(fd, sa, len);
}
inline int sys_listen(native_handle_type fd, int backlog) noexcept { return ::listen(fd, backlog); }
inline int sys_connect(native_handle_type fd, const ::sockaddr* sa, ::socklen_t len) noexcept {
    return ::connect(fd, sa, len);
}
inline int sys_shutdown(native_handle_type fd, int how) noexcept { return ::shutdown(fd, how); }
inline int sys_getsockname(native_handle_type fd, ::sockaddr* sa, ::socklen_t* len) noexcept {
    return ::getsockname(fd, sa, len);
}
inline int sys_getpeername(native_handle_type fd, ::sockaddr* sa, ::socklen_t* len) noexcept {
    return ::getpeername(fd, sa, len);
}
inline int sys_setsockopt(native_handle_type fd, int level, int name, const void* value,
                          std::size_t len) noexcept {
    return ::setsockopt(fd, level, name, value, static_cast<::socklen_t>(len));
}
inline int sys_getsockopt(native_handle_type fd, int level, int name, void* value,
                          ::socklen_t* len) noexcept {
    return ::getsockopt(fd, level, name, value, len);
}

/// Waits until fd is ready for `events` or timeout_ns passes (-1: forever). 1 ready, 0 timed
/// out, -1 error (EINTR included: the caller recomputes the time left).
inline int wait_ready(native_handle_type fd, short events, std::int64_t timeout_ns) noexcept {
    ::pollfd p{};
    p.fd = fd;
    p.events = events;
    int ms = -1;
    if (timeout_ns >= 0) {
        std::int64_t rounded_up = (timeout_ns + 999999) / 1000000;
        ms = rounded_up > INT_MAX ? INT_MAX : static_cast<int>(rounded_up);
    }
    return ::poll(&p, 1, ms);
}
inline constexpr short wait_read = POLLIN;
inline constexpr short wait_write = POLLOUT;

/// Sets the kernel's SO_RCVTIMEO and/or SO_SNDTIMEO (0 = no timeout). Never rounds a positive
/// timeout down to 0, which the kernel would read as "wait forever".
inline int set_kernel_timeout(native_handle_type fd, short events, std::int64_t timeout_ns) noexcept {
    ::timeval tv{};
    if (timeout_ns > 0) {
        std::int64_t us = (timeout_ns + 999) / 1000;
        tv.tv_sec = static_cast<decltype(tv.tv_sec)>(us / 1000000);
        tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us % 1000000);
    }
    if ((events & wait_read) && ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return -1;
    if ((events & wait_write) && ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        return -1;
    return 0;
}

/// Reads family, type and protocol of an open descriptor (socket(fileno=fd)).
inline int query_socket(native_handle_type fd, int& family, int& type, int& proto) noexcept {
    ::socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -1;
#if defined(SO_DOMAIN)
    len = sizeof family;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0) return -1;
#else
    ::sockaddr_storage ss{};
    len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<::sockaddr*>(&ss), &len) < 0) return -1;
    family = ss.ss_family;
#endif
#if defined(SO_PROTOCOL)
    len = sizeof proto;
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0) return -1;
#else
    proto = 0;
#endif
    return 0;
}

/// The global default timeout (socket.setdefaulttimeout), in nanoseconds; -1 = None.
inline std::atomic<std::int64_t> default_timeout_ns{-1};

/// Owns a descriptor until released: what keeps exception paths leak-free.
class handle_guard {
public:
    explicit handle_guard(native_handle_type fd) noexcept : fd_(fd) {}
    handle_guard(const handle_guard&) = delete;
    handle_guard& operator=(const handle_guard&) = delete;
    ~handle_guard() {
        if (fd_ != invalid_handle) close_handle(fd_);
    }
    native_handle_type get() const noexcept { return fd_; }
    native_handle_type release() noexcept { return std::exchange(fd_, invalid_handle); }

private:
    native_handle_type fd_;
};

/// Frees a getaddrinfo() result list.
struct addrinfo_list {
    ::addrinfo* head;
    explicit addrinfo_list(::addrinfo* list) noexcept : head(list) {}
    addrinfo_list(const addrinfo_list&) = delete;
    addrinfo_list& operator=(const addrinfo_list&) = delete;
    ~addrinfo_list() {
        if (head) ::freeaddrinfo(head);
    }
};

/// A sockaddr big enough for any family, with its length.
struct sockaddr_buffer {
    ::sockaddr_storage storage{};
    ::socklen_t len = sizeof(::sockaddr_storage);
    ::sockaddr* get() noexcept { return reinterpret_cast<::sockaddr*>(&storage); }
    const ::sockaddr* get() const noexcept { return reinterpret_cast<const ::sockaddr*>(&storage); }
};

} // namespace detail

// =============================================================================================
// 5. Implementation
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// 5.1 Errors
// ---------------------------------------------------------------------------------------------

inline error::error(std::error_code code, const std::string& message, std::size_t characters_written)
    : std::system_error(code, message),
      message_(message),
      characters_written_(characters_written) {}

namespace detail {

class gai_error_category : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int code) const override { return ::gai_strerror(code); }
};

/// Throws the exception Python would raise for `err`, with Python's message (or `message`).
[[noreturn]] inline void raise_os_error(int err, const std::string& message, std::size_t written = 0) {
    std::error_code code(err, std::generic_category());
    switch (classify(err)) {
    case error_kind::timeout: throw timeout(code, message, written);
    case error_kind::blocking: throw blocking_io_error(code, message, written);
    case error_kind::permission: throw permission_error(code, message, written);
    case error_kind::not_found: throw file_not_found_error(code, message, written);
    case error_kind::broken_pipe: throw broken_pipe_error(code, message, written);
    case error_kind::aborted: throw connection_aborted_error(code, message, written);
    case error_kind::refused: throw connection_refused_error(code, message, written);
    case error_kind::reset: throw connection_reset_error(code, message, written);
    case error_kind::plain: break;
    }
    throw error(code, message, written);
}
[[noreturn]] inline void raise_os_error(int err, std::size_t written = 0) {
    raise_os_error(err, os_error_message(err), written);
}
[[noreturn]] inline void raise_last_error() { raise_os_error(last_error()); }
/// socket.timeout from a settimeout() deadline: "timed out".
[[noreturn]] inline void raise_timeout(std::size_t written = 0) {
    throw timeout(std::error_code(err_timed_out, std::generic_category()), "timed out", written);
}
[[noreturn]] inline void raise_gai_error(int code) {
#if defined(EAI_SYSTEM)
    if (code == EAI_SYSTEM) raise_last_error();
#endif
    throw gaierror(std::error_code(code, gai_category()),
                   "[Errno " + std::to_string(code) + "] " + ::gai_strerror(code));
}

} // namespace detail

inline const std::error_category& gai_category() noexcept {
    static const detail::gai_error_category category;
    return category;
}

// ---------------------------------------------------------------------------------------------
// 5.2 Addresses and their conversion to and from sockaddr
// ---------------------------------------------------------------------------------------------

namespace detail {

inline std::uint16_t checked_port(int port) {
    if (port < 0 || port > 65535) throw std::out_of_range("port must be 0-65535.");
    return static_cast<std::uint16_t>(port);
}

/// Python's repr() of a str holding `text` (pysock strings are UTF-8; non-ASCII passes as is).
inline void append_repr(std::string& out, std::string_view text, bool as_bytes) {
    bool has_single = text.find('\'') != std::string_view::npos;
    bool has_double = text.find('"') != std::string_view::npos;
    char quote = (has_single && !has_double) ? '"' : '\'';
    static const char hex[] = "0123456789abcdef";
    if (as_bytes) out += 'b';
    out += quote;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == quote || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (u < 0x20 || u == 0x7f || (as_bytes && u >= 0x80)) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += quote;
}

inline bool has_embedded_nul(std::string_view s) noexcept {
    return s.find('\0') != std::string_view::npos;
}

/// Resolves `host` for `family` the way CPython's setipaddr does: "" is the wildcard,
/// "<broadcast>" the broadcast address, numeric addresses skip the resolver, names go
/// through getaddrinfo and take the first answer.
inline void resolve_host(int family, const std::string& host, sockaddr_buffer& out) {
    if (has_embedded_nul(host)) throw std::invalid_argument("host name must not contain null character");
    std::memset(&out.storage, 0, sizeof out.storage);
    if (family == AF_INET) {
        auto* sin = reinterpret_cast<::sockaddr_in*>(&out.storage);
        sin->sin_family = AF_INET;
        out.len = sizeof(::sockaddr_in);
        if (host.empty()) {
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
            return;
        }
        if (host == "<broadcast>" || host == "255.255.255.255") {
            sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
            return;
        }
        if (::inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) return;
    } else if (family == AF_INET6) {
        auto* sin6 = reinterpret_cast<::sockaddr_in6*>(&out.storage);
        sin6->sin6_family = AF_INET6;
        out.len = sizeof(::sockaddr_in6);
        if (host.empty()) {
            sin6->sin6_addr = in6addr_any;
            return;
        }
        if (::inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) return;
    } else {
        raise_os_error(EAFNOSUPPORT);
    }
    ::addrinfo hints{};
    hints.ai_family = family;
    ::addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0) raise_gai_error(rc);
    addrinfo_list owner{res};
    for (::addrinfo* ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == family && ai->ai_addrlen <= sizeof out.storage) {
            std::memcpy(&out.storage, ai->ai_addr, ai->ai_addrlen);
            out.len = static_cast<::socklen_t>(ai->ai_addrlen);
            return;
        }
    }
    raise_gai_error(EAI_NONAME);
}

/// Python's getsockaddrarg: an address for a socket of `family` as a sockaddr.
inline void to_sockaddr(int family, const address& a, sockaddr_buffer& out) {
    if (family == AF_INET) {
        resolve_host(AF_INET, a.host, out);
        reinterpret_cast<::sockaddr_in*>(&out.storage)->sin_port = htons(a.port);
    } else if (family == AF_INET6) {
        if (a.flowinfo > 0xfffff) throw std::out_of_range("flowinfo must be 0-1048575.");
        resolve_host(AF_INET6, a.host, out);
        auto* sin6 = reinterpret_cast<::sockaddr_in6*>(&out.storage);
        sin6->sin6_port = htons(a.port);
        sin6->sin6_flowinfo = htonl(a.flowinfo);
        if (a.scope_id != 0) sin6->sin6_scope_id = a.scope_id;
    } else if (family == AF_UNIX) {
        const std::string& path = a.host;
        auto* sun = reinterpret_cast<::sockaddr_un*>(&out.storage);
        std::memset(&out.storage, 0, sizeof out.storage);
        bool abstract = !path.empty() && path[0] == '\0';
        // A filesystem path needs its terminating NUL inside sun_path; an abstract name does not.
        std::size_t limit = abstract ? sizeof sun->sun_path : sizeof sun->sun_path - 1;
        if (path.size() > limit)
            raise_os_error(err_name_too_long, "AF_UNIX path too long");
        if (!abstract && has_embedded_nul(path)) throw std::invalid_argument("embedded null byte");
        sun->sun_family = AF_UNIX;
        std::memcpy(sun->sun_path, path.data(), path.size());
        std::size_t len = offsetof(::sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1);
        // Linux reads an empty path as "autobind me"; the length must then exclude the NUL.
        if (path.empty()) len = offsetof(::sockaddr_un, sun_path);
        set_sun_len(*sun, len, 0);
        out.len = static_cast<::socklen_t>(len);
    } else {
        raise_os_error(EAFNOSUPPORT);
    }
}

/// Python's makesockaddr: a sockaddr from the system as an address.
inline address from_sockaddr(const ::sockaddr* sa, ::socklen_t len) {
    address a;
    if (len == 0) return a;  // recvfrom on a connected stream: Python's None
    a.family = sa->sa_family;
    char text[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        auto* sin = reinterpret_cast<const ::sockaddr_in*>(sa);
        ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        a.host = text;
        a.port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<const ::sockaddr_in6*>(sa);
        ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        a.host = text;
        a.port = ntohs(sin6->sin6_port);
        a.flowinfo = ntohl(sin6->sin6_flowinfo);
        a.scope_id = sin6->sin6_scope_id;
    } else if (sa->sa_family == AF_UNIX) {
        auto* sun = reinterpret_cast<const ::sockaddr_un*>(sa);
        std::size_t offset = offsetof(::sockaddr_un, sun_path);
        std::size_t n = len > offset ? static_cast<std::size_t>(len) - offset : 0;
        if (n > sizeof sun->sun_path) n = sizeof sun->sun_path;
        if (n > 0 && sun->sun_path[0] != '\0') n = ::strnlen(sun->sun_path, n);  // a path: up to its NUL
        a.host.assign(sun->sun_path, n);
    }
    return a;
}

inline std::int64_t timeout_to_ns(std::optional<double> seconds) {
    if (!seconds) return -1;
    double s = *seconds;
    if (s != s) throw std::invalid_argument("Invalid value NaN (not a number)");
    if (s < 0) throw std::invalid_argument("Timeout value out of range");
    if (s > 9.2e9) throw std::out_of_range("timeout doesn't fit into C timeval");
    // Round up, as CPython does, so a tiny positive timeout never becomes "non-blocking".
    double ns = s * 1e9;
    auto whole = static_cast<std::int64_t>(ns);
    return whole < ns ? whole + 1 : whole;
}
inline std::optional<double> ns_to_timeout(std::int64_t ns) noexcept {
    if (ns < 0) return std::nullopt;
    return static_cast<double>(ns) / 1e9;
}

} // namespace detail

inline address::address(std::string host_, int port_)
    : host(std::move(host_)), port(detail::checked_port(port_)), family(AF_INET) {}
inline address::address(std::string host_, int port_, std::uint32_t flowinfo_, std::uint32_t scope_id_)
    : host(std::move(host_)), port(detail::checked_port(port_)), flowinfo(flowinfo_),
      scope_id(scope_id_), family(AF_INET6) {}
inline address::address(std::string path) : host(std::move(path)), family(AF_UNIX) {}
inline address::address(const char* path) : host(path), family(AF_UNIX) {}

inline std::string to_string(const address& a) {
    std::string out;
    if (a.family == AF_UNIX) {
        bool abstract = !a.host.empty() && a.host[0] == '\0';
        detail::append_repr(out, a.host, abstract);  // Python: str for paths, bytes for abstract
        return out;
    }
    out += '(';
    detail::append_repr(out, a.host, false);
    out += ", " + std::to_string(a.port);
    if (a.family == AF_INET6)
        out += ", " + std::to_string(a.flowinfo) + ", " + std::to_string(a.scope_id);
    out += ')';
    return out;
}
inline bool operator==(const address& a, const address& b) {
    return a.host == b.host && a.port == b.port && a.flowinfo == b.flowinfo && a.scope_id == b.scope_id;
}
inline bool operator!=(const address& a, const address& b) { return !(a == b); }

inline std::string repr(std::string_view data) {
    std::string out;
    out.reserve(data.size() + 3);
    detail::append_repr(out, data, true);
    return out;
}

// ---------------------------------------------------------------------------------------------
// 5.3 The socket class
// ---------------------------------------------------------------------------------------------

inline socket::socket(native_handle_type fd, int family, int type, int proto) noexcept
    : fd_(fd), family_(family), type_(type), proto_(proto), timeout_ns_(-1) {}

inline socket::socket(int family, int type, int proto)
    : fd_(detail::invalid_handle), family_(family), type_(type), proto_(proto), timeout_ns_(-1) {
    std::int64_t initial = detail::default_timeout_ns.load(std::memory_order_relaxed);
#if defined(SOCK_NONBLOCK)
    // Python strips the creation flags from sock.type; SOCK_NONBLOCK means "non-blocking mode".
    if (type & SOCK_NONBLOCK) initial = 0;
    type_ &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
#endif
    detail::handle_guard fd(detail::open_socket(family, type_, proto));
    if (fd.get() == detail::invalid_handle) detail::raise_last_error();
    fd_.store(fd.get(), std::memory_order_relaxed);
    apply_timeout(initial, -1);  // may throw: the guard still owns the descriptor
    fd.release();
}

inline socket socket::from_fd(native_handle_type fd) {
    int family = 0, type = 0, proto = 0;
    if (detail::query_socket(fd, family, type, proto) < 0) detail::raise_last_error();
    socket s(fd, family, type, proto);
    try {
        s.apply_timeout(detail::default_timeout_ns.load(std::memory_order_relaxed), -1);
    } catch (...) {
        s.detach();  // on failure the caller keeps the descriptor
        throw;
    }
    return s;
}

inline socket::socket(socket&& other) noexcept
    : fd_(other.fd_.exchange(detail::invalid_handle, std::memory_order_relaxed)),
      family_(other.family_), type_(other.type_), proto_(other.proto_),
      timeout_ns_(other.timeout_ns_.load(std::memory_order_relaxed)) {}

inline socket& socket::operator=(socket&& other) noexcept {
    if (this != &other) {
        close();
        fd_.store(other.fd_.exchange(detail::invalid_handle, std::memory_order_relaxed),
                  std::memory_order_relaxed);
        family_ = other.family_;
        type_ = other.type_;
        proto_ = other.proto_;
        timeout_ns_.store(other.timeout_ns_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    return *this;
}

inline socket::~socket() { close(); }

inline native_handle_type socket::checked_fd() const {
    native_handle_type fd = fd_.load(std::memory_order_relaxed);
    if (fd == detail::invalid_handle) detail::raise_os_error(detail::err_bad_handle);
    return fd;
}

// Puts the descriptor in the state the timeout mode needs (see "The timeout model" above):
// kernel timers on and the descriptor blocking, or O_NONBLOCK and poll() when needed.
inline void socket::apply_timeout(std::int64_t timeout_ns, std::int64_t previous_ns) {
    native_handle_type fd = checked_fd();
#if PYSOCK_KERNEL_TIMEOUTS
    bool nonblocking = timeout_ns == 0;
    if (detail::set_nonblocking(fd, nonblocking) < 0) detail::raise_last_error();
    // Touch the kernel timers only when they must change: sockets that never had a timeout
    // pay nothing.
    if ((timeout_ns > 0 || previous_ns > 0) &&
        detail::set_kernel_timeout(fd, detail::wait_read | detail::wait_write,
                                   timeout_ns > 0 ? timeout_ns : 0) < 0)
        detail::raise_last_error();
#else
    (void)previous_ns;
    if (detail::set_nonblocking(fd, timeout_ns >= 0) < 0) detail::raise_last_error();
#endif
    timeout_ns_.store(timeout_ns, std::memory_order_relaxed);
}

// Runs one system call under the timeout model. The fast path is the call itself: one system
// call whatever the mode, no clock read unless a timeout is set.
// `start` is when the caller's deadline began (sendall's whole call); -1 means now.
template <class Op>
inline std::size_t socket::call(short events, int flags, Op&& op, std::int64_t start) {
    if (start < 0 && timeout_ns_.load(std::memory_order_relaxed) > 0) start = detail::monotonic_ns();
    detail::ssize_type n = op(checked_fd());
    if (n >= 0) return static_cast<std::size_t>(n);
    return call_slow(events, flags, op, start);
}

// The slow path: EINTR (retried with the time left), would-block (timeout, non-blocking, or a
// wait in poll mode) and errors.
template <class Op>
inline std::size_t socket::call_slow(short events, int flags, Op& op, std::int64_t start) {
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
#if PYSOCK_KERNEL_TIMEOUTS
    // A kernel timer re-armed with the time left is put back to the full timeout on the way out.
    struct rearm_guard {
        native_handle_type fd = detail::invalid_handle;
        short events = 0;
        std::int64_t full_ns = 0;
        ~rearm_guard() {
            if (fd != detail::invalid_handle) detail::set_kernel_timeout(fd, events, full_ns);
        }
    } rearmed;
#endif
    for (;;) {
        int err = detail::last_error();
        native_handle_type fd = checked_fd();
        std::int64_t left = timeout_ns > 0 ? timeout_ns - (detail::monotonic_ns() - start) : -1;
        if (detail::interrupted(err)) {
            if (timeout_ns > 0) {
                if (left <= 0) detail::raise_timeout();
#if PYSOCK_KERNEL_TIMEOUTS
                if (detail::set_kernel_timeout(fd, events, left) < 0) detail::raise_last_error();
                rearmed.fd = fd;
                rearmed.events = events;
                rearmed.full_ns = timeout_ns;
#endif
            }
        } else if (detail::would_block(err)) {
            // A would-block in blocking mode means the descriptor was made non-blocking behind
            // our back, or MSG_DONTWAIT was asked for: Python raises BlockingIOError then too.
#if defined(MSG_DONTWAIT)
            bool dontwait = (flags & MSG_DONTWAIT) != 0;
#else
            bool dontwait = false;
#endif
            if (timeout_ns <= 0 || dontwait) detail::raise_os_error(err);
#if PYSOCK_KERNEL_TIMEOUTS
            detail::raise_timeout();
#else
            for (;;) {
                if (left <= 0) detail::raise_timeout();
                int ready = detail::wait_ready(fd, events, left);
                if (ready > 0) break;
                if (ready == 0) detail::raise_timeout();
                if (!detail::interrupted(detail::last_error())) detail::raise_last_error();
                left = timeout_ns - (detail::monotonic_ns() - start);
            }
#endif
        } else {
            detail::raise_os_error(err);
        }
        detail::ssize_type n = op(fd);
        if (n >= 0) return static_cast<std::size_t>(n);
    }
}

inline void socket::bind(const address& addr) {
    native_handle_type fd = checked_fd();
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(family_, addr, sa);
    if (detail::sys_bind(fd, sa.get(), sa.len) < 0) detail::raise_last_error();
}

inline void socket::listen(int backlog) {
    if (detail::sys_listen(checked_fd(), backlog < 0 ? 0 : backlog) < 0) detail::raise_last_error();
}

inline std::pair<socket, address> socket::accept() {
    std::int64_t child_timeout = detail::default_timeout_ns.load(std::memory_order_relaxed);
    bool child_nonblocking = PYSOCK_KERNEL_TIMEOUTS ? child_timeout == 0 : child_timeout >= 0;
    detail::sockaddr_buffer peer;
    std::size_t fd = call(detail::wait_read, 0, [&](native_handle_type listener) {
        peer.len = sizeof peer.storage;
        return static_cast<detail::ssize_type>(
            detail::accept_handle(listener, peer.get(), &peer.len, child_nonblocking));
    });
    socket conn(static_cast<native_handle_type>(fd), family_, type_, proto_);
    conn.timeout_ns_.store(child_timeout, std::memory_order_relaxed);
#if PYSOCK_KERNEL_TIMEOUTS
    // Linux copies the listener's SO_RCVTIMEO/SO_SNDTIMEO into accepted sockets; Python's
    // accepted socket starts with the default timeout instead.
    std::int64_t listener_timeout = timeout_ns_.load(std::memory_order_relaxed);
    if ((child_timeout > 0 || listener_timeout > 0) &&
        detail::set_kernel_timeout(conn.checked_fd(), detail::wait_read | detail::wait_write,
                                   child_timeout > 0 ? child_timeout : 0) < 0)
        detail::raise_last_error();  // conn closes the descriptor
#endif
    return {std::move(conn), detail::from_sockaddr(peer.get(), peer.len)};
}

// CPython's internal_connect: one connect(); when it is interrupted, or in progress under a
// timeout, wait for the outcome instead of calling connect() again.
inline int socket::connect_impl(const address& addr, bool raise) {
    native_handle_type fd = checked_fd();
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(family_, addr, sa);
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
    auto fail = [&](int err) {
        if (raise) detail::raise_os_error(err);
        return err;
    };
#if PYSOCK_KERNEL_TIMEOUTS
    // The descriptor is blocking in timeout mode; make this one call non-blocking so the wait
    // below is bounded by poll(), and put it back whatever happens.
    struct restore_blocking {
        native_handle_type fd;
        bool active;
        ~restore_blocking() {
            if (active) detail::set_nonblocking(fd, false);
        }
    } restore{fd, timeout_ns > 0};
    if (restore.active && detail::set_nonblocking(fd, true) < 0) detail::raise_last_error();
#endif
    std::int64_t start = detail::monotonic_ns();
    if (detail::sys_connect(fd, sa.get(), sa.len) == 0) return 0;
    int err = detail::last_error();
    bool wait = detail::interrupted(err) ? timeout_ns != 0
                                         : (timeout_ns > 0 && detail::in_progress(err));
    if (!wait) return fail(err);
    for (;;) {
        std::int64_t left = timeout_ns > 0 ? timeout_ns - (detail::monotonic_ns() - start) : -1;
        if (timeout_ns > 0 && left <= 0) {
            if (raise) detail::raise_timeout();
            return detail::err_would_block;
        }
        int ready = detail::wait_ready(fd, detail::wait_write, left);
        if (ready == 0) {
            if (raise) detail::raise_timeout();
            return detail::err_would_block;
        }
        if (ready < 0) {
            if (detail::interrupted(detail::last_error())) continue;
            return fail(detail::last_error());
        }
        int so_error = getsockopt(SOL_SOCKET, SO_ERROR);
        return so_error == 0 ? 0 : fail(so_error);
    }
}

inline void socket::connect(const address& addr) { connect_impl(addr, true); }
inline int socket::connect_ex(const address& addr) { return connect_impl(addr, false); }

namespace detail {
inline void check_bufsize(std::size_t n, const char* what) {
    if (n > static_cast<std::size_t>(PTRDIFF_MAX)) throw std::invalid_argument(what);
}
inline void shrink_unused(bytes& buf, std::size_t used) {
    buf.resize(used);
    if (buf.capacity() > PYSOCK_RECV_SHRINK_THRESHOLD && used < buf.capacity() / 2) buf.shrink_to_fit();
}
} // namespace detail

inline bytes socket::recv(std::size_t bufsize, int flags) {
    detail::check_bufsize(bufsize, "negative buffersize in recv");
    bytes buf(bufsize, '\0');
    detail::shrink_unused(buf, recv_into(buf.data(), bufsize, flags));
    return buf;
}

inline std::size_t socket::recv_into(void* buf, std::size_t nbytes, int flags) {
    return call(detail::wait_read, flags, [&](native_handle_type fd) {
        return detail::sys_recv(fd, buf, nbytes, flags);
    });
}

inline std::pair<std::size_t, address> socket::recvfrom_into(void* buf, std::size_t nbytes, int flags) {
    detail::sockaddr_buffer from;
    std::size_t n = call(detail::wait_read, flags, [&](native_handle_type fd) {
        from.len = sizeof from.storage;
        return detail::sys_recvfrom(fd, buf, nbytes, flags, from.get(), &from.len);
    });
    return {n, detail::from_sockaddr(from.get(), from.len)};
}

inline std::pair<bytes, address> socket::recvfrom(std::size_t bufsize, int flags) {
    detail::check_bufsize(bufsize, "negative buffersize in recvfrom");
    bytes buf(bufsize, '\0');
    auto [n, from] = recvfrom_into(buf.data(), bufsize, flags);
    detail::shrink_unused(buf, n);
    return {std::move(buf), std::move(from)};
}

inline std::size_t socket::send(std::string_view data, int flags) {
    return call(detail::wait_write, flags, [&](native_handle_type fd) {
        return detail::sys_send(fd, data.data(), data.size(), flags);
    });
}

inline void socket::sendall(std::string_view data, int flags) {
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
    const std::int64_t start = timeout_ns > 0 ? detail::monotonic_ns() : -1;
    std::size_t sent = 0;
#if PYSOCK_KERNEL_TIMEOUTS
    // After a partial send the kernel timer is set to what is left of the deadline; this puts
    // the full timeout back whichever way sendall leaves.
    struct rearm_guard {
        native_handle_type fd = detail::invalid_handle;
        std::int64_t full_ns = 0;
        ~rearm_guard() {
            if (fd != detail::invalid_handle) detail::set_kernel_timeout(fd, detail::wait_write, full_ns);
        }
    } rearmed;
#endif
    try {
        while (sent < data.size()) {
            sent += call(detail::wait_write, flags, [&](native_handle_type fd) {
                return detail::sys_send(fd, data.data() + sent, data.size() - sent, flags);
            }, start);
            if (sent == data.size() || timeout_ns <= 0) continue;
            std::int64_t left = timeout_ns - (detail::monotonic_ns() - start);
            if (left <= 0) detail::raise_timeout();
#if PYSOCK_KERNEL_TIMEOUTS
            native_handle_type fd = checked_fd();
            if (detail::set_kernel_timeout(fd, detail::wait_write, left) < 0) detail::raise_last_error();
            rearmed.fd = fd;
            rearmed.full_ns = timeout_ns;
#endif
        }
    } catch (const error& e) {
        // The same exception type and message, now saying how far sendall got.
        detail::raise_os_error(e.code().value(), e.what(), sent);
    }
}

inline std::size_t socket::sendto(std::string_view data, const address& addr) {
    return sendto(data, 0, addr);
}

inline std::size_t socket::sendto(std::string_view data, int flags, const address& addr) {
    checked_fd();
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(family_, addr, sa);
    return call(detail::wait_write, flags, [&](native_handle_type fd) {
        return detail::sys_sendto(fd, data.data(), data.size(), flags, sa.get(), sa.len);
    });
}

inline void socket::shutdown(int how) {
    if (detail::sys_shutdown(checked_fd(), how) < 0) detail::raise_last_error();
}

inline void socket::close() noexcept {
    native_handle_type fd = fd_.exchange(detail::invalid_handle, std::memory_order_relaxed);
    // Like CPython, ignore the close() error: the descriptor is released either way, and
    // ECONNRESET here only reports what the peer already did.
    if (fd != detail::invalid_handle) detail::close_handle(fd);
}

inline native_handle_type socket::detach() noexcept {
    return fd_.exchange(detail::invalid_handle, std::memory_order_relaxed);
}

inline native_handle_type socket::fileno() const noexcept {
    return fd_.load(std::memory_order_relaxed);
}

inline address socket::getsockname() const {
    detail::sockaddr_buffer sa;
    if (detail::sys_getsockname(checked_fd(), sa.get(), &sa.len) < 0) detail::raise_last_error();
    return detail::from_sockaddr(sa.get(), sa.len);
}

inline address socket::getpeername() const {
    detail::sockaddr_buffer sa;
    if (detail::sys_getpeername(checked_fd(), sa.get(), &sa.len) < 0) detail::raise_last_error();
    return detail::from_sockaddr(sa.get(), sa.len);
}

inline void socket::settimeout(std::optional<double> seconds) {
    apply_timeout(detail::timeout_to_ns(seconds), timeout_ns_.load(std::memory_order_relaxed));
}

inline std::optional<double> socket::gettimeout() const noexcept {
    return detail::ns_to_timeout(timeout_ns_.load(std::memory_order_relaxed));
}

inline void socket::setblocking(bool flag) {
    settimeout(flag ? std::nullopt : std::optional<double>(0.0));
}

inline bool socket::getblocking() const noexcept {
    return timeout_ns_.load(std::memory_order_relaxed) != 0;
}

inline void socket::setsockopt(int level, int optname, int value) {
    if (detail::sys_setsockopt(checked_fd(), level, optname, &value, sizeof value) < 0) detail::raise_last_error();
}

inline void socket::setsockopt(int level, int optname, std::string_view value) {
    if (detail::sys_setsockopt(checked_fd(), level, optname, value.data(), value.size()) < 0)
        detail::raise_last_error();
}

inline int socket::getsockopt(int level, int optname) const {
    int value = 0;
    ::socklen_t len = sizeof value;
    if (detail::sys_getsockopt(checked_fd(), level, optname, &value, &len) < 0) detail::raise_last_error();
    return value;
}

inline bytes socket::getsockopt(int level, int optname, std::size_t buflen) const {
    if (buflen == 0 || buflen > 1024)
        throw error(std::error_code(detail::err_invalid, std::generic_category()),
                    "getsockopt buflen out of range");
    bytes value(buflen, '\0');
    auto len = static_cast<::socklen_t>(buflen);
    if (detail::sys_getsockopt(checked_fd(), level, optname, value.data(), &len) < 0) detail::raise_last_error();
    value.resize(len);
    return value;
}

inline socket socket::dup() const {
    detail::handle_guard fd(detail::dup_handle(checked_fd()));
    if (fd.get() == detail::invalid_handle) detail::raise_last_error();
    socket copy(fd.release(), family_, type_, proto_);
    // The duplicate shares the kernel socket, and with it O_NONBLOCK and the kernel timers.
    copy.timeout_ns_.store(timeout_ns_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return copy;
}

inline bool socket::get_inheritable() const {
    bool cloexec = false;
    if (detail::get_cloexec(checked_fd(), cloexec) < 0) detail::raise_last_error();
    return !cloexec;
}

inline void socket::set_inheritable(bool inheritable) {
    if (detail::set_cloexec(checked_fd(), !inheritable) < 0) detail::raise_last_error();
}

// ---------------------------------------------------------------------------------------------
// 5.4 Module functions
// ---------------------------------------------------------------------------------------------

inline std::vector<addrinfo> getaddrinfo(const std::string& host, std::optional<int> port,
                                         int family, int type, int proto, int flags) {
    if (detail::has_embedded_nul(host)) throw std::invalid_argument("host name must not contain null character");
    ::addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = type;
    hints.ai_protocol = proto;
    hints.ai_flags = flags;
    std::string service = port ? std::to_string(*port) : std::string();
    ::addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port ? service.c_str() : nullptr,
                           &hints, &res);
    if (rc != 0) detail::raise_gai_error(rc);
    detail::addrinfo_list owner{res};
    std::vector<addrinfo> out;
    for (::addrinfo* ai = res; ai; ai = ai->ai_next) {
        addrinfo info;
        info.family = ai->ai_family;
        info.type = ai->ai_socktype;
        info.proto = ai->ai_protocol;
        if (ai->ai_canonname) info.canonname = ai->ai_canonname;
        info.sockaddr = detail::from_sockaddr(ai->ai_addr, static_cast<::socklen_t>(ai->ai_addrlen));
        out.push_back(std::move(info));
    }
    return out;
}

inline std::pair<std::string, std::string> getnameinfo(const address& addr, int flags) {
    // CPython resolves the host numerically first: getnameinfo takes addresses, not names.
    auto infos = getaddrinfo(addr.host, addr.port, AF_UNSPEC, SOCK_DGRAM, 0, AI_NUMERICHOST);
    if (infos.size() != 1) throw error(std::error_code(detail::err_invalid, std::generic_category()),
                                       "sockaddr resolved to multiple addresses");
    address target = infos[0].sockaddr;
    target.flowinfo = addr.flowinfo;
    if (addr.scope_id != 0) target.scope_id = addr.scope_id;
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(infos[0].family, target, sa);
    char host[NI_MAXHOST] = {};
    char serv[NI_MAXSERV] = {};
    int rc = ::getnameinfo(sa.get(), sa.len, host, sizeof host, serv, sizeof serv, flags);
    if (rc != 0) detail::raise_gai_error(rc);
    return {host, serv};
}

inline std::string gethostname() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) < 0) detail::raise_last_error();
    return name;
}

inline std::string getfqdn(const std::string& name_) {
    auto first = name_.find_first_not_of(" \t\r\n\f\v");
    auto last = name_.find_last_not_of(" \t\r\n\f\v");
    std::string name = first == std::string::npos ? std::string() : name_.substr(first, last - first + 1);
    if (name.empty() || name == "0.0.0.0" || name == "::") name = gethostname();
    // Python: gethostbyaddr(name), then the first of hostname and aliases with a dot. The
    // reverse lookup below yields the canonical hostname (there are no aliases to scan).
    try {
        auto infos = getaddrinfo(name, std::nullopt, AF_UNSPEC, SOCK_STREAM);
        if (infos.empty()) return name;
        detail::sockaddr_buffer sa;
        detail::to_sockaddr(infos[0].family, infos[0].sockaddr, sa);
        char host[NI_MAXHOST] = {};
        if (::getnameinfo(sa.get(), sa.len, host, sizeof host, nullptr, 0, NI_NAMEREQD) != 0) return name;
        return host;
    } catch (const error&) {
        return name;
    }
}

inline bool has_dualstack_ipv6() noexcept {
#if defined(IPV6_V6ONLY)
    try {
        socket s(AF_INET6, SOCK_STREAM);
        s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 0);
        return true;
    } catch (const std::exception&) {
        return false;
    }
#else
    return false;
#endif
}

inline std::optional<double> getdefaulttimeout() noexcept {
    return detail::ns_to_timeout(detail::default_timeout_ns.load(std::memory_order_relaxed));
}

inline void setdefaulttimeout(std::optional<double> seconds) {
    detail::default_timeout_ns.store(detail::timeout_to_ns(seconds), std::memory_order_relaxed);
}

inline socket create_connection(const address& addr, std::optional<double> timeout,
                                std::optional<address> source_address) {
    std::exception_ptr first_error;
    for (const auto& info : getaddrinfo(addr.host, addr.port, AF_UNSPEC, SOCK_STREAM)) {
        try {
            socket s(info.family, info.type, info.proto);
            if (timeout) s.settimeout(timeout);
            if (source_address) s.bind(*source_address);
            s.connect(info.sockaddr);
            return s;
        } catch (const error&) {
            if (!first_error) first_error = std::current_exception();
        }
    }
    if (first_error) std::rethrow_exception(first_error);
    throw error(std::error_code(detail::err_invalid, std::generic_category()),
                "getaddrinfo returns an empty list");
}

inline socket create_server(const address& addr, int family, std::optional<int> backlog,
                            bool reuse_port, bool dualstack_ipv6) {
#if !defined(SO_REUSEPORT)
    if (reuse_port) throw std::invalid_argument("SO_REUSEPORT not supported on this platform");
#endif
    if (dualstack_ipv6) {
        if (!has_dualstack_ipv6()) throw std::invalid_argument("dualstack_ipv6 not supported on this platform");
        if (family != AF_INET6) throw std::invalid_argument("dualstack_ipv6 requires AF_INET6 family");
    }
    socket s(family, SOCK_STREAM);
    if (family == AF_INET || family == AF_INET6) {
        // POSIX lets a restarted server rebind at once; CPython sets it too (not on Windows).
        try {
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        } catch (const error&) {
        }
    }
#if defined(SO_REUSEPORT)
    if (reuse_port) s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
#endif
#if defined(IPV6_V6ONLY)
    if (family == AF_INET6) s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, dualstack_ipv6 ? 0 : 1);
#endif
    try {
        s.bind(addr);
    } catch (const error& e) {
        // Python: "[Errno 98] Address already in use (while attempting to bind on address (...))"
        if (e.code().category() == gai_category()) throw;
        std::string message = e.what();
        message += " (while attempting to bind on address " + to_string(addr) + ")";
        detail::raise_os_error(e.code().value(), message);
    }
    if (backlog) s.listen(*backlog);
    else s.listen();
    return s;
}

inline std::pair<socket, socket> socketpair(int family, int type, int proto) {
    std::int64_t initial = detail::default_timeout_ns.load(std::memory_order_relaxed);
#if defined(SOCK_NONBLOCK)
    if (type & SOCK_NONBLOCK) initial = 0;
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
#endif
    native_handle_type fds[2];
    if (detail::open_socketpair(family, type, proto, fds) < 0) detail::raise_last_error();
    std::pair<socket, socket> pair(socket(fds[0], family, type, proto), socket(fds[1], family, type, proto));
    pair.first.apply_timeout(initial, -1);  // on failure both sockets close themselves
    pair.second.apply_timeout(initial, -1);
    return pair;
}

inline bytes inet_pton(int family, const std::string& ip) {
    unsigned char packed[sizeof(::in6_addr)] = {};
    if (family != AF_INET && family != AF_INET6) detail::raise_os_error(EAFNOSUPPORT);
    if (detail::has_embedded_nul(ip)) throw std::invalid_argument("embedded null character");
    int rc = ::inet_pton(family, ip.c_str(), packed);
    if (rc == 0)
        throw error(std::error_code(detail::err_invalid, std::generic_category()),
                    "illegal IP address string passed to inet_pton");
    if (rc < 0) detail::raise_last_error();
    return bytes(reinterpret_cast<const char*>(packed), family == AF_INET ? 4 : 16);
}

inline std::string inet_ntop(int family, std::string_view packed) {
    if (family != AF_INET && family != AF_INET6) detail::raise_os_error(EAFNOSUPPORT);
    if (packed.size() != (family == AF_INET ? 4u : 16u))
        throw std::invalid_argument("invalid length of packed IP address string");
    unsigned char raw[16] = {};
    std::memcpy(raw, packed.data(), packed.size());
    char text[INET6_ADDRSTRLEN] = {};
    if (!::inet_ntop(family, raw, text, sizeof text)) detail::raise_last_error();
    return text;
}

inline bytes inet_aton(const std::string& ip) {
    ::in_addr a{};
    if (detail::has_embedded_nul(ip) || ::inet_aton(ip.c_str(), &a) == 0)
        throw error(std::error_code(detail::err_invalid, std::generic_category()),
                    "illegal IP address string passed to inet_aton");
    return bytes(reinterpret_cast<const char*>(&a), 4);
}

inline std::string inet_ntoa(std::string_view packed) {
    if (packed.size() != 4) throw std::invalid_argument("packed IP wrong length for inet_ntoa");
    return inet_ntop(AF_INET, packed);
}

namespace detail {
constexpr bool little_endian() noexcept {
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return false;
#else
    return true;
#endif
}
} // namespace detail

constexpr std::uint16_t htons(std::uint16_t x) noexcept {
    return detail::little_endian() ? static_cast<std::uint16_t>((x << 8) | (x >> 8)) : x;
}
constexpr std::uint16_t ntohs(std::uint16_t x) noexcept { return htons(x); }
constexpr std::uint32_t htonl(std::uint32_t x) noexcept {
    return detail::little_endian() ? ((x & 0xffu) << 24) | ((x & 0xff00u) << 8) |
                                         ((x >> 8) & 0xff00u) | (x >> 24)
                                   : x;
}
constexpr std::uint32_t ntohl(std::uint32_t x) noexcept { return htonl(x); }

inline void close(native_handle_type fd) {
    if (detail::close_handle(fd) < 0 && detail::last_error() != ECONNRESET) detail::raise_last_error();
}

} // namespace pysock

// =============================================================================================
// 6. Internal macros end here
// =============================================================================================
#undef PYSOCK_DECLARE_ERROR
#undef PYSOCK_MSG_NOSIGNAL

#endif // PYSOCK_SOCKET_HPP
