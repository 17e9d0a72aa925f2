#pragma once
/// \file
/// The Sudoku solving process (process.hpp) as a denoiser: each step's decision written as sharp token scores and
/// remask controls, so the generator runs it exactly (schedules::any_process) and the teacher records it.

#include <apgen/core/canvas.hpp>
#include <apgen/core/denoiser_output.hpp>
#include <apgen/core/step_context.hpp>
#include <apgen/denoisers/oracle_scores.hpp>
#include <apgen/tasks/sudoku/process.hpp>
#include <apgen/tasks/sudoku/task.hpp>

#include <cstddef>

namespace apgen::tasks::sudoku {

/// The teacher's process as a denoiser over states of `state_tokens(max_depth)`.
class oracle {
public:
  explicit oracle(std::size_t max_depth = default_max_depth) : m_tokens(max_depth) {}

  [[nodiscard]] std::size_t vocab_size() const noexcept { return m_tokens.size(); }
  [[nodiscard]] head_set heads() const noexcept { return heads::tokens_and_controls; }
  [[nodiscard]] const state_tokens& tokens() const noexcept { return m_tokens; }

  /// Throws what next_step throws, prefixed by nothing: the messages already name the slot or the problem.
  void predict(const canvas& c, const step_context& ctx, denoiser_output& out) const {
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!ctx.is_active(r)) continue;
      const auto row = c.row(r);
      const process_step step = next_step(row, m_tokens);
      auto tok = out.tokens(r);
      auto ctl = out.controls(r);
      for (std::size_t p = 0; p < row.size(); ++p) {
        // A slot that stays masked still gets a well-defined choice inside its allowed set.
        token_id t = step.token[p];
        if (t == state_tokens::mask())
          t = p % 2 == 0 ? m_tokens.fill(1, step.depth) : m_tokens.note(1, step.depth == 0 ? 0 : step.depth - 1);
        oracles::write_choice(tok, p, t);
        oracles::write_control(ctl, p, control_remask, step.remask[p] != 0);
        oracles::write_control(ctl, p, control_insert, false);
        oracles::write_control(ctl, p, control_delete, false);
      }
    }
  }

private:
  state_tokens m_tokens;
};

} // namespace apgen::tasks::sudoku
