// SPDX-License-Identifier: MIT
// pysock 1.0.0 — Python's ssl module over OpenSSL 3, as a companion to socket.hpp.
// Copyright (c) 2026 the pysock authors. See LICENSE.
//
// ---------------------------------------------------------------------------------------------
// What this is
// ---------------------------------------------------------------------------------------------
// Python's `import ssl`: a context, wrap_socket(), then the same recv/sendall as before.
//
//     auto ctx = pysock::ssl::create_default_context();              // ssl.create_default_context()
//     auto tls = ctx.wrap_socket(pysock::create_connection({"example.org", 443}),
//                                false, "example.org");              // server_hostname=...
//     tls.sendall("GET / HTTP/1.0\r\nHost: example.org\r\n\r\n");
//     auto reply = tls.recv(4096);
//
// This is the only pysock header that needs a library: OpenSSL 3.0 or newer (libssl and
// libcrypto; Debian: libssl-dev). Programs that do not include it never link OpenSSL. CMake:
// link pysock::ssl; Meson: pysock_ssl_dep; by hand: -lssl -lcrypto.
//
// The error model
// ---------------
// Python's tree, under pysock's (every class is a pysock::error, so a std::system_error):
//
//     error                               OSError
//       ssl_error                         ssl.SSLError: [LIBRARY: REASON] reason text
//         ssl_zero_return_error           SSLZeroReturnError: the peer closed TLS cleanly
//         ssl_want_read_error             SSLWantReadError: non-blocking, needs readable
//         ssl_want_write_error            SSLWantWriteError: non-blocking, needs writable
//         ssl_syscall_error               SSLSyscallError: an I/O error without errno
//         ssl_eof_error                   SSLEOFError: EOF in violation of the protocol
//         ssl_cert_verification_error     SSLCertVerificationError: verify_code(), verify_message()
//       timeout                           "The read operation timed out" (also write, handshake)
//       connection_reset_error, ...       a system error under TLS is the socket's own exception
//
// e.code() is Python's errno attribute: the SSL_ERROR_* value in ssl_category() (1 for
// SSL_ERROR_SSL), or the system errno for the socket's exceptions. what() is Python's str(e)
// without CPython's source location: "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:
// Hostname mismatch, certificate is not valid for 'example.org'.". The REASON mnemonic is
// OpenSSL's reason text in capitals, which is how OpenSSL names them (Python keeps a table).
//
// The timeout model is socket.hpp's: blocking, non-blocking (settimeout(0.0): the want-read and
// want-write errors, for event loops) and timeout, where the socket's timeout bounds each call
// whole (a handshake of several round trips, a sendall of many records). EINTR is retried;
// SIGPIPE never fires (pysock's own transport for OpenSSL sends with MSG_NOSIGNAL).
//
// Differences from Python, on purpose
// -----------------------------------
//   * An encrypted key without a password fails at once; OpenSSL would prompt on the terminal.
//   * close() on an ssl_socket does not send close_notify, as in Python: unwrap() does.
//   * ssl.hpp is header-only in both of socket.hpp's modes (PYSOCK_SEPARATE_COMPILATION too).
//
// Thread safety: an ssl_context may be shared by threads that wrap sockets once it is
// configured (configuring it while others wrap is a data race, as in OpenSSL). An ssl_socket is
// used by one thread at a time: unlike a plain socket, its two directions share TLS state.
//
// Layout of this file
// -------------------
//   1. Configuration      2. OpenSSL headers and the version check
//   3. Declarations       3.1 constants, 3.2 exceptions, 3.3 certificates, 3.4 ssl_context,
//                         3.5 ssl_socket, 3.6 module functions
//   4. Platform layer     pysock::ssl::detail: the BIO OpenSSL reads and writes through (pysock's
//                         system call wrappers), and the error queue
//   5. Implementation     5.1 errors, 5.2 certificates, 5.3 ssl_context, 5.4 ssl_socket
//   6. Internal macros are #undef'd at the end
// ---------------------------------------------------------------------------------------------
#ifndef PYSOCK_SSL_HPP
#define PYSOCK_SSL_HPP

#include "socket.hpp"

// =============================================================================================
// 1. Configuration
// =============================================================================================

// The cipher list of TLS 1.2 and older for new contexts: Python 3.10+'s _DEFAULT_CIPHERS.
// (TLS 1.3 suites are OpenSSL's own defaults, as in Python.)
#ifndef PYSOCK_SSL_DEFAULT_CIPHERS
#define PYSOCK_SSL_DEFAULT_CIPHERS                                                                 \
    "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
#endif

// =============================================================================================
// 2. OpenSSL headers
// =============================================================================================

#if defined(__has_include)
#if !__has_include(<openssl/ssl.h>)
#error "pysock/ssl.hpp needs OpenSSL 3's headers (Debian/Ubuntu: apt install libssl-dev)"
#endif
#endif
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/opensslv.h>
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error                                                                                             \
    "pysock/ssl.hpp supports OpenSSL 3.0 and newer; these headers are older (OPENSSL_VERSION_TEXT)"
#endif

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#define PYSOCK_SSL_DECL inline

namespace pysock {
namespace ssl {

// =============================================================================================
// 3. Declarations
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// 3.1 Constants
// ---------------------------------------------------------------------------------------------

/// ssl.PROTOCOL_TLS_CLIENT and ssl.PROTOCOL_TLS_SERVER (Python's values).
inline constexpr int PROTOCOL_TLS_CLIENT = 16;
inline constexpr int PROTOCOL_TLS_SERVER = 17;

/// ssl.VerifyMode: context.verify_mode.
enum verify_mode_type : int { CERT_NONE = 0, CERT_OPTIONAL = 1, CERT_REQUIRED = 2 };

/// ssl.TLSVersion: context.minimum_version / maximum_version.
enum class tls_version : int {
    MINIMUM_SUPPORTED = -2,
    MAXIMUM_SUPPORTED = -1,
    TLSv1 = TLS1_VERSION,
    TLSv1_1 = TLS1_1_VERSION,
    TLSv1_2 = TLS1_2_VERSION,
    TLSv1_3 = TLS1_3_VERSION,
};

/// ssl.Purpose: what create_default_context() prepares a context for. server_auth: a client
/// that authenticates servers; client_auth: a server that may authenticate clients.
enum class purpose { server_auth, client_auth };

/// Python's SSL_ERROR_* constants (ssl.SSL_ERROR_EOF is Python's own, 8).
inline constexpr int SSL_ERROR_EOF = 8;

/// ssl.OPENSSL_VERSION ("OpenSSL 3.0.19 27 Jan 2026": OpenSSL defines OPENSSL_VERSION as a macro,
/// hence the lower-case name).
std::string openssl_version();

// ---------------------------------------------------------------------------------------------
// 3.2 Exceptions (see the narrative at the top)
// ---------------------------------------------------------------------------------------------

/// The category of ssl_error codes: SSL_ERROR_* values; message() names them.
const std::error_category& ssl_category() noexcept;

/// ssl.SSLError. library() and reason() are Python's attributes ("SSL",
/// "WRONG_VERSION_NUMBER"); empty when OpenSSL reported none.
class ssl_error : public error {
public:
    ssl_error(int ssl_code, const std::string& message, std::string library = {},
              std::string reason = {});
    const std::string& library() const noexcept { return library_; }
    const std::string& reason() const noexcept { return reason_; }

private:
    std::string library_;
    std::string reason_;
};
#define PYSOCK_SSL_DECLARE_ERROR(name)                                                             \
    class name : public ssl_error {                                                                \
    public:                                                                                        \
        using ssl_error::ssl_error;                                                                \
    }
PYSOCK_SSL_DECLARE_ERROR(ssl_zero_return_error);  // SSLZeroReturnError
PYSOCK_SSL_DECLARE_ERROR(ssl_want_read_error);    // SSLWantReadError
PYSOCK_SSL_DECLARE_ERROR(ssl_want_write_error);   // SSLWantWriteError
PYSOCK_SSL_DECLARE_ERROR(ssl_syscall_error);      // SSLSyscallError
PYSOCK_SSL_DECLARE_ERROR(ssl_eof_error);          // SSLEOFError

/// ssl.SSLCertVerificationError: verify_code() is OpenSSL's X509_V_ERR_* value,
/// verify_message() its text ("self-signed certificate", "certificate has expired", "Hostname
/// mismatch, certificate is not valid for 'x'.").
class ssl_cert_verification_error : public ssl_error {
public:
    ssl_cert_verification_error(const std::string& message, long verify_code,
                                std::string verify_message, std::string library,
                                std::string reason);
    long verify_code() const noexcept { return verify_code_; }
    const std::string& verify_message() const noexcept { return verify_message_; }

private:
    long verify_code_;
    std::string verify_message_;
};

// ---------------------------------------------------------------------------------------------
// 3.3 Certificates: what getpeercert() returns
// ---------------------------------------------------------------------------------------------

/// One attribute of a distinguished name: ("commonName", "localhost").
using name_attribute = std::pair<std::string, std::string>;
/// A distinguished name as Python gives it: a sequence of relative distinguished names, each a
/// sequence of attributes: ((("countryName", "FR"),), (("commonName", "localhost"),)).
using distinguished_name = std::vector<std::vector<name_attribute>>;

/// Python's getpeercert() dict, with its keys as member names. A certificate the handshake did
/// not validate (verify_mode CERT_NONE) is returned empty, as Python returns {}.
struct certificate {
    distinguished_name subject;
    distinguished_name issuer;
    int version = 0;           // 3 for an X.509 v3 certificate
    std::string serialNumber;  // "1A2B...": hexadecimal, capitals
    std::string notBefore;     // "Dec  4 19:00:00 2026 GMT"
    std::string notAfter;
    /// ("DNS", "localhost"), ("IP Address", "127.0.0.1"), ("IP Address", "0:0:0:0:0:0:0:1"),
    /// ("email", ...), ("URI", ...)
    std::vector<std::pair<std::string, std::string>> subjectAltName;
    bool empty() const noexcept { return version == 0 && subject.empty(); }
};

/// getpeercert(binary_form): the tag that asks for the DER bytes (Python's binary_form=True).
struct binary_form_t {
    explicit constexpr binary_form_t() = default;
};
inline constexpr binary_form_t binary_form{};

/// cipher(): Python's (name, protocol, secret_bits) tuple.
struct cipher_info {
    std::string name;      // "TLS_AES_256_GCM_SHA384"
    std::string protocol;  // "TLSv1.3"
    int secret_bits = 0;   // 256
};

// ---------------------------------------------------------------------------------------------
// 3.4 ssl_context
// ---------------------------------------------------------------------------------------------

class ssl_socket;
namespace detail {
struct context_state;
struct connection;
}  // namespace detail

/// ssl.SSLContext. A handle: copies share one context (as Python names share one object), and
/// every socket it wrapped keeps it alive. Configure it first, then wrap sockets (see thread
/// safety at the top).
class ssl_context {
public:
    /// ssl.SSLContext(protocol): PROTOCOL_TLS_CLIENT (verify_mode CERT_REQUIRED, check_hostname
    /// on, no CA loaded yet) or PROTOCOL_TLS_SERVER (CERT_NONE). Both: TLS 1.2 minimum, Python's
    /// ciphers and options. @throws std::invalid_argument for another protocol, ssl_error.
    explicit ssl_context(int protocol);

