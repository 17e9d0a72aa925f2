#pragma once
// What the transformer and training benches measure about the process besides time:
//   - every heap allocation, counted by interposing glibc's malloc entry points (operator new goes through malloc
//     too, and so do Eigen's aligned buffers): what "allocates nothing per step" is checked against;
//   - the peak resident set size;
// and the OpenMP thread count each configuration runs with. Defines the C allocation functions, so include it
// from exactly one translation unit per executable (each bench is one .cpp).

#include <apgen/config.hpp>

#include <atomic>
#include <cstddef>

#include <sys/resource.h>

inline std::atomic<unsigned long long> g_mallocs{0};

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* malloc(size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  *out = __libc_memalign(align, n);
  return *out ? 0 : 12;
}
void* aligned_alloc(size_t align, size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(align, n);
}
}

/// Peak resident set size of the process so far, in MB.
inline double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// Sets the OpenMP thread count (a no-op without OpenMP).
inline void set_threads(int t) {
#if APGEN_HAS_OPENMP
  omp_set_num_threads(t);
#else
  (void)t;
#endif
}
