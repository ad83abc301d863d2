// ex2_client.cpp - the course's "Exercice 2": a client that asks « Serveur es-tu là ? ».
//
// The course gives only the steps; the `//  >` lines are a Python solution, and each C++
// statement sits under the Python line it translates.
//
// Build: c++ -std=c++17 -Iinclude examples/ex2_client.cpp -pthread -o ex2_client
// Run:   ./ex2_client [HOST [PORT]]         (defaults: localhost 63000), with ./ex1_server running
// Prints the server's answer:
//     Serveur es-tu là ?
//     Présent !
#include <pysock/socket.hpp>

#include "support.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    //  > HOST, PORT = "localhost", 63000   # 'localhost': the loopback interface, 127.0.0.1
    std::string HOST = "localhost";
    int PORT = 63000;
    const char* usage = "usage: ex2_client [HOST [PORT]]   (defaults: localhost 63000)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

    try {
        // - crée un socket
        //  > client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        pysock::socket client(AF_INET, SOCK_STREAM);
        // - demande une connexion au serveur d'adresse ('localhost', 63000)
        //  > client.connect((HOST, PORT))
        client.connect({HOST, PORT});  // a host name is resolved, as in Python
        // - envoie un message « Serveur es-tu là ? »
        //  > client.sendall("Serveur es-tu là ?".encode())
        client.sendall("Serveur es-tu là ?");  // this file is UTF-8, so the string already is bytes
        // - affiche la réponse du serveur
        //  > reponse = b""
        //  > while data := client.recv(1024):   # until the server closes: the whole answer
        //  >     reponse += data
        //  > print(reponse.decode())
        pysock::bytes reponse;
        while (true) {
            pysock::bytes data = client.recv(1024);
            if (data.empty()) break;  // b'': the server has closed the connection
            reponse += data;
        }
        std::cout << reponse << std::endl;  // UTF-8 bytes, printed as text (Python's .decode())
        // - ferme la connexion
        //  > client.close()
        client.close();
    } catch (
        const pysock::error& e) {  // Python would print a traceback: ConnectionRefusedError: ...
        std::cerr << "ex2_client: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
