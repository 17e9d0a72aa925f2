#pragma once
/// \file
/// The one JSON writer of the library: compact text (no whitespace), strings checked to be UTF-8 and escaped,
/// doubles and floats in the shortest form that reads back to the same value and always with a '.' or an exponent
/// (so they read back as numbers, not integers). `json_writer` streams a document into a string without building
/// a json_value (datasets and traces write one line per record with it); `write_json` prints a json_value through
/// the same writer. Every JSON text apgen writes (safetensors headers, trajectory datasets, traces) comes from here.
///
/// Usage:
///   std::string line;
///   apgen::io::json_writer w(line);
///   w.begin_object().key("x").values(std::vector<int>{1, 2}).key("score").value(0.5).end_object();  //
///   {"x":[1,2],"score":0.5}

#include <apgen/core/errors.hpp>
#include <apgen/io/json_value.hpp>

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::io {

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
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
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

/// Streams one JSON document into a string (appending). Commas and colons are placed by the writer; the caller
/// opens and closes containers and gives a key before each member of an object. Misuse (a key outside an object,
/// a value without its key, closing what is not open, a non-finite number) throws apgen::invalid_argument.
class json_writer {
public:
  explicit json_writer(std::string& out) : m_out(&out) {}

  json_writer& begin_object() { return open('{', true); }
  json_writer& end_object() { return close('}', true); }
  json_writer& begin_array() { return open('[', false); }
  json_writer& end_array() { return close(']', false); }

  /// The key of the next member of the open object.
  json_writer& key(std::string_view k) {
    if (m_open.empty() || !m_open.back().object || m_keyed)
      apgen::detail::fail<invalid_argument>("JSON writer: key ", detail::json_quote_for_message(k),
                                            " outside an object or after another key");
    comma();
    append_json_string(*m_out, k);
    *m_out += ':';
    m_keyed = true;
    return *this;
  }

  json_writer& null() {
    before_value();
    *m_out += "null";
    return *this;
  }
  json_writer& value(bool b) {
    before_value();
    *m_out += b ? "true" : "false";
    return *this;
  }
  template <std::integral Int>
  requires(!std::same_as<Int, bool>) json_writer& value(Int v) {
    before_value();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    m_out->append(buf, r.ptr);
    return *this;
  }
  json_writer& value(double d) { return number(d); }
  /// A float in its own shortest form (fewer digits than the same value as a double).
  json_writer& value(float f) { return number(f); }
  json_writer& value(std::string_view s) {
    before_value();
    append_json_string(*m_out, s);
    return *this;
  }
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(const std::string& s) { return value(std::string_view(s)); }

  /// An array of the values of `range` (integers, numbers or strings).
  template <std::ranges::input_range R>
  json_writer& values(const R& range) {
    begin_array();
    for (const auto& v : range) value(v);
    return end_array();
  }

  /// True when every container opened has been closed.
  [[nodiscard]] bool complete() const noexcept { return m_open.empty() && m_values > 0; }

private:
  struct level {
    bool object = false;
    bool first = true;
  };

  template <class Float>
  json_writer& number(Float d) {
    if (!std::isfinite(d)) apgen::detail::fail<invalid_argument>("JSON writer: cannot write non-finite number ", d);
    before_value();
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    const std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
    *m_out += text;
    if (text.find_first_of(".e") == std::string_view::npos) *m_out += ".0";
    return *this;
  }
  void comma() {
    if (m_open.empty()) return;
    if (!m_open.back().first) *m_out += ',';
    m_open.back().first = false;
  }
  void before_value() {
    if (!m_open.empty() && m_open.back().object) {
      if (!m_keyed) apgen::detail::fail<invalid_argument>("JSON writer: a member of an object needs its key first");
      m_keyed = false;
    } else {
      if (m_open.empty() && m_values > 0)
        apgen::detail::fail<invalid_argument>("JSON writer: a document holds one value");
      comma();
    }
    if (m_open.empty()) ++m_values;
  }
  json_writer& open(char c, bool object) {
    before_value();
    *m_out += c;
    m_open.push_back({object, true});
    return *this;
  }
  json_writer& close(char c, bool object) {
    if (m_open.empty() || m_open.back().object != object || m_keyed)
      apgen::detail::fail<invalid_argument>("JSON writer: '", c, "' closes nothing open of its kind");
    m_open.pop_back();
    *m_out += c;
    return *this;
  }

  std::string* m_out;
  std::vector<level> m_open;
  bool m_keyed = false;
  std::size_t m_values = 0;
};

/// Writes `v` with `w` (members in stored order).
inline void write_json(json_writer& w, const json_value& v) {
  switch (v.type()) {
  case json_type::null:
    w.null();
    return;
  case json_type::boolean:
    w.value(v.as_bool());
    return;
  case json_type::integer:
    w.value(v.as_int());
    return;
  case json_type::number:
    w.value(v.as_double());
    return;
  case json_type::string:
    w.value(std::string_view(v.as_string()));
    return;
  case json_type::array:
    w.begin_array();
    for (const auto& item : v.as_array()) write_json(w, item);
    w.end_array();
    return;
  case json_type::object:
    w.begin_object();
    for (const auto& m : v.as_object()) {
      w.key(m.key);
      write_json(w, m.value);
    }
    w.end_object();
    return;
  }
}

/// Appends the compact JSON text of `v`. Throws apgen::invalid_argument for a NaN or infinite double (JSON has
/// none) or a string that is not UTF-8.
inline void write_json(std::string& out, const json_value& v) {
  json_writer w(out);
  write_json(w, v);
}

/// The compact JSON text of `v` (see write_json).
[[nodiscard]] inline std::string to_json(const json_value& v) {
  std::string out;
  write_json(out, v);
  return out;
}

} // namespace apgen::io
