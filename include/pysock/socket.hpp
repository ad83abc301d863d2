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
//       file_exists_error            FileExistsError: EEXIST
//       not_a_directory_error        NotADirectoryError: ENOTDIR (an AF_UNIX path)
//       is_a_directory_error         IsADirectoryError: EISDIR
//       interrupted_error            InterruptedError: EINTR (pysock retries EINTR itself; you
//                                    see it only from raise_os_error(EINTR))
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
// with poll() only when an operation would block. One consequence is visible: with kernel
// timers, a socket in timeout mode is blocking at the OS level (no O_NONBLOCK), where CPython
// sets it non-blocking. As in Python, the mode lives in the kernel socket, so dup()'ed sockets
// share it: settimeout() on one changes the kernel timer the other relies on.
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
//   3. Declarations         3.1 addresses, 3.2 exceptions, 3.3 the socket class,
//                           3.4 module functions, 3.5 socketserver
//   4. Platform layer       pysock::detail: every system call behind one small wrapper
//                           (Winsock and POSIX side by side: the only place they differ)
//   5. Implementation       5.1 errors, 5.2 addresses, 5.3 the socket class,
//                           5.4 module functions, 5.5 socketserver
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

// Separate compilation (Asio's mode, for big projects): define PYSOCK_SEPARATE_COMPILATION in
// every translation unit of the program (the CMake target pysock::compiled and Meson's
// pysock_compiled_dep do it for you). This header then gives declarations only, and exactly one
// translation unit compiles the bodies by including <pysock/src.hpp> (pysock::compiled is that
// translation unit). The default, without it: include the header, nothing else to do.
#if defined(PYSOCK_SEPARATE_COMPILATION)
#define PYSOCK_HEADER_ONLY 0
#define PYSOCK_DECL
#else
#define PYSOCK_HEADER_ONLY 1
#define PYSOCK_DECL inline
#endif

// Keeps rarely taken paths (errors, EINTR, partial sends) out of line, so the fast paths that
// are inlined into every caller stay a handful of instructions.
#if defined(__GNUC__) || defined(__clang__)
#define PYSOCK_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define PYSOCK_NOINLINE __declspec(noinline)
#else
#define PYSOCK_NOINLINE
#endif

// The servers (sections 3.5 and 5.5) need <thread>, <mutex>, <condition_variable>,
// <functional> and <list>, which cost more to compile than the rest of pysock together.
// Define PYSOCK_WITH_SERVER to 0 when a translation unit only needs sockets.
#ifndef PYSOCK_WITH_SERVER
#define PYSOCK_WITH_SERVER 1
#endif

// threading_udp_server's pool: at most this many handler threads when options.max_clients is 0.
#ifndef PYSOCK_UDP_MAX_THREADS
#define PYSOCK_UDP_MAX_THREADS 16
#endif

// sendmsg()/recvmsg() and descriptor passing (send_fds/recv_fds): POSIX has them; Windows
// (and Python there) does not. Define it to 0 to leave them out (about 7% of the header's
// compile time when nothing uses them).
#ifndef PYSOCK_HAVE_SENDMSG
#if !defined(_WIN32)
#define PYSOCK_HAVE_SENDMSG 1
#else
#define PYSOCK_HAVE_SENDMSG 0
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

#if defined(_WIN32)
// Windows: Winsock 2. <winsock2.h> must come before <windows.h>; both are asked to leave out
// what a socket library does not need (and the min/max macros), then the requests are withdrawn.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#define PYSOCK_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#define PYSOCK_UNDEF_NOMINMAX
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <iphlpapi.h>  // if_nameindex() and friends (netioapi.h: GetIfTable2, if_nametoindex)
#include <io.h>        // _lseeki64, _read: socket::sendfile() reads CRT descriptors
#include <afunix.h>    // sockaddr_un (Windows 10 1803+: AF_UNIX stream sockets)
#include <chrono>
#include <mutex>
#if defined(_MSC_VER)
#pragma comment(lib, "ws2_32")
#pragma comment(lib, "iphlpapi")
#endif
#ifdef PYSOCK_UNDEF_WIN32_LEAN_AND_MEAN
#undef WIN32_LEAN_AND_MEAN
#undef PYSOCK_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifdef PYSOCK_UNDEF_NOMINMAX
#undef NOMINMAX
#undef PYSOCK_UNDEF_NOMINMAX
#endif
// Python's socket module has SHUT_RD/SHUT_WR/SHUT_RDWR on Windows too (Winsock calls them
// SD_RECEIVE/SD_SEND/SD_BOTH): users write the POSIX names, so these stay defined.
#ifndef SHUT_RD
#define SHUT_RD SD_RECEIVE
#define SHUT_WR SD_SEND
#define SHUT_RDWR SD_BOTH
#endif
#else
#include <arpa/inet.h>
#if defined(__linux__)
#include <sys/sendfile.h>
#endif
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#endif

#include <atomic>
#if PYSOCK_WITH_SERVER
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <list>
#include <mutex>
#include <thread>
#endif
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <iosfwd>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
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

// The platform's types, needed by the declarations below (the rest of the platform layer is in
// section 4).
namespace pysock {
namespace detail {
#if defined(_WIN32)
using os_handle = SOCKET;
inline constexpr os_handle invalid_handle = INVALID_SOCKET;
using ssize_type = std::ptrdiff_t;  // what send()/recv() return
// Python's socketpair() defaults to AF_UNIX where the platform has it, else AF_INET (Windows).
inline constexpr int default_socketpair_family = AF_INET;
#else
using os_handle = int;
inline constexpr os_handle invalid_handle = -1;
using ssize_type = ::ssize_t;  // what send()/recv() return
inline constexpr int default_socketpair_family = AF_UNIX;
#endif
}  // namespace detail
}  // namespace pysock

namespace pysock {

// =============================================================================================
// 3. Declarations
// =============================================================================================

/// Python's `bytes`: raw octets in a std::string.
using bytes = std::string;

/// The operating system's socket handle: a file descriptor (SOCKET on Windows).
using native_handle_type = detail::os_handle;

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
    std::string host;  ///< "127.0.0.1", "::1", "localhost", "" (any); or an AF_UNIX path
    std::uint16_t port = 0;
    std::uint32_t flowinfo = 0;  ///< AF_INET6 only
    std::uint32_t scope_id = 0;  ///< AF_INET6 only
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
/// The text operator<< prints. @throws std::bad_alloc only.
std::string to_string(const address& a);
// A template so that this header needs only <iosfwd>: <ostream> costs every includer.
template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os,
                                              const address& a) {
    return os << to_string(a);
}
/// Equal hosts, ports, flowinfo and scope ids (the shape recorded in `family` is not compared).
bool operator==(const address& a, const address& b);
bool operator!=(const address& a, const address& b);

/// Python's repr() of a bytes object: b'Bonjour', b'donn\xc3\xa9e', b"it's".
/// @throws std::bad_alloc only.
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

#define PYSOCK_DECLARE_ERROR(name, base)                                                           \
    class name : public base {                                                                     \
    public:                                                                                        \
        using base::base;                                                                          \
    }
PYSOCK_DECLARE_ERROR(timeout, error);                // TimeoutError (socket.timeout)
PYSOCK_DECLARE_ERROR(gaierror, error);               // socket.gaierror
PYSOCK_DECLARE_ERROR(herror, error);                 // socket.herror: "[Errno 1] Unknown host"
PYSOCK_DECLARE_ERROR(blocking_io_error, error);      // BlockingIOError
PYSOCK_DECLARE_ERROR(permission_error, error);       // PermissionError
PYSOCK_DECLARE_ERROR(file_not_found_error, error);   // FileNotFoundError
PYSOCK_DECLARE_ERROR(file_exists_error, error);      // FileExistsError
PYSOCK_DECLARE_ERROR(not_a_directory_error, error);  // NotADirectoryError
PYSOCK_DECLARE_ERROR(is_a_directory_error, error);   // IsADirectoryError
PYSOCK_DECLARE_ERROR(interrupted_error, error);      // InterruptedError
PYSOCK_DECLARE_ERROR(connection_error, error);       // ConnectionError
PYSOCK_DECLARE_ERROR(broken_pipe_error, connection_error);
PYSOCK_DECLARE_ERROR(connection_aborted_error, connection_error);
PYSOCK_DECLARE_ERROR(connection_refused_error, connection_error);
PYSOCK_DECLARE_ERROR(connection_reset_error, connection_error);

/// The error category of gaierror codes (EAI_*); message() is gai_strerror().
const std::error_category& gai_category() noexcept;

/// Whether `ec` (from a non-throwing call) is a failure Python raises BlockingIOError for:
/// EAGAIN/EWOULDBLOCK (nothing to read, no room to write), EINPROGRESS or EALREADY (a
/// non-blocking connect under way). Portable where `ec == std::errc::operation_would_block` is
/// not: on Windows the code is WSAEWOULDBLOCK in std::system_category(). Thread-safe.
bool is_blocking_io(const std::error_code& ec) noexcept;

/// For your own system calls: throws what Python's OSError(errnum, os.strerror(errnum)) would
/// be, as a pysock exception of the matching subclass (ECONNREFUSED: connection_refused_error,
/// ENOTDIR: not_a_directory_error, ...), with Python's message ("[Errno 20] Not a directory").
/// errnum is an errno value (on Windows, a WSA or Windows error code, as last_error() gives).
///     if (::fsync(fd) < 0) pysock::raise_os_error(errno);
/// @throws always; error or the subclass for errnum.
[[noreturn]] void raise_os_error(int errnum);

#if PYSOCK_HAVE_SENDMSG
/// One ancillary data item of sendmsg() / recvmsg(): Python's (cmsg_level, cmsg_type,
/// cmsg_data) triple, e.g. {SOL_SOCKET, SCM_RIGHTS, <ints>}.
struct cmsg {
    int level = 0;
    int type = 0;
    bytes data;
};
/// What sock.recvmsg() returns: Python's (data, ancdata, msg_flags, address) tuple, unpacked
/// with `auto [data, ancdata, msg_flags, addr] = sock.recvmsg(...)`. `addr` is address() (family
/// AF_UNSPEC, printed None) when the socket gives none (a connected stream), as Python's None.
struct recvmsg_result {
    bytes data;
    std::vector<cmsg> ancdata;
    int msg_flags = 0;
    address addr;
};
#endif

// ---------------------------------------------------------------------------------------------
// 3.3 The socket class
// ---------------------------------------------------------------------------------------------

namespace detail {
// A buffer recv_into can fill: contiguous (std::data/std::size) with writable, trivially
// copyable elements. Raw pointers are not buffers: they take the (pointer, nbytes) overloads.
template <class Buffer>
using writable_buffer_t = std::enable_if_t<
    !std::is_const_v<std::remove_pointer_t<decltype(std::data(std::declval<Buffer&>()))>> &&
        std::is_trivially_copyable_v<
            std::remove_pointer_t<decltype(std::data(std::declval<Buffer&>()))>>,
    decltype(std::size(std::declval<Buffer&>()))>;

template <class Buffer>
std::size_t checked_nbytes(Buffer& buffer, std::size_t nbytes) {
    std::size_t capacity = std::size(buffer) * sizeof(*std::data(buffer));
    if (nbytes == 0) return capacity;
    if (nbytes > capacity) throw std::invalid_argument("buffer too small for requested bytes");
    return nbytes;
}
}  // namespace detail

class socket_file;
namespace detail {
struct file_factory;
}

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
    /// @throws error (EBADF closed, EOPNOTSUPP for a datagram socket, EINVAL unbound on some systems).
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
    /// @throws gaierror, std::invalid_argument (a bad address), error (EBADF on a closed socket).
    int connect_ex(const address& addr);

    /// sock.recv(bufsize[, flags]): at most bufsize bytes; "" at orderly end of stream.
    /// @throws std::invalid_argument for a negative bufsize cast to size_t, timeout, error.
    bytes recv(std::size_t bufsize, int flags = 0);
    /// sock.recv_into(buffer, nbytes[, flags]): no allocation; returns the count (0 at EOF).
    /// @throws timeout, blocking_io_error (non-blocking), connection_reset_error, error.
    std::size_t recv_into(void* buf, std::size_t nbytes, int flags = 0);
    /// sock.recv_into(buffer[, nbytes[, flags]]) for a writable contiguous buffer (an array,
    /// std::string, std::vector, std::array...): nbytes 0 means the whole buffer.
    /// @throws std::invalid_argument "buffer too small for requested bytes", as Python.
    template <class Buffer, class = detail::writable_buffer_t<Buffer>>
    std::size_t recv_into(Buffer& buffer, std::size_t nbytes = 0, int flags = 0) {
        return recv_into(std::data(buffer), detail::checked_nbytes(buffer, nbytes), flags);
    }
    /// data, addr = sock.recvfrom(bufsize[, flags]).
    /// @throws timeout, blocking_io_error (non-blocking), error (Windows: WSAEMSGSIZE for a
    /// datagram longer than bufsize).
    std::pair<bytes, address> recvfrom(std::size_t bufsize, int flags = 0);
    /// nbytes, addr = sock.recvfrom_into(buffer, nbytes[, flags]).
    /// @throws as recvfrom(); the template below also std::invalid_argument (buffer too small).
    std::pair<std::size_t, address> recvfrom_into(void* buf, std::size_t nbytes, int flags = 0);
    /// nbytes, addr = sock.recvfrom_into(buffer[, nbytes[, flags]]) for a contiguous buffer.
    template <class Buffer, class = detail::writable_buffer_t<Buffer>>
    std::pair<std::size_t, address> recvfrom_into(Buffer& buffer, std::size_t nbytes = 0,
                                                  int flags = 0) {
        return recvfrom_into(std::data(buffer), detail::checked_nbytes(buffer, nbytes), flags);
    }

    /// sock.send(data[, flags]): one send; returns how many bytes went (maybe fewer than all).
    /// @throws timeout, blocking_io_error, broken_pipe_error, connection_reset_error, error.
    std::size_t send(std::string_view data, int flags = 0);
    /// sock.sendall(data[, flags]): sends everything or throws; the exception's
    /// characters_written() says how much was delivered. A timeout bounds the whole call.
    /// @throws timeout, blocking_io_error, broken_pipe_error, connection_reset_error, error.
    void sendall(std::string_view data, int flags = 0);
    /// sock.sendto(data, address) and sock.sendto(data, flags, address).
    /// @throws gaierror (unknown host), timeout, blocking_io_error, error (EMSGSIZE, ...).
    std::size_t sendto(std::string_view data, const address& addr);
    std::size_t sendto(std::string_view data, int flags, const address& addr);
    /// sock.sendfile(file, offset, count): sends `count` bytes (nullopt: to end of file) of the
    /// open file `file_fd` from `offset`, zero-copy where the system has it (Linux sendfile()),
    /// else read + send, as Python. Returns the bytes sent; leaves the file's offset at
    /// offset + sent (even when it throws). The socket's timeout bounds the whole call.
    /// @throws std::invalid_argument ("only SOCK_STREAM type sockets are supported",
    /// "non-blocking sockets are not supported", "count must be a positive integer (got 0)"),
    /// timeout, broken_pipe_error, connection_reset_error, error (EBADF: a bad file_fd); a thrown
    /// error's characters_written() says how much was sent.
    std::uint64_t sendfile(int file_fd, std::uint64_t offset = 0,
                           std::optional<std::uint64_t> count = std::nullopt);
#if PYSOCK_HAVE_SENDMSG
    /// sock.sendmsg(buffers, ancdata, flags, address): sends the buffers as one message
    /// (scatter/gather), with ancillary data (SCM_RIGHTS descriptors, ...), to `addr` when given
    /// (an unconnected datagram socket). One system call; returns the bytes sent.
    /// @throws timeout, blocking_io_error, broken_pipe_error, error (EBADF for a bad descriptor
    /// in SCM_RIGHTS, EMSGSIZE, EINVAL for ancillary data the kernel refuses), gaierror (addr).
    /// POSIX only, as in Python.
    std::size_t sendmsg(const std::vector<std::string_view>& buffers,
                        const std::vector<cmsg>& ancdata = {}, int flags = 0,
                        const address& addr = address());
    /// sock.recvmsg(bufsize, ancbufsize, flags): at most bufsize bytes of one message, and up to
    /// ancbufsize bytes of ancillary data (size it with CMSG_SPACE()). Descriptors that arrive
    /// in SCM_RIGHTS are close-on-exec (pysock's rule; Python leaves them inheritable) and are
    /// yours to close. msg_flags says MSG_TRUNC / MSG_CTRUNC when data or ancillary data was
    /// cut (the kernel closes descriptors that did not fit).
    /// @throws timeout, blocking_io_error, connection_reset_error, error. POSIX only.
    recvmsg_result recvmsg(std::size_t bufsize, std::size_t ancbufsize = 0, int flags = 0);
#endif

    /// sock.shutdown(how): SHUT_RD, SHUT_WR or SHUT_RDWR. Wakes threads blocked on the socket.
    /// @throws error (ENOTCONN when not connected, EBADF when closed).
    void shutdown(int how);
    /// sock.close(): releases the descriptor. Idempotent: closing a closed socket does nothing.
    /// @throws error when the system's close() fails (EBADF if the descriptor was closed behind
    /// the object's back), as CPython does; the descriptor is released either way.
    void close();
    /// sock.detach(): gives up ownership and returns the descriptor (-1 if closed).
    native_handle_type detach() noexcept;
    /// sock.fileno(): the descriptor, -1 after close() or detach().
    native_handle_type fileno() const noexcept;

    /// sock.getsockname() / sock.getpeername().
    /// @throws error (EBADF when closed; ENOTCONN from getpeername() when not connected).
    address getsockname() const;
    address getpeername() const;

    /// sock.settimeout(seconds): nullopt = blocking, 0.0 = non-blocking, > 0 = timeout.
    /// @throws std::invalid_argument for negative or NaN values, std::out_of_range for values
    /// too large to represent, error (EBADF) on a closed socket.
    void settimeout(std::optional<double> seconds);
    /// sock.gettimeout(): nullopt in blocking mode.
    std::optional<double> gettimeout() const noexcept;
    /// sock.setblocking(flag): settimeout(nullopt) or settimeout(0.0). @throws error (EBADF).
    void setblocking(bool flag);
    /// sock.getblocking(): false only in non-blocking mode (gettimeout() == 0.0).
    bool getblocking() const noexcept;

    /// sock.setsockopt(level, optname, value) with an int, or with raw bytes for struct options.
    /// @throws error (ENOPROTOOPT for an unknown option, EINVAL for a bad value, EBADF).
    void setsockopt(int level, int optname, int value);
    void setsockopt(int level, int optname, std::string_view value);
    /// sock.getsockopt(level, optname) as an int; with buflen, the raw bytes.
    /// @throws error (ENOPROTOOPT, EBADF; "getsockopt buflen out of range" outside 1..1024).
    int getsockopt(int level, int optname) const;
    bytes getsockopt(int level, int optname, std::size_t buflen) const;

    /// sock.family, sock.type, sock.proto.
    int family() const noexcept { return family_; }
    int type() const noexcept { return type_; }
    int proto() const noexcept { return proto_; }

    /// sock.dup(): a new close-on-exec descriptor for the same socket, with the same timeout.
    /// @throws error (EBADF, EMFILE).
    socket dup() const;
    /// sock.makefile(mode="r", buffering=None): a file object for line-oriented protocols
    /// (readline, iteration, buffered writes). Mode is made of 'r', 'w' and 'b' ("r", "rb", "w",
    /// "wb", "rwb"...); 'b' changes nothing: data is bytes either way, with no newline
    /// translation. buffering: nullopt = 8,192 bytes (io.DEFAULT_BUFFER_SIZE), 0 = unbuffered.
    /// The file works on a duplicate of the descriptor (one dup()), so, as in Python, closing,
    /// moving or destroying this socket while the file is open leaves the connection open until
    /// the file is closed too; fileno() of the file is the duplicate's. The file keeps the timeout
    /// this socket has when makefile() is called.
    /// @throws std::invalid_argument "invalid mode 'x' (only r, w, b allowed)", error (EBADF
    /// on a closed socket, EMFILE). Thread safety: as dup().
    socket_file makefile(std::string_view mode = "r",
                         std::optional<std::size_t> buffering = std::nullopt) const;
    /// sock.get_inheritable() / sock.set_inheritable(flag): whether children inherit it.
    /// @throws error (EBADF when closed).
    bool get_inheritable() const;
    void set_inheritable(bool inheritable);

    // Non-throwing twins, for event loops (the std::filesystem and Asio convention). Each does
    // what the throwing call of the same name does, but reports a failure in `ec` instead of
    // throwing, and then returns 0 or an empty value; `ec` is cleared on success. `ec` holds
    // the code the exception would carry (e.code()): EAGAIN/EWOULDBLOCK for a would-block, so
    // that in a non-blocking loop a would-block costs what the system call costs; ETIMEDOUT when
    // the socket's timeout expires; EINPROGRESS from connect() on a non-blocking socket; a
    // gai_category() code when a host name does not resolve; std::errc::invalid_argument (or
    // result_out_of_range, not_enough_memory) where the throwing call raises a standard exception.
    // Thread safety: as the throwing calls.
    std::size_t recv_into(void* buf, std::size_t nbytes, std::error_code& ec) noexcept;
    std::size_t recv_into(void* buf, std::size_t nbytes, int flags, std::error_code& ec) noexcept;
    template <class Buffer, class = detail::writable_buffer_t<Buffer>>
    std::size_t recv_into(Buffer& buffer, std::error_code& ec) noexcept {
        return recv_into(std::data(buffer), std::size(buffer) * sizeof(*std::data(buffer)), 0, ec);
    }
    bytes recv(std::size_t bufsize, std::error_code& ec) noexcept;
    bytes recv(std::size_t bufsize, int flags, std::error_code& ec) noexcept;
    std::pair<std::size_t, address> recvfrom_into(void* buf, std::size_t nbytes,
                                                  std::error_code& ec) noexcept;
    std::pair<std::size_t, address> recvfrom_into(void* buf, std::size_t nbytes, int flags,
                                                  std::error_code& ec) noexcept;
    std::size_t send(std::string_view data, std::error_code& ec) noexcept;
    std::size_t send(std::string_view data, int flags, std::error_code& ec) noexcept;
    std::size_t sendto(std::string_view data, const address& addr, std::error_code& ec) noexcept;
    std::size_t sendto(std::string_view data, int flags, const address& addr,
                       std::error_code& ec) noexcept;
    /// On failure the returned socket is closed (fileno() == -1).
    std::pair<socket, address> accept(std::error_code& ec) noexcept;
    void connect(const address& addr, std::error_code& ec) noexcept;

private:
    friend std::pair<socket, socket> socketpair(int, int, int);
    friend class socket_file;
    friend struct detail::file_factory;
    socket(native_handle_type fd, int family, int type, int proto) noexcept;
    native_handle_type checked_fd() const;
    void apply_timeout(std::int64_t timeout_ns, std::int64_t previous_ns);
    using io_call = detail::ssize_type (*)(void* op, native_handle_type fd);
    template <class Op>
    std::size_t call(short events, int flags, Op&& op, std::int64_t start = -1);
    template <class Op>
    std::size_t call(short events, int flags, Op&& op, std::error_code& ec) noexcept;
    std::size_t call_slow(short events, int flags, io_call op, void* context, std::int64_t start);
    std::size_t retry_slow(short events, int flags, io_call op, void* context, std::int64_t start,
                           int& failure) noexcept;
    void sendall_slow(std::string_view data, int flags, long long first, std::int64_t start);
    void close_quietly() noexcept;
    void wait_readable_or_timeout();
    int connect_impl(const address& addr);
    template <class Call>
    std::pair<socket, address> accept_impl(Call&& accept_call);

    std::atomic<native_handle_type> fd_;
    int family_;
    int type_;
    int proto_;
    std::atomic<std::int64_t> timeout_ns_;  // -1 blocking, 0 non-blocking, > 0 timeout
};

// ---------------------------------------------------------------------------------------------
// 3.3b socket_file: what sock.makefile() returns (Python's BufferedRWPair over SocketIO)
// ---------------------------------------------------------------------------------------------

/// io.UnsupportedOperation (an OSError and a ValueError in Python): reading a file opened for
/// writing only, or writing one opened for reading only. pysock makes it an `error` (code
/// EBADF, what the system answers for the same mistake on a descriptor), so that
/// `catch (const pysock::error&)` sees it.
PYSOCK_DECLARE_ERROR(unsupported_operation, error);

namespace detail {
/// What a socket_file reads from and writes to when it is not a plain socket: ssl.hpp's TLS
/// connections, whose makefile() returns the same file object. recv_into is one read (0 at end
/// of stream) and sendall sends everything, each with the socket's errors and timeout.
class file_transport {
public:
    virtual ~file_transport() = default;
    virtual std::size_t recv_into(void* buf, std::size_t n) = 0;
    virtual void sendall(std::string_view data) = 0;
    virtual native_handle_type fileno() const noexcept = 0;
};
/// makefile()'s mode and buffering checks, and files over a file_transport (owned by the file).
struct file_factory {
    static socket_file make(socket sock, std::string_view mode,
                            std::optional<std::size_t> buffering);
    static socket_file make(file_transport* transport, std::string_view mode,
                            std::optional<std::size_t> buffering);
};
}  // namespace detail

/// A file object over a socket, as sock.makefile() returns it. Move-only; the destructor
/// flushes (ignoring errors) and closes. Reads are buffered: readline() over a stream of short
/// lines costs one recv() per buffer, not per line, and returns lines that arrived together
/// without a system call. After a recv() timed out, the file refuses reads that need the socket
/// ("cannot read from timed out object", as Python's SocketIO), but every byte already received
/// stays readable: a line already complete in the buffer is still returned. No byte received is
/// ever dropped by an exception: a read that throws leaves what it had in the buffer.
///
/// Errors: reading or writing a closed file -> std::invalid_argument ("I/O operation on closed
/// file."); the wrong direction -> unsupported_operation; the socket's own errors as the socket
/// raises them (timeout, connection_reset_error, ...). Thread safety: one thread at a time.
class socket_file {
public:
    /// A moved-from file is closed.
    socket_file(socket_file&& other) noexcept;
    socket_file& operator=(socket_file&& other) noexcept;
    socket_file(const socket_file&) = delete;
    socket_file& operator=(const socket_file&) = delete;
    ~socket_file();

