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
    //  > HOST, PORT = "localhost", 63000   # 'localhost': the loopback interface, 127.0.0.1
    std::string HOST = "localhost";
    int PORT = 63000;
    const char* usage = "usage: ex2_client [HOST [PORT]]   (defaults: localhost 63000)\n";
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
    } catch (const pysock::error& e) {  // Python would print a traceback: ConnectionRefusedError: ...
        std::cerr << "ex2_client: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
