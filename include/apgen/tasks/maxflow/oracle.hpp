#pragma once
/// \file
/// The max-flow process (process.hpp) as a denoiser: each step's moves written as sharp token scores and control
/// logits, so the generator runs it exactly (schedules::any_process) and the teacher records it.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/denoisers/oracle_scores.hpp>
#include <apgen/tasks/maxflow/process.hpp>
#include <apgen/tasks/maxflow/task.hpp>

#include <cstddef>

namespace apgen::tasks::maxflow {

/// Edmonds-Karp and the cut deletion over states of make_vocabulary().
class oracle {
public:
  [[nodiscard]] std::size_t vocab_size() const noexcept { return tokens::count; }
  [[nodiscard]] head_set heads() const noexcept { return heads::tokens_and_controls; }

  /// Throws what next_step throws for a row that is not a state of the process.
  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto row = c.row(r);
      const process_step step = next_step(row);
      auto tok = out.tokens(r);
      auto ctl = out.controls(r);
      for (std::size_t p = 0; p < row.size(); ++p) {
        const move& m = step.moves[p];
        // A MASK that stays masked still gets a choice the token pass may make (never MASK itself).
        oracles::write_choice(tok, p, m.token == tokens::mask ? tokens::fb : m.token);
        oracles::write_control(ctl, p, control_remask, m.remask);
        oracles::write_control(ctl, p, control_insert, m.insert);
        oracles::write_control(ctl, p, control_delete, m.erase);
      }
    }
  }
};

} // namespace apgen::tasks::maxflow
