#pragma once
/// \file
/// Line charts as SVG, for training curves: series of (x, y) points against a left axis, or a right axis for a
/// second scale (a loss on the left, an accuracy on the right), ticks at 1-2-5 steps, optionally a logarithmic
/// left axis, and a legend. A point whose y is not finite (a CSV cell left empty) breaks its line; a series with a
/// single point is drawn as a dot.
///
/// Usage:
///   apgen::draw::series loss{"token loss", steps, losses};
///   apgen::draw::write_line_chart(out, std::vector{loss}, {.title = "training", .x_label = "step"});

#include <apgen/draw/svg.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace apgen::draw {

struct series {
  std::string name;
  std::vector<double> x, y;
  bool right_axis = false; ///< plotted against the right axis
};

struct chart_options {
  std::string title, x_label, y_label, y2_label;
  bool log_y = false; ///< a logarithmic left axis (points with y <= 0 on it are skipped)
  double width = 760, height = 420;
};

namespace detail {

struct axis_range {
  double lo = 0, hi = 1;
};

/// Tick values covering [lo, hi] at a 1-2-5 step giving about `target` ticks.
[[nodiscard]] inline std::vector<double> nice_ticks(double lo, double hi, int target = 6) {
  const double span = hi - lo;
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

[[nodiscard]] inline std::string tick_label(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3))
    std::snprintf(buf, sizeof buf, "%.0e", v);
  else if (a >= 1000 || v == std::floor(v))
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

} // namespace detail

/// The chart's colours, one per series in order (cycling).
[[nodiscard]] inline const char* series_colour(std::size_t k) noexcept {
  static constexpr const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                            "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};
  return palette[k % (sizeof palette / sizeof palette[0])];
}

