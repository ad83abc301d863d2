// tls_echo_client.cpp - echo_client under TLS: the course's client, plus a context that trusts
// the server's certificate and a wrap_socket(). The Python it mirrors:
//
//     context = ssl.create_default_context(cafile=CAFILE)
//     with socket.create_connection((HOST, PORT)) as sock:
//         with context.wrap_socket(sock, server_hostname=HOST) as tls:
//             tls.sendall(b'Bonjour')
//             data = tls.recv(1024)
//     print(f"Received {data!r}")
//
// Build: c++ -std=c++17 -Iinclude examples/tls_echo_client.cpp -pthread -lssl -lcrypto -o tls_echo_client
// Run:   ./tls_echo_client 127.0.0.1 8443 cert.pem [MESSAGE]   (with ./tls_echo_server running)
#include <pysock/ssl.hpp>

#include "support.hpp"

#include <iostream>
#include <string>

int main(int argc, char** argv) {
    const char* usage = "usage: tls_echo_client HOST PORT CAFILE [MESSAGE]\n";
    if (argc != 4 && argc != 5) return example::bad_arguments(usage);
    int port = example::parse_port(argv[2]);
    if (port < 0) return example::bad_arguments(usage);
    std::string message = argc == 5 ? argv[4] : "Bonjour";
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);
    try {
        auto context =
            pysock::ssl::create_default_context(pysock::ssl::purpose::server_auth, argv[3]);
        pysock::bytes data;
        {
            auto tls = context.wrap_socket(pysock::create_connection({argv[1], port}, 10.0), false,
                                           std::string(argv[1]));
            std::cout << "Connected with " << *tls.version() << ", " << tls.cipher()->name
                      << std::endl;
            tls.sendall(message);
            data = tls.recv(1024);
        }
        std::cout << "Received " << pysock::repr(data) << std::endl;
    } catch (const pysock::error& e) {  // ssl errors included: certificate refused, ...
        std::cerr << "tls_echo_client: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
