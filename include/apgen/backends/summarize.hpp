#pragma once
/// \file
/// The logit pass every backend provides: `summarize<Backend>(z, filter)` gives one position's softmax
/// statistics over the allowed tokens. Each backend's pass is in its own folder (`serial/summarize.hpp`,
/// `simd/summarize.hpp`, `omp/summarize.hpp`); this header picks one at compile time. All of them return the
/// same bits for the same logits, so a decision never depends on the backend.

#include <apgen/backends/distribution_summary.hpp>
#include <apgen/backends/omp/summarize.hpp>
#include <apgen/backends/serial/summarize.hpp>
#include <apgen/backends/simd/summarize.hpp>
#include <apgen/backends/tags.hpp>

#include <span>
#include <type_traits>

namespace apgen::backends {

/// Summary of one position's logits on `Backend`. \tparam Filter has for_each_allowed_range(vocab, f(begin, end)).
template <backend Backend, class Filter>
[[nodiscard]] distribution_summary summarize(std::span<const float> z, const Filter& f) {
  require_implemented<Backend>();
  if constexpr (std::is_same_v<Backend, omp>)
    return omp_impl::summarize(z, f);
  else if constexpr (std::is_same_v<Backend, simd>)
    return simd_impl::summarize(z, f);
  else
    return serial_impl::summarize<simd_impl::lanes>(z, f);
}

} // namespace apgen::backends
