#pragma once
/// \file
/// A Sudoku process as a picture: one 9 x 9 board per state, left to right and wrapping, each captioned with its
/// step. Givens are bold black on grey; digits filled by singles are drawn in their depth's colour (depth 0 dark
/// blue); a guess sits on a tint of the colour of the depth it opens; a cell the step wrote has a thick yellow
/// frame; a cell the step backtracked (decoded before, MASK now) is light red with its old digit in grey; a note
/// (digits up to v refuted) is a small "<=v" in the corner. Limits: the first `max_states` states are drawn and the
/// rest counted.

#include <apgen/core/errors.hpp>
#include <apgen/draw/svg.hpp>
#include <apgen/tasks/sudoku/grid.hpp>
#include <apgen/tasks/sudoku/task.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace apgen::tasks::sudoku {

/// How write_process_svg lays boards out.
struct process_picture_options {
  std::size_t columns = 6;     ///< boards per line
  std::size_t max_states = 96; ///< boards drawn; the rest are counted
  double cell = 20;            ///< a cell's side in pixels
};

/// The colour of guess depth `depth` (cycling after twelve).
[[nodiscard]] inline const char* depth_colour(std::size_t depth) noexcept {
  static constexpr std::array<const char*, 12> palette = {"#1f4e9c", "#d9480f", "#2b8a3e", "#862e9c",
                                                          "#c2255c", "#0b7285", "#e67700", "#5c940d",
                                                          "#364fc7", "#a61e4d", "#087f5b", "#5f3dc4"};
  return palette[depth % palette.size()];
}

/// A light tint of depth_colour(depth), for backgrounds.
[[nodiscard]] inline std::string depth_tint(std::size_t depth) {
  const std::string c = depth_colour(depth);
  auto channel = [&](std::size_t at) {
    const int v = std::stoi(c.substr(at, 2), nullptr, 16);
    const int t = 255 - (255 - v) * 30 / 100; // 30% of the colour on white
    static constexpr char hex[] = "0123456789abcdef";
    return std::string{hex[t / 16], hex[t % 16]};
  };
  return "#" + channel(1) + channel(3) + channel(5);
}

