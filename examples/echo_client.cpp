// echo_client.cpp - the course's "Exemple 2 : Client", written with pysock.
//
// Each C++ statement sits under the Python line of the course it translates (the `//  >` lines).
//
// Build: c++ -std=c++17 -Iinclude examples/echo_client.cpp -pthread -o echo_client
// Run:   ./echo_client [HOST [PORT]]        (defaults: 127.0.0.1 65432)
//        with ./echo_server running; from another machine: ./echo_client 192.168.1.44
// Sends b'Bonjour' and prints `Received b'Bonjour'`.
#include <pysock/socket.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <unistd.h>

namespace {

// Ctrl-C: Python raises KeyboardInterrupt, and its `with` blocks close the sockets. A C++ signal
// handler must not throw, so we leave at once; the OS closes every socket of the process.
// Only async-signal-safe calls here (write, _Exit); 130 = 128 + SIGINT, what shells expect.
extern "C" void on_ctrl_c(int) {
    const char msg[] = "\nInterrompu (Ctrl-C).\n";
    ssize_t n = ::write(2, msg, sizeof msg - 1);
    (void)n;
    std::_Exit(130);
}

// "[HOST [PORT]]": the course's HOST and PORT constants, overridable from the command line.
bool parse_args(int argc, char** argv, std::string& host, int& port) {
    if (argc > 3) return false;
    if (argc >= 2) host = argv[1];
    if (argc == 3) {
        const std::string p = argv[2];
        if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
        port = std::stoi(p);
    }
    if (!host.empty() && host[0] == '-') return false;  // an unknown option, not a host
    return port <= 65535;
}

}  // namespace

int main(int argc, char** argv) {
    //  > HOST = "192.168.1.44"  # Server interface address
    //  > PORT = 65432  # Port to connect on (non-privileged ports are > 1023)
    // The course's 192.168.1.44 is the server's address on its LAN; by default we talk to this machine.
    std::string HOST = "127.0.0.1";
    int PORT = 65432;
    const char* usage =
        "usage: echo_client [HOST [PORT]]   (defaults: 127.0.0.1 65432; e.g. echo_client 192.168.1.44)\n";
    if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
        std::cout << usage;
        return 0;
    }
    if (!parse_args(argc, argv, HOST, PORT)) {
        std::cerr << usage;
        return 2;
    }
    std::signal(SIGINT, on_ctrl_c);

    try {
        pysock::bytes data;
        {
            //  > with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            pysock::socket server(AF_INET, SOCK_STREAM);  // closed at the closing brace
            //  >     server.connect((HOST, PORT))
            server.connect({HOST, PORT});
            //  >     server.sendall(b'Bonjour')
            server.sendall("Bonjour");
            //  >     data = server.recv(1024)
            data = server.recv(1024);
        }
        //  > print(f"Received {data!r}")
        std::cout << "Received " << pysock::repr(data) << std::endl;
    } catch (const pysock::error& e) {  // Python would print a traceback: ConnectionRefusedError: ...
        std::cerr << "echo_client: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
