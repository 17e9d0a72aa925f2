#pragma once
/// \file
/// A success rate and its Wilson score interval, the interval every accuracy in apgen's reports carries: unlike the
/// normal approximation it stays inside [0, 1] and is honest at rates near 0 or 1 (99% of 1,000 is 98.2-99.5%).

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace apgen {

/// successes out of trials, with the Wilson interval at z (1.96: 95%).
struct proportion {
  std::size_t successes = 0;
  std::size_t trials = 0;

  [[nodiscard]] double rate() const noexcept { return trials ? double(successes) / double(trials) : 0.0; }

  /// The lower and upper ends of the Wilson score interval; [0, 1] when there are no trials.
  [[nodiscard]] double lower(double z = 1.96) const noexcept { return bound(z, -1); }
  [[nodiscard]] double upper(double z = 1.96) const noexcept { return bound(z, +1); }

private:
  [[nodiscard]] double bound(double z, int side) const noexcept {
    if (!trials) return side < 0 ? 0.0 : 1.0;
    const double n = double(trials), p = rate(), z2 = z * z;
    const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
    const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
    return std::clamp(centre + side * half, 0.0, 1.0);
  }
};

} // namespace apgen
