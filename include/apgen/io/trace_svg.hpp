#pragma once
/// \file
/// A generation as a picture: for each row of a process_trace, one line per state (the starting row, then the row
/// after every step), one cell per token, coloured by what the step did to it:
///   unmasked (MASK -> token) green, remasked (token -> MASK) orange, inserted (a new MASK) blue, deleted (a MASK
///   dropped) red and struck through, drawn where it stood so that the cells after it can be followed as they shift
///   left; kept tokens white, kept MASKs grey.
/// A batch is drawn as small multiples, one panel per row. Limits, so that long work stays readable: a row longer
/// than `wrap` cells continues on further lines of the same state; a row's first `max_steps` steps are drawn and the
/// rest counted on a closing line; a token's text is shortened to what fits in its cell (the whole text is the
/// cell's tooltip).
///
/// Usage:
///   apgen::process_trace trace(c);
///   gen.generate(c, trace);
///   std::ofstream f("gen.svg");
///   apgen::io::write_trace_svg(f, trace, vocab);

#include <apgen/config.hpp>
#include <apgen/core/errors.hpp>
#include <apgen/core/ops.hpp>
#include <apgen/core/vocabulary.hpp>
#include <apgen/draw/svg.hpp>
#include <apgen/engine/process_trace.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace apgen::io {

/// What a step did to one drawn cell.
enum class cell_change : std::uint8_t { kept_token, kept_mask, unmasked, remasked, inserted, deleted };

/// One drawn cell: the token it shows (the new one; for a deleted cell the MASK that was dropped), what happened to
/// it, and the token it replaced (meaningful for unmasked and remasked cells).
struct drawn_cell {
  token_id token = 0;
  token_id before = 0;
  cell_change change = cell_change::kept_token;
};

/// One line of a row's picture: the state after step `step` (the starting row has step -1), with the cells deleted
/// by that step drawn where they stood.
struct drawn_state {
  std::int64_t step = -1;
  std::vector<drawn_cell> cells;
  bool overflowed = false; ///< the step would have outgrown the row's capacity and left it unchanged
};

/// The lines of row `r` of `trace` (see drawn_state), derived from each step's applied bits and checked against the
/// row the trace recorded after it: throws invalid_argument for a row the trace does not have, and error naming the
/// step when the applied bits do not give the recorded row (a trace assembled by hand, say).
[[nodiscard]] inline std::vector<drawn_state> drawn_states(const process_trace& trace, std::size_t r) {
  if (r >= trace.rows())
    apgen::detail::fail<invalid_argument>("trace picture: row ", r, " of a trace of ", trace.rows(), " rows");
  const token_id mask = trace.mask();
  std::vector<drawn_state> out;
  std::vector<token_id> before = trace.start_row(r);
  drawn_state first;
  for (const token_id t : before)
    first.cells.push_back({t, t, t == mask ? cell_change::kept_mask : cell_change::kept_token});
  out.push_back(std::move(first));
  for (const traced_row_step& s : trace.steps()) {
    if (s.row != r) continue;
    drawn_state line;
    line.step = s.step;
    line.overflowed = s.overflowed;
    auto mismatch = [&] {
      apgen::detail::fail<error>("trace picture: step ", s.step, ", row ", r,
                                 ": the applied bits do not give the recorded row");
    };
    if (s.applied.size() != before.size()) mismatch();
    std::size_t j = 0; // index into s.after
    auto next_after = [&]() -> token_id {
      if (j >= s.after.size()) mismatch();
      return s.after[j++];
    };
    for (std::size_t i = 0; i < before.size(); ++i) {
      const token_id b = before[i];
      const std::uint8_t a = s.overflowed ? std::uint8_t{op_none} : s.applied[i];
      if (b == mask && (a & op_erase)) { // Algorithm 1: a deleted MASK's insert is ignored
        line.cells.push_back({b, b, cell_change::deleted});
        continue;
      }
      const token_id now = next_after();
      cell_change change = cell_change::kept_token;
      if (b != mask && now == mask)
        change = cell_change::remasked;
      else if (b == mask && now != mask)
        change = cell_change::unmasked;
      else if (b == mask)
        change = cell_change::kept_mask;
      else if (now != b)
        mismatch(); // a decoded token changes only through MASK
      line.cells.push_back({now, b, change});
      if (a & op_insert) {
        if (next_after() != mask) mismatch();
        line.cells.push_back({mask, mask, cell_change::inserted});
      }
    }
    if (j != s.after.size()) mismatch();
    before = s.after;
    out.push_back(std::move(line));
  }
  return out;
}

