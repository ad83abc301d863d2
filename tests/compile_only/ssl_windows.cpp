// Type-checks <pysock/ssl.hpp> for Windows (scripts/stages/60-windows.sh): Debian has no OpenSSL
// built for mingw-w64, so the TLS tests cannot run under wine; this at least compiles ssl.hpp's
// Windows side (Winsock error codes, socket.hpp's Winsock layer under it) with mingw-w64's
// g++ -fsyntax-only, against the host's OpenSSL 3 headers (declarations only, nothing linked).
#include <pysock/ssl.hpp>

int main() {
    pysock::ssl::ssl_context ctx(pysock::ssl::PROTOCOL_TLS_CLIENT);
    auto tls = ctx.wrap_socket(pysock::socket(), false, "localhost");
    tls.settimeout(1.0);
    return tls.pending() == 0 ? 0 : 1;
}
