// pysock_many_clients: K clients at once, 64 B ping-pong, against each echo server in turn (Linux).
//
// One load generator (this process, one thread, epoll) drives K connections, each with one 64 B
// message in flight; every reply is checked byte for byte (a connection number and a sequence
// number in each message). Each server runs in a process of its own, started from this binary
// (`pysock_many_clients serve KIND`) or by python3, so a server's descriptors and threads never
// share a process with the generator's (10,000 clients need 10,000 descriptors on each side).
//
//   pysock_many_clients [--clients 16,128,1000,10000] [--seconds 2] [--rounds 3]
//                       [--servers LIST] [--python bench/peers/selectors_server.py] [--csv FILE]
//
// Servers (KIND):
//   selectors        pysock::selectors::default_selector, one thread (bench's event loop)
//   selectors_2t     the same loop in two threads, each with its own selector, one shared listener
//   raw_epoll        the same loop written on epoll by hand: the baseline of the event loops
//   python           Python's selectors echo server (bench/peers/selectors_server.py)
//   threading        pysock::threading_tcp_server, a thread per client
//   raw_threads      a thread-per-client server written by hand: its baseline
// Each (K, server) is measured --rounds times, the servers interleaved in a rotating order, and
// the median is reported; the tables give round trips per second with the ratios of the goals,
// and the server's CPU time per round trip (from /proc/PID/stat): on a 2-core machine the one
// load generator thread bounds the rate of the fastest servers, and CPU per round trip is what
// still tells them apart.
#include <pysock/selectors.hpp>

#include "endpoints.hpp"
#include "event_loops.hpp"
#include "rounds.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kMessage = 64;
constexpr int kBacklog = 4096;  // 10,000 clients connect in a burst: no SYN retries
using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) { bench::die("pysock_many_clients", what); }
[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

// ---------------------------------------------------------------------------------------------
// The servers (run in a child process: `serve KIND`)
// ---------------------------------------------------------------------------------------------

pysock::socket make_listener() {
    pysock::socket ls(AF_INET, SOCK_STREAM);
    ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    ls.bind({"127.0.0.1", 0});
    ls.listen(kBacklog);
    ls.setblocking(false);
    return ls;
}

void announce(int port) {
    std::printf("PORT %d\n", port);
    std::fflush(stdout);
}

[[noreturn]] void serve_selectors(int threads) {
    pysock::socket listener = make_listener();
    announce(listener.getsockname().port);
    std::vector<std::thread> others;
    for (int i = 1; i < threads; ++i)
        others.emplace_back([&listener] { bench::selectors_echo_loop(listener).run(false); });
    bench::selectors_echo_loop(listener).run(false);
    die("the selectors loop ended");
}

[[noreturn]] void serve_raw_epoll() {
    int ls = bench::raw_epoll_echo_loop::listen_nonblocking(kBacklog);
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ::getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
    announce(ntohs(sa.sin_port));
    bench::raw_epoll_echo_loop(ls).run(false);
    die("the raw epoll loop ended");
}

template <class Server>
[[noreturn]] void serve_threads() {
    Server server(kBacklog);
    announce(server.port());
    for (;;) ::pause();  // the parent ends this process with SIGKILL
}

// ---------------------------------------------------------------------------------------------
// The load generator
// ---------------------------------------------------------------------------------------------

struct server_process {
    pid_t pid = -1;
    int port = 0;
    ~server_process() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

// Starts argv, reads "PORT n" from its stdout (bounded: 30 s).
void start_server(const std::vector<std::string>& argv, server_process& out) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) die_errno("pipe2");
    pid_t pid = ::fork();
    if (pid < 0) die_errno("fork");
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::_Exit(127);
    }
    ::close(pipefd[1]);
    out.pid = pid;
    std::string line;
    pollfd p{pipefd[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos) {
        if (::poll(&p, 1, 30000) <= 0) die("server " + argv[0] + " did not announce its port");
        char c[64];
        ssize_t n = ::read(pipefd[0], c, sizeof c);
        if (n <= 0) die("server " + argv.back() + " exited before announcing its port");
        line.append(c, static_cast<std::size_t>(n));
    }
    ::close(pipefd[0]);
    if (std::sscanf(line.c_str(), "PORT %d", &out.port) != 1) die("bad announcement: " + line);
}

struct client {
    int fd = -1;
    std::uint32_t seq = 0;
    std::size_t got = 0;
    char sent[kMessage];
    char reply[kMessage];
};

void fill_message(client& c, std::uint32_t id) {
    std::memcpy(c.sent, &id, 4);
    std::memcpy(c.sent + 4, &c.seq, 4);
    for (std::size_t i = 8; i < kMessage; ++i)
        c.sent[i] = static_cast<char>('a' + (id + c.seq + i) % 26);
}

