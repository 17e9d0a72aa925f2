#pragma once
/// \file
/// 9x9 Sudoku grids: the geometry (rows, columns, boxes, the 20 peers of a cell), a grid of digits with 0 for a
/// blank, and the text forms: one puzzle per line as 81 characters ('.' or '0' for a blank), or nine lines of nine.
/// Every reader names the line and the problem when the text is malformed.

#include <apgen/core/errors.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::tasks::sudoku {

inline constexpr std::size_t cells = 81;
inline constexpr int digits = 9;

/// A grid: cell i = 9 * row + column holds 1..9, or 0 when blank.
using grid = std::array<std::uint8_t, cells>;

[[nodiscard]] constexpr std::size_t row_of(std::size_t cell) noexcept {
  return cell / 9;
}
[[nodiscard]] constexpr std::size_t column_of(std::size_t cell) noexcept {
  return cell % 9;
}
[[nodiscard]] constexpr std::size_t box_of(std::size_t cell) noexcept {
  return (cell / 27) * 3 + (cell % 9) / 3;
}

/// The 27 units (9 rows, 9 columns, 9 boxes), each the indices of its 9 cells in reading order.
struct geometry {
  std::array<std::array<std::uint8_t, 9>, 27> units{};
  std::array<std::array<std::uint8_t, 20>, cells> peers{}; ///< the other cells sharing a row, column or box
  std::array<std::array<std::uint8_t, 3>, cells> units_of{};

  constexpr geometry() {
    for (std::size_t k = 0; k < 9; ++k)
      for (std::size_t j = 0; j < 9; ++j) {
        units[k][j] = static_cast<std::uint8_t>(9 * k + j);                                             // row k
        units[9 + k][j] = static_cast<std::uint8_t>(9 * j + k);                                         // column k
        units[18 + k][j] = static_cast<std::uint8_t>(27 * (k / 3) + 3 * (k % 3) + 9 * (j / 3) + j % 3); // box k
      }
    for (std::size_t i = 0; i < cells; ++i) {
      units_of[i] = {static_cast<std::uint8_t>(row_of(i)), static_cast<std::uint8_t>(9 + column_of(i)),
                     static_cast<std::uint8_t>(18 + box_of(i))};
      std::size_t n = 0;
      for (std::size_t j = 0; j < cells; ++j)
        if (j != i && (row_of(j) == row_of(i) || column_of(j) == column_of(i) || box_of(j) == box_of(i)))
          peers[i][n++] = static_cast<std::uint8_t>(j);
    }
  }
};

inline constexpr geometry board{};

/// Number of non-blank cells.
[[nodiscard]] inline std::size_t given_count(const grid& g) noexcept {
  std::size_t n = 0;
  for (auto v : g) n += v != 0;
  return n;
}

/// Candidate sets as nine bits (bit v for digit v) per cell, and all nine digits.
using candidate_masks = std::array<std::uint16_t, cells>;
inline constexpr std::uint16_t all_digit_bits = 0x3FE;

/// One unit read against a grid and the candidates of its undecided cells: the digits placed, the digits that are a
/// candidate of at least one undecided cell and of at least two. The solver's propagation and the teacher's step both
/// read hidden singles (a digit with one place) and dead units (a digit with none) from it.
struct unit_scan {
  std::uint16_t placed = 0, once = 0, twice = 0;

  /// Every digit is placed or has a place.
  [[nodiscard]] bool covers_all_digits() const noexcept { return (once | placed) == all_digit_bits; }
  /// The digits with exactly one place among the undecided cells, not yet placed.
  [[nodiscard]] std::uint16_t hidden_singles() const noexcept {
    return static_cast<std::uint16_t>(once & ~twice & ~placed);
  }
};

[[nodiscard]] inline unit_scan scan_unit(const std::array<std::uint8_t, 9>& unit, const grid& values,
                                         const candidate_masks& candidates) noexcept {
  unit_scan u;
  for (auto i : unit) {
    if (values[i]) {
      u.placed = static_cast<std::uint16_t>(u.placed | (1u << values[i]));
      continue;
    }
    u.twice = static_cast<std::uint16_t>(u.twice | (u.once & candidates[i]));
    u.once = static_cast<std::uint16_t>(u.once | candidates[i]);
  }
  return u;
}

/// True when no unit holds a digit twice (blanks allowed).
[[nodiscard]] inline bool is_consistent(const grid& g) noexcept {
  for (const auto& unit : board.units) {
    unsigned seen = 0;
    for (auto i : unit) {
      if (!g[i]) continue;
      const unsigned bit = 1u << g[i];
      if (seen & bit) return false;
      seen |= bit;
    }
  }
  return true;
}

/// True when `g` is complete and consistent: a solved grid.
[[nodiscard]] inline bool is_solved(const grid& g) noexcept {
  return given_count(g) == cells && is_consistent(g);
}

/// True when `candidate` is a solved grid that keeps every given of `puzzle`.
[[nodiscard]] inline bool solves(const grid& puzzle, const grid& candidate) noexcept {
  for (std::size_t i = 0; i < cells; ++i)
    if (puzzle[i] && puzzle[i] != candidate[i]) return false;
  return is_solved(candidate);
}