    /// f.read(n): up to n bytes, fewer only at end of stream (unbuffered: one recv()); read()
    /// reads to end of stream.
    /// @throws (every read below) std::invalid_argument (closed), unsupported_operation (not
    /// opened for reading), error("cannot read from timed out object") after a timeout, and the
    /// socket's errors: timeout, connection_reset_error, ...
    bytes read(std::optional<std::size_t> n = std::nullopt);
    /// f.readline(limit): one line with its '\n'; at most `limit` bytes; empty at end of stream;
    /// the last line may lack its '\n'.
    bytes readline(std::optional<std::size_t> limit = std::nullopt);
    /// f.readlines(): every line to end of stream.
    std::vector<bytes> readlines();
    /// f.readinto(buffer): fills the buffer (fewer bytes only at end of stream; unbuffered: one
    /// recv()); returns the count.
    std::size_t readinto(void* buf, std::size_t nbytes);
    template <class Buffer, class = detail::writable_buffer_t<Buffer>>
    std::size_t readinto(Buffer& buffer) {
        return readinto(std::data(buffer), std::size(buffer) * sizeof(*std::data(buffer)));
    }
    /// f.write(data): buffers (or, unbuffered, sends) all of `data`; returns data.size(). A
    /// full buffer is sent first. On failure, what was not sent stays buffered.
    /// @throws (write, flush) std::invalid_argument (closed), unsupported_operation (not opened
    /// for writing), and the socket's errors: timeout, broken_pipe_error, ...
    std::size_t write(std::string_view data);
    /// f.flush(): sends what is buffered (sendall).
    void flush();
    /// f.close(): flushes, then releases the descriptor, even when the flush throws (the error
    /// is then rethrown). Idempotent. @throws what flush() throws.
    void close();
    bool closed() const noexcept { return closed_; }
    /// f.readable() / f.writable(). @throws std::invalid_argument when closed, as Python.
    bool readable() const;
    bool writable() const;
    /// f.fileno(): the file's descriptor (the duplicate makefile() made). @throws
    /// std::invalid_argument when closed.
    native_handle_type fileno() const;

    /// `for (const auto& line : f)`: readline() until it returns an empty line.
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = bytes;
        using difference_type = std::ptrdiff_t;
        using pointer = const bytes*;
        using reference = const bytes&;
        iterator() = default;
        explicit iterator(socket_file* f) : file_(f) { ++*this; }
        reference operator*() const { return line_; }
        pointer operator->() const { return &line_; }
        iterator& operator++() {
            line_ = file_->readline();
            if (line_.empty()) file_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator& o) const { return file_ == o.file_; }
        bool operator!=(const iterator& o) const { return file_ != o.file_; }

    private:
        socket_file* file_ = nullptr;
        bytes line_;
    };
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

private:
    friend struct detail::file_factory;
    socket_file(socket sock, bool reading, bool writing, std::size_t buffer_size);
    void check_open() const;
    void check_readable() const;
    void check_writable() const;
    std::size_t fill(std::size_t most);
    void make_room(std::size_t wanted);
    bytes take(std::size_t n);
    std::size_t raw_read(char* into, std::size_t n);
    void send_all(std::string_view data);
    void send_buffered();

    socket sock_;
    detail::file_transport* transport_ = nullptr;  // owned; when set, used instead of sock_
    std::size_t buffer_size_;                      // 0: unbuffered
    bool reading_;
    bool writing_;
    bool closed_ = false;
    bool timed_out_ = false;
    std::string rbuf_;  // received, not yet read: rbuf_[rbeg_, rend_)
    std::size_t rbeg_ = 0;
    std::size_t rend_ = 0;
    std::string wbuf_;  // written, not yet sent
};

/// Python's repr() of a socket (3.11's form):
///   <socket.socket fd=3, family=2, type=1, proto=6, laddr=('127.0.0.1', 40000), raddr=(...)>
///   <socket.socket [closed] fd=-1, family=2, type=1, proto=0>
/// laddr and raddr appear when the socket has them (an AF_UNIX path as the bare text, as
/// Python's str()). @throws std::bad_alloc only. Thread safety: as getsockname().
std::string to_string(const socket& s);
/// Prints to_string(s).
template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os,
                                              const socket& s) {
    return os << to_string(s);
}

// ---------------------------------------------------------------------------------------------
// 3.4 Module functions
// ---------------------------------------------------------------------------------------------

/// Python's ExceptionGroup, as create_connection(..., all_errors = true) raises it: what() is
/// "create_connection failed (2 sub-exceptions)"; exceptions() holds each error, in the order
/// the attempts failed (std::rethrow_exception one to catch it by type).
class exception_group : public std::exception {
public:
    exception_group(const std::string& message, std::vector<std::exception_ptr> exceptions);
    const char* what() const noexcept override { return message_.what(); }
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

private:
    std::runtime_error message_;  // holds the text: copying it never throws
    std::vector<std::exception_ptr> exceptions_;
};

/// socket.create_connection(address, timeout, source_address, all_errors): resolves address and
/// tries each result in turn; returns the first connected socket (in `timeout`'s mode, or
/// getdefaulttimeout()'s when nullopt). When every attempt fails it raises the LAST attempt's
/// error, as CPython does, or, with all_errors, an exception_group of them all.
///
/// happy_eyeballs_delay (asyncio's name; pysock's step beyond the socket module): when set,
/// the attempts race, RFC 8305's way: addresses alternate by family (the first result's family
/// first), a new attempt starts every `delay` seconds while earlier ones are still pending, and
/// at once when one fails; the first to connect wins and the others are closed. An address
/// whose route is broken then costs `delay`, not the whole timeout. The timeout then bounds
/// the whole call (without it, each attempt gets the full timeout, as in Python).
/// @throws gaierror (unknown host), connection_refused_error, timeout, error (the last
/// attempt's error), exception_group (all_errors), std::invalid_argument (a negative or NaN
/// timeout or delay).
socket create_connection(const address& addr, std::optional<double> timeout = std::nullopt,
                         std::optional<address> source_address = std::nullopt,
                         bool all_errors = false,
                         std::optional<double> happy_eyeballs_delay = std::nullopt);
/// socket.create_server(address, family, backlog, reuse_port, dualstack_ipv6): a listening TCP
/// socket with SO_REUSEADDR (POSIX), optionally SO_REUSEPORT and IPv4-mapped IPv6.
/// @throws std::invalid_argument for impossible option combinations, error.
socket create_server(const address& addr, int family = AF_INET,
                     std::optional<int> backlog = std::nullopt, bool reuse_port = false,
                     bool dualstack_ipv6 = false);
/// socket.socketpair(family, type, proto): two connected sockets.
/// @throws error (EMFILE, EAFNOSUPPORT), std::invalid_argument (Windows: a family, type or
/// protocol its emulation does not support, Python's ValueError).
std::pair<socket, socket> socketpair(int family = detail::default_socketpair_family,
                                     int type = SOCK_STREAM, int proto = 0);

#if PYSOCK_HAVE_SENDMSG
/// socket.send_fds(sock, buffers, fds, flags, address): sends the buffers with the descriptors
/// as SCM_RIGHTS (the receiver gets its own copies; yours stay open). @throws as sendmsg().
std::size_t send_fds(socket& sock, const std::vector<std::string_view>& buffers,
                     const std::vector<native_handle_type>& fds, int flags = 0,
                     const address& addr = address());
/// What recv_fds() returns: Python's (data, fds, msg_flags, address).
struct recv_fds_result {
    bytes data;
    std::vector<native_handle_type> fds;
    int msg_flags = 0;
    address addr;
};
/// socket.recv_fds(sock, bufsize, maxfds, flags): one message and at most maxfds descriptors,
/// each close-on-exec and yours to close. Descriptors beyond maxfds (the control buffer holds
/// whole words) and any in a truncated message are closed, never leaked; msg_flags then has
/// MSG_CTRUNC. `flags` is honoured (CPython ignores it: gh-107898).
/// @throws as recvmsg().
recv_fds_result recv_fds(socket& sock, std::size_t bufsize, std::size_t maxfds, int flags = 0);
#endif

/// One getaddrinfo() result: Python's (family, type, proto, canonname, sockaddr) 5-tuple.
struct addrinfo {
    int family = 0;
    int type = 0;
    int proto = 0;
    std::string canonname;
    address sockaddr;
};
namespace detail {
/// create_connection() after resolving: tries `infos` (in order, or racing them with
/// happy_eyeballs_delay). Checked directly by tests/test_tcp.cpp, which needs two addresses for
/// one name (this machine's "localhost" has one).
socket connect_any(const std::vector<addrinfo>& infos, std::optional<double> timeout,
                   const std::optional<address>& source_address, bool all_errors,
                   std::optional<double> happy_eyeballs_delay);
}  // namespace detail

/// getaddrinfo()'s port argument, as Python takes it: a number (80), a service name or a
/// numeric string ("http", "8080"), or std::nullopt (None).
struct service {
    service(std::nullopt_t) noexcept {}
    service(int port) noexcept : number(port) {}
    service(std::optional<int> port) noexcept : number(port) {}
    service(const char* name) : text(name ? name : ""), named(name != nullptr) {}
    service(std::string name) : text(std::move(name)), named(true) {}
    std::optional<int> number;
    std::string text;
    bool named = false;
};
/// socket.getaddrinfo(host, port, family, type, proto, flags). host std::nullopt is Python's
/// None (the loopback addresses, or with AI_PASSIVE the wildcard ones); "" is an empty name,
/// which the resolver refuses, as in Python. port: see `service`.
/// @throws gaierror ("[Errno -2] Name or service not known", "[Errno -8] Servname not
/// supported for ai_socktype" for an unknown service), std::invalid_argument (a NUL in a name).
std::vector<addrinfo> getaddrinfo(const std::optional<std::string>& host, const service& port,
                                  int family = 0, int type = 0, int proto = 0, int flags = 0);
/// socket.getnameinfo(sockaddr, flags): (host, port) as strings. The host must be numeric.
/// @throws gaierror, error ("sockaddr resolved to multiple addresses", "IPv4 sockaddr must be
/// 2 tuple").
std::pair<std::string, std::string> getnameinfo(const address& addr, int flags = 0);
/// socket.gethostname(). @throws error (the system call failed).
std::string gethostname();
/// socket.getfqdn([name]): the fully qualified name, or the name itself when no lookup gives
/// one. @throws error from gethostname() only (lookup failures are not errors here, as in Python).
std::string getfqdn(const std::string& name = "");
/// socket.has_dualstack_ipv6(): whether an AF_INET6 socket can also accept IPv4 clients.
bool has_dualstack_ipv6() noexcept;

/// socket.gethostbyname(name): one IPv4 address as text ("" gives "0.0.0.0"). @throws gaierror.
std::string gethostbyname(const std::string& hostname);
/// Python's (hostname, aliaslist, ipaddrlist) triple; `auto [name, aliases, addrs] = ...` unpacks it.
struct host_entry {
    std::string hostname;
    std::vector<std::string> aliases;
    std::vector<std::string> addresses;
};
/// socket.gethostbyname_ex(name): the canonical name and every IPv4 address. @throws gaierror.
host_entry gethostbyname_ex(const std::string& hostname);
/// socket.gethostbyaddr(ip_address): the name of an address (reverse lookup), like Python's
/// triple. @throws herror ("[Errno 1] Unknown host") when the address has no name, gaierror.
host_entry gethostbyaddr(const std::string& ip_address);
/// socket.getservbyname(name, proto): the port of a service ("http" -> 80); proto "tcp" or
/// "udp", or std::nullopt (None: any). Any other proto ("", "TCP", "bogus") matches nothing, as
/// in Python. @throws error "service/proto not found".
int getservbyname(const std::string& servicename,
                  const std::optional<std::string>& protocolname = std::nullopt);
/// socket.getservbyport(port, proto): the name of a port (80 -> "http"); proto as above.
/// @throws std::out_of_range for a port outside 0..65535, error "port/proto not found".
std::string getservbyport(int port, const std::optional<std::string>& protocolname = std::nullopt);
/// socket.getprotobyname(name): the protocol number ("tcp" -> 6). @throws error "protocol not found".
int getprotobyname(const std::string& protocolname);

/// socket.if_nameindex(): every network interface as (index, name) pairs.
/// @throws error (the system call failed).
std::vector<std::pair<unsigned, std::string>> if_nameindex();
/// socket.if_nametoindex(name): an interface's index.
/// @throws error "no interface with this name" (as Python), std::invalid_argument (a NUL).
unsigned if_nametoindex(const std::string& ifname);
/// socket.if_indextoname(index): an interface's name. (Python's OverflowError for a negative
/// index cannot happen: the index is unsigned.)
/// @throws error ("[Errno 6] No such device or address" for an unknown index).
std::string if_indextoname(unsigned ifindex);

/// socket.getdefaulttimeout() / socket.setdefaulttimeout(seconds).
std::optional<double> getdefaulttimeout() noexcept;
/// @throws std::invalid_argument (negative or NaN), std::out_of_range (too large).
void setdefaulttimeout(std::optional<double> seconds);

/// socket.inet_pton(family, string) -> packed bytes; socket.inet_ntop(family, packed) -> string.
/// @throws error ("illegal IP address string passed to inet_pton"; EAFNOSUPPORT for another
/// family), std::invalid_argument (an embedded NUL; inet_ntop: packed of the wrong length).
bytes inet_pton(int family, const std::string& ip);
std::string inet_ntop(int family, std::string_view packed);
/// socket.inet_aton / socket.inet_ntoa (IPv4 only).
/// @throws error ("illegal IP address string passed to inet_aton", "packed IP wrong length for
/// inet_ntoa"), std::invalid_argument (an embedded NUL).
bytes inet_aton(const std::string& ip);
std::string inet_ntoa(std::string_view packed);

/// socket.htons / ntohs / htonl / ntohl.
namespace detail {
constexpr bool little_endian() noexcept {
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) &&                                    \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return false;
#else
    return true;
#endif
}
}  // namespace detail

constexpr std::uint16_t htons(std::uint16_t x) noexcept {
    return detail::little_endian() ? static_cast<std::uint16_t>((x << 8) | (x >> 8)) : x;
}
constexpr std::uint16_t ntohs(std::uint16_t x) noexcept { return htons(x); }
constexpr std::uint32_t htonl(std::uint32_t x) noexcept {
    return detail::little_endian()
               ? ((x & 0xffu) << 24) | ((x & 0xff00u) << 8) | ((x >> 8) & 0xff00u) | (x >> 24)
               : x;
}
constexpr std::uint32_t ntohl(std::uint32_t x) noexcept { return htonl(x); }

/// socket.close(fd): closes a raw descriptor. @throws error.
void close(native_handle_type fd);

namespace detail {
// What the companion headers (selectors.hpp) use of the platform layer and of the error model,
// declared here so that they compile in separate compilation mode too (sections 4 and 5 hold
// the bodies).
int last_error() noexcept;
bool interrupted(int err) noexcept;
std::int64_t monotonic_ns() noexcept;
int set_cloexec(native_handle_type fd, bool on) noexcept;
int timeout_ms(std::int64_t timeout_ns) noexcept;
::timeval timeout_timeval(std::int64_t timeout_ns) noexcept;
[[noreturn]] void raise_os_error(int err, const std::string& message, std::size_t written = 0);
[[noreturn]] void raise_os_error(int err, std::size_t written = 0);
[[noreturn]] void raise_last_error();
// Checked directly by tests/test_address.cpp: the dotted-quad fast path of bind/connect/sendto.
bool parse_ipv4(const std::string& text, void* in_addr_bytes) noexcept;

// What ssl.hpp's transport (the BIO OpenSSL reads and writes through) needs of the platform layer.
/// One recv() (or send(), never raising SIGPIPE) on fd, EINTR retried; with dont_wait, this call
/// does not block (MSG_DONTWAIT; where the system has no such flag, the socket is already
/// non-blocking in every mode that asks). Returns the count; -1 when it would block; -2 on
/// another error, whose code is put in `err`.
std::ptrdiff_t transport_io(native_handle_type fd, void* buf, std::size_t n, bool sending,
                            bool dont_wait, int& err) noexcept;
/// Waits until fd is readable (or writable) or timeout_ns passes (-1: forever), EINTR retried
/// with the time left. Returns false when the time is up. @throws error (the OS error).
bool wait_io(native_handle_type fd, bool writable, std::int64_t timeout_ns);
/// Throws socket.timeout with `message` ("The read operation timed out"), having written
/// `written` bytes (characters_written()).
[[noreturn]] void raise_timeout_message(const char* message, std::size_t written = 0);
/// Sets the kernel's receive (reading) or send timer of fd to timeout_ns (> 0), as settimeout()
/// does with PYSOCK_KERNEL_TIMEOUTS: so a transport can bound one blocking call by what is left
/// of a longer operation's timeout. Returns 0, or -1 with the error in last_error().
int set_transport_timer(native_handle_type fd, bool writable, std::int64_t timeout_ns) noexcept;
}  // namespace detail

#if PYSOCK_WITH_SERVER
// ---------------------------------------------------------------------------------------------
// 3.5 socketserver: base_server, tcp_server, threading_tcp_server, udp_server,
//     threading_udp_server
// ---------------------------------------------------------------------------------------------
//
//     auto echo = [](pysock::socket& conn, const pysock::address& client) {
//         for (auto data = conn.recv(4096); !data.empty(); data = conn.recv(4096))
//             conn.sendall(data);
//     };
//     pysock::threading_tcp_server server({"", 65432}, echo);
//     server.shutdown_on_signals();    // Ctrl-C (SIGINT) and SIGTERM make serve_forever() return
//     server.serve_forever();          // until shutdown()
//
// Python's socketserver, class for class:
//
//     socketserver.BaseServer          pysock::base_server        serve_forever, shutdown, ...
//     socketserver.TCPServer           pysock::tcp_server         one request at a time
//     socketserver.ThreadingTCPServer  pysock::threading_tcp_server  a thread per client
//     socketserver.UDPServer           pysock::udp_server         one datagram at a time
//     socketserver.ThreadingUDPServer  pysock::threading_udp_server  a bounded pool of threads
//     StreamRequestHandler             pysock::stream_request     connection, rfile, wfile, ...
//
// Each derives as in Python (a threading_tcp_server is a tcp_server is a base_server). The
// address decides the family: ("host", port) AF_INET, ("host", port, flowinfo, scope_id)
// AF_INET6, a path AF_UNIX (Python's UnixStreamServer and UnixDatagramServer). As in Python,
// server_close() does not remove an AF_UNIX path.
//
// Handlers. A stream server's handler gets the connected socket and the client's address, or a
// stream_request (Python's StreamRequestHandler: rfile buffered for readline(), wfile
// unbuffered). The socket is closed when the handler returns or throws. A datagram server's
// handler gets the datagram, the server's socket to answer with sendto(), and the sender. An
// exception ends only its own request: it goes to options.handle_error (default: one line on
// stderr naming the client) and the server goes on.
//
// Threads. threading_tcp_server runs one thread per client (Python's ThreadingMixIn) and joins
// finished ones while it runs, so a long-lived server does not pile up thread objects.
// threading_udp_server does better than Python's thread per datagram: a pool of at most
// max_clients threads (PYSOCK_UDP_MAX_THREADS when 0), started as needed; while every thread is
// busy the server reads nothing more, so datagrams wait in the socket's receive buffer (the
// kernel drops what overflows it, as it would from any UDP server that falls behind).
//
// Stopping without polling. The loop sleeps in poll() on two descriptors: the server's socket
// and the read end of a socketpair. request_shutdown() sets a flag and writes one byte to the
// other end, so the loop wakes at once (Python's serve_forever looks at its flag every 0.5 s).
// shutdown() does that and waits until serve_forever() has returned. Before returning,
// serve_forever() stops taking requests and gives running handlers options.grace_period to
// finish; then it shuts their sockets down (SHUT_RDWR: a handler blocked in recv() sees the end
// of the stream, one blocked in send() gets an error) and joins every handler thread.
// server_close() (or the destructor) then closes the sockets: nothing of the server is left.
// tcp_server runs its handler in the serving thread, so it is shutdown() (from another thread)
// that cuts its connection after the grace period; a stop requested by a signal waits for the
// request in progress (set connection_timeout to bound it). Datagram handlers have no
// connection to cut: the stop waits for them.
//
// Signals. request_shutdown() is async-signal-safe (atomic stores and one send() on a
// non-blocking socket, errno preserved): call it from your own signal handler, or let
// shutdown_on_signals() install one for SIGINT and SIGTERM. shutdown() is NOT async-signal-safe
// (it waits for serve_forever() to return): never call it from a signal handler.
//
// C++ cannot abandon or kill a thread that uses the server, so daemon_threads and
// block_on_close=false do not leave threads behind as in Python: they only remove the grace
// period. A handler that never returns and never touches its socket delays the stop until it
// returns. A handler that moves the socket out of `conn` owns it; the server can then no longer
// shut it down for it. Let the server close `conn` (shutdown(SHUT_WR) ends the stream early): a
// handler calling conn.close() at the instant the server stops could see its descriptor number
// reused by another thread before the server's shutdown(SHUT_RDWR) reaches it.

/// Options of every server. Fields with Python's socketserver names keep Python's meaning;
/// where Python's default is a known trap, pysock's differs (noted).
struct server_options {
    /// listen() backlog. Python's default, 5, drops bursts of clients; pysock uses listen()'s.
    int request_queue_size = PYSOCK_DEFAULT_BACKLOG;
    /// SO_REUSEADDR before bind(), so a restarted stream server can bind its port at once.
    /// Python's TCPServer defaults to false; pysock, like create_server(), to true (ignored on
    /// Windows, where SO_REUSEADDR would let another socket take the port). Datagram servers
    /// ignore it: a UDP port has no TIME_WAIT to wait out, and on Linux SO_REUSEADDR would let
    /// a second server bind the same port and take half of the datagrams.
    bool allow_reuse_address = true;
    /// SO_REUSEPORT before bind() (Python 3.11's allow_reuse_port).
    bool allow_reuse_port = false;
    /// AF_INET6 servers also accept IPv4 clients (seen as ::ffff:a.b.c.d); false: IPv6 only.
    bool dualstack_ipv6 = true;
    /// Python's ThreadingMixIn.daemon_threads and block_on_close. Either one not waiting
    /// (daemon_threads = true or block_on_close = false) means no grace period: handlers' sockets
    /// are shut down as soon as the server stops. Threads are joined in every case.
    bool daemon_threads = false;
    bool block_on_close = true;
    /// How long running handlers may take to finish when the server stops, in seconds, before
    /// their sockets are shut down. std::nullopt waits for them without limit (Python).
    std::optional<double> grace_period = 1.0;
    /// Python's BaseServer.timeout: how long handle_request() waits for a request (nullopt:
    /// without limit). When it passes, handle_timeout runs and handle_request() returns false.
    std::optional<double> timeout;
    /// Python's handle_timeout(): called by handle_request() when `timeout` passed without a
    /// request. Exceptions it throws propagate out of handle_request().
    std::function<void()> handle_timeout;
    /// settimeout() applied to every accepted socket; nullopt keeps getdefaulttimeout(), as
    /// accept() does. A client silent for longer makes the handler's recv() throw `timeout`.
    std::optional<double> connection_timeout;
    /// threading_tcp_server: at most this many handlers at once (0: no limit). Beyond it the
    /// server stops accepting (new clients wait in the listen queue) or, with
    /// refuse_when_full, accepts each extra client, sends it refuse_message (without blocking)
    /// and closes the connection. threading_udp_server: the size of its thread pool (0:
    /// PYSOCK_UDP_MAX_THREADS).
    std::size_t max_clients = 0;
    bool refuse_when_full = false;
    bytes refuse_message;
    /// Datagram servers: the most bytes read of one datagram (Python's max_packet_size); the
    /// rest of a longer datagram is dropped (POSIX) or the datagram is (Windows).
    std::size_t max_packet_size = 8192;
    /// Python's handle_error(request, client_address): called, in the handler's thread, with
    /// the exception a handler threw. The default writes one line to stderr:
    ///   Exception occurred during processing of request from ('127.0.0.1', 40522): boom
    /// Errors of handlers whose socket the server shut down while stopping are not reported.
    /// Failures to accept a client or read a datagram that need attention (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM) and to start a thread come here too, from the serving thread; `client`
    /// is then an empty address() (family AF_UNSPEC) for accept failures. Exceptions thrown by
    /// the hook are ignored.
    std::function<void(const address& client, std::exception_ptr error)> handle_error;
};

/// What a stream handler gets in the shape of Python's StreamRequestHandler: the connection,
/// `rfile` (makefile("rb"): buffered, for readline()) and `wfile` (makefile("wb", 0):
/// unbuffered, each write() a sendall(), as Python's wbufsize = 0), and the client's address.
/// Both files are closed after the handler returns (Python's finish()).
struct stream_request {
    socket& connection;
    socket_file rfile;
    socket_file wfile;
    address client_address;
};

namespace detail {

/// What wakes a server's loop: a flag and a socketpair (see section 5.5). notify() and
/// request_stop() are async-signal-safe.
class server_wakeup {
public:
    void open();
    void close() noexcept;
    native_handle_type read_handle() const noexcept;
    /// Wakes the loop (coalesced: one byte in flight at most).
    void notify() noexcept;
    /// Empties the pipe; look at what changed after it.
    void drain() noexcept;
    void request_stop(int signal_number) noexcept;

    std::atomic<bool> stop_requested{false};
    std::atomic<int> stop_signal{0};

private:
    std::optional<socket> read_, write_;
    std::atomic<native_handle_type> write_handle_{static_cast<native_handle_type>(-1)};
    std::atomic<int> writers_{0};
    std::atomic<bool> pending_{false};
};

}  // namespace detail

/// Python's socketserver.BaseServer: the loop, the stop and the signals every server shares.
/// Not copyable or movable: threads point to it. Not made directly: make one of the servers.
class base_server {
public:
    // Every virtual function is declared inline (PYSOCK_DECL) here: a class whose first virtual
    // function is not inline at this point has its vtable, and so every virtual body, compiled
    // into every translation unit that includes the header, used or not.
    base_server(const base_server&) = delete;
    base_server& operator=(const base_server&) = delete;
    PYSOCK_DECL virtual ~base_server();

