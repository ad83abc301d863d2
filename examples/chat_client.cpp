// chat_client.cpp - the course's "Exercice 3", client side: a two-person chat, turn by turn.
//
// Protocol (the same in chat_server.cpp):
//   - once connected, the client's user types a message, which is sent to the server;
//   - the server's user reads it and types the answer, which is sent back; and so on, in turn;
//   - until either side sends "fini": then the client closes the connection and the server goes
//     back to waiting for the next client.
// TCP carries a stream of bytes, not messages: one recv() may return half a message, or two.
// So every message is one line of UTF-8 text ending in '\n', and makefile().readline() cuts the
// stream back into lines (Python: `client.makefile("rb").readline()`).
//
// Build: c++ -std=c++17 -Iinclude examples/chat_client.cpp -pthread -o chat_client
// Run:   ./chat_client [HOST [PORT]]          (defaults: localhost 63000), with ./chat_server running;
//        from another machine: ./chat_client 192.168.1.44   (the server's address)
// At the end of its standard input (Ctrl-D), the client sends "fini".
// Exit code: 0 after "fini" from either side, 1 if the server could not be reached or left.
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

}  // namespace

int main(int argc, char** argv) {
    //  > HOST, PORT = "localhost", 63000      # the server's address (another machine: its IP)
    std::string HOST = "localhost";
    int PORT = 63000;
    const char* usage = "usage: chat_client [HOST [PORT]]   (defaults: localhost 63000)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

    //  > client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    //  > client.connect((HOST, PORT))
    pysock::socket client(AF_INET, SOCK_STREAM);
    try {
        client.connect({HOST, PORT});
    } catch (const pysock::error& e) {  // e.g. [Errno 111] Connection refused
        std::cerr << "chat_client: connexion impossible à " << pysock::address(HOST, PORT) << " : "
                  << e.what() << '\n';
        return 1;
    }
    std::cout << "Connecté au serveur " << client.getpeername() << ". Tapez « fini » pour terminer."
              << std::endl;

    //  > lignes = client.makefile("rb")
    pysock::socket_file lignes = client.makefile("rb");
    try {
        //  > while True:
        while (true) {
            //  > message = input("Vous : ")
            //  > client.sendall((message + "\n").encode())
            std::string message;
            ask("Vous : ", message);
            send_line(client, message);
            if (message == "fini") {
                std::cout << "Discussion terminée." << std::endl;
                break;
            }
            //  > reponse = lignes.readline()
            std::optional<std::string> reponse = example::read_message(lignes);
            if (!reponse) {  // the server left without "fini"
                std::cout << "Serveur déconnecté." << std::endl;
                return 1;
            }
            std::cout << "Serveur : " << *reponse << std::endl;
            if (*reponse == "fini") {
                std::cout << "Le serveur a terminé la discussion." << std::endl;
                break;
            }
        }
    } catch (const pysock::error& e) {  // e.g. [Errno 32] Broken pipe
        std::cout << "Serveur déconnecté (" << e.what() << ")." << std::endl;
        return 1;
    } catch (const std::length_error&) {
        std::cout << "Serveur déconnecté (message trop long)." << std::endl;
        return 1;
    }
    // la connexion côté client est alors fermée
    //  > client.close()
    client.close();
    return 0;
}
