#pragma once
/// \file
/// The AP-MDM control-driven schedule (the paper's Algorithm 1): one forward pass gives each position a token y_i
/// and three control logits; a control fires when its probability sigmoid(logit) exceeds the threshold (0.5 by
/// default, i.e. logit > 0). Every MASK not remasked or deleted is unmasked in the same step.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/edits/edit_set.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/sampling/samplers.hpp>
#include <apgen/schedules/common.hpp>
#include <apgen/schedules/schedule_base.hpp>
#include <apgen/stopping/stop_rules.hpp>

#include <cmath>
#include <cstddef>

namespace apgen::schedules {

/// \tparam Sampler how y_i is chosen (sampling::greedy by default).
template <class Sampler = sampling::greedy>
class any_process
    : public schedule_base<Sampler, edits::any_process, stopping::until_fixed_point, heads::tokens_and_controls> {
  using base = schedule_base<Sampler, edits::any_process, stopping::until_fixed_point, heads::tokens_and_controls>;

public:
  /// `threshold`: a control fires when its probability is strictly above it (the paper uses 0.5).
  explicit any_process(double threshold = 0.5, Sampler s = {}) : base(std::move(s)), m_threshold(threshold) {
    if (!(threshold > 0 && threshold < 1))
      apgen::detail::fail<invalid_argument>("any_process schedule: threshold must be in (0, 1), got ", threshold);
    // sigmoid(x) > t  <=>  x > log(t / (1 - t)): one comparison per control, no exp.
    m_logit_threshold = std::log(threshold / (1 - threshold));
  }

  [[nodiscard]] double threshold() const noexcept { return m_threshold; }
  void reset(const canvas&) noexcept {}

  void mark(const canvas& c, const step_context& ctx, step_plan& plan) const { detail::mark_all_masks(c, ctx, plan); }

  /// Throws invalid_score naming the row and position of a NaN control logit.
  void select(const canvas& c, const denoiser_output& out, const step_context& ctx, step_plan& plan) const {
    const bool keep_probs = !plan.control.empty();
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto ctl = out.controls(r);
      if (ctl.rows() != c.length(r))
        apgen::detail::fail<shape_mismatch>("any_process schedule: control scores of row ", r, " cover ", ctl.rows(),
                                            " positions, row has ", c.length(r));
      auto t = c.row(r);
      auto ops = plan.ops_of(r);
      for (std::size_t i = 0; i < t.size(); ++i) {
        std::uint8_t b = t[i] == c.mask() ? op_unmask : op_none;
        for (std::size_t k = 0; k < control_count; ++k) {
          const float x = ctl(i, k);
          if (std::isnan(x))
            apgen::detail::fail<invalid_score>("control score ", k, " of row ", r, ", position ", i, " is NaN");
          if (x > m_logit_threshold) b |= k == control_remask ? op_remask : k == control_insert ? op_insert : op_erase;
          if (keep_probs)
            plan.control[3 * (plan.offsets[r] + i) + k] =
                static_cast<float>(1 / (1 + std::exp(-static_cast<double>(x))));
        }
        ops[i] |= b;
      }
    }
  }

private:
  double m_threshold;
  double m_logit_threshold = 0;
};

} // namespace apgen::schedules
