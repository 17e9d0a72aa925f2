#pragma once
/// \file
/// The serial backend's loop: every index in order on the calling thread. The reference the threaded loops are
/// tested against, and the loop of `simd` too (vector code lives inside the bodies, not in the loop).

#include <apgen/backends/tags.hpp>

#include <cstddef>

namespace apgen::backends::serial_impl {

/// Calls f(i) for i = 0, 1, ..., n - 1 on the calling thread.
template <loop_balance Balance, class F>
void for_each_index(std::size_t n, F&& f, double /*ns_per_index*/) {
  for (std::size_t i = 0; i < n; ++i) f(i);
}

} // namespace apgen::backends::serial_impl
