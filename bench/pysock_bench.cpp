// pysock_bench: every workload through pysock AND through a hand-written raw POSIX baseline, side by side
// in one binary (Google Benchmark). See bench/README section "Performance" in the top-level README.
//
// Names: <workload>/<variant>/<size or clients>/<implementation>, e.g. latency/tcp_same_cpu/64/pysock.
//   latency/*      ping-pong round trips, manual time per round trip, counters rt_per_s, p50_us, p99_us,
//                  allocs_per_rt (heap allocations per round trip, both threads, counted by the operator new in alloc_counter.cpp)
//   timeouts/*     the 64 B same-CPU ping-pong again: pysock blocking vs settimeout(30) on both ends, and raw
//                  blocking vs raw poll()-before-every-call (CPython's way)
//   stream/*       one connection for PYSOCK_BENCH_SECONDS: echo (sendall chunks, echoed back, read
//                  concurrently) with 64 KiB and 1 KiB chunks, and a one-way sink; counter MiB_per_s
//   connect/*      connect + one 64 B round trip + close, per second
//   eventloop/*    what an event loop pays per call: a would-block recv_into (raw, pysock's error_code
//                  twin, pysock's exception), and select() over 64 registered sockets with one ready
//                  (pysock's default_selector and select_selector; raw epoll_wait on Linux); counter
//                  allocs_per_op
//   concurrency/*  N clients doing 64 B ping-pong for PYSOCK_BENCH_SECONDS against pysock::threading_tcp_server
//                  and against a raw thread-per-client server (the clients are raw POSIX in both cases)
//
// Environment: PYSOCK_BENCH_SECONDS (default 2) - length of each stream/concurrency repetition.
#include "endpoints.hpp"

#include <pysock/selectors.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/epoll.h>
#endif

// Counting global operator new: alloc_counter.cpp (its own translation unit).
namespace bench {
unsigned long long allocations();
}

namespace {

using clock_type = std::chrono::steady_clock;
using bench::placement;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double run_seconds() {
    static const double s = [] {
        const char* v = std::getenv("PYSOCK_BENCH_SECONDS");
        double d = v ? std::atof(v) : 2.0;
        return d > 0 ? d : 2.0;
    }();
    return s;
}

// Errors raised on a server thread are carried back to the benchmark.
struct thread_error {
    std::mutex m;
    std::string what;
    void set(const char* w) {
        std::lock_guard<std::mutex> lock(m);
        if (what.empty()) what = w;
    }
    bool report(benchmark::State& st) {
        std::lock_guard<std::mutex> lock(m);
        if (what.empty()) return false;
        st.SkipWithError(what.c_str());
        return true;
    }
};

// Percentiles and rates from per-round-trip samples (seconds).
void report_samples(benchmark::State& st, std::vector<double>& samples, unsigned long long allocs) {
    if (samples.empty()) return;
    double total = 0;
    for (double s : samples) total += s;
    auto pct = [&](double q) {
        std::size_t k = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
        std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k),
                         samples.end());
        return samples[k] * 1e6;
    };
    st.counters["p50_us"] = pct(0.50);
    st.counters["p99_us"] = pct(0.99);
    st.counters["rt_per_s"] = static_cast<double>(samples.size()) / total;
    st.counters["allocs_per_rt"] =
        static_cast<double>(allocs) / static_cast<double>(samples.size());
}

