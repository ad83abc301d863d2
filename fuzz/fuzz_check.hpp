// fuzz_check.hpp - what pysock's fuzz targets share: an assertion that reports and aborts (libFuzzer
// then saves the input as a crash-* artifact), and strict helpers to read back Python literals.
#ifndef PYSOCK_FUZZ_CHECK_HPP
#define PYSOCK_FUZZ_CHECK_HPP

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// FUZZ_CHECK(cond, what): a broken invariant is a crash. `what` is a std::string shown with it.
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n  %s\n", __FILE__, __LINE__, #cond, \
                         std::string(what).c_str());                                               \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

namespace fuzz {

// Printable text for a diagnostic: every byte outside 0x20..0x7e as \xHH.
inline std::string show(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
            out += c;
        } else {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out + "\"";
}

// Reads back one Python string or bytes literal at text[pos] ('...' or "...", after an optional
// b prefix the caller has skipped) and checks that it is in the canonical form CPython's repr
// writes:
//   * the quote is " exactly when the value contains ' and no "; otherwise ';
//   * only the quote in use and the backslash are escaped with a backslash;
//   * \t \n \r for those three bytes, \xhh (lowercase) for every other byte below 0x20 and 0x7f,
//     and, for bytes (as_bytes), for every byte from 0x80: never for anything else;
//   * every other byte stands for itself (str: pysock passes UTF-8 through).
// On success stores the value in `value`, moves pos past the closing quote and returns "";
// otherwise returns what is wrong.
inline std::string read_literal(std::string_view text, std::size_t& pos, bool as_bytes,
                                std::string& value) {
    value.clear();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"')) return "no opening quote";
    const char quote = text[pos++];
    auto needs_hex = [as_bytes](unsigned char u) {
        return (u < 0x20 && u != '\t' && u != '\n' && u != '\r') || u == 0x7f ||
               (as_bytes && u >= 0x80);
    };
    auto hexval = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;  // uppercase is not what CPython writes
    };
    while (true) {
        if (pos >= text.size()) return "no closing quote";
        const char c = text[pos++];
        const auto u = static_cast<unsigned char>(c);
        if (c == quote) break;
        if (c != '\\') {
            if (needs_hex(u) || c == '\t' || c == '\n' || c == '\r')
                return "raw byte that must be escaped";
            value += c;
            continue;
        }
        if (pos >= text.size()) return "lone backslash at the end";
        const char e = text[pos++];
        switch (e) {
        case '\\': value += '\\'; break;
        case '\'':
        case '"':
            if (e != quote) return "escaped quote that is not the delimiter";
            value += e;
            break;
        case 't': value += '\t'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 'x': {
            if (pos + 2 > text.size()) return "short \\x escape";
            int hi = hexval(text[pos]), lo = hexval(text[pos + 1]);
            if (hi < 0 || lo < 0) return "bad \\x escape";
            pos += 2;
            auto v = static_cast<unsigned char>(hi * 16 + lo);
            if (!needs_hex(v)) return "\\x escape for a byte that is written as itself";
            value += static_cast<char>(v);
            break;
        }
        default: return "unknown escape";
        }
    }
    const bool has_single = value.find('\'') != std::string::npos;
    const bool has_double = value.find('"') != std::string::npos;
    const char expected_quote = (has_single && !has_double) ? '"' : '\'';
    if (quote != expected_quote) return "wrong choice of quote";
    return "";
}

}  // namespace fuzz

#endif
