// pysock/ssl.hpp: Python's ssl module over OpenSSL 3. Contexts and their defaults, handshakes and
// I/O between pysock's two sides, verification failures with Python's messages, bad peers
// (plaintext, ragged EOFs, truncated and forged records), timeouts and non-blocking use, files,
// and interoperability with Python's ssl and openssl s_server / s_client. Certificates are made
// at test time (tls_certs.hpp) in a temporary directory.
#include <doctest/doctest.h>
#include <pysock/selectors.hpp>
#include <pysock/ssl.hpp>

// No "platform.hpp" of its own: that include marks the areas built for Windows, and Debian has
// no OpenSSL for mingw-w64 (stage 60 type-checks ssl.hpp for Windows instead).
#include "support.hpp"
#include "tls_certs.hpp"

#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace pysock_test;
namespace ssl = pysock::ssl;

namespace {

/// The test PKI, made once per process.
const pysock_tls_certs::test_pki& pki() {
    static temp_dir dir;
    static pysock_tls_certs::test_pki files(dir.path);
    return files;
}

ssl::ssl_context server_context(const std::string& name = "server") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    ctx.load_cert_chain(pki().path(name + ".pem"), pki().path(name + ".key"));
    return ctx;
}

ssl::ssl_context client_context() {
    return ssl::create_default_context(ssl::purpose::server_auth, pki().ca());
}

/// Both ends of one TLS handshake over loopback (the server side in a thread), with what each
/// side threw. Both sockets have a timeout: a handshake that goes wrong fails, never hangs.
struct handshake_result {
    std::optional<ssl::ssl_socket> client, server;
    std::exception_ptr client_error, server_error;
};

handshake_result shake_hands(ssl::ssl_context client_ctx, ssl::ssl_context server_ctx,
                             std::optional<std::string> host = std::string("localhost"),
                             bool suppress_ragged_eofs = true) {
    auto tcp = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    handshake_result r;
    pysock::socket accepted = std::move(tcp.server);
    std::thread server([&] {
        try {
            r.server.emplace(server_ctx.wrap_socket(std::move(accepted), true, std::nullopt, true,
                                                    suppress_ragged_eofs));
        } catch (...) {
            r.server_error = std::current_exception();
        }
    });
    try {
        r.client.emplace(
            client_ctx.wrap_socket(std::move(tcp.client), false, host, true, suppress_ragged_eofs));
    } catch (...) {
        r.client_error = std::current_exception();
    }
    server.join();
    return r;
}

/// A handshake that must succeed: the two connected ssl_sockets.
struct tls_pair {
    ssl::ssl_socket client, server;
};
tls_pair connected_pair(ssl::ssl_context client_ctx = client_context(),
                        ssl::ssl_context server_ctx = server_context(),
                        bool suppress_ragged_eofs = true) {
    auto r = shake_hands(std::move(client_ctx), std::move(server_ctx), std::string("localhost"),
                         suppress_ragged_eofs);
    if (r.client_error) std::rethrow_exception(r.client_error);
    if (r.server_error) std::rethrow_exception(r.server_error);
    return {std::move(*r.client), std::move(*r.server)};
}

/// The exception `error` held, as expect_raises records it.
template <class E>
raised raised_by(std::exception_ptr error) {
    return expect_raises<E>([&] {
        if (error) std::rethrow_exception(error);
    });
}

std::string source_dir() { return PYSOCK_SOURCE_DIR; }

std::string last_word(std::optional<std::string> line) {
    REQUIRE(line);
    return line->substr(line->rfind(' ') + 1);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The exception tree and the context's defaults
// ---------------------------------------------------------------------------------------------

TEST_CASE("ssl exceptions sit in Python's tree, under pysock::error") {
    static_assert(std::is_base_of_v<pysock::error, ssl::ssl_error>);
    static_assert(std::is_base_of_v<ssl::ssl_error, ssl::ssl_zero_return_error>);
    static_assert(std::is_base_of_v<ssl::ssl_error, ssl::ssl_want_read_error>);
    static_assert(std::is_base_of_v<ssl::ssl_error, ssl::ssl_want_write_error>);
    static_assert(std::is_base_of_v<ssl::ssl_error, ssl::ssl_syscall_error>);
    static_assert(std::is_base_of_v<ssl::ssl_error, ssl::ssl_eof_error>);
    static_assert(std::is_base_of_v<ssl::ssl_error, ssl::ssl_cert_verification_error>);
    ssl::ssl_want_read_error e(SSL_ERROR_WANT_READ, "The operation did not complete (read)");
    CHECK(e.code().value() == SSL_ERROR_WANT_READ);
    CHECK(e.code().category() == ssl::ssl_category());
    CHECK(std::string(e.code().category().name()) == "ssl");
    CHECK(e.code().message() == "SSL_ERROR_WANT_READ");
}

TEST_CASE("a client context verifies certificates and host names, TLS 1.2 at least") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_CLIENT);
    CHECK(ctx.protocol() == ssl::PROTOCOL_TLS_CLIENT);
    CHECK(ctx.verify_mode() == ssl::CERT_REQUIRED);
    CHECK(ctx.check_hostname());
    CHECK(ctx.minimum_version() == ssl::tls_version::TLSv1_2);
    CHECK(ctx.maximum_version() == ssl::tls_version::MAXIMUM_SUPPORTED);
}

TEST_CASE("a server context asks no client certificate by default") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    CHECK(ctx.verify_mode() == ssl::CERT_NONE);
    CHECK_FALSE(ctx.check_hostname());
    CHECK_THROWS_AS(ssl::ssl_context(3), std::invalid_argument);
}

TEST_CASE("create_default_context for client_auth gives a server context") {
    auto ctx = ssl::create_default_context(ssl::purpose::client_auth);
    CHECK(ctx.protocol() == ssl::PROTOCOL_TLS_SERVER);
    CHECK(ctx.verify_mode() == ssl::CERT_NONE);
}

