#pragma once
/// \file
/// The Sudoku symmetry group: relabelling the digits, transposing, permuting the three bands and the three stacks,
/// and permuting the rows inside each band and the columns inside each stack (9! x 2 x 6^8 elements). Each maps
/// puzzles to puzzles of the same difficulty and solutions to solutions, so it augments training data (one element
/// applied to a whole trajectory keeps it a valid solving process) and defines when two puzzles are "the same":
/// `canonical_form` is the lexicographically least grid over the group (blanks as 0 sorting first, digits relabelled
/// in order of first appearance), so two puzzles are variants of each other exactly when their forms are equal.

#include <apgen/tasks/sudoku/grid.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace apgen::tasks::sudoku {

/// One element of the group. Cell (r, c) of the result is cell (rows[r], columns[c]) of the source, read
/// transposed when `transpose` is set; digit v of the source becomes relabel[v] (relabel[0] = 0 keeps blanks).
struct symmetry {
  bool transpose = false;
  std::array<std::uint8_t, 9> rows{0, 1, 2, 3, 4, 5, 6, 7, 8};    ///< result row r takes source row rows[r]
  std::array<std::uint8_t, 9> columns{0, 1, 2, 3, 4, 5, 6, 7, 8}; ///< result column c takes source column columns[c]
  std::array<std::uint8_t, 10> relabel{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

  /// The source cell that result cell `cell` reads.
  [[nodiscard]] std::size_t source_cell(std::size_t cell) const noexcept {
    const std::size_t r = rows[row_of(cell)], c = columns[column_of(cell)];
    return transpose ? 9 * c + r : 9 * r + c;
  }

  /// The grid this element makes of `g`.
  [[nodiscard]] grid apply(const grid& g) const noexcept {
    grid out{};
    for (std::size_t i = 0; i < cells; ++i) out[i] = relabel[g[source_cell(i)]];
    return out;
  }

  /// True when rows and columns keep bands and stacks whole and relabel is a permutation of 1..9 fixing 0: an
  /// element of the group.
  [[nodiscard]] bool valid() const noexcept {
    auto keeps_blocks = [](const std::array<std::uint8_t, 9>& p) {
      std::array<bool, 9> seen{};
      for (std::size_t k = 0; k < 9; ++k) {
        if (p[k] > 8 || seen[p[k]] || p[k] / 3 != p[3 * (k / 3)] / 3) return false;
        seen[p[k]] = true;
      }
      return true;
    };
    std::array<bool, 10> seen{};
    for (std::size_t v = 0; v < 10; ++v) {
      if (relabel[v] > 9 || seen[relabel[v]] || (v == 0) != (relabel[v] == 0)) return false;
      seen[relabel[v]] = true;
    }
    return keeps_blocks(rows) && keeps_blocks(columns);
  }
};

/// A uniformly random element of the group.
template <class Urbg>
[[nodiscard]] symmetry random_symmetry(Urbg& rng) {
  auto shuffled3 = [&rng] {
    std::array<std::uint8_t, 3> p{0, 1, 2};
    std::shuffle(p.begin(), p.end(), rng);
    return p;
  };
  auto block_permutation = [&] {
    std::array<std::uint8_t, 9> p{};
    const auto blocks = shuffled3();
    for (std::size_t b = 0; b < 3; ++b) {
      const auto inner = shuffled3();
      for (std::size_t k = 0; k < 3; ++k) p[3 * b + k] = static_cast<std::uint8_t>(3 * blocks[b] + inner[k]);
    }
    return p;
  };
  symmetry s;
  s.transpose = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  s.rows = block_permutation();
  s.columns = block_permutation();
  std::shuffle(s.relabel.begin() + 1, s.relabel.end(), rng);
  return s;
}

namespace detail {

/// A partial layout in the minimal-form search: the column order and transpose are fixed, result rows 0..k-1 are
/// chosen, and the digits seen so far have labels.
struct layout_candidate {
  bool transpose = false;
  std::array<std::uint8_t, 9> columns{};
  std::array<std::uint8_t, 9> rows{};
  std::array<std::uint8_t, 10> relabel{};
  std::uint8_t next_label = 1;
  std::uint8_t bands_used = 0; ///< bit b: band b is placed
};

/// Row `source_row` of `g` (transposed or not) through `cand`'s columns and labels, extending the labels.
inline std::array<std::uint8_t, 9> relabelled_row(const grid& g, layout_candidate& cand, std::size_t source_row) {
  std::array<std::uint8_t, 9> out{};
  for (std::size_t c = 0; c < 9; ++c) {
    const std::size_t sc = cand.columns[c];
    const std::uint8_t v = cand.transpose ? g[9 * sc + source_row] : g[9 * source_row + sc];
    if (v && !cand.relabel[v]) cand.relabel[v] = cand.next_label++;
    out[c] = cand.relabel[v];
  }
  return out;
}

} // namespace detail

/// The least grid over the group, with the element that makes it: `canonical_form(g).apply(g)`. Row by row, keeps
/// only the partial layouts whose rows so far are least, so it visits a small part of the 3.4 million layouts.
[[nodiscard]] inline symmetry canonical_symmetry(const grid& g) {
  using detail::layout_candidate;
  std::vector<layout_candidate> alive;
  // Every column order: 6 stack orders x 6^3 orders inside the stacks, for both orientations.
  std::array<std::uint8_t, 3> stacks{0, 1, 2};
  do {
    std::array<std::uint8_t, 3> a{0, 1, 2};
    do {
      std::array<std::uint8_t, 3> b{0, 1, 2};
      do {
        std::array<std::uint8_t, 3> c{0, 1, 2};
        do {
          layout_candidate cand;
          const std::array<std::uint8_t, 3>* inner[3] = {&a, &b, &c};
          for (std::size_t s = 0; s < 3; ++s)
            for (std::size_t k = 0; k < 3; ++k)
              cand.columns[3 * s + k] = static_cast<std::uint8_t>(3 * stacks[s] + (*inner[s])[k]);
          for (int t = 0; t < 2; ++t) {
            cand.transpose = t == 1;
            alive.push_back(cand);
          }
        } while (std::next_permutation(c.begin(), c.end()));
      } while (std::next_permutation(b.begin(), b.end()));
    } while (std::next_permutation(a.begin(), a.end()));
  } while (std::next_permutation(stacks.begin(), stacks.end()));

  std::vector<layout_candidate> next;
  for (std::size_t r = 0; r < 9; ++r) {
    std::array<std::uint8_t, 9> best{};
    best.fill(10);
    next.clear();
    for (const auto& cand : alive) {
      // The source rows result row r may take: any row of an unused band when r starts a band, else the rows of
      // the current band not used yet.
      std::uint8_t options[9];
      std::size_t n = 0;
      if (r % 3 == 0) {
        for (std::uint8_t b = 0; b < 3; ++b)
          if (!(cand.bands_used >> b & 1u))
            for (std::uint8_t k = 0; k < 3; ++k) options[n++] = static_cast<std::uint8_t>(3 * b + k);
      } else {
        const std::uint8_t band = cand.rows[r - 1] / 3;
        for (std::uint8_t k = 0; k < 3; ++k) {
          const auto row = static_cast<std::uint8_t>(3 * band + k);
          bool used = false;
          for (std::size_t q = r - r % 3; q < r; ++q) used |= cand.rows[q] == row;
          if (!used) options[n++] = row;
        }
      }
      for (std::size_t o = 0; o < n; ++o) {
        layout_candidate ext = cand;
        ext.rows[r] = options[o];
        ext.bands_used = static_cast<std::uint8_t>(ext.bands_used | (1u << (options[o] / 3)));
        const auto row = detail::relabelled_row(g, ext, options[o]);
        if (row < best) {
          best = row;
          next.clear();
        }
        if (row == best) next.push_back(ext);
      }
    }
    std::swap(alive, next);
  }
  // Ties left at the end are automorphisms of the form; any of them will do.
  const auto& win = alive.front();
  symmetry s;
  s.transpose = win.transpose;
  s.rows = win.rows;
  s.columns = win.columns;
  std::uint8_t label = win.next_label;
  for (std::size_t v = 1; v <= 9; ++v) s.relabel[v] = win.relabel[v] ? win.relabel[v] : label++; // unseen digits
  return s;
}

/// The least grid over the group: equal for two grids exactly when one is a symmetry variant of the other.
[[nodiscard]] inline grid canonical_form(const grid& g) {
  return canonical_symmetry(g).apply(g);
}

} // namespace apgen::tasks::sudoku
