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

#include "support.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    //  > HOST = "0.0.0.0"  # Any interface address (localhost)
    //  > PORT = 65432  # Port to listen on (non-privileged ports are > 1023)
    std::string HOST = "0.0.0.0";
    int PORT = 65432;
    const char* usage = "usage: echo_server [HOST [PORT]]   (defaults: 0.0.0.0 65432)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

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
