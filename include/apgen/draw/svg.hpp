#pragma once
/// \file
/// A small SVG writer: rectangles, lines and text written straight to a stream, every string escaped for XML. The
/// pictures of a generation (io/trace_svg.hpp) and of a task's states (tasks/sudoku/picture.hpp) are drawn through
/// it. It depends on nothing else in apgen, so every floor may draw.
///
/// Usage:
///   apgen::draw::svg_document svg(out, 200, 100); // writes the header
///   svg.rect(10, 10, 50, 20, "#cde");
///   svg.text(35, 24, "a<b", 12);                  // escaped: a&lt;b
///   svg.close();                                   // or let the destructor close the document

#include <cstddef>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::draw {

/// `s` made safe as XML 1.0 character data or attribute value: &, <, >, " and ' become entities, and what XML 1.0
/// cannot hold at all (control bytes other than tab, newline and return; bytes that are not well-formed UTF-8)
/// becomes '?', so a token's text can never make a picture unreadable.
[[nodiscard]] inline std::string xml_escaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f ? '?' : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: the lead byte gives its length; every continuation byte must be 10xxxxxx, and
    // overlong forms, surrogates and code points past U+10FFFF are refused.
    const std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    bool ok = len != 0 && c <= 0xf4 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len >= 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0) && !(c == 0xf0 && c1 < 0x90) &&
           !(c == 0xf4 && c1 >= 0x90);
    }
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

/// An SVG document being written (see the file comment). Coordinates are pixels from the top left. Colours and
/// other attribute values are passed through xml_escaped like the text.
class svg_document {
public:
  svg_document(std::ostream& out, double width, double height) : m_out(out) {
    m_out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""
          << number(width) << "\" height=\"" << number(height) << "\" viewBox=\"0 0 " << number(width) << ' '
          << number(height) << "\" font-family=\"DejaVu Sans Mono, monospace\">\n";
    rect(0, 0, width, height, "#ffffff");
  }
  svg_document(const svg_document&) = delete;
  svg_document& operator=(const svg_document&) = delete;
  ~svg_document() { close(); }

  /// A filled rectangle; a stroke when `stroke` is not "none"; dashed when `dashed`.
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view stroke = "none",
            double stroke_width = 1, bool dashed = false) {
    m_out << "<rect x=\"" << number(x) << "\" y=\"" << number(y) << "\" width=\"" << number(w) << "\" height=\""
          << number(h) << "\" fill=\"" << xml_escaped(fill) << '"';
    if (stroke != "none")
      m_out << " stroke=\"" << xml_escaped(stroke) << "\" stroke-width=\"" << number(stroke_width) << '"'
            << (dashed ? " stroke-dasharray=\"3 2\"" : "");
    m_out << "/>\n";
  }

  /// A rectangle like rect() with a tooltip (`title`), for cells whose whole text does not fit.
  void rect_titled(double x, double y, double w, double h, std::string_view fill, std::string_view title,
                   std::string_view stroke = "none", double stroke_width = 1, bool dashed = false) {
    m_out << "<g><title>" << xml_escaped(title) << "</title>";
    rect(x, y, w, h, fill, stroke, stroke_width, dashed);
    m_out << "</g>\n";
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width = 1) {
    m_out << "<line x1=\"" << number(x1) << "\" y1=\"" << number(y1) << "\" x2=\"" << number(x2) << "\" y2=\""
          << number(y2) << "\" stroke=\"" << xml_escaped(stroke) << "\" stroke-width=\"" << number(width) << "\"/>\n";
  }

  /// An open polyline through `points` (x0, y0, x1, y1, ...); nothing for fewer than two points.
  void polyline(const std::vector<double>& points, std::string_view stroke, double width = 1.5) {
    if (points.size() < 4) return;
    m_out << "<polyline fill=\"none\" stroke=\"" << xml_escaped(stroke) << "\" stroke-width=\"" << number(width)
          << "\" stroke-linejoin=\"round\" points=\"";
    for (std::size_t k = 0; k + 1 < points.size(); k += 2)
      m_out << (k ? " " : "") << number(points[k]) << ',' << number(points[k + 1]);
    m_out << "\"/>\n";
  }

  /// A filled circle (a data point).
  void circle(double cx, double cy, double r, std::string_view fill) {
    m_out << "<circle cx=\"" << number(cx) << "\" cy=\"" << number(cy) << "\" r=\"" << number(r) << "\" fill=\""
          << xml_escaped(fill) << "\"/>\n";
  }

  enum class anchor { start, middle, end };

  /// Text whose baseline starts (or is centred, or ends) at (x, y).
  void text(double x, double y, std::string_view s, double size, std::string_view fill = "#000000",
            anchor a = anchor::middle, bool bold = false) {
    static constexpr const char* anchors[] = {"start", "middle", "end"};
    m_out << "<text x=\"" << number(x) << "\" y=\"" << number(y) << "\" font-size=\"" << number(size) << "\" fill=\""
          << xml_escaped(fill) << "\" text-anchor=\"" << anchors[static_cast<int>(a)] << '"'
          << (bold ? " font-weight=\"bold\"" : "") << '>' << xml_escaped(s) << "</text>\n";
  }

  /// Writes the closing tag (once; later calls do nothing).
  void close() {
    if (m_closed) return;
    m_out << "</svg>\n";
    m_closed = true;
  }

private:
  // Two decimals: pixel coordinates need no more, and a fixed format keeps the files diffable.
  static std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
  }

  std::ostream& m_out;
  bool m_closed = false;
};

/// The width of `s` in the document's monospace font at `size`: 0.6 em per character (UTF-8 continuation bytes
/// not counted), which is what DejaVu Sans Mono draws.
[[nodiscard]] inline double text_width(std::string_view s, double size) {
  std::size_t chars = 0;
  for (const char c : s) chars += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return 0.6 * size * static_cast<double>(chars);
}

} // namespace apgen::draw
