// fuzz_repr.cpp - libFuzzer target: pysock::repr(bytes) against an independent reference, and the
// invariants of address printing (to_string / operator<<).
//
// 1. repr(data) must equal reference_repr(data), written here from CPython's PyBytes_Repr
//    (Objects/bytesobject.c) rather than from pysock's code: a table of how each byte is written
//    for each quote. It must also read back (fuzz::read_literal, a strict parser of the canonical
//    form) to exactly `data`.
// 2. An address built from arbitrary fields prints as Python prints the tuple: to_string(a) equals
//    what operator<< writes, has the shape of its family (('h', p), ('h', p, f, s), 'path',
//    b'\x00abstract'; the absent address, AF_UNSPEC with no host and port 0, as None), and
//    reading the printed text back gives the same host, port, flowinfo and scope id: printing never truncates or loses a byte, whatever the host holds (NULs, quotes,
//    backslashes, invalid UTF-8, 100 KB...).
//
// Input layout (FuzzedDataProvider): the integers that pick the address's shape, port, flowinfo
// and scope id are taken from the END of the input, the bytes from the front.
#include <pysock/socket.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_check.hpp"

namespace {

// CPython's bytes repr, table-driven: how byte b is written inside quotes q.
std::string reference_repr(std::string_view data) {
    bool single = false, dbl = false;
    for (char c : data) {
        single |= c == '\'';
        dbl |= c == '"';
    }
    const char q = (single && !dbl) ? '"' : '\'';
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        const char* digits = "0123456789abcdef";
        for (int b = 0; b < 256; ++b) {
            if (b == '\t')
                t[b] = "\\t";
            else if (b == '\n')
                t[b] = "\\n";
            else if (b == '\r')
                t[b] = "\\r";
            else if (b == '\\')
                t[b] = "\\\\";
            else if (b < 0x20 || b >= 0x7f)
                t[b] = std::string("\\x") + digits[b / 16] + digits[b % 16];
            else
                t[b] = std::string(1, static_cast<char>(b));
        }
        return t;
    }();
    std::string out = "b";
    out += q;
    for (char c : data) {
        if (c == q) {
            out += '\\';
            out += c;
        } else {
            out += table[static_cast<unsigned char>(c)];
        }
    }
    out += q;
    return out;
}

void check_repr(const std::string& data) {
    const std::string got = pysock::repr(data);
    const std::string want = reference_repr(data);
    FUZZ_CHECK(got == want, "repr(" + fuzz::show(data) + ") = " + got + ", CPython: " + want);
    std::size_t pos = 1;
    std::string back;
    FUZZ_CHECK(got.size() >= 3 && got[0] == 'b', got);
    std::string problem = fuzz::read_literal(got, pos, true, back);
    FUZZ_CHECK(problem.empty(), problem + " in " + got);
    FUZZ_CHECK(pos == got.size(), "text after the literal: " + got);
    FUZZ_CHECK(back == data, "repr does not read back: " + got);
}

// Reads an unsigned decimal number at text[pos] (no sign, no leading zero unless it is 0).
bool read_number(const std::string& text, std::size_t& pos, std::uint64_t& value) {
    std::size_t start = pos;
    value = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 20)
        value = value * 10 + static_cast<std::uint64_t>(text[pos++] - '0');
    if (pos == start) return false;
    return !(text[start] == '0' && pos - start > 1);
}

bool expect(const std::string& text, std::size_t& pos, std::string_view what) {
    if (text.compare(pos, what.size(), what) != 0) return false;
    pos += what.size();
    return true;
}

