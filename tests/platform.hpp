// Test-only platform shim, so one test source builds and runs on Linux and on Windows
// (mingw-w64, run under wine in CI). Include it after <doctest/doctest.h> and <pysock/socket.hpp>.
//
//  * the system headers tests use beside pysock's (POSIX, or Winsock: pysock includes it);
//  * on Windows, the socket errno names get the values Python's errno module gives them there
//    (errno.ECONNREFUSED == 10061 == WSAECONNREFUSED; EAGAIN reads as WSAEWOULDBLOCK), so
//    `e.code().value() == ECONNREFUSED` checks the same thing on both;
//  * pysock_test::under_wine() / on_windows: run-time and compile-time platform facts;
//  * TEST_CASE("..." * pysock_test::skip_under_wine("reason")), skip_on_windows, only_on_windows: the test is
//    reported as skipped, with its reason, where it cannot run (a listener prints each one as
//    "[pysock] SKIPPED <test>: <reason>", and doctest counts it under "skipped").
#ifndef PYSOCK_TESTS_PLATFORM_HPP
#define PYSOCK_TESTS_PLATFORM_HPP

#include <doctest/doctest.h>
#include <pysock/socket.hpp>

#include <string>
#include <system_error>

#if defined(_WIN32)
#include <cerrno>
// Python's errno module on Windows (Modules/errnomodule.c): the socket errors are the WSA codes.
#undef EWOULDBLOCK
#define EWOULDBLOCK WSAEWOULDBLOCK
#undef EAGAIN
#define EAGAIN WSAEWOULDBLOCK
#undef EINPROGRESS
#define EINPROGRESS WSAEINPROGRESS
#undef EALREADY
#define EALREADY WSAEALREADY
#undef ENOTSOCK
#define ENOTSOCK WSAENOTSOCK
#undef EDESTADDRREQ
#define EDESTADDRREQ WSAEDESTADDRREQ
#undef EMSGSIZE
#define EMSGSIZE WSAEMSGSIZE
#undef EPROTOTYPE
#define EPROTOTYPE WSAEPROTOTYPE
#undef ENOPROTOOPT
#define ENOPROTOOPT WSAENOPROTOOPT
#undef EPROTONOSUPPORT
#define EPROTONOSUPPORT WSAEPROTONOSUPPORT
#undef EOPNOTSUPP
#define EOPNOTSUPP WSAEOPNOTSUPP
#undef EAFNOSUPPORT
#define EAFNOSUPPORT WSAEAFNOSUPPORT
#undef EADDRINUSE
#define EADDRINUSE WSAEADDRINUSE
#undef EADDRNOTAVAIL
#define EADDRNOTAVAIL WSAEADDRNOTAVAIL
#undef ENETDOWN
#define ENETDOWN WSAENETDOWN
#undef ENETUNREACH
#define ENETUNREACH WSAENETUNREACH
#undef ENETRESET
#define ENETRESET WSAENETRESET
#undef ECONNABORTED
#define ECONNABORTED WSAECONNABORTED
#undef ECONNRESET
#define ECONNRESET WSAECONNRESET
#undef ENOBUFS
#define ENOBUFS WSAENOBUFS
#undef EISCONN
#define EISCONN WSAEISCONN
#undef ENOTCONN
#define ENOTCONN WSAENOTCONN
#undef ESHUTDOWN
#define ESHUTDOWN WSAESHUTDOWN
#undef ETIMEDOUT
#define ETIMEDOUT WSAETIMEDOUT
#undef ECONNREFUSED
#define ECONNREFUSED WSAECONNREFUSED
#undef EHOSTUNREACH
#define EHOSTUNREACH WSAEHOSTUNREACH
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#endif

