// A counting global operator new for the benchmark binaries: every heap allocation made by the process
// (pysock, the raw baseline, the harness) increments one counter. The benchmarks read it before and after
// the timed loop and report allocations per round trip. Kept in its own translation unit so the compiler
// never sees a replaced operator new inlined next to a delete (g++ would warn: -Wmismatched-new-delete).
#include <atomic>
#include <cstdlib>
#include <new>

namespace bench {
namespace {
std::atomic<unsigned long long> g_allocations{0};
}
unsigned long long allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace bench

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
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
