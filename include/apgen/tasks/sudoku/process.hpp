#pragma once
/// \file
/// The teacher's solving process on the states of task.hpp: one AP-MDM step from a state, as a remask bit and a
/// token per slot. From a state at depth d (the number of open guesses), in this order:
///   1. solved (every value slot decoded, no unit repeats a digit): a fixed point; every MASK stays masked;
///   2. the note of the depth-d guess cell, if not yet written, is written: x<v>.<d-1> for its guess v;
///   3. a contradiction (an undecided cell with no candidate, a unit with no place for a missing digit, a cell
///      forced to two digits, or two cells of a unit forced to one digit) at depth d >= 1: every value and note slot
///      of depth >= d is remasked, in one step; at depth 0 the puzzle has no solution (an error);
///   4. else every cell forced by a naked single (one candidate) or a hidden single (the only place of a digit in a
///      row, column or box) is filled, all in this one step, as f<v>.<d> (adaptive parallelism);
///   5. else a branch: on the undecided cell holding a note if there is one (a cell whose earlier tries failed is
///      tried again before anything else, which keeps at most one note per depth), else on the cell with the fewest
///      candidates (lowest index first), with its least candidate, as b<v>.<d+1>; a note on that cell is remasked
///      (the guess records it until the next step writes the new one).
/// A candidate of an undecided cell is a digit no peer holds and, when the cell has a note x<u>.<k>, above u. All
/// other MASK slots are remasked (kept masked), all other decoded slots kept. Givens are never touched.
/// Each step is a function of the state alone, so a model can learn it; every trajectory ends on the solution and
/// stays there.

#include <apgen/core/errors.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/task.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace apgen::tasks::sudoku {

/// What a step does.
enum class step_kind : std::uint8_t { solved, propagate, backtrack, branch };

[[nodiscard]] constexpr const char* to_string(step_kind k) noexcept {
  switch (k) {
  case step_kind::solved:
    return "solved";
  case step_kind::propagate:
    return "propagate";
  case step_kind::backtrack:
    return "backtrack";
  case step_kind::branch:
    return "branch";
  }
  return "?";
}

/// One step of the process: per slot, remask set (it becomes or stays MASK), or the token a MASK slot unmasks to.
struct process_step {
  step_kind kind = step_kind::solved;
  std::size_t depth = 0;       ///< the depth of the state the step reads
  std::size_t filled = 0;      ///< value slots unmasked (fills or the guess)
  std::size_t branch_cell = 0; ///< the cell guessed (kind == branch)
  std::array<std::uint8_t, slots> remask{};
  std::array<token_id, slots> token{}; ///< for every slot: what a MASK slot becomes unless remasked; else its own
};

/// A state, decoded and checked.
struct decoded_state {
  std::array<slot_value, cells> value{};
  std::array<slot_value, cells> note{};
  std::size_t depth = 0;
  std::array<std::int16_t, 64> guess_cell{}; ///< the cell holding the guess of depth k (k = 1..depth)
};

/// Decodes `row` and checks what every state of the process satisfies: slot kinds, one guess per depth 1..d, and
/// no fill or note deeper than d. Throws shape_mismatch or invalid_token (naming the slot) otherwise.
[[nodiscard]] inline decoded_state decode_state(std::span<const token_id> row, const state_tokens& tokens) {
  if (row.size() != slots)
    apgen::detail::fail<shape_mismatch>("sudoku process: a state has ", slots, " slots, this row has ", row.size());
  decoded_state s;
  s.guess_cell.fill(-1);
  for (std::size_t i = 0; i < cells; ++i) {
    s.value[i] = tokens.decode(row[2 * i]);
    s.note[i] = tokens.decode(row[2 * i + 1]);
    if (s.value[i].kind == slot_kind::note)
      apgen::detail::fail<invalid_token>("sudoku process: slot ", 2 * i, " (value of cell ", i, ") holds a note");
    if (s.note[i].kind != slot_kind::mask && s.note[i].kind != slot_kind::note)
      apgen::detail::fail<invalid_token>("sudoku process: slot ", 2 * i + 1, " (note of cell ", i, ") holds a digit");
    if (s.value[i].kind == slot_kind::guess) {
      const std::size_t k = s.value[i].depth;
      if (s.guess_cell[k] >= 0)
        apgen::detail::fail<invalid_token>("sudoku process: two guesses at depth ", k, " (cells ", s.guess_cell[k],
                                           " and ", i, ")");
      s.guess_cell[k] = static_cast<std::int16_t>(i);
      s.depth = k > s.depth ? k : s.depth;
    }
  }
  for (std::size_t k = 1; k <= s.depth; ++k)
    if (s.guess_cell[k] < 0)
      apgen::detail::fail<invalid_token>("sudoku process: a guess at depth ", s.depth, " but none at depth ", k);
  for (std::size_t i = 0; i < cells; ++i) {
    if (s.value[i].kind == slot_kind::fill && s.value[i].depth > s.depth)
      apgen::detail::fail<invalid_token>("sudoku process: cell ", i, " is filled at depth ", int(s.value[i].depth),
                                         ", deeper than the open guesses (", s.depth, ")");
    if (s.note[i].kind == slot_kind::note && s.note[i].depth > s.depth)
      apgen::detail::fail<invalid_token>("sudoku process: cell ", i, " has a note at depth ", int(s.note[i].depth),
                                         ", deeper than the open guesses (", s.depth, ")");
  }
  return s;
}

