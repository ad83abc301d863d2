// pysock_tls: TLS over loopback, pysock::ssl beside a raw OpenSSL loop and Python's ssl module.
//
//   pysock_tls [--mib 256] [--handshakes 300] [--rounds 3] [--python bench/peers/tls.py]
//              [--only pysock|raw]     (one implementation: for callgrind, which counts what the
//                                       library itself costs where the clock cannot)
//              [--timeout SECONDS]     (pysock's sockets in timeout mode, both ends: what a
//                                       timeout costs; strace -f -c counts its system calls)
//
// Certificates are made at start (tests/tls_certs.hpp: EC P-256, a CA and a localhost leaf) in a
// temporary directory, removed at the end. Each implementation is both ends, in two threads (the
// Python peer: two threads of one process); TLS 1.3, the same context settings for pysock and the
// raw loop (the raw loop uses the SSL_CTX of pysock's context, through native_handle()):
//   echo        the client sends MIB mebibytes in 64 KiB writes; the server reads 64 KiB and
//               sends it back; the client reads each block back before sending the next.
//               Figure: MiB/s sent (each byte also comes back). Every block is checked.
//   handshakes  connect, full handshake (certificate verified, host name checked), close; the
//               server accepts and shakes hands. Figure: handshakes per second.
// Medians of the rounds (order rotating), then the ratios the README quotes.
#include <pysock/ssl.hpp>

#include "rounds.hpp"
#include "tests/tls_certs.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace ssl = pysock::ssl;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t block_size = 64 * 1024;

[[noreturn]] void die(const std::string& what) { bench::die("pysock_tls", what); }

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct contexts {
    ssl::ssl_context server{ssl::PROTOCOL_TLS_SERVER};
    ssl::ssl_context client{ssl::PROTOCOL_TLS_CLIENT};
    std::optional<double> timeout;  // pysock's sockets: blocking, or --timeout
};

struct tcp_pair {
    pysock::socket client, server;
};
// TCP_NODELAY on both ends (for every implementation, Python's too): a 64 KiB write is four
// records, and Nagle's algorithm would hold the last one back for the peer's delayed ACK.
tcp_pair connect_pair(pysock::socket& listener) {
    pysock::socket client = pysock::create_connection(listener.getsockname());
    auto [server, addr] = listener.accept();
    client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    server.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    return {std::move(client), std::move(server)};
}

double mib_per_second(std::size_t blocks, double elapsed) {
    return static_cast<double>(blocks * block_size) / (1024.0 * 1024.0) / elapsed;
}

std::string pattern_block() {
    std::string b(block_size, '\0');
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(i * 7 + 3);
    return b;
}

// ---- pysock ---------------------------------------------------------------------------------

double echo_pysock(contexts& ctx, std::size_t mib) {
    pysock::socket listener = pysock::create_server({"127.0.0.1", 0});
    auto tcp = connect_pair(listener);
    std::thread server([&] {
        tcp.server.settimeout(ctx.timeout);
        auto tls = ctx.server.wrap_socket(std::move(tcp.server), true);
        std::vector<char> buf(block_size);
        for (std::size_t n; (n = tls.recv_into(buf.data(), buf.size())) != 0;)
            tls.sendall(std::string_view(buf.data(), n));
    });
    tcp.client.settimeout(ctx.timeout);
    auto tls = ctx.client.wrap_socket(std::move(tcp.client), false, "localhost");
    const std::string block = pattern_block();
    std::string back(block_size, '\0');
    const std::size_t blocks = mib * 1024 * 1024 / block_size;
    auto start = clock_type::now();
    for (std::size_t i = 0; i < blocks; ++i) {
        tls.sendall(block);
        for (std::size_t got = 0; got < block_size;) {
            std::size_t n = tls.recv_into(&back[got], block_size - got);
            if (n == 0) die("pysock echo: the server closed early");
            got += n;
        }
        if (back != block) die("pysock echo: a block came back changed");
    }
    double elapsed = seconds_since(start);
    tls.close();
    server.join();
    return mib_per_second(blocks, elapsed);
}

