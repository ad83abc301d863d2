// fuzz_address.cpp - libFuzzer target: the parsing paths of pysock's public API that never touch
// the network, on arbitrary bytes:
//   inet_pton / inet_ntop / inet_aton / inet_ntoa,
//   getaddrinfo(host, port, family, type, proto, AI_NUMERICHOST | AI_NUMERICSERV [| AI_PASSIVE ...])
//     (AI_NUMERICHOST always: a numeric address or EAI_NONAME, never a DNS query),
//   getnameinfo(address, NI_NUMERICHOST | NI_NUMERICSERV [| NI_DGRAM]) (numeric: no reverse lookup),
//   address(host, port[, flowinfo, scope_id]) with any int port,
//   detail::parse_ipv4 (the dotted-quad fast path of bind/connect/sendto) against the C library's inet_pton.
// Each call either succeeds with a result checked below, or throws one of the exceptions Python
// would raise for it (pysock::error and its subclasses, std::invalid_argument for ValueError,
// std::out_of_range for OverflowError). Any other exception escapes and libFuzzer reports it.
//
// Input layout (FuzzedDataProvider): the operation and the integers come from the END of the
// input, the text (host, packed address) is the rest, from the front.
#include <pysock/socket.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.hpp"

namespace {

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

// The host without an IPv6 "%scope" suffix.
std::string without_scope(const std::string& host) { return host.substr(0, host.find('%')); }

// Numeric by the C library's own rules: what AI_NUMERICHOST and NI_NUMERICHOST allow.
bool is_numeric_host(const std::string& host) {
    unsigned char buf[16];
    ::in_addr v4{};
    const std::string h = without_scope(host);
    return ::inet_aton(host.c_str(), &v4) != 0 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string dotted(std::string_view packed) {
    std::string out;
    for (std::size_t i = 0; i < 4; ++i) {
        if (i) out += '.';
        out += std::to_string(static_cast<unsigned char>(packed[i]));
    }
    return out;
}

void op_inet_pton(FuzzedDataProvider& in) {
    const int family = in.ConsumeBool() ? AF_INET : AF_INET6;
    const std::string text = in.ConsumeRemainingBytesAsString();
    unsigned char want[16];
    const bool c_ok = !has_nul(text) && ::inet_pton(family, text.c_str(), want) == 1;
    try {
        const pysock::bytes packed = pysock::inet_pton(family, text);
        FUZZ_CHECK(c_ok, "inet_pton accepted " + fuzz::show(text));
        FUZZ_CHECK(packed.size() == (family == AF_INET ? 4u : 16u), fuzz::show(text));
        FUZZ_CHECK(std::memcmp(packed.data(), want, packed.size()) == 0, fuzz::show(text));
        // inet_ntop writes the canonical text, which parses back to the same bytes.
        const std::string canonical = pysock::inet_ntop(family, packed);
        FUZZ_CHECK(pysock::inet_pton(family, canonical) == packed,
                   fuzz::show(text) + " -> " + canonical);
        if (family == AF_INET) FUZZ_CHECK(canonical == dotted(packed), canonical);
    } catch (const std::invalid_argument&) {
        FUZZ_CHECK(has_nul(text), "invalid_argument without a NUL: " + fuzz::show(text));
    } catch (const pysock::error& e) {
        FUZZ_CHECK(!c_ok, "inet_pton refused " + fuzz::show(text) + ": " + e.what());
        FUZZ_CHECK(std::string(e.what()) == "illegal IP address string passed to inet_pton",
                   e.what());
    }
}

void op_inet_ntop(FuzzedDataProvider& in) {
    const int choice = in.ConsumeIntegralInRange<int>(0, 2);
    const int family = choice == 0 ? AF_INET : choice == 1 ? AF_INET6 : in.ConsumeIntegral<int>();
    const std::string packed = in.ConsumeRemainingBytesAsString();
    const bool known = family == AF_INET || family == AF_INET6;
    const bool length_ok = packed.size() == (family == AF_INET ? 4u : 16u);
    try {
        const std::string text = pysock::inet_ntop(family, packed);
        FUZZ_CHECK(known && length_ok, "inet_ntop accepted family " + std::to_string(family) +
                                           ", " + std::to_string(packed.size()) + " bytes");
        FUZZ_CHECK(pysock::inet_pton(family, text) == packed, text);
        if (family == AF_INET) {
            FUZZ_CHECK(text == dotted(packed), text);
            FUZZ_CHECK(pysock::inet_ntoa(packed) == text, text);
        }
    } catch (const std::invalid_argument&) {
        FUZZ_CHECK(!known || !length_ok, "inet_ntop refused a valid packed address");
    }
}

void op_inet_aton(FuzzedDataProvider& in) {
    const std::string text = in.ConsumeRemainingBytesAsString();
    ::in_addr want{};
    const bool c_ok = !has_nul(text) && ::inet_aton(text.c_str(), &want) != 0;
    try {
        const pysock::bytes packed = pysock::inet_aton(text);
        FUZZ_CHECK(c_ok && packed.size() == 4 && std::memcmp(packed.data(), &want, 4) == 0,
                   fuzz::show(text));
        FUZZ_CHECK(pysock::inet_ntoa(packed) == dotted(packed), fuzz::show(text));
    } catch (const std::invalid_argument&) {
        // CPython: ValueError for an embedded NUL, never a parse of the text before it.
        FUZZ_CHECK(has_nul(text), "invalid_argument without a NUL: " + fuzz::show(text));
    } catch (const pysock::error&) {
        FUZZ_CHECK(!c_ok && !has_nul(text), "inet_aton refused " + fuzz::show(text));
    }
    try {
        const std::string dotted_text = pysock::inet_ntoa(text);
        FUZZ_CHECK(text.size() == 4 && dotted_text == dotted(text), dotted_text);
    } catch (const pysock::error&) {  // CPython: OSError "packed IP wrong length for inet_ntoa"
        FUZZ_CHECK(text.size() != 4, "inet_ntoa refused 4 bytes");
    }
}

void op_getaddrinfo(FuzzedDataProvider& in) {
    static const int families[] = {AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX};
    static const int types[] = {0, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW};
    int family = families[in.ConsumeIntegralInRange<int>(0, 3)];
    int type = types[in.ConsumeIntegralInRange<int>(0, 3)];
    int proto = 0;
    if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {  // now and then, anything at all
        family = in.ConsumeIntegral<int>();
        type = in.ConsumeIntegral<int>();
        proto = in.ConsumeIntegral<int>();
    }
    std::optional<int> port;
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: break;                                    // None
    case 1: port = in.ConsumeIntegral<int>(); break;  // any int
    default: port = in.ConsumeIntegralInRange<int>(0, 65535); break;
    }
    int flags = AI_NUMERICHOST | AI_NUMERICSERV;  // never DNS, never /etc/services
    const auto extra = in.ConsumeIntegral<std::uint8_t>();
    if (extra & 1) flags |= AI_PASSIVE;
    if (extra & 2) flags |= AI_V4MAPPED;
    if (extra & 4) flags |= AI_ALL;
    const std::string host = in.ConsumeRemainingBytesAsString();
    const std::string where = "getaddrinfo(" + fuzz::show(host) + ", " +
                              (port ? std::to_string(*port) : "None") + ", " +
                              std::to_string(family) + ", " + std::to_string(type) + ", " +
                              std::to_string(proto) + ", " + std::to_string(flags) + ")";
    std::vector<pysock::addrinfo> infos;
    try {
        infos = pysock::getaddrinfo(host, port, family, type, proto, flags);
    } catch (const std::invalid_argument&) {
        FUZZ_CHECK(has_nul(host), "invalid_argument: " + where);
        return;
    } catch (
        const pysock::error&) {  // gaierror (EAI_NONAME, EAI_FAMILY, ...), or EAI_SYSTEM's errno
        return;
    }
    FUZZ_CHECK(!infos.empty(), "no result and no exception: " + where);
    // glibc reads "*" as no host at all (the wildcard, or loopback without AI_PASSIVE).
    FUZZ_CHECK(host.empty() || host == "*" || is_numeric_host(host),
               "a name was resolved with AI_NUMERICHOST: " + where);
    for (const auto& info : infos) {
        FUZZ_CHECK(info.family == AF_INET || info.family == AF_INET6, where);
        FUZZ_CHECK(info.sockaddr.family == info.family, where);
        FUZZ_CHECK(family == AF_UNSPEC || info.family == family, where);
        if (port && *port >= 0 && *port <= 65535) FUZZ_CHECK(info.sockaddr.port == *port, where);
        unsigned char buf[16];
        FUZZ_CHECK(::inet_pton(info.family, info.sockaddr.host.c_str(), buf) == 1,
                   "result host " + fuzz::show(info.sockaddr.host) + " is not numeric: " + where);
        FUZZ_CHECK(!pysock::to_string(info.sockaddr).empty(), where);
    }
}

void op_getnameinfo(FuzzedDataProvider& in) {
    const bool four = in.ConsumeBool();
    const int port = in.ConsumeIntegralInRange<int>(0, 65535);
    const auto flowinfo =
        in.ConsumeIntegralInRange<std::uint32_t>(0, in.ConsumeBool() ? 0xfffffu : 0xffffffffu);
    const auto scope_id =
        in.ConsumeIntegralInRange<std::uint32_t>(0, in.ConsumeBool() ? 0u : 0xffffffffu);
    const int flags = NI_NUMERICHOST | NI_NUMERICSERV | (in.ConsumeBool() ? NI_DGRAM : 0);
    const std::string host = in.ConsumeRemainingBytesAsString();
    const pysock::address a =
        four ? pysock::address(host, port, flowinfo, scope_id) : pysock::address(host, port);
    const std::string where =
        "getnameinfo(" + pysock::to_string(a) + ", " + std::to_string(flags) + ")";
    try {
        const auto result = pysock::getnameinfo(a, flags);
        FUZZ_CHECK(result.second == std::to_string(port), where + " -> port " + result.second);
        FUZZ_CHECK(is_numeric_host(result.first), where + " -> host " + fuzz::show(result.first));
        FUZZ_CHECK(host.empty() || host == "*" || is_numeric_host(host),
                   "getnameinfo took a name: " + where);
    } catch (const std::invalid_argument&) {
        FUZZ_CHECK(has_nul(host), "invalid_argument: " + where);
    } catch (const std::out_of_range&) {
        FUZZ_CHECK(flowinfo > 0xfffff, "out_of_range: " + where);  // Python's OverflowError
    } catch (const pysock::error&) {
        // gaierror for names and garbage, error for several results or an IPv4 4-tuple.
    }
}

void op_address(FuzzedDataProvider& in) {
    const int port = in.ConsumeIntegral<int>();
    const std::string host = in.ConsumeRemainingBytesAsString();
    const bool port_ok = port >= 0 && port <= 65535;
    try {
        pysock::address a(host, port);
        FUZZ_CHECK(port_ok && a.port == port && a.host == host && a.family == AF_INET,
                   std::to_string(port));
        pysock::address b(host, port, 0, 0);
        FUZZ_CHECK(b.port == port && b.host == host && b.family == AF_INET6 && a == b,
                   std::to_string(port));
    } catch (const std::out_of_range&) {
        FUZZ_CHECK(!port_ok, "port " + std::to_string(port) + " refused");
    }
    pysock::address path(host);
    FUZZ_CHECK(path.family == AF_UNIX && path.host == host, "path " + fuzz::show(host));
    pysock::address cpath(host.c_str());  // const char*: stops at the first NUL, as C strings do
    FUZZ_CHECK(cpath.family == AF_UNIX && cpath.host == std::string(host.c_str()),
               "path " + fuzz::show(host));
}

// The fast path may decline anything, but what it accepts inet_pton must accept, with the same bytes.
void op_parse_ipv4(FuzzedDataProvider& in) {
    const std::string text = in.ConsumeRemainingBytesAsString();
    unsigned char fast[4] = {}, libc[4] = {};
    if (!pysock::detail::parse_ipv4(text, fast)) return;
    FUZZ_CHECK(!has_nul(text) && ::inet_pton(AF_INET, text.c_str(), libc) == 1,
               "parse_ipv4 accepted " + fuzz::show(text));
    FUZZ_CHECK(std::memcmp(fast, libc, 4) == 0, "parse_ipv4 misread " + fuzz::show(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    switch (in.ConsumeIntegralInRange<int>(0, 6)) {
    case 0: op_inet_pton(in); break;
    case 1: op_inet_ntop(in); break;
    case 2: op_inet_aton(in); break;
    case 3: op_getaddrinfo(in); break;
    case 4: op_getnameinfo(in); break;
    case 6: op_parse_ipv4(in); break;
    default: op_address(in); break;
    }
    return 0;
}
