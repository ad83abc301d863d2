// multi_server_helper.cpp - the course's multi-connection server again, this time with
// pysock::threading_tcp_server (Python's socketserver.ThreadingTCPServer): the server makes one
// thread per client, closes each connection when the handler returns, and stops cleanly on Ctrl-C.
// Compare with multi_server.cpp, where the course's ClientThread class does all that by hand.
//
// The `//  >` lines are the same program in Python, with socketserver; each C++ statement sits
// under the Python line it translates.
//
// Build: c++ -std=c++17 -Iinclude examples/multi_server_helper.cpp -pthread -o multi_server_helper
// Run:   ./multi_server_helper [HOST [PORT]]      (defaults: "" (every interface) 65432)
// Prints "En écoute...", and for each client "[+] Nouveau thread pour 127.0.0.1 40522",
// "Connexion de 127.0.0.1 40522", the bytes received (b'Bonjour'), "Client déconnecté...".
// Stop it with Ctrl-C.
#include <pysock/socket.hpp>

#include "support.hpp"

#include <csignal>
#include <iostream>
#include <mutex>
#include <string>

namespace {

// Python's print() writes each line in one piece; std::cout from several threads could mix the
// pieces of two lines, so one mutex lets one thread print at a time.
std::mutex print_mutex;
void print(const std::string& line) {
    std::lock_guard<std::mutex> lock(print_mutex);
    std::cout << line << std::endl;
}

//  > class ClientHandler(socketserver.BaseRequestHandler):
//  >     def handle(self):
//  >         ip, port = self.client_address
//  >         print("[+] Nouveau thread pour %s %s" % (ip, port))
//  >         print("Connexion de %s %s" % (ip, port))
//  >         data = self.request.recv(2048)
//  >         print(data)
//  >         print("Client déconnecté...")      # the server closes self.request after handle()
// The server calls handle() in the client's own thread, with the connected socket (Python's
// self.request) and the client's address (self.client_address).
void handle(pysock::socket& request, const pysock::address& client_address) {
    const std::string who = client_address.host + " " + std::to_string(client_address.port);
    print("[+] Nouveau thread pour " + who);
    print("Connexion de " + who);
    pysock::bytes data = request.recv(2048);
    print(pysock::repr(data));
    print("Client déconnecté...");
}  // returning closes the connection (an exception would too, and end only this client)

}  // namespace

int main(int argc, char** argv) {
    std::string HOST = "";  // "" = every interface
    int PORT = 65432;
    const char* usage =
        "usage: multi_server_helper [HOST [PORT]]   (defaults: \"\" (every interface) 65432)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;

    try {
        //  > with socketserver.ThreadingTCPServer((HOST, PORT), ClientHandler) as server:
        pysock::threading_tcp_server server({HOST, PORT}, handle);  // binds and listens
        // Ctrl-C (SIGINT) makes serve_forever() return; Python would raise KeyboardInterrupt.
        server.shutdown_on_signals();
        //  >     print("En écoute...")
        print("En écoute...");
        //  >     server.serve_forever()
        server.serve_forever();
        if (server.shutdown_signal() == SIGINT) {
            std::cerr << "\nInterrompu (Ctrl-C).\n";
            return 130;  // 128 + SIGINT, as the other examples
        }
    } catch (const pysock::error& e) {  // Python would print a traceback: OSError: [Errno 98] ...
        std::cerr << "multi_server_helper: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
