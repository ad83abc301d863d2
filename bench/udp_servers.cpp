// pysock_udp_servers: datagrams per second answered by the four UDP servers of Python's
// socketserver, pysock's and Python's side by side in one run.
//
//   pysock_udp_servers [--datagrams 20000] [--window 64] [--rounds 3] [--handler-ms 0,1]
//                      [--python bench/peers/udp_server.py]
//
//   udp_server            pysock: one datagram at a time, in the serving thread
//   threading_udp_server  pysock: a pool of at most PYSOCK_UDP_MAX_THREADS (16) threads
//   python UDPServer      socketserver.UDPServer (bench/peers/udp_server.py plain)
//   python Threading      socketserver.ThreadingUDPServer: a new thread per datagram
// One client sends DATAGRAMS numbered datagrams keeping WINDOW unanswered at most, and checks
// that each is answered exactly once. Each handler first waits HANDLER_MS milliseconds (the
// blocking work of a real handler: a lookup, a disk read), then echoes. With 0 ms the cost of
// the server itself shows; with 1 ms, what concurrency buys. pysock's servers run in a thread
// of this process, Python's in a python3 process. Rounds rotate the order; medians are reported.
#include <pysock/socket.hpp>

#include "rounds.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) { bench::die("pysock_udp_servers", what); }

// Sends `total` numbered datagrams, `window` unanswered at most; returns datagrams per second.
// A datagram lost or answered twice ends the run: the servers must not drop what they read.
double drive(const pysock::address& server, int total, int window) {
    pysock::socket c(AF_INET, SOCK_DGRAM);
    c.bind({"127.0.0.1", 0});
    c.settimeout(10.0);
    std::vector<char> answered(static_cast<std::size_t>(total), 0);
    int sent = 0;
    const auto start = clock_type::now();
    for (; sent < window && sent < total; ++sent) c.sendto(std::to_string(sent), server);
    for (int received = 0; received < total; ++received) {
        const int n = std::stoi(c.recv(32));
        if (n < 0 || n >= total || answered[static_cast<std::size_t>(n)]++)
            die("a datagram answered twice");
        if (sent < total) c.sendto(std::to_string(sent++), server);
    }
    return total / std::chrono::duration<double>(clock_type::now() - start).count();
}

void wait_ms(int ms) {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // the handler's work
}

template <class Server>
double pysock_rate(int handler_ms, int total, int window) {
    Server server({"127.0.0.1", 0}, [handler_ms](const pysock::bytes& data, pysock::socket& sock,
                                                 const pysock::address& client) {
        wait_ms(handler_ms);
        sock.sendto(data, client);
    });
    std::thread loop([&] { server.serve_forever(); });
    double r = drive(server.server_address(), total, window);
    server.shutdown();
    loop.join();
    return r;
}

// Python's server in a child process: stdin is a pipe we close to stop it, stdout says its port.
double python_rate(const std::string& script, const char* mode, int handler_ms, int total,
                   int window) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) die("pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::close(in[1]);
        ::close(out[0]);
        std::string ms = std::to_string(handler_ms);
        ::execlp("python3", "python3", script.c_str(), mode, ms.c_str(),
                 static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    std::string text;
    char buf[64];
    ssize_t n;
    while (text.find('\n') == std::string::npos && (n = ::read(out[0], buf, sizeof buf)) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    int port = 0;
    if (std::sscanf(text.c_str(), "PORT %d", &port) != 1) die(script + " did not print its port");
    double r = drive({"127.0.0.1", port}, total, window);
    ::close(in[1]);
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die(script + " failed");
    return r;
}

std::vector<int> int_list(const std::string& text) {
    std::vector<int> v;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) v.push_back(std::stoi(item));
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    int total = 20000, window = 64, rounds = 3;
    std::vector<int> handler_ms = {0, 1};
    std::string python = "bench/peers/udp_server.py";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc)
            die("usage: pysock_udp_servers [--datagrams 20000] [--window 64] [--rounds 3] "
                "[--handler-ms 0,1] "
                "[--python bench/peers/udp_server.py]");
        std::string v = argv[++i];
        if (a == "--datagrams")
            total = std::stoi(v);
        else if (a == "--window")
            window = std::stoi(v);
        else if (a == "--rounds")
            rounds = std::stoi(v);
        else if (a == "--handler-ms")
            handler_ms = int_list(v);
        else if (a == "--python")
            python = v;
        else
            die("unknown option " + a);
    }
    if (total < 1 || window < 1 || rounds < 1)
        die("--datagrams, --window and --rounds must be positive");
    const std::vector<std::string> impls = {"udp_server", "threading_udp_server",
                                            "python UDPServer", "python ThreadingUDPServer"};
    std::printf(
        "datagrams answered per second (median of %d rounds; %d datagrams, %d in flight)\n\n",
        rounds, total, window);
    std::printf(
        "| handler work | pysock udp_server | pysock threading_udp_server | Python UDPServer | "
        "Python ThreadingUDPServer | threading: pysock / Python "
        "|\n|---|---:|---:|---:|---:|---:|\n");
    for (int ms : handler_ms) {
        auto median = bench::medians_of_rounds(
            impls, rounds,
            [&](const std::string& impl) {
                return impl == "udp_server" ? pysock_rate<pysock::udp_server>(ms, total, window)
                       : impl == "threading_udp_server"
                           ? pysock_rate<pysock::threading_udp_server>(ms, total, window)
                       : impl == "python UDPServer"
                           ? python_rate(python, "plain", ms, total, window)
                           : python_rate(python, "threading", ms, total, window);
            },
            [ms](const std::string& impl, int round, double r) {
                std::fprintf(stderr, "  %d ms  %-26s round %d: %10.0f datagrams/s\n", ms,
                             impl.c_str(), round, r);
            });
        std::printf("| %d ms | %.0f | %.0f | %.0f | %.0f | %.2f |\n", ms, median["udp_server"],
                    median["threading_udp_server"], median["python UDPServer"],
                    median["python ThreadingUDPServer"],
                    median["threading_udp_server"] / median["python ThreadingUDPServer"]);
    }
    return 0;
}
