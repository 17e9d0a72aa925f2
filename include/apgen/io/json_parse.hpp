#pragma once
/// \file
/// A small, strict JSON (RFC 8259) reader, enough for safetensors headers, datasets and other small documents.
///
/// Strict means: one value surrounded only by JSON whitespace (no BOM, no comments, no trailing commas, nothing
/// after the value), strings of valid UTF-8 only (no overlong forms, no encoded surrogates, no truncated
/// sequences) with no raw control characters, `\uXXXX` surrogate pairs decoded to UTF-8 and lone surrogates
/// refused, no duplicate keys in an object, nesting at most `json_parse_options::max_depth` deep, and numbers that
/// fit: integers (no fraction, no exponent) must fit std::int64_t exactly, other numbers must be finite doubles
/// (a value that underflows rounds to zero, as the correctly rounded result does). Every parse error is an
/// apgen::parse_error whose message says what is wrong and at which byte offset.
///
/// Usage:
///   const auto doc = apgen::io::parse_json(R"({"shape":[2,3]})");
///   const auto& shape = doc.at("shape").as_array("shape");   // throws parse_error naming "shape" on mismatch
///
/// Needs std::from_chars for double (libstdc++ 11+, MSVC 2019+; libc++ lacks it before LLVM 20).

#include <apgen/io/json_value.hpp>

#include <apgen/core/errors.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace apgen::io {

/// Limits and labels for parse_json.
struct json_parse_options {
  /// Arrays and objects may nest this deep (the outermost container is depth 1); deeper input is refused, which
  /// also bounds the parser's recursion.
  std::size_t max_depth = 64;
  /// Added to every offset reported, for text embedded in a larger file (a safetensors header starts at byte 8).
  std::size_t base_offset = 0;
  /// First words of every error message ("model.safetensors: header").
  std::string_view source = "JSON";
};

namespace detail {

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// Recursive descent over a string_view; the recursion depth is bounded by max_depth.
class json_parser {
public:
  json_parser(std::string_view text, const json_parse_options& opt) : m_text(text), m_opt(opt) {}

  json_value parse_document() {
    skip_ws();
    if (m_pos == m_text.size()) fail_at(m_pos, "empty input (expected a JSON value)");
    json_value v = parse_value(0);
    skip_ws();
    if (m_pos != m_text.size()) fail_at(m_pos, "trailing characters after the JSON value");
    return v;
  }

private:
  [[noreturn]] void fail_at(std::size_t pos, std::string_view what) const {
    apgen::detail::fail<parse_error>(m_opt.source, ": ", what, " at byte ", m_opt.base_offset + pos);
  }

  void skip_ws() noexcept {
    while (m_pos < m_text.size()) {
      const char c = m_text[m_pos];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++m_pos;
    }
  }

  [[nodiscard]] bool at_end() const noexcept { return m_pos >= m_text.size(); }

  void expect_literal(std::string_view word) {
    if (m_text.substr(m_pos, word.size()) != word) fail_at(m_pos, "invalid literal (expected a JSON value)");
    m_pos += word.size();
  }

  json_value parse_value(std::size_t depth) {
    if (at_end()) fail_at(m_pos, "unexpected end of input (expected a JSON value)");
    const std::size_t start = m_pos;
    json_value v;
    switch (m_text[m_pos]) {
    case '{':
      v = parse_object(depth + 1);
      break;
    case '[':
      v = parse_array(depth + 1);
      break;
    case '"':
      v = json_value(parse_string());
      break;
    case 't':
      expect_literal("true");
      v = json_value(true);
      break;
    case 'f':
      expect_literal("false");
      v = json_value(false);
      break;
    case 'n':
      expect_literal("null");
      break;
    default:
      if (m_text[m_pos] == '-' || (m_text[m_pos] >= '0' && m_text[m_pos] <= '9'))
        v = parse_number();
      else
        fail_at(m_pos, "unexpected character (expected a JSON value)");
    }
    v.set_offset(m_opt.base_offset + start);
    return v;
  }

  void check_depth(std::size_t depth) const {
    if (depth > m_opt.max_depth)
      fail_at(m_pos, apgen::detail::message("nesting deeper than ", m_opt.max_depth, " levels"));
  }

