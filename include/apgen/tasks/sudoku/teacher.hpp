#pragma once
/// \file
/// The Sudoku teacher: the solving process of each puzzle run through the generator, as training records (every
/// step, the solved fixed point included, so that halting is taught), and `trajectory`, the same process stepped
/// directly (no generator, no scores) for statistics and fast data.

#include <apgen/core/canvas.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/engine/generator.hpp>
#include <apgen/schedules/any_process.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/oracle.hpp>
#include <apgen/tasks/sudoku/process.hpp>
#include <apgen/tasks/sudoku/task.hpp>
#include <apgen/train/teacher.hpp>
#include <apgen/train/transition_record.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace apgen::tasks::sudoku {

/// The states of the process from `puzzle`'s starting row to its solution, and what each step was: states[t + 1]
/// is states[t] after step t of kind kinds[t]; the last state is the solved grid (its fixed point not repeated).
struct process_trajectory {
  std::vector<std::vector<token_id>> states;
  std::vector<step_kind> kinds;
  std::size_t max_depth_reached = 0;
  [[nodiscard]] std::size_t steps() const noexcept { return kinds.size(); }
  [[nodiscard]] std::size_t count(step_kind k) const noexcept {
    return static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), k));
  }
};

/// Steps the process from `puzzle` until it is solved. Throws what next_step throws (a puzzle without solution, a
/// depth past the vocabulary), and invalid_argument when `step_cap` steps do not reach the solution.
[[nodiscard]] inline process_trajectory trajectory(const grid& puzzle, const state_tokens& tokens,
                                                   std::size_t step_cap = 100000) {
  process_trajectory out;
  std::vector<token_id> row = encode(puzzle);
  out.states.push_back(row);
  for (std::size_t t = 0;; ++t) {
    const process_step step = next_step(row, tokens);
    if (step.kind == step_kind::solved) return out;
    if (t == step_cap)
      apgen::detail::fail<invalid_argument>("sudoku trajectory: not solved after ", step_cap, " steps");
    apply_step(row, step);
    out.kinds.push_back(step.kind);
    out.max_depth_reached = std::max(out.max_depth_reached, step.depth + (step.kind == step_kind::branch ? 1 : 0));
    out.states.push_back(row);
  }
}

/// The records of `puzzle`'s process built directly from its steps, without the generator: the same records as
/// `teacher` (x, token targets where a MASK is unmasked, remask labels, the next state, the state encoder's
/// encoding of x; trajectory id `trajectory_id`, step numbers from 0), the solved fixed point last, about 15x
/// faster (bench_sudoku). The trainer's data source for symmetry-augmented training.
template <train::record_sink Sink>
void direct_records(const grid& puzzle, const state_encoder& encoder, Sink&& sink, std::int64_t trajectory_id = 0) {
  const state_tokens& tokens = encoder.tokens();
  std::vector<token_id> row = encode(puzzle);
  for (std::int64_t t = 0;; ++t) {
    const process_step step = next_step(row, tokens);
    train::transition_record rec;
    rec.x = row;
    rec.y.assign(slots, -1);
    rec.remask.assign(slots, 0);
    rec.insert.assign(slots, 0);
    rec.del.assign(slots, 0);
    rec.unmask.assign(slots, 0);
    for (std::size_t p = 0; p < slots; ++p) {
      rec.remask[p] = step.remask[p];
      if (row[p] == state_tokens::mask() && !step.remask[p]) {
        rec.y[p] = step.token[p];
        rec.unmask[p] = 1;
      }
    }
    encoder.encode(row, rec.encoding);
    apply_step(row, step);
    rec.next = row;
    rec.trajectory = trajectory_id;
    rec.step = t;
    sink(std::move(rec));
    if (step.kind == step_kind::solved) return;
    if (t > 1000000) apgen::detail::fail<invalid_argument>("sudoku direct_records: not solved after 10^6 steps");
  }
}

/// Records of the process on every puzzle of `puzzles` (trajectory opt.first_trajectory + k for puzzle k), run
/// `batch` puzzles at a time through the generator with the state encoder, so records carry the features and
/// allowed sets a model reads. The solved fixed point is recorded once per puzzle (skip_unchanged is ignored:
/// halting must be taught).
template <train::record_sink Sink>
void teacher(const std::vector<grid>& puzzles, Sink&& sink, std::size_t max_depth = default_max_depth,
             const train::record_options& opt = {}, std::size_t batch = 64) {
  if (batch == 0) apgen::detail::fail<invalid_argument>("sudoku teacher: batch must be positive");
  const vocabulary v = state_tokens(max_depth).make_vocabulary();
  for (std::size_t at = 0; at < puzzles.size(); at += batch) {
    const std::size_t n = std::min(batch, puzzles.size() - at);
    canvas c(v, n, slots);
    for (std::size_t r = 0; r < n; ++r) c.assign(r, encode(puzzles[at + r]), 0);
    auto gen = make_generator(oracle(max_depth), schedules::any_process<>(),
                              generator_options{.encoder = row_encoder(state_encoder(max_depth))});
    train::record_options o = opt;
    o.skip_unchanged = false;
    o.first_trajectory = opt.first_trajectory + static_cast<std::int64_t>(at);
    train::record_trajectories(gen, c, sink, o);
  }
}

/// teacher collecting the records into a vector.
[[nodiscard]] inline std::vector<train::transition_record> teacher(const std::vector<grid>& puzzles,
                                                                   std::size_t max_depth = default_max_depth) {
  std::vector<train::transition_record> out;
  teacher(
      puzzles, [&](train::transition_record&& r) { out.push_back(std::move(r)); }, max_depth);
  return out;
}

} // namespace apgen::tasks::sudoku
