// pysock_readline: lines per second read from a socket, three ways side by side in one run.
//
//   pysock_readline [--seconds 2] [--rounds 3] [--line 32] [--python bench/peers/readline.py]
//
//   makefile   pysock: sock.makefile("rb"), then readline() per line (a bytes object each)
//   raw        a hand-written recv() loop into a 64 KiB buffer, memchr() to find each line (no
//              object per line: the ceiling)
//   python     Python's sock.makefile("rb").readline() (bench/peers/readline.py)
// A writer thread (a Python thread for Python) fills a socketpair with 64 KiB blocks of LINE-byte
// lines with sendall; the reader counts lines for SECONDS, checking each line's length. Rounds
// rotate the order; medians are reported.
#include <pysock/socket.hpp>

#include "rounds.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) { bench::die("pysock_readline", what); }

// A socketpair with a writer thread that keeps it full until the reader closes its end.
class line_source {
public:
    explicit line_source(std::size_t line) {
        auto p = pysock::socketpair();
        writer_ = std::move(p.first);
        reader = std::move(p.second);
        std::string one(line - 1, 'x');
        one += '\n';
        for (std::size_t i = 0; i < 65536 / line; ++i) block_ += one;
        thread_ = std::thread([this] {
            try {
                for (;;) writer_.sendall(block_);
            } catch (const pysock::error&) {  // the reader closed its end: done
            }
        });
    }
    ~line_source() {
        reader.close();
        thread_.join();
    }
    pysock::socket reader;

private:
    pysock::socket writer_;
    std::string block_;
    std::thread thread_;
};

template <class ReadLines>  // ReadLines(n): reads n lines, checking each
double rate(double seconds, ReadLines read_lines) {
    unsigned long long lines = 0;
    const auto start = clock_type::now();
    const auto deadline = start + std::chrono::duration_cast<clock_type::duration>(
                                      std::chrono::duration<double>(seconds));
    do {
        read_lines(1024);
        lines += 1024;
    } while (clock_type::now() < deadline);
    return static_cast<double>(lines) /
           std::chrono::duration<double>(clock_type::now() - start).count();
}

double makefile_rate(double seconds, std::size_t line) {
    line_source src(line);
    pysock::socket_file f = src.reader.makefile("rb");
    return rate(seconds, [&](int n) {
        for (int i = 0; i < n; ++i)
            if (f.readline().size() != line) die("makefile: a short line");
    });
}

double raw_rate(double seconds, std::size_t line) {
    line_source src(line);
    const int fd = static_cast<int>(src.reader.fileno());
    std::vector<char> buf(65536);
    std::size_t begin = 0, end = 0;
    return rate(seconds, [&](int n) {
        for (int i = 0; i < n; ++i) {
            for (;;) {
                const void* nl = std::memchr(buf.data() + begin, '\n', end - begin);
                if (nl) {
                    std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) -
                                                               (buf.data() + begin)) +
                                      1;
                    if (len != line) die("raw: a short line");
                    begin += len;
                    break;
                }
                std::memmove(buf.data(), buf.data() + begin, end - begin);
                end -= begin;
                begin = 0;
                ssize_t r = ::recv(fd, buf.data() + end, buf.size() - end, 0);
                if (r <= 0) die("raw: recv failed");
                end += static_cast<std::size_t>(r);
            }
        }
    });
}

double python_rate(double seconds, std::size_t line, const std::string& script) {
    std::string cmd =
        "python3 '" + script + "' " + std::to_string(seconds) + " " + std::to_string(line);
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) die("cannot run " + cmd);
    double r = 0;
    char text[256];
    while (std::fgets(text, sizeof text, p))
        if (std::sscanf(text, "LINES_PER_S %lf", &r) == 1) break;
    if (::pclose(p) != 0 || r <= 0) die(cmd + " failed");
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2;
    int rounds = 3;
    std::size_t line = 32;
    std::string python = "bench/peers/readline.py";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc)
            die("usage: pysock_readline [--seconds 2] [--rounds 3] [--line 32] [--python "
                "bench/peers/readline.py]");
        std::string v = argv[++i];
        if (a == "--seconds")
            seconds = std::stod(v);
        else if (a == "--rounds")
            rounds = std::stoi(v);
        else if (a == "--line")
            line = static_cast<std::size_t>(std::stoul(v));
        else if (a == "--python")
            python = v;
        else
            die("unknown option " + a);
    }
    if (line < 1 || line > 65536) die("--line must be 1..65536");
    auto median = bench::medians_of_rounds(
        {"makefile", "raw", "python"}, rounds,
        [&](const std::string& impl) {
            return impl == "makefile" ? makefile_rate(seconds, line)
                   : impl == "raw"    ? raw_rate(seconds, line)
                                      : python_rate(seconds, line, python);
        },
        [](const std::string& impl, int round, double r) {
            std::fprintf(stderr, "  %-9s round %d: %12.0f lines/s\n", impl.c_str(), round, r);
        });
    std::printf("lines of %zu bytes per second (median of %d)\n\n", line, rounds);
    std::printf("| pysock makefile().readline() | raw recv + memchr | Python makefile().readline() "
                "| pysock / Python | pysock / raw |\n");
    std::printf("|---:|---:|---:|---:|---:|\n");
    std::printf("| %.3gM | %.3gM | %.3gM | %.2f | %.2f |\n", median["makefile"] / 1e6,
                median["raw"] / 1e6, median["python"] / 1e6, median["makefile"] / median["python"],
                median["makefile"] / median["raw"]);
    return 0;
}