double handshakes_pysock(contexts& ctx, int n) {
    pysock::socket listener = pysock::create_server({"127.0.0.1", 0});
    auto addr = listener.getsockname();
    std::thread server([&] {
        for (int i = 0; i < n; ++i) {
            auto [conn, peer] = listener.accept();
            conn.settimeout(ctx.timeout);
            auto tls = ctx.server.wrap_socket(std::move(conn), true);
        }
    });
    auto start = clock_type::now();
    for (int i = 0; i < n; ++i) {
        auto tls = ctx.client.wrap_socket(pysock::create_connection(addr, ctx.timeout), false,
                                          "localhost");
        if (!tls.version()) die("pysock handshake: no version");
    }
    double elapsed = seconds_since(start);
    server.join();
    return n / elapsed;
}

// ---- a raw OpenSSL loop: SSL_set_fd, SSL_connect/SSL_accept, SSL_read/SSL_write ---------------

SSL* raw_ssl(SSL_CTX* ctx, int fd, bool server) {
    SSL* s = SSL_new(ctx);
    SSL_set_fd(s, fd);
    if (!server) {
        SSL_set_tlsext_host_name(s, "localhost");
        SSL_set1_host(s, "localhost");
    }
    if ((server ? SSL_accept(s) : SSL_connect(s)) != 1) die("raw OpenSSL: handshake failed");
    return s;
}

void raw_write_all(SSL* s, const char* data, std::size_t n) {
    while (n > 0) {
        int w = SSL_write(s, data, static_cast<int>(n));
        if (w <= 0) die("raw OpenSSL: SSL_write failed");
        data += w;
        n -= static_cast<std::size_t>(w);
    }
}

double echo_raw(contexts& ctx, std::size_t mib) {
    pysock::socket listener = pysock::create_server({"127.0.0.1", 0});
    auto tcp = connect_pair(listener);
    std::thread server([&] {
        SSL* s = raw_ssl(ctx.server.native_handle(), tcp.server.fileno(), true);
        std::vector<char> buf(block_size);
        for (int n; (n = SSL_read(s, buf.data(), static_cast<int>(buf.size()))) > 0;)
            raw_write_all(s, buf.data(), static_cast<std::size_t>(n));
        SSL_free(s);
    });
    SSL* s = raw_ssl(ctx.client.native_handle(), tcp.client.fileno(), false);
    const std::string block = pattern_block();
    std::string back(block_size, '\0');
    const std::size_t blocks = mib * 1024 * 1024 / block_size;
    auto start = clock_type::now();
    for (std::size_t i = 0; i < blocks; ++i) {
        raw_write_all(s, block.data(), block.size());
        for (std::size_t got = 0; got < block_size;) {
            int n = SSL_read(s, &back[got], static_cast<int>(block_size - got));
            if (n <= 0) die("raw echo: the server closed early");
            got += static_cast<std::size_t>(n);
        }
        if (back != block) die("raw echo: a block came back changed");
    }
    double elapsed = seconds_since(start);
    SSL_free(s);
    tcp.client.shutdown(SHUT_RDWR);
    server.join();
    return mib_per_second(blocks, elapsed);
}

double handshakes_raw(contexts& ctx, int n) {
    pysock::socket listener = pysock::create_server({"127.0.0.1", 0});
    auto addr = listener.getsockname();
    std::thread server([&] {
        for (int i = 0; i < n; ++i) {
            auto [conn, peer] = listener.accept();
            SSL_free(raw_ssl(ctx.server.native_handle(), conn.fileno(), true));
        }
    });
    auto start = clock_type::now();
    for (int i = 0; i < n; ++i) {
        pysock::socket conn = pysock::create_connection(addr);
        SSL_free(raw_ssl(ctx.client.native_handle(), conn.fileno(), false));
    }
    double elapsed = seconds_since(start);
    server.join();
    return n / elapsed;
}

// ---- Python's ssl (a peer process that prints its figure) --------------------------------------

