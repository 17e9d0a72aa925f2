#pragma once
/// \file
/// Confidence-threshold decoding: each step commits every mask whose confidence exceeds tau, and at least the
/// single most confident one, so every step makes progress.

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

/// \tparam Sampler how tokens are chosen (sampling::greedy by default).
template <class Sampler = sampling::greedy>
class threshold : public schedule_base<Sampler, edits::mdm, stopping::until_decoded> {
  using base = schedule_base<Sampler, edits::mdm, stopping::until_decoded>;

public:
  explicit threshold(double tau = 0.9, sampling::confidence_measure measure = sampling::confidence_measure::probability,
                     Sampler s = {})
      : base(std::move(s), measure), m_tau(tau) {
    if (!std::isfinite(tau)) apgen::detail::fail<invalid_argument>("threshold schedule: tau must be finite, got ", tau);
  }

  [[nodiscard]] double tau() const noexcept { return m_tau; }
  void reset(const canvas&) noexcept {}

  void mark(const canvas& c, const step_context& ctx, step_plan& plan) const { detail::mark_all_masks(c, ctx, plan); }

  void select(const canvas& c, const denoiser_output&, const step_context& ctx, step_plan& plan) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const std::size_t base = plan.offsets[r];
      std::size_t best = plan.row_length(r);
      bool any = false;
      for (std::size_t i = 0; i < plan.row_length(r); ++i) {
        if (plan.want[base + i] != score_choice) continue;
        if (best == plan.row_length(r) || plan.score[base + i] > plan.score[base + best]) best = i;
        if (plan.score[base + i] > m_tau) {
          plan.ops[base + i] |= op_unmask;
          any = true;
        }
      }
      if (!any && best < plan.row_length(r)) plan.ops[base + best] |= op_unmask;
    }
  }

private:
  double m_tau;
};

} // namespace apgen::schedules
