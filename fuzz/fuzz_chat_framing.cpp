// fuzz_chat_framing.cpp - libFuzzer target: line framing, as socket_file::readline() does it and as the
// chat example (Exercise 3) uses it.
//
// TCP delivers a stream whose recv() boundaries fall anywhere. This target takes an arbitrary byte
// stream, arbitrary split points, a buffer size and a line limit from the input, sends the pieces
// one send() each, and reads them back through sock.makefile("rb", buffering):
//   1. the chat's framing (example::read_message, examples/support.hpp) must give exactly what a
//      reference framing says: the stream cut at every '\n', each line without its '\n' and
//      without one '\r' just before it; bytes after the last '\n' (a line cut short by the peer
//      leaving) dropped; then "end of stream", and again if asked again;
//   2. readline(limit) must return the stream itself, cut into pieces that each end at a '\n',
//      or are exactly `limit` bytes long, or are the last bytes before the end of the stream;
//      then b'' for ever.
// Exact recv() boundaries: the pieces travel over an AF_UNIX SOCK_SEQPACKET socketpair, where
// each recv() returns at most one send() (pieces are 1..1024 bytes, never empty: TCP never
// delivers an empty piece, and an empty recv() means end of stream). A buffer size below the
// piece size makes readline() take a piece in several reads (SEQPACKET drops the rest of a
// packet read short, so the buffer is at least the largest piece). Single-threaded and bounded:
// every piece is queued before reading starts, and the reader has a timeout.
//
// Input layout (FuzzedDataProvider): the buffer size, the limit and the piece sizes come from the
// END of the input, the stream's bytes from the front. Run with -max_len=4096 (the stage does):
// the chat's 1 MiB line limit (std::length_error) is beyond reach, see the stage.
#include <pysock/socket.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "examples/support.hpp"
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

// The pieces, sent one per packet, then end of stream; the reading end, with a bounded timeout.
pysock::socket feed(const std::vector<std::string>& pieces) {
    auto pair = pysock::socketpair(AF_UNIX, SOCK_SEQPACKET);
    pair.second.settimeout(10.0);
    for (const auto& piece : pieces)
        FUZZ_CHECK(pair.first.send(piece) == piece.size(), "short send");
    return std::move(pair.second);  // pair.first closes here: end of stream after the last piece
}

void check_chat_framing(const std::vector<std::string>& pieces, const std::string& stream,
                        std::size_t buffering) {
    pysock::socket sock = feed(pieces);
    pysock::socket_file lines = sock.makefile("rb", buffering);
    std::vector<std::string> got;
    for (auto line = example::read_message(lines); line; line = example::read_message(lines))
        got.push_back(*line);
    const std::vector<std::string> want = reference_lines(stream);
    FUZZ_CHECK(got == want, "stream " + fuzz::show(stream) + " in " +
                                std::to_string(pieces.size()) + " pieces, buffering " +
                                std::to_string(buffering) + " gave " + show_lines(got) +
                                ", expected " + show_lines(want));
    FUZZ_CHECK(!example::read_message(lines).has_value(), "a message after the end of the stream");
}

void check_readline_limit(const std::vector<std::string>& pieces, const std::string& stream,
                          std::size_t buffering, std::size_t limit) {
    pysock::socket sock = feed(pieces);
    pysock::socket_file f = sock.makefile("rb", buffering);
    std::string joined;
    for (pysock::bytes line = f.readline(limit); !line.empty(); line = f.readline(limit)) {
        FUZZ_CHECK(line.size() <= limit,
                   "readline(" + std::to_string(limit) + ") gave " + fuzz::show(line));
        joined += line;
        const bool at_end = joined.size() == stream.size();
        FUZZ_CHECK(line.back() == '\n' || line.size() == limit || at_end,
                   "readline(" + std::to_string(limit) + ") stopped early: " + fuzz::show(line));
        FUZZ_CHECK(line.find('\n') == std::string::npos || line.find('\n') == line.size() - 1,
                   "readline went past a newline: " + fuzz::show(line));
        FUZZ_CHECK(joined.size() <= stream.size(), "readline gave more than was sent");
    }
    FUZZ_CHECK(joined == stream, "readline(" + std::to_string(limit) +
                                     ") lost or changed bytes of " + fuzz::show(stream));
    FUZZ_CHECK(f.readline(limit).empty(), "a line after the end of the stream");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    // A buffer at least as large as the largest piece: a SEQPACKET recv() shorter than its packet
    // would drop the rest (a stream socket never does). Lines still span any number of pieces.
    const std::size_t buffering = in.ConsumeIntegralInRange<std::size_t>(1024, 1100);
    const std::size_t limit = in.ConsumeIntegralInRange<std::size_t>(1, 300);
    std::vector<std::string> pieces;
    std::string stream;
    while (in.remaining_bytes() > 0) {
        // At most 64 pieces of any size, then 1024-byte pieces: bounded socket buffer use.
        const std::size_t n =
            pieces.size() < 64 ? in.ConsumeIntegralInRange<std::size_t>(1, 1024) : 1024;
        std::string piece = in.ConsumeBytesAsString(n);
        if (piece.empty()) break;
        stream += piece;
        pieces.push_back(std::move(piece));
    }
    check_chat_framing(pieces, stream, buffering);
    check_readline_limit(pieces, stream, buffering, limit);
    return 0;
}