/// The step the process takes from `row` (see the file comment). Throws invalid_argument when the state shows a
/// contradiction with no guess to undo (the puzzle has no solution), capacity_exceeded when a branch would go past
/// the vocabulary's depth bound.
[[nodiscard]] inline process_step next_step(std::span<const token_id> row, const state_tokens& tokens) {
  const decoded_state s = decode_state(row, tokens);
  const std::size_t d = s.depth;
  process_step step;
  step.depth = d;
  for (std::size_t p = 0; p < slots; ++p) {
    step.token[p] = row[p];
    step.remask[p] = row[p] == state_tokens::mask() ? 1 : 0; // MASK stays masked unless written below
  }
  auto write = [&step](std::size_t slot, token_id t) {
    step.token[slot] = t;
    step.remask[slot] = 0;
  };

  // Candidates of the undecided cells.
  candidate_masks cand{};
  bool complete = true;
  grid digits{};
  for (std::size_t i = 0; i < cells; ++i) digits[i] = s.value[i].digit;
  for (std::size_t i = 0; i < cells; ++i) {
    if (digits[i]) continue;
    complete = false;
    std::uint16_t c = all_digit_bits;
    for (auto p : board.peers[i])
      if (digits[p]) c = static_cast<std::uint16_t>(c & ~(1u << digits[p]));
    if (s.note[i].kind == slot_kind::note) c = static_cast<std::uint16_t>(c & ~((2u << s.note[i].digit) - 1u));
    cand[i] = c;
  }
  if (complete && is_consistent(digits)) return step; // 1. solved: the fixed point

  // 2. The note of the deepest guess, once.
  if (d > 0) {
    const auto g = static_cast<std::size_t>(s.guess_cell[d]);
    if (s.note[g].kind == slot_kind::mask) write(2 * g + 1, tokens.note(s.value[g].digit, d - 1));
  }

  // 3 and 4: contradictions and forced cells.
  bool contradiction = !is_consistent(digits);
  std::array<std::uint16_t, cells> forced{};
  for (std::size_t i = 0; i < cells && !contradiction; ++i) {
    if (digits[i]) continue;
    if (!cand[i]) contradiction = true;
    if (std::popcount(cand[i]) == 1) forced[i] = cand[i];
  }
  for (std::size_t u = 0; u < 27 && !contradiction; ++u) {
    const unit_scan scan = scan_unit(board.units[u], digits, cand);
    if (!scan.covers_all_digits()) contradiction = true;
    const std::uint16_t single = scan.hidden_singles();
    for (auto i : board.units[u])
      if (!digits[i] && (cand[i] & single)) forced[i] = static_cast<std::uint16_t>(forced[i] | (cand[i] & single));
  }
  for (std::size_t i = 0; i < cells && !contradiction; ++i)
    if (std::popcount(forced[i]) > 1) contradiction = true;
  for (std::size_t u = 0; u < 27 && !contradiction; ++u) {
    std::uint16_t seen = 0;
    for (auto i : board.units[u]) {
      if (forced[i] & seen) contradiction = true;
      seen = static_cast<std::uint16_t>(seen | forced[i]);
    }
  }

  if (contradiction) {
    if (d == 0)
      apgen::detail::fail<invalid_argument>("sudoku process: a contradiction with no guess to undo: the "
                                            "puzzle has no solution");
    step.kind = step_kind::backtrack;
    for (std::size_t i = 0; i < cells; ++i) {
      const auto& v = s.value[i];
      if ((v.kind == slot_kind::fill || v.kind == slot_kind::guess) && v.depth >= d) step.remask[2 * i] = 1;
      if (s.note[i].kind == slot_kind::note && s.note[i].depth >= d) step.remask[2 * i + 1] = 1;
    }
    return step;
  }

  bool any_forced = false;
  for (std::size_t i = 0; i < cells; ++i)
    if (forced[i]) {
      write(2 * i, tokens.fill(std::countr_zero(forced[i]), d));
      ++step.filled;
      any_forced = true;
    }
  if (any_forced) {
    step.kind = step_kind::propagate;
    return step;
  }

  // 5. Branch.
  std::size_t best = cells;
  for (std::size_t i = 0; i < cells; ++i)
    if (!digits[i] && s.note[i].kind == slot_kind::note) {
      best = i;
      break;
    }
  if (best == cells) {
    int fewest = 10;
    for (std::size_t i = 0; i < cells; ++i)
      if (!digits[i] && std::popcount(cand[i]) < fewest) fewest = std::popcount(cand[i]), best = i;
  }
  step.kind = step_kind::branch;
  step.branch_cell = best;
  write(2 * best, tokens.guess(std::countr_zero(cand[best]), d + 1));
  step.filled = 1;
  if (s.note[best].kind == slot_kind::note) step.remask[2 * best + 1] = 1;
  return step;
}

/// Applies `step` to `row` in place, as Algorithm 1 does with these bits (no insert or delete): remasked slots
/// become MASK, unremasked MASK slots take their token, the rest is kept.
inline void apply_step(std::span<token_id> row, const process_step& step) {
  for (std::size_t p = 0; p < slots; ++p) {
    if (step.remask[p])
      row[p] = state_tokens::mask();
    else if (row[p] == state_tokens::mask())
      row[p] = step.token[p];
  }
}

} // namespace apgen::tasks::sudoku
