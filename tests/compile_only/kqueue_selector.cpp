// Type-checks kqueue_selector on Linux (see sys/event.h beside this file): every member of the
// selector interface is instantiated. Compiled with -fsyntax-only by scripts/stages/20-clang-cxx20.sh;
// never linked nor run.
#define PYSOCK_HAVE_KQUEUE 1
#include <pysock/selectors.hpp>

namespace sel = pysock::selectors;

int use_kqueue_selector(pysock::socket& sock) {
    sel::kqueue_selector selector;
    sel::selector_key& key = selector.register_(sock, sel::EVENT_READ | sel::EVENT_WRITE, 1);
    selector.modify(sock, sel::EVENT_READ, 2);
    selector.modify(key.fd, sel::EVENT_WRITE);
    int n = 0;
    for (auto& [k, events] : selector.select(0.5)) n += events + static_cast<int>(k.fd);
    n += static_cast<int>(selector.get_map().size()) + selector.fileno();
    selector.get_key(sock);
    selector.unregister(sock);
    selector.close();
    static_assert(!std::is_same_v<sel::default_selector, sel::kqueue_selector> ||
                      !PYSOCK_HAVE_EPOLL,
                  "epoll stays the default where both exist");
    return n;
}
