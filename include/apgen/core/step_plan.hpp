#pragma once
/// \file
/// The decisions of one step, per position, packed row after row in the order of the canvas (offsets by the
/// current row lengths): the token y_i a MASK would become, its score, the control probabilities when a schedule
/// reads the control heads, and the edit bits. Schedules fill it; the transition consumes it.

#include <apgen/config.hpp>
#include <apgen/core/canvas.hpp>
#include <apgen/core/ops.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace apgen {

/// What the token pass computes at a position (step_plan::want).
enum score_request : std::uint8_t {
  score_nothing = 0,
  score_choice = 1,  ///< choose y_i and score it (a MASK the schedule may unmask)
  score_current = 2, ///< score the current token (a decoded position a schedule may remask)
};

/// Per-position decisions for one step of a batch. Buffers only grow (reserve once with `reserve_for`), so steps
/// in steady state do not allocate.
struct step_plan {
  std::vector<std::size_t> offsets; ///< rows+1 packed offsets
  std::vector<token_id> token;      ///< y_i (meaningful where the position is MASK)
  std::vector<float> score;         ///< confidence of y_i under the schedule's measure (higher = surer)
  std::vector<float> control;       ///< 3 per position: P(remask), P(insert), P(delete); empty when unused
  std::vector<std::uint8_t> ops;    ///< op_bits per position
  std::vector<std::uint8_t> want;   ///< what to score per position (score_request), set by the schedule

  /// Reserves room for the largest batch `c` can hold, so later reshapes never allocate.
  void reserve_for(const canvas& c, bool with_controls) {
    offsets.reserve(c.rows() + 1);
    token.reserve(c.total_capacity());
    score.reserve(c.total_capacity());
    ops.reserve(c.total_capacity());
    want.reserve(c.total_capacity());
    if (with_controls) control.reserve(3 * c.total_capacity());
  }

  /// Sizes the plan to the canvas's current lengths and clears every op bit.
  void reshape(const canvas& c, bool with_controls) {
    offsets.resize(c.rows() + 1);
    c.packed_offsets(offsets);
    const std::size_t n = offsets.back();
    token.resize(n);
    score.resize(n);
    ops.assign(n, op_none);
    want.assign(n, 0);
    control.resize(with_controls ? 3 * n : 0);
  }

  [[nodiscard]] std::size_t rows() const noexcept { return offsets.empty() ? 0 : offsets.size() - 1; }
  [[nodiscard]] std::size_t row_length(std::size_t r) const noexcept { return offsets[r + 1] - offsets[r]; }
  [[nodiscard]] std::span<token_id> tokens_of(std::size_t r) noexcept {
    return {token.data() + offsets[r], row_length(r)};
  }
  [[nodiscard]] std::span<float> scores_of(std::size_t r) noexcept {
    return {score.data() + offsets[r], row_length(r)};
  }
  [[nodiscard]] std::span<std::uint8_t> ops_of(std::size_t r) noexcept {
    return {ops.data() + offsets[r], row_length(r)};
  }
  [[nodiscard]] std::span<const token_id> tokens_of(std::size_t r) const noexcept {
    return {token.data() + offsets[r], row_length(r)};
  }
  [[nodiscard]] std::span<const float> scores_of(std::size_t r) const noexcept {
    return {score.data() + offsets[r], row_length(r)};
  }
  [[nodiscard]] std::span<const std::uint8_t> ops_of(std::size_t r) const noexcept {
    return {ops.data() + offsets[r], row_length(r)};
  }
  [[nodiscard]] std::span<std::uint8_t> want_of(std::size_t r) noexcept {
    return {want.data() + offsets[r], row_length(r)};
  }
};

} // namespace apgen
