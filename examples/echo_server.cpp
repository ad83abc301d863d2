// echo_server.cpp - the course's "Example 1 : Echo Server", written with pysock.
//
// Each C++ statement sits under the Python line of the course it translates (the `//  >` lines),
// so the two can be read side by side. The course's names (`client`, `connection`, ...) are kept.
//
// Build: c++ -std=c++17 -Iinclude examples/echo_server.cpp -pthread -o echo_server
// Run:   ./echo_server [HOST [PORT]]        (defaults: 0.0.0.0 65432)
//        then, in another terminal: ./echo_client
// Prints `Connected by ('127.0.0.1', 40522)`, then every chunk it receives, the way Python prints
// bytes (b'Bonjour'), and sends it back. Stops when it receives exactly b'\r\n' (as in the course)
// or when the client closes the connection (the course's version would print b'' forever).
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
    //  > HOST = "0.0.0.0"  # Any interface address (localhost)
    //  > PORT = 65432  # Port to listen on (non-privileged ports are > 1023)
    std::string HOST = "0.0.0.0";
    int PORT = 65432;
    const char* usage = "usage: echo_server [HOST [PORT]]   (defaults: 0.0.0.0 65432)\n";
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
        //  > with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        pysock::socket client(AF_INET, SOCK_STREAM);  // closed when `client` goes out of scope
        //  >     client.bind((HOST, PORT))
        client.bind({HOST, PORT});
        //  >     client.listen()
        client.listen();
        //  >     connection, address = client.accept()
        auto [connection, address] = client.accept();
        //  >     print(f"Connected by {address}")
        std::cout << "Connected by " << address << std::endl;
        //  >     with connection:
        //  >         while True:
        while (true) {
            //  >         data = connection.recv(1024)
            pysock::bytes data = connection.recv(1024);
            //  >         if data == (b'\r\n'):
            //  >             break
            if (data == "\r\n") break;
            // Not in the course: recv() returns b'' once the client has closed the connection.
            if (data.empty()) break;
            //  >         print(data)
            std::cout << pysock::repr(data) << std::endl;
            //  >         connection.sendall(data)
            connection.sendall(data);
        }
    } catch (const pysock::error& e) {  // Python would print a traceback: OSError: [Errno 98] ...
        std::cerr << "echo_server: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
