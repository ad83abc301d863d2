// fuzz_chat_framing.cpp - libFuzzer target: the line framing of the chat example (Exercise 3).
//
// TCP delivers a stream whose recv() boundaries fall anywhere. This target takes an arbitrary byte
// stream and arbitrary split points from the input, hands the pieces to the example's own
// LineReader (server's and client's, see chat_framing.hpp) one recv() at a time, and checks that
// the lines come out exactly as a reference framing says:
//   * the stream is cut at every '\n'; each complete line is returned without its '\n' and
//     without one '\r' just before it (so messages sent by send_line(), message + "\n", with no
//     '\n' inside and not ending in '\r', come out exactly as sent);
//   * bytes after the last '\n' (a line cut short by the peer leaving) are dropped;
//   * then readline() says "end of stream" (nullopt), and says it again if called again.
// Exact recv() boundaries: the pieces travel over an AF_UNIX SOCK_SEQPACKET socketpair, where
// each recv(1024) returns exactly one send() (pieces are 1..1024 bytes, never empty: TCP never
// delivers an empty piece, and an empty recv() means end of stream). Single-threaded and
// bounded: every piece is queued before reading starts (at most ~70 small packets, well within
// the socket buffer), and the reader has a timeout, so a framing bug fails, never hangs.
//
// Input layout (FuzzedDataProvider): piece sizes come from the END of the input, the stream's
// bytes from the front. Run with -max_len=4096 (the stage does): the 1 MiB line limit
// (std::length_error) is beyond reach, see the stage.
#include <pysock/socket.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "chat_framing.hpp"
#include "fuzz_check.hpp"

namespace {

std::vector<std::string> reference_lines(const std::string& stream) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        if (stream[i] != '\n') continue;
        std::size_t end = i;
        if (end > start && stream[end - 1] == '\r') --end;
        lines.push_back(stream.substr(start, end - start));
        start = i + 1;
    }
    return lines;
}

std::string show_lines(const std::vector<std::string>& lines) {
    std::string out = "[";
    for (const auto& l : lines) out += (out.size() > 1 ? ", " : "") + fuzz::show(l);
    return out + "]";
}

void check(const char* side, fuzz::read_result (*read_lines)(pysock::socket&),
           const std::vector<std::string>& pieces, const std::string& stream) {
    auto pair = pysock::socketpair(AF_UNIX, SOCK_SEQPACKET);
    pair.first.settimeout(10.0);
    pair.second.settimeout(10.0);
    for (const auto& piece : pieces) FUZZ_CHECK(pair.first.send(piece) == piece.size(), "short send");
    pair.first.close();  // end of stream after the last piece
    const fuzz::read_result got = read_lines(pair.second);
    const std::vector<std::string> want = reference_lines(stream);
    FUZZ_CHECK(got.lines == want, std::string(side) + ": stream " + fuzz::show(stream) + " in " +
                                      std::to_string(pieces.size()) + " pieces gave " + show_lines(got.lines) +
                                      ", expected " + show_lines(want));
    FUZZ_CHECK(got.stays_closed, std::string(side) + ": a line after the end of the stream");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    std::vector<std::string> pieces;
    std::string stream;
    while (in.remaining_bytes() > 0) {
        // At most 64 pieces of any size, then 1024-byte pieces: bounded socket buffer use.
        const std::size_t n = pieces.size() < 64 ? in.ConsumeIntegralInRange<std::size_t>(1, 1024) : 1024;
        std::string piece = in.ConsumeBytesAsString(n);
        if (piece.empty()) break;
        stream += piece;
        pieces.push_back(std::move(piece));
    }
    check("chat_server", fuzz::chat_server_read_lines, pieces, stream);
    check("chat_client", fuzz::chat_client_read_lines, pieces, stream);
    return 0;
}