    /// serve_forever(): serves requests until shutdown() or request_shutdown(). Returns after
    /// the stop described above: every handler thread has been joined. A stop requested while
    /// no serve_forever() ran makes the next one return at once (Python does the same).
    /// @throws error (EBADF after server_close()).
    /// Thread safety: one serve_forever() or handle_request() at a time.
    void serve_forever();
    /// handle_request(): waits up to options.timeout for one request and serves it (threading
    /// servers: starts its handler without waiting for it). @returns true when a request was
    /// served or dispatched; false when a stop was requested, or on timeout (after
    /// options.handle_timeout). Handler threads are joined by server_close().
    /// @throws error (EBADF after server_close()), what handle_timeout throws.
    /// Thread safety: as serve_forever().
    bool handle_request();
    /// shutdown(): stops serve_forever() and waits until it has returned (so the stop, grace
    /// period included, is over). Called from a handler, from the serving thread, or while no
    /// serve_forever() runs, it only requests the stop. @throws nothing in practice (a
    /// std::system_error from the standard library's mutex is the only possibility).
    /// Thread safety: any thread; NOT from a signal handler (use request_shutdown()).
    void shutdown();
    /// Requests the stop and returns at once. Async-signal-safe; any thread.
    void request_shutdown() noexcept;
    /// Makes these signals (by default SIGINT and SIGTERM) request the stop of this server:
    /// installs a process-wide handler (sigaction, SA_RESTART) that calls request_shutdown() on
    /// every server registered for the signal. The previous handlers come back when the last
    /// server using them is closed. shutdown_signal() then tells which signal stopped it.
    /// @throws std::invalid_argument (bad signal number), error (sigaction failed),
    /// std::length_error (more than 16 servers registered at once).
    /// Thread safety: any thread, but sigaction is process-wide: do not also install your own
    /// handler for the same signals.
    void shutdown_on_signals(std::initializer_list<int> signals = {SIGINT, SIGTERM});
    /// The signal that stopped serve_forever() last (0: none). Use it for the exit status
    /// (128 + signal, as shells expect).
    int shutdown_signal() const noexcept;
    /// server_close(): finishes the handlers still running (grace period, then their sockets
    /// are shut down, then joined), closes the server's socket and the wake-up pair, and gives
    /// back the signal handlers. Idempotent. Thread safety: not while serve_forever() runs in
    /// another thread (call shutdown() first, as in Python).
    void server_close() noexcept;
    /// server_address: the bound address, with the real port when port 0 was asked for.
    /// @throws error (EBADF after server_close()).
    address server_address() const;
    /// fileno(): the server socket's descriptor (-1 after server_close()).
    native_handle_type fileno() const noexcept;
    /// socket_type: SOCK_STREAM or SOCK_DGRAM (Python's socket_type).
    int socket_type() const noexcept { return socket_type_; }
    /// The options the server was made with.
    const server_options& options() const noexcept { return options_; }

protected:
    /// Creates a socket of the address's family and `type`, applies the options, binds.
    base_server(const address& server_address, int type, server_options options);
    /// Adopts a bound socket of `type`. @throws std::invalid_argument (another type).
    base_server(socket sock, int type, server_options options, const char* server_name);
    /// Listens (streams), makes the socket non-blocking for the loop (streams) and opens the
    /// wake-up pair. Called by the constructors of the final classes.
    void activate();
    /// Waits until the server's socket is readable (`watch_socket`) or the loop is woken, up
    /// to timeout_ns (-1: forever). @returns true when a request is waiting and no stop was
    /// requested.
    bool wait_for_request(std::int64_t timeout_ns, bool watch_socket);
    /// Serves (or dispatches) one request if one comes within timeout_ns. @returns whether one did.
    virtual bool serve_one(std::int64_t timeout_ns) = 0;
    /// The stop of serve_forever() and server_close(): grace period, cut off, join.
    virtual void finish_requests() noexcept {}
    /// shutdown() from another thread, after the grace period: cut off what the serving
    /// thread itself is blocked in (tcp_server's connection).
    virtual void cut_off() noexcept {}
    void report_error(const address& client, std::exception_ptr error) noexcept;
    /// report_error() for a failure of the loop itself (accept, recvfrom): no client.
    void report_os_error(int err) noexcept;
    /// The final classes' destructors: shutdown() and server_close() while their overrides
    /// still exist.
    void close_for_destructor() noexcept;

    server_options options_;
    socket socket_;
    int socket_type_;
    detail::server_wakeup wakeup_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;  // a handler finished, or serve_forever() returned
    bool serving_ = false;
    std::thread::id serving_thread_;
    std::atomic<bool> backoff_{false};  // ran out of descriptors or memory: wait a little

private:
    void unregister_signals() noexcept;
    int signal_slot_ = -1;
};

/// Python's socketserver.TCPServer (and UnixStreamServer for a path): one request at a time,
/// in the thread that calls serve_forever() or handle_request().
class tcp_server : public base_server {
public:
    /// Python's RequestHandlerClass.handle(): gets the connected socket and the client's
    /// address. The server closes the socket when it returns or throws.
    using handler = std::function<void(socket&, const address&)>;
    /// StreamRequestHandler.handle(): the same, with rfile and wfile made for it.
    using stream_handler = std::function<void(stream_request&)>;

    /// TCPServer(server_address, handler): creates a stream socket of the address's family,
    /// applies the options, binds and listens (Python's bind_and_activate). Port 0 binds a free
    /// port: server_address() says which.
    /// @throws error (EADDRINUSE, EACCES, ...), gaierror, std::invalid_argument (empty handler,
    /// negative or NaN durations in the options).
    tcp_server(const address& server_address, handler handle, server_options options = {});
    tcp_server(const address& server_address, stream_handler handle, server_options options = {});
    /// Serves on a bound SOCK_STREAM socket you made (create_server(), a socket inherited from
    /// systemd, ...); listen(request_queue_size) is called on it.
    /// @throws std::invalid_argument (not a stream socket, empty handler), error.
    tcp_server(socket listener, handler handle, server_options options = {});
    tcp_server(socket listener, stream_handler handle, server_options options = {});
    /// shutdown(), then server_close().
    PYSOCK_DECL ~tcp_server() override;

protected:
    PYSOCK_DECL bool serve_one(std::int64_t timeout_ns) override;
    PYSOCK_DECL void cut_off() noexcept override;
    /// Python's process_request(): runs the handler here (threading: in a thread).
    PYSOCK_DECL virtual void process_request(socket conn, address client);
    /// Whether the loop may accept now (threading: below max_clients).
    virtual bool has_room() const { return true; }
    /// Runs the handler; closes the connection (under the lock) afterwards.
    void finish_request(socket& conn, const address& client, bool& forced) noexcept;
    /// options.connection_timeout on an accepted socket; false (reported) when it fails.
    bool apply_connection_timeout(socket& conn, const address& client) noexcept;

    handler handle_;

private:
    void start_up();
    socket* active_ = nullptr;  // the connection being served (guarded by mutex_)
    bool active_forced_ = false;
};

/// Python's socketserver.ThreadingTCPServer: accepts clients and runs the handler for each one
/// in a thread of its own.
class threading_tcp_server final : public tcp_server {
public:
    /// ThreadingTCPServer(server_address, handler): as tcp_server's.
    /// @throws error (EADDRINUSE, EACCES, ...), gaierror, std::invalid_argument.
    threading_tcp_server(const address& server_address, handler handle,
                         server_options options = {});
    threading_tcp_server(const address& server_address, stream_handler handle,
                         server_options options = {});
    /// Adopts a bound SOCK_STREAM socket. @throws std::invalid_argument, error.
    threading_tcp_server(socket listener, handler handle, server_options options = {});
    threading_tcp_server(socket listener, stream_handler handle, server_options options = {});
    /// shutdown(), then server_close(). Destroying the server while another thread is about to
    /// call serve_forever() is a race you must avoid (join that thread first).
    PYSOCK_DECL ~threading_tcp_server() override;

private:
    struct connection {
        std::thread thread;
        socket conn;
        address client;
        bool forced;  // shut down by the server while stopping (guarded by mutex_)
    };
    using connection_list = std::list<connection>;

    PYSOCK_DECL bool serve_one(std::int64_t timeout_ns) override;
    PYSOCK_DECL void process_request(socket conn, address client) override;
    PYSOCK_DECL bool has_room() const override;
    PYSOCK_DECL void finish_requests() noexcept override;
    void run(connection_list::iterator c) noexcept;
    void reap();

    connection_list connections_;                      // every handler thread not yet joined
    std::vector<connection_list::iterator> finished_;  // handlers done, threads to join
    std::size_t running_ = 0;                          // handlers not finished
};

/// Python's socketserver.UDPServer (and UnixDatagramServer for a path): one datagram at a
/// time, in the thread that calls serve_forever() or handle_request().
class udp_server : public base_server {
public:
    /// Python's DatagramRequestHandler.handle(), flattened: the datagram, the server's socket
    /// (blocking, shared by every handler) to answer with sock.sendto(reply, client), and the
    /// sender's address.
    using handler = std::function<void(const bytes& data, socket& sock, const address& client)>;

    /// UDPServer(server_address, handler): creates a datagram socket of the address's family,
    /// applies the options and binds. @throws error, gaierror, std::invalid_argument (empty
    /// handler, max_packet_size 0, negative or NaN durations).
    udp_server(const address& server_address, handler handle, server_options options = {});
    /// Serves on a bound SOCK_DGRAM socket you made. @throws std::invalid_argument, error.
    udp_server(socket sock, handler handle, server_options options = {});
    PYSOCK_DECL ~udp_server() override;

protected:
    PYSOCK_DECL bool serve_one(std::int64_t timeout_ns) override;
    /// Whether the loop may read a datagram now (threading: a pool thread is free).
    virtual bool has_room() const { return true; }
    /// Python's process_request(): runs the handler here (threading: hands it to the pool).
    PYSOCK_DECL virtual void process_request(bytes data, address client);
    void run_handler(const bytes& data, const address& client) noexcept;

    handler handle_;
    std::vector<char> packet_;  // max_packet_size bytes: where recvfrom_into() reads
    bool more_likely_ = false;  // the last read found a datagram: try the next one before poll()

private:
    void start_up();
};

/// Python's socketserver.ThreadingUDPServer, bounded: a pool of up to max_clients threads
/// (0: PYSOCK_UDP_MAX_THREADS) handles datagrams; threads start as needed and stay until the
/// server stops. While every thread is busy the server reads nothing more.
class threading_udp_server final : public udp_server {
public:
    /// ThreadingUDPServer(server_address, handler). @throws error, gaierror,
    /// std::invalid_argument.
    threading_udp_server(const address& server_address, handler handle,
                         server_options options = {});
    threading_udp_server(socket sock, handler handle, server_options options = {});
    PYSOCK_DECL ~threading_udp_server() override;

    /// The most handlers that ran at once since the server was made (for tests and tuning).
    /// @throws std::system_error (the mutex) only.
    std::size_t peak_concurrency() const;

private:
    struct datagram {
        bytes data;
        address client;
    };

    PYSOCK_DECL bool has_room() const override;
    PYSOCK_DECL void process_request(bytes data, address client) override;
    PYSOCK_DECL void finish_requests() noexcept override;
    void work() noexcept;
    std::size_t limit() const noexcept;

    std::vector<std::thread> threads_;
    std::list<datagram> queue_;  // datagrams read, not yet taken by a thread (at most idle_)
    std::size_t idle_ = 0;       // threads waiting for a datagram
    std::size_t busy_ = 0;       // handlers running
    std::size_t peak_ = 0;
    bool stopping_ = false;
    std::condition_variable work_;
};
#endif  // PYSOCK_WITH_SERVER

#if PYSOCK_HEADER_ONLY || defined(PYSOCK_SOURCE)
// =============================================================================================
// 4. Platform layer: every system call behind one small wrapper
// =============================================================================================
// Each wrapper returns what the system call returns and leaves the error in last_error(). The
// rest of the header calls only these, so a port to another system changes this section only.

namespace detail {

/// Which exception an error code becomes.
enum class error_kind {
    plain,
    timeout,
    blocking,
    permission,
    not_found,
    exists,
    not_a_directory,
    is_a_directory,
    interrupted,
    broken_pipe,
    aborted,
    refused,
    reset
};

// Sets BSD's sun_len/sin_len-style length members where the struct has them (a feature test
// by overload resolution: the first overload exists only when the member does).
template <class T>
auto set_sun_len(T& sa, std::size_t len, int) -> decltype(sa.sun_len = 0, void()) {
    sa.sun_len = static_cast<decltype(sa.sun_len)>(len);
}
template <class T>
void set_sun_len(T&, std::size_t, long) {}

/// A timeout in whole milliseconds for poll() and its kin, rounded up so that a positive timeout
/// never becomes 0 (which would not wait); -1 (forever) stays -1.
PYSOCK_DECL int timeout_ms(std::int64_t timeout_ns) noexcept {
    if (timeout_ns < 0) return -1;
    std::int64_t ms = (timeout_ns + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

/// A timeout (>= 0) as select()'s timeval, rounded up to the microsecond; seconds capped at
/// INT_MAX (Winsock's tv_sec is a 32-bit long).
PYSOCK_DECL ::timeval timeout_timeval(std::int64_t timeout_ns) noexcept {
    ::timeval tv{};
    std::int64_t us = (timeout_ns + 999) / 1000;
    std::int64_t seconds = us / 1000000;
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(seconds > INT_MAX ? INT_MAX : seconds);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>(us % 1000000);
    return tv;
}

#if defined(_WIN32)
// ---------------------------------------------------------------------------------------------
// Windows: Winsock 2. A SOCKET is a handle, not a file descriptor; errors come from
// WSAGetLastError(); Winsock must be started (WSAStartup) before the first call.
// ---------------------------------------------------------------------------------------------

/// Starts Winsock 2.2 the first time pysock needs it; thread-safe (a function-local static is
/// initialised exactly once). Never cleaned up: WSACleanup() at exit would pull the network
/// from under sockets still used by other threads or static destructors, and the process exit
/// releases Winsock anyway. Returns 0 or the WSAStartup error, which it also leaves in
/// WSAGetLastError() for the caller's error path.
inline int start_winsock() noexcept {
    static const int status = [] {
        ::WSADATA data;
        return ::WSAStartup(MAKEWORD(2, 2), &data);
    }();
    if (status != 0) ::WSASetLastError(status);
    return status;
}

PYSOCK_DECL int last_error() noexcept { return ::WSAGetLastError(); }
PYSOCK_DECL bool interrupted(int err) noexcept { return err == WSAEINTR; }
inline bool would_block(int err) noexcept { return err == WSAEWOULDBLOCK; }
// A non-blocking connect() reports WSAEWOULDBLOCK where POSIX says EINPROGRESS.
inline bool in_progress(int err) noexcept { return err == WSAEWOULDBLOCK || err == WSAEINPROGRESS; }
// CPython on Windows reports a closed socket as [WinError 10038] (WSAENOTSOCK), not EBADF.
inline constexpr int err_bad_handle = WSAENOTSOCK;
inline constexpr int err_timed_out = WSAETIMEDOUT;
inline constexpr int err_would_block = WSAEWOULDBLOCK;
inline constexpr int err_invalid = EINVAL;  // with std::generic_category(): no OS call failed
inline constexpr int err_name_too_long = WSAENAMETOOLONG;
inline constexpr int err_af_not_supported = WSAEAFNOSUPPORT;
inline constexpr int err_conn_reset = WSAECONNRESET;
/// CPython's create_server() sets SO_REUSEADDR on POSIX only: on Windows it would let another
/// process bind the same port while the server listens.
inline constexpr bool server_reuse_address = false;

/// The category of OS error codes: Windows error codes (WSA* and GetLastError() values).
inline const std::error_category& os_category() noexcept { return std::system_category(); }

/// Which exception a Windows error code becomes: CPython maps WSA codes (10000..11999) to
/// errno one to one, and the errno picks the OSError subclass.
inline error_kind classify(int err) noexcept {
    switch (err) {
    case WSAETIMEDOUT: return error_kind::timeout;
    case WSAEWOULDBLOCK:
    case WSAEALREADY:
    case WSAEINPROGRESS: return error_kind::blocking;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED: return error_kind::permission;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: return error_kind::not_found;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS: return error_kind::exists;
    case ERROR_DIRECTORY: return error_kind::not_a_directory;
    case WSAEINTR: return error_kind::interrupted;
    case WSAESHUTDOWN:
    case ERROR_BROKEN_PIPE: return error_kind::broken_pipe;
    case WSAECONNABORTED: return error_kind::aborted;
    case WSAECONNREFUSED: return error_kind::refused;
    case WSAECONNRESET: return error_kind::reset;
    default: return error_kind::plain;
    }
}

/// The English text Windows has for the common Winsock errors. FormatMessage() returns it on
/// English Windows; wine knows few of these codes (and words others differently), so pysock
/// uses this table first: what() reads the same on Windows and under wine.
inline const char* winsock_error_text(int err) noexcept {
    // One line per code, as the table Windows documents.
    // clang-format off
    switch (err) {
    case WSAEINTR: return "A blocking operation was interrupted by a call to WSACancelBlockingCall";
    case WSAEBADF: return "The file handle supplied is not valid";
    case WSAEACCES: return "An attempt was made to access a socket in a way forbidden by its access permissions";
    case WSAEFAULT: return "The system detected an invalid pointer address in attempting to use a pointer argument in a call";
    case WSAEINVAL: return "An invalid argument was supplied";
    case WSAEMFILE: return "Too many open sockets";
    case WSAEWOULDBLOCK: return "A non-blocking socket operation could not be completed immediately";
    case WSAEINPROGRESS: return "A blocking operation is currently executing";
    case WSAEALREADY: return "An operation was attempted on a non-blocking socket that already had an operation in progress";
    case WSAENOTSOCK: return "An operation was attempted on something that is not a socket";
    case WSAEDESTADDRREQ: return "A required address was omitted from an operation on a socket";
    case WSAEMSGSIZE: return "A message sent on a datagram socket was larger than the internal message buffer or some other network limit, or the buffer used to receive a datagram into was smaller than the datagram itself";
    case WSAEPROTOTYPE: return "A protocol was specified in the socket function call that does not support the semantics of the socket type requested";
    case WSAENOPROTOOPT: return "An unknown, invalid, or unsupported option or level was specified in a getsockopt or setsockopt call";
    case WSAEPROTONOSUPPORT: return "The requested protocol has not been configured into the system, or no implementation for it exists";
    case WSAESOCKTNOSUPPORT: return "The support for the specified socket type does not exist in this address family";
    case WSAEOPNOTSUPP: return "The attempted operation is not supported for the type of object referenced";
    case WSAEPFNOSUPPORT: return "The protocol family has not been configured into the system or no implementation for it exists";
    case WSAEAFNOSUPPORT: return "An address incompatible with the requested protocol was used";
    case WSAEADDRINUSE: return "Only one usage of each socket address (protocol/network address/port) is normally permitted";
    case WSAEADDRNOTAVAIL: return "The requested address is not valid in its context";
    case WSAENETDOWN: return "A socket operation encountered a dead network";
    case WSAENETUNREACH: return "A socket operation was attempted to an unreachable network";
    case WSAENETRESET: return "The connection has been broken due to keep-alive activity detecting a failure while the operation was in progress";
    case WSAECONNABORTED: return "An established connection was aborted by the software in your host machine";
    case WSAECONNRESET: return "An existing connection was forcibly closed by the remote host";
    case WSAENOBUFS: return "An operation on a socket could not be performed because the system lacked sufficient buffer space or because a queue was full";
    case WSAEISCONN: return "A connect request was made on an already connected socket";
    case WSAENOTCONN: return "A request to send or receive data was disallowed because the socket is not connected and (when sending on a datagram socket using a sendto call) no address was supplied";
    case WSAESHUTDOWN: return "A request to send or receive data was disallowed because the socket had already been shut down in that direction with a previous shutdown call";
    case WSAETIMEDOUT: return "A connection attempt failed because the connected party did not properly respond after a period of time, or established connection failed because connected host has failed to respond";
    case WSAECONNREFUSED: return "No connection could be made because the target machine actively refused it";
    case WSAEHOSTDOWN: return "A socket operation failed because the destination host was down";
    case WSAEHOSTUNREACH: return "A socket operation was attempted to an unreachable host";
    case WSANOTINITIALISED: return "Either the application has not called WSAStartup, or WSAStartup failed";
    case WSAHOST_NOT_FOUND: return "No such host is known";
    case WSATRY_AGAIN: return "This is usually a temporary error during hostname resolution and means that the local server did not receive a response from an authoritative server";
    case WSANO_RECOVERY: return "A non-recoverable error occurred during a database lookup";
    case WSANO_DATA: return "The requested name is valid, but no data of the requested type was found";
    default: return nullptr;
    }
    // clang-format on
}

/// Python's text for a Windows error: "[WinError 10061] No connection could be made because the
/// target machine actively refused it". As CPython: the system's message (FormatMessageW, in
/// UTF-8 here) without its trailing dots and white space, or "Windows Error 0x..." when the
/// system has none.
inline std::string os_error_text(int err) {
    std::string text;
    if (const char* known = winsock_error_text(err)) {
        text = known;
    } else {
        wchar_t wide[512];
        DWORD n =
            ::FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                             static_cast<DWORD>(err), MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT),
                             wide, sizeof wide / sizeof wide[0], nullptr);
        while (n > 0 && (wide[n - 1] <= L' ' || wide[n - 1] == L'.')) --n;
        if (n > 0) {
            int bytes_needed = ::WideCharToMultiByte(CP_UTF8, 0, wide, static_cast<int>(n), nullptr,
                                                     0, nullptr, nullptr);
            if (bytes_needed > 0) {
                text.resize(static_cast<std::size_t>(bytes_needed));
                ::WideCharToMultiByte(CP_UTF8, 0, wide, static_cast<int>(n), &text[0], bytes_needed,
                                      nullptr, nullptr);
            }
        }
        if (text.empty()) {
            static const char hex[] = "0123456789abcdef";
            text = "Windows Error 0x";
            auto u = static_cast<unsigned>(err);
            std::string digits;
            do {
                digits.insert(digits.begin(), hex[u & 0xf]);
                u >>= 4;
            } while (u != 0);
            text += digits;
        }
    }
    return text;
}
inline std::string os_error_message(int err) {
    return "[WinError " + std::to_string(err) + "] " + os_error_text(err);
}

/// Monotonic clock in nanoseconds (the timeout deadlines).
PYSOCK_DECL std::int64_t monotonic_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Inheritance is the handle's HANDLE_FLAG_INHERIT ("close-on-exec" = not inherited).
PYSOCK_DECL int set_cloexec(native_handle_type fd, bool on) noexcept {
    return ::SetHandleInformation(reinterpret_cast<HANDLE>(fd), HANDLE_FLAG_INHERIT,
                                  on ? 0 : HANDLE_FLAG_INHERIT)
               ? 0
               : -1;
}
inline int get_cloexec(native_handle_type fd, bool& on) noexcept {
    DWORD flags = 0;
    if (!::GetHandleInformation(reinterpret_cast<HANDLE>(fd), &flags)) return -1;
    on = (flags & HANDLE_FLAG_INHERIT) == 0;
    return 0;
}
// Winsock cannot report whether a socket is non-blocking: the socket object remembers its mode.
inline int set_nonblocking(native_handle_type fd, bool on) noexcept {
    u_long mode = on ? 1 : 0;
    return ::ioctlsocket(fd, static_cast<long>(FIONBIO), &mode) == 0 ? 0 : -1;
}

inline int close_handle(native_handle_type fd) noexcept { return ::closesocket(fd) == 0 ? 0 : -1; }

// Sockets are created non-inheritable, as CPython creates them (WSA_FLAG_NO_HANDLE_INHERIT).
inline native_handle_type open_socket(int family, int type, int proto) noexcept {
    if (start_winsock() != 0) return invalid_handle;
    return ::WSASocketW(family, type, proto, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}

// accept() hands out an inheritable socket in the listener's blocking mode: set both.
inline native_handle_type accept_handle(native_handle_type fd, ::sockaddr* sa, int* len,
                                        bool nonblocking) noexcept {
    native_handle_type conn = ::accept(fd, sa, len);
    if (conn == invalid_handle) return conn;
    if (set_cloexec(conn, true) < 0 || set_nonblocking(conn, nonblocking) < 0) {
        int err = last_error();
        ::closesocket(conn);
        ::WSASetLastError(err);
        return invalid_handle;
    }
    return conn;
}

// Python's socket.dup() on Windows: WSADuplicateSocketW for this process, non-inheritable.
inline native_handle_type dup_handle(native_handle_type fd) noexcept {
    ::WSAPROTOCOL_INFOW info;
    if (::WSADuplicateSocketW(fd, ::GetCurrentProcessId(), &info) != 0) return invalid_handle;
    return ::WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}

// Winsock counts bytes in an int: larger requests are clamped (recv/send may transfer fewer
// bytes than asked anyway; sendall loops).
inline int clamp_io_size(std::size_t n) noexcept {
    return n > INT_MAX ? INT_MAX : static_cast<int>(n);
}

inline ssize_type sys_recv(native_handle_type fd, void* buf, std::size_t n, int flags) noexcept {
    return ::recv(fd, static_cast<char*>(buf), clamp_io_size(n), flags);
}
inline ssize_type sys_recvfrom(native_handle_type fd, void* buf, std::size_t n, int flags,
                               ::sockaddr* sa, int* len) noexcept {
    return ::recvfrom(fd, static_cast<char*>(buf), clamp_io_size(n), flags, sa, len);
}
// Windows has no SIGPIPE: nothing to suppress.
inline ssize_type sys_send(native_handle_type fd, const void* buf, std::size_t n,
                           int flags) noexcept {
    return ::send(fd, static_cast<const char*>(buf), clamp_io_size(n), flags);
}
inline ssize_type sys_sendto(native_handle_type fd, const void* buf, std::size_t n, int flags,
                             const ::sockaddr* sa, int len) noexcept {
    return ::sendto(fd, static_cast<const char*>(buf), clamp_io_size(n), flags, sa, len);
}

inline int sys_bind(native_handle_type fd, const ::sockaddr* sa, int len) noexcept {
    return ::bind(fd, sa, len);
}
inline int sys_listen(native_handle_type fd, int backlog) noexcept { return ::listen(fd, backlog); }
inline int sys_connect(native_handle_type fd, const ::sockaddr* sa, int len) noexcept {
    return ::connect(fd, sa, len);
}
inline int sys_shutdown(native_handle_type fd, int how) noexcept { return ::shutdown(fd, how); }
inline int sys_getsockname(native_handle_type fd, ::sockaddr* sa, int* len) noexcept {
    return ::getsockname(fd, sa, len);
}
inline int sys_getpeername(native_handle_type fd, ::sockaddr* sa, int* len) noexcept {
    return ::getpeername(fd, sa, len);
}
inline int sys_setsockopt(native_handle_type fd, int level, int name, const void* value,
                          std::size_t len) noexcept {
    return ::setsockopt(fd, level, name, static_cast<const char*>(value), clamp_io_size(len));
}
// Some BOOL options come back as one byte (IPV6_V6ONLY, TCP_NODELAY, ...): callers zero their
// int first, as CPython does.
inline int sys_getsockopt(native_handle_type fd, int level, int name, void* value,
                          int* len) noexcept {
    return ::getsockopt(fd, level, name, static_cast<char*>(value), len);
}

/// Waits until fd is ready for `events` or timeout_ns passes (-1: forever). 1 ready, 0 timed
/// out, -1 error. select(), as CPython uses on Windows: WSAPoll() on Windows before 10 2004
/// never reports a failed connect(), which select() shows in the exception set.
inline constexpr short wait_read = 1;
inline constexpr short wait_write = 2;
inline int wait_ready(native_handle_type fd, short events, std::int64_t timeout_ns) noexcept {
    ::fd_set readable, writable, failed;
    readable.fd_count = writable.fd_count = failed.fd_count = 0;
    if (events & wait_read) readable.fd_array[readable.fd_count++] = fd;
    if (events & wait_write) writable.fd_array[writable.fd_count++] = fd;
    failed.fd_array[failed.fd_count++] = fd;
    ::timeval tv = timeout_timeval(timeout_ns);
    int n = ::select(0, &readable, &writable, &failed, timeout_ns >= 0 ? &tv : nullptr);
    return n == SOCKET_ERROR ? -1 : (n > 0 ? 1 : 0);
}

/// Sets SO_RCVTIMEO and/or SO_SNDTIMEO: a DWORD of milliseconds on Windows (0 = no timeout; a
/// positive timeout is never rounded down to 0). Used only with PYSOCK_KERNEL_TIMEOUTS=1.
inline int set_kernel_timeout(native_handle_type fd, short events,
                              std::int64_t timeout_ns) noexcept {
    DWORD ms = timeout_ns > 0 ? static_cast<DWORD>(timeout_ms(timeout_ns)) : 0;  // at most INT_MAX
    const char* value = reinterpret_cast<const char*>(&ms);
    if ((events & wait_read) && ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, value, sizeof ms) != 0)
        return -1;
    if ((events & wait_write) && ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, value, sizeof ms) != 0)
        return -1;
    return 0;
}

