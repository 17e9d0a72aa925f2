#pragma once
/// \file
/// Sudoku as an AP-MDM task: the state a solving process writes, its vocabulary, the starting row of a puzzle, the
/// grid a row holds, and the encoder that tells a model where each slot sits.
///
/// A state has two slots per cell, interleaved (slot 2i is cell i's value, slot 2i+1 its note), 162 in all:
///   - value slot: MASK (undecided), `g<v>` (a given), `f<v>.<k>` (a digit filled by singles at guess depth k),
///     or `b<v>.<k>` (the guess that opened depth k >= 1);
///   - note slot: MASK (no note), or `x<v>.<k>`: at depth k this cell's digits up to v are refuted.
/// The depths say what a failed branch set, so that undoing it is one step (remask every slot of depth >= k);
/// the note is what a process must remember across that undo: it is written on the branching cell in the step
/// after its guess (the guess itself is the record until then), and it turns the next try of that cell into
/// ordinary propagation. Depth is bounded by the vocabulary (`max_depth`); a process that needs more throws.

#include <apgen/core/errors.hpp>
#include <apgen/core/row_encoding.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/symmetry.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace apgen::tasks::sudoku {

inline constexpr std::size_t slots = 2 * cells;
inline constexpr std::size_t default_max_depth = 12;

/// What a slot holds, decoded from its token.
enum class slot_kind : std::uint8_t { mask, given, fill, guess, note };

struct slot_value {
  slot_kind kind = slot_kind::mask;
  std::uint8_t digit = 0; ///< 1..9 (0 for MASK)
  std::uint8_t depth = 0; ///< the guess depth it belongs to (0 for givens and MASK)
};

/// The token layout for a given depth bound: MASK, then g1..g9, f<v>.<k> for k in [0, max_depth], b<v>.<k> for k in
/// [1, max_depth], x<v>.<k> for k in [0, max_depth).
class state_tokens {
public:
  explicit state_tokens(std::size_t max_depth = default_max_depth) : m_depth(max_depth) {
    if (max_depth == 0 || max_depth > 60)
      apgen::detail::fail<invalid_argument>("sudoku: max_depth must be in [1, 60], got ", max_depth);
  }

  [[nodiscard]] std::size_t max_depth() const noexcept { return m_depth; }
  [[nodiscard]] std::size_t size() const noexcept { return note_base() + 9 * m_depth; }

  [[nodiscard]] static constexpr token_id mask() noexcept { return 0; }
  [[nodiscard]] static constexpr token_id given(int v) noexcept { return static_cast<token_id>(v); }
  [[nodiscard]] token_id fill(int v, std::size_t depth) const { return id(fill_base(), v, depth, m_depth + 1, "fill"); }
  [[nodiscard]] token_id guess(int v, std::size_t depth) const {
    if (depth == 0) apgen::detail::fail<invalid_argument>("sudoku: a guess opens depth 1 or more");
    return id(guess_base(), v, depth - 1, m_depth, "guess");
  }
  [[nodiscard]] token_id note(int v, std::size_t depth) const { return id(note_base(), v, depth, m_depth, "note"); }

  /// Decodes a token; throws invalid_token for an id outside the vocabulary.
  [[nodiscard]] slot_value decode(token_id t) const {
    if (t < 0 || static_cast<std::size_t>(t) >= size())
      apgen::detail::fail<invalid_token>("sudoku: token ", t, " is outside the vocabulary of ", size());
    const auto u = static_cast<std::size_t>(t);
    auto split = [](std::size_t off, slot_kind k, std::size_t depth_offset) {
      return slot_value{k, static_cast<std::uint8_t>(off % 9 + 1), static_cast<std::uint8_t>(off / 9 + depth_offset)};
    };
    if (u == 0) return {};
    if (u < fill_base()) return {slot_kind::given, static_cast<std::uint8_t>(u), 0};
    if (u < guess_base()) return split(u - fill_base(), slot_kind::fill, 0);
    if (u < note_base()) return split(u - guess_base(), slot_kind::guess, 1);
    return split(u - note_base(), slot_kind::note, 0);
  }

