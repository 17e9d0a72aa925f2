#pragma once
/// \file
/// The Sudoku evaluation harness: runs any Sudoku denoiser (the oracle, or a learned model over the same states)
/// through the AP-MDM generator on a puzzle set and scores it against each puzzle's unique solution. The step cap is
/// fixed before the run (default_step_cap; no per-puzzle tuning). A row counts as solved when its value slots hold
/// the solution when it stops; otherwise it is valid-but-wrong (a complete, consistent grid that breaks a given),
/// stopped unsolved (it reached a fixed point, or stopped for another reason, without the solution), or capped.

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/proportion.hpp>
#include <apgen/engine/concepts.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/solver.hpp>
#include <apgen/tasks/sudoku/task.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace apgen::tasks::sudoku {

/// About 4x the longest teacher trajectory over the committed sets (1,942 steps, a T2 puzzle), fixed in advance.
inline constexpr std::uint32_t default_step_cap = 8192;

struct evaluation_options {
  std::uint32_t step_cap = default_step_cap;
  std::size_t batch = 64;
  std::size_t max_depth = default_max_depth;
  /// Called after each batch with (puzzles done, puzzles in all): a progress bar's hook (draw/progress.hpp).
  std::function<void(std::size_t, std::size_t)> on_progress{};
};

/// How one puzzle ended.
enum class outcome : std::uint8_t { solved, valid_but_wrong, stopped_unsolved, step_cap };

struct evaluation_report {
  proportion solved{};
  std::size_t valid_but_wrong = 0;
  std::size_t stopped_unsolved = 0;
  std::size_t step_capped = 0;
  std::vector<std::uint32_t> steps{}; ///< per puzzle, in input order
  std::vector<outcome> outcomes{};
  double seconds = 0; ///< wall time of the generation (solving the references excluded)

  [[nodiscard]] double mean_steps() const noexcept {
    double s = 0;
    for (auto v : steps) s += v;
    return steps.empty() ? 0.0 : s / double(steps.size());
  }
  /// The p-quantile (nearest rank) of the steps.
  [[nodiscard]] std::uint32_t steps_quantile(double p) const {
    if (steps.empty()) return 0;
    std::vector<std::uint32_t> s = steps;
    std::sort(s.begin(), s.end());
    const auto k = static_cast<std::size_t>(std::ceil(p * double(s.size())));
    return s[std::min(s.size() - 1, k ? k - 1 : 0)];
  }
};

/// The digits of a row's value slots, leniently: any token the vocabulary does not read as a digit counts as blank
/// (a learned model may leave anything; the harness scores it rather than throwing).
[[nodiscard]] inline grid read_digits(std::span<const token_id> row, const state_tokens& tokens) {
  grid g{};
  if (row.size() != slots) return g;
  for (std::size_t i = 0; i < cells; ++i) {
    const token_id t = row[2 * i];
    if (t < 0 || static_cast<std::size_t>(t) >= tokens.size()) continue;
    const slot_value v = tokens.decode(t);
    if (v.kind == slot_kind::given || v.kind == slot_kind::fill || v.kind == slot_kind::guess) g[i] = v.digit;
  }
  return g;
}

/// Scores `model` on `puzzles`. Each puzzle must have exactly one solution (unique_solution throws naming
/// "puzzle k", counted from 1, otherwise). The generator runs its own copy of `model` (as make_generator does).
/// \tparam Model a denoiser over the states of task.hpp (vocabulary state_tokens(max_depth))
template <denoiser Model>
[[nodiscard]] evaluation_report evaluate(Model model, const std::vector<grid>& puzzles,
                                         const evaluation_options& opt = {}) {
  if (opt.batch == 0) apgen::detail::fail<invalid_argument>("sudoku evaluate: batch must be positive");
  const state_tokens tokens(opt.max_depth);
  const vocabulary v = tokens.make_vocabulary();
  if (model.vocab_size() != v.size())
    apgen::detail::fail<shape_mismatch>("sudoku evaluate: the model scores ", model.vocab_size(),
                                        " tokens, the states of depth ", opt.max_depth, " have ", v.size());
  std::vector<grid> solutions(puzzles.size());
  for (std::size_t k = 0; k < puzzles.size(); ++k) {
    std::string where = "puzzle "; // built with += : g++ 12 -O3 reports a false -Wrestrict in "literal" + string
    where += std::to_string(k + 1);
    solutions[k] = unique_solution(puzzles[k], where);
  }
  evaluation_report rep;
  rep.steps.resize(puzzles.size());
  rep.outcomes.resize(puzzles.size());
  rep.solved.trials = puzzles.size();
  auto gen = make_generator(
      std::move(model), schedules::any_process<>(),
      generator_options{.max_steps = opt.step_cap, .encoder = row_encoder(state_encoder(opt.max_depth))});
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t at = 0; at < puzzles.size(); at += opt.batch) {
    const std::size_t n = std::min(opt.batch, puzzles.size() - at);
    canvas c(v, n, slots);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, encode(puzzles[at + r]));
    const generation_result res = gen.generate(c);
    for (std::size_t r = 0; r < n; ++r) {
      const std::size_t k = at + r;
      const grid got = read_digits(c.row(r), tokens);
      rep.steps[k] = res.rows[r].steps;
      outcome o;
      if (got == solutions[k])
        o = outcome::solved;
      else if (is_solved(got))
        o = outcome::valid_but_wrong;
      else if (res.rows[r].reason == stop_reason::step_limit)
        o = outcome::step_cap;
      else
        o = outcome::stopped_unsolved;
      rep.outcomes[k] = o;
      rep.solved.successes += o == outcome::solved;
      rep.valid_but_wrong += o == outcome::valid_but_wrong;
      rep.stopped_unsolved += o == outcome::stopped_unsolved;
      rep.step_capped += o == outcome::step_cap;
    }
    if (opt.on_progress) opt.on_progress(at + n, puzzles.size());
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

} // namespace apgen::tasks::sudoku
