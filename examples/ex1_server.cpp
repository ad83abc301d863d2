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

#include "support.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    //  > HOST, PORT = "", 63000          # "" = every interface of this machine
    std::string HOST = "";
    int PORT = 63000;
    const char* usage =
        "usage: ex1_server [HOST [PORT]]   (defaults: \"\" (every interface) 63000)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

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
