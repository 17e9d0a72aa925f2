#pragma once
/// \file
/// The loop primitive every backend provides: `for_each_index<Backend>(n, f)` calls f(i) for i in [0, n), in
/// parallel on threaded backends. Callers only pass bodies whose iterations are independent, so the result never
/// depends on the thread count. Each backend's loop is in its own folder (`serial/loops.hpp`, `simd/loops.hpp`,
/// `omp/loops.hpp`); this header picks one at compile time.

#include <apgen/backends/omp/loops.hpp>
#include <apgen/backends/serial/loops.hpp>
#include <apgen/backends/simd/loops.hpp>
#include <apgen/backends/tags.hpp>
#include <apgen/config.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>

namespace apgen::backends {

/// Calls f(i) for every i in [0, n) on `Backend`. `ns_per_index` estimates one iteration's cost on one thread: a
/// threaded backend runs the loop inline when the whole is below apgen::detail::parallel_grain_ns (a team costs
/// microseconds to start, more than a small step's work).
template <backend Backend, loop_balance Balance = loop_balance::even, class F>
void for_each_index(std::size_t n, F&& f, double ns_per_index = detail::parallel_grain_ns) {
  require_implemented<Backend>();
  if constexpr (std::is_same_v<Backend, omp>)
    omp_impl::for_each_index<Balance>(n, f, ns_per_index);
  else if constexpr (std::is_same_v<Backend, simd>)
    simd_impl::for_each_index<Balance>(n, f, ns_per_index);
  else
    serial_impl::for_each_index<Balance>(n, f, ns_per_index);
}

} // namespace apgen::backends