  /// The vocabulary, ids as above: "[MASK]", "g1".."g9", "f1.0", ..., "b1.1", ..., "x1.0", ...
  [[nodiscard]] vocabulary make_vocabulary() const {
    std::vector<std::string> names;
    for (int v = 1; v <= 9; ++v) {
      std::string g = "g"; // not "g" + to_string(v): g++ 12 -O3 reports a false -Wrestrict in that operator+
      g += std::to_string(v);
      names.push_back(std::move(g));
    }
    auto add = [&names](char kind, std::size_t first, std::size_t last) {
      for (std::size_t k = first; k <= last; ++k)
        for (int v = 1; v <= 9; ++v) {
          std::string s(1, kind);
          s += std::to_string(v);
          s += '.';
          s += std::to_string(k);
          names.push_back(std::move(s));
        }
    };
    add('f', 0, m_depth);
    add('b', 1, m_depth);
    add('x', 0, m_depth - 1);
    return vocabulary(names, special_names{"[MASK]", "", "", ""});
  }

private:
  [[nodiscard]] static constexpr std::size_t fill_base() noexcept { return 10; }
  [[nodiscard]] std::size_t guess_base() const noexcept { return fill_base() + 9 * (m_depth + 1); }
  [[nodiscard]] std::size_t note_base() const noexcept { return guess_base() + 9 * m_depth; }
  [[nodiscard]] static token_id id(std::size_t base, int v, std::size_t level, std::size_t levels, const char* what) {
    if (v < 1 || v > 9) apgen::detail::fail<invalid_argument>("sudoku: ", what, " digit ", v, " is not in 1..9");
    if (level >= levels)
      apgen::detail::fail<capacity_exceeded>("sudoku: a ", what, " at depth ", level, " is past the vocabulary's ",
                                             "depth bound; build state_tokens with a larger max_depth");
    return static_cast<token_id>(base + 9 * level + static_cast<std::size_t>(v - 1));
  }

  std::size_t m_depth;
};

/// The starting row of a puzzle: givens as g<v>, every other slot MASK.
[[nodiscard]] inline std::vector<token_id> encode(const grid& puzzle) {
  std::vector<token_id> row(slots, state_tokens::mask());
  for (std::size_t i = 0; i < cells; ++i) {
    if (puzzle[i] > 9) apgen::detail::fail<invalid_argument>("sudoku: cell ", i, " holds ", int(puzzle[i]));
    if (puzzle[i]) row[2 * i] = state_tokens::given(puzzle[i]);
  }
  return row;
}

/// The digits a row holds in its value slots (0 where MASK); throws shape_mismatch for a row of the wrong length,
/// invalid_token for a token outside the vocabulary or in the wrong kind of slot.
[[nodiscard]] inline grid decode(std::span<const token_id> row, const state_tokens& tokens) {
  if (row.size() != slots)
    apgen::detail::fail<shape_mismatch>("sudoku: a state has ", slots, " slots, this row has ", row.size());
  grid g{};
  for (std::size_t i = 0; i < cells; ++i) {
    const auto v = tokens.decode(row[2 * i]);
    if (v.kind == slot_kind::note)
      apgen::detail::fail<invalid_token>("sudoku: the value slot of cell ", i, " holds a note");
    g[i] = v.digit;
    if (tokens.decode(row[2 * i + 1]).kind != slot_kind::mask && tokens.decode(row[2 * i + 1]).kind != slot_kind::note)
      apgen::detail::fail<invalid_token>("sudoku: the note slot of cell ", i, " holds a digit");
  }
  return g;
}

/// The state `sym` makes of `row`: each cell's two slots move as the cell does and its digits are relabelled, so a
/// whole trajectory maps state by state. A note means "digits up to v refuted", which only the identity relabelling
/// keeps, so a state holding a note maps under the geometric part of the group alone (invalid_argument otherwise).
/// Training data takes the other route: the teacher re-run on the transformed puzzle, whose tie-breaks are the ones
/// a learned rule follows.
[[nodiscard]] inline std::vector<token_id> transform_state(const symmetry& sym, std::span<const token_id> row,
                                                           const state_tokens& tokens) {
  if (row.size() != slots)
    apgen::detail::fail<shape_mismatch>("sudoku: a state has ", slots, " slots, this row has ", row.size());
  bool relabels = false;
  for (std::size_t v = 0; v < 10; ++v) relabels |= sym.relabel[v] != v;
  std::vector<token_id> out(slots);
  for (std::size_t i = 0; i < cells; ++i) {
    const std::size_t from = sym.source_cell(i);
    const slot_value v = tokens.decode(row[2 * from]), n = tokens.decode(row[2 * from + 1]);
    const int d = sym.relabel[v.digit];
    switch (v.kind) {
    case slot_kind::given:
      out[2 * i] = state_tokens::given(d);
      break;
    case slot_kind::fill:
      out[2 * i] = tokens.fill(d, v.depth);
      break;
    case slot_kind::guess:
      out[2 * i] = tokens.guess(d, v.depth);
      break;
    default:
      out[2 * i] = row[2 * from];
    }
    if (n.kind == slot_kind::note && relabels)
      apgen::detail::fail<invalid_argument>("sudoku: cell ", from, " holds a note, which a digit relabelling does ",
                                            "not keep; use a symmetry without relabelling");
    out[2 * i + 1] = row[2 * from + 1];
  }
  return out;
}