namespace pysock_test {

#if defined(_WIN32)
inline constexpr bool on_windows = true;
#else
inline constexpr bool on_windows = false;
#endif

/// The wine version when this Windows program runs under wine ("8.0"), else nullptr.
inline const char* wine_version() noexcept {
#if defined(_WIN32)
    HMODULE ntdll = ::GetModuleHandleA("ntdll.dll");
    if (!ntdll) return nullptr;
    FARPROC proc = ::GetProcAddress(ntdll, "wine_get_version");
    if (!proc) return nullptr;
    // Through void(*)(): the one function pointer type every other converts to without a warning.
    auto get = reinterpret_cast<const char* (*)()>(reinterpret_cast<void (*)()>(proc));
    return get();
#else
    return nullptr;
#endif
}
inline bool under_wine() noexcept { return wine_version() != nullptr; }

/// What CPython prints (or returns) on this platform: `posix` on POSIX, `windows` on Windows.
template <class T>
T on_platform(T posix, T windows) {
    return on_windows ? windows : posix;
}

/// The errno of an operation on a closed socket: EBADF on POSIX; on Windows CPython reports
/// WSAENOTSOCK ([WinError 10038]).
inline constexpr int closed_socket_errno =
#if defined(_WIN32)
    WSAENOTSOCK;
#else
    EBADF;
#endif

/// The category of pysock's OS error codes: errno values on POSIX, Windows error codes on Windows.
inline const std::error_category& os_category() noexcept {
    return on_windows ? std::system_category() : std::generic_category();
}

/// Skips the rest of a test or subcase at run time, visibly: prints the reason and returns.
/// For a whole test, prefer the decorators below (doctest then counts the test as skipped).
#define PYSOCK_TEST_SKIP_IF(condition, reason)                                                     \
    do {                                                                                           \
        if (condition) {                                                                           \
            MESSAGE("[pysock] SKIPPED (" << reason << ")");                                        \
            return;                                                                                \
        }                                                                                          \
    } while (false)

/// Decorator: skip this test when `condition` holds, with `reason` as its description.
struct skip_if {
    bool condition;
    const char* reason;
    void fill(doctest::detail::TestCase& tc) const {
        if (condition) {
            tc.m_skip = true;
            tc.m_description = reason;
        }
    }
    void fill(doctest::detail::TestSuite& ts) const {
        if (condition) {
            ts.m_skip = true;
            ts.m_description = reason;
        }
    }
};
/// Decorator: skip this test when `condition` (evaluated when the test is registered) holds.
/// A function, not `skip_if{...}`: braces do not protect a comma inside TEST_CASE(...).
inline skip_if skip_when(bool condition, const char* reason) { return {condition, reason}; }
/// Decorator: this test needs something wine does not do (it runs on real Windows and Linux).
inline skip_if skip_under_wine(const char* reason) { return {under_wine(), reason}; }
/// Decorator: this test checks POSIX behaviour that Windows (and Python on Windows) lacks.
inline skip_if skip_on_windows(const char* reason) { return {on_windows, reason}; }
/// Decorator: this test checks Windows behaviour only.
inline skip_if only_on_windows(const char* reason) { return {!on_windows, reason}; }

/// Whether a sanitizer runtime (ASan, TSan, UBSan) is in the process. They need descriptors of
/// their own (UBSan reads /proc/self/maps to check a virtual call): a test that uses up every
/// descriptor makes them report false errors.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitizer_runtime = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(undefined_behavior_sanitizer)
inline constexpr bool sanitizer_runtime = true;
#else
inline constexpr bool sanitizer_runtime = false;
#endif
#else
inline constexpr bool sanitizer_runtime = false;
#endif
/// ThreadSanitizer in particular (it slows threaded loads about ten times).
#if defined(__SANITIZE_THREAD__)
inline constexpr bool thread_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool thread_sanitizer = true;
#else
inline constexpr bool thread_sanitizer = false;
#endif
#else
inline constexpr bool thread_sanitizer = false;
#endif
/// Decorator: this test cannot run under a sanitizer (it exhausts descriptors).
inline skip_if skip_under_sanitizers(const char* reason) { return {sanitizer_runtime, reason}; }

/// Prints every test skipped by a decorator above, with its reason.
struct skip_reporter : doctest::IReporter {
    const doctest::ContextOptions& opt;
    explicit skip_reporter(const doctest::ContextOptions& in) : opt(in) {}
    void test_case_skipped(const doctest::TestCaseData& tc) override {
        if (tc.m_skip && tc.m_description)
            *opt.cout << "[pysock] SKIPPED " << tc.m_name << ": " << tc.m_description << "\n";
    }
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
};

}  // namespace pysock_test

REGISTER_LISTENER("pysock_skips", 1, pysock_test::skip_reporter);

#endif  // PYSOCK_TESTS_PLATFORM_HPP