/// How write_trace_svg lays a trace out (see the file comment for the limits).
struct trace_picture_options {
  std::size_t wrap = 48;       ///< cells per drawn line; a longer state continues on the next line
  std::size_t max_steps = 256; ///< steps drawn per row; the rest are counted
  std::size_t columns = 0;     ///< panels per line for a batch; 0: as many as fit in about 1,600 pixels
  double cell = 22;            ///< a cell's side in pixels
  std::function<std::string(token_id)> label{}; ///< a token's text; default: the vocabulary's
};

namespace detail {

struct change_style {
  const char* fill;
  const char* ink;
  const char* name;
};

[[nodiscard]] inline change_style style_of(cell_change c) {
  switch (c) {
  case cell_change::kept_mask:
    return {"#e4e4e4", "#777777", "MASK kept"};
  case cell_change::unmasked:
    return {"#9be39b", "#0b3d0b", "unmask"};
  case cell_change::remasked:
    return {"#ffc27a", "#5a2e00", "remask"};
  case cell_change::inserted:
    return {"#9cc8ff", "#06306b", "insert"};
  case cell_change::deleted:
    return {"#ff9c9c", "#6b0606", "delete"};
  case cell_change::kept_token:
  default:
    return {"#ffffff", "#000000", "kept"};
  }
}

/// `s` cut to at most `chars` characters (UTF-8 aware), its last kept character replaced by '~' when cut.
[[nodiscard]] inline std::string fitted(const std::string& s, std::size_t chars) {
  std::size_t count = 0, cut = 0; // cut: the byte where character chars - 1 starts
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) continue;
    if (count + 1 == chars) cut = i;
    if (count == chars) return chars == 0 ? std::string() : s.substr(0, cut) + "~";
    ++count;
  }
  return s;
}

} // namespace detail

