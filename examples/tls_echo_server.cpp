// tls_echo_server.cpp - a TLS echo server on one thread: pysock::selectors drives every
// connection, handshakes included, with non-blocking ssl_sockets. Python's way (ssl docs, "Notes
// on non-blocking sockets"): an operation that cannot go on raises SSLWantReadError or
// SSLWantWriteError, and the loop waits for what it asked for.
//
// Build: c++ -std=c++17 -Iinclude examples/tls_echo_server.cpp -pthread -lssl -lcrypto -o tls_echo_server
// Run:   ./tls_echo_server 127.0.0.1 8443 cert.pem key.pem
//        (the certificate: README.md, "TLS: the ssl module", makes cert.pem and key.pem)
//        then: ./tls_echo_client 127.0.0.1 8443 cert.pem
#include <pysock/selectors.hpp>
#include <pysock/ssl.hpp>

#include "support.hpp"

#include <iostream>
#include <list>
#include <string>

namespace sel = pysock::selectors;
namespace ssl = pysock::ssl;

namespace {

struct connection {
    ssl::ssl_socket tls;
    pysock::address addr;
    bool handshaking = true;
    pysock::bytes outb;  // received, not yet echoed
};

sel::default_selector selector;
std::list<connection> connections;

void close_connection(connection& c, const std::string& why) {
    std::cout << "Closing connection to " << c.addr << why << std::endl;
    selector.unregister(c.tls.fileno());
    connections.remove_if([&](const connection& x) { return &x == &c; });
}

// Asks the selector for what the connection waits on next.
void wait_for(connection& c, int events) { selector.modify(c.tls.fileno(), events, &c); }

void step_handshake(connection& c) {
    try {
        c.tls.do_handshake();
    } catch (const ssl::ssl_want_read_error&) {
        return wait_for(c, sel::EVENT_READ);
    } catch (const ssl::ssl_want_write_error&) {
        return wait_for(c, sel::EVENT_WRITE);
    }
    c.handshaking = false;
    std::cout << "Handshake with " << c.addr << ": " << *c.tls.version() << std::endl;
    wait_for(c, sel::EVENT_READ);
}

// Reads everything available, decrypted bytes OpenSSL holds included (pending(): the selector
// cannot see them), then echoes what it can; waits for writable while bytes remain.
// Returns false when the connection is over.
bool serve(connection& c) {
    if (c.outb.empty()) {
        try {
            do {
                pysock::bytes data = c.tls.recv(16384);
                if (data.empty()) return false;  // the client closed
                c.outb += data;
            } while (c.tls.pending() > 0);
        } catch (const ssl::ssl_want_read_error&) {
        } catch (const ssl::ssl_want_write_error&) {
            wait_for(c, sel::EVENT_WRITE);
            return true;
        }
    }
    try {
        while (!c.outb.empty()) c.outb.erase(0, c.tls.send(c.outb));
    } catch (const ssl::ssl_want_write_error&) {
    } catch (const ssl::ssl_want_read_error&) {}
    wait_for(c, c.outb.empty() ? sel::EVENT_READ : sel::EVENT_WRITE);
    return true;
}

void service(connection& c) {
    // A client that fails its handshake, lies, or vanishes ends its own connection only.
    try {
        if (c.handshaking)
            step_handshake(c);
        else if (!serve(c))
            close_connection(c, "");
    } catch (const pysock::error& e) {
        close_connection(c, std::string(" (") + e.what() + ")");
    }
}

}  // namespace

int main(int argc, char** argv) {
    const char* usage = "usage: tls_echo_server HOST PORT CERTFILE KEYFILE\n";
    if (argc != 5) return example::bad_arguments(usage);
    int port = example::parse_port(argv[2]);
    if (port < 0) return example::bad_arguments(usage);
    example::exit_on_ctrl_c("\nCaught keyboard interrupt, exiting\n");
    try {
        ssl::ssl_context context(ssl::PROTOCOL_TLS_SERVER);
        context.load_cert_chain(argv[3], argv[4]);

        pysock::socket lsock(AF_INET, SOCK_STREAM);
        lsock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
        lsock.bind({argv[1], port});
        lsock.listen();
        std::cout << "Listening on " << lsock.getsockname() << " with TLS" << std::endl;
        lsock.setblocking(false);
        selector.register_(lsock, sel::EVENT_READ);

        for (;;) {
            for (auto& [key, mask] : selector.select()) {
                (void)mask;
                if (key.fileobj == &lsock) {
                    auto [conn, addr] = lsock.accept();
                    conn.setblocking(false);
                    // do_handshake_on_connect false: the loop drives the handshake.
                    connection& c = connections.emplace_back(
                        connection{context.wrap_socket(std::move(conn), true, std::nullopt, false),
                                   addr,
                                   true,
                                   {}});
                    std::cout << "Accepted connection from " << addr << std::endl;
                    selector.register_(c.tls.fileno(), sel::EVENT_READ, &c);
                    service(c);
                } else {
                    service(*std::any_cast<connection*>(key.data));
                }
            }
        }
    } catch (const pysock::error& e) {
        std::cerr << "tls_echo_server: " << e.what() << '\n';
        return 1;
    }
}
