// multiconn_client.cpp - Real Python's "multiconn-client.py" (Socket Programming in Python, "Handling
// Multiple Connections"), ported line for line to pysock::selectors: N connections opened without
// blocking, each sending two messages and reading the echo, all from one thread.
//
// Each C++ statement sits under the Python line it translates (the `//  >` lines).
//
// Build: c++ -std=c++17 -Iinclude examples/multiconn_client.cpp -o multiconn_client
// Run:   ./multiconn_client 127.0.0.1 65432 2      (with ./multiconn_server 127.0.0.1 65432 running)
#include <pysock/selectors.hpp>

#include "support.hpp"

#include <deque>
#include <iostream>
#include <list>
#include <string>

namespace sel = pysock::selectors;

namespace {

//  > sel = selectors.DefaultSelector()
sel::default_selector selector;
//  > messages = [b"Message 1 from client.", b"Message 2 from client."]
const std::deque<pysock::bytes> messages = {"Message 1 from client.", "Message 2 from client."};

//  > data = types.SimpleNamespace(connid=connid, msg_total=..., recv_total=0, messages=..., outb=b"")
struct connection_state {
    pysock::socket sock;  // Python's key.fileobj (see multiconn_server.cpp)
    int connid;
    std::size_t msg_total;
    std::size_t recv_total;
    std::deque<pysock::bytes> messages;
    pysock::bytes outb;
};
std::list<connection_state> connections;

//  > def start_connections(host, port, num_conns):
void start_connections(const std::string& host, int port, int num_conns) {
    //  > server_addr = (host, port)
    pysock::address server_addr(host, port);
    //  > for i in range(0, num_conns):
    for (int i = 0; i < num_conns; ++i) {
        //  > connid = i + 1
        int connid = i + 1;
        //  > print(f"Starting connection {connid} to {server_addr}")
        std::cout << "Starting connection " << connid << " to " << server_addr << std::endl;
        //  > sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        pysock::socket sock(AF_INET, SOCK_STREAM);
        //  > sock.setblocking(False)
        sock.setblocking(false);
        //  > sock.connect_ex(server_addr)
        sock.connect_ex(server_addr);  // EINPROGRESS: the connection completes in the event loop
        //  > events = selectors.EVENT_READ | selectors.EVENT_WRITE
        int events = sel::EVENT_READ | sel::EVENT_WRITE;
        //  > data = types.SimpleNamespace(
        //  >     connid=connid,
        //  >     msg_total=sum(len(m) for m in messages),
        //  >     recv_total=0,
        //  >     messages=messages.copy(),
        //  >     outb=b"",
        //  > )
        std::size_t msg_total = 0;
        for (const auto& m : messages) msg_total += m.size();
        connection_state& data = connections.emplace_back(
            connection_state{std::move(sock), connid, msg_total, 0, messages, {}});
        //  > sel.register(sock, events, data=data)
        selector.register_(data.sock, events, &data);
    }
}

//  > def service_connection(key, mask):
void service_connection(sel::selector_key& key, int mask) {
    //  > sock = key.fileobj
    //  > data = key.data
    auto* data = std::any_cast<connection_state*>(key.data);
    pysock::socket& sock = data->sock;
    //  > if mask & selectors.EVENT_READ:
    if (mask & sel::EVENT_READ) {
        //  > recv_data = sock.recv(1024)  # Should be ready to read
        pysock::bytes recv_data = sock.recv(1024);
        //  > if recv_data:
        if (!recv_data.empty()) {
            //  > print(f"Received {recv_data!r} from connection {data.connid}")
            std::cout << "Received " << pysock::repr(recv_data) << " from connection "
                      << data->connid << std::endl;
            //  > data.recv_total += len(recv_data)
            data->recv_total += recv_data.size();
        }
        //  > if not recv_data or data.recv_total == data.msg_total:
        if (recv_data.empty() || data->recv_total == data->msg_total) {
            //  > print(f"Closing connection {data.connid}")
            std::cout << "Closing connection " << data->connid << std::endl;
            //  > sel.unregister(sock)
            selector.unregister(sock);
            //  > sock.close()
            sock.close();
            connections.remove_if([data](const connection_state& c) { return &c == data; });
            return;  // Not in the tutorial: `data` is gone with its connection
        }
    }
    //  > if mask & selectors.EVENT_WRITE:
    if (mask & sel::EVENT_WRITE) {
        //  > if not data.outb and data.messages:
        //  >     data.outb = data.messages.pop(0)
        if (data->outb.empty() && !data->messages.empty()) {
            data->outb = data->messages.front();
            data->messages.pop_front();
        }
        //  > if data.outb:
        if (!data->outb.empty()) {
            //  > print(f"Sending {data.outb!r} to connection {data.connid}")
            std::cout << "Sending " << pysock::repr(data->outb) << " to connection " << data->connid
                      << std::endl;
            //  > sent = sock.send(data.outb)  # Should be ready to write
            std::size_t sent = sock.send(data->outb);
            //  > data.outb = data.outb[sent:]
            data->outb.erase(0, sent);
        } else {
            // Not in the tutorial: with everything sent, stop asking for EVENT_WRITE, or every
            // select() returns at once until the echo arrives (the tutorial's client spins).
            selector.modify(sock, sel::EVENT_READ, data);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    //  > if len(sys.argv) != 4:
    //  >     print(f"Usage: {sys.argv[0]} <host> <port> <num_connections>")
    //  >     sys.exit(1)
    const char* usage = "usage: multiconn_client <host> <port> <num_connections>\n";
    if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
        std::cout << usage;
        return 0;
    }
    if (argc != 4 || example::parse_port(argv[2]) < 0 || example::parse_count(argv[3], 100000) < 0)
        return example::bad_arguments(usage);
    //  > host, port, num_conns = sys.argv[1:4]
    std::string host = argv[1];
    int port = example::parse_port(argv[2]);
    int num_conns = example::parse_count(argv[3], 100000);
    example::exit_on_ctrl_c("Caught keyboard interrupt, exiting\n");

    try {
        //  > start_connections(host, int(port), int(num_conns))
        start_connections(host, port, num_conns);

        //  > try:
        //  >     while True:
        while (true) {
            //  > events = sel.select(timeout=1)
            //  > if events:
            //  >     for key, mask in events:
            //  >         service_connection(key, mask)
            for (auto& [key, mask] : selector.select(1)) service_connection(key, mask);
            //  > # Check for a socket being monitored to continue.
            //  > if not sel.get_map():
            //  >     break
            if (selector.get_map().empty()) break;
        }
        //  > except KeyboardInterrupt:
        //  >     print("Caught keyboard interrupt, exiting")    (example::exit_on_ctrl_c above)
        //  > finally:
        //  >     sel.close()                                     (the selector's destructor)
    } catch (const pysock::error& e) {  // a refused connection: ConnectionRefusedError in Python
        std::cerr << "multiconn_client: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