void send_message(client& c, std::uint32_t id) {
    fill_message(c, id);
    c.got = 0;
    if (::send(c.fd, c.sent, kMessage, MSG_NOSIGNAL) != static_cast<ssize_t>(kMessage))
        die_errno("client send");
}

// CPU time (user + system, every thread) the process `pid` has used so far, in seconds.
double cpu_seconds(pid_t pid) {
    FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) die_errno("/proc/PID/stat");
    char buf[1024];
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const char* p = std::strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                          &stime) != 2)
        die("cannot parse /proc/PID/stat");
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct load_result {
    double rate = 0;                  // round trips per second
    double server_cpu_us_per_rt = 0;  // the server's CPU time per round trip, microseconds
};

// Runs the load for `seconds` (after one checked round trip per connection).
load_result drive(pid_t server, int port, int nclients, double seconds) {
    std::vector<client> clients(static_cast<std::size_t>(nclients));
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    sockaddr_in sa = bench::loopback4(static_cast<std::uint16_t>(port));
    int one = 1;
    for (int i = 0; i < nclients; ++i) {
        client& c = clients[static_cast<std::size_t>(i)];
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) die_errno("client socket");
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        while (::connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
            if (errno != EINTR) die_errno("connect #" + std::to_string(i));
        }
        ::fcntl(c.fd, F_SETFL, O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    std::vector<epoll_event> events(1024);
    // phase 0: one checked round trip each (every connection accepted and served); phase 1: timed.
    load_result result;
    for (int phase = 0; phase < 2; ++phase) {
        const double cpu_before = cpu_seconds(server);
        for (std::size_t i = 0; i < clients.size(); ++i)
            send_message(clients[i], static_cast<std::uint32_t>(i));
        std::size_t outstanding = clients.size();
        unsigned long long round_trips = 0;
        const auto start = clock_type::now();
        const auto deadline = start + std::chrono::duration_cast<clock_type::duration>(
                                          std::chrono::duration<double>(seconds));
        bool more = phase == 1;
        while (outstanding > 0) {
            int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 30000);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0)
                die("no reply within 30 s (" + std::to_string(outstanding) + " outstanding)");
            if (more && clock_type::now() >= deadline) more = false;
            for (int e = 0; e < n; ++e) {
                std::uint32_t id = events[static_cast<std::size_t>(e)].data.u32;
                client& c = clients[id];
                ssize_t r = ::recv(c.fd, c.reply + c.got, kMessage - c.got, 0);
                if (r < 0 && errno == EAGAIN) continue;
                if (r <= 0) die("connection " + std::to_string(id) + " closed by the server");
                c.got += static_cast<std::size_t>(r);
                if (c.got < kMessage) continue;
                if (std::memcmp(c.reply, c.sent, kMessage) != 0)
                    die("wrong reply on connection " + std::to_string(id));
                ++round_trips;
                ++c.seq;
                if (more) {
                    send_message(c, id);
                } else {
                    --outstanding;
                }
            }
        }
        result.rate = static_cast<double>(round_trips) /
                      std::chrono::duration<double>(clock_type::now() - start).count();
        result.server_cpu_us_per_rt =
            (cpu_seconds(server) - cpu_before) * 1e6 / static_cast<double>(round_trips);
    }
    // An abortive close: no TIME_WAIT left behind, so 10,000-client runs do not exhaust the ports.
    linger lg{1, 0};
    for (auto& c : clients) {
        ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(c.fd);
    }
    ::close(ep);
    return result;
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

