// echo_client.cpp - the course's "Exemple 2 : Client", written with pysock.
//
// Each C++ statement sits under the Python line of the course it translates (the `//  >` lines).
//
// Build: c++ -std=c++17 -Iinclude examples/echo_client.cpp -pthread -o echo_client
// Run:   ./echo_client [HOST [PORT]]        (defaults: 127.0.0.1 65432)
//        with ./echo_server running; from another machine: ./echo_client 192.168.1.44
// Sends b'Bonjour' and prints `Received b'Bonjour'`.
#include <pysock/socket.hpp>

#include "support.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    //  > HOST = "192.168.1.44"  # Server interface address
    //  > PORT = 65432  # Port to connect on (non-privileged ports are > 1023)
    // The course's 192.168.1.44 is the server's address on its LAN; by default we talk to this machine.
    std::string HOST = "127.0.0.1";
    int PORT = 65432;
    const char* usage = "usage: echo_client [HOST [PORT]]   (defaults: 127.0.0.1 65432; e.g. "
                        "echo_client 192.168.1.44)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

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
    } catch (
        const pysock::error& e) {  // Python would print a traceback: ConnectionRefusedError: ...
        std::cerr << "echo_client: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
