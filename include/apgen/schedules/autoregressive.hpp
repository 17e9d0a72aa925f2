#pragma once
/// \file
/// Autoregressive decoding: the leftmost MASK of each row, one token a step. On a canvas of masks this is ARM
/// over a fixed context; with edits::arm_append it grows the row instead: each step also inserts a MASK after the
/// last position (unless the new token is EOS or the row is full), so a row is [prompt, MASK] to start with.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/core/step_plan.hpp>
#include <apgen/edits/edit_set.hpp>
#include <apgen/sampling/confidence.hpp>
#include <apgen/sampling/samplers.hpp>
#include <apgen/schedules/schedule_base.hpp>
#include <apgen/stopping/stop_rules.hpp>

#include <cstddef>

namespace apgen::schedules {

/// \tparam Sampler how the token is chosen (sampling::greedy by default).
template <class Sampler = sampling::greedy>
class autoregressive
    : public schedule_base<Sampler, edits::mdm,
                           stopping::any_of<stopping::eos_produced, stopping::no_mask_left, stopping::fixed_point>> {
  using base = schedule_base<Sampler, edits::mdm,
                             stopping::any_of<stopping::eos_produced, stopping::no_mask_left, stopping::fixed_point>>;

public:
  explicit autoregressive(Sampler s = {}) : base(std::move(s)) {}

  void reset(const canvas&) noexcept {}

  void mark(const canvas& c, const step_context& ctx, step_plan& plan) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      auto t = c.row(r);
      for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i] == c.mask()) {
          plan.want_of(r)[i] = score_choice;
          break;
        }
    }
  }

  void select(const canvas& c, const denoiser_output&, const step_context& ctx, step_plan& plan) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      auto want = plan.want_of(r);
      for (std::size_t i = 0; i < want.size(); ++i) {
        if (want[i] != score_choice) continue;
        plan.ops_of(r)[i] |= op_unmask;
        // Growth for edits::arm_append (other edit sets clear the bit): one more slot after the last token.
        const bool last = i + 1 == want.size();
        if (last && plan.tokens_of(r)[i] != c.eos() && c.length(r) < c.capacity(r)) plan.ops_of(r)[i] |= op_insert;
        break;
      }
    }
  }

private:
};

} // namespace apgen::schedules
