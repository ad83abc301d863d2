// chat_server.cpp - the course's "Exercice 3", server side: a two-person chat, turn by turn.
//
// Protocol (the same in chat_client.cpp):
//   - once connected, the client's user types a message, which is sent to the server;
//   - the server's user reads it and types the answer, which is sent back; and so on, in turn;
//   - until either side sends "fini": then the client closes the connection and the server goes
//     back to waiting for the next client.
// TCP carries a stream of bytes, not messages: one recv() may return half a message, or two.
// So every message is one line of UTF-8 text ending in '\n', and makefile().readline() cuts the
// stream back into lines (Python: `connexion.makefile("rb").readline()`).
//
// Build: c++ -std=c++17 -Iinclude examples/chat_server.cpp -pthread -o chat_server
// Run:   ./chat_server [HOST [PORT]]          (defaults: 0.0.0.0 63000)
//        then, on the other machine: ./chat_client 192.168.1.44   (this machine's address)
// At the end of its standard input (Ctrl-D), the server answers "fini" and stops.
#include <pysock/socket.hpp>

#include "support.hpp"

#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace {

// One message = one line.
void send_line(pysock::socket& sock, const std::string& message) { sock.sendall(message + "\n"); }

// Python's input(prompt): prints the prompt, reads one line typed by the user. When the standard
// input is not a terminal (a pipe, a file), no terminal shows what was read, so we print it: the
// transcript reads the same. At the end of the input (Ctrl-D) the user is taken to have typed "fini".
bool ask(const char* prompt, std::string& line) {
    std::cout << prompt << std::flush;
    if (!std::getline(std::cin, line)) {
        line = "fini";
        std::cout << line << std::endl;
        return false;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!::isatty(0)) std::cout << line << '\n';
    std::cout << std::flush;
    return true;
}

// One conversation with a connected client. Returns false when our own user is gone (end of input).
bool converse(pysock::socket& connexion) {
    //  > lignes = connexion.makefile("rb")
    pysock::socket_file lignes = connexion.makefile("rb");
    try {
        while (true) {
            //  > message = lignes.readline()
            std::optional<std::string> message = example::read_message(lignes);
            if (!message) {  // the client left without "fini"
                std::cout << "Client déconnecté." << std::endl;
                return true;
            }
            std::cout << "Client : " << *message << std::endl;
            if (*message == "fini") {
                std::cout << "Le client a terminé la discussion." << std::endl;
                return true;
            }
            //  > reponse = input("Vous : ")
            std::string reponse;
            const bool user_here = ask("Vous : ", reponse);
            //  > connexion.sendall((reponse + "\n").encode())
            send_line(connexion, reponse);
            if (reponse == "fini") {
                std::cout << "Discussion terminée." << std::endl;
                return user_here;
            }
        }
    } catch (const pysock::error& e) {  // e.g. [Errno 104] Connection reset by peer
        std::cout << "Client déconnecté (" << e.what() << ")." << std::endl;
    } catch (const std::length_error&) {
        std::cout << "Client déconnecté (message trop long)." << std::endl;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    //  > HOST, PORT = "0.0.0.0", 63000        # every interface: the client is on another machine
    std::string HOST = "0.0.0.0";
    int PORT = 63000;
    const char* usage = "usage: chat_server [HOST [PORT]]   (defaults: 0.0.0.0 63000)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

    try {
        //  > serveur = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        //  > serveur.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        //  > serveur.bind((HOST, PORT))
        //  > serveur.listen()
        pysock::socket serveur(AF_INET, SOCK_STREAM);
        serveur.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);  // restart at once after Ctrl-C
        serveur.bind({HOST, PORT});
        serveur.listen();
        //  > while True:
        while (true) {
            //  > print("En attente d'un client...")
            //  > connexion, adresse = serveur.accept()
            std::cout << "En attente d'un client..." << std::endl;
            auto [connexion, adresse] = serveur.accept();
            std::cout << "Connexion de " << adresse << std::endl;
            const bool user_here = converse(connexion);
            //  > connexion.close()
            connexion.close();
            if (!user_here) {
                std::cout << "Fin de l'entrée : arrêt du serveur." << std::endl;
                return 0;
            }
        }
    } catch (const pysock::error& e) {  // Python would print a traceback: OSError: [Errno 98] ...
        std::cerr << "chat_server: " << e.what() << '\n';
        return 1;
    }
}
