#pragma once
/// \file
/// Pieces every unmasking schedule shares: marking masks for the token pass and picking the k best-scored ones.

#include <apgen/core/canvas.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace apgen::schedules::detail {

/// Marks every MASK of each active row for a token choice.
inline void mark_all_masks(const canvas& c, const step_context& ctx, step_plan& plan) {
  for (std::size_t r = 0; r < c.rows(); ++r) {
    if (!ctx.is_active(r)) continue;
    auto t = c.row(r);
    auto want = plan.want_of(r);
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i] == c.mask()) want[i] = score_choice;
  }
}

/// Marks the MASKs of row r in positions [begin, end) for a token choice.
inline void mark_masks_in(const canvas& c, std::size_t r, std::size_t begin, std::size_t end, step_plan& plan) {
  auto t = c.row(r);
  auto want = plan.want_of(r);
  for (std::size_t i = begin; i < std::min(end, t.size()); ++i)
    if (t[i] == c.mask()) want[i] = score_choice;
}

/// Positions of row r that were marked for a choice.
inline std::size_t marked_count(const step_plan& plan, std::size_t r) {
  const std::uint8_t* w = plan.want.data() + plan.offsets[r];
  return static_cast<std::size_t>(std::count(w, w + plan.row_length(r), std::uint8_t{score_choice}));
}

/// Sets op_unmask on the k marked positions of row r with the highest score (ties: the lower position first,
/// so results never depend on sort stability). `scratch` is reused across calls.
inline void unmask_top_k(step_plan& plan, std::size_t r, std::size_t k, std::vector<std::uint32_t>& scratch) {
  scratch.clear();
  const std::size_t base = plan.offsets[r];
  for (std::size_t i = 0; i < plan.row_length(r); ++i)
    if (plan.want[base + i] == score_choice) scratch.push_back(static_cast<std::uint32_t>(i));
  k = std::min(k, scratch.size());
  if (k == 0) return;
  auto better = [&](std::uint32_t a, std::uint32_t b) {
    const float sa = plan.score[base + a], sb = plan.score[base + b];
    return sa > sb || (sa == sb && a < b);
  };
  if (k < scratch.size())
    std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k - 1), scratch.end(), better);
  for (std::size_t j = 0; j < k; ++j) plan.ops[base + scratch[j]] |= op_unmask;
}

} // namespace apgen::schedules::detail
