#pragma once
/// \file
/// How many masks a row unmasks per step: a fixed k, or a linear or cosine schedule over a number of steps
/// (the fraction still masked after step s is 1 - s/T, or cos(pi/2 * s/T), of the row's initial masks).

#include <apgen/core/errors.hpp>
#include <apgen/core/step_context.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>

namespace apgen::schedules {

class unmask_count {
public:
  enum class kind { fixed, linear, cosine };

  /// k masks per step (fewer when fewer remain).
  static unmask_count fixed_k(std::size_t k) { return unmask_count(kind::fixed, k, "fixed_k: k"); }
  /// All initial masks in `steps` steps, an equal share each.
  static unmask_count linear(std::size_t steps) { return unmask_count(kind::linear, steps, "linear: steps"); }
  /// All initial masks in `steps` steps, few at first and many at the end (cosine decay of the masked share).
  static unmask_count cosine(std::size_t steps) { return unmask_count(kind::cosine, steps, "cosine: steps"); }

  /// Masks to unmask this step for a row with `masks` masks now (at least 1 while any remain).
  [[nodiscard]] std::size_t how_many(std::size_t masks, const row_progress& p) const noexcept {
    if (masks == 0) return 0;
    if (m_kind == kind::fixed) return std::min(masks, m_value);
    const double t = std::min(1.0, static_cast<double>(p.steps + 1) / static_cast<double>(m_value));
    const double still_masked = m_kind == kind::linear ? 1.0 - t : std::cos(std::numbers::pi / 2 * t);
    const auto target =
        static_cast<std::size_t>(std::floor(static_cast<double>(p.initial_masks) * std::max(0.0, still_masked) + 1e-9));
    return masks > target ? std::max<std::size_t>(1, masks - target) : 1;
  }
  [[nodiscard]] kind which() const noexcept { return m_kind; }
  [[nodiscard]] std::size_t value() const noexcept { return m_value; }

private:
  unmask_count(kind k, std::size_t v, const char* what) : m_kind(k), m_value(v) {
    if (v == 0) apgen::detail::fail<invalid_argument>("unmask count ", what, " must be at least 1");
  }
  kind m_kind;
  std::size_t m_value;
};

} // namespace apgen::schedules
