#pragma once
/// \file
/// A small, strict JSON (RFC 8259) reader and writer, enough for safetensors headers and other small documents.
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
///   std::string text = apgen::io::to_json(doc);              // {"shape":[2,3]}
///
/// Needs std::from_chars / std::to_chars for double (libstdc++ 11+, MSVC 2019+; libc++ lacks from_chars for
/// double before LLVM 20).

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

/// The JSON types; `integer` and `number` split JSON numbers into exact integers and doubles.
enum class json_type { null, boolean, integer, number, string, array, object };

/// The name used in messages: "null", "boolean", "integer", "number", "string", "array", "object".
[[nodiscard]] constexpr std::string_view json_type_name(json_type t) noexcept {
  switch (t) {
  case json_type::null: return "null";
  case json_type::boolean: return "boolean";
  case json_type::integer: return "integer";
  case json_type::number: return "number";
  case json_type::string: return "string";
  case json_type::array: return "array";
  case json_type::object: return "object";
  }
  return "?";
}

struct json_member;

/// One JSON value. Objects keep their members in document order (keys are unique after parse_json); lookups are
/// linear, which suits the small objects this library reads. Accessors take the value's path (for messages) and
/// throw apgen::parse_error naming that path, the expected and actual types and the value's byte offset.
class json_value {
public:
  using array = std::vector<json_value>;
  using object = std::vector<json_member>;

  // The constructors are defined after json_member, which they need complete.
  /// null.
  json_value() noexcept = default;
  json_value(std::nullptr_t) noexcept;
  json_value(bool b) noexcept;
  /// Any integer type but bool; an unsigned value above INT64_MAX throws apgen::invalid_argument.
  template <std::integral Int>
    requires(!std::same_as<Int, bool>)
  json_value(Int v);
  json_value(double v) noexcept;
  json_value(std::string s) noexcept;
  json_value(std::string_view s);
  json_value(const char* s);
  json_value(array a) noexcept;
  json_value(object o) noexcept;

  [[nodiscard]] json_type type() const noexcept { return static_cast<json_type>(m_data.index()); }
  [[nodiscard]] bool is_null() const noexcept { return type() == json_type::null; }
  [[nodiscard]] bool is_bool() const noexcept { return type() == json_type::boolean; }
  [[nodiscard]] bool is_int() const noexcept { return type() == json_type::integer; }
  /// True for both integers and doubles.
  [[nodiscard]] bool is_number() const noexcept {
    return type() == json_type::integer || type() == json_type::number;
  }
  [[nodiscard]] bool is_string() const noexcept { return type() == json_type::string; }
  [[nodiscard]] bool is_array() const noexcept { return type() == json_type::array; }
  [[nodiscard]] bool is_object() const noexcept { return type() == json_type::object; }

  [[nodiscard]] bool as_bool(std::string_view path = "value") const { return get<bool>(path, json_type::boolean); }
  /// An integer written without fraction or exponent; 2.0 is a number, not an integer, and is refused here.
  [[nodiscard]] std::int64_t as_int(std::string_view path = "value") const {
    return get<std::int64_t>(path, json_type::integer);
  }
  /// Any number; an integer converts to the nearest double.
  [[nodiscard]] double as_double(std::string_view path = "value") const {
    if (const auto* i = std::get_if<std::int64_t>(&m_data)) return static_cast<double>(*i);
    return get<double>(path, json_type::number);
  }
  [[nodiscard]] const std::string& as_string(std::string_view path = "value") const {
    return get<std::string>(path, json_type::string);
  }
  [[nodiscard]] const array& as_array(std::string_view path = "value") const {
    return get<array>(path, json_type::array);
  }
  [[nodiscard]] const object& as_object(std::string_view path = "value") const {
    return get<object>(path, json_type::object);
  }
  [[nodiscard]] array& as_array(std::string_view path = "value") { return get<array>(path, json_type::array); }
  [[nodiscard]] object& as_object(std::string_view path = "value") { return get<object>(path, json_type::object); }

  /// The member named `key`, or nullptr when this is not an object or has no such member.
  [[nodiscard]] const json_value* find(std::string_view key) const noexcept;
  /// The member named `key`; throws parse_error "<path>: missing key "<key>"" (or a type error when not an object).
  [[nodiscard]] const json_value& at(std::string_view key, std::string_view path = "value") const;

