// fuzz_tls_handshake.cpp - libFuzzer target: arbitrary bytes sent to the server side of a TLS
// handshake (pysock/ssl.hpp).
//
// The input is everything a client sends: it goes into one end of a socket pair, then end of
// stream; the other end is wrapped server-side (a context with a certificate made once, at start,
// by tests/tls_certs.hpp). The handshake must end with an exception of pysock's tree (ssl_error,
// ssl_eof_error, error, timeout: a bad peer is a clear error) and nothing else: no crash, no
// other exception type, no leak (ASan's leak checker), no descriptor left open. If an input ever
// completes a handshake, reading must end the same way.
//
// Seeds (fuzz/corpus/fuzz_tls_handshake): real ClientHellos (TLS 1.3 and 1.2-only, with SNI and
// ALPN), a plaintext HTTP request, and a truncated record.
#include <pysock/ssl.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_check.hpp"
#include "tests/tls_certs.hpp"

namespace {

pysock::ssl::ssl_context& server_context() {
    static pysock::ssl::ssl_context ctx = [] {
        char dir[] = "/tmp/pysock-fuzz-tls-XXXXXX";
        FUZZ_CHECK(::mkdtemp(dir) != nullptr, "mkdtemp");
        pysock_tls_certs::test_pki pki(dir);
        pysock::ssl::ssl_context c(pysock::ssl::PROTOCOL_TLS_SERVER);
        c.load_cert_chain(pki.path("server.pem"), pki.path("server.key"));
        c.set_alpn_protocols({"h2", "http/1.1"});
        std::system(("rm -rf " + std::string(dir)).c_str());  // loaded: the files can go
        return c;
    }();
    return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& ctx = server_context();
    auto [client, server] = pysock::socketpair(AF_UNIX, SOCK_STREAM);
    server.settimeout(5.0);
    client.sendall(std::string(reinterpret_cast<const char*>(data), size));
    client.shutdown(SHUT_WR);  // then end of stream: the handshake cannot wait for more
    try {
        auto tls = ctx.wrap_socket(std::move(server), true);
        tls.recv(1024);
    } catch (const pysock::error&) {
        // the expected end: a bad client is an exception of pysock's tree
    }
    return 0;
}
