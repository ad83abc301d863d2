// pysock_sendfile: sending a file over loopback TCP, sock.sendfile() beside a read + sendall loop.
//
//   pysock_sendfile [--mib 1024] [--rounds 3] [--dir /tmp]
//
// Makes a file of MIB mebibytes in DIR (removed at the end; nothing is stored), then, rounds
// alternating the order: a receiver thread drains a connected loopback pair with recv_into()
// into a 256 KiB buffer, while the sender sends the whole file
//   sendfile      pysock: sock.sendfile(fd): zero-copy (Linux sendfile())
//   read+sendall  the loop people write: read() 64 KiB, sendall() it, until end of file
// and the receiver checks the byte count. Medians of GiB/s are printed, with their ratio.
#include <pysock/socket.hpp>

#include "rounds.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) { bench::die("pysock_sendfile", what); }

double send_once(const std::string& how, int fd, std::uint64_t size) {
    pysock::socket listener = pysock::create_server({"127.0.0.1", 0});
    pysock::socket sender = pysock::create_connection(listener.getsockname());
    auto [receiver, addr] = listener.accept();
    std::uint64_t received = 0;
    std::thread drain([&, &r = receiver] {
        std::vector<char> buf(256 * 1024);
        for (std::size_t n; (n = r.recv_into(buf.data(), buf.size())) != 0;) received += n;
    });
    const auto start = clock_type::now();
    if (how == "sendfile") {
        if (sender.sendfile(fd, 0) != size) die("sendfile sent less than the file");
    } else {
        std::vector<char> buf(64 * 1024);
        if (::lseek(fd, 0, SEEK_SET) != 0) die("lseek failed");
        for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;)
            sender.sendall(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
    sender.shutdown(SHUT_WR);
    drain.join();
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (received != size) die(how + ": the receiver got " + std::to_string(received) + " bytes");
    return static_cast<double>(size) / seconds / (1024.0 * 1024 * 1024);
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t mib = 1024;
    int rounds = 3;
    std::string dir = "/tmp";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) die("usage: pysock_sendfile [--mib 1024] [--rounds 3] [--dir /tmp]");
        std::string v = argv[++i];
        if (a == "--mib")
            mib = std::stoull(v);
        else if (a == "--rounds")
            rounds = std::stoi(v);
        else if (a == "--dir")
            dir = v;
        else
            die("unknown option " + a);
    }
    if (mib == 0 || rounds < 1) die("--mib and --rounds must be positive");
    std::string path = dir + "/pysock-sendfile-XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0) die("cannot create a file in " + dir);
    ::unlink(path.c_str());  // gone when closed, whatever happens
    std::vector<char> block(1 << 20);
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131 + 7);
    for (std::uint64_t i = 0; i < mib; ++i)
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()))
            die("write failed");
    const std::uint64_t size = mib << 20;
    auto median = bench::medians_of_rounds(
        {"sendfile", "read+sendall"}, rounds,
        [&](const std::string& how) { return send_once(how, fd, size); },
        [](const std::string& how, int round, double r) {
            std::fprintf(stderr, "  %-12s round %d: %.2f GiB/s\n", how.c_str(), round, r);
        });
    ::close(fd);
    std::printf("a %llu MiB file over loopback TCP, GiB/s (median of %d)\n\n",
                static_cast<unsigned long long>(mib), rounds);
    std::printf("| sock.sendfile() | read + sendall loop | sendfile / loop |\n|---:|---:|---:|\n");
    std::printf("| %.2f | %.2f | %.2f |\n", median["sendfile"], median["read+sendall"],
                median["sendfile"] / median["read+sendall"]);
    return 0;
}