  json_value parse_array(std::size_t depth) {
    check_depth(depth);
    ++m_pos; // '['
    json_value::array items;
    skip_ws();
    if (!at_end() && m_text[m_pos] == ']') {
      ++m_pos;
      return json_value(std::move(items));
    }
    for (;;) {
      skip_ws();
      items.push_back(parse_value(depth));
      skip_ws();
      if (at_end()) fail_at(m_pos, "unexpected end of input in array (expected ',' or ']')");
      if (m_text[m_pos] == ',') {
        ++m_pos;
        continue;
      }
      if (m_text[m_pos] == ']') {
        ++m_pos;
        return json_value(std::move(items));
      }
      fail_at(m_pos, "expected ',' or ']' in array");
    }
  }

  json_value parse_object(std::size_t depth) {
    check_depth(depth);
    ++m_pos; // '{'
    json_value::object members;
    std::vector<std::size_t> key_offsets;
    skip_ws();
    if (!at_end() && m_text[m_pos] == '}') {
      ++m_pos;
      return json_value(std::move(members));
    }
    for (;;) {
      skip_ws();
      if (at_end()) fail_at(m_pos, "unexpected end of input in object (expected a key)");
      if (m_text[m_pos] != '"') fail_at(m_pos, "expected a string key in object");
      key_offsets.push_back(m_pos);
      std::string key = parse_string();
      skip_ws();
      if (at_end() || m_text[m_pos] != ':') fail_at(m_pos, "expected ':' after object key");
      ++m_pos;
      skip_ws();
      json_value value = parse_value(depth);
      members.push_back(json_member{std::move(key), std::move(value)});
      skip_ws();
      if (at_end()) fail_at(m_pos, "unexpected end of input in object (expected ',' or '}')");
      if (m_text[m_pos] == ',') {
        ++m_pos;
        continue;
      }
      if (m_text[m_pos] == '}') {
        ++m_pos;
        break;
      }
      fail_at(m_pos, "expected ',' or '}' in object");
    }
    check_duplicates(members, key_offsets);
    return json_value(std::move(members));
  }

  // O(n log n) once the object is complete; reports the second occurrence in document order.
  void check_duplicates(const json_value::object& members, const std::vector<std::size_t>& key_offsets) const {
    if (members.size() < 2) return;
    std::vector<std::size_t> order(members.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return members[a].key < members[b].key; });
    std::size_t worst = members.size();
    for (std::size_t k = 1; k < order.size(); ++k)
      if (members[order[k]].key == members[order[k - 1]].key) worst = std::min(worst, order[k]);
    if (worst != members.size())
      fail_at(key_offsets[worst], "duplicate key " + json_quote_for_message(members[worst].key));
  }

