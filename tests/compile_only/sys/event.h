/* tests/compile_only/sys/event.h - the kqueue API as FreeBSD's kqueue(2) manual page documents
 * it, declared (never defined) so that kqueue_selector can be type-checked on Linux, where no
 * kqueue exists: scripts/stages/20-clang-cxx20.sh compiles tests/compile_only/kqueue_selector.cpp
 * with -fsyntax-only against it. Nothing is linked or run; the real check is a build on a BSD
 * or macOS. */
#ifndef PYSOCK_COMPILE_ONLY_SYS_EVENT_H
#define PYSOCK_COMPILE_ONLY_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

struct kevent {
    uintptr_t ident;
    short filter;
    unsigned short flags;
    unsigned int fflags;
    int64_t data;
    void* udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002

#define EV_SET(kevp, a, b, c, d, e, f)                                                             \
    do {                                                                                           \
        struct kevent* ev_ = (kevp);                                                               \
        ev_->ident = (a);                                                                          \
        ev_->filter = (b);                                                                         \
        ev_->flags = (c);                                                                          \
        ev_->fflags = (d);                                                                         \
        ev_->data = (e);                                                                           \
        ev_->udata = (f);                                                                          \
    } while (0)

#ifdef __cplusplus
extern "C" {
#endif
int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);
#ifdef __cplusplus
}
#endif

#endif