TEST_CASE("verify_mode CERT_NONE is refused while check_hostname is on") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_CLIENT);
    auto r = expect_raises<std::invalid_argument>([&] { ctx.verify_mode(ssl::CERT_NONE); });
    CHECK(r.what == "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
    ctx.check_hostname(false);
    ctx.verify_mode(ssl::CERT_NONE);
    CHECK(ctx.verify_mode() == ssl::CERT_NONE);
    ctx.check_hostname(true);  // turns verification back on, as Python
    CHECK(ctx.verify_mode() == ssl::CERT_REQUIRED);
    ctx.verify_mode(ssl::CERT_OPTIONAL);
    CHECK(ctx.verify_mode() == ssl::CERT_OPTIONAL);
}

TEST_CASE("minimum_version and maximum_version read back what was set") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    ctx.minimum_version(ssl::tls_version::TLSv1_3);
    CHECK(ctx.minimum_version() == ssl::tls_version::TLSv1_3);
    ctx.maximum_version(ssl::tls_version::TLSv1_3);
    CHECK(ctx.maximum_version() == ssl::tls_version::TLSv1_3);
    ctx.maximum_version(ssl::tls_version::MAXIMUM_SUPPORTED);
    CHECK(ctx.maximum_version() == ssl::tls_version::MAXIMUM_SUPPORTED);
    ctx.minimum_version(ssl::tls_version::MINIMUM_SUPPORTED);
    CHECK(ctx.minimum_version() == ssl::tls_version::MINIMUM_SUPPORTED);
    CHECK(expect_raises<std::invalid_argument>([&] {
              ctx.minimum_version(static_cast<ssl::tls_version>(0x7f00));
          }).what == "Unsupported TLS/SSL version 0x7f00");
}

// ---------------------------------------------------------------------------------------------
// Loading certificates and keys: each bad input a clear error
// ---------------------------------------------------------------------------------------------

TEST_CASE("load_cert_chain with a missing file raises FileNotFoundError") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    auto r = expect_raises<pysock::file_not_found_error>(
        [&] { ctx.load_cert_chain(pki().path("no-such.pem")); });
    CHECK(r.code.value() == ENOENT);
    CHECK(r.what == "[Errno 2] No such file or directory");
}

TEST_CASE("load_cert_chain with a file that holds no certificate raises an SSL error") {
    temp_dir dir;
    std::ofstream(dir / "junk.pem") << "not a certificate\n";
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    auto r = expect_raises<ssl::ssl_error>([&] { ctx.load_cert_chain(dir / "junk.pem"); });
    CHECK(r.code == std::error_code(SSL_ERROR_SSL, ssl::ssl_category()));
    CHECK(r.what.find("NO_START_LINE] no start line") != std::string::npos);
}

TEST_CASE("an encrypted key loads with its password") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    ctx.load_cert_chain(pki().path("server.pem"), pki().path("server-encrypted.key"), "secret");
    ctx.load_cert_chain(pki().path("server.pem"), pki().path("server-encrypted.key"), "secret");
    CHECK(SSL_CTX_get0_privatekey(ctx.native_handle()) != nullptr);
}

TEST_CASE("a wrong key password raises bad decrypt, and no password fails instead of prompting") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    auto wrong = expect_raises<ssl::ssl_error>([&] {
        ctx.load_cert_chain(pki().path("server.pem"), pki().path("server-encrypted.key"), "wrong");
    });
    CHECK(wrong.what.find("bad decrypt") != std::string::npos);
    auto none = expect_raises<ssl::ssl_error>(
        [&] { ctx.load_cert_chain(pki().path("server.pem"), pki().path("server-encrypted.key")); });
    CHECK(none.what.find("[") == 0);
    CHECK(expect_raises<std::invalid_argument>([&] {
              ctx.load_cert_chain(pki().path("server.pem"), pki().path("server-encrypted.key"),
                                  std::string(2000, 'p'));
          }).what == "password cannot be longer than 1024 bytes");
}

TEST_CASE("a key that is not the certificate's raises key values mismatch") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_SERVER);
    auto r = expect_raises<ssl::ssl_error>(
        [&] { ctx.load_cert_chain(pki().path("server.pem"), pki().path("client.key")); });
    CHECK(r.what == "[X509: KEY_VALUES_MISMATCH] key values mismatch");
}

TEST_CASE("load_verify_locations needs a cafile, a capath or cadata") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_CLIENT);
    CHECK(expect_raises<std::invalid_argument>([&] { ctx.load_verify_locations(); }).what ==
          "cafile, capath and cadata cannot be all omitted");
    CHECK(expect_raises<pysock::file_not_found_error>([&] {
              ctx.load_verify_locations(pki().path("missing-ca.pem"));
          }).code.value() == ENOENT);
}

TEST_CASE("cadata takes PEM text and DER bytes, and refuses data with no certificate") {
    std::ifstream in(pki().ca());
    std::stringstream pem;
    pem << in.rdbuf();
    ssl::ssl_context from_pem(ssl::PROTOCOL_TLS_CLIENT);
    from_pem.load_verify_locations(std::nullopt, std::nullopt, pem.str());  // PEM text
    CHECK(connected_pair(from_pem).client.version().has_value());

    const std::string pem_text = pem.str();
    BIO* bio = BIO_new_mem_buf(pem_text.data(), static_cast<int>(pem_text.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    unsigned char* der = nullptr;
    int n = i2d_X509(x, &der);
    std::string der_bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    ssl::ssl_context from_der(ssl::PROTOCOL_TLS_CLIENT);
    from_der.load_verify_locations(std::nullopt, std::nullopt, der_bytes);
    CHECK(connected_pair(from_der).client.version().has_value());

    CHECK_THROWS_AS(from_der.load_verify_locations(std::nullopt, std::nullopt, "-----BEGIN junk"),
                    ssl::ssl_error);
}

TEST_CASE("set_ciphers that selects nothing raises 'No cipher can be selected.'") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_CLIENT);
    CHECK(expect_raises<ssl::ssl_error>([&] { ctx.set_ciphers("NO-SUCH-CIPHER"); }).what ==
          "No cipher can be selected.");
    ctx.set_ciphers("ECDHE+AESGCM");
}