/// The 81-character form, '.' for a blank.
[[nodiscard]] inline std::string to_line(const grid& g) {
  std::string s(cells, '.');
  for (std::size_t i = 0; i < cells; ++i)
    if (g[i]) s[i] = static_cast<char>('0' + g[i]);
  return s;
}

/// Nine lines of nine with box separators, for people.
[[nodiscard]] inline std::string to_board(const grid& g) {
  std::string s;
  for (std::size_t r = 0; r < 9; ++r) {
    if (r && r % 3 == 0) s += "------+-------+------\n";
    for (std::size_t c = 0; c < 9; ++c) {
      if (c && c % 3 == 0) s += "| ";
      const auto v = g[9 * r + c];
      s += v ? static_cast<char>('0' + v) : '.';
      s += c == 8 ? '\n' : ' ';
    }
  }
  return s;
}

namespace detail {
[[nodiscard]] inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}
/// Reads 9 * `count` cells of `text` (digits, '.' or '0'; in the 9-line form also spaces, '|' and '-' separators).
inline void read_cells(std::string_view text, grid& g, std::size_t first, std::size_t count, bool separators,
                       std::string_view where) {
  std::size_t n = 0;
  for (std::size_t k = 0; k < text.size(); ++k) {
    const char ch = text[k];
    if (separators && (ch == ' ' || ch == '|' || ch == '+' || ch == '\t')) continue;
    if (n == count) apgen::detail::fail<parse_error>(where, ": more than ", count, " cells (\"", text, "\")");
    if (ch == '.' || ch == '0')
      g[first + n] = 0;
    else if (ch >= '1' && ch <= '9')
      g[first + n] = static_cast<std::uint8_t>(ch - '0');
    else
      apgen::detail::fail<parse_error>(where, ": character '", ch, "' at column ", k + 1,
                                       " is not a digit, '.' or '0'");
    ++n;
  }
  if (n != count) apgen::detail::fail<parse_error>(where, ": ", n, " cells, a puzzle line needs ", count);
}
} // namespace detail

/// Parses one 81-character line; `where` names it in errors ("puzzles.txt:12").
[[nodiscard]] inline grid parse_line(std::string_view line, std::string_view where = "puzzle") {
  grid g{};
  detail::read_cells(detail::trim(line), g, 0, cells, false, where);
  return g;
}

/// Checks that the givens of `g` do not conflict (no digit twice in a unit); names the unit and digit.
inline void require_consistent_givens(const grid& g, std::string_view where) {
  static constexpr const char* kinds[] = {"row", "column", "box"};
  for (std::size_t u = 0; u < 27; ++u) {
    unsigned seen = 0;
    for (auto i : board.units[u]) {
      if (!g[i]) continue;
      const unsigned bit = 1u << g[i];
      if (seen & bit)
        apgen::detail::fail<invalid_argument>(where, ": the givens put ", int(g[i]), " twice in ", kinds[u / 9], " ",
                                              u % 9 + 1);
      seen |= bit;
    }
  }
}

/// Reads every puzzle of a stream: one 81-character line each, or nine lines of nine cells (with optional spaces,
/// '|' separators and "---+---" lines); blank lines and lines starting with '#' are skipped. `name` prefixes the line
/// numbers in errors ("t1.txt:7: 80 cells, a puzzle line needs 81"). Conflicting givens are an error.
[[nodiscard]] inline std::vector<grid> read_puzzles(std::istream& in, std::string_view name = "puzzles") {
  std::vector<grid> out;
  std::string line;
  std::size_t number = 0;
  grid partial{};
  std::size_t partial_rows = 0, partial_start = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = std::string(name) + ":" + std::to_string(number);
    const std::string_view t = detail::trim(line);
    if (t.empty() || t.front() == '#') {
      if (partial_rows)
        apgen::detail::fail<parse_error>(name, ":", partial_start, ": a 9-line puzzle stops after ", partial_rows,
                                         " rows");
      continue;
    }
    if (t.find_first_not_of("-+ ") == std::string_view::npos) continue; // a "------+-------" separator
    std::size_t cell_chars = 0;
    for (char ch : t) cell_chars += ch != ' ' && ch != '|' && ch != '+' && ch != '\t';
    if (partial_rows == 0 && cell_chars != 9) {
      grid g{};
      detail::read_cells(t, g, 0, cells, false, where);
      require_consistent_givens(g, where);
      out.push_back(g);
      continue;
    }
    if (partial_rows == 0) partial_start = number;
    detail::read_cells(t, partial, 9 * partial_rows, 9, true, where);
    if (++partial_rows == 9) {
      const std::string start = std::string(name) + ":" + std::to_string(partial_start);
      require_consistent_givens(partial, start);
      out.push_back(partial);
      partial_rows = 0;
    }
  }
  if (partial_rows)
    apgen::detail::fail<parse_error>(name, ":", partial_start, ": a 9-line puzzle stops after ", partial_rows, " rows");
  return out;
}

/// read_puzzles on the file at `path` (errors name it and the line); throws parse_error when it cannot be opened.
[[nodiscard]] inline std::vector<grid> read_puzzle_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) apgen::detail::fail<parse_error>("cannot open the puzzle file ", path);
  return read_puzzles(in, path);
}

} // namespace apgen::tasks::sudoku