// ---------------------------------------------------------------- stream ping-pong (TCP, AF_UNIX)
template <class E>
void pingpong(benchmark::State& st, std::size_t size, placement where) {
    const bench::cpu_choice cpus = bench::choose_cpus(where);
    if (!cpus.ok) {
        st.SkipWithError("this placement needs 2 allowed CPUs");
        return;
    }
    thread_error err;
    try {
        auto ls = E::listen();
        bench::scoped_thread server(
            [&] {
                try {
                    bench::pin_guard pin(cpus.server);
                    auto c = E::accept(ls);
                    bench::echo_loop<E>(c);
                } catch (const std::exception& e) {
                    err.set(e.what());
                }
            },
            [&] { E::stop_listener(ls); });
        bench::pin_guard pin(cpus.client);
        auto c = E::connect(ls);
        std::string msg(size, 'x');
        std::vector<char> buf(size);
        for (int i = 0; i < 200; ++i)
            bench::round_trip<E>(c, msg.data(), buf.data(), size);  // warm up
        std::vector<double> samples;
        samples.reserve(static_cast<std::size_t>(st.max_iterations));
        const unsigned long long a0 = bench::allocations();
        for (auto _ : st) {
            auto t0 = clock_type::now();
            bench::round_trip<E>(c, msg.data(), buf.data(), size);
            double s = seconds_since(t0);
            st.SetIterationTime(s);
            samples.push_back(s);
        }
        const unsigned long long a1 = bench::allocations();
        E::close(c);
        server.join_without_stop();
        if (err.report(st)) return;
        report_samples(st, samples, a1 - a0);
        st.SetBytesProcessed(static_cast<std::int64_t>(2 * size) * st.iterations());
    } catch (const std::exception& e) {
        st.SkipWithError(e.what());
    }
}

// ---------------------------------------------------------------- UDP ping-pong
template <class E>
void udp_pingpong(benchmark::State& st, std::size_t size, placement where) {
    const bench::cpu_choice cpus = bench::choose_cpus(where);
    if (!cpus.ok) {
        st.SkipWithError("this placement needs 2 allowed CPUs");
        return;
    }
    thread_error err;
    try {
        auto srv = E::open_server();
        auto cl = E::open_client(srv);
        bench::scoped_thread server(
            [&] {
                try {
                    bench::pin_guard pin(cpus.server);
                    E::serve(srv);
                } catch (const std::exception& e) {
                    err.set(e.what());
                }
            },
            [&] { E::stop(cl); });
        bench::pin_guard pin(cpus.client);
        std::string msg(size, 'x');
        std::vector<char> buf(bench::kBufSize);
        for (int i = 0; i < 200; ++i) E::round_trip(cl, msg.data(), size, buf.data(), buf.size());
        std::vector<double> samples;
        samples.reserve(static_cast<std::size_t>(st.max_iterations));
        const unsigned long long a0 = bench::allocations();
        for (auto _ : st) {
            auto t0 = clock_type::now();
            std::size_t n = E::round_trip(cl, msg.data(), size, buf.data(), buf.size());
            double s = seconds_since(t0);
            if (n != size) {
                st.SkipWithError("short datagram");
                break;
            }
            st.SetIterationTime(s);
            samples.push_back(s);
        }
        const unsigned long long a1 = bench::allocations();
        server.join();  // sends the empty "stop" datagram
        if (err.report(st)) return;
        report_samples(st, samples, a1 - a0);
    } catch (const std::exception& e) {
        st.SkipWithError(e.what());
    }
}

// ---------------------------------------------------------------- streaming
enum class stream_mode { echo, sink };