TEST_CASE("set_alpn_protocols refuses empty and over-long names") {
    ssl::ssl_context ctx(ssl::PROTOCOL_TLS_CLIENT);
    CHECK(expect_raises<std::invalid_argument>([&] { ctx.set_alpn_protocols({""}); }).what ==
          "ALPN protocols must be 1 to 255 in length");
    CHECK_THROWS_AS(ctx.set_alpn_protocols({std::string(256, 'a')}), std::invalid_argument);
    ctx.set_alpn_protocols({std::string(255, 'a'), "h2"});
}

TEST_CASE("wrap_socket refuses what Python refuses, and takes the socket either way") {
    auto client = client_context();
    auto server = server_context();
    auto refused = [](auto&& wrap) {
        return expect_raises<std::invalid_argument>([&] { wrap(); }).what;
    };
    CHECK(refused([&] { client.wrap_socket(pysock::socket()); }) ==
          "check_hostname requires server_hostname");
    CHECK(refused([&] { server.wrap_socket(pysock::socket(), true, "localhost"); }) ==
          "server_hostname can only be specified in client mode");
    CHECK(refused([&] { client.wrap_socket(pysock::socket(), true); }) ==
          "Cannot create a server socket with a PROTOCOL_TLS_CLIENT context");
    CHECK(refused([&] { server.wrap_socket(pysock::socket()); }) ==
          "Cannot create a client socket with a PROTOCOL_TLS_SERVER context");
    CHECK(refused([&] { client.wrap_socket(pysock::socket(), false, ""); }) ==
          "server_hostname cannot be an empty string or start with a leading dot.");
    CHECK(refused([&] { client.wrap_socket(pysock::socket(AF_INET, SOCK_DGRAM), false, "x"); }) ==
          "only stream sockets are supported");
    auto tcp = connect_tcp();
    tcp.client.setblocking(false);
    CHECK(refused([&] { client.wrap_socket(std::move(tcp.client), false, "localhost"); }) ==
          "do_handshake_on_connect should not be specified for non-blocking sockets");
}

// ---------------------------------------------------------------------------------------------
// Handshakes and I/O between pysock's two sides
// ---------------------------------------------------------------------------------------------

TEST_CASE("a TLS 1.3 connection carries data both ways") {
    auto p = connected_pair();
    CHECK(p.client.version() == "TLSv1.3");
    CHECK(p.server.version() == "TLSv1.3");
    auto cipher = p.client.cipher();
    REQUIRE(cipher);
    CHECK(cipher->protocol == "TLSv1.3");
    CHECK(cipher->secret_bits >= 128);
    CHECK(cipher->name == p.server.cipher()->name);
    p.client.sendall("ping");
    CHECK(p.server.recv(100) == "ping");
    p.server.sendall("pong");
    char buf[16];
    CHECK(p.client.recv_into(buf, sizeof buf) == 4);
    CHECK(std::string(buf, 4) == "pong");
    CHECK(p.client.server_hostname() == "localhost");
    CHECK_FALSE(p.client.server_side());
    CHECK(p.server.server_side());
    CHECK(p.client.getpeername() == p.server.getsockname());
}

TEST_CASE("TLS 1.2 is negotiated when the server goes no higher") {
    auto server = server_context();
    server.maximum_version(ssl::tls_version::TLSv1_2);
    auto p = connected_pair(client_context(), server);
    CHECK(p.client.version() == "TLSv1.2");
    CHECK(p.client.cipher()->protocol == "TLSv1.2");
    p.client.sendall("over 1.2");
    CHECK(p.server.recv(100) == "over 1.2");
}

TEST_CASE("a client that requires TLS 1.3 cannot talk to a TLS 1.2 server") {
    auto server = server_context();
    server.maximum_version(ssl::tls_version::TLSv1_2);
    auto client = client_context();
    client.minimum_version(ssl::tls_version::TLSv1_3);
    auto r = shake_hands(client, server);
    auto e = raised_by<ssl::ssl_error>(r.client_error);
    CHECK(e.what.find("[SSL: ") == 0);
    CHECK(r.server_error);
}

TEST_CASE("ALPN: the server picks its first protocol the client offers") {
    auto client = client_context();
    client.set_alpn_protocols({"http/1.1", "h2"});
    auto server = server_context();
    server.set_alpn_protocols({"h2", "http/1.1"});
    auto p = connected_pair(client, server);
    CHECK(p.client.selected_alpn_protocol() == "h2");
    CHECK(p.server.selected_alpn_protocol() == "h2");
}

TEST_CASE("ALPN with no protocol in common connects without one") {
    auto client = client_context();
    client.set_alpn_protocols({"spdy/1"});
    auto server = server_context();
    server.set_alpn_protocols({"h2"});
    auto p = connected_pair(client, server);
    CHECK_FALSE(p.client.selected_alpn_protocol());
    CHECK_FALSE(p.server.selected_alpn_protocol());
}

TEST_CASE("SNI carries the host name, but not an IP address") {
    auto named = connected_pair();
    const char* sni = SSL_get_servername(named.server.native_handle(), TLSEXT_NAMETYPE_host_name);
    REQUIRE(sni != nullptr);
    CHECK(std::string(sni) == "localhost");
    auto r = shake_hands(client_context(), server_context(), std::string("127.0.0.1"));
    REQUIRE(r.server);
    CHECK(SSL_get_servername(r.server->native_handle(), TLSEXT_NAMETYPE_host_name) == nullptr);
}

