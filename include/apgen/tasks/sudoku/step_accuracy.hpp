#pragma once
/// \file
/// How well a model takes the teacher's steps, one at a time: every state of the teacher's trajectories of a puzzle
/// set is given to the model for one generator step, and the state it writes is compared with the teacher's next
/// state. A whole solve needs every step right, so its accuracy sits at zero long after the steps start to be
/// learned; this is the measure that moves first (learned Sudoku models are known to sit on a plateau of board
/// accuracy while their per-cell accuracy climbs). Reported per step kind, and for the value slots the teacher
/// fills or guesses, which of the two heads falls short (see step_accuracy_report).

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/proportion.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/engine/process_trace.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/sudoku/evaluate.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/process.hpp>
#include <apgen/tasks/sudoku/task.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <utility>
#include <vector>

namespace apgen::tasks::sudoku {

/// One-step accuracy, and where a step goes wrong. Of the value slots the teacher writes (its fills and guesses),
/// `written` counts those the model wrote with the teacher's token; `chosen` those whose token the model's token
/// pass chose, written or not (what the token head knows); `held_back` those the model's remask bit left masked
/// (what the remask head misses). `written_by_single` splits `written` into cells the peers' digits leave with one
/// candidate (naked singles, index 0: one hop of attention decides them) and the rest (hidden singles and guesses,
/// index 1: they need the candidates of other cells).
struct step_accuracy_report {
  proportion steps{};                  ///< states whose whole next state the model wrote exactly
  std::array<proportion, 4> by_kind{}; ///< the same, by the teacher's step kind (indexed by step_kind)
  proportion written{};
  proportion chosen{};
  proportion held_back{};
  std::array<proportion, 2> written_by_single{};
};

/// Runs `model` for one step from every state of the teacher's trajectories of `puzzles` (the states of all puzzles,
/// `opt.batch` at a time) and scores each step against the teacher's. Throws what next_step throws for a puzzle
/// the teacher cannot solve within `opt.max_depth`, and shape_mismatch for a model of another vocabulary.
template <denoiser Model>
[[nodiscard]] step_accuracy_report step_accuracy(Model model, const std::vector<grid>& puzzles,
                                                 const evaluation_options& opt = {}) {
  if (opt.batch == 0) apgen::detail::fail<invalid_argument>("sudoku step accuracy: batch must be positive");
  const state_tokens tokens(opt.max_depth);
  const vocabulary v = tokens.make_vocabulary();
  if (model.vocab_size() != v.size())
    apgen::detail::fail<shape_mismatch>("sudoku step accuracy: the model scores ", model.vocab_size(),
                                        " tokens, the states of depth ", opt.max_depth, " have ", v.size());
  struct teacher_step {
    std::vector<token_id> before, after;
    step_kind kind;
  };
  std::vector<teacher_step> states;
  for (const grid& p : puzzles) {
    std::vector<token_id> row = encode(p);
    for (;;) {
      const process_step s = next_step(row, tokens);
      teacher_step t{row, row, s.kind};
      apply_step(t.after, s);
      states.push_back(std::move(t));
      if (s.kind == step_kind::solved) break;
      row = states.back().after;
    }
  }
  auto gen = make_generator(std::move(model), schedules::any_process<>(),
                            generator_options{.max_steps = 1, .encoder = row_encoder(state_encoder(opt.max_depth))});
  step_accuracy_report rep;
  for (std::size_t at = 0; at < states.size(); at += opt.batch) {
    const std::size_t n = std::min(opt.batch, states.size() - at);
    canvas c(v, n, slots);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, states[at + r].before);
    process_trace trace(c); // for the token pass's choices where the remask bit kept a MASK
    (void)gen.generate(c, trace);
    if (trace.steps().size() != n)
      apgen::detail::fail<error>("sudoku step accuracy: ", trace.steps().size(), " row steps recorded for ", n,
                                 " rows");
    for (std::size_t r = 0; r < n; ++r) {
      const teacher_step& t = states[at + r];
      const auto got = c.row(r);
      const std::vector<token_id>& chose = trace.steps()[r].tokens;
      const grid digits = read_digits(t.before, tokens);
      const bool exact = std::equal(got.begin(), got.end(), t.after.begin(), t.after.end());
      auto& kind = rep.by_kind[static_cast<std::size_t>(t.kind)];
      ++kind.trials;
      ++rep.steps.trials;
      kind.successes += exact;
      rep.steps.successes += exact;
      for (std::size_t p = 0; p < slots && got.size() == slots; p += 2) {
        if (t.before[p] != state_tokens::mask() || t.after[p] == state_tokens::mask()) continue;
        const bool right = got[p] == t.after[p];
        ++rep.written.trials;
        rep.written.successes += right;
        ++rep.chosen.trials;
        rep.chosen.successes += chose[p] == t.after[p];
        ++rep.held_back.trials;
        rep.held_back.successes += got[p] == state_tokens::mask();
        std::uint16_t used = 0;
        for (const auto q : board.peers[p / 2]) used = static_cast<std::uint16_t>(used | (1u << digits[q]));
        auto& split =
            rep.written_by_single[std::popcount(static_cast<std::uint16_t>(all_digit_bits & ~used)) == 1 ? 0 : 1];
        ++split.trials;
        split.successes += right;
      }
    }
  }
  return rep;
}

} // namespace apgen::tasks::sudoku