/// Reads family, type and protocol of an open socket (socket(fileno=fd)), as CPython does on
/// Windows: from its WSAPROTOCOL_INFOW.
inline int query_socket(native_handle_type fd, int& family, int& type, int& proto) noexcept {
    ::WSAPROTOCOL_INFOW info;
    int len = sizeof info;
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL_INFOW, reinterpret_cast<char*>(&info), &len) != 0)
        return -1;
    family = info.iAddressFamily;
    type = info.iSocketType;
    proto = info.iProtocol;
    return 0;
}

// Name resolution and host name: Winsock must be started before any of them.
inline int sys_getaddrinfo(const char* host, const char* service, const ::addrinfo* hints,
                           ::addrinfo** res) noexcept {
    if (int rc = start_winsock()) return rc;
    return ::getaddrinfo(host, service, hints, res);
}
inline int sys_getnameinfo(const ::sockaddr* sa, int len, char* host, std::size_t hostlen,
                           char* serv, std::size_t servlen, int flags) noexcept {
    if (int rc = start_winsock()) return rc;
    return ::getnameinfo(sa, len, host, static_cast<DWORD>(hostlen), serv,
                         static_cast<DWORD>(servlen), flags);
}
/// The message of a getaddrinfo() error. CPython on Windows has no gai_strerror() and says
/// "[Errno 11001] getaddrinfo failed" whatever the code.
inline std::string gai_message(int) { return "getaddrinfo failed"; }
inline int sys_gethostname(char* name, std::size_t len) noexcept {
    if (start_winsock() != 0) return -1;
#if defined(_MSC_VER)
#pragma warning(suppress : 4996)  // gethostname: "use GetHostNameW" (Python's result is ASCII)
#endif
    return ::gethostname(name, clamp_io_size(len)) == 0 ? 0 : -1;
}
/// inet_aton: Winsock has only inet_addr (the same a.b.c.d / a.b / 0x.. forms), which cannot
/// tell 255.255.255.255 from an error; CPython special-cases it the same way.
inline int sys_inet_aton(const char* text, ::in_addr* out) noexcept {
    if (std::strcmp(text, "255.255.255.255") == 0) {
        out->s_addr = INADDR_BROADCAST;
        return 1;
    }
#if defined(_MSC_VER)
#pragma warning(suppress : 4996)  // inet_addr: deprecated for inet_pton, which accepts less
#endif
    unsigned long packed = ::inet_addr(text);
    if (packed == INADDR_NONE) return 0;
    out->s_addr = packed;
    return 1;
}

/// socketpair() on Windows: emulated as CPython's socket.py does, with a loopback listener.
/// AF_INET or AF_INET6, SOCK_STREAM, protocol 0 (anything else is Python's ValueError); the
/// two ends are checked to be connected to each other, so a stranger who connects to the
/// listener first is refused.
inline int open_socketpair(int family, int type, int proto, native_handle_type fds[2]) {
    if (family != AF_INET && family != AF_INET6)
        throw std::invalid_argument(
            "Only AF_INET and AF_INET6 socket address families are supported");
    if (type != SOCK_STREAM)
        throw std::invalid_argument("Only SOCK_STREAM socket type is supported");
    if (proto != 0) throw std::invalid_argument("Only protocol zero is supported");
    struct owned {
        native_handle_type fd = invalid_handle;
        ~owned() {
            if (fd != invalid_handle) {
                int err = last_error();
                ::closesocket(fd);
                ::WSASetLastError(err);
            }
        }
    } listener, client, server;
    ::sockaddr_storage addr{};
    int len = 0;
    if (family == AF_INET) {
        auto* sin = reinterpret_cast<::sockaddr_in*>(&addr);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = ::htonl(INADDR_LOOPBACK);
        len = sizeof(::sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<::sockaddr_in6*>(&addr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_loopback;
        len = sizeof(::sockaddr_in6);
    }
    auto* sa = reinterpret_cast<::sockaddr*>(&addr);
    listener.fd = open_socket(family, SOCK_STREAM, 0);
    if (listener.fd == invalid_handle || ::bind(listener.fd, sa, len) != 0 ||
        ::listen(listener.fd, 1) != 0 || ::getsockname(listener.fd, sa, &len) != 0)
        return -1;
    client.fd = open_socket(family, SOCK_STREAM, 0);
    if (client.fd == invalid_handle || set_nonblocking(client.fd, true) < 0) return -1;
    if (::connect(client.fd, sa, len) != 0 && !in_progress(last_error())) return -1;
    if (set_nonblocking(client.fd, false) < 0) return -1;
    server.fd = accept_handle(listener.fd, nullptr, nullptr, false);
    if (server.fd == invalid_handle) return -1;
    // The client's connect() completes with the accept; wait for it before comparing names.
    if (wait_ready(client.fd, wait_write, -1) < 0) return -1;
    auto endpoint = [](native_handle_type fd, bool peer, ::sockaddr_storage& out) {
        int n = sizeof out;
        out = ::sockaddr_storage{};
        auto* p = reinterpret_cast<::sockaddr*>(&out);
        return (peer ? ::getpeername(fd, p, &n) : ::getsockname(fd, p, &n)) == 0;
    };
    ::sockaddr_storage a{}, b{}, c{}, d{};
    if (!endpoint(server.fd, false, a) || !endpoint(client.fd, true, b) ||
        !endpoint(client.fd, false, c) || !endpoint(server.fd, true, d))
        return -1;
    if (std::memcmp(&a, &b, sizeof a) != 0 || std::memcmp(&c, &d, sizeof c) != 0) {
        // Python: ConnectionError("Unexpected peer connection")
        ::WSASetLastError(WSAECONNABORTED);
        return -1;
    }
    fds[0] = server.fd;  // Python returns (ssock, csock)
    fds[1] = client.fd;
    server.fd = client.fd = invalid_handle;
    return 0;
}

/// getprotobyname(name)->p_proto, or -1. The C call returns a static buffer: one caller at a
/// time (a spin lock: the call is short, and <mutex> is not included without the servers).
inline int sys_getprotobyname(const char* name) noexcept {
    if (start_winsock() != 0) return -1;
    static std::atomic_flag busy = ATOMIC_FLAG_INIT;
    while (busy.test_and_set(std::memory_order_acquire)) {}
    const ::protoent* p = ::getprotobyname(name);
    int number = p ? p->p_proto : -1;
    busy.clear(std::memory_order_release);
    return number;
}
/// Network interfaces, as CPython on Windows: GetIfTable2 for the list (Windows has no
/// if_nameindex()), netioapi's if_nametoindex/if_indextoname for the lookups. Errors become
/// the codes last_error() reads.
inline int sys_interfaces(std::vector<std::pair<unsigned, std::string>>& out) {
    ::MIB_IF_TABLE2* table = nullptr;
    if (DWORD status = ::GetIfTable2(&table); status != NO_ERROR) {
        ::WSASetLastError(static_cast<int>(status));
        return -1;
    }
    struct release {
        ::MIB_IF_TABLE2* table;
        ~release() { ::FreeMibTable(table); }
    } owner{table};
    for (ULONG i = 0; i < table->NumEntries; ++i) {
        char name[IF_MAX_STRING_SIZE + 1] = {};
        if (::ConvertInterfaceLuidToNameA(&table->Table[i].InterfaceLuid, name, sizeof name) !=
            NO_ERROR)
            continue;
        out.emplace_back(static_cast<unsigned>(table->Table[i].InterfaceIndex), name);
    }
    return 0;
}
inline unsigned sys_if_nametoindex(const char* name) noexcept { return ::if_nametoindex(name); }
inline const char* sys_if_indextoname(unsigned index, char* name) noexcept {
    const char* r = ::if_indextoname(index, name);
    if (!r) ::WSASetLastError(ERROR_NOT_FOUND);
    return r;
}

/// Waits until one of `n` connecting sockets is done (connected or failed) or timeout_ns passes
/// (-1: forever); done[i] says which. Returns how many, 0 on timeout, -1 on error. select(), as
/// wait_ready(): a failed connect shows in the exception set.
inline int wait_connected(const native_handle_type* fds, std::size_t n, std::int64_t timeout_ns,
                          bool* done) noexcept {
    if (n > FD_SETSIZE) n = FD_SETSIZE;
    ::fd_set writable, failed;
    writable.fd_count = failed.fd_count = 0;
    for (std::size_t i = 0; i < n; ++i) {
        writable.fd_array[writable.fd_count++] = fds[i];
        failed.fd_array[failed.fd_count++] = fds[i];
    }
    ::timeval tv = timeout_timeval(timeout_ns);
    int r = ::select(0, nullptr, &writable, &failed, timeout_ns >= 0 ? &tv : nullptr);
    if (r == SOCKET_ERROR) return -1;
    int count = 0;
    for (std::size_t i = 0; i < n; ++i) {
        done[i] = FD_ISSET(fds[i], &writable) || FD_ISSET(fds[i], &failed);
        count += done[i] ? 1 : 0;
    }
    return count;
}

/// sendfile(): Winsock's TransmitFile takes a HANDLE, not the CRT descriptor Python's
/// socket.sendfile() takes, and CPython does not use it either: read + send.
inline constexpr bool have_zero_copy_sendfile = false;
inline ssize_type sys_sendfile(native_handle_type, int, std::uint64_t&, std::size_t) noexcept {
    ::WSASetLastError(WSAEOPNOTSUPP);
    return -1;
}
/// Reads a file at an offset (the CRT has no pread: seek, then read); CRT errors become the
/// WSA codes last_error() reads.
inline ssize_type sys_pread(int fd, void* buf, std::size_t n, std::uint64_t offset) noexcept {
    if (::_lseeki64(fd, static_cast<long long>(offset), SEEK_SET) < 0) {
        ::WSASetLastError(errno == EBADF ? WSAEBADF : WSAEINVAL);
        return -1;
    }
    int r = ::_read(fd, buf, static_cast<unsigned>(n > INT_MAX ? INT_MAX : n));
    if (r < 0) ::WSASetLastError(errno == EBADF ? WSAEBADF : WSAEINVAL);
    return r;
}
inline int sys_seek(int fd, std::uint64_t offset) noexcept {
    return ::_lseeki64(fd, static_cast<long long>(offset), SEEK_SET) < 0 ? -1 : 0;
}
inline ssize_type sys_read(int fd, void* buf, std::size_t n) noexcept {
    int r = ::_read(fd, buf, static_cast<unsigned>(n > INT_MAX ? INT_MAX : n));
    if (r < 0) ::WSASetLastError(errno == EBADF ? WSAEBADF : WSAEINVAL);
    return r;
}
/// A file that cannot seek (a pipe): the CRT's errno is mapped above, never to this.
inline bool not_seekable(int) noexcept { return false; }

/// inet_pton() / inet_ntop(): text <-> packed address (Winsock 2, Vista and later).
inline int sys_inet_pton(int family, const char* text, void* packed) noexcept {
    return ::inet_pton(family, text, packed);
}
inline const char* sys_inet_ntop(int family, const void* packed, char* text,
                                 std::size_t size) noexcept {
    return ::inet_ntop(family, const_cast<void*>(packed), text, size);  // older headers: non-const
}

/// Waits until `a` (and `b`, when watch_b) is readable or timeout_ns passes (-1: forever).
/// Returns the number ready (0: timed out) or -1 with the error in last_error() (EINTR
/// included); a closed descriptor is an error (EBADF), never a "ready" that would spin.
inline int wait_readable(native_handle_type a, native_handle_type b, bool watch_b,
                         std::int64_t timeout_ns, bool& a_ready, bool& b_ready) noexcept {
    a_ready = b_ready = false;
    ::fd_set readable;
    readable.fd_count = 0;
    readable.fd_array[readable.fd_count++] = a;
    if (watch_b) readable.fd_array[readable.fd_count++] = b;
    ::timeval tv = timeout_timeval(timeout_ns);
    int n = ::select(0, &readable, nullptr, nullptr, timeout_ns >= 0 ? &tv : nullptr);
    if (n == SOCKET_ERROR) return -1;
    a_ready = FD_ISSET(a, &readable) != 0;
    b_ready = watch_b && FD_ISSET(b, &readable) != 0;
    return n;
}

/// A flag to read one datagram without blocking: Winsock has none (nor Linux's dropped-datagram
/// case that needs it); datagram servers read only what select() reported.
inline constexpr int msg_dontwait = 0;

#if PYSOCK_WITH_SERVER
/// What installing a signal handler replaced, to give it back: the CRT's signal() handler.
using saved_signal = void (*)(int);
inline int install_signal(int signal_number, void (*handler)(int),
                          saved_signal& previous) noexcept {
    previous = ::signal(signal_number, handler);
    if (previous != SIG_ERR) return 0;
    ::WSASetLastError(WSAEINVAL);  // the CRT's errno is not what last_error() reads
    return -1;
}
inline void restore_signal(int signal_number, const saved_signal& previous) noexcept {
    ::signal(signal_number, previous);
}
/// Called first thing in a handler: the CRT resets a handler to SIG_DFL before calling it.
inline void rearm_signal(int signal_number, void (*handler)(int)) noexcept {
    ::signal(signal_number, handler);
}
#endif

#else

// ---------------------------------------------------------------------------------------------
// POSIX: Linux, macOS, the BSDs (each difference keyed on a feature test)
// ---------------------------------------------------------------------------------------------

PYSOCK_DECL int last_error() noexcept { return errno; }
PYSOCK_DECL bool interrupted(int err) noexcept { return err == EINTR; }
inline bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }
inline bool in_progress(int err) noexcept { return err == EINPROGRESS; }
inline constexpr int err_bad_handle = EBADF;
inline constexpr int err_timed_out = ETIMEDOUT;
inline constexpr int err_would_block = EWOULDBLOCK;
inline constexpr int err_invalid = EINVAL;
inline constexpr int err_name_too_long = ENAMETOOLONG;
inline constexpr int err_af_not_supported = EAFNOSUPPORT;
inline constexpr int err_conn_reset = ECONNRESET;
/// CPython's create_server() sets SO_REUSEADDR on POSIX (a restarted server rebinds at once).
inline constexpr bool server_reuse_address = true;
/// The category of OS error codes: errno values.
inline const std::error_category& os_category() noexcept { return std::generic_category(); }

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
    case EEXIST: return error_kind::exists;
    case ENOTDIR: return error_kind::not_a_directory;
    case EISDIR: return error_kind::is_a_directory;
    case EINTR: return error_kind::interrupted;
    case EPIPE:
    case ESHUTDOWN: return error_kind::broken_pipe;
    case ECONNABORTED: return error_kind::aborted;
    case ECONNREFUSED: return error_kind::refused;
    case ECONNRESET: return error_kind::reset;
    default: return error_kind::plain;
    }
}

/// The text alone (Python's OSError.strerror).
inline std::string os_error_text(int err) { return std::generic_category().message(err); }
/// Python's text for an OS error: "[Errno 111] Connection refused".
inline std::string os_error_message(int err) {
    return "[Errno " + std::to_string(err) + "] " + std::generic_category().message(err);
}