    /// context.protocol.
    int protocol() const noexcept;

    /// context.load_cert_chain(certfile, keyfile, password): this side's certificate (and the
    /// chain after it in the same PEM file) and private key (keyfile "" = in certfile). An
    /// encrypted key needs `password`. @throws file_not_found_error (and the other OSErrors) for
    /// a file that cannot be read, ssl_error naming the root cause (CPython says "[SSL] PEM lib"
    /// for all of these): "[PEM: NO_START_LINE] no start line" for a file without PEM data,
    /// "[PROV: BAD_DECRYPT] bad decrypt" for a wrong password, "[X509: KEY_VALUES_MISMATCH] ..." for a key that is not
    /// the certificate's), std::invalid_argument for a password longer than OpenSSL accepts.
    void load_cert_chain(const std::string& certfile, const std::string& keyfile = "",
                         const std::string& password = "");
    /// context.load_verify_locations(cafile, capath, cadata): trusted CAs from a PEM file, a
    /// hashed directory, or PEM text / DER bytes. @throws std::invalid_argument when all three
    /// are missing ("cafile, capath and cadata cannot be all omitted"), file_not_found_error,
    /// ssl_error.
    void load_verify_locations(const std::optional<std::string>& cafile = std::nullopt,
                               const std::optional<std::string>& capath = std::nullopt,
                               const std::optional<std::string>& cadata = std::nullopt);
    /// context.load_default_certs(): the system's trust store (OpenSSL's default paths).
    /// @throws ssl_error.
    void load_default_certs();
    /// context.set_alpn_protocols(["h2", "http/1.1"]): offered by a client, chosen from by a
    /// server (the server's order wins; no overlap: no ALPN, as in Python).
    /// @throws std::invalid_argument for a name empty or longer than 255 bytes.
    void set_alpn_protocols(const std::vector<std::string>& protocols);
    /// context.set_ciphers("ECDHE+AESGCM"): the TLS 1.2 cipher list (OpenSSL's syntax).
    /// @throws ssl_error "No cipher can be selected." when nothing matches.
    void set_ciphers(const std::string& ciphers);
    /// context.check_hostname: whether the handshake checks the certificate against
    /// server_hostname. Turning it on turns verify_mode CERT_NONE into CERT_REQUIRED, as Python.
    bool check_hostname() const noexcept;
    void check_hostname(bool on);
    /// context.verify_mode. @throws std::invalid_argument "Cannot set verify_mode to CERT_NONE
    /// when check_hostname is enabled.", or for a value outside the three.
    verify_mode_type verify_mode() const noexcept;
    void verify_mode(verify_mode_type mode);
    /// context.minimum_version / maximum_version. @throws std::invalid_argument for a version
    /// this OpenSSL refuses.
    tls_version minimum_version() const noexcept;
    void minimum_version(tls_version v);
    tls_version maximum_version() const noexcept;
    void maximum_version(tls_version v);

    /// context.wrap_socket(sock, server_side, do_handshake_on_connect, suppress_ragged_eofs,
    /// server_hostname): takes the socket over. A connected socket shakes hands at once (when
    /// do_handshake_on_connect); an unconnected one does on connect(), or is a listener whose
    /// accept() returns ssl_sockets. server_hostname is sent as SNI (not for an IP address, per
    /// RFC 6066) and checked against the certificate when check_hostname is on. If the handshake
    /// fails, the socket is closed and the error thrown.
    /// @throws std::invalid_argument (Python's ValueErrors: "check_hostname requires
    /// server_hostname", "server_hostname can only be specified in client mode", "Cannot create
    /// a server socket with a PROTOCOL_TLS_CLIENT context", "do_handshake_on_connect should not
    /// be specified for non-blocking sockets", "only stream sockets are supported"), and the
    /// handshake's errors: ssl_cert_verification_error, ssl_error, ssl_eof_error, timeout...
    ssl_socket wrap_socket(socket&& sock, bool server_side = false,
                           std::optional<std::string> server_hostname = std::nullopt,
                           bool do_handshake_on_connect = true, bool suppress_ragged_eofs = true);

    /// The OpenSSL context, for what pysock does not wrap (SSL_CTX_set_*). Owned by the context.
    SSL_CTX* native_handle() const noexcept;

private:
    friend class ssl_socket;
    explicit ssl_context(std::shared_ptr<detail::context_state> state) noexcept
        : state_(std::move(state)) {}
    std::shared_ptr<detail::context_state> state_;
};

/// ssl.create_default_context(purpose, cafile, capath, cadata): server_auth gives a client
/// context (CERT_REQUIRED, check_hostname on) trusting cafile/capath/cadata when one is given,
/// the system's store otherwise; client_auth gives a server context (CERT_NONE: it loads the
/// given CAs only, as Python). TLS 1.2 minimum. @throws as load_verify_locations().
ssl_context create_default_context(purpose p = purpose::server_auth,
                                   const std::optional<std::string>& cafile = std::nullopt,
                                   const std::optional<std::string>& capath = std::nullopt,
                                   const std::optional<std::string>& cadata = std::nullopt);

// ---------------------------------------------------------------------------------------------
// 3.5 ssl_socket
// ---------------------------------------------------------------------------------------------

/// ssl.SSLSocket: a stream socket under TLS. Move-only; the destructor closes it (without
/// close_notify, as Python's close(); unwrap() sends it). Every operation on a closed or
/// moved-from ssl_socket throws `error` with EBADF. Thread safety: one thread at a time.
class ssl_socket {
public:
    ssl_socket(ssl_socket&& other) noexcept = default;
    ssl_socket& operator=(ssl_socket&& other) noexcept = default;
    ssl_socket(const ssl_socket&) = delete;
    ssl_socket& operator=(const ssl_socket&) = delete;
    ~ssl_socket() = default;

