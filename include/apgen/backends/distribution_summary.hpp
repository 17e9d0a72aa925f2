#pragma once
/// \file
/// Softmax statistics of one position's logits: what every backend's logit pass (`<backend>/summarize.hpp`)
/// computes and every confidence measure and token choice reads.

#include <apgen/config.hpp>

#include <cmath>
#include <limits>

namespace apgen::backends {

/// Softmax statistics of one position's logits z over the allowed tokens.
struct distribution_summary {
  token_id argmax = -1; ///< first index of the largest allowed logit
  float top1 = -std::numeric_limits<float>::infinity();
  float top2 = -std::numeric_limits<float>::infinity(); ///< second largest (equal to top1 on a tie)
  double sum_exp = 0;                                   ///< sum of exp(z - top1)
  double sum_zexp = 0;                                  ///< sum of (z - top1) exp(z - top1), for the entropy

  /// False when a logit was NaN or infinite (the sums are then not finite) or nothing was allowed.
  [[nodiscard]] bool finite() const noexcept {
    return argmax >= 0 && std::isfinite(top1) && std::isfinite(sum_exp) && std::isfinite(sum_zexp);
  }
  /// Softmax probability of a token with logit z.
  [[nodiscard]] double probability(float z) const noexcept { return std::exp(static_cast<double>(z) - top1) / sum_exp; }
  /// p(top1) - p(top2).
  [[nodiscard]] double margin() const noexcept { return (1.0 - std::exp(static_cast<double>(top2) - top1)) / sum_exp; }
  /// Shannon entropy in nats.
  [[nodiscard]] double entropy() const noexcept { return std::log(sum_exp) - sum_zexp / sum_exp; }
};

/// Vocabularies below this many floats take the double-precision scalar pass on every backend: there the lane
/// bookkeeping of the vector pass costs more than it saves.
template <std::size_t Lanes>
inline constexpr std::size_t small_vocabulary = 4 * Lanes;

} // namespace apgen::backends
