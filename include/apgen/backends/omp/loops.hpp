#pragma once
/// \file
/// The omp backend's loop: an OpenMP team over the indices when the work is worth a team, else the serial loop.
/// Bodies are independent by contract, so the result never depends on the thread count.

#include <apgen/backends/serial/loops.hpp>
#include <apgen/backends/tags.hpp>
#include <apgen/config.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

namespace apgen::backends::omp_impl {

/// Calls f(i) for every i in [0, n), split over threads when n * ns_per_index passes
/// apgen::detail::parallel_grain_ns. Exceptions thrown by f are carried out of the parallel region (OpenMP may
/// not unwind through it); the one of the lowest index is rethrown after the loop, the one a serial loop would
/// have met first, so an error names the same row or position whatever the thread count.
template <loop_balance Balance, class F>
void for_each_index(std::size_t n, F&& f, double ns_per_index) {
  if (!(APGEN_HAS_OPENMP && n > 1 && detail::worth_threads(static_cast<double>(n) * ns_per_index))) {
    serial_impl::for_each_index<Balance>(n, f, ns_per_index);
    return;
  }
  std::exception_ptr first;
  std::size_t first_index = n;
  std::mutex guard;
  auto guarded = [&](std::size_t i) {
    try {
      f(i);
    } catch (...) {
      std::lock_guard lock(guard);
      if (i < first_index) {
        first_index = i;
        first = std::current_exception();
      }
    }
  };
  const std::size_t want = std::min(n, static_cast<std::size_t>(detail::available_threads()));
  if constexpr (Balance == loop_balance::even) {
    detail::run_team(want, [&](std::size_t t, std::size_t team) { // contiguous blocks, as schedule(static)
      for (std::size_t i = t * n / team, end = (t + 1) * n / team; i < end; ++i) guarded(i);
    });
  } else {
    std::atomic<std::size_t> next{0}; // one index at a time, as schedule(dynamic, 1)
    detail::run_team(want, [&](std::size_t, std::size_t) {
      for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) guarded(i);
    });
  }
  if (first) std::rethrow_exception(first);
}

} // namespace apgen::backends::omp_impl
