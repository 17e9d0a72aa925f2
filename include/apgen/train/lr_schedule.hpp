#pragma once
/// \file
/// Learning-rate schedule: linear warmup from 0, then constant or cosine decay to a floor.
///
/// `at(s)` takes s, the number of the update the rate is for, counting from 1 (AdamW's step count t after that
/// update: `opt.step(params, sched.at(opt.steps() + 1))`). With W = warmup_steps, T = total_steps, B = base_lr and
/// F = min_lr:
///
///   s <= W (W > 0):       B * s / W                          (s = 1 gives B / W, s = W gives B; s = 0 gives 0)
///   constant, s > W:      B
///   cosine,   W < s < T:  F + (B - F) * (1 + cos(pi * (s - W) / (T - W))) / 2
///   cosine,   s >= T:     F
///
/// With W = 0 there is no warmup (at(0) is B, or F for a cosine with T = 0). Everything is computed in double from
/// integer steps, so a resumed run gets the same rates as an uninterrupted one.
///
/// Usage:
///   const apgen::train::lr_schedule sched{.base_lr = 3e-4, .warmup_steps = 100, .total_steps = 10000,
///                                         .kind = apgen::train::lr_kind::cosine, .min_lr = 3e-5};
///   const double lr = sched.at(step); // step = 1, 2, ...

#include <apgen/core/errors.hpp>

#include <cmath>
#include <cstdint>
#include <string_view>

namespace apgen::train {

/// What follows the warmup.
enum class lr_kind {
  constant, ///< base_lr until the end
  cosine,   ///< half a cosine from base_lr at the end of the warmup to min_lr at total_steps, then min_lr
};

/// "constant" or "cosine".
[[nodiscard]] constexpr std::string_view lr_kind_name(lr_kind k) noexcept {
  return k == lr_kind::cosine ? "cosine" : "constant";
}

/// Linear warmup, then constant or cosine decay (see \file for the exact formula).
struct lr_schedule {
  double base_lr = 1e-3;
  std::uint64_t warmup_steps = 0;
  std::uint64_t total_steps = 0; ///< where the cosine reaches min_lr (ignored by constant)
  lr_kind kind = lr_kind::constant;
  double min_lr = 0.0; ///< the cosine's floor (ignored by constant)

  /// Throws apgen::invalid_argument naming the first inconsistent field: base_lr finite and >= 0; for cosine,
  /// min_lr in [0, base_lr] and total_steps >= warmup_steps.
  void validate() const {
    const auto bad = [](auto... parts) { apgen::detail::fail<invalid_argument>("lr_schedule: ", parts...); };
    if (!(base_lr >= 0) || !std::isfinite(base_lr)) bad("base_lr must be finite and >= 0, got ", base_lr);
    if (kind == lr_kind::cosine) {
      if (!(min_lr >= 0 && min_lr <= base_lr)) bad("min_lr must be in [0, base_lr] = [0, ", base_lr, "], got ", min_lr);
      if (total_steps < warmup_steps)
        bad("total_steps (", total_steps, ") must be >= warmup_steps (", warmup_steps, ") for a cosine decay");
    }
  }

  /// The learning rate of update number `step` (1-based; see \file). Throws what validate throws.
  [[nodiscard]] double at(std::uint64_t step) const {
    validate();
    if (warmup_steps > 0 && step <= warmup_steps)
      return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
    if (kind == lr_kind::constant) return base_lr;
    if (step >= total_steps) return min_lr;
    // warmup_steps < step < total_steps here (or warmup_steps == 0 == step), so the span is positive.
    const double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
    constexpr double pi = 3.14159265358979323846;
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(pi * progress));
  }
};

} // namespace apgen::train
