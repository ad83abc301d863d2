// A pysock consumer with socket.hpp and selectors.hpp copied next to it (scripts/stages/40-consumers.sh):
// c++ -std=c++17 event_loop.cpp -pthread. selectors.hpp finds socket.hpp beside itself.
#include "selectors.hpp"

#include <iostream>

int main() {
    auto [a, b] = pysock::socketpair();
    pysock::selectors::default_selector selector;
    selector.register_(b, pysock::selectors::EVENT_READ);
    a.sendall("hello from pysock");
    if (selector.select(10.0).size() != 1) {  // bounded: a broken build fails, never hangs CI
        std::cerr << "the socket never became readable\n";
        return 1;
    }
    pysock::bytes received = b.recv(4096);
    std::cout << "pysock " << PYSOCK_VERSION_MAJOR << '.' << PYSOCK_VERSION_MINOR << '.'
              << PYSOCK_VERSION_PATCH << ": received " << pysock::repr(received)
              << " (through a selector)\n";
    return received == "hello from pysock" ? 0 : 1;
}
