#pragma once
/// \file
/// An exact Sudoku solver on bit masks: each cell keeps its candidates as nine bits, naked singles (a cell with
/// one candidate) and hidden singles (a digit with one place in a unit) are applied until nothing changes, then the
/// search branches on a cell with the fewest candidates. It counts solutions up to a limit, so uniqueness is
/// `count_solutions(p, 2) == 1`. It is the reference the teacher and the verifier are checked against, and fast
/// enough to vet thousands of puzzles in a test (bench/bench_sudoku.cpp measures it).

#include <apgen/tasks/sudoku/grid.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace apgen::tasks::sudoku {

namespace detail {

struct search_state {
  grid values{};
  candidate_masks candidates{};
};

/// Places digit v in cell i and removes it from the peers. False on a contradiction (a peer left empty).
inline bool place(search_state& s, std::size_t i, int v) {
  s.values[i] = static_cast<std::uint8_t>(v);
  s.candidates[i] = 0;
  const std::uint16_t bit = static_cast<std::uint16_t>(1u << v);
  for (auto p : board.peers[i]) {
    if (s.values[p] == v) return false;
    if (!s.values[p] && (s.candidates[p] & bit)) {
      s.candidates[p] = static_cast<std::uint16_t>(s.candidates[p] & ~bit);
      if (!s.candidates[p]) return false;
    }
  }
  return true;
}

/// Naked and hidden singles to a fixed point. False on a contradiction.
inline bool propagate(search_state& s) {
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < cells; ++i)
      if (!s.values[i] && std::popcount(s.candidates[i]) == 1) {
        if (!place(s, i, std::countr_zero(s.candidates[i]))) return false;
        changed = true;
      }
    for (const auto& unit : board.units) {
      const unit_scan scan = scan_unit(unit, s.values, s.candidates);
      if (!scan.covers_all_digits()) return false; // a digit with no place in this unit
      std::uint16_t single = scan.hidden_singles();
      while (single) {
        const int v = std::countr_zero(single);
        single = static_cast<std::uint16_t>(single & (single - 1));
        for (auto i : unit)
          if (!s.values[i] && (s.candidates[i] >> v & 1u)) {
            if (!place(s, i, v)) return false;
            changed = true;
            break;
          }
      }
    }
  }
  return true;
}

inline void search(search_state s, std::size_t limit, std::size_t& found, grid& first) {
  if (!propagate(s)) return;
  std::size_t best = cells;
  int fewest = 10;
  for (std::size_t i = 0; i < cells; ++i)
    if (!s.values[i]) {
      const int n = std::popcount(s.candidates[i]);
      if (n < fewest) fewest = n, best = i;
    }
  if (best == cells) {
    if (found++ == 0) first = s.values;
    return;
  }
  for (std::uint16_t c = s.candidates[best]; c && found < limit; c = static_cast<std::uint16_t>(c & (c - 1))) {
    search_state next = s;
    if (place(next, best, std::countr_zero(c))) search(next, limit, found, first);
  }
}

/// The starting state of `puzzle`; nullopt when its givens conflict.
[[nodiscard]] inline std::optional<search_state> start(const grid& puzzle) {
  search_state s;
  s.candidates.fill(all_digit_bits);
  for (std::size_t i = 0; i < cells; ++i)
    if (puzzle[i] > 9) return std::nullopt;
  for (std::size_t i = 0; i < cells; ++i)
    if (puzzle[i] && !place(s, i, puzzle[i])) return std::nullopt;
  return s;
}

} // namespace detail

/// The number of solutions of `puzzle`, counting no further than `limit` (2 tells unique from not).
[[nodiscard]] inline std::size_t count_solutions(const grid& puzzle, std::size_t limit = 2) {
  auto s = detail::start(puzzle);
  if (!s || limit == 0) return 0;
  std::size_t found = 0;
  grid first{};
  detail::search(*s, limit, found, first);
  return found;
}

/// A solution of `puzzle` (the first the search finds), or nullopt when there is none.
[[nodiscard]] inline std::optional<grid> solve(const grid& puzzle) {
  auto s = detail::start(puzzle);
  if (!s) return std::nullopt;
  std::size_t found = 0;
  grid first{};
  detail::search(*s, 1, found, first);
  if (!found) return std::nullopt;
  return first;
}

/// The unique solution of `puzzle`; throws invalid_argument naming `where` when it has none or several.
[[nodiscard]] inline grid unique_solution(const grid& puzzle, std::string_view where = "puzzle") {
  require_consistent_givens(puzzle, where);
  auto s = detail::start(puzzle);
  std::size_t found = 0;
  grid first{};
  if (s) detail::search(*s, 2, found, first);
  if (found == 0) apgen::detail::fail<invalid_argument>(where, ": the puzzle has no solution");
  if (found > 1) apgen::detail::fail<invalid_argument>(where, ": the puzzle has more than one solution");
  return first;
}

} // namespace apgen::tasks::sudoku