/// Monotonic clock in nanoseconds (the timeout deadlines).
PYSOCK_DECL std::int64_t monotonic_ns() noexcept {
    ::timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

PYSOCK_DECL int set_cloexec(native_handle_type fd, bool on) noexcept {
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
inline ssize_type sys_send(native_handle_type fd, const void* buf, std::size_t n,
                           int flags) noexcept {
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

inline constexpr short wait_read = POLLIN;
inline constexpr short wait_write = POLLOUT;
/// Waits until fd is ready for `events` or timeout_ns passes (-1: forever). 1 ready, 0 timed
/// out, -1 error (EINTR included: the caller recomputes the time left).
inline int wait_ready(native_handle_type fd, short events, std::int64_t timeout_ns) noexcept {
    ::pollfd p{};
    p.fd = fd;
    p.events = events;
    return ::poll(&p, 1, timeout_ms(timeout_ns));
}

/// Sets the kernel's SO_RCVTIMEO and/or SO_SNDTIMEO (0 = no timeout). Never rounds a positive
/// timeout down to 0, which the kernel would read as "wait forever".
inline int set_kernel_timeout(native_handle_type fd, short events,
                              std::int64_t timeout_ns) noexcept {
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

// Name resolution and host name.
inline int sys_getaddrinfo(const char* host, const char* service, const ::addrinfo* hints,
                           ::addrinfo** res) noexcept {
    return ::getaddrinfo(host, service, hints, res);
}
inline int sys_getnameinfo(const ::sockaddr* sa, ::socklen_t len, char* host, std::size_t hostlen,
                           char* serv, std::size_t servlen, int flags) noexcept {
    return ::getnameinfo(sa, len, host, static_cast<::socklen_t>(hostlen), serv,
                         static_cast<::socklen_t>(servlen), flags);
}
/// The message of a getaddrinfo() error (EAI_* code): gai_strerror(), as CPython.
inline std::string gai_message(int code) { return ::gai_strerror(code); }
inline int sys_gethostname(char* name, std::size_t len) noexcept {
    return ::gethostname(name, len);
}
inline int sys_inet_aton(const char* text, ::in_addr* out) noexcept {
    return ::inet_aton(text, out);
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

/// getprotobyname(name)->p_proto, or -1. The C call returns a static buffer: one caller at a
/// time (a spin lock: the call is short, and <mutex> is not included without the servers).
inline int sys_getprotobyname(const char* name) noexcept {
    static std::atomic_flag busy = ATOMIC_FLAG_INIT;
    while (busy.test_and_set(std::memory_order_acquire)) {}
    const ::protoent* p = ::getprotobyname(name);
    int number = p ? p->p_proto : -1;
    busy.clear(std::memory_order_release);
    return number;
}
/// Network interfaces: every (index, name), and the two lookups. 0 or -1 (error in errno).
inline int sys_interfaces(std::vector<std::pair<unsigned, std::string>>& out) {
    struct ::if_nameindex* list = ::if_nameindex();
    if (!list) return -1;
    struct release {
        struct ::if_nameindex* list;
        ~release() { ::if_freenameindex(list); }
    } owner{list};
    for (const struct ::if_nameindex* i = list; i->if_index != 0 || i->if_name != nullptr; ++i)
        out.emplace_back(i->if_index, i->if_name);
    return 0;
}
inline unsigned sys_if_nametoindex(const char* name) noexcept { return ::if_nametoindex(name); }
inline const char* sys_if_indextoname(unsigned index, char* name) noexcept {
    return ::if_indextoname(index, name);
}

/// sendmsg() / recvmsg() (POSIX only: Winsock has WSASendMsg, which Python does not use).
inline ssize_type sys_sendmsg(native_handle_type fd, const ::msghdr* msg, int flags) noexcept {
    return ::sendmsg(fd, msg, flags | PYSOCK_MSG_NOSIGNAL);
}
inline ssize_type sys_recvmsg(native_handle_type fd, ::msghdr* msg, int flags) noexcept {
    return ::recvmsg(fd, msg, flags);
}
/// Received descriptors close-on-exec from the start where the kernel can (Linux); elsewhere
/// recvmsg() sets FD_CLOEXEC right after (a fork in between could still inherit them).
#if defined(MSG_CMSG_CLOEXEC)
inline constexpr int msg_cmsg_cloexec = MSG_CMSG_CLOEXEC;
#else
inline constexpr int msg_cmsg_cloexec = 0;
#endif

/// Waits until one of `n` connecting sockets is done (connected or failed) or timeout_ns passes
/// (-1: forever); done[i] says which. Returns how many, 0 on timeout, -1 on error (EINTR too).
inline int wait_connected(const native_handle_type* fds, std::size_t n, std::int64_t timeout_ns,
                          bool* done) noexcept {
    ::pollfd p[16];
    if (n > 16) n = 16;  // the attempts in flight at once: one per address, a handful
    for (std::size_t i = 0; i < n; ++i) {
        p[i].fd = fds[i];
        p[i].events = POLLOUT;
        p[i].revents = 0;
    }
    int r = ::poll(p, static_cast<::nfds_t>(n), timeout_ms(timeout_ns));
    if (r < 0) return -1;
    for (std::size_t i = 0; i < n; ++i) done[i] = p[i].revents != 0;
    return r;
}

/// sendfile(): zero-copy from a file to a socket (Linux); elsewhere pysock reads and sends, as
/// Python does where os.sendfile() is missing.
#if defined(__linux__)
inline constexpr bool have_zero_copy_sendfile = true;
inline ssize_type sys_sendfile(native_handle_type fd, int file_fd, std::uint64_t& offset,
                               std::size_t n) noexcept {
    ::off_t off = static_cast<::off_t>(offset);
    ssize_type r = ::sendfile(fd, file_fd, &off, n);
    offset = static_cast<std::uint64_t>(off);
    return r;
}
#else
inline constexpr bool have_zero_copy_sendfile = false;
inline ssize_type sys_sendfile(native_handle_type, int, std::uint64_t&, std::size_t) noexcept {
    errno = EOPNOTSUPP;
    return -1;
}
#endif
inline ssize_type sys_pread(int fd, void* buf, std::size_t n, std::uint64_t offset) noexcept {
    return ::pread(fd, buf, n, static_cast<::off_t>(offset));
}
inline int sys_seek(int fd, std::uint64_t offset) noexcept {
    return ::lseek(fd, static_cast<::off_t>(offset), SEEK_SET) < 0 ? -1 : 0;
}
inline ssize_type sys_read(int fd, void* buf, std::size_t n) noexcept { return ::read(fd, buf, n); }
/// A file that cannot seek (a pipe, a socket): ESPIPE.
inline bool not_seekable(int err) noexcept { return err == ESPIPE; }

/// inet_pton() / inet_ntop(): text <-> packed address.
inline int sys_inet_pton(int family, const char* text, void* packed) noexcept {
    return ::inet_pton(family, text, packed);
}
inline const char* sys_inet_ntop(int family, const void* packed, char* text,
                                 std::size_t size) noexcept {
    return ::inet_ntop(family, packed, text, static_cast<::socklen_t>(size));
}

/// Waits until `a` (and `b`, when watch_b) is readable or timeout_ns passes (-1: forever).
/// Returns the number ready (0: timed out) or -1 with the error in last_error() (EINTR
/// included); a closed descriptor is an error (EBADF), never a "ready" that would spin.
inline int wait_readable(native_handle_type a, native_handle_type b, bool watch_b,
                         std::int64_t timeout_ns, bool& a_ready, bool& b_ready) noexcept {
    a_ready = b_ready = false;
    ::pollfd p[2] = {};
    p[0].fd = a;
    p[0].events = POLLIN;
    p[1].fd = b;
    p[1].events = POLLIN;
    int n = ::poll(p, watch_b ? 2 : 1, timeout_ms(timeout_ns));
    if (n < 0) return -1;
    if ((p[0].revents | (watch_b ? p[1].revents : 0)) & POLLNVAL) {
        errno = EBADF;
        return -1;
    }
    a_ready = p[0].revents != 0;
    b_ready = watch_b && p[1].revents != 0;
    return n;
}

/// A flag to read one datagram without blocking, whatever the socket's mode (datagram servers:
/// poll() may say "readable" for a datagram the kernel then drops, Linux's bad checksum).
#if defined(MSG_DONTWAIT)
inline constexpr int msg_dontwait = MSG_DONTWAIT;
#else
inline constexpr int msg_dontwait = 0;
#endif

#if PYSOCK_WITH_SERVER
/// What installing a signal handler replaced, to give it back.
using saved_signal = struct ::sigaction;
/// Installs `handler` for the signal (SA_RESTART: other threads' system calls go on; the
/// servers' poll() wakes by its socketpair byte).
inline int install_signal(int signal_number, void (*handler)(int),
                          saved_signal& previous) noexcept {
    struct ::sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return ::sigaction(signal_number, &action, &previous);
}
inline void restore_signal(int signal_number, const saved_signal& previous) noexcept {
    ::sigaction(signal_number, &previous, nullptr);
}
/// Called first thing in a handler: sigaction() handlers stay installed, nothing to do.
inline void rearm_signal(int, void (*)(int)) noexcept {}
#endif

#endif  // _WIN32

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
// Not zeroed as a whole (128 bytes, on every recvfrom and sendto): whoever fills it writes what it
// uses (to_sockaddr clears its own part, the kernel writes `len` bytes). The family alone starts as
// AF_UNSPEC, so a system call that reports no address at all reads as none.
struct sockaddr_buffer {
    ::sockaddr_storage storage;
    ::socklen_t len = sizeof(::sockaddr_storage);
    sockaddr_buffer() noexcept { storage.ss_family = AF_UNSPEC; }
    ::sockaddr* get() noexcept { return reinterpret_cast<::sockaddr*>(&storage); }
    const ::sockaddr* get() const noexcept { return reinterpret_cast<const ::sockaddr*>(&storage); }
};

}  // namespace detail

// =============================================================================================
// 5. Implementation
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// 5.1 Errors
// ---------------------------------------------------------------------------------------------

PYSOCK_DECL error::error(std::error_code code, const std::string& message,
                         std::size_t characters_written)
    : std::system_error(code, message), message_(message), characters_written_(characters_written) {
}

namespace detail {

class gai_error_category : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int code) const override { return gai_message(code); }
};

/// Throws the exception Python would raise for `err`, with Python's message (or `message`).
[[noreturn]] PYSOCK_DECL void raise_os_error(int err, const std::string& message,
                                             std::size_t written) {
    std::error_code code(err, os_category());
    switch (classify(err)) {
    case error_kind::timeout: throw timeout(code, message, written);
    case error_kind::blocking: throw blocking_io_error(code, message, written);
    case error_kind::permission: throw permission_error(code, message, written);
    case error_kind::not_found: throw file_not_found_error(code, message, written);
    case error_kind::exists: throw file_exists_error(code, message, written);
    case error_kind::not_a_directory: throw not_a_directory_error(code, message, written);
    case error_kind::is_a_directory: throw is_a_directory_error(code, message, written);
    case error_kind::interrupted: throw interrupted_error(code, message, written);
    case error_kind::broken_pipe: throw broken_pipe_error(code, message, written);
    case error_kind::aborted: throw connection_aborted_error(code, message, written);
    case error_kind::refused: throw connection_refused_error(code, message, written);
    case error_kind::reset: throw connection_reset_error(code, message, written);
    case error_kind::plain: break;
    }
    throw error(code, message, written);
}
[[noreturn]] PYSOCK_DECL void raise_os_error(int err, std::size_t written) {
    raise_os_error(err, os_error_message(err), written);
}
[[noreturn]] PYSOCK_DECL void raise_last_error() { raise_os_error(last_error()); }
/// Python's OSError(message): an `error` that no OS call produced ("illegal IP address string
/// passed to inet_pton", "protocol not found"). Its code is EINVAL in the generic category.
[[noreturn]] inline void raise_plain_error(const char* message) {
    throw error(std::error_code(err_invalid, std::generic_category()), message);
}
/// The exception raise_os_error(err) would throw, without throwing it at anyone (for a list of
/// errors, or an error hook).
inline std::exception_ptr os_error_ptr(int err) noexcept {
    try {
        raise_os_error(err);
    } catch (...) {
        return std::current_exception();
    }
}
/// socket.timeout from a settimeout() deadline: "timed out".
[[noreturn]] inline void raise_timeout(std::size_t written = 0) {
    throw timeout(std::error_code(err_timed_out, os_category()), "timed out", written);
}
/// What a non-throwing slow path reports when the socket's own timeout expired: Python's
/// "timed out", which carries no OS error. OS error codes are never negative.
inline constexpr int deadline_expired = -1;
/// The exception for what a slow path reported.
[[noreturn]] inline void raise_failure(int failure) {
    if (failure == deadline_expired) raise_timeout();
    raise_os_error(failure);
}
/// The error_code for what a slow path reported (ETIMEDOUT for an expired timeout).
inline std::error_code failure_code(int failure) noexcept {
    return std::error_code(failure == deadline_expired ? err_timed_out : failure, os_category());
}
/// Inside a catch block of a non-throwing call: the code of the exception being handled, as
/// the error_code calls report it.
inline std::error_code current_exception_code() noexcept {
    try {
        throw;
    } catch (const std::system_error& e) {
        return e.code();
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (const std::out_of_range&) {
        return std::make_error_code(std::errc::result_out_of_range);
    } catch (...) {
        return std::make_error_code(std::errc::invalid_argument);
    }
}
[[noreturn]] inline void raise_gai_error(int code) {
#if defined(EAI_SYSTEM)
    if (code == EAI_SYSTEM) raise_last_error();
#endif
    throw gaierror(std::error_code(code, gai_category()),
                   "[Errno " + std::to_string(code) + "] " + gai_message(code));
}

}  // namespace detail

PYSOCK_DECL void raise_os_error(int errnum) { detail::raise_os_error(errnum); }

namespace detail {
PYSOCK_DECL std::ptrdiff_t transport_io(native_handle_type fd, void* buf, std::size_t n,
                                        bool sending, bool dont_wait, int& err) noexcept {
    const int flags = dont_wait ? msg_dontwait : 0;
    for (;;) {
        ssize_type r = sending ? sys_send(fd, buf, n, flags) : sys_recv(fd, buf, n, flags);
        if (r >= 0) return static_cast<std::ptrdiff_t>(r);
        err = last_error();
        if (interrupted(err)) continue;
        return would_block(err) ? -1 : -2;
    }
}

PYSOCK_DECL bool wait_io(native_handle_type fd, bool writable, std::int64_t timeout_ns) {
    const std::int64_t deadline = timeout_ns >= 0 ? monotonic_ns() + timeout_ns : -1;
    for (;;) {
        int ready = wait_ready(fd, writable ? wait_write : wait_read, timeout_ns);
        if (ready > 0) return true;
        if (ready == 0) return false;
        int err = last_error();
        if (!interrupted(err)) raise_os_error(err);
        if (deadline >= 0) {
            timeout_ns = deadline - monotonic_ns();
            if (timeout_ns <= 0) return false;
        }
    }
}

[[noreturn]] PYSOCK_DECL void raise_timeout_message(const char* message, std::size_t written) {
    throw timeout(std::error_code(err_timed_out, os_category()), message, written);
}

PYSOCK_DECL int set_transport_timer(native_handle_type fd, bool writable,
                                    std::int64_t timeout_ns) noexcept {
    return set_kernel_timeout(fd, writable ? wait_write : wait_read, timeout_ns);
}
}  // namespace detail

PYSOCK_DECL bool is_blocking_io(const std::error_code& ec) noexcept {
    // The value first: a cleared code (the common case in a loop) is answered without a call.
    return ec.value() != 0 && detail::classify(ec.value()) == detail::error_kind::blocking &&
           ec.category() == detail::os_category();
}

PYSOCK_DECL const std::error_category& gai_category() noexcept {
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

/// Dotted-quad text ("127.0.0.1") to an IPv4 address, by hand: inet_pton costs ~200 instructions,
/// paid on every sendto(). Accepts only the canonical form (four decimal parts of 0-255 without
/// leading zeros), a subset of what inet_pton accepts; anything else returns false and goes the
/// general way, so the result never differs from inet_pton's.
PYSOCK_DECL bool parse_ipv4(const std::string& text, void* in_addr_bytes) noexcept {
    unsigned char parts[4];
    const char* p = text.data();
    const char* const end = p + text.size();
    for (int i = 0; i < 4; ++i) {
        if (i > 0 && (p == end || *p++ != '.')) return false;
        const char* digits = p;
        unsigned v = 0;
        while (p != end && *p >= '0' && *p <= '9' && p - digits < 3)
            v = v * 10 + static_cast<unsigned>(*p++ - '0');
        const std::ptrdiff_t n = p - digits;
        if (n == 0 || v > 255 || (n > 1 && *digits == '0')) return false;
        parts[i] = static_cast<unsigned char>(v);
    }
    if (p != end) return false;
    std::memcpy(in_addr_bytes, parts, sizeof parts);
    return true;
}

/// Resolves `host` for `family` the way CPython's setipaddr does: "" is the wildcard,
/// "<broadcast>" the broadcast address, numeric addresses skip the resolver, names go
/// through getaddrinfo and take the first answer.
inline void resolve_host(int family, const std::string& host, sockaddr_buffer& out) {
    if (family == AF_INET) {
        auto* sin = reinterpret_cast<::sockaddr_in*>(&out.storage);
        std::memset(sin, 0, sizeof *sin);
        if (parse_ipv4(host, &sin->sin_addr)) {
            sin->sin_family = AF_INET;
            out.len = sizeof(::sockaddr_in);
            return;
        }
    }
    if (has_embedded_nul(host))
        throw std::invalid_argument("host name must not contain null character");
    std::memset(&out.storage, 0, sizeof out.storage);
    if (family == AF_INET) {
        auto* sin = reinterpret_cast<::sockaddr_in*>(&out.storage);
        sin->sin_family = AF_INET;
        out.len = sizeof(::sockaddr_in);
        if (host.empty()) {
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
            return;
        }
        if (host[0] == '<' && host == "<broadcast>") {
            sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
            return;
        }
        if (sys_inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) return;
    } else if (family == AF_INET6) {
        auto* sin6 = reinterpret_cast<::sockaddr_in6*>(&out.storage);
        sin6->sin6_family = AF_INET6;
        out.len = sizeof(::sockaddr_in6);
        if (host.empty()) {
            sin6->sin6_addr = in6addr_any;
            return;
        }
        if (sys_inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) return;
    } else {
        raise_os_error(err_af_not_supported);
    }
    ::addrinfo hints{};
    hints.ai_family = family;
    ::addrinfo* res = nullptr;
    int rc = sys_getaddrinfo(host.c_str(), nullptr, &hints, &res);
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
        if (path.size() > limit) raise_os_error(err_name_too_long, "AF_UNIX path too long");
        if (!abstract && has_embedded_nul(path)) throw std::invalid_argument("embedded null byte");
        sun->sun_family = AF_UNIX;
        std::memcpy(sun->sun_path, path.data(), path.size());
        std::size_t len = offsetof(::sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1);
        // Linux reads an empty path as "autobind me"; the length must then exclude the NUL.
        if (path.empty()) len = offsetof(::sockaddr_un, sun_path);
        set_sun_len(*sun, len, 0);
        out.len = static_cast<::socklen_t>(len);
    } else {
        raise_os_error(err_af_not_supported);
    }
}

/// The decimal text of every byte value, for format_ipv4: {length, up to three digits}.
struct byte_text {
    char len;
    char digits[3];
};
struct byte_text_table {
    byte_text of[256];
};
constexpr byte_text_table make_byte_texts() noexcept {
    byte_text_table t{};
    for (int v = 0; v < 256; ++v) {
        byte_text& b = t.of[v];
        if (v >= 100)
            b.digits[static_cast<std::size_t>(b.len++)] = static_cast<char>('0' + v / 100);
        if (v >= 10)
            b.digits[static_cast<std::size_t>(b.len++)] = static_cast<char>('0' + v / 10 % 10);
        b.digits[static_cast<std::size_t>(b.len++)] = static_cast<char>('0' + v % 10);
    }
    return t;
}
inline constexpr byte_text_table byte_texts = make_byte_texts();

/// Dotted-quad text of an IPv4 address, as inet_ntop writes it (which formats with sprintf: ten
/// times the cost, on every recvfrom). `out` must hold 16 bytes; returns the length written (at
/// most 15). Each part copies three bytes and advances by its length: no branch per digit.
inline std::size_t format_ipv4(const void* in_addr_bytes, char* out) noexcept {
    const auto* b = static_cast<const unsigned char*>(in_addr_bytes);
    char* p = out;
    for (int i = 0; i < 4; ++i) {
        const byte_text& t = byte_texts.of[b[i]];
        std::memcpy(p, t.digits, sizeof t.digits);
        p += t.len;
        if (i < 3) *p++ = '.';
    }
    return static_cast<std::size_t>(p - out);
}

/// Python's makesockaddr: a sockaddr from the system as an address.
inline address from_sockaddr(const ::sockaddr* sa, ::socklen_t len) {
    address a;
    if (len == 0) return a;  // recvfrom on a connected stream: Python's None
    a.family = sa->sa_family;
    char text[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        auto* sin = reinterpret_cast<const ::sockaddr_in*>(sa);
        a.host.assign(text, format_ipv4(&sin->sin_addr, text));
        a.port = ntohs(sin->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<const ::sockaddr_in6*>(sa);
        sys_inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        a.host = text;
        a.port = ntohs(sin6->sin6_port);
        a.flowinfo = ntohl(sin6->sin6_flowinfo);
        a.scope_id = sin6->sin6_scope_id;
    } else if (sa->sa_family == AF_UNIX) {
        auto* sun = reinterpret_cast<const ::sockaddr_un*>(sa);
        std::size_t offset = offsetof(::sockaddr_un, sun_path);
        std::size_t n =
            static_cast<std::size_t>(len) > offset ? static_cast<std::size_t>(len) - offset : 0;
        if (n > sizeof sun->sun_path) n = sizeof sun->sun_path;
        if (n > 0 && sun->sun_path[0] != '\0')
            n = ::strnlen(sun->sun_path, n);  // a path: up to its NUL
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

}  // namespace detail

PYSOCK_DECL address::address(std::string host_, int port_)
    : host(std::move(host_)), port(detail::checked_port(port_)), family(AF_INET) {}
PYSOCK_DECL address::address(std::string host_, int port_, std::uint32_t flowinfo_,
                             std::uint32_t scope_id_)
    : host(std::move(host_)), port(detail::checked_port(port_)), flowinfo(flowinfo_),
      scope_id(scope_id_), family(AF_INET6) {}
PYSOCK_DECL address::address(std::string path) : host(std::move(path)), family(AF_UNIX) {}
PYSOCK_DECL address::address(const char* path) : host(path), family(AF_UNIX) {}

PYSOCK_DECL std::string to_string(const address& a) {
    std::string out;
    // No address at all (Python's None): recvfrom/recvmsg on a connected stream.
    if (a.family == AF_UNSPEC && a.host.empty() && a.port == 0) return "None";
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
PYSOCK_DECL bool operator==(const address& a, const address& b) {
    return a.host == b.host && a.port == b.port && a.flowinfo == b.flowinfo &&
           a.scope_id == b.scope_id;
}
PYSOCK_DECL bool operator!=(const address& a, const address& b) { return !(a == b); }

PYSOCK_DECL std::string repr(std::string_view data) {
    std::string out;
    out.reserve(data.size() + 3);
    detail::append_repr(out, data, true);
    return out;
}

// ---------------------------------------------------------------------------------------------
// 5.3 The socket class
// ---------------------------------------------------------------------------------------------

PYSOCK_DECL socket::socket(native_handle_type fd, int family, int type, int proto) noexcept
    : fd_(fd), family_(family), type_(type), proto_(proto), timeout_ns_(-1) {}

PYSOCK_DECL socket::socket(int family, int type, int proto)
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

PYSOCK_DECL socket socket::from_fd(native_handle_type fd) {
    if (static_cast<long long>(fd) < 0) throw std::invalid_argument("negative file descriptor");
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

PYSOCK_DECL socket::socket(socket&& other) noexcept
    : fd_(other.fd_.exchange(detail::invalid_handle, std::memory_order_relaxed)),
      family_(other.family_), type_(other.type_), proto_(other.proto_),
      timeout_ns_(other.timeout_ns_.load(std::memory_order_relaxed)) {}

PYSOCK_DECL socket& socket::operator=(socket&& other) noexcept {
    if (this != &other) {
        close_quietly();
        fd_.store(other.fd_.exchange(detail::invalid_handle, std::memory_order_relaxed),
                  std::memory_order_relaxed);
        family_ = other.family_;
        type_ = other.type_;
        proto_ = other.proto_;
        timeout_ns_.store(other.timeout_ns_.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
    }
    return *this;
}

PYSOCK_DECL socket::~socket() { close_quietly(); }

PYSOCK_DECL void socket::close_quietly() noexcept {
    native_handle_type fd = fd_.exchange(detail::invalid_handle, std::memory_order_relaxed);
    if (fd != detail::invalid_handle) detail::close_handle(fd);
}

PYSOCK_DECL native_handle_type socket::checked_fd() const {
    native_handle_type fd = fd_.load(std::memory_order_relaxed);
    if (fd == detail::invalid_handle) detail::raise_os_error(detail::err_bad_handle);
    return fd;
}

// Puts the descriptor in the state the timeout mode needs (see "The timeout model" above):
// kernel timers on and the descriptor blocking, or O_NONBLOCK and poll() when needed.
PYSOCK_DECL void socket::apply_timeout(std::int64_t timeout_ns, std::int64_t previous_ns) {
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

namespace detail {
#if PYSOCK_KERNEL_TIMEOUTS
// After a kernel timer was re-armed with the time left of a deadline, puts it back on the way
// out, to the socket's timeout as it is then (another thread may have called settimeout()).
struct kernel_timer_restore {
    const std::atomic<std::int64_t>* timeout;
    native_handle_type fd = invalid_handle;  // set once the timer was re-armed
    short events = 0;
    kernel_timer_restore(const kernel_timer_restore&) = delete;
    kernel_timer_restore& operator=(const kernel_timer_restore&) = delete;
    explicit kernel_timer_restore(const std::atomic<std::int64_t>* t) noexcept : timeout(t) {}
    ~kernel_timer_restore() {
        if (fd == invalid_handle) return;
        std::int64_t now_ns = timeout->load(std::memory_order_relaxed);
        set_kernel_timeout(fd, events, now_ns > 0 ? now_ns : 0);
    }
};
#endif
// Calls the operation behind call_slow()'s type-erased pointer.
template <class Op>
ssize_type invoke_io(void* op, native_handle_type fd) {
    return (*static_cast<Op*>(op))(fd);
}
}  // namespace detail

// Runs one system call under the timeout model. The fast path is the call itself: one system
// call whatever the mode, no clock read unless a timeout is set.
// `start` is when the caller's deadline began (sendall's whole call); -1 means now.
// The fast path does not test for a closed socket: its invalid handle makes the system call fail
// (EBADF; WSAENOTSOCK on Windows), and call_slow() then raises what checked_fd() would have.
template <class Op>
inline std::size_t socket::call(short events, int flags, Op&& op, std::int64_t start) {
    if (start < 0 && timeout_ns_.load(std::memory_order_relaxed) > 0)
        start = detail::monotonic_ns();
    detail::ssize_type n = op(fd_.load(std::memory_order_relaxed));
    if (n >= 0) return static_cast<std::size_t>(n);
    // The slow path is one non-template function for every operation: it is compiled once.
    return call_slow(events, flags, &detail::invoke_io<std::remove_reference_t<Op>>, &op, start);
}

// The non-throwing twin of call(): the same fast path; a would-block in non-blocking mode is
// answered inline, so an event loop's would-block costs the system call and nothing more.
template <class Op>
inline std::size_t socket::call(short events, int flags, Op&& op, std::error_code& ec) noexcept {
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
    const std::int64_t start = timeout_ns > 0 ? detail::monotonic_ns() : -1;
    detail::ssize_type n = op(fd_.load(std::memory_order_relaxed));
    if (n >= 0) {
        ec.clear();
        return static_cast<std::size_t>(n);
    }
    int failure = detail::last_error();
    if (timeout_ns == 0 && detail::would_block(failure)) {
        ec.assign(failure, detail::os_category());
        return 0;
    }
    failure = 0;
    std::size_t done = retry_slow(events, flags, &detail::invoke_io<std::remove_reference_t<Op>>,
                                  &op, start, failure);
    if (failure == 0) {
        ec.clear();
    } else {
        ec = detail::failure_code(failure);
    }
    return done;
}

// The slow path, throwing: what retry_slow() reports becomes Python's exception.
PYSOCK_NOINLINE inline std::size_t socket::call_slow(short events, int flags, io_call op,
                                                     void* context, std::int64_t start) {
    int failure = 0;
    std::size_t done = retry_slow(events, flags, op, context, start, failure);
    if (failure != 0) detail::raise_failure(failure);
    return done;
}

// The slow path itself: EINTR (retried with the time left), would-block (timeout, non-blocking,
// or a wait in poll mode) and errors. Never throws: a failure is left in `failure` (an OS error
// code, or detail::deadline_expired), so the throwing and the error_code calls share it.
PYSOCK_NOINLINE inline std::size_t socket::retry_slow(short events, int flags, io_call op,
                                                      void* context, std::int64_t start,
                                                      int& failure) noexcept {
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
#if PYSOCK_KERNEL_TIMEOUTS
    detail::kernel_timer_restore rearmed(&timeout_ns_);
#endif
    auto fail = [&failure](int code) -> std::size_t {
        failure = code;
        return 0;
    };
    for (;;) {
        int err = detail::last_error();
        native_handle_type fd = fd_.load(std::memory_order_relaxed);
        if (fd == detail::invalid_handle) return fail(detail::err_bad_handle);
        std::int64_t left = timeout_ns > 0 ? timeout_ns - (detail::monotonic_ns() - start) : -1;
        if (detail::interrupted(err)) {
            if (timeout_ns > 0) {
                if (left <= 0) return fail(detail::deadline_expired);
#if PYSOCK_KERNEL_TIMEOUTS
                if (detail::set_kernel_timeout(fd, events, left) < 0)
                    return fail(detail::last_error());
                rearmed.fd = fd;
                rearmed.events = events;
#endif
            }
        } else if (detail::would_block(err)) {
            // A would-block in blocking mode means the descriptor was made non-blocking behind
            // our back, or MSG_DONTWAIT was asked for: Python raises BlockingIOError then too.
#if defined(MSG_DONTWAIT)
            bool dontwait = (flags & MSG_DONTWAIT) != 0;
#else
            (void)flags;
            bool dontwait = false;
#endif
            if (timeout_ns <= 0 || dontwait) return fail(err);
#if PYSOCK_KERNEL_TIMEOUTS
            return fail(detail::deadline_expired);
#else
            for (;;) {
                if (left <= 0) return fail(detail::deadline_expired);
                int ready = detail::wait_ready(fd, events, left);
                if (ready > 0) break;
                if (ready == 0) return fail(detail::deadline_expired);
                if (!detail::interrupted(detail::last_error())) return fail(detail::last_error());
                left = timeout_ns - (detail::monotonic_ns() - start);
            }
#endif
        } else {
            return fail(err);
        }
        detail::ssize_type n = op(context, fd);
        if (n >= 0) return static_cast<std::size_t>(n);
    }
}

PYSOCK_DECL void socket::bind(const address& addr) {
    native_handle_type fd = checked_fd();
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(family_, addr, sa);
    if (detail::sys_bind(fd, sa.get(), sa.len) < 0) detail::raise_last_error();
}

PYSOCK_DECL void socket::listen(int backlog) {
    if (detail::sys_listen(checked_fd(), backlog < 0 ? 0 : backlog) < 0) detail::raise_last_error();
}

// accept() and its non-throwing twin: one accept4() (close-on-exec and the new socket's
// blocking state in the same call), then the kernel timers when a timeout is involved.
template <class Call>
inline std::pair<socket, address> socket::accept_impl(Call&& accept_call) {
    const std::int64_t child_timeout = detail::default_timeout_ns.load(std::memory_order_relaxed);
    const bool child_nonblocking = PYSOCK_KERNEL_TIMEOUTS ? child_timeout == 0 : child_timeout >= 0;
    detail::sockaddr_buffer peer;
    auto op = [&](native_handle_type listener) {
        peer.len = sizeof peer.storage;
        return static_cast<detail::ssize_type>(
            detail::accept_handle(listener, peer.get(), &peer.len, child_nonblocking));
    };
    native_handle_type fd = detail::invalid_handle;
    if (!accept_call(op, fd))
        return {socket(detail::invalid_handle, family_, type_, proto_), address()};
    socket conn(fd, family_, type_, proto_);
    conn.timeout_ns_.store(child_timeout, std::memory_order_relaxed);
#if PYSOCK_KERNEL_TIMEOUTS
    // Linux copies the listener's SO_RCVTIMEO/SO_SNDTIMEO into accepted sockets; Python's
    // accepted socket starts with the default timeout instead.
    std::int64_t listener_timeout = timeout_ns_.load(std::memory_order_relaxed);
    if ((child_timeout > 0 || listener_timeout > 0) &&
        detail::set_kernel_timeout(fd, detail::wait_read | detail::wait_write,
                                   child_timeout > 0 ? child_timeout : 0) < 0)
        detail::raise_last_error();  // conn closes the descriptor
#endif
    return {std::move(conn), detail::from_sockaddr(peer.get(), peer.len)};
}

PYSOCK_DECL std::pair<socket, address> socket::accept() {
    return accept_impl([this](auto& op, native_handle_type& fd) {
        fd = static_cast<native_handle_type>(call(detail::wait_read, 0, op));
        return true;
    });
}

PYSOCK_DECL std::pair<socket, address> socket::accept(std::error_code& ec) noexcept {
    try {
        return accept_impl([this, &ec](auto& op, native_handle_type& fd) {
            fd = static_cast<native_handle_type>(call(detail::wait_read, 0, op, ec));
            return !ec;
        });
    } catch (...) {
        ec = detail::current_exception_code();
        return {socket(detail::invalid_handle, family_, type_, proto_), address()};
    }
}

// CPython's internal_connect: one connect(); when it is interrupted, or in progress under a
// timeout, wait for the outcome instead of calling connect() again. Returns 0, an OS error code
// or detail::deadline_expired; only name resolution and bad addresses throw.
PYSOCK_DECL int socket::connect_impl(const address& addr) {
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(family_, addr, sa);  // name resolution errors always throw
    native_handle_type fd = fd_.load(std::memory_order_relaxed);
    if (fd == detail::invalid_handle) return detail::err_bad_handle;
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
#if PYSOCK_KERNEL_TIMEOUTS
    // The descriptor is blocking in timeout mode; make this one call non-blocking so the wait
    // below is bounded by poll(), and put it back whatever happens.
    struct restore_blocking {
        native_handle_type fd;
        bool active;
        ~restore_blocking() {
            if (active) detail::set_nonblocking(fd, false);
        }
    } restore{fd, false};
    if (timeout_ns > 0) {
        if (detail::set_nonblocking(fd, true) < 0) return detail::last_error();
        restore.active = true;
    }
#endif
    std::int64_t start = detail::monotonic_ns();
    if (detail::sys_connect(fd, sa.get(), sa.len) == 0) return 0;
    int err = detail::last_error();
    bool wait =
        detail::interrupted(err) ? timeout_ns != 0 : (timeout_ns > 0 && detail::in_progress(err));
    if (!wait) return err;
    for (;;) {
        std::int64_t left = timeout_ns > 0 ? timeout_ns - (detail::monotonic_ns() - start) : -1;
        if (timeout_ns > 0 && left <= 0) return detail::deadline_expired;
        int ready = detail::wait_ready(fd, detail::wait_write, left);
        if (ready == 0) return detail::deadline_expired;
        if (ready < 0) {
            if (detail::interrupted(detail::last_error())) continue;
            return detail::last_error();
        }
        int so_error = 0;
        ::socklen_t len = sizeof so_error;
        if (detail::sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
            return detail::last_error();
        return so_error;
    }
}

PYSOCK_DECL void socket::connect(const address& addr) {
    int failure = connect_impl(addr);
    if (failure != 0) detail::raise_failure(failure);
}

// CPython's connect_ex reports an expired timeout as EWOULDBLOCK.
PYSOCK_DECL int socket::connect_ex(const address& addr) {
    int failure = connect_impl(addr);
    return failure == detail::deadline_expired ? detail::err_would_block : failure;
}

PYSOCK_DECL void socket::connect(const address& addr, std::error_code& ec) noexcept {
    try {
        int failure = connect_impl(addr);
        if (failure == 0) {
            ec.clear();
        } else {
            ec = detail::failure_code(failure);
        }
    } catch (...) {
        ec = detail::current_exception_code();
    }
}

namespace detail {
inline void check_bufsize(std::size_t n, const char* what) {
    if (n > static_cast<std::size_t>(PTRDIFF_MAX)) throw std::invalid_argument(what);
}
inline void shrink_unused(bytes& buf, std::size_t used) {
    buf.resize(used);
    if (buf.capacity() > PYSOCK_RECV_SHRINK_THRESHOLD && used < buf.capacity() / 2)
        buf.shrink_to_fit();
}
}  // namespace detail

PYSOCK_DECL bytes socket::recv(std::size_t bufsize, int flags) {
    detail::check_bufsize(bufsize, "negative buffersize in recv");
    bytes buf(bufsize, '\0');
    detail::shrink_unused(buf, recv_into(buf.data(), bufsize, flags));
    return buf;
}

PYSOCK_DECL std::size_t socket::recv_into(void* buf, std::size_t nbytes, int flags) {
    // CPython answers recv(0) and recv_into() of an empty buffer without a system call (a
    // zero-byte recv() could block on some kernels); recvfrom(0) does reach the kernel.
    if (nbytes == 0) return 0;
    return call(detail::wait_read, flags,
                [&](native_handle_type fd) { return detail::sys_recv(fd, buf, nbytes, flags); });
}

PYSOCK_DECL std::pair<std::size_t, address> socket::recvfrom_into(void* buf, std::size_t nbytes,
                                                                  int flags) {
    // A zero-byte read returns at once (0) in the kernel, or, with a kernel timer, after it
    // with 0 again: neither is CPython's answer, which waits for data first and raises
    // TimeoutError when none comes. Wait as it does (a rare call: the cost does not matter).
    if (nbytes == 0 && timeout_ns_.load(std::memory_order_relaxed) > 0) wait_readable_or_timeout();
    detail::sockaddr_buffer from;
    std::size_t n = call(detail::wait_read, flags, [&](native_handle_type fd) {
        from.len = sizeof from.storage;
        return detail::sys_recvfrom(fd, buf, nbytes, flags, from.get(), &from.len);
    });
    return {n, detail::from_sockaddr(from.get(), from.len)};
}

PYSOCK_DECL std::pair<bytes, address> socket::recvfrom(std::size_t bufsize, int flags) {
    detail::check_bufsize(bufsize, "negative buffersize in recvfrom");
    bytes buf(bufsize, '\0');
    auto [n, from] = recvfrom_into(buf.data(), bufsize, flags);
    detail::shrink_unused(buf, n);
    return {std::move(buf), std::move(from)};
}

PYSOCK_DECL std::size_t socket::send(std::string_view data, int flags) {
    return call(detail::wait_write, flags, [&](native_handle_type fd) {
        return detail::sys_send(fd, data.data(), data.size(), flags);
    });
}

// One send() usually takes everything (a blocking socket waits until the kernel has it all):
// that is the inlined fast path. Partial sends, EINTR, timeouts and errors go out of line, and
// so does a closed socket (as in call(): the kernel refuses its invalid handle).
PYSOCK_DECL void socket::sendall(std::string_view data, int flags) {
    const std::int64_t start =
        timeout_ns_.load(std::memory_order_relaxed) > 0 ? detail::monotonic_ns() : -1;
    detail::ssize_type n =
        detail::sys_send(fd_.load(std::memory_order_relaxed), data.data(), data.size(), flags);
    // A failed send's -1 converts to SIZE_MAX, which no string_view's size reaches.
    if (static_cast<std::size_t>(n) == data.size()) return;
    sendall_slow(data, flags, static_cast<long long>(n), start);
}

// Waits until the socket is readable within its timeout (EINTR retried with the time left).
PYSOCK_NOINLINE inline void socket::wait_readable_or_timeout() {
    if (!detail::wait_io(checked_fd(), false, timeout_ns_.load(std::memory_order_relaxed)))
        detail::raise_timeout();
}

// `first` is what the fast path's send() returned (-1: failed, with the error still in errno).
PYSOCK_NOINLINE inline void socket::sendall_slow(std::string_view data, int flags, long long first,
                                                 std::int64_t start) {
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
    std::size_t sent = 0;
    auto send_rest = [&](native_handle_type fd) {
        return detail::sys_send(fd, data.data() + sent, data.size() - sent, flags);
    };
#if PYSOCK_KERNEL_TIMEOUTS
    // Between partial sends the kernel timer is set to what is left of the deadline.
    detail::kernel_timer_restore rearmed(&timeout_ns_);
#endif
    try {
        if (first >= 0) {
            sent = static_cast<std::size_t>(first);
        } else {
            sent = call_slow(detail::wait_write, flags, &detail::invoke_io<decltype(send_rest)>,
                             &send_rest, start);
        }
        while (sent < data.size()) {
            if (timeout_ns > 0) {
                std::int64_t left = timeout_ns - (detail::monotonic_ns() - start);
                if (left <= 0) detail::raise_timeout();
#if PYSOCK_KERNEL_TIMEOUTS
                native_handle_type fd = checked_fd();
                if (detail::set_kernel_timeout(fd, detail::wait_write, left) < 0)
                    detail::raise_last_error();
                rearmed.fd = fd;
                rearmed.events = detail::wait_write;
#endif
            }
            sent += call(detail::wait_write, flags, send_rest, start);
        }
    } catch (const error& e) {
        // The same exception type and message, now saying how far sendall got.
        detail::raise_os_error(e.code().value(), e.what(), sent);
    }
}

// Zero-copy while the kernel takes it; read + send when it does not (a pipe, a file system
// without sendfile support, Windows), as CPython gives up on os.sendfile() after a failure
// before anything was sent. Between calls the kernel timer (or the poll) gets the time left.
PYSOCK_DECL std::uint64_t socket::sendfile(int file_fd, std::uint64_t offset,
                                           std::optional<std::uint64_t> count) {
    checked_fd();
    if (type_ != SOCK_STREAM)
        throw std::invalid_argument("only SOCK_STREAM type sockets are supported");
    if (count && *count == 0)
        throw std::invalid_argument("count must be a positive integer (got 0)");
    const std::int64_t timeout_ns = timeout_ns_.load(std::memory_order_relaxed);
    if (timeout_ns == 0) throw std::invalid_argument("non-blocking sockets are not supported");
    const std::int64_t start = timeout_ns > 0 ? detail::monotonic_ns() : -1;
    std::uint64_t sent = 0;
    bool zero_copy = detail::have_zero_copy_sendfile;
    bool seekable = true;
    std::vector<char> buffer;  // read + send: what was read and not yet sent
    std::size_t buffered = 0, buffer_pos = 0;
    struct leave_offset {  // the file offset follows what was sent, whatever happens
        int fd;
        const std::uint64_t& at;
        const std::uint64_t& sent;
        ~leave_offset() { detail::sys_seek(fd, at + sent); }
    } leave{file_fd, offset, sent};
#if PYSOCK_KERNEL_TIMEOUTS
    detail::kernel_timer_restore rearmed(&timeout_ns_);
#endif
    try {
        for (;;) {
            const std::uint64_t wanted = count ? *count - sent : std::uint64_t{1} << 30;
            if (wanted == 0) break;
            const std::size_t chunk =
                static_cast<std::size_t>(std::min<std::uint64_t>(wanted, 1u << 30));
            if (timeout_ns > 0 && sent > 0) {
                std::int64_t left = timeout_ns - (detail::monotonic_ns() - start);
                if (left <= 0) detail::raise_timeout();
#if PYSOCK_KERNEL_TIMEOUTS
                native_handle_type fd = checked_fd();
                if (detail::set_kernel_timeout(fd, detail::wait_write, left) < 0)
                    detail::raise_last_error();
                rearmed.fd = fd;
                rearmed.events = detail::wait_write;
#endif
            }
            std::size_t n = 0;
            if (zero_copy) {
                std::uint64_t at = offset + sent;
                auto zero_copy_send = [&](native_handle_type fd) {
                    return detail::sys_sendfile(fd, file_fd, at, chunk);
                };
                try {
                    n = call(detail::wait_write, 0, zero_copy_send, start);
                } catch (const timeout&) {
                    throw;
                } catch (const error&) {
                    if (sent != 0) throw;
                    zero_copy = false;  // the kernel cannot do it here: read + send
                    continue;
                }
                if (n == 0) break;  // end of file
            } else {
                if (buffer_pos == buffered) {
                    buffer.resize(64 * 1024);
                    const std::size_t want = std::min<std::size_t>(buffer.size(), chunk);
                    detail::ssize_type r =
                        seekable ? detail::sys_pread(file_fd, buffer.data(), want, offset + sent)
                                 : detail::sys_read(file_fd, buffer.data(), want);
                    if (r < 0 && seekable && offset == 0 &&
                        detail::not_seekable(detail::last_error())) {
                        seekable = false;  // a pipe: read from where it is, as Python does
                        r = detail::sys_read(file_fd, buffer.data(), want);
                    }
                    if (r < 0) detail::raise_last_error();
                    if (r == 0) break;  // end of file
                    buffered = static_cast<std::size_t>(r);
                    buffer_pos = 0;
                }
                auto send_buffered = [&](native_handle_type fd) {
                    return detail::sys_send(fd, buffer.data() + buffer_pos, buffered - buffer_pos,
                                            0);
                };
                n = call(detail::wait_write, 0, send_buffered, start);
                buffer_pos += n;
            }
            sent += n;
        }
    } catch (const error& e) {
        // The same exception type and message, now saying how far sendfile got.
        detail::raise_os_error(e.code().value(), e.what(), static_cast<std::size_t>(sent));
    }
    return sent;
}

PYSOCK_DECL std::size_t socket::sendto(std::string_view data, const address& addr) {
    return sendto(data, 0, addr);
}

PYSOCK_DECL std::size_t socket::sendto(std::string_view data, int flags, const address& addr) {
    checked_fd();
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(family_, addr, sa);
    return call(detail::wait_write, flags, [&](native_handle_type fd) {
        return detail::sys_sendto(fd, data.data(), data.size(), flags, sa.get(), sa.len);
    });
}

#if PYSOCK_HAVE_SENDMSG
namespace detail {
/// A control buffer aligned for cmsghdr (CMSG_* macros read it as such), zeroed.
struct control_buffer {
    explicit control_buffer(std::size_t bytes)
        : words((bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t)) {}
    void* data() noexcept { return words.empty() ? nullptr : words.data(); }
    std::vector<std::max_align_t> words;
};

/// The descriptors of the SCM_RIGHTS items in `msg` (each int-sized word of their data).
inline void for_each_received_fd(::msghdr& msg, void (*fn)(int, void*), void* context) noexcept {
    for (::cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fn(fd, context);
        }
    }
}

/// Gives every received descriptor close-on-exec where the kernel could not (no
/// MSG_CMSG_CLOEXEC), and closes them all when asked (an exception while unpacking).
inline void cloexec_received(::msghdr& msg) noexcept {
    if (msg_cmsg_cloexec == 0)
        for_each_received_fd(
            msg, [](int fd, void*) { set_cloexec(fd, true); }, nullptr);
}
inline void close_received(::msghdr& msg) noexcept {
    for_each_received_fd(
        msg, [](int fd, void*) { close_handle(fd); }, nullptr);
}
}  // namespace detail

PYSOCK_DECL std::size_t socket::sendmsg(const std::vector<std::string_view>& buffers,
                                        const std::vector<cmsg>& ancdata, int flags,
                                        const address& addr) {
    checked_fd();
    std::vector<::iovec> iov(buffers.size());
    for (std::size_t i = 0; i < buffers.size(); ++i) {
        iov[i].iov_base = const_cast<char*>(buffers[i].data());  // sendmsg() only reads it
        iov[i].iov_len = buffers[i].size();
    }
    std::size_t space = 0;
    for (const auto& item : ancdata) space += CMSG_SPACE(item.data.size());
    detail::control_buffer control(space);
    ::msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(iov.size());
    if (space != 0) {
        msg.msg_control = control.data();
        msg.msg_controllen = static_cast<decltype(msg.msg_controllen)>(space);
        ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
        for (const auto& item : ancdata) {
            c->cmsg_level = item.level;
            c->cmsg_type = item.type;
            c->cmsg_len = static_cast<decltype(c->cmsg_len)>(CMSG_LEN(item.data.size()));
            if (!item.data.empty()) std::memcpy(CMSG_DATA(c), item.data.data(), item.data.size());
            c = CMSG_NXTHDR(&msg, c);
        }
    }
    detail::sockaddr_buffer sa;
    if (addr.family != AF_UNSPEC) {
        detail::to_sockaddr(family_, addr, sa);
        msg.msg_name = sa.get();
        msg.msg_namelen = sa.len;
    }
    return call(detail::wait_write, flags,
                [&](native_handle_type fd) { return detail::sys_sendmsg(fd, &msg, flags); });
}

PYSOCK_DECL recvmsg_result socket::recvmsg(std::size_t bufsize, std::size_t ancbufsize, int flags) {
    detail::check_bufsize(bufsize, "negative buffer size in recvmsg()");
    detail::check_bufsize(ancbufsize, "negative buffer size in recvmsg()");
    recvmsg_result result;
    result.data.assign(bufsize, '\0');
    detail::control_buffer control(ancbufsize);
    detail::sockaddr_buffer from;
    ::iovec iov{result.data.data(), bufsize};
    ::msghdr msg{};
    std::size_t n = call(detail::wait_read, flags, [&](native_handle_type fd) {
        msg = ::msghdr{};
        from.len = sizeof from.storage;
        msg.msg_name = from.get();
        msg.msg_namelen = from.len;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = static_cast<decltype(msg.msg_controllen)>(ancbufsize);
        return detail::sys_recvmsg(fd, &msg, flags | detail::msg_cmsg_cloexec);
    });
    detail::cloexec_received(msg);
    try {
        detail::shrink_unused(result.data, n);
        result.msg_flags = msg.msg_flags & ~detail::msg_cmsg_cloexec;  // Linux echoes the flag
        result.addr = detail::from_sockaddr(from.get(), msg.msg_namelen);
        for (::cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            // A truncated item (MSG_CTRUNC) claims more than the buffer holds: keep what is there.
            const char* begin = reinterpret_cast<const char*>(CMSG_DATA(c));
            const char* end = static_cast<const char*>(msg.msg_control) + msg.msg_controllen;
            std::size_t len = c->cmsg_len - CMSG_LEN(0);
            if (begin + len > end) len = static_cast<std::size_t>(end - begin);
            result.ancdata.push_back(cmsg{c->cmsg_level, c->cmsg_type, bytes(begin, len)});
        }
    } catch (...) {
        detail::close_received(msg);  // nothing received may leak
        throw;
    }
    return result;
}

PYSOCK_DECL std::size_t send_fds(socket& sock, const std::vector<std::string_view>& buffers,
                                 const std::vector<native_handle_type>& fds, int flags,
                                 const address& addr) {
    std::vector<cmsg> ancdata;
    if (!fds.empty()) {
        bytes packed(fds.size() * sizeof(int), '\0');
        for (std::size_t i = 0; i < fds.size(); ++i) {
            const int fd = fds[i];
            std::memcpy(&packed[i * sizeof(int)], &fd, sizeof fd);
        }
        ancdata.push_back(cmsg{SOL_SOCKET, SCM_RIGHTS, std::move(packed)});
    }
    return sock.sendmsg(buffers, ancdata, flags, addr);
}

PYSOCK_DECL recv_fds_result recv_fds(socket& sock, std::size_t bufsize, std::size_t maxfds,
                                     int flags) {
    auto [data, ancdata, msg_flags, addr] =
        sock.recvmsg(bufsize, maxfds == 0 ? 0 : CMSG_SPACE(maxfds * sizeof(int)), flags);
    // Every descriptor of the SCM_RIGHTS items, in order.
    auto each_fd = [&ancdata = ancdata](auto&& fn) {
        for (const auto& item : ancdata) {
            if (item.level != SOL_SOCKET || item.type != SCM_RIGHTS) continue;
            for (std::size_t i = 0; i + sizeof(int) <= item.data.size(); i += sizeof(int)) {
                int fd;
                std::memcpy(&fd, item.data.data() + i, sizeof fd);
                fn(fd);
            }
        }
    };
    recv_fds_result result;
    std::vector<int> received;
    try {
        each_fd([&](int fd) { received.push_back(fd); });
    } catch (...) {  // out of memory while counting them: none of them may leak
        each_fd([](int fd) { detail::close_handle(fd); });
        throw;
    }
    // CMSG_SPACE() rounds up to whole words, so more than maxfds may have come: close the rest.
    for (std::size_t i = maxfds; i < received.size(); ++i) detail::close_handle(received[i]);
    if (received.size() > maxfds) {
        received.resize(maxfds);
        msg_flags |= MSG_CTRUNC;
    }
    result.fds.assign(received.begin(), received.end());
    result.data = std::move(data);
    result.msg_flags = msg_flags;
    result.addr = std::move(addr);
    return result;
}
#endif  // PYSOCK_HAVE_SENDMSG

PYSOCK_DECL std::size_t socket::recv_into(void* buf, std::size_t nbytes,
                                          std::error_code& ec) noexcept {
    return recv_into(buf, nbytes, 0, ec);
}

PYSOCK_DECL std::size_t socket::recv_into(void* buf, std::size_t nbytes, int flags,
                                          std::error_code& ec) noexcept {
    if (nbytes == 0) {
        ec.clear();
        return 0;
    }
    return call(
        detail::wait_read, flags,
        [&](native_handle_type fd) { return detail::sys_recv(fd, buf, nbytes, flags); }, ec);
}

PYSOCK_DECL bytes socket::recv(std::size_t bufsize, std::error_code& ec) noexcept {
    return recv(bufsize, 0, ec);
}

PYSOCK_DECL bytes socket::recv(std::size_t bufsize, int flags, std::error_code& ec) noexcept {
    try {
        detail::check_bufsize(bufsize, "negative buffersize in recv");
        bytes buf(bufsize, '\0');
        detail::shrink_unused(buf, recv_into(buf.data(), bufsize, flags, ec));
        return buf;
    } catch (...) {
        ec = detail::current_exception_code();
        return bytes();
    }
}

PYSOCK_DECL std::pair<std::size_t, address> socket::recvfrom_into(void* buf, std::size_t nbytes,
                                                                  std::error_code& ec) noexcept {
    return recvfrom_into(buf, nbytes, 0, ec);
}

PYSOCK_DECL std::pair<std::size_t, address>
socket::recvfrom_into(void* buf, std::size_t nbytes, int flags, std::error_code& ec) noexcept {
    detail::sockaddr_buffer from;
    std::size_t n = call(
        detail::wait_read, flags,
        [&](native_handle_type fd) {
            from.len = sizeof from.storage;
            return detail::sys_recvfrom(fd, buf, nbytes, flags, from.get(), &from.len);
        },
        ec);
    if (ec) return {0, address()};
    try {
        return {n, detail::from_sockaddr(from.get(), from.len)};
    } catch (...) {
        ec = detail::current_exception_code();
        return {0, address()};
    }
}

PYSOCK_DECL std::size_t socket::send(std::string_view data, std::error_code& ec) noexcept {
    return send(data, 0, ec);
}

PYSOCK_DECL std::size_t socket::send(std::string_view data, int flags,
                                     std::error_code& ec) noexcept {
    return call(
        detail::wait_write, flags,
        [&](native_handle_type fd) {
            return detail::sys_send(fd, data.data(), data.size(), flags);
        },
        ec);
}

PYSOCK_DECL std::size_t socket::sendto(std::string_view data, const address& addr,
                                       std::error_code& ec) noexcept {
    return sendto(data, 0, addr, ec);
}

PYSOCK_DECL std::size_t socket::sendto(std::string_view data, int flags, const address& addr,
                                       std::error_code& ec) noexcept {
    if (fd_.load(std::memory_order_relaxed) == detail::invalid_handle) {
        ec.assign(detail::err_bad_handle, detail::os_category());
        return 0;
    }
    detail::sockaddr_buffer sa;
    try {
        detail::to_sockaddr(family_, addr, sa);
    } catch (...) {
        ec = detail::current_exception_code();
        return 0;
    }
    return call(
        detail::wait_write, flags,
        [&](native_handle_type fd) {
            return detail::sys_sendto(fd, data.data(), data.size(), flags, sa.get(), sa.len);
        },
        ec);
}

PYSOCK_DECL void socket::shutdown(int how) {
    if (detail::sys_shutdown(checked_fd(), how) < 0) detail::raise_last_error();
}

PYSOCK_DECL void socket::close() {
    native_handle_type fd = fd_.exchange(detail::invalid_handle, std::memory_order_relaxed);
    // CPython ignores only ECONNRESET here: it reports what the peer already did, and the
    // descriptor is released whatever close() says.
    if (fd != detail::invalid_handle && detail::close_handle(fd) < 0) {
        int err = detail::last_error();
        if (err != ECONNRESET) detail::raise_os_error(err);
    }
}

PYSOCK_DECL native_handle_type socket::detach() noexcept {
    return fd_.exchange(detail::invalid_handle, std::memory_order_relaxed);
}

PYSOCK_DECL native_handle_type socket::fileno() const noexcept {
    return fd_.load(std::memory_order_relaxed);
}

PYSOCK_DECL address socket::getsockname() const {
    detail::sockaddr_buffer sa;
    if (detail::sys_getsockname(checked_fd(), sa.get(), &sa.len) < 0) detail::raise_last_error();
    return detail::from_sockaddr(sa.get(), sa.len);
}

PYSOCK_DECL address socket::getpeername() const {
    detail::sockaddr_buffer sa;
    if (detail::sys_getpeername(checked_fd(), sa.get(), &sa.len) < 0) detail::raise_last_error();
    return detail::from_sockaddr(sa.get(), sa.len);
}

PYSOCK_DECL void socket::settimeout(std::optional<double> seconds) {
    apply_timeout(detail::timeout_to_ns(seconds), timeout_ns_.load(std::memory_order_relaxed));
}

PYSOCK_DECL std::optional<double> socket::gettimeout() const noexcept {
    return detail::ns_to_timeout(timeout_ns_.load(std::memory_order_relaxed));
}

PYSOCK_DECL void socket::setblocking(bool flag) {
    settimeout(flag ? std::nullopt : std::optional<double>(0.0));
}

PYSOCK_DECL bool socket::getblocking() const noexcept {
    return timeout_ns_.load(std::memory_order_relaxed) != 0;
}

PYSOCK_DECL void socket::setsockopt(int level, int optname, int value) {
    if (detail::sys_setsockopt(checked_fd(), level, optname, &value, sizeof value) < 0)
        detail::raise_last_error();
}

PYSOCK_DECL void socket::setsockopt(int level, int optname, std::string_view value) {
    if (detail::sys_setsockopt(checked_fd(), level, optname, value.data(), value.size()) < 0)
        detail::raise_last_error();
}

PYSOCK_DECL int socket::getsockopt(int level, int optname) const {
    int value = 0;
    ::socklen_t len = sizeof value;
    if (detail::sys_getsockopt(checked_fd(), level, optname, &value, &len) < 0)
        detail::raise_last_error();
    return value;
}

PYSOCK_DECL bytes socket::getsockopt(int level, int optname, std::size_t buflen) const {
    if (buflen == 0 || buflen > 1024) detail::raise_plain_error("getsockopt buflen out of range");
    bytes value(buflen, '\0');
    auto len = static_cast<::socklen_t>(buflen);
    if (detail::sys_getsockopt(checked_fd(), level, optname, value.data(), &len) < 0)
        detail::raise_last_error();
    value.resize(len);
    return value;
}

PYSOCK_DECL socket socket::dup() const {
    detail::handle_guard fd(detail::dup_handle(checked_fd()));
    if (fd.get() == detail::invalid_handle) detail::raise_last_error();
    socket copy(fd.release(), family_, type_, proto_);
    // As Python's dup() (sock.settimeout(self.gettimeout())): on POSIX the duplicate shares
    // O_NONBLOCK and the kernel timers anyway; Windows does not document whether a duplicated
    // SOCKET shares its non-blocking mode, so the mode is set on the copy.
    copy.apply_timeout(timeout_ns_.load(std::memory_order_relaxed), -1);  // on failure copy closes
    return copy;
}

PYSOCK_DECL bool socket::get_inheritable() const {
    bool cloexec = false;
    if (detail::get_cloexec(checked_fd(), cloexec) < 0) detail::raise_last_error();
    return !cloexec;
}

PYSOCK_DECL void socket::set_inheritable(bool inheritable) {
    if (detail::set_cloexec(checked_fd(), !inheritable) < 0) detail::raise_last_error();
}

namespace detail {
/// What repr() shows of an endpoint: Python's str() of the address tuple; an AF_UNIX path bare;
/// nothing for an unnamed AF_UNIX socket (Python's empty string).
inline std::string endpoint_text(const address& a) {
    if (a.family != AF_UNIX || (!a.host.empty() && a.host[0] == '\0')) return to_string(a);
    return a.host;  // a path, bare ("" when unnamed)
}
}  // namespace detail

PYSOCK_DECL std::string to_string(const socket& s) {
    const native_handle_type fd = s.fileno();
    const bool closed = fd == detail::invalid_handle;
    std::string out = "<socket.socket";
    if (closed) out += " [closed]";
    out += " fd=" + (closed ? std::string("-1") : std::to_string(fd));
    out += ", family=" + std::to_string(s.family()) + ", type=" + std::to_string(s.type()) +
           ", proto=" + std::to_string(s.proto());
    if (!closed) {
        // As Python: a name the socket does not have (getpeername: ENOTCONN) is left out.
        try {
            std::string laddr = detail::endpoint_text(s.getsockname());
            if (!laddr.empty()) out += ", laddr=" + laddr;
        } catch (const error&) {}
        try {
            std::string raddr = detail::endpoint_text(s.getpeername());
            if (!raddr.empty()) out += ", raddr=" + raddr;
        } catch (const error&) {}
    }
    return out + ">";
}

// ---------------------------------------------------------------------------------------------
// 5.3b socket_file
// ---------------------------------------------------------------------------------------------

PYSOCK_DECL socket_file socket::makefile(std::string_view mode,
                                         std::optional<std::size_t> buffering) const {
    return detail::file_factory::make(dup(), mode, buffering);
}

namespace detail {
PYSOCK_DECL socket_file file_factory::make(socket sock, std::string_view mode,
                                           std::optional<std::size_t> buffering) {
    if (mode.find_first_not_of("rwb") != std::string_view::npos)  // "" is "r", as in Python
        throw std::invalid_argument("invalid mode " + repr(mode).substr(1) +
                                    " (only r, w, b allowed)");
    const bool writing = mode.find('w') != std::string_view::npos;
    const bool reading = mode.find('r') != std::string_view::npos || !writing;
    return socket_file(std::move(sock), reading, writing, buffering ? *buffering : 8192);
}

// The same file with no socket of its own: it reads and writes through `transport`.
PYSOCK_DECL socket_file file_factory::make(file_transport* transport, std::string_view mode,
                                           std::optional<std::size_t> buffering) {
    struct owner {  // the transport is the file's from here on, even if the mode is refused
        file_transport* t;
        ~owner() { delete t; }
    } own{transport};
    socket_file f = make(socket(invalid_handle, AF_UNSPEC, 0, 0), mode, buffering);
    f.transport_ = std::exchange(own.t, nullptr);
    return f;
}
}  // namespace detail

PYSOCK_DECL socket_file::socket_file(socket sock, bool reading, bool writing,
                                     std::size_t buffer_size)
    : sock_(std::move(sock)), buffer_size_(buffer_size), reading_(reading), writing_(writing) {}

PYSOCK_DECL socket_file::socket_file(socket_file&& other) noexcept
    : sock_(std::move(other.sock_)), transport_(std::exchange(other.transport_, nullptr)),
      buffer_size_(other.buffer_size_), reading_(other.reading_), writing_(other.writing_),
      closed_(std::exchange(other.closed_, true)), timed_out_(other.timed_out_),
      rbuf_(std::move(other.rbuf_)), rbeg_(std::exchange(other.rbeg_, 0)),
      rend_(std::exchange(other.rend_, 0)), wbuf_(std::move(other.wbuf_)) {}

PYSOCK_DECL socket_file& socket_file::operator=(socket_file&& other) noexcept {
    if (this != &other) {
        try {
            close();
        } catch (...) {  // as the destructor: a failed flush of the replaced file is dropped
        }
        sock_ = std::move(other.sock_);
        transport_ = std::exchange(other.transport_, nullptr);
        buffer_size_ = other.buffer_size_;
        reading_ = other.reading_;
        writing_ = other.writing_;
        closed_ = std::exchange(other.closed_, true);
        timed_out_ = other.timed_out_;
        rbuf_ = std::move(other.rbuf_);
        rbeg_ = std::exchange(other.rbeg_, 0);
        rend_ = std::exchange(other.rend_, 0);
        wbuf_ = std::move(other.wbuf_);
    }
    return *this;
}

PYSOCK_DECL socket_file::~socket_file() {
    try {
        close();
    } catch (...) {  // a destructor never throws: unsent bytes are dropped with the connection
    }
}

PYSOCK_DECL void socket_file::check_open() const {
    if (closed_) throw std::invalid_argument("I/O operation on closed file.");
}

PYSOCK_DECL void socket_file::check_readable() const {
    check_open();
    if (!reading_)
        throw unsupported_operation(std::error_code(detail::err_bad_handle, detail::os_category()),
                                    "File or stream is not readable.");
}

PYSOCK_DECL void socket_file::check_writable() const {
    check_open();
    if (!writing_)
        throw unsupported_operation(std::error_code(detail::err_bad_handle, detail::os_category()),
                                    "File or stream is not writable.");
}

// One recv() into `into`: Python's SocketIO.readinto, which refuses once a timeout occurred.
PYSOCK_DECL std::size_t socket_file::raw_read(char* into, std::size_t n) {
    if (timed_out_)
        throw error(std::error_code(detail::err_timed_out, detail::os_category()),
                    "cannot read from timed out object");
    try {
        return transport_ ? transport_->recv_into(into, n) : sock_.recv_into(into, n);
    } catch (const timeout&) {
        timed_out_ = true;
        throw;
    }
}

// Room for `wanted` more bytes after rend_: the unread bytes move to the front, and the buffer
// grows when a line or a read needs more than it holds.
PYSOCK_DECL void socket_file::make_room(std::size_t wanted) {
    if (rbeg_ == rend_) rbeg_ = rend_ = 0;
    if (rbuf_.size() - rend_ >= wanted) return;
    if (rbeg_ > 0) {
        std::memmove(&rbuf_[0], rbuf_.data() + rbeg_, rend_ - rbeg_);
        rend_ -= rbeg_;
        rbeg_ = 0;
    }
    if (rbuf_.size() - rend_ < wanted) rbuf_.resize(rend_ + wanted);
}

// Receives at most `most` more bytes into the buffer (one recv()); 0 at end of stream.
PYSOCK_DECL std::size_t socket_file::fill(std::size_t most) {
    make_room(most);
    std::size_t n = raw_read(&rbuf_[rend_], most);
    rend_ += n;
    return n;
}

PYSOCK_DECL bytes socket_file::take(std::size_t n) {
    bytes out(rbuf_, rbeg_, n);  // (string, pos, count): bounded by the buffer, as g++ -O3 can see
    rbeg_ += n;
    return out;
}

PYSOCK_DECL bytes socket_file::readline(std::optional<std::size_t> limit) {
    check_readable();
    const std::size_t most = limit ? *limit : SIZE_MAX;
    const std::size_t chunk = buffer_size_ ? buffer_size_ : 1;  // unbuffered: never past the '\n'
    std::size_t scanned = 0;
    for (;;) {
        std::size_t avail = rend_ - rbeg_;
        std::size_t end = avail < most ? avail : most;
        if (end > scanned) {
            const void* nl = std::memchr(rbuf_.data() + rbeg_ + scanned, '\n', end - scanned);
            if (nl)
                return take(static_cast<std::size_t>(static_cast<const char*>(nl) -
                                                     (rbuf_.data() + rbeg_)) +
                            1);
            scanned = end;
        }
        if (scanned >= most) return take(scanned);         // scanned == most: the limit, no newline
        if (fill(chunk) == 0) return take(rend_ - rbeg_);  // end of stream: the rest, maybe ""
    }
}

PYSOCK_DECL bytes socket_file::read(std::optional<std::size_t> n) {
    check_readable();
    if (n && buffer_size_ == 0 && rbeg_ == rend_) {  // raw read: one recv(), as SocketIO.read
        bytes out(*n, '\0');
        out.resize(raw_read(&out[0], *n));
        return out;
    }
    const std::size_t want = n ? *n : SIZE_MAX;
    const std::size_t chunk = buffer_size_ ? buffer_size_ : 8192;
    while (rend_ - rbeg_ < want) {
        std::size_t missing = want - (rend_ - rbeg_);
        if (fill(missing < chunk ? missing : chunk) == 0) break;
    }
    std::size_t avail = rend_ - rbeg_;
    return take(avail < want ? avail : want);
}

PYSOCK_DECL std::vector<bytes> socket_file::readlines() {
    std::vector<bytes> lines;
    for (bytes line = readline(); !line.empty(); line = readline())
        lines.push_back(std::move(line));
    return lines;
}

PYSOCK_DECL std::size_t socket_file::readinto(void* buf, std::size_t nbytes) {
    check_readable();
    char* out = static_cast<char*>(buf);
    std::size_t done = 0;
    // What is buffered first; then straight into the caller's memory (no copy through the buffer).
    std::size_t avail = rend_ - rbeg_;
    if (avail > 0) {
        done = avail < nbytes ? avail : nbytes;
        std::memcpy(out, rbuf_.data() + rbeg_, done);
        rbeg_ += done;
    }
    while (done < nbytes) {
        std::size_t n = raw_read(out + done, nbytes - done);  // a timeout keeps `done` bytes in buf
        if (n == 0) break;
        done += n;
        if (buffer_size_ == 0) break;  // raw: one recv()
    }
    return done;
}

PYSOCK_DECL void socket_file::send_all(std::string_view data) {
    if (transport_)
        transport_->sendall(data);
    else
        sock_.sendall(data);
}

PYSOCK_DECL void socket_file::send_buffered() {
    if (wbuf_.empty()) return;
    try {
        send_all(wbuf_);
    } catch (const error& e) {
        wbuf_.erase(0, e.characters_written());  // what was not sent stays buffered
        throw;
    }
    wbuf_.clear();
}

PYSOCK_DECL std::size_t socket_file::write(std::string_view data) {
    check_writable();
    if (buffer_size_ == 0) {
        send_all(data);
        return data.size();
    }
    if (wbuf_.size() + data.size() > buffer_size_) {
        send_buffered();
        if (data.size() >= buffer_size_) {  // too big to buffer: straight out
            send_all(data);
            return data.size();
        }
    }
    wbuf_.append(data.data(), data.size());
    return data.size();
}

PYSOCK_DECL void socket_file::flush() {
    check_open();
    if (writing_) send_buffered();
}

PYSOCK_DECL void socket_file::close() {
    if (closed_) return;
    closed_ = true;
    struct release {
        socket& sock;
        detail::file_transport*& transport;
        ~release() {
            sock.close_quietly();
            delete std::exchange(transport, nullptr);
        }
    } at_exit{sock_, transport_};
    if (writing_) send_buffered();
}

PYSOCK_DECL bool socket_file::readable() const {
    check_open();
    return reading_;
}

PYSOCK_DECL bool socket_file::writable() const {
    check_open();
    return writing_;
}

PYSOCK_DECL native_handle_type socket_file::fileno() const {
    check_open();
    return transport_ ? transport_->fileno() : sock_.fileno();
}

// ---------------------------------------------------------------------------------------------
// 5.4 Module functions
// ---------------------------------------------------------------------------------------------

PYSOCK_DECL std::vector<addrinfo> getaddrinfo(const std::optional<std::string>& host,
                                              const service& port, int family, int type, int proto,
                                              int flags) {
    if (host && detail::has_embedded_nul(*host))
        throw std::invalid_argument("host name must not contain null character");
    if (port.named && detail::has_embedded_nul(port.text))
        throw std::invalid_argument("service name must not contain null character");
    ::addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = type;
    hints.ai_protocol = proto;
    hints.ai_flags = flags;
    const std::string service_text = port.named    ? port.text
                                     : port.number ? std::to_string(*port.number)
                                                   : std::string();
    const bool has_service = port.named || port.number.has_value();
    ::addrinfo* res = nullptr;
    int rc = detail::sys_getaddrinfo(host ? host->c_str() : nullptr,
                                     has_service ? service_text.c_str() : nullptr, &hints, &res);
    if (rc != 0) detail::raise_gai_error(rc);
    detail::addrinfo_list owner{res};
    std::vector<addrinfo> out;
    for (::addrinfo* ai = res; ai; ai = ai->ai_next) {
        addrinfo info;
        info.family = ai->ai_family;
        info.type = ai->ai_socktype;
        info.proto = ai->ai_protocol;
        if (ai->ai_canonname) info.canonname = ai->ai_canonname;
        info.sockaddr =
            detail::from_sockaddr(ai->ai_addr, static_cast<::socklen_t>(ai->ai_addrlen));
        out.push_back(std::move(info));
    }
    return out;
}

PYSOCK_DECL std::pair<std::string, std::string> getnameinfo(const address& addr, int flags) {
    // CPython resolves the host numerically first: getnameinfo takes addresses, not names.
    auto infos = getaddrinfo(addr.host, addr.port, AF_UNSPEC, SOCK_DGRAM, 0, AI_NUMERICHOST);
    if (infos.size() != 1) detail::raise_plain_error("sockaddr resolved to multiple addresses");
    if (infos[0].family == AF_INET && addr.family == AF_INET6)
        detail::raise_plain_error("IPv4 sockaddr must be 2 tuple");
    address target = infos[0].sockaddr;
    target.flowinfo = addr.flowinfo;
    if (addr.scope_id != 0) target.scope_id = addr.scope_id;
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(infos[0].family, target, sa);
    char host[NI_MAXHOST] = {};
    char serv[NI_MAXSERV] = {};
    int rc = detail::sys_getnameinfo(sa.get(), sa.len, host, sizeof host, serv, sizeof serv, flags);
    if (rc != 0) detail::raise_gai_error(rc);
    return {host, serv};
}

PYSOCK_DECL std::string gethostname() {
    char name[256] = {};
    if (detail::sys_gethostname(name, sizeof name - 1) < 0) detail::raise_last_error();
    return name;
}

PYSOCK_DECL std::string getfqdn(const std::string& name_) {
    auto first = name_.find_first_not_of(" \t\r\n\f\v");
    auto last = name_.find_last_not_of(" \t\r\n\f\v");
    std::string name =
        first == std::string::npos ? std::string() : name_.substr(first, last - first + 1);
    if (name.empty() || name == "0.0.0.0" || name == "::") name = gethostname();
    // Python: gethostbyaddr(name), then the first of hostname and aliases with a dot. The
    // reverse lookup below yields the canonical hostname (there are no aliases to scan).
    try {
        auto infos = getaddrinfo(name, std::nullopt, AF_UNSPEC, SOCK_STREAM);
        if (infos.empty()) return name;
        detail::sockaddr_buffer sa;
        detail::to_sockaddr(infos[0].family, infos[0].sockaddr, sa);
        char host[NI_MAXHOST] = {};
        if (detail::sys_getnameinfo(sa.get(), sa.len, host, sizeof host, nullptr, 0, NI_NAMEREQD) !=
            0)
            return name;
        return host;
    } catch (const error&) {
        return name;
    }
}

namespace detail {
inline bool all_digits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}
/// The socket type a services-database protocol name stands for; any for none (Python's None).
inline int socktype_of(const std::optional<std::string>& protocolname) {
    if (!protocolname) return 0;
    return *protocolname == "udp" ? SOCK_DGRAM : *protocolname == "tcp" ? SOCK_STREAM : 0;
}
/// What the C library's getservbyname() matches: "tcp" and "udp" (case-sensitive; "" and any
/// other name match nothing, as in Python), or none given.
inline bool known_protocol(const std::optional<std::string>& protocolname) {
    return !protocolname || *protocolname == "tcp" || *protocolname == "udp";
}
}  // namespace detail

PYSOCK_DECL std::string gethostbyname(const std::string& hostname) {
    detail::sockaddr_buffer sa;
    detail::resolve_host(AF_INET, hostname, sa);  // CPython's setipaddr, "" and "<broadcast>" too
    char text[INET6_ADDRSTRLEN] = {};
    auto* sin = reinterpret_cast<const ::sockaddr_in*>(&sa.storage);
    return std::string(text, detail::format_ipv4(&sin->sin_addr, text));
}

PYSOCK_DECL host_entry gethostbyname_ex(const std::string& hostname) {
    host_entry entry;
    for (const auto& info :
         getaddrinfo(hostname, std::nullopt, AF_INET, SOCK_STREAM, 0, AI_CANONNAME)) {
        if (entry.hostname.empty())
            entry.hostname = info.canonname.empty() ? hostname : info.canonname;
        bool seen = false;
        for (const auto& a : entry.addresses) seen = seen || a == info.sockaddr.host;
        if (!seen) entry.addresses.push_back(info.sockaddr.host);
    }
    return entry;
}

PYSOCK_DECL host_entry gethostbyaddr(const std::string& ip_address) {
    auto infos = getaddrinfo(ip_address, std::nullopt, AF_UNSPEC, SOCK_STREAM);
    detail::sockaddr_buffer sa;
    detail::to_sockaddr(infos.at(0).family, infos[0].sockaddr, sa);
    char host[NI_MAXHOST] = {};
    if (detail::sys_getnameinfo(sa.get(), sa.len, host, sizeof host, nullptr, 0, NI_NAMEREQD) != 0)
        throw herror(std::error_code(1, std::generic_category()), "[Errno 1] Unknown host");
    return host_entry{host, {}, {infos[0].sockaddr.host}};
}

PYSOCK_DECL int getservbyname(const std::string& servicename,
                              const std::optional<std::string>& protocolname) {
    // The services database through getaddrinfo (thread-safe, unlike ::getservbyname). A number
    // is not a service name.
    if (detail::all_digits(servicename) || detail::has_embedded_nul(servicename) ||
        !detail::known_protocol(protocolname))
        detail::raise_plain_error("service/proto not found");
    ::addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = detail::socktype_of(protocolname);
    hints.ai_flags = AI_PASSIVE;
    ::addrinfo* res = nullptr;
    if (detail::sys_getaddrinfo(nullptr, servicename.c_str(), &hints, &res) != 0 || !res)
        detail::raise_plain_error("service/proto not found");
    detail::addrinfo_list owner{res};
    return ntohs(reinterpret_cast<const ::sockaddr_in*>(res->ai_addr)->sin_port);
}

PYSOCK_DECL std::string getservbyport(int port, const std::optional<std::string>& protocolname) {
    if (port < 0 || port > 65535) throw std::out_of_range("getservbyport: port must be 0-65535.");
    if (!detail::known_protocol(protocolname)) detail::raise_plain_error("port/proto not found");
    ::sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    char serv[NI_MAXSERV] = {};
    int flags = NI_NUMERICHOST | (detail::socktype_of(protocolname) == SOCK_DGRAM ? NI_DGRAM : 0);
    // getnameinfo answers with the number itself when the port has no name.
    if (detail::sys_getnameinfo(reinterpret_cast<const ::sockaddr*>(&sin), sizeof sin, nullptr, 0,
                                serv, sizeof serv, flags) != 0 ||
        detail::all_digits(serv))
        detail::raise_plain_error("port/proto not found");
    return serv;
}

PYSOCK_DECL int getprotobyname(const std::string& protocolname) {
    int number = detail::has_embedded_nul(protocolname)
                     ? -1
                     : detail::sys_getprotobyname(protocolname.c_str());
    if (number < 0) detail::raise_plain_error("protocol not found");
    return number;
}

PYSOCK_DECL bool has_dualstack_ipv6() noexcept {
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

PYSOCK_DECL std::vector<std::pair<unsigned, std::string>> if_nameindex() {
    std::vector<std::pair<unsigned, std::string>> out;
    if (detail::sys_interfaces(out) < 0) detail::raise_last_error();
    return out;
}

PYSOCK_DECL unsigned if_nametoindex(const std::string& ifname) {
    if (detail::has_embedded_nul(ifname)) throw std::invalid_argument("embedded null character");
    unsigned index = detail::sys_if_nametoindex(ifname.c_str());
    if (index == 0) detail::raise_plain_error("no interface with this name");
    return index;
}

PYSOCK_DECL std::string if_indextoname(unsigned ifindex) {
    char name[IF_NAMESIZE + 1] = {};
    if (!detail::sys_if_indextoname(ifindex, name)) detail::raise_last_error();
    return name;
}

PYSOCK_DECL std::optional<double> getdefaulttimeout() noexcept {
    return detail::ns_to_timeout(detail::default_timeout_ns.load(std::memory_order_relaxed));
}

PYSOCK_DECL void setdefaulttimeout(std::optional<double> seconds) {
    detail::default_timeout_ns.store(detail::timeout_to_ns(seconds), std::memory_order_relaxed);
}

PYSOCK_DECL exception_group::exception_group(const std::string& message,
                                             std::vector<std::exception_ptr> exceptions)
    : message_(message + " (" + std::to_string(exceptions.size()) + " sub-exception" +
               (exceptions.size() == 1 ? ")" : "s)")),
      exceptions_(std::move(exceptions)) {}

namespace detail {
/// RFC 8305's order: alternate address families, the first result's family first.
inline std::vector<const addrinfo*> interleave_by_family(const std::vector<addrinfo>& infos) {
    std::vector<const addrinfo*> first, other, out;
    for (const auto& info : infos)
        (info.family == infos.front().family ? first : other).push_back(&info);
    for (std::size_t i = 0; i < first.size() || i < other.size(); ++i) {
        if (i < first.size()) out.push_back(first[i]);
        if (i < other.size()) out.push_back(other[i]);
    }
    return out;
}

/// What create_connection() raises when every attempt failed.
[[noreturn]] inline void raise_connect_errors(std::vector<std::exception_ptr>& errors,
                                              bool all_errors) {
    if (errors.empty()) raise_plain_error("getaddrinfo returns an empty list");
    if (!all_errors) std::rethrow_exception(errors.back());  // the last error, as CPython
    throw exception_group("create_connection failed", std::move(errors));
}

/// Happy Eyeballs: attempts race on non-blocking sockets; see create_connection(). At most
/// max_racing are in flight at once (what wait_connected() watches).
inline constexpr std::size_t max_racing = 16;
inline socket connect_staggered(const std::vector<addrinfo>& infos, std::optional<double> timeout,
                                const std::optional<address>& source_address, bool all_errors,
                                double delay) {
    const std::int64_t delay_ns = timeout_to_ns(delay);
    const std::optional<double> mode = timeout ? timeout : getdefaulttimeout();
    const std::int64_t timeout_ns = timeout_to_ns(mode);
    const std::int64_t start = monotonic_ns();
    const std::vector<const addrinfo*> order = interleave_by_family(infos);
    std::vector<std::exception_ptr> errors;
    std::vector<socket> pending;
    std::size_t next = 0;
    std::int64_t next_start = start;
    for (;;) {
        std::int64_t now = monotonic_ns();
        if (timeout_ns > 0 && now - start >= timeout_ns) {
            try {
                raise_timeout();
            } catch (...) {
                errors.push_back(std::current_exception());
            }
            break;  // the pending attempts close with `pending`
        }
        if (next < order.size() && pending.size() < max_racing &&
            (pending.empty() || now >= next_start)) {
            const addrinfo& info = *order[next++];
            try {
                socket s(info.family, info.type, info.proto);
                if (source_address) s.bind(*source_address);
                s.setblocking(false);
                int err = s.connect_ex(info.sockaddr);
                if (err == 0) {
                    s.settimeout(mode);
                    return s;
                }
                if (!in_progress(err)) raise_os_error(err);
                pending.push_back(std::move(s));
                next_start = now + delay_ns;
            } catch (const error&) {
                errors.push_back(std::current_exception());
                next_start = now;  // a failure starts the next attempt at once
            }
            continue;
        }
        if (pending.empty()) break;  // every address tried, none left in flight
        std::int64_t wait_ns = -1;
        if (next < order.size() && pending.size() < max_racing) wait_ns = next_start - now;
        if (timeout_ns > 0) {
            std::int64_t left = timeout_ns - (now - start);
            wait_ns = wait_ns < 0 ? left : std::min(wait_ns, left);
        }
        std::vector<native_handle_type> fds;
        for (const auto& s : pending) fds.push_back(s.fileno());
        bool done[max_racing] = {};
        int n = wait_connected(fds.data(), fds.size(), wait_ns < 0 ? -1 : wait_ns, done);
        if (n < 0) {
            if (interrupted(last_error())) continue;
            raise_last_error();
        }
        for (std::size_t i = fds.size(); i-- > 0;) {
            if (!done[i]) continue;
            int so_error = pending[i].getsockopt(SOL_SOCKET, SO_ERROR);
            if (so_error == 0) {
                socket winner = std::move(pending[i]);
                pending.clear();  // the others are closed
                winner.settimeout(mode);
                return winner;
            }
            errors.push_back(os_error_ptr(so_error));
            pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
            next_start = now;
        }
    }
    raise_connect_errors(errors, all_errors);
}
}  // namespace detail

PYSOCK_DECL socket detail::connect_any(const std::vector<addrinfo>& infos,
                                       std::optional<double> timeout,
                                       const std::optional<address>& source_address,
                                       bool all_errors,
                                       std::optional<double> happy_eyeballs_delay) {
    timeout_to_ns(timeout);  // std::invalid_argument for a negative or NaN timeout, before anything
    if (happy_eyeballs_delay) {
        timeout_to_ns(happy_eyeballs_delay);
        // Non-blocking mode (timeout 0) cannot race: each connect raises BlockingIOError, as in
        // Python, through the plain path below.
        const std::optional<double> mode = timeout ? timeout : getdefaulttimeout();
        if (!mode || *mode > 0)
            return connect_staggered(infos, timeout, source_address, all_errors,
                                     *happy_eyeballs_delay);
    }
    std::vector<std::exception_ptr> errors;
    for (const auto& info : infos) {
        try {
            socket s(info.family, info.type, info.proto);
            if (timeout) s.settimeout(timeout);
            if (source_address) s.bind(*source_address);
            s.connect(info.sockaddr);
            return s;
        } catch (const error&) {
            errors.push_back(std::current_exception());
        }
    }
    raise_connect_errors(errors, all_errors);
}

PYSOCK_DECL socket create_connection(const address& addr, std::optional<double> timeout,
                                     std::optional<address> source_address, bool all_errors,
                                     std::optional<double> happy_eyeballs_delay) {
    return detail::connect_any(getaddrinfo(addr.host, addr.port, AF_UNSPEC, SOCK_STREAM), timeout,
                               source_address, all_errors, happy_eyeballs_delay);
}

namespace detail {
/// The options set before bind() by create_server() and by the servers (CPython's
/// create_server() and TCPServer.server_bind()): SO_REUSEADDR where the platform wants it (POSIX: a restarted server rebinds at once; never on Windows, where it would
/// let another socket take the port), SO_REUSEPORT, and IPV6_V6ONLY on an AF_INET6 socket.
/// create_server() ignores a failing SO_REUSEADDR, as CPython's does (bind() then fails where
/// it matters); the servers do not, as TCPServer does not.
inline void prepare_to_bind(socket& s, bool reuse_address, bool ignore_reuse_address_failure,
                            bool reuse_port, bool dualstack_ipv6) {
    // Every family, AF_UNIX included, as CPython (harmless there, and what Python users expect
    // to read back with getsockopt()).
    const int family = s.family();
    if (reuse_address && server_reuse_address) {
        try {
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        } catch (const error&) {
            if (!ignore_reuse_address_failure) throw;
        }
    }
    if (reuse_port) {
#if defined(SO_REUSEPORT)
        s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
#else
        throw std::invalid_argument("SO_REUSEPORT not supported on this platform");
#endif
    }
#if defined(IPV6_V6ONLY)
    if (family == AF_INET6) s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, dualstack_ipv6 ? 0 : 1);
#endif
}
}  // namespace detail

PYSOCK_DECL socket create_server(const address& addr, int family, std::optional<int> backlog,
                                 bool reuse_port, bool dualstack_ipv6) {
#if !defined(SO_REUSEPORT)
    if (reuse_port) throw std::invalid_argument("SO_REUSEPORT not supported on this platform");
#endif
    if (dualstack_ipv6) {
        if (!has_dualstack_ipv6())
            throw std::invalid_argument("dualstack_ipv6 not supported on this platform");
        if (family != AF_INET6)
            throw std::invalid_argument("dualstack_ipv6 requires AF_INET6 family");
    }
    socket s(family, SOCK_STREAM);
    detail::prepare_to_bind(s, true, true, reuse_port, dualstack_ipv6);
    try {
        s.bind(addr);
    } catch (const error& e) {
        // Python: "[Errno 98] Address already in use (while attempting to bind on address (...))"
        std::string message = e.what();
        if (e.code().category() == gai_category()) {
            // An unknown host: Python's OSError (no longer a gaierror) with the same errno.
            message += " (while attempting to bind on address " + to_string(addr) + ")";
            throw error(e.code(), message);
        }
        // CPython rebuilds the message as error(errno, strerror + ...): "[Errno 10048] ..." on
        // Windows too, where the original read "[WinError 10048] ...".
        if (message == detail::os_error_message(e.code().value()))
            message = "[Errno " + std::to_string(e.code().value()) + "] " +
                      detail::os_error_text(e.code().value());
        message += " (while attempting to bind on address " + to_string(addr) + ")";
        detail::raise_os_error(e.code().value(), message);
    }
    if (backlog)
        s.listen(*backlog);
    else
        s.listen();
    return s;
}

PYSOCK_DECL std::pair<socket, socket> socketpair(int family, int type, int proto) {
    std::int64_t initial = detail::default_timeout_ns.load(std::memory_order_relaxed);
#if defined(SOCK_NONBLOCK)
    if (type & SOCK_NONBLOCK) initial = 0;
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
#endif
    native_handle_type fds[2];
    if (detail::open_socketpair(family, type, proto, fds) < 0) detail::raise_last_error();
    std::pair<socket, socket> pair(socket(fds[0], family, type, proto),
                                   socket(fds[1], family, type, proto));
    pair.first.apply_timeout(initial, -1);  // on failure both sockets close themselves
    pair.second.apply_timeout(initial, -1);
    return pair;
}

PYSOCK_DECL bytes inet_pton(int family, const std::string& ip) {
    unsigned char packed[sizeof(::in6_addr)] = {};
    if (family != AF_INET && family != AF_INET6)
        detail::raise_os_error(detail::err_af_not_supported);
    if (detail::has_embedded_nul(ip)) throw std::invalid_argument("embedded null character");
    int rc = detail::sys_inet_pton(family, ip.c_str(), packed);
    if (rc == 0) detail::raise_plain_error("illegal IP address string passed to inet_pton");
    if (rc < 0) detail::raise_last_error();
    return bytes(reinterpret_cast<const char*>(packed), family == AF_INET ? 4 : 16);
}

PYSOCK_DECL std::string inet_ntop(int family, std::string_view packed) {
    if (family != AF_INET && family != AF_INET6)
        throw std::invalid_argument("unknown address family " + std::to_string(family));
    if (packed.size() != (family == AF_INET ? 4u : 16u))
        throw std::invalid_argument("invalid length of packed IP address string");
    unsigned char raw[16] = {};
    std::memcpy(raw, packed.data(), packed.size());
    char text[INET6_ADDRSTRLEN] = {};
    if (!detail::sys_inet_ntop(family, raw, text, sizeof text)) detail::raise_last_error();
    return text;
}

PYSOCK_DECL bytes inet_aton(const std::string& ip) {
    ::in_addr a{};
    if (detail::has_embedded_nul(ip)) throw std::invalid_argument("embedded null character");
    if (detail::sys_inet_aton(ip.c_str(), &a) == 0)
        detail::raise_plain_error("illegal IP address string passed to inet_aton");
    return bytes(reinterpret_cast<const char*>(&a), 4);
}

PYSOCK_DECL std::string inet_ntoa(std::string_view packed) {
    if (packed.size() != 4) detail::raise_plain_error("packed IP wrong length for inet_ntoa");
    return inet_ntop(AF_INET, packed);
}

PYSOCK_DECL void close(native_handle_type fd) {
    if (detail::close_handle(fd) < 0 && detail::last_error() != detail::err_conn_reset)
        detail::raise_last_error();
}

#if PYSOCK_WITH_SERVER
// ---------------------------------------------------------------------------------------------
// 5.5 socketserver: base_server, tcp_server, threading_tcp_server, udp_server, threading_udp_server
// ---------------------------------------------------------------------------------------------

namespace detail {

// The signal path touches only lock-free atomics: anything else may deadlock or tear when a
// signal lands in the middle of it.
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "server_wakeup needs lock-free atomics to be async-signal-safe");

inline void server_wakeup::open() {
    auto pair = socketpair();
    pair.first.settimeout(0.0);  // drain() reads until empty; notify() must never block
    pair.second.settimeout(0.0);
    read_.emplace(std::move(pair.first));
    write_.emplace(std::move(pair.second));
    write_handle_.store(write_->fileno());
}

inline native_handle_type server_wakeup::read_handle() const noexcept {
    return read_ ? read_->fileno() : invalid_handle;
}

inline void server_wakeup::notify() noexcept {
    // One byte in flight is enough: the loop clears pending_ before it drains, so a notify()
    // that finds it set knows the loop has yet to look.
    if (pending_.exchange(true)) return;
    int saved = errno;
    // writers_ keeps close() from closing the descriptor (and the number being reused) between
    // the load and the send.
    writers_.fetch_add(1);
    native_handle_type fd = write_handle_.load();
    if (fd != invalid_handle) {
        char byte = '!';
        (void)sys_send(fd, &byte, 1, 0);  // full or closed peer: the loop is awake anyway
    }
    writers_.fetch_sub(1);
    errno = saved;
}

// Empties the pipe, then re-arms notify(). In this order a notify() can never be left with its
// flag set and no byte in the pipe (which would silence every later notify()): at worst one
// byte too many wakes the loop once more. The caller looks at what changed afterwards.
inline void server_wakeup::drain() noexcept {
    if (read_) {
        char buf[64];
        while (sys_recv(read_->fileno(), buf, sizeof buf, 0) > 0) {}
    }
    pending_.store(false);
}

inline void server_wakeup::request_stop(int signal_number) noexcept {
    if (signal_number != 0) stop_signal.store(signal_number);
    stop_requested.store(true);
    notify();
}

inline void server_wakeup::close() noexcept {
    write_handle_.store(invalid_handle);
    while (writers_.load() != 0)
        std::this_thread::yield();  // a notify() mid-send: a few instructions
    read_.reset();
    write_.reset();
}

/// The servers that signals stop. A signal handler reads only the atomics; registration takes
/// the mutex. busy counts handlers running, so unregistering can wait until none can still be
/// using a server it removed.
struct server_signal_table {
    static constexpr int slots = 16;
    static constexpr int max_signal = 64;
    std::atomic<server_wakeup*> servers[slots];
    std::atomic<std::uint64_t> masks[slots];  // bit (sig - 1): the signals of each server
    std::atomic<int> busy;
    std::mutex mutex;
    int users[max_signal + 1];              // servers using each signal
    saved_signal previous[max_signal + 1];  // what each signal's handler was before
};
inline server_signal_table server_signals{};

inline void server_signal_handler(int signal_number) {
    server_signal_table& table = server_signals;
    table.busy.fetch_add(1);
    const std::uint64_t bit = std::uint64_t{1} << (signal_number - 1);
    for (auto i = 0; i < server_signal_table::slots; ++i) {
        server_wakeup* server = table.servers[i].load();
        if (server && (table.masks[i].load() & bit)) server->request_stop(signal_number);
    }
    table.busy.fetch_sub(1);
    rearm_signal(signal_number, server_signal_handler);
}

/// The server whose handler the current thread runs (shutdown() must not wait for itself).
inline thread_local const void* current_server = nullptr;

inline bool resource_exhausted(int err) noexcept {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/// The grace period of a stop in ns: -1 without limit, 0 none (see server_options).
inline std::int64_t grace_ns(const server_options& options) {
    if (!options.block_on_close || options.daemon_threads) return 0;
    return timeout_to_ns(options.grace_period);
}

/// Python's StreamRequestHandler around a stream handler: rfile and wfile made for each
/// connection, closed (after a flush) when the handler is done.
inline tcp_server::handler stream_adapter(tcp_server::stream_handler handle) {
    if (!handle) return {};
    return [handle = std::move(handle)](socket& conn, const address& client) {
        stream_request request{conn, conn.makefile("rb"), conn.makefile("wb", 0), client};
        handle(request);
    };
}

}  // namespace detail

// ----- base_server ----------------------------------------------------------------------------

PYSOCK_DECL base_server::base_server(const address& server_address, int type,
                                     server_options options)
    : options_(std::move(options)),
      socket_(server_address.family == AF_UNSPEC ? AF_INET : server_address.family, type),
      socket_type_(type) {
    // SO_REUSEADDR for streams only: see server_options.
    detail::prepare_to_bind(socket_, type == SOCK_STREAM && options_.allow_reuse_address, false,
                            options_.allow_reuse_port, options_.dualstack_ipv6);
    socket_.bind(server_address);
}

PYSOCK_DECL base_server::base_server(socket sock, int type, server_options options,
                                     const char* server_name)
    : options_(std::move(options)), socket_(std::move(sock)), socket_type_(type) {
    if (socket_.type() != type)
        throw std::invalid_argument(
            std::string(server_name) +
            (type == SOCK_STREAM ? " needs a SOCK_STREAM socket" : " needs a SOCK_DGRAM socket"));
}

PYSOCK_DECL base_server::~base_server() = default;

// Validates the options, listens, and opens the wake-up pair. A listener is non-blocking: a
// client that connects and resets before accept() would otherwise block the loop in accept().
// A datagram socket stays blocking for the handlers that answer with it; the loop reads it
// with MSG_DONTWAIT.
PYSOCK_DECL void base_server::activate() {
    detail::timeout_to_ns(options_.grace_period);  // throws std::invalid_argument early
    detail::timeout_to_ns(options_.timeout);
    detail::timeout_to_ns(options_.connection_timeout);
    if (socket_type_ == SOCK_STREAM) {
        socket_.listen(options_.request_queue_size);
        socket_.settimeout(0.0);
    } else {
        socket_.settimeout(std::nullopt);
    }
    wakeup_.open();
}

PYSOCK_DECL void base_server::close_for_destructor() noexcept {
    try {
        shutdown();
    } catch (...) {  // std::system_error from a mutex: nothing better to do in a destructor
    }
    server_close();
}

// One wait of the loop. Running out of descriptors or memory (backoff_) stops watching the
// socket for up to 100 ms, so the loop retries without spinning.
PYSOCK_DECL bool base_server::wait_for_request(std::int64_t timeout_ns, bool watch_socket) {
    const bool backing_off = backoff_.load();
    if (backing_off && (timeout_ns < 0 || timeout_ns > 100000000)) timeout_ns = 100000000;
    bool woken = false, request_waiting = false;
    int n = detail::wait_readable(wakeup_.read_handle(), socket_.fileno(),
                                  watch_socket && !backing_off, timeout_ns, woken, request_waiting);
    if (n < 0) {
        if (detail::interrupted(detail::last_error())) return false;
        detail::raise_last_error();
    }
    if (woken) wakeup_.drain();
    if (n == 0) backoff_ = false;
    return request_waiting && !wakeup_.stop_requested.load();
}

PYSOCK_DECL void base_server::report_error(const address& client,
                                           std::exception_ptr error) noexcept {
    try {
        if (options_.handle_error) {
            options_.handle_error(client, error);
            return;
        }
        std::string line = client.family == AF_UNSPEC
                               ? "Exception occurred while accepting a connection: "
                               : "Exception occurred during processing of request from " +
                                     to_string(client) + ": ";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            line += e.what();
        } catch (...) {
            line += "unknown exception";
        }
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stderr);  // one call: lines of threads do not mix
    } catch (...) {}
}

PYSOCK_DECL void base_server::report_os_error(int err) noexcept {
    // The subclass and message Python's OSError(err) would have.
    report_error(address(), detail::os_error_ptr(err));
}

PYSOCK_DECL void base_server::serve_forever() {
    if (socket_.fileno() == detail::invalid_handle) detail::raise_os_error(detail::err_bad_handle);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        serving_ = true;
        serving_thread_ = std::this_thread::get_id();
    }
    // Whichever way the loop ends, no handler thread survives serve_forever().
    struct end_of_serving {
        base_server& server;
        ~end_of_serving() {
            server.finish_requests();
            server.wakeup_.stop_requested.store(false);
            {
                std::lock_guard<std::mutex> lock(server.mutex_);
                server.serving_ = false;
                server.serving_thread_ = std::thread::id();
            }
            server.changed_.notify_all();
        }
    } end{*this};
    while (!wakeup_.stop_requested.load()) serve_one(-1);
}

PYSOCK_DECL bool base_server::handle_request() {
    if (socket_.fileno() == detail::invalid_handle) detail::raise_os_error(detail::err_bad_handle);
    const std::int64_t timeout_ns = detail::timeout_to_ns(options_.timeout);
    const std::int64_t start = detail::monotonic_ns();
    for (;;) {
        if (wakeup_.stop_requested.load()) return false;
        std::int64_t left = timeout_ns < 0 ? -1 : timeout_ns - (detail::monotonic_ns() - start);
        if (timeout_ns >= 0 && left <= 0) break;
        if (serve_one(left)) return true;
    }
    if (options_.handle_timeout) options_.handle_timeout();
    return false;
}

PYSOCK_DECL void base_server::request_shutdown() noexcept { wakeup_.request_stop(0); }

PYSOCK_DECL void base_server::shutdown() {
    wakeup_.request_stop(0);
    std::unique_lock<std::mutex> lock(mutex_);
    auto stopped = [this] { return !serving_; };
    if (stopped() || serving_thread_ == std::this_thread::get_id() ||
        detail::current_server == this)
        return;  // nothing to wait for, or waiting would wait for the caller itself
    // A handler running in the serving thread (tcp_server) gets the grace period, then its
    // connection is cut; threading servers do both in their own stop, so this only waits.
    const std::int64_t grace = detail::grace_ns(options_);
    if (grace >= 0 && !changed_.wait_for(lock, std::chrono::nanoseconds(grace), stopped)) cut_off();
    changed_.wait(lock, stopped);
}

PYSOCK_DECL int base_server::shutdown_signal() const noexcept { return wakeup_.stop_signal.load(); }

PYSOCK_DECL void base_server::shutdown_on_signals(std::initializer_list<int> signals) {
    using table_type = detail::server_signal_table;
    table_type& table = detail::server_signals;
    std::uint64_t wanted = 0;
    for (int s : signals) {
        if (s < 1 || s > table_type::max_signal)
            throw std::invalid_argument("signal number out of range");
        wanted |= std::uint64_t{1} << (s - 1);
    }
    std::lock_guard<std::mutex> lock(table.mutex);
    int slot = signal_slot_;
    for (int i = 0; slot < 0 && i < table_type::slots; ++i)
        if (!table.servers[i].load()) slot = i;
    if (slot < 0) throw std::length_error("too many servers registered with shutdown_on_signals()");
    const std::uint64_t have = signal_slot_ < 0 ? 0 : table.masks[slot].load();
    // Published before any handler is installed: a signal that comes the instant after its
    // handler is in place must find this server (it was lost in that window before).
    table.masks[slot].store(have | wanted);
    table.servers[slot].store(&wakeup_);
    std::uint64_t installed = 0;
    for (int s = 1; s <= table_type::max_signal; ++s) {
        std::uint64_t bit = std::uint64_t{1} << (s - 1);
        if (!(wanted & bit) || (have & bit)) continue;
        if (table.users[s] == 0 &&
            detail::install_signal(s, detail::server_signal_handler, table.previous[s]) < 0) {
            int err = detail::last_error();
            for (int t = 1; t < s; ++t)  // undo this call's installations
                if ((installed >> (t - 1)) & 1)
                    if (--table.users[t] == 0) detail::restore_signal(t, table.previous[t]);
            table.masks[slot].store(have);
            if (signal_slot_ < 0) table.servers[slot].store(nullptr);
            detail::raise_os_error(err);
        }
        ++table.users[s];
        installed |= bit;
    }
    signal_slot_ = slot;
}

PYSOCK_DECL void base_server::unregister_signals() noexcept {
    detail::server_signal_table& table = detail::server_signals;
    std::lock_guard<std::mutex> lock(table.mutex);
    if (signal_slot_ < 0) return;
    table.servers[signal_slot_].store(nullptr);
    // A handler that loaded the pointer before the store may still be calling request_stop().
    while (table.busy.load() != 0) std::this_thread::yield();
    std::uint64_t mask = table.masks[signal_slot_].exchange(0);
    for (int s = 1; s <= detail::server_signal_table::max_signal; ++s)
        if (((mask >> (s - 1)) & 1) && --table.users[s] == 0)
            detail::restore_signal(s, table.previous[s]);
    signal_slot_ = -1;
}

PYSOCK_DECL void base_server::server_close() noexcept {
    unregister_signals();
    finish_requests();
    socket_.close();
    wakeup_.close();
}

PYSOCK_DECL address base_server::server_address() const { return socket_.getsockname(); }

PYSOCK_DECL native_handle_type base_server::fileno() const noexcept { return socket_.fileno(); }

// ----- tcp_server -----------------------------------------------------------------------------

PYSOCK_DECL tcp_server::tcp_server(const address& server_address, handler handle,
                                   server_options options)
    : base_server(server_address, SOCK_STREAM, std::move(options)), handle_(std::move(handle)) {
    start_up();
}

PYSOCK_DECL tcp_server::tcp_server(const address& server_address, stream_handler handle,
                                   server_options options)
    : tcp_server(server_address, detail::stream_adapter(std::move(handle)), std::move(options)) {}

PYSOCK_DECL tcp_server::tcp_server(socket listener, handler handle, server_options options)
    : base_server(std::move(listener), SOCK_STREAM, std::move(options), "tcp_server"),
      handle_(std::move(handle)) {
    start_up();
}

PYSOCK_DECL void tcp_server::start_up() {
    if (!handle_) throw std::invalid_argument("tcp_server needs a handler");
    activate();
}

PYSOCK_DECL tcp_server::tcp_server(socket listener, stream_handler handle, server_options options)
    : tcp_server(std::move(listener), detail::stream_adapter(std::move(handle)),
                 std::move(options)) {}

PYSOCK_DECL tcp_server::~tcp_server() { close_for_destructor(); }

// Waits for a client, accepts it, and hands it to process_request().
PYSOCK_DECL bool tcp_server::serve_one(std::int64_t timeout_ns) {
    if (!wait_for_request(timeout_ns, has_room())) return false;
    std::error_code ec;
    auto accepted = socket_.accept(ec);
    if (ec) {
        // Python ignores every accept() error (a client that left before accept() is
        // EWOULDBLOCK). Running out of descriptors or memory must not be silent, nor spin:
        // report it and retry when a handler ends or after 100 ms.
        if (detail::resource_exhausted(ec.value())) {
            backoff_ = true;
            report_os_error(ec.value());
        }
        return false;
    }
    process_request(std::move(accepted.first), std::move(accepted.second));
    return true;
}

PYSOCK_DECL void tcp_server::finish_request(socket& conn, const address& client,
                                            bool& forced) noexcept {
    const void* outer = detail::current_server;
    detail::current_server = static_cast<const base_server*>(this);
    try {
        handle_(conn, client);
    } catch (...) {
        bool cut;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            cut = forced;
        }
        if (!cut) report_error(client, std::current_exception());
    }
    detail::current_server = outer;
}

PYSOCK_DECL bool tcp_server::apply_connection_timeout(socket& conn,
                                                      const address& client) noexcept {
    try {
        if (options_.connection_timeout) conn.settimeout(options_.connection_timeout);
        return true;
    } catch (...) {
        report_error(client, std::current_exception());
        return false;
    }
}

PYSOCK_DECL void tcp_server::process_request(socket conn, address client) {
    if (!apply_connection_timeout(conn, client)) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        active_ = &conn;
        active_forced_ = false;
    }
    finish_request(conn, client, active_forced_);
    // Closed under the lock, so cut_off() never shuts down a number someone else reused.
    std::lock_guard<std::mutex> lock(mutex_);
    conn.close();
    active_ = nullptr;
}

PYSOCK_DECL void tcp_server::cut_off() noexcept {
    if (!active_) return;
    native_handle_type fd = active_->fileno();
    if (fd == detail::invalid_handle) return;  // the handler took the socket
    active_forced_ = true;
    detail::sys_shutdown(fd, SHUT_RDWR);
}

// ----- threading_tcp_server -------------------------------------------------------------------

PYSOCK_DECL threading_tcp_server::threading_tcp_server(const address& server_address,
                                                       handler handle, server_options options)
    : tcp_server(server_address, std::move(handle), std::move(options)) {}

PYSOCK_DECL threading_tcp_server::threading_tcp_server(const address& server_address,
                                                       stream_handler handle,
                                                       server_options options)
    : tcp_server(server_address, std::move(handle), std::move(options)) {}

PYSOCK_DECL threading_tcp_server::threading_tcp_server(socket listener, handler handle,
                                                       server_options options)
    : tcp_server(std::move(listener), std::move(handle), std::move(options)) {}

PYSOCK_DECL threading_tcp_server::threading_tcp_server(socket listener, stream_handler handle,
                                                       server_options options)
    : tcp_server(std::move(listener), std::move(handle), std::move(options)) {}

PYSOCK_DECL threading_tcp_server::~threading_tcp_server() { close_for_destructor(); }

PYSOCK_DECL bool threading_tcp_server::has_room() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return options_.max_clients == 0 || options_.refuse_when_full ||
           running_ < options_.max_clients;
}

PYSOCK_DECL bool threading_tcp_server::serve_one(std::int64_t timeout_ns) {
    reap();
    return tcp_server::serve_one(timeout_ns);
}

PYSOCK_DECL void threading_tcp_server::process_request(socket conn, address client) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (options_.max_clients != 0 && running_ >= options_.max_clients) {
            // refuse_when_full (has_room() let the client in): a word and the end of stream.
            try {
                conn.settimeout(0.0);
                if (!options_.refuse_message.empty()) conn.send(options_.refuse_message);
                conn.shutdown(SHUT_WR);
            } catch (const error&) {}
            return;  // conn closes
        }
    }
    if (!apply_connection_timeout(conn, client)) return;
    connection_list::iterator c;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        c = connections_.insert(connections_.end(), connection{std::thread(), std::move(conn),
                                                               std::move(client), false});
        ++running_;
    }
    try {
        c->thread = std::thread([this, c] { run(c); });
    } catch (...) {  // no thread (EAGAIN): this client is dropped, the server goes on
        address who = c->client;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            --running_;
            connections_.erase(c);
        }
        report_error(who, std::current_exception());
    }
}

