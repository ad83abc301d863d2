// bench/peers/peer_main.hpp - the driver shared by the C++ peers of bench/compare.py.
//
// A peer is one program per implementation (pysock, raw POSIX, Asio) with two roles:
//   PEER server                        listen on 127.0.0.1:0, print "PORT <n>", serve every client on its
//                                      own thread (echo until end of stream) until killed
//   PEER client PORT WORKLOAD SECONDS [CLIENTS]
//                                      run one workload against PORT, print one JSON line
// WORKLOAD: latency (one connection, 64 B ping-pong: median round trip in microseconds),
//           throughput (one connection, 64 KiB sendall chunks echoed back and read concurrently: MiB/s),
//           concurrency (CLIENTS connections, one thread each, 64 B ping-pong: aggregate round trips/s).
// The including file defines `struct api` (conn, listener, listen, accept, connect(port), send_all,
// recv_some, shutdown_write) and `serve(api::listener&)` when it has its own server loop, then includes this.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace peer {

using clock_type = std::chrono::steady_clock;

template <class Api>
void round_trip(typename Api::conn& c, const char* msg, char* buf, std::size_t n) {
    Api::send_all(c, msg, n);
    std::size_t got = 0;
    while (got < n) {
        std::size_t r = Api::recv_some(c, buf + got, n - got);
        if (r == 0) throw std::runtime_error("unexpected end of stream");
        got += r;
    }
}

template <class Api>
void echo(typename Api::conn& c) {
    static thread_local char buf[64 * 1024];
    for (;;) {
        std::size_t n = Api::recv_some(c, buf, sizeof buf);
        if (n == 0) return;
        Api::send_all(c, buf, n);
    }
}

inline clock_type::time_point deadline_after(double seconds) {
    return clock_type::now() +
           std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
}

template <class Api>
int latency(std::uint16_t port, double seconds) {
    auto c = Api::connect(port);
    char msg[64] = {}, buf[64];
    for (int i = 0; i < 200; ++i) peer::round_trip<Api>(c, msg, buf, sizeof msg);
    std::vector<double> us;
    us.reserve(1 << 20);
    const auto start = clock_type::now();
    const auto deadline = deadline_after(seconds);
    for (;;) {
        auto t0 = clock_type::now();
        if (t0 >= deadline) break;
        peer::round_trip<Api>(c, msg, buf, sizeof msg);
        us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    const double total = std::chrono::duration<double>(clock_type::now() - start).count();
    std::sort(us.begin(), us.end());
    std::printf("{\"workload\": \"latency\", \"value\": %.3f, \"unit\": \"us\", \"p99_us\": %.3f, "
                "\"rt_per_s\": %.1f}\n",
                us[us.size() / 2], us[us.size() * 99 / 100],
                static_cast<double>(us.size()) / total);
    return 0;
}

template <class Api>
int throughput(std::uint16_t port, double seconds) {
    auto c = Api::connect(port);
    const std::string chunk(64 * 1024, 'x');
    std::atomic<bool> failed{false};
    const auto t0 = clock_type::now();
    const auto deadline = deadline_after(seconds);
    std::thread sender([&] {
        try {
            while (clock_type::now() < deadline) Api::send_all(c, chunk.data(), chunk.size());
        } catch (const std::exception&) {
            failed = true;
        }
        Api::shutdown_write(c);
    });
    std::vector<char> buf(64 * 1024);
    unsigned long long got = 0;
    while (std::size_t r = Api::recv_some(c, buf.data(), buf.size())) got += r;
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    sender.join();
    if (failed) throw std::runtime_error("sender failed");
    std::printf("{\"workload\": \"throughput\", \"value\": %.1f, \"unit\": \"MiB/s\"}\n",
                static_cast<double>(got) / secs / (1024.0 * 1024.0));
    return 0;
}

template <class Api>
int concurrency(std::uint16_t port, double seconds, int nclients) {
    std::vector<typename Api::conn> conns;
    conns.reserve(static_cast<std::size_t>(nclients));
    for (int i = 0; i < nclients; ++i) conns.push_back(Api::connect(port));
    {
        char m[64] = {}, b[64];
        for (auto& c : conns) peer::round_trip<Api>(c, m, b, sizeof m);
    }
    std::mutex m;
    std::condition_variable cv;
    bool go = false;
    clock_type::time_point deadline;
    std::atomic<unsigned long long> total{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (auto& c : conns) {
        threads.emplace_back([&, conn = &c] {
            {
                std::unique_lock<std::mutex> lock(m);
                cv.wait(lock, [&] { return go; });
            }
            char msg[64] = {}, buf[64];
            unsigned long long n = 0;
            try {
                while (clock_type::now() < deadline) {
                    peer::round_trip<Api>(*conn, msg, buf, sizeof msg);
                    ++n;
                }
            } catch (const std::exception&) {
                failures++;
            }
            total += n;
        });
    }
    const auto t0 = clock_type::now();
    {
        std::lock_guard<std::mutex> lock(m);
        deadline = deadline_after(seconds);
        go = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (failures) throw std::runtime_error(std::to_string(failures.load()) + " client(s) failed");
    std::printf(
        "{\"workload\": \"concurrency\", \"clients\": %d, \"value\": %.1f, \"unit\": \"rt/s\"}\n",
        nclients, static_cast<double>(total.load()) / secs);
    return 0;
}

template <class Api, class Serve>
int main(int argc, char** argv, Serve serve) {
    try {
        const std::string role = argc > 1 ? argv[1] : "";
        if (role == "server") {
            auto ls = Api::listen();
            std::printf("PORT %u\n", static_cast<unsigned>(Api::port(ls)));
            std::fflush(stdout);
            serve(ls);
            return 0;
        }
        if (role == "client" && argc >= 5) {
            const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
            const std::string workload = argv[3];
            const double seconds = std::atof(argv[4]);
            const int clients = argc > 5 ? std::atoi(argv[5]) : 16;
            if (workload == "latency") return latency<Api>(port, seconds);
            if (workload == "throughput") return throughput<Api>(port, seconds);
            if (workload == "concurrency") return concurrency<Api>(port, seconds, clients);
        }
        std::fprintf(stderr,
                     "usage: %s server\n"
                     "       %s client PORT latency|throughput|concurrency SECONDS [CLIENTS]\n",
                     argv[0], argv[0]);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
}

// The thread-per-client server the raw and Asio peers use (the course's design, without the prints).
template <class Api>
void thread_per_client(typename Api::listener& ls) {
    for (;;) {
        auto c = Api::accept(ls);
        std::thread([conn = std::move(c)]() mutable {
            try {
                peer::echo<Api>(conn);
            } catch (const std::exception&) {}
        }).detach();
    }
}

}  // namespace peer
