// A counting global operator new for the benchmark binaries: every heap allocation made by the process
// (pysock, the raw baseline, the harness) increments one counter. The benchmarks read it before and after
// the timed loop and report allocations per round trip. Kept in its own translation unit so the compiler
// never sees a replaced operator new inlined next to a delete (g++ would warn: -Wmismatched-new-delete).
// ThreadSanitizer's runtime defines the global operator new itself (a second definition does not
// link): under TSan nothing is counted, and allocations_counted() says so.
#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define PYSOCK_BENCH_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYSOCK_BENCH_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef PYSOCK_BENCH_COUNT_ALLOCATIONS
#define PYSOCK_BENCH_COUNT_ALLOCATIONS 1
#endif

namespace bench {
namespace {
std::atomic<unsigned long long> g_allocations{0};
}
unsigned long long allocations() { return g_allocations.load(std::memory_order_relaxed); }
bool allocations_counted() { return PYSOCK_BENCH_COUNT_ALLOCATIONS != 0; }
}  // namespace bench

#if PYSOCK_BENCH_COUNT_ALLOCATIONS

void* operator new(std::size_t n) {
    bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
    return ::operator new(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif
