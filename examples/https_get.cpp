// https_get.cpp - the HTTPS GET a user writes first: urllib.request.urlopen(url) by hand, with
// pysock's socket and ssl modules. Verifies the server (system trust store, or --cafile), sends
// SNI, speaks HTTP/1.1 with "Connection: close", and prints the status line on stderr and the
// body on stdout. The Python it mirrors:
//
//     context = ssl.create_default_context(cafile=CAFILE)
//     with socket.create_connection((host, port), timeout=10) as sock:
//         with context.wrap_socket(sock, server_hostname=host) as tls:
//             tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
//             f = tls.makefile("rb")
//             status = f.readline()
//             ...headers until an empty line, then the body to the end...
//
// Build: c++ -std=c++17 -Iinclude examples/https_get.cpp -pthread -lssl -lcrypto -o https_get
// Run:   ./https_get https://localhost:8443/hello.txt --cafile cert.pem
//        (a server for it: README.md, "TLS: the ssl module")
#include <pysock/ssl.hpp>

#include "support.hpp"

#include <iostream>
#include <optional>
#include <string>

namespace {

struct url_parts {
    std::string host;
    int port = 443;
    std::string path = "/";
};

// https://host[:port][/path]; nullopt for anything else.
std::optional<url_parts> parse_https_url(const std::string& url) {
    const std::string scheme = "https://";
    if (url.compare(0, scheme.size(), scheme) != 0) return std::nullopt;
    url_parts u;
    std::string rest = url.substr(scheme.size());
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
        u.path = rest.substr(slash);
        rest.resize(slash);
    }
    auto colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find(']') == std::string::npos) {
        u.port = example::parse_port(rest.substr(colon + 1));
        if (u.port <= 0) return std::nullopt;
        rest.resize(colon);
    }
    if (rest.empty()) return std::nullopt;
    u.host = rest;
    return u;
}

}  // namespace

int main(int argc, char** argv) {
    const char* usage = "usage: https_get https://HOST[:PORT][/PATH] [--cafile CAFILE]\n";
    if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--cafile"))
        return example::bad_arguments(usage);
    auto url = parse_https_url(argv[1]);
    if (!url) return example::bad_arguments(usage);
    try {
        auto context = argc == 4 ? pysock::ssl::create_default_context(
                                       pysock::ssl::purpose::server_auth, std::string(argv[3]))
                                 : pysock::ssl::create_default_context();
        auto tls = context.wrap_socket(pysock::create_connection({url->host, url->port}, 10.0),
                                       false, url->host);
        tls.sendall("GET " + url->path + " HTTP/1.1\r\nHost: " + url->host +
                    "\r\nUser-Agent: pysock-https_get\r\nConnection: close\r\n\r\n");
        auto f = tls.makefile("rb");
        std::string status = f.readline(65537);
        std::cerr << status;
        for (std::string line = f.readline(65537); line != "\r\n" && line != "\n" && !line.empty();
             line = f.readline(65537)) {}
        std::cout << f.read() << std::flush;  // the body, to the server's close (not de-chunked)
        // "HTTP/1.1 200 OK": success only for a 2xx status.
        return status.size() > 9 && status[9] == '2' ? 0 : 1;
    } catch (const pysock::error& e) {
        std::cerr << "https_get: " << e.what() << '\n';
        return 1;
    }
}
