// A pysock consumer with only socket.hpp copied next to it: c++ -std=c++17 main.cpp -pthread
// (scripts/stages/40-consumers.sh builds it exactly so, then runs it.)
#include "socket.hpp"  // copied next to this file: nothing else of pysock is needed

#include <iostream>

int main() {
    auto [a, b] = pysock::socketpair();
    b.settimeout(10.0);  // a broken build fails with pysock::timeout, never hangs CI
    const pysock::bytes sent = "hello from pysock";
    a.sendall(sent);
    a.shutdown(SHUT_WR);
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
