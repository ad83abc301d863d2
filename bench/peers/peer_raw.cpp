// bench/peers/peer_raw.cpp - the raw POSIX peer of bench/compare.py: socket()/send()/recv(), a thread per client.
#include "../endpoints.hpp"
#include "peer_main.hpp"

namespace {
struct api : bench::raw_tcp<false> {
    static std::uint16_t port(const listener& l) { return l.port; }
    static conn connect(std::uint16_t port) {
        listener target;
        target.port = port;
        return bench::raw_tcp<false>::connect(target);
    }
};
}  // namespace

int main(int argc, char** argv) {
    return peer::main<api>(argc, argv, [](api::listener& ls) { peer::thread_per_client<api>(ls); });
}