    /// ssock.recv(bufsize): at most bufsize bytes of application data; "" when the peer closed
    /// (with close_notify, or without when suppress_ragged_eofs). flags must be 0.
    /// @throws std::invalid_argument (flags), ssl_eof_error (a ragged EOF, suppress_ragged_eofs
    /// false), ssl_want_read_error / ssl_want_write_error (non-blocking), timeout,
    /// connection_reset_error, ssl_error (a bad record: "[SSL: ...] ...").
    bytes recv(std::size_t bufsize = 1024, int flags = 0);
    /// ssock.recv_into(buffer, nbytes): as recv(), into your memory; returns the count.
    std::size_t recv_into(void* buf, std::size_t nbytes, int flags = 0);
    template <class Buffer, class = pysock::detail::writable_buffer_t<Buffer>>
    std::size_t recv_into(Buffer& buffer, std::size_t nbytes = 0, int flags = 0) {
        return recv_into(std::data(buffer), pysock::detail::checked_nbytes(buffer, nbytes), flags);
    }
    /// ssock.send(data): one TLS write (at most one record's worth); returns the bytes taken.
    /// @throws std::invalid_argument (flags), ssl_want_write_error / ssl_want_read_error
    /// (non-blocking), timeout, broken_pipe_error, connection_reset_error, ssl_error.
    std::size_t send(std::string_view data, int flags = 0);
    /// ssock.sendall(data): everything, or an exception whose characters_written() says how much
    /// was taken. The timeout bounds the whole call. @throws as send().
    void sendall(std::string_view data, int flags = 0);
    /// ssock.pending(): decrypted bytes ready to read without touching the socket. An event loop
    /// must drain these before waiting: select() cannot see them.
    std::size_t pending() const;

    /// ssock.do_handshake(): performs (or, non-blocking, continues) the handshake.
    /// @throws ssl_want_read_error / ssl_want_write_error (non-blocking: call again when
    /// ready), ssl_cert_verification_error, ssl_error, ssl_eof_error, timeout ("The handshake
    /// operation timed out"), error.
    void do_handshake();
    /// ssock.unwrap(): the TLS shutdown (close_notify both ways), then the plain socket back.
    /// @throws std::invalid_argument ("No SSL wrapper around ..."), ssl_want_read_error (non-
    /// blocking), timeout, ssl_error, error.
    socket unwrap();
    /// ssock.shutdown(how): the socket's shutdown; TLS is dropped, as in Python.
    void shutdown(int how);
    /// ssock.close(): idempotent. A file from makefile() keeps the connection open until it is
    /// closed too.
    void close() noexcept;

    /// ssock.connect(address): connects, then shakes hands (do_handshake_on_connect).
    /// @throws std::invalid_argument ("can't connect in server-side mode", "attempt to connect
    /// already-connected SSLSocket!"), the socket's connect() errors, the handshake's errors.
    void connect(const address& addr);
    /// conn, addr = ssock.accept() on a wrapped listener: the connection, wrapped server-side
    /// with this listener's context and flags. A client whose handshake fails makes accept()
    /// throw, as in Python. @throws the socket's accept() errors, the handshake's errors.
    std::pair<ssl_socket, address> accept();

    /// ssock.getpeercert(): the peer's certificate, parsed (empty when not validated);
    /// nullopt when the peer sent none. @throws std::invalid_argument "handshake not done yet".
    std::optional<certificate> getpeercert() const;
    /// ssock.getpeercert(binary_form=True): the peer's certificate in DER, validated or not.
    std::optional<bytes> getpeercert(binary_form_t) const;
    /// ssock.cipher(), ssock.version() ("TLSv1.3"), ssock.selected_alpn_protocol(): nullopt
    /// before the handshake (and for ALPN, when none was agreed).
    std::optional<cipher_info> cipher() const;
    std::optional<std::string> version() const;
    std::optional<std::string> selected_alpn_protocol() const;
    /// ssock.server_hostname, ssock.server_side, ssock.context.
    std::optional<std::string> server_hostname() const;
    bool server_side() const;
    ssl_context context() const;

    /// The socket's own calls: timeouts (the whole TLS call is bounded), descriptor, names.
    /// @throws error (EBADF when closed), std::invalid_argument (settimeout's values).
    void settimeout(std::optional<double> seconds);
    std::optional<double> gettimeout() const;
    void setblocking(bool flag);
    bool getblocking() const;
    native_handle_type fileno() const noexcept;
    address getpeername() const;
    address getsockname() const;
    int family() const;
    int type() const;
    /// ssock.makefile(mode, buffering): socket.hpp's file object over this TLS connection (its
    /// readline() reads decrypted data from its buffer). The file shares the connection: it
    /// stays open until both this socket and the file are closed.
    /// @throws std::invalid_argument (mode), error (EBADF when closed).
    socket_file makefile(std::string_view mode = "r",
                         std::optional<std::size_t> buffering = std::nullopt) const;

    /// The OpenSSL object (nullptr before connect() or on a listener).
    SSL* native_handle() const noexcept;

private:
    friend class ssl_context;
    explicit ssl_socket(std::shared_ptr<detail::connection> c) noexcept : conn_(std::move(c)) {}
    detail::connection& checked() const;
    std::shared_ptr<detail::connection> conn_;
};

// =============================================================================================
// 4. Platform layer: OpenSSL reads and writes through pysock's system call wrappers
// =============================================================================================

namespace detail {
namespace os = pysock::detail;

// The two error codes ssl.hpp raises itself (socket.hpp's layer keeps its own in section 4,
// which separate compilation does not show).
#if defined(_WIN32)
inline constexpr int err_not_connected = WSAENOTCONN;
inline constexpr int err_bad_handle = WSAENOTSOCK;
#else
inline constexpr int err_not_connected = ENOTCONN;
inline constexpr int err_bad_handle = EBADF;
#endif

/// One TLS connection: the socket, the SSL object, and what the BIO needs. Shared by the
/// ssl_socket and the files its makefile() returned.
struct connection {
    socket sock;
    SSL* ssl = nullptr;
    std::shared_ptr<context_state> ctx;
    bool server_side = false;
    bool do_handshake_on_connect = true;
    bool suppress_ragged_eofs = true;
    std::optional<std::string> hostname;
    bool dont_wait = false;  // the BIO's recv/send must not block (timeout mode: run() waits)
    int last_errno = 0;      // what the BIO's last failed system call said
    bool eof = false;        // the BIO's last recv() returned 0
    // Timeout mode under the kernel's timers (PYSOCK_KERNEL_TIMEOUTS): the BIO's calls block,
    // each bounded by the socket's SO_RCVTIMEO/SO_SNDTIMEO, so a TLS call costs what a blocking
    // one does. `deadline_ns` is when the whole TLS call's time is up (-1: no timeout);
    // `timer_ns[w]` what the kernel's read (w = 0) and write (1) timers are set to now.
    std::int64_t deadline_ns = -1;
    std::int64_t timer_ns[2] = {0, 0};