  /// Byte offset at which this value starts in the parsed text (plus json_parse_options::base_offset); 0 for
  /// values built in code.
  [[nodiscard]] std::size_t offset() const noexcept { return m_offset; }
  void set_offset(std::size_t offset) noexcept { m_offset = offset; }

  /// Structural equality (offsets ignored; 1 and 1.0 differ, as their types do).
  friend bool operator==(const json_value& a, const json_value& b);

private:
  template <class Int>
  static std::int64_t to_int64(Int v) {
    if constexpr (std::is_unsigned_v<Int> && sizeof(Int) >= sizeof(std::int64_t)) {
      if (v > static_cast<Int>(std::numeric_limits<std::int64_t>::max()))
        apgen::detail::fail<invalid_argument>("json_value: integer ", v, " does not fit int64");
    }
    return static_cast<std::int64_t>(v);
  }

  template <class T>
  const T& get(std::string_view path, json_type want) const {
    if (const auto* p = std::get_if<T>(&m_data)) return *p;
    type_error(path, want);
  }
  template <class T>
  T& get(std::string_view path, json_type want) {
    if (auto* p = std::get_if<T>(&m_data)) return *p;
    type_error(path, want);
  }
  [[noreturn]] void type_error(std::string_view path, json_type want) const {
    apgen::detail::fail<parse_error>(path, ": expected ", json_type_name(want), ", found ", json_type_name(type()),
                                     " at byte ", m_offset);
  }

  // The alternatives' order is json_type's order: type() is the index.
  std::variant<std::monostate, bool, std::int64_t, double, std::string, array, object> m_data;
  std::size_t m_offset = 0;
};

/// One member of a JSON object.
struct json_member {
  std::string key;
  json_value value;
  friend bool operator==(const json_member&, const json_member&) = default;
};

inline json_value::json_value(std::nullptr_t) noexcept {}
inline json_value::json_value(bool b) noexcept : m_data(b) {}
template <std::integral Int>
  requires(!std::same_as<Int, bool>)
json_value::json_value(Int v) : m_data(to_int64(v)) {}
inline json_value::json_value(double v) noexcept : m_data(v) {}
inline json_value::json_value(std::string s) noexcept : m_data(std::move(s)) {}
inline json_value::json_value(std::string_view s) : m_data(std::string(s)) {}
inline json_value::json_value(const char* s) : m_data(std::string(s)) {}
inline json_value::json_value(array a) noexcept : m_data(std::move(a)) {}
inline json_value::json_value(object o) noexcept : m_data(std::move(o)) {}

inline const json_value* json_value::find(std::string_view key) const noexcept {
  const auto* obj = std::get_if<object>(&m_data);
  if (!obj) return nullptr;
  for (const auto& m : *obj)
    if (m.key == key) return &m.value;
  return nullptr;
}

inline bool operator==(const json_value& a, const json_value& b) { return a.m_data == b.m_data; }

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

/// `s` as a quoted JSON string for error messages: never throws on bad bytes (they appear as \xNN), and cut at
/// `max_bytes` so a huge key cannot swamp a message.
[[nodiscard]] inline std::string json_quote_for_message(std::string_view s, std::size_t max_bytes = 200) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::size_t n = std::min(s.size(), max_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  out += '"';
  return out;
}

