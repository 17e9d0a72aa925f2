#pragma once
/// \file
/// Masked-diffusion decoding: each step, each row unmasks the k best masks by a confidence measure (random order,
/// top probability, top1 - top2 margin, or lowest entropy), k from an unmask_count (fixed, linear, cosine).

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/edits/edit_set.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/sampling/samplers.hpp>
#include <apgen/schedules/common.hpp>
#include <apgen/schedules/schedule_base.hpp>
#include <apgen/schedules/unmask_count.hpp>
#include <apgen/stopping/stop_rules.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace apgen::schedules {

/// \tparam Sampler how tokens are chosen (sampling::greedy by default).
template <class Sampler = sampling::greedy>
class masked_diffusion : public schedule_base<Sampler, edits::mdm, stopping::until_decoded> {
  using base = schedule_base<Sampler, edits::mdm, stopping::until_decoded>;

public:
  explicit masked_diffusion(sampling::confidence_measure order = sampling::confidence_measure::probability,
                            unmask_count count = unmask_count::fixed_k(1), Sampler s = {})
      : base(std::move(s), order), m_count(count) {}

  [[nodiscard]] const unmask_count& count() const noexcept { return m_count; }
  void reset(const canvas& c) { m_scratch.reserve(c.max_capacity()); }

  void mark(const canvas& c, const step_context& ctx, step_plan& plan) const { detail::mark_all_masks(c, ctx, plan); }

  void select(const canvas& c, const denoiser_output&, const step_context& ctx, step_plan& plan) {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const std::size_t k = m_count.how_many(detail::marked_count(plan, r), ctx.progress_of(r));
      detail::unmask_top_k(plan, r, k, m_scratch);
    }
  }

private:
  unmask_count m_count;
  std::vector<std::uint32_t> m_scratch;
};

/// Random unmasking order.
template <class Sampler = sampling::greedy>
[[nodiscard]] masked_diffusion<Sampler> random_order(unmask_count count = unmask_count::fixed_k(1), Sampler s = {}) {
  return masked_diffusion<Sampler>(sampling::confidence_measure::random, count, std::move(s));
}
/// Most probable tokens first.
template <class Sampler = sampling::greedy>
[[nodiscard]] masked_diffusion<Sampler> top_probability(unmask_count count = unmask_count::fixed_k(1), Sampler s = {}) {
  return masked_diffusion<Sampler>(sampling::confidence_measure::probability, count, std::move(s));
}
/// Largest top1 - top2 margin first.
template <class Sampler = sampling::greedy>
[[nodiscard]] masked_diffusion<Sampler> top_margin(unmask_count count = unmask_count::fixed_k(1), Sampler s = {}) {
  return masked_diffusion<Sampler>(sampling::confidence_measure::margin, count, std::move(s));
}
/// Lowest entropy first.
template <class Sampler = sampling::greedy>
[[nodiscard]] masked_diffusion<Sampler> lowest_entropy(unmask_count count = unmask_count::fixed_k(1), Sampler s = {}) {
  return masked_diffusion<Sampler>(sampling::confidence_measure::entropy, count, std::move(s));
}

} // namespace apgen::schedules
