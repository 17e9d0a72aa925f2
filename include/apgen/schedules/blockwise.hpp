#pragma once
/// \file
/// Semi-autoregressive decoding: the row is cut into blocks of `block_size` positions; blocks are decoded left to
/// right, and inside the leftmost block that still holds a MASK, k masks a step by a confidence measure.

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

#include <cstddef>
#include <cstdint>
#include <vector>

namespace apgen::schedules {

/// \tparam Sampler how tokens are chosen (sampling::greedy by default).
template <class Sampler = sampling::greedy>
class blockwise : public schedule_base<Sampler, edits::mdm, stopping::until_decoded> {
  using base = schedule_base<Sampler, edits::mdm, stopping::until_decoded>;

public:
  explicit blockwise(std::size_t block_size, std::size_t per_step = 1,
                     sampling::confidence_measure order = sampling::confidence_measure::probability, Sampler s = {})
      : base(std::move(s), order), m_block(block_size), m_per_step(per_step) {
    if (block_size == 0) apgen::detail::fail<invalid_argument>("blockwise schedule: block size must be at least 1");
    if (per_step == 0) apgen::detail::fail<invalid_argument>("blockwise schedule: masks per step must be at least 1");
  }

  [[nodiscard]] std::size_t block_size() const noexcept { return m_block; }
  void reset(const canvas& c) { m_scratch.reserve(c.max_capacity()); }

  void mark(const canvas& c, const step_context& ctx, step_plan& plan) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      auto t = c.row(r);
      for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i] == c.mask()) {
          const std::size_t begin = i / m_block * m_block;
          detail::mark_masks_in(c, r, begin, begin + m_block, plan);
          break;
        }
    }
  }

  void select(const canvas& c, const denoiser_output&, const step_context& ctx, step_plan& plan) {
    for (std::size_t r = 0; r < c.rows(); ++r)
      if (ctx.is_active(r)) detail::unmask_top_k(plan, r, m_per_step, m_scratch);
  }

private:
  std::size_t m_block;
  std::size_t m_per_step;
  std::vector<std::uint32_t> m_scratch;
};

} // namespace apgen::schedules
