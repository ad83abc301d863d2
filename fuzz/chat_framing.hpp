// chat_framing.hpp - the two LineReaders of the chat example (examples/chat_server.cpp and
// examples/chat_client.cpp), reached from the fuzz target. The examples keep LineReader in an
// anonymous namespace of each program, next to main(): chat_server_lines.cpp and
// chat_client_lines.cpp each compile one example as it is (main renamed) and expose its
// LineReader through one of these functions.
#ifndef PYSOCK_FUZZ_CHAT_FRAMING_HPP
#define PYSOCK_FUZZ_CHAT_FRAMING_HPP

#include <pysock/socket.hpp>

#include <string>
#include <vector>

namespace fuzz {

struct read_result {
    std::vector<std::string> lines;  // what readline() returned until it returned nullopt
    bool stays_closed = false;       // a readline() after that returned nullopt again
};

// LineReader(sock).readline() until the end of the stream, then once more.
read_result chat_server_read_lines(pysock::socket& sock);
read_result chat_client_read_lines(pysock::socket& sock);

} // namespace fuzz

#endif
