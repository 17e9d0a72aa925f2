#pragma once
/// \file
/// Confidence measures that order masks for unmasking: higher is surer. All come from one distribution summary.

#include <apgen/core/rng.hpp>
#include <apgen/sampling/distribution.hpp>

#include <cstdint>

namespace apgen::sampling {

/// How a schedule ranks positions.
enum class confidence_measure {
  probability, ///< softmax probability of the chosen token
  margin,      ///< p(top1) - p(top2)
  entropy,     ///< negative entropy (lowest entropy first)
  random,      ///< a uniform draw per (row, position, step): random order
};

/// The score of a position whose chosen token has logit `z_chosen`.
[[nodiscard]] inline float confidence(confidence_measure m, const distribution_summary& s, float z_chosen,
                                      std::uint64_t seed, std::uint64_t row, std::uint32_t position,
                                      std::uint32_t step) noexcept {
  switch (m) {
  case confidence_measure::probability:
    return static_cast<float>(s.probability(z_chosen));
  case confidence_measure::margin:
    return static_cast<float>(s.margin());
  case confidence_measure::entropy:
    return static_cast<float>(-s.entropy());
  case confidence_measure::random:
    return static_cast<float>(counter_rng(seed, rng_stream::order).uniform(row, position, step));
  }
  return 0.f;
}

} // namespace apgen::sampling