/// Writes `states` (each a state of task.hpp, states[t + 1] after step t) as boards, captioned by `captions` (one
/// per state, or none). Throws invalid_argument naming the state for a row that is not a state of `tokens`
/// (wrong length, an id outside the vocabulary), or for captions of the wrong count.
inline void write_process_svg(std::ostream& out, std::span<const std::vector<token_id>> states,
                              std::span<const std::string> captions, const state_tokens& tokens,
                              const process_picture_options& o = {}) {
  if (!captions.empty() && captions.size() != states.size())
    apgen::detail::fail<invalid_argument>("sudoku picture: ", captions.size(), " captions for ", states.size(),
                                          " states");
  for (std::size_t t = 0; t < states.size(); ++t) {
    if (states[t].size() != slots)
      apgen::detail::fail<invalid_argument>("sudoku picture: state ", t, " has ", states[t].size(), " slots, not ",
                                            slots);
    for (const token_id id : states[t])
      if (id < 0 || static_cast<std::size_t>(id) >= tokens.size())
        apgen::detail::fail<invalid_argument>("sudoku picture: state ", t, " holds token id ", id, ", outside [0, ",
                                              tokens.size(), ")");
  }
  if (o.columns == 0 || !(o.cell >= 8))
    apgen::detail::fail<invalid_argument>("sudoku picture: needs at least one column and cells of 8 pixels or more");
  const std::size_t drawn = std::min(states.size(), o.max_states);
  const std::size_t columns = std::max<std::size_t>(1, std::min(o.columns, drawn));
  const std::size_t lines = (drawn + columns - 1) / columns;
  const double cell = o.cell, board = 9 * cell, caption_h = 1.3 * cell, pad = 0.8 * cell;
  const double panel_w = board + pad, panel_h = caption_h + board + pad;
  const double total_w = std::max(static_cast<double>(columns) * panel_w + pad, 46 * cell); // the legend fits
  const double legend_h = 1.4 * cell;
  const double total_h =
      legend_h + pad + static_cast<double>(lines) * panel_h + (drawn < states.size() ? cell : 0) + pad;

  draw::svg_document svg(out, total_w, total_h);
  { // The legend: a sample cell for each kind of mark.
    double lx = pad;
    const double ly = 0.3 * cell, s = 0.9 * cell, font = 0.5 * cell;
    auto item = [&](const std::string& fill, const std::string& digit, const std::string& ink, bool bold, bool frame,
                    const char* name) {
      svg.rect(lx, ly, s, s, fill, "#b0b0b0", 0.5);
      if (frame) svg.rect(lx + 1.5, ly + 1.5, s - 3, s - 3, "none", "#f5c400", 2.2);
      svg.text(lx + 0.5 * s, ly + 0.72 * s, digit, 0.62 * s, ink, draw::svg_document::anchor::middle, bold);
      svg.text(lx + s + 0.25 * cell, ly + 0.7 * s, name, font, "#333333", draw::svg_document::anchor::start);
      lx += s + 0.25 * cell + draw::text_width(name, font) + 0.7 * cell;
    };
    item("#e6e6e6", "5", "#000000", true, false, "given");
    item("#ffffff", "5", depth_colour(0), false, false, "filled at depth 0");
    item("#ffffff", "5", depth_colour(1), false, false, "depth 1");
    item(depth_tint(1), "5", depth_colour(1), true, false, "guess opening depth 1");
    item("#ffffff", "5", depth_colour(0), false, true, "written this step");
    item("#ffd0d0", "5", "#a0a0a0", false, false, "backtracked");
    svg.text(lx, ly + 0.7 * s, "<=v: digits up to v refuted", font, "#333333", draw::svg_document::anchor::start);
  }
  if (states.empty())
    svg.text(pad, pad + cell, "(no states)", 0.6 * cell, "#333333", draw::svg_document::anchor::start);
  for (std::size_t t = 0; t < drawn; ++t) {
    const double x0 = pad + static_cast<double>(t % columns) * panel_w;
    const double y0 = legend_h + pad + static_cast<double>(t / columns) * panel_h;
    std::string caption =
        captions.empty() ? (t == 0 ? std::string("start") : "step " + std::to_string(t)) : captions[t];
    svg.text(x0, y0 + 0.9 * cell, caption, 0.6 * cell, "#000000", draw::svg_document::anchor::start);
    const double by = y0 + caption_h;
    const std::vector<token_id>& now = states[t];
    const std::vector<token_id>* before = t ? &states[t - 1] : nullptr;
    for (std::size_t i = 0; i < cells; ++i) {
      const double cx = x0 + static_cast<double>(i % 9) * cell, cy = by + static_cast<double>(i / 9) * cell;
      const slot_value v = tokens.decode(now[2 * i]), n = tokens.decode(now[2 * i + 1]);
      const bool written = before && (*before)[2 * i] != now[2 * i] && v.kind != slot_kind::mask;
      const bool undone = before && v.kind == slot_kind::mask && (*before)[2 * i] != state_tokens::mask();
      std::string fill = "#ffffff";
      if (v.kind == slot_kind::given)
        fill = "#e6e6e6";
      else if (v.kind == slot_kind::guess)
        fill = depth_tint(v.depth);
      else if (undone)
        fill = "#ffd0d0";
      svg.rect(cx, cy, cell, cell, fill, "#b0b0b0", 0.5);
      const std::string digit(1, static_cast<char>('0' + v.digit));
      const double tx = cx + 0.5 * cell, ty = cy + 0.72 * cell, size = 0.62 * cell;
      switch (v.kind) {
      case slot_kind::given:
        svg.text(tx, ty, digit, size, "#000000", draw::svg_document::anchor::middle, true);
        break;
      case slot_kind::fill:
        svg.text(tx, ty, digit, size, depth_colour(v.depth));
        break;
      case slot_kind::guess:
        svg.text(tx, ty, digit, size, depth_colour(v.depth), draw::svg_document::anchor::middle, true);
        break;
      default:
        if (undone) {
          const slot_value old = tokens.decode((*before)[2 * i]);
          svg.text(tx, ty, std::string(1, static_cast<char>('0' + old.digit)), size, "#a0a0a0");
        }
      }
      if (n.kind == slot_kind::note) {
        std::string note = "<=";
        note += static_cast<char>('0' + n.digit);
        svg.text(cx + 1.5, cy + 0.32 * cell, note, 0.28 * cell, depth_colour(n.depth + 1),
                 draw::svg_document::anchor::start);
      }
      if (written) svg.rect(cx + 1.5, cy + 1.5, cell - 3, cell - 3, "none", "#f5c400", 2.2);
    }
    for (int k = 0; k <= 3; ++k) { // box rules
      const double at = static_cast<double>(3 * k) * cell;
      svg.line(x0 + at, by, x0 + at, by + board, "#222222", 1.6);
      svg.line(x0, by + at, x0 + board, by + at, "#222222", 1.6);
    }
  }
  if (drawn < states.size()) {
    std::string more = "... ";
    more += std::to_string(states.size() - drawn);
    more += " more states not drawn";
    svg.text(pad, total_h - pad - 0.2 * cell, more, 0.6 * cell, "#555555", draw::svg_document::anchor::start);
  }
  svg.close();
}

} // namespace apgen::tasks::sudoku