double python_figure(const std::string& script, const std::string& mode, const std::string& dir,
                     const std::string& amount) {
    std::string cmd = "python3 " + script + " " + mode + " " + amount + " " + dir;
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) die("cannot run " + cmd);
    char line[256] = "";
    bool got = std::fgets(line, sizeof line, p) != nullptr;
    int status = ::pclose(p);
    if (!got || status != 0) die(cmd + " failed");
    return std::atof(line);
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t mib = 256;
    int handshakes = 300;
    int rounds = 3;
    std::string python;
    std::string only;
    std::optional<double> timeout;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--mib")
            mib = std::stoul(value());
        else if (a == "--handshakes")
            handshakes = std::stoi(value());
        else if (a == "--rounds")
            rounds = std::stoi(value());
        else if (a == "--python")
            python = value();
        else if (a == "--only")
            only = value();
        else if (a == "--timeout")
            timeout = std::stod(value());
        else
            die("usage: pysock_tls [--mib N] [--handshakes N] [--rounds N] [--python tls.py] "
                "[--only pysock|raw] [--timeout SECONDS]");
    }
    // The raw OpenSSL loop writes with write(): a peer that closed first (a server sending its
    // session tickets after the client left) raises SIGPIPE, which kills a program that does not
    // ignore it, as every raw OpenSSL program must. pysock's transport needs no such thing.
    std::signal(SIGPIPE, SIG_IGN);
    char dir_template[] = "/tmp/pysock-bench-tls-XXXXXX";
    if (!::mkdtemp(dir_template)) die("mkdtemp failed");
    const std::string dir = dir_template;
    pysock_tls_certs::test_pki pki(dir);
    contexts ctx;
    ctx.timeout = timeout;
    ctx.server.load_cert_chain(pki.path("server.pem"), pki.path("server.key"));
    ctx.client.load_verify_locations(pki.ca());

    std::vector<std::string> names{"pysock", "raw OpenSSL"};
    if (!python.empty()) names.push_back("Python ssl");
    if (only == "pysock" || only == "raw")
        names = {only == "pysock" ? "pysock" : "raw OpenSSL"};
    else if (!only.empty())
        die("--only takes pysock or raw");
    std::printf("TLS 1.3 over loopback (%s), %d rounds\n", ssl::openssl_version().c_str(), rounds);
    auto report = [](const char* unit) {
        return [unit](const std::string& name, int round, double figure) {
            std::printf("  round %d  %-12s %12.1f %s\n", round, name.c_str(), figure, unit);
            std::fflush(stdout);
        };
    };
    std::printf("echo, 64 KiB blocks, %zu MiB:\n", mib);
    auto echo = bench::medians_of_rounds(
        names, rounds,
        [&](const std::string& name) {
            if (name == "pysock") return echo_pysock(ctx, mib);
            if (name == "raw OpenSSL") return echo_raw(ctx, mib);
            return python_figure(python, "echo", dir, std::to_string(mib));
        },
        report("MiB/s"));
    std::printf("handshakes, %d per round:\n", handshakes);
    auto hs = bench::medians_of_rounds(
        names, rounds,
        [&](const std::string& name) {
            if (name == "pysock") return handshakes_pysock(ctx, handshakes);
            if (name == "raw OpenSSL") return handshakes_raw(ctx, handshakes);
            return python_figure(python, "handshakes", dir, std::to_string(handshakes));
        },
        report("handshakes/s"));
    std::printf("\nmedians            echo MiB/s   handshakes/s\n");
    for (const auto& name : names)
        std::printf("  %-14s %12.1f %14.1f\n", name.c_str(), echo[name], hs[name]);
    if (names.size() < 2) {
        std::system(("rm -rf " + dir).c_str());
        return 0;
    }
    std::printf("pysock / raw OpenSSL: echo %.3fx, handshakes %.3fx\n",
                echo["pysock"] / echo["raw OpenSSL"], hs["pysock"] / hs["raw OpenSSL"]);
    if (!python.empty())
        std::printf("pysock / Python ssl:  echo %.2fx, handshakes %.2fx\n",
                    echo["pysock"] / echo["Python ssl"], hs["pysock"] / hs["Python ssl"]);
    std::system(("rm -rf " + dir).c_str());
    return 0;
}
