#pragma once
/// \file
/// Low-confidence remasking ("polish"): wraps an unmasking schedule. While a row has masks the inner schedule
/// decodes; once it has none, up to `per_step` decoded, unlocked positions whose current token's probability is
/// below `threshold` are remasked (least likely first), and the inner schedule fills them again. A per-row budget
/// of remasks bounds the work, so decoding always terminates: with the budget spent, the row reaches a fixed point.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/edits/edit_set.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/stopping/stop_rules.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace apgen::schedules {

struct polish_options {
  double threshold = 0.5;   ///< remask decoded tokens whose probability is below this
  std::size_t per_step = 1; ///< at most this many remasks per row per polish step
  std::size_t budget = 16;  ///< at most this many remasks per row in one generation
};

/// \tparam Inner an unmasking schedule (masked_diffusion, threshold, blockwise, autoregressive).
template <class Inner>
class with_polish {
public:
  using sampler_type = typename Inner::sampler_type;
  using default_edits = edits::mdm_remask;
  using default_stop = stopping::until_fixed_point;
  /// The generator refuses (at compile time) an edit set without remask.
  static constexpr std::uint8_t required_ops = op_remask;

  explicit with_polish(Inner inner, polish_options opt = {}) : m_inner(std::move(inner)), m_opt(opt) {
    if (opt.per_step == 0) apgen::detail::fail<invalid_argument>("polish: per_step must be at least 1");
  }

  [[nodiscard]] const sampler_type& sampler() const noexcept { return m_inner.sampler(); }
  [[nodiscard]] sampling::confidence_measure measure() const noexcept { return m_inner.measure(); }
  [[nodiscard]] head_set heads() const noexcept { return m_inner.heads(); }
  [[nodiscard]] const polish_options& options() const noexcept { return m_opt; }
  /// Remasks spent by row r in the current generation.
  [[nodiscard]] std::size_t spent(std::size_t r) const { return m_spent.at(r); }

  void reset(const canvas& c) {
    m_inner.reset(c);
    m_spent.assign(c.rows(), 0);
    m_scratch.reserve(c.max_capacity());
  }

  void mark(const canvas& c, const step_context& ctx, step_plan& plan) const {
    m_inner.mark(c, ctx, plan);
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r) || c.count_masks(r) != 0 || m_spent[r] >= m_opt.budget) continue;
      auto want = plan.want_of(r);
      auto lock = c.locked(r);
      for (std::size_t i = 0; i < want.size(); ++i)
        if (!lock[i]) want[i] = score_current;
    }
  }

  void select(const canvas& c, const denoiser_output& out, const step_context& ctx, step_plan& plan) {
    m_inner.select(c, out, ctx, plan);
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r) || c.count_masks(r) != 0 || m_spent[r] >= m_opt.budget) continue;
      const std::size_t base = plan.offsets[r];
      m_scratch.clear();
      for (std::size_t i = 0; i < plan.row_length(r); ++i)
        if (plan.want[base + i] == score_current && plan.score[base + i] < m_opt.threshold)
          m_scratch.push_back(static_cast<std::uint32_t>(i));
      std::sort(m_scratch.begin(), m_scratch.end(), [&](std::uint32_t a, std::uint32_t b) {
        const float sa = plan.score[base + a], sb = plan.score[base + b];
        return sa < sb || (sa == sb && a < b);
      });
      const std::size_t n = std::min({m_scratch.size(), m_opt.per_step, m_opt.budget - m_spent[r]});
      for (std::size_t j = 0; j < n; ++j) plan.ops[base + m_scratch[j]] |= op_remask;
      m_spent[r] += n;
    }
  }

private:
  Inner m_inner;
  polish_options m_opt;
  std::vector<std::size_t> m_spent;
  std::vector<std::uint32_t> m_scratch;
};

} // namespace apgen::schedules
