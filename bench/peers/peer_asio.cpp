// bench/peers/peer_asio.cpp - the standalone Asio peer of bench/compare.py: Asio's synchronous API with a
// thread per client (Debian's libasio-dev), the way Asio's own blocking_tcp_echo_server example does it.
#include <asio.hpp>

#include "peer_main.hpp"

namespace {
using asio::ip::tcp;

asio::io_context& context() {
    static asio::io_context ctx;
    return ctx;
}

struct api {
    using conn = tcp::socket;
    using listener = tcp::acceptor;
    static listener listen() {
        return tcp::acceptor(context(), tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    }
    static std::uint16_t port(const listener& l) { return l.local_endpoint().port(); }
    static conn accept(listener& l) {
        tcp::socket s = l.accept();
        s.set_option(tcp::no_delay(true));
        return s;
    }
    static conn connect(std::uint16_t port) {
        tcp::socket s(context());
        s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
        s.set_option(tcp::no_delay(true));
        return s;
    }
    static void send_all(conn& c, const char* p, std::size_t n) {
        asio::write(c, asio::buffer(p, n));
    }
    static std::size_t recv_some(conn& c, char* p, std::size_t n) {
        asio::error_code ec;
        std::size_t r = c.read_some(asio::buffer(p, n), ec);
        if (ec == asio::error::eof) return 0;
        if (ec) throw asio::system_error(ec);
        return r;
    }
    static void shutdown_write(conn& c) { c.shutdown(tcp::socket::shutdown_send); }
};
}  // namespace

int main(int argc, char** argv) {
    return peer::main<api>(argc, argv, [](api::listener& ls) { peer::thread_per_client<api>(ls); });
}
