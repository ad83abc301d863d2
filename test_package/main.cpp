// pysock consumer: a socketpair round trip. Exits 0 only when both directions deliver the bytes
// and the header's version macros match the packaged version.
#include <pysock/socket.hpp>

#include <iostream>
#include <string>

namespace {
pysock::bytes recv_exactly(pysock::socket& s, std::size_t n) {
    pysock::bytes got;
    while (got.size() < n) {
        pysock::bytes chunk = s.recv(n - got.size());
        if (chunk.empty()) break;  // EOF before n bytes
        got += chunk;
    }
    return got;
}
}  // namespace

int main() {
    const std::string version = std::to_string(PYSOCK_VERSION_MAJOR) + "." +
                                std::to_string(PYSOCK_VERSION_MINOR) + "." +
                                std::to_string(PYSOCK_VERSION_PATCH);
#ifdef PYSOCK_EXPECTED_VERSION
    if (version != PYSOCK_EXPECTED_VERSION) {
        std::cerr << "header says " << version << ", package says " << PYSOCK_EXPECTED_VERSION
                  << "\n";
        return 1;
    }
#endif
    auto [a, b] = pysock::socketpair();
    a.settimeout(5.0);  // a bug fails with pysock::timeout instead of hanging
    b.settimeout(5.0);
    a.sendall("ping");
    const pysock::bytes ping = recv_exactly(b, 4);
    b.sendall("pong");
    const pysock::bytes pong = recv_exactly(a, 4);
    if (ping != "ping" || pong != "pong") {
        std::cerr << "round trip failed: " << pysock::repr(ping) << " " << pysock::repr(pong)
                  << "\n";
        return 1;
    }
    std::cout << "pysock " << version << ": socketpair round trip ok (" << pysock::repr(ping)
              << ", " << pysock::repr(pong) << ")\n";
    return 0;
}