    explicit connection(socket&& s) : sock(std::move(s)) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() {
        if (ssl) SSL_free(ssl);
    }
};

// The BIO: recv/send on the socket's descriptor (MSG_NOSIGNAL, never SIGPIPE); EINTR retried;
// would-block reported as a retry, so the ssl_socket decides whether to wait (timeout mode),
// throw (non-blocking) or, in blocking mode, never sees it.
// Under the kernel's timers, a blocking call must not outlast the TLS call's deadline: once the
// time left is shorter than the timer by more than the slack, the timer is set to the time left
// (and put back by run()). The slack keeps the common case at one system call: a fresh call has
// nearly all its time left and re-arms nothing.
inline constexpr std::int64_t timer_slack_ns = 1000000;  // 1 ms

// False when the deadline has passed (the BIO then reports a retry, and run() the timeout).
inline bool bound_by_deadline(connection& c, bool sending) {
    const std::int64_t left = c.deadline_ns - os::monotonic_ns();
    if (left <= 0) return false;
    std::int64_t& timer = c.timer_ns[sending ? 1 : 0];
    if (timer - left > timer_slack_ns) {
        if (os::set_transport_timer(c.sock.fileno(), sending, left) == 0) timer = left;
    }
    return true;
}

// A would-block (or a deadline passed) is a retry: SSL_get_error() then says WANT_READ/WRITE.
inline int retry_later(BIO* b, bool sending) {
    if (sending)
        BIO_set_retry_write(b);
    else
        BIO_set_retry_read(b);
    return -1;
}

inline int bio_io(BIO* b, char* buf, int len, bool sending) {
    auto* c = static_cast<connection*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (c->deadline_ns >= 0 && !bound_by_deadline(*c, sending)) return retry_later(b, sending);
    std::ptrdiff_t n = os::transport_io(c->sock.fileno(), buf, static_cast<std::size_t>(len),
                                        sending, c->dont_wait, c->last_errno);
    if (n >= 0) {
        if (!sending) c->eof = n == 0;
        return static_cast<int>(n);
    }
    if (n == -1) {
        c->last_errno = 0;
        return retry_later(b, sending);
    }
    return -1;
}
inline int bio_read(BIO* b, char* buf, int len) { return bio_io(b, buf, len, false); }
inline int bio_write(BIO* b, const char* buf, int len) {
    return bio_io(b, const_cast<char*>(buf), len, true);
}

// FLUSH: nothing is buffered. EOF: whether the peer ended the stream, which is how OpenSSL tells
// a truncated connection (SSL_R_UNEXPECTED_EOF_WHILE_READING) from a failed system call.
inline long bio_ctrl(BIO* b, int cmd, long, void*) {
    if (cmd == BIO_CTRL_FLUSH) return 1;
    if (cmd == BIO_CTRL_EOF) return static_cast<connection*>(BIO_get_data(b))->eof ? 1 : 0;
    return 0;
}

inline int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

/// The BIO method, made once per process (thread-safe: a function-local static).
inline BIO_METHOD* socket_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "pysock socket");
        if (m) {
            BIO_meth_set_read(m, bio_read);
            BIO_meth_set_write(m, bio_write);
            BIO_meth_set_ctrl(m, bio_ctrl);
            BIO_meth_set_create(m, bio_create);
        }
        return m;
    }();
    return method;
}

/// The last error in OpenSSL's queue as Python reports it, then clears the queue.
struct queued_error {
    unsigned long code = 0;
    unsigned long first = 0;  // the root cause: the first error queued
    std::string library;      // "SSL"
    std::string reason;       // "WRONG_VERSION_NUMBER"
    std::string text;         // "wrong version number"
    int system_errno = 0;     // an ERR_LIB_SYS entry anywhere in the queue (fopen's errno)
};
queued_error take_error_queue(bool root_cause = false);

/// Throws what Python raises for `ssl_code` (SSL_get_error's answer) after an operation that
/// returned `ret`. Never returns.
[[noreturn]] void raise_ssl_error(connection& c, int ssl_code, const char* operation);
/// Throws ssl_error from the error queue ("[LIB: REASON] text": its last error, as CPython, or
/// with root_cause its first), or `fallback` when empty; an OSError when the queue says a system
/// call failed (a missing file).
[[noreturn]] void raise_from_queue(const char* fallback, bool root_cause = false);

}  // namespace detail

// =============================================================================================
// 5. Implementation
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// 5.1 Errors
// ---------------------------------------------------------------------------------------------

namespace detail {
class ssl_error_category : public std::error_category {
public:
    const char* name() const noexcept override { return "ssl"; }
    std::string message(int code) const override {
        switch (code) {
        case SSL_ERROR_NONE: return "SSL_ERROR_NONE";
        case SSL_ERROR_SSL: return "SSL_ERROR_SSL";
        case SSL_ERROR_WANT_READ: return "SSL_ERROR_WANT_READ";
        case SSL_ERROR_WANT_WRITE: return "SSL_ERROR_WANT_WRITE";
        case SSL_ERROR_WANT_X509_LOOKUP: return "SSL_ERROR_WANT_X509_LOOKUP";
        case SSL_ERROR_SYSCALL: return "SSL_ERROR_SYSCALL";
        case SSL_ERROR_ZERO_RETURN: return "SSL_ERROR_ZERO_RETURN";
        case SSL_ERROR_WANT_CONNECT: return "SSL_ERROR_WANT_CONNECT";
        case SSL_ERROR_EOF: return "SSL_ERROR_EOF";
        default: return "SSL error " + std::to_string(code);
        }
    }
};

// Python's short library names (_ssl_data.h); OpenSSL's long name for the rest.
inline std::string library_name(unsigned long code) {
    switch (ERR_GET_LIB(code)) {
    case ERR_LIB_SSL: return "SSL";
    case ERR_LIB_X509: return "X509";
    case ERR_LIB_X509V3: return "X509V3";
    case ERR_LIB_PEM: return "PEM";
    case ERR_LIB_EVP: return "EVP";
    case ERR_LIB_ASN1: return "ASN1";
    case ERR_LIB_BIO: return "BIO";
    case ERR_LIB_SYS: return "SYS";
    case ERR_LIB_PROV: return "PROV";
    case ERR_LIB_RSA: return "RSA";
    case ERR_LIB_EC: return "EC";
    case ERR_LIB_CRYPTO: return "CRYPTO";
    case ERR_LIB_PKCS12: return "PKCS12";
    default: {
        const char* s = ERR_lib_error_string(code);
        return s ? s : "";
    }
    }
}

PYSOCK_SSL_DECL queued_error take_error_queue(bool root_cause) {
    queued_error q;
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(code) == ERR_LIB_SYS && q.system_errno == 0)
            q.system_errno = ERR_GET_REASON(code);
        if (q.first == 0) q.first = code;
        q.code = code;  // the last one, as CPython reports (ERR_peek_last_error)
    }
    if (q.code == 0) return q;
    if (root_cause) q.code = q.first;
    q.library = library_name(q.code);
    const char* text = ERR_reason_error_string(q.code);
    q.text = text ? text : "";
    for (char ch : q.text)
        q.reason += ch == ' ' ? '_' : static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
    return q;
}

inline std::string formatted(const queued_error& q, const std::string& text) {
    if (q.library.empty()) return text;
    return "[" + q.library + (q.reason.empty() ? "" : ": " + q.reason) + "] " + text;
}

[[noreturn]] PYSOCK_SSL_DECL void raise_from_queue(const char* fallback, bool root_cause) {
    queued_error q = take_error_queue(root_cause);
    if (q.system_errno != 0) pysock::raise_os_error(q.system_errno);
    if (q.code == 0) throw ssl_error(SSL_ERROR_SSL, fallback);
    throw ssl_error(SSL_ERROR_SSL, formatted(q, q.text), q.library, q.reason);
}

// CPython's message for a failed verification (_ssl.c fill_and_set_sslerror).
inline std::string verify_text(connection& c, long code) {
    if (code == X509_V_ERR_HOSTNAME_MISMATCH && c.hostname)
        return "Hostname mismatch, certificate is not valid for '" + *c.hostname + "'.";
    if (code == X509_V_ERR_IP_ADDRESS_MISMATCH && c.hostname)
        return "IP address mismatch, certificate is not valid for '" + *c.hostname + "'.";
    return X509_verify_cert_error_string(code);
}