void raise_descriptor_limit(int needed) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < static_cast<rlim_t>(needed)) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(needed));
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> args(argv + 1, argv + argc);
    raise_descriptor_limit(20000);
    if (args.size() == 2 && args[0] == "serve") {
        const std::string& kind = args[1];
        if (kind == "selectors") serve_selectors(1);
        if (kind == "selectors_2t") serve_selectors(2);
        if (kind == "raw_epoll") serve_raw_epoll();
        if (kind == "threading") serve_threads<bench::pysock_threading_server>();
        if (kind == "raw_threads") serve_threads<bench::raw_thread_per_client_server>();
        die("unknown server " + kind);
    }
    std::vector<int> ks = {16, 128, 1000, 10000};
    std::vector<std::string> servers = {"selectors",    "raw_epoll", "python",
                                        "selectors_2t", "threading", "raw_threads"};
    double seconds = 2;
    int rounds = 3;
    std::string python = "bench/peers/selectors_server.py", csv;
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) die(args[i] + " needs a value");
            return args[++i];
        };
        if (args[i] == "--clients") {
            ks.clear();
            for (const auto& k : split(value())) ks.push_back(std::stoi(k));
        } else if (args[i] == "--servers") {
            servers = split(value());
        } else if (args[i] == "--seconds") {
            seconds = std::stod(value());
        } else if (args[i] == "--rounds") {
            rounds = std::stoi(value());
        } else if (args[i] == "--python") {
            python = value();
        } else if (args[i] == "--csv") {
            csv = value();
        } else {
            std::fprintf(stderr,
                         "usage: pysock_many_clients [--clients 16,128,1000,10000] [--seconds 2] "
                         "[--rounds 3]\n"
                         "         [--servers "
                         "selectors,raw_epoll,python,selectors_2t,threading,raw_threads]\n"
                         "         [--python bench/peers/selectors_server.py] [--csv FILE]\n"
                         "       pysock_many_clients serve KIND\n");
            return 2;
        }
    }
    std::map<std::pair<int, std::string>, double> median, median_cpu;
    for (int k : ks) {
        std::map<std::string, std::vector<double>> runs, cpu;
        for (int round = 0; round < rounds; ++round) {
            for (std::size_t j = 0; j < servers.size(); ++j) {
                const std::string& name =
                    servers[(j + static_cast<std::size_t>(round)) % servers.size()];
                server_process srv;
                if (name == "python") {
                    start_server({"python3", python}, srv);
                } else {
                    start_server({"/proc/self/exe", "serve", name}, srv);
                }
                load_result r = drive(srv.pid, srv.port, k, seconds);
                runs[name].push_back(r.rate);
                cpu[name].push_back(r.server_cpu_us_per_rt);
                std::fprintf(stderr,
                             "  K=%-5d %-13s round %d: %10.0f round trips/s, server CPU %6.2f us "
                             "per round trip\n",
                             k, name.c_str(), round + 1, r.rate, r.server_cpu_us_per_rt);
            }
        }
        for (auto& [name, v] : runs) median[{k, name}] = bench::median(v);
        for (auto& [name, v] : cpu) median_cpu[{k, name}] = bench::median(v);
    }
    auto get = [&](int k, const char* name) {
        auto it = median.find({k, name});
        return it == median.end() ? 0.0 : it->second;
    };
    auto ratio = [&](int k, const char* a, const char* b) {
        double x = get(k, a), y = get(k, b);
        char text[32];
        if (x <= 0 || y <= 0) return std::string("-");
        std::snprintf(text, sizeof text, "%.2f", x / y);
        return std::string(text);
    };
    std::printf("\nround trips per second (median of %d), 64 B ping-pong, one epoll load "
                "generator\n\n| K |",
                rounds);
    for (const auto& s : servers) std::printf(" %s |", s.c_str());
    std::printf(" selectors / raw_epoll | selectors / python | selectors_2t / raw_epoll | "
                "threading / raw_threads |\n|---:|");
    for (std::size_t i = 0; i < servers.size() + 4; ++i) std::printf("---:|");
    std::printf("\n");
    for (int k : ks) {
        std::printf("| %d |", k);
        for (const auto& s : servers) std::printf(" %.0f |", get(k, s.c_str()));
        std::printf(" %s | %s | %s | %s |\n", ratio(k, "selectors", "raw_epoll").c_str(),
                    ratio(k, "selectors", "python").c_str(),
                    ratio(k, "selectors_2t", "raw_epoll").c_str(),
                    ratio(k, "threading", "raw_threads").c_str());
    }
    std::printf("\nserver CPU time per round trip, microseconds (median of %d; user + system, "
                "every thread)\n\n| K |",
                rounds);
    for (const auto& s : servers) std::printf(" %s |", s.c_str());
    std::printf(" python / selectors | raw_threads / threading |\n|---:|");
    for (std::size_t i = 0; i < servers.size() + 2; ++i) std::printf("---:|");
    std::printf("\n");
    auto cpu_of = [&](int k, const char* name) {
        auto it = median_cpu.find({k, name});
        return it == median_cpu.end() ? 0.0 : it->second;
    };
    for (int k : ks) {
        std::printf("| %d |", k);
        for (const auto& s : servers) std::printf(" %.2f |", cpu_of(k, s.c_str()));
        auto cpu_ratio = [&](const char* a, const char* b) {
            double x = cpu_of(k, a), y = cpu_of(k, b);
            char text[32];
            if (x <= 0 || y <= 0) return std::string("-");
            std::snprintf(text, sizeof text, "%.2f", x / y);
            return std::string(text);
        };
        std::printf(" %s | %s |\n", cpu_ratio("python", "selectors").c_str(),
                    cpu_ratio("raw_threads", "threading").c_str());
    }
    if (!csv.empty()) {
        FILE* f = std::fopen(csv.c_str(), "w");
        if (!f) die_errno(csv);
        std::fprintf(f, "clients");
        for (const auto& s : servers) std::fprintf(f, ",%s", s.c_str());
        std::fprintf(f, "\n");
        for (int k : ks) {
            std::fprintf(f, "%d", k);
            for (const auto& s : servers) std::fprintf(f, ",%.0f", get(k, s.c_str()));
            std::fprintf(f, "\n");
        }
        std::fclose(f);
    }
    return 0;
}
