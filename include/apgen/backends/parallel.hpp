#pragma once
/// \file
/// The loop primitive each backend provides: `for_each_index<Backend>(n, f)` calls f(i) for i in [0, n), in
/// parallel for threaded backends. Callers only pass bodies whose iterations are independent, so the result never
/// depends on the thread count.

#include <apgen/backends/tags.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

namespace apgen::backends {

/// How iterations are spread over threads: `even` for equal-cost bodies (positions), `uneven` for bodies whose
/// cost varies a lot (rows of different lengths).
enum class loop_balance { even, uneven };

/// Calls f(i) for every i in [0, n). Exceptions thrown by f are carried out of the parallel region (OpenMP may
/// not unwind through it); the one of the lowest index is rethrown after the loop, the one a serial loop would
/// have met first, so an error names the same row or position whatever the thread count.
/// `ns_per_index` estimates one iteration's cost on one thread: the loop runs inline when the whole is below
/// apgen::detail::parallel_grain_ns (a team costs microseconds to start, more than a small step's work).
template <class Backend, loop_balance Balance = loop_balance::even, class F>
void for_each_index(std::size_t n, F&& f, double ns_per_index = detail::parallel_grain_ns) {
  require_implemented<Backend>();
  if (n <= 1) {
    if (n == 1) f(std::size_t{0});
    return;
  }
  if (Backend::threaded && APGEN_HAS_OPENMP && detail::worth_threads(static_cast<double>(n) * ns_per_index)) {
    std::exception_ptr first;
    std::size_t first_index = n;
    std::mutex guard;
    auto guarded = [&](long long i) {
      try {
        f(static_cast<std::size_t>(i));
      } catch (...) {
        std::lock_guard lock(guard);
        if (static_cast<std::size_t>(i) < first_index) {
          first_index = static_cast<std::size_t>(i);
          first = std::current_exception();
        }
      }
    };
    const std::size_t want = std::min(n, static_cast<std::size_t>(detail::available_threads()));
    if constexpr (Balance == loop_balance::even) {
      detail::run_team(want, [&](std::size_t t, std::size_t team) { // contiguous blocks, as schedule(static)
        for (std::size_t i = t * n / team, end = (t + 1) * n / team; i < end; ++i) guarded(static_cast<long long>(i));
      });
    } else {
      std::atomic<std::size_t> next{0}; // one index at a time, as schedule(dynamic, 1)
      detail::run_team(want, [&](std::size_t, std::size_t) {
        for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) guarded(static_cast<long long>(i));
      });
    }
    if (first) std::rethrow_exception(first);
  } else {
    for (std::size_t i = 0; i < n; ++i) f(i);
  }
}

} // namespace apgen::backends