/// The depth of a state: its deepest guess (0 with none). A state a model wrote may be malformed (two guesses at
/// one depth, a gap); this reads the deepest guess regardless, so that the encoder never fails on such a row.
[[nodiscard]] inline std::size_t open_depth(std::span<const token_id> row, const state_tokens& tokens) {
  std::size_t depth = 0;
  for (std::size_t i = 0; i < row.size(); i += 2) {
    const slot_value v = tokens.decode(row[i]);
    if (v.kind == slot_kind::guess && v.depth > depth) depth = v.depth;
  }
  return depth;
}

/// The task encoder. Seven features per slot:
///   0-2  the cell's row, column and box (the peer structure, which 1-D positions would hide);
///   3    0 for a value slot, 1 for a note slot;
///   4-6  the slot's token taken apart: its kind (MASK, given, fill, guess, note), its digit (0 for MASK) and
///        whether it belongs to the state's open depth (0 MASK or given, 1 the open depth, 2 an older one), so that
///        a digit learned at one depth is the same digit at every other and "undo the open depth" reads one feature.
/// And the allowed tokens: a value slot of a state at depth d may become a fill of depth d or the guess that opens
/// d + 1 (no guess at the depth bound); a note slot the notes of depth d - 1 (the depth-d guess's refutation; at
/// depth 0, where no note is written, those of depth 0); a given only itself. The depth is the grammar of the state
/// (the number of open guesses); which cell, which digit, and whether to fill, guess, note or undo is the model's.
class state_encoder {
public:
  explicit state_encoder(std::size_t max_depth = default_max_depth) : m_tokens(max_depth) {}

  /// Allowed classes: 1 + d for the value slots at depth d (d in [0, max_depth]), then max_depth + 2 + d for the
  /// note slots at depth d, then one class per given digit.
  [[nodiscard]] feature_schema schema() const {
    feature_schema s;
    s.feature_vocab_sizes = {9, 9, 9, 2, 5, 10, 3};
    const std::size_t top = m_tokens.max_depth();
    for (std::size_t d = 0; d <= top; ++d) {
      std::vector<token_id> values;
      for (int v = 1; v <= 9; ++v) values.push_back(m_tokens.fill(v, d));
      if (d < top)
        for (int v = 1; v <= 9; ++v) values.push_back(m_tokens.guess(v, d + 1));
      s.allowed_sets.push_back(std::move(values));
    }
    for (std::size_t d = 0; d <= top; ++d) {
      std::vector<token_id> notes;
      for (int v = 1; v <= 9; ++v) notes.push_back(m_tokens.note(v, d == 0 ? 0 : d - 1));
      s.allowed_sets.push_back(std::move(notes));
    }
    for (int v = 1; v <= 9; ++v) s.allowed_sets.push_back({state_tokens::given(v)});
    return s;
  }

  /// Throws shape_mismatch for a row of the wrong length, invalid_token for a token outside the vocabulary.
  void encode(std::span<const token_id> row, row_encoding& out) const {
    if (row.size() != slots)
      apgen::detail::fail<shape_mismatch>("sudoku encoder: a state has ", slots, " slots, this row has ", row.size());
    const std::size_t depth = open_depth(row, m_tokens), top = m_tokens.max_depth();
    out.features.resize(7);
    for (auto& f : out.features) f.resize(slots);
    out.allowed.resize(slots);
    for (std::size_t p = 0; p < slots; ++p) {
      const std::size_t cell = p / 2;
      const slot_value v = m_tokens.decode(row[p]);
      out.features[0][p] = static_cast<token_id>(row_of(cell));
      out.features[1][p] = static_cast<token_id>(column_of(cell));
      out.features[2][p] = static_cast<token_id>(box_of(cell));
      out.features[3][p] = static_cast<token_id>(p % 2);
      out.features[4][p] = static_cast<token_id>(v.kind);
      out.features[5][p] = static_cast<token_id>(v.digit);
      const bool dated = v.kind == slot_kind::fill || v.kind == slot_kind::guess || v.kind == slot_kind::note;
      out.features[6][p] = !dated ? 0 : (v.depth >= depth ? 1 : 2);
      if (p % 2 == 0 && v.kind == slot_kind::given)
        out.allowed[p] = static_cast<std::uint16_t>(2 * top + 2 + v.digit);
      else
        out.allowed[p] = static_cast<std::uint16_t>((p % 2 == 0 ? 1 : top + 2) + depth);
    }
  }

  [[nodiscard]] const state_tokens& tokens() const noexcept { return m_tokens; }

private:
  state_tokens m_tokens;
};

} // namespace apgen::tasks::sudoku