void check_address(const pysock::address& a) {
    const std::string text = pysock::to_string(a);
    std::ostringstream os;
    os << a;
    FUZZ_CHECK(os.str() == text,
               "operator<< wrote " + fuzz::show(os.str()) + ", to_string " + fuzz::show(text));

    const std::string where =
        "address printed as " + fuzz::show(text) + " (host " + fuzz::show(a.host) + ")";
    std::size_t pos = 0;
    std::string host;
    if (a.family == AF_UNSPEC && a.host.empty() && a.port == 0) {
        // No address at all (recvfrom on a stream): Python's None.
        FUZZ_CHECK(text == "None", "the absent address is not printed None: " + where);
        return;
    }
    if (a.family == AF_UNIX) {
        const bool abstract = !a.host.empty() && a.host[0] == '\0';
        if (abstract) {
            FUZZ_CHECK(expect(text, pos, "b"), where);
            FUZZ_CHECK(text == pysock::repr(a.host),
                       "abstract name not printed as bytes: " + where);
        }
        std::string problem = fuzz::read_literal(text, pos, abstract, host);
        FUZZ_CHECK(problem.empty(), problem + ": " + where);
        FUZZ_CHECK(pos == text.size(), where);
        FUZZ_CHECK(host == a.host, "the path does not read back: " + where);
        return;
    }
    FUZZ_CHECK(expect(text, pos, "("), where);
    std::string problem = fuzz::read_literal(text, pos, false, host);
    FUZZ_CHECK(problem.empty(), problem + ": " + where);
    FUZZ_CHECK(host == a.host, "the host does not read back: " + where);
    std::uint64_t port = 0, flowinfo = 0, scope_id = 0;
    FUZZ_CHECK(expect(text, pos, ", ") && read_number(text, pos, port), where);
    FUZZ_CHECK(port == a.port, where);
    if (a.family == AF_INET6) {
        FUZZ_CHECK(expect(text, pos, ", ") && read_number(text, pos, flowinfo), where);
        FUZZ_CHECK(expect(text, pos, ", ") && read_number(text, pos, scope_id), where);
        FUZZ_CHECK(flowinfo == a.flowinfo && scope_id == a.scope_id, where);
    }
    FUZZ_CHECK(expect(text, pos, ")") && pos == text.size(), where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const int shape = in.ConsumeIntegralInRange<int>(0, 4);
    const int port = in.ConsumeIntegral<int>();  // any int: most are out of range
    const auto flowinfo = in.ConsumeIntegral<std::uint32_t>();
    const auto scope_id = in.ConsumeIntegral<std::uint32_t>();
    const std::string bytes = in.ConsumeRemainingBytesAsString();

    check_repr(bytes);

    // address(host, port) and address(host, port, flowinfo, scope_id) take any int port:
    // std::out_of_range exactly when it is outside 0..65535 (Python's OverflowError).
    const bool port_ok = port >= 0 && port <= 65535;
    pysock::address a;
    try {
        switch (shape) {
        case 0: a = pysock::address(bytes, port); break;
        case 1: a = pysock::address(bytes, port, flowinfo, scope_id); break;
        case 2: a = pysock::address(bytes); break;  // AF_UNIX, maybe abstract
        case 3: a = pysock::address(std::string(1, '\0') + bytes); break;  // always abstract
        default:  // a default address with its fields set directly (family any int)
            a.host = bytes;
            a.port = static_cast<std::uint16_t>(port);
            a.flowinfo = flowinfo;
            a.scope_id = scope_id;
            a.family = static_cast<int>(flowinfo ^ scope_id) % 4 == 0 ? AF_UNSPEC
                                                                      : static_cast<int>(scope_id);
            break;
        }
        FUZZ_CHECK(port_ok || shape >= 2,
                   "out-of-range port " + std::to_string(port) + " accepted");
    } catch (const std::out_of_range&) {
        FUZZ_CHECK(!port_ok && shape < 2, "port " + std::to_string(port) + " refused");
        a = pysock::address(bytes, 0);
    }
    if (shape == 0 && port_ok)
        FUZZ_CHECK(a.family == AF_INET && a.port == port, "address(host, port)");
    if (shape == 1 && port_ok)
        FUZZ_CHECK(a.family == AF_INET6 && a.port == port && a.flowinfo == flowinfo &&
                       a.scope_id == scope_id,
                   "address(host, port, flowinfo, scope_id)");
    if (shape == 2 || shape == 3) FUZZ_CHECK(a.family == AF_UNIX, "address(path)");
    check_address(a);

    // Equality: a copy is equal; changing the host, port, flowinfo or scope id makes it differ.
    pysock::address b = a;
    FUZZ_CHECK(a == b && !(a != b), "a copy compares unequal");
    b.port = static_cast<std::uint16_t>(b.port + 1);
    FUZZ_CHECK(a != b, "different ports compare equal");
    b = a;
    b.host += 'x';
    FUZZ_CHECK(a != b, "different hosts compare equal");
    return 0;
}
