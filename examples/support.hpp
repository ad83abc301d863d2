// support.hpp - what the examples share and is not their lesson: reading the command line and
// leaving on Ctrl-C; and the chat's line framing (exercise 3's, written once for both sides).
#ifndef PYSOCK_EXAMPLES_SUPPORT_HPP
#define PYSOCK_EXAMPLES_SUPPORT_HPP

#include <pysock/socket.hpp>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace example {

/// Prints `usage` on stderr and returns 2, the exit status for bad arguments.
inline int bad_arguments(const char* usage) {
    std::cerr << usage;
    return 2;
}

inline const char* ctrl_c_message = "";
inline int ctrl_c_fd = 1;

// Ctrl-C: Python raises KeyboardInterrupt, and its `with` blocks close the sockets. A C++ signal
// handler must not throw, so it prints the message and leaves at once (the OS closes every
// socket). Only async-signal-safe calls here (write, _Exit); 130 = 128 + SIGINT, what shells
// expect.
extern "C" inline void leave_on_ctrl_c(int) {
#if defined(_WIN32)
    int n = ::_write(ctrl_c_fd, ctrl_c_message, static_cast<unsigned>(std::strlen(ctrl_c_message)));
#else
    ssize_t n = ::write(ctrl_c_fd, ctrl_c_message, std::strlen(ctrl_c_message));
#endif
    (void)n;
    std::_Exit(130);
}

/// Ctrl-C prints `message` (a string literal: it must outlive the program) on `fd` (1 stdout,
/// 2 stderr) and exits with 130.
inline void exit_on_ctrl_c(const char* message, int fd = 1) {
    ctrl_c_message = message;
    ctrl_c_fd = fd;
    std::signal(SIGINT, leave_on_ctrl_c);
}

/// A port argument: digits only, 0..65535; -1 when it is anything else.
inline int parse_port(const std::string& text) {
    if (text.empty() || text.size() > 5 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    int port = std::stoi(text);
    return port <= 65535 ? port : -1;
}

/// A positive count argument (at most `most`); -1 when it is anything else.
inline int parse_count(const std::string& text, int most) {
    if (text.empty() || text.size() > 9 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    int n = std::stoi(text);
    return n >= 1 && n <= most ? n : -1;
}

/// The course's "[HOST [PORT]]" arguments: they override the program's HOST and PORT constants.
/// Returns -1 to go on, or the exit status: 0 after printing `usage` for -h/--help, 2 after
/// printing it on stderr for anything else (a third argument, an unknown option, a bad port).
inline int host_port_args(int argc, char** argv, std::string& host, int& port, const char* usage) {
    if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
        std::cout << usage;
        return 0;
    }
    if (argc > 3) return bad_arguments(usage);
    if (argc >= 2) host = argv[1];
    if (argc == 3 && (port = parse_port(argv[2])) < 0) return bad_arguments(usage);
    if (!host.empty() && host[0] == '-') return bad_arguments(usage);  // an option, not a host
    return -1;
}

/// The chat's framing (exercise 3): one message is one line of UTF-8 text ending in '\n'. Returns
/// the next message without its "\n" (nor a "\r" before it), or std::nullopt once the peer has
/// closed the connection (a last line without "\n" was cut short: it is dropped). A peer that
/// never ends its line cannot make us hold more than 1 MiB: std::length_error.
inline std::optional<std::string> read_message(pysock::socket_file& lines) {
    constexpr std::size_t max_line = 1 << 20;
    //  > line = lines.readline(MAX_LINE + 1)
    pysock::bytes line = lines.readline(max_line + 1);
    if (line.empty() || line.back() != '\n') {
        if (line.size() > max_line) throw std::length_error("message trop long");
        return std::nullopt;  // b'' (or a cut line): the peer has left
    }
    line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace example

#endif  // PYSOCK_EXAMPLES_SUPPORT_HPP