[[noreturn]] PYSOCK_SSL_DECL void raise_ssl_error(connection& c, int ssl_code,
                                                  const char* operation) {
    switch (ssl_code) {
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        throw ssl_zero_return_error(ssl_code, "TLS/SSL connection has been closed (EOF)");
    case SSL_ERROR_WANT_READ:
        throw ssl_want_read_error(ssl_code, "The operation did not complete (read)");
    case SSL_ERROR_WANT_WRITE:
        throw ssl_want_write_error(ssl_code, "The operation did not complete (write)");
    case SSL_ERROR_SYSCALL: {
        queued_error q = take_error_queue();
        if (c.last_errno != 0) pysock::raise_os_error(c.last_errno);
        if (q.code == 0)
            throw ssl_eof_error(SSL_ERROR_EOF, "EOF occurred in violation of protocol");
        throw ssl_syscall_error(ssl_code, "Some I/O error occurred");
    }
    case SSL_ERROR_SSL: {
        queued_error q = take_error_queue();
        if (c.last_errno != 0 && q.code == 0) pysock::raise_os_error(c.last_errno);
        if (ERR_GET_LIB(q.code) == ERR_LIB_SSL &&
            ERR_GET_REASON(q.code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            throw ssl_eof_error(SSL_ERROR_EOF,
                                formatted(q, "EOF occurred in violation of protocol"), q.library,
                                q.reason);
        if (ERR_GET_LIB(q.code) == ERR_LIB_SSL &&
            ERR_GET_REASON(q.code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            long code = SSL_get_verify_result(c.ssl);
            std::string detail = verify_text(c, code);
            throw ssl_cert_verification_error(formatted(q, q.text + ": " + detail), code, detail,
                                              q.library, q.reason);
        }
        if (q.code == 0)
            throw ssl_error(ssl_code, std::string("unknown error during ") + operation);
        throw ssl_error(ssl_code, formatted(q, q.text), q.library, q.reason);
    }
    default:
        ERR_clear_error();
        throw ssl_error(ssl_code, std::string("unexpected SSL error during ") + operation);
    }
}
}  // namespace detail

PYSOCK_SSL_DECL const std::error_category& ssl_category() noexcept {
    static const detail::ssl_error_category category;
    return category;
}

PYSOCK_SSL_DECL ssl_error::ssl_error(int ssl_code, const std::string& message, std::string library,
                                     std::string reason)
    : error(std::error_code(ssl_code, ssl_category()), message), library_(std::move(library)),
      reason_(std::move(reason)) {}

PYSOCK_SSL_DECL ssl_cert_verification_error::ssl_cert_verification_error(const std::string& message,
                                                                         long verify_code,
                                                                         std::string verify_message,
                                                                         std::string library,
                                                                         std::string reason)
    : ssl_error(SSL_ERROR_SSL, message, std::move(library), std::move(reason)),
      verify_code_(verify_code), verify_message_(std::move(verify_message)) {}

PYSOCK_SSL_DECL std::string openssl_version() { return OpenSSL_version(OPENSSL_VERSION); }

// ---------------------------------------------------------------------------------------------
// 5.2 Certificates
// ---------------------------------------------------------------------------------------------

namespace detail {
inline std::string asn1_text(const ASN1_STRING* s) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

inline std::string object_name(const ASN1_OBJECT* obj) {
    char buf[128];
    int n = OBJ_obj2txt(buf, sizeof buf, obj, 0);  // the long name: "commonName"
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n) < sizeof buf ? n : sizeof buf - 1)
                 : std::string();
}

// (("countryName", "FR"),), (("commonName", "x"),): entries of one RDN share X509_NAME_ENTRY_set.
inline distinguished_name parse_name(const X509_NAME* name) {
    distinguished_name out;
    int previous_set = -1;
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(e);
        if (out.empty() || set != previous_set) out.emplace_back();
        previous_set = set;
        out.back().emplace_back(object_name(X509_NAME_ENTRY_get_object(e)),
                                asn1_text(X509_NAME_ENTRY_get_data(e)));
    }
    return out;
}

inline std::string time_text(const ASN1_TIME* t) {
    BIO* b = BIO_new(BIO_s_mem());
    if (!b) throw std::bad_alloc();
    ASN1_TIME_print(b, t);  // "Dec  4 19:00:00 2026 GMT", as Python
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
    BIO_free(b);
    return out;
}

inline std::string ip_text(const ASN1_OCTET_STRING* ip) {
    const unsigned char* p = ASN1_STRING_get0_data(ip);
    char buf[64];
    if (ASN1_STRING_length(ip) == 4) {
        std::snprintf(buf, sizeof buf, "%d.%d.%d.%d", p[0], p[1], p[2], p[3]);
        return buf;
    }
    if (ASN1_STRING_length(ip) == 16) {  // CPython's form: "0:0:0:0:0:0:0:1"
        std::snprintf(buf, sizeof buf, "%X:%X:%X:%X:%X:%X:%X:%X", p[0] << 8 | p[1],
                      p[2] << 8 | p[3], p[4] << 8 | p[5], p[6] << 8 | p[7], p[8] << 8 | p[9],
                      p[10] << 8 | p[11], p[12] << 8 | p[13], p[14] << 8 | p[15]);
        return buf;
    }
    return "<invalid>";
}

inline certificate parse_certificate(X509* x) {
    certificate c;
    c.subject = parse_name(X509_get_subject_name(x));
    c.issuer = parse_name(X509_get_issuer_name(x));
    c.version = static_cast<int>(X509_get_version(x)) + 1;
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)) {
        if (char* hex = BN_bn2hex(bn)) {
            c.serialNumber = hex;
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    c.notBefore = time_text(X509_get0_notBefore(x));
    c.notAfter = time_text(X509_get0_notAfter(x));
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
            switch (g->type) {
            case GEN_DNS: c.subjectAltName.emplace_back("DNS", asn1_text(g->d.dNSName)); break;
            case GEN_IPADD:
                c.subjectAltName.emplace_back("IP Address", ip_text(g->d.iPAddress));
                break;
            case GEN_EMAIL:
                c.subjectAltName.emplace_back("email", asn1_text(g->d.rfc822Name));
                break;
            case GEN_URI:
                c.subjectAltName.emplace_back("URI", asn1_text(g->d.uniformResourceIdentifier));
                break;
            default: c.subjectAltName.emplace_back("othername", "<unsupported>"); break;
            }
        }
        GENERAL_NAMES_free(names);
    }
    return c;
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// 5.3 ssl_context
// ---------------------------------------------------------------------------------------------

