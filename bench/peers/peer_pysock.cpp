// bench/peers/peer_pysock.cpp - the pysock peer of bench/compare.py. The server is pysock::threading_tcp_server
// when the header has it (what a pysock user writes), else a thread-per-client accept loop on pysock sockets.
#include "../endpoints.hpp"
#include "peer_main.hpp"

namespace {
struct api : bench::pysock_tcp<false> {
    static std::uint16_t port(const listener& l) { return l.addr.port; }
    static conn connect(std::uint16_t port) {
        pysock::socket s(AF_INET, SOCK_STREAM);
        s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
        s.connect({"127.0.0.1", port});
        return s;
    }
};

void serve(api::listener& ls) {
#ifdef PYSOCK_BENCH_HAVE_THREADING_SERVER
    // The listening socket made (and reported) by peer::main, handed to the server.
    pysock::threading_tcp_server server(std::move(ls.sock),
                                        [](pysock::socket& conn, const pysock::address&) {
                                            conn.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
                                            static thread_local char buf[64 * 1024];
                                            while (std::size_t n = conn.recv_into(buf, sizeof buf))
                                                conn.sendall(std::string_view(buf, n));
                                        });
    server.serve_forever();
#else
    peer::thread_per_client<api>(ls);
#endif
}
}  // namespace

int main(int argc, char** argv) { return peer::main<api>(argc, argv, serve); }
