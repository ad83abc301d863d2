// chat_server_lines.cpp - examples/chat_server.cpp compiled as it is, with its main() renamed,
// so that fuzz_chat_framing can drive the example's own LineReader (see chat_framing.hpp).
// The headers the example includes come first, so that the renaming touches only its main().
#include <pysock/socket.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <unistd.h>

// main, and the extern "C" signal handler (C linkage: one name for both examples), renamed.
#define main pysock_example_chat_server_main
#define on_ctrl_c pysock_example_chat_server_on_ctrl_c
#include "examples/chat_server.cpp"
#undef on_ctrl_c
#undef main

#include "chat_framing.hpp"

fuzz::read_result fuzz::chat_server_read_lines(pysock::socket& sock) {
    read_result result;
    LineReader reader(sock);
    for (auto line = reader.readline(); line; line = reader.readline()) result.lines.push_back(*line);
    result.stays_closed = !reader.readline().has_value();
    return result;
}
