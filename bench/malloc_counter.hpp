#pragma once
// Counts every heap allocation of the process by interposing glibc's malloc entry points (operator new goes through
// malloc too, and so do Eigen's aligned buffers): what "allocates nothing per step" is checked against. Defines the
// C allocation functions, so include it from exactly one translation unit per executable (each bench is one .cpp).

#include <atomic>
#include <cstddef>

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