TEST_CASE("getpeercert gives Python's dict: subject, issuer, dates, subjectAltName") {
    auto p = connected_pair();
    auto cert = p.client.getpeercert();
    REQUIRE(cert);
    ssl::distinguished_name subject{{{"countryName", "FR"}},
                                    {{"organizationName", "pysock tests"}},
                                    {{"commonName", "localhost"}}};
    CHECK(cert->subject == subject);
    CHECK(cert->issuer.back() ==
          std::vector<ssl::name_attribute>{{"commonName", "pysock test CA"}});
    CHECK(cert->version == 3);
    CHECK(cert->serialNumber.size() >= 2);
    CHECK(cert->notBefore.size() == 24);  // "Dec  4 19:00:00 2026 GMT"
    CHECK(cert->notAfter.substr(cert->notAfter.size() - 4) == " GMT");
    std::vector<std::pair<std::string, std::string>> san{
        {"DNS", "localhost"}, {"IP Address", "127.0.0.1"}, {"IP Address", "0:0:0:0:0:0:0:1"}};
    CHECK(cert->subjectAltName == san);
    CHECK_FALSE(p.server.getpeercert());  // the client sent none
}

TEST_CASE("getpeercert is empty when not validated; binary_form gives the DER either way") {
    auto client = client_context();
    client.check_hostname(false);
    client.verify_mode(ssl::CERT_NONE);
    auto p = connected_pair(client);
    auto cert = p.client.getpeercert();
    REQUIRE(cert);
    CHECK(cert->empty());
    auto der = p.client.getpeercert(ssl::binary_form);
    REQUIRE(der);
    const unsigned char* in = reinterpret_cast<const unsigned char*>(der->data());
    X509* x = d2i_X509(nullptr, &in, static_cast<long>(der->size()));
    REQUIRE(x != nullptr);
    X509_free(x);
}

TEST_CASE("getpeercert before the handshake raises 'handshake not done yet'") {
    auto client = client_context();
    auto tls = client.wrap_socket(pysock::socket(), false, "localhost");
    CHECK(expect_raises<std::invalid_argument>([&] { (void)tls.getpeercert(); }).what ==
          "handshake not done yet");
    CHECK_FALSE(tls.version());
    CHECK_FALSE(tls.cipher());
    CHECK(tls.native_handle() == nullptr);
}

TEST_CASE("a socket wrapped before connect() shakes hands in connect()") {
    auto listener = make_listener();
    auto server_ctx = server_context();
    peer_thread server([&] {
        auto [conn, addr] = listener.accept();
        conn.settimeout(SAFETY_TIMEOUT);
        auto tls = server_ctx.wrap_socket(std::move(conn), true);
        tls.sendall(tls.recv(100));
    });
    pysock::socket raw;
    raw.settimeout(SAFETY_TIMEOUT);
    auto tls = client_context().wrap_socket(std::move(raw), false, "localhost");
    tls.connect(listener.getsockname());
    CHECK(tls.version());
    tls.sendall("after connect");
    CHECK(tls.recv(100) == "after connect");
    server.join();
    CHECK(expect_raises<std::invalid_argument>([&] { tls.connect(listener.getsockname()); }).what ==
          "attempt to connect already-connected SSLSocket!");
}

TEST_CASE("accept() on a wrapped listener returns TLS connections") {
    auto server_ctx = server_context();
    auto listener = server_ctx.wrap_socket(make_listener(), true);
    listener.settimeout(SAFETY_TIMEOUT);
    auto addr = listener.getsockname();
    auto client_ctx = client_context();
    peer_thread client([&] {
        auto tls = client_ctx.wrap_socket(pysock::create_connection(addr, SAFETY_TIMEOUT), false,
                                          "localhost");
        tls.sendall("through accept");
        CHECK(tls.recv(100) == "ok");
    });
    auto [conn, peer] = listener.accept();
    conn.settimeout(SAFETY_TIMEOUT);
    CHECK(conn.server_side());
    CHECK(conn.version());
    CHECK(conn.recv(100) == "through accept");
    conn.sendall("ok");
    client.join();
    CHECK(peer.host == "127.0.0.1");
}

TEST_CASE("sendall of 4 MiB arrives whole and in order") {
    auto p = connected_pair();
    std::string data(4 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + (i >> 12));
    peer_thread sender([&] { p.client.sendall(data); });
    std::string got;
    char buf[65536];
    while (got.size() < data.size()) {
        std::size_t n = p.server.recv_into(buf, sizeof buf);
        REQUIRE(n > 0);
        got.append(buf, n);
    }
    sender.join();
    CHECK(fnv1a(got.data(), got.size()) == fnv1a(data.data(), data.size()));
}

TEST_CASE("recv and send refuse flags, as Python's SSLSocket") {
    auto p = connected_pair();
    CHECK(expect_raises<std::invalid_argument>([&] { p.client.recv(10, MSG_PEEK); }).what ==
          "non-zero flags not allowed in calls to recv_into() on <class 'ssl.SSLSocket'>");
    CHECK_THROWS_AS(p.client.send("x", MSG_OOB), std::invalid_argument);
    CHECK_THROWS_AS(p.client.sendall("x", MSG_OOB), std::invalid_argument);
}

TEST_CASE("pending() counts decrypted bytes select() cannot see") {
    auto p = connected_pair();
    p.server.sendall("0123456789");
    CHECK(p.client.recv(4) == "0123");
    CHECK(p.client.pending() == 6);
    CHECK(p.client.recv(100) == "456789");
    CHECK(p.client.pending() == 0);
}