namespace detail {
struct context_state {
    SSL_CTX* ctx = nullptr;
    int protocol = 0;
    bool check_hostname = false;
    std::string alpn;  // wire format: length-prefixed names
    ~context_state() {
        if (ctx) SSL_CTX_free(ctx);
    }
};

// A server picks the first of its own protocols the client offers (Python's rule); none:
// carry on without ALPN.
inline int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                       const unsigned char* in, unsigned int inlen, void* arg) {
    auto* st = static_cast<context_state*>(arg);
    unsigned char* chosen = nullptr;
    if (st->alpn.empty() ||
        SSL_select_next_proto(
            &chosen, outlen, reinterpret_cast<const unsigned char*>(st->alpn.data()),
            static_cast<unsigned>(st->alpn.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// The key password callback: never prompts (OpenSSL's default would read the terminal).
struct password_request {
    const std::string* password;
    bool too_long = false;
};
inline int supply_password(char* buf, int size, int, void* arg) {
    auto* req = static_cast<password_request*>(arg);
    if (req->password->empty()) return -1;
    if (req->password->size() > static_cast<std::size_t>(size)) {
        req->too_long = true;
        return -1;
    }
    std::memcpy(buf, req->password->data(), req->password->size());
    return static_cast<int>(req->password->size());
}

inline int openssl_version_of(tls_version v) {
    return v == tls_version::MINIMUM_SUPPORTED || v == tls_version::MAXIMUM_SUPPORTED
               ? 0
               : static_cast<int>(v);
}
inline tls_version tls_version_of(long v, tls_version none) {
    return v == 0 ? none : static_cast<tls_version>(v);
}
// What SSL_CTX_set_min/max_proto_version() answered: Python's ValueError when it refused.
inline void check_version_bound(int ok, tls_version v) {
    if (ok == 1) return;
    ERR_clear_error();
    char hex[16];
    std::snprintf(hex, sizeof hex, "%x", static_cast<unsigned>(v));
    throw std::invalid_argument(std::string("Unsupported TLS/SSL version 0x") + hex);
}
}  // namespace detail

PYSOCK_SSL_DECL ssl_context::ssl_context(int protocol) {
    if (protocol != PROTOCOL_TLS_CLIENT && protocol != PROTOCOL_TLS_SERVER)
        throw std::invalid_argument("invalid or unsupported protocol version " +
                                    std::to_string(protocol));
    auto st = std::make_shared<detail::context_state>();
    st->protocol = protocol;
    st->ctx =
        SSL_CTX_new(protocol == PROTOCOL_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
    if (!st->ctx) detail::raise_from_queue("failed to allocate SSL context");
    // Python's defaults (_ssl.c _ssl__SSLContext_impl): no compression, server's cipher order,
    // fresh (EC)DH keys, TLS 1.2 minimum, its cipher list.
    SSL_CTX_set_options(st->ctx, SSL_OP_ALL | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_DH_USE |
                                     SSL_OP_SINGLE_ECDH_USE);
    SSL_CTX_set_mode(st->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY |
                                  SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_min_proto_version(st->ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(st->ctx, PYSOCK_SSL_DEFAULT_CIPHERS) != 1)
        detail::raise_from_queue("No cipher can be selected.");
    if (protocol == PROTOCOL_TLS_CLIENT) {
        st->check_hostname = true;
        SSL_CTX_set_verify(st->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    } else {
        SSL_CTX_set_verify(st->ctx, SSL_VERIFY_NONE, nullptr);
        SSL_CTX_set_alpn_select_cb(st->ctx, detail::select_alpn, st.get());
    }
    state_ = std::move(st);
}

PYSOCK_SSL_DECL int ssl_context::protocol() const noexcept { return state_->protocol; }
PYSOCK_SSL_DECL SSL_CTX* ssl_context::native_handle() const noexcept { return state_->ctx; }

PYSOCK_SSL_DECL void ssl_context::load_cert_chain(const std::string& certfile,
                                                  const std::string& keyfile,
                                                  const std::string& password) {
    ERR_clear_error();
    detail::password_request req{&password};
    SSL_CTX_set_default_passwd_cb(state_->ctx, detail::supply_password);
    SSL_CTX_set_default_passwd_cb_userdata(state_->ctx, &req);
    struct restore {  // the callback's data lives on this stack frame only
        SSL_CTX* ctx;
        ~restore() {
            SSL_CTX_set_default_passwd_cb(ctx, nullptr);
            SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
        }
    } at_exit{state_->ctx};
    // The root cause, where CPython reports the last error ("[SSL] PEM lib", which says nothing).
    if (SSL_CTX_use_certificate_chain_file(state_->ctx, certfile.c_str()) != 1)
        detail::raise_from_queue("PEM lib", true);
    const std::string& key = keyfile.empty() ? certfile : keyfile;
    if (SSL_CTX_use_PrivateKey_file(state_->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (req.too_long) {
            ERR_clear_error();
            throw std::invalid_argument("password cannot be longer than " +
                                        std::to_string(PEM_BUFSIZE) + " bytes");
        }
        detail::raise_from_queue("PEM lib", true);
    }
    if (SSL_CTX_check_private_key(state_->ctx) != 1)
        detail::raise_from_queue("key values mismatch");
}

PYSOCK_SSL_DECL void ssl_context::load_verify_locations(const std::optional<std::string>& cafile,
                                                        const std::optional<std::string>& capath,
                                                        const std::optional<std::string>& cadata) {
    if (!cafile && !capath && !cadata)
        throw std::invalid_argument("cafile, capath and cadata cannot be all omitted");
    ERR_clear_error();
    if (cafile || capath) {
        if (SSL_CTX_load_verify_locations(state_->ctx, cafile ? cafile->c_str() : nullptr,
                                          capath ? capath->c_str() : nullptr) != 1)
            detail::raise_from_queue("unknown error");
    }
    if (cadata) {
        X509_STORE* store = SSL_CTX_get_cert_store(state_->ctx);
        BIO* bio = BIO_new_mem_buf(cadata->data(), static_cast<int>(cadata->size()));
        if (!bio) throw std::bad_alloc();
        const bool pem = cadata->find("-----BEGIN") != std::string::npos;
        int loaded = 0;
        for (;;) {
            X509* x = pem ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)
                          : d2i_X509_bio(bio, nullptr);
            if (!x) break;
            int ok = X509_STORE_add_cert(store, x);
            X509_free(x);
            if (ok != 1) {
                BIO_free(bio);
                detail::raise_from_queue("failed to add a certificate");
            }
            ++loaded;
        }
        BIO_free(bio);
        if (loaded == 0) {
            ERR_clear_error();
            throw ssl_error(SSL_ERROR_SSL,
                            pem ? "no start line: cadata does not contain a certificate"
                                : "not enough data: cadata does not contain a certificate");
        }
        ERR_clear_error();  // the end of the data left "no start line" behind
    }
}

PYSOCK_SSL_DECL void ssl_context::load_default_certs() {
    ERR_clear_error();
    if (SSL_CTX_set_default_verify_paths(state_->ctx) != 1)
        detail::raise_from_queue("unknown error");
}

PYSOCK_SSL_DECL void ssl_context::set_alpn_protocols(const std::vector<std::string>& protocols) {
    std::string wire;
    for (const auto& p : protocols) {
        if (p.empty() || p.size() > 255)
            throw std::invalid_argument("ALPN protocols must be 1 to 255 in length");
        wire += static_cast<char>(p.size());
        wire += p;
    }
    state_->alpn = wire;
    if (state_->protocol == PROTOCOL_TLS_CLIENT &&
        SSL_CTX_set_alpn_protos(state_->ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0)
        throw std::bad_alloc();  // OpenSSL's only failure here
}

PYSOCK_SSL_DECL void ssl_context::set_ciphers(const std::string& ciphers) {
    ERR_clear_error();
    if (SSL_CTX_set_cipher_list(state_->ctx, ciphers.c_str()) != 1) {
        ERR_clear_error();
        throw ssl_error(SSL_ERROR_SSL, "No cipher can be selected.");
    }
}

PYSOCK_SSL_DECL bool ssl_context::check_hostname() const noexcept { return state_->check_hostname; }

PYSOCK_SSL_DECL void ssl_context::check_hostname(bool on) {
    if (on && verify_mode() == CERT_NONE) verify_mode(CERT_REQUIRED);
    state_->check_hostname = on;
}

PYSOCK_SSL_DECL verify_mode_type ssl_context::verify_mode() const noexcept {
    int m = SSL_CTX_get_verify_mode(state_->ctx);
    if (m & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) return CERT_REQUIRED;
    if (m & SSL_VERIFY_PEER) return CERT_OPTIONAL;
    return CERT_NONE;
}

PYSOCK_SSL_DECL void ssl_context::verify_mode(verify_mode_type mode) {
    int flags;
    switch (mode) {
    case CERT_NONE:
        if (state_->check_hostname)
            throw std::invalid_argument(
                "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
        flags = SSL_VERIFY_NONE;
        break;
    case CERT_OPTIONAL: flags = SSL_VERIFY_PEER; break;
    case CERT_REQUIRED: flags = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT; break;
    default: throw std::invalid_argument("invalid value for verify_mode");
    }
    // A client checks the server whether OPTIONAL or REQUIRED (OpenSSL ignores
    // FAIL_IF_NO_PEER_CERT on a client); keep the flags so verify_mode() reads back.
    SSL_CTX_set_verify(state_->ctx, flags, nullptr);
}

PYSOCK_SSL_DECL tls_version ssl_context::minimum_version() const noexcept {
    return detail::tls_version_of(SSL_CTX_get_min_proto_version(state_->ctx),
                                  tls_version::MINIMUM_SUPPORTED);
}
PYSOCK_SSL_DECL void ssl_context::minimum_version(tls_version v) {
    detail::check_version_bound(
        SSL_CTX_set_min_proto_version(state_->ctx, detail::openssl_version_of(v)), v);
}
PYSOCK_SSL_DECL tls_version ssl_context::maximum_version() const noexcept {
    return detail::tls_version_of(SSL_CTX_get_max_proto_version(state_->ctx),
                                  tls_version::MAXIMUM_SUPPORTED);
}
PYSOCK_SSL_DECL void ssl_context::maximum_version(tls_version v) {
    detail::check_version_bound(
        SSL_CTX_set_max_proto_version(state_->ctx, detail::openssl_version_of(v)), v);
}

PYSOCK_SSL_DECL ssl_context create_default_context(purpose p,
                                                   const std::optional<std::string>& cafile,
                                                   const std::optional<std::string>& capath,
                                                   const std::optional<std::string>& cadata) {
    ssl_context ctx(p == purpose::server_auth ? PROTOCOL_TLS_CLIENT : PROTOCOL_TLS_SERVER);
    if (cafile || capath || cadata)
        ctx.load_verify_locations(cafile, capath, cadata);
    else if (ctx.verify_mode() != CERT_NONE)
        ctx.load_default_certs();
    return ctx;
}

// ---------------------------------------------------------------------------------------------
// 5.4 ssl_socket
// ---------------------------------------------------------------------------------------------

namespace detail {
// A host name costs no exception here (one per handshake would show in handshakes/s).
inline bool is_ip_address(const std::string& host) {
    unsigned char ipv4[4];
    if (host.find(':') == std::string::npos) return os::parse_ipv4(host, ipv4);
    try {
        pysock::inet_pton(AF_INET6, host);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

/// The SSL object of a connected socket: the BIO, SNI and the hostname to check.
inline void attach_ssl(connection& c) {
    ERR_clear_error();
    c.ssl = SSL_new(c.ctx->ctx);
    if (!c.ssl) raise_from_queue("failed to allocate SSL object");
    BIO* bio = BIO_new(socket_bio_method());
    if (!bio) raise_from_queue("failed to allocate BIO");
    BIO_set_data(bio, &c);
    SSL_set_bio(c.ssl, bio, bio);  // the SSL owns the BIO
    if (c.server_side) {
        SSL_set_accept_state(c.ssl);
        return;
    }
    SSL_set_connect_state(c.ssl);
    if (!c.hostname) return;
    const bool ip = is_ip_address(*c.hostname);
    if (!ip && SSL_set_tlsext_host_name(c.ssl, c.hostname->c_str()) != 1)
        raise_from_queue("failed to set SNI");
    if (c.ctx->check_hostname) {
        X509_VERIFY_PARAM* param = SSL_get0_param(c.ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, c.hostname->c_str())
                    : X509_VERIFY_PARAM_set1_host(param, c.hostname->c_str(), 0);
        if (ok != 1) raise_from_queue("failed to set the host name to verify");
    }
}

inline std::int64_t timeout_ns_of(const socket& s) {
    std::optional<double> t = s.gettimeout();
    return !t ? -1 : static_cast<std::int64_t>(*t * 1e9);
}

/// Runs one OpenSSL call (SSL_read_ex, SSL_write_ex, SSL_do_handshake, SSL_shutdown) until it
/// succeeds, waiting between tries in timeout mode with what is left of the timeout, and
/// throwing the would-block errors in non-blocking mode. Returns the call's result (> 0) or,
/// for SSL_ERROR_ZERO_RETURN where `zero_return_ok`, 0.
/// `start`: when the caller's timeout began (sendall's whole call); -1: now.
template <class Call>
int run(connection& c, Call&& call, const char* operation, const char* timeout_text,
        std::int64_t start = -1) {
    const std::int64_t timeout_ns = timeout_ns_of(c.sock);
    if (timeout_ns > 0 && start < 0) start = os::monotonic_ns();
#if PYSOCK_KERNEL_TIMEOUTS
    // Blocking calls under the kernel's timers, which settimeout() set to timeout_ns.
    c.dont_wait = false;
    c.deadline_ns = timeout_ns > 0 ? start + timeout_ns : -1;
    c.timer_ns[0] = c.timer_ns[1] = timeout_ns;
    struct restore_timers {  // what bound_by_deadline() shortened goes back to the socket's own
        connection& c;
        std::int64_t timeout_ns;
        ~restore_timers() {
            for (int w = 0; w < 2; ++w)
                if (c.timer_ns[w] != timeout_ns && timeout_ns > 0)
                    os::set_transport_timer(c.sock.fileno(), w == 1, timeout_ns);
            c.deadline_ns = -1;
        }
    } at_exit{c, timeout_ns};
#else
    // Non-blocking calls, and a poll() for what is left of the timeout when one would block.
    c.dont_wait = timeout_ns > 0;
#endif
    for (;;) {
        ERR_clear_error();
        c.last_errno = 0;
        int r = call();
        if (r > 0) return r;
        int code = SSL_get_error(c.ssl, r);
        if ((code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE) || timeout_ns == 0)
            raise_ssl_error(c, code, operation);
        std::int64_t left = -1;
        if (timeout_ns > 0) {
            left = timeout_ns - (os::monotonic_ns() - start);
            if (left <= 0) os::raise_timeout_message(timeout_text);
        }
        if (!os::wait_io(c.sock.fileno(), code == SSL_ERROR_WANT_WRITE, left))
            os::raise_timeout_message(timeout_text);
    }
}

// Done by do_handshake(), or implicitly by a first recv()/send() when the caller chose
// do_handshake_on_connect = false and never called it.
inline bool handshake_done(const connection& c) { return c.ssl && SSL_is_init_finished(c.ssl); }

inline void handshake(connection& c) {
    run(
        c, [&] { return SSL_do_handshake(c.ssl); }, "handshake",
        "The handshake operation timed out");
}

/// One SSL_read_ex: the count, 0 at a clean close (or a ragged one when suppressed).
inline std::size_t read_some(connection& c, void* buf, std::size_t n) {
    if (n == 0) return 0;
    std::size_t got = 0;
    try {
        run(
            c, [&] { return SSL_read_ex(c.ssl, buf, n, &got); }, "read",
            "The read operation timed out");
    } catch (const ssl_zero_return_error&) {
        return 0;
    } catch (const ssl_eof_error&) {
        if (c.suppress_ragged_eofs) return 0;
        throw;
    }
    return got;
}

inline std::size_t write_some(connection& c, const void* data, std::size_t n,
                              std::int64_t start = -1) {
    std::size_t sent = 0;
    run(
        c, [&] { return SSL_write_ex(c.ssl, data, n, &sent); }, "write",
        "The write operation timed out", start);
    return sent;
}

/// sendall's loop: partial writes (SSL_MODE_ENABLE_PARTIAL_WRITE) so a failure can say how
/// much went; the timeout bounds the whole call.
inline void write_all(connection& c, std::string_view data) {
    std::size_t done = 0;
    const std::int64_t timeout_ns = timeout_ns_of(c.sock);
    const std::int64_t start = timeout_ns > 0 ? os::monotonic_ns() : -1;
    try {
        while (done < data.size()) {
            if (start >= 0 && done > 0 && os::monotonic_ns() - start >= timeout_ns)
                os::raise_timeout_message("The write operation timed out", done);
            done += write_some(c, data.data() + done, data.size() - done, start);
        }
    } catch (const ssl_error&) {
        throw;                    // TLS errors: Python's have no count either
    } catch (const timeout& e) {  // the same exception, saying how much was taken
        if (done == 0) throw;
        os::raise_timeout_message(e.what(), done);
    } catch (const error& e) {
        if (done == 0) throw;
        os::raise_os_error(e.code().value(), e.what(), done);
    }
}

/// The file transport of makefile(): the file co-owns the connection.
class tls_file_transport final : public pysock::detail::file_transport {
public:
    explicit tls_file_transport(std::shared_ptr<connection> c) : c_(std::move(c)) {}
    std::size_t recv_into(void* buf, std::size_t n) override { return read_some(*c_, buf, n); }
    void sendall(std::string_view data) override { write_all(*c_, data); }
    native_handle_type fileno() const noexcept override { return c_->sock.fileno(); }

private:
    std::shared_ptr<connection> c_;
};
}  // namespace detail

PYSOCK_SSL_DECL ssl_socket ssl_context::wrap_socket(socket&& sock, bool server_side,
                                                    std::optional<std::string> server_hostname,
                                                    bool do_handshake_on_connect,
                                                    bool suppress_ragged_eofs) {
    if (sock.type() != SOCK_STREAM)
        throw std::invalid_argument("only stream sockets are supported");
    if (server_side && server_hostname)
        throw std::invalid_argument("server_hostname can only be specified in client mode");
    if (server_side && state_->protocol == PROTOCOL_TLS_CLIENT)
        throw std::invalid_argument(
            "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
    if (!server_side && state_->protocol == PROTOCOL_TLS_SERVER)
        throw std::invalid_argument(
            "Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
    if (!server_side && state_->check_hostname && !server_hostname)
        throw std::invalid_argument("check_hostname requires server_hostname");
    if (server_hostname && (server_hostname->empty() || (*server_hostname)[0] == '.'))
        throw std::invalid_argument(
            "server_hostname cannot be an empty string or start with a leading dot.");
    if (server_hostname && server_hostname->find('\0') != std::string::npos)
        throw std::invalid_argument("embedded null character");
    bool connected = true;
    try {
        sock.getpeername();
    } catch (const error& e) {
        if (e.code().value() != detail::err_not_connected) throw;
        connected = false;
    }
    if (connected && do_handshake_on_connect && sock.gettimeout() == 0.0)
        throw std::invalid_argument(
            "do_handshake_on_connect should not be specified for non-blocking sockets");
    auto c = std::make_shared<detail::connection>(std::move(sock));
    c->ctx = state_;
    c->server_side = server_side;
    c->hostname = std::move(server_hostname);
    c->do_handshake_on_connect = do_handshake_on_connect;
    c->suppress_ragged_eofs = suppress_ragged_eofs;
    if (connected) {
        detail::attach_ssl(*c);
        if (do_handshake_on_connect) detail::handshake(*c);  // a failure closes the socket (c dies)
    }
    return ssl_socket(std::move(c));
}

PYSOCK_SSL_DECL detail::connection& ssl_socket::checked() const {
    if (!conn_ || conn_->sock.fileno() == pysock::detail::invalid_handle)
        pysock::raise_os_error(detail::err_bad_handle);
    return *conn_;
}

namespace detail {
inline void check_no_flags(int flags, const char* call) {
    if (flags != 0)
        throw std::invalid_argument(std::string("non-zero flags not allowed in calls to ") + call +
                                    "() on <class 'ssl.SSLSocket'>");
}
}  // namespace detail

PYSOCK_SSL_DECL bytes ssl_socket::recv(std::size_t bufsize, int flags) {
    bytes out(bufsize, '\0');
    out.resize(recv_into(&out[0], bufsize, flags));
    if (bufsize > PYSOCK_RECV_SHRINK_THRESHOLD && out.size() < bufsize / 2)
        out.shrink_to_fit();  // as socket::recv: a large buffer that got little is given back
    return out;
}

PYSOCK_SSL_DECL std::size_t ssl_socket::recv_into(void* buf, std::size_t nbytes, int flags) {
    detail::connection& c = checked();
    detail::check_no_flags(flags, "recv_into");
    if (!c.ssl) return c.sock.recv_into(buf, nbytes);  // after shutdown(how), as Python
    return detail::read_some(c, buf, nbytes);
}

PYSOCK_SSL_DECL std::size_t ssl_socket::send(std::string_view data, int flags) {
    detail::connection& c = checked();
    detail::check_no_flags(flags, "send");
    if (!c.ssl) return c.sock.send(data);
    if (data.empty()) return 0;
    return detail::write_some(c, data.data(), data.size());
}

PYSOCK_SSL_DECL void ssl_socket::sendall(std::string_view data, int flags) {
    detail::connection& c = checked();
    detail::check_no_flags(flags, "sendall");
    if (!c.ssl) return c.sock.sendall(data);
    detail::write_all(c, data);
}

PYSOCK_SSL_DECL std::size_t ssl_socket::pending() const {
    detail::connection& c = checked();
    return c.ssl ? static_cast<std::size_t>(SSL_pending(c.ssl)) : 0;
}

PYSOCK_SSL_DECL void ssl_socket::do_handshake() {
    detail::connection& c = checked();
    if (!c.ssl) pysock::raise_os_error(detail::err_not_connected);
    detail::handshake(c);
}

PYSOCK_SSL_DECL socket ssl_socket::unwrap() {
    detail::connection& c = checked();
    if (!c.ssl) throw std::invalid_argument("No SSL wrapper around " + to_string(c.sock));
    // SSL_shutdown returns 0 once close_notify is sent, 1 once the peer's came back.
    detail::run(
        c,
        [&] {
            int r = SSL_shutdown(c.ssl);
            return r == 0 ? SSL_shutdown(c.ssl) : r;
        },
        "shutdown", "The read operation timed out");
    SSL_free(std::exchange(c.ssl, nullptr));
    socket plain = std::move(c.sock);
    conn_.reset();
    return plain;
}

PYSOCK_SSL_DECL void ssl_socket::shutdown(int how) {
    detail::connection& c = checked();
    if (c.ssl) SSL_free(std::exchange(c.ssl, nullptr));
    c.sock.shutdown(how);
}

PYSOCK_SSL_DECL void ssl_socket::close() noexcept { conn_.reset(); }

PYSOCK_SSL_DECL void ssl_socket::connect(const address& addr) {
    detail::connection& c = checked();
    if (c.server_side) throw std::invalid_argument("can't connect in server-side mode");
    if (c.ssl) throw std::invalid_argument("attempt to connect already-connected SSLSocket!");
    c.sock.connect(addr);
    detail::attach_ssl(c);
    if (c.do_handshake_on_connect) detail::handshake(c);
}

PYSOCK_SSL_DECL std::pair<ssl_socket, address> ssl_socket::accept() {
    detail::connection& c = checked();
    auto [conn, addr] = c.sock.accept();
    return {ssl_context(c.ctx).wrap_socket(std::move(conn), true, std::nullopt,
                                           c.do_handshake_on_connect, c.suppress_ragged_eofs),
            addr};
}

namespace detail {
struct x509_deleter {
    void operator()(X509* x) const { X509_free(x); }
};
/// The peer's certificate (null when it sent none). @throws "handshake not done yet".
inline std::unique_ptr<X509, x509_deleter> peer_certificate(const connection& c) {
    if (!handshake_done(c)) throw std::invalid_argument("handshake not done yet");
    return std::unique_ptr<X509, x509_deleter>(SSL_get1_peer_certificate(c.ssl));
}
}  // namespace detail

PYSOCK_SSL_DECL std::optional<certificate> ssl_socket::getpeercert() const {
    detail::connection& c = checked();
    auto peer = detail::peer_certificate(c);
    if (!peer) return std::nullopt;
    if ((SSL_get_verify_mode(c.ssl) & SSL_VERIFY_PEER) == 0) return certificate{};
    return detail::parse_certificate(peer.get());
}

PYSOCK_SSL_DECL std::optional<bytes> ssl_socket::getpeercert(binary_form_t) const {
    auto peer = detail::peer_certificate(checked());
    if (!peer) return std::nullopt;
    unsigned char* der = nullptr;
    int n = i2d_X509(peer.get(), &der);
    if (n < 0) throw std::bad_alloc();
    bytes out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

PYSOCK_SSL_DECL std::optional<cipher_info> ssl_socket::cipher() const {
    detail::connection& c = checked();
    if (!handshake_done(c)) return std::nullopt;
    const SSL_CIPHER* cipher = SSL_get_current_cipher(c.ssl);
    if (!cipher) return std::nullopt;
    return cipher_info{SSL_CIPHER_get_name(cipher), SSL_CIPHER_get_version(cipher),
                       SSL_CIPHER_get_bits(cipher, nullptr)};
}

PYSOCK_SSL_DECL std::optional<std::string> ssl_socket::version() const {
    detail::connection& c = checked();
    if (!handshake_done(c)) return std::nullopt;
    return std::string(SSL_get_version(c.ssl));
}

PYSOCK_SSL_DECL std::optional<std::string> ssl_socket::selected_alpn_protocol() const {
    detail::connection& c = checked();
    if (!c.ssl) return std::nullopt;
    const unsigned char* name = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(c.ssl, &name, &len);
    if (!name || len == 0) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(name), len);
}

PYSOCK_SSL_DECL std::optional<std::string> ssl_socket::server_hostname() const {
    return checked().hostname;
}
PYSOCK_SSL_DECL bool ssl_socket::server_side() const { return checked().server_side; }
PYSOCK_SSL_DECL ssl_context ssl_socket::context() const { return ssl_context(checked().ctx); }

PYSOCK_SSL_DECL void ssl_socket::settimeout(std::optional<double> seconds) {
    checked().sock.settimeout(seconds);
}
PYSOCK_SSL_DECL std::optional<double> ssl_socket::gettimeout() const {
    return checked().sock.gettimeout();
}
PYSOCK_SSL_DECL void ssl_socket::setblocking(bool flag) { checked().sock.setblocking(flag); }
PYSOCK_SSL_DECL bool ssl_socket::getblocking() const { return checked().sock.getblocking(); }
PYSOCK_SSL_DECL native_handle_type ssl_socket::fileno() const noexcept {
    return conn_ ? conn_->sock.fileno() : pysock::detail::invalid_handle;
}
PYSOCK_SSL_DECL address ssl_socket::getpeername() const { return checked().sock.getpeername(); }
PYSOCK_SSL_DECL address ssl_socket::getsockname() const { return checked().sock.getsockname(); }
PYSOCK_SSL_DECL int ssl_socket::family() const { return checked().sock.family(); }
PYSOCK_SSL_DECL int ssl_socket::type() const { return checked().sock.type(); }
PYSOCK_SSL_DECL SSL* ssl_socket::native_handle() const noexcept {
    return conn_ ? conn_->ssl : nullptr;
}

PYSOCK_SSL_DECL socket_file ssl_socket::makefile(std::string_view mode,
                                                 std::optional<std::size_t> buffering) const {
    checked();
    return pysock::detail::file_factory::make(new detail::tls_file_transport(conn_), mode,
                                              buffering);
}

}  // namespace ssl
}  // namespace pysock

// =============================================================================================
// 6. Internal macros
// =============================================================================================
#undef PYSOCK_SSL_DECLARE_ERROR
#undef PYSOCK_SSL_DECL

#endif  // PYSOCK_SSL_HPP