/// Length of the valid UTF-8 sequence starting at s[i], or 0 with `why` set (Unicode table 3-7: no overlong
/// forms, no surrogates D800-DFFF, nothing above U+10FFFF, no truncated sequences).
[[nodiscard]] inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i, const char*& why) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf; // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    why = (b0 == 0xc0 || b0 == 0xc1) ? "invalid UTF-8 (overlong encoding)"
          : (b0 >= 0x80 && b0 <= 0xbf) ? "invalid UTF-8 (unexpected continuation byte)"
                                       : "invalid UTF-8 (byte outside any encoding)";
    return 0;
  }
  if (s.size() - i < len) {
    why = "invalid UTF-8 (truncated sequence)";
    return 0;
  }
  const unsigned char b1 = byte(i + 1);
  if (b1 < lo || b1 > hi) {
    if (b1 < 0x80 || b1 > 0xbf) why = "invalid UTF-8 (truncated sequence)";
    else if (b0 == 0xed) why = "invalid UTF-8 (encoded surrogate)";
    else if (b0 == 0xf4) why = "invalid UTF-8 (code point above U+10FFFF)";
    else why = "invalid UTF-8 (overlong encoding)";
    return 0;
  }
  for (std::size_t k = 2; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if (b < 0x80 || b > 0xbf) {
      why = "invalid UTF-8 (truncated sequence)";
      return 0;
    }
  }
  return len;
}

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
    case '{': v = parse_object(depth + 1); break;
    case '[': v = parse_array(depth + 1); break;
    case '"': v = json_value(parse_string()); break;
    case 't':
      expect_literal("true");
      v = json_value(true);
      break;
    case 'f':
      expect_literal("false");
      v = json_value(false);
      break;
    case 'n': expect_literal("null"); break;
    default:
      if (m_text[m_pos] == '-' || (m_text[m_pos] >= '0' && m_text[m_pos] <= '9')) v = parse_number();
      else fail_at(m_pos, "unexpected character (expected a JSON value)");
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
      if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
      else fail_at(at + k, "invalid hex digit in \\u escape");
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
    case '"': out += '"'; return;
    case '\\': out += '\\'; return;
    case '/': out += '/'; return;
    case 'b': out += '\b'; return;
    case 'f': out += '\f'; return;
    case 'n': out += '\n'; return;
    case 'r': out += '\r'; return;
    case 't': out += '\t'; return;
    case 'u': break;
    default: fail_at(start, "invalid escape sequence");
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

/// Appends `s` as a quoted JSON string: `"` and `\` escaped, control characters as \n, \t, ... or \u00XX, other
/// bytes as they are. `s` must be valid UTF-8 (what parse_json would accept back); otherwise throws
/// apgen::invalid_argument naming the byte offset.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const char* why = "";
      const std::size_t len = detail::utf8_sequence_length(s, i, why);
      if (len == 0)
        apgen::detail::fail<invalid_argument>("JSON writer: ", why, " at byte ", i, " of string ",
                                              detail::json_quote_for_message(s));
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
      } else {
        out += static_cast<char>(c);
      }
    }
    ++i;
  }
  out += '"';
}

/// Appends the compact JSON text of `v` (no whitespace; members in stored order). Doubles use the shortest form
/// that reads back exactly and always carry a '.' or an exponent, so they read back as numbers, not integers.
/// Throws apgen::invalid_argument for a NaN or infinite double (JSON has none) or a string that is not UTF-8.
inline void write_json(std::string& out, const json_value& v) {
  switch (v.type()) {
  case json_type::null: out += "null"; return;
  case json_type::boolean: out += v.as_bool() ? "true" : "false"; return;
  case json_type::integer: {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v.as_int());
    out.append(buf, r.ptr);
    return;
  }
  case json_type::number: {
    const double d = v.as_double();
    if (!std::isfinite(d)) apgen::detail::fail<invalid_argument>("JSON writer: cannot write non-finite number ", d);
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    const std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
    out += text;
    if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
    return;
  }
  case json_type::string: append_json_string(out, v.as_string()); return;
  case json_type::array: {
    out += '[';
    bool first = true;
    for (const auto& item : v.as_array()) {
      if (!first) out += ',';
      first = false;
      write_json(out, item);
    }
    out += ']';
    return;
  }
  case json_type::object: {
    out += '{';
    bool first = true;
    for (const auto& m : v.as_object()) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, m.key);
      out += ':';
      write_json(out, m.value);
    }
    out += '}';
    return;
  }
  }
}

/// The compact JSON text of `v` (see write_json).
[[nodiscard]] inline std::string to_json(const json_value& v) {
  std::string out;
  write_json(out, v);
  return out;
}

inline const json_value& json_value::at(std::string_view key, std::string_view path) const {
  const auto& obj = as_object(path);
  for (const auto& m : obj)
    if (m.key == key) return m.value;
  apgen::detail::fail<parse_error>(path, ": missing key ", detail::json_quote_for_message(key), " in object at byte ",
                                   m_offset);
}

} // namespace apgen::io
