// compile_cost: the course's client (Example 2) with pysock.
#include <pysock/socket.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const char* host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? std::atoi(argv[2]) : 65432;
    try {
        pysock::socket s(AF_INET, SOCK_STREAM);
        s.connect({host, port});
        s.sendall("Bonjour");
        pysock::bytes data = s.recv(1024);
        std::printf("Received %s\n", pysock::repr(data).c_str());
    } catch (const pysock::error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