// The body of every handler thread.
PYSOCK_DECL void threading_tcp_server::run(connection_list::iterator c) noexcept {
    finish_request(c->conn, c->client, c->forced);
    {
        // Closed under the lock: finish_requests() shuts sockets down under it too, so it
        // never acts on a descriptor number this thread has closed and someone else reused.
        std::lock_guard<std::mutex> lock(mutex_);
        c->conn.close();
        --running_;
        finished_.push_back(c);
        backoff_ = false;
    }
    changed_.notify_all();
    wakeup_.notify();
}

// Joins the threads of finished handlers: a server that runs for months must not keep one
// thread object (and, until joined, one stack) per client it ever had.
PYSOCK_DECL void threading_tcp_server::reap() {
    std::vector<connection_list::iterator> done;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        done.swap(finished_);
    }
    if (done.empty()) return;
    for (auto c : done) c->thread.join();  // it has left run(): this returns at once
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto c : done) connections_.erase(c);
}

// The stop: grace period, then SHUT_RDWR on the sockets of handlers still running, then join.
PYSOCK_DECL void threading_tcp_server::finish_requests() noexcept {
    connection_list all;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        auto idle = [this] { return running_ == 0; };
        const std::int64_t grace = detail::grace_ns(options_);
        if (grace < 0)
            changed_.wait(lock, idle);
        else if (grace > 0)
            changed_.wait_for(lock, std::chrono::nanoseconds(grace), idle);
        for (auto& c : connections_) {
            native_handle_type fd = c.conn.fileno();
            if (fd == detail::invalid_handle)
                continue;  // finished (or the handler took the socket)
            c.forced = true;
            detail::sys_shutdown(fd, SHUT_RDWR);
        }
        all.splice(all.end(), connections_);
    }
    for (auto& c : all) {
        if (c.thread.joinable() && c.thread.get_id() != std::this_thread::get_id()) c.thread.join();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    finished_.clear();  // iterators into `all`, whose threads are joined
}

