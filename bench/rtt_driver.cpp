// pysock_rtt_driver: N ping-pong round trips over loopback, nothing else, for counting user-space
// instructions (bench/instructions.sh runs it under valgrind --tool=callgrind at two values of N and
// divides the difference by the difference in N, so setup and teardown cancel out).
//
//   pysock_rtt_driver IMPL ROUND_TRIPS [SIZE]
//   IMPL: pysock | raw | pysock_settimeout30 | raw_poll30 | pysock_udp | raw_udp, and on Linux pysock_unix |
//         raw_unix | pysock_selectors | raw_epoll (the server is an event loop, the client a raw blocking socket)
#include "endpoints.hpp"
#if defined(__linux__)
#include "event_loops.hpp"
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

template <class E>
void stream_rtts(long n, std::size_t size) {
    auto ls = E::listen();
    bench::scoped_thread server(
        [&] {
            auto c = E::accept(ls);
            bench::echo_loop<E>(c);
        },
        [&] { E::stop_listener(ls); });
    auto c = E::connect(ls);
    std::string msg(size, 'x');
    std::vector<char> buf(size);
    for (long i = 0; i < n; ++i) bench::round_trip<E>(c, msg.data(), buf.data(), size);
    E::close(c);
    server.join_without_stop();
}

template <class E>
void dgram_rtts(long n, std::size_t size) {
    auto srv = E::open_server();
    auto cl = E::open_client(srv);
    bench::scoped_thread server([&] { E::serve(srv); }, [&] { E::stop(cl); });
    std::string msg(size, 'x');
    std::vector<char> buf(bench::kBufSize);
    for (long i = 0; i < n; ++i)
        if (E::round_trip(cl, msg.data(), size, buf.data(), buf.size()) != size)
            throw std::runtime_error("short datagram");
}

#if defined(__linux__)
// One raw blocking client against an event-loop server thread that stops when the client leaves.
template <class Serve>
void event_loop_rtts(long n, std::size_t size, int listener_fd, Serve serve) {
    bench::raw_tcp<false>::listener target;
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(listener_fd, reinterpret_cast<sockaddr*>(&sa), &len);
    target.port = ntohs(sa.sin_port);
    bench::scoped_thread server(serve, [] {});
    auto c = bench::raw_tcp<false>::connect(target);
    std::string msg(size, 'x');
    std::vector<char> buf(size);
    for (long i = 0; i < n; ++i)
        bench::round_trip<bench::raw_tcp<false>>(c, msg.data(), buf.data(), size);
    bench::raw_tcp<false>::close(c);
    server.join_without_stop();
}
#endif

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s IMPL ROUND_TRIPS [SIZE]\n", argv[0]);
        return 2;
    }
    const std::string impl = argv[1];
    const long n = std::atol(argv[2]);
    const std::size_t size = argc > 3 ? static_cast<std::size_t>(std::atol(argv[3])) : 64;
    if (n < 0 || size == 0 || size > bench::kBufSize) {
        std::fprintf(stderr, "bad ROUND_TRIPS or SIZE\n");
        return 2;
    }
    try {
        if (impl == "pysock")
            stream_rtts<bench::pysock_tcp<false>>(n, size);
        else if (impl == "raw")
            stream_rtts<bench::raw_tcp<false>>(n, size);
        else if (impl == "pysock_settimeout30")
            stream_rtts<bench::pysock_tcp<true>>(n, size);
        else if (impl == "raw_poll30")
            stream_rtts<bench::raw_tcp<true>>(n, size);
#if defined(PYSOCK_BENCH_HAVE_AF_UNIX)
        else if (impl == "pysock_unix")
            stream_rtts<bench::pysock_unix>(n, size);
        else if (impl == "raw_unix")
            stream_rtts<bench::raw_unix>(n, size);
#endif
#if defined(__linux__)
        else if (impl == "pysock_selectors") {
            pysock::socket ls(AF_INET, SOCK_STREAM);
            ls.bind({"127.0.0.1", 0});
            ls.listen();
            ls.setblocking(false);
            event_loop_rtts(n, size, ls.fileno(),
                            [&] { bench::selectors_echo_loop(ls).run(true); });
        } else if (impl == "raw_epoll") {
            bench::fd_t ls(bench::raw_epoll_echo_loop::listen_nonblocking(128));
            event_loop_rtts(n, size, ls.get(),
                            [&] { bench::raw_epoll_echo_loop(ls.get()).run(true); });
        }
#endif
        else if (impl == "pysock_udp")
            dgram_rtts<bench::pysock_udp>(n, size);
        else if (impl == "raw_udp")
            dgram_rtts<bench::raw_udp>(n, size);
        else {
            std::fprintf(stderr, "unknown IMPL %s\n", impl.c_str());
            return 2;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pysock_rtt_driver: %s\n", e.what());
        return 1;
    }
    return 0;
}
