// ex1_server.cpp - the course's "Exercice 1": a server that answers « Présent ! ».
//
// The course gives only the steps; the `//  >` lines are a Python solution, and each C++
// statement sits under the Python line it translates.
//
// Build: c++ -std=c++17 -Iinclude examples/ex1_server.cpp -pthread -o ex1_server
// Run:   ./ex1_server [HOST [PORT]]         (defaults: "" (every interface) 63000)
//        then, in another terminal: ./ex2_client
// Prints the client's address and its message, sends the message back followed by "\nPrésent !",
// and closes both sockets.
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
    //  > HOST, PORT = "", 63000          # "" = every interface of this machine
    std::string HOST = "";
    int PORT = 63000;
    const char* usage = "usage: ex1_server [HOST [PORT]]   (defaults: \"\" (every interface) 63000)\n";
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
        // - crée un socket d'écoute et l'associe au port 63000
        //  > serveur = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        pysock::socket serveur(AF_INET, SOCK_STREAM);
        //  > serveur.bind((HOST, PORT))
        serveur.bind({HOST, PORT});
        // - le met à l'état d'écoute et attend qu'un client s'y connecte
        //  > serveur.listen()
        serveur.listen();
        //  > connexion, adresse = serveur.accept()
        auto [connexion, adresse] = serveur.accept();
        // - affiche l'adresse du client qui vient de se connecter
        //  > print(f"Client connecté : {adresse}")
        std::cout << "Client connecté : " << adresse << std::endl;
        // - attend la réception d'un message de la part du client
        //  > message = connexion.recv(1024)
        //  > print(f"Message reçu : {message!r}")
        // One recv() is enough for this exercise: the client sends one short message and waits for
        // the answer, so there is no end-of-message mark to look for (the chat, exercise 3, has one).
        pysock::bytes message = connexion.recv(1024);
        std::cout << "Message reçu : " << pysock::repr(message) << std::endl;
        // - le renvoie aussitôt au client en rajoutant à la fin : « \nPrésent ! »
        //  > connexion.sendall(message + "\nPrésent !".encode())
        if (!message.empty())  // b'': the client left without a word; nobody to answer
            connexion.sendall(message + "\nPrésent !");
        // - ferme les connexions
        //  > connexion.close()
        //  > serveur.close()
        connexion.close();
        serveur.close();
    } catch (const pysock::error& e) {  // Python would print a traceback: OSError: [Errno 98] ...
        std::cerr << "ex1_server: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
