// A pysock::ssl consumer (tests/packaging): proves ssl.hpp compiles and links against OpenSSL the
// way a user builds it. A client handshake against a plaintext peer over a socketpair must fail
// with OpenSSL's "wrong version number" (no certificate needed), then the program prints
// "pysock X.Y.Z ssl: <the error>" and exits 0.
#include <pysock/ssl.hpp>

#include <iostream>
#include <string>
#include <thread>

int main() {
    auto [client, server] = pysock::socketpair();
    client.settimeout(10.0);  // a broken build fails, never hangs CI
    server.settimeout(10.0);
    std::thread plaintext_peer([&s = server] {
        s.recv(4096);  // the ClientHello
        s.sendall("HTTP/1.0 400 Bad Request\r\n\r\n");
    });
    std::string what;
    try {
        auto ctx = pysock::ssl::create_default_context();
        ctx.wrap_socket(std::move(client), false, "localhost");
    } catch (const pysock::ssl::ssl_error& e) {
        what = e.what();
    }
    plaintext_peer.join();
    if (what != "[SSL: WRONG_VERSION_NUMBER] wrong version number") {
        std::cerr << "unexpected: '" << what << "'\n";
        return 1;
    }
    std::cout << "pysock " << PYSOCK_VERSION_MAJOR << '.' << PYSOCK_VERSION_MINOR << '.'
              << PYSOCK_VERSION_PATCH << " ssl: " << what << " (" << pysock::ssl::openssl_version()
              << ")\n";
    return 0;
}