template <class E>
void stream(benchmark::State& st, std::size_t chunk, stream_mode mode, placement where) {
    const bench::cpu_choice cpus = bench::choose_cpus(where);
    if (!cpus.ok) {
        st.SkipWithError("this placement needs 2 allowed CPUs");
        return;
    }
    thread_error err;
    double total_bytes = 0, total_seconds = 0;
    for (auto _ : st) {
        try {
            auto ls = E::listen();
            std::atomic<unsigned long long> sunk{0};
            std::atomic<clock_type::rep> sink_end{
                0};  // when the sink saw end of stream (clock ticks)
            bench::scoped_thread server(
                [&] {
                    try {
                        bench::pin_guard pin(cpus.server);
                        auto c = E::accept(ls);
                        if (mode == stream_mode::echo) {
                            bench::echo_loop<E>(c);
                        } else {
                            char buf[bench::kBufSize];
                            unsigned long long n = 0;
                            while (std::size_t r = E::recv_some(c, buf, sizeof buf)) n += r;
                            sink_end.store(clock_type::now().time_since_epoch().count());
                            sunk.store(n);
                        }
                    } catch (const std::exception& e) {
                        err.set(e.what());
                    }
                },
                [&] { E::stop_listener(ls); });
            bench::pin_guard pin(cpus.client);
            auto c = E::connect(ls);
            const std::string data(chunk, 'x');
            const double duration = run_seconds();
            const auto t0 = clock_type::now();
            const auto deadline = t0 + std::chrono::duration_cast<clock_type::duration>(
                                           std::chrono::duration<double>(duration));
            auto send_until_deadline = [&] {
                try {
                    for (;;) {
                        for (int i = 0; i < 16; ++i) E::send_all(c, data.data(), data.size());
                        if (clock_type::now() >= deadline) break;
                    }
                    E::shutdown_write(c);
                } catch (const std::exception& e) {
                    err.set(e.what());
                    E::shutdown_write(c);
                }
            };
            double bytes = 0, secs = 0;
            if (mode == stream_mode::echo) {
                bench::scoped_thread sender([&] {
                    bench::pin_guard p(cpus.client);
                    send_until_deadline();
                });
                std::vector<char> buf(bench::kBufSize);
                unsigned long long got = 0;
                while (std::size_t r = E::recv_some(c, buf.data(), buf.size())) got += r;
                secs = seconds_since(t0);
                bytes = static_cast<double>(got);
                sender.join_without_stop();
            } else {
                send_until_deadline();
                server.join_without_stop();
                secs = std::chrono::duration<double>(
                           clock_type::time_point(clock_type::duration(sink_end.load())) - t0)
                           .count();
                bytes = static_cast<double>(sunk.load());
            }
            E::close(c);
            server.join_without_stop();
            st.SetIterationTime(secs > 0 ? secs : 1e-9);
            total_bytes += bytes;
            total_seconds += secs;
        } catch (const std::exception& e) {
            err.set(e.what());
        }
        if (err.report(st)) return;
    }
    if (total_seconds > 0) {
        st.counters["MiB_per_s"] = total_bytes / total_seconds / (1024.0 * 1024.0);
        st.SetBytesProcessed(static_cast<std::int64_t>(total_bytes));
    }
}