/// Writes `all` as one line chart (see the file comment). Throws std::invalid_argument when a series' x and y
/// differ in length or no series has a drawable point.
inline void write_line_chart(std::ostream& out, std::span<const series> all, const chart_options& o = {}) {
  const double inf = std::numeric_limits<double>::infinity();
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf, y2lo = inf, y2hi = -inf;
  bool any_right = false;
  auto drawable = [&](const series& s, std::size_t k) {
    return std::isfinite(s.x[k]) && std::isfinite(s.y[k]) && (s.right_axis || !o.log_y || s.y[k] > 0);
  };
  std::size_t points = 0;
  for (const series& s : all) {
    if (s.x.size() != s.y.size())
      throw std::invalid_argument("line chart: series \"" + s.name + "\" has " + std::to_string(s.x.size()) +
                                  " x values and " + std::to_string(s.y.size()) + " y values");
    any_right = any_right || s.right_axis;
    for (std::size_t k = 0; k < s.x.size(); ++k) {
      if (!drawable(s, k)) continue;
      ++points;
      xlo = std::min(xlo, s.x[k]);
      xhi = std::max(xhi, s.x[k]);
      const double y = s.right_axis || !o.log_y ? s.y[k] : std::log10(s.y[k]);
      (s.right_axis ? y2lo : ylo) = std::min(s.right_axis ? y2lo : ylo, y);
      (s.right_axis ? y2hi : yhi) = std::max(s.right_axis ? y2hi : yhi, y);
    }
  }
  if (points == 0) throw std::invalid_argument("line chart: no series has a point to draw");
  auto widen = [](double& lo, double& hi) {
    if (!std::isfinite(lo)) {
      lo = 0;
      hi = 1;
    }
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
      lo -= 0.5;
      hi += 0.5;
    }
  };
  widen(xlo, xhi);
  widen(ylo, yhi);
  widen(y2lo, y2hi);
  // Linear axes start at 0 when the data are all on one side of it and near enough; every vertical range gets a
  // margin of 4% so that no line runs along the frame.
  if (!o.log_y && ylo > 0 && ylo < 0.5 * yhi) ylo = 0;
  if (y2lo > 0 && y2lo < 0.5 * y2hi) y2lo = 0;
  auto pad = [](double& lo, double& hi) {
    const double m = 0.04 * (hi - lo);
    lo -= m;
    hi += m;
  };
  pad(ylo, yhi);
  pad(y2lo, y2hi);

  const double left = 70, right = any_right ? 70 : 24, top = o.title.empty() ? 20 : 40, legend = 22;
  const double bottom = 50 + legend * static_cast<double>((all.size() + 2) / 3);
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * pw; };
  auto py = [&](double y, bool second) {
    const double lo = second ? y2lo : ylo, hi = second ? y2hi : yhi;
    return top + ph - (y - lo) / (hi - lo) * ph;
  };

  svg_document svg(out, o.width, o.height);
  if (!o.title.empty()) svg.text(o.width / 2, 24, o.title, 15, "#000000", svg_document::anchor::middle, true);
  // Grid and ticks.
  for (const double t : detail::nice_ticks(xlo, xhi)) {
    svg.line(px(t), top, px(t), top + ph, "#e8e8e8");
    svg.text(px(t), top + ph + 16, detail::tick_label(t), 11, "#333333");
  }
  if (o.log_y && yhi - ylo >= 1) { // a decade or more: ticks at 1, 2 and 5 of each decade
    for (double e = std::floor(ylo); e <= std::ceil(yhi); e += 1) {
      for (const double m : {1.0, 2.0, 5.0}) {
        const double v = e + std::log10(m);
        if (v < ylo - 1e-9 || v > yhi + 1e-9) continue;
        svg.line(left, py(v, false), left + pw, py(v, false), m == 1 ? "#d8d8d8" : "#f0f0f0");
        svg.text(left - 6, py(v, false) + 4, detail::tick_label(std::pow(10.0, v)), 11, "#333333",
                 svg_document::anchor::end);
      }
    }
  } else if (o.log_y) { // under a decade: linear 1-2-5 ticks of the values, placed on the log scale
    for (const double t : detail::nice_ticks(std::pow(10.0, ylo), std::pow(10.0, yhi))) {
      if (t <= 0) continue;
      const double v = std::log10(t);
      svg.line(left, py(v, false), left + pw, py(v, false), "#e8e8e8");
      svg.text(left - 6, py(v, false) + 4, detail::tick_label(t), 11, "#333333", svg_document::anchor::end);
    }
  } else {
    for (const double t : detail::nice_ticks(ylo, yhi)) {
      svg.line(left, py(t, false), left + pw, py(t, false), "#e8e8e8");
      svg.text(left - 6, py(t, false) + 4, detail::tick_label(t), 11, "#333333", svg_document::anchor::end);
    }
  }
  if (any_right)
    for (const double t : detail::nice_ticks(y2lo, y2hi))
      svg.text(left + pw + 6, py(t, true) + 4, detail::tick_label(t), 11, "#555555", svg_document::anchor::start);
  svg.rect(left, top, pw, ph, "none", "#888888", 1);
  if (!o.x_label.empty()) svg.text(left + pw / 2, top + ph + 34, o.x_label, 12, "#000000");
  if (!o.y_label.empty())
    svg.text(14, top - 8, o.y_label + (o.log_y ? " (log)" : ""), 12, "#000000", svg_document::anchor::start);
  if (!o.y2_label.empty()) svg.text(o.width - 8, top - 8, o.y2_label, 12, "#555555", svg_document::anchor::end);

  // The series: a polyline per run of drawable points.
  for (std::size_t k = 0; k < all.size(); ++k) {
    const series& s = all[k];
    std::vector<double> run;
    auto flush = [&] {
      if (run.size() == 2) svg.circle(run[0], run[1], 2.5, series_colour(k));
      svg.polyline(run, series_colour(k), 1.6);
      run.clear();
    };
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!drawable(s, i)) {
        flush();
        continue;
      }
      const double y = s.right_axis || !o.log_y ? s.y[i] : std::log10(s.y[i]);
      run.push_back(px(s.x[i]));
      run.push_back(py(y, s.right_axis));
    }
    flush();
    const double lx = left + static_cast<double>(k % 3) * (pw / 3);
    const double ly = top + ph + 50 + legend * static_cast<double>(k / 3);
    svg.line(lx, ly - 4, lx + 22, ly - 4, series_colour(k), 2.5);
    std::string name = s.name;
    if (s.right_axis && any_right) name += " (right)";
    svg.text(lx + 28, ly, name, 12, "#000000", svg_document::anchor::start);
  }
  svg.close();
}

} // namespace apgen::draw
