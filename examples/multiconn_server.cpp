// multiconn_server.cpp - Real Python's "multiconn-server.py" (Socket Programming in Python, "Handling
// Multiple Connections"), ported line for line to pysock::selectors: one thread, no blocking call,
// every client served by the event loop.
//
// Each C++ statement sits under the Python line it translates (the `//  >` lines).
//
// Build: c++ -std=c++17 -Iinclude examples/multiconn_server.cpp -o multiconn_server
// Run:   ./multiconn_server 127.0.0.1 65432     then: ./multiconn_client 127.0.0.1 65432 2
#include <pysock/selectors.hpp>

#include "support.hpp"

#include <iostream>
#include <list>
#include <string>

namespace sel = pysock::selectors;

namespace {

//  > data = types.SimpleNamespace(addr=addr, inb=b"", outb=b"")
// Python's key.fileobj is the socket itself; a C++ key points to a const socket, so the state
// keeps the connection it belongs to, and key.data points to the state.
struct connection_state {
    pysock::socket sock;
    pysock::address addr;
    pysock::bytes inb;
    pysock::bytes outb;
};

//  > sel = selectors.DefaultSelector()
sel::default_selector selector;
std::list<connection_state> connections;  // Python's garbage collector owns these; here, a list

//  > def accept_wrapper(sock):
void accept_wrapper(pysock::socket& sock) {
    //  > conn, addr = sock.accept()  # Should be ready to read
    auto [conn, addr] = sock.accept();
    //  > print(f"Accepted connection from {addr}")
    std::cout << "Accepted connection from " << addr << std::endl;
    //  > conn.setblocking(False)
    conn.setblocking(false);
    //  > data = types.SimpleNamespace(addr=addr, inb=b"", outb=b"")
    connection_state& data =
        connections.emplace_back(connection_state{std::move(conn), addr, {}, {}});
    //  > events = selectors.EVENT_READ | selectors.EVENT_WRITE
    //  > sel.register(conn, events, data=data)
    // Not in the tutorial: registering EVENT_WRITE while there is nothing to send makes every
    // select() return at once (a writable socket is always ready): the tutorial's server spins
    // at 100% CPU. Here a connection asks for EVENT_WRITE only while it has bytes to send.
    selector.register_(data.sock, sel::EVENT_READ, &data);
}

void close_connection(connection_state* data) {
    //  > print(f"Closing connection to {data.addr}")
    std::cout << "Closing connection to " << data->addr << std::endl;
    //  > sel.unregister(sock)
    selector.unregister(data->sock);
    //  > sock.close()
    data->sock.close();
    connections.remove_if([data](const connection_state& c) { return &c == data; });
}

void service_connection_or_throw(sel::selector_key& key, int mask);

//  > def service_connection(key, mask):
// Not in the tutorial: a client that resets its connection makes recv() or send() raise
// ConnectionResetError, which would end the tutorial's server with a traceback. Here it ends
// that connection only.
void service_connection(sel::selector_key& key, int mask) {
    try {
        service_connection_or_throw(key, mask);
    } catch (const pysock::connection_error&) {
        close_connection(std::any_cast<connection_state*>(key.data));
    }
}

void service_connection_or_throw(sel::selector_key& key, int mask) {
    //  > sock = key.fileobj
    //  > data = key.data
    auto* data = std::any_cast<connection_state*>(key.data);
    pysock::socket& sock = data->sock;
    //  > if mask & selectors.EVENT_READ:
    if (mask & sel::EVENT_READ) {
        //  > recv_data = sock.recv(1024)  # Should be ready to read
        pysock::bytes recv_data = sock.recv(1024);
        //  > if recv_data:
        //  >     data.outb += recv_data
        if (!recv_data.empty()) {
            data->outb += recv_data;
            selector.modify(sock, sel::EVENT_READ | sel::EVENT_WRITE,
                            data);  // (see accept_wrapper)
        } else {
            close_connection(data);  // the three lines of the tutorial, shared with a reset
            return;
        }
    }
    //  > if mask & selectors.EVENT_WRITE:
    if (mask & sel::EVENT_WRITE) {
        //  > if data.outb:
        if (!data->outb.empty()) {
            //  > print(f"Echoing {data.outb!r} to {data.addr}")
            std::cout << "Echoing " << pysock::repr(data->outb) << " to " << data->addr
                      << std::endl;
            //  > sent = sock.send(data.outb)  # Should be ready to write
            std::size_t sent = sock.send(data->outb);
            //  > data.outb = data.outb[sent:]
            data->outb.erase(0, sent);
            if (data->outb.empty())
                selector.modify(sock, sel::EVENT_READ, data);  // (see accept_wrapper)
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    //  > if len(sys.argv) != 3:
    //  >     print(f"Usage: {sys.argv[0]} <host> <port>")
    //  >     sys.exit(1)
    const char* usage = "usage: multiconn_server <host> <port>\n";
    if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
        std::cout << usage;
        return 0;
    }
    if (argc != 3 || example::parse_port(argv[2]) < 0) return example::bad_arguments(usage);
    //  > host, port = sys.argv[1], int(sys.argv[2])
    std::string host = argv[1];
    int port = example::parse_port(argv[2]);
    example::exit_on_ctrl_c("Caught keyboard interrupt, exiting\n");

    try {
        //  > lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        pysock::socket lsock(AF_INET, SOCK_STREAM);
        //  > lsock.bind((host, port))
        lsock.bind({host, port});
        //  > lsock.listen()
        lsock.listen();
        //  > print(f"Listening on {(host, port)}")
        std::cout << "Listening on " << pysock::address(host, port) << std::endl;
        //  > lsock.setblocking(False)
        lsock.setblocking(false);
        //  > sel.register(lsock, selectors.EVENT_READ, data=None)
        selector.register_(lsock, sel::EVENT_READ);

        //  > try:
        //  >     while True:
        while (true) {
            //  > events = sel.select(timeout=None)
            //  > for key, mask in events:
            for (auto& [key, mask] : selector.select(std::nullopt)) {
                //  > if key.data is None:
                //  >     accept_wrapper(key.fileobj)
                if (!key.data.has_value()) {
                    accept_wrapper(lsock);
                } else {
                    //  > else:
                    //  >     service_connection(key, mask)
                    service_connection(key, mask);
                }
            }
        }
        //  > except KeyboardInterrupt:
        //  >     print("Caught keyboard interrupt, exiting")    (example::exit_on_ctrl_c above)
        //  > finally:
        //  >     sel.close()                                     (the selector's destructor)
    } catch (const pysock::error& e) {  // Python would print a traceback: OSError: [Errno 98] ...
        std::cerr << "multiconn_server: " << e.what() << '\n';
        return 1;
    }
}
