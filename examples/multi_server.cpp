// multi_server.cpp - the course's "Création d'un serveur multi-connexions": one thread per client,
// with the course's ClientThread class, written with a pysock socket and std::thread.
//
// Each C++ statement sits under the Python line of the course it translates (the `//  >` lines).
// (multi_server_helper.cpp does the same with pysock::threading_tcp_server, Python's
// socketserver.ThreadingTCPServer.)
//
// Build: c++ -std=c++17 -Iinclude examples/multi_server.cpp -pthread -o multi_server
// Run:   ./multi_server [HOST [PORT]]        (defaults: "" (every interface) 65432)
//        then connect several clients at once, e.g. ./echo_client, or: nc localhost 65432
// Prints "En écoute...", and for each client "[+] Nouveau thread pour 127.0.0.1 40522",
// "Connexion de 127.0.0.1 40522", the bytes received (b'Bonjour'), "Client déconnecté...".
// Stop it with Ctrl-C.
#include <pysock/socket.hpp>

#include "support.hpp"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace {

// Python's print() writes each line in one piece; std::cout from several threads could mix the
// pieces of two lines, so one mutex lets one thread print at a time.
std::mutex print_mutex;
void print(const std::string& line) {
    std::lock_guard<std::mutex> lock(print_mutex);
    std::cout << line << std::endl;
}

//  > class ClientThread(threading.Thread):
// std::thread has no run() to override, so ClientThread holds what Python's Thread holds and
// start() runs run() in a new thread. The thread keeps the object alive (a shared_ptr to it) until
// run() returns, as Python keeps a running Thread object alive.
class ClientThread : public std::enable_shared_from_this<ClientThread> {
public:
    //  > def __init__(self, ip, port, clientSocket):
    //  >     threading.Thread.__init__(self)
    //  >     self.ip = ip
    //  >     self.port = port
    //  >     self.clientSocket = clientSocket
    //  >     print("[+] Nouveau thread pour %s %s" % (self.ip, self.port, ))
    ClientThread(std::string ip, int port, pysock::socket clientSocket)
        : ip(std::move(ip)), port(port), clientSocket(std::move(clientSocket)) {
        print("[+] Nouveau thread pour " + this->ip + " " + std::to_string(this->port));
    }

    //  > def run(self):
    //  >     print("Connexion de %s %s" % (self.ip, self.port, ))
    //  >     data = self.clientSocket.recv(2048)
    //  >     print(data)
    //  >     self.clientSocket.close()
    //  >     print("Client déconnecté...")
    void run() {
        print("Connexion de " + ip + " " + std::to_string(port));
        try {
            pysock::bytes data = clientSocket.recv(2048);
            print(pysock::repr(data));
        } catch (const pysock::error& e) {               // e.g. the client reset the connection
            print(std::string("Erreur : ") + e.what());  // (Python: a traceback, this thread only)
        }
        clientSocket.close();
        print("Client déconnecté...");
    }

    // threading.Thread.start(): run() in a new thread. Nobody waits for it (no join), as in the
    // course; detach() lets it finish on its own.
    void start() {
        std::thread([self = shared_from_this()] { self->run(); }).detach();
    }

private:
    std::string ip;
    int port;
    pysock::socket clientSocket;
};

}  // namespace

int main(int argc, char** argv) {
    std::string HOST = "";  // the course binds ('', 65432): "" = every interface
    int PORT = 65432;
    const char* usage =
        "usage: multi_server [HOST [PORT]]   (defaults: \"\" (every interface) 65432)\n";
    if (int status = example::host_port_args(argc, argv, HOST, PORT, usage); status >= 0)
        return status;
    example::exit_on_ctrl_c("\nInterrompu (Ctrl-C).\n", 2);

    try {
        //  > listeningSocket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        pysock::socket listeningSocket(AF_INET, SOCK_STREAM);
        //  > listeningSocket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listeningSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        //  > listeningSocket.bind(('', 65432))
        listeningSocket.bind({HOST, PORT});

        //  > while True:
        while (true) {
            //  > listeningSocket.listen(10)
            // (Calling listen() again on a listening socket only updates the backlog; once, before
            // the loop, would do.)
            listeningSocket.listen(10);
            //  > print( "En écoute...")
            print("En écoute...");
            //  > (clientSocket, (ip, port)) = listeningSocket.accept()
            auto [clientSocket, address] = listeningSocket.accept();
            //  > newThread = ClientThread(ip, port, clientSocket)
            auto newThread =
                std::make_shared<ClientThread>(address.host, address.port, std::move(clientSocket));
            //  > newThread.start()
            newThread->start();
        }
    } catch (const pysock::error& e) {  // Python would print a traceback: OSError: [Errno 98] ...
        std::cerr << "multi_server: " << e.what() << '\n';
        return 1;
    }
}