// ----- udp_server -----------------------------------------------------------------------------

PYSOCK_DECL udp_server::udp_server(const address& server_address, handler handle,
                                   server_options options)
    : base_server(server_address, SOCK_DGRAM, std::move(options)), handle_(std::move(handle)) {
    start_up();
}

PYSOCK_DECL udp_server::udp_server(socket sock, handler handle, server_options options)
    : base_server(std::move(sock), SOCK_DGRAM, std::move(options), "udp_server"),
      handle_(std::move(handle)) {
    start_up();
}

PYSOCK_DECL void udp_server::start_up() {
    if (!handle_) throw std::invalid_argument("udp_server needs a handler");
    if (options_.max_packet_size == 0)
        throw std::invalid_argument("max_packet_size must be positive");
    packet_.resize(options_.max_packet_size);
    activate();
}

PYSOCK_DECL udp_server::~udp_server() { close_for_destructor(); }

// Waits for a datagram, reads it, and hands it to process_request().
// Under load the socket holds more than one datagram: after one was read, the next read is
// tried before poll(), so a busy server costs one recvfrom() per datagram, not two calls.
PYSOCK_DECL bool udp_server::serve_one(std::int64_t timeout_ns) {
    const bool try_first =
        detail::msg_dontwait != 0 && more_likely_ && has_room() && !wakeup_.stop_requested.load();
    if (!try_first && !wait_for_request(timeout_ns, has_room())) return false;
    std::error_code ec;
    auto received = socket_.recvfrom_into(packet_.data(), packet_.size(), detail::msg_dontwait, ec);
    more_likely_ = !ec;
    if (ec) {
        // As Python's get_request(): nothing to read, or an error of an earlier sendto()
        // (Windows reports ICMP port unreachable here) drops no datagram and is ignored.
        if (detail::resource_exhausted(ec.value())) {
            backoff_ = true;
            report_os_error(ec.value());
        }
        return false;
    }
    process_request(bytes(packet_.data(), received.first), std::move(received.second));
    return true;
}