TEST_CASE("makefile reads decrypted lines and writes through TLS") {
    auto p = connected_pair();
    auto f = p.client.makefile("rwb");
    p.server.sendall("first line\nsecond ");
    p.server.sendall("line\nrest");
    CHECK(f.readline() == "first line\n");
    CHECK(f.readline() == "second line\n");
    f.write("from the file\n");
    f.flush();
    CHECK(p.server.recv(100) == "from the file\n");
    p.server.close();  // a ragged end, suppressed: the file reads the rest, then b''
    CHECK(f.readline() == "rest");
    CHECK(f.readline() == "");
}

TEST_CASE("a file from makefile keeps the TLS connection after the socket is closed") {
    auto p = connected_pair();
    auto f = p.client.makefile("rb");
    p.client.close();
    CHECK(p.client.fileno() == -1);
    CHECK(expect_raises<pysock::error>([&] { p.client.recv(1); }).code.value() == EBADF);
    p.server.sendall("still here\n");
    CHECK(f.readline() == "still here\n");
    f.close();
    CHECK(p.server.recv(10) ==
          "");  // now the connection is gone (no close_notify: ragged, suppressed)
}

TEST_CASE("unwrap() sends close_notify and gives the plain socket back") {
    auto p = connected_pair(client_context(), server_context(), false);
    peer_thread server([&] {
        CHECK(p.server.recv(10) == "");  // close_notify: a clean end, even without suppression
        auto plain = p.server.unwrap();
        plain.sendall("plain text now");
    });
    auto plain = p.client.unwrap();
    CHECK(p.client.fileno() == -1);
    CHECK(recv_exactly(plain, 14) == "plain text now");
    server.join();
}

TEST_CASE("close() on a closed ssl_socket does nothing, and every call then raises EBADF") {
    auto p = connected_pair();
    p.client.close();
    p.client.close();
    CHECK(expect_raises<pysock::error>([&] { p.client.sendall("x"); }).code.value() == EBADF);
    CHECK(expect_raises<pysock::error>([&] { p.client.do_handshake(); }).code.value() == EBADF);
    CHECK(expect_raises<pysock::error>([&] { (void)p.client.unwrap(); }).code.value() == EBADF);
}

// ---------------------------------------------------------------------------------------------
// Verification failures: the right exception, Python's message
// ---------------------------------------------------------------------------------------------