// ---------------------------------------------------------------- connection rate
template <class E>
void connect_rate(benchmark::State& st, placement where) {
    const bench::cpu_choice cpus = bench::choose_cpus(where);
    if (!cpus.ok) {
        st.SkipWithError("this placement needs 2 allowed CPUs");
        return;
    }
    thread_error err;
    std::atomic<bool> stopping{false};
    try {
        auto ls = E::listen();
        bench::scoped_thread server(
            [&] {
                bench::pin_guard pin(cpus.server);
                char buf[64];
                for (;;) {
                    try {
                        auto c = E::accept(ls);
                        if (stopping.load()) return;  // woken by stop_listener
                        std::size_t got = 0;
                        while (got < sizeof buf) {
                            std::size_t r = E::recv_some(c, buf + got, sizeof buf - got);
                            if (r == 0) break;
                            got += r;
                        }
                        E::send_all(c, buf, got);
                    } catch (const std::exception& e) {
                        if (!stopping.load()) err.set(e.what());
                        return;
                    }
                }
            },
            [&] {
                stopping.store(true);
                E::stop_listener(ls);
            });
        bench::pin_guard pin(cpus.client);
        char msg[64] = {};
        char buf[64];
        for (auto _ : st) {
            auto c = E::connect(ls);
            bench::round_trip<E>(c, msg, buf, sizeof msg);
            E::close(c);
        }
        server.join();
        if (err.report(st)) return;
        st.counters["conn_per_s"] =
            benchmark::Counter(static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
    } catch (const std::exception& e) {
        stopping.store(true);
        st.SkipWithError(e.what());
    }
}

// ---------------------------------------------------------------- concurrency
// The load: N raw POSIX clients, one thread each, 64 B ping-pong until the deadline.
struct load_result {
    double seconds = 0;
    unsigned long long round_trips = 0;
    std::string error;
};

load_result run_clients(std::uint16_t port, int nclients, double duration) {
    using raw = bench::raw_tcp<false>;
    raw::listener target;
    target.port = port;
    std::vector<bench::fd_t> conns;
    conns.reserve(static_cast<std::size_t>(nclients));
    for (int i = 0; i < nclients; ++i) conns.push_back(raw::connect(target));
    // One round trip each before the clock starts: every connection has been accepted and served.
    {
        char m[64] = {}, b[64];
        for (auto& c : conns) bench::round_trip<raw>(c, m, b, sizeof m);
    }
    std::mutex m;
    std::condition_variable cv;
    bool go = false;
    std::atomic<unsigned long long> total{0};
    std::atomic<int> failures{0};
    clock_type::time_point deadline;
    std::vector<std::thread> threads;
    threads.reserve(conns.size());
    for (auto& c : conns) {
        threads.emplace_back([&, fd = &c] {
            {
                std::unique_lock<std::mutex> lock(m);
                cv.wait(lock, [&] { return go; });
            }
            char msg[64] = {}, buf[64];
            unsigned long long n = 0;
            try {
                while (clock_type::now() < deadline) {
                    bench::round_trip<raw>(*fd, msg, buf, sizeof msg);
                    ++n;
                }
            } catch (const std::exception&) {
                failures.fetch_add(1);
            }
            total.fetch_add(n);
        });
    }
    const auto t0 = clock_type::now();
    {
        std::lock_guard<std::mutex> lock(m);
        deadline = t0 + std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::duration<double>(duration));
        go = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
    load_result r;
    r.seconds = seconds_since(t0);
    r.round_trips = total.load();
    if (failures.load() != 0) r.error = std::to_string(failures.load()) + " client(s) failed";
    return r;  // conns close here: every server thread sees end of stream
}

// raw_thread_per_client_server and pysock_threading_server: bench/endpoints.hpp (pysock_many_clients
// serves them too).
using bench::raw_thread_per_client_server;
#ifdef PYSOCK_BENCH_HAVE_THREADING_SERVER
using bench::pysock_threading_server;
#endif

template <class Server>
void concurrency(benchmark::State& st, int nclients) {
    double seconds = 0;
    unsigned long long rts = 0;
    for (auto _ : st) {
        try {
            Server srv;
            load_result r = run_clients(srv.port(), nclients, run_seconds());
            if (!r.error.empty()) {
                st.SkipWithError(r.error.c_str());
                return;
            }
            st.SetIterationTime(r.seconds);
            seconds += r.seconds;
            rts += r.round_trips;
        } catch (const std::exception& e) {
            st.SkipWithError(e.what());
            return;
        }
    }
    if (seconds > 0) st.counters["rt_per_s"] = static_cast<double>(rts) / seconds;
}

// ---------------------------------------------------------------- event-loop costs
void report_allocations(benchmark::State& st, unsigned long long before) {
    st.counters["allocs_per_op"] = static_cast<double>(bench::allocations() - before) /
                                   static_cast<double>(st.iterations() ? st.iterations() : 1);
}

// recv_into on an empty non-blocking socket: the call an event loop makes when a peer is slow.
template <
    int Kind>  // 0 raw recv(), 1 pysock with std::error_code, 2 pysock catching blocking_io_error
void wouldblock(benchmark::State& st) {
    auto [a, b] = pysock::socketpair();
    a.setblocking(false);
    char buf[64];
    std::error_code ec;
    unsigned long long before = bench::allocations();
    for (auto _ : st) {
        if constexpr (Kind == 0) {
            benchmark::DoNotOptimize(::recv(a.fileno(), buf, static_cast<int>(sizeof buf), 0));
        } else if constexpr (Kind == 1) {
            benchmark::DoNotOptimize(a.recv_into(buf, sizeof buf, ec));
        } else {
            try {
                a.recv_into(buf, sizeof buf);
            } catch (const pysock::blocking_io_error&) {}
        }
    }
    report_allocations(st, before);
}

// select() with 64 registered sockets, one of them readable: one system call, no allocation.
template <class Selector>
void select_one_ready(benchmark::State& st) {
    std::vector<std::pair<pysock::socket, pysock::socket>> pairs;
    Selector selector;
    for (int i = 0; i < 64; ++i) {
        pairs.push_back(pysock::socketpair());
        selector.register_(pairs.back().first, pysock::selectors::EVENT_READ);
    }
    pairs[7].second.sendall("x");
    while (selector.select(1.0).empty()) {}
    unsigned long long before = bench::allocations();
    for (auto _ : st) benchmark::DoNotOptimize(selector.select(0).size());
    report_allocations(st, before);
}

#if defined(__linux__)
void select_one_ready_raw_epoll(benchmark::State& st) {
    std::vector<std::pair<pysock::socket, pysock::socket>> pairs;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < 64; ++i) {
        pairs.push_back(pysock::socketpair());
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = pairs.back().first.fileno();
        ::epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    }
    pairs[7].second.sendall("x");
    epoll_event events[64];
    while (::epoll_wait(ep, events, 64, 1000) == 0) {}
    unsigned long long before = bench::allocations();
    for (auto _ : st) benchmark::DoNotOptimize(::epoll_wait(ep, events, 64, 0));
    report_allocations(st, before);
    ::close(ep);
}
#endif

