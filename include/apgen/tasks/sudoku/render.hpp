#pragma once
/// \file
/// A state as a text board, for people following a process: `[5]` a given, ` 5 ` a digit filled by singles, `*5*`
/// a guess, `x5 ` an undecided cell whose digits up to 5 are refuted, ` . ` an undecided cell.

#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/task.hpp>

#include <cstddef>
#include <span>
#include <string>

namespace apgen::tasks::sudoku {

/// Nine lines of nine three-character cells with box rules; tokens the vocabulary does not know show as `???`.
[[nodiscard]] inline std::string render_state(std::span<const token_id> row, const state_tokens& tokens) {
  std::string s;
  if (row.size() != slots) {
    s = "(not a Sudoku state: "; // built with += : g++ 12 -O3 reports a false -Wrestrict in "literal" + string
    s += std::to_string(row.size());
    s += " slots)\n";
    return s;
  }
  auto known = [&tokens](token_id t) { return t >= 0 && static_cast<std::size_t>(t) < tokens.size(); };
  for (std::size_t r = 0; r < 9; ++r) {
    if (r && r % 3 == 0) s += "---------+---------+---------\n";
    for (std::size_t c = 0; c < 9; ++c) {
      if (c && c % 3 == 0) s += '|';
      const std::size_t i = 9 * r + c;
      if (!known(row[2 * i]) || !known(row[2 * i + 1])) {
        s += "???";
        continue;
      }
      const slot_value v = tokens.decode(row[2 * i]), n = tokens.decode(row[2 * i + 1]);
      const char d = static_cast<char>('0' + v.digit);
      switch (v.kind) {
      case slot_kind::given:
        s += {'[', d, ']'};
        break;
      case slot_kind::fill:
        s += {' ', d, ' '};
        break;
      case slot_kind::guess:
        s += {'*', d, '*'};
        break;
      default:
        if (n.kind == slot_kind::note)
          s += {'x', static_cast<char>('0' + n.digit), ' '};
        else
          s += " . ";
      }
    }
    s += '\n';
  }
  return s;
}

} // namespace apgen::tasks::sudoku
