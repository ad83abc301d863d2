// A pysock consumer (tests/packaging): opens a socketpair, sends, receives, compares, exits 0.
// Built by scripts/stages/40-consumers.sh each way a user can get pysock (add_subdirectory,
// FetchContent, find_package, pkg-config, Meson); copy-header/main.cpp is the same program for
// the copied header.
#include <pysock/selectors.hpp>  // and through it <pysock/socket.hpp>: both headers are installed

#include <iostream>

int main() {
    auto [a, b] = pysock::socketpair();
    b.settimeout(10.0);  // a broken build fails with pysock::timeout, never hangs CI
    const pysock::bytes sent = "hello from pysock";
    a.sendall(sent);
    a.shutdown(SHUT_WR);
    pysock::selectors::default_selector selector;
    selector.register_(b, pysock::selectors::EVENT_READ);
    if (selector.select(10.0).empty()) {
        std::cerr << "the socket never became readable\n";
        return 1;
    }
    pysock::bytes received;
    for (auto chunk = b.recv(4096); !chunk.empty(); chunk = b.recv(4096)) received += chunk;
    if (received != sent) {
        std::cerr << "sent " << pysock::repr(sent) << ", received " << pysock::repr(received)
                  << '\n';
        return 1;
    }
    std::cout << "pysock " << PYSOCK_VERSION_MAJOR << '.' << PYSOCK_VERSION_MINOR << '.'
              << PYSOCK_VERSION_PATCH << ": received " << pysock::repr(received) << '\n';
    return 0;
}