// ---------------------------------------------------------------- registration
using raw_tcp = bench::raw_tcp<false>;
using raw_tcp_poll = bench::raw_tcp<true>;
using py_tcp = bench::pysock_tcp<false>;
using py_tcp_timeout = bench::pysock_tcp<true>;

template <class F>
benchmark::internal::Benchmark* reg(const std::string& name, F f) {
    return benchmark::RegisterBenchmark(name.c_str(), f)->Unit(benchmark::kMicrosecond);
}

void register_all() {
    const std::size_t sizes[] = {1, 64, 1024, 16384};
    for (placement where : {placement::same_cpu, placement::split_cpu}) {
        for (std::size_t size : sizes) {
            const std::string base = std::string("latency/tcp_") + bench::placement_name(where) +
                                     "/" + std::to_string(size) + "/";
            reg(base + "pysock", [=](benchmark::State& st) {
                pingpong<py_tcp>(st, size, where);
            })->UseManualTime();
            reg(base + "raw", [=](benchmark::State& st) {
                pingpong<raw_tcp>(st, size, where);
            })->UseManualTime();
        }
    }
#if defined(PYSOCK_BENCH_HAVE_AF_UNIX)
    reg("latency/unix_same_cpu/64/pysock", [](benchmark::State& st) {
        pingpong<bench::pysock_unix>(st, 64, placement::same_cpu);
    })->UseManualTime();
    reg("latency/unix_same_cpu/64/raw", [](benchmark::State& st) {
        pingpong<bench::raw_unix>(st, 64, placement::same_cpu);
    })->UseManualTime();
#endif
    reg("latency/udp_same_cpu/64/pysock", [](benchmark::State& st) {
        udp_pingpong<bench::pysock_udp>(st, 64, placement::same_cpu);
    })->UseManualTime();
    reg("latency/udp_same_cpu/64/raw", [](benchmark::State& st) {
        udp_pingpong<bench::raw_udp>(st, 64, placement::same_cpu);
    })->UseManualTime();

    reg("timeouts/tcp_same_cpu/64/pysock_blocking", [](benchmark::State& st) {
        pingpong<py_tcp>(st, 64, placement::same_cpu);
    })->UseManualTime();
    reg("timeouts/tcp_same_cpu/64/pysock_settimeout30", [](benchmark::State& st) {
        pingpong<py_tcp_timeout>(st, 64, placement::same_cpu);
    })->UseManualTime();
    reg("timeouts/tcp_same_cpu/64/raw_blocking", [](benchmark::State& st) {
        pingpong<raw_tcp>(st, 64, placement::same_cpu);
    })->UseManualTime();
    reg("timeouts/tcp_same_cpu/64/raw_poll30", [](benchmark::State& st) {
        pingpong<raw_tcp_poll>(st, 64, placement::same_cpu);
    })->UseManualTime();

    struct stream_case {
        const char* name;
        std::size_t chunk;
        stream_mode mode;
    };
    const stream_case streams[] = {{"echo_64KiB", 64 * 1024, stream_mode::echo},
                                   {"echo_1KiB", 1024, stream_mode::echo},
                                   {"sink_64KiB", 64 * 1024, stream_mode::sink}};
    for (placement where : {placement::same_cpu, placement::free}) {
        for (const stream_case& sc : streams) {
            const std::string base =
                std::string("stream/") + sc.name + "_" + bench::placement_name(where) + "/";
            const stream_case c = sc;
            reg(base + "pysock",
                [=](benchmark::State& st) { stream<py_tcp>(st, c.chunk, c.mode, where); })
                ->UseManualTime()
                ->Iterations(1)
                ->Unit(benchmark::kMillisecond);
            reg(base + "raw",
                [=](benchmark::State& st) { stream<raw_tcp>(st, c.chunk, c.mode, where); })
                ->UseManualTime()
                ->Iterations(1)
                ->Unit(benchmark::kMillisecond);
        }
    }

    reg("eventloop/wouldblock_recv_into/raw", wouldblock<0>)->Unit(benchmark::kNanosecond);
    reg("eventloop/wouldblock_recv_into/pysock_error_code", wouldblock<1>)
        ->Unit(benchmark::kNanosecond);
    reg("eventloop/wouldblock_recv_into/pysock_exception", wouldblock<2>)
        ->Unit(benchmark::kNanosecond);
    reg("eventloop/select_64_one_ready/pysock_default_selector",
        select_one_ready<pysock::selectors::default_selector>)
        ->Unit(benchmark::kNanosecond);
    reg("eventloop/select_64_one_ready/pysock_select_selector",
        select_one_ready<pysock::selectors::select_selector>)
        ->Unit(benchmark::kNanosecond);
#if defined(__linux__)
    reg("eventloop/select_64_one_ready/raw_epoll", select_one_ready_raw_epoll)
        ->Unit(benchmark::kNanosecond);
#endif
    reg("connect/rate_same_cpu/pysock", [](benchmark::State& st) {
        connect_rate<py_tcp>(st, placement::same_cpu);
    })->UseRealTime();
    reg("connect/rate_same_cpu/raw", [](benchmark::State& st) {
        connect_rate<raw_tcp>(st, placement::same_cpu);
    })->UseRealTime();

    for (int n : {1, 16, 128, 512}) {
        const std::string base = "concurrency/clients/" + std::to_string(n) + "/";
#ifdef PYSOCK_BENCH_HAVE_THREADING_SERVER
        reg(base + "threading_tcp_server",
            [=](benchmark::State& st) { concurrency<pysock_threading_server>(st, n); })
            ->UseManualTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
#endif
        reg(base + "raw_thread_per_client",
            [=](benchmark::State& st) { concurrency<raw_thread_per_client_server>(st, n); })
            ->UseManualTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
#if defined(SIGPIPE)
    std::signal(SIGPIPE,
                SIG_IGN);  // the raw side uses MSG_NOSIGNAL too; this only guards the harness
#endif
    const std::vector<int> cpus = bench::allowed_cpus();
    benchmark::AddCustomContext("allowed_cpus", std::to_string(cpus.size()));
    benchmark::AddCustomContext("PYSOCK_BENCH_SECONDS", std::to_string(run_seconds()));
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