TEST_CASE("an untrusted self-signed certificate fails verification") {
    auto r = shake_hands(client_context(), server_context("self-signed"));
    auto e = raised_by<ssl::ssl_cert_verification_error>(r.client_error);
    CHECK(e.what ==
          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate");
    try {
        std::rethrow_exception(r.client_error);
    } catch (const ssl::ssl_cert_verification_error& v) {
        CHECK(v.verify_code() == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
        CHECK(v.verify_message() == "self-signed certificate");
        CHECK(v.library() == "SSL");
        CHECK(v.reason() == "CERTIFICATE_VERIFY_FAILED");
    }
    auto s = raised_by<ssl::ssl_error>(r.server_error);  // the client's alert
    CHECK(s.what == "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca");
}

TEST_CASE("a host name mismatch fails with Python's message") {
    auto r = shake_hands(client_context(), server_context("other"));
    auto e = raised_by<ssl::ssl_cert_verification_error>(r.client_error);
    CHECK(e.what == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname "
                    "mismatch, certificate is not valid for 'localhost'.");
}

TEST_CASE("an IP address mismatch fails with Python's message") {
    auto r = shake_hands(client_context(), server_context(), std::string("127.0.0.2"));
    auto e = raised_by<ssl::ssl_cert_verification_error>(r.client_error);
    CHECK(e.what == "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address "
                    "mismatch, certificate is not valid for '127.0.0.2'.");
    auto ok = shake_hands(client_context(), server_context(), std::string("127.0.0.1"));
    CHECK_FALSE(ok.client_error);
}

TEST_CASE("an expired certificate fails verification") {
    auto r = shake_hands(client_context(), server_context("expired"));
    auto e = raised_by<ssl::ssl_cert_verification_error>(r.client_error);
    CHECK(e.what ==
          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired");
}

TEST_CASE("CERT_NONE with check_hostname off connects to an untrusted server") {
    ssl::ssl_context client(ssl::PROTOCOL_TLS_CLIENT);
    client.check_hostname(false);
    client.verify_mode(ssl::CERT_NONE);
    auto p = connected_pair(client, server_context("self-signed"));
    p.client.sendall("trusting");
    CHECK(p.server.recv(100) == "trusting");
}

TEST_CASE("a server that requires a client certificate refuses a client without one") {
    auto server = server_context();
    server.verify_mode(ssl::CERT_REQUIRED);
    server.load_verify_locations(pki().ca());
    auto r = shake_hands(client_context(), server);
    auto s = raised_by<ssl::ssl_error>(r.server_error);
    CHECK(s.what == "[SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE] peer did not return a certificate");
    // TLS 1.3: the client finished its handshake first and hears the alert on its first read.
    if (r.client) {
        auto c = expect_raises<ssl::ssl_error>([&] { r.client->recv(10); });
        CHECK(c.what ==
              "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required");
    }
}

TEST_CASE("a client certificate signed by the CA is verified and seen by the server") {
    auto server = server_context();
    server.verify_mode(ssl::CERT_REQUIRED);
    server.load_verify_locations(pki().ca());
    auto client = client_context();
    client.load_cert_chain(pki().path("client.pem"), pki().path("client.key"));
    auto p = connected_pair(client, server);
    p.client.sendall("with a certificate");
    CHECK(p.server.recv(100) == "with a certificate");
    auto cert = p.server.getpeercert();
    REQUIRE(cert);
    CHECK(cert->subject.back() ==
          std::vector<ssl::name_attribute>{{"commonName", "pysock client"}});
}

// ---------------------------------------------------------------------------------------------
// Bad peers: plaintext, ragged EOFs, truncated and forged records, resets
// ---------------------------------------------------------------------------------------------

TEST_CASE("a plaintext server makes the handshake fail with WRONG_VERSION_NUMBER") {
    auto tcp = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    peer_thread server([&] {
        tcp.server.recv(4096);  // the ClientHello
        tcp.server.sendall("HTTP/1.0 400 Bad Request\r\n\r\n");
    });
    auto r = expect_raises<ssl::ssl_error>(
        [&] { client_context().wrap_socket(std::move(tcp.client), false, "localhost"); });
    CHECK(r.what == "[SSL: WRONG_VERSION_NUMBER] wrong version number");
    server.join();
}

TEST_CASE("a plaintext client makes the server's handshake fail") {
    auto tcp = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    tcp.client.sendall("GET / HTTP/1.0\r\n\r\n");
    auto r = expect_raises<ssl::ssl_error>(
        [&] { server_context().wrap_socket(std::move(tcp.server), true); });
    CHECK(r.what == "[SSL: HTTP_REQUEST] http request");
}

TEST_CASE("a peer that closes without close_notify reads as b'' with suppress_ragged_eofs") {
    auto p = connected_pair();
    p.server.sendall("last words");
    p.server.close();  // no close_notify, as Python's close()
    CHECK(p.client.recv(100) == "last words");
    CHECK(p.client.recv(100) == "");
}

TEST_CASE("without suppress_ragged_eofs a missing close_notify raises SSLEOFError") {
    auto p = connected_pair(client_context(), server_context(), false);
    p.server.close();
    auto e = expect_raises<ssl::ssl_eof_error>([&] { p.client.recv(100); });
    CHECK(e.what == "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol");
    CHECK(e.code == std::error_code(ssl::SSL_ERROR_EOF, ssl::ssl_category()));
}

TEST_CASE("a peer that vanishes during the handshake raises SSLEOFError") {
    auto tcp = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    peer_thread server([&] {
        tcp.server.recv(4096);  // the ClientHello, then nothing
        tcp.server.close();
    });
    auto e = expect_raises<ssl::ssl_eof_error>(
        [&] { client_context().wrap_socket(std::move(tcp.client), false, "localhost"); });
    CHECK(e.what.find("EOF occurred in violation of protocol") != std::string::npos);
    server.join();
}

TEST_CASE("a truncated record then EOF is a ragged EOF") {
    auto p = connected_pair(client_context(), server_context(), false);
    // An application-data record header announcing 100 bytes, then 10 of them, then the end.
    const char record[] = "\x17\x03\x03\x00\x64"
                          "0123456789";
    REQUIRE(::send(p.server.fileno(), record, sizeof record - 1, 0) == 15);
    p.server.shutdown(SHUT_WR);
    auto e = expect_raises<ssl::ssl_eof_error>([&] { p.client.recv(100); });
    CHECK(e.what == "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol");
}

TEST_CASE("a forged record after the handshake raises an SSL error, not data") {
    auto p = connected_pair();
    std::string forged = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '\x5a');
    REQUIRE(::send(p.server.fileno(), forged.data(), forged.size(), 0) ==
            static_cast<ssize_t>(forged.size()));
    auto e = expect_raises<ssl::ssl_error>([&] { p.client.recv(100); });
    CHECK(e.what ==
          "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or bad record mac");
}

TEST_CASE("a peer reset during a read raises ConnectionResetError") {
    auto p = connected_pair();
    // A second descriptor for the server's socket: SO_LINGER 0 on it makes the last close an RST.
    auto raw = pysock::socket::from_fd(::dup(p.server.fileno()));
    p.server.close();
    close_with_reset(raw);
    auto e = expect_raises<pysock::connection_reset_error>([&] { p.client.recv(100); });
    CHECK(e.code.value() == ECONNRESET);
}

TEST_CASE("writing to a vanished peer raises an error, never SIGPIPE") {
    auto p = connected_pair();
    p.server.close();
    auto e = expect_raises<pysock::connection_error>([&] {
        for (int i = 0; i < 1000; ++i) p.client.sendall(std::string(65536, 'x'));
    });
    CHECK((e.code.value() == EPIPE || e.code.value() == ECONNRESET));
}

TEST_CASE("failing handshakes leave no descriptor behind") {
    auto before = fd_listing();
    for (const char* name : {"self-signed", "expired", "other"}) {
        auto r = shake_hands(client_context(), server_context(name));
        CHECK(r.client_error);
        CHECK_FALSE(r.client);
    }
    CHECK(fd_listing() == before);
}

// ---------------------------------------------------------------------------------------------
// Timeouts and non-blocking use
// ---------------------------------------------------------------------------------------------

TEST_CASE("a silent server makes the handshake time out within the socket's timeout") {
    auto tcp = connect_tcp(AF_INET, 0.3);
    auto e = expect_raises<pysock::timeout>(
        [&] { client_context().wrap_socket(std::move(tcp.client), false, "localhost"); });
    CHECK(e.what == "The handshake operation timed out");
    CHECK(e.elapsed >= 0.29);
    CHECK(e.elapsed < 0.3 + 2.0);
}

TEST_CASE("a handshake trickled byte by byte still ends within one timeout, whole") {
    // A server that answers the ClientHello with a record header announcing 16 KiB, then one
    // byte every 50 ms: each read makes progress, but the timeout bounds the handshake whole.
    auto tcp = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    tcp.client.settimeout(0.5);
    std::atomic<bool> done{false};
    peer_thread server([&] {
        tcp.server.recv(4096);
        tcp.server.sendall(std::string("\x16\x03\x03\x40\x00", 5));
        while (!done.load()) {  // a workload (a slow peer), not synchronisation
            tcp.server.send(std::string(1, '\x02'));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    auto e = expect_raises<pysock::timeout>(
        [&] { client_context().wrap_socket(std::move(tcp.client), false, "localhost"); });
    done = true;
    server.join();
    CHECK(e.elapsed < 0.5 + 2.0);
}

TEST_CASE("recv on a quiet connection times out: 'The read operation timed out'") {
    auto p = connected_pair();
    p.client.settimeout(0.2);
    auto e = expect_raises<pysock::timeout>([&] { p.client.recv(100); });
    CHECK(e.what == "The read operation timed out");
    CHECK(e.code.value() == ETIMEDOUT);
    p.server.sendall("late");
    p.client.settimeout(SAFETY_TIMEOUT);
    CHECK(p.client.recv(100) == "late");
}

TEST_CASE("sendall to a peer that stops reading times out and says how much was taken") {
    auto p = connected_pair();
    p.client.settimeout(0.3);
    auto e = expect_raises<pysock::timeout>([&] { p.client.sendall(std::string(64 << 20, 'x')); });
    CHECK(e.what == "The write operation timed out");
    CHECK(e.characters_written > 0);
    CHECK(e.characters_written < (64u << 20));
    CHECK(e.elapsed < 0.3 + 2.0);
}

TEST_CASE("non-blocking recv with nothing to read raises SSLWantReadError") {
    auto p = connected_pair();
    p.client.setblocking(false);
    auto e = expect_raises<ssl::ssl_want_read_error>([&] { p.client.recv(100); });
    CHECK(e.what == "The operation did not complete (read)");
    CHECK(e.code == std::error_code(SSL_ERROR_WANT_READ, ssl::ssl_category()));
}

TEST_CASE("two non-blocking ends shake hands and talk in one thread, driven by a selector") {
    auto tcp = connect_tcp();
    tcp.client.setblocking(false);
    tcp.server.setblocking(false);
    auto client = client_context().wrap_socket(std::move(tcp.client), false, "localhost", false);
    auto server = server_context().wrap_socket(std::move(tcp.server), true, std::nullopt, false);
    pysock::selectors::default_selector sel;
    bool client_done = false, server_done = false;
    auto step = [&](ssl::ssl_socket& s, bool& done) {
        if (done) return;
        try {
            s.do_handshake();
            done = true;
        } catch (const ssl::ssl_want_read_error&) {
            sel.register_(s.fileno(), pysock::selectors::EVENT_READ);
        } catch (const ssl::ssl_want_write_error&) {
            sel.register_(s.fileno(), pysock::selectors::EVENT_WRITE);
        }
    };
    int rounds = 0;
    while (!(client_done && server_done)) {
        REQUIRE(++rounds < 100);
        step(client, client_done);
        step(server, server_done);
        if (client_done && server_done) break;
        REQUIRE_FALSE(sel.select(SAFETY_TIMEOUT).empty());
        for (auto fd : {client.fileno(), server.fileno()}) {
            try {
                sel.unregister(fd);
            } catch (const std::out_of_range&) {}
        }
    }
    CHECK(client.version() == "TLSv1.3");
    client.send("in one thread");
    sel.register_(server.fileno(), pysock::selectors::EVENT_READ);
    REQUIRE(sel.select(SAFETY_TIMEOUT).size() == 1);
    pysock::bytes got;
    for (int i = 0; i < 10 && got.size() < 13; ++i) {  // a ticket may come first: want-read again
        try {
            got += server.recv(100);
        } catch (const ssl::ssl_want_read_error&) {
            REQUIRE(sel.select(SAFETY_TIMEOUT).size() == 1);
        }
    }
    CHECK(got == "in one thread");
}

// ---------------------------------------------------------------------------------------------
// Interoperability: Python's ssl module and openssl s_server / s_client
// ---------------------------------------------------------------------------------------------

namespace {
std::vector<std::string> python_peer(std::vector<std::string> args) {
    args.insert(args.begin(), {"python3", source_dir() + "/tests/tls_peer.py"});
    return args;
}
}  // namespace

TEST_CASE("pysock's client talks to Python's ssl server, TLS 1.3 and 1.2, with ALPN" *
          skip_when(!have_program("python3"), "no python3 command on PATH")) {
    for (const char* max : {"1.3", "1.2"}) {
        CAPTURE(max);
        child_process py(python_peer({"server", pki().path("server.pem"), pki().path("server.key"),
                                      "--max", max, "--alpn", "h2,http/1.1"}));
        auto port = last_word(py.read_until("port"));
        auto ctx = client_context();
        ctx.set_alpn_protocols({"http/1.1"});
        auto tls = ctx.wrap_socket(
            pysock::create_connection({"127.0.0.1", std::stoi(port)}, SAFETY_TIMEOUT), false,
            "localhost");
        CHECK(tls.version() == std::string("TLSv") + max);
        CHECK(tls.selected_alpn_protocol() == "http/1.1");
        auto f = tls.makefile("rb");
        tls.sendall("hello python\n");
        CHECK(f.readline() == "hello python\n");
        tls.unwrap().close();  // Python's server then ends its loop (close_notify) and reports
        CHECK(py.read_line() == std::string("version TLSv") + max);
        CHECK(py.read_line() == "alpn http/1.1");
        CHECK(py.wait() == 0);
    }
}

TEST_CASE("Python's ssl client talks to pysock's server, with a client certificate" *
          skip_when(!have_program("python3"), "no python3 command on PATH")) {
    for (const char* max : {"1.3", "1.2"}) {
        CAPTURE(max);
        auto server_ctx = server_context();
        server_ctx.set_alpn_protocols({"h2"});
        server_ctx.verify_mode(ssl::CERT_REQUIRED);
        server_ctx.load_verify_locations(pki().ca());
        auto listener = make_listener();
        listener.settimeout(SAFETY_TIMEOUT);
        child_process py(
            python_peer({"client", std::to_string(listener.getsockname().port), pki().ca(), "--max",
                         max, "--alpn", "h2", "--cert", pki().path("client.pem"), "--key",
                         pki().path("client.key")}));
        auto [conn, addr] = listener.accept();
        conn.settimeout(SAFETY_TIMEOUT);
        auto tls = server_ctx.wrap_socket(std::move(conn), true);
        CHECK(tls.getpeercert()->subject.back().front().second == "pysock client");
        auto line = tls.makefile("rb").readline();
        CHECK(line == "hello from python\n");
        tls.sendall(line);
        CHECK(py.read_line() == "echo hello from python");
        CHECK(py.read_line() == std::string("version TLSv") + max);
        CHECK(py.read_line() == "alpn h2");
        CHECK(tls.recv(10) == "");  // Python's unwrap(): close_notify
        (void)tls.unwrap();
        CHECK(py.wait() == 0);
    }
}

TEST_CASE("pysock's client talks to openssl s_server, TLS 1.3 and 1.2, with ALPN" *
          skip_when(!have_program("openssl"), "no openssl command on PATH")) {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        CAPTURE(version);
        child_process s({"openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-cert",
                         pki().path("server.pem"), "-key", pki().path("server.key"), version,
                         "-alpn", "h2", "-rev"});
        s.close_stdin();  // s_server also serves its stdin; at EOF it ends after the connection
        auto accept_line = s.read_until("ACCEPT");
        REQUIRE(accept_line);
        int port = std::stoi(accept_line->substr(accept_line->rfind(':') + 1));
        auto ctx = client_context();
        ctx.set_alpn_protocols({"h2"});
        auto tls = ctx.wrap_socket(pysock::create_connection({"127.0.0.1", port}, SAFETY_TIMEOUT),
                                   false, "localhost");
        CHECK(tls.version() == (std::string(version) == "-tls1_3" ? "TLSv1.3" : "TLSv1.2"));
        CHECK(tls.selected_alpn_protocol() == "h2");
        auto f = tls.makefile("rb");
        tls.sendall("olleh\n");  // -rev: the server sends each line back reversed
        std::string line;
        for (int i = 0; i < 5 && line != "hello\n"; ++i) line = f.readline();
        CHECK(line == "hello\n");
        tls.sendall("CLOSE\n");     // s_server -rev ends the connection on "CLOSE"
        CHECK(f.readline() == "");  // its close_notify
        f.close();                  // the file and the socket share the connection: close both
        tls.close();
        CHECK(s.wait() == 0);
    }
}

TEST_CASE("openssl s_client talks to pysock's server, TLS 1.3 and 1.2, with ALPN" *
          skip_when(!have_program("openssl"), "no openssl command on PATH")) {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        CAPTURE(version);
        auto server_ctx = server_context();
        server_ctx.set_alpn_protocols({"http/1.1", "h2"});
        auto listener = make_listener();
        listener.settimeout(SAFETY_TIMEOUT);
        child_process c({"openssl", "s_client", "-connect",
                         "127.0.0.1:" + std::to_string(listener.getsockname().port), "-servername",
                         "localhost", "-verify_hostname", "localhost", "-CAfile", pki().ca(),
                         "-verify_return_error", version, "-alpn", "h2", "-ign_eof", "-quiet"});
        auto [conn, addr] = listener.accept();
        conn.settimeout(SAFETY_TIMEOUT);
        auto tls = server_ctx.wrap_socket(std::move(conn), true);
        CHECK(tls.selected_alpn_protocol() == "h2");
        CHECK(SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name) ==
              std::string("localhost"));
        c.write("hello openssl\n");
        CHECK(tls.makefile("rb").readline() == "hello openssl\n");
        tls.sendall("reply from pysock\n");
        CHECK(c.read_until("reply from pysock"));
        (void)tls.unwrap();  // close_notify: s_client ends
        c.close_stdin();
        CHECK(c.wait() == 0);  // -verify_return_error: 0 only if it verified our certificate
    }
}

TEST_CASE("without do_handshake_on_connect, the first recv and send shake hands") {
    auto tcp = connect_tcp(AF_INET, SAFETY_TIMEOUT);
    auto server_ctx = server_context();
    peer_thread server([&] {
        auto tls = server_ctx.wrap_socket(std::move(tcp.server), true, std::nullopt, false);
        tls.sendall(tls.recv(100));
    });
    auto tls = client_context().wrap_socket(std::move(tcp.client), false, "localhost", false);
    CHECK_FALSE(tls.version());  // not yet
    tls.sendall("implicit");
    CHECK(tls.recv(100) == "implicit");
    CHECK(tls.version() == "TLSv1.3");
    CHECK(tls.getpeercert());
    server.join();
}

#if defined(__linux__)
// A signal (handler without SA_RESTART) delivered while a TLS read waits in the kernel: the read
// goes on (PEP 475) and returns the data sent after the signal.
namespace {
void check_tls_recv_survives_a_signal(std::optional<double> timeout) {
    auto p = connected_pair();
    p.client.settimeout(timeout);
    signal_handler_guard handler;
    target_thread me;
    peer_thread sender([&] {
        REQUIRE(wait_until_blocked(me.tid));
        me.interrupt();
        REQUIRE(wait_until_signals(1));
        p.server.sendall("after the signal");
    });
    CHECK(p.client.recv(100) == "after the signal");
    sender.join();
    CHECK(signals_caught.load() == 1);
}
}  // namespace

TEST_CASE("a signal during a blocking TLS recv does not end it (EINTR retried)" *
          skip_when(!syscalls_visible(), "/proc/self/task/<tid>/syscall is not readable here")) {
    check_tls_recv_survives_a_signal(std::nullopt);
}

TEST_CASE("a signal during a TLS recv with a timeout does not end it (EINTR retried)" *
          skip_when(!syscalls_visible(), "/proc/self/task/<tid>/syscall is not readable here")) {
    check_tls_recv_survives_a_signal(SAFETY_TIMEOUT);
}
#endif