  std::uint32_t parse_hex4(std::size_t at) {
    if (m_text.size() - at < 4) fail_at(at, "truncated \\u escape (expected 4 hex digits)");
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = m_text[at + k];
      std::uint32_t d = 0;
      if (c >= '0' && c <= '9')
        d = static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = static_cast<std::uint32_t>(c - 'A' + 10);
      else
        fail_at(at + k, "invalid hex digit in \\u escape");
      v = v * 16 + d;
    }
    return v;
  }

  std::string parse_string() {
    ++m_pos; // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail_at(m_pos, "unterminated string");
      const auto c = static_cast<unsigned char>(m_text[m_pos]);
      if (c == '"') {
        ++m_pos;
        return out;
      }
      if (c < 0x20) fail_at(m_pos, "control character in string (must be escaped)");
      if (c == '\\') {
        parse_escape(out);
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++m_pos;
        continue;
      }
      const char* why = "";
      const std::size_t len = utf8_sequence_length(m_text, m_pos, why);
      if (len == 0) fail_at(m_pos, apgen::detail::message(why, " in string"));
      out.append(m_text.substr(m_pos, len));
      m_pos += len;
    }
  }

  void parse_escape(std::string& out) {
    const std::size_t start = m_pos;
    ++m_pos; // backslash
    if (at_end()) fail_at(start, "unterminated escape sequence");
    const char e = m_text[m_pos++];
    switch (e) {
    case '"':
      out += '"';
      return;
    case '\\':
      out += '\\';
      return;
    case '/':
      out += '/';
      return;
    case 'b':
      out += '\b';
      return;
    case 'f':
      out += '\f';
      return;
    case 'n':
      out += '\n';
      return;
    case 'r':
      out += '\r';
      return;
    case 't':
      out += '\t';
      return;
    case 'u':
      break;
    default:
      fail_at(start, "invalid escape sequence");
    }
    std::uint32_t cp = parse_hex4(m_pos);
    m_pos += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) fail_at(start, "lone low surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (m_text.substr(m_pos, 2) != "\\u") fail_at(start, "high surrogate not followed by a low surrogate escape");
      const std::uint32_t low = parse_hex4(m_pos + 2);
      if (low < 0xdc00 || low > 0xdfff) fail_at(m_pos, "high surrogate not followed by a low surrogate escape");
      m_pos += 6;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(out, cp);
  }

  json_value parse_number() {
    const std::size_t start = m_pos;
    const auto digit = [&](std::size_t k) { return k < m_text.size() && m_text[k] >= '0' && m_text[k] <= '9'; };
    std::size_t p = m_pos;
    if (m_text[p] == '-') ++p;
    if (!digit(p)) fail_at(p, "invalid number (expected a digit)");
    const std::size_t int_begin = p;
    if (m_text[p] == '0') {
      ++p;
      if (digit(p)) fail_at(start, "invalid number (leading zero)");
    } else {
      while (digit(p)) ++p;
    }
    const std::size_t int_end = p;
    std::size_t frac_begin = p, frac_end = p;
    bool integral = true;
    if (p < m_text.size() && m_text[p] == '.') {
      integral = false;
      ++p;
      if (!digit(p)) fail_at(p, "invalid number (expected a digit after '.')");
      frac_begin = p;
      while (digit(p)) ++p;
      frac_end = p;
    }
    long long exp10 = 0; // saturated; only used to tell overflow from underflow
    if (p < m_text.size() && (m_text[p] == 'e' || m_text[p] == 'E')) {
      integral = false;
      ++p;
      bool negative = false;
      if (p < m_text.size() && (m_text[p] == '+' || m_text[p] == '-')) negative = m_text[p++] == '-';
      if (!digit(p)) fail_at(p, "invalid number (expected a digit in the exponent)");
      while (digit(p)) {
        exp10 = std::min<long long>(exp10 * 10 + (m_text[p] - '0'), 1'000'000'000LL);
        ++p;
      }
      if (negative) exp10 = -exp10;
    }
    m_pos = p;
    const char* first = m_text.data() + start;
    const char* last = m_text.data() + p;
    if (integral) {
      std::int64_t v = 0;
      const auto r = std::from_chars(first, last, v);
      if (r.ec != std::errc{} || r.ptr != last) fail_at(start, "integer out of range (does not fit int64)");
      return json_value(v);
    }
    double d = 0;
    const auto r = std::from_chars(first, last, d, std::chars_format::general);
    if (r.ec == std::errc::result_out_of_range && r.ptr == last) {
      // Overflow or underflow: the position of the first significant digit tells which.
      const std::string_view digits_int = m_text.substr(int_begin, int_end - int_begin);
      const std::string_view digits_frac = m_text.substr(frac_begin, frac_end - frac_begin);
      long long sci = exp10;
      if (const auto nz = digits_int.find_first_not_of('0'); nz != std::string_view::npos) {
        sci += static_cast<long long>(digits_int.size() - nz) - 1;
      } else {
        const auto nzf = digits_frac.find_first_not_of('0');
        sci -= static_cast<long long>(nzf == std::string_view::npos ? 0 : nzf + 1);
      }
      if (sci >= 0) fail_at(start, "number out of range (overflows double)");
      return json_value(m_text[start] == '-' ? -0.0 : 0.0);
    }
    if (r.ec != std::errc{} || r.ptr != last || !std::isfinite(d)) fail_at(start, "invalid number");
    return json_value(d);
  }

  std::string_view m_text;
  const json_parse_options& m_opt;
  std::size_t m_pos = 0;
};

} // namespace detail

/// Parses one JSON document; throws apgen::parse_error naming the problem and its byte offset.
[[nodiscard]] inline json_value parse_json(std::string_view text, const json_parse_options& options = {}) {
  return detail::json_parser(text, options).parse_document();
}

} // namespace apgen::io