/// Writes `trace` as an SVG picture (see the file comment) with token texts from `vocab` (or `o.label`). Throws
/// what drawn_states throws, and invalid_argument for a zero `wrap` or a cell under 6 pixels.
inline void write_trace_svg(std::ostream& out, const process_trace& trace, const vocabulary& vocab,
                            const trace_picture_options& o = {}) {
  if (o.wrap == 0) apgen::detail::fail<invalid_argument>("trace picture: wrap must be at least 1 cell");
  if (!(o.cell >= 6))
    apgen::detail::fail<invalid_argument>("trace picture: a cell of ", o.cell, " pixels is too small");
  auto label = [&](token_id t) -> std::string {
    if (o.label) return o.label(t);
    return vocab.contains(t) ? vocab.text(t) : std::to_string(t);
  };
  const double cell = o.cell, gap = 0.18 * cell, margin = 3.2 * cell, font = 0.5 * cell;

  struct panel {
    std::vector<drawn_state> states;
    std::size_t hidden = 0; // steps not drawn
    double width = 0, height = 0;
  };
  std::vector<panel> panels(trace.rows());
  for (std::size_t r = 0; r < trace.rows(); ++r) {
    panel& p = panels[r];
    p.states = drawn_states(trace, r);
    if (p.states.size() > o.max_steps + 1) {
      p.hidden = p.states.size() - (o.max_steps + 1);
      p.states.resize(o.max_steps + 1);
    }
    std::size_t widest = 1, lines = 0;
    for (const auto& s : p.states) {
      widest = std::max(widest, std::min(o.wrap, s.cells.size()));
      lines += std::max<std::size_t>(1, (s.cells.size() + o.wrap - 1) / o.wrap);
    }
    p.width = margin + static_cast<double>(widest) * cell + cell;
    p.height = 1.6 * cell + static_cast<double>(lines) * cell + static_cast<double>(p.states.size()) * gap +
               (p.hidden ? cell : 0);
  }
  double panel_w = 0;
  for (const auto& p : panels) panel_w = std::max(panel_w, p.width);
  const std::size_t columns =
      panels.empty()
          ? 1
          : std::clamp<std::size_t>(o.columns ? o.columns : static_cast<std::size_t>(1600 / panel_w), 1, panels.size());
  const double legend_h = 1.8 * cell;
  std::vector<double> band_h; // the height of each line of panels
  for (std::size_t k = 0; k < panels.size(); k += columns) {
    double h = 0;
    for (std::size_t c = k; c < std::min(panels.size(), k + columns); ++c) h = std::max(h, panels[c].height);
    band_h.push_back(h);
  }
  double total_h = legend_h + cell;
  for (const double h : band_h) total_h += h;
  if (panels.empty()) total_h += cell;
  const double total_w = std::max(static_cast<double>(columns) * std::max(panel_w, 1.0), 14 * cell);

  draw::svg_document svg(out, total_w, total_h);
  // The legend.
  double lx = 0.5 * cell;
  for (const cell_change c : {cell_change::unmasked, cell_change::remasked, cell_change::inserted, cell_change::deleted,
                              cell_change::kept_token, cell_change::kept_mask}) {
    const auto st = detail::style_of(c);
    svg.rect(lx, 0.4 * cell, 0.8 * cell, 0.8 * cell, st.fill, "#888888", 0.5);
    svg.text(lx + cell, 1.05 * cell, st.name, font, "#333333", draw::svg_document::anchor::start);
    lx += cell + draw::text_width(st.name, font) + 0.8 * cell;
  }
  if (panels.empty())
    svg.text(0.5 * cell, legend_h + 0.7 * cell, "(no rows)", font, "#333333", draw::svg_document::anchor::start);

  double y0 = legend_h;
  for (std::size_t k = 0, band = 0; k < panels.size(); k += columns, ++band) {
    for (std::size_t c = k; c < std::min(panels.size(), k + columns); ++c) {
      const panel& p = panels[c];
      const double x0 = static_cast<double>(c - k) * panel_w;
      double y = y0;
      std::string title = "row ";
      title += std::to_string(c);
      title += " (key ";
      title += std::to_string(trace.row_key(c));
      title += ")";
      svg.text(x0 + 0.5 * cell, y + 1.0 * cell, title, 0.6 * cell, "#000000", draw::svg_document::anchor::start, true);
      y += 1.6 * cell;
      const auto chars = static_cast<std::size_t>(std::max(1.0, (cell - 2) / (0.6 * font)));
      for (const drawn_state& s : p.states) {
        std::string name = s.step < 0 ? std::string("start") : "t=" + std::to_string(s.step);
        if (s.overflowed) name += " full";
        svg.text(x0 + margin - 0.3 * cell, y + 0.68 * cell, name, font, "#555555", draw::svg_document::anchor::end);
        if (s.cells.empty())
          svg.text(x0 + margin, y + 0.68 * cell, "(empty)", font, "#999999", draw::svg_document::anchor::start);
        for (std::size_t i = 0; i < s.cells.size(); ++i) {
          const drawn_cell& dc = s.cells[i];
          const double cx = x0 + margin + static_cast<double>(i % o.wrap) * cell;
          const double cy = y + static_cast<double>(i / o.wrap) * cell;
          const auto st = detail::style_of(dc.change);
          std::string tip = std::to_string(i);
          tip += ": ";
          tip += st.name;
          tip += ' ';
          if (dc.change == cell_change::unmasked || dc.change == cell_change::remasked) {
            tip += label(dc.before);
            tip += " -> ";
          }
          tip += label(dc.token);
          svg.rect_titled(cx + 0.5, cy + 0.5, cell - 1, cell - 1, st.fill, tip, "#9a9a9a", 0.6);
          const std::string shown =
              dc.token == trace.mask() ? std::string("·") : detail::fitted(label(dc.token), chars);
          svg.text(cx + 0.5 * cell, cy + 0.68 * cell, shown, font, st.ink);
          if (dc.change == cell_change::deleted) svg.line(cx + 2, cy + cell - 2, cx + cell - 2, cy + 2, "#b00000", 1.5);
        }
        y += static_cast<double>(std::max<std::size_t>(1, (s.cells.size() + o.wrap - 1) / o.wrap)) * cell + gap;
      }
      if (p.hidden) {
        std::string more = "... ";
        more += std::to_string(p.hidden);
        more += " more steps not drawn";
        svg.text(x0 + margin, y + 0.68 * cell, more, font, "#555555", draw::svg_document::anchor::start);
      }
    }
    y0 += band_h[band];
  }
  svg.close();
}

} // namespace apgen::io
