// compile_cost: the course's client (Example 2) with standalone Asio's synchronous API.
#include <asio.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const char* host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? std::atoi(argv[2]) : 65432;
    try {
        asio::io_context ctx;
        asio::ip::tcp::socket s(ctx);
        s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(host),
                                          static_cast<unsigned short>(port)));
        asio::write(s, asio::buffer("Bonjour", 7));
        char buf[1024];
        std::size_t n = s.read_some(asio::buffer(buf));
        std::printf("Received %.*s\n", static_cast<int>(n), buf);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