PYSOCK_DECL void udp_server::run_handler(const bytes& data, const address& client) noexcept {
    const void* outer = detail::current_server;
    detail::current_server = static_cast<const base_server*>(this);
    try {
        handle_(data, socket_, client);
    } catch (...) {
        report_error(client, std::current_exception());
    }
    detail::current_server = outer;
}

PYSOCK_DECL void udp_server::process_request(bytes data, address client) {
    run_handler(data, client);
}

// ----- threading_udp_server -------------------------------------------------------------------

PYSOCK_DECL threading_udp_server::threading_udp_server(const address& server_address,
                                                       handler handle, server_options options)
    : udp_server(server_address, std::move(handle), std::move(options)) {}

PYSOCK_DECL threading_udp_server::threading_udp_server(socket sock, handler handle,
                                                       server_options options)
    : udp_server(std::move(sock), std::move(handle), std::move(options)) {}

PYSOCK_DECL threading_udp_server::~threading_udp_server() { close_for_destructor(); }

PYSOCK_DECL std::size_t threading_udp_server::limit() const noexcept {
    return options_.max_clients != 0 ? options_.max_clients : std::size_t{PYSOCK_UDP_MAX_THREADS};
}

PYSOCK_DECL std::size_t threading_udp_server::peak_concurrency() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return peak_;
}

PYSOCK_DECL bool threading_udp_server::has_room() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return busy_ + queue_.size() < limit();
}

// Queues the datagram for an idle thread, starting one when none is idle and the pool has room.
PYSOCK_DECL void threading_udp_server::process_request(bytes data, address client) {
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(datagram{std::move(data), std::move(client)});
    if (queue_.size() > idle_ && threads_.size() < limit()) {
        try {
            threads_.emplace_back([this] { work(); });
        } catch (...) {  // no thread (EAGAIN): a running thread takes it, or it is dropped
            if (!threads_.empty()) return;
            address who = queue_.back().client;
            queue_.pop_back();
            lock.unlock();
            report_error(who, std::current_exception());
            return;
        }
    }
    lock.unlock();
    work_.notify_one();
}

// The body of every pool thread: take a datagram, handle it, until the server stops and the
// queue is empty (a datagram read is a datagram handled).
PYSOCK_DECL void threading_udp_server::work() noexcept {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        ++idle_;
        work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        --idle_;
        if (queue_.empty()) return;
        datagram d = std::move(queue_.front());
        queue_.pop_front();
        peak_ = std::max(peak_, ++busy_);
        lock.unlock();
        run_handler(d.data, d.client);
        lock.lock();
        const bool was_full = busy_ + queue_.size() >= limit();
        --busy_;
        if (was_full) {  // the loop stopped reading: wake it
            lock.unlock();
            wakeup_.notify();
            lock.lock();
        }
    }
}

PYSOCK_DECL void threading_udp_server::finish_requests() noexcept {
    std::vector<std::thread> pool;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        pool.swap(threads_);
    }
    work_.notify_all();
    for (auto& t : pool)
        if (t.get_id() != std::this_thread::get_id())
            t.join();
        else
            t.detach();  // server_close() from a handler: that thread ends when it returns
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
}
#endif  // PYSOCK_WITH_SERVER

#endif  // PYSOCK_HEADER_ONLY || PYSOCK_SOURCE

}  // namespace pysock

// =============================================================================================
// 6. Internal macros end here
// =============================================================================================
#undef PYSOCK_DECLARE_ERROR
#undef PYSOCK_NOINLINE
#undef PYSOCK_MSG_NOSIGNAL

#endif  // PYSOCK_SOCKET_HPP
